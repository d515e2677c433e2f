"""GNN vs MLP vs queueing theory on held-out GNNet data, interval coverage, inference speed.

Writes a JSON report and prints markdown tables (pasted into bench/notes/gnn.md).

Usage::

    .venv/bin/python bench/gnn_eval.py --out bench/notes/gnn_eval.json
    .venv/bin/python bench/gnn_eval.py --only-speed            # inference timing only

Data: ``../shared/data/gnnet`` (skips with a message when absent).
"""

from __future__ import annotations

import argparse
import itertools
import json
import re
import sys
import tarfile
import time
from pathlib import Path

import numpy as np
import torch
from _models import build_models
from _report import machine_info, write_report

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
DATA = ROOT.parent / "shared" / "data" / "gnnet"

SETS = {
    "2022 100 nodes": "2022/validation/100",
    "2021 validation (30 nodes)": "2021/validation",
    "2020 validation (14/24 nodes)": "2020/validation",
    "2022 130 nodes": "2022/validation/130",
    "2022 170 nodes": "2022/validation/170",
    "2022 200 nodes": "2022/validation/200",
}


def wall_sim_seconds(tarball: Path) -> list[float]:
    """Wall-clock simulation seconds per sample (``Time(s):`` of stability.txt)."""
    out = []
    with tarfile.open(tarball) as tf:
        for m in tf.getmembers():
            if m.name.endswith("stability.txt"):
                f = tf.extractfile(m)
                assert f is not None
                for line in f.read().decode().splitlines():
                    hit = re.search(r"Time\(s\):([0-9.]+)", line)
                    out.append(float(hit.group(1)) if hit else float("nan"))
    return out


def coverage(model: object, root: Path) -> dict[str, object]:
    """Share of labelled paths whose label lies inside the model's interval, per KPI and per offered-load bin."""
    from twinwatch.twin.conformal import LOAD_EDGES, path_max_load, regime_bins
    from twinwatch.twin.datasets.gnnet import iter_samples
    from twinwatch.twin.features import scenario_graph
    from twinwatch.twin.kpis import informative_jitter

    hits: dict[str, list[np.ndarray]] = {"delay_s": [], "jitter_s2": [], "loss_ratio": []}
    bins: dict[str, list[np.ndarray]] = {k: [] for k in hits}
    widths: dict[str, list[np.ndarray]] = {"delay_s": [], "jitter_s2": []}
    samples = list(iter_samples(root))
    preds = model.predict_many([s.scenario for s in samples])  # type: ignore[attr-defined]
    for s, pr in zip(samples, preds):
        b = regime_bins(path_max_load(scenario_graph(s.scenario)))
        for kpi in hits:
            if kpi not in pr.path_interval:
                continue
            lo, hi = pr.path_interval[kpi]
            y = s.labels.path(kpi)
            if kpi == "jitter_s2":
                m = informative_jitter(s.labels.path_delay_s, y)
            elif kpi == "delay_s":
                m = np.isfinite(y) & (y > 0)
            else:
                m = np.isfinite(y)
            hits[kpi].append((y[m] >= lo[m]) & (y[m] <= hi[m]))
            bins[kpi].append(b[m])
            if kpi in widths:
                widths[kpi].append((hi[m] - lo[m]) / pr.path(kpi)[m])
    out: dict[str, object] = {}
    names = [f"<{LOAD_EDGES[0]}"] + [f"{a}-{b}" for a, b in itertools.pairwise(LOAD_EDGES)] + [f">={LOAD_EDGES[-1]}"]
    for k, v in hits.items():
        if not v:
            continue
        h, bb = np.concatenate(v), np.concatenate(bins[k])
        out[f"{k}_coverage"] = float(h.mean())
        out[f"{k}_coverage_by_load"] = {names[i]: [float(h[bb == i].mean()), int((bb == i).sum())]
                                        for i in range(len(names)) if (bb == i).any()}
    out.update({f"{k}_rel_width": float(np.median(np.concatenate(v))) for k, v in widths.items() if v})
    return out


def speed(model: object, threads: int, repeats: int = 5) -> dict[str, float]:
    """Forward time of the GNN on the first 200-node sample (median of ``repeats``)."""
    from twinwatch.twin.datasets.gnnet import iter_samples

    root = DATA / "2022/validation/200"
    s = next(iter(iter_samples(root)))
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    model.predict(s.scenario)  # type: ignore[attr-defined]  # warm-up
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        model.predict(s.scenario)  # type: ignore[attr-defined]
        times.append(time.perf_counter() - t)
    torch.set_num_threads(before)
    tarball = root / s.file
    sim = wall_sim_seconds(tarball)[s.index]
    best = float(np.median(times))
    return {"threads": threads, "paths": s.scenario.n_paths, "nodes": s.scenario.n_nodes,
            "predict_s_median": best, "predict_s_min": float(min(times)), "paths_per_s": s.scenario.n_paths / best,
            "sim_wall_s": sim, "speedup_vs_sim": sim / best}


