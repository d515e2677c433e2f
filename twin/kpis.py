"""Per-path and per-link KPIs: measured :class:`Labels` and model :class:`Prediction`.

Both hold columnar arrays aligned with a :class:`~twin.scenario.Scenario`:
path arrays are ``(P,)`` in the scenario's path order, link arrays ``(E,)`` in
its link order. A value that is not known is NaN, never a sentinel.

Units follow the scenario's ``time_unit``: delays in seconds (or dataset time
units), jitter as the *variance* of per-packet delay (s²), ratios in 0..1.

Queue occupancy (one definition for the whole project): GNNet's
``avgPortOccupancy``, the occupancy of an *equivalent* queue that gives the
same mean delay (queueing + transmission) as the port's queues, summed over
the port's queues. ``link_queue_pkts`` holds it in packets;
``link_queue_occupancy`` (the ``queue_occupancy`` KPI of the Measurement
contract, what operators' telemetry reports) is the same quantity as a ratio
of the port's buffer, 0..1 (:func:`queue_occupancy_ratio`).

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
from typing import TYPE_CHECKING, Self

import numpy as np

if TYPE_CHECKING:
    from twinwatch.twin.scenario import Scenario

__all__ = [
    "JITTER_CV_FLOOR",
    "LINK_KPIS",
    "PATH_KPIS",
    "KPIs",
    "Labels",
    "Prediction",
    "informative_jitter",
    "link_buffer_pkts",
    "queue_occupancy_ratio",
]

PATH_KPIS = ("delay_s", "jitter_s2", "loss_ratio")
"""KPIs carried per path."""

LINK_KPIS = ("utilization", "queue_occupancy", "loss_ratio")
"""KPIs carried per link (``queue_occupancy`` as a ratio of the port's buffer, 0..1)."""


@dataclass(eq=False)
class KPIs:
    """Path and link KPI arrays (see module docstring for units).

    Attributes
    ----------
    path_delay_s, path_jitter_s2, path_loss_ratio
        ``(P,)`` float.
    link_utilization, link_queue_occupancy, link_loss_ratio
        ``(E,)`` float, ratios 0..1 (``link_queue_occupancy``: of the port's buffer).
    link_queue_pkts
        ``(E,)`` float, the same occupancy in packets (GNNet's equivalent
        queue); all NaN when not given.
    """

    path_delay_s: np.ndarray
    path_jitter_s2: np.ndarray
    path_loss_ratio: np.ndarray
    link_utilization: np.ndarray
    link_queue_occupancy: np.ndarray
    link_loss_ratio: np.ndarray
    link_queue_pkts: np.ndarray = None  # type: ignore[assignment]  # filled with NaN in __post_init__

    def __post_init__(self) -> None:
        if self.link_queue_pkts is None:
            self.link_queue_pkts = np.full(np.shape(self.link_utilization), np.nan)

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
    path_out_of_domain: np.ndarray | None = None  # (P,) bool: inputs beyond the model's training range (GNN guard)


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


def link_buffer_pkts(sc: Scenario) -> np.ndarray:
    """``(E,)`` buffer of each link's output port, in packets (NaN: unbounded or unknown).

    A FIFO port has one queue: the first of ``node_queue_pkts``. A port with
    several queues (SP, WFQ, DRR) holds the sum of its given queue sizes.
    Where the buffer is given in bits (``node_buffer_bits``, the bound of
    each of the port's queues, as the simulator applies it) the port holds
    one such buffer per queue (one for FIFO, :data:`~twin.scenario.MAX_QUEUES`
    otherwise), divided by the mean packet size of the traffic routed on the
    link (bits per packet, from the flows).

    >>> from twinwatch.twin.scenario import Flow, Scenario
    >>> sc = Scenario.build(2, [(0, 1, 1e6), (1, 0, 1e6)], {(0, 1): [0, 1]}, [Flow(0, 1, 1e5, 1000.0)],
    ...                     queue_pkts=float("nan"), buffer_bits=[16000.0, 8000.0])
    >>> link_buffer_pkts(sc).tolist()  # 16000 bits / 1000-bit packets; no traffic on 1->0
    [16.0, nan]
    """
    from twinwatch.twin.scenario import MAX_QUEUES, Policy

    u = np.asarray(sc.link_src, dtype=np.int64)
    qp = np.asarray(sc.node_queue_pkts, dtype=np.float64)[u]  # (E, Q)
    fifo = np.asarray(sc.node_policy)[u] == int(Policy.FIFO)
    has = np.isfinite(qp)
    multi = np.where(has.any(axis=1), np.where(has, qp, 0.0).sum(axis=1), np.nan)
    given = np.where(fifo, qp[:, 0], multi)
    hop_rate_pkt = sc.path_pkt_rate()[sc.hop_path]
    pkt_load = np.bincount(sc.path_links, weights=hop_rate_pkt, minlength=sc.n_links)
    with np.errstate(divide="ignore", invalid="ignore"):
        mean_bits = np.where(pkt_load > 0, sc.link_load_bps() / pkt_load, np.nan)
        port_bits = np.asarray(sc.node_buffer_bits, dtype=np.float64)[u] * np.where(fifo, 1.0, MAX_QUEUES)
        from_bits = port_bits / mean_bits
    return np.where(np.isfinite(given), given, from_bits)


def queue_occupancy_ratio(sc: Scenario, occupancy_pkts: np.ndarray) -> np.ndarray:
    """``(E,)`` queue occupancy as a ratio of the port's buffer, 0..1, from packets.

    ``occupancy_pkts`` is GNNet's equivalent-queue occupancy (packets, see the
    module docstring), ``(E,)``; the buffer is :func:`link_buffer_pkts`. An
    equivalent queue longer than the buffer (the low-priority queue of an SP
    port, whose packets also wait for other queues) is a full buffer: the
    ratio is clipped to 1. Zero packets give 0 even without a known buffer;
    an unknown occupancy or an unbounded buffer gives NaN.

    >>> from twinwatch.twin.scenario import Flow, Scenario
    >>> sc = Scenario.build(2, [(0, 1, 1e6), (1, 0, 1e6)], {(0, 1): [0, 1]}, [Flow(0, 1, 1e5)], queue_pkts=32.0)
    >>> queue_occupancy_ratio(sc, np.array([8.0, 0.0])).tolist()
    [0.25, 0.0]
    >>> queue_occupancy_ratio(sc, np.array([40.0, np.nan])).tolist()
    [1.0, nan]
    """
    occ = np.asarray(occupancy_pkts, dtype=np.float64)
    buf = link_buffer_pkts(sc)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(occ == 0, 0.0, occ / np.where(buf > 0, buf, np.nan))
    return np.clip(ratio, 0.0, 1.0)
