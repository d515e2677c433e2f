"""Prometheus metrics: the contract names, bounded link cardinality, the HTTP endpoint, promtool."""

from __future__ import annotations

import shutil
import subprocess
import urllib.error
import urllib.request

import numpy as np
import pytest
from prometheus_client import CollectorRegistry
from prometheus_client.parser import text_string_to_metric_families

from twinwatch.stream.metrics import LINK_KPIS, MetricsServer, ServiceMetrics

CONTRACT = {
    "twinwatch_messages": "counter", "twinwatch_messages_rejected": "counter", "twinwatch_dlq_messages": "counter",
    "twinwatch_measurements": "counter", "twinwatch_windows": "counter",
    "twinwatch_window_completeness_ratio": "gauge", "twinwatch_last_window_end_timestamp_seconds": "gauge",
    "twinwatch_window_lag_seconds": "histogram", "twinwatch_window_close_to_alert_seconds": "histogram",
    "twinwatch_twin_inference_seconds": "histogram", "twinwatch_alerts_firing": "gauge",
    "twinwatch_alerts": "counter", "twinwatch_link_observed": "gauge", "twinwatch_link_expected": "gauge",
    "twinwatch_link_expected_lower": "gauge", "twinwatch_link_expected_upper": "gauge",
    "twinwatch_link_anomaly_score": "gauge", "twinwatch_link_series_dropped": "counter",
    "twinwatch_link_paths_anomalous": "gauge", "twinwatch_consumer_lag_messages": "gauge",
    "twinwatch_kafka_errors": "counter", "twinwatch_build_info": "gauge",
    "twinwatch_link_capacity_bytes_per_second": "gauge", "twinwatch_link_igp_metric": "gauge",
}


def _filled(max_links: int = 3) -> ServiceMetrics:
    m = ServiceMetrics(CollectorRegistry(), version="9.9", max_links=max_links)
    m.messages.labels("gnmic", "accepted").inc(10)
    m.messages.labels("gnmic", "rejected").inc(2)
    m.rejected.labels("gnmic", "malformed_json").inc(2)
    m.dlq.labels("gnmic", "malformed_json").inc(2)
    m.measurements.labels("abilene").inc(100)
    m.windows.labels("abilene", "complete").inc()
    m.completeness.labels("abilene").set(0.97)
    m.last_window_end.labels("abilene").set(1.7e9)
    m.window_lag.observe(0.3)
    m.close_to_alert.observe(0.02)
    m.inference.observe(0.01)
    m.consumer_lag.labels("twinwatch.raw.gnmic", "0").set(5)
    m.kafka_errors.labels("produce").inc()
    links = [f"n{i}->n{i + 1}" for i in range(5)]
    v = np.arange(5, dtype=float)
    for kpi in LINK_KPIS:
        m.set_links("abilene", links, kpi, observed=v, expected=v, lower=v - 1, upper=v + 1, score=v / 10)
    m.set_paths_anomalous("abilene", links, np.array([0, 1, 0, 2, 0]))
    m.set_link_config("abilene", links, model_capacity_bps=np.full(5, 1e10), capacity_bps=np.full(5, 1e10),
                      model_metric=np.full(5, 10.0), metric=np.full(5, 10.0))
    m.alert_changed("abilene", "degradation", "critical", True)
    m.alert_changed("abilene", "degradation", "critical", True)
    m.alert_changed("abilene", "degradation", "critical", False)
    return m


def test_contract_names_types_and_values() -> None:
    m = _filled()
    fams = {f.name: f for f in text_string_to_metric_families(m.exposition().decode())}
    for name, kind in CONTRACT.items():
        assert name in fams, name
        assert fams[name].type == kind, name
    firing = [s for s in fams["twinwatch_alerts_firing"].samples]
    assert [(s.labels, s.value) for s in firing] == [
        ({"network": "abilene", "kind": "degradation", "severity": "critical"}, 1.0)]  # 2 fired, 1 resolved
    total = [s.value for s in fams["twinwatch_alerts"].samples if s.name == "twinwatch_alerts_total"]
    assert total == [2.0]
    assert [s.labels["version"] for s in fams["twinwatch_build_info"].samples] == ["9.9"]


def test_link_cardinality_is_capped_and_counted() -> None:
    m = _filled(max_links=3)
    fams = {f.name: f for f in text_string_to_metric_families(m.exposition().decode())}
    links = {s.labels["link"] for s in fams["twinwatch_link_observed"].samples}
    assert links == {"n0->n1", "n1->n2", "n2->n3"}  # the first 3 seen
    assert {s.labels["kpi"] for s in fams["twinwatch_link_observed"].samples} == set(LINK_KPIS)
    dropped = [s.value for s in fams["twinwatch_link_series_dropped"].samples if s.name.endswith("_total")]
    assert dropped == [2.0]  # two links, counted once each although set for 5 KPIs and the paths gauge
    for fam in fams.values():  # no metric carries a path label
        assert all("path" not in s.labels for s in fam.samples)


