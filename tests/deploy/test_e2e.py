"""End to end with the real binaries, all on loopback: a simulated network with injected faults → Kafka (the
real Tansu broker of the ``kafka_broker`` fixture) → the service as operators run it (``twinwatch run``: the faust
consumer, the pipeline, the shipped GNN twin, ``/metrics``, its Alertmanager push) → a real ``prometheus`` scraping
it with the rules of ``deploy/prometheus`` → a real ``prometheus-alertmanager`` with
``deploy/alertmanager/alertmanager.yml`` → a webhook receiver in this test.

What is real: the telemetry (``twinwatch simulate telemetry``: the packet-level simulator and the collectors'
wire formats, with the faults of :data:`FAULT_PLAN`: grey loss, an IGP metric change that pages, a counter clear
and a link going down), the broker, the service process and
its configuration file, the Debian Prometheus and Alertmanager binaries and the deploy configuration files. What
differs from production, and why: timers are shortened so the test takes minutes, not hours: scrapes every 2 s, rule
evaluation every second, every alerting rule's ``for`` set to 0 s, Alertmanager's ``group_wait`` 1 s and
``group_interval`` 2 s; the webhook URLs point at the test's receiver; the telemetry is produced at
:data:`SPEED` × real time. Expressions, labels, routes, grouping and inhibition are the files' own.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
import urllib.parse
import urllib.request
import uuid
from pathlib import Path
from typing import Any

import orjson
import pytest
import yaml

from tests.deploy._live import Webhook, free_port, get_json, ready, start_alertmanager, start_process, wait_for
from tests.deploy._support import (
    RULE_FILES,
    Query,
    dashboard_queries,
    grafana_rule_queries,
    rule_queries,
    substitute_grafana_variables,
    tool,
    vector_selectors,
)

pytestmark = [pytest.mark.slow, pytest.mark.kafka, pytest.mark.timeout(900)]

SIM_ARGS = ["--network", "abilene", "--duration", "40m", "--seed", "7"]
"""40 simulated minutes of Abilene (the faults: :data:`FAULT_PLAN`); the detectors need the first minutes to
calibrate."""

FAULT_PLAN: tuple[dict[str, Any], ...] = (
    # Silent 1 % loss on a link two probed pairs cross (SNVAng->WASHng, STTLng->WASHng): probes lose 1-4 of
    # ~100 packets a window. Kept from the random plan; it need not raise an alert here.
    {"kind": "grey_loss", "start_s": 780.0, "end_s": 900.0, "entities": ["KSCYng->IPLSng"], "magnitude": 0.01},
    # The network fault every degradation panel needs (a critical ``degradation`` that pages, path alerts, paths
    # flagged per link). The IGP metric of ATLAng->WASHng (873, its length in km) becomes 8,730 in the true network
    # only, so the routes through it move north (IPLSng->CHINng->NYCMng->WASHng) or west while the model keeps
    # them. Ground truth of this capture (truth/paths.parquet, ToS 2, mean of the 5 min before vs during):
    # one-way delay of the probed pairs LOSAng->WASHng 21.04 -> 26.84 ms (+28 %), LOSAng->NYCMng 22.67 -> 25.20 ms
    # (+11 %), SNVAng->WASHng 23.44 -> 24.32 ms, STTLng->WASHng 24.13 -> 25.01 ms (+3.6 %); ATLAng->WASHng carries
    # 0 % instead of 8 % of its capacity (truth/links.parquet). These delays are propagation (5 µs/km) on a
    # route the model does not have: several hundred times the width of the detector's bounds on those paths
    # (location ± 3 calibrated scales: a few µs at ~22 ms), whatever the twin's queueing error. No link goes
    # above 26 % load, so the effect does not hinge on how the simulator models overload. It replaces the random
    # plan's capacity degradation (HSTNng->KSCYng halved at 5 % load: truth delay and queue unchanged, nothing
    # to detect) and starts at 1,200 s, once the 8 probed pairs have given the path calibrator ~900 healthy
    # scores (its p-values resolve to ~1e-3, under the BH bound 0.01 x 4 / 8 for four moved pairs; the random
    # plan's 280 s is far too early).
    {"kind": "metric_change", "start_s": 1200.0, "end_s": 1380.0, "entities": ["ATLAng->WASHng"], "magnitude": 10.0},
    # Benign: the counters of one interface restart from zero; no network-fault alert may fire.
    {"kind": "counter_clear", "start_s": 1480.0, "end_s": 1510.0, "entities": ["IPLSng->CHINng"], "magnitude": 1.0},
    # The IGP reroutes around a down link; the model learns it from oper-status (``link_state`` alerts).
    {"kind": "link_down", "start_s": 2070.0, "end_s": 2240.0, "entities": ["ATLAM5->ATLAng"], "magnitude": 1.0},
)
"""The scenario's faults (``--fault-plan``; seconds from the run's start)."""

FORMATS = ("gnmic", "influx", "probe", "goflow2")
SPEED = 30.0
"""Telemetry is produced at this many times real time (a 10 s window every third of a second): fast enough for a
test, slow enough that an alert lasting a few windows is still firing when Alertmanager flushes its group
(``group_wait`` 1 s); Alertmanager rightly never notifies a group whose alerts all resolved before its first flush."""
LONG_ALERT_WINDOWS = 8
"""Alerts firing at least this many windows (≥ 2.7 s wall at :data:`SPEED`) must all reach the webhook."""


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
    """Telemetry of the simulated network with the faults of :data:`FAULT_PLAN` (``twinwatch simulate telemetry``)."""
    tmp = tmp_path_factory.mktemp("sim")
    plan, out = tmp / "faults.jsonl", tmp / "run"
    plan.write_bytes(b"\n".join(orjson.dumps(f) for f in FAULT_PLAN) + b"\n")
    exe = Path(sys.executable).with_name("twinwatch")
    proc = subprocess.run([str(exe), "simulate", "telemetry", *SIM_ARGS, "--fault-plan", str(plan), "--out", str(out)],
                          capture_output=True,
                          text=True, timeout=600, check=False, env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert proc.returncode == 0, f"twinwatch simulate telemetry failed: {proc.stdout}\n{proc.stderr}"
    return out


def _service_config(tmp: Path, capture: Path, bootstrap: str, prefix: str, metrics_port: int, am_port: int,
                    max_links: int) -> Path:
    """The ``twinwatch run`` configuration: the test's broker, topics, Alertmanager and metrics port."""
    cfg = {
        "kafka": {"bootstrap": bootstrap, "consumer_group": f"{prefix}-service", "rebalance_timeout_s": 5.0},
        "topics": {"formats": list(FORMATS), "raw": {f: f"{prefix}.raw.{f}" for f in FORMATS},
                   "alerts": f"{prefix}.alerts", "expected": f"{prefix}.expected", "dlq": f"{prefix}.dlq"},
        "networks": [str(capture / "network.yaml")],
        "twin": {"model": "gnn", "threads": 1},
        "sinks": {"jsonl": str(tmp / "alerts.jsonl"), "alertmanager_url": f"http://127.0.0.1:{am_port}",
                  "alertmanager_retries": 2},
        "metrics": {"bind": f"127.0.0.1:{metrics_port}", "max_links": max_links},
        "logging": {"level": "INFO"},
    }
    path = tmp / "twinwatch.yaml"
    path.write_text(yaml.safe_dump(cfg), encoding="utf-8")
    return path


