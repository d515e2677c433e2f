"""The GNN twin: a RouteNet-Fermi-class model over flows, queues and links.

Three entity types exchange messages for ``T`` iterations (default 8):

1. **flows** — a GRU runs along each flow's path; its input at hop ``h`` is
   the state of the queue and of the link the hop crosses (plus static hop
   features). Its output at every hop is the flow's per-hop state ``m_h``;
2. **queues** — :class:`QueueUpdate` (a :class:`MessagePassing` layer) sums
   the per-hop states of the flows through a queue, weighted by their share
   of the link, and updates the queue state with a GRU cell;
3. **links** — :class:`LinkUpdate` reads the states of the link's queues and
   updates the link state with a GRU cell.

Readouts respect physics (:class:`PhysicsReadout`): from every hop's final
state the model predicts the queue occupancy seen by the flow (packets), a
variance factor and a drop probability, each as a learned correction of the
M/M/1/K prior of that queue. Then, per hop,
``delay = occupancy · mean_size/capacity + size_f/capacity + propagation``,
path delay is the sum over hops, jitter the sum of per-hop variances, loss
``1 − Π(1 − p_hop)``; a path with several flows mixes them by packet rate.
Because every input is capacity-relative (:mod:`twinwatch.twin.features`) and time only
enters through ``size/capacity``, the model is scale-free: it predicts in
the scenario's own time unit whatever the capacities.

References
----------
[^1]: M. Ferriol-Galmés et al., "RouteNet-Fermi: Network Modeling with Graph
   Neural Networks", IEEE/ACM ToN, 2023.

Examples
--------
>>> import torch
>>> from twinwatch.twin.features import FeatureStats, collate, scenario_graph
>>> from twinwatch.twin.scenario import Flow, Scenario
>>> sc = Scenario.build(3, [(0, 1, 1e4), (1, 2, 1e4), (1, 0, 1e4), (2, 1, 1e4)],
...                     {(0, 2): [0, 1, 2]}, [Flow(0, 2, 2e3, 1000.0)])
>>> net = RouteNetFermi(GNNConfig(hidden=8, iterations=2))
>>> out = net(collate([scenario_graph(sc)], FeatureStats.identity()))
>>> out["path_delay"].shape, bool(out["path_delay"][0] > 0.2)   # at least 2 transmissions of 0.1
(torch.Size([1]), True)
"""

from __future__ import annotations

import os
import warnings
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from torch import Tensor, nn
from torch_geometric.nn import MessagePassing
from torch_geometric.utils import scatter

from twinwatch.twin.conformal import interval, path_max_load
from twinwatch.twin.features import (
    FLOW_FEATURES,
    HOP_FEATURES,
    LINK_FEATURES,
    QUEUE_FEATURES,
    FeatureStats,
    GraphArrays,
    GraphBatch,
    collate,
    scenario_graph,
)
from twinwatch.twin.kpis import Prediction, queue_occupancy_ratio
from twinwatch.twin.models.bounds import apply_physical_bounds
from twinwatch.twin.scenario import MAX_QUEUES

if TYPE_CHECKING:
    from twinwatch.twin.scenario import Scenario

__all__ = [
    "DEFAULT_CHECKPOINT",
    "GNNConfig",
    "GNNModel",
    "LinkUpdate",
    "PathGRU",
    "PhysicsReadout",
    "QueueUpdate",
    "RouteNetFermi",
    "interval",
    "load_gnn",
]


@dataclass(frozen=True)
class GNNConfig:
    """Architecture hyper-parameters (stored in the checkpoint's JSON config).

    Parameters
    ----------
    hidden
        State size of flows, queues and links.
    iterations
        Message-passing iterations ``T``.
    readout_hidden
        Width of the readout MLP.
    """

    hidden: int = 32
    iterations: int = 8
    readout_hidden: int = 32

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> GNNConfig:
        return cls(**{k: d[k] for k in ("hidden", "iterations", "readout_hidden") if k in d})


def _mlp(n_in: int, n_hidden: int, n_out: int) -> nn.Sequential:
    return nn.Sequential(nn.Linear(n_in, n_hidden), nn.SELU(), nn.Linear(n_hidden, n_out), nn.SELU())


