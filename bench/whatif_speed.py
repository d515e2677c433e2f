"""How long a what-if takes, against one prediction of the same twin on the same network, in the same run.

A what-if routes two networks (before and after) and asks the twin for both in one batch, then compares them per
demand and per link; the baseline is the twin's ``predict`` of the baseline scenario alone (what the service
does once per window). Networks: the shipped models, a gravity matrix scaled to put the busiest link at 60 %,
one cable down (the busiest link's); on the ``--each`` networks also N-1 (``--each cable``: every cable down in
turn, :func:`~twinwatch.twin.whatif.iter_what_if`) against one prediction per cable.

Usage::

    .venv/bin/python bench/whatif_speed.py --repeat 5 --out bench/notes/whatif_speed.json
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from _report import machine_info, timed, write_report

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--networks", default="abilene,geant,cogentco")
    ap.add_argument("--model", default="gnn")
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--each", default="abilene,geant", help="networks whose N-1 over every cable is timed (once)")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args()
    import torch

    from twinwatch.twin.measurements import Measurements
    from twinwatch.twin.models import load_model
    from twinwatch.twin.netmodel import load_network
    from twinwatch.twin.snapshot import SnapshotBuilder
    from twinwatch.twin.whatif import Change, cable_failures, iter_what_if, matrix_from_array, what_if

    torch.set_num_threads(args.threads)
    twin = load_model(args.model, None)
    rows = []
    for name in args.networks.split(","):
        model = load_network(ROOT / "twin" / "data" / "networks" / f"{name}.yaml")
        w = np.random.default_rng(0).uniform(0.5, 1.5, model.n_nodes)
        tm = np.outer(w, w)
        np.fill_diagonal(tm, 0.0)
        probe = SnapshotBuilder(model, infer_link_state=False).build(0.0, 1.0, Measurements.empty(),
                                                                     traffic=matrix_from_array(tm))
        util = probe.scenario.link_load_bps() / probe.scenario.link_capacity_bps
        tm *= 0.6 / util.max()
        busiest = int(np.argmax(util))
        cable = f"{model.node_names[model.link_src[busiest]]}<->{model.node_names[model.link_dst[busiest]]}"
        traffic = matrix_from_array(tm)
        snap = SnapshotBuilder(model, infer_link_state=False).build(0.0, 1.0, Measurements.empty(), traffic=traffic)
        scenario, change = snap.scenario, [Change("fail", cable)]
        what_if(model, traffic, change, twin)  # warm-up: numba, torch
        twin.predict(scenario)
        one = timed(lambda sc=scenario: twin.predict(sc), args.repeat)
        both = timed(lambda m=model, tm=traffic, ch=change: what_if(m, tm, ch, twin), args.repeat)
        row = {"network": name, "nodes": model.n_nodes, "links": model.n_links, "paths": snap.scenario.n_paths,
               "change": f"fail {cable}", "predict_one": one, "whatif": both,
               "ratio_wall": round(both["wall_ms_median"] / one["wall_ms_median"], 2)}
        if name in args.each.split(","):
            variants = [[c] for c in cable_failures(model)]
            n1 = timed(lambda m=model, tm=traffic, v=variants: list(iter_what_if(m, tm, v, twin)), 1)
            row["each_cable"] = {"cables": len(variants), **n1,
                                 "ratio_to_one_prediction_per_cable": round(
                                     n1["wall_ms_median"] / (len(variants) * one["wall_ms_median"]), 2)}
        rows.append(row)
        print(rows[-1])
    write_report({"rows": rows, "model": args.model, "threads": args.threads,
                  "machine": machine_info(note="2-vCPU dev VM")}, args.out)


if __name__ == "__main__":
    main()
