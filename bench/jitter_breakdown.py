"""Where a model's jitter error sits: per path, grouped by packet-size mix, load, bottleneck policy and hop count.

For every path of a labelled dataset whose jitter label is informative (``twin.kpis.informative_jitter``, the
paths ``bench/twin_hybrid_eval.py`` scores), the ratio of each model's predicted delay variance to the label, then
per group the median log ratio (the model's bias on the typical path; 0 = right), the mean APE (what a MAPE table
reports) and the median APE. Groups: the flow's packet sizes (``one``: a single size, its delay variance is all
waiting; ``mixed``), the path's own maximum offered load (the Mondrian bins of ``twin.conformal``), the policy of
the path's most loaded link's port, and the hop count.

This is how queueing theory's two jitter bugs of December 2026 were found (``bench/notes/twin_hybrid.md``
sections 4m and 4o): a median log ratio far from 0 in one policy or at long paths only.

Usage::

    PYTHONPATH=. .venv/bin/python bench/jitter_breakdown.py /tmp/tw/opdata/val --models qt-packet,gnn \\
        [--checkpoint DIR] [--min-paths 40] [--out bench/notes/jitter_breakdown.json]
"""

from __future__ import annotations

import argparse
import warnings
from collections import defaultdict
from pathlib import Path

import numpy as np
import torch
from _models import build_models
from _report import machine_info, write_report
from twin_hybrid_eval import scored_paths

from twinwatch.twin.conformal import scenario_path_max_load
from twinwatch.twin.datasets import iter_samples
from twinwatch.twin.models import get_model
from twinwatch.twin.scenario import Policy

LOADS: tuple[float, ...] = (0.0, 0.3, 0.7, 0.95, np.inf)
HOPS: tuple[int, ...] = (1, 2, 4, 1_000_000)


def _bin(x: np.ndarray, edges: tuple[float, ...]) -> np.ndarray:
    """Index of the ``[edges[i], edges[i+1])`` bin of each value, ``(N,)`` int.

    >>> _bin(np.array([0.0, 0.29, 0.3, 0.96, 7.0]), LOADS).tolist()
    [0, 0, 1, 3, 3]
    """
    return np.clip(np.searchsorted(np.asarray(edges, dtype=float), x, side="right") - 1, 0, len(edges) - 2)


def _hops_label(i: int) -> str:
    """``"1"``, ``"2-3"``, ``"4+"``: the hop-count bin ``i`` of ``HOPS``.

    >>> [_hops_label(i) for i in range(3)]
    ['1', '2-3', '4+']
    """
    lo, hi = HOPS[i], HOPS[i + 1] - 1
    return f"{lo}+" if i == len(HOPS) - 2 else (str(lo) if lo == hi else f"{lo}-{hi}")


def _bottleneck_policy(sc) -> np.ndarray:
    """``(P,)`` policy code of the port of each path's most loaded link."""
    load = sc.link_load_bps() / sc.link_capacity_bps
    order = np.lexsort((-load[sc.path_links], sc.hop_path))
    first = np.r_[0, np.flatnonzero(np.diff(sc.hop_path[order])) + 1]
    link = np.zeros(sc.n_paths, dtype=np.int64)
    link[sc.hop_path[order][first]] = sc.path_links[order][first]
    return np.asarray(sc.node_policy)[sc.link_src[link]]


def collect(root: str, models: dict) -> dict[str, np.ndarray]:
    """Per informative path: the grouping keys, the label and each model's prediction (columns of equal length)."""
    cols: dict[str, list[np.ndarray]] = defaultdict(list)
    for s in iter_samples(root):
        sc = s.scenario
        sp = scored_paths(root, s)
        okj = sp.ok_jitter
        one = np.ones(sc.n_paths, dtype=bool)
        np.logical_and.at(one, sc.flow_path, np.sum(np.asarray(sc.flow_size_probs) > 0, axis=1) <= 1)
        cols["one_size"].append(one[okj])
        cols["load"].append(scenario_path_max_load(sc)[okj])
        cols["policy"].append(_bottleneck_policy(sc)[okj])
        cols["hops"].append(np.asarray(sc.path_len)[okj])
        cols["label"].append(sp.jitter[okj])
        for name, m in models.items():
            cols[name].append(np.asarray(m.predict(sc).path_jitter_s2, float)[okj])
    return {k: np.concatenate(v) for k, v in cols.items()}


def breakdown(cols: dict[str, np.ndarray], names: list[str], min_paths: int) -> list[dict]:
    """One row per group with at least ``min_paths`` paths: counts and each model's three statistics."""
    keys = np.stack([cols["one_size"].astype(int), _bin(cols["load"], LOADS), cols["policy"].astype(int),
                     _bin(cols["hops"].astype(float), HOPS)], axis=1)
    rows = []
    for key in np.unique(keys, axis=0):
        m = (keys == key).all(axis=1)
        if m.sum() < min_paths:
            continue
        row = {"sizes": "one" if key[0] else "mixed", "load": f"{LOADS[key[1]]}-{LOADS[key[1] + 1]}",
               "policy": Policy(int(key[2])).name, "hops": _hops_label(int(key[3])),
               "paths": int(m.sum())}
        for name in names:
            ratio = cols[name][m] / cols["label"][m]
            ape = np.abs(ratio - 1.0) * 100
            row[name] = {"median_log_ratio": float(np.median(np.log(ratio))), "mean_ape": float(ape.mean()),
                         "median_ape": float(np.median(ape))}
        rows.append(row)
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("data", help="a labelled dataset folder")
    ap.add_argument("--models", default="qt-packet,gnn", help="model specs, comma-separated (bench/_models.py)")
    ap.add_argument("--checkpoint", metavar="DIR", default=None, help="a GNN checkpoint scored as 'candidate'")
    ap.add_argument("--min-paths", type=int, default=40, help="smallest group reported")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--out", default="bench/notes/jitter_breakdown.json")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    warnings.filterwarnings("ignore")
    models = build_models(args.models)
    if args.checkpoint:
        models["candidate"] = get_model("gnn", checkpoint=args.checkpoint)
    cols = collect(args.data, models)
    rows = breakdown(cols, list(models), args.min_paths)
    for r in rows:
        stats = "  ".join(f"{n} {r[n]['median_log_ratio']:+.2f}/{r[n]['mean_ape']:.0f}/{r[n]['median_ape']:.0f}"
                          for n in models)
        print(f"{r['sizes']:5s} load {r['load']:9s} {r['policy']:4s} hops {r['hops']:4s} n {r['paths']:6d}  {stats}")
    print("columns: median ln(pred/label) / mean APE % / median APE %")
    write_report({"data": args.data, "models": list(models), "paths": int(cols["label"].size), "groups": rows,
                  "machine": machine_info()}, Path(args.out), echo=False)


if __name__ == "__main__":
    main()
