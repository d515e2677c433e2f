"""What-if: what the twin expects of every demand and every link after a planned or feared change.

A baseline is the network model and a traffic matrix (a window the telemetry measured, or a matrix the
operator supplies); :class:`Change` edits describe what differs: a cable or a router down, a link's capacity or
IGP metric changed, the traffic scaled or a demand added. :func:`what_if` routes both networks as the service
does (:class:`~twin.snapshot.SnapshotBuilder`: the model's IGP metrics, ECMP), asks the same twin for both in
one batch and compares them per demand (``src → dst`` pair) and per directed link.

Link specifications name directed links as the model does: ``"A->B"`` is one direction, ``"A<->B"`` both
directions of the cable. A capacity change keeps a configured IGP metric; a link whose metric the model derives
from its capacity (no metric configured: the reference-bandwidth cost, OSPF/IS-IS auto-cost) takes the cost of
its new capacity, as its routers would. A metric change is its own edit, and wins over a capacity change.

Shapes: ``N`` nodes, ``E`` directed links, ``D`` demands (pairs with traffic in the baseline or the changed
matrix).

Examples
--------
>>> from twinwatch.twin.netmodel import model_from_dict
>>> from twinwatch.twin.models import get_model
>>> doc = {"version": 1, "name": "tri", "devices": [{"name": n} for n in "abc"],
...        "links": [{"a": {"device": x, "interface": f"{x}-{y}"}, "b": {"device": y, "interface": f"{y}-{x}"},
...                   "capacity_bps": "1G", "delay_s": 0.001} for x, y in ("ab", "bc", "ca")]}
>>> model = model_from_dict(doc, source="tri")
>>> tm = np.zeros((3, 3)); tm[0, 1] = 4e8; tm[0, 2] = 3e8                 # a -> b 400 Mb/s, a -> c 300 Mb/s
>>> res = what_if(model, matrix_from_array(tm), [parse_change("fail", "a<->b")], get_model("qt"))
>>> res.demands.hops_before.tolist(), res.demands.hops_after.tolist()     # a -> b now goes round through c
([1, 1], [2, 1])
>>> round(float(res.links.utilization_after[model.link_index["a->c"]]), 2)  # both demands on a -> c
0.7
>>> [str(c) for c in res.changes]
['fail a<->b']
"""

from __future__ import annotations

import copy
import difflib
import math
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from twinwatch.twin.kpis import Prediction
from twinwatch.twin.measurements import Measurements
from twinwatch.twin.netmodel import NetworkModel
from twinwatch.twin.netmodel.units import format_bps, parse_bps
from twinwatch.twin.snapshot import SnapshotBuilder, WindowSnapshot
from twinwatch.twin.traffic_matrix import TrafficMatrix
from twinwatch.twin.traffic_matrix.matrix import N_CLASSES

__all__ = [
    "CHANGE_KINDS",
    "SURVIVE",
    "Change",
    "DemandTable",
    "LinkTable",
    "WhatIf",
    "WhatIfError",
    "apply_changes",
    "cable_failures",
    "failure_set",
    "iter_what_if",
    "link_numbers",
    "links_down",
    "matrix_from_array",
    "parse_change",
    "reachable",
    "what_if",
]

SURVIVE = ("none", "cable", "router")
"""Failure sets (:func:`failure_set`) a plan survives or an N-1 question asks about: none (the intact network), any
single cable, any single router."""

CHANGE_KINDS = ("fail", "fail-node", "capacity", "metric", "scale", "demand")
"""Edits :func:`parse_change` reads: a link down (``A->B`` or ``A<->B``), a router down (every link of it),
``LINK=RATE`` a new capacity (bit/s, ``10G``), ``LINK=N`` a new IGP metric, ``F`` every demand × F (``1.3``) and
``SRC,DST=RATE`` a demand added."""


class WhatIfError(ValueError):
    """A change that does not apply to the model (an unknown link or device, a bad value); names what and why."""


