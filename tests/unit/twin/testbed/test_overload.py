"""Overload in the network under test: the fluid model of a queue offered more than its scheduler serves.

The unit tests check :func:`fluid_overload` on one- and two-link scenarios
whose answers follow from conservation alone (what is not served is dropped
once the buffer is full). The testbed tests replay the issue-10 repro at test
size: Abilene, seed 7, ``ATLAM5->ATLAng`` (a 1 Gb/s link at about 0.37 load)
degraded to 15 % of its capacity, i.e. offered load about 2.4 × capacity,
compared with the fault-free run of the same seed (identical traffic).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import orjson
import pyarrow.parquet as pq
import pytest

from twinwatch.twin.scenario import Flow, Policy, Scenario
from twinwatch.twin.testbed.overload import fluid_overload

PKT = 1000.0  # bits per packet in the small scenarios


def _line(cap: float, flows: list[Flow], policy: Policy = Policy.FIFO, weights: list[float] | None = None,
          queue_pkts: float = 10.0) -> Scenario:
    return Scenario.build(2, [(0, 1, cap), (1, 0, cap)], {(0, 1): [0, 1]}, flows, policy=policy,
                          weights=None if weights is None else [weights] * 2, queue_pkts=queue_pkts)


def test_fifo_overload_drops_the_excess_after_the_buffer_fills() -> None:
    # 2 Mb/s into 1 Mb/s: the 10-packet buffer (10 kbit) fills in 10 kbit / 1 Mb/s excess = 10 ms,
    # then the excess 1 Mb/s is dropped for the rest of the 10 s window
    sc = _line(1e6, [Flow(0, 1, 2e6, pkt_size_bits=PKT)])
    ov = fluid_overload(sc, window_s=10.0)
    assert ov.overloaded[0, 0] and not ov.overloaded[1].any()
    assert ov.loss_ratio[0, 0] == pytest.approx(0.5 * (10.0 - 0.01) / 10.0, rel=1e-9)
    assert ov.drop_pps[0, 0] == pytest.approx(2000.0 * ov.loss_ratio[0, 0], rel=1e-9)
    # a packet accepted into the full buffer waits for the 10 packets ahead: 10 ms, plus 1 ms transmission
    steady = fluid_overload(sc)
    assert steady.loss_ratio[0, 0] == pytest.approx(0.5, rel=1e-12)
    assert steady.sojourn_s[0, 0] == pytest.approx(0.011, rel=1e-9)
    assert ov.backlog_bits[0, 0] == pytest.approx(10 * PKT)
    # below overload nothing is dropped and no fluid value is given
    calm = fluid_overload(_line(1e6, [Flow(0, 1, 0.9e6, pkt_size_bits=PKT)]), window_s=10.0)
    assert not calm.overloaded.any() and np.all(calm.loss_ratio == 0) and np.isnan(calm.sojourn_s).all()


def test_a_backlog_carried_from_the_previous_window_skips_the_fill() -> None:
    sc = _line(1e6, [Flow(0, 1, 2e6, pkt_size_bits=PKT)])
    first = fluid_overload(sc, window_s=0.1)  # 10 ms of the 100 ms are the fill
    assert first.loss_ratio[0, 0] == pytest.approx(0.5 * 0.09 / 0.1, rel=1e-9)
    nxt = fluid_overload(sc, window_s=0.1, backlog_bits=first.backlog_bits)
    assert nxt.loss_ratio[0, 0] == pytest.approx(0.5, rel=1e-12)  # the buffer is full from the start
    assert nxt.sojourn_var_s2[0, 0] == pytest.approx(0.0, abs=1e-15)  # constant 11 ms (no other queue)
    assert first.sojourn_s[0, 0] < nxt.sojourn_s[0, 0] == pytest.approx(0.011)
    with pytest.raises(ValueError, match=r"backlog_bits must be \(2, 3\)"):
        fluid_overload(sc, window_s=1.0, backlog_bits=np.zeros((2, 2)))
    with pytest.raises(ValueError, match="window_s must be > 0"):
        fluid_overload(sc, window_s=0.0)


def test_the_scheduler_decides_which_class_loses() -> None:
    flows = [Flow(0, 1, 0.3e6, pkt_size_bits=PKT, tos=0), Flow(0, 1, 0.5e6, pkt_size_bits=PKT, tos=1),
             Flow(0, 1, 0.6e6, pkt_size_bits=PKT, tos=2)]
    # strict priority: ToS 0 and 1 get all they ask (0.8 Mb/s), ToS 2 the 0.2 Mb/s left
    sp = fluid_overload(_line(1e6, flows, Policy.SP), window_s=np.inf)
    assert sp.service_bps[0].tolist() == pytest.approx([0.3e6, 0.5e6, 0.2e6])
    assert sp.overloaded[0].tolist() == [False, False, True]
    assert sp.loss_ratio[0, 2] == pytest.approx(1 - 0.2 / 0.6)
    # WFQ 60/30/10: ToS 0 asks 0.3 < its 0.6 share; the other 0.7 Mb/s is split 3:1, 0.525 / 0.175;
    # ToS 1 asks only 0.5, so ToS 2 gets 0.2 -- the same as SP here, by a different route
    wfq = fluid_overload(_line(1e6, flows, Policy.WFQ, [60.0, 30.0, 10.0]), window_s=np.inf)
    assert wfq.service_bps[0].tolist() == pytest.approx([0.3e6, 0.5e6, 0.2e6])
    heavy = [Flow(0, 1, 0.3e6, pkt_size_bits=PKT, tos=0), Flow(0, 1, 0.9e6, pkt_size_bits=PKT, tos=1),
             Flow(0, 1, 0.9e6, pkt_size_bits=PKT, tos=2)]
    wfq = fluid_overload(_line(1e6, heavy, Policy.WFQ, [60.0, 30.0, 10.0]), window_s=np.inf)
    assert wfq.service_bps[0].tolist() == pytest.approx([0.3e6, 0.525e6, 0.175e6])
    assert wfq.overloaded[0].tolist() == [False, True, True]
    # FIFO: one queue, every class loses the same share
    fifo = fluid_overload(_line(1e6, heavy), window_s=np.inf)
    assert fifo.overloaded[0].tolist() == [True, False, False]
    assert fifo.loss_ratio[0, 0] == pytest.approx(1 - 1.0 / 2.1)


def test_loss_upstream_thins_the_load_offered_downstream() -> None:
    # 0 -> 1 -> 2: 3 Mb/s into a 1 Mb/s first hop; the 1.5 Mb/s second hop receives only the 1 Mb/s delivered
    # and is not overloaded, though the offered 3 Mb/s would overload it
    sc = Scenario.build(3, [(0, 1, 1e6), (1, 2, 1.5e6), (1, 0, 1e6), (2, 1, 1e6)], {(0, 2): [0, 1, 2]},
                        [Flow(0, 2, 3e6, pkt_size_bits=PKT)], queue_pkts=10.0)
    ov = fluid_overload(sc, window_s=np.inf)
    assert ov.arrival_bps[1, 0] == pytest.approx(1e6)
    assert ov.overloaded[:, 0].tolist() == [True, False, False, False]
    # a 0.5 Mb/s second hop is overloaded by the 1 Mb/s it receives: the flow keeps 0.5 of 3 Mb/s
    sc2 = Scenario.build(3, [(0, 1, 1e6), (1, 2, 0.5e6), (1, 0, 1e6), (2, 1, 1e6)], {(0, 2): [0, 1, 2]},
                         [Flow(0, 2, 3e6, pkt_size_bits=PKT)], queue_pkts=10.0)
    ov2 = fluid_overload(sc2, window_s=np.inf)
    assert ov2.overloaded[:2, 0].all()
    assert (1 - ov2.loss_ratio[0, 0]) * (1 - ov2.loss_ratio[1, 0]) == pytest.approx(0.5 / 3.0)


# ----------------------------------------------------------------------------- the testbed, issue-10 repro
W = 10.0
FAULT = (40.0, 120.0)
LINK, REVERSE = "ATLAM5->ATLAng", "ATLAng->ATLAM5"
MAGNITUDE = 0.15


@pytest.fixture(scope="module")
def runs(tmp_path_factory):  # type: ignore[no-untyped-def]
    from twinwatch.twin.netmodel import load_network
    from twinwatch.twin.testbed.faults import Fault
    from twinwatch.twin.testbed.run import TestbedConfig, run_testbed

    model = load_network("abilene")
    cfg = TestbedConfig(duration_s=160.0, window_s=W, seed=7, packets_per_window=5000, malformed_fraction=0.0)
    fault = Fault(kind="capacity_degradation", start_s=FAULT[0], end_s=FAULT[1], entities=(LINK,),
                  magnitude=MAGNITUDE)
    out = {}
    for name, plan in (("base", []), ("fault", [fault]), ("again", [fault])):
        d = tmp_path_factory.mktemp(name)
        run_testbed(model, plan, d, cfg)
        tables = {t: pq.read_table(d / "truth" / f"{t}.parquet").to_pydict() for t in ("links", "paths")}
        arrays = {t: {k: np.asarray(v) for k, v in tab.items()} for t, tab in tables.items()}
        out[name] = {"dir": d, "cfg": cfg, **arrays}
    out["model"] = model
    return out


def _during(table: dict, cfg) -> np.ndarray:  # type: ignore[no-untyped-def]
    t = table["window_start"] - cfg.start_epoch_s
    return (t >= FAULT[0]) & (t < FAULT[1])


def _link(run: dict, link: str, col: str, cfg) -> np.ndarray:  # type: ignore[no-untyped-def]
    lk = run["links"]
    return lk[col][(lk["link"] == link) & _during(lk, cfg)]


def _class_offered(run: dict, pairs: set, cfg) -> np.ndarray:  # type: ignore[no-untyped-def]
    """``(windows, 3)`` bit/s offered to the link per ToS class: the pairs routed through it (demand only)."""
    pt = run["paths"]
    on = _during(pt, cfg) & np.array([(s, d) in pairs for s, d in zip(pt["src"], pt["dst"])])
    wins = np.unique(pt["window_start"][_during(pt, cfg)])
    out = np.zeros((wins.size, 3))
    for i, w in enumerate(wins):
        for c in range(3):
            out[i, c] = pt["offered_bps"][on & (pt["window_start"] == w) & (pt["tos"] == c)].sum()
    return out


def _wfq(offered: np.ndarray, cap: float, weights=(0.6, 0.3, 0.1)) -> np.ndarray:  # type: ignore[no-untyped-def]
    """Weighted max-min fair shares of ``cap`` for one port's three classes (GPS), written out for the test."""
    share = np.zeros(3)
    active = [c for c in range(3) if offered[c] > 0]
    left = cap
    while active:
        wsum = sum(weights[c] for c in active)
        fit = [c for c in active if offered[c] <= left * weights[c] / wsum]
        if not fit:
            for c in active:
                share[c] = left * weights[c] / wsum
            break
        for c in fit:
            share[c] = offered[c]
            left -= offered[c]
            active.remove(c)
    return share


