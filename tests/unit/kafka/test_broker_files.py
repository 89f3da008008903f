"""pipeline.kafka.broker_files: server.properties, format arguments, private SASL files, client.env.

Complements tests/unit/test_broker.py (listener and SASL properties, argfile quoting,
credentials round trip): the full plain layout, file modes under any umask, shell quoting.
"""

from __future__ import annotations

import os
import shlex
import stat
import subprocess
from pathlib import Path

import pytest

from pipeline.kafka.broker_files import (
    CLIENT_ENV,
    LOG4J2_PROPERTIES,
    OFFSETS_PARTITIONS,
    SASL_MECHANISM,
    BrokerConfig,
    SaslCredentials,
    format_command,
    java_argfile,
    probe_groups,
    read_client_env,
    render_client_env,
    render_properties,
    write_private,
)

CREDS = SaslCredentials("velib", "s3cr3t-Pw_x")


def _props(text: str) -> dict[str, str]:
    lines = text.splitlines()
    assert all("=" in line for line in lines)
    keys = [line.split("=", 1)[0] for line in lines]
    assert len(keys) == len(set(keys)), "a key written twice"
    return dict(line.split("=", 1) for line in lines)


# --- server.properties ------------------------------------------------------------------


def test_plain_properties_for_a_custom_node(tmp_path: Path) -> None:
    cfg = BrokerConfig(
        data_dir=tmp_path / "kafka", host="0.0.0.0", port=29092, controller_port=29093,
        node_id=7, partitions=6,
    )  # fmt: skip
    text = render_properties(cfg)
    assert text.endswith("\n")
    props = _props(text)
    assert props["process.roles"] == "broker,controller"
    assert props["node.id"] == "7"
    assert props["controller.quorum.voters"] == "7@0.0.0.0:29093"
    assert props["listeners"] == "PLAINTEXT://0.0.0.0:29092,CONTROLLER://0.0.0.0:29093"
    assert props["inter.broker.listener.name"] == "PLAINTEXT"
    assert props["listener.security.protocol.map"] == "CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT"
    assert props["log.dirs"] == str(tmp_path / "kafka" / "logs")
    assert props["num.partitions"] == "6"
    assert props["log.retention.hours"] == "-1"  # a research log: kept
    assert props["log.segment.bytes"] == str(64 * 1024 * 1024)
    # one node: every internal topic with replication 1
    replication = [k for k in props if k.endswith("replication.factor")]
    assert replication and all(props[k] == "1" for k in replication)
    assert all(props[k] == "1" for k in props if k.endswith("min.isr"))
    assert cfg.bootstrap == "0.0.0.0:29092"


def test_defaults_and_password_only_in_the_sasl_file(tmp_path: Path) -> None:
    plain = BrokerConfig(data_dir=tmp_path)
    assert (plain.host, plain.port, plain.controller_port) == ("127.0.0.1", 9092, 9093)
    assert plain.bootstrap == "127.0.0.1:9092"
    assert CREDS.password not in render_properties(plain)
    sasl = render_properties(BrokerConfig(data_dir=tmp_path, sasl=CREDS))
    assert sasl.count(CREDS.password) == 1  # in the JAAS line only


def test_log4j_config_quiets_kafka() -> None:
    lines = dict(line.split(" = ", 1) for line in LOG4J2_PROPERTIES.splitlines() if " = " in line)
    assert lines["logger.kafka.level"] == "warn" and lines["logger.apache.level"] == "warn"
    assert lines["rootLogger.appenderRef.out.ref"] == lines["appender.out.name"]


# --- format and credentials ---------------------------------------------------------------


def test_format_without_sasl_has_no_scram(tmp_path: Path) -> None:
    props = tmp_path / "server.properties"
    assert format_command("abc", props) == ["format", "--cluster-id=abc", "-c", str(props)]


def test_credentials_render_their_mechanism() -> None:
    other = SaslCredentials("alice", "pw", mechanism="SCRAM-SHA-256")
    assert other.scram_argument() == "SCRAM-SHA-256=[name=alice,password=pw]"
    assert CREDS.mechanism == SASL_MECHANISM == "SCRAM-SHA-512"
    env = other.client_env("h:1")
    assert env["KAFKA_SASL_MECHANISM"] == "SCRAM-SHA-256"
    assert env["KAFKA_SECURITY_PROTOCOL"] == "SASL_PLAINTEXT"
    assert (env["KAFKA_SASL_PLAIN_USERNAME"], env["KAFKA_SASL_PLAIN_PASSWORD"]) == ("alice", "pw")
    assert env["KAFKA_BOOTSTRAP_SERVERS"] == "h:1"


