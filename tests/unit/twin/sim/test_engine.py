"""Behaviour of the simulation engine: determinism, routing, scheduling, buffers, bounds."""

from __future__ import annotations

import numpy as np
import pytest

from twinwatch.twin.scenario import Flow, Policy, Scenario, ScenarioError, TimeDist
from twinwatch.twin.sim import SimConfig, SimResult, simulate
from twinwatch.twin.sim.traffic import sample_flow

FAST = SimConfig(seed=5, target_rse=0.0, min_packets=50_000, max_packets=50_000)


def two_class_link(policy: Policy, rates: tuple[float, float], weights: tuple[float, float, float] = (75, 25, 0),
                   queue_pkts: float = 1e9) -> Scenario:
    """Node 0 -> node 1 (capacity 1e4) with ToS 0 from node 0 and ToS 1 relayed through node 2."""
    links = [(0, 1, 1e4), (2, 0, 1e6)]
    routes = {(0, 1): [0, 1], (2, 1): [2, 0, 1]}
    flows = [Flow(0, 1, rates[0], pkt_size_bits=1000.0, tos=0), Flow(2, 1, rates[1], pkt_size_bits=1000.0, tos=1)]
    return Scenario.build(3, links, routes, flows, policy=policy, weights=[weights] * 3, queue_pkts=queue_pkts)


def test_same_seed_same_result_and_different_seed_differs() -> None:
    sc = two_class_link(Policy.FIFO, (3e3, 3e3))
    a, b = simulate(sc, FAST), simulate(sc, FAST)
    c = simulate(sc, SimConfig(seed=6, target_rse=0.0, min_packets=50_000, max_packets=50_000))
    assert isinstance(a, SimResult)
    np.testing.assert_array_equal(a.labels.path_delay_s, b.labels.path_delay_s)
    assert a.packet_hops == b.packet_hops
    assert not np.array_equal(a.labels.path_delay_s, c.labels.path_delay_s)


def test_tandem_cbr_delay_is_transmission_plus_propagation() -> None:
    sc = Scenario.build(3, [(0, 1, 1e4, 0.5), (1, 2, 2e4, 0.25)], {(0, 2): [0, 1, 2]},
                        [Flow(0, 2, 2e3, pkt_size_bits=1000.0, time_dist=TimeDist.CBR)])
    res = simulate(sc, FAST)
    expected = 1000 / 1e4 + 0.5 + 1000 / 2e4 + 0.25
    assert res.labels.path_delay_s[0] == pytest.approx(expected, rel=1e-9)
    assert res.labels.path_jitter_s2[0] == pytest.approx(0.0, abs=1e-12)
    assert res.labels.path_loss_ratio[0] == 0.0
    np.testing.assert_allclose(res.path_delay_percentiles[0], expected, rtol=0.04)
    np.testing.assert_allclose(res.labels.link_utilization, [0.2, 0.1], rtol=0.01)
    np.testing.assert_allclose(res.labels.link_queue_pkts, [1.0, 1.0])  # no waiting: sojourn = service


def test_packet_pool_grows_with_many_packets_in_flight() -> None:
    # 5 packets per time unit and 5000 time units of propagation: ~25,000 packets on the wire
    sc = Scenario.build(2, [(0, 1, 1e4, 5000.0)], {(0, 1): [0, 1]}, [Flow(0, 1, 5e3, pkt_size_bits=1000.0)])
    res = simulate(sc, SimConfig(seed=1, target_rse=0.0, min_packets=60_000, max_packets=60_000))
    assert res.packets_generated == 60_000
    assert res.labels.path_delay_s[0] == pytest.approx(5000.15, rel=1e-3)


def test_strict_priority_high_class_sees_nonpreemptive_priority_delay() -> None:
    r0, r1 = 3e3, 4e3  # loads 0.3 and 0.4, deterministic 0.1-tu service
    res = simulate(two_class_link(Policy.SP, (r0, r1)), SimConfig(seed=2, target_rse=0.005, max_packets=2_000_000))
    s = 0.1
    lam0, lam1 = r0 / 1000, r1 / 1000
    resid = (lam0 + lam1) * s**2 / 2
    w0 = resid / (1 - lam0 * s) + s
    w1 = resid / ((1 - lam0 * s) * (1 - (lam0 + lam1) * s)) + s
    assert res.labels.path_delay_s[0] == pytest.approx(w0, rel=0.02)
    assert res.labels.path_delay_s[1] == pytest.approx(w1 + 1000 / 1e6, rel=0.02)


