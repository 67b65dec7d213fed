"""One monitor run: a window of the inference log for one model against its reference profile.

Everything is vectorised over the log's columns (read alone, with pyarrow); only the OOV rate
looks at words, on a sample of the window's texts. Estimated accuracy needs no labels: the models
are temperature-calibrated, so the mean max-probability tracks accuracy; the estimate is that mean
shifted by the calibration gap the profile measured on the test split. Where feedback labels
name the window's listings (by listing_id, else by text hash), the real F1 is sklearn's on them."""

from __future__ import annotations

import logging
import re
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

from prodcat_core.artifact import read_artifact
from prodcat_core.errors import InvalidInputError, ProdcatError
from prodcat_core.feedback import read_feedback
from prodcat_core.inference_log import list_log_files, read_inference_log
from prodcat_core.model import resolve_model_ref
from prodcat_core.monitor_report import (
    METRIC_NAMES,
    Check,
    ClassShare,
    ModelRef,
    MonitorReport,
    Status,
    Window,
)
from prodcat_core.reference_profile import (
    LOW_CONFIDENCE,
    ReferenceProfile,
    bin_shares,
    oov_rate,
)
from prodcat_monitor.config import MonitorSettings
from prodcat_monitor.drift import js_distance, psi, reference_shares, smoothed_shares

logger = logging.getLogger(__name__)

LOG_COLUMNS = (
    "prdtypecode",
    "confidence",
    "text_chars",
    "description_empty",
    "listing_id",
    "text_sha256",
    "text",
)

