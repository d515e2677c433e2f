"""Mutation fuzzing of the whole pipeline (decode → counters → windows → snapshot → twin → detector) → JSON.

``bench/fuzz_decoders.py`` stops at the counters; this feeds a run's captures through
:class:`twinwatch.stream.pipeline.Pipeline`, as ``twinwatch replay`` does, with a share of the
messages rewritten into **well-formed but extreme** ones a real network sends: counters at zero or
at 2⁶⁴ − 1, scaled ×0.5 / ×2 / ×1000, duplicated messages, unknown interfaces and devices, probe
results with nothing sent, more received than sent, every packet lost, delays of 0 or 10⁶ s,
huge jitter, a probe whose two ends are the same router, goflow2 flow records (the traffic matrix's
input) with extreme bytes, packets or sampling rates, unknown addresses, no duration, Telegraf SNMP
lines (influx) with counters at 2³² − 1 or 2⁶³ − 1, interfaces reported down; and, unless
``--no-timestamps``, samples shifted far into the past or future (a device clock gone wrong).
Malformed bytes are the decoder fuzzer's job; these all pass the decoders, so they reach the
windows, the traffic matrix, the twin and the detector. ``--formats`` picks the captures replayed,
``--mutate`` the formats mutated (BENCHMARKS' rows before the influx mutations: ``--mutate
gnmic,probe,goflow2``, and ``--formats gnmic,probe,influx`` for those without flows).

Reported: the mutations by kind, dead letters, windows closed, late rows, alert changes, the
windows that **failed** (a stage raised: the pipeline skips the window and counts it, see
``Pipeline._fail``; each is a bug to fix) with their errors, and any exception that escaped
``Pipeline.process`` (a bug that stops the service). The captures' own malformed messages are
left as they are. The mutations are :mod:`tests.fuzz._pipeline_mutations`' (``tests/fuzz/test_fuzz_pipeline.py``
runs them in CI on a short testbed run).

Usage::

    .venv/bin/python bench/fuzz_pipeline.py --run RUN --seed 1 --fraction 0.01 --out bench/notes/fuzz_pipeline.json
"""

from __future__ import annotations

import argparse
import json
import logging
import random
import sys
import time
import traceback
from collections import Counter
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tests.fuzz._pipeline_mutations import mutate  # noqa: E402

FORMATS = ("gnmic", "probe", "influx", "goflow2")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--run", type=Path, required=True, help="a `twinwatch simulate telemetry` run directory")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--fraction", type=float, default=0.01, help="share of messages mutated")
    ap.add_argument("--no-timestamps", action="store_true", help="leave the timestamps as they are")
    ap.add_argument("--twin", default="qt", help="the twin (a `twinwatch.twin.models` name)")
    ap.add_argument("--formats", default=",".join(FORMATS), help="the captures to replay (comma-separated)")
    ap.add_argument("--mutate", default="gnmic,probe,goflow2,influx",
                    help="the formats whose messages are mutated (comma-separated)")
    ap.add_argument("--out", type=Path, default=None)
    a = ap.parse_args()

    from _report import machine_info

    from twinwatch.stream.pipeline import Pipeline, interleave
    from twinwatch.twin.models import get_model
    from twinwatch.twin.netmodel import load_network

    logging.basicConfig(level=logging.CRITICAL)  # the failures are collected below, not printed
    streams = {f: [x for x in (a.run / "topics" / f"twinwatch.raw.{f}.jsonl").read_bytes().split(b"\n") if x]
               for f in a.formats.split(",") if (a.run / "topics" / f"twinwatch.raw.{f}.jsonl").exists()}
    kinds: Counter = Counter()
    streams = mutate(streams, random.Random(a.seed), a.fraction, not a.no_timestamps, kinds, a.mutate.split(","))
    pipe = Pipeline([load_network(str(a.run / "network.yaml"))], get_model(a.twin), window_s=10.0, lateness_s=5.0,
                    max_age_s=None, sources=streams, idle_s=float("inf"))
    counts: Counter = Counter()
    failures: list[dict[str, Any]] = []
    escaped = None
    t0 = time.process_time()
    try:
        for fmt, chunk in [*interleave(streams, 2000), ("", [])]:
            out = pipe.process(chunk, fmt) if fmt else pipe.flush()
            counts["dead letters"] += len(out.dead_letters)
            counts["alert changes"] += len(out.changes)
            counts["windows"] += len(out.windows)
            failures += [{"network": w.network, "start": w.start, "error": w.error}
                         for w in out.windows if w.outcome == "failed"]
    except Exception:
        escaped = traceback.format_exc()
    report = {"run": str(a.run), "seed": a.seed, "fraction": a.fraction, "timestamps": not a.no_timestamps,
              "mutated_formats": a.mutate.split(","),
              "twin": a.twin, "messages": {f: len(v) for f, v in streams.items()}, "mutations": dict(kinds),
              **dict(counts), "late rows": int(sum(pipe.late_rows.values())), "failed windows": len(failures),
              "failures": failures[:20], "escaped": escaped, "cpu_s": round(time.process_time() - t0, 1),
              "machine": machine_info()}
    text = json.dumps(report, indent=1)
    print(text)
    if a.out is not None:
        a.out.write_text(text + "\n")
    sys.exit(1 if failures or escaped else 0)


if __name__ == "__main__":
    main()
