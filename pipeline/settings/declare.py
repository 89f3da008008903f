"""How settings are declared, built in one order, checked, and offered on the command line.

Each stage (ingest, capture, stream, compare, run, broker, feed) has a frozen
dataclass in :mod:`pipeline.settings`. :meth:`Settings.build` fills it in one order:

    code defaults  <-  params.yaml (``base`` + the stage's section)
                   <-  environment variables  <-  explicit overrides

(command-line options, or keyword arguments from Python, DVC, bench or a
notebook). Each field declares its help, its params.yaml key and its
environment variable once; the ``velib`` command line is generated from those
declarations (:func:`add_options`), so ``velib COMMAND --help`` shows the
effective default and where it came from. A bad value raises
:class:`SettingsError` with one line naming the option as the user wrote it.

Paths from defaults and params.yaml are relative to the project root; paths
given on the command line or in the environment are relative to the working
directory, as a user expects. Output roots may also be URIs (``s3a://...``).
"""

from __future__ import annotations

import argparse
import dataclasses
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any, ClassVar, Self

from pipeline.settings import project

META = "velib"


class UserError(Exception):
    """Something the user can fix (a value, a path, the data asked for, a missing tool).

    The project's one user-error type: the command line shows it (and argparse's
    usage errors) as one line on stderr with exit status 2. Any other exception
    is a bug and keeps its traceback. Its message is one line that says what to do.
    """


class SettingsError(UserError, ValueError):
    """A setting the user can fix; the message is one line naming the option."""


class BadInput(UserError, ValueError):
    """Input that does not hold what was asked for (no data on the dates, not a model file)."""


class MissingInput(UserError, FileNotFoundError):
    """A file or folder the user named does not exist."""


@dataclass(frozen=True)
class Spec:
    """How one setting is declared: help, params.yaml key, env variable, parser, flag."""

    help: str
    param: str | None = None  # key in the stage's section, or "section.key"
    env: str | None = None
    parse: Callable[[Any], Any] | None = None
    flag: str | None = None  # None: --field-name; "": positional; "-": not on the command line
    choices: tuple[str, ...] | None = None
    boolean: bool = False


def opt(default: Any, help: str, **spec: Any) -> Any:  # noqa: A002 - argparse's word
    """A settings field with its declaration (see :class:`Spec`)."""
    return field(default=default, metadata={META: Spec(help, **spec)})


def spec_of(f: dataclasses.Field[Any]) -> Spec:
    """The declaration of a settings field."""
    return f.metadata[META]


# --- parsers: each turns a text or value into the field's value, or raises ValueError ---


def duration(value: Any) -> str:
    """A duration kept as its text ('2 hours'), checked now."""
    project.parse_duration(str(value))
    return str(value).strip()


def _integer(value: Any) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        raise ValueError(f"must be a whole number, got {value!r}") from None


def positive_int(value: Any) -> int:
    """An integer >= 1."""
    number = _integer(value)
    if number < 1:
        raise ValueError(f"must be at least 1, got {number}")
    return number


def _number(value: Any) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"must be a number, got {value!r}") from None
    if number != number or number in (float("inf"), float("-inf")):
        raise ValueError(f"must be a finite number, got {value}")
    return number


def positive(value: Any) -> float:
    """A finite number > 0."""
    number = _number(value)
    if not number > 0:
        raise ValueError(f"must be positive, got {value}")
    return number


def non_negative(value: Any) -> float:
    """A finite number >= 0."""
    number = _number(value)
    if not number >= 0:
        raise ValueError(f"must be >= 0, got {value}")
    return number


def port(value: Any) -> int:
    """A TCP port, 0 meaning 'pick a free one'."""
    number = _integer(value)
    if not 0 <= number <= 65535:
        raise ValueError(f"must be between 0 and 65535, got {number}")
    return number


def location(value: Any) -> str:
    """A local path (made absolute) or a URI kept as given (s3a://, abfss://, dbfs:/)."""
    text = str(value)
    if "://" in text or text.startswith("dbfs:"):
        return text
    return str(Path(text).expanduser().resolve())


def path(value: Any) -> Path:
    """A local path, made absolute."""
    return Path(str(value)).expanduser().resolve()


def date_range(value: Any) -> tuple[date, date] | None:
    """``FIRST..LAST`` (or one date) as an inclusive pair of dates; empty means no range."""
    if isinstance(value, date):  # YAML reads a bare 2022-05-12 as a date
        return value, value
    text = str(value).strip()
    if not text:
        return None
    first, sep, last = text.partition("..")
    try:
        lo, hi = date.fromisoformat(first.strip()), date.fromisoformat(last.strip() or first)
    except ValueError:
        raise ValueError(f"bad dates {text!r}: use YYYY-MM-DD..YYYY-MM-DD or one date") from None
    if sep and not last.strip():
        raise ValueError(f"bad dates {text!r}: use YYYY-MM-DD..YYYY-MM-DD or one date")
    if hi < lo:
        raise ValueError(f"bad dates {text!r}: the last date is before the first")
    return lo, hi


def version_or_time(value: Any) -> int | datetime:
    """A Delta table version (``12``: exact) or an ISO time (``2026-11-28T10:00Z``; UTC if bare)."""
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    text = str(value).strip()
    if text.isdigit():
        return int(text)
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(
            f"bad version or time {text!r}: use a table version (12) or an ISO time "
            "(2026-11-28T10:00Z)"
        ) from None
    return when if when.tzinfo else when.replace(tzinfo=UTC)


