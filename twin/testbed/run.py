"""Run the network under test: traffic, faults, packet-level truth and collector telemetry, window by window.

:func:`run_testbed` plays a network (a :class:`~twin.netmodel.NetworkModel`)
for a duration, one window at a time:

1. the window's traffic matrix (:class:`~twin.testbed.traffic.GravityTraffic`:
   gravity, the Abilene-fitted diurnal/weekly shape, per-pair noise, surges);
2. the faults active in the window change the *true* network (capacity, link
   state, IGP metric, buffers, silent loss, flow export) while the model file
   the operator has keeps the old values;
3. the true network is routed (IGP + ECMP, :mod:`twinwatch.twin.routing`) and simulated
   at packet level (:mod:`twinwatch.twin.testbed.truth`): per (src, dst, ToS) delay,
   jitter and loss, per link carried traffic and drops; a queue offered more than
   its scheduler serves (overload) is taken from a fluid model over the whole
   window instead (:mod:`twinwatch.twin.testbed.overload`), its backlog carried
   from one window to the next;
4. the devices' cumulative counters advance (:mod:`twinwatch.twin.testbed.counters`)
   and are emitted as the collectors would emit them (:mod:`twinwatch.twin.testbed.emit`):
   gnmic events (every device but the legacy ones), Telegraf IF-MIB line
   protocol with 32-bit counters that wrap (the legacy devices), goflow2
   records sampled 1:N at each ingress router, probe results per probed pair;
   benign events (counter clears, reboots, gaps, late batches) act on the
   telemetry only; a small labelled fraction of messages is corrupted.

Outputs in ``out_dir``: ``topics/<topic>.jsonl`` (one message value per line,
the bytes a Kafka consumer would get), ``network.yaml`` (the model as the
operator has it), ``labels.jsonl`` (faults and benign events),
``malformed.jsonl`` (which lines were corrupted and how), ``truth/paths.parquet``
and ``truth/links.parquet`` (per-window ground truth) and ``manifest.json``.
Same seed, same bytes.
"""

from __future__ import annotations

import ipaddress
import json
import os
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pyarrow as pa
import pyarrow.parquet as pq

from twinwatch.twin.netmodel import NetworkModel
from twinwatch.twin.netmodel.dump import dump_network_model
from twinwatch.twin.probes import own_packet_shift_s
from twinwatch.twin.scenario import MAX_QUEUES, Scenario
from twinwatch.twin.sim.engine import SimResult
from twinwatch.twin.snapshot import SnapshotBuilder, WindowSnapshot
from twinwatch.twin.testbed.counters import PortCounters
from twinwatch.twin.testbed.emit import (
    GNMIC_COUNTERS,
    gnmic_events,
    gnmic_igp_metric_events,
    goflow2_records,
    influx_lines,
    probe_results,
)
from twinwatch.twin.testbed.faults import Fault, dump_labels
from twinwatch.twin.testbed.traffic import GravityTraffic, Surge
from twinwatch.twin.testbed.truth import WindowTruth, simulate_window, window_truth
from twinwatch.twin.traffic_matrix import TrafficMatrix

__all__ = ["TOPICS", "TestbedConfig", "TestbedSummary", "mean_utilisation", "run_testbed"]

TOPICS = {"gnmic": "twinwatch.raw.gnmic", "influx": "twinwatch.raw.influx", "goflow2": "twinwatch.raw.goflow2",
          "probe": "twinwatch.raw.probe"}
"""Collector format → the default raw topic it is written to."""

MONDAY_2026_01_05 = 1_767_571_200.0
"""Default run start: Monday 2026-01-05 00:00:00 UTC (the diurnal shape is in UTC)."""


@dataclass(frozen=True)
class TestbedConfig:
    __test__ = False  # not a pytest test class

    """How the network under test runs (times in seconds).

    ``load`` sets the traffic volume: the busiest link's utilisation at the
    weekly mean (the diurnal peak is about 1.4 × that). ``report_speed``: the
    counter rows also carry each port's true speed (Mb/s, its link's capacity
    with the faults of the window: OpenConfig ``lag-speed``, IF-MIB
    ``ifHighSpeed``), as a collector subscribed to it reports it; off, a
    capacity degradation shows only in what it does to the traffic.
    ``report_igp_metric``: each gnmic router also reports its interfaces'
    IS-IS metric (the metric it routes with, faults included) as an
    on-change subscription does: at the start, in the window it changes,
    and every ``igp_heartbeat_s``; off, a metric change shows only in
    what it does to the traffic. Neither draws a random number.
    """

    duration_s: float = 3600.0
    window_s: float = 10.0
    sample_interval_s: float | None = None
    seed: int = 0
    start_epoch_s: float = MONDAY_2026_01_05
    load: float = 0.45
    tos_share: tuple[float, ...] = (0.1, 0.3, 0.6)
    packets_per_window: int = 20_000
    flow_sampling_rate: int = 1000
    max_flow_records: int = 20_000
    flow_export_s: float = 60.0
    max_flow_records_per_pair: int = 2
    counter32_devices: int = 1
    malformed_fraction: float = 0.001
    clock_skew_s: float = 0.2
    sample_jitter_s: float = 0.05
    workers: int = 1
    report_speed: bool = False
    report_igp_metric: bool = False
    igp_heartbeat_s: float = 60.0

    def __post_init__(self) -> None:
        checks = {
            "duration_s": self.duration_s > 0, "window_s": self.window_s > 0,
            "sample_interval_s": self.sample_interval_s is None or 0 < self.sample_interval_s <= self.window_s,
            "load": 0 < self.load < 2, "packets_per_window": self.packets_per_window >= 1000,
            "flow_sampling_rate": self.flow_sampling_rate >= 1, "max_flow_records": self.max_flow_records >= 1,
            "flow_export_s": self.flow_export_s >= self.window_s, "counter32_devices": self.counter32_devices >= 0,
            "malformed_fraction": 0 <= self.malformed_fraction < 0.5, "workers": self.workers >= 1,
            "clock_skew_s": self.clock_skew_s >= 0, "sample_jitter_s": self.sample_jitter_s >= 0,
            "igp_heartbeat_s": self.igp_heartbeat_s > 0,
        }
        bad = [k for k, ok in checks.items() if not ok]
        if bad:
            raise ValueError(f"testbed config: invalid {', '.join(bad)} ({ {k: getattr(self, k) for k in bad} })")

    @property
    def n_windows(self) -> int:
        return int(np.ceil(self.duration_s / self.window_s))

    @property
    def interval_s(self) -> float:
        return self.sample_interval_s or self.window_s


