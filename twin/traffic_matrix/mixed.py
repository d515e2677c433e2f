"""Mixed traffic matrix: flow records where routers export them, link counters for the rest.

Flow export is configured per router, at ingress: a router that exports
sees every flow that enters the network through it, so the rows of the
exporting nodes (all pairs ``(i, ·)`` with ``i`` exporting) are known from
flows. Their contribution ``A x_known`` is subtracted from the link loads (and
from the egress totals), and tomogravity estimates only the remaining pairs,
with a gravity prior built from the residual totals
(:func:`~twin.traffic_matrix.matrix_from_counters` with ``known_bps``).

Examples
--------
>>> import numpy as np
>>> from twinwatch.twin.traffic_matrix.routing_matrix import RoutingMatrix
>>> rm = RoutingMatrix.from_paths(n_nodes=3, n_links=4,
...     path_src=[0, 0, 1, 1, 2, 2], path_dst=[1, 2, 0, 2, 0, 1],
...     path_ptr=[0, 1, 3, 4, 5, 7, 8], path_links=[0, 0, 1, 2, 1, 3, 2, 3])
>>> x = np.array([1e6, 2e6, 3e6, 4e6, 5e6, 6e6])  # pairs (0,1) (0,2) (1,0) (1,2) (2,0) (2,1)
>>> fl = np.zeros((3, 3, 3)); fl[1, 0, 1], fl[1, 0, 2] = 1e6, 2e6  # node 0 exports, all in class 1
>>> flows = TrafficMatrix.build(fl, std_bps=1e4, source=Source.FLOWS, start=0.0, end=300.0)
>>> tm, res = matrix_mixed(flows, np.array([True, False, False]), rm, rm.load_bps(x))
>>> tm.rate_bps[1, 0].tolist(), Source(int(tm.source[1, 0, 2])).name, Source(int(tm.source[1, 1, 0])).name
([0.0, 1000000.0, 2000000.0], 'FLOWS', 'COUNTERS')
"""

from __future__ import annotations

from typing import Literal

import numpy as np

from twinwatch.twin.traffic_matrix.matrix import N_CLASSES, Source, TrafficMatrix, TrafficMatrixError
from twinwatch.twin.traffic_matrix.routing_matrix import RoutingMatrix
from twinwatch.twin.traffic_matrix.tomogravity import (
    DEFAULT_LAMBDA,
    DEFAULT_REL_NOISE,
    TomogravityResult,
    matrix_from_counters,
)

__all__ = ["matrix_mixed"]


def matrix_mixed(
    flows: TrafficMatrix,
    exporters: np.ndarray,
    routing: RoutingMatrix,
    link_bps: np.ndarray,
    *,
    ingress_bps: np.ndarray | None = None,
    egress_bps: np.ndarray | None = None,
    prior: Literal["simple", "fitted"] = "fitted",
    lam: float = DEFAULT_LAMBDA,
    rel_noise: float = DEFAULT_REL_NOISE,
    noise_std_bps: np.ndarray | None = None,
    tos_shares: np.ndarray | None = None,
) -> tuple[TrafficMatrix, TomogravityResult]:
    """Combine the flow matrix (for the pairs whose source exports) with a counter estimate of the rest.

    Parameters
    ----------
    flows
        The window's matrix from :func:`~twin.traffic_matrix.matrix_from_flows` (its window is kept).
    exporters
        ``(N,)`` bool: nodes that export flows (their rows are taken from ``flows`` as they are,
        zeros included).
    routing, link_bps, ingress_bps, egress_bps, prior, lam, rel_noise, noise_std_bps
        As in :func:`~twin.traffic_matrix.matrix_from_counters`.
    tos_shares
        ``(C,)`` class split of the counter-estimated entries; default: the class mix of the
        flow-known traffic (class 0 alone when no flow traffic is known).

    Returns
    -------
    The matrix (known pairs: the flows' per-class rates, std and :attr:`Source.FLOWS`; the others:
    :attr:`Source.COUNTERS` or :attr:`Source.PRIOR`) and the pair-space tomogravity result.
    """
    n = routing.n_nodes
    exp = np.asarray(exporters, dtype=bool)
    if exp.shape != (n,):
        raise TrafficMatrixError(f"exporters: shape {exp.shape}, expected ({n},)")
    if flows.n_nodes != n:
        raise TrafficMatrixError(f"flows: {flows.n_nodes} nodes, routing matrix has {n}")
    src, dst = routing.pairs()
    known = exp[src]
    total = flows.total_bps()
    known_bps = np.where(known, total[src, dst], np.nan)
    if tos_shares is None:
        per_class = flows.rate_bps[:, src[known], dst[known]].sum(axis=1)
        tos_shares = per_class / per_class.sum() if per_class.sum() > 0 else np.eye(N_CLASSES)[0]
    tm, res = matrix_from_counters(
        routing, link_bps, start=flows.start, end=flows.end, ingress_bps=ingress_bps, egress_bps=egress_bps,
        prior=prior, lam=lam, rel_noise=rel_noise, noise_std_bps=noise_std_bps, tos_shares=tos_shares,
        known_bps=known_bps,
    )  # fmt: skip
    rate = np.array(tm.rate_bps)
    std = np.array(tm.std_bps)
    source = np.array(tm.source)
    ks, kd = src[known], dst[known]
    rate[:, ks, kd] = flows.rate_bps[:, ks, kd]
    std[:, ks, kd] = flows.std_bps[:, ks, kd]
    source[:, ks, kd] = Source.FLOWS
    return TrafficMatrix.build(rate, std_bps=std, source=source, start=flows.start, end=flows.end), res