class PathGRU(nn.Module):
    """GRU along every flow's hops, on the time-major packed layout of :class:`GraphBatch`.

    The input projection ``W_ih [q; l; x]`` is split per entity: ``W_q q + W_l l``
    is computed once per queue (a queue belongs to one link) and gathered at
    the hops, ``W_x x`` once per forward pass (:meth:`project_hops`); only the
    recurrent part runs sequentially, ``max hops`` steps over the flows still
    running.

    Shapes:
        - flow_state ``(F, d)`` (flows in packed order), queue_state ``(Q, d)``,
          link_state ``(E, d)``, hop_proj ``(H, 3d)``
        - returns hop states ``(H, d)`` (packed order) and final flow states ``(F, d)``
    """

    def __init__(self, hidden: int, n_hop_features: int) -> None:
        super().__init__()
        self.hidden = hidden
        self.w_q = nn.Linear(hidden, 3 * hidden, bias=False)
        self.w_l = nn.Linear(hidden, 3 * hidden, bias=False)
        self.w_x = nn.Linear(n_hop_features, 3 * hidden)
        self.w_h = nn.Linear(hidden, 3 * hidden)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        for lin in (self.w_q, self.w_l, self.w_x, self.w_h):
            lin.reset_parameters()

    def project_hops(self, hop_x: Tensor) -> Tensor:
        """The static part of the GRU gates, ``(H, F_h)`` → ``(H, 3d)``.

        Holds ``W_x x + b_x`` plus the recurrent bias of the reset and update
        gates (the candidate gate's recurrent bias is multiplied by ``r``, so
        it stays in the step).
        """
        d = self.hidden
        b_rz = torch.cat([self.w_h.bias[: 2 * d], self.w_h.bias.new_zeros(d)])
        return self.w_x(hop_x) + b_rz

    def forward(self, flow_state: Tensor, queue_state: Tensor, link_state: Tensor, hop_proj: Tensor,
                b: GraphBatch) -> tuple[Tensor, Tensor]:
        d = self.hidden
        per_queue = self.w_q(queue_state) + self.w_l(link_state).index_select(0, b.queue_link)
        w_rz, w_n = self.w_h.weight[: 2 * d].t(), self.w_h.weight[2 * d :].t()
        b_n = self.w_h.bias[2 * d :]
        h = flow_state
        outs: list[Tensor] = []
        done: list[Tensor] = []  # final states of flows that ended, shortest flows first
        start = 0
        for n in b.pack_sizes:  # gather step by step: the (n, 3d) block stays in cache
            if n < h.shape[0]:
                done.append(h[n:])
                h = h[:n]
            x = torch.index_select(per_queue, 0, b.hop_queue[start : start + n]).add_(hop_proj[start : start + n])
            rz = torch.addmm(x[:, : 2 * d], h, w_rz).sigmoid_()
            c = torch.addcmul(x[:, 2 * d :], rz[:, :d], torch.addmm(b_n, h, w_n)).tanh_()
            h = torch.lerp(c, h, rz[:, d:])  # (1 - z) * c + z * h
            outs.append(h)
            start += n
        done.append(h)
        return torch.cat(outs, dim=0), torch.cat(done[::-1], dim=0)


