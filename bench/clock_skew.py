"""A device whose clock runs ahead, through the pipeline: late rows, windows, rows used, rejections, alerts.

Usage::

    .venv/bin/python bench/clock_skew.py --run RUN --device Perth --ahead 60 --twin qt \
        --out bench/notes/clock_skew_iinet.json

RUN is a testbed run (``twinwatch simulate telemetry ... --out RUN``). Each scenario rewrites the timestamps of
RUN's gnmic messages and runs them through :class:`twinwatch.stream.pipeline.Pipeline` as ``twinwatch replay``
does (batches of ``--batch`` interleaved by time; with ``--all-formats`` the probe and Telegraf captures too):

- ``clean``: as captured;
- ``ahead``: every sample of ``--device`` ``--ahead`` seconds ahead;
- ``set_back``: the same for the first half of the capture only (NTP then sets the clock back);
- ``year_ahead``: one message of ``--device``, a third of the way in, a year ahead;
- ``unknown_year_ahead``: two messages re-attributed to devices no inventory knows, both a year ahead;
- ``group_ahead`` and ``group_set_back``: as ``ahead`` and ``set_back``, for ``--device`` and the devices of
  ``--also`` together (one wrong NTP server sets them all).

The samples are all in this host's past (a replay), so the decoders' ``max_clock_ahead_s`` check does not apply.
Reported per scenario: late rows (dropped), windows reported and how many empty, rows in them, rejections by
format and reason, and with ``--twin`` the alerts that fired by kind and severity. Run it on two trees
(``PYTHONPATH`` of a checkout) to compare.
"""

from __future__ import annotations

import argparse
import json
from collections import Counter
from pathlib import Path
from typing import Any

import orjson
from _report import machine_info, write_report

YEAR_NS = 365 * 86400 * 10**9


def _device(m: Any) -> str:
    return str(m.get("tags", {}).get("source", "")).split(":")[0] if isinstance(m, dict) else ""


