"""twinwatch.twin.sim: packet-level discrete-event network simulator.

Contract: :func:`simulate` takes a :class:`~twin.scenario.Scenario` and a
:class:`SimConfig` and returns a :class:`SimResult` whose ``labels`` are
:class:`~twin.kpis.Labels` (per-path mean delay, delay variance, loss; per-link
utilisation, queue occupancy, loss) with batch-means confidence intervals.
:class:`SimulatorModel` wraps it as the twin model registered as ``"sim"``.
The hot loop is a numba kernel (:mod:`twinwatch.twin.sim._kernels`).
"""

from __future__ import annotations

from twinwatch.twin.sim.engine import SimConfig, SimResult, simulate, simulate_many

__all__ = ["SimConfig", "SimResult", "SimulatorModel", "simulate", "simulate_many"]


def __getattr__(name: str) -> object:
    if name == "SimulatorModel":
        from twinwatch.twin.sim.model import SimulatorModel

        return SimulatorModel
    raise AttributeError(f"module 'twinwatch.twin.sim' has no attribute {name!r}")
