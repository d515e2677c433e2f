"""Per-hop explanation of a path's predicted delay, and the ``twinwatch twin explain`` command."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner

from tests.unit.twin._gnn_toy import ring
from twinwatch.twin.explain import explain_path
from twinwatch.twin.features import FeatureStats
from twinwatch.twin.models.gnn import DEFAULT_CHECKPOINT, GNNConfig, GNNModel, RouteNetFermi


def _model() -> GNNModel:
    torch.manual_seed(0)
    return GNNModel(RouteNetFermi(GNNConfig(hidden=8, iterations=2, readout_hidden=8)), FeatureStats.identity())


@pytest.mark.parametrize("policy", ["FIFO", "SP"])
def test_parts_add_up_to_the_prediction(policy: str) -> None:
    sc = ring(6, seed=2, policy=policy)
    model = _model()
    for src, dst in [(0, 3), (2, 1), (5, 4)]:
        ex = explain_path(model, sc, src, dst)
        assert ex.total == pytest.approx(ex.predicted_delay, rel=1e-5)
        p = sc.path_index()[(src, dst)]
        assert ex.predicted_delay == pytest.approx(float(model.predict(sc).path_delay_s[p]), rel=1e-5)
        assert [h.src for h in ex.hops] == sc.path_nodes(p)[:-1]
        assert all(h.queueing >= 0 and h.transmission > 0 and h.propagation == 0 for h in ex.hops)


def test_unknown_path_is_named() -> None:
    with pytest.raises(KeyError, match="no path 0->0"):
        explain_path(_model(), ring(4), 0, 0)


def test_cli_explain(shared_data: Path) -> None:
    from twinwatch.stream.commands.twin_explain import explain

    if not (DEFAULT_CHECKPOINT / "model.safetensors").is_file():
        pytest.skip("shipped checkpoint not written yet")
    data = shared_data / "gnnet" / "2021" / "validation"
    runner = CliRunner()
    res = runner.invoke(explain, [str(data), "--sample", "1", "--path", "0", "5", "--json"])
    assert res.exit_code == 0, res.output
    out = json.loads(res.output)
    assert out["index"] == 1 and out["hops"]
    total = sum(h["queueing"] + h["transmission"] + h["propagation"] for h in out["hops"])
    assert total == pytest.approx(out["predicted_delay"], rel=1e-4)
    table = runner.invoke(explain, [str(data), "--path", "0", "5"])
    assert table.exit_code == 0 and "queueing" in table.output
    bad = runner.invoke(explain, [str(data), "--path", "0", "0"])
    assert bad.exit_code == 2 and "no path 0->0" in bad.output


def test_cli_explain_yaml_scenario() -> None:
    """A scenario YAML has no labels: the breakdown is printed without a measured delay."""
    from twinwatch.stream.commands.twin_explain import explain

    yaml = Path(__file__).resolve().parents[3] / "twin" / "data" / "nsfnet.yaml"
    if not yaml.is_file() or not (DEFAULT_CHECKPOINT / "model.safetensors").is_file():
        pytest.skip("needs twin/data/nsfnet.yaml and the shipped checkpoint")
    res = CliRunner().invoke(explain, [str(yaml), "--path", "0", "5", "--json"])
    assert res.exit_code == 0, res.output
    out = json.loads(res.output)
    assert out["measured_delay"] is None and out["time_unit"] == "s"
    assert sum(h["propagation"] for h in out["hops"]) > 0
