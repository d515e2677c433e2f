"""Which injected faults are visible beyond the twin's 90 % interval: the issue's filter for the F1 target.

A fault whose ground-truth effect stays inside the band where the twin itself
is uncertain cannot be detected at a controlled false-alarm rate by any
residual detector; the issue's F1 ≥ 0.9 target is on the others. This module
decides, per fault, from the run's **ground truth** (``truth/paths.parquet``,
``truth/links.parquet`` of ``twinwatch simulate telemetry``) and the twin's
**calibrated 90 % intervals** (the checkpoint's ``calibration`` entries,
:mod:`twinwatch.twin.conformal`), never from any detector's output:

* **baseline**: each entity's true KPI over the ``baseline_windows`` windows
  before the fault starts (the healthy network at almost the same traffic: what
  a perfect twin would predict), its median per entity;
* **effect**: the entity's true KPI over the fault's windows (median) against
  that baseline, on the twin's residual scale: ``log(y/ŷ)`` for path
  ``delay_s``; ``y − ŷ`` for path ``loss_ratio`` and link ``utilization``;
* **visible** when, for some entity, the effect leaves the twin's 90 %
  interval ``[lo, hi]`` of that KPI (pooled over load bins) — or, for
  ``utilization``, the run's own 90 % band of window-to-window change of
  link utilisation outside faults (the twin's utilisation follows the
  measured traffic matrix; its uncertainty is the traffic's, which this band
  measures).

``unmonitored_traffic`` changes no true KPI (the network carries the same
traffic; only its flow records vanish): its effect is what the twin misses,
the vanished router's originated traffic over its egress capacity
(``Σ offered_bps(src = node) / Σ capacity(node → ·)``, a lower bound of the
largest egress-link utilisation error), against the same utilisation band.

Example
-------
>>> import numpy as np
>>> ws = np.repeat(np.arange(10.0) * 10, 2)               # 10 windows, 2 paths
>>> d = np.tile([1e-3, 2e-3], 10); d[14:16] *= 1.5          # windows 7: both paths +50 %
>>> eff = path_effects(ws, np.tile([0, 1], 10), d, np.zeros(20), start=70.0, end=80.0, window_s=10.0)
>>> round(float(eff["delay_s"].max()), 3)
0.405
"""

from __future__ import annotations

import math
from collections.abc import Collection, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["REPORTED_BY", "FaultVisibility", "VisibilityError", "checkpoint_intervals", "fault_visibility",
           "healthy_pair_links", "model_fault_visibility", "path_effects", "probe_pairs", "reported_kinds",
           "twin_intervals"]

_NETWORK_FAULT_KINDS = ("capacity_degradation", "grey_loss", "link_down", "metric_change", "queue_change",
                        "traffic_surge", "unmonitored_traffic")


REPORTED_BY: dict[str, tuple[str, str, str]] = {
    "report_speed": ("capacity_degradation", "the link's capacity changed", "the ports report their speed"),
    "report_igp_metric": ("metric_change", "the link's IGP metric changed", "the routers report their IGP metrics"),
}
"""Testbed options (a run manifest's ``config``) whose telemetry reports a fault's change itself → (the fault kind,
why it is visible, why it is observable): such a fault is a measured KPI, as a link's oper-status is."""


def reported_kinds(config: Mapping[str, Any]) -> frozenset[str]:
    """The fault kinds a run's telemetry reports (:data:`REPORTED_BY`), from its manifest's ``config``.

    >>> sorted(reported_kinds({"report_speed": True, "report_igp_metric": False}))
    ['capacity_degradation']
    """
    return frozenset(kind for key, (kind, _, _) in REPORTED_BY.items() if config.get(key))


class VisibilityError(ValueError):
    """A truth file or the calibration is unusable (names the file and the column)."""


