"""A trained model as one file: members (rolling-origin cut-offs), each with its climatology.

The file is a ZIP of plain parts a reader can open without this code:
``model.json`` (format, members, features, facts), each booster as
LightGBM's own text model and each climatology as Parquet. Entries have a
fixed order and date, so the same training gives the same bytes (DVC sees an
unchanged output). :func:`member_for` is the rule that keeps evaluation
honest: an issue time uses the newest member whose cut-off is not after it.
"""

from __future__ import annotations

import io
import json
import zipfile
from datetime import date
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from pipeline import durable
from pipeline.forecast.climatology import Climatology
from pipeline.forecast.lgbm import lightgbm
from pipeline.forecast.model import BOOSTERS, Member
from pipeline.settings.declare import BadInput

FORMAT = 1
_DATE = (1980, 1, 1, 0, 0, 0)
_PARTS = ("cell", "hourly", "station")


def _entry(z: zipfile.ZipFile, name: str, data: bytes) -> None:
    info = zipfile.ZipInfo(name, date_time=_DATE)
    info.compress_type = zipfile.ZIP_DEFLATED
    info.external_attr = 0o644 << 16
    z.writestr(info, data)


def _parquet(frame: pd.DataFrame) -> bytes:
    buf = io.BytesIO()
    table = pa.Table.from_pandas(frame.reset_index(), preserve_index=False)
    pq.write_table(table, buf, compression="zstd", write_statistics=False)
    return buf.getvalue()


def save(members: list[Member], path: Path, facts: dict[str, Any]) -> None:
    """Write ``members`` (sorted by cut-off) and the training facts to ``path`` atomically."""
    members = sorted(members, key=lambda m: m.cutoff)
    head = {"format": FORMAT, **facts, "members": []}
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        for i, m in enumerate(members):
            head["members"].append(
                {
                    "cutoff": m.cutoff.isoformat(),
                    "features": m.features,
                    "days": sorted(d.isoformat() for d in m.clim.days),
                    "until": m.clim.until.isoformat(),
                    **m.meta,
                }
            )
            for name in BOOSTERS:
                text = m.boosters[name].model_to_string(num_iteration=-1)
                _entry(z, f"members/{i}/{name}.txt", text.encode())
            for part in _PARTS:
                _entry(
                    z, f"members/{i}/climatology_{part}.parquet", _parquet(getattr(m.clim, part))
                )
        _entry(z, "model.json", json.dumps(head, indent=1, sort_keys=True).encode())
    path.parent.mkdir(parents=True, exist_ok=True)
    durable.write_bytes(path, buf.getvalue())


def load(path: Path) -> tuple[list[Member], dict[str, Any]]:
    """The members of a model file (sorted by cut-off) and its facts."""
    with zipfile.ZipFile(path) as z:
        head = json.loads(z.read("model.json"))
        if head.get("format") != FORMAT:
            raise BadInput(f"{path}: not a forecast model of format {FORMAT}")
        members = []
        for i, info in enumerate(head["members"]):
            frames = {}
            for part in _PARTS:
                frame = pq.read_table(io.BytesIO(z.read(f"members/{i}/climatology_{part}.parquet")))
                keys = {
                    "cell": ["station_code", "daytype", "hour"],
                    "hourly": ["station_code", "hour"],
                }
                frames[part] = frame.to_pandas().set_index(keys.get(part, ["station_code"]))
            clim = Climatology(
                frames["cell"],
                frames["hourly"],
                frames["station"],
                frozenset(date.fromisoformat(d) for d in info["days"]),
                pd.Timestamp(info["until"]),
            )
            boosters = {
                name: lightgbm.Booster(model_str=z.read(f"members/{i}/{name}.txt").decode())
                for name in BOOSTERS
            }
            meta = {
                k: v for k, v in info.items() if k not in ("cutoff", "features", "days", "until")
            }
            members.append(
                Member(pd.Timestamp(info["cutoff"]), list(info["features"]), clim, boosters, meta)
            )
    facts = {k: v for k, v in head.items() if k != "members"}
    return members, facts


def member_for(members: list[Member], issued_at: pd.Timestamp) -> Member | None:
    """The newest member whose cut-off is at or before ``issued_at`` (None: too early)."""
    usable = [m for m in members if m.cutoff <= issued_at]
    return usable[-1] if usable else None
