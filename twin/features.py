"""Scenario → tensors for the GNN twin: the path/flow, queue and link graph.

:func:`scenario_graph` turns one :class:`~twin.scenario.Scenario` into a
:class:`GraphArrays` (NumPy, unnormalised): three entity types and the hops
that tie them together.

* **flows** ``F`` — one per traffic flow (a path carries one or more flows);
* **queues** ``Q = 3·E`` — queue ``3·l + k`` is queue ``k`` of the output port
  that feeds link ``l`` (FIFO ports use queue 0 only);
* **links** ``E`` — directed links;
* **hops** ``H`` — flow ``f`` crossing link ``hop_link[h]`` through queue
  ``hop_queue[h]`` at position ``hop_index[h]`` of its path.

Every input feature is *scale-free*: loads are relative to capacity, packet
sizes relative to the mean packet size of the queue they share, buffers in
packets, ON/OFF periods in packets per period. Absolute time only enters
through the physics readout (``occupancy · mean_size / capacity``), so a
model trained in one unit system and capacity range predicts in another.

:func:`collate` concatenates several scenarios into one :class:`GraphBatch`
(PyG-style: index arrays offset by the entity counts of the samples before
them) and applies the normalisation of :class:`FeatureStats`.

Everything is vectorised NumPy; there is no per-path Python loop.

Examples
--------
>>> from twinwatch.twin.scenario import Flow, Scenario
>>> sc = Scenario.build(
...     n_nodes=3,
...     links=[(0, 1, 1e4), (1, 2, 1e4), (1, 0, 1e4), (2, 1, 1e4)],
...     routes={(0, 2): [0, 1, 2], (1, 2): [1, 2]},
...     flows=[Flow(0, 2, 2e3, 1000.0), Flow(1, 2, 1e3, 1000.0)],
... )
>>> g = scenario_graph(sc)
>>> g.n_flows, g.n_queues, g.n_hops
(2, 12, 3)
>>> g.hop_link.tolist(), g.hop_flow.tolist()
([0, 1, 1], [0, 0, 1])
>>> g.link_x[:2, LINK_FEATURES.index("load")].round(2).tolist()
[0.2, 0.3]
>>> b = collate([g, g], FeatureStats.identity())
>>> b.n_flows, b.n_paths, b.hop_queue.max().item()
(4, 4, 15)
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from twinwatch.twin.models._queueing import truncated_geometric
from twinwatch.twin.scenario import MAX_QUEUES, Policy, Scenario, TimeDist

__all__ = [
    "FLOW_FEATURES",
    "HOP_FEATURES",
    "HOP_QT_FEATURES",
    "LINK_FEATURES",
    "QUEUE_FEATURES",
    "FeatureStats",
    "GraphArrays",
    "GraphBatch",
    "collate",
    "mm1k",
    "scenario_graph",
]

_N_TD = len(TimeDist)
FLOW_FEATURES: tuple[str, ...] = (
    *(f"td_{t.name.lower()}" for t in TimeDist),
    *(f"tos_{k}" for k in range(MAX_QUEUES)),
    "duty_cycle",
    "log_pkts_per_on",
    "size_cv2",
    "rel_size",
    "log_hops",
    "max_load",
    "mean_load",
    "log_max_share",
    "log_sum_prior_occ",
)
"""Flow input features (columns of :attr:`GraphArrays.flow_x`)."""

QUEUE_FEATURES: tuple[str, ...] = (
    *(f"pol_{p.name.lower()}" for p in Policy),
    *(f"q_{k}" for k in range(MAX_QUEUES)),
    "weight",
    "log_buffer_pkts",
    "load",
    "load_lower_q",
    "load_higher_q",
    "link_load",
    "log_prior_occ",
    "prior_block",
    "used",
    "size_cv2",
    "onoff_share",
)
"""Queue input features (columns of :attr:`GraphArrays.queue_x`)."""

LINK_FEATURES: tuple[str, ...] = (
    "load",
    "load2",
    *(f"pol_{p.name.lower()}" for p in Policy),
    "log_prior_occ",
    "prior_block",
    "log_prop_rel",
)
"""Link input features (columns of :attr:`GraphArrays.link_x`)."""

HOP_FEATURES: tuple[str, ...] = ("log_share", "rel_size", "hop_frac")
"""Per-hop input features (columns of :attr:`GraphArrays.hop_x`)."""

HOP_QT_FEATURES: tuple[str, ...] = ("log1p_qt_wait_tx", "log1p_qt_var_tx2")
"""Queueing-theory per-hop inputs of the hybrid GNN (columns of :attr:`GraphArrays.hop_qt_x`): the M/G/1/K mean
wait (with a class's slowdown behind other classes) over the flow's own line-rate transmission time and the
transit-time variance over its square, each through ``log1p``."""


def mm1k(rho: np.ndarray, k: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean number in system and blocking probability of an M/M/1/K queue.

    A view of :func:`twinwatch.twin.models._queueing.truncated_geometric` (the number in
    system is ``π_n ∝ ρⁿ`` on ``n = 0..K``).

    Parameters
    ----------
    rho
        Offered load λ/μ (any shape, ≥ 0).
    k
        System capacity in packets (same shape, ≥ 1).

    Returns
    -------
    (occupancy_packets, block_prob), both shaped like ``rho``.

    >>> occ, pb = mm1k(np.array([0.5, 1.0, 2.0]), np.array([10.0, 10.0, 10.0]))
    >>> occ.round(3).tolist(), pb.round(3).tolist()
    ([0.995, 5.0, 9.005], [0.0, 0.091, 0.5])
    """
    rho = np.maximum(np.asarray(rho, dtype=np.float64), 1e-9)
    k = np.maximum(np.asarray(k, dtype=np.float64), 1.0)
    # the number in system is geometric truncated to 0..K: one formula for the whole project
    occ, _, pb = truncated_geometric(rho, k)
    return np.clip(occ, 0.0, k), np.clip(pb, 0.0, 1.0)


@dataclass(eq=False)
class GraphArrays:
    """One scenario as unnormalised arrays (see module docstring for entities).

    Attributes
    ----------
    flow_x, queue_x, link_x, hop_x
        ``(F, |FLOW_FEATURES|)``, ``(Q, |QUEUE_FEATURES|)``, ``(E, |LINK_FEATURES|)``,
        ``(H, |HOP_FEATURES|)`` float32 input features.
    hop_flow, hop_index, hop_queue, hop_link
        ``(H,)`` int64; hops are grouped by flow, in path order.
    flow_len
        ``(F,)`` int64 hops per flow.
    flow_path, flow_weight
        ``(F,)`` path of each flow and its packet rate (packets per time
        unit), the weight of the flow in its path's averages.
    flow_size
        ``(F,)`` mean packet size of each flow (bits).
    queue_size, hop_capacity, hop_prop
        ``(Q,)`` mean packet size seen by each queue (bits); ``(H,)`` capacity
        (bits per time unit) and propagation delay (time units) of each hop's link.
    hop_prior_occ, hop_prior_block
        ``(H,)`` M/M/1/K occupancy (packets) and blocking probability of the
        queue a hop crosses: the physics prior the readouts correct.
    hop_share
        ``(H,)`` the flow's rate over the hop's link capacity.
    n_paths, n_links
        Entity counts of the scenario.
    hop_qt_wait, hop_qt_var, hop_qt_tx, hop_qt_loss, hop_qt_x, hop_qt_txsd
        Only with ``scenario_graph(..., qt_prior=True)`` (else ``None``): the
        queueing-theory prior of the hybrid GNN per hop,
        :meth:`twinwatch.twin.models.qt.QueueingModel.hop_quantities` — mean wait (time unit;
        with the slowdown of a class served at its share of the link counted as waiting),
        transit-time variance ``Var W + Var S_f`` (time unit²), the flow's own
        transmission time at line rate ``s_f / C`` (time unit), the queue's drop probability, all ``(H,)``;
        the ``(H, |HOP_QT_FEATURES|)`` scale-free inputs built from them; and the standard deviation of the
        flow's own transmission time at the hop, ``σ(S_f)`` (time unit, ``(H,)``), whose per-flow sum squared is
        the path's own-size variance when a packet keeps its size (``GNNConfig.own_size``).
    """

    flow_x: np.ndarray
    queue_x: np.ndarray
    link_x: np.ndarray
    hop_x: np.ndarray
    hop_flow: np.ndarray
    hop_index: np.ndarray
    hop_queue: np.ndarray
    hop_link: np.ndarray
    flow_len: np.ndarray
    flow_path: np.ndarray
    flow_weight: np.ndarray
    flow_size: np.ndarray
    queue_size: np.ndarray
    hop_capacity: np.ndarray
    hop_prop: np.ndarray
    hop_prior_occ: np.ndarray
    hop_prior_block: np.ndarray
    hop_share: np.ndarray
    n_paths: int
    n_links: int
    hop_qt_wait: np.ndarray | None = None
    hop_qt_var: np.ndarray | None = None
    hop_qt_tx: np.ndarray | None = None
    hop_qt_loss: np.ndarray | None = None
    hop_qt_x: np.ndarray | None = None
    hop_qt_txsd: np.ndarray | None = None

    @property
    def n_flows(self) -> int:
        return int(self.flow_x.shape[0])

    @property
    def n_queues(self) -> int:
        return int(self.queue_x.shape[0])

    @property
    def n_hops(self) -> int:
        return int(self.hop_flow.shape[0])


def _onehot(codes: np.ndarray, n: int) -> np.ndarray:
    out = np.zeros((codes.shape[0], n), dtype=np.float64)
    ok = (codes >= 0) & (codes < n)
    out[np.flatnonzero(ok), codes[ok]] = 1.0
    return out


def _safe_div(a: np.ndarray, b: np.ndarray, fill: float | np.ndarray = 0.0) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        out = a / b
    return np.where(np.isfinite(out), out, fill)


def scenario_graph(sc: Scenario, *, qt_prior: bool = False, prior: str = "classic") -> GraphArrays:
    """Build the flow/queue/link graph and its scale-free features (see module docstring).

    ``qt_prior=True`` also solves the queueing-theory model of the scenario
    and stores its per-hop quantities (``hop_qt_*``), which the hybrid GNN
    (``GNNConfig(hybrid=True)``) needs; ``prior`` names the model's variant
    (:data:`twinwatch.twin.models.qt.QT_VARIANTS`, ``GNNConfig.prior``).

    Shapes:
        ``Scenario`` with ``F`` flows, ``E`` links → ``GraphArrays`` with ``F``
        flows, ``3E`` queues, ``E`` links and ``H = Σ_f hops(f)`` hops.
    """
    n_e, n_f = sc.n_links, sc.n_flows
    n_q = n_e * MAX_QUEUES
    cap = sc.link_capacity_bps.astype(np.float64)
    plen = sc.path_len
    # ---- hops: expand each flow over the links of its path (CSR gather)
    flen = plen[sc.flow_path]
    fptr = np.concatenate([[0], np.cumsum(flen)])
    n_h = int(fptr[-1])
    hop_flow = np.repeat(np.arange(n_f), flen)
    hop_index = np.arange(n_h) - fptr[:-1][hop_flow]
    hop_link = sc.path_links[sc.path_ptr[:-1][sc.flow_path][hop_flow] + hop_index]
    node = sc.link_src[hop_link]
    pol = sc.node_policy.astype(np.int64)
    tos = np.clip(sc.flow_tos.astype(np.int64), 0, MAX_QUEUES - 1)
    qidx = np.where(pol[node] == int(Policy.FIFO), 0, tos[hop_flow])
    hop_queue = hop_link * MAX_QUEUES + qidx

    # ---- flow traffic
    rate = sc.flow_rate_bps.astype(np.float64)
    pkt_rate = sc.flow_pkt_rate.astype(np.float64)
    sizes = np.nan_to_num(sc.flow_sizes_bits)
    probs = sc.flow_size_probs
    psum = probs.sum(axis=1)
    m1 = _safe_div((sizes * probs).sum(axis=1), psum, 1000.0)
    m2 = _safe_div((sizes**2 * probs).sum(axis=1), psum, 1e6)
    size = np.where(pkt_rate > 0, _safe_div(rate, pkt_rate, 1000.0), m1)
    size = np.where(size > 0, size, 1000.0)
    cv2 = np.clip(_safe_div(m2, m1**2, 1.0) - 1.0, 0.0, None)
    pkts = np.where(pkt_rate > 0, pkt_rate, rate / size)

    # ---- queue and link aggregates
    q_bits = np.bincount(hop_queue, weights=rate[hop_flow], minlength=n_q)
    q_pkts = np.bincount(hop_queue, weights=pkts[hop_flow], minlength=n_q)
    q_cv2 = _safe_div(np.bincount(hop_queue, weights=(pkts * cv2)[hop_flow], minlength=n_q), q_pkts)
    onoff = (sc.flow_time_dist == int(TimeDist.ONOFF)).astype(np.float64)
    q_onoff = _safe_div(np.bincount(hop_queue, weights=(rate * onoff)[hop_flow], minlength=n_q), q_bits)
    l_bits = q_bits.reshape(n_e, MAX_QUEUES).sum(axis=1)
    l_pkts = q_pkts.reshape(n_e, MAX_QUEUES).sum(axis=1)
    global_size = float(_safe_div(np.array(rate.sum()), np.array(pkts.sum()), 1000.0))
    l_size = _safe_div(l_bits, l_pkts, global_size)
    q_size = _safe_div(q_bits, q_pkts, np.repeat(l_size, MAX_QUEUES))
    q_link = np.repeat(np.arange(n_e), MAX_QUEUES)
    q_k = np.tile(np.arange(MAX_QUEUES), n_e)
    q_node = sc.link_src[q_link]
    q_load = q_bits / cap[q_link]
    l_load = l_bits / cap
    loads = q_load.reshape(n_e, MAX_QUEUES)
    csum = np.cumsum(loads, axis=1)
    lower = (csum - loads).reshape(-1)
    higher = (csum[:, -1:] - csum).reshape(-1)

    # buffers in packets: given per queue in packets, or per port in bits
    qp = sc.node_queue_pkts[q_node, q_k]
    bb = sc.node_buffer_bits[q_node]
    buf = np.where(np.isfinite(qp), qp, _safe_div(bb, q_size, 32.0))
    buf = np.where(np.isfinite(buf) & (buf > 0), buf, 32.0)
    w = sc.node_weights[q_node, q_k]
    wsum = np.nansum(sc.node_weights, axis=1)[q_node]
    qpol = pol[q_node]
    weight = np.where(np.isfinite(w) & (wsum > 0), _safe_div(w, wsum), np.where(q_k == 0, 1.0, 0.0))
    weight = np.where(qpol == int(Policy.FIFO), (q_k == 0).astype(np.float64), weight)
    q_occ, q_block = mm1k(np.repeat(l_load, MAX_QUEUES), buf)
    used = (q_pkts > 0).astype(np.float64)
    queue_x = np.column_stack([
        _onehot(qpol, len(Policy)), _onehot(q_k, MAX_QUEUES), weight, np.log1p(buf),
        q_load, lower, higher, np.repeat(l_load, MAX_QUEUES), np.log1p(q_occ), q_block, used, q_cv2, q_onoff,
    ])
    # link prior: FIFO-equivalent port with the queues' buffers added up
    l_buf = np.where(pol[sc.link_src] == int(Policy.FIFO), buf.reshape(n_e, MAX_QUEUES)[:, 0],
                     buf.reshape(n_e, MAX_QUEUES).sum(axis=1))
    l_occ, l_block = mm1k(l_load, l_buf)
    prop_rel = sc.link_prop_delay_s * cap / l_size
    link_x = np.column_stack([
        l_load, l_load**2, _onehot(pol[sc.link_src], len(Policy)), np.log1p(l_occ), l_block, np.log1p(prop_rel),
    ])

    # ---- flow features
    share = rate[hop_flow] / cap[hop_link]
    max_share = np.zeros(n_f)
    np.maximum.at(max_share, hop_flow, share)
    hop_load = l_load[hop_link]
    max_load = np.zeros(n_f)
    np.maximum.at(max_load, hop_flow, hop_load)
    mean_load = _safe_div(np.bincount(hop_flow, weights=hop_load, minlength=n_f), flen)
    hop_prior_occ = q_occ[hop_queue]
    sum_occ = np.bincount(hop_flow, weights=hop_prior_occ, minlength=n_f)
    rel_size_hop = size[hop_flow] / q_size[hop_queue]
    rel_size = _safe_div(np.bincount(hop_flow, weights=rel_size_hop, minlength=n_f), flen, 1.0)
    is_onoff = sc.flow_time_dist == int(TimeDist.ONOFF)
    on = np.where(is_onoff & np.isfinite(sc.flow_on_s), sc.flow_on_s, np.nan)
    off = np.where(is_onoff & np.isfinite(sc.flow_off_s), sc.flow_off_s, np.nan)
    duty = np.where(np.isfinite(on) & np.isfinite(off), _safe_div(on, on + off, 1.0), 1.0)
    pkts_on = np.where(np.isfinite(on), on * _safe_div(pkts, duty, 0.0), 0.0)
    flow_x = np.column_stack([
        _onehot(sc.flow_time_dist.astype(np.int64), _N_TD), _onehot(tos, MAX_QUEUES), duty, np.log1p(pkts_on),
        cv2, rel_size, np.log(flen), max_load, mean_load, np.log(max_share + 1e-9), np.log1p(sum_occ),
    ])
    hop_x = np.column_stack([np.log(share + 1e-9), rel_size_hop, (hop_index + 1) / flen[hop_flow]])
    f32 = np.float32
    qt: dict[str, np.ndarray] = {}
    if qt_prior:
        from twinwatch.twin.models.qt import QT_VARIANTS, QueueingModel  # qt imports this package: import late

        if prior not in QT_VARIANTS:
            raise ValueError(f"unknown queueing-theory prior {prior!r}; known: {', '.join(QT_VARIANTS)}")
        hq = QueueingModel(**QT_VARIANTS[prior]).hop_quantities(sc)
        # queueing theory serves a WFQ/DRR class at its share of the link when others are busy, so its
        # transmission time hq.tx_mean exceeds the line-rate s_f / C; the excess is time spent behind other
        # classes' packets, i.e. waiting. Counted as wait, the hybrid can correct it (its learned factor scales
        # the wait only); left in the transmission time it is a floor the truth often lies below
        # (bench/notes/twin_hybrid.md, section 4d)
        tx_line = np.maximum(hq.tx_line, 1e-30)
        wait = hq.wait_mean + np.maximum(hq.tx_mean - hq.tx_line, 0.0)
        # (a train-term prior's wait variance holds a negative covariance with the packet's own size)
        transit_var = np.maximum(hq.wait_var + hq.tx_var, 0.0)
        qt = {"hop_qt_wait": wait.astype(f32), "hop_qt_var": transit_var.astype(f32),
              "hop_qt_tx": tx_line.astype(f32), "hop_qt_loss": hq.loss.astype(f32),
              "hop_qt_x": np.column_stack([np.log1p(wait / tx_line), np.log1p(transit_var / tx_line**2)]).astype(f32),
              "hop_qt_txsd": np.sqrt(hq.tx_var).astype(f32)}
    return GraphArrays(
        flow_x=flow_x.astype(f32), queue_x=queue_x.astype(f32), link_x=link_x.astype(f32), hop_x=hop_x.astype(f32),
        hop_flow=hop_flow, hop_index=hop_index, hop_queue=hop_queue, hop_link=hop_link,
        flow_len=flen.astype(np.int64), flow_path=sc.flow_path.astype(np.int64), flow_weight=pkts.astype(f32),
        flow_size=size.astype(f32), queue_size=q_size.astype(f32), hop_capacity=cap[hop_link].astype(f32),
        hop_prop=sc.link_prop_delay_s[hop_link].astype(f32), hop_prior_occ=hop_prior_occ.astype(f32),
        hop_prior_block=q_block[hop_queue].astype(f32), hop_share=share.astype(f32), n_paths=sc.n_paths, n_links=n_e,
        **qt,
    )


@dataclass
class FeatureStats:
    """Per-column mean and standard deviation of each entity's input features.

    Stored in the checkpoint so that inference normalises exactly as training
    did. ``fit`` uses training samples only. ``zmax`` (checkpoints from the
    hybrid on) holds the largest ``|x − mean| / std`` seen in training per
    column, so the out-of-domain guard knows the training range of skewed
    features.
    """

    mean: dict[str, list[float]]
    std: dict[str, list[float]]
    zmax: dict[str, list[float]] | None = None

    _KEYS = ("flow", "queue", "link", "hop", "hop_qt")

    @classmethod
    def identity(cls) -> FeatureStats:
        """No-op normalisation (zero mean, unit std), for tests."""
        dims = {"flow": len(FLOW_FEATURES), "queue": len(QUEUE_FEATURES), "link": len(LINK_FEATURES),
                "hop": len(HOP_FEATURES), "hop_qt": len(HOP_QT_FEATURES)}
        return cls({k: [0.0] * n for k, n in dims.items()}, {k: [1.0] * n for k, n in dims.items()})

    @classmethod
    def fit(cls, graphs: list[GraphArrays]) -> FeatureStats:
        """Column means/stds over all entities of ``graphs`` (std floored at 1e-3).

        ``hop_qt`` statistics are fitted only when every graph carries the queueing-theory prior.
        """
        mean: dict[str, list[float]] = {}
        std: dict[str, list[float]] = {}
        zmax: dict[str, list[float]] = {}
        for k in cls._KEYS:
            if k == "hop_qt" and any(g.hop_qt_x is None for g in graphs):
                continue
            x = np.concatenate([getattr(g, f"{k}_x") for g in graphs]).astype(np.float64)
            if k == "queue":  # unused queues would swamp the statistics
                x = x[x[:, QUEUE_FEATURES.index("used")] > 0]
            mu, sd = x.mean(axis=0), np.maximum(x.std(axis=0), 1e-3)
            mean[k], std[k] = mu.tolist(), sd.tolist()
            zmax[k] = (np.abs(x - mu) / sd).max(axis=0).tolist() if x.shape[0] else [0.0] * x.shape[1]
        return cls(mean, std, zmax)

    def apply(self, key: str, x: np.ndarray) -> np.ndarray:
        """Normalise feature matrix ``x`` of entity ``key`` (``flow``/``queue``/``link``/``hop``/``hop_qt``)."""
        if key not in self.mean:
            raise ValueError(f"{key} features: the checkpoint's feature statistics have no {key!r} entry; "
                             "it was trained without the queueing-theory prior")
        m = np.asarray(self.mean[key], dtype=np.float32)
        s = np.asarray(self.std[key], dtype=np.float32)
        if x.shape[1] != m.shape[0]:
            raise ValueError(f"{key} features: got {x.shape[1]} columns, statistics have {m.shape[0]}; "
                             "the checkpoint was trained with another feature set, retrain it")
        return (x - m) / s

    def to_dict(self) -> dict[str, dict[str, list[float]]]:
        d = {"mean": self.mean, "std": self.std}
        if self.zmax is not None:
            d["zmax"] = self.zmax
        return d

    @classmethod
    def from_dict(cls, d: dict[str, dict[str, list[float]]]) -> FeatureStats:
        zmax = {k: list(v) for k, v in d["zmax"].items()} if "zmax" in d else None
        return cls(mean={k: list(v) for k, v in d["mean"].items()}, std={k: list(v) for k, v in d["std"].items()},
                   zmax=zmax)


@dataclass(eq=False)
class GraphBatch:
    """Several scenarios concatenated into one graph, as torch tensors, in *packed* layout.

    Index tensors are offset so that entity ``i`` of sample ``b`` is entity
    ``offset_b + i`` of the batch (PyG-style). For the recurrent update along
    paths the batch is laid out like a packed sequence:

    * flows are sorted by decreasing hop count (``flow_order[i]`` is the
      batch-concatenated number of the ``i``-th sorted flow);
    * hops are time-major: all first hops (of flows ``0..pack_sizes[0]-1``),
      then all second hops (flows ``0..pack_sizes[1]-1``), ... so step ``t``
      of the GRU reads the contiguous block ``pack_ptr[t]:pack_ptr[t+1]`` and
      updates the first ``pack_sizes[t]`` flow states.

    Fields mirror :class:`GraphArrays` (features normalised, float32);
    ``queue_link`` ``(Q,)`` maps queues to links; ``path_sample`` ``(P,)`` the
    sample of each path; ``sample_paths``/``sample_links`` the per-sample counts.
    """

    flow_x: torch.Tensor
    queue_x: torch.Tensor
    link_x: torch.Tensor
    hop_x: torch.Tensor
    hop_flow: torch.Tensor
    hop_index: torch.Tensor
    hop_queue: torch.Tensor
    hop_link: torch.Tensor
    queue_link: torch.Tensor
    flow_path: torch.Tensor
    flow_weight: torch.Tensor
    flow_size: torch.Tensor
    flow_order: torch.Tensor
    queue_size: torch.Tensor
    hop_capacity: torch.Tensor
    hop_prop: torch.Tensor
    hop_prior_occ: torch.Tensor
    hop_prior_block: torch.Tensor
    hop_share: torch.Tensor
    pack_sizes: list[int]
    path_sample: torch.Tensor
    sample_paths: list[int]
    sample_links: list[int]
    n_paths: int
    hop_qt_wait: torch.Tensor | None = None
    hop_qt_var: torch.Tensor | None = None
    hop_qt_tx: torch.Tensor | None = None
    hop_qt_loss: torch.Tensor | None = None
    hop_qt_x: torch.Tensor | None = None
    hop_qt_txsd: torch.Tensor | None = None

    @property
    def n_flows(self) -> int:
        return int(self.flow_x.shape[0])

    @property
    def n_queues(self) -> int:
        return int(self.queue_x.shape[0])

    @property
    def n_links(self) -> int:
        return int(self.link_x.shape[0])

    @property
    def n_hops(self) -> int:
        return int(self.hop_flow.shape[0])


def _pack(
    flow_len: np.ndarray, hop_flow: np.ndarray, hop_index: np.ndarray
) -> tuple[np.ndarray, np.ndarray, list[int]]:
    """Time-major packing of variable-length hop sequences (as ``torch.nn.utils.rnn`` packs).

    Returns ``(flow_order, hop_order, sizes)``: flows by decreasing length,
    hops in packed order, and flows still running at each step.
    """
    order = np.argsort(-flow_len, kind="stable")
    rank = np.empty_like(order)
    rank[order] = np.arange(order.shape[0])
    lmax = int(flow_len.max()) if flow_len.size else 0
    sizes = np.bincount(flow_len, minlength=lmax + 1)[::-1].cumsum()[::-1][1:]  # flows with len > t
    starts = np.concatenate([[0], np.cumsum(sizes)])[:-1]
    pos = starts[hop_index] + rank[hop_flow]
    hop_order = np.empty(hop_flow.shape[0], dtype=np.int64)
    hop_order[pos] = np.arange(hop_flow.shape[0])
    return order, hop_order, [int(s) for s in sizes]


def collate(graphs: list[GraphArrays], stats: FeatureStats) -> GraphBatch:
    """Concatenate ``graphs`` into one normalised, packed :class:`GraphBatch`.

    Shapes:
        ``B`` graphs with ``F_b, Q_b, E_b, H_b, P_b`` entities →
        tensors over ``ΣF_b, ΣQ_b, ΣE_b, ΣH_b, ΣP_b``.
    """
    if not graphs:
        raise ValueError("collate needs at least one graph")
    nf = np.array([g.n_flows for g in graphs])
    nq = np.array([g.n_queues for g in graphs])
    ne = np.array([g.n_links for g in graphs])
    npth = np.array([g.n_paths for g in graphs])
    of, oq, oe, op = (np.concatenate([[0], np.cumsum(a)[:-1]]) for a in (nf, nq, ne, npth))

    def cat(name: str) -> np.ndarray:
        return np.concatenate([getattr(g, name) for g in graphs])

    def cat_off(name: str, offs: np.ndarray) -> np.ndarray:
        return np.concatenate([getattr(g, name) + o for g, o in zip(graphs, offs)])

    hop_flow = cat_off("hop_flow", of)
    hop_index = cat("hop_index")
    flow_order, hop_order, pack_sizes = _pack(cat("flow_len"), hop_flow, hop_index)
    rank = np.empty_like(flow_order)
    rank[flow_order] = np.arange(flow_order.shape[0])
    n_queues = int(nq.sum())

    def hop(a: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(np.ascontiguousarray(a[hop_order]))

    def flow(a: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(np.ascontiguousarray(a[flow_order]))

    t = torch.from_numpy
    qt: dict[str, torch.Tensor] = {}
    if all(g.hop_qt_x is not None for g in graphs) and "hop_qt" in stats.mean:
        qt = {name: hop(cat(name)) for name in ("hop_qt_wait", "hop_qt_var", "hop_qt_tx", "hop_qt_loss")}
        qt["hop_qt_x"] = hop(stats.apply("hop_qt", cat("hop_qt_x")))
        if all(g.hop_qt_txsd is not None for g in graphs):
            qt["hop_qt_txsd"] = hop(cat("hop_qt_txsd"))
    return GraphBatch(
        flow_x=flow(stats.apply("flow", cat("flow_x"))),
        queue_x=t(stats.apply("queue", cat("queue_x"))),
        link_x=t(stats.apply("link", cat("link_x"))),
        hop_x=hop(stats.apply("hop", cat("hop_x"))),
        hop_flow=hop(rank[hop_flow]),
        hop_index=hop(hop_index),
        hop_queue=hop(cat_off("hop_queue", oq)),
        hop_link=hop(cat_off("hop_link", oe)),
        queue_link=t(np.arange(n_queues) // MAX_QUEUES),
        flow_path=flow(cat_off("flow_path", op)),
        flow_weight=flow(cat("flow_weight")),
        flow_size=flow(cat("flow_size")),
        flow_order=t(flow_order),
        queue_size=t(cat("queue_size")),
        hop_capacity=hop(cat("hop_capacity")),
        hop_prop=hop(cat("hop_prop")),
        hop_prior_occ=hop(cat("hop_prior_occ")),
        hop_prior_block=hop(cat("hop_prior_block")),
        hop_share=hop(cat("hop_share")),
        pack_sizes=pack_sizes,
        path_sample=t(np.repeat(np.arange(len(graphs)), npth)),
        sample_paths=[int(x) for x in npth],
        sample_links=[int(x) for x in ne],
        n_paths=int(npth.sum()),
        **qt,
    )
