"""The Vega charts of `dvc plots show`/`diff`, filled by DVC's code from dvc.yaml and .dvc/plots.

Each data plot of dvc.yaml goes through DVC's converter and renderer with
two revisions, as `dvc plots diff HEAD` would: every series gets its own
colour and a legend, the revisions stay apart (dash or row), time axes read
Paris dates, counts are bars.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from dvc.render.converter.vega import VegaConverter
from dvc_render import VegaRenderer

from pipeline.research.figures import COLORS

ROOT = Path(__file__).resolve().parents[2]
TEMPLATES = ROOT / ".dvc" / "plots"
COUNTS = {"stations_known", "episodes_by_hour"}  # counts: drawn as bars


def kind(name: str) -> str:
    """A plot's kind: its name without the recording (``may2022-hourly/stations_known``)."""
    return name.rsplit("/", 1)[-1]


def vega_plots() -> dict[str, dict]:
    plots = yaml.safe_load((ROOT / "dvc.yaml").read_text())["plots"]
    return {k: v for p in plots if isinstance(p, dict) for k, v in p.items()}


def rows(x: str, columns: list[str]) -> list[dict[str, str]]:
    """Three CSV rows as DVC reads them (strings), one empty cell."""
    xs = (
        ["2022-05-12 12:15", "2022-05-12 12:30", "2022-05-12 12:45"] if x == "local_time" else "012"
    )
    out = [{x: str(v), **{c: str(1.5 + i) for c in columns}} for i, v in enumerate(xs)]
    out[1][columns[0]] = ""  # a window below the coverage threshold
    return out


def layers(view: dict) -> list[tuple[str, dict]]:
    """(mark type, encoding) of each layer of a view, the shared encoding merged in."""
    shared = view.get("encoding", {})
    return [
        (layer["mark"]["type"], {**shared, **layer.get("encoding", {})})
        for layer in view.get("layer", [view])
    ]


def filled(name: str, definition: dict, revs: tuple[str, ...]) -> dict:
    (path, columns), *_ = definition["y"].items()
    columns = [columns] if isinstance(columns, str) else columns
    datapoints: list[dict] = []
    props: dict = {}
    for rev in revs:
        converter = VegaConverter(name, {path: rows(definition["x"], columns)}, dict(definition))
        points, rev_props = converter.flat_datapoints(rev)
        datapoints += points
        props = props or rev_props
    renderer = VegaRenderer(datapoints, name, template_dir=str(TEMPLATES), **props)
    return renderer.get_filled_template()


@pytest.mark.parametrize("name", sorted(vega_plots()))
def test_each_series_has_its_colour_and_revisions_stay_apart(name):
    definition = vega_plots()[name]
    spec = filled(name, definition, ("HEAD", "workspace"))
    view = spec.get("spec", spec)
    encoding = view["encoding"]
    assert encoding["color"]["field"] == "field" and "legend" in encoding["color"]
    revs = {row["rev"] for row in spec["data"]["values"]}
    assert revs == {"HEAD", "workspace"}
    marks = dict(layers(view))
    if kind(name) in COUNTS:  # one row per revision
        assert set(marks) <= {"bar", "area"} and spec["facet"]["row"]["field"] == "rev"
        assert encoding["y"]["scale"]["zero"] is True
    else:  # one dash per revision, drawn in the legend as a line
        assert marks["line"]["strokeDash"]["field"] == "rev"
        assert marks["line"]["strokeDash"]["legend"]["symbolType"] == "stroke"
    fields = {row["field"] for row in spec["data"]["values"]}
    (columns,) = definition["y"].values()
    assert fields == ({columns} if isinstance(columns, str) else set(columns))


