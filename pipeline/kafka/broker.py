"""A local single-node Apache Kafka broker (KRaft) started from Maven-resolved jars.

This is the real Kafka, not a fake: the same broker a cluster runs, in
combined broker+controller mode, with a small heap so it fits beside Spark on
a laptop. Tests, ``velib broker`` and ``velib run`` use it when no
``KAFKA_BOOTSTRAP_SERVERS`` is given. The JVM is tied to this process
(parent-death signal on Linux, atexit, signal handlers), so it never outlives us.
With ``sasl=True`` clients must log in with SCRAM-SHA-512 (``velib broker --sasl``);
the files it writes for that are rendered by ``pipeline.kafka.broker_files``.
"""

from __future__ import annotations

import atexit
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections import deque
from dataclasses import dataclass, field, replace
from pathlib import Path
from types import TracebackType
from typing import Any

from pipeline.kafka.broker_files import (
    CLIENT_ENV,
    LOG4J2_PROPERTIES,
    SASL_MECHANISM,
    SASL_USERNAME,
    BrokerConfig,
    SaslCredentials,
    format_command,
    free_port,
    java_argfile,
    new_cluster_id,
    probe_groups,
    read_client_env,
    render_client_env,
    render_properties,
    write_private,
)
from pipeline.kafka.security import MASK, KafkaSecurity
from pipeline.settings import project
from pipeline.settings.declare import UserError

log = logging.getLogger(__name__)

KAFKA_MAIN = "kafka.Kafka"
STORAGE_TOOL = "kafka.tools.StorageTool"
DEFAULT_HEAP = "512m"


class BrokerError(UserError, RuntimeError):
    """The broker could not be started; the message carries its log tail."""


def jars_dir() -> Path:
    """Where `make jars` copies the broker's jars (env VELIB_JARS_DIR overrides)."""
    base = os.getenv("VELIB_JARS_DIR")
    return (Path(base) if base else project.ROOT / "jvm" / "lib") / "kafka"


def java_executable() -> str:
    """The java binary: $JAVA_HOME/bin/java, else the one on PATH."""
    home = os.getenv("JAVA_HOME")
    if home and (Path(home) / "bin" / "java").exists():
        return str(Path(home) / "bin" / "java")
    found = shutil.which("java")
    if not found:
        raise BrokerError("java not found: install Java 17+ or set JAVA_HOME")
    return found


def log_tail(path: Path, lines: int = 30) -> str:
    """The last lines of a log file, for error messages."""
    if not path.exists():
        return "(no log written)"
    with path.open(encoding="utf-8", errors="replace") as fh:
        return "".join(deque(fh, maxlen=lines))


def _die_with_parent() -> None:  # pragma: no cover - runs in the child
    """Linux: ask the kernel to SIGTERM the JVM when its parent dies (even on kill -9)."""
    try:
        import ctypes

        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except OSError:
        pass


def _coordinator_ready(admin: Any) -> bool:
    """True once the group coordinator serves every partition of ``__consumer_offsets``.

    It loads them a moment after the broker first answers; a consumer group that
    joins before gets NotCoordinatorError, and kafka-python then warns "Marking
    the coordinator dead" on a perfectly normal run. Waiting here, where the
    broker starts, keeps that transient out of every stage's log.
    """
    from kafka.errors import KafkaError

    try:
        found = admin.describe_groups(list(probe_groups()))
    except KafkaError:  # FindCoordinator: "coordinator not available" while loading
        return False
    errors = [g["error"] or "" for g in found.values()]
    return not any(name in e for e in errors for name in _COORDINATOR_LOADING)


_COORDINATOR_LOADING = ("NotCoordinator", "CoordinatorLoadInProgress", "CoordinatorNotAvailable")