@dataclass(frozen=True, slots=True)
class Change:
    """One edit: ``kind`` (one of :data:`CHANGE_KINDS`), its ``target`` (a link spec, a device or
    ``"SRC,DST"``; empty for ``scale``) and its ``value`` (bit/s, a metric or a factor; NaN for failures)."""

    kind: str
    target: str = ""
    value: float = math.nan

    def __str__(self) -> str:
        if self.kind in ("fail", "fail-node"):
            return f"{self.kind} {self.target}"
        if self.kind == "scale":
            return f"scale ×{self.value:g}"
        if self.kind == "metric":
            return f"metric {self.target}={int(self.value)}"
        return f"{self.kind} {self.target}={format_bps(self.value)}"


def parse_change(kind: str, text: str) -> Change:
    """The :class:`Change` of kind ``kind`` written ``text`` on a command line; :class:`WhatIfError` otherwise.

    >>> parse_change("capacity", "a<->b=2.5G"), parse_change("scale", "1.3").value
    (Change(kind='capacity', target='a<->b', value=2500000000.0), 1.3)
    """
    if kind not in CHANGE_KINDS:
        raise WhatIfError(f"unknown change {kind!r}; expected one of {', '.join(CHANGE_KINDS)}")
    text = text.strip()
    if kind in ("fail", "fail-node"):
        if not text:
            raise WhatIfError(f"{kind}: name a {'link' if kind == 'fail' else 'device'}")
        return Change(kind, text)
    if kind == "scale":
        try:
            factor = float(text)
        except ValueError:
            factor = math.nan
        if not (math.isfinite(factor) and factor >= 0):
            raise WhatIfError(f"scale {text!r}: expected a factor >= 0 (1.3 = 30 % more traffic)")
        return Change(kind, "", factor)
    target, sep, value = text.rpartition("=")
    if not sep or not target.strip():
        example = {"capacity": "A<->B=10G", "metric": "A->B=100", "demand": "SRC,DST=1G"}[kind]
        raise WhatIfError(f"{kind} {text!r}: expected TARGET=VALUE, e.g. {example}")
    try:
        number = float(int(value)) if kind == "metric" else parse_bps(value.strip())
    except ValueError as exc:
        raise WhatIfError(f"{kind} {text!r}: {exc}") from None
    if kind == "metric" and not 1 <= number <= 2**24 - 1:
        raise WhatIfError(f"metric {text!r}: an IGP metric is 1..16777215")
    if kind == "capacity" and not number > 0:
        raise WhatIfError(f"capacity {text!r}: a capacity must be > 0 (to take a link down, use fail)")
    if kind == "demand":
        src, comma, dst = target.partition(",")
        if not comma or not src.strip() or not dst.strip():
            raise WhatIfError(f"demand {text!r}: expected SRC,DST=RATE, e.g. CHIN,ATLA=2G")
    return Change(kind, target.strip(), number)


def _unknown(what: str, name: str, known: Sequence[str]) -> WhatIfError:
    close = difflib.get_close_matches(name, known, n=3)
    hint = f"; did you mean {', '.join(close)}?" if close else ""
    return WhatIfError(f"the model has no {what} {name!r}{hint}")


def _node(model: NetworkModel, name: str) -> int:
    name = name.strip()
    if name not in model.node_index:
        raise _unknown("device", name, model.node_names)
    return model.node_index[name]


def link_numbers(model: NetworkModel, spec: str) -> np.ndarray:
    """``(k,)`` int64 directed links of ``spec``: ``"A->B"`` one direction, ``"A<->B"`` every link between A
    and B in either direction; :class:`WhatIfError` naming close matches when there is none.

    >>> from twinwatch.twin.netmodel import model_from_dict
    >>> m = model_from_dict({"version": 1, "name": "x", "devices": [{"name": "a"}, {"name": "b"}],
    ...     "links": [{"a": {"device": "a", "interface": "e0"}, "b": {"device": "b", "interface": "e0"},
    ...                "capacity_bps": "1G"}]}, source="x")
    >>> link_numbers(m, "a<->b").tolist(), link_numbers(m, "b->a").tolist()
    ([0, 1], [1])
    """
    spec = spec.strip()
    if "<->" in spec:
        a, _, b = spec.partition("<->")
        u, v = _node(model, a), _node(model, b)
        hit = np.flatnonzero(((model.link_src == u) & (model.link_dst == v))
                             | ((model.link_src == v) & (model.link_dst == u)))
        if not hit.size:
            raise WhatIfError(f"no link between {a.strip()} and {b.strip()} in the model")
        return hit.astype(np.int64)
    if "->" in spec:
        a, _, b = spec.partition("->")
        lid = f"{a.strip()}->{b.strip()}"
        if lid not in model.link_index:
            raise _unknown("link", lid, model.link_ids)
        return np.array([model.link_index[lid]], dtype=np.int64)
    raise WhatIfError(f"link {spec!r}: write A->B for one direction or A<->B for both")


