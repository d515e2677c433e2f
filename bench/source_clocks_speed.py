"""CPU per batch of :meth:`twinwatch.stream.clocks.SourceClocks.observe` on a partition of many device clocks.

Usage::

    .venv/bin/python bench/source_clocks_speed.py --live 2000 --silent 1000 \
        --out bench/notes/source_clocks_speed.json

A source (a Kafka partition) carries ``--live`` devices that report every window, in batches of ``--batch`` device
clocks each, and ``--silent`` devices that reported once and then went quiet (they stay in the clocks' state up to
its cap). Reported: CPU milliseconds per ``observe`` (median of ``--repeat`` runs of ``--windows`` windows each).
Run it with ``PYTHONPATH`` pointing at another checkout to compare two trees.
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import numpy as np
from _report import machine_info, write_report


def _run(live: int, silent: int, batch: int, windows: int) -> float:
    """CPU milliseconds per ``observe`` over ``windows`` windows."""
    from twinwatch.stream.clocks import SourceClocks

    clocks = SourceClocks(tolerance_s=10.0, max_lead_s=300.0)
    clocks.observe({f"quiet{i}": 500.0 + i * 0.01 for i in range(silent)})
    rng = np.random.default_rng(0)
    calls = 0
    t0 = time.process_time()
    for step in range(windows):
        now = 1000.0 + step * 10.0
        for first in range(0, live, batch):
            clocks.observe({f"dev{i}": now + float(rng.random()) for i in range(first, min(live, first + batch))})
            calls += 1
    return 1e3 * (time.process_time() - t0) / max(calls, 1)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--live", type=int, default=2000, help="devices reporting every window")
    ap.add_argument("--silent", type=int, default=1000, help="devices that reported once, then went quiet")
    ap.add_argument("--batch", type=int, default=100, help="device clocks per batch")
    ap.add_argument("--windows", type=int, default=100)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args()
    runs = [_run(args.live, args.silent, args.batch, args.windows) for _ in range(args.repeat)]
    write_report({"live": args.live, "silent": args.silent, "batch": args.batch, "windows": args.windows,
                  "cpu_ms_per_observe": round(statistics.median(runs), 4), "runs": [round(r, 4) for r in runs],
                  "machine": machine_info()}, args.out, indent=2)


if __name__ == "__main__":
    main()