@dataclass
class LocalBroker:
    """Start, wait for and stop one local Kafka broker; a context manager.

    Args:
        port: client port; 0 picks a free one.
        data_dir: where the log segments go; a temporary folder (deleted on stop) if None.
        heap: JVM max heap, e.g. "512m".
        sasl: serve clients on a SASL_PLAINTEXT listener with SCRAM-SHA-512. A user
            with a random password is created when the storage is formatted and
            written to ``data_dir/client.env`` (mode 0600), which a later start on
            the same ``data_dir`` reads back; see :attr:`credentials`.
        node_id, roles, voters, cluster_brokers, controller_port, cluster_id: one
            node of a :class:`pipeline.kafka.cluster.LocalCluster` (the defaults: a
            node alone, broker and controller, with a fresh cluster id).
        wait_coordinator: at start, also wait until the group coordinator serves
            (a cluster node alone cannot: its offsets topic needs the other brokers).
    """

    port: int = 0
    data_dir: Path | None = None
    host: str = "127.0.0.1"
    heap: str = DEFAULT_HEAP
    start_timeout_s: float = 90.0
    sasl: bool = False
    node_id: int = 1
    roles: str = "broker,controller"
    voters: str | None = None
    cluster_brokers: int = 1
    controller_port: int = 0
    cluster_id: str | None = None
    wait_coordinator: bool = True
    config: BrokerConfig = field(init=False)
    log_file: Path = field(init=False)
    _process: subprocess.Popen[bytes] | None = field(default=None, init=False)
    _tmp: tempfile.TemporaryDirectory[str] | None = field(default=None, init=False)
    _atexit: bool = field(default=False, init=False)

    def __post_init__(self) -> None:
        if self.data_dir is None:
            self._tmp = tempfile.TemporaryDirectory(prefix="velib-kafka-")
            self.data_dir = Path(self._tmp.name)
        self.data_dir = Path(self.data_dir)
        self.config = BrokerConfig(
            data_dir=self.data_dir,
            host=self.host,
            port=self.port or free_port(self.host),
            controller_port=self.controller_port or free_port(self.host),
            node_id=self.node_id,
            roles=self.roles,
            voters=self.voters,
            cluster_brokers=self.cluster_brokers,
        )
        self.log_file = self.data_dir / "broker.log"

    @property
    def bootstrap(self) -> str:
        """HOST:PORT for clients."""
        return self.config.bootstrap

    @property
    def credentials(self) -> SaslCredentials | None:
        """The SASL user (``sasl=True``, once formatted or started), else None."""
        return self.config.sasl

    @property
    def _dir(self) -> Path:
        """The data folder (a temporary one when none was given: never None once built)."""
        assert self.data_dir is not None
        return self.data_dir

    @property
    def client_env_file(self) -> Path:
        """``data_dir/client.env``: the client variables, written at start with ``sasl=True``."""
        return self._dir / CLIENT_ENV

    def client_env(self) -> dict[str, str]:
        """The ``KAFKA_*`` variables a client of this broker sets (with the password)."""
        creds = self.credentials
        if creds is None:
            return {"KAFKA_BOOTSTRAP_SERVERS": self.bootstrap}
        return creds.client_env(self.bootstrap)

    def client_settings(self) -> dict[str, Any]:
        """kafka-python settings to reach this broker, rendered like any client's."""
        return KafkaSecurity.from_env(self.client_env()).client_settings()

    def _ensure_credentials(self) -> None:
        """Create the SASL user for a fresh storage, or read back the one it was formatted with."""
        if not self.sasl or self.credentials is not None:
            return
        if not (self._dir / "logs" / "meta.properties").exists():
            creds = SaslCredentials.generate()
        else:
            env = read_client_env(self.client_env_file) if self.client_env_file.exists() else {}
            password = env.get("KAFKA_SASL_PLAIN_PASSWORD")
            if not password:
                raise BrokerError(
                    f"{self.data_dir} was formatted without SASL credentials "
                    f"(no password in {self.client_env_file}): use a fresh --data-dir"
                )
            creds = SaslCredentials(
                env.get("KAFKA_SASL_PLAIN_USERNAME", SASL_USERNAME),
                password,
                env.get("KAFKA_SASL_MECHANISM", SASL_MECHANISM),
            )
        self.config = replace(self.config, sasl=creds)

    def _java(self, main: str, *args: str) -> list[str]:
        """Java running ``main`` (or an ``@argfile`` naming it) on the broker's jars."""
        lib = jars_dir()
        if not lib.is_dir() or not any(lib.glob("kafka_2.13-*.jar")):
            raise BrokerError(f"Kafka jars not found in {lib}: run `make jars` (needs Maven)")
        return [
            java_executable(),
            f"-Xmx{self.heap}",
            "-Xms128m",
            "-XX:+UseG1GC",
            "-XX:MaxGCPauseMillis=20",
            "-Djava.awt.headless=true",
            f"-Dlog4j2.configurationFile={self._dir / 'log4j2.properties'}",
            "-cp",
            str(lib / "*"),
            main,
            *args,
        ]

    def _write_config(self) -> Path:
        """Write server.properties (0600: it may hold the SASL password) and the log4j2 file."""
        self._ensure_credentials()
        props = self._dir / "server.properties"
        write_private(props, render_properties(self.config))
        (self._dir / "log4j2.properties").write_text(LOG4J2_PROPERTIES, encoding="utf-8")
        return props

    def start(self) -> LocalBroker:
        """Format storage (first time), start the JVM and wait until it serves metadata."""
        self.launch()
        return self.wait_ready()

    def launch(self) -> None:
        """Format storage (first time) and start the JVM, without waiting for it.

        The JVM gets a parent-death signal, which Linux ties to the *thread* that
        started it: call this from a thread that lives as long as the broker should
        (the main thread), never from a short-lived worker thread.
        """
        props = self.prepare()
        if self.credentials is not None:
            write_private(self.client_env_file, render_client_env(self.client_env()))
        with self.log_file.open("ab") as out:
            self._process = subprocess.Popen(
                self._java(KAFKA_MAIN, str(props)),
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                preexec_fn=_die_with_parent if sys.platform.startswith("linux") else None,
            )
        if not self._atexit:
            atexit.register(self.stop)
            self._atexit = True

    def prepare(self) -> Path:
        """Write the config and format the storage the first time; the properties file.

        Formatting is a short JVM run of its own (seconds): a cluster formats its
        nodes concurrently before launching them.
        """
        props = self._write_config()
        assert self.data_dir is not None
        if not (self.data_dir / "logs" / "meta.properties").exists():
            self.format_storage(self.cluster_id or new_cluster_id())
        return props

    def wait_ready(self) -> LocalBroker:
        """Wait until the launched JVM answers (:meth:`launch` first); stop it if it never does."""
        self._wait_ready()
        log.info("Kafka node %d ready on %s (log: %s)", self.node_id, self.bootstrap, self.log_file)
        return self

    @property
    def pid(self) -> int | None:
        """The JVM's process id while it runs."""
        return None if self._process is None else self._process.pid

    def kill(self) -> None:
        """SIGKILL the JVM, as a crash would (no controlled shutdown); its data stays."""
        process, self._process = self._process, None
        if process is not None and process.poll() is None:
            process.kill()
            process.wait()

    def format_storage(self, cluster_id: str) -> None:
        """Format the KRaft metadata log of ``data_dir`` for ``cluster_id`` (first start only)."""
        props = self._write_config()
        args = format_command(cluster_id, props, self.credentials)
        # Through an @argfile (0600, deleted after): --add-scram carries the password.
        argfile = props.with_name("format.args")
        write_private(argfile, java_argfile([STORAGE_TOOL, *args]))
        try:
            fmt = subprocess.run(
                self._java(f"@{argfile}"),
                capture_output=True,
                text=True,
                check=False,
            )
        finally:
            argfile.unlink(missing_ok=True)
        if fmt.returncode != 0:
            output = (fmt.stdout + fmt.stderr).strip() or "no output"
            if self.credentials is not None:
                output = output.replace(self.credentials.password, MASK)
            raise BrokerError(f"formatting Kafka storage failed (exit {fmt.returncode}): {output}")

    def _wait_ready(self) -> None:
        from kafka import KafkaAdminClient
        from kafka.errors import KafkaError

        deadline = time.monotonic() + self.start_timeout_s
        while time.monotonic() < deadline:
            assert self._process is not None
            if self._process.poll() is not None:
                raise BrokerError(
                    f"Kafka broker exited with code {self._process.returncode} before it was "
                    f"ready; last lines of {self.log_file}:\n{log_tail(self.log_file)}"
                )
            try:
                # A plain TCP probe first: kafka-python backs off for seconds after a refusal.
                probe = self.config.port if self.config.is_broker else self.config.controller_port
                socket.create_connection((self.host, probe), timeout=1).close()
                if not self.config.is_broker:
                    return  # a controller alone serves no client request
                admin = KafkaAdminClient(
                    bootstrap_servers=self.bootstrap,
                    request_timeout_ms=3000,
                    **self.client_settings(),
                )
                try:
                    admin.list_topics()
                    while (
                        self.wait_coordinator
                        and not _coordinator_ready(admin)
                        and time.monotonic() < deadline
                    ):
                        time.sleep(0.1)
                    return
                finally:
                    admin.close()
            except (KafkaError, OSError, ValueError):
                time.sleep(0.25)
        self.stop()
        raise BrokerError(
            f"Kafka broker did not answer on {self.bootstrap} within {self.start_timeout_s:.0f}s; "
            f"last lines of {self.log_file}:\n{log_tail(self.log_file)}"
        )

    def exit_code(self) -> int | None:
        """The broker's exit code once its process has ended; None while it runs or never ran."""
        return None if self._process is None else self._process.poll()

    def stop(self, timeout_s: float = 30.0) -> None:
        """SIGTERM the broker (it shuts down cleanly), SIGKILL if it lingers; idempotent."""
        process, self._process = self._process, None
        if process is not None and process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout_s)
            except subprocess.TimeoutExpired:
                log.warning("Kafka broker did not stop in %.0fs; killing it", timeout_s)
                process.kill()
                process.wait()
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None

    def __enter__(self) -> LocalBroker:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
