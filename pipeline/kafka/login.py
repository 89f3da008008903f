"""Check a SASL login once, so a refused password is one clear error at once.

kafka-python (3.0.12) retries a refused login until its bootstrap timeout
(30 s) and then reports only "Unable to bootstrap". Worse, the broker sends its
refusal and closes the connection at once, and kafka-python drops bytes that
arrive together with the close, so it often never sees the refusal at all.
:func:`check_login` therefore performs the SASL exchange itself, on a plain
blocking socket with kafka-python's own protocol encoder and SASL mechanisms
(SaslHandshake v1, SaslAuthenticate v1), where the broker's answer is always
read before the close. Anything other than a refusal (broker down, TLS
trouble, an exotic mechanism) gives no verdict: the real client reports it.
"""

from __future__ import annotations

import hashlib
import logging
import socket
import ssl
from collections.abc import Iterator, Mapping
from typing import Any

from kafka.errors import KafkaError, for_code
from kafka.net.sasl import get_sasl_mechanism
from kafka.protocol.parser import KafkaProtocol
from kafka.protocol.sasl import SaslAuthenticateRequest, SaslHandshakeRequest

from pipeline.kafka.security import KafkaAuthError, KafkaSecurity

log = logging.getLogger(__name__)

LOGIN_TIMEOUT_S = 10.0
_accepted: set[tuple[str, str]] = set()  # (bootstrap, hash of the settings) that logged in


class _Closed(ConnectionError):
    """The broker closed the connection before answering."""


def addresses(bootstrap_servers: str) -> Iterator[tuple[str, int]]:
    """``(host, port)`` of each ``host:port`` (IPv6 in brackets) of a bootstrap list."""
    for item in bootstrap_servers.split(","):
        host, _, port = item.strip().rpartition(":")
        if host and port.isdigit():
            yield host.strip("[]"), int(port)


def _tls(settings: Mapping[str, Any], sock: socket.socket, host: str) -> socket.socket:
    """Wrap ``sock`` in TLS as kafka-python would (CA file, client cert, hostname check)."""
    ctx = ssl.create_default_context(cafile=settings.get("ssl_cafile"))
    ctx.check_hostname = bool(settings.get("ssl_check_hostname", True))
    if not ctx.check_hostname:
        ctx.verify_mode = ssl.CERT_NONE
    if settings.get("ssl_certfile"):
        ctx.load_cert_chain(
            settings["ssl_certfile"], settings.get("ssl_keyfile"), settings.get("ssl_password")
        )
    return ctx.wrap_socket(sock, server_hostname=host)


def _call(sock: socket.socket, proto: KafkaProtocol, request: Any) -> Any:
    """Send one request and read its response (bytes before a close are kept)."""
    request.API_VERSION = 1
    proto.send_request(request)
    sock.sendall(proto.send_bytes())
    while True:
        data = sock.recv(65536)
        if not data:
            raise _Closed("connection closed before the broker answered")
        responses = proto.receive_bytes(data)
        if responses:
            return responses[0][1]


def refusal(host: str, port: int, security: KafkaSecurity, timeout_s: float) -> str | None:
    """Log in once to ``host:port``; the broker's reason if it refused, None if it accepted.

    Raises:
        OSError: no answer (connection, TLS or timeout): no verdict on the credentials.
    """
    settings = dict(security.client_settings())
    mechanism_name = str(security.mechanism)
    with socket.create_connection((host, port), timeout=timeout_s) as raw:
        sock = _tls(settings, raw, host) if security.protocol == "SASL_SSL" else raw
        proto = KafkaProtocol(client_id="velib-login-check")
        handshake = _call(sock, proto, SaslHandshakeRequest(mechanism=mechanism_name))
        if handshake.error_code:
            offered = ", ".join(handshake.mechanisms) or "none"
            return f"the broker does not offer {mechanism_name} (it offers {offered})"
        mechanism = get_sasl_mechanism(mechanism_name)(host=host, **settings)
        while not mechanism.is_done():
            answer = _call(sock, proto, SaslAuthenticateRequest(mechanism.auth_bytes()))
            if answer.error_code:
                return str(answer.error_message or for_code(answer.error_code).__name__)
            mechanism.receive(answer.auth_bytes)
    return None


def check_login(bootstrap_servers: str, timeout_s: float = LOGIN_TIMEOUT_S) -> None:
    """Raise :class:`KafkaAuthError` when the cluster refuses the environment's SASL login.

    Does nothing without SASL; checks once per process, cluster and settings.

    Raises:
        KafkaAuthError: the broker refused the user, password or mechanism.
    """
    security = KafkaSecurity.from_env()
    if security.mechanism is None:
        return
    digest = hashlib.sha256(repr(sorted(security.settings.items())).encode()).hexdigest()
    key = (bootstrap_servers, digest)
    if key in _accepted:
        return
    for host, port in addresses(bootstrap_servers):
        try:
            reason = refusal(host, port, security, timeout_s)
        except KeyError:
            return  # a mechanism kafka-python does not know: its client will say so
        except (OSError, ValueError, KafkaError) as exc:
            log.debug("login check on %s:%d gave no verdict: %s", host, port, exc)
            continue
        if reason is not None:
            raise KafkaAuthError(
                f"Kafka at {bootstrap_servers} refused the login of "
                f"{security.username or '?'!r} ({security.mechanism}): {reason}"
            )
        _accepted.add(key)
        return
