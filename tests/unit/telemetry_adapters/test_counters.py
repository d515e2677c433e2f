"""Counter semantics: wraps, resets, discontinuities, ordering, gaps, deltas, eviction, persistence."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from twinwatch.telemetry_adapters.counters import (
    RESET_CAUSES,
    STATUS_NAMES,
    CounterConfig,
    CounterState,
    CounterStateError,
    Status,
)
from twinwatch.telemetry_adapters.schema import Flag, Kind, SampleBatch, SampleBatchBuilder

S = 10**9  # ns per second
T0 = 1_700_000_000 * S


def batch(rows: Sequence[tuple], *, field: str = "rx_octets", kind: int = Kind.COUNTER64) -> SampleBatch:
    """Rows are ``(t_s, value)`` or ``(t_s, value, epoch_s)`` or full ``(dev, ifc, field, t_s, value, kind, epoch)``."""
    b = SampleBatchBuilder()
    for r in rows:
        if len(r) == 7:
            dev, ifc, fld, t, v, k, ep = r
        else:
            dev, ifc, fld, k = "r1", "Ethernet1", field, kind
            t, v = r[0], r[1]
            ep = r[2] if len(r) > 2 else None
        ts = T0 + int(t * S)
        b.add(dev, ifc, fld, ts, int(v), float(v), int(k), 0 if ep is None else T0 + int(ep * S), ep is not None,
              "test", "lab")  # fmt: skip
    return b.build()


def names(res) -> list[str]:
    return [STATUS_NAMES[s] for s in res.status]


def test_first_sample_then_exact_rate() -> None:
    res = CounterState().update(batch([(0, 1000), (10, 13_500)]))
    assert names(res) == ["first", "rate"]
    assert math.isnan(res.rate[0])
    assert res.rate[1] == 10_000.0  # 12_500 octets * 8 / 10 s
    assert res.flags.tolist() == [0, 0]


def test_packets_are_per_second_not_times_eight() -> None:
    res = CounterState().update(batch([(0, 0), (4, 10)], field="tx_pkts"))
    assert res.rate[1] == 2.5


def test_counter32_wrap() -> None:
    top = 2**32 - 1000
    res = CounterState().update(batch([(0, top), (10, 250)], kind=Kind.COUNTER32))
    assert names(res) == ["first", "rate"]
    assert res.flags[1] == Flag.WRAPPED
    assert res.rate[1] == (1000 + 250) * 8 / 10


def test_counter32_implausible_wrap_is_reset() -> None:
    # a reboot of a device with 32-bit counters: the value falls to near zero
    res = CounterState().update(batch([(0, 2_000_000_000), (10, 5)], kind=Kind.COUNTER32), max_rate=np.full(2, 1e8))
    assert names(res) == ["first", "reset"]
    assert res.flags[1] == Flag.RESET
    assert math.isnan(res.rate[1])


def test_counter32_wrap_under_interface_speed_is_a_wrap() -> None:
    res = CounterState().update(batch([(0, 2**32 - 10), (10, 5)], kind=Kind.COUNTER32), max_rate=np.full(2, 1e9))
    assert res.flags[1] == Flag.WRAPPED and res.rate[1] == 15 * 8 / 10


def test_counter32_on_a_port_that_could_wrap_it_twice_gives_no_rate() -> None:
    # 10 Gb/s port x 1.5 headroom, 10-s samples: 2**32 B in 10 s is only 3.4 Gb/s, so an increment of d bytes
    # could as well be d + 2**32 (or + 2 * 2**32): the number of wraps is unknown
    rows = [(0, 2**32 - 1000), (10, 3_000_000_000), (20, 1_000_000_000), (21, 1_300_000_000)]
    res = CounterState().update(batch(rows, kind=Kind.COUNTER32), max_rate=np.full(4, 1.5e10))
    assert names(res) == ["first", "reset", "reset", "rate"]
    assert [RESET_CAUSES[c] for c in res.cause[1:3]] == ["ambiguous", "ambiguous"]
    assert np.isnan(res.rate[:3]).all() and not (res.flags[1:3] & Flag.RESET).any()  # no device reset
    # polled every second, 2**32 B would be 34 Gb/s, above the bound: the increment is unique
    assert res.rate[3] == 300_000_000 * 8 / 1
    # the packet counters of the same port stay unique (22 Mpps x 10 s < 2**32)
    pk = CounterState().update(batch([(0, 10), (10, 10**8)], field="rx_unicast_pkts", kind=Kind.COUNTER32),
                               max_rate=np.full(2, 1.5e10 / 672))  # fmt: skip
    assert names(pk) == ["first", "rate"]


def test_counter32_without_a_port_speed_keeps_the_single_wrap_reading() -> None:
    # the absurd-rate bound (CounterConfig.max_bps) says nothing about the port: no ambiguity is claimed
    res = CounterState().update(batch([(0, 2**32 - 1000), (10, 3_000_000_000)], kind=Kind.COUNTER32))
    assert names(res) == ["first", "rate"] and res.flags[1] == Flag.WRAPPED


def test_counter64_decrease_is_reset_never_wrap() -> None:
    res = CounterState().update(batch([(0, 2**64 - 100), (10, 50), (20, 1050)]))
    assert names(res) == ["first", "reset", "rate"]
    assert res.flags.tolist() == [Flag.RESET * 0, Flag.RESET, 0]
    assert res.rate[2] == 800.0


def test_absurd_positive_increment_is_reset() -> None:
    state = CounterState(CounterConfig(max_bps=1e12))
    res = state.update(batch([(0, 0), (1, 10**15)]))
    assert names(res) == ["first", "reset"] and res.flags[1] == Flag.RESET


def test_reset_via_last_clear_after_previous_sample_uses_value_since_clear() -> None:
    # cleared at t=15 (epoch changes 0 -> 15); at t=20 the counter reads 500 octets since the clear
    res = CounterState().update(batch([(0, 1000, 0), (10, 2000, 0), (20, 500, 15)]))
    assert names(res) == ["first", "rate", "rate"]
    assert res.flags[2] == Flag.RESET
    assert res.rate[2] == 500 * 8 / 5


def test_reset_via_discontinuity_time_before_previous_sample_gives_no_rate() -> None:
    # discontinuity-time moves but lies before the previous sample: no interval to measure
    res = CounterState().update(batch([(0, 1000, -100), (10, 2000, -100), (20, 3000, 5)]))
    assert names(res) == ["first", "rate", "reset"]
    assert res.flags[2] == Flag.RESET


def test_reboot_boot_time_change_with_higher_value_is_still_reset() -> None:
    # after a reboot the counter may climb above its old value within one interval: only the epoch tells
    res = CounterState().update(batch([(0, 1000, -3600), (60, 2000, -3600), (120, 90_000, 100)]))
    assert names(res) == ["first", "rate", "rate"]
    assert res.flags[2] == Flag.RESET
    assert res.rate[2] == 90_000 * 8 / 20


def test_epoch_jitter_within_tolerance_is_not_reset() -> None:
    res = CounterState().update(batch([(0, 1000, -3600), (10, 2250, -3599)]))
    assert names(res) == ["first", "rate"] and res.flags[1] == 0 and res.rate[1] == 1000.0


def test_out_of_order_across_batches_is_dropped() -> None:
    state = CounterState()
    state.update(batch([(0, 0), (10, 1000)]))
    res = state.update(batch([(5, 500), (20, 2000)]))
    assert names(res) == ["out_of_order", "rate"]
    assert res.rate[1] == 800.0  # measured from t=10, the out-of-order sample left no trace


def test_a_clock_set_back_rebases_the_counter_instead_of_dropping_until_it_catches_up() -> None:
    """One sample stamped a day ahead (a device clock that ran ahead, then NTP set it back)."""
    state = CounterState()
    state.update(batch([(0, 0), (10, 1000), (86_400, 2000)]))
    res = state.update(batch([(20, 2000), (30, 3000)]))
    assert names(res) == ["reset", "rate"] and RESET_CAUSES[res.cause[0]] == "clock_step"
    assert res.flags[0] == Flag.RESET and res.rate[1] == 800.0
    # the eviction clock (``now``) told by the caller: a sample a day older than its counter's last, that last one
    # on the caller's time, is out of order (a late message), not a clock set back
    late = CounterState()
    late.update(batch([(0, 0), (86_400, 1000)]))
    res = late.update(batch([(20, 500)]), now_ns=T0 + 86_400 * S)
    assert names(res) == ["out_of_order"]
    # a small step back (under clock_step_s, 60 s) stays out of order; so does any, with the rule turned off
    small = CounterState()
    small.update(batch([(0, 0), (50, 1000)]))
    assert names(small.update(batch([(20, 500)]))) == ["out_of_order"]
    off = CounterState(CounterConfig(clock_step_s=0.0))
    off.update(batch([(0, 0), (86_400, 1000)]))
    assert names(off.update(batch([(20, 500)]))) == ["out_of_order"]


def test_a_clock_set_back_inside_one_batch_rebases_once_at_the_step() -> None:
    """A device 120 s ahead, set back mid-batch. Sorted by time alone, the corrected samples (stamped 40, 50)
    came before the ones still stamped ahead (130, 140) and the later corrected ones (60, 70) after them: a
    decrease and a 0-s interval's implausible rate. In arrival order at the step, one re-base and rates again."""
    state = CounterState()
    state.update(batch([(0, 0), (10, 1000)]), now_ns=T0 + 10 * S)
    rows = [(130, 2000), (140, 3000), (40, 4000), (50, 5000), (60, 6000), (70, 7000)]
    res = state.update(batch(rows), now_ns=T0 + 70 * S)
    assert names(res) == ["rate", "rate", "reset", "rate", "rate", "rate"]
    assert RESET_CAUSES[res.cause[2]] == "clock_step"
    assert res.rate[3:].tolist() == [800.0, 800.0, 800.0] and res.rate[1] == 800.0
    # arrival order decides only at a step: an unsorted batch with no step is still taken in time order
    again = CounterState()
    again.update(batch([(0, 0)]))
    assert names(again.update(batch([(130, 2000), (120, 1000)]), now_ns=T0 + 130 * S)) == ["rate", "rate"]
    # nor when the counter's newest is within the rule's 60 s of now (a late sample, not a clock set back)
    late = CounterState()
    late.update(batch([(0, 0)]))
    res = late.update(batch([(200, 2000), (100, 1000), (210, 2100)]), now_ns=T0 + 210 * S)
    assert names(res) == ["rate", "rate", "rate"]


