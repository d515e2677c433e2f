"""The service's durable state (stream/state.py) and the deterministic watermark (WindowBuffer)."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest

from twinwatch.stream.pipeline import Pipeline, WindowBuffer, interleave
from twinwatch.stream.state import FORMAT, StateError, decode, encode, open_rows, part_sizes

FORMATS = ("gnmic", "influx", "probe", "goflow2")


# ----------------------------------------------------------------------------- watermark
def _closed(wb: WindowBuffer) -> list[tuple[float, list[float]]]:
    return [(s, sorted(c["value"].tolist()) if c else []) for s, _, c in wb.close_ready()]


def _feed(order: list[tuple[str, list[float]]]) -> list[tuple[float, list[float]]]:
    wb = WindowBuffer(10.0, 2.0, idle_s=1e9)
    wb.expect(["a", "b"])
    out = []
    for src, ts in order:
        t = np.array(ts)
        wb.add({"ts": t, "value": t}, source=src)
        out += _closed(wb)
    return out


def test_same_windows_whatever_the_order_of_the_sources() -> None:
    # source a runs ahead of b; the windows close only when both have passed their end + lateness,
    # so the rows of every window are the same in both arrival orders
    a = [("a", [1.0, 4.0]), ("a", [11.0, 15.0]), ("a", [22.0, 25.0])]
    b = [("b", [2.0, 9.0]), ("b", [12.0, 19.5]), ("b", [23.0, 29.0])]
    ahead = _feed(a + b)
    interleaved = _feed([x for pair in zip(a, b, strict=True) for x in pair])
    assert ahead == interleaved == [(0.0, [1.0, 2.0, 4.0, 9.0]), (10.0, [11.0, 12.0, 15.0, 19.5])]


def test_first_window_follows_the_earliest_source() -> None:
    # b's first rows are older than a's: before anything closed they are not late
    wb = WindowBuffer(10.0, 2.0, idle_s=1e9)
    wb.expect(["a", "b"])
    wb.add({"ts": np.array([31.0]), "value": np.array([1.0])}, source="a")
    assert wb.add({"ts": np.array([5.0]), "value": np.array([2.0])}, source="b") == 0
    assert wb.next_index == 0 and wb.late_rows == 0


def test_a_caught_up_source_does_not_hold_the_watermark() -> None:
    wb = WindowBuffer(10.0, 2.0, idle_s=1e9)
    wb.expect(["a", "b"])
    wb.add({"ts": np.array([1.0, 25.0]), "value": np.array([1.0, 2.0])}, source="a")
    assert wb.watermark == -np.inf  # b has sent nothing yet: it holds the watermark back
    wb.set_caught_up("b", True)  # b was read to its end without a row: it cannot send an older row
    assert wb.watermark == 23.0
    assert [s for s, _, _ in wb.close_ready()] == [0.0, 10.0]
    wb.set_caught_up("b", False)
    wb.add({"ts": np.array([30.0]), "value": np.array([3.0])}, source="b")
    assert wb.watermark == 23.0  # min(a: 25, b: 30) - 2
    wb.set_caught_up("a", True)  # a has rows: read to its end or not, more may come: it still holds
    assert wb.watermark == 23.0


# ----------------------------------------------------------------------------- container
def test_blob_round_trip_and_refusals() -> None:
    blob = encode({"offsets": {"t:0": 7}}, {("n", "windows", ""): b"\x00\x01", ("n", "counters", "gnmic"): b"c"})
    meta, parts = decode(blob)
    assert meta["format"] == FORMAT and meta["offsets"] == {"t:0": 7}
    assert parts == {("n", "windows", ""): b"\x00\x01", ("n", "counters", "gnmic"): b"c"}
    with pytest.raises(StateError, match="not a twinwatch state"):
        decode(b"garbage")
    buf = io.BytesIO()
    np.savez(buf, meta=np.frombuffer(b'{"format": "twinwatch.state/9", "parts": []}', dtype=np.uint8))
    other = buf.getvalue()
    with pytest.raises(StateError, match=r"format 'twinwatch\.state/9'"):
        decode(other)


# ----------------------------------------------------------------------------- a pipeline
@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from twinwatch.twin.netmodel import load_network
    from twinwatch.twin.testbed.faults import Fault
    from twinwatch.twin.testbed.run import TestbedConfig, run_testbed

    out = tmp_path_factory.mktemp("tb")
    plan = [Fault(kind="link_down", start_s=300.0, end_s=400.0, entities=("LOSAng->SNVAng",))]
    run_testbed(load_network("abilene"), plan, out, TestbedConfig(duration_s=600.0, window_s=10.0, seed=5))
    return out


def _pipeline(run_dir: Path) -> Pipeline:
    from twinwatch.twin.models import load_model
    from twinwatch.twin.netmodel import load_network

    return Pipeline([load_network(str(run_dir / "network.yaml"))], load_model("qt", None), window_s=10.0,
                    lateness_s=5.0, max_age_s=None, sources=FORMATS, idle_s=float("inf"),
                    detection={"warmup_windows": 3})


@pytest.mark.slow
def test_restored_pipeline_continues_exactly(run_dir: Path) -> None:
    """Stop half-way (an open window holding rows), restore the state into a new pipeline, go on: the alert
    changes and the expected records are those of the uninterrupted run."""
    streams = {f: [x for x in (run_dir / "topics" / f"twinwatch.raw.{f}.jsonl").read_bytes().split(b"\n") if x]
               for f in FORMATS}
    order = interleave(streams, 300)
    ref = _pipeline(run_dir)
    ref_out = [ref.process(m, f) for f, m in order]
    half = len(order) // 2
    first = _pipeline(run_dir)
    got = [first.process(m, f) for f, m in order[:half]]
    blob = first.state({"offsets": {"x:0": half}})
    assert open_rows(blob)["abilene"] > 0, "the cut must fall inside an open window"
    sizes = part_sizes(blob)["abilene"]
    assert {"counters", "detector", "windows", "model"} <= set(sizes)
    assert len(blob) < 200_000  # bounded: Abilene's whole state compresses to tens of kB
    second = _pipeline(run_dir)
    assert second.restore(blob)["offsets"] == {"x:0": half}
    got += [second.process(m, f) for f, m in order[half:]]

    def changes(outs: list) -> list[tuple[str, str, float | None]]:  # type: ignore[type-arg]
        return [(c.alert.id, c.action, c.alert.observed) for o in outs for c in o.changes]

    def windows(outs: list) -> list[tuple[float, int, str]]:  # type: ignore[type-arg]
        return [(w.start, w.rows, w.outcome) for o in outs for w in o.windows]

    assert any(a == "firing" for _, a, _ in changes(ref_out)), "the link going down must raise an alert"
    assert changes(got) == changes(ref_out)
    assert windows(got) == windows(ref_out)


def test_restore_refuses_another_network(run_dir: Path) -> None:
    from twinwatch.twin.netmodel import load_network

    blob = _pipeline(run_dir).state()
    other = Pipeline([load_network("nsfnet")], None, window_s=10.0, lateness_s=5.0)
    with pytest.raises(StateError, match=r"network\(s\) \['abilene'\]"):
        other.restore(blob)


def test_detector_counters_and_sets_survive_and_configuration_does_not_come_from_the_state() -> None:
    from twinwatch.detectors.twin_detector import TwinDetector
    from twinwatch.stream.state import _detector_parts, _detector_restore
    from twinwatch.twin.netmodel import load_network

    det = TwinDetector(load_network("abilene"), alpha=0.01)
    det.windows = 100_000  # more than one byte: ints must not go through int.to_bytes
    det._down = {3, 5}
    parts, scalars = _detector_parts(det)
    fresh = TwinDetector(load_network("abilene"), alpha=0.05)
    _detector_restore(fresh, parts, scalars, "test")
    assert fresh.windows == 100_000 and fresh._down == {3, 5}
    assert fresh.alpha == 0.05  # the configuration wins over the state
