"""Warm starts: refitted statistics keep the model's function; a hybrid built from a trained first-generation model
carries its message passing and starts at queueing theory; ``twin train --hybrid --init-from`` does both.

No shared data needed: toy rings (``_gnn_toy``) with M/M/1 labels.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from tests.unit.twin._gnn_toy import examples, ring
from twinwatch.stream.cli import cli
from twinwatch.twin.checkpoint import save_checkpoint
from twinwatch.twin.features import LINK_FEATURES, QUEUE_FEATURES, FeatureStats, collate, scenario_graph
from twinwatch.twin.models.gnn import GNNConfig, GNNModel, RouteNetFermi
from twinwatch.twin.models.qt import QueueingModel
from twinwatch.twin.models.warm_start import hybrid_from, restat
from twinwatch.twin.sim.dataset import TopologySpec, generate_dataset
from twinwatch.twin.sim.engine import SimConfig
from twinwatch.twin.train import TrainConfig, evaluate_examples, load_examples, train

PLAIN = {"hidden": 8, "iterations": 2, "readout_hidden": 8, "hybrid": False}


def _stats(graphs: list, shift: float, scale: float) -> FeatureStats:
    """Statistics fitted on ``graphs``, then moved: every mean + ``shift``, every std × ``scale``."""
    st = FeatureStats.fit(graphs)
    return FeatureStats({k: [m + shift for m in v] for k, v in st.mean.items()},
                        {k: [s * scale for s in v] for k, v in st.std.items()})


def _out(net: RouteNetFermi, graphs: list, stats: FeatureStats) -> dict[str, np.ndarray]:
    with torch.inference_mode():
        out = net.eval()(collate(graphs, stats))
    return {k: out[k].double().numpy() for k in ("path_delay", "path_jitter", "path_loss", "link_utilization")}


@pytest.mark.parametrize("hybrid", [False, True])
def test_restat_keeps_the_function(hybrid: bool) -> None:
    """Under new statistics the rewritten network predicts what the old one did (float32 rounding only)."""
    torch.manual_seed(0)
    graphs = [e.graph for e in examples(3, 0, qt_prior=True)]
    net = RouteNetFermi(GNNConfig(**{**PLAIN, "hybrid": hybrid}))
    old, new = _stats(graphs, 0.0, 1.0), _stats(graphs, 0.7, 2.5)
    before = _out(net, graphs, old)
    assert restat(net, old, new) is net
    after = _out(net, graphs, new)
    for k, v in before.items():
        np.testing.assert_allclose(after[k], v, rtol=2e-4, atol=1e-12, err_msg=k)


def test_restat_zeroes_columns_the_old_data_never_varied_except_used_queues() -> None:
    torch.manual_seed(1)
    graphs = [e.graph for e in examples(2, 0, qt_prior=True)]
    net = RouteNetFermi(GNNConfig(**PLAIN))
    old = FeatureStats.fit(graphs)
    new = _stats(graphs, 0.3, 2.0)
    constant = [i for i, s in enumerate(old.std["flow"]) if s <= 1.001e-3]
    assert constant, "the toy flows should leave some flow features constant (e.g. unused time distributions)"
    used = QUEUE_FEATURES.index("used")
    assert old.std["queue"][used] <= 1.001e-3  # fitted on used queues only
    w_used = net.queue_embed[0].weight[:, used].detach().clone()
    restat(net, old, new)
    assert torch.count_nonzero(net.flow_embed[0].weight[:, constant]) == 0
    ratio = new.std["queue"][used] / old.std["queue"][used]
    torch.testing.assert_close(net.queue_embed[0].weight[:, used], w_used * ratio)


def test_hybrid_from_carries_message_passing_and_starts_at_queueing_theory() -> None:
    torch.manual_seed(2)
    ex = examples(3, 0, qt_prior=True)
    graphs = [e.graph for e in ex]
    stats = FeatureStats.fit(graphs)
    plain = RouteNetFermi(GNNConfig(**PLAIN))
    hyb = hybrid_from(plain)
    assert hyb.config.hybrid and not plain.config.hybrid
    for name in ("queue_embed.0.weight", "path_gru.w_h.weight", "queue_update.gru.weight_ih", "readout.mlp.0.weight"):
        torch.testing.assert_close(hyb.state_dict()[name], plain.state_dict()[name])
    torch.testing.assert_close(hyb.path_gru.w_x.weight[:, :3], plain.path_gru.w_x.weight)
    assert torch.count_nonzero(hyb.path_gru.w_x.weight[:, 3:]) == 0
    out = _out(hyb, graphs, stats)
    sc = ring(4, seed=0, policy="FIFO")
    q = QueueingModel().predict(sc)
    np.testing.assert_allclose(out["path_delay"][: sc.n_paths], q.path_delay_s, rtol=1e-5)
    with pytest.raises(ValueError, match="already a hybrid"):
        hybrid_from(hyb)
    # a first-generation model switched to the packet-level prior (twin train --hybrid --prior packet) keeps it
    assert hybrid_from(RouteNetFermi(GNNConfig(**PLAIN, prior="packet"))).config.prior == "packet"


def test_train_to_hybrid_starts_at_queueing_theory_and_writes_a_hybrid(tmp_path: Path) -> None:
    tr, va = examples(4, 0, qt_prior=True), examples(2, 10, qt_prior=True)
    cfg = TrainConfig(epochs=1, lr=5e-3, seed=0, batch_paths=40, batch_size=2, time_budget_min=5.0, patience=5,
                      threads=1, architecture=PLAIN)
    train(tr, va, tmp_path / "plain", cfg)
    assert not GNNModel.load(tmp_path / "plain").net.config.hybrid
    res = train(tr, va, tmp_path / "hyb", cfg, init_checkpoint=tmp_path / "plain", to_hybrid=True)
    model = GNNModel.load(tmp_path / "hyb")
    assert model.net.config.hybrid and "hop_qt" in model.stats.mean
    hist = json.loads((tmp_path / "hyb" / "config.json").read_text())["training"]["history"]
    qt_start = evaluate_examples(RouteNetFermi(GNNConfig(**{**PLAIN, "hybrid": True})), va, model.stats)
    assert hist[0]["epoch"] == -1
    assert hist[0]["queue_mape"] == pytest.approx(qt_start["queue_mape"], rel=1e-4)  # epoch -1 is queueing theory
    assert res["best_val_queue_mape"] <= hist[0]["queue_mape"] + 1e-12


def test_cli_hybrid_init_from_a_first_generation_model(tmp_path: Path) -> None:
    """``--hybrid --init-from PLAIN`` trains and records a hybrid; without ``--hybrid`` the start's is kept."""
    data, val = tmp_path / "data", tmp_path / "val"
    generate_dataset(data, n_samples=3, topology=TopologySpec(kind="random", nodes=(5, 6)),
                     sim=SimConfig(min_packets=2_000, max_packets=4_000), seed=3, workers=1, progress=False)
    generate_dataset(val, n_samples=1, topology=TopologySpec(kind="random", nodes=(5, 6)),
                     sim=SimConfig(min_packets=2_000, max_packets=4_000), seed=11, workers=1, progress=False)
    cfg = TrainConfig(epochs=1, lr=5e-3, seed=0, batch_paths=400, batch_size=2, time_budget_min=2.0, patience=2,
                      threads=1, architecture=PLAIN)
    train(load_examples([data]), load_examples([val]), tmp_path / "plain", cfg)
    common = ["--train", str(data), "--val", str(val), "--epochs", "1", "--threads", "1", "--no-progress"]
    for flag, hybrid in ((["--hybrid"], True), ([], False)):
        out = tmp_path / f"out_{hybrid}"
        res = CliRunner().invoke(cli, ["twin", "train", *flag, "--init-from", str(tmp_path / "plain"), "--out",
                                       str(out), *common])
        assert res.exit_code == 0, res.output
        cfg_out = json.loads((out / "config.json").read_text())
        assert cfg_out["architecture"]["hybrid"] is hybrid
        assert cfg_out["training"]["config"]["architecture"]["hybrid"] is hybrid
        assert ("hop_qt" in cfg_out["feature_stats"]["mean"]) is hybrid