def matrix_from_array(rate_bps: np.ndarray, *, tos: int = 0, start: float = 0.0, end: float = 1.0) -> TrafficMatrix:
    """A :class:`TrafficMatrix` holding the ``(N, N)`` rates (bit/s) in class ``tos`` (the diagonal is dropped)."""
    rate = np.asarray(rate_bps, dtype=np.float64)
    full = np.zeros((N_CLASSES, *rate.shape))
    full[tos] = rate
    return TrafficMatrix.build(full, start=start, end=end)


def cable_failures(model: NetworkModel) -> list[Change]:
    """One ``fail A<->B`` per pair of devices the model links (a cable, or parallel cables, both directions), in
    the model's link order: the N-1 list of link failures.

    >>> from twinwatch.twin.netmodel import model_from_dict
    >>> m = model_from_dict({"version": 1, "name": "x", "devices": [{"name": n} for n in "abc"],
    ...     "links": [{"a": {"device": x, "interface": y}, "b": {"device": y, "interface": x}, "capacity_bps": "1G"}
    ...               for x, y in ("ab", "bc")]}, source="x")
    >>> [str(c) for c in cable_failures(m)]
    ['fail a<->b', 'fail b<->c']
    """
    seen: dict[frozenset[int], Change] = {}
    for s, d in zip(model.link_src.tolist(), model.link_dst.tolist(), strict=True):
        key = frozenset((s, d))
        if key not in seen:
            seen[key] = Change("fail", f"{model.node_names[s]}<->{model.node_names[d]}")
    return list(seen.values())


def failure_set(model: NetworkModel, survive: str) -> list[Change]:
    """The single failures of ``survive`` (:data:`SURVIVE`), in the model's order.

    >>> from twinwatch.twin.netmodel import model_from_dict
    >>> m = model_from_dict({"version": 1, "name": "x", "devices": [{"name": n} for n in "ab"],
    ...     "links": [{"a": {"device": "a", "interface": "e0"}, "b": {"device": "b", "interface": "e0"},
    ...                "capacity_bps": "1G"}]}, source="x")
    >>> [str(c) for c in failure_set(m, "router")], failure_set(m, "none")
    (['fail-node a', 'fail-node b'], [])
    """
    if survive not in SURVIVE:
        raise ValueError(f"survive must be one of {', '.join(SURVIVE)}, got {survive!r}")
    if survive == "cable":
        return cable_failures(model)
    if survive == "router":
        return [Change("fail-node", n) for n in model.node_names]
    return []


def links_down(model: NetworkModel, change: Change) -> np.ndarray:
    """``(k,)`` int64 directed links a ``fail`` (the link spec's) or ``fail-node`` (every link to and from the
    router) change takes down; empty for the other kinds.

    >>> from twinwatch.twin.netmodel import model_from_dict
    >>> m = model_from_dict({"version": 1, "name": "x", "devices": [{"name": n} for n in "abc"],
    ...     "links": [{"a": {"device": x, "interface": y}, "b": {"device": y, "interface": x}, "capacity_bps": "1G"}
    ...               for x, y in ("ab", "bc")]}, source="x")
    >>> links_down(m, Change("fail-node", "b")).tolist(), links_down(m, Change("fail", "a->b")).tolist()
    ([0, 1, 2, 3], [0])
    """
    if change.kind == "fail":
        return link_numbers(model, change.target)
    if change.kind == "fail-node":
        n = _node(model, change.target)
        return np.flatnonzero((model.link_src == n) | (model.link_dst == n)).astype(np.int64)
    return np.zeros(0, dtype=np.int64)


