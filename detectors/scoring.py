"""Detection scoring: alerts against ground-truth labels, with the same rules for every detector.

The scorer reads only two things: the run's labels (``labels.jsonl`` of the
network under test, :func:`twinwatch.twin.testbed.faults.Fault.label`) and a
detector's alerts (Alert JSON lines, :class:`twinwatch.detectors.alerts.Alert`). It
does not know which detector produced the alerts, so the twin, the
static-threshold baseline, the twin-less series mode and the PromQL bands are
scored by exactly the same code.

Alerts
    An alert file holds state changes: a ``firing`` line, then (usually) a
    ``resolved`` line with the same ``id``. :func:`collapse_alerts` turns them
    into one :class:`AlertSpan` per id: ``start`` (onset) from the alert,
    ``end`` from its resolution, or the end of the run when it never resolved.

Matching rule
    An alert span *matches* a label when

    1. its onset lies in ``[label.start − lead, label.end + grace]`` (``grace`` =
       ``grace_windows`` × ``window_s``, 2 windows by default; ``lead`` one window
       by default, for clock skew at the window boundary) — the *onset*,
       not any overlap: an alert already firing before the fault began (a
       stuck false alarm) is not a detection of it; ``rule="overlap"`` uses
       plain span overlap instead;
    2. its kind can detect the label's kind (:data:`DETECTS`): an unexplained
       ``degradation`` detects every network fault; ``link_state`` detects
       ``link_down`` (the port reported down), ``capacity_degradation``
       (the ports reported a lower speed: a LAG that lost a member) and
       ``metric_change`` (the router reported another IGP metric); a traffic surge may also be reported as
       ``traffic_anomaly`` or ``expected_congestion`` (the twin predicts the
       congestion from the traffic), unmonitored traffic as
       ``traffic_anomaly``. For benign events, ``telemetry_health`` alerts
       *explain* telemetry events (counter clear, reboot, gap, late batch) and
       ``expected_congestion`` the diurnal peak: such alerts are matched, not
       false alarms.

    A *network-fault alert* is a ``degradation`` (:data:`NETWORK_FAULT_ALERT_KINDS`,
    the only kind that pages, see :mod:`twinwatch.detectors.alerts`).

Metrics
    * Per fault kind, event-wise as in Hundman et al. (KDD 2018, "Telemanom"):
      a fault is detected (TP) when at least one alert matches it; FN when none
      does; a false positive is one *incident* of unmatched alerts — the union
      of the spans of unmatched alerts that overlap or touch (within one
      window), so a burst of alerts on many entities counts once, as an
      operator receiving one grouped page sees it. An incident counts against
      every fault kind its alerts' kinds could have detected (conservative:
      an unmatched ``degradation`` counts against all kinds).
      ``precision = TP / (TP + FP)``, ``recall = TP / (TP + FN)``, F1 their
      harmonic mean (0 when both are 0; NaN precision when nothing fired).
    * Detection delay, in windows: ``(first matching onset − label.start) / window_s``,
      clipped at 0; median and 95th percentile (linear interpolation) over
      the detected faults.
    * Localisation (top-1, top-3) over the detected faults whose ground truth
      names links or nodes: the ranking is the ``suspects`` of the earliest
      matching alert that has a candidate (ties: lower p-value, then id); an
      alert without suspects on a ``link`` entity ranks that link alone. The
      truth set is the label's links, plus the reverse direction for
      cable-level faults (:data:`CABLE_FAULTS`: capacity degradation and link
      down act on both directions); a node fault counts every link adjacent
      to the node (ids ``"a->b"``).
    * Wrong-link pages: over the same faults, the matching network-fault
      alerts whose entity is a link outside the truth set (an operator is
      paged about a link the fault does not touch); top-1 reads only the
      earliest alert, so it cannot show them.
    * False alarms: unmatched network-fault alerts (each alert, i.e. each
      (entity, KPI) episode, counts) per entity-hour of fault-free time (the
      run minus the union of ``[start, end + grace]`` of the network faults),
      and per entity-window, compared with the configured ``alpha``
      (``ratio_to_alpha`` = per-entity-window rate / ``alpha``); and per
      fault-free *network*-window (``ratio_to_alpha_network``): the rate a
      network-wide multiple-testing rule at ``alpha`` bounds (under a global
      null Benjamini–Hochberg at ``alpha`` makes a false discovery in a window
      with probability ``alpha``, i.e. ``alpha / n`` per entity).
    * Benign events: how many have at least one network-fault alert with its
      onset in ``[start, end + grace]`` that matches no network fault (target 0),
      and how many were explained by a telemetry-health alert.

Examples
--------
>>> labels = [{"id": "f1", "kind": "grey_loss", "benign": False, "start": 0.0, "end": 60.0,
...            "entity_kind": "link", "entities": ["a->b"]},
...           {"id": "f2", "kind": "grey_loss", "benign": False, "start": 600.0, "end": 660.0,
...            "entity_kind": "link", "entities": ["c->d"]}]
>>> alerts = [{"id": "x", "status": "firing", "kind": "degradation", "start": 20.0, "end": None,
...            "entity_kind": "link", "entity_id": "a->b", "kpi": "loss_ratio", "suspects": []},
...           {"id": "x", "status": "resolved", "kind": "degradation", "start": 20.0, "end": 80.0,
...            "entity_kind": "link", "entity_id": "a->b", "kpi": "loss_ratio", "suspects": []}]
>>> r = score(labels, alerts, window_s=10.0, n_entities=4, run_start=0.0, run_end=1200.0)
>>> k = r.per_kind["grey_loss"]
>>> (k.detected, k.events, k.recall, k.precision, k.delay_median_windows, k.top1)
(1, 2, 0.5, 1.0, 2.0, 1.0)
"""

