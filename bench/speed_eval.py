"""Capacity from telemetry: the same runs replayed with and without the ports' reported speed, scored side by side.

For each network this script

1. generates a labelled run with ``twinwatch simulate telemetry --report-speed`` (or reuses one in ``--runs-dir``);
2. writes a copy of its topics with the speed fields stripped (:func:`strip_speed`: gnmic's ``lag-speed`` leaf,
   Telegraf's ``ifHighSpeed`` / ``lag_speed`` fields; ``--report-speed`` draws no random number, so the copy is the
   telemetry of the same run without speed);
3. replays both with ``twinwatch replay`` (the service's pipeline, the shipped twin) at ``--alpha``;
4. scores both from the labels and the alerts only (:func:`twinwatch.detectors.scoring.score`), pooled per variant.

The rule the figures are judged by is in ``bench/notes/speed_eval.md`` (written before the runs).

Example::

    .venv/bin/python bench/speed_eval.py --networks bench/notes/networks_s26/renater2006.yaml --seed 7701 \\
        --runs-dir /tmp/speed-runs --out bench/notes/speed_eval_7701.json
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _report import machine_info, write_report  # noqa: E402
from detect_eval import DEV_SEEDS, run_twin, score_file  # noqa: E402

from twinwatch.detectors.scoring import (  # noqa: E402
    NETWORK_FAULT_KINDS,
    ScoreReport,
    combine_reports,
    load_alert_lines,
    load_labels,
)

_SPEED_FIELDS = re.compile(rb',"/interfaces/interface/aggregation/state/lag-speed":\d+|,(?:ifHighSpeed|lag_speed)=\d+i')
VARIANTS = ("speed", "no-speed")


def strip_speed(data: bytes) -> bytes:
    """``data`` (a topic's JSON lines or line protocol) without the speed fields the testbed's ``report_speed`` adds.

    >>> strip_speed(b'{"values":{"a":"1","/interfaces/interface/aggregation/state/lag-speed":20000}}')
    b'{"values":{"a":"1"}}'
    >>> strip_speed(b"interface,agent_host=r1,ifName=e1 ifInOctets=7i,ifOperStatus=1i,ifHighSpeed=10000i 1")
    b'interface,agent_host=r1,ifName=e1 ifInOctets=7i,ifOperStatus=1i 1'
    """
    return _SPEED_FIELDS.sub(b"", data)


def ensure_run(runs_dir: Path, network: str, hours: float, seed: int, faults: int) -> Path:
    """The run of ``network`` with the ports' speed, generated unless present."""
    if seed in DEV_SEEDS:
        raise SystemExit(f"seed {seed} was used while developing or in an earlier scoring; evaluate on new seeds")
    run = runs_dir / f"{Path(network).stem}-{hours:g}h-f{faults}-s{seed}-speed"
    if (run / "manifest.json").is_file():
        return run
    cmd = [sys.executable, "-m", "twinwatch.stream.cli", "simulate", "telemetry", "--network", network, "--duration",
           f"{hours * 3600:.0f}s", "--faults", str(faults), "--seed", str(seed), "--report-speed", "--workers", "2",
           "--out", str(run)]
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, check=False)
    if proc.returncode not in (0, 3) or not (run / "manifest.json").is_file():
        raise SystemExit(f"simulate failed for {network}: {proc.stderr.strip()[-2000:]}")
    print(f"  generated {run.name} in {time.perf_counter() - t0:.0f} s", file=sys.stderr)
    return run


def without_speed(run: Path) -> Path:
    """A sibling run directory holding the same run with the speed fields stripped from its topics."""
    out = run.with_name(run.name.removesuffix("-speed") + "-nospeed")
    if (out / "manifest.json").is_file():
        return out
    (out / "topics").mkdir(parents=True, exist_ok=True)
    for topic in sorted((run / "topics").glob("*.jsonl")):
        (out / "topics" / topic.name).write_bytes(strip_speed(topic.read_bytes()))
    for name in ("network.yaml", "labels.jsonl", "malformed.jsonl"):
        if (run / name).is_file():
            shutil.copy2(run / name, out / name)
    if not (out / "truth").exists():
        (out / "truth").symlink_to((run / "truth").resolve())
    shutil.copy2(run / "manifest.json", out / "manifest.json")  # last: it marks the copy complete
    return out


def capacity_degradations_explained(run: Path, alerts: Path) -> dict[str, int]:
    """Per capacity degradation of the run: ``degradation`` alerts that open during it naming its cable, and
    whether a ``link_state`` alert on ``speed_bps`` opened then."""
    man = json.loads((run / "manifest.json").read_text())
    w = float(man["config"]["window_s"])
    labels = [lb for lb in load_labels(run / "labels.jsonl") if lb["kind"] == "capacity_degradation"]
    spans = load_alert_lines(alerts)
    out = {"faults": len(labels), "degradation_alerts_on_the_link": 0, "faults_with_degradation_alert": 0,
           "faults_with_speed_alert": 0}
    for lb in labels:
        lo, hi = float(lb["start"]) - w, float(lb["end"]) + 2 * w
        cable = set(lb["entities"]) | {"->".join(reversed(e.split("->"))) for e in lb["entities"]}
        deg = [a for a in spans if a["kind"] == "degradation" and lo <= float(a["start"]) <= hi
               and (a["entity_id"] in cable or any(s.get("link") in cable for s in (a.get("suspects") or [])[:1]))]
        sp = [a for a in spans if a["kind"] == "link_state" and a["kpi"] == "speed_bps"
              and lo <= float(a["start"]) <= hi and a["entity_id"] in cable]
        out["degradation_alerts_on_the_link"] += len(deg)
        out["faults_with_degradation_alert"] += bool(deg)
        out["faults_with_speed_alert"] += bool(sp)
    return out


