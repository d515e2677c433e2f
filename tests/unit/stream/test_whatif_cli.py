"""``twinwatch whatif``: a baseline from a matrix file or from recorded telemetry, the report, its errors."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner, Result

from twinwatch.stream.cli import cli
from twinwatch.twin.netmodel import load_network

ABILENE = Path(__file__).resolve().parents[3] / "twin" / "data" / "networks" / "abilene.yaml"


def _run(*args: str) -> Result:
    return CliRunner().invoke(cli, ["whatif", *args], catch_exceptions=False)


@pytest.fixture(scope="module")
def matrix(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A gravity matrix on Abilene, about 12 Gb/s in all, in the model's device order."""
    n = load_network(ABILENE).n_nodes
    w = np.random.default_rng(5).uniform(0.5, 1.5, n)
    tm = np.outer(w, w) * 8e7
    np.fill_diagonal(tm, 0.0)
    path = tmp_path_factory.mktemp("tm") / "tm.txt"
    np.savetxt(path, tm)
    return path


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Three minutes of the simulated Abilene's telemetry (every collector format), no fault."""
    out = tmp_path_factory.mktemp("wi") / "run"
    res = CliRunner().invoke(cli, ["simulate", "telemetry", "--network", "abilene", "--duration", "3m", "--faults",
                                   "0", "--seed", "4711", "--out", str(out), "--no-progress"],
                             catch_exceptions=False)
    assert res.exit_code == 0, res.output
    return out


def _captures(run: Path) -> list[str]:
    return [x for f in sorted((run / "topics").glob("*.jsonl")) for x in ("--capture", str(f))]


def test_a_cable_down_on_a_matrix_baseline_reports_reroutes_and_writes_every_demand_and_link(
        matrix: Path, tmp_path: Path) -> None:
    out = tmp_path / "w.json"
    res = _run(str(ABILENE), "--matrix", str(matrix), "--fail", "CHINng<->IPLSng", "--model", "qt",
               "--slo-delay", "0.025", "--max-utilization", "0.5", "--json", str(out), "--top", "3")
    assert res.exit_code == 0, res.output
    assert "abilene: fail CHINng<->IPLSng (twin: qt" in res.output
    assert "rerouted onto longer paths" in res.output and "Busiest links after (top 3)" in res.output
    doc = json.loads(out.read_text())
    model = load_network(ABILENE)
    assert doc["network"] == "abilene" and doc["changes"] == ["fail CHINng<->IPLSng"]
    assert len(doc["demands"]) == model.n_nodes * (model.n_nodes - 1) and len(doc["links"]) == model.n_links
    ci = next(d for d in doc["demands"] if d["src"] == "CHINng" and d["dst"] == "IPLSng")
    assert ci["hops_before"] == 1 and ci["hops_after"] > 1 and ci["delay_after_s"] > ci["delay_before_s"]
    down = {x["link"] for x in doc["links"] if x["down_after"]}
    assert down == {"CHINng->IPLSng", "IPLSng->CHINng"}
    s = doc["summary"]
    assert s["demands_without_route_after"] == 0 and s["demands_on_longer_paths"] > 0
    assert s["slo_delay_s"] == 0.025 and s["demands_over_slo_after"] >= s["demands_newly_over_slo"] > 0
    assert set(s["links_newly_over_max_utilization"]) <= set(s["links_over_max_utilization_after"])
    assert s["offered_before_bps"] == pytest.approx(s["offered_after_bps"])


def test_json_to_stdout_is_the_only_output(matrix: Path) -> None:
    res = _run(str(ABILENE), "--matrix", str(matrix), "--scale", "1.5", "--model", "qt", "--json", "-")
    assert res.exit_code == 0
    doc = json.loads(res.stdout)
    assert doc["changes"] == ["scale ×1.5"]
    assert doc["summary"]["offered_after_bps"] == pytest.approx(1.5 * doc["summary"]["offered_before_bps"])
    assert doc["summary"]["peak_utilization_after"] == pytest.approx(1.5 * doc["summary"]["peak_utilization_before"])


def test_a_router_down_names_the_demands_it_cuts_off(matrix: Path) -> None:
    res = _run(str(ABILENE), "--matrix", str(matrix), "--fail-node", "ATLAng", "--model", "qt")
    assert res.exit_code == 0, res.output
    assert "lose their route" in res.output
    assert "cut off (neither end is a router taken down): ATLAM5 → " in res.output  # ATLAM5 hangs off ATLAng only


