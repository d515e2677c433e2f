"""The network under test: each fault changes the truth it should, benign events change none; same seed, same bytes.

Every run here is the shipped Abilene network for 12 windows of 10 s; a fault
spans windows 4..8. Each faulty run is compared with the fault-free run of
the same seed (identical traffic), so a difference is the fault's effect.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import orjson
import pyarrow.parquet as pq
import pytest

from twinwatch.twin.netmodel import load_network
from twinwatch.twin.testbed.faults import Fault
from twinwatch.twin.testbed.run import TestbedConfig, run_testbed

pytestmark = pytest.mark.slow

W = 10.0
FAULT = (40.0, 80.0)  # windows 4..7
CFG = TestbedConfig(duration_s=120.0, window_s=W, seed=3, packets_per_window=5000, malformed_fraction=0.0)


@pytest.fixture(scope="module")
def abilene():  # type: ignore[no-untyped-def]
    return load_network("abilene")


def _run(model, out: Path, faults: list[Fault], cfg: TestbedConfig = CFG) -> dict:  # type: ignore[no-untyped-def]
    run_testbed(model, faults, out, cfg)
    links = pq.read_table(out / "truth" / "links.parquet").to_pydict()
    paths = pq.read_table(out / "truth" / "paths.parquet").to_pydict()
    return {"links": {k: np.asarray(v) for k, v in links.items()},
            "paths": {k: np.asarray(v) for k, v in paths.items()}, "dir": out}


def _during(table: dict, name: str) -> np.ndarray:
    t = table["window_start"] - CFG.start_epoch_s
    return (t >= FAULT[0]) & (t < FAULT[1])


def _link(run: dict, link: str, col: str, during: bool = True) -> np.ndarray:
    lk = run["links"]
    sel = (lk["link"] == link) & (_during(lk, col) == during)
    return lk[col][sel]


def _busiest_link(run: dict, backbone: bool = False) -> str:
    """The link with the highest mean utilisation (``backbone``: among the fastest links, which have detours)."""
    lk = run["links"]
    ids = np.unique(lk["link"])
    mean = np.array([lk["utilization"][lk["link"] == i].mean() for i in ids])
    if backbone:
        cap = np.array([lk["true_capacity_bps"][lk["link"] == i].max() for i in ids])
        mean = np.where(cap == cap.max(), mean, -1.0)
    return str(ids[int(np.argmax(mean))])


@pytest.fixture(scope="module")
def baseline(abilene, tmp_path_factory):  # type: ignore[no-untyped-def]
    return _run(abilene, tmp_path_factory.mktemp("base"), [])


def _pair_mean(run: dict, pairs: set[tuple[str, str]], col: str) -> float:
    pt = run["paths"]
    sel = _during(pt, col) & np.array([(s, d) in pairs for s, d in zip(pt["src"], pt["dst"])])
    return float(np.nanmean(pt[col][sel]))


def test_same_seed_same_bytes(abilene, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    cfg = TestbedConfig(duration_s=60.0, window_s=W, seed=9, packets_per_window=3000, malformed_fraction=0.01)
    plan = [Fault(kind="counter_clear", start_s=20.0, end_s=30.0, entities=(abilene.link_ids[0],))]
    run_testbed(abilene, plan, tmp_path / "a", cfg)
    run_testbed(abilene, plan, tmp_path / "b", cfg)
    files = sorted(p.relative_to(tmp_path / "a") for p in (tmp_path / "a").rglob("*") if p.is_file())
    assert len(files) >= 9
    for f in files:
        assert (tmp_path / "a" / f).read_bytes() == (tmp_path / "b" / f).read_bytes(), f


def test_capacity_degradation_raises_utilisation_and_delay_through_the_link(abilene, baseline, tmp_path,
                                                                          paths_through) -> None:  # type: ignore[no-untyped-def]
    link = _busiest_link(baseline)
    run = _run(abilene, tmp_path, [Fault(kind="capacity_degradation", start_s=FAULT[0], end_s=FAULT[1],
                                         entities=(link,), magnitude=0.5)])
    assert np.allclose(_link(run, link, "true_capacity_bps"), _link(baseline, link, "true_capacity_bps") * 0.5)
    # the same traffic on half the capacity: twice the utilisation (of the true capacity)
    assert _link(run, link, "utilization").mean() > 1.8 * _link(baseline, link, "utilization").mean()
    assert np.allclose(_link(run, link, "utilization", during=False), _link(baseline, link, "utilization", False))
    through = paths_through(abilene, link)
    # queueing on a link twice as slow: the paths through it are slower, by more than the noise
    assert _pair_mean(run, through, "delay_s") > _pair_mean(baseline, through, "delay_s") * 1.0005


def test_grey_loss_raises_path_loss_and_leaves_discards_flat(abilene, baseline, tmp_path, paths_through) -> None:  # type: ignore[no-untyped-def]
    link = _busiest_link(baseline)
    run = _run(abilene, tmp_path, [Fault(kind="grey_loss", start_s=FAULT[0], end_s=FAULT[1], entities=(link,),
                                         magnitude=0.05)])
    through = paths_through(abilene, link)
    assert _pair_mean(run, through, "loss_ratio") >= _pair_mean(baseline, through, "loss_ratio") + 0.04
    assert np.allclose(_link(run, link, "drop_pps"), _link(baseline, link, "drop_pps"))
    assert np.allclose(_link(run, link, "rx_bps"), _link(run, link, "tx_bps") * 0.95)


def test_link_down_moves_traffic_and_marks_the_link_down(abilene, baseline, tmp_path) -> None:  # type: ignore[no-untyped-def]
    link = _busiest_link(baseline, backbone=True)
    run = _run(abilene, tmp_path, [Fault(kind="link_down", start_s=FAULT[0], end_s=FAULT[1], entities=(link,))])
    a, b = link.split("->")
    for lid in (link, f"{b}->{a}"):
        assert not _link(run, lid, "up").any() and np.all(_link(run, lid, "tx_bps") == 0)
    moved = float(_link(baseline, link, "tx_bps").mean())
    gain = [(_link(run, i, "tx_bps").mean() - _link(baseline, i, "tx_bps").mean())
            for i in np.unique(run["links"]["link"]) if i not in (link, f"{b}->{a}")]
    assert max(gain) > 0.3 * moved  # another link now carries a good part of it
    # gnmic reports the ports of the downed link DOWN
    events = [orjson.loads(x) for x in (run["dir"] / "topics" / "twinwatch.raw.gnmic.jsonl").read_bytes().splitlines()]
    assert any(e["values"].get("/interfaces/interface/state/oper-status") == "DOWN" for e in events)


def test_metric_change_moves_traffic_off_the_link(abilene, baseline, tmp_path) -> None:  # type: ignore[no-untyped-def]
    link = _busiest_link(baseline, backbone=True)
    run = _run(abilene, tmp_path, [Fault(kind="metric_change", start_s=FAULT[0], end_s=FAULT[1], entities=(link,),
                                         magnitude=50.0)])
    assert _link(run, link, "tx_bps").mean() < 0.5 * _link(baseline, link, "tx_bps").mean()
    assert _link(run, link, "up").all()


def test_queue_change_at_high_load_adds_drops(abilene, tmp_path) -> None:  # type: ignore[no-untyped-def]
    cfg = TestbedConfig(duration_s=120.0, window_s=W, seed=3, packets_per_window=20000, malformed_fraction=0.0,
                        load=0.97)
    base = _run(abilene, tmp_path / "base", [], cfg)
    link = _busiest_link(base)
    run = _run(abilene, tmp_path / "fault", [Fault(kind="queue_change", start_s=FAULT[0], end_s=FAULT[1],
                                                   entities=(link,), magnitude=0.005)], cfg)
    assert _link(run, link, "drop_pps").mean() > _link(base, link, "drop_pps").mean()
    assert _link(run, link, "loss_ratio").mean() > 0


def test_traffic_surge_multiplies_traffic_into_the_node(abilene, baseline, tmp_path) -> None:  # type: ignore[no-untyped-def]
    node = abilene.node_names[5]
    run = _run(abilene, tmp_path, [Fault(kind="traffic_surge", start_s=FAULT[0], end_s=FAULT[1], entities=(node,),
                                         magnitude=3.0)])
    pt, pb = run["paths"], baseline["paths"]
    to_node = _during(pt, "") & (pt["dst"] == node)
    other = _during(pt, "") & (pt["dst"] != node)
    assert pt["offered_bps"][to_node].sum() == pytest.approx(3.0 * pb["offered_bps"][to_node].sum())
    assert np.allclose(pt["offered_bps"][other], pb["offered_bps"][other])
    into = [i for i in abilene.link_ids if i.endswith(f"->{node}")]
    assert sum(_link(run, i, "tx_bps").mean() for i in into) > 1.3 * sum(_link(baseline, i, "tx_bps").mean()
                                                                          for i in into)


def test_unmonitored_traffic_stops_flow_export_but_not_counters(abilene, baseline, tmp_path) -> None:  # type: ignore[no-untyped-def]
    node = abilene.node_names[2]
    cfg = TestbedConfig(duration_s=120.0, window_s=W, seed=3, packets_per_window=5000, malformed_fraction=0.0,
                        flow_export_s=W)
    base = _run(abilene, tmp_path / "base", [], cfg)
    run = _run(abilene, tmp_path / "fault", [Fault(kind="unmonitored_traffic", start_s=FAULT[0], end_s=FAULT[1],
                                                   entities=(node,))], cfg)
    loop = abilene.devices[2].loopback_ipv4

    def exported(r: dict) -> int:
        lines = (r["dir"] / "topics" / "twinwatch.raw.goflow2.jsonl").read_bytes().splitlines()
        recs = [orjson.loads(x) for x in lines]
        return sum(1 for x in recs if x["sampler_address"] == loop
                   and FAULT[0] < x["time_received_ns"] / 1e9 - cfg.start_epoch_s <= FAULT[1])

    assert exported(base) > 0 and exported(run) == 0
    assert np.array_equal(run["links"]["tx_bps"], base["links"]["tx_bps"])


@pytest.mark.parametrize("kind", ["counter_clear", "device_reboot", "telemetry_gap", "late_batch"])
def test_benign_events_change_no_ground_truth(abilene, baseline, tmp_path, kind: str) -> None:  # type: ignore[no-untyped-def]
    entity = abilene.link_ids[0] if kind == "counter_clear" else abilene.node_names[0]
    run = _run(abilene, tmp_path, [Fault(kind=kind, start_s=FAULT[0], end_s=FAULT[1], entities=(entity,))])
    for table in ("links", "paths"):
        for col, arr in baseline[table].items():
            assert np.array_equal(run[table][col], arr, equal_nan=arr.dtype.kind == "f"), (table, col)

    def counters(r: dict) -> bytes:  # the device may report through gnmic or (a legacy device) SNMP/Telegraf
        return b"".join((r["dir"] / "topics" / f"twinwatch.raw.{f}.jsonl").read_bytes() for f in ("gnmic", "influx"))

    assert counters(run) != counters(baseline)  # the telemetry did change


def test_a_probe_on_a_busy_path_reports_its_own_packets_delay(tmp_path: Path) -> None:
    """A probe sharing a pair's path waits in the same queues but is sent at its own size (100 B, not the
    demand's): on two 2 Mb/s hops it is milliseconds faster than the demand, by the same amount every window."""
    from twinwatch.twin.netmodel import model_from_dict

    cables = [("a", "b"), ("a", "c"), ("b", "d"), ("c", "d")]
    model = model_from_dict({
        "version": 1, "name": "slow", "devices": [{"name": x} for x in "abcd"],
        "links": [{"a": {"device": x, "interface": f"to-{y}"}, "b": {"device": y, "interface": f"to-{x}"},
                   "capacity_bps": "2M", "delay_s": 0.001, "metric": 10} for x, y in cables],
        "probes": [{"name": "a-d", "src": "a", "dst": "d", "rate_pps": 10, "size_bytes": 100}]}, source="slow")
    run = _run(model, tmp_path, [], TestbedConfig(duration_s=30.0, window_s=W, seed=3, packets_per_window=5000,
                                                  malformed_fraction=0.0))
    raw = (tmp_path / "topics" / "twinwatch.raw.probe.jsonl").read_bytes()
    probe = [orjson.loads(line) for line in raw.split(b"\n") if line]
    assert len(probe) == 3
    p = run["paths"]
    pair = {float(t): float(d) for t, s, d_, tos, d in zip(p["window_start"], p["src"], p["dst"], p["tos"],
                                                            p["delay_s"], strict=True)
            if (s, d_, tos) == ("a", "d", int(model.probe_class[0]))}
    faster = np.array([pair[r["ts"] - W] - r["delay_s"] for r in probe])
    assert np.all(np.array([r["delay_s"] for r in probe]) >= 2 * (0.001 + 800 / 2e6))  # propagation + own sending
    assert faster.min() > 2e-3 and np.ptp(faster) < 1e-9, faster  # the same queues, its own transmission
