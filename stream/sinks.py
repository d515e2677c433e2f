"""Where the pipeline's outputs go: a JSONL file, Kafka topics, Alertmanager's v2 API.

- :class:`JsonlSink`: one JSON object per line (alerts: the Alert contract;
  a state change writes a new line with the same ``id``); :meth:`JsonlSink.flush`
  flushes and ``fsync``\\ s, so the lines are durable when it returns.
- :class:`KafkaSink`: alerts keyed by alert id on ``twinwatch.alerts``,
  expected-vs-observed records keyed by network on ``twinwatch.expected``,
  dead letters keyed by format on ``twinwatch.dlq`` (aiokafka producer,
  ``acks=all``); :meth:`KafkaSink.flush` waits for the broker's acks.
- :class:`AlertmanagerSink`: ``POST /api/v2/alerts`` with the
  ``postableAlert`` shape of :meth:`twinwatch.detectors.alerts.Alert.to_alertmanager`
  (firing: no ``endsAt``; resolved: ``endsAt`` = the alert's end), retried with
  exponential backoff on connection errors and 5xx; ``urllib`` only.

Dead-letter records are ``{"format", "reason", "detail", "raw_b64",
"whole_message"[, "kafka_ts"]}`` (:meth:`twinwatch.stream.pipeline.DeadLetter.to_dict`).
"""

from __future__ import annotations

import base64
import logging
import os
import ssl
import time
import urllib.error
import urllib.request
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import IO, Any

import orjson

from twinwatch.detectors.alerts import Alert, AlertChange

__all__ = ["AlertmanagerError", "AlertmanagerSink", "JsonlSink", "KafkaSink", "dumps"]

log = logging.getLogger(__name__)


def dumps(obj: Any) -> bytes:
    """Compact JSON bytes (NumPy scalars and arrays allowed; NaN becomes null)."""
    return orjson.dumps(obj, option=orjson.OPT_SERIALIZE_NUMPY)


class JsonlSink:
    """Append JSON lines to ``path`` (created with its folder); :meth:`flush` makes them durable.

    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "alerts.jsonl"
    >>> with JsonlSink(p) as s:
    ...     s.write_many([{"id": "a", "status": "firing"}, {"id": "a", "status": "resolved"}])
    ...     s.flush()
    2
    >>> p.read_text().splitlines()
    ['{"id":"a","status":"firing"}', '{"id":"a","status":"resolved"}']
    """

    def __init__(self, path: str | os.PathLike[str], *, fsync: bool = True) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._fh: IO[bytes] | None = open(self.path, "ab")  # noqa: SIM115 (kept open for the sink's lifetime)
        self.fsync = fsync
        self.lines = 0

    def write_many(self, records: Iterable[Mapping[str, Any] | Alert]) -> int:
        """Append one line per record (an :class:`Alert` is written with :meth:`Alert.to_dict`); returns the count."""
        assert self._fh is not None, "JsonlSink is closed"
        n = 0
        buf = bytearray()
        for r in records:
            buf += dumps(r.to_dict() if isinstance(r, Alert) else r)
            buf += b"\n"
            n += 1
        if n:
            self._fh.write(buf)
            self.lines += n
        return n

    def write_changes(self, changes: Iterable[AlertChange]) -> int:
        """Append the alerts of these state changes (firing and resolved lines share the alert's id)."""
        return self.write_many(c.alert for c in changes)

    def flush(self) -> None:
        """Flush to the OS and ``fsync`` (when enabled): the lines written so far survive a crash."""
        if self._fh is not None:
            self._fh.flush()
            if self.fsync:
                os.fsync(self._fh.fileno())

    def close(self) -> None:
        """Flush and close."""
        if self._fh is not None:
            self.flush()
            self._fh.close()
            self._fh = None

    def __enter__(self) -> JsonlSink:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class KafkaSink:
    """Alerts, expected records and dead letters to their topics through an aiokafka producer (async).

    Parameters
    ----------
    producer
        A started faust producer (``app.producer``) or :class:`aiokafka.AIOKafkaProducer`
        (``acks="all"`` recommended).
    alerts_topic, expected_topic, dlq_topic
        Topic names.
    """

    def __init__(self, producer: Any, *, alerts_topic: str = "twinwatch.alerts",
                 expected_topic: str = "twinwatch.expected", dlq_topic: str = "twinwatch.dlq",
                 on_error: Any = None) -> None:
        self.producer = producer
        self.alerts_topic, self.expected_topic, self.dlq_topic = alerts_topic, expected_topic, dlq_topic
        self._pending: list[Any] = []
        self.on_error = on_error

    async def _send(self, topic: str, key: bytes, value: bytes) -> None:
        from aiokafka import AIOKafkaProducer

        if isinstance(self.producer, AIOKafkaProducer):
            fut = await self.producer.send(topic, value=value, key=key)
        else:  # faust's producer: (topic, key, value, partition, timestamp, headers)
            fut = await self.producer.send(topic, key, value, None, None, None)
        self._pending.append(fut)

    async def send_changes(self, changes: Iterable[AlertChange]) -> None:
        """Queue the alert lines, keyed by alert id."""
        for c in changes:
            await self._send(self.alerts_topic, c.alert.id.encode(), dumps(c.alert.to_dict()))

    async def send_expected(self, records: Iterable[Mapping[str, Any]]) -> None:
        """Queue expected-vs-observed records, keyed by network."""
        for r in records:
            await self._send(self.expected_topic, str(r.get("network", "")).encode(), dumps(r))

    async def send_dead_letters(self, records: Iterable[Mapping[str, Any]]) -> None:
        """Queue dead-letter records, keyed by format."""
        for r in records:
            await self._send(self.dlq_topic, str(r.get("format", "")).encode(), dumps(r))

    async def flush(self) -> None:
        """Wait until the broker acknowledged everything queued (raises the first delivery error)."""
        pending, self._pending = self._pending, []
        for fut in pending:
            await fut


