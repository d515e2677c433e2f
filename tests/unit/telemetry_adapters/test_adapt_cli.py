"""``twinwatch adapt``: JSON lines on stdout, a rejection summary on stderr."""

from __future__ import annotations

from pathlib import Path

import orjson
from click.testing import CliRunner

from twinwatch.stream.cli import cli

from ._golden import FIXTURES

GNMIC = FIXTURES / "gnmic" / "openconfig_array_last_clear" / "input.jsonl"


#: these fixtures hold deliberately bad records: partial success is exit status 3 (issue 14)
PARTIAL = 3


def _run(*args: str, stdin: bytes | None = None) -> tuple[int, list[dict[str, object]], str]:
    runner = CliRunner()
    res = runner.invoke(cli, ["adapt", *args], input=stdin, catch_exceptions=False)
    lines = [orjson.loads(x) for x in res.stdout.splitlines() if x.startswith("{")]
    return res.exit_code, lines, res.stderr


def test_normalised_rates_from_file() -> None:
    code, rows, err = _run("--format", "gnmic", "--network", "lab", str(GNMIC))
    assert code == PARTIAL
    got = {(r["entity_id"], r["kpi"]): r["value"] for r in rows}
    # in-octets 18446744073709551000 -> 18446744073709551615 in 10 s: 615 B * 8 / 10 s
    assert got[("leaf1:Ethernet1", "rx_bps")] == 492.0
    assert got[("leaf1:Ethernet1", "tx_bps")] == 800.0
    assert all(r["network"] == "lab" for r in rows)
    assert "unknown_path" in err and "messages 4" in err


def test_samples_from_stdin() -> None:
    data = GNMIC.read_bytes()
    code, rows, _ = _run("--format", "gnmic", "--samples", "-", stdin=data)
    assert code == PARTIAL and len(rows) == 16  # 13 counters + the 3 events' oper-status (link state, issue 9)
    assert sum(r["field"] == "oper_status" for r in rows) == 3
    assert rows[0]["field"] == "rx_octets" and rows[0]["value_u64"] == 18446744073709551000


def test_whole_file_json_and_rejections_listed() -> None:
    p = FIXTURES / "gnmic" / "bad_values" / "input.jsonl"
    code, rows, err = _run("--format", "gnmic", "--samples", "--show-rejections", "10", str(p))
    assert code == PARTIAL and len(rows) == 1
    for reason in ("negative_counter", "malformed_json", "missing_field", "wrong_type", "empty"):
        assert reason in err


def test_flows_and_probe_formats() -> None:
    p = FIXTURES / "goflow2" / "readme_and_v1" / "input.jsonl"
    code, rows, _ = _run("--format", "goflow2", str(p))
    assert code == PARTIAL and [r["bytes"] for r in rows][:1] == [150000.0]
    p = FIXTURES / "probe" / "twinwatch_json" / "input.jsonl"
    code, rows, _ = _run("--format", "probe", str(p))
    assert code == PARTIAL and {r["entity_kind"] for r in rows} == {"path"}


def test_unknown_format(tmp_path: Path) -> None:
    f = tmp_path / "x.json"
    f.write_text("{}")
    runner = CliRunner()
    res = runner.invoke(cli, ["adapt", "--format", "nope", str(f)])
    assert res.exit_code == 2 and "known formats" in res.output + res.stderr


def test_inventory_maps_links_and_flows(tmp_path: Path) -> None:
    inv = tmp_path / "inv.json"
    inv.write_text(orjson.dumps({
        "links": [{"id": "leaf1->spine1", "src": "leaf1", "dst": "spine1", "capacity_bps": 1e4,
                   "src_interface": "Ethernet1", "dst_interface": "Ethernet9"}],
        "prefixes": {"10.1.0.0/16": "leaf1", "10.2.0.0/16": "spine1"},
    }).decode())  # fmt: skip
    code, rows, err = _run("--format", "gnmic", "--inventory", str(inv), str(GNMIC))
    assert code == PARTIAL
    got = {(r["entity_kind"], r["entity_id"], r["kpi"]): r["value"] for r in rows}
    assert got[("link", "leaf1->spine1", "tx_bps")] == 800.0
    assert got[("link", "leaf1->spine1", "utilization")] == 0.08
    p = FIXTURES / "goflow2" / "readme_and_v1" / "input.jsonl"
    code, rows, err = _run("--format", "goflow2", "--inventory", str(inv), str(p))
    assert code == PARTIAL
    flow = next(r for r in rows if r["src_addr"] == "10.1.0.1")
    assert (flow["src_node"], flow["dst_node"]) == ("leaf1", "spine1")
    assert "unmapped_entity" in err  # fd01::1, 10.0.0.x: reported, not dropped
