"""Turn the stages' raw runs into figures, ratios, targets, a table and the JSON report."""

from __future__ import annotations

import os
import platform
import statistics
import subprocess
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

import psutil

from bench.measure import rate, summarize

TARGET_RATIO = 0.5
STREAM_TARGET_RATIO = 0.35  # issue 10: the per-station state pass, at >= 1M records
FORECAST_TRAIN_S = 300  # issue 18: training on the two weeks, 2 cores
FORECAST_PREDICT_S = 1.0  # issue 18: every station at one issue time
FLAT_TOLERANCE = 0.10  # peak RSS at 4x may exceed 1x by this fraction (or 32 MiB) and be "flat"
FLAT_SLACK_MB = 32.0
LIVE_MEDIAN_S = 3.0  # issue 32: a live-sized micro-batch, median
LIVE_P95_S = 5.0  # and its 95th percentile
RUN_S = 120.0  # issue 32: `velib run` on the two weeks
INGEST_SEEN_PER_S = 15_000  # issue 32: ingest of the two weeks' real files, rows seen a second


def machine() -> dict[str, Any]:
    """What the figures were measured on; load averages show how shared it was."""
    model = ""
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text(encoding="utf-8", errors="replace").splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    return {
        "platform": platform.platform(),
        "cpu_model": model or platform.processor(),
        "cpus": os.cpu_count(),
        "memory_gb": round(psutil.virtual_memory().total / 1e9, 1),
        "load_average": [round(x, 2) for x in os.getloadavg()],
    }


def _version(dist: str) -> str:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return "absent"


def versions(root: Path) -> dict[str, Any]:
    """Versions of everything a figure depends on."""
    java = subprocess.run(["java", "-version"], capture_output=True, text=True, check=False)
    kafka_jars = sorted((root / "jvm" / "lib" / "kafka").glob("kafka-clients-*.jar"))
    try:
        import confluent_kafka

        librdkafka = confluent_kafka.libversion()[0]
    except ImportError:
        librdkafka = "absent"
    commit = subprocess.run(
        ["git", "-C", str(root), "rev-parse", "--short", "HEAD"],
        capture_output=True,
        text=True,
        check=False,
    ).stdout.strip()
    return {
        "python": platform.python_version(),
        "java": (java.stderr.splitlines() or ["absent"])[0],
        "kafka_broker": kafka_jars[-1].stem.removeprefix("kafka-clients-") if kafka_jars else "",
        "kafka-python": _version("kafka-python"),
        "confluent-kafka": _version("confluent-kafka"),
        "librdkafka": librdkafka,
        "pyspark": _version("pyspark"),
        "git_commit": commit,
    }


def _ratio(runs_a: list[dict[str, Any]], runs_b: list[dict[str, Any]]) -> float:
    """Median over rounds of seconds(b) / seconds(a): a's speed as a fraction of b's."""
    return round(
        statistics.median(
            float(b["seconds"]) / float(a["seconds"]) for a, b in zip(runs_a, runs_b, strict=True)
        ),
        3,
    )


