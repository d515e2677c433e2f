"""WindowSnapshot: one window of telemetry rows → the Scenario the twin predicts, and the observed KPIs.

The network is a diamond ``a - {b, c} - d`` of 1 Gb/s cables with equal IGP
metrics, so ``a -> d`` and ``b -> c`` each have two equal-cost paths; ``e``
hangs off ``d``. Probes: ``b -> c`` (no traffic), ``a -> d`` (carries traffic).
"""

from __future__ import annotations

import numpy as np
import pytest

from twinwatch.twin.measurements import MeasurementsError
from twinwatch.twin.models.qt import QueueingModel
from twinwatch.twin.netmodel import NetworkModel, model_from_dict
from twinwatch.twin.probes import own_packet_shift_s
from twinwatch.twin.scenario import TimeDist
from twinwatch.twin.snapshot import SnapshotBuilder, build_snapshot
from twinwatch.twin.traffic_matrix import Source, TrafficMatrix

WINDOW = (1_700_000_000.0, 1_700_000_060.0)


def _model(capacity: str = "1G") -> NetworkModel:
    cables = [("a", "b"), ("a", "c"), ("b", "d"), ("c", "d"), ("d", "e")]
    doc = {
        "version": 1,
        "name": "diamond",
        "devices": [{"name": x} for x in "abcde"],
        "links": [{"a": {"device": x, "interface": f"to-{y}"}, "b": {"device": y, "interface": f"to-{x}"},
                   "capacity_bps": capacity, "delay_s": 0.001, "metric": 10} for x, y in cables],
        "tos_classes": [{"name": "voice", "class": 0, "dscp": [46]},
                        {"name": "best-effort", "class": 2, "dscp": [0], "default": True}],
        "probes": [{"name": "b-c", "src": "b", "dst": "c", "rate_pps": 50, "size_bytes": 125, "dscp": 46},
                   {"name": "a-d", "src": "a", "dst": "d", "rate_pps": 10, "size_bytes": 100}],
    }
    return model_from_dict(doc, source="diamond")


def _traffic(model: NetworkModel, entries: dict[tuple[int, str, str], float]) -> TrafficMatrix:
    tm = np.zeros((3, model.n_nodes, model.n_nodes))
    for (tos, s, d), rate in entries.items():
        tm[tos, model.node_index[s], model.node_index[d]] = rate
    return TrafficMatrix.build(tm, std_bps=0.1 * tm, source=Source.FLOWS, start=WINDOW[0], end=WINDOW[1])


def _rows(rows: list[tuple[str, str, str, float]]) -> dict[str, list[object]]:
    kind, ident, kpi, value = zip(*rows, strict=True) if rows else ((), (), (), ())
    return {"ts": [WINDOW[0] + 30.0] * len(rows), "entity_kind": list(kind), "entity_id": list(ident),
            "kpi": list(kpi), "value": list(value)}


def test_small_window_becomes_scenario_with_ecmp_and_observed_link_arrays() -> None:
    model = _model()
    rows = _rows([("link", "a->b", "tx_bps", 4e7), ("link", "a->b", "tx_bps", 6e7), ("link", "a->c", "tx_bps", 5e7),
                  ("link", "b->d", "rx_bps", 5e7), ("link", "d->e", "utilization", 0.25)])
    snap = build_snapshot(model, *WINDOW, rows, traffic=_traffic(model, {(2, "a", "d"): 1e8}))
    sc = snap.to_scenario()
    assert (snap.network, snap.start, snap.end, snap.tm_source) == ("diamond", *WINDOW, "given")
    assert sc.n_links == model.n_links and sc.link_src.tolist() == model.link_src.tolist()
    demand = snap.flow_probe < 0
    # a -> d: two equal-cost paths, half of the 100 Mb/s on each, ToS 2 kept, Poisson demand flows
    nodes = sorted(sc.path_nodes(int(p)) for p in sc.flow_path[demand])
    assert nodes == [[0, 1, 3], [0, 2, 3]]
    assert sc.flow_rate_bps[demand].tolist() == [5e7, 5e7] and set(sc.flow_tos[demand].tolist()) == {2}
    assert (sc.flow_time_dist[demand] == TimeDist.POISSON).all()
    np.testing.assert_allclose(snap.flow_std_bps[demand], [5e6, 5e6])  # 10 % of the entry, split like the rate
    assert (snap.flow_source[demand] == Source.FLOWS).all()
    # observed arrays are aligned with the model's (= the scenario's) link numbers; NaN where nothing came
    tx = snap.link_observed["tx_bps"]
    assert tx.shape == (sc.n_links,)
    assert tx[model.link_index["a->b"]] == 5e7 and tx[model.link_index["a->c"]] == 5e7  # window mean
    assert np.isnan(tx[model.link_index["b->a"]])
    assert snap.link_observed["rx_bps"][model.link_index["b->d"]] == 5e7
    assert snap.link_observed["utilization"][model.link_index["d->e"]] == 0.25
    assert np.isnan(snap.link_kpi("queue_occupancy")).all()  # no such row: all unobserved
    assert snap.routing_version == sc.meta["routing_version"] and snap.links_down == ()


