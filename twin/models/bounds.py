"""Physical bounds every model's answer respects, and the out-of-domain warning.

A packet crossing a path is at least propagated and transmitted once on
every hop (store and forward), so the *mean* per-packet delay of a path can
never be below

    floor_p = Σ_hops ( prop_delay_e + s̄_p / C_e )

where ``s̄_p`` is the mean packet size of the path's packets (its flows' mean
sizes weighted by their packet rates; the plain mean over its flows when no
flow is active) and ``C_e`` the capacity of hop ``e``. Loss and utilisation
ratios lie in ``[0, 1]`` (utilisation may exceed 1 only as an offered load,
which no model reports), jitter (a variance) and queue occupancy are ``>= 0``.

:func:`apply_physical_bounds` clamps a :class:`~twin.kpis.Prediction` in place
to these bounds (NaN, "not predicted", stays NaN) and says how many values it
moved; the learned models (``mlp``, ``gnn``) call it on every prediction. A
model that sees inputs outside what it was trained on warns with
:class:`OutOfDomainWarning`, one that leaves KPIs NaN says how many and why
with :class:`NotMeasuredWarning` (both :class:`RuntimeWarning`; the CLI
prints them on stderr).

Examples
--------
>>> from twinwatch.twin.kpis import Prediction
>>> from twinwatch.twin.scenario import Flow, Scenario
>>> sc = Scenario.build(3, [(0, 1, 1e6, 0.01), (1, 2, 1e6, 0.02)], {(0, 2): [0, 1, 2]},
...                     [Flow(0, 2, 0.0, pkt_size_bits=1000.0)])
>>> path_delay_floor(sc).round(6).tolist()  # 0.01 + 0.02 + 2 x 1000 bits / 1 Mb/s
[0.032]
>>> pr = Prediction.empty(1, 2); pr.path_delay_s[:] = 0.0; pr.path_loss_ratio[:] = 1.5
>>> apply_physical_bounds(sc, pr)
BoundsReport(delay_raised=1, ratio_clipped=1, negative_zeroed=0)
>>> round(float(pr.path_delay_s[0]), 6), float(pr.path_loss_ratio[0])
(0.032, 1.0)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from twinwatch.twin.kpis import Prediction
    from twinwatch.twin.scenario import Scenario

__all__ = ["BoundsReport", "NotMeasuredWarning", "OutOfDomainWarning", "apply_physical_bounds", "path_delay_floor"]

_REL_TOL = 1e-9
"""Moves smaller than this (relative) are rounding, not counted."""


class OutOfDomainWarning(RuntimeWarning):
    """A model is asked to predict for inputs outside the range it was trained on."""


class NotMeasuredWarning(RuntimeWarning):
    """Some KPIs are left NaN ("not predicted"); the message counts them and says why."""


@dataclass(frozen=True, slots=True)
class BoundsReport:
    """How many predicted values :func:`apply_physical_bounds` moved.

    Attributes
    ----------
    delay_raised
        Path delays raised to the physical floor (beyond rounding).
    ratio_clipped
        Loss / utilisation / queue-occupancy ratios clipped into ``[0, 1]``.
    negative_zeroed
        Negative jitters and queue lengths set to 0.
    """

    delay_raised: int
    ratio_clipped: int
    negative_zeroed: int


def path_mean_pkt_size_bits(sc: Scenario) -> np.ndarray:
    """``(P,)`` mean packet size (bits) of each path's packets; 0 for a path without flows."""
    size = np.sum(np.nan_to_num(sc.flow_sizes_bits) * sc.flow_size_probs, axis=1)
    w = np.where(np.isfinite(sc.flow_pkt_rate) & (sc.flow_pkt_rate > 0), sc.flow_pkt_rate, 0.0)
    wsum = np.bincount(sc.flow_path, weights=w, minlength=sc.n_paths)
    weighted = np.bincount(sc.flow_path, weights=w * size, minlength=sc.n_paths)
    count = np.bincount(sc.flow_path, minlength=sc.n_paths)
    plain = np.bincount(sc.flow_path, weights=size, minlength=sc.n_paths)
    return np.where(wsum > 0, weighted / np.where(wsum > 0, wsum, 1.0), plain / np.maximum(count, 1))


def path_delay_floor(sc: Scenario) -> np.ndarray:
    """``(P,)`` lowest possible mean delay of each path (time units): propagation + one transmission per hop."""
    pl = sc.path_links
    hop_path = sc.hop_path
    per_hop = sc.link_prop_delay_s[pl] + path_mean_pkt_size_bits(sc)[hop_path] / sc.link_capacity_bps[pl]
    return np.bincount(hop_path, weights=per_hop, minlength=sc.n_paths)


def _clip(a: np.ndarray, lo: float, hi: float) -> int:
    with np.errstate(invalid="ignore"):
        bad = np.isfinite(a) & ((a < lo) | (a > hi))
        np.clip(a, lo, hi, out=a, where=np.isfinite(a))
    return int(bad.sum())


def apply_physical_bounds(sc: Scenario, pred: Prediction) -> BoundsReport:
    """Clamp ``pred`` (of ``sc``) in place to the physical bounds; NaN stays NaN.

    Path delays (and the low end of a delay interval) are raised to
    :func:`path_delay_floor`; loss, utilisation and queue-occupancy ratios
    are clipped into ``[0, 1]``; jitter and queue lengths in packets to ``>= 0``.
    """
    floor = path_delay_floor(sc)
    d = pred.path_delay_s
    with np.errstate(invalid="ignore"):
        low = np.isfinite(d) & (d < floor)
        raised = int((low & (d < floor * (1.0 - _REL_TOL))).sum())
        d[low] = floor[low]
        # a delay predicted as +inf is not an answer either
        d[np.isinf(d)] = np.nan
    interval = pred.path_interval.get("delay_s")
    if interval is not None:
        lo, hi = (np.array(x, dtype=np.float64) for x in interval)
        with np.errstate(invalid="ignore"):
            lo = np.where(np.isfinite(lo) & (lo < floor), floor, lo)
            hi = np.where(np.isfinite(hi) & (hi < floor), floor, hi)
        pred.path_interval["delay_s"] = (lo, hi)
    ratios = sum(_clip(a, 0.0, 1.0) for a in (pred.path_loss_ratio, pred.link_loss_ratio, pred.link_utilization,
                                               pred.link_queue_occupancy))
    neg = 0
    for a in (pred.path_jitter_s2, getattr(pred, "link_queue_pkts", None)):
        if a is not None:
            neg += _clip(a, 0.0, np.inf)
    return BoundsReport(delay_raised=raised, ratio_clipped=ratios, negative_zeroed=neg)
