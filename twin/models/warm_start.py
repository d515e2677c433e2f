"""Warm starts of the GNN twin: new feature statistics without changing the function, and a hybrid from a trained
first-generation model.

Two operations let training continue from a trained model instead of from scratch:

* :func:`restat` rewrites the first layer of every input embedding so the
  network computes the same function under new feature statistics (``z =
  (x − μ)/σ`` refitted on a wider data mix): ``W z + b`` becomes ``W
  diag(σ'/σ) z' + b + W (μ' − μ)/σ``. A column that was constant in the old
  statistics (standard deviation at its 1e-3 floor) never varied in the old
  training data: its input was always ``z = 0``, its weights never received a
  gradient and hold their random initial values, so they start at zero
  instead (exact on the old data's domain; ``σ'/σ`` would otherwise multiply
  that random response by up to 10³). The queue ``used`` column is the
  exception: its statistics are fitted on used queues only, but the network
  also saw the unused ones (``z = −1/σ``), so it keeps its exact rewrite.
* :func:`hybrid_from` builds the queueing-theory hybrid
  (:class:`~twinwatch.twin.models.gnn.HybridReadout`) from a first-generation
  network: message passing, embeddings and readout hidden layer are carried
  over, the hybrid's extra hop inputs (:data:`~twinwatch.twin.features.HOP_QT_FEATURES`)
  start with zero weight, the propagation column it does not read is removed,
  and the readout's last layer starts at zero: the new model's first
  prediction is queueing theory's, its representations are the trained ones.
  (Keeping the trained last layer, i.e. the first-generation occupancy
  correction applied to the queueing-theory wait, started 7–8× worse on the
  GNNet validation sets: ``bench/notes/twin_hybrid.md``, candidate D.)

Examples
--------
>>> import numpy as np, torch
>>> from twinwatch.twin.features import FeatureStats, collate, scenario_graph
>>> from twinwatch.twin.models.gnn import GNNConfig, RouteNetFermi
>>> from twinwatch.twin.models.qt import QueueingModel
>>> from twinwatch.twin.scenario import Flow, Scenario
>>> sc = Scenario.build(3, [(0, 1, 1e4), (1, 2, 1e4), (1, 0, 1e4), (2, 1, 1e4)],
...                     {(0, 2): [0, 1, 2]}, [Flow(0, 2, 6e3, 1000.0)])
>>> g = scenario_graph(sc, qt_prior=True)
>>> _ = torch.manual_seed(0)
>>> plain = RouteNetFermi(GNNConfig(hidden=8, iterations=2))
>>> old, new = FeatureStats.identity(), FeatureStats.fit([g])
>>> with torch.no_grad():
...     before = plain(collate([g], old))["path_delay"]
...     _ = restat(plain, old, new)
...     after = plain(collate([g], new))["path_delay"]
>>> bool(torch.allclose(before, after, rtol=1e-5))
True
>>> hybrid = hybrid_from(plain)
>>> with torch.no_grad():
...     d = float(hybrid(collate([g], new))["path_delay"][0])
>>> bool(np.isclose(d, QueueingModel().predict(sc).path_delay_s[0], rtol=1e-4))
True
"""

from __future__ import annotations

from dataclasses import replace

import torch
from torch import nn

from twinwatch.twin.features import HOP_FEATURES, HOP_QT_FEATURES, QUEUE_FEATURES, FeatureStats
from twinwatch.twin.models.gnn import HybridReadout, RouteNetFermi

__all__ = ["CONSTANT_STD", "hybrid_from", "reset_readout", "restat", "set_full_buffer_fade", "zero_untrained_inputs"]

_READOUT_LAST = ("readout.mlp.2.weight", "readout.mlp.2.bias")
"""The hybrid readout's last layer: at zero, the hybrid predicts exactly its queueing-theory prior."""

CONSTANT_STD = 1.001e-3
"""A column whose standard deviation is at or below this was constant in the data its statistics came from (the
floor of :meth:`FeatureStats.fit` is 1e-3)."""

_USED = QUEUE_FEATURES.index("used")


