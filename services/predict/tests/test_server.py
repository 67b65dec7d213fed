"""The server end to end: `prodcat predict serve` on 127.0.0.1 with a real model, over V1, V2 and
the product route, its error answers, its batching and its metrics."""

from __future__ import annotations

import json
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest

from prodcat_core.labels import LabelCodec

Scrape = Callable[[str, str], dict[str, float]]

V1 = "/v1/models/prodcat:predict"
V2 = "/v2/models/prodcat/infer"
PRODUCTS = "/v1/products:classify"


@pytest.fixture(scope="module")
def codec(artifact: Path) -> LabelCodec:
    return LabelCodec.load(artifact / "label_codec.json")


def check_answer(answer: dict[str, Any], codec: LabelCodec, k: int = 3) -> None:
    assert answer["prdtypecode"] in codec.codes
    assert answer["category"] == codec.name_of(answer["prdtypecode"])
    top = answer["top_k"]
    assert len(top) == k
    probabilities = [c["probability"] for c in top]
    assert probabilities == sorted(probabilities, reverse=True)
    assert top[0]["prdtypecode"] == answer["prdtypecode"]
    assert answer["confidence"] == pytest.approx(probabilities[0])
    assert 0.0 <= answer["confidence"] <= 1.0
    assert all(c["category"] == codec.name_of(c["prdtypecode"]) for c in top)


def test_v1_predicts_objects_texts_and_strings(client: httpx.Client, codec: LabelCodec) -> None:
    body = {
        "instances": [
            {"designation": "Piscine tubulaire ronde", "description": "<p>filtre à cartouche</p>"},
            {"text": "Chaussettes bébé en coton bio, lot de 3"},
            "Jeu de société familial pour 4 joueurs",
        ]
    }
    response = client.post(V1, json=body)
    assert response.status_code == 200, response.text
    predictions = response.json()["predictions"]
    assert len(predictions) == 3
    for answer in predictions:
        check_answer(answer, codec)
        assert answer["truncated"] is False


def _outputs(response: httpx.Response) -> dict[str, dict[str, Any]]:
    assert response.status_code == 200, response.text
    return {o["name"]: o for o in response.json()["outputs"]}


def test_v2_infers_a_tensor_of_texts(client: httpx.Client, codec: LabelCodec) -> None:
    texts = ["Console de jeux portable", "Roman policier, livre de poche", "Tondeuse à gazon"]
    body = {
        "id": "req-1",
        "inputs": [{"name": "text", "datatype": "BYTES", "shape": [3], "data": texts}],
    }
    response = client.post(V2, json=body)
    outputs = _outputs(response)
    assert response.json()["id"] == "req-1"
    assert outputs["prdtypecode"]["shape"] == [3]
    assert all(code in codec.codes for code in outputs["prdtypecode"]["data"])
    proba = outputs["probabilities"]
    assert proba["shape"] == [3, codec.n_classes]
    rows = [proba["data"][i * codec.n_classes : (i + 1) * codec.n_classes] for i in range(3)]
    for row, code, confidence in zip(
        rows, outputs["prdtypecode"]["data"], outputs["confidence"]["data"], strict=True
    ):
        assert sum(row) == pytest.approx(1.0, abs=1e-4)
        assert codec.codes[row.index(max(row))] == code
        assert confidence == pytest.approx(max(row), abs=1e-5)
    top = outputs["top_k_probability"]
    assert top["shape"] == [3, 3]
    for i in range(3):
        row = top["data"][i * 3 : (i + 1) * 3]
        assert row == sorted(row, reverse=True)
    assert outputs["truncated"]["data"] == [False, False, False]


def test_v2_infers_designation_and_description(client: httpx.Client, codec: LabelCodec) -> None:
    body = {
        "inputs": [
            {
                "name": "designation",
                "datatype": "BYTES",
                "shape": [2],
                "data": ["Piscine", "Livre"],
            },
            {"name": "description", "datatype": "BYTES", "shape": [2], "data": ["hors sol", ""]},
        ],
        "outputs": [{"name": "prdtypecode"}, {"name": "category"}],
    }
    outputs = _outputs(client.post(V2, json=body))
    assert set(outputs) == {"prdtypecode", "category"}  # the requested outputs only
    codes = outputs["prdtypecode"]["data"]
    assert [codec.name_of(c) for c in codes] == outputs["category"]["data"]


