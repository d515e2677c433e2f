"""TrafficMatrix, RoutingMatrix, gravity and the flow-record aggregation (expected values worked out by hand)."""

from __future__ import annotations

import numpy as np
import pytest

from twinwatch.twin.traffic_matrix import (
    N_CLASSES,
    RoutingMatrix,
    Source,
    TrafficMatrix,
    TrafficMatrixError,
    gravity_prior,
    matrix_from_flows,
    offdiagonal_pairs,
)

# ---------------------------------------------------------------- TrafficMatrix


def test_build_zeroes_the_diagonal_and_the_raw_constructor_refuses_one() -> None:
    rate = np.full((N_CLASSES, 3, 3), 5.0)
    tm = TrafficMatrix.build(rate, std_bps=1.0, source=Source.FLOWS, start=0.0, end=60.0)
    for c in range(N_CLASSES):
        assert np.all(np.diag(tm.rate_bps[c]) == 0)
        assert np.all(np.diag(tm.std_bps[c]) == 0)
        assert np.all(np.diag(tm.source[c]) == Source.NONE)
    assert tm.total_bps()[0, 1] == 15.0
    assert tm.total_std_bps()[0, 1] == pytest.approx(np.sqrt(3.0))
    assert not tm.rate_bps.flags.writeable
    with pytest.raises(TrafficMatrixError, match=r"rate_bps\[tos=0, src=0, dst=0\] = 5.0: the diagonal must be 0"):
        TrafficMatrix(rate, np.zeros_like(rate), np.zeros(rate.shape, np.uint8), 0.0, 60.0)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"rate_bps": -np.eye(3)[::-1]}, r"rate_bps\[tos=0, src=0, dst=2\].*>= 0"),
        ({"std_bps": np.nan}, r"std_bps\[tos=0, src=0, dst=1\] = nan: must be finite"),
        ({"end": 0.0}, "end 0.0 must be after start 0.0"),
    ],
)
def test_invalid_matrices_name_the_entry(kwargs: dict, match: str) -> None:
    args = {"rate_bps": np.ones((3, 3)), "std_bps": 0.0, "start": 0.0, "end": 1.0} | kwargs
    with pytest.raises(TrafficMatrixError, match=match):
        TrafficMatrix.build(**args)


def test_demand_rows_list_nonzero_entries_in_src_dst_tos_order() -> None:
    rate = np.zeros((N_CLASSES, 3, 3))
    rate[2, 0, 1] = 3e6
    rate[0, 0, 1] = 1e6
    rate[1, 2, 0] = 10.0  # below min_rate_bps below
    tm = TrafficMatrix.build(rate, std_bps=0.5 * rate, source=Source.COUNTERS, start=0.0, end=300.0)
    d = tm.to_demands(min_rate_bps=100.0)
    assert len(d) == 2
    assert d.src.tolist() == [0, 0] and d.dst.tolist() == [1, 1] and d.tos.tolist() == [0, 2]
    assert d.rate_bps.tolist() == [1e6, 3e6] and d.std_bps.tolist() == [5e5, 1.5e6]
    assert d.source.tolist() == [Source.COUNTERS, Source.COUNTERS]
    assert len(tm.to_demands()) == 3


# ---------------------------------------------------------------- RoutingMatrix


def test_routing_matrix_sums_ecmp_shares_per_pair() -> None:
    # square 0-1-3 / 0-2-3; links 0:0->1 1:1->3 2:0->2 3:2->3; pair (0,3) split 0.25 / 0.75
    rm = RoutingMatrix.from_paths(n_nodes=4, n_links=4, path_src=[0, 0], path_dst=[3, 3], path_ptr=[0, 2, 4],
                                  path_links=[0, 1, 2, 3], share=[0.25, 0.75])  # fmt: skip
    src, dst = offdiagonal_pairs(4)
    p03 = int(np.flatnonzero((src == 0) & (dst == 3))[0])
    col = rm.matrix.toarray()[:, p03]
    assert col.tolist() == [0.25, 0.25, 0.75, 0.75]
    x = np.zeros(rm.n_pairs)
    x[p03] = 8.0
    assert rm.load_bps(x).tolist() == [2.0, 2.0, 6.0, 6.0]
    edges = rm.edge_matrix().toarray()
    assert edges[0, p03] == 1 and edges[4 + 3, p03] == 1 and edges[:, p03].sum() == 2


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"share": [0.5, 0.4]}, r"pair \(0, 3\): path shares sum to 0.9"),
        ({"path_links": [0, 1, 2, 9]}, r"path_links\[3\] = 9: out of range"),
        ({"path_dst": [3, 0]}, r"path 1: src == dst == 0"),
    ],
)
def test_routing_matrix_rejects_bad_paths(kwargs: dict, match: str) -> None:
    args = {"n_nodes": 4, "n_links": 4, "path_src": [0, 0], "path_dst": [3, 3], "path_ptr": [0, 2, 4],
            "path_links": [0, 1, 2, 3], "share": [0.5, 0.5]} | kwargs  # fmt: skip
    with pytest.raises(TrafficMatrixError, match=match):
        RoutingMatrix.from_paths(**args)