@pytest.mark.slow
def test_overloaded_link_drops_the_excess_with_a_full_buffer(runs, paths_through) -> None:  # type: ignore[no-untyped-def]
    base, run, cfg, model = runs["base"], runs["fault"], runs["base"]["cfg"], runs["model"]
    cap = 1e9 * MAGNITUDE
    offered = _class_offered(base, paths_through(model, LINK), cfg).sum(axis=1)  # demand; probes add < 0.01 %
    rho = offered / cap
    assert np.all(rho > 1.8)  # the repro is an overload, not a near-overload
    loss = _link(run, LINK, "loss_ratio", cfg)
    # conservation: what the link cannot carry is dropped; the fill (< 0.6 s of the first window) and the
    # probes' traffic move the ratio by < 0.005
    assert np.allclose(loss, 1 - 1 / rho, atol=0.01), (loss, 1 - 1 / rho)
    drops_bps = _link(run, LINK, "drop_pps", cfg) * 8000.0  # demand packets are 1000 B
    assert np.allclose(drops_bps, offered - cap, rtol=0.02)
    assert np.all(_link(run, LINK, "queue_occupancy", cfg) > 0.99)
    assert np.allclose(_link(run, LINK, "utilization", cfg), 1.0)
    assert np.allclose(_link(run, LINK, "tx_bps", cfg), cap)
    # the reverse direction (the same LAG) is degraded too, and overloaded as well
    assert np.all(_link(run, REVERSE, "loss_ratio", cfg) > 0.3)


