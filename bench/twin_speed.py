"""Inference time of the GNN twin on a 200-node, ~40,000-flow network, split into its stages (issue 15, item 6).

Stages of ``GNNModel.predict``: ``graph`` (:func:`twinwatch.twin.features.scenario_graph`, with the queueing-theory
prior for a hybrid checkpoint), ``collate`` (normalise and pack), ``forward`` (the network, its inference path:
``torch.inference_mode``), ``forward_reference`` (the same network through its autograd path, the code the
inference path replaced, parameters frozen: the before/after figure under the same load), ``total`` (the whole
``predict``: stages plus intervals, the out-of-domain guard and the physical bounds). Each stage is timed in wall
clock and in process CPU seconds (``time.process_time``: on a shared, loaded machine the CPU time is the figure
that does not depend on the other tenants, as long as the threads are not starved); median of ``--repeats``.

Data: the first sample of ``../shared/data/gnnet/2022/validation/200`` (skips with a message when absent).

Usage::

    .venv/bin/python bench/twin_speed.py [--checkpoint DIR] --threads 1 2 --out bench/notes/twin_speed.json
"""

from __future__ import annotations

import argparse
import json
import os
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch
from _report import machine_info, write_report

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data" / "gnnet" / "2022" / "validation" / "200"


def _timed(fn: object, repeats: int) -> dict[str, float]:
    wall, cpu = [], []
    for _ in range(repeats):
        w, c = time.perf_counter(), time.process_time()
        fn()  # type: ignore[operator]
        wall.append(time.perf_counter() - w)
        cpu.append(time.process_time() - c)
    return {"wall_s_median": float(np.median(wall)), "wall_s_min": float(min(wall)),
            "cpu_s_median": float(np.median(cpu))}


def timed_sample() -> Any:
    """The scenario both speed benches time (the first sample of ``DATA``), or ``None`` with a message when the
    shared GNNet data is absent."""
    if not DATA.is_dir():
        print(f"skipped: {DATA} (the shared GNNet data) is absent")
        return None
    from twinwatch.twin.datasets.gnnet import iter_samples

    return next(iter(iter_samples(DATA))).scenario


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--checkpoint", default=None, help="GNN model directory (default: the shipped one)")
    ap.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--out", default=str(ROOT / "bench/notes/twin_speed.json"))
    a = ap.parse_args()
    sc = timed_sample()
    if sc is None:
        return
    from twinwatch.twin.features import collate
    from twinwatch.twin.models.gnn import GNNModel

    warnings.simplefilter("ignore")
    model = GNNModel.load(a.checkpoint)
    for prm in model.net.parameters():  # no autograd graph in the reference timing either
        prm.requires_grad_(False)
    rows = []
    load0 = os.getloadavg()
    for t in a.threads:
        torch.set_num_threads(t)
        model.predict(sc)  # warm-up
        g = model.graph(sc)
        b = collate([g], model.stats)

        def fwd(b: object = b) -> None:
            with torch.inference_mode():
                model.net(b)

        def fwd_reference(b: object = b) -> None:  # the training (autograd) path: the code before the speed-up
            with torch.enable_grad():
                model.net(b)

        row = {"threads": t, "nodes": sc.n_nodes, "paths": sc.n_paths, "flows": sc.n_flows, "hops": g.n_hops,
               "hybrid": model.net.config.hybrid,
               "graph": _timed(lambda: model.graph(sc), a.repeats),
               "collate": _timed(lambda g=g: collate([g], model.stats), a.repeats),
               "forward": _timed(fwd, a.repeats),
               "forward_reference": _timed(fwd_reference, a.repeats),
               "total": _timed(lambda: model.predict(sc), a.repeats)}
        rows.append(row)
        print(json.dumps(row), flush=True)
    rep = {"machine": {**machine_info(note="2-core shared dev box; load averages after the run"),
                       "load_avg_before": [round(x, 2) for x in load0]},
           "checkpoint": a.checkpoint or "shipped", "rows": rows}
    write_report(rep, Path(a.out), echo=False)
    print(f"written {a.out}")


if __name__ == "__main__":
    main()
