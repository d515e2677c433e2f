"""The shared CLI options of stream.commands._options: one spelling, same behaviour everywhere."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from twinwatch.stream.commands._options import (
    EXIT_STATUS_HELP,
    SERVICE_FAILED_HELP,
    ExitCode,
    atomic_output,
    atomic_output_dir,
    checkpoint_option,
    json_report_option,
    out_dir_option,
    out_file_option,
    progress_option,
    write_json_report,
)


@click.command()
@progress_option
def _prog(progress: bool) -> None:
    click.echo(repr(progress))


@pytest.mark.parametrize(
    ("args", "expected"),
    [(["--progress"], "True"), (["--no-progress"], "False"), (["-q"], "False"), (["--quiet"], "False"),
     (["--progress", "-q"], "False")],
)
def test_progress_spellings(args: list[str], expected: str) -> None:
    res = CliRunner().invoke(_prog, args)
    assert res.exit_code == 0, res.output
    assert res.output.strip() == expected


def test_progress_defaults_to_whether_stderr_is_a_tty() -> None:
    # CliRunner's stderr is not a terminal: no progress bar by default
    assert CliRunner().invoke(_prog, []).output.strip() == "False"


def test_quiet_is_hidden_from_help() -> None:
    out = CliRunner().invoke(_prog, ["--help"]).output
    assert "--progress / --no-progress" in out
    assert "--quiet" not in out


@click.command()
@json_report_option
def _rep(json_report: str | None) -> None:
    write_json_report(json_report, {"n": 3, "bad": float("inf")})


def test_json_report_to_file_and_stdout(tmp_path: Path) -> None:
    dest = tmp_path / "r.json"
    assert CliRunner().invoke(_rep, ["--json", str(dest)]).exit_code == 0
    assert json.loads(dest.read_text()) == {"n": 3, "bad": None}  # JSON has no infinity: null
    for args in (["--json", "-"], ["--json"]):  # '-' and the old bare-flag spelling both mean stdout
        res = CliRunner().invoke(_rep, args)
        assert res.exit_code == 0, res.output
        assert json.loads(res.stdout) == {"n": 3, "bad": None}
    res = CliRunner().invoke(_rep, [])
    assert res.exit_code == 0 and res.output == ""


@click.command()
@checkpoint_option
def _ckpt(checkpoint: Path | None) -> None:
    click.echo(str(checkpoint))


def test_checkpoint_file_is_normalised_to_its_directory(tmp_path: Path) -> None:
    (tmp_path / "model.safetensors").write_bytes(b"x")
    by_dir = CliRunner().invoke(_ckpt, ["--checkpoint", str(tmp_path)]).output.strip()
    by_file = CliRunner().invoke(_ckpt, ["--checkpoint", str(tmp_path / "model.safetensors")]).output.strip()
    assert Path(by_dir) == Path(by_file) == tmp_path
    missing = CliRunner().invoke(_ckpt, ["--checkpoint", str(tmp_path / "nope")])
    assert missing.exit_code == ExitCode.USAGE


@click.command()
@click.argument("src", type=click.Path(exists=True, path_type=Path))
@out_file_option(inputs=("src",))
def _copy(src: Path, out: str) -> None:
    data = src.read_bytes()
    with atomic_output(out) as fh:
        fh.write(data.upper())


def test_out_file_equal_to_input_is_refused_and_input_survives(tmp_path: Path) -> None:
    src = tmp_path / "in.txt"
    src.write_text("keep me")
    for alias in (str(src), str(tmp_path / "." / "in.txt")):
        res = CliRunner().invoke(_copy, [str(src), "-o", alias])
        assert res.exit_code == ExitCode.USAGE
        assert "also an input" in res.output
    assert src.read_text() == "keep me"
    res = CliRunner().invoke(_copy, [str(src), "--out", str(tmp_path / "o.txt")])
    assert res.exit_code == 0 and (tmp_path / "o.txt").read_text() == "KEEP ME"
    res = CliRunner().invoke(_copy, [str(src)])  # default: stdout
    assert res.exit_code == 0 and res.stdout == "KEEP ME"


def test_atomic_output_leaves_no_temporary_and_keeps_old_on_failure(tmp_path: Path) -> None:
    target = tmp_path / "o.bin"
    target.write_bytes(b"old")
    with pytest.raises(ZeroDivisionError), atomic_output(target) as fh:
        fh.write(b"half")
        _ = 1 / 0
    assert target.read_bytes() == b"old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["o.bin"]


def test_atomic_outputs_get_the_usual_permissions_not_the_temporaries(tmp_path: Path) -> None:
    """``mkstemp`` / ``mkdtemp`` make 0o600 / 0o700; a written model file or dataset must read like any other
    output (umask applied), and a replaced file keeps its own mode."""
    old_mask = os.umask(0o022)
    try:
        with atomic_output(tmp_path / "new.yaml") as fh:
            fh.write(b"a: 1\n")
        assert stat.S_IMODE((tmp_path / "new.yaml").stat().st_mode) == 0o644
        kept = tmp_path / "kept.yaml"
        kept.write_bytes(b"old")
        kept.chmod(0o640)
        with atomic_output(kept) as fh:
            fh.write(b"new")
        assert stat.S_IMODE(kept.stat().st_mode) == 0o640 and kept.read_bytes() == b"new"
        with atomic_output_dir(tmp_path / "ds") as d:
            (d / "x.txt").write_text("1")
        assert stat.S_IMODE((tmp_path / "ds").stat().st_mode) == 0o755
        os.umask(0o077)
        with atomic_output(tmp_path / "private.yaml") as fh:
            fh.write(b"b: 2\n")
        assert stat.S_IMODE((tmp_path / "private.yaml").stat().st_mode) == 0o600
    finally:
        os.umask(old_mask)


@click.command()
@click.argument("data", type=click.Path(exists=True, path_type=Path))
@out_dir_option(inputs=("data",))
def _mkds(data: Path, out: Path) -> None:
    with atomic_output_dir(out) as d:
        (d / "copy.txt").write_text(data.read_text() if data.is_file() else "dir")


def test_out_dir_refuses_input_and_its_parents(tmp_path: Path) -> None:
    src = tmp_path / "data" / "x.txt"
    src.parent.mkdir()
    src.write_text("x")
    for out in (src.parent, tmp_path):  # the input's folder, and a folder above it
        res = CliRunner().invoke(_mkds, [str(src), "--out", str(out)])
        assert res.exit_code == ExitCode.USAGE, res.output
    res = CliRunner().invoke(_mkds, [str(src), "--out", str(tmp_path / "ds")])
    assert res.exit_code == 0, res.output
    assert (tmp_path / "ds" / "copy.txt").read_text() == "x"
    # rerun replaces the old content only when complete, and leaves no temporaries behind
    res = CliRunner().invoke(_mkds, [str(src.parent), "--out", str(tmp_path / "ds")])
    assert (tmp_path / "ds" / "copy.txt").read_text() == "dir"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data", "ds"]


def test_out_dir_that_is_a_file_is_refused(tmp_path: Path) -> None:
    f = tmp_path / "f"
    f.write_text("")
    res = CliRunner().invoke(_mkds, [str(tmp_path), "--out", str(f)])
    assert res.exit_code == ExitCode.USAGE


def test_exit_status_help_lists_every_code() -> None:
    for code in ExitCode:
        assert f"  {int(code)}  " in EXIT_STATUS_HELP + SERVICE_FAILED_HELP
    assert [int(c) for c in ExitCode] == [0, 1, 2, 3, 4]
    from twinwatch.stream.commands.run import run

    text = CliRunner().invoke(run, ["--help"], terminal_width=120).output
    assert "  4  the service stopped on an error" in text and "kafka.startup_timeout_s" in text


def test_progress_is_off_under_json_logs(capsys: pytest.CaptureFixture[str]) -> None:
    """``--log-format json`` keeps stderr one JSON object per line: an explicit ``--progress`` is logged, not drawn."""
    from twinwatch.stream.logs import configure_logging

    configure_logging(fmt="json")
    try:
        res = CliRunner().invoke(_prog, ["--progress"])
    finally:
        configure_logging(fmt="text")
    assert res.exit_code == 0, res.output
    assert res.output.strip() == "False"
    logged = [json.loads(ln) for ln in capsys.readouterr().err.splitlines() if ln.startswith("{")]
    assert any("progress bar off" in doc["msg"] for doc in logged)


def test_simulate_telemetry_stderr_is_json_lines_with_progress(tmp_path: Path) -> None:
    """A long command asked for a bar under JSON logs writes only JSON lines to stderr (no rich control codes)."""
    import subprocess
    import sys

    proc = subprocess.run(
        [sys.executable, "-c", "from twinwatch.stream.cli import main; main()", "--log-format", "json",
         "simulate", "telemetry", "--network", "abilene", "--duration", "2m", "--window", "10s", "--seed", "3",
         "--progress",
         "--out", str(tmp_path / "run")],
        capture_output=True, text=True, timeout=300, check=False,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert lines, "the command logs at least its summary"
    for ln in lines:
        assert "\x1b[" not in ln
        json.loads(ln)
