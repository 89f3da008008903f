"""The ``velib`` command: thin subcommands over the stage modules.

Each subcommand parses its options here and calls one function of its stage;
stages never import this module. Usage errors print one line and exit 2.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence

from pipeline import config

log = logging.getLogger("velib")


class UsageError(Exception):
    """A bad argument or input the user can fix: printed as one line, exit 2."""


def _common_kafka(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--bootstrap-servers",
        default=config.bootstrap_servers(),
        help="Kafka bootstrap servers (env KAFKA_BOOTSTRAP_SERVERS; default %(default)s)",
    )


# --- broker ----------------------------------------------------------------


def _add_broker(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("broker", help="run a local single-node Kafka (KRaft) broker")
    p.set_defaults(func=_run_broker)


def _run_broker(args: argparse.Namespace) -> int:
    raise UsageError("broker: not implemented yet")


# --- ingest ----------------------------------------------------------------


def _add_ingest(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("ingest", help="read a Vélib' source, normalize, detect changes, produce")
    _common_kafka(p)
    p.set_defaults(func=_run_ingest)


def _run_ingest(args: argparse.Namespace) -> int:
    raise UsageError("ingest: not implemented yet")


# --- capture ---------------------------------------------------------------


def _add_capture(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("capture", help="consume the status topic into CSV files")
    _common_kafka(p)
    p.set_defaults(func=_run_capture)


def _run_capture(args: argparse.Namespace) -> int:
    raise UsageError("capture: not implemented yet")


# --- stream ----------------------------------------------------------------


def _add_stream(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("stream", help="Spark Structured Streaming: Kafka -> Parquet, alerts")
    _common_kafka(p)
    p.set_defaults(func=_run_stream)


def _run_stream(args: argparse.Namespace) -> int:
    raise UsageError("stream: not implemented yet")


# --- compare ---------------------------------------------------------------


def _add_compare(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("compare", help="compare two data snapshots")
    p.set_defaults(func=_run_compare)


def _run_compare(args: argparse.Namespace) -> int:
    raise UsageError("compare: not implemented yet")


# --- run (the whole chain) -------------------------------------------------


def _add_run(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("run", help="the main job: local broker, ingest, capture, stream")
    p.set_defaults(func=_run_run)


def _run_run(args: argparse.Namespace) -> int:
    raise UsageError("run: not implemented yet")


# --- entry point -------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with every subcommand."""
    parser = argparse.ArgumentParser(
        prog="velib",
        description="Paris Vélib' availability: Kafka ingest, CSV capture, Spark streaming.",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for add in (_add_broker, _add_ingest, _add_capture, _add_stream, _add_compare, _add_run):
        add(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``velib``; returns the process exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    logging.getLogger("kafka").setLevel(logging.WARNING)
    logging.getLogger("py4j").setLevel(logging.WARNING)
    try:
        return int(args.func(args) or 0)
    except UsageError as exc:
        print(f"velib {args.command}: {exc}", file=sys.stderr)  # noqa: T201
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
