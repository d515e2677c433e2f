"""Waiting at start-up for the Kafka broker, and saying why it cannot be reached.

A worker often starts before its broker does (a host booting, a Compose or
Kubernetes roll-out), or is pointed at it with a wrong address, CA or
password. :func:`wait_for_broker` tries a real client connection (TCP, then
TLS and SASL when configured, then the cluster's metadata) with exponential
backoff until it works or ``kafka.startup_timeout_s`` has passed, and logs
each failure with its cause in the operator's terms, naming the
configuration key to check. :func:`probe` is one try.

Examples
--------
>>> import asyncio
>>> from twinwatch.stream.config import KafkaConfig
>>> from twinwatch.stream.broker import free_port
>>> k = KafkaConfig(bootstrap=f"127.0.0.1:{free_port()}")      # nothing listens there
>>> asyncio.run(probe(k))
'127.0.0.1:...: connection refused (is the broker running? check kafka.bootstrap)'
>>> asyncio.run(wait_for_broker(k, timeout_s=0.3))
Traceback (most recent call last):
...
twinwatch.stream.broker_wait.BrokerUnreachableError: kafka.bootstrap 127.0.0.1:...: not reachable within 0.3 s: \
127.0.0.1:...: connection refused (is the broker running? check kafka.bootstrap)
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import ssl
import time
from collections.abc import Awaitable, Callable
from typing import Any

__all__ = ["BACKOFF_MAX_S", "BACKOFF_START_S", "CONNECT_TIMEOUT_S", "BrokerUnreachableError", "probe",
           "wait_for_broker"]

log = logging.getLogger(__name__)

BACKOFF_START_S = 0.5
"""Pause after the first failed try (seconds); it doubles after each failure up to :data:`BACKOFF_MAX_S`."""
BACKOFF_MAX_S = 15.0
"""Longest pause between two tries (seconds)."""
CONNECT_TIMEOUT_S = 5.0
"""How long one try waits for a TCP connection and its TLS handshake (seconds)."""


class BrokerUnreachableError(RuntimeError):
    """No client could bootstrap from ``kafka.bootstrap`` within the start-up timeout; the message says why."""


async def _connect(host: str, port: int, ctx: ssl.SSLContext | None) -> str | None:
    """``None`` when a TCP connection (and the TLS handshake under ``ctx``) to ``host:port`` succeeds, else why."""
    where = f"{host}:{port}"
    try:
        _, writer = await asyncio.wait_for(
            asyncio.open_connection(host, port, ssl=ctx, server_hostname=host if ctx is not None else None),
            CONNECT_TIMEOUT_S)
    except ssl.SSLCertVerificationError as exc:
        return f"{where}: the broker's TLS certificate is not trusted ({exc.verify_message}; check kafka.ssl_cafile)"
    except ssl.SSLError as exc:
        return (f"{where}: TLS handshake failed ({exc.reason or exc}; is the listener TLS? check "
                "kafka.security_protocol, kafka.ssl_certfile and kafka.ssl_keyfile)")
    except TimeoutError:
        return f"{where}: no answer within {CONNECT_TIMEOUT_S:g} s (a firewall? check kafka.bootstrap)"
    except ConnectionRefusedError:
        return f"{where}: connection refused (is the broker running? check kafka.bootstrap)"
    except OSError as exc:
        return f"{where}: {exc.strerror or exc} (check kafka.bootstrap)"
    writer.close()
    with contextlib.suppress(OSError, ssl.SSLError):
        await writer.wait_closed()
    return None


def _hint(kafka: Any) -> str:
    """What to check when the connection works but a Kafka client still cannot bootstrap."""
    if kafka.security_protocol.startswith("SASL"):
        return "check kafka.username, kafka.password (or kafka.password_file) and kafka.sasl_mechanism"
    if kafka.ssl_certfile:
        return "does the broker accept the client certificate? check kafka.ssl_certfile and kafka.ssl_keyfile"
    if kafka.security_protocol == "SSL":
        return "does the broker want a client certificate? set kafka.ssl_certfile and kafka.ssl_keyfile"
    return "is the listener TLS or SASL? check kafka.security_protocol"


def _cause(exc: BaseException, kafka: Any) -> str:
    """``exc`` from a client's bootstrap in an operator's words.

    aiokafka ends a SCRAM exchange that the broker refuses (an unknown user, a wrong password: the broker's
    last message is an ``e=`` error instead of its signature) with a bare ``KeyError``.
    """
    if isinstance(exc, KeyError) and (kafka.sasl_mechanism or "").startswith("SCRAM"):
        return f"the broker refused the {kafka.sasl_mechanism} login of user {kafka.username!r}"
    return str(exc) if str(exc).startswith(type(exc).__name__) else f"{type(exc).__name__}: {exc}"


async def probe(kafka: Any) -> str | None:
    """One try: ``None`` when a Kafka client bootstraps from ``kafka.bootstrap``, else why not (one line).

    ``kafka`` is a :class:`~twinwatch.stream.config.KafkaConfig`. Every bootstrap address is tried for TCP
    and TLS; the first that answers must then serve a Kafka client's bootstrap (SASL when configured, and
    the cluster's metadata).
    """
    client_kw = kafka.aiokafka_kwargs()  # its TLS context serves the handshake test too
    reasons: list[str] = []
    for hp in kafka.bootstrap.split(","):
        host, _, port = hp.strip().rpartition(":")
        reason = await _connect(host.strip("[]"), int(port), client_kw.get("ssl_context"))
        if reason is None:
            break
        reasons.append(reason)
    else:
        return "; ".join(reasons)
    from aiokafka.client import AIOKafkaClient

    client = AIOKafkaClient(**client_kw, request_timeout_ms=int(CONNECT_TIMEOUT_S * 1000))
    try:
        await asyncio.wait_for(client.bootstrap(), 2 * CONNECT_TIMEOUT_S)
    except TimeoutError:
        return (f"{kafka.bootstrap}: the broker accepted the connection but gave no metadata within "
                f"{2 * CONNECT_TIMEOUT_S:g} s ({_hint(kafka)})")
    except Exception as exc:
        return (f"{kafka.bootstrap}: the connection works but a Kafka client cannot start "
                f"({_cause(exc, kafka)}; {_hint(kafka)})")
    finally:
        with contextlib.suppress(Exception):
            await client.close()
    return None


async def wait_for_broker(kafka: Any, timeout_s: float, *,
                          on_failure: Callable[[str], None] | None = None,
                          sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep) -> None:
    """Return once :func:`probe` succeeds; raise :class:`BrokerUnreachableError` after ``timeout_s`` seconds.

    ``timeout_s`` 0 waits without end. Each failure is logged (a warning naming the address and the cause,
    and the next try's delay) and passed to ``on_failure`` (e.g. a metric). Pauses grow from
    :data:`BACKOFF_START_S` to :data:`BACKOFF_MAX_S` and never run past the deadline.
    """
    deadline = math.inf if timeout_s == 0 else time.monotonic() + timeout_s
    delay, tries = BACKOFF_START_S, 0
    while True:
        reason = await probe(kafka)
        tries += 1
        if reason is None:
            if tries > 1:
                log.info("Kafka broker reachable", extra={"bootstrap": kafka.bootstrap, "tries": tries})
            return
        if on_failure is not None:
            on_failure(reason)
        left = deadline - time.monotonic()
        if left <= 0:
            raise BrokerUnreachableError(f"kafka.bootstrap {kafka.bootstrap}: not reachable within "
                                         f"{timeout_s:g} s: {reason}")
        pause = min(delay, left)
        log.warning("waiting for the Kafka broker: %s; next try in %.1f s", reason, pause,
                    extra={"bootstrap": kafka.bootstrap, "tries": tries})
        await sleep(pause)
        delay = min(2.0 * delay, BACKOFF_MAX_S)
