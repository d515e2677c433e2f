"""Localisation accuracy of `twinwatch localize` on held-out GNNet samples with a known wrong network file.

For each sample of a seeded subset of the 2022 validation sizes 130/170/200
(never used for training or calibration: the shipped checkpoint trained on
50/75 and calibrated on 100, see its config.json), the sample's own labels
are the *observed* KPIs and the network the operator believes in is the
sample's network with **one loaded link's capacity doubled** (a link whose
offered utilisation is at least ``--min-util``, drawn at random). The twin
then expects less delay through that link than is measured, and
:func:`twinwatch.detectors.localize.diagnose` (the code behind `twinwatch localize`)
must name it. The same samples with the network file unchanged measure how
often a healthy sample is flagged anomalous at ``--alpha``.

Reported: top-1 / top-3 accuracy of the tomography-only ranking and of the
twin-confirmed ranking (over all faulted samples; a sample not flagged
anomalous counts as a miss), the fraction of faulted samples flagged, the
fraction of unchanged samples flagged, and the wall time per sample.

Run (2-core shared box, one torch thread)::

    .venv/bin/python bench/localize_gnnet.py --samples 40 --out bench/notes/localize_gnnet.json
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
from _report import machine_info, write_report

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

DATA = ROOT.parent / "shared" / "data" / "gnnet" / "2022" / "validation"


def _rank(order: np.ndarray, link: int) -> int:
    """1-based rank of ``link`` in ``order``."""
    return int(np.flatnonzero(order == link)[0]) + 1


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="130,170,200", help="2022 validation sub-folders")
    ap.add_argument("--samples", type=int, default=40, help="seeded subset size")
    ap.add_argument("--seed", type=int, default=2026)
    ap.add_argument("--min-util", type=float, default=0.5, help="offered utilisation of the changed link, at least")
    ap.add_argument("--scale", type=float, default=2.0, help="capacity factor written into the believed network")
    ap.add_argument("--alpha", type=float, default=0.01)
    ap.add_argument("--top-k", type=int, default=3)
    ap.add_argument("--factors", default="0.75,0.5,0.25")
    ap.add_argument("--model", default="gnn")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "notes" / "localize_gnnet.json")
    ap.add_argument("--speed", action="store_true",
                    help="only time p-values + BH + tomography (no twin) on the largest faulted sample")
    args = ap.parse_args(argv)
    if not DATA.exists():
        print(f"needs {DATA} (the project's shared data); not found", file=sys.stderr)
        return 1
    import torch

    torch.set_num_threads(args.threads)
    from twinwatch.detectors.localize import degrade_capacity, diagnose
    from twinwatch.twin.datasets import iter_samples
    from twinwatch.twin.models import get_model

    model = get_model(args.model)
    cal = model.calibration  # type: ignore[attr-defined]
    factors = tuple(float(f) for f in args.factors.split(","))
    if args.speed:
        return _speed(args, model, cal)
    samples = [s for size in args.sizes.split(",") for s in iter_samples(DATA / size)]
    rng = np.random.default_rng(args.seed)
    pick = np.sort(rng.choice(len(samples), size=min(args.samples, len(samples)), replace=False))
    rows = []
    for k in pick.tolist():
        s = samples[int(k)]
        sc, lb = s.scenario, s.labels
        observed = {"delay_s": np.asarray(lb.path_delay_s, dtype=np.float64),
                    "jitter_s2": np.asarray(lb.path_jitter_s2, dtype=np.float64),
                    "loss_ratio": np.asarray(lb.path_loss_ratio, dtype=np.float64)}
        util = sc.link_load_bps() / sc.link_capacity_bps
        loaded = np.flatnonzero(util >= args.min_util)
        link = int(rng.choice(loaded)) if loaded.size else int(np.argmax(util))
        # unchanged network file: is a healthy sample flagged?
        t0 = time.perf_counter()
        d0 = diagnose(sc, observed, model.predict(sc), cal, alpha=args.alpha, model=model, top_k=args.top_k,
                      factors=factors)
        t_clean = time.perf_counter() - t0
        # believed network: the changed link has `scale` x its real capacity
        believed = degrade_capacity(sc, link, args.scale)
        t0 = time.perf_counter()
        expected = model.predict(believed)
        t_pred = time.perf_counter() - t0
        d1 = diagnose(believed, observed, expected, cal, alpha=args.alpha, model=model, top_k=args.top_k,
                      factors=factors)
        t_fault = time.perf_counter() - t0
        loc = d1.localization
        row = {"file": f"{s.file}#{s.index}", "n_nodes": sc.n_nodes, "n_paths": sc.n_paths, "n_links": sc.n_links,
               "link": link, "link_util": float(util[link]), "clean_flagged": d0.is_anomalous,
               "clean_flagged_paths": int(d0.anomalous.sum()), "fault_flagged": d1.is_anomalous,
               "fault_flagged_paths": int(d1.anomalous.sum()),
               "paths_through_link": int(np.count_nonzero(sc.path_links == link)),
               "t_clean_s": t_clean, "t_predict_s": t_pred, "t_fault_s": t_fault}
        if loc is not None:
            row["rank_tomography"] = _rank(loc.tomography_order, link)
            row["rank_twin"] = _rank(loc.order, link)
            row["best_factor"] = loc.best.factor if loc.best is not None else None
            row["confirmed_link"] = loc.best.link if loc.best is not None else None
            row["explanation"] = loc.explanation
        rows.append(row)
        print(json.dumps({k: v for k, v in row.items() if k != "explanation"}), file=sys.stderr, flush=True)

    def acc(key: str, k: int) -> float:
        return float(np.mean([r.get(key, 10**9) <= k for r in rows]))

    summary = {
        "samples": len(rows), "sizes": args.sizes, "seed": args.seed, "min_util": args.min_util,
        "capacity_scale_in_file": args.scale, "alpha": args.alpha, "top_k": args.top_k, "factors": factors,
        "model": model.name,
        "top1_tomography": acc("rank_tomography", 1), "top3_tomography": acc("rank_tomography", 3),
        "top1_twin": acc("rank_twin", 1), "top3_twin": acc("rank_twin", 3),
        "fault_flagged_rate": float(np.mean([r["fault_flagged"] for r in rows])),
        "clean_flagged_rate": float(np.mean([r["clean_flagged"] for r in rows])),
        "magnitude_right": float(np.mean([r.get("best_factor") == 1.0 / args.scale for r in rows
                                          if r.get("confirmed_link") == r["link"]] or [float("nan")])),
        "median_s_per_faulted_sample": float(np.median([r["t_fault_s"] for r in rows])),
        "median_s_per_clean_sample": float(np.median([r["t_clean_s"] for r in rows])),
        "median_s_twin_predict": float(np.median([r["t_predict_s"] for r in rows])),
        "machine": machine_info(note="2-core shared dev box under load"),
        "command": "python bench/localize_gnnet.py " + " ".join(argv if argv is not None else sys.argv[1:]),
    }
    write_report({"summary": summary, "rows": rows}, args.out, echo=False, nan_as_null=True)
    print(json.dumps(summary, indent=1))
    return 0


def _speed(args: argparse.Namespace, model: object, cal: dict) -> int:
    """Median wall time of :func:`diagnose` without the twin (p-values, BH, both tomographies) on one window."""
    from twinwatch.detectors.localize import degrade_capacity, diagnose
    from twinwatch.twin.datasets import iter_samples

    s = next(iter_samples(DATA / "200"))
    sc, lb = s.scenario, s.labels
    observed = {"delay_s": np.asarray(lb.path_delay_s, dtype=np.float64),
                "jitter_s2": np.asarray(lb.path_jitter_s2, dtype=np.float64),
                "loss_ratio": np.asarray(lb.path_loss_ratio, dtype=np.float64)}
    util = sc.link_load_bps() / sc.link_capacity_bps
    believed = degrade_capacity(sc, int(np.argmax(np.where(util < 1.0, util, 0.0))), args.scale)
    expected = model.predict(believed)  # type: ignore[attr-defined]
    times = []
    for _ in range(7):
        t0 = time.perf_counter()
        d = diagnose(believed, observed, expected, cal, alpha=args.alpha, model=None)
        times.append(time.perf_counter() - t0)
    doc = {"n_paths": sc.n_paths, "n_links": sc.n_links, "tests": int(np.isfinite(d.p_values).sum()),
           "flagged_paths": int(d.anomalous.sum()), "median_ms": 1e3 * float(np.median(times)),
           "min_ms": 1e3 * float(np.min(times)), "what": "diagnose(model=None): p-values, BH, tomography",
           "machine": machine_info(note="2-core shared dev box under load")}
    write_report(doc, None)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
