"""Recorded files for replay: found, sniffed by content and parsed in time order.

Recorded files are recognised by their content, never by their name, and a
file that cannot be parsed at all becomes a snapshot with no records and one
rejection, so replay never stops on a bad file. The formats themselves are
parsed in :mod:`pipeline.sources.parsers`; the live feeds are in :mod:`pipeline.sources.feeds`.

A file's time comes from its name, read as its folder's manifest says
(:mod:`pipeline.sources.manifest`: the collector's clock and zone); the answers
of one folder are then judged in order (:mod:`pipeline.sources.sequence`:
re-reads, a clock going backwards, descriptions left out).
"""

from __future__ import annotations

import csv
import hashlib
import io
import logging
import re
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pipeline.clock import ClockError
from pipeline.settings.declare import MissingInput
from pipeline.sources.archive import is_archive, read_archive
from pipeline.sources.manifest import (
    DEFAULT,
    MANIFEST,
    Manifest,
    ManifestError,
    manifest_of,
)
from pipeline.sources.normalize import (
    DERIVED_STATION_IDS,
    STATION_COMMUNES,
    STATION_IDS,
    Reference,
    default_reference,
)
from pipeline.sources.parsers import (
    COMMUNE_COLUMN,
    EXCERPT_CHARS,
    ID_COLUMN,
    Snapshot,
    SnapshotError,
    failed_snapshot,
    feed_time,
    parse_gbfs,
    parse_opendata_csv,
    parse_opendata_records,
    parse_v1_table,
)
from pipeline.sources.payload import api_rows, content, gbfs_kind, payload_of, read_payload
from pipeline.sources.sequence import AnswerSequence
from pipeline.sources.stationids import (
    CodedStation,
    Derivation,
    gbfs_stations,
    match_ids,
    observe,
    write_derived,
)

__all__ = [
    "Snapshot",
    "SnapshotError",
    "build_reference_tables",
    "parse_gbfs",
    "parse_opendata_csv",
    "parse_opendata_records",
    "parse_v1_table",
    "read_payload",
    "read_recorded",
]

log = logging.getLogger(__name__)

_NAME_TIME = re.compile(r"(\d{4}-\d{2}-\d{2})T(\d{2})(\d{2})(\d{2})Z")


# --- recorded files, read by content -----------------------------------------


def name_time(path: Path) -> datetime | None:
    """The UTC time in a recorded file's name, as its folder's manifest reads it, or None.

    Without a manifest: a UTC time like ``...2022-05-13T024424Z...``.

    Raises:
        ClockError: the name's local time is ambiguous or nonexistent (a DST change).
        ManifestError: the folder's manifest is invalid.
    """
    return manifest_of(path).name_time(path.name)


def origin_of(path: Path) -> str:
    """A recorded file's name as the poll log keeps it: relative to the working folder.

    An absolute path would name the clone a recording was replayed in, so two clones
    of the repository (``dvc repro`` in each) would write different ``polls`` tables.
    """
    try:
        return path.resolve().relative_to(Path.cwd().resolve()).as_posix()
    except ValueError:  # outside the working folder: as given
        return str(path)


def _file_time(path: Path) -> datetime:
    return name_time(path) or datetime.fromtimestamp(path.stat().st_mtime, tz=UTC)


def _read_file(
    path: Path, ref: Reference, at: datetime | None = None
) -> list[Snapshot] | dict[str, Any]:
    """Snapshots of one file; a GBFS file returns {'kind':..., 'payload':...} to be paired.

    ``at`` is the file's time by its recording's manifest; without one, a UTC time
    in the name (or, as before manifests, the file's modification time).
    """
    origin = origin_of(path)
    try:
        data = content(path)
        kind, payload = payload_of(data)
        digest = hashlib.sha256(data).hexdigest()
        if kind == "json":
            gbfs = gbfs_kind(payload)
            if gbfs:
                return {"kind": gbfs, "payload": payload}
            rows = api_rows(payload)
            if rows is None:
                raise SnapshotError("JSON that is neither GBFS stations nor open-data records")
            snap = parse_opendata_records(
                rows,
                origin=origin,
                observed_at=at or _file_time(path),
                ref=ref,
                source="replay:opendata-api",
            )
        else:
            header = payload.split("\n", 1)[0]
            if "stationcode" in header and "numbikesavailable" in header:
                return parse_v1_table(payload, origin=origin, ref=ref)
            when = at or name_time(path)
            snap = parse_opendata_csv(payload, origin=origin, observed_at=when, ref=ref)
        snap.digest = digest
        return [snap]
    except SnapshotError as exc:
        return [failed_snapshot(str(exc), _excerpt(path), origin, at or _file_time(path), "replay")]


