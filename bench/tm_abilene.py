"""Benchmark: traffic-matrix estimation from link counters on the real Abilene matrices.

For every matrix of ``../shared/data/traffic/abilene/``:

1. the truth ``x`` is the matrix with its diagonal dropped (traffic that enters
   and leaves at the same PoP never crosses the backbone; the twin's matrices
   have a zero diagonal by definition);
2. the 12-node topology ``abilene.dot`` (30 directed backbone links; the host
   links are the access links) is routed by ``twinwatch.twin.routing.compute_routing`` on
   hop count — every link's ``cost`` in the file is 0, so there are no IGP
   weights to use — with ECMP split evenly at each hop (``split="even"``);
   matrix row/column ``i`` is switch ``s{i+1}`` (host ``h{i+1}``);
3. the counters are the backbone link loads ``y = A x`` and the node ingress
   and egress totals (row and column sums of ``x``: the access-link counters),
   optionally with multiplicative Gaussian noise of 1 % or 5 % on every counter;
4. the matrix is estimated back by (a) simple gravity from the (noisy) totals,
   (a') fitted gravity (IPF to the totals, zero diagonal), (b) tomogravity from
   the simple prior (the paper's method), (b') tomogravity from the fitted prior,
   with ``rel_noise`` set to the injected noise level (1 % when there is none).

Errors, as in Zhang et al. (SIGMETRICS 2003): over the *large* entries (the
largest entries that together carry 75 % of the traffic), the mean relative
error ``mean |x̂ - x| / x`` and the root mean squared relative error; averaged
over the matrices. ``coverage_2std``: fraction of the large entries with
``|x̂ - x| <= 2 std`` (tomogravity's uncertainty; Gaussian would give 95 %).

Two files: ``abilene_5min_bps.txt`` (36 five-minute matrices, bit/s) and
``abilene_hourly.txt`` (200 hourly matrices, unit not documented; relative errors
do not depend on it). The script reports the numerical rank of each file's
matrices: a matrix that is exactly an outer product (rank 1) *is* a gravity
model, and gravity recovers it without error.

Usage::

    .venv/bin/python bench/tm_abilene.py --out bench/notes/tm_abilene.json
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # one BLAS thread: the dev box is shared (set before numpy)

import networkx as nx
import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from twinwatch.twin.routing import compute_routing  # noqa: E402
from twinwatch.twin.traffic_matrix import (  # noqa: E402
    RoutingMatrix,
    gravity_prior,
    matrix_from_counters,
    matrix_from_flows,
)
from twinwatch.twin.traffic_matrix.tomogravity import DEFAULT_LAMBDA  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))  # bench/, also when loaded by a test
from _report import machine_info, write_report  # noqa: E402

DATA = REPO.parent / "shared" / "data" / "traffic" / "abilene"
N = 12
_EDGE = re.compile(r"^\s*s(\d+)\s*->\s*s(\d+)\s*\[")


def abilene_routing(dot: Path) -> tuple[RoutingMatrix, list[tuple[int, int]]]:
    """Hop-count per-hop-ECMP routing matrix of the switch-to-switch links of ``abilene.dot`` (s1..s12 → 0..11)."""
    links = []
    for line in dot.read_text().splitlines():
        m = _EDGE.match(line)
        if m:
            links.append((int(m.group(1)) - 1, int(m.group(2)) - 1))
    if len(links) != 30 or len({u for u, _ in links} | {v for _, v in links}) != N:
        raise SystemExit(f"{dot}: expected 30 switch links over 12 switches, found {len(links)}")
    e = np.array(links)
    routing = compute_routing(N, e[:, 0], e[:, 1], np.ones(len(links)), split="even")
    return RoutingMatrix.from_routing(routing), links


def _large(x: np.ndarray, frac: float = 0.75) -> np.ndarray:
    """Indices of the largest entries that together carry ``frac`` of the total."""
    order = np.argsort(x)[::-1]
    csum = np.cumsum(x[order])
    k = int(np.searchsorted(csum, frac * csum[-1])) + 1
    return order[:k]


def _errors(est: np.ndarray, x: np.ndarray, big: np.ndarray) -> tuple[float, float]:
    rel = (est[big] - x[big]) / x[big]
    return float(np.mean(np.abs(rel))), float(np.sqrt(np.mean(rel**2)))


def run_file(path: Path, rm: RoutingMatrix, noises: list[float], lams: list[float], seed: int) -> dict[str, Any]:
    mats = np.loadtxt(path)
    if mats.ndim != 2 or mats.shape[1] != N * N:
        raise SystemExit(f"{path}: shape {mats.shape}, expected (T, 144) row-major 12x12 matrices")
    src, dst = rm.pairs()
    sv = np.array([np.linalg.svd(m.reshape(N, N), compute_uv=False) for m in mats])
    out: dict[str, Any] = {
        "file": path.name,
        "matrices": int(mats.shape[0]),
        "second_singular_value_ratio_max": float((sv[:, 1] / sv[:, 0]).max()),
        "diagonal_share_mean": float(np.mean([np.trace(m.reshape(N, N)) / m.sum() for m in mats])),
        "results": [],
    }
    for noise in noises:
        rel_noise = noise if noise > 0 else 0.01
        for lam in lams:
            rng = np.random.default_rng(seed)  # the same noisy counters for every λ: paired comparisons
            acc: dict[str, list[tuple[float, float]]] = {k: [] for k in ("gravity", "gravity_fitted", "tomogravity",
                                                                         "tomogravity_fitted")}  # fmt: skip
            cover, secs, large_n = [], [], []
            for m in mats:
                x = m.reshape(N, N)[src, dst]
                big = _large(x)
                large_n.append(big.size)
                y = rm.load_bps(x)
                ing = np.bincount(src, weights=x, minlength=N)
                egr = np.bincount(dst, weights=x, minlength=N)
                if noise > 0:
                    y = y * (1 + noise * rng.standard_normal(y.shape))
                    ing = np.clip(ing * (1 + noise * rng.standard_normal(N)), 0, None)
                    egr = np.clip(egr * (1 + noise * rng.standard_normal(N)), 0, None)
                for meth in ("simple", "fitted"):
                    g = gravity_prior(ing, egr, method=meth)[src, dst]
                    t0 = time.perf_counter()
                    _, res = matrix_from_counters(rm, y, start=0.0, end=300.0, ingress_bps=ing, egress_bps=egr,
                                                  prior=meth, lam=lam, rel_noise=rel_noise)  # fmt: skip
                    secs.append(time.perf_counter() - t0)
                    sfx = "" if meth == "simple" else "_fitted"
                    acc["gravity" + sfx].append(_errors(g, x, big))
                    acc["tomogravity" + sfx].append(_errors(res.rate_bps, x, big))
                    if meth == "simple":
                        cover.append(float(np.mean(np.abs(res.rate_bps[big] - x[big]) <= 2 * res.std_bps[big])))
            row: dict[str, Any] = {"noise": noise, "rel_noise": rel_noise, "lam": lam,
                                   "large_entries_mean": float(np.mean(large_n))}  # fmt: skip
            for k, v in acc.items():
                arr = np.array(v)
                row[k] = {"mre_large": float(arr[:, 0].mean()), "rmsre_large": float(arr[:, 1].mean())}
            row["tomogravity_coverage_2std"] = float(np.mean(cover))
            row["solve_seconds_median"] = float(np.median(secs))
            out["results"].append(row)
            print(f"{path.name} noise={noise:.0%} lam={lam}: " + ", ".join(
                f"{k} {row[k]['mre_large']:.3f}/{row[k]['rmsre_large']:.3f}" for k in acc
            ) + f", coverage {row['tomogravity_coverage_2std']:.2f}", flush=True)  # fmt: skip
    return out


def _watts_strogatz_routing(n: int, seed: int) -> RoutingMatrix:
    """Hop-count per-hop-ECMP routing on a connected Watts-Strogatz graph (k = 6): ``3 n`` links each way."""
    und = np.array(list(nx.connected_watts_strogatz_graph(n, 6, 0.3, seed=seed).edges()))
    edges = np.concatenate([und, und[:, ::-1]])
    return RoutingMatrix.from_routing(compute_routing(n, edges[:, 0], edges[:, 1], np.ones(len(edges)), split="even"))


def run_scale(n: int, repeats: int, seed: int) -> dict[str, Any]:
    """Wall time of the counter estimate on an ``n``-node network and of 100k flow records per window."""
    rng = np.random.default_rng(seed)
    rm = _watts_strogatz_routing(n, seed)
    src, dst = rm.pairs()
    x = rng.lognormal(0, 1, n)[src] * rng.lognormal(0, 1, n)[dst] * rng.lognormal(0, 0.5, rm.n_pairs) * 1e6
    ing = np.bincount(src, weights=x, minlength=n)
    egr = np.bincount(dst, weights=x, minlength=n)
    out: dict[str, Any] = {"nodes": n, "pairs": rm.n_pairs, "links": rm.n_links, "counters": []}
    for noise in (0.0, 0.01):
        y = rm.load_bps(x) * (1 + noise * rng.standard_normal(rm.n_links))
        times, cpu, solver = [], [], ""
        for _ in range(repeats):
            t0, c0 = time.perf_counter(), time.process_time()
            _, res = matrix_from_counters(rm, y, start=0.0, end=300.0, ingress_bps=ing, egress_bps=egr,
                                          rel_noise=max(noise, 0.01))  # fmt: skip
            times.append(time.perf_counter() - t0)
            cpu.append(time.process_time() - c0)
            solver = res.solver
        out["counters"].append(
            {
                "noise": noise,
                "solver": solver,
                "seconds_median": float(np.median(times)),
                "seconds_min": float(np.min(times)),
                "cpu_seconds_median": float(np.median(cpu)),
            }
        )
        print(f"{n} nodes, noise {noise:.0%}: {np.median(times):.2f} s wall, {np.median(cpu):.2f} s CPU ({solver})",
              flush=True)  # fmt: skip
    r = 100_000
    rec = {
        "src_node": rng.integers(-1, n, r), "dst_node": rng.integers(0, n, r),
        "bytes_count": rng.uniform(64, 1500, r), "packets_count": np.ones(r),
        "flow_start_s": rng.uniform(-30, 300, r), "sampling_rate": rng.choice([0, 1000], r),
        "dscp": rng.integers(0, 64, r),
    }  # fmt: skip
    rec["flow_end_s"] = rec["flow_start_s"] + rng.exponential(10, r)
    times, cpu = [], []
    for _ in range(max(repeats, 20)):
        t0, c0 = time.perf_counter(), time.process_time()
        matrix_from_flows(n_nodes=n, start=0.0, end=300.0, **rec)
        times.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
    out["flows_100k_records_seconds_median"] = float(np.median(times))
    out["flows_100k_records_cpu_seconds_median"] = float(np.median(cpu))
    print(f"100k flow records, {n} nodes: {np.median(times) * 1e3:.1f} ms wall, {np.median(cpu) * 1e3:.1f} ms CPU",
          flush=True)  # fmt: skip
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", type=Path, default=DATA, help="folder with abilene.dot and the matrix files")
    ap.add_argument("--out", type=Path, default=REPO / "bench" / "notes" / "tm_abilene.json")
    ap.add_argument("--noise", type=float, nargs="+", default=[0.0, 0.01, 0.05], help="relative counter noise")
    ap.add_argument("--lam", type=float, nargs="+", default=[DEFAULT_LAMBDA], help="tomogravity lambda values")
    ap.add_argument("--scale-nodes", type=int, default=200, help="nodes of the synthetic timing network (0: skip)")
    ap.add_argument("--repeats", type=int, default=3, help="timing repeats")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    if not (args.data / "abilene.dot").exists():
        print(f"error: {args.data / 'abilene.dot'} not found (the shared data is needed)", file=sys.stderr)
        return 1
    rm, links = abilene_routing(args.data / "abilene.dot")
    result: dict[str, Any] = {
        "command": "python bench/tm_abilene.py " + " ".join(argv if argv is not None else sys.argv[1:]),
        "machine": machine_info(note="2-core shared dev box under load"),
        "routing": "twinwatch.twin.routing.compute_routing, hop count (abilene.dot costs are all 0), split='even'",
        "links": len(links),
        "ecmp_pairs": int(np.sum(~np.all(np.isin(rm.matrix.toarray(), (0.0, 1.0)), axis=0))),
        "files": [],
    }
    for name in ("abilene_5min_bps.txt", "abilene_hourly.txt"):
        result["files"].append(run_file(args.data / name, rm, args.noise, args.lam, args.seed))
    if args.scale_nodes:
        result["scale"] = run_scale(args.scale_nodes, args.repeats, args.seed)
    write_report(result, args.out, echo=False, indent=2)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
