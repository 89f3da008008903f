"""tools/dvc_lock.py expands dvc.yaml's stages as DVC itself does.

A small project (a foreach stage over params, a folder and a file dependency, a
metrics output kept in git) is reproduced by the real ``dvc repro``: the stages
the tool expands are the ones DVC wrote to dvc.lock, with the same commands,
dependencies and outputs.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tools import dvc_lock

DVC = Path(sys.executable).parent / "dvc"
DVC_YAML = {
    "stages": {
        "count": {
            "foreach": "${things}",
            "do": {
                "cmd": "python count.py ${item.path} out/${key}.json",
                "deps": ["count.py", "${item.path}"],
                "params": ["things.${key}", "base.unit"],
                "metrics": [{"out/${key}.json": {"cache": False}}],
            },
        }
    }
}
COUNT = """import json, pathlib, sys
src, out = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2])
out.parent.mkdir(exist_ok=True)
out.write_text(json.dumps({"files": len(list(src.rglob("*.txt")))}) + "\\n")
"""


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> Path:
    if not DVC.exists():
        pytest.skip("dvc is not installed in this environment (make install)")
    root = tmp_path_factory.mktemp("lockproject")
    (root / "count.py").write_text(COUNT)
    for name in ("a", "b"):
        (root / "data" / name / "sub").mkdir(parents=True)
        (root / "data" / name / "one.txt").write_text(f"{name}\n")
        (root / "data" / name / "sub" / "two.txt").write_text("2\n")
        (root / "data" / name / "__pycache__").mkdir()
        (root / "data" / name / "__pycache__" / "x.pyc").write_bytes(b"\0")  # .dvcignore'd
    params = {"base": {"unit": "files"}, "things": {k: {"path": f"data/{k}"} for k in "ab"}}
    (root / "params.yaml").write_text(yaml.safe_dump(params))
    (root / "dvc.yaml").write_text(yaml.safe_dump(DVC_YAML, sort_keys=False))
    (root / ".dvcignore").write_text("__pycache__/\n*.pyc\n")
    for cmd in ([str(DVC), "init", "--no-scm", "-q"], [str(DVC), "repro", "-q"]):
        subprocess.run(cmd, cwd=root, check=True, capture_output=True, timeout=300)
    return root


def copy(project: Path, tmp_path: Path) -> Path:
    dest = tmp_path / "p"
    shutil.copytree(project, dest, ignore=shutil.ignore_patterns(".dvc"))
    return dest


def test_foreach_stages_expand_as_dvc_runs_them(project):
    expanded = dvc_lock.stages(project)
    lock = yaml.safe_load((project / "dvc.lock").read_text(encoding="utf-8"))["stages"]
    assert sorted(expanded) == sorted(lock) == ["count@a", "count@b"]
    for name, stage in expanded.items():
        assert stage["cmd"] == lock[name]["cmd"]
        assert sorted(stage["deps"]) == sorted(d["path"] for d in lock[name]["deps"])
        assert dvc_lock.paths(stage["metrics"]) == [o["path"] for o in lock[name]["outs"]]
        assert (project / dvc_lock.paths(stage["metrics"])[0]).is_file()
    assert expanded["count@b"]["params"] == ["things.b", "base.unit"]


def test_a_reference_to_nothing_is_an_error(project, tmp_path):
    broken = tmp_path / "broken"
    shutil.copytree(project, broken)
    text = (broken / "dvc.yaml").read_text(encoding="utf-8").replace("${item.path}", "${item.nope}")
    (broken / "dvc.yaml").write_text(text, encoding="utf-8")
    with pytest.raises(KeyError):
        dvc_lock.stages(broken)
