"""goflow2 decoder: the ``dscp`` column (ToS byte >> 2), its fallbacks and its rejections (issue 9)."""

from __future__ import annotations

from typing import Any

import numpy as np
import orjson
import pytest

from twinwatch.stream.flowbuffer import FlowBuffer
from twinwatch.telemetry_adapters import Inventory, get_decoder
from twinwatch.telemetry_adapters.base import DecoderConfig
from twinwatch.telemetry_adapters.goflow2 import TOS_FIELDS, dscp_of
from twinwatch.telemetry_adapters.schema import FLOW_SCHEMA, FlowBatch
from twinwatch.twin.netmodel import model_from_dict

T_NS = 1_681_583_300_000_000_000
BASE: dict[str, Any] = {"type": "IPFIX", "time_received_ns": T_NS, "time_flow_start_ns": T_NS - 10**10,
                        "time_flow_end_ns": T_NS, "sampling_rate": 0, "sampler_address": "172.16.0.1",
                        "bytes": 1500, "packets": 1, "src_addr": "10.1.0.1", "dst_addr": "10.2.0.1", "proto": 17}


def _decode(*recs: dict[str, Any]) -> Any:
    dec = get_decoder("goflow2", DecoderConfig(network="lab", max_age_s=None, max_future_skew_s=None))
    return dec.decode_batch([orjson.dumps({**BASE, **r}) for r in recs])


# The ToS byte is DSCP (6 high bits) then ECN (2 low bits), RFC 2474 / RFC 3168: the DSCP is the byte >> 2,
# whatever the ECN bits say.
@pytest.mark.parametrize(("fields", "dscp"), [
    ({"ip_tos": 0xB8}, 46),              # goflow2 v2: EF (101110 00)
    ({"ip_tos": 0xBB}, 46),              # EF with ECN CE (11): ECN does not change the class
    ({"ip_tos": 0x88}, 34),              # AF41
    ({"IPTos": 0x28}, 10),               # goflow v1 / goflow2 v1 protobuf name: AF11
    ({"tos": 0x48}, 18),                 # NetFlow v5's name / a goflow2 -mapping rename: AF21
    ({"dscp": 26, "ip_tos": 0}, 26),     # an explicit DSCP wins over the byte
    ({"ip_tos": 0xFF}, 63),              # the largest byte: DSCP 63
    ({"ip_tos": "184"}, 46),             # a decimal string, as the other integer fields accept
    ({"ip_tos": 184.0}, 46),             # an integral float
    ({}, 0),                             # no ToS at all: best effort
    ({"ip_tos": None}, 0),               # null: best effort
    ({"ip_tos": None, "IPTos": 0xB8}, 46),  # a null v2 field falls through to the v1 one
])  # fmt: skip
def test_dscp_is_the_tos_byte_without_the_ecn_bits(fields: dict[str, Any], dscp: int) -> None:
    assert dscp_of(fields) == dscp
    res = _decode(fields)
    assert not res.rejections, [r.detail for r in res.rejections]
    assert res.flows.dscp.dtype == np.uint8 and res.flows.dscp.tolist() == [dscp]


@pytest.mark.parametrize(("fields", "reason", "words"), [
    ({"ip_tos": 256}, "out_of_range", ["ip_tos 256", "0..255"]),
    ({"IPTos": -4}, "out_of_range", ["IPTos -4", "0..255"]),
    ({"tos": "-1"}, "out_of_range", ["tos '-1'", "0..255"]),
    ({"dscp": 64}, "out_of_range", ["dscp 64", "0..63", "6 bits"]),
    ({"ip_tos": "EF"}, "wrong_type", ["ip_tos 'EF'"]),
    ({"ip_tos": 4.5}, "wrong_type", ["ip_tos 4.5"]),
    ({"ip_tos": True}, "wrong_type", ["ip_tos True"]),
    ({"ip_tos": [184]}, "wrong_type", ["ip_tos [184]"]),
])  # fmt: skip
def test_a_tos_out_of_range_rejects_the_record_naming_field_and_rule(fields: dict[str, Any], reason: str,
                                                                     words: list[str]) -> None:
    res = _decode(fields, {"ip_tos": 0xB8})  # the good record after it is kept
    assert res.flows.dscp.tolist() == [46]
    assert [r.reason for r in res.rejections] == [reason]
    detail = res.rejections[0].detail
    assert all(w in detail for w in words), detail
    assert detail.startswith("message 0:"), detail