@pytest.mark.slow
def test_paths_through_the_link_see_the_buffer_drain_time_and_the_class_loss(runs, paths_through) -> None:  # type: ignore[no-untyped-def]
    base, run, cfg, model = runs["base"], runs["fault"], runs["base"]["cfg"], runs["model"]
    cap = 1e9 * MAGNITUDE
    pairs = paths_through(model, LINK)
    per_class = _class_offered(base, pairs, cfg)
    buffer_bits = 1000 * 8000.0  # the profile's 1000-packet queues of 1000 B packets
    pt, pb = run["paths"], base["paths"]
    on = _during(pt, cfg) & np.array([(s, d) in pairs for s, d in zip(pt["src"], pt["dst"])])
    wins = np.unique(pt["window_start"][_during(pt, cfg)])
    for i, w in enumerate(wins[1:], start=1):  # from the second window on the buffers are full all along
        mu = _wfq(per_class[i], cap)
        for c in (1, 2):
            sel = on & (pt["window_start"] == w) & (pt["tos"] == c)
            assert sel.any()
            extra = pt["delay_s"][sel] - pb["delay_s"][sel]
            # a packet queues behind a full buffer drained at the class's share: buffer / share, >= buffer / C
            assert np.allclose(extra, buffer_bits / mu[c], rtol=0.03), (w, c, extra, buffer_bits / mu[c])
            assert np.all(extra >= buffer_bits / cap)
            assert np.allclose(pt["loss_ratio"][sel], 1 - mu[c] / per_class[i, c], atol=0.01)
            assert np.all(pt["method"][sel] == 1)
        # ToS 0 asks less than its 60 % weight: no loss, no buffer wait
        sel0 = on & (pt["window_start"] == w) & (pt["tos"] == 0)
        assert np.all(pt["loss_ratio"][sel0] < 1e-3) and np.all(pt["delay_s"][sel0] - pb["delay_s"][sel0] < 0.005)


