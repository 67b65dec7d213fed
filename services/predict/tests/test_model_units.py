"""The pieces under the server, in process: text preparation and answers, request parsing,
the model's load/pickle cycle, route labels, CPU limits and settings."""

from __future__ import annotations

import asyncio
import os
import pickle
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from kserve.protocol.infer_type import InferInput, InferRequest
from prometheus_client import CollectorRegistry
from pydantic import ValidationError

from prodcat_core.errors import (
    InvalidInputError,
    PayloadTooLargeError,
    ProdcatError,
    UnavailableError,
)
from prodcat_core.labels import LabelCodec
from prodcat_core.text import listing_text
from prodcat_predict.config import PredictSettings
from prodcat_predict.errors import UnprocessableError
from prodcat_predict.limits import route_of
from prodcat_predict.metrics import PredictorMetrics
from prodcat_predict.model import ProdcatModel, listings_from_v1, listings_from_v2
from prodcat_predict.pipeline import Listing, predictions, prepare, top_k_indexes
from prodcat_predict.threads import cpus_per_worker


def test_prepare_uses_the_text_function_and_cuts_long_texts() -> None:
    listing = Listing("Piscine &amp; spa", "<p>Filtre  inclus</p>")
    batch = prepare([listing, Listing("x" * 50)], max_chars=10)
    expected = listing_text(listing.designation, listing.description)
    assert batch.texts[0] == expected[:10]
    assert batch.items[0].chars == len(expected)
    assert batch.truncated == [True, True]
    assert prepare([Listing("court")], max_chars=10).truncated == [False]


@pytest.mark.parametrize("listing", [Listing(None), Listing("  "), Listing("<br/>", "&nbsp;")])
def test_a_listing_without_words_is_refused_by_index(listing: Listing) -> None:
    with pytest.raises(UnprocessableError, match="listing 1: its text is empty"):
        prepare([Listing("ok"), listing], max_chars=100)


def test_top_k_is_sorted_and_answers_name_their_classes() -> None:
    codec = LabelCodec.from_codes([10, 40, 50, 60])
    proba = np.array([[0.1, 0.5, 0.15, 0.25], [0.7, 0.1, 0.1, 0.1]], dtype=np.float32)
    assert top_k_indexes(proba, 3).tolist() == [[1, 3, 2], [0, 1, 2]]
    assert top_k_indexes(proba, 99).shape == (2, 4)
    first, second = predictions(proba, codec, 2, [False, True])
    assert (first.prdtypecode, first.category) == (40, codec.name_of(40))
    assert [c.prdtypecode for c in first.top_k] == [40, 60]
    assert first.confidence == pytest.approx(0.5)
    assert second.truncated
    assert second.prdtypecode == 10


def test_v1_instances_parse_to_listings() -> None:
    body = {"instances": ["raw", {"text": "t"}, {"designation": "d", "description": None}]}
    assert listings_from_v1(body) == [Listing("raw"), Listing("t"), Listing("d", None)]
    bad_bodies: list[dict[str, Any]] = [
        {"instances": {}},
        {"instances": [3]},
        {"instances": [{"text": "a", "designation": "b"}]},
    ]
    for bad in bad_bodies:
        with pytest.raises(UnprocessableError):
            listings_from_v1(bad)


def _request(*inputs: InferInput) -> InferRequest:
    return InferRequest(model_name="prodcat", infer_inputs=list(inputs))


def test_v2_tensors_parse_to_listings() -> None:
    texts = InferInput("anything", [2, 1], "BYTES", [["a"], ["b"]])
    assert listings_from_v2(_request(texts)) == [Listing("a"), Listing("b")]
    fields = _request(
        InferInput("designation", [2], "BYTES", ["t1", b"t2"]),
        InferInput("description", [2], "BYTES", ["d1", "d2"]),
    )
    assert listings_from_v2(fields) == [Listing("t1", "d1"), Listing("t2", "d2")]
    binary = InferInput("text", [1], "BYTES")
    binary.set_data_from_numpy(np.array([b"caf\xc3\xa9"], dtype=np.object_), binary_data=True)
    assert listings_from_v2(_request(binary)) == [Listing("café")]


