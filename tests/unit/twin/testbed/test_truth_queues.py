"""The testbed's hop-composed ground truth uses the queue a class is in at each port, as the simulator does.

A FIFO port puts every ToS class in queue 0 (``twin/sim/engine.py``); the composition of a pair with too few
packets of its own must then take queue 0's sojourn for every class. It took queue ``tos``, empty at a FIFO port,
and so only the pair's own transmission time: a constant that ignored all queueing (found on the FIFO networks
imported from Topology Zoo in session 26, ``bench/notes/detect_eval.md``).
"""

from __future__ import annotations

import numpy as np

from twinwatch.twin.scenario import Flow, Policy, Scenario
from twinwatch.twin.testbed.truth import simulate_window, window_truth

CAP = 10e6  # bits/s of the line
PKT = 8000.0  # bits per packet


def _line(policy: Policy) -> Scenario:
    # a 0.6-load ToS-0 stream and a ToS-1 trickle (a few packets in the window) on the same two-hop path
    flows = [Flow(0, 2, 0.6 * CAP, pkt_size_bits=PKT, tos=0), Flow(0, 2, 2e3, pkt_size_bits=PKT, tos=1)]
    return Scenario.build(3, [(0, 1, CAP), (1, 2, CAP), (1, 0, CAP), (2, 1, CAP)], {(0, 2): [0, 1, 2]}, flows,
                          policy=policy, weights=None if policy == Policy.FIFO else [[60.0, 30.0, 10.0]] * 3,
                          queue_pkts=1000.0)


def _rows(sc: Scenario) -> dict[int, tuple[float, int]]:
    res = simulate_window(sc, 3, 20_000)
    t = window_truth(sc, res, flow_probe=np.full(sc.n_flows, -1), n_probes=0)
    return {int(k): (float(d), int(m)) for k, d, m in zip(t.pair_tos, t.pair_delay_s, t.pair_method, strict=True)}


def test_a_class_at_a_fifo_port_is_composed_from_queue_zero() -> None:
    rows = _rows(_line(Policy.FIFO))
    tx = 2 * PKT / CAP  # two hops' transmission, no wait
    delay0, _ = rows[0]
    delay1, method1 = rows[1]
    assert method1 == 1  # the trickle has too few packets of its own: composed from the hops
    assert delay0 > 1.2 * tx  # the 0.6-load queue makes the stream wait (M/D/1: 0.6 ms on the first hop)
    assert delay1 > 1.2 * tx  # ... and the trickle in the same FIFO queue waits as much
    assert abs(delay1 - delay0) <= 0.1 * delay0


def test_a_class_with_its_own_queue_keeps_it() -> None:
    rows = _rows(_line(Policy.WFQ))
    delay0, _ = rows[0]
    delay1, method1 = rows[1]
    assert method1 == 1
    assert delay1 < delay0  # its own, nearly empty WFQ queue: far less wait than the loaded class
