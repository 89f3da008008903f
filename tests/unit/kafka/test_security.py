"""One reading of the KAFKA_* security variables, rendered for kafka-python and for Spark."""

from __future__ import annotations

import logging
import os

import pytest
from kafka.errors import KafkaTimeoutError, SaslAuthenticationFailedError

from pipeline.kafka.security import (
    MASK,
    KafkaAuthError,
    KafkaSecurity,
    KafkaSecurityError,
    auth_failure,
    jaas_config,
    protect_logs,
    refused_login,
)

PASSWORD = "s3cr3t-Pa55"
SCRAM_ENV = {
    "KAFKA_BOOTSTRAP_SERVERS": "broker-1:9096",
    "KAFKA_SECURITY_PROTOCOL": "SASL_SSL",
    "KAFKA_SASL_MECHANISM": "SCRAM-SHA-512",
    "KAFKA_SASL_PLAIN_USERNAME": "velib",
    "KAFKA_SASL_PLAIN_PASSWORD": PASSWORD,
    "KAFKA_SSL_CAFILE": "/etc/velib/ca.pem",
}
SCRAM_JAAS = (
    "org.apache.kafka.common.security.scram.ScramLoginModule required "
    f'username="velib" password="{PASSWORD}";'
)


def test_kafka_python_gets_the_pass_through_settings():
    settings = KafkaSecurity.from_env(SCRAM_ENV).client_settings()
    assert settings == {
        "security_protocol": "SASL_SSL",
        "sasl_mechanism": "SCRAM-SHA-512",
        "sasl_plain_username": "velib",
        "sasl_plain_password": PASSWORD,
        "ssl_cafile": "/etc/velib/ca.pem",
    }


def test_spark_gets_the_same_login_as_kafka_options():
    options = KafkaSecurity.from_env(SCRAM_ENV).spark_options()
    assert options == {
        "kafka.security.protocol": "SASL_SSL",
        "kafka.sasl.mechanism": "SCRAM-SHA-512",
        "kafka.sasl.jaas.config": SCRAM_JAAS,
        "kafka.ssl.truststore.type": "PEM",
        "kafka.ssl.truststore.location": "/etc/velib/ca.pem",
    }
    assert all(isinstance(v, str) for v in options.values())


def test_plain_uses_the_plain_login_module_and_names_are_normalized():
    env = {**SCRAM_ENV, "KAFKA_SASL_MECHANISM": "plain", "KAFKA_SECURITY_PROTOCOL": "sasl_ssl"}
    security = KafkaSecurity.from_env(env)
    assert security.client_settings()["sasl_mechanism"] == "PLAIN"
    options = security.spark_options()
    assert options["kafka.security.protocol"] == "SASL_SSL"
    assert options["kafka.sasl.mechanism"] == "PLAIN"
    assert options["kafka.sasl.jaas.config"].startswith(
        "org.apache.kafka.common.security.plain.PlainLoginModule required "
    )


def test_databricks_gets_the_shaded_login_module():
    options = KafkaSecurity.from_env(SCRAM_ENV).spark_options(login_module_prefix="kafkashaded.")
    assert options["kafka.sasl.jaas.config"] == f"kafkashaded.{SCRAM_JAAS}"


def test_jaas_values_are_quoted_so_any_password_survives():
    text = jaas_config("SCRAM-SHA-256", 'us"er', 'pa\\ss"word;x')
    assert text == (
        "org.apache.kafka.common.security.scram.ScramLoginModule required "
        'username="us\\"er" password="pa\\\\ss\\"word;x";'
    )


def test_a_plaintext_cluster_needs_no_spark_option(monkeypatch: pytest.MonkeyPatch):
    for key in [k for k in os.environ if k.startswith("KAFKA_")]:
        monkeypatch.delenv(key)
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", "localhost:9092")
    assert KafkaSecurity.from_env().spark_options() == {}
    assert KafkaSecurity.from_env().client_settings() == {}


def test_config_reads_the_process_environment(monkeypatch: pytest.MonkeyPatch):
    for key, value in SCRAM_ENV.items():
        monkeypatch.setenv(key, value)
    assert KafkaSecurity.from_env().client_settings()["sasl_plain_password"] == PASSWORD
    assert KafkaSecurity.from_env().spark_options()["kafka.sasl.jaas.config"] == SCRAM_JAAS


