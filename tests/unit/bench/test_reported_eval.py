"""bench/reported_eval.py: stripping the reported fields gives the telemetry of the same run without them, byte for
byte; the link_state alerts are matched to their faults."""

from __future__ import annotations

import json
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[3] / "bench"
sys.path.insert(0, str(BENCH))

import reported_eval  # noqa: E402

from twinwatch.twin.netmodel import load_network  # noqa: E402
from twinwatch.twin.testbed.faults import Fault  # noqa: E402
from twinwatch.twin.testbed.run import TestbedConfig, run_testbed  # noqa: E402


def test_a_run_with_the_ports_speed_stripped_is_the_run_without_it(tmp_path: Path) -> None:
    plan = [Fault(kind="capacity_degradation", start_s=60.0, end_s=120.0, entities=("LOSAng->SNVAng",),
                  magnitude=0.5)]
    runs = {}
    for report in (True, False):
        out = tmp_path / f"r{report}"
        cfg = TestbedConfig(duration_s=180.0, window_s=10.0, seed=11, report_speed=report, counter32_devices=1,
                            packets_per_window=2000)
        run_testbed(load_network("abilene"), plan, out, cfg)
        runs[report] = out
    # every line but the ones corrupted on purpose (numbered from 1; reversed, cut: stripping cannot find the
    # field; they are dead letters either way) is the same
    malformed = {(r["topic"], r["line"]) for r in map(json.loads, (runs[True] / "malformed.jsonl").read_text().split())}
    assert malformed == {(r["topic"], r["line"])
                         for r in map(json.loads, (runs[False] / "malformed.jsonl").read_text().split())}
    for topic in ("twinwatch.raw.gnmic", "twinwatch.raw.influx", "twinwatch.raw.probe", "twinwatch.raw.goflow2"):
        with_speed = (runs[True] / "topics" / f"{topic}.jsonl").read_bytes().split(b"\n")
        without = (runs[False] / "topics" / f"{topic}.jsonl").read_bytes().split(b"\n")
        assert len(with_speed) == len(without), topic
        differ = {i for i, (a, b) in enumerate(zip(with_speed, without, strict=True), start=1)
                  if reported_eval.strip_speed(a) != b}
        assert differ <= {line for t, line in malformed if t == topic}, topic
    gnmic = (runs[True] / "topics" / "twinwatch.raw.gnmic.jsonl").read_bytes()
    # the degraded cable's ports report half their 10 Gb/s in the fault's windows, all of it before
    assert b'"/interfaces/interface/aggregation/state/lag-speed":5000' in gnmic
    assert b'"/interfaces/interface/aggregation/state/lag-speed":10000' in gnmic
    influx = (runs[True] / "topics" / "twinwatch.raw.influx.jsonl").read_bytes()
    assert b",ifHighSpeed=" in influx


def test_speed_alerts_are_matched_to_the_capacity_losses_by_cable_and_time(tmp_path: Path) -> None:
    (tmp_path / "manifest.json").write_text(json.dumps({"config": {"window_s": 10.0}}))
    labels = [{"id": "f1", "kind": "capacity_degradation", "start": 100.0, "end": 400.0, "entities": ["a->b"],
               "magnitude": 0.875, "entity_kind": "link", "benign": False},
              {"id": "f2", "kind": "capacity_degradation", "start": 700.0, "end": 1000.0, "entities": ["c->d"],
               "magnitude": 0.75, "entity_kind": "link", "benign": False}]
    (tmp_path / "labels.jsonl").write_text("".join(json.dumps(lb) + "\n" for lb in labels))

    def alert(i: str, link: str, start: float) -> dict[str, object]:
        return {"id": i, "status": "firing", "kind": "link_state", "severity": "info", "network": "n",
                "entity_kind": "link", "entity_id": link, "kpi": "speed_bps", "start": start}

    alerts = [alert("x1", "b->a", 110.0), alert("x2", "a->b", 110.0),  # f1, both directions, one window late
              alert("x3", "c->d", 2000.0)]  # no fault there then: outside
    (tmp_path / "alerts.jsonl").write_text("".join(json.dumps(a) + "\n" for a in alerts))
    got = reported_eval.speed_alerts_by_magnitude(tmp_path, tmp_path / "alerts.jsonl")
    assert got["per_magnitude"] == {"0.875": {"faults": 1, "named": 1, "delays_windows": [1.0]},
                                    "0.75": {"faults": 1, "named": 0, "delays_windows": []}}
    assert got["speed_alerts_outside_faults"] == 1


def test_a_run_with_the_igp_metrics_stripped_is_the_run_without_them_byte_for_byte(tmp_path: Path) -> None:
    plan = [Fault(kind="metric_change", start_s=70.0, end_s=110.0, entities=("LOSAng->SNVAng",), magnitude=10.0)]
    runs = {}
    for report in (True, False):
        out = tmp_path / f"r{report}"
        cfg = TestbedConfig(duration_s=180.0, window_s=10.0, seed=11, report_igp_metric=report,
                            packets_per_window=2000, igp_heartbeat_s=60.0)
        run_testbed(load_network("abilene"), plan, out, cfg)
        runs[report] = out
    for topic in ("twinwatch.raw.gnmic", "twinwatch.raw.influx", "twinwatch.raw.probe", "twinwatch.raw.goflow2"):
        with_igp = (runs[True] / "topics" / f"{topic}.jsonl").read_bytes()
        assert reported_eval.strip_igp_metric(with_igp) == (runs[False] / "topics" / f"{topic}.jsonl").read_bytes()
    assert (runs[True] / "malformed.jsonl").read_bytes() != b""  # corruption drawn as without the option
    events = [json.loads(x) for x in (runs[True] / "topics" / "twinwatch.raw.gnmic.jsonl").read_bytes().split(b"\n")
              if x.startswith(b'{"name":"isis"')]
    model = load_network("abilene")
    port = {(model.node_names[int(s)], str(i)): lid for lid, s, i in
            zip(model.link_ids, model.link_src, model.link_src_interface, strict=True)}
    t0 = json.loads((runs[True] / "manifest.json").read_text())["start_epoch_s"]
    seen: dict[str, list[tuple[float, int]]] = {}
    for ev in events:
        lid = port[(ev["tags"]["source"].rsplit(":", 1)[0], ev["tags"]["interface_interface-id"])]
        (value,) = ev["values"].values()
        seen.setdefault(lid, []).append((round(ev["timestamp"] / 1e9 - t0), value))
    metric = dict(zip(model.link_ids, model.link_metric.tolist(), strict=True))
    # every link (of the gnmic routers) at the start and each minute (the heartbeat), the changed one on change
    assert all(times[0] == (0, metric[lid]) for lid, times in seen.items())
    m = metric["LOSAng->SNVAng"]
    assert seen["LOSAng->SNVAng"] == [(0, m), (60, m), (70, 10 * m), (110, m), (120, m)]
    quiet = [lid for lid in seen if lid != "LOSAng->SNVAng"]
    assert quiet and all(sorted({t for t, _ in seen[lid]}) == [0, 60, 120] for lid in quiet)
