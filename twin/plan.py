"""Capacity planning: the smallest upgrades that keep every link under a utilisation ceiling, with growth, through
any single failure; then the twin's delay and loss on the network planned.

The question an operator asks once a quarter: "traffic grows 30 % by next year; which cables must I upgrade so that
no link runs above 80 % even when any one cable (or router) is down?"

1. **Worst case per link.** The grown matrix is routed as the service routes it (:class:`~twin.snapshot.
   SnapshotBuilder`: the model's IGP metrics, ECMP) on the intact network and with each failure of the survival set
   (every cable, :func:`~twin.whatif.cable_failures`, or every router); each directed link keeps its offered
   load on the intact network and its largest under a failure, with the failure that causes it
   (:class:`WorstLoads`). Traffic a failure leaves without any route
   is counted apart: no capacity brings it back (a cable whose loss cuts the network in two).
2. **Upgrades.** Per cable (a links entry of the model: both directions get the same capacity, as a real cable
   does), the smallest capacity that keeps both directions at or under the ceiling on the intact network and
   under the failure ceiling (the same by default; often higher, 0.95) in every failure: the next standard rate
   (``step="tiers"``, multiples of the largest tier beyond it) or whole members of the current capacity
   (``step="members"``, a LAG). No capacity is ever lowered.
3. **Routing that follows capacity.** A link without a configured metric takes the reference-bandwidth cost
   (OSPF auto-cost) of its capacity, so an upgrade can pull traffic onto it: the planned network is routed again
   and step 2 repeated until nothing more is needed (``max_rounds``); a link with a configured metric keeps it.
4. **The twin's check** (:func:`verify_plan`): the twin predicts the network before and after the plan on the
   intact network and under the failures that set the upgrades, so the plan's delay and loss are seen,
   not assumed from the utilisation ceiling (small buffers lose packets below it; long paths miss a delay SLO at
   any load).

The operator's usual alternative, upgrading what is over the ceiling on the intact network, is planned beside it
(:attr:`CapacityPlan.intact_only`) and checked against the same failures.

Shapes: ``E`` directed links, ``C`` cables (links entries of the model), ``S`` failure scenarios.

Examples
--------
>>> from twinwatch.twin.netmodel import model_from_dict
>>> doc = {"version": 1, "name": "tri", "devices": [{"name": n} for n in "abc"],
...        "links": [{"a": {"device": x, "interface": f"{x}-{y}"}, "b": {"device": y, "interface": f"{y}-{x}"},
...                   "capacity_bps": "1G", "metric": 10} for x, y in ("ab", "bc", "ca")]}
>>> model = model_from_dict(doc, source="tri")
>>> tm = np.zeros((3, 3)); tm[0, 1] = 5e8                      # a -> b 500 Mb/s
>>> plan = plan_capacity(model, matrix_from_array(tm), growth=1.2, max_utilization=0.8, survive="cable")
>>> [(u.cable, u.capacity_before_bps, u.capacity_after_bps, u.set_by) for u in plan.upgrades()]
[]
>>> plan = plan_capacity(model, matrix_from_array(tm), growth=2.0, max_utilization=0.8, survive="cable")
>>> [(u.cable, u.capacity_after_bps / 1e9, u.set_by) for u in plan.upgrades()]   # 1 Gb/s a -> b, or round c
[('a<->b', 2.5, 'intact'), ('b<->c', 2.5, 'fail a<->b'), ('c<->a', 2.5, 'fail a<->b')]
>>> plan.intact_only.over_ceiling_links       # a<->b upgraded alone: a -> c -> b overflows when it fails
['c->b', 'a->c']
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from twinwatch.twin.measurements import Measurements
from twinwatch.twin.netmodel import NetworkModel
from twinwatch.twin.snapshot import SnapshotBuilder
from twinwatch.twin.traffic_matrix import TrafficMatrix
from twinwatch.twin.whatif import (
    SURVIVE,
    Change,
    WhatIf,
    failure_set,
    iter_what_if,
    links_down,
    matrix_from_array,
    reachable,
)

__all__ = [
    "DEFAULT_TIERS_BPS",
    "STEPS",
    "SURVIVE",
    "CapacityPlan",
    "IntactOnly",
    "Upgrade",
    "WorstLoads",
    "failure_set",
    "matrix_from_array",
    "plan_capacity",
    "planned_model",
    "upgrade_capacity",
    "verify_plan",
    "worst_loads",
]

DEFAULT_TIERS_BPS: tuple[float, ...] = (1e9, 2.5e9, 10e9, 25e9, 40e9, 100e9, 200e9, 400e9, 800e9)
"""Standard Ethernet and SONET/OTN line rates (bit/s) a cable is upgraded to by default (``step="tiers"``)."""
STEPS = ("tiers", "members")
"""How a cable grows: to the next of the tiers, or by whole members of its current capacity (a LAG)."""


@dataclass(frozen=True)
class WorstLoads:
    """The grown traffic routed on the intact network and under each failure.

    ``intact_load_bps`` ``(E,)`` the offered load (bit/s, demands and probes, no losses) on the intact network;
    ``failure_load_bps`` ``(E,)`` the largest over the failures (0 without any) and ``failure_case`` ``(E,)`` the
    failure that gives it (an index into ``failures``, -1 without any); ``cut_off_bps`` ``(S,)`` the traffic
    between routers still up that a failure leaves without any route.
    """

    failures: list[Change]
    intact_load_bps: np.ndarray
    failure_load_bps: np.ndarray
    failure_case: np.ndarray
    cut_off_bps: np.ndarray

    @property
    def load_bps(self) -> np.ndarray:
        """``(E,)`` the largest offered load of each link over every scenario, the intact network included."""
        return np.maximum(self.intact_load_bps, self.failure_load_bps)

    def case_name(self, i: int) -> str:
        """``"intact"`` or the failure (``"fail a<->b"``) of scenario index ``i`` (-1: the intact network)."""
        return "intact" if i < 0 else str(self.failures[i])

    def required(self, ceiling: float, failure_ceiling: float) -> tuple[np.ndarray, np.ndarray]:
        """``(E,)`` the capacity (bit/s) each link needs to hold ``ceiling`` intact and ``failure_ceiling`` under
        any failure, and ``(E,)`` the scenario that sets it (-1: the intact network)."""
        intact, failed = self.intact_load_bps / ceiling, self.failure_load_bps / failure_ceiling
        return np.maximum(intact, failed), np.where(failed > intact, self.failure_case, -1)


def worst_loads(model: NetworkModel, traffic: TrafficMatrix, failures: Sequence[Change], *,
                builder_options: dict[str, Any] | None = None,
                advance: Callable[[], None] | None = None) -> WorstLoads:
    """Route ``traffic`` on ``model`` intact and under each of ``failures`` (:class:`~twin.whatif.Change` of kind
    ``fail`` or ``fail-node``) and keep each link's worst offered load (:class:`WorstLoads`).

    Routing alone, no twin: offered load does not depend on the capacities while the metrics stay. ``advance``
    is called once per scenario routed (a progress bar).
    """
    opts = {"infer_link_state": False, **(builder_options or {})}
    builder = SnapshotBuilder(model, **opts)
    rate = np.asarray(traffic.rate_bps, dtype=np.float64).sum(axis=0)  # (N, N) every class
    worst = np.zeros(model.n_links)
    case = np.full(model.n_links, -1, dtype=np.int64)
    cut = np.zeros(len(failures))
    intact = np.zeros(model.n_links)
    for s, change in enumerate([None, *failures]):
        up = np.ones(model.n_links, dtype=bool)
        if change is not None:
            up[links_down(model, change)] = False
        snap = builder.build(traffic.start, traffic.end, Measurements.empty(), traffic=traffic, link_up=up)
        load = snap.scenario.link_load_bps()
        if change is None:
            intact = load
        else:
            alive = np.ones(model.n_nodes, dtype=bool)
            if change.kind == "fail-node":
                alive[model.node_index[change.target.strip()]] = False
            lost = ~reachable(model, up) & alive[:, None] & alive[None, :]
            cut[s - 1] = float(rate[lost].sum())
            more = load > worst
            worst[more], case[more] = load[more], s - 1
        if advance is not None:
            advance()
    return WorstLoads(list(failures), intact, worst, case, cut)


def upgrade_capacity(required_bps: np.ndarray, current_bps: np.ndarray, *, step: str = "tiers",
                     tiers: Sequence[float] = DEFAULT_TIERS_BPS) -> np.ndarray:
    """``(C,)`` the capacity each cable needs: at least ``required_bps`` and never below ``current_bps``.

    ``step="tiers"``: the smallest of ``tiers`` (bit/s) that is enough, beyond the largest a whole number of the
    largest (parallel cables); ``"members"``: a whole number of the current capacity (LAG members). A cable that
    already has enough keeps its capacity exactly.

    >>> (upgrade_capacity(np.array([0.5e9, 3e9, 900e9]), np.array([1e9, 1e9, 100e9])) / 1e9).tolist()
    [1.0, 10.0, 1600.0]
    >>> (upgrade_capacity(np.array([3e9, 1e9]), np.array([1e9, 10e9]), step="members") / 1e9).tolist()
    [3.0, 10.0]
    """
    if step not in STEPS:
        raise ValueError(f"step must be one of {', '.join(STEPS)}, got {step!r}")
    need = np.asarray(required_bps, dtype=np.float64)
    cur = np.asarray(current_bps, dtype=np.float64)
    short = need > cur * (1 + 1e-12)
    out = cur.copy()
    if step == "members":
        out[short] = np.ceil(need[short] / cur[short] * (1 - 1e-12)) * cur[short]
        return out
    tier = np.sort(np.asarray(tiers, dtype=np.float64))
    if tier.size == 0 or not (tier > 0).all():
        raise ValueError("tiers must be capacities > 0 bit/s")
    at = np.searchsorted(tier, need[short] * (1 - 1e-12))
    top = tier[-1]
    pick = np.where(at < tier.size, tier[np.minimum(at, tier.size - 1)],
                    np.ceil(need[short] / top * (1 - 1e-12)) * top)
    out[short] = np.maximum(pick, cur[short])
    return out


def planned_model(model: NetworkModel, cable_capacity_bps: np.ndarray) -> NetworkModel:
    """``model`` with each links entry (cable) at ``cable_capacity_bps`` ``(C,)``: arrays rebuilt, so a link without
    a configured metric takes the reference-bandwidth cost of its new capacity and a buffer set in milliseconds
    of line rate grows with it."""
    links = tuple(ln if c == ln.capacity_bps else dataclasses.replace(ln, capacity_bps=float(c))
                  for ln, c in zip(model.links, cable_capacity_bps.tolist(), strict=True))
    return dataclasses.replace(model, links=links, warnings=list(model.warnings))


def _cable_capacity(model: NetworkModel) -> np.ndarray:
    return np.array([ln.capacity_bps for ln in model.links], dtype=np.float64)


def _cable_need(model: NetworkModel, required_bps: np.ndarray) -> np.ndarray:
    """``(C,)`` the larger need (bit/s) of each cable's directions."""
    need = np.zeros(len(model.links))
    np.maximum.at(need, model.link_entry, required_bps)
    return need


