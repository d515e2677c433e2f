"""Flow records between decoding and the windows: in-window rows, the prior, bounds; the pipeline uses them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from twinwatch.stream.flowbuffer import FlowBuffer
from twinwatch.telemetry_adapters import Inventory
from twinwatch.telemetry_adapters.schema import FlowBatchBuilder
from twinwatch.twin.netmodel import model_from_dict


def _model() -> Any:
    names = "abc"
    doc = {"version": 1, "name": "tri",
           "devices": [{"name": n, "prefixes": [f"10.{i}.0.0/16"], "loopback": {"ipv4": f"172.16.0.{i + 1}"}}
                       for i, n in enumerate(names)],
           "links": [{"a": {"device": x, "interface": f"{x}-{y}"}, "b": {"device": y, "interface": f"{y}-{x}"},
                      "capacity_bps": "1G", "delay_s": 0.001} for x, y in ("ab", "bc", "ca")]}
    return model_from_dict(doc, source="tri")


def _batch(rows: list[tuple[float, float, int, int, float, int]]) -> Any:
    """rows: (flow end s, duration s, src node, dst node, bytes (already sampling-scaled), exporter node)."""
    fb = FlowBatchBuilder()
    for end, dur, s, d, nbytes, exp in rows:
        fb.add(ts=end, duration_s=dur, src_addr=f"10.{s}.1.1", dst_addr=f"10.{d}.2.2", bytes=nbytes,
               packets=nbytes / 1000.0, sampling_rate=100, exporter=f"172.16.0.{exp + 1}", network="tri",
               source="goflow2")
    return fb.build()


def test_routers_exported_past_the_window_give_its_rows_the_others_are_left_to_counters() -> None:
    m = _model()
    buf = FlowBuffer(m, Inventory.from_dict(m.inventory_dict()))
    # a exported [0, 60) at t=60; b's latest export ends at 30 s; c exports nothing
    assert buf.add(_batch([(60.0, 60.0, 0, 1, 6e6, 0), (30.0, 30.0, 1, 2, 3e6, 1)])) == 0
    args = buf.snapshot_args(40.0, 50.0)
    assert args["flow_exporters"].tolist() == [True, False, False]
    assert args["bytes_scaled"] is True
    # only a's record is used (b's records for [40, 50) have not arrived); it is pro-rated by the builder
    assert args["flows"]["src_node"].tolist() == [0] and args["flows"]["exporter_node"].tolist() == [0]
    assert args["flows"]["flow_start_s"].tolist() == [0.0]
    # a window b has also exported past: both rows known
    assert buf.snapshot_args(10.0, 20.0)["flow_exporters"].tolist() == [True, True, False]


def test_until_the_records_arrive_the_latest_ones_are_the_prior() -> None:
    m = _model()
    buf = FlowBuffer(m, Inventory.from_dict(m.inventory_dict()))
    buf.add(_batch([(60.0, 60.0, 0, 1, 6e6, 0), (60.0, 60.0, 2, 0, 1.2e7, 2)]))
    args = buf.snapshot_args(60.0, 70.0)
    assert set(args) == {"prior_bps"}
    prior = args["prior_bps"]
    assert prior.shape == (3, 3, 3)  # (class, src, dst)
    total = prior.sum(axis=0)
    # bytes × 8 over the 60 s the records span: 0.8 and 1.6 Mb/s, in DSCP 0's class (the default one)
    assert total[0, 1] == pytest.approx(8e5) and total[2, 0] == pytest.approx(1.6e6)
    assert prior[int(m.dscp_class[0]), 0, 1] == pytest.approx(8e5)
    # pairs without records stay zero here: the counter fit floors them (matrix_fitted_to_counters)
    assert total[1, 2] == 0.0 and np.all(np.diag(total) == 0)


def test_memory_is_bounded_by_horizon_and_count_and_unmapped_records_are_counted() -> None:
    m = _model()
    buf = FlowBuffer(m, Inventory.from_dict(m.inventory_dict()), horizon_s=100.0, max_records=3)
    buf.add(_batch([(10.0, 10.0, 0, 1, 1e6, 0)]))
    buf.add(_batch([(200.0, 10.0, 0, 1, 1e6, 0), (205.0, 10.0, 1, 0, 1e6, 1)]))
    assert len(buf) == 3  # nothing is dropped until a window closes
    buf.snapshot_args(200.0, 210.0, cutoff=215.0)
    assert len(buf) == 2  # the record that ended at 10 s is more than 100 s older than the window closed
    buf.add(_batch([(216.0, 1.0, 0, 2, 1e6, 0), (217.0, 1.0, 2, 1, 1e6, 2)]))
    assert len(buf) == 3 and buf.overflow == 1  # the newest three: the guard when flows run far ahead
    fb = FlowBatchBuilder()
    fb.add(ts=218.0, src_addr="192.0.2.1", dst_addr="10.1.0.1", bytes=1.0, packets=1.0, sampling_rate=1,
           network="tri", source="goflow2")
    assert buf.add(fb.build()) == 1 and buf.unmapped == 1


def test_a_window_uses_the_records_up_to_its_cutoff_whatever_was_read_beyond_it() -> None:
    """Live, the flow topic may be read far ahead of the counters; replay reads it in step: same arguments."""
    m = _model()
    exports = [_batch([(t, 60.0, 0, 1, 6e6 * (1 + t / 60.0), 0), (t, 60.0, 2, 0, 1.2e7, 2)])
               for t in (60.0, 120.0, 180.0)]
    ahead = FlowBuffer(m, Inventory.from_dict(m.inventory_dict()))
    for b in exports:  # everything read before the first window closes
        ahead.add(b)
    in_step = FlowBuffer(m, Inventory.from_dict(m.inventory_dict()))
    seen = 0
    for start in np.arange(0.0, 170.0, 10.0):
        cutoff = start + 10.0 + 5.0
        while seen < len(exports) and exports[seen].ts[0] <= cutoff:  # only what has ended by the cutoff
            in_step.add(exports[seen])
            seen += 1
        a, b = ahead.snapshot_args(start, start + 10.0, cutoff), in_step.snapshot_args(start, start + 10.0, cutoff)
        assert sorted(a) == sorted(b), start
        for k in a:
            if k == "flows":
                for col in a[k]:
                    np.testing.assert_array_equal(a[k][col], b[k][col])
            else:
                np.testing.assert_array_equal(a[k], b[k])
        if start == 50.0:  # the window that the 60 s export covers to its end comes from flows
            assert a["flow_exporters"].tolist() == [True, False, True]
        if start == 60.0:  # the next export has not ended by 75 s: the 60 s export is the prior
            assert set(a) == {"prior_bps"} and a["prior_bps"][:, 0, 1].sum() == pytest.approx(6e6 * 2 * 8 / 60.0)
    assert ahead.late == 0
    ahead.add(exports[0])  # re-delivered after its windows closed: counted, not used for them
    assert ahead.late == 2


def test_state_arrays_round_trip() -> None:
    m = _model()
    buf = FlowBuffer(m, Inventory.from_dict(m.inventory_dict()))
    buf.add(_batch([(60.0, 60.0, 0, 1, 6e6, 0), (30.0, 30.0, 1, 2, 3e6, 1)]))
    buf.snapshot_args(40.0, 50.0, 55.0)
    buf.add(_batch([(50.0, 10.0, 0, 1, 1e6, 0)]))
    again = FlowBuffer(m, Inventory.from_dict(m.inventory_dict()))
    again.load_state_arrays(buf.state_arrays())
    assert (again.late, again.closed_upto, len(again)) == (1, 55.0, 3)
    a, b = buf.snapshot_args(50.0, 60.0, 65.0), again.snapshot_args(50.0, 60.0, 65.0)
    np.testing.assert_array_equal(a["flow_exporters"], b["flow_exporters"])
    with pytest.raises(ValueError, match="missing"):
        again.load_state_arrays({"__unmapped": np.array([0])})


@pytest.mark.slow
def test_pipeline_takes_the_traffic_matrix_from_flows_when_they_cover_the_window(tmp_path: Path) -> None:
    from twinwatch.stream.pipeline import Pipeline, interleave
    from twinwatch.twin.models import get_model
    from twinwatch.twin.netmodel import load_network
    from twinwatch.twin.testbed.run import TestbedConfig, run_testbed

    # flows exported every 10 s (one window): by the time a window closes most routers have exported it
    run_testbed(load_network("abilene"), [], tmp_path, TestbedConfig(duration_s=240.0, window_s=10.0, seed=3,
                                                                    flow_export_s=10.0))
    streams = {f: [x for x in (tmp_path / "topics" / f"twinwatch.raw.{f}.jsonl").read_bytes().split(b"\n") if x]
               for f in ("gnmic", "probe", "goflow2")}
    model = load_network(str(tmp_path / "network.yaml"))
    pipe = Pipeline([model], get_model("qt"), window_s=10.0, lateness_s=5.0, max_age_s=None)
    windows = []
    for fmt, chunk in interleave(streams, 200):
        windows += pipe.process(chunk, fmt).windows
    windows += pipe.flush().windows
    snaps = [w.snapshot for w in windows if w.snapshot is not None]
    from_flows = [s for s in snaps if s.tm_source in ("flows", "mixed")]
    assert len(from_flows) >= len(snaps) // 2, [s.tm_source for s in snaps]
    # the flow-derived matrix, routed, reproduces the links' counters (sampling 1:N and pro-rating aside)
    errs = []
    for s in from_flows[1:]:
        tx = s.link_kpi("tx_bps")
        load = np.bincount(s.scenario.path_links, minlength=model.n_links,
                           weights=np.repeat(np.bincount(s.scenario.flow_path, weights=s.scenario.flow_rate_bps,
                                                         minlength=s.scenario.n_paths),
                                             np.diff(s.scenario.path_ptr)))
        ok = np.isfinite(tx) & (tx > 1e6)
        errs.append(np.median(np.abs(load[ok] - tx[ok]) / tx[ok]))
    assert np.median(errs) < 0.15, errs
