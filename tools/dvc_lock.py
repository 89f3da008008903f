"""Is dvc.lock up to date with what git holds? ``make lint`` asks this, without DVC or a JVM.

A stale ``dvc.lock`` (code, parameters or raw data changed after the last
``dvc repro``) makes a fresh clone's ``make repro`` re-run stages and leave
``git status`` dirty, so it must not land. ``dvc status`` says so, but it
needs the research install and, on a fresh clone, also lists every output
that was never built. This checks only what a commit can make stale, the way
DVC 3 hashes it (``hash: md5``):

* every stage of dvc.yaml (``foreach`` stages expanded, as :func:`stages`)
  is in dvc.lock with the same command, and dvc.lock has no other stage;
* every dependency that no stage writes (code, raw and reference data) has
  the md5 dvc.lock recorded: a file's md5, or for a folder the md5 of the JSON
  list of its files' md5s and paths, with ``.dir`` appended (.dvcignore'd
  files left out, as DVC does);
* every parameter has the value dvc.lock recorded;
* every output kept in git (``cache: false``: metrics and plot data) has the
  md5 dvc.lock recorded, so committed results are the locked ones.

Usage: ``python tools/dvc_lock.py`` (exit 1 with one line per difference).
"""

from __future__ import annotations

import hashlib
import json
import re
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pathspec
import yaml

ROOT = Path(__file__).resolve().parents[1]
_REF = re.compile(r"\$\{\s*([^}\s]+)\s*\}")


# --- dvc.yaml as DVC runs it -------------------------------------------------------------


def _lookup(scope: dict[str, Any], dotted: str) -> Any:
    value: Any = scope
    for part in dotted.split("."):
        value = value[part]
    return value


def _fill(node: Any, scope: dict[str, Any]) -> Any:
    if isinstance(node, dict):
        return {_fill(k, scope): _fill(v, scope) for k, v in node.items()}
    if isinstance(node, list):
        return [_fill(v, scope) for v in node]
    if not isinstance(node, str):
        return node
    whole = _REF.fullmatch(node)
    if whole:  # "${recordings}" alone keeps its type (a dict to iterate)
        return _lookup(scope, whole.group(1))
    return _REF.sub(lambda m: str(_lookup(scope, m.group(1))), node)


def stages(root: Path = ROOT) -> dict[str, dict[str, Any]]:
    """Every stage of dvc.yaml, ``foreach`` stages expanded as ``STAGE@KEY``, references filled.

    ``${key}``, ``${item.FIELD}`` and ``${section.key}`` (params.yaml) are
    substituted as DVC's templating does for the forms this project uses; a
    reference to something that does not exist raises KeyError.
    """
    params = yaml.safe_load((root / "params.yaml").read_text(encoding="utf-8"))
    raw = yaml.safe_load((root / "dvc.yaml").read_text(encoding="utf-8"))["stages"]
    out: dict[str, dict[str, Any]] = {}
    for name, stage in raw.items():
        if "foreach" not in stage:
            out[name] = _fill(stage, params)
            continue
        items = _fill(stage["foreach"], params)
        pairs = items.items() if isinstance(items, dict) else ((str(i), i) for i in items)
        for key, item in pairs:
            out[f"{name}@{key}"] = _fill(stage["do"], {**params, "key": key, "item": item})
    return out


def paths(entries: list[Any]) -> list[str]:
    """The paths of a stage's ``deps``/``outs``/``metrics`` list (an entry may carry options)."""
    return [e if isinstance(e, str) else next(iter(e)) for e in entries]


def _uncached(entries: list[Any]) -> list[str]:
    return [next(iter(e)) for e in entries if isinstance(e, dict) and not _opts(e).get("cache", 1)]


def _opts(entry: dict[str, Any]) -> dict[str, Any]:
    return next(iter(entry.values())) or {}


# --- hashes as DVC 3 computes them ----------------------------------------------------------


def _ignored(root: Path) -> pathspec.PathSpec:
    lines = (root / ".dvcignore").read_text(encoding="utf-8").splitlines()
    return pathspec.PathSpec.from_lines("gitignore", lines)


def _file_md5(path: Path) -> str:
    digest = hashlib.md5()  # noqa: S324 - DVC's content hash, not a security measure
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _files(folder: Path, root: Path, ignored: pathspec.PathSpec) -> Iterator[Path]:
    for path in sorted(folder.rglob("*")):
        rel = path.relative_to(root).as_posix()
        if path.is_file() and not ignored.match_file(rel):
            yield path


def md5(path: Path, root: Path = ROOT) -> str | None:
    """DVC's md5 of a file or folder (None when it does not exist)."""
    if path.is_file():
        return _file_md5(path)
    if not path.is_dir():
        return None
    entries = [
        {"md5": _file_md5(f), "relpath": f.relative_to(path).as_posix()}
        for f in _files(path, root, _ignored(root))
    ]
    entries.sort(key=lambda e: e["relpath"])
    listing = json.dumps(entries, sort_keys=True).encode("utf-8")
    return hashlib.md5(listing).hexdigest() + ".dir"  # noqa: S324 - as above


# --- the check ------------------------------------------------------------------------------


def _written_by_a_stage(path: str, outputs: set[str]) -> bool:
    return any(path == out or path.startswith(out.rstrip("/") + "/") for out in outputs)


def _stage_problems(
    name: str, want: dict[str, Any], got: dict[str, Any], root: Path, outputs: set[str]
) -> Iterator[str]:
    if " ".join(str(want["cmd"]).split()) != " ".join(str(got.get("cmd", "")).split()):
        yield f"{name}: its command changed"
    for dep in got.get("deps", []):
        if not _written_by_a_stage(dep["path"], outputs) and md5(
            root / dep["path"], root
        ) != dep.get("md5"):
            yield f"{name}: changed dependency {dep['path']}"
    params = yaml.safe_load((root / "params.yaml").read_text(encoding="utf-8")) or {}
    for key, value in (got.get("params") or {}).get("params.yaml", {}).items():
        try:
            now = _lookup(params, key)
        except (KeyError, TypeError):
            now = None
        if now != value:
            yield f"{name}: changed parameter {key}"
    kept = set(_uncached(want.get("outs", []))) | set(_uncached(want.get("metrics", [])))
    for out in got.get("outs", []):
        if out["path"] in kept and md5(root / out["path"], root) != out.get("md5"):
            yield f"{name}: {out['path']} is not the output dvc.lock recorded"


def problems(root: Path = ROOT) -> list[str]:
    """Every way dvc.lock disagrees with dvc.yaml, params.yaml and the files (empty: none)."""
    defined = stages(root)
    locked = yaml.safe_load((root / "dvc.lock").read_text(encoding="utf-8")).get("stages", {})
    found = [f"{n}: not in dvc.lock (never reproduced)" for n in defined if n not in locked]
    found += [f"{n}: in dvc.lock but not in dvc.yaml" for n in locked if n not in defined]
    outputs = {
        p
        for stage in defined.values()
        for p in paths(stage.get("outs", []) + stage.get("metrics", []))
    }
    for name in (n for n in defined if n in locked):
        found += _stage_problems(name, defined[name], locked[name], root, outputs)
    return found


def main() -> int:
    """Write each difference on a line of its own to stderr; exit 1 when there is one."""
    found = problems(ROOT)
    for line in found:
        sys.stderr.write(f"dvc.lock: {line}\n")
    if found:
        sys.stderr.write("dvc.lock is stale: run make repro, commit dvc.lock with what moved it\n")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