def test_a_counter_that_went_on_while_the_time_went_back_is_a_clock_set_back_whatever_the_step() -> None:
    """A device 30 s ahead (under the 60-s rule) set back: the next samples are older than the counter's last
    but their values higher. Before session 43 they were dropped as out of order until the clock caught up,
    and the first one after it gave a rate over 30 s of traffic in a few seconds (here 7 × the real rate)."""
    state = CounterState()
    state.update(batch([(0, 0), (40, 1000)]), now_ns=T0 + 10 * S)  # stamped 30 s ahead: really at 10 s
    res = state.update(batch([(15, 1500), (25, 2500), (35, 3500), (45, 4500)]), now_ns=T0 + 45 * S)
    assert names(res) == ["reset", "rate", "rate", "rate"] and RESET_CAUSES[res.cause[0]] == "clock_step"
    assert res.rate[1:].tolist() == [800.0, 800.0, 800.0]
    # inside one batch: the same, once
    one = CounterState()
    one.update(batch([(0, 0)]), now_ns=T0)
    res = one.update(batch([(40, 1000), (15, 1500), (25, 2500), (35, 3500), (45, 4500)]), now_ns=T0 + 45 * S)
    assert names(res) == ["rate", "reset", "rate", "rate", "rate"] and res.rate[2:].tolist() == [800.0] * 3
    # a late sample holds a lower value: still out of order; so is a step within the timestamps' jitter (2 s)
    late = CounterState()
    late.update(batch([(0, 0), (40, 4000)]))
    assert names(late.update(batch([(30, 3000)]))) == ["out_of_order"]
    jitter = CounterState()
    jitter.update(batch([(0, 0), (40, 4000)]))
    assert names(jitter.update(batch([(39, 4100)]))) == ["out_of_order"]
    # a new discontinuity epoch: a reset, not a clock set back (value comparisons across it mean nothing)
    cleared = CounterState()
    cleared.update(batch([(0, 0, -100), (40, 4000, -100)]))
    assert names(cleared.update(batch([(30, 9000, 20)]))) == ["out_of_order"]
    # gauges and deltas have no order in their values: only the 60-s rule applies to them
    delta = CounterState()
    delta.update(batch([(0, 10), (40, 10)], kind=Kind.DELTA))
    assert names(delta.update(batch([(30, 50)], kind=Kind.DELTA))) == ["out_of_order"]


