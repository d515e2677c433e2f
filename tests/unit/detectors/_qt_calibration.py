"""A qt calibration for tests: the conformal grids of a model that is right to within a few per cent."""

from __future__ import annotations

from typing import Any

import numpy as np

from twinwatch.twin.conformal import fit_calibration, scenario_path_max_load
from twinwatch.twin.kpis import Prediction
from twinwatch.twin.scenario import Scenario

KPIS = ("delay_s", "jitter_s2", "loss_ratio")


def qt_calibration(sc: Scenario, expected: Prediction, **fit_kw: Any) -> dict[str, Any]:
    """``fit_calibration`` on 400 noisy copies of ``expected`` (qt's prediction of ``sc``): delay × e^N(0, 0.03),
    jitter × e^N(0, 0.1), loss + N(0, 1e-4) clipped to [0, 1], seeded (the same grids every call);
    ``fit_kw`` goes to :func:`~twinwatch.twin.conformal.fit_calibration` (e.g. ``min_count``)."""
    rng = np.random.default_rng(1)
    reps = 400
    load = np.tile(scenario_path_max_load(sc), reps)
    pred = {k: np.tile(np.asarray(expected.path(k), dtype=float), reps) for k in KPIS}
    obs = {"delay_s": pred["delay_s"] * np.exp(rng.normal(0, 0.03, load.size)),
           "jitter_s2": pred["jitter_s2"] * np.exp(rng.normal(0, 0.1, load.size)),
           "loss_ratio": np.clip(pred["loss_ratio"] + rng.normal(0, 1e-4, load.size), 0, 1)}
    return fit_calibration(obs, pred, load, **fit_kw)