def test_the_baseline_from_telemetry_is_its_busiest_window_or_the_one_asked_for(run: Path, tmp_path: Path) -> None:
    out = tmp_path / "w.json"
    res = _run(str(run / "network.yaml"), *_captures(run), "--capacity", "DNVRng<->KSCYng=2.5G", "--model", "qt",
               "--json", str(out), "--no-progress")
    assert res.exit_code == 0, res.output
    assert "the busiest of" in res.output and "telemetry windows" in res.output
    doc = json.loads(out.read_text())
    base = doc["baseline"]
    assert base["source"] == "telemetry" and base["windows"] >= 18 and base["tm_source"]
    # the run's lines corrupted on purpose are refused, counted and said, not dropped silently
    malformed = sum(1 for _ in (run / "malformed.jsonl").open())
    assert base["dead_letters"] >= malformed > 0 and base["messages"] > 2000
    assert f"warning: {base['dead_letters']} of {base['messages']} message(s) were refused" in res.output
    assert base["window_end"] - base["window_start"] == 10.0
    # the telemetry's matrix carries about the traffic the simulated network carried in that window
    truth = pq.read_table(run / "truth" / "paths.parquet", columns=["window_start", "offered_bps"])
    ws, offered = (truth.column(c).to_numpy() for c in ("window_start", "offered_bps"))
    in_window = offered[ws == base["window_start"]].sum()
    assert in_window > 0 and doc["summary"]["offered_before_bps"] == pytest.approx(in_window, rel=0.25)
    dk = next(x for x in doc["links"] if x["link"] == "DNVRng->KSCYng")
    assert dk["capacity_after_bps"] == 2.5e9 and dk["utilization_after"] == pytest.approx(
        4 * dk["utilization_before"])

    at = base["window_start"] - 55.0  # a window five before the busiest
    res = _run(str(run / "network.yaml"), *_captures(run), "--at", str(at), "--model", "qt", "--json", "-")
    assert res.exit_code == 0
    picked = json.loads(res.stdout)["baseline"]
    assert picked["window_start"] <= at < picked["window_end"]

    res = _run(str(run / "network.yaml"), *_captures(run), "--at", "2020-01-01T00:00:00", "--model", "qt")
    assert res.exit_code == 1 and "--at 2020-01-01T00:00:00+00:00: no window of the telemetry holds it" in res.output


@pytest.mark.parametrize(("args", "status", "message"), [
    ([], 2, "give the baseline traffic"),
    (["--matrix", "M", "--capture", "M"], 2, "give the baseline traffic"),
    (["--matrix", "M", "--at", "0"], 2, "--at picks a telemetry window: it needs --capture"),
    (["--matrix", "M", "--fail", "CHINng<->IPLng"], 2, "no device 'IPLng'; did you mean IPLSng?"),
    (["--matrix", "M", "--capacity", "CHINng->IPLSng"], 2, "expected TARGET=VALUE"),
    (["--matrix", "M", "--at", "yesterday"], 2, "expected epoch seconds or an ISO 8601 time"),
])
def test_usage_errors_name_the_option_and_the_fix(matrix: Path, args: list[str], status: int, message: str) -> None:
    res = _run(str(ABILENE), *[str(matrix) if a == "M" else a for a in args], "--model", "qt")
    assert res.exit_code == status and message in res.output, res.output


def test_a_matrix_of_the_wrong_size_is_refused(tmp_path: Path) -> None:
    bad = tmp_path / "tm.txt"
    np.savetxt(bad, np.ones((3, 3)))
    res = _run(str(ABILENE), "--matrix", str(bad), "--model", "qt")
    assert res.exit_code == 1 and "a 3 x 3 matrix for a network of 12 devices" in res.output


def test_the_html_report_maps_the_change_and_lists_the_demands_and_links(matrix: Path, tmp_path: Path) -> None:
    page = tmp_path / "impact.html"
    res = _run(str(ABILENE), "--matrix", str(matrix), "--fail", "CHINng<->IPLSng", "--model", "qt", "--report",
               str(page), "--no-progress")
    assert res.exit_code == 0, res.output
    text = page.read_text()
    assert text.startswith("<!doctype html>") and "<h1>What if: fail CHINng&lt;-&gt;IPLSng</h1>" in text
    assert text.count("<circle") == 12  # one per device, at its coordinates
    down = [ln for ln in text.split("<line") if "CHINng – IPLSng" in ln or "IPLSng – CHINng" in ln]
    assert down and all("stroke-dasharray" in ln for ln in down if "(down)" in ln)
    assert "CHINng → IPLSng" in text and "Busiest links after" in text
    assert "src=" not in text and "href=" not in text  # self-contained: nothing to fetch


def test_a_report_in_a_missing_folder_is_refused_before_any_work(matrix: Path, tmp_path: Path) -> None:
    res = _run(str(ABILENE), "--matrix", str(matrix), "--model", "qt", "--report", str(tmp_path / "no" / "r.html"))
    assert res.exit_code == 2 and "does not exist" in res.output


