"""Regression test of the shipped GNN checkpoint against its published accuracy.

BENCHMARKS.md ("Twin: GNN vs MLP vs queueing theory") publishes, for the
shipped checkpoint, 0.88 % delay MAPE / 2.3 % jitter MAPE / 0.0001 loss MAE on
GNNet 2021 validation (all 50 samples, 30 nodes; the set used for early
stopping and calibration) and 2.34 % / 9.6 % on 2022 validation 130 nodes
(held out: no model saw topologies that large). The thresholds below leave
room for numerical noise and a re-trained checkpoint of the same quality
(about 1.7× the published figure) but fail on a broken checkpoint, a feature
pipeline change that shifts the inputs, or a reader that misaligns labels:
those move the delay error by whole percents (the queueing-theory baseline
scores 1.35 % / 9.2 % on the same sets, an untrained network tens of percent).

Scoring is the project's own harness (:func:`twinwatch.twin.evaluate.evaluate`), the
one that produced the published figures. About 20 s on a loaded 2-core box.
"""

from __future__ import annotations

import pytest

from tests.conftest import shared_data_path
from twinwatch.twin.evaluate import evaluate
from twinwatch.twin.models.gnn import DEFAULT_CHECKPOINT, GNNModel, load_gnn

pytestmark = [pytest.mark.shared, pytest.mark.slow]


@pytest.fixture(scope="module")
def shipped() -> GNNModel:
    if not (DEFAULT_CHECKPOINT / "model.safetensors").is_file():
        pytest.fail(f"the shipped checkpoint {DEFAULT_CHECKPOINT} is missing; train it (bench/notes/gnn.md)")
    import torch

    torch.set_num_threads(1)
    return load_gnn(None)


def test_2021_validation_matches_published_figure(shipped: GNNModel) -> None:
    root = shared_data_path("gnnet", "2021", "validation")
    r = evaluate(shipped, root).overall
    assert r.samples == 50 and r.nan_predictions == 0
    assert r.delay_mape <= 1.5, f"delay MAPE {r.delay_mape:.2f} % (published 0.89 %)"
    assert r.jitter_mape <= 4.0, f"jitter MAPE {r.jitter_mape:.2f} % (published 2.3 %)"
    assert r.loss_mae <= 5e-4, f"loss MAE {r.loss_mae:.5f} (published 0.00007)"


def test_2022_held_out_130_nodes_within_published_range(shipped: GNNModel) -> None:
    root = shared_data_path("gnnet", "2022", "validation", "130")
    r = evaluate(shipped, root, limit=4).overall  # 1.98 % / 7.3 % measured on these 4 (the first 2 alone: 3.2 %)
    assert r.samples == 4 and r.paths > 60_000 and r.nan_predictions == 0
    assert r.delay_mape <= 3.5, f"delay MAPE {r.delay_mape:.2f} % on 4 samples (published 2.24 % on all 130-node ones)"
    assert r.jitter_mape <= 13.0, f"jitter MAPE {r.jitter_mape:.2f} % (published 8.7 %)"