@pytest.mark.parametrize(
    ("inputs", "error"),
    [
        ([InferInput("text", [3], "BYTES", ["a", "b"])], "shape"),
        ([InferInput("text", [1], "FP32", [1.0])], "datatype"),
        ([InferInput("text", [1], "BYTES", [b"\xff"])], "UTF-8"),
        ([InferInput("a", [1], "BYTES", ["x"]), InferInput("b", [1], "BYTES", ["y"])], "one BYTES"),
        (
            [
                InferInput("designation", [2], "BYTES", ["a", "b"]),
                InferInput("description", [1], "BYTES", ["c"]),
            ],
            "description 1",
        ),
        (
            [InferInput("designation", [1], "BYTES", ["a"]), InferInput("x", [1], "BYTES", ["c"])],
            "unexpected",
        ),
    ],
)
def test_v2_tensors_that_do_not_fit_are_refused(inputs: list[InferInput], error: str) -> None:
    with pytest.raises(InvalidInputError, match=error):
        listings_from_v2(_request(*inputs))


def _settings(artifact: Path, **kw: Any) -> PredictSettings:
    return PredictSettings(model_source=str(artifact), **kw)


def test_the_model_is_ready_only_after_load_and_reloads_after_pickling(artifact: Path) -> None:
    model = ProdcatModel(_settings(artifact, max_items=3), PredictorMetrics(CollectorRegistry()))
    model.start()  # kserve's start does not make it ready
    with pytest.raises(UnavailableError, match="not loaded"):
        model.require_loaded()
    assert model.load()
    assert model.require_loaded().codec.n_classes > 1

    copy = pickle.loads(pickle.dumps(model))  # what kserve does for each worker
    assert not copy.ready
    assert copy.loaded is None
    assert copy.artifact_path == model.artifact_path
    copy._metrics = PredictorMetrics(CollectorRegistry())
    copy.load()

    async def classify() -> None:
        (answer,) = await copy.classify([Listing("Piscine hors sol")], top_k=2)
        assert answer.prdtypecode in copy.require_loaded().codec.codes
        assert len(answer.top_k) == 2
        with pytest.raises(PayloadTooLargeError, match="limit is 3"):
            await copy.classify([Listing("a")] * 4)
        copy.stop()
        assert not copy.ready

    asyncio.run(classify())


def test_a_missing_source_fails_the_load(tmp_path: Path) -> None:
    model = ProdcatModel(_settings(tmp_path / "nowhere"), PredictorMetrics(CollectorRegistry()))
    with pytest.raises(ProdcatError, match="no such folder"):
        model.load()
    assert not model.ready


@pytest.mark.parametrize(
    ("path", "route"),
    [
        ("/v1/models/prodcat:predict", "v1_predict"),
        ("/v2/models/prodcat/infer", "v2_infer"),
        ("/v2/models/prodcat/versions/3/infer", "v2_infer"),
        ("/v1/products:classify", "classify"),
        ("/v2/health/ready", "health"),
        ("/v1/models/prodcat", "health"),
        ("/v2/models/prodcat", "metadata"),
        ("/metrics", "metrics"),
        ("/some/../thing?x=1", "other"),
    ],
)
def test_route_labels_are_templates_never_paths(path: str, route: str) -> None:
    assert route_of(path) == route


def test_cpus_per_worker_divides_the_cgroup_limit(tmp_path: Path) -> None:
    (tmp_path / "cpu.max").write_text("50000 100000\n")
    assert cpus_per_worker(4, tmp_path) == 1
    (tmp_path / "cpu.max").write_text("800000 100000\n")
    assert cpus_per_worker(2, tmp_path) == max(1, min(len(os.sched_getaffinity(0)), 8) // 2)


def test_settings_refuse_a_request_limit_above_the_queue() -> None:
    with pytest.raises(ValidationError, match="max_queue"):
        PredictSettings(max_items=100, max_queue=10)
    assert PredictSettings(max_batch_wait_ms=5).max_batch_wait_s == pytest.approx(0.005)
