"""One closed window of a network: :class:`WindowSnapshot`, what the twin predicts and the detectors compare.

A live network never hands over a :class:`~twin.scenario.Scenario`: it gives
interface counters, flow records and probe results. :class:`SnapshotBuilder`
turns the rows of one closed window (the service owns the windows) into

- the window's **Scenario**: the network model's nodes and links, the routing
  of the window's link state (:func:`twinwatch.twin.routing.compute_routing`: IGP, ECMP,
  links down removed; cached per link state), and the traffic matrix placed
  on it (:func:`twinwatch.twin.routing.route_demand`), plus a **probe flow** for every
  probe whose path carries no other traffic (:mod:`twinwatch.twin.probes`);
- the **traffic matrix** per ToS class with its uncertainty per entry and its
  source: given, from flow records (:func:`~twin.traffic_matrix.matrix_from_flows`),
  from link counters (tomogravity, :func:`~twin.traffic_matrix.matrix_from_counters`)
  or mixed (:func:`~twin.traffic_matrix.matrix_mixed`). Where a window has both
  flow records and link counters, the twin predicts from the records' matrix
  *fitted to the counters* (:func:`~twin.traffic_matrix.matrix_fitted_to_counters`:
  the records' pairs and classes, the counters' loads; a pair the sampling
  missed still sends), as it does on the windows after an export with the
  latest records as the prior: the twin's expectation of queueing depends on how
  a load is made up, not only on its size, so every window must give it the
  same make-up. The records' own matrix and the loads it routes on each link
  stay in the snapshot (:attr:`WindowSnapshot.measured_traffic`), for the
  detectors that compare flow records with counters;
- the **observed KPIs** as arrays aligned with the scenario's link and path
  numbers, NaN where nothing was observed (a path no probe takes is
  unobserved, never zero);
- **completeness**: the fraction of expected counters present, the devices
  silent in the window, rows about devices, links or pairs the model does
  not know (counted, never an error);
- the window's **link state**, inferred from the link-state rows
  (:data:`LINK_STATE_KPIS`, 1.0 up / 0.0 down) unless ``link_up`` is given.

Link state from telemetry. Every link has two ends: the port at its source
(``oper_status`` / ``admin_status`` rows on the link) and the port at its
destination (``rx_oper_status`` / ``rx_admin_status``); the adapters map a
port's oper-status / admin-status onto both links it is an end of. Between
two reports a port keeps the state it last reported (a step function: the
state a sampled subscription samples, or an on-change one announces). A link
is **down in a window if either end was down (oper or admin) for at least
``link_state_min_down_s`` seconds of it** (rule ``"any"``, the default; 1 s),
or, with ``link_state_rule="last"``, if either end's state at the window's
end is down. ``"any"`` is the default because a link that was down for part
of a window had that part's traffic rerouted or lost: the window's
observations match a routing without the link better, and a flap between two
samples shows up in at most one sample, which ``"last"`` misses whenever the
link came back before the window closed. The minimum (1 s) keeps a report
stamped a fraction of a second before the window's end by a device whose
clock runs early (the next window's state, seen early) from taking the link
down a window too soon; set it to 0 to react to any down report. An end's
last report carries into the next windows (on-change subscriptions send a
state only when it changes) for at most ``link_state_hold_s`` seconds
(``None``: forever); an end with no report at all is *unknown* and counts as
up. The counts of ends reported, held and unknown, and of link-state rows
about interfaces or links the model does not know, are in :class:`Completeness`.

Capacity from telemetry. A port's reported speed (``speed_bps`` on the link it sends on, ``rx_speed_bps`` on the
one it receives from: a LAG reports the members that are up) follows the same step-function and hold rules; a
window takes, per end, the lowest speed it held for at least ``link_state_min_down_s``, per link the lower end's
(:attr:`WindowSnapshot.link_speed_bps`). The scenario's capacity is the lower of that and the model's
(:attr:`WindowSnapshot.link_capacity_bps`): a LAG that lost a member is predicted at what it has left, a faster port
than the model says (a sub-rate service) changes nothing, and a link without a configured IGP metric takes the
auto-cost of its new capacity in the window's routing.

Routing from telemetry. The IGP metric a router reports for the interface a link leaves by (``igp_metric``: IS-IS,
OSPF) follows the same rules, per link: a window routes with the latest report held for at least
``link_state_min_down_s`` of it, else one held from before (:attr:`WindowSnapshot.link_igp_metric`), and with the
model's metric where none was reported (:attr:`WindowSnapshot.model_metric`): a metric changed on a router moves the
window's traffic in the twin as it does in the network.

Units: SI (bits/s, packets/s, seconds, ratios 0..1); times are epoch seconds.

Shapes: ``N`` nodes, ``E`` links (the model's numbering, links down
included), ``P`` scenario paths, ``F`` scenario flows, ``K`` probes.

Examples
--------
>>> from twinwatch.twin.netmodel import model_from_dict
>>> doc = {"version": 1, "name": "tri", "devices": [{"name": n} for n in "abc"],
...        "links": [{"a": {"device": x, "interface": f"{x}-{y}"}, "b": {"device": y, "interface": f"{y}-{x}"},
...                   "capacity_bps": "1G", "delay_s": 0.001} for x, y in ("ab", "bc", "ca")],
...        "probes": [{"src": "a", "dst": "c", "rate_pps": 10, "size_bytes": 100}]}
>>> model = model_from_dict(doc, source="tri")
>>> rows = {"entity_kind": ["link", "link", "path"], "entity_id": ["a->b", "a->b", "a->c"],
...         "kpi": ["tx_bps", "rx_bps", "delay_s"], "value": [2e8, 2e8, 0.0012]}
>>> tm = np.zeros((3, 3, 3)); tm[0, 0, 1] = 2e8          # ToS 0, a -> b, 200 Mb/s
>>> snap = build_snapshot(model, 0.0, 60.0, rows, traffic=TrafficMatrix.build(tm, start=0.0, end=60.0))
>>> sc = snap.to_scenario()
>>> sc.n_flows, snap.flow_probe.tolist()               # the demand, and the probe a -> c on its own flow
(2, [-1, 0])
>>> [sc.path_nodes(p) for p in range(sc.n_paths)], snap.path_observed["delay_s"].tolist()
([[0, 1], [0, 2]], [nan, 0.0012])
>>> snap.completeness.silent_devices, round(snap.completeness.fraction, 3)   # 2 of 12 counters
(('c',), 0.167)
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from twinwatch.twin.measurements import PATH_OBSERVED_KPIS, MappedMeasurements, Measurements, map_measurements
from twinwatch.twin.netmodel import NetworkModel
from twinwatch.twin.probes import probe_flow_columns, probe_paths
from twinwatch.twin.routing import DEFAULT_MAX_PATHS, Routing, compute_routing, default_metric, route_demand
from twinwatch.twin.scenario import MAX_SIZES, Scenario, SizeDist, TimeDist
from twinwatch.twin.traffic_matrix import (
    DEFAULT_PRIOR_FLOOR,
    N_CLASSES,
    FlowAggregation,
    RoutingMatrix,
    Source,
    TrafficMatrix,
    matrix_fitted_to_counters,
    matrix_from_counters,
    matrix_from_flows,
    matrix_mixed,
)

__all__ = [
    "DEFAULT_MATRIX_CLASSES",
    "DEFAULT_PKT_SIZE_BITS",
    "FLOW_MATRICES",
    "LINK_STATE_KPIS",
    "LINK_STATE_RULES",
    "MATRIX_CLASSES",
    "TM_SOURCES",
    "Completeness",
    "SnapshotBuilder",
    "WindowSnapshot",
    "build_snapshot",
    "link_load_bps",
]

TM_SOURCES = ("given", "flows", "counters", "mixed")
"""Where a snapshot's traffic matrix came from."""