def _first_linears(net: RouteNetFermi) -> list[tuple[str, nn.Linear, slice | list[int]]]:
    """``(stats key, layer, columns of that key it reads, in order)`` of every embedding's first layer."""
    out = [("flow", net.flow_embed[0], slice(None)), ("queue", net.queue_embed[0], slice(None)),
           ("link", net.link_embed[0], list(net.link_cols))]
    assert all(isinstance(lin, nn.Linear) for _, lin, _ in out)
    return out  # type: ignore[return-value]


def _hop_blocks(net: RouteNetFermi) -> list[tuple[str, slice]]:
    """The hop-input blocks of ``path_gru.w_x``: ``hop`` then, for the hybrid, ``hop_qt``."""
    n_hop = len(HOP_FEATURES)
    blocks = [("hop", slice(0, n_hop))]
    if net.config.hybrid:
        blocks.append(("hop_qt", slice(n_hop, n_hop + len(HOP_QT_FEATURES))))
    return blocks


@torch.no_grad()
def _rescale(lin: nn.Linear, cols: slice | list[int], old_mean: torch.Tensor, old_std: torch.Tensor,
             new_mean: torch.Tensor, new_std: torch.Tensor, keep: torch.Tensor) -> None:
    """Rewrite ``lin``'s weights on input ``cols`` from statistics ``old`` to ``new`` (module docstring);
    ``keep`` marks the constant columns that keep their exact rewrite."""
    w = lin.weight[:, cols]
    constant = (old_std <= CONSTANT_STD) & ~keep
    scale = torch.where(constant, torch.zeros_like(new_std), new_std / old_std)
    shift = torch.where(constant, torch.zeros_like(new_mean), (new_mean - old_mean) / old_std)
    if lin.bias is not None:
        lin.bias += w @ shift
    lin.weight[:, cols] = w * scale


def restat(net: RouteNetFermi, old: FeatureStats, new: FeatureStats) -> RouteNetFermi:
    """Make ``net`` (in place) compute under ``new`` statistics what it computed under ``old`` (module docstring).

    Exact up to float32 rounding for inputs whose old-statistics columns varied; a column constant under
    ``old`` gets zero weight (exact wherever it sits at its old constant). ``hop_qt`` is rewritten only when
    both statistics have it. Returns ``net``.
    """
    def vec(stats: FeatureStats, key: str, part: str) -> torch.Tensor:
        return torch.tensor(getattr(stats, part)[key], dtype=torch.float64)

    def rewrite(lin: nn.Linear, key: str, cols: slice | list[int], stat_cols: slice | list[int]) -> None:
        if key not in old.mean or key not in new.mean:
            return
        args = [vec(s, key, p)[stat_cols].to(lin.weight.dtype) for s in (old, new) for p in ("mean", "std")]
        keep = torch.zeros(len(old.mean[key]), dtype=torch.bool)
        if key == "queue":
            keep[_USED] = True
        _rescale(lin, cols, *args, keep[stat_cols])

    for key, lin, cols in _first_linears(net):
        rewrite(lin, key, slice(None), cols)
    for key, block in _hop_blocks(net):
        rewrite(net.path_gru.w_x, key, block, slice(None))
    return net


@torch.no_grad()
def hybrid_from(net: RouteNetFermi) -> RouteNetFermi:
    """A hybrid :class:`RouteNetFermi` carrying ``net``'s trained weights (module docstring); ``net`` is unchanged.

    The readout's last layer starts at zero, so the result first predicts what queueing theory predicts.
    """
    if net.config.hybrid:
        raise ValueError("hybrid_from: the model is already a hybrid")
    hybrid = RouteNetFermi(replace(net.config, hybrid=True))  # every other setting (the prior too) kept
    dst = hybrid.state_dict()
    for name, value in net.state_dict().items():  # load_state_dict copies: net keeps its own tensors
        if name == "link_embed.0.weight":
            value = value[:, hybrid.link_cols]
        elif name == "path_gru.w_x.weight":
            value = torch.cat([value, value.new_zeros(value.shape[0], len(HOP_QT_FEATURES))], dim=1)
        if dst[name].shape != value.shape:
            raise ValueError(f"hybrid_from: {name} has shape {tuple(value.shape)}, the hybrid needs "
                             f"{tuple(dst[name].shape)}")
        dst[name] = value
    for name in _READOUT_LAST:
        dst[name] = torch.zeros_like(dst[name])
    hybrid.load_state_dict(dst)
    return hybrid


