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
    routing: shortest_path        # OSPF metric; or {shortest_path: ospf | prop_delay_s | hops}
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
(degrees) go to ``meta["node_lat"]``/``meta["node_lon"]``. Routing is
:func:`twinwatch.twin.routing.compute_routing`, one path per pair: ``shortest_path``
uses the project's default metric, OSPF's ``max(1, floor(100 Gb/s /
capacity))``; ``{shortest_path: prop_delay_s}`` the propagation delay (every
link's must be > 0) and ``{shortest_path: hops}`` the hop count. Equal-cost
ties go to the lowest-numbered next node, so routing is deterministic. Only
(src, dst) pairs that carry traffic get a path. Flow keys: ``rate_bps``, ``pkt_size_bits`` or
``sizes_bits`` + ``size_probs`` (at most 5), ``time_dist`` (POISSON, CBR,
ONOFF, ...), ``on_s``/``off_s`` (ON-OFF), ``tos`` (0..2).

Validation runs over the whole document before any routing: the file must be
UTF-8 YAML without duplicate keys; every key has a type (``tos`` is an
integer, not ``true``; ``bidirectional`` a boolean) and every number a
physically meaningful range (:data:`RANGES`: capacities 1 .. 1e15 bits per
time unit, rates and matrix entries 0 .. 1e15, propagation 0 .. 100 time
units, packet sizes 8 .. 1e6 bits, buffers >= 1 packet, WFQ/DRR weights and
ON/OFF times > 0, latitude -90..90, longitude -180..180; NaN and infinity
never pass). ``size_probs`` and class shares must sum to 1 within
:data:`PROB_TOLERANCE`; a traffic matrix must be N x N with a zero diagonal
and no negative entry (nothing is dropped silently); ``time_unit`` is one of
:data:`TIME_UNITS`.

Errors name the file, the element and the rule (``nsfnet.yaml: links[3]:
unknown node 'Foo'``, ``net.yaml: links[0].capacity_bps: 1e-300 is outside the
accepted range [1, 1e+15] (bits per time unit)``) and raise
:class:`ScenarioFileError` (a :class:`ScenarioError`).

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

import math
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import yaml

from twinwatch.twin.doc_limits import too_many_values
from twinwatch.twin.routing import RoutingError, compute_routing, default_metric
from twinwatch.twin.scenario import MAX_QUEUES, MAX_SIZES, Flow, Policy, Scenario, ScenarioError, TimeDist
from twinwatch.twin.yaml_safe import PlainTagMemo, repeated_key

__all__ = [
    "MAX_NODES",
    "MAX_VALUES",
    "RANGES",
    "TIME_UNITS",
    "ScenarioFileError",
    "dump_scenario_yaml",
    "load_scenario_yaml",
    "scenario_from_dict",
]

_BASE_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _StrictLoader(PlainTagMemo, _BASE_LOADER):  # type: ignore[misc,valid-type]
    """PyYAML's safe loader (C-accelerated when available) that refuses duplicate mapping keys, with the
    plain-scalar tags memoised (:class:`~twinwatch.twin.yaml_safe.PlainTagMemo`)."""

    _plain_tags: ClassVar[dict[str, str]] = {}

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        if isinstance(node, yaml.MappingNode) and (twice := repeated_key(self, node)) is not None:
            key, first, again = twice
            raise yaml.constructor.ConstructorError(
                "while constructing a mapping", node.start_mark,
                f"found duplicate key {key!r} (first at line {first.start_mark.line + 1})", again.start_mark)
        return super().construct_mapping(node, deep=deep)


_LOADER = _StrictLoader

_TOP_KEYS = {"version", "name", "time_unit", "defaults", "nodes", "links", "routing", "traffic", "meta"}
_NODE_KEYS = {"name", "policy", "weights", "buffer_pkts", "buffer_bits", "lat", "lon"}
_LINK_KEYS = {"src", "dst", "capacity_bps", "prop_delay_s", "bidirectional"}
_FLOW_KEYS = {"src", "dst", "rate_bps", "pkt_size_bits", "sizes_bits", "size_probs", "time_dist", "on_s", "off_s",
              "tos"}
_CLASS_KEYS = (_FLOW_KEYS - {"src", "dst", "rate_bps"}) | {"share"}

TIME_UNITS = ("s", "tu")
"""Accepted ``time_unit`` values: seconds, or a GNNet dataset's abstract time unit."""

MAX_NODES = 10_000
"""Most nodes a scenario file may declare."""

MAX_VALUES = 4_000_000
"""Most YAML values (scalars, lists and mappings, counted after alias expansion) a scenario file may hold."""

PROB_TOLERANCE = 1e-4
"""``size_probs`` and class ``share`` values must sum to 1 within this; they are then renormalised exactly."""

RANGES: dict[str, tuple[float, float, bool, str]] = {
    # key: (low, high, low is exclusive, unit); the high bound is inclusive
    "capacity_bps": (1.0, 1e15, False, "bits per time unit"),
    "prop_delay_s": (0.0, 100.0, False, "time units"),
    "rate_bps": (0.0, 1e15, False, "bits per time unit"),
    "pkt_size_bits": (8.0, 1e6, False, "bits"),
    "sizes_bits": (8.0, 1e6, False, "bits"),
    "buffer_pkts": (1.0, 1e9, False, "packets"),
    "buffer_bits": (8.0, 1e15, False, "bits"),
    "weights": (0.0, 1e9, True, "relative weight"),
    "on_s": (0.0, 1e6, True, "time units"),
    "off_s": (0.0, 1e6, True, "time units"),
    "size_probs": (0.0, 1.0, False, "probability"),
    "share": (0.0, 1.0, False, "fraction"),
    "matrix_bps": (0.0, 1e15, False, "bits per time unit"),
    "lat": (-90.0, 90.0, False, "degrees"),
    "lon": (-180.0, 180.0, False, "degrees"),
}
"""Physically meaningful range of every numeric key: ``(low, high, low_exclusive, unit)``.

A value outside its range (or NaN / infinite) is refused with a
:class:`ScenarioFileError` naming the file, the element and the range. The
bounds are generous on purpose (1 bit/s .. 1 Pb/s, 1 byte .. 125 kB packets,
up to 100 s of propagation); they exist to stop typos such as ``1e-300`` or
``1e300`` from reaching the models as NaN or infinity.
"""


class ScenarioFileError(ScenarioError):
    """A scenario file is malformed; the message names the file, the element and the rule."""


def load_scenario_yaml(path: str | os.PathLike[str]) -> Scenario:
    """Read and validate a scenario YAML file (format in the module docstring).

    Raises
    ------
    ScenarioFileError
        The file cannot be read, is not UTF-8, is not YAML (duplicate keys
        included), or breaks a rule of the format; the message names the file,
        the element and the rule.
    """
    p = Path(path)
    try:
        raw = p.read_bytes()
    except OSError as exc:
        raise ScenarioFileError(f"{p}: cannot read scenario file ({exc.strerror or exc})") from exc
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ScenarioFileError(
            f"{p}: not a UTF-8 text file (byte {exc.start}: {raw[exc.start:exc.start + 1]!r}); "
            "save the scenario as UTF-8 YAML") from None
    try:
        doc = yaml.load(text, Loader=_LOADER)
    except yaml.YAMLError as exc:
        raise ScenarioFileError(f"{p}: not valid YAML: {' '.join(str(exc).split())}") from None
    except RecursionError:
        raise ScenarioFileError(f"{p}: not valid YAML: nested too deeply") from None
    sc = scenario_from_dict(doc, source=str(p))
    if not sc.name:
        sc.name = p.stem
    return sc


def _err(source: str, where: str, msg: str) -> ScenarioFileError:
    return ScenarioFileError(f"{source}: {where}: {msg}" if where else f"{source}: {msg}")


def _check_size(doc: object, source: str) -> None:
    """Refuse documents with more than :data:`MAX_VALUES` values after alias expansion (``*ref`` bombs)."""
    if too_many_values(doc, MAX_VALUES):
        raise _err(source, "", f"more than {MAX_VALUES:,} values (after expanding YAML aliases); "
                               "a scenario file this large is refused")


def _check_keys(d: object, allowed: set[str], source: str, where: str) -> Mapping[str, Any]:
    if not isinstance(d, Mapping):
        raise _err(source, where, f"expected a mapping, got {type(d).__name__}")
    extra = sorted(map(str, set(d) - allowed))
    if extra:
        raise _err(source, where, f"unknown key(s) {extra}; allowed: {sorted(allowed)}")
    return d


def _list(v: object, source: str, where: str) -> list[Any]:
    if v is None:
        return []
    if not isinstance(v, list):
        raise _err(source, where, f"expected a list, got {type(v).__name__} {_short(v)}")
    return v


def _short(v: object) -> str:
    text = repr(v)
    return text if len(text) <= 60 else text[:57] + "..."


def _num(v: object, source: str, where: str, key: str | None = None) -> float:
    """``v`` as a float; with ``key``, also inside ``RANGES[key]`` (finite)."""
    if isinstance(v, bool) or not isinstance(v, (int, float, str)):
        raise _err(source, where, f"expected a number, got {_short(v)}")
    try:
        x = float(v)
    except (TypeError, ValueError, OverflowError):
        raise _err(source, where, f"expected a number, got {_short(v)}") from None
    if key is not None:
        lo, hi, open_lo, unit = RANGES[key]
        if not (math.isfinite(x) and (x > lo if open_lo else x >= lo) and x <= hi):
            raise _err(source, where, f"{x!r} is outside the accepted range {'(' if open_lo else '['}{lo:g}, "
                                      f"{hi:g}] ({unit})")
    return x


def _int(v: object, source: str, where: str, lo: int, hi: int) -> int:
    if isinstance(v, bool) or not isinstance(v, int) or not lo <= v <= hi:
        raise _err(source, where, f"expected {lo}..{hi} (an integer), got {_short(v)}")
    return v


def _per_queue(v: object, source: str, where: str, key: str) -> list[float]:
    if isinstance(v, list):
        vals = [_num(x, source, f"{where}[{k}]", key) for k, x in enumerate(v)]
    else:
        vals = [_num(v, source, where, key)] * MAX_QUEUES
    if len(vals) > MAX_QUEUES:
        raise _err(source, where, f"at most {MAX_QUEUES} values (one per ToS queue), got {len(vals)}")
    if key == "buffer_pkts" and any(x != int(x) for x in vals):
        raise _err(source, where, f"buffer sizes in packets must be whole numbers, got {vals}")
    return vals + [float("nan")] * (MAX_QUEUES - len(vals))


def _enum(cls: type, v: object, source: str, where: str) -> Any:
    if isinstance(v, int) and not isinstance(v, bool):
        try:
            return cls(v)
        except ValueError:
            pass
    elif isinstance(v, str) and v.upper() in cls.__members__:
        return cls[v.upper()]
    raise _err(source, where, f"{_short(v)} is not one of {list(cls.__members__)}")


def _version(doc: Mapping[str, Any], source: str) -> None:
    v = doc.get("version", 1)
    if isinstance(v, bool) or not isinstance(v, (int, str)) or str(v).strip() != "1":
        raise _err(source, "version", f"unsupported version {_short(v)}; this reader knows version 1")


def scenario_from_dict(doc: object, *, source: str = "<scenario>") -> Scenario:
    """Validate the parsed YAML document ``doc`` and build its :class:`Scenario`.

    Every key is checked (type, allowed values, :data:`RANGES`) before any
    routing runs.

    Raises
    ------
    ScenarioFileError
        The message names ``source``, the element (``links[3].capacity_bps``)
        and the rule it breaks.
    """
    if doc is None:
        raise _err(source, "", "the file is empty")
    _check_size(doc, source)
    doc = _check_keys(doc, _TOP_KEYS, source, "top level")
    _version(doc, source)
    time_unit = doc.get("time_unit", "s")
    if time_unit not in TIME_UNITS:
        raise _err(source, "time_unit", f"{_short(time_unit)} is not one of {list(TIME_UNITS)}")
    name = doc.get("name", "")
    if not isinstance(name, (str, int)) or isinstance(name, bool):
        raise _err(source, "name", f"expected a string, got {_short(name)}")
    meta_raw = doc.get("meta") or {}
    if not isinstance(meta_raw, Mapping):
        raise _err(source, "meta", f"expected a mapping, got {type(meta_raw).__name__}")
    defaults = _check_keys(doc.get("defaults") or {}, _NODE_KEYS - {"name", "lat", "lon"}, source, "defaults")
    nodes_raw = doc.get("nodes")
    if isinstance(nodes_raw, int) and not isinstance(nodes_raw, bool):
        nodes_raw = [{} for _ in range(_int(nodes_raw, source, "nodes", 1, MAX_NODES))]
    if not isinstance(nodes_raw, list) or not nodes_raw:
        raise _err(source, "nodes", "expected a non-empty list of nodes (or a node count)")
    if len(nodes_raw) > MAX_NODES:
        raise _err(source, "nodes", f"at most {MAX_NODES} nodes, got {len(nodes_raw)}")
    n = len(nodes_raw)
    names: list[str] = []
    policy, weights, qpkts, bbits = [], [], [], []
    lat, lon = [float("nan")] * n, [float("nan")] * n
    for i, nd in enumerate(nodes_raw):
        where = f"nodes[{i}]"
        nd = _check_keys(nd or {}, _NODE_KEYS, source, where)
        merged = {**defaults, **nd}
        nm = nd.get("name", i)
        if not isinstance(nm, (str, int)) or isinstance(nm, bool):
            raise _err(source, f"{where}.name", f"expected a string, got {_short(nm)}")
        names.append(str(nm))
        policy.append(_enum(Policy, merged.get("policy", "FIFO"), source, f"{where}.policy"))
        weights.append(_per_queue(merged["weights"], source, f"{where}.weights", "weights") if "weights" in merged
                       else [float("nan")] * MAX_QUEUES)
        if "buffer_pkts" in merged and "buffer_bits" in nd:
            merged.pop("buffer_pkts")
        if "buffer_bits" in merged and "buffer_pkts" in nd:
            merged.pop("buffer_bits")
        qpkts.append(_per_queue(merged["buffer_pkts"], source, f"{where}.buffer_pkts", "buffer_pkts")
                     if "buffer_pkts" in merged else [float("nan")] * MAX_QUEUES)
        bbits.append(_num(merged["buffer_bits"], source, f"{where}.buffer_bits", "buffer_bits")
                     if "buffer_bits" in merged else float("nan"))
        for key, col in (("lat", lat), ("lon", lon)):
            if key in nd:
                col[i] = _num(nd[key], source, f"{where}.{key}", key)
    if len(set(names)) != n:
        dup = next(x for x in names if names.count(x) > 1)
        raise _err(source, "nodes", f"node name {dup!r} is used twice")
    ids = {name: i for i, name in enumerate(names)}

    def node(v: object, where: str) -> int:
        if isinstance(v, str) and v in ids:
            return ids[v]
        if isinstance(v, int) and not isinstance(v, bool) and 0 <= v < n:
            return v
        raise _err(source, where, f"unknown node {_short(v)}; nodes are {names[:8]}{'...' if n > 8 else ''} "
                                  f"or 0..{n - 1}")

    links: list[tuple[int, int, float, float]] = []
    for i, lk in enumerate(_list(doc.get("links"), source, "links")):
        where = f"links[{i}]"
        lk = _check_keys(lk, _LINK_KEYS, source, where)
        for key in ("src", "dst", "capacity_bps"):
            if key not in lk:
                raise _err(source, where, f"missing {key!r}")
        s, d = node(lk["src"], f"{where}.src"), node(lk["dst"], f"{where}.dst")
        if s == d:
            raise _err(source, where, f"src and dst are both node {names[s]!r}; a link joins two nodes")
        cap = _num(lk["capacity_bps"], source, f"{where}.capacity_bps", "capacity_bps")
        prop = _num(lk.get("prop_delay_s", 0.0), source, f"{where}.prop_delay_s", "prop_delay_s")
        bidir = lk.get("bidirectional", False)
        if not isinstance(bidir, bool):
            raise _err(source, f"{where}.bidirectional", f"expected true or false, got {_short(bidir)}")
        links.append((s, d, cap, prop))
        if bidir:
            links.append((d, s, cap, prop))
    if not links:
        raise _err(source, "links", "expected a non-empty list of links")

    flows = _flows(doc.get("traffic"), n, node, source)
    pairs = sorted({(f.src, f.dst) for f in flows})
    routing = doc.get("routing", "shortest_path")
    _check_routing(routing, node, source)
    routes = _routes(routing, pairs, n, links, node, source)
    meta = dict(meta_raw)
    meta["node_names"] = names
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
            name=str(name),
            time_unit=str(time_unit),
            meta=meta,
        )
    except ScenarioError as exc:
        raise ScenarioFileError(f"{source}: {exc}") from exc


