"""Time the whole twin detector on one window: 200 nodes, 1,000 links, 39,800 paths, 1,000 probes, one core.

`bench/bench_detectors.py` times the conformal + multiple-testing core on synthetic arrays; this
times :meth:`twinwatch.detectors.twin_detector.TwinDetector.detect` itself, every check the service
runs per window: link utilisation / loss / traffic-below-the-model tests, path delay and loss on
**every** node pair (as if all 39,800 pairs were probed: the worst case), the learned k-of-m
persistence and effective-tests gate of each family, the probe-loss scan, the destination-ingress and
flow-export tests of the matrix, the routed-traffic test, boolean-tomography localisation of the
flagged paths, alert bookkeeping. Twin inference and snapshot building are excluded (timed in
``bench/twin_speed.py`` and ``bench/snapshot_speed.py``).

Network: a random connected 200-node graph of mean degree 5 (``snapshot_speed.network`` with 1,000
probes instead of 50), a 40,000-entry traffic matrix. Per window the observed KPIs are the
expected ones with log-normal noise; after ``--warmup`` windows 0.5 % of the paths (those through
one link) get three times their queueing delay, so that localisation runs on every timed window; with
``--grey-loss RATIO`` the same link also drops that share of every packet crossing it, so the probe-loss scan
and its per-link pooling (explaining away included) find and hold a loss on the timed windows.

Reports CPU time per window (``time.process_time``: fairer than wall time on a shared machine),
median and p95 over ``--windows``, and the detector's state bytes per (entity, KPI) (per-entity
arrays of every family) with the shared pools apart. Writes JSON.

Usage::

    OMP_NUM_THREADS=1 .venv/bin/python bench/bench_detectors_twin.py --out bench/notes/bench_detectors_twin.json
    OMP_NUM_THREADS=1 .venv/bin/python bench/bench_detectors_twin.py --grey-loss 0.02 --out grey.json
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np
from _report import machine_info, write_report

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))


def network(n_nodes: int, probes: int, seed: int) -> Any:
    """A random connected model of ``n_nodes`` devices, mean degree 5, with ``probes`` probe pairs."""
    from twinwatch.twin.netmodel import model_from_dict
    from twinwatch.twin.topology import random_topology

    rng = np.random.default_rng(seed)
    topo = random_topology(n_nodes, degree=5.0, rng=rng, capacities_bps=(10e9, 40e9, 100e9))
    names = [f"r{i}" for i in range(n_nodes)]
    links = [{"a": {"device": names[s], "interface": f"et-{d}"}, "b": {"device": names[d], "interface": f"et-{s}"},
              "capacity_bps": c, "delay_s": 0.001}
             for s, d, c in zip(topo.link_src.tolist(), topo.link_dst.tolist(), topo.link_capacity_bps.tolist(),
                                strict=True) if s < d]
    pairs = rng.choice(n_nodes * n_nodes, size=4 * probes, replace=False)
    pairs = [(int(p // n_nodes), int(p % n_nodes)) for p in pairs if p // n_nodes != p % n_nodes][:probes]
    doc = {"version": 1, "name": f"random{n_nodes}", "devices": [{"name": x} for x in names], "links": links,
           "probes": [{"src": names[s], "dst": names[d], "rate_pps": 10, "size_bytes": 128} for s, d in pairs]}
    return model_from_dict(doc, source=f"random{n_nodes}")


def state_bytes(det: Any) -> dict[str, float]:
    """Per-entity state bytes per (entity, KPI) family, and the shared pools' bytes in all."""
    per: dict[str, float] = {}
    shared = 0
    for group, states in (("link", det._link), ("path", det._path), ("node", det._node)):
        for kpi, st in states.items():
            n = max(st.cal.n_entities, 1)
            b = st.cal.state_bytes_per_entity
            b += (st.pers._hist.nbytes + st.pers._active.nbytes + st.pers._clean.nbytes) / n
            shared += st.cal._pool.nbytes + st.eff._hist.nbytes
            if st.history is not None:
                h = st.history
                b += (h._hist.nbytes + h._t.nbytes + h._seen.nbytes) / n
                shared += h._pool.nbytes
            per[f"{group}.{kpi}"] = round(b, 1)
    k = max(det._probe_scan.n_probes, 1)
    sc = det._probe_scan
    per["probe_loss"] = round((sc._lost.nbytes + sc._exp.nbytes + sc._sent.nbytes + sc._healthy.nbytes) / k
                              + (det._probe_pers._hist.nbytes + det._probe_pers._active.nbytes
                                 + det._probe_pers._clean.nbytes) / k
                              + sc._named_until.nbytes / k, 1)
    lp = det._probe_link_pers  # the same scan pooled per link: its persistence is the family's only per-link state
    per["link.probe_loss"] = round((lp._hist.nbytes + lp._active.nbytes + lp._clean.nbytes)
                                   / max(det.model.n_links, 1), 1)
    return {"per_family": per, "max_per_entity_kpi": max(per.values()), "shared_bytes": shared}


