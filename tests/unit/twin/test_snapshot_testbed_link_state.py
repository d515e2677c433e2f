"""A testbed link-down fault, end to end (issue 9): the network under test's collector-format telemetry →
the adapters → :class:`~twin.snapshot.SnapshotBuilder` gives the link state the simulator's ground truth knows.

The shipped Abilene network runs 12 windows of 10 s; a ``link_down`` fault spans windows 4..7 on a link
of the SNMP (Counter32) device, so one end of the cable reports ``ifOperStatus`` through Telegraf's line
protocol and the other ``oper-status`` through gnmic. No ``link_up`` is given to the builder: it reads the
state from the rows. The testbed's devices keep their clock skew (±0.2 s): a sample taken at a window's first
instant by a device whose clock runs early is stamped in the previous window, and the builder's 1 s minimum
down time (``link_state_min_down_s``) keeps that from moving the fault's first window.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest

from twinwatch.telemetry_adapters import CounterState, DecoderConfig, Inventory, get_decoder, normalize
from twinwatch.twin.netmodel import NetworkModel, load_network
from twinwatch.twin.snapshot import SnapshotBuilder
from twinwatch.twin.testbed.faults import Fault
from twinwatch.twin.testbed.run import TOPICS, TestbedConfig, run_testbed

pytestmark = pytest.mark.slow

W = 10.0
FAULT = (40.0, 80.0)  # windows 4..7
CFG = TestbedConfig(duration_s=120.0, window_s=W, seed=5, packets_per_window=5000, malformed_fraction=0.0,
                    counter32_devices=1)


def _legacy_link(model: NetworkModel) -> str:
    """A link of the Counter32 device (the testbed picks the device whose fastest port is the slowest)."""
    fastest = np.zeros(model.n_nodes)
    np.maximum.at(fastest, model.link_src, model.link_capacity_bps)
    np.maximum.at(fastest, model.link_dst, model.link_capacity_bps)
    node = int(np.argsort(fastest, kind="stable")[0])
    return model.link_ids[int(np.flatnonzero(model.link_src == node)[0])]


def _rows(out: Path, model: NetworkModel, fmt: str) -> dict[str, np.ndarray]:
    """The format's topic file through its decoder and the normaliser, as Measurement columns."""
    lines = [ln for ln in (out / "topics" / f"{TOPICS[fmt]}.jsonl").read_bytes().split(b"\n") if ln]
    dec = get_decoder(fmt, DecoderConfig(network=model.name, max_age_s=None, max_future_skew_s=None))
    res = dec.decode_batch(lines)
    assert not res.rejections, res.rejections[:3]
    mb = normalize(res.samples, CounterState(), Inventory.from_dict(model.inventory_dict())).measurements
    return {"ts": mb.ts, "entity_kind": np.asarray(mb.entity_kind), "entity_id": np.asarray(mb.entity_id),
            "kpi": np.asarray(mb.kpi), "value": mb.value, "flags": mb.flags}


def _inferred(model: NetworkModel, cols: dict[str, np.ndarray]) -> np.ndarray:
    """``(windows, E)`` link state the builder infers, window by window (event time, as the service windows)."""
    b = SnapshotBuilder(model)
    out = []
    for k in range(CFG.n_windows):
        start = CFG.start_epoch_s + k * W
        sel = (cols["ts"] >= start) & (cols["ts"] < start + W)
        snap = b.build(start, start + W, {c: v[sel] for c, v in cols.items()})
        assert snap.completeness.link_state_source == "telemetry"
        out.append(~np.isin(model.link_ids, snap.links_down))
    return np.array(out)


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> tuple[NetworkModel, str, Path]:
    model = load_network("abilene")
    link = _legacy_link(model)
    out = tmp_path_factory.mktemp("testbed")
    run_testbed(model, [Fault(kind="link_down", start_s=FAULT[0], end_s=FAULT[1], entities=(link,))], out, CFG)
    return model, link, out


def test_link_down_fault_through_adapters_and_snapshot(run: tuple[NetworkModel, str, Path]) -> None:
    model, link, out = run
    truth = pq.read_table(out / "truth" / "links.parquet").to_pydict()
    k = np.round((np.asarray(truth["window_start"]) - CFG.start_epoch_s) / W).astype(int)
    want = np.ones((CFG.n_windows, model.n_links), dtype=bool)
    want[k, [model.link_index[x] for x in truth["link"]]] = np.asarray(truth["up"], dtype=bool)
    # the ground truth: the cable (both directions) down in windows 4..7 only, every other link up throughout
    fault_windows = np.arange(int(FAULT[0] / W), int(FAULT[1] / W))
    rev = "->".join(reversed(link.split("->")))
    cable = [model.link_index[link], model.link_index[rev]]
    assert (~want[fault_windows][:, cable]).all() and want.sum() == want.size - 2 * fault_windows.size

    gnmic, influx = _rows(out, model, "gnmic"), _rows(out, model, "influx")
    both = {c: np.concatenate([gnmic[c], influx[c]]) for c in gnmic}
    assert np.array_equal(_inferred(model, both), want)
    # each format alone carries it: the SNMP device's end (line protocol ifOperStatus) and the gnmic end
    assert np.isin(influx["kpi"], ["oper_status", "rx_oper_status"]).any()
    for cols in (gnmic, influx):
        got = _inferred(model, cols)
        assert (~got[fault_windows][:, cable]).all()
        assert got[np.setdiff1d(np.arange(CFG.n_windows), fault_windows)].all()


def test_link_state_reaches_the_detectors_through_the_service_pipeline(run: tuple[NetworkModel, str, Path]) -> None:
    """The same topics replayed through the service's pipeline (decode → normalise → windows → snapshot →
    detector, no twin): a ``link_state`` alert fires for each direction of the cable in the fault's first
    window and resolves once the link is reported up again (window 8, closing at 90 s)."""
    from twinwatch.stream.pipeline import Pipeline

    model, link, out = run
    p = Pipeline([model], None, window_s=W, lateness_s=5.0, max_age_s=None, sources=["gnmic", "influx"],
                 idle_s=float("inf"))
    changes = []
    for fmt in ("gnmic", "influx"):
        lines = [ln for ln in (out / "topics" / f"{TOPICS[fmt]}.jsonl").read_bytes().split(b"\n") if ln]
        changes += p.process(lines, fmt).changes
    changes += p.flush().changes
    got = sorted((c.action, c.alert.entity_id, c.alert.start - CFG.start_epoch_s,
                  None if c.alert.end is None else c.alert.end - CFG.start_epoch_s)
                 for c in changes if c.alert.kind == "link_state")
    rev = "->".join(reversed(link.split("->")))
    assert got == sorted([("firing", x, FAULT[0], None) for x in (link, rev)]
                         + [("resolved", x, FAULT[0], FAULT[1] + W) for x in (link, rev)])
