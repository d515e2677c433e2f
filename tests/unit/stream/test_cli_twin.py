"""The ``twinwatch twin predict|evaluate`` and ``twinwatch demo`` commands (click CliRunner)."""

from __future__ import annotations

import json
from pathlib import Path

import orjson
import pytest
from click.testing import CliRunner

from tests.conftest import shared_data_path
from twinwatch.stream.cli import cli
from twinwatch.twin.data import bundled_scenario_path


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


def check_contract(line: dict[str, object]) -> None:
    """One predict output line follows the documented contract."""
    assert set(line) == {"file", "index", "n_nodes", "paths"}
    assert isinstance(line["file"], str) and isinstance(line["index"], int) and isinstance(line["n_nodes"], int)
    paths = line["paths"]
    assert isinstance(paths, list) and paths
    for p in paths:
        assert set(p) == {"src", "dst", "path", "delay", "jitter", "loss"}
        assert isinstance(p["src"], int) and isinstance(p["dst"], int) and p["src"] != p["dst"]
        assert 0 <= p["src"] < line["n_nodes"] and 0 <= p["dst"] < line["n_nodes"]
        assert p["delay"] > 0 and p["jitter"] >= 0 and 0 <= p["loss"] <= 1


def test_help_and_version(runner: CliRunner) -> None:
    res = runner.invoke(cli, ["--help"])
    assert res.exit_code == 0 and "twin" in res.output
    res = runner.invoke(cli, ["--version"])
    assert res.exit_code == 0 and "twinwatch" in res.output
    res = runner.invoke(cli, ["twin", "--help"])
    assert res.exit_code == 0
    assert "predict" in res.output and "evaluate" in res.output
    for sub in ("predict", "evaluate"):
        res = runner.invoke(cli, ["twin", sub, "--help"])
        assert res.exit_code == 0
        assert "Examples:" in res.output and "Exit status" in res.output
    res = runner.invoke(cli, ["demo", "--help"])
    assert res.exit_code == 0 and "µs²" in res.output


def test_predict_bundled_yaml_to_file(runner: CliRunner, tmp_path: Path) -> None:
    out = tmp_path / "preds.jsonl"
    res = runner.invoke(cli, ["twin", "predict", str(bundled_scenario_path()), "--model", "qt", "--out", str(out)])
    assert res.exit_code == 0, res.output
    lines = [orjson.loads(x) for x in out.read_bytes().splitlines()]
    assert len(lines) == 1
    check_contract(lines[0])
    assert lines[0]["file"] == "nsfnet.yaml" and lines[0]["index"] == 0 and lines[0]["n_nodes"] == 14
    assert len(lines[0]["paths"]) == 14 * 13
    # seconds: NSFNet delays are milliseconds
    assert all(0.001 < p["delay"] < 0.05 for p in lines[0]["paths"])


def test_predict_yaml_to_stdout(runner: CliRunner) -> None:
    res = runner.invoke(cli, ["twin", "predict", str(bundled_scenario_path()), "-m", "qt", "--out", "-", "-q"])
    assert res.exit_code == 0
    line = json.loads(res.stdout.strip().splitlines()[0])
    check_contract(line)


def test_usage_errors_exit_2(runner: CliRunner, tmp_path: Path) -> None:
    res = runner.invoke(cli, ["twin", "predict", str(bundled_scenario_path()), "--model", "nope"])
    assert res.exit_code == 2
    assert "unknown model 'nope'" in res.output and "qt" in res.output
    res = runner.invoke(cli, ["twin", "predict", str(tmp_path / "missing")])
    assert res.exit_code == 2
    res = runner.invoke(cli, ["twin", "evaluate", str(bundled_scenario_path()), "-m", "qt"])
    assert res.exit_code == 2 and "has no labels" in res.output


