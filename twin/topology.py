"""Network topologies: Topology Zoo GraphML files, shipped topologies, random graphs.

A :class:`Topology` is the physical part of a :class:`~twin.scenario.Scenario`:
nodes (with names and, where known, coordinates) and *directed* links with a
capacity and a propagation delay. Routing and traffic are drawn on top of it by
:mod:`twinwatch.twin.sim.scenarios`.

GraphML files from the Internet Topology Zoo are undirected; every edge becomes
two directed links. Capacities come from ``LinkSpeedRaw`` (bits/s) where the
file has it, else from a speed in ``LinkLabel`` / ``LinkType`` / ``LinkSpeed``
(``OC-192``, ``10 Gbps``, ``10GE``, ...), else ``default_capacity_bps``.
Propagation delays are great-circle distances between the endpoints'
``Latitude`` / ``Longitude`` divided by the speed of light in fibre
(:data:`FIBRE_SPEED_M_S`); links with an endpoint without coordinates get zero.

Examples
--------
>>> topo = random_topology(12, degree=3.0, rng=np.random.default_rng(1))
>>> topo.n_nodes, topo.n_links % 2, bool(topo.is_connected())
(12, 0, True)
>>> round(topo.n_links / topo.n_nodes, 1)
3.0
>>> nsf = load_topology("nsfnet")
>>> nsf.n_nodes, nsf.n_links, nsf.name
(14, 42, 'nsfnet')
>>> 0.003 < float(nsf.link_prop_delay_s.max()) < 0.02
True
"""

from __future__ import annotations

import heapq
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from xml.etree import ElementTree

import networkx as nx
import numpy as np

__all__ = [
    "EARTH_RADIUS_M",
    "FIBRE_SPEED_M_S",
    "Topology",
    "TopologyError",
    "great_circle_m",
    "list_shipped",
    "load_topology",
    "random_topology",
    "read_graphml",
]

EARTH_RADIUS_M = 6_371_000.0
"""Mean Earth radius (metres) for great-circle distances."""

FIBRE_SPEED_M_S = 2.0e8
"""Signal speed in optical fibre (metres per second), about c / 1.5."""

DEFAULT_CAPACITY_BPS = 10e9
"""Capacity given to Topology Zoo links whose speed the file does not state."""


class TopologyError(ValueError):
    """A topology file or request is unusable; the message names the file and the fix."""


@dataclass(eq=False)
class Topology:
    """Nodes and directed links (columnar).

    Attributes
    ----------
    name
        Short name (file stem for GraphML).
    node_names
        ``N`` labels.
    node_lat, node_lon
        ``(N,)`` float degrees, NaN where unknown.
    link_src, link_dst
        ``(E,)`` int64; both directions of every physical link are present.
    link_capacity_bps
        ``(E,)`` float, > 0.
    link_prop_delay_s
        ``(E,)`` float, >= 0.
    meta
        Provenance (source file, links whose capacity was defaulted, nodes
        dropped outside the largest connected component, ...).
    """

    name: str
    node_names: list[str]
    node_lat: np.ndarray
    node_lon: np.ndarray
    link_src: np.ndarray
    link_dst: np.ndarray
    link_capacity_bps: np.ndarray
    link_prop_delay_s: np.ndarray
    meta: dict[str, object] = field(default_factory=dict)

    @property
    def n_nodes(self) -> int:
        return len(self.node_names)

    @property
    def n_links(self) -> int:
        return int(self.link_src.shape[0])

    def to_networkx(self) -> nx.DiGraph:
        """Directed graph with ``capacity_bps`` / ``prop_delay_s`` / ``link`` edge attributes."""
        g = nx.DiGraph()
        g.add_nodes_from(range(self.n_nodes))
        for i, (s, d) in enumerate(zip(self.link_src.tolist(), self.link_dst.tolist())):
            cap, prop = float(self.link_capacity_bps[i]), float(self.link_prop_delay_s[i])
            g.add_edge(s, d, link=i, capacity_bps=cap, prop_delay_s=prop)
        return g

    def is_connected(self) -> bool:
        """True when every node can reach every other one."""
        return self.n_nodes <= 1 or nx.is_strongly_connected(self.to_networkx())


