"""The in-memory network model: the file's elements, and the columnar view the twin uses.

:class:`NetworkModel` holds the elements of one network-model file (devices,
link entries, queue profiles, ToS classes, probes) as frozen dataclasses, and
derives once, at construction, the arrays the twin and the routing work on:
node number ↔ device name, directed link number ↔ link id ``"a->b"``, link
endpoints, capacities, propagation delays, IGP metrics, and the per-node
scheduling arrays that :class:`twinwatch.twin.scenario.Scenario` takes. This is the one
place where those mappings live.

Build it with :func:`twinwatch.twin.netmodel.load.model_from_dict` or
:func:`twinwatch.twin.netmodel.load.load_network_model` (which validate); the
constructor trusts its input.

Shapes: ``N`` devices (nodes), ``E`` directed links, ``Q`` =
:data:`twinwatch.twin.scenario.MAX_QUEUES` queues per port, ``K`` probes.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from twinwatch.twin.netmodel.errors import NetworkModelError
from twinwatch.twin.scenario import MAX_QUEUES, Policy
from twinwatch.twin.topology import FIBRE_SPEED_M_S, Topology, great_circle_m

__all__ = [
    "DEFAULT_PROFILE",
    "MAX_METRIC",
    "REFERENCE_BANDWIDTH_BPS",
    "Device",
    "LinkEnd",
    "LinkSpec",
    "NetworkModel",
    "Probe",
    "QueueProfile",
    "ToSClass",
]

REFERENCE_BANDWIDTH_BPS = 100e9
"""Default reference bandwidth of the OSPF-style auto-cost: metric = min(MAX_METRIC, max(1, ⌊ref / capacity⌋))."""

MAX_METRIC = 16_777_215
"""Largest IGP metric (IS-IS wide metrics, 2**24 - 1; OSPF stops at 65535): the auto-cost is capped here."""


@dataclass(frozen=True, slots=True)
class QueueProfile:
    """Output-port scheduling and buffering.

    Parameters
    ----------
    name
        Key under ``queue_profiles``.
    policy
        ``FIFO``, ``SP``, ``WFQ`` or ``DRR``.
    weights
        WFQ/DRR weight per ToS class queue (up to ``Q``; empty otherwise).
    buffer_packets
        Per-queue buffer in packets (one value per queue, or one for all).
    buffer_bytes
        Port buffer in bytes (instead of packets).
    buffer_ms
        Port buffer in milliseconds of the port's line rate (instead of packets).
    """

    name: str
    policy: str = "FIFO"
    weights: tuple[float, ...] = ()
    buffer_packets: tuple[float, ...] = ()
    buffer_bytes: float | None = None
    buffer_ms: float | None = None
    description: str = ""

    def buffer_bits(self, capacity_bps: float) -> float:
        """Port buffer in bits for a port of ``capacity_bps`` (NaN when the buffer is in packets)."""
        if self.buffer_bytes is not None:
            return 8.0 * self.buffer_bytes
        if self.buffer_ms is not None:
            return self.buffer_ms * 1e-3 * capacity_bps
        return math.nan


DEFAULT_PROFILE = QueueProfile("default", "FIFO", buffer_packets=(1000.0,),
                               description="built-in: FIFO, 1000 packets per queue")
"""The profile of ports whose file names none (override it by defining ``default``)."""


@dataclass(frozen=True, slots=True)
class Device:
    """A router or switch: one node of the twin.

    ``hostname`` is the name the device's telemetry reports when it differs
    from ``name``; ``lat``/``lon`` are degrees (NaN when unknown);
    ``loopback_ipv4``/``loopback_ipv6`` are host addresses; ``prefixes`` are
    the customer (and any other) prefixes the device originates, IPv4 or IPv6
    CIDR.
    """

    name: str
    role: str = "core"
    vendor: str = ""
    os: str = ""
    model: str = ""
    hostname: str = ""
    lat: float = math.nan
    lon: float = math.nan
    loopback_ipv4: str = ""
    loopback_ipv6: str = ""
    prefixes: tuple[str, ...] = ()
    queue_profile: str = ""
    description: str = ""


@dataclass(frozen=True, slots=True)
class LinkEnd:
    """One end of a link: the device, its interface, and what is configured on that interface.

    ``metric`` is the IGP metric of the direction *leaving* this end;
    ``queue_profile`` the scheduling of this interface's egress queue.
    """

    device: str
    interface: str
    metric: int | None = None
    queue_profile: str = ""


@dataclass(frozen=True, slots=True)
class LinkSpec:
    """One entry of the file's ``links``: a cable (both directions) or one direction.

    ``capacity_bps`` applies to both directions; ``delay_s`` or ``length_km``
    (→ ``length / 2e8 m/s``) gives the one-way propagation delay; with neither,
    the devices' coordinates do (great circle), else it is 0. ``metric`` is
    the default of both ends' metrics.
    """

    a: LinkEnd
    b: LinkEnd
    capacity_bps: float
    delay_s: float | None = None
    length_km: float | None = None
    metric: int | None = None
    bidirectional: bool = True
    description: str = ""


@dataclass(frozen=True, slots=True)
class ToSClass:
    """DSCP code points that share one queue ``class_id`` (0 = highest SP priority)."""

    name: str
    class_id: int
    dscp: tuple[int, ...] = ()
    default: bool = False


@dataclass(frozen=True, slots=True)
class Probe:
    """An active measurement ``src`` → ``dst``: ``rate_pps`` packets/s of ``size_bytes`` bytes, marked ``dscp``."""

    name: str
    src: str
    dst: str
    rate_pps: float
    size_bytes: int
    dscp: int = 0


@dataclass(eq=False)
class NetworkModel:
    """One network: devices, links, queue profiles, ToS classes, probes; plus the columnar view.

    Attributes (columnar, derived at construction)
    ----------------------------------------------
    node_names
        ``N`` device names; node ``i`` is ``devices[i]``.
    link_ids
        ``E`` directed link ids ``"src->dst"``, in file order (a bidirectional
        entry gives ``a->b`` then ``b->a``).
    link_src, link_dst
        ``(E,)`` int64 node numbers.
    link_capacity_bps, link_prop_delay_s
        ``(E,)`` float64, bits/s and seconds.
    link_metric
        ``(E,)`` int64 IGP metric of each direction (≥ 1).
    link_metric_auto
        ``(E,)`` bool: the metric is the reference-bandwidth cost of the capacity (no metric configured on the
        end, the link or the file), so it follows a capacity change (:meth:`auto_metric`).
    link_entry
        ``(E,)`` int64, index of the ``links`` entry each directed link comes from.
    link_src_interface, link_dst_interface
        ``E`` interface names: the egress port at ``src``, the ingress port at ``dst``.
    link_queue_profile
        ``E`` names of the egress port's queue profile.
    link_buffer_bits
        ``(E,)`` float64 egress buffer in bits (NaN when given in packets).
    node_policy, node_weights, node_queue_pkts, node_buffer_bits
        Scheduling per node, as :class:`twinwatch.twin.scenario.Scenario` takes them:
        ``(N,)`` int8 :class:`~twin.scenario.Policy` codes, ``(N, Q)`` weights
        (NaN unused), ``(N, Q)`` per-queue packets (NaN when in bits),
        ``(N,)`` port buffer bits (NaN when in packets; a buffer in ms of
        line rate uses the node's slowest egress port).
    node_lat, node_lon
        ``(N,)`` degrees, NaN where unknown.
    dscp_class
        ``(64,)`` int8: DSCP → class (unlisted values → the default class).
    probe_src, probe_dst, probe_rate_pps, probe_size_bits, probe_class
        ``(K,)`` arrays of the probes.
    """

    name: str
    devices: tuple[Device, ...]
    links: tuple[LinkSpec, ...]
    queue_profiles: Mapping[str, QueueProfile] = field(default_factory=dict)
    tos_classes: tuple[ToSClass, ...] = ()
    probes: tuple[Probe, ...] = ()
    default_queue_profile: str = ""
    default_metric: int | None = None
    reference_bandwidth_bps: float = REFERENCE_BANDWIDTH_BPS
    description: str = ""
    version: int = 1
    meta: dict[str, Any] = field(default_factory=dict)
    source: str = ""
    warnings: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.devices = tuple(self.devices)
        self.links = tuple(self.links)
        self.tos_classes = tuple(self.tos_classes)
        self.probes = tuple(self.probes)
        self.node_names: list[str] = [d.name for d in self.devices]
        self.node_index: dict[str, int] = {n: i for i, n in enumerate(self.node_names)}
        self._build_links()
        self._build_nodes()
        self._build_tos_and_probes()

    # ------------------------------------------------------------- sizes
    @property
    def n_nodes(self) -> int:
        return len(self.devices)

    @property
    def n_links(self) -> int:
        return len(self.link_ids)

    @property
    def n_probes(self) -> int:
        return len(self.probes)

    def profile(self, name: str) -> QueueProfile:
        """The queue profile called ``name`` (``""`` → the file's default, else the built-in one)."""
        name = name or self.default_queue_profile or "default"
        if name in self.queue_profiles:
            return self.queue_profiles[name]
        if name == "default":
            return DEFAULT_PROFILE
        raise NetworkModelError(self.source or self.name, [("queue_profiles", f"no queue profile {name!r}")])

    # ------------------------------------------------------------ builders
    def _build_links(self) -> None:
        idx = self.node_index
        lat = np.array([d.lat for d in self.devices], dtype=np.float64)
        lon = np.array([d.lon for d in self.devices], dtype=np.float64)
        self.node_lat, self.node_lon = lat, lon
        ids: list[str] = []
        src: list[int] = []
        dst: list[int] = []
        cap: list[float] = []
        delay: list[float] = []
        metric: list[int] = []
        auto: list[bool] = []
        entry: list[int] = []
        sif: list[str] = []
        dif: list[str] = []
        prof: list[str] = []
        for i, ln in enumerate(self.links):
            d = self._entry_delay(ln)
            dirs = [(ln.a, ln.b), (ln.b, ln.a)] if ln.bidirectional else [(ln.a, ln.b)]
            for x, y in dirs:
                ids.append(f"{x.device}->{y.device}")
                src.append(idx[x.device])
                dst.append(idx[y.device])
                cap.append(ln.capacity_bps)
                delay.append(d)
                metric.append(self._metric(x, ln))
                auto.append(x.metric is None and ln.metric is None and self.default_metric is None)
                entry.append(i)
                sif.append(x.interface)
                dif.append(y.interface)
                prof.append(x.queue_profile or self.devices[idx[x.device]].queue_profile or self.default_queue_profile
                            or "default")
        self.link_ids: list[str] = ids
        self.link_index: dict[str, int] = {lid: i for i, lid in enumerate(ids)}
        self.link_src = np.array(src, dtype=np.int64)
        self.link_dst = np.array(dst, dtype=np.int64)
        self.link_capacity_bps = np.array(cap, dtype=np.float64)
        self.link_prop_delay_s = np.array(delay, dtype=np.float64)
        self.link_metric = np.array(metric, dtype=np.int64)
        self.link_metric_auto = np.array(auto, dtype=bool)
        self.link_entry = np.array(entry, dtype=np.int64)
        self.link_src_interface: list[str] = sif
        self.link_dst_interface: list[str] = dif
        self.link_queue_profile: list[str] = prof
        self.link_buffer_bits = np.array(
            [self.profile(p).buffer_bits(c) for p, c in zip(prof, cap)], dtype=np.float64)

    @staticmethod
    def _entry_delay(ln: LinkSpec) -> float:
        """One-way delay (s) of a links entry from ``delay_s`` or ``length_km``; 0 until coordinates say more."""
        if ln.delay_s is not None:
            return float(ln.delay_s)
        if ln.length_km is not None:
            return float(ln.length_km) * 1e3 / FIBRE_SPEED_M_S
        return 0.0  # replaced in _build_nodes when both ends have coordinates

    def _metric(self, end: LinkEnd, ln: LinkSpec) -> int:
        if end.metric is not None:
            return int(end.metric)
        if ln.metric is not None:
            return int(ln.metric)
        if self.default_metric is not None:
            return int(self.default_metric)
        return int(self.auto_metric(ln.capacity_bps))

    def auto_metric(self, capacity_bps: float | np.ndarray) -> int | np.ndarray:
        """The reference-bandwidth cost (OSPF/IS-IS auto-cost) of ``capacity_bps``: ⌊reference / capacity⌋ within
        ``[1, MAX_METRIC]``, what a link without a configured metric gets (:attr:`link_metric_auto`).

        >>> m = NetworkModel("x", (), ())                            # the default reference, 100 Gb/s
        >>> m.auto_metric(10e9), m.auto_metric(np.array([1e9, 400e9])).tolist()
        (10, [100, 1])
        """
        cost = np.clip(np.floor_divide(self.reference_bandwidth_bps, capacity_bps), 1, MAX_METRIC).astype(np.int64)
        return int(cost) if cost.ndim == 0 else cost

    def _build_nodes(self) -> None:
        # links without delay_s / length_km take the great-circle delay between their devices
        geo = np.array([ln.delay_s is None and ln.length_km is None for ln in self.links], dtype=bool)
        if geo.any() and self.n_links:
            use = geo[self.link_entry]
            s, d = self.link_src[use], self.link_dst[use]
            dist = great_circle_m(self.node_lat[s], self.node_lon[s], self.node_lat[d], self.node_lon[d])
            self.link_prop_delay_s[use] = np.where(np.isfinite(dist), dist / FIBRE_SPEED_M_S, 0.0)
        n = self.n_nodes
        self.node_policy = np.zeros(n, dtype=np.int8)
        self.node_weights = np.full((n, MAX_QUEUES), np.nan)
        self.node_queue_pkts = np.full((n, MAX_QUEUES), np.nan)
        self.node_buffer_bits = np.full(n, np.nan)
        slowest = np.full(n, np.inf)
        np.minimum.at(slowest, self.link_src, self.link_capacity_bps)
        for i, dev in enumerate(self.devices):
            p = self.profile(dev.queue_profile)
            self.node_policy[i] = int(Policy[p.policy])
            if p.weights:
                self.node_weights[i, : len(p.weights)] = p.weights
            if p.buffer_packets:
                vals = p.buffer_packets * MAX_QUEUES if len(p.buffer_packets) == 1 else p.buffer_packets
                self.node_queue_pkts[i, : len(vals)] = vals[:MAX_QUEUES]
            elif np.isfinite(slowest[i]) or p.buffer_bytes is not None:
                self.node_buffer_bits[i] = p.buffer_bits(float(slowest[i]))

    def _build_tos_and_probes(self) -> None:
        default = next((c.class_id for c in self.tos_classes if c.default), MAX_QUEUES - 1)
        table = np.full(64, default, dtype=np.int8)
        for c in self.tos_classes:
            table[list(c.dscp)] = c.class_id
        self.dscp_class = table
        self.probe_names: list[str] = [p.name for p in self.probes]
        self.probe_src = np.array([self.node_index[p.src] for p in self.probes], dtype=np.int64)
        self.probe_dst = np.array([self.node_index[p.dst] for p in self.probes], dtype=np.int64)
        self.probe_rate_pps = np.array([p.rate_pps for p in self.probes], dtype=np.float64)
        self.probe_size_bits = np.array([8.0 * p.size_bytes for p in self.probes], dtype=np.float64)
        self.probe_class = table[np.array([p.dscp for p in self.probes], dtype=np.int64)].astype(np.int8)

    # ------------------------------------------------------------- lookups
    def node_numbers(self, names: Iterable[str]) -> np.ndarray:
        """``(n,)`` int64 node numbers of device names; :class:`NetworkModelError` naming unknown ones."""
        names = list(names)
        out = np.array([self.node_index.get(n, -1) for n in names], dtype=np.int64)
        if (out < 0).any():
            bad = [n for n, i in zip(names, out.tolist()) if i < 0]
            raise NetworkModelError(self.source or self.name, [("devices", f"unknown device(s) {bad[:5]}")])
        return out

    def link_numbers(self, ids: Iterable[str]) -> np.ndarray:
        """``(n,)`` int64 link numbers of link ids ``"a->b"``; :class:`NetworkModelError` naming unknown ones.

        With it a set of down links becomes a mask: ``up = np.ones(E, bool); up[m.link_numbers(down)] = False``.
        """
        ids = list(ids)
        out = np.array([self.link_index.get(i, -1) for i in ids], dtype=np.int64)
        if (out < 0).any():
            bad = [i for i, k in zip(ids, out.tolist()) if k < 0]
            raise NetworkModelError(self.source or self.name, [("links", f"unknown link id(s) {bad[:5]}")])
        return out

    def interface_links(self) -> dict[tuple[str, str], tuple[str | None, str | None]]:
        """``(device, interface)`` → ``(link it transmits on, link it receives from)`` (ids or None)."""
        out: dict[tuple[str, str], list[str | None]] = {}
        for lid, s, d, si, di in zip(self.link_ids, self.link_src.tolist(), self.link_dst.tolist(),
                                     self.link_src_interface, self.link_dst_interface):
            out.setdefault((self.node_names[s], si), [None, None])[0] = lid
            out.setdefault((self.node_names[d], di), [None, None])[1] = lid
        return {k: (v[0], v[1]) for k, v in out.items()}

    def device_prefixes(self) -> dict[str, str]:
        """CIDR prefix → device name: customer prefixes and loopbacks (as /32 and /128)."""
        out: dict[str, str] = {}
        for d in self.devices:
            for p in d.prefixes:
                out[p] = d.name
            if d.loopback_ipv4:
                out[f"{d.loopback_ipv4.split('/')[0]}/32"] = d.name
            if d.loopback_ipv6:
                out[f"{d.loopback_ipv6.split('/')[0]}/128"] = d.name
        return out

    # ---------------------------------------------------------- conversions
    def inventory_dict(self) -> dict[str, Any]:
        """The plain-data inventory that ``twinwatch.telemetry_adapters.inventory.Inventory.from_dict`` reads.

        Links carry their id, endpoints, capacity and both interfaces;
        ``devices`` maps a device to its telemetry ``hostname`` where one is
        set; ``prefixes`` holds the customer prefixes and loopbacks.
        """
        links = [
            {"id": lid, "src": self.node_names[s], "dst": self.node_names[d], "capacity_bps": float(c),
             "src_interface": si, "dst_interface": di}
            for lid, s, d, c, si, di in zip(self.link_ids, self.link_src.tolist(), self.link_dst.tolist(),
                                            self.link_capacity_bps.tolist(), self.link_src_interface,
                                            self.link_dst_interface)
        ]
        return {"network": self.name, "devices": {d.name: d.hostname for d in self.devices if d.hostname},
                "links": links, "prefixes": self.device_prefixes()}

    def scenario_fields(self) -> dict[str, Any]:
        """The node and link keyword arguments of :class:`twinwatch.twin.scenario.Scenario` (copies).

        The caller adds routing (``path_*``) and traffic (``flow_*``) for a window.
        """
        return {
            "n_nodes": self.n_nodes,
            "node_policy": self.node_policy.copy(),
            "node_weights": self.node_weights.copy(),
            "node_queue_pkts": self.node_queue_pkts.copy(),
            "node_buffer_bits": self.node_buffer_bits.copy(),
            "link_src": self.link_src.copy(),
            "link_dst": self.link_dst.copy(),
            "link_capacity_bps": self.link_capacity_bps.copy(),
            "link_prop_delay_s": self.link_prop_delay_s.copy(),
        }

    def to_topology(self) -> Topology:
        """The physical part as a :class:`twinwatch.twin.topology.Topology` (for the simulator's scenario generator)."""
        topo = Topology(
            name=self.name,
            node_names=list(self.node_names),
            node_lat=self.node_lat.copy(),
            node_lon=self.node_lon.copy(),
            link_src=self.link_src.copy(),
            link_dst=self.link_dst.copy(),
            link_capacity_bps=self.link_capacity_bps.copy(),
            link_prop_delay_s=self.link_prop_delay_s.copy(),
        )
        topo.meta.update(source=self.source or self.name, link_ids=list(self.link_ids),
                         link_metric=self.link_metric.tolist())
        return topo
