"""ns-3 cross-check on held-out operated-network samples (issue 15): writes bench/notes/ns3_opdata.json.

Selection rule (fixed before running): for each held-out topology of the test split
(abilene, nsfnet, geant, Surfnet, Colt), the first sample in index order whose ports
are all FIFO. Each is reduced to what the ns-3 worker of ``twinwatch.twin.sim.ns3_check``
models, the same way for every sample:

- every flow Poisson; the flows of one (src, dst) pair merged into one flow of the
  summed rate, whose packets all have the pair's mean size (total bits / total packets,
  rounded to whole bytes);
- buffers given in bits (the recipe's "ms of line rate") become packets at that
  node's mean packet size on its out-links (rounded, >= 2);
- routing kept when it is destination-based; otherwise (ECMP) every pair is routed
  on a per-destination shortest-path tree (weight: propagation delay + 1 us per hop),
  and all rates are scaled so the busiest link has the sample's original utilisation.

Both simulators then run the same reduced scenario for the same simulated time
(warm-up + window, sized from a packet budget), ``--runs`` replications each; the
95 % CIs are Student-t across replications, per path, for mean delay, its queueing
part (delay - propagation), jitter (delay variance) and loss.

Run (ns-3 in its own virtualenv, see bench/notes/ns3_opdata.md)::

    TWINWATCH_NS3_PYTHON=/tmp/tw/ns3venv/bin/python nice -n 5 .venv/bin/python bench/ns3_opdata.py \\
        --data /tmp/tw/opdata/test --runs 3 --packets 1e5 --out bench/notes/ns3_opdata.json
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
from _report import write_report
from scipy import stats
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import dijkstra

from twinwatch.twin.datasets.native import read_sample
from twinwatch.twin.scenario import Flow, Policy, Scenario
from twinwatch.twin.sim import ns3_check
from twinwatch.twin.sim.engine import SimConfig

TOPOLOGIES = ("abilene", "nsfnet", "geant", "Surfnet", "Colt")


def select(root: Path) -> list[tuple[int, Scenario]]:
    """The first all-FIFO sample of each held-out topology (index order)."""
    picked: dict[str, tuple[int, Scenario]] = {}
    for path in sorted((root / "samples").glob("sample_*.npz")):
        sc = read_sample(path, root).scenario
        topo = sc.name.split("#")[0]
        if topo in TOPOLOGIES and topo not in picked and (sc.node_policy == Policy.FIFO).all():
            picked[topo] = (int(path.stem.split("_")[1]), sc)
        if len(picked) == len(TOPOLOGIES):
            break
    return [picked[t] for t in TOPOLOGIES if t in picked]


def destination_based(sc: Scenario) -> bool:
    """Whether every node forwards all traffic for one destination on one link."""
    hop_dst = sc.path_dst[sc.hop_path]
    key = sc.link_src[sc.path_links] * sc.n_nodes + hop_dst
    pairs = np.unique(np.stack([key, sc.path_links]), axis=1)
    return bool(np.unique(pairs[0]).size == pairs.shape[1])


def reduce_for_ns3(sc: Scenario) -> tuple[Scenario, dict[str, object]]:
    """The sample reduced to ns-3's model (see the module docstring); returns it and what changed."""
    n = sc.n_nodes
    pair = sc.path_src[sc.flow_path] * n + sc.path_dst[sc.flow_path]
    upair, inv = np.unique(pair, return_inverse=True)
    rate = np.bincount(inv, weights=sc.flow_rate_bps)
    prate = np.bincount(inv, weights=sc.flow_pkt_rate)
    size_bits = np.maximum(np.round(rate / prate / 8.0), ns3_check.HEADER_BYTES + 12) * 8.0
    src, dst = upair // n, upair % n
    rho0 = float((sc.link_load_bps() / sc.link_capacity_bps).max())
    dest_based = destination_based(sc)
    if dest_based:
        first = np.zeros(upair.size, dtype=np.int64)
        first[inv[::-1]] = np.arange(sc.n_flows)[::-1]
        routes = {(int(s), int(d)): sc.path_nodes(int(sc.flow_path[f])) for s, d, f in zip(src, dst, first)}
    else:
        w = csr_matrix((sc.link_prop_delay_s + 1e-6, (sc.link_dst, sc.link_src)), shape=(n, n))  # reversed graph
        _, pred = dijkstra(w, directed=True, indices=np.unique(dst), return_predecessors=True)
        row = {int(d): i for i, d in enumerate(np.unique(dst))}
        routes = {}
        for s, d in zip(src.tolist(), dst.tolist()):
            nodes, v = [s], s
            while v != d:
                v = int(pred[row[d], v])
                nodes.append(v)
            routes[(s, d)] = nodes
    links = list(zip(sc.link_src.tolist(), sc.link_dst.tolist(), sc.link_capacity_bps.tolist(),
                     sc.link_prop_delay_s.tolist()))
    flows = [Flow(int(s), int(d), float(r), float(b)) for s, d, r, b in zip(src, dst, rate, size_bits)]
    red = Scenario.build(n, links, routes, flows, queue_pkts=1.0, name=sc.name + "/ns3")
    scale = rho0 / float((red.link_load_bps() / red.link_capacity_bps).max()) if not dest_based else 1.0
    # buffers: packets kept; bits -> packets at the node's mean out-link packet size
    q = sc.node_queue_pkts[:, 0].copy()
    load = red.link_load_bps()
    pk_load = np.bincount(red.path_links, weights=red.path_pkt_rate()[red.hop_path], minlength=red.n_links)
    node_bits = np.bincount(red.link_src, weights=load, minlength=n)
    node_pk = np.bincount(red.link_src, weights=pk_load, minlength=n)
    with np.errstate(all="ignore"):
        node_size = np.where(node_pk > 0, node_bits / node_pk, float(np.mean(size_bits)))
    bits = np.isfinite(sc.node_buffer_bits)
    q[bits] = np.maximum(np.round(sc.node_buffer_bits[bits] / node_size[bits]), 2.0)
    q = np.maximum(np.round(q), 2.0)
    flows = [Flow(int(s), int(d), float(r) * scale, float(b)) for s, d, r, b in zip(src, dst, rate, size_bits)]
    red = Scenario.build(n, links, routes, flows, queue_pkts=q[:, None].tolist(), name=sc.name + "/ns3")
    info = {
        "flows_in_sample": int(sc.n_flows), "flows_reduced": int(red.n_flows),
        "destination_based": dest_based, "rate_scale": scale, "rho_max_sample": rho0,
        "rho_max_reduced": float((red.link_load_bps() / red.link_capacity_bps).max()),
        "buffers_from_bits": bool(bits.any()), "buffer_pkts_median": float(np.median(q)),
        "pkt_bytes_median": float(np.median(size_bits / 8)), "total_pkt_rate": float(red.flow_pkt_rate.sum()),
        "meta": {k: sc.meta.get(k) for k in ("rho_max", "load_band", "ecmp", "buffer", "policy")},
    }
    return red, info


