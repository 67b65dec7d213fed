"""The data API served for real (uvicorn on 127.0.0.1): datasets, health, readiness, metrics,
and bad input, each answered with the right 4xx and a message, leaving the store as it was."""

from __future__ import annotations

import hashlib
import http.server
import threading
from collections.abc import Iterator
from functools import partial
from pathlib import Path

import httpx
import pytest

from prodcat_data.api.app import create_app
from prodcat_data.api.server import free_port, serve_in_thread, settings_under
from prodcat_data.config import DataSettings
from prodcat_data.synthetic import write_challenge_files

MAX_FILE_BYTES = 150_000


def make_settings(root: Path, **overrides: object) -> DataSettings:
    values: dict[str, object] = {
        "max_file_bytes": MAX_FILE_BYTES,
        "import_allow_private_urls": True,
        "reconcile_interval_s": 1.0,
    }
    return settings_under(root, **{**values, **overrides})


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("api")


@pytest.fixture(scope="module")
def files(root: Path) -> tuple[Path, Path]:
    return write_challenge_files(root / "raw", 600, 7)


@pytest.fixture(scope="module")
def api(root: Path) -> Iterator[httpx.Client]:
    with (
        serve_in_thread(create_app(make_settings(root))) as url,
        httpx.Client(base_url=url, timeout=60, trust_env=False) as client,
    ):
        yield client


def store_listing(root: Path) -> list[str]:
    """Every path under the data folder (stores, uploads), to show a request changed nothing."""
    data = root / "data"
    skip = {"runs"}
    return sorted(
        str(p.relative_to(data))
        for p in data.rglob("*")
        if p.relative_to(data).parts[0] not in skip
    )


def upload(api: httpx.Client, x: bytes, y: bytes, **kwargs: object) -> httpx.Response:
    return api.post(
        "/datasets",
        files={
            "x": ("X_train_update.csv", x, "text/csv"),
            "y": ("Y_train_CVw08PX.csv", y, "text/csv"),
        },
        **kwargs,  # type: ignore[arg-type]
    )


@pytest.fixture(scope="module")
def dataset_id(api: httpx.Client, files: tuple[Path, Path]) -> str:
    x, y = (p.read_bytes() for p in files)
    response = upload(api, x, y)
    assert response.status_code == 201, response.text
    return str(response.json()["dataset_id"])


def test_health_and_ready(api: httpx.Client) -> None:
    assert api.get("/health").json() == {"status": "ok"}
    ready = api.get("/ready")
    assert ready.status_code == 200, ready.text
    body = ready.json()
    assert body["status"] == "ready"
    assert {"datasets_dir", "prepared_dir", "database", "mlflow"} <= set(body["checks"])


def test_upload_stores_a_dataset_version(
    api: httpx.Client, files: tuple[Path, Path], dataset_id: str, root: Path
) -> None:
    x, y = (p.read_bytes() for p in files)
    manifest = api.get(f"/datasets/{dataset_id}").json()
    assert manifest["n_rows"] == 600
    assert sum(manifest["class_counts"].values()) == 600
    assert len(manifest["class_counts"]) == 27
    sha = {s["role"]: s["sha256"] for s in manifest["sources"]}
    assert sha == {"x": hashlib.sha256(x).hexdigest(), "y": hashlib.sha256(y).hexdigest()}
    assert {s["source"] for s in manifest["sources"]} == {"upload"}  # no server path
    assert manifest["created_at"]
    # The upload staging folder is empty again.
    assert list((root / "data" / ".uploads").iterdir()) == []

    again = upload(api, x, y)
    assert again.status_code == 200
    assert again.json()["created"] is False
    listed = api.get("/datasets").json()
    assert [d["dataset_id"] for d in listed] == [dataset_id]
    assert listed[0]["n_rows"] == 600
    assert api.get("/datasets/latest").json()["dataset_id"] == dataset_id


def test_preprocess(api: httpx.Client, dataset_id: str) -> None:
    params = {"val": 0.1, "test": 0.15, "holdout": 0.05, "seed": 1}
    first = api.post(f"/datasets/{dataset_id}/preprocess", json=params)
    assert first.status_code == 201, first.text
    prepared = first.json()
    assert prepared["dataset_id"] == dataset_id
    assert prepared["prepared_id"].startswith("pp-")
    assert sum(prepared["split_counts"].values()) > 0
    second = api.post(f"/datasets/{dataset_id}/preprocess", json=params)
    assert second.status_code == 200
    assert second.json()["prepared_id"] == prepared["prepared_id"]
    assert prepared["prepared_id"] in api.get(f"/datasets/{dataset_id}").json()["prepared_ids"]
    # Defaults when no body is sent.
    assert api.post(f"/datasets/{dataset_id}/preprocess").status_code in (200, 201)