def test_dscp_column_is_in_the_schema_and_survives_concat_and_the_inventory() -> None:
    col = FLOW_SCHEMA["dscp"]
    assert col.dtype == np.uint8 and not col.nullable
    res = _decode({"ip_tos": 0xB8}, {"IPTos": 0x28}, {})
    both = FlowBatch.concat([res.flows, FlowBatch.empty(), res.flows])
    assert both.dscp.dtype == np.uint8 and both.dscp.tolist() == [46, 10, 0] * 2
    mapped, _ = Inventory(prefixes={"10.1.0.0/16": "a", "10.2.0.0/16": "b"}).map_flows(both)
    assert mapped.dscp.tolist() == [46, 10, 0] * 2 and mapped.src_node.tolist() == ["a"] * 6
    assert [r["dscp"] for r in res.flows.rows()] == [46, 10, 0]
    assert TOS_FIELDS == ("ip_tos", "IPTos", "tos")


def test_flowbuffer_hands_the_dscp_to_the_snapshot_which_splits_the_matrix_by_class() -> None:
    from twinwatch.twin.snapshot import SnapshotBuilder

    doc = {"version": 1, "name": "duo",
           "devices": [{"name": "a", "prefixes": ["10.1.0.0/16"], "loopback": {"ipv4": "172.16.0.1"}},
                       {"name": "b", "prefixes": ["10.2.0.0/16"], "loopback": {"ipv4": "172.16.0.2"}}],
           "links": [{"a": {"device": "a", "interface": "e1"}, "b": {"device": "b", "interface": "e1"},
                      "capacity_bps": "1G", "delay_s": 0.001}],
           "tos_classes": [{"name": "voice", "class": 0, "dscp": [46]}, {"name": "data", "class": 1, "dscp": [10]},
                           {"name": "be", "class": 2, "dscp": [0], "default": True}]}
    model = model_from_dict(doc, source="duo")
    buf = FlowBuffer(model, Inventory.from_dict(model.inventory_dict()))
    # 10 s records a → b: 1.25 MB EF, 2.5 MB AF11, 5 MB unmarked = 1, 2 and 4 Mb/s; b → a (exported by b,
    # so both routers' rows come from flows): 1.25 MB AF41 = 1 Mb/s
    res = _decode({"ip_tos": 0xB8, "bytes": 1_250_000}, {"IPTos": 0x28, "bytes": 2_500_000}, {"bytes": 5_000_000},
                  {"ip_tos": 0x88, "bytes": 1_250_000, "src_addr": "10.2.0.5", "dst_addr": "10.1.0.5",
                   "sampler_address": "172.16.0.2"})
    assert buf.add(res.flows) == 0
    start = (T_NS - 10**10) / 1e9
    args = buf.snapshot_args(start, start + 10.0)
    assert args["flows"]["dscp"].tolist() == [46, 10, 0, 34]
    snap = SnapshotBuilder(model).build(start, start + 10.0, {"entity_kind": [], "entity_id": [], "kpi": [],
                                                             "value": []}, **args)
    assert snap.tm_source == "flows"
    assert snap.traffic.rate_bps[:, 0, 1] == pytest.approx([1e6, 2e6, 4e6])
    assert snap.traffic.rate_bps[:, 1, 0] == pytest.approx([0.0, 0.0, 1e6])  # AF41 is not listed: best effort
