"""The predictor as a KServe model: loads an artifact of any family and answers V1, V2 and the
product route through one pipeline (text function → micro-batcher → answers).

The model only needs `LoadedModel.classifier.predict_proba(texts)`, so a new family (the ONNX
transformer) plugs in through `prodcat_core.model.load_model` with no change here.

With several workers kserve pickles the model into each worker process; the loaded classifier,
the batcher and the metrics stay behind (an ONNX session cannot be pickled, a batcher belongs to
one event loop) and each worker loads the already resolved artifact folder again before it
serves."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from kserve import Model
from kserve.protocol.infer_type import InferOutput, InferRequest, InferResponse

from prodcat_core.cpus import InferencePlan, artifact_plan
from prodcat_core.errors import InvalidInputError, PayloadTooLargeError, UnavailableError
from prodcat_core.inference_log import ModelIdentity, new_listing_id
from prodcat_core.logging import log_context
from prodcat_core.model import LoadedModel, load_model, resolve_model_source
from prodcat_core.reference_profile import ReferenceProfile
from prodcat_predict.admission import Admission
from prodcat_predict.batching import DirectRunner, MicroBatcher, Runner, Scored
from prodcat_predict.config import PredictSettings
from prodcat_predict.errors import (
    InferenceFailedError,
    InferenceTimeoutError,
    OverloadedError,
    UnprocessableError,
)
from prodcat_predict.inference_recorder import InferenceRecorder
from prodcat_predict.metrics import PredictorMetrics, process_metrics
from prodcat_predict.pipeline import (
    FloatArray,
    Listing,
    Prediction,
    PreparedBatch,
    predictions,
    prepare,
)
from prodcat_predict.threads import cpus_per_worker

logger = logging.getLogger(__name__)

# Listings run once at load so the first real request does not pay for lazy initialisation.
WARMUP_LISTINGS = (
    Listing("Chaussettes bébé en coton bio", "Lot de 3 paires, taille 0-6 mois."),
    Listing("Console de jeux portable", None),
    Listing(
        "Piscine tubulaire ronde 3,05 m",
        "<p>Structure acier, <b>filtre à cartouche</b> inclus.</p>",
    ),
)

V1_SHAPE_HELP = (
    'a V1 body is {"instances": [...]}, each instance an object {"designation": ..., '
    '"description": ...} or {"text": ...}, or a string'
)
V2_SHAPE_HELP = (
    "a V2 request holds one BYTES tensor of texts, or two BYTES tensors named designation and "
    "description of the same length"
)


@dataclass(frozen=True)
class PreparedRequest:
    """A request after the text function: what the batcher needs, and how to answer."""

    protocol: str  # v1 | v2 | classify
    batch: PreparedBatch
    v2_request: InferRequest | None = None
    request_id: str = ""
    received: float = 0.0  # perf_counter() when preprocessing began: the logged latency's start


@dataclass(frozen=True)
class InferredRequest:
    request: PreparedRequest
    scored: Scored


def _alias_of(source: str) -> str:
    if source.startswith("models:/") and "@" in source:
        return source.rsplit("@", 1)[1] or "none"
    return "none"


class ProdcatModel(Model):  # type: ignore[misc]  # kserve is untyped
    def __init__(
        self,
        settings: PredictSettings,
        metrics: PredictorMetrics | None = None,
        *,
        cpus: int | None = None,
    ) -> None:
        super().__init__(settings.model_name)
        self.settings = settings
        self.cpus = cpus or cpus_per_worker(settings.workers)
        self.plan: InferencePlan | None = None  # chosen at load, for the model's family
        self.loaded: LoadedModel | None = None
        self.artifact_path: Path | None = None
        self.downloaded_to: Path | None = None
        self._runner: Runner | None = None
        self._metrics = metrics
        self.recorder: InferenceRecorder | None = None
        self.identity: ModelIdentity | None = None
        self.admission: Admission | None = None  # made at load (its rate seeded by the warm-up)

    # -- lifecycle ------------------------------------------------------------------------------

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state.update(
            loaded=None, _runner=None, _metrics=None, ready=False, recorder=None, admission=None
        )
        return state

    @property
    def metrics(self) -> PredictorMetrics:
        if self._metrics is None:
            self._metrics = process_metrics()
        return self._metrics

    def require_loaded(self) -> LoadedModel:
        if self.loaded is None or not self.ready:
            raise UnavailableError(f"model {self.name} is not loaded yet")
        return self.loaded

    def load(self) -> bool:
        """Resolves the source once (a worker reuses the folder), loads, warms up, then is ready."""
        s = self.settings
        with log_context(model_name=self.name):
            if self.artifact_path is None:
                download = s.download_folder()
                self.artifact_path = resolve_model_source(s.model_source, download, s.tracking_uri)
                if s.download_dir is None and download.exists():
                    self.downloaded_to = download  # a temporary folder: the server removes it
            started = time.perf_counter()
            plan = artifact_plan(
                self.artifact_path, self.cpus, threads=s.threads, calls=s.inference_concurrency
            )
            loaded = load_model(self.artifact_path, intra_op_threads=plan.threads)
            admission = self._admission(plan)
            self._warm_up(loaded, admission)
            self.loaded, self.plan, self.admission = loaded, plan, admission
            meta = loaded.metadata
            alias = _alias_of(self.settings.model_source)
            self.metrics.model_info.labels(
                name=self.name, version=meta.model_id, alias=alias, family=meta.family
            ).set(1)
            self._start_inference_log(loaded, self.artifact_path, alias)
            self.ready = True
            logger.info(
                "model %s ready: %s (%s, %d classes) from %s, loaded and warmed up in %.2fs; "
                "%d model calls at once on %d threads each",
                self.name, meta.model_id, meta.family, loaded.codec.n_classes, self.artifact_path,
                time.perf_counter() - started, plan.calls, plan.threads,
            )  # fmt: skip
        return True

    def _start_inference_log(self, loaded: LoadedModel, path: Path, alias: str) -> None:
        """The log's model identity, its writer (one per worker) and the reference class shares
        (from the artifact's profile; an artifact without one exports none)."""
        model_id = loaded.metadata.model_id
        self.identity = ModelIdentity(
            name=self.name,
            version=model_id,
            alias=None if alias == "none" else alias,
            model_id=model_id,
        )
        profile = ReferenceProfile.load(path)
        if profile is not None:
            for code, share in profile.class_shares.items():
                self.metrics.reference_class_share.labels(prdtypecode=code).set(share)
        if self.recorder is None:
            self.recorder = InferenceRecorder.from_settings(self.settings, self.metrics)

    def close_inference_log(self) -> None:
        """Writes what the log still holds (at shutdown)."""
        recorder, self.recorder = self.recorder, None
        if recorder is not None:
            recorder.close(self.settings.grace_period_s)

    def _admission(self, plan: InferencePlan) -> Admission | None:
        s = self.settings
        if not s.admission:
            return None
        return Admission(
            timeout_s=s.request_timeout_s,
            wait_fraction=s.admission_wait_fraction,
            heavy_share=s.admission_heavy_share,
            listing_cost_chars=s.listing_cost_chars,
            max_text_chars=s.max_text_chars,
            calls=plan.calls,
            retry_after_s=s.retry_after_s,
            max_call_s=s.max_call_ms / 1000.0,
        )

    def _warm_up(self, loaded: LoadedModel, admission: Admission | None) -> None:
        """A few real listings (checked: one row per text, rows summing to 1), then the largest
        batch of the longest texts the server accepts, so that lazy initialisation and the peak
        memory (a transformer pads to the longest text) happen now, not on a live request."""
        batch = prepare(WARMUP_LISTINGS, self.settings.max_text_chars)
        proba = np.asarray(loaded.classifier.predict_proba(batch.texts))
        expected = (len(batch.texts), loaded.codec.n_classes)
        if proba.shape != expected or not np.allclose(proba.sum(axis=1), 1.0, atol=1e-3):
            raise InvalidInputError(
                f"{loaded.path}: warm-up gave probabilities of shape {proba.shape} (expected "
                f"{expected}) or rows that do not sum to 1; the artifact is broken"
            )
        longest = " ".join(batch.texts)
        longest = (longest * (self.settings.max_text_chars // len(longest) + 1))[
            : self.settings.max_text_chars
        ]
        size = self.settings.max_batch_size if self.settings.batching else self.settings.max_items
        started = time.perf_counter()
        loaded.classifier.predict_proba([longest] * size)
        if admission is not None:  # the first estimate of the model's rate
            admission.seed(admission.cost([longest] * size), time.perf_counter() - started)

    def start(self) -> None:
        """kserve calls this after registering; readiness is `load`'s alone to set."""

    def stop(self) -> None:
        self.ready = False
        runner, self._runner = self._runner, None
        if runner is not None:
            with contextlib.suppress(RuntimeError):  # no running loop: nothing is waiting
                task = asyncio.get_running_loop().create_task(runner.close())
                task.add_done_callback(lambda t: t.exception())

    def runner(self) -> Runner:
        """The batcher (or the direct runner), made on first use in the serving event loop."""
        if self._runner is None:
            predict = self.require_loaded().classifier.predict_proba
            assert self.plan is not None  # set with `loaded`
            s, calls = self.settings, self.plan.calls
            if s.batching:
                self._runner = MicroBatcher(
                    predict,
                    max_batch_size=s.max_batch_size,
                    max_wait_s=s.max_batch_wait_s,
                    max_queue=s.max_queue,
                    concurrency=calls,
                    retry_after_s=s.retry_after_s,
                    on_batch=self._observe_batch,
                    admission=self.admission,
                )
            else:
                self._runner = DirectRunner(
                    predict,
                    max_queue=s.max_queue,
                    concurrency=calls,
                    retry_after_s=s.retry_after_s,
                    on_batch=self._observe_batch,
                    admission=self.admission,
                )
        return self._runner

    def _observe_batch(self, size: int, _seconds: float) -> None:
        self.metrics.batch_size.observe(size)

    # -- the pipeline every protocol shares -----------------------------------------------------

    def prepare_request(
        self, listings: Sequence[Listing], protocol: str, v2_request: InferRequest | None = None
    ) -> PreparedRequest:
        if not listings:
            raise UnprocessableError("the request holds no listing")
        if len(listings) > self.settings.max_items:
            raise PayloadTooLargeError(
                f"the request holds {len(listings)} listings; the limit is "
                f"{self.settings.max_items} per request"
            )
        received = time.perf_counter()
        batch = prepare(listings, self.settings.max_text_chars)
        m = self.metrics
        for item in batch.items:
            m.input_chars.observe(item.chars)
            if item.truncated:
                m.truncated.inc()
        request_id = (v2_request.id if v2_request is not None else None) or uuid.uuid4().hex
        return PreparedRequest(protocol, batch, v2_request, str(request_id), received)

    async def infer(self, request: PreparedRequest) -> InferredRequest:
        self.require_loaded()
        try:
            scored = await self.runner().submit(
                request.batch.texts, self.settings.request_timeout_s
            )
        except OverloadedError:
            self.metrics.rejected.labels(reason="queue_full").inc()
            raise
        except InferenceTimeoutError:
            self.metrics.rejected.labels(reason="timeout").inc()
            raise
        phases = self.metrics.phase_seconds
        phases.labels(phase="queue").observe(scored.queue_s)
        phases.labels(phase="infer").observe(scored.infer_s)
        return InferredRequest(request, scored)

    def answer(self, inferred: InferredRequest, top_k: int | None = None) -> list[Prediction]:
        loaded = self.require_loaded()
        request = inferred.request
        proba = inferred.scored.proba
        if not np.all(np.isfinite(proba)):
            raise InferenceFailedError("the model returned probabilities that are not finite")
        listing_ids = [new_listing_id() for _ in request.batch.items]
        answers = predictions(
            proba, loaded.codec, top_k or self.settings.top_k, request.batch.truncated, listing_ids
        )
        if self.recorder is not None and self.identity is not None:
            self.recorder.record(
                model=self.identity,
                request_id=request.request_id,
                texts=request.batch.texts,
                answers=answers,
                listing_ids=listing_ids,
                latency_ms=(time.perf_counter() - request.received) * 1000.0,
            )
        m = self.metrics
        m.items.labels(protocol=request.protocol).inc(len(answers))
        for p in answers:
            m.predictions.labels(prdtypecode=str(p.prdtypecode)).inc()
            m.confidence.observe(p.confidence)
        return answers

    async def classify(
        self, listings: Sequence[Listing], top_k: int | None = None, protocol: str = "classify"
    ) -> list[Prediction]:
        """The product route's whole path, with the same phases as kserve's."""
        phases = self.metrics.phase_seconds
        started = time.perf_counter()
        request = self.prepare_request(listings, protocol)
        phases.labels(phase="preprocess").observe(time.perf_counter() - started)
        inferred = await self.infer(request)
        started = time.perf_counter()
        answers = self.answer(inferred, top_k)
        phases.labels(phase="postprocess").observe(time.perf_counter() - started)
        return answers

    # -- kserve's handlers (V1 and V2) ----------------------------------------------------------

    def validate(self, payload: Any) -> Any:
        return payload  # preprocess has checked it

    async def preprocess(
        self, payload: Any, headers: dict[str, str] | None = None
    ) -> PreparedRequest:
        started = time.perf_counter()
        if isinstance(payload, InferRequest):
            request = self.prepare_request(listings_from_v2(payload), "v2", payload)
        elif isinstance(payload, dict):
            request = self.prepare_request(listings_from_v1(payload), "v1")
        else:
            raise UnprocessableError(V1_SHAPE_HELP)
        self.metrics.phase_seconds.labels(phase="preprocess").observe(time.perf_counter() - started)
        return request

    async def predict(
        self,
        payload: PreparedRequest,
        headers: dict[str, str] | None = None,
        response_headers: dict[str, str] | None = None,
    ) -> InferredRequest:
        return await self.infer(payload)

    async def postprocess(
        self,
        result: InferredRequest,
        headers: dict[str, str] | None = None,
        response_headers: dict[str, str] | None = None,
    ) -> dict[str, Any] | InferResponse:
        started = time.perf_counter()
        answers = self.answer(result)
        if result.request.v2_request is not None:
            response: dict[str, Any] | InferResponse = self._v2_response(
                result.request.v2_request, answers, result.scored.proba
            )
        else:
            response = {"predictions": [a.as_dict() for a in answers]}
        self.metrics.phase_seconds.labels(phase="postprocess").observe(
            time.perf_counter() - started
        )
        return response

    def _v2_response(
        self, request: InferRequest, answers: list[Prediction], proba: FloatArray
    ) -> InferResponse:
        # Flat lists (kserve reshapes them): its gRPC encoder cannot take numpy arrays as data.
        # Outputs keep the input's shape ([1, 5] texts: [1, 5] codes, [1, 5, k] top-k).
        n, k = _input_shape(request), len(answers[0].top_k)
        tensors: list[tuple[str, list[int], str, list[Any]]] = [
            ("prdtypecode", n, "INT64", [a.prdtypecode for a in answers]),
            ("category", n, "BYTES", [a.category for a in answers]),
            ("confidence", n, "FP32", [a.confidence for a in answers]),
            ("truncated", n, "BOOL", [a.truncated for a in answers]),
            (
                "top_k_prdtypecode",
                [*n, k],
                "INT64",
                [c.prdtypecode for a in answers for c in a.top_k],
            ),
            (
                "top_k_probability",
                [*n, k],
                "FP32",
                [c.probability for a in answers for c in a.top_k],
            ),
            (
                "probabilities",
                [*n, proba.shape[1]],
                "FP32",
                proba.astype(np.float32).ravel().tolist(),
            ),
            ("listing_id", n, "BYTES", [a.listing_id for a in answers]),
        ]
        loaded = self.require_loaded()
        return InferResponse(
            response_id=request.id or str(uuid.uuid4()),
            model_name=self.name,
            model_version=loaded.metadata.model_id,
            infer_outputs=[
                InferOutput(name, shape, dtype, data) for name, shape, dtype, data in tensors
            ],
            use_binary_outputs=request.use_binary_outputs,
            requested_outputs=request.request_outputs,
        )

    def get_input_types(self) -> list[dict[str, Any]]:
        return [
            {"name": "text", "datatype": "BYTES", "shape": [-1]},
            {"name": "designation", "datatype": "BYTES", "shape": [-1]},
            {"name": "description", "datatype": "BYTES", "shape": [-1]},
        ]

    def get_output_types(self) -> list[dict[str, Any]]:
        k = self.settings.top_k
        n_classes = self.loaded.codec.n_classes if self.loaded is not None else -1
        return [
            {"name": "prdtypecode", "datatype": "INT64", "shape": [-1]},
            {"name": "category", "datatype": "BYTES", "shape": [-1]},
            {"name": "confidence", "datatype": "FP32", "shape": [-1]},
            {"name": "truncated", "datatype": "BOOL", "shape": [-1]},
            {"name": "top_k_prdtypecode", "datatype": "INT64", "shape": [-1, k]},
            {"name": "top_k_probability", "datatype": "FP32", "shape": [-1, k]},
            {"name": "probabilities", "datatype": "FP32", "shape": [-1, n_classes]},
            {"name": "listing_id", "datatype": "BYTES", "shape": [-1]},
        ]


# -- request parsing -----------------------------------------------------------------------------


def _optional_str(value: Any, where: str) -> str | None:
    if value is None or isinstance(value, str):
        return value
    raise UnprocessableError(f"{where}: expected a string or null, got {type(value).__name__}")


def listings_from_v1(payload: dict[str, Any]) -> list[Listing]:
    instances = payload.get("instances")
    if not isinstance(instances, list):
        raise UnprocessableError(V1_SHAPE_HELP)
    listings = []
    for i, inst in enumerate(instances):
        where = f"instances[{i}]"
        if isinstance(inst, str):
            listings.append(Listing(inst))
        elif isinstance(inst, dict) and "text" in inst:
            if "designation" in inst or "description" in inst:
                raise UnprocessableError(
                    f"{where}: send text, or designation and description, not both"
                )
            text = _optional_str(inst["text"], f"{where}.text")
            listings.append(Listing(text))
        elif isinstance(inst, dict) and "designation" in inst:
            designation = _optional_str(inst["designation"], f"{where}.designation")
            description = _optional_str(inst.get("description"), f"{where}.description")
            listings.append(Listing(designation, description))
        else:
            raise UnprocessableError(f"{where}: {V1_SHAPE_HELP}")
    return listings


def _flatten(data: Any) -> list[Any]:
    if isinstance(data, list | tuple):
        out: list[Any] = []
        for item in data:
            out.extend(_flatten(item))
        return out
    return [data]


def _tensor_strings(tensor: Any) -> list[str | None]:
    name = tensor.name
    if str(tensor.datatype).upper() != "BYTES":
        raise UnprocessableError(f"input {name!r}: datatype {tensor.datatype}; {V2_SHAPE_HELP}")
    data = tensor.data
    if getattr(tensor, "_raw_data", None) is None and isinstance(data, list | tuple):
        values = _flatten(data)
    else:  # binary tensor data (REST binary extension, gRPC raw contents) or gRPC contents
        try:
            values = list(np.asarray(tensor.as_numpy(), dtype=np.object_).ravel())
        except Exception as e:  # kserve raises several kinds on malformed tensors
            raise UnprocessableError(f"input {name!r}: unreadable tensor data: {e}") from e
    shape = [int(d) for d in tensor.shape]
    if any(d < 0 for d in shape) or math.prod(shape) != len(values):
        raise UnprocessableError(
            f"input {name!r}: shape {shape} does not match {len(values)} values"
        )
    out: list[str | None] = []
    for j, value in enumerate(values):
        if isinstance(value, bytes):
            try:
                value = value.decode("utf-8")
            except UnicodeDecodeError as e:
                raise InvalidInputError(f"input {name!r}[{j}]: not valid UTF-8") from e
        out.append(_optional_str(value, f"input {name!r}[{j}]"))
    return out


def _input_shape(request: InferRequest) -> list[int]:
    """The shape of the texts tensor (`text`, or `designation`) the listings came from."""
    tensors = {t.name: t for t in request.inputs}
    tensor = tensors.get("designation") or request.inputs[0]
    return [int(d) for d in tensor.shape]


def listings_from_v2(request: InferRequest) -> list[Listing]:
    tensors = {t.name: t for t in request.inputs}
    if len(tensors) != len(request.inputs):
        raise UnprocessableError(f"input names repeat; {V2_SHAPE_HELP}")
    if "designation" in tensors:
        unknown = set(tensors) - {"designation", "description"}
        if unknown:
            raise UnprocessableError(f"unexpected inputs {sorted(unknown)}; {V2_SHAPE_HELP}")
        designations = _tensor_strings(tensors["designation"])
        descriptions = (
            _tensor_strings(tensors["description"])
            if "description" in tensors
            else [None] * len(designations)
        )
        if len(descriptions) != len(designations):
            raise UnprocessableError(
                f"designation has {len(designations)} values, description {len(descriptions)}"
            )
        return [Listing(t, d) for t, d in zip(designations, descriptions, strict=True)]
    if len(tensors) == 1:
        (tensor,) = tensors.values()
        return [Listing(text) for text in _tensor_strings(tensor)]
    raise UnprocessableError(V2_SHAPE_HELP)
