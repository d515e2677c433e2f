"""Configuration from telemetry: the same runs replayed with and without what the routers report of a link's
configuration (``--report``: the ports' speed, the interfaces' IGP metric), scored side by side.

For each network this script

1. generates a labelled run with ``twinwatch simulate telemetry`` and the report's flag (``--report-speed``,
   ``--report-igp-metric``), or reuses one in ``--runs-dir``;
2. writes a copy of its topics with the reported fields stripped (:func:`strip_speed`: gnmic's ``lag-speed`` leaf,
   Telegraf's ``ifHighSpeed`` / ``lag_speed`` fields; :func:`strip_igp_metric`: the gnmic IS-IS metric events;
   neither flag draws a random number, so the copy is the telemetry of the same run without them);
3. replays both with ``twinwatch replay`` (the service's pipeline, the shipped twin) at ``--alpha``;
4. scores both from the labels and the alerts only (:func:`twinwatch.detectors.scoring.score`), pooled per variant:
   the fault kind the report tells of (capacity degradations, metric changes), the other kinds, and what the twin
   explains (:func:`faults_explained`).

With ``--magnitudes`` (speed only, the second check) each network instead runs a plan of capacity degradations
only, of those remaining fractions in turn (:func:`capacity_plan`), with the speed; the script then reports, per
magnitude, the faults a ``link_state`` alert on ``speed_bps`` named and the speed alerts outside every fault.

The rules the figures are judged by are in ``bench/notes/speed_eval.md`` and ``bench/notes/igp_eval.md`` (written
before the runs).

Example::

    .venv/bin/python bench/reported_eval.py --report speed --networks bench/notes/networks_s26/renater2006.yaml \\
        --seed 7701 --runs-dir /tmp/speed-runs --out bench/notes/speed_eval_7701.json
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
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
    truth_links,
)

_SPEED_FIELDS = re.compile(rb',"/interfaces/interface/aggregation/state/lag-speed":\d+|,(?:ifHighSpeed|lag_speed)=\d+i')
_IGP_EVENT = re.compile(rb'^\{"name":"isis",[^\n]*/isis/interfaces/interface/levels/level/af/state/metric"[^\n]*\n',
                        re.MULTILINE)


def strip_speed(data: bytes) -> bytes:
    """``data`` (a topic's JSON lines or line protocol) without the speed fields the testbed's ``report_speed`` adds.

    >>> strip_speed(b'{"values":{"a":"1","/interfaces/interface/aggregation/state/lag-speed":20000}}')
    b'{"values":{"a":"1"}}'
    >>> strip_speed(b"interface,agent_host=r1,ifName=e1 ifInOctets=7i,ifOperStatus=1i,ifHighSpeed=10000i 1")
    b'interface,agent_host=r1,ifName=e1 ifInOctets=7i,ifOperStatus=1i 1'
    """
    return _SPEED_FIELDS.sub(b"", data)


def strip_igp_metric(data: bytes) -> bytes:
    """``data`` (a topic's JSON lines) without the IS-IS metric events the testbed's ``report_igp_metric`` adds.

    >>> leaf = b"/p/isis/interfaces/interface/levels/level/af/state/metric"
    >>> strip_igp_metric(b'{"a":1}\\n{"name":"isis","values":{"' + leaf + b'":10}}\\n{"b":2}\\n')
    b'{"a":1}\\n{"b":2}\\n'
    """
    return _IGP_EVENT.sub(b"", data)


@dataclass(frozen=True)
class Report:
    """What the routers report of a link's configuration, as this script evaluates it."""

    flag: str
    """``twinwatch simulate telemetry``'s option that adds it."""
    kind: str
    """The fault kind it tells of."""
    kpi: str
    """The ``link_state`` alert's KPI that names it."""
    tag: str
    """Run-folder suffix (``-<tag>`` with the report, ``-no<tag>`` without)."""


REPORTS = {
    "speed": Report("--report-speed", "capacity_degradation", "speed_bps", "speed"),
    "igp-metric": Report("--report-igp-metric", "metric_change", "igp_metric", "igp"),
}
STRIP = {"speed": strip_speed, "igp-metric": strip_igp_metric}


def kind_plan(kind: str, entities: list[str], seed: int, hours: float, magnitudes: list[float], *,
              every_s: float = 600.0, length_s: float = 300.0) -> list[dict[str, Any]]:
    """A fault plan of one ``kind`` only: one every ``every_s`` from ``every_s / 2``, ``length_s`` long, on
    ``entities`` (link ids or router names) drawn with ``seed``, magnitudes ``magnitudes`` in turn.

    >>> [(f["start_s"], f["entities"]) for f in kind_plan("unmonitored_traffic", ["r1"], 1, 0.5, [1.0])]
    [(300.0, ['r1']), (900.0, ['r1']), (1500.0, ['r1'])]
    """
    rng = np.random.default_rng(seed)
    starts = np.arange(every_s / 2, hours * 3600.0 - length_s + 1.0, every_s)  # the last may end with the run
    picks = rng.choice(len(entities), size=starts.size, replace=starts.size > len(entities))
    return [{"kind": kind, "start_s": float(t), "end_s": float(t + length_s),
             "entities": [entities[int(k)]], "magnitude": float(magnitudes[i % len(magnitudes)])}
            for i, (t, k) in enumerate(zip(starts, picks, strict=True))]


def capacity_plan(link_ids: list[str], seed: int, hours: float, magnitudes: list[float], *, every_s: float = 600.0,
                  length_s: float = 300.0) -> list[dict[str, Any]]:
    """A fault plan of capacity degradations only (:func:`kind_plan`) on cables drawn with ``seed`` (one direction
    named: the fault takes both), remaining fractions ``magnitudes`` in turn.

    >>> [(f["start_s"], f["magnitude"]) for f in capacity_plan(["a->b", "b->a"], 1, 0.5, [0.75, 0.5])]
    [(300.0, 0.75), (900.0, 0.5), (1500.0, 0.75)]
    """
    return kind_plan("capacity_degradation", link_ids, seed, hours, magnitudes, every_s=every_s, length_s=length_s)


def ensure_run(runs_dir: Path, network: str, hours: float, seed: int, faults: int,
               magnitudes: list[float] | None = None, report: str = "speed") -> Path:
    """The run of ``network`` with the ``report`` (:data:`REPORTS`), generated unless present (``magnitudes``: a
    plan of capacity degradations only, :func:`capacity_plan`, instead of ``faults`` of every kind)."""
    if seed in DEV_SEEDS:
        raise SystemExit(f"seed {seed} was used while developing or in an earlier scoring; evaluate on new seeds")
    spec = REPORTS[report]
    tag = f"f{faults}" if magnitudes is None else "cap" + "-".join(f"{m:g}" for m in magnitudes)
    run = runs_dir / f"{Path(network).stem}-{hours:g}h-{tag}-s{seed}-{spec.tag}"
    if (run / "manifest.json").is_file():
        return run
    how = ["--faults", str(faults)]
    if magnitudes is not None:
        from twinwatch.twin.netmodel import load_network

        plan = capacity_plan(list(load_network(network).link_ids), seed, hours, magnitudes)
        plan_file = runs_dir / f"{run.name}.plan.jsonl"
        plan_file.write_text("".join(json.dumps(f) + "\n" for f in plan))
        how = ["--fault-plan", str(plan_file)]
    cmd = [sys.executable, "-m", "twinwatch.stream.cli", "simulate", "telemetry", "--network", network, "--duration",
           f"{hours * 3600:.0f}s", *how, "--seed", str(seed), spec.flag, "--workers", "2",
           "--out", str(run)]
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, check=False)
    if proc.returncode not in (0, 3) or not (run / "manifest.json").is_file():
        raise SystemExit(f"simulate failed for {network}: {proc.stderr.strip()[-2000:]}")
    print(f"  generated {run.name} in {time.perf_counter() - t0:.0f} s", file=sys.stderr)
    return run


def derived_run(run: Path, out: Path, topic_bytes: Callable[[Path], bytes]) -> Path:
    """``out``: a copy of ``run`` whose topics hold ``topic_bytes(topic file)`` (the same labels, network model and
    list of malformed messages; its ground truth linked), made once: its manifest, copied last, marks it complete."""
    if (out / "manifest.json").is_file():
        return out
    (out / "topics").mkdir(parents=True, exist_ok=True)
    for topic in sorted((run / "topics").glob("*.jsonl")):
        (out / "topics" / topic.name).write_bytes(topic_bytes(topic))
    for name in ("network.yaml", "labels.jsonl", "malformed.jsonl"):
        if (run / name).is_file():
            shutil.copy2(run / name, out / name)
    if not (out / "truth").exists():
        (out / "truth").symlink_to((run / "truth").resolve())
    shutil.copy2(run / "manifest.json", out / "manifest.json")  # last: it marks the copy complete
    return out


def without(run: Path, report: str = "speed") -> Path:
    """A sibling run directory holding the same run with the ``report``'s fields stripped from its topics."""
    tag = REPORTS[report].tag
    out = run.with_name(run.name.removesuffix(f"-{tag}") + f"-no{tag}")
    return derived_run(run, out, lambda topic: STRIP[report](topic.read_bytes()))


def _faults(run: Path, kind: str = "capacity_degradation"
            ) -> tuple[float, list[tuple[dict[str, Any], frozenset[str], float, float]]]:
    """The run's window (s) and, per fault of ``kind``, its label, its links (a cable fault: both directions) and
    the span of onsets that count as its own: from a window before its start (clock skew) to two after its end
    (the scorer's grace)."""
    w = float(json.loads((run / "manifest.json").read_text())["config"]["window_s"])
    return w, [(lb, truth_links(lb), float(lb["start"]) - w, float(lb["end"]) + 2 * w)
               for lb in load_labels(run / "labels.jsonl") if lb["kind"] == kind]


def faults_explained(run: Path, alerts: Path, report: str = "speed") -> dict[str, int]:
    """Per fault of the ``report``'s kind in the run: ``degradation`` alerts that open during it naming its link,
    those that open during it anywhere in the network (a metric change moves traffic elsewhere), and whether a
    ``link_state`` alert on the report's KPI opened then on its link."""
    spec = REPORTS[report]
    _, faults = _faults(run, spec.kind)
    spans = load_alert_lines(alerts)
    out = {"faults": len(faults), "degradation_alerts_on_the_link": 0, "faults_with_degradation_alert": 0,
           "degradation_alerts_anywhere": 0, f"faults_with_{spec.tag}_alert": 0}
    for _, links, lo, hi in faults:
        during = [a for a in spans if a["kind"] == "degradation" and lo <= float(a["start"]) <= hi]
        deg = [a for a in during
               if a["entity_id"] in links or any(s.get("link") in links for s in (a.get("suspects") or [])[:1])]
        named = [a for a in spans if a["kind"] == "link_state" and a["kpi"] == spec.kpi
                 and lo <= float(a["start"]) <= hi and a["entity_id"] in links]
        out["degradation_alerts_on_the_link"] += len(deg)
        out["faults_with_degradation_alert"] += bool(deg)
        out["degradation_alerts_anywhere"] += len(during)
        out[f"faults_with_{spec.tag}_alert"] += bool(named)
    return out


def _kind_row(r: ScoreReport, kind: str) -> dict[str, Any]:
    k = r.per_kind.get(kind)
    if k is None:
        return {}
    return {"events": k.events, "detected": k.detected, "false_positives": k.false_positives, "recall": k.recall,
            "precision": k.precision, "f1": k.f1, "delay_median_windows": k.delay_median_windows,
            "delay_p95_windows": k.delay_p95_windows, "top1": k.top1, "top3": k.top3}


def _others(r: ScoreReport, kind: str = "capacity_degradation") -> dict[str, Any]:
    """Event F1 over the network-fault kinds other than ``kind``: their faults detected and missed, against every
    unmatched network-fault alert (false alarms)."""
    kinds = [k for n, k in r.per_kind.items() if n in NETWORK_FAULT_KINDS and n != kind]
    tp = sum(k.detected for k in kinds)
    fn = sum(k.events - k.detected for k in kinds)
    fp = r.false_alarms
    p = tp / (tp + fp) if tp + fp else float("nan")
    rec = tp / (tp + fn) if tp + fn else float("nan")
    f1 = 2 * p * rec / (p + rec) if p + rec > 0 else float("nan")
    return {"detected": tp, "missed": fn, "false_alarms": fp, "precision": p, "recall": rec, "f1": f1}


def speed_alerts_by_magnitude(run: Path, alerts: Path) -> dict[str, Any]:
    """Per remaining fraction: capacity degradations a ``speed_bps`` alert named on their cable (onset within the
    fault, + 2 windows of grace, − 1 for clock skew) and their delays in windows; and the ``speed_bps`` alerts that
    opened outside every fault on their cable."""
    w, faults = _faults(run)
    firing = [a for a in load_alert_lines(alerts) if a["kpi"] == "speed_bps" and a.get("status") == "firing"]
    used: set[str] = set()
    out: dict[str, Any] = {}
    for lb, cable, lo, hi in faults:
        hits = [a for a in firing if a["entity_id"] in cable and lo <= float(a["start"]) <= hi]
        used |= {a["id"] for a in hits}
        row = out.setdefault(f"{float(lb['magnitude']):g}", {"faults": 0, "named": 0, "delays_windows": []})
        row["faults"] += 1
        if hits:
            row["named"] += 1
            row["delays_windows"].append(max(0.0, (min(float(a["start"]) for a in hits) - float(lb["start"])) / w))
    return {"per_magnitude": out, "speed_alerts_outside_faults": len([a for a in firing if a["id"] not in used])}


def _overall(r: ScoreReport) -> dict[str, Any]:
    return {"f1": r.overall.f1, "precision": r.overall.precision, "recall": r.overall.recall,
            "false_alarms": r.false_alarms, "false_alarms_per_network_window": r.false_alarms_per_network_window,
            "benign_with_network_alert": r.benign_with_network_alert, "benign_events": r.benign_events}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--report", choices=sorted(REPORTS), default="speed",
                    help="what the routers report: the ports' speed or the interfaces' IGP metric")
    ap.add_argument("--networks", nargs="+", required=True, help="network-model files (or shipped names)")
    ap.add_argument("--seed", type=int, required=True)
    ap.add_argument("--hours", type=float, default=4.2)
    ap.add_argument("--faults", type=int, default=84)
    ap.add_argument("--alpha", type=float, default=0.01)
    ap.add_argument("--runs-dir", type=Path, required=True)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--magnitudes", default=None,
                    help="comma-separated remaining fractions: a plan of capacity degradations only (second check)")
    args = ap.parse_args(argv)
    if args.magnitudes is not None:
        if args.report != "speed":
            ap.error("--magnitudes: capacity degradations only (--report speed)")
        return _magnitudes_main(args)
    spec = REPORTS[args.report]
    variants = (spec.tag, f"no-{spec.tag}")
    args.runs_dir.mkdir(parents=True, exist_ok=True)
    from twinwatch.twin.netmodel import load_network_model

    reports: dict[str, list[ScoreReport]] = {v: [] for v in variants}
    per_run: list[dict[str, Any]] = []
    t_start = time.perf_counter()
    for network in args.networks:
        run = ensure_run(args.runs_dir, network, args.hours, args.seed, args.faults, report=args.report)
        model = load_network_model(run / "network.yaml")
        row: dict[str, Any] = {"network": model.name, "run": run.name}
        for variant, rdir in zip(variants, (run, without(run, args.report)), strict=True):
            t0 = time.perf_counter()
            alerts, summary = run_twin(rdir, args.alpha)
            if alerts is None:
                raise SystemExit(f"{rdir.name}: {summary}")
            rep = score_file(rdir, alerts, model, args.alpha)
            reports[variant].append(rep)
            row[variant] = {"replay": summary, "seconds": round(time.perf_counter() - t0, 1),
                            spec.kind: _kind_row(rep, spec.kind),
                            "other_faults": _others(rep, spec.kind), **_overall(rep),
                            "explained": faults_explained(rdir, alerts, args.report)}
            print(f"{model.name} {variant}: {spec.kind} {row[variant][spec.kind]} "
                  f"others {row[variant]['other_faults']} FA {rep.false_alarms_per_network_window:.4g} "
                  f"benign {rep.benign_with_network_alert}/{rep.benign_events}", file=sys.stderr)
        per_run.append(row)
    pooled = {v: combine_reports(reports[v]) for v in variants}
    doc = {
        "command": " ".join(sys.argv),
        "machine": machine_info(),
        "report": args.report, "seed": args.seed, "hours": args.hours, "faults": args.faults, "alpha": args.alpha,
        "runs": per_run,
        "pooled": {v: {spec.kind: _kind_row(r, spec.kind), "other_faults": _others(r, spec.kind),
                       **_overall(r), "per_kind": {k: _kind_row(r, k) for k in sorted(r.per_kind)}}
                   for v, r in pooled.items()},
        "explained": {v: {k: int(np.sum([row[v]["explained"][k] for row in per_run]))
                          for k in per_run[0][v]["explained"]} for v in variants} if per_run else {},
        "wall_s": round(time.perf_counter() - t_start, 1),
    }
    write_report(doc, args.out, nan_as_null=True)
    print(json.dumps(doc["pooled"], indent=1, default=str))
    return 0


