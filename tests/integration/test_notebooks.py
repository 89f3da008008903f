"""Every analysis notebook on real stream output: figures as a reader sees them, quiet runs.

The input is one real stream run (``stream_slice``: Kafka, capture, Spark on
eight recorded snapshots, Thursday evening and Saturday morning, with their
poll log). Each
notebook is executed twice: cell by cell in this process, so the test can
look at the matplotlib figures it drew (axes, limits, labels, series, what a
legend covers), and through ``analysis/run_notebook.py`` (papermill), as DVC
runs it, which must write the same bytes and print no noise.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import jupytext  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pyarrow as pa  # noqa: E402
import pyarrow.parquet as pq  # noqa: E402
import pytest  # noqa: E402
import yaml  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import figcheck  # noqa: E402

from pipeline.record import is_placeholder  # noqa: E402
from pipeline.research import (  # noqa: E402
    figures,
    maps,
    observation,
    tables,
)

pytestmark = [pytest.mark.integration, pytest.mark.spark]

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS = {
    "01-availability-over-time": (
        ["network_bikes", "occupancy_per_area"],
        ["availability.json", "availability_network.csv"],
    ),
    "02-occupancy-heatmap": (
        ["occupancy_heatmap"],
        ["occupancy_heatmap.json", "occupancy_by_hour.csv"],
    ),
    "03-station-map": (
        ["station_map", "arrondissement_choropleth"],
        ["station_map.json", "station_map.csv"],
    ),
    "04-empty-full-hotspots": (
        ["station_hotspots", "arrondissement_hotspots"],
        ["hotspots.json", "hotspots_stations.csv"],
    ),
    "05-data-quality": (["data_quality", "observation"], ["data_quality.json", "observation.json"]),
    "06-empty-full-episodes": (
        ["episode_durations", "episodes_per_arrondissement", "episodes_by_hour"],
        ["episodes.json", "episodes_by_hour.json", "episodes_by_hour.csv"],
    ),
    "07-forecast": (
        ["forecast_skill", "reliability", "by_hour", "by_arrondissement", "resolution"],
        [],
    ),
}


def copy_processed(source: Path, dest: Path) -> Path:
    """A writable copy of a processed root, without the stream's checkpoints."""
    shutil.copytree(source, dest, ignore=shutil.ignore_patterns("_checkpoints"))
    return dest


def make_project(root: Path, processed: Path) -> Path:
    """A project folder (params.yaml, a dvc.yaml marking the root) around a processed copy."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "params.yaml").write_text((ROOT / "params.yaml").read_text())
    (root / "dvc.yaml").write_text("stages: {}\n")
    copy_processed(processed, root / "data" / "processed")
    return root


def execute_inline(root: Path, name: str) -> dict[str, plt.Figure]:
    """Run a notebook's code cells here, in order, in ``root``; its figures by file stem."""
    notebook = jupytext.read(ROOT / "analysis" / f"{name}.py")
    plt.close("all")
    namespace: dict = {"__name__": f"notebook_{name.replace('-', '_')}"}
    here = Path.cwd()
    os.chdir(root)
    try:
        for cell in notebook.cells:
            if cell.cell_type == "code":
                exec(compile(cell.source, f"{name}.py", "exec"), namespace)  # noqa: S102
            if "parameters" in cell.metadata.get("tags", []):  # as papermill injects them
                analysis = project_params(root).get("analysis", {})
                namespace.update({k: v for k, v in analysis.items() if k in namespace})
    finally:
        os.chdir(here)
    return {plt.figure(n).get_label(): plt.figure(n) for n in plt.get_fignums()}


def outputs(root: Path, name: str) -> dict[Path, bytes]:
    figs, mets = NOTEBOOKS[name]
    paths = [root / "reports" / "figures" / name / f"{f}.png" for f in figs]
    paths += [root / "reports" / "metrics" / m for m in mets]
    return {p: p.read_bytes() for p in paths}