def apply_changes(model: NetworkModel, traffic: TrafficMatrix, changes: Sequence[Change]
                  ) -> tuple[NetworkModel, TrafficMatrix, tuple[str, ...]]:
    """The changed model (capacities and metrics), matrix and the links the changes take down.

    The model returned is a shallow copy with new ``link_capacity_bps``, ``link_metric`` and
    ``link_buffer_bits`` arrays (a buffer set in milliseconds of line rate follows the new capacity, an auto-cost
    metric the new capacity unless a ``metric`` edit sets it); the original is untouched. Changes apply in order
    (``scale`` scales what the earlier ``demand`` edits added).
    """
    cap = model.link_capacity_bps.copy()
    metric = model.link_metric.copy()
    pinned = ~model.link_metric_auto  # metrics a capacity change leaves alone: configured, or set by an edit
    down: set[int] = set()
    rate = np.array(traffic.rate_bps, dtype=np.float64)
    best_effort = int(model.dscp_class[0])
    for ch in changes:
        if ch.kind in ("fail", "fail-node"):
            down.update(links_down(model, ch).tolist())
        elif ch.kind == "capacity":
            links = link_numbers(model, ch.target)
            cap[links] = ch.value
            follow = links[~pinned[links]]
            metric[follow] = model.auto_metric(cap[follow])
        elif ch.kind == "metric":
            links = link_numbers(model, ch.target)
            metric[links] = int(ch.value)
            pinned[links] = True
        elif ch.kind == "scale":
            rate *= ch.value
        elif ch.kind == "demand":
            src, _, dst = ch.target.partition(",")
            s, d = _node(model, src), _node(model, dst)
            if s == d:
                raise WhatIfError(f"demand {ch.target}: source and destination are the same device")
            rate[best_effort, s, d] += ch.value
        else:
            raise WhatIfError(f"unknown change {ch.kind!r}")
    changed = copy.copy(model)
    changed.link_capacity_bps = cap
    changed.link_metric = metric
    changed.link_buffer_bits = np.array([model.profile(p).buffer_bits(c)
                                         for p, c in zip(model.link_queue_profile, cap, strict=True)])
    scale = np.divide(rate, traffic.rate_bps, out=np.ones_like(rate), where=traffic.rate_bps > 0)
    matrix = TrafficMatrix.build(rate, std_bps=np.asarray(traffic.std_bps) * scale, source=traffic.source,
                                 start=traffic.start, end=traffic.end)
    return changed, matrix, tuple(model.link_ids[i] for i in sorted(down))


@dataclass(frozen=True)
class DemandTable:
    """Per demand (a ``src → dst`` pair with traffic before or after), ``(D,)`` arrays.

    ``rate_before_bps`` / ``rate_after_bps`` the offered traffic (bit/s, every class); ``routed_*`` whether the
    pair has a route; ``hops_*`` the hops of its busiest path (0: no route); ``prop_*_s`` the propagation delay
    of its routes (what routing alone changes); ``delay_*_s``, ``jitter_*_s`` (the standard deviation of the
    packets' delay) and ``loss_*`` (0..1) are the twin's expectation. Per-route values are weighted over the
    pair's flows by their rates (NaN without a route).
    """

    src: np.ndarray
    dst: np.ndarray
    rate_before_bps: np.ndarray
    rate_after_bps: np.ndarray
    routed_before: np.ndarray
    routed_after: np.ndarray
    hops_before: np.ndarray
    hops_after: np.ndarray
    prop_before_s: np.ndarray
    prop_after_s: np.ndarray
    delay_before_s: np.ndarray
    delay_after_s: np.ndarray
    jitter_before_s: np.ndarray
    jitter_after_s: np.ndarray
    loss_before: np.ndarray
    loss_after: np.ndarray

    def __len__(self) -> int:
        return int(self.src.shape[0])


