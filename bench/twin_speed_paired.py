"""Two GNN checkpoints' inference time on the same 200-node, ~40,000-flow network, interleaved (issue 15, item 6).

On a shared machine whose speed drifts by tens of per cent between hours, two checkpoints timed in separate runs
cannot be compared; here ``GNNModel.predict`` of A and of B alternate, round by round (A first in even rounds, B
first in odd ones), and the report gives each one's median wall time and the median of the per-round
differences B − A with its range, so a drift moves both alike.

Two model objects loaded from two directories can differ by a few milliseconds for reasons of their own (where
their tensors landed in memory: a copy of the same checkpoint measured 0–1 ms apart, another directory up to 15);
``--fade TAU`` instead times *one* loaded hybrid with its full-buffer fade (``GNNConfig.full_buffer_fade``) off (A)
and at ``TAU`` (B), the only difference between the two.

Data: the first sample of ``../shared/data/gnnet/2022/validation/200`` (the sample ``bench/twin_speed.py`` times;
skips with a message when absent).

Usage::

    .venv/bin/python bench/twin_speed_paired.py --a twin/data/checkpoints/gnn --b /tmp/candidate --threads 2 \\
        --rounds 12 --out bench/notes/twin_speed_paired.json
    .venv/bin/python bench/twin_speed_paired.py --a twin/data/checkpoints/gnn --fade 0.003 --threads 2
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
import warnings
from pathlib import Path
from typing import Any

import torch
from _report import machine_info, write_report
from twin_speed import timed_sample

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--a", required=True, help="first GNN model directory")
    which = ap.add_mutually_exclusive_group(required=True)
    which.add_argument("--b", help="second GNN model directory")
    which.add_argument("--fade", type=float, metavar="TAU",
                       help="B = A's loaded hybrid with its full-buffer fade at TAU, A = the same with the fade off")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--rounds", type=int, default=12)
    ap.add_argument("--out", default=str(ROOT / "bench/notes/twin_speed_paired.json"))
    a = ap.parse_args()
    sc: Any = timed_sample()
    if sc is None:
        return
    from twinwatch.twin.models.gnn import GNNModel
    from twinwatch.twin.models.warm_start import set_full_buffer_fade

    warnings.simplefilter("ignore")
    torch.set_num_threads(a.threads)
    model_a = GNNModel.load(a.a)
    fades = {"a": 0.0, "b": a.fade} if a.fade is not None else None
    if fades is not None and not model_a.net.config.hybrid:
        raise SystemExit(f"--fade: {a.a} is not a hybrid")
    models = {"a": model_a, "b": model_a if fades is not None else GNNModel.load(a.b)}
    for m in models.values():
        m.predict(sc)  # warm-up (numba, torch)
    times: dict[str, list[float]] = {"a": [], "b": []}
    load0 = os.getloadavg()
    for r in range(a.rounds):
        for name in ("a", "b") if r % 2 == 0 else ("b", "a"):
            if fades is not None:
                set_full_buffer_fade(models[name].net, fades[name])
            t0 = time.perf_counter()
            models[name].predict(sc)
            times[name].append(time.perf_counter() - t0)
    diff = [tb - ta for ta, tb in zip(times["a"], times["b"], strict=True)]
    rep = {"machine": {**machine_info(note="2-core shared dev box; load averages after the run"),
                       "load_avg_before": [round(x, 2) for x in load0]},
           "a": a.a, "b": a.b if fades is None else f"{a.a} with full_buffer_fade={a.fade}",
           "threads": a.threads, "rounds": a.rounds, "nodes": sc.n_nodes, "flows": sc.n_flows,
           "wall_s": times, "median_s": {k: statistics.median(v) for k, v in times.items()},
           "b_minus_a_s": {"median": statistics.median(diff), "min": min(diff), "max": max(diff)}}
    write_report(rep, Path(a.out), echo=False)
    print(json.dumps({k: rep[k] for k in ("median_s", "b_minus_a_s")}))
    print(f"written {a.out}")


if __name__ == "__main__":
    main()
