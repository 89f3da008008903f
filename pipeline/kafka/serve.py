"""``velib broker``: a local broker, or a local cluster, in the foreground until stopped.

Either runs until SIGINT/SIGTERM (or a ``stop`` event) and then stops every JVM
it started; a node that dies on its own ends the command with its log tail.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from pipeline import lifecycle
from pipeline.kafka.broker import DEFAULT_HEAP, BrokerError, LocalBroker, log_tail
from pipeline.kafka.cluster import CLUSTER_BROKER_HEAP, LocalCluster
from pipeline.settings.local import BrokerSettings

log = logging.getLogger(__name__)


def serve_broker(
    broker: LocalBroker,
    ready: Callable[[LocalBroker], None] | None = None,
    stop: threading.Event | None = None,
) -> None:
    """Run the broker in the foreground until ``stop`` is set (or SIGINT/SIGTERM), then stop it."""
    with lifecycle.stop_on_signals(stop) as stopping:
        try:
            broker.start()
            if ready is not None:
                ready(broker)
            while not stopping.wait(0.2):
                if broker._process is None or broker.exit_code() is not None:
                    raise BrokerError(f"Kafka broker died; log tail:\n{log_tail(broker.log_file)}")
        finally:
            broker.stop()


def run(settings: BrokerSettings, ready: Callable[[str], None] | None = None) -> None:
    """``velib broker``: a local broker (or cluster) as ``settings`` say, until stopped.

    Args:
        settings: where and how many.
        ready: called with the bootstrap list once every node answers.
    """
    if settings.data_dir is not None:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
    if settings.brokers > 1:
        heap = settings.heap if settings.heap != DEFAULT_HEAP else CLUSTER_BROKER_HEAP
        nodes = LocalCluster(
            brokers=settings.brokers,
            data_dir=settings.data_dir,
            host=settings.host,
            port=settings.port,
            heap=heap,
        )
        serve_cluster(nodes, (lambda c: ready(c.bootstrap)) if ready else None)
        return
    broker = LocalBroker(
        port=settings.port,
        data_dir=settings.data_dir,
        host=settings.host,
        heap=settings.heap,
        sasl=settings.sasl,
    )

    def single(b: LocalBroker) -> None:
        if b.credentials is not None:  # names and the file only: the password stays in it
            log.info("sasl: %s; clients need %s", b.credentials.mechanism, " ".join(b.client_env()))
            log.info("sasl: set them with: . %s", b.client_env_file)
        if ready is not None:
            ready(b.bootstrap)

    serve_broker(broker, single)


def serve_cluster(
    cluster: LocalCluster,
    ready: Callable[[LocalCluster], None] | None = None,
    stop: threading.Event | None = None,
) -> None:
    """Run the cluster in the foreground until ``stop`` is set (or SIGINT/SIGTERM), then stop it.

    A node that dies on its own ends the command with its log tail: a cluster
    that silently runs on fewer brokers than it says is worse than none.
    """
    with lifecycle.stop_on_signals(stop) as stopping:
        try:
            cluster.start()
            if ready is not None:
                ready(cluster)
            while not stopping.wait(0.2):
                dead = cluster.exited()
                if dead:
                    raise BrokerError("Kafka cluster " + dead[0])
        finally:
            cluster.stop()
