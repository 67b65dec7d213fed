"""Servers in other configurations: two workers (multiprocess metrics, an MLflow `models:/` source),
and limits small enough to see overload (503 + Retry-After) and timeouts (504) for real."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import grpc
import httpx
import numpy as np
import pytest
from kserve import InferenceGRPCClient, InferInput, InferRequest

from prodcat_core.labels import LabelCodec

Scrape = Callable[[str, str], dict[str, float]]
ServerFactory = Callable[..., str]

PRODUCTS = "/v1/products:classify"


def test_two_workers_serve_a_registry_model_and_merge_their_metrics(
    start_server: ServerFactory,
    scrape: Scrape,
    hosts_listening: Callable[[str], set[str]],
) -> None:
    url = start_server(workers="2", model_source="models:/prodcat@challenger")
    assert hosts_listening(url) == {"127.0.0.1"}

    def classify(i: int) -> int:
        body = [{"designation": f"Puzzle {i} pièces"}, {"text": "Coussin de chaise"}]
        return httpx.post(f"{url}{PRODUCTS}", json=body, timeout=30.0).status_code

    with ThreadPoolExecutor(8) as pool:
        assert list(pool.map(classify, range(40))) == [200] * 40

    # Whichever worker answers /metrics, it reports every worker's samples.
    for _ in range(6):
        requests = scrape(url, "prodcat_predictor_requests_total")
        assert requests['prodcat_predictor_requests_total{route="classify"}'] == 40
        listings = scrape(url, "prodcat_predictor_listings_total")
        assert listings['prodcat_predictor_listings_total{protocol="classify"}'] == 80
        batches = scrape(url, "prodcat_predictor_batch_size")
        assert batches["prodcat_predictor_batch_size_sum"] == 80
        info = scrape(url, "prodcat_predictor_model_info")
        assert len(info) == 1
        assert 'alias="challenger"' in next(iter(info))


def test_overload_answers_503_with_retry_after_and_slow_answers_504(
    start_server: ServerFactory, scrape: Scrape
) -> None:
    # Long texts keep the model busy for many milliseconds, far over the 0.5 ms a request may
    # wait: each request that gets in times out. Two listings fill the queue, so the requests that
    # arrive while the model is busy are refused at once.
    url = start_server(
        request_timeout_s="0.0005", max_queue="2", max_items="2", max_text_chars="30000"
    )
    words = "tente de camping dôme quatre places double toit arceaux fibre de verre "

    def classify(i: int) -> httpx.Response:
        body = [{"text": f"{i} {words * 300}"}, {"text": words * 300}]
        return httpx.post(f"{url}{PRODUCTS}", json=body, timeout=30.0)

    with ThreadPoolExecutor(12) as pool:
        responses = list(pool.map(classify, range(24)))
    statuses = {r.status_code for r in responses}
    assert statuses == {503, 504}, [r.text for r in responses]
    for r in responses:
        if r.status_code == 503:
            assert r.headers["retry-after"] == "1"
            assert "overloaded" in r.json()["error"]
        else:
            assert "within 0.0005s" in r.json()["error"]
    rejected = scrape(url, "prodcat_predictor_rejected_total")
    assert rejected['prodcat_predictor_rejected_total{reason="queue_full"}'] >= 1
    assert rejected['prodcat_predictor_rejected_total{reason="timeout"}'] >= 1
    errors = scrape(url, "prodcat_predictor_errors_total")
    assert errors['prodcat_predictor_errors_total{route="classify",status_class="5xx"}'] == 24


def test_grpc_listens_on_localhost_and_maps_errors(
    start_server: ServerFactory,
    pick_port: Callable[[], int],
    hosts_listening: Callable[[str], set[str]],
    artifact: Path,
) -> None:
    port = pick_port()
    start_server(grpc_enabled="true", grpc_port=str(port))
    assert hosts_listening(f"grpc://127.0.0.1:{port}") <= {"127.0.0.1", "::ffff:127.0.0.1"}
    codec = LabelCodec.load(artifact / "label_codec.json")

    def texts(datatype: str, values: list[object]) -> InferRequest:
        tensor = InferInput("text", [len(values)], datatype)
        tensor.set_data_from_numpy(
            np.array(values, dtype=np.object_ if datatype == "BYTES" else np.float32)
        )
        return InferRequest(model_name="prodcat", infer_inputs=[tensor])

    async def calls() -> None:
        client = InferenceGRPCClient(f"127.0.0.1:{port}", timeout=30)
        try:
            response = await client.infer(texts("BYTES", [b"Piscine hors sol", b"Roman policier"]))
            codes = response.get_output_by_name("prdtypecode").as_numpy().tolist()
            assert len(codes) == 2
            assert all(c in codec.codes for c in codes)
            with pytest.raises(grpc.aio.AioRpcError) as refused:
                await client.infer(texts("FP32", [1.0]))
            assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
            assert "BYTES" in (refused.value.details() or "")
        finally:
            await client.close()

    asyncio.run(calls())