@dataclass
class TestbedSummary:
    """What a run wrote: counts per topic, malformed lines, windows, faults."""

    windows: int = 0
    messages: dict[str, int] = field(default_factory=dict)
    malformed: dict[str, int] = field(default_factory=dict)
    faults: int = 0
    benign: int = 0
    unrouted_windows: int = 0


# ----------------------------------------------------------------------------- the true network
def _cable_mate(model: NetworkModel) -> np.ndarray:
    """``(E,)`` the opposite direction of each link (itself when one-way)."""
    idx = model.link_index
    return np.array([idx.get(f"{model.node_names[d]}->{model.node_names[s]}", i)
                     for i, (s, d) in enumerate(zip(model.link_src, model.link_dst))], dtype=np.int64)


@dataclass
class _TrueState:
    up: np.ndarray
    capacity_factor: np.ndarray
    buffer_factor: np.ndarray  # per node
    grey_loss: np.ndarray
    metric_factor: np.ndarray
    unexporting: np.ndarray  # per node


def _true_state(model: NetworkModel, faults: list[Fault], mate: np.ndarray) -> _TrueState:
    e, n = model.n_links, model.n_nodes
    st = _TrueState(np.ones(e, bool), np.ones(e), np.ones(n), np.zeros(e), np.ones(e), np.zeros(n, bool))
    for f in faults:
        if f.entity_kind == "link":
            ls = model.link_numbers(f.entities)
            both = np.unique(np.concatenate([ls, mate[ls]]))
            if f.kind == "link_down":
                st.up[both] = False
            elif f.kind == "capacity_degradation":
                st.capacity_factor[both] *= f.magnitude
            elif f.kind == "grey_loss":
                st.grey_loss[ls] = 1 - (1 - st.grey_loss[ls]) * (1 - f.magnitude)
            elif f.kind == "metric_change":
                st.metric_factor[ls] *= f.magnitude
            elif f.kind == "queue_change":
                st.buffer_factor[model.link_src[ls]] *= f.magnitude
        elif f.kind == "unmonitored_traffic":
            st.unexporting[model.node_numbers(f.entities)] = True
    return st


def _with_metrics(model: NetworkModel, factor: np.ndarray) -> NetworkModel:
    """A copy of ``model`` whose directed links' IGP metrics are multiplied by ``factor``."""
    links = list(model.links)
    for e in np.flatnonzero(factor != 1.0):
        spec = links[int(model.link_entry[e])]
        new_metric = max(1, round(float(model.link_metric[e]) * float(factor[e])))
        if model.node_names[int(model.link_src[e])] == spec.a.device:
            links[int(model.link_entry[e])] = replace(spec, a=replace(spec.a, metric=new_metric))
        else:
            links[int(model.link_entry[e])] = replace(spec, b=replace(spec.b, metric=new_metric))
    return replace(model, links=tuple(links), warnings=[])


def _true_scenario(snap: WindowSnapshot, model: NetworkModel, st: _TrueState) -> Scenario:
    sc = snap.scenario
    cap = model.link_capacity_bps * st.capacity_factor
    qp = sc.node_queue_pkts * st.buffer_factor[:, None]
    bb = sc.node_buffer_bits * st.buffer_factor
    return replace(sc, link_capacity_bps=cap, node_queue_pkts=np.maximum(qp, 1.0), node_buffer_bits=bb)


# ----------------------------------------------------------------------------- telemetry tables
@dataclass
class _Ports:
    device: np.ndarray  # (P,) node number
    name: np.ndarray  # (P,) interface name
    link_tx: np.ndarray  # (E,)
    link_rx: np.ndarray  # (E,)


