"""Replay speed vs real time, and pipeline throughput for gnmic vs raw ``orjson.loads``, on a testbed run.

Usage::

    .venv/bin/python bench/stream_replay.py [--run DIR] [--duration 3600] [--model gnn] \
        [--out bench/notes/stream_replay.json] [--replay-only]

    # the issue's figure: a 24 h Abilene capture at 10 s windows
    .venv/bin/twinwatch simulate telemetry --network abilene --duration 24h --window 10s --seed 0 --out /tmp/ab24
    nice -n 5 .venv/bin/python bench/stream_replay.py --run /tmp/ab24 --replay-only \
        --out bench/notes/stream_replay_24h.json

Without ``--run`` it first plays a labelled Abilene testbed run (``--duration``
seconds, 10 s windows, 4 faults) into a temporary folder. Imports, the twin
and the decoders' compiled kernels are loaded (and warmed on a few messages)
before anything is timed; one thread for torch.

Measures

- **replay**: every raw topic of the run through :func:`twinwatch.stream.commands.replay.run_replay`
  (decode → counters → windows → snapshot → twin → detectors → JSONL sinks; flow records feed the
  traffic matrix), the captures read on demand as ``twinwatch replay`` reads them (since session 37: the
  reads are inside the timed loop, the line index is built before it): event time covered / wall time, and
  / process CPU time (the fairer figure on a shared, loaded machine: the wall figure divides by the load);
- the replay's time split: decode+normalise+window (``process`` less window closing)
  vs window closing (snapshot, twin, detection), from a second run with timers;
- **gnmic throughput**: the gnmic topic alone through :class:`twinwatch.stream.pipeline.Pipeline`
  (same stages) vs ``orjson.loads`` of the same messages in the same process, messages/s;
  and the ingest part alone (decode, counters, windowing; no window closes).
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from _report import machine_info, write_report

FORMATS = ("gnmic", "influx", "probe", "goflow2")


def _streams(run: Path) -> dict[str, Sequence[bytes]]:
    """The run's captures as ``twinwatch replay`` reads them: on demand (:mod:`twinwatch.stream.capture`)."""
    from twinwatch.stream.capture import open_capture

    return {f: open_capture(run / "topics" / f"twinwatch.raw.{f}.jsonl")
            for f in FORMATS if (run / "topics" / f"twinwatch.raw.{f}.jsonl").exists()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--run", type=Path, help="an existing testbed run folder (topics/, network.yaml)")
    ap.add_argument("--duration", type=float, default=3600.0, help="seconds of testbed run to generate")
    ap.add_argument("--model", default="gnn")
    ap.add_argument("--out", type=Path, default=Path("bench/notes/stream_replay.json"))
    ap.add_argument("--replay-only", action="store_true", help="only the replay figure (no split, no gnmic runs)")
    args = ap.parse_args()

    import orjson
    import torch

    torch.set_num_threads(1)
    from twinwatch.stream.commands.replay import run_replay
    from twinwatch.stream.pipeline import Pipeline, interleave, iter_interleave
    from twinwatch.stream.sinks import JsonlSink
    from twinwatch.twin.models import get_model
    from twinwatch.twin.netmodel import load_network

    run = args.run
    if run is None:
        from twinwatch.twin.testbed.faults import random_plan
        from twinwatch.twin.testbed.run import TestbedConfig, run_testbed

        run = Path(tempfile.mkdtemp(prefix="twinwatch-bench-"))
        m = load_network("abilene")
        plan = random_plan(m.link_ids, m.node_names, duration_s=args.duration, window_s=10.0, n_faults=4, seed=1)
        run_testbed(m, plan, run, TestbedConfig(duration_s=args.duration, window_s=10.0, seed=1,
                                                      malformed_fraction=0.01))
    streams = _streams(run)
    model = load_network(str(run / "network.yaml"))
    twin = get_model(args.model)
    # warm-up: imports, numba caches of the decoders, the twin's first call
    warm = Pipeline([model], twin, window_s=10.0, lateness_s=5.0, max_age_s=None)
    for fmt, chunk in interleave({f: v[:200] for f, v in streams.items()}, 200):
        warm.process(chunk, fmt)
    warm.flush()

    out_dir = Path(tempfile.mkdtemp(prefix="twinwatch-bench-out-"))
    load0, cpu0 = os.getloadavg(), time.process_time()
    with JsonlSink(out_dir / "alerts.jsonl", fsync=False) as alerts, \
            JsonlSink(out_dir / "expected.jsonl", fsync=False) as expected, \
            JsonlSink(out_dir / "dlq.jsonl", fsync=False) as dlq:
        res = run_replay(streams, [model], twin, window_s=10.0, lateness_s=5.0, alerts_sink=alerts,
                         expected_sink=expected, dlq_sink=dlq)
    cpu_s = time.process_time() - cpu0
    replay = {"event_span_s": res.event_span_s, "wall_s": round(res.elapsed_s, 3),
              "speedup_x_real_time": round(res.speedup, 1), "cpu_s": round(cpu_s, 1),
              "speedup_x_real_time_cpu": round(res.event_span_s / cpu_s, 1), "messages": res.messages,
              "alert_changes": len(res.changes), "dead_letters": res.dead_letters, "late_rows": res.late_rows,
              "load_avg_start": load0, "load_avg_end": os.getloadavg()}
    if args.replay_only:
        report = {"run": str(run), "model": args.model, "window_s": 10.0, "replay": replay,
                  "machine": machine_info(note="2-core shared dev box under load (~9 agents)")}
        write_report(report, args.out, indent=2)
        return

    # split: time in window closing vs the rest
    pipe = Pipeline([model], twin, window_s=10.0, lateness_s=5.0, max_age_s=None)
    close_s = 0.0
    orig = pipe._close

    def timed_close(*, force: bool) -> object:
        nonlocal close_s
        t = time.perf_counter()
        r = orig(force=force)
        close_s += time.perf_counter() - t
        return r

    pipe._close = timed_close  # type: ignore[method-assign]
    t0 = time.perf_counter()
    for fmt, chunk in iter_interleave(streams, 2000):
        pipe.process(chunk, fmt)
    pipe.flush()
    total = time.perf_counter() - t0
    split = {"total_s": round(total, 3), "window_close_s": round(close_s, 3),
             "decode_normalize_window_s": round(total - close_s, 3),
             "windows": int(res.event_span_s / 10.0)}
    print(json.dumps({"replay": replay, "replay_split": split}), flush=True)

    # gnmic alone: the pipeline vs orjson.loads of the same messages
    msgs = list(streams["gnmic"])  # in memory: the baseline times decoding, not reading
    t0 = time.perf_counter()
    for m in msgs:
        try:  # noqa: SIM105 (contextlib.suppress would slow the baseline loop being timed)
            orjson.loads(m)
        except orjson.JSONDecodeError:  # the run's corrupted messages
            pass
    raw_s = time.perf_counter() - t0
    p2 = Pipeline([model], twin, window_s=10.0, lateness_s=5.0, max_age_s=None)
    t0 = time.perf_counter()
    for i in range(0, len(msgs), 2000):
        p2.process(msgs[i:i + 2000], "gnmic")
    p2.flush()
    pipe_s = time.perf_counter() - t0
    # the same without any window closing (a window longer than the run): decode + counters + windowing only
    p3 = Pipeline([model], twin, window_s=1e9, lateness_s=5.0, max_age_s=None)
    t0 = time.perf_counter()
    for i in range(0, len(msgs), 2000):
        p3.process(msgs[i:i + 2000], "gnmic")
    ingest_s = time.perf_counter() - t0
    gnmic = {"messages": len(msgs), "orjson_loads_msgs_per_s": round(len(msgs) / raw_s),
             "pipeline_msgs_per_s": round(len(msgs) / pipe_s),
             "ratio_pipeline_over_orjson": round(raw_s / pipe_s, 4),
             "ingest_only_msgs_per_s": round(len(msgs) / ingest_s),
             "ratio_ingest_over_orjson": round(raw_s / ingest_s, 4)}

    report = {"run": str(run), "model": args.model, "window_s": 10.0, "replay": replay, "replay_split": split,
              "gnmic": gnmic, "machine": machine_info(note="2-core shared dev box under load (~9 agents)")}
    write_report(report, args.out, indent=2)


if __name__ == "__main__":
    main()
