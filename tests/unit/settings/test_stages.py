"""One settings layer: the order of sources, one-line errors, --help and params.yaml agree."""

from __future__ import annotations

import dataclasses
import io
import re
from contextlib import redirect_stdout
from datetime import date
from pathlib import Path

import pytest
import yaml

from pipeline import cli
from pipeline.settings import project
from pipeline.settings.capture import CaptureSettings
from pipeline.settings.clock import ClockSettings
from pipeline.settings.compare import CompareSettings
from pipeline.settings.declare import SettingsError, option_name, shown, spec_of
from pipeline.settings.forecast import (
    EvaluateSettings,
    LiveForecastSettings,
    PredictSettings,
    TrainSettings,
)
from pipeline.settings.ingest import IngestSettings
from pipeline.settings.local import BrokerSettings, FeedSettings
from pipeline.settings.run import RunSettings
from pipeline.settings.stream import StreamSettings
from pipeline.settings.tables import CompactSettings, HistorySettings

ROOT = Path(__file__).resolve().parents[3]
ALL = (
    ClockSettings,
    IngestSettings,
    CaptureSettings,
    StreamSettings,
    CompareSettings,
    RunSettings,
    BrokerSettings,
    FeedSettings,
    CompactSettings,
    HistorySettings,
    TrainSettings,
    PredictSettings,
    EvaluateSettings,
    LiveForecastSettings,
)
# Read by the notebooks (papermill parameters of analysis/*.py), not by a stage's settings;
# recordings are read through pipeline/settings/recordings.py (velib run, DVC, notebooks).
NOTEBOOK_SECTIONS = {"analysis", "recordings"}


@pytest.fixture
def params_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """A copy of params.yaml that every settings object reads; returns an editor."""
    path = tmp_path / "params.yaml"
    data = yaml.safe_load((ROOT / "params.yaml").read_text(encoding="utf-8"))
    monkeypatch.setattr(project, "PARAMS_FILE", path)

    def edit(section: str, key: str, value: object) -> None:
        data.setdefault(section, {})[key] = value
        path.write_text(yaml.safe_dump(data), encoding="utf-8")

    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    return edit


def _help(command: list[str]) -> str:
    out = io.StringIO()
    with redirect_stdout(out), pytest.raises(SystemExit):
        cli.main([*command, "--help"])
    return " ".join(out.getvalue().split())


def test_order_defaults_params_environment_overrides(params_file):
    params_file("stream", "window", "20 minutes")
    assert StreamSettings.build().window == "20 minutes"  # params over code
    env = {"VELIB_TOPIC_ALERTS": "from.env"}
    assert StreamSettings.build(environ=env).alerts_topic == "from.env"  # env over code
    built = StreamSettings.build({"window": "5 minutes"}, environ=env)
    assert built.window == "5 minutes" and built.alerts_topic == "from.env"  # override wins


def test_every_params_key_is_read_by_a_setting():
    read = {
        (cls.SECTION, spec_of(f).param)
        if "." not in spec_of(f).param
        else tuple(spec_of(f).param.split(".", 1))
        for cls in ALL
        for f in dataclasses.fields(cls)
        if spec_of(f).param
    }
    params = yaml.safe_load((ROOT / "params.yaml").read_text(encoding="utf-8"))
    base = {("base", k) for k in params["base"]}
    unread = [
        (section, key)
        for section, values in params.items()
        if section not in NOTEBOOK_SECTIONS and section != "base"
        for key in values
        if (section, key) not in read
    ]
    unread += [k for k in base if k not in read]
    assert unread == [], f"params.yaml keys no setting reads: {unread}"


def test_every_default_shows_in_help():
    for command, cls in [(["stream"], StreamSettings), (["capture"], CaptureSettings),
                         (["ingest"], IngestSettings), (["run"], RunSettings),
                         (["compact"], CompactSettings),
                         (["history"], HistorySettings)]:  # fmt: skip
        text = _help(command)
        effective = cls.build()
        for f in dataclasses.fields(cls):
            spec = spec_of(f)
            if spec.flag == "-" or spec.boolean:
                continue
            assert option_name(f) in text or spec.flag == ""
            value = getattr(effective, f.name)
            if value is not None:
                # argparse wraps long values (URLs) at hyphens and dots: compare without spaces
                squeezed = re.sub(r"\s", "", text)
                assert re.sub(r"\s", "", f"default:{shown(value)}") in squeezed, (command, f.name)