from __future__ import annotations

import math
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import orjson

from twinwatch.twin.doc_limits import short_repr

__all__ = [
    "CABLE_FAULTS",
    "DETECTS",
    "NETWORK_FAULT_ALERT_KINDS",
    "AlertSpan",
    "KindScore",
    "ScoreReport",
    "ScoringError",
    "collapse_alerts",
    "combine_reports",
    "entities_of_network",
    "load_alert_lines",
    "load_labels",
    "score",
    "truth_links",
]

NETWORK_FAULT_KINDS: tuple[str, ...] = (
    "capacity_degradation", "grey_loss", "link_down", "metric_change", "queue_change", "traffic_surge",
    "unmonitored_traffic",
)
"""Label kinds that are network faults (the testbed's ``FAULT_KINDS``)."""

NETWORK_FAULT_ALERT_KINDS: frozenset[str] = frozenset({"degradation"})
"""Alert kinds that assert a network fault (page); only these count as false alarms."""

DETECTS: dict[str, frozenset[str]] = {
    "capacity_degradation": frozenset({"degradation", "link_state"}),
    "grey_loss": frozenset({"degradation"}),
    "link_down": frozenset({"degradation", "link_state"}),
    "metric_change": frozenset({"degradation", "link_state"}),
    "queue_change": frozenset({"degradation"}),
    "traffic_surge": frozenset({"degradation", "traffic_anomaly", "expected_congestion"}),
    "unmonitored_traffic": frozenset({"degradation", "traffic_anomaly"}),
    # benign events: the alerts that correctly *explain* them (matched, never false alarms)
    "counter_clear": frozenset({"telemetry_health"}),
    "device_reboot": frozenset({"telemetry_health"}),
    "telemetry_gap": frozenset({"telemetry_health"}),
    "late_batch": frozenset({"telemetry_health"}),
    "diurnal_peak": frozenset({"expected_congestion"}),
}
"""Label kind → the alert kinds that count as detecting (or, for benign events, explaining) it."""

CABLE_FAULTS: frozenset[str] = frozenset({"capacity_degradation", "link_down"})
"""Fault kinds that act on both directions of a cable: the reverse link id is also a correct suspect."""

_ALERT_KINDS: tuple[str, ...] = ("degradation", "expected_congestion", "traffic_anomaly", "link_state",
                                 "telemetry_health")


class ScoringError(ValueError):
    """A label or alert line is malformed (names the file, the line and the field)."""


# ----------------------------------------------------------------------------- inputs
def _read_jsonl(path: str | Path) -> list[tuple[int, dict[str, Any]]]:
    """``(line number, object)`` of every non-blank line (a UTF-8 BOM and CRLF line ends are accepted)."""
    p = Path(path)
    try:
        raw = p.read_bytes()
    except OSError as exc:
        raise ScoringError(f"{p}: cannot read ({exc.strerror})") from None
    out = []
    for n, line in enumerate(raw.removeprefix(b"\xef\xbb\xbf").splitlines(), 1):
        if not line.strip():
            continue
        try:
            obj = orjson.loads(line)
        except orjson.JSONDecodeError as exc:
            raise ScoringError(f"{p}: line {n}: not JSON ({short_repr(exc)})") from None
        if not isinstance(obj, dict):
            raise ScoringError(f"{p}: line {n}: not a JSON object")
        out.append((n, obj))
    return out


def load_labels(path: str | Path) -> list[dict[str, Any]]:
    """Labels of ``labels.jsonl`` (one JSON object per line), checked for the fields the scorer uses.

    Blank lines are skipped; any other line that is not a valid label refuses the file
    (:class:`ScoringError` naming the file, the line and the field): scores of a partly read
    ground truth would be wrong without saying so.
    """
    rows = _read_jsonl(path)
    for n, r in rows:
        _check_label(r, f"{path}: line {n}")
    return [r for _, r in rows]


