"""Large-budget structure-aware fuzzing of the twin side's input files (issue 14).

Runs the mutators and invariants of :mod:`tests.fuzz.harness` (the same as the
CI tests in ``tests/fuzz/test_fuzz_twin_inputs.py``, with a far larger budget):
every input is a fresh mutation of a valid scenario YAML, native dataset, GNNet
tarball folder or checkpoint; the reader must succeed or raise its documented
error within the time bound, predictions must respect the physical bounds,
and every ``--cli-every``-th input (default 1000) also goes through
``twinwatch twin predict`` (exit status in {0, 1, 2, 3}, no traceback, no
``null`` with status 0).

Speed (inputs per CPU-second, before → now, BENCHMARKS.md: scenario YAML
145 → 287, GNNet 218 → 367–469, native 89 → 139–146, checkpoint 77 → 83–98;
the product's readers, which run on every input, now take most of the time):
inputs are built in memory and written over the previous input in one
folder on ``/dev/shm`` (no folder made and removed per input), the YAML is
emitted with libyaml (``CSafeDumper``; the product reads it with
``CSafeLoader``), seed files and seed arrays are read once, and the CLI check
runs every 1000th input instead of every 100th. The reader under test still
reads every input from disk; no verdict is cached. The report counts the
*distinct* inputs (content digests) beside the inputs checked.

``series_csv`` inputs are checked 64 at a time (``--batch``): each file is read and checked on its own, and
the series read are scored by one ``score_many`` call, which gives each series what scoring it alone gives
(4.4x the inputs per second, same outcomes: ``tests/fuzz/test_fuzz_cli_inputs.py``).

Input ``k`` of format ``F`` is drawn from ``random.Random(f"{seed}:{F}:{k}")``,
so any failure is reproduced by its (format, seed, k) alone
(``--formats F --seed S --start k --per-format 1``).

Usage::

    python bench/fuzz_inputs.py --per-format 10000 --out bench/notes/fuzz_inputs.json
    python bench/fuzz_inputs.py --per-format 1000000 --formats scenario_yaml   # the target budget
    python bench/fuzz_inputs.py --formats gnnet --seed 2 --start 139804 --per-format 860196 --out run2.json  # resume
    python bench/fuzz_inputs.py --merge run1.json run2.json --out total.json   # add up resumed runs

Writes a JSON report (counts per outcome, failures with their reproducers,
inputs per second, slowest input) and prints a one-line summary per format.
Exit status 0 when no invariant broke, 1 otherwise.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))


def _default_work_root() -> str | None:
    """A RAM-backed folder for the inputs when the OS has one (``/dev/shm``), else the default temp dir."""
    shm = Path("/dev/shm")
    return str(shm) if shm.is_dir() and os.access(shm, os.W_OK) else None


def run_format(
    fmt: str,
    n: int,
    *,
    seed: int,
    start: int,
    cli_every: int,
    work: Path,
    max_failures: int = 20,
    on_progress: Callable[[dict[str, object]], None] | None = None,
    progress_every_s: float = 60.0,
    budget_s: float | None = None,
    batch: int = 1,
) -> dict[str, object]:
    """Fuzz ``n`` inputs of ``fmt`` (fewer when ``budget_s`` seconds of wall time run out first).

    ``batch > 1``: a format with a batch check (:data:`tests.fuzz.cli_inputs.BATCH_CHECKS`) has its inputs
    checked ``batch`` at a time (each written to its own folder); the report's ``slowest_input_s`` is
    then the slowest batch's time per input.

    The report says ``"stopped_by_budget": true`` when the time budget, not ``n``, ended the run.

    Each input is built in memory (:func:`tests.fuzz.harness.build_input`), counted by its
    content digest, written over the previous one in ``work`` and read back by the product's
    reader from there. ``on_progress`` receives the report so far (``"partial": True``) every
    ``progress_every_s`` seconds.
    """
    from tests.fuzz.cli_inputs import BATCH_CHECKS
    from tests.fuzz.harness import FuzzInput, FuzzInvariantError, build_input, check_cli, check_library

    counts: dict[str, int] = {}
    cli_codes: dict[str, int] = {}
    failures: list[dict[str, object]] = []
    distinct: set[int] = set()
    slowest = (0.0, -1)
    work.mkdir(parents=True, exist_ok=True)
    warm = build_input(fmt, random.Random(f"warm-up:{fmt}"))  # imports and caches, not timed
    previous: FuzzInput | None = warm
    try:
        path = warm.write(work)
        check_library(fmt, path)
        check_cli(fmt, path)
    except FuzzInvariantError:
        pass  # a failure of the warm-up input is found again if a counted input hits it
    done = 0
    t0 = t_last = time.perf_counter()
    c0 = time.process_time()

    def report(partial: bool) -> dict[str, object]:
        wall, cpu = time.perf_counter() - t0, time.process_time() - c0
        return {
            "format": fmt,
            "partial": partial,
            "inputs": done,
            "distinct_inputs": len(distinct),
            "start": start,
            "outcomes": dict(counts),
            "failures": counts.get("failure", 0),
            "failure_examples": list(failures),
            "cli_every": cli_every,
            "cli_checked": sum(cli_codes.values()),
            "cli_exit_codes": dict(cli_codes),
            "wall_s": round(wall, 2),
            "cpu_s": round(cpu, 2),
            "inputs_per_s": round(done / wall, 1) if wall > 0 else None,
            "inputs_per_cpu_s": round(done / cpu, 1) if cpu > 0 else None,
            "slowest_input_s": round(slowest[0], 3),
            "slowest_input_k": slowest[1],
            "stopped_by_budget": stopped,
            "batch": size,
        }

    stopped = False
    check_batch = BATCH_CHECKS.get(fmt) if batch > 1 else None
    size = batch if check_batch is not None else 1
    slots = [work / f"b{j}" for j in range(size)] if size > 1 else [work]
    last: list[FuzzInput | None] = [previous] if size == 1 else [None] * size  # what each folder holds

    for k0 in range(start, start + n, size):
        ks = range(k0, min(k0 + size, start + n))
        t = time.perf_counter()
        outcomes: dict[int, str | FuzzInvariantError] = {}
        paths: dict[int, Path] = {}
        for j, k in enumerate(ks):
            try:
                inp = build_input(fmt, random.Random(f"{seed}:{fmt}:{k}"))
                distinct.add(int.from_bytes(inp.digest()[:8], "little"))
                paths[k] = inp.write(slots[j], last[j])
                last[j] = inp
            except FuzzInvariantError as exc:
                outcomes[k] = exc
        if check_batch is not None:
            outcomes.update(zip(paths, check_batch(list(paths.values())), strict=True))
        else:
            for k, path in paths.items():
                try:
                    outcomes[k] = check_library(fmt, path)
                except FuzzInvariantError as exc:
                    outcomes[k] = exc
        for k in ks:
            out, path = outcomes[k], paths.get(k)
            if path is not None and not isinstance(out, FuzzInvariantError) and cli_every and k % cli_every == 0:
                try:
                    code = check_cli(fmt, path)
                    cli_codes[str(code)] = cli_codes.get(str(code), 0) + 1
                except FuzzInvariantError as exc:
                    out = exc
            if isinstance(out, FuzzInvariantError):
                counts["failure"] = counts.get("failure", 0) + 1
                if len(failures) < max_failures:
                    failures.append({"k": k, "seed": seed, "error": str(out)[:500]})
            else:
                counts[out] = counts.get(out, 0) + 1
        dt = (time.perf_counter() - t) / len(ks)
        if dt > slowest[0]:
            slowest = (dt, ks[0])
        done += len(ks)
        if on_progress is not None and t - t_last >= progress_every_s:
            t_last = t
            on_progress(report(partial=True))
        if budget_s is not None and t - t0 >= budget_s:
            stopped = True
            break
    return report(partial=False)


def merge_reports(docs: list[dict[str, object]], target: int = 1_000_000) -> dict[str, object]:
    """Add up the per-format reports of several runs of one seed (runs resumed with ``--start``).

    A partial report (the last progress snapshot of a run that ended without its final report;
    its counts are exact for the inputs it covers) is kept unless its range overlaps another
    report's, which then supersedes it; the input ranges ``[start, start + inputs)`` of the
    complete reports must not overlap (:class:`ValueError` otherwise). Per format: inputs, failures, outcomes,
    CLI exit codes and CPU seconds summed; ``contiguous`` says whether the runs tile ``[0, inputs)``;
    distinct inputs are only known per run, so their sum is an upper bound and their maximum a
    lower bound of the distinct inputs over all runs; ``cpu_hours_to_target`` is what the rest of
    ``target`` costs at the last run's inputs per CPU-second.
    """
    runs: dict[str, list[tuple[dict[str, object], str]]] = {}
    partial: list[tuple[dict[str, object], str]] = []
    for doc in docs:
        for rep in doc["formats"]:  # type: ignore[attr-defined]
            entry = (rep, str(doc.get("command", "")))
            (partial if rep.get("partial") else runs.setdefault(str(rep["format"]), [])).append(entry)

    def span(rep: dict[str, object]) -> tuple[int, int]:
        return int(rep["start"]), int(rep["start"]) + int(rep["inputs"])  # type: ignore[call-overload]

    for rep, cmd in partial:
        lo, hi = span(rep)
        others = runs.get(str(rep["format"]), [])
        if all(span(o)[1] <= lo or hi <= span(o)[0] for o, _ in others):
            others.append((rep, cmd))
            runs[str(rep["format"])] = others
    out: dict[str, object] = {}
    for fmt, reps in runs.items():
        reps.sort(key=lambda rc: int(rc[0]["start"]))  # type: ignore[call-overload]
        end = 0
        contiguous = True
        for rep, _ in reps:
            lo, n = int(rep["start"]), int(rep["inputs"])  # type: ignore[call-overload]
            if lo < end:
                raise ValueError(f"{fmt}: runs overlap at k = {lo} (the previous run ended at {end})")
            contiguous &= lo == end
            end = lo + n
        total = sum(int(r["inputs"]) for r, _ in reps)  # type: ignore[call-overload]
        cpu = sum(float(r["cpu_s"]) for r, _ in reps)  # type: ignore[arg-type]
        outcomes: dict[str, int] = {}
        cli: dict[str, int] = {}
        for r, _ in reps:
            for key, v in r["outcomes"].items():  # type: ignore[attr-defined]
                outcomes[key] = outcomes.get(key, 0) + int(v)
            for key, v in r["cli_exit_codes"].items():  # type: ignore[attr-defined]
                cli[key] = cli.get(key, 0) + int(v)
        last_rate = float(reps[-1][0]["inputs_per_cpu_s"] or 0.0)  # type: ignore[arg-type]
        rest = max(target - total, 0)
        out[fmt] = {
            "inputs": total,
            "k_range": [int(reps[0][0]["start"]), end],  # type: ignore[call-overload]
            "contiguous": contiguous,
            "failures": sum(int(r["failures"]) for r, _ in reps),  # type: ignore[call-overload]
            "outcomes": outcomes,
            "cli_exit_codes": cli,
            "distinct_inputs_upper_bound": sum(int(r["distinct_inputs"]) for r, _ in reps),  # type: ignore[call-overload]
            "distinct_inputs_lower_bound": max(int(r["distinct_inputs"]) for r, _ in reps),  # type: ignore[call-overload]
            "cpu_s": round(cpu, 1),
            "inputs_per_cpu_s": round(total / cpu, 1) if cpu > 0 else None,
            "target": target,
            "reached": total >= target,
            "cpu_hours_to_target_at_last_rate": round(rest / last_rate / 3600, 2) if last_rate > 0 else None,
            "runs": [
                {
                    "command": cmd,
                    "start": r["start"],
                    "inputs": r["inputs"],
                    "distinct_inputs": r["distinct_inputs"],
                    "failures": r["failures"],
                    "cpu_s": r["cpu_s"],
                    "wall_s": r["wall_s"],
                    "inputs_per_cpu_s": r["inputs_per_cpu_s"],
                    "inputs_per_s": r["inputs_per_s"],
                    "loadavg_1m_before_after": r.get("loadavg_1m_before_after", r.get("loadavg_1m")),
                    "stopped_by_budget": r.get("stopped_by_budget"),
                    "partial": bool(r.get("partial")),
                }
                for r, cmd in reps
            ],
        }
    return {"formats": out, "total_failures": sum(int(v["failures"]) for v in out.values())}  # type: ignore[index]


def main(argv: list[str] | None = None) -> int:
    from tests.fuzz.harness import ALL_FORMATS as FORMATS  # the twin side's five and the CLI's other four
    from tests.fuzz.harness import TIME_BOUND_S

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--per-format", type=int, default=1000, help="inputs per format (target: 1e6)")
    ap.add_argument("--formats", default=",".join(FORMATS), help=f"comma-separated subset of {','.join(FORMATS)}")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--start", type=int, default=0, help="first input number k (to resume or reproduce)")
    ap.add_argument("--cli-every", type=int, default=1000, help="also run the CLI on every K-th input (0: never)")
    ap.add_argument("--threads", type=int, default=1, help="torch threads")
    ap.add_argument("--batch", type=int, default=64,
                    help="inputs checked per call for the formats that can check many at once (series_csv)")
    ap.add_argument(
        "--work-dir",
        type=Path,
        default=None,
        help="where the inputs are written (default: a temporary folder in /dev/shm when it exists)",
    )
    ap.add_argument(
        "--checkpoint-s",
        type=float,
        default=60.0,
        help="rewrite --out with the progress so far every this many seconds",
    )
    ap.add_argument(
        "--minutes-per-format",
        type=float,
        default=None,
        help="wall-clock budget per format: stop a format early (and say so in the report) when it runs out",
    )
    ap.add_argument("--out", type=Path, default=None, help="write the JSON report here")
    ap.add_argument(
        "--merge",
        type=Path,
        nargs="+",
        default=None,
        metavar="REPORT",
        help="instead of fuzzing, add up these reports of one seed (resumed runs) into --out (see merge_reports)",
    )
    args = ap.parse_args(argv)
    if args.merge:
        merged = merge_reports([json.loads(p.read_text()) for p in args.merge])
        merged = {"merged_from": [str(p) for p in args.merge], "created_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ",
                  time.gmtime()), **merged}
        text = json.dumps(merged, indent=1) + "\n"
        if args.out is None:
            sys.stdout.write(text)
        else:
            args.out.write_text(text)
        return 0 if merged["total_failures"] == 0 else 1
    if args.per_format < 1:
        ap.error("--per-format must be >= 1")

    import torch

    torch.set_num_threads(args.threads)
    formats = [f.strip() for f in args.formats.split(",") if f.strip()]
    unknown = sorted(set(formats) - set(FORMATS))
    if unknown:
        ap.error(f"unknown format(s) {unknown}; known: {list(FORMATS)}")
    command = " ".join(["python", "bench/fuzz_inputs.py", *(argv if argv is not None else sys.argv[1:])])
    reports: list[dict[str, object]] = []

    def document(current: list[dict[str, object]], complete: bool) -> dict[str, object]:
        return {
            "command": command,
            "complete": complete,
            "machine": {
                "note": "2-core shared dev box under load (other agents' jobs running)",
                "cpus": os.cpu_count(),
                "python": platform.python_version(),
            },
            "created_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "formats": current,
            "total_failures": sum(int(r["failures"]) for r in current),
        }  # type: ignore[call-overload]

    def write(doc: dict[str, object]) -> None:
        if args.out is None:
            return
        args.out.parent.mkdir(parents=True, exist_ok=True)
        tmp = args.out.with_suffix(args.out.suffix + ".tmp")
        tmp.write_text(json.dumps(doc, indent=1) + "\n")
        tmp.replace(args.out)

    root = str(args.work_dir) if args.work_dir is not None else _default_work_root()
    with tempfile.TemporaryDirectory(prefix="twinwatch-fuzz-", dir=root) as tmp:
        for fmt in formats:
            load_before = os.getloadavg()[0]

            def progress(partial: dict[str, object], fmt: str = fmt) -> None:
                partial["time_bound_s"] = TIME_BOUND_S[fmt]
                partial["loadavg_1m"] = round(os.getloadavg()[0], 2)
                write(document([*reports, partial], complete=False))

            rep = run_format(
                fmt,
                args.per_format,
                seed=args.seed,
                start=args.start,
                cli_every=args.cli_every,
                work=Path(tmp) / fmt,
                on_progress=progress,
                progress_every_s=args.checkpoint_s,
                budget_s=None if args.minutes_per_format is None else 60.0 * args.minutes_per_format,
                batch=args.batch,
            )
            rep["time_bound_s"] = TIME_BOUND_S[fmt]
            rep["loadavg_1m_before_after"] = [round(load_before, 2), round(os.getloadavg()[0], 2)]
            reports.append(rep)
            write(document(reports, complete=False))
            print(
                f"{fmt}: {rep['inputs']} inputs ({rep['distinct_inputs']} distinct), {rep['failures']} failures, "
                f"{rep['outcomes']}, CLI {rep['cli_checked']} {rep['cli_exit_codes']}, {rep['inputs_per_s']} inputs/s "
                f"({rep['inputs_per_cpu_s']} per CPU-s), slowest {rep['slowest_input_s']} s",
                flush=True,
            )
    doc = document(reports, complete=True)
    write(doc)
    return 0 if doc["total_failures"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
