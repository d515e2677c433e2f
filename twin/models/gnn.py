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
With ``GNNConfig(hybrid=True)`` the readout is :class:`HybridReadout`
instead: the network corrects the queueing-theory (M/G/1/K) wait, transit
variance and loss of every hop, which it also reads as inputs; propagation
is not an input; the untrained network equals its prior, the queueing-theory
model ``QueueingModel(**QT_VARIANTS[prior])`` with independent hops
(``own_size="independent"``: the readout sums per-hop variances, a packet's
own transmission times included) unless ``GNNConfig.own_size="per-packet"``.
Every prediction flags the paths whose inputs lie beyond the training range
(:func:`path_out_of_domain`, ``Prediction.path_out_of_domain``).

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

import math
import os
import threading
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch import Tensor, nn
from torch_geometric.nn import MessagePassing
from torch_geometric.utils import scatter

from twinwatch.twin.blas import single_blas_thread
from twinwatch.twin.conformal import interval, path_max_load
from twinwatch.twin.features import (
    FLOW_FEATURES,
    HOP_FEATURES,
    HOP_QT_FEATURES,
    LINK_FEATURES,
    QUEUE_FEATURES,
    FeatureStats,
    GraphArrays,
    GraphBatch,
    collate,
    scenario_graph,
)
from twinwatch.twin.kpis import Prediction, queue_occupancy_ratio
from twinwatch.twin.models.bounds import OutOfDomainWarning, apply_physical_bounds
from twinwatch.twin.models.qt import OWN_SIZE
from twinwatch.twin.scenario import MAX_QUEUES

if TYPE_CHECKING:
    from twinwatch.twin.scenario import Scenario