@pytest.mark.parametrize("policy", [Policy.WFQ, Policy.DRR])
def test_weighted_policies_share_a_saturated_link_by_weight(policy: Policy) -> None:
    sc = two_class_link(policy, (9e3, 9e3), weights=(75, 25, 0), queue_pkts=50)
    res = simulate(sc, SimConfig(seed=3, target_rse=0.0, min_packets=200_000, max_packets=200_000))
    e = sc.link_index()[(0, 1)]
    np.testing.assert_allclose(res.queue_utilization[e, :2], [0.75, 0.25], atol=0.01)
    assert res.labels.link_utilization[e] == pytest.approx(1.0, abs=0.005)


def test_fifo_ignores_tos() -> None:
    res = simulate(two_class_link(Policy.FIFO, (3e3, 4e3)), SimConfig(seed=2, target_rse=0.005))
    extra = 1000 / 1e6  # the relayed flow's first hop
    assert res.labels.path_delay_s[1] - extra == pytest.approx(res.labels.path_delay_s[0], rel=0.03)


def test_buffer_in_bits_equals_the_same_buffer_in_packets_for_equal_sizes() -> None:
    sc_pkts = Scenario.build(2, [(0, 1, 1e4)], {(0, 1): [0, 1]}, [Flow(0, 1, 9e3, pkt_size_bits=1000.0)],
                             queue_pkts=3)
    sc_bits = Scenario.build(2, [(0, 1, 1e4)], {(0, 1): [0, 1]}, [Flow(0, 1, 9e3, pkt_size_bits=1000.0)],
                             queue_pkts=float("nan"), buffer_bits=3000.0)
    a, b = simulate(sc_pkts, FAST), simulate(sc_bits, FAST)
    assert a.labels.path_loss_ratio[0] > 0.01
    np.testing.assert_array_equal(a.labels.path_loss_ratio, b.labels.path_loss_ratio)
    np.testing.assert_array_equal(a.link_drops, b.link_drops)


def test_shared_buffer_bounds_the_port_not_each_queue() -> None:
    sc = two_class_link(Policy.SP, (6e3, 6e3), queue_pkts=2)
    per_queue = simulate(sc, FAST)
    shared = simulate(sc, SimConfig(seed=5, target_rse=0.0, min_packets=50_000, max_packets=50_000,
                                    shared_buffer=True))
    e = sc.link_index()[(0, 1)]
    assert shared.link_drops[e] > per_queue.link_drops[e]


@pytest.mark.parametrize(("mode", "extra"), [(0, 0.0), (1, 1.0), (2, 0.5), (3, 1.0)])
def test_onoff_rate_by_mode(mode: int, extra: float) -> None:
    sc = Scenario.build(2, [(0, 1, 1e4)], {(0, 1): [0, 1]},
                        [Flow(0, 1, 2e3, pkt_size_bits=1000.0, time_dist=TimeDist.ONOFF, on_s=5.0, off_s=5.0)])
    t, sizes = sample_flow(sc, 0, 200_000, seed=4, onoff_mode=mode)
    rate = (t.size - 1) / (t[-1] - t[0])
    # nominal 2 packets per time unit; modes 1 and 3 add one packet per 10-tu cycle, mode 2 about half of one
    assert rate == pytest.approx(2.0 + extra / 10.0, rel=0.02 if mode != 2 else 0.03)
    assert (sizes == 1000.0).all()


def test_generic_size_distribution_is_sampled_with_its_probabilities() -> None:
    sc = Scenario.build(2, [(0, 1, 1e4)], {(0, 1): [0, 1]},
                        [Flow(0, 1, 1e3, sizes_bits=(500.0, 1500.0), size_probs=(0.25, 0.75))])
    _, sizes = sample_flow(sc, 0, 100_000, seed=1)
    assert (sizes == 500.0).mean() == pytest.approx(0.25, abs=0.01)


def test_packet_bound_stops_the_run_unconverged() -> None:
    sc = two_class_link(Policy.FIFO, (3e3, 3e3))
    res = simulate(sc, SimConfig(seed=1, target_rse=1e-6, min_packets=10_000, max_packets=30_000))
    assert res.packets_generated == 30_000
    assert not res.converged
    assert np.all(np.isfinite(res.path_delay_ci))


def test_time_bound() -> None:
    sc = two_class_link(Policy.FIFO, (3e3, 3e3))
    res = simulate(sc, SimConfig(seed=1, target_rse=1e-6, max_time=200.0))
    assert res.sim_time <= 200.0
    assert res.measured_time == pytest.approx(180.0, rel=1e-6)  # warm-up: 10 % of max_time


def test_converges_and_reports_a_ci_consistent_with_the_target() -> None:
    sc = two_class_link(Policy.FIFO, (3e3, 3e3))
    res = simulate(sc, SimConfig(seed=1, target_rse=0.01))
    assert res.converged
    assert np.all(res.path_delay_rse < 0.01)
    assert np.all(res.path_delay_ci < 3 * 0.01 * res.labels.path_delay_s)