_DURATION = re.compile(r"^(\d+)([smhd])$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}


def parse_duration(text: str) -> timedelta:
    match = _DURATION.fullmatch(text.strip())
    if not match or int(match.group(1)) == 0:
        raise InvalidInputError(f"--since {text!r}: expected a duration such as 30m, 1h, 7d")
    return timedelta(**{_UNITS[match.group(2)]: int(match.group(1))})


def window_bounds(
    since: str | None, start: datetime | None, end: datetime | None, default: str
) -> tuple[datetime, datetime]:
    """[start, end) in UTC: --start/--end, else the last --since (or the default window)."""
    if since is not None and (start is not None or end is not None):
        raise InvalidInputError("give --since, or --start/--end, not both")
    now = datetime.now(UTC)
    if start is None and end is None:
        return now - parse_duration(since or default), now
    end = end or now
    start = start or end - parse_duration(default)
    start, end = (t.replace(tzinfo=UTC) if t.tzinfo is None else t for t in (start, end))
    if start >= end:
        raise InvalidInputError(
            f"--start {start.isoformat()} is not before --end {end.isoformat()}"
        )
    return start, end


@dataclass(frozen=True)
class MonitoredModel:
    path: Path
    ref: ModelRef
    profile: ReferenceProfile | None


def _registry_version(ref: str, settings: MonitorSettings) -> tuple[str | None, str | None]:
    """(registry version, alias) named by a models:/ reference; the alias's version is looked up
    (None, logged, when the registry cannot say)."""
    if not ref.startswith("models:/"):
        return None, None
    name_part = ref.removeprefix("models:/")
    if "@" in name_part:
        name, alias = name_part.split("@", 1)
        from prodcat_core.registry import ModelRegistry  # mlflow: only for registry references

        try:
            found = ModelRegistry(settings.tracking_uri, name).get_alias(alias)
        except ProdcatError as e:
            logger.warning("registry version of %s unknown: %s", ref, e.message)
            return None, alias
        return (found.version if found else None), alias
    _, _, version = name_part.partition("/")
    return (version or None), None


def resolve_monitored_model(ref: str, settings: MonitorSettings) -> MonitoredModel:
    """The model's identity and profile. A models:/ reference is downloaded into
    MONITOR_DOWNLOAD_DIR, or into a temporary folder removed once the profile is read."""
    if settings.download_dir is not None:
        return _read_model(ref, settings, settings.download_dir)
    with tempfile.TemporaryDirectory(prefix="prodcat-monitor-") as download:
        return _read_model(ref, settings, Path(download))


def _read_model(ref: str, settings: MonitorSettings, download: Path) -> MonitoredModel:
    path = resolve_model_ref(ref, settings.models_dir, download, settings.tracking_uri)
    metadata, _ = read_artifact(path, verify=False)
    version, alias = _registry_version(ref, settings)
    model = ModelRef(
        name=settings.registered_model,
        version=version or metadata.model_id,
        alias=alias,
        model_id=metadata.model_id,
    )
    return MonitoredModel(path, model, ReferenceProfile.load(path))


def _numpy(table: pa.Table, column: str) -> npt.NDArray[np.generic]:
    return np.asarray(table.column(column).to_numpy())


def _floats(table: pa.Table, column: str) -> npt.NDArray[np.float64]:
    return np.asarray(table.column(column).to_numpy(), dtype=np.float64)


def _class_mix(
    codes: npt.NDArray[np.generic], profile: ReferenceProfile | None
) -> tuple[dict[str, ClassShare], float | None, float | None]:
    """Per-class shares live vs reference, and the PSI and JS distance of the mix."""
    live_codes, counts = np.unique(codes, return_counts=True)
    live = {str(int(c)): int(n) for c, n in zip(live_codes, counts, strict=True)}
    reference = profile.class_shares if profile is not None else {}
    keys = sorted(set(live) | set(reference), key=int)
    total = max(int(counts.sum()), 1)
    shares = {k: ClassShare(live=live.get(k, 0) / total, reference=reference.get(k)) for k in keys}
    if profile is None or not len(codes):
        return shares, None, None
    live_vector = smoothed_shares([live.get(k, 0) for k in keys])
    reference_vector = reference_shares([reference.get(k, 0.0) for k in keys])
    return shares, psi(live_vector, reference_vector), js_distance(live_vector, reference_vector)


def _binned_psi(values: npt.NDArray[np.generic], cuts: list[float], hist: list[float]) -> float:
    counts = np.asarray(bin_shares(values, cuts)) * len(values)
    return psi(smoothed_shares(counts), reference_shares(hist))


def _sampled_oov(table: pa.Table, profile: ReferenceProfile, sample: int) -> float | None:
    texts = table.column("text")
    present = np.flatnonzero(np.asarray(pc.is_valid(texts).to_numpy(zero_copy_only=False)))
    if not len(present):
        return None  # a hash-only log keeps no words
    if len(present) > sample:
        present = np.sort(np.random.default_rng(0).choice(present, sample, replace=False))
    chosen = texts.take(pa.array(present)).to_pylist()
    return oov_rate((t for t in chosen if t), frozenset(profile.vocabulary))


@dataclass(frozen=True)
class FeedbackScores:
    rows: int
    weighted_f1: float | None
    macro_f1: float | None
    per_class_recall: dict[str, float]


def feedback_scores(table: pa.Table, feedback: pa.Table) -> FeedbackScores:
    """Joins labels to the window's answers (listing_id first, then text hash; the latest label
    of a listing wins) and scores the answers with sklearn."""
    if not feedback.num_rows or not table.num_rows:
        return FeedbackScores(0, None, None, {})
    from sklearn.metrics import f1_score, recall_score  # the feedback path only

    labels = feedback.to_pandas().sort_values("received_at", kind="stable")
    by_id = labels.dropna(subset=["listing_id"]).drop_duplicates("listing_id", keep="last")
    by_hash = labels.dropna(subset=["text_sha256"]).drop_duplicates("text_sha256", keep="last")
    log = table.select(["listing_id", "text_sha256", "prdtypecode"]).to_pandas()
    true_by_id = log["listing_id"].map(by_id.set_index("listing_id")["prdtypecode"])
    true_by_hash = log["text_sha256"].map(by_hash.set_index("text_sha256")["prdtypecode"])
    y_true_all = true_by_id.fillna(true_by_hash)
    matched = y_true_all.notna().to_numpy()
    if not matched.any():
        return FeedbackScores(0, None, None, {})
    y_true = y_true_all[matched].astype(np.int64).to_numpy()
    y_pred = log["prdtypecode"][matched].astype(np.int64).to_numpy()
    present = sorted({int(c) for c in y_true})
    recalls = recall_score(y_true, y_pred, labels=present, average=None, zero_division=0)
    return FeedbackScores(
        rows=int(matched.sum()),
        weighted_f1=float(f1_score(y_true, y_pred, average="weighted", zero_division=0)),
        macro_f1=float(f1_score(y_true, y_pred, average="macro", zero_division=0)),
        per_class_recall={str(c): float(r) for c, r in zip(present, recalls, strict=True)},
    )


def _difference(a: float | None, b: float | None) -> float | None:
    return None if a is None or b is None else a - b


def compute_report(
    table: pa.Table,
    profile: ReferenceProfile | None,
    feedback: pa.Table,
    settings: MonitorSettings,
    model: ModelRef,
    start: datetime | None,
    end: datetime | None,
) -> MonitorReport:
    """The report of one window (`table`: the log's LOG_COLUMNS for that window and model)."""
    n = table.num_rows
    metrics: dict[str, float | None] = dict.fromkeys(METRIC_NAMES)
    codes = _numpy(table, "prdtypecode")
    shares, class_psi, class_js = _class_mix(codes, profile)
    metrics.update(class_psi=class_psi, class_js=class_js)
    threshold = profile.low_confidence_threshold if profile is not None else LOW_CONFIDENCE
    confidence_psi = None
    if n:
        confidence = _floats(table, "confidence")
        chars = _floats(table, "text_chars")
        metrics.update(
            confidence_mean=float(confidence.mean()),
            low_confidence_share=float(np.mean(confidence < threshold)),
            text_chars_median=float(np.median(chars)),
            empty_description_share=float(np.mean(_floats(table, "description_empty"))),
        )
    if profile is not None:
        metrics.update(
            confidence_mean_reference=profile.confidence_mean,
            low_confidence_share_reference=profile.low_confidence_share,
            reference_accuracy=profile.accuracy,
            text_chars_median_reference=profile.text_chars_median,
            empty_description_share_reference=profile.empty_description_share,
            oov_rate_reference=profile.oov_rate,
        )
        if n:
            # The calibration gap measured on the test split carries over to live traffic.
            gap = profile.accuracy - profile.confidence_mean
            live_mean = metrics["confidence_mean"]
            assert live_mean is not None  # set above for a non-empty window
            metrics["estimated_accuracy"] = min(1.0, max(0.0, live_mean + gap))
            confidence_psi = _binned_psi(
                confidence, profile.confidence_cuts, profile.confidence_hist
            )
            metrics["text_length_psi"] = _binned_psi(
                chars, profile.text_chars_cuts, profile.text_chars_hist
            )
            metrics["oov_rate"] = _sampled_oov(table, profile, settings.oov_sample)
    scored = feedback_scores(table, feedback)
    metrics.update(
        feedback_rows=float(scored.rows),
        feedback_weighted_f1=scored.weighted_f1,
        feedback_macro_f1=scored.macro_f1,
    )
    status: Status
    checks: list[Check] = []
    if profile is None:
        status = "no_profile"
    elif n < settings.min_records:
        status = "not_enough_data"
    else:
        checks = _checks(metrics, confidence_psi, scored, settings)
        status = "drift" if any(c.breached for c in checks) else "ok"
    return MonitorReport(
        model=model,
        window=Window(start=start, end=end, records=n),
        status=status,
        metrics=metrics,
        class_shares=shares,
        per_class_recall=scored.per_class_recall,
        checks=checks,
        thresholds=settings.thresholds(),
    )


def _checks(
    m: dict[str, float | None],
    confidence_psi: float | None,
    scored: FeedbackScores,
    settings: MonitorSettings,
) -> list[Check]:
    t = settings.thresholds()
    values: list[tuple[str, float | None]] = [
        ("class_psi", m["class_psi"]),
        ("class_js", m["class_js"]),
        ("confidence_psi", confidence_psi),
        (
            "low_confidence_rise",
            _difference(m["low_confidence_share"], m["low_confidence_share_reference"]),
        ),
        (
            "estimated_accuracy_drop",
            _difference(m["reference_accuracy"], m["estimated_accuracy"]),
        ),
        ("text_length_psi", m["text_length_psi"]),
        (
            "empty_description_rise",
            _difference(m["empty_description_share"], m["empty_description_share_reference"]),
        ),
        ("oov_rise", _difference(m["oov_rate"], m["oov_rate_reference"])),
    ]
    if scored.rows >= settings.min_feedback_rows:
        values.append(
            (
                "feedback_f1_drop",
                _difference(m["reference_accuracy"], m["feedback_weighted_f1"]),
            )
        )
    return [
        Check(
            name=name,
            value=value,
            threshold=t[name],
            breached=value is not None and value > t[name],
        )
        for name, value in values
    ]


def read_window(
    settings: MonitorSettings, model: ModelRef, start: datetime, end: datetime
) -> pa.Table:
    files = list_log_files(settings.log_uri, start, end)
    logger.info(
        "reading the inference log %s: %d file(s) for %s – %s",
        settings.log_uri,
        len(files),
        start.isoformat(),
        end.isoformat(),
    )
    started = time.perf_counter()
    table = read_inference_log(
        settings.log_uri, start, end, model_version=model.model_id, columns=LOG_COLUMNS
    )
    logger.info(
        "read %d records of %s in %.1fs",
        table.num_rows,
        model.model_id,
        time.perf_counter() - started,
    )
    return table


def run_monitor(
    model: MonitoredModel, start: datetime, end: datetime, settings: MonitorSettings
) -> MonitorReport:
    """Reads the window and the feedback labels and computes the report (writes nothing)."""
    if model.profile is None:
        logger.warning(
            "model %s has no reference profile (an older artifact): nothing to compare with",
            model.ref.model_id,
        )
    table = read_window(settings, model.ref, start, end)
    feedback = read_feedback(settings.feedback_dir)
    started = time.perf_counter()
    report = compute_report(table, model.profile, feedback, settings, model.ref, start, end)
    logger.info(
        "monitor %s: %s over %d records (%d labelled) in %.1fs",
        report.monitor_id,
        report.status,
        report.window.records,
        int(report.metrics["feedback_rows"] or 0),
        time.perf_counter() - started,
    )
    return report
