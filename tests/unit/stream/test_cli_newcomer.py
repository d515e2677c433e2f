"""A newcomer's malformed inputs and option values, command by command (issue 14, "newcomer pass").

Each test is one thing a new user may type that once misbehaved (silently kept the last of a
repeated option, a traceback, a hang, silent loss); the CLI must answer with a one-line error
and the documented exit status (2: usage error, 1: invalid input), never a traceback.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from twinwatch.stream.cli import cli

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures"


def _invoke(args: list[str]) -> tuple[int, str]:
    res = CliRunner().invoke(cli, args)
    assert "Traceback" not in res.output, res.output
    assert res.exception is None or isinstance(res.exception, SystemExit), repr(res.exception)
    return res.exit_code, res.output


def test_replay_refuses_a_repeated_format(tmp_path: Path) -> None:
    """``--format gnmic --format influx`` used to read every capture as influx, silently."""
    capture = FIXTURES / "gnmic" / "srl_statistics" / "input.jsonl"
    code, out = _invoke(["replay", str(capture), "--format", "gnmic", "--format", "influx",
                         "--out", str(tmp_path / "alerts.jsonl")])  # fmt: skip
    assert code == 2
    assert "--format" in out and "given 2 times (gnmic, influx)" in out
    assert not (tmp_path / "alerts.jsonl").exists()  # refused before any work


def test_replay_single_format_still_works(tmp_path: Path) -> None:
    """One ``--format`` is taken as before (the twin-less mode: no network model needed)."""
    capture = FIXTURES / "gnmic" / "srl_statistics" / "input.jsonl"
    n_lines = sum(1 for line in capture.read_bytes().splitlines() if line.strip())
    code, out = _invoke(["replay", str(capture), "--format", "gnmic", "--out", str(tmp_path / "alerts.jsonl")])
    assert code in (0, 3), out
    assert f"replayed {n_lines} messages (gnmic {n_lines})" in out


@pytest.mark.parametrize("args", [["--format", "nosuch"], ["--format", "auto"]])
def test_replay_unknown_or_unguessable_format_is_a_usage_error(tmp_path: Path, args: list[str]) -> None:
    """An unknown format name, or ``auto`` on a file whose name does not say the format: exit 2, one line."""
    capture = tmp_path / "capture.jsonl"
    capture.write_bytes(b'{"a": 1}\n')
    code, out = _invoke(["replay", str(capture), *args, "--out", str(tmp_path / "alerts.jsonl")])
    assert code == 2, out
    assert "--format" in out


def test_adapt_refuses_a_repeated_format() -> None:
    """``adapt --format gnmic --format influx`` used to decode the gnmic capture as influx (all rejected)."""
    capture = FIXTURES / "gnmic" / "srl_statistics" / "input.jsonl"
    code, out = _invoke(["adapt", "--format", "gnmic", "--format", "influx", str(capture)])
    assert code == 2
    assert "given 2 times (gnmic, influx)" in out


@pytest.mark.parametrize(
    ("args", "option"),
    [
        (["adapt", "--format", "gnmic", "--max-age", "nan"], "--max-age"),  # was: ValueError traceback
        (["adapt", "--format", "gnmic", "--max-skew", "inf"], "--max-skew"),  # was: OverflowError traceback
        (["replay", "--format", "gnmic", "--window", "nan", "--out", "{tmp}/a.jsonl"], "--window"),  # traceback
        (["replay", "--format", "gnmic", "--alpha", "nan", "--out", "{tmp}/a.jsonl"], "--alpha"),  # ran, never fired
        (["replay", "--format", "gnmic", "--lateness", "inf", "--out", "{tmp}/a.jsonl"], "--lateness"),
        (["score", "--labels", "{capture}", "--alerts", "{capture}", "--alpha", "nan"], "--alpha"),
    ],
)
def test_non_finite_option_values_are_usage_errors(tmp_path: Path, args: list[str], option: str) -> None:
    """click's FloatRange lets NaN through every bound; FiniteFloatRange refuses NaN and ±inf (exit 2)."""
    capture = FIXTURES / "gnmic" / "srl_statistics" / "input.jsonl"
    argv = [a.format(tmp=tmp_path, capture=capture) for a in args]
    if argv[0] in ("adapt", "replay"):
        argv.insert(1, str(capture))
    code, out = _invoke(argv)
    assert code == 2, out
    assert option in out and "is not a finite number" in out


def test_replay_of_an_empty_parquet_file_is_an_input_error(tmp_path: Path) -> None:
    """A 0-byte ``.parquet`` capture used to end in pyarrow's ArrowInvalid traceback."""
    capture = tmp_path / "capture.parquet"
    capture.write_bytes(b"")
    code, out = _invoke(["replay", str(capture), "--format", "gnmic", "--out", str(tmp_path / "a.jsonl")])
    assert code == 1
    assert f"{capture}: not a readable Parquet capture" in out


def test_run_with_a_non_utf8_config_is_an_input_error(tmp_path: Path) -> None:
    """``run --config`` on a binary file used to raise UnicodeDecodeError out of load_config."""
    config = tmp_path / "service.yaml"
    config.write_bytes(b"\x90\xff networks: []\n")
    code, out = _invoke(["run", "--config", str(config), "--check"])
    assert code == 1
    assert f"{config}: not UTF-8 text (byte 0" in out


