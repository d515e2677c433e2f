"""The diamond ``a - {b, c} - d`` of 1 Gb/s cables the snapshot's telemetry-configuration tests run on
(``test_snapshot_speed``, ``test_snapshot_igp``): 0.4 Gb/s from ``a`` to ``d``, measurement rows by the second."""

from __future__ import annotations

import numpy as np

from twinwatch.twin.netmodel import NetworkModel, model_from_dict
from twinwatch.twin.snapshot import SnapshotBuilder, WindowSnapshot
from twinwatch.twin.traffic_matrix import Source, TrafficMatrix

W = 10.0
"""Window length (s)."""
T0 = 1_700_000_000.0
"""Start of window 0 (epoch s)."""


def diamond(metric: int | None = 10) -> NetworkModel:
    """The diamond; every link at IGP ``metric`` (None: auto-cost, 100 per 1 Gb/s link)."""
    links = []
    for x, y in [("a", "b"), ("a", "c"), ("b", "d"), ("c", "d")]:
        ln = {"a": {"device": x, "interface": f"to-{y}"}, "b": {"device": y, "interface": f"to-{x}"},
              "capacity_bps": "1G", "delay_s": 0.001}
        if metric is not None:
            ln["metric"] = metric
        links.append(ln)
    doc = {"version": 1, "name": "diamond", "devices": [{"name": x} for x in "abcd"], "links": links}
    return model_from_dict(doc, source="diamond")


def traffic(model: NetworkModel, k: int = 0) -> TrafficMatrix:
    """Window ``k``'s matrix: 0.4 Gb/s from a to d."""
    tm = np.zeros((3, model.n_nodes, model.n_nodes))
    tm[0, model.node_index["a"], model.node_index["d"]] = 4e8
    return TrafficMatrix.build(tm, source=Source.FLOWS, start=T0 + k * W, end=T0 + (k + 1) * W)


def rows(rows: list[tuple[float, str, str, float]]) -> dict[str, list[object]]:
    """(seconds into the window series, link id, KPI, value) → Measurement columns."""
    if not rows:
        return {"ts": [], "entity_kind": [], "entity_id": [], "kpi": [], "value": []}
    t, ident, kpi, value = zip(*rows, strict=True)
    return {"ts": [T0 + x for x in t], "entity_kind": ["link"] * len(t), "entity_id": list(ident),
            "kpi": list(kpi), "value": list(value)}


def build(b: SnapshotBuilder, k: int, measured: list[tuple[float, str, str, float]]) -> WindowSnapshot:
    """Window ``k`` of builder ``b`` with the rows ``measured``."""
    return b.build(T0 + k * W, T0 + (k + 1) * W, rows(measured), traffic=traffic(b.model, k))


def paths(snap: WindowSnapshot, model: NetworkModel) -> list[list[str]]:
    """The node names of each of the window's scenario paths, sorted."""
    sc, names = snap.scenario, model.node_names
    return sorted([names[n] for n in sc.path_nodes(p)] for p in range(sc.n_paths))