class QueueUpdate(MessagePassing):
    r"""Queue update from the flows crossing it.

    :math:`q' = \mathrm{GRU}([\sum_h s_h m_h \,\|\, \sum_h \hat s_h m_h], q)`, where
    ``s_h`` is the flow's share of the link capacity (so the message grows
    with load, not with the number of flows) and :math:`\hat s_h = s_h / \sum s`
    its share of the queue's traffic (a rate-weighted mean). Both sums are one
    sparse product ``adj @ m`` with the ``(2Q, H)`` adjacency of
    :meth:`adjacency` (message and aggregation fused, no ``(H, 2d)`` temporary).

    Shapes:
        - hop_state ``(H, d)``, queue_state ``(Q, d)``, adj ``(2Q, H)`` sparse CSR
        - output ``(Q, d)``
    """

    def __init__(self, hidden: int) -> None:
        super().__init__(aggr="sum")
        self.gru = nn.GRUCell(2 * hidden, hidden)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        super().reset_parameters()
        self.gru.reset_parameters()

    def forward(self, hop_state: Tensor, queue_state: Tensor, adj: Tensor) -> Tensor:
        n_q = queue_state.shape[0]
        agg = self.propagate(adj, m=hop_state)  # (2Q, d)
        return self.gru(torch.cat([agg[:n_q], agg[n_q:]], dim=1), queue_state)

    def message_and_aggregate(self, adj_t: Tensor, m: Tensor) -> Tensor:
        return torch.sparse.mm(adj_t, m)

    @staticmethod
    def adjacency(share: Tensor, hop_queue: Tensor, n_queues: int) -> Tensor:
        """``(2Q, H)`` sparse CSR: row ``q`` holds the link shares ``s_h`` of the hops through
        queue ``q``, row ``Q + q`` the normalised shares ``s_h / Σ s``."""
        n_h = share.shape[0]
        total = scatter(share, hop_queue, dim=0, dim_size=n_queues, reduce="sum")
        frac = share / total[hop_queue].clamp_min(1e-12)
        rows = torch.cat([hop_queue, hop_queue + n_queues])
        order = torch.argsort(rows, stable=True)
        cols = torch.arange(n_h, device=share.device).repeat(2)[order]
        crow = torch.zeros(2 * n_queues + 1, dtype=torch.int64, device=share.device)
        crow[1:] = torch.cumsum(torch.bincount(rows, minlength=2 * n_queues), dim=0)
        with warnings.catch_warnings():  # "sparse CSR support is in beta": CSR @ dense is all we use
            warnings.simplefilter("ignore", UserWarning)
            return torch.sparse_csr_tensor(crow, cols, torch.cat([share, frac])[order], size=(2 * n_queues, n_h),
                                           check_invariants=False)


class LinkUpdate(MessagePassing):
    """Link update from its ``MAX_QUEUES`` queues (concatenated in queue order), by a GRU cell.

    Shapes:
        - queue_state ``(E·Q_max, d)`` (queues of link ``l`` at rows ``3l..3l+2``),
          link_state ``(E, d)``
        - output ``(E, d)``
    """

    def __init__(self, hidden: int) -> None:
        super().__init__(aggr="sum")
        self.gru = nn.GRUCell(MAX_QUEUES * hidden, hidden)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        super().reset_parameters()
        self.gru.reset_parameters()

    def forward(self, queue_state: Tensor, link_state: Tensor) -> Tensor:
        return self.gru(queue_state.reshape(link_state.shape[0], -1), link_state)


