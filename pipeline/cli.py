"""The ``velib`` command: options declared from the stages' settings, one call per stage.

Every subcommand's options are generated from its settings class
(:mod:`pipeline.settings`), so ``--help`` shows each effective default and where
it can be changed; a handler builds the settings, calls the stage's
``run(settings)`` and writes its one-line summary on stdout (logs go to
stderr). An error a user can fix (:class:`pipeline.settings.declare.UserError`, a
refused Kafka login, an argparse usage error) or a failure of the Kafka cluster (any
``kafka.errors.KafkaError``: brokers down, a refused write, a timeout) is one line on
stderr and exit status 2; any other exception is a bug and keeps its traceback.
Stages never import this module.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, NoReturn

from pipeline.kafka.security import KafkaSecurity
from pipeline.settings.capture import CaptureSettings
from pipeline.settings.compare import CompareSettings
from pipeline.settings.declare import Settings, UserError, add_options, overrides_from
from pipeline.settings.forecast import (
    EvaluateSettings,
    LiveForecastSettings,
    PredictSettings,
    TrainSettings,
)
from pipeline.settings.ingest import IngestSettings
from pipeline.settings.local import BrokerSettings, FeedSettings
from pipeline.settings.run import RunSettings
from pipeline.settings.stream import StreamSettings
from pipeline.settings.tables import CompactSettings, HistorySettings

log = logging.getLogger("velib")

Handler = Callable[[Any], int]


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line (with a hint), not the whole usage text."""

    def error(self, message: str) -> NoReturn:
        """Print one line and exit 2."""
        self.exit(2, f"{self.prog}: {message} (see {self.prog} --help)\n")


def _out(line: str) -> None:
    """The command's result: one line on stdout."""
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


# --- handlers: settings in, the stage's summary out ----------------------------------


def _broker(s: BrokerSettings) -> int:
    from pipeline.kafka import serve

    def ready(bootstrap: str) -> None:
        _out(f"ready: {bootstrap}")  # the contract with scripts: host:port[,host:port...]

    serve.run(s, ready)
    return 0


def _ingest(s: IngestSettings) -> int:
    from pipeline.ingest import job as ingest

    _out(f"ingest: {ingest.run(s).line()}")
    return 0


def _capture(s: CaptureSettings) -> int:
    from pipeline.capture import job as capture

    _out(f"capture: {capture.run(s).line()}")
    return 0


def _stream(s: StreamSettings) -> int:
    from pipeline.stream import job as stream

    _out(f"stream: {stream.run(s).line()}")
    return 0


def _compare(s: CompareSettings) -> int:
    from pipeline.compare import job as compare

    _out(f"{compare.summary_line(compare.run(s))}; report in {s.out}")
    return 0


def _history(s: HistorySettings) -> int:
    from pipeline.delta import history

    for line in history.run(s).lines():
        _out(line)
    return 0


def _compact(s: CompactSettings) -> int:
    from pipeline.delta import maintain

    summary = maintain.run(s)
    _out(f"compact: {summary.line()}")
    return 1 if summary.errors else 0


def _run(s: RunSettings) -> int:
    if s.live:
        return _run_live(s)
    from pipeline import run

    for line in run.run(s).lines():
        _out(line)
    shown = [_relative(p) if p is not None else "-" for p in (s.csv_out, s.out, s.metrics)]
    _out(f"outputs: {shown[0]} (CSV), {shown[1]} (Parquet), {shown[2]} (metrics)")
    return 0


def _run_live(s: RunSettings) -> int:
    from pipeline import live  # only here: a replay (the DVC stream stage) never imports it

    result = live.run_live(s)
    _out(live.status_line(result["status"], result["restarts"]))
    return 0


def _forecast_train(s: TrainSettings) -> int:
    from pipeline.forecast import train

    _out(f"{train.run(s).line()}; model in {_relative(s.model_out)}")
    return 0


def _forecast_predict(s: PredictSettings) -> int:
    from pipeline.forecast import predict

    _out(f"{predict.run(s).line()}; predictions in {_relative(s.out)}")
    return 0


def _forecast_evaluate(s: EvaluateSettings) -> int:
    from pipeline.forecast import evaluate

    summary = evaluate.run(s)
    final = bool(summary.final)
    scores = summary.final if final else summary.development
    period = "final test" if final else "development"
    for line in evaluate_lines(summary.targets, summary.common, summary.served, period, scores):
        _out(line)
    where = f"{_relative(s.metrics)}; by horizon, hour and area in {_relative(s.details)}"
    _out(f"  metrics in {where}; served forecasts in {_relative(s.serving)}")
    return 0