@pytest.mark.parametrize(
    ("section", "key", "value", "check"),
    [
        ("stream", "processing_time", "7 seconds",
         lambda: RunSettings.build().stages().stream.processing_time == "7 seconds"),
        ("ingest", "heartbeat_s", 900, lambda: RunSettings.build().heartbeat_s == 900),
        ("capture", "group", "my-group",
         lambda: RunSettings.build().stages().capture.group == "my-group"),
    ],
)  # fmt: skip
def test_params_reach_velib_run_and_the_command(params_file, section, key, value, check):
    params_file(section, key, value)
    if section == "ingest":
        params_file("stream", "stale_after", "1 hour")  # >= 2 x 900 s
    assert check()
    command = {"stream": "stream", "ingest": "ingest", "capture": "capture"}[section]
    assert str(value) in _help([command])


@pytest.mark.parametrize(
    ("cls", "overrides", "message"),
    [
        (StreamSettings, {"window": "soon"}, "--window: bad duration 'soon'"),
        (CaptureSettings, {"max_records": "0"}, "--max-records: must be at least 1"),
        (IngestSettings, {"source": "replay"}, "--source replay needs a PATH"),
        (IngestSettings, {"source": "carrier-pigeon"}, "--source: choose from"),
        (RunSettings, {"raw": ["no/such/folder"]}, "raw data not found"),
        (RunSettings, {"dates": "2022-05-12:2022-05-25"}, "--dates: bad dates"),
        (RunSettings, {"dates": "2022-05-25..2022-05-12"}, "--dates: bad dates"),
        (RunSettings, {"dates": "2022-05-12.."}, "--dates: bad dates"),
        (StreamSettings, {"stale_after": "1 hour"}, "--stale-after: stream.stale_after"),
        (CompareSettings, {"a": ".", "b": ".", "a_as_of": "soon"}, "--a-as-of: bad version"),
        (CompareSettings, {"a": ".@3", "b": ".", "a_as_of": "2"}, "A: give .@3 or --a-as-of"),
        (CompareSettings, {"a": ".@yesterday", "b": "."}, ".@yesterday: bad version or time"),
        (CompactSettings, {"retain_hours": "0.5"}, "--retain: must be at least 1 (hour)"),
    ],
)
def test_bad_values_are_one_line_errors_naming_the_option(cls, overrides, message):
    with pytest.raises(SettingsError) as err:
        cls.build(overrides)
    assert str(err.value).startswith(message) and "\n" not in str(err.value)


def test_paths_from_params_are_under_the_root_and_from_the_command_line_under_cwd(
    tmp_path, monkeypatch
):
    monkeypatch.chdir(tmp_path)
    assert CaptureSettings.build().out == ROOT / "data" / "interim" / "csv"
    assert CaptureSettings.build({"out": "here"}).out == tmp_path / "here"
    assert StreamSettings.build({"out": "s3a://bucket/velib"}).out == "s3a://bucket/velib"


def test_settings_hold_no_secret(monkeypatch):
    monkeypatch.setenv("KAFKA_SASL_PLAIN_PASSWORD", "hunter2-secret")
    built = StreamSettings.build()
    assert "hunter2-secret" not in repr(built)
    assert not hasattr(built, "kafka_options")  # KAFKA_* stay with the Kafka code


def test_velib_run_keeps_its_working_state_out_of_the_dvc_outputs(tmp_path):
    # The stream's tables and checkpoints and capture's resume points are working state:
    # none of it may land in a folder DVC hashes (data/processed, data/interim/csv).
    built = RunSettings.build(
        {"csv_out": tmp_path / "csv", "out": tmp_path / "processed", "work_dir": tmp_path / "run"}
    )
    stream, capture = built.stages().stream, built.stages().capture
    state = [Path(stream.out), capture.offsets]
    assert state == [tmp_path / "run" / "stream", tmp_path / "run" / "capture_offsets"]
    assert stream.checkpoints is None  # so under stream.out: the working folder
    assert capture.out == tmp_path / "csv"
    for path in state:
        assert not path.is_relative_to(built.out) and not path.is_relative_to(built.csv_out)
    dvc = yaml.safe_load((ROOT / "dvc.yaml").read_text(encoding="utf-8"))
    stream = dvc["stages"]["stream"]["do"]
    outs = [next(iter(o)) if isinstance(o, dict) else o for o in stream["outs"]]
    default = RunSettings.build()
    assert default.work_dir == ROOT / "data" / "run" / default.recording
    assert not [o for o in outs if o.startswith("data/run")]
    assert {"data/processed/${key}", "data/interim/${key}/csv"} <= set(outs)
    assert "/data/run/" in (ROOT / ".gitignore").read_text(encoding="utf-8").split()