def test_data_errors_exit_1_without_traceback(runner: CliRunner, tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("nodes: [{name: A}, {name: B}]\nlinks: [{src: A, dst: C, capacity_bps: 1}]\n")
    res = runner.invoke(cli, ["twin", "predict", str(bad), "-m", "qt", "-q"])
    assert res.exit_code == 1
    assert "bad.yaml: links[0].dst: unknown node 'C'" in res.output
    assert "Traceback" not in res.output
    broken = tmp_path / "ds"
    broken.mkdir()
    (broken / "results_x.tar.gz").write_bytes(b"not a tarball")
    res = runner.invoke(cli, ["twin", "predict", str(broken), "-m", "qt", "-q", "--out", str(tmp_path / "p.jsonl")])
    assert res.exit_code == 1, res.output
    assert "results_x.tar.gz" in res.output and "Traceback" not in res.output


def test_demo_prints_tables(runner: CliRunner) -> None:
    res = runner.invoke(cli, ["demo", "--predict", "--model", "qt", "--top", "5"])
    assert res.exit_code == 0, res.output
    out = res.stdout
    assert "nsfnet: 14 nodes, 42 links, 182 paths" in out
    assert "delay ms" in out and "jitter µs²" in out and "util. %" in out and "queue pkts" in out
    assert "Seattle" in out
    res = runner.invoke(cli, ["demo", "--predict", "--model", "qt", "--all"])
    assert res.exit_code == 0
    assert res.stdout.count("→") >= 182 + 42


def test_demo_default_model_runs(runner: CliRunner) -> None:
    """Without --model the demo works whether or not the GNN checkpoint is there."""
    res = runner.invoke(cli, ["demo", "--predict", "--top", "3"])
    assert res.exit_code == 0, res.output
    assert "predicted in" in res.stdout


# ----------------------------------------------------------------- real data
@pytest.mark.shared
def test_predict_gnnet_subset(runner: CliRunner, tmp_path: Path) -> None:
    root = shared_data_path("gnnet", "2021", "validation")
    out = tmp_path / "preds.jsonl"
    res = runner.invoke(cli, ["twin", "predict", str(root), "-m", "qt", "--limit", "3", "-q", "--out", str(out)])
    assert res.exit_code == 0, res.output
    lines = [orjson.loads(x) for x in out.read_bytes().splitlines()]
    assert len(lines) == 3
    for k, line in enumerate(lines):
        check_contract(line)
        assert line["file"] == "results_30_400-2000_50_74.tar.gz"
        assert line["index"] == k
        assert line["n_nodes"] == 30
    # every (src, dst) pair of a 30-node sample carries traffic here
    assert len(lines[0]["paths"]) == 30 * 29
    # the dataset's own time unit: mean delays are O(0.1..10) tu
    delays = [p["delay"] for p in lines[0]["paths"]]
    assert 0.01 < sorted(delays)[len(delays) // 2] < 10


@pytest.mark.shared
def test_predict_nested_folder_paths_are_relative(runner: CliRunner) -> None:
    root = shared_data_path("gnnet", "2022", "validation")
    res = runner.invoke(cli, ["twin", "predict", str(root), "-m", "qt", "--limit", "1", "-q", "--out", "-"])
    assert res.exit_code == 0, res.output
    line = orjson.loads(res.stdout.splitlines()[0])
    check_contract(line)
    assert line["file"].count("/") == 1 and line["file"].endswith(".tar.gz")
    assert line["file"].split("/")[0] == str(line["n_nodes"])


@pytest.mark.shared
def test_evaluate_json(runner: CliRunner, tmp_path: Path) -> None:
    root = shared_data_path("gnnet", "2021", "validation")
    out = tmp_path / "eval.json"
    res = runner.invoke(cli, ["twin", "evaluate", str(root), "-m", "qt", "--limit", "4", "-q", "--json", str(out)])
    assert res.exit_code == 0, res.output
    assert "delay MAPE" in res.stdout and "overall" in res.stdout
    doc = json.loads(out.read_text())
    assert doc["model"] == "qt" and doc["overall"]["samples"] == 4
    assert doc["overall"]["paths"] == 4 * 870
    assert set(doc["buckets"]) == {"30"}
    assert 0 <= doc["overall"]["delay_mape"] < 50
    assert doc["overall"]["jitter_mape"] >= 0 and doc["overall"]["loss_mae"] >= 0
    assert "positive" in doc["note"]
    res = runner.invoke(cli, ["twin", "evaluate", str(root), "-m", "qt", "--limit", "1", "-q", "--json", "-"])
    assert res.exit_code == 0
    assert json.loads(res.stdout)["overall"]["samples"] == 1


def test_missing_subcommand_module_is_hidden(runner: CliRunner, monkeypatch: pytest.MonkeyPatch) -> None:
    import twinwatch.stream.commands.twin as twin_group

    monkeypatch.setitem(twin_group._COMMANDS, "ghost", "twinwatch.stream.commands.no_such_module:ghost")
    res = runner.invoke(cli, ["twin", "--help"])
    assert res.exit_code == 0 and "ghost" not in res.output
    res = runner.invoke(cli, ["twin", "ghost"])
    assert res.exit_code == 2 and "No such command" in res.output


def test_model_that_cannot_load_exits_1(runner: CliRunner, monkeypatch: pytest.MonkeyPatch) -> None:
    import twinwatch.twin.models as registry

    monkeypatch.setitem(registry.MODELS, "gnn", "twinwatch.twin.models.no_such_gnn:load_gnn")
    res = runner.invoke(cli, ["twin", "predict", str(bundled_scenario_path()), "-m", "gnn", "-q"])
    assert res.exit_code == 1
    assert "cannot load model 'gnn'" in res.output and "Traceback" not in res.output
    res = runner.invoke(cli, ["twin", "predict", str(bundled_scenario_path()), "-m", "qt", "-q",
                              "--checkpoint", str(bundled_scenario_path())])
    assert res.exit_code == 2 and "does not take these options" in res.output