def test_load_zeroes_the_inputs_the_training_never_varied(tmp_path: Path) -> None:
    """``GNNModel.load`` zeroes the weights of features the training never varied (propagation for a model trained
    on GNNet, which has none: their weights are their random initial values); where such features sit at their
    training value the predictions are unchanged."""
    torch.manual_seed(4)
    graphs = [scenario_graph(ring(5, seed=k, scale=1e3)) for k in range(3)]  # no propagation: the training domain
    stats = FeatureStats.fit(graphs)
    raw = RouteNetFermi(GNNConfig(**PLAIN))
    save_checkpoint(tmp_path, raw.state_dict(), {"kind": "gnn", "architecture": raw.config.to_dict(),
                                                 "feature_stats": stats.to_dict(), "training": {}})
    model = GNNModel.load(tmp_path)
    prop = LINK_FEATURES.index("log_prop_rel")
    assert model.stats.std["link"][prop] <= 1.001e-3
    assert torch.count_nonzero(raw.link_embed[0].weight[:, prop]) > 0
    assert torch.count_nonzero(model.net.link_embed[0].weight[:, prop]) == 0
    # the zeroed columns sit at (or within their sub-1e-3 spread of) their training mean: a small change only
    np.testing.assert_allclose(_out(model.net, graphs, model.stats)["path_delay"],
                               _out(raw, graphs, model.stats)["path_delay"], rtol=1e-3)
