"""The ingest half of the pipeline (decode → dead letters → device clocks → counters → windows), on its own.

The pipeline's and the twin-less replay's tests run it end to end; these pin what it does per batch with
hand-made gnmic messages: every refusal a counted dead letter with its bytes, counters read as rates into the
lane's windows, rows routed to the network that owns their device, a restored counter state used.
"""

from __future__ import annotations

import numpy as np
import orjson
from prometheus_client import CollectorRegistry

from twinwatch.stream.clocks import DeviceClocks
from twinwatch.stream.ingest import Ingest, LaneState
from twinwatch.stream.metrics import ServiceMetrics
from twinwatch.stream.pipeline import WindowBuffer
from twinwatch.telemetry_adapters import CounterState, DecoderConfig

T0 = 1_700_000_000  # epoch s
P = "/interfaces/interface/state/counters/"
DECODING = DecoderConfig(max_age_s=None, max_future_skew_s=None)


def gnmic(device: str, t_s: float, in_octets: int) -> bytes:
    """One gnmic event: ``device``'s interface e1 at ``t_s`` (epoch s) with its in-octets counter."""
    return orjson.dumps({"name": "if", "timestamp": int(t_s * 1e9), "tags": {"source": f"{device}:57400",
                                                                             "interface_name": "e1"},
                         "values": {P + "in-octets": str(in_octets)}})


def lane() -> LaneState:
    return LaneState(None, WindowBuffer(window_s=10.0, lateness_s=5.0, idle_s=float("inf")))


def rows(ln: LaneState) -> dict[str, np.ndarray]:
    """Every buffered row of the lane's windows (closing them all), as one set of columns."""
    got = [cols for _, _, cols in ln.windows.close_ready(force=True) if cols]
    return {k: np.concatenate([c[k] for c in got]) for k in got[0]} if got else {}


def test_refused_messages_become_counted_dead_letters_with_their_bytes() -> None:
    metrics = ServiceMetrics(CollectorRegistry())
    ing = Ingest({"": lane()}, DeviceClocks(None), DECODING, metrics=metrics)
    bad = b'{"timestamp": oops'
    res, dead = ing.decode([gnmic("r1", T0, 100), bad, gnmic("r2", T0, 100)], "gnmic", kafka_ts=[1.0, 2.0, 3.0])
    assert len(res.samples) == 2
    assert [(d.raw, d.whole_message, d.kafka_ts) for d in dead] == [(bad, True, 2.0)]
    value = metrics.registry.get_sample_value
    assert value("twinwatch_messages_total", {"format": "gnmic", "outcome": "accepted"}) == 2
    assert value("twinwatch_messages_total", {"format": "gnmic", "outcome": "rejected"}) == 1
    assert value("twinwatch_dlq_messages_total", {"format": "gnmic", "reason": dead[0].reason}) == 1


def test_counters_reach_the_lane_windows_as_rates() -> None:
    ln = lane()
    ing = Ingest({"": ln}, DeviceClocks(None), DECODING)
    for k in range(4):  # 1,000 bytes every 10 s: 800 bit/s
        res, dead = ing.decode([gnmic("r1", T0 + 10 * k, 1000 * k), gnmic("r2", T0 + 10 * k + 1, 5000 * k)], "gnmic")
        ing.add_samples(res.samples, "gnmic", "gnmic")
        assert not dead
    got = rows(ln)
    rate = {(e, v) for e, v in zip(got["entity_id"].tolist(), got["value"].tolist(), strict=True)}
    assert {v for e, v in rate if e.startswith("r1")} == {800.0}
    assert {v for e, v in rate if e.startswith("r2")} == {4000.0}
    assert ln.generation["counters:gnmic"] == 4


def test_rows_go_to_the_network_that_owns_their_device() -> None:
    lanes = {"a": lane(), "b": lane()}
    ing = Ingest(lanes, DeviceClocks(None), DECODING, device_network={"r1": "a", "r2": "b"})
    for k in range(3):
        res, _ = ing.decode([gnmic(d, T0 + 10 * k, 1000 * k) for d in ("r1", "r2", "r3")], "gnmic")
        ing.add_samples(res.samples, "gnmic", "gnmic")
    got = {name: {e.split(":")[0] for e in rows(ln)["entity_id"].tolist()} for name, ln in lanes.items()}
    assert got == {"a": {"r1"}, "b": {"r2"}}  # r3 belongs to no network: in neither


def test_a_restored_counter_state_is_the_one_read() -> None:
    ln = lane()
    ing = Ingest({"": ln}, DeviceClocks(None), DECODING)
    for k in range(2):
        res, _ = ing.decode([gnmic("r1", T0 + 10 * k, 1000 * k)], "gnmic")
        ing.add_samples(res.samples, "gnmic", "gnmic")
    assert len(rows(ln)["value"]) == 1
    ln.counters = {"gnmic": CounterState()}  # as a restored state replaces it: a fresh one holds no base
    res, _ = ing.decode([gnmic("r1", T0 + 20, 2000)], "gnmic")
    ing.add_samples(res.samples, "gnmic", "gnmic")
    assert rows(ln) == {}  # the new state's first sample is a base, no rate
