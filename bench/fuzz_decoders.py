"""Big-budget structure-aware fuzzing of every decoder (issue 14): counts, rate, failures → JSON.

The same mutation operators as ``tests/fuzz/test_fuzz_decoders.py`` (golden fixtures mutated as
JSON trees / line protocol, then byte damage), driven by a seeded ``random.Random`` instead of
hypothesis, in batches: each batch of ``--batch`` mutated messages goes through decode → normalize
→ inventory flow mapping with one ``CounterState`` per format (so rates, resets and evictions happen),
and is checked for

* exceptions (any exception escaping the pipeline is a failure; the first few are kept with a
  traceback and the offending batch's smallest failing message),
* the accounting identity ``records_in == out + rejected + pending`` (per batch and cumulative),
* ``messages == len(batch)``, and the slowest batch (µs per message; the per-input time bound).

Mutating in Python costs about as much as decoding; to spend the budget on the decoders,
``--pool`` mutants are generated once per format, each batch draws its messages from them at
random (a repeat meets a different ``CounterState`` history, so repeats exercise duplicate /
out-of-order / reset handling), and ``--fresh`` brand-new mutants join every batch. The report
counts the *distinct* inputs (by BLAKE2b digest) beside the inputs fed, and records wall-clock
and CPU time (on a shared machine the CPU rate is the comparable one). ``--out`` is rewritten
after every format and every ``--checkpoint-s`` seconds, so a stopped run is a partial result.

Usage::

    .venv/bin/python bench/fuzz_decoders.py --per-format 1000000 --out bench/notes/fuzz_decoders.json
"""

from __future__ import annotations

import argparse
import hashlib
import os
import random
import sys
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from _report import machine_info, write_report  # noqa: E402

from tests.fuzz._decoder_mutations import FORMATS, Mutator, RandomChooser  # noqa: E402
from twinwatch.telemetry_adapters import CounterState, get_decoder  # noqa: E402
from twinwatch.telemetry_adapters.accounting import Tally, run_batch  # noqa: E402
from twinwatch.telemetry_adapters.base import DecoderConfig  # noqa: E402
from twinwatch.telemetry_adapters.inventory import Inventory  # noqa: E402

CONFIGS = (
    DecoderConfig(network="fuzz", max_age_s=None, max_future_skew_s=None, max_message_bytes=256 * 1024),
    DecoderConfig(network="fuzz", now_ns=1_700_000_100 * 10**9, max_age_s=86400.0, max_future_skew_s=300.0,
                  max_message_bytes=256 * 1024, default_device="dut"),
)  # fmt: skip
INVENTORY = {
    "links": [{"id": "leaf1->spine1", "src": "leaf1", "dst": "spine1", "capacity_bps": 1e9,
               "src_interface": "Ethernet1", "dst_interface": "Ethernet9"},
              {"id": "r1->r2", "src": "r1", "dst": "r2", "capacity_bps": 1e4, "src_interface": "eth0"}],
    "prefixes": {"10.0.0.0/8": "leaf1", "192.0.2.0/24": "spine1", "2001:db8::/32": "r1"},
}  # fmt: skip


def _smallest_failing(fmt: str, cfg: DecoderConfig, inv: Inventory | None, batch: list[bytes]) -> bytes | None:
    """The shortest single message of ``batch`` that fails alone (None: only the batch fails)."""
    for m in sorted(batch, key=len):
        try:
            run_batch(get_decoder(fmt, cfg), [m], CounterState(), inv)
        except Exception:  # looking for the culprit
            return m
    return None


def _digest(message: bytes) -> bytes:
    """8-byte BLAKE2b digest of one input (to count distinct inputs without keeping them)."""
    return hashlib.blake2b(message, digest_size=8).digest()