def _ports(model: NetworkModel) -> _Ports:
    table: dict[tuple[int, str], int] = {}
    tx, rx = [], []
    for e in range(model.n_links):
        for end, node, ifname in ((tx, model.link_src[e], model.link_src_interface[e]),
                                  (rx, model.link_dst[e], model.link_dst_interface[e])):
            end.append(table.setdefault((int(node), str(ifname)), len(table)))
    keys = list(table)
    return _Ports(np.array([k[0] for k in keys], dtype=np.int64), np.array([k[1] for k in keys]),
                  np.array(tx, dtype=np.int64), np.array(rx, dtype=np.int64))


def _host_addresses(model: NetworkModel) -> tuple[list[int], list[int]]:
    """Per node, the first IPv4 customer prefix as (network address as int, host count)."""
    base, size = [], []
    for i, d in enumerate(model.devices):
        nets = [ipaddress.ip_network(p, strict=False) for p in d.prefixes]
        v4 = [x for x in nets if x.version == 4]
        net = v4[0] if v4 else ipaddress.ip_network(f"10.{i % 256}.{i // 256}.0/24")
        base.append(int(net.network_address))
        size.append(max(int(net.num_addresses) - 2, 1))
    return base, size


def _class_dscp(model: NetworkModel) -> np.ndarray:
    """``(Q,)`` a DSCP value for each ToS class (its first listed code point)."""
    out = np.zeros(MAX_QUEUES, dtype=np.int64)
    seen = set()
    for c in model.tos_classes:
        if c.class_id not in seen and c.dscp:
            out[c.class_id] = c.dscp[0]
            seen.add(c.class_id)
    for q in range(MAX_QUEUES):
        if q not in seen:
            hits = np.flatnonzero(model.dscp_class == q)
            out[q] = int(hits[0]) if hits.size else 0
    return out


def _corrupt(msg: bytes, rng: np.random.Generator) -> tuple[bytes, str]:
    """``msg`` made malformed, and how. Every kind changes the bytes (a message without double quotes,
    e.g. Influx line protocol of integer fields, gets ``garbage`` instead of ``bad_quotes``: quotes
    swapped on it would leave a valid message labelled malformed)."""
    how = int(rng.integers(4))
    if how == 3 and b'"' not in msg:
        how = 2
    if how == 0:
        return msg[: max(1, int(rng.integers(1, max(2, len(msg)))))], "truncated"
    if how == 1:
        pos = int(rng.integers(len(msg)))
        return msg[:pos] + b"\xff\xfe" + msg[pos:], "invalid_utf8"
    if how == 2:
        return b"\x00" + msg[::-1], "garbage"
    return msg.replace(b'"', b"'", 3), "bad_quotes"


class _TopicWriter:
    """Appends messages to ``topics/<topic>.jsonl``, corrupting a labelled fraction."""

    def __init__(self, out: Path, fraction: float, rng: np.random.Generator) -> None:
        self.dir = out / "topics"
        self.dir.mkdir(parents=True, exist_ok=True)
        self.fraction = fraction
        self.rng = rng
        self.files: dict[str, Any] = {}
        self.count: dict[str, int] = {}
        self.bad: dict[str, int] = {}
        self.log = open(out / "malformed.jsonl", "wb")  # noqa: SIM115

    def write(self, fmt: str, msgs: list[bytes], corrupt: bool = True) -> None:
        """Append ``msgs`` to ``fmt``'s topic; ``corrupt`` False: none of them is corrupted, and no random number
        is drawn (a run with them is the run without them, plus them)."""
        if not msgs:
            return
        topic = TOPICS[fmt]
        fh = self.files.get(topic)
        if fh is None:
            fh = self.files[topic] = open(self.dir / f"{topic}.jsonl", "wb")  # noqa: SIM115
        n0 = self.count.get(topic, 0)
        hits = np.flatnonzero(self.rng.random(len(msgs)) < self.fraction) if self.fraction > 0 and corrupt else []
        for i in hits:
            msgs[i], how = _corrupt(msgs[i], self.rng)
            self.log.write(orjson.dumps({"topic": topic, "line": n0 + int(i) + 1, "how": how}) + b"\n")
            self.bad[topic] = self.bad.get(topic, 0) + 1
        fh.write(b"\n".join(m.replace(b"\n", b" ") for m in msgs) + b"\n")
        self.count[topic] = n0 + len(msgs)

    def close(self) -> None:
        for fh in self.files.values():
            fh.close()
        self.log.close()


# ----------------------------------------------------------------------------- truth tables
_PATH_COLS = ("window_start", "src", "dst", "tos", "offered_bps", "delay_s", "jitter_s2", "loss_ratio", "delay_ci_s",
              "packets", "method", "jitter_ci_s2")
_LINK_COLS = ("window_start", "link", "utilization", "tx_bps", "rx_bps", "drop_pps", "queue_occupancy",
              "loss_ratio", "up", "true_capacity_bps")


