"""``make install`` prints what it does and nothing that looks like a fault.

The jar step runs for real in a temporary copy of the Makefile and poms (Maven
resolves from its local repository, filled by the project's own ``make
install``): no ANSI escape code reaches the log. The Python step is not re-run
here (it would build a venv from PyPI); its one cause of warnings, the
packaging metadata, is checked where setuptools reads it.
"""

from __future__ import annotations

import shutil
import subprocess
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def test_the_licence_is_an_spdx_string_with_its_file() -> None:
    """setuptools >= 77 warns "project.license as a TOML table is deprecated" otherwise."""
    meta = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    assert meta["project"]["license"] == "MIT"
    files = meta["project"]["license-files"]
    assert files and all((ROOT / f).is_file() for f in files)
    assert "MIT License" in (ROOT / files[0]).read_text(encoding="utf-8")
    (requirement,) = meta["build-system"]["requires"]
    assert requirement == "setuptools>=77"  # the first release that reads both fields


@pytest.mark.slow  # two Maven runs from the local repository (about 15 s)
def test_make_jars_writes_no_ansi_codes(tmp_path: Path) -> None:
    if not (shutil.which("mvn") and shutil.which("java") and shutil.which("make")):
        pytest.skip("make, Maven or Java is not on PATH")
    shutil.copy(ROOT / "Makefile", tmp_path / "Makefile")
    for pom in ("kafka", "spark"):
        (tmp_path / "jvm" / pom).mkdir(parents=True)
        shutil.copy(ROOT / "jvm" / pom / "pom.xml", tmp_path / "jvm" / pom / "pom.xml")
    done = subprocess.run(
        ["make", "jars"], cwd=tmp_path, capture_output=True, text=True, timeout=600, check=False
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    assert "\x1b" not in done.stdout + done.stderr, repr(done.stdout + done.stderr)
    assert sorted(p.name for p in (tmp_path / "jvm" / "lib").iterdir()) == [
        ".resolved",
        "kafka",
        "spark",
    ]
    assert any((tmp_path / "jvm" / "lib" / "kafka").glob("kafka_2.13-*.jar"))
