"""The ``velib`` command: thin subcommands over the stage modules.

Each subcommand parses its options here and calls one function of its stage;
stages never import this module. Usage errors print one line and exit 2.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

from pipeline import config

log = logging.getLogger("velib")


class UsageError(Exception):
    """A bad argument or input the user can fix: printed as one line, exit 2."""


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line (with a hint), not the whole usage text."""

    def error(self, message: str) -> None:  # type: ignore[override]
        """Print one line and exit 2."""
        self.exit(2, f"{self.prog}: {message} (see {self.prog} --help)\n")


def _common_kafka(parser: argparse.ArgumentParser) -> None:
    """Where the station-status stream lives: the options every Kafka stage shares."""
    parser.add_argument(
        "--bootstrap-servers",
        default=config.bootstrap_servers(),
        help="Kafka bootstrap servers (env KAFKA_BOOTSTRAP_SERVERS; default %(default)s)",
    )
    parser.add_argument(
        "--topic",
        default=config.topic_status(),
        help="station-status topic (env VELIB_TOPIC_STATUS; default %(default)s)",
    )


# --- broker ----------------------------------------------------------------


def _add_broker(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "broker",
        help="run a local single-node Kafka (KRaft) broker in the foreground",
        description="Start Apache Kafka (KRaft, from the Maven jars of `make jars`) and print "
        "'ready: HOST:PORT' once it accepts clients. Ctrl-C or SIGTERM stops it cleanly.",
    )
    p.add_argument("--host", default="127.0.0.1", help="listen address (default %(default)s)")
    p.add_argument(
        "--port", default="9092", help="client port; 0 picks a free one (default %(default)s)"
    )
    p.add_argument("--data-dir", help="keep the log segments here (default: a temporary folder)")
    p.add_argument("--heap", default="512m", help="JVM max heap (default %(default)s)")
    p.add_argument(
        "--sasl",
        action="store_true",
        help="clients log in with SASL/SCRAM-SHA-512 (a user with a random password is "
        "written to DATA_DIR/client.env, mode 0600; source it to set the KAFKA_* variables)",
    )
    p.set_defaults(func=_run_broker)


def _run_broker(args: argparse.Namespace) -> int:
    from pathlib import Path

    from pipeline.broker import BrokerError, LocalBroker, parse_port, serve_forever

    try:
        port = parse_port(args.port)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    data_dir = Path(args.data_dir) if args.data_dir else None
    if data_dir is not None:
        data_dir.mkdir(parents=True, exist_ok=True)
    broker = LocalBroker(
        port=port, data_dir=data_dir, host=args.host, heap=args.heap, sasl=args.sasl
    )

    def ready(b: LocalBroker) -> None:
        if b.credentials is not None:  # names and the file only: the password stays in it
            names = " ".join(b.client_env())
            print(  # noqa: T201 - the command's result
                f"sasl: {b.credentials.mechanism}; clients need {names}\n"
                f"sasl: set them with: . {b.client_env_file}",
                file=sys.stderr,
                flush=True,
            )
        print(f"ready: {b.bootstrap}", flush=True)  # noqa: T201 - the contract with scripts

    try:
        serve_forever(broker, ready)
    except BrokerError as exc:
        raise UsageError(str(exc).splitlines()[0]) from None
    log.info("broker stopped")
    return 0


# --- ingest ----------------------------------------------------------------


