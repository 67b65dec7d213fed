"""The Open Inference Protocol as clients nobody on the project wrote speak it: tritonclient's HTTP
client and kserve's InferenceRESTClient against a real server, JSON and binary tensor extension;
then the malformed binary requests that used to answer 500, the version routes, output shapes,
datatypes and lone surrogates."""

from __future__ import annotations

import asyncio
import json
import struct
from typing import Any

import httpx
import numpy as np
import pytest
import tritonclient.http as triton
from kserve import InferenceRESTClient, RESTConfig
from kserve.protocol.infer_type import InferInput, InferRequest

from prodcat_predict.oip import HEADER_LENGTH

from .conftest import MODEL_NAME, Scrape

TEXTS = ["Console de jeux portable", "Chaussettes bébé en coton bio", "Piscine tubulaire 3 m"]
V2 = f"/v2/models/{MODEL_NAME}"


def _triton(server_url: str) -> triton.InferenceServerClient:
    return triton.InferenceServerClient(server_url.removeprefix("http://"), network_timeout=30.0)


def _model_version(client: httpx.Client) -> str:
    versions = client.get(V2).json()["versions"]
    assert isinstance(versions, list)
    assert len(versions) == 1
    return str(versions[0])


@pytest.mark.parametrize("binary", [False, True], ids=["json", "binary"])
def test_tritonclient_infers(server_url: str, client: httpx.Client, binary: bool) -> None:
    tc = _triton(server_url)
    try:
        assert tc.is_server_ready()
        assert tc.is_model_ready(MODEL_NAME)
        text = triton.InferInput("text", [len(TEXTS)], "BYTES")
        text.set_data_from_numpy(np.array([t.encode() for t in TEXTS], np.object_), binary)
        wanted = [triton.InferRequestedOutput(n, binary_data=binary) for n in ("prdtypecode",)]
        result = tc.infer(MODEL_NAME, [text], outputs=wanted)
        codes = result.as_numpy("prdtypecode")
        assert codes is not None
        assert codes.shape == (len(TEXTS),)
        answer = client.post(V2 + "/infer", json=_json_request(TEXTS)).json()
        assert codes.tolist() == _output(answer, "prdtypecode")["data"]  # same as plain JSON
        assert result.get_response()["model_version"] == _model_version(client)
    finally:
        tc.close()


def test_tritonclient_reads_metadata(server_url: str, client: httpx.Client) -> None:
    tc = _triton(server_url)
    try:
        server = tc.get_server_metadata()
        assert "binary_tensor_data" in server["extensions"]
        assert "model_repository_extension" not in server["extensions"]  # its routes are off
        meta = tc.get_model_metadata(MODEL_NAME)
        assert meta["versions"] == [_model_version(client)]
        assert meta["platform"] == "prodcat_linear"
        version = meta["versions"][0]
        assert tc.is_model_ready(MODEL_NAME, version)
        assert tc.get_model_metadata(MODEL_NAME, version)["name"] == MODEL_NAME
    finally:
        tc.close()


@pytest.mark.parametrize("binary", [False, True], ids=["json", "binary"])
def test_kserve_rest_client_infers(server_url: str, binary: bool) -> None:
    async def infer() -> Any:
        tensor = InferInput("text", [len(TEXTS)], "BYTES")
        tensor.set_data_from_numpy(np.array(TEXTS, dtype=np.object_), binary_data=binary)
        request = InferRequest(MODEL_NAME, [tensor])
        config = RESTConfig(protocol="v2", timeout=30)
        client = InferenceRESTClient(config)
        try:
            assert await client.is_model_ready(server_url, MODEL_NAME)
            return await client.infer(server_url, request, model_name=MODEL_NAME)
        finally:
            await client.close()

    response = asyncio.run(infer())
    names = {o.name for o in response.outputs}
    assert {"prdtypecode", "category", "probabilities"} <= names
    proba = next(o for o in response.outputs if o.name == "probabilities").as_numpy()
    assert proba.shape[0] == len(TEXTS)
    assert np.allclose(proba.sum(axis=1), 1.0, atol=1e-3)


