"""A human-readable YAML file format for one :class:`~twin.scenario.Scenario`.

Format (``version: 1``; units in key names; ``#`` comments are free)::

    version: 1
    name: my-net
    time_unit: s                  # "s" (default) or a dataset's "tu"
    defaults:                     # apply to every node unless the node overrides
      policy: FIFO                # FIFO | SP | WFQ | DRR
      weights: [60, 30, 10]       # WFQ/DRR weight per ToS queue
      buffer_pkts: 64             # per queue, packets (or buffer_bits: per port, bits)
    nodes:                        # list order = node number 0..N-1
      - {name: A}
      - {name: B, policy: SP, buffer_pkts: [32, 64, 128]}
      - {name: C}
    links:                        # directed; bidirectional: true adds the reverse link
      - {src: A, dst: B, capacity_bps: 1.0e+9, prop_delay_s: 0.001, bidirectional: true}
      - {src: B, dst: C, capacity_bps: 1.0e+9, prop_delay_s: 0.002, bidirectional: true}
    routing: shortest_path        # or {shortest_path: prop_delay_s | hops}
    # routing:                    # ... or explicit routes (node sequences)
    #   routes: [{src: A, dst: C, path: [A, B, C]}]
    traffic:
      flows:                      # one or more flows per (src, dst)
        - {src: A, dst: C, rate_bps: 2.0e+8, pkt_size_bits: 8000, time_dist: POISSON, tos: 0}
        - {src: C, dst: A, rate_bps: 1.0e+8, sizes_bits: [512, 12000], size_probs: [0.4, 0.6]}
      # matrix_bps: [[0, 1e8, ...], ...]   # ... or an N x N matrix (src rows, dst columns),
      # classes:                           # split into one flow per class (shares sum to 1)
      #   - {share: 0.2, tos: 0, time_dist: CBR, pkt_size_bits: 1600}
      #   - {share: 0.8, tos: 2, sizes_bits: [512, 12000], size_probs: [0.5, 0.5]}

Nodes are referred to by ``name`` or by number; optional ``lat``/``lon``
(degrees) go to ``meta["node_lat"]``/``meta["node_lon"]``. ``shortest_path`` routing uses
Dijkstra over ``prop_delay_s`` (ties broken by hop count, then by node numbers,
so it is deterministic); ``hops`` uses hop count. Only (src, dst) pairs that
carry traffic get a path. Flow keys: ``rate_bps``, ``pkt_size_bits`` or
``sizes_bits`` + ``size_probs`` (at most 5), ``time_dist`` (POISSON, CBR,
ONOFF, ...), ``on_s``/``off_s`` (ON-OFF), ``tos`` (0..2).

Errors name the file and the element (``nsfnet.yaml: links[3]: unknown node
'Foo'``) and raise :class:`ScenarioFileError` (a :class:`ScenarioError`).

Examples
--------
>>> text = '''
... nodes: [{name: A}, {name: B}, {name: C}]
... links:
...   - {src: A, dst: B, capacity_bps: 1.0e+6, prop_delay_s: 0.001, bidirectional: true}
...   - {src: B, dst: C, capacity_bps: 1.0e+6, bidirectional: true}
... routing: shortest_path
... traffic: {flows: [{src: A, dst: C, rate_bps: 2.0e+5}]}
... '''
>>> sc = scenario_from_dict(yaml.safe_load(text), source="inline")
>>> sc.n_nodes, sc.n_links, sc.path_nodes(0), sc.meta["node_names"]
(3, 4, [0, 1, 2], ['A', 'B', 'C'])
>>> sc2 = scenario_from_dict(yaml.safe_load(dump_scenario_yaml(sc)), source="round-trip")
>>> bool((sc2.path_links == sc.path_links).all()), sc2.flow_rate_bps.tolist()
(True, [200000.0])
"""

from __future__ import annotations

import heapq
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from twin.scenario import MAX_QUEUES, MAX_SIZES, Flow, Policy, Scenario, ScenarioError, TimeDist

__all__ = ["ScenarioFileError", "dump_scenario_yaml", "load_scenario_yaml", "scenario_from_dict"]

_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

_TOP_KEYS = {"version", "name", "time_unit", "defaults", "nodes", "links", "routing", "traffic", "meta"}
_NODE_KEYS = {"name", "policy", "weights", "buffer_pkts", "buffer_bits", "lat", "lon"}
_LINK_KEYS = {"src", "dst", "capacity_bps", "prop_delay_s", "bidirectional"}
_FLOW_KEYS = {"src", "dst", "rate_bps", "pkt_size_bits", "sizes_bits", "size_probs", "time_dist", "on_s", "off_s",
              "tos"}
