"""dvc.yaml's stages as DVC runs them: ``foreach`` stages expanded, ``${...}`` filled.

DVC names a ``foreach`` stage's runs ``STAGE@KEY`` (``stream@may2022-hourly``)
and fills ``${key}``, ``${item.FIELD}`` and ``${section.key}`` (params.yaml) in
them; the tests that hold dvc.yaml to the code (tests/unit/test_dvc_stages.py),
``tools/dvc_fresh.py`` (which outputs a fresh clone has simply not built) and
the ``dvc repro`` test read the stages the same way, here, without DVC. Whether
dvc.lock is up to date is ``tools/dvc_fresh.py``'s question (``dvc status``).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]
_REF = re.compile(r"\$\{\s*([^}\s]+)\s*\}")


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