@dataclass(frozen=True)
class FaultVisibility:
    """The largest effect of one fault per KPI (residual scale) and whether it leaves the twin's 90 % band."""

    id: str
    kind: str
    visible: bool
    delay_log_ratio: float
    """Largest ``|log(delay_fault / delay_baseline)|`` over the paths (NaN: no path observed)."""
    loss_increase: float
    """Largest ``loss_fault − loss_baseline`` over the paths."""
    utilization_change: float
    """Largest ``|utilisation_fault − utilisation_baseline|`` over the links (hidden share for unmonitored traffic)."""
    reason: str
    observable: bool = True
    """Visible in what the telemetry measures: the path effects counted only on the measured pairs (probes),
    the link effects on the links (every link has counters). Equal to ``visible`` when no
    ``observed_pairs`` were given."""
    observable_reason: str = ""

    @property
    def unmeasured_reason(self) -> str:
        """Why the telemetry does not measure this fault: inside the twin's interval (not visible), else unprobed."""
        return self.reason if not self.visible else self.observable_reason

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict (NaN → ``None``)."""
        return {k: (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in asdict(self).items()}


def twin_intervals(calibration: Mapping[str, Any]) -> dict[str, tuple[float, float]]:
    """Pooled 90 % residual interval ``(lo, hi)`` per path KPI from a checkpoint's ``calibration`` dict.

    >>> twin_intervals({"delay_s": {"kind": "log", "lo_all": -0.04, "hi_all": 0.05, "lo": [], "hi": []}})
    {'delay_s': (-0.04, 0.05)}
    """
    out: dict[str, tuple[float, float]] = {}
    for kpi, cal in calibration.items():
        if not isinstance(cal, Mapping) or "lo" not in cal:
            continue
        lo = cal.get("lo_all", cal["lo"]) if isinstance(cal["lo"], list) else cal["lo"]
        hi = cal.get("hi_all", cal["hi"]) if isinstance(cal["hi"], list) else cal["hi"]
        out[str(kpi)] = (float(lo), float(hi))
    return out


def _window_medians(ws: np.ndarray, ent: np.ndarray, val: np.ndarray, lo: float, hi: float,
                    n_ent: int) -> np.ndarray:
    """``(n_ent,)`` median of ``val`` per entity over rows with ``lo <= ws < hi`` (NaN: none)."""
    sel = (ws >= lo) & (ws < hi) & np.isfinite(val)
    e, v = ent[sel], val[sel]
    out = np.full(n_ent, np.nan)
    if e.size == 0:
        return out
    o = np.lexsort((v, e))
    e, v = e[o], v[o]
    starts = np.flatnonzero(np.r_[True, e[1:] != e[:-1]])
    ends = np.r_[starts[1:], e.size]
    mid_lo, mid_hi = starts + (ends - starts - 1) // 2, starts + (ends - starts) // 2
    out[e[starts]] = 0.5 * (v[mid_lo] + v[mid_hi])
    return out


def path_effects(ws: np.ndarray, path: np.ndarray, delay: np.ndarray, loss: np.ndarray, *, start: float,
                 end: float, window_s: float, baseline_windows: int = 6) -> dict[str, np.ndarray]:
    """Per-path effect of a fault on the twin's residual scales.

    ``ws`` ``(R,)`` window starts (s), ``path`` ``(R,)`` integer path index, ``delay`` (s) and ``loss``
    (ratio) ``(R,)``. Returns ``{"delay_s": |log ratio| (P,), "loss_ratio": increase (P,)}`` of the
    median over the fault's windows ``[start, end)`` against the median over the ``baseline_windows``
    windows before ``start``.
    """
    ws, path = np.asarray(ws, np.float64), np.asarray(path, np.int64)
    n = int(path.max()) + 1 if path.size else 0
    b0 = start - baseline_windows * window_s
    out: dict[str, np.ndarray] = {}
    for kpi, val in (("delay_s", np.asarray(delay, np.float64)), ("loss_ratio", np.asarray(loss, np.float64))):
        f = _window_medians(ws, path, val, start, max(end, start + window_s), n)
        b = _window_medians(ws, path, val, b0, start, n)
        with np.errstate(divide="ignore", invalid="ignore"):
            out[kpi] = np.abs(np.log(f / b)) if kpi == "delay_s" else f - b
    return out


def _fault_entities(label: Mapping[str, Any], pair_names: np.ndarray, link_names: np.ndarray,
                    pair_links: Mapping[str, Collection[str]]) -> tuple[np.ndarray, np.ndarray]:
    """``(pairs,)`` and ``(links,)`` masks of the entities ``label``'s fault acts on (see :func:`fault_visibility`)."""
    ents = {str(e) for e in label.get("entities") or ()}
    if label.get("entity_kind") == "node":
        p_sel = np.array([bool({*n.split("->", 1)} & ents) for n in pair_names.tolist()], dtype=bool)
        l_sel = np.array([bool({*n.split("->", 1)} & ents) for n in link_names.tolist()], dtype=bool)
        return p_sel, l_sel
    links = set(ents) | {"->".join(reversed(e.split("->", 1))) for e in ents if "->" in e}
    cable = label.get("kind") in ("capacity_degradation", "link_down")
    on = links if cable else ents
    p_sel = np.array([bool(set(pair_links.get(n, ())) & on) for n in pair_names.tolist()], dtype=bool)
    l_sel = np.isin(link_names, list(links if cable else ents))
    return p_sel, l_sel


