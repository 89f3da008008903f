"""The recordings the research pipeline builds, by short name (params.yaml ``recordings``).

A recording is a folder of recorded answers replayed as a period of Paris
dates. The research pipeline builds each one the same way (``dvc.yaml``: one
``foreach`` stage of each kind over this section), so every result of a
recording lives under its name, and nowhere else:

    data/interim/<name>/csv     capture's CSV files          (the stream stage)
    data/processed/<name>       the stream's tables, exported
    data/run/<name>             the run's working state (not a result)
    reports/metrics/<name>/     its metrics and plot data    (every stage)
    reports/figures/<name>/     its figures, one folder per notebook
    models/<name>/              its forecast model and serving decision (the forecast stage)
    data/forecast/<name>/       its forecasts and their scored targets  (the forecast stage)

``velib run`` replays ``base.recording`` (a name here) into the same folders,
so ``make run`` writes what the DVC ``stream`` stage of that recording writes.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

from pipeline.settings import project
from pipeline.settings.declare import SettingsError, date_range

SECTION = "recordings"
CSV = Path("data/interim")
PROCESSED = Path("data/processed")
WORK = Path("data/run")
METRICS = Path("reports/metrics")
FIGURES = Path("reports/figures")
MODELS = Path("models")
FORECASTS = Path("data/forecast")


@dataclass(frozen=True)
class Recording:
    """One recording of params.yaml ``recordings``: its name, folder and Paris dates.

    Attributes:
        name: the short name its outputs are filed under (``may2022-hourly``).
        path: the recorded folder, relative to the project root.
        dates: the Paris dates replayed, inclusive (None: every answer).
    """

    name: str
    path: Path
    dates: tuple[date, date] | None

    @property
    def csv(self) -> Path:
        """Capture's CSV files of this recording (relative to the project root)."""
        return CSV / self.name / "csv"

    @property
    def processed(self) -> Path:
        """The stream's tables of this recording, exported (relative to the root)."""
        return PROCESSED / self.name

    @property
    def work(self) -> Path:
        """The run's working state for this recording (relative to the root)."""
        return WORK / self.name

    @property
    def metrics(self) -> Path:
        """The folder of this recording's metrics and plot data (relative to the root)."""
        return METRICS / self.name

    @property
    def figures(self) -> Path:
        """The folder of this recording's figures (relative to the root)."""
        return FIGURES / self.name

    @property
    def models(self) -> Path:
        """The folder of the forecast model trained on this recording (relative to the root)."""
        return MODELS / self.name

    @property
    def forecasts(self) -> Path:
        """The folder of this recording's forecasts and scored targets (relative to the root)."""
        return FORECASTS / self.name


def _recording(name: str, entry: Any) -> Recording:
    if not isinstance(entry, Mapping) or "path" not in entry:
        raise SettingsError(f"params.yaml recordings.{name}: give its path (and dates)")
    try:
        dates = date_range(entry.get("dates") or "")
    except ValueError as exc:
        raise SettingsError(f"params.yaml recordings.{name}.dates: {exc}") from None
    return Recording(name=str(name), path=Path(str(entry["path"])), dates=dates)


def recordings(params: Mapping[str, Any] | None = None) -> dict[str, Recording]:
    """Every recording of params.yaml, by name, in the file's order."""
    params = project.load_params() if params is None else params
    section = params.get(SECTION) or {}
    return {str(name): _recording(str(name), entry) for name, entry in section.items()}


def named(name: str, params: Mapping[str, Any] | None = None) -> Recording:
    """The recording called ``name``; a one-line error naming the known ones otherwise."""
    known = recordings(params)
    if name not in known:
        names = ", ".join(known) or "none"
        raise SettingsError(f"no recording named {name!r} in params.yaml recordings ({names})")
    return known[name]
