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
from typing import Any

import numpy as np

from twin.features import GraphArrays

__all__ = ["LOAD_EDGES", "fit_mondrian", "interval", "path_max_load", "regime_bins"]

LOAD_EDGES: tuple[float, ...] = (0.5, 0.7, 0.85, 1.0)
"""Bin edges of the maximum offered link utilisation along a path (5 bins: <0.5 … ≥1)."""


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
                 edges: tuple[float, ...] = LOAD_EDGES, min_count: int = 200) -> dict[str, Any]:
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
        Bin edges; bins with fewer residuals use the pooled quantiles.

    Returns
    -------
    ``{"kind", "coverage", "edges", "lo": [...], "hi": [...], "n": [...], "lo_all", "hi_all", "n_all"}``
    with one ``lo``/``hi``/``n`` per bin.
    """
    residual = np.asarray(residual, dtype=np.float64)
    bins = regime_bins(load, edges)
    lo_all, hi_all = _split_quantiles(residual, coverage)
    los, his, ns = [], [], []
    for k in range(len(edges) + 1):
        r = residual[bins == k]
        lo, hi = _split_quantiles(r, coverage) if r.size >= min_count else (lo_all, hi_all)
        los.append(lo)
        his.append(hi)
        ns.append(int(r.size))
    return {"kind": kind, "coverage": coverage, "edges": list(edges), "lo": los, "hi": his, "n": ns,
            "lo_all": lo_all, "hi_all": hi_all, "n_all": int(residual.size)}


def interval(pred: np.ndarray, cal: dict[str, Any], load: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Conformal interval ``(lo, hi)`` around ``pred`` (``(P,)``) from a calibration entry.

    Mondrian entries (``lo``/``hi`` lists) need ``load`` (``(P,)``, :func:`path_max_load`);
    without it, or for a single-quantile entry (``lo``/``hi`` floats, older checkpoints),
    the pooled quantiles apply.

    >>> lo, hi = interval(np.array([1.0, 2.0]), {"kind": "log", "lo": -0.1, "hi": 0.2})
    >>> lo.round(3).tolist(), hi.round(3).tolist()
    ([0.905, 1.81], [1.221, 2.443])
    """
    pred = np.asarray(pred, dtype=np.float64)
    if isinstance(cal["lo"], list):
        if load is None:
            q_lo = np.full(pred.shape, float(cal["lo_all"]))
            q_hi = np.full(pred.shape, float(cal["hi_all"]))
        else:
            bins = regime_bins(load, cal["edges"])
            q_lo = np.asarray(cal["lo"], dtype=np.float64)[bins]
            q_hi = np.asarray(cal["hi"], dtype=np.float64)[bins]
    else:
        q_lo = np.full(pred.shape, float(cal["lo"]))
        q_hi = np.full(pred.shape, float(cal["hi"]))
    if cal.get("kind") == "log":
        return pred * np.exp(q_lo), pred * np.exp(q_hi)
    return np.clip(pred + q_lo, 0.0, 1.0), np.clip(pred + q_hi, 0.0, 1.0)