@pytest.mark.parametrize("name", sorted(vega_plots()))
def test_x_is_paris_time_or_the_local_hour(name):
    definition = vega_plots()[name]
    spec = filled(name, definition, ("workspace",))
    view = spec.get("spec", spec)
    x = view["encoding"]["x"]
    calculations = {t["as"]: t["calculate"] for t in spec["transform"] if "calculate" in t}
    if definition["x"] == "local_time":
        assert x["type"] == "temporal" and x["scale"]["type"] == "utc"
        assert "utcParse(datum['local_time']" in calculations[x["field"]]
        assert "Europe/Paris" in x["title"]
    else:
        assert definition["x"] == "hour" and "Europe/Paris" in x["title"]
        assert calculations[x["field"]] == "toNumber(datum['hour'])"
    # an empty CSV cell is a gap (null), never a 0 drawn to the axis
    assert "=== '' ||" in calculations["value"]


def test_the_templates_are_those_of_the_project_and_no_plot_is_left_on_dvc_defaults():
    used = {d["template"] for d in vega_plots().values()}
    assert used == {p.stem for p in TEMPLATES.glob("*.json")}
    assert COUNTS <= {kind(name) for name in vega_plots()}


@pytest.mark.parametrize("name", sorted(n for n in vega_plots() if kind(n) == "occupancy_by_hour"))
def test_an_hourly_profile_point_says_the_days_and_polls_behind_it(name):
    spec = filled(name, vega_plots()[name], ("workspace",))
    tips = {t.get("title") for t in spec["encoding"]["tooltip"]}
    assert {"days observed", "polls behind it"} <= tips
    calculations = {t["as"]: t["calculate"] for t in spec["transform"] if "calculate" in t}
    # weekday_occupancy -> weekday_days, weekday_polls: the CSV's columns beside the series
    assert "'_days')]" in calculations["days_behind"]
    assert "'_polls')]" in calculations["polls_behind"]
    assert "regexp('_[a-z]+$')" in calculations["polls_behind"]
    (columns,) = vega_plots()[name]["y"].values()
    assert all(c.endswith("_occupancy") for c in columns)


# The concept each CSV column drawn by a Vega plot shows (pipeline.research.figures.COLORS).
CONCEPTS = {
    "bikes_per_station": "bikes",
    "mechanical_per_station": "mechanical",
    "ebike_per_station": "ebike",
    "empty_per_1000_station_hours": "empty",
    "full_per_1000_station_hours": "full",
    "weekday_occupancy": "weekday",
    "weekend_occupancy": "weekend",
    "stations_known": "stations_known",
}


@pytest.mark.parametrize("name", sorted(vega_plots()))
def test_each_series_has_the_colour_of_its_concept_in_the_pngs(name):
    definition = vega_plots()[name]
    view = filled(name, definition, ("workspace",))
    scale = view.get("spec", view)["encoding"]["color"]["scale"]
    (columns,) = definition["y"].values()
    columns = [columns] if isinstance(columns, str) else columns
    colours = dict(zip(scale["domain"], scale["range"], strict=True))
    assert set(columns) <= set(colours), "every series drawn has its colour set, none by order"
    assert {c: colours[c] for c in columns} == {c: COLORS[CONCEPTS[c]] for c in columns}


def of_kind(wanted: str) -> list[str]:
    return [name for name in sorted(vega_plots()) if kind(name) == wanted]


@pytest.mark.parametrize("name", of_kind("bikes_per_station"))
def test_a_series_over_time_marks_the_windows_a_poll_observed(name):
    spec = filled(name, vega_plots()[name], ("workspace",))
    view = spec.get("spec", spec)
    ticks = [layer for layer in view["layer"] if layer["mark"]["type"] == "tick"]
    assert len(ticks) == 1  # carried-forward values must not look observed
    (where,) = ticks[0]["transform"]
    assert "datum.polls" in where["filter"] and "> 0" in where["filter"]
    assert ticks[0]["encoding"]["color"] == {"value": "#777777"}  # not a series' colour


@pytest.mark.parametrize("name", of_kind("occupancy_by_hour"))
def test_occupancy_is_in_percent_as_in_the_pngs(name):
    definition = vega_plots()[name]
    view = filled(name, definition, ("workspace",))
    view = view.get("spec", view)
    assert view["encoding"]["y"]["axis"]["format"] == "%"
    assert definition["y_label"].endswith("%")