def test_values_keep_their_types():
    env = {
        "KAFKA_SASL_PLAIN_PASSWORD": "123456",  # digits, still a password
        "KAFKA_SASL_PLAIN_USERNAME": "007",
        "KAFKA_REQUEST_TIMEOUT_MS": "45000",
        "KAFKA_SSL_CHECK_HOSTNAME": "false",
    }
    settings = KafkaSecurity.from_env(env).client_settings()
    assert settings["sasl_plain_password"] == "123456"
    assert settings["sasl_plain_username"] == "007"
    assert settings["request_timeout_ms"] == 45000
    assert settings["ssl_check_hostname"] is False


def test_velib_and_kafka_script_variables_are_not_client_settings():
    env = {"KAFKA_BOOTSTRAP_SERVERS": "b:9092", "KAFKA_HEAP_OPTS": "-Xmx1g", "KAFKA_HOME": "/opt"}
    assert KafkaSecurity.from_env(env).client_settings() == {}


def test_client_certificates_and_hostname_check_reach_spark():
    env = {
        "KAFKA_SECURITY_PROTOCOL": "SSL",
        "KAFKA_SSL_CAFILE": "/ca.pem",
        "KAFKA_SSL_CERTFILE": "/client.pem",
        "KAFKA_SSL_KEYFILE": "/client.pem",
        "KAFKA_SSL_PASSWORD": "keypass",
        "KAFKA_SSL_CHECK_HOSTNAME": "False",
    }
    options = KafkaSecurity.from_env(env).spark_options()
    assert options == {
        "kafka.security.protocol": "SSL",
        "kafka.ssl.truststore.type": "PEM",
        "kafka.ssl.truststore.location": "/ca.pem",
        "kafka.ssl.keystore.type": "PEM",
        "kafka.ssl.keystore.location": "/client.pem",
        "kafka.ssl.key.password": "keypass",
        "kafka.ssl.endpoint.identification.algorithm": "",
    }


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (
            {"KAFKA_SASL_MECHANISM": None},
            "KAFKA_SECURITY_PROTOCOL=SASL_SSL needs KAFKA_SASL_MECHANISM",
        ),
        ({"KAFKA_SASL_PLAIN_PASSWORD": None}, "needs KAFKA_SASL_PLAIN_USERNAME and"),
        ({"KAFKA_SASL_MECHANISM": "GSSAPI"}, "GSSAPI has no username/password login module"),
        ({"KAFKA_SSL_KEYFILE": "/key.pem", "KAFKA_SSL_CERTFILE": "/cert.pem"}, "one PEM file"),
        ({"KAFKA_SSL_CIPHERS": "ECDHE"}, "KAFKA_SSL_CIPHERS cannot be rendered"),
    ],
)
def test_settings_spark_cannot_take_fail_with_one_line(extra, message):
    env = {**SCRAM_ENV, **extra}
    env = {k: v for k, v in env.items() if v is not None}
    with pytest.raises(KafkaSecurityError, match=message) as err:
        KafkaSecurity.from_env(env).spark_options()
    assert "\n" not in str(err.value) and PASSWORD not in str(err.value)


def test_reprs_mask_the_secrets():
    security = KafkaSecurity.from_env(SCRAM_ENV)
    shown = [
        repr(security),
        str(security),
        repr(security.client_settings()),
        str(security.spark_options()),
        f"{security.spark_options()}",
    ]
    for text in shown:
        assert PASSWORD not in text
        assert MASK in text
    assert "velib" in repr(security)  # the user name is not a secret: errors show it


def test_secrets_and_redact_cover_the_jaas_quoted_form():
    security = KafkaSecurity.from_env({**SCRAM_ENV, "KAFKA_SASL_PLAIN_PASSWORD": 'a"b'})
    jaas = security.spark_options()["kafka.sasl.jaas.config"]
    assert 'a"b' in security.secrets() and 'a\\"b' in security.secrets()
    assert security.redact(f"failed: {jaas}") == (
        "failed: org.apache.kafka.common.security.scram.ScramLoginModule required "
        f'username="velib" password="{MASK}";'
    )