HELD_OUT = ("2022 130 nodes", "2022 170 nodes", "2022 200 nodes")


def pool(report: dict[str, object]) -> dict[str, object]:
    """Pooled 130–200-node figures of a report: MAPE/MAE weighted by paths, coverage by path counts per band."""
    acc = report["accuracy"]
    cov = report.get("coverage_nominal_90", {})
    assert isinstance(acc, dict) and isinstance(cov, dict)
    sets = [s for s in HELD_OUT if s in acc]
    out: dict[str, object] = {}
    if not sets:
        return out
    for m in acc[sets[0]]:
        n = sum(acc[s][m]["paths"] for s in sets)
        out[m] = {k: sum(acc[s][m][k] * acc[s][m]["paths"] for s in sets) / n
                  for k in ("delay_mape", "jitter_mape", "loss_mae")}
    for k in ("delay_s", "jitter_s2", "loss_ratio"):
        per_band: dict[str, list[float]] = {}
        for s in sets:
            for band, (c, n) in cov.get(s, {}).get(f"{k}_coverage_by_load", {}).items():
                h, t = per_band.get(band, [0.0, 0.0])
                per_band[band] = [h + c * n, t + n]
        if per_band:
            hits, tot = sum(v[0] for v in per_band.values()), sum(v[1] for v in per_band.values())
            out[f"{k}_coverage"] = {"all": hits / tot, **{b: h / t for b, (h, t) in per_band.items()}}
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--gnn", default=None, help="GNN model dir (default: shipped)")
    ap.add_argument("--mlp", default=None, help="MLP model dir (default: shipped)")
    ap.add_argument("--out", default=str(ROOT / "bench/notes/gnn_eval.json"))
    ap.add_argument("--only-speed", action="store_true")
    ap.add_argument("--skip-speed", action="store_true")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--models", default="gnn,mlp,qt", help="model specs, comma-separated (bench/_models.py)")
    ap.add_argument("--sets", default=",".join(SETS), help="comma-separated labels of SETS to evaluate")
    ap.add_argument("--pool", metavar="JSON", help="only print the pooled 130–200-node figures of an earlier report")
    a = ap.parse_args()
    if a.pool:
        print(json.dumps(pool(json.loads(Path(a.pool).read_text())), indent=1))
        return
    if not DATA.is_dir():
        print(f"skipped: {DATA} (the shared GNNet data) is absent")
        return
    torch.set_num_threads(a.threads)
    from twinwatch.twin.evaluate import evaluate
    from twinwatch.twin.models import get_model

    models = {"gnn": get_model("gnn", checkpoint=a.gnn), "mlp": get_model("mlp", checkpoint=a.mlp),
              "qt": get_model("qt"), "qt-packet": get_model("qt-packet")}
    models.update(build_models(",".join(m for m in a.models.split(",") if m not in models)))
    report: dict[str, object] = {"machine": machine_info(note="2-core shared CPU (contended; see notes)"),
                                 "threads": a.threads}
    if not a.skip_speed:
        report["speed"] = [speed(models["gnn"], t) for t in (1, 2)]
        print(json.dumps(report["speed"], indent=1))
    if not a.only_speed:
        table: dict[str, dict[str, dict[str, float]]] = {}
        cov: dict[str, dict[str, float]] = {}
        for label, rel in SETS.items():
            if label not in a.sets.split(","):
                continue
            table[label] = {}
            for name in a.models.split(","):
                rep = evaluate(models[name], DATA / rel)
                o = rep.overall
                table[label][name] = {"delay_mape": o.delay_mape, "delay_median_ape": o.delay_median_ape,
                                      "jitter_mape": o.jitter_mape, "jitter_median_ape": o.jitter_median_ape,
                                      "loss_mae": o.loss_mae, "paths": o.paths, "samples": o.samples,
                                      "predict_s_per_sample": rep.predict_s_per_sample}
                print(label, name, json.dumps(table[label][name]), flush=True)
            cov[label] = coverage(models["gnn"], DATA / rel)
            print(label, "coverage", cov[label], flush=True)
        report["accuracy"] = table
        report["coverage_nominal_90"] = cov
        report["pooled_130_200"] = pool(report)
        print("pooled 130-200 nodes", json.dumps(report["pooled_130_200"]))
        print("\n| data | model | delay MAPE % | delay median APE % | jitter MAPE % | jitter median APE % | loss MAE |")
        print("|---|---|---|---|---|---|---|")
        for label, per in table.items():
            for name, r in per.items():
                print(f"| {label} | {name} | {r['delay_mape']:.2f} | {r['delay_median_ape']:.2f} | "
                      f"{r['jitter_mape']:.1f} | {r['jitter_median_ape']:.1f} | {r['loss_mae']:.4f} |")
    write_report(report, Path(a.out), echo=False, nan_as_null=True)
    print(f"written {a.out}")


if __name__ == "__main__":
    main()
