"""normalize(): decoder output → Measurement rows with KPIs, entities and rejections."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from twinwatch.telemetry_adapters.counters import CounterState
from twinwatch.telemetry_adapters.errors import Reason
from twinwatch.telemetry_adapters.inventory import Inventory
from twinwatch.telemetry_adapters.normalize import MeasurementBatch, normalize
from twinwatch.telemetry_adapters.schema import SCHEMA, Flag, Kind, SampleBatch, SampleBatchBuilder

S = 10**9
T0 = 1_700_000_000 * S

INV = Inventory.from_dict(
    {
        "links": [
            {"id": "a->b", "src": "a", "dst": "b", "capacity_bps": 1e6,
             "src_interface": "Ethernet1/1", "dst_interface": "xe-0/0/0"},
            {"id": "b->a", "src": "b", "dst": "a", "capacity_bps": 1e6,
             "src_interface": "xe-0/0/0", "dst_interface": "Ethernet1/1"},
        ]
    }
)  # fmt: skip


def add(b: SampleBatchBuilder, dev: str, ifc: str, field: str, t: float, v: float, kind: int = Kind.COUNTER64,
        epoch: float | None = None) -> None:  # fmt: skip
    b.add(dev, ifc, field, T0 + int(t * S), int(v) if kind else 0, float(v), kind,
          0 if epoch is None else T0 + int(epoch * S), epoch is not None, "test", "lab")  # fmt: skip


def rows(res) -> list[tuple]:
    return sorted((r["entity_kind"], r["entity_id"], r["kpi"], r["value"], r["flags"]) for r in res.measurements.rows())


def two_samples(fields: dict[str, tuple[int, int]], dev: str = "a", ifc: str = "Eth1/1") -> SampleBatch:
    b = SampleBatchBuilder()
    for t in (0, 1):
        for f, vals in fields.items():
            add(b, dev, ifc, f, t * 10, vals[t])
    return b.build()


def test_directions_map_to_egress_and_ingress_links() -> None:
    batch = two_samples({"tx_octets": (0, 12_500), "rx_octets": (0, 25_000), "tx_pkts": (0, 100), "rx_pkts": (0, 50)})
    res = normalize(batch, CounterState(), INV)
    assert rows(res) == [
        ("link", "a->b", "tx_bps", 10_000.0, 0),
        ("link", "a->b", "tx_pps", 10.0, 0),
        ("link", "a->b", "utilization", 0.01, 0),
        ("link", "b->a", "rx_bps", 20_000.0, 0),
        ("link", "b->a", "rx_pps", 5.0, 0),
    ]
    assert res.rejections == [] and res.stats["first"] == 4 and res.stats["rate"] == 4
    m = res.measurements
    for c in SCHEMA:
        assert getattr(m, c.name).dtype == c.dtype, c.name
    assert set(m.ts.tolist()) == {T0 / S + 10} and set(m.network.tolist()) == {"lab"}


def test_components_summed_only_without_total() -> None:
    comps = {"rx_unicast_pkts": (0, 100), "rx_multicast_pkts": (0, 20), "rx_broadcast_pkts": (0, 10)}
    res = normalize(two_samples(comps), CounterState(), INV)
    assert rows(res) == [("link", "b->a", "rx_pps", 13.0, 0)]
    res = normalize(two_samples(comps | {"rx_pkts": (0, 500)}), CounterState(), INV)
    assert rows(res) == [("link", "b->a", "rx_pps", 50.0, 0)]
    assert res.stats["superseded_components"] == 3


def test_drops_and_errors_each_have_one_home() -> None:
    f = {"rx_discards": (0, 10), "tx_discards": (0, 30), "rx_errors": (0, 1), "tx_errors": (0, 2)}
    res = normalize(two_samples(f), CounterState(), INV)
    assert rows(res) == [
        ("interface", "a:Ethernet1/1", "drop_pps", 1.0, 0),  # input drops: the device's, not the link's
        ("interface", "a:Ethernet1/1", "error_pps", 0.2, 0),  # transmit errors: the device's
        ("link", "a->b", "drop_pps", 3.0, 0),  # output-queue drops on the egress link
        ("link", "b->a", "error_pps", 0.1, 0),  # receive (CRC) errors: the ingress link's wire
    ]
    # without an inventory rx and tx land on the interface entity and are summed
    res = normalize(two_samples(f), CounterState())
    assert rows(res) == [
        ("interface", "a:Ethernet1/1", "drop_pps", 4.0, 0),
        ("interface", "a:Ethernet1/1", "error_pps", 0.30000000000000004, 0),
    ]
    assert res.stats["merged_rows"] == 2


def test_components_scattered_in_batch_are_still_combined() -> None:
    b = SampleBatchBuilder()
    for t in (0, 10):
        add(b, "a", "Eth1/1", "rx_unicast_pkts", t, t * 10)
        add(b, "b", "xe-0/0/0", "tx_octets", t, t)
    for t in (0, 10):
        add(b, "a", "Eth1/1", "rx_multicast_pkts", t, t * 5)
    res = normalize(b.build(), CounterState(), INV)
    assert ("link", "b->a", "rx_pps", 15.0, 0) in rows(res) and res.stats["reordered"] == 1


def test_component_without_rate_withholds_the_sum() -> None:
    b = SampleBatchBuilder()
    for t in (0, 10):
        add(b, "a", "Eth1/1", "rx_unicast_pkts", t, t * 10)
    add(b, "a", "Eth1/1", "rx_multicast_pkts", 10, 50)  # first sample of this counter: no rate yet
    res = normalize(b.build(), CounterState(), INV)
    assert rows(res) == [] and res.stats["first"] == 2 and res.stats["rate"] == 1


def test_unmapped_interface_is_kept_and_reported_once() -> None:
    res = normalize(two_samples({"tx_octets": (0, 1250), "rx_octets": (0, 0)}, ifc="Gi0/9"), CounterState(), INV)
    assert rows(res) == [("interface", "a:GigabitEthernet0/9", "rx_bps", 0.0, 0),
                         ("interface", "a:GigabitEthernet0/9", "tx_bps", 1000.0, 0)]  # fmt: skip
    assert [r.reason for r in res.rejections] == [Reason.UNMAPPED_ENTITY]
    assert "Gi0/9" in res.rejections[0].detail and res.stats["rejected_unmapped_entity"] == 1


def test_flags_propagate_and_reset_has_no_row() -> None:
    b = SampleBatchBuilder()
    for t, v in [(0, 2**32 - 100), (10, 1150), (20, 100)]:
        add(b, "a", "Ethernet1/1", "tx_octets", t, v, Kind.COUNTER32)
    res = normalize(b.build(), CounterState(), INV)
    # 1250 octets in 10 s wrapped: 1000 bit/s; then 100 < 1150 as Counter32 would be 429 Mbit/s > 1.5 × 1 Mbit/s
    assert rows(res) == [("link", "a->b", "tx_bps", 1000.0, Flag.WRAPPED),
                         ("link", "a->b", "utilization", 0.001, Flag.WRAPPED)]  # fmt: skip
    assert res.stats["reset"] == 1


def test_gauges_paths_and_nodes() -> None:
    b = SampleBatchBuilder()
    add(b, "a->b", "", "delay_s", 0, 0.012, Kind.GAUGE)
    add(b, "a", "", "queue_occupancy", 0, 0.5, Kind.GAUGE)
    add(b, "a", "Ethernet1/1", "utilization", 0, 0.25, Kind.GAUGE)
    res = normalize(b.build(), CounterState(), INV)
    assert rows(res) == [("link", "a->b", "utilization", 0.25, 0), ("node", "a", "queue_occupancy", 0.5, 0),
                         ("path", "a->b", "delay_s", 0.012, 0)]  # fmt: skip


def test_rejections_for_order_and_unknown_fields() -> None:
    state = CounterState()
    normalize(two_samples({"tx_octets": (0, 1250)}), state, INV)
    b = SampleBatchBuilder()
    add(b, "a", "Eth1/1", "tx_octets", 5, 600)  # same spelling as before: counters are keyed by raw names
    add(b, "a", "Eth1/1", "tx_octets", 10, 1250)
    add(b, "a", "Eth1/1", "mystery", 10, 5, Kind.GAUGE)
    add(b, "a", "Eth1/1", "tx_octets", 11, 5, Kind.GAUGE)
    add(b, "a", "Eth1/1", "delay_s", 11, float("nan"), Kind.GAUGE)
    res = normalize(b.build(), state, INV)
    assert sorted(r.reason for r in res.rejections) == [
        Reason.DUPLICATE,
        Reason.NON_FINITE,
        Reason.OUT_OF_ORDER,
        Reason.UNKNOWN_PATH,
        Reason.WRONG_TYPE,
    ]
    assert len(res.measurements) == 0 and res.stats["rejected"] == 5


def test_rejections_are_capped_but_counted() -> None:
    b = SampleBatchBuilder()
    for i in range(50):
        add(b, "a", "Ethernet1/1", "tx_octets", 0, i)
    res = normalize(b.build(), CounterState(), INV, max_rejections=5)
    assert len(res.rejections) == 5 and res.stats["rejected_duplicate"] == 49


def test_empty_batch() -> None:
    res = normalize(SampleBatch.empty(), CounterState(), INV)
    assert len(res.measurements) == 0 and res.rejections == [] and res.stats["rows"] == 0
    assert len(MeasurementBatch.concat([res.measurements, res.measurements])) == 0


FIELDS = ["tx_octets", "rx_octets", "tx_pkts", "rx_unicast_pkts", "rx_multicast_pkts", "tx_discards", "delay_s",
          "bogus"]  # fmt: skip
sample = st.tuples(
    st.sampled_from(["a", "b", "a->b"]),
    st.sampled_from(["Ethernet1/1", "xe-0/0/0", "", "Gi0/1"]),
    st.sampled_from(FIELDS),
    st.integers(0, 50),  # ts seconds
    st.integers(0, 2**64 - 1),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([0, 1, 32, 64, 5]),
    st.one_of(st.none(), st.integers(-5, 60)),
)


@settings(max_examples=150, deadline=None)
@given(st.lists(st.lists(sample, max_size=25), max_size=4), st.booleans())
def test_property_never_raises_and_accounts_for_every_sample(batches: list[list[tuple]], with_inv: bool) -> None:
    state = CounterState()
    for rows_ in batches:
        b = SampleBatchBuilder()
        for dev, ifc, fld, t, vu, vf, kind, ep in rows_:
            b.add(dev, ifc, fld, T0 + t * S, vu, vf, kind, 0 if ep is None else T0 + ep * S, ep is not None, "p", "n")
        batch = b.build()
        res = normalize(batch, state, INV if with_inv else None)
        st_ = res.stats
        assert st_["rows"] == len(batch)
        accounted = st_["rate"] + st_["gauge"] + st_["first"] + st_["reset"] + st_["out_of_order"]
        accounted += st_["duplicate"] + st_["negative"] + st_["bad_kind"]
        assert accounted == len(batch)
        # each row: a first sample (pending), accepted (a measurement or part of one), or one counted
        # rejection (a reset counts as counter_decrease / implausible_rate / counter_reset since issue 14)
        rejected_rows = st_["rejected"] - st_.get("rejected_unmapped_entity", 0)
        assert st_["first"] + st_["accepted"] + rejected_rows == len(batch)
        assert st_["records_in"] == st_["records_out"] + st_["records_rejected"] + st_["records_pending"]
        assert len(res.rejections) == st_["rejected"]  # below the cap every rejection is materialised
        m = res.measurements
        assert len({len(getattr(m, c.name)) for c in SCHEMA}) == 1
        counters = np.isin(m.kpi, ["tx_bps", "rx_bps", "tx_pps", "rx_pps", "drop_pps"])
        assert (m.value[counters] >= 0).all() and np.isfinite(m.value[counters]).all()


def test_snmp_32_and_64_bit_counters_of_one_field_do_not_double_count() -> None:
    # Telegraf's snmp input sends ifTable (Counter32) and ifXTable (Counter64) for the same interface
    b = SampleBatchBuilder()
    for t in (0, 10):
        add(b, "a", "Eth1/1", "rx_octets", t, (t * 1250) % 2**32, Kind.COUNTER32)
        add(b, "a", "Eth1/1", "rx_unicast_pkts", t, t * 10, Kind.COUNTER32)
        add(b, "a", "Eth1/1", "rx_octets", t, t * 1250, Kind.COUNTER64)
        add(b, "a", "Eth1/1", "rx_unicast_pkts", t, t * 10, Kind.COUNTER64)
        add(b, "a", "Eth1/1", "rx_multicast_pkts", t, t * 5, Kind.COUNTER64)
    res = normalize(b.build(), CounterState(), INV)
    assert rows(res) == [("link", "b->a", "rx_bps", 10_000.0, 0), ("link", "b->a", "rx_pps", 15.0, 0)]
    # the two 32-bit rows with a rate, and the first 32-bit component (no rate yet) of t=0
    assert res.stats["duplicate"] == 0 and res.stats["superseded_32bit"] == 3


def test_probe_paths_map_ends_to_nodes() -> None:
    inv = Inventory.from_dict({"devices": {"a": "prober1"}, "prefixes": {"10.0.0.0/24": "b"},
                               "links": [{"src": "a", "dst": "b"}]})  # fmt: skip
    b = SampleBatchBuilder()
    add(b, "prober1->10.0.0.5", "", "delay_s", 0, 0.002, Kind.GAUGE)
    add(b, "prober1->192.0.2.1", "", "delay_s", 0, 0.003, Kind.GAUGE)
    res = normalize(b.build(), CounterState(), inv)
    assert rows(res) == [("path", "a->b", "delay_s", 0.002, 0), ("path", "prober1->192.0.2.1", "delay_s", 0.003, 0)]
    assert [r.reason for r in res.rejections] == [Reason.UNMAPPED_ENTITY]


def test_link_state_reaches_both_links_of_the_port() -> None:
    """A port's oper-status is the state of both links it is an end of (issue 9): its egress link gets
    ``oper_status`` (the link's source end), its ingress link ``rx_oper_status`` (the destination end).
    a:Eth1/1 is the source of a->b and the destination of b->a; b:xe-0/0/0 the other way round."""
    b = SampleBatchBuilder()
    add(b, "a", "Eth1/1", "oper_status", 0, 0.0, Kind.GAUGE)  # a's port down
    add(b, "b", "xe-0/0/0", "oper_status", 0, 1.0, Kind.GAUGE)  # b's port still says up
    add(b, "b", "xe-0/0/0", "admin_status", 0, 1.0, Kind.GAUGE)
    add(b, "c", "et-9", "oper_status", 0, 0.0, Kind.GAUGE)  # not in the inventory
    res = normalize(b.build(), CounterState(), INV)
    assert rows(res) == sorted([
        ("link", "a->b", "oper_status", 0.0, 0), ("link", "b->a", "rx_oper_status", 0.0, 0),
        ("link", "b->a", "oper_status", 1.0, 0), ("link", "a->b", "rx_oper_status", 1.0, 0),
        ("link", "b->a", "admin_status", 1.0, 0), ("link", "a->b", "rx_admin_status", 1.0, 0),
        ("interface", "c:et-9", "oper_status", 0.0, 0),
    ])  # fmt: skip
    # accounting in input records: 4 in, 4 out (the copies are extra measurements, not extra records)
    assert res.stats["records_in"] == res.stats["records_out"] == 4 and res.stats["measurements"] == 7
    assert res.stats["rejected_unmapped_entity"] == 1


def test_link_state_of_a_receive_only_port() -> None:
    """A port that only receives (a one-way link): its state stays on its interface entity and reaches the
    link it receives from as ``rx_oper_status``."""
    inv = Inventory.from_dict({"links": [{"id": "a->b", "src": "a", "dst": "b", "capacity_bps": 1e6,
                                          "src_interface": "Ethernet1/1", "dst_interface": "xe-0/0/0"}]})
    b = SampleBatchBuilder()
    add(b, "b", "xe-0/0/0", "oper_status", 0, 0.0, Kind.GAUGE)
    res = normalize(b.build(), CounterState(), inv)
    assert rows(res) == [("interface", "b:xe-0/0/0", "oper_status", 0.0, 0), ("link", "a->b", "rx_oper_status", 0.0, 0)]