def _reasons(d: float, loss: float, u: float, d_band: float, loss_band: float, u_band: float,
             what: str = "") -> list[str]:
    """Why an effect leaves the band: path delay ``|log ratio|`` ``d``, path loss increase ``loss``, link
    utilisation change ``u`` against their bands (NaN: not available)."""
    out = []
    if math.isfinite(d) and d > d_band:
        out.append(f"{what}path delay |log ratio| {d:.3g} > {d_band:.3g}")
    if math.isfinite(loss) and loss > loss_band:
        out.append(f"{what}path loss +{loss:.3g} > {loss_band:.3g}")
    if math.isfinite(u) and u > u_band:
        out.append(f"link utilisation change {u:.3g} > band {u_band:.3g}")
    return out


def probe_pairs(model: Any) -> set[str]:
    """The ``"src->dst"`` pairs the network model's probes measure (:func:`fault_visibility`'s ``observed_pairs``)."""
    names = list(model.node_names)
    return {f"{names[int(s)]}->{names[int(d)]}" for s, d in zip(model.probe_src, model.probe_dst, strict=True)}


def healthy_pair_links(model: Any) -> dict[str, set[str]]:
    """``"src->dst"`` → link ids of the pair's routes in the network model as configured (all links up).

    ``model`` is a :class:`twinwatch.twin.netmodel.NetworkModel`.
    """
    from twinwatch.twin.routing import compute_routing, default_metric

    r = compute_routing(model.n_nodes, model.link_src, model.link_dst,
                        default_metric(model.link_capacity_bps, model.link_metric))
    names, lids = list(model.node_names), list(model.link_ids)
    out: dict[str, set[str]] = {}
    for p in range(r.path_src.size):
        key = f"{names[int(r.path_src[p])]}->{names[int(r.path_dst[p])]}"
        out.setdefault(key, set()).update(lids[int(i)] for i in r.path_links[r.path_ptr[p]:r.path_ptr[p + 1]])
    return out


def checkpoint_intervals(checkpoint_dir: str | Path | None = None) -> dict[str, tuple[float, float]]:
    """:func:`twin_intervals` of a twin checkpoint directory (its ``config.json``'s ``calibration``; ``None``: the
    shipped checkpoint).

    Raises :class:`VisibilityError` naming the file when it is missing, not JSON or has no calibration.
    """
    import json

    if checkpoint_dir is None:
        from twinwatch.twin.models.gnn import DEFAULT_CHECKPOINT

        checkpoint_dir = DEFAULT_CHECKPOINT
    path = Path(checkpoint_dir) / "config.json"
    try:
        cal = json.loads(path.read_text())["calibration"]
        out = twin_intervals(cal)
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        raise VisibilityError(f"{path}: no usable calibration ({type(exc).__name__}: {exc})") from None
    if not {"delay_s", "loss_ratio"} <= out.keys():
        raise VisibilityError(f"{path}: the calibration has no 90 % interval for path delay_s and loss_ratio")
    return out


