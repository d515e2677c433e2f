"""Benchmark: gnmic interface-counter events → SampleBatch → normalised rates, per core.

Generates gnmic event JSON as gnmic's Kafka output writes it for an OpenConfig
``/interfaces/interface/state/counters`` subscription (one event per
interface and sample), for ``--devices`` × ``--interfaces`` interfaces over
``--rounds`` sample rounds 10 s apart, and times, round by round on the
same messages:

- ``orjson``: ``list(map(orjson.loads, batch))`` and releasing the objects — the floor
  for any decoder that builds Python objects from JSON;
- ``decode``: ``GnmicDecoder.decode_batch(batch)`` → SampleBatch (numba fast path);
- ``decode_general_path``: the same with ``GnmicDecoder(fast=False)`` (orjson + vectorised mapping);
- ``normalize``: ``normalize(samples, state)`` → Measurement rows (rates);
- ``end_to_end``: decode + normalize.

Times are CPU seconds of this process (``time.process_time``), so "messages/s
per core" is robust to other load on the machine; each figure is the median
over rounds, and each ratio (to orjson) is the median of per-round ratios, so
both sides of a ratio ran back to back (their spread over rounds:
``ratio_to_orjson_loads_min_max``). Three message shapes: ``full`` (14 counters +
last-clear, ~1.1 KB), ``compact`` (in/out octets and packets, ~0.4 KB) and
``status`` (``full`` plus ``/interfaces/interface/state/oper-status`` and
``admin-status`` = ``"UP"``, what a subscription to the whole interface state
container sends; the link-state KPI rows of issue 9).
Memory per tracked interface is ``CounterState.memory_bytes()`` divided by the
number of interfaces.

Usage::

    .venv/bin/python bench/bench_adapters.py --out bench/notes/adapters.json
"""

from __future__ import annotations

import argparse
import gc
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import orjson

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from _report import machine_info, write_report  # noqa: E402

from twinwatch.telemetry_adapters import get_decoder  # noqa: E402
from twinwatch.telemetry_adapters.base import DecoderConfig  # noqa: E402
from twinwatch.telemetry_adapters.gnmic import GnmicDecoder  # noqa: E402

FULL = (
    "in-octets", "out-octets", "in-pkts", "out-pkts", "in-unicast-pkts", "out-unicast-pkts",
    "in-multicast-pkts", "out-multicast-pkts", "in-broadcast-pkts", "out-broadcast-pkts",
    "in-discards", "out-discards", "in-errors", "out-errors",
)  # fmt: skip
COMPACT = ("in-octets", "out-octets", "in-pkts", "out-pkts")
T0 = 1_700_000_000_000_000_000
PERIOD_NS = 10_000_000_000


def make_round(r: int, devices: int, interfaces: int, leaves: tuple[str, ...], last_clear: bool,
               status: bool = False) -> list[bytes]:
    """One sample round: an event per (device, interface), counters growing ~1 Gb/s."""
    out = []
    base = "/interfaces/interface/state/counters/"
    for d in range(devices):
        for i in range(interfaces):
            k = d * interfaces + i
            ts = T0 + r * PERIOD_NS + k * 1000
            values: dict[str, Any] = {
                base + leaf: str(1_000_000 + (r * 1_250_000_000 + k) * (j + 1)) for j, leaf in enumerate(leaves)
            }
            if last_clear:
                values[base + "last-clear"] = "1699990000000000000"
            if status:
                values["/interfaces/interface/state/oper-status"] = "UP"
                values["/interfaces/interface/state/admin-status"] = "UP"
            ev = {
                "name": "if-counters",
                "timestamp": ts,
                "tags": {"interface_name": f"Ethernet{i // 48}/{i % 48 + 1}", "source": f"leaf{d}:57400",
                         "subscription-name": "if-counters"},
                "values": values,
            }
            out.append(orjson.dumps(ev))
    return out


def _plain_orjson(batch: list[bytes]) -> int:
    """The baseline: parse every message with orjson.loads, then release the objects."""
    parsed = list(map(orjson.loads, batch))
    n = len(parsed)
    del parsed
    return n


def _cpu(fn: Any, *args: Any) -> tuple[float, Any]:
    t = time.process_time()
    res = fn(*args)
    return time.process_time() - t, res


def run(shape: str, devices: int, interfaces: int, rounds: int) -> dict[str, Any]:
    from twinwatch.telemetry_adapters.counters import CounterState
    from twinwatch.telemetry_adapters.normalize import normalize

    leaves, last_clear = (COMPACT, False) if shape == "compact" else (FULL, True)
    status = shape == "status"
    cfg = DecoderConfig(network="bench", max_age_s=None, max_future_skew_s=None)
    dec = get_decoder("gnmic", cfg)
    general = GnmicDecoder(cfg, fast=False)  # the orjson path alone, for comparison
    state = CounterState()
    warm = make_round(0, devices, interfaces, leaves, last_clear, status)
    normalize(dec.decode_batch(warm).samples, state)  # first samples + JIT warm-up
    rows: list[dict[str, float]] = []
    n_meas = 0
    for r in range(1, rounds + 1):
        batch = make_round(r, devices, interfaces, leaves, last_clear, status)
        gc.collect()
        t_json, _ = _cpu(_plain_orjson, batch)
        t_dec, res = _cpu(dec.decode_batch, batch)
        t_norm, nres = _cpu(normalize, res.samples, state)
        t_gen, _ = _cpu(general.decode_batch, batch)  # last: its garbage must not land in the others' time
        assert not res.rejections, res.rejections[:3]
        n_meas = len(nres.measurements)
        rows.append({"orjson": t_json, "decode_general_path": t_gen, "decode": t_dec, "normalize": t_norm,
                     "end_to_end": t_dec + t_norm})
        del res, nres
    n = devices * interfaces
    med = {k: statistics.median(x[k] for x in rows) for k in rows[0]}
    per_round = {k: [x["orjson"] / x[k] for x in rows] for k in rows[0] if k != "orjson"}
    ratio = {k: statistics.median(v) for k, v in per_round.items()}
    return {
        "shape": shape,
        "bytes_per_message": round(sum(map(len, batch)) / len(batch), 1),
        "values_per_message": len(leaves) + int(last_clear) + 2 * int(status),
        "messages_per_round": n,
        "rounds": rounds,
        "measurements_per_round": n_meas,
        "msgs_per_s_per_core": {k: round(n / v) for k, v in med.items()},
        "ratio_to_orjson_loads": {k: round(v, 3) for k, v in ratio.items()},
        "ratio_to_orjson_loads_min_max": {k: [round(min(v), 3), round(max(v), 3)] for k, v in per_round.items()},
        "counters_tracked": len(state),
        "state_bytes": int(state.memory_bytes()),
        "state_bytes_per_interface": round(state.memory_bytes() / n, 1),
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--devices", type=int, default=50)
    ap.add_argument("--interfaces", type=int, default=200, help="interfaces per device")
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--shapes", default="full,compact", help="comma-separated shapes: full, compact, status")
    ap.add_argument("--out", type=Path, default=None, help="write the results as JSON here")
    args = ap.parse_args(argv)
    results = {
        "machine": machine_info(),
        "command": " ".join(["bench/bench_adapters.py", *(argv if argv is not None else sys.argv[1:])]),
        "runs": [run(s, args.devices, args.interfaces, args.rounds) for s in args.shapes.split(",")],
    }
    write_report(results, args.out, indent=2)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
