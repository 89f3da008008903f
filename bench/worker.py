"""One measured stage in its own process: ``python -m bench.worker IN.json OUT.json``.

A stage runs in a fresh interpreter so its peak RSS is its own, not the sum of
the stages before it. The orchestrator (:mod:`bench.__main__`) writes the
stage's parameters to ``IN.json`` and reads the figures from ``OUT.json``.
Within a stage, each measured run and its ceiling alternate round after round,
so a burst of load from other processes hits both.
"""

from __future__ import annotations

import json
import logging
import sys
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench import kafka_stages as ks
from bench import workload
from bench.forecast_stage import stage_forecast
from bench.measure import RssSampler, timed

log = logging.getLogger("bench.worker")


def _rounds(
    runs: int, contenders: dict[str, Callable[[], dict[str, Any]]]
) -> dict[str, list[dict[str, Any]]]:
    """Run each contender once per round, rotating who goes first."""
    names = list(contenders)
    out: dict[str, list[dict[str, Any]]] = {name: [] for name in names}
    for r in range(runs):
        order = names[r % len(names) :] + names[: r % len(names)]
        for name in order:
            result = timed(contenders[name])
            log.info("round %d %s: %s", r + 1, name, result)
            out[name].append(result)
    return out


def _topic(prefix: str) -> str:
    return f"{prefix}.{uuid.uuid4().hex[:8]}"


def stage_ingest(p: dict[str, Any]) -> dict[str, Any]:
    """Ingest vs raw kafka-python vs confluent-kafka, same messages; fills the later topics."""
    from pipeline.ingest.job import emitted_records

    base = workload.load(Path(p["cache"]))
    snaps = workload.materialize(base, p["records"])
    del base
    records = [r for s in snaps for r in s.records]
    messages = workload.messages(emitted_records(records))
    del records
    bootstrap = p["bootstrap"]
    ingest_topics: list[str] = []

    def ingest_once() -> dict[str, Any]:
        ingest_topics.append(_topic("bench.ingest"))
        return ks.run_ingest(snaps, bootstrap, ingest_topics[-1])

    with RssSampler() as rss:
        runs = _rounds(
            p["runs"],
            {
                "ingest": ingest_once,
                "kafka_python_producer": lambda: ks.run_kafka_python_producer(
                    messages, bootstrap, _topic("bench.kp")
                ),
                "confluent_kafka_producer": lambda: ks.run_confluent_producer(
                    messages, bootstrap, _topic("bench.ck")
                ),
            },
        )
    # Topics for the stream stage (each size, with ingest's heartbeat) and a small warm-up.
    base = workload.load(Path(p["cache"]))
    stream_topics = {}
    for size in p["stream_sizes"]:
        topic = _topic(f"bench.stream{size}")
        stream_topics[str(size)] = {
            "topic": topic,
            "records": ks.fill_stream_topic(base, size, p["heartbeat_s"], bootstrap, topic),
        }
    warm_topic = _topic("bench.warmup")
    ks.run_kafka_python_producer(messages[: p["warmup_records"]], bootstrap, warm_topic)
    return {
        "runs": runs,
        "messages": len(messages),
        "message_bytes_mean": round(sum(len(v) for _, v in messages) / max(len(messages), 1), 1),
        "capture_topic": ingest_topics[0],
        "capture_topic_records": runs["ingest"][0]["emitted"],
        "stream_topics": stream_topics,
        "warmup_topic": warm_topic,
        "rss": rss.result(),
    }


def stage_capture(p: dict[str, Any]) -> dict[str, Any]:
    """Capture vs a raw consumer loop on the same topic, fresh group and folder each run."""
    bootstrap, topic, n = p["bootstrap"], p["topic"], p["records"]
    with RssSampler() as rss:
        runs = _rounds(
            p["runs"],
            {
                "capture": lambda: ks.run_capture(bootstrap, topic, n, _topic("bench.capture")),
                "kafka_python_consumer": lambda: ks.run_raw_consumer(
                    bootstrap, topic, n, _topic("bench.consumer")
                ),
            },
        )
    return {"runs": runs, "rss": rss.result()}


def stage_ingest_memory(p: dict[str, Any]) -> dict[str, Any]:
    """One ingest of a lazily built workload: the peak RSS is ingest's (plus the base history)."""
    base = workload.load(Path(p["cache"]))
    with RssSampler() as rss:
        result = timed(
            lambda: ks.run_ingest(
                workload.scaled(base, p["records"]), p["bootstrap"], _topic("bench.mem")
            )
        )
    return {**result, **rss.result()}