def _scenarios(lines: list[bytes], device: str, ahead_s: float, also: frozenset[str] = frozenset()) -> dict[
        str, list[bytes]]:
    msgs: list[Any] = []
    for line in lines:
        try:
            msgs.append(orjson.loads(line))
        except orjson.JSONDecodeError:
            msgs.append(line)  # a malformed line stays as it was (a dead letter in every scenario)
    ok = [m for m in msgs if isinstance(m, dict) and isinstance(m.get("timestamp"), int)]
    mid = sorted(m["timestamp"] for m in ok)[len(ok) // 2]
    shift = int(ahead_s * 1e9)

    def render(fn: Any) -> list[bytes]:
        return [m if isinstance(m, bytes) else orjson.dumps(fn(m)) for m in msgs]

    def ahead(m: dict[str, Any]) -> dict[str, Any]:
        return dict(m, timestamp=m["timestamp"] + shift) if _device(m) == device else m

    def set_back(m: dict[str, Any]) -> dict[str, Any]:
        return ahead(m) if isinstance(m.get("timestamp"), int) and m["timestamp"] < mid else m

    group = also | {device}

    def group_ahead(m: dict[str, Any]) -> dict[str, Any]:
        return dict(m, timestamp=m["timestamp"] + shift) if _device(m) in group else m

    def group_set_back(m: dict[str, Any]) -> dict[str, Any]:
        return group_ahead(m) if isinstance(m.get("timestamp"), int) and m["timestamp"] < mid else m

    mine = [i for i, m in enumerate(msgs) if isinstance(m, dict) and _device(m) == device]
    one = mine[len(mine) // 3] if mine else -1  # a third of the way into the device's messages
    fakes = {i: f"unknown{k}" for k, i in enumerate(j for j, m in enumerate(msgs) if isinstance(m, dict)) if k < 2}

    def year_ahead(i: int, m: dict[str, Any]) -> dict[str, Any]:
        return dict(m, timestamp=m["timestamp"] + YEAR_NS) if i == one else m

    def unknown_year_ahead(i: int, m: dict[str, Any]) -> dict[str, Any]:
        if i not in fakes:
            return m
        return dict(m, timestamp=m["timestamp"] + YEAR_NS, tags=dict(m["tags"], source=fakes[i]))

    out = {"clean": render(lambda m: m), "ahead": render(ahead), "set_back": render(set_back)}
    if also:
        out |= {"group_ahead": render(group_ahead), "group_set_back": render(group_set_back)}
    for name, fn in (("year_ahead", year_ahead), ("unknown_year_ahead", unknown_year_ahead)):
        out[name] = [m if isinstance(m, bytes) else orjson.dumps(fn(i, m)) for i, m in enumerate(msgs)]
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--run", type=Path, required=True)
    ap.add_argument("--device", default=None, help="Device whose clock runs ahead (default: the first gnmic one).")
    ap.add_argument("--ahead", type=float, default=240.0, help="Seconds ahead.")
    ap.add_argument("--also", default="", help="Comma-separated devices ahead with --device (group_* scenarios).")
    ap.add_argument("--twin", default=None, help="Twin model for alerts (e.g. qt); default none (windows only).")
    ap.add_argument("--all-formats", action="store_true", help="Replay the probe and influx captures too.")
    ap.add_argument("--batch", type=int, default=2000,
                    help="Messages per batch (2,000 as replay reads them; fewer to mimic live delivery).")
    ap.add_argument("--scenarios", default="clean,ahead,set_back,year_ahead,unknown_year_ahead")
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args()

    from prometheus_client import CollectorRegistry

    from twinwatch.stream.metrics import ServiceMetrics
    from twinwatch.stream.pipeline import Pipeline, iter_interleave
    from twinwatch.twin.models import load_model
    from twinwatch.twin.netmodel import load_network

    topics = args.run / "topics"
    gnmic = [x for x in (topics / "twinwatch.raw.gnmic.jsonl").read_bytes().splitlines() if x.strip()]
    device = args.device
    if device is None:
        device = next(_device(orjson.loads(x)) for x in gnmic if x.startswith(b"{"))
    others = {f: [x for x in (topics / f"twinwatch.raw.{f}.jsonl").read_bytes().splitlines() if x.strip()]
              for f in ("probe", "influx")} if args.all_formats else {}
    model = load_network(str(args.run / "network.yaml"))
    twin = load_model(args.twin, None) if args.twin else None
    results: dict[str, Any] = {}
    scenarios = _scenarios(gnmic, device, args.ahead, frozenset(d for d in args.also.split(",") if d))

    def held(wb: Any) -> dict[str, Any] | None:  # None on a tree without device clocks (before session 42)
        if not hasattr(wb, "clocks_ahead"):
            return None
        # source → [device, seconds] (one device, before session 44) or {device: seconds}
        return {k: v if isinstance(v, dict) else list(v) for k, v in wb.clocks_ahead().items()}

    for name in args.scenarios.split(","):
        streams = {"gnmic": scenarios[name], **others}
        metrics = ServiceMetrics(CollectorRegistry())
        pipe = Pipeline([model], twin, window_s=10.0, lateness_s=5.0, max_age_s=None, max_future_skew_s=None,
                        sources=streams, idle_s=float("inf"), metrics=metrics)
        windows, fired = [], Counter()
        outs = [pipe.process(chunk, fmt) for fmt, chunk in iter_interleave(streams, args.batch)] + [pipe.flush()]
        for o in outs:
            windows += o.windows
            fired.update(f"{c.alert.kind}/{c.alert.severity}" for c in o.changes if c.action == "firing")
        rejected = {f'{s.labels["format"]}/{s.labels["reason"]}': int(s.value) for m in metrics.registry.collect()
                    if m.name == "twinwatch_messages_rejected" for s in m.samples
                    if s.name.endswith("_total") and s.value}
        results[name] = {"late_rows": sum(pipe.late_rows.values()), "windows": len(windows),
                         "empty_windows": sum(w.rows == 0 for w in windows), "rows": sum(w.rows for w in windows),
                         "rejected": rejected, "fired": dict(sorted(fired.items())),
                         "clocks_held_at_end": held(pipe.networks[model.name].windows)}
        print(name, json.dumps(results[name]), flush=True)
    report = {"run": str(args.run), "device": device, "also": sorted(d for d in args.also.split(",") if d),
              "ahead_s": args.ahead, "twin": args.twin,
              "formats": ["gnmic", *others], "scenarios": results, "machine": machine_info()}
    write_report(report, args.out, echo=False)


if __name__ == "__main__":
    main()
