"""The :class:`Alert` record and :class:`AlertBook`, the lifecycle tracker (firing → resolved).

An alert is identified by ``id = sha256(network, entity_kind, entity_id, kpi,
start)`` (16 hex digits): the same episode replayed after a restart gets the
same id, so sinks can de-duplicate, and :class:`AlertBook` restored from its
snapshot emits no second ``firing`` for an episode already open, nor a second
``resolved`` for one already closed.

Kinds and paging. Only an unexplained ``degradation`` is a network fault and
may page (severity ``critical``). ``expected_congestion`` (the twin predicts
it from the traffic), ``traffic_anomaly`` (the traffic matrix itself is
unusual), ``link_state`` (down/up seen in telemetry) and ``telemetry_health``
(a silent device, a counter reset) are information for the operator: their
severity is at most ``warning`` (:data:`MAX_SEVERITY`), an :class:`Alert`
refuses anything higher, and the Alertmanager labels carry ``page="false"``.

Examples
--------
>>> a = Alert.open(network="nsf", entity_kind="path", entity_id="3->7", kpi="delay_s", start=1700000000.0,
...                kind="degradation", observed=0.012, expected=0.008, bounds=(0.007, 0.009), p_value=1e-7,
...                explanation="delay 50 % above the twin on 3->7")
>>> a.id == alert_id("nsf", "path", "3->7", "delay_s", 1700000000.0), a.severity, a.status
(True, 'critical', 'firing')
>>> Alert.open(network="nsf", entity_kind="device", entity_id="r1", kpi="up", start=0.0,
...            kind="telemetry_health").severity
'info'
>>> am = a.to_alertmanager(generator_url="http://twinwatch:8000/alerts")
>>> am["labels"]["alertname"], am["labels"]["page"], am["startsAt"]
('TwinwatchDegradation', 'true', '2023-11-14T22:13:20Z')
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections import OrderedDict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal, NamedTuple

import orjson

__all__ = ["DEFAULT_SEVERITY", "KINDS", "MAX_SEVERITY", "SEVERITIES", "Alert", "AlertBook", "AlertChange",
           "alert_id"]

Kind = Literal["degradation", "expected_congestion", "traffic_anomaly", "link_state", "telemetry_health"]
KINDS: tuple[str, ...] = ("degradation", "expected_congestion", "traffic_anomaly", "link_state", "telemetry_health")
SEVERITIES: tuple[str, ...] = ("info", "warning", "critical")
"""Alertmanager-conventional severities, lowest first."""
DEFAULT_SEVERITY: dict[str, str] = {
    "degradation": "critical",
    "expected_congestion": "warning",
    "traffic_anomaly": "warning",
    "link_state": "info",
    "telemetry_health": "info",
}
MAX_SEVERITY: dict[str, str] = {k: ("critical" if k == "degradation" else "warning") for k in KINDS}
"""Highest severity a kind may carry: only a degradation pages as a network fault."""


def alert_id(network: str, entity_kind: str, entity_id: str, kpi: str, start: float) -> str:
    """Stable 16-hex-digit id of an alert episode (``start`` to the millisecond).

    >>> alert_id("n", "link", "a->b", "utilization", 10.0) == alert_id("n", "link", "a->b", "utilization", 10.0001)
    True
    """
    key = f"{network}\x1f{entity_kind}\x1f{entity_id}\x1f{kpi}\x1f{round(float(start) * 1000)}"
    return hashlib.sha256(key.encode()).hexdigest()[:16]


def _rfc3339(ts: float) -> str:
    dt = datetime.fromtimestamp(ts, tz=UTC)
    s = dt.strftime("%Y-%m-%dT%H:%M:%S")
    ms = round((ts - int(ts)) * 1000) % 1000
    return s + (f".{ms:03d}Z" if ms else "Z")


@dataclass(frozen=True)
class Alert:
    """One alert episode. Times are epoch seconds (UTC); KPI values are SI units as in the Measurement contract.

    ``bounds`` is the calibrated normal range ``(lo, hi)`` of the KPI; ``suspects`` ranked
    links ``[{"link": "a->b", "score": s}, ...]`` (best first); ``end`` is set once resolved.
    Build new ones with :meth:`open` (it fills ``id`` and the default severity).
    """

    id: str
    network: str
    entity_kind: str
    entity_id: str
    kpi: str
    kind: str
    severity: str
    start: float
    status: Literal["firing", "resolved"] = "firing"
    end: float | None = None
    observed: float | None = None
    expected: float | None = None
    bounds: tuple[float, float] | None = None
    p_value: float | None = None
    suspects: tuple[dict[str, Any], ...] = field(default_factory=tuple)
    explanation: str = ""

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"Alert {self.id}: kind {self.kind!r} is not one of {KINDS}")
        if self.severity not in SEVERITIES:
            raise ValueError(f"Alert {self.id}: severity {self.severity!r} is not one of {SEVERITIES}")
        if SEVERITIES.index(self.severity) > SEVERITIES.index(MAX_SEVERITY[self.kind]):
            raise ValueError(f"Alert {self.id}: a {self.kind} alert never pages as a network fault; severity "
                             f"{self.severity!r} exceeds {MAX_SEVERITY[self.kind]!r}")
        if self.status not in ("firing", "resolved"):
            raise ValueError(f"Alert {self.id}: status {self.status!r} is not 'firing' or 'resolved'")
        if self.status == "resolved" and self.end is None:
            raise ValueError(f"Alert {self.id}: a resolved alert needs `end`")

    @classmethod
    def open(cls, *, network: str, entity_kind: str, entity_id: str, kpi: str, start: float, kind: str,
             severity: str | None = None, **fields: Any) -> Alert:
        """A new firing alert with its stable id and the kind's default severity."""
        if "suspects" in fields:
            fields["suspects"] = tuple(fields["suspects"])
        if fields.get("bounds") is not None:
            fields["bounds"] = (float(fields["bounds"][0]), float(fields["bounds"][1]))
        return cls(id=alert_id(network, entity_kind, entity_id, kpi, start), network=network,
                   entity_kind=entity_kind, entity_id=entity_id, kpi=kpi, kind=kind,
                   severity=severity or DEFAULT_SEVERITY.get(kind, "warning"), start=float(start), **fields)

    @property
    def pages(self) -> bool:
        """True when this alert is a network fault that should page (critical degradation)."""
        return self.kind == "degradation" and self.severity == "critical"

    def resolved(self, end: float) -> Alert:
        """A copy with ``status='resolved'`` and ``end``."""
        return dataclasses.replace(self, status="resolved", end=float(end))

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready dict (the contract field names)."""
        d = dataclasses.asdict(self)
        d["bounds"] = list(self.bounds) if self.bounds is not None else None
        d["suspects"] = [dict(s) for s in self.suspects]
        return d

    def to_json(self) -> str:
        """One JSON line (no newline), for JSONL files and the alerts topic."""
        return orjson.dumps(self.to_dict(), option=orjson.OPT_SERIALIZE_NUMPY).decode()

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Alert:
        """Inverse of :meth:`to_dict`."""
        d = dict(d)
        d["bounds"] = tuple(d["bounds"]) if d.get("bounds") is not None else None
        d["suspects"] = tuple(d.get("suspects") or ())
        return cls(**d)

    @property
    def suspect_link(self) -> str:
        """The link an operator should look at: the alert's own link, else its top suspect ("" when none).

        Alertmanager groups one incident's alerts by it and inhibits path alerts behind a down link with it.
        """
        if self.entity_kind == "link":
            return self.entity_id
        if self.suspects:
            return str(self.suspects[0].get("link", ""))
        return ""

    def to_alertmanager(self, generator_url: str = "") -> dict[str, Any]:
        """The Alertmanager v2 ``postableAlert`` shape (``POST /api/v2/alerts`` takes a list of them)."""
        labels = {"alertname": "Twinwatch" + "".join(w.title() for w in self.kind.split("_")),
                  "network": self.network, "entity_kind": self.entity_kind, "entity_id": self.entity_id,
                  "kpi": self.kpi, "kind": self.kind, "severity": self.severity,
                  "page": "true" if self.pages else "false", "alert_id": self.id}
        suspect = self.suspect_link
        if suspect:
            labels["suspect_link"] = suspect
        ann = {"summary": self.explanation or f"{self.kind} on {self.entity_kind} {self.entity_id} ({self.kpi})"}
        for name in ("observed", "expected", "p_value"):
            v = getattr(self, name)
            if v is not None:
                ann[name] = f"{v:.6g}"
        if self.bounds is not None:
            ann["bounds"] = f"{self.bounds[0]:.6g}..{self.bounds[1]:.6g}"
        if self.suspects:
            ann["suspects"] = orjson.dumps(list(self.suspects)).decode()
        out: dict[str, Any] = {"labels": labels, "annotations": ann, "startsAt": _rfc3339(self.start)}
        if self.end is not None:
            out["endsAt"] = _rfc3339(self.end)
        if generator_url:
            out["generatorURL"] = generator_url
        return out


class AlertChange(NamedTuple):
    """A state change emitted by :class:`AlertBook`: ``action`` is ``"firing"`` or ``"resolved"``."""

    action: Literal["firing", "resolved"]
    alert: Alert


Key = tuple[str, str, str, str]


class AlertBook:
    """Tracks open alerts per (network, entity_kind, entity_id, kpi) and yields only real state changes.

    Parameters
    ----------
    remember_resolved
        How many recently resolved ids to remember, so a window replayed after a restart
        does not emit a resolution twice (bounded memory).

    Examples
    --------
    >>> book = AlertBook()
    >>> [c.action for c in book.fire([Alert.open(network="n", entity_kind="path", entity_id="1->2", kpi="delay_s",
    ...                                           start=60.0, kind="degradation")])]
    ['firing']
    >>> again = AlertBook.from_bytes(book.to_bytes())      # restart: same episode replayed
    >>> again.fire([Alert.open(network="n", entity_kind="path", entity_id="1->2", kpi="delay_s", start=60.0,
    ...                        kind="degradation")])
    []
    >>> [(c.action, c.alert.end) for c in again.resolve([("n", "path", "1->2", "delay_s")], end=180.0)]
    [('resolved', 180.0)]
    """

    def __init__(self, *, remember_resolved: int = 10_000) -> None:
        self.remember_resolved = int(remember_resolved)
        self._open: dict[Key, Alert] = {}
        self._resolved: OrderedDict[str, float] = OrderedDict()

    @staticmethod
    def key(alert: Alert) -> Key:
        """The episode key of an alert: ``(network, entity_kind, entity_id, kpi)``."""
        return (alert.network, alert.entity_kind, alert.entity_id, alert.kpi)

    @property
    def open_alerts(self) -> list[Alert]:
        """Alerts currently firing."""
        return list(self._open.values())

    def fire(self, alerts: Iterable[Alert]) -> list[AlertChange]:
        """Open these alerts unless their key is already firing or their id was already resolved."""
        out: list[AlertChange] = []
        for a in alerts:
            k = self.key(a)
            if k in self._open or a.id in self._resolved:
                continue
            self._open[k] = a
            out.append(AlertChange("firing", a))
        return out

    def resolve(self, keys: Sequence[Key], end: float) -> list[AlertChange]:
        """Resolve the open alerts of these keys at ``end`` (keys not firing are ignored)."""
        out: list[AlertChange] = []
        for k in keys:
            a = self._open.pop(tuple(k), None)  # type: ignore[arg-type]
            if a is None:
                continue
            r = a.resolved(end)
            self._resolved[r.id] = r.end or end
            while len(self._resolved) > self.remember_resolved:
                self._resolved.popitem(last=False)
            out.append(AlertChange("resolved", r))
        return out

    def to_bytes(self) -> bytes:
        """JSON snapshot: open alerts and the remembered resolved ids."""
        return orjson.dumps({"format": "twinwatch.alertbook/1", "remember_resolved": self.remember_resolved,
                             "open": [a.to_dict() for a in self._open.values()],
                             "resolved": list(self._resolved.items())})

    @classmethod
    def from_bytes(cls, data: bytes) -> AlertBook:
        """Restore a :meth:`to_bytes` snapshot (ValueError on a foreign blob)."""
        try:
            d = orjson.loads(data)
            if d.get("format") != "twinwatch.alertbook/1":
                raise KeyError(f"format {d.get('format')!r}")
            book = cls(remember_resolved=int(d["remember_resolved"]))
            for ad in d["open"]:
                a = Alert.from_dict(ad)
                book._open[cls.key(a)] = a
            book._resolved = OrderedDict((str(i), float(t)) for i, t in d["resolved"])
        except (orjson.JSONDecodeError, KeyError, TypeError, AttributeError) as exc:
            raise ValueError(f"AlertBook.from_bytes: not an alert-book snapshot ({exc})") from None
        return book
