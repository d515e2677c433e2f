"""Memory soak of the service pipeline: a steady message rate for ``--minutes``, RSS sampled every ``--sample-s``.

Usage::

    nice -n 5 .venv/bin/python bench/stream_soak.py --run /tmp/tw/ab24 --minutes 30 --speed 10 \
        --out bench/notes/stream_soak.json

The testbed run's raw topics (``topics/twinwatch.raw.<format>.jsonl``; make one with ``twinwatch simulate
telemetry --network abilene --duration 24h --window 10s --out DIR``) are read lazily, line by line, and fed
to :class:`twinwatch.stream.pipeline.Pipeline` (decode → counters → windows → snapshot → twin → detectors,
alerts to a JSONL sink) at ``--speed`` × real time: every ``--tick-s`` of wall time, the messages of
``speed × tick`` seconds of telemetry (each format's share in proportion to its message count, as the
topics deliver them), then a sleep for the rest of the tick. The process' resident set size (psutil) is
sampled every ``--sample-s`` seconds.

Result (JSON): the samples (wall s, RSS MiB, messages, windows closed, event time covered), and after the
warm-up (``--warmup-min``): median RSS, max/min relative to the median, the linear trend (MiB per hour)
and ``flat`` = every sample within ±10 % of the post-warm-up median. Also the rate kept: messages per wall
second and the fraction of ticks that overran (the pipeline could not keep the rate). One torch thread.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

from _report import machine_info, write_report

FORMATS = ("gnmic", "influx", "probe", "goflow2")


def _count(path: Path) -> int:
    with path.open("rb") as f:
        return sum(1 for line in f if line.strip())


def _lines(path: Path) -> Iterator[bytes]:
    with path.open("rb") as f:
        for line in f:
            if line.strip():
                yield line.rstrip(b"\n")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--run", type=Path, required=True, help="testbed run folder (topics/, network.yaml, manifest)")
    ap.add_argument("--minutes", type=float, default=30.0, help="soak length, minutes of wall time")
    ap.add_argument("--speed", type=float, default=10.0, help="telemetry seconds fed per wall second")
    ap.add_argument("--tick-s", type=float, default=1.0, help="feeding period, seconds")
    ap.add_argument("--sample-s", type=float, default=10.0, help="RSS sampling period, seconds")
    ap.add_argument("--warmup-min", type=float, default=5.0, help="minutes left out of the flatness figures")
    ap.add_argument("--model", default="gnn")
    ap.add_argument("--out", type=Path, default=Path("bench/notes/stream_soak.json"))
    args = ap.parse_args()

    import numpy as np
    import psutil
    import torch

    torch.set_num_threads(1)
    from twinwatch.stream.pipeline import Pipeline
    from twinwatch.stream.sinks import JsonlSink
    from twinwatch.twin.models import get_model
    from twinwatch.twin.netmodel import load_network

    topics = {f: args.run / "topics" / f"twinwatch.raw.{f}.jsonl" for f in FORMATS}
    topics = {f: p for f, p in topics.items() if p.exists()}
    counts = {f: _count(p) for f, p in topics.items()}
    span_s = float(json.loads((args.run / "manifest.json").read_text())["config"]["duration_s"])
    per_s = {f: c / span_s for f, c in counts.items()}  # messages per telemetry second, per format
    readers = {f: _lines(p) for f, p in topics.items()}
    model = load_network(str(args.run / "network.yaml"))
    pipe = Pipeline([model], get_model(args.model), window_s=10.0, lateness_s=5.0, max_age_s=None,
                    sources=list(topics), idle_s=float("inf"))
    proc = psutil.Process(os.getpid())
    samples: list[dict[str, float]] = []
    state = {"messages": 0, "windows": 0, "event_s": 0.0, "overruns": 0, "ticks": 0}
    stop = threading.Event()
    t_start = time.perf_counter()

    def sampler() -> None:
        while not stop.is_set():
            samples.append({"wall_s": round(time.perf_counter() - t_start, 1),
                            "rss_mib": round(proc.memory_info().rss / 2**20, 2), **{
                                k: state[k] for k in ("messages", "windows", "event_s")}})
            stop.wait(args.sample_s)

    th = threading.Thread(target=sampler, daemon=True)
    out_dir = Path(tempfile.mkdtemp(prefix="twinwatch-soak-"))
    owed = dict.fromkeys(topics, 0.0)
    end_at = t_start + 60.0 * args.minutes
    th.start()
    with JsonlSink(out_dir / "alerts.jsonl", fsync=False) as alerts:
        while time.perf_counter() < end_at and readers:
            t_tick = time.perf_counter()
            for f in list(readers):
                owed[f] += per_s[f] * args.speed * args.tick_s
                take = int(owed[f])
                owed[f] -= take
                batch = [x for _, x in zip(range(take), readers[f], strict=False)]
                if len(batch) < take:
                    del readers[f]
                if batch:
                    res = pipe.process(batch, f)
                    alerts.write_changes(res.changes)
                    state["messages"] += len(batch)
                    state["windows"] += len(res.windows)
            state["event_s"] += args.speed * args.tick_s
            state["ticks"] += 1
            left = args.tick_s - (time.perf_counter() - t_tick)
            if left > 0:
                time.sleep(left)
            else:
                state["overruns"] += 1
    stop.set()
    th.join()
    wall = time.perf_counter() - t_start
    after = [s for s in samples if s["wall_s"] >= 60.0 * args.warmup_min]
    rss = np.array([s["rss_mib"] for s in after]) if after else np.zeros(0)
    summary: dict[str, object] = {"samples_after_warmup": int(rss.size)}
    if rss.size >= 2:
        med = float(np.median(rss))
        t_h = np.array([s["wall_s"] for s in after]) / 3600.0
        slope = float(np.polyfit(t_h, rss, 1)[0])
        summary.update({"rss_median_mib": round(med, 1), "rss_min_rel": round(float(rss.min() / med - 1.0), 4),
                        "rss_max_rel": round(float(rss.max() / med - 1.0), 4),
                        "trend_mib_per_hour": round(slope, 2),
                        "flat_within_10pct": bool(np.all(np.abs(rss / med - 1.0) <= 0.10))})
    report = {
        "run": str(args.run), "model": args.model, "minutes": args.minutes, "speed_x_real_time": args.speed,
        "wall_s": round(wall, 1), "messages": state["messages"], "windows": state["windows"],
        "event_s_fed": state["event_s"], "msgs_per_wall_s": round(state["messages"] / wall, 1),
        "ticks": state["ticks"], "overrun_ticks": state["overruns"], "warmup_min": args.warmup_min,
        "summary": summary,
        "machine": machine_info(note="2-core shared dev box under load (~9 agents); load averages at the end"),
        "samples": samples,
    }
    write_report(report, args.out, echo=False)
    print(json.dumps({k: v for k, v in report.items() if k != "samples"}, indent=2))


if __name__ == "__main__":
    main()
