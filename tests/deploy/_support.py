"""Helpers of the deploy tests: the real tools, the service's metric inventory, PromQL extraction.

The tools (``promtool``, ``amtool``, ``prometheus``, ``prometheus-alertmanager``) come from Debian's
``prometheus`` and ``prometheus-alertmanager`` packages, which ``.ci/run`` installs; a test that needs one
skips with the package to install when it is absent.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
DEPLOY = REPO / "deploy"
PROM_DIR = DEPLOY / "prometheus"
RULE_FILES = sorted((PROM_DIR / "rules").glob("*.yml"))
DASHBOARD_FILES = sorted((DEPLOY / "grafana" / "dashboards").glob("*.json"))
GRAFANA_RULES = DEPLOY / "grafana" / "provisioning" / "alerting" / "twinwatch-rules.yml"

TOOL_PACKAGES = {"promtool": "prometheus", "prometheus": "prometheus", "amtool": "prometheus-alertmanager",
                 "prometheus-alertmanager": "prometheus-alertmanager"}

GRAFANA_SUBSTITUTIONS = {"$__rate_interval": "5m", "$__interval": "1m", "$network": ".+", "$link": ".+",
                         "$kpi": "utilization"}
"""Values for Grafana's template variables when a dashboard query is run outside Grafana.

``$network`` and ``$link`` appear only inside ``=~`` matchers (multi-value variables), where ``.+`` is
what Grafana's "All" sends; ``$kpi`` appears inside ``=`` matchers.
"""

BUILTIN_METRICS = {"up"}
"""Series Prometheus makes itself that the rules and dashboards may use."""


def tool(name: str) -> str:
    """Absolute path of a Prometheus tool; skips the test with the Debian package to install when absent."""
    path = shutil.which(name)
    if path is None:
        pytest.skip(f"{name} not found: install Debian's {TOOL_PACKAGES[name]} package "
                    f"(apt-get install -y {TOOL_PACKAGES[name]}; .ci/run does it in CI)")
    return path


def run_tool(args: list[str], *, timeout: float = 60.0, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    """Run a tool, capture its output (text) and never hang longer than ``timeout`` seconds."""
    return subprocess.run(args, capture_output=True, text=True, timeout=timeout, cwd=cwd, check=False)


# ----------------------------------------------------------------------------- the service's metrics
def exposed_metrics() -> dict[str, str]:
    """Sample names the service exposes on ``/metrics`` → their family type, from :class:`ServiceMetrics`.

    Read from the real metric definitions (``stream/metrics.py``): counters expose ``<name>_total``,
    histograms ``<name>_bucket``, ``_sum`` and ``_count``, gauges their name.
    """
    from prometheus_client import CollectorRegistry

    from twinwatch.stream.metrics import ServiceMetrics

    registry = CollectorRegistry()
    ServiceMetrics(registry, version="test")
    suffixes = {"counter": ("_total",), "gauge": ("",), "histogram": ("_bucket", "_sum", "_count"),
                "summary": ("_sum", "_count", ""), "info": ("_info",)}
    out: dict[str, str] = {}
    for family in registry.collect():
        for suffix in suffixes.get(family.type, ("",)):
            out[family.name + suffix] = family.type
    return out


# ----------------------------------------------------------------------------- PromQL
def substitute_grafana_variables(expr: str) -> str:
    """``expr`` with Grafana's template variables replaced (see :data:`GRAFANA_SUBSTITUTIONS`)."""
    for var in sorted(GRAFANA_SUBSTITUTIONS, key=len, reverse=True):
        expr = expr.replace(var, GRAFANA_SUBSTITUTIONS[var])
    left = re.findall(r"\$\{?\w+", expr)
    if left:
        raise AssertionError(f"unknown Grafana variable(s) {left} in {expr!r}; add them to GRAFANA_SUBSTITUTIONS")
    return expr


def _vector_selector_nodes(expr: str) -> list[Any]:
    """The ``VectorSelector`` nodes of a PromQL expression (parsed with ``promql_parser``; raises on a syntax error)."""
    import promql_parser

    nodes: list[Any] = []

    def walk(node: Any) -> None:
        kind = type(node).__name__
        if kind == "VectorSelector":
            nodes.append(node)
        elif kind == "MatrixSelector":
            walk(node.vector_selector)
        elif kind == "BinaryExpr":
            walk(node.lhs)
            walk(node.rhs)
        elif kind in ("AggregateExpr", "UnaryExpr", "ParenExpr", "SubqueryExpr"):
            walk(node.expr)
            if kind == "AggregateExpr" and node.param is not None:
                walk(node.param)
        elif kind == "Call":
            for arg in node.args:
                walk(arg)
        elif kind not in ("NumberLiteral", "StringLiteral"):
            raise AssertionError(f"unhandled PromQL node {kind} in {expr!r}")

    walk(promql_parser.parse(expr))
    return nodes