def _cable_name(model: NetworkModel, c: int) -> str:
    ln = model.links[c]
    return f"{ln.a.device}<->{ln.b.device}" if ln.bidirectional else f"{ln.a.device}->{ln.b.device}"


@dataclass(frozen=True)
class Upgrade:
    """One cable to upgrade: its name (``"a<->b"``), links entry index, capacity before and after (bit/s), and
    on the network planned the load (bit/s) of its direction and scenario that set the capacity (``set_by``:
    ``"intact"`` or the failure), against ``ceiling``, the utilisation it may reach there."""

    cable: str
    entry: int
    capacity_before_bps: float
    capacity_after_bps: float
    load_bps: float
    set_by: str
    ceiling: float


@dataclass(frozen=True)
class IntactOnly:
    """The usual alternative: upgrade only what the grown traffic puts over the ceiling on the intact network.
    ``cables`` upgraded, ``capacity_added_bps``, and, under the plan's failures, the links it leaves over the
    failure ceiling (``over_ceiling_links``) and the worst utilisation a failure gives ``peak_utilization``."""

    cables: int
    capacity_added_bps: float
    over_ceiling_links: list[str]
    peak_utilization: float


@dataclass
class CapacityPlan:
    """The plan: the network as it is and as planned, the grown traffic, the worst loads on both, the rounds it
    took; :meth:`upgrades` lists the cables to upgrade."""

    model: NetworkModel
    planned: NetworkModel
    traffic: TrafficMatrix
    growth: float
    max_utilization: float
    max_utilization_failure: float
    survive: str
    step: str
    before: WorstLoads
    after: WorstLoads
    rounds: int
    converged: bool
    intact_only: IntactOnly | None = None
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def cable_capacity_before_bps(self) -> np.ndarray:
        return _cable_capacity(self.model)

    @property
    def cable_capacity_after_bps(self) -> np.ndarray:
        return _cable_capacity(self.planned)

    def upgrades(self) -> list[Upgrade]:
        """The cables whose capacity grows, in the model's order."""
        before, after = self.cable_capacity_before_bps, self.cable_capacity_after_bps
        out = []
        need, case = self.after.required(self.max_utilization, self.max_utilization_failure)
        for c in np.flatnonzero(after > before).tolist():
            links = np.flatnonzero(self.planned.link_entry == c)
            i = links[int(np.argmax(need[links]))]
            k = int(case[i])
            load = self.after.intact_load_bps[i] if k < 0 else self.after.failure_load_bps[i]
            out.append(Upgrade(_cable_name(self.model, c), c, float(before[c]), float(after[c]), float(load),
                               self.after.case_name(k),
                               self.max_utilization if k < 0 else self.max_utilization_failure))
        return out

    @property
    def capacity_added_bps(self) -> float:
        """Capacity added over every cable, one direction counted (bit/s)."""
        return float((self.cable_capacity_after_bps - self.cable_capacity_before_bps).sum())

    def utilization(self, planned: bool = True) -> np.ndarray:
        """``(E,)`` each link's worst utilisation over the scenarios, on the network planned or as it is."""
        wl, m = (self.after, self.planned) if planned else (self.before, self.model)
        return wl.load_bps / m.link_capacity_bps

    def over_ceiling(self, planned: bool = True) -> np.ndarray:
        """``(E,)`` bool: links above ``max_utilization`` intact or ``max_utilization_failure`` under a failure."""
        wl, m = (self.after, self.planned) if planned else (self.before, self.model)
        need, _ = wl.required(self.max_utilization, self.max_utilization_failure)
        return need > m.link_capacity_bps * (1 + 1e-9)

    def binding_failures(self) -> list[Change]:
        """The failures that set an upgrade, and the one that loads the planned network most, in the model's order
        of failures: the scenarios :func:`verify_plan` asks the twin about."""
        index = {str(f): i for i, f in enumerate(self.after.failures)}
        cases = {index[u.set_by] for u in self.upgrades() if u.set_by != "intact"}
        if self.after.failures and self.model.n_links:
            util = self.after.failure_load_bps / self.planned.link_capacity_bps
            cases.add(int(self.after.failure_case[int(np.argmax(util))]))
        return [self.after.failures[i] for i in sorted(cases) if i >= 0]


