"""Is the probes' reach honest? Predicted against observed detection of grey-loss faults on scored runs.

``twinwatch network plan-probes`` and ``network show`` state how small a silent loss the probes find
(:func:`twinwatch.detectors.probe_loss.detectable_loss`: the probe-loss scan's steady state). This script applies the
same model to every grey-loss fault the telemetry measures in runs that ``bench/detect_eval.py`` generated and
scored (run folders with ``labels.jsonl``, ``network.yaml``, ``truth/`` and ``alerts.twin.jsonl``): for each probe
crossing the faulted link (its pair's routes in the model, all links up), the probability that the packets of the
fault's windows, at the best of the scan's scales that fits in the fault, reach the one-discovery level
``alpha / n_probes``; a fault is predicted found when any probe is. Observed: the run's twin alerts scored on that
fault alone (:func:`detect_eval.score_file`). Reported pooled and by bin of predicted probability.

Usage (the check of session 37: the held-out runs of sessions 33-37)::

    .venv/bin/python bench/probe_reach_check.py RUNS/*-f84-* RUNS/*-f42-* --out bench/notes/probe_reach_check.json
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import detect_eval as de  # noqa: E402
from _report import machine_info, write_report  # noqa: E402

from twinwatch.detectors.probe_loss import DEFAULT_SCALES, discovery_chance, one_discovery_count  # noqa: E402
from twinwatch.detectors.visibility import healthy_pair_links  # noqa: E402
from twinwatch.twin.netmodel import load_network_model  # noqa: E402

BINS = ((0.0, 0.3), (0.3, 0.7), (0.7, 0.9), (0.9, 1.0 + 1e-9))


def predicted_found(rates_pps: list[float], windows: int, loss: float, n_probes: int, alpha: float,
                    window_s: float) -> float:
    """Probability that at least one of the probes (``rates_pps``) crossing a link losing ``loss`` for ``windows``
    windows reaches the level, each at the best scale that fits in the fault."""
    miss = 1.0
    for rate in rates_pps:
        best = 0.0
        for s in DEFAULT_SCALES:
            if s > windows:
                break
            n = s * rate * window_s
            best = max(best, discovery_chance(n, one_discovery_count(n, n_probes, alpha), loss))
        miss *= 1.0 - best
    return 1.0 - miss


def check_run(run: Path, alpha: float) -> list[dict[str, object]]:
    """One row per measurable grey-loss fault of ``run``."""
    model = load_network_model(run / "network.yaml")
    labels = [lab for lab in map(json.loads, (run / "labels.jsonl").read_text().splitlines())
              if lab.get("kind") == "grey_loss"]
    if not labels:
        return []
    window_s = float(json.loads((run / "manifest.json").read_text())["config"]["window_s"])
    routes = healthy_pair_links(model)
    names = list(model.node_names)
    probes = [(f"{names[int(s)]}->{names[int(d)]}", float(r))
              for s, d, r in zip(model.probe_src, model.probe_dst, model.probe_rate_pps, strict=True)]
    vis = de.visibility(run, model)
    rows = []
    for lab in labels:
        if not vis[lab["id"]].observable:
            continue
        link, windows = lab["entities"][0], round((lab["end"] - lab["start"]) / window_s)
        rates = [r for key, r in probes if link in routes.get(key, ())]
        p = predicted_found(rates, windows, float(lab["magnitude"]), len(probes), alpha, window_s)
        found = de.score_file(run, run / "alerts.twin.jsonl", model, alpha, scored_ids={lab["id"]}).overall.recall
        rows.append({"run": run.name, "fault": lab["id"], "link": link, "windows": windows, "probes_on_link":
                     len(rates), "probes": len(probes), "predicted": round(p, 4), "found": bool(found >= 1.0)})
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("runs", nargs="+", type=Path, help="scored run folders (fault-free ones are skipped)")
    ap.add_argument("--alpha", type=float, default=0.01)
    ap.add_argument("--out", type=Path, default=Path("bench/notes/probe_reach_check.json"))
    args = ap.parse_args()
    rows: list[dict[str, object]] = []
    for run in args.runs:
        if (run / "alerts.twin.jsonl").is_file() and (run / "truth").is_dir():
            rows += check_run(run, args.alpha)
            print(f"{run.name}: {len(rows)} faults so far", file=sys.stderr, flush=True)
    pred = np.array([float(r["predicted"]) for r in rows])
    found = np.array([bool(r["found"]) for r in rows])
    bins = [{"predicted_from": lo, "predicted_to": min(hi, 1.0), "faults": int(m.sum()),
             "mean_predicted": round(float(pred[m].mean()), 3) if m.any() else None,
             "found_share": round(float(found[m].mean()), 3) if m.any() else None}
            for lo, hi in BINS for m in [(pred >= lo) & (pred < hi)]]
    report = {"command": " ".join(sys.argv), "alpha": args.alpha, "runs": len({r["run"] for r in rows}),
              "faults": len(rows), "predicted_found": round(float(pred.sum()), 1), "found": int(found.sum()),
              "bins": bins, "rows": rows, "machine": machine_info()}
    write_report(report, args.out, echo=False)
    print(f"{len(rows)} faults in {report['runs']} runs: predicted {report['predicted_found']}, found "
          f"{report['found']} -> {args.out}")


if __name__ == "__main__":
    main()