def test_v2_health_and_metadata(client: httpx.Client, codec: LabelCodec) -> None:
    assert client.get("/v2/health/live").json() == {"live": True}
    assert client.get("/v2/health/ready").json() == {"ready": True}
    assert client.get("/v2/models/prodcat/ready").json()["ready"] is True
    meta = client.get("/v2/models/prodcat").json()
    assert meta["name"] == "prodcat"
    assert {i["name"] for i in meta["inputs"]} == {"text", "designation", "description"}
    shapes = {o["name"]: o["shape"] for o in meta["outputs"]}
    assert shapes["probabilities"] == [-1, codec.n_classes]


def test_product_route_takes_one_listing_or_a_list(client: httpx.Client, codec: LabelCodec) -> None:
    one = client.post(PRODUCTS, json={"designation": "Figurine Pop manga", "description": None})
    assert one.status_code == 200, one.text
    body = one.json()
    assert body["model"]["name"] == "prodcat"
    assert body["model"]["model_id"].startswith("m-")
    assert body["model"]["family"] == "linear"
    (answer,) = body["predictions"]
    check_answer(answer, codec)

    listings = [{"designation": "Chaise de jardin pliante"}, {"text": "Cartes à collectionner"}]
    many = client.post(PRODUCTS, json=listings, params={"top_k": codec.n_classes})
    assert many.status_code == 200, many.text
    answers = many.json()["predictions"]
    assert len(answers) == 2
    for answer in answers:
        check_answer(answer, codec, k=codec.n_classes)
        assert sum(c["probability"] for c in answer["top_k"]) == pytest.approx(1.0, abs=1e-4)


def test_long_text_is_truncated_and_flagged(client: httpx.Client) -> None:
    long_text = "Piscine hors sol tubulaire " * 40  # over the server's 300 characters
    response = client.post(PRODUCTS, json=[{"text": long_text}, {"text": "Piscine hors sol"}])
    assert response.status_code == 200, response.text
    assert [p["truncated"] for p in response.json()["predictions"]] == [True, False]


JSON = {"content-type": "application/json"}
NINE = [{"text": f"listing {i}"} for i in range(9)]  # the server takes 8 per request
V2_NINE = {"inputs": [{"name": "text", "datatype": "BYTES", "shape": [9], "data": ["x"] * 9}]}
V2_EMPTY = {"inputs": [{"name": "text", "datatype": "BYTES", "shape": [1], "data": ["  "]}]}


@pytest.mark.parametrize(
    ("path", "content", "headers", "status", "fragment"),
    [
        (PRODUCTS, b'{"designation": ', JSON, 400, "not valid JSON"),
        (V1, b'{"instances": [', JSON, 400, "Unrecognized request format"),
        (V2, b'{"inputs": [', JSON, 400, "not valid JSON"),
        (PRODUCTS, b'{"text": "x"}', {"content-type": "text/plain"}, 415, "application/json"),
        (V1, b'{"instances": ["x"]}', {"content-type": "application/xml"}, 415, "application/json"),
        (V2, b"{}", {"content-type": "text/csv"}, 415, "application/json"),
        (
            PRODUCTS,
            b'{"text": "x"}',
            {"content-type": "application/json; charset=latin-1"},
            415,
            "UTF-8",
        ),
        (PRODUCTS, b'{"designation": "  <br/> "}', JSON, 422, "empty once cleaned"),
        (V1, b'{"instances": ["", "ok"]}', JSON, 422, "listing 0"),
        (V2, json.dumps(V2_EMPTY).encode(), JSON, 422, "empty once cleaned"),
        (PRODUCTS, b'{"text": ""}', JSON, 422, "text"),
        (PRODUCTS, b"[]", JSON, 422, "invalid request"),
        (V1, b'{"instances": 3}', JSON, 422, "instances"),
        (V1, b'{"instances": [{"designation": 5}]}', JSON, 422, "designation"),
        (
            V2,
            b'{"inputs": [{"name": "a", "datatype": "FP32", "shape": [1], "data": [1]}]}',
            JSON,
            422,
            "BYTES",
        ),
        (PRODUCTS, b'{"text": "' + b"a" * 40000 + b'"}', JSON, 413, "limit"),
        (PRODUCTS, b'{"text": "caf\xe9"}', JSON, 400, "UTF-8"),
        (V1, b'{"instances": ["\xff\xfe"]}', JSON, 400, "UTF-8"),
        (PRODUCTS, json.dumps(NINE).encode(), JSON, 413, "limit is 8"),
        (V1, json.dumps({"instances": ["x"] * 9}).encode(), JSON, 413, "limit is 8"),
        (V2, json.dumps(V2_NINE).encode(), JSON, 413, "limit is 8"),
        ("/v1/models/nope:predict", b'{"instances": ["x"]}', JSON, 404, "nope"),
        ("/v2/repository/models/prodcat/unload", b"", {}, 404, "disabled"),
    ],
)
def test_bad_requests_get_a_clear_4xx(
    client: httpx.Client,
    path: str,
    content: bytes,
    headers: dict[str, str],
    status: int,
    fragment: str,
) -> None:
    response = client.post(path, content=content, headers=headers)
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert isinstance(error, str)
    assert fragment in error
    assert client.get("/v2/models/prodcat/ready").status_code == 200  # still serving


