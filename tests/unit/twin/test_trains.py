"""The packet-train wait (twinwatch.twin.models._trains) and ``QueueingModel(trains=True)``."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import integrate

from twinwatch.twin.models._trains import (
    _shot_moments,
    node_groups,
    prefix_trie,
    size_bins,
    train_wait,
)
from twinwatch.twin.models.qt import QT_VARIANTS, QueueingModel, packet_queueing_model
from twinwatch.twin.scenario import Flow, Scenario

IMIX = {"sizes_bits": (512.0, 4576.0, 12000.0), "size_probs": (0.58, 0.33, 0.09)}
IMIX_MEAN = 0.58 * 512 + 0.33 * 4576 + 0.09 * 12000
BIG = 1e6


def chain(hops: int, rho_e2e: float, rho_cross: float, cap: float = 1e9, **sizes) -> Scenario:
    """``hops`` equal links; one end-to-end flow, and one-hop cross traffic entering at every hop."""
    sizes = sizes or {"pkt_size_bits": IMIX_MEAN}
    links = [(i, i + 1, cap) for i in range(hops)]
    routes = {(0, hops): list(range(hops + 1))}
    flows = [Flow(0, hops, rho_e2e * cap, **sizes)]
    if rho_cross > 0:
        for i in range(hops):
            routes[(i, i + 1)] = [i, i + 1]
            flows.append(Flow(i, i + 1, rho_cross * cap, **sizes))
    return Scenario.build(hops + 1, links, routes, flows, queue_pkts=BIG)


def attached_groups(fh_queue: np.ndarray, fh_pos: np.ndarray, fh_rate: np.ndarray, fh_hist: np.ndarray,
                    max_len: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """:func:`node_groups` per flow-hop (flows told apart by ``fh_pos`` restarting at 0): CSR ``ptr (FH + 1,)``,
    ``seg_len``, ``rates``, each flow-hop's groups those of its trie node."""
    fh_start = np.flatnonzero(fh_pos == 0)
    fh_len = np.diff(np.append(fh_start, fh_pos.size))
    trie = prefix_trie(fh_start, fh_len, fh_queue)
    ptr, seg_len, rates = node_groups(trie, fh_rate, fh_hist, max_len)
    rows = [np.arange(ptr[v], ptr[v + 1]) for v in trie.node_of]
    counts = np.array([r.size for r in rows])
    rows_all = np.concatenate(rows) if rows else np.zeros(0, dtype=np.int64)
    return np.concatenate([[0], np.cumsum(counts)]), seg_len[rows_all], rates[rows_all]


def test_size_bins_keeps_every_flows_mix_and_the_pooled_mean() -> None:
    rng = np.random.default_rng(3)
    sizes = rng.uniform(400, 12000, size=(40, 5))
    sizes[::7, 3:] = np.nan  # some flows have fewer sizes
    probs = rng.uniform(0.1, 1.0, size=(40, 5))
    rate = rng.uniform(1, 100, size=40)
    atoms, hist = size_bins(sizes, probs, rate, k=6)
    assert atoms.size <= 6 and np.all(np.diff(atoms) > 0)
    np.testing.assert_allclose(hist.sum(axis=1), 1.0)
    p = np.where(np.isnan(sizes), 0.0, probs)
    p /= p.sum(axis=1, keepdims=True)
    pooled_mean = (rate[:, None] * p * np.nan_to_num(sizes)).sum() / rate.sum()
    assert (rate[:, None] * hist * atoms).sum() / rate.sum() == pytest.approx(pooled_mean, rel=1e-9)


def test_attached_groups_on_a_chain() -> None:
    """Hop 3 of a 3-hop flow shares 3 queues with itself and 2 with a flow that joined at hop 2."""
    # two flows: A over queues 10, 11, 12; B over queues 11, 12 (joins A at its second hop)
    fh_queue = np.array([10, 11, 12, 11, 12])
    fh_pos = np.array([0, 1, 2, 0, 1])
    rate = np.array([1.0, 1.0, 1.0, 2.0, 2.0])
    hist = np.ones((5, 1))
    ptr, seg_len, rates = attached_groups(fh_queue, fh_pos, rate, hist, 3)
    groups = {i: dict(zip(seg_len[ptr[i]:ptr[i + 1]].tolist(), rates[ptr[i]:ptr[i + 1], 0].tolist()))
              for i in range(5)}
    assert groups[0] == {} and groups[3] == {}  # first hops: nothing attached
    assert groups[1] == {2: 1.0}  # A's second hop: A itself (B merges there, L = 1)
    assert groups[2] == {3: 1.0, 2: 2.0}  # A's third hop: A (3 shared), B (2 shared)
    assert groups[4] == {2: 3.0}  # B's second hop: A and B share its last 2 queues