def model_fault_visibility(labels: Sequence[Mapping[str, Any]], truth_dir: str | Path, model: Any,
                           intervals: Mapping[str, tuple[float, float]], *,
                           window_s: float, reported: Collection[str] = ()) -> dict[str, FaultVisibility]:
    """:func:`fault_visibility` with everything it can take from the run's network model.

    ``model`` is the :class:`twinwatch.twin.netmodel.NetworkModel` the telemetry was generated on: its links'
    capacities (inventory utilisation, each node's egress capacity for unmonitored traffic), the pairs' healthy
    routes (the entities a fault can move) and its probes (what the telemetry measures, hence
    :attr:`FaultVisibility.observable`). The one rule ``bench/detect_eval.py`` and ``twinwatch score --truth``
    judge faults by. ``reported``: the fault kinds the run's telemetry reports (:func:`reported_kinds` of its
    manifest's configuration), see :func:`fault_visibility`.
    """
    caps = dict(zip(model.link_ids, np.asarray(model.link_capacity_bps, dtype=np.float64).tolist(), strict=True))
    names = list(model.node_names)
    egress: dict[str, float] = {}
    for s, cap in zip(np.asarray(model.link_src).tolist(), caps.values(), strict=True):
        egress[names[int(s)]] = egress.get(names[int(s)], 0.0) + float(cap)
    return fault_visibility(labels, truth_dir, intervals, window_s=window_s, egress_capacity_bps=egress,
                            pair_links=healthy_pair_links(model), link_capacity_bps=caps,
                            observed_pairs=probe_pairs(model), reported=reported)


