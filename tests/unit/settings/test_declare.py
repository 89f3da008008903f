"""settings.declare: Spec/opt, the value parsers, Settings.build's order, add_options' --help."""

from __future__ import annotations

import argparse
import dataclasses
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from pipeline.settings import project
from pipeline.settings.declare import (
    Settings,
    SettingsError,
    Spec,
    add_options,
    duration,
    location,
    non_negative,
    opt,
    option_name,
    overrides_from,
    path,
    paths,
    port,
    positive,
    positive_int,
    shown,
    spec_of,
)


@dataclass(frozen=True)
class Toy(Settings):
    """A throwaway stage with one field of each kind."""

    SECTION = "toy"
    size: int = opt(3, "how many", param="size", env="TOY_SIZE", parse=positive_int)
    name: str = opt("plain", "a label", param="name", env="TOY_NAME")
    mode: str = opt("fast", "the mode", choices=("fast", "slow"))
    shared: str = opt("code", "a base-only key", param="shared")
    other: str = opt("code", "from another section", param="elsewhere.other")
    verbose: bool = opt(False, "say more", boolean=True)
    target: Path | None = opt(None, "a path", parse=path, flag="")
    hidden: str = opt("h", "not on the command line", param="hidden_key", flag="-")
    out: Any = opt("data/toy", "output root", param="out", parse=location)
    wait: str = opt("5 minutes", "a duration", parse=duration, flag="--wait-for")


@dataclass(frozen=True)
class Pair(Settings):
    """A stage with a check across fields."""

    SECTION = "pair"
    low: int = opt(1, "lower bound", parse=positive_int)
    high: int = opt(2, "upper bound", parse=positive_int)

    def check(self) -> None:
        if self.low > self.high:
            raise SettingsError(f"--low ({self.low}) must not exceed --high ({self.high})")


NO_PARAMS: dict[str, Any] = {}
NO_ENV: dict[str, str] = {}


def _field(cls: type[Settings], name: str) -> dataclasses.Field[Any]:
    return next(f for f in dataclasses.fields(cls) if f.name == name)


# --- declarations ------------------------------------------------------------------------


def test_opt_declares_default_and_spec() -> None:
    f = _field(Toy, "size")
    assert f.default == 3
    assert spec_of(f) == Spec("how many", param="size", env="TOY_SIZE", parse=positive_int)
    assert Toy.default("size") == 3 and Toy.default("target") is None


def test_option_names_follow_the_flag_declaration() -> None:
    assert option_name(_field(Toy, "size")) == "--size"
    assert option_name(_field(Toy, "wait")) == "--wait-for"
    assert option_name(_field(Toy, "target")) == "TARGET"  # positional
    assert option_name(_field(Toy, "hidden")) == "hidden_key"  # params.yaml key only


# --- parsers -----------------------------------------------------------------------------


@pytest.mark.parametrize(("given", "expected"), [("1", 1), (7, 7), (" 12 ", 12)])
def test_positive_int_accepts(given: Any, expected: int) -> None:
    assert positive_int(given) == expected


