"""The simulator as the registry model ``"sim"``."""

from __future__ import annotations

import numpy as np

from twinwatch.twin.kpis import Prediction
from twinwatch.twin.scenario import Flow, Scenario
from twinwatch.twin.sim.model import SimulatorModel


def _sc(rate: float) -> Scenario:
    return Scenario.build(2, [(0, 1, 1e4)], {(0, 1): [0, 1]}, [Flow(0, 1, rate, pkt_size_bits=1000.0)])


def test_predict_returns_prediction_with_delay_interval() -> None:
    pred = SimulatorModel(seed=1, target_rse=0.02).predict(_sc(5e3))
    assert isinstance(pred, Prediction)
    lo, hi = pred.path_interval["delay_s"]
    assert lo[0] < pred.path_delay_s[0] < hi[0]
    assert abs(pred.path_delay_s[0] / 0.15 - 1) < 0.05  # M/D/1


def test_options_are_stored_and_predict_many_shifts_seeds() -> None:
    m = SimulatorModel(seed=7, max_packets=40_000, target_rse=0.0)
    assert (m.seed, m.max_packets, m.target_rse) == (7, 40_000, 0.0)
    a, b = m.predict_many([_sc(5e3), _sc(5e3)])
    assert not np.array_equal(a.path_delay_s, b.path_delay_s)
    assert m.last_result is not None and m.last_result.packets_generated == 40_000


def test_registry_builds_the_simulator() -> None:
    from twinwatch.twin.models import get_model

    m = get_model("sim", seed=3, target_rse=0.05)
    assert m.name == "sim"
    assert np.isfinite(m.predict(_sc(3e3)).path_delay_s).all()
