"""Prometheus: the configuration, the rules and their unit tests, checked by the real ``promtool``.

Also the contract between the service and everything in ``deploy/``: every metric a rule, a dashboard or a
Grafana alert rule reads is exposed by ``stream/metrics.py`` (or recorded by a rule, or is Prometheus' own
``up``), and every query parses.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

from tests.deploy._support import (
    BUILTIN_METRICS,
    DEPLOY,
    PROM_DIR,
    RULE_FILES,
    Query,
    dashboard_queries,
    exposed_metrics,
    grafana_rule_queries,
    metric_names,
    recorded_names,
    rule_queries,
    run_tool,
    substitute_grafana_variables,
    tool,
    write_rule_file,
)


@pytest.fixture()
def promql_parser() -> None:
    """Skips the test when promql-parser (the `deploy` extra) is not installed."""
    pytest.importorskip("promql_parser", reason="promql-parser is in the `deploy` extra: pip install -e '.[deploy]'")


def _ok(proc: object, what: str) -> None:
    rc, out, err = proc.returncode, proc.stdout, proc.stderr  # type: ignore[attr-defined]
    assert rc == 0, f"{what} failed (exit {rc}):\n{out}\n{err}"


def test_promtool_check_config() -> None:
    _ok(run_tool([tool("promtool"), "check", "config", str(PROM_DIR / "prometheus.yml")]), "promtool check config")


def test_compose_prometheus_config_checks_in_its_container_layout(tmp_path: Path) -> None:
    """The compose stack mounts deploy/compose/prometheus.yml beside deploy/prometheus/rules as /etc/prometheus."""
    shutil.copy(DEPLOY / "compose" / "prometheus.yml", tmp_path / "prometheus.yml")
    shutil.copytree(PROM_DIR / "rules", tmp_path / "rules")
    proc = run_tool([tool("promtool"), "check", "config", str(tmp_path / "prometheus.yml")])
    _ok(proc, "promtool check config (compose)")
    assert f"{len(RULE_FILES)} rule files found" in proc.stdout + proc.stderr


def test_promtool_check_rules() -> None:
    proc = run_tool([tool("promtool"), "check", "rules", *map(str, RULE_FILES)])
    _ok(proc, "promtool check rules")
    assert "SUCCESS" in proc.stdout


def test_promtool_unit_tests_of_the_rules() -> None:
    tests = sorted((PROM_DIR / "tests").glob("*.yml"))
    assert tests, "no promtool unit tests under deploy/prometheus/tests"
    proc = run_tool([tool("promtool"), "test", "rules", *map(str, tests)], cwd=PROM_DIR)
    _ok(proc, "promtool test rules")
    assert proc.stdout.count("SUCCESS") == len(tests)


def test_every_alerting_rule_has_a_unit_test_that_fires_it() -> None:
    alerts = {r["alert"] for p in RULE_FILES for g in yaml.safe_load(p.read_text())["groups"] for r in g["rules"]
              if "alert" in r}
    fired: set[str] = set()
    for path in (PROM_DIR / "tests").glob("*.yml"):
        for case in yaml.safe_load(path.read_text()).get("tests", []):
            fired |= {t["alertname"] for t in case.get("alert_rule_test", []) if t.get("exp_alerts")}
    assert alerts - fired == set(), f"alerting rules never shown to fire in deploy/prometheus/tests: {alerts - fired}"


def test_every_alert_routes_on_service_and_severity() -> None:
    for path in RULE_FILES:
        for group in yaml.safe_load(path.read_text())["groups"]:
            for rule in group["rules"]:
                if "alert" in rule:
                    labels = rule.get("labels", {})
                    assert labels.get("service") == "twinwatch", f"{path.name}: {rule['alert']}: no service label"
                    assert labels.get("severity") in ("critical", "warning", "info"), \
                        f"{path.name}: {rule['alert']}: severity {labels.get('severity')!r}"
                    assert {"summary", "description"} <= set(rule.get("annotations", {})), \
                        f"{path.name}: {rule['alert']}: needs summary and description annotations"


def _unknown_metrics(queries: list[Query]) -> dict[str, set[str]]:
    known = set(exposed_metrics()) | recorded_names() | BUILTIN_METRICS
    bad = {}
    for q in queries:
        missing = metric_names(substitute_grafana_variables(q.expr)) - known
        if missing:
            bad[q.where] = missing
    return bad


def test_rules_read_only_metrics_the_service_exposes(promql_parser: None) -> None:
    assert _unknown_metrics(rule_queries()) == {}


def test_dashboards_read_only_metrics_the_service_exposes_or_rules_record(promql_parser: None) -> None:
    queries = dashboard_queries()
    assert len(queries) >= 40, f"only {len(queries)} dashboard queries found: did generate.py change its output?"
    assert _unknown_metrics(queries) == {}


def test_grafana_alert_rules_read_only_exposed_metrics(promql_parser: None) -> None:
    queries = grafana_rule_queries()
    assert queries
    assert _unknown_metrics(queries) == {}


def test_every_recording_rule_is_used_by_a_dashboard_or_a_rule(promql_parser: None) -> None:
    used: set[str] = set()
    for q in dashboard_queries() + rule_queries():
        used |= metric_names(substitute_grafana_variables(q.expr))
    assert recorded_names() - used == set(), "recording rules nobody reads"


def test_the_metric_inventory_is_the_documented_contract() -> None:
    """The families deploy/ was written against (ARCHITECTURE / issue 13) are all on /metrics."""
    exposed = exposed_metrics()
    for name, kind in {"twinwatch_messages_total": "counter", "twinwatch_dlq_messages_total": "counter",
                       "twinwatch_windows_total": "counter", "twinwatch_window_lag_seconds_bucket": "histogram",
                       "twinwatch_twin_inference_seconds_bucket": "histogram", "twinwatch_alerts_firing": "gauge",
                       "twinwatch_link_expected_upper": "gauge", "twinwatch_consumer_lag_messages": "gauge",
                       "twinwatch_build_info": "gauge"}.items():
        assert exposed.get(name) == kind, f"{name}: expected a {kind} on /metrics, the service has {exposed.get(name)}"


def test_every_dashboard_and_grafana_rule_query_parses_with_promtool(tmp_path: Path) -> None:
    queries = dashboard_queries() + grafana_rule_queries()
    rules = write_rule_file(queries, tmp_path / "dashboard-queries.yml")
    proc = run_tool([tool("promtool"), "check", "rules", str(rules)])
    _ok(proc, "promtool check rules (dashboard queries wrapped as recording rules)")
    assert f"SUCCESS: {len(queries)} rules found" in proc.stdout


def test_a_broken_query_is_caught_by_both_checks(tmp_path: Path, promql_parser: None) -> None:
    """The checks above would notice: promtool refuses bad syntax; the inventory refuses an unknown metric."""
    bad = [Query("test", "sum by (network) (rate(twinwatch_windows_total[5m])")]
    proc = run_tool([tool("promtool"), "check", "rules", str(write_rule_file(bad, tmp_path / "bad.yml"))])
    assert proc.returncode != 0
    assert _unknown_metrics([Query("test", "rate(twinwatch_no_such_metric_total[5m])")]) == {
        "test": {"twinwatch_no_such_metric_total"}}