def test_link_down_changes_routing_version_and_paths() -> None:
    model = _model()
    builder = SnapshotBuilder(model)
    traffic = _traffic(model, {(0, "a", "d"): 1e8})
    up = builder.build(*WINDOW, _rows([]), traffic=traffic)
    down = builder.build(*WINDOW, _rows([]), traffic=traffic, links_down=["b->d"])
    assert down.routing_version != up.routing_version and down.links_down == ("b->d",)
    paths = {tuple(down.scenario.path_nodes(int(p))) for p in down.scenario.flow_path[down.flow_probe < 0]}
    assert paths == {(0, 2, 3)}  # all of a -> d now goes through c
    assert down.scenario.flow_rate_bps[down.flow_probe < 0].tolist() == [1e8]
    assert model.link_index["b->d"] not in down.scenario.path_links.tolist()
    # the same link state again: the same routing (cached), the same version
    again = builder.build(*WINDOW, _rows([]), traffic=traffic, link_up=np.ones(model.n_links, dtype=bool))
    assert again.routing_version == up.routing_version
    # a link state that cuts e off: its demand is unrouted, counted in bit/s, not an error
    cut = builder.build(*WINDOW, _rows([]), traffic=_traffic(model, {(0, "a", "e"): 3e6}), links_down=["d->e"])
    assert cut.unrouted_bps == 3e6 and cut.scenario.n_flows == 2  # only the two probe flows remain


def test_probe_on_idle_pair_gets_its_own_flow_and_unprobed_paths_stay_unobserved() -> None:
    model = _model()
    rows = _rows([("path", "b->c", "delay_s", 0.0021), ("path", "b->c", "delay_s", 0.0023),
                  ("path", "a->d", "loss_ratio", 0.0)])
    snap = build_snapshot(model, *WINDOW, rows, traffic=_traffic(model, {(1, "a", "d"): 2e8, (1, "d", "e"): 1e6}))
    sc = snap.scenario
    # b -> c carries no demand: one probe flow at the probe's own rate, size and class (DSCP 46 -> class 0)
    probe_flows = np.flatnonzero(snap.flow_probe >= 0)
    assert snap.flow_probe[probe_flows].tolist() == [0]
    f = int(probe_flows[0])
    assert sc.flow_rate_bps[f] == 50 * 125 * 8 and sc.flow_pkt_rate[f] == 50
    assert sc.flow_sizes_bits[f, 0] == 1000 and sc.flow_time_dist[f] == TimeDist.CBR and sc.flow_tos[f] == 0
    p_bc = int(sc.flow_path[f])
    assert sc.path_nodes(p_bc) in ([1, 0, 2], [1, 3, 2])  # one of the two equal-cost paths, as a router hashes
    assert snap.path_probe[p_bc] == 0
    assert snap.path_observed["delay_s"][p_bc] == pytest.approx(0.0022)
    # a -> d is busy: its probe adds no flow, but its observation lands on the path the probe takes
    p_ad = int(np.flatnonzero(snap.path_probe == 1)[0])
    assert sc.path_src[p_ad] == 0 and sc.path_dst[p_ad] == 3 and snap.path_observed["loss_ratio"][p_ad] == 0.0
    # every other path (the other a -> d path, d -> e) is unobserved: NaN, not zero
    others = np.setdiff1d(np.arange(sc.n_paths), [p_bc, p_ad])
    assert others.size == 2 and not snap.path_is_observed[others].any()
    assert np.isnan(snap.path_observed["jitter_s2"]).all()
    assert snap.completeness.probes == 2 and snap.completeness.probes_observed == 2
    # the twin now predicts a delay for the probed idle pair: transmission + propagation at least
    pred = QueueingModel().predict(sc)
    floor = 2 * (1000 / 1e9 + 0.001)
    assert np.isfinite(pred.path_delay_s).all() and pred.path_delay_s[p_bc] >= floor


