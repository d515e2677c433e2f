"""twin: the network digital twin.

Contract: a :class:`Scenario` (topology + routing + traffic, columnar) goes in;
a :class:`Prediction` (per-path delay, jitter, loss; per-link utilisation,
queue occupancy, loss; optional intervals) comes out. Dataset readers, the
packet-level simulator, the queueing-theory baseline and the GNN all speak these
types. Nothing here knows about Kafka or alerts.
"""

from __future__ import annotations

from twin.kpis import LINK_KPIS, PATH_KPIS, KPIs, Labels, Prediction
from twin.scenario import MAX_QUEUES, MAX_SIZES, Flow, Policy, Scenario, ScenarioError, SizeDist, TimeDist

__all__ = [
    "LINK_KPIS",
    "MAX_QUEUES",
    "MAX_SIZES",
    "PATH_KPIS",
    "Flow",
    "KPIs",
    "Labels",
    "Policy",
    "Prediction",
    "Scenario",
    "ScenarioError",
    "SizeDist",
    "TimeDist",
]
