"""A device whose clock runs ahead of the others on its source.

Before: it carried the source's event time, and so the watermark, past every other device's rows, which all
arrived late (dropped, counted). Now the source's progress is what its device clocks agree on
(:class:`twinwatch.stream.clocks.SourceClocks`): the device is held back, named in a log line and counted in
``twinwatch_device_clocks_ahead``; ``window.max_clock_ahead_s`` still refuses it beyond the limit.

Live-like telemetry: a testbed run's gnmic messages (Abilene, gnmic alone: one source) re-timed to end now, one
router's clock 4 minutes ahead.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pytest
from prometheus_client import CollectorRegistry

from twinwatch.stream.clocks import SourceClocks
from twinwatch.stream.metrics import ServiceMetrics
from twinwatch.stream.pipeline import Pipeline, WindowBuffer

pytestmark = pytest.mark.slow

_BASE: dict[str, int] = {}
WINDOW_NS = 10_000_000_000
AHEAD_S = 240.0  # every one of its samples, the first too (the capture spans 120 s), is 2-4 min ahead
YEAR_S = 365 * 86400.0


@pytest.fixture(scope="module")
def gnmic(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[dict[str, Any]]]:
    """Two minutes of Abilene's gnmic messages (decoded JSON, the testbed's malformed ones left out)."""
    from twinwatch.twin.netmodel import load_network
    from twinwatch.twin.testbed.run import TestbedConfig, run_testbed

    out = tmp_path_factory.mktemp("clock")
    run_testbed(load_network("abilene"), [], out, TestbedConfig(duration_s=120.0, window_s=10.0, seed=2,
                                                                malformed_fraction=0.0))
    msgs = []
    for line in (out / "topics" / "twinwatch.raw.gnmic.jsonl").read_bytes().splitlines():
        try:
            msgs.append(orjson.loads(line))
        except orjson.JSONDecodeError:
            continue
    return out, msgs


def _run(run: Path, msgs: list[dict[str, Any]], limit: float | None, shifts: dict[str, float],
         now: bool = True) -> tuple[Pipeline, list[Any], list[Any], ServiceMetrics]:
    """The messages (re-timed by a whole number of windows so the last is 1–11 s old when ``now``), each device's
    clock shifted by ``shifts`` (seconds), through a pipeline in arrival order, then flushed: the pipeline, its dead
    letters and windows."""
    from twinwatch.twin.netmodel import load_network

    last = max(m["timestamp"] for m in msgs)
    # one shift for every run of the module, a whole number of windows: the runs compared share their windows
    # (a shift taken per run moved the samples against the window edges by the seconds between two runs)
    base = _BASE.setdefault("ns", (time.time_ns() - 1_000_000_000 - last) // WINDOW_NS * WINDOW_NS) if now else 0
    lines = [orjson.dumps(dict(m, timestamp=m["timestamp"] + base + int(shifts.get(m["tags"]["source"], 0.0) * 1e9)))
             for m in msgs]
    metrics = ServiceMetrics(CollectorRegistry())
    pipe = Pipeline([load_network(str(run / "network.yaml"))], None, window_s=10.0, lateness_s=5.0, max_age_s=None,
                    max_future_skew_s=limit, sources=["gnmic"], idle_s=float("inf"), metrics=metrics)
    dead, windows = [], []
    for i in range(0, len(lines), 50):  # in arrival order, as a partition delivers them
        out = pipe.process(lines[i:i + 50], "gnmic")
        dead += out.dead_letters
        windows += out.windows
    windows += pipe.flush().windows
    return pipe, dead, windows, metrics


def _batch(rows: list[tuple[str, float]]) -> Any:
    """A sample batch of one counter sample per ``(device, time in s)``."""
    from twinwatch.telemetry_adapters.schema import Kind, SampleBatchBuilder

    b = SampleBatchBuilder()
    for dev, t in rows:
        b.add(dev, "Ethernet1", "rx_octets", int(t * 1e9), 1, 1.0, Kind.COUNTER64, 0, False, "x", "lab")
    return b.build()


def _rows(pipe: Pipeline) -> int:
    return int(pipe.metrics.registry.get_sample_value("twinwatch_measurements_total",  # type: ignore[union-attr]
                                                      {"network": "abilene"}) or 0)


def test_a_device_clock_ahead_no_longer_makes_the_others_late(gnmic: tuple[Path, list[dict[str, Any]]],
                                                              caplog: pytest.LogCaptureFixture) -> None:
    run, msgs = gnmic
    ahead = msgs[0]["tags"]["source"]
    clean, _, clean_windows, _ = _run(run, msgs, 300.0, {})
    assert clean.late_rows["abilene"] == 0
    with caplog.at_level(logging.INFO, logger="twinwatch.stream"):
        pipe, dead, windows, metrics = _run(run, msgs, 300.0, {ahead: AHEAD_S})
    # within the limit nothing is refused, and no other device's row is late (before: 6,976 of them)
    assert dead == [] and pipe.late_rows["abilene"] == 0
    # the device is named, with its lead, once; the gauge counted it while it was held
    device = ahead.split(":")[0]  # gnmic's source tag is device:port
    warned = [r for r in caplog.records if r.levelno == logging.WARNING and getattr(r, "device", "") == device]
    assert len(warned) == 1 and 100 < warned[0].ahead_s <= AHEAD_S + 10, warned  # type: ignore[attr-defined]
    assert metrics.registry.get_sample_value("twinwatch_device_clocks_ahead", {"network": "abilene"}) == 1
    # once it is named (the source has moved two windows on), its samples are re-stamped to the others' time:
    # from then on every window holds what the clean run's does (before session 43 its rows all closed in the
    # windows its clock stamped them with, 240 s later: 25 windows, none of the first 13 complete). Its rows
    # from before that wait in the windows its clock named, and no empty window is reported between the two
    clean_rows = [(w.start, w.rows) for w in clean_windows]
    assert [(w.start, w.rows) for w in windows if w.start <= clean_windows[-1].start][-7:] == clean_rows[-7:]
    assert all(w.rows > 0 for w in windows) and sum(w.rows for w in windows) == _rows(pipe)
    # each of its counters starts again when its samples are first re-stamped (the interval across the re-stamping
    # holds the offset, not traffic): one rate each is all that is lost, and nothing is rejected
    counters = len({(m["tags"]["interface_name"], k) for m in msgs if m["tags"]["source"] == ahead
                    for k in m["values"] if k.startswith("/interfaces/interface/state/counters/")})
    assert not any(s.value for m in metrics.registry.collect() if m.name == "twinwatch_messages_rejected"
                   for s in m.samples if s.name.endswith("_total"))
    assert _rows(clean) - counters - 8 <= _rows(pipe) < _rows(clean)


def test_devices_ahead_together_are_held_back_and_restamped_too(gnmic: tuple[Path, list[dict[str, Any]]],
                                                                caplog: pytest.LogCaptureFixture) -> None:
    """Two routers 4 minutes ahead together (one wrong NTP server sets both). Before session 44 they vouched for
    each other: they carried the source's event time, and every other router's rows came late (the capture
    replayed at `c90cfbe`: 2,618 of its 3,567 rows). Now a group fewer than the clocks just behind it, which
    move on while it leads, is held back as one device is, named and re-stamped."""
    run, msgs = gnmic
    sources = sorted({m["tags"]["source"] for m in msgs})
    pair = sources[:2]
    _, _, clean_windows, _ = _run(run, msgs, 300.0, {})
    with caplog.at_level(logging.INFO, logger="twinwatch.stream"):
        pipe, dead, windows, metrics = _run(run, msgs, 300.0, dict.fromkeys(pair, AHEAD_S))
    assert dead == [] and pipe.late_rows["abilene"] == 0
    devices = {s.split(":")[0] for s in pair}
    warned = {r.device for r in caplog.records  # type: ignore[attr-defined]
              if r.levelno == logging.WARNING and getattr(r, "ahead_s", 0) > 100}
    assert warned == devices
    assert metrics.registry.get_sample_value("twinwatch_device_clocks_ahead", {"network": "abilene"}) == 2
    assert set(pipe.devices.ahead["abilene"]) == devices
    # re-stamped once named: the last windows hold what the clean run's do
    clean_rows = [(w.start, w.rows) for w in clean_windows]
    assert [(w.start, w.rows) for w in windows if w.start <= clean_windows[-1].start][-6:] == clean_rows[-6:]


def test_a_group_is_held_only_while_it_is_the_few_and_the_others_move() -> None:
    """More clocks leading than behind: the others are behind, not they ahead. As many: held back (either may be
    wrong), not re-stamped. The pack gone silent: the group is what still reports, held about four windows. A
    pack that moves while the group leads: held, and re-stamped."""
    most = SourceClocks(tolerance_s=10.0, max_lead_s=300.0)
    even = SourceClocks(tolerance_s=10.0, max_lead_s=300.0)
    for t in (100.0, 110.0, 120.0, 130.0):
        most.observe({"a": t, "b": t, "x": t + 60.0, "y": t + 60.0, "z": t + 59.0})
        even.observe({"a": t, "b": t, "x": t + 60.0, "y": t + 60.0})
    assert most.progress == 190.0 and most.ahead() == {} and most.offset() == {}
    assert even.progress == 130.0 and even.ahead() == {"x": 60.0, "y": 60.0} and even.offset() == {}
    silent = SourceClocks(tolerance_s=10.0, max_lead_s=300.0)
    silent.observe(dict.fromkeys("abcxy", 100.0))
    progress = []
    for t in np.arange(105.0, 200.0, 5.0):  # a, b and c stop
        silent.observe({"x": t, "y": t - 1.0})
        progress.append(t - silent.progress)
    # the gap grows past two windows before x and y lead, then two more windows of theirs without a, b and c moving
    # (and one step of the loop)
    assert max(progress) <= (SourceClocks.GROUP_GAP + SourceClocks.CONFIRM) * 10.0 + 5.0 and progress[-1] == 0.0
    assert silent.ahead() == {}
    moving = SourceClocks(tolerance_s=10.0, max_lead_s=300.0)
    for t in np.arange(100.0, 200.0, 5.0):
        moving.observe({"a": t, "b": t - 2.0, "c": t - 1.0, "x": t + 60.0, "y": t + 59.0})
    assert moving.progress == 195.0 and moving.ahead() == {"x": 60.0, "y": 59.0}
    assert moving.offset() == {"x": 60.0, "y": 59.0}


def test_a_clock_set_back_rebases_its_counters(gnmic: tuple[Path, list[dict[str, Any]]],
                                              caplog: pytest.LogCaptureFixture) -> None:
    """The router runs 4 minutes ahead for the first minute, then NTP sets it back. Before: its counters dropped
    every sample as out of order until its clock caught up again (192), and the others' rows were late (2,886):
    465 of 3,567 rows used. Now its samples are re-stamped to the others' time once it is named, and each of its
    counters starts again when they first are and when NTP has set the clock right (no rate spans either change:
    the offset is right to about a sampling period only): 3,495."""
    run, msgs = gnmic
    ahead = msgs[0]["tags"]["source"]
    mid = sorted(m["timestamp"] for m in msgs)[len(msgs) // 2]
    stepped = [dict(m, timestamp=m["timestamp"] + int(AHEAD_S * 1e9))
               if m["tags"]["source"] == ahead and m["timestamp"] < mid else m for m in msgs]
    clean, _, _, _ = _run(run, msgs, 300.0, {})
    with caplog.at_level(logging.INFO, logger="twinwatch.stream"):
        pipe, dead, windows, metrics = _run(run, stepped, 300.0, {})
    assert dead == [] and pipe.late_rows["abilene"] == 0 and all(w.rows > 0 for w in windows)

    def rejected(reason: str) -> float:
        return metrics.registry.get_sample_value("twinwatch_messages_rejected_total",
                                                 {"format": "gnmic", "reason": reason}) or 0.0

    counters = sum(k.startswith("/interfaces/interface/state/counters/") for m in msgs
                   if m["tags"]["source"] == ahead for k in m["values"]) // sum(m["tags"]["source"] == ahead
                                                                                for m in msgs)
    n_interfaces = len({m["tags"]["interface_name"] for m in msgs if m["tags"]["source"] == ahead})
    # no sample is read as older than its counter's last, a clock step, a decrease or an implausible rate (before
    # session 43 a batch holding samples from both sides of the step, sorted by time alone, re-based some counters
    # twice and read 4 samples as decreases; without the re-stamping, each counter re-based once: clock_step)
    assert rejected("out_of_order") == rejected("clock_step") == 0
    assert rejected("counter_decrease") == rejected("implausible_rate") == 0
    assert _rows(clean) - 2 * counters * n_interfaces - 8 <= _rows(pipe) < _rows(clean)
    device = ahead.split(":")[0]
    said = [r.levelno for r in caplog.records if getattr(r, "device", "") == device]
    assert said == [logging.WARNING, logging.INFO]  # held back, then released
    assert metrics.registry.get_sample_value("twinwatch_device_clocks_ahead", {"network": "abilene"}) == 0


def test_beyond_the_limit_the_device_is_refused(gnmic: tuple[Path, list[dict[str, Any]]]) -> None:
    run, msgs = gnmic
    ahead = msgs[0]["tags"]["source"]
    n_ahead = sum(m["tags"]["source"] == ahead for m in msgs)
    pipe, dead, _, metrics = _run(run, msgs, 30.0, {ahead: AHEAD_S})
    assert len(dead) == n_ahead and {d.reason for d in dead} == {"ts_future"}
    assert all(orjson.loads(d.raw)["tags"]["source"] == ahead for d in dead)
    assert pipe.late_rows["abilene"] == 0
    assert metrics.registry.get_sample_value("twinwatch_device_clocks_ahead", {"network": "abilene"}) == 0


def test_a_replayed_sample_a_year_ahead_spoils_nothing(gnmic: tuple[Path, list[dict[str, Any]]]) -> None:
    """A replay (every sample in the host's past, so no limit applies): one message of one router stamped a
    year ahead. Before: every later row of the capture was late, and the flush reported 3.15 million
    windows (at most 8,640 per gap)."""
    run, msgs = gnmic
    _, _, clean_windows, _ = _run(run, msgs, None, {}, now=False)
    bad = [dict(m) for m in msgs]
    bad[len(bad) // 3] = dict(bad[len(bad) // 3], timestamp=bad[len(bad) // 3]["timestamp"] + int(YEAR_S * 1e9))
    pipe, dead, windows, metrics = _run(run, bad, None, {}, now=False)
    assert dead == [] and pipe.late_rows["abilene"] == 0
    assert [w.start for w in windows[:-1]] == [w.start for w in clean_windows]
    assert windows[-1].start > clean_windows[-1].start + YEAR_S / 2
    # each of its counters re-bases twice (clock_step): at the jump ahead and when the clock comes back, so no rate
    # measured across a year lands anywhere (before session 43 the message's octet rates over the jump did)
    counters = sum(k.startswith("/interfaces/interface/state/counters/") for k in bad[len(bad) // 3]["values"])
    assert metrics.registry.get_sample_value("twinwatch_messages_rejected_total",
                                             {"format": "gnmic", "reason": "clock_step"}) == 2 * counters


def test_devices_with_made_up_names_move_nothing(gnmic: tuple[Path, list[dict[str, Any]]]) -> None:
    """Two devices no inventory knows, both a year ahead (they would vouch for each other): their samples are
    refused as unmapped and their clocks are not followed."""
    run, msgs = gnmic
    _, _, clean_windows, _ = _run(run, msgs, None, {}, now=False)
    fake = [dict(m, tags=dict(m["tags"], source=f"intruder{i}")) for i, m in enumerate(msgs[:2])]
    pipe, _, windows, _ = _run(run, fake + msgs, None, {"intruder0": YEAR_S, "intruder1": YEAR_S}, now=False)
    assert pipe.late_rows["abilene"] == 0
    # their interfaces' status rows (kept as unmapped interfaces) close last, in the one window they stamped
    assert [w.start for w in windows[:-1]] == [w.start for w in clean_windows]
    assert windows[-1].start > clean_windows[-1].start + YEAR_S / 2 and windows[-1].rows == 2


def test_the_only_device_still_reporting_closes_windows_at_most_max_lead_late() -> None:
    """Every other device of the source falls silent: by event times alone that looks like one clock running
    ahead, so its windows close, but at most ``max_clock_lead_s`` and a window after their end (not never)."""
    wb = WindowBuffer(10.0, 2.0, idle_s=float("inf"), max_clock_lead_s=60.0)
    for t in np.arange(0.0, 100.0, 5.0):
        wb.add({"ts": np.array([t, t])}, source="s")
        wb.observe_clocks("s", {"r1": t, "r2": t})
        wb.close_ready()
    closed_at = {}
    for t in np.arange(100.0, 400.0, 5.0):  # r2 is gone
        wb.add({"ts": np.array([t])}, source="s")
        wb.observe_clocks("s", {"r1": t})
        for start, _, _ in wb.close_ready():
            closed_at[start] = t
    assert wb.late_rows == 0
    # lead + tolerance (a window) + lateness + one step of the loop
    assert closed_at and all(at - (start + 10.0) <= 60.0 + 10.0 + 2.0 + 5.0 for start, at in closed_at.items())
    assert max(closed_at) >= 300.0
    assert wb.clocks_ahead() == {"s": {"r1": 70.0}}  # the lead, from r1's last time within a window of r2


def test_source_clocks_forget_the_stalest_beyond_their_cap_and_round_trip() -> None:
    c = SourceClocks(tolerance_s=10.0, max_lead_s=300.0, max_clocks=3)
    c.observe({"a": 1.0, "b": 5.0, "c": 3.0, "d": float("nan")})
    c.observe({"e": 4.0})
    assert c.latest == {"b": 5.0, "c": 3.0, "e": 4.0}
    back = SourceClocks(10.0, 300.0)
    back.restore(c.to_dict().items())
    assert back.latest == c.latest and back.progress == c.progress == 5.0
    with pytest.raises(ValueError):
        SourceClocks(tolerance_s=-1.0, max_lead_s=1.0)


def test_restamp_keeps_one_offset_through_the_phase_noise_and_leaves_samples_already_on_time() -> None:
    from twinwatch.stream.clocks import DeviceClocks
    from twinwatch.telemetry_adapters.counters import CounterState

    dc = DeviceClocks(None)
    # r2's clock runs 60 s ahead: its lead is the offset; r1 is left alone
    s = _batch([("r1", 1000.0), ("r2", 1060.0), ("r2", 1070.0)])
    assert dc.restamp("p0", s, {"r2": 60.0}, 10.0) == ["r2"]  # its counters start again
    assert (np.asarray(s.ts_ns) / 1e9).tolist() == [1000.0, 1000.0, 1010.0] and dc.offsets == {"p0": {"r2": 60.0}}
    # the lead moves with the devices' sampling phases: the offset stays (its counters' intervals stay right)
    s = _batch([("r2", 1079.0)])
    assert dc.restamp("p0", s, {"r2": 69.0}, 10.0) == []
    assert (np.asarray(s.ts_ns) / 1e9).tolist() == [1019.0]
    # NTP sets it right inside a batch: the samples before, in arrival order, are moved; from the first that falls
    # back by half the offset on, they are on the others' time already
    s = _batch([("r2", 1089.0), ("r2", 1040.0), ("r2", 1050.0), ("r2", 1090.0)])
    assert dc.restamp("p0", s, {"r2": 60.0}, 10.0) == []
    assert (np.asarray(s.ts_ns) / 1e9).tolist() == [1029.0, 1040.0, 1050.0, 1090.0]
    # no longer held: the re-stamping ends, and the device is returned so that its counters start again
    assert dc.restamp("p0", _batch([("r2", 1100.0)]), {}, 10.0) == ["r2"]
    assert dc.offsets == {}
    # NTP sets it right in the batch that ends its offset: its samples before the step are still moved by it
    dc.restamp("p0", _batch([("r2", 1100.0)]), {"r2": 60.0}, 10.0)
    s = _batch([("r1", 1045.0), ("r2", 1110.0), ("r2", 1050.0), ("r2", 1060.0)])
    assert dc.restamp("p0", s, {}, 10.0) == ["r2"] and dc.offsets == {}
    assert (np.asarray(s.ts_ns) / 1e9).tolist() == [1045.0, 1050.0, 1050.0, 1060.0]
    # an offset renewed in the batch that holds a step moves the samples before it once, by the new offset
    dc.restamp("p0", _batch([("r2", 1200.0)]), {"r2": 100.0}, 10.0)
    s = _batch([("r2", 1300.0), ("r2", 1180.0)])
    assert dc.restamp("p0", s, {"r2": 40.0}, 10.0) == ["r2"] and dc.offsets == {"p0": {"r2": 40.0}}
    assert (np.asarray(s.ts_ns) / 1e9).tolist() == [1260.0, 1180.0]
    # a lead that moves by more than 3 windows (its clock stepped again while still ahead) renews the offset
    dc.restamp("p0", _batch([("r2", 1160.0)]), {"r2": 100.0}, 10.0)
    assert dc.restamp("p0", _batch([("r2", 1110.0)]), {"r2": 40.0}, 10.0) == ["r2"]
    assert dc.offsets == {"p0": {"r2": 40.0}}
    # its counters forgotten: their next sample is a first one (no rate across the change of offset)
    state = CounterState()
    state.update(_batch([("r2", 1.0), ("r1", 1.0)]))
    assert state.forget_device("r2") == 1 and state.forget_device("r9") == 0 and state.evictions == 0
    res = state.update(_batch([("r2", 11.0), ("r1", 11.0)]))
    assert res.status.tolist() == [1, 0]  # first (r2), rate (r1)


def test_replay_names_the_device_in_its_summary_and_report(gnmic: tuple[Path, list[dict[str, Any]]],
                                                          tmp_path: Path) -> None:
    from click.testing import CliRunner

    from twinwatch.stream.cli import cli

    run, msgs = gnmic
    ahead = msgs[0]["tags"]["source"]
    cap = tmp_path / "twinwatch.raw.gnmic.jsonl"
    cap.write_bytes(b"\n".join(orjson.dumps(dict(m, timestamp=m["timestamp"] + int(AHEAD_S * 1e9)))
                               if m["tags"]["source"] == ahead else orjson.dumps(m) for m in msgs))
    res = CliRunner().invoke(cli, ["replay", str(cap), "--network", str(run / "network.yaml"), "--model", "qt",
                                   "--out", str(tmp_path / "a.jsonl"), "--report", str(tmp_path / "r.html"),
                                   "--batch", "50"])  # (the 2-minute capture would be one batch of 2,000)
    assert res.exit_code == 0, res.output
    said = f"{ahead.split(':')[0]} of abilene (240 s)"
    assert "1 device clock(s) ran more than a window ahead" in res.output and said in res.output
    assert " 0 late row(s)" in res.output
    assert said in (tmp_path / "r.html").read_text()
    # a clock a minute behind instead: named too, with its lag
    cap.write_bytes(b"\n".join(orjson.dumps(dict(m, timestamp=m["timestamp"] - 60_000_000_000))
                               if m["tags"]["source"] == ahead else orjson.dumps(m) for m in msgs))
    res = CliRunner().invoke(cli, ["replay", str(cap), "--network", str(run / "network.yaml"), "--model", "qt",
                                   "--out", str(tmp_path / "b.jsonl"), "--batch", "50"])
    assert res.exit_code == 0, res.output
    assert f"ran steadily more than two windows behind the other devices, their samples re-stamped forward to the " \
           f"others' time (check their NTP): {ahead.split(':')[0]} of abilene (60 s)" in " ".join(res.output.split())


def test_a_device_whose_samples_come_late_is_named_until_it_is_on_time_again(
        gnmic: tuple[Path, list[dict[str, Any]]], caplog: pytest.LogCaptureFixture) -> None:
    """The router's samples stamped a minute behind during the first half of the capture (its clock late, or its
    telemetry held up): their rows are late (counted, as before), and now the log, the gauge and the replay
    summary say which device, how many samples and by how much."""
    run, msgs = gnmic
    behind = msgs[0]["tags"]["source"]
    mid = sorted(m["timestamp"] for m in msgs)[len(msgs) // 2]
    late = [dict(m, timestamp=m["timestamp"] - 60_000_000_000)
            if m["tags"]["source"] == behind and m["timestamp"] < mid else m for m in msgs]
    with caplog.at_level(logging.INFO, logger="twinwatch.stream"):
        pipe, dead, _, metrics = _run(run, late, 300.0, {})
    assert dead == [] and pipe.late_rows["abilene"] > 0
    device = behind.split(":")[0]
    said = [r for r in caplog.records if getattr(r, "device", "") == device]
    assert [r.levelno for r in said] == [logging.WARNING, logging.INFO], said  # named, then on time again
    count, most = pipe.devices.late["abilene"][device]
    assert list(pipe.devices.late["abilene"]) == [device] and 45 < most <= 60 and count > 0
    assert metrics.registry.get_sample_value("twinwatch_late_devices", {"network": "abilene"}) == 0  # on time now
    # no other device is named; on the clean capture none at all
    assert {getattr(r, "device", device) for r in caplog.records} == {device}
    clean, _, _, _ = _run(run, msgs, 300.0, {})
    assert clean.devices.late == {} and clean.devices.ahead == {}


def test_the_twinless_replay_holds_a_device_ahead_back_too(gnmic: tuple[Path, list[dict[str, Any]]],
                                                          tmp_path: Path) -> None:
    """No network model (the twin-less mode, every series scored on its own): no inventory, so every device's
    clock is followed. Before: 1,806 of the other devices' rows late."""
    from click.testing import CliRunner

    from twinwatch.stream.cli import cli

    _, msgs = gnmic
    ahead = msgs[0]["tags"]["source"]
    cap = tmp_path / "twinwatch.raw.gnmic.jsonl"
    cap.write_bytes(b"\n".join(orjson.dumps(dict(m, timestamp=m["timestamp"] + int(AHEAD_S * 1e9)))
                               if m["tags"]["source"] == ahead else orjson.dumps(m) for m in msgs))
    res = CliRunner().invoke(cli, ["replay", str(cap), "--out", str(tmp_path / "a.jsonl"), "--batch", "50"])
    assert res.exit_code == 0, res.output
    assert " 0 late row(s)" in res.output, res.output
    assert "1 device clock(s) ran more than a window ahead" in res.output
    assert f"{ahead.split(':')[0]} (240 s)" in res.output