class _TruthWriter:
    def __init__(self, out: Path, model: NetworkModel, rows_per_group: int = 200_000) -> None:
        (out / "truth").mkdir(parents=True, exist_ok=True)
        self.model = model
        self.paths: dict[str, list[np.ndarray]] = {c: [] for c in _PATH_COLS}
        self.links: dict[str, list[np.ndarray]] = {c: [] for c in _LINK_COLS}
        self.rows = rows_per_group
        self.pw = pq.ParquetWriter(out / "truth" / "paths.parquet", self._path_schema())
        self.lw = pq.ParquetWriter(out / "truth" / "links.parquet", self._link_schema())
        self._np = 0
        self._nl = 0

    @staticmethod
    def _path_schema() -> pa.Schema:
        return pa.schema([("window_start", pa.float64()), ("src", pa.string()), ("dst", pa.string()),
                          ("tos", pa.int8()), ("offered_bps", pa.float64()), ("delay_s", pa.float64()),
                          ("jitter_s2", pa.float64()),
                          ("loss_ratio", pa.float64()), ("delay_ci_s", pa.float64()), ("packets", pa.float64()),
                          ("method", pa.int8()), ("jitter_ci_s2", pa.float64())])

    @staticmethod
    def _link_schema() -> pa.Schema:
        return pa.schema([("window_start", pa.float64()), ("link", pa.string()), ("utilization", pa.float64()),
                          ("tx_bps", pa.float64()), ("rx_bps", pa.float64()), ("drop_pps", pa.float64()),
                          ("queue_occupancy", pa.float64()), ("loss_ratio", pa.float64()), ("up", pa.bool_()),
                          ("true_capacity_bps", pa.float64())])

    def add(self, t: float, truth: WindowTruth, up: np.ndarray, cap: np.ndarray) -> None:
        names = np.asarray(self.model.node_names)
        d = truth.pair_src.size
        for c, v in zip(_PATH_COLS, (np.full(d, t), names[truth.pair_src], names[truth.pair_dst],
                                     truth.pair_tos.astype(np.int8), truth.pair_offered_bps, truth.pair_delay_s,
                                     truth.pair_jitter_s2,
                                     truth.pair_loss_ratio, truth.pair_delay_ci_s, truth.pair_packets,
                                     truth.pair_method, truth.pair_jitter_ci_s2)):
            self.paths[c].append(v)
        e = up.size
        for c, v in zip(_LINK_COLS, (np.full(e, t), np.asarray(self.model.link_ids), truth.link_utilization,
                                     truth.link_tx_bps, truth.link_rx_bps, truth.link_drop_pps,
                                     truth.link_queue_occupancy, truth.link_loss_ratio, up, cap)):
            self.links[c].append(v)
        self._np += d
        self._nl += e
        if self._np >= self.rows:
            self._flush()

    def _flush(self) -> None:
        if self._np:
            self.pw.write_table(pa.table({c: np.concatenate(v) for c, v in self.paths.items()},
                                         schema=self._path_schema()))
            self.lw.write_table(pa.table({c: np.concatenate(v) for c, v in self.links.items()},
                                         schema=self._link_schema()))
        for store in (self.paths, self.links):
            for v in store.values():
                v.clear()
        self._np = self._nl = 0

    def close(self) -> None:
        self._flush()
        self.pw.close()
        self.lw.close()


# ----------------------------------------------------------------------------- the run
def _sim_job(args: tuple[Scenario, int, int]) -> SimResult:
    sc, seed, packets = args
    return simulate_window(sc, seed, packets)


def _unit_utilisation(builder: SnapshotBuilder, gravity: np.ndarray) -> np.ndarray:
    """``(E,)`` link utilisation when the noise-free gravity shares carry 1 bit/s in total."""
    rate = np.zeros((MAX_QUEUES, *gravity.shape))
    rate[0] = gravity
    unit = TrafficMatrix.build(rate, start=0.0, end=1.0)
    sc = builder.build(0.0, 1.0, {"entity_kind": [], "entity_id": [], "kpi": [], "value": []}, traffic=unit).scenario
    return sc.link_load_bps() / sc.link_capacity_bps


def mean_utilisation(model: NetworkModel, config: TestbedConfig) -> np.ndarray:
    """``(E,)`` each link's utilisation at the weekly mean traffic of a run with ``config`` (no noise, no faults)."""
    degree = np.bincount(model.link_src, minlength=model.n_nodes).astype(np.float64)
    gen = GravityTraffic(node_weight=np.maximum(degree, 1.0), mean_total_bps=1.0, tos_share=config.tos_share,
                         seed=config.seed)
    util = _unit_utilisation(SnapshotBuilder(model), gen.gravity)
    return util * config.load / float(util.max())


def diurnal_peaks(cfg: TestbedConfig, peak_hour: float, plan: list[Fault]) -> list[Fault]:
    """Benign ``diurnal_peak`` labels: the busiest hour of each day of the run, where no fault is active.

    Load alone must not raise a network-fault alert; a peak hour that overlaps
    a fault is left unlabelled (the fault's own label covers it).
    """
    out = []
    day0 = cfg.start_epoch_s - cfg.start_epoch_s % 86400.0  # UTC midnight of the first day
    for d in range(int(np.ceil(cfg.duration_s / 86400.0)) + 1):
        lo = day0 + d * 86400.0 + (peak_hour - 0.5) * 3600.0 - cfg.start_epoch_s
        hi = lo + 3600.0
        lo, hi = max(lo, 0.0), min(hi, cfg.duration_s)
        lo, hi = np.ceil(lo / cfg.window_s) * cfg.window_s, np.floor(hi / cfg.window_s) * cfg.window_s
        if hi - lo < cfg.window_s or any(f.start_s < hi and lo < f.end_s for f in plan):
            continue
        out.append(Fault(kind="diurnal_peak", start_s=float(lo), end_s=float(hi), entities=()))
    return out