def test_import_from_urls(api: httpx.Client, files: tuple[Path, Path], dataset_id: str) -> None:
    handler = partial(_QuietHandler, directory=str(files[0].parent))
    with http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler) as server:
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        base = f"http://127.0.0.1:{server.server_address[1]}"
        response = api.post(
            "/datasets/import",
            json={"x_url": f"{base}/{files[0].name}", "y_url": f"{base}/{files[1].name}"},
        )
        missing = api.post(
            "/datasets/import",
            json={"x_url": f"{base}/nothing.csv", "y_url": f"{base}/{files[1].name}"},
        )
        server.shutdown()
        thread.join()
    assert response.status_code == 200, response.text  # same files as the upload
    assert response.json()["dataset_id"] == dataset_id
    assert response.json()["created"] is False
    assert missing.status_code == 404
    assert "nothing.csv" in missing.json()["error"]


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


# Bad input: the right 4xx, a message, and the store unchanged -------------------------------


def _bad_x(files: tuple[Path, Path]) -> bytes:
    return b"id;designation;description\n1;abc;def\n"


@pytest.mark.parametrize(
    ("case", "status", "message"),
    [
        ("malformed_csv", 400, "X_train_update.csv"),
        ("not_utf8", 400, "not UTF-8"),
        ("unknown_code", 400, "not a known product type"),
        ("json_body", 415, "multipart/form-data"),
        ("png_part", 415, "is not CSV"),
        ("too_large_streamed", 413, "larger than the limit"),
        ("too_large_declared", 413, "larger than the limit"),
        ("missing_y", 400, "missing file field(s) y"),
        ("unknown_field", 400, "not expected"),
        ("broken_multipart", 400, "missing file field"),
    ],
)
def test_bad_uploads_change_nothing(
    api: httpx.Client,
    files: tuple[Path, Path],
    dataset_id: str,
    root: Path,
    case: str,
    status: int,
    message: str,
) -> None:
    x, y = (p.read_bytes() for p in files)
    before = store_listing(root)
    if case == "malformed_csv":
        response = upload(api, b',designation,description\n0,"unterminated\n', y)
    elif case == "not_utf8":
        response = upload(api, x.replace(b"designation", "désignation".encode("latin-1"), 1), y)
    elif case == "unknown_code":
        header, first, rest = y.split(b"\n", 2)
        row_id = first.split(b",")[0]
        response = upload(api, x, b"\n".join([header, row_id + b",9999", rest]))
    elif case == "json_body":
        response = api.post("/datasets", json={"x": "a", "y": "b"})
    elif case == "png_part":
        response = api.post(
            "/datasets",
            files={"x": ("x.png", b"\x89PNG", "image/png"), "y": ("y.csv", y, "text/csv")},
        )
    elif case == "too_large_streamed":
        response = upload(api, x + x[x.index(b"\n") + 1 :] * 2, y)
    elif case == "too_large_declared":
        response = upload(api, b"0" * (3 * MAX_FILE_BYTES), y)
    elif case == "missing_y":
        response = api.post("/datasets", files={"x": ("X.csv", x, "text/csv")})
    elif case == "unknown_field":
        response = api.post(
            "/datasets",
            files={"x": ("X.csv", x, "text/csv"), "path": ("p", b"/etc/passwd", "text/plain")},
        )
    else:
        response = api.post(
            "/datasets",
            content=b'--b\r\nContent-Disposition: form-data; name="x"\r\n\r\nabc',
            headers={"content-type": "multipart/form-data; boundary=b"},
        )
    assert response.status_code == status, response.text
    assert message in response.json()["error"]
    assert store_listing(root) == before
    assert list((root / "data" / ".uploads").iterdir()) == []


