"""Issue 14, ``twinwatch adapt`` and the global options: exit statuses, reports that add up, rejection text
that is data (not markup), inventory errors as one line, a man-page help, and JSON-only stderr with
``--log-format json``."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import orjson
import pytest
from click.testing import CliRunner

from twinwatch.stream.cli import cli

REPO = Path(__file__).resolve().parents[3]
FIXTURES = REPO / "tests" / "fixtures"
NOW = 1_700_000_000_000_000_000
OC = "/interfaces/interface/state/counters/"
#: one golden input per format of issue 14
GOLDEN = {
    "gnmic": "gnmic/openconfig_array_last_clear/input.jsonl",
    "gnmi": "gnmi/arista_keyed/input.json",
    "telegraf-json": "telegraf-json/snmp_batch/input.json",
    "influx": "influx/snmp_iftable_ifxtable/input.txt",
    "cisco-mdt": "cisco-mdt/pmacct_xr_generic_counters/input.jsonl",
    "otlp": "otlp/hostmetrics_network/input.json",
    "goflow2": "goflow2/readme_and_v1/input.jsonl",
    "probe": "probe/twinwatch_json/input.jsonl",
}


def _events(n: int = 3) -> bytes:
    """``n`` clean gnmic samples (10 s apart) of two mapped counters of one interface."""
    return b"\n".join(
        orjson.dumps({"name": "s", "timestamp": NOW + k * 10**10, "tags": {"source": "r1", "interface_name": "e1"},
                      "values": {OC + "in-octets": str(1000 * k), OC + "out-octets": str(2000 * k)}})
        for k in range(n)
    )  # fmt: skip


def _adapt(*args: str, stdin: bytes | None = None) -> tuple[int, str, str]:
    res = CliRunner().invoke(cli, ["adapt", *args], input=stdin)
    assert res.exception is None or isinstance(res.exception, SystemExit), res.exception
    return res.exit_code, res.stdout, res.stderr


def _report(tmp_path: Path, *args: str, stdin: bytes | None = None) -> tuple[int, dict[str, object]]:
    rep = tmp_path / "report.json"
    code, _, _ = _adapt(*args, "--json", str(rep), stdin=stdin)
    return code, json.loads(rep.read_text())


def test_exit_status_clean_partial_and_all_rejected(tmp_path: Path) -> None:
    code, rep = _report(tmp_path, "--format", "gnmic", "-", stdin=_events())
    assert code == 0 and rep["exit_status"] == 0
    # 3 samples of 2 counters: the first two are pending, the other four are rates
    assert rep["records"] == {"in": 6, "out": 4, "rejected": 0, "pending": 2}
    code, rep = _report(tmp_path, "--format", "gnmic", "-", stdin=_events() + b"\n{broken")
    assert code == 3 and rep["rejected_by_reason"] == {"malformed_json": 1}
    code, rep = _report(tmp_path, "--format", "gnmic", "-", stdin=b"{broken\nnot json either\n")
    assert code == 1 and rep["records"] == {"in": 2, "out": 0, "rejected": 2, "pending": 0}


def test_unmapped_leaves_alone_do_not_make_partial_success(tmp_path: Path) -> None:
    ev = orjson.dumps({"timestamp": NOW, "tags": {"source": "r1", "interface_name": "e1"},
                       "values": {OC + "in-octets": "1", "/interfaces/interface/state/mtu": 9000}})  # fmt: skip
    code, rep = _report(tmp_path, "--format", "gnmic", "--samples", "-", stdin=ev)
    assert code == 0 and rep["rejected_by_reason"] == {"unmapped_leaf": 1} and rep["identity_holds"]


def test_empty_input_is_an_input_error() -> None:
    """Nothing was checked: exit 1 (session 6; see test_cli_newcomer.py for the message)."""
    assert _adapt("--format", "gnmic", "-", stdin=b"")[0] == 1


@pytest.mark.parametrize("fmt", sorted(GOLDEN))
@pytest.mark.parametrize("samples", [False, True])
def test_report_adds_up_for_every_format(tmp_path: Path, fmt: str, samples: bool) -> None:
    args = ["--format", fmt, str(FIXTURES / GOLDEN[fmt])] + (["--samples"] if samples else [])
    code, rep = _report(tmp_path, *args)
    r = rep["records"]
    assert isinstance(r, dict) and r["in"] > 0
    assert r["in"] == r["out"] + r["rejected"] + r["pending"], rep
    assert r["rejected"] == sum(rep["rejected_by_reason"].values())  # type: ignore[union-attr]
    assert r["pending"] == sum(rep["pending_by_reason"].values())  # type: ignore[union-attr]
    assert code == rep["exit_status"] and code in (0, 3)


def test_summary_on_stderr_states_the_identity() -> None:
    _, _, err = _adapt("--format", "gnmic", "-", stdin=_events())
    assert "records in 6 = out 4 + rejected 0 + pending 2" in err


def test_rejection_text_with_brackets_is_printed_literally() -> None:
    # the leaf names appear in the unknown_path detail: '[/bold]' would be a rich closing tag
    ev = orjson.dumps({"timestamp": NOW, "tags": {"source": "r1[x]", "interface_name": "e[1]"},
                       "values": {"[/bold]": 1, "a[name=[red]]": 2}})  # fmt: skip
    code, _, err = _adapt("--format", "gnmic", "--show-rejections", "5", "-", stdin=ev)
    assert code == 1
    assert "[/bold]" in err and "unknown_path" in err


def test_inventory_with_wrong_types_is_one_line_exit_1(tmp_path: Path) -> None:
    inv = tmp_path / "inv.yaml"
    for text, needle in (("links: 5\n", "'links' must be a list"), ("links: []\nlnks: []\n", "'lnks'")):
        inv.write_text(text)
        code, _, err = _adapt("--format", "gnmic", "--inventory", str(inv), "-", stdin=_events())
        assert code == 1, err
        assert "Traceback" not in err and needle in err and str(inv) in err


def test_gnmi_without_device_is_rejected_unless_device_is_given(tmp_path: Path) -> None:
    resp = {"update": {"timestamp": NOW, "update": [{"path": {"elem": [
        {"name": "interfaces"}, {"name": "interface", "key": {"name": "Ethernet35"}}, {"name": "state"},
        {"name": "counters"}, {"name": "in-octets"}]}, "val": {"uintVal": "5"}}]}}  # fmt: skip
    data = orjson.dumps(resp)
    code, rep = _report(tmp_path, "--format", "gnmi", "--samples", "-", stdin=data)
    assert code == 1 and rep["rejected_by_reason"] == {"missing_device": 1}
    code, out, _ = _adapt("--format", "gnmi", "--samples", "--device", "leaf1", "-", stdin=data)
    assert code == 0 and json.loads(out.splitlines()[0])["device"] == "leaf1"


def test_help_reads_like_a_man_page() -> None:
    res = CliRunner().invoke(cli, ["adapt", "--help"])
    assert res.exit_code == 0
    for section in ("Examples:", "Exit status:", "0  success", "1  invalid input", "2  usage error",
                    "3  partial success", "pending_first_sample", "--json FILE"):  # fmt: skip
        assert section in res.output, section


def _json_lines(text: str) -> list[dict[str, object]]:
    lines = [ln for ln in text.splitlines() if ln.strip()]
    out = []
    for ln in lines:
        try:
            out.append(json.loads(ln))
        except ValueError:
            pytest.fail(f"not a JSON line on stderr: {ln!r}")
    return out


_MAIN = "from twinwatch.stream.cli import main; main()"


def _twinwatch(*args: str, script: str | None = None, stdin: bytes = b"") -> subprocess.CompletedProcess[bytes]:
    code = script if script is not None else _MAIN
    env = {**os.environ, "PYTHONPATH": str(REPO), "COLUMNS": "80"}
    return subprocess.run([sys.executable, "-c", code, *args], input=stdin, capture_output=True, env=env,
                          cwd=REPO, timeout=120, check=False)  # fmt: skip


def test_log_format_json_makes_every_stderr_line_json() -> None:
    bad = _events() + b"\n{broken [/red]\n"
    proc = _twinwatch("--log-format", "json", "adapt", "--format", "gnmic", "--show-rejections", "3", "-", stdin=bad)
    assert proc.returncode == 3
    docs = _json_lines(proc.stderr.decode())
    assert any(d["msg"] == "rejection" and d["reason"] == "malformed_json" for d in docs)
    summary = next(d for d in docs if d["msg"] == "adapt summary")
    assert summary["report"]["records"]["rejected"] == 1  # type: ignore[index]
    # a usage error (click's own message) is a JSON line too
    proc = _twinwatch("--log-format", "json", "adapt", "--format", "nope", "-")
    assert proc.returncode == 2
    (doc,) = _json_lines(proc.stderr.decode())
    assert doc["level"] == "ERROR" and "known formats" in str(doc["msg"]) and doc["exit_status"] == 2
    # an error in the global options, with the format from the environment
    env_proc = subprocess.run([sys.executable, "-c", _MAIN, "--log-level", "LOUD"],
                              capture_output=True, cwd=REPO, timeout=120, check=False,
                              env={**os.environ, "PYTHONPATH": str(REPO), "TWINWATCH_LOG_FORMAT": "json"})  # fmt: skip
    assert env_proc.returncode == 2 and _json_lines(env_proc.stderr.decode())


_WARNING_SCRIPT = """
import warnings, click, numpy as np
from twinwatch.stream.cli import cli, main

