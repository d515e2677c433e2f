"""The packet-level simulator as a twin model (registry name ``"sim"``).

:class:`SimulatorModel` simulates each scenario with :func:`twinwatch.twin.sim.simulate`
and reports the measured KPIs as a :class:`~twin.kpis.Prediction`. Mean delay
carries its 95 % batch-means confidence interval as ``path_interval["delay_s"]``.

Examples
--------
>>> from twinwatch.twin.scenario import Flow, Scenario
>>> sc = Scenario.build(2, [(0, 1, 1e4)], {(0, 1): [0, 1]}, [Flow(0, 1, 3e3, pkt_size_bits=1000.0)])
>>> pred = SimulatorModel(seed=3, target_rse=0.05).predict(sc)
>>> lo, hi = pred.path_interval["delay_s"]
>>> bool(lo[0] < pred.path_delay_s[0] < hi[0]), round(float(pred.link_utilization[0]), 1)
(True, 0.3)
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable
from dataclasses import replace

import numpy as np

from twinwatch.twin.kpis import Prediction
from twinwatch.twin.models.bounds import NotMeasuredWarning
from twinwatch.twin.scenario import Scenario
from twinwatch.twin.sim.engine import SimConfig, SimResult, simulate

__all__ = ["SimulatorModel"]


class SimulatorModel:
    """KPI model that runs the simulator on every scenario.

    Parameters
    ----------
    config
        Full :class:`SimConfig`; the keyword options below override its fields.
    seed, target_rse, max_packets, min_packets, max_time
        Shortcuts for the :class:`SimConfig` fields of the same name (the
        registry passes CLI options this way). With a fixed ``seed`` the
        ``i``-th scenario of :meth:`predict_many` uses ``seed + i``.
    """

    name = "sim"

    def __init__(
        self,
        config: SimConfig | None = None,
        *,
        seed: int | None = None,
        target_rse: float | None = None,
        max_packets: int | None = None,
        min_packets: int | None = None,
        max_time: float | None = None,
    ) -> None:
        self.config = config
        self.seed = seed
        self.target_rse = target_rse
        self.max_packets = max_packets
        self.min_packets = min_packets
        self.max_time = max_time
        over = {
            k: v
            for k, v in {
                "seed": seed,
                "target_rse": target_rse,
                "max_packets": max_packets,
                "min_packets": min_packets,
                "max_time": max_time,
            }.items()
            if v is not None
        }
        self._config = replace(config or SimConfig(), **over)
        self.last_result: SimResult | None = None

    def simulate(self, scenario: Scenario, offset: int = 0) -> SimResult:
        """Run the simulator on ``scenario`` (seed shifted by ``offset``)."""
        cfg = self._config
        if cfg.seed is not None and offset:
            cfg = replace(cfg, seed=cfg.seed + offset)
        res = simulate(scenario, cfg)
        self.last_result = res
        return res

    def predict(self, scenario: Scenario) -> Prediction:
        """Simulated KPIs of ``scenario`` (its time unit), with delay CIs.

        A path that delivered fewer than 2 packets has no measured jitter (and
        none: no delay); such KPIs stay NaN and one
        :class:`~twin.models.bounds.NotMeasuredWarning` counts them.
        """
        return _to_prediction(self.simulate(scenario))

    def predict_many(self, scenarios: Iterable[Scenario]) -> list[Prediction]:
        """:meth:`predict` over ``scenarios``; seeds ``seed, seed + 1, ...`` when seeded."""
        return [_to_prediction(self.simulate(sc, i)) for i, sc in enumerate(scenarios)]


def _warn_unmeasured(res: SimResult) -> None:
    """One counted warning for the paths whose delay or jitter the run could not measure."""
    n = np.asarray(res.path_packets)
    if n.size != res.labels.path_delay_s.size:
        return
    no_delay = int((n < 1).sum())
    no_jitter = int((n < 2).sum())
    if no_jitter:
        warnings.warn(
            f"sim: jitter not measured on {no_jitter} of {n.size} paths (delay not measured on {no_delay}): fewer "
            f"than 2 packets delivered on them within the simulated time ({res.packets_generated:,} packets "
            "generated); they are null. Raise max_packets / min_packets, or the rates of those paths.",
            NotMeasuredWarning, stacklevel=3)


def _to_prediction(res: SimResult) -> Prediction:
    _warn_unmeasured(res)
    lab = res.labels
    ci = np.where(np.isfinite(res.path_delay_ci), res.path_delay_ci, np.nan)
    return Prediction(
        path_delay_s=lab.path_delay_s,
        path_jitter_s2=lab.path_jitter_s2,
        path_loss_ratio=lab.path_loss_ratio,
        link_utilization=lab.link_utilization,
        link_queue_occupancy=lab.link_queue_occupancy,
        link_queue_pkts=lab.link_queue_pkts,
        link_loss_ratio=lab.link_loss_ratio,
        path_interval={"delay_s": (lab.path_delay_s - ci, lab.path_delay_s + ci)},
    )