def test_body_over_the_limit_is_refused_while_streaming(client: httpx.Client) -> None:
    def chunks() -> Any:
        yield b'{"text": "'
        for _ in range(50):
            yield b"a" * 1000
        yield b'"}'

    # No Content-Length: the server has to count while reading.
    response = client.post(PRODUCTS, content=chunks(), headers=JSON)
    assert response.status_code == 413
    assert "limit" in response.json()["error"]


def test_openapi_documents_the_product_route_with_examples(client: httpx.Client) -> None:
    spec = client.get("/openapi.json").json()
    operation = spec["paths"][PRODUCTS]["post"]
    content = operation["requestBody"]["content"]["application/json"]
    assert {"one listing", "several listings", "raw text"} <= set(content["examples"])
    assert {"200", "413", "415", "422", "503", "504"} <= set(operation["responses"])
    assert "8 listings" in operation["description"]
    assert not any(p.startswith("/v2/repository") for p in spec["paths"])


def test_concurrent_requests_share_model_calls(server_url: str, scrape: Scrape) -> None:
    def batches() -> tuple[float, float]:
        samples = scrape(server_url, "prodcat_predictor_batch_size")
        return samples["prodcat_predictor_batch_size_count"], samples[
            'prodcat_predictor_batch_size_bucket{le="1.0"}'
        ]

    count_before, single_before = batches()

    def classify(i: int) -> int:
        body = {"designation": f"Lot de {i} chaussettes bébé"}
        return httpx.post(f"{server_url}{PRODUCTS}", json=body, timeout=30.0).status_code

    with ThreadPoolExecutor(24) as pool:
        statuses = list(pool.map(classify, range(24)))
    assert statuses == [200] * 24
    count_after, single_after = batches()
    calls = count_after - count_before
    assert calls < 24  # fewer model calls than requests
    assert calls - (single_after - single_before) >= 1  # at least one call held several


def test_metrics_count_requests_errors_phases_and_classes(
    client: httpx.Client, server_url: str, scrape: Scrape, codec: LabelCodec
) -> None:
    def requests() -> float:
        return scrape(server_url, "prodcat_predictor_requests_total").get(
            'prodcat_predictor_requests_total{route="classify"}', 0.0
        )

    def errors() -> float:
        return scrape(server_url, "prodcat_predictor_errors_total").get(
            'prodcat_predictor_errors_total{route="classify",status_class="4xx"}', 0.0
        )

    requests_before, errors_before = requests(), errors()
    assert client.post(PRODUCTS, json={"text": "Tapis de jeu pour bébé"}).status_code == 200
    assert client.post(PRODUCTS, json={"nope": 1}).status_code == 422
    assert requests() == requests_before + 2
    assert errors() == errors_before + 1

    phases = scrape(server_url, "prodcat_predictor_phase_duration_seconds_count")
    assert {k.split('"')[1] for k in phases} == {"preprocess", "queue", "infer", "postprocess"}
    classes = scrape(server_url, "prodcat_predictor_predictions_total")
    assert classes
    assert all(int(k.split('"')[1]) in codec.codes for k in classes)
    assert scrape(server_url, "prodcat_predictor_confidence_count")
    assert scrape(server_url, "prodcat_predictor_input_chars_count")
    (info,) = scrape(server_url, "prodcat_predictor_model_info").items()
    assert 'family="linear"' in info[0]
    assert 'alias="none"' in info[0]
    assert info[1] == 1.0


def test_the_server_listens_on_localhost_only(
    server_url: str, hosts_listening: Callable[[str], set[str]]
) -> None:
    assert hosts_listening(server_url) == {"127.0.0.1"}
