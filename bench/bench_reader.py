"""Benchmark of the GNNet reader (twin.datasets.gnnet): samples/s and paths/s.

Reads the 200-node samples of the shared 2022 validation set (14 samples,
39,800 paths each) cold (a fresh reader: topologies and routings parsed too)
and warm (second pass, topologies and routings cached), then every shared
layout once, and compares the hand GML parser with ``networkx.read_gml``.
Writes a JSON report.

Usage::

    .venv/bin/python bench/bench_reader.py [--data ../shared/data/gnnet] [--repeat 3] [--out bench/notes/reader.json]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import networkx as nx  # noqa: E402
import pyarrow as pa  # noqa: E402
from _report import machine_info, write_report  # noqa: E402

from twinwatch.twin.datasets._gnnet_gml import parse_gml  # noqa: E402
from twinwatch.twin.datasets.gnnet import GNNetReader  # noqa: E402


def _pass(reader: GNNetReader) -> tuple[float, float, int, int]:
    """Wall seconds, CPU seconds (this process), samples and paths of one full pass over ``reader``."""
    t0, c0 = time.perf_counter(), time.process_time()
    n = p = 0
    for s in reader:
        n += 1
        p += s.scenario.n_paths
    return time.perf_counter() - t0, time.process_time() - c0, n, p


def _rates(times: list[float], n: int, p: int, cpu: list[float]) -> dict[str, float]:
    best, med = min(times), statistics.median(times)
    return {
        "cpu_s_best": round(min(cpu), 4),
        "cpu_ms_per_sample_best": round(1000 * min(cpu) / max(n, 1), 1),
        "paths_per_cpu_s_best": round(p / min(cpu)),
        "samples": n,
        "paths": p,
        "best_s": round(best, 4),
        "median_s": round(med, 4),
        "samples_per_s_best": round(n / best, 2),
        "samples_per_s_median": round(n / med, 2),
        "paths_per_s_best": round(p / best),
        "paths_per_s_median": round(p / med),
        "ms_per_sample_median": round(1000 * med / max(n, 1), 1),
    }


def bench_200(root: Path, repeat: int) -> dict[str, dict[str, float]]:
    """Cold and warm throughput on the 200-node folder."""
    cold, warm, cold_cpu, warm_cpu = [], [], [], []
    n = p = 0
    for _ in range(repeat):
        reader = GNNetReader(root)
        t, c, n, p = _pass(reader)
        cold.append(t)
        cold_cpu.append(c)
        t, c, n, p = _pass(reader)
        warm.append(t)
        warm_cpu.append(c)
    return {"cold": _rates(cold, n, p, cold_cpu), "warm": _rates(warm, n, p, warm_cpu)}


def bench_layouts(data: Path) -> dict[str, dict[str, float]]:
    """One cold pass per shared layout."""
    out = {}
    for layout in ("2020", "2021", "2022/validation"):
        root = data / layout
        if root.exists():
            t, c, n, p = _pass(GNNetReader(root))
            out[layout] = _rates([t], n, p, [c])
    return out


def bench_gml(graph: Path, repeat: int) -> dict[str, float]:
    """Hand GML parser vs networkx.read_gml on one topology file (ms, best of ``repeat``)."""
    text = graph.read_text()
    hand, nxt = [], []
    for _ in range(repeat):
        t0 = time.perf_counter()
        parse_gml(text, graph.name)
        hand.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        nx.read_gml(graph, destringizer=int)
        nxt.append(time.perf_counter() - t0)
    return {
        "file": graph.name,
        "hand_ms": round(1000 * min(hand), 2),
        "networkx_ms": round(1000 * min(nxt), 2),
        "speedup": round(min(nxt) / min(hand), 1),
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=REPO.parent / "shared" / "data" / "gnnet")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--out", type=Path, default=REPO / "bench" / "notes" / "reader.json")
    args = ap.parse_args(argv)
    root200 = args.data / "2022" / "validation" / "200"
    if not root200.exists():
        print(f"needs {root200} (../shared/data); not found", file=sys.stderr)
        return 2
    report = {
        "machine": {**machine_info(), "pyarrow": pa.__version__},  # load averages at the start
        "command": "python bench/bench_reader.py " + " ".join(argv if argv is not None else sys.argv[1:]),
        "nodes_200": bench_200(root200, args.repeat),
        "layouts_cold": bench_layouts(args.data),
        "gml_parse": bench_gml(root200 / "graphs" / "graph_topo-200-41-1.txt", max(args.repeat, 3)),
    }
    report["machine"]["loadavg_1m_at_end"] = round(os.getloadavg()[0], 2)
    write_report(report, args.out, indent=2)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