def test_generated_passwords_need_no_quoting() -> None:
    for _ in range(20):
        password = SaslCredentials.generate().password
        assert shlex.quote(password) == password  # URL-safe: no shell/JAAS quoting issue
        assert '"' not in password and "," not in password and "]" not in password


def test_java_argfile_of_nothing_is_empty() -> None:
    assert java_argfile([]) == ""
    assert java_argfile(["a b"]) == '"a b"\n'


# --- private files ------------------------------------------------------------------------


@pytest.fixture
def open_umask():
    """A umask that would leave new files world-readable."""
    previous = os.umask(0o000)
    yield
    os.umask(previous)


def test_a_new_private_file_is_0600_even_with_an_open_umask(tmp_path: Path, open_umask) -> None:
    path = tmp_path / CLIENT_ENV
    write_private(path, "secret\n")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert path.read_text(encoding="utf-8") == "secret\n"


def test_rewriting_a_private_file_truncates_and_tightens(tmp_path: Path) -> None:
    path = tmp_path / "server.properties"
    path.write_text("a much longer old content\n" * 10, encoding="utf-8")
    path.chmod(0o666)
    write_private(path, "short\n")
    assert path.read_text(encoding="utf-8") == "short\n"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


# --- client.env -----------------------------------------------------------------------------


def test_client_env_quotes_values_a_shell_reads_back(tmp_path: Path) -> None:
    env = {"KAFKA_SASL_PLAIN_PASSWORD": 'it\'s $HOME; `x` "q"', "KAFKA_BOOTSTRAP_SERVERS": "h:1"}
    text = render_client_env(env)
    assert text.startswith("# ") and text.endswith("\n")
    path = tmp_path / CLIENT_ENV
    write_private(path, text)
    assert read_client_env(path) == env
    shown = subprocess.run(
        ["sh", "-c", f'. "{path}" && printf %s "$KAFKA_SASL_PLAIN_PASSWORD"'],
        capture_output=True, text=True, check=True, timeout=5,
    )  # fmt: skip
    assert shown.stdout == env["KAFKA_SASL_PLAIN_PASSWORD"]


def test_read_client_env_ignores_other_lines(tmp_path: Path) -> None:
    path = tmp_path / CLIENT_ENV
    path.write_text(
        "# a comment\nKAFKA_X=not-exported\n\nexport KAFKA_EMPTY=\nexport KAFKA_A='a b'\n",
        encoding="utf-8",
    )
    assert read_client_env(path) == {"KAFKA_EMPTY": "", "KAFKA_A": "a b"}


def test_probe_groups_cover_every_partition_of_consumer_offsets():
    # String.hashCode() of these ids, from Java itself: "velib-ready-0".hashCode() is
    # 1094938927, so it lands on partition 1094938927 % 4 = 3; "-1" on 0, "-2" on 1, "-3" on 2.
    assert probe_groups(4) == ("velib-ready-1", "velib-ready-2", "velib-ready-3", "velib-ready-0")
    assert probe_groups() == probe_groups(OFFSETS_PARTITIONS)
    assert f"offsets.topic.num.partitions={OFFSETS_PARTITIONS}\n" in render_properties(
        BrokerConfig(data_dir=Path("/tmp/x"))
    )
    assert len(set(probe_groups(7))) == 7


# --- a node of a cluster ------------------------------------------------------------------


def test_cluster_nodes_a_controller_alone_and_brokers_that_find_it(tmp_path: Path) -> None:
    voters = "100@127.0.0.1:19093"
    controller = _props(render_properties(BrokerConfig(
        data_dir=tmp_path / "c", port=19093, controller_port=19093, node_id=100,
        roles="controller", voters=voters, cluster_brokers=3,
    )))  # fmt: skip
    assert controller["process.roles"] == "controller"
    assert controller["listeners"] == "CONTROLLER://127.0.0.1:19093"
    assert "advertised.listeners" not in controller  # it serves no client
    broker = _props(render_properties(BrokerConfig(
        data_dir=tmp_path / "b2", port=19102, controller_port=19093, node_id=2,
        roles="broker", voters=voters, cluster_brokers=3,
    )))  # fmt: skip
    assert broker["process.roles"] == "broker" and broker["node.id"] == "2"
    assert broker["controller.quorum.voters"] == voters
    assert broker["listeners"] == broker["advertised.listeners"] == "PLAINTEXT://127.0.0.1:19102"
    # three brokers: Kafka's own topics survive a broker as the project's do
    assert broker["offsets.topic.replication.factor"] == "3"
    assert broker["default.replication.factor"] == "3"
    assert broker["transaction.state.log.min.isr"] == "2"
    assert broker["unclean.leader.election.enable"] == "false"
    assert int(broker["broker.session.timeout.ms"]) < 9000  # a dead broker is fenced sooner