@pytest.mark.parametrize(
    ("method", "path", "statuses"),
    [
        ("GET", "/datasets/ds-000000000000", {404}),
        ("GET", "/datasets/%2E%2E", {400}),
        ("GET", "/datasets/..%5Cx", {400}),
        ("GET", "/datasets/..%2Fx", {400, 404}),  # %2F is a slash to the router: no such route
        ("GET", "/datasets/..%2F..%2Fetc%2Fpasswd", {400, 404}),
        ("GET", "/datasets/pp-000000000000", {400}),
        ("POST", "/datasets/ds-000000000000/preprocess", {404}),
        ("POST", "/datasets/%2E%2E/preprocess", {400}),
        ("GET", "/runs/r-000000000000", {404}),
        ("GET", "/runs/%2E%2E", {400}),
        ("GET", "/runs/..%2Fx", {400, 404}),
        ("POST", "/runs/%2E%2E/cancel", {400}),
        ("GET", "/runs/not-a-run", {400}),
        ("GET", "/no/such/endpoint", {404}),
    ],
)
def test_unknown_and_path_like_ids(
    api: httpx.Client, dataset_id: str, root: Path, method: str, path: str, statuses: set[int]
) -> None:
    before = store_listing(root)
    response = api.request(method, path)
    assert response.status_code in statuses, response.text
    assert response.json()["error"]
    assert store_listing(root) == before


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"x_url": "file:///etc/passwd", "y_url": "https://example.org/y.csv"}, "x_url"),
        ({"x_url": "https://example.org/x.csv"}, "y_url"),
        ({"x_url": "s3://bucket/x.csv", "y_url": "https://example.org/y.csv"}, "http"),
        ({"x_url": "/data/x.csv", "y_url": "/data/y.csv", "path": "/etc"}, "path"),
    ],
)
def test_bad_import_requests(
    api: httpx.Client, root: Path, body: dict[str, str], message: str
) -> None:
    before = store_listing(root)
    response = api.post("/datasets/import", json=body)
    assert response.status_code == 422, response.text
    assert message in response.json()["error"]
    assert store_listing(root) == before


def test_bad_split_params(api: httpx.Client, dataset_id: str, root: Path) -> None:
    before = store_listing(root)
    response = api.post(f"/datasets/{dataset_id}/preprocess", json={"val": 0.9})
    assert response.status_code == 422
    assert response.json()["error"].startswith("invalid request: val:")
    assert store_listing(root) == before


def test_metrics_use_route_templates(api: httpx.Client, dataset_id: str) -> None:
    api.get(f"/datasets/{dataset_id}")
    api.get("/datasets/ds-000000000000")
    api.get("/nowhere/at/all")
    text = api.get("/metrics").text
    assert (
        'prodcat_api_requests_total{method="GET",route="/datasets/{dataset_id}",status="200"}'
        in text
    )
    assert (
        'prodcat_api_requests_total{method="GET",route="/datasets/{dataset_id}",status="404"}'
        in text
    )
    assert 'route="<unmatched>",status="404"' in text
    assert (
        'prodcat_api_request_duration_seconds_bucket{le="0.005",route="/datasets/{dataset_id}"}'
        in text
    )
    for raw in (dataset_id, "ds-000000000000", "nowhere"):
        assert raw not in text
    assert 'prodcat_api_runs{state="running"}' in text
    assert 'prodcat_api_dataset_rows{prdtypecode="2583"}' in text


@pytest.mark.parametrize(
    ("method", "path", "allow"),
    [
        ("GET", "/datasets/import", "POST"),
        ("PUT", "/datasets/import", "POST"),
        ("DELETE", "/datasets", "GET, POST"),
        ("PUT", "/runs/r-000000000000", "GET"),
        ("GET", "/models/promote", "POST"),
    ],
)
def test_wrong_methods_are_405_with_allow(
    api: httpx.Client, method: str, path: str, allow: str
) -> None:
    response = api.request(method, path)
    assert response.status_code == 405
    assert response.headers["allow"] == allow
    assert "not allowed" in response.json()["error"]


def test_not_ready_when_a_store_is_not_writable_or_mlflow_is_down(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("not a folder")
    settings = make_settings(
        tmp_path,
        datasets_dir=tmp_path / "file" / "datasets",
        tracking_uri=f"http://127.0.0.1:{free_port()}",
    )
    with (
        serve_in_thread(create_app(settings)) as url,
        httpx.Client(base_url=url, timeout=30, trust_env=False) as client,
    ):
        assert client.get("/health").status_code == 200
        ready = client.get("/ready")
        assert ready.status_code == 503
        checks = ready.json()["checks"]
        assert checks["datasets_dir"]["ok"] is False
        assert "not writable" in checks["datasets_dir"]["detail"]
        assert checks["mlflow"]["ok"] is False
        assert "unreachable" in checks["mlflow"]["detail"]
        assert checks["prepared_dir"]["ok"] is True
        assert client.get("/models").status_code == 503
        assert "unreachable" in client.get("/models").json()["error"]
