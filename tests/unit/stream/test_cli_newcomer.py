"""A newcomer's malformed inputs and option values, command by command (issue 14, "newcomer pass").

Each test is one thing a new user may type that once misbehaved (silently kept the last of a
repeated option, a traceback, a hang, silent loss); the CLI must answer with a one-line error
and the documented exit status (2: usage error, 1: invalid input), never a traceback.
"""

from __future__ import annotations

import json
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


# ----------------------------------------------------------------------------- empty inputs (session 6)
# An empty input is not a success: nothing was checked (adapt, replay, detect series) or there is no
# ground truth to score against (score). Every file-reading command exits 1 on one, with a one-line
# message naming the file; an empty input among several non-empty ones makes the status 3.


@pytest.mark.parametrize("content", [b"", b"\n  \n\r\n"], ids=["empty", "blank-lines"])
def test_adapt_of_an_empty_file_is_an_input_error(tmp_path: Path, content: bytes) -> None:
    """Exit 0 with zero counts used to read as "all fine"; the JSON report says 1 and zero records too."""
    src = tmp_path / "events.jsonl"
    src.write_bytes(content)
    report = tmp_path / "report.json"
    code, out = _invoke(["adapt", "--format", "gnmic", str(src), "--json", str(report)])
    assert code == 1, out
    assert f"{src}: empty input (no message): nothing was decoded" in out
    doc = json.loads(report.read_text())
    assert doc["exit_status"] == 1 and doc["messages"] == 0 and doc["records"]["in"] == 0


def test_adapt_of_an_empty_stdin_is_an_input_error() -> None:
    """``producer | twinwatch adapt -`` with a producer that wrote nothing: exit 1, the message says stdin."""
    res = CliRunner().invoke(cli, ["adapt", "--format", "influx", "-"], input=b"")
    assert res.exit_code == 1, res.output
    assert "standard input: empty input (no message)" in res.output


def test_replay_of_an_empty_capture_is_an_input_error_before_any_output(tmp_path: Path) -> None:
    """``replay empty.jsonl`` used to exit 0 ("replayed 0 messages") and write an empty alerts file."""
    capture = tmp_path / "twinwatch.raw.gnmic.jsonl"
    capture.write_bytes(b"\n\n")
    out_file = tmp_path / "alerts.jsonl"
    code, out = _invoke(["replay", str(capture), "--out", str(out_file)])
    assert code == 1, out
    assert f"{capture}: empty capture (no message): nothing to replay" in out
    assert not out_file.exists()


def test_replay_with_one_empty_capture_among_others_is_partial(tmp_path: Path) -> None:
    """The non-empty capture is replayed; the empty one is named on stderr and the status is 3, not 0."""
    capture = FIXTURES / "gnmic" / "srl_statistics" / "input.jsonl"
    n_lines = sum(1 for line in capture.read_bytes().splitlines() if line.strip())
    empty = tmp_path / "empty.jsonl"
    empty.write_bytes(b"")
    code, out = _invoke(["replay", str(capture), str(empty), "--format", "gnmic",
                         "--out", str(tmp_path / "alerts.jsonl")])  # fmt: skip
    assert code == 3, out
    assert f"warning: {empty}: empty capture (no message); nothing replayed from it" in out
    assert f"replayed {n_lines} messages" in out


@pytest.mark.parametrize("network", [[], ["--network", "abilene", "--model", "qt"]])
def test_replay_with_every_message_rejected_is_an_input_error(tmp_path: Path, network: list[str]) -> None:
    """Every message a dead letter: nothing was replayed, exit 1 as ``adapt`` does (this used to exit 3)."""
    capture = tmp_path / "twinwatch.raw.gnmic.jsonl"
    capture.write_bytes(b'garbage\n{"x": 1}\nnot json [brackets]\n')
    dlq = tmp_path / "dlq.jsonl"
    code, out = _invoke(["replay", str(capture), *network, "--out", str(tmp_path / "a.jsonl"), "--dlq", str(dlq)])
    assert code == 1, out
    assert "3 dead letter(s)" in out and "every message was rejected" in out
    assert len(dlq.read_text().splitlines()) == 3  # counted and kept, not vanished


def test_replay_with_some_messages_rejected_is_partial(tmp_path: Path) -> None:
    """A good capture plus one bad line still exits 3 (partial), not 1."""
    good = (FIXTURES / "gnmic" / "srl_statistics" / "input.jsonl").read_bytes()
    capture = tmp_path / "twinwatch.raw.gnmic.jsonl"
    capture.write_bytes(good.rstrip(b"\n") + b"\ngarbage\n")
    code, out = _invoke(["replay", str(capture), "--out", str(tmp_path / "a.jsonl")])
    assert code == 3, out
    assert "every message was rejected" not in out


_LABEL = '{"kind": "link_down", "start": 1700000100, "end": 1700000200, "entity_kind": "link", "entities": ["0->1"]}\n'


def test_score_with_an_empty_labels_file_is_an_input_error(tmp_path: Path) -> None:
    """No ground truth: precision/recall are undefined; this used to print a table of dashes with exit 0."""
    labels, alerts = tmp_path / "labels.jsonl", tmp_path / "alerts.jsonl"
    labels.write_text("\n")
    alerts.write_text("")
    code, out = _invoke(["score", "--labels", str(labels), "--alerts", str(alerts)])
    assert code == 1, out
    assert f"--labels {labels}: no label in the file (empty)" in out
    assert "events" not in out and len(out.strip().splitlines()) == 1  # one line, no table


