"""Array maths of the queueing-theory baseline (:mod:`twinwatch.twin.models.qt`).

Pure functions of NumPy arrays, vectorised over queues: truncated geometric
moments, the M/G/1/K two-moment approximation, weighted max-min fair shares,
and a segmented cumulative sum used to thin traffic along paths.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = [
    "QueueResult",
    "fair_fraction",
    "mg1k",
    "segment_exclusive_cumsum",
    "truncated_geometric",
    "water_fill",
]

SMALL = 1e-12
"""Floor for divisions by rates and sizes."""


def truncated_geometric(rho: np.ndarray, m: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Moments of ``π_n ∝ ρⁿ`` on ``n = 0..m`` (``m`` may be real).

    Returns ``(mean, var, p_top)`` where ``p_top = π_m``. Stable for ``ρ`` on
    either side of 1 (uses the mirror ``n → m − n`` with ratio ``1/ρ`` for
    ``ρ > 1``) and at ``ρ → 1`` (uniform limit).

    Shapes: ``rho`` and ``m`` broadcast; outputs have the broadcast shape.

    Examples
    --------
    >>> mean, var, top = truncated_geometric(np.array([0.5, 1.0, 2.0]), np.array([3.0, 3.0, 3.0]))
    >>> n = np.arange(4); w = 0.5 ** n / (0.5 ** n).sum()
    >>> round(float(mean[0]), 12) == round(float((n * w).sum()), 12), round(float(top[0]), 12) == round(float(w[3]), 12)
    (True, True)
    >>> float(mean[1]), float(var[1]), float(top[1])   # uniform on 0..3
    (1.5, 1.25, 0.25)
    >>> round(float(mean[2]), 12) == round(3 - float(mean[0]), 12)
    True
    """
    rho = np.asarray(rho, dtype=np.float64)
    m = np.asarray(m, dtype=np.float64)
    rho, m = np.broadcast_arrays(rho, m)
    flip = rho > 1.0
    r = np.where(flip, 1.0 / np.maximum(rho, SMALL), np.maximum(rho, 0.0))
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        u = -np.log(np.clip(r, 0.0, 1.0))  # decay rate >= 0 (inf when r = 0)
        x = (m + 1.0) * u
        small = x < 1e-2  # series around r = 1
        us = np.where(small, 1.0, u)
        xs = np.where(small, 1.0, x)
        em_u = -np.expm1(-us)  # 1 - r
        em_x = -np.expm1(-xs)  # 1 - r^(m+1)
        mean = np.where(np.isinf(us), 0.0, np.exp(-us) / em_u) - np.where(
            np.isinf(xs), 0.0, (m + 1.0) * np.exp(-xs) / em_x)
        var = np.where(np.isinf(us), 0.0, np.exp(-us) / em_u**2) - np.where(
            np.isinf(xs), 0.0, (m + 1.0) ** 2 * np.exp(-xs) / em_x**2)
        top = np.where(m > 0, np.exp(-m * us) * em_u / em_x, 1.0)
        bottom = em_u / em_x  # π_0
        m1 = m + 1.0
        mean = np.where(small, m / 2.0 - u * m * (m + 2.0) / 12.0, mean)
        var = np.where(small, (m1**2 - 1.0) / 12.0 - (m1**4 - 1.0) * u**2 / 240.0, var)
        top = np.where(small, (1.0 - m * u / 2.0) / m1, top)
        bottom = np.where(small, (1.0 + m * u / 2.0) / m1, bottom)
    mean = np.where(flip, m - mean, mean)
    top = np.where(flip, bottom, top)
    return mean, np.maximum(var, 0.0), np.clip(top, 0.0, 1.0)


@dataclass(frozen=True, slots=True)
class QueueResult:
    """Per-queue results of :func:`mg1k` (all arrays shaped like the inputs).

    Attributes
    ----------
    loss
        Probability an arriving packet is dropped.
    wait_mean, wait_var
        Mean and variance of the waiting time of an accepted packet (before
        its own transmission), seconds and seconds².
    """

    loss: np.ndarray
    wait_mean: np.ndarray
    wait_var: np.ndarray


