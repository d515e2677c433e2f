"""``twinwatch demo``: the end-to-end demo (real broker, real service process) and its report."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from twinwatch.stream.cli import cli
from twinwatch.stream.commands.demo import DemoResult, write_demo_report

T0 = 1_767_571_200.0


def _pids_mentioning(text: str) -> list[int]:
    """Processes whose command line contains ``text`` (from /proc; this test's own process excluded)."""
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit() or int(proc.name) == os.getpid():
            continue
        try:
            cmd = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if text in cmd:
            found.append(int(proc.name))
    return found


# ----------------------------------------------------------------------------- the whole demo
@pytest.mark.kafka
@pytest.mark.slow
@pytest.mark.timeout(600)
def test_demo_runs_the_product_end_to_end_and_leaves_nothing_behind(tmp_path: Path) -> None:
    """40 simulated minutes of Abilene with 3 faults (capacity degradation, grey loss, link down; seed 7)
    through the embedded broker and the real service process: alerts come out, the report is written,
    and neither the broker nor the service is left running."""
    out = tmp_path / "demo"
    proc = subprocess.run(
        [sys.executable, "-c", "from twinwatch.stream.cli import main; main()", "demo", "--duration", "40m",
         "--faults", "3", "--seed", "7", "--out", str(out), "--no-progress", "--timeout", "420",
         "--json", str(tmp_path / "summary.json")],
        capture_output=True, text=True, timeout=560, check=False,
        env={**os.environ, "OMP_NUM_THREADS": "1", "COLUMNS": "120"})
    assert proc.returncode == 0, f"{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["complete"] and summary["embedded_broker"]
    # the service consumed every message the network under test produced, through Kafka
    assert summary["messages_consumed"] >= summary["messages_produced"] > 0
    assert summary["windows_closed"] >= 240 - 3  # 40 min of 10 s windows; the last ones close only at shutdown
    assert summary["alerts_fired"] >= 1, proc.stdout
    alerts = [json.loads(x) for x in (out / "alerts.jsonl").read_text().splitlines()]
    assert sum(a["status"] == "firing" for a in alerts) == summary["alerts_fired"]
    assert all(a["network"] == "abilene" and a["explanation"] for a in alerts)
    # the score is against the run's three labelled faults, and apart on those the telemetry measures beyond the
    # twin's 90 % interval (judged on the run's ground truth alone)
    assert summary["score"]["overall"]["events"] == 3
    assert len(summary["visibility"]) == 3
    measured = sum(v["observable"] for v in summary["visibility"].values())
    assert summary["score_measured"]["overall"]["events"] == measured
    assert f"faults the telemetry measures beyond the twin's 90 % interval: {measured} of 3" in proc.stdout
    report = (out / "report.html").read_text()
    assert "Alerts timeline vs labelled faults" in report and "<svg" in report and "<polyline" in report
    assert "ALERT" in proc.stdout and "report.html" in proc.stdout
    # nothing left behind: the service (its config is in the output folder) and the broker (its port)
    assert _pids_mentioning(str(out / "twinwatch.yaml")) == []
    port = summary["bootstrap"].rsplit(":", 1)[1]
    assert _pids_mentioning(f"tcp://127.0.0.1:{port}") == []
    # a second demo into the same folder replaces it (an earlier demo's output is recognised)
    assert (out / "twinwatch-demo.json").is_file()


# ----------------------------------------------------------------------------- options
def test_prediction_options_need_predict() -> None:
    res = CliRunner().invoke(cli, ["demo", "--top", "5"])
    assert res.exit_code == 2 and "--top apply to the prediction demo only; add --predict" in res.output


def test_predict_keeps_the_earlier_demo() -> None:
    res = CliRunner().invoke(cli, ["demo", "--predict", "--model", "qt", "--top", "3"])
    assert res.exit_code == 0, res.output
    assert "nsfnet: 14 nodes, 42 links, 182 paths" in res.stdout and "delay ms" in res.stdout


def test_a_foreign_output_folder_is_refused_before_anything_starts(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("mine")
    res = CliRunner().invoke(cli, ["demo", "--model", "qt", "--out", str(tmp_path)])
    assert res.exit_code == 2 and "not an earlier demo's output" in res.output
    assert (tmp_path / "notes.txt").read_text() == "mine" and not (tmp_path / "twinwatch.yaml").exists()


def test_help_reads_like_a_man_page() -> None:
    res = CliRunner().invoke(cli, ["demo", "--help"])
    text = res.output
    assert res.exit_code == 0
    for part in ("DESCRIPTION", "EXAMPLES", "Exit status", "--broker", "--duration", "--predict", "µs²"):
        assert part in text, part


# ----------------------------------------------------------------------------- the report
def _result(tmp_path: Path) -> tuple[DemoResult, list[dict[str, object]]]:
    """A 10-window run on a 2-link network: a grey loss on a->b in windows 4-6, one alert on it."""
    from twinwatch.detectors.scoring import score

    labels = [{"id": "f1", "kind": "grey_loss", "benign": False, "start": T0 + 40, "end": T0 + 70,
               "entity_kind": "link", "entities": ["a->b"]},
              {"id": "b1", "kind": "counter_clear", "benign": True, "start": T0 + 80, "end": T0 + 90,
               "entity_kind": "link", "entities": ["b->a"]}]
    alert = {"id": "x1", "network": "toy", "entity_kind": "link", "entity_id": "a->b", "kpi": "loss_ratio",
             "kind": "degradation", "severity": "critical", "start": T0 + 50, "end": None, "status": "firing",
             "suspects": [{"link": "a->b", "score": 1.0}], "explanation": "loss on a->b"}
    lines = [alert, {**alert, "status": "resolved", "end": T0 + 80}]
    loss = [0.0, 0.0, 0.0, 0.0, 0.02, 0.02, 0.02, 0.0, 0.0, 0.0]
    expected = [{"network": "toy", "window_start": T0 + 10 * i, "window_end": T0 + 10 * (i + 1),
                 "links": ["a->b", "b->a"],
                 "kpis": {"loss_ratio": {"observed": [loss[i], 0.0], "expected": [0.0, 0.0], "lower": [0.0, 0.0],
                                         "upper": [0.001, 0.001], "score": [None, None]},
                          "utilization": {"observed": [0.5, 0.4], "expected": [0.5, 0.4], "lower": [0.45, 0.35],
                                          "upper": [0.55, 0.45], "score": [0.1, 0.1]}}} for i in range(10)]
    res = DemoResult(out=tmp_path, network="toy", bootstrap="127.0.0.1:9092", embedded_broker=True, model="qt",
                     windows_simulated=10, messages_produced=100, messages_consumed=100, windows_closed=10,
                     run_start=T0, run_end=T0 + 100, last_window_end=T0 + 100, alert_lines=lines, labels=labels,
                     complete=True)
    res.score = score(labels, lines, window_s=10.0, n_entities=4, known_links=["a->b", "b->a"], run_start=T0,
                      run_end=T0 + 100)
    return res, expected


def test_report_shows_the_timeline_the_link_plots_and_the_score(tmp_path: Path) -> None:
    res, expected = _result(tmp_path)
    path = write_demo_report(tmp_path / "report.html", res, expected)
    doc = path.read_text()
    # the grey loss was caught one window after it began: recall 1, delay 1 window, top-1 localisation
    assert res.score.per_kind["grey_loss"].detected == 1 and res.score.per_kind["grey_loss"].top1 == 1.0
    assert "<td>grey_loss</td><td>1</td><td>1</td>" in doc
    # timeline: the fault (orange), the benign event (grey), the alert (critical: red)
    assert 'fill="darkorange"' in doc and 'fill="#999"' in doc and 'fill="crimson"' in doc
    assert "label grey_loss a-&gt;b" in doc and "alert link a-&gt;b loss_ratio" in doc
    # link plots: a->b is named by the label and by the alert, with both KPIs; b->a by nothing that pages
    assert "<h3>a-&gt;b · loss_ratio</h3>" in doc and "<h3>a-&gt;b · utilization</h3>" in doc
    assert "b-&gt;a ·" not in doc
    assert doc.count("<polyline") == 4  # observed and expected, per plot
    assert "loss on a-&gt;b" in doc  # the alert's explanation in the alert table


def test_report_without_expected_records_still_has_the_timeline(tmp_path: Path) -> None:
    res, _ = _result(tmp_path)
    doc = write_demo_report(tmp_path / "r.html", res, []).read_text()
    assert "no expected-vs-observed records were read back" in doc and 'fill="crimson"' in doc


def test_report_names_the_faults_the_telemetry_cannot_measure_and_why(tmp_path: Path) -> None:
    from twinwatch.detectors.scoring import score
    from twinwatch.detectors.visibility import FaultVisibility

    res, expected = _result(tmp_path)
    res.labels.append({"id": "f2", "kind": "queue_change", "benign": False, "start": T0 + 80, "end": T0 + 90,
                       "entity_kind": "link", "entities": ["b->a"]})
    res.visibility = {
        "f1": FaultVisibility(id="f1", kind="grey_loss", visible=True, delay_log_ratio=0.0, loss_increase=0.02,
                              utilization_change=0.0, reason="path loss +0.02 > 0.008"),
        "f2": FaultVisibility(id="f2", kind="queue_change", visible=False, delay_log_ratio=0.001, loss_increase=0.0,
                              utilization_change=0.0, reason="inside the twin's 90 % interval on every KPI",
                              observable=False, observable_reason="not visible")}
    res.score_measured = score(res.labels, res.alert_lines, window_s=10.0, n_entities=4,
                               known_links=["a->b", "b->a"], run_start=T0, run_end=T0 + 100, scored_ids={"f1"})
    doc = write_demo_report(tmp_path / "r.html", res, expected).read_text()
    assert ("faults the telemetry measures beyond the twin&#x27;s 90 % interval: 1 of 2, found 1 (recall 1.000)"
            in doc)
    assert "queue_change b-&gt;a (inside the twin&#x27;s 90 % interval on every KPI)" in doc
    assert res.to_dict()["visibility"]["f2"]["visible"] is False


def test_a_secured_broker_s_settings_reach_the_service_but_never_its_password_on_disk(tmp_path: Path) -> None:
    """``demo --config``: the service gets the broker's TLS / SASL settings in its file, an inline password only
    in its environment (the demo's folder is meant to be shared)."""
    from twinwatch.stream.commands.demo import DemoOptions, _service_config, _service_env, _topics
    from twinwatch.stream.config import KafkaConfig

    kafka = KafkaConfig(bootstrap="k1:9093", security_protocol="SASL_SSL", sasl_mechanism="SCRAM-SHA-512",
                        username="tw", password="s3cret")
    opts = DemoOptions(out=tmp_path, broker="k1:9093", kafka=kafka)
    cfg = _service_config(opts, "k1:9093", "g", _topics("p"), "abilene", "qt", 9464)
    assert cfg["kafka"]["security_protocol"] == "SASL_SSL" and cfg["kafka"]["sasl_mechanism"] == "SCRAM-SHA-512"
    assert cfg["kafka"]["username"] == "tw" and "s3cret" not in repr(cfg)
    assert _service_env(opts)["TWINWATCH_KAFKA__PASSWORD"] == "s3cret"
    plain = DemoOptions(out=tmp_path)
    assert "security_protocol" not in _service_config(plain, "k1:9092", "g", _topics(""), "abilene", "qt", 1)["kafka"]
    assert "TWINWATCH_KAFKA__PASSWORD" not in _service_env(plain)
