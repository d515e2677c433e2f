"""Training loop on toy data: it learns, checkpoints, resumes and calibrates."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from tests.unit.twin._gnn_toy import examples
from twinwatch.twin.models.gnn import GNNModel
from twinwatch.twin.train import TrainConfig, calibrate_heldout, cosine_lr, evaluate_examples, make_batches, train

ARCH = {"hidden": 8, "iterations": 1, "readout_hidden": 8}


def _cfg(**kw: object) -> TrainConfig:
    base = {"epochs": 3, "lr": 5e-3, "seed": 0, "batch_paths": 40, "batch_size": 2, "time_budget_min": 5.0,
            "patience": 5, "threads": 1, "architecture": ARCH}
    base.update(kw)
    return TrainConfig(**base)  # type: ignore[arg-type]


def test_train_writes_checkpoint_and_improves(tmp_path: Path) -> None:
    tr, va = examples(4, seed=0), examples(2, seed=10)
    res = train(tr, va, tmp_path, _cfg(epochs=4))
    assert (tmp_path / "model.safetensors").is_file() and (tmp_path / "resume.pt").is_file()
    cfg = json.loads((tmp_path / "config.json").read_text())
    assert cfg["kind"] == "gnn" and cfg["architecture"]["iterations"] == 1
    assert len(cfg["training"]["history"]) == res["epochs_run"]
    assert set(cfg["calibration"]) == {"delay_s", "jitter_s2", "loss_ratio"}
    model = GNNModel.load(tmp_path)
    assert evaluate_examples(model.net, va, model.stats)["delay_mape"] == pytest.approx(res["best_val_delay_mape"])


def test_resume_continues(tmp_path: Path) -> None:
    tr, va = examples(3, seed=0), examples(1, seed=10)
    train(tr, va, tmp_path, _cfg(epochs=2))
    hist1 = json.loads((tmp_path / "config.json").read_text())["training"]["history"]
    train(tr, va, tmp_path, _cfg(epochs=3), resume=True)
    hist2 = json.loads((tmp_path / "config.json").read_text())["training"]["history"]
    assert [h["epoch"] for h in hist1] == [0, 1]
    assert [h["epoch"] for h in hist2] == [2]
    st = torch.load(tmp_path / "resume.pt", weights_only=True)
    assert int(st["epoch"]) == 2


def test_same_seed_same_result(tmp_path: Path) -> None:
    tr, va = examples(2, seed=0), examples(1, seed=10)
    a = train(tr, va, tmp_path / "a", _cfg(epochs=1))
    b = train(tr, va, tmp_path / "b", _cfg(epochs=1))
    assert a["best_val_delay_mape"] == pytest.approx(b["best_val_delay_mape"], rel=1e-6)


def test_empty_sets_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="training set is empty"):
        train([], examples(1), tmp_path, _cfg())
    with pytest.raises(ValueError, match="validation set is empty"):
        train(examples(1), [], tmp_path, _cfg())


def test_make_batches_limits() -> None:
    ex = examples(6)
    batches = make_batches(ex, batch_paths=30, batch_size=2, rng=np.random.default_rng(0))
    assert sorted(i for b in batches for i in b) == list(range(6))
    assert all(len(b) <= 2 for b in batches)
    assert all(sum(ex[i].graph.n_paths for i in b) <= 30 or len(b) == 1 for b in batches)


def test_cosine_lr_ends_low() -> None:
    assert cosine_lr(1.0, 0.0, 0.0) == 1.0
    assert cosine_lr(1.0, 1.0, 0.0) == pytest.approx(0.03)
    assert cosine_lr(1.0, 0.0, 2.0) == pytest.approx(0.03)


def test_train_stores_the_calibration_twin_calibrate_would_with_its_pvalue_grids(tmp_path: Path) -> None:
    """What ``twin train`` writes is what ``twin calibrate`` on its validation set writes: interval quantiles
    and the grids the detectors compute p-values from (so a freshly trained twin pages from its first window)."""
    from twinwatch.twin.conformal import has_grid, pvalue

    val = examples(2, seed=9)
    train(examples(3, seed=0), val, tmp_path, _cfg(epochs=1))
    model = GNNModel.load(tmp_path)
    stored = json.loads((tmp_path / "config.json").read_text())["calibration"]
    assert stored == json.loads(json.dumps(calibrate_heldout(model.net, val, model.stats, coverage=0.9)))
    assert all(has_grid(stored, kpi) for kpi in ("delay_s", "jitter_s2"))
    ex = val[0]
    p_same = pvalue(ex.delay, ex.delay, None, stored, "delay_s")
    p_slow = pvalue(ex.delay * 3.0, ex.delay, None, stored, "delay_s")
    assert p_slow.shape == ex.delay.shape and np.all((p_slow > 0) & (p_slow <= 1))
    assert np.all(p_slow <= p_same) and p_slow.mean() < p_same.mean()


def test_conformal_coverage_on_calibration_set(tmp_path: Path) -> None:
    tr = examples(3, seed=0)
    train(tr, examples(1, seed=9), tmp_path, _cfg(epochs=1))
    model = GNNModel.load(tmp_path)
    cal_set = examples(6, seed=20)
    cal = calibrate_heldout(model.net, cal_set, model.stats, coverage=0.8)
    from twinwatch.twin.conformal import interval, path_max_load, regime_bins
    from twinwatch.twin.train import predict_examples

    p = predict_examples(model.net, cal_set, model.stats)
    y = np.concatenate([e.delay for e in cal_set])
    load = np.concatenate([path_max_load(e.graph) for e in cal_set])
    lo, hi = interval(p["delay"], cal["delay_s"], load)
    inside = (y >= lo) & (y <= hi)
    assert inside.mean() >= 0.8
    bins = regime_bins(load)
    for k, n in enumerate(cal["delay_s"]["n"]):  # coverage holds in every bin that got its own quantiles
        if n >= 200:
            assert inside[bins == k].mean() >= 0.8


def test_cli_train_on_shared_data(shared_data: Path, tmp_path: Path) -> None:
    """``twinwatch twin train`` end to end on the 2021 set (tiny model, one epoch)."""
    from click.testing import CliRunner

    from twinwatch.stream.commands.twin_train import train as train_cmd

    d = shared_data / "gnnet" / "2021"
    out = tmp_path / "model"
    args = ["--train", str(d / "train"), "--val", str(d / "validation"), "--out", str(out), "--epochs", "1",
            "--hidden", "4", "--iterations", "1", "--threads", "1", "--batch-paths", "20000"]
    res = CliRunner().invoke(train_cmd, args)
    assert res.exit_code == 0, res.output
    cfg = json.loads((out / "config.json").read_text())
    assert cfg["training"]["data"]["train"] == [str(d / "train")]
    assert GNNModel.load(out).net.config.hidden == 4
    same = CliRunner().invoke(train_cmd, ["--train", str(d / "train"), "--val", str(d / "train"), "--out", str(out)])
    assert same.exit_code == 2 and "keep validation apart" in same.output


def test_jitter_loss_terms_differ_on_over_prediction() -> None:
    from twinwatch.twin.train import loss_fn

    y = {"delay": torch.ones(2), "jitter": torch.tensor([1.0, 1.0]), "loss": torch.zeros(2)}
    out = {"path_delay": torch.ones(2), "path_loss": torch.zeros(2)}
    # 100x over vs 100x under: symmetric in log, 99 vs 0.99 in relative terms
    over = {**out, "path_jitter": torch.tensor([100.0, 100.0])}
    under = {**out, "path_jitter": torch.tensor([0.01, 0.01])}
    assert float(loss_fn(over, y, "log")) == pytest.approx(float(loss_fn(under, y, "log")))
    assert float(loss_fn(over, y, "mape")) == pytest.approx(0.5 * 99.0)
    assert float(loss_fn(under, y, "mape")) == pytest.approx(0.5 * 0.99)


def test_jitter_loss_is_recorded_and_checked(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="jitter_loss must be 'log' or 'mape'"):
        _cfg(jitter_loss="huber")
    train(examples(2, seed=0), examples(1, seed=10), tmp_path, _cfg(epochs=1, jitter_loss="mape"))
    cfg = json.loads((tmp_path / "config.json").read_text())
    assert cfg["training"]["config"]["jitter_loss"] == "mape"


def test_mape_jitter_objective_selects_on_its_own_terms(tmp_path: Path) -> None:
    from twinwatch.twin.train import selection_figure

    res = train(examples(2, seed=0), examples(1, seed=10), tmp_path, _cfg(epochs=2, jitter_loss="mape"))
    hist = {h["epoch"]: h for h in json.loads((tmp_path / "config.json").read_text())["training"]["history"]}
    kept = hist[res["best_epoch"]]
    assert res["best_val_selection"] == pytest.approx(selection_figure(kept, "mape"))
    assert res["best_val_selection"] == pytest.approx(kept["queue_mape"] + 0.5 * kept["jitter_mape"])
    assert res["best_val_queue_mape"] == pytest.approx(kept["queue_mape"])
    assert res["best_val_selection"] == min(selection_figure(h, "mape") for h in hist.values())


def test_queue_selection_ignores_the_jitter_term(tmp_path: Path) -> None:
    from twinwatch.twin.train import selection_figure

    with pytest.raises(ValueError, match="select must be 'objective' or 'queue'"):
        _cfg(select="jitter")
    res = train(examples(2, seed=0), examples(1, seed=10), tmp_path, _cfg(epochs=3, jitter_loss="mape",
                                                                          select="queue"))
    cfg = json.loads((tmp_path / "config.json").read_text())
    assert cfg["training"]["config"]["select"] == "queue"
    hist = {h["epoch"]: h for h in cfg["training"]["history"]}
    assert res["best_val_selection"] == pytest.approx(hist[res["best_epoch"]]["queue_mape"])
    assert res["best_val_selection"] == min(h["queue_mape"] for h in hist.values())
    assert all(selection_figure(h, "mape", "queue") == h["queue_mape"] for h in hist.values())
