"""``velib forecast live``: forecasts for the next hour each time the live stream closes a window.

Started by ``velib run --live`` as one more supervised stage. It reads the
live stream's Delta tables with deltalake and pyarrow (no Spark), only the last two days of
them; the newest ``window_end`` of ``indicators_area`` is the newest window
the stream has closed. For each new one it forecasts every station from
that instant with :func:`pipeline.forecast.predict.issue` and appends the
rows to ``forecasts/date=YYYY-MM-DD/issued-<UTC>.parquet``: the file name is
the issue time, so a restart never writes an issue time twice. Without a
model file it says so once and waits for one.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pandas as pd

from pipeline.delta.read import arrow_dataset
from pipeline.forecast import bundle, observations, predict, serving
from pipeline.lifecycle import stop_on_signals
from pipeline.research.tables import utc
from pipeline.settings import project
from pipeline.settings.forecast import LiveForecastSettings

log = logging.getLogger(__name__)

DAYS_READ = 2  # date partitions read back: the look-back and the features fit in them


@dataclass
class LiveSummary:
    """What the live forecaster did, for its one line."""

    issued: int = 0
    rows: int = 0
    last: pd.Timestamp | None = None

    def line(self) -> str:
        """One line for the terminal."""
        last = self.last.isoformat() if self.last is not None else "-"
        return f"forecast live: issue_times={self.issued} rows={self.rows} last_issued_at={last}"


def _recent(
    processed: Path, name: str, since: pd.Timestamp | None, columns: list[str]
) -> pd.DataFrame:
    """The rows of a date-partitioned table from ``since``'s UTC date on (all when None)."""
    import pyarrow.dataset as ds

    data = arrow_dataset(processed / name)  # a live run's Delta table, or an export
    if data is None:
        return pd.DataFrame(columns=columns)
    cols = [c for c in columns if c in data.schema.names]
    where = None if since is None else ds.field("date").cast("string") >= f"{since:%Y-%m-%d}"
    table = data.to_table(columns=cols, filter=where)
    frame = table.to_pandas()
    for c in ("observed_at", "window_end"):
        if c in frame:
            frame[c] = utc(frame[c])
    return frame


def newest_window_end(processed: Path) -> pd.Timestamp | None:
    """The end of the newest window the stream has written (None before the first)."""
    ends = _recent(processed, "indicators_area", None, ["window_end"])
    return None if ends.empty else pd.Timestamp(ends["window_end"].max())


def target(out: Path, issued_at: pd.Timestamp) -> Path:
    """The file of one issue time (its name is the idempotency key)."""
    return out / f"date={issued_at:%Y-%m-%d}" / f"issued-{issued_at:%Y%m%dT%H%M%SZ}.parquet"


def forecast_once(
    s: LiveForecastSettings,
    members: list,
    summary: LiveSummary,
    serve: serving.Serving | None = None,
) -> bool:
    """Forecast the newest closed window if not done yet; True when a file was written.

    ``serve`` says where persistence is served instead of the model (none: the model).
    """
    end = newest_window_end(s.processed)
    if end is None or target(s.out, end).exists():
        return False
    member = bundle.member_for(members, end)
    if member is None:
        log.warning("the model's members all start after %s: nothing forecast", end)
        return False
    since = end - timedelta(days=DAYS_READ)
    status = _recent(
        s.processed, "status", since, ["station_code", "observed_at", *observations.STATE]
    )
    polls = _recent(s.processed, "polls", since, ["observed_at", "ok", "listed"])
    if polls.empty:
        stale = pd.Timedelta(project.parse_duration(s.stale_after))
        polls = observations.inferred_polls(status, stale)
    obs = observations.observations(status, polls)
    poll_times = observations.poll_times(obs)["observed_at"]
    rows = predict.issue(obs, poll_times, [end], member, serve=serve)
    if rows.empty:
        return False
    path = target(s.out, end)
    path.parent.mkdir(parents=True, exist_ok=True)
    predict.write(rows, path)
    summary.issued += 1
    summary.rows += len(rows)
    summary.last = end
    log.info("forecast issued at %s: %d rows", end.isoformat(), len(rows))
    return True


def _serving(s: LiveForecastSettings) -> serving.Serving:
    """The serving decision beside the model when evaluate wrote one, else the model everywhere."""
    stale = pd.Timedelta(project.parse_duration(s.stale_after))
    if not s.serving.is_file():
        log.info("no serving decision at %s: the model is served at every horizon", s.serving)
        return serving.Serving(frozenset(), stale)
    return serving.load(s.serving, stale)


def run(s: LiveForecastSettings) -> LiveSummary:
    """Forecast each newly closed window until SIGINT/SIGTERM (or once, with ``s.once``)."""
    summary = LiveSummary()
    members: list = []
    serve: serving.Serving | None = None
    told = False
    with stop_on_signals() as stop:
        while True:
            if not members and s.model.is_file():
                members, _ = bundle.load(s.model)
                log.info("forecasting with %s (%d members)", s.model, len(members))
                serve = _serving(s)
            elif not members and not told:
                log.warning("no model at %s: forecasts idle (run velib forecast train)", s.model)
                told = True
            if members:
                forecast_once(s, members, summary, serve)
            if s.once or stop.wait(s.check_every_s):
                break
    return summary
