"""A local Kafka cluster: one KRaft controller and N brokers, each a JVM of its own.

What a replicated deployment looks like, on one machine: the project's topics
get replication 3 and ``min.insync.replicas`` 2 (:mod:`pipeline.settings.topics`),
so a broker can die (``kill -9``) while ingest produces and capture and Spark
consume, and the failover tests (``tests/integration/test_failover.py``) check
that nothing is lost or repeated.

Why a dedicated controller rather than three combined broker+controller nodes:
with combined nodes, two brokers down is also two voters down, the metadata
quorum is lost and nothing can shrink the in-sync replicas, so a producer
waits for a timeout instead of hearing ``NotEnoughReplicas``. With the quorum
on its own node, the failure a user meets is the broker failure itself.
Its price, measured on this 2-core machine (docs/architecture.md): about 6 s
more to start (34 s against 28 s, loaded) and 170 MiB more resident memory.

Every node keeps its ports and data folder across :meth:`LocalCluster.kill` and
:meth:`LocalCluster.restart`, so a restarted broker rejoins as itself.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any

from pipeline.kafka.broker import (
    BrokerError,
    LocalBroker,
    _coordinator_ready,
    free_port,
    log_tail,
    new_cluster_id,
)

log = logging.getLogger(__name__)

CONTROLLER_ID = 100  # brokers are 1..N, so a broker's id is its place in the bootstrap list
CONTROLLER_HEAP = "192m"
CLUSTER_BROKER_HEAP = "320m"


@dataclass
class LocalCluster:
    """Start, wait for, kill, restart and stop a local Kafka cluster; a context manager.

    Args:
        brokers: how many brokers (ids 1..N); 3 gives the replicated layout.
        data_dir: one sub-folder per node (``controller/``, ``broker-1/`` ...); a
            temporary folder (deleted on stop) when None.
        host: listen address of every node.
        port: first broker's client port (then ``port + 1`` ...); 0 picks free ports.
        heap: each broker JVM's max heap.
        controller_heap: the controller JVM's max heap.
    """

    brokers: int = 3
    data_dir: Path | None = None
    host: str = "127.0.0.1"
    port: int = 0
    heap: str = CLUSTER_BROKER_HEAP
    controller_heap: str = CONTROLLER_HEAP
    start_timeout_s: float = 120.0
    controller: LocalBroker = field(init=False)
    nodes: dict[int, LocalBroker] = field(init=False)
    _tmp: Any = field(default=None, init=False)

    def __post_init__(self) -> None:
        import tempfile

        if self.brokers < 1:
            raise BrokerError(f"a cluster needs at least one broker, got {self.brokers}")
        if self.data_dir is None:
            self._tmp = tempfile.TemporaryDirectory(prefix="velib-kafka-cluster-")
            self.data_dir = Path(self._tmp.name)
        root = Path(self.data_dir)
        cluster_id = _cluster_id(root)
        cport = _kept_port(root / "controller", 0, self.host)
        voters = f"{CONTROLLER_ID}@{self.host}:{cport}"
        common: dict[str, Any] = {
            "host": self.host,
            "voters": voters,
            "cluster_brokers": self.brokers,
            "cluster_id": cluster_id,
            "wait_coordinator": False,
            "start_timeout_s": self.start_timeout_s,
        }
        self.controller = LocalBroker(
            port=cport,
            controller_port=cport,
            data_dir=root / "controller",
            heap=self.controller_heap,
            node_id=CONTROLLER_ID,
            roles="controller",
            **common,
        )
        self.nodes = {}
        for node in range(1, self.brokers + 1):
            folder = root / f"broker-{node}"
            wanted = self.port + node - 1 if self.port else 0
            self.nodes[node] = LocalBroker(
                port=_kept_port(folder, wanted, self.host),
                controller_port=cport,
                data_dir=folder,
                heap=self.heap,
                node_id=node,
                roles="broker",
                **common,
            )

    @property
    def bootstrap(self) -> str:
        """Every broker's HOST:PORT, comma-separated, as clients take it."""
        return ",".join(b.bootstrap for b in self.nodes.values())

    def start(self) -> LocalCluster:
        """Start the controller, then every broker at once; wait until consumer groups work."""
        from concurrent.futures import ThreadPoolExecutor

        every = [self.controller, *self.nodes.values()]
        with ThreadPoolExecutor(len(every)) as pool:  # short JVM runs: threads are fine here
            list(pool.map(LocalBroker.prepare, every))
        try:
            self.controller.launch()
            for node in self.nodes.values():  # JVMs started from this thread (parent-death)
                node.launch()
            self.controller.wait_ready()
            for node in self.nodes.values():
                node.wait_ready()
            self._wait_coordinator()
        except BaseException:
            self.stop()
            raise
        log.info("Kafka cluster ready: %s (controller %s)", self.bootstrap, self.controller.pid)
        return self

    def _wait_coordinator(self) -> None:
        """Wait until every ``__consumer_offsets`` partition has a coordinator."""
        from kafka import KafkaAdminClient
        from kafka.errors import KafkaError

        deadline = time.monotonic() + self.start_timeout_s
        while time.monotonic() < deadline:
            try:
                admin = KafkaAdminClient(bootstrap_servers=self.bootstrap, request_timeout_ms=5000)
            except KafkaError:
                time.sleep(0.25)
                continue
            try:
                if _coordinator_ready(admin):
                    return
            finally:
                admin.close()
            time.sleep(0.2)
        raise BrokerError(f"the cluster's group coordinator did not come up on {self.bootstrap}")

    def kill(self, node: int) -> None:
        """SIGKILL broker ``node`` (a crash: no controlled shutdown, data kept)."""
        log.info("killing Kafka broker %d (pid %s)", node, self.nodes[node].pid)
        self.nodes[node].kill()

    def restart(self, *nodes: int) -> None:
        """Start these brokers again on their ports and data folders; wait until they answer.

        All are launched before any is waited for: their JVMs start side by side.
        """
        self.launch(*nodes)
        self.wait_ready(*nodes)

    def launch(self, *nodes: int) -> None:
        """Start these brokers again without waiting (then :meth:`wait_ready`).

        Call it from the thread that stays (the JVMs' parent-death signal follows it).
        """
        for node in nodes:
            self.nodes[node].launch()

    def wait_ready(self, *nodes: int) -> None:
        """Wait until these launched brokers answer."""
        for node in nodes:
            self.nodes[node].wait_ready()

    def alive(self) -> list[int]:
        """The brokers whose JVM runs."""
        return [n for n, b in self.nodes.items() if b.pid is not None and b.exit_code() is None]

    def exited(self) -> list[str]:
        """Nodes whose JVM ended on its own (not killed or stopped by us), with their log tail."""
        found = []
        for name, node in (("controller", self.controller), *self.nodes.items()):
            code = node.exit_code()
            if code is not None:
                found.append(f"node {name} exited with code {code}:\n{log_tail(node.log_file)}")
        return found

    def partitions(self, topic: str) -> dict[int, dict[str, Any]]:
        """Per partition of ``topic``: its ``leader``, ``replicas`` and ``isr`` (node ids)."""
        from kafka import KafkaAdminClient

        admin = KafkaAdminClient(bootstrap_servers=self._live_bootstrap(), request_timeout_ms=5000)
        try:
            (described,) = admin.describe_topics([topic])
        finally:
            admin.close()
        return {
            p["partition_index"]: {
                "leader": p["leader_id"],
                "replicas": sorted(p["replica_nodes"]),
                "isr": sorted(p["isr_nodes"]),
            }
            for p in described["partitions"]
        }

    def wait_for(
        self, topic: str, check: Callable[[dict[int, dict[str, Any]]], bool], timeout_s: float = 60
    ) -> dict[int, dict[str, Any]]:
        """Poll the topic's partitions until ``check`` holds; the last view, or TimeoutError."""
        from kafka.errors import KafkaError

        deadline = time.monotonic() + timeout_s
        seen: dict[int, dict[str, Any]] = {}
        while time.monotonic() < deadline:
            try:
                seen = self.partitions(topic)
                if seen and check(seen):
                    return seen
            except KafkaError:
                pass
            time.sleep(0.25)
        raise TimeoutError(f"{topic} did not reach the expected state in {timeout_s:.0f}s: {seen}")

    def wait_in_sync(self, topic: str, timeout_s: float = 60) -> dict[int, dict[str, Any]]:
        """Wait until every partition of ``topic`` has all its replicas in sync."""

        def in_sync(parts: dict[int, dict[str, Any]]) -> bool:
            return all(p["isr"] == p["replicas"] for p in parts.values())

        return self.wait_for(topic, in_sync, timeout_s)

    def high_watermarks(self, node: int) -> dict[tuple[str, int], int]:
        """Broker ``node``'s high watermark of every partition it holds, as last checkpointed.

        Read from its ``replication-offset-checkpoint`` (written every
        ``replica.high.watermark.checkpoint.interval.ms``, 5 s): a follower's own view,
        which no client request shows.
        """
        path = Path(self.nodes[node].data_dir or "") / "logs" / "replication-offset-checkpoint"
        try:
            lines = path.read_text(encoding="utf-8").splitlines()
        except FileNotFoundError:
            return {}
        found = {}
        for line in lines[2:]:  # a version, a count, then "topic partition offset"
            topic, partition, offset = line.rsplit(" ", 2)
            found[(topic, int(partition))] = int(offset)
        return found

    def wait_follower_knows_the_end(
        self, node: int, ends: dict[tuple[str, int], int], timeout_s: float = 30
    ) -> None:
        """Wait until broker ``node``'s high watermark reaches ``ends`` (partition -> leader's).

        A follower learns the leader's high watermark one fetch after the write. If it
        is then elected while the partition is below ``min.insync.replicas``, its high
        watermark stays where it was, below its epoch's start, and no client can read
        where the partition ends until a replica returns (clients.ENDS_UNKNOWN). A test
        that kills the other replicas and wants the survivor to serve reads waits for this.
        """
        deadline = time.monotonic() + timeout_s
        while True:
            seen = self.high_watermarks(node)
            behind = {tp: (seen.get(tp), end) for tp, end in ends.items() if seen.get(tp, -1) < end}
            if not behind:
                return
            if time.monotonic() > deadline:
                raise TimeoutError(f"broker {node}'s high watermarks lag the leaders': {behind}")
            time.sleep(0.25)

    def _live_bootstrap(self) -> str:
        live = [self.nodes[n].bootstrap for n in self.alive()]
        return ",".join(live) or self.bootstrap

    def stop(self) -> None:
        """Stop every broker (controlled shutdown), then the controller; idempotent."""
        for node in self.nodes.values():
            node.stop()
        self.controller.stop()
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None

    def __enter__(self) -> LocalCluster:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def _cluster_id(root: Path) -> str:
    """The cluster id kept in ``root/cluster.id`` (a restart reuses its formatted storage)."""
    root.mkdir(parents=True, exist_ok=True)
    path = root / "cluster.id"
    if path.exists():
        return path.read_text(encoding="utf-8").strip()
    cluster_id = new_cluster_id()
    path.write_text(cluster_id + "\n", encoding="utf-8")
    return cluster_id


def _kept_port(folder: Path, wanted: int, host: str) -> int:
    """A node's port, kept in ``folder/port`` so a restarted node (or cluster) reuses it."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "port"
    if path.exists():
        return int(path.read_text(encoding="utf-8"))
    port = wanted or free_port(host)
    path.write_text(str(port), encoding="utf-8")
    return port