def _add_ingest(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "ingest",
        help="read a Vélib' source, normalize, detect changes, produce",
        description="Normalize a Vélib' source into one keyed JSON message per station, "
        "emitted only when its state changed (or on heartbeat); rejects go to the "
        "dead-letter topic. Ends with one summary line.",
    )
    _common_kafka(p)
    p.add_argument(
        "--source",
        choices=("gbfs", "opendata", "replay"),
        default="gbfs",
        help="live GBFS feed, live open-data API, or recorded files (default gbfs)",
    )
    p.add_argument("path", nargs="?", help="with --source replay: a recorded file or folder")
    mode = p.add_mutually_exclusive_group()
    mode.add_argument("--once", action="store_true", help="one poll (live) / one pass (replay)")
    mode.add_argument("--follow", action="store_true", help="poll the live source forever")
    p.add_argument("--interval", type=float, default=60.0, help="seconds between polls (60)")
    p.add_argument(
        "--speed",
        type=float,
        default=0.0,
        help="replay speed-up of recorded time: 0 = as fast as possible (default), "
        "60 = one recorded minute per second",
    )
    p.add_argument(
        "--heartbeat",
        type=float,
        default=None,
        help="re-emit unchanged stations after this many observed seconds, so the stream "
        "knows they are still there (its stale_after must be >= 2x this); 0 disables "
        "(default: params.yaml ingest.heartbeat_s)",
    )
    p.add_argument(
        "--dead-letter-topic",
        default=config.topic_dead_letter(),
        help="dead-letter topic (%(default)s)",
    )
    p.add_argument(
        "--no-restore",
        action="store_true",
        help="do not rebuild change state from the topic at start-up",
    )
    p.set_defaults(func=_run_ingest)


def _run_ingest(args: argparse.Namespace) -> int:
    import threading
    from pathlib import Path

    from kafka.errors import KafkaError

    from pipeline import feeds, ingest, sources

    if args.speed < 0 or args.interval <= 0 or (args.heartbeat or 0) < 0:
        raise UsageError("--speed and --heartbeat must be >= 0, --interval > 0")
    params = config.params_section("ingest")
    stop = threading.Event()
    if args.source == "replay":
        if not args.path:
            raise UsageError("--source replay needs a PATH (a recorded file or folder)")
        if args.follow:
            raise UsageError("--follow is for live sources; replay reads PATH once")
        if not Path(args.path).exists():
            raise UsageError(f"no such file or folder: {args.path}")
        snapshots = sources.read_recorded(Path(args.path))
    else:
        if args.path:
            raise UsageError(f"PATH is only for --source replay (got {args.path!r})")
        if args.source == "gbfs":
            feed: feeds.Feed = feeds.GbfsFeed(config.gbfs_base_url())
        else:
            feed = feeds.OpenDataFeed(config.opendata_url())
        snapshots = feeds.follow(feed, args.interval, stop) if args.follow else iter([feed.poll()])
    heartbeat = params.get("heartbeat_s", 3600) if args.heartbeat is None else args.heartbeat
    try:
        summary = ingest.ingest(
            snapshots,
            bootstrap_servers=args.bootstrap_servers,
            topic=args.topic,
            dead_letter_topic=args.dead_letter_topic,
            heartbeat_s=float(heartbeat),
            speed=args.speed,
            restore_state=not args.no_restore,
            stop=stop,
            on_snapshot=(lambda s: log.info("poll: %s", s.line())) if args.follow else None,
        )
    except KafkaError as exc:
        raise UsageError(f"Kafka at {args.bootstrap_servers}: {exc}") from None
    print(f"ingest: {summary.line()}", file=sys.stderr)  # noqa: T201
    return 0


# --- capture ---------------------------------------------------------------


def _add_capture(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "capture",
        help="consume the status topic into CSV files",
        description=(
            "Consume the status topic in a consumer group into CSV files "
            "DIR/date=YYYY-MM-DD/part-<partition>-<first offset>.csv (UTC date of observed_at). "
            "Files appear only when complete; offsets are kept in DIR/_offsets so a restart "
            "after any crash writes each record exactly once. Invalid messages go to "
            "DIR/_rejected/. Ctrl-C or SIGTERM publishes what is pending and exits 0."
        ),
    )
    _common_kafka(p)
    p.add_argument("--out", default="data/interim/csv", metavar="DIR", help="%(default)s")
    p.add_argument("--group", default="velib-capture", help="consumer group (%(default)s)")
    mode = p.add_mutually_exclusive_group()
    mode.add_argument("--follow", action="store_true", help="run until stopped (the default)")
    mode.add_argument(
        "--until-idle", type=float, metavar="SECONDS", help="stop when nothing new arrives"
    )
    p.add_argument(
        "--max-records", type=int, default=100_000, help="rows per file at most (%(default)s)"
    )
    p.add_argument(
        "--max-seconds", type=float, default=60.0, help="publish files this often (%(default)s)"
    )
    p.set_defaults(func=_run_capture)


