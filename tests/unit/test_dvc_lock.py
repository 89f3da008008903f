"""tools/dvc_lock.py (make lint) agrees with DVC itself on when dvc.lock is stale.

A small project (a foreach stage over params, a folder and a file dependency, a
metrics output kept in git) is reproduced by the real ``dvc repro``; the check
must then find nothing, and find each kind of change DVC would re-run for.
"""

from __future__ import annotations

import json
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


def test_a_fresh_lock_has_no_problem_and_foreach_stages_expand(project):
    assert set(dvc_lock.stages(project)) == {"count@a", "count@b"}
    assert dvc_lock.problems(project) == []
    assert json.loads((project / "out" / "a.json").read_text()) == {"files": 2}


def test_each_change_dvc_would_rerun_for_is_found(project, tmp_path):
    root = copy(project, tmp_path)
    (root / "data" / "a" / "sub" / "three.txt").write_text("3\n")  # a file in a folder dep
    params = yaml.safe_load((root / "params.yaml").read_text())
    params["base"]["unit"] = "things"
    (root / "params.yaml").write_text(yaml.safe_dump(params))
    (root / "out" / "b.json").write_text("{}\n")  # a committed metric that is not the locked one
    assert dvc_lock.problems(root) == [
        "count@a: changed dependency data/a",
        "count@a: changed parameter base.unit",
        "count@b: changed parameter base.unit",
        "count@b: out/b.json is not the output dvc.lock recorded",
    ]


def test_ignored_files_and_new_or_gone_stages(project, tmp_path):
    root = copy(project, tmp_path)
    (root / "data" / "a" / "__pycache__" / "y.pyc").write_bytes(b"\1")  # ignored, as by DVC
    assert dvc_lock.problems(root) == []
    params = yaml.safe_load((root / "params.yaml").read_text())
    params["things"]["c"] = {"path": "data/a"}
    del params["things"]["b"]
    (root / "params.yaml").write_text(yaml.safe_dump(params))
    assert dvc_lock.problems(root) == [
        "count@c: not in dvc.lock (never reproduced)",
        "count@b: in dvc.lock but not in dvc.yaml",
    ]
