"""The faults the real feeds show, injected into the local feed deterministically.

Each request the local feed answers is numbered (1, 2, ...). A
:class:`FaultPlan` fires fault *events* on request numbers, from a schedule
and/or per-request rates drawn from a seeded generator, so the same plan and
the same sequence of requests give the same faults. What each kind looks like
on the wire:

- ``5xx``: a burst of ``burst`` responses 500/502/503/504 with an nginx HTML
  page (the clients retry these with backoff);
- ``429``: a burst of ``burst`` responses 429 with ``Retry-After:
  retry_after_s`` (the clients wait that long, then retry);
- ``slow``: a burst of ``burst`` responses held ``slow_s`` seconds before the
  first byte, longer than the client's timeout (the clients retry the read);
- ``truncated``: one 200 whose JSON body is cut in half (Content-Length
  matches, so only the JSON is broken);
- ``html``: one 200 carrying an nginx 503 HTML page instead of JSON;
- ``info_change``: stations change from then on in every shape: one station
  that was held back from the start is added, one is removed, one is renamed
  (``<name> (renamed)``); the plan holds that station back as soon as it
  contains ``info_change``;
- ``moved``: from then on ``gbfs.json`` lists the feeds under a new base
  (``/moved-N/gbfs``) and the old feed URLs answer 404;
- ``backwards``: the next status (or records) poll is answered from a snapshot
  older than the newest one already served, so ``lastUpdatedOther`` goes back.
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from pipeline.localfeed.shapes import Station, station_key
from pipeline.settings.declare import BadInput

FAULT_KINDS = ("5xx", "429", "slow", "truncated", "html", "info_change", "moved", "backwards")
_BURSTS = ("5xx", "429", "slow")
_SINGLE = ("truncated", "html")


@dataclass(frozen=True)
class FaultPlan:
    """Which faults fire when.

    Attributes:
        rates: kind -> probability that a request fires it (sum at most 1).
        schedule: request number -> kind, fired exactly there.
        seed: seeds the rate draws and the choices (status codes, stations).
        burst: responses a 5xx, 429 or slow event spoils.
        retry_after_s: the 429 ``Retry-After`` value, seconds.
        slow_s: how long a slow response waits before answering.
    """

    rates: Mapping[str, float] = field(default_factory=dict)
    schedule: Mapping[int, str] = field(default_factory=dict)
    seed: int = 0
    burst: int = 2
    retry_after_s: int = 1
    slow_s: float = 25.0

    def __post_init__(self) -> None:
        for kind in [*self.rates, *self.schedule.values()]:
            if kind not in FAULT_KINDS:
                raise BadInput(f"unknown fault {kind!r} (kinds: {', '.join(FAULT_KINDS)})")
        if any(not 0 <= r <= 1 for r in self.rates.values()) or sum(self.rates.values()) > 1:
            raise BadInput("fault rates must be between 0 and 1 and add up to at most 1")
        if any(n < 1 for n in self.schedule):
            raise BadInput("scheduled request numbers start at 1")
        if self.burst < 1 or self.retry_after_s < 0 or self.slow_s <= 0:
            raise BadInput("burst must be >= 1, retry_after_s >= 0 and slow_s > 0")

    @property
    def kinds(self) -> frozenset[str]:
        """Every kind this plan can fire."""
        rated = {k for k, r in self.rates.items() if r > 0}
        return frozenset(rated | set(self.schedule.values()))

    @classmethod
    def one_of_each(
        cls, kinds: Iterable[str] = FAULT_KINDS, *, first: int = 3, every: int = 5, **options: Any
    ) -> FaultPlan:
        """Each kind once, on requests first, first + every, ... (apart, so effects do not mix)."""
        schedule = {first + i * every: kind for i, kind in enumerate(kinds)}
        return cls(schedule=schedule, **options)


def parse_faults(spec: str, *, seed: int = 0, rate: float = 0.05) -> FaultPlan:
    """A plan from the command line's ``--faults`` value.

    ``""``/``none``: no faults; ``each``: one of each kind; ``each:5xx,slow``:
    one of each listed kind; ``5xx,slow``: those kinds at ``rate`` per request
    each; ``5xx=0.1,429=0.02``: explicit rates.

    Raises:
        ValueError: an unknown kind or a bad rate (the message says which).
    """
    spec = spec.strip()
    if spec in ("", "none"):
        return FaultPlan(seed=seed)
    if spec == "each" or spec.startswith("each:"):
        kinds = [k.strip() for k in spec[5:].split(",") if k.strip()] or list(FAULT_KINDS)
        return FaultPlan.one_of_each(kinds, seed=seed)
    rates: dict[str, float] = {}
    for part in spec.split(","):
        kind, _, value = part.partition("=")
        try:
            rates[kind.strip()] = float(value) if value.strip() else rate
        except ValueError:
            raise BadInput(f"bad fault rate {value!r} for {kind.strip()!r}") from None
    return FaultPlan(rates=rates, seed=seed)


@dataclass(frozen=True)
class FaultEvent:
    """A fault that fired: on which request, what kind, what it did."""

    request: int
    kind: str
    detail: str


class Faults:
    """The running state of a plan: bursts in progress, moves, station changes.

    Not thread-safe: the feed server calls it under its own lock, one request
    at a time, which is what makes the sequence of faults reproducible.
    """

    def __init__(self, plan: FaultPlan, first_codes: Iterable[str]) -> None:
        self.plan = plan
        self._draw = random.Random(plan.seed)
        self._pick = random.Random(f"{plan.seed}/pick")
        self.requests = 0
        self._left = dict.fromkeys(_BURSTS + _SINGLE, 0)
        self.generation = 0
        self.backwards_pending = False
        self.events: list[FaultEvent] = []
        codes = sorted(set(first_codes))
        self.held_back = self._pick.choice(codes) if "info_change" in plan.kinds and codes else None
        self.removed: set[str] = set()
        self.renamed: set[str] = set()

    def next_request(self) -> tuple[int, str | None]:
        """Count one request; its number and the kind that fires on it, if any."""
        self.requests += 1
        kind = self.plan.schedule.get(self.requests)
        if self.plan.rates:
            draw = self._draw.random()  # drawn on every request, so the sequence is stable
            total = 0.0
            for candidate in FAULT_KINDS:
                total += self.plan.rates.get(candidate, 0.0)
                if kind is None and draw < total:
                    kind = candidate
        return self.requests, kind

    def fire(self, kind: str, request: int, codes: Iterable[str]) -> FaultEvent:
        """Start a fault; ``codes`` are the stations of the snapshot being served."""
        if kind in _BURSTS:
            self._left[kind] += self.plan.burst
            detail = f"{self.plan.burst} responses"
        elif kind in _SINGLE:
            self._left[kind] += 1
            detail = "1 response"
        elif kind == "moved":
            self.generation += 1
            detail = f"GBFS feeds now under {self.base('/gbfs')}"
        elif kind == "backwards":
            self.backwards_pending = True
            detail = "the next status/records poll comes from an older snapshot"
        else:
            detail = self._change_stations(codes)
        event = FaultEvent(request, kind, detail)
        self.events.append(event)
        return event

    def _change_stations(self, codes: Iterable[str]) -> str:
        added, self.held_back = self.held_back, None
        pool = sorted(set(codes) - self.removed - self.renamed - {added})
        removed = self._pick.choice(pool) if pool else None
        if removed is not None:
            self.removed.add(removed)
            pool.remove(removed)
        renamed = self._pick.choice(pool) if pool else None
        if renamed is not None:
            self.renamed.add(renamed)
        return f"added={added} removed={removed} renamed={renamed}"

    def transient(self) -> str | None:
        """The per-response fault in force now, if any (uses up one response of it)."""
        for kind in (*_BURSTS, *_SINGLE):
            if self._left[kind] > 0:
                self._left[kind] -= 1
                return kind
        return None

    def status_code(self) -> int:
        """A 5xx status, as gateways in front of the real feeds answer them."""
        return self._pick.choice((500, 502, 503, 504))

    def base(self, prefix: str) -> str:
        """Where the GBFS feeds live now (``prefix`` until the first move)."""
        return prefix if not self.generation else f"/moved-{self.generation}{prefix}"

    def tags(self) -> list[str]:
        """``['info_change']`` while served stations differ from the recording."""
        return ["info_change"] if self.held_back or self.removed or self.renamed else []

    def alter(self, stations: list[Station]) -> list[Station]:
        """A new list of the stations as served now (shared dicts are never changed)."""
        if not self.tags():
            return list(stations)
        out: list[Station] = []
        for station in stations:
            if not isinstance(station, Mapping):
                out.append(station)
                continue
            key = station_key(station)
            if key == self.held_back or key in self.removed:
                continue
            if key in self.renamed and "name" in station:
                station = {**station, "name": f"{station['name']} (renamed)"}
            out.append(station)
        return out