def stage_capture_memory(p: dict[str, Any]) -> dict[str, Any]:
    """One capture of ``records`` messages: its peak RSS."""
    with RssSampler() as rss:
        result = timed(
            lambda: ks.run_capture(p["bootstrap"], p["topic"], p["records"], _topic("bench.memc"))
        )
    return {**result, **rss.result()}


def stage_stream(p: dict[str, Any]) -> dict[str, Any]:
    """The Spark job vs a plain Kafka -> Parquet copy at each size, one session for all."""
    from bench import spark_stages as ss
    from pipeline.stream.session import get_spark

    spark = get_spark("velib-bench")
    bootstrap = p["bootstrap"]
    alerts_topic = _topic("bench.alerts")
    sizes: dict[str, Any] = {}
    with RssSampler(children=True) as rss:  # the Spark JVM is a child of this process
        try:
            # The first query of a session loads the Kafka source and Parquet writer
            # classes; a small copy pays that. The job's own first-run costs stay in.
            warm = timed(lambda: ss.run_plain_copy(spark, bootstrap, p["warmup_topic"]))
            log.info("warm-up copy: %s", warm)
            for size, spec in p["topics"].items():
                topic = spec["topic"]
                sizes[size] = _rounds(
                    p["runs"] if int(size) <= p["small_max"] else 1,
                    {
                        "stream": lambda t=topic: ss.run_stream_job(
                            spark, bootstrap, t, alerts_topic
                        ),
                        "spark_plain_copy": lambda t=topic: ss.run_plain_copy(spark, bootstrap, t),
                    },
                )
        finally:
            spark.stop()
    return {"sizes": sizes, "warmup_copy": warm, "rss": rss.result()}


def stage_live(p: dict[str, Any]) -> dict[str, Any]:
    """Live-sized micro-batches: each recording's real polls, one batch each, one session."""
    from datetime import date

    from bench.live_stage import run_live
    from pipeline.stream.session import get_spark

    spark = get_spark("velib-bench-live")
    out: dict[str, Any] = {}
    with RssSampler(children=True) as rss:
        try:
            for name, spec in p["recordings"].items():
                out[name] = run_live(
                    spark,
                    p["bootstrap"],
                    Path(spec["path"]),
                    date.fromisoformat(spec["first"]),
                    p["polls"],
                    p["singles"],
                )
                log.info("live %s: %s", name, {k: v for k, v in out[name].items() if "_s" in k})
        finally:
            spark.stop()
    return {"recordings": out, "rss": rss.result()}


def stage_run(p: dict[str, Any]) -> dict[str, Any]:
    """`velib run` on the default recording, stage by stage, beside its two ceilings."""
    from bench import spark_stages as ss
    from pipeline.stream.session import get_spark

    spark = get_spark("velib-bench-run")  # the run reuses it, the plain copy too
    with RssSampler(children=True) as rss:
        try:
            result = ss.run_recording(spark, p["bootstrap"])
        finally:
            spark.stop()
    return {**result, "rss": rss.result()}


def stage_e2e(p: dict[str, Any]) -> dict[str, Any]:
    """`make run`-style chain on the scaled workload; RSS of every process it starts."""
    from bench import spark_stages as ss

    base = workload.load(Path(p["cache"]))
    with RssSampler(interval_s=0.1, children=True) as rss:
        result = timed(
            lambda: ss.run_chain_scaled(workload.scaled(base, p["records"]), Path(p["history"]))
        )
    return {**result, **rss.result()}


STAGES: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {
    "ingest": stage_ingest,
    "capture": stage_capture,
    "ingest_memory": stage_ingest_memory,
    "capture_memory": stage_capture_memory,
    "stream": stage_stream,
    "live": stage_live,
    "run": stage_run,
    "e2e": stage_e2e,
    "forecast": stage_forecast,
}


def main(argv: list[str]) -> int:
    """Read the parameters, run the stage, write its figures."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    for noisy in ("kafka", "py4j"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    # each micro-batch's steps and commits in the stage's log: where a batch's time goes
    logging.getLogger("pipeline.stream.microbatch").setLevel(logging.DEBUG)
    params = json.loads(Path(argv[0]).read_text(encoding="utf-8"))
    result = STAGES[params["stage"]](params)
    Path(argv[1]).write_text(json.dumps(result, default=str), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