def test_the_configuration_gauges_say_what_the_twin_predicted_with_and_are_set_only_when_they_change() -> None:
    m = _filled(max_links=3)
    links = [f"n{i}->n{i + 1}" for i in range(5)]
    cap, metric = np.full(5, 1e10), np.full(5, 10.0)
    m.set_link_config("abilene", links, model_capacity_bps=cap, capacity_bps=np.where(np.arange(5) == 1, 5e9, cap),
                      model_metric=metric, metric=np.where(np.arange(5) == 2, 100.0, metric))
    fams = {f.name: f for f in text_string_to_metric_families(m.exposition().decode())}
    got = {(s.labels["link"], s.labels["source"]): s.value
           for s in fams["twinwatch_link_capacity_bytes_per_second"].samples}
    assert got[("n1->n2", "twin")] == 6.25e8 and got[("n1->n2", "model")] == 1.25e9  # bytes/s
    assert {lnk for lnk, _ in got} == {"n0->n1", "n1->n2", "n2->n3"}  # the link cap holds here too
    igp = {(s.labels["link"], s.labels["source"]): s.value for s in fams["twinwatch_link_igp_metric"].samples}
    assert igp[("n2->n3", "twin")] == 100.0 and igp[("n2->n3", "model")] == igp[("n0->n1", "twin")] == 10.0
    # an unchanged window touches no gauge: one set by hand stays as it is
    m.link_igp_metric.labels("abilene", "n0->n1", "twin").set(-1.0)
    m.set_link_config("abilene", links, model_capacity_bps=cap, capacity_bps=np.where(np.arange(5) == 1, 5e9, cap),
                      model_metric=metric, metric=np.where(np.arange(5) == 2, 100.0, metric))
    assert m.link_igp_metric.labels("abilene", "n0->n1", "twin")._value.get() == -1.0


@pytest.mark.skipif(shutil.which("promtool") is None, reason="promtool not on PATH (apt-get install prometheus)")
def test_promtool_accepts_the_exposition() -> None:
    proc = subprocess.run(["promtool", "check", "metrics"], input=_filled().exposition(), capture_output=True,
                          timeout=60)
    assert proc.returncode == 0, proc.stdout.decode() + proc.stderr.decode()


def test_http_endpoints() -> None:
    m = _filled()
    ready = {"ok": False}
    srv = MetricsServer(m, "127.0.0.1", 0, ready=lambda: ready["ok"]).start()
    try:
        base = f"http://127.0.0.1:{srv.port}"
        with urllib.request.urlopen(base + "/metrics", timeout=10) as r:
            body = r.read().decode()
            assert r.headers["Content-Type"].startswith("text/plain")
        assert {f.name for f in text_string_to_metric_families(body)} >= set(CONTRACT)
        with urllib.request.urlopen(base + "/healthz", timeout=10) as r:
            assert r.status == 200
        with pytest.raises(urllib.error.HTTPError) as err:
            urllib.request.urlopen(base + "/readyz", timeout=10)
        assert err.value.code == 503
        ready["ok"] = True
        with urllib.request.urlopen(base + "/readyz", timeout=10) as r:
            assert r.status == 200
    finally:
        srv.stop()


def test_kafka_errors_are_exported_at_zero_before_the_first_error() -> None:
    """``rate(twinwatch_kafka_errors_total[5m])`` (the service dashboard's Kafka-error panel) must have data, 0,
    on a healthy service: every counted operation is exported from the start."""
    from twinwatch.stream.metrics import KAFKA_OPERATIONS

    m = ServiceMetrics(CollectorRegistry())
    fams = {f.name: f for f in text_string_to_metric_families(m.exposition().decode())}
    got = {s.labels["operation"]: s.value for s in fams["twinwatch_kafka_errors"].samples if s.name.endswith("_total")}
    assert got == dict.fromkeys(KAFKA_OPERATIONS, 0.0) and {"produce", "lag"} <= set(got)
    m.kafka_errors.labels("produce").inc()
    fams = {f.name: f for f in text_string_to_metric_families(m.exposition().decode())}
    assert {s.labels["operation"]: s.value for s in fams["twinwatch_kafka_errors"].samples
            if s.name.endswith("_total")}["produce"] == 1.0