class PhysicsReadout(nn.Module):
    """Per-hop occupancy, variance factor and drop probability → path and link KPIs.

    Per hop ``h`` of flow ``f`` on link ``l`` through queue ``q`` (``a`` =
    mean packet size at ``q``, ``s_f`` = flow's mean size, ``C`` capacity):

    - occupancy ``o_h = (o_prior + 0.05) · exp(r_0)`` packets;
    - delay ``d_h = o_h a / C + s_f / C + prop_l``;
    - variance ``v_h = (o_h a / C + s_f / C)² · exp(r_1)``;
    - drop ``p_h = σ(logit(p_prior) + r_2)``.

    Shapes:
        - hop_state ``(H, d)``, queue_state ``(Q, d)``
        - returns a dict of ``(P,)`` path, ``(E,)`` link and ``(H,)`` hop tensors
    """

    def __init__(self, hidden: int, readout_hidden: int) -> None:
        super().__init__()
        self.mlp = nn.Sequential(nn.Linear(2 * hidden, readout_hidden), nn.SELU(), nn.Linear(readout_hidden, 3))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        for m in self.mlp:
            if isinstance(m, nn.Linear):
                m.reset_parameters()
        last = self.mlp[-1]
        assert isinstance(last, nn.Linear)
        nn.init.normal_(last.weight, std=1e-3)
        nn.init.zeros_(last.bias)

    def forward(self, hop_state: Tensor, queue_state: Tensor, b: GraphBatch) -> dict[str, Tensor]:
        raw = self.mlp(torch.cat([hop_state, queue_state[b.hop_queue]], dim=1)).clamp(-8.0, 8.0)
        cap = b.hop_capacity
        occ = (b.hop_prior_occ + 0.05) * torch.exp(raw[:, 0])
        queueing = occ * b.queue_size[b.hop_queue] / cap
        transmission = b.flow_size[b.hop_flow] / cap
        delay_h = queueing + transmission + b.hop_prop
        var_h = (queueing + transmission) ** 2 * torch.exp(raw[:, 1])
        pb = b.hop_prior_block.clamp(1e-6, 1 - 1e-6)
        drop = torch.sigmoid(torch.log(pb) - torch.log1p(-pb) + raw[:, 2])
        n_f, n_p, n_e = b.n_flows, b.n_paths, b.n_links
        log_keep = torch.log1p(-drop.clamp(max=1 - 1e-6))
        flow_delay = scatter(delay_h, b.hop_flow, dim=0, dim_size=n_f, reduce="sum")
        flow_var = scatter(var_h, b.hop_flow, dim=0, dim_size=n_f, reduce="sum")
        flow_keep = torch.exp(scatter(log_keep, b.hop_flow, dim=0, dim_size=n_f, reduce="sum"))
        w = b.flow_weight
        wd = w * flow_keep  # delivered packets weight the delay statistics
        wd_sum = scatter(wd, b.flow_path, dim=0, dim_size=n_p, reduce="sum").clamp_min(1e-12)
        path_delay = scatter(wd * flow_delay, b.flow_path, dim=0, dim_size=n_p, reduce="sum") / wd_sum
        spread = (flow_delay - path_delay[b.flow_path]) ** 2
        path_var = scatter(wd * (flow_var + spread), b.flow_path, dim=0, dim_size=n_p, reduce="sum") / wd_sum
        w_sum = scatter(w, b.flow_path, dim=0, dim_size=n_p, reduce="sum").clamp_min(1e-12)
        path_loss = scatter(w * (1.0 - flow_keep), b.flow_path, dim=0, dim_size=n_p, reduce="sum") / w_sum
        # link KPIs: packets reaching hop h survived the hops before it (walk the packed steps)
        before: list[Tensor] = []
        cum = log_keep.new_zeros(n_f)
        start = 0
        for n in b.pack_sizes:
            before.append(cum[:n])
            cum = torch.cat([cum[:n] + log_keep[start : start + n], cum[n:]])
            start += n
        reach = w[b.hop_flow] * torch.exp(torch.cat(before))
        arrive = scatter(reach, b.hop_link, dim=0, dim_size=n_e, reduce="sum")
        carried_bits = scatter(reach * (1 - drop) * b.flow_size[b.hop_flow], b.hop_link, dim=0, dim_size=n_e,
                               reduce="sum")
        link_cap = scatter(cap, b.hop_link, dim=0, dim_size=n_e, reduce="max")
        link_util = carried_bits / link_cap.clamp_min(1e-12)
        # GNNet's equivalent-queue occupancy (twin.kpis): per queue, mean sojourn / mean transmission time at the
        # link rate = waiting packets + the packet's own size in queue-mean sizes; summed over the port's queues
        n_q = b.queue_link.shape[0]
        eq_h = occ + b.flow_size[b.hop_flow] / b.queue_size[b.hop_queue].clamp_min(1e-12)
        q_reach = scatter(reach, b.hop_queue, dim=0, dim_size=n_q, reduce="sum")
        q_occ = scatter(reach * eq_h, b.hop_queue, dim=0, dim_size=n_q, reduce="sum") / q_reach.clamp_min(1e-12)
        link_occ = scatter(q_occ, b.queue_link, dim=0, dim_size=n_e, reduce="sum")
        link_loss = scatter(reach * drop, b.hop_link, dim=0, dim_size=n_e, reduce="sum") / arrive.clamp_min(1e-12)
        return {
            "path_delay": path_delay, "path_jitter": path_var, "path_loss": path_loss,
            "link_utilization": link_util, "link_queue_occupancy": link_occ, "link_loss": link_loss,
            "hop_queueing": queueing, "hop_transmission": transmission, "hop_occupancy": occ, "hop_drop": drop,
        }