@dataclass(frozen=True)
class LinkTable:
    """Per directed link, ``(E,)`` arrays: capacity (bit/s), offered load (bit/s, the routed demands and probes),
    utilisation (offered load / capacity, 0 on a link down) and the twin's expected loss (0..1), before and
    after; ``down_before`` / ``down_after`` bool."""

    capacity_before_bps: np.ndarray
    capacity_after_bps: np.ndarray
    load_before_bps: np.ndarray
    load_after_bps: np.ndarray
    utilization_before: np.ndarray
    utilization_after: np.ndarray
    loss_before: np.ndarray
    loss_after: np.ndarray
    down_before: np.ndarray
    down_after: np.ndarray


@dataclass
class WhatIf:
    """The answer: the changes, both snapshots and predictions, and the per-demand and per-link comparison."""

    model: NetworkModel
    changes: list[Change]
    before: WindowSnapshot
    after: WindowSnapshot
    prediction_before: Prediction
    prediction_after: Prediction
    demands: DemandTable
    links: LinkTable
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def unrouted_after_bps(self) -> float:
        """Traffic (bit/s) that has a route before the changes and none after."""
        d = self.demands
        return float(d.rate_after_bps[d.routed_before & ~d.routed_after].sum())


def _per_demand(snap: WindowSnapshot, pred: Prediction, keys: np.ndarray, n: int
                ) -> tuple[np.ndarray, ...]:
    """Hops, propagation, delay, jitter (std) and loss per key of ``keys`` (sorted ``src * n + dst``)."""
    sc = snap.scenario
    demand = snap.flow_probe < 0
    path = sc.flow_path[demand]
    rate = sc.flow_rate_bps[demand]
    key = sc.path_src[path] * n + sc.path_dst[path]
    d = keys.size
    at = np.minimum(np.searchsorted(keys, key), max(d - 1, 0))
    known = keys[at] == key if d else np.zeros(key.size, dtype=bool)
    path, rate, at = path[known], rate[known], at[known]

    def mean(values: np.ndarray) -> np.ndarray:
        v = np.asarray(values, dtype=np.float64)[path]
        ok = np.isfinite(v)
        num = np.bincount(at[ok], weights=(v * rate)[ok], minlength=d)
        den = np.bincount(at[ok], weights=rate[ok], minlength=d)
        eq = np.bincount(at[ok], weights=v[ok], minlength=d) / np.maximum(np.bincount(at[ok], minlength=d), 1)
        with np.errstate(invalid="ignore", divide="ignore"):
            out = np.where(den > 0, num / den, eq)  # demands of zero rate: the paths' plain mean
        out[np.bincount(at[ok], minlength=d) == 0] = np.nan
        return out

    busiest = np.zeros(d, dtype=np.int64)
    order = np.lexsort((rate, at))  # per key, its busiest flow last
    last = np.r_[at[order][1:] != at[order][:-1], True] if order.size else np.zeros(0, dtype=bool)
    busiest[at[order][last]] = sc.path_len[path[order][last]]
    jitter = np.sqrt(np.clip(mean(pred.path_jitter_s2), 0.0, None))
    prop = np.bincount(sc.hop_path, weights=sc.link_prop_delay_s[sc.path_links], minlength=sc.n_paths)
    return busiest, mean(prop), mean(pred.path_delay_s), jitter, mean(pred.path_loss_ratio)


def reachable(model: NetworkModel, up: np.ndarray) -> np.ndarray:
    """``(N, N)`` bool: ``dst`` is reachable from ``src`` over the links ``up`` (``(E,)`` bool)."""
    from scipy.sparse import csr_matrix
    from scipy.sparse.csgraph import shortest_path

    n = model.n_nodes
    graph = csr_matrix((np.ones(int(up.sum())), (model.link_src[up], model.link_dst[up])), shape=(n, n))
    return np.isfinite(shortest_path(graph, directed=True, unweighted=True))


@dataclass(frozen=True)
class _Side:
    """One network of a what-if, before or after: its snapshot and prediction, the ``(E,)`` link arrays of
    :class:`LinkTable` (capacity, load, utilisation, loss, down) and ``(N, N)`` reachability over the links up."""

    snap: WindowSnapshot
    pred: Prediction
    links: tuple[np.ndarray, ...]
    reach: np.ndarray


