"""``twinwatch replay`` on a labelled testbed run: the CLI, its outputs and the HTML report."""

from __future__ import annotations

import base64
import re
from pathlib import Path

import orjson
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from twinwatch.detectors.alerts import Alert
from twinwatch.stream.cli import cli

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def run_dir(testbed_run: Path) -> Path:
    """The 5-minute Abilene run of ``conftest.py`` (1 % malformed messages)."""
    return testbed_run


def test_replay_writes_alerts_dlq_expected_and_report(run_dir: Path, tmp_path: Path) -> None:
    caps = sorted(str(p) for p in (run_dir / "topics").glob("twinwatch.raw.*.jsonl"))
    out, dlq, exp, rep = (tmp_path / n for n in ("alerts.jsonl", "dlq.jsonl", "expected.jsonl", "report.html"))
    res = CliRunner().invoke(cli, ["replay", *caps, "--network", str(run_dir / "network.yaml"), "--model", "qt",
                                   "--out", str(out), "--dlq", str(dlq), "--expected", str(exp),
                                   "--report", str(rep), "--labels", str(run_dir / "labels.jsonl")])
    malformed = [orjson.loads(x) for x in (run_dir / "malformed.jsonl").read_bytes().splitlines() if x]
    assert malformed, "the run corrupts 1 % of the messages"
    assert res.exit_code == 3, res.output  # partial success: some input went to the dead letters
    assert re.search(r"replayed \d+ messages .* (\d+) dead letter", res.output)
    dead = [orjson.loads(x) for x in dlq.read_bytes().splitlines()]
    assert len(dead) == len(malformed)
    raws = {(d["format"], base64.b64decode(d["raw_b64"])) for d in dead}
    for m in malformed:
        fmt = m["topic"].rsplit(".", 1)[-1]
        line = (run_dir / "topics" / f"{m['topic']}.jsonl").read_bytes().split(b"\n")[m["line"] - 1]
        assert (fmt, line) in raws
    alerts = [Alert.from_dict(orjson.loads(x)) for x in out.read_bytes().splitlines()]  # the contract parses back
    assert all(a.network == "abilene" for a in alerts)
    windows = [orjson.loads(x) for x in exp.read_bytes().splitlines()]
    assert 30 <= len(windows) <= 32 and {w["network"] for w in windows} == {"abilene"}
    html = rep.read_text()
    assert html.startswith("<!doctype html>") and "twinwatch replay report" in html
    assert "<script" not in html and "http://" not in html.replace("http://www.w3.org/2000/svg", "")


def test_replay_parquet_capture_gives_the_same_result(run_dir: Path, tmp_path: Path) -> None:
    src = run_dir / "topics" / "twinwatch.raw.gnmic.jsonl"
    lines = [x for x in src.read_bytes().split(b"\n") if x]
    pq.write_table(pa.table({"value": pa.array(lines, type=pa.binary())}), tmp_path / "gnmic.parquet")
    outs = []
    for cap in (str(src), str(tmp_path / "gnmic.parquet")):
        out = tmp_path / f"{Path(cap).suffix}.expected.jsonl"
        res = CliRunner().invoke(cli, ["replay", cap, "--format", "gnmic", "--network", str(run_dir / "network.yaml"),
                                       "--model", "qt", "--out", str(tmp_path / "a.jsonl"), "--expected", str(out)])
        assert res.exit_code in (0, 3), res.output
        outs.append(out.read_bytes())
    assert outs[0] == outs[1] and outs[0]


def test_replay_usage_errors(run_dir: Path, tmp_path: Path) -> None:
    cap = tmp_path / "capture.jsonl"
    cap.write_bytes(b"{}\n")
    res = CliRunner().invoke(cli, ["replay", str(cap), "--network", "abilene", "--out", str(tmp_path / "a.jsonl")])
    assert res.exit_code == 2 and "give --format" in res.output
    res = CliRunner().invoke(cli, ["replay", str(cap), "--format", "snmp", "--network", "abilene",
                                   "--out", str(tmp_path / "a.jsonl")])
    assert res.exit_code == 2 and "unknown format" in res.output
    res = CliRunner().invoke(cli, ["replay", str(cap), "--format", "gnmic", "--network", str(tmp_path / "nope.yaml"),
                                   "--out", str(tmp_path / "a.jsonl")])
    assert res.exit_code == 1 and "--network" in res.output


def test_replay_without_network_runs_the_twinless_mode(run_dir: Path, tmp_path: Path) -> None:
    caps = [str(run_dir / "topics" / f"twinwatch.raw.{f}.jsonl") for f in ("gnmic", "probe")]
    out, dlq = tmp_path / "alerts.jsonl", tmp_path / "dlq.jsonl"
    res = CliRunner().invoke(cli, ["replay", *caps, "--out", str(out), "--dlq", str(dlq)])
    malformed = [orjson.loads(x) for x in (run_dir / "malformed.jsonl").read_bytes().splitlines() if x]
    n_bad = sum(m["topic"].endswith(("gnmic", "probe")) for m in malformed)
    assert res.exit_code == (3 if n_bad else 0), res.output
    assert len(dlq.read_bytes().splitlines()) == n_bad  # the same dead letters as with a twin
    for a in (Alert.from_dict(orjson.loads(x)) for x in out.read_bytes().splitlines()):
        assert a.network == "default" and a.severity == "warning"  # without a twin nothing pages
    res = CliRunner().invoke(cli, ["replay", *caps, "--out", str(out), "--report", str(tmp_path / "r.html")])
    assert res.exit_code == 2 and "need a --network" in res.output
