"""The service's durable state (stream/state.py) and the deterministic watermark (WindowBuffer)."""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pytest

from twinwatch.detectors.conformal import ConformalCalibrator
from twinwatch.detectors.probe_loss import ProbeLossScan
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
    assert {"counters", "detector", "windows", "model", "links"} <= set(sizes)
    assert len(blob) < 200_000  # bounded: Abilene's whole state compresses to tens of kB
    second = _pipeline(run_dir)
    assert second.restore(blob)["offsets"] == {"x:0": half}

    def clocks(p: Pipeline) -> dict[str, dict[str, float]]:  # each source's device clocks
        return {src: c.latest for src, c in p.networks["abilene"].windows._clocks.items()}

    assert clocks(second) == clocks(first) and len(clocks(first)) == len(FORMATS) - 1  # goflow2 has none
    # what the snapshot builder remembers of each link end (latest link-state and speed reports) came back too
    mem1, mem2 = (p.networks["abilene"].builder.memory_arrays() for p in (first, second))
    assert np.isfinite(mem1["state_ts"]).any()
    assert all(np.array_equal(mem1[k], mem2[k], equal_nan=k != "link_ids") for k in mem1)
    got += [second.process(m, f) for f, m in order[half:]]

    def changes(outs: list) -> list[tuple[str, str, float | None]]:  # type: ignore[type-arg]
        return [(c.alert.id, c.action, c.alert.observed) for o in outs for c in o.changes]

    def windows(outs: list) -> list[tuple[float, int, str]]:  # type: ignore[type-arg]
        return [(w.start, w.rows, w.outcome) for o in outs for w in o.windows]

    assert any(a == "firing" for _, a, _ in changes(ref_out)), "the link going down must raise an alert"
    assert changes(got) == changes(ref_out)
    assert windows(got) == windows(ref_out)


def _changed_model(run_dir: Path, tmp_path: Path) -> tuple[object, list[str]]:
    """The run's network with one cable removed and one probe added (an operator's edit): the model and the
    two removed directed links' ids."""
    import yaml

    from twinwatch.twin.netmodel import document, load_network

    doc = document(load_network(str(run_dir / "network.yaml")))
    cable = next(c for c in doc["links"] if {c["a"]["device"], c["b"]["device"]} == {"ATLAng", "HSTNng"})
    doc["links"].remove(cable)
    doc["probes"].append({"name": "ATLAng-SNVAng", "src": "ATLAng", "dst": "SNVAng", "rate_pps": 10,
                          "size_bytes": 128, "dscp": 0})
    (tmp_path / "network.yaml").write_text(yaml.safe_dump(doc, sort_keys=False))
    return load_network(str(tmp_path / "network.yaml")), ["ATLAng->HSTNng", "HSTNng->ATLAng"]