def figures(raw: dict[str, Any]) -> dict[str, Any]:
    """Medians, ratios and target verdicts from the stages' runs."""
    out: dict[str, Any] = {}
    if "ingest" in raw:
        runs = raw["ingest"]["runs"]
        ingest = summarize(runs["ingest"], ("seen", "emitted"))
        kp = summarize(runs["kafka_python_producer"], ("messages",))
        ck = summarize(runs["confluent_kafka_producer"], ("messages",))
        ratio = _ratio(runs["ingest"], runs["kafka_python_producer"])
        out["ingest"] = {
            "ingest": ingest,
            "ceiling_kafka_python": kp,
            "context_confluent_kafka": ck,
            "message_bytes_mean": raw["ingest"]["message_bytes_mean"],
            "ratio_vs_kafka_python": ratio,
            "ratio_seen_vs_kafka_python": round(
                ratio * ingest["seen"] / max(ingest["emitted"], 1), 3
            ),
            "ratio_vs_confluent_kafka": _ratio(runs["ingest"], runs["confluent_kafka_producer"]),
            "target": TARGET_RATIO,
            "target_met": ratio >= TARGET_RATIO,
            "rss": raw["ingest"]["rss"],
        }
    if "capture" in raw:
        runs = raw["capture"]["runs"]
        ratio = _ratio(runs["capture"], runs["kafka_python_consumer"])
        out["capture"] = {
            "capture": summarize(runs["capture"], ("records",)),
            "ceiling_kafka_python": summarize(runs["kafka_python_consumer"], ("records",)),
            "ratio_vs_kafka_python": ratio,
            "target": TARGET_RATIO,
            "target_met": ratio >= TARGET_RATIO,
            "rss": raw["capture"]["rss"],
        }
    if "stream" in raw:
        sizes = {}
        for size, runs in raw["stream"]["sizes"].items():
            ratio = _ratio(runs["stream"], runs["spark_plain_copy"])
            sizes[size] = {
                "stream": summarize(runs["stream"], ("records",)),
                "rows": runs["stream"][0].get("rows", {}),
                "ceiling_spark_plain_copy": summarize(runs["spark_plain_copy"], ("records",)),
                "ratio_vs_plain_copy": ratio,
                "target": STREAM_TARGET_RATIO,
                "target_met": ratio >= STREAM_TARGET_RATIO,
            }
        out["stream"] = {
            "sizes": sizes,
            "warmup_copy": raw["stream"]["warmup_copy"],
            "peak_rss_mb_by_process": raw["stream"]["rss"].get("peak_rss_mb_by_process", {}),
        }
    if "memory" in raw:
        out["memory"] = {name: _memory(runs) for name, runs in raw["memory"].items()}
    if "live" in raw:
        out["live"] = {
            name: {
                **r,
                "target_median_s": LIVE_MEDIAN_S,
                "target_p95_s": LIVE_P95_S,
                "target_met": r["median_s"] <= LIVE_MEDIAN_S and r["p95_s"] <= LIVE_P95_S,
            }
            for name, r in raw["live"]["recordings"].items()
        }
    if "run" in raw:
        out["run"] = _run(raw["run"])
    if "forecast" in raw:
        fc = raw["forecast"]
        out["forecast"] = {
            **fc,
            "train_target_seconds": FORECAST_TRAIN_S,
            "train_target_met": fc["train_seconds"] < FORECAST_TRAIN_S,
            "predict_target_seconds": FORECAST_PREDICT_S,
            "predict_target_met": fc["predict_seconds_median"] < FORECAST_PREDICT_S,
        }
    if "e2e" in raw:
        runs = raw["e2e"]
        best = sorted(runs, key=lambda r: r["seconds"])[len(runs) // 2]
        out["e2e"] = {
            "runs": len(runs),
            "records": runs[0]["seen"],
            "median_seconds": best["seconds"],
            "records_per_s": rate(runs[0]["seen"], best["seconds"]),
            "peak_rss_mb_by_process": best.get("peak_rss_mb_by_process", {}),
            "peak_rss_mb_total": best.get("peak_rss_mb_total", 0),
            "each_run": runs,
        }
    return out


def _run(r: dict[str, Any]) -> dict[str, Any]:
    """`velib run` per stage, its rates beside the parse-alone and plain-copy ceilings."""
    sec = r["seconds"]
    ingest_rate = rate(r["seen"], sec["ingest"])
    stream_rate = rate(r["stream_records_in"], sec["stream"])
    copy_rate = rate(r["plain_copy_records"], r["plain_copy_s"])
    return {
        **r,
        "ingest_seen_per_s": ingest_rate,
        "parse_rows_per_s": rate(r["parse_rows"], r["parse_s"]),
        "stream_records_per_s": stream_rate,
        "plain_copy_records_per_s": copy_rate,
        "stream_ratio_vs_plain_copy": round(stream_rate / copy_rate, 3) if copy_rate else None,
        "target_total_s": RUN_S,
        "target_met": sec["total"] <= RUN_S,
        "target_ingest_seen_per_s": INGEST_SEEN_PER_S,
        "ingest_target_met": ingest_rate >= INGEST_SEEN_PER_S,
    }


def _memory(by_scale: dict[str, list[dict[str, Any]]]) -> dict[str, Any]:
    """Median peak RSS at each scale; flat when 4x stays within the tolerance of 1x."""
    out: dict[str, Any] = {}
    for scale, runs in by_scale.items():
        out[scale] = {
            "runs": len(runs),
            "records": runs[0]["records_asked"],
            "peak_rss_mb": statistics.median(r["peak_rss_mb"] for r in runs),
            "start_rss_mb": statistics.median(r["start_rss_mb"] for r in runs),
            "median_seconds": statistics.median(r["seconds"] for r in runs),
            "each_run": runs,
        }
    one, four = out["1x"]["peak_rss_mb"], out["4x"]["peak_rss_mb"]
    out["growth_mb"] = round(four - one, 1)
    out["flat"] = four - one <= max(FLAT_SLACK_MB, FLAT_TOLERANCE * one)
    out["flat_rule"] = (
        f"peak(4x) - peak(1x) <= max({FLAT_SLACK_MB:.0f} MiB, {FLAT_TOLERANCE:.0%} of peak(1x))"
    )
    return out


def document(
    figs: dict[str, Any], sizes: dict[str, Any], workload: dict[str, Any], root: Path, wall: float
) -> dict[str, Any]:
    """The whole latest.json."""
    return {
        "generated_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "bench_wall_seconds": round(wall, 1),
        "machine": machine(),
        "versions": versions(root),
        "sizes": sizes,
        "workload": workload,
        "figures": figs,
    }


def _row(name: str, value: str, ceiling: str, ratio: float | None, met: bool | None) -> str:
    verdict = "" if met is None else ("met" if met else "MISSED")
    shown = "" if ratio is None else f"{ratio:.2f}x"
    return f"{name:<22}{value:>24}{ceiling:>26}{shown:>9}  {verdict}"


def table(doc: dict[str, Any]) -> str:
    """The terminal summary: each figure beside its ceiling, the ratio and the target."""
    f = doc["figures"]
    lines = [_row("stage", "records/s (median)", "ceiling records/s", None, None).rstrip()]
    lines[0] = f"{'stage':<22}{'records/s (median)':>24}{'ceiling records/s':>26}{'ratio':>9}"
    if "ingest" in f:
        i = f["ingest"]
        lines.append(
            _row(
                "ingest (emitted)",
                f"{i['ingest']['emitted_per_s']:,.0f}",
                f"kafka-python {i['ceiling_kafka_python']['messages_per_s']:,.0f}",
                i["ratio_vs_kafka_python"],
                i["target_met"],
            )
        )
        lines.append(
            _row(
                "ingest (seen)",
                f"{i['ingest']['seen_per_s']:,.0f}",
                "",
                i["ratio_seen_vs_kafka_python"],
                None,
            )
        )
        lines.append(
            _row(
                "  context",
                "",
                f"confluent {i['context_confluent_kafka']['messages_per_s']:,.0f}",
                i["ratio_vs_confluent_kafka"],
                None,
            )
        )
    if "capture" in f:
        c = f["capture"]
        lines.append(
            _row(
                "capture",
                f"{c['capture']['records_per_s']:,.0f}",
                f"consumer {c['ceiling_kafka_python']['records_per_s']:,.0f}",
                c["ratio_vs_kafka_python"],
                c["target_met"],
            )
        )
    for size, s in f.get("stream", {}).get("sizes", {}).items():
        lines.append(
            _row(
                f"stream {int(size):,}",
                f"{s['stream']['records_per_s']:,.0f}",
                f"plain copy {s['ceiling_spark_plain_copy']['records_per_s']:,.0f}",
                s["ratio_vs_plain_copy"],
                s["target_met"],
            )
        )
    for name, m in f.get("memory", {}).items():
        lines.append(
            f"{name + ' peak RSS':<22}{m['1x']['peak_rss_mb']:>14,.0f} MiB at 1x"
            f"{m['4x']['peak_rss_mb']:>16,.0f} MiB at 4x   "
            f"{'flat' if m['flat'] else 'GROWS'} ({m['growth_mb']:+.0f} MiB)"
        )
    for name, r in f.get("live", {}).items():
        lines.append(
            f"{'live batch ' + name:<22}{r['median_s']:>20.2f} s median, {r['p95_s']:.2f} s p95 "
            f"({r['records_per_poll']:,.0f} records a poll; fixed {r['fixed_s']:.2f} s, data "
            f"{r['data_s']:.2f} s); target <= {r['target_median_s']:.0f} s "
            f"(<= {r['target_p95_s']:.0f}): {'met' if r['target_met'] else 'MISSED'}"
        )
    if "run" in f:
        r = f["run"]
        stages = ", ".join(f"{k} {v:.0f} s" for k, v in r["seconds"].items())
        lines.append(f"{'velib run':<22}{stages}")
        lines.append(
            _row(
                "  ingest (seen)",
                f"{r['ingest_seen_per_s']:,.0f}",
                f"parse alone {r['parse_rows_per_s']:,.0f}",
                r["ingest_seen_per_s"] / r["parse_rows_per_s"] if r["parse_rows_per_s"] else None,
                r["ingest_target_met"],
            )
        )
        lines.append(
            _row(
                "  stream",
                f"{r['stream_records_per_s']:,.0f}",
                f"plain copy {r['plain_copy_records_per_s']:,.0f}",
                r["stream_ratio_vs_plain_copy"],
                r["target_met"],
            )
        )
    if "e2e" in f:
        e = f["e2e"]
        procs = ", ".join(f"{k} {v:,.0f}" for k, v in sorted(e["peak_rss_mb_by_process"].items()))
        lines.append(
            f"{'end to end':<22}{e['records_per_s']:>24,.0f}   {e['median_seconds']:.0f} s for "
            f"{e['records']:,} records; peak RSS MiB: {procs}"
        )
    if "forecast" in f:
        fc = f["forecast"]
        lines.append(
            f"{'forecast train':<22}{fc['train_seconds']:>22,.0f} s   "
            f"{fc['days']} days, {fc['rows_fitted']:,} rows x 5 boosters; target < "
            f"{fc['train_target_seconds']} s: {'met' if fc['train_target_met'] else 'MISSED'}"
        )
        lines.append(
            f"{'forecast one issue':<22}{fc['predict_seconds_median']:>22.2f} s   "
            f"{fc['predict_rows']:,} rows (median of {fc['issue_times']}; max "
            f"{fc['predict_seconds_max']:.2f} s); target < {fc['predict_target_seconds']} s: "
            f"{'met' if fc['predict_target_met'] else 'MISSED'}"
        )
    return "\n".join(lines)


def _markdown_live_and_run(f: dict[str, Any], verdict: Any) -> list[str]:
    """The rows of the live micro-batch and of `velib run`, by stage."""
    rows: list[str] = []
    for name, r in f.get("live", {}).items():
        rows.append(
            f"| live micro-batch, {name}: one real poll ({r['records_per_poll']:,.0f} records of "
            f"{r['stations_per_poll']:,.0f} stations), {len(r['batch_s']) - 1} batches "
            f"| {r['median_s']:.2f} s median, {r['p95_s']:.2f} s p95 (fixed {r['fixed_s']:.2f} s, "
            f"data {r['data_s']:.2f} s) | | | ≤ {r['target_median_s']:.0f} s (p95 ≤ "
            f"{r['target_p95_s']:.0f} s): {verdict(r['target_met'])} |"
        )
    if "run" in f:
        r = f["run"]
        stages = ", ".join(f"{k} {v:.0f} s" for k, v in r["seconds"].items())
        rows.append(
            f"| `velib run`, {r['recording']} ({r['seen']:,} rows seen, {r['stream_batches']} "
            f"batches) | {stages} | | | ≤ {r['target_total_s']:.0f} s: {verdict(r['target_met'])} |"
        )
        rows.append(
            f"| — ingest | {r['ingest_seen_per_s']:,.0f} rows seen/s | parse alone "
            f"{r['parse_rows_per_s']:,.0f}/s | | ≥ {r['target_ingest_seen_per_s']:,}/s: "
            f"{verdict(r['ingest_target_met'])} |"
        )
        rows.append(
            f"| — stream | {r['stream_records_per_s']:,.0f} records/s | plain copy of the same "
            f"topics {r['plain_copy_records_per_s']:,.0f}/s | "
            f"{r['stream_ratio_vs_plain_copy']:.2f} | |"
        )
    return rows


def markdown(doc: dict[str, Any]) -> str:
    """The figures as a Markdown table, for the README section (README.md, Benchmarks)."""
    f, s = doc["figures"], doc["sizes"]
    rows = ["| stage | measured | ceiling | ratio | target |", "|---|---|---|---|---|"]

    def verdict(met: bool) -> str:
        return "met" if met else "**missed**"

    if "ingest" in f:
        i = f["ingest"]
        rows.append(
            f"| ingest, {i['ingest']['seen']:,} records seen, {i['ingest']['emitted']:,} emitted "
            f"| {i['ingest']['emitted_per_s']:,.0f} emitted/s ({i['ingest']['seen_per_s']:,.0f} "
            f"seen/s) | kafka-python producer {i['ceiling_kafka_python']['messages_per_s']:,.0f}/s "
            f"| {i['ratio_vs_kafka_python']:.2f} | ≥ 0.5: {verdict(i['target_met'])} |"
        )
        rows.append(
            f"| (context) | | confluent-kafka producer "
            f"{i['context_confluent_kafka']['messages_per_s']:,.0f}/s "
            f"| {i['ratio_vs_confluent_kafka']:.2f} | |"
        )
    if "capture" in f:
        c = f["capture"]
        rows.append(
            f"| capture, {c['capture']['records']:,} records "
            f"| {c['capture']['records_per_s']:,.0f}/s "
            f"| kafka-python consumer loop {c['ceiling_kafka_python']['records_per_s']:,.0f}/s "
            f"| {c['ratio_vs_kafka_python']:.2f} | ≥ 0.5: {verdict(c['target_met'])} |"
        )
    for t in f.get("stream", {}).get("sizes", {}).values():
        rows.append(
            f"| stream (availableNow, all outputs), {t['stream']['records']:,} records "
            f"| {t['stream']['records_per_s']:,.0f}/s "
            "| plain Spark Kafka → Parquet copy "
            f"{t['ceiling_spark_plain_copy']['records_per_s']:,.0f}/s "
            f"| {t['ratio_vs_plain_copy']:.2f} | ≥ {t['target']}: {verdict(t['target_met'])} |"
        )
    if "stream" in f and f["stream"].get("peak_rss_mb_by_process"):
        procs = ", ".join(
            f"{k} {v:,.0f}" for k, v in sorted(f["stream"]["peak_rss_mb_by_process"].items())
        )
        rows.append(f"| stream stage peak RSS | MiB: {procs} | | | |")
    for name, m in f.get("memory", {}).items():
        rows.append(
            f"| {name} peak RSS, {m['1x']['records']:,} → {m['4x']['records']:,} records "
            f"| {m['1x']['peak_rss_mb']:,.0f} → {m['4x']['peak_rss_mb']:,.0f} MiB "
            f"| | {m['growth_mb']:+.0f} MiB | flat: {verdict(m['flat'])} |"
        )
    rows += _markdown_live_and_run(f, verdict)
    if "e2e" in f:
        e = f["e2e"]
        procs = ", ".join(f"{k} {v:,.0f}" for k, v in sorted(e["peak_rss_mb_by_process"].items()))
        rows.append(
            f"| end to end (`velib run` chain), {e['records']:,} records "
            f"| {e['records_per_s']:,.0f}/s, {e['median_seconds']:.0f} s | peak RSS MiB: {procs} "
            f"| | |"
        )
    if "forecast" in f:
        fc = f["forecast"]
        rows.append(
            f"| forecast: train one model on {fc['days']} days ({fc['training_rows']:,} targets, "
            f"{fc['rows_fitted']:,} drawn, 5 boosters x {fc['trees']} trees, {fc['threads']} "
            f"threads) | {fc['train_seconds']:,.0f} s ({fc['train_cpu_seconds']:,.0f} s CPU) | | "
            f"| < {fc['train_target_seconds']} s: {verdict(fc['train_target_met'])} |"
        )
        rows.append(
            f"| forecast: every station at one issue time ({fc['predict_rows']:,} rows) "
            f"| {fc['predict_seconds_median']:.2f} s median, {fc['predict_seconds_max']:.2f} max "
            f"({fc['predict_cpu_seconds_median']:.2f} s CPU) | | "
            f"| < {fc['predict_target_seconds']} s: {verdict(fc['predict_target_met'])} |"
        )
    m = doc["machine"]
    rows.append("")
    rows.append(
        f"Measured {doc['generated_at']} on {m['cpus']} CPUs ({m['cpu_model']}), "
        f"{m['memory_gb']} GB, load average {m['load_average']}; median of {s['runs']} rounds "
        f"({s['stream_runs']} for Spark, {s['e2e_runs']} end to end); "
        f"`make bench` took {doc['bench_wall_seconds'] / 60:.0f} min."
    )
    return "\n".join(rows)


BEGIN = "<!-- rendered by `python -m bench.report` from reports/bench/latest.json: do not edit -->"
END = "<!-- end of the rendered table -->"


def render(doc: dict[str, Any], page: Path) -> str:
    """``page``'s text with the block between :data:`BEGIN` and :data:`END` set to the table.

    The page's numbers then come from the results file, never from a hand copy.

    Raises:
        ValueError: the page has no such block.
    """
    text = page.read_text(encoding="utf-8")
    start, end = text.find(BEGIN), text.find(END)
    if start < 0 or end < start:
        raise ValueError(f"{page}: no block between {BEGIN!r} and {END!r}")
    return f"{text[: start + len(BEGIN)]}\n{markdown(doc)}\n{text[end:]}"


if __name__ == "__main__":  # python -m bench.report reports/bench/latest.json [docs/benchmarks.md]
    import json
    import sys

    results = json.loads(Path(sys.argv[1]).read_text(encoding="utf-8"))
    if len(sys.argv) > 2:  # noqa: PLR2004 - the page to render into
        target = Path(sys.argv[2])
        target.write_text(render(results, target), encoding="utf-8")
    else:
        print(markdown(results))
