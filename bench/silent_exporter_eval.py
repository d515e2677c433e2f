"""A flow exporter that goes silent: does the detector name it, and does it blame its neighbours instead?

For each network this script generates a run whose only faults are ``unmonitored_traffic`` (a router's flow records
vanish while its counters go on; :func:`reported_eval.kind_plan`: 10 minutes each, one every 20 minutes, on
routers drawn with the seed), replays it with ``twinwatch replay`` (the shipped twin) under the code to measure and,
with ``--reference PYTHONPATH``, under a reference build, and counts per variant, from the labels and the alerts only:

* ``named``: faults with a ``traffic_anomaly`` alert on the silent router opening during it (from a window before
  its start to two after its end, the scorer's grace);
* ``wrong_router_alerts``: ``traffic_anomaly`` alerts opening during a fault on another router;
* ``degradations``: ``degradation`` alerts opening during a fault (none is expected: the network is healthy);
* the delay of the first alert naming the router, in windows.

Replays are :func:`detect_eval.run_twin`'s (a finished one is reused), named ``alerts.<variant>.jsonl``.

The rule the figures are judged by is in ``bench/notes/detect_eval.md`` ("Session 50, second change").

Example::

    .venv/bin/python bench/silent_exporter_eval.py --networks bench/notes/networks_s30b/airtel.yaml --seed 8101 \\
        --runs-dir /tmp/silent --reference /tmp/reftw --out bench/notes/silent_exporter_eval_8101.json
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _report import machine_info, write_report  # noqa: E402
from detect_eval import DEV_SEEDS, run_twin  # noqa: E402
from reported_eval import kind_plan  # noqa: E402

from twinwatch.detectors.scoring import load_alert_lines, load_labels  # noqa: E402


def ensure_run(runs_dir: Path, network: str, hours: float, seed: int, length_s: float, every_s: float) -> Path:
    """The run of ``network`` with silent-exporter faults only, generated unless present."""
    if seed in DEV_SEEDS:
        raise SystemExit(f"seed {seed} was used while developing or in an earlier scoring; evaluate on new seeds")
    from twinwatch.twin.netmodel import load_network

    run = runs_dir / f"{Path(network).stem}-{hours:g}h-silent-s{seed}"
    if (run / "manifest.json").is_file():
        return run
    plan = kind_plan("unmonitored_traffic", list(load_network(network).node_names), seed, hours, [1.0],
                     every_s=every_s, length_s=length_s)
    plan_file = runs_dir / f"{run.name}.plan.jsonl"
    plan_file.write_text("".join(json.dumps(f) + "\n" for f in plan))
    cmd = [sys.executable, "-m", "twinwatch.stream.cli", "simulate", "telemetry", "--network", network, "--duration",
           f"{hours * 3600:.0f}s", "--fault-plan", str(plan_file), "--seed", str(seed), "--workers", "2",
           "--out", str(run)]
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, check=False)
    if proc.returncode not in (0, 3) or not (run / "manifest.json").is_file():
        raise SystemExit(f"simulate failed for {network}: {proc.stderr.strip()[-2000:]}")
    return run


def count(run: Path, alerts: Path) -> dict[str, Any]:
    """The figures of the module docstring for one run and one alerts file."""
    w = float(json.loads((run / "manifest.json").read_text())["config"]["window_s"])
    firing = [a for a in load_alert_lines(alerts) if a.get("status", "firing") == "firing"]
    out: dict[str, Any] = {"faults": 0, "named": 0, "wrong_router_alerts": 0, "degradations": 0, "delays_windows": []}
    for lb in load_labels(run / "labels.jsonl"):
        if lb["kind"] != "unmonitored_traffic":
            continue
        lo, hi = float(lb["start"]) - w, float(lb["end"]) + 2 * w
        during = [a for a in firing if lo <= float(a["start"]) <= hi]
        node = set(lb["entities"])
        mine = [a for a in during if a["kind"] == "traffic_anomaly" and a["entity_id"] in node]
        out["faults"] += 1
        out["named"] += bool(mine)
        out["wrong_router_alerts"] += sum(a["kind"] == "traffic_anomaly" and a["entity_id"] not in node
                                          for a in during)
        out["degradations"] += sum(a["kind"] == "degradation" for a in during)
        if mine:
            out["delays_windows"].append(max(0.0, (min(float(a["start"]) for a in mine) - float(lb["start"])) / w))
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--networks", nargs="+", required=True, help="network-model files (or shipped names)")
    ap.add_argument("--seed", type=int, required=True)
    ap.add_argument("--hours", type=float, default=2.0)
    ap.add_argument("--length", type=float, default=600.0, help="seconds each exporter stays silent")
    ap.add_argument("--every", type=float, default=1200.0, help="seconds between fault starts")
    ap.add_argument("--runs-dir", type=Path, required=True)
    ap.add_argument("--reference", default=None, metavar="PYTHONPATH",
                    help="a folder holding a reference build's twinwatch package, replayed beside this one")
    ap.add_argument("--out", type=Path, required=True)
    args = ap.parse_args(argv)
    args.runs_dir.mkdir(parents=True, exist_ok=True)
    variants = {"candidate": None, **({"reference": args.reference} if args.reference else {})}
    rows = []
    for network in args.networks:
        run = ensure_run(args.runs_dir, network, args.hours, args.seed, args.length, args.every)
        row: dict[str, Any] = {"network": Path(network).stem, "run": run.name}
        for name, path in variants.items():
            alerts, summary = run_twin(run, 0.01, name=name, pythonpath=path)
            if alerts is None:
                raise SystemExit(f"{run.name} ({name}): {summary}")
            row[name] = {"replay": summary, **count(run, alerts)}
        rows.append(row)
        print(json.dumps(row), file=sys.stderr)
    pooled = {}
    for name in variants:
        d = [r[name]["delays_windows"] for r in rows]
        flat = [x for xs in d for x in xs]
        pooled[name] = {k: sum(r[name][k] for r in rows) for k in ("faults", "named", "wrong_router_alerts",
                                                                    "degradations")}
        pooled[name]["delay_median_windows"] = float(np.median(flat)) if flat else None
    doc = {"command": " ".join(sys.argv), "machine": machine_info(), "seed": args.seed, "hours": args.hours,
           "length_s": args.length, "every_s": args.every, "runs": rows, "pooled": pooled}
    write_report(doc, args.out, nan_as_null=True)
    print(json.dumps(pooled, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