def fault_visibility(labels: Sequence[Mapping[str, Any]], truth_dir: str | Path,
                     intervals: Mapping[str, tuple[float, float]], *, window_s: float,
                     baseline_windows: int = 6, util_band_quantile: float = 0.9,
                     egress_capacity_bps: Mapping[str, float] | None = None,
                     pair_links: Mapping[str, Collection[str]] | None = None,
                     link_capacity_bps: Mapping[str, float] | None = None,
                     observed_pairs: Collection[str] | None = None,
                     reported: Collection[str] = ()) -> dict[str, FaultVisibility]:
    """Per network fault of ``labels`` (by label ``id``): its largest true effect and whether it is visible.

    ``truth_dir`` holds ``paths.parquet`` and ``links.parquet``; ``intervals`` the twin's 90 % residual
    intervals per path KPI (:func:`twin_intervals`); ``egress_capacity_bps`` maps a node to the summed
    capacity of its outgoing links (for ``unmonitored_traffic``; without it such faults count as visible
    only through true KPI changes, i.e. never). ``pair_links`` maps ``"src->dst"`` to the link ids of the
    pair's healthy route(s) (:func:`twinwatch.twin.routing.compute_routing`): the effect of a link fault is
    then taken on the paths through the link and on the link (both directions for a cable fault), that
    of a node fault on the paths to / from the node and its adjacent links. Without it every entity
    counts (the maximum over all of them: noise alone then often leaves the band).
    ``link_capacity_bps`` maps a link id to its capacity in the network model (the inventory): link
    utilisation is the true ``tx_bps`` over it, as telemetry computes it (links missing: no utilisation).
    ``observed_pairs`` are the ``"src->dst"`` pairs whose path KPIs the telemetry measures (the network's
    probes): a fault is then also judged on what is measured (:attr:`FaultVisibility.observable`; a visible
    link going down always is: its interfaces report their oper-status). A fault
    whose only effect is on paths no probe measures (grey loss on a link no probe crosses: silent drops do
    not show in counters) is visible in the ground truth but *unobservable* with this instrumentation: no
    detector fed this telemetry can see it, so a score on the visible faults alone mixes the detector's
    quality with the probes' coverage. A fault of a kind in ``reported`` (:data:`REPORTED_BY`: the telemetry
    carries the ports' speed, the routers' IGP metrics) is visible and observable whatever it does to the
    traffic: the capacity a LAG member takes, the metric an operator changed, is itself a measured KPI, as a
    link's oper-status is.
    """
    import pyarrow.parquet as pq

    tdir = Path(truth_dir)
    try:
        # columnar all the way: a 74-node, 4-hour truth holds ~24 M path rows, which as Python objects
        # (``to_pydict``) took more than 24 GB
        pt = pq.read_table(tdir / "paths.parquet", columns=["window_start", "src", "dst", "offered_bps",
                                                            "delay_s", "loss_ratio"])
        lt = pq.read_table(tdir / "links.parquet", columns=["window_start", "link", "tx_bps"]).to_pydict()
    except (OSError, KeyError, ValueError) as exc:
        raise VisibilityError(f"{tdir}: cannot read the ground truth ({exc})") from None

    def column(name: str) -> np.ndarray:
        return np.asarray(pt.column(name).to_numpy(), np.float64)

    def codes(name: str) -> tuple[np.ndarray, np.ndarray]:
        enc = pt.column(name).combine_chunks().dictionary_encode()
        return np.asarray(enc.indices, np.int64), np.asarray(enc.dictionary.to_pylist(), dtype=str)

    r_ws = column("window_start")
    src_code, src_names = codes("src")
    dst_code, dst_names = codes("dst")
    combo, r_combo = np.unique(src_code * max(dst_names.size, 1) + dst_code, return_inverse=True)
    pair_names, combo_pair = np.unique(np.char.add(np.char.add(src_names[combo // max(dst_names.size, 1)], "->"),
                                                   dst_names[combo % max(dst_names.size, 1)]), return_inverse=True)
    r_pair = combo_pair.astype(np.int64).ravel()[r_combo.ravel()]
    r_off = column("offered_bps")
    # one row per (window, src->dst pair), as a probe sees the pair: ToS classes weighted by offered traffic
    _, w_idx = np.unique(np.stack([r_ws, r_pair.astype(np.float64)]), axis=1, return_inverse=True)
    w_idx = w_idx.ravel()
    n_w = int(w_idx.max()) + 1 if w_idx.size else 0
    r_delay, r_loss = column("delay_s"), column("loss_ratio")
    ok = np.isfinite(r_delay) & np.isfinite(r_loss) & (r_off > 0)
    wsum = np.bincount(w_idx[ok], r_off[ok], n_w)
    with np.errstate(invalid="ignore", divide="ignore"):
        p_delay = np.bincount(w_idx[ok], r_delay[ok] * r_off[ok], n_w) / wsum
        p_loss = np.bincount(w_idx[ok], r_loss[ok] * r_off[ok], n_w) / wsum
    first = np.full(n_w, -1, np.int64)
    first[w_idx[::-1]] = np.arange(w_idx.size)[::-1]
    p_ws, p_key = r_ws[first], r_pair[first]
    l_ws = np.asarray(lt["window_start"], np.float64)
    link_names, l_key = np.unique(np.asarray(lt["link"], str), return_inverse=True)
    l_key = l_key.astype(np.int64).ravel()
    # utilisation as telemetry shows it: true carried bits/s over the *inventory* capacity (a LAG member lost
    # does not change it; the truth file's own utilisation is over the true capacity)
    inv_cap = np.array([float((link_capacity_bps or {}).get(n, math.nan)) for n in link_names.tolist()])
    l_util = np.asarray(lt["tx_bps"], np.float64) / inv_cap[l_key]
    n_links = int(l_key.max()) + 1 if l_key.size else 0
    for kpi in ("delay_s", "loss_ratio"):
        if kpi not in intervals:
            raise VisibilityError(f"twin intervals: no 90 % interval for path {kpi!r}")
    d_lo, d_hi = intervals["delay_s"]
    _, s_hi = intervals["loss_ratio"]
    faults = [lb for lb in labels if lb.get("kind") in _NETWORK_FAULT_KINDS and not lb.get("benign", False)]

    # the run's band of window-to-window utilisation change outside every fault (+ baseline span)
    busy = np.zeros(l_ws.size, dtype=bool)
    for lb in faults:
        busy |= (l_ws >= float(lb["start"]) - window_s) & (l_ws < float(lb["end"]) + 3 * window_s)
    o = np.lexsort((l_ws, l_key))
    du = np.abs(np.diff(l_util[o]))
    same = (l_key[o][1:] == l_key[o][:-1]) & ~busy[o][1:] & ~busy[o][:-1]
    u_band = float(np.quantile(du[same], util_band_quantile)) if same.any() else 0.0

    out: dict[str, FaultVisibility] = {}
    for lb in faults:
        s, e = float(lb["start"]), float(lb["end"])
        pe = path_effects(p_ws, p_key, p_delay, p_loss, start=s, end=e, window_s=window_s,
                          baseline_windows=baseline_windows)
        f = _window_medians(l_ws, l_key, l_util, s, max(e, s + window_s), n_links)
        b = _window_medians(l_ws, l_key, l_util, s - baseline_windows * window_s, s, n_links)
        du_f = np.abs(f - b)
        if pair_links is not None:
            p_sel, l_sel = _fault_entities(lb, pair_names, link_names, pair_links)
            pe = {k: np.where(p_sel[: v.size], v, np.nan) for k, v in pe.items()}
            du_f = np.where(l_sel, du_f, np.nan)

        def top(v: np.ndarray) -> float:
            return float(np.nanmax(v)) if np.isfinite(v).any() else math.nan

        d_max, l_max, u_max = top(pe["delay_s"]), top(pe["loss_ratio"]), top(du_f)
        if observed_pairs is not None:
            measured = np.isin(pair_names, np.asarray(sorted({str(x) for x in observed_pairs}), dtype=str))
            d_obs, l_obs = (top(np.where(measured[: pe[k].size], pe[k], np.nan)) for k in ("delay_s", "loss_ratio"))
        else:
            d_obs, l_obs = d_max, l_max
        if lb["kind"] == "unmonitored_traffic":
            nodes = {str(x) for x in lb.get("entities") or ()}
            sel = (r_ws >= s) & (r_ws < max(e, s + window_s)) & np.isin(src_code, np.flatnonzero(np.isin(src_names,
                                                                                                     list(nodes))))
            n_win = max(round((max(e, s + window_s) - s) / window_s), 1)
            cap = sum(float((egress_capacity_bps or {}).get(nd, math.inf)) for nd in nodes)
            u_max = float(r_off[sel].sum() / n_win / cap) if cap > 0 else math.nan
        reasons = _reasons(d_max, l_max, u_max, max(d_hi, -d_lo), s_hi, u_band)
        seen = _reasons(d_obs, l_obs, u_max, max(d_hi, -d_lo), s_hi, u_band, "measured ")
        if lb["kind"] == "link_down" and reasons and observed_pairs is not None:
            seen.append("the link's oper-status is reported by its interfaces")
        if lb["kind"] in reported:
            why = next(v for v in REPORTED_BY.values() if v[0] == lb["kind"])
            reasons.append(why[1])
            seen.append(why[2])
        out[str(lb.get("id", len(out)))] = FaultVisibility(
            id=str(lb.get("id", len(out))), kind=str(lb["kind"]), visible=bool(reasons), delay_log_ratio=d_max,
            loss_increase=l_max, utilization_change=u_max,
            reason="; ".join(reasons) or "inside the twin's 90 % interval on every KPI",
            observable=bool(reasons) and bool(seen),
            observable_reason="; ".join(seen) or ("no measured path or link shows it (unobservable with these "
                                                  "probes)" if reasons else "not visible"))
    return out
