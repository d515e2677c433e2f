"""``twinwatch plan``: the upgrades, the intact-only alternative, the twin's check, the planned model file, errors."""

from __future__ import annotations

import html
import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner, Result

from twinwatch.stream.cli import cli
from twinwatch.twin.netmodel import load_network

ABILENE = Path(__file__).resolve().parents[3] / "twin" / "data" / "networks" / "abilene.yaml"


def _run(*args: str) -> Result:
    return CliRunner().invoke(cli, ["plan", *args], catch_exceptions=False)


@pytest.fixture(scope="module")
def matrix(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A gravity matrix on Abilene, 40 Gb/s in all: with growth, more than its 10 Gb/s links hold."""
    n = load_network(ABILENE).n_nodes
    w = np.random.default_rng(7).uniform(0.5, 1.5, n)
    tm = np.outer(w, w)
    np.fill_diagonal(tm, 0.0)
    path = tmp_path_factory.mktemp("tm") / "tm.txt"
    np.savetxt(path, tm * 40e9 / tm.sum())
    return path


def test_a_plan_names_the_upgrades_the_failures_that_set_them_and_writes_the_planned_model(
        matrix: Path, tmp_path: Path) -> None:
    out, planned, page = tmp_path / "plan.json", tmp_path / "planned.yaml", tmp_path / "plan.html"
    res = _run(str(ABILENE), "--matrix", str(matrix), "--growth", "1.5", "--model", "qt", "--slo-delay", "0.03",
               "--json", str(out), "--out-network", str(planned), "--report", str(page), "--no-progress")
    assert res.exit_code == 0, res.output
    assert "abilene: traffic ×1.5, every link ≤ 80.0% through any single cable failure (16 scenarios routed" \
        in res.output
    assert "Cables to upgrade" in res.output and "The twin (qt) on the grown traffic, as is → planned" in res.output
    assert "upgrading only what the intact network needs" in res.output
    doc = json.loads(out.read_text())
    model = load_network(ABILENE)
    s = doc["summary"]
    assert doc["growth"] == 1.5 and doc["survive"] == "cable" and s["scenarios"] == 16
    assert s["cables_upgraded"] == len(doc["upgrades"]) > 0 and s["converged"]
    assert s["worst_utilization_after"] <= 0.8 < s["worst_utilization_before"] and s["links_over_ceiling_after"] == 0
    assert len(doc["links"]) == model.n_links
    assert {u["set_by"] for u in doc["upgrades"]} - {"intact"}  # failures, not only the intact network, set some
    # the planned model: the new capacities, nothing else changed
    new = load_network(planned)
    assert new.link_ids == model.link_ids and new.link_metric.tolist() == model.link_metric.tolist()
    by_link = {x["link"]: x["capacity_after_bps"] for x in doc["links"]}
    assert new.link_capacity_bps.tolist() == [by_link[lid] for lid in new.link_ids]
    tw = doc["twin"]
    assert tw["model"] == "qt" and tw["scenarios"][0]["scenario"] == "intact"
    assert all(r["planned"]["links_losing"] == [] for r in tw["scenarios"])
    assert any(r["as_is"]["links_losing"] for r in tw["scenarios"])
    assert all("demands_over_slo" in r["planned"] for r in tw["scenarios"])
    io = doc["intact_only"]
    assert io["cables_upgraded"] <= s["cables_upgraded"] and io["links_over_ceiling_under_failures"]
    # ATLAM5 hangs on one cable: its failure cuts ATLAM5 off, which no capacity fixes
    assert doc["cut_off"] and doc["cut_off"][0]["failure"] == "fail ATLAM5<->ATLAng"
    # the report: self-contained, the map with every upgraded cable haloed, every upgrade and the twin's check
    text = page.read_text()
    assert text.startswith("<!doctype html>") and "<svg" in text and "http" not in text.replace(
        'xmlns="http://www.w3.org/2000/svg"', "")
    assert text.count('stroke="#1f77b4" stroke-width="10"') == len(doc["upgrades"])
    assert all(html.escape(u["cable"]) in text for u in doc["upgrades"])
    assert "The twin (qt) on the grown traffic" in text


def test_json_to_stdout_is_the_only_output_and_no_twin_is_asked_with_verify_none(matrix: Path) -> None:
    res = _run(str(ABILENE), "--matrix", str(matrix), "--growth", "2", "--survive", "router", "--upgrade", "members",
               "--verify", "none", "--json", "-", "--no-progress")
    assert res.exit_code == 0
    doc = json.loads(res.stdout)
    assert doc["survive"] == "router" and doc["upgrade"] == "members" and "twin" not in doc
    assert doc["summary"]["scenarios"] == 1 + load_network(ABILENE).n_nodes
    for u in doc["upgrades"]:
        ratio = u["capacity_after_bps"] / u["capacity_before_bps"]
        assert ratio == round(ratio) >= 2


def test_custom_tiers_are_the_only_capacities_a_cable_takes(matrix: Path) -> None:
    res = _run(str(ABILENE), "--matrix", str(matrix), "--growth", "1.5", "--tiers", "100G, 40G", "--verify", "none",
               "--json", "-", "--no-progress")
    assert res.exit_code == 0
    doc = json.loads(res.stdout)
    assert doc["tiers_bps"] == [40e9, 100e9]
    assert {u["capacity_after_bps"] for u in doc["upgrades"]} <= {40e9, 100e9}


def test_the_intact_network_only_is_checked_with_verify_intact(matrix: Path) -> None:
    res = _run(str(ABILENE), "--matrix", str(matrix), "--model", "qt", "--verify", "intact", "--json", "-",
               "--no-progress")
    assert res.exit_code == 0
    assert [r["scenario"] for r in json.loads(res.stdout)["twin"]["scenarios"]] == ["intact"]


@pytest.mark.parametrize(("args", "status", "message"), [
    (["--tiers", "fast"], 2, "--tiers"),
    (["--tiers", "0,10G"], 2, "capacities > 0"),
    (["--max-utilization", "1.2"], 2, "--max-utilization"),
    (["--growth", "-1"], 2, "--growth"),
    (["--survive", "all"], 2, "--survive"),
])
def test_usage_errors_name_the_option(matrix: Path, args: list[str], status: int, message: str) -> None:
    res = _run(str(ABILENE), "--matrix", str(matrix), *args)
    assert res.exit_code == status and message in res.output


def test_a_baseline_is_required_and_a_wrong_matrix_is_refused(tmp_path: Path) -> None:
    res = _run(str(ABILENE))
    assert res.exit_code == 2 and "--capture FILE... (recorded telemetry) or --matrix FILE" in res.output
    bad = tmp_path / "tm.txt"
    np.savetxt(bad, np.ones((3, 3)))
    res = _run(str(ABILENE), "--matrix", str(bad))
    assert res.exit_code == 1 and "a 3 x 3 matrix for a network of 12 devices" in res.output


def test_an_output_in_a_missing_folder_is_refused_before_any_work(matrix: Path, tmp_path: Path) -> None:
    res = _run(str(ABILENE), "--matrix", str(matrix), "--out-network", str(tmp_path / "nope" / "p.yaml"))
    assert res.exit_code == 2 and "--out-network" in res.output


def test_help_reads_like_a_man_page() -> None:
    res = CliRunner().invoke(cli, ["plan", "--help"])
    assert res.exit_code == 0
    for text in ("Which cables to upgrade", "--growth", "--survive", "--tiers", "--verify", "Examples:",
                 "Exit status"):
        assert text in res.output
    assert "plan NETWORK --growth" in CliRunner().invoke(cli, ["--help"]).output


def test_a_failure_ceiling_of_its_own_is_said_and_applied(matrix: Path) -> None:
    res = _run(str(ABILENE), "--matrix", str(matrix), "--growth", "1.5", "--max-utilization", "0.7",
               "--max-utilization-failure", "0.95", "--verify", "none", "--no-progress")
    assert res.exit_code == 0, res.output
    assert "every link ≤ 70.0% intact and ≤ 95.0% through any single cable failure" in res.output
    res = _run(str(ABILENE), "--matrix", str(matrix), "--growth", "1.5", "--max-utilization", "0.7",
               "--max-utilization-failure", "0.95", "--verify", "none", "--json", "-", "--no-progress")
    doc = json.loads(res.stdout)
    assert doc["max_utilization_failure"] == 0.95 and doc["summary"]["links_over_ceiling_after"] == 0
    for u in doc["upgrades"]:
        assert u["ceiling"] == (0.7 if u["set_by"] == "intact" else 0.95)
        assert u["utilization_after"] <= u["ceiling"] + 1e-9


def test_a_plan_starts_from_recorded_telemetry_as_whatif_does(tmp_path: Path) -> None:
    run = tmp_path / "run"
    res = CliRunner().invoke(cli, ["simulate", "telemetry", "--network", "abilene", "--duration", "2m", "--faults",
                                   "0", "--seed", "4812", "--out", str(run), "--no-progress"], catch_exceptions=False)
    assert res.exit_code == 0, res.output
    captures = [x for f in sorted((run / "topics").glob("*.jsonl")) for x in ("--capture", str(f))]
    res = _run(str(run / "network.yaml"), *captures, "--growth", "30", "--verify", "none", "--json", "-",
               "--no-progress")
    assert res.exit_code == 0, res.output
    doc = json.loads(res.stdout)
    assert doc["baseline"]["source"] == "telemetry" and doc["baseline"]["windows"] > 0
    assert doc["summary"]["cables_upgraded"] > 0 and doc["summary"]["links_over_ceiling_after"] == 0