# The columns of `velib forecast evaluate`'s table, from the final test's metrics (evaluate's
# names without their `final_test_` prefix and `_hNN` suffix): heading, metric, format.
EVALUATE_COLUMNS: tuple[tuple[str, str, str], ...] = (
    ("MAE vs persistence", "mae_ratio_served_vs_persistence", "{:.3f}"),  # the served forecast
    ("P(empty) Brier skill", "brier_skill_empty_vs_smoothed_persistence", "{:.3f}"),
    ("P(full) Brier skill", "brier_skill_full_vs_smoothed_persistence", "{:.3f}"),
    ("in 80%", "coverage80_share", "{:.1%}"),  # the share of targets inside the 80 % interval
)


def evaluate_lines(
    targets: int, common: int, served: dict[int, str], period: str, scores: dict[str, Any]
) -> list[str]:
    """The evaluation as people read it: counts, then one period's scores per horizon, rounded.

    The period is the final test (days no development choice looked at) when the
    recording has one, else the development days; each figure has its 95 % bootstrap
    interval. A MAE ratio under 1 and a Brier skill above 0 beat the baseline
    (persistence; smoothed persistence for the probabilities).
    """

    def cell(metric: str, h: int, form: str) -> str:
        value = scores.get(f"{metric}_h{h}")
        if value is None:
            return "n/a"
        lo, hi = scores.get(f"{metric}_h{h}_lo"), scores.get(f"{metric}_h{h}_hi")
        text = form.format(float(value))
        if lo is None or hi is None or form.endswith("%}"):
            return text
        return f"{text} [{form.format(float(lo))}, {form.format(float(hi))}]"

    rows = [
        [f"+{h} min", served.get(h, "model"), *(cell(m, h, f) for _, m, f in EVALUATE_COLUMNS)]
        for h in sorted(served or {15: "", 30: "", 60: ""})
    ]
    head = ["", "served", *(name for name, _, _ in EVALUATE_COLUMNS)]
    widths = [max(len(r[i]) for r in [head, *rows]) for i in range(len(head))]
    table = ["  " + "  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip()
             for r in [head, *rows]]  # fmt: skip
    return [
        f"forecast evaluate: {common:,} of {targets:,} observed targets scored by every forecast; "
        f"{period} days:",
        *table,
    ]


def _forecast_live(s: LiveForecastSettings) -> int:
    from pipeline.forecast import live

    _out(live.run(s).line())
    return 0


FORECAST: dict[str, tuple[type[Settings], Handler, str, str]] = {
    "train": (
        TrainSettings,
        _forecast_train,
        "learn from the stream's tables of a recording (--processed) into --model-out",
        "Learn bikes and docks at +15, +30 and +60 min from the stream's tables (status/ and the "
        "poll log polls/), with features from the past only. With --rolling-days N the model "
        "file also holds one member per each of the last N Paris days, trained on the days "
        "before it: predict then gives a rolling-origin forecast over held-out days. "
        "See docs/forecast.md.",
    ),
    "predict": (
        PredictSettings,
        _forecast_predict,
        "forecast every station at every issue time of --processed into --out (Parquet)",
        "One row per (station_code, issued_at, horizon_minutes in 15/30/60) with target_at, "
        "last_observed_at, bikes_pred, bikes_p10, bikes_p90, docks_pred, p_empty, p_full, "
        "issued at every --every window end of the tables' data, using only what was observed "
        "before issued_at and the newest model member whose cut-off is not after it.",
    ),
    "evaluate": (
        EvaluateSettings,
        _forecast_evaluate,
        "score --predictions on the observed targets of --processed against both baselines",
        "Score forecasts on observed targets only (a poll listing the station within half an "
        "issue step of target_at) against persistence and climatology on the same targets: "
        "MAE, RMSE, skill, Brier, precision/recall of empty, interval coverage, by horizon, "
        "hour, arrondissement and day. Writes --metrics, --details and --scored.",
    ),
    "live": (
        LiveForecastSettings,
        _forecast_live,
        "append forecasts for the next hour each time the live stream closes a window",
        "Watch the live stream's tables (--processed); each time a window closes, forecast "
        "every station for the next hour from that window end and append the rows to the "
        "forecasts/ table (--out), one file per issue time, so a restart never duplicates one. "
        "Without a model file it says so once and stays idle. velib run --live starts it.",
    ),
}