def _clock(path: Path, manifest: Manifest) -> tuple[datetime, str | None]:
    """A file's time by its recording's manifest, and why it is refused (a DST-unclear name).

    Raises:
        ManifestError: the name does not carry the recording's clock at all.
    """
    try:
        when = manifest.name_time(path.name)
    except ClockError as exc:
        return exc.at, f"{exc}: the file name cannot say when it was read"
    if when is None:
        raise ManifestError(
            f"{path}: the name does not carry the recording's clock "
            f"{manifest.names!r} of its {MANIFEST}"
        )
    return when, None


def _answer(path: Path, ref: Reference, manifest: Manifest) -> list[Snapshot]:
    """One file of a recording with a manifest: one answer at its name's time.

    A name whose local time is unclear, and content that is not the manifest's
    ``format``, make a failed snapshot (one rejection with the reason).
    """
    at, refused = _clock(path, manifest)
    if refused is None:
        result = _read_file(path, ref, at)
        if isinstance(result, dict):
            refused = f"a GBFS {result['kind']} file where each file is one answer"
        else:
            found = result[0].source.removeprefix("replay:") if result else None
            if manifest.format in (None, found) or found == "replay":  # "replay": unreadable
                return result
            refused = f"content is {found}, its {MANIFEST} says {manifest.format}"
    return [failed_snapshot(refused, _excerpt(path), origin_of(path), at, "replay")]


def _excerpt(path: Path) -> str:
    try:
        data = path.read_bytes()[:EXCERPT_CHARS]
    except OSError:
        return ""
    return data.decode("utf-8", "replace")


def _data_files(path: Path) -> list[Path]:
    if path.is_file():
        return [path]
    return sorted(
        p
        for p in path.rglob("*")
        if p.is_file()
        and not p.name.startswith(".")
        and p.suffix.lower() != ".md"
        and p.name != MANIFEST
    )


def read_recorded(
    path: Path,
    ref: Reference | None = None,
    keep: Callable[[datetime], bool] | None = None,
) -> Iterator[Snapshot]:
    """Every snapshot in a recorded file or folder, any format, in time order.

    An archive of live polls (:mod:`pipeline.sources.archive`) replays poll by poll.

    GBFS status files are joined with the information file of the same folder.
    Open-data CSV files whose name carries their time, and every file of a
    recording with a manifest, are parsed lazily, so a long history does not sit
    in memory; the answers of each folder are judged in order
    (:class:`~pipeline.sources.sequence.AnswerSequence`). Documentation files (``*.md``) and
    dotfiles are skipped; anything else that is not data becomes a failed
    snapshot (one rejection). ``keep`` (a test of the snapshot time) skips the
    others before they are parsed: one week of a long history costs one week.
    """
    ref = ref or default_reference()
    path = Path(path)
    if not path.exists():
        raise MissingInput(f"no such file or folder: {path}")
    if is_archive(path):  # polls kept by `velib ingest --archive`: replayed as they were
        yield from (s for s in read_archive(path, ref) if keep is None or keep(s.observed_at))
        return
    units = _units(path, ref)
    units.sort(key=lambda u: (u[0], u[1]))
    answers: dict[Path, AnswerSequence] = {}  # each folder's answers are judged in order
    for when, _, folder, load in units:
        if keep is None or keep(when):
            if folder not in answers:
                answers[folder] = AnswerSequence(manifest_of(folder).rereads)
            for snap in load():
                yield answers[folder].judge(snap)


Unit = tuple[datetime, int, Path, Callable[[], list[Snapshot]]]  # when, order, folder, load


def _units(path: Path, ref: Reference) -> list[Unit]:
    """Every answer under ``path`` with its time, order and folder, loaded when asked."""
    units: list[Unit] = []
    gbfs: dict[Path, dict[str, list[tuple[Path, Any]]]] = {}
    for order, file in enumerate(_data_files(path)):
        manifest = manifest_of(file)
        if manifest is not DEFAULT:  # one answer per file, at its name's time: parsed lazily
            at, _ = _clock(file, manifest)
            units.append((at, order, file.parent, _answer_later(file, ref, manifest)))
            continue
        when = name_time(file)
        if when is not None and ".csv" in file.name.lower():
            units.append((when, order, file.parent, _later(file, ref)))
            continue
        result = _read_file(file, ref)
        if isinstance(result, dict):
            gbfs.setdefault(file.parent, {}).setdefault(result["kind"], []).append(
                (file, result["payload"])
            )
            continue
        for snap in result:
            units.append((snap.observed_at, order, file.parent, _now(snap)))
    for folder, snap in _gbfs_snapshots(gbfs, ref):
        units.append((snap.observed_at, len(units), folder, _now(snap)))
    return units