class AlertmanagerError(RuntimeError):
    """Alertmanager refused the alerts or stayed unreachable after the retries."""


class AlertmanagerSink:
    """Push alerts to Alertmanager's v2 API (``POST {url}/api/v2/alerts``), retrying with exponential backoff.

    Parameters
    ----------
    url
        Alertmanager base URL, e.g. ``http://alertmanager:9093``.
    timeout_s, retries, backoff_s
        Per-request timeout; retries after the first try on connection errors and HTTP 5xx/429;
        first backoff (doubled each retry, capped at 30 s).
    generator_url
        ``generatorURL`` of every alert (a link back to twinwatch).
    ssl_context
        TLS context of an ``https://`` URL (a private CA, a client certificate); ``None``: the system's CAs.
    auth
        ``(username, password)`` sent as HTTP basic authentication (Alertmanager's ``basic_auth_users``, or a
        proxy in front of it); ``None``: none.
    """

    def __init__(self, url: str, *, timeout_s: float = 5.0, retries: int = 5, backoff_s: float = 0.5,
                 generator_url: str = "", ssl_context: ssl.SSLContext | None = None,
                 auth: tuple[str, str] | None = None) -> None:
        self.endpoint = url.rstrip("/") + "/api/v2/alerts"
        self.timeout_s, self.retries, self.backoff_s = float(timeout_s), int(retries), float(backoff_s)
        self.generator_url = generator_url
        self.ssl_context = ssl_context
        self._headers = {"Content-Type": "application/json"}
        if auth is not None:
            token = base64.b64encode(f"{auth[0]}:{auth[1]}".encode()).decode("ascii")
            self._headers["Authorization"] = f"Basic {token}"
        self.sent = 0

    def payload(self, changes: Iterable[AlertChange]) -> list[dict[str, Any]]:
        """The list of ``postableAlert`` objects for these state changes."""
        return [c.alert.to_alertmanager(generator_url=self.generator_url) for c in changes]

    def push(self, changes: Iterable[AlertChange]) -> int:
        """POST the changes (nothing when empty); returns how many alerts were accepted.

        Raises
        ------
        AlertmanagerError
            A 4xx answer (not 429), or no success after ``retries`` retries.
        """
        body = self.payload(changes)
        if not body:
            return 0
        data = orjson.dumps(body)
        delay = self.backoff_s
        last = ""
        for attempt in range(self.retries + 1):
            req = urllib.request.Request(self.endpoint, data=data, method="POST", headers=self._headers)
            try:
                with urllib.request.urlopen(req, timeout=self.timeout_s, context=self.ssl_context) as resp:
                    resp.read()
                self.sent += len(body)
                return len(body)
            except urllib.error.HTTPError as exc:
                last = f"HTTP {exc.code}: {exc.read()[:200].decode('utf-8', 'replace')}"
                if exc.code < 500 and exc.code != 429:
                    raise AlertmanagerError(f"{self.endpoint}: refused {len(body)} alert(s): {last}") from None
            except (urllib.error.URLError, OSError) as exc:
                last = str(getattr(exc, "reason", exc))
            if attempt < self.retries:
                log.warning("alertmanager push failed (%s); retrying in %.1f s", last, delay)
                time.sleep(delay)
                delay = min(delay * 2, 30.0)
        raise AlertmanagerError(f"{self.endpoint}: unreachable after {self.retries + 1} tries ({last})")
