"""Fail when dvc.lock is stale: a stage's code, parameters or committed outputs changed.

``dvc status`` also reports what a fresh clone simply has not built yet (outputs not
in the cache, a stage's input that another stage produces, deleted); those are not
staleness and are ignored. Anything else means the code moved after the last
``make repro`` and ``dvc.lock`` (with the metrics it hashes) must be re-committed.

Usage: ``python tools/dvc_fresh.py`` (``make lint`` runs it).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run as a script: tools/ is on the path, not the root
    sys.path.insert(0, str(ROOT))
from tools import dvc_lock  # noqa: E402

NOT_BUILT = {"not in cache", "deleted"}  # what a clone has not produced yet


def produced(stages: dict[str, dict[str, Any]]) -> set[str]:
    """Every path some stage writes (its outs, metrics and plots).

    Args:
        stages: dvc.yaml's stages as DVC runs them (``dvc_lock.stages``: a
            ``foreach`` stage once per recording, its paths filled in).
    """
    paths: set[str] = set()
    for stage in stages.values():
        for kind in ("outs", "metrics", "plots"):
            for entry in stage.get(kind, []):
                paths.add(next(iter(entry)) if isinstance(entry, dict) else str(entry))
    return paths


def stale(status: dict[str, Any], outputs: set[str]) -> list[str]:
    """One line per change that a fresh clone's missing outputs do not explain."""
    lines = []
    for stage, entries in status.items():
        for entry in entries if isinstance(entries, list) else []:
            if not isinstance(entry, dict):
                continue
            for kind, changes in entry.items():
                for path, what in changes.items():
                    if isinstance(what, dict):  # params.yaml: {section: "modified"}
                        lines += [f"{stage}: {path} {key} {v}" for key, v in what.items()]
                    elif what in NOT_BUILT and (kind == "changed outs" or path in outputs):
                        continue
                    else:
                        lines.append(f"{stage}: {kind[8:-1]} {path} {what}")
    return lines


def main() -> int:
    """Print what is stale and return 1, or return 0."""
    root = ROOT
    done = subprocess.run(
        [sys.executable, "-m", "dvc", "status", "--json"],
        cwd=root, capture_output=True, text=True, check=False,
    )  # fmt: skip
    if done.returncode != 0:
        print(f"dvc status failed: {done.stderr.strip().splitlines()[-1:]}", file=sys.stderr)
        return 1
    outputs = produced(dvc_lock.stages(root))
    lines = stale(json.loads(done.stdout or "{}"), outputs)
    for line in lines:
        print(f"dvc.lock is stale: {line}", file=sys.stderr)
    if lines:
        print("run `make repro` and commit dvc.lock with the code that moved it", file=sys.stderr)
    return 1 if lines else 0


if __name__ == "__main__":
    sys.exit(main())
