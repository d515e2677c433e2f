"""End to end with the real binaries, all on loopback: a simulated network with injected faults → the
service's pipeline with its ``/metrics`` endpoint and its Alertmanager push → a real ``prometheus`` scraping
it with the rules of ``deploy/prometheus`` → a real ``prometheus-alertmanager`` with
``deploy/alertmanager/alertmanager.yml`` → a webhook receiver in this test.

What is real: the telemetry (``twinwatch simulate telemetry``: the packet-level simulator and the collectors'
wire formats, with a capacity degradation, grey loss and a link going down), the service's
:class:`twinwatch.stream.pipeline.Pipeline` with the shipped GNN twin,
:class:`twinwatch.stream.metrics.ServiceMetrics` served by :class:`twinwatch.stream.metrics.MetricsServer`,
:class:`twinwatch.stream.sinks.AlertmanagerSink`, the Debian Prometheus and
Alertmanager binaries, and the deploy configuration files. What differs from production, and why:

* the captures are fed to the pipeline directly, as ``twinwatch replay`` does, not through Kafka (the Kafka
  path is the service's own integration test); so the Kafka-only series (consumer lag, Kafka errors) have no
  samples and their dashboard queries are the only ones allowed to return nothing;
* timers are shortened so the test takes seconds, not minutes: scrapes every 2 s, rule evaluation every second, every
  alerting rule's ``for`` set to 0 s, Alertmanager's ``group_wait`` 1 s and ``group_interval`` 2 s; the webhook
  URLs point at the test's receiver. Expressions, labels, routes, grouping and inhibition are the files' own.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.deploy._live import Webhook, free_port, get_json, ready, start_alertmanager, start_process, wait_for
from tests.deploy._support import (
    RULE_FILES,
    dashboard_queries,
    metric_names,
    substitute_grafana_variables,
    tool,
)

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]

SIM_ARGS = ["--network", "abilene", "--duration", "40m", "--faults", "3", "--seed", "7"]
"""40 simulated minutes of Abilene with 3 faults (capacity degradation, grey loss, link down) and a benign
counter clear; the detectors need the first minutes to calibrate."""

KAFKA_ONLY = {"twinwatch_consumer_lag_messages", "twinwatch:consumer_lag_messages:sum",
              "twinwatch_kafka_errors_total", "twinwatch:kafka_errors:rate5m"}
"""Series that only the Kafka consumer sets (absent here: the captures are fed to the pipeline directly)."""


def _prometheus_files(tmp: Path, metrics_port: int, am_port: int) -> Path:
    """prometheus.yml (2 s scrapes, 1 s rule evaluation) and the rule files with every ``for`` set to 0 s."""
    rules = tmp / "rules"
    rules.mkdir()
    for path in RULE_FILES:
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
        for group in doc["groups"]:
            for rule in group["rules"]:
                if "for" in rule:
                    rule["for"] = "0s"
        (rules / path.name).write_text(yaml.safe_dump(doc), encoding="utf-8")
    cfg = {"global": {"scrape_interval": "2s", "evaluation_interval": "1s", "scrape_timeout": "2s"},
           "rule_files": [f"rules/{p.name}" for p in RULE_FILES],
           "alerting": {"alertmanagers": [{"static_configs": [{"targets": [f"127.0.0.1:{am_port}"]}]}]},
           "scrape_configs": [{"job_name": "twinwatch",
                               "static_configs": [{"targets": [f"127.0.0.1:{metrics_port}"]}]}]}
    out = tmp / "prometheus.yml"
    out.write_text(yaml.safe_dump(cfg), encoding="utf-8")
    return out


# ----------------------------------------------------------------------------- the scenario
@pytest.fixture(scope="module")
def capture(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Telemetry of the simulated network with faults (``twinwatch simulate telemetry``)."""
    out = tmp_path_factory.mktemp("sim") / "run"
    exe = Path(sys.executable).with_name("twinwatch")
    proc = subprocess.run([str(exe), "simulate", "telemetry", *SIM_ARGS, "--out", str(out)], capture_output=True,
                          text=True, timeout=600, check=False, env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert proc.returncode == 0, f"twinwatch simulate telemetry failed: {proc.stdout}\n{proc.stderr}"
    return out


def test_faults_reach_the_webhook_through_prometheus_and_alertmanager(
        capture: Path, webhook: Webhook, procs: list[subprocess.Popen[bytes]], tmp_path: Path) -> None:
    import torch
    from prometheus_client import CollectorRegistry

    from twinwatch.stream.metrics import MetricsServer, ServiceMetrics
    from twinwatch.stream.pipeline import Pipeline, interleave
    from twinwatch.stream.sinks import AlertmanagerSink
    from twinwatch.twin.models import load_model
    from twinwatch.twin.netmodel import load_network

    pytest.importorskip("promql_parser", reason="promql-parser is in the `deploy` extra: pip install -e '.[deploy]'")
    torch.set_num_threads(1)
    prom_bin = tool("prometheus")

    # --- the service: pipeline and metrics endpoint; max_links two below the network's link count, so the
    # link-series cap is exercised (and TwinwatchLinkSeriesDropped has something to report)
    model = load_network(capture / "network.yaml")
    max_links = model.n_links - 2
    registry = CollectorRegistry()
    metrics = ServiceMetrics(registry, version="e2e", max_links=max_links)
    server = MetricsServer(metrics, "127.0.0.1", 0).start()
    try:
        # --- Alertmanager, then Prometheus
        am_port, prom_port = start_alertmanager(procs, tmp_path, webhook.port), free_port()
        prom_cfg = _prometheus_files(tmp_path, server.port, am_port)
        start_process(procs, [prom_bin, f"--config.file={prom_cfg}", f"--storage.tsdb.path={tmp_path / 'tsdb'}",
                              f"--web.listen-address=127.0.0.1:{prom_port}", "--log.level=warn"],
                      tmp_path / "prometheus.log")
        prom = f"http://127.0.0.1:{prom_port}"
        wait_for("prometheus /-/ready", lambda: ready(f"{prom}/-/ready"), 60)
        wait_for("the first scrape of twinwatch",
                 lambda: get_json(f"{prom}/api/v1/query?query=up")["data"]["result"], 30)

        # --- the scenario through the service's pipeline, alerts pushed as the service pushes them
        twin = load_model("gnn", None)
        pipe = Pipeline([model], twin, window_s=10.0, lateness_s=5.0, metrics=metrics, max_age_s=None)
        sink = AlertmanagerSink(f"http://127.0.0.1:{am_port}", timeout_s=5.0, retries=2)
        streams = {p.name.split(".")[2]: p.read_bytes().splitlines() for p in
                   sorted((capture / "topics").glob("twinwatch.raw.*.jsonl"))}
        t_start = time.time()
        pushed: list[dict[str, Any]] = []
        # The replay runs far faster than real time, so an alert would fire and resolve within Alertmanager's
        # group_wait, and Alertmanager (rightly) never notifies a group that resolved before its first flush.
        # Push the firings as they come and the resolutions after the deliveries are checked.
        resolutions = []
        for out in [*(pipe.process(chunk, fmt) for fmt, chunk in interleave(streams, 2000)), pipe.flush()]:
            firing = [c for c in out.changes if c.action == "firing"]
            resolutions += [c for c in out.changes if c.action == "resolved"]
            if firing:
                sink.push(firing)
                pushed += [c.alert.to_alertmanager() for c in firing]
        assert pushed, "the scenario's faults raised no alert: nothing to deliver"

        # --- 1. twinwatch's own alerts reach the receiver their kind and severity route to, grouped
        def receiver_of(labels: dict[str, str]) -> str:
            return "netops-pager" if (labels["kind"], labels["severity"]) == ("degradation", "critical") \
                else "netops-ticket"

        link_state = {(a["labels"]["network"], a["labels"].get("suspect_link")) for a in pushed
                      if a["labels"]["kind"] == "link_state"}
        want = {a["labels"]["alert_id"]: receiver_of(a["labels"]) for a in pushed
                if not (a["labels"]["entity_kind"] == "path"
                        and (a["labels"]["network"], a["labels"].get("suspect_link")) in link_state)}

        def delivered() -> dict[str, str]:
            got = {}
            for rec in ("netops-pager", "netops-ticket"):
                for a in webhook.alerts(rec):
                    if "alert_id" in a["labels"]:
                        got[a["labels"]["alert_id"]] = rec
            return got if set(want) <= set(got) else {}

        got = wait_for(f"{len(want)} twinwatch alerts at the webhook", delivered, 60)
        assert {k: got[k] for k in want} == want
        for rec in ("netops-pager", "netops-ticket"):
            for note in webhook.received(rec):
                nets = {a["labels"]["network"] for a in note["alerts"]}
                links = {a["labels"].get("suspect_link", "") for a in note["alerts"]}
                assert len(nets) == 1 and len(links) == 1, f"one notification mixes incidents: {nets} {links}"
                assert set(note["groupLabels"]) <= {"network", "suspect_link"}
        sink.push(resolutions)

        # --- 2. every dashboard query returns data from this Prometheus over the run
        wait_for("recording rules evaluated on the last scrape", lambda: get_json(
            f"{prom}/api/v1/query?query=twinwatch:alerts_firing:sum")["data"]["result"], 30)
        time.sleep(3)
        empty = []
        for q in dashboard_queries():
            expr = substitute_grafana_variables(q.expr)
            params = urllib.parse.urlencode({"query": expr, "start": t_start - 5, "end": time.time(), "step": "1"})
            res = get_json(f"{prom}/api/v1/query_range?{params}")
            assert res["status"] == "success", f"{q.where}: {res}"
            values = [v for s in res["data"]["result"] for _, v in s["values"] if v not in ("NaN",)]
            if not values and not metric_names(expr) & KAFKA_ONLY:
                empty.append(f"{q.where}: {expr}")
        assert empty == [], "dashboard queries without data:\n" + "\n".join(empty)

        # --- 3. a Prometheus rule fires and reaches the service owner: links beyond max_links
        wait_for("TwinwatchLinkSeriesDropped at twinwatch-ops", lambda: [
            a for a in webhook.alerts("twinwatch-ops") if a["labels"]["alertname"] == "TwinwatchLinkSeriesDropped"], 60)
    finally:
        server.stop()

    # --- 4. the service goes away: TwinwatchDown pages the service's on-call
    down = wait_for("TwinwatchDown at twinwatch-oncall", lambda: [
        a for a in webhook.alerts("twinwatch-oncall") if a["labels"]["alertname"] == "TwinwatchDown"], 60)
    assert down[0]["labels"]["severity"] == "critical" and down[0]["status"] == "firing"