def great_circle_m(lat1: np.ndarray, lon1: np.ndarray, lat2: np.ndarray, lon2: np.ndarray) -> np.ndarray:
    """Haversine distance in metres between points given in degrees (broadcasting).

    >>> round(float(great_circle_m(np.array(0.0), np.array(0.0), np.array(0.0), np.array(1.0))) / 1000, 1)
    111.2
    """
    p1, p2 = np.radians(lat1), np.radians(lat2)
    dp, dl = p2 - p1, np.radians(lon2) - np.radians(lon1)
    a = np.sin(dp / 2) ** 2 + np.cos(p1) * np.cos(p2) * np.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_M * np.arcsin(np.sqrt(np.clip(a, 0.0, 1.0)))


_OC = re.compile(r"\bOC-?(\d+)", re.IGNORECASE)
_SPEED = re.compile(r"(\d+(?:\.\d+)?)\s*(T|G|M|K)(?:b(?:ps|it/s|/s)?|E|igE|bit)?\b", re.IGNORECASE)
_UNIT = {"T": 1e12, "G": 1e9, "M": 1e6, "K": 1e3}


def _parse_speed(text: str) -> float:
    """Bits/s from a free-text link speed; NaN when none is recognised.

    >>> _parse_speed("OC-192c"), _parse_speed("10 Gbps"), _parse_speed("1GE"), _parse_speed("fibre")
    (9953280000.0, 10000000000.0, 1000000000.0, nan)
    """
    m = _OC.search(text)
    if m:
        return float(m.group(1)) * 51.84e6
    m = _SPEED.search(text)
    if m:
        return float(m.group(1)) * _UNIT[m.group(2).upper()]
    return float("nan")


def _edge_capacity(attrs: dict[str, object]) -> float:
    raw = attrs.get("LinkSpeedRaw")
    if raw is not None:
        try:
            val = float(raw)  # type: ignore[arg-type]
        except ValueError:
            val = float("nan")
        if val > 0:
            return val
    speed, units = attrs.get("LinkSpeed"), attrs.get("LinkSpeedUnits")
    if speed is not None and units is not None:
        val = _parse_speed(f"{speed} {units}bps")
        if val > 0:
            return val
    for key in ("LinkLabel", "LinkType", "label"):
        text = attrs.get(key)
        if isinstance(text, str):
            val = _parse_speed(text)
            if val > 0:
                return val
    return float("nan")