def mg1k(
    lam: np.ndarray, s1: np.ndarray, s2: np.ndarray, s3: np.ndarray, k_pkts: np.ndarray
) -> QueueResult:
    """M/G/1/K two-moment approximation (see the module docstring).

    Parameters
    ----------
    lam
        Offered packet rate (packets/s).
    s1, s2, s3
        First three moments of the service time (s, s², s³).
    k_pkts
        Buffer in packets (waiting room, not counting the packet in service).

    Examples
    --------
    M/M/1/K with ``K = 4`` (system capacity 5), ``ρ = 0.8``: blocking
    ``(1 − ρ) ρ⁵ / (1 − ρ⁶)``.

    >>> r = mg1k(np.array([0.8]), np.array([1.0]), np.array([2.0]), np.array([6.0]), np.array([4.0]))
    >>> round(float(r.loss[0]), 10) == round(0.2 * 0.8 ** 5 / (1 - 0.8 ** 6), 10)
    True
    """
    s1 = np.maximum(s1, SMALL)
    rho = lam * s1
    scv = np.maximum(s2 / s1**2 - 1.0, 0.0)
    b = s2 / (2.0 * s1)  # one unit of work in the geometric approximation
    v = np.maximum(s3 / (3.0 * s1) - b**2, 0.0)
    m_units = (k_pkts + 1.0) * 2.0 / (1.0 + scv)
    _, _, loss = truncated_geometric(rho, m_units)
    n_mean, n_var, _ = truncated_geometric(rho, np.maximum(m_units - 1.0, 0.0))
    return QueueResult(loss=loss, wait_mean=b * n_mean, wait_var=v * n_mean + b**2 * n_var)


def segment_exclusive_cumsum(x: np.ndarray, start: np.ndarray, length: np.ndarray) -> np.ndarray:
    """Cumulative sum of ``x`` inside consecutive segments, excluding the current element.

    Segments are ``x[start[i] : start[i] + length[i]]``, back to back.

    >>> segment_exclusive_cumsum(np.array([1.0, 2.0, 3.0, 4.0, 5.0]), np.array([0, 3]), np.array([3, 2])).tolist()
    [0.0, 1.0, 3.0, 0.0, 4.0]
    """
    cs = np.cumsum(x) - x
    return cs - np.repeat(cs[start], length)



def water_fill(load: np.ndarray, weight: np.ndarray) -> np.ndarray:
    """Max-min weighted fair allocation of a unit link among ``(E, Q)`` class loads.

    A class whose load is below its weighted share gets its load; the rest is
    shared again among the others by weight (three rounds suffice for three
    classes). Classes with zero load get nothing.
    """
    active = load > 0
    alloc = np.zeros_like(load)
    remaining = np.ones(load.shape[0])
    for _ in range(load.shape[1]):
        wsum = np.where(active, weight, 0.0).sum(axis=1)
        share = np.where(active, remaining[:, None] * weight / np.where(wsum > 0, wsum, 1.0)[:, None], 0.0)
        sat = active & (load <= share)
        if not sat.any():
            break
        alloc = np.where(sat, load, alloc)
        remaining = remaining - np.where(sat, load, 0.0).sum(axis=1)
        active &= ~sat
    wsum = np.where(active, weight, 0.0).sum(axis=1)
    return np.where(active, remaining[:, None] * weight / np.maximum(wsum, SMALL)[:, None], alloc)


def fair_fraction(carried: np.ndarray, weight: np.ndarray) -> np.ndarray:
    """``(E, Q)`` fraction of the link a backlogged WFQ/DRR class is served at.

    While class ``k`` is backlogged it demands everything; every other class
    ``j`` uses ``min(load_j, its water-filled fair share)``; class ``k`` gets the
    rest (at least its weight share ``w_k / Σ w``).

    >>> f = fair_fraction(np.array([[0.43, 0.441, 0.795]]), np.array([[80.0, 10.0, 10.0]]))
    >>> np.round(f, 3).tolist()
    [[0.8, 0.285, 0.285]]
    """
    q = carried.shape[1]
    out = np.empty_like(carried)
    for k in range(q):  # Q = 3 columns, vectorised over links
        load = carried.copy()
        load[:, k] = 2.0  # always backlogged
        alloc = water_fill(load, weight)
        out[:, k] = 1.0 - (alloc.sum(axis=1) - alloc[:, k])
    return out