@pytest.mark.slow
def test_a_changed_network_model_keeps_the_state_of_every_remaining_entity(run_dir: Path, tmp_path: Path) -> None:
    """The service restarts with an edited network model (a cable removed, a probe added): the state restores,
    every link, node and probe still in the model keeps what it learned, the new probe starts fresh, the
    removed links' state is dropped and an alert open on one of them resolves at the next window."""
    from twinwatch.detectors.alerts import Alert
    from twinwatch.twin.models import load_model

    streams = {f: [x for x in (run_dir / "topics" / f"twinwatch.raw.{f}.jsonl").read_bytes().split(b"\n") if x]
               for f in FORMATS}
    order = interleave(streams, 300)
    half = len(order) // 2
    first = _pipeline(run_dir)
    for f, m in order[:half]:
        first.process(m, f)
    old = first.networks["abilene"].detector
    model, removed = _changed_model(run_dir, tmp_path)
    stale = Alert.open(network="abilene", entity_kind="link", entity_id=removed[0], kpi="loss_ratio", start=1.0,
                       kind="degradation")
    old.book.fire([stale])
    blob = first.state({"offsets": {"x:0": half}})

    second = Pipeline([model], load_model("qt", None), window_s=10.0, lateness_s=5.0, max_age_s=None,
                      sources=FORMATS, idle_s=float("inf"), detection={"warmup_windows": 3})
    meta = second.restore(blob)
    new = second.networks["abilene"].detector
    e, n, k = old.model.n_links, old.model.n_nodes, old.model.n_probes
    assert meta["model_changes"]["abilene"] == {"link": {"kept": e - 2, "new": 0, "dropped": 2},
                                                "node": {"kept": n, "new": 0, "dropped": 0},
                                                "probe": {"kept": k, "new": 1, "dropped": 0}}
    assert new.windows == old.windows > 0
    for lid in ("LOSAng->SNVAng", "NYCMng->WASHng"):
        i, j = old.model.link_index[lid], new.model.link_index[lid]
        for kpi in ("utilization", "tx_bps"):
            np.testing.assert_array_equal(new._link[kpi].cal._var[j], old._link[kpi].cal._var[i])
            assert new._link[kpi].pers._hist[j] == old._link[kpi].pers._hist[i]
        assert new._routed_ref._routed[j] == old._routed_ref._routed[i] or np.isnan(old._routed_ref._routed[i])
    for name in old.model.probe_names:
        i, j = old.model.probe_names.index(name), new.model.probe_names.index(name)
        np.testing.assert_array_equal(new._probe_scan._healthy[:, j], old._probe_scan._healthy[:, i])
    assert (new._probe_scan._healthy[:, -1] == 0).all() and not new._probe_pers.active[-1]
    a, b = old.model.node_names.index("NYCMng"), old.model.node_names.index("SNVAng")
    np.testing.assert_array_equal(new._path["delay_s"].cal._var[a * n + b], old._path["delay_s"].cal._var[a * n + b])

    outs = [second.process(m, f) for f, m in order[half:]]
    assert sum(len(o.windows) for o in outs) > 10  # the service goes on with the new model
    gone = [c for o in outs for c in o.changes if c.alert.id == stale.id]
    assert [c.action for c in gone] == ["resolved"]
    assert not [c for o in outs for c in o.changes if c.alert.entity_id in removed and c.action == "firing"]
    # the state written now is the new model's, and restores into it without renumbering
    assert second.restore(second.state({"offsets": {"x:0": len(order)}}))["model_changes"] == {}


def test_a_record_without_entity_names_of_another_shape_is_refused(run_dir: Path) -> None:
    """A record of an older build names no entities: when the model's shape changed it cannot be renumbered,
    and the error says so (same shape: read as before)."""
    meta, parts = decode(_pipeline(run_dir).state())
    model = json.loads(parts[("abilene", "model", "")])
    assert set(model) == {"links", "nodes", "names"}
    unnamed = {k: v for k, v in model.items() if k != "names"}
    parts[("abilene", "model", "")] = json.dumps(unnamed).encode()
    assert _pipeline(run_dir).restore(encode(meta, parts))["model_changes"] == {}
    parts[("abilene", "model", "")] = json.dumps({**unnamed, "links": unnamed["links"] + 2}).encode()
    with pytest.raises(StateError, match=r"written for \d+ nodes / \d+ links, .* does not name its entities"):
        _pipeline(run_dir).restore(encode(meta, parts))


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