def _check_routing(routing: object, node: Any, source: str) -> None:
    """Check the ``routing`` element's shape and explicit routes before any routing runs."""
    if isinstance(routing, str):
        return  # the value itself is checked by _routes
    if not isinstance(routing, Mapping):
        raise _err(source, "routing", f"expected 'shortest_path', {{shortest_path: METRIC}} or {{routes: [...]}}, "
                                      f"got {_short(routing)}")
    if "routes" not in routing:
        _check_keys(routing, {"shortest_path"}, source, "routing")
        if not isinstance(routing.get("shortest_path"), str):
            raise _err(source, "routing.shortest_path",
                       f"metric must be a name ({', '.join(map(repr, _METRICS))}), got "
                       f"{_short(routing.get('shortest_path'))}")
        return
    _check_keys(routing, {"routes"}, source, "routing")
    seen: dict[tuple[int, int], int] = {}
    for i, r in enumerate(_list(routing["routes"], source, "routing.routes")):
        where = f"routing.routes[{i}]"
        r = _check_keys(r, {"src", "dst", "path"}, source, where)
        if "path" not in r:
            raise _err(source, where, "missing 'path'")
        path_raw = r["path"]
        if not isinstance(path_raw, list) or len(path_raw) < 2:
            raise _err(source, f"{where}.path", f"expected a list of at least 2 nodes, got {_short(path_raw)}")
        path = [node(v, f"{where}.path[{k}]") for k, v in enumerate(path_raw)]
        s = node(r.get("src", path_raw[0]), f"{where}.src")
        d = node(r.get("dst", path_raw[-1]), f"{where}.dst")
        if path[0] != s or path[-1] != d:
            raise _err(source, f"{where}.path", f"must start at src {s} and end at dst {d}, got {path_raw}")
        if len(set(path)) != len(path):
            raise _err(source, f"{where}.path", f"visits a node twice (a routing loop): {path_raw}")
        if (s, d) in seen:
            raise _err(source, where, f"a second route for {s}->{d} (the first is routes[{seen[(s, d)]}])")
        seen[(s, d)] = i


