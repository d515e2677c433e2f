"""Per-path and per-link KPIs: measured :class:`Labels` and model :class:`Prediction`.

Both hold columnar arrays aligned with a :class:`~twin.scenario.Scenario`:
path arrays are ``(P,)`` in the scenario's path order, link arrays ``(E,)`` in
its link order. A value that is not known is NaN, never a sentinel.

Units follow the scenario's ``time_unit``: delays in seconds (or dataset time
units), jitter as the *variance* of per-packet delay (s²), ratios in 0..1.

Examples
--------
>>> import numpy as np
>>> p = Prediction.empty(n_paths=2, n_links=3)
>>> p.path_delay_s[:] = [0.01, 0.02]
>>> p.path_interval["delay_s"] = (np.array([0.009, 0.018]), np.array([0.011, 0.022]))
>>> p.path_delay_s.shape, p.link_utilization.shape
((2,), (3,))
>>> bool(np.isnan(p.link_utilization).all())
True
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Self

import numpy as np

__all__ = ["JITTER_CV_FLOOR", "LINK_KPIS", "PATH_KPIS", "KPIs", "Labels", "Prediction", "informative_jitter"]

PATH_KPIS = ("delay_s", "jitter_s2", "loss_ratio")
"""KPIs carried per path."""

LINK_KPIS = ("utilization", "queue_occupancy", "loss_ratio")
"""KPIs carried per link (``queue_occupancy`` in packets)."""


@dataclass(eq=False)
class KPIs:
    """Path and link KPI arrays (see module docstring for units).

    Attributes
    ----------
    path_delay_s, path_jitter_s2, path_loss_ratio
        ``(P,)`` float.
    link_utilization, link_queue_occupancy, link_loss_ratio
        ``(E,)`` float.
    """

    path_delay_s: np.ndarray
    path_jitter_s2: np.ndarray
    path_loss_ratio: np.ndarray
    link_utilization: np.ndarray
    link_queue_occupancy: np.ndarray
    link_loss_ratio: np.ndarray

    @classmethod
    def empty(cls, n_paths: int, n_links: int) -> Self:
        """All-NaN KPIs for ``n_paths`` paths and ``n_links`` links."""
        def nan(n: int) -> np.ndarray:
            return np.full(n, np.nan)

        return cls(nan(n_paths), nan(n_paths), nan(n_paths), nan(n_links), nan(n_links), nan(n_links))

    def path(self, kpi: str) -> np.ndarray:
        """The ``(P,)`` array of path KPI ``kpi`` (one of :data:`PATH_KPIS`)."""
        if kpi not in PATH_KPIS:
            raise KeyError(f"unknown path KPI {kpi!r}; expected one of {PATH_KPIS}")
        return getattr(self, f"path_{kpi}")

    def link(self, kpi: str) -> np.ndarray:
        """The ``(E,)`` array of link KPI ``kpi`` (one of :data:`LINK_KPIS`)."""
        if kpi not in LINK_KPIS:
            raise KeyError(f"unknown link KPI {kpi!r}; expected one of {LINK_KPIS}")
        return getattr(self, f"link_{kpi}")


@dataclass(eq=False)
class Labels(KPIs):
    """Measured (simulated or observed) KPIs of a scenario."""


@dataclass(eq=False)
class Prediction(KPIs):
    """KPIs a model expects, with optional intervals.

    ``path_interval[kpi]`` and ``link_interval[kpi]`` map a KPI name to a
    ``(lo, hi)`` pair of arrays of the same shape as the KPI.
    """

    path_interval: dict[str, tuple[np.ndarray, np.ndarray]] = field(default_factory=dict)
    link_interval: dict[str, tuple[np.ndarray, np.ndarray]] = field(default_factory=dict)


JITTER_CV_FLOOR = 1e-3
"""A jitter label whose standard deviation is below this fraction of the mean delay is not scored."""


def informative_jitter(delay: np.ndarray, jitter: np.ndarray) -> np.ndarray:
    """``(P,)`` bool: paths whose jitter label (delay variance) can be scored in relative terms.

    True where both labels are finite and ``√jitter ≥ JITTER_CV_FLOOR · delay > 0``.
    A delay variance of (almost) zero — a lone CBR flow on an idle path, or
    the 1e-9 tu² labels of a few 2020 GNNet paths — has no usable relative
    error: any prediction is off by orders of magnitude. Training and
    evaluation leave such labels out of jitter errors and count them.

    >>> informative_jitter(np.array([1.0, 1.0, 1.0, np.nan]), np.array([1e-2, 1e-7, 0.0, 1.0])).tolist()
    [True, False, False, False]
    """
    delay = np.asarray(delay, dtype=np.float64)
    jitter = np.asarray(jitter, dtype=np.float64)
    with np.errstate(invalid="ignore"):
        return np.isfinite(jitter) & np.isfinite(delay) & (delay > 0) & (jitter > 0) & (
            jitter >= (JITTER_CV_FLOOR * delay) ** 2)