def _grown(traffic: TrafficMatrix, growth: float) -> TrafficMatrix:
    rate = np.asarray(traffic.rate_bps, dtype=np.float64) * growth
    return TrafficMatrix.build(rate, std_bps=np.asarray(traffic.std_bps) * growth, source=traffic.source,
                               start=traffic.start, end=traffic.end)


def plan_capacity(model: NetworkModel, traffic: TrafficMatrix, *, growth: float = 1.0, max_utilization: float = 0.8,
                  max_utilization_failure: float | None = None, survive: str = "cable", step: str = "tiers",
                  tiers: Sequence[float] = DEFAULT_TIERS_BPS, max_rounds: int = 8, compare: bool = True,
                  builder_options: dict[str, Any] | None = None,
                  advance: Callable[[], None] | None = None) -> CapacityPlan:
    """Plan the upgrades that keep every link at or under ``max_utilization`` (0..1] with ``traffic`` × ``growth``
    on the intact network, and at or under ``max_utilization_failure`` (default: the same) through any single
    failure of ``survive`` (:data:`SURVIVE`); many operators accept more under a failure (0.95) than in normal
    running (0.8).

    ``step``, ``tiers``: how a cable grows (:func:`upgrade_capacity`). ``max_rounds``: routings of the planned
    network while auto-cost metrics move traffic (:attr:`CapacityPlan.converged` False when it is not enough).
    ``compare``: also plan the intact-only alternative and check it against the same failures
    (:attr:`CapacityPlan.intact_only`; one more pass over the failures). ``advance`` is called per scenario routed.
    """
    failure_ceiling = max_utilization if max_utilization_failure is None else max_utilization_failure
    for name, value in (("max_utilization", max_utilization), ("max_utilization_failure", failure_ceiling)):
        if not (0.0 < value <= 1.0 and math.isfinite(value)):
            raise ValueError(f"{name} must be in (0, 1], got {value}")
    if not (growth >= 0.0 and math.isfinite(growth)):
        raise ValueError(f"growth must be a finite factor >= 0, got {growth}")
    upgrade_capacity(np.zeros(0), np.zeros(0), step=step, tiers=tiers)  # validates step and tiers
    grown = _grown(traffic, growth)
    failures = failure_set(model, survive)
    before = worst_loads(model, grown, failures, builder_options=builder_options, advance=advance)
    current, wl = model, before
    rounds, converged = 0, False
    while rounds < max_rounds:
        rounds += 1
        cap = _cable_capacity(current)
        need, _ = wl.required(max_utilization, failure_ceiling)
        new = upgrade_capacity(_cable_need(current, need), cap, step=step, tiers=tiers)
        if (new <= cap).all():
            converged = True
            break
        nxt = planned_model(model, new)
        if np.array_equal(nxt.link_metric, current.link_metric):  # same routing: the same loads, now under the ceiling
            current, converged = nxt, True
            break
        current = nxt
        wl = worst_loads(current, grown, failures, builder_options=builder_options, advance=advance)
    plan = CapacityPlan(model, current, grown, float(growth), float(max_utilization), float(failure_ceiling),
                        survive, step, before, wl, rounds, converged)
    if compare and failures:
        plan.intact_only = _intact_only(model, grown, failures, max_utilization, failure_ceiling, step, tiers,
                                        builder_options, advance)
    return plan