def test_a_clock_that_jumps_ahead_gives_no_rate_over_the_jump() -> None:
    """The device's clock jumps 300 s ahead of the others (``now``): the interval up to its first sample after the
    jump holds the jump, not traffic (the rate would read 10 s of traffic as 310 s of it), so that sample re-bases
    the counter; the next ones give rates again."""
    state = CounterState()
    state.update(batch([(0, 0), (10, 1000)]), now_ns=T0 + 10 * S)
    res = state.update(batch([(320, 2000), (330, 3000)]), now_ns=T0 + 20 * S)
    assert names(res) == ["reset", "rate"] and RESET_CAUSES[res.cause[0]] == "clock_step" and res.rate[1] == 800.0
    # a counter silent for 300 s whose device's clock is with the others' still gets its rate over the gap
    gap = CounterState()
    gap.update(batch([(0, 0)]), now_ns=T0)
    res = gap.update(batch([(300, 30_000)]), now_ns=T0 + 300 * S)
    assert names(res) == ["rate"] and res.rate[0] == 800.0


def test_unsorted_batch_is_processed_in_time_order() -> None:
    res = CounterState().update(batch([(20, 2000), (0, 0), (10, 1000)]))
    assert names(res) == ["rate", "first", "rate"]
    assert res.rate.tolist()[0] == 800.0 and res.rate.tolist()[2] == 800.0