@pytest.fixture(scope="module")
def project(stream_slice, tmp_path_factory) -> Path:
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from test_forecast import forecast_outputs

    root = make_project(tmp_path_factory.mktemp("nbproject"), stream_slice)
    # The slice polls each hour once: at the project's min_polls every heatmap cell would
    # be hatched and no value left to check; one poll is enough here (the hatch itself:
    # tests/unit/research/test_heatmaps.py).
    params = project_params(root)
    params["analysis"]["min_polls"] = 1
    (root / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    forecast_outputs(root / "data" / "processed", root)  # what notebook 07 draws
    return root


@pytest.fixture(scope="module")
def drawn(project) -> dict[str, dict[str, plt.Figure]]:
    """Every notebook executed in process once: figures per notebook, outputs kept."""
    result = {name: execute_inline(project, name) for name in NOTEBOOKS}
    plt.close("all")  # the figures stay usable; pyplot just forgets them
    return result


def metrics(root: Path, name: str) -> dict:
    return json.loads((root / "reports" / "metrics" / name).read_text())


def project_params(root: Path) -> dict:
    return yaml.safe_load((root / "params.yaml").read_text())


def polls_of(project: Path) -> pd.DataFrame:
    return tables.read_table(project / "data" / "processed", "polls")


def polls_in_windows(project: Path) -> pd.Series:
    """The slice's ok poll times inside the written windows (the last open one is not)."""
    area = tables.read_table(project / "data" / "processed", "indicators_area")
    times = observation.poll_times(polls_of(project))
    return times[times < area["window_end"].max()]


def observed_hours(project: Path) -> set[tuple[str, int]]:
    """(Paris date as the heatmap labels it, Paris hour) of every poll in the windows."""
    times = polls_in_windows(project).dt.tz_convert("Europe/Paris")
    return set(zip(times.dt.strftime("%a %d %b"), times.dt.hour, strict=True))


def caption(fig: plt.Figure) -> str:
    found = figcheck.by_gid(fig, figures.CAPTION_GID)
    assert found, f"{fig.get_label()}: no caption"
    return found[0].get_text().replace("\n", " ")


# --- every figure, as a reader sees it ------------------------------------------------


@pytest.mark.parametrize("name", sorted(NOTEBOOKS))
def test_figures_are_whole_labelled_and_attributed(drawn, project, name):
    resolution = observation.resolution(polls_of(project))
    figs = drawn[name]
    assert sorted(figs) == sorted(NOTEBOOKS[name][0])
    for label, fig in figs.items():
        assert figcheck.texts_outside(fig) == [], f"{label}: text cut by the canvas edge"
        assert figcheck.empty_axes(fig) == [], f"{label}: an axes frame with no data"
        assert figcheck.blank_bands(fig) == [], f"{label}: a map shrunk inside its box"
        # JupyterLab shows figures saved with bbox_inches="tight", shrunk to its column
        assert fig.get_figwidth() <= figures.MAX_WIDTH_IN, f"{label}: wider than a notebook"
        assert figcheck.cut_by_tight_bbox(fig) == [], f"{label}: cut in JupyterLab"
        found = figcheck.by_gid(fig, figures.CAPTION_GID)
        assert figcheck.broken_dates(found[0].get_text()) == [], f"{label}: a date broken"
        text = caption(fig)
        assert maps.ATTRIBUTION in text and "(Paris time)" in text, text
        # the period covered: the slice, or for 07 its held-out day (the 14th)
        period = ["14 May 2022"] if name == "07-forecast" else ["12 May 2022", "14 May 2022"]
        assert all(day in text for day in period), text
        assert resolution.text() in text, f"{label}: the resolution is not stated: {text}"
    for stem in NOTEBOOKS[name][0]:
        png = project / "reports" / "figures" / name / f"{stem}.png"
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    for file in NOTEBOOKS[name][1]:  # every metrics file states the resolution too
        if file.endswith(".json"):
            found = metrics(project, file)
            assert found["poll_gap_median_minutes"] == round(resolution.gap_median_minutes, 4)
            assert len(found) <= 8, f"{file}: dvc metrics show stays a few keys wide"


def test_availability_series_show_their_coverage_and_gaps(drawn, project):
    fig = drawn["01-availability-over-time"]["network_bikes"]
    top, bottom = fig.axes[0], fig.axes[1]
    assert [ln.get_label() for ln in figcheck.lines(top)] == ["all bikes", "mechanical", "e-bike"]
    coverage = figcheck.by_gid(fig, figures.COVERAGE_GID)
    assert len(coverage) == 1 and coverage[0].axes is bottom
    (threshold,) = figcheck.by_gid(fig, figures.THRESHOLD_GID)
    assert threshold.get_ydata()[0] == pytest.approx(50)
    # Friday is not in the data: a shaded gap, and the lines are broken there, not joined.
    spans = figcheck.by_gid(fig, figures.NO_DATA_GID)
    assert spans, "no shaded no-data span over the missing Friday"
    bikes = pd.Series(figcheck.lines(top)[0].get_ydata())
    assert bikes.isna().sum() > 24 * 4, "the day-long gap must stay NaN"
    # Per-station values on a fitted scale, not totals from 0.
    low, high = top.get_ylim()
    assert 0 < low <= bikes.min() <= bikes.max() <= high < 20
    (line,) = figcheck.by_gid(fig, figures.THRESHOLD_GID)
    (label,) = figcheck.by_gid(fig, figures.THRESHOLD_LABEL_GID)
    assert not figcheck.crossed_by(label, line), "the 50 % line runs through its own label"
    csv = pd.read_csv(project / "reports/metrics/availability_network.csv")
    paris = pd.to_datetime(csv["local_time"])  # wall clock, the x of the Vega chart
    assert paris.iloc[0].date() == pd.Timestamp("2022-05-12").date()
    utc = pd.to_datetime(csv["window_start"], utc=True)
    assert (utc.diff().dropna() == pd.Timedelta(minutes=15)).all()
    assert ((paris - utc.dt.tz_localize(None)) == pd.Timedelta(hours=2)).all()  # CEST
    hidden = csv["bikes_per_station"].isna()
    assert hidden.any() and (csv.loc[hidden, "stations_known"] < 0.5 * 1414).all()
    assert (csv.loc[~hidden, "stations_known"] >= 0.5 * 1414).all()
    # one panel per commune on one scale, each with its own coverage strip: nothing overplotted
    areas = drawn["01-availability-over-time"]["occupancy_per_area"]
    panels = [ax for ax in areas.axes if ax.get_title(loc="left")]
    cov = figcheck.by_gid(areas, figures.COVERAGE_GID)
    assert 2 <= len(panels) == len(cov) <= 6
    assert panels[0].get_title(loc="left").startswith("Paris (")
    assert len({ax.get_ylim() for ax in panels}) == 1, "one scale for every commune"
    assert all(len(figcheck.lines(ax)) == 2 for ax in panels), "the commune, Paris behind it"
    assert "grey line: Paris" in caption(areas)
    assert figcheck.texts_outside(areas) == [] and figcheck.empty_axes(areas) == []
    found = metrics(project, "availability.json")
    assert found.keys() == {
        "bikes_per_station",
        "ebike_share",
        "occupancy",
        "stations",
        "windows_drawn_share",
        "windows_drawn_observed_share",
        "poll_gap_median_minutes",
    }
    assert 0 < found["windows_drawn_observed_share"] < 0.5  # most windows are carried forward
    # a tick per poll at the foot of the coverage panel; the CSV says which windows had one
    (ticks,) = figcheck.by_gid(fig, figures.POLLS_GID)
    assert len(ticks.get_segments()) == 8
    in_windows = len(polls_in_windows(project))
    assert in_windows >= 7 and csv["polls"].sum() == in_windows == (csv["polls"] > 0).sum()


def test_heatmap_is_hour_by_date_with_a_fitted_scale(drawn, project):
    fig = drawn["02-occupancy-heatmap"]["occupancy_heatmap"]
    (image,) = figcheck.images(fig)
    ax = image.axes
    rows = [t.get_text() for t in ax.get_yticklabels()]
    assert rows == ["Thu 12 May", "Fri 13 May", "Sat 14 May"]
    data = image.get_array()
    assert data[1].mask.all(), "Friday has no data: its row must stay empty"
    low, high = image.get_clim()
    assert low > 0 and high < 100 and high - low <= 20, (low, high)
    assert low <= data.min() and data.max() <= high
    assert "Thu 12 May" in caption(fig) and "Sat 14 May" in caption(fig)
    assert "weekdays" not in caption(fig)
    found = metrics(project, "occupancy_heatmap.json")
    assert found["layout"] == "date"
    # Only hours a poll observed have a value: none carried forward from an earlier poll
    # (the old rule drew Thursday 22h-23h and Saturday 13h-14h from the last poll's state).
    polled = observed_hours(project)
    in_windows = polls_in_windows(project)
    local = in_windows.dt.tz_convert("Europe/Paris")
    per_cell = Counter(zip(local.dt.strftime("%a %d %b"), local.dt.hour, strict=True))
    # a cell resting on fewer than min_polls polls is hatched, with no value and no colour
    minimum = project_params(project)["analysis"]["min_polls"]
    drawn = ~np.ma.getmaskarray(data)
    cells = {(rows[i], j) for i, j in zip(*np.nonzero(drawn), strict=True)}
    assert cells == {c for c in polled if per_cell[c] >= minimum}, (sorted(cells), sorted(polled))
    hatched = {
        (rows[round(p.get_y() + 0.5)], round(p.get_x() + 0.5))
        for p in figcheck.by_gid(fig, figures.THIN_GID)
    }
    assert hatched == {c for c in polled if per_cell[c] < minimum}
    assert f"fewer than {minimum} polls" in caption(fig)
    assert found["cells_observed"] == len(polled)
    day, hour = found["occupancy_max_at"].rsplit(" ", 1)
    assert (day, int(hour[:2])) in cells, "the headline cell must be an observed, drawn one"
    # each value says how many polls are behind it, in text a reader can read
    notes = [t.get_text() for t in ax.texts if t.get_text().endswith("p")]
    assert len(notes) == len(cells)
    assert sum(int(n[:-1]) for n in notes) == sum(per_cell[c] for c in cells)
    assert min(t.get_fontsize() for t in ax.texts) >= 7
    has = np.array([[(r, h) in polled for h in range(24)] for r in rows])
    by_hour = pd.read_csv(project / "reports/metrics/occupancy_by_hour.csv")
    assert list(by_hour["hour"]) == list(range(24))
    # Thursday and Friday are weekdays, Saturday the weekend: counted and drawn apart
    assert by_hour["weekday_days"].tolist() == (has[0] + has[1]).astype(int).tolist()
    assert by_hour["weekend_days"].tolist() == has[2].astype(int).tolist()
    assert (by_hour["weekday_occupancy"].isna() == ~(has[0] | has[1])).all()
    assert (by_hour["weekend_occupancy"].isna() == ~has[2]).all()
    weekend = in_windows.dt.tz_convert("Europe/Paris").dt.dayofweek >= 5
    assert by_hour["weekday_polls"].sum() == 5 == (~weekend).sum()
    assert by_hour["weekend_polls"].sum() == weekend.sum()
    assert (by_hour.loc[by_hour["weekday_polls"] == 0, "weekday_occupancy"].isna()).all()


def test_maps_draw_paris_stations_and_arrondissements_with_zero_visible(drawn, project):
    figs = drawn["03-station-map"]
    maps_axes = [ax for ax in figs["station_map"].axes if ax.get_label() != "<colorbar>"]
    assert len(maps_axes) == 2
    for ax in maps_axes:
        (boundaries,) = [c for c in ax.collections if c.get_gid() == maps.BOUNDARIES_GID]
        assert len(boundaries.get_paths()) == 20
        labels = [t for t in ax.texts if t.get_gid() == maps.LABELS_GID]
        assert len(labels) == 20
        (points,) = [c for c in ax.collections if c.get_gid() == maps.STATIONS_GID]
        (unmapped,) = [c for c in ax.collections if c.get_gid() == maps.PLACEHOLDER_GID]
        # every station of the slice with a station code has a value; the others are crosses
        assert len(points.get_offsets()) + len(unmapped.get_offsets()) >= 1400
        assert all(t.get_zorder() > points.get_zorder() for t in labels), "labels on top"
        r, g, b, _ = points.cmap(points.norm(0.0))
        assert 0.2126 * r + 0.7152 * g + 0.0722 * b < 0.5, "0 % must not be white on white"
        assert points.norm.vmin == 0 and ax.get_aspect() == 1.0 and "km" in ax.get_ylabel()
    # the empty-share cap is the constant, stated on its colour bar, whatever the data
    empty = [c for c in maps_axes[1].collections if c.get_gid() == maps.STATIONS_GID][0]
    assert empty.norm.vmax == maps.EMPTY_SHARE_CAP * 100
    assert f"0-{maps.EMPTY_SHARE_CAP * 100:.0f} %" in empty.colorbar.ax.get_ylabel()
    table = pd.read_csv(project / "reports/metrics/station_map.csv", dtype={"station_code": str})
    unmapped_codes = table["station_code"].map(is_placeholder)
    assert unmapped_codes.any() and (table["code_known"] == ~unmapped_codes).all()
    assert len(unmapped.get_offsets()) == int(unmapped_codes.sum())
    shown = metrics(project, "station_map.json")["stations_in_paris_frame"]
    assert 959 <= shown < 1414  # all of Paris and the nearest suburbs
    choropleth = [
        ax for ax in figs["arrondissement_choropleth"].axes if ax.get_label() != "<colorbar>"
    ]
    norms = set()
    for ax in choropleth:
        (fills,) = [c for c in ax.collections if c.get_gid() == maps.CHOROPLETH_GID]
        values = fills.get_array()
        assert len(fills.get_paths()) == 20 and len(values) == 20
        norms.add((fills.norm.vmin, fills.norm.vmax))
        printed = [t.get_text() for t in ax.texts if t.get_gid() == maps.VALUES_GID]
        assert sorted(printed) == sorted(f"{v:.1f} %" for v in values)
    # empty and full compared on one fixed scale from 0, with one colour bar that says so
    assert norms == {(0, maps.AREA_SHARE_MAX * 100)}
    bars = [ax for ax in figs["arrondissement_choropleth"].axes if ax.get_label() == "<colorbar>"]
    assert len(bars) == 1 and "one scale for both maps" in bars[0].get_ylabel()


def test_hotspots_rank_known_stations_with_n_and_an_interval(drawn, project):
    figs = drawn["04-empty-full-hotspots"]
    stations = pd.read_csv(project / "reports/metrics/hotspots_stations.csv", dtype=str)
    communes = stations["commune"].fillna("commune unknown")
    polls = stations["polls_seen"].astype(int)
    names = {
        f"{c} {n} ({m}), n = {p} polls"
        for c, n, m, p in zip(stations.station_code, stations.name, communes, polls, strict=True)
    }
    # shares over observed windows: n is the polls that listed the station, at most 8
    assert polls.between(1, 8).all()
    assert (stations["hours_observed"].astype(float) <= stations["hours_known"].astype(float)).all()
    assert "observed windows" in caption(figs["station_hotspots"])
    for ax, short in zip(figs["station_hotspots"].axes, ("empty", "full"), strict=True):
        labels = [
            t.get_text().replace("\n", " ").replace("\u00a0", " ") for t in ax.get_yticklabels()
        ]
        assert len(labels) == 15
        assert set(labels) <= names, set(labels) - names
        assert not [label for label in labels if is_placeholder(label.split()[0])]
        (bars,) = [c for c in ax.collections if len(c.get_segments()) == 15]  # the intervals
        lows = [min(seg[:, 0]) for seg in bars.get_segments()]
        assert lows == sorted(lows, reverse=True), "ranked by the interval's lower end"
        ranked = stations[stations[f"{short}_rank"].notna()]
        assert not ranked["station_code"].map(is_placeholder).any()
        assert (ranked["hours_known"].astype(float) >= 6).all()
        low, share, high = (ranked[f"{short}_{k}"].astype(float) for k in ("low", "share", "high"))
        assert ((low <= share) & (share <= high) & (high - low > 0)).all()
    ax = figs["arrondissement_hotspots"].axes[0]
    assert len(figcheck.bars(ax)) >= 2 * 18
    assert figcheck.legend_covers(ax, figcheck.bars(ax)) == []
    ticks = [t.get_text().split("\n") for t in ax.get_xticklabels()]
    assert [t[0] for t in ticks][:2] == ["1er", "2e"] and all(t[1].isdigit() for t in ticks)
    assert sum(int(t[1]) for t in ticks) > 900  # n of stations under each arrondissement
    errors = [c for c in ax.collections if len(c.get_segments()) == 20]
    assert len(errors) == 2, "a 95 % interval on every bar"


def test_data_quality_says_none_rejected_or_shows_the_reasons(
    drawn, project, tmp_path, stream_slice
):
    fig = drawn["05-data-quality"]["data_quality"]
    titles = {ax.get_title().split("\n")[0]: ax for ax in fig.axes}
    # nothing rejected: no empty panel, the caption says so; no age of last_reported
    # (the feed re-stamps it), no blank frame
    assert "Records rejected by the stream stage" not in titles
    assert "none rejected" in caption(fig)
    assert not any("last report" in t.lower() for t in titles)
    assert figcheck.empty_axes(fig) == [] and figcheck.texts_outside(fig) == []
    found = metrics(project, "data_quality.json")
    assert "stale_report_share" not in found
    assert found["unmapped_id_status_rows"] > 0 and 0 < found["unmapped_id_stations"] < 100
    unmapped = titles["Without a station code"]
    assert any(
        t.get_text().endswith(f" {found['unmapped_id_stations']} of 1414") for t in unmapped.texts
    )
    widest = max(b.get_width() for b in figcheck.bars(unmapped))
    assert widest < unmapped.get_xlim()[1] <= 2 * widest, "the axis fits the bars"
    stale = metrics(project, "observation.json")["stale_alerts"]
    if stale:  # stale has the stream's meaning (stream.stale_after), drawn when it happened
        assert any(t.startswith("Stations gone stale (stream.stale_after") for t in titles)
    else:
        assert "no station went stale (stream.stale_after" in caption(fig)
    # the observation process: polls per day and hour, gaps, stations per poll
    seen = drawn["05-data-quality"]["observation"]
    days, hours, gaps, over_time = seen.axes[:4]
    assert sum(b.get_height() for b in figcheck.bars(days)) == 8
    assert [t.get_text() for t in days.get_xticklabels()] == ["Thu 12 May", "Sat 14 May"]
    assert sum(b.get_height() for b in figcheck.bars(hours)) == 8
    assert sum(b.get_height() for b in figcheck.bars(gaps)) == 7  # 8 polls, 7 gaps
    (listed,) = figcheck.lines(over_time)
    assert len(listed.get_ydata()) == 8 and min(listed.get_ydata()) > 1300
    polled = metrics(project, "observation.json")
    assert polled["polls"] == 8 and polled["failed_polls"] == 0
    assert polled["stations_per_poll_median"] > 1300 and polled["poll_gap_max_minutes"] > 600
    # The same notebook on output with two rejected values draws one bar per reason.
    root = make_project(tmp_path / "p", stream_slice)
    rejected = pa.table(
        {
            "value": ['{"station_code": "16107", "bikes_available": -1}', "not json"],
            "reason": ["invalid: bikes_available < 0", "unparseable JSON"],
            "partition": pa.array([0, 0], pa.int32()),
            "offset": pa.array([7, 8], pa.int64()),
            "date": ["2022-05-12", "2022-05-12"],
        }
    )
    pq.write_to_dataset(rejected, root / "data/processed/_rejected", partition_cols=["date"])
    fig = execute_inline(root, "05-data-quality")["data_quality"]
    (panel,) = [ax for ax in fig.axes if ax.get_title().startswith("Records rejected")]
    assert len(figcheck.bars(panel)) == 2
    assert {t.get_text() for t in panel.get_yticklabels()} == {"invalid", "unparseable JSON"}
    assert metrics(root, "data_quality.json")["rejected_topic_records"] == 2
    plt.close("all")


def test_episode_figures(drawn, project):
    figs = drawn["06-empty-full-episodes"]
    durations = figs["episode_durations"]
    assert [ax.get_title() for ax in durations.axes] == ["Empty episodes", "Full episodes"]
    bands = [c for ax in durations.axes for c in ax.collections]
    assert len(bands) == 2, "one band between the bounds per condition"
    boxes = figs["episodes_per_arrondissement"].axes[0]
    ticks = [t.get_text().split("\n") for t in boxes.get_xticklabels()]
    counts = [tuple(int(n) for n in t[1].split("/")) for t in ticks]
    assert len(counts) == 20 and sum(e + f for e, f in counts) > 0  # n under every box
    # "the median lies in [lo, hi]" is a range with a cap at each end, not a bar from 0;
    # one resting on fewer than min_episodes episodes is not drawn but hatched
    assert figcheck.bars(boxes) == []
    minimum = project_params(project)["analysis"]["min_episodes"]
    ranges = sum(n >= minimum for pair in counts for n in pair)
    caps = [ln for ln in figcheck.lines(boxes) if ln.get_marker() == "_"]
    assert sum(len(ln.get_ydata()) for ln in caps) == 2 * ranges
    thin = sum(0 < n < minimum for pair in counts for n in pair)
    hatched = figcheck.by_gid(figs["episodes_per_arrondissement"], figures.THIN_GID)
    assert len(hatched) == thin
    if thin:
        assert f"fewer than {minimum} episodes" in caption(figs["episodes_per_arrondissement"])
    by_hour = figs["episodes_by_hour"]
    rates, lengths, polls, gaps = by_hour.axes[:4]
    assert len(polls.get_xticks()) == 24
    assert [b.get_height() for b in figcheck.bars(polls)] == observation.polls_per_hour(
        polls_of(project)
    ).tolist()
    assert sum(b.get_height() for b in figcheck.bars(gaps)) == 7
    assert figcheck.by_gid(by_hour, figures.NO_DATA_GID), "hours never observed are shaded"
    found = metrics(project, "episodes.json")
    assert found["empty_episodes"] > 0 and 0 < found["censored_share"] < 1
    # lengths are bounds: the low one under the high one
    for condition in ("empty", "full"):
        low, high = (
            found[f"{condition}_median_minutes_low"],
            found[f"{condition}_median_minutes_high"],
        )
        assert low is not None and high is not None and 0 <= low <= high, (low, high)
    assert set(metrics(project, "episodes_by_hour.json")) - {"poll_gap_median_minutes"} == {
        f"r_polls_vs_{rule}_{c}"
        for rule in ("per_day", "per_station_hour", "per_station_hour_typical_gaps")
        for c in ("empty", "full")
    }
    table = pd.read_csv(project / "reports/metrics/episodes_by_hour.csv")
    unobserved = table["observed_station_hours"] == 0
    assert unobserved.any() and (~unobserved).any()
    for condition in ("empty", "full"):  # an hour never under observation has no rate, not 0
        rate = table[f"{condition}_per_1000_station_hours"]
        assert rate[unobserved].isna().all() and rate[~unobserved].notna().all()
        assert (
            table[f"{condition}_median_minutes_low"].fillna(0)
            <= table[f"{condition}_median_minutes_high"].fillna(np.inf)
        ).all()
    assert table["polls"].sum() == 8
    # every rate with its 95 % interval; an hour under observation too little is hatched
    minimum = project_params(project)["analysis"]["min_station_hours"]
    for condition in ("empty", "full"):
        rate = table[f"{condition}_per_1000_station_hours"]
        low = table[f"{condition}_per_1000_station_hours_low"]
        high = table[f"{condition}_per_1000_station_hours_high"]
        assert ((low <= rate) & (rate < high))[~unobserved].all()
        assert low[unobserved].isna().all() and high[unobserved].isna().all()
    thin = ~unobserved & (table["observed_station_hours"] < minimum)
    hatched = figcheck.by_gid(by_hour, figures.THIN_GID)
    assert len(hatched) == 2 * int(thin.sum()), "rates and lengths hatched in a thin hour"
    assert f"less than {minimum:,} station-hours" in caption(by_hour) or not thin.any()
    (n_axis,) = rates.child_axes
    shown = [t.get_text() for t in n_axis.get_xticklabels()]
    assert shown == [figures.compact_count(v) for v in table["observed_station_hours"]]


def test_forecast_reliability_is_one_horizon_with_its_counts_and_hours_say_their_n(drawn):
    figs = drawn["07-forecast"]
    reliability = figs["reliability"]
    curves = [ax for ax in reliability.axes if ax.get_title()]
    counts = [ax for ax in reliability.axes if not ax.get_title()]
    horizon = curves[0].get_title().split(" at +")[1].split(" min")[0]
    assert [ax.get_title().split("\n")[0] for ax in curves] == [
        f"P(empty) at +{horizon} min",
        f"P(full) at +{horizon} min",
    ], "the Brier skill in the title is that horizon's, and so are the curves"
    assert f"+{horizon} min only" in caption(reliability)
    assert len(counts) == 2 and all(ax.get_yscale() == "log" for ax in counts)
    assert all(figcheck.bars(ax) for ax in counts), "a count per bin"
    by_hour = figs["by_hour"]
    (n_axis,) = by_hour.axes[0].child_axes
    labels = [t.get_text() for t in n_axis.get_xticklabels()]
    assert len(labels) == 24 and any(labels), "n above each hour"


# --- as DVC runs them -------------------------------------------------------------------


def run_notebook(root: Path, name: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    return subprocess.run(
        [
            sys.executable,
            str(ROOT / "analysis" / "run_notebook.py"),
            str(ROOT / f"analysis/{name}.py"),
        ],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_papermill_runs_are_quiet_and_byte_identical(drawn, project):
    noise = ("PosixPath(", "np.float64(", "np.int64(", "without encryption")
    for name in sorted(NOTEBOOKS):
        before = outputs(project, name)  # written by the in-process run
        done = run_notebook(project, name)
        assert done.returncode == 0, done.stderr[-3000:]
        assert not [n for n in noise if n in done.stderr], done.stderr[-2000:]
        executed = json.loads((project / "build/notebooks" / f"{name}.ipynb").read_text())
        shown = json.dumps([c.get("outputs", []) for c in executed["cells"]])
        assert not [n for n in noise if n in shown], f"{name}: {shown[:2000]}"
        assert outputs(project, name) == before, f"{name}: not the same bytes twice"
