"""``twinwatch network validate | import | show``: exit codes and messages."""

from __future__ import annotations

import re
from pathlib import Path

import yaml
from click.testing import CliRunner

from tests.conftest import REPO_ROOT
from tests.unit.twin.netmodel._docs import lab_doc
from twinwatch.stream.cli import cli
from twinwatch.twin.data import bundled_scenario_path
from twinwatch.twin.netmodel import load_network_model

NETBOX = REPO_ROOT / "tests" / "fixtures" / "netbox" / "backbone"


def _run(*args: str):
    return CliRunner().invoke(cli, ["network", *args], env={"COLUMNS": "160"})


def _write(tmp_path: Path, name: str, doc: dict) -> str:
    p = tmp_path / name
    p.write_text(yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")
    return str(p)


def test_validate_exit_codes(tmp_path: Path) -> None:
    good = _write(tmp_path, "good.yaml", lab_doc())
    doc = lab_doc()
    doc["links"][1]["a"]["device"] = "r9"
    doc["probes"][0]["dst"] = "r7"
    bad = _write(tmp_path, "bad.yaml", doc)
    res = _run("validate", good, "nsfnet")
    assert res.exit_code == 0 and "good.yaml: valid (3 devices, 6 directed links, 1 probes)" in res.output
    res = _run("validate", bad)
    assert res.exit_code == 1
    assert "bad.yaml: probes[0].dst: unknown device 'r7'" in res.output
    assert "bad.yaml: links[1].a.device: unknown device 'r9'" in res.output
    assert "Traceback" not in res.output
    res = _run("validate", good, bad)
    assert res.exit_code == 3
    assert _run("validate").exit_code == 2  # no FILE: usage error


def test_validate_prints_warnings(tmp_path: Path) -> None:
    doc = lab_doc()
    doc["devices"].append({"name": "lonely"})
    res = _run("validate", _write(tmp_path, "w.yaml", doc))
    assert res.exit_code == 0 and "warning:" in res.output and "'lonely'" in res.output


def test_import_graphml_scenario_netbox(tmp_path: Path) -> None:
    out = tmp_path / "nsf.yaml"
    res = _run("import", "--from", "scenario", str(bundled_scenario_path()), "--out", str(out), "--vendor", "arista")
    assert res.exit_code == 0, res.output
    m = load_network_model(out)
    assert (m.n_nodes, m.n_links) == (14, 42) and m.devices[0].vendor == "arista"
    res = _run("import", "--from", "netbox", str(NETBOX / "devices.json"), str(NETBOX / "interfaces.json"),
               str(NETBOX / "cables.json"), "--out", "-", "--name", "backbone")
    assert res.exit_code == 0 and "name: backbone" in res.output
    assert "HundredGigE0/0/0/0" in res.output
    graphml = tmp_path / "two.graphml"
    graphml.write_text(
        '<graphml xmlns="http://graphml.graphdrawing.org/xmlns"><key id="l" for="node" attr.name="label" '
        'attr.type="string"/><graph edgedefault="undirected"><node id="0"><data key="l">A</data></node>'
        '<node id="1"><data key="l">B</data></node><edge source="0" target="1"/></graph></graphml>')
    res = _run("import", "--from", "graphml", str(graphml), "--out", str(tmp_path / "two.yaml"), "--vendor", "cisco",
               "--metric", "hops")
    assert res.exit_code == 0, res.output
    two = load_network_model(tmp_path / "two.yaml")
    assert two.link_src_interface == ["TenGigE0/0/0/0", "TenGigE0/0/0/0"] and two.link_metric.tolist() == [1, 1]


def test_show_names_the_links_no_probe_crosses(tmp_path: Path) -> None:
    """The lab triangle's one probe r1 -> r3: the links it does not cross are listed as measured by no probe."""
    from twinwatch.twin.netmodel import load_network

    path = _write(tmp_path, "lab.yaml", lab_doc())
    m = load_network(path)
    res = _run("show", path)
    assert res.exit_code == 0, res.output
    out = " ".join(res.output.split())
    assert f"of {m.n_links} directed links crossed by a probe" in out
    assert "measured by no probe" in out


def test_import_errors(tmp_path: Path) -> None:
    res = _run("import", "--from", "graphml", str(tmp_path / "none.graphml"), "--out", "x.yaml")
    assert res.exit_code == 2 and "does not exist" in res.output
    res = _run("import", "--from", "graphml", "a", "b", "--out", "x.yaml")
    assert res.exit_code == 2
    broken = tmp_path / "broken.graphml"
    broken.write_text("<graphml><not closed")
    res = _run("import", "--from", "graphml", str(broken), "--out", str(tmp_path / "x.yaml"))
    assert res.exit_code == 1 and "broken.graphml: cannot read GraphML" in res.output
    assert "Traceback" not in res.output and not (tmp_path / "x.yaml").exists()
    res = _run("import", "--from", "netbox", str(NETBOX / "devices.json"), "--out", "-")
    assert res.exit_code == 1 and "no interfaces in the export" in res.output


def test_show(tmp_path: Path) -> None:
    res = _run("show", "abilene")
    assert res.exit_code == 0, res.output
    for text in ("abilene: 12 devices, 30 directed links", "ATLAM5", "ATLAM5->ATLAng", "xe-0/0/1", "probes"):
        assert text in res.output, text
    # the shipped probes (planned) cross all 30 directed links; its first 8 (the most distant pairs) 17
    assert "probe coverage: 30 of 30 directed links crossed by a probe (all links up)" in " ".join(res.output.split())
    from twinwatch.twin.netmodel import document, load_network

    few = document(load_network("abilene"))
    few["probes"] = few["probes"][:8]
    res = _run("show", _write(tmp_path, "few.yaml", few), "--no-links")
    flat = " ".join(res.output.split())
    assert "probe coverage: 17 of 30 directed links crossed by a probe" in flat and "measured by no probe" in flat
    doc = lab_doc()
    doc["devices"][0]["name"] = "r 1"
    res = _run("show", _write(tmp_path, "bad.yaml", doc))
    assert res.exit_code == 1 and "devices[0].name" in res.output


def test_plan_probes_writes_a_valid_model_and_a_report_that_adds_up(tmp_path: Path) -> None:
    import json

    before = tmp_path / "before.yaml"
    doc = lab_doc()
    before.write_text(yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")
    out, rep = tmp_path / "after.yaml", tmp_path / "plan.json"
    res = _run("plan-probes", str(before), "--out", str(out), "--json", str(rep))
    assert res.exit_code == 0, res.output
    m = load_network_model(out)
    r = json.loads(rep.read_text())
    assert r["probes_after"] == m.n_probes == r["probes_kept"] + r["probes_added"]
    assert r["probes_added"] == r["added_to_cover"] + r["added_to_separate"]
    assert r["links_covered"] == m.n_links == 6 and r["uncoverable_links"] == []
    assert f"{m.n_probes} probes" in res.output
    reach = r["grey_loss_detectable"]  # the smallest silent loss the plan's probes find, 1 to 18 windows
    assert reach["windows"] == [1, 3, 6, 18] and reach["probe_rate_pps"] == 10.0
    assert reach["loss_ratio"] == sorted(reach["loss_ratio"], reverse=True) and 0 < reach["loss_ratio"][-1] < 0.02
    assert "a silent loss is found within 1 / 3 / 6 / 18 windows of 10 s" in res.output
    assert reach["links_pooled"] == 0  # one probe per link: nothing to pool, nothing said of it
    assert "pooled" not in res.output
    # Abilene's shipped probes cross 22 of its 30 links two or more at a time: the detector pools their packets per
    # link, so a smaller loss is found as soon
    ab = " ".join(_run("show", "abilene", "--no-links").output.split())
    assert "on the median of the 22 links crossed by two or more probes, pooled (30 packets/s), from" in ab
    one, pooled = (re.search(r"from ([\d.]+) / ([\d.]+) / ([\d.]+) / ([\d.]+) %", part).groups()
                   for part in ab.split("pooled (")[:2])
    assert all(float(q) < float(p) for q, p in zip(pooled, one, strict=True))
    shown = _run("show", str(out), "--no-links")
    assert "probe coverage: 6 of 6 directed links crossed by a probe" in shown.output
    assert "a silent loss is found within 1 / 3 / 6 / 18 windows" in " ".join(shown.output.split())
    # the input is never the output; an unknown role names the roles there are
    assert _run("plan-probes", str(before), "--out", str(before)).exit_code == 2
    res = _run("plan-probes", str(before), "--role", "nope", "--out", str(tmp_path / "x.yaml"))
    assert res.exit_code == 1 and "no device has role 'nope'" in res.output and "Traceback" not in res.output
    assert not (tmp_path / "x.yaml").exists()


def test_plan_probes_find_loss_gives_new_probes_the_rate_that_finds_it(tmp_path: Path) -> None:
    import json

    from twinwatch.detectors.probe_loss import detectable_loss

    before = tmp_path / "before.yaml"
    before.write_text(yaml.safe_dump(lab_doc(), sort_keys=False), encoding="utf-8")
    out, rep = tmp_path / "after.yaml", tmp_path / "plan.json"
    res = _run("plan-probes", str(before), "--replace", "--find-loss", "0.005", "--within", "6", "--out", str(out),
               "--json", str(rep))
    assert res.exit_code == 0, res.output
    m, r = load_network_model(out), json.loads(rep.read_text())
    rate = r["find_loss"]["rate_pps"]
    assert {p.rate_pps for p in m.probes} == {rate} and r["grey_loss_detectable"]["probe_rate_pps"] == rate
    assert detectable_loss(rate * 10.0, 6, m.n_probes, 0.01) <= 0.005 < detectable_loss((rate - 1) * 10.0, 6,
                                                                                       m.n_probes, 0.01)
    assert f"new probes at {rate} packets/s to find a 0.5 % silent loss within 6 windows" in res.output
    both = _run("plan-probes", str(before), "--find-loss", "0.01", "--rate-pps", "5", "--out", str(tmp_path / "x.yaml"))
    assert both.exit_code == 2 and "--rate-pps or --find-loss, not both" in both.output