def _json_request(texts: list[str], shape: list[int] | None = None) -> dict[str, Any]:
    return {
        "inputs": [
            {"name": "text", "datatype": "BYTES", "shape": shape or [len(texts)], "data": texts}
        ]
    }


def _output(answer: dict[str, Any], name: str) -> dict[str, Any]:
    return next(o for o in answer["outputs"] if o["name"] == name)


def _binary_body(
    texts: list[str], *, size: Any = None, shape: list[int] | None = None
) -> tuple[bytes, bytes]:
    """(JSON header, tensor bytes) of a binary-extension request; size/shape override the
    true ones."""
    raw = b"".join(struct.pack("<I", len(t.encode())) + t.encode() for t in texts)
    header = {
        "inputs": [
            {
                "name": "text",
                "datatype": "BYTES",
                "shape": shape if shape is not None else [len(texts)],
                "parameters": {"binary_data_size": len(raw) if size is None else size},
            }
        ]
    }
    return json.dumps(header).encode(), raw


def _post_binary(client: httpx.Client, head: bytes, raw: bytes, length: str) -> httpx.Response:
    return client.post(V2 + "/infer", content=head + raw, headers={HEADER_LENGTH: length})


def test_binary_extension_without_content_type_infers(client: httpx.Client) -> None:
    head, raw = _binary_body(TEXTS)
    response = _post_binary(client, head, raw, str(len(head)))
    assert response.status_code == 200, response.text
    assert _output(response.json(), "prdtypecode")["shape"] == [len(TEXTS)]


def _malformed() -> list[tuple[str, bytes, str]]:
    head, raw = _binary_body(TEXTS)
    n = str(len(head))
    cases = [
        ("header not an integer", head + raw, "12abc"),
        ("header negative", head + raw, "-5"),
        ("header past the body", head + raw, str(len(head + raw) + 10)),
        ("header cuts the JSON", head + raw, str(len(head) - 3)),
    ]
    for name, size in (
        ("size negative", -1),
        ("size past the body", len(raw) + 100),
        ("size not an integer", "12"),
        ("size short of the data", len(raw) - 2),
    ):
        h, r = _binary_body(TEXTS, size=size)
        cases.append((name, h + r, str(len(h))))
    h, r = _binary_body(TEXTS, shape=[len(TEXTS) + 2])
    cases.append(("size inconsistent with the shape", h + r, str(len(h))))
    corrupt = bytearray(raw)
    corrupt[0:4] = struct.pack("<I", 10_000)
    cases.append(("corrupt length prefix", head + bytes(corrupt), n))
    cases.append(("trailing bytes", head + raw + b"xyz", n))
    return cases


@pytest.mark.parametrize(
    ("body", "length"), [c[1:] for c in _malformed()], ids=[c[0] for c in _malformed()]
)
def test_malformed_binary_requests_are_a_clear_400(
    server_url: str, client: httpx.Client, scrape: Scrape, body: bytes, length: str
) -> None:
    def server_errors() -> float:
        samples = scrape(server_url, "prodcat_predictor_errors_total")
        return sum(v for k, v in samples.items() if 'status_class="5xx"' in k)

    before = server_errors()
    response = client.post(V2 + "/infer", content=body, headers={HEADER_LENGTH: length})
    assert response.status_code == 400, response.text
    message = response.json()["error"]
    assert message
    assert "Traceback" not in message
    assert len(message) < 300
    assert server_errors() == before


def test_the_answered_version_has_working_routes(client: httpx.Client) -> None:
    version = _model_version(client)
    answer = client.post(V2 + "/infer", json=_json_request(TEXTS[:1])).json()
    assert answer["model_version"] == version
    base = f"{V2}/versions/{version}"
    assert client.get(base).json()["versions"] == [version]
    assert client.get(base + "/ready").json() == {"name": MODEL_NAME, "ready": True}
    infer = client.post(base + "/infer", json=_json_request(TEXTS[:1]))
    assert infer.status_code == 200, infer.text
    for path in ("", "/ready"):
        assert client.get(f"{V2}/versions/nope{path}").status_code == 404
    missing = client.post(f"{V2}/versions/nope/infer", json=_json_request(TEXTS[:1]))
    assert missing.status_code == 404
    assert "nope" in missing.json()["error"]