def test_detector_state_that_starts_at_never_survives_a_restart() -> None:
    # the windows of the last fault, surge and flow export start at a "never" sentinel, not zero, and the
    # export gaps are a deque: a restart in the middle of a traffic hold keeps the hold
    from twinwatch.detectors.twin_detector import TwinDetector
    from twinwatch.stream.state import _detector_parts, _detector_restore
    from twinwatch.twin.netmodel import load_network

    det = TwinDetector(load_network("abilene"), alpha=0.01)
    det.windows, det._last_fault_window, det._surge_window, det._flow_window = 500, 497, 480, 498
    det._flow_gaps.extend([6, 6, 5])
    parts, scalars = _detector_parts(det)
    fresh = TwinDetector(load_network("abilene"), alpha=0.01)
    assert fresh._last_fault_window < 0 and not fresh._flow_gaps
    _detector_restore(fresh, parts, scalars, "test")
    assert (fresh.windows, fresh._last_fault_window, fresh._surge_window, fresh._flow_window) == (500, 497, 480, 498)
    assert list(fresh._flow_gaps) == [6, 6, 5] and fresh._flow_gaps.maxlen == det._flow_gaps.maxlen
    assert fresh._flow_span == 6
    # a record whose value for such state has another type is refused by name, not restored into a crash later
    bad = {**scalars, "_flow_gaps": 6}
    with pytest.raises(StateError, match="_flow_gaps"):
        _detector_restore(TwinDetector(load_network("abilene"), alpha=0.01), parts, bad, "test")


def test_a_calibrators_decision_settings_come_from_this_build_and_its_data_from_the_state() -> None:
    """A state saved by a build whose ingress test had empirical tails restores into one with a fitted tail: the
    pool and per-entity statistics are the saved ones, ``tail_fit`` is this build's (``BUILD_SETTINGS``)."""
    from twinwatch.detectors.twin_detector import TwinDetector
    from twinwatch.stream.state import _detector_parts, _detector_restore
    from twinwatch.twin.netmodel import load_network

    old = TwinDetector(load_network("abilene"), alpha=0.01)
    cal = old._node["ingress_bps"].cal
    cal.tail_fit = 0.0  # as an earlier build made it
    rng = np.random.default_rng(3)
    for _ in range(40):
        cal.update(rng.normal(20.0, 0.1, cal.n_entities))
    parts, scalars = _detector_parts(old)
    fresh = TwinDetector(load_network("abilene"), alpha=0.01)
    built = fresh._node["ingress_bps"].cal.tail_fit
    assert built > 0
    _detector_restore(fresh, parts, scalars, "test")
    got = fresh._node["ingress_bps"].cal
    assert got.tail_fit == built
    assert got.to_bytes() != cal.to_bytes()  # the setting differs ...
    assert np.array_equal(got._pool, cal._pool) and np.array_equal(got._mean, cal._mean)  # ... the data do not
    far = np.full(cal.n_entities, 25.0)
    assert np.nanmax(got.p_values(far)) < np.nanmin(cal.p_values(far))  # and the build's rule reads them


# ----------------------------------------------------------------------------- format 2, the cache, old records
DATA = Path(__file__).parent / "data"


def _content(part: bytes) -> object:
    """What a part holds: an npz part as ``{array: (dtype, shape, bytes)}`` (an npz archive also carries the
    time it was written, so two archives of the same arrays differ in bytes; format-2 columns are stored
    byte-shuffled), any other part as its bytes."""
    from twinwatch.stream.state import _unpack

    if part[:4] == b"PK\x03\x04":
        return {k: (v.dtype.str, v.shape, v.tobytes()) for k, v in _unpack(part).items()}
    return part


def _counters_view(part: bytes, like: bytes) -> object:
    """What a counter-state part holds, its saved config reduced to the settings ``like``'s has: a later build may
    add settings (``clock_step_s``, session 42), whose defaults are what an older record restores with."""
    from twinwatch.stream.state import _unpack

    arrays = {k: (v.dtype.str, v.shape, v.tobytes()) for k, v in _unpack(part).items() if k != "meta"}
    meta = json.loads(str(_unpack(part)["meta"]))
    known = json.loads(str(_unpack(like)["meta"]))["config"]
    meta["config"] = {k: v for k, v in meta["config"].items() if k in known}
    return arrays, meta


def _contents(blob: bytes) -> tuple[dict, dict]:  # type: ignore[type-arg]
    meta, parts = decode(blob)
    keep = {k: v for k, v in meta.items() if k not in ("format", "codec", "written_at")}
    return keep, {k: _content(v) for k, v in parts.items()}


