"""Which devices the pipeline names as running behind or ahead of the others, against the runs' labels.

Usage::

    .venv/bin/python bench/clock_names_eval.py RUN [RUN ...] --out bench/notes/clock_names_eval.json

Each RUN is a testbed run (``twinwatch simulate telemetry ... --out RUN``) replayed whole through
:func:`twinwatch.stream.commands.replay.run_replay` (every capture, batches of 2,000, no twin: the clocks do not
depend on it). The testbed's benign ``late_batch`` events (a device's samples held up, then delivered late and out
of order) are the only skew it injects, so a device named *behind* is a true positive when the run labels a
``late_batch`` on it, and any device named *ahead* is a false one, as is any whose clock is named *behind*
(:meth:`~twinwatch.stream.clocks.SourceClocks.behind`: a steady lag, re-stamped; held-up telemetry must not be
taken for it). Reported per run and summed: labelled late-batch devices, devices named late, those of them
labelled, devices named ahead and devices whose clock is named behind.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from _report import machine_info, write_report


def _late_batch_devices(run: Path) -> set[str]:
    out: set[str] = set()
    for line in (run / "labels.jsonl").read_text().splitlines():
        if line.strip():
            lab = json.loads(line)
            if lab.get("kind") == "late_batch":
                out.update(lab.get("entities") or [])
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("runs", nargs="+", type=Path)
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args()

    from twinwatch.stream.commands.replay import run_replay
    from twinwatch.twin.netmodel import load_network

    rows: list[dict[str, Any]] = []
    for run in args.runs:
        streams = {p.name.split(".")[-2]: [x for x in p.read_bytes().splitlines() if x.strip()]
                   for p in sorted((run / "topics").glob("twinwatch.raw.*.jsonl"))}
        res = run_replay(streams, [load_network(str(run / "network.yaml"))], None, window_s=10.0, lateness_s=5.0)
        behind = {d for nets in res.devices.late.values() for d in nets}
        ahead = {d for nets in res.devices.ahead.values() for d in nets}
        clock_behind = {d for nets in getattr(res.devices, "behind", {}).values() for d in nets}  # since session 45
        labelled = _late_batch_devices(run)
        row = {"run": run.name, "late_rows": res.late_rows, "late_batch_devices": sorted(labelled),
               "named_late": sorted(behind), "named_late_labelled": sorted(behind & labelled),
               "named_ahead": sorted(ahead), "named_clock_behind": sorted(clock_behind)}
        rows.append(row)
        print(json.dumps(row), flush=True)
    total = {k: sum(len(r[k]) for r in rows) for k in ("late_batch_devices", "named_late", "named_late_labelled",
                                                        "named_ahead", "named_clock_behind")}
    write_report({"runs": rows, "total": total, "machine": machine_info()}, args.out, echo=False)
    print(json.dumps(total))


if __name__ == "__main__":
    main()
