"""Parsers of every recorded Vélib' format, on trimmed real payloads (tests/fixtures)."""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import pytest

from pipeline.record import is_placeholder
from pipeline.sources.feeds import GbfsFeed, OpenDataFeed, http_session
from pipeline.sources.recorded import origin_of, read_recorded

FIX = Path(__file__).resolve().parents[2] / "fixtures"


def one(path: Path):
    snaps = list(read_recorded(path))
    assert len(snaps) == 1
    return snaps[0]


def by_code(snap):
    return {r.station_code: r for r in snap.records}


def test_gbfs_2024_joins_information_and_status():
    snap = one(FIX / "gbfs/2024-11-19")
    assert snap.source == "replay:gbfs"
    assert snap.observed_at == datetime(2024, 11, 19, 8, 22, 18, tzinfo=UTC)
    assert len(snap.records) == 20 and snap.rejects == []
    r = by_code(snap)["16107"]
    assert (r.station_id, r.name, r.capacity) == (213688169, "Benjamin Godard - Victor Hugo", 35)
    assert (r.bikes_available, r.mechanical_available, r.ebike_available) == (1, 1, 0)
    assert (r.docks_available, r.is_installed, r.is_renting, r.is_returning) == (
        34,
        True,
        True,
        True,
    )
    assert r.last_reported == datetime.fromtimestamp(1732001704, tz=UTC)
    assert (r.commune, r.arrondissement) == ("Paris", 16)
    # the real oddities are kept, and counted
    raw = json.loads((FIX / "gbfs/2024-11-19/station_status.json").read_text())
    feed = raw["lastUpdatedOther"]
    stale = sum(feed - s["last_reported"] > 86400 for s in raw["data"]["stations"])
    assert stale >= 3 and snap.oddities["stale_last_reported"] == stale
    assert snap.oddities["capacity_zero"] == 3


def test_gbfs_2025_compact_with_opening_hours():
    snap = one(FIX / "gbfs/2025-10-18")
    assert snap.observed_at == datetime.fromtimestamp(1760778556, tz=UTC)
    r = by_code(snap)["16107"]
    assert (r.bikes_available, r.mechanical_available, r.ebike_available) == (5, 1, 4)
    assert all(x.station_id is not None for x in snap.records)
    assert max(x.station_id for x in snap.records) > 2**31  # int64 ids survive


def test_opendata_layout1_gbfs_ids_mapped_derived_and_unmapped_counted():
    snap = one(FIX / "opendata/velib-opendata-2022-05-12T102218Z.csv.gz")
    assert snap.source == "replay:opendata-csv"
    assert snap.observed_at == datetime(2022, 5, 12, 10, 22, 18, tzinfo=UTC)
    assert len(snap.records) == 15 and snap.unmapped_ids == 1
    codes = by_code(snap)
    # in no station_information file: its code comes from station_ids_derived.csv
    assert (codes["12004"].station_id, codes["12004"].name) == (37920, "Traversière - Ledru-Rollin")
    assert (codes["12004"].commune, codes["12004"].arrondissement) == ("Paris", 12)
    assert codes["22009"].station_id == 338853596 and codes["22009"].commune == "Neuilly-sur-Seine"
    # Mairie du 17ème: no coded station within 15 m, keeps its placeholder
    unmapped = codes["id:102290754"]
    assert unmapped.station_id == 102290754 and is_placeholder(unmapped.station_code)
    assert (unmapped.commune, unmapped.arrondissement) == (None, None)
    mapped = [r for r in snap.records if not is_placeholder(r.station_code)]
    assert len(mapped) == 14 and all(r.station_id for r in mapped)
    first = next(r for r in snap.records if r.station_id == 66491371)  # Pierre Sarrazin
    assert first.name == "Pierre Sarrazin - Saint-Michel"
    # naive Europe/Paris 11:19:02 in May is 09:19:02 UTC
    assert first.last_reported == datetime(2022, 5, 12, 9, 19, 2, tzinfo=UTC)
    assert (first.capacity, first.docks_available, first.bikes_available) == (33, 12, 20)
    assert (first.mechanical_available, first.ebike_available) == (17, 3)
    assert first.lat == pytest.approx(48.85090814639774)


@pytest.mark.parametrize(
    "name", ["velib-opendata-2022-05-20T093925Z.csv", "velib-opendata-2022-06-01T145334Z.csv"]
)
def test_opendata_layouts_2_and_3(name):
    snap = one(FIX / "opendata" / name)
    assert len(snap.records) == 12 and snap.rejects == []
    assert all(r.station_id is not None and r.lat and r.lon for r in snap.records)


def test_opendata_layout4_codes_latlon_oui_non_communes():
    snap = one(FIX / "opendata/velib-opendata-2022-06-03T003427Z.csv")
    codes = by_code(snap)
    assert len(snap.records) == 15 and snap.unmapped_ids == 0
    r = codes["8052"]
    assert r.station_id is None and (r.commune, r.arrondissement) == ("Paris", 8)
    assert (r.lat, r.lon) == (pytest.approx(48.872699639621), pytest.approx(2.3001953959465))
    assert r.is_installed and r.is_renting and r.is_returning
    assert (codes["19043"].commune, codes["19043"].arrondissement) == ("Pantin", None)
    assert (codes["12041"].commune, codes["12041"].arrondissement) == ("Saint-Mandé", None)
    assert codes["31024_relais"].arrondissement is None


