"""ns-3 cross-check: scenario translation (always) and a short ns-3 run (when ns-3 is installed)."""

from __future__ import annotations

import numpy as np
import pytest

from twinwatch.twin.scenario import Flow, Scenario, TimeDist
from twinwatch.twin.sim.ns3_check import (
    _WORKER_SRC,
    HEADER_BYTES,
    NS3_PYTHON_ENV,
    _ns3_job,
    _ns3_result,
    check_scenarios,
    compare,
    ns3_available,
    ns3_python,
    nsfnet_scenario,
    run_ns3,
    to_markdown,
)


def test_check_scenarios_load_what_they_claim() -> None:
    sc = check_scenarios()
    line = sc["line4"]
    util = line.link_load_bps() / line.link_capacity_bps
    assert util.max() == pytest.approx(0.8)
    star = sc["star4"]
    assert (star.link_load_bps() / star.link_capacity_bps).max() == pytest.approx(0.95)
    assert (star.node_queue_pkts == 10).all()
    nsf = nsfnet_scenario()
    assert nsf.n_nodes == 14 and nsf.n_flows == 14 * 13
    assert (nsf.flow_time_dist == TimeDist.POISSON).all()


def test_ns3_job_translation_and_limits() -> None:
    job = _ns3_job(check_scenarios()["line4"])
    assert job["fpayload"] == [1000 - HEADER_BYTES] * 4
    assert job["fmean"][0] == pytest.approx(1 / 375.0)  # 3 Mbit/s of 8000-bit packets
    assert job["qpk"] == [999] * 6  # K = 1000 packets including the one in service
    assert _ns3_job(check_scenarios()["star4"], count_in_service=False)["qpk"] == [10] * 6
    links = [(0, 1, 1e6), (1, 0, 1e6)]
    onoff = Scenario.build(2, links, {(0, 1): [0, 1]}, [Flow(0, 1, 1e5, time_dist=TimeDist.ONOFF, on_s=1, off_s=1)])
    with pytest.raises(ValueError, match="Poisson"):
        _ns3_job(onoff)
    tiny = Scenario.build(2, links, {(0, 1): [0, 1]}, [Flow(0, 1, 1e5, pkt_size_bits=160.0)])
    with pytest.raises(ValueError, match="whole bytes"):
        _ns3_job(tiny)


def test_result_aggregation() -> None:
    # two runs, one flow: [tx, rx, sum, sum2, hops, wall]
    raw = np.array([[100, 90, 0.9, 0.0091, 300, 0.5], [100, 100, 1.1, 0.0125, 320, 0.5]], dtype=float)
    r = _ns3_result(raw, runs=2, f=1)
    assert r.flow_delay_s[0] == pytest.approx((0.01 + 0.011) / 2)
    assert r.flow_loss_ratio[0] == pytest.approx(10 / 200)
    assert r.flow_jitter_s2[0] == pytest.approx(0.0216 / 190 - (2.0 / 190) ** 2)
    assert r.packet_hops == 620 and r.hops_per_second == pytest.approx(620.0)


@pytest.mark.slow
def test_ns3_and_twinwatch_agree_on_a_line() -> None:
    ok, why = ns3_available()
    if not ok:
        pytest.skip(why)
    res = compare({"line4": check_scenarios()["line4"]}, warmup_s=1.0, duration_s=8.0, runs=1)
    r = res["line4"]
    # 8 s of ~1750 packets/s: flows' means carry a few % of noise in each simulator
    assert r["delay_rel_diff_median_abs"] < 0.06, to_markdown(res)
    assert all(f["ns3_loss"] == 0 and f["tw_loss"] == 0 for f in r["flows"])
    assert r["tw_hops_per_s"] > r["ns3_hops_per_s"]


def test_byte_buffers_are_refused_not_ignored() -> None:
    links = [(0, 1, 1e6), (1, 0, 1e6)]
    sc = Scenario.build(2, links, {(0, 1): [0, 1]}, [Flow(0, 1, 1e5)], buffer_bits=8e5)
    with pytest.raises(ValueError, match="buffers in packets only; node 0"):
        _ns3_job(sc)


def test_ns3_interpreter_choice(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    import sys

    monkeypatch.delenv(NS3_PYTHON_ENV, raising=False)
    assert ns3_python() == sys.executable
    monkeypatch.setenv(NS3_PYTHON_ENV, "/opt/ns3/bin/python")
    assert ns3_python() == "/opt/ns3/bin/python"
    assert ns3_python("/other/python") == "/other/python"
    # another interpreter is asked, not this process: stand-ins that answer yes (exit 0) and no (exit 3)
    yes, no = tmp_path / "py_yes", tmp_path / "py_no"
    yes.write_text("#!/bin/sh\nexit 0\n")
    no.write_text("#!/bin/sh\nexit 3\n")
    yes.chmod(0o755)
    no.chmod(0o755)
    assert ns3_available(str(yes)) == (True, "ok")
    ok, why = ns3_available(str(no))
    assert not ok and str(no) in why and NS3_PYTHON_ENV in why
    ok, why = ns3_available(str(tmp_path / "missing"))
    assert not ok and "cannot be run" in why
    monkeypatch.setenv(NS3_PYTHON_ENV, str(no))
    with pytest.raises(RuntimeError, match="lacks them"):
        run_ns3(check_scenarios(), warmup_s=0.1, duration_s=0.1)


def test_worker_source_is_self_contained() -> None:
    # the child may be a virtualenv without twinwatch or numpy: it imports json, sys, ns and cppyy only
    compile(_WORKER_SRC, "<ns3-worker>", "exec")
    imported = {ln.split()[1] for ln in _WORKER_SRC.splitlines() if ln.startswith(("import ", "from "))}
    assert imported == {"json,", "ns", "cppyy"}