def test_scenario_without_traffic_is_an_error() -> None:
    sc = Scenario.build(2, [(0, 1, 1e4)], {(0, 1): [0, 1]}, [Flow(0, 1, 0.0)])
    with pytest.raises(ScenarioError, match="no traffic"):
        simulate(sc)
    with pytest.raises(ValueError, match="n_batches"):
        simulate(two_class_link(Policy.FIFO, (1e3, 1e3)), SimConfig(n_batches=1))


def test_paths_without_traffic_get_nan() -> None:
    sc = Scenario.build(3, [(0, 1, 1e4), (1, 2, 1e4)], {(0, 1): [0, 1], (1, 2): [1, 2]},
                        [Flow(0, 1, 2e3), Flow(1, 2, 0.0)])
    res = simulate(sc, FAST)
    assert np.isfinite(res.labels.path_delay_s[0]) and np.isnan(res.labels.path_delay_s[1])
    assert np.isnan(res.labels.link_queue_pkts[1]) and res.labels.link_utilization[1] == 0.0


def test_simulate_many_is_independent_of_the_number_of_workers() -> None:
    from twinwatch.twin.sim import simulate_many

    sc = two_class_link(Policy.FIFO, (3e3, 3e3))
    cfg = SimConfig(seed=9, target_rse=0.0, min_packets=20_000, max_packets=20_000)
    serial = simulate_many([sc, sc], cfg)
    parallel = simulate_many([sc, sc], cfg, workers=2)
    for a, b in zip(serial, parallel, strict=True):
        np.testing.assert_array_equal(a.labels.path_delay_s, b.labels.path_delay_s)
    assert not np.array_equal(serial[0].labels.path_delay_s, serial[1].labels.path_delay_s)


def test_per_flow_kpis_aggregate_to_the_path() -> None:
    sc = Scenario.build(2, [(0, 1, 1e4)], {(0, 1): [0, 1]},
                        [Flow(0, 1, 4e3, pkt_size_bits=1000.0), Flow(0, 1, 5e3, pkt_size_bits=1000.0)], queue_pkts=4)
    res = simulate(sc, FAST)
    n = res.flow_packets
    assert n.sum() == res.path_packets[0]
    assert np.average(res.flow_delay_s, weights=n) == pytest.approx(res.labels.path_delay_s[0], rel=1e-9)
    assert res.flow_loss_ratio.shape == (2,) and np.all(res.flow_loss_ratio > 0)
    assert np.all(np.isfinite(res.flow_jitter_s2))


def test_sojourn_by_input_splits_the_queue_mean_between_entering_and_transit_packets() -> None:
    """Link 1 carries transit packets (over link 0, same rate, one size) and packets entering at node 1: the
    entering ones find the port's time-average work (M/D/1 at the port's load ρ, PASTA, less the smoothing of the
    transit: W = ρ W̄ + R by work conservation), the transit ones seldom their own input's; the packet-weighted
    mean of the two is the queue's sojourn, and each path's sum of its hops' by-input sojourns is its delay."""
    cap, size = 1e6, 1000.0
    tx = size / cap
    sc = Scenario.build(3, [(0, 1, cap), (1, 2, cap)], {(0, 2): [0, 1, 2], (1, 2): [1, 2]},
                        [Flow(0, 2, 0.3e6, size), Flow(1, 2, 0.05e6, size)], queue_pkts=10_000)
    res = simulate(sc, SimConfig(seed=7, min_packets=300_000, max_packets=300_000, target_rse=1.0))
    hops = sc.path_links  # path (0, 2): links 0, 1; path (1, 2): link 1
    p02, p12 = (int(np.flatnonzero((sc.path_src == s) & (sc.path_dst == d))[0]) for s, d in ((0, 2), (1, 2)))
    h_transit, h_enter = sc.path_ptr[p02] + 1, sc.path_ptr[p12]
    assert hops[h_transit] == hops[h_enter] == 1
    soj, n = res.hop_input_sojourn[:, 0], res.hop_input_packets[:, 0]
    mean = (soj[h_transit] * n[h_transit] + soj[h_enter] * n[h_enter]) / (n[h_transit] + n[h_enter])
    assert mean == pytest.approx(res.queue_sojourn[1, 0], rel=1e-9)
    rho, wbar = 0.35, res.queue_sojourn[1, 0] - tx
    r = rho * tx / 2
    assert soj[h_enter] - tx == pytest.approx(rho * wbar + r, rel=0.1)  # PASTA: the time-average work
    assert soj[h_transit] - tx < 0.5 * (soj[h_enter] - tx)
    for p in (p02, p12):
        own = res.labels.path_delay_s[p]
        assert soj[sc.path_ptr[p]: sc.path_ptr[p + 1]].sum() == pytest.approx(own, rel=1e-4)  # window edges
