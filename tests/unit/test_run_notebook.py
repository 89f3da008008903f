"""analysis/run_notebook.py runs a notebook as DVC does, and logs what it does once.

A tiny real notebook in a temporary project (its own params.yaml), executed on
the project's kernel through papermill: the parameter from params.yaml reaches
the notebook, papermill's "Input Notebook" line appears once, not twice, and the
kernel is shut down without the SIGINT that made it log "KeyboardInterrupt caught
in kernel" now and then.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

NOTEBOOK = """# %% tags=["parameters"]
answer = 0

# %%
print(f"answer={answer}")
"""


@pytest.mark.slow  # starts a Jupyter kernel (a few seconds)
def test_a_notebook_runs_with_its_parameters_and_one_input_notebook_line(tmp_path: Path) -> None:
    (tmp_path / "analysis").mkdir()
    (tmp_path / "analysis" / "99-tiny.py").write_text(NOTEBOOK, encoding="utf-8")
    (tmp_path / "params.yaml").write_text("analysis:\n  answer: 42\n", encoding="utf-8")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [sys.executable, str(ROOT / "analysis" / "run_notebook.py"), "analysis/99-tiny.py"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stderr.count("Input Notebook") == 1, done.stderr
    assert "analysis/99-tiny.py with params.yaml analysis\n" in done.stderr  # no parameter dump
    assert '"answer"' not in done.stderr, done.stderr
    assert done.stderr.count("Output Notebook") == 1, done.stderr
    assert "KeyboardInterrupt" not in done.stderr and "ERROR" not in done.stderr, done.stderr
    executed = json.loads((tmp_path / "build/notebooks/99-tiny.ipynb").read_text("utf-8"))
    printed = "".join(
        "".join(o.get("text", "")) for c in executed["cells"] for o in c.get("outputs", [])
    )
    assert printed == "answer=42\n"