def _run_capture(args: argparse.Namespace) -> int:
    import signal
    import threading

    from kafka.errors import KafkaTimeoutError
    from tqdm import tqdm

    from pipeline.capture import CaptureSummary, capture

    if args.max_records < 1 or args.max_seconds <= 0:
        raise UsageError("--max-records and --max-seconds must be positive")
    if args.until_idle is not None and args.until_idle <= 0:
        raise UsageError("--until-idle must be positive")
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    bar = tqdm(unit=" rec", desc="capture", disable=None, mininterval=2.0)

    def progress(summary: CaptureSummary) -> None:
        if bar.disable:  # not a terminal (make run, DVC): a log line instead of a bar
            rate = summary.records / summary.seconds if summary.seconds else 0.0
            log.info("capture: %d records (%.0f/s), %d files", summary.records, rate, summary.files)
            return
        bar.update(summary.records + summary.rejected - bar.n)
        bar.set_postfix(files=summary.files, rejected=summary.rejected, refresh=False)

    try:
        summary = capture(
            bootstrap_servers=args.bootstrap_servers,
            topic=args.topic,
            out_dir=args.out,
            group_id=args.group,
            until_idle_s=args.until_idle,
            max_records=args.max_records,
            max_seconds=args.max_seconds,
            stop=stop,
            progress=progress,
            progress_every_s=2.0 if not bar.disable else 10.0,
        )
    except KafkaTimeoutError as exc:
        raise UsageError(f"Kafka at {args.bootstrap_servers}: {exc}") from None
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    finally:
        bar.close()
    offsets = " ".join(f"{p}:{o}" for p, o in sorted(summary.last_offsets.items())) or "-"
    sys.stdout.write(
        f"captured {summary.records} records ({summary.rejected} rejected, "
        f"{summary.skipped} already in files) into {summary.files} files in "
        f"{summary.seconds:.1f} s; partitions {sorted(summary.partitions)}; "
        f"last offsets {offsets}\n"
    )
    return 0


# --- stream ----------------------------------------------------------------


def _add_stream(sub: argparse._SubParsersAction) -> None:
    params = config.stream_params()
    p = sub.add_parser(
        "stream",
        help="Spark Structured Streaming: Kafka -> Parquet, indicators, alerts",
        description=(
            "Read the status topic with Spark and write under OUT: status/, "
            "indicators_station/, indicators_area/, alerts/ (also sent to the alerts "
            "topic) and _rejected/, each Parquet partitioned by UTC date, with one "
            "checkpoint (OUT/_checkpoints). Indicators are over the time each state was in "
            "force. Re-running resumes from the checkpoint. Window and stale threshold "
            "default to params.yaml (stream:)."
        ),
    )
    _common_kafka(p)
    p.add_argument("--out", default="data/processed", help="output root, path or URI (%(default)s)")
    p.add_argument("--checkpoints", help="checkpoint root (default OUT/_checkpoints)")
    mode = p.add_mutually_exclusive_group()
    mode.add_argument(
        "--available-now",
        action="store_true",
        help="process everything in the topic, then stop (the default)",
    )
    mode.add_argument(
        "--processing-time",
        metavar="INTERVAL",
        help=f"run live, one micro-batch every INTERVAL (params.yaml: {params['processing_time']})",
    )
    p.add_argument("--window", default=params["window"], help="indicator window (%(default)s)")
    p.add_argument(
        "--stale-after",
        default=params["stale_after"],
        help="a station with no record for longer is unknown; keep it >= 2x the ingest "
        "heartbeat (%(default)s)",
    )
    p.add_argument(
        "--alerts-topic", default=config.topic_alerts(), help="alerts topic (%(default)s)"
    )
    p.add_argument(
        "--starting-offsets",
        default="earliest",
        help="earliest | latest | Spark JSON offsets, first run only (%(default)s)",
    )
    p.add_argument(
        "--max-offsets-per-trigger", type=int, help="cap records per micro-batch (default: none)"
    )
    p.add_argument("--master", help="Spark master (default $SPARK_MASTER or local[2])")
    p.set_defaults(func=_run_stream)


