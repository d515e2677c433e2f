"""Issue 14 through the twin-side CLI: exit statuses, no tracebacks, no destroyed input, one option spelling."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import orjson
import pytest
import yaml
from click.testing import CliRunner, Result

from twinwatch.stream.cli import cli
from twinwatch.twin.data import bundled_scenario_path
from twinwatch.twin.datasets.native import write_manifest, write_sample
from twinwatch.twin.kpis import Labels
from twinwatch.twin.models.gnn import DEFAULT_CHECKPOINT
from twinwatch.twin.models.qt import OWN_SIZE
from twinwatch.twin.scenario import Flow, Scenario


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


def run(runner: CliRunner, *args: str) -> Result:
    res = runner.invoke(cli, list(args))
    assert "Traceback" not in res.output, res.output
    assert res.exception is None or isinstance(res.exception, SystemExit), repr(res.exception)
    return res


def _native(root: Path, n: int, *, ci: float = 0.001) -> list[Path]:
    """A tiny native dataset written directly (the format of `twinwatch simulate dataset`)."""
    sc = Scenario.build(2, [(0, 1, 1e6), (1, 0, 1e6)], {(0, 1): [0, 1]}, [Flow(0, 1, 1e5)])
    lab = Labels.empty(n_paths=1, n_links=2)
    lab.path_delay_s[:] = 0.0092
    lab.path_jitter_s2[:] = 1e-5
    lab.path_loss_ratio[:] = 0.0
    write_manifest(root, {"n_samples": n})
    meta = {"seed": 1, "sim_time": 1.0, "packet_hops": 10, "packets_generated": 5, "wall_time_s": 0.1,
            "converged": True, "scenario_meta": {"rho_max": 0.1}}
    return [write_sample(root, i, sc, lab, extras={"path_delay_ci": np.array([ci])}, meta=meta) for i in range(n)]


# ----------------------------------------------------------------- output
def test_predict_refuses_to_overwrite_its_input(runner: CliRunner, tmp_path: Path) -> None:
    src = tmp_path / "net.yaml"
    src.write_bytes(bundled_scenario_path().read_bytes())
    before = src.read_bytes()
    for out in (str(src), str(tmp_path / "." / "net.yaml")):
        res = run(runner, "twin", "predict", str(src), "--model", "qt", "-o", out)
        assert res.exit_code == 2 and "is also an input" in res.output
        assert src.read_bytes() == before


def test_a_failed_predict_leaves_an_existing_output_intact(runner: CliRunner, tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("version: abc\n")
    out = tmp_path / "preds.jsonl"
    out.write_text("previous results\n")
    res = run(runner, "twin", "predict", str(bad), "--model", "qt", "-o", str(out))
    assert res.exit_code == 1 and "unsupported version 'abc'" in res.output
    assert out.read_text() == "previous results\n"
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # no temp file left behind


@pytest.mark.parametrize(("patch", "needle"), [
    ({"links": [{"src": "A", "dst": "B", "capacity_bps": 1e6, "prop_delay_s": -1, "bidirectional": True}]},
     "links[0].prop_delay_s"),
    ({"links": [{"src": "A", "dst": "B", "capacity_bps": 1e-300, "bidirectional": True}]}, "links[0].capacity_bps"),
    ({"traffic": {"flows": [{"src": "A", "dst": "B", "rate_bps": 1e300}]}}, "traffic.flows[0].rate_bps"),
    ({"routing": {"routes": 5}}, "routing.routes"),
])
@pytest.mark.timeout(60)
def test_predict_refuses_bad_scenarios_with_exit_1(runner: CliRunner, tmp_path: Path, patch: dict[str, object],
                                                    needle: str) -> None:
    doc = {"nodes": [{"name": "A"}, {"name": "B"}],
           "links": [{"src": "A", "dst": "B", "capacity_bps": 1e6, "bidirectional": True}],
           "traffic": {"flows": [{"src": "A", "dst": "B", "rate_bps": 1e5}]}, **patch}
    f = tmp_path / "s.yaml"
    f.write_text(yaml.safe_dump(doc))
    res = run(runner, "twin", "predict", str(f), "--model", "qt")
    assert res.exit_code == 1 and needle in res.stderr and res.stdout == ""
    assert "null" not in res.stdout and "RuntimeWarning" not in res.output


# ------------------------------------------------------ partial success
def test_missing_sample_gives_partial_success(runner: CliRunner, tmp_path: Path) -> None:
    files = _native(tmp_path / "ds", 3)
    files[1].unlink()
    out = tmp_path / "p.jsonl"
    res = run(runner, "twin", "predict", str(tmp_path / "ds"), "--model", "qt", "-o", str(out), "--no-progress")
    assert res.exit_code == 3, res.output
    lines = [orjson.loads(x) for x in out.read_bytes().splitlines()]
    assert [x["file"] for x in lines] == ["samples/sample_000000.npz", "samples/sample_000002.npz"]
    assert "stopped after 2 samples" in res.stderr
    assert "1 sample file(s) listed by the manifest are missing" in res.stderr


def test_all_samples_missing_is_invalid_input(runner: CliRunner, tmp_path: Path) -> None:
    for f in _native(tmp_path / "ds", 2):
        f.unlink()
    res = run(runner, "twin", "predict", str(tmp_path / "ds"), "--model", "qt", "-q")
    assert res.exit_code == 1 and "2 sample file(s) listed by the manifest are missing" in res.output


def test_broken_manifest_through_the_cli(runner: CliRunner, tmp_path: Path) -> None:
    _native(tmp_path / "ds", 1)
    (tmp_path / "ds" / "manifest.json").write_text("{nope")
    res = run(runner, "twin", "predict", str(tmp_path / "ds"), "--model", "qt", "-q")
    assert res.exit_code == 1 and "invalid manifest:" in res.output


# ------------------------------------------------------------- checkpoints
def test_checkpoint_for_a_model_without_one_is_a_usage_error(runner: CliRunner) -> None:
    res = run(runner, "twin", "predict", str(bundled_scenario_path()), "--model", "qt",
              "--checkpoint", str(DEFAULT_CHECKPOINT))
    assert res.exit_code == 2 and "has no checkpoint" in res.output and "__init__" not in res.output


def test_checkpoint_accepts_the_directory_or_a_file_inside(runner: CliRunner) -> None:
    outs = []
    for ck in (DEFAULT_CHECKPOINT, DEFAULT_CHECKPOINT / "config.json", DEFAULT_CHECKPOINT / "model.safetensors"):
        res = run(runner, "twin", "predict", str(bundled_scenario_path()), "--model", "gnn", "--checkpoint", str(ck),
                  "-q")
        assert res.exit_code == 0, res.output
        outs.append(res.stdout)
    assert outs[0] == outs[1] == outs[2]


def test_corrupt_safetensors_through_the_cli(runner: CliRunner, tmp_path: Path) -> None:
    d = tmp_path / "gnn"
    d.mkdir()
    (d / "config.json").write_bytes((DEFAULT_CHECKPOINT / "config.json").read_bytes())
    (d / "model.safetensors").write_bytes(b"garbage" * 3)
    for cmd in (["twin", "predict", str(bundled_scenario_path())], ["demo"]):
        res = run(runner, *cmd, "--model", "gnn", "--checkpoint", str(d))
        assert res.exit_code == 1 and "not a valid safetensors file" in res.output


# ------------------------------------------------------------------ train
def test_train_on_an_unrelated_directory(runner: CliRunner, tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "notes.txt").write_text("hello")
    (tmp_path / "b").mkdir()
    res = run(runner, "twin", "train", "--train", str(tmp_path / "a"), "--val", str(tmp_path / "b"),
              "--out", str(tmp_path / "m"))
    assert res.exit_code == 1 and "no GNNet result tarballs, no twinwatch dataset manifest" in res.output


@pytest.mark.parametrize(("option", "value"), [("--epochs", "0"), ("--lr", "-1"), ("--threads", "0"),
                                               ("--hidden", "0"), ("--batch-size", "0"), ("--batch-paths", "0"),
                                               ("--iterations", "0"), ("--time-budget", "0"), ("--patience", "0")])
def test_train_refuses_meaningless_settings(runner: CliRunner, tmp_path: Path, option: str, value: str) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    res = run(runner, "twin", "train", "--train", str(tmp_path / "a"), "--val", str(tmp_path / "b"),
              "--out", str(tmp_path / "m"), option, value)
    assert res.exit_code == 2 and f"Invalid value for '{option}'" in res.output
    assert not (tmp_path / "m").exists()


@pytest.mark.parametrize("start", [None, "twin/data/checkpoints/gnn_v1"])
def test_reset_readout_needs_a_hybrid_start(runner: CliRunner, tmp_path: Path, start: str | None) -> None:
    """No start, or a first-generation one without --hybrid: nothing to reset, said before any data is read."""
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    init = [] if start is None else ["--init-from", str(Path(__file__).resolve().parents[3] / start)]
    res = run(runner, "twin", "train", "--train", str(tmp_path / "a"), "--val", str(tmp_path / "b"),
              "--out", str(tmp_path / "m"), "--reset-readout", *init)
    assert res.exit_code == 2 and "--reset-readout needs --init-from a hybrid model" in res.output


def test_readout_width_change_needs_reset_readout(runner: CliRunner, tmp_path: Path) -> None:
    """--readout-hidden other than the --init-from model's own would leave its trained readout unloadable: refused
    by name unless --reset-readout rebuilds it, before any data is read."""
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    start = str(Path(__file__).resolve().parents[3] / "twin/data/checkpoints/gnn")
    res = run(runner, "twin", "train", "--train", str(tmp_path / "a"), "--val", str(tmp_path / "b"),
              "--out", str(tmp_path / "m"), "--init-from", start, "--readout-hidden", "96")
    assert res.exit_code == 2 and "another width needs --reset-readout" in res.output
    assert not (tmp_path / "m").exists()


def test_own_size_change_needs_reset_readout_and_a_hybrid(runner: CliRunner, tmp_path: Path) -> None:
    """--own-size per-packet: refused for a first-generation model, and for an --init-from hybrid composed otherwise
    unless --reset-readout, before any data is read."""
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    base = ["twin", "train", "--train", str(tmp_path / "a"), "--val", str(tmp_path / "b"), "--out", str(tmp_path / "m")]
    res = run(runner, *base, "--own-size", "per-packet")
    assert res.exit_code == 2 and "--own-size per-packet is an option of the hybrid" in res.output
    start = Path(__file__).resolve().parents[3] / "twin/data/checkpoints/gnn"
    composes = json.loads((start / "config.json").read_text())["architecture"].get("own_size", "independent")
    other = next(o for o in OWN_SIZE if o != composes)
    res = run(runner, *base, "--init-from", str(start), "--own-size", other)
    assert res.exit_code == 2 and "another composition needs --reset-readout" in res.output
    assert not (tmp_path / "m").exists()


@pytest.mark.parametrize(("args", "needle"), [
    (["--full-buffer-fade", "0.003"], "--full-buffer-fade is an option of the hybrid"),
    (["--hybrid", "--full-buffer-fade", "-1"], "Invalid value for '--full-buffer-fade'"),
    (["--hybrid", "--full-buffer-fade", "nan"], "Invalid value for '--full-buffer-fade'"),
    (["--full-buffer-depth", "50"], "--full-buffer-depth is an option of the hybrid"),
    (["--hybrid", "--full-buffer-depth", "0"], "Invalid value for '--full-buffer-depth'"),
    (["--hybrid", "--full-buffer-depth", "inf"], "Invalid value for '--full-buffer-depth'"),
])
def test_full_buffer_fade_is_a_hybrid_option_and_a_loss_ratio(runner: CliRunner, tmp_path: Path, args: list[str],
                                                              needle: str) -> None:
    """Refused before any data is read: the fade scales the hybrid's wait correction, by a loss ratio >= 0, at
    buffers deeper than a positive number of packets."""
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    res = run(runner, "twin", "train", "--train", str(tmp_path / "a"), "--val", str(tmp_path / "b"),
              "--out", str(tmp_path / "m"), *args)
    assert res.exit_code == 2 and needle in res.output
    assert not (tmp_path / "m").exists()


def test_train_refuses_to_write_into_its_data(runner: CliRunner, tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    res = run(runner, "twin", "train", "--train", str(tmp_path / "a"), "--val", str(tmp_path / "b"),
              "--out", str(tmp_path / "a" / "model"))
    assert res.exit_code == 2 and "overlaps the --train/--val folder" in res.output


# --------------------------------------------------------------- simulate
@pytest.mark.parametrize(("args", "needle"), [
    (["--area-km", "-100"], "Invalid value for '--area-km'"),
    (["--min-packets", "5000", "--max-packets", "100"], "--min-packets 5000 is larger than --max-packets 100"),
    (["--samples", "0"], "Invalid value for '--samples'"),
    (["--workers", "0"], "Invalid value for '--workers'"),
])
def test_simulate_dataset_refuses_meaningless_settings(runner: CliRunner, tmp_path: Path, args: list[str],
                                                       needle: str) -> None:
    base = ["simulate", "dataset", "--topology", "random", "--out", str(tmp_path / "ds")]
    if "--samples" not in args:  # an option given twice is a usage error of its own
        base += ["--samples", "1"]
    res = run(runner, *base, *args)
    assert res.exit_code == 2 and needle in res.output
    assert not (tmp_path / "ds").exists()


def test_simulate_stats_never_writes_nan(runner: CliRunner, tmp_path: Path) -> None:
    _native(tmp_path / "ds", 2, ci=float("nan"))  # no finite CI: rel_ci cannot be computed
    res = run(runner, "simulate", "stats", str(tmp_path / "ds"))
    assert res.exit_code == 0, res.output
    assert "NaN" not in res.stdout
    doc = json.loads(res.stdout)
    assert doc["rel_ci"]["mean"] is None and doc["samples"] == 2
    assert "no path of any sample has a finite delay CI" in doc["nulls"]["rel_ci.mean"]
    out = tmp_path / "stats.json"
    res = run(runner, "simulate", "stats", str(tmp_path / "ds"), "--json", str(out))
    assert res.exit_code == 0 and json.loads(out.read_text())["nulls"] == doc["nulls"]


# ------------------------------------------------------------ consistency
HELP_COMMANDS = [["twin"], ["twin", "predict"], ["twin", "evaluate"], ["twin", "train"], ["twin", "explain"], ["demo"],
                 ["simulate"],
                 ["simulate", "dataset"], ["simulate", "stats"]]


@pytest.mark.parametrize("cmd", HELP_COMMANDS, ids=" ".join)
def test_every_help_has_examples_and_exit_status(runner: CliRunner, cmd: list[str]) -> None:
    res = run(runner, *cmd, "--help")
    text = res.output.lower()
    assert res.exit_code == 0 and "examples" in text and "exit status" in text
    assert "0" in text.split("exit status", 1)[1] and "2" in text.split("exit status", 1)[1]


@pytest.mark.parametrize("cmd", [["twin", "predict"], ["twin", "evaluate"], ["twin", "train"],
                                 ["simulate", "dataset"]], ids=" ".join)
def test_progress_is_spelled_the_same_everywhere(runner: CliRunner, cmd: list[str]) -> None:
    res = run(runner, *cmd, "--help")
    assert "--progress / --no-progress" in res.output
    assert "--quiet" not in res.output  # the old spelling is a hidden alias


def test_quiet_alias_and_no_progress_agree(runner: CliRunner) -> None:
    a = run(runner, "twin", "predict", str(bundled_scenario_path()), "--model", "qt", "-q")
    b = run(runner, "twin", "predict", str(bundled_scenario_path()), "--model", "qt", "--no-progress")
    assert a.exit_code == b.exit_code == 0 and a.stdout == b.stdout and a.stdout.count("\n") == 1


def test_json_report_is_a_file_everywhere(runner: CliRunner, tmp_path: Path) -> None:
    _native(tmp_path / "ds", 2)
    rep = tmp_path / "eval.json"
    res = run(runner, "twin", "evaluate", str(tmp_path / "ds"), "--model", "qt", "--json", str(rep), "-q")
    assert res.exit_code == 0, res.output
    assert json.loads(rep.read_text())["overall"]["samples"] == 2
    ex = tmp_path / "explain.json"
    res = run(runner, "twin", "explain", str(bundled_scenario_path()), "--path", "0", "12", "--json", str(ex))
    assert res.exit_code == 0 and json.loads(ex.read_text())["dst"] == 12
    bare = run(runner, "twin", "explain", str(bundled_scenario_path()), "--path", "0", "12", "--json")
    assert bare.exit_code == 0 and json.loads(bare.stdout) == json.loads(ex.read_text())


def test_explain_takes_the_names_demo_shows(runner: CliRunner) -> None:
    demo = run(runner, "demo", "--predict", "--model", "qt", "--all")
    assert "Seattle → Princeton" in demo.stdout  # demo shows names; explain must take them
    by_name = run(runner, "twin", "explain", str(bundled_scenario_path()), "--path", "Seattle", "Princeton", "--json")
    by_number = run(runner, "twin", "explain", str(bundled_scenario_path()), "--path", "0", "12", "--json")
    assert by_name.exit_code == by_number.exit_code == 0
    assert json.loads(by_name.stdout) == json.loads(by_number.stdout)
    bad = run(runner, "twin", "explain", str(bundled_scenario_path()), "--path", "Seattle", "Atlantis")
    assert bad.exit_code == 2 and "unknown node 'Atlantis'" in bad.output