def _flow_kwargs(d: Mapping[str, Any], source: str, where: str) -> dict[str, Any]:
    kw: dict[str, Any] = {}
    if "pkt_size_bits" in d:
        kw["pkt_size_bits"] = _num(d["pkt_size_bits"], source, f"{where}.pkt_size_bits", "pkt_size_bits")
    if "sizes_bits" in d or "size_probs" in d:
        sizes = [_num(x, source, f"{where}.sizes_bits[{k}]", "sizes_bits")
                 for k, x in enumerate(_list(d.get("sizes_bits"), source, f"{where}.sizes_bits"))]
        probs = [_num(x, source, f"{where}.size_probs[{k}]", "size_probs")
                 for k, x in enumerate(_list(d.get("size_probs"), source, f"{where}.size_probs"))]
        if not sizes or len(sizes) != len(probs) or len(sizes) > MAX_SIZES:
            raise _err(source, where, f"sizes_bits and size_probs need the same length, 1..{MAX_SIZES}; got "
                                      f"{len(sizes)} and {len(probs)}")
        total = math.fsum(probs)
        if abs(total - 1.0) > PROB_TOLERANCE:
            raise _err(source, f"{where}.size_probs", f"must sum to 1 (within {PROB_TOLERANCE:g}), got {total!r}")
        kw["sizes_bits"], kw["size_probs"] = tuple(sizes), tuple(p / total for p in probs)
    if "time_dist" in d:
        kw["time_dist"] = _enum(TimeDist, d["time_dist"], source, f"{where}.time_dist")
    for key in ("on_s", "off_s"):
        if key in d:
            kw[key] = _num(d[key], source, f"{where}.{key}", key)
    if "tos" in d:
        kw["tos"] = _int(d["tos"], source, f"{where}.tos", 0, MAX_QUEUES - 1)
    return kw