__all__ = [
    "DEFAULT_CHECKPOINT",
    "OOD_Z",
    "GNNConfig",
    "GNNModel",
    "HybridReadout",
    "LinkUpdate",
    "PathGRU",
    "PhysicsReadout",
    "QueueUpdate",
    "RouteNetFermi",
    "interval",
    "load_gnn",
    "path_out_of_domain",
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
    hybrid
        ``False`` (the default, the first shipped checkpoint): the
        :class:`PhysicsReadout` corrects the M/M/1/K occupancy and the
        squared mean sojourn, and the links see ``log_prop_rel``. ``True``:
        the queueing-theory hybrid (:class:`HybridReadout`) — no propagation
        input, the M/G/1/K per-hop wait and transit variance
        (:data:`~twinwatch.twin.features.HOP_QT_FEATURES`) as hop inputs and
        as the prior the readout corrects; the untrained model *is* the
        queueing-theory model. Needs graphs built with ``qt_prior=True``.
    prior
        The hybrid's queueing-theory variant
        (:data:`twinwatch.twin.models.qt.QT_VARIANTS`): ``"classic"`` (the
        default, and what a stored config without the key means),
        ``"packet"``, ``"packet-moments"`` or ``"packet-inputs"``.
    own_size
        How the hybrid composes a packet's own transmission times over its
        path (:data:`twinwatch.twin.models.qt.OWN_SIZE`): ``"independent"``
        (the default, and what a stored config without the key means) — the
        readout's correction ``r_1`` scales each hop's whole transit variance
        and the hops add up; ``"per-packet"`` — ``r_1`` scales the hop's wait
        variance only, and the flow's own-size variance ``(Σ_h σ(S_f)/C_h)²``
        is added exactly, outside the learned part (a packet keeps its size
        over the path), so the untrained hybrid equals its prior with ``own_size="per-packet"``.
    full_buffer_fade
        The hybrid's full-buffer fade ``τ`` (a loss ratio; ``0``, the default
        and what a stored config without the key means, turns it off). At a hop
        whose prior is a *deep, full* buffer — the prior drops packets
        (loss ``p``) and its wait is at least ``full_buffer_depth`` of the
        flow's own transmission times — the readout's wait correction is
        scaled by ``exp(−p/τ)``: an overloaded drop-tail queue of many packets
        is pinned at its buffer, so its wait is the buffer's drain time, which
        the prior holds, whatever the traffic's fine structure
        (:meth:`HybridReadout.hop_terms`; ``bench/notes/twin_hybrid.md`` §4s).
    full_buffer_depth
        The depth (prior wait ÷ the flow's line-rate transmission time, i.e.
        packets of the flow's size ahead) from which a losing buffer counts as
        deep; shallow buffers keep their correction (their loss regime is
        where queueing theory errs).
    """

    hidden: int = 32
    iterations: int = 8
    readout_hidden: int = 32
    hybrid: bool = False
    prior: str = "classic"
    own_size: str = "independent"
    full_buffer_fade: float = 0.0
    full_buffer_depth: float = 100.0

    def __post_init__(self) -> None:
        if self.own_size not in OWN_SIZE:
            raise ValueError(f"own_size must be one of {OWN_SIZE}, got {self.own_size!r}")
        if self.per_packet and not self.hybrid:
            raise ValueError("own_size='per-packet' is a hybrid readout option (hybrid=True)")
        for name in ("full_buffer_fade", "full_buffer_depth"):
            if isinstance(getattr(self, name), bool):  # JSON true / false is not a loss ratio or a depth
                raise ValueError(f"{name} must be a number, got {getattr(self, name)!r}")
        if not (math.isfinite(self.full_buffer_fade) and self.full_buffer_fade >= 0):
            raise ValueError(f"full_buffer_fade must be a finite loss ratio >= 0, got {self.full_buffer_fade!r}")
        if not (math.isfinite(self.full_buffer_depth) and self.full_buffer_depth > 0):
            raise ValueError(f"full_buffer_depth must be a finite packet count > 0, got {self.full_buffer_depth!r}")
        if self.full_buffer_fade > 0 and not self.hybrid:
            raise ValueError("full_buffer_fade is a hybrid readout option (hybrid=True)")

    @property
    def per_packet(self) -> bool:
        """Whether the readout composes a packet's own transmission times exactly (``own_size="per-packet"``)."""
        return self.own_size == "per-packet"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> GNNConfig:
        keys = ("hidden", "iterations", "readout_hidden", "hybrid", "prior", "own_size", "full_buffer_fade",
                "full_buffer_depth")
        return cls(**{k: d[k] for k in keys if k in d})


def _mlp(n_in: int, n_hidden: int, n_out: int) -> nn.Sequential:
    return nn.Sequential(nn.Linear(n_in, n_hidden), nn.SELU(), nn.Linear(n_hidden, n_out), nn.SELU())


class _Workspace:
    """Scratch memory that inference passes reuse (``(H, ·)`` and ``(F, ·)`` float blocks of the forward pass).

    The service predicts every window on the same routing, so the blocks are
    allocated once and reused: on CPU a freshly allocated tensor of tens of
    MB costs a page fault per 4 KiB page (glibc maps blocks over 32 MB
    afresh every time). A block grows when a larger batch needs it and is
    handed out as a leading-rows view. One pass at a time: a concurrent pass
    (another thread) gets a private, fresh workspace (:meth:`hold`). Not part
    of the model's state (no weights, not saved, not copied). Size: five
    ``(H, d)`` and four ``(F, d)`` float32 blocks, ≈ 120 MB for 200 nodes,
    40,000 flows and 152,000 hops at ``d = 32``, held while the model lives.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._blocks: dict[str, Tensor] = {}

    @contextmanager
    def hold(self) -> Iterator[_Workspace]:
        """This workspace for one pass, or a fresh one while another pass holds it."""
        if not self._lock.acquire(blocking=False):
            yield _Workspace()
            return
        try:
            yield self
        finally:
            self._lock.release()

    def get(self, name: str, rows: int, cols: int, like: Tensor) -> Tensor:
        """A contiguous ``(rows, cols)`` block (uninitialised) with ``like``'s dtype and device."""
        blk = self._blocks.get(name)
        if (blk is None or blk.shape[0] < rows or blk.shape[1] != cols or blk.dtype != like.dtype
                or blk.device != like.device):
            with torch.inference_mode(False):  # a normal tensor: writable under no_grad and inference_mode alike
                blk = torch.empty((rows, cols), dtype=like.dtype, device=like.device)
            self._blocks[name] = blk
        return blk[:rows]

    def __deepcopy__(self, memo: dict[int, Any]) -> _Workspace:
        return _Workspace()

    def __getstate__(self) -> dict[str, Any]:
        return {}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__()  # type: ignore[misc]


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

    def project_hops_into(self, hop_x: Tensor, ws: _Workspace) -> tuple[Tensor, Tensor, Tensor]:
        """:meth:`project_hops` for :meth:`infer`: the reset, update and candidate parts as three contiguous
        ``(H, d)`` blocks of the workspace, the candidate part **doubled** (exact in floating point;
        :meth:`infer` evaluates ``tanh(x) = 2σ(2x) − 1``)."""
        d, n_h = self.hidden, hop_x.shape[0]
        w, bias, b_h = self.w_x.weight, self.w_x.bias, self.w_h.bias
        parts = []
        for k, name in enumerate(("hop_r", "hop_z", "hop_n")):
            rows = slice(k * d, (k + 1) * d)
            part = torch.addmm(bias[rows], hop_x, w[rows].t(), out=ws.get(name, n_h, d, hop_x))
            parts.append(part.add_(b_h[rows]) if k < 2 else part.mul_(2.0))
        return parts[0], parts[1], parts[2]

    def infer(self, flow_state: Tensor, queue_state: Tensor, link_state: Tensor,
              hop_parts: tuple[Tensor, Tensor, Tensor], b: GraphBatch, hop_out: Tensor,
              ws: _Workspace) -> tuple[Tensor, Tensor]:
        """:meth:`forward` for inference: the same GRU, into preallocated memory, without autograd.

        Differences from :meth:`forward`, none of them in the maths: every step writes into four ``(F, d)``
        scratch blocks of ``ws`` and its new hop states straight into ``hop_out`` ``(H, d)`` (reused across
        iterations), so no ``(H, ·)`` tensor is allocated, concatenated or copied per step — a fresh tensor of
        tens of MB costs a page fault per 4 KiB page, which was a third of the forward pass; the reset, update
        and candidate gates are separate contiguous blocks (strided operands halve the speed of the
        element-wise kernels); the final flow states overwrite ``flow_state`` (the caller's own tensor) in
        place; the candidate activation is ``tanh(x) = 2σ(2x) − 1`` on the doubled pre-activation (the
        doubling is exact), 2–3× cheaper on CPU than ``tanh`` and equal to it within 1.2e-7 absolute.
        Only valid under ``torch.no_grad()`` / ``torch.inference_mode()``.

        Shapes: flow_state ``(F, d)``, queue_state ``(Q, d)``, link_state ``(E, d)``, hop_parts three
        ``(H, d)`` from :meth:`project_hops_into`, hop_out ``(H, d)``; returns ``(hop_out, flow_state)``, both
        overwritten.
        """
        d = self.hidden
        per_queue = self.w_q(queue_state).add_(self.w_l(link_state).index_select(0, b.queue_link))  # (Q, 3d)
        pq = (per_queue[:, :d].contiguous(), per_queue[:, d : 2 * d].contiguous(), per_queue[:, 2 * d :].mul(2.0))
        wh = self.w_h.weight
        w_r, w_z, w_n = wh[:d].t(), wh[d : 2 * d].t(), wh[2 * d :].t().mul(2.0)
        b_n = self.w_h.bias[2 * d :].mul(2.0)
        n_f = flow_state.shape[0]
        r_buf, z_buf, n_buf, g_buf = (ws.get(k, n_f, d, flow_state) for k in ("r", "z", "n", "g"))
        hop_r, hop_z, hop_n = hop_parts
        final = flow_state  # rows n..m are written only after the last read of flow_state (step 0)
        h = flow_state
        start = 0
        for n in b.pack_sizes:
            m = h.shape[0]
            if n < m:  # flows that ended: their last state is final
                final[n:m] = h[n:]
                h = h[:n]
            idx, hops = b.hop_queue[start : start + n], slice(start, start + n)
            r = torch.index_select(pq[0], 0, idx, out=r_buf[:n]).add_(hop_r[hops]).addmm_(h, w_r).sigmoid_()
            z = torch.index_select(pq[1], 0, idx, out=z_buf[:n]).add_(hop_z[hops]).addmm_(h, w_z).sigmoid_()
            gn = g_buf[:n].copy_(b_n.expand(n, d)).addmm_(h, w_n)
            c = torch.index_select(pq[2], 0, idx, out=n_buf[:n]).add_(hop_n[hops]).addcmul_(r, gn)
            c.sigmoid_().mul_(2.0).sub_(1.0)  # tanh of the un-doubled pre-activation
            h = torch.lerp(c, h, z, out=hop_out[hops])  # (1 - z) * c + z * h
            start += n
        final[: h.shape[0]] = h
        return hop_out, final


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

    def forward(self, hop_state: Tensor, queue_state: Tensor, adj: Tensor, total: Tensor | None = None) -> Tensor:
        n_q = queue_state.shape[0]
        if total is not None:  # adj is (Q, H) of share_adjacency: the mean is the sum over the total share
            agg_sum = self.propagate(adj, m=hop_state)  # (Q, d)
            return self.gru(torch.cat([agg_sum, agg_sum / total.clamp_min(1e-12)[:, None]], dim=1), queue_state)
        agg = self.propagate(adj, m=hop_state)  # (2Q, d)
        return self.gru(torch.cat([agg[:n_q], agg[n_q:]], dim=1), queue_state)

    def message_and_aggregate(self, adj_t: Tensor, m: Tensor) -> Tensor:
        return torch.sparse.mm(adj_t, m)

    @staticmethod
    def share_adjacency(share: Tensor, hop_queue: Tensor, n_queues: int) -> tuple[Tensor, Tensor]:
        """``(Q, H)`` sparse CSR of the link shares ``s_h`` (the first half of :meth:`adjacency`) and the
        ``(Q,)`` total share per queue: ``Σ ŝ_h m_h = (Σ s_h m_h) / Σ s``, so inference needs one half of the
        sparse product (used when autograd is off; the same maths to float32 rounding)."""
        n_h = share.shape[0]
        total = scatter(share, hop_queue, dim=0, dim_size=n_queues, reduce="sum")
        order = torch.argsort(hop_queue, stable=True)
        crow = torch.zeros(n_queues + 1, dtype=torch.int64, device=share.device)
        crow[1:] = torch.cumsum(torch.bincount(hop_queue, minlength=n_queues), dim=0)
        with warnings.catch_warnings():  # "sparse CSR support is in beta": CSR @ dense is all we use
            warnings.simplefilter("ignore", UserWarning)
            adj = torch.sparse_csr_tensor(crow, order, share[order], size=(n_queues, n_h), check_invariants=False)
        return adj, total

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

    def own_variance(self, b: GraphBatch) -> Tensor | float:
        """``(F,)`` delay variance of each flow that no hop's term holds (time unit²); none here."""
        return 0.0

    def hop_terms(self, raw: Tensor, b: GraphBatch) -> tuple[Tensor, Tensor, Tensor, Tensor, Tensor]:
        """Per hop ``(queueing, transmission, variance, drop, occupancy)`` from the readout MLP's ``(H, 3)`` output."""
        cap = b.hop_capacity
        occ = (b.hop_prior_occ + 0.05) * torch.exp(raw[:, 0])
        queueing = occ * b.queue_size[b.hop_queue] / cap
        transmission = b.flow_size[b.hop_flow] / cap
        var_h = (queueing + transmission) ** 2 * torch.exp(raw[:, 1])
        pb = b.hop_prior_block.clamp(1e-6, 1 - 1e-6)
        drop = torch.sigmoid(torch.log(pb) - torch.log1p(-pb) + raw[:, 2])
        return queueing, transmission, var_h, drop, occ

    def raw(self, hop_state: Tensor, queue_state: Tensor, b: GraphBatch, ws: _Workspace | None = None) -> Tensor:
        """The readout MLP on ``[hop state ‖ its queue's state]``, ``(H, 2d)`` → ``(H, 3)``, clamped to ±8.

        With a workspace (inference only) the first layer is split, ``W_a m_h + (W_b q + b)[queue of h]``:
        the same affine map without building the ``(H, 2d)`` input, its ``(H, hidden)`` output in ``ws``.
        """
        if ws is None:
            return self.mlp(torch.cat([hop_state, queue_state[b.hop_queue]], dim=1)).clamp(-8.0, 8.0)
        first, last = self.mlp[0], self.mlp[2]
        assert isinstance(first, nn.Linear) and isinstance(last, nn.Linear)
        d = hop_state.shape[1]
        per_queue = torch.addmm(first.bias, queue_state, first.weight[:, d:].t())  # (Q, hidden)
        hid = torch.index_select(per_queue, 0, b.hop_queue, out=ws.get("readout", b.n_hops, first.out_features,
                                                                        hop_state))
        torch.selu_(hid.addmm_(hop_state, first.weight[:, :d].t()))
        return last(hid).clamp_(-8.0, 8.0)

    def forward(self, hop_state: Tensor, queue_state: Tensor, b: GraphBatch,
                ws: _Workspace | None = None) -> dict[str, Tensor]:
        raw = self.raw(hop_state, queue_state, b, ws)
        cap = b.hop_capacity
        queueing, transmission, var_h, drop, occ = self.hop_terms(raw, b)
        n_f, n_p, n_e = b.n_flows, b.n_paths, b.n_links
        log_keep = torch.log1p(-drop.clamp(max=1 - 1e-6))
        # propagation is common to the flows of a path: mix the flows on the queueing part (float32 keeps µs
        # differences beside ms of propagation) and add the path's propagation afterwards
        flow_delay = scatter(queueing + transmission, b.hop_flow, dim=0, dim_size=n_f, reduce="sum")
        flow_var = scatter(var_h, b.hop_flow, dim=0, dim_size=n_f, reduce="sum") + self.own_variance(b)
        flow_keep = torch.exp(scatter(log_keep, b.hop_flow, dim=0, dim_size=n_f, reduce="sum"))
        flow_prop = scatter(b.hop_prop, b.hop_flow, dim=0, dim_size=n_f, reduce="sum")
        w = b.flow_weight
        wd = w * flow_keep  # delivered packets weight the delay statistics
        wd_sum = scatter(wd, b.flow_path, dim=0, dim_size=n_p, reduce="sum").clamp_min(1e-12)
        path_queueing = scatter(wd * flow_delay, b.flow_path, dim=0, dim_size=n_p, reduce="sum") / wd_sum
        spread = (flow_delay - path_queueing[b.flow_path]) ** 2
        path_prop = scatter(wd * flow_prop, b.flow_path, dim=0, dim_size=n_p, reduce="sum") / wd_sum
        path_delay = path_queueing + path_prop
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
            "path_delay": path_delay, "path_jitter": path_var, "path_loss": path_loss, "path_prop": path_prop,
            "link_utilization": link_util, "link_queue_occupancy": link_occ, "link_loss": link_loss,
            "hop_queueing": queueing, "hop_transmission": transmission, "hop_occupancy": occ, "hop_drop": drop,
        }