def test_outputs_keep_the_input_shape(client: httpx.Client) -> None:
    texts = [f"{t} {i}" for i in range(5) for t in TEXTS[:1]]
    response = client.post(V2 + "/infer", json=_json_request(texts, shape=[1, 5]))
    assert response.status_code == 200, response.text
    shapes = {o["name"]: o["shape"] for o in response.json()["outputs"]}
    assert shapes["prdtypecode"] == [1, 5]
    assert shapes["top_k_prdtypecode"] == [1, 5, 3]
    assert shapes["probabilities"][:2] == [1, 5]


def test_an_unknown_datatype_is_400(client: httpx.Client) -> None:
    body = _json_request(TEXTS[:1])
    body["inputs"][0]["datatype"] = "STRING"
    response = client.post(V2 + "/infer", json=body)
    assert response.status_code == 400
    assert "STRING" in response.json()["error"]


@pytest.mark.parametrize(
    ("path", "body"),
    [
        (f"/v1/models/{MODEL_NAME}:predict", '{"instances": ["\\ud800 console"]}'),
        ("/v1/products:classify", '{"text": "\\ud800 console"}'),
        (V2 + "/infer", '{"inputs": [{"name": "text", "datatype": "BYTES", "shape": [1], '
         '"data": ["\\ud800 console"]}]}'),
    ],
    ids=["v1", "classify", "v2"],
)  # fmt: skip
def test_a_lone_surrogate_is_400_on_every_route(client: httpx.Client, path: str, body: str) -> None:
    response = client.post(path, content=body, headers={"content-type": "application/json"})
    assert response.status_code == 400, response.text
    paired = body.replace("\\ud800", "\\ud83d\\ude00")  # a real pair (an emoji) is fine
    assert client.post(path, content=paired).status_code == 200


@pytest.mark.parametrize(
    ("path", "body"),
    [
        (f"/v1/models/{MODEL_NAME}:predict", {"instances": TEXTS}),
        ("/v1/products:classify", {"text": TEXTS[0]}),
        (V2 + "/infer", _json_request(TEXTS)),
    ],
    ids=["v1", "classify", "v2"],
)
def test_json_needs_no_content_type(client: httpx.Client, path: str, body: Any) -> None:
    response = client.post(path, content=json.dumps(body).encode())
    assert response.status_code == 200, response.text
    text_plain = client.post(path, content=b"x", headers={"content-type": "text/plain"})
    assert text_plain.status_code == 415


def test_openapi_documents_what_each_route_answers(client: httpx.Client) -> None:
    schema = client.get("/openapi.json").json()
    paths = schema["paths"]
    for path in ("/v1/models/{model_name}:predict", "/v2/models/{model_name}/infer"):
        responses = paths[path]["post"]["responses"]
        assert {"200", "400", "404", "413", "415", "422", "503", "504"} <= set(responses), path
        assert responses["400"]["content"]["application/json"]["schema"]["$ref"].endswith(
            "/ErrorOut"
        )
    infer = paths["/v2/models/{model_name}/infer"]["post"]
    assert set(infer["requestBody"]["content"]) == {"application/json", "application/octet-stream"}
    assert "/v2/models/{model_name}/versions/{model_version}/ready" in paths
    assert "404" in paths["/v2/models/{model_name}/versions/{model_version}"]["get"]["responses"]
    assert set(paths["/metrics"]["get"]["responses"]["200"]["content"]) == {"text/plain"}
    assert "HTTPValidationError" not in json.dumps(schema)  # our 4xx bodies are ErrorOut
    assert not any(p.startswith("/v2/repository") or p.endswith(":explain") for p in paths)
    explain = client.post(f"/v1/models/{MODEL_NAME}:explain", json={"instances": ["x"]})
    assert 400 <= explain.status_code < 500  # no explainer here: not a 501 with a traceback
