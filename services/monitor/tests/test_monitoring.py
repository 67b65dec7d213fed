"""The monitor's computations on generated logs: distances, windows, checks, statuses, feedback
scores (the end-to-end test on a real predictor's log is tests/test_model_health.py)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pyarrow as pa
import pytest
from sklearn.metrics import f1_score

from prodcat_core.errors import InvalidInputError
from prodcat_core.feedback import FEEDBACK_SCHEMA
from prodcat_core.inference_log import INFERENCE_LOG_SCHEMA, text_sha256
from prodcat_core.monitor_report import METRIC_NAMES, ModelRef, MonitorReport
from prodcat_core.reference_profile import ReferenceProfile, build_profile
from prodcat_monitor.config import MonitorSettings
from prodcat_monitor.drift import js_distance, psi, reference_shares, smoothed_shares
from prodcat_monitor.monitoring import (
    LOG_COLUMNS,
    compute_report,
    feedback_scores,
    parse_duration,
    window_bounds,
)

CODES = [10, 40, 50, 60]
MODEL = ModelRef(name="prodcat", version="1", model_id="m-0123456789ab")
WORDS = ["chaise", "table", "lampe", "livre", "console", "jouet", "piscine", "tapis"]


def _texts(rng: np.random.Generator, n: int, described: float) -> list[str]:
    return [
        " ".join(rng.choice(WORDS, 3)) + ("\n" + " ".join(rng.choice(WORDS, 8)) if d else "")
        for d in rng.random(n) < described
    ]


def _probs(rng: np.random.Generator, codes: np.ndarray) -> np.ndarray:
    probs = rng.dirichlet(np.ones(len(CODES)) * 0.3, len(codes)) * 0.2
    probs[np.arange(len(codes)), [CODES.index(c) for c in codes]] += 0.8
    return np.asarray(probs / probs.sum(axis=1, keepdims=True), dtype=np.float64)


def _profile() -> ReferenceProfile:
    rng = np.random.default_rng(0)
    codes = rng.choice(CODES, 4000, p=[0.4, 0.3, 0.2, 0.1])
    return build_profile(
        class_codes=CODES,
        train_texts=_texts(rng, 4000, 0.6),
        test_texts=_texts(rng, 4000, 0.6),
        test_probs=_probs(rng, codes),
        test_codes=codes,
    )


def _log(seed: int, n: int, mix: list[float], described: float = 0.6) -> pa.Table:
    rng = np.random.default_rng(seed)
    codes = rng.choice(CODES, n, p=mix)
    probs = _probs(rng, codes)
    texts = _texts(rng, n, described)
    columns = {
        "prdtypecode": np.asarray(CODES)[probs.argmax(axis=1)].astype(np.int32),
        "confidence": probs.max(axis=1).astype(np.float32),
        "text_chars": np.array([len(t) for t in texts], dtype=np.int32),
        "description_empty": np.array(["\n" not in t for t in texts]),
        "listing_id": [f"l{seed}-{i}" for i in range(n)],
        "text_sha256": [text_sha256(t) for t in texts],
        "text": texts,
    }
    schema = pa.schema([INFERENCE_LOG_SCHEMA.field(c) for c in LOG_COLUMNS])
    return pa.table(columns, schema=schema)


def _report(table: pa.Table, profile: ReferenceProfile | None, **settings: object) -> MonitorReport:
    return compute_report(
        table,
        profile,
        FEEDBACK_SCHEMA.empty_table(),
        MonitorSettings.model_validate({"min_records": 100, **settings}),
        MODEL,
        None,
        None,
    )


def test_distances() -> None:
    same = reference_shares([0.5, 0.5])
    assert psi(same, same) == 0.0
    assert js_distance(same, same) == 0.0
    apart = js_distance(np.array([1.0, 0.0]), np.array([0.0, 1.0]))
    assert apart == pytest.approx(1.0)
    # An empty live bin costs a bounded amount, not infinity.
    assert np.isfinite(psi(smoothed_shares([100, 0]), reference_shares([0.5, 0.5])))


def test_windows() -> None:
    assert parse_duration("90m") == timedelta(minutes=90)
    for bad in ("0h", "1w", "h", "-1h"):
        with pytest.raises(InvalidInputError, match="duration"):
            parse_duration(bad)
    start, end = window_bounds("2h", None, None, "1h")
    assert end - start == timedelta(hours=2)
    naive = datetime(2026, 1, 1, 10)
    assert window_bounds(None, naive, None, "1h")[0] == naive.replace(tzinfo=UTC)
    with pytest.raises(InvalidInputError, match="not both"):
        window_bounds("1h", naive, None, "1h")
    with pytest.raises(InvalidInputError, match="not before"):
        window_bounds(None, naive, naive, "1h")


def test_same_distribution_is_ok_and_shifts_are_flagged() -> None:
    profile = _profile()
    usual = [0.4, 0.3, 0.2, 0.1]
    ok = _report(_log(1, 2000, usual), profile)
    assert ok.status == "ok", ok.breached
    assert set(ok.metrics) == set(METRIC_NAMES)
    assert ok.metrics["oov_rate"] == pytest.approx(0.0)
    assert sum(s.live for s in ok.class_shares.values()) == pytest.approx(1.0)
    mix = _report(_log(2, 2000, [0.05, 0.05, 0.1, 0.8]), profile)
    assert {"class_psi", "class_js"} <= {c.name for c in mix.breached}
    bare = _report(_log(3, 2000, usual, described=0.0), profile)
    assert {"empty_description_rise", "text_length_psi"} <= {c.name for c in bare.breached}


def test_statuses_that_raise_nothing() -> None:
    small = _report(_log(4, 50, [0.25] * 4), _profile())
    assert small.status == "not_enough_data"
    assert small.checks == []
    assert small.window.records == 50
    unprofiled = _report(_log(5, 500, [0.25] * 4), None)
    assert unprofiled.status == "no_profile"
    assert unprofiled.metrics["class_psi"] is None
    assert unprofiled.metrics["confidence_mean"] is not None
    empty = _report(_log(6, 0, [0.25] * 4), _profile())
    assert empty.status == "not_enough_data"


def test_feedback_joins_by_id_then_hash_and_scores_like_sklearn() -> None:
    table = _log(7, 300, [0.25] * 4)
    rng = np.random.default_rng(8)
    truth = rng.choice(CODES, 300)
    ids = table.column("listing_id").to_pylist()
    shas = table.column("text_sha256").to_pylist()
    now = datetime.now(UTC)
    feedback = pa.table(
        {
            "received_at": [now] * 200,
            "listing_id": [ids[i] if i < 100 else None for i in range(200)],
            "text_sha256": [None if i < 100 else shas[i] for i in range(200)],
            "prdtypecode": truth[:200].astype(np.int32),
            "source": ["api"] * 200,
        },
        schema=FEEDBACK_SCHEMA,
    )
    scored = feedback_scores(table, feedback)
    by_hash = {shas[i]: int(truth[i]) for i in range(100, 200)}
    y_true = [int(truth[i]) if i < 100 else by_hash.get(shas[i]) for i in range(300)]
    pred = table.column("prdtypecode").to_pylist()
    pairs = [(t, p) for t, p in zip(y_true, pred, strict=True) if t is not None]
    assert scored.rows == len(pairs)
    assert scored.weighted_f1 == pytest.approx(
        f1_score([t for t, _ in pairs], [p for _, p in pairs], average="weighted")
    )
    assert feedback_scores(table, FEEDBACK_SCHEMA.empty_table()).rows == 0