def test_a_probe_expects_its_own_packets_delay_whether_its_pair_carries_demand_or_not() -> None:
    # 2 Mb/s links: one 1,000-B packet takes 4 ms to send, the probe's 100 B 0.4 ms. The probe a -> d shares the
    # demand's path when a -> d has demand and has a flow of its own when it has none; its expectation must be the
    # same both ways (it jumped by 2 x 3.6 ms before: the demand's transmission time, then its own)
    model = _model("2M")
    probe = model.probe_names.index("a-d")
    expected = []
    for demand in ({(2, "a", "d"): 2e3, (2, "d", "e"): 1e5}, {(2, "d", "e"): 1e5}):
        snap = build_snapshot(model, *WINDOW, _rows([]), traffic=_traffic(model, demand))
        p = int(snap.probe_path[probe])
        assert snap.path_probe[p] == probe and snap.scenario.path_src[p] == model.node_index["a"]
        shift = own_packet_shift_s(snap.scenario, snap.probe_path, model.probe_size_bits)
        expected.append(QueueingModel().predict(snap.scenario).path_delay_s[p] + shift[probe])
        own_flow = bool((snap.flow_probe == probe).any())
        assert own_flow == ((2, "a", "d") not in demand)
        assert (shift[probe] == 0.0) == own_flow  # on its own flow the path's packets are the probe's
    sent = 2 * (800 / 2e6 + 0.001)  # two hops: the probe's own transmission and the propagation
    assert expected[0] == pytest.approx(expected[1], rel=1e-3)
    assert expected[1] == pytest.approx(sent, rel=1e-2)


def test_completeness_counts_silent_devices_and_unknown_entities() -> None:
    model = _model()
    rows = _rows([
        ("link", "a->b", "tx_bps", 1e6), ("link", "a->b", "rx_bps", 1e6),   # a and b heard
        ("interface", "c:to-a", "rx_pps", 10.0),                              # c heard
        ("link", "a->z", "tx_bps", 1.0), ("link", "a->z", "tx_bps", 2.0),   # unknown link, 2 rows
        ("interface", "zz:et-1", "tx_bps", 1.0), ("node", "nope", "queue_occupancy", 0.1),
        ("path", "a->q", "delay_s", 0.1), ("path", "malformed", "delay_s", 0.1),
        ("router", "x", "tx_bps", 1.0),                                      # unknown entity kind
        ("link", "a->c", "tx_bps", float("nan")),
    ])
    rows["flags"] = [0, 4, 0, 0, 0, 0, 0, 0, 0, 0, 1]
    snap = build_snapshot(model, *WINDOW, rows, traffic=_traffic(model, {}), links_down=["x->y"])
    c = snap.completeness
    assert c.silent_devices == ("d", "e")
    assert c.rows == 11 and c.unknown_rows == 7 and c.nonfinite_rows == 1 and c.flagged_rows == 2
    assert c.unknown_entities == ("interface:zz", "kind:router", "link:a->z", "link:x->y", "node:nope",
                                  "path:a->q", "path:malformed")
    # 10 links x (tx_bps, rx_bps) expected; a->b has both; the NaN a->c row does not count
    assert (c.expected_counters, c.present_counters) == (20, 2) and c.fraction == pytest.approx(0.1)
    assert c.unroutable_probes == () and c.flow_records is None
    assert np.isnan(snap.link_observed["tx_bps"][model.link_index["a->c"]])


