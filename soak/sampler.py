"""What a long soak measures every sample: time, memory, disk, lag, batch duration.

Every figure of the long soak's report is a column of these samples, read from
the live folder and the process tree only (no Spark, no second client of the
stream): the stream's log for micro-batch durations, psutil for resident
memory, file sizes for the Delta tables, checkpoints, Kafka log and archive,
and one Kafka consumer for the capture group's lag.
"""

from __future__ import annotations

import json
import re
import subprocess
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psutil

from pipeline.stream.microbatch import OUTPUTS

BATCH_LINE = re.compile(r"stream batch (\d+): .*, complete until (\S+), ([\d.]+) s$")


def stage_processes(root: psutil.Process) -> dict[str, psutil.Process]:
    """The live chain's processes by role: its stages, the Spark JVM, the broker JVM."""
    found: dict[str, psutil.Process] = {}
    for proc in root.children(recursive=True):
        try:
            line = " ".join(proc.cmdline())
        except (psutil.NoSuchProcess, psutil.ZombieProcess):
            continue
        if "kafka.Kafka" in line:
            found["broker"] = proc
        elif "pipeline.cli" in line:
            for stage in ("ingest", "capture", "stream", "forecast", "compact"):
                if f"pipeline.cli {stage}" in line:
                    found[stage] = proc
        elif "java" in line and "pyspark" in line:
            found["spark_jvm"] = proc
    return found


def rss_mb(procs: dict[str, psutil.Process]) -> dict[str, float]:
    """Resident memory of each process, MiB."""
    out = {}
    for name, proc in procs.items():
        try:
            out[name] = round(proc.memory_info().rss / 2**20, 1)
        except (psutil.NoSuchProcess, psutil.ZombieProcess):
            continue
    return out


def jvm_heap_mb(proc: psutil.Process) -> dict[str, float]:
    """The Spark JVM's heap committed and used, and its metaspace, MiB (``jstat -gc``).

    Its RSS is heap committed plus everything outside the heap; sampling both
    says which part grows, and the heap's part is bounded by ``-Xmx``.
    """
    try:
        done = subprocess.run(
            ["jstat", "-gc", str(proc.pid)], capture_output=True, text=True, timeout=20, check=False
        )
    except (OSError, subprocess.TimeoutExpired):
        return {}
    lines = done.stdout.split()
    if done.returncode != 0 or len(lines) % 2:
        return {}
    half = len(lines) // 2
    kb = {k: float(v) for k, v in zip(lines[:half], lines[half:], strict=True) if _number(v)}

    def mb(*keys: str) -> float:
        return round(sum(kb[k] for k in keys) / 1024, 1)

    try:
        return {
            "jvm_heap_committed_mb": mb("S0C", "S1C", "EC", "OC"),
            "jvm_heap_used_mb": mb("S0U", "S1U", "EU", "OU"),
            "jvm_old_used_mb": mb("OU"),
            "jvm_metaspace_mb": mb("MU"),
        }
    except KeyError:
        return {}


def _number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def folder_size(path: Path, pattern: str = "*") -> tuple[int, int]:
    """(files, bytes on disk) under ``path`` matching ``pattern`` (0, 0 when it does not exist).

    Bytes on disk, not file lengths: Kafka preallocates its index files (10 MB
    each, sparse), which would read as a 200 MB log for a few MB of records.
    """
    files = size = 0
    if not path.exists():
        return 0, 0
    for p in path.rglob(pattern):
        try:
            if p.is_file():
                files += 1
                size += p.stat().st_blocks * 512
        except OSError:  # removed by a vacuum while we walk
            continue
    return files, size


def active_files(table: Path) -> int | None:
    """Data files in the Delta table's current version (what a reader opens), or None."""
    from deltalake import DeltaTable

    try:
        return len(DeltaTable(str(table)).file_uris())
    except Exception:  # noqa: BLE001 - no table yet, or a commit being written
        return None


@dataclass
class BatchLog:
    """Reads the stream's log incrementally: each micro-batch's duration once."""

    path: Path
    offset: int = 0
    batches: list[dict[str, Any]] = field(default_factory=list)

    def read(self) -> list[dict[str, Any]]:
        """The batches logged since the last call."""
        if not self.path.exists():
            return []
        with self.path.open("rb") as fh:
            fh.seek(self.offset)
            chunk = fh.read()
        end = chunk.rfind(b"\n") + 1
        self.offset += end
        new = []
        for line in chunk[:end].decode(errors="replace").splitlines():
            match = BATCH_LINE.search(line)
            if match:
                new.append(
                    {
                        "batch": int(match.group(1)),
                        "complete_until": match.group(2),
                        "seconds": float(match.group(3)),
                    }
                )
        self.batches += new
        return new


