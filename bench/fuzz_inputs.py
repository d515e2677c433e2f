"""Large-budget structure-aware fuzzing of the twin side's input files (issue 14).

Runs the mutators and invariants of :mod:`tests.fuzz.harness` (the same as the
CI tests in ``tests/fuzz/test_fuzz_twin_inputs.py``, with a far larger budget):
every input is a mutation of a valid scenario YAML, native dataset, GNNet
tarball folder or checkpoint; the reader must succeed or raise its documented
error within the time bound, predictions must respect the physical bounds,
and every ``--cli-every``-th input also goes through ``twinwatch twin predict``
(exit status in {0, 1, 2, 3}, no traceback, no ``null`` with status 0).

Input ``k`` of format ``F`` is drawn from ``random.Random(f"{seed}:{F}:{k}")``,
so any failure is reproduced by its (format, seed, k) alone
(``--only-format F --start k --per-format 1``).

Usage::

    python bench/fuzz_inputs.py --per-format 10000 --out bench/notes/fuzz_inputs.json
    python bench/fuzz_inputs.py --per-format 1000000 --formats scenario_yaml   # the target budget

Writes a JSON report (counts per outcome, failures with their reproducers,
inputs per second, slowest input) and prints a one-line summary per format.
Exit status 0 when no invariant broke, 1 otherwise.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))


def run_format(fmt: str, n: int, *, seed: int, start: int, cli_every: int, work: Path,
               max_failures: int = 20) -> dict[str, object]:
    """Fuzz ``n`` inputs of ``fmt``; the report of that format."""
    from tests.fuzz.harness import FuzzInvariantError, check_cli, check_library, fresh_dir, make_input

    counts: dict[str, int] = {}
    cli_codes: dict[str, int] = {}
    failures: list[dict[str, object]] = []
    slowest = (0.0, -1)
    warm = make_input(fmt, random.Random(f"warm-up:{fmt}"), fresh_dir(work, 0))  # imports and caches, not timed
    try:
        check_library(fmt, warm)
        check_cli(fmt, warm)
    except FuzzInvariantError:
        pass  # a failure of the warm-up input is found again if a counted input hits it
    t0 = time.perf_counter()
    for k in range(start, start + n):
        rnd = random.Random(f"{seed}:{fmt}:{k}")
        t = time.perf_counter()
        try:
            path = make_input(fmt, rnd, fresh_dir(work, 0))
            out = check_library(fmt, path)
            counts[out] = counts.get(out, 0) + 1
            if cli_every and k % cli_every == 0:
                code = check_cli(fmt, path)
                cli_codes[str(code)] = cli_codes.get(str(code), 0) + 1
        except FuzzInvariantError as exc:
            counts["failure"] = counts.get("failure", 0) + 1
            if len(failures) < max_failures:
                failures.append({"k": k, "seed": seed, "error": str(exc)[:500]})
        dt = time.perf_counter() - t
        if dt > slowest[0]:
            slowest = (dt, k)
    wall = time.perf_counter() - t0
    return {
        "format": fmt, "inputs": n, "start": start, "outcomes": counts, "failures": counts.get("failure", 0),
        "failure_examples": failures, "cli_checked": sum(cli_codes.values()), "cli_exit_codes": cli_codes,
        "wall_s": round(wall, 2), "inputs_per_s": round(n / wall, 1) if wall > 0 else None,
        "slowest_input_s": round(slowest[0], 3), "slowest_input_k": slowest[1],
    }


def main(argv: list[str] | None = None) -> int:
    from tests.fuzz.harness import FORMATS, TIME_BOUND_S

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--per-format", type=int, default=1000, help="inputs per format (target: 1e6)")
    ap.add_argument("--formats", default=",".join(FORMATS), help=f"comma-separated subset of {','.join(FORMATS)}")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--start", type=int, default=0, help="first input number k (to resume or reproduce)")
    ap.add_argument("--cli-every", type=int, default=100, help="also run the CLI on every K-th input (0: never)")
    ap.add_argument("--threads", type=int, default=1, help="torch threads")
    ap.add_argument("--out", type=Path, default=None, help="write the JSON report here")
    args = ap.parse_args(argv)
    if args.per_format < 1:
        ap.error("--per-format must be >= 1")

    import torch

    torch.set_num_threads(args.threads)
    formats = [f.strip() for f in args.formats.split(",") if f.strip()]
    unknown = sorted(set(formats) - set(FORMATS))
    if unknown:
        ap.error(f"unknown format(s) {unknown}; known: {list(FORMATS)}")
    reports = []
    with tempfile.TemporaryDirectory(prefix="twinwatch-fuzz-") as tmp:
        for fmt in formats:
            rep = run_format(fmt, args.per_format, seed=args.seed, start=args.start, cli_every=args.cli_every,
                             work=Path(tmp) / fmt)
            rep["time_bound_s"] = TIME_BOUND_S[fmt]
            reports.append(rep)
            print(f"{fmt}: {rep['inputs']} inputs, {rep['failures']} failures, {rep['outcomes']}, "
                  f"CLI {rep['cli_checked']} {rep['cli_exit_codes']}, {rep['inputs_per_s']} inputs/s, "
                  f"slowest {rep['slowest_input_s']} s", flush=True)
    doc = {"command": " ".join(["python", "bench/fuzz_inputs.py", *(argv if argv is not None else sys.argv[1:])]),
           "machine": "2-core shared dev box under load (other agents' jobs running)",
           "created_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "formats": reports,
           "total_failures": sum(int(r["failures"]) for r in reports)}  # type: ignore[call-overload]
    if args.out is not None:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(doc, indent=1) + "\n")
    return 0 if doc["total_failures"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