def test_explain_refuses_a_sample_number_a_scenario_file_does_not_have() -> None:
    """A scenario YAML is one sample; ``--sample 3`` used to explain sample 0 without a word."""
    from twinwatch.twin.data import bundled_scenario_path

    code, out = _invoke(["twin", "explain", str(bundled_scenario_path()), "--sample", "3", "--path", "0", "1"])
    assert code == 2
    assert "--sample" in out and "one sample, number 0), got 3" in out


def test_simulate_telemetry_refuses_an_absurd_duration(tmp_path: Path) -> None:
    """``--duration 99999999999d`` (8.6e15 s) used to hang before writing anything (a Python loop per day)."""
    code, out = _invoke(["simulate", "telemetry", "--network", "abilene", "--duration", "99999999999d",
                         "--out", str(tmp_path / "run")])  # fmt: skip
    assert code == 2
    assert "--duration" in out and "at most 366 days and 10,000,000 windows" in out
    assert not (tmp_path / "run").exists()


def test_simulate_telemetry_refuses_too_many_windows(tmp_path: Path) -> None:
    """1 ms windows over a week are 6e8 windows: refused with the limit, not attempted."""
    code, out = _invoke(["simulate", "telemetry", "--network", "abilene", "--duration", "1w", "--window", "1ms",
                         "--out", str(tmp_path / "run")])  # fmt: skip
    assert code == 2
    assert "10,000,000 windows" in out


def test_simulate_dataset_refuses_a_sample_count_it_cannot_list(tmp_path: Path) -> None:
    """``--samples 10**12`` used to build a list of 10**12 pending sample numbers (a hang with growing memory)."""
    code, out = _invoke(["simulate", "dataset", "--topology", "random", "--samples", str(10**12),
                         "--out", str(tmp_path / "ds")])  # fmt: skip
    assert code == 2
    assert "--samples" in out and "1<=x<=1000000" in out
    assert not (tmp_path / "ds").exists()


def test_predict_reads_a_scenario_from_a_pipe(tmp_path: Path) -> None:
    """``twin predict <(cat scenario.yaml)`` (a FIFO) used to answer "dataset root ... does not exist"."""
    import os
    import threading

    from twinwatch.twin.data import bundled_scenario_path

    fifo = tmp_path / "scenario.pipe"
    os.mkfifo(fifo)
    text = bundled_scenario_path().read_bytes()

    def feed() -> None:
        with open(fifo, "wb") as fh:  # blocks until the command opens the pipe
            fh.write(text)

    writer = threading.Thread(target=feed, daemon=True)
    writer.start()
    code, out = _invoke(["twin", "predict", str(fifo), "--model", "qt", "--no-progress"])
    writer.join(timeout=10)
    assert code == 0, out
    line = next(ln for ln in out.splitlines() if ln.startswith("{"))
    assert '"n_nodes":14' in line  # the bundled NSFNet scenario, 14 nodes


def test_load_config_refuses_a_non_utf8_file_itself(tmp_path: Path) -> None:
    """The configuration loader, not only `run`, turns a binary file into a ConfigError naming the file."""
    from twinwatch.stream.config import ConfigError, load_config

    config = tmp_path / "service.yaml"
    config.write_bytes(b"\x90\xff networks: []\n")
    with pytest.raises(ConfigError, match=r"service\.yaml: not UTF-8 text \(byte 0\)"):
        load_config(config)


def test_network_validate_reads_a_model_from_a_pipe(tmp_path: Path) -> None:
    """``twinwatch network validate <(cat net.yaml)`` (a FIFO) used to answer "the file does not exist"."""
    import os
    import threading

    from twinwatch.twin.netmodel import network_path

    fifo = tmp_path / "net.pipe"
    os.mkfifo(fifo)
    text = network_path("abilene").read_bytes()

    def feed() -> None:
        with open(fifo, "wb") as fh:  # blocks until the command opens the pipe
            fh.write(text)

    writer = threading.Thread(target=feed, daemon=True)
    writer.start()
    code, out = _invoke(["network", "validate", str(fifo)])
    writer.join(timeout=10)
    assert code == 0, out
    assert "does not exist" not in out
    code, out = _invoke(["network", "validate", str(tmp_path)])  # a directory is named as one
    assert code != 0 and "is a directory" in out


@pytest.mark.parametrize("args", [
    ["twin", "predict", "nsfnet", "-m", "qt", "--model", "gnn"],
    ["simulate", "telemetry", "--network", "abilene", "--duration", "1m", "--duration", "2m"],
    ["detect", "series", "x.csv", "--period", "daily", "--period=weekly"],
])
def test_any_single_value_option_given_twice_is_a_usage_error(args: list[str]) -> None:
    """Click keeps the last of a repeated option silently; every sub-command refuses it (one mechanism)."""
    code, out = _invoke(args)
    assert code == 2, out
    assert "given 2 times" in out


def test_repeating_a_flag_is_still_fine() -> None:
    code, out = _invoke(["network", "show", "abilene", "--links", "--links"])
    assert code == 0, out