class HybridReadout(PhysicsReadout):
    """The queueing-theory hybrid readout: the GNN corrects the M/G/1/K estimate of every hop.

    Per hop ``h`` of flow ``f`` (``EW``, ``VarT``, ``p`` the queueing-theory
    mean wait, transit-time variance and queue loss of
    :meth:`twinwatch.twin.models.qt.QueueingModel.hop_quantities`; ``t_f = s_f / C``
    the flow's own transmission time at line rate; where queueing theory serves a
    WFQ/DRR class at its share of the link, the extra transmission time is part of
    ``EW``, the term the network corrects):

    - delay ``d_h = EW · exp(r_0) + t_f + prop_l`` (propagation exact, outside the learned part);
    - variance ``v_h = VarT · exp(r_1)``; with ``per_packet`` (``GNNConfig.own_size="per-packet"``)
      ``v_h = (VarT − σ_h²) · exp(r_1)``, ``σ_h`` the standard deviation of the flow's own transmission
      time at the hop, and the flow's variance gains ``(Σ_h σ_h)²`` exactly (a packet keeps its size);
    - drop ``p_h = σ(logit(p) + r_2)``;
    - occupancy (packets waiting, for the link KPI) ``EW · exp(r_0) · C / a``;
    - with ``full_buffer_fade`` ``τ > 0``: where the prior's buffer is deep and full (``p > 0`` and
      ``EW ≥ full_buffer_depth · t_f``), ``r_0`` is scaled by ``exp(−p/τ)`` (:class:`GNNConfig`).

    The last layer starts at zero, so an untrained network reproduces the
    queueing-theory model's path delay, jitter and loss (to float32
    rounding and the 1e-30 floor of the drop prior) of its prior
    (``QueueingModel(**QT_VARIANTS[prior])``) with independent hops,
    ``own_size="independent"``: the path variance is the sum of
    the hops' ``VarT``, each with the packet's own transmission-time variance,
    where the default queueing model composes that part per packet
    (:mod:`twinwatch.twin.models.qt`); the correction ``r_1`` has to learn the
    difference. No occupancy floor.
    """

    def __init__(self, hidden: int, readout_hidden: int, per_packet: bool = False, full_buffer_fade: float = 0.0,
                 full_buffer_depth: float = 100.0) -> None:
        super().__init__(hidden, readout_hidden)
        self.per_packet = per_packet
        self.full_buffer_fade = float(full_buffer_fade)
        self.full_buffer_depth = float(full_buffer_depth)

    def reset_parameters(self) -> None:
        super().reset_parameters()
        last = self.mlp[-1]
        assert isinstance(last, nn.Linear)
        nn.init.zeros_(last.weight)
        nn.init.zeros_(last.bias)

    def _own_sd(self, b: GraphBatch) -> Tensor:
        if b.hop_qt_txsd is None:
            raise ValueError("hybrid GNN (own_size='per-packet'): the graph batch has no own transmission-time "
                             "deviation; build the graphs with this version's scenario_graph(sc, qt_prior=True)")
        return b.hop_qt_txsd

    def own_variance(self, b: GraphBatch) -> Tensor | float:
        """With ``per_packet``: ``(F,)`` ``(Σ_h σ_h)²``, the variance of a packet's own transmission times."""
        if not self.per_packet:
            return 0.0
        return scatter(self._own_sd(b), b.hop_flow, dim=0, dim_size=b.n_flows, reduce="sum") ** 2

    def wait_correction(self, r_0: Tensor, b: GraphBatch) -> Tensor:
        """``(H,)`` log-factor on the prior's wait: ``r_0``, faded as ``exp(−p/τ)`` at deep, full buffers.

        A drop-tail queue offered more than it serves stays at its buffer; with many packets in it the
        fluctuations are a few packets of many, so its wait is the buffer's drain time, which the prior
        (its loss ``p`` > 0) already holds. Shallow buffers (wait under ``full_buffer_depth`` of the flow's
        own transmission times) keep the correction: there the traffic's fine structure matters.
        """
        if self.full_buffer_fade <= 0:
            return r_0
        assert b.hop_qt_wait is not None and b.hop_qt_tx is not None and b.hop_qt_loss is not None
        deep = b.hop_qt_wait >= self.full_buffer_depth * b.hop_qt_tx
        fade = torch.exp(-b.hop_qt_loss.clamp_min(0.0) / self.full_buffer_fade)
        return r_0 * torch.where(deep, fade, torch.ones_like(fade))

    def hop_terms(self, raw: Tensor, b: GraphBatch) -> tuple[Tensor, Tensor, Tensor, Tensor, Tensor]:
        if b.hop_qt_wait is None or b.hop_qt_var is None or b.hop_qt_tx is None or b.hop_qt_loss is None:
            raise ValueError("hybrid GNN: the graph batch has no queueing-theory prior; build the graphs with "
                             "scenario_graph(sc, qt_prior=True) and feature statistics that include 'hop_qt'")
        queueing = b.hop_qt_wait * torch.exp(self.wait_correction(raw[:, 0], b))
        transmission = b.hop_qt_tx
        prior_var = (b.hop_qt_var - self._own_sd(b) ** 2).clamp_min(0.0) if self.per_packet else b.hop_qt_var
        var_h = prior_var * torch.exp(raw[:, 1])
        pb = b.hop_qt_loss.clamp(1e-30, 1 - 1e-6)  # float32 holds 1e-30: a lossless queue stays (nearly) lossless
        drop = torch.sigmoid(torch.log(pb) - torch.log1p(-pb) + raw[:, 2])
        occ = queueing * b.hop_capacity / b.queue_size[b.hop_queue].clamp_min(1e-12)
        return queueing, transmission, var_h, drop, occ


