"""Explain a path's predicted delay: per-hop queueing, transmission and propagation.

The GNN's readout is additive over hops (:class:`~twin.models.gnn.PhysicsReadout`):
a flow's delay is ``Σ_h (queueing_h + transmission_h + propagation_h)`` and a
path's delay the delivered-packet-weighted mean over its flows. So the
per-hop parts below add up *exactly* to the model's predicted path delay.

Examples
--------
>>> from twinwatch.twin.models.gnn import GNNConfig, GNNModel, RouteNetFermi
>>> from twinwatch.twin.features import FeatureStats
>>> from twinwatch.twin.scenario import Flow, Scenario
>>> sc = Scenario.build(3, [(0, 1, 1e4), (1, 2, 1e4), (1, 0, 1e4), (2, 1, 1e4)],
...                     {(0, 2): [0, 1, 2]}, [Flow(0, 2, 2e3, 1000.0)])
>>> model = GNNModel(RouteNetFermi(GNNConfig(hidden=8, iterations=1)), FeatureStats.identity())
>>> ex = explain_path(model, sc, 0, 2)
>>> [(h.src, h.dst) for h in ex.hops]
[(0, 1), (1, 2)]
>>> abs(ex.total - ex.predicted_delay) < 1e-5 * ex.predicted_delay
True
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from twinwatch.twin.models.gnn import GNNModel
from twinwatch.twin.scenario import Scenario

__all__ = ["HopPart", "PathExplanation", "explain_path"]


@dataclass(frozen=True, slots=True)
class HopPart:
    """One hop of a path and its share of the predicted delay (scenario time units).

    Attributes
    ----------
    src, dst
        Nodes of the hop's link.
    link
        Link number.
    capacity
        Link capacity (bits per time unit).
    occupancy_pkts
        Predicted queue occupancy seen by the path's packets (packets).
    queueing, transmission, propagation
        Parts of the delay at this hop.
    drop
        Predicted drop probability at this hop.
    """

    src: int
    dst: int
    link: int
    capacity: float
    occupancy_pkts: float
    queueing: float
    transmission: float
    propagation: float
    drop: float

    @property
    def total(self) -> float:
        return self.queueing + self.transmission + self.propagation


@dataclass(frozen=True, slots=True)
class PathExplanation:
    """A path's predicted KPIs and the per-hop breakdown of its delay."""

    src: int
    dst: int
    hops: tuple[HopPart, ...]
    predicted_delay: float
    predicted_jitter: float
    predicted_loss: float
    time_unit: str

    @property
    def total(self) -> float:
        """Sum of the per-hop parts (equals :attr:`predicted_delay`)."""
        return float(sum(h.total for h in self.hops))


def explain_path(model: GNNModel, scenario: Scenario, src: int, dst: int) -> PathExplanation:
    """Break the GNN's predicted delay of path ``src → dst`` of ``scenario`` into per-hop parts.

    Raises
    ------
    KeyError
        The scenario has no path from ``src`` to ``dst`` (the message says so).
    """
    pidx = scenario.path_index()
    if (src, dst) not in pidx:
        raise KeyError(f"scenario {scenario.name!r} has no path {src}->{dst} (it carries traffic between "
                       f"{scenario.n_paths} node pairs of {scenario.n_nodes} nodes)")
    p = pidx[(src, dst)]
    batch, out = model.forward_scenarios([scenario])
    flow_path = batch.flow_path.numpy()
    hop_flow = batch.hop_flow.numpy()
    sel = np.flatnonzero(flow_path[hop_flow] == p)
    hop_index = batch.hop_index.numpy()[sel]
    drop = out["hop_drop"].double().numpy()[sel]
    # delivered-packet weight of each flow of the path, as in the readout
    f = hop_flow[sel]
    keep = np.ones(batch.n_flows)
    np.multiply.at(keep, f, 1.0 - drop)
    w = batch.flow_weight.double().numpy() * keep
    flows = np.unique(f)
    wn = w[f] / max(float(w[flows].sum()), 1e-300)
    n_hops = int(scenario.path_len[p])

    def per_hop(values: np.ndarray) -> np.ndarray:
        return np.bincount(hop_index, weights=wn * values, minlength=n_hops)

    q = per_hop(out["hop_queueing"].double().numpy()[sel])
    t = per_hop(out["hop_transmission"].double().numpy()[sel])
    pr = per_hop(batch.hop_prop.double().numpy()[sel])
    occ = per_hop(out["hop_occupancy"].double().numpy()[sel])
    dr = per_hop(drop)
    links = scenario.path_links[scenario.path_ptr[p] : scenario.path_ptr[p + 1]]
    hops = tuple(
        HopPart(src=int(scenario.link_src[lk]), dst=int(scenario.link_dst[lk]), link=int(lk),
                capacity=float(scenario.link_capacity_bps[lk]), occupancy_pkts=float(occ[i]),
                queueing=float(q[i]), transmission=float(t[i]), propagation=float(pr[i]), drop=float(dr[i]))
        for i, lk in enumerate(links)
    )
    return PathExplanation(src=src, dst=dst, hops=hops, predicted_delay=float(out["path_delay"][p]),
                           predicted_jitter=float(out["path_jitter"][p]), predicted_loss=float(out["path_loss"][p]),
                           time_unit=scenario.time_unit)
