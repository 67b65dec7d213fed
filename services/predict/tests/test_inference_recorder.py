"""The predictor's recorder: sampling, off when unset, metrics from the writer's reports."""

from __future__ import annotations

from pathlib import Path

from prometheus_client import CollectorRegistry

from prodcat_core.inference_log import ModelIdentity, read_inference_log
from prodcat_predict.config import PredictSettings
from prodcat_predict.inference_recorder import InferenceRecorder
from prodcat_predict.metrics import PredictorMetrics
from prodcat_predict.pipeline import ClassScore, Prediction

MODEL = ModelIdentity(name="prodcat", version="m-0123456789ab", model_id="m-0123456789ab")


def _answer() -> Prediction:
    return Prediction(10, "livres", 0.9, [ClassScore(10, "livres", 0.9)], False, "x")


def test_off_unless_a_uri_and_a_sample() -> None:
    metrics = PredictorMetrics(CollectorRegistry())
    assert InferenceRecorder.from_settings(PredictSettings(), metrics) is None
    settings = PredictSettings(inference_log_uri="/tmp/never", inference_log_sample=0)
    assert InferenceRecorder.from_settings(settings, metrics) is None


def test_records_a_sample_and_counts_it(tmp_path: Path) -> None:
    registry = CollectorRegistry()
    metrics = PredictorMetrics(registry)
    settings = PredictSettings(inference_log_uri=str(tmp_path), inference_log_sample=0.25)
    recorder = InferenceRecorder.from_settings(settings, metrics)
    assert recorder is not None
    n = 4000
    for i in range(0, n, 40):
        recorder.record(
            model=MODEL,
            request_id=f"r{i}",
            texts=[f"Livre {j}" for j in range(i, i + 40)],
            answers=[_answer()] * 40,
            listing_ids=[f"l{j}" for j in range(i, i + 40)],
            latency_ms=1.0,
        )
    recorder.close()
    written = read_inference_log(str(tmp_path)).num_rows
    assert 0.2 * n < written < 0.3 * n  # 1,000 expected; binomial sd ~27
    value = registry.get_sample_value("prodcat_predictor_inference_log_records_total")
    assert value == written
    assert registry.get_sample_value("prodcat_predictor_inference_log_last_flush_timestamp_seconds")
