"""bench/plan_eval.py: its matrices, and one real run end to end (plan, simulator, twins)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np

BENCH = Path(__file__).resolve().parents[3] / "bench"
sys.path.insert(0, str(BENCH))

import plan_eval  # noqa: E402

from twinwatch.twin.netmodel import load_network  # noqa: E402
from twinwatch.twin.plan import matrix_from_array, worst_loads  # noqa: E402

NSFNET = BENCH.parent / "twin" / "data" / "networks" / "nsfnet.yaml"


def test_the_matrix_puts_three_in_four_links_at_or_under_the_load_asked() -> None:
    model = load_network(NSFNET)
    tm = plan_eval.gravity(model, 0.4, 7)
    util = worst_loads(model, matrix_from_array(tm), []).intact_load_bps / model.link_capacity_bps
    assert abs(np.quantile(util, 0.75) - 0.4) < 1e-9
    assert np.diag(tm).sum() == 0 and (tm >= 0).all()
    assert not np.array_equal(tm, plan_eval.gravity(model, 0.4, 8))


def test_one_network_end_to_end_the_plan_holds_in_the_simulator(tmp_path: Path) -> None:
    out = tmp_path / "p.json"
    res = subprocess.run([sys.executable, str(BENCH / "plan_eval.py"), "--networks", "nsfnet", "--seed", "4819",
                          "--scenarios", "1", "--models", "qt", "--growth", "2", "--out", str(out)],
                         capture_output=True, text=True, timeout=600, check=False)
    assert res.returncode == 0, res.stderr[-2000:]
    doc = json.loads(out.read_text())
    (row,) = doc["networks"]
    assert row["network"] == "nsfnet" and row["cables_upgraded"] > 0 and len(row["scenarios"]) == 2
    assert doc["plan_holds_everywhere"] and all(s["links_losing"] == 0 for s in row["planned"])
    assert row["twins"]["qt"]["queueing_paths"] > 0 and doc["pooled"]["qt"]["queueing_mape"] >= 0