def load_alert_lines(path: str | Path) -> list[dict[str, Any]]:
    """Alert JSON lines (firing / resolved state changes) of an alerts file; refused as :func:`load_labels`."""
    rows = _read_jsonl(path)
    for n, r in rows:
        _check_alert(r, f"{path}: line {n}")
    return [r for _, r in rows]


def _time(r: Mapping[str, Any], key: str, where: str) -> float:
    """``r[key]`` as finite epoch seconds (a JSON number, not a bool or a string)."""
    v = r[key]
    if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(float(v)):
        raise ScoringError(f"{where}: {key!r} must be a finite number (epoch seconds), got {short_repr(v)}")
    return float(v)


def _check_label(r: Mapping[str, Any], where: str) -> None:
    for key in ("kind", "start", "end"):
        if key not in r:
            raise ScoringError(f"{where}: missing field {key!r}")
    if not isinstance(r["kind"], str) or r["kind"] not in DETECTS:
        raise ScoringError(f"{where}: unknown label kind {short_repr(r['kind'])}; known: {', '.join(sorted(DETECTS))}")
    s, e = _time(r, "start", where), _time(r, "end", where)
    if e < s:
        raise ScoringError(f"{where}: needs start <= end, got {s!r}..{e!r}")
    ents = r.get("entities")
    if ents is not None and (not isinstance(ents, list) or not all(isinstance(x, str) for x in ents)):
        raise ScoringError(f"{where}: 'entities' must be a list of entity ids (strings), got {short_repr(ents)}")
    for key in ("entity_kind", "id"):
        if r.get(key) is not None and not isinstance(r[key], str):
            raise ScoringError(f"{where}: {key!r} must be a string, got {short_repr(r[key])}")
    if r.get("benign") is not None and not isinstance(r["benign"], bool):
        raise ScoringError(f"{where}: 'benign' must be true or false, got {short_repr(r['benign'])}")


def _check_alert(r: Mapping[str, Any], where: str) -> None:
    for key in ("id", "status", "kind", "start"):
        if key not in r:
            raise ScoringError(f"{where}: missing field {key!r}")
    if not isinstance(r["id"], str) or not r["id"]:
        raise ScoringError(f"{where}: 'id' must be a non-empty string, got {short_repr(r['id'])}")
    if r["status"] not in ("firing", "resolved"):
        raise ScoringError(f"{where}: status {short_repr(r['status'])} is not 'firing' or 'resolved'")
    if not isinstance(r["kind"], str) or r["kind"] not in _ALERT_KINDS:
        raise ScoringError(f"{where}: alert kind {short_repr(r['kind'])} is not one of {', '.join(_ALERT_KINDS)}")
    start = _time(r, "start", where)
    if r["status"] == "resolved" and r.get("end") is None:
        raise ScoringError(f"{where}: a resolved alert needs 'end'")
    if r.get("end") is not None and _time(r, "end", where) < start:
        raise ScoringError(f"{where}: 'end' {r['end']!r} is before 'start' {start!r}")
    pv = r.get("p_value")
    if pv is not None and (isinstance(pv, bool) or not isinstance(pv, int | float) or not 0.0 <= pv <= 1.0):
        raise ScoringError(f"{where}: 'p_value' must be a number in [0, 1] or null, got {short_repr(pv)}")
    sus = r.get("suspects")
    if sus is not None and (not isinstance(sus, list) or not all(
            isinstance(x, Mapping) and isinstance(x.get("link"), str) for x in sus)):
        raise ScoringError(f"{where}: 'suspects' must be a list of objects with a string 'link', got {short_repr(sus)}")
    for key in ("entity_kind", "entity_id", "kpi"):
        if r.get(key) is not None and not isinstance(r[key], str):
            raise ScoringError(f"{where}: {key!r} must be a string, got {short_repr(r[key])}")


@dataclass(frozen=True)
class AlertSpan:
    """One alert episode: onset ``start`` and ``end`` in epoch seconds (``inf``: never resolved)."""

    id: str
    kind: str
    entity_kind: str
    entity_id: str
    kpi: str
    start: float
    end: float
    p_value: float
    suspects: tuple[str, ...]


