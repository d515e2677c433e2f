"""Grafana: dashboards and alert rules are generated as code; the committed files are that code's output,
conform to the SDK's (Grafana schema-derived) types, and point at the provisioned datasource."""

from __future__ import annotations

import importlib.util
import json
import sys
from typing import Any

import pytest
import yaml

from tests.deploy._support import DASHBOARD_FILES, DEPLOY, GRAFANA_RULES, RULE_FILES

GRAFANA = DEPLOY / "grafana"


def _generator() -> Any:
    pytest.importorskip("grafana_foundation_sdk", reason="grafana-foundation-sdk is in the `deploy` extra: "
                        "pip install -e '.[deploy]'")
    spec = importlib.util.spec_from_file_location("twinwatch_grafana_generate", GRAFANA / "generate.py")
    assert spec is not None and spec.loader is not None
    mod = sys.modules.get(spec.name)
    if mod is None:
        mod = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = mod  # dataclasses resolve annotations through sys.modules
        spec.loader.exec_module(mod)
    return mod


def test_committed_files_equal_the_generator_output() -> None:
    gen = _generator()
    outputs = gen.outputs()
    assert {p.name for p in outputs} == {p.name for p in DASHBOARD_FILES} | {GRAFANA_RULES.name}
    stale = [p.name for p, text in outputs.items() if p.read_text(encoding="utf-8") != text]
    assert stale == [], f"stale generated files {stale}: run .venv/bin/python deploy/grafana/generate.py"
    assert gen.main(["--check"]) == 0


def test_dashboards_round_trip_through_the_sdk_model() -> None:
    """Each dashboard parses into the SDK's Dashboard model and serialises back unchanged."""
    _generator()
    from grafana_foundation_sdk.cog.encoder import JSONEncoder
    from grafana_foundation_sdk.models.dashboard import Dashboard

    for path in DASHBOARD_FILES:
        raw = json.loads(path.read_text(encoding="utf-8"))
        again = json.loads(json.dumps(Dashboard.from_json(raw), cls=JSONEncoder))
        assert again == raw, f"{path.name} does not round-trip through grafana_foundation_sdk's Dashboard"


def _panels(doc: dict[str, Any]) -> list[dict[str, Any]]:
    out, stack = [], list(doc["panels"])
    while stack:
        p = stack.pop(0)
        out.append(p)
        stack.extend(p.get("panels", []))
    return out


def test_dashboards_are_well_formed() -> None:
    ds = yaml.safe_load((GRAFANA / "provisioning" / "datasources" / "prometheus.yml").read_text())
    prom_uid = next(d["uid"] for d in ds["datasources"] if d["type"] == "prometheus")
    uids = set()
    for path in DASHBOARD_FILES:
        doc = json.loads(path.read_text(encoding="utf-8"))
        assert doc["uid"] not in uids and len(doc["uid"]) <= 40
        uids.add(doc["uid"])
        panels = _panels(doc)
        ids = [p["id"] for p in panels]
        assert len(ids) == len(set(ids)), f"{path.name}: duplicate panel ids"
        for p in panels:
            g = p["gridPos"]
            assert g["x"] >= 0 and g["x"] + g["w"] <= 24, f"{path.name}: panel {p['title']!r} off the grid"
            if p["type"] != "row":
                assert p["datasource"]["uid"] == prom_uid, f"{path.name}: panel {p['title']!r}"
                assert p.get("targets") and p.get("description"), f"{path.name}: panel {p['title']!r}"
                for t in p["targets"]:
                    assert t["datasource"]["uid"] == prom_uid
        # Panels do not overlap.
        cells = set()
        for p in panels:
            g = p["gridPos"]
            for x in range(g["x"], g["x"] + g["w"]):
                for y in range(g["y"], g["y"] + g["h"]):
                    assert (x, y) not in cells, f"{path.name}: panel {p['title']!r} overlaps another"
                    cells.add((x, y))
    assert uids == {"twinwatch-network", "twinwatch-link", "twinwatch-paths", "twinwatch-service"}


def test_the_overview_colours_links_by_score_and_the_link_page_shows_bounds() -> None:
    net = json.loads((GRAFANA / "dashboards" / "twinwatch-network.json").read_text())
    score = next(p for p in _panels(net) if p["title"] == "Links by anomaly score")
    assert score["type"] == "status-history"
    assert score["fieldConfig"]["defaults"]["color"]["mode"] == "thresholds"
    assert any(p["type"] == "state-timeline" for p in _panels(net)), "an alerts timeline"
    link = json.loads((GRAFANA / "dashboards" / "twinwatch-link.json").read_text())
    band = _panels(link)[1]
    exprs = [t["expr"].split("{")[0] for t in band["targets"]]
    assert exprs == ["twinwatch_link_observed", "twinwatch_link_expected", "twinwatch_link_expected_lower",
                     "twinwatch_link_expected_upper"]
    fill = band["fieldConfig"]["overrides"][0]
    assert fill["matcher"]["options"] == "lower"
    assert {"id": "custom.fillBelowTo", "value": "upper"} in fill["properties"]


def test_provisioning_points_at_the_mounted_dashboards() -> None:
    prov = yaml.safe_load((GRAFANA / "provisioning" / "dashboards" / "twinwatch.yml").read_text())
    path = prov["providers"][0]["options"]["path"]
    compose = yaml.safe_load((DEPLOY / "compose" / "docker-compose.yml").read_text())
    mounts = compose["services"]["grafana"]["volumes"]
    assert f"../grafana/dashboards:{path}:ro" in mounts


def test_grafana_alert_rules_mirror_the_prometheus_rules() -> None:
    prom = [r for p in RULE_FILES for g in yaml.safe_load(p.read_text())["groups"] for r in g["rules"] if "alert" in r]
    doc = yaml.safe_load(GRAFANA_RULES.read_text())
    assert doc["apiVersion"] == 1
    rules = [r for g in doc["groups"] for r in g["rules"]]
    assert [r["title"] for r in rules] == [r["alert"] for r in prom]
    for g_rule, p_rule in zip(rules, prom, strict=True):
        assert g_rule["condition"] == "C" and [d["refId"] for d in g_rule["data"]] == ["A", "B", "C"]
        assert g_rule["data"][0]["model"]["expr"] == p_rule["expr"].strip()
        assert g_rule["labels"] == p_rule["labels"] and g_rule["for"] == p_rule.get("for", "0s")
        assert "$value " not in json.dumps(g_rule["annotations"]) and len(g_rule["uid"]) <= 40
    assert len({r["uid"] for r in rules}) == len(rules)
