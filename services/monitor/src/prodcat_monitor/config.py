"""Settings of the monitor stage (env prefix MONITOR_). Thresholds are absolute changes against
the reference profile unless their name says otherwise."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from prodcat_core.settings import TrackedServiceSettings


class MonitorSettings(TrackedServiceSettings):
    model_config = SettingsConfigDict(env_prefix="MONITOR_")

    log_uri: str = Field("logs/inference", description="the inference log: a folder or s3://…")
    feedback_dir: Path = Field(Path("data/feedback"), description="the feedback labels store")
    output_dir: Path = Field(Path("monitoring"), description="where reports are written")
    models_dir: Path = Field(Path("models/artifacts"), description="where model artifacts live")
    download_dir: Path | None = Field(
        None, description="where a models:/ model is downloaded (a temporary folder when unset)"
    )
    window: str = Field("1h", description="default window: the last 30m, 1h, 24h, 7d, …")
    min_records: int = Field(
        200, ge=1, description="fewer records in the window: 'not enough data', nothing raised"
    )
    oov_sample: int = Field(
        50_000, ge=100, description="texts whose words are checked for the OOV rate (a sample)"
    )
    class_psi: float = Field(0.25, gt=0, description="PSI of the predicted-class mix")
    class_js: float = Field(0.25, gt=0, description="Jensen-Shannon distance of the class mix")
    confidence_psi: float = Field(0.25, gt=0, description="PSI of the confidence histogram")
    low_confidence_rise: float = Field(
        0.15, gt=0, description="rise of the share of answers below the low-confidence threshold"
    )
    estimated_accuracy_drop: float = Field(
        0.1, gt=0, description="fall of the estimated accuracy (from the calibrated confidence)"
    )
    text_length_psi: float = Field(0.25, gt=0, description="PSI of the text-length distribution")
    empty_description_rise: float = Field(
        0.2, gt=0, description="rise of the share of listings without a description"
    )
    oov_rise: float = Field(0.15, gt=0, description="rise of the out-of-vocabulary word rate")
    feedback_f1_drop: float = Field(
        0.1, gt=0, description="fall of the real weighted F1 (feedback) below the test accuracy"
    )
    min_feedback_rows: int = Field(50, ge=1, description="fewer labelled rows: no F1 check")

    def thresholds(self) -> dict[str, float]:
        return {
            "class_psi": self.class_psi,
            "class_js": self.class_js,
            "confidence_psi": self.confidence_psi,
            "low_confidence_rise": self.low_confidence_rise,
            "estimated_accuracy_drop": self.estimated_accuracy_drop,
            "text_length_psi": self.text_length_psi,
            "empty_description_rise": self.empty_description_rise,
            "oov_rise": self.oov_rise,
            "feedback_f1_drop": self.feedback_f1_drop,
        }