DEFAULT_PKT_SIZE_BITS = 8000.0
"""Mean packet size of demand flows when neither flow records nor packet counters give one (1000 bytes)."""

LINK_STATE_KPIS = ("oper_status", "admin_status", "rx_oper_status", "rx_admin_status")
"""Measurement KPIs of link state (1.0 up, 0.0 down): the link's source end, then (``rx_``) its destination end.
The adapters' :data:`twinwatch.telemetry_adapters.link_state.LINK_STATE_KPIS` (the twin does not import them)."""

SPEED_KPIS = ("speed_bps", "rx_speed_bps")
"""Measurement KPIs of a port's reported speed (bit/s): the link's source end, then (``rx_``) its destination end
(the adapters' ``speed_bps`` / ``rx_speed_bps``: OpenConfig ``lag-speed`` and ``negotiated-port-speed``, IF-MIB
``ifHighSpeed`` …)."""

MIN_SPEED_BPS = 1e3
"""The slowest reported speed the twin takes (bit/s; the adapters' ``telemetry_adapters.speed.MIN_SPEED_BPS``)."""

IGP_METRIC_KPI = "igp_metric"
"""Measurement KPI of the IGP metric (IS-IS / OSPF cost, dimensionless) a router reports for the interface it sends a
link's traffic on (the adapters' ``igp_metric``)."""

MAX_IGP_METRIC = 16_777_215
"""The largest IGP metric the twin takes (2^24 - 1, IS-IS wide metrics; OSPF's 65,535 is below)."""

FLOW_MATRICES = ("fitted", "records")
"""What the twin predicts from on a window measured by flow records (:attr:`SnapshotBuilder.flow_matrix`)."""

MATRIX_CLASSES = ("records", "best-effort")
"""How a counter-fitted matrix splits each pair over the ToS classes (:attr:`SnapshotBuilder.matrix_classes`)."""
DEFAULT_MATRIX_CLASSES = "best-effort"
"""The default of every ``matrix_classes`` (builder, pipeline, ``detection.matrix_classes``, ``twinwatch replay``)."""

LINK_STATE_RULES = ("any", "last")
"""How a window's link-state reports decide a link's state (see the module docstring)."""

_RX_STATE = frozenset(LINK_STATE_KPIS[2:])

_FLOW_ARGS = ("src_node", "dst_node", "bytes_count", "packets_count", "flow_start_s", "flow_end_s",
              "sampling_rate", "dscp", "exporter_node")


@dataclass(frozen=True, slots=True)
class Completeness:
    """How much of the network the window's telemetry covers.

    Attributes
    ----------
    expected_counters, present_counters
        (link, KPI) pairs expected (every link × ``expected_link_kpis``) and
        those with at least one finite row.
    silent_devices
        Devices of the model that reported nothing in the window, in node order.
    rows, unknown_rows, nonfinite_rows, flagged_rows
        Measurement rows: all; about a device, link, pair or entity kind not
        in the model; with a non-finite value; with a reset/wrap/gap flag.
    unknown_entities
        Distinct ``"kind:id"`` not in the model (also unknown ``links_down`` ids).
    probes, probes_observed, unroutable_probes
        Probes of the model; those with a path row this window; names of
        those with no route in the window's link state.
    unattributed_pairs
        Observed ``src->dst`` pairs that neither a probe nor a single path explains.
    flow_records
        Record counts of the flow matrix (``None`` without flow records).
    link_state_source
        ``"telemetry"`` (inferred from link-state rows), ``"given"`` (``link_up`` passed to
        :meth:`SnapshotBuilder.build`) or ``"none"`` (inference off).
    link_ends_reported, link_ends_held, link_ends_unknown
        Of the ``2 E`` link ends: those with a link-state row in the window, those silent in
        the window whose state is held from an earlier one, those with no known state (up).
    link_state_unmapped_rows
        Link-state rows about an interface the model maps to no link, or a link it does not know.
    speed_ends_reported, speed_ends_held
        Of the ``2 E`` link ends: those with a speed row in the window, those silent in it whose speed is
        held from an earlier one.
    """

    expected_counters: int
    present_counters: int
    silent_devices: tuple[str, ...]
    rows: int
    unknown_rows: int
    nonfinite_rows: int
    flagged_rows: int
    unknown_entities: tuple[str, ...]
    probes: int
    probes_observed: int
    unroutable_probes: tuple[str, ...]
    unattributed_pairs: int
    flow_records: FlowAggregation | None = None
    link_state_source: str = "none"
    link_ends_reported: int = 0
    link_ends_held: int = 0
    link_ends_unknown: int = 0
    link_state_unmapped_rows: int = 0
    speed_ends_reported: int = 0
    speed_ends_held: int = 0
    igp_links_reported: int = 0
    igp_links_held: int = 0

    @property
    def fraction(self) -> float:
        """``present_counters / expected_counters`` (1.0 when nothing is expected)."""
        return self.present_counters / self.expected_counters if self.expected_counters else 1.0


