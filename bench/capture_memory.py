"""Memory and time of reading replay captures: whole (a list of lines, the replay before session 37) against on
demand (:mod:`twinwatch.stream.capture`), the same files in the same run.

Each way runs in its own subprocess (so one's peak does not hide the other's) and reports the peak resident memory
it added (``ru_maxrss`` after − before), the time to open the captures, and the time to hand every message over in
the replay's batches of 2,000 (:func:`twinwatch.stream.pipeline.iter_interleave`), touching each one's length.

Usage::

    .venv/bin/python bench/capture_memory.py RUN_DIR/topics/*.jsonl --out bench/notes/capture_memory.json
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

from _report import machine_info, write_report

_CHILD = r"""
import json, resource, sys, time
from pathlib import Path
from twinwatch.stream.pipeline import iter_interleave
way, files = sys.argv[1], [Path(p) for p in sys.argv[2:]]
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
t0 = time.perf_counter()
if way == "whole":
    streams = {p.name: [ln for ln in p.read_bytes().split(b"\n") if ln.strip()] for p in files}
else:
    from twinwatch.stream.capture import open_capture
    streams = {p.name: open_capture(p) for p in files}
t_open = time.perf_counter() - t0
t0 = time.perf_counter()
n = size = 0
for _fmt, chunk in iter_interleave(streams, 2000):
    n += len(chunk)
    size += sum(map(len, chunk))
t_iter = time.perf_counter() - t0
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"way": way, "messages": n, "message_bytes": size, "open_s": t_open, "batches_s": t_iter,
                  "peak_rss_added_bytes": (peak - before) * 1024}))
"""


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("captures", nargs="+", type=Path)
    ap.add_argument("--out", type=Path, default=Path("bench/notes/capture_memory.json"))
    args = ap.parse_args()
    files = [str(p.resolve()) for p in args.captures]
    results = []
    for way in ("whole", "on_demand"):
        p = subprocess.run([sys.executable, "-c", _CHILD, way, *files], capture_output=True, text=True, check=True)
        results.append(json.loads(p.stdout.strip().splitlines()[-1]))
        r = results[-1]
        print(f"{way:10s} {r['messages']:>10,} messages  peak RSS added {r['peak_rss_added_bytes'] / 2**20:8.1f} MiB"
              f"  open {r['open_s']:6.2f} s  batches {r['batches_s']:6.2f} s", flush=True)
    whole, lazy = results
    report = {
        "command": " ".join(sys.argv), "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": machine_info(),
        "capture_bytes": sum(Path(f).stat().st_size for f in files), "results": results,
        "memory_ratio_whole_over_on_demand": whole["peak_rss_added_bytes"] / max(lazy["peak_rss_added_bytes"], 1),
        "same_messages": whole["messages"] == lazy["messages"] and whole["message_bytes"] == lazy["message_bytes"],
    }
    write_report(report, args.out, echo=False)
    print(f"whole / on demand, peak memory: {report['memory_ratio_whole_over_on_demand']:.1f}x; "
          f"same messages: {report['same_messages']} -> {args.out}")


if __name__ == "__main__":
    main()