def test_duplicates_dropped_in_batch_and_across() -> None:
    state = CounterState()
    res = state.update(batch([(0, 0), (0, 0), (10, 1000)]))
    assert names(res) == ["first", "duplicate", "rate"]
    res = state.update(batch([(10, 1000)]))
    assert names(res) == ["duplicate"]


def test_gap_flag_after_missing_samples() -> None:
    rows = [(t, t * 100) for t in (0, 10, 20, 30, 80, 90)]
    res = CounterState().update(batch(rows))
    assert res.flags.tolist() == [0, 0, 0, 0, Flag.GAP, 0]
    assert res.rate[4] == 800.0  # the rate over the gap is still given


def test_otlp_delta_with_start_time() -> None:
    # delta temporality: each point is an increment over [start, ts]
    res = CounterState().update(batch([(10, 1250, 0), (20, 2500, 10)], kind=Kind.DELTA))
    assert names(res) == ["rate", "rate"]
    assert res.rate.tolist() == [1000.0, 2000.0]


def test_otlp_delta_without_start_time_uses_previous_sample() -> None:
    res = CounterState().update(batch([(0, 99), (10, 1250)], kind=Kind.DELTA))
    assert names(res) == ["first", "rate"] and res.rate[1] == 1000.0


def test_negative_delta_rejected() -> None:
    b = batch([(0, 0, -10), (10, 0, 0)], kind=Kind.DELTA)
    b.value_f64[1] = -5.0
    res = CounterState().update(b)
    assert names(res) == ["rate", "negative"]


def test_gauges_pass_through_untouched() -> None:
    b = batch([(0, 0)], field="delay_s", kind=Kind.GAUGE)
    b.value_f64[0] = 0.0125
    state = CounterState()
    res = state.update(b)
    assert names(res) == ["gauge"] and res.rate[0] == 0.0125 and len(state) == 0


def test_unknown_kind_is_reported() -> None:
    res = CounterState().update(batch([(0, 1)], kind=7))
    assert names(res) == ["bad_kind"]


def test_keys_are_independent() -> None:
    rows = [
        ("r1", "Ethernet1", "rx_octets", 0, 0, 64, None),
        ("r2", "Ethernet1", "rx_octets", 0, 10**6, 64, None),
        ("r1", "Ethernet1", "tx_octets", 0, 5, 64, None),
        ("r1", "Ethernet1", "rx_octets", 10, 1250, 64, None),
        ("r2", "Ethernet1", "rx_octets", 10, 10**6 + 2500, 64, None),
        ("r1", "Ethernet1", "tx_octets", 10, 5, 64, None),
    ]
    res = CounterState().update(batch(rows))
    assert res.rate.tolist()[3:] == [1000.0, 2000.0, 0.0]


def test_ttl_eviction_forgets_idle_counters() -> None:
    state = CounterState(CounterConfig(ttl_s=100.0))
    state.update(batch([("r1", "e1", "rx_octets", 0, 0, 64, None), ("r2", "e1", "rx_octets", 0, 0, 64, None)]))
    state.update(batch([("r1", "e1", "rx_octets", 150, 10, 64, None)]))
    state.update(batch([("r1", "e1", "rx_octets", 200, 20, 64, None)]))
    assert state.evictions == 1 and len(state) == 1
    res = state.update(batch([("r2", "e1", "rx_octets", 210, 10, 64, None)]))
    assert names(res) == ["first"]