def read_graphml(
    path: str | os.PathLike[str],
    *,
    default_capacity_bps: float = DEFAULT_CAPACITY_BPS,
    largest_component: bool = True,
) -> Topology:
    """Read a Topology Zoo GraphML file into a :class:`Topology`.

    Parameters
    ----------
    path
        The ``.graphml`` file.
    default_capacity_bps
        Capacity of links whose speed the file does not give (counted in
        ``meta["capacity_defaulted"]``).
    largest_component
        Keep only the largest connected component (several Zoo networks have
        isolated nodes); when False a disconnected file is an error.

    Parallel edges between the same two nodes are merged (capacities add);
    self-loops are dropped.
    """
    path = Path(path)
    try:
        g = nx.read_graphml(path)
    except (OSError, nx.NetworkXError, ValueError, ElementTree.ParseError) as exc:
        raise TopologyError(f"{path}: cannot read GraphML ({exc})") from exc
    und = nx.Graph()
    und.add_nodes_from(g.nodes(data=True))
    for u, v, attrs in g.edges(data=True):
        if u == v:
            continue
        cap = _edge_capacity(attrs)
        defaulted = not cap > 0
        if defaulted:
            cap = default_capacity_bps
        if und.has_edge(u, v):
            und[u][v]["capacity_bps"] += cap
            und[u][v]["defaulted"] += int(defaulted)
        else:
            und.add_edge(u, v, capacity_bps=cap, defaulted=int(defaulted))
    if und.number_of_nodes() == 0:
        raise TopologyError(f"{path}: the graph has no nodes")
    comps = sorted(nx.connected_components(und), key=len, reverse=True)
    dropped: list[str] = []
    if len(comps) > 1:
        if not largest_component:
            raise TopologyError(
                f"{path}: the graph has {len(comps)} connected components; pass largest_component=True "
                "to keep the largest one"
            )
        keep = comps[0]
        dropped = sorted(str(n) for n in und.nodes if n not in keep)
        und = und.subgraph(keep).copy()
    if und.number_of_nodes() < 2:
        raise TopologyError(f"{path}: fewer than two connected nodes; nothing to route")

    def _key(n: object) -> tuple[int, str]:
        s = str(n)
        return (int(s), s) if s.lstrip("-").isdigit() else (1 << 62, s)

    n_default = sum(d["defaulted"] for _, _, d in und.edges(data=True))
    order = sorted(und.nodes, key=_key)
    idx = {n: i for i, n in enumerate(order)}
    names = [str(und.nodes[n].get("label", n)) for n in order]
    lat = np.array([float(und.nodes[n].get("Latitude", np.nan)) for n in order])
    lon = np.array([float(und.nodes[n].get("Longitude", np.nan)) for n in order])
    edges = sorted((min(idx[u], idx[v]), max(idx[u], idx[v]), d["capacity_bps"]) for u, v, d in und.edges(data=True))
    a = np.array([e[0] for e in edges], dtype=np.int64)
    b = np.array([e[1] for e in edges], dtype=np.int64)
    cap = np.array([e[2] for e in edges], dtype=np.float64)
    topo = _from_undirected(path.stem, names, lat, lon, a, b, cap)
    topo.meta.update(
        source=str(path), capacity_defaulted=n_default, dropped_nodes=dropped, n_undirected_edges=len(edges)
    )
    return topo


def _from_undirected(
    name: str, names: list[str], lat: np.ndarray, lon: np.ndarray, a: np.ndarray, b: np.ndarray, cap: np.ndarray
) -> Topology:
    """Both directions of every (a, b) edge; delays from coordinates (0 when unknown)."""
    dist = great_circle_m(lat[a], lon[a], lat[b], lon[b])
    prop = np.where(np.isfinite(dist), dist / FIBRE_SPEED_M_S, 0.0)
    return Topology(
        name=name,
        node_names=names,
        node_lat=lat,
        node_lon=lon,
        link_src=np.concatenate([a, b]),
        link_dst=np.concatenate([b, a]),
        link_capacity_bps=np.concatenate([cap, cap]),
        link_prop_delay_s=np.concatenate([prop, prop]),
    )