_CLASS_KEYS = (_FLOW_KEYS - {"src", "dst", "rate_bps"}) | {"share"}


class ScenarioFileError(ScenarioError):
    """A scenario file is malformed; the message names the file and the element."""


def load_scenario_yaml(path: str | os.PathLike[str]) -> Scenario:
    """Read a scenario YAML file (format in the module docstring)."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as exc:
        raise ScenarioFileError(f"{p}: cannot read scenario file ({exc.strerror or exc})") from exc
    try:
        doc = yaml.load(text, Loader=_LOADER)  # C-accelerated SafeLoader when available
    except yaml.YAMLError as exc:
        raise ScenarioFileError(f"{p}: not valid YAML: {exc}") from exc
    sc = scenario_from_dict(doc, source=str(p))
    if not sc.name:
        sc.name = p.stem
    return sc


def _err(source: str, where: str, msg: str) -> ScenarioFileError:
    return ScenarioFileError(f"{source}: {where}: {msg}" if where else f"{source}: {msg}")


def _check_keys(d: object, allowed: set[str], source: str, where: str) -> Mapping[str, Any]:
    if not isinstance(d, Mapping):
        raise _err(source, where, f"expected a mapping, got {type(d).__name__}")
    extra = sorted(set(map(str, d)) - allowed)
    if extra:
        raise _err(source, where, f"unknown key(s) {extra}; allowed: {sorted(allowed)}")
    return d


def _num(v: object, source: str, where: str) -> float:
    try:
        return float(v)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise _err(source, where, f"expected a number, got {v!r}") from None


def _per_queue(v: object, source: str, where: str) -> list[float]:
    vals = [_num(x, source, where) for x in v] if isinstance(v, Sequence) and not isinstance(v, str) else [
        _num(v, source, where)] * MAX_QUEUES
    if len(vals) > MAX_QUEUES:
        raise _err(source, where, f"at most {MAX_QUEUES} values (one per ToS queue), got {len(vals)}")
    return vals + [float("nan")] * (MAX_QUEUES - len(vals))


def _enum(cls: type, v: object, source: str, where: str) -> Any:
    if isinstance(v, int):
        try:
            return cls(v)
        except ValueError:
            pass
    elif isinstance(v, str) and v.upper() in cls.__members__:
        return cls[v.upper()]
    raise _err(source, where, f"{v!r} is not one of {list(cls.__members__)}")


def scenario_from_dict(doc: object, *, source: str = "<scenario>") -> Scenario:
    """Build a :class:`Scenario` from the parsed YAML document ``doc``."""
    if doc is None:
        raise _err(source, "", "the file is empty")
    doc = _check_keys(doc, _TOP_KEYS, source, "top level")
    if int(doc.get("version", 1)) != 1:
        raise _err(source, "version", f"unsupported version {doc.get('version')!r}; this reader knows version 1")
    defaults = _check_keys(doc.get("defaults") or {}, _NODE_KEYS - {"name", "lat", "lon"}, source, "defaults")
    nodes_raw = doc.get("nodes")
    if isinstance(nodes_raw, int):
        nodes_raw = [{} for _ in range(nodes_raw)]
    if not isinstance(nodes_raw, list) or not nodes_raw:
        raise _err(source, "nodes", "expected a non-empty list of nodes (or a node count)")
    n = len(nodes_raw)
    names: list[str] = []
    policy, weights, qpkts, bbits = [], [], [], []
    for i, nd in enumerate(nodes_raw):
        where = f"nodes[{i}]"
        nd = _check_keys(nd or {}, _NODE_KEYS, source, where)
        merged = {**defaults, **nd}
        names.append(str(nd.get("name", i)))
        policy.append(_enum(Policy, merged.get("policy", "FIFO"), source, f"{where}.policy"))
        weights.append(_per_queue(merged["weights"], source, f"{where}.weights") if "weights" in merged
                       else [float("nan")] * MAX_QUEUES)
        if "buffer_pkts" in merged and "buffer_bits" in nd:
            merged.pop("buffer_pkts")
        if "buffer_bits" in merged and "buffer_pkts" in nd:
            merged.pop("buffer_bits")
        qpkts.append(_per_queue(merged["buffer_pkts"], source, f"{where}.buffer_pkts") if "buffer_pkts" in merged
                     else [float("nan")] * MAX_QUEUES)
        bbits.append(_num(merged["buffer_bits"], source, f"{where}.buffer_bits") if "buffer_bits" in merged
                     else float("nan"))
    if len(set(names)) != n:
        dup = next(x for x in names if names.count(x) > 1)
        raise _err(source, "nodes", f"node name {dup!r} is used twice")
    ids = {name: i for i, name in enumerate(names)}

    def node(v: object, where: str) -> int:
        if isinstance(v, str) and v in ids:
            return ids[v]
        if isinstance(v, int) and not isinstance(v, bool) and 0 <= v < n:
            return v
        raise _err(source, where, f"unknown node {v!r}; nodes are {names[:8]}{'...' if n > 8 else ''} or 0..{n - 1}")

    links: list[tuple[int, int, float, float]] = []
    for i, lk in enumerate(doc.get("links") or []):
        where = f"links[{i}]"
        lk = _check_keys(lk, _LINK_KEYS, source, where)
        for key in ("src", "dst", "capacity_bps"):
            if key not in lk:
                raise _err(source, where, f"missing {key!r}")
        s, d = node(lk["src"], f"{where}.src"), node(lk["dst"], f"{where}.dst")
        cap = _num(lk["capacity_bps"], source, f"{where}.capacity_bps")
        prop = _num(lk.get("prop_delay_s", 0.0), source, f"{where}.prop_delay_s")
        links.append((s, d, cap, prop))
        if lk.get("bidirectional", False):
            links.append((d, s, cap, prop))
    if not links:
        raise _err(source, "links", "expected a non-empty list of links")

    flows = _flows(doc.get("traffic"), n, node, source)
    pairs = sorted({(f.src, f.dst) for f in flows})
    routes = _routes(doc.get("routing", "shortest_path"), pairs, n, links, node, source)
    meta = dict(doc.get("meta") or {})
    meta["node_names"] = names
    lat = [_num(nd["lat"], source, f"nodes[{i}].lat") if isinstance(nd, Mapping) and "lat" in nd else float("nan")
           for i, nd in enumerate(nodes_raw)]
    lon = [_num(nd["lon"], source, f"nodes[{i}].lon") if isinstance(nd, Mapping) and "lon" in nd else float("nan")
           for i, nd in enumerate(nodes_raw)]
    if any(x == x for x in lat + lon):
        meta["node_lat"], meta["node_lon"] = lat, lon
    try:
        return Scenario.build(
            n_nodes=n,
            links=links,
            routes=routes,
            flows=flows,
            policy=policy,
            weights=weights,
            queue_pkts=qpkts,
            buffer_bits=bbits,
            name=str(doc.get("name", "")),
            time_unit=str(doc.get("time_unit", "s")),
            meta=meta,
        )
    except ScenarioError as exc:
        raise ScenarioFileError(f"{source}: {exc}") from exc


def _flow_kwargs(d: Mapping[str, Any], source: str, where: str) -> dict[str, Any]:
    kw: dict[str, Any] = {}
    if "pkt_size_bits" in d:
        kw["pkt_size_bits"] = _num(d["pkt_size_bits"], source, f"{where}.pkt_size_bits")
    if "sizes_bits" in d or "size_probs" in d:
        sizes = [_num(x, source, f"{where}.sizes_bits") for x in d.get("sizes_bits") or []]
        probs = [_num(x, source, f"{where}.size_probs") for x in d.get("size_probs") or []]
        if not sizes or len(sizes) != len(probs) or len(sizes) > MAX_SIZES:
            raise _err(source, where, f"sizes_bits and size_probs need the same length, 1..{MAX_SIZES}")
        if abs(sum(probs) - 1.0) > 1e-6:
            raise _err(source, f"{where}.size_probs", f"must sum to 1, got {sum(probs)}")
        kw["sizes_bits"], kw["size_probs"] = tuple(sizes), tuple(probs)
    if "time_dist" in d:
        kw["time_dist"] = _enum(TimeDist, d["time_dist"], source, f"{where}.time_dist")
    for key in ("on_s", "off_s"):
        if key in d:
            kw[key] = _num(d[key], source, f"{where}.{key}")
    if "tos" in d:
        tos = d["tos"]
        if not isinstance(tos, int) or not 0 <= tos < MAX_QUEUES:
            raise _err(source, f"{where}.tos", f"expected 0..{MAX_QUEUES - 1}, got {tos!r}")
        kw["tos"] = tos
    return kw


def _flows(traffic: object, n: int, node: Any, source: str) -> list[Flow]:
    t = _check_keys(traffic or {}, {"flows", "matrix_bps", "classes"}, source, "traffic")
    flows: list[Flow] = []
    for i, fd in enumerate(t.get("flows") or []):
        where = f"traffic.flows[{i}]"
        fd = _check_keys(fd, _FLOW_KEYS, source, where)
        for key in ("src", "dst", "rate_bps"):
            if key not in fd:
                raise _err(source, where, f"missing {key!r}")
        s, d = node(fd["src"], f"{where}.src"), node(fd["dst"], f"{where}.dst")
        if s == d:
            raise _err(source, where, f"src and dst are both node {s}")
        flows.append(Flow(src=s, dst=d, rate_bps=_num(fd["rate_bps"], source, f"{where}.rate_bps"),
                          **_flow_kwargs(fd, source, where)))
    if "matrix_bps" in t:
        m = np.asarray(t["matrix_bps"], dtype=object)
        try:
            mat = m.astype(np.float64)
        except (TypeError, ValueError):
            raise _err(source, "traffic.matrix_bps", "must be an N x N matrix of numbers") from None
        if mat.shape != (n, n):
            raise _err(source, "traffic.matrix_bps", f"expected a {n} x {n} matrix, got shape {mat.shape}")
        classes_raw = t.get("classes") or [{"share": 1.0}]
        classes = []
        for k, c in enumerate(classes_raw):
            where = f"traffic.classes[{k}]"
            c = _check_keys(c, _CLASS_KEYS, source, where)
            classes.append((_num(c.get("share", 1.0), source, f"{where}.share"), _flow_kwargs(c, source, where)))
        total = sum(s for s, _ in classes)
        if abs(total - 1.0) > 1e-6:
            raise _err(source, "traffic.classes", f"shares must sum to 1, got {total}")
        src, dst = np.nonzero(mat > 0)
        for s, d in zip(src.tolist(), dst.tolist(), strict=True):
            if s == d:
                continue
            for share, kw in classes:
                if share > 0:
                    flows.append(Flow(src=s, dst=d, rate_bps=float(mat[s, d]) * share, **kw))
    if not flows:
        raise _err(source, "traffic", "no flows: give traffic.flows or traffic.matrix_bps")
    return flows


def _routes(
    routing: object, pairs: list[tuple[int, int]], n: int, links: list[tuple[int, int, float, float]], node: Any,
    source: str,
) -> dict[tuple[int, int], list[int]]:
    if isinstance(routing, Mapping) and "routes" in routing:
        _check_keys(routing, {"routes"}, source, "routing")
        routes: dict[tuple[int, int], list[int]] = {}
        for i, r in enumerate(routing["routes"] or []):
            where = f"routing.routes[{i}]"
            r = _check_keys(r, {"src", "dst", "path"}, source, where)
            if "path" not in r:
                raise _err(source, where, "missing 'path'")
            path = [node(v, f"{where}.path") for v in r["path"]]
            s = node(r.get("src", r["path"][0]), f"{where}.src")
            d = node(r.get("dst", r["path"][-1]), f"{where}.dst")
            routes[(s, d)] = path
        missing = [p for p in pairs if p not in routes]
        if missing:
            s, d = missing[0]
            raise _err(source, "routing.routes", f"no route for traffic {s}->{d} ({len(missing)} pairs lack one)")
        return {p: routes[p] for p in pairs}
    metric = "prop_delay_s"
    if isinstance(routing, Mapping):
        _check_keys(routing, {"shortest_path"}, source, "routing")
        metric = str(routing["shortest_path"])
    elif routing != "shortest_path":
        raise _err(source, "routing", f"expected 'shortest_path', {{shortest_path: METRIC}} or {{routes: [...]}}, "
                                      f"got {routing!r}")
    if metric not in ("prop_delay_s", "hops"):
        raise _err(source, "routing.shortest_path", f"metric must be 'prop_delay_s' or 'hops', got {metric!r}")
    adj: list[list[tuple[int, float]]] = [[] for _ in range(n)]
    for s, d, _cap, prop in links:
        adj[s].append((d, prop if metric == "prop_delay_s" else 1.0))
    out: dict[tuple[int, int], list[int]] = {}
    for src in sorted({s for s, _ in pairs}):
        prev = _dijkstra(adj, src)
        for s, d in pairs:
            if s != src:
                continue
            if prev[d] is None:
                raise _err(source, "routing", f"node {d} cannot be reached from node {s}")
            path = [d]
            while path[-1] != s:
                path.append(prev[path[-1]])  # type: ignore[arg-type]
            out[(s, d)] = path[::-1]
    return out


def _dijkstra(adj: list[list[tuple[int, float]]], src: int) -> list[int | None]:
    """Predecessor of every node on a shortest path from ``src`` (cost, then hops, then node number)."""
    n = len(adj)
    best: list[tuple[float, int] | None] = [None] * n
    prev: list[int | None] = [None] * n
    best[src] = (0.0, 0)
    prev[src] = src
    heap = [(0.0, 0, src)]
    while heap:
        cost, hops, u = heapq.heappop(heap)
        if best[u] != (cost, hops):
            continue
        for v, w in sorted(adj[u]):
            cand = (cost + w, hops + 1)
            if best[v] is None or cand < best[v]:  # type: ignore[operator]
                best[v] = cand
                prev[v] = u
                heapq.heappush(heap, (cand[0], cand[1], v))
    return prev


def _fmt(x: float) -> float | int:
    return int(x) if float(x).is_integer() and abs(x) < 1e15 else float(x)


def dump_scenario_yaml(sc: Scenario, path: str | os.PathLike[str] | None = None) -> str:
    """Write ``sc`` as scenario YAML (explicit routes and flows); return the text.

    Writes to ``path`` when given. Node names come from ``sc.meta["node_names"]``
    when present.
    """
    names = list(sc.meta.get("node_names", [])) if isinstance(sc.meta.get("node_names"), list) else []
    if len(names) != sc.n_nodes:
        names = [str(i) for i in range(sc.n_nodes)]
    nodes = []
    for i in range(sc.n_nodes):
        nd: dict[str, Any] = {"name": names[i], "policy": Policy(int(sc.node_policy[i])).name}
        for key in ("lat", "lon"):
            vals = sc.meta.get(f"node_{key}")
            if isinstance(vals, list) and len(vals) == sc.n_nodes and vals[i] == vals[i]:
                nd[key] = float(vals[i])
        w = sc.node_weights[i]
        if np.isfinite(w).any():
            nd["weights"] = [_fmt(x) for x in w[np.isfinite(w)]]
        qp = sc.node_queue_pkts[i]
        if np.isfinite(qp).any():
            nd["buffer_pkts"] = [_fmt(x) for x in qp[np.isfinite(qp)]]
        if np.isfinite(sc.node_buffer_bits[i]):
            nd["buffer_bits"] = _fmt(sc.node_buffer_bits[i])
        nodes.append(nd)
    links = [
        {"src": names[int(s)], "dst": names[int(d)], "capacity_bps": _fmt(c), "prop_delay_s": _fmt(p)}
        for s, d, c, p in zip(sc.link_src, sc.link_dst, sc.link_capacity_bps, sc.link_prop_delay_s, strict=True)
    ]
    routes = [
        {"src": names[int(sc.path_src[p])], "dst": names[int(sc.path_dst[p])],
         "path": [names[k] for k in sc.path_nodes(p)]}
        for p in range(sc.n_paths)
    ]
    flows = []
    for f in range(sc.n_flows):
        p = int(sc.flow_path[f])
        fd: dict[str, Any] = {"src": names[int(sc.path_src[p])], "dst": names[int(sc.path_dst[p])],
                              "rate_bps": _fmt(sc.flow_rate_bps[f])}
        keep = sc.flow_size_probs[f] > 0
        fd["sizes_bits"] = [_fmt(x) for x in sc.flow_sizes_bits[f][keep]]
        fd["size_probs"] = [_fmt(x) for x in sc.flow_size_probs[f][keep]]
        fd["time_dist"] = TimeDist(int(sc.flow_time_dist[f])).name
        for key in ("on_s", "off_s"):
            v = float(getattr(sc, f"flow_{key}")[f])
            if np.isfinite(v):
                fd[key] = _fmt(v)
        fd["tos"] = int(sc.flow_tos[f])
        flows.append(fd)
    doc: dict[str, Any] = {"version": 1, "name": sc.name, "time_unit": sc.time_unit, "nodes": nodes, "links": links,
                           "routing": {"routes": routes}, "traffic": {"flows": flows}}
    text = yaml.safe_dump(doc, sort_keys=False, default_flow_style=None, width=120)
    if path is not None:
        Path(path).write_text(text, encoding="utf-8")
    return text