def test_attached_groups_match_their_definition_on_random_routes() -> None:
    """Per flow-hop and L ≥ 2: the rate of the streams whose last L queues are its own, less those sharing L + 1."""
    rng = np.random.default_rng(5)
    paths = [rng.choice(6, size=int(rng.integers(1, 6)), replace=False) for _ in range(60)]  # queues 0..5
    fh_queue = np.concatenate(paths)
    fh_pos = np.concatenate([np.arange(p.size) for p in paths])
    rate = rng.integers(1, 5, size=fh_queue.size).astype(float)  # integers: the sums are exact
    hist = rng.integers(0, 3, size=(fh_queue.size, 3)).astype(float)
    ptr, seg_len, rates = attached_groups(fh_queue, fh_pos, rate, hist, int(fh_pos.max()) + 1)
    w = rate[:, None] * hist
    assert seg_len.size > 20 and seg_len.max() >= 3  # the draw has shared segments of several lengths

    def last(j: int, n: int) -> tuple[int, ...] | None:
        return tuple(fh_queue[j - n + 1:j + 1].tolist()) if fh_pos[j] >= n - 1 else None

    def shared(i: int, n: int) -> np.ndarray:
        key = last(i, n)
        if key is None:
            return np.zeros(3)
        return sum((w[j] for j in range(fh_queue.size) if last(j, n) == key), np.zeros(3))

    for i in range(fh_queue.size):
        want = [(n, shared(i, n) - shared(i, n + 1)) for n in range(2, fh_pos[i] + 2)]
        want = [(n, r) for n, r in want if r.sum() > 0]
        got = list(zip(seg_len[ptr[i]:ptr[i + 1]].tolist(), rates[ptr[i]:ptr[i + 1]], strict=True))
        assert [n for n, _ in got] == [n for n, _ in want]
        for (_, g), (_, r) in zip(got, want, strict=True):
            np.testing.assert_array_equal(g, r)


def test_prefix_trie_refuses_flows_beyond_their_flow_hops() -> None:
    with pytest.raises(ValueError, match="within fh_queue"):
        prefix_trie(np.array([0, 2]), np.array([2, 2]), np.array([0, 1, 2]))
    with pytest.raises(ValueError, match="queue ids"):
        prefix_trie(np.array([0]), np.array([2]), np.array([0, -1]))


def _tree_paths(rng: np.random.Generator, n_flows: int) -> list[np.ndarray]:
    """Paths over queues 0..7 that share their beginnings often (a few first hops, short branching walks)."""
    paths = []
    for _ in range(n_flows):
        q = [int(rng.integers(0, 3))]
        for _ in range(int(rng.integers(0, 6))):
            q.append(int((q[-1] * 3 + rng.integers(1, 3)) % 8))
        paths.append(np.array(q))
    return paths


def test_prefix_trie_gives_flow_hops_with_the_same_path_so_far_one_node() -> None:
    rng = np.random.default_rng(7)
    paths = _tree_paths(rng, 80)
    fh_queue = np.concatenate(paths)
    fh_len = np.array([p.size for p in paths])
    fh_start = np.concatenate([[0], np.cumsum(fh_len)[:-1]])
    trie = prefix_trie(fh_start, fh_len, fh_queue)
    prefix = [tuple(p[:k + 1].tolist()) for p in paths for k in range(p.size)]
    assert len(set(prefix)) == trie.parent.size < fh_queue.size  # one node per distinct path so far
    for e in range(fh_queue.size):
        for j in range(fh_queue.size):
            assert (trie.node_of[e] == trie.node_of[j]) == (prefix[e] == prefix[j])
    assert np.all(trie.parent < np.arange(trie.parent.size))
    np.testing.assert_array_equal(trie.queue[trie.node_of], fh_queue)
    np.testing.assert_array_equal(trie.depth[trie.node_of], [k for p in paths for k in range(p.size)])
    alone = prefix_trie(fh_start, fh_len, fh_queue, share=False)
    np.testing.assert_array_equal(alone.node_of, np.arange(fh_queue.size))