V1 = DATA / "state_v1_abilene.npz"
"""Written by the version-1 encoder of commit 2e25d3a (the whole archive deflated at level 6, columns not shuffled;
the detectors as that release built them) with ``data/make_state_v1.py``: the bundled Abilene model fed 3/4 of a
240 s testbed run (seed 5, every format, a link down at 120-180 s), 17 windows closed, 1,953 flow records and 922
rows of unfinished windows held."""


def _v1_pipeline() -> Pipeline:
    from twinwatch.twin.models import load_model
    from twinwatch.twin.netmodel import document, load_network, model_from_dict

    # the network the record was written for: Abilene with its first 8 probes (the planned ones came later;
    # a record of another probe set is refused, test_a_record_of_another_network_shape_is_refused)
    doc = document(load_network("abilene"))
    doc["probes"] = doc["probes"][:8]
    return Pipeline([model_from_dict(doc, source="abilene")], load_model("qt", None), window_s=10.0, lateness_s=5.0,
                    max_age_s=None, sources=FORMATS, idle_s=float("inf"), detection={"warmup_windows": 3})


def test_version_1_container_and_columns_still_read() -> None:
    """The parts this module encodes itself (counters, open windows, flow records, model shape) of a version-1
    record load, and encoded again in format 2 they hold the same arrays."""
    from twinwatch.stream.state import (
        _counters_from_bytes,
        _counters_to_bytes,
        _flows_to_bytes,
        _unpack,
        _windows_restore,
        _windows_to_bytes,
    )

    old = V1.read_bytes()
    meta, parts = decode(old)
    assert meta["format"] == "twinwatch.state/1" and meta["offsets"] == {"twinwatch.raw.gnmic:0": 1234}
    net = _v1_pipeline().networks["abilene"]
    _windows_restore(net.windows, parts[("abilene", "windows", "")], "test")
    net.flows.load_state_arrays(_unpack(parts[("abilene", "flows", "")]))
    assert len(net.flows) == 1953 and int(sum(w.size for w in net.windows._chunk_win)) == 922
    assert _content(_windows_to_bytes(net.windows)) == _content(parts[("abilene", "windows", "")])
    assert _content(_flows_to_bytes(net.flows)) == _content(parts[("abilene", "flows", "")])
    for fmt in ("gnmic", "influx", "probe"):
        old_part = parts[("abilene", "counters", fmt)]
        again = _counters_to_bytes(_counters_from_bytes(old_part))
        assert _counters_view(again, old_part) == _counters_view(old_part, old_part)
    assert decode(encode({}, parts))[1] == parts  # format 2 carries the same parts


