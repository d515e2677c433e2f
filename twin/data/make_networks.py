"""Generate the shipped network models ``twin/data/networks/*.yaml`` (developer script).

* ``abilene.yaml``: the Internet2 Abilene backbone as in Yin Zhang's traffic
  matrices: 12 routers named as there, **in the matrices' row order**
  (alphabetical: ATLAM5, ATLAng, CHINng, ...), 15 links; 10 Gb/s backbone
  (OC-192 era, named as 10GE ports), the Atlanta M5 on 1 Gb/s. The link list
  is checked against ``../shared/data/traffic/abilene/abilene.dot`` (``s<k>``
  is row ``k-1``) when that file is present.
* ``nsfnet.yaml``: the 14-node, 21-link NSFNet T1 backbone of the optical and
  RouteNet literature with its sites' coordinates, 10 Gb/s links (the one
  NSFNet of the project: ``twin/data/nsfnet.yaml``, the demo scenario, is
  generated from it by :mod:`twinwatch.twin.data.make_nsfnet`).
* ``geant.yaml`` (40 nodes) and ``cogentco.yaml`` (197 nodes): imported from
  Topology Zoo's ``Geant2012.graphml`` and ``Cogentco.graphml`` in
  ``../shared/data/topologies/zoo`` (:func:`twinwatch.twin.netmodel.import_graphml`).
  Without ``../shared`` these two are left as they are.

Common to all: propagation delay from the great-circle length at 2e8 m/s,
IGP metric 1 per km (at least 1), every device on one WFQ profile (weights
60/30/10, 1000 packets per queue, like the GNNet datasets' WFQ nodes), three
ToS classes (EF and network control → 0, AF and CS4/CS5 → 1, the rest → 2),
loopbacks and prefixes by the derived convention
(:func:`twinwatch.twin.netmodel.importers.derived_addresses`), and probes (10
packets/s of 128 bytes, one in four marked EF): the eight most distant device
pairs, then the pairs :func:`twinwatch.twin.probe_plan.plan_network_probes`
adds so that every directed link is crossed by a probe and no two links by
the same set of probes (``twinwatch network plan-probes``). Vendors: Abilene Juniper (T640, M5), NSFNet Arista, GÉANT
Juniper, Cogent Cisco IOS XR; interface names follow each vendor's naming.

Run from the repository root (deterministic output)::

    .venv/bin/python -m twinwatch.twin.data.make_networks
"""

from __future__ import annotations

import re
import sys
from pathlib import Path
from typing import Any

import numpy as np

from twinwatch.twin.netmodel import document, dump_network_model, import_graphml, model_from_dict
from twinwatch.twin.netmodel.importers import derived_addresses
from twinwatch.twin.netmodel.naming import InterfaceNamer
from twinwatch.twin.probe_plan import plan_network_probes
from twinwatch.twin.topology import great_circle_m

OUT = Path(__file__).with_name("networks")
SHARED = Path(__file__).resolve().parents[3] / "shared" / "data"

# router, city, lat, lon, model (Zhang's Abilene TM order: alphabetical router names)
ABILENE = [
    ("ATLAM5", "Atlanta", 33.75, -84.39, "M5"),
    ("ATLAng", "Atlanta", 33.75, -84.39, "T640"),
    ("CHINng", "Chicago", 41.88, -87.63, "T640"),
    ("DNVRng", "Denver", 39.74, -104.99, "T640"),
    ("HSTNng", "Houston", 29.76, -95.37, "T640"),
    ("IPLSng", "Indianapolis", 39.77, -86.16, "T640"),
    ("KSCYng", "Kansas City", 39.10, -94.58, "T640"),
    ("LOSAng", "Los Angeles", 34.05, -118.24, "T640"),
    ("NYCMng", "New York", 40.71, -74.01, "T640"),
    ("SNVAng", "Sunnyvale", 37.37, -122.04, "T640"),
    ("STTLng", "Seattle", 47.61, -122.33, "T640"),
    ("WASHng", "Washington", 38.91, -77.04, "T640"),
]
ABILENE_LINKS = [(0, 1), (1, 4), (1, 5), (1, 11), (2, 5), (2, 8), (3, 6), (3, 9), (3, 10), (4, 6), (4, 7), (5, 6),
                 (7, 9), (8, 11), (9, 10)]

