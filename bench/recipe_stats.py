"""What an operated-recipe dataset actually holds: the drawn distributions and the label precision.

Reads every sample of one or more datasets made with ``twinwatch simulate dataset --recipe operated``
and writes one JSON report (``--json``) with, per dataset:

* the realised distributions: nodes, busiest-link load ``rho_max`` (histogram), capacity tiers,
  ToS classes, policy, ECMP split, IGP metric, buffer unit and size, time distributions and
  packet-size cv² per flow, link utilisation of the loaded links;
* the label precision over *scored* paths (``sim.path_scored``: ≥ 100 measured packets): the
  relative 95 % CI half-width of the queueing part (delay − Σ propagation), its median, p90, and
  the share of scored paths at ≤ 2 % and ≤ 5 %, by size-cv² class;
* the cost: simulated packets, packet-hops and CPU / wall seconds per sample.

Usage::

    .venv/bin/python bench/recipe_stats.py /tmp/tw/opdata/train /tmp/tw/opdata/val --json bench/notes/twin_recipe.json
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from _report import write_report

from twinwatch.twin.datasets.native import read_extras
from twinwatch.twin.scenario import TimeDist
from twinwatch.twin.sim.recipe import size_cv2


def _q(x: np.ndarray, qs: tuple[float, ...] = (0.0, 0.1, 0.5, 0.9, 1.0)) -> dict[str, float | None]:
    x = x[np.isfinite(x)]
    if not x.size:
        return {f"p{int(q * 100)}": None for q in qs}
    return {f"p{int(q * 100)}": float(np.quantile(x, q)) for q in qs}


def _counts(values: list[object]) -> dict[str, int]:
    keys, n = np.unique(np.asarray([str(v) for v in values]), return_counts=True)
    return {str(k): int(c) for k, c in zip(keys, n, strict=True)}


def summarise(root: Path) -> dict[str, object]:
    """The report of one dataset folder (see the module docstring)."""
    files = sorted((root / "samples").glob("sample_*.npz"))
    if not files:
        raise SystemExit(f"{root}: no samples")
    meta_rows: list[dict] = []
    rel, rel_cv2, pkts, cv2_all, tdist_all, util_all, cap_all, buf_ms, buf_pk = [], [], [], [], [], [], [], [], []
    cost = {"packets": [], "hops": [], "cpu_s": [], "wall_s": [], "nodes": [], "paths": [], "scored": []}
    for f in files:
        extras, meta = read_extras(f)
        sm = meta["scenario_meta"]
        meta_rows.append(sm)
        with np.load(f, allow_pickle=False) as z:
            delay = z["labels.path_delay_s"]
            sizes, probs = z["scenario.flow_sizes_bits"], z["scenario.flow_size_probs"]
            tdist = z["scenario.flow_time_dist"]
            util = z["labels.link_utilization"]
            cap = z["scenario.link_capacity_bps"]
            qp, bb = z["scenario.node_queue_pkts"], z["scenario.node_buffer_bits"]
            lsrc = z["scenario.link_src"]
        scored = np.asarray(extras["path_scored"], dtype=bool)
        queue = delay - extras["path_prop_s"]
        with np.errstate(all="ignore"):
            r = extras["path_delay_ci"] / queue
        cv2 = size_cv2(sizes, probs)  # one flow per path
        rel.append(r[scored])
        rel_cv2.append(cv2[scored])
        pkts.append(np.asarray(extras["path_packets"], dtype=np.float64)[scored])
        cv2_all.append(cv2)
        tdist_all.append(tdist)
        util_all.append(util[util > 0.01])
        cap_all.append(cap)
        if sm["buffer"]["unit"] == "ms":
            node_cap = np.zeros(int(meta["n_nodes"]))
            np.maximum.at(node_cap, lsrc, cap)
            buf_ms.append(bb / node_cap * 1e3)
        else:
            buf_pk.append(qp[:, 0])
        cost["packets"].append(meta["packets_generated"])
        cost["hops"].append(meta["packet_hops"])
        cost["cpu_s"].append(meta.get("cpu_time_s", np.nan))
        cost["wall_s"].append(meta["wall_time_s"])
        cost["nodes"].append(meta["n_nodes"])
        cost["paths"].append(delay.size)
        cost["scored"].append(int(scored.sum()))
    r, rc, pk = np.concatenate(rel), np.concatenate(rel_cv2), np.concatenate(pkts)
    rho = np.array([m["rho_max"] for m in meta_rows])
    cv2 = np.concatenate(cv2_all)
    td = np.concatenate(tdist_all)
    precision: dict[str, object] = {}
    for name, sel in (("all", np.ones(r.size, bool)), ("cv2_0", rc == 0), ("cv2_0_1", (rc > 0) & (rc <= 1)),
                      ("cv2_gt_1", rc > 1)):
        x = r[sel & np.isfinite(r)]
        precision[name] = {
            "paths": int(x.size),
            "median": float(np.median(x)) if x.size else None,
            "p90": float(np.quantile(x, 0.9)) if x.size else None,
            "share_le_2pct": float((x <= 0.02).mean()) if x.size else None,
            "share_le_5pct": float((x <= 0.05).mean()) if x.size else None,
        }
    c = {k: np.asarray(v, dtype=np.float64) for k, v in cost.items()}
    return {
        "root": str(root),
        "samples": len(files),
        "topologies": _counts([m["topology"] for m in meta_rows]).__len__(),
        "nodes": _q(c["nodes"]),
        "rho_max": {**_q(rho), "share_below_0.9": float((rho < 0.9).mean()),
                    "hist_0.1": np.histogram(rho, bins=np.arange(0.1, 1.11, 0.1))[0].tolist()},
        "link_utilisation_loaded": _q(np.concatenate(util_all)),
        "capacity_gbps_links": _counts((np.concatenate(cap_all) / 1e9).round(3).tolist()),
        "tos_classes": _counts([m["tos_classes"] for m in meta_rows]),
        "policy": _counts([m["policy"] for m in meta_rows]),
        "ecmp": _counts([m["ecmp"] for m in meta_rows]),
        "metric": _counts([m["metric"] for m in meta_rows]),
        "mix": _counts([m["mix"] for m in meta_rows]),
        "buffer_unit": _counts([m["buffer"]["unit"] for m in meta_rows]),
        "buffer_ms": _q(np.concatenate(buf_ms)) if buf_ms else None,
        "buffer_pkts": _q(np.concatenate(buf_pk)) if buf_pk else None,
        "buffer_capped_samples": int(sum(m["buffer_capped_nodes"] > 0 for m in meta_rows)),
        "flows": int(cv2.size),
        "time_dist_share": {t.name.lower(): float((td == int(t)).mean()) for t in
                            (TimeDist.POISSON, TimeDist.ONOFF, TimeDist.CBR)},
        "size_cv2": {**_q(cv2), "share_0": float((cv2 == 0).mean())},
        "pairs_mass_kept": _q(np.array([m["pairs_mass_kept"] for m in meta_rows])),
        "paths_total": int(c["paths"].sum()),
        "paths_scored": int(c["scored"].sum()),
        "packets_per_scored_path": _q(pk),
        "queue_part_rel_ci95": precision,
        "cost_per_sample": {"packets": _q(c["packets"]), "packet_hops": _q(c["hops"]), "cpu_s": _q(c["cpu_s"]),
                            "wall_s": _q(c["wall_s"]), "cpu_s_mean": float(np.nanmean(c["cpu_s"])),
                            "wall_s_mean": float(np.nanmean(c["wall_s"]))},
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("datasets", nargs="+", type=Path, help="dataset folders made with --recipe operated")
    ap.add_argument("--json", type=Path, default=None, help="write the report here (default: stdout)")
    args = ap.parse_args(argv)
    doc = {str(d.name): summarise(d) for d in args.datasets}
    write_report(doc, args.json, echo=args.json is None, nan_as_null=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