def test_a_version_1_record_still_restores() -> None:
    """The whole version-1 record (``V1``) restores into this build, detectors included, and the state written
    again (now format 2) holds exactly the same parts and meta."""
    old = V1.read_bytes()
    meta_v1, _ = decode(old)
    assert meta_v1["format"] == "twinwatch.state/1"
    pipe = _v1_pipeline()
    meta = pipe.restore(old)
    assert meta["offsets"] == {"twinwatch.raw.gnmic:0": 1234}
    net = pipe.networks["abilene"]
    assert len(net.flows) == 1953 and sorted(net.counters) == ["gnmic", "influx", "probe"]
    again = pipe.state({"offsets": meta["offsets"], "group": meta["group"]})
    assert decode(again)[0]["format"] == FORMAT == "twinwatch.state/2"
    assert open_rows(again) == open_rows(old) == {"abilene": 922}
    # everything the old record held comes back unchanged; this build may add state of its own (here the
    # detectors' persistence rings and per-family levels, which the version-1 detectors did not keep)
    (meta_new, parts_new), (meta_old, parts_old) = _contents(again), _contents(old)
    assert set(parts_old) <= set(parts_new)
    # a probe scan comes back with nothing named (the version-1 scan did not keep it); a calibrator of the old
    # record comes back in this build's layout (tail bins beyond z_max, its overflow mass
    # in the outermost slots: the same p-values) and with this build's decision settings (BUILD_SETTINGS: the
    # per-node tests' fitted tails): equal to the old blob read, given those settings and written by this build
    changed = {k for k in parts_old if parts_new[k] != parts_old[k]}
    raw_old, raw_new = decode(old)[1], decode(again)[1]
    # the counter states come back with this build's settings added to their config (and nothing else changed)
    for k in [k for k in changed if k[1] == "counters"]:
        assert _counters_view(raw_new[k], raw_old[k]) == _counters_view(raw_old[k], raw_old[k])
        changed.discard(k)

    def as_built(k: tuple[str, str, str]) -> object:
        if k[-1] == "_probe_scan":  # this build's scan also keeps which probes' loss an alert named: none yet
            return _content(ProbeLossScan.from_bytes(raw_old[k]).to_bytes())
        cal, built = ConformalCalibrator.from_bytes(raw_old[k]), ConformalCalibrator.from_bytes(raw_new[k])
        for name in ConformalCalibrator.BUILD_SETTINGS:
            setattr(cal, name, getattr(built, name))
        return _content(cal.to_bytes())
    # the model part now also names the entities (so that a later model change can be carried over)
    model = ("abilene", "model", "")
    assert json.loads(raw_old[model]) == {k: v for k, v in json.loads(decode(again)[1][model]).items() if k != "names"}
    changed.discard(model)
    assert changed and all(as_built(k) == parts_new[k] for k in changed)
    for net_name, scalars in meta_old["detector_scalars"].items():
        assert {k: meta_new["detector_scalars"][net_name].get(k) for k in scalars} == scalars
    assert set(map(tuple, meta_old["parts"])) <= set(map(tuple, meta_new["parts"]))
    assert {k: v for k, v in meta_new.items() if k not in ("detector_scalars", "parts")} == \
        {k: v for k, v in meta_old.items() if k not in ("detector_scalars", "parts")}


def test_a_record_of_another_network_shape_is_refused() -> None:
    """The record's Abilene had 8 probes; restored into today's Abilene (planned probes) the detectors' per-probe
    state cannot be carried over, and the error says so instead of mis-assigning it."""
    from twinwatch.stream.state import StateError
    from twinwatch.twin.models import load_model
    from twinwatch.twin.netmodel import load_network

    pipe = Pipeline([load_network("abilene")], load_model("qt", None), window_s=10.0, lateness_s=5.0,
                    max_age_s=None, sources=FORMATS, idle_s=float("inf"), detection={"warmup_windows": 3})
    with pytest.raises(StateError, match=r"has 8 entities, the network model \d+: the model changed"):
        pipe.restore(V1.read_bytes())


def test_codecs_round_trip_and_a_corrupt_part_is_named() -> None:
    from twinwatch.stream.state import _encode_compressed

    parts = {("n", "windows", ""): bytes(range(256)) * 40, ("n", "model", ""): b'{"links": 2}'}
    for codec in ("zlib", "none"):
        meta, got = decode(encode({"offsets": {"t:0": 1}}, parts, codec=codec))
        assert meta["codec"] == codec and got == parts
    assert len(encode({}, parts)) < len(encode({}, parts, codec="none"))  # zlib does compress
    with pytest.raises(ValueError, match="state codec 'lz9'"):
        encode({}, parts, codec="lz9")
    with pytest.raises(StateError, match="does not inflate"):
        decode(_encode_compressed({}, {("n", "windows", ""): b"not deflated"}, "zlib"))
    with pytest.raises(StateError, match="codec 'lz9'"):
        decode(_encode_compressed({}, {("n", "windows", ""): b"x"}, "lz9"))


