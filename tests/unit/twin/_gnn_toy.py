"""Tiny scenarios and labelled examples for the GNN tests (no shared data needed)."""

from __future__ import annotations

import numpy as np

from twinwatch.twin.features import scenario_graph
from twinwatch.twin.scenario import Flow, Scenario, TimeDist


def ring(n: int = 5, *, seed: int = 0, policy: str = "FIFO", cap: float = 1e4, scale: float = 1.0,
         buffer_bits: float | None = None) -> Scenario:
    """A bidirectional ring of ``n`` nodes, shortest-way routes between all pairs, one flow per pair.

    ``scale`` multiplies capacities and rates and divides ON/OFF times (the same network in a time unit
    ``scale`` times shorter).
    """
    rng = np.random.default_rng(seed)
    links = [(i, (i + 1) % n, cap * scale * (1 + i % 2)) for i in range(n)]
    links += [((i + 1) % n, i, cap * scale) for i in range(n)]
    routes, flows = {}, []
    for s in range(n):
        for d in range(n):
            if s == d:
                continue
            fwd = (d - s) % n
            step = 1 if fwd <= n // 2 else -1
            nodes = [s]
            while nodes[-1] != d:
                nodes.append((nodes[-1] + step) % n)
            routes[(s, d)] = nodes
            flows.append(Flow(s, d, float(rng.uniform(200, 1500)) * scale, float(rng.choice([500.0, 1000.0])),
                              time_dist=TimeDist(int(rng.integers(0, 3))), on_s=5.0 / scale, off_s=5.0 / scale,
                              tos=int(rng.integers(0, 3))))
    kw = {} if buffer_bits is None else {"buffer_bits": buffer_bits, "queue_pkts": float("nan")}
    return Scenario.build(n, links, routes, flows, policy=policy, weights=[[60.0, 30.0, 10.0]] * n, time_unit="tu",
                          **kw)


def mm1_labels(sc: Scenario) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Synthetic path labels: M/M/1 sojourn per hop (delay), its square (jitter), no loss."""
    load = sc.link_load_bps() / sc.link_capacity_bps
    size = sc.flow_pkt_size_bits[np.argsort(sc.flow_path)]
    per_hop = (size[sc.hop_path] / sc.link_capacity_bps[sc.path_links]) / (1 - np.minimum(load[sc.path_links], 0.95))
    delay = np.bincount(sc.hop_path, weights=per_hop, minlength=sc.n_paths)
    jitter = np.bincount(sc.hop_path, weights=per_hop**2, minlength=sc.n_paths)
    return delay, jitter, np.zeros(sc.n_paths)


def examples(n: int = 4, seed: int = 0, *, qt_prior: bool = False) -> list:
    """``n`` labelled :class:`~twin.train.Example` objects on rings of 4–6 nodes (``qt_prior``: graphs for the
    hybrid GNN)."""
    from twinwatch.twin.train import Example

    out = []
    for k in range(n):
        sc = ring(4 + k % 3, seed=seed + k, policy=("FIFO", "SP", "WFQ")[k % 3])
        d, j, lo = mm1_labels(sc)
        out.append(Example(graph=scenario_graph(sc, qt_prior=qt_prior), delay=d, jitter=j, loss=lo,
                           link_util=np.full(sc.n_links, np.nan), link_occ=np.full(sc.n_links, np.nan),
                           source=f"toy:{k}", n_nodes=sc.n_nodes))
    return out