def capture_lag(bootstrap: str, topic: str, group: str) -> int | None:
    """Records on the status topic that the capture group has not committed yet."""
    from kafka import TopicPartition

    from pipeline.kafka import clients

    try:
        consumer = clients.consumer(bootstrap, group, request_timeout_ms=5000)
    except Exception:  # noqa: BLE001 - broker down right now: no sample
        return None
    try:
        tps = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic) or []]
        if not tps:
            return None
        ends = consumer.end_offsets(tps)
        return sum(ends[tp] - (consumer.committed(tp) or 0) for tp in tps)
    except Exception:  # noqa: BLE001
        return None
    finally:
        consumer.close()


def stream_lag_s(processed: Path, newest_poll: datetime | None) -> float | None:
    """Recorded seconds between the newest archived poll and what the stream has completed."""
    from pipeline.stream.progress import progress

    try:
        until = progress(processed / "_checkpoints").get("complete_until")
    except Exception:  # noqa: BLE001 - a state commit being written
        return None
    if not until or newest_poll is None:
        return None
    done = datetime.strptime(until, "%Y-%m-%dT%H:%MZ").replace(tzinfo=UTC)
    return max(0.0, (newest_poll - done).total_seconds())


def newest_archived(archive: Path) -> datetime | None:
    """The recorded time of the newest archived poll (its ``poll.json``), UTC.

    Folders are named by the wall time of the poll; what the stream completes is
    recorded time, so the poll's own ``observed_at`` is read.
    """
    from pipeline.record import parse_timestamp

    days = sorted(p for p in archive.glob("*/*") if p.is_dir())
    for day in reversed(days):
        for poll in sorted((p for p in day.iterdir() if p.name.startswith("T")), reverse=True):
            try:
                seen = json.loads((poll / "poll.json").read_text(encoding="utf-8"))
                return parse_timestamp(seen["observed_at"])
            except (OSError, ValueError, KeyError):
                continue  # a poll being written, or a failed one without a time
    return None


def sample(
    live: Path,
    procs: dict[str, psutil.Process],
    batches: BatchLog,
    *,
    started: float,
    speed: float,
    bootstrap: str | None,
    topic: str,
    group: str,
) -> dict[str, Any]:
    """One row of the time series: real and simulated time, then every measure."""
    real_s = time.monotonic() - started
    processed = live / "processed"
    row: dict[str, Any] = {"real_s": round(real_s, 1), "sim_day": real_s * speed / 86400}
    for name, mb in rss_mb(procs).items():
        row[f"rss_{name}_mb"] = mb
    if "spark_jvm" in procs:
        row.update(jvm_heap_mb(procs["spark_jvm"]))
    new = batches.read()
    if new:
        row["batch_s"] = sum(b["seconds"] for b in new) / len(new)
        row["batches"] = len(new)
    for name in OUTPUTS:
        files, size = folder_size(processed / name, "*.parquet")
        row[f"files_{name}"], row[f"mb_{name}"] = files, round(size / 2**20, 3)
        active = active_files(processed / name)
        if active is not None:
            row[f"active_files_{name}"] = active
    row["mb_checkpoints"] = round(folder_size(processed / "_checkpoints")[1] / 2**20, 3)
    row["mb_state"] = round(folder_size(processed / "_checkpoints" / "state")[1] / 2**20, 3)
    row["mb_kafka_log"] = round(folder_size(live / "kafka" / "logs")[1] / 2**20, 3)
    row["mb_archive"] = round(folder_size(live / "archive")[1] / 2**20, 3)
    row["mb_csv"] = round(folder_size(live / "csv")[1] / 2**20, 3)
    if bootstrap:
        lag = capture_lag(bootstrap, topic, group)
        if lag is not None:
            row["capture_lag"] = lag
    behind = stream_lag_s(processed, newest_archived(live / "archive"))
    if behind is not None:
        row["stream_lag_sim_s"] = behind
    return row
