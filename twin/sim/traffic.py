"""Traffic set-up for the simulator: per-flow arrival and packet-size parameters.

The per-packet draws happen inside the numba kernel
(:func:`twinwatch.twin.sim._kernels._next_gen`, :func:`twinwatch.twin.sim._kernels._draw_size`);
this module turns a :class:`~twin.scenario.Scenario`'s flow columns into the
arrays those draws read, and offers :func:`sample_flow` to draw a flow's
arrival times and sizes on their own (used by the tests and for inspection).

Arrival models (``flow_time_dist``, :class:`~twin.scenario.TimeDist`):

- ``POISSON``: exponential inter-arrival times, mean ``1 / flow_pkt_rate``.
- ``CBR``: constant inter-arrival ``1 / flow_pkt_rate``, random initial phase.
- ``ONOFF``: exponential ON and OFF periods (means ``flow_on_s``,
  ``flow_off_s``); while ON, packets at ``rate × (on + off) / on``
  (GNNet's ``PktsLambdaOn``) so that the nominal mean rate is
  ``flow_pkt_rate``. ``onoff_mode`` (see :class:`twinwatch.twin.sim.SimConfig`) picks how
  the ON packets are spaced; the default (3) sends a packet when an ON period
  opens and then the ticks of a constant-rate grid, which makes the measured
  rate ``flow_pkt_rate + 1 / (on + off)``: exactly what the GNNet 2022
  samples show (their ``PktsGen`` / that formula = 1.002 ± 0.012 over 802
  ON-OFF flows of one sample).
- ``UNIFORM``: inter-arrival uniform on ``[0, 2 / rate]``; ``NORMAL``: normal
  with mean ``1 / rate`` and sd ``0.1 / rate``, truncated above 0; ``PPBP``:
  falls back to Poisson. The scenario carries no further parameters for these
  three, so they are approximations (none occurs in the shared GNNet samples
  we validate against).

Packet sizes (``flow_size_dist``, :class:`~twin.scenario.SizeDist`):
``UNIFORM`` draws uniformly between the first two size candidates; every other
code draws from the discrete candidates ``flow_sizes_bits`` with probabilities
``flow_size_probs``.

Examples
--------
>>> from twinwatch.twin.scenario import Flow, Scenario, TimeDist
>>> sc = Scenario.build(2, [(0, 1, 1e4)], {(0, 1): [0, 1]},
...                     [Flow(0, 1, 1000.0, pkt_size_bits=1000.0, time_dist=TimeDist.CBR)])
>>> t, s = sample_flow(sc, 0, 4, seed=1)
>>> np.diff(t).round(6).tolist(), s.tolist()
([1.0, 1.0, 1.0], [1000.0, 1000.0, 1000.0, 1000.0])
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from twinwatch.twin.scenario import Scenario, ScenarioError, TimeDist

__all__ = ["FlowArrays", "flow_arrays", "flow_queue", "sample_flow"]


@dataclass(frozen=True, slots=True)
class FlowArrays:
    """Kernel-ready per-flow arrays.

    Shapes: ``(F,)`` for all but ``sizes`` and ``cdf``, which are ``(F, S)``.
    """

    time_dist: np.ndarray  # int64 TimeDist codes
    pkt_rate: np.ndarray  # packets per time unit
    on_mean: np.ndarray  # ON mean (time units), 1.0 where unused
    off_mean: np.ndarray  # OFF mean (time units), 1.0 where unused
    size_dist: np.ndarray  # int64 SizeDist codes
    sizes: np.ndarray  # bits, NaN padding replaced by the last valid size
    cdf: np.ndarray  # cumulative probabilities, last column forced to 1
    min_size: np.ndarray  # smallest possible packet (bits)
    max_size: np.ndarray  # largest possible packet (bits)


def flow_arrays(sc: Scenario) -> FlowArrays:
    """Validate and convert ``sc``'s flow columns for the kernel.

    Raises :class:`~twin.scenario.ScenarioError` naming the flow when a flow
    with traffic has no usable packet size or ON-OFF parameters.
    """
    probs = np.where(np.isfinite(sc.flow_sizes_bits), sc.flow_size_probs, 0.0)
    tot = probs.sum(axis=1)
    active = sc.flow_pkt_rate > 0
    bad = np.flatnonzero(active & ~(tot > 0))
    if bad.size:
        i = int(bad[0])
        raise ScenarioError(f"flow {i}: no packet size with positive probability; fill flow_sizes_bits/size_probs")
    cdf = np.cumsum(probs / np.where(tot > 0, tot, 1.0)[:, None], axis=1)
    cdf[:, -1] = 1.0
    sizes = sc.flow_sizes_bits.copy()
    # pad NaN candidates with the last valid one so a rounding slip in the CDF cannot pick NaN
    for k in range(1, sizes.shape[1]):
        sizes[:, k] = np.where(np.isfinite(sizes[:, k]) & (probs[:, k] > 0), sizes[:, k], sizes[:, k - 1])
    valid = np.where(probs > 0, sc.flow_sizes_bits, np.nan)
    with np.errstate(all="ignore"):
        min_size = np.where(active, np.nanmin(np.where(active[:, None], valid, 1.0), axis=1), np.nan)
        max_size = np.where(active, np.nanmax(np.where(active[:, None], valid, 1.0), axis=1), np.nan)
    td = sc.flow_time_dist.astype(np.int64)
    onoff = td == int(TimeDist.ONOFF)
    bad = np.flatnonzero(active & onoff & ~((sc.flow_on_s > 0) & (sc.flow_off_s >= 0)))
    if bad.size:
        i = int(bad[0])
        raise ScenarioError(
            f"flow {i} is ON-OFF but has on_s={sc.flow_on_s[i]!r}, off_s={sc.flow_off_s[i]!r}; "
            "need on_s > 0 and off_s >= 0"
        )
    bad = np.flatnonzero(active & ~(min_size > 0))
    if bad.size:
        raise ScenarioError(f"flow {int(bad[0])}: packet sizes must be > 0 bits")
    return FlowArrays(
        time_dist=td,
        pkt_rate=np.where(active, sc.flow_pkt_rate, 0.0).astype(np.float64),
        on_mean=np.where(onoff, sc.flow_on_s, 1.0).astype(np.float64),
        off_mean=np.where(onoff, sc.flow_off_s, 1.0).astype(np.float64),
        size_dist=sc.flow_size_dist.astype(np.int64),
        sizes=np.nan_to_num(sizes, nan=1.0),
        cdf=cdf,
        min_size=min_size,
        max_size=max_size,
    )


def flow_queue(sc: Scenario) -> np.ndarray:
    """``(F,)`` int64 queue of each flow at a multi-queue port: ToS ``k`` → queue ``k``."""
    return sc.flow_tos.astype(np.int64)


def sample_flow(
    sc: Scenario, flow: int, n: int, seed: int = 0, onoff_mode: int = 3
) -> tuple[np.ndarray, np.ndarray]:
    """Draw ``n`` arrival times and packet sizes of flow ``flow`` alone.

    Returns ``(times, sizes_bits)``, both ``(n,)``, times in the scenario's unit.
    """
    from twinwatch.twin.sim import _kernels as k

    fa = flow_arrays(sc)
    if not fa.pkt_rate[flow] > 0:
        raise ScenarioError(f"flow {flow} has no traffic (rate 0)")
    k.seed(seed)
    on_end = np.zeros(sc.n_flows)
    phase = np.zeros(sc.n_flows, dtype=np.int64)
    first = np.empty(sc.n_flows)
    k.first_gen(fa.time_dist, fa.pkt_rate, fa.on_mean, fa.off_mean, on_end, phase, onoff_mode, first)
    return k.sample_flow(flow, n, first[flow], fa.time_dist, fa.pkt_rate, fa.on_mean, fa.off_mean, on_end,
                         phase, onoff_mode,
                         fa.size_dist, fa.sizes, fa.cdf)