def test_seed_v1_table_split_into_polls_in_strict_time_order():
    snaps = list(read_recorded(FIX / "seed"))
    assert len(snaps) == 31 and sum(len(s.records) for s in snaps) == 43
    times = [s.observed_at for s in snaps]
    assert times == sorted(times) and len(set(times)) == 31
    r = by_code(snaps[0])["31024"]
    assert (r.commune, r.arrondissement, r.capacity, r.bikes_available) == (
        "Montreuil",
        None,
        38,
        2,
    )
    assert r.last_reported == datetime(2023, 2, 15, 10, 45, 41, tzinfo=UTC)
    assert (r.lat, r.lon) == (48.86785, 2.446748)


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("error-page.json", "HTML"),
        ("truncated-status.json", "truncated or invalid JSON"),
        ("export-is-zip.csv", "zip archive"),
        ("unknown-layout.csv", "unknown CSV layout"),
    ],
)
def test_unreadable_file_is_one_rejection(name, reason):
    snap = one(FIX / "malformed" / name)
    assert snap.records == [] and len(snap.rejects) == 1
    assert reason in snap.rejects[0].reason
    assert snap.rejects[0].origin.endswith(name)


def test_whole_fixture_tree_in_time_order_without_exception():
    snaps = list(read_recorded(FIX))
    times = [s.observed_at for s in snaps]
    assert times == sorted(times)
    # the 4 malformed files and the 2 broken answers of the 5-minute slice
    assert sum(1 for s in snaps if s.rejects and not s.records) == 6


# --- live feeds over real HTTP (recorded payloads served locally) ------------


class _Server:
    def __init__(self, routes, fail_first: int = 0):
        self.routes, self.fail_left, self.hits = routes, fail_first, []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802
                url = urlparse(self.path)
                outer.hits.append(url.path)
                if outer.fail_left > 0:
                    outer.fail_left -= 1
                    self.send_response(503)
                    self.end_headers()
                    return
                body = outer.routes.get(url.path)
                if callable(body):
                    body = body(parse_qs(url.query))
                if body is None:
                    self.send_response(404)
                    self.end_headers()
                    return
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                self.wfile.write(body if isinstance(body, bytes) else body.encode())

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_port}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


def test_gbfs_feed_retries_503_and_joins():
    day = FIX / "gbfs/2024-11-19"
    routes = {
        "/gbfs.json": json.dumps(
            {
                "data": {
                    "fr": {
                        "feeds": [
                            {"name": "station_status", "url": "PLACEHOLDER/status.json"},
                            {"name": "station_information", "url": "PLACEHOLDER/info.json"},
                        ]
                    }
                }
            }
        ),
        "/status.json": (day / "station_status.json").read_bytes(),
        "/info.json": (day / "station_information.json").read_bytes(),
    }
    server = _Server(routes, fail_first=1)
    routes["/gbfs.json"] = routes["/gbfs.json"].replace("PLACEHOLDER", server.url)
    try:
        feed = GbfsFeed(server.url, session=http_session(retries=3, backoff_s=0))
        snap = feed.poll()
        assert snap.source == "gbfs" and len(snap.records) == 20
        assert server.hits[:2] == ["/gbfs.json", "/gbfs.json"]  # 503 then retried
        feed.poll()
        assert server.hits.count("/info.json") == 1  # information not refetched every poll
        assert server.hits.count("/status.json") == 2
    finally:
        server.close()


def test_feed_down_becomes_one_rejection():
    server = _Server({}, fail_first=100)
    try:
        snap = GbfsFeed(server.url, session=http_session(retries=1, backoff_s=0)).poll()
        assert snap.records == [] and "HTTP 503" in snap.rejects[0].reason
    finally:
        server.close()


def test_opendata_feed_paginates_v21_records():
    import csv

    with (FIX / "seed/seed-notebook-2023-02-15.csv").open(encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))[:23]
    rows = list({r["stationcode"]: r for r in rows}.values())
    for r in rows:  # v2.1 shape: coordonnees_geo is an object
        lat, lon = json.loads(r["coordonnees_geo"])
        r["coordonnees_geo"] = {"lat": lat, "lon": lon}

    def page(query):
        limit, offset = int(query["limit"][0]), int(query["offset"][0])
        return json.dumps({"total_count": len(rows), "results": rows[offset : offset + limit]})

    server = _Server({"/ds/records": page})
    try:
        feed = OpenDataFeed(server.url + "/ds", session=http_session(backoff_s=0), page_size=5)
        snap = feed.poll()
        assert len(snap.records) == len(rows) and snap.source == "opendata"
        assert server.hits.count("/ds/records") == -(-len(rows) // 5)
        assert by_code(snap)["31024"].lat == 48.86785
    finally:
        server.close()


def test_a_recorded_file_is_named_relative_to_the_working_folder(tmp_path, monkeypatch):
    """Two clones replaying the same recording write the same poll log (byte-equal DVC outputs)."""
    inside = tmp_path / "data" / "raw" / "velib-opendata-2022-05-12T172037Z.csv.gz"
    inside.parent.mkdir(parents=True)
    inside.write_bytes(b"")
    monkeypatch.chdir(tmp_path)
    assert origin_of(inside) == "data/raw/velib-opendata-2022-05-12T172037Z.csv.gz"
    assert origin_of(Path("data/raw") / inside.name) == origin_of(inside)
    outside = tmp_path.parent / "elsewhere.csv"
    assert origin_of(outside) == str(outside)
