"""``twinwatch twin finetune`` on a tiny simulated dataset: a loadable model and an honest before/after report."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from twinwatch.stream.cli import cli
from twinwatch.twin.models.gnn import GNNModel
from twinwatch.twin.sim.dataset import TopologySpec, generate_dataset
from twinwatch.twin.sim.engine import SimConfig
from twinwatch.twin.train import TrainConfig, load_examples, train


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """Four simulated 5–7-node samples, and a small hybrid checkpoint trained for one epoch on three of them."""
    root = tmp_path_factory.mktemp("ft")
    data = root / "data"
    generate_dataset(data, n_samples=4, topology=TopologySpec(kind="random", nodes=(5, 7)),
                     sim=SimConfig(min_packets=2_000, max_packets=6_000), seed=3, workers=1, progress=False)
    ex = load_examples([data], qt_prior=True)
    base = root / "base"
    cfg = TrainConfig(epochs=1, lr=5e-3, seed=0, batch_paths=400, batch_size=2, time_budget_min=2.0, patience=2,
                      threads=1, architecture={"hidden": 8, "iterations": 2, "readout_hidden": 8, "hybrid": True})
    train(ex[:3], ex[3:], base, cfg)
    return data, base


def test_finetune_writes_model_and_report(tiny: tuple[Path, Path], tmp_path: Path) -> None:
    data, base = tiny
    out, rep = tmp_path / "model", tmp_path / "report.json"
    res = CliRunner().invoke(cli, ["twin", "finetune", "--data", str(data), "--out", str(out), "--from", str(base),
                                   "--minutes", "0.5", "--val-fraction", "0.25", "--threads", "1", "--json", str(rep),
                                   "--no-progress"])
    assert res.exit_code == 0, res.output
    assert "queueing-part MAPE %" in res.output and "fine-tuned" in res.output  # the table, even with --no-progress
    report = json.loads(rep.read_text())
    assert report == json.loads((out / "finetune_report.json").read_text())
    assert (report["n_train"], report["n_val"]) == (3, 1)
    for side in ("before", "after", "qt"):
        assert set(report[side]) >= {"delay_mape", "queue_mape", "jitter_mape", "loss_mae"}
    # the starting model competes as epoch -1: the kept model is never worse on the held-out samples
    assert report["after"]["queue_mape"] <= report["before"]["queue_mape"] + 1e-9
    assert report["wall_time_s"] < 0.5 * 60 + 30  # the budget, plus the calibration it keeps a tenth for
    model = GNNModel.load(out)
    assert model.net.config.hybrid and set(model.calibration) >= {"delay_s"}
    # recalibrated as `twin calibrate` would: p-value grids for the detectors, and the one held-out sample fills
    # no load band with 10 windows, so every band it reaches keeps the base model's quantiles
    base_cal = json.loads((base / "config.json").read_text())["calibration"]["delay_s"]
    entry = model.calibration["delay_s"]
    assert "grid" in entry and entry["borrowed"]
    for band in entry["borrowed"]:
        assert (entry["lo"][band], entry["hi"][band]) == (base_cal["lo"][band], base_cal["hi"][band])
    meta = json.loads((out / "config.json").read_text())["calibration_data"]
    assert (meta["heldout_samples"], meta["sparse_bands"]) == (1, "checkpoint")


def test_finetune_refuses_bad_input(tiny: tuple[Path, Path], tmp_path: Path) -> None:
    data, base = tiny
    res = CliRunner().invoke(cli, ["twin", "finetune", "--data", str(data), "--out", str(data.parent),
                                   "--from", str(base), "--minutes", "0.2"])  # OUT would replace the input
    assert res.exit_code == 2 and "write the output elsewhere" in res.output
    empty = tmp_path / "empty"
    empty.mkdir()
    res = CliRunner().invoke(cli, ["twin", "finetune", "--data", str(empty), "--out", str(tmp_path / "m"),
                                   "--from", str(base), "--no-progress"])
    assert res.exit_code == 1 and "Traceback" not in res.output
    assert str(empty) in res.output  # the message names the folder it could not read


def test_finetune_help_reads_like_a_man_page() -> None:
    res = CliRunner().invoke(cli, ["twin", "finetune", "--help"])
    assert res.exit_code == 0
    for section in ("DESCRIPTION", "OPTIONS", "EXAMPLES", "Exit status", "--minutes", "--val-fraction", "--from"):
        assert section in res.output


def test_train_init_from_records_the_architecture_it_continues_and_strict_json(tiny: tuple[Path, Path],
                                                                                tmp_path: Path) -> None:
    """``twin train --init-from`` continues the starting model's architecture (a hybrid here, without ``--hybrid``)
    and records that one, not the CLI's defaults; the history is strict JSON (epoch -1 has no training loss)."""
    data, base = tiny
    val = tmp_path / "val"
    generate_dataset(val, n_samples=1, topology=TopologySpec(kind="random", nodes=(5, 6)),
                     sim=SimConfig(min_packets=2_000, max_packets=4_000), seed=11, workers=1, progress=False)
    out = tmp_path / "continued"
    res = CliRunner().invoke(cli, ["twin", "train", "--init-from", str(base), "--train", str(data), "--val", str(val),
                                   "--out", str(out), "--epochs", "1", "--threads", "1", "--no-progress"])
    assert res.exit_code == 0, res.output

    def refuse(name: str) -> None:
        raise AssertionError(f"config.json holds {name}: not strict JSON")

    cfg = json.loads((out / "config.json").read_text(), parse_constant=refuse)
    assert cfg["architecture"]["hybrid"] is True
    assert cfg["training"]["config"]["architecture"] == {**cfg["architecture"], "readout_hidden": 8}
    assert cfg["training"]["history"][0]["epoch"] == -1 and cfg["training"]["history"][0]["train_loss"] is None