@dataclass(frozen=True, eq=False)
class WindowSnapshot:
    """One network, one closed window: the Scenario the twin predicts and what was observed.

    Attributes
    ----------
    network
        The network model's name.
    start, end
        The window, epoch seconds.
    scenario
        Topology (the model's ``E`` links, down ones without paths), the
        window's routing and traffic (demand flows, then probe flows).
    routing_version
        :attr:`twinwatch.twin.routing.Routing.version` of the window's routing: equal
        versions route identically.
    links_down
        Link ids removed from the routing in this window.
    traffic, tm_source
        The window's :class:`~twin.traffic_matrix.TrafficMatrix` the scenario
        is built from (per ToS class, bit/s, with ``std_bps`` and a
        :class:`~twin.traffic_matrix.Source` per entry) and one of
        :data:`TM_SOURCES`: what measured the window's traffic (``"flows"`` or
        ``"mixed"``: flow records of the window, whose matrix is then fitted to
        the link counters where there are any).
    measured_traffic, measured_link_bps, measured_link_sd_bps
        On windows measured by flow records (``tm_source`` ``"flows"`` or
        ``"mixed"``): the records' own matrix (the exporting routers' rows
        from their records, :func:`~twin.traffic_matrix.matrix_mixed` for the
        rest), the ``(E,)`` load it puts on each link by the window's routing
        (bit/s; the scenario's probe flows included) and the ``(E,)``
        standard error of that load (the entries' errors, split like their
        rates over ECMP paths, summed in quadrature over the flows on the
        link). ``None`` on the other windows.
    flow_std_bps, flow_source
        ``(F,)`` uncertainty (bit/s) and :class:`Source` code of each flow's
        rate (the matrix entry's, scaled by the flow's ECMP share; probe
        flows: 0 and :attr:`Source.NONE`).
    flow_probe
        ``(F,)`` int64 probe number of a probe flow, -1 for demand flows.
    unrouted_bps
        Demand (bit/s) whose pair has no route in the window's link state.
    measurements
        The window's rows (columnar).
    link_observed
        KPI → ``(E,)`` window mean per link (NaN: not observed); KPIs of
        :data:`twinwatch.twin.measurements.LINK_OBSERVED_KPIS` that had rows.
    path_observed
        KPI → ``(P,)`` per scenario path, for every KPI of
        :data:`twinwatch.twin.measurements.PATH_OBSERVED_KPIS` (NaN: not observed).
    path_probe
        ``(P,)`` int64 probe whose packets take the path (-1: none).
    probe_path
        ``(K,)`` int64 scenario path each probe's packets take (-1: no route this window); a probe's own packets
        take that path's mean delay plus :func:`twinwatch.twin.probes.own_packet_shift_s` (their size).
    completeness
        :class:`Completeness`.
    link_speed_bps
        ``(E,)`` speed each link's ports reported in the window (bit/s): the lowest an end held for at least
        :attr:`SnapshotBuilder.link_state_min_down_s` of it, an earlier report held, the lower end's; NaN: none.
    model_capacity_bps
        ``(E,)`` capacities of the network model (bit/s): what the adapters' ``utilization`` rows are a fraction
        of. The scenario's :attr:`link_capacity_bps` is the lower of this and :attr:`link_speed_bps`.
    link_igp_metric
        ``(E,)`` IGP metric each link's source router reported (the latest report it held for at least
        :attr:`SnapshotBuilder.link_state_min_down_s` of the window, else an earlier one held); NaN: none. The
        window's routing uses it where given.
    model_metric
        ``(E,)`` routing metric without the reported ones: the model's IGP metrics (auto-cost of the window's
        capacity where none is configured). A reported metric that differs from it is a change the model lacks.
    """

    network: str
    start: float
    end: float
    scenario: Scenario
    routing_version: str
    links_down: tuple[str, ...]
    traffic: TrafficMatrix
    tm_source: str
    measured_traffic: TrafficMatrix | None
    measured_link_bps: np.ndarray | None
    measured_link_sd_bps: np.ndarray | None
    flow_std_bps: np.ndarray
    flow_source: np.ndarray
    flow_probe: np.ndarray
    unrouted_bps: float
    measurements: Measurements
    link_observed: dict[str, np.ndarray]
    path_observed: dict[str, np.ndarray]
    path_probe: np.ndarray
    probe_path: np.ndarray
    completeness: Completeness
    link_speed_bps: np.ndarray | None = None
    model_capacity_bps: np.ndarray | None = None
    link_igp_metric: np.ndarray | None = None
    model_metric: np.ndarray | None = None

    @property
    def link_capacity_bps(self) -> np.ndarray:
        """``(E,)`` capacity (bit/s) the twin predicts with: the model's, or a lower speed the ports reported (a LAG
        that lost a member, a port that negotiated down). A higher reported speed never raises it (a sub-rate
        service on a faster port)."""
        return self.scenario.link_capacity_bps

    @property
    def routing_metric(self) -> np.ndarray | None:
        """``(E,)`` IGP metric the window was routed with: the one the router reported (:attr:`link_igp_metric`), else
        :attr:`model_metric`; None for a snapshot built without them."""
        if self.model_metric is None:
            return None
        if self.link_igp_metric is None:
            return self.model_metric
        return np.where(np.isfinite(self.link_igp_metric), self.link_igp_metric, self.model_metric)

    @property
    def capacity_model(self) -> np.ndarray:
        """``(E,)`` the network model's capacities (bit/s; :attr:`model_capacity_bps`, else the scenario's)."""
        return self.model_capacity_bps if self.model_capacity_bps is not None else self.scenario.link_capacity_bps

    def to_scenario(self) -> Scenario:
        """The window's :class:`~twin.scenario.Scenario` (built with the snapshot)."""
        return self.scenario

    @property
    def path_is_observed(self) -> np.ndarray:
        """``(P,)`` bool: some path KPI was observed on the path."""
        obs = np.zeros(self.scenario.n_paths, dtype=bool)
        for arr in self.path_observed.values():
            obs |= np.isfinite(arr)
        return obs

    def link_kpi(self, kpi: str) -> np.ndarray:
        """``(E,)`` observed ``kpi`` per link (all NaN when the window had no such row)."""
        return self.link_observed.get(kpi, np.full(self.scenario.n_links, np.nan))

    def link_load_bps(self) -> np.ndarray:
        """``(E,)`` bits/s each link carried in the window, as :func:`link_load_bps` reads it off the counters."""
        return link_load_bps(self.link_observed, self.capacity_model)


def link_load_bps(link_mean: Mapping[str, np.ndarray], capacity_bps: np.ndarray) -> np.ndarray:
    """``(E,)`` bits/s each link carried: the sender's ``tx_bps``, else the far end's ``rx_bps`` (a sender whose
    counter gave no rate: silent, reset, or a 32-bit counter that may have wrapped twice), else ``utilization`` ×
    ``capacity_bps``; NaN where no end measured it.

    >>> link_load_bps({"tx_bps": np.array([5.0, np.nan, np.nan]), "rx_bps": np.array([4.0, 3.0, np.nan])},
    ...               np.full(3, 10.0)).tolist()
    [5.0, 3.0, nan]
    """
    load = np.asarray(link_mean.get("tx_bps", np.full(len(capacity_bps), np.nan)), dtype=np.float64)
    util = link_mean.get("utilization")
    for alt in (link_mean.get("rx_bps"), None if util is None else util * capacity_bps):
        if alt is not None:
            load = np.where(np.isfinite(load), load, alt)
    return load


def _column(cols: Mapping[str, Any], name: str) -> np.ndarray | None:
    return np.asarray(cols[name]) if name in cols else None


def _routed_loads(routing: Routing, traffic: TrafficMatrix, n_links: int) -> tuple[np.ndarray, np.ndarray]:
    """``(E,)`` load (bit/s) the matrix puts on each link by ``routing``, and its standard error: each entry's
    ``std_bps`` split like its rate over the pair's paths, summed in quadrature over the flows on the link."""
    d = traffic.to_demands()
    rf = route_demand(routing, d.src, d.dst, d.rate_bps, tos=d.tos)
    f_d = rf.flow_demand
    with np.errstate(invalid="ignore", divide="ignore"):
        share = np.where(d.rate_bps[f_d] > 0, rf.flow_rate_bps / d.rate_bps[f_d], 0.0)
    hop_path = np.repeat(np.arange(rf.path_src.size), np.diff(rf.path_ptr))
    with np.errstate(over="ignore"):  # an absurd error gives an infinite one
        var = np.square(np.nan_to_num(d.std_bps[f_d] * share, nan=0.0))
    out = []
    for per_flow in (rf.flow_rate_bps, var):
        per_path = np.bincount(rf.flow_path, weights=per_flow, minlength=rf.path_src.size)
        out.append(np.bincount(rf.path_links, weights=per_path[hop_path], minlength=n_links).astype(np.float64))
    return out[0], np.sqrt(out[1])


def _clip_ts(ts: np.ndarray, start: float, end: float) -> np.ndarray:
    """Report times within the window ``[start, end]`` (a report without a time: at its start)."""
    return np.clip(np.where(np.isnan(ts), start, ts), start, end)