def _kind_row(r: ScoreReport, kind: str) -> dict[str, Any]:
    k = r.per_kind.get(kind)
    if k is None:
        return {}
    return {"events": k.events, "detected": k.detected, "false_positives": k.false_positives, "recall": k.recall,
            "precision": k.precision, "f1": k.f1, "delay_median_windows": k.delay_median_windows,
            "delay_p95_windows": k.delay_p95_windows, "top1": k.top1, "top3": k.top3}


def _others(r: ScoreReport) -> dict[str, Any]:
    """Event F1 over the network-fault kinds other than capacity degradation: their faults detected and missed,
    against every unmatched network-fault alert (false alarms)."""
    kinds = [k for n, k in r.per_kind.items() if n in NETWORK_FAULT_KINDS and n != "capacity_degradation"]
    tp = sum(k.detected for k in kinds)
    fn = sum(k.events - k.detected for k in kinds)
    fp = r.false_alarms
    p = tp / (tp + fp) if tp + fp else float("nan")
    rec = tp / (tp + fn) if tp + fn else float("nan")
    f1 = 2 * p * rec / (p + rec) if p + rec > 0 else float("nan")
    return {"detected": tp, "missed": fn, "false_alarms": fp, "precision": p, "recall": rec, "f1": f1}


def _overall(r: ScoreReport) -> dict[str, Any]:
    return {"f1": r.overall.f1, "precision": r.overall.precision, "recall": r.overall.recall,
            "false_alarms": r.false_alarms, "false_alarms_per_network_window": r.false_alarms_per_network_window,
            "benign_with_network_alert": r.benign_with_network_alert, "benign_events": r.benign_events}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--networks", nargs="+", required=True, help="network-model files (or shipped names)")
    ap.add_argument("--seed", type=int, required=True)
    ap.add_argument("--hours", type=float, default=4.2)
    ap.add_argument("--faults", type=int, default=84)
    ap.add_argument("--alpha", type=float, default=0.01)
    ap.add_argument("--runs-dir", type=Path, required=True)
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "notes" / "speed_eval.json")
    args = ap.parse_args(argv)
    args.runs_dir.mkdir(parents=True, exist_ok=True)
    from twinwatch.twin.netmodel import load_network_model

    reports: dict[str, list[ScoreReport]] = {v: [] for v in VARIANTS}
    per_run: list[dict[str, Any]] = []
    t_start = time.perf_counter()
    for network in args.networks:
        run = ensure_run(args.runs_dir, network, args.hours, args.seed, args.faults)
        model = load_network_model(run / "network.yaml")
        row: dict[str, Any] = {"network": model.name, "run": run.name}
        for variant, rdir in (("speed", run), ("no-speed", without_speed(run))):
            t0 = time.perf_counter()
            alerts, summary = run_twin(rdir, args.alpha)
            if alerts is None:
                raise SystemExit(f"{rdir.name}: {summary}")
            rep = score_file(rdir, alerts, model, args.alpha)
            reports[variant].append(rep)
            row[variant] = {"replay": summary, "seconds": round(time.perf_counter() - t0, 1),
                            "capacity_degradation": _kind_row(rep, "capacity_degradation"),
                            "other_faults": _others(rep), **_overall(rep),
                            "explained": capacity_degradations_explained(rdir, alerts)}
            print(f"{model.name} {variant}: capacity {row[variant]['capacity_degradation']} "
                  f"others {row[variant]['other_faults']} FA {rep.false_alarms_per_network_window:.4g} "
                  f"benign {rep.benign_with_network_alert}/{rep.benign_events}", file=sys.stderr)
        per_run.append(row)
    pooled = {v: combine_reports(reports[v]) for v in VARIANTS}
    doc = {
        "command": " ".join(sys.argv),
        "machine": machine_info(),
        "seed": args.seed, "hours": args.hours, "faults": args.faults, "alpha": args.alpha,
        "runs": per_run,
        "pooled": {v: {"capacity_degradation": _kind_row(r, "capacity_degradation"), "other_faults": _others(r),
                       **_overall(r), "per_kind": {k: _kind_row(r, k) for k in sorted(r.per_kind)}}
                   for v, r in pooled.items()},
        "explained": {v: {k: int(np.sum([row[v]["explained"][k] for row in per_run]))
                          for k in per_run[0][v]["explained"]} for v in VARIANTS} if per_run else {},
        "wall_s": round(time.perf_counter() - t_start, 1),
    }
    write_report(doc, args.out, nan_as_null=True)
    print(json.dumps(doc["pooled"], indent=1, default=str))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
