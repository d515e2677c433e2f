"""ECMP vs single-path scenarios against the simulator: do the twin's models score ECMP no worse?

For each (topology, seed) it draws one scenario twice with the same random
stream (:func:`twinwatch.twin.sim.scenarios.draw_scenario`, hop-count metrics so that
equal-cost paths are common): once with ``ecmp="none"`` (one path per pair,
ties broken by a jitter) and once with ``ecmp="even"`` (every equal-cost path,
per-hop even split). Same topology, traffic matrix, load (the busiest link at
the same ``rho_max``), flow types and buffers; only the routing differs.
The packet simulator gives the ground truth; the queueing model (``qt``) and
the shipped GNN (``gnn``) are scored on per-path mean delay (MAPE over all
paths of all scenarios, and the per-scenario mean). It also times
:func:`twinwatch.twin.routing.compute_routing` on a 200-node network.

Usage (from the repository root)::

    .venv/bin/python bench/ecmp_vs_single.py --out bench/notes/ecmp_vs_single.json

Timings depend on the machine; the figures in BENCHMARKS.md come from a
2-core shared dev box under load.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from _report import machine_info, write_report  # noqa: E402

from twinwatch.twin.models import get_model  # noqa: E402
from twinwatch.twin.routing import compute_routing  # noqa: E402
from twinwatch.twin.scenario import Scenario  # noqa: E402
from twinwatch.twin.sim import SimConfig, simulate  # noqa: E402
from twinwatch.twin.sim.scenarios import ScenarioParams, draw_scenario  # noqa: E402
from twinwatch.twin.topology import random_topology  # noqa: E402


def _ape(pred: np.ndarray, truth: np.ndarray) -> np.ndarray:
    ok = np.isfinite(pred) & np.isfinite(truth) & (truth > 0)
    return np.abs(pred[ok] - truth[ok]) / truth[ok] * 100.0


def _score(sc: Scenario, truth: np.ndarray, models: dict[str, object]) -> dict[str, object]:
    out: dict[str, object] = {}
    for name, model in models.items():
        t0 = time.perf_counter()
        pr = model.predict(sc)  # type: ignore[attr-defined]
        ape = _ape(pr.path_delay_s, truth)
        out[name] = {"delay_mape": float(ape.mean()), "ape": ape.tolist(), "s": time.perf_counter() - t0}
    return out


def routing_speed(n: int = 200, repeats: int = 5) -> dict[str, object]:
    """Median wall time of all-pairs routing on an ``n``-node random network, per split and metric kind."""
    topo = random_topology(n, degree=4.0, rng=np.random.default_rng(0))
    rows = {}
    for metric_kind, metric in (("hops", np.ones(topo.n_links)),
                                ("random 1..10", np.random.default_rng(1).integers(1, 11, topo.n_links) * 1.0)):
        for split in ("none", "even"):
            ts = []
            for _ in range(repeats):
                t0 = time.perf_counter()
                r = compute_routing(n, topo.link_src, topo.link_dst, metric, split=split)
                ts.append(time.perf_counter() - t0)
            rows[f"{metric_kind}, {split}"] = {
                "median_ms": float(np.median(ts) * 1e3), "pairs": r.n_pairs, "paths": r.n_paths,
                "truncated_pairs": r.truncated,
            }
    return {"nodes": n, "links": int(topo.n_links), "results": rows}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", default="10,14,18", help="comma-separated node counts of the random topologies")
    ap.add_argument("--seeds", type=int, default=4, help="scenarios per size")
    ap.add_argument("--load", default="0.3,0.8", help="range of the busiest link's utilisation")
    ap.add_argument("--target-rse", type=float, default=0.02, help="simulator stopping rule (relative std error)")
    ap.add_argument("--max-packets", type=int, default=2_000_000)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--out", default=str(REPO / "bench/notes/ecmp_vs_single.json"))
    args = ap.parse_args()
    import torch

    torch.set_num_threads(args.threads)
    lo, hi = (float(x) for x in args.load.split(","))
    models = {"qt": get_model("qt"), "gnn": get_model("gnn")}
    cfg = SimConfig(target_rse=args.target_rse, max_packets=args.max_packets)
    rows = []
    pooled: dict[str, dict[str, list[float]]] = {v: {m: [] for m in models} for v in ("single", "ecmp")}
    for n in (int(x) for x in args.sizes.split(",")):
        for seed in range(args.seeds):
            topo = random_topology(n, degree=3.0, rng=np.random.default_rng(1000 * n + seed), name=f"rand{n}-{seed}")
            row: dict[str, object] = {"topology": topo.name, "nodes": n, "links": topo.n_links}
            for variant, ecmp in (("single", "none"), ("ecmp", "even")):
                params = ScenarioParams(routing="hops", load=(lo, hi), ecmp=ecmp)
                sc = draw_scenario(topo, params, np.random.default_rng(seed))
                t0 = time.perf_counter()
                res = simulate(sc, replace(cfg, seed=seed))
                sim_s = time.perf_counter() - t0
                truth = res.labels.path_delay_s
                pairs = np.unique(sc.path_src * n + sc.path_dst).size
                scores = _score(sc, truth, models)
                for m in models:
                    pooled[variant][m].extend(scores[m].pop("ape"))  # type: ignore[union-attr]
                row[variant] = {"paths": sc.n_paths, "pairs": int(pairs), "flows": sc.n_flows,
                                "rho_max": sc.meta["rho_max"], "sim_s": sim_s, **scores}
                print(f"{topo.name:10s} {variant:6s} paths={sc.n_paths:4d} pairs={pairs:4d} "
                      + " ".join(f"{m}={scores[m]['delay_mape']:.2f}%" for m in models), flush=True)
            rows.append(row)
    summary: dict[str, dict[str, object]] = {
        v: {m: {"delay_mape_pooled": float(np.mean(pooled[v][m])),
                "delay_mape_mean_of_scenarios": float(np.mean([r[v][m]["delay_mape"] for r in rows])),
                "paths": len(pooled[v][m])} for m in models}
        for v in ("single", "ecmp")
    }
    for m in models:  # paired per-scenario difference, ECMP minus single (same topology, traffic and load)
        diff = np.array([r["ecmp"][m]["delay_mape"] - r["single"][m]["delay_mape"] for r in rows])
        summary.setdefault("ecmp_minus_single", {})[m] = {
            "mean_pp": float(diff.mean()),
            "stderr_pp": float(diff.std(ddof=1) / np.sqrt(diff.size)) if diff.size > 1 else float("nan"),
            "scenarios_ecmp_better": int((diff < 0).sum()), "scenarios": int(diff.size),
        }
    report = {"machine": machine_info(note="2-core shared CPU (contended)"), "threads": args.threads,
              "args": vars(args),
              "summary": summary, "scenarios": rows, "routing_speed": routing_speed()}
    write_report(report, Path(args.out), echo=False, nan_as_null=True)  # stderr_pp is NaN for one scenario
    print(json.dumps({"summary": summary, "routing_speed": report["routing_speed"]}, indent=1))


if __name__ == "__main__":
    main()