def _gbfs_snapshots(
    gbfs: dict[Path, dict[str, list[tuple[Path, Any]]]], ref: Reference
) -> Iterator[tuple[Path, Snapshot]]:
    """Each GBFS status payload of a folder, joined with the folder's information file."""
    for folder, kinds in gbfs.items():
        infos = kinds.get("information", [])
        for status_path, status in kinds.get("status", []):
            info = infos[0][1] if infos else None
            if not infos:
                log.warning("%s: no station_information beside it; names/capacity null", folder)
            yield (
                folder,
                parse_gbfs(
                    info,
                    status,
                    origin=origin_of(status_path),
                    source="replay:gbfs",
                    observed_at=feed_time(status) or _file_time(status_path),
                    ref=ref,
                ),
            )


def _later(file: Path, ref: Reference) -> Callable[[], list[Snapshot]]:
    """A file's snapshots, parsed when asked (a long history is not held in memory)."""
    return lambda: _as_list(_read_file(file, ref))


def _answer_later(file: Path, ref: Reference, manifest: Manifest) -> Callable[[], list[Snapshot]]:
    """One answer of a recording with a manifest, parsed when asked."""
    return lambda: _answer(file, ref, manifest)


def _now(snap: Snapshot) -> Callable[[], list[Snapshot]]:
    """A snapshot already parsed."""
    return lambda: [snap]


def _as_list(result: list[Snapshot] | dict[str, Any]) -> list[Snapshot]:
    return result if isinstance(result, list) else []


# --- reference tables ----------------------------------------------------------


def _csv_texts(data_dir: Path, communes: dict[str, str]) -> Iterator[tuple[str, str, str]]:
    """(name, source label, text) of every recorded CSV file; fills ``communes`` on the way.

    One pass over the files serves both tables: a two-week history is read once.
    """
    for file in sorted(Path(data_dir).rglob("*.csv*")):
        try:
            kind, text = read_payload(file)
        except SnapshotError:
            continue
        if kind != "csv":
            continue
        for row in csv.DictReader(io.StringIO(text)):
            code = row.get(ID_COLUMN) if COMMUNE_COLUMN in row else row.get("stationcode")
            commune = row.get(COMMUNE_COLUMN) or row.get("nom_arrondissement_communes")
            if code and commune:
                communes[code.strip()] = commune.strip()
        day = _NAME_TIME.search(file.name)
        yield file.name, f"opendata:{day.group(1) if day else file.stem}", text


def build_reference_tables(data_dir: Path, out_dir: Path) -> Derivation:
    """Rebuild station_ids.csv, station_communes.csv and station_ids_derived.csv.

    station_ids: every (station_id, stationCode) of the GBFS station_information
    files under ``data_dir``. station_communes: the commune of every station
    code in the open-data files that carry one (``Nom communes équipées``, the
    2022-06-03 layout) and in the v1 table (``nom_arrondissement_communes``); a
    later file wins. station_ids_derived: the ids of the open-data files that no
    station_information file knows, matched to a code by
    :mod:`pipeline.sources.stationids`. Returns that derivation (rows and the ids
    left unmapped).
    """
    ids: dict[int, str] = {}
    coded: list[CodedStation] = []
    for file in sorted(Path(data_dir).rglob("*")):
        if not file.is_file() or file.suffix.lower() == ".md":
            continue
        try:
            kind, payload = read_payload(file)
        except SnapshotError:
            continue
        if kind == "json" and gbfs_kind(payload) == "information":
            for s in payload["data"]["stations"]:
                if isinstance(s.get("station_id"), int) and s.get("stationCode"):
                    ids[s["station_id"]] = str(s["stationCode"])
            coded += gbfs_stations(payload, f"gbfs:{file.parent.name}")
    communes: dict[str, str] = {}
    observations, june = observe(_csv_texts(Path(data_dir), communes))
    derivation = match_ids(observations, [*june, *coded], ids)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    with (out_dir / STATION_IDS).open("w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh, lineterminator="\n")
        writer.writerow(["station_id", "station_code"])
        writer.writerows(sorted(ids.items()))
    with (out_dir / STATION_COMMUNES).open("w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh, lineterminator="\n")
        writer.writerow(["station_code", "commune"])
        writer.writerows(sorted(communes.items()))
    write_derived(derivation, out_dir / DERIVED_STATION_IDS)
    log.info(
        "wrote %d station ids, %d communes, %d derived ids; %d ids stay unmapped",
        len(ids),
        len(communes),
        len(derivation.derived),
        len(derivation.unmapped),
    )
    for u in derivation.unmapped:
        log.info("unmapped %s %r (%d rows): %s", u.station_id, u.name, u.rows, u.reason)
    return derivation


if __name__ == "__main__":  # python -m pipeline.sources.recorded ../shared/data data/reference
    import sys

    logging.basicConfig(level=logging.INFO, format="%(message)s")
    build_reference_tables(Path(sys.argv[1]), Path(sys.argv[2]))