@pytest.mark.parametrize(
    ("given", "message"),
    [("0", "must be at least 1, got 0"), (-3, "at least 1"), ("two", "whole number"),
     (None, "whole number"), ("1.5", "whole number")],
)  # fmt: skip
def test_positive_int_refuses(given: Any, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        positive_int(given)


def test_positive_and_non_negative() -> None:
    assert positive("2.5") == 2.5 and positive(1) == 1.0
    assert non_negative("0") == 0.0 and non_negative(3) == 3.0
    with pytest.raises(ValueError, match="must be positive, got 0"):
        positive(0)
    with pytest.raises(ValueError, match=">= 0"):
        non_negative("-0.1")


@pytest.mark.parametrize("bad", ["nan", "inf", "-inf", float("nan"), math.inf])
def test_numbers_must_be_finite(bad: Any) -> None:
    for parse in (positive, non_negative):
        with pytest.raises(ValueError, match="finite"):
            parse(bad)


@pytest.mark.parametrize("bad", ["x", None, ""])
def test_numbers_must_be_numbers(bad: Any) -> None:
    with pytest.raises(ValueError, match="must be a number"):
        positive(bad)


def test_port_range() -> None:
    assert port("0") == 0 and port(65535) == 65535 and port("9092") == 9092
    for bad in (-1, 65536):
        with pytest.raises(ValueError, match="between 0 and 65535"):
            port(bad)


def test_duration_is_checked_and_kept_as_text() -> None:
    assert duration(" 2 hours ") == "2 hours"
    assert duration(3600) == "3600"
    with pytest.raises(ValueError, match="bad duration"):
        duration("soon")
    with pytest.raises(ValueError, match="must be positive"):
        duration("0 minutes")


def test_paths_are_absolute_and_uris_are_kept(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    assert path("a/b") == tmp_path / "a" / "b"
    assert location("out") == str(tmp_path / "out")
    for uri in ("s3a://bucket/velib", "abfss://c@acct.dfs.core.windows.net/x", "dbfs:/mnt/v"):
        assert location(uri) == uri
    assert paths("one") == (tmp_path / "one",)
    assert paths(["one", "two"]) == (tmp_path / "one", tmp_path / "two")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert path("~/x") == tmp_path / "home" / "x"


# --- building: defaults <- params <- environment <- overrides ---------------------------------


def test_code_defaults_when_nothing_is_given() -> None:
    built = Toy.build(params=NO_PARAMS, environ=NO_ENV)
    assert (built.size, built.name, built.mode, built.verbose, built.target) == (
        3, "plain", "fast", False, None,
    )  # fmt: skip
    assert built.out == str(project.ROOT / "data" / "toy")  # code default: under the root


def test_each_layer_overrides_the_one_before() -> None:
    params = {"toy": {"size": 4, "name": "from-params"}}
    env = {"TOY_SIZE": "5"}
    assert Toy.build(params=params, environ=NO_ENV).size == 4
    built = Toy.build(params=params, environ=env)
    assert (built.size, built.name) == (5, "from-params")
    built = Toy.build({"size": "6", "name": None}, params=params, environ=env)
    assert (built.size, built.name) == (6, "from-params")  # None override: not given


def test_empty_environment_value_is_not_given() -> None:
    assert Toy.build(params={"toy": {"size": 4}}, environ={"TOY_SIZE": ""}).size == 4


def test_params_base_section_under_the_stage_section() -> None:
    params = {"base": {"shared": "base", "size": 8}, "toy": {"size": 9}}
    built = Toy.build(params=params, environ=NO_ENV)
    assert built.shared == "base"  # only in base
    assert built.size == 9  # the stage's section wins over base


def test_dotted_param_reads_another_section() -> None:
    params = {"toy": {"other": "wrong"}, "elsewhere": {"other": "right"}}
    assert Toy.build(params=params, environ=NO_ENV).other == "right"


def test_a_param_set_to_null_is_found_and_kept() -> None:
    assert Toy.build(params={"toy": {"name": None}}, environ=NO_ENV).name is None


def test_paths_from_params_are_under_the_root_from_overrides_under_cwd(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    params = {"toy": {"out": "somewhere/else"}}
    assert Toy.build(params=params, environ=NO_ENV).out == str(project.ROOT / "somewhere/else")
    built = Toy.build({"out": "mine", "target": "t"}, params=params, environ=NO_ENV)
    assert built.out == str(tmp_path / "mine") and built.target == tmp_path / "t"
    uri = Toy.build(params={"toy": {"out": "s3a://b/p"}}, environ=NO_ENV).out
    assert uri == "s3a://b/p"


def test_built_settings_are_frozen() -> None:
    built = Toy.build(params=NO_PARAMS, environ=NO_ENV)
    with pytest.raises(dataclasses.FrozenInstanceError):
        built.size = 10  # type: ignore[misc]


# --- one-line errors ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("overrides", "params", "env", "message"),
    [
        ({"size": "0"}, {}, {}, "--size: must be at least 1, got 0"),
        ({}, {}, {"TOY_SIZE": "many"}, "--size: must be a whole number, got 'many'"),
        ({"mode": "medium"}, {}, {}, "--mode: choose from fast, slow"),
        ({"wait": "later"}, {}, {}, "--wait-for: bad duration 'later'"),
        ({}, {"toy": {"hidden_key": None, "size": -1}}, {}, "--size: must be at least 1"),
    ],
)
def test_bad_values_raise_one_line_naming_the_option(
    overrides: dict[str, Any], params: dict[str, Any], env: dict[str, str], message: str
) -> None:
    with pytest.raises(SettingsError) as err:
        Toy.build(overrides, params=params, environ=env)
    assert str(err.value).startswith(message)
    assert "\n" not in str(err.value)
    assert isinstance(err.value, ValueError)


def test_cross_field_check_runs_on_build_and_replace() -> None:
    built = Pair.build({"low": 2, "high": 5}, params=NO_PARAMS, environ=NO_ENV)
    assert built.replace(high=3).high == 3 and built.high == 5
    with pytest.raises(SettingsError, match=r"--low \(6\) must not exceed --high \(5\)"):
        Pair.build({"low": 6, "high": 5}, params=NO_PARAMS, environ=NO_ENV)
    with pytest.raises(SettingsError):
        built.replace(low=9)


# --- the command line --------------------------------------------------------------------


def _parser(cls: type[Settings]) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="velib toy")
    add_options(parser, cls)
    return parser


@pytest.fixture
def toy_params(monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """params.yaml as add_options reads it (through project.load_params)."""
    params: dict[str, Any] = {"toy": {"size": 11}}
    monkeypatch.setattr(project, "load_params", lambda path=None: params)
    monkeypatch.delenv("TOY_SIZE", raising=False)
    monkeypatch.delenv("TOY_NAME", raising=False)
    return params


def test_options_default_to_not_given(toy_params: dict[str, Any]) -> None:
    args = _parser(Toy).parse_args([])
    given = overrides_from(args, Toy)
    assert set(given) == {f.name for f in dataclasses.fields(Toy)}
    assert all(value is None for value in given.values())


def test_parsed_options_become_overrides(toy_params: dict[str, Any]) -> None:
    args = _parser(Toy).parse_args(["some/file", "--size", "7", "--mode", "slow", "--verbose"])
    given = overrides_from(args, Toy)
    assert given["target"] == "some/file" and given["size"] == "7"
    assert given["mode"] == "slow" and given["verbose"] is True
    assert given["hidden"] is None  # flag "-": never on the command line
    built = Toy.build(given, params=toy_params, environ=NO_ENV)
    assert built.size == 7 and built.verbose is True


def test_choices_are_enforced_by_the_parser(toy_params: dict[str, Any]) -> None:
    with pytest.raises(SystemExit):
        _parser(Toy).parse_args(["--mode", "medium"])


def test_help_shows_effective_default_and_where_to_change_it(
    toy_params: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TOY_NAME", "from-env")
    text = " ".join(_parser(Toy).format_help().split())
    assert "how many (default: 11; change in params.yaml toy.size or env TOY_SIZE)" in text
    assert "a label (default: from-env; change in params.yaml toy.name or env TOY_NAME)" in text
    assert "from another section (default: code; change in params.yaml elsewhere.other)" in text
    assert "the mode (default: fast)" in text
    assert "output root (default: data/toy; change in params.yaml toy.out)" in text
    assert "--wait-for WAIT" in text
    assert "say more" in text and "say more (" not in text  # booleans carry no default
    assert "hidden_key" not in text and "not on the command line" not in text


def test_help_falls_back_to_code_defaults_when_the_effective_ones_are_bad(
    toy_params: dict[str, Any],
) -> None:
    toy_params["toy"]["size"] = 0  # params.yaml holds a bad value: --help still works
    text = " ".join(_parser(Toy).format_help().split())
    assert "how many (default: 3;" in text


def test_percent_signs_in_help_are_escaped(monkeypatch: pytest.MonkeyPatch) -> None:
    @dataclass(frozen=True)
    class Percent(Settings):
        SECTION = "pct"
        share: float = opt(0.5, "share of stations in %", parse=positive)

    monkeypatch.setattr(project, "load_params", lambda path=None: {})
    text = " ".join(_parser(Percent).format_help().split())
    assert "share of stations in % (default: 0.5)" in text


def test_shown_makes_paths_under_the_root_relative() -> None:
    assert shown(project.ROOT / "data" / "raw") == str(Path("data") / "raw")
    assert shown(str(project.ROOT / "x")) == "x"
    assert shown(Path("/elsewhere/x")) == "/elsewhere/x"
    assert shown((project.ROOT / "a", project.ROOT / "b")) == "a, b"
    assert shown(60.0) == "60.0"