def test_lru_cap_bounds_the_state() -> None:
    state = CounterState(CounterConfig(max_counters=50), capacity=16)
    for t in range(5):
        rows = [(f"r{t}", f"e{i}", "rx_octets", t, i, 64, None) for i in range(40)]
        state.update(batch(rows))
    assert len(state) <= 50
    assert state.evictions == 5 * 40 - len(state)
    # the most recent device is still tracked
    res = state.update(batch([("r4", "e0", "rx_octets", 10, 1250, 64, None)]))
    assert names(res) == ["rate"]


def test_slots_grow_and_are_reused() -> None:
    state = CounterState(capacity=16)
    rows = [(f"r{i % 7}", f"e{i}", "rx_octets", 0, i, 64, None) for i in range(5000)]
    state.update(batch(rows))
    assert len(state) == 5000
    rows = [(f"r{i % 7}", f"e{i}", "rx_octets", 10, i + 1250, 64, None) for i in range(5000)]
    res = state.update(batch(rows))
    assert (res.rate == 1000.0).all()


def test_save_restore_mid_stream_equals_uninterrupted(tmp_path) -> None:
    rng = np.random.default_rng(7)
    rows = []
    for t in range(0, 200, 10):
        for i in range(30):
            v = int(t * 1000 * (i + 1) + rng.integers(0, 100))
            ep = 0 if t < 120 or i % 3 else 115  # some counters cleared mid-stream
            rows.append((f"r{i % 4}", f"Ethernet1/{i}", "rx_octets", t, v if ep == 0 else v // 7, 64, ep))
    full = batch(rows)
    whole = CounterState().update(full)
    half = len(rows) // 2
    a = CounterState()
    first = a.update(full.take(np.arange(half)))
    path = tmp_path / "state.npz"
    a.save(path)
    b = CounterState.load(path)
    second = b.update(full.take(np.arange(half, len(rows))))
    np.testing.assert_array_equal(np.concatenate([first.rate, second.rate]), whole.rate)
    np.testing.assert_array_equal(np.concatenate([first.flags, second.flags]), whole.flags)


def test_load_rejects_garbage(tmp_path) -> None:
    p = tmp_path / "bad.npz"
    p.write_bytes(b"not a zip")
    with pytest.raises(CounterStateError, match="cannot read counter state"):
        CounterState.load(p)


def test_counts_cover_every_row() -> None:
    res = CounterState().update(batch([(0, 0), (0, 0), (10, 100), (5, 1)]))
    assert sum(res.counts().values()) == 4
    # in one batch a late sample is sorted into place, not dropped
    assert res.counts()["duplicate"] == 1 and res.counts()["rate"] == 2 and res.counts()["out_of_order"] == 0


def test_status_codes_match_names() -> None:
    assert STATUS_NAMES[Status.OUT_OF_ORDER] == "out_of_order"
    assert STATUS_NAMES[Status.GAUGE] == "gauge"


def test_config_validation() -> None:
    with pytest.raises(CounterStateError, match="gap_factor"):
        CounterConfig(gap_factor=0.5)


def test_memory_per_counter_is_small() -> None:
    state = CounterState()
    rows = [(f"r{i // 100}", f"Ethernet1/{i % 100}", "rx_octets", 0, 1, 64, None) for i in range(20_000)]
    state.update(batch(rows))
    assert state.memory_bytes() / len(state) < 300


def test_fixed_width_and_odd_name_columns() -> None:
    b = batch([(0, 0), (10, 1250)])
    b.device = np.array(["r1", "r1"])  # NumPy unicode instead of object
    b.interface = np.array([None, None], dtype=object)  # a decoder bug: interned as "None", not a crash
    state = CounterState()
    res = state.update(b)
    assert names(res) == ["first", "rate"] and res.rate[1] == 1000.0
    assert state.names(int(res.key[0])) == ("r1", "None", "rx_octets")


def test_counter32_and_counter64_of_one_field_are_separate_counters() -> None:
    rows = [("r1", "e1", "rx_octets", t, v, k, None) for t in (0, 10) for v, k in ((t * 125, 32), (t * 250, 64))]
    res = CounterState().update(batch(rows))
    assert names(res) == ["first", "first", "rate", "rate"]
    assert res.rate.tolist()[2:] == [1000.0, 2000.0]


_row = st.tuples(
    st.integers(0, 3),  # counter
    st.integers(0, 40),  # ts, seconds
    st.integers(0, 2**64 - 1),
    st.one_of(st.none(), st.integers(-5, 45)),  # epoch
)


@settings(max_examples=100, deadline=None)
@given(st.lists(_row, max_size=60), st.integers(1, 6), st.randoms(use_true_random=False))
def test_property_split_into_batches_gives_same_result(rows: list[tuple], n_chunks: int, rnd) -> None:
    """Feeding samples in time order in one batch or in several gives identical outcomes."""
    kinds = (Kind.COUNTER64, Kind.COUNTER32, Kind.DELTA, Kind.COUNTER64)
    full = [(f"r{c % 2}", f"e{c}", "rx_octets", t, v % 2**32 if kinds[c] == 32 else v, kinds[c], ep)
            for c, t, v, ep in sorted(rows, key=lambda r: r[1])]  # fmt: skip
    b = batch(full)
    b.value_f64[:] = np.where(b.kind == Kind.DELTA, b.value_u64 % 10_000, b.value_f64)
    whole = CounterState().update(b)
    cuts = sorted(rnd.sample(range(len(full) + 1), min(n_chunks, len(full) + 1)))
    state = CounterState()
    parts = [state.update(b.take(np.arange(a, z))) for a, z in zip([0, *cuts], [*cuts, len(full)])]
    np.testing.assert_array_equal(np.concatenate([p.status for p in parts]), whole.status)
    np.testing.assert_array_equal(np.concatenate([p.flags for p in parts]), whole.flags)
    np.testing.assert_array_equal(np.concatenate([p.rate for p in parts]), whole.rate)
    assert np.isnan(whole.rate[whole.status != Status.RATE]).all()
    assert (whole.rate[whole.status == Status.RATE] >= 0).all()


def test_name_table_is_bounded_and_never_raises(tmp_path) -> None:
    """A feed of ever-new device and interface names: ids are recycled (their counters evicted), no raise."""
    from twinwatch.telemetry_adapters.inventory import Inventory
    from twinwatch.telemetry_adapters.normalize import normalize

    state = CounterState(CounterConfig(max_names=4))
    inv = Inventory.from_dict({"links": []})
    for r in range(30):
        rows = [("keep", "Ethernet1", "rx_octets", 10 * r, 1000 * r, Kind.COUNTER64, None)]
        rows += [(f"dev{r}", f"Eth{r}", "rx_octets", 10 * r, 5, Kind.COUNTER64, None)]
        b = batch(rows)
        res = state.update(b)
        assert names(res) == (["first"] if r == 0 else ["rate"]) + ["first"]
        if r:
            assert res.rate[0] == pytest.approx(800.0)  # the kept counter never lost its state
        assert len(state._devices) <= 4 and len(state._interfaces) <= 4
        nres = normalize(b, state, inv)  # its entity cache is keyed by ids: dropped on recycling
        assert set(nres.measurements.entity_id.tolist()) <= {"keep:Ethernet1", f"dev{r}:Eth{r}"}
    assert state._devices.recycled > 0 and state.evictions > 0
    state.save(tmp_path / "s.npz")
    again = CounterState.load(tmp_path / "s.npz")
    nxt = batch([("keep", "Ethernet1", "rx_octets", 300, 30_000, Kind.COUNTER64, None), ("new", "e", "rx_octets", 300,
                 1, Kind.COUNTER64, None)])  # fmt: skip
    assert names(again.update(nxt)) == names(state.update(nxt)) == ["rate", "first"]
    assert sorted(n for n in again._devices.names if n) == sorted(n for n in state._devices.names if n)


def test_name_table_grows_past_soft_cap_within_one_batch() -> None:
    """All names of one batch stay distinct even when the batch alone has more than ``max_names``."""
    state = CounterState(CounterConfig(max_names=2))
    rows = [(f"d{i}", "e", "rx_octets", 0, i, Kind.COUNTER64, None) for i in range(5)]
    state.update(batch(rows))
    res = state.update(batch([(d, e, f, 10, v + 80, k, ep) for d, e, f, _, v, k, ep in rows]))
    assert names(res) == ["rate"] * 5 and res.rate.tolist() == [64.0] * 5
