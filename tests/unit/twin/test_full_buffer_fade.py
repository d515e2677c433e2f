"""The hybrid's full-buffer fade (``GNNConfig.full_buffer_fade``): a deep, overloaded drop-tail buffer waits its
drain time, which the queueing-theory prior holds, so the learned wait correction fades there and nowhere else."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from twinwatch.twin.features import FeatureStats, collate, scenario_graph
from twinwatch.twin.models.gnn import GNNConfig, RouteNetFermi
from twinwatch.twin.models.warm_start import set_full_buffer_fade
from twinwatch.twin.scenario import Flow, Scenario

ARCH = {"hidden": 8, "iterations": 2, "readout_hidden": 8, "hybrid": True}


def _line(buffer_pkts: float) -> Scenario:
    """0 → 1 → 2 at 1 Gb/s with 1 ms links; link 1 → 2 is offered 1.2 (1 → 2 flow plus the transit flow)."""
    links = [(0, 1, 1e9, 0.001), (1, 2, 1e9, 0.001), (1, 0, 1e9, 0.001), (2, 1, 1e9, 0.001)]
    routes = {(0, 2): [0, 1, 2], (1, 2): [1, 2], (1, 0): [1, 0]}
    flows = [Flow(0, 2, 4e8, 4e8 / 12000.0, sizes_bits=(12000.0,), size_probs=(1.0,)),
             Flow(1, 2, 8e8, 8e8 / 12000.0, sizes_bits=(12000.0,), size_probs=(1.0,)),
             Flow(1, 0, 3e8, 3e8 / 12000.0, sizes_bits=(12000.0,), size_probs=(1.0,))]
    return Scenario.build(3, links, routes, flows, policy="FIFO", queue_pkts=buffer_pkts)


def _hops(net: RouteNetFermi, sc: Scenario) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Per hop: the model's queueing time, the prior's wait and loss, and the hop's link (the batch's hop order)."""
    g = scenario_graph(sc, qt_prior=True)
    b = collate([g], FeatureStats.fit([g]))
    with torch.inference_mode():
        out = net.eval()(b)
    assert b.hop_qt_wait is not None and b.hop_qt_loss is not None
    return (out["hop_queueing"].double().numpy(), b.hop_qt_wait.double().numpy(), b.hop_qt_loss.double().numpy(),
            b.hop_link.numpy())


def _trained_looking(fade: float) -> RouteNetFermi:
    """A hybrid whose readout corrects every hop (a non-zero last layer), the same weights for every ``fade``."""
    torch.manual_seed(11)
    net = RouteNetFermi(GNNConfig(**ARCH, full_buffer_fade=fade))
    with torch.no_grad():
        last = net.readout.mlp[2]
        last.weight.normal_(0.0, 0.3)
        last.bias.fill_(0.5)  # the wait correction r_0 is far from 0 on every hop
    return net


def test_a_deep_full_buffer_waits_what_the_prior_says_and_other_hops_keep_their_correction() -> None:
    sc = _line(buffer_pkts=1000.0)
    plain_q, wait, loss, link = _hops(_trained_looking(0.0), sc)
    faded_q, _, _, _ = _hops(_trained_looking(0.003), sc)
    full = link == 1  # the overloaded 1 → 2 link, 1000 packets deep
    assert full.sum() == 2 and (loss[full] > 0.1).all() and (wait[full] > 100 * 12000 / 1e9).all()
    assert (loss[~full] < 1e-6).all()
    # without the fade the correction moves the full buffer's wait away from its drain time
    assert np.all(np.abs(plain_q[full] / wait[full] - 1) > 0.05)
    # with it the wait is the prior's (exp(-0.17 / 0.003) of the correction is left)
    np.testing.assert_allclose(faded_q[full], wait[full], rtol=1e-5)
    # hops that lose nothing keep their learned correction exactly
    np.testing.assert_array_equal(faded_q[~full], plain_q[~full])


def test_a_shallow_full_buffer_keeps_its_correction() -> None:
    """With 10 packets of buffer the loss regime depends on the traffic's fine structure: no fade."""
    sc = _line(buffer_pkts=10.0)
    plain_q, _, loss, link = _hops(_trained_looking(0.0), sc)
    faded_q, _, _, _ = _hops(_trained_looking(0.003), sc)
    assert (loss[link == 1] > 0.1).all()
    np.testing.assert_array_equal(faded_q, plain_q)


def test_the_fade_is_a_config_field_that_old_configs_do_not_have() -> None:
    assert GNNConfig.from_dict({"hybrid": True}).full_buffer_fade == 0.0
    cfg = GNNConfig(hybrid=True, full_buffer_fade=0.003, full_buffer_depth=50.0)
    assert GNNConfig.from_dict(cfg.to_dict()) == cfg
    for bad in (-0.1, math.nan, math.inf):
        with pytest.raises(ValueError, match="full_buffer_fade"):
            GNNConfig(hybrid=True, full_buffer_fade=bad)
    with pytest.raises(ValueError, match="full_buffer_depth"):
        GNNConfig(hybrid=True, full_buffer_fade=0.003, full_buffer_depth=0.0)
    with pytest.raises(ValueError, match="full_buffer_fade must be a number"):
        GNNConfig.from_dict({"hybrid": True, "full_buffer_fade": True})  # a hand-edited config.json's true
    with pytest.raises(ValueError, match="hybrid readout option"):
        GNNConfig(full_buffer_fade=0.003)


def test_setting_the_fade_on_a_model_keeps_its_weights() -> None:
    net = _trained_looking(0.0)
    before = {k: v.clone() for k, v in net.state_dict().items()}
    set_full_buffer_fade(net, 0.003)
    assert net.config.full_buffer_fade == 0.003 and net.readout.full_buffer_fade == 0.003
    after = net.state_dict()
    assert before.keys() == after.keys() and all(torch.equal(before[k], after[k]) for k in before)
    faded_q, wait, _, link = _hops(net, _line(1000.0))
    np.testing.assert_allclose(faded_q[link == 1], wait[link == 1], rtol=1e-5)
    with pytest.raises(ValueError, match="not a hybrid"):
        set_full_buffer_fade(RouteNetFermi(GNNConfig(hidden=8, iterations=1)), 0.003)