class RouteNetFermi(nn.Module):
    """Flows × queues × links message passing with physics readouts (module docstring).

    Shapes:
        - input: a :class:`~twin.features.GraphBatch` with ``F`` flows, ``Q``
          queues, ``E`` links, ``H`` hops, ``P`` paths
        - output: dict with ``path_delay``/``path_jitter``/``path_loss`` ``(P,)``,
          ``link_utilization``/``link_queue_occupancy``/``link_loss`` ``(E,)``,
          ``hop_queueing``/``hop_transmission``/``hop_occupancy``/``hop_drop`` ``(H,)``
    """

    def __init__(self, config: GNNConfig | None = None) -> None:
        super().__init__()
        self.config = config or GNNConfig()
        d = self.config.hidden
        self.flow_embed = _mlp(len(FLOW_FEATURES), d, d)
        self.queue_embed = _mlp(len(QUEUE_FEATURES), d, d)
        self.link_embed = _mlp(len(LINK_FEATURES), d, d)
        self.path_gru = PathGRU(d, len(HOP_FEATURES))
        self.queue_update = QueueUpdate(d)
        self.link_update = LinkUpdate(d)
        self.readout = PhysicsReadout(d, self.config.readout_hidden)

    def forward(self, b: GraphBatch) -> dict[str, Tensor]:
        flow = self.flow_embed(b.flow_x)
        queue = self.queue_embed(b.queue_x)
        link = self.link_embed(b.link_x)
        hop_proj = self.path_gru.project_hops(b.hop_x)
        adj = QueueUpdate.adjacency(b.hop_share, b.hop_queue, b.n_queues)
        hop_state = queue.new_zeros((b.n_hops, self.config.hidden))
        for _ in range(self.config.iterations):
            hop_state, flow = self.path_gru(flow, queue, link, hop_proj, b)
            queue = self.queue_update(hop_state, queue, adj)
            link = self.link_update(queue, link)
        return self.readout(hop_state, queue, b)


