"""Re-simulate GNNet samples with twinwatch's simulator and score it against the OMNeT++ labels.

Usage (from the repository root)::

    .venv/bin/python bench/validate_sim_gnnet.py \
        ../shared/data/gnnet/2021/validation ../shared/data/gnnet/2022/validation/50 \
        --target-rse 0.01 --max-packets 10000000 --out bench/results/sim_gnnet.json

For every sample it prints one line and records, per path, the relative error
of mean delay and of jitter (delay variance) and the absolute error of the loss
ratio; per link the relative error of utilisation and queue occupancy. The JSON
holds per-sample summaries and, per dataset folder, the errors pooled over all
paths of all its samples: ``delay_median_re`` (median |relative error|),
``delay_mape`` (mean |relative error|) and the same for jitter.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from _report import machine_info, write_report  # noqa: E402

from twinwatch.twin.datasets.gnnet import iter_samples  # noqa: E402
from twinwatch.twin.sim import SimConfig, simulate  # noqa: E402


def _rel(sim: np.ndarray, lab: np.ndarray) -> np.ndarray:
    ok = np.isfinite(sim) & np.isfinite(lab) & (lab > 0)
    return (sim[ok] - lab[ok]) / lab[ok]


def _summ(re: np.ndarray) -> dict[str, float]:
    if re.size == 0:
        return {"n": 0}
    a = np.abs(re)
    return {
        "n": int(re.size),
        "median_re": float(np.median(a)),
        "mape": float(a.mean()),
        "bias_median": float(np.median(re)),
        "p90_re": float(np.quantile(a, 0.9)),
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("roots", nargs="+", help="GNNet dataset folders")
    ap.add_argument("--limit", type=int, default=0, help="samples per folder (0: all)")
    ap.add_argument("--target-rse", type=float, default=0.01)
    ap.add_argument("--min-packets", type=int, default=200_000)
    ap.add_argument("--max-packets", type=int, default=10_000_000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--config", default="{}", help="extra SimConfig fields as JSON, e.g. '{\"onoff_mode\": 1}'")
    ap.add_argument("--out", type=Path, default=None, help="write the JSON report here")
    args = ap.parse_args(argv)
    base = replace(
        SimConfig(seed=args.seed, target_rse=args.target_rse, min_packets=args.min_packets,
                  max_packets=args.max_packets),
        **json.loads(args.config),
    )
    report: dict[str, object] = {"config": {f: getattr(base, f) for f in base.__slots__}, "folders": {}}
    for root in args.roots:
        pooled: dict[str, list[np.ndarray]] = {k: [] for k in ("delay", "jitter", "loss_abs", "util", "occ")}
        samples = []
        for i, s in enumerate(iter_samples(root)):
            if args.limit and i >= args.limit:
                break
            sc, lab = s.scenario, s.labels
            t0 = time.perf_counter()
            r = simulate(sc, replace(base, seed=args.seed + i))
            wall = time.perf_counter() - t0
            d = _rel(r.labels.path_delay_s, lab.path_delay_s)
            j = _rel(r.labels.path_jitter_s2, lab.path_jitter_s2)
            okl = np.isfinite(r.labels.path_loss_ratio) & np.isfinite(lab.path_loss_ratio)
            la = r.labels.path_loss_ratio[okl] - lab.path_loss_ratio[okl]
            u = _rel(r.labels.link_utilization, lab.link_utilization)
            o = _rel(r.labels.link_queue_occupancy, lab.link_queue_occupancy)
            for key, v in (("delay", d), ("jitter", j), ("loss_abs", la), ("util", u), ("occ", o)):
                pooled[key].append(v)
            rec = {
                "file": s.file, "index": s.index, "nodes": sc.n_nodes, "paths": sc.n_paths,
                "delay": _summ(d), "jitter": _summ(j),
                "loss_mae": float(np.abs(la).mean()) if la.size else None,
                "loss_label_mean": float(np.nanmean(lab.path_loss_ratio)),
                "loss_sim_mean": float(np.nanmean(r.labels.path_loss_ratio)),
                "util": _summ(u), "occupancy": _summ(o),
                "converged": r.converged, "packets": r.packets_generated, "hops": r.packet_hops,
                "wall_s": wall, "cpu_s": r.cpu_time_s, "hops_per_cpu_s": r.hops_per_cpu_second,
            }
            samples.append(rec)
            print(f"{root} {s.file}#{s.index} N={sc.n_nodes} P={sc.n_paths} "
                  f"delay medRE={rec['delay']['median_re']:.4f} "
                  f"MAPE={rec['delay']['mape']:.4f} bias={rec['delay']['bias_median']:+.4f} "
                  f"jitter medRE={rec['jitter'].get('median_re', float('nan')):.3f} loss MAE={rec['loss_mae']:.5f} "
                  f"conv={r.converged} pkts={r.packets_generated} cpu={r.cpu_time_s:.1f}s", flush=True)
        cat = {k: np.concatenate(v) if v else np.empty(0) for k, v in pooled.items()}
        folder = {
            "samples": len(samples),
            "delay": _summ(cat["delay"]),
            "jitter": _summ(cat["jitter"]),
            "loss_mae": float(np.abs(cat["loss_abs"]).mean()) if cat["loss_abs"].size else None,
            "util": _summ(cat["util"]),
            "occupancy": _summ(cat["occ"]),
            "converged": sum(bool(x["converged"]) for x in samples),
            "per_sample": samples,
        }
        report["folders"][root] = folder  # type: ignore[index]
        print(f"== {root}: {len(samples)} samples, delay medRE={folder['delay'].get('median_re', float('nan')):.4f} "
              f"MAPE={folder['delay'].get('mape', float('nan')):.4f}, jitter medRE="
              f"{folder['jitter'].get('median_re', float('nan')):.4f} "
              f"MAPE={folder['jitter'].get('mape', float('nan')):.4f}, "
              f"loss MAE={folder['loss_mae']}", flush=True)
    report["machine"] = machine_info()
    write_report(report, args.out, echo=False, nan_as_null=True, default=float)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
