"""Split-conformal intervals for the twin's path KPIs, Mondrian over the path's offered load.

The twin's errors are not the same everywhere: on a path whose busiest link
is offered 95 % of its capacity the relative error of jitter is several
times that of a path below 50 % (``bench/notes/gnn.md``, "Uncertainty").
One global residual quantile therefore over-covers quiet paths and
under-covers busy ones. *Mondrian* conformal prediction [^1] calibrates each
regime separately: paths are binned by their **maximum offered link
utilisation** (an input, known before any observation), and each bin gets its
own residual quantiles. Coverage then holds per bin, not only on average.

Residuals are multiplicative for delay and jitter (``log(y/ŷ)``, interval
``ŷ·e^lo .. ŷ·e^hi``) and additive for loss (``y − ŷ``, clipped to
``[0, 1]``). A bin with fewer than ``min_count`` calibration residuals falls
back to the quantiles of all residuals.

**P-values.** The 90 % quantiles answer "is it inside the band?", not
"how surprising is it?". For that each KPI entry also carries a *score
grid* (:func:`fit_score_grid`, key ``"grid"``): per load bin, ~225
quantiles of the calibration scores (dense in both tails, down to 1e-6)
and the count ``n``. A new score ``s`` gets the split-conformal p-value
``p = (1 + #{calibration scores ≥ s}) / (n + 1)`` (:func:`pvalue`), with
the count read off the grid by linear interpolation — exact at the grid
points, conservative at ties. Beyond the largest calibration score the
finite-sample p-value would stop at ``1/(n+1)``, too coarse for a window of
tens of thousands of tests corrected together (Benjamini–Hochberg needs
``p ≲ α·k/m``); there it continues as an exponential tail,
``exp(−(s − s_max)/β)/(n+1)``, with ``β`` the mean excess of the top 1 % of
the calibration scores. That extrapolation is a model of the tail, not a
finite-sample guarantee; it only ever acts on scores no calibration path
reached, and only for the continuous log-ratio scores (delay, jitter): the
loss score has an atom at zero and no tail to fit, so it stops at ``1/(n+1)``.

References
----------
[^1]: V. Vovk, A. Gammerman, G. Shafer, *Algorithmic Learning in a Random
   World*, Springer 2005, ch. 4.5 (Mondrian conformal predictors).

Examples
--------
>>> import numpy as np
>>> rng = np.random.default_rng(0)
>>> load = rng.uniform(0.0, 1.2, 20_000)
>>> resid = rng.normal(0.0, np.where(load > 0.85, 0.5, 0.05))   # busy paths err 10x more
>>> cal = fit_mondrian(resid, load, "log", coverage=0.9)
>>> [round(h, 2) for h in cal["hi"]]   # per-bin upper quantiles follow the spread
[0.08, 0.08, 0.08, 0.78, 0.83]
>>> lo, hi = interval(np.array([1.0, 1.0]), cal, np.array([0.3, 0.95]))
>>> (hi / lo).round(1).tolist()
[1.2, 5.0]
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

if TYPE_CHECKING:
    from twinwatch.twin.features import GraphArrays
    from twinwatch.twin.scenario import Scenario

__all__ = [
    "GRID_LEVELS",
    "KPI_KINDS",
    "LOAD_EDGES",
    "MIN_WINDOWS",
    "REGIMES",
    "SIZE_EDGES",
    "fit_calibration",
    "fit_mondrian",
    "fit_mondrian_sized",
    "fit_score_grid",
    "has_grid",
    "interval",
    "path_max_load",
    "propagation_regime",
    "pvalue",
    "regime_bins",
    "residual_score",
    "scenario_path_max_load",
    "score_pvalue",
]

LOAD_EDGES: tuple[float, ...] = (0.5, 0.7, 0.85, 1.0)
"""Bin edges of the maximum offered link utilisation along a path (5 bins: <0.5 … ≥1)."""

MIN_WINDOWS = 10
"""The fewest samples (windows) a load band needs for its own quantiles when an earlier calibration can stand in
(``twinwatch twin calibrate --min-windows``, ``twin finetune``): paths of one window err together."""

SIZE_EDGES: tuple[float, ...] = (25.0, 50.0, 100.0)
"""Bin edges of the network size in nodes for :func:`fit_mondrian_sized` (4 bins: <25, 25–50, 50–100, ≥100)."""


REGIMES: tuple[str, ...] = ("abstract", "propagation")
"""Calibration regimes, the categorical Mondrian key of :func:`fit_calibration`: paths without propagation delay
(GNNet-style networks in abstract time, where the delay is all queueing and transmission) and paths with it
(operated networks, where propagation from geography is most of the delay). The twin's relative errors differ
between the two (issue 15: the shipped twin's queueing-part MAPE is 2.5 % on GNNet and 3.6 % on operated
networks, its jitter MAPE 10 % and 22 %), so quantiles pooled over both cover one and not the other."""


def propagation_regime(prop: np.ndarray) -> np.ndarray:
    """``(P,)`` index into :data:`REGIMES` of each path: 1 where its propagation delay is > 0, else 0 (NaN: 0).

    >>> propagation_regime(np.array([0.0, 2e-3, np.nan])).tolist()
    [0, 1, 0]
    """
    with np.errstate(invalid="ignore"):
        return (np.asarray(prop, dtype=np.float64) > 0.0).astype(np.int64)


def path_max_load(graph: GraphArrays) -> np.ndarray:
    """``(P,)`` maximum offered utilisation (offered bits/s ÷ capacity) over the links of each path.

    Offered load counts every flow crossing the link at its offered rate
    (before any loss), so it is known from the scenario alone.
    """
    n_e = graph.n_links
    link_load = np.bincount(graph.hop_link, weights=graph.hop_share.astype(np.float64), minlength=n_e)
    flow_max = np.zeros(graph.n_flows)
    np.maximum.at(flow_max, graph.hop_flow, link_load[graph.hop_link])
    out = np.zeros(graph.n_paths)
    np.maximum.at(out, graph.flow_path, flow_max)
    return out


def regime_bins(load: np.ndarray, edges: tuple[float, ...] | list[float] = LOAD_EDGES) -> np.ndarray:
    """``(P,)`` int bin index of each path's maximum offered load (``0 .. len(edges)``).

    >>> regime_bins(np.array([0.1, 0.5, 0.8, 0.99, 1.3])).tolist()
    [0, 1, 2, 3, 4]
    """
    return np.searchsorted(np.asarray(edges, dtype=np.float64), np.asarray(load, dtype=np.float64), side="right")


def _split_quantiles(r: np.ndarray, coverage: float) -> tuple[float, float]:
    """Finite-sample corrected ``(1−c)/2`` and ``(1+c)/2`` quantiles of ``r`` (split conformal)."""
    n = r.size
    a = (1.0 - coverage) / 2.0
    q_lo = max(0.0, math.floor(a * (n + 1)) / n - 1e-12)
    q_hi = min(1.0, math.ceil((1 - a) * (n + 1)) / n)
    return float(np.quantile(r, q_lo)), float(np.quantile(r, q_hi))


def fit_mondrian(residual: np.ndarray, load: np.ndarray, kind: str, coverage: float = 0.9, *,
                 edges: tuple[float, ...] = LOAD_EDGES, min_count: int = 200,
                 fallback: dict[str, Any] | None = None, groups: np.ndarray | None = None,
                 min_groups: int = 0) -> dict[str, Any]:
    """Per-load-bin residual quantiles: the calibration entry stored in a checkpoint.

    Parameters
    ----------
    residual
        ``(N,)`` calibration residuals (``log(y/ŷ)`` for ``kind="log"``, ``y − ŷ`` for ``"abs"``), finite.
    load
        ``(N,)`` maximum offered utilisation of each residual's path (:func:`path_max_load`).
    kind
        ``"log"`` or ``"abs"``.
    coverage
        Nominal two-sided coverage, e.g. 0.9.
    edges, min_count
        Bin edges; bins with fewer residuals use the pooled quantiles, or ``fallback``'s.
    fallback
        An earlier entry of the same kind, coverage and edges (e.g. the checkpoint's calibration before a
        recalibration on one network's data): a bin with fewer than ``min_count`` residuals keeps
        ``fallback``'s quantiles for that bin instead of taking the pooled ones, and the entry lists which
        bins did under ``"borrowed"``. One network's windows rarely fill its busiest load bands, and its pooled
        quantiles are those of its quiet paths: too narrow there.
    groups, min_groups
        ``(N,)`` the sample (window) each residual comes from, and the fewest distinct samples a bin needs to
        use its own quantiles (else as under ``min_count``). Paths of one sample share its traffic draw and err
        together, so 200 paths of three windows are three observations, not 200.

    Returns
    -------
    ``{"kind", "coverage", "edges", "lo": [...], "hi": [...], "n": [...], "lo_all", "hi_all", "n_all"}``
    with one ``lo``/``hi``/``n`` per bin (and ``"borrowed"``, one bool per bin, with ``fallback``).

    >>> rng = np.random.default_rng(0)
    >>> earlier = {"lo": [-0.1, -0.2, -0.3, -0.4, -0.5], "hi": [0.1, 0.2, 0.3, 0.4, 0.5]}
    >>> e = fit_mondrian(rng.normal(0, 0.05, 5000), rng.uniform(0, 0.5, 5000), "log", fallback=earlier)
    >>> e["borrowed"], [round(h, 2) for h in e["hi"]]   # only the < 0.5 band has data of its own
    ([False, True, True, True, True], [0.08, 0.2, 0.3, 0.4, 0.5])
    """
    residual = np.asarray(residual, dtype=np.float64)
    bins = regime_bins(load, edges)
    g = None if groups is None or min_groups <= 0 else np.asarray(groups)
    lo_all, hi_all = _split_quantiles(residual, coverage)
    los, his, ns, borrowed = [], [], [], []
    for k in range(len(edges) + 1):
        in_bin = bins == k
        r = residual[in_bin]
        enough = r.size >= min_count and (g is None or np.unique(g[in_bin]).size >= min_groups)
        if enough:
            lo, hi = _split_quantiles(r, coverage)
        elif fallback is not None:
            lo, hi = float(fallback["lo"][k]), float(fallback["hi"][k])
        else:
            lo, hi = lo_all, hi_all
        los.append(lo)
        his.append(hi)
        ns.append(int(r.size))
        borrowed.append(not enough and fallback is not None)
    entry = {"kind": kind, "coverage": coverage, "edges": list(edges), "lo": los, "hi": his, "n": ns,
             "lo_all": lo_all, "hi_all": hi_all, "n_all": int(residual.size)}
    if fallback is not None:
        entry["borrowed"] = borrowed
    return entry


def fit_mondrian_sized(residual: np.ndarray, load: np.ndarray, nodes: np.ndarray, kind: str, coverage: float = 0.9,
                       *, edges: tuple[float, ...] = LOAD_EDGES, size_edges: tuple[float, ...] = SIZE_EDGES,
                       min_count: int = 200, fallback: dict[str, Any] | None = None,
                       groups: np.ndarray | None = None, min_groups: int = 0) -> dict[str, Any]:
    """:func:`fit_mondrian` with a second Mondrian key, the network's size: quantiles per (size band, load band).

    The entry is a :func:`fit_mondrian` entry (its per-load ``lo``/``hi`` serve callers that do not know the
    network's size, so older readers keep working) plus ``size_edges`` and ``lo_size``/``hi_size``/``n_size``
    (``[size band][load band]``). A cell with fewer than ``min_count`` residuals uses its load band's quantiles
    over all sizes (and those fall back to the pooled ones as in :func:`fit_mondrian`).

    Parameters
    ----------
    residual, load, kind, coverage, edges, min_count, fallback, groups, min_groups
        As in :func:`fit_mondrian` (``fallback`` and ``min_groups`` act on load bands; size cells fall back to
        their load band).
    nodes
        ``(N,)`` number of nodes of each residual's network.
    size_edges
        Size band edges in nodes (default :data:`SIZE_EDGES`).

    >>> rng = np.random.default_rng(0)
    >>> nodes = rng.choice([10, 150], 40_000)
    >>> r = rng.normal(0.0, np.where(nodes > 100, 0.3, 0.03))    # large networks err 10x more
    >>> e = fit_mondrian_sized(r, rng.uniform(0, 0.4, 40_000), nodes, "log")
    >>> [round(row[0], 2) for row in e["hi_size"]]   # 1.645·σ: 0.05 under 25 nodes, 0.49 at >=100
    [0.05, 0.39, 0.39, 0.5]

    The two empty size bands (25–100 nodes) fall back to the load band's quantile over both sizes (0.39).
    """
    residual = np.asarray(residual, dtype=np.float64)
    load = np.asarray(load, dtype=np.float64)
    nodes = np.asarray(nodes, dtype=np.float64)
    if not residual.shape == load.shape == nodes.shape:
        raise ValueError(f"fit_mondrian_sized: residual {residual.shape}, load {load.shape} and nodes {nodes.shape} "
                         "must have the same shape")
    entry = fit_mondrian(residual, load, kind, coverage, edges=edges, min_count=min_count, fallback=fallback,
                         groups=groups, min_groups=min_groups)
    lb = regime_bins(load, edges)
    sb = regime_bins(nodes, size_edges)
    lo_s, hi_s, n_s = [], [], []
    for i in range(len(size_edges) + 1):  # a handful of cells, not a loop over paths
        row_lo, row_hi, row_n = [], [], []
        for k in range(len(edges) + 1):
            r = residual[(sb == i) & (lb == k)]
            lo, hi = _split_quantiles(r, coverage) if r.size >= min_count else (entry["lo"][k], entry["hi"][k])
            row_lo.append(lo)
            row_hi.append(hi)
            row_n.append(int(r.size))
        lo_s.append(row_lo)
        hi_s.append(row_hi)
        n_s.append(row_n)
    entry.update({"size_edges": [float(e) for e in size_edges], "lo_size": lo_s, "hi_size": hi_s, "n_size": n_s})
    return entry


def _regime_entries(cal: dict[str, Any]) -> list[dict[str, Any] | None] | None:
    """The per-:data:`REGIMES` sub-entries of a calibration entry (``None``: it has none).

    Raises ``ValueError`` on a malformed ``"regimes"`` (not one dict-or-None per regime), so a damaged
    checkpoint fails when it is loaded (its self-test predicts) rather than on the first path of a regime.
    """
    regimes = cal.get("regimes")
    if regimes is None:
        return None
    entries = regimes.get("entries") if isinstance(regimes, dict) else None
    if not isinstance(entries, list) or len(entries) != len(REGIMES) or not all(
            e is None or isinstance(e, dict) for e in entries):
        raise ValueError(f"calibration entry: 'regimes' must hold one entry (or null) per regime {list(REGIMES)}")
    return entries


def _quantiles(n: int, cal: dict[str, Any], load: np.ndarray | None, nodes: np.ndarray | None
               ) -> tuple[np.ndarray, np.ndarray]:
    """``(n,)`` lower and upper residual quantiles of each path from one (regime's) calibration entry."""
    if not isinstance(cal["lo"], list):  # a single-quantile entry (older checkpoints)
        return np.full(n, float(cal["lo"])), np.full(n, float(cal["hi"]))
    if load is None:
        return np.full(n, float(cal["lo_all"])), np.full(n, float(cal["hi_all"]))
    bins = regime_bins(load, cal["edges"])
    if nodes is not None and "lo_size" in cal:
        sbin = regime_bins(nodes, cal["size_edges"])
        return (np.asarray(cal["lo_size"], dtype=np.float64)[sbin, bins],
                np.asarray(cal["hi_size"], dtype=np.float64)[sbin, bins])
    return np.asarray(cal["lo"], dtype=np.float64)[bins], np.asarray(cal["hi"], dtype=np.float64)[bins]


def interval(pred: np.ndarray, cal: dict[str, Any], load: np.ndarray | None = None,
             nodes: np.ndarray | float | None = None, prop: np.ndarray | None = None
             ) -> tuple[np.ndarray, np.ndarray]:
    """Conformal interval ``(lo, hi)`` around ``pred`` (``(P,)``) from a calibration entry.

    Mondrian entries (``lo``/``hi`` lists) need ``load`` (``(P,)``, :func:`path_max_load`);
    without it, or for a single-quantile entry (``lo``/``hi`` floats, older checkpoints),
    the pooled quantiles apply. Entries of :func:`fit_mondrian_sized` also use ``nodes``
    (the network's size, a scalar or ``(P,)``) when it is given, and their per-load
    quantiles when it is not. ``prop`` (``(P,)``, the path's propagation delay, same unit
    as ``pred``) does two things: entries with per-regime quantiles (key ``"regimes"``,
    :func:`fit_calibration` with ``prop``) take each path's quantiles from its
    :data:`REGIMES` entry (:func:`propagation_regime`); delay entries fitted on the queueing
    part (``"offset": "propagation"``) scale only ``pred − prop``:
    ``prop + (pred − prop)·e^q``. Without ``prop`` the pooled quantiles scale the whole
    prediction, which is wider for delay (conservative).

    >>> cal = {"kind": "log", "lo": -0.1, "hi": 0.2, "offset": "propagation"}
    >>> lo, hi = interval(np.array([10.0]), cal, prop=np.array([9.0]))   # only the 1.0 of queueing is scaled
    >>> lo.round(3).tolist(), hi.round(3).tolist()
    ([9.905], [10.221])

    >>> lo, hi = interval(np.array([1.0, 2.0]), {"kind": "log", "lo": -0.1, "hi": 0.2})
    >>> lo.round(3).tolist(), hi.round(3).tolist()
    ([0.905, 1.81], [1.221, 2.443])

    Per-regime quantiles: the path with propagation gets the wider factor of its regime.

    >>> cal = {"kind": "log", "edges": [], "lo": [-0.1], "hi": [0.1], "lo_all": -0.1, "hi_all": 0.1,
    ...        "regimes": {"key": "propagation", "names": ["abstract", "propagation"], "entries": [
    ...            None, {"lo": [-0.3], "hi": [0.3], "lo_all": -0.3, "hi_all": 0.3}]}}
    >>> lo, hi = interval(np.array([1.0, 1.0]), cal, np.array([0.2, 0.2]), prop=np.array([0.0, 0.5]))
    >>> hi.round(3).tolist()
    [1.105, 1.35]
    """
    pred = np.asarray(pred, dtype=np.float64)
    load_a = None if load is None else np.broadcast_to(np.asarray(load, dtype=np.float64), pred.shape)
    nodes_a = None if nodes is None else np.broadcast_to(np.asarray(nodes, dtype=np.float64), pred.shape)
    q_lo, q_hi = _quantiles(pred.size, cal, load_a, nodes_a)
    q_lo, q_hi = q_lo.reshape(pred.shape), q_hi.reshape(pred.shape)
    entries = _regime_entries(cal)
    if entries is not None and prop is not None:
        reg = np.broadcast_to(propagation_regime(prop), pred.shape)
        for k, sub in enumerate(entries):  # two regimes, not a loop over paths
            sel = reg == k
            if sub is None or not sel.any():
                continue  # a regime with too few calibration residuals keeps the pooled quantiles
            q_lo[sel], q_hi[sel] = _quantiles(int(sel.sum()), {**cal, **sub},
                                              None if load_a is None else load_a[sel],
                                              None if nodes_a is None else nodes_a[sel])
    if cal.get("kind") == "log":
        if cal.get("offset") == "propagation" and prop is not None:
            base = np.asarray(prop, dtype=np.float64)
            part = np.maximum(pred - base, 0.0)
            return base + part * np.exp(q_lo), base + part * np.exp(q_hi)
        return pred * np.exp(q_lo), pred * np.exp(q_hi)
    return np.clip(pred + q_lo, 0.0, 1.0), np.clip(pred + q_hi, 0.0, 1.0)


# ----------------------------------------------------------------------------------------------- p-values
KPI_KINDS: dict[str, str] = {"delay_s": "log", "jitter_s2": "log", "loss_ratio": "abs"}
"""Score kind of each path KPI: ``"log"`` = ``log(y/ŷ)`` (signed), ``"abs"`` = ``y − ŷ`` (signed)."""


def _grid_levels(n_mid: int = 129, n_tail: int = 48, tail_min: float = 1e-6, tail_max: float = 0.02) -> np.ndarray:
    mid = np.linspace(0.0, 1.0, n_mid)
    tail = np.geomspace(tail_min, tail_max, n_tail)
    return np.unique(np.concatenate([mid, tail, 1.0 - tail]))


GRID_LEVELS: np.ndarray = _grid_levels()
"""``(L,)`` quantile levels of a score grid (L = 225): 129 evenly spaced plus 48 log-spaced per tail (1e-6 .. 0.02)."""


def residual_score(observed: np.ndarray, predicted: np.ndarray, kind: str) -> np.ndarray:
    """``(P,)`` signed residual score: ``log(y/ŷ)`` for ``kind="log"``, ``y − ŷ`` for ``"abs"``; NaN where undefined.

    ``observed`` and ``predicted`` are in the same unit (any); a log score needs both > 0.

    >>> residual_score(np.array([2.0, 1.0, 0.0]), np.array([1.0, 1.0, 1.0]), "log").round(3).tolist()
    [0.693, 0.0, nan]
    >>> residual_score(np.array([0.02]), np.array([0.01]), "abs").round(3).tolist()
    [0.01]
    """
    y = np.asarray(observed, dtype=np.float64)
    yh = np.asarray(predicted, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        if kind == "log":
            ok = np.isfinite(y) & np.isfinite(yh) & (y > 0) & (yh > 0)
            return np.where(ok, np.log(np.where(ok, y, 1.0) / np.where(ok, yh, 1.0)), np.nan)
        if kind == "abs":
            return np.where(np.isfinite(y) & np.isfinite(yh), y - yh, np.nan)
    raise ValueError(f"residual_score: kind must be 'log' or 'abs', got {kind!r}")


def fit_score_grid(score: np.ndarray, load: np.ndarray, kind: str, *,
                   edges: tuple[float, ...] | list[float] = LOAD_EDGES, min_count: int = 200,
                   levels: np.ndarray | None = None) -> dict[str, Any]:
    """Per-load-bin quantile grid of calibration scores, from which :func:`pvalue` derives p-values.

    Parameters
    ----------
    score
        ``(N,)`` calibration scores (:func:`residual_score` of held-out labels vs. predictions); NaNs are dropped.
    load
        ``(N,)`` maximum offered utilisation of each score's path (:func:`path_max_load`).
    kind
        ``"log"`` or ``"abs"`` (recorded; :func:`pvalue` scores new observations the same way).
    edges, min_count
        Mondrian bin edges; a bin with fewer than ``min_count`` scores uses the pooled grid.
    levels
        Quantile levels (default :data:`GRID_LEVELS`).

    Returns
    -------
    JSON-serialisable ``{"kind", "edges", "levels": [L], "values": [[L] per bin], "n": [per bin],
    "tail": [[lower, upper] per bin], "values_all": [L], "n_all", "tail_all", "min_count"}``;
    ``values[k][i]`` is the ``levels[i]`` quantile of bin ``k``, ``tail`` the exponential-tail
    scales used beyond the extreme scores (``None`` for ``kind="abs"``: no extrapolation).

    >>> g = fit_score_grid(np.linspace(-1, 1, 1001), np.zeros(1001), "log")
    >>> len(g["levels"]), g["n"][:2], g["n_all"]
    (225, [1001, 0], 1001)
    """
    score = np.asarray(score, dtype=np.float64)
    load = np.asarray(load, dtype=np.float64)
    if score.shape != load.shape:
        raise ValueError(f"fit_score_grid: score {score.shape} and load {load.shape} must have the same shape")
    ok = np.isfinite(score)
    score, load = score[ok], load[ok]
    if score.size == 0:
        raise ValueError("fit_score_grid: no finite calibration scores")
    lv = GRID_LEVELS if levels is None else np.asarray(levels, dtype=np.float64)
    if lv.ndim != 1 or lv.size < 2 or np.any(np.diff(lv) <= 0) or lv[0] < 0 or lv[-1] > 1:
        raise ValueError("fit_score_grid: levels must be strictly increasing within [0, 1]")
    bins = regime_bins(load, edges)
    values_all = np.quantile(score, lv)
    # exponential tails model a continuous score (log ratios); a difference score with an atom
    # (loss: almost every calibration path loses nothing) has no tail to fit: it stops at 1/(n+1)
    extrapolate = kind == "log"
    tails_all = list(_tail_scales(score)) if extrapolate else None
    values, ns, tails = [], [], []
    for k in range(len(edges) + 1):  # a handful of bins, not a loop over paths
        r = score[bins == k]
        big = r.size >= min_count
        values.append((np.quantile(r, lv) if big else values_all).tolist())
        tails.append((list(_tail_scales(r)) if big else tails_all) if extrapolate else None)
        ns.append(int(r.size))
    return {"kind": kind, "edges": [float(e) for e in edges], "levels": lv.tolist(), "values": values, "n": ns,
            "tail": tails, "values_all": values_all.tolist(), "n_all": int(score.size), "tail_all": tails_all,
            "min_count": int(min_count)}


def _tail_scales(r: np.ndarray, frac: float = 0.01) -> tuple[float, float]:
    """Exponential-tail scales ``(lower, upper)``: mean excess of the ``frac`` most extreme scores on each side.

    Used only beyond the smallest / largest calibration score (:func:`score_pvalue`); floored
    at a tiny positive value so a constant score still extrapolates.
    """
    lo_q, hi_q = np.quantile(r, [frac, 1.0 - frac])
    up = r[r > hi_q] - hi_q
    dn = lo_q - r[r < lo_q]
    spread = float(np.subtract(*np.quantile(r, [0.75, 0.25]))) or 1e-12
    floor = max(1e-12, 1e-3 * spread)
    return (max(float(dn.mean()) if dn.size else floor, floor), max(float(up.mean()) if up.size else floor, floor))


def _cdf(s: np.ndarray, values: np.ndarray, levels: np.ndarray, left: bool) -> np.ndarray:
    """Empirical CDF read off a quantile grid: fraction ``< s`` (``left``) or ``≤ s``, interpolated."""
    uniq, first = np.unique(values, return_index=True)
    if left:  # at a tie, the smallest level that reaches the value: fewest scores counted below
        lv = levels[first]
    else:  # the largest level at the value
        last = values.size - 1 - np.unique(values[::-1], return_index=True)[1]
        lv = levels[last]
    return np.interp(s, uniq, lv, left=0.0, right=1.0)


def score_pvalue(score: np.ndarray, load: np.ndarray | None, grid: dict[str, Any],
                 side: Literal["upper", "lower", "two-sided"] = "upper") -> np.ndarray:
    """``(P,)`` conformal p-values of ``score`` against a :func:`fit_score_grid` grid; NaN where the score is NaN.

    ``upper``: small when the score is large (observed worse than expected);
    ``lower``: small when it is small; ``two-sided``: ``min(1, 2·min(upper, lower))``.
    ``load`` (``(P,)``) selects the Mondrian bin; ``None`` uses the pooled grid.

    >>> g = fit_score_grid(np.arange(1000.0) / 1000, np.zeros(1000), "log")
    >>> score_pvalue(np.array([-5.0, 0.4995, 0.999]), None, g).round(4).tolist()
    [1.0, 0.5005, 0.001]
    >>> bool(score_pvalue(np.array([2.0]), None, g)[0] < 1e-6)   # beyond the largest score: the fitted tail
    True
    >>> g = fit_score_grid(np.arange(1000.0) / 1000, np.zeros(1000), "abs")
    >>> score_pvalue(np.array([2.0]), None, g).round(4).tolist()   # a difference score stops at 1/(n+1)
    [0.001]
    """
    s = np.asarray(score, dtype=np.float64)
    levels = np.asarray(grid["levels"], dtype=np.float64)
    values_all = np.asarray(grid["values_all"], dtype=np.float64)
    n_bins = len(grid["values"])
    if load is None:
        bins = np.full(s.shape, -1, dtype=np.int64)
    else:
        bins = regime_bins(np.asarray(load, dtype=np.float64), grid["edges"])
        bins = np.where(np.isfinite(np.asarray(load, dtype=np.float64)), bins, -1)
    want_up = side in ("upper", "two-sided")
    want_lo = side in ("lower", "two-sided")
    if side not in ("upper", "lower", "two-sided"):
        raise ValueError(f"score_pvalue: side must be 'upper', 'lower' or 'two-sided', got {side!r}")
    p_up = np.full(s.shape, np.nan)
    p_lo = np.full(s.shape, np.nan)
    min_count = int(grid.get("min_count", 0))
    tail_all = grid.get("tail_all")
    for k in range(-1, n_bins):  # one vectorised pass per Mondrian bin
        sel = bins == k
        if not sel.any():
            continue
        n = int(grid["n"][k]) if k >= 0 else int(grid["n_all"])
        vals = np.asarray(grid["values"][k], dtype=np.float64) if k >= 0 else values_all
        tail = grid["tail"][k] if k >= 0 and grid.get("tail") is not None else tail_all
        if k >= 0 and n < min_count:
            n, vals, tail = int(grid["n_all"]), values_all, tail_all
        x = s[sel]
        if want_up:
            pu = (1.0 + n * (1.0 - _cdf(x, vals, levels, left=True))) / (n + 1.0)
            if tail is not None:  # beyond the largest calibration score: exponential tail
                with np.errstate(over="ignore", invalid="ignore"):
                    pu = np.where(x > vals[-1], np.exp(-(x - vals[-1]) / float(tail[1])) / (n + 1.0), pu)
            p_up[sel] = pu
        if want_lo:
            pl = (1.0 + n * _cdf(x, vals, levels, left=False)) / (n + 1.0)
            if tail is not None:
                with np.errstate(over="ignore", invalid="ignore"):
                    pl = np.where(x < vals[0], np.exp(-(vals[0] - x) / float(tail[0])) / (n + 1.0), pl)
            p_lo[sel] = pl
    nan = ~np.isfinite(s)
    if side == "upper":
        out = p_up
    elif side == "lower":
        out = p_lo
    else:
        out = np.minimum(1.0, 2.0 * np.minimum(p_up, p_lo))
    out = np.clip(out, 0.0, 1.0)
    out[nan] = np.nan
    return out


def has_grid(cal: dict[str, Any] | None, kpi: str) -> bool:
    """Whether a checkpoint calibration dict holds a p-value grid for ``kpi``."""
    return bool(cal) and isinstance(cal.get(kpi), dict) and isinstance(cal[kpi].get("grid"), dict)


def pvalue(observed: np.ndarray, predicted: np.ndarray, load: np.ndarray | None, cal: dict[str, Any], kpi: str,
           side: Literal["upper", "lower", "two-sided"] = "upper") -> np.ndarray:
    """``(P,)`` conformal p-values of observed path KPIs against the twin's predictions.

    Parameters
    ----------
    observed, predicted
        ``(P,)`` the KPI ``kpi`` observed and predicted (same unit; delay in the
        scenario's time unit, jitter in unit², loss 0..1).
    load
        ``(P,)`` maximum offered utilisation along each path (:func:`scenario_path_max_load`),
        or ``None`` for the pooled grid.
    cal
        A checkpoint's ``calibration`` dict (KPI → entry holding a ``"grid"``).
    kpi
        ``"delay_s"``, ``"jitter_s2"`` or ``"loss_ratio"``.
    side
        ``"upper"`` (default: observed worse than expected), ``"lower"`` or ``"two-sided"``.

    Returns NaN where the score is undefined (a non-positive delay, a missing value).
    The jitter grid was fitted on informative labels only
    (:func:`twinwatch.twin.kpis.informative_jitter`); callers should set observed jitter
    that is not informative to NaN first (:func:`fit_calibration` does the same).

    >>> rng = np.random.default_rng(1)
    >>> grid = fit_score_grid(rng.normal(0, 0.05, 50_000), rng.uniform(0, 1, 50_000), "log")
    >>> p = pvalue(np.array([1.0, 1.1, 1.5]), np.ones(3), np.array([0.2, 0.2, 0.9]), {"delay_s": {"grid": grid}},
    ...            "delay_s")
    >>> (p.round(3) <= [0.51, 0.03, 0.001]).tolist()
    [True, True, True]
    """
    if not has_grid(cal, kpi):
        raise KeyError(f"calibration has no p-value grid for {kpi!r}; recompute it with `twinwatch twin calibrate`")
    grid = cal[kpi]["grid"]
    return score_pvalue(residual_score(observed, predicted, grid["kind"]), load, grid, side)


def scenario_path_max_load(scenario: Scenario) -> np.ndarray:
    """``(P,)`` maximum offered utilisation over each path's links, from the scenario alone (no torch).

    Same quantity as :func:`path_max_load` (offered bits/s of all flows crossing a link ÷ its capacity).

    >>> from twinwatch.twin.scenario import Flow, Scenario
    >>> sc = Scenario.build(3, [(0, 1, 10.0), (1, 2, 20.0)], {(0, 2): [0, 1, 2], (1, 2): [1, 2]},
    ...                     [Flow(0, 2, 5.0), Flow(1, 2, 5.0)])
    >>> scenario_path_max_load(sc).tolist()
    [0.5, 0.5]
    """
    util = scenario.link_load_bps() / scenario.link_capacity_bps
    out = np.zeros(scenario.n_paths)
    np.maximum.at(out, scenario.hop_path, util[scenario.path_links])
    return out


def _fallback_view(prior: Any, regime: int | None, kind: str, offset: str | None, coverage: float,
                   edges: tuple[float, ...]) -> dict[str, Any] | None:
    """An earlier calibration entry as :func:`fit_mondrian`'s ``fallback``: its ``regime``'s quantiles (the pooled
    ones when it has none for it, or ``regime`` is ``None``), or ``None`` when it is not comparable (another score,
    offset, coverage or set of load bands, or a single-quantile entry of an old checkpoint)."""
    if not isinstance(prior, dict) or not isinstance(prior.get("lo"), list):
        return None
    view = prior
    entries = _regime_entries(prior)
    if regime is not None and entries is not None and entries[regime] is not None:
        view = {**prior, **entries[regime]}
    same = (view.get("kind") == kind and view.get("offset") == offset and
            math.isclose(float(view.get("coverage", coverage)), coverage) and
            [float(e) for e in view.get("edges", [])] == [float(e) for e in edges] and
            len(view["lo"]) == len(edges) + 1)
    return view if same else None


def _fit_entry(residual: np.ndarray, load: np.ndarray, nodes: np.ndarray | None, kind: str, coverage: float,
               edges: tuple[float, ...], min_count: int, fallback: dict[str, Any] | None,
               groups: np.ndarray | None, min_groups: int) -> dict[str, Any]:
    """:func:`fit_mondrian_sized` when ``nodes`` is given, else :func:`fit_mondrian` (same arguments)."""
    if nodes is None:
        return fit_mondrian(residual, load, kind, coverage, edges=edges, min_count=min_count, fallback=fallback,
                            groups=groups, min_groups=min_groups)
    return fit_mondrian_sized(residual, load, nodes, kind, coverage, edges=edges, min_count=min_count,
                              fallback=fallback, groups=groups, min_groups=min_groups)


def _fit_regimes(residual: np.ndarray, load: np.ndarray, nodes: np.ndarray | None, regime: np.ndarray, kind: str,
                 coverage: float, edges: tuple[float, ...], min_count: int, prior: Any = None,
                 offset: str | None = None, groups: np.ndarray | None = None,
                 min_groups: int = 0) -> dict[str, Any] | None:
    """Per-:data:`REGIMES` interval quantiles (``None`` entries for regimes under ``min_count`` residuals).

    ``None`` when the residuals all come from one regime (the pooled quantiles are that regime's) or no regime
    has ``min_count``.
    """
    if np.unique(regime).size < 2:
        return None
    entries: list[dict[str, Any] | None] = []
    for k in range(len(REGIMES)):  # two regimes
        sel = regime == k
        if sel.sum() < min_count:
            entries.append(None)
            continue
        fb = _fallback_view(prior, k, kind, offset, coverage, edges)
        e = _fit_entry(residual[sel], load[sel], None if nodes is None else nodes[sel], kind, coverage, edges,
                       min_count, fb, None if groups is None else groups[sel], min_groups)
        entries.append({k2: v for k2, v in e.items() if k2 not in ("kind", "coverage", "edges", "size_edges")})
    if all(e is None for e in entries):
        return None
    return {"key": "propagation", "names": list(REGIMES), "entries": entries}


def fit_calibration(observed: dict[str, np.ndarray], predicted: dict[str, np.ndarray], load: np.ndarray,
                    coverage: float = 0.9, *, edges: tuple[float, ...] = LOAD_EDGES,
                    min_count: int = 200, prop: np.ndarray | None = None,
                    nodes: np.ndarray | None = None,
                    delay_part: Literal["queueing", "total"] = "queueing",
                    fallback: dict[str, Any] | None = None, groups: np.ndarray | None = None,
                    min_groups: int = 0) -> dict[str, dict[str, Any]]:
    """A checkpoint's ``calibration`` block from held-out labels and predictions: intervals and p-value grids.

    Parameters
    ----------
    observed, predicted
        KPI name (``delay_s``, ``jitter_s2``, ``loss_ratio``) → ``(N,)`` labels and
        predictions over the paths of all held-out samples, concatenated.
    load
        ``(N,)`` maximum offered utilisation along each path.
    coverage, edges, min_count
        As in :func:`fit_mondrian`.
    prop
        ``(N,)`` propagation delay of each path (same unit as delay), or ``None``. When given:

        * the interval quantiles are also fitted per :data:`REGIMES` (paths without and with
          propagation, :func:`propagation_regime`; entry key ``"regimes"``, one sub-entry per regime,
          ``None`` where a regime has fewer than ``min_count`` residuals), so a calibration pooled over
          GNNet-style and operated networks covers each at its own error level. The top-level
          quantiles stay the pooled ones (callers without ``prop``).
        * with ``delay_part="queueing"`` (default) the delay interval is fitted on the queueing
          part, ``log((y − prop)/(ŷ − prop))`` (entry key ``"offset": "propagation"``;
          :func:`interval` needs ``prop`` then), and jitter labels are judged informative relative
          to the queueing part. Propagation is exact (geography), so the part a model can get wrong
          is the rest; a log ratio of the total delay instead depends on each network's propagation
          share, which does not carry over from one network to another (issue 15: held-out coverage
          by network size 64–98 % on total-delay scores).

        The p-value ``grid`` stays pooled and on the total-delay score (what :func:`pvalue` computes).
    nodes
        ``(N,)`` network size of each path; when given the interval quantiles are per (size band,
        load band) (:func:`fit_mondrian_sized`).
    delay_part
        ``"queueing"`` or ``"total"``: what the delay interval is fitted on when ``prop`` is given.
    fallback
        An earlier ``calibration`` block (KPI → entry, e.g. the checkpoint's before recalibrating it on one
        network's data). A load band with fewer than ``min_count`` residuals keeps that block's quantiles for
        the band, taken from the same regime (:func:`fit_mondrian` ``fallback``; the entry's ``"borrowed"``
        says which), where the two entries are comparable; elsewhere the pooled quantiles of the new data.
    groups, min_groups
        ``(N,)`` the sample (window) of each path and the fewest distinct samples a load band needs for its own
        interval quantiles (:func:`fit_mondrian`); 0: paths alone decide (``min_count``).

    Returns
    -------
    KPI → :func:`fit_mondrian` entry with the :func:`fit_score_grid` grid under ``"grid"``.
    Jitter is calibrated on informative labels only (:func:`twinwatch.twin.kpis.informative_jitter`);
    a KPI with fewer than 10 usable residuals is left out.
    """
    from twinwatch.twin.kpis import informative_jitter

    load = np.asarray(load, dtype=np.float64)
    if prop is not None and np.shape(prop) != load.shape:
        raise ValueError(f"fit_calibration: prop {np.shape(prop)} and load {load.shape} must have the same shape")
    if nodes is not None and np.shape(nodes) != load.shape:
        raise ValueError(f"fit_calibration: nodes {np.shape(nodes)} and load {load.shape} must have the same shape")
    if delay_part not in ("queueing", "total"):
        raise ValueError(f"fit_calibration: delay_part must be 'queueing' or 'total', got {delay_part!r}")
    pr = None if prop is None else np.asarray(prop, dtype=np.float64)
    queueing = pr is not None and delay_part == "queueing"
    regime = None if pr is None else propagation_regime(pr)
    nd = None if nodes is None else np.asarray(nodes, dtype=np.float64)
    if groups is not None and np.shape(groups) != load.shape:
        raise ValueError(f"fit_calibration: groups {np.shape(groups)} and load {load.shape} must have the same shape")
    gr = None if groups is None else np.asarray(groups)
    cal: dict[str, dict[str, Any]] = {}
    for kpi, kind in KPI_KINDS.items():
        if kpi not in observed or kpi not in predicted:
            continue
        y = np.asarray(observed[kpi], dtype=np.float64)
        yh = np.asarray(predicted[kpi], dtype=np.float64)
        if y.shape != load.shape or yh.shape != load.shape:
            raise ValueError(f"fit_calibration: {kpi}: observed {y.shape}, predicted {yh.shape} and load "
                             f"{load.shape} must have the same shape")
        if kpi == "jitter_s2":
            d = np.asarray(observed.get("delay_s", np.full(y.shape, np.nan)), dtype=np.float64)
            m = informative_jitter(d - pr if queueing else d, y) & (yh > 0)
        elif kind == "log":
            m = np.isfinite(y) & (y > 0) & (yh > 0)
        else:
            m = np.isfinite(y) & np.isfinite(yh)
        if m.sum() < 10:
            continue
        r = residual_score(y[m], yh[m], kind)
        r_int, m_int, offset = r, m, None
        if kpi == "delay_s" and queueing:  # interval quantiles on the queueing part (docstring)
            m_int = m & (y - pr > 1e-6 * y) & (yh - pr > 0)
            r_int, offset = residual_score(y[m_int] - pr[m_int], yh[m_int] - pr[m_int], kind), "propagation"
            if m_int.sum() < 10:
                r_int, m_int, offset = r, m, None
        prior = None if fallback is None else fallback.get(kpi)
        present = None if regime is None else np.unique(regime[m_int])
        one_regime = int(present[0]) if present is not None and present.size == 1 else None
        fb = _fallback_view(prior, one_regime, kind, offset, coverage, edges)
        g = None if gr is None else gr[m_int]
        entry = _fit_entry(r_int, load[m_int], None if nd is None else nd[m_int], kind, coverage, edges, min_count,
                           fb, g, min_groups)
        if offset is not None:
            entry["offset"] = offset
        if regime is not None:
            regimes = _fit_regimes(r_int, load[m_int], None if nd is None else nd[m_int], regime[m_int], kind,
                                   coverage, edges, min_count, prior, offset, g, min_groups)
            if regimes is not None:
                entry["regimes"] = regimes
        entry["grid"] = fit_score_grid(r, load[m], kind, edges=edges, min_count=min_count)
        cal[kpi] = entry
    return cal