def ns3_runs(sc: Scenario, warm: float, dur: float, runs: int, seed: int) -> np.ndarray:
    """Raw ns-3 rows ``(R, 4F + 2)`` (per flow [tx, rx, sum, sum2], then [hops, wall]); one child process."""
    req = {"jobs": {"s": ns3_check._ns3_job(sc, SimConfig().count_in_service)}, "warmup": warm, "duration": dur,
           "drain": 1.0, "runs": runs, "seed": seed, "cpp": ns3_check._CPP}
    proc = subprocess.run([ns3_check.ns3_python(), "-c", ns3_check._WORKER_SRC], input=json.dumps(req),
                          capture_output=True, text=True, timeout=3600)
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")]
    if proc.returncode != 0 or not lines:
        raise RuntimeError(f"ns-3 worker failed (exit {proc.returncode}): {proc.stderr[-2000:]}")
    return np.array(json.loads(lines[-1])["s"])


def ci(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean over axis 0 and the 95 % Student-t half-width across replications."""
    r = x.shape[0]
    return np.nanmean(x, axis=0), stats.t.ppf(0.975, r - 1) * np.nanstd(x, axis=0, ddof=1) / np.sqrt(r)


def cross_check(sc: Scenario, runs: int, budget: float, seed: int = 1) -> dict[str, object]:
    lam = float(sc.flow_pkt_rate.sum())
    dur = budget / lam
    warm = 0.25 * dur
    f = sc.n_flows
    t0 = time.perf_counter()
    raw = ns3_runs(sc, warm, dur, runs, seed)
    ns_wall = time.perf_counter() - t0
    per = raw[:, : 4 * f].reshape(runs, f, 4)
    tx, rx, s, s2 = per[..., 0], per[..., 1], per[..., 2], per[..., 3]
    with np.errstate(all="ignore"):
        ns = {"delay": s / rx, "jitter": s2 / rx - (s / rx) ** 2, "loss": 1 - rx / tx}
    tw: dict[str, list[np.ndarray]] = {"delay": [], "jitter": [], "loss": []}
    t0 = time.perf_counter()
    for r in range(runs):
        out = ns3_check.run_twinwatch(sc, warmup_s=warm, duration_s=dur, seed=seed + r)
        tw["delay"].append(np.asarray(out["flow_delay_s"]))
        tw["jitter"].append(np.asarray(out["flow_jitter_s2"]))
        tw["loss"].append(np.asarray(out["flow_loss_ratio"]))
    tw_wall = time.perf_counter() - t0
    prop = np.add.reduceat(sc.link_prop_delay_s[sc.path_links], sc.path_ptr[:-1])[sc.flow_path]
    scored = rx.min(axis=0) >= 1000  # >= 1000 measured packets in every ns-3 run
    res: dict[str, object] = {"warmup_s": warm, "duration_s": dur, "runs": runs, "ns3_wall_s": ns_wall,
                              "tw_wall_s": tw_wall, "flows_scored": int(scored.sum()), "flows": int(f)}
    rows = {"prop_s": prop[scored]}
    for k in ("delay", "jitter", "loss"):
        nm, nc = ci(ns[k])
        tm, tc = ci(np.array(tw[k]))
        if k == "delay":
            for name, m, c in (("queue", nm - prop, nc), ("tw_queue", tm - prop, tc)):
                rows[name] = m[scored]
                rows[name + "_ci"] = c[scored]
        rows[f"ns3_{k}"], rows[f"ns3_{k}_ci"] = nm[scored], nc[scored]
        rows[f"tw_{k}"], rows[f"tw_{k}_ci"] = tm[scored], tc[scored]
    summ = {}
    for k, a, b, ca, cb in (("delay", "ns3_delay", "tw_delay", "ns3_delay_ci", "tw_delay_ci"),
                            ("queue", "queue", "tw_queue", "queue_ci", "tw_queue_ci"),
                            ("jitter", "ns3_jitter", "tw_jitter", "ns3_jitter_ci", "tw_jitter_ci")):
        with np.errstate(all="ignore"):
            rel = rows[b] / rows[a] - 1.0
            inside = np.abs(rows[b] - rows[a]) <= np.hypot(rows[ca], rows[cb])
        summ[k] = {"median_abs_rel": float(np.nanmedian(np.abs(rel))), "mean_abs_rel": float(np.nanmean(np.abs(rel))),
                   "max_abs_rel": float(np.nanmax(np.abs(rel))), "mean_rel": float(np.nanmean(rel)),
                   "within_combined_ci": float(np.mean(inside)),
                   "ns3_rel_ci_median": float(np.nanmedian(rows[ca] / rows[a])),
                   "tw_rel_ci_median": float(np.nanmedian(rows[cb] / rows[b]))}
    summ["loss"] = {"ns3_mean": float(np.nanmean(rows["ns3_loss"])), "tw_mean": float(np.nanmean(rows["tw_loss"])),
                    "ns3_max": float(np.nanmax(rows["ns3_loss"])), "tw_max": float(np.nanmax(rows["tw_loss"])),
                    "max_abs_diff": float(np.nanmax(np.abs(rows["ns3_loss"] - rows["tw_loss"]))),
                    "within_combined_ci": float(np.mean(np.abs(rows["ns3_loss"] - rows["tw_loss"])
                                                        <= np.hypot(rows["ns3_loss_ci"], rows["tw_loss_ci"])))}
    res["summary"] = summ
    res["per_flow"] = {k: v.tolist() for k, v in rows.items()}
    return res


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", type=Path, default=Path("/tmp/tw/opdata/test"))
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--packets", type=float, default=1e5, help="packets sent in the measured window, per run")
    ap.add_argument("--only", nargs="*", default=None, help="topology names to run (default: all five)")
    ap.add_argument("--out", type=Path, default=Path("bench/notes/ns3_opdata.json"))
    args = ap.parse_args()
    ok, why = ns3_check.ns3_available()
    if not ok:
        print(f"ns-3 cross-check skipped: {why}", file=sys.stderr)
        return 2
    out = json.loads(args.out.read_text()) if args.out.exists() else {}
    for idx, sc in select(args.data):
        topo = sc.name.split("#")[0]
        if args.only and topo not in args.only:
            continue
        red, info = reduce_for_ns3(sc)
        t0 = time.perf_counter()
        res = cross_check(red, args.runs, args.packets)
        res.update(sample=idx, name=sc.name, reduction=info, wall_s=time.perf_counter() - t0,
                   load_avg=os.getloadavg(), utc=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()))
        out[topo] = res
        s = res["summary"]
        print(f"{sc.name} (sample {idx}): {res['flows_scored']}/{res['flows']} flows scored; "
              f"delay median |d| {100 * s['delay']['median_abs_rel']:.2f} %, "
              f"queue {100 * s['queue']['median_abs_rel']:.2f} %,"
              f" jitter {100 * s['jitter']['median_abs_rel']:.1f} %, loss ns3 {s['loss']['ns3_mean']:.4f} "
              f"tw {s['loss']['tw_mean']:.4f}; {res['wall_s']:.0f} s", flush=True)
        write_report(out, args.out, echo=False, nan_as_null=True, default=float)
    return 0


if __name__ == "__main__":
    sys.exit(main())
