"""Draw Topology Zoo networks that no twin or detector work here has used, one per size band.

Eligible: connected graphs with at least ``--min-geo`` of their nodes geolocated, in none of the excluded lists
(the twin's training/validation and calibration topologies; every version of the graphs of earlier detection
scorings) and not matching the excluded names (the development and test networks). In each band ``[lo, hi)``
nodes, ``random.Random(seed).choice`` over the eligible names, sorted.
Prints the eligible graphs (name, nodes, undirected edges, geolocated share) and the draw as JSON lines.

Examples (the draws of ``bench/notes/detect_eval.md``, sessions 26 to 36, two in each of sessions 30 to 34, each made
before its graphs were listed in ``detection_networks_used.txt``)::

    .venv/bin/python bench/pick_zoo_networks.py --seed 2601
    .venv/bin/python bench/pick_zoo_networks.py --seed 2801 --bands 6-15,15-30,30-50
    .venv/bin/python bench/pick_zoo_networks.py --seed 3001 --bands 6-15,15-30,30-50
    .venv/bin/python bench/pick_zoo_networks.py --seed 3201 --bands 15-30,30-50,50-100 --min-geo 0.5
    .venv/bin/python bench/pick_zoo_networks.py --seed 3401 --bands 15-30,30-50,50-100 --min-geo 0.5
    .venv/bin/python bench/pick_zoo_networks.py --seed 3601 --bands 15-30,30-50,50-100 --min-geo 0.5
    .venv/bin/python bench/pick_zoo_networks.py --seed 3801 --bands 15-30,30-50,50-100 --min-geo 0.5
    .venv/bin/python bench/pick_zoo_networks.py --seed 4001 --bands 15-30,30-50,50-100 --min-geo 0.5
    .venv/bin/python bench/pick_zoo_networks.py --seed 4201 --bands 15-21,21-30,30-50 --min-geo 0.5
    .venv/bin/python bench/pick_zoo_networks.py --seed 4401 --bands 15-30,30-50,50-100 --min-geo 0.25
    .venv/bin/python bench/pick_zoo_networks.py --seed 4601 --bands 15-30,30-50,50-100 --min-geo 0.25
    .venv/bin/python bench/pick_zoo_networks.py --seed 4801 --bands 15-30,30-50,50-100 --min-geo 0.1
    .venv/bin/python bench/pick_zoo_networks.py --seed 5001 --bands 15-30,50-100 --min-geo 0.0
    .venv/bin/python bench/pick_zoo_networks.py --seed 5201 --bands 15-30,50-100 --min-geo 0.0
    .venv/bin/python bench/pick_zoo_networks.py --seed 5401 --bands 15-22,22-30 --min-geo 0.0
    .venv/bin/python bench/pick_zoo_networks.py --seed 5601 --bands 10-15,15-30 --min-geo 0.0
    .venv/bin/python bench/pick_zoo_networks.py --seed 5801 --bands 6-10,10-15 --min-geo 0.0
    .venv/bin/python bench/pick_zoo_networks.py --seed 6001 --bands 6-10,10-15 --min-geo 0.0

Session 37 took Pern, the one graph of 100–200 nodes left at ``--min-geo 0.0``, without a draw.
"""

from __future__ import annotations

import argparse
import json
import random
import re
from pathlib import Path

import networkx as nx

ROOT = Path(__file__).resolve().parents[1]
EXCLUDED_LISTS = (ROOT / "bench" / "notes" / "operated_train_topologies.txt",
                  ROOT / "bench" / "notes" / "calibration_topologies_heldout.txt")
"""The twin's training/validation and calibration topologies (exact graph names)."""
USED_FAMILIES = ROOT / "bench" / "notes" / "detection_networks_used.txt"
"""Graphs an earlier detection scoring used: every version of their family is skipped (Garr200902 → Garr*)."""


def family(name: str) -> str:
    """A Zoo graph's family: its name without the trailing version digits (``Garr200902`` → ``Garr``)."""
    return re.sub(r"\d+$", "", name)
EXCLUDED_NAMES = r"^(Abilene|Nsfnet|Geant.*|Cogentco|Surfnet|Colt)$"


def eligible(zoo: Path, min_geo: float) -> list[tuple[str, int, int, float]]:
    """``(name, nodes, edges, geolocated share)`` of every eligible graph, sorted by name."""
    used = {ln.strip() for f in EXCLUDED_LISTS for ln in f.read_text().splitlines()
            if ln.strip() and not ln.startswith("#")}
    skip = re.compile(EXCLUDED_NAMES, re.IGNORECASE)
    used_families = {family(ln.strip()) for ln in USED_FAMILIES.read_text().splitlines()
                     if ln.strip() and not ln.startswith("#")} if USED_FAMILIES.is_file() else set()
    rows = []
    for path in sorted(zoo.glob("*.graphml")):
        name = path.stem
        if name in used or skip.match(name) or family(name) in used_families:
            continue
        g = nx.read_graphml(path)
        u = nx.Graph(g)
        n = u.number_of_nodes()
        if n == 0 or not nx.is_connected(u):
            continue
        geo = sum(1 for _, d in g.nodes(data=True) if "Latitude" in d and "Longitude" in d) / n
        if geo >= min_geo:
            rows.append((name, n, u.number_of_edges(), round(geo, 3)))
    return rows


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--zoo", type=Path, default=ROOT.parent / "shared" / "data" / "topologies" / "zoo")
    ap.add_argument("--seed", type=int, required=True)
    ap.add_argument("--bands", default="15-30,30-50,50-100", help="node-count bands lo-hi (hi excluded)")
    ap.add_argument("--min-geo", type=float, default=0.75, help="least share of geolocated nodes")
    args = ap.parse_args(argv)
    if not args.zoo.is_dir():
        ap.error(f"--zoo {args.zoo}: not a folder of Topology Zoo .graphml files")
    try:
        bands = [tuple(int(x) for x in band.split("-")) for band in args.bands.split(",")]
    except ValueError:
        ap.error(f"--bands {args.bands!r}: expected LO-HI[,LO-HI...] node counts, e.g. 15-30,30-50")
    if any(len(b) != 2 or not 0 <= b[0] < b[1] for b in bands):
        ap.error(f"--bands {args.bands!r}: each band is LO-HI with 0 <= LO < HI")
    rows = eligible(args.zoo, args.min_geo)
    for name, n, e, geo in rows:
        print(json.dumps({"eligible": name, "nodes": n, "edges": e, "geolocated": geo}))
    rng = random.Random(args.seed)
    for lo, hi in bands:
        names = sorted(name for name, n, _, _ in rows if lo <= n < hi)
        pick = rng.choice(names) if names else None
        print(json.dumps({"band": [lo, hi], "candidates": len(names), "pick": pick}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
