"""A prior matrix (e.g. from flow records) fitted to the window's link counters: :func:`matrix_fitted_to_counters`.

Sampled flow records tell the *make-up* of the traffic — which pairs talk, in
which ToS class, in what proportions — but at 1 in N packets they miss the
small pairs and carry a sampling error on the others; link counters give
each link's load exactly but not who sends it. The twin needs both: its
expectation of queueing at a given load depends on how the load is made up
(how many flows, of which classes), and a pair absent from a sampled export
still sends. This function starts every pair at the prior's rate (pairs the
prior has at zero at ``floor`` times its mean non-zero pair rate, so the
counters can still give them traffic), lets tomogravity move the rates to fit
the counters, and splits each pair's fitted rate over the classes as the
prior splits it (pairs without prior traffic: as the prior's whole traffic
is split).

One mechanism serves every window of a network with flow export: a window
whose routers have all exported uses its own records as the prior, a later
window the latest records (:class:`twinwatch.stream.flowbuffer.FlowBuffer`),
so both kinds of window give the twin matrices of the same make-up.

Examples
--------
>>> from twinwatch.twin.traffic_matrix.matrix import Source, TrafficMatrix
>>> from twinwatch.twin.traffic_matrix.routing_matrix import RoutingMatrix
>>> rm = RoutingMatrix.from_paths(n_nodes=3, n_links=4,
...     path_src=[0, 0, 1, 1, 2, 2], path_dst=[1, 2, 0, 2, 0, 1],
...     path_ptr=[0, 1, 3, 4, 5, 7, 8], path_links=[0, 0, 1, 2, 1, 3, 2, 3])
>>> prior = np.zeros((3, 3, 3)); prior[2, 0, 1], prior[1, 1, 2] = 2e6, 1e6   # two sampled pairs
>>> tm = matrix_fitted_to_counters(prior, rm, np.array([2.2e6, 1.1e6, 0.1e6, 0.1e6]), start=0.0, end=10.0)
>>> bool((tm.total_bps()[~np.eye(3, dtype=bool)] > 0).all())   # every pair sends
True
>>> round(float(tm.rate_bps[2, 0, 1] / tm.total_bps()[0, 1]), 3)   # (0, 1) keeps its class
1.0
>>> Source(int(tm.source[2, 0, 1])).name
'COUNTERS'
"""

from __future__ import annotations

import numpy as np

from twinwatch.twin.traffic_matrix.matrix import N_CLASSES, Source, TrafficMatrix, TrafficMatrixError
from twinwatch.twin.traffic_matrix.routing_matrix import RoutingMatrix
from twinwatch.twin.traffic_matrix.tomogravity import DEFAULT_LAMBDA, DEFAULT_REL_NOISE, matrix_from_counters

__all__ = ["DEFAULT_PRIOR_FLOOR", "MAX_PRIOR_BPS", "matrix_fitted_to_counters"]

DEFAULT_PRIOR_FLOOR = 0.01
"""Pairs without prior traffic start at this fraction of the prior's mean non-zero pair rate."""

MAX_PRIOR_BPS = 1e15
"""A prior rate above this (1 Pb/s, beyond any link) is no measurement: it counts as no prior traffic."""


def matrix_fitted_to_counters(
    prior: TrafficMatrix | np.ndarray,
    routing: RoutingMatrix,
    link_bps: np.ndarray,
    *,
    start: float,
    end: float,
    floor: float = DEFAULT_PRIOR_FLOOR,
    default_class: int = 0,
    keep_classes: bool = True,
    lam: float = DEFAULT_LAMBDA,
    rel_noise: float = DEFAULT_REL_NOISE,
) -> TrafficMatrix | None:
    """The window's matrix: ``prior``'s pairs fitted to the link loads, each pair split over classes like the prior.

    Parameters
    ----------
    prior
        A :class:`TrafficMatrix`, a ``(C, N, N)`` per-class or an ``(N, N)`` pair array, bit/s (NaN, negative
        and absurd values, above :data:`MAX_PRIOR_BPS`, count as zero). An ``(N, N)`` prior puts every rate in
        ``default_class``.
    routing, link_bps
        The window's ``(E, P)`` routing matrix and ``(E,)`` measured link loads (bit/s, NaN: not measured), as
        :func:`~twin.traffic_matrix.matrix_from_counters` takes them.
    start, end
        The window, epoch seconds.
    floor
        Pairs the prior has at zero start at ``floor`` times its mean non-zero pair rate (0: they stay at zero).
    default_class
        The class of an ``(N, N)`` prior's traffic, and of all traffic when the prior has no class split.
    keep_classes
        ``False``: every fitted rate in ``default_class`` whatever the prior's split (one flow per pair for
        the twin).
    lam, rel_noise
        Tomogravity's regularisation and the counters' relative noise.

    Returns
    -------
    The matrix (entries :attr:`Source.COUNTERS` where counters constrain the pair, :attr:`Source.PRIOR`
    elsewhere; ``std_bps`` the fit's), or ``None`` when the prior has no traffic at all.
    """
    n = routing.n_nodes
    rate = np.asarray(prior.rate_bps if isinstance(prior, TrafficMatrix) else prior, dtype=np.float64)
    if rate.shape == (N_CLASSES, n, n) and not keep_classes:
        rate = np.where((rate > 0) & (rate <= MAX_PRIOR_BPS), rate, 0.0).sum(axis=0)
    if rate.shape == (n, n):
        if not 0 <= default_class < N_CLASSES:
            raise TrafficMatrixError(f"default_class: {default_class} is not in 0..{N_CLASSES - 1}")
        per_class = np.zeros((N_CLASSES, n, n))
        per_class[default_class] = rate
        rate = per_class
    if rate.shape != (N_CLASSES, n, n):
        raise TrafficMatrixError(f"prior: shape {rate.shape}, expected ({n}, {n}) or ({N_CLASSES}, {n}, {n})")
    if not floor >= 0:
        raise TrafficMatrixError(f"floor: {floor!r} must be >= 0")
    rate = np.where((rate > 0) & (rate <= MAX_PRIOR_BPS), rate, 0.0)  # NaN compares false
    src, dst = routing.pairs()
    by_class = rate[:, src, dst]  # (C, P)
    pair = by_class.sum(axis=0)
    if not (pair > 0).any():
        return None
    pair_prior = np.where(pair > 0, pair, floor * float(pair[pair > 0].mean()))
    tm, _ = matrix_from_counters(routing, link_bps, start=start, end=end, prior=pair_prior, lam=lam,
                                 rel_noise=rel_noise)  # every rate in class 0: split below
    overall = by_class.sum(axis=1)
    mix = overall / overall.sum()
    with np.errstate(invalid="ignore", divide="ignore"):
        share = np.where(pair > 0, by_class / pair, mix[:, None])  # (C, P)
    fitted, fitted_std = tm.rate_bps[0, src, dst], tm.std_bps[0, src, dst]
    out_rate = np.zeros((N_CLASSES, n, n))
    out_std = np.zeros((N_CLASSES, n, n))
    out_src = np.zeros((N_CLASSES, n, n), dtype=np.uint8)
    out_rate[:, src, dst] = share * fitted
    out_std[:, src, dst] = share * fitted_std
    out_src[:, src, dst] = np.where(share > 0, tm.source[0, src, dst][None, :], int(Source.NONE))
    return TrafficMatrix.build(out_rate, std_bps=out_std, source=out_src, start=start, end=end)