def run_testbed(
    model: NetworkModel,
    plan: list[Fault],
    out_dir: str | os.PathLike[str],
    config: TestbedConfig,
    *,
    progress: Callable[[int, int], None] | None = None,
    produce: Callable[[str, list[bytes]], None] | None = None,
) -> TestbedSummary:
    """Play ``model`` with the faults of ``plan`` and write the outputs to ``out_dir`` (see the module docstring).

    ``progress(done, total)`` is called after each window; ``produce(topic,
    messages)`` also receives every window's messages (e.g. a Kafka producer).
    """
    cfg = config
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(cfg.seed)
    mate = _cable_mate(model)
    ports = _ports(model)
    degree = np.bincount(model.link_src, minlength=model.n_nodes).astype(np.float64)
    surges = [Surge(dst=int(model.node_index[f.entities[0]]), start_s=f.start_s, end_s=f.end_s, factor=f.magnitude)
              for f in plan if f.kind == "traffic_surge"]
    gen = GravityTraffic(node_weight=np.maximum(degree, 1.0), mean_total_bps=1.0, tos_share=cfg.tos_share,
                         seed=cfg.seed, surges=surges)
    builder_cache: dict[bytes, SnapshotBuilder] = {}

    def builder(metric_factor: np.ndarray) -> SnapshotBuilder:
        key = metric_factor.tobytes()
        if key not in builder_cache:
            builder_cache[key] = SnapshotBuilder(_with_metrics(model, metric_factor))
        return builder_cache[key]

    volume = cfg.load / float(_unit_utilisation(builder(np.ones(model.n_links)), gen.gravity).max())
    gen = GravityTraffic(node_weight=np.maximum(degree, 1.0), mean_total_bps=volume, tos_share=cfg.tos_share,
                         seed=cfg.seed, surges=surges)

    dump_network_model(model, out / "network.yaml")
    summary = TestbedSummary(faults=sum(not f.benign for f in plan), benign=sum(f.benign for f in plan))
    peaks = diurnal_peaks(cfg, gen.shape.peak_hour, plan)
    summary.benign += len(peaks)
    dump_labels(sorted([*plan, *peaks], key=lambda f: f.start_s), out / "labels.jsonl", t0_s=cfg.start_epoch_s)
    counters = PortCounters(len(ports.device), ports.link_tx, ports.link_rx,
                            start=rng.integers(10**9, 10**12, size=len(ports.device)).astype(np.float64))
    legacy = np.zeros(model.n_nodes, dtype=bool)
    if cfg.counter32_devices:
        # SNMP Counter32 devices: the ones whose fastest port is slowest, where a 32-bit octet counter wraps at
        # most once per sample (at 1 Gb/s every 34 s). Where even that port is fast (every UniC port is 10 Gb/s:
        # 2**32 B every 3.4 s) the counters are ambiguous, as an operator's legacy poller's are, and the adapters
        # count them as counter32_ambiguous (RFC 2863, section 3.1.6: such ports need the ifHC* counters)
        fastest = np.zeros(model.n_nodes)
        np.maximum.at(fastest, model.link_src, model.link_capacity_bps)
        np.maximum.at(fastest, model.link_dst, model.link_capacity_bps)
        legacy[np.argsort(fastest, kind="stable")[: cfg.counter32_devices]] = True
    skew = rng.uniform(-cfg.clock_skew_s, cfg.clock_skew_s, size=model.n_nodes)
    hosts = _host_addresses(model)
    dscp = _class_dscp(model)
    loopback = [d.loopback_ipv4 or f"192.0.2.{i % 250 + 1}" for i, d in enumerate(model.devices)]
    names = np.asarray(model.node_names)
    writer = _TopicWriter(out, cfg.malformed_fraction, np.random.default_rng(cfg.seed + 1))
    truth_writer = _TruthWriter(out, model)
    held: dict[int, list[tuple[str, list[bytes], bool]]] = {}  # late batches: release window -> messages
    flows = _FlowExporter(cfg, model.n_nodes)
    igp = _IgpReporter(cfg, model.n_links) if cfg.report_igp_metric else None

    def emit(fmt: str, msgs: list[bytes], corrupt: bool = True) -> None:
        writer.write(fmt, msgs, corrupt)
        if produce is not None:
            produce(TOPICS[fmt], msgs)

    backlog = np.zeros((model.n_links, MAX_QUEUES))  # fluid backlog carried between windows (overloaded queues)
    pool = ProcessPoolExecutor(max_workers=cfg.workers) if cfg.workers > 1 else None
    chunk = 4 * cfg.workers if pool else 1
    try:
        w = 0
        total = cfg.n_windows
        while w < total:
            batch = []
            for k in range(w, min(total, w + chunk)):
                t = k * cfg.window_s
                active = [f for f in plan if f.active(t)]
                st = _true_state(model, active, mate)
                tm = gen.matrix(t, cfg.window_s).transpose(2, 0, 1)
                traffic = TrafficMatrix.build(tm, start=cfg.start_epoch_s + t, end=cfg.start_epoch_s + t + cfg.window_s)
                snap = builder(st.metric_factor).build(cfg.start_epoch_s + t, cfg.start_epoch_s + t + cfg.window_s,
                                                       {"entity_kind": [], "entity_id": [], "kpi": [], "value": []},
                                                       traffic=traffic, link_up=st.up)
                batch.append((k, t, active, st, snap, _true_scenario(snap, model, st)))
            jobs = [(sc, cfg.seed * 1_000_003 + k, cfg.packets_per_window) for k, _, _, _, _, sc in batch]
            results = list(pool.map(_sim_job, jobs)) if pool else [_sim_job(j) for j in jobs]
            for (k, t, active, st, snap, sc), res in zip(batch, results):
                truth = window_truth(sc, res, flow_probe=snap.flow_probe, n_probes=model.n_probes,
                                     grey_loss=st.grey_loss, window_s=cfg.window_s, backlog_bits=backlog)
                backlog = truth.link_backlog_bits
                if snap.unrouted_bps > 0:
                    summary.unrouted_windows += 1
                truth_writer.add(cfg.start_epoch_s + t, truth, st.up, sc.link_capacity_bps)
                _emit_window(k, t, cfg, model, active, st, snap, sc, truth, counters, ports, legacy, skew, hosts,
                             dscp, loopback, names, rng, held, emit, flows,
                             None if igp is None else igp.due(k, builder(st.metric_factor).link_metric))
                summary.windows += 1
                if progress is not None:
                    progress(summary.windows, total)
            w += len(batch)
        for k in sorted(held):
            for fmt, msgs, corrupt in held.pop(k):
                emit(fmt, msgs, corrupt)
    finally:
        if pool is not None:
            pool.shutdown()
        writer.close()
        truth_writer.close()
    summary.messages = dict(writer.count)
    summary.malformed = dict(writer.bad)
    manifest = {"network": model.name, "config": asdict(cfg), "topics": TOPICS, "summary": asdict(summary),
                "start_epoch_s": cfg.start_epoch_s, "windows": summary.windows,
                "legacy_counter32_devices": [str(x) for x in names[legacy]]}
    (out / "manifest.json").write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    return summary


