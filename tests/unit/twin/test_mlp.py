"""The per-path MLP baseline: features, fit, save/load, predict."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from tests.unit.twin._gnn_toy import examples, ring
from twinwatch.twin.features import scenario_graph
from twinwatch.twin.models.mlp import MLPModel, fit_mlp, load_mlp, path_features


def test_path_features_shape_and_time_scale() -> None:
    sc = ring(5, seed=1)
    x, tau = path_features(scenario_graph(sc))
    assert x.shape[0] == sc.n_paths and np.isfinite(x).all()
    size = sc.flow_pkt_size_bits  # one flow per path, in path order
    assert (tau > 0).all() and tau.shape == (sc.n_paths,)
    assert tau.min() >= (size / sc.link_capacity_bps.max()).min() * 0.5


def test_fit_save_load_predict(tmp_path: Path) -> None:
    res = fit_mlp(examples(4), examples(2, seed=7), tmp_path, epochs=3, hidden=8, batch=16)
    assert np.isfinite(res["best_val_delay_mape"])
    model = load_mlp(str(tmp_path))
    assert isinstance(model, MLPModel) and model.name == "mlp"
    sc = ring(6, seed=3)
    pr = model.predict(sc)
    assert pr.path_delay_s.shape == (sc.n_paths,) and (pr.path_delay_s > 0).all()
    assert ((pr.path_loss_ratio >= 0) & (pr.path_loss_ratio <= 1)).all()