_PROP_COL = LINK_FEATURES.index("log_prop_rel")


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
        hybrid = self.config.hybrid
        # the hybrid never sees propagation: it is exact in the readout (bench/notes/twin_regimes.md)
        self.link_cols = [i for i in range(len(LINK_FEATURES)) if not (hybrid and i == _PROP_COL)]
        self.flow_embed = _mlp(len(FLOW_FEATURES), d, d)
        self.queue_embed = _mlp(len(QUEUE_FEATURES), d, d)
        self.link_embed = _mlp(len(self.link_cols), d, d)
        self.path_gru = PathGRU(d, len(HOP_FEATURES) + (len(HOP_QT_FEATURES) if hybrid else 0))
        self.queue_update = QueueUpdate(d)
        self.link_update = LinkUpdate(d)
        self.readout: PhysicsReadout = (
            HybridReadout(d, self.config.readout_hidden, per_packet=self.config.per_packet,
                          full_buffer_fade=self.config.full_buffer_fade,
                          full_buffer_depth=self.config.full_buffer_depth) if hybrid
            else PhysicsReadout(d, self.config.readout_hidden))
        self._workspace = _Workspace()

    def forward(self, b: GraphBatch) -> dict[str, Tensor]:
        flow = self.flow_embed(b.flow_x)
        queue = self.queue_embed(b.queue_x)
        if self.config.hybrid:
            if b.hop_qt_x is None:
                raise ValueError("hybrid GNN: the graph batch has no queueing-theory prior; build the graphs with "
                                 "scenario_graph(sc, qt_prior=True) and feature statistics that include 'hop_qt'")
            link = self.link_embed(b.link_x[:, self.link_cols])
            hop_x = torch.cat([b.hop_x, b.hop_qt_x], dim=1)
        else:
            link = self.link_embed(b.link_x)
            hop_x = b.hop_x
        if not torch.is_grad_enabled():  # inference: the same maths in reused memory (PathGRU.infer)
            with self._workspace.hold() as ws:
                return self._infer(b, hop_x, flow, queue, link, ws)
        adj = QueueUpdate.adjacency(b.hop_share, b.hop_queue, b.n_queues)
        hop_proj = self.path_gru.project_hops(hop_x)
        hop_state = queue.new_zeros((b.n_hops, self.config.hidden))
        for _ in range(self.config.iterations):
            hop_state, flow = self.path_gru(flow, queue, link, hop_proj, b)
            queue = self.queue_update(hop_state, queue, adj)
            link = self.link_update(queue, link)
        return self.readout(hop_state, queue, b)

    def _infer(self, b: GraphBatch, hop_x: Tensor, flow: Tensor, queue: Tensor, link: Tensor,
               ws: _Workspace) -> dict[str, Tensor]:
        """:meth:`forward` without autograd: :meth:`PathGRU.infer`, the half-size queue aggregation of
        :meth:`QueueUpdate.share_adjacency` and the readout's hidden layer in ``ws``."""
        adj, total = QueueUpdate.share_adjacency(b.hop_share, b.hop_queue, b.n_queues)
        hop_parts = self.path_gru.project_hops_into(hop_x, ws)
        hop_state = ws.get("hop_state", b.n_hops, self.config.hidden, flow)
        if self.config.iterations == 0:
            hop_state.zero_()
        for _ in range(self.config.iterations):
            hop_state, flow = self.path_gru.infer(flow, queue, link, hop_parts, b, hop_state, ws)
            queue = self.queue_update(hop_state, queue, adj, total)
            link = self.link_update(queue, link)
        return self.readout(hop_state, queue, b, ws)


