"""Run one jupytext notebook of analysis/ with papermill, parameters from params.yaml.

DVC stages call ``python analysis/run_notebook.py analysis/NN-name.py --recording
NAME``. The py:percent script is converted to ``build/notebooks/NAME/NN-name.ipynb``
(git-ignored), executed there with the parameters of the ``base`` + ``analysis``
sections of ``params.yaml`` (``-p key=value`` overrides), pointed at the recording's
tables, figures and metrics folders (``pipeline/settings/recordings.py``; without
``--recording``, the notebook's own defaults: ``data/processed``, ``reports/figures``,
``reports/metrics``), on a kernel named ``velib`` that
runs this very interpreter (registered in its prefix on first use), with the
project root as working directory and first on PYTHONPATH, so a clone imports
its own ``pipeline``. The notebook's real outputs are its figures and metrics.

Kernel transport: jupyter_client starts kernels on local TCP ports without
encryption unless told otherwise, and ipykernel 7 then warns "Kernel is running
over TCP without encryption" on every run. The kernel manager here provisions
CurveZMQ keys (``transport_encryption``; the kernelspec that ipykernel writes
declares ``supported_encryption: curve``), so the channels are encrypted and
the warning has no cause. Without CurveZMQ in pyzmq it falls back to plain TCP
and the warning shows again, truthfully.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path
from typing import Any

import yaml

KERNEL = "velib"
log = logging.getLogger("run_notebook")


def ensure_kernel() -> str:
    """Register a kernelspec for this interpreter (idempotent) and return its name."""
    from jupyter_client.kernelspec import KernelSpecManager, NoSuchKernel

    try:
        spec = KernelSpecManager().get_kernel_spec(KERNEL)
        if spec.argv and Path(spec.argv[0]).resolve() == Path(sys.executable).resolve():
            return KERNEL
    except NoSuchKernel:
        pass
    from ipykernel.kernelspec import install

    install(kernel_name=KERNEL, display_name="Python (velib)", prefix=sys.prefix)
    return KERNEL


def load_parameters(root: Path, section: str, overrides: list[str]) -> dict[str, Any]:
    """``base`` merged with one section of params.yaml, then ``key=value`` (YAML values).

    The merge is the pipeline's own (``project.params_section``), so notebooks and
    stages read params.yaml one way.
    """
    from pipeline.settings import project

    params = project.params_section(section, root / "params.yaml")
    for item in overrides:
        key, sep, value = item.partition("=")
        if not sep:
            raise SystemExit(f"run_notebook: bad -p {item!r}: expected key=value")
        params[key] = yaml.safe_load(value)
    return params


def for_recording(params: dict[str, Any], name: str, root: Path) -> dict[str, Any]:
    """The parameters pointed at one recording: its tables, figures and metrics folders.

    The folders are the recording's (``pipeline.settings.recordings``: the layout the
    DVC stages declare as outputs); ``recording`` is its name, for notebooks that say it.
    A notebook receives only the ones it declares.
    """
    from pipeline.settings import project, recordings

    recording = recordings.named(name, project.load_params(root / "params.yaml"))
    return {
        **params,
        "recording": recording.name,
        "processed_dir": str(recording.processed),
        "figures_dir": str(recording.figures),
        "metrics_dir": str(recording.metrics),
        "forecast_dir": str(recording.forecasts),
    }


def kernel_config() -> Any:
    """Kernel-manager settings: encrypted channels when pyzmq can (see the module doc)."""
    import zmq
    from traitlets.config import Config

    policy = "auto" if zmq.has("curve") else "disabled"
    return Config({"KernelManager": {"transport_encryption": policy}})


def kernel_manager_class() -> type:
    """jupyter_client's kernel manager, minus the SIGINT it sends before every shutdown.

    It interrupts a kernel before asking it to shut down; when the signal lands
    while the kernel is still finishing its last reply, ipykernel logs "ERROR |
    KeyboardInterrupt caught in kernel." on a run that succeeded. A notebook run
    to its end leaves the kernel idle, and the shutdown request alone stops it
    (one that does not is still terminated, then killed, after the usual wait).
    """
    from jupyter_client import AsyncKernelManager

    class QuietShutdownKernelManager(AsyncKernelManager):
        async def _async_interrupt_kernel(self) -> None:
            if not self.shutting_down:
                await super()._async_interrupt_kernel()

    return QuietShutdownKernelManager


def quiet_inspect(source: Path) -> dict[str, Any]:
    """The parameters the notebook declares, without papermill's "Input Notebook" line.

    ``inspect_notebook`` logs "Input Notebook: ..." at INFO, and then
    ``execute_notebook`` logs it again for the same file: once is enough.
    """
    import papermill

    logger = logging.getLogger("papermill")
    level = logger.level
    logger.setLevel(logging.WARNING)
    try:
        return papermill.inspect_notebook(str(source))
    finally:
        logger.setLevel(level)


def run(notebook: Path, root: Path, params: dict[str, Any], build: Path) -> Path:
    """Convert, execute, and return the executed .ipynb path."""
    import jupytext
    import papermill

    build.mkdir(parents=True, exist_ok=True)
    source = build / f"{notebook.stem}.source.ipynb"
    executed = build / f"{notebook.stem}.ipynb"
    nb = jupytext.read(notebook)
    kernel = ensure_kernel()
    nb.metadata["kernelspec"] = {
        "name": kernel,
        "display_name": "Python (velib)",
        "language": "python",
    }
    nb.metadata["language_info"] = {"name": "python"}
    jupytext.write(nb, source)
    os.environ["PYTHONPATH"] = os.pathsep.join(
        p for p in (str(root), os.environ.get("PYTHONPATH", "")) if p
    )
    os.environ.setdefault("MPLBACKEND", "Agg")
    declared = quiet_inspect(source)
    papermill.execute_notebook(
        str(source),
        str(executed),
        parameters={k: v for k, v in params.items() if k in declared},
        kernel_name=kernel,
        cwd=str(root),
        progress_bar=False,
        request_save_on_cell_execute=False,
        config=kernel_config(),
        kernel_manager_class=kernel_manager_class(),
    )
    return executed


def main(argv: list[str] | None = None) -> int:
    """Command line: NOTEBOOK [--section analysis] [-p key=value ...]."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("notebook", type=Path, help="analysis/NN-name.py (jupytext py:percent)")
    parser.add_argument("--section", default="analysis", help="params.yaml section (analysis)")
    parser.add_argument(
        "--recording",
        metavar="NAME",
        help="a recording of params.yaml recordings: its tables in, its figures and metrics out",
    )
    parser.add_argument("-p", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--build", type=Path, default=Path("build/notebooks"))
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    if not args.notebook.is_file():
        print(f"run_notebook: no such notebook: {args.notebook}", file=sys.stderr)
        return 2
    root = Path.cwd().resolve()
    params = load_parameters(root, args.section, args.overrides)
    # Which parameters, not their values: params.yaml holds them (and DVC tracks them).
    given = f"; -p {' '.join(args.overrides)}" if args.overrides else ""
    log.info("%s with params.yaml %s%s", args.notebook, args.section, given)
    build = root / args.build
    if args.recording:
        from pipeline.settings.declare import UserError

        try:
            params = for_recording(params, args.recording, root)
        except UserError as exc:
            print(f"run_notebook: {exc}", file=sys.stderr)
            return 2
        build = build / args.recording
    out = run(args.notebook.resolve(), root, params, build.resolve())
    log.info("executed notebook: %s", out.relative_to(root))
    return 0


if __name__ == "__main__":
    sys.exit(main())
