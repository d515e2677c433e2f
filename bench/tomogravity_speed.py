"""Tomogravity per window: the per-routing plan cache and the BLAS thread count, on shipped networks.

Usage::

    nice -n 5 .venv/bin/python bench/tomogravity_speed.py --networks abilene cogentco \
        --out bench/notes/tomogravity_speed.json

For each network: the routing of all pairs (IGP, ECMP even split, all links up), a random traffic matrix
(log-normal pair rates) and its routed link loads with 1 % noise as the window's ``tx_bps`` counters.
:func:`twinwatch.twin.traffic_matrix.matrix_from_counters` is timed (median of ``--repeat`` calls, wall and
process CPU) in four settings: the plan cached on the routing matrix (what the service does from its second
window of a routing on) or rebuilt every call, each with BLAS at one thread or at OpenBLAS' default (one per
core). Writes JSON.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

import numpy as np
from _report import machine_info, write_report


def _time(fn: Any, repeat: int) -> dict[str, float]:
    wall, cpu = [], []
    for _ in range(repeat):
        t0, c0 = time.perf_counter(), time.process_time()
        fn()
        wall.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
    return {"wall_ms": round(1e3 * float(np.median(wall)), 2), "cpu_ms": round(1e3 * float(np.median(cpu)), 2)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--networks", nargs="+", default=["abilene", "cogentco"])
    ap.add_argument("--repeat", type=int, default=7)
    ap.add_argument("--out", type=Path, default=Path("bench/notes/tomogravity_speed.json"))
    args = ap.parse_args()

    from twinwatch.twin.blas import blas_controller, blas_threads
    from twinwatch.twin.netmodel import load_network
    from twinwatch.twin.snapshot import SnapshotBuilder
    from twinwatch.twin.traffic_matrix import RoutingMatrix, matrix_from_counters

    default_threads = max(x["num_threads"] for x in blas_controller().info() if x["user_api"] == "blas")
    rng = np.random.default_rng(0)
    report: dict[str, Any] = {"blas_default_threads": default_threads, "networks": {}}
    for name in args.networks:
        m = load_network(name)
        routing = SnapshotBuilder(m).routing(np.ones(m.n_links, dtype=bool))
        rm = RoutingMatrix.from_routing(routing)
        x = rng.lognormal(np.log(1e6), 1.0, rm.n_pairs)
        y = rm.load_bps(x) * rng.normal(1.0, 0.01, rm.n_links)

        def cached(rm: RoutingMatrix = rm, y: np.ndarray = y) -> None:
            matrix_from_counters(rm, y, start=0.0, end=10.0)

        def uncached(rm: RoutingMatrix = rm, y: np.ndarray = y) -> None:
            rm.memo.pop("tomogravity_plans", None)
            matrix_from_counters(rm, y, start=0.0, end=10.0)

        cached()  # builds the plan once (first window of a routing)
        res: dict[str, Any] = {"nodes": m.n_nodes, "links": m.n_links, "pairs": rm.n_pairs}
        for threads, label in ((1, "blas_1_thread"), (default_threads, "blas_default")):
            with blas_threads(threads):
                res[label] = {"plan_cached": _time(cached, args.repeat), "plan_rebuilt": _time(uncached, args.repeat)}
        _, tg = matrix_from_counters(rm, y, start=0.0, end=10.0)
        res["solver"], res["rows_used"] = tg.solver, tg.rows_used
        report["networks"][name] = res
        print(json.dumps({name: res}), flush=True)
    report["machine"] = machine_info(note="2-core shared dev box under load (~9 agents); load averages at the end")
    write_report(report, args.out, echo=False, indent=2)


if __name__ == "__main__":
    main()