def paths(value: Any) -> tuple[Path, ...]:
    """One or more local paths (a list, or one path)."""
    items = value if isinstance(value, list | tuple) else [value]
    return tuple(path(item) for item in items)


# --- building -------------------------------------------------------------------


def _lookup(params: Mapping[str, Any], section: str, key: str) -> tuple[bool, Any]:
    where, _, name = key.rpartition(".")
    merged = {**(params.get("base") or {}), **(params.get(where or section) or {})}
    return (name in merged, merged.get(name))


def _under_root(value: Any) -> Any:
    """Relative paths of defaults and params.yaml are relative to the project root."""
    if isinstance(value, list | tuple):
        return [_under_root(v) for v in value]
    text = str(value)
    return text if "://" in text or text.startswith("dbfs:") else project.ROOT / text


def _is_path_parser(parse: Callable[[Any], Any] | None) -> bool:
    return parse in (location, path, paths)


@dataclass(frozen=True)
class Settings:
    """Base of every stage's settings: building, describing and checking them."""

    SECTION: ClassVar[str] = ""

    @classmethod
    def build(
        cls,
        overrides: Mapping[str, Any] | None = None,
        *,
        params: Mapping[str, Any] | None = None,
        environ: Mapping[str, str] | None = None,
    ) -> Self:
        """Defaults <- params.yaml <- environment <- overrides (None means 'not given')."""
        params = project.load_params() if params is None else params
        environ = os.environ if environ is None else environ
        overrides = overrides or {}
        values: dict[str, Any] = {}
        for f in fields(cls):
            spec = spec_of(f)
            value, from_root = f.default, True
            if spec.param:
                found, given = _lookup(params, cls.SECTION, spec.param)
                if found:
                    value = given
            if spec.env and environ.get(spec.env):
                value, from_root = environ[spec.env], False
            if overrides.get(f.name) is not None:
                value, from_root = overrides[f.name], False
            values[f.name] = cls._parse(f, spec, value, from_root)
        settings = cls(**values)
        settings.check()
        return settings

    @classmethod
    def _parse(cls, f: dataclasses.Field[Any], spec: Spec, value: Any, from_root: bool) -> Any:
        if value is None or spec.parse is None:
            if spec.choices and value not in spec.choices:
                raise SettingsError(f"{option_name(f)}: choose from {', '.join(spec.choices)}")
            return value
        if from_root and _is_path_parser(spec.parse):
            value = _under_root(value)
        try:
            return spec.parse(value)
        except (TypeError, ValueError) as exc:
            raise SettingsError(f"{option_name(f)}: {exc}") from None

    @classmethod
    def default(cls, name: str) -> Any:
        """A field's code default (before params.yaml and the environment)."""
        return next(f.default for f in fields(cls) if f.name == name)

    def check(self) -> None:
        """Checks across fields; subclasses raise SettingsError with one line."""

    def replace(self, **changes: Any) -> Self:
        """A copy with some fields changed (checked again)."""
        changed = dataclasses.replace(self, **changes)
        changed.check()
        return changed


def option_name(f: dataclasses.Field[Any]) -> str:
    """The name a user knows a field by: its flag, or its params.yaml key."""
    spec = spec_of(f)
    if spec.flag == "":
        return f.name.upper()
    if spec.flag == "-":
        return spec.param or f.name
    return spec.flag or "--" + f.name.replace("_", "-")


# --- the command line, generated ---------------------------------------------------------


def shown(value: Any) -> str:
    """A value as --help shows it (paths under the project root relative to it)."""
    if isinstance(value, tuple):
        return ", ".join(shown(v) for v in value)
    if isinstance(value, Path | str) and str(value).startswith(str(project.ROOT) + os.sep):
        return os.path.relpath(str(value), project.ROOT)
    return str(value)


def add_options(parser: argparse.ArgumentParser, cls: type[Settings]) -> None:
    """Declare every field of ``cls`` as an option whose default is 'not given' (None).

    The help text shows the effective default (code <- params.yaml <- environment)
    and where a default can be changed, so --help never lies about a value.
    """
    try:
        effective = cls.build()
    except SettingsError:
        effective = None
    for f in fields(cls):
        spec = spec_of(f)
        if spec.flag == "-":
            continue
        now = getattr(effective, f.name) if effective is not None else f.default
        param = spec.param if not spec.param or "." in spec.param else f"{cls.SECTION}.{spec.param}"
        where = [w for w in (param and f"params.yaml {param}", spec.env and f"env {spec.env}") if w]
        parts = [f"default: {shown(now)}"] if now is not None else []
        if where:
            parts.append("change in " + " or ".join(where))
        suffix = f" ({'; '.join(parts)})" if parts and not spec.boolean else ""
        help_text = (spec.help + suffix).replace("%", "%%")
        if spec.flag == "":
            parser.add_argument(f.name, nargs="?", default=None, help=help_text)
        elif spec.boolean:
            parser.add_argument(
                option_name(f), dest=f.name, action="store_true", default=None, help=help_text
            )
        else:
            parser.add_argument(
                option_name(f),
                dest=f.name,
                default=None,
                choices=spec.choices,
                metavar=None if spec.choices else f.name.upper(),
                help=help_text,
            )


def overrides_from(args: argparse.Namespace, cls: type[Settings]) -> dict[str, Any]:
    """The options the user gave, by field name (the rest stay None: not given)."""
    return {f.name: getattr(args, f.name, None) for f in fields(cls)}