def test_each_cable_ranks_every_single_failure_worst_first(matrix: Path) -> None:
    res = _run(str(ABILENE), "--matrix", str(matrix), "--each", "cable", "--capacity", "CHINng<->IPLSng=2.5G",
               "--model", "qt", "--json", "-")
    assert res.exit_code == 0, res.output
    doc = json.loads(res.stdout)
    assert doc["each"] == "cable" and doc["changes"] == ["capacity CHINng<->IPLSng=2.5G"]
    rows = doc["variants"]
    assert len(rows) == 15 and len({r["failure"] for r in rows}) == 15  # Abilene's 15 cables, once each
    # ATLAM5 hangs off ATLAng alone: that cable down cuts its traffic off, the worst single failure
    assert rows[0]["failure"] == "fail ATLAM5<->ATLAng" and rows[0]["transit_traffic_without_route_after_bps"] > 0
    assert all(r["transit_traffic_without_route_after_bps"] == 0 for r in rows[1:])
    peaks = [r["peak_utilization_after"] for r in rows[1:]]
    news = [len(r["links_newly_over_max_utilization"]) for r in rows[1:]]
    assert all((a, b) >= (c, d) for (a, b), (c, d) in itertools.pairwise(zip(news, peaks, strict=True)))
    assert all(r["worst_delay_growth"] is None
               or r["worst_delay_growth"]["delay_after_s"] > r["worst_delay_growth"]["delay_before_s"] for r in rows)
    assert sum(r["worst_delay_growth"] is not None for r in rows) >= 10  # most cables move some demand


def test_each_router_counts_only_transit_traffic_as_cut_off(matrix: Path) -> None:
    res = _run(str(ABILENE), "--matrix", str(matrix), "--each", "router", "--model", "qt", "--top", "3")
    assert res.exit_code == 0, res.output
    assert "12 single router failures" in res.output
    first = res.output.split("┡")[1].splitlines()[1]
    assert first.split("│")[1].strip() == "ATLAng"  # the only router whose loss cuts other routers apart


def test_each_has_no_html_report(matrix: Path, tmp_path: Path) -> None:
    res = _run(str(ABILENE), "--matrix", str(matrix), "--each", "cable", "--report", str(tmp_path / "r.html"))
    assert res.exit_code == 2 and "with --each, write --json" in res.output


def test_the_service_configuration_gives_the_twin_and_the_window(run: Path, tmp_path: Path) -> None:
    cfg = tmp_path / "twinwatch.yaml"
    cfg.write_text(f'networks: ["{run / "network.yaml"}"]\ntwin: {{model: qt}}\nwindow: {{seconds: 20}}\n')
    res = _run(str(run / "network.yaml"), *_captures(run), "--config", str(cfg), "--fail", "CHINng<->IPLSng",
               "--json", "-", "--no-progress")
    assert res.exit_code == 0, res.output
    doc = json.loads(res.stdout)
    assert doc["model"] == "qt" and doc["baseline"]["window_end"] - doc["baseline"]["window_start"] == 20.0
    res = _run(str(run / "network.yaml"), *_captures(run), "--config", str(cfg), "--window", "30", "--model", "gnn",
               "--json", "-", "--no-progress")
    doc = json.loads(res.stdout)
    assert doc["model"] == "gnn" and doc["baseline"]["window_end"] - doc["baseline"]["window_start"] == 30.0
    cfg.write_text("window: {seconds: -1}\n")
    res = _run(str(run / "network.yaml"), *_captures(run), "--config", str(cfg))
    assert res.exit_code == 1 and "window.seconds" in res.output


def test_empty_captures_are_named_not_mistaken_for_a_network_without_traffic(run: Path, tmp_path: Path) -> None:
    empty = tmp_path / "twinwatch.raw.gnmic.jsonl"
    empty.write_bytes(b"")
    res = _run(str(run / "network.yaml"), "--capture", str(empty), "--model", "qt")
    assert res.exit_code == 1 and f"{empty}: empty capture(s) (no message): no baseline traffic" in res.output
    res = _run(str(run / "network.yaml"), *_captures(run), "--capture", str(empty), "--model", "qt", "--no-progress")
    assert res.exit_code == 0 and f"warning: {empty}: empty capture (no message); nothing read from it" in res.output


def test_an_invalid_network_file_is_named_once(matrix: Path, tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("version: 1\nname: x\ndevices: []\n")
    res = _run(str(bad), "--matrix", str(matrix))
    assert res.exit_code == 1 and "links: missing (required)" in res.output
    assert res.output.count(str(bad)) == 1


def test_a_capture_the_adapters_refuse_is_counted_before_the_error(tmp_path: Path) -> None:
    junk = tmp_path / "twinwatch.raw.gnmic.jsonl"
    junk.write_text("garbage{{{\nnot json either\n")
    res = _run(str(ABILENE), "--capture", str(junk), "--model", "qt")
    assert res.exit_code == 1
    assert "warning: 2 of 2 message(s) were refused by the adapters" in res.output
    assert "the telemetry gives no window with traffic" in res.output