def _emit_window(
    k: int, t: float, cfg: TestbedConfig, model: NetworkModel, active: list[Fault], st: _TrueState,
    snap: WindowSnapshot, sc: Scenario, truth: WindowTruth, counters: PortCounters, ports: _Ports,
    legacy: np.ndarray, skew: np.ndarray, hosts: tuple[list[int], list[int]], dscp: np.ndarray,
    loopback: list[str], names: np.ndarray, rng: np.random.Generator,
    held: dict[int, list[tuple[str, list[bytes], bool]]], emit: Callable[..., None],
    flows: _FlowExporter, igp_due: tuple[np.ndarray, np.ndarray] | None = None,
) -> None:
    """Advance the counters over window ``k`` and emit its telemetry (``igp_due``: the links whose source router
    reports its IGP metric in this window, and the ``(E,)`` metrics, :meth:`_IgpReporter.due`)."""
    t_abs = cfg.start_epoch_s + t
    counters.advance(window_s=cfg.window_s, tx_bps=truth.link_tx_bps, tx_pps=truth.link_tx_pps,
                     tx_drop_pps=truth.link_drop_pps, rx_bps=truth.link_rx_bps, rx_pps=truth.link_rx_pps)
    silent = np.zeros(model.n_nodes, dtype=bool)
    late = np.zeros(model.n_nodes, dtype=bool)
    for f in active:
        if f.kind == "telemetry_gap":
            silent[model.node_numbers(f.entities)] = True
        elif f.kind == "late_batch":
            late[model.node_numbers(f.entities)] = True
    for f in active:  # clears happen at the event's first window, a third of the way in
        if f.start_s == t and f.kind in ("counter_clear", "device_reboot"):
            if f.kind == "counter_clear":
                lnk = model.link_numbers(f.entities)
                hit = np.unique(np.concatenate([ports.link_tx[lnk], ports.link_rx[lnk]]))
            else:
                hit = np.flatnonzero(np.isin(ports.device, model.node_numbers(f.entities)))
            counters.clear(hit, 1.0 / 3.0)
    port_up = np.ones(len(ports.device), dtype=bool)
    port_up[ports.link_tx[~st.up]] = False
    port_up[ports.link_rx[~st.up]] = False
    speed = None
    if cfg.report_speed:  # each port at its egress link's true capacity (both directions of a cable share it)
        speed = np.zeros(len(ports.device), dtype=np.int64)
        speed[ports.link_tx] = np.round(model.link_capacity_bps * st.capacity_factor / 1e6).astype(np.int64)
    n_samples = max(1, round(cfg.window_s / cfg.interval_s))
    gn: dict[bool, list[bytes]] = {False: [], True: []}
    lp: dict[bool, list[bytes]] = {False: [], True: []}
    for s in range(n_samples):
        offset = s * cfg.interval_s + rng.uniform(0.0, cfg.sample_jitter_s, size=len(ports.device))
        frac = offset / cfg.window_s
        values = counters.read(frac)
        dev = ports.device
        ts_ns = np.round((t_abs + offset + skew[dev]) * 1e9).astype(np.int64)
        show = ~silent[dev]
        for is_late in (False, True):
            sel = show & (late[dev] == is_late)
            g = sel & ~legacy[dev]
            if g.any():
                gn[is_late] += gnmic_events(ts_ns[g], names[dev[g]], ports.name[g],
                                            {leaf: values[leaf][g] for leaf in GNMIC_COUNTERS}, oper_up=port_up[g],
                                            speed_mbps=None if speed is None else speed[g])
            lg = sel & legacy[dev]
            if lg.any():
                lp[is_late] += influx_lines(ts_ns[lg], names[dev[lg]], ports.name[lg],
                                            {leaf: values[leaf][lg] for leaf in GNMIC_COUNTERS},
                                            counter32=np.ones(int(lg.sum()), dtype=bool), oper_up=port_up[lg],
                                            speed_mbps=None if speed is None else speed[lg])
    ig: dict[bool, list[bytes]] = {False: [], True: []}
    if igp_due is not None:  # on change, at the window's start by the device's clock (never corrupted: see write)
        links, metric = igp_due
        dev = model.link_src[links]
        heard = ~silent[dev] & ~legacy[dev]
        links, dev = links[heard], dev[heard]
        ts_ns = np.round((t_abs + skew[dev]) * 1e9).astype(np.int64)
        for is_late in (False, True):
            sel = late[dev] == is_late
            if sel.any():
                lk = links[sel]
                ig[is_late] += gnmic_igp_metric_events(ts_ns[sel], names[dev[sel]], ports.name[ports.link_tx[lk]],
                                                       metric[lk])
    emit("gnmic", gn[False], True)
    emit("gnmic", ig[False], False)
    emit("influx", lp[False], True)
    if gn[True] or lp[True] or ig[True]:
        release = k + max(2, round(60.0 / cfg.window_s))
        held.setdefault(release, []).extend([("gnmic", gn[True], True), ("gnmic", ig[True], False),
                                             ("influx", lp[True], True)])
    for fmt, msgs, corrupt in held.pop(k, []):
        emit(fmt, msgs, corrupt)
    flows.add(st, truth)
    if flows.due(t + cfg.window_s):
        emit("goflow2", flows.export(t + cfg.window_s, hosts, dscp, loopback, rng))
    emit("probe", _probe_records(t_abs + cfg.window_s, model, truth, rng,
                                 own_packet_shift_s(sc, snap.probe_path, model.probe_size_bits)))