def _main(argv: list[str] | None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--nodes", type=int, default=200)
    ap.add_argument("--probes", type=int, default=1000)
    ap.add_argument("--entries", type=int, default=40_000, help="non-zero traffic-matrix entries")
    ap.add_argument("--warmup", type=int, default=30, help="windows before the fault and the timing")
    ap.add_argument("--windows", type=int, default=40, help="timed windows")
    ap.add_argument("--grey-loss", type=float, default=0.0, metavar="RATIO",
                    help="the faulty link also drops this share of every packet crossing it, silently (exercises "
                         "the probe-loss scan and its per-link pooling with a real discovery; default: delay only)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--out", type=Path, default=None, help="write the JSON report here")
    args = ap.parse_args(argv)

    from snapshot_speed import workload

    from twinwatch.detectors.twin_detector import TwinDetector
    from twinwatch.twin.kpis import Prediction
    from twinwatch.twin.snapshot import SnapshotBuilder

    rng = np.random.default_rng(args.seed)
    model = network(args.nodes, args.probes, args.seed)
    w = workload(model, args.entries, args.seed)
    snap0 = SnapshotBuilder(model).build(0.0, 10.0, w["rows"], traffic=w["traffic"])
    sc = snap0.scenario
    e, p = model.n_links, sc.n_paths
    prop = np.bincount(sc.hop_path, weights=sc.link_prop_delay_s[sc.path_links], minlength=p)
    hops = np.diff(sc.path_ptr)
    exp_delay = prop + hops * rng.uniform(2e-5, 2e-4, p)
    exp_loss = np.where(rng.random(p) < 0.1, rng.uniform(1e-5, 1e-3, p), 0.0)
    exp_util = rng.uniform(0.05, 0.8, e)
    pred = Prediction(exp_delay, exp_delay**2 * 0.01, exp_loss, exp_util, np.zeros(e), np.zeros(e))
    cap = model.link_capacity_bps
    bad_link = int(np.argmax(np.bincount(sc.path_links, minlength=e)))  # the busiest link
    through = np.zeros(p, dtype=bool)
    through[sc.hop_path[sc.path_links == bad_link]] = True
    crossing = through.copy()  # every path through the link: what a silent drop there reaches
    # keep the delay fault to about 0.5 % of the paths: the first 200 paths through the link
    through[np.flatnonzero(through)[200:]] = False
    det = TwinDetector(model, alpha=0.01)

    def window(i: int, fault: bool) -> Any:
        q = (exp_delay - prop) * np.exp(rng.normal(0.0, 0.05, p))
        if fault:
            q = np.where(through, q * 3.0, q)
        util = np.clip(exp_util + rng.normal(0.0, 0.005, e), 0.0, 1.0)
        snap = dataclasses.replace(snap0, start=10.0 * i, end=10.0 * (i + 1))
        snap.path_observed["delay_s"] = prop + q
        loss = 1.0 - (1.0 - exp_loss) * (1.0 - args.grey_loss) if fault else exp_loss
        snap.path_observed["loss_ratio"] = rng.binomial(1000, np.where(crossing, loss, exp_loss)) / 1000.0
        snap.link_observed.update({"utilization": util, "tx_bps": util * cap, "tx_pps": util * cap / 8000.0,
                                   "drop_pps": np.zeros(e)})
        return snap

    for i in range(args.warmup):
        det.detect(window(i, False), pred)
    cpu, fired = [], 0
    for i in range(args.warmup, args.warmup + args.windows):
        snap = window(i, True)
        c0 = time.process_time()
        d = det.detect(snap, pred)
        cpu.append(time.process_time() - c0)
        fired += sum(c.action == "firing" for c in d.changes)
    report = {
        "nodes": model.n_nodes, "links": e, "paths": p, "probes": model.n_probes,
        "paths_observed_per_window": p, "degraded_paths": int(through.sum()), "windows_timed": args.windows,
        "grey_loss": args.grey_loss, "paths_through_grey_loss": int(crossing.sum()) if args.grey_loss else 0,
        "cpu_ms_per_window_median": round(1000 * float(np.median(cpu)), 1),
        "cpu_ms_per_window_p95": round(1000 * float(np.percentile(cpu, 95)), 1),
        "alerts_fired_in_timed_windows": int(fired),
        "state": state_bytes(det),
        "machine": machine_info(),
    }
    write_report(report, args.out)
    return 0


def main(argv: list[str] | None = None) -> int:
    """Run with BLAS held to one thread throughout, as the service holds it while windows close."""
    from twinwatch.twin.blas import single_blas_thread

    with single_blas_thread():
        return _main(argv)


if __name__ == "__main__":
    raise SystemExit(main())