def test_traffic_from_flow_records_and_from_counters() -> None:
    model = _model()
    n = model.node_index
    # flow records: a -> d 600 MB in the 60 s window, sampled 1 in 10 (bytes as exported), DSCP 0 -> class 2
    flows = {"src_node": np.array([n["a"], n["a"], -1]), "dst_node": np.array([n["d"], n["d"], n["e"]]),
             "bytes_count": np.array([40e6, 20e6, 1e6]), "packets_count": np.array([40e3, 20e3, 1e3]),
             "flow_start_s": np.full(3, WINDOW[0] + 1), "flow_end_s": np.full(3, WINDOW[0] + 50),
             "sampling_rate": np.array([10, 10, 10]), "dscp": np.array([0, 0, 0])}
    snap = build_snapshot(model, *WINDOW, _rows([]), flows=flows)
    assert snap.tm_source == "flows" and snap.completeness.flow_records.unmapped == 1
    assert snap.traffic.rate_bps[2, n["a"], n["d"]] == pytest.approx(10 * 60e6 * 8 / 60.0)
    assert snap.measured_traffic is snap.traffic  # no counter to fit them to: the twin takes the records' matrix
    sc = snap.scenario
    demand = snap.flow_probe < 0
    assert sc.flow_rate_bps[demand].sum() == pytest.approx(8e7)
    assert sc.flow_pkt_size_bits[demand] == pytest.approx(8000.0)  # 60 MB / 60k packets
    assert (snap.flow_std_bps[demand] > 0).all()  # sampling error, split over the two ECMP paths

    # counters only: 3 Mb/s on d->e, every other link idle. Only pairs routed over d->e (x -> e) can carry
    # traffic; how much of the 3 Mb/s the estimate explains is tomogravity's business (its own tests)
    rows = _rows([("link", lid, "tx_bps", 3e6 if lid == "d->e" else 0.0) for lid in model.link_ids])
    snap = build_snapshot(model, *WINDOW, rows)
    assert snap.tm_source == "counters" and snap.measured_traffic is None and snap.measured_link_bps is None
    assert snap.traffic.rate_bps[[0, 1]].sum() == 0  # counters see no class: best effort (DSCP 0 -> class 2)
    total = snap.traffic.total_bps()
    into_e = total[:, n["e"]].sum()
    assert 0 < into_e <= 3e6 * 1.05 and total.sum() == pytest.approx(into_e)
    est = snap.traffic.rate_bps > 0
    assert set(np.unique(snap.traffic.source[est]).tolist()) <= {Source.COUNTERS, Source.PRIOR}
    load = snap.scenario.link_load_bps()
    probe_only = snap.scenario.link_load_bps(np.bincount(snap.scenario.flow_path[snap.flow_probe >= 0],
                                                         weights=snap.scenario.flow_rate_bps[snap.flow_probe >= 0],
                                                         minlength=snap.scenario.n_paths))
    busy = np.flatnonzero(load - probe_only > 1.0)
    assert busy.tolist() == [model.link_index["d->e"]]


