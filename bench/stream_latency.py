"""Window close → alert latency of the service pipeline on a large network (Cogent, 197 nodes) with a fault.

Usage::

    nice -n 5 .venv/bin/python bench/stream_latency.py --run /tmp/tw/cg20 --out bench/notes/stream_latency.json

The run is a testbed folder of the Cogent network with at least one fault, e.g.::

    twinwatch simulate telemetry --network cogentco --duration 20m --window 10s --faults 1 --seed 0 --out DIR

Its raw topics are fed to :class:`twinwatch.stream.pipeline.Pipeline` (the service's code: decode →
counters → windows → snapshot → twin → detectors) in slices of about ``--slice-s`` seconds of telemetry
per format, interleaved in event time as the live topics deliver them, so that windows close one at a
time as they would live. Imports, the twin and the decoders are warmed first; one torch thread.

Measured per closed window (with rows):

- **close → alert**: from the moment the pipeline starts closing the window (its watermark has passed
  the window's end) to the moment the window's alert changes, expected record and metrics are out
  (the return of the closing step: snapshot, twin inference, detection); the windows that close in
  the same step share it;
- **batch → alert**: from the hand-over of the message batch that moved the watermark (decoding it
  included) to the same moment;
- the split of close → alert into snapshot build, twin inference and detection (medians, wall);
- the same for the windows whose traffic matrix came from flow records (``close_to_alert_flow_windows``:
  with ``--tm-range on`` the twin is asked twice for them);
- the process CPU time of the closing step (``close_to_alert_cpu``): on a shared, loaded machine the wall
  latency mostly measures the CPU share the process got.

p50, p90, p99 and max over the windows; separately for the windows that raised or resolved an alert.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

import numpy as np
from _report import machine_info, write_report

FORMATS = ("gnmic", "influx", "probe", "goflow2")


def _pct(x: list[float]) -> dict[str, float]:
    if not x:
        return {}
    a = np.asarray(x) * 1e3
    return {"n": int(a.size), "p50_ms": round(float(np.percentile(a, 50)), 1),
            "p90_ms": round(float(np.percentile(a, 90)), 1), "p99_ms": round(float(np.percentile(a, 99)), 1),
            "max_ms": round(float(a.max()), 1)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--run", type=Path, required=True, help="testbed run folder (topics/, network.yaml, manifest)")
    ap.add_argument("--slice-s", type=float, default=1.0, help="telemetry seconds per fed slice")
    ap.add_argument("--minutes", type=float, default=None, help="feed only the first minutes of the run")
    ap.add_argument("--model", default="gnn")
    ap.add_argument("--tm-range", choices=["on", "off"], default="off",
                    help="the second inference at the traffic's upper estimate on flow-measured windows (Pipeline "
                         "tm_range)")
    ap.add_argument("--matrix-classes", choices=["records", "best-effort"], default="best-effort",
                    help="how counter-fitted matrices split each pair over the ToS classes (the service's "
                         "detection.matrix_classes)")
    ap.add_argument("--out", type=Path, default=Path("bench/notes/stream_latency.json"))
    args = ap.parse_args()

    import torch

    torch.set_num_threads(1)
    from twinwatch.stream.pipeline import Pipeline, interleave
    from twinwatch.twin.models import get_model
    from twinwatch.twin.netmodel import load_network

    streams = {}
    for f in FORMATS:
        p = args.run / "topics" / f"twinwatch.raw.{f}.jsonl"
        if p.exists():
            streams[f] = [x for x in p.read_bytes().split(b"\n") if x.strip()]
    span = float(json.loads((args.run / "manifest.json").read_text())["config"]["duration_s"])
    if args.minutes is not None and 60.0 * args.minutes < span:
        streams = {f: v[: round(len(v) * 60.0 * args.minutes / span)] for f, v in streams.items()}
        span = 60.0 * args.minutes
    longest = max(len(v) for v in streams.values())
    batch = max(1, round(longest * args.slice_s / span))
    model = load_network(str(args.run / "network.yaml"))
    twin = get_model(args.model)
    warm = Pipeline([model], twin, window_s=10.0, lateness_s=5.0, max_age_s=None)
    for fmt, chunk in interleave({f: v[: max(1, len(v) // 40)] for f, v in streams.items()}, max(1, longest // 40)):
        warm.process(chunk, fmt)
    warm.flush()

    pipe = Pipeline([model], twin, window_s=10.0, lateness_s=5.0, max_age_s=None, sources=list(streams),
                    idle_s=float("inf"), tm_range=args.tm_range == "on",
                    matrix_classes=args.matrix_classes)
    parts: dict[str, float] = {}
    closes: list[dict[str, Any]] = []
    inner = pipe._close_windows
    builder, detector = pipe.networks[model.name].builder, pipe.networks[model.name].detector

    def timed(obj: Any, name: str, key: str) -> None:
        fn = getattr(obj, name)

        def wrapper(*a: Any, **k: Any) -> Any:
            t = time.perf_counter()
            try:
                return fn(*a, **k)
            finally:
                parts[key] = parts.get(key, 0.0) + time.perf_counter() - t
        setattr(obj, name, wrapper)

    timed(builder, "build", "snapshot_s")
    timed(detector, "detect", "detect_s")
    import twinwatch.twin.models as models_mod
    timed(models_mod, "predict_many", "twin_s")

    def close_windows(*, force: bool) -> Any:
        parts.clear()
        t, c = time.perf_counter(), time.process_time()
        out = inner(force=force)
        done, c_done = time.perf_counter(), time.process_time()
        n = sum(1 for w in out.windows if w.rows)
        if n:
            flows = any(w.snapshot is not None and w.snapshot.tm_source in ("flows", "mixed") for w in out.windows)
            closes.append({"t_close": t, "t_done": done, "cpu_s": c_done - c, "windows": n,
                           "changes": len(out.changes), "flows": flows, **parts})
        return out

    pipe._close_windows = close_windows  # type: ignore[method-assign]
    lat_close: list[float] = []
    cpu_close: list[float] = []
    lat_batch: list[float] = []
    lat_close_alert: list[float] = []
    split: dict[str, list[float]] = {"snapshot_s": [], "twin_s": [], "detect_s": []}
    lat_flows: list[float] = []  # closing steps holding a window whose matrix came from flow records
    changes = 0
    t_all = time.perf_counter()
    for fmt, chunk in [*interleave(streams, batch), (None, None)]:
        before = len(closes)
        t_batch = time.perf_counter()
        out = pipe.process(chunk, fmt) if fmt is not None else pipe.flush()
        changes += len(out.changes)
        for c in closes[before:]:
            for _ in range(c["windows"]):
                lat_close.append(c["t_done"] - c["t_close"])
                if c["flows"]:
                    lat_flows.append(c["t_done"] - c["t_close"])
                cpu_close.append(c["cpu_s"])
                lat_batch.append(c["t_done"] - t_batch)
                if c["changes"]:
                    lat_close_alert.append(c["t_done"] - c["t_close"])
            for k in split:
                split[k].append(c.get(k, 0.0) / c["windows"])
    wall = time.perf_counter() - t_all
    report = {
        "run": str(args.run), "network": model.name, "nodes": model.n_nodes, "links": model.n_links,
        "model": args.model, "tm_range": args.tm_range,
        "matrix_classes": args.matrix_classes, "slice_s": args.slice_s, "batch_messages": batch,
        "windows": len(lat_close), "closing_steps": len(closes), "alert_changes": changes,
        "wall_s": round(wall, 1),
        "close_to_alert": _pct(lat_close), "close_to_alert_cpu": _pct(cpu_close), "batch_to_alert": _pct(lat_batch),
        "close_to_alert_windows_with_alert_changes": _pct(lat_close_alert),
        "close_to_alert_flow_windows": _pct(lat_flows),
        "split_median_ms": {k: round(1e3 * float(np.median(v)), 1) for k, v in split.items() if v},
        "machine": machine_info(note="2-core shared dev box under load (~9 agents); load averages at the end"),
    }
    write_report(report, args.out, indent=2)


if __name__ == "__main__":
    main()