@click.command("warn-demo")
def warn_demo():
    warnings.warn("legacy option used", DeprecationWarning)
    with np.errstate(divide="warn"):
        np.float64(1.0) / np.float64(0.0)  # NumPy's RuntimeWarning goes through the warnings module
    raise click.ClickException("gave up")

cli.lazy_commands["warn-demo"] = "__main__:warn_demo"  # a sub-command registered the way stream/cli.py does
main()
"""


def test_log_format_json_routes_python_and_numpy_warnings() -> None:
    proc = _twinwatch("--log-format", "json", "warn-demo", script=_WARNING_SCRIPT)
    assert proc.returncode == 1
    docs = _json_lines(proc.stderr.decode())
    assert {d["logger"] for d in docs} >= {"py.warnings", "twinwatch.cli"}
    assert any("legacy option used" in str(d["msg"]) for d in docs)
    assert any("divide by zero" in str(d["msg"]) for d in docs)
    # the same run in text mode prints the warnings as text (and no JSON)
    text = _twinwatch("warn-demo", script=_WARNING_SCRIPT)
    assert "legacy option used" in text.stderr.decode() and not text.stderr.lstrip().startswith(b"{")


_EXIT_SCRIPT = """
import click
from twinwatch.stream.cli import cli, main

@click.command("exit3")
@click.pass_context
def exit3(ctx):
    ctx.exit(3)

cli.lazy_commands["exit3"] = "__main__:exit3"
main()
"""


def test_main_keeps_ctx_exit_status_and_usage_errors() -> None:
    assert _twinwatch("exit3", script=_EXIT_SCRIPT).returncode == 3
    assert _twinwatch("--help").returncode == 0
    proc = _twinwatch("no-such-command")
    assert proc.returncode == 2 and b"No such command" in proc.stderr