def test_flow_records_with_counters_give_the_twin_their_matrix_fitted_to_the_counters() -> None:
    """Sampled records see a -> d (best effort) and d -> e (voice) but miss b -> c; the counters carry all three.
    The twin predicts from the records' pairs (and, with ``matrix_classes="records"``, their classes) at the
    counters' loads, every pair sending, as on a window that has only the counters and these records as its
    prior; the records' own matrix and the loads it routes stay in the snapshot for the detectors that compare
    them with the counters."""
    model = _model()
    n, li = model.node_index, model.link_index
    truth = {("a", "d"): 8e7, ("b", "c"): 2e7, ("d", "e"): 1e7}
    load = np.zeros(model.n_links)
    for lid, path in (("a->b", "ad"), ("a->c", "ad"), ("b->d", "ad"), ("c->d", "ad"), ("d->e", "de"),
                      ("b->a", "bc"), ("a->c", "bc"), ("b->d", "bc"), ("d->c", "bc")):
        share = 0.5 if path != "de" else 1.0  # a -> d and b -> c split over two equal-cost paths
        load[li[lid]] += share * truth[(path[0], path[1])]
    rows = _rows([("link", lid, "tx_bps", float(load[i])) for i, lid in enumerate(model.link_ids)])
    # 1 in 100 sampling: a -> d 9 % high, d -> e 5 % low; b -> c not sampled at all
    by = np.array([8e7 * 1.09, 1e7 * 0.95]) * 60.0 / 8.0 / 100.0
    flows = {"src_node": np.array([n["a"], n["d"]]), "dst_node": np.array([n["d"], n["e"]]),
             "bytes_count": by, "packets_count": by / 1000.0, "flow_start_s": np.full(2, WINDOW[0]),
             "flow_end_s": np.full(2, WINDOW[1]), "sampling_rate": np.array([100, 100]), "dscp": np.array([0, 46])}
    snap = build_snapshot(model, *WINDOW, rows, flows=flows, matrix_classes="records")
    assert snap.tm_source == "flows"
    measured = snap.measured_traffic
    assert measured.total_bps()[n["a"], n["d"]] == pytest.approx(8e7 * 1.09)  # the records' own matrix
    assert measured.total_bps()[n["b"], n["c"]] == 0.0
    # the twin's matrix: b -> c, which the sampling missed, sends; pairs over idle links send nothing; a -> d in
    # best effort, d -> e in voice (as their records)
    tm = snap.traffic
    assert tm.total_bps()[n["b"], n["c"]] > 1e6
    assert tm.total_bps()[n["e"]].sum() < 1.0  # e -> d carries nothing (to the solver's precision, bit/s)
    assert tm.rate_bps[2, n["a"], n["d"]] == pytest.approx(tm.total_bps()[n["a"], n["d"]])
    assert tm.rate_bps[0, n["d"], n["e"]] == pytest.approx(tm.total_bps()[n["d"], n["e"]])
    # its loads are near the counters' (tomogravity's fit; four links cannot tell every pair apart), far nearer
    # than the records'
    demand = snap.flow_probe < 0
    sc = snap.scenario
    probes = sc.link_load_bps(np.bincount(sc.flow_path[~demand], weights=sc.flow_rate_bps[~demand],
                                          minlength=sc.n_paths))
    fitted = sc.link_load_bps() - probes
    off_fitted = np.abs(fitted - load).sum() / load.sum()
    off_records = np.abs(snap.measured_link_bps - probes - load).sum() / load.sum()
    assert off_fitted < 0.08 and off_fitted < off_records / 2
    # the records' matrix routed on the window's routing (and the probe flows): the routed-load test's reference
    assert snap.measured_link_bps[li["a->b"]] - probes[li["a->b"]] == pytest.approx(0.5 * 8e7 * 1.09)
    assert snap.measured_link_bps[li["b->a"]] - probes[li["b->a"]] == pytest.approx(0.0)
    assert snap.measured_link_sd_bps[li["a->b"]] > 0 and snap.measured_link_sd_bps[li["b->a"]] == 0.0
    # a window with only these counters and the records as its prior gives the twin the same matrix
    later = build_snapshot(model, *WINDOW, rows, prior_bps=measured.rate_bps, matrix_classes="records")
    assert later.tm_source == "counters"
    np.testing.assert_allclose(later.traffic.rate_bps, tm.rate_bps, rtol=1e-9, atol=1e-3)
    assert later.scenario.n_flows == sc.n_flows
    # the behaviour before the fit, on request: the twin takes the records' own matrix
    records = build_snapshot(model, *WINDOW, rows, flows=flows, flow_matrix="records")
    assert records.traffic is records.measured_traffic
    np.testing.assert_array_equal(records.traffic.rate_bps, measured.rate_bps)
    # the same routed loads but for the probe flows each scenario adds on its idle paths (b -> c's, 50 kb/s)
    np.testing.assert_allclose(records.measured_link_bps, snap.measured_link_bps, rtol=0, atol=5e4)
    with pytest.raises(ValueError, match="flow_matrix 'sampled' is not one of"):
        build_snapshot(model, *WINDOW, rows, flows=flows, flow_matrix="sampled")
    # one class for every counter-fitted pair (the default: one twin flow per pair): the same fit, the same pairs
    one = build_snapshot(model, *WINDOW, rows, flows=flows)
    np.testing.assert_allclose(one.traffic.total_bps(), tm.total_bps(), rtol=1e-9, atol=1e-3)
    assert one.traffic.rate_bps[[0, 1]].sum() == 0.0  # all in DSCP 0's class
    assert one.scenario.n_flows < sc.n_flows  # d -> e's voice traffic no longer a flow of its own
    later_one = build_snapshot(model, *WINDOW, rows, prior_bps=measured.rate_bps)
    np.testing.assert_allclose(later_one.traffic.rate_bps, one.traffic.rate_bps, rtol=1e-9, atol=1e-3)
    with pytest.raises(ValueError, match="matrix_classes 'all' is not one of"):
        build_snapshot(model, *WINDOW, rows, flows=flows, matrix_classes="all")


def test_pyarrow_table_input_and_bad_input_errors() -> None:
    pa = pytest.importorskip("pyarrow")
    model = _model()
    table = pa.table({"network": ["diamond"], "entity_kind": ["link"], "entity_id": ["a->b"], "kpi": ["tx_bps"],
                      "value": [7.0], "flags": pa.array([0], type=pa.uint8()), "ts": [WINDOW[0]]})
    snap = build_snapshot(model, *WINDOW, table, traffic=_traffic(model, {}))
    assert snap.link_observed["tx_bps"][model.link_index["a->b"]] == 7.0
    with pytest.raises(MeasurementsError, match="'kpi' is missing"):
        build_snapshot(model, *WINDOW, {"entity_kind": [], "entity_id": [], "value": []})
    with pytest.raises(MeasurementsError, match="'entity_id' has shape"):
        build_snapshot(model, *WINDOW, {"entity_kind": ["link"], "entity_id": [], "kpi": ["x"], "value": [1.0]})
    with pytest.raises(ValueError, match=r"link_up: shape \(3,\), expected \(10,\)"):
        build_snapshot(model, *WINDOW, _rows([]), link_up=np.ones(3, dtype=bool))
    with pytest.raises(ValueError, match="traffic: 2 nodes"):
        build_snapshot(model, *WINDOW, _rows([]), traffic=TrafficMatrix.zeros(2, start=0.0, end=1.0))
