"""Benchmark: goflow2 JSON flow records → FlowBatch, records/s per core.

Generates goflow2 v2 JSON records (``-format=json``) as the testbed's emitter
writes them (:func:`twinwatch.twin.testbed.emit.goflow2_records`: sampled
bytes and packets, ``sampling_rate``, ``ip_tos`` over four DSCP values, IPv4
and IPv6 addresses), ``--records`` per round, and times, round by round on the
same messages:

- ``orjson``: ``list(map(orjson.loads, batch))`` — the floor for any decoder
  that builds Python objects from JSON;
- ``decode``: ``Goflow2Decoder.decode_batch(batch)`` → FlowBatch (with the
  ``dscp`` column since issue 9).

- ``baseline`` (with ``--baseline REV``): the decoder module as it was at git
  revision ``REV`` (``git show REV:telemetry_adapters/goflow2.py``, against
  today's schema), interleaved round by round with ``decode`` (order
  alternating), for a before/after comparison in one process.

Times are CPU seconds of this process (``time.process_time``), so records/s
per core is robust to other load on the machine; each figure is the median
over rounds and each ratio is the median of per-round ratios.

Usage::

    nice -n 5 .venv/bin/python bench/bench_goflow2.py --baseline HEAD --out bench/notes/bench_goflow2.json
"""

from __future__ import annotations

import argparse
import gc
import os
import statistics
import subprocess
import sys
import time
import types
from pathlib import Path
from typing import Any

import numpy as np
import orjson

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from _report import machine_info, write_report  # noqa: E402

from twinwatch.telemetry_adapters import get_decoder  # noqa: E402
from twinwatch.telemetry_adapters.base import DecoderConfig  # noqa: E402
from twinwatch.twin.testbed.emit import goflow2_records  # noqa: E402

T0_NS = 1_700_000_000_000_000_000


def make_round(r: int, n: int, seed: int = 0) -> list[bytes]:
    """``n`` goflow2 records of round ``r`` (60 s apart), 80 % IPv4, DSCP in {0, 10, 34, 46}."""
    rng = np.random.default_rng(seed + r)
    k = np.arange(n)
    v6 = rng.random(n) < 0.2
    src = np.where(v6, [f"fd00:0:0:{i % 40}::{i % 251 + 1}" for i in k], [f"10.{i % 40}.0.{i % 251 + 1}" for i in k])
    dst = np.where(v6, [f"fd00:0:0:{(i * 7) % 40}::9" for i in k], [f"10.{(i * 7) % 40}.1.9" for i in k])
    t_end = T0_NS + r * 60_000_000_000
    return goflow2_records(
        np.full(n, t_end + 1_000_000), np.array([f"172.16.0.{i % 40 + 1}" for i in k]), src, dst,
        rng.integers(64, 1_500_000, n), rng.integers(1, 1000, n), sampling_rate=np.full(n, 1000),
        flow_start_ns=np.full(n, t_end - 60_000_000_000), flow_end_ns=np.full(n, t_end),
        dscp=rng.choice(np.array([0, 10, 34, 46]), n), proto=rng.choice(np.array([6, 17]), n),
        src_port=rng.integers(1024, 65535, n), dst_port=rng.integers(1, 1024, n),
    )


def _cpu(fn: Any, *args: Any) -> tuple[float, Any]:
    t = time.process_time()
    res = fn(*args)
    return time.process_time() - t, res


def _plain_orjson(batch: list[bytes]) -> int:
    parsed = list(map(orjson.loads, batch))
    n = len(parsed)
    del parsed
    return n


def _baseline_decoder(rev: str, cfg: DecoderConfig) -> Any:
    """``Goflow2Decoder`` of ``telemetry_adapters/goflow2.py`` at git revision ``rev`` (read-only ``git show``)."""
    src = subprocess.run(["git", "show", f"{rev}:telemetry_adapters/goflow2.py"], cwd=ROOT, check=True,
                         capture_output=True, text=True).stdout
    mod = types.ModuleType(f"goflow2_at_{rev}")
    exec(compile(src, f"{rev}:telemetry_adapters/goflow2.py", "exec"), mod.__dict__)  # our own file at REV
    return mod.Goflow2Decoder(cfg)


def run(n: int, rounds: int, baseline: str | None = None) -> dict[str, Any]:
    """Median records/s per core of orjson alone and of the decoder(s) over ``rounds`` rounds of ``n`` records."""
    cfg = DecoderConfig(network="bench", max_age_s=None, max_future_skew_s=None)
    decs = {"decode": get_decoder("goflow2", cfg)}
    if baseline:
        decs["baseline"] = _baseline_decoder(baseline, cfg)
    for dec in decs.values():
        dec.decode_batch(make_round(0, min(n, 1000)))  # warm-up
    rows: list[dict[str, float]] = []
    has_dscp = False
    for r in range(1, rounds + 1):
        batch = make_round(r, n)
        gc.collect()
        t_json, _ = _cpu(_plain_orjson, batch)
        row = {"orjson": t_json}
        for name in (list(decs) if r % 2 else list(decs)[::-1]):
            gc.collect()
            row[name], res = _cpu(decs[name].decode_batch, batch)
            assert not res.rejections and len(res.flows) == n, res.rejections[:3]
            if name == "decode":
                has_dscp = hasattr(res.flows, "dscp")
            del res
        rows.append(row)
    med = {k: statistics.median(x[k] for x in rows) for k in rows[0]}
    out = {
        "records_per_round": n,
        "rounds": rounds,
        "bytes_per_record": round(sum(map(len, batch)) / len(batch), 1),
        "flowbatch_has_dscp": has_dscp,
        "records_per_s_per_core": {k: round(n / v) for k, v in med.items()},
        "ratio_to_orjson_loads": round(statistics.median(x["orjson"] / x["decode"] for x in rows), 3),
    }
    if baseline:
        ratios = [x["decode"] / x["baseline"] for x in rows]
        out["baseline_rev"] = baseline
        out["time_ratio_decode_to_baseline"] = round(statistics.median(ratios), 3)
        out["time_ratio_decode_to_baseline_min_max"] = [round(min(ratios), 3), round(max(ratios), 3)]
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--records", type=int, default=50_000, help="records per round")
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--baseline", default=None, metavar="REV",
                    help="also time the decoder of this git revision, interleaved (before/after)")
    ap.add_argument("--out", type=Path, default=None, help="write the results as JSON here")
    args = ap.parse_args(argv)
    load0 = os.getloadavg()[0]
    out = run(args.records, args.rounds, args.baseline)
    res = {"command": " ".join(["bench/bench_goflow2.py", *(argv if argv is not None else sys.argv[1:])]),
           "machine": {**machine_info(), "load_avg_1m_at_start": round(load0, 2)},
           "goflow2": out}
    write_report(res, args.out, indent=2)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