def _runs(key: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(first, last)`` bool masks of the first and the last report of each key in ``key`` (sorted)."""
    if not key.size:
        return np.zeros(0, dtype=bool), np.zeros(0, dtype=bool)
    change = key[1:] != key[:-1]
    return np.append(True, change), np.append(change, True)


def _remember(last_ts: np.ndarray, last_val: np.ndarray, key: np.ndarray, ts: np.ndarray, val: np.ndarray) -> None:
    """Keep each key's latest report (time ``ts``, value ``val``) for the windows after this one, never over a
    later one already kept (a late batch)."""
    upd = ~(last_ts[key] > ts)
    last_ts[key[upd]] = ts[upd]
    last_val[key[upd]] = val[upd]


@dataclass
class SnapshotBuilder:
    """Builds the :class:`WindowSnapshot` of each window of one network; caches routing per link state.

    Parameters
    ----------
    model
        The network model.
    split, max_paths, explicit
        ECMP split, equal-cost paths per pair, explicit routes (see
        :func:`twinwatch.twin.routing.compute_routing`); the traffic matrix holds
        aggregates, so ``"even"`` is the default.
    expected_link_kpis
        Counters every link should report per window (completeness).
    pkt_size_bits
        Mean packet size of demand flows; ``None``: from the flow records
        (bytes / packets), else from link counters (``tx_bps / tx_pps``),
        else :data:`DEFAULT_PKT_SIZE_BITS`.
    cache_size
        Link states whose routing is kept.
    infer_link_state
        Infer each window's link state from its link-state rows when ``link_up`` is not given.
    link_state_rule
        ``"any"``: a link is down if an end was down for at least ``link_state_min_down_s`` of the
        window; ``"last"``: if an end's state at the window's end is down (:data:`LINK_STATE_RULES`).
    link_state_min_down_s
        Rule ``"any"``: seconds an end must be down in the window to take the link down (clock skew
        at the window's edges; 0: any down report).
    link_state_hold_s
        How long (seconds) an end's last report carries into later windows; ``None``: forever.
    prior_floor
        A flow-measured matrix fitted to the counters (and a counter estimate from a prior) starts the
        pairs the records have at zero at this fraction of their mean non-zero pair rate.
    flow_matrix
        What the twin predicts from on a window measured by flow records (:data:`FLOW_MATRICES`):
        ``"fitted"`` (default), the records' matrix fitted to the window's link counters
        (:func:`~twin.traffic_matrix.matrix_fitted_to_counters`), as every other window's matrix is;
        ``"records"``, the records' own matrix (the behaviour before session 29; pairs a coarse sampling
        missed then send nothing).
    matrix_classes
        How a matrix fitted to the counters splits each pair over the ToS classes (:data:`MATRIX_CLASSES`):
        ``"best-effort"`` (default, :data:`DEFAULT_MATRIX_CLASSES`), every rate in the class of DSCP 0: one
        twin flow per pair, so about a third of the twin's time on a three-class network (``BENCHMARKS.md``,
        "The service pipeline"); ``"records"``, as the flow records split it (a pair without records: as all
        of them do), so a network with per-class queues is predicted per class. Scored side by side on held-out
        runs (seeds 3401 / 3501, ``bench/notes/detect_eval.md``, session 30): the same detections, alerts and
        false alarms on every run, so the faster one is the default.
    """

    model: NetworkModel
    split: str = "even"
    max_paths: int = DEFAULT_MAX_PATHS
    explicit: Mapping[tuple[int, int], Sequence[int]] | None = None
    expected_link_kpis: tuple[str, ...] = ("tx_bps", "rx_bps")
    pkt_size_bits: float | None = None
    cache_size: int = 8
    infer_link_state: bool = True
    link_state_rule: str = "any"
    link_state_min_down_s: float = 1.0
    link_state_hold_s: float | None = None
    prior_floor: float = DEFAULT_PRIOR_FLOOR
    flow_matrix: str = "fitted"
    matrix_classes: str = DEFAULT_MATRIX_CLASSES
    _cache: OrderedDict[bytes, tuple[Routing, RoutingMatrix | None]] = field(
        default_factory=OrderedDict, init=False, repr=False)
    #: per link end and leaf (4 e + 2 end + admin; end 0: source, 1: destination): time (epoch s) and value of
    #: the latest report
    _end_ts: np.ndarray = field(default_factory=lambda: np.empty(0), init=False, repr=False)
    _end_val: np.ndarray = field(default_factory=lambda: np.empty(0), init=False, repr=False)
    #: per link end (2 e + end): time (epoch s) and value (bit/s) of the latest speed report
    _speed_ts: np.ndarray = field(default_factory=lambda: np.empty(0), init=False, repr=False)
    _speed_val: np.ndarray = field(default_factory=lambda: np.empty(0), init=False, repr=False)
    #: per link: time (epoch s) and value of the latest IGP metric report of its source end
    _igp_ts: np.ndarray = field(default_factory=lambda: np.empty(0), init=False, repr=False)
    _igp_val: np.ndarray = field(default_factory=lambda: np.empty(0), init=False, repr=False)
    #: the routing metric of the model's capacities (IGP metrics; auto-cost where none is configured)
    _metric: np.ndarray = field(default_factory=lambda: np.empty(0), init=False, repr=False)

    def __post_init__(self) -> None:
        if self.link_state_rule not in LINK_STATE_RULES:
            raise ValueError(f"SnapshotBuilder: link_state_rule {self.link_state_rule!r} is not one of "
                             f"{LINK_STATE_RULES}")
        if not (self.prior_floor >= 0 and np.isfinite(self.prior_floor)):
            raise ValueError(f"SnapshotBuilder: prior_floor must be a finite fraction >= 0, got {self.prior_floor!r}")
        if self.matrix_classes not in MATRIX_CLASSES:
            raise ValueError(f"SnapshotBuilder: matrix_classes {self.matrix_classes!r} is not one of "
                             f"{MATRIX_CLASSES}")
        if self.flow_matrix not in FLOW_MATRICES:
            raise ValueError(f"SnapshotBuilder: flow_matrix {self.flow_matrix!r} is not one of {FLOW_MATRICES}")
        if self.link_state_hold_s is not None and not self.link_state_hold_s >= 0:
            raise ValueError(f"SnapshotBuilder: link_state_hold_s must be >= 0 seconds or None, "
                             f"got {self.link_state_hold_s!r}")
        if not self.link_state_min_down_s >= 0:
            raise ValueError(f"SnapshotBuilder: link_state_min_down_s must be >= 0 seconds, "
                             f"got {self.link_state_min_down_s!r}")
        self._end_ts = np.full(4 * self.model.n_links, np.nan)
        self._end_val = np.full(4 * self.model.n_links, np.nan)
        self._speed_ts = np.full(2 * self.model.n_links, np.nan)
        self._speed_val = np.full(2 * self.model.n_links, np.nan)
        self._igp_ts = np.full(self.model.n_links, np.nan)
        self._igp_val = np.full(self.model.n_links, np.nan)
        m = self.model
        self._metric = default_metric(m.link_capacity_bps, m.link_metric.astype(np.float64),
                                      reference_bps=m.reference_bandwidth_bps)

    # ----------------------------------------------------------------- memory
    def memory_arrays(self) -> dict[str, np.ndarray]:
        """What the builder remembers between windows, as named arrays (the service's checkpoint): each link end's
        latest link-state, speed and IGP metric report (time in epoch seconds and value; NaN: none), with the link
        ids they are numbered by."""
        return {"link_ids": np.array(self.model.link_ids, dtype=str), "state_ts": self._end_ts.copy(),
                "state_val": self._end_val.copy(), "speed_ts": self._speed_ts.copy(),
                "speed_val": self._speed_val.copy(), "igp_ts": self._igp_ts.copy(), "igp_val": self._igp_val.copy()}

    def load_memory_arrays(self, arrays: Mapping[str, np.ndarray]) -> int:
        """Restore :meth:`memory_arrays` (of this network, perhaps of an earlier version of its model): each link
        the model still has gets its ends' reports back, by link id; a new link starts with none. Returns the
        number of links carried over; :class:`ValueError` when the arrays are not such a memory. A memory of an
        earlier build without IGP metrics leaves them unreported."""
        try:
            ids = [str(x) for x in np.asarray(arrays["link_ids"]).tolist()]
            got = {k: np.asarray(arrays[k], dtype=np.float64) for k in ("state_ts", "state_val", "speed_ts",
                                                                         "speed_val")}
        except KeyError as exc:
            raise ValueError(f"link memory: no {exc.args[0]!r} array") from None
        n = len(ids)
        for k in ("igp_ts", "igp_val"):
            got[k] = np.asarray(arrays[k], dtype=np.float64) if k in arrays else np.full(n, np.nan)
        for k, per in (("state_ts", 4), ("state_val", 4), ("speed_ts", 2), ("speed_val", 2), ("igp_ts", 1),
                       ("igp_val", 1)):
            if got[k].shape != (per * n,):
                raise ValueError(f"link memory: {k!r} has shape {got[k].shape}, expected ({per * n},) for {n} links")
        old = {lid: i for i, lid in enumerate(ids)}
        pos = np.array([old.get(lid, -1) for lid in self.model.link_ids], dtype=np.int64)
        kept = pos >= 0
        for k, per, dest in (("state_ts", 4, self._end_ts), ("state_val", 4, self._end_val),
                             ("speed_ts", 2, self._speed_ts), ("speed_val", 2, self._speed_val),
                             ("igp_ts", 1, self._igp_ts), ("igp_val", 1, self._igp_val)):
            src = got[k].reshape(n, per)
            dst = dest.reshape(-1, per)
            dst[:] = np.nan
            dst[kept] = src[pos[kept]]
        return int(kept.sum())

    @property
    def link_metric(self) -> np.ndarray:
        """``(E,)`` routing metric of each link when nothing else is reported: the model's IGP metrics, the auto-cost
        of the model's capacity where none is configured."""
        return self._metric.copy()

    def window_metric(self, capacity_bps: np.ndarray | None = None,
                      igp_metric: np.ndarray | None = None) -> np.ndarray | None:
        """``(E,)`` routing metric of a window, or None where it is the model's (:attr:`link_metric`).

        ``capacity_bps``: the links' capacities when they differ from the model's (a LAG that lost a member,
        :attr:`WindowSnapshot.link_capacity_bps`); a link without a configured IGP metric takes the
        reference-bandwidth cost of its capacity, as a router's auto-cost does. ``igp_metric``: the metrics the
        routers reported (:attr:`WindowSnapshot.link_igp_metric`; NaN: none), which they route with.
        """
        m, metric = self.model, self._metric
        if capacity_bps is not None and m.link_metric_auto.any():
            metric = np.where(m.link_metric_auto, m.auto_metric(np.asarray(capacity_bps, dtype=np.float64)),
                              metric).astype(np.float64)
        if igp_metric is not None:
            igp = np.asarray(igp_metric, dtype=np.float64)
            metric = np.where(np.isfinite(igp), igp, metric)
        return None if np.array_equal(metric, self._metric) else metric

    def routing(self, up: np.ndarray, capacity_bps: np.ndarray | None = None,
                igp_metric: np.ndarray | None = None) -> Routing:
        """The routing of all node pairs for the ``(E,)`` bool link state ``up`` (cached), with the capacities and
        reported metrics of :meth:`window_metric`."""
        return self._routed(up, self.window_metric(capacity_bps, igp_metric))[0]

    def _metric_key(self, up: np.ndarray, metric: np.ndarray | None) -> tuple[bytes, np.ndarray]:
        """The cache key of a link state and a window's metric (None: the model's), and the metric."""
        key = np.packbits(up).tobytes()
        if metric is None:
            return key, self._metric
        return key + metric.tobytes(), metric

    def _routed(self, up: np.ndarray, metric: np.ndarray | None = None) -> tuple[Routing, RoutingMatrix | None]:
        key, metric = self._metric_key(up, metric)
        hit = self._cache.get(key)
        if hit is not None:
            self._cache.move_to_end(key)
            return hit
        m = self.model
        r = compute_routing(m.n_nodes, m.link_src, m.link_dst, metric, up=up, split=self.split,
                            max_paths=self.max_paths, explicit=self.explicit, link_names=m.link_ids)
        self._cache[key] = (r, None)
        while len(self._cache) > self.cache_size:
            self._cache.popitem(last=False)
        return r, None

    def _routing_matrix(self, up: np.ndarray, metric: np.ndarray | None = None) -> RoutingMatrix:
        r, rm = self._routed(up, metric)
        if rm is None:
            rm = RoutingMatrix.from_paths(n_nodes=r.n_nodes, n_links=r.n_links, path_src=r.path_src,
                                          path_dst=r.path_dst, path_ptr=r.path_ptr, path_links=r.path_links,
                                          share=r.path_share)
            self._cache[self._metric_key(up, metric)[0]] = (r, rm)
        return rm

    # ----------------------------------------------------------------- build
    def build(
        self,
        start: float,
        end: float,
        measurements: Measurements | Mapping[str, Any] | Any,
        *,
        flows: Mapping[str, Any] | None = None,
        traffic: TrafficMatrix | None = None,
        link_up: np.ndarray | None = None,
        links_down: Iterable[str] = (),
        flow_exporters: np.ndarray | None = None,
        bytes_scaled: bool = False,
        prior_bps: np.ndarray | None = None,
    ) -> WindowSnapshot:
        """The snapshot of the window ``[start, end)`` (epoch seconds).

        Parameters
        ----------
        measurements
            The window's Measurement rows: :class:`~twin.measurements.Measurements`,
            a mapping of columns or a ``pyarrow.Table``.
        flows
            Flow-record columns as :func:`~twin.traffic_matrix.matrix_from_flows`
            takes them (``src_node``, ``dst_node``, ``bytes_count``,
            ``packets_count``, ``flow_start_s``, ``flow_end_s``, optional
            ``sampling_rate``, ``dscp``, ``exporter_node``), with node numbers
            from the inventory's prefix match (-1: unmatched).
        traffic
            A traffic matrix to use as it is (tests, what-if); wins over ``flows``.
        link_up, links_down
            ``(E,)`` bool link state and/or link ids that are down this window
            (unknown ids are counted in the completeness). Without ``link_up`` the
            state comes from the window's link-state rows (see the module docstring).
        flow_exporters
            ``(N,)`` bool: routers that export flows. Given (and not all
            true), flows fill their rows and counters estimate the rest.
            Without flows and traffic the matrix comes from counters alone.
        bytes_scaled
            Flow bytes/packets are already multiplied by the sampling rate.
        prior_bps
            ``(N, N)`` pair rates or a ``(C, N, N)`` per-class matrix (bit/s, e.g. from the latest
            flow records) that the counter estimate starts from instead of a gravity model
            (:func:`~twin.traffic_matrix.matrix_fitted_to_counters`: pairs at 0 start at
            ``prior_floor`` of the mean; each pair keeps its class split, an ``(N, N)`` prior's
            traffic is in the default class). Used only when the matrix comes from counters.
        """
        m = self.model
        e = m.n_links
        meas = measurements if isinstance(measurements, Measurements) else Measurements.from_columns(measurements)
        mapped = map_measurements(meas, m.node_index, m.link_index, link_src=m.link_src, link_dst=m.link_dst)
        inferred, ends = self._link_state(meas, float(start), float(end))
        if link_up is not None:
            up = np.asarray(link_up, dtype=bool).copy()
            ls_source = "given"
        else:
            up = inferred if self.infer_link_state else np.ones(e, dtype=bool)
            ls_source = "telemetry" if self.infer_link_state else "none"
        if up.shape != (e,):
            raise ValueError(f"link_up: shape {up.shape}, expected ({e},) (one per link of {m.name!r})")
        down_ids = list(links_down)
        known_down = [i for i in down_ids if i in m.link_index]
        up[[m.link_index[i] for i in known_down]] = False
        speed, speed_ends = self._link_speed(meas, float(start), float(end))
        with np.errstate(invalid="ignore"):
            capacity = np.where(speed < m.link_capacity_bps, speed, m.link_capacity_bps)
        cap_moved = None if np.array_equal(capacity, m.link_capacity_bps) else capacity
        igp, igp_ends = self._link_igp_metric(meas, float(start), float(end))
        cap_metric = self.window_metric(cap_moved)
        metric = self.window_metric(cap_moved, igp)
        routing = self._routed(up, metric)[0]

        traffic, tm_source, agg, pkt_bits, measured = self._traffic(start, end, mapped, up, flows, traffic,
                                                                    flow_exporters, bytes_scaled, prior_bps,
                                                                    metric)
        d = traffic.to_demands()
        rf = route_demand(routing, d.src, d.dst, d.rate_bps, tos=d.tos)

        # probes: the path each one's packets take; a flow of its own where that path is idle
        k = m.n_probes
        pp = probe_paths(routing, m.probe_src, m.probe_dst, m.probe_class)
        used = rf.path_routing  # sorted routing path numbers of the demand paths
        pos = np.searchsorted(used, pp)
        on_busy = np.zeros(k, dtype=bool)
        if used.size:
            on_busy = (pp >= 0) & (used[np.minimum(pos, used.size - 1)] == pp)
        need = np.flatnonzero((pp >= 0) & ~on_busy)
        extra = np.unique(pp[need])
        probe_sc_path = np.full(k, -1, dtype=np.int64)
        probe_sc_path[on_busy] = pos[on_busy]
        probe_sc_path[need] = used.size + np.searchsorted(extra, pp[need])

        sc = self._scenario(routing, rf, d, extra, need, probe_sc_path, pkt_bits, start, end, capacity)
        p = sc.n_paths
        path_probe = np.full(p, -1, dtype=np.int64)
        placed = np.flatnonzero(probe_sc_path >= 0)
        path_probe[probe_sc_path[placed[::-1]]] = placed[::-1]  # the lowest probe number wins a shared path
        path_observed, probes_observed, unattributed = self._attribute(mapped, sc, probe_sc_path)

        f_d = rf.flow_demand
        with np.errstate(invalid="ignore", divide="ignore"):
            share = np.where(d.rate_bps[f_d] > 0, rf.flow_rate_bps / d.rate_bps[f_d], 0.0)
        n_probe_flows = need.size
        present = sum(int(np.isfinite(mapped.link_mean[kpi]).sum()) for kpi in self.expected_link_kpis
                      if kpi in mapped.link_mean)
        unknown = set(mapped.unknown_ids) | {f"link:{i}" for i in down_ids if i not in m.link_index}
        comp = Completeness(
            expected_counters=e * len(self.expected_link_kpis),
            present_counters=present,
            silent_devices=tuple(np.asarray(m.node_names, dtype=object)[~mapped.heard].tolist()),
            rows=mapped.rows,
            unknown_rows=mapped.unknown_rows,
            nonfinite_rows=mapped.nonfinite_rows,
            flagged_rows=mapped.flagged_rows,
            unknown_entities=tuple(sorted(unknown)),
            probes=k,
            probes_observed=probes_observed,
            unroutable_probes=tuple(m.probe_names[i] for i in np.flatnonzero(pp < 0).tolist()),
            unattributed_pairs=unattributed,
            flow_records=agg,
            link_state_source=ls_source,
            link_ends_reported=ends[0],
            link_ends_held=ends[1],
            link_ends_unknown=2 * e - ends[0] - ends[1],
            link_state_unmapped_rows=ends[2],
            speed_ends_reported=speed_ends[0],
            speed_ends_held=speed_ends[1],
            igp_links_reported=igp_ends[0],
            igp_links_held=igp_ends[1],
        )
        unrouted = float(d.rate_bps[rf.unrouted].sum()) if rf.unrouted.size else 0.0
        measured_bps = measured_sd = None
        if measured is not None:
            probe_rate = np.bincount(sc.flow_path[f_d.size:], weights=sc.flow_rate_bps[f_d.size:], minlength=p)
            measured_bps, measured_sd = _routed_loads(routing, measured, m.n_links)
            measured_bps = measured_bps + sc.link_load_bps(probe_rate)
        return WindowSnapshot(
            network=m.name,
            start=float(start),
            end=float(end),
            scenario=sc,
            routing_version=routing.version,
            links_down=tuple(m.link_ids[i] for i in np.flatnonzero(~up).tolist()),
            traffic=traffic,
            tm_source=tm_source,
            measured_traffic=measured,
            measured_link_bps=measured_bps,
            measured_link_sd_bps=measured_sd,
            flow_std_bps=np.concatenate([d.std_bps[f_d] * share, np.zeros(n_probe_flows)]),
            flow_source=np.concatenate([d.source[f_d], np.full(n_probe_flows, int(Source.NONE), dtype=np.uint8)]),
            flow_probe=np.concatenate([np.full(f_d.size, -1, dtype=np.int64), need.astype(np.int64)]),
            unrouted_bps=unrouted,
            measurements=meas,
            link_observed=dict(mapped.link_mean),
            path_observed=path_observed,
            path_probe=path_probe,
            probe_path=probe_sc_path,
            completeness=comp,
            link_speed_bps=speed,
            model_capacity_bps=m.link_capacity_bps,
            link_igp_metric=igp,
            model_metric=self._metric if cap_metric is None else cap_metric,
        )

    # --------------------------------------------------------------- pieces
    def _link_rows(self, meas: Measurements, is_kpi: np.ndarray) -> tuple[np.ndarray, np.ndarray, int]:
        """Of the rows ``is_kpi`` marks, those on a link the model knows with a finite value (row numbers and
        ``(n,)`` link numbers), and the count of the others about an interface or a link the model does not know
        (non-finite values are in :attr:`Completeness.nonfinite_rows`)."""
        on_link = is_kpi & (meas.entity_kind == "link")
        sel = np.flatnonzero(on_link)
        uniq, inv = np.unique(meas.entity_id[sel], return_inverse=True)
        num = np.fromiter((self.model.link_index.get(u, -1) for u in uniq.tolist()), dtype=np.int64,
                          count=uniq.size)
        lno = num[inv.ravel()] if sel.size else np.zeros(0, dtype=np.int64)
        unmapped = int((is_kpi & ~on_link).sum() + (lno < 0).sum())
        ok = (lno >= 0) & np.isfinite(meas.value[sel])
        return sel[ok], lno[ok], unmapped

    def _held(self, last_ts: np.ndarray, start: float) -> np.ndarray:
        """Which link ends' latest reports (``last_ts``, epoch s; NaN: none) carry into a window from ``start``:
        those before it, for at most ``link_state_hold_s``."""
        held = last_ts < start
        if self.link_state_hold_s is not None:
            held &= start - last_ts <= self.link_state_hold_s
        return held

    def _link_state(self, meas: Measurements, start: float, end: float) -> tuple[np.ndarray, tuple[int, int, int]]:
        """``(E,)`` bool link state of the window ``[start, end)`` from its link-state rows and the ends' earlier
        reports, and the counts (ends reported, ends held, unmapped link-state rows); remembers each end's
        latest report. Each (end, leaf) is a step function: a report's state holds until the next one."""
        m = self.model
        e = m.n_links
        is_ls = np.isin(meas.kpi, LINK_STATE_KPIS)
        if not is_ls.any() and not np.isfinite(self._end_ts).any():
            return np.ones(e, dtype=bool), (0, 0, 0)
        sel, lno, unmapped = self._link_rows(meas, is_ls)
        kpi = meas.kpi[sel]
        key = 4 * lno + 2 * np.isin(kpi, list(_RX_STATE)) + np.isin(kpi, ["admin_status", "rx_admin_status"])
        ts = _clip_ts(meas.ts[sel], start, end)
        down = meas.value[sel] < 0.5
        order = np.lexsort((~down, ts, key))  # by key, then time; at equal times a down report comes last
        key, ts, down = key[order], ts[order], down[order]
        first, last = _runs(key)
        # the state each key carries in from earlier windows
        n_keys = 4 * e
        held = self._held(self._end_ts, start)
        held_down = held & (self._end_val < 0.5)
        if self.link_state_rule == "any":
            nxt = np.where(last, end, np.append(ts[1:], end))
            down_s = np.bincount(key, weights=(nxt - ts) * down, minlength=n_keys).astype(np.float64)
            until = np.full(n_keys, end)
            until[key[first]] = ts[first]
            down_s += np.where(held_down, until - start, 0.0)
            key_down = (down_s > 0) & (down_s >= self.link_state_min_down_s)
            key_down[key[down]] |= self.link_state_min_down_s == 0  # a down report at the very end counts at 0
        else:
            key_down = held_down.copy()
            key_down[key[last]] = down[last]
        reported = np.zeros(n_keys, dtype=bool)
        reported[key] = True
        _remember(self._end_ts, self._end_val, key[last], ts[last], np.where(down[last], 0.0, 1.0))
        end_down = key_down.reshape(e, 2, 2).any(axis=2)  # (link, end): oper or admin down
        end_rep = reported.reshape(e, 2, 2).any(axis=2)
        end_held = (held.reshape(e, 2, 2).any(axis=2)) & ~end_rep
        return ~end_down.any(axis=1), (int(end_rep.sum()), int(end_held.sum()), unmapped)

    def _link_speed(self, meas: Measurements, start: float, end: float) -> tuple[np.ndarray, tuple[int, int]]:
        """``(E,)`` speed (bit/s) each link's ports reported over the window ``[start, end)`` and the counts (ends
        reported, ends held); remembers each end's latest report.

        Each end's reports are a step function (a report holds until the next; the latest one before the window
        carries in for ``link_state_hold_s``). An end's speed in the window is the lowest step it held for at least
        ``link_state_min_down_s`` of it, as a link is down for a window it was down that long in: the window's
        routing and queueing follow the degraded LAG, and a report in the window's last instant (a device clock
        running early) counts from the next window on. A link's speed is its lower end's. NaN: no end held a
        report that long. Rows about links the model does not know, and non-finite values or values below
        :data:`MIN_SPEED_BPS`, are left out (the adapters refuse such values before this).
        """
        m = self.model
        e = m.n_links
        is_sp = np.isin(meas.kpi, SPEED_KPIS)
        if not is_sp.any() and not np.isfinite(self._speed_ts).any():
            return np.full(e, np.nan), (0, 0)
        sel, lno, _ = self._link_rows(meas, is_sp)
        val = meas.value[sel]
        ok = val >= MIN_SPEED_BPS
        sel, lno, val = sel[ok], lno[ok], val[ok]
        key = 2 * lno + (meas.kpi[sel] == SPEED_KPIS[1])
        ts = _clip_ts(meas.ts[sel], start, end)
        order = np.lexsort((ts, key))
        key, ts, val = key[order], ts[order], val[order]
        n_keys = 2 * e
        first, last = _runs(key)
        held = self._held(self._speed_ts, start)
        # each report holds until the next one of its end (or the window's end); the held value from the window's
        # start until the end's first report of the window
        min_s = self.link_state_min_down_s
        dt = np.where(last, end, np.append(ts[1:], end)) - ts
        lowest = np.full(n_keys, np.inf)
        counts = (dt >= min_s) & (dt > 0) if min_s > 0 else np.ones(dt.size, dtype=bool)
        np.minimum.at(lowest, key[counts], val[counts])
        until = np.full(n_keys, end)
        until[key[first]] = ts[first]
        carry = held & ((until - start >= min_s) & (until > start) if min_s > 0 else True)
        lowest = np.where(carry, np.fmin(lowest, self._speed_val), lowest)
        reported = np.zeros(n_keys, dtype=bool)
        reported[key] = True
        low = np.where(np.isfinite(lowest), lowest, np.nan)
        _remember(self._speed_ts, self._speed_val, key[last], ts[last], val[last])
        with np.errstate(invalid="ignore"):
            speed = np.fmin(low[0::2], low[1::2])
        n_held = int((held & ~reported).sum())
        return speed, (int(reported.sum()), n_held)

    def _link_igp_metric(self, meas: Measurements, start: float, end: float) -> tuple[np.ndarray, tuple[int, int]]:
        """``(E,)`` IGP metric each link's source router reported over the window ``[start, end)`` and the counts
        (links reported, links held); remembers each link's latest report.

        A link's reports are a step function, as its speed reports are (:meth:`_link_speed`); the window takes the
        latest report that held for at least ``link_state_min_down_s`` of it (the metric the routers route most
        of the window's end with: a report in its last instant counts from the next window on), else the report
        held from before. NaN: none. Values that are not an integer in 1 … :data:`MAX_IGP_METRIC` are left out
        (the adapters refuse them before this).
        """
        e = self.model.n_links
        is_m = meas.kpi == IGP_METRIC_KPI
        if not is_m.any() and not np.isfinite(self._igp_ts).any():
            return np.full(e, np.nan), (0, 0)
        sel, lno, _ = self._link_rows(meas, is_m)
        val = meas.value[sel]
        ok = (val >= 1) & (val <= MAX_IGP_METRIC) & (val == np.round(val))
        sel, key, val = sel[ok], lno[ok], val[ok]
        ts = _clip_ts(meas.ts[sel], start, end)
        order = np.lexsort((ts, key))
        key, ts, val = key[order], ts[order], val[order]
        first, last = _runs(key)
        held = self._held(self._igp_ts, start)
        min_s = self.link_state_min_down_s
        dt = np.where(last, end, np.append(ts[1:], end)) - ts
        counts = (dt >= min_s) & (dt > 0) if min_s > 0 else np.ones(dt.size, dtype=bool)
        pos = np.full(e, -1)
        np.maximum.at(pos, key[counts], np.flatnonzero(counts))  # sorted by time within a link: the latest
        latest = np.where(pos >= 0, val[np.maximum(pos, 0)] if val.size else np.nan, np.nan)
        until = np.full(e, end)
        until[key[first]] = ts[first]
        carry = held & ((until - start >= min_s) & (until > start) if min_s > 0 else True)
        latest = np.where(np.isnan(latest) & carry, self._igp_val, latest)
        reported = np.zeros(e, dtype=bool)
        reported[key] = True
        _remember(self._igp_ts, self._igp_val, key[last], ts[last], val[last])
        return latest, (int(reported.sum()), int((held & ~reported).sum()))

    def _traffic(
        self, start: float, end: float, mapped: MappedMeasurements, up: np.ndarray, flows: Mapping[str, Any] | None,
        traffic: TrafficMatrix | None, exporters: np.ndarray | None, bytes_scaled: bool,
        prior_bps: np.ndarray | None = None, metric: np.ndarray | None = None,
    ) -> tuple[TrafficMatrix, str, FlowAggregation | None, float, TrafficMatrix | None]:
        """The twin's matrix, its source, the flow-record counts, the demand packet size (bits) and the flow
        records' own matrix (flow-measured windows, else None)."""
        m = self.model
        lm = mapped.link_mean
        tx = link_load_bps(lm, m.link_capacity_bps)
        pkt_bits = self.pkt_size_bits
        if pkt_bits is None and "tx_bps" in lm and "tx_pps" in lm:
            both = np.isfinite(lm["tx_bps"]) & np.isfinite(lm["tx_pps"]) & (lm["tx_pps"] > 0)
            if both.any():
                pkt_bits = float(lm["tx_bps"][both].sum() / lm["tx_pps"][both].sum())
        if traffic is not None:
            if traffic.n_nodes != m.n_nodes:
                raise ValueError(f"traffic: {traffic.n_nodes} nodes, network {m.name!r} has {m.n_nodes}")
            return traffic, "given", None, pkt_bits or DEFAULT_PKT_SIZE_BITS, None
        default_class = int(m.dscp_class[0])  # best effort: where traffic of unknown class goes
        if flows is None:
            rm = self._routing_matrix(up, metric)
            tm: TrafficMatrix | None = None
            if prior_bps is not None:
                pb = np.asarray(prior_bps, dtype=np.float64)
                if pb.shape not in ((m.n_nodes, m.n_nodes), (N_CLASSES, m.n_nodes, m.n_nodes)):
                    raise ValueError(f"prior_bps: shape {pb.shape}, expected ({m.n_nodes}, {m.n_nodes}) or "
                                     f"(C, {m.n_nodes}, {m.n_nodes}) with C = {N_CLASSES} for {m.name!r}")
                tm = self._fit(pb, rm, tx, start, end, default_class)
            if tm is None:
                tm, _ = matrix_from_counters(rm, tx, start=start, end=end,
                                             tos_shares=np.eye(N_CLASSES)[default_class])
            return tm, "counters", None, pkt_bits or DEFAULT_PKT_SIZE_BITS, None
        args = {name: _column(flows, name) for name in _FLOW_ARGS}
        missing = [a for a in _FLOW_ARGS[:6] if args[a] is None]
        if missing:
            raise ValueError(f"flows: column(s) {missing} missing (have {sorted(flows)})")
        tm, agg = matrix_from_flows(n_nodes=m.n_nodes, start=start, end=end, dscp_to_class=m.dscp_class,
                                    bytes_scaled=bytes_scaled, **{k: v for k, v in args.items() if v is not None})
        if self.pkt_size_bits is None:
            b, k = np.asarray(args["bytes_count"], dtype=np.float64), np.asarray(args["packets_count"], dtype=float)
            ok = np.isfinite(b) & np.isfinite(k) & (k > 0)
            if ok.any():
                pkt_bits = float(8.0 * b[ok].sum() / k[ok].sum())
        pkt_bits = pkt_bits or DEFAULT_PKT_SIZE_BITS
        exp = None if exporters is None else np.asarray(exporters, dtype=bool)
        source = "flows"
        if exp is not None and not exp.all():
            tm, _ = matrix_mixed(tm, exp, self._routing_matrix(up, metric), tx)
            source = "mixed"
        fitted = None
        if self.flow_matrix == "fitted" and np.isfinite(tx[up]).any():
            fitted = self._fit(tm, self._routing_matrix(up, metric), tx, start, end, default_class)
        return (tm if fitted is None else fitted), source, agg, pkt_bits, tm

    def _fit(self, prior: TrafficMatrix | np.ndarray, rm: RoutingMatrix, tx: np.ndarray, start: float, end: float,
             default_class: int) -> TrafficMatrix | None:
        """``prior`` fitted to the counters ``tx`` with the builder's floor and class split."""
        return matrix_fitted_to_counters(prior, rm, tx, start=start, end=end, floor=self.prior_floor,
                                         default_class=default_class,
                                         keep_classes=self.matrix_classes == "records")

    def _scenario(
        self, routing: Routing, rf: Any, d: Any, extra: np.ndarray, need: np.ndarray, probe_sc_path: np.ndarray,
        pkt_bits: float, start: float, end: float, capacity_bps: np.ndarray,
    ) -> Scenario:
        """Columns of the window's Scenario: demand paths then probe-only paths; demand flows then probe flows;
        the links at ``capacity_bps``."""
        m = self.model
        lens = np.diff(routing.path_ptr)[extra]
        starts = routing.path_ptr[extra]
        idx = np.repeat(starts - np.cumsum(lens) + lens, lens) + np.arange(int(lens.sum()))
        path_ptr = np.concatenate([rf.path_ptr, rf.path_ptr[-1] + np.cumsum(lens)]).astype(np.int64)
        f = rf.flow_path.size
        probe = probe_flow_columns(m.probe_rate_pps[need], m.probe_size_bits[need], m.probe_class[need])
        sizes = np.full((f, MAX_SIZES), np.nan)
        sizes[:, 0] = pkt_bits
        probs = np.zeros((f, MAX_SIZES))
        probs[:, 0] = 1.0
        return Scenario(
            **{**m.scenario_fields(), "link_capacity_bps": np.array(capacity_bps, dtype=np.float64)},
            path_src=np.concatenate([rf.path_src, routing.path_src[extra]]),
            path_dst=np.concatenate([rf.path_dst, routing.path_dst[extra]]),
            path_ptr=path_ptr,
            path_links=np.concatenate([rf.path_links, routing.path_links[idx]]).astype(np.int64),
            flow_path=np.concatenate([rf.flow_path, probe_sc_path[need]]),
            flow_rate_bps=np.concatenate([rf.flow_rate_bps, probe["flow_rate_bps"]]),
            flow_pkt_rate=np.concatenate([rf.flow_rate_bps / pkt_bits, probe["flow_pkt_rate"]]),
            flow_time_dist=np.concatenate([np.full(f, int(TimeDist.POISSON), np.int8), probe["flow_time_dist"]]),
            flow_on_s=np.concatenate([np.full(f, np.nan), probe["flow_on_s"]]),
            flow_off_s=np.concatenate([np.full(f, np.nan), probe["flow_off_s"]]),
            flow_size_dist=np.concatenate([np.full(f, int(SizeDist.DETERMINISTIC), np.int8),
                                           probe["flow_size_dist"]]),
            flow_sizes_bits=np.concatenate([sizes, probe["flow_sizes_bits"]]),
            flow_size_probs=np.concatenate([probs, probe["flow_size_probs"]]),
            flow_tos=np.concatenate([d.tos[rf.flow_demand].astype(np.int8), probe["flow_tos"]]),
            name=m.name,
            meta={"window_start": float(start), "window_end": float(end), "routing_version": routing.version},
        )

    def _attribute(
        self, mapped: MappedMeasurements, sc: Scenario, probe_sc_path: np.ndarray
    ) -> tuple[dict[str, np.ndarray], int, int]:
        """Observed path KPIs on scenario paths: a probe's path, else the pair's only path; counts."""
        m = self.model
        n, p = m.n_nodes, sc.n_paths
        out = {kpi: np.full(p, np.nan) for kpi in PATH_OBSERVED_KPIS}
        okeys = mapped.pair_src * n + mapped.pair_dst  # sorted (np.unique order)
        if okeys.size == 0:
            return out, 0, 0
        # pairs measured by a probe of the model: the probe's path
        pkeys = m.probe_src * n + m.probe_dst
        pos = np.clip(np.searchsorted(okeys, pkeys), 0, okeys.size - 1)
        hit = (okeys[pos] == pkeys) & (probe_sc_path >= 0)
        explained = np.zeros(okeys.size, dtype=bool)
        explained[pos[hit]] = True
        # other observed pairs: the pair's path when it has exactly one
        skeys = sc.path_src * n + sc.path_dst
        order = np.argsort(skeys, kind="stable")
        lo = np.searchsorted(skeys[order], okeys, side="left")
        hi = np.searchsorted(skeys[order], okeys, side="right")
        single = ~explained & (hi - lo == 1)
        for kpi, vals in mapped.pair_mean.items():
            out[kpi][probe_sc_path[hit]] = vals[pos[hit]]
            out[kpi][order[lo[single]]] = vals[single]
        probes_observed = int(hit.sum())
        return out, probes_observed, int((~explained & ~single).sum())


def build_snapshot(
    model: NetworkModel,
    window_start: float,
    window_end: float,
    measurements: Measurements | Mapping[str, Any] | Any,
    flows: Mapping[str, Any] | None = None,
    link_up: np.ndarray | None = None,
    **options: Any,
) -> WindowSnapshot:
    """One-off :meth:`SnapshotBuilder.build` (routing not cached across calls).

    ``options`` go to :class:`SnapshotBuilder` (``split``, ``max_paths``,
    ``explicit``, ``expected_link_kpis``, ``pkt_size_bits``, ``infer_link_state``,
    ``link_state_rule``, ``link_state_min_down_s``, ``link_state_hold_s``, ``prior_floor``,
    ``flow_matrix``, ``matrix_classes``) or to
    :meth:`SnapshotBuilder.build` (``traffic``, ``links_down``,
    ``flow_exporters``, ``bytes_scaled``). A service keeps one builder per
    network instead, so that routing is computed once per link state.
    """
    builder_keys = {"split", "max_paths", "explicit", "expected_link_kpis", "pkt_size_bits", "cache_size",
                    "infer_link_state", "link_state_rule", "link_state_min_down_s", "link_state_hold_s",
                    "prior_floor", "flow_matrix", "matrix_classes"}
    builder = SnapshotBuilder(model, **{k: v for k, v in options.items() if k in builder_keys})
    rest = {k: v for k, v in options.items() if k not in builder_keys}
    return builder.build(window_start, window_end, measurements, flows=flows, link_up=link_up, **rest)