def test_logging_the_settings_shows_no_password(caplog: pytest.LogCaptureFixture):
    security = KafkaSecurity.from_env(SCRAM_ENV)
    caplog.set_level(logging.DEBUG)
    logging.getLogger("velib.test").info("kafka settings %s", security.client_settings())
    logging.getLogger("velib.test").info("spark options %r", security.spark_options())
    logging.getLogger("velib.test").info("security %s", security)
    assert "sasl_plain_password" in caplog.text
    assert PASSWORD not in caplog.text


def test_client_libraries_debug_logs_are_scrubbed(caplog: pytest.LogCaptureFixture):
    # kafka-python's admin client logs its whole configuration at DEBUG and py4j logs
    # every command it sends to Spark (options included): both hold the password.
    secret = "only-in-this-test-7f3a"
    KafkaSecurity.from_env({**SCRAM_ENV, "KAFKA_SASL_PLAIN_PASSWORD": secret}).spark_options()
    for name in ("kafka.admin.client", "py4j.clientserver"):  # `velib` itself quiets them
        caplog.set_level(logging.DEBUG, logger=name)
    configs = {"sasl_plain_password": secret}
    logging.getLogger("kafka.admin.client").debug("Starting with configuration: %s", configs)
    logging.getLogger("py4j.clientserver").debug("Command to send: option %s", secret)
    assert len(caplog.records) == 2
    assert secret not in caplog.text
    assert caplog.text.count(MASK) == 2


def test_protect_logs_covers_loggers_created_later(caplog: pytest.LogCaptureFixture):
    protect_logs(("late-secret-91c2",))
    caplog.set_level(logging.DEBUG, logger="py4j.java_gateway")
    logging.getLogger("py4j.java_gateway").debug("sent late-secret-91c2")
    assert "late-secret-91c2" not in caplog.text


BROKER_WORDS = (
    "Authentication failed during authentication due to invalid credentials "
    "with SASL mechanism SCRAM-SHA-512"
)


def test_a_refused_login_is_recognised_from_kafka_python():
    exc = SaslAuthenticationFailedError(f"SaslAuthenticationFailedError: {BROKER_WORDS}")
    assert auth_failure(exc) == BROKER_WORDS


def test_a_refused_login_is_recognised_from_a_spark_query_failure():
    # The shape of a StreamingQueryException's text when the Java client is refused.
    text = (
        "[STREAM_FAILED] Query [id = 1, runId = 2] terminated with exception: "
        f"org.apache.kafka.common.errors.SaslAuthenticationException: {BROKER_WORDS} "
        "SQLSTATE: XXKST\n=== Streaming Query ===\nIdentifier: velib.status"
    )
    assert auth_failure(RuntimeError(text)) == BROKER_WORDS


def test_a_refused_login_is_found_among_the_causes():
    try:
        try:
            raise SaslAuthenticationFailedError(BROKER_WORDS)
        except SaslAuthenticationFailedError as inner:
            raise RuntimeError("ingest failed") from inner
    except RuntimeError as outer:
        assert auth_failure(outer) == BROKER_WORDS


@pytest.mark.parametrize(
    "exc",
    [KafkaTimeoutError("Unable to bootstrap from b:9092"), ValueError("bad"), OSError("refused")],
)
def test_other_failures_are_not_called_authentication(exc: BaseException):
    assert auth_failure(exc) is None
    assert refused_login(exc) is None


def test_refused_login_is_one_line():
    mine = KafkaAuthError("Kafka at b:9092 refused the login of 'velib' (PLAIN): bad")
    assert refused_login(mine) == str(mine)
    line = refused_login(SaslAuthenticationFailedError(f"{BROKER_WORDS}\nmore"))
    assert line is not None and "\n" not in line
    assert line.startswith(f"Kafka refused the login: {BROKER_WORDS}")


def test_kafka_client_settings_pass_through_and_skip_own_variables():
    env = {
        "KAFKA_BOOTSTRAP_SERVERS": "b:9092",
        "KAFKA_SECURITY_PROTOCOL": "SASL_SSL",
        "KAFKA_REQUEST_TIMEOUT_MS": "5000",
        "HOME": "/root",
    }
    assert KafkaSecurity.from_env(env).client_settings() == {
        "security_protocol": "SASL_SSL",
        "request_timeout_ms": 5000,
    }