def n_parameters(model: nn.Module) -> int:
    """Number of trainable parameters."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


DEFAULT_CHECKPOINT = Path(__file__).resolve().parents[1] / "data" / "checkpoints" / "gnn"
"""The shipped checkpoint directory (``twin/data/checkpoints/gnn``)."""

_OUT_KEYS = {"delay_s": "path_delay", "jitter_s2": "path_jitter", "loss_ratio": "path_loss"}

OOD_Z = 6.0
"""A path is out of the training domain when one of its inputs (flow, hop, queue or link features, normalised by the
checkpoint's statistics) is more than this many training standard deviations from the training mean — or, when the
checkpoint stores the largest deviation seen in training (``FeatureStats.zmax``), beyond that, if larger."""


def path_out_of_domain(net: RouteNetFermi, b: GraphBatch, stats: FeatureStats,
                       z_max: float = OOD_Z) -> tuple[np.ndarray, str, float]:
    """Which paths of batch ``b`` have an input beyond the training domain (:data:`OOD_Z`).

    Checks every normalised input the network reads for the path: its flows'
    features, its hops' features (with the hybrid's queueing-theory inputs),
    and the features of the queues and links its hops cross. Each column's
    ``|z|`` is divided by its limit ``max(z_max, training max |z|)``, so a
    value above 1 is out of domain. Vectorised (one row-wise max per entity,
    scattered to flows, then to paths).

    Returns ``(mask (P,) bool, name of the worst feature, its |z|)``.
    """
    def limit(key: str, cols: list[int] | None = None) -> Tensor:
        n = len(stats.mean[key])
        zm = stats.zmax.get(key) if stats.zmax is not None else None
        lim = torch.tensor([max(z_max, float(v)) for v in zm] if zm is not None else [z_max] * n)
        return lim if cols is None else lim[cols]

    link_names = tuple(LINK_FEATURES[i] for i in net.link_cols)
    with_qt = net.config.hybrid and b.hop_qt_x is not None and "hop_qt" in stats.mean
    hop_x = torch.cat([b.hop_x, b.hop_qt_x], dim=1) if with_qt else b.hop_x  # type: ignore[list-item]
    hop_names = HOP_FEATURES + (HOP_QT_FEATURES if with_qt else ())
    hop_lim = torch.cat([limit("hop"), limit("hop_qt")]) if with_qt else limit("hop")
    queue_used = torch.bincount(b.hop_queue, minlength=b.n_queues) > 0  # unused queues hold placeholder values
    # per entity: |z| scaled so that z_max is every column's limit; row maxima are gathered to the hops afterwards
    entities = [
        (hop_x, hop_lim, hop_names, None, None),
        (b.queue_x, limit("queue"), QUEUE_FEATURES, b.hop_queue, queue_used),
        (b.link_x[:, net.link_cols], limit("link", net.link_cols), link_names, b.hop_link, None),
        (b.flow_x, limit("flow"), FLOW_FEATURES, b.hop_flow, None),
    ]
    hop_z = torch.zeros(b.n_hops)
    worst, worst_name = 0.0, ""
    for x, lim, names, to_hop, rows in entities:
        if x.numel() == 0:
            continue
        z = x.abs().mul_(z_max / lim)
        if rows is not None:
            z = z[rows]
        col_max = z.max(dim=0).values
        c = int(torch.argmax(col_max))
        if float(col_max[c]) > worst:
            worst, worst_name = float(col_max[c]), names[c]
        row_max = z.max(dim=1).values
        if rows is not None:
            full = torch.zeros(x.shape[0])
            full[rows] = row_max
            row_max = full
        hop_z = torch.maximum(hop_z, row_max if to_hop is None else row_max.index_select(0, to_hop))
    flow_z = scatter(hop_z, b.hop_flow, dim=0, dim_size=b.n_flows, reduce="max")
    path_z = scatter(flow_z, b.flow_path, dim=0, dim_size=b.n_paths, reduce="max")
    return (path_z > z_max).numpy(), worst_name, worst


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
        """Load a model directory written by ``twinwatch twin train`` (default: the shipped one).

        Input weights of features that never varied in the training data (random, never trained) are zeroed
        (:func:`twinwatch.twin.models.warm_start.zero_untrained_inputs`): identical predictions on the training
        domain, no random response to a feature the training data lacked (e.g. propagation delay for a model
        trained on GNNet).
        """
        from twinwatch.twin.checkpoint import CheckpointError, load_checkpoint
        from twinwatch.twin.models.warm_start import zero_untrained_inputs

        path = Path(checkpoint) if checkpoint is not None else DEFAULT_CHECKPOINT
        weights, cfg = load_checkpoint(path, kind="gnn")
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("error", RuntimeWarning)  # e.g. statistics that overflow float32
                net = RouteNetFermi(GNNConfig.from_dict(cfg.get("architecture", {})))
                net.load_state_dict(weights)
                stats = FeatureStats.from_dict(cfg["feature_stats"])
                model = cls(zero_untrained_inputs(net, stats), stats, cfg.get("calibration"), cfg)
                warnings.simplefilter("ignore", OutOfDomainWarning)  # the self-test checks shapes, not the domain
                model.predict(_self_test_scenario())  # feature statistics and calibration fit this code
                return model
        except (KeyError, TypeError, ValueError, RuntimeError, AttributeError, IndexError, RuntimeWarning) as exc:
            msg = str(exc).splitlines()[0] if str(exc) else repr(exc)
            raise CheckpointError(f"checkpoint {path}: not a consistent GNN checkpoint ({type(exc).__name__}: {msg})"
                                  ) from None

    def forward_scenarios(self, scenarios: list[Scenario]) -> tuple[GraphBatch, dict[str, Tensor]]:
        """Raw network outputs for a batch of scenarios (no intervals)."""
        return self._forward_graphs([self.graph(sc) for sc in scenarios])

    def graph(self, sc: Scenario) -> GraphArrays:
        """The network's input graph of ``sc`` (with the queueing-theory prior when the model is the hybrid).

        NumPy's BLAS is held to one thread meanwhile: its spinning threads slow the prior's numba kernels and
        the forward pass that follows (:mod:`twinwatch.twin.blas`).
        """
        with single_blas_thread():
            return scenario_graph(sc, qt_prior=self.net.config.hybrid, prior=self.net.config.prior)

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
        graphs = [self.graph(sc) for sc in scenarios]
        batch, out = self._forward_graphs(graphs)
        arrays = {k: v.double().numpy() for k, v in out.items() if not k.startswith("hop_")}
        ood, worst_name, worst_z = path_out_of_domain(self.net, batch, self.stats)
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
            prop = None
            if any(isinstance(c, dict) and (c.get("offset") == "propagation" or "regimes" in c)
                   for c in self.calibration.values()):
                prop = np.bincount(sc.hop_path, weights=sc.link_prop_delay_s[sc.path_links], minlength=n_p)
            for kpi, cal in self.calibration.items():
                if kpi in _OUT_KEYS:  # size-aware / queueing-part entries of newer calibrations use nodes / prop
                    pr.path_interval[kpi] = interval(pr.path(kpi), cal, load, sc.n_nodes, prop)
            pr.path_out_of_domain = ood[ps].copy()
            apply_physical_bounds(sc, pr)  # e.g. no active flow: delay 0 -> propagation + transmission
            preds.append(pr)
            p0, e0 = p0 + n_p, e0 + n_e
        if ood.any():
            warnings.warn(
                f"gnn: {int(ood.sum())} of {ood.size} paths are outside the model's training domain (worst: "
                f"{worst_name} at {worst_z:.0f} on a scale where {OOD_Z:.0f} is the edge of the training range); their "
                "predictions are "
                "extrapolations (Prediction.path_out_of_domain marks them; widen their intervals or use --model qt)",
                OutOfDomainWarning, stacklevel=3)
        return preds


def _self_test_scenario() -> Scenario:
    """A 3-node, 2-path scenario every consistent checkpoint predicts (run once when a checkpoint loads)."""
    from twinwatch.twin.scenario import Flow, Scenario

    return Scenario.build(3, [(0, 1, 1e4, 0.01), (1, 2, 1e4, 0.02), (1, 0, 1e4, 0.01), (2, 1, 1e4, 0.02)],
                          {(0, 2): [0, 1, 2], (2, 0): [2, 1, 0]}, [Flow(0, 2, 3e3, 1000.0), Flow(2, 0, 1e3, 1000.0)])


def load_gnn(checkpoint: str | None = None) -> GNNModel:
    """The GNN twin from ``checkpoint`` (a model directory), or the shipped default when ``None``."""
    return GNNModel.load(checkpoint)
