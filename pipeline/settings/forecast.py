"""``velib forecast train | predict | evaluate`` and the live forecaster: every setting once.

The three commands share the params.yaml ``forecast`` section: where the
stream's tables are, where the model and the predictions go, the issue-time
step, and the model's size (a small one for the tests, through params).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

from pipeline.settings.declare import Settings, SettingsError, opt
from pipeline.settings.declare import date_range as as_dates
from pipeline.settings.declare import duration as as_duration
from pipeline.settings.declare import path as as_path
from pipeline.settings.declare import positive as as_positive
from pipeline.settings.declare import positive_int as as_positive_int
from pipeline.settings.shared import STALE_AFTER

MODEL = "models/forecast.zip"
SERVING = "models/forecast_serving.json"
PREDICTIONS = "data/forecast/predictions.parquet"


def as_count(value: Any) -> int:
    """A whole number >= 0."""
    try:
        number = int(str(value))
    except ValueError:
        raise ValueError(f"must be a whole number >= 0, got {value!r}") from None
    if number < 0:
        raise ValueError(f"must be a whole number >= 0, got {value!r}")
    return number


def as_date_ranges(value: Any) -> tuple[tuple[date, date], ...]:
    """Date ranges from a YAML list or a comma-separated text (``FIRST..LAST`` or one date)."""
    items = value if isinstance(value, list | tuple) else str(value).split(",")
    ranges = [as_dates(v) for v in items]
    return tuple(r for r in ranges if r is not None)


def _processed() -> Any:
    return opt("data/processed", "the stream's tables (a processed root)", param="processed",
               parse=as_path)  # fmt: skip


def _model(help_text: str) -> Any:
    return opt(MODEL, help_text, param="model", parse=as_path)


def _every() -> Any:
    return opt("15 minutes", "issue times: every window end of this step", param="every",
               parse=as_duration)  # fmt: skip


def _stale_after() -> Any:
    return opt(STALE_AFTER, "without a poll log, a station counts as seen this long",
               flag="-", param="stream.stale_after", parse=as_duration)  # fmt: skip


def _check_processed(processed: Path) -> None:
    if not (processed / "status").is_dir():
        raise SettingsError(f"no status/ table under {processed}: run velib run first")


@dataclass(frozen=True)
class TrainSettings(Settings):
    """``velib forecast train``: rolling-origin members and a model on all days."""

    SECTION = "forecast"
    processed: Path = _processed()
    dates: tuple[date, date] | None = opt(
        None, "learn from these Paris dates only, FIRST..LAST (default: all)", parse=as_dates
    )
    model_out: Path = opt(MODEL, "the model file to write", param="model", parse=as_path)
    rolling_days: int = opt(
        7,
        "also fit one member per each of the last N Paris days, on the days before it "
        "(rolling origin, for evaluation); 0: one model on all days",
        param="rolling_days",
        parse=as_count,
    )
    every: str = _every()
    train_rows: int = opt(400_000, "training rows drawn per member (seeded)",
                          param="train_rows", parse=as_positive_int)  # fmt: skip
    trees: int = opt(200, "boosting rounds per booster", param="trees", parse=as_positive_int)
    threads: int = opt(2, "LightGBM threads", param="threads", parse=as_positive_int)
    seed: int = opt(0, "random seed (row draw, bagging)", param="seed", parse=int)
    stale_after: str = _stale_after()

    def check(self) -> None:
        """The tables exist."""
        _check_processed(self.processed)


@dataclass(frozen=True)
class PredictSettings(Settings):
    """``velib forecast predict``: every station at every issue time of the tables."""

    SECTION = "forecast"
    processed: Path = _processed()
    model: Path = _model("the model file of velib forecast train")
    out: Path = opt(PREDICTIONS, "the predictions file (Parquet, rewritten)",
                    param="predictions", parse=as_path)  # fmt: skip
    every: str = _every()
    serving: Path | None = opt(
        None,
        "serve persistence at the horizons where this decision of velib forecast evaluate "
        "says the model lost to it (default: the model at every horizon, what evaluate scores)",
        parse=as_path,
    )
    stale_after: str = _stale_after()

    def check(self) -> None:
        """The tables and the model exist."""
        _check_processed(self.processed)
        if not self.model.is_file():
            raise SettingsError(f"no model at {self.model}: run velib forecast train first")


@dataclass(frozen=True)
class EvaluateSettings(Settings):
    """``velib forecast evaluate``: observed targets, both baselines, metrics and details."""

    SECTION = "forecast"
    processed: Path = _processed()
    predictions: Path = opt(PREDICTIONS, "the predictions file of velib forecast predict",
                            param="predictions", parse=as_path)  # fmt: skip
    metrics: Path = opt("reports/metrics/forecast.json", "metrics JSON (a few flat keys)",
                        parse=as_path)  # fmt: skip
    details: Path = opt(
        "reports/metrics/forecast_details.csv",
        "every metric by horizon, Paris hour, arrondissement and day",
        parse=as_path,
    )
    scored: Path = opt("data/forecast/scored.parquet",
                       "every scored target with each model's forecast (for notebook 07)",
                       parse=as_path)  # fmt: skip
    serving: Path = opt(SERVING, "where to write which forecast is served at each horizon "
                        "(decided on the development days)", param="serving",
                        parse=as_path)  # fmt: skip
    final_test: tuple[tuple[date, date], ...] = opt(
        (), "Paris date ranges held out as the final test (FIRST..LAST, comma-separated): "
        "scored apart, never used for a decision", param="final_test", parse=as_date_ranges,
    )  # fmt: skip
    stale_after: str = _stale_after()

    def check(self) -> None:
        """The tables and the predictions exist."""
        _check_processed(self.processed)
        if not self.predictions.is_file():
            raise SettingsError(f"no predictions at {self.predictions}: run velib forecast predict")


@dataclass(frozen=True)
class LiveForecastSettings(Settings):
    """``velib forecast live``: forecasts for the next hour each time a window closes."""

    SECTION = "forecast"
    processed: Path = opt("data/live/processed", "the live stream's tables", parse=as_path)
    model: Path = _model("the model file of velib forecast train")
    out: Path = opt("data/live/forecasts", "the forecasts/ table to append to", parse=as_path)
    check_every_s: float = opt(10.0, "seconds between looks for a newly closed window",
                               parse=as_positive, flag="--check-every")  # fmt: skip
    once: bool = opt(False, "forecast the newest closed window (if new) and exit", boolean=True)
    serving: Path = opt(SERVING, "which forecast to serve at each horizon (velib forecast "
                        "evaluate's decision; when absent, the model everywhere)",
                        param="serving", parse=as_path)  # fmt: skip
    stale_after: str = _stale_after()
