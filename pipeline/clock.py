"""The project's one clock: UTC inside, Paris dates and hours, microseconds.

Every stored time is a timezone-aware UTC instant (its text form is the
record's: :func:`pipeline.record.format_timestamp`). The local zone matters
more than for display: Paris dates select the snapshots of a recording,
Paris hours and day types are the forecast's features and the research
figures' hours of the day. The zone is one setting (params.yaml
``base.timezone``, :class:`pipeline.settings.clock.ClockSettings`), read once
here; every module that needs a Paris date or hour asks this one.

The stream works in integer microseconds since the epoch (Spark's timestamp
unit): :data:`US` and :data:`FAR_US` are those constants, :func:`to_us` and
:func:`from_us` the conversions. Imports from the project: settings (the zone).
pandas is imported only by the functions that build pandas objects.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from pipeline.settings.clock import ClockSettings

if TYPE_CHECKING:
    from collections.abc import Callable

    import pandas as pd
    from numpy.typing import ArrayLike

PARIS: ZoneInfo = ZoneInfo(ClockSettings.build().timezone)

US = 1_000_000  # microseconds per second: Spark's and Delta's timestamp unit
FAR_US = 2**62  # "no bound" in microseconds (about 146,000 years: past any real time)


def to_us(at: datetime) -> int:
    """An aware instant as integer microseconds since the epoch (exact, no float rounding)."""
    _aware(at)
    delta = at - datetime(1970, 1, 1, tzinfo=UTC)
    return (delta.days * 86_400 + delta.seconds) * US + delta.microseconds


def from_us(us: int) -> datetime:
    """Integer microseconds since the epoch as a UTC instant."""
    seconds, micros = divmod(int(us), US)
    return datetime.fromtimestamp(seconds, tz=UTC).replace(microsecond=micros)


def _aware(at: datetime) -> None:
    if at.tzinfo is None:
        raise ValueError(f"naive datetime {at!r}: times are timezone-aware (UTC inside)")


def paris_time(at: datetime) -> datetime:
    """An aware instant on the Paris wall clock (pandas Timestamps stay Timestamps)."""
    _aware(at)
    return at.astimezone(PARIS)


def paris_date(at: datetime) -> date:
    """The Paris calendar date of an aware instant."""
    return paris_time(at).date()


def paris_midnight(day: date) -> pd.Timestamp:
    """The start of a Paris day, as a UTC instant."""
    import pandas as pd

    return pd.Timestamp(day).tz_localize(PARIS).tz_convert("UTC")


def paris_times(times: pd.Series | pd.DatetimeIndex) -> pd.Series:
    """UTC timestamps on the Paris wall clock; naive input is refused (UTC inside)."""
    import pandas as pd

    series = pd.Series(times)
    if series.dt.tz is None:
        raise ValueError("naive timestamps: UTC expected")
    return series.dt.tz_convert(PARIS)


def local_naive(times: pd.Series | pd.DatetimeIndex) -> pd.Series:
    """UTC timestamps as naive Paris wall-clock times, for plot axes only."""
    return paris_times(times).dt.tz_localize(None)


def per_instant(ts: pd.Series, fn: Callable[[pd.Series], ArrayLike]) -> pd.Series:
    """``fn`` of each distinct instant, spread back to ``ts`` (rows share few times).

    A recording's rows share a few hundred poll times, so converting each
    distinct instant once is what makes a Paris hour of millions of rows cheap.
    """
    import numpy as np
    import pandas as pd

    if ts.dt.tz is None:
        raise ValueError("naive timestamps: UTC expected")
    codes, uniques = pd.factorize(ts, sort=False)
    if (codes < 0).any():
        raise ValueError("missing timestamps (NaT): no Paris hour or day")
    values = np.asarray(fn(pd.Series(uniques)))
    return pd.Series(values[codes] if len(codes) else values[:0], index=ts.index)


def paris_dates(ts: pd.Series) -> pd.Series:
    """The Paris calendar date of each UTC timestamp (``datetime.date`` values)."""
    return per_instant(ts, _dates).astype(object)


def _dates(ts: pd.Series) -> ArrayLike:
    import numpy as np

    local = paris_times(ts).dt.tz_localize(None).to_numpy().astype("datetime64[D]")
    uniq, inverse = np.unique(local, return_inverse=True)
    days = np.array([d.item() for d in uniq] + [None], dtype=object)[:-1]
    return days[inverse.reshape(-1)]


def paris_hour(ts: pd.Series, fractional: bool = False) -> pd.Series:
    """Paris hour of day: an int 0-23, or a float with the minutes when ``fractional``."""
    out = per_instant(ts, lambda u: _hours(u, fractional))
    return out.astype(float) if fractional else out.astype("int8")


def _hours(ts: pd.Series, fractional: bool) -> pd.Series:
    local = paris_times(ts)
    if fractional:
        return local.dt.hour + local.dt.minute / 60.0 + local.dt.second / 3600.0
    return local.dt.hour.astype("int8")


# --- a recording's own clock: local times in its file names --------------------------


class ClockError(ValueError):
    """A local time in a name that no single UTC instant matches (a DST change).

    Attributes:
        at: the earlier of the instants it could be (or the one just before a
            skipped hour): only where the refused file is placed in the replay.
    """

    def __init__(self, message: str, at: datetime) -> None:
        super().__init__(message)
        self.at = at


def local_to_utc(naive: datetime, zone: str) -> datetime:
    """A wall-clock time of ``zone`` as a UTC instant, refusing what DST makes unclear.

    At the end of summer time an hour of wall-clock times happens twice (Paris,
    last Sunday of October: 02:00-02:59 at UTC+2, then again at UTC+1); at its
    start an hour is skipped (last Sunday of March: 02:00-02:59 never happens).
    A name in either hour cannot say which instant it was, so it is refused rather
    than guessed. The one place the recording clock is converted: keep it small.

    Raises:
        ClockError: ``naive`` is ambiguous or does not exist in ``zone``.
    """
    tz = ZoneInfo(zone)
    first, second = naive.replace(tzinfo=tz, fold=0), naive.replace(tzinfo=tz, fold=1)
    before, after = first.utcoffset(), second.utcoffset()
    assert before is not None and after is not None  # a ZoneInfo always has an offset
    if before == after:
        return first.astimezone(UTC)
    at = min(first.astimezone(UTC), second.astimezone(UTC))
    what = "ambiguous (the hour repeated" if before > after else "nonexistent (the hour skipped"
    raise ClockError(f"local time {naive:%Y-%m-%d %H:%M:%S} {zone} is {what} at a DST change)", at)
