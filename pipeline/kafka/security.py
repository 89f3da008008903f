"""Kafka client security (SASL/SSL): read once from ``KAFKA_*``, rendered for both clients.

Ingest, capture and topic creation talk to Kafka through kafka-python; the stream
job talks to it through Spark's Kafka source and sink (the Java client). Both must
reach the same SASL/SSL cluster with the same settings, so they are read from the
environment in one place (:meth:`KafkaSecurity.from_env`) and rendered twice:
:meth:`KafkaSecurity.client_settings` (kafka-python keywords) and
:meth:`KafkaSecurity.spark_options` (``kafka.*`` options). The variables keep the
project's pass-through convention: ``KAFKA_SASL_PLAIN_PASSWORD`` is kafka-python's
``sasl_plain_password``.

Secrets never reach a log line through these objects: their ``repr`` masks them,
:meth:`KafkaSecurity.redact` scrubs them from error text before it is shown, and
once handed out they are scrubbed from the records of the client libraries that
log their settings (:func:`protect_logs`). This module imports nothing of ours,
so config and the broker can both use it.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from pipeline.settings.declare import UserError

MASK = "***"

# KAFKA_* variables that are not client settings: velib's own, and the Kafka
# distribution's launch scripts' (a KAFKA_HEAP_OPTS in the shell must not become a
# kafka-python keyword, which kafka-python rejects).
NOT_CLIENT_VARS = frozenset(
    {
        "KAFKA_BOOTSTRAP_SERVERS",
        "KAFKA_HOME",
        "KAFKA_OPTS",
        "KAFKA_HEAP_OPTS",
        "KAFKA_JVM_PERFORMANCE_OPTS",
        "KAFKA_LOG4J_OPTS",
        "KAFKA_JMX_OPTS",
        "KAFKA_GC_LOG_OPTS",
        "KAFKA_DEBUG",
    }
)

# Settings whose values are secrets, in both renderings.
SECRET_KEYS = frozenset(
    {
        "sasl_plain_password",
        "ssl_password",
        "kafka.sasl.jaas.config",
        "kafka.ssl.key.password",
        "kafka.ssl.keystore.password",
        "kafka.ssl.truststore.password",
    }
)

# Text settings that must stay strings even when they look like a number or a boolean
# (a password of digits is still a password).
_TEXT_KEYS = frozenset(
    {
        "security_protocol",
        "sasl_mechanism",
        "sasl_plain_username",
        "sasl_plain_password",
        "ssl_cafile",
        "ssl_certfile",
        "ssl_keyfile",
        "ssl_password",
        "ssl_crlfile",
        "ssl_ciphers",
        "client_id",
    }
)

_SCRAM = "org.apache.kafka.common.security.scram.ScramLoginModule"
LOGIN_MODULES: Mapping[str, str] = {
    "PLAIN": "org.apache.kafka.common.security.plain.PlainLoginModule",
    "SCRAM-SHA-256": _SCRAM,
    "SCRAM-SHA-512": _SCRAM,
}

# Security settings Spark's Java client cannot take from a kafka-python value; they
# must not be silently dropped, or the stream would connect differently from ingest.
_NOT_RENDERABLE = (
    "ssl_crlfile",
    "ssl_ciphers",
    "ssl_context",
    "sasl_oauth_token_provider",
    "sasl_kerberos_name",
    "sasl_kerberos_service_name",
    "sasl_kerberos_domain_name",
)


class KafkaSecurityError(UserError, ValueError):
    """Security settings that cannot be rendered for a client (one line, no secret)."""


class KafkaAuthError(UserError, RuntimeError):
    """The broker refused our login (wrong user, password or mechanism); one line, no secret."""


# How each client says "the broker refused the login": kafka-python's error class, the
# Java client's exception (inside a Spark StreamingQueryException's text), the broker's words.
_AUTH_CLASSES = ("KafkaAuthError", "SaslAuthenticationFailedError", "SaslAuthenticationException")
_AUTH_TEXT = re.compile(
    r"(?:SaslAuthenticationException|SaslAuthenticationFailedError|AuthenticationException)"
    r"[:\s]*(?:SaslAuthenticationFailedError:\s*)?([^\n]*)"
)


def auth_failure(exc: BaseException) -> str | None:
    """The broker's reason when ``exc`` (or its causes) is a refused Kafka login, else None.

    Works on kafka-python errors, :class:`KafkaAuthError` and Spark query failures,
    whose text carries the Java client's ``SaslAuthenticationException``.
    """
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        names = {cls.__name__ for cls in type(current).__mro__}
        text = str(current)
        found = _AUTH_TEXT.search(text)
        if isinstance(current, KafkaAuthError):
            return text.splitlines()[0] if text else "authentication failed"
        if found or names & set(_AUTH_CLASSES):
            reason = (found.group(1) if found else text).split("SQLSTATE:")[0]
            return reason.strip(" .:").splitlines()[0] if reason.strip(" .:") else "refused"
        current = current.__cause__ or current.__context__
    return None


def refused_login(exc: BaseException) -> str | None:
    """One line for a refused Kafka login (for the command line), else None."""
    if isinstance(exc, KafkaAuthError):
        return str(exc).splitlines()[0]
    reason = auth_failure(exc)
    if reason is None:
        return None
    return f"Kafka refused the login: {reason} (check KAFKA_SASL_PLAIN_USERNAME and _PASSWORD)"


class MaskedDict(dict[str, Any]):
    """A plain dict of client settings whose repr masks the secret values.

    Callers pass it where a dict is expected (``KafkaProducer(**settings)``,
    ``run_stream(kafka_options=...)``); logging it by accident shows ``***``.
    """

    def __repr__(self) -> str:
        shown = {key: MASK if key in SECRET_KEYS else value for key, value in self.items()}
        return repr(shown)

    __str__ = __repr__


# Loggers of libraries that log client settings: kafka-python's admin client logs its
# whole configuration at DEBUG, py4j logs every command it sends to Spark at DEBUG
# (``option("kafka.sasl.jaas.config", ...)`` included).
LOGGED_LIBRARIES = ("kafka", "py4j")
_KNOWN_LOGGERS = ("kafka.admin.client", "py4j.clientserver", "py4j.java_gateway")


class SecretFilter(logging.Filter):
    """Replace known secrets by ``***`` in the records of the loggers it sits on."""

    def __init__(self) -> None:
        super().__init__("velib-secrets")
        self.secrets: set[str] = set()

    def filter(self, record: logging.LogRecord) -> bool:
        """Scrub the formatted message; never drops a record."""
        if self.secrets:
            message = record.getMessage()
            if any(secret in message for secret in self.secrets):
                for secret in self.secrets:
                    message = message.replace(secret, MASK)
                record.msg, record.args = message, None
        return True


SECRETS_FILTER = SecretFilter()


def library_loggers(prefixes: tuple[str, ...] = LOGGED_LIBRARIES) -> list[logging.Logger]:
    """The existing loggers under ``prefixes`` (a filter sees only its own logger's records)."""
    names = {*prefixes, *(n for n in _KNOWN_LOGGERS if n.startswith(prefixes))}
    names.update(
        n
        for n in list(logging.root.manager.loggerDict)
        if n.startswith(tuple(f"{p}." for p in prefixes))
    )
    return [logging.getLogger(n) for n in sorted(names)]


def protect_logs(secrets: tuple[str, ...]) -> None:
    """Scrub ``secrets`` from the records of kafka-python's and py4j's loggers from now on."""
    if not secrets:
        return
    SECRETS_FILTER.secrets.update(secrets)
    for logger in library_loggers():
        if SECRETS_FILTER not in logger.filters:
            logger.addFilter(SECRETS_FILTER)


def _typed(key: str, value: str) -> Any:
    """kafka-python wants ints and booleans for its numeric and flag settings."""
    if key in _TEXT_KEYS:
        return value
    if value.isdigit():
        return int(value)
    if value.lower() in ("true", "false"):
        return value.lower() == "true"
    return value


def jaas_quote(value: str) -> str:
    """A JAAS option value in double quotes (Kafka's JaasConfig reads backslash escapes)."""
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def jaas_config(mechanism: str, username: str, password: str, module_prefix: str = "") -> str:
    """``sasl.jaas.config`` for PLAIN or SCRAM with a username and password.

    ``module_prefix`` goes before the login module's class name: ``"kafkashaded."``
    on Databricks, whose runtime ships a shaded Kafka client.
    """
    module = LOGIN_MODULES.get(mechanism.upper())
    if module is None:
        raise KafkaSecurityError(
            f"KAFKA_SASL_MECHANISM={mechanism} has no username/password login module "
            f"(known: {', '.join(LOGIN_MODULES)})"
        )
    return (
        f"{module_prefix}{module} required "
        f"username={jaas_quote(username)} password={jaas_quote(password)};"
    )


@dataclass(frozen=True)
class KafkaSecurity:
    """Kafka client settings from ``KAFKA_*`` variables, in kafka-python's names.

    Attributes:
        settings: kafka-python keyword -> value (``security_protocol``,
            ``sasl_plain_password``, ... and any other pass-through setting).
    """

    settings: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> KafkaSecurity:
        """Read every ``KAFKA_*`` client variable (``KAFKA_X_Y`` -> ``x_y``).

        Args:
            environ: the variables to read; ``os.environ`` when None.
        """
        env = os.environ if environ is None else environ
        settings: dict[str, Any] = {}
        for key, value in env.items():
            if key.startswith("KAFKA_") and key not in NOT_CLIENT_VARS:
                name = key[len("KAFKA_") :].lower()
                settings[name] = _typed(name, value)
        for name in ("security_protocol", "sasl_mechanism"):
            if isinstance(settings.get(name), str):
                settings[name] = settings[name].upper()
        return cls(settings)

    def __repr__(self) -> str:
        return f"KafkaSecurity({MaskedDict(self.settings)!r})"

    __str__ = __repr__

    @property
    def protocol(self) -> str:
        """``security.protocol``; PLAINTEXT when not set (both clients' default)."""
        return str(self.settings.get("security_protocol") or "PLAINTEXT")

    @property
    def mechanism(self) -> str | None:
        """``sasl.mechanism`` when SASL is used, else None."""
        if not self.protocol.startswith("SASL_"):
            return None
        return str(self.settings.get("sasl_mechanism") or "") or None

    @property
    def username(self) -> str | None:
        """The SASL user (not a secret; shown in authentication errors)."""
        name = self.settings.get("sasl_plain_username")
        return None if name is None else str(name)

    def secrets(self) -> tuple[str, ...]:
        """The secret values themselves, to scrub from text (never to show).

        Each also as quoted inside ``sasl.jaas.config`` (quotes and backslashes escaped).
        """
        values = [str(self.settings[key]) for key in sorted(SECRET_KEYS) if key in self.settings]
        forms = {form for v in values if v for form in (v, jaas_quote(v)[1:-1])}
        return tuple(sorted(forms, key=len, reverse=True))

    def redact(self, text: str) -> str:
        """``text`` with every secret value replaced by ``***``."""
        for secret in self.secrets():
            text = text.replace(secret, MASK)
        return text

    def client_settings(self) -> MaskedDict:
        """kafka-python keyword settings (every pass-through variable, typed).

        Its secrets are scrubbed from the client libraries' logs from now on.
        """
        protect_logs(self.secrets())
        return MaskedDict(self.settings)

    def spark_options(self, login_module_prefix: str = "") -> MaskedDict:
        """Spark Kafka source/sink options (``kafka.*``) for the same security settings.

        Args:
            login_module_prefix: put before the JAAS login module's class name;
                ``"kafkashaded."`` on Databricks (shaded Kafka client), else empty.

        Only security settings are rendered: the others tune kafka-python and
        Spark's source has its own options for those. Its secrets are scrubbed
        from the client libraries' logs (py4j's included) from now on.

        Raises:
            KafkaSecurityError: a setting Spark's Java client cannot express from
                these variables (then pass ``kafka_options`` to ``run_stream`` yourself).
        """
        s = self.settings
        unsupported = [f"KAFKA_{key.upper()}" for key in _NOT_RENDERABLE if key in s]
        if unsupported:
            raise KafkaSecurityError(
                f"{', '.join(unsupported)} cannot be rendered as Spark Kafka options; "
                "pass kafka_options to run_stream yourself"
            )
        options: dict[str, str] = {}
        if "security_protocol" in s:
            options["kafka.security.protocol"] = self.protocol
        mechanism = self.mechanism
        if mechanism is not None:
            options["kafka.sasl.mechanism"] = mechanism
            username, password = self.username, s.get("sasl_plain_password")
            if username is None or password is None:
                raise KafkaSecurityError(
                    f"KAFKA_SASL_MECHANISM={mechanism} needs KAFKA_SASL_PLAIN_USERNAME "
                    "and KAFKA_SASL_PLAIN_PASSWORD"
                )
            options["kafka.sasl.jaas.config"] = jaas_config(
                mechanism, username, str(password), login_module_prefix
            )
        elif self.protocol.startswith("SASL_"):
            raise KafkaSecurityError(
                f"KAFKA_SECURITY_PROTOCOL={self.protocol} needs KAFKA_SASL_MECHANISM"
            )
        options.update(self._spark_ssl())
        protect_logs(self.secrets())
        return MaskedDict(options)

    def _spark_ssl(self) -> Iterator[tuple[str, str]]:
        """SSL files as the Java client reads them: PEM trust and key stores."""
        s = self.settings
        if "ssl_cafile" in s:
            yield "kafka.ssl.truststore.type", "PEM"
            yield "kafka.ssl.truststore.location", str(s["ssl_cafile"])
        certfile, keyfile = s.get("ssl_certfile"), s.get("ssl_keyfile")
        if keyfile is not None and keyfile != certfile:
            # Java's PEM key store is one file holding the private key and its chain.
            raise KafkaSecurityError(
                "Spark reads the client key and certificate from one PEM file: put both in "
                "one file and set KAFKA_SSL_CERTFILE (and KAFKA_SSL_KEYFILE) to it"
            )
        if certfile is not None:
            yield "kafka.ssl.keystore.type", "PEM"
            yield "kafka.ssl.keystore.location", str(certfile)
            if "ssl_password" in s:
                yield "kafka.ssl.key.password", str(s["ssl_password"])
        if s.get("ssl_check_hostname") is False:
            yield "kafka.ssl.endpoint.identification.algorithm", ""
