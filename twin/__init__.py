"""twin: the network digital twin.

Contract: a :class:`Scenario` (topology + routing + traffic, columnar) goes in;
a :class:`Prediction` (per-path delay, jitter, loss; per-link utilisation,
queue occupancy, loss; optional intervals) comes out. Dataset readers, the
packet-level simulator, the queueing-theory baseline and the GNN all speak these
types. Nothing here knows about Kafka or alerts.
"""

from __future__ import annotations

import importlib
from typing import Any

from twinwatch.twin.kpis import LINK_KPIS, PATH_KPIS, KPIs, Labels, Prediction
from twinwatch.twin.scenario import MAX_QUEUES, MAX_SIZES, Flow, Policy, Scenario, ScenarioError, SizeDist, TimeDist

__all__ = [
    "LINK_KPIS",
    "MAX_QUEUES",
    "MAX_SIZES",
    "PATH_KPIS",
    "Flow",
    "GNNModel",
    "KPIs",
    "Labels",
    "LinkUpdate",
    "PathGRU",
    "Policy",
    "Prediction",
    "QueueUpdate",
    "QueueingModel",
    "RouteNetFermi",
    "Scenario",
    "ScenarioError",
    "SimConfig",
    "SimResult",
    "SizeDist",
    "TimeDist",
    "simulate",
]

# heavy parts (torch, numba) load on first access, so ``import twin`` stays cheap
_LAZY: dict[str, str] = {
    "RouteNetFermi": "twinwatch.twin.models.gnn",
    "GNNModel": "twinwatch.twin.models.gnn",
    "PathGRU": "twinwatch.twin.models.gnn",
    "QueueUpdate": "twinwatch.twin.models.gnn",
    "LinkUpdate": "twinwatch.twin.models.gnn",
    "QueueingModel": "twinwatch.twin.models.qt",
    "SimConfig": "twinwatch.twin.sim.engine",
    "SimResult": "twinwatch.twin.sim.engine",
    "simulate": "twinwatch.twin.sim.engine",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'twin' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