def collapse_alerts(lines: Iterable[Mapping[str, Any]]) -> list[AlertSpan]:
    """One :class:`AlertSpan` per alert id from firing / resolved lines (any order).

    The onset is the smallest ``start`` seen for the id; the end the resolution's ``end``
    (``inf`` when the id never resolved); suspects from the latest line that has any.

    >>> spans = collapse_alerts([{"id": "a", "status": "firing", "kind": "degradation", "start": 5.0},
    ...                          {"id": "a", "status": "resolved", "kind": "degradation", "start": 5.0, "end": 25.0,
    ...                           "suspects": [{"link": "x->y", "score": 0.9}]}])
    >>> (spans[0].start, spans[0].end, spans[0].suspects)
    (5.0, 25.0, ('x->y',))
    """
    acc: dict[str, dict[str, Any]] = {}
    for n, r in enumerate(lines, 1):
        _check_alert(r, f"alert line {n}")
        d = acc.get(r["id"])
        sus = tuple(str(s["link"]) for s in (r.get("suspects") or ()) if isinstance(s, Mapping) and "link" in s)
        if d is None:
            d = acc[r["id"]] = {"id": str(r["id"]), "kind": str(r["kind"]),
                                "entity_kind": str(r.get("entity_kind") or ""),
                                "entity_id": str(r.get("entity_id") or ""), "kpi": str(r.get("kpi") or ""),
                                "start": float(r["start"]), "end": math.inf, "p_value": math.inf, "suspects": ()}
        d["start"] = min(d["start"], float(r["start"]))
        if r["status"] == "resolved":
            d["end"] = float(r["end"])
        pv = r.get("p_value")
        if pv is not None and math.isfinite(float(pv)):
            d["p_value"] = min(d["p_value"], float(pv))
        if sus:
            d["suspects"] = sus
    return [AlertSpan(**d) for d in acc.values()]


# ----------------------------------------------------------------------------- ground truth helpers
def truth_links(label: Mapping[str, Any], known_links: Iterable[str] = ()) -> frozenset[str]:
    """The link ids a correct localisation may name for ``label``.

    Link faults: the label's links, plus the reverse direction for :data:`CABLE_FAULTS`.
    Node faults: every link ``"a->b"`` of ``known_links`` with the node at either end.
    Other labels (network-wide, paths): empty.

    >>> sorted(truth_links({"kind": "link_down", "entity_kind": "link", "entities": ["a->b"]}))
    ['a->b', 'b->a']
    >>> sorted(truth_links({"kind": "traffic_surge", "entity_kind": "node", "entities": ["b"]},
    ...                    ["a->b", "b->c", "c->d"]))
    ['a->b', 'b->c']
    """
    ents = [str(e) for e in label.get("entities") or ()]
    kind = label.get("entity_kind")
    if kind == "link":
        out = set(ents)
        if label.get("kind") in CABLE_FAULTS:
            out |= {"->".join(reversed(e.split("->", 1))) for e in ents if "->" in e}
        return frozenset(out)
    if kind == "node":
        nodes = set(ents)
        return frozenset(lk for lk in known_links if "->" in lk and (set(lk.split("->", 1)) & nodes))
    return frozenset()


def entities_of_network(n_nodes: int, n_links: int) -> int:
    """Entities an alert can name in a network: directed links + ordered node pairs (paths).

    >>> entities_of_network(11, 28)
    138
    """
    return int(n_links) + int(n_nodes) * (int(n_nodes) - 1)


# ----------------------------------------------------------------------------- report
@dataclass
class KindScore:
    """Event-wise scores of one fault kind (or of all network faults: kind ``"all"``).

    Delays in windows; localisation accuracies are fractions of ``localisable`` detected faults
    (NaN when there are none).
    """

    kind: str
    events: int = 0
    detected: int = 0
    false_positives: int = 0
    precision: float = math.nan
    recall: float = math.nan
    f1: float = math.nan
    delay_median_windows: float = math.nan
    delay_p95_windows: float = math.nan
    localisable: int = 0
    top1: float = math.nan
    top3: float = math.nan
    delays_windows: list[float] = field(default_factory=list)
    """Delay of each detected fault, windows (what the median and p95 are taken over)."""
    hits_top1: list[bool] = field(default_factory=list)
    hits_top3: list[bool] = field(default_factory=list)
    wrong_link_pages: int = 0
    """Network-fault alerts (they page) on a link the fault does not touch (outside its truth links), matched to
    one of the ``localisable`` detected faults: the extra pages an operator gets, which top-1 does not show."""

    @classmethod
    def build(cls, kind: str, detected: Sequence[bool], delays: Sequence[float], hits1: Sequence[bool],
              hits3: Sequence[bool], false_positives: int, wrong_link_pages: int = 0) -> KindScore:
        """Derive the rates from the raw per-event outcomes."""
        d = np.asarray(delays, dtype=np.float64)
        tp = int(sum(detected))
        p, r, f = _prf(tp, len(detected) - tp, int(false_positives))
        return cls(kind=kind, events=len(detected), detected=tp, false_positives=int(false_positives), precision=p,
                   recall=r, f1=f, delay_median_windows=float(np.median(d)) if d.size else math.nan,
                   delay_p95_windows=float(np.percentile(d, 95)) if d.size else math.nan,
                   localisable=len(hits1), top1=float(np.mean(hits1)) if len(hits1) else math.nan,
                   top3=float(np.mean(hits3)) if len(hits3) else math.nan, delays_windows=[float(x) for x in d],
                   hits_top1=[bool(x) for x in hits1], hits_top3=[bool(x) for x in hits3],
                   wrong_link_pages=int(wrong_link_pages))