# ---------------------------------------------------------------- gravity


def test_fitted_gravity_matches_the_totals_and_respects_the_mask() -> None:
    ing = np.array([4.0, 2.0, 1.0, 3.0])
    egr = np.array([3.0, 3.0, 2.0, 2.0])
    allowed = np.ones((4, 4), dtype=bool)
    allowed[2, 3] = allowed[3, 2] = False  # peers 2 and 3 exchange no traffic (generalised gravity)
    g = gravity_prior(ing, egr, allowed=allowed, method="fitted")
    np.testing.assert_allclose(g.sum(axis=1), ing, rtol=1e-8)
    np.testing.assert_allclose(g.sum(axis=0), egr, rtol=1e-8)
    assert g[2, 3] == g[3, 2] == 0 and np.all(np.diag(g) == 0)
    simple = gravity_prior(ing, egr)
    assert simple[0, 1] == pytest.approx(4.0 * 3.0 / 10.0)  # in_0 · out_1 / Σ out
    with pytest.raises(TrafficMatrixError, match=r"egress_bps\[1\] = -1.0"):
        gravity_prior(ing, np.array([1.0, -1.0, 1.0, 1.0]))


# ---------------------------------------------------------------- flows

WINDOW = (100.0, 110.0)  # 10 s


def _flows(**cols: list) -> dict[str, np.ndarray]:
    out = {k: np.asarray(v) for k, v in cols.items()}
    return out


def test_flow_rates_scale_with_the_sampling_rate_and_carry_the_sampling_error() -> None:
    rec = _flows(
        src_node=[0, 0, 1], dst_node=[1, 1, 2],
        bytes_count=[1500.0, 3000.0, 1000.0], packets_count=[1.0, 2.0, 10.0],
        flow_start_s=[105.0, 101.0, 102.0], flow_end_s=[105.0, 109.0, 104.0],
        sampling_rate=[100, 0, 10], dscp=[46, 0, 0],
    )  # fmt: skip
    tm, stats = matrix_from_flows(n_nodes=3, start=WINDOW[0], end=WINDOW[1], **rec)
    # record 0: 1-in-100, EF → class 0: 100 · 1500 B · 8 / 10 s = 120 kb/s;
    #   variance n(n-1) b²/k = 100 · 99 · 1500² B² → std 8/10 · sqrt(2.2275e10) b/s
    assert tm.rate_bps[0, 0, 1] == pytest.approx(120_000.0)
    assert tm.std_bps[0, 0, 1] == pytest.approx(0.8 * np.sqrt(100 * 99 * 1500.0**2))
    # record 1: unsampled (rate 0), best effort → class 2: 3000 B · 8 / 10 s, no sampling error
    assert tm.rate_bps[2, 0, 1] == pytest.approx(2400.0) and tm.std_bps[2, 0, 1] == 0.0
    # record 2: 1-in-10, 10 packets of 100 B: 10 · 1000 · 0.8 = 8 kb/s; var 10 · 9 · 1000² / 10 → std 0.8 · 3000
    assert tm.rate_bps[2, 1, 2] == pytest.approx(8000.0)
    assert tm.std_bps[2, 1, 2] == pytest.approx(2400.0)
    assert tm.rate_bps.sum() == pytest.approx(120_000.0 + 2400.0 + 8000.0)
    assert stats.used == 3 and stats.records == 3
    assert tm.source[0, 0, 1] == Source.FLOWS and (tm.start, tm.end) == WINDOW
    # the adapters' FlowBatch carries bytes already multiplied by the sampling rate: same matrix
    scaled = dict(rec, bytes_count=rec["bytes_count"] * np.maximum(rec["sampling_rate"], 1),
                  packets_count=rec["packets_count"] * np.maximum(rec["sampling_rate"], 1))  # fmt: skip
    tm2, _ = matrix_from_flows(n_nodes=3, start=WINDOW[0], end=WINDOW[1], bytes_scaled=True, **scaled)
    np.testing.assert_allclose(tm2.rate_bps, tm.rate_bps)
    np.testing.assert_allclose(tm2.std_bps, tm.std_bps)


