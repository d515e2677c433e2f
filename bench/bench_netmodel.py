"""Time reading, validating and building the shipped network models (writes JSON).

    .venv/bin/python bench/bench_netmodel.py --out bench/notes/netmodel.json

Per network: YAML parse (duplicate-key-refusing loader), JSON Schema
validation, semantic checks + columnar build, each the median of ``--repeat``
runs, in milliseconds.
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

from _report import machine_info, write_report

from twinwatch.twin.netmodel import list_networks
from twinwatch.twin.netmodel.load import _Builder, read_yaml_document, validate_document
from twinwatch.twin.netmodel.shipped import network_path


def _median_ms(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return round(statistics.median(times) * 1e3, 1)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args()
    rows = {}
    for name in list_networks():
        path = network_path(name)
        doc = read_yaml_document(path)
        model = _Builder(doc, name).build()
        rows[name] = {
            "devices": model.n_nodes, "directed_links": model.n_links, "file_bytes": path.stat().st_size,
            "parse_ms": _median_ms(lambda p=path: read_yaml_document(p), args.repeat),
            "schema_ms": _median_ms(lambda d=doc: validate_document(d), args.repeat),
            "build_ms": _median_ms(lambda d=doc, n=name: _Builder(d, n).build(), args.repeat),
        }
    out = {"machine": machine_info(note="2-core shared dev box under load"), "networks": rows}
    write_report(out, args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