def test_score_with_an_empty_alerts_file_is_a_valid_answer(tmp_path: Path) -> None:
    """A detector that raised nothing is scored: one fault, none detected → recall 0, exit 0."""
    labels, alerts = tmp_path / "labels.jsonl", tmp_path / "alerts.jsonl"
    labels.write_text(_LABEL)
    alerts.write_text("")
    code, out = _invoke(["score", "--labels", str(labels), "--alerts", str(alerts)])
    assert code == 0, out
    row = next(line.split() for line in out.splitlines() if line.startswith("link_down"))
    assert row[1:4] == ["1", "0", "0"] and row[5] == "0.000"  # events, detected, FP; recall


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("timestamp,value\n", "no data row (only the header); nothing to score"),
        ("timestamp,value\nyesterday,1\n2024-01-01T00:00:00Z,abc\n",
         "none of its 2 data rows parses (line 2: timestamp 'yesterday' is not ISO 8601"),
    ],
    ids=["header-only", "all-rows-malformed"],
)
def test_detect_series_with_nothing_to_score_is_an_input_error(tmp_path: Path, content: str, message: str) -> None:
    """A header alone, or only unparsable rows, used to exit 0 ("0 rows scored") and write a file of blanks."""
    src, dst = tmp_path / "cpu.csv", tmp_path / "scored.csv"
    src.write_text(content)
    code, out = _invoke(["detect", "series", str(src), "--out", str(dst)])
    assert code == 1, out
    assert message in out
    assert out.count(str(src)) == 1  # one line, not the same error twice
    assert not dst.exists()


def test_detect_series_folder_with_a_header_only_file_is_partial(tmp_path: Path) -> None:
    """The good series is scored and written; the header-only one is an error: exit 3."""
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "good.csv").write_text("timestamp,value\n" + "".join(f"{t},{t % 7}\n" for t in range(40)))
    (tmp_path / "in" / "hollow.csv").write_text("timestamp,value\n")
    code, out = _invoke(["detect", "series", str(tmp_path / "in"), "--out", str(tmp_path / "out")])
    assert code == 3, out
    assert "hollow.csv: no data row (only the header)" in out
    assert (tmp_path / "out" / "good.csv").is_file() and not (tmp_path / "out" / "hollow.csv").exists()


# ----------------------------------------------------------------------------- newcomer pass, session 6


def test_replay_checks_the_labels_file_before_replaying(tmp_path: Path) -> None:
    """A malformed ``--labels`` used to end a whole replay in an orjson traceback when the report was written."""
    capture = FIXTURES / "gnmic" / "srl_statistics" / "input.jsonl"
    labels = tmp_path / "labels.jsonl"
    labels.write_text('{"kind": "link_down"\n')
    out_file = tmp_path / "alerts.jsonl"
    code, out = _invoke(["replay", str(capture), "--format", "gnmic", "--network", "nsfnet", "--model", "qt",
                         "--out", str(out_file), "--report", str(tmp_path / "r.html"), "--labels", str(labels)])
    assert code == 1, out
    assert f"--labels {labels}: line 1: not JSON" in out
    assert not out_file.exists()  # refused before any work


@pytest.mark.parametrize(
    ("manifest", "rule"),
    [
        ('{"config": {"duration_s": -3600, "window_s": 10}, "start_epoch_s": 1700000000}',
         "config.duration_s must be a finite number > 0, got -3600.0"),
        ('{"config": {"duration_s": 3600, "window_s": 10}, "start_epoch_s": NaN}',
         "start_epoch_s must be a finite number, got nan"),
        ('{"config": {"duration_s": 3600, "window_s": 0}, "start_epoch_s": 1700000000}',
         "config.window_s must be a finite number > 0, got 0.0"),
    ],
    ids=["negative-duration", "nan-start", "zero-window"],
)
def test_score_refuses_a_manifest_with_an_impossible_run_span(tmp_path: Path, manifest: str, rule: str) -> None:
    """A run of -1 h used to be scored (exit 0, 0.00 fault-free hours); now exit 1 naming the field."""
    labels, alerts, man = tmp_path / "labels.jsonl", tmp_path / "alerts.jsonl", tmp_path / "manifest.json"
    labels.write_text(_LABEL)
    alerts.write_text("")
    man.write_text(manifest)
    code, out = _invoke(["score", "--labels", str(labels), "--alerts", str(alerts), "--manifest", str(man)])
    assert code == 1, out
    assert f"--manifest {man}: not a testbed manifest ({rule})" in out


def test_json_report_into_a_missing_folder_is_a_usage_error_before_any_work(tmp_path: Path) -> None:
    """``adapt ... --json no/such/r.json`` used to decode everything, print the rows, then fail naming --out."""
    capture = FIXTURES / "gnmic" / "srl_statistics" / "input.jsonl"
    code, out = _invoke(["adapt", "--format", "gnmic", str(capture), "--json", str(tmp_path / "no" / "r.json")])
    assert code == 2, out
    assert "--json" in out and "does not exist" in out and "--out" not in out
    assert '"kpi"' not in out  # no Measurement row was printed