def test_flows_spanning_the_window_count_pro_rata() -> None:
    rec = _flows(
        src_node=[0, 0, 0, 0], dst_node=[1, 1, 1, 1],
        bytes_count=[2000.0, 1000.0, 500.0, 700.0], packets_count=[2.0, 1.0, 1.0, 1.0],
        flow_start_s=[95.0, 108.0, 90.0, 110.0], flow_end_s=[115.0, 118.0, 95.0, 110.0],
    )  # fmt: skip
    tm, stats = matrix_from_flows(n_nodes=2, start=WINDOW[0], end=WINDOW[1], **rec)
    # 10 of 20 s inside → 1000 B; 2 of 10 s inside → 200 B; [90, 95] outside; instant at end (half-open) outside
    assert tm.rate_bps[0, 0, 1] == pytest.approx((1000.0 + 200.0) * 8 / 10)
    assert stats.used == 2 and stats.outside_window == 2


def test_unmapped_intra_node_invalid_and_non_ingress_records_are_counted_not_used() -> None:
    rec = _flows(
        src_node=[-1, 0, 2, 0, 1, 0], dst_node=[1, -1, 2, 1, 0, 2],
        bytes_count=[100.0, 200.0, 300.0, np.nan, 500.0, 600.0], packets_count=[1.0] * 6,
        flow_start_s=[101.0] * 6, flow_end_s=[102.0] * 6, sampling_rate=[2, 1, 1, 1, 1, 1],
        exporter_node=[0, 0, 2, 0, 0, 0],
    )  # fmt: skip
    tm, s = matrix_from_flows(n_nodes=3, start=WINDOW[0], end=WINDOW[1], **rec)
    assert (s.unmapped, s.intra_node, s.invalid, s.not_ingress, s.used) == (2, 1, 1, 1, 1)
    assert s.records == s.unmapped + s.intra_node + s.invalid + s.not_ingress + s.used + s.outside_window
    assert s.unmapped_bytes == pytest.approx(2 * 100.0 + 200.0)
    assert tm.total_bps().sum() == pytest.approx(600.0 * 8 / 10)  # only record 5 (0 → 2, exported at 0)


def test_flow_inputs_are_checked() -> None:
    base = _flows(src_node=[0], dst_node=[5], bytes_count=[1.0], packets_count=[1.0],
                  flow_start_s=[101.0], flow_end_s=[101.0])  # fmt: skip
    with pytest.raises(TrafficMatrixError, match=r"dst_node\[0\] = 5: must be -1 \(unmapped\) or 0..2"):
        matrix_from_flows(n_nodes=3, start=100.0, end=110.0, **base)
    with pytest.raises(TrafficMatrixError, match=r"bytes_count: shape \(2,\)"):
        matrix_from_flows(n_nodes=3, start=100.0, end=110.0, **(base | {"dst_node": np.array([1]),
                                                                    "bytes_count": np.ones(2)}))  # fmt: skip
    with pytest.raises(TrafficMatrixError, match=r"dscp\[0\] = 64"):
        matrix_from_flows(
            n_nodes=3, start=100.0, end=110.0, dscp=np.array([64]), **(base | {"dst_node": np.array([1])})
        )


def test_large_random_flow_set_matches_a_per_record_reference() -> None:
    rng = np.random.default_rng(7)
    r, n = 5000, 6
    src = rng.integers(-1, n, r)
    dst = rng.integers(0, n, r)
    b = rng.uniform(40, 1500, r) * rng.integers(1, 5, r)
    k = rng.integers(1, 5, r).astype(float)
    t0 = rng.uniform(90, 112, r)
    t1 = t0 + rng.exponential(3, r)
    sr = rng.choice([0, 1, 64, 1000], r)
    dscp = rng.integers(0, 64, r)
    tm, _ = matrix_from_flows(n_nodes=n, start=100.0, end=110.0, src_node=src, dst_node=dst, bytes_count=b,
                              packets_count=k, flow_start_s=t0, flow_end_s=t1, sampling_rate=sr, dscp=dscp)  # fmt: skip
    ref = np.zeros((N_CLASSES, n, n))
    from twinwatch.twin.traffic_matrix import DEFAULT_DSCP_CLASS

    for i in range(r):  # plain per-record loop as the reference
        if src[i] < 0 or src[i] == dst[i]:
            continue
        frac = max(0.0, min(t1[i], 110.0) - max(t0[i], 100.0)) / (t1[i] - t0[i])
        ref[DEFAULT_DSCP_CLASS[dscp[i]], src[i], dst[i]] += max(sr[i], 1) * b[i] * frac * 8 / 10
    np.testing.assert_allclose(tm.rate_bps, ref, rtol=1e-10)
