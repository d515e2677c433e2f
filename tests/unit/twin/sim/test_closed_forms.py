"""Single-link checks of the simulator against queueing theory.

M/M/1 and M/D/1 mean delay (sojourn time, Pollaczek–Khinchine for M/D/1) at
ρ = 0.3, 0.5, 0.7 within 2 % and at ρ = 0.9 within 5 %; M/M/1/K loss within 5 %
relative. Fixed seeds, so the outcomes are reproducible.
"""

from __future__ import annotations

import numpy as np
import pytest

from twinwatch.twin.scenario import Flow, Scenario
from twinwatch.twin.sim import SimConfig, simulate

CAP = 1e4  # bits per time unit
SIZE = 1000.0  # mean packet size, bits
MU = CAP / SIZE  # service rate, packets per time unit


def single_link(rho: float, *, exponential_sizes: bool, queue_pkts: float = 1e9) -> Scenario:
    """One link 0->1 fed by one Poisson flow at load ``rho``."""
    sc = Scenario.build(2, [(0, 1, CAP)], {(0, 1): [0, 1]},
                        [Flow(0, 1, rho * CAP, pkt_size_bits=SIZE)], queue_pkts=queue_pkts)
    if exponential_sizes:
        sc.flow_size_dist[:] = 4  # exponential sizes with mean flow_sizes_bits[:, 0] (kernel code 4)
    return sc


@pytest.mark.parametrize(("rho", "tol"), [(0.3, 0.02), (0.5, 0.02), (0.7, 0.02), (0.9, 0.05)])
def test_mm1_mean_delay(rho: float, tol: float) -> None:
    res = simulate(single_link(rho, exponential_sizes=True),
                   SimConfig(seed=11, target_rse=0.004, max_packets=4_000_000))
    expected = 1.0 / (MU - rho * MU)
    assert res.labels.path_delay_s[0] == pytest.approx(expected, rel=tol)
    assert res.labels.link_utilization[0] == pytest.approx(rho, rel=0.01)
    # sojourn time of M/M/1 is exponential: variance = mean², median = ln 2 × mean
    assert res.labels.path_jitter_s2[0] == pytest.approx(expected**2, rel=3 * tol)
    assert res.path_delay_percentiles[0, 2] == pytest.approx(np.log(2) * expected, rel=0.05)


@pytest.mark.parametrize(("rho", "tol"), [(0.3, 0.02), (0.5, 0.02), (0.7, 0.02), (0.9, 0.05)])
def test_md1_mean_delay_pollaczek_khinchine(rho: float, tol: float) -> None:
    res = simulate(single_link(rho, exponential_sizes=False),
                   SimConfig(seed=12, target_rse=0.004, max_packets=4_000_000))
    expected = 1.0 / MU + rho / (2.0 * MU * (1.0 - rho))
    assert res.labels.path_delay_s[0] == pytest.approx(expected, rel=tol)
    # Little's law at the port: L = λ W
    assert res.link_little_l[0] == pytest.approx(rho * MU * res.labels.path_delay_s[0], rel=0.02)


@pytest.mark.parametrize("rho", [0.5, 0.9, 1.2])
def test_mm1k_loss(rho: float) -> None:
    k = 5  # system capacity, the packet in service included (the default)
    res = simulate(single_link(rho, exponential_sizes=True, queue_pkts=k),
                   SimConfig(seed=13, target_rse=0.0, min_packets=1_500_000, max_packets=1_500_000))
    expected = (1 - rho) * rho**k / (1 - rho ** (k + 1))
    assert res.labels.path_loss_ratio[0] == pytest.approx(expected, rel=0.05)
    assert res.labels.link_loss_ratio[0] == pytest.approx(expected, rel=0.05)


def test_mm1k_not_counting_the_packet_in_service() -> None:
    k = 5  # without count_in_service the bound is the waiting room: 4 waiting + 1 in service
    res = simulate(single_link(0.8, exponential_sizes=True, queue_pkts=k - 1),
                   SimConfig(seed=14, target_rse=0.0, min_packets=1_000_000, max_packets=1_000_000,
                             count_in_service=False))
    expected = (1 - 0.8) * 0.8**k / (1 - 0.8 ** (k + 1))
    assert res.labels.path_loss_ratio[0] == pytest.approx(expected, rel=0.05)