def _flows(traffic: object, n: int, node: Any, source: str) -> list[Flow]:
    t = _check_keys(traffic or {}, {"flows", "matrix_bps", "classes"}, source, "traffic")
    flows: list[Flow] = []
    for i, fd in enumerate(_list(t.get("flows"), source, "traffic.flows")):
        where = f"traffic.flows[{i}]"
        fd = _check_keys(fd, _FLOW_KEYS, source, where)
        for key in ("src", "dst", "rate_bps"):
            if key not in fd:
                raise _err(source, where, f"missing {key!r}")
        s, d = node(fd["src"], f"{where}.src"), node(fd["dst"], f"{where}.dst")
        if s == d:
            raise _err(source, where, f"src and dst are both node {s}")
        flows.append(Flow(src=s, dst=d, rate_bps=_num(fd["rate_bps"], source, f"{where}.rate_bps", "rate_bps"),
                          **_flow_kwargs(fd, source, where)))
    if "matrix_bps" in t:
        flows.extend(_matrix_flows(t, n, source))
    elif "classes" in t:
        raise _err(source, "traffic.classes", "classes split traffic.matrix_bps; give the matrix too")
    if not flows:
        raise _err(source, "traffic", "no flows: give traffic.flows or traffic.matrix_bps")
    return flows