def random_topology(
    n_nodes: int,
    *,
    degree: float = 3.0,
    rng: np.random.Generator,
    capacities_bps: tuple[float, ...] = (10e6, 25e6, 40e6, 100e6),
    area_km: float = 0.0,
    name: str = "",
) -> Topology:
    """A connected random graph with mean (undirected) degree ``degree``.

    A uniformly random labelled spanning tree (random Prüfer sequence) makes it
    connected; extra edges chosen uniformly among the missing ones bring the
    edge count to ``round(n_nodes * degree / 2)``. Each physical link gets a
    capacity drawn from ``capacities_bps`` (both directions equal). With
    ``area_km > 0`` nodes are placed uniformly in a square of that side around
    (45°N, 0°E) and delays follow from the distances; with 0 every delay is 0
    (as in the GNNet datasets).

    Shapes: ``E = 2 * round(n_nodes * degree / 2)`` directed links (capped at
    the complete graph, at least ``2 * (n_nodes - 1)``).
    """
    if n_nodes < 2:
        raise TopologyError(f"random topology: needs at least 2 nodes, got {n_nodes}")
    if not degree > 0:
        raise TopologyError(f"random topology: degree must be > 0, got {degree}")
    m_target = int(np.clip(round(n_nodes * degree / 2), n_nodes - 1, n_nodes * (n_nodes - 1) // 2))
    edges = _random_tree(n_nodes, rng)
    adj = np.zeros((n_nodes, n_nodes), dtype=bool)
    adj[edges[:, 0], edges[:, 1]] = adj[edges[:, 1], edges[:, 0]] = True
    iu, ju = np.triu_indices(n_nodes, k=1)
    free = np.flatnonzero(~adj[iu, ju])
    extra = rng.choice(free, size=m_target - (n_nodes - 1), replace=False)
    a = np.concatenate([np.minimum(edges[:, 0], edges[:, 1]), iu[extra]]).astype(np.int64)
    b = np.concatenate([np.maximum(edges[:, 0], edges[:, 1]), ju[extra]]).astype(np.int64)
    order = np.lexsort((b, a))
    a, b = a[order], b[order]
    cap = rng.choice(np.asarray(capacities_bps, dtype=np.float64), size=a.shape[0])
    if area_km > 0:
        lat0 = 45.0
        dlat = area_km * 1000.0 / (np.pi * EARTH_RADIUS_M / 180.0)
        dlon = dlat / np.cos(np.radians(lat0))
        lat = lat0 + (rng.random(n_nodes) - 0.5) * dlat
        lon = (rng.random(n_nodes) - 0.5) * dlon
    else:
        lat = lon = np.full(n_nodes, np.nan)
    topo = _from_undirected(name or f"random{n_nodes}", [str(i) for i in range(n_nodes)], lat, lon, a, b, cap)
    topo.meta.update(kind="random", degree=float(degree), area_km=float(area_km))
    return topo


def _random_tree(n: int, rng: np.random.Generator) -> np.ndarray:
    """``(n-1, 2)`` edges of a uniformly random labelled tree (Prüfer decoding)."""
    if n == 2:
        return np.array([[0, 1]], dtype=np.int64)
    seq = rng.integers(0, n, size=n - 2)
    deg = np.ones(n, dtype=np.int64)
    np.add.at(deg, seq, 1)
    out = np.empty((n - 1, 2), dtype=np.int64)
    leaves = [i for i in range(n) if deg[i] == 1]
    heapq.heapify(leaves)
    for k, v in enumerate(seq.tolist()):
        leaf = heapq.heappop(leaves)
        out[k] = (leaf, v)
        deg[v] -= 1
        if deg[v] == 1:
            heapq.heappush(leaves, v)
    out[n - 2] = (heapq.heappop(leaves), heapq.heappop(leaves))
    return out


def list_shipped() -> list[str]:
    """Names of the networks the package ships (``twin/data/networks/*.yaml``, see :mod:`twinwatch.twin.netmodel`).

    >>> "abilene" in list_shipped() and "nsfnet" in list_shipped()
    True
    """
    from twinwatch.twin.netmodel import list_networks  # the network model imports this module

    return list_networks()


def load_topology(
    spec: str | os.PathLike[str],
    *,
    zoo_dir: str | os.PathLike[str] | None = None,
    default_capacity_bps: float = DEFAULT_CAPACITY_BPS,
) -> Topology:
    """Resolve ``spec`` to a topology.

    ``spec`` is a path to a ``.graphml`` file, or a name looked up
    (case-insensitively) first among the shipped network models
    (:func:`twinwatch.twin.netmodel.load_network`, the one definition of each shipped
    network) and then as ``NAME.graphml`` in ``zoo_dir``.
    """
    from twinwatch.twin.netmodel import list_networks, load_network

    text = os.fspath(spec)
    path = Path(text)
    if text.endswith(".graphml") or path.is_file():
        if not path.is_file():
            raise TopologyError(f"topology file {path} does not exist")
        return read_graphml(path, default_capacity_bps=default_capacity_bps)
    low = text.lower()
    if low in list_networks():
        return load_network(low).to_topology()
    tried = [f"shipped: {', '.join(list_shipped())}"]
    if zoo_dir is not None:
        zdir = Path(zoo_dir)
        if zdir.is_dir():
            for p in zdir.iterdir():
                if p.name.lower() == f"{low}.graphml":
                    return read_graphml(p, default_capacity_bps=default_capacity_bps)
        tried.append(f"{zdir}/{text}.graphml")
    raise TopologyError(
        f"unknown topology {text!r} (looked in {'; '.join(tried)}); give a .graphml path or --zoo-dir DIR"
    )
