"""Faults of the network under test, and the ground-truth labels they leave.

A fault plan is a list of :class:`Fault`: what happens, where, from when to
when, how strongly. The testbed applies each fault to the *true* network of
the windows it spans (the operator's network model keeps the old values), and
writes one label per fault to ``labels.jsonl`` — the only file a detection
scorer reads besides the alerts.

Network faults (an alert is expected):

=========================  =====================================================  ==========================
kind                       what changes in the true network                       magnitude
=========================  =====================================================  ==========================
``capacity_degradation``   a link's capacity (a LAG member lost)                   remaining fraction (0.5)
``grey_loss``              a link silently drops packets, no counter moves          loss ratio (0.01)
``link_down``              oper-status down; the IGP reroutes around it            —
``metric_change``          one link's IGP metric (traffic silently moves)          new metric / old metric
``queue_change``           a port's buffer shrunk or WFQ weights swapped           remaining buffer fraction
``traffic_surge``          traffic towards one node multiplied (DDoS, flash crowd)  factor
``unmonitored_traffic``    one router stops exporting flows; its traffic goes on  —
=========================  =====================================================  ==========================

Benign events (``benign: true``; no network-fault alert may fire for them):
``counter_clear`` (one interface's counters cleared), ``device_reboot`` (all
of a device's counters restart), ``telemetry_gap`` (a device silent),
``late_batch`` (a device's samples arrive late and out of order),
``diurnal_peak`` (the busiest hour of each day, labelled so that a scorer can
count alerts raised by load alone).

Examples
--------
>>> plan = random_plan(["a->b", "b->a", "b->c", "c->b"], ["a", "b", "c"], duration_s=3600.0,
...                    window_s=10.0, n_faults=4, seed=7)
>>> [f.kind for f in plan][:2]
['capacity_degradation', 'grey_loss']
>>> all(plan[i].end_s <= plan[i + 1].start_s for i in range(len(plan) - 1))
True
>>> Fault.from_dict(plan[0].to_dict()) == plan[0]
True
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import orjson

__all__ = [
    "BENIGN_KINDS",
    "FAULT_KINDS",
    "Fault",
    "FaultPlanError",
    "dump_labels",
    "load_plan",
    "random_plan",
    "shipped_plan",
]

FAULT_KINDS: tuple[str, ...] = (
    "capacity_degradation",
    "grey_loss",
    "link_down",
    "metric_change",
    "queue_change",
    "traffic_surge",
    "unmonitored_traffic",
)
"""Network faults, in the order :func:`random_plan` cycles through them."""

BENIGN_KINDS: tuple[str, ...] = ("counter_clear", "device_reboot", "telemetry_gap", "late_batch", "diurnal_peak")
"""Events that are not network faults and must not raise a network-fault alert."""

_ENTITY = {  # which entity a kind acts on
    "capacity_degradation": "link", "grey_loss": "link", "link_down": "link", "metric_change": "link",
    "queue_change": "link", "traffic_surge": "node", "unmonitored_traffic": "node",
    "counter_clear": "link", "device_reboot": "node", "telemetry_gap": "node", "late_batch": "node",
    "diurnal_peak": "network",
}

_DEFAULT_MAGNITUDE = {
    "capacity_degradation": 0.5, "grey_loss": 0.01, "link_down": 1.0, "metric_change": 10.0,
    "queue_change": 0.1, "traffic_surge": 4.0, "unmonitored_traffic": 1.0, "counter_clear": 1.0,
    "device_reboot": 1.0, "telemetry_gap": 1.0, "late_batch": 1.0, "diurnal_peak": 1.0,
}

_EFFECT = {
    "capacity_degradation": "delay and drops up on paths through the link; utilisation vs inventory capacity unchanged",
    "grey_loss": "probe and path loss up through the link; discard and error counters flat",
    "link_down": "oper-status down; utilisation moves to the rerouted paths; their delay rises",
    "metric_change": "utilisation moves to another path with no change in the model; delay of moved paths changes",
    "queue_change": "drops and delay change on the port at the same load",
    "traffic_surge": "traffic towards the node multiplied; its ingress links' utilisation and delay rise",
    "unmonitored_traffic": "flow records of the router vanish while link counters keep counting its traffic",
    "counter_clear": "the interface's counters restart from zero; no KPI changes",
    "device_reboot": "all of the device's counters restart; no KPI changes",
    "telemetry_gap": "no telemetry from the device; no KPI changes",
    "late_batch": "the device's samples arrive late and out of order; no KPI changes",
    "diurnal_peak": "the daily traffic peak; KPIs follow the load the twin predicts",
}


class FaultPlanError(ValueError):
    """A fault plan names an unknown kind or entity, or has impossible times."""


@dataclass(frozen=True)
class Fault:
    """One injected fault or benign event (times in epoch seconds, or seconds from the run start)."""

    kind: str
    start_s: float
    end_s: float
    entities: tuple[str, ...]
    magnitude: float = float("nan")
    id: str = ""
    params: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.kind not in _ENTITY:
            raise FaultPlanError(f"unknown fault kind {self.kind!r}; known: {', '.join(sorted(_ENTITY))}")
        if not (np.isfinite(self.start_s) and np.isfinite(self.end_s) and self.end_s > self.start_s):
            raise FaultPlanError(f"fault {self.kind}: needs start < end, got {self.start_s!r}..{self.end_s!r}")
        if np.isnan(self.magnitude):
            object.__setattr__(self, "magnitude", _DEFAULT_MAGNITUDE[self.kind])
        if not self.id:
            key = f"{self.kind}|{self.start_s!r}|{','.join(self.entities)}".encode()
            object.__setattr__(self, "id", "f-" + hashlib.sha1(key).hexdigest()[:12])

    @property
    def benign(self) -> bool:
        return self.kind in BENIGN_KINDS

    @property
    def entity_kind(self) -> str:
        return _ENTITY[self.kind]

    def active(self, t_s: float) -> bool:
        return self.start_s <= t_s < self.end_s

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["entities"] = list(self.entities)
        return d

    def label(self, t0_s: float = 0.0) -> dict[str, Any]:
        """The ground-truth label (the ``labels.jsonl`` contract): times shifted by ``t0_s``."""
        return {
            "id": self.id,
            "kind": self.kind,
            "benign": self.benign,
            "start": self.start_s + t0_s,
            "end": self.end_s + t0_s,
            "entity_kind": self.entity_kind,
            "entities": list(self.entities),
            "magnitude": self.magnitude,
            "expected_effect": _EFFECT[self.kind],
            **({"params": self.params} if self.params else {}),
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Fault:
        allowed = {"kind", "start_s", "end_s", "entities", "magnitude", "id", "params"}
        extra = set(d) - allowed
        if extra:
            raise FaultPlanError(f"fault {d.get('kind', '?')}: unknown keys {sorted(extra)}")
        try:
            return cls(kind=str(d["kind"]), start_s=float(d["start_s"]), end_s=float(d["end_s"]),
                       entities=tuple(str(e) for e in d.get("entities", ())),
                       magnitude=float(d.get("magnitude", float("nan"))), id=str(d.get("id", "")),
                       params=dict(d.get("params", {})))
        except KeyError as exc:
            raise FaultPlanError(f"fault {d.get('kind', '?')}: missing key {exc.args[0]!r}") from None
        except (TypeError, ValueError) as exc:
            raise FaultPlanError(f"fault {d.get('kind', '?')}: {exc}") from None


def random_plan(
    link_ids: Sequence[str],
    node_names: Sequence[str],
    *,
    duration_s: float,
    window_s: float,
    n_faults: int,
    seed: int,
    kinds: Sequence[str] = FAULT_KINDS,
    benign_every: int = 2,
    min_windows: int = 3,
    max_windows: int = 18,
    link_weight: np.ndarray | None = None,
) -> list[Fault]:
    """``n_faults`` faults cycling through ``kinds``, spread over the run without overlap.

    After every ``benign_every`` faults a benign event is added (0 disables).
    Faults last ``min_windows..max_windows`` windows and are separated by at
    least as long a quiet span, so detectors can recover between them.
    ``link_weight`` (``(E,)``, e.g. utilisation) biases the choice of links
    towards those where an effect is visible.
    """
    if n_faults < 0 or window_s <= 0 or duration_s <= 0:
        raise FaultPlanError("n_faults must be >= 0, window_s and duration_s > 0")
    rng = np.random.default_rng(seed)
    events: list[str] = []
    benign = [k for k in BENIGN_KINDS if k != "diurnal_peak"]
    for i in range(n_faults):
        events.append(kinds[i % len(kinds)])
        if benign_every and (i + 1) % benign_every == 0:
            events.append(benign[(i // benign_every) % len(benign)])
    if not events:
        return []
    slot = duration_s / len(events)
    if slot < 2 * min_windows * window_s:
        raise FaultPlanError(
            f"{len(events)} events do not fit in {duration_s:.0f} s at {window_s:g} s windows "
            f"(each needs >= {2 * min_windows} windows); lengthen the run or lower --faults"
        )
    p = None
    if link_weight is not None:
        w = np.clip(np.asarray(link_weight, dtype=np.float64), 0.0, None)
        p = w / w.sum() if w.sum() > 0 else None
    plan = []
    for i, kind in enumerate(events):
        n_win = int(rng.integers(min_windows, min(max_windows, int(slot / window_s / 2)) + 1))
        start_win = int((i * slot + rng.uniform(0.25, 0.5) * slot) // window_s)
        start = start_win * window_s
        ent = _ENTITY[kind]
        if ent == "link":
            entities: tuple[str, ...] = (str(link_ids[int(rng.choice(len(link_ids), p=p))]),)
        elif ent == "node":
            entities = (str(node_names[int(rng.integers(len(node_names)))]),)
        else:
            entities = ()
        plan.append(Fault(kind=kind, start_s=start, end_s=start + n_win * window_s, entities=entities))
    return plan


def load_plan(path: str | Path, link_ids: Iterable[str], node_names: Iterable[str]) -> list[Fault]:
    """Read a fault plan (JSON lines or a JSON list of :meth:`Fault.to_dict` objects) and check its entities."""
    p = Path(path)
    try:
        raw = p.read_bytes()
        text = raw.decode("utf-8").strip()
        lines = [line for line in text.splitlines() if line]
        rows = orjson.loads(text) if text.startswith("[") else [orjson.loads(line) for line in lines]
    except (OSError, UnicodeDecodeError, orjson.JSONDecodeError) as exc:
        raise FaultPlanError(f"{p}: cannot read the fault plan: {exc}") from None
    links, nodes = set(link_ids), set(node_names)
    plan = []
    for i, row in enumerate(rows):
        if not isinstance(row, dict):
            raise FaultPlanError(f"{p}: fault {i} is not an object")
        try:
            f = Fault.from_dict(row)
        except FaultPlanError as exc:
            raise FaultPlanError(f"{p}: fault {i}: {exc}") from None
        known = links if f.entity_kind == "link" else nodes if f.entity_kind == "node" else set()
        for e in f.entities:
            if e not in known:
                raise FaultPlanError(f"{p}: fault {i} ({f.kind}) names unknown {f.entity_kind} {e!r}")
        plan.append(f)
    return sorted(plan, key=lambda f: f.start_s)


def dump_labels(plan: Iterable[Fault], path: str | Path, t0_s: float = 0.0) -> int:
    """Write one label per fault to ``path`` (JSON lines); returns the count."""
    lines = [orjson.dumps(f.label(t0_s)) for f in plan]
    Path(path).write_bytes(b"\n".join(lines) + (b"\n" if lines else b""))
    return len(lines)


def shipped_plan(network: str) -> Path | None:
    """The fault plan shipped for the shipped network ``network`` (``twin/data/networks/<name>.faults.jsonl``)."""
    from importlib import resources

    item = resources.files("twinwatch.twin").joinpath("data", "networks", f"{network.lower()}.faults.jsonl")
    return Path(str(item)) if item.is_file() else None