def test_a_replay_cuts_capture_files_by_size_never_by_the_clock(params_file):
    params_file("capture", "max_seconds", 5)
    assert CaptureSettings.build().max_seconds == 5  # live capture keeps its time cut
    cut = RunSettings.build().stages().capture.max_seconds
    assert cut >= 24 * 3600, "a replayed topic is complete: file names must not depend on speed"


@pytest.mark.parametrize(
    ("value", "dates"),
    [
        ("2022-05-12..2022-05-25", (date(2022, 5, 12), date(2022, 5, 25))),
        ("2022-05-14", (date(2022, 5, 14), date(2022, 5, 14))),
        (date(2022, 5, 14), (date(2022, 5, 14), date(2022, 5, 14))),  # YAML's bare date
        ("", None),
        (None, None),
    ],
)
def test_a_recording_is_a_period_read_from_its_dates(params_file, value, dates):
    may = {"path": "data/raw/opendata-2022-05", "dates": value}
    params_file("recordings", "may2022-hourly", may)
    assert RunSettings.build().dates == dates
    assert RunSettings.build({"dates": "2022-05-13"}).dates == (date(2022, 5, 13),) * 2


def test_velib_run_replays_a_recording_by_name_into_folders_under_its_name(params_file):
    built = RunSettings.build({"recording": "nov2024-5min"})
    assert built.raw == (ROOT / "data/raw/opendata-2024-11-5min",)
    assert built.dates == (date(2024, 10, 31), date(2024, 11, 7))
    assert built.out == ROOT / "data/processed/nov2024-5min"
    assert built.csv_out == ROOT / "data/interim/nov2024-5min/csv"
    assert built.stream_dir == ROOT / "data/run/nov2024-5min/stream"
    assert built.metrics == ROOT / "reports/metrics/nov2024-5min/stream.json"
    assert RunSettings.build().out == ROOT / "data/processed/may2022-hourly"  # base.recording
    other = RunSettings.build({"raw": str(ROOT / "data/raw/opendata-history"), "out": "x"})
    assert other.dates is None and other.out == Path("x").resolve()
    assert other.work_dir == ROOT / "data/run/opendata-history"
    with pytest.raises(SettingsError, match="no recording named 'june'.*may2022-hourly"):
        RunSettings.build({"recording": "june"})


def test_a_side_of_compare_names_its_table_version_or_time(tmp_path):
    built = CompareSettings.build(
        {"a": f"{tmp_path}@12", "b": str(tmp_path), "b_as_of": "2026-11-28T10:00"}
    )
    assert built.side("A") == (str(tmp_path), 12)
    path, when = built.side("B")
    assert path == str(tmp_path) and when.isoformat() == "2026-11-28T10:00:00+00:00"  # bare: UTC
    at_folder = tmp_path / "snap@1"  # a folder named with an @ is a folder, not a version
    at_folder.mkdir()
    assert CompareSettings.build({"a": str(at_folder), "b": "."}).side("A") == (
        str(at_folder),
        None,
    )
    assert "by file modification time" in _help(["compare"])  # --help says a time is approximate


def test_velib_run_builds_every_stage_once_and_checks_the_stale_rule_there(params_file):
    params_file("ingest", "heartbeat_s", 900)
    params_file("stream", "stale_after", "1 hour")
    run = RunSettings.build({"heartbeat_s": 1800})  # a run's own heartbeat, over params
    stages = run.stages()
    assert stages.ingest.heartbeat_s == stages.stream.heartbeat_s == 1800
    assert StreamSettings.build().heartbeat_s == 900  # velib stream alone: ingest's setting
    on = stages.on("b:9092")
    assert {on.ingest.bootstrap_servers, on.capture.bootstrap_servers} == {"b:9092"}
    assert on.stream.bootstrap_servers == "b:9092" and on.stream.window == stages.stream.window
    with pytest.raises(SettingsError, match="--stale-after: stream.stale_after .1 hour. must be"):
        RunSettings.build({"heartbeat_s": 3600}).stages()
