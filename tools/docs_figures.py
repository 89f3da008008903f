"""The figures docs/ shows, copied from the reproduced ones in reports/figures/.

docs/figures/ is in git so the pages render on GitHub without the DVC cache;
each file there is a copy of one figure ``dvc repro`` draws (the mapping below),
never a figure of its own: a copy left behind after the notebooks changed shows
a reader an older chart than the numbers beside it (they are rendered from the
metrics by tools/docs_numbers.py).

``python tools/docs_figures.py`` copies every reproduced figure that differs;
``--check`` copies nothing and exits 1 naming each copy that differs. A figure
not built in this clone (no ``make repro`` yet) is reported and skipped.
"""

from __future__ import annotations

import argparse
import filecmp
import shutil
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DOCS = Path("docs/figures")
# docs/figures/<name> <- the reproduced figure it copies (the default recording's)
HOURLY = "reports/figures/may2022-hourly"
FIGURES = {
    "network_bikes.png": f"{HOURLY}/01-availability-over-time/network_bikes.png",
    "station_map.png": f"{HOURLY}/03-station-map/station_map.png",
    "episode_durations.png": f"{HOURLY}/06-empty-full-episodes/episode_durations.png",
    "episodes_by_hour.png": f"{HOURLY}/06-empty-full-episodes/episodes_by_hour.png",
    "resolution.png": "reports/figures/08-resolution/resolution.png",
    "forecast_skill.png": f"{HOURLY}/07-forecast/forecast_skill.png",
    "forecast_reliability.png": f"{HOURLY}/07-forecast/reliability.png",
    "forecast_resolution.png": f"{HOURLY}/07-forecast/resolution.png",
}


def stale(root: Path = ROOT) -> tuple[list[str], list[str]]:
    """(copies that differ from their figure, figures not built here)."""
    differ, missing = [], []
    for name, source in FIGURES.items():
        src, copy = root / source, root / DOCS / name
        if not src.is_file():
            missing.append(source)
        elif not copy.is_file() or not filecmp.cmp(src, copy, shallow=False):
            differ.append(name)
    return differ, missing


def main(argv: list[str] | None = None) -> int:
    """Copy the reproduced figures into docs/figures, or with ``--check`` list those that differ."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--check", action="store_true", help="change nothing; exit 1 on a difference"
    )
    args = parser.parse_args(argv)
    differ, missing = stale(ROOT)
    for source in missing:
        sys.stderr.write(f"not built here (make repro): {source}\n")
    for name in differ:
        if not args.check:
            shutil.copyfile(ROOT / FIGURES[name], ROOT / DOCS / name)
        sys.stderr.write(
            f"{'differs from' if args.check else 'copied'} {FIGURES[name]}: {DOCS / name}\n"
        )
    return 1 if differ and args.check else 0


if __name__ == "__main__":
    sys.exit(main())
