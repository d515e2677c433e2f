"""The GNN's inference path (no autograd) predicts what the training path predicts, on the shipped checkpoint.

``RouteNetFermi.forward`` runs two implementations of the same maths: with autograd on, the original one
(unchanged; training and gradient explanations use it); under ``torch.no_grad()`` / ``torch.inference_mode()``
the inference path (``PathGRU.infer``: reused memory, separate gate blocks, ``tanh = 2σ(2x) − 1``, half-size
queue aggregation, split readout layer), which the service runs every window (issue 15, inference speed). The
training path is the code the shipped checkpoint was trained and scored with, so it is the reference: every
output must agree to float32 rounding, 1e-5 relative (loss-like outputs also 1e-7 absolute: ``1 − Π(1 − p)``
of per-hop drops near zero cancels in float32 in both paths).
"""

from __future__ import annotations

import copy
import threading
import warnings

import numpy as np
import pytest
import torch

from tests.conftest import shared_data_path
from tests.unit.twin._gnn_toy import ring
from twinwatch.twin.features import FeatureStats, GraphBatch, collate, scenario_graph
from twinwatch.twin.models.bounds import OutOfDomainWarning
from twinwatch.twin.models.gnn import DEFAULT_CHECKPOINT, GNNConfig, GNNModel, RouteNetFermi
from twinwatch.twin.scenario import Scenario

_LOSS_LIKE = ("path_loss", "link_loss", "hop_drop")

# the toy rings lie partly outside the GNNet training range: the warning is expected and not under test here
pytestmark = pytest.mark.filterwarnings("ignore::twinwatch.twin.models.bounds.OutOfDomainWarning")


def _both_paths(net: RouteNetFermi, b: GraphBatch) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """``(training path, inference path)`` outputs of ``net`` on ``b``, as float64 arrays."""
    with torch.enable_grad():
        ref = {k: v.detach().double().numpy() for k, v in net(b).items()}
    with torch.inference_mode():
        fast = {k: v.double().numpy() for k, v in net(b).items()}
    return ref, fast


def _assert_same(ref: dict[str, np.ndarray], fast: dict[str, np.ndarray]) -> None:
    assert ref.keys() == fast.keys()
    for k, r in ref.items():
        atol = 1e-7 if k in _LOSS_LIKE else 0.0
        assert fast[k].shape == r.shape, k
        assert np.isfinite(fast[k]).all(), k
        np.testing.assert_allclose(fast[k], r, rtol=1e-5, atol=atol, err_msg=k)


@pytest.fixture(scope="module")
def shipped() -> GNNModel:
    if not (DEFAULT_CHECKPOINT / "model.safetensors").is_file():
        pytest.fail(f"the shipped checkpoint {DEFAULT_CHECKPOINT} is missing")
    return GNNModel.load(None)


def _scenarios() -> list[Scenario]:
    return [ring(9, seed=1), ring(12, seed=2, policy="SP"), ring(7, seed=3, policy="WFQ", buffer_bits=16000.0),
            ring(11, seed=4, policy="DRR")]


@pytest.mark.parametrize("k", range(4))
def test_shipped_checkpoint_inference_path_equals_training_path(shipped: GNNModel, k: int) -> None:
    sc = _scenarios()[k]
    b = collate([shipped.graph(sc)], shipped.stats)
    _assert_same(*_both_paths(shipped.net, b))


def test_batch_of_several_scenarios(shipped: GNNModel) -> None:
    """Several scenarios in one batch (packed steps of very different widths) agree too."""
    b = collate([shipped.graph(sc) for sc in _scenarios()], shipped.stats)
    _assert_same(*_both_paths(shipped.net, b))


def test_hybrid_inference_path_equals_training_path() -> None:
    """The hybrid's extra hop inputs and readout go through the same inference path (random, non-zero weights)."""
    torch.manual_seed(3)
    net = RouteNetFermi(GNNConfig(hidden=16, iterations=3, readout_hidden=8, hybrid=True)).eval()
    with torch.no_grad():
        for prm in net.readout.mlp[-1].parameters():
            prm.normal_(std=0.3)  # the zero-initialised correction would hide the readout's hidden layer
    gs = [scenario_graph(ring(6, seed=5, policy="WFQ"), qt_prior=True)]
    b = collate(gs, FeatureStats.fit(gs))
    _assert_same(*_both_paths(net, b))


def test_zero_iterations() -> None:
    torch.manual_seed(0)
    net = RouteNetFermi(GNNConfig(hidden=8, iterations=0, readout_hidden=8)).eval()
    b = collate([scenario_graph(ring(5))], FeatureStats.identity())
    _assert_same(*_both_paths(net, b))


def test_workspace_reuse_across_sizes(shipped: GNNModel) -> None:
    """Big, small, big again: the reused memory never leaks one pass's values into another's results."""
    big, small = ring(12, seed=2, policy="SP"), ring(5, seed=7)
    first = shipped.predict(big)
    alone_small = GNNModel(copy.deepcopy(shipped.net), shipped.stats, shipped.calibration).predict(small)
    again_small = shipped.predict(small)
    again_big = shipped.predict(big)
    np.testing.assert_array_equal(again_big.path_delay_s, first.path_delay_s)
    np.testing.assert_array_equal(again_big.path_jitter_s2, first.path_jitter_s2)
    np.testing.assert_array_equal(again_small.path_delay_s, alone_small.path_delay_s)


def test_no_grad_and_inference_mode_alternate() -> None:
    """The reused memory serves ``torch.no_grad()`` (training's validation) after ``torch.inference_mode()``
    (``predict``) and back: an inference tensor could not be written outside inference mode."""
    torch.manual_seed(1)
    net = RouteNetFermi(GNNConfig(hidden=8, iterations=2, readout_hidden=8)).eval()
    b = collate([scenario_graph(ring(6, seed=2))], FeatureStats.identity())
    with torch.inference_mode():
        first = net(b)["path_delay"].clone()
    with torch.no_grad():
        second = net(b)["path_delay"]
    with torch.inference_mode():
        third = net(b)["path_delay"]
    torch.testing.assert_close(second, first, rtol=0, atol=0)
    torch.testing.assert_close(third, first, rtol=0, atol=0)


def test_concurrent_predictions_match_sequential(shipped: GNNModel) -> None:
    """Two threads predicting at once (one gets a private workspace) give the sequential results."""
    scs = [ring(12, seed=2, policy="SP"), ring(11, seed=4, policy="DRR")]
    expect = [shipped.predict(sc).path_delay_s for sc in scs]
    got: dict[int, np.ndarray] = {}

    def run(i: int) -> None:
        for _ in range(3):
            got[i] = shipped.predict(scs[i]).path_delay_s

    threads = [threading.Thread(target=run, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for i in range(2):
        np.testing.assert_array_equal(got[i], expect[i])


@pytest.mark.shared
@pytest.mark.slow
def test_200_node_gnnet_sample_inference_path_equals_training_path(shipped: GNNModel) -> None:
    """The benchmark's network (GNNet 2022, 200 nodes, 39,800 flows, 152,060 hops): both paths agree."""
    from twinwatch.twin.datasets.gnnet import iter_samples

    sc = next(iter(iter_samples(shared_data_path("gnnet", "2022", "validation", "200")))).scenario
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", OutOfDomainWarning)
        b = collate([shipped.graph(sc)], shipped.stats)
    assert b.n_hops > 150_000
    _assert_same(*_both_paths(shipped.net, b))
