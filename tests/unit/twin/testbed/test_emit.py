"""What the testbed emits decodes through the production adapters with nothing rejected, values intact."""

from __future__ import annotations

import numpy as np

from twinwatch.telemetry_adapters import DecoderConfig, get_decoder
from twinwatch.twin.testbed.emit import GNMIC_COUNTERS, gnmic_events, goflow2_records, influx_lines, probe_results

T0 = 1_700_000_000 * 10**9
CFG = DecoderConfig(max_age_s=None, now_ns=T0 + 10**12)


def _ports(n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, dict[str, np.ndarray]]:
    rng = np.random.default_rng(0)
    ts = T0 + np.arange(n, dtype=np.int64) * 10**9
    dev = np.array([f"r{i % 3}" for i in range(n)])
    ifc = np.array([f"et-0/0/{i}" for i in range(n)])
    cnt = {leaf: rng.integers(0, 2**62, size=n).astype(np.uint64) for leaf in GNMIC_COUNTERS}
    return ts, dev, ifc, cnt


def _rows(res) -> dict[tuple[str, str, str], int]:
    return {(r["device"], r["interface"], r["field"]): r["value_u64"] for r in res.samples.rows()}


def test_gnmic_events_decode_with_every_counter_intact() -> None:
    ts, dev, ifc, cnt = _ports(6)
    res = get_decoder("gnmic", CFG).decode_batch(gnmic_events(ts, dev, ifc, cnt))
    assert not res.rejections
    rows = _rows(res)
    assert len(rows) == 6 * len(GNMIC_COUNTERS)
    assert rows[("r0", "et-0/0/0", "rx_octets")] == int(cnt["in-octets"][0])
    assert rows[("r2", "et-0/0/5", "tx_discards")] == int(cnt["out-discards"][5])
    assert rows[("r1", "et-0/0/4", "tx_unicast_pkts")] == int(cnt["out-unicast-pkts"][4])


def test_influx_lines_64_and_32_bit_decode_and_32_bit_values_wrap() -> None:
    ts, dev, ifc, cnt = _ports(4)
    c32 = np.array([False, True, False, True])
    res = get_decoder("influx", CFG).decode_batch(influx_lines(ts, dev, ifc, cnt, counter32=c32))
    assert not res.rejections
    rows = {(r["device"], r["interface"], r["field"]): (r["value_u64"], r["kind"]) for r in res.samples.rows()}
    assert rows[("r0", "et-0/0/0", "rx_octets")] == (int(cnt["in-octets"][0]), 64)
    assert rows[("r1", "et-0/0/1", "rx_octets")] == (int(cnt["in-octets"][1]) & 0xFFFFFFFF, 32)


def test_goflow2_records_decode_with_sampling_rate_and_addresses() -> None:
    n = 3
    recs = goflow2_records(
        np.full(n, T0), np.array(["192.0.2.1"] * n), np.array(["10.1.0.1", "10.2.0.1", "fd00:0:0:1::5"]),
        np.array(["10.2.0.9", "10.1.0.9", "fd00:0:0:2::9"]), np.array([1500, 64000, 900]), np.array([1, 50, 2]),
        sampling_rate=np.array([1000, 1000, 0]), flow_start_ns=np.full(n, T0 - 10**10), flow_end_ns=np.full(n, T0),
        dscp=np.array([0, 46, 10]), proto=np.array([6, 17, 6]), src_port=np.array([443, 53, 80]),
        dst_port=np.array([50000, 40000, 1234]),
    )
    res = get_decoder("goflow2", CFG).decode_batch(recs)
    assert not res.rejections and len(res.flows) == n


def test_probe_results_decode_and_total_loss_carries_no_delay() -> None:
    res = get_decoder("probe", CFG).decode_batch(probe_results(
        np.array([1.7e9, 1.7e9]), np.array(["r1", "r1"]), np.array(["r2", "r3"]), np.array([0.012, 0.02]),
        np.array([1e-6, 2e-6]), np.array([0.0, 1.0]), np.array([100, 100])))
    assert not res.rejections
    rows = {(r["device"], r["field"]): r["value_f64"] for r in res.samples.rows()}
    assert rows == {("r1->r2", "delay_s"): 0.012, ("r1->r2", "jitter_s2"): 1e-6, ("r1->r2", "loss_ratio"): 0.0,
                    ("r1->r3", "loss_ratio"): 1.0}
