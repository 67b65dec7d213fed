"""`prodcat predict batch` in shards, as real processes: shards cover every row once and agree
with an unsharded run; a shard killed with SIGKILL is the only one redone; bad input fails with
one line and leaves no output."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pyarrow.fs as pafs
import pytest

from prodcat_data.synthetic import generate_listings
from prodcat_predict.shards import MANIFEST, SUCCESS, part_name

PRODCAT = str(Path(sys.executable).with_name("prodcat"))
ROWS = 2400


@dataclass(frozen=True)
class Model:
    artifact: Path
    env: dict[str, str]
    root: Path


@pytest.fixture
def scorer(artifact: Path, cli_env: dict[str, str], tmp_path: Path) -> Model:
    return Model(artifact, cli_env, tmp_path)


def _listings(folder: Path, rows: int = ROWS) -> pd.DataFrame:
    """A folder of listing files in the challenge's layout (the id as the unnamed first column),
    CSV and Parquet, with ids that are not row numbers."""
    x, _ = generate_listings(rows, 5)
    x = x.set_axis(pd.Index(range(50_000, 50_000 + rows)), axis=0)
    folder.mkdir(parents=True)
    thirds = [x.iloc[: rows // 4], x.iloc[rows // 4 : rows // 2], x.iloc[rows // 2 :]]
    thirds[0].to_csv(folder / "a.csv")
    thirds[1].to_parquet(folder / "b.parquet", index=False)  # no id column: ids are rows
    thirds[2].to_csv(folder / "c.csv")
    return x


def _start(
    model: Model, src: Path | str, out: Path, index: int, count: int, *extra: str
) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [
            PRODCAT, "predict", "batch", "--input", str(src), "--output", str(out),
            "--model", str(model.artifact), "--shard-index", str(index),
            "--shard-count", str(count), *extra,
        ],
        env=model.env, cwd=model.root, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip


def _shards(model: Model, src: Path | str, out: Path, count: int) -> list[str]:
    procs = [_start(model, src, out, i, count) for i in range(count)]
    outputs = []
    for proc in procs:
        stdout, stderr = proc.communicate(timeout=300)
        assert proc.returncode == 0, stderr
        outputs.append(stdout)
    return outputs


def _parts(out: Path, count: int) -> pd.DataFrame:
    return pd.concat(
        [pd.read_parquet(out / part_name(i, count)) for i in range(count)], ignore_index=True
    )


def test_three_shards_score_every_row_once_like_one_process(scorer: Model, tmp_path: Path) -> None:
    src = tmp_path / "listings"
    _listings(src)
    sharded, whole = tmp_path / "sharded", tmp_path / "whole"
    outputs = _shards(scorer, src, sharded, 3)
    _shards(scorer, src, whole, 1)

    assert sum("batch complete" in o for o in outputs) == 1  # one shard finished the batch
    assert (sharded / SUCCESS).is_file()
    manifest = json.loads((sharded / MANIFEST).read_text())
    assert [p["file"] for p in manifest["parts"]] == [part_name(i, 3) for i in range(3)]
    assert manifest["rows"] == ROWS
    result = _parts(sharded, 3)
    assert sorted(result["row"]) == list(range(ROWS))  # every row once
    expected_ids = [*range(50_000, 50_000 + ROWS // 4), *range(ROWS // 4, ROWS // 2)]
    expected_ids += range(50_000 + ROWS // 2, 50_000 + ROWS)
    assert result.sort_values("row")["id"].tolist() == expected_ids
    assert {"prdtypecode", "category", "confidence", "top_k_prdtypecodes", "model_id"} <= set(
        result.columns
    )
    assert (result["model_id"] == scorer.artifact.name).all()
    one = _parts(whole, 1).set_index("row")
    by_row = result.set_index("row").loc[one.index]
    pd.testing.assert_series_equal(by_row["prdtypecode"], one["prdtypecode"])
    pd.testing.assert_series_equal(by_row["confidence"], one["confidence"])
    assert by_row["top_k_prdtypecodes"].map(list).tolist() == (
        one["top_k_prdtypecodes"].map(list).tolist()
    )


def test_a_killed_shard_is_the_only_one_redone(scorer: Model, tmp_path: Path) -> None:
    src, out = tmp_path / "listings", tmp_path / "out"
    _listings(src, rows=6000)
    for i in (0, 2):
        stdout, stderr = _start(scorer, src, out, i, 3).communicate(timeout=300)
        assert "batch complete" not in stdout, stderr
    # Shard 1, one listing per model call so that it is still scoring when it is killed.
    victim = _start(scorer, src, out, 1, 3, "--chunk-rows", "1")
    assert victim.stdout is not None
    for line in victim.stdout:
        if "scoring rows" in line:
            break
    time.sleep(0.5)
    victim.send_signal(signal.SIGKILL)
    victim.communicate(timeout=30)
    assert victim.returncode == -signal.SIGKILL
    assert not (out / part_name(1, 3)).exists()
    assert not (out / SUCCESS).exists()
    kept = {i: (out / part_name(i, 3)).stat() for i in (0, 2)}

    outputs = _shards(scorer, src, out, 3)

    assert "skipped" in outputs[0]
    assert "skipped" in outputs[2]
    assert "predicted 2,000 listings" in outputs[1]
    for i, before in kept.items():
        after = (out / part_name(i, 3)).stat()
        assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)
    assert sum("batch complete" in o for o in outputs) == 1
    assert sorted(p.name for p in out.iterdir()) == sorted(
        [MANIFEST, SUCCESS, *(part_name(i, 3) for i in range(3))]
    )  # no temporary file of the killed run is left
    assert sorted(_parts(out, 3)["row"]) == list(range(6000))
    # Started again once complete, a shard does nothing.
    stdout, _ = _start(scorer, src, out, 1, 3).communicate(timeout=300)
    assert "complete already" in stdout


def _write_bad(case: str, folder: Path) -> None:
    folder.mkdir(parents=True)
    x, _ = generate_listings(600, 3)
    if case == "empty":
        x.iloc[:0].to_csv(folder / "a.csv")
    elif case == "missing column":
        x.to_csv(folder / "a.csv")
        x.drop(columns=["designation"]).to_parquet(folder / "b.parquet")
    elif case == "not a listing file":
        x.to_csv(folder / "a.csv")
        (folder / "notes.txt").write_text("designation\nx\n")
    else:
        x.to_csv(folder / "a.csv")


@pytest.mark.parametrize(
    ("case", "options", "message"),
    [
        ("empty", [], "no listings"),
        ("missing column", [], "b.parquet: no designation column"),
        ("not a listing file", [], "notes.txt is not a .csv or .parquet file"),
        ("shard index", ["--shard-index", "3"], "--shard-index 3: must be between 0 and 2"),
        ("unknown version", ["--model", "models:/prodcat/99"], "models:/prodcat/99"),
    ],
)
def test_bad_input_fails_with_one_line_and_leaves_no_output(
    scorer: Model, tmp_path: Path, case: str, options: list[str], message: str
) -> None:
    src, out = tmp_path / "listings", tmp_path / "out"
    _write_bad(case, src)
    args = ["--model", str(scorer.artifact), "--shard-index", "0", "--shard-count", "3"]
    done = subprocess.run(
        [PRODCAT, "predict", "batch", "--input", str(src), "--output", str(out), *args, *options],
        env=scorer.env,
        cwd=scorer.root,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 2, done.stderr
    [line] = done.stderr.strip().splitlines()
    assert line.startswith("error: ")
    assert message in line
    assert not out.exists()


def test_the_challenges_unnamed_first_column_is_the_listing_id(tmp_path: Path) -> None:
    from prodcat_predict.batch_inputs import locate
    from prodcat_predict.batch_predict import read_listings

    x, _ = generate_listings(600, 4)
    x.set_axis(pd.Index(range(900, 1500)), axis=0).to_csv(tmp_path / "x.csv")  # ",designation,…"
    frame = read_listings(locate(str(tmp_path / "x.csv")))
    assert "Unnamed: 0" not in frame.columns
    assert frame["id"].tolist()[:2] == [900, 901]
    named = pd.DataFrame({"id": [5], "Unnamed: 0": [7], "designation": ["Chaise"]})
    named.to_csv(tmp_path / "y.csv", index=False)
    assert read_listings(locate(str(tmp_path / "y.csv")))["id"].tolist() == [5]  # an id column wins


def test_an_alias_is_pinned_to_its_version_once(scorer: Model, tmp_path: Path) -> None:
    """The model the session trained is registered as version 1 @challenger: a batch started
    on the alias records version 1 in every part and in the manifest."""
    src, out = tmp_path / "listings", tmp_path / "out"
    _listings(src, rows=600)
    done = subprocess.run(
        [
            PRODCAT, "predict", "batch", "--input", str(src), "--output", str(out),
            "--model", "models:/prodcat@challenger", "--shard-count", "2", "--all-shards",
        ],
        env=scorer.env, cwd=scorer.root, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "batch complete" in done.stdout
    assert json.loads((out / MANIFEST).read_text())["model_version"] == "1"
    assert set(_parts(out, 2)["model_version"]) == {"1"}


@pytest.mark.parametrize("mode", ["shard processes", "--all-shards"])
def test_sharded_batch_logs_one_record_per_scored_row(
    scorer: Model, tmp_path: Path, mode: str
) -> None:
    """3 shards with --inference-log, as three `--shard-index` processes or as one command
    with --all-shards: one record per scored row (source batch, the part's listing id, real
    top-k); a shard started again once its part is there logs nothing."""
    from prodcat_core.inference_log import read_inference_log

    src, out, log = tmp_path / "listings", tmp_path / "out", tmp_path / "log"
    _listings(src, rows=900)
    log_option = ("--inference-log", str(log))
    if mode == "--all-shards":
        done = subprocess.run(
            [
                PRODCAT, "predict", "batch", "--input", str(src), "--output", str(out),
                "--model", str(scorer.artifact), "--shard-count", "3", "--all-shards", *log_option,
            ],
            env=scorer.env, cwd=scorer.root, capture_output=True, text=True, timeout=300,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
        assert done.stdout.count("inference log: 300 records") == 3
    else:
        procs = [_start(scorer, src, out, i, 3, *log_option) for i in range(3)]
        for proc in procs:
            stdout, stderr = proc.communicate(timeout=300)
            assert proc.returncode == 0, stderr
            assert "inference log: 300 records" in stdout
    result = _parts(out, 3)
    rows = read_inference_log(str(log)).to_pylist()
    assert len(rows) == len(result) == 900
    assert {r["source"] for r in rows} == {"batch"}
    assert {r["model_id"] for r in rows} == {scorer.artifact.name}
    by_id = {r["listing_id"]: r for r in rows}
    assert set(by_id) == set(result["listing_id"])  # each scored row once, named in its part
    for listing_id, code, top in zip(
        result["listing_id"], result["prdtypecode"], result["top_k_prdtypecodes"], strict=True
    ):
        record = by_id[listing_id]
        assert record["prdtypecode"] == code
        assert record["topk_codes"] == list(top)  # the predictor's top_k (3), not just the best
        assert record["text"]
        probs = record["topk_probs"]
        assert len(probs) == 3
        assert probs == sorted(probs, reverse=True)
    assert len({r["request_id"] for r in rows}) == 3  # one per shard process

    stdout, stderr = _start(scorer, src, out, 1, 3, *log_option).communicate(timeout=300)
    assert "complete already" in stdout, stderr
    assert read_inference_log(str(log)).num_rows == 900


@dataclass(frozen=True)
class LocalS3:
    endpoint: str  # http://127.0.0.1:<port>
    fs: pafs.S3FileSystem
    env: dict[str, str]  # what a `prodcat` process needs to reach it


@pytest.fixture
def local_s3() -> Iterator[LocalS3]:
    """A real S3 API on 127.0.0.1 (moto's server, a dev dependency), with one bucket."""
    threaded = pytest.importorskip(
        "moto.moto_server.threaded_moto_server",
        reason="moto[server] is not installed (dev dependency): no local S3 server to read from",
    )
    server = threaded.ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        credentials = {
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_EC2_METADATA_DISABLED": "true",
        }
        fs = pafs.S3FileSystem(
            access_key="testing",
            secret_key="testing",
            region="us-east-1",
            endpoint_override=f"{host}:{port}",
            scheme="http",
            allow_bucket_creation=True,
        )
        fs.create_dir("listings")
        endpoint = f"http://{host}:{port}"
        yield LocalS3(endpoint, fs, {**credentials, "PREDICT_S3_ENDPOINT_URL": endpoint})
    finally:
        server.stop()


def _upload(folder: Path, s3: LocalS3, prefix: str) -> None:
    for path in sorted(folder.iterdir()):
        with s3.fs.open_output_stream(f"{prefix}/{path.name}") as stream:
            stream.write(path.read_bytes())


def test_shards_over_an_s3_folder_give_the_rows_of_the_local_folder(
    scorer: Model, tmp_path: Path, local_s3: LocalS3
) -> None:
    """The same files, in a local folder and under an s3:// prefix (a real S3 server): three
    shards over each give the same rows and predictions; output stays local."""
    src, local_out, s3_out = tmp_path / "listings", tmp_path / "local", tmp_path / "from-s3"
    _listings(src, rows=900)
    _upload(src, local_s3, "listings/catalogue")
    _shards(scorer, src, local_out, 3)
    s3_model = Model(scorer.artifact, {**scorer.env, **local_s3.env}, scorer.root)
    outputs = _shards(s3_model, "s3://listings/catalogue", s3_out, 3)
    assert sum("batch complete" in o for o in outputs) == 1
    local, remote = _parts(local_out, 3), _parts(s3_out, 3)
    pd.testing.assert_frame_equal(remote, local)
    assert sorted(remote["row"]) == list(range(900))
    manifest = json.loads((s3_out / MANIFEST).read_text())
    assert [f["file"] for f in manifest["inputs"]] == ["a.csv", "b.parquet", "c.csv"]

    # --all-shards: the shard processes reach S3 with what the command was given.
    again = tmp_path / "from-s3-all"
    done = subprocess.run(
        [
            PRODCAT, "predict", "batch", "--input", "s3://listings/catalogue/",
            "--output", str(again), "--model", str(scorer.artifact), "--shard-count", "3",
            "--all-shards",
        ],
        env=s3_model.env, cwd=scorer.root, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    pd.testing.assert_frame_equal(_parts(again, 3), local)

    # One s3:// file into one local file.
    one = tmp_path / "one.parquet"
    done = subprocess.run(
        [
            PRODCAT, "predict", "batch", "--input", "s3://listings/catalogue/b.parquet",
            "--output", str(one), "--model", str(scorer.artifact),
        ],
        env=s3_model.env, cwd=scorer.root, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert len(pd.read_parquet(one)) == 900 // 4


def test_a_missing_s3_input_fails_with_one_line(
    scorer: Model, tmp_path: Path, local_s3: LocalS3
) -> None:
    out = tmp_path / "out"
    done = subprocess.run(
        [
            PRODCAT, "predict", "batch", "--input", "s3://listings/nothing-here",
            "--output", str(out), "--model", str(scorer.artifact), "--shard-count", "2",
        ],
        env={**scorer.env, **local_s3.env}, cwd=scorer.root, capture_output=True, text=True,
        timeout=300,
    )  # fmt: skip
    assert done.returncode == 2, done.stderr
    [line] = done.stderr.strip().splitlines()
    assert "s3://listings/nothing-here: no such file or folder" in line
    assert not out.exists()


def test_an_s3_uri_may_name_its_endpoint_itself(
    tmp_path: Path, local_s3: LocalS3, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`s3://bucket/prefix?endpoint_override=host:port&scheme=http` (the inference log's form)
    reads the same files as PREDICT_S3_ENDPOINT_URL does; messages name the URI without query."""
    from prodcat_predict.batch_inputs import locate
    from prodcat_predict.shards import list_inputs

    for name, value in local_s3.env.items():
        monkeypatch.setenv(name, value)
    src = tmp_path / "listings"
    _listings(src, rows=300)
    _upload(src, local_s3, "listings/inline")
    host_port = local_s3.endpoint.removeprefix("http://")
    inline = list_inputs(locate(f"s3://listings/inline?endpoint_override={host_port}&scheme=http"))
    by_setting = list_inputs(locate("s3://listings/inline", local_s3.endpoint))
    assert [(f.name, f.size, f.rows) for f in inline] == [
        (f.name, f.size, f.rows) for f in by_setting
    ]
    assert [f.rows for f in inline] == [75, 75, 150]
    assert str(inline[0].location) == "s3://listings/inline/a.csv"
