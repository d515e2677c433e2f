"""Hop-composed truth and queueing theory against a window's own packets, by path length (issue 15).

The network under test's ground truth composes a (src, dst, ToS) triple with too
few packets of its own from its hops (:mod:`twinwatch.twin.testbed.truth`), and
queueing theory composes every path from its hops. Both rest on what a packet
finds at a port. This script measures how far that is from the packets' own
delays, on one window of an end-to-end run (``bench/e2e_twin_accuracy.py --runs``):

1. the window's snapshot with the true traffic matrix (what the twin is asked
   about in the ``true`` rows of the end-to-end benchmark);
2. its zero-propagation twin simulated with ``--packets`` packets (20 M: every
   flow of the 197-node Cogent gets tens of its own);
3. per flow: the mean wait of its own packets (delay less its own mean
   transmission time), the wait composed from the queue's mean sojourn over
   all its packets (the truth's composition before 2026-12-04), composed from
   the sojourn of the packets that came over the same input (since), and each
   model's;
4. grouped by path length, packet-weighted: each estimate's signed error on the
   queueing part (wait + transmission), in % of the own packets' queueing part.

A model is a spec of ``bench/_models.py``: a registry name, optionally with
options (``qt-packet:input_smoothing=port``).

Usage::

    .venv/bin/python bench/hop_composition.py RUNS/cogentco --packets 20000000 \\
        --models qt-packet,qt-packet:input_smoothing=port,gnn --out bench/notes/hop_composition_cogent.json
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np
from _models import build_models
from _report import machine_info, write_report

HOP_GROUPS = ((1, 1), (2, 2), (3, 3), (4, 5), (6, 8), (9, 12), (13, 10**6))
"""Path lengths (hops) grouped, inclusive."""


def window_snapshot(run: Path, window: int | None):
    """The snapshot of one window of ``run`` (default: the middle one) with its true traffic matrix, and its index."""
    from e2e_twin_accuracy import RunWindows

    rw = RunWindows.load(run)
    w = rw.count // 2 if window is None else window
    return rw.true_snapshot(w), w


def per_flow_path_sum(sc, per_hop: np.ndarray) -> np.ndarray:
    """``(F,)`` sum over each flow's path of ``per_hop`` ``(H, Q)`` at the flow's queue (its ToS class)."""
    per_path = np.stack([np.bincount(sc.hop_path, weights=per_hop[:, q], minlength=sc.n_paths)
                         for q in range(per_hop.shape[1])], axis=1)
    return per_path[sc.flow_path, np.asarray(sc.flow_tos)]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("run", type=Path, help="an end-to-end run directory (one network)")
    ap.add_argument("--window", type=int, default=None, help="window index (default: the middle one)")
    ap.add_argument("--packets", type=int, default=20_000_000)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--models", default="qt-packet,qt-packet:input_smoothing=port,gnn")
    ap.add_argument("--out", type=Path, default=None)
    a = ap.parse_args()
    warnings.filterwarnings("ignore")
    from twinwatch.twin.testbed.truth import simulate_window

    snap, w = window_snapshot(a.run, a.window)
    sc = snap.scenario
    t0 = time.perf_counter()
    res = simulate_window(sc, seed=a.seed, packets=a.packets)
    sim_s = time.perf_counter() - t0
    prop = np.bincount(sc.hop_path, weights=sc.link_prop_delay_s[sc.path_links], minlength=sc.n_paths)
    mean_size = np.nansum(np.nan_to_num(np.asarray(sc.flow_sizes_bits)) * np.asarray(sc.flow_size_probs), axis=1)
    inv_cap = np.bincount(sc.hop_path, weights=1.0 / sc.link_capacity_bps[sc.path_links], minlength=sc.n_paths)
    tx = mean_size * inv_cap[sc.flow_path]  # (F,) own mean transmission time over the path
    queue_mean = np.nan_to_num(np.asarray(res.queue_sojourn))[sc.path_links]
    by_input = np.where(np.isfinite(res.hop_input_sojourn), res.hop_input_sojourn, queue_mean)
    est = {"composed, queue mean": per_flow_path_sum(sc, queue_mean),
           "composed, by input": per_flow_path_sum(sc, by_input)}
    for spec, model in build_models(a.models).items():
        est[spec] = (np.asarray(model.predict(sc).path_delay_s) - prop)[sc.flow_path]
    own, packets = np.asarray(res.flow_delay_s), np.asarray(res.flow_packets)
    hops = np.asarray(sc.path_len)[sc.flow_path]
    measured = (packets > 0) & np.isfinite(own)
    groups = []
    for lo, hi in HOP_GROUPS:
        m = measured & (hops >= lo) & (hops <= hi)
        if not m.any():
            continue
        wt = packets[m]
        own_q = float(np.average(own[m], weights=wt))
        row: dict[str, Any] = {"hops": f"{lo}" if lo == hi else f"{lo}-{hi}" if hi < 10**6 else f"{lo}+",
                               "flows": int(m.sum()), "packets": int(wt.sum()),
                               "own_queueing_part_us": round(1e6 * own_q, 4),
                               "own_wait_us": round(1e6 * (own_q - float(np.average(tx[m], weights=wt))), 4),
                               "signed_error_pct": {}}
        for k, v in est.items():
            row["signed_error_pct"][k] = round(100 * (float(np.average(v[m], weights=wt)) / own_q - 1), 3)
        groups.append(row)
        print(row["hops"], row["flows"], row["signed_error_pct"], flush=True)
    report = {"run": str(a.run), "window": w, "packets": a.packets, "seed": a.seed, "simulate_s": round(sim_s, 1),
              "nodes": sc.n_nodes, "flows": int(sc.n_flows), "groups": groups,
              "machine": machine_info(note="2-core dev box")}
    if a.out:
        write_report(report, a.out, indent=1)


if __name__ == "__main__":
    sys.exit(main())