def _magnitudes_main(args: argparse.Namespace) -> int:
    """The second check: capacity degradations only, of ``--magnitudes``, with the speed."""
    mags = [float(x) for x in args.magnitudes.split(",")]
    args.runs_dir.mkdir(parents=True, exist_ok=True)
    rows = []
    for network in args.networks:
        run = ensure_run(args.runs_dir, network, args.hours, args.seed, 0, mags)
        alerts, summary = run_twin(run, args.alpha)
        if alerts is None:
            raise SystemExit(f"{run.name}: {summary}")
        rows.append({"network": Path(network).stem, "run": run.name, "replay": summary,
                     **speed_alerts_by_magnitude(run, alerts)})
        print(json.dumps(rows[-1], default=str), file=sys.stderr)
    pooled: dict[str, Any] = {}
    for row in rows:
        for mag, r in row["per_magnitude"].items():
            p = pooled.setdefault(mag, {"faults": 0, "named": 0, "delays_windows": []})
            p["faults"] += r["faults"]
            p["named"] += r["named"]
            p["delays_windows"] += r["delays_windows"]
    for p in pooled.values():
        p["delay_median_windows"] = float(np.median(p["delays_windows"])) if p["delays_windows"] else None
    doc = {"command": " ".join(sys.argv), "machine": machine_info(), "seed": args.seed, "hours": args.hours,
           "magnitudes": mags, "alpha": args.alpha, "runs": rows, "pooled": pooled,
           "speed_alerts_outside_faults": sum(r["speed_alerts_outside_faults"] for r in rows)}
    write_report(doc, args.out, nan_as_null=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
