"""Time reading, validating and building the shipped network models; check the fast schema path (writes JSON).

    .venv/bin/python bench/bench_netmodel.py --out bench/notes/netmodel.json
    .venv/bin/python bench/bench_netmodel.py --differential 2001 --out bench/notes/netmodel.json

Per network: YAML parse (duplicate-key-refusing loader), JSON Schema validation as the reader does it now
(``jsonschema-rs`` first, ``jsonschema`` on the parts it refuses) and as it did before (``jsonschema``'s full
walk, ``schema_full_walk_ms``), semantic checks + columnar build; each the median of ``--repeat`` runs, in
milliseconds of CPU time (``time.process_time``: other load on the machine counts less than in wall time).

``--differential N`` also runs the fuzz harness's network-model inputs k = 0 .. N-1 (``tests/fuzz/harness.py``,
seed 2, the inputs ``bench/fuzz_inputs.py --formats network_yaml --seed 2`` draws) through both validations and
counts the documents on which their problems (verdict, paths, messages, order) differ: must be 0 (exit 1 else).
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from _report import machine_info, write_report

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

import jsonschema  # noqa: E402

from twinwatch.twin.netmodel import NetworkModelError, list_networks  # noqa: E402
from twinwatch.twin.netmodel import load as netload  # noqa: E402
from twinwatch.twin.netmodel.shipped import network_path  # noqa: E402


def _median_ms(fn: Callable[[], object], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.process_time()
        fn()
        times.append(time.process_time() - t0)
    return round(statistics.median(times) * 1e3, 2)


_FULL = jsonschema.validators.validator_for(netload.schema())(netload.schema())


def _full_walk(doc: object) -> list[tuple[str, str]]:
    """The schema problems of ``doc`` as the reader found them before the fast path: ``jsonschema``'s full walk."""
    errors = sorted(_FULL.iter_errors(doc), key=lambda e: [str(x) for x in e.absolute_path])
    return [netload._schema_problem(e) for e in errors]


def _now(doc: object) -> list[tuple[str, str]]:
    try:
        netload.validate_document(doc, source="bench")
    except NetworkModelError as exc:
        return list(exc.problems)
    return []


def differential(n: int) -> dict[str, Any]:
    """Fuzz inputs k < ``n`` (seed 2) through the reader's validation and the full ``jsonschema`` walk."""
    import yaml

    from tests.fuzz.harness import build_input

    counts = {"same_valid": 0, "same_refused": 0, "different": 0, "not_yaml": 0, "empty_or_too_large": 0,
              "answered_by_compiled_validator": 0}
    cpu = {"full_walk_s": 0.0, "now_s": 0.0}
    examples: list[dict[str, Any]] = []
    for k in range(n):
        data = build_input("network_yaml", random.Random(f"2:network_yaml:{k}")).files["network.yaml"]
        try:
            doc = yaml.load(data.decode("utf-8"), Loader=netload._UniqueKeyLoader)
        except (UnicodeDecodeError, yaml.YAMLError):
            counts["not_yaml"] += 1
            continue
        if doc is None or netload.too_many_values(doc, netload.MAX_VALUES):
            counts["empty_or_too_large"] += 1
            continue
        t0 = time.process_time()
        want = _full_walk(doc)
        t1 = time.process_time()
        got = _now(doc)
        cpu["full_walk_s"] += t1 - t0
        cpu["now_s"] += time.process_time() - t1
        counts["answered_by_compiled_validator"] += netload._refused_items(doc)[1] is not None
        if got != want:
            counts["different"] += 1
            if len(examples) < 10:
                examples.append({"k": k, "full_walk": want[:5], "now": got[:5]})
        else:
            counts["same_refused" if want else "same_valid"] += 1
    checked = counts["same_valid"] + counts["same_refused"] + counts["different"]
    return {"inputs": n, "seed": 2, **counts, "examples": examples,
            "full_walk_ms_per_document": round(cpu["full_walk_s"] * 1e3 / max(checked, 1), 3),
            "now_ms_per_document": round(cpu["now_s"] * 1e3 / max(checked, 1), 3)}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--differential", type=int, default=0, metavar="N",
                    help="also compare both validations on the first N network_yaml fuzz inputs (seed 2)")
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args()
    rows = {}
    for name in list_networks():
        path = network_path(name)
        doc = netload.read_yaml_document(path)
        model = netload._Builder(doc, name).build()
        rows[name] = {
            "devices": model.n_nodes, "directed_links": model.n_links, "file_bytes": path.stat().st_size,
            "parse_ms": _median_ms(lambda p=path: netload.read_yaml_document(p), args.repeat),
            "schema_ms": _median_ms(lambda d=doc: netload.validate_document(d), args.repeat),
            "schema_full_walk_ms": _median_ms(lambda d=doc: _full_walk(d), args.repeat),
            "build_ms": _median_ms(lambda d=doc, n=name: netload._Builder(d, n).build(), args.repeat),
        }
    out: dict[str, Any] = {"networks": rows, "timer": "CPU time of the process (time.process_time), median"}
    if args.differential:
        out["differential"] = differential(args.differential)
    out["machine"] = machine_info(note="2-core shared dev box under load")
    write_report(out, args.out)
    return 1 if out.get("differential", {}).get("different") else 0


if __name__ == "__main__":
    raise SystemExit(main())