def _relative(path: Path | str) -> str:
    """A path as the user would type it: relative to the current folder when inside it."""
    try:
        return str(Path(path).resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def _feed(s: FeedSettings) -> int:
    from pipeline.localfeed import job
    from pipeline.localfeed.server import FeedServer

    def ready(feed: FeedServer) -> None:
        _out(f"ready: {feed.url}/")
        _out(f"VELIB_GBFS_BASE_URL={feed.gbfs_base_url}")
        _out(f"VELIB_OPENDATA_URL={feed.opendata_url}")

    job.run(s, ready)
    return 0


COMMANDS: dict[str, tuple[type[Settings], Handler, str, str]] = {
    "broker": (
        BrokerSettings,
        _broker,
        "a local Kafka (KRaft) broker, or a cluster (--brokers 3), in the foreground",
        "Start Apache Kafka (KRaft, from the Maven jars of `make jars`) and print "
        "'ready: HOST:PORT' once it accepts clients ('ready: HOST:P1,HOST:P2,HOST:P3' "
        "with --brokers 3: one controller and three brokers, each with its own data "
        "folder). Ctrl-C or SIGTERM stops every node cleanly; none outlives the command.",
    ),
    "ingest": (
        IngestSettings,
        _ingest,
        "read a Vélib' source, normalize, detect changes, produce",
        "Normalize a Vélib' source into one keyed JSON message per station, emitted only "
        "when its state changed (or on heartbeat); rejects go to the dead-letter topic. "
        "Ctrl-C or SIGTERM ends after the current snapshot. Prints one summary line.",
    ),
    "capture": (
        CaptureSettings,
        _capture,
        "consume the status topic into CSV files",
        "Consume the status topic in a consumer group into CSV files "
        "OUT/date=YYYY-MM-DD/part-<partition>-<first offset>.csv (UTC date of observed_at). "
        "Files appear only when complete; offsets are kept in OUT/_offsets (or --offsets) so "
        "a restart after any crash writes each record exactly once. Invalid messages go to "
        "OUT/_rejected/. Ctrl-C or SIGTERM publishes what is pending and exits 0.",
    ),
    "stream": (
        StreamSettings,
        _stream,
        "Spark Structured Streaming: Kafka -> Delta tables, indicators over time, alerts",
        "Read the status and polls topics with Spark and write under OUT: status/, polls/, "
        "indicators_station/, indicators_area/, alerts/ (also sent to the alerts topic) and "
        "_rejected/, Delta tables partitioned by UTC date, each micro-batch committed once "
        "(keyed by the query and batch ids), with one checkpoint (OUT/_checkpoints). "
        "Indicators are over the time each state was in force. Re-running resumes from the "
        "checkpoint.",
    ),
    "compare": (
        CompareSettings,
        _compare,
        "compare two snapshot sets (stations, capacity, availability per area), saying when",
        "Compare snapshot set A with B: stations added/removed/renumbered/renamed/moved, "
        "capacity changes, and availability per network, commune and arrondissement (B - A "
        "with its day-to-day spread), at the same Paris hours and day types where both sides "
        "have them; the report says when each side was taken. A and B are recorded files or "
        "folders, archives, or processed roots; --rev-a/--rev-b read them at a git revision "
        "(dvc.api); a root of Delta tables is read at a table version (exact) or time "
        "(approximate) with A@12 or --a-as-of (velib history lists the versions); "
        "--a-dates/--b-dates are Paris dates. Writes OUT/report.md, stations.csv, "
        "areas.csv, areas.png (only when A and B are like with like) and prints one line.",
    ),
    "history": (
        HistorySettings,
        _history,
        "list each Delta table's versions and what wrote them",
        "List the newest versions of every Delta table under ROOT (a live folder's "
        "processed/, velib stream --out, or one table; without ROOT, the project's: "
        "data/live/processed, data/run and data/processed): version, commit time (UTC), "
        "operation (WRITE, OPTIMIZE, VACUUM ...), the micro-batch that wrote it and its rows. "
        "Read with deltalake, no Spark. A version number is what velib compare A@VERSION reads "
        "(version 0 is the empty table a CREATE TABLE committed: the first write is 1).",
    ),
    "compact": (
        CompactSettings,
        _compact,
        "compact old date partitions of Delta tables and vacuum removed files",
        "For every Delta table under ROOT: rewrite each date partition but the newest that "
        "holds several files as one file (OPTIMIZE), then delete the files no version newer "
        "than --retain hours refers to (VACUUM) and the log entries as old; the stream's state "
        "table is only vacuumed. Safe while the stream writes; velib run --live runs it every "
        "compact.every_hours. Read and written with deltalake, no Spark. Prints one line.",
    ),
    "run": (
        RunSettings,
        _run,
        "the main job: local broker, replay ingest, capture and Spark stream",
        "Replay a recording (params.yaml base.recording: a name of params.yaml recordings, its "
        "folder on its Paris dates) through a local Kafka broker (or KAFKA_BOOTSTRAP_SERVERS) "
        "into CSV and Delta tables, print a summary, stop everything. The stream's own tables "
        "and checkpoints stay in WORK_DIR; OUT gets their canonical export (the same bytes for "
        "the same inputs). Outputs are rewritten completely, under the recording's name.",
    ),
}


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with every subcommand, options generated from the settings."""
    parser = _Parser(
        prog="velib",
        description="Paris Vélib' availability: Kafka ingest, CSV capture, Spark streaming.",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, (cls, handler, help_line, description) in COMMANDS.items():
        p = sub.add_parser(name, help=help_line, description=description)
        add_options(p, cls)
        p.set_defaults(settings=cls, handler=handler)
    feed = sub.add_parser("feed", help="a local Vélib' feed serving a recording (demos, soak)")
    verbs = feed.add_subparsers(dest="verb", required=True, metavar="VERB")
    serve = verbs.add_parser(
        "serve",
        help="serve RECORDING until Ctrl-C or SIGTERM",
        description="Serve recorded GBFS snapshots and open-data history on 127.0.0.1 as the "
        "live feeds would, advancing at --speed, with faults on demand. Prints 'ready: URL' and "
        "the VELIB_GBFS_BASE_URL and VELIB_OPENDATA_URL values to use.",
    )
    add_options(serve, FeedSettings)
    serve.set_defaults(settings=FeedSettings, handler=_feed)
    forecast = sub.add_parser(
        "forecast",
        help="bikes and docks at every station in 15, 30 and 60 minutes: train, predict, evaluate",
        description="Forecasts of every station's bikes and docks at +15, +30 and +60 minutes, "
        "with 80 %% intervals and P(empty)/P(full), learnt from the stream's tables and scored "
        "against persistence and climatology on held-out days (docs/forecast.md).",
    )
    steps = forecast.add_subparsers(dest="verb", required=True, metavar="VERB")
    for name, (cls, handler, help_line, description) in FORECAST.items():
        p = steps.add_parser(name, help=help_line, description=description)
        add_options(p, cls)
        p.set_defaults(settings=cls, handler=handler)
    return parser


def _not_a_slow_task_notice(record: logging.LogRecord) -> bool:
    """Drop kafka-python's "Task ... ran for 0.1xx s ... blocking the event loop" notice.

    It checks kafka-python's own event loop for bugs; on a busy machine (2 cores,
    ingest parsing a file while the network thread waits for the GIL) it fires on a
    normal run and reads like a fault. ``--verbose`` keeps it.
    """
    return "blocking the event loop" not in str(record.msg)


def configure_logging(verbose: bool) -> None:
    """Logs on stderr: ours at INFO (DEBUG with --verbose), the libraries' at WARNING."""
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    for name, level in (("kafka", logging.WARNING), ("py4j", logging.WARNING)):
        logging.getLogger(name).setLevel(level)
    # kafka-python warns on every SASL_PLAINTEXT connection (even SCRAM, which never sends
    # the password): one line per client would drown the command's own lines.
    logging.getLogger("kafka.net.sasl").setLevel(logging.ERROR)
    selector = logging.getLogger("kafka.net.selector")
    selector.removeFilter(_not_a_slow_task_notice)
    if not verbose:
        selector.addFilter(_not_a_slow_task_notice)


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``velib``; returns the process exit code."""
    args = build_parser().parse_args(argv)
    configure_logging(args.verbose)
    try:
        return int(args.handler(args.settings.build(overrides_from(args, args.settings))) or 0)
    except KeyboardInterrupt:
        return 130
    except Exception as exc:  # noqa: BLE001 - sorted into one-line errors or re-raised
        message = _user_error(exc)
        if message is None:
            raise
        return _fail(args.command, message)


def _user_error(exc: BaseException) -> str | None:
    """The one line to show for an error the user can fix, or None for a bug."""
    from kafka.errors import KafkaError

    from pipeline.kafka.security import refused_login

    login = refused_login(exc)  # wrong credentials, from any stage and client (Spark's too)
    if login is not None:
        return login
    if isinstance(exc, UserError):
        return str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    if isinstance(exc, KafkaError):  # the cluster's state, not a bug
        return _kafka_line(exc)
    return None


def _kafka_line(exc: BaseException) -> str:
    """A Kafka error's first line, named: ours (DeliveryFailed...) already say what failed."""
    name, text = type(exc).__name__, (str(exc).splitlines() or [""])[0]
    if not text:
        return name
    if name in text or not type(exc).__module__.startswith("kafka."):
        return text
    return f"{name}: {text}"


def _fail(command: str, message: str) -> int:
    """Print one error line (secrets of the KAFKA_* variables scrubbed) and return 2."""
    line = KafkaSecurity.from_env().redact(" ".join(message.split()))
    print(f"velib {command}: {line}", file=sys.stderr)  # noqa: T201
    return 2


if __name__ == "__main__":
    sys.exit(main())
