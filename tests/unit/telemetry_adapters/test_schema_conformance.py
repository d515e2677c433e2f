"""One shared check: every decoder's output conforms to the schema (dtypes, units, nullability, vocab)."""

from __future__ import annotations

import numpy as np
import pytest

from twinwatch.telemetry_adapters import FLOW_SCHEMA, SCHEMA, get_decoder, known_formats
from twinwatch.telemetry_adapters.errors import MAX_RAW_BYTES, Reason
from twinwatch.telemetry_adapters.schema import (
    COUNTER_FIELDS,
    ENTITY_KINDS,
    GAUGE_FIELDS,
    IGP_FIELDS,
    KPIS,
    LINK_STATE_FIELDS,
    SAMPLE_SCHEMA,
    SPEED_FIELDS,
    FlowBatch,
    Kind,
    SampleBatch,
)

from ._golden import Case, cases

CASES = cases()
_REASONS = {r.value for r in Reason}


def check_samples(b: SampleBatch) -> None:
    """Assert ``b`` matches :data:`SAMPLE_SCHEMA` and the field/kind vocabularies."""
    n = len(b)
    for col in SAMPLE_SCHEMA:
        arr = getattr(b, col.name)
        assert isinstance(arr, np.ndarray) and arr.shape == (n,), col.name
        assert arr.dtype == col.dtype, f"{col.name}: {arr.dtype} != {col.dtype}"
        if col.dtype == object and not col.nullable:
            assert all(isinstance(v, str) for v in arr.tolist()), f"{col.name} holds a non-string"
    fields = set(b.field.tolist())
    gauges = set(GAUGE_FIELDS) | set(LINK_STATE_FIELDS) | set(SPEED_FIELDS) | set(IGP_FIELDS)
    assert fields <= set(COUNTER_FIELDS) | gauges, fields
    kinds = set(b.kind.tolist())
    assert kinds <= {k.value for k in Kind}, kinds
    gauge = b.kind == Kind.GAUGE
    assert set(b.field[gauge].tolist()) <= gauges, "gauges"
    state = np.isin(b.field, list(LINK_STATE_FIELDS))
    assert np.isin(b.value_f64[state], [0.0, 1.0]).all(), "link state is 1.0 (up) or 0.0 (down)"
    speed = np.isin(b.field, list(SPEED_FIELDS))
    assert (b.value_f64[speed] > 0).all() and (b.kind[speed] == Kind.GAUGE).all(), "a speed is a gauge, bit/s > 0"
    igp = b.value_f64[np.isin(b.field, list(IGP_FIELDS))]
    assert ((igp >= 1) & (igp <= 2**24 - 1) & (igp == np.floor(igp))).all(), "an IGP metric is an integer 1 .. 2**24-1"
    assert set(b.field[~gauge].tolist()) <= set(COUNTER_FIELDS), "counter rows must carry counter fields"
    assert (b.value_u64[gauge] == 0).all()
    assert np.isfinite(b.value_f64).all()
    counters = ~gauge
    assert (b.value_f64[counters] == b.value_u64[counters].astype(np.float64)).all()
    assert (b.value_u64[b.kind == Kind.COUNTER32] <= 2**32 - 1).all()
    ratio = np.isin(b.field, ["loss_ratio", "utilization", "queue_occupancy"])
    assert ((b.value_f64[ratio] >= 0) & (b.value_f64[ratio] <= 1)).all(), "ratios are 0..1"
    assert (b.value_f64[gauge] >= 0).all(), "delays, variances and ratios are non-negative (SI units)"
    assert (b.epoch_ns[~b.has_epoch] == 0).all(), "no marker: epoch_ns is 0"
    assert (b.ts_ns > 0).all()


def check_flows(f: FlowBatch) -> None:
    """Assert ``f`` matches :data:`FLOW_SCHEMA` (nullability: None / NaN / valid masks)."""
    n = len(f)
    for col in FLOW_SCHEMA:
        arr = getattr(f, col.name)
        assert arr.shape == (n,) and arr.dtype == col.dtype, col.name
        if col.dtype == object:
            for v in arr.tolist():
                assert isinstance(v, str) or (col.nullable and v is None), f"{col.name}: {v!r}"
        elif col.dtype == np.float64 and not col.nullable:
            assert np.isfinite(arr).all(), col.name
    assert f.in_if_valid.dtype == bool and f.out_if_valid.dtype == bool
    assert (f.bytes >= 0).all() and (f.packets >= 0).all() and (f.sampling_rate >= 1).all()


def test_schema_definitions() -> None:
    for schema in (SCHEMA, FLOW_SCHEMA, SAMPLE_SCHEMA):
        assert len(set(schema.names)) == len(schema)
        for col in schema:
            assert isinstance(col.unit, str) and isinstance(col.nullable, bool)
    assert SCHEMA["ts"].unit == "s" and SCHEMA["value"].dtype == np.float64 and SCHEMA["flags"].dtype == np.uint8
    assert set(KPIS) >= set(GAUGE_FIELDS) | set(LINK_STATE_FIELDS) | set(SPEED_FIELDS) | set(IGP_FIELDS)
    assert KPIS["igp_metric"] == "1" and "rx_igp_metric" not in KPIS  # dimensionless; the sending end only
    assert KPIS["speed_bps"] == KPIS["rx_speed_bps"] == "bit/s"
    assert ENTITY_KINDS == ("link", "interface", "path", "node")
    with pytest.raises(KeyError, match="columns are"):
        SCHEMA["nope"]


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_decoder_output_conforms(case: Case) -> None:
    res = get_decoder(case.format, case.config()).decode_batch(case.messages())
    check_samples(res.samples)
    check_flows(res.flows)
    assert set(res.samples.source.tolist()) <= {case.format}
    assert set(res.samples.network.tolist()) <= {"lab"}
    for r in res.rejections:
        assert r.reason in _REASONS and len(r.raw) <= MAX_RAW_BYTES and r.detail
    assert res.stats.total == len(res.rejections)


@pytest.mark.parametrize("fmt", known_formats())
def test_empty_batch(fmt: str) -> None:
    res = get_decoder(fmt).decode_batch([])
    assert len(res.samples) == 0 and len(res.flows) == 0 and res.rejections == [] and res.messages == 0
    check_samples(res.samples)
    check_flows(res.flows)


def test_batches_concat_and_take() -> None:
    case = next(c for c in CASES if c.id == "gnmic/openconfig_array_last_clear")
    b = get_decoder("gnmic", case.config()).decode_batch(case.messages()).samples
    both = SampleBatch.concat([b, b])
    check_samples(both)
    assert len(both) == 2 * len(b) and len(both.take(np.arange(3))) == 3
    assert len(SampleBatch.concat([])) == 0 and len(FlowBatch.concat([])) == 0