def test_a_device_clock_behind_is_named_and_restamped_forward(gnmic: tuple[Path, list[dict[str, Any]]],
                                                              caplog: pytest.LogCaptureFixture) -> None:
    """A router whose clock runs a minute behind the others for the whole capture. Before session 45 every one of
    its samples came later than the windows it stamped them with closed: all its rows were late (counted, not used).
    Now a lag that stays steady while the others move on (not telemetry held up, which stops and then catches up) is
    named, counted in ``twinwatch_device_clocks_behind``, and its samples are re-stamped forward by it."""
    run, msgs = gnmic
    behind = msgs[0]["tags"]["source"]
    device = behind.split(":")[0]
    _, _, clean_windows, _ = _run(run, msgs, 300.0, {})
    mine = sum(len(m["values"]) for m in msgs if m["tags"]["source"] == behind)
    with caplog.at_level(logging.INFO, logger="twinwatch.stream"):
        pipe, dead, windows, metrics = _run(run, msgs, 300.0, {behind: -60.0})
    assert dead == []
    # named once, with its lag to a whole window; counted while it runs behind
    warned = [r for r in caplog.records if hasattr(r, "clock_behind_s")]
    assert [(r.device, r.clock_behind_s) for r in warned] == [(device, 60.0)]  # type: ignore[attr-defined]
    assert pipe.devices.behind == {"abilene": {device: 60.0}}
    assert metrics.registry.get_sample_value("twinwatch_device_clocks_behind", {"network": "abilene"}) == 1
    assert pipe.devices.ahead == {}
    # only its rows from before it was named (the first half of these two minutes) are late, not all of them
    assert 0 < pipe.late_rows["abilene"] < mine
    # from then on its rows land where the clean run's do: the last windows hold what the clean run's hold
    clean_rows = [(w.start, w.rows) for w in clean_windows]
    assert [(w.start, w.rows) for w in windows if w.start <= clean_windows[-1].start][-3:] == clean_rows[-3:]