# NSFNet T1: site, lat, lon (order and edges as in the literature's 14-node graph, 1-based there)
NSFNET = [
    ("Seattle", 47.61, -122.33), ("PaloAlto", 37.44, -122.14), ("SanDiego", 32.72, -117.16),
    ("SaltLakeCity", 40.76, -111.89), ("Boulder", 40.01, -105.27), ("Houston", 29.76, -95.37),
    ("Lincoln", 40.81, -96.70), ("Champaign", 40.12, -88.24), ("Pittsburgh", 40.44, -79.99),
    ("Atlanta", 33.75, -84.39), ("AnnArbor", 42.28, -83.74), ("Ithaca", 42.44, -76.50),
    ("Princeton", 40.35, -74.66), ("CollegePark", 38.99, -76.94),
]
NSFNET_LINKS = [(0, 1), (0, 2), (0, 7), (1, 2), (1, 3), (2, 5), (3, 4), (3, 10), (4, 5), (4, 6), (5, 9), (5, 13),
                (6, 7), (7, 8), (8, 9), (8, 11), (8, 12), (10, 11), (10, 12), (11, 13), (12, 13)]

PROFILES = {"wfq": {"policy": "WFQ", "weights": [60, 30, 10], "buffer": {"packets": 1000},
                    "description": "3 queues by ToS class, weights 60/30/10, 1000 packets each"}}
TOS_CLASSES = [
    {"name": "priority", "class": 0, "dscp": [46, 48, 56]},
    {"name": "assured", "class": 1, "dscp": [10, 12, 14, 18, 20, 22, 26, 28, 30, 32, 34, 36, 38, 40]},
    {"name": "best-effort", "class": 2, "dscp": [0, 8], "default": True},
]


