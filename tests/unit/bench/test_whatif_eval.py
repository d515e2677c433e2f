"""bench/whatif_eval.py: its fault plans, the edits it writes for them, and one real run end to end."""

from __future__ import annotations

import itertools
import json
import subprocess
import sys
from pathlib import Path

import numpy as np

BENCH = Path(__file__).resolve().parents[3] / "bench"
sys.path.insert(0, str(BENCH))

import whatif_eval  # noqa: E402

from twinwatch.twin.netmodel import load_network  # noqa: E402

ABILENE = BENCH.parent / "twin" / "data" / "networks" / "abilene.yaml"


def test_plans_put_each_fault_on_its_own_cable_one_after_the_other() -> None:
    model = load_network(ABILENE)
    plan = whatif_eval.make_plan(model, {"link_down": 4, "capacity_degradation": 2, "metric_change": 2},
                                 np.random.default_rng(1))
    assert sorted(f["kind"] for f in plan) == ["capacity_degradation"] * 2 + ["link_down"] * 4 + ["metric_change"] * 2
    cables = {frozenset(f["entities"][0].split("->")) for f in plan}
    assert len(cables) == len(plan)
    assert all(b["start_s"] - a["end_s"] == whatif_eval.GAP_S for a, b in itertools.pairwise(plan))
    assert all(f["entities"][0] in model.link_index for f in plan)


def test_each_fault_becomes_the_edit_an_operator_would_write() -> None:
    model = load_network(ABILENE)
    e = model.link_index["CHINng->IPLSng"]
    down = whatif_eval.change_of({"kind": "link_down", "entities": ["CHINng->IPLSng"], "magnitude": 1.0}, model)
    half = whatif_eval.change_of({"kind": "capacity_degradation", "entities": ["CHINng->IPLSng"], "magnitude": 0.5},
                                 model)
    metric = whatif_eval.change_of({"kind": "metric_change", "entities": ["CHINng->IPLSng"], "magnitude": 10.0},
                                   model)
    assert str(down) == "fail CHINng<->IPLSng"
    assert half.target == "CHINng<->IPLSng" and half.value == model.link_capacity_bps[e] / 2
    assert metric.target == "CHINng->IPLSng" and metric.value == 10 * model.link_metric[e]


def test_one_cable_down_on_abilene_end_to_end(tmp_path: Path) -> None:
    out = tmp_path / "r.json"
    res = subprocess.run([sys.executable, str(BENCH / "whatif_eval.py"), "--networks", "abilene", "--loads",
                          "0.45:17", "--faults", "1,0,0", "--work", str(tmp_path / "w"), "--out", str(out)],
                         capture_output=True, text=True, timeout=600, check=False)
    assert res.returncode == 0, res.stderr[-3000:]
    doc = json.loads(out.read_text())
    (row,) = doc["rows"]
    assert row["kind"] == "link_down" and row["change"].startswith("fail ") and row["demands"] == 132
    cell = doc["pooled"]["all"]
    assert set(cell) >= {"twin", "qt", "unchanged", "igp+prop", "util_mae_pp"}
    assert cell["util_mae_pp"] < 5.0  # the routed estimate of the telemetry's matrix against the truth
    if row["affected"]:  # a rerouted demand: the twin, which routes, beats assuming nothing changes
        assert cell["twin"]["after_mape_affected_pct"] < cell["unchanged"]["after_mape_affected_pct"]
    assert set(doc["verdicts"].values()) <= {"GNN", "qt"}


def test_networks_are_shipped_names_zoo_graphs_or_files(tmp_path: Path) -> None:
    from tests.conftest import shared_data_path

    assert whatif_eval.network_file("abilene", tmp_path) == ABILENE
    assert whatif_eval.network_file(str(ABILENE), tmp_path) == ABILENE
    shared_data_path("topologies", "zoo", "Sanren.graphml")
    got = whatif_eval.network_file("zoo:Sanren", tmp_path)
    assert got == tmp_path / "Sanren.yaml" and load_network(got).n_nodes == 7