def test_restamp_moves_a_clock_behind_forward_until_ntp_sets_it_right() -> None:
    from twinwatch.stream.clocks import DeviceClocks

    dc = DeviceClocks(None)
    # r2's clock runs 60 s behind: its samples move 60 s later; r1 is left alone
    s = _batch([("r1", 1060.0), ("r2", 1000.0), ("r2", 1010.0)])
    assert dc.restamp("p0", s, {"r2": -60.0}, 10.0) == ["r2"]
    assert (np.asarray(s.ts_ns) / 1e9).tolist() == [1060.0, 1060.0, 1070.0]
    # a round skipped (20 s on) is not a step; NTP setting it right inside a batch is: from the first sample that
    # jumps forward by more than half the lag on, they are on the others' time already
    s = _batch([("r2", 1030.0), ("r2", 1100.0), ("r2", 1110.0)])
    assert dc.restamp("p0", s, {"r2": -60.0}, 10.0) == []
    assert (np.asarray(s.ts_ns) / 1e9).tolist() == [1090.0, 1100.0, 1110.0]
    # set right in the batch that ends the offset: its samples before the step are still moved by it
    s = _batch([("r2", 1040.0), ("r2", 1110.0)])
    assert dc.restamp("p0", s, {}, 10.0) == ["r2"] and dc.offsets == {}
    assert (np.asarray(s.ts_ns) / 1e9).tolist() == [1100.0, 1110.0]