def _km(lat: np.ndarray, lon: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return great_circle_m(lat[a], lon[a], lat[b], lon[b]) / 1e3


def _probes(names: list[str], lat: np.ndarray, lon: np.ndarray, k: int = 8) -> list[dict[str, Any]]:
    """The ``k`` most distant device pairs (ties by name), 10 pps of 128 bytes, every fourth one EF."""
    n = len(names)
    iu, ju = np.triu_indices(n, k=1)
    dist = np.nan_to_num(great_circle_m(lat[iu], lon[iu], lat[ju], lon[ju]), nan=-1.0)
    order = np.lexsort((ju, iu, -dist))[:k]
    return [{"name": f"{names[i]}-{names[j]}", "src": names[i], "dst": names[j], "rate_pps": 10, "size_bytes": 128,
             "dscp": 46 if r % 4 == 0 else 0} for r, (i, j) in enumerate(zip(iu[order].tolist(), ju[order].tolist()))]


def _finish(doc: dict[str, Any]) -> dict[str, Any]:
    """Add the common profile, ToS classes and probes to a document."""
    names = [d["name"] for d in doc["devices"]]
    lat = np.array([d.get("lat", np.nan) for d in doc["devices"]], dtype=np.float64)
    lon = np.array([d.get("lon", np.nan) for d in doc["devices"]], dtype=np.float64)
    out = {"version": 1, "name": doc["name"], "description": doc["description"],
           "defaults": {"queue_profile": "wfq"}, "queue_profiles": PROFILES, "tos_classes": TOS_CLASSES,
           "devices": doc["devices"], "links": doc["links"], "probes": _probes(names, lat, lon)}
    if doc.get("meta"):
        out["meta"] = doc["meta"]
    return out


def _hand_built(name: str, description: str, sites: list[tuple[str, float, float]], edges: list[tuple[int, int]],
                vendor: str, os_name: str, models: list[str], roles: list[str],
                capacity: dict[tuple[int, int], float], default_capacity: float) -> dict[str, Any]:
    n = len(sites)
    lat = np.array([s[1] for s in sites])
    lon = np.array([s[2] for s in sites])
    a = np.array([e[0] for e in edges])
    b = np.array([e[1] for e in edges])
    km = _km(lat, lon, a, b)
    devices = [{"name": s[0], "role": roles[i], "vendor": vendor, "os": os_name, "model": models[i], "lat": s[1],
                "lon": s[2]} | derived_addresses(i, n) for i, s in enumerate(sites)]
    namers = [InterfaceNamer(vendor) for _ in range(n)]
    links = []
    for (s, d), k in zip(edges, km.tolist()):
        cap = capacity.get((s, d), default_capacity)
        length = k if k > 0 else 0.1  # co-located routers: an intra-PoP patch, 100 m
        links.append({"a": {"device": sites[s][0], "interface": namers[s].next(cap)},
                      "b": {"device": sites[d][0], "interface": namers[d].next(cap)},
                      "capacity_bps": cap, "length_km": round(length, 3), "metric": max(1, round(length))})
    return {"name": name, "description": description, "devices": devices, "links": links}


def build_abilene() -> dict[str, Any]:
    """The Abilene document (see the module docstring)."""
    sites = [(r, lat, lon) for r, _, lat, lon, _ in ABILENE]
    doc = _hand_built(
        "abilene", "Internet2 Abilene backbone (2004), routers in the order of Zhang's Abilene traffic matrices",
        sites, ABILENE_LINKS, "juniper", "junos", [m for *_, m in ABILENE],
        ["edge" if m == "M5" else "core" for *_, m in ABILENE], {(0, 1): 1e9}, 10e9)
    for dev, (_, city, *_rest) in zip(doc["devices"], ABILENE):
        dev["description"] = city
    doc["meta"] = {"traffic_matrix_order": [r for r, *_ in ABILENE],
                   "source": "public Abilene maps; link list as in Zhang's Abilene TM topology (abilene.dot)"}
    return _finish(doc)


def build_nsfnet() -> dict[str, Any]:
    """The NSFNet document (see the module docstring)."""
    doc = _hand_built(
        "nsfnet", "NSFNet T1 backbone (14 sites, 21 links) with 10 Gb/s links", list(NSFNET), NSFNET_LINKS,
        "arista", "eos", ["7280R3"] * len(NSFNET), ["core"] * len(NSFNET), {}, 10e9)
    return _finish(doc)


def build_zoo(file: str, name: str, vendor: str, model: str) -> dict[str, Any]:
    """A Topology Zoo network imported from ``../shared`` (raises FileNotFoundError without it)."""
    path = SHARED / "topologies" / "zoo" / file
    if not path.is_file():
        raise FileNotFoundError(path)
    doc = document(import_graphml(path, name=name, vendor=vendor))
    for dev in doc["devices"]:
        dev["model"] = model
    return _finish(doc)


def check_abilene_against_dot(doc: dict[str, Any]) -> str:
    """Compare the Abilene links with ``abilene.dot`` (``s<k>`` = row ``k-1``); a message, raises on mismatch."""
    dot = SHARED / "traffic" / "abilene" / "abilene.dot"
    if not dot.is_file():
        return f"{dot} not found; Abilene link list not cross-checked"
    pairs = {tuple(sorted((int(a) - 1, int(b) - 1)))
             for a, b in re.findall(r"\bs(\d+)\s*->\s*s(\d+)", dot.read_text(encoding="utf-8"))}
    index = {d["name"]: i for i, d in enumerate(doc["devices"])}
    ours = {tuple(sorted((index[ln["a"]["device"]], index[ln["b"]["device"]]))) for ln in doc["links"]}
    if pairs != ours:
        raise SystemExit(f"abilene links differ from {dot}: only in dot {sorted(pairs - ours)}, "
                         f"only here {sorted(ours - pairs)}")
    return f"abilene: {len(ours)} links match {dot}"


def main() -> int:
    OUT.mkdir(exist_ok=True)
    docs: dict[str, dict[str, Any]] = {"abilene": build_abilene(), "nsfnet": build_nsfnet()}
    print(check_abilene_against_dot(docs["abilene"]), file=sys.stderr)
    for file, name, vendor, model in (("Geant2012.graphml", "geant", "juniper", "MX960"),
                                      ("Cogentco.graphml", "cogentco", "cisco", "ASR-9922")):
        try:
            docs[name] = build_zoo(file, name, vendor, model)
        except FileNotFoundError as exc:
            print(f"{name}: {exc} not found; {OUT / name}.yaml left as it is", file=sys.stderr)
    for name, doc in docs.items():
        model, _ = plan_network_probes(model_from_dict(doc, source=name))
        header = f"GENERATED by `python -m twinwatch.twin.data.make_networks`; edit that script, not this file.\n" \
                 f"{model.n_nodes} devices, {model.n_links} directed links, {model.n_probes} probes."
        dump_network_model(model, OUT / f"{name}.yaml", header=header)
        print(f"wrote {OUT / name}.yaml ({model.n_nodes} devices, {model.n_links} links)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