def _run_stream(args: argparse.Namespace) -> int:
    params = config.stream_params()
    durations = {
        "--window": args.window,
        "--stale-after": args.stale_after,
        "--processing-time": args.processing_time or params["processing_time"],
    }
    for option, text in durations.items():
        try:
            config.parse_duration(str(text))
        except ValueError as exc:
            raise UsageError(f"{option}: {exc}") from None
    if args.max_offsets_per_trigger is not None and args.max_offsets_per_trigger < 1:
        raise UsageError("--max-offsets-per-trigger must be at least 1")

    from pipeline import kafka_io
    from pipeline.kafka_security import KafkaSecurityError
    from pipeline.sparkenv import get_spark
    from pipeline.stream import run_stream

    # SASL/SSL from the KAFKA_* variables, rendered for Spark as for kafka-python; the
    # login is checked before Spark starts, so wrong credentials are one line at once.
    try:
        kafka_options = config.spark_kafka_options()
    except KafkaSecurityError as exc:
        raise UsageError(str(exc)) from None
    kafka_io.check_login(args.bootstrap_servers)
    summary = run_stream(
        get_spark("velib-stream", args.master),
        bootstrap_servers=args.bootstrap_servers,
        topic=args.topic,
        out_root=args.out,
        checkpoints=args.checkpoints,
        available_now=args.processing_time is None,
        processing_time=durations["--processing-time"],
        window=str(args.window),
        stale_after=str(args.stale_after),
        alerts_topic=args.alerts_topic,
        starting_offsets=args.starting_offsets,
        max_offsets_per_trigger=args.max_offsets_per_trigger,
        kafka_options=kafka_options,
    )
    log.info("stream: %s", summary.line())
    return 0


# --- compare ---------------------------------------------------------------


def _add_compare(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "compare",
        help="compare two data snapshots (stations, capacity, availability per area)",
        description="Compare snapshot set A with B: stations added/removed/renamed/moved, "
        "capacity changes, and availability indicators per commune and arrondissement. "
        "A and B are recorded raw files or folders (GBFS, open-data history) or processed "
        "Parquet roots (with status/); --rev-a/--rev-b read them at a git revision through "
        "dvc.api. Availability is compared at the same Paris hours and day types where both "
        "sides have them; the report says when each side was taken and warns when they differ. "
        "Writes OUT/{report.md,stations.csv,areas.csv,areas.png} and prints one line.",
    )
    p.add_argument("a", metavar="A", help="snapshot set A (path, relative to the repo with --rev)")
    p.add_argument("b", metavar="B", help="snapshot set B")
    p.add_argument("--rev-a", metavar="REV", help="read A at this git revision (dvc.api)")
    p.add_argument("--rev-b", metavar="REV", help="read B at this git revision (dvc.api)")
    p.add_argument("--a-dates", metavar="FROM[:TO]", help="keep A's snapshots of these UTC dates")
    p.add_argument("--b-dates", metavar="FROM[:TO]", help="keep B's snapshots of these UTC dates")
    p.add_argument("--out", default="reports/compare", help="report folder (%(default)s)")
    p.add_argument("--metrics", metavar="JSON", help="also write the summary as metrics JSON")
    p.add_argument(
        "--move-threshold",
        type=float,
        default=None,
        metavar="M",
        help="a station moved if it shifted more than M metres "
        "(default: params.yaml compare.move_threshold_m or 50)",
    )
    p.set_defaults(func=_run_compare)


