"""``twinwatch.twin.models.load_model``: the one way front ends load a KPI model, with failures they can sort."""

from __future__ import annotations

from pathlib import Path

import pytest

from twinwatch.twin.checkpoint import CheckpointError
from twinwatch.twin.models import MODELS, ModelLoadError, UnknownModelError, load_model


def test_known_names_load_case_and_blanks_ignored() -> None:
    assert load_model(" QT ").name == "qt"
    assert load_model("qt", service="mm1").service == "mm1"


def test_unknown_name_is_a_value_error_listing_the_known_ones() -> None:
    with pytest.raises(UnknownModelError) as err:
        load_model("routenet")
    assert isinstance(err.value, ValueError)
    assert all(name in str(err.value) for name in MODELS)


def test_options_the_model_does_not_take_are_a_type_error() -> None:
    with pytest.raises(TypeError):
        load_model("qt", bogus=1)


def test_a_model_that_cannot_load_names_it_and_keeps_the_cause(tmp_path: Path) -> None:
    with pytest.raises(ModelLoadError, match="cannot load model 'gnn'") as err:
        load_model("gnn", checkpoint=tmp_path / "missing")
    assert isinstance(err.value.__cause__, CheckpointError)
    # a checkpoint without a name means the GNN, never a silent fallback to another model
    with pytest.raises(ModelLoadError, match="'\\(default\\)'"):
        load_model(None, checkpoint=tmp_path / "missing")


def test_cli_keeps_its_exit_codes(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from twinwatch.stream.cli import cli
    from twinwatch.twin.data import bundled_scenario_path

    res = CliRunner().invoke(cli, ["twin", "predict", str(bundled_scenario_path()), "--model", "nope"])
    assert res.exit_code == 2 and "unknown model 'nope'" in res.output
    res = CliRunner().invoke(cli, ["twin", "predict", str(bundled_scenario_path()), "--checkpoint", str(tmp_path)])
    assert res.exit_code == 1 and "cannot load model" in res.output and "Traceback" not in res.output
