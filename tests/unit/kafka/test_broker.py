"""The local broker's configuration, ports and failure reporting (no JVM needed)."""

from __future__ import annotations

import socket
import stat
import uuid
from pathlib import Path

import pytest

from pipeline.kafka import broker, broker_files
from pipeline.kafka.broker import (
    BrokerConfig,
    BrokerError,
    LocalBroker,
    SaslCredentials,
    render_properties,
)
from pipeline.settings.declare import SettingsError
from pipeline.settings.local import BrokerSettings


def _props(text: str) -> dict[str, str]:
    return dict(line.split("=", 1) for line in text.splitlines() if line)


def test_properties_describe_a_single_node_kraft_broker(tmp_path: Path):
    cfg = BrokerConfig(data_dir=tmp_path, host="127.0.0.1", port=19092, controller_port=19093)
    props = _props(render_properties(cfg))
    assert props["process.roles"] == "broker,controller"
    assert props["listeners"] == "PLAINTEXT://127.0.0.1:19092,CONTROLLER://127.0.0.1:19093"
    assert props["advertised.listeners"] == "PLAINTEXT://127.0.0.1:19092"
    assert props["controller.quorum.voters"] == "1@127.0.0.1:19093"
    assert props["log.dirs"] == str(tmp_path / "logs")
    assert props["offsets.topic.replication.factor"] == "1"
    assert cfg.bootstrap == "127.0.0.1:19092"


def test_free_port_is_bindable():
    port = broker.free_port()
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", port))


@pytest.mark.parametrize("text", ["abc", "-1", "70000"])
def test_bad_ports_are_one_line_setting_errors(text: str):
    with pytest.raises(SettingsError, match="^--port: "):
        BrokerSettings.build({"port": text})


def test_given_port_is_kept_and_zero_picks_one(tmp_path: Path):
    assert LocalBroker(port=19999, data_dir=tmp_path).bootstrap == "127.0.0.1:19999"
    picked = LocalBroker(port=0, data_dir=tmp_path).config
    assert picked.port > 0 and picked.port != picked.controller_port


def test_cluster_ids_are_22_chars_and_unique():
    ids = {broker.new_cluster_id() for _ in range(50)}
    assert len(ids) == 50 and all(len(i) == 22 for i in ids)


def test_cluster_ids_never_start_with_a_dash(monkeypatch: pytest.MonkeyPatch):
    # 0xF8 encodes to a leading "-" in URL-safe base64 (1 draw in 64): it must be drawn again.
    draws = iter([uuid.UUID(bytes=b"\xf8" + bytes(15)), uuid.UUID(bytes=b"\xfc" + bytes(15))])
    monkeypatch.setattr(broker_files.uuid, "uuid4", lambda: next(draws))
    assert broker.new_cluster_id() == "_AAAAAAAAAAAAAAAAAAAAA"


@pytest.mark.parametrize("cluster_id", ["-AAAAAAAAAAAAAAAAAAAAA", "_AAAAAAAAAAAAAAAAAAAAA"])
def test_format_passes_the_id_as_the_value_of_its_option(cluster_id: str, tmp_path: Path):
    # "-t ID" let kafka-storage's parser read an id starting with "-" as an option.
    args = broker.format_command(cluster_id, tmp_path / "server.properties")
    assert args[:2] == ["format", f"--cluster-id={cluster_id}"]
    assert cluster_id not in args