def test_finetune_keeps_the_base_models_jitter_objective_and_selection(tiny: tuple[Path, Path], tmp_path: Path) -> None:
    import shutil

    from twinwatch.twin.train import finetune

    data, base = tiny
    mape_base = tmp_path / "base"
    shutil.copytree(base, mape_base)
    cfg = json.loads((mape_base / "config.json").read_text())
    assert cfg["training"]["config"]["jitter_loss"] == "log"  # the default
    cfg["training"]["config"]["jitter_loss"] = "mape"
    cfg["training"]["config"]["select"] = "queue"
    (mape_base / "config.json").write_text(json.dumps(cfg))
    finetune(load_examples([data], qt_prior=True), tmp_path / "out", mape_base, minutes=0.2, val_fraction=0.25,
             threads=1)
    out_cfg = json.loads((tmp_path / "out" / "config.json").read_text())["training"]["config"]
    assert (out_cfg["jitter_loss"], out_cfg["select"]) == ("mape", "queue")


def test_the_full_buffer_fade_carries_over_and_can_be_set_on_a_continued_model(tiny: tuple[Path, Path],
                                                                               tmp_path: Path) -> None:
    """A fine-tune keeps the base model's full-buffer fade (the shipped twin's 0.003); ``twin train --init-from
    --full-buffer-fade --full-buffer-depth`` sets it on a continued model."""
    import shutil

    from twinwatch.twin.train import finetune

    data, base = tiny
    faded = tmp_path / "faded"
    shutil.copytree(base, faded)
    cfg = json.loads((faded / "config.json").read_text())
    assert cfg["architecture"]["full_buffer_fade"] == 0.0
    cfg["architecture"]["full_buffer_fade"] = 0.003
    (faded / "config.json").write_text(json.dumps(cfg))
    finetune(load_examples([data], qt_prior=True), tmp_path / "ft", faded, minutes=0.2, val_fraction=0.25, threads=1)
    assert GNNModel.load(tmp_path / "ft").net.config.full_buffer_fade == 0.003
    val = tmp_path / "val"
    generate_dataset(val, n_samples=1, topology=TopologySpec(kind="random", nodes=(5, 6)),
                     sim=SimConfig(min_packets=2_000, max_packets=4_000), seed=12, workers=1, progress=False)
    res = CliRunner().invoke(cli, ["twin", "train", "--init-from", str(base), "--train", str(data), "--val", str(val),
                                   "--out", str(tmp_path / "cont"), "--epochs", "1", "--threads", "1",
                                   "--full-buffer-fade", "0.01", "--full-buffer-depth", "40", "--no-progress"])
    assert res.exit_code == 0, res.output
    model = GNNModel.load(tmp_path / "cont")
    assert (model.net.config.full_buffer_fade, model.net.readout.full_buffer_fade) == (0.01, 0.01)
    assert (model.net.config.full_buffer_depth, model.net.readout.full_buffer_depth) == (40.0, 40.0)