@pytest.mark.slow
def test_downstream_links_carry_the_delivered_rate(runs) -> None:  # type: ignore[no-untyped-def]
    """What ATLAM5 sends beyond ATLAng shrinks by what the degraded link dropped (packet-level downstream links)."""
    base, run, cfg, model = runs["base"], runs["fault"], runs["base"]["cfg"], runs["model"]
    out_links = [i for i in model.link_ids if i.startswith("ATLAng->") and i != REVERSE]
    change = sum(_link(run, i, "tx_bps", cfg) - _link(base, i, "tx_bps", cfg) for i in out_links)
    pt = run["paths"]
    on = _during(pt, cfg) & (pt["src"] == "ATLAM5") & (pt["dst"] != "ATLAng")
    wins = np.unique(pt["window_start"][_during(pt, cfg)])
    lost = np.array([(pt["offered_bps"] * pt["loss_ratio"])[on & (pt["window_start"] == w)].sum() for w in wins])
    assert np.all(lost > 1e8)
    # the out links carry about 2.7 Gb/s measured on 5,000 packets a window: per window the packet-level rate
    # has tens of Mb/s of noise (seen: -128 vs -161 Mb/s), so the 8 windows' mean is compared
    assert float(np.mean(change)) == pytest.approx(-float(np.mean(lost)), rel=0.1), (change, -lost)
    assert np.all(change < -0.5 * lost)