def test_train_wait_per_trie_node_is_the_per_flow_figure_bit_for_bit() -> None:
    """Sharing a node's moments between its flow-hops changes nothing: the same figures as every flow-hop on its
    own, to the last bit, with size mixes that differ per flow (some flows use one size only)."""
    rng = np.random.default_rng(11)
    paths = _tree_paths(rng, 120)
    fh_queue = np.concatenate(paths)
    fh_len = np.array([p.size for p in paths])
    fh_start = np.concatenate([[0], np.cumsum(fh_len)[:-1]])
    fh_flow = np.repeat(np.arange(len(paths)), fh_len)
    atoms = np.array([512.0, 4576.0, 12000.0])
    hist = rng.dirichlet(np.ones(3), size=len(paths))
    hist[::5] = [1.0, 0.0, 0.0]
    cap = np.array([1e9, 1e9, 1e10, 1e9, 2.5e9, 1e9, 1e10, 1e9])[fh_queue]
    fh_rate = rng.uniform(1e3, 5e4, fh_queue.size)
    figures = []
    for share in (True, False):
        trie = prefix_trie(fh_start, fh_len, fh_queue, share=share)
        ptr, seg_len, rates = node_groups(trie, fh_rate, hist[fh_flow], int(fh_len.max()))
        figures.append(train_wait(trie, fh_start, fh_len, fh_flow, cap, hist, atoms, ptr, seg_len, rates, 4))
    (m_shared, v_shared), (m_alone, v_alone) = figures
    assert np.count_nonzero(m_shared) > 50  # the draw has train waits to compare
    np.testing.assert_array_equal(m_shared, m_alone)
    np.testing.assert_array_equal(v_shared, v_alone)


def test_shot_moments_against_numerical_integration() -> None:
    rng = np.random.default_rng(1)
    for _ in range(20):
        n = int(rng.integers(1, 7))
        reach = rng.uniform(0.0, 3.0, n)
        rate = rng.uniform(0.05, 2.0, n)

        def hazard(w: float, reach: np.ndarray = reach, rate: np.ndarray = rate) -> float:
            return float(np.sum(rate * np.maximum(reach - w, 0.0)))

        pts = sorted(reach)
        m1 = integrate.quad(lambda w: 1 - np.exp(-hazard(w)), 0, reach.max(), points=pts, limit=200)[0]
        m2 = integrate.quad(lambda w: 2 * w * (1 - np.exp(-hazard(w))), 0, reach.max(), points=pts, limit=200)[0]
        got = _shot_moments(reach, rate, n, np.empty(n, dtype=np.int64))
        assert got == pytest.approx((m1, m2), rel=1e-7, abs=1e-12)


def test_one_packet_size_on_equal_links_adds_nothing() -> None:
    """With one size the reach never grows on equal links, and ψ is 0 already: trains change nothing."""
    sc = chain(6, 0.2, 0.1)
    plain = packet_queueing_model().predict(sc)
    trains = packet_queueing_model(trains=True).predict(sc)
    np.testing.assert_allclose(trains.path_delay_s, plain.path_delay_s, rtol=1e-12)
    np.testing.assert_allclose(trains.path_jitter_s2, plain.path_jitter_s2, rtol=1e-12)


def test_trains_need_per_input_smoothing() -> None:
    with pytest.raises(ValueError, match="trains"):
        QueueingModel(input_smoothing="port", trains=True)
    assert not QueueingModel(**QT_VARIANTS["packet-inputs"]).trains  # the stored priors stay without trains


@pytest.mark.parametrize(("rho_e2e", "rho_cross"), [(0.05, 0.0), (0.05, 0.05), (0.2, 0.1)])
def test_mixed_sizes_wait_grows_along_the_path_as_simulated(rho_e2e: float, rho_cross: float) -> None:
    """IMIX over 6 equal links (packet simulator as truth): without trains queueing theory's end-to-end wait is
    less than half the simulated one; with them it is within 12 %."""
    from twinwatch.twin.sim.engine import SimConfig, simulate

    hops = 6
    sc = chain(hops, rho_e2e, rho_cross, **IMIX)
    sim = simulate(sc, SimConfig(seed=4, min_packets=600_000, max_packets=600_000, target_rse=1.0))
    path = next(i for i, (s, d) in enumerate(zip(sc.path_src, sc.path_dst)) if (s, d) == (0, hops))
    own = hops * IMIX_MEAN / 1e9
    true_wait = sim.labels.path_delay_s[path] - own
    plain = packet_queueing_model().predict(sc).path_delay_s[path] - own
    trains = packet_queueing_model(trains=True).predict(sc).path_delay_s[path] - own
    assert plain < 0.6 * true_wait
    assert trains == pytest.approx(true_wait, rel=0.12)


def test_train_waits_stay_in_the_queue_means() -> None:
    """The queue's occupancy counts the train waits (Little's law over its packets)."""
    sc = chain(4, 0.3, 0.0, **IMIX)
    plain = packet_queueing_model().predict(sc)
    trains = packet_queueing_model(trains=True).predict(sc)
    assert np.all(trains.link_queue_pkts[1:] > plain.link_queue_pkts[1:])
    np.testing.assert_allclose(trains.link_utilization, plain.link_utilization, rtol=1e-12)
