"""bench/hop_composition.py: a window's own packets against the hop-composed truth and queueing theory (issue 15).

A real 3-minute Abilene run of the network under test, one window re-simulated: the composition by input is the
truth's own, so on one-hop paths (every packet entering there) it matches the own packets; every estimator is
reported per path length.
"""

from __future__ import annotations

import doctest
import json
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

BENCH = Path(__file__).resolve().parents[3] / "bench"
sys.path.insert(0, str(BENCH))

import _models  # noqa: E402
import hop_composition  # noqa: E402


def test_docstring_examples_run() -> None:
    for module in (hop_composition, _models):
        res = doctest.testmod(module)
        assert res.failed == 0
    assert doctest.testmod(_models).attempted >= 2


def test_model_specs_build_registry_models_with_options() -> None:
    models = _models.build_models("qt, qt-packet:input_smoothing=port,qt-packet")
    assert list(models) == ["qt", "qt-packet:input_smoothing=port", "qt-packet"]
    assert models["qt-packet:input_smoothing=port"].input_smoothing == "port"
    assert models["qt-packet"].input_smoothing == "input"
    with pytest.raises(ValueError, match="not key=value"):
        _models.parse_spec("qt:service")
    with pytest.raises(ValueError, match="input_smoothing"):
        _models.build_models("qt-packet:input_smoothing=sideways")


def test_one_window_by_path_length(tmp_path: Path) -> None:
    from twinwatch.stream.cli import cli

    run = tmp_path / "abilene"
    res = CliRunner().invoke(cli, ["simulate", "telemetry", "--network", "abilene", "--duration", "3m",
                                   "--seed", "4", "--out", str(run), "--no-progress"])
    assert res.exit_code == 0, res.output
    out = tmp_path / "hc.json"
    proc = subprocess.run([sys.executable, str(BENCH / "hop_composition.py"), str(run), "--packets", "400000",
                           "--models", "qt-packet,qt-packet:input_smoothing=port", "--out", str(out)],
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    rep = json.loads(out.read_text())
    assert rep["nodes"] == 12 and rep["packets"] == 400_000
    one = rep["groups"][0]
    assert one["hops"] == "1" and one["flows"] > 0 and one["own_queueing_part_us"] > 0
    errors = one["signed_error_pct"]
    assert set(errors) == {"composed, queue mean", "composed, by input", "qt-packet",
                           "qt-packet:input_smoothing=port"}
    assert abs(errors["composed, by input"]) < 0.5, errors
    assert sum(g["flows"] for g in rep["groups"]) > 100