def fuzz_format(
    fmt: str,
    n: int,
    batch: int,
    pool: int,
    fresh: int,
    seed: int,
    keep: int,
    on_progress: Callable[[dict[str, Any]], None] | None = None,
    progress_every_s: float = 60.0,
) -> dict[str, Any]:
    """Fuzz one format with ``n`` inputs; returns its JSON record.

    ``on_progress`` (when given) receives the record so far (``"partial": True``) every
    ``progress_every_s`` seconds of wall-clock time, so that a run stopped midway still reports
    how far it got.
    """
    rng = random.Random(seed)
    chooser = RandomChooser(seed + 1)
    mut = Mutator(fmt)
    t0 = time.perf_counter()
    mutants = [mut.mutate(chooser) for _ in range(pool)]
    distinct = {_digest(m) for m in mutants}
    t_gen = time.perf_counter() - t0
    inv = Inventory.from_dict(INVENTORY)
    decoders = [(get_decoder(fmt, cfg), cfg) for cfg in CONFIGS]
    states = [CounterState() for _ in CONFIGS]
    total = Tally(fmt)
    done = batches = exceptions = identity_failures = count_failures = 0
    failures: list[dict[str, Any]] = []
    worst_us = 0.0
    t_pipe = 0.0
    t0 = t_last = time.perf_counter()
    c0 = time.process_time()

    def record(partial: bool) -> dict[str, Any]:
        wall = time.perf_counter() - t0
        cpu = time.process_time() - c0
        return {
            "format": fmt,
            "partial": partial,
            "inputs": done,
            "distinct_inputs": len(distinct),
            "batches": batches,
            "exceptions": exceptions,
            "identity_failures": identity_failures,
            "message_count_failures": count_failures,
            "identity_holds_cumulative": total.identity_holds(),
            "records": total.to_dict()["records"],
            "top_rejections": dict(sorted(total.rejected_by_reason.items(), key=lambda kv: -kv[1])[:8]),
            "inputs_per_s": round(done / wall) if wall > 0 else None,
            "inputs_per_cpu_s": round(done / cpu) if cpu > 0 else None,
            "pipeline_us_per_input_mean": round(t_pipe / max(done, 1) * 1e6, 2),
            "pipeline_us_per_input_worst_batch": round(worst_us, 1),
            "mutant_generation_s": round(t_gen, 2),
            "wall_s": round(wall, 1),
            "cpu_s": round(cpu, 1),
            "failures": failures,
        }

    while done < n:
        k = min(batch, n - done)
        msgs = [mutants[rng.randrange(pool)] for _ in range(k - min(fresh, k))]
        new = [mut.mutate(chooser) for _ in range(min(fresh, k))]
        distinct.update(_digest(m) for m in new)
        msgs += new
        j = batches % len(decoders)
        dec, cfg = decoders[j]
        use_inv = inv if batches % 3 else None
        t1 = time.perf_counter()
        try:
            res, nres, flows, notices = run_batch(dec, msgs, states[j], use_inv)
        except Exception as exc:  # every escaping exception is a finding
            exceptions += 1
            if len(failures) < keep:
                culprit = _smallest_failing(fmt, cfg, use_inv, msgs)
                failures.append(
                    {
                        "kind": "exception",
                        "error": f"{type(exc).__name__}: {exc}",
                        "traceback": traceback.format_exc(limit=6)[-2000:],
                        "message": None if culprit is None else culprit[:2000].decode("utf-8", "replace"),
                    }
                )
            states[j] = CounterState()
        else:
            dt = time.perf_counter() - t1
            t_pipe += dt
            worst_us = max(worst_us, dt / k * 1e6)
            one = Tally(fmt)
            one.add(res, nres, flows, notices)
            total.add(res, nres, flows, notices)
            if res.messages != k:
                count_failures += 1
            if not one.identity_holds():
                identity_failures += 1
                if len(failures) < keep:
                    failures.append({"kind": "identity", "tally": one.to_dict()})
        done += k
        batches += 1
        if on_progress is not None and time.perf_counter() - t_last >= progress_every_s:
            t_last = time.perf_counter()
            on_progress(record(partial=True))
    return record(partial=False)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--per-format", type=int, default=100_000, help="inputs per format")
    ap.add_argument("--formats", default=",".join(FORMATS), help="comma-separated formats")
    ap.add_argument("--batch", type=int, default=2000, help="messages per decode_batch call")
    ap.add_argument("--pool", type=int, default=20_000, help="distinct mutants generated up front per format")
    ap.add_argument("--fresh", type=int, default=20, help="brand-new mutants per batch")
    ap.add_argument("--seed", type=int, default=14)
    ap.add_argument("--keep", type=int, default=5, help="failures kept per format")
    ap.add_argument(
        "--checkpoint-s",
        type=float,
        default=60.0,
        help="rewrite --out with the progress so far every this many seconds",
    )
    ap.add_argument("--out", type=Path, default=None, help="JSON output (default: stdout only)")
    args = ap.parse_args(argv)
    results: list[dict[str, Any]] = []
    formats = args.formats.split(",")
    started = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    for i, fmt in enumerate(formats):
        load_before = _loadavg()
        t_start = time.strftime("%H:%M:%S", time.gmtime())

        def checkpoint(partial: dict[str, Any], i: int = i, t_start: str = t_start) -> None:
            partial["utc"] = f"{t_start}–{time.strftime('%H:%M:%S', time.gmtime())} (running)"
            _write(args.out, _document(argv, started, [*results, partial], complete=False))

        r = fuzz_format(
            fmt,
            args.per_format,
            args.batch,
            args.pool,
            args.fresh,
            args.seed + 1000 * i,
            args.keep,
            on_progress=checkpoint,
            progress_every_s=args.checkpoint_s,
        )
        r["utc"] = f"{t_start}–{time.strftime('%H:%M:%S', time.gmtime())}"
        r["loadavg_1m_before_after"] = [load_before, _loadavg()]
        results.append(r)
        # checkpoint after every format, so that an interrupted long run is still a (partial) result
        _write(args.out, _document(argv, started, results, complete=i + 1 == len(formats)))
        print(f"{fmt:14s} {r['inputs']:>9d} inputs  {r['inputs_per_s']:>8d}/s  exceptions {r['exceptions']}  "
              f"identity failures {r['identity_failures']}  worst {r['pipeline_us_per_input_worst_batch']} µs/input",
              flush=True)  # fmt: skip
        for f in r["failures"]:
            print("   ", f.get("error") or f.get("tally"), "\n   ", (f.get("message") or "")[:300], flush=True)
    doc = _document(argv, started, results, complete=True)
    return 1 if doc["total_failures"] else 0


def _loadavg() -> float:
    """The 1-minute load average of the machine (``nan`` where the OS does not report it)."""
    try:
        return round(os.getloadavg()[0], 2)
    except OSError:
        return float("nan")


def _document(argv: list[str] | None, started: str, results: list[dict[str, Any]], complete: bool) -> dict[str, Any]:
    """The JSON report: command, machine, per-format results, totals; ``complete`` False for a checkpoint."""
    return {
        "command": "bench/fuzz_decoders.py " + " ".join(argv if argv is not None else sys.argv[1:]),
        "machine": machine_info(note="2-core shared dev box under load (other agents running)"),
        "started_utc": started,
        "complete": complete,
        "results": results,
        "total_inputs": sum(r["inputs"] for r in results),
        "total_failures": sum(r["exceptions"] + r["identity_failures"] + r["message_count_failures"] for r in results),
    }


def _write(out: Path | None, doc: dict[str, Any]) -> None:
    """Write ``doc`` to ``out`` atomically (a reader never sees half a file); no-op when ``out`` is None."""
    write_report(doc, out, echo=False, indent=2, nan_as_null=True)  # NaN: a load average the OS does not report


if __name__ == "__main__":
    raise SystemExit(main())