def n_parameters(model: nn.Module) -> int:
    """Number of trainable parameters."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


DEFAULT_CHECKPOINT = Path(__file__).resolve().parents[1] / "data" / "checkpoints" / "gnn"
"""The shipped checkpoint directory (``twin/data/checkpoints/gnn``)."""

_OUT_KEYS = {"delay_s": "path_delay", "jitter_s2": "path_jitter", "loss_ratio": "path_loss"}


class GNNModel:
    """The trained twin as a :class:`~twin.models.KPIModel`: scenario in, :class:`Prediction` out.

    Every path KPI carries a split-conformal interval at the checkpoint's
    nominal coverage (``calibration``: residual quantiles measured on the
    validation set per band of the path's offered load, multiplicative for
    delay and jitter, additive for loss; :mod:`twinwatch.twin.conformal`).

    Parameters
    ----------
    net
        The network (weights loaded, eval mode).
    stats
        Feature normalisation of the training set.
    calibration
        KPI → :func:`twinwatch.twin.conformal.fit_mondrian` entry (or, in older
        checkpoints, ``{"kind": "log" | "abs", "lo": float, "hi": float}``).
    """

    name = "gnn"

    def __init__(self, net: RouteNetFermi, stats: FeatureStats, calibration: dict[str, dict[str, Any]] | None = None,
                 config: dict[str, Any] | None = None) -> None:
        self.net = net.eval()
        self.stats = stats
        self.calibration = dict(calibration or {})
        self.config = dict(config or {})

    @classmethod
    def load(cls, checkpoint: str | os.PathLike[str] | None = None) -> GNNModel:
        """Load a model directory written by ``twinwatch twin train`` (default: the shipped one)."""
        from twinwatch.twin.checkpoint import CheckpointError, load_checkpoint

        path = Path(checkpoint) if checkpoint is not None else DEFAULT_CHECKPOINT
        weights, cfg = load_checkpoint(path, kind="gnn")
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("error", RuntimeWarning)  # e.g. statistics that overflow float32
                net = RouteNetFermi(GNNConfig.from_dict(cfg.get("architecture", {})))
                net.load_state_dict(weights)
                model = cls(net, FeatureStats.from_dict(cfg["feature_stats"]), cfg.get("calibration"), cfg)
                model.predict(_self_test_scenario())  # feature statistics and calibration fit this code
                return model
        except (KeyError, TypeError, ValueError, RuntimeError, AttributeError, IndexError, RuntimeWarning) as exc:
            msg = str(exc).splitlines()[0] if str(exc) else repr(exc)
            raise CheckpointError(f"checkpoint {path}: not a consistent GNN checkpoint ({type(exc).__name__}: {msg})"
                                  ) from None

    def forward_scenarios(self, scenarios: list[Scenario]) -> tuple[GraphBatch, dict[str, Tensor]]:
        """Raw network outputs for a batch of scenarios (no intervals)."""
        return self._forward_graphs([scenario_graph(sc) for sc in scenarios])

    def _forward_graphs(self, graphs: list[GraphArrays]) -> tuple[GraphBatch, dict[str, Tensor]]:
        batch = collate(graphs, self.stats)
        with torch.inference_mode():
            out = self.net(batch)
        return batch, out

    def predict(self, scenario: Scenario) -> Prediction:
        """Per-path and per-link KPIs of ``scenario`` in its own time unit, with intervals."""
        return self.predict_many([scenario])[0]

    def predict_many(self, scenarios: list[Scenario], max_paths: int = 50_000) -> list[Prediction]:
        """:meth:`predict` for several scenarios, batched into forward passes of at most ``max_paths`` paths."""
        scenarios = list(scenarios)
        preds: list[Prediction] = []
        group: list[Scenario] = []
        n = 0
        for sc in scenarios:
            if group and n + sc.n_paths > max_paths:
                preds.extend(self._predict_batch(group))
                group, n = [], 0
            group.append(sc)
            n += sc.n_paths
        if group:
            preds.extend(self._predict_batch(group))
        return preds

    def _predict_batch(self, scenarios: list[Scenario]) -> list[Prediction]:
        graphs = [scenario_graph(sc) for sc in scenarios]
        batch, out = self._forward_graphs(graphs)
        arrays = {k: v.double().numpy() for k, v in out.items() if not k.startswith("hop_")}
        preds: list[Prediction] = []
        p0 = e0 = 0
        for sc, g, n_p, n_e in zip(scenarios, graphs, batch.sample_paths, batch.sample_links, strict=True):
            load = path_max_load(g) if self.calibration else None
            pr = Prediction.empty(n_p, n_e)
            ps, ls = slice(p0, p0 + n_p), slice(e0, e0 + n_e)
            pr.path_delay_s[:] = arrays["path_delay"][ps]
            pr.path_jitter_s2[:] = arrays["path_jitter"][ps]
            pr.path_loss_ratio[:] = arrays["path_loss"][ps]
            pr.link_utilization[:] = arrays["link_utilization"][ls]
            pr.link_queue_pkts[:] = arrays["link_queue_occupancy"][ls]  # the network's readout is in packets
            pr.link_queue_occupancy[:] = queue_occupancy_ratio(sc, pr.link_queue_pkts)
            pr.link_loss_ratio[:] = arrays["link_loss"][ls]
            for kpi, cal in self.calibration.items():
                if kpi in _OUT_KEYS:
                    pr.path_interval[kpi] = interval(pr.path(kpi), cal, load)
            apply_physical_bounds(sc, pr)  # e.g. no active flow: delay 0 -> propagation + transmission
            preds.append(pr)
            p0, e0 = p0 + n_p, e0 + n_e
        return preds


def _self_test_scenario() -> Scenario:
    """A 3-node, 2-path scenario every consistent checkpoint predicts (run once when a checkpoint loads)."""
    from twinwatch.twin.scenario import Flow, Scenario

    return Scenario.build(3, [(0, 1, 1e4, 0.01), (1, 2, 1e4, 0.02), (1, 0, 1e4, 0.01), (2, 1, 1e4, 0.02)],
                          {(0, 2): [0, 1, 2], (2, 0): [2, 1, 0]}, [Flow(0, 2, 3e3, 1000.0), Flow(2, 0, 1e3, 1000.0)])


def load_gnn(checkpoint: str | None = None) -> GNNModel:
    """The GNN twin from ``checkpoint`` (a model directory), or the shipped default when ``None``."""
    return GNNModel.load(checkpoint)
