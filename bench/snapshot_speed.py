"""Speed of ``WindowSnapshot`` building (telemetry rows → Scenario) on a 200-node network.

A random connected 200-node network (mean degree 3, 10/40/100 Gb/s links, 50
probes), a traffic matrix with about 40,000 non-zero (src, dst, ToS) entries
spread over all pairs, and one window of link counters (``tx_bps`` and
``rx_bps`` for every link). Timed per window, after one warm-up build:

- ``given``: the matrix handed over as it is (the floor: routing placement,
  probes, Scenario, observed arrays, completeness);
- ``flows``: 40,000 flow records aggregated into the matrix first
  (:func:`twinwatch.twin.traffic_matrix.matrix_from_flows`);
- ``cold``: the first window of a link state (the routing of all 39,800
  pairs is computed; later windows of that link state reuse it);
- ``counters``: no matrix and no flow records: the matrix is estimated from
  the window's link counters (tomogravity over the 39,800 pairs; the counters
  are the matrix's own routed loads), after the first such window, which
  builds the solve's plan for the routing (``counters_first``).

BLAS is held to one thread, as the service's pipeline does
(``Pipeline(threads=1)``, which holds numba too).

Wall-clock and process CPU seconds are both reported: on a shared, loaded
machine the CPU time is the fairer figure. Writes JSON.

Usage::

    .venv/bin/python bench/snapshot_speed.py --out bench/notes/snapshot_speed.json
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
from _report import machine_info, write_report

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def network(n_nodes: int, seed: int) -> Any:
    """A random connected network model of ``n_nodes`` devices with 50 probes."""
    from twinwatch.twin.netmodel import model_from_dict
    from twinwatch.twin.topology import random_topology

    rng = np.random.default_rng(seed)
    topo = random_topology(n_nodes, rng=rng, capacities_bps=(10e9, 40e9, 100e9))
    names = [f"r{i}" for i in range(n_nodes)]
    links = [
        {"a": {"device": names[s], "interface": f"et-{d}"}, "b": {"device": names[d], "interface": f"et-{s}"},
         "capacity_bps": c, "delay_s": 0.001}
        for s, d, c in zip(topo.link_src.tolist(), topo.link_dst.tolist(), topo.link_capacity_bps.tolist(), strict=True)
        if s < d
    ]
    probes = [{"src": names[i], "dst": names[(7 * i + 3) % n_nodes], "rate_pps": 10, "size_bytes": 128}
              for i in range(50) if i != (7 * i + 3) % n_nodes]
    doc = {"version": 1, "name": f"random{n_nodes}", "devices": [{"name": x} for x in names], "links": links,
           "probes": probes}
    return model_from_dict(doc, source=f"random{n_nodes}")


def workload(model: Any, n_entries: int, seed: int) -> dict[str, Any]:
    """A traffic matrix with ``n_entries`` non-zero entries, matching flow records, and counter rows."""
    from twinwatch.twin.traffic_matrix import TrafficMatrix

    rng = np.random.default_rng(seed)
    n, e = model.n_nodes, model.n_links
    src, dst = np.divmod(np.arange(n * n), n)
    off = np.flatnonzero(src != dst)
    flat = rng.choice(3 * off.size, size=n_entries, replace=False)
    tos, pair = np.divmod(flat, off.size)
    s, d = src[off[pair]], dst[off[pair]]
    rate = rng.lognormal(np.log(2e6), 1.0, n_entries)
    tm = np.zeros((3, n, n))
    tm[tos, s, d] = rate
    traffic = TrafficMatrix.build(tm, std_bps=0.05 * tm, start=0.0, end=60.0)
    dscp = np.array([46, 34, 0])[tos]  # EF -> class 0, AF41 -> 1, BE -> 2 with the default DSCP table
    flows = {"src_node": s, "dst_node": d, "bytes_count": rate * 60.0 / 8.0, "packets_count": rate * 60.0 / 8000.0,
             "flow_start_s": np.zeros(n_entries), "flow_end_s": np.full(n_entries, 60.0),
             "sampling_rate": np.zeros(n_entries, dtype=np.int64), "dscp": dscp}
    rows = {"entity_kind": np.array(["link"] * (2 * e)), "entity_id": np.array(list(model.link_ids) * 2),
            "kpi": np.array(["tx_bps"] * e + ["rx_bps"] * e), "value": rng.uniform(0, 1e9, 2 * e),
            "ts": np.full(2 * e, 30.0)}
    return {"traffic": traffic, "flows": flows, "rows": rows}


def timed(fn: Any, repeat: int) -> dict[str, float]:
    """Median and min wall / CPU seconds of ``repeat`` calls."""
    wall, cpu = [], []
    for _ in range(repeat):
        t0, c0 = time.perf_counter(), time.process_time()
        fn()
        wall.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
    return {"wall_median_s": float(np.median(wall)), "wall_min_s": float(min(wall)),
            "cpu_median_s": float(np.median(cpu)), "cpu_min_s": float(min(cpu))}


def _main(argv: list[str] | None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--nodes", type=int, default=200)
    ap.add_argument("--entries", type=int, default=40_000, help="non-zero traffic-matrix entries (flows)")
    ap.add_argument("--repeat", type=int, default=9)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--out", type=Path, default=None, help="write the JSON report here")
    args = ap.parse_args(argv)


    from twinwatch.twin.snapshot import SnapshotBuilder
    from twinwatch.twin.traffic_matrix import RoutingMatrix

    model = network(args.nodes, args.seed)
    w = workload(model, args.entries, args.seed)
    builder = SnapshotBuilder(model)
    t0, c0 = time.perf_counter(), time.process_time()
    snap = builder.build(0.0, 60.0, w["rows"], traffic=w["traffic"])
    cold = {"wall_s": time.perf_counter() - t0, "cpu_s": time.process_time() - c0}
    given = timed(lambda: builder.build(0.0, 60.0, w["rows"], traffic=w["traffic"]), args.repeat)
    snap_f = builder.build(0.0, 60.0, w["rows"], flows=w["flows"])
    flows = timed(lambda: builder.build(0.0, 60.0, w["rows"], flows=w["flows"]), args.repeat)
    rm = RoutingMatrix.from_routing(builder.routing(np.ones(model.n_links, dtype=bool)))
    src, dst = rm.pairs()
    loads = rm.load_bps(w["traffic"].total_bps()[src, dst])
    e = model.n_links
    crow = {**w["rows"], "value": np.concatenate([loads, loads])}
    t0, c0 = time.perf_counter(), time.process_time()
    snap_c = builder.build(0.0, 60.0, crow)
    counters_first = {"wall_s": time.perf_counter() - t0, "cpu_s": time.process_time() - c0}
    counters = timed(lambda: builder.build(0.0, 60.0, crow), args.repeat)
    scc = snap_c.scenario
    per_path = np.bincount(scc.flow_path, weights=scc.flow_rate_bps, minlength=scc.n_paths)
    fit = np.bincount(scc.path_links, minlength=e, weights=np.repeat(per_path, np.diff(scc.path_ptr)))
    ok = loads > 0
    sc = snap.scenario
    report = {
        "nodes": model.n_nodes, "links": model.n_links, "probes": model.n_probes, "tm_entries": args.entries,
        "scenario_flows": sc.n_flows, "scenario_paths": sc.n_paths, "probe_flows": int((snap.flow_probe >= 0).sum()),
        "flows_tm_source": snap_f.tm_source, "cold_first_window": cold, "given": given, "flows": flows,
        "counters_tm_source": snap_c.tm_source, "counters_first": counters_first, "counters": counters,
        "counters_fit_median_rel_err": float(np.median(np.abs(fit[ok] - loads[ok]) / loads[ok])),
        "machine": machine_info(),
    }
    write_report(report, args.out)
    return 0


def main(argv: list[str] | None = None) -> int:
    """Run with BLAS held to one thread throughout, as the service holds it while windows close."""
    from twinwatch.twin.blas import single_blas_thread

    with single_blas_thread():
        return _main(argv)


if __name__ == "__main__":
    raise SystemExit(main())
