"""Why the MQTT output cannot start or cannot reach the broker, as one line each."""

from __future__ import annotations

import socket
import ssl

from edge.config import EdgeConfig


class MqttSetupError(RuntimeError):
    """The MQTT output cannot start (bad TLS files, outbox in use or unusable)."""


def describe_connect_error(exc: BaseException | str | None, cfg: EdgeConfig) -> str:
    """One clear line about why the broker could not be reached."""
    mq = cfg.mqtt
    where = f"{mq.host}:{mq.port}"
    if isinstance(exc, ssl.SSLCertVerificationError):
        ca = mq.tls.ca_file if mq.tls else None
        return (
            f"TLS failure connecting to {where}: certificate verify failed "
            f"({exc.verify_message}); check that mqtt.tls.ca_file ({ca}) holds the CA that "
            f"signed the broker's certificate and that the certificate names host {mq.host!r}"
        )
    if isinstance(exc, ssl.SSLError):
        return f"TLS failure connecting to {where}: {exc.reason or exc}"
    if isinstance(exc, ConnectionRefusedError):
        return f"broker {where} refused the TCP connection (not running or wrong port?)"
    if isinstance(exc, (TimeoutError, socket.timeout)):
        return f"connecting to broker {where} timed out"
    if isinstance(exc, socket.gaierror):
        return f"cannot resolve broker host {mq.host!r}: {exc}"
    if isinstance(exc, str):
        return exc
    if exc is None:
        return f"cannot connect to broker {where}"
    return f"cannot connect to broker {where}: {exc}"
