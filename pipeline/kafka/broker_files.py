"""What a local broker writes before it starts: server.properties, SASL credentials, client.env.

Pure rendering, kept apart from the process handling of ``pipeline.kafka.broker`` so it
can be read (and tested) on its own. The SASL files hold a password: they are
written with mode 0600 and the password never goes on a command line.
"""

from __future__ import annotations

import base64
import os
import secrets
import shlex
import socket
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from pipeline.kafka.security import jaas_config

SASL_MECHANISM = "SCRAM-SHA-512"
SASL_LISTENER = "SASL_PLAINTEXT"
SASL_USERNAME = "velib"
CLIENT_ENV = "client.env"


@dataclass(frozen=True)
class SaslCredentials:
    """The SCRAM user a SASL broker creates at format time; the password is left out of repr."""

    username: str
    password: str = field(repr=False)
    mechanism: str = SASL_MECHANISM

    @classmethod
    def generate(cls) -> SaslCredentials:
        """A fresh random password (URL-safe: no quoting issue in JAAS, shell or kafka-storage)."""
        return cls(SASL_USERNAME, secrets.token_urlsafe(24))

    def scram_argument(self) -> str:
        """``kafka-storage format --add-scram`` value creating this user."""
        return f"{self.mechanism}=[name={self.username},password={self.password}]"

    def client_env(self, bootstrap: str) -> dict[str, str]:
        """The ``KAFKA_*`` variables a client sets to log in (read by ``KafkaSecurity``)."""
        return {
            "KAFKA_BOOTSTRAP_SERVERS": bootstrap,
            "KAFKA_SECURITY_PROTOCOL": SASL_LISTENER,
            "KAFKA_SASL_MECHANISM": self.mechanism,
            "KAFKA_SASL_PLAIN_USERNAME": self.username,
            "KAFKA_SASL_PLAIN_PASSWORD": self.password,
        }