def _matrix_flows(t: Mapping[str, Any], n: int, source: str) -> list[Flow]:
    """Flows of ``traffic.matrix_bps`` (N x N, src rows) split by ``traffic.classes``; every entry is checked."""
    where = "traffic.matrix_bps"
    rows = _list(t["matrix_bps"], source, where)
    if len(rows) != n or any(not isinstance(r, list) or len(r) != n for r in rows):
        raise _err(source, where, f"expected a {n} x {n} matrix (a list of {n} rows of {n} numbers)")
    mat = np.array([[_num(x, source, f"{where}[{s}][{d}]") for d, x in enumerate(r)] for s, r in enumerate(rows)],
                   dtype=np.float64).reshape(n, n)
    lo, hi, _, unit = RANGES["matrix_bps"]
    bad = np.argwhere(~((mat >= lo) & (mat <= hi)))
    if bad.size:
        s, d = (int(x) for x in bad[0])
        raise _err(source, f"{where}[{s}][{d}]", f"{float(mat[s, d])!r} is outside the accepted range [{lo:g}, "
                                                 f"{hi:g}] ({unit}); {len(bad)} entries are")
    diag = np.flatnonzero(np.diagonal(mat))
    if diag.size:
        k = int(diag[0])
        raise _err(source, f"{where}[{k}][{k}]", f"traffic from a node to itself must be 0, got {float(mat[k, k])!r}"
                                                 f" ({diag.size} diagonal entries are not)")
    classes = []
    for k, c in enumerate(_list(t.get("classes"), source, "traffic.classes") or [{"share": 1.0}]):
        cw = f"traffic.classes[{k}]"
        c = _check_keys(c, _CLASS_KEYS, source, cw)
        classes.append((_num(c.get("share", 1.0), source, f"{cw}.share", "share"), _flow_kwargs(c, source, cw)))
    total = math.fsum(s for s, _ in classes)
    if abs(total - 1.0) > PROB_TOLERANCE:
        raise _err(source, "traffic.classes", f"shares must sum to 1 (within {PROB_TOLERANCE:g}), got {total!r}")
    src, dst = np.nonzero(mat > 0)
    return [Flow(src=s, dst=d, rate_bps=float(mat[s, d]) * share / total, **kw)
            for s, d in zip(src.tolist(), dst.tolist(), strict=True) for share, kw in classes if share > 0]