def test_missing_jars_say_how_to_get_them(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("VELIB_JARS_DIR", str(tmp_path / "nowhere"))
    with pytest.raises(BrokerError, match="make jars"):
        LocalBroker(data_dir=tmp_path).start()


def test_a_broker_that_dies_reports_its_log_tail(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    # A fake "java" that prints a recognisable error and exits: the start must fail
    # with that text in the message, not hang or raise something unrelated.
    jars = tmp_path / "jars" / "kafka"
    jars.mkdir(parents=True)
    (jars / "kafka_2.13-0.jar").write_bytes(b"")
    fake_java = tmp_path / "bin" / "java"
    fake_java.parent.mkdir()
    fake_java.write_text("#!/bin/sh\necho 'ERROR boom: port already in use' ; exit 3\n")
    fake_java.chmod(fake_java.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("VELIB_JARS_DIR", str(tmp_path / "jars"))
    monkeypatch.setenv("JAVA_HOME", str(tmp_path))
    data = tmp_path / "data"
    (data / "logs").mkdir(parents=True)
    (data / "logs" / "meta.properties").write_text("formatted")  # skip the format step
    with pytest.raises(BrokerError) as err:
        LocalBroker(data_dir=data, start_timeout_s=10).start()
    assert "exited with code 3" in str(err.value)
    assert "port already in use" in str(err.value)


def test_log_tail_keeps_the_last_lines(tmp_path: Path):
    log = tmp_path / "b.log"
    log.write_text("".join(f"line {i}\n" for i in range(100)))
    tail = broker.log_tail(log, lines=3)
    assert tail == "line 97\nline 98\nline 99\n"


# --- SASL (SCRAM-SHA-512) -----------------------------------------------------

CREDS = SaslCredentials("velib", "pw-Xy_12")


def test_sasl_properties_serve_clients_with_scram_and_keep_the_controller(tmp_path: Path):
    cfg = BrokerConfig(data_dir=tmp_path, port=19092, controller_port=19093, sasl=CREDS)
    props = _props(render_properties(cfg))
    assert props["listeners"] == "SASL_PLAINTEXT://127.0.0.1:19092,CONTROLLER://127.0.0.1:19093"
    assert props["advertised.listeners"] == "SASL_PLAINTEXT://127.0.0.1:19092"
    assert props["listener.security.protocol.map"] == (
        "CONTROLLER:PLAINTEXT,SASL_PLAINTEXT:SASL_PLAINTEXT"
    )
    assert props["controller.listener.names"] == "CONTROLLER"
    assert props["inter.broker.listener.name"] == "SASL_PLAINTEXT"
    assert props["sasl.enabled.mechanisms"] == "SCRAM-SHA-512"
    assert props["sasl.mechanism.inter.broker.protocol"] == "SCRAM-SHA-512"
    assert props["listener.name.sasl_plaintext.scram-sha-512.sasl.jaas.config"] == (
        "org.apache.kafka.common.security.scram.ScramLoginModule required "
        'username="velib" password="pw-Xy_12";'
    )


def test_plain_broker_has_no_sasl_setting(tmp_path: Path):
    props = _props(render_properties(BrokerConfig(data_dir=tmp_path)))
    assert not any(key.startswith(("sasl", "listener.name")) for key in props)


def test_format_creates_the_scram_user_and_keeps_the_id_option(tmp_path: Path):
    args = broker.format_command("-AAAAAAAAAAAAAAAAAAAAA", tmp_path / "p", CREDS)
    assert args[:2] == ["format", "--cluster-id=-AAAAAAAAAAAAAAAAAAAAA"]
    assert args[-2:] == ["--add-scram", "SCRAM-SHA-512=[name=velib,password=pw-Xy_12]"]


def test_java_argfile_quotes_every_argument():
    body = broker_files.java_argfile(["kafka.tools.StorageTool", 'a "b"', "c\\d"])
    assert body == '"kafka.tools.StorageTool"\n"a \\"b\\""\n"c\\\\d"\n'


def test_generated_credentials_are_random_and_hidden_from_repr():
    a, b = SaslCredentials.generate(), SaslCredentials.generate()
    assert a.password != b.password and len(a.password) >= 32
    assert a.password not in repr(a) and a.username == "velib"


def test_client_env_round_trips_through_a_private_file(tmp_path: Path):
    env = CREDS.client_env("127.0.0.1:19092")
    path = tmp_path / "client.env"
    path.write_text("old\n")
    path.chmod(0o644)
    broker_files.write_private(path, broker_files.render_client_env(env))
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert broker_files.read_client_env(path) == env
    assert set(env) == {
        "KAFKA_BOOTSTRAP_SERVERS",
        "KAFKA_SECURITY_PROTOCOL",
        "KAFKA_SASL_MECHANISM",
        "KAFKA_SASL_PLAIN_USERNAME",
        "KAFKA_SASL_PLAIN_PASSWORD",
    }


def _fake_broker(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Jars and a java that exits at once; returns a data dir whose storage looks formatted."""
    jars = tmp_path / "jars" / "kafka"
    jars.mkdir(parents=True)
    (jars / "kafka_2.13-0.jar").write_bytes(b"")
    fake_java = tmp_path / "bin" / "java"
    fake_java.parent.mkdir()
    fake_java.write_text("#!/bin/sh\nexit 3\n")
    fake_java.chmod(fake_java.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("VELIB_JARS_DIR", str(tmp_path / "jars"))
    monkeypatch.setenv("JAVA_HOME", str(tmp_path))
    data = tmp_path / "data"
    (data / "logs").mkdir(parents=True)
    (data / "logs" / "meta.properties").write_text("formatted")
    return data


def test_a_restart_reuses_the_credentials_of_client_env(tmp_path, monkeypatch):
    data = _fake_broker(tmp_path, monkeypatch)
    broker_files.write_private(
        data / "client.env", broker_files.render_client_env(CREDS.client_env("127.0.0.1:1"))
    )
    b = LocalBroker(data_dir=data, sasl=True, start_timeout_s=5)
    with pytest.raises(BrokerError, match="exited with code 3"):
        b.start()
    assert b.credentials == CREDS
    props = data / "server.properties"
    assert stat.S_IMODE(props.stat().st_mode) == 0o600
    assert 'password="pw-Xy_12"' in props.read_text()


def test_sasl_on_storage_formatted_without_it_says_what_to_do(tmp_path, monkeypatch):
    data = _fake_broker(tmp_path, monkeypatch)
    with pytest.raises(BrokerError, match="formatted without SASL credentials.*fresh --data-dir"):
        LocalBroker(data_dir=data, sasl=True).start()


def test_client_env_of_a_plain_broker_is_only_its_address(tmp_path: Path):
    b = LocalBroker(port=19998, data_dir=tmp_path)
    assert b.credentials is None
    assert b.client_env() == {"KAFKA_BOOTSTRAP_SERVERS": "127.0.0.1:19998"}
    assert b.client_settings() == {}
