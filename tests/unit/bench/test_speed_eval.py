"""bench/speed_eval.py: stripping the speed fields gives the telemetry of the same run without them, byte for byte."""

from __future__ import annotations

import json
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[3] / "bench"
sys.path.insert(0, str(BENCH))

import speed_eval  # noqa: E402

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
                  if speed_eval.strip_speed(a) != b}
        assert differ <= {line for t, line in malformed if t == topic}, topic
    gnmic = (runs[True] / "topics" / "twinwatch.raw.gnmic.jsonl").read_bytes()
    # the degraded cable's ports report half their 10 Gb/s in the fault's windows, all of it before
    assert b'"/interfaces/interface/aggregation/state/lag-speed":5000' in gnmic
    assert b'"/interfaces/interface/aggregation/state/lag-speed":10000' in gnmic
    influx = (runs[True] / "topics" / "twinwatch.raw.influx.jsonl").read_bytes()
    assert b",ifHighSpeed=" in influx