class _IgpReporter:
    """Which links' IGP metric their source router reports in a window, as an on-change subscription with a
    heartbeat does: every link in the first window, a link whose metric changed in that window, every link each
    ``igp_heartbeat_s``."""

    def __init__(self, cfg: TestbedConfig, n_links: int) -> None:
        self.every = max(1, round(cfg.igp_heartbeat_s / cfg.window_s))
        self.last = np.full(n_links, np.nan)

    def due(self, k: int, metric: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``(links, metric)``: the link numbers reporting in window ``k`` and the ``(E,)`` metrics routed with."""
        changed = (metric != self.last) | (k % self.every == 0)
        self.last = np.asarray(metric, dtype=np.float64).copy()
        return np.flatnonzero(changed), np.asarray(metric)


class _FlowExporter:
    """Accumulates each exporting router's ingress traffic and exports it every ``flow_export_s`` (active timeout).

    Ingress routers sample what enters the network: the offered traffic, before any loss on its path (an
    overloaded link downstream does not change the flow records, only the counters and probes past it).
    """

    def __init__(self, cfg: TestbedConfig, n_nodes: int) -> None:
        self.cfg = cfg
        self.n = n_nodes
        self.bits = np.zeros(n_nodes * n_nodes * MAX_QUEUES)
        self.since = 0.0

    def add(self, st: _TrueState, truth: WindowTruth) -> None:
        keep = ~st.unexporting[truth.pair_src]
        key = (truth.pair_src * self.n + truth.pair_dst) * MAX_QUEUES + truth.pair_tos
        self.bits += np.bincount(key[keep], weights=truth.pair_offered_bps[keep] * self.cfg.window_s,
                                 minlength=self.bits.size)

    def due(self, t_end: float) -> bool:
        return t_end - self.since >= self.cfg.flow_export_s - 1e-9

    def export(self, t_end: float, hosts: tuple[list[int], list[int]], dscp: np.ndarray, loopback: list[str],
               rng: np.random.Generator) -> list[bytes]:
        key = np.flatnonzero(self.bits > 0)
        span = t_end - self.since
        offered = self.bits[key] / span
        tos, pair = key % MAX_QUEUES, key // MAX_QUEUES
        self.bits[:] = 0.0
        start, self.since = self.since, t_end
        if key.size == 0:
            return []
        return _sampled_records(self.cfg.start_epoch_s + start, span, self.cfg, pair // self.n, pair % self.n, tos,
                                offered, hosts, dscp, loopback, rng)


def _sampled_records(t_abs: float, span_s: float, cfg: TestbedConfig, src: np.ndarray, dst: np.ndarray,
                     tos: np.ndarray,
                     offered_bps: np.ndarray, hosts: tuple[list[int], list[int]], dscp: np.ndarray,
                     loopback: list[str], rng: np.random.Generator) -> list[bytes]:
    """goflow2 records for ``(R,)`` triples offering ``offered_bps``: Poisson-sampled packets, Pareto-split."""
    pkt_bits = 8000.0
    n_pkts = offered_bps * span_s / pkt_bits
    # routers on a busy network sample more sparsely: the smallest 1:N (N = 1, 2 or 5 × 10^k, at least the
    # configured rate) that keeps the export under max_flow_records sampled packets' worth of records
    rate = cfg.flow_sampling_rate
    while n_pkts.sum() / rate > cfg.max_flow_records:
        rate = _next_rate(rate)
    sampled = rng.poisson(n_pkts / rate)
    rows = np.flatnonzero(sampled > 0)
    if rows.size == 0:
        return []
    n_rec = np.minimum(sampled[rows], 1 + rng.poisson(1.5, size=rows.size))
    n_rec = np.minimum(n_rec, cfg.max_flow_records_per_pair)
    rec_pair = np.repeat(rows, n_rec)
    # heavy-tailed split of each pair's sampled packets over its records (Pareto weights, alpha 1.2)
    wts = rng.pareto(1.2, size=rec_pair.size) + 1.0
    tot = np.bincount(np.repeat(np.arange(rows.size), n_rec), weights=wts, minlength=rows.size)
    share = wts / np.repeat(tot, n_rec)
    pk = np.maximum(1, np.floor(share * np.repeat(sampled[rows], n_rec))).astype(np.int64)
    base, size = hosts
    b = np.asarray(base, dtype=np.int64)
    z = np.asarray(size, dtype=np.int64)
    s_node, d_node = src[rec_pair], dst[rec_pair]
    s_addr = b[s_node] + 1 + rng.integers(0, 2**31, size=rec_pair.size) % z[s_node]
    d_addr = b[d_node] + 1 + rng.integers(0, 2**31, size=rec_pair.size) % z[d_node]
    t_ns = round((t_abs + span_s) * 1e9)
    m = rec_pair.size
    return goflow2_records(
        np.full(m, t_ns), np.asarray(loopback)[s_node],
        _ipv4_text(s_addr), _ipv4_text(d_addr),
        pk * int(pkt_bits // 8), pk, sampling_rate=np.full(m, rate),
        flow_start_ns=np.full(m, round(t_abs * 1e9)), flow_end_ns=np.full(m, t_ns), dscp=dscp[tos[rec_pair]],
        proto=np.where(rng.random(m) < 0.8, 6, 17), src_port=rng.integers(1024, 65535, size=m),
        dst_port=rng.choice(np.array([443, 80, 53, 8080, 4789]), size=m),
    )


def _next_rate(rate: int) -> int:
    """The next sampling rate of the 1-2-5 series: 1000 → 2000 → 5000 → 10000 …"""
    mag = 10 ** (len(str(rate)) - 1)
    for step in (1, 2, 5, 10):
        if step * mag > rate:
            return step * mag
    return 10 * mag


def _ipv4_text(addr: np.ndarray) -> np.ndarray:
    """``(R,)`` IPv4 addresses (integers) as dotted quads."""
    a = np.asarray(addr, dtype=np.int64)
    return np.array([f"{x >> 24}.{(x >> 16) & 255}.{(x >> 8) & 255}.{x & 255}" for x in a.tolist()])


def _probe_records(t_end: float, model: NetworkModel, truth: WindowTruth, rng: np.random.Generator,
                   own_shift_s: np.ndarray) -> list[bytes]:
    """Each probe's result for the window; ``own_shift_s`` ``(K,)``: what a probe sharing a busy path's truth adds
    for being transmitted at its own size (:func:`~twinwatch.twin.probes.own_packet_shift_s`)."""
    k = model.n_probes
    if k == 0:
        return []
    sent = np.maximum(1, np.round(model.probe_rate_pps * 10.0)).astype(np.int64)
    delay = truth.probe_delay_s.copy()
    jit = truth.probe_jitter_s2.copy()
    loss = truth.probe_loss_ratio.copy()
    # a probe whose path carried demand shares that demand's truth (its own class, else any class): the queues it
    # waited in, transmitted at its own size
    miss = np.flatnonzero(~np.isfinite(delay))
    key = truth.pair_src * model.n_nodes + truth.pair_dst
    for i in miss:
        hit = np.flatnonzero(key == model.probe_src[i] * model.n_nodes + model.probe_dst[i])
        if hit.size:
            j = hit[np.argmax(truth.pair_tos[hit] == model.probe_class[i])]
            delay[i], jit[i], loss[i] = (truth.pair_delay_s[j] + own_shift_s[i], truth.pair_jitter_s2[j],
                                         truth.pair_loss_ratio[j])
    ok = np.isfinite(delay)
    if not ok.any():
        return []
    idx = np.flatnonzero(ok)
    lost = rng.binomial(sent[idx], np.clip(np.nan_to_num(loss[idx]), 0.0, 1.0))
    names = np.asarray(model.node_names)
    return probe_results(np.full(idx.size, t_end), names[model.probe_src[idx]], names[model.probe_dst[idx]],
                         delay[idx], np.nan_to_num(jit[idx]), lost / sent[idx], sent[idx])

