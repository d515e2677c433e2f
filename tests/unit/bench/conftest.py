"""Fixtures shared by the benchmark scripts' tests."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner


@pytest.fixture
def abilene_two_samples(tmp_path: Path) -> Path:
    """A real two-sample operated-recipe dataset on Abilene (seed 5, 40 pairs, 400 packets per flow)."""
    from twinwatch.stream.cli import cli

    data = tmp_path / "op"
    res = CliRunner().invoke(cli, ["simulate", "dataset", "--recipe", "operated", "--topology", "abilene",
                                   "--samples", "2", "--seed", "5", "--max-pairs", "40", "--packets-per-flow", "400",
                                   "--out", str(data), "-q"])
    assert res.exit_code == 0, res.output
    return data
