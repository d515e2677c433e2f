"""A prior matrix (sampled flow records) fitted to the link counters: make-up from the prior, loads from counters."""

from __future__ import annotations

import warnings

import networkx as nx
import numpy as np
import pytest

from twinwatch.twin.routing import compute_routing
from twinwatch.twin.traffic_matrix import (
    N_CLASSES,
    RoutingMatrix,
    Source,
    TrafficMatrix,
    TrafficMatrixError,
    matrix_fitted_to_counters,
)


def _ring_with_chords(n: int, seed: int) -> RoutingMatrix:
    g = nx.connected_watts_strogatz_graph(n, 4, 0.3, seed=seed)
    und = np.array(list(g.edges()))
    edges = np.concatenate([und, und[:, ::-1]])
    return RoutingMatrix.from_routing(compute_routing(n, edges[:, 0], edges[:, 1], np.ones(len(edges))))


def _sampled(rng: np.random.Generator, truth: np.ndarray, keep: float) -> np.ndarray:
    """``(C, N, N)``: the truth's pairs that a coarse sampling saw (a fraction ``keep``), each off by up to 30 %."""
    seen = rng.random(truth.shape[1:]) < keep
    return truth * seen[None] * rng.uniform(0.7, 1.3, truth.shape[1:])[None]


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_every_pair_sends_the_loads_match_the_counters_and_each_pair_keeps_its_classes(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n = 12
    rm = _ring_with_chords(n, seed)
    src, dst = rm.pairs()
    truth = np.zeros((N_CLASSES, n, n))
    pair = rng.lognormal(13.0, 1.0, src.size)
    mix = rng.dirichlet(np.ones(N_CLASSES), src.size).T  # (C, P): each pair its own class split
    truth[:, src, dst] = mix * pair
    counters = rm.load_bps(pair)
    prior = _sampled(rng, truth, keep=0.5)
    tm = matrix_fitted_to_counters(prior, rm, counters, start=0.0, end=10.0)
    assert tm is not None
    total = tm.total_bps()[src, dst]
    seen = prior.sum(axis=0)[src, dst] > 0
    assert (total[~seen] > 0).all()  # the pairs the sampling missed still send
    # the loads move most of the way from the sampled prior's to the counters' (tomogravity trades the fit against
    # the prior: a pair floored at 1 % of the mean is held near it, so not all the way)
    def off(x: np.ndarray) -> float:
        return float(np.abs(rm.load_bps(x) - counters).sum() / counters.sum())
    assert off(total) < 0.15 and off(total) < off(prior.sum(axis=0)[src, dst]) / 3
    # a sampled pair keeps the class split of its records; an unsampled one gets the records' overall split
    sends = total > 0
    got = tm.rate_bps[:, src, dst][:, sends] / total[sends]
    np.testing.assert_allclose(got[:, seen[sends]], mix[:, seen & sends], atol=1e-9)
    overall = prior.sum(axis=(1, 2)) / prior.sum()
    np.testing.assert_allclose(got[:, ~seen[sends]], np.repeat(overall[:, None], (~seen).sum(), axis=1), atol=1e-9)
    assert set(np.unique(tm.source[tm.rate_bps > 0]).tolist()) <= {Source.COUNTERS, Source.PRIOR}
    assert (tm.std_bps >= 0).all() and tm.start == 0.0 and tm.end == 10.0


def test_a_pair_array_prior_goes_to_the_default_class_and_a_zero_floor_keeps_unseen_pairs_silent() -> None:
    rng = np.random.default_rng(7)
    n = 8
    rm = _ring_with_chords(n, 7)
    src, dst = rm.pairs()
    pair = rng.lognormal(13.0, 0.5, src.size)
    prior = np.zeros((n, n))
    prior[src[::2], dst[::2]] = pair[::2]
    tm = matrix_fitted_to_counters(prior, rm, rm.load_bps(pair), start=0.0, end=10.0, floor=0.0, default_class=2)
    assert tm is not None
    assert tm.rate_bps[[0, 1]].sum() == 0.0 and tm.rate_bps[2].sum() > 0
    assert (tm.total_bps()[src[1::2], dst[1::2]] == 0).all()  # no prior, no floor: tomogravity keeps them at 0
    # the same prior as a TrafficMatrix gives the same result
    as_matrix = np.zeros((N_CLASSES, n, n))
    as_matrix[2] = prior
    again = matrix_fitted_to_counters(TrafficMatrix.build(as_matrix, start=0.0, end=10.0), rm, rm.load_bps(pair),
                                      start=0.0, end=10.0, floor=0.0)
    np.testing.assert_allclose(again.rate_bps, tm.rate_bps)
    # a per-class prior with its classes dropped fits like its pair totals, all in the default class
    split = np.zeros((N_CLASSES, n, n))
    split[0], split[1] = 0.25 * prior, 0.75 * prior
    one = matrix_fitted_to_counters(split, rm, rm.load_bps(pair), start=0.0, end=10.0, floor=0.0, default_class=2,
                                    keep_classes=False)
    np.testing.assert_allclose(one.rate_bps, tm.rate_bps)


def test_bad_priors_are_refused_or_give_nothing() -> None:
    rm = _ring_with_chords(6, 3)
    load = np.ones(rm.n_links)
    assert matrix_fitted_to_counters(np.zeros((6, 6)), rm, load, start=0.0, end=1.0) is None
    assert matrix_fitted_to_counters(np.full((6, 6), np.nan), rm, load, start=0.0, end=1.0) is None
    assert matrix_fitted_to_counters(-np.ones((6, 6)), rm, load, start=0.0, end=1.0) is None
    for absurd in (np.inf, 1e300):  # beyond any link: no measurement (and no overflow on the way)
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            assert matrix_fitted_to_counters(np.full((6, 6), absurd), rm, load, start=0.0, end=1.0) is None
    with pytest.raises(TrafficMatrixError, match="prior: shape"):
        matrix_fitted_to_counters(np.ones((5, 5)), rm, load, start=0.0, end=1.0)
    with pytest.raises(TrafficMatrixError, match="default_class"):
        matrix_fitted_to_counters(np.ones((6, 6)), rm, load, start=0.0, end=1.0, default_class=7)
    with pytest.raises(TrafficMatrixError, match="floor"):
        matrix_fitted_to_counters(np.ones((6, 6)), rm, load, start=0.0, end=1.0, floor=float("nan"))
