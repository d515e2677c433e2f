"""Property tests: decoders never raise, and nothing vanishes.

For every decoder and any batch of messages (arbitrary bytes, arbitrary JSON
structures, and mutations of the golden inputs), ``decode_batch`` returns
normally and every input message yields at least one sample, flow record or
rejection.
"""

from __future__ import annotations

import os

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from twinwatch.telemetry_adapters import get_decoder, known_formats
from twinwatch.telemetry_adapters.base import DecoderConfig

from ._golden import cases
from .test_schema_conformance import check_flows, check_samples

FORMATS = known_formats()
CFG = DecoderConfig(network="fuzz", now_ns=1_700_000_000_000_000_000, max_message_bytes=64 * 1024)
#: examples per property; raise for a long local fuzz run (TWINWATCH_FUZZ_EXAMPLES=2000)
EXAMPLES = int(os.environ.get("TWINWATCH_FUZZ_EXAMPLES", "40"))
SETTINGS = settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])

_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**63), max_value=2**64 - 1),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=20),
    st.sampled_from(["1", "-1", "NaN", "inf", "1e3", "18446744073709551615", "2023-11-15T05:50:40Z", ""]),
)
_keys = st.one_of(
    st.text(max_size=12),
    st.sampled_from([
        "values", "timestamp", "tags", "interface_name", "source", "update", "prefix", "elem", "name", "key", "val",
        "uintVal", "jsonIetfVal", "metrics", "fields", "telemetry_data", "data_json", "keys", "content",
        "dataGpbkv", "encoding_path", "msg_timestamp", "resourceMetrics", "scopeMetrics", "sum", "gauge",
        "dataPoints", "asInt", "timeUnixNano", "startTimeUnixNano", "bytes", "packets", "src_addr", "dst_addr",
        "time_received_ns", "sampling_rate", "src", "dst", "ts", "delay_s", "loss_ratio",
        "/interfaces/interface/state/counters/in-octets", "in-octets", "bytes-received", "last-clear",
        "ifHCInOctets", "ifInOctets", "interface-name",
    ]),
)  # fmt: skip
_json = st.recursive(
    _scalars,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(_keys, children, max_size=6),
    max_leaves=25,
)


def _encode(v: object) -> bytes:
    try:
        return orjson.dumps(v)
    except TypeError:  # integers beyond 64 bits
        return repr(v).encode()


def _check(fmt: str, messages: list[bytes]) -> None:
    dec = get_decoder(fmt, CFG)
    res = dec.decode_batch(messages)
    assert res.messages == len(messages)
    check_samples(res.samples)
    check_flows(res.flows)
    # nothing vanishes, message by message: a sample, a flow, a rejection or a counted ignore (an explicit
    # 'unknown' link state, DecodeResult.ignored)
    for m in messages:
        one = dec.decode_batch([m])
        assert len(one.samples) + len(one.flows) + len(one.rejections) + sum(one.ignored.values()) >= 1, m[:200]
    assert res.stats.total == len(res.rejections)


@pytest.mark.parametrize("fmt", FORMATS)
@SETTINGS
@given(messages=st.lists(st.binary(max_size=300), min_size=1, max_size=4))
def test_arbitrary_bytes(fmt: str, messages: list[bytes]) -> None:
    _check(fmt, messages)


@pytest.mark.parametrize("fmt", FORMATS)
@SETTINGS
@given(values=st.lists(_json, min_size=1, max_size=4))
def test_arbitrary_json(fmt: str, values: list[object]) -> None:
    _check(fmt, [_encode(v) for v in values])


_GOLDEN = [(c.format, m) for c in cases() for m in c.messages()]


@pytest.mark.parametrize("fmt", FORMATS)
@SETTINGS
@given(data=st.data())
def test_mutated_golden_inputs(fmt: str, data: st.DataObject) -> None:
    pool = [m for f, m in _GOLDEN if f == fmt] or [m for _, m in _GOLDEN]
    msg = bytearray(data.draw(st.sampled_from(pool)))
    for _ in range(data.draw(st.integers(1, 4))):
        op = data.draw(st.sampled_from(["flip", "cut", "insert"]))
        pos = data.draw(st.integers(0, max(len(msg) - 1, 0)))
        if op == "flip" and msg:
            msg[pos] = data.draw(st.integers(0, 255))
        elif op == "cut":
            del msg[pos : pos + data.draw(st.integers(1, 8))]
        else:
            msg[pos:pos] = data.draw(st.sampled_from([b"-", b"\"", b"[", b"}", b"NaN", b"1e999", b"\\", b" ", b"\n"]))
    _check(fmt, [bytes(msg)])


@pytest.mark.parametrize("fmt", FORMATS)
@SETTINGS
@given(values=st.dictionaries(_keys, _json, max_size=6), ts=st.integers(-(2**63), 2**64))
def test_gnmic_like_events(fmt: str, values: dict[str, object], ts: int) -> None:
    ev = {"name": "s", "timestamp": ts, "tags": {"interface_name": "e1", "source": "r1:57400"}, "values": values}
    _check(fmt, [_encode(ev)])
