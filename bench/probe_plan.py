"""Probe planning on the shipped networks and on Topology Zoo: probes needed, coverage, time (writes JSON).

    .venv/bin/python bench/probe_plan.py --out bench/notes/probe_plan.json
    .venv/bin/python bench/probe_plan.py --zoo ../shared/data/topologies/zoo --max-nodes 200 --out zoo.json

Per network: the shipped probes' coverage (directed links some probe's packets cross, on the path the
routers' ECMP hash gives it: :func:`twinwatch.twin.probes.probed_links`), then a plan from scratch
(:func:`twinwatch.twin.probe_plan.plan_network_probes` with ``replace=True``): probes added to cover and
to separate, the coverage and the number of links told apart **re-checked on the planned probes' actual
paths** (not the plan's bookkeeping), links no probe can cover, and the planning time (median of
``--repeat``; the routing of every pair, which each plan computes afresh, included). With
``--zoo DIR`` every ``.graphml`` there with at most ``--max-nodes`` nodes is imported
(:func:`twinwatch.twin.netmodel.import_graphml`) and planned the same way.
"""

from __future__ import annotations

import argparse
import statistics
import time
import warnings
from pathlib import Path

import numpy as np
from _report import machine_info, write_report

from twinwatch.twin.netmodel import NetworkModel, import_graphml, list_networks, load_network
from twinwatch.twin.probe_plan import plan_network_probes
from twinwatch.twin.probes import probe_paths
from twinwatch.twin.snapshot import SnapshotBuilder


def _actual(m: NetworkModel) -> tuple[int, int]:
    """(links some probe crosses, distinct probe sets over those links) on the probes' hashed paths."""
    if m.n_probes == 0:
        return 0, 0
    r = SnapshotBuilder(m).routing(np.ones(m.n_links, dtype=bool))
    inc = np.zeros((m.n_probes, m.n_links), dtype=bool)
    for k, p in enumerate(probe_paths(r, m.probe_src, m.probe_dst, m.probe_class).tolist()):
        if p >= 0:
            inc[k, r.path_links[r.path_ptr[p]:r.path_ptr[p + 1]]] = True
    hit = inc.any(axis=0)
    return int(hit.sum()), len({c.tobytes() for c in inc[:, hit].T})


def _row(m: NetworkModel, repeat: int) -> dict[str, object]:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        new, plan = plan_network_probes(m, replace=True)
        times.append(time.perf_counter() - t0)
    before = _actual(m)
    after = _actual(new)
    return {"devices": m.n_nodes, "directed_links": m.n_links, "probes_shipped": m.n_probes,
            "shipped_links_crossed": before[0], "planned_probes": new.n_probes,
            "planned_to_cover": int(np.count_nonzero(plan.stage == "cover")),
            "planned_to_separate": int(np.count_nonzero(plan.stage == "separate")),
            "planned_links_crossed": after[0], "planned_links_told_apart": after[1],
            "uncoverable_links": int(plan.uncoverable.sum()), "plan_s": round(statistics.median(times), 4)}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeat", type=int, default=3, help="timed plans per network (median)")
    ap.add_argument("--zoo", type=Path, default=None, help="also plan every Topology Zoo .graphml in this folder")
    ap.add_argument("--max-nodes", type=int, default=200, help="--zoo: skip networks with more nodes")
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args()
    rows: dict[str, object] = {name: _row(load_network(name), args.repeat) for name in list_networks()}
    zoo: dict[str, object] = {}
    skipped: dict[str, str] = {}
    for path in sorted(args.zoo.glob("*.graphml")) if args.zoo else []:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                m = import_graphml(path, name=path.stem.lower())
        except Exception as exc:  # a Zoo file the importer refuses is counted, not fatal
            skipped[path.name] = f"import: {exc}"[:200]
            continue
        if m.n_nodes > args.max_nodes or m.n_links == 0:
            skipped[path.name] = f"{m.n_nodes} nodes, {m.n_links} links"
            continue
        zoo[path.stem] = _row(m, 1)
    doc: dict[str, object] = {"command": "python bench/probe_plan.py", "shipped": rows}
    if args.zoo:
        z = list(zoo.values())
        # links the plan could not be sure of (ECMP) may still be crossed on the path the hash picks
        crossed = [min(1.0, r["planned_links_crossed"] / max(1, r["directed_links"] - r["uncoverable_links"]))
                   for r in z]
        apart = [r["planned_links_told_apart"] / max(1, r["planned_links_crossed"]) for r in z]
        per_dev = [r["planned_probes"] / r["devices"] for r in z]
        doc["zoo"] = {"networks": len(z), "skipped": skipped,
                      "coverable_links_crossed_min": min(crossed, default=None),
                      "networks_all_coverable_crossed": sum(c == 1.0 for c in crossed),
                      "networks_all_told_apart": sum(a == 1.0 for a in apart),
                      "links_told_apart_fraction_median": statistics.median(apart) if apart else None,
                      "links_told_apart_fraction_min": min(apart, default=None),
                      "probes_per_device_median": statistics.median(per_dev) if per_dev else None,
                      "plan_s_max": max((r["plan_s"] for r in z), default=None), "per_network": zoo}
    doc["machine"] = machine_info(note="2-core shared dev box under load")
    write_report(doc, args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