@dataclass
class ScoreReport:
    """What :func:`score` measured. Times in seconds / hours as named; rates per entity."""

    per_kind: dict[str, KindScore]
    overall: KindScore
    alerts: int
    network_fault_alerts: int
    false_alarms: int
    false_alarm_incidents: int
    informational_unmatched: int
    fault_free_hours: float
    n_entities: int
    false_alarms_per_entity_hour: float
    false_alarms_per_entity_window: float
    alpha: float
    ratio_to_alpha: float
    benign_events: int
    benign_with_network_alert: int
    benign_explained: int
    rules: dict[str, Any] = field(default_factory=dict)
    false_alarms_per_network_window: float = math.nan
    """Unmatched network-fault alerts per fault-free window of the whole network."""
    ratio_to_alpha_network: float = math.nan
    """``false_alarms_per_network_window / alpha``: the rate a network-wide rule at ``alpha`` bounds."""

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict: NaN and inf → ``None``, each with its reason under ``"undefined"`` (field path → why).

        >>> d = score([{"kind": "grey_loss", "start": 0, "end": 60, "entity_kind": "link", "entities": ["a->b"]}],
        ...           [], n_entities=2, run_start=0, run_end=3600).to_dict()
        >>> d["overall"]["recall"], d["overall"]["precision"], d["undefined"]["overall.precision"]
        (0.0, None, 'no alert of a kind that detects it matched or went unmatched (TP + FP = 0)')
        """
        reasons: dict[str, str] = {}
        out = _nan_to_none(asdict(self), "", reasons)
        out["undefined"] = reasons
        return out

    def to_json(self) -> str:
        """Indented JSON."""
        return orjson.dumps(self.to_dict(), option=orjson.OPT_INDENT_2).decode()


_UNDEFINED: dict[str, str] = {
    "precision": "no alert of a kind that detects it matched or went unmatched (TP + FP = 0)",
    "recall": "no fault event of this kind was scored (TP + FN = 0)",
    "f1": "recall is undefined",
    "delay_median_windows": "no fault of this kind was detected",
    "delay_p95_windows": "no fault of this kind was detected",
    "top1": "no detected fault of this kind names links or nodes to localise",
    "top3": "no detected fault of this kind names links or nodes to localise",
    "false_alarms_per_entity_hour": "no fault-free entity-hours (no fault-free time or no entity)",
    "false_alarms_per_entity_window": "no fault-free entity-hours (no fault-free time or no entity)",
    "ratio_to_alpha": "no fault-free entity-hours (no fault-free time or no entity)",
    "false_alarms_per_network_window": "no fault-free time",
    "ratio_to_alpha_network": "no fault-free time",
}
"""Why a metric is undefined (null in JSON), by field name."""


def _nan_to_none(x: Any, path: str = "", reasons: dict[str, str] | None = None) -> Any:
    if isinstance(x, dict):
        return {k: _nan_to_none(v, f"{path}.{k}" if path else str(k), reasons) for k, v in x.items()}
    if isinstance(x, list | tuple):
        return [_nan_to_none(v, f"{path}[{i}]", reasons) for i, v in enumerate(x)]
    if isinstance(x, float) and not math.isfinite(x):
        if reasons is not None:
            name = path.rsplit(".", 1)[-1]
            reasons[path] = _UNDEFINED.get(name) if math.isnan(x) and name in _UNDEFINED else (
                "not a finite number: the times span more than a float can hold")
        return None
    return x


def _prf(tp: int, fn: int, fp: int) -> tuple[float, float, float]:
    p = tp / (tp + fp) if tp + fp else math.nan
    r = tp / (tp + fn) if tp + fn else math.nan
    if math.isnan(p) or math.isnan(r):
        f = math.nan if math.isnan(r) else 0.0
    else:
        f = 2 * p * r / (p + r) if p + r else 0.0
    return p, r, f


def _union_hours(starts: np.ndarray, ends: np.ndarray, lo: float, hi: float) -> float:
    """Hours of ``[lo, hi]`` covered by the union of ``[starts, ends]``."""
    if starts.size == 0:
        return 0.0
    s = np.clip(starts, lo, hi)
    e = np.clip(ends, lo, hi)
    o = np.argsort(s, kind="stable")
    s, e = s[o], np.maximum.accumulate(e[o])
    # covered = sum of (e_i - max(s_i, e_{i-1}))^+
    prev = np.concatenate([[lo], e[:-1]])
    return float(np.clip(e - np.maximum(s, prev), 0.0, None).sum()) / 3600.0


def _incidents(starts: np.ndarray, ends: np.ndarray, gap: float) -> np.ndarray:
    """``(A,)`` incident number of each span: spans whose union is connected (within ``gap``) share one."""
    if starts.size == 0:
        return np.zeros(0, dtype=np.int64)
    o = np.argsort(starts, kind="stable")
    s, e = starts[o], ends[o]
    reach = np.maximum.accumulate(e)
    new = np.concatenate([[True], s[1:] > reach[:-1] + gap])
    inc = np.cumsum(new) - 1
    out = np.empty_like(inc)
    out[o] = inc
    return out


def score(
    labels: Sequence[Mapping[str, Any]],
    alerts: Iterable[Mapping[str, Any]] | Sequence[AlertSpan],
    *,
    window_s: float = 10.0,
    grace_windows: float = 2.0,
    n_entities: int | None = None,
    known_links: Iterable[str] = (),
    alpha: float = 0.01,
    run_start: float | None = None,
    run_end: float | None = None,
    rule: Literal["onset", "overlap"] = "onset",
    scored_ids: Collection[str] | None = None,
    lead_windows: float = 1.0,
) -> ScoreReport:
    """Score alerts against labels (see the module docstring for every rule).

    Parameters
    ----------
    labels
        Label dicts (``kind, start, end, entity_kind, entities``; times epoch seconds).
    alerts
        Alert JSON dicts (firing / resolved lines) or already collapsed :class:`AlertSpan`.
    window_s, grace_windows
        Window length (s) and the grace after a label's end, in windows.
    n_entities
        Entities that could alert (e.g. :func:`entities_of_network`); default: the distinct
        ``(entity_kind, entity_id)`` of the alerts (a lower bound: the rate is then an upper bound).
    known_links
        Link ids of the network (node faults are localised to their adjacent links); the
        suspects and label links seen are always added.
    alpha
        The detector's configured level, for ``ratio_to_alpha``.
    run_start, run_end
        The run's time span (epoch s); default: from the first / last label or alert time.
    rule
        ``"onset"`` (default): the alert's onset must fall in the label's span + grace;
        ``"overlap"``: any overlap of the spans.
    lead_windows
        An onset up to this many windows *before* the label's start still matches: alerts carry
        their window's start time, labels start on a window boundary, and device clocks are skewed
        (the testbed's 0.2 s), so a report made at the fault's first instant can land in the
        window before it. Delays stay clipped at 0.
    scored_ids
        Label ids of the network faults to score (e.g. those visible beyond the twin's 90 % interval,
        :func:`twinwatch.detectors.visibility.fault_visibility`); default every fault. Faults left out
        are neither detections nor misses, but alerts matching them are still not false positives,
        and their time still counts as busy for the false-alarm rate.
    """
    if window_s <= 0 or grace_windows < 0:
        raise ScoringError(f"score: need window_s > 0 and grace_windows >= 0, got {window_s}, {grace_windows}")
    if rule not in ("onset", "overlap"):
        raise ScoringError(f"score: rule must be 'onset' or 'overlap', got {rule!r}")
    for n, lb in enumerate(labels, 1):
        _check_label(lb, f"label {n}")
    items = list(alerts)
    spans = [a for a in items if isinstance(a, AlertSpan)]
    if len(spans) != len(items):
        spans = collapse_alerts([a for a in items if not isinstance(a, AlertSpan)]) + spans
    grace = grace_windows * window_s
    lead = max(float(lead_windows), 0.0) * window_s

    l_start = np.array([float(lb["start"]) for lb in labels], dtype=np.float64)
    l_end = np.array([float(lb["end"]) for lb in labels], dtype=np.float64)
    l_kind = [str(lb["kind"]) for lb in labels]
    l_fault = np.array([k in NETWORK_FAULT_KINDS and not lb.get("benign", False) for k, lb in zip(l_kind, labels)],
                       dtype=bool)
    t_candidates = [*l_start.tolist(), *l_end.tolist(), *(a.start for a in spans),
                    *(a.end for a in spans if math.isfinite(a.end))]
    t0 = float(run_start) if run_start is not None else (min(t_candidates) if t_candidates else 0.0)
    t1 = float(run_end) if run_end is not None else (max(t_candidates) if t_candidates else t0)

    a_start = np.array([a.start for a in spans], dtype=np.float64)
    a_end = np.array([min(a.end, t1) if math.isfinite(a.end) else max(t1, a.start) for a in spans], dtype=np.float64)
    a_kind = [a.kind for a in spans]
    a_nf = np.array([k in NETWORK_FAULT_ALERT_KINDS for k in a_kind], dtype=bool)

    # compat[i, j]: alert i's kind can detect / explain label j's kind
    kinds_u = sorted(set(a_kind))
    compat_k = np.array([[ak in DETECTS[lk] for lk in l_kind] for ak in kinds_u], dtype=bool).reshape(
        len(kinds_u), len(l_kind))
    a_kidx = np.array([kinds_u.index(k) for k in a_kind], dtype=np.int64)
    compat = compat_k[a_kidx] if spans else np.zeros((0, len(labels)), dtype=bool)
    if rule == "onset":
        in_time = (a_start[:, None] >= l_start[None, :] - lead) & (a_start[:, None] <= l_end[None, :] + grace)
    else:
        in_time = (a_start[:, None] <= l_end[None, :] + grace) & (a_end[:, None] >= l_start[None, :])
    match = in_time & compat  # (A, L)
    matched_fault = (match & l_fault[None, :]).any(axis=1)
    matched_any = match.any(axis=1)

    # unmatched alerts -> false-positive incidents (counted against the kinds they could have detected)
    unm = np.flatnonzero(~matched_any)
    inc = _incidents(a_start[unm], a_end[unm], window_s)
    n_inc = int(inc.max()) + 1 if inc.size else 0
    inc_kinds: list[set[str]] = [set() for _ in range(n_inc)]
    for i, c in zip(unm.tolist(), inc.tolist()):
        inc_kinds[c].add(a_kind[i])

    links = set(known_links)
    for lb in labels:
        if lb.get("entity_kind") == "link":
            links.update(str(e) for e in lb.get("entities") or ())
    for a in spans:
        links.update(a.suspects)
        if a.entity_kind == "link":
            links.add(a.entity_id)

    per: dict[str, dict[str, list[Any]]] = {}
    keep = set(map(str, scored_ids)) if scored_ids is not None else None
    for j in np.flatnonzero(l_fault).tolist():
        if keep is not None and str(labels[j].get("id")) not in keep:
            continue
        k = l_kind[j]
        rec = per.setdefault(k, {"det": [], "delay": [], "hit1": [], "hit3": [], "wrong": []})
        hits = np.flatnonzero(match[:, j])
        rec["det"].append(bool(hits.size))
        if not hits.size:
            continue
        onset = float(a_start[hits].min())
        rec["delay"].append(max(0.0, (onset - l_start[j]) / window_s))
        truth = truth_links(labels[j], links)
        if not truth:
            continue
        ranked = _ranking([spans[i] for i in hits.tolist()])
        rec["hit1"].append(bool(set(ranked[:1]) & truth))
        rec["hit3"].append(bool(set(ranked[:3]) & truth))
        rec["wrong"].append(sum(1 for i in hits.tolist() if a_nf[i] and spans[i].entity_kind == "link"
                                and spans[i].entity_id not in truth))

    def kind_score(kind: str, recs: list[dict[str, list[Any]]], detect_kinds: frozenset[str]) -> KindScore:
        return KindScore.build(kind, [x for r in recs for x in r["det"]], [x for r in recs for x in r["delay"]],
                               [x for r in recs for x in r["hit1"]], [x for r in recs for x in r["hit3"]],
                               sum(1 for ks in inc_kinds if ks & detect_kinds), sum(sum(r["wrong"]) for r in recs))

    per_kind = {k: kind_score(k, [per[k]], DETECTS[k]) for k in NETWORK_FAULT_KINDS if k in per}
    all_detect = frozenset().union(*(DETECTS[k] for k in NETWORK_FAULT_KINDS))
    overall = kind_score("all", list(per.values()), all_detect)

    # false alarms: unmatched network-fault alerts per entity-hour of fault-free time
    fa_mask = a_nf & ~matched_any
    false_alarms = int(fa_mask.sum())
    fa_inc = len({c for i, c in zip(unm.tolist(), inc.tolist()) if a_nf[i]})
    busy_h = _union_hours(l_start[l_fault], l_end[l_fault] + grace, t0, t1)
    free_h = max((t1 - t0) / 3600.0 - busy_h, 0.0)
    n_ent = int(n_entities) if n_entities is not None else len({(a.entity_kind, a.entity_id) for a in spans})
    ent_h = n_ent * free_h
    per_h = false_alarms / ent_h if ent_h > 0 else math.nan
    per_w = per_h * window_s / 3600.0 if ent_h > 0 else math.nan
    net_w = false_alarms / (free_h * 3600.0 / window_s) if free_h > 0 else math.nan

    # benign events: a network-fault alert that starts in the event and matches no fault
    benign = np.flatnonzero(~l_fault)
    b_start, b_end = l_start[benign], l_end[benign] + grace
    in_benign = (a_start[:, None] >= b_start[None, :]) & (a_start[:, None] <= b_end[None, :])
    offending = in_benign & (a_nf & ~matched_fault)[:, None]
    explained = (match[:, benign] & ~a_nf[:, None]).any(axis=0)

    return ScoreReport(
        per_kind=per_kind, overall=overall, alerts=len(spans), network_fault_alerts=int(a_nf.sum()),
        false_alarms=false_alarms, false_alarm_incidents=fa_inc,
        informational_unmatched=int((~a_nf & ~matched_any).sum()), fault_free_hours=free_h, n_entities=n_ent,
        false_alarms_per_entity_hour=per_h, false_alarms_per_entity_window=per_w, alpha=float(alpha),
        ratio_to_alpha=per_w / alpha if alpha > 0 and math.isfinite(per_w) else math.nan,
        benign_events=int(benign.size), benign_with_network_alert=int(offending.any(axis=0).sum()),
        benign_explained=int(explained.sum()),
        rules={"rule": rule, "window_s": float(window_s), "grace_windows": float(grace_windows),
               "lead_windows": max(float(lead_windows), 0.0),
               "run_start": t0, "run_end": t1, "entities_from": "given" if n_entities is not None else "alerts",
               "faults_scored": "all" if keep is None else "subset"},
        false_alarms_per_network_window=net_w,
        ratio_to_alpha_network=net_w / alpha if alpha > 0 and math.isfinite(net_w) else math.nan,
    )


def combine_reports(reports: Sequence[ScoreReport]) -> ScoreReport:
    """Pool the reports of several runs (same detector, same rules): events, incidents and alerts add up,
    delays and localisation outcomes are pooled, false alarms are divided by the summed entity-hours.

    >>> a = score([{"kind": "grey_loss", "start": 0, "end": 60, "entity_kind": "link", "entities": ["a->b"]}],
    ...           [], n_entities=2, run_start=0, run_end=3600)
    >>> combine_reports([a, a]).per_kind["grey_loss"].events
    2
    """
    if not reports:
        raise ScoringError("combine_reports: no reports")
    kinds = [k for k in NETWORK_FAULT_KINDS if any(k in r.per_kind for r in reports)]

    def pooled(kind: str, items: list[KindScore]) -> KindScore:
        return KindScore.build(kind, [i < it.detected for it in items for i in range(it.events)],
                               [x for it in items for x in it.delays_windows],
                               [x for it in items for x in it.hits_top1], [x for it in items for x in it.hits_top3],
                               sum(it.false_positives for it in items), sum(it.wrong_link_pages for it in items))

    per_kind = {k: pooled(k, [r.per_kind[k] for r in reports if k in r.per_kind]) for k in kinds}
    # the overall FP count is per run (incidents of the run), not per kind
    overall = pooled("all", [r.overall for r in reports])
    ent_h = sum(r.n_entities * r.fault_free_hours for r in reports)
    fa = sum(r.false_alarms for r in reports)
    window_s = float(reports[0].rules.get("window_s", 10.0))
    per_h = fa / ent_h if ent_h > 0 else math.nan
    per_w = per_h * window_s / 3600.0 if ent_h > 0 else math.nan
    free_w = sum(r.fault_free_hours for r in reports) * 3600.0 / window_s
    net_w = fa / free_w if free_w > 0 else math.nan
    alpha = reports[0].alpha
    return ScoreReport(
        per_kind=per_kind, overall=overall, alerts=sum(r.alerts for r in reports),
        network_fault_alerts=sum(r.network_fault_alerts for r in reports), false_alarms=fa,
        false_alarm_incidents=sum(r.false_alarm_incidents for r in reports),
        informational_unmatched=sum(r.informational_unmatched for r in reports),
        fault_free_hours=sum(r.fault_free_hours for r in reports),
        n_entities=sum(r.n_entities for r in reports), false_alarms_per_entity_hour=per_h,
        false_alarms_per_entity_window=per_w, alpha=alpha,
        ratio_to_alpha=per_w / alpha if alpha > 0 and math.isfinite(per_w) else math.nan,
        benign_events=sum(r.benign_events for r in reports),
        benign_with_network_alert=sum(r.benign_with_network_alert for r in reports),
        benign_explained=sum(r.benign_explained for r in reports),
        rules={**reports[0].rules, "runs": len(reports), "run_start": None, "run_end": None,
               "n_entities": "sum over runs; rates use the summed entity-hours"},
        false_alarms_per_network_window=net_w,
        ratio_to_alpha_network=net_w / alpha if alpha > 0 and math.isfinite(net_w) else math.nan,
    )


def _ranking(matched: Sequence[AlertSpan]) -> list[str]:
    """Ranked candidate links of the earliest matching alert that has any (ties: lower p-value, then id)."""
    cands = [(a.start, a.p_value, a.id, a.suspects or ((a.entity_id,) if a.entity_kind == "link" else ()))
             for a in matched]
    cands = [c for c in cands if c[3]]
    if not cands:
        return []
    return list(min(cands, key=lambda c: (c[0], c[1], c[2]))[3])