def _side(model: NetworkModel, snap: WindowSnapshot, pred: Prediction) -> _Side:
    sc = snap.scenario
    down = np.zeros(model.n_links, dtype=bool)
    down[model.link_numbers(snap.links_down)] = True
    load = sc.link_load_bps()
    util = np.where(down, 0.0, load / sc.link_capacity_bps)
    links = (sc.link_capacity_bps.copy(), load, util, np.asarray(pred.link_loss_ratio, dtype=np.float64), down)
    return _Side(snap, pred, links, reachable(model, ~down))


def what_if(model: NetworkModel, traffic: TrafficMatrix, changes: Sequence[Change], twin: Any, *,
            links_down: Sequence[str] = (), builder_options: dict[str, Any] | None = None) -> WhatIf:
    """Predict the baseline (``model``, ``traffic``, ``links_down``) and the baseline with ``changes``, with the
    same ``twin`` in one batch, and compare them.

    ``builder_options`` go to both :class:`~twin.snapshot.SnapshotBuilder` (``split``, ``max_paths``, ...).
    Raises :class:`WhatIfError` for a change the model cannot take.
    """
    return next(iter_what_if(model, traffic, [changes], twin, links_down=links_down,
                             builder_options=builder_options))


def iter_what_if(model: NetworkModel, traffic: TrafficMatrix, variants: Iterable[Sequence[Change]], twin: Any, *,
                 links_down: Sequence[str] = (), builder_options: dict[str, Any] | None = None,
                 batch: int = 8) -> Iterator[WhatIf]:
    """:func:`what_if` for each list of changes of ``variants``, one :class:`WhatIf` at a time, in order.

    The baseline is routed and predicted once; the variants' networks go to the twin ``batch`` at a time (with the
    baseline in the first batch), so N-1 questions over every cable cost one prediction per cable and hold one
    batch in memory.
    """
    from twinwatch.twin.models import predict_many

    opts = {"infer_link_state": False, **(builder_options or {})}
    start, end = traffic.start, traffic.end
    before = SnapshotBuilder(model, **opts).build(start, end, Measurements.empty(), traffic=traffic,
                                                  links_down=tuple(links_down))
    base: _Side | None = None
    it = iter(variants)
    while chunk := [list(c) for _, c in zip(range(max(batch, 1)), it, strict=False)]:
        ready = []
        for changes in chunk:
            changed, matrix, taken_down = apply_changes(model, traffic, changes)
            after = SnapshotBuilder(changed, **opts).build(start, end, Measurements.empty(), traffic=matrix,
                                                           links_down=tuple(sorted({*links_down, *taken_down})))
            ready.append((changes, changed, matrix, after))
        preds = predict_many(twin, ([before.scenario] if base is None else []) + [r[3].scenario for r in ready])
        if base is None:  # the baseline's side, computed once for every variant
            base, preds = _side(model, before, preds[0]), preds[1:]
        for (changes, changed, matrix, after), pa in zip(ready, preds, strict=True):
            yield _compare(model, traffic, base, changes, matrix, _side(changed, after, pa))


def _compare(model: NetworkModel, traffic: TrafficMatrix, base: _Side, changes: list[Change],
             matrix: TrafficMatrix, after: _Side) -> WhatIf:
    n = model.n_nodes
    total = np.asarray(traffic.rate_bps).sum(axis=0) + np.asarray(matrix.rate_bps).sum(axis=0)
    src, dst = np.nonzero(total > 0)
    keys = src * n + dst  # row-major: sorted
    b = _per_demand(base.snap, base.pred, keys, n)
    a = _per_demand(after.snap, after.pred, keys, n)
    rate_b = np.asarray(traffic.rate_bps).sum(axis=0)[src, dst]
    rate_a = np.asarray(matrix.rate_bps).sum(axis=0)[src, dst]
    # a pair is routed when the links up connect it, whether or not it still sends (a demand scaled to zero)
    demands = DemandTable(src.astype(np.int64), dst.astype(np.int64), rate_b, rate_a, base.reach[src, dst],
                          after.reach[src, dst], *(x for pair in zip(b, a, strict=True) for x in pair))
    links = LinkTable(*(x for pair in zip(base.links, after.links, strict=True) for x in pair))
    return WhatIf(model, changes, base.snap, after.snap, base.pred, after.pred, demands, links)