def _intact_only(model: NetworkModel, grown: TrafficMatrix, failures: list[Change], ceiling: float,
                 failure_ceiling: float, step: str, tiers: Sequence[float], builder_options: dict[str, Any] | None,
                 advance: Callable[[], None] | None) -> IntactOnly:
    naive = plan_capacity(model, grown, growth=1.0, max_utilization=ceiling, survive="none", step=step, tiers=tiers,
                          compare=False, builder_options=builder_options)
    wl = worst_loads(naive.planned, grown, failures, builder_options=builder_options, advance=advance)
    util = wl.failure_load_bps / naive.planned.link_capacity_bps
    over = np.flatnonzero(util > failure_ceiling * (1 + 1e-9))
    return IntactOnly(len(naive.upgrades()), naive.capacity_added_bps, [model.link_ids[i] for i in over],
                      float(util.max(initial=0.0)))


def verify_plan(plan: CapacityPlan, twin: Any, failures: Sequence[Change] | None = None, *,
                builder_options: dict[str, Any] | None = None,
                advance: Callable[[], None] | None = None) -> tuple[list[WhatIf], list[WhatIf]]:
    """The twin's prediction of the network as it is and as planned, with the grown traffic, on the intact
    network and under ``failures`` (default: :meth:`CapacityPlan.binding_failures`): two lists of
    :class:`~twin.whatif.WhatIf`, before and after the plan, the intact network first. Each compares the grown
    traffic on the intact network (its ``before`` side) with the scenario (its ``after`` side). ``advance`` is
    called per scenario predicted (``2 × (1 + len(failures))`` in all)."""
    cases: list[list[Change]] = [[], *([f] for f in (plan.binding_failures() if failures is None else failures))]
    sides: list[list[WhatIf]] = []
    for network in (plan.model, plan.planned):
        sides.append([])
        for res in iter_what_if(network, plan.traffic, cases, twin, builder_options=builder_options):
            sides[-1].append(res)
            if advance is not None:
                advance()
    return sides[0], sides[1]