@pytest.mark.slow
def test_probes_through_the_link_see_its_loss_and_nothing_changes_outside_the_fault(runs) -> None:  # type: ignore[no-untyped-def]
    base, run, cfg = runs["base"], runs["fault"], runs["base"]["cfg"]
    probes = [orjson.loads(x) for x in (run["dir"] / "topics" / "twinwatch.raw.probe.jsonl").read_bytes().splitlines()]
    # ATLAM5 -> STTLng probes in DSCP 0 (best effort, the class losing most): results are stamped at window end
    mine = [p for p in probes if p["src"] == "ATLAM5" and p["dst"] == "STTLng"]
    t = np.array([p["ts"] - cfg.start_epoch_s - W for p in mine])
    lossy = np.array([p["loss_ratio"] for p in mine])
    inside = (t >= FAULT[0]) & (t < FAULT[1])
    assert inside.sum() == 8 and np.all(lossy[inside] > 0.6) and np.all(lossy[~inside] == 0)
    assert all("delay_s" in p and p["delay_s"] > 0.2 for p, i in zip(mine, inside) if i and p["received"] > 0)
    # outside the fault the truth is the fault-free run's, byte for byte
    for table in ("links", "paths"):
        out_b = ~_during(base[table], cfg)
        out_r = ~_during(run[table], cfg)
        for col, arr in base[table].items():
            assert np.array_equal(run[table][col][out_r], arr[out_b], equal_nan=arr.dtype.kind == "f"), (table, col)


@pytest.mark.slow
def test_same_seed_same_bytes_with_overload(runs) -> None:  # type: ignore[no-untyped-def]
    a, b = runs["fault"]["dir"], runs["again"]["dir"]
    files = sorted(p.relative_to(a) for p in a.rglob("*") if p.is_file())
    assert len(files) >= 9
    for f in files:
        assert (a / f).read_bytes() == (b / f).read_bytes(), f


@pytest.mark.slow
def test_emitted_discard_counters_recompute_to_the_drops(runs, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """``twinwatch adapt`` turns the emitted counters back into drop_pps: ATLAM5 is the Telegraf (32-bit) device."""
    run, cfg, model = runs["fault"], runs["fault"]["cfg"], runs["model"]
    inv = tmp_path / "inventory.json"
    inv.write_text(json.dumps(model.inventory_dict() if callable(model.inventory_dict) else model.inventory_dict))
    exe = Path(sys.executable).with_name("twinwatch")
    got: dict[str, dict[int, float]] = {LINK: {}, REVERSE: {}}
    for fmt in ("influx", "gnmic"):
        proc = subprocess.run([str(exe), "adapt", "--format", fmt, "--inventory", str(inv), "--network", "abilene",
                               str(run["dir"] / "topics" / f"twinwatch.raw.{fmt}.jsonl")],
                              capture_output=True, check=False, timeout=300)
        assert proc.returncode == 0, proc.stderr.decode()[-2000:]
        for line in proc.stdout.splitlines():
            row = orjson.loads(line)
            if row.get("kpi") == "drop_pps" and row.get("entity_id") in got:
                # a rate stamped at the sample opening window k+1 covers window k (skew <= 0.2 s, jitter <= 0.05 s)
                got[row["entity_id"]][round((row["ts"] - cfg.start_epoch_s) / W) - 1] = row["value"]
    for link in (LINK, REVERSE):
        truth = _link(run, link, "drop_pps", cfg)
        k0 = int(FAULT[0] // W)
        # the first and last fault windows straddle the change by the sample jitter; the inner ones must match
        inner = np.array([got[link][k] for k in range(k0 + 1, k0 + truth.size - 1)])
        assert np.allclose(inner, truth[1:-1], rtol=0.01), (link, inner, truth[1:-1])
        assert all(got[link][k] == 0 for k in range(1, k0 - 1))
