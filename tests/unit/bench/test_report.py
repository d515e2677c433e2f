"""bench/_report.py: the one machine description and JSON writer of the bench/ scripts.

The bench scripts run as ``python bench/X.py`` (``bench/`` is ``sys.path[0]``); here the folder is put
on ``sys.path`` the same way to import the module.
"""

from __future__ import annotations

import doctest
import json
import math
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[3] / "bench"
sys.path.insert(0, str(BENCH))

import _report  # noqa: E402
from _report import machine_info, write_report  # noqa: E402


def test_docstring_examples_run() -> None:
    res = doctest.testmod(_report, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert res.attempted >= 2 and res.failed == 0


def test_machine_info_shape() -> None:
    info = machine_info(note="2-core shared dev box under load")
    assert info["cpus"] == os.cpu_count()
    assert info["note"] == "2-core shared dev box under load"
    for k in ("load_avg_1m", "load_avg_5m", "load_avg_15m"):
        assert isinstance(info[k], float) and info[k] >= 0.0  # Linux always reports them
    assert re.fullmatch(r"3\.\d+\.\d+.*", str(info["python"]))
    assert info["machine"] and info["platform"]
    assert not {"hostname", "node", "host"} & set(info)  # privacy: no host name
    assert "note" not in machine_info()  # no hard-coded default note
    json.dumps(info, allow_nan=False)  # JSON-ready as it is


def test_machine_info_never_imports_torch() -> None:
    """Describing the machine must not pull in torch (seconds of import, and threads) for scripts that do not use it."""
    code = ("import sys; sys.path.insert(0, sys.argv[1]); from _report import machine_info; "
            "i = machine_info(); print('torch' in sys.modules, 'torch' in i, 'numpy' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code, str(BENCH)], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False", "False"]


def test_machine_info_reports_torch_when_imported() -> None:
    torch = pytest.importorskip("torch")
    info = machine_info()
    assert info["torch"] == str(torch.__version__)
    assert info["torch_threads"] == torch.get_num_threads()


def test_write_report_file_stdout_and_return(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "deeper" / "notes" / "r.json"  # parent folders do not exist yet
    doc = {"rows": [1, 2.5, None], "name": "x", "machine": machine_info()}
    text = write_report(doc, out, indent=2)
    assert out.read_text(encoding="utf-8") == text
    assert text.endswith("}\n") and not text.endswith("\n\n")
    assert json.loads(text) == doc
    assert capsys.readouterr().out == text
    assert [p.name for p in out.parent.iterdir()] == ["r.json"]  # no temporary file left behind


def test_write_report_no_echo_no_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    text = write_report([{"a": 1}], None, echo=False, indent=None)
    assert text == '[{"a": 1}]\n'
    assert capsys.readouterr().out == ""
    assert list(tmp_path.iterdir()) == []


def test_write_report_replaces_existing_file(tmp_path: Path) -> None:
    out = tmp_path / "r.json"
    out.write_text("old, longer content that must not survive\n")
    write_report({"v": 2}, out, echo=False)
    assert json.loads(out.read_text()) == {"v": 2}


def test_write_report_nan_is_an_error_that_names_the_element(tmp_path: Path) -> None:
    out = tmp_path / "r.json"
    with pytest.raises(ValueError, match=r"r\.json: \$\.a\.b\[1\] = nan .*nan_as_null"):
        write_report({"a": {"b": [1.0, math.nan]}}, out, echo=False)
    assert not out.exists()  # nothing half-written
    with pytest.raises(ValueError, match=r"<stdout>: \$\[0\] = inf"):
        write_report([math.inf], None, echo=False)


def test_write_report_nan_as_null(tmp_path: Path) -> None:
    out = tmp_path / "r.json"
    doc = {"a": (math.nan, 1.0), "b": {"c": -math.inf}, "d": "nan"}
    write_report(doc, out, echo=False, nan_as_null=True)
    assert json.loads(out.read_text()) == {"a": [None, 1.0], "b": {"c": None}, "d": "nan"}
    assert doc["b"] == {"c": -math.inf}  # the caller's document is not modified


def test_write_report_sort_keys_and_default() -> None:
    text = write_report({"b": Path("/x"), "a": 1}, None, echo=False, indent=None, sort_keys=True, default=str)
    assert text == '{"a": 1, "b": "/x"}\n'


# fuzz_inputs.py is left as it is while its long runs are in flight; converting its tail is a follow-up.
_NOT_YET = {"fuzz_inputs.py"}


def test_bench_scripts_use_the_one_tail() -> None:
    """No bench script writes a JSON report by hand or describes the machine in its own shape."""
    by_hand = re.compile(r"write_text\(\s*json\.dumps")
    own_machine = re.compile(r"""(["']machine["']\s*:|\[["']machine["']\]\s*=)(?!\s*\{?\*{0,2}machine_info\()""")
    offenders = []
    scripts = sorted(p for p in BENCH.glob("*.py") if p.name != "_report.py" and p.name not in _NOT_YET)
    assert len(scripts) >= 30
    for p in scripts:
        text = p.read_text(encoding="utf-8")
        offenders += [f"{p.name}: writes JSON by hand" for _ in by_hand.finditer(text)]
        offenders += [f"{p.name}: machine not from machine_info()" for _ in own_machine.finditer(text)]
    assert offenders == []