def test_packed_columns_round_trip_exactly() -> None:
    """Byte-shuffled columns come back bit for bit: every dtype the state stores, empty and 2-D arrays, NaN and
    infinities; a layout naming a dtype that is neither numeric nor Unicode is refused."""
    from twinwatch.stream.state import _pack, _u8, _unpack

    rng = np.random.default_rng(0)
    cols = {"ts": 1.7e9 + rng.random(1000), "i": rng.integers(-5, 2**40, 1000), "u8": np.arange(7, dtype=np.uint8),
            "f32": np.array([np.nan, np.inf, -0.0], dtype=np.float32), "s": np.array(["a->b", "ATLAng->WASHng", ""]),
            "empty": np.empty(0), "m": rng.random((3, 4)), "flag": np.array([True, False]), "scalar": np.array(3.0)}
    got = _unpack(_pack(cols))
    assert set(got) == set(cols)
    for k, v in cols.items():
        assert got[k].dtype == v.dtype and got[k].shape == v.shape and got[k].tobytes() == v.tobytes(), k
    buf = io.BytesIO()
    np.savez(buf, x=np.zeros(8, np.uint8), __shuffled=_u8(b'{"x": ["|O", [1]]}'))
    with pytest.raises(StateError, match=r"column 'x' has dtype '\|O'"):
        _unpack(buf.getvalue())


@pytest.mark.slow
def test_parts_reused_from_the_cache_equal_a_fresh_encode(run_dir: Path) -> None:
    """``Pipeline.state()`` reuses the compressed detector, counter and flow parts that did not change since its
    previous call; at every checkpoint of a run (after every batch, as with ``state.interval_s: 0``) the blob holds
    exactly what an encode from scratch holds, and the cache is actually used (else the test proves nothing)."""
    streams = {f: [x for x in (run_dir / "topics" / f"twinwatch.raw.{f}.jsonl").read_bytes().split(b"\n") if x]
               for f in FORMATS}
    order = interleave(streams, 300)
    pipe = _pipeline(run_dir)
    reused: dict[str, int] = {"detector": 0, "counters": 0, "flows": 0, "model": 0}
    checkpoints = 0
    for i, (fmt, msgs) in enumerate(order[: len(order) * 2 // 3]):
        pipe.process(msgs, fmt)
        before = dict(pipe.state_cache)
        cached = pipe.state({"offsets": {"x:0": i}})
        for key, entry in pipe.state_cache.items():
            reused[key[1]] += entry is before.get(key)
        pipe.state_cache.clear()
        assert _contents(cached)[1] == _contents(pipe.state({"offsets": {"x:0": i}}))[1], f"batch {i}"
        checkpoints += 1
    assert checkpoints > 20 and all(n > 0 for n in reused.values()), reused
    assert reused["detector"] < checkpoints  # windows closed in between: the detector part was re-encoded


def test_state_interval_is_configured_and_validated() -> None:
    from twinwatch.stream.config import ConfigError, load_config

    assert load_config(None, env={}).state.interval_s == 5.0
    assert load_config(None, env={"TWINWATCH_STATE__INTERVAL_S": "0"}).state.interval_s == 0.0
    with pytest.raises(ConfigError, match=r"state\.interval_s: -1\.0 must be between 0 .* and 300 seconds"):
        load_config(None, env={"TWINWATCH_STATE__INTERVAL_S": "-1"})


def test_an_unreadable_links_part_is_refused_by_name() -> None:
    from twinwatch.stream.pipeline import Pipeline
    from twinwatch.stream.state import _compress, _encode_compressed, _pack, encode_pipeline
    from twinwatch.twin.models import load_model
    from twinwatch.twin.netmodel import load_network

    pipe = Pipeline([load_network("abilene")], load_model("qt", None), window_s=10.0, lateness_s=5.0)
    meta, parts = decode(encode_pipeline(pipe))
    assert ("abilene", "links", "") in parts
    for bad in (b"not an npz", _pack({"link_ids": np.array(["x"])})):
        cparts = {k: _compress(v, "zlib") for k, v in {**parts, ("abilene", "links", ""): bad}.items()}
        blob = _encode_compressed(meta, cparts, "zlib")
        with pytest.raises(StateError, match="network 'abilene': the links part cannot be read"):
            Pipeline([load_network("abilene")], load_model("qt", None), window_s=10.0, lateness_s=5.0).restore(blob)