def metric_names(expr: str) -> set[str]:
    """Metric names that a PromQL expression selects (parsed with ``promql_parser``; raises on a syntax error)."""
    names: set[str] = set()
    for node in _vector_selector_nodes(expr):
        if node.name:
            names.add(node.name)
        else:
            names.update(m.value for m in node.matchers.matchers if m.name == "__name__")
    return names


def vector_selectors(expr: str) -> set[str]:
    """The series selectors an expression reads, as PromQL text with their label matchers, range and offset dropped.

    >>> sorted(vector_selectors('sum(rate(a_total{x="1"}[5m])) / sum(rate(a_total[5m])) > 0'))
    ['a_total', 'a_total{x="1"}']
    """
    out = set()
    for node in _vector_selector_nodes(expr):
        matchers = ",".join(str(m) for m in node.matchers.matchers)
        out.add(f"{node.name or ''}{{{matchers}}}" if matchers or not node.name else node.name)
    return out


@dataclass(frozen=True)
class Query:
    """One PromQL expression found in a deploy file: where (file and element) and the expression."""

    where: str
    expr: str


def rule_documents() -> Iterator[tuple[Path, dict[str, Any]]]:
    """The Prometheus rule files and their parsed YAML."""
    for path in RULE_FILES:
        yield path, yaml.safe_load(path.read_text(encoding="utf-8"))


def rule_queries(kind: str | None = None) -> list[Query]:
    """Every ``expr`` of the Prometheus rule files, or only those of the ``"record"`` or ``"alert"`` rules."""
    out = []
    for path, doc in rule_documents():
        for group in doc["groups"]:
            for rule in group["rules"]:
                if kind is not None and kind not in rule:
                    continue
                name = rule.get("record") or rule.get("alert")
                out.append(Query(f"{path.name}: {group['name']}/{name}", str(rule["expr"]).strip()))
    return out


def recorded_names() -> set[str]:
    """Names of the recording rules."""
    return {rule["record"] for _, doc in rule_documents() for g in doc["groups"] for rule in g["rules"]
            if "record" in rule}


def _label_values_selector(query: str) -> str | None:
    """The series selector of a Grafana ``label_values(selector, label)`` variable query (None without one)."""
    m = re.fullmatch(r"\s*label_values\((.*),\s*\w+\s*\)\s*", query)
    return m.group(1) if m else None


def dashboard_queries() -> list[Query]:
    """Every PromQL expression of the generated dashboards (panel targets and variable queries), raw."""
    out = []
    for path in DASHBOARD_FILES:
        doc = json.loads(path.read_text(encoding="utf-8"))
        stack = list(doc.get("panels", []))
        while stack:
            panel = stack.pop(0)
            stack.extend(panel.get("panels", []))
            for target in panel.get("targets", []):
                out.append(Query(f"{path.name}: panel {panel.get('id')} {panel.get('title')!r} "
                                 f"target {target.get('refId')}", target["expr"]))
        for var in doc.get("templating", {}).get("list", []):
            q = var.get("query")
            text = q.get("query") if isinstance(q, dict) else q
            if var.get("type") == "query" and isinstance(text, str):
                sel = _label_values_selector(text)
                assert sel is not None, f"{path.name}: variable {var['name']}: not label_values(...): {text!r}"
                out.append(Query(f"{path.name}: variable {var['name']}", sel))
    return out


def grafana_rule_queries() -> list[Query]:
    """The Prometheus queries of the Grafana-managed alert rules."""
    doc = yaml.safe_load(GRAFANA_RULES.read_text(encoding="utf-8"))
    out = []
    for group in doc["groups"]:
        for rule in group["rules"]:
            for d in rule["data"]:
                if d["datasourceUid"] != "__expr__":
                    out.append(Query(f"{GRAFANA_RULES.name}: {rule['title']} query {d['refId']}", d["model"]["expr"]))
    return out


def write_rule_file(queries: list[Query], path: Path) -> Path:
    """A Prometheus rule file with one recording rule per query, for ``promtool check rules``."""
    rules = [{"record": f"deploy_check:q{i}", "expr": substitute_grafana_variables(q.expr)}
             for i, q in enumerate(queries)]
    path.write_text(yaml.safe_dump({"groups": [{"name": "dashboard-queries", "rules": rules}]}), encoding="utf-8")
    return path