def _run_compare(args: argparse.Namespace) -> int:
    from pathlib import Path

    from pipeline import compare

    threshold = args.move_threshold
    if threshold is None:
        threshold = float(config.params_section("compare").get("move_threshold_m", 50.0))
    if threshold < 0:
        raise UsageError("--move-threshold must be >= 0")
    try:
        a_dates = compare.parse_dates(args.a_dates) if args.a_dates else None
        b_dates = compare.parse_dates(args.b_dates) if args.b_dates else None
        stale_after = config.parse_duration(config.stream_params()["stale_after"])
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    for path, rev in ((args.a, args.rev_a), (args.b, args.rev_b)):
        if rev is None and not Path(path).exists():
            raise UsageError(f"no such file or folder: {path}")
    try:
        summary = compare.compare(
            compare.Side(args.a, args.rev_a, a_dates),
            compare.Side(args.b, args.rev_b, b_dates),
            Path(args.out),
            metrics_path=Path(args.metrics) if args.metrics else None,
            move_threshold_m=threshold,
            stale_after=stale_after,
        )
    except (FileNotFoundError, ValueError) as exc:
        raise UsageError(str(exc).splitlines()[0]) from None
    sys.stdout.write(f"{compare.summary_line(summary)}; report in {args.out}\n")
    return 0


# --- run (the whole chain) -------------------------------------------------


def _add_run(sub: argparse._SubParsersAction) -> None:
    from pipeline import run

    p = sub.add_parser(
        "run",
        help="the main job: local broker, replay ingest, capture and Spark stream",
        description="Replay recorded data through a local Kafka broker (or --bootstrap-servers) "
        "into CSV (capture) and Parquet (Spark availableNow), print a summary, stop everything. "
        "Outputs are rewritten completely.",
    )
    p.add_argument(
        "--raw",
        action="append",
        type=Path,
        help=f"recorded file or folder, repeatable (default {run.DEFAULT_RAW[0]})",
    )
    p.add_argument("--csv-out", type=Path, default=run.DEFAULT_CSV_OUT, help="capture folder")
    p.add_argument("--out", type=Path, default=run.DEFAULT_OUT, help="Parquet output root")
    p.add_argument("--metrics", type=Path, default=run.DEFAULT_METRICS, help="metrics JSON")
    p.add_argument(
        "--bootstrap-servers",
        default=None,
        help="use this Kafka cluster instead of starting a local broker",
    )
    p.add_argument("--heartbeat", type=float, default=None, help="ingest heartbeat seconds")
    p.set_defaults(func=_run_run)


def _run_run(args: argparse.Namespace) -> int:
    from pipeline.broker import BrokerError
    from pipeline.run import DEFAULT_RAW, run_chain

    try:
        summary = run_chain(
            args.raw or list(DEFAULT_RAW),
            csv_out=args.csv_out,
            out_root=args.out,
            metrics_path=args.metrics,
            bootstrap_servers=args.bootstrap_servers,
            heartbeat_s=args.heartbeat,
        )
    except (FileNotFoundError, BrokerError, ValueError) as exc:
        raise UsageError(str(exc).splitlines()[0]) from None
    for line in summary.lines():
        print(line)  # noqa: T201 - the command's result
    print(f"outputs: {args.csv_out} (CSV), {args.out} (Parquet), {args.metrics} (metrics)")  # noqa: T201
    return 0


# --- entry point -------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with every subcommand."""
    parser = _Parser(
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
    # kafka-python warns on every SASL_PLAINTEXT connection (even SCRAM, which never sends
    # the password): one line per client would drown the command's own lines.
    logging.getLogger("kafka.net.sasl").setLevel(logging.ERROR)
    logging.getLogger("py4j").setLevel(logging.WARNING)
    try:
        return int(args.func(args) or 0)
    except UsageError as exc:
        return _fail(args.command, str(exc))
    except KeyboardInterrupt:
        return 130
    except Exception as exc:
        from pipeline.kafka_security import refused_login

        message = refused_login(exc)  # wrong credentials, from any stage and client
        if message is None:
            raise
        return _fail(args.command, message)


def _fail(command: str, message: str) -> int:
    """Print one error line (secrets of the KAFKA_* variables scrubbed) and return 2."""
    line = config.kafka_security().redact(" ".join(message.split()))
    print(f"velib {command}: {line}", file=sys.stderr)  # noqa: T201
    return 2


if __name__ == "__main__":
    sys.exit(main())
