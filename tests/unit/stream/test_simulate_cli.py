"""``twinwatch simulate dataset``: options, help, resume, errors."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from click.testing import CliRunner

from tests.conftest import shared_data_path
from twinwatch.stream.cli import cli
from twinwatch.twin.datasets.native import iter_native_samples, read_manifest

FAST = ["--min-packets", "2000", "--max-packets", "5000", "--no-progress"]


def _run(*args: str):
    return CliRunner().invoke(cli, ["simulate", "dataset", *args], catch_exceptions=False)


def test_help_reads_like_a_man_page() -> None:
    res = CliRunner().invoke(cli, ["simulate", "dataset", "--help"])
    assert res.exit_code == 0
    for section in ("DESCRIPTION", "TOPOLOGY", "RESUMING AND DETERMINISM", "EXAMPLES", "EXIT STATUS"):
        assert section in res.output
    assert "--workers" in res.output and "--zoo-dir" in res.output


def test_random_dataset_then_resume(tmp_path: Path) -> None:
    out = tmp_path / "ds"
    args = ["--topology", "random", "--nodes", "5-8", "--degree", "2-3", "--samples", "2", "--out", str(out),
            "--seed", "3", "--load", "moderate", "--scheduling", "mixed", "--time-dist", "poisson,onoff", *FAST]
    res = _run(*args)
    assert res.exit_code == 0, res.output
    assert "2 samples made, 0 already there" in res.output
    samples = list(iter_native_samples(out))
    assert len(samples) == 2
    assert all(5 <= s.scenario.n_nodes <= 8 for s in samples)
    assert all(0.4 <= s.scenario.meta["rho_max"] <= 0.7 for s in samples)
    man = read_manifest(out)
    assert man["topology"]["nodes"] == [5, 8] and man["scenario_params"]["time_dists"] == ["poisson", "onoff"]
    res = _run(*args)
    assert "0 samples made, 2 already there" in res.output
    res = CliRunner().invoke(cli, ["simulate", "stats", str(out)])
    summary = json.loads(res.output)
    assert summary["samples"] == 2 and 0 < summary["rel_ci"]["per_sample_mean"] < 1
    assert summary["sim_cpu_time_s_total"] > 0 and len(summary["runs"]) == 2
    res = _run(*[a if a != "3" else "4" for a in args])
    assert res.exit_code == 1 and "different seed" in res.output


def test_shipped_name_and_matrix(tmp_path: Path) -> None:
    m = np.zeros((14, 14))
    m[0, 13] = m[13, 0] = 1.0
    tm = tmp_path / "tm.txt"
    np.savetxt(tm, m)
    out = tmp_path / "nsf"
    res = _run("--topology", "zoo:nsfnet", "--matrix", str(tm), "--samples", "1", "--out", str(out),
               *FAST[:-1], "--progress")
    assert res.exit_code == 0, res.output
    assert "simulating" in res.output  # the progress bar
    s = next(iter_native_samples(out))
    assert s.scenario.n_paths == 2 and s.scenario.meta["traffic"] == "matrix"


def test_zoo_dir_graphml(tmp_path: Path) -> None:
    zoo = shared_data_path("topologies", "zoo")
    out = tmp_path / "aarnet"
    res = _run("--topology", "Aarnet", "--zoo-dir", str(zoo), "--samples", "1", "--out", str(out),
               "--pairs-fraction", "0.2", *FAST)
    assert res.exit_code == 0, res.output
    assert next(iter_native_samples(out)).scenario.meta["topology"] == "Aarnet"


def test_bad_input_is_a_clear_error(tmp_path: Path) -> None:
    res = _run("--topology", "Atlantis", "--samples", "1", "--out", str(tmp_path / "x"), *FAST)
    assert res.exit_code == 1 and "unknown topology 'Atlantis'" in res.output
    res = _run("--topology", "random", "--load", "huge", "--samples", "1", "--out", str(tmp_path / "y"), *FAST)
    assert res.exit_code == 1 and "light, moderate" in res.output
    res = _run("--topology", "random", "--nodes", "9-3", "--samples", "1", "--out", str(tmp_path / "z"), *FAST)
    assert res.exit_code == 2 and "LO must be <= HI" in res.output
    res = _run("--topology", "random", "--traffic", "matrix", "--samples", "1", "--out", str(tmp_path / "w"), *FAST)
    assert res.exit_code == 2 and "--matrix FILE" in res.output