_METRICS = ("ospf", "prop_delay_s", "hops")
"""``shortest_path`` metrics: OSPF inverse capacity (the project default, see
:func:`twinwatch.twin.routing.default_metric`), propagation delay (every link's must be
> 0), hop count."""


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
    metric = "ospf"
    if isinstance(routing, Mapping):
        _check_keys(routing, {"shortest_path"}, source, "routing")
        metric = str(routing["shortest_path"])
    elif routing != "shortest_path":
        raise _err(source, "routing", f"expected 'shortest_path', {{shortest_path: METRIC}} or {{routes: [...]}}, "
                                      f"got {routing!r}")
    if metric not in _METRICS:
        raise _err(source, "routing.shortest_path",
                   f"metric must be one of {', '.join(repr(m) for m in _METRICS)}, got {metric!r}")
    if not pairs:
        return {}
    arr = np.asarray(links, dtype=np.float64).reshape(-1, 4)
    lsrc, ldst = arr[:, 0].astype(np.int64), arr[:, 1].astype(np.int64)
    if metric == "ospf":
        weight = default_metric(arr[:, 2])
    elif metric == "prop_delay_s":
        weight = arr[:, 3]
    else:
        weight = np.ones(arr.shape[0])
    psrc = np.array([s for s, _ in pairs], dtype=np.int64)
    pdst = np.array([d for _, d in pairs], dtype=np.int64)
    try:
        r = compute_routing(n, lsrc, ldst, weight, pairs=(psrc, pdst), split="none")
    except RoutingError as exc:
        raise _err(source, f"routing.shortest_path ({metric})", str(exc)) from None
    if r.unreachable_src.size:
        s, d = int(r.unreachable_src[0]), int(r.unreachable_dst[0])
        raise _err(source, "routing", f"node {d} cannot be reached from node {s}")
    return {(int(r.path_src[p]), int(r.path_dst[p])): r.path_nodes(p) for p in range(r.n_paths)}


def _fmt(x: float) -> float | int:
    return int(x) if float(x).is_integer() and abs(x) < 1e15 else float(x)


def dump_scenario_yaml(sc: Scenario, path: str | os.PathLike[str] | None = None) -> str:
    """Write ``sc`` as scenario YAML (explicit routes and flows); return the text.

    Writes to ``path`` when given. Node names come from ``sc.meta["node_names"]``
    when present. A scenario with several paths for one (src, dst) pair (ECMP)
    cannot be written yet (version 1 routes are per pair): that raises
    :class:`~twin.scenario.ScenarioError` naming the pair.
    """
    multi = np.flatnonzero(sc.path_rank > 0)
    if multi.size:
        p = int(multi[0])
        raise ScenarioError(f"scenario {sc.name!r}: pair {int(sc.path_src[p])}->{int(sc.path_dst[p])} has several "
                            "paths (ECMP); the scenario YAML format holds one route per pair")
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
