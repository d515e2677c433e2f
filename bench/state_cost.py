"""Cost of the service's checkpoint: ``Pipeline.state()`` encode and ``Pipeline.restore()`` decode on a filled network.

Usage::

    nice -n 5 .venv/bin/python bench/state_cost.py --run /tmp/tw/cg20 --minutes 10 \\
        --blob /tmp/tw/state_cost_cg.bin --out bench/notes/state_cost.json

``--run`` is a testbed folder (``twinwatch simulate telemetry --network cogentco --duration 20m --window 10s
--faults 1 --seed 0 --out DIR``). Its first ``--minutes`` of telemetry (every format, flows included) go
through :class:`twinwatch.stream.pipeline.Pipeline` with the ``qt`` twin, interleaved as the live topics
deliver them, so the state holds what a worker holds in steady state: counter state, a warmed-up detector,
the open windows' rows and the flow records kept for the traffic matrix.

With ``--blob FILE`` the filled state is written there the first time and, when the file exists, restored
from it instead of refilling (a state blob of any readable format version: the filled pipeline of an older
build can be measured by a newer one). Measured, ``--repeat`` times each (wall and process CPU, medians):

- ``encode_nothing_changed``: ``Pipeline.state(meta)`` with the pipeline unchanged since its last call;
- ``encode_after_a_small_batch_cpu_ms``: after 5 new messages of every format (counters, open windows and
  flow records changed, no window closed: the usual batch between two window closes);
- ``encode_every_part_changed``: with the part cache emptied first (as after a window close that also
  dropped flow records, the worst case);
- ``encode_version_1_equivalent``: what the version-1 encoder did with the same state (every part
  serialised, the whole archive deflated at zlib level 6), and its size;
- ``decode``: ``Pipeline.restore(blob)`` into a fresh pipeline (and a fresh pipeline alone);
- bytes: the compressed blob and the uncompressed parts per component (``stream.state.part_sizes``);
- a cProfile of one encode and one decode: cumulative seconds of the functions of ``stream/state.py``
  and ``stream/flowbuffer.py`` and the top functions by own time.

One torch thread. Wall figures on a shared machine mostly measure the CPU share the process got: the
report carries the load average and process CPU times beside them.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import os
import pstats
import time
from pathlib import Path
from typing import Any

import numpy as np
from _report import machine_info, timed, write_report

FORMATS = ("gnmic", "influx", "probe", "goflow2")


def _profile(fn: Any, top: int = 15) -> dict[str, Any]:
    prof = cProfile.Profile()
    prof.enable()
    fn()
    prof.disable()
    st = pstats.Stats(prof)
    total = st.total_tt  # type: ignore[attr-defined]
    rows = st.stats  # type: ignore[attr-defined]
    ours = {}
    own = []
    for (file, line, name), (_cc, _nc, tt, ct, _callers) in rows.items():
        label = f"{os.path.basename(file)}:{line}:{name}"
        if file.endswith(("stream/state.py", "stream/flowbuffer.py")):
            ours[label] = round(1e3 * ct, 1)
        own.append((tt, label))
    own.sort(reverse=True)
    return {"total_ms": round(1e3 * total, 1),
            "cumulative_ms_stream_state": dict(sorted(ours.items(), key=lambda kv: -kv[1])),
            "top_own_time_ms": {label: round(1e3 * tt, 1) for tt, label in own[:top]}}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--run", type=Path, required=True, help="testbed run folder (topics/, network.yaml, manifest)")
    ap.add_argument("--minutes", type=float, default=10.0, help="telemetry minutes fed before measuring")
    ap.add_argument("--batch", type=int, default=2000, help="messages per pipeline call while filling")
    ap.add_argument("--blob", type=Path, default=None, help="cache of the filled state (read if it exists)")
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--out", type=Path, default=Path("bench/notes/state_cost.json"))
    args = ap.parse_args()

    import torch

    torch.set_num_threads(1)
    from twinwatch.stream.pipeline import Pipeline, interleave
    from twinwatch.stream.state import decode, encode_pipeline, part_sizes
    from twinwatch.twin.models import load_model
    from twinwatch.twin.netmodel import load_network

    model = load_network(str(args.run / "network.yaml"))
    twin = load_model("qt", None)

    def fresh() -> Pipeline:
        return Pipeline([model], twin, window_s=10.0, lateness_s=5.0, max_age_s=None, sources=FORMATS,
                        idle_s=float("inf"))

    streams: dict[str, list[bytes]] = {}
    for f in FORMATS:
        p = args.run / "topics" / f"twinwatch.raw.{f}.jsonl"
        if p.exists():
            streams[f] = [x for x in p.read_bytes().split(b"\n") if x.strip()]
    span = float(json.loads((args.run / "manifest.json").read_text())["config"]["duration_s"])
    frac = min(1.0, 60.0 * args.minutes / span)
    cut = {f: round(len(v) * frac) for f, v in streams.items()}
    # the messages just after the fill: one small batch for the "changed since the last checkpoint" case
    after = {f: v[cut[f]: cut[f] + 50] for f, v in streams.items()}

    fill: dict[str, Any] = {}
    pipe = fresh()
    if args.blob is not None and args.blob.exists():
        blob0 = args.blob.read_bytes()
        meta0, _ = decode(blob0)
        t = time.perf_counter()
        pipe.restore(blob0)
        fill = {"from_blob": str(args.blob), "blob_format": meta0.get("format"), "blob_bytes": len(blob0),
                "restore_s": round(time.perf_counter() - t, 2)}
    else:
        t, c = time.perf_counter(), time.process_time()
        windows = 0
        for fmt, msgs in interleave({f: v[: cut[f]] for f, v in streams.items()}, args.batch):
            windows += len(pipe.process(msgs, fmt).windows)
        fill = {"minutes": args.minutes, "windows_closed": windows, "wall_s": round(time.perf_counter() - t, 1),
                "cpu_s": round(time.process_time() - c, 1)}
        if args.blob is not None:
            args.blob.write_bytes(pipe.state({"offsets": {}}))
    net = pipe.networks[model.name]
    held = {"flow_records": len(net.flows), "open_window_rows": int(sum(w.size for w in net.windows._chunk_win)),
            "counter_formats": sorted(net.counters)}
    meta = {"offsets": {f"twinwatch.raw.{f}:0": cut[f] for f in streams}, "group": "bench"}

    blob = pipe.state(meta)
    encode = timed(lambda: pipe.state(meta), args.repeat)
    encode_prof = _profile(lambda: pipe.state(meta))

    def uncached() -> None:
        pipe.state_cache.clear()
        pipe.state(meta)

    encode_uncached = timed(uncached, args.repeat)
    # a few messages of every format (no window closes): counters, windows and flows change, the detector not
    small: list[float] = []
    for r in range(args.repeat):
        for f, v in after.items():
            if v[5 * r: 5 * r + 5]:
                pipe.process(v[5 * r: 5 * r + 5], f)
        small.append(timed(lambda: pipe.state(meta), 1)["cpu_ms_median"])
    # version 1 (before this change): every part serialised, the whole archive deflated at level 6
    pipe.state_cache.clear()
    _, raw_parts = decode(encode_pipeline(pipe, meta, codec="none"))

    def v1() -> None:
        pipe.state_cache.clear()
        encode_pipeline(pipe, meta, codec="none")  # serialising every part, as version 1 did
        buf = io.BytesIO()
        arrays = {"meta": np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8)}
        arrays.update({f"p{i}": np.frombuffer(b, dtype=np.uint8) for i, b in enumerate(raw_parts.values())})
        np.savez_compressed(buf, **arrays)  # type: ignore[arg-type]
        v1_bytes.append(len(buf.getvalue()))

    v1_bytes: list[int] = []
    encode_v1 = timed(v1, args.repeat)
    pipe.state_cache.clear()
    blob = pipe.state(meta)
    decode_t = timed(lambda: fresh().restore(blob), args.repeat)
    fresh_t = timed(fresh, args.repeat)
    decode_prof = _profile(lambda: fresh().restore(blob))
    report = {
        "run": str(args.run), "network": model.name, "nodes": model.n_nodes, "links": model.n_links,
        "format": decode(blob)[0].get("format"), "fill": fill, "held": held,
        "blob_bytes": len(blob), "parts_bytes_uncompressed": part_sizes(blob)[model.name],
        "encode_nothing_changed": encode, "encode_after_a_small_batch_cpu_ms": small,
        "encode_every_part_changed": encode_uncached,
        "encode_version_1_equivalent": {**encode_v1, "bytes": v1_bytes[-1]},
        "decode_into_fresh_pipeline": decode_t, "fresh_pipeline_alone": fresh_t,
        "profile_encode": encode_prof, "profile_decode": decode_prof,
        "machine": machine_info(note="2-core shared dev box (several agents at work); load averages at the end"),
        "when_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    write_report(report, args.out, indent=2)


if __name__ == "__main__":
    main()