async def _produce_paced(bootstrap: str, capture: Path, prefix: str, speed: float) -> int:
    """Produce the capture's messages onto ``<prefix>.raw.<format>`` in event-time order at ``speed`` × real time.

    The captures are cut into slices that advance together (:func:`twinwatch.stream.pipeline.interleave`, as
    ``replay`` reads them); slice ``i`` is sent at ``i × span / n / speed`` seconds after the start.
    """
    from aiokafka import AIOKafkaProducer

    from twinwatch.stream.pipeline import interleave

    streams = {f: [x for x in (capture / "topics" / f"twinwatch.raw.{f}.jsonl").read_bytes().split(b"\n") if x]
               for f in FORMATS}
    manifest = orjson.loads((capture / "manifest.json").read_bytes())
    span_s = float(manifest["config"]["duration_s"])
    batch = max(len(streams["gnmic"]) // 240, 1)  # ~one window of gnmic events per slice
    slices = interleave(streams, batch)
    rounds = max(len(slices) // len(FORMATS), 1)
    prod = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=5)
    await prod.start()
    sent = 0
    try:
        t0 = time.monotonic()
        for i, (fmt, chunk) in enumerate(slices):
            due = t0 + (i // len(FORMATS)) * span_s / rounds / speed
            await asyncio.sleep(max(due - time.monotonic(), 0.0))
            futs = [await prod.send(f"{prefix}.raw.{fmt}", value=v, key=b"abilene") for v in chunk]
            await asyncio.gather(*futs)
            sent += len(chunk)
    finally:
        await prod.stop()
    return sent


def _scrape(port: int) -> dict[str, float]:
    """Sum of every sample of the service's ``/metrics``, by sample name."""
    from prometheus_client.parser import text_string_to_metric_families

    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as resp:
        text = resp.read().decode()
    out: dict[str, float] = {}
    for fam in text_string_to_metric_families(text):
        for smp in fam.samples:
            out[smp.name] = out.get(smp.name, 0.0) + float(smp.value)
    return out


def test_faults_reach_the_webhook_through_kafka_prometheus_and_alertmanager(
        capture: Path, kafka_broker: Any, webhook: Webhook, procs: list[subprocess.Popen[bytes]],
        tmp_path: Path) -> None:
    from twinwatch.detectors.alerts import Alert
    from twinwatch.detectors.scoring import collapse_alerts
    from twinwatch.twin.netmodel import load_network

    pytest.importorskip("promql_parser", reason="promql-parser is in the `deploy` extra: pip install -e '.[deploy]'")
    prom_bin = tool("prometheus")
    t_start = time.time()

    # --- Alertmanager, then Prometheus scraping the service's port; max_links two below the network's link
    # count, so the link-series cap is exercised (and TwinwatchLinkSeriesDropped has something to report)
    model = load_network(capture / "network.yaml")
    metrics_port, prom_port = free_port(), free_port()
    am_port = start_alertmanager(procs, tmp_path, webhook.port)
    prom_cfg = _prometheus_files(tmp_path, metrics_port, am_port)
    start_process(procs, [prom_bin, f"--config.file={prom_cfg}", f"--storage.tsdb.path={tmp_path / 'tsdb'}",
                          f"--web.listen-address=127.0.0.1:{prom_port}", "--log.level=warn"],
                  tmp_path / "prometheus.log")
    prom = f"http://127.0.0.1:{prom_port}"
    wait_for("prometheus /-/ready", lambda: ready(f"{prom}/-/ready"), 60)

    # --- the service, as operators run it, on topics of its own on the session's broker
    prefix = f"e2e-{uuid.uuid4().hex[:8]}"
    cfg = _service_config(tmp_path, capture, kafka_broker.bootstrap, prefix, metrics_port, am_port,
                          model.n_links - 2)
    env = {k: v for k, v in os.environ.items() if not k.startswith("TWINWATCH_")}
    env.update(OMP_NUM_THREADS="1")
    log = tmp_path / "service.log"
    with log.open("wb") as fh:
        service = subprocess.Popen([sys.executable, "-c", "from twinwatch.stream.cli import main; main()", "run",
                                    "--config", str(cfg), "--duration", "800"],
                                   stdout=fh, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env)
    procs.append(service)

    def service_log() -> str:
        return log.read_text(errors="replace")[-3000:]

    def assigned() -> bool:  # the lag gauges appear once the consumer holds its partitions
        assert service.poll() is None, f"the service exited ({service.returncode}):\n{service_log()}"
        try:
            return _scrape(metrics_port).get("twinwatch_consumer_lag_messages") is not None
        except OSError:
            return False

    wait_for("the service's consumer to get its partitions", assigned, 240, every=1.0)
    wait_for("the first scrape of twinwatch", lambda: get_json(f"{prom}/api/v1/query?query=up")["data"]["result"],
             30)

    # --- the scenario through Kafka at SPEED × real time
    sent = asyncio.run(_produce_paced(kafka_broker.bootstrap, capture, prefix, SPEED))
    manifest = orjson.loads((capture / "manifest.json").read_bytes())
    end_s = float(manifest["start_epoch_s"]) + float(manifest["config"]["duration_s"])

    def caught_up() -> bool:
        assert service.poll() is None, f"the service exited ({service.returncode}):\n{service_log()}"
        m = _scrape(metrics_port)
        return (m.get("twinwatch_messages_total", 0) >= sent
                and m.get("twinwatch_last_window_end_timestamp_seconds", 0) >= end_s - 30.0)

    wait_for(f"the service to consume the {sent} messages", caught_up, 300, every=1.0)
    lines = [orjson.loads(x) for x in (tmp_path / "alerts.jsonl").read_bytes().splitlines() if x.strip()]
    firing = [a for a in lines if a["status"] == "firing"]
    assert firing, f"the scenario's faults raised no alert: nothing to deliver\n{service_log()}"
    fired = sorted({(a["kind"], a["severity"], a["entity_id"], a["kpi"]) for a in firing})
    assert any((a["kind"], a["severity"]) == ("degradation", "critical") for a in firing), (
        f"the metric change of FAULT_PLAN raised no critical degradation (nothing for the pager route and the "
        f"degradation panels); fired: {fired}\n{service_log()}")

    # --- 1. the service's own push: alerts reach the receiver their kind and severity route to, grouped
    def receiver_of(a: dict[str, Any]) -> str:
        return "netops-pager" if (a["kind"], a["severity"]) == ("degradation", "critical") else "netops-ticket"

    def delivered() -> dict[str, str]:
        return {a["labels"]["alert_id"]: rec for rec in ("netops-pager", "netops-ticket")
                for a in webhook.alerts(rec) if "alert_id" in a["labels"]}

    by_id = {a["id"]: a for a in firing}
    labels = {k: Alert.from_dict(a).to_alertmanager()["labels"] for k, a in by_id.items()}
    link_state = {(lb["network"], lb.get("suspect_link")) for lb in labels.values() if lb["kind"] == "link_state"}
    inhibited = {k for k, lb in labels.items()  # deploy/alertmanager: path alerts behind a down link are inhibited
                 if lb["entity_kind"] == "path" and (lb["network"], lb.get("suspect_link")) in link_state}
    long_ids = {s.id for s in collapse_alerts(lines) if s.end - s.start >= LONG_ALERT_WINDOWS * 10.0} - inhibited
    wait_for("a twinwatch alert at the webhook (pushed by the service)", delivered, 60)
    wait_for(f"the {len(long_ids)} alerts firing >= {LONG_ALERT_WINDOWS} windows at the webhook",
             lambda: long_ids <= set(delivered()), 60)
    got = delivered()
    assert set(got) <= set(by_id), "the webhook got alerts the service never wrote to its JSONL file"
    assert {k: receiver_of(by_id[k]) for k in got} == got
    for rec in ("netops-pager", "netops-ticket"):
        for note in webhook.received(rec):
            nets = {a["labels"]["network"] for a in note["alerts"]}
            links = {a["labels"].get("suspect_link", "") for a in note["alerts"]}
            assert len(nets) == 1 and len(links) == 1, f"one notification mixes incidents: {nets} {links}"
            assert set(note["groupLabels"]) <= {"network", "suspect_link"}
    # ... and the alerts of one incident travel together: the critical degradations that blame the same link,
    # started in the same window and fired >= LONG_ALERT_WINDOWS windows (the metric change's four paths) all
    # appear in one pager notification
    incidents: dict[tuple[str, str, float], set[str]] = {}
    for k in long_ids:
        if (by_id[k]["kind"], by_id[k]["severity"]) == ("degradation", "critical"):
            key = (labels[k]["network"], labels[k].get("suspect_link", ""), float(by_id[k]["start"]))
            incidents.setdefault(key, set()).add(k)
    assert max(map(len, incidents.values()), default=0) > 1, (
        f"no incident of several critical degradations fired >= {LONG_ALERT_WINDOWS} windows (grouping not "
        f"exercised); fired: {fired}")

    def grouped() -> bool:
        notes = [{a["labels"].get("alert_id") for a in n["alerts"]} for n in webhook.received("netops-pager")]
        return all(any(ids <= n for n in notes) for ids in incidents.values())

    wait_for(f"one pager notification per incident {sorted(incidents)} holding all its alerts", grouped, 30)

    # --- 2. every dashboard and rule query returns data from this Prometheus over the run (Kafka, degradations)
    wait_for("recording rules evaluated on the last scrape", lambda: get_json(
        f"{prom}/api/v1/query?query=twinwatch:alerts_firing:sum")["data"]["result"], 30)
    wait_for("the consumer-lag and Kafka-error recordings", lambda: all(get_json(
        f"{prom}/api/v1/query?query={q}")["data"]["result"] for q in ("twinwatch:consumer_lag_messages:sum",
                                                                      "twinwatch:kafka_errors:rate5m")), 30)
    time.sleep(3)
    # dashboards: every panel target and variable as Grafana sends it; recording rules: their expression;
    # alerting rules (Prometheus' and Grafana's): every series selector they read (their condition need not hold)
    queries = [Query(q.where, substitute_grafana_variables(q.expr)) for q in dashboard_queries()]
    queries += rule_queries("record")
    queries += [Query(f"{q.where}: selector", sel) for q in rule_queries("alert") + grafana_rule_queries()
                for sel in sorted(vector_selectors(q.expr))]
    empty = []
    for q in queries:
        params = urllib.parse.urlencode({"query": q.expr, "start": t_start - 5, "end": time.time(), "step": "1"})
        res = get_json(f"{prom}/api/v1/query_range?{params}")
        assert res["status"] == "success", f"{q.where}: {res}"
        if not any(v != "NaN" for s in res["data"]["result"] for _, v in s["values"]):
            empty.append(f"{q.where}: {q.expr}")
    assert empty == [], f"{len(empty)} of {len(queries)} dashboard and rule queries without data:\n" + "\n".join(empty)

    # --- 3. a Prometheus rule fires and reaches the service owner: links beyond max_links
    wait_for("TwinwatchLinkSeriesDropped at twinwatch-ops", lambda: [
        a for a in webhook.alerts("twinwatch-ops") if a["labels"]["alertname"] == "TwinwatchLinkSeriesDropped"], 60)

    # --- 4. the service goes away (SIGTERM, as an orchestrator stops it): TwinwatchDown pages its on-call
    service.terminate()
    assert service.wait(timeout=60) == 0, service_log()
    down = wait_for("TwinwatchDown at twinwatch-oncall", lambda: [
        a for a in webhook.alerts("twinwatch-oncall") if a["labels"]["alertname"] == "TwinwatchDown"], 60)
    assert down[0]["labels"]["severity"] == "critical" and down[0]["status"] == "firing"
