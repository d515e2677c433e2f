"""Benchmarks of the packet-level simulator: packet-hops per second on one core.

Workloads:

- ``nsfnet``: the bundled NSFNet scenario (``twin/data/nsfnet.yaml``: 14 nodes,
  42 directed 10 Gb/s links with propagation delays, 182 paths, 546 flows, WFQ
  60/30/10, 1000-packet queues, busiest link at 60 %), 2,000,000 generated
  packets, no early stop.
- ``single-link``: M/M/1 at ρ = 0.7 (one queue, no routing), 2,000,000 packets.

A packet-hop is one completed transmission on one link. Throughput is given per
wall-clock second and per CPU second of the process (the latter is what the
"per core" target means and is robust to other load on a shared machine).

Run as benchmarks: ``pytest -m bench --benchmark-enable tests/bench/test_bench_sim.py``;
or as a script that prints JSON: ``python tests/bench/test_bench_sim.py [--packets N] [--out FILE]``.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
from pathlib import Path

import pytest

from twinwatch.twin.scenario import Flow, Scenario
from twinwatch.twin.sim import SimConfig, SimResult, simulate

REPO = Path(__file__).resolve().parents[2]
NSFNET = REPO / "twin" / "data" / "nsfnet.yaml"


def nsfnet() -> Scenario:
    """The bundled NSFNet scenario."""
    from twinwatch.twin.datasets.scenario_yaml import load_scenario_yaml

    return load_scenario_yaml(NSFNET)


def single_link() -> Scenario:
    """M/M/1 at ρ = 0.7 (exponential packet sizes, kernel size code 4)."""
    sc = Scenario.build(2, [(0, 1, 1e4)], {(0, 1): [0, 1]}, [Flow(0, 1, 7e3, pkt_size_bits=1000.0)], queue_pkts=1e9)
    sc.flow_size_dist[:] = 4
    return sc


def run(sc: Scenario, packets: int, seed: int = 1) -> SimResult:
    """Simulate exactly ``packets`` generated packets (no early stop)."""
    return simulate(sc, SimConfig(seed=seed, target_rse=0.0, min_packets=packets, max_packets=packets))


def _row(name: str, sc: Scenario, res: SimResult) -> dict[str, object]:
    return {
        "workload": name, "nodes": sc.n_nodes, "links": sc.n_links, "paths": sc.n_paths, "flows": sc.n_flows,
        "packets": res.packets_generated, "packet_hops": res.packet_hops,
        "wall_s": round(res.wall_time_s, 3), "cpu_s": round(res.cpu_time_s, 3),
        "hops_per_s_wall": round(res.hops_per_second), "hops_per_s_cpu": round(res.hops_per_cpu_second),
    }


@pytest.mark.bench
@pytest.mark.parametrize("name", ["nsfnet", "single-link"])
def test_bench_sim(benchmark: pytest.FixtureRequest, name: str) -> None:
    sc = nsfnet() if name == "nsfnet" else single_link()
    run(sc, 1000)  # compile / load the numba cache outside the timing
    res = benchmark.pedantic(run, args=(sc, 1_000_000), rounds=3, iterations=1)
    benchmark.extra_info.update(_row(name, sc, res))
    assert res.hops_per_cpu_second >= 1e6


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="simulator throughput (packet-hops per second)")
    ap.add_argument("--packets", type=int, default=2_000_000)
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args(argv)
    rows = []
    for name, make in (("nsfnet", nsfnet), ("single-link", single_link)):
        sc = make()
        run(sc, 1000)
        rows.append(_row(name, sc, run(sc, args.packets)))
    out = {"machine": {"python": sys.version.split()[0], "platform": platform.platform(),
                       "processor": platform.processor() or platform.machine()}, "results": rows}
    text = json.dumps(out, indent=1)
    print(text)
    if args.out:
        args.out.write_text(text + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