def format_command(
    cluster_id: str, properties: Path, sasl: SaslCredentials | None = None
) -> list[str]:
    """``kafka-storage format`` arguments; ``--cluster-id=ID`` so an id never reads as an option.

    With ``sasl``, the SCRAM user is created in the metadata log at format time (KRaft
    has no ZooKeeper to hold it before the broker starts).
    """
    args = ["format", f"--cluster-id={cluster_id}", "-c", str(properties)]
    if sasl is not None:
        args += ["--add-scram", sasl.scram_argument()]
    return args


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port nobody listens on right now (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def new_cluster_id() -> str:
    """A KRaft cluster id: 16 random bytes, URL-safe base64 without padding.

    Like Kafka's own ``Uuid.randomUuid()``, an id starting with ``-`` is drawn
    again: one in 64 would otherwise look like an option to command-line tools.
    """
    while True:
        cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        if not cluster_id.startswith("-"):
            return cluster_id


def write_private(path: Path, text: str) -> None:
    """Write ``text`` to a file only the user can read or write (mode 0600), even if it existed."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        os.fchmod(fh.fileno(), 0o600)
        fh.write(text)


def java_argfile(args: list[str]) -> str:
    """A java ``@argfile`` body: one double-quoted argument per line.

    Arguments go through a file so a password never shows in the process list.
    """
    return "".join('"' + a.replace("\\", "\\\\").replace('"', '\\"') + '"\n' for a in args)


def render_client_env(env: dict[str, str]) -> str:
    """``client.env``: ``export NAME=value`` lines a shell can source."""
    header = "# velib local Kafka broker, SASL client settings: . this file (mode 0600)\n"
    return header + "".join(f"export {k}={shlex.quote(v)}\n" for k, v in env.items())


def read_client_env(path: Path) -> dict[str, str]:
    """The variables of a ``client.env`` written by :func:`render_client_env`."""
    env: dict[str, str] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.startswith("export "):
            name, _, value = line[len("export ") :].partition("=")
            env[name] = shlex.split(value)[0] if value else ""
    return env


@dataclass(frozen=True)
class BrokerConfig:
    """What one KRaft node needs to know: alone (the default), or one node of a cluster.

    Attributes:
        roles: ``broker,controller`` (a single node), ``broker`` or ``controller``.
        voters: ``controller.quorum.voters`` (``ID@HOST:PORT,...``); None: this node alone.
        cluster_brokers: brokers in the cluster, for the internal topics' replication.
    """

    data_dir: Path
    host: str = "127.0.0.1"
    port: int = 9092
    controller_port: int = 9093
    node_id: int = 1
    partitions: int = 3
    sasl: SaslCredentials | None = None
    roles: str = "broker,controller"
    voters: str | None = None
    cluster_brokers: int = 1

    @property
    def bootstrap(self) -> str:
        """HOST:PORT clients connect to."""
        return f"{self.host}:{self.port}"

    @property
    def is_broker(self) -> bool:
        """True when the node serves clients (not a controller only)."""
        return "broker" in self.roles.split(",")

    @property
    def is_controller(self) -> bool:
        """True when the node votes in the metadata quorum."""
        return "controller" in self.roles.split(",")


def _listener_properties(cfg: BrokerConfig) -> dict[str, str]:
    """Client listener PLAINTEXT, or SASL_PLAINTEXT with SCRAM; the controller stays PLAINTEXT.

    A controller-only node listens on its controller port alone; a broker-only node
    on its client port alone (it finds the quorum through ``controller.quorum.voters``).
    """
    client = SASL_LISTENER if cfg.sasl else "PLAINTEXT"
    listeners = []
    if cfg.is_broker:
        listeners.append(f"{client}://{cfg.host}:{cfg.port}")
    if cfg.is_controller:
        listeners.append(f"CONTROLLER://{cfg.host}:{cfg.controller_port}")
    props = {"listeners": ",".join(listeners)}
    if cfg.is_broker:
        props["advertised.listeners"] = f"{client}://{cfg.host}:{cfg.port}"
    props |= {
        "controller.listener.names": "CONTROLLER",
        "inter.broker.listener.name": client,
        "listener.security.protocol.map": f"CONTROLLER:PLAINTEXT,{client}:{client}",
    }
    if cfg.sasl is not None:
        mech = cfg.sasl.mechanism
        jaas = jaas_config(mech, cfg.sasl.username, cfg.sasl.password)
        props |= {
            "sasl.enabled.mechanisms": mech,
            "sasl.mechanism.inter.broker.protocol": mech,
            f"listener.name.{client.lower()}.{mech.lower()}.sasl.jaas.config": jaas,
        }
    return props


OFFSETS_PARTITIONS = 4  # partitions of __consumer_offsets, one group coordinator each


def probe_groups(partitions: int = OFFSETS_PARTITIONS) -> tuple[str, ...]:
    """One consumer group id per ``__consumer_offsets`` partition.

    Kafka places a group on partition ``(String.hashCode(id) & 0x7fffffff) %
    partitions`` (Java's hash, recomputed here), so asking the coordinator
    about these groups asks every partition's coordinator.
    """
    found: dict[int, str] = {}
    n = 0
    while len(found) < partitions:
        name = f"velib-ready-{n}"
        h = 0
        for ch in name:
            h = (31 * h + ord(ch)) & 0xFFFFFFFF
        found.setdefault((h & 0x7FFFFFFF) % partitions, name)
        n += 1
    return tuple(found[i] for i in range(partitions))


def internal_replication(cluster_brokers: int) -> tuple[int, int]:
    """Replication and min ISR of Kafka's internal topics: 3 and 2 from three brokers on.

    Committed offsets then survive a broker's death as the project's topics do.
    """
    replicas = min(3, max(1, cluster_brokers))
    return replicas, 2 if replicas >= 3 else 1


# A killed broker is fenced (its partitions get new leaders) this long after its last
# heartbeat: Kafka's 9 s default halved, still far above a GC pause of these small heaps.
SESSION_TIMEOUT_MS = 4500
HEARTBEAT_MS = 1000


def render_properties(cfg: BrokerConfig) -> str:
    """server.properties: one combined node with replication 1, or one node of a cluster."""
    replicas, min_isr = internal_replication(cfg.cluster_brokers)
    lines = {
        "process.roles": cfg.roles,
        "node.id": str(cfg.node_id),
        "controller.quorum.voters": cfg.voters or f"{cfg.node_id}@{cfg.host}:{cfg.controller_port}",
        **_listener_properties(cfg),
        "log.dirs": str(cfg.data_dir / "logs"),
        "num.partitions": str(cfg.partitions),
        "auto.create.topics.enable": "true",
        "default.replication.factor": str(replicas),
        "offsets.topic.replication.factor": str(replicas),
        "offsets.topic.num.partitions": str(OFFSETS_PARTITIONS),
        "transaction.state.log.replication.factor": str(replicas),
        "transaction.state.log.min.isr": str(min_isr),
        "transaction.state.log.num.partitions": "4",
        "share.coordinator.state.topic.replication.factor": str(replicas),
        "share.coordinator.state.topic.min.isr": str(min_isr),
        "group.initial.rebalance.delay.ms": "0",
        "log.retention.hours": "-1",
        "log.segment.bytes": str(64 * 1024 * 1024),
    }
    if cfg.cluster_brokers > 1:
        lines |= {
            "broker.session.timeout.ms": str(SESSION_TIMEOUT_MS),
            "broker.heartbeat.interval.ms": str(HEARTBEAT_MS),
            "unclean.leader.election.enable": "false",
        }
    return "".join(f"{key}={value}\n" for key, value in lines.items())


LOG4J2_PROPERTIES = """\
status = warn
appender.out.type = Console
appender.out.name = out
appender.out.layout.type = PatternLayout
appender.out.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = info
rootLogger.appenderRef.out.ref = out
logger.kafka.name = kafka
logger.kafka.level = warn
logger.apache.name = org.apache.kafka
logger.apache.level = warn
"""