@torch.no_grad()
def reset_readout(net: RouteNetFermi, width: int | None = None, own_size: str | None = None) -> RouteNetFermi:
    """Zero (in place) a hybrid's last readout layer: it predicts its prior again, its message passing kept.

    The start for a hybrid continuing on another queueing-theory prior (``GNNConfig.prior``): its corrections
    were learnt against the old prior, the representation they read is still of use. With ``width`` other than
    the readout's own (``GNNConfig.readout_hidden``), the readout is rebuilt at that width instead: a fresh
    hidden layer (random) and a zero last layer, so the model still predicts its prior exactly. ``own_size``
    (``GNNConfig.own_size``) switches how the readout composes a packet's own transmission times; the model then
    predicts that prior (``QueueingModel(**QT_VARIANTS[prior], own_size=...)``).

    >>> from twinwatch.twin.models.gnn import GNNConfig
    >>> net = reset_readout(RouteNetFermi(GNNConfig(hidden=8, iterations=1, hybrid=True)), width=24,
    ...                     own_size="per-packet")
    >>> last = net.readout.mlp[2].weight.detach()
    >>> net.config.readout_hidden, tuple(net.readout.mlp[0].weight.shape), float(last.abs().sum())
    (24, (24, 16), 0.0)
    >>> net.config.own_size, net.readout.per_packet
    ('per-packet', True)
    """
    if not net.config.hybrid:
        raise ValueError("reset_readout: the model is not a hybrid")
    if own_size is not None and own_size != net.config.own_size:
        net.config = replace(net.config, own_size=own_size)  # validated by GNNConfig
        net.readout.per_packet = net.config.per_packet  # type: ignore[union-attr]
    if width is not None and width != net.config.readout_hidden:
        if width < 1:
            raise ValueError(f"reset_readout: width must be >= 1, got {width}")
        net.config = replace(net.config, readout_hidden=width)
        # a HybridReadout: its last layer starts at zero
        net.readout = HybridReadout(net.config.hidden, width, per_packet=net.config.per_packet,
                                    full_buffer_fade=net.config.full_buffer_fade,
                                    full_buffer_depth=net.config.full_buffer_depth)
        return net
    params = dict(net.named_parameters())
    for name in _READOUT_LAST:
        params[name].zero_()
    return net


def set_full_buffer_fade(net: RouteNetFermi, fade: float, depth: float | None = None) -> RouteNetFermi:
    """Set (in place) a hybrid's full-buffer fade ``τ`` (``GNNConfig.full_buffer_fade``; 0 turns it off).

    The weights are unchanged: the fade only scales the wait correction at deep, full buffers.

    >>> from twinwatch.twin.models.gnn import GNNConfig
    >>> net = set_full_buffer_fade(RouteNetFermi(GNNConfig(hidden=8, iterations=1, hybrid=True)), 0.003)
    >>> net.config.full_buffer_fade, net.readout.full_buffer_fade, net.readout.full_buffer_depth
    (0.003, 0.003, 100.0)
    """
    if not net.config.hybrid:
        raise ValueError("set_full_buffer_fade: the model is not a hybrid")
    net.config = replace(net.config, full_buffer_fade=float(fade),
                         full_buffer_depth=net.config.full_buffer_depth if depth is None else float(depth))
    net.readout.full_buffer_fade = net.config.full_buffer_fade  # type: ignore[union-attr]
    net.readout.full_buffer_depth = net.config.full_buffer_depth  # type: ignore[union-attr]
    return net


def zero_untrained_inputs(net: RouteNetFermi, stats: FeatureStats) -> RouteNetFermi:
    """Zero (in place) the input weights of every feature that was constant in ``stats``' training data.

    Such a weight never received a gradient: it is its random initial value, and an input the training data
    never varied arrives as ``(x − μ)/10⁻³``, so a new value drives the network by a random response up to 10⁴
    times the trained ones (propagation for a model trained on GNNet, which has none; a flow type it never saw).
    Exact wherever the feature sits at its training constant. :func:`restat` with unchanged statistics.
    """
    return restat(net, stats, stats)
