"""Native sample format and the dataset generator (determinism, resume, workers)."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import numpy as np
import pytest

from twinwatch.twin.datasets.gnnet import DatasetError, Sample
from twinwatch.twin.datasets.native import (
    is_native_dataset,
    iter_native_samples,
    read_extras,
    read_manifest,
    read_sample,
    sample_path,
)
from twinwatch.twin.sim.dataset import GENERATOR_VERSION, TopologySpec, generate_dataset, make_sample_scenario
from twinwatch.twin.sim.engine import SimConfig
from twinwatch.twin.sim.scenarios import ScenarioParams

SIM = SimConfig(min_packets=2_000, max_packets=6_000)
SPEC = TopologySpec(kind="random", nodes=(5, 7))


def _gen(out: Path, n: int = 3, **kw) -> object:
    args = {"n_samples": n, "topology": SPEC, "sim": SIM, "seed": 7, "workers": 1, "progress": False}
    args.update(kw)
    return generate_dataset(out, **args)


def _arrays(path: Path) -> dict[str, np.ndarray]:
    with np.load(path, allow_pickle=False) as z:
        return {k: z[k] for k in z.files if k != "meta_json"}


def test_round_trip_matches_the_scenario_and_labels(tmp_path: Path) -> None:
    out = tmp_path / "ds"
    _gen(out, n=2, params=ScenarioParams(scheduling="mixed"))
    assert is_native_dataset(out) and is_native_dataset(tmp_path)  # found below a parent too
    samples = list(iter_native_samples(out))
    assert [s.file for s in samples] == ["samples/sample_000000.npz", "samples/sample_000001.npz"]
    s = samples[0]
    assert isinstance(s, Sample) and s.index == 0 and s.sim_time > 0
    sc, _ = make_sample_scenario(0, 7, SPEC, ScenarioParams(scheduling="mixed"))
    for name in ("link_src", "path_links", "flow_rate_bps", "node_policy", "node_weights", "flow_sizes_bits"):
        assert np.array_equal(getattr(s.scenario, name), getattr(sc, name), equal_nan=True), name
    assert s.scenario.meta["rho_max"] == pytest.approx(sc.meta["rho_max"])
    assert s.scenario.time_unit == "s"
    assert s.labels.path_delay_s.shape == (sc.n_paths,)
    assert np.isfinite(s.labels.path_delay_s).mean() > 0.8  # a short run may starve a low-priority path
    assert s.labels.link_utilization.shape == (sc.n_links,)
    extras, meta = read_extras(out / s.file)
    assert extras["path_delay_ci"].shape == (sc.n_paths,)
    assert extras["path_delay_percentiles"].shape == (sc.n_paths, 5)
    assert meta["packets_generated"] >= SIM.min_packets and meta["index"] == 0
    # nothing in the file needs pickle, and no temporary file is left behind
    with zipfile.ZipFile(out / s.file) as zf:
        assert all(n.endswith(".npy") for n in zf.namelist())
    assert not list((out / "samples").glob(".*"))
    man = read_manifest(out)
    assert man["generator_version"] == GENERATOR_VERSION and man["seed"] == 7 and man["n_complete"] == 2
    assert man["scenario_params"]["scheduling"] == "mixed"
    assert "git_revision" in man and man["runs"][0]["made"] == 2


def test_samples_are_deterministic_and_resume_remakes_only_missing(tmp_path: Path) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    _gen(a)
    _gen(b)
    first = {i: _arrays(sample_path(a, i)) for i in range(3)}
    for i in range(3):
        other = _arrays(sample_path(b, i))
        for k, v in first[i].items():
            assert np.array_equal(v, other[k], equal_nan=True), (i, k)
    sample_path(a, 1).unlink()
    st = _gen(a, n=4)  # resume and extend
    assert (st.made, st.skipped) == (2, 2)
    for k, v in first[1].items():
        assert np.array_equal(v, _arrays(sample_path(a, 1))[k], equal_nan=True), k
    assert read_manifest(a)["n_samples"] == 4 and len(read_manifest(a)["runs"]) == 2


def test_changed_settings_or_foreign_folder_are_refused(tmp_path: Path) -> None:
    out = tmp_path / "ds"
    _gen(out, n=1)
    with pytest.raises(DatasetError, match="different seed"):
        _gen(out, n=1, seed=8)
    with pytest.raises(DatasetError, match="different scenario_params"):
        _gen(out, n=1, params=ScenarioParams(load=(0.2, 0.3)))
    other = tmp_path / "other"
    other.mkdir()
    (other / "x.txt").write_text("hello")
    with pytest.raises(DatasetError, match="not empty"):
        _gen(other, n=1)
    assert not is_native_dataset(other)
    with pytest.raises(DatasetError, match=r"no manifest\.json"):
        list(iter_native_samples(other))


def test_resume_after_an_engine_change_warns(tmp_path: Path) -> None:
    out = tmp_path / "ds"
    _gen(out, n=1)
    m = out / "manifest.json"
    m.write_text(json.dumps({**json.loads(m.read_text()), "engine_sha256": "0123456789abcdef"}))
    with pytest.warns(UserWarning, match="source changed"):
        _gen(out, n=1)


def test_corrupt_or_foreign_files_name_the_file(tmp_path: Path) -> None:
    out = tmp_path / "ds"
    _gen(out, n=1)
    p = sample_path(out, 0)
    p.write_bytes(p.read_bytes()[:100])
    with pytest.raises(DatasetError, match=r"sample_000000\.npz: corrupt"):
        read_sample(p)
    m = out / "manifest.json"
    doc = json.loads(m.read_text())
    m.write_text(json.dumps({**doc, "format_version": 99}))
    with pytest.raises(DatasetError, match="newer"):
        read_manifest(out)


def test_spawned_workers_give_the_same_samples(tmp_path: Path) -> None:
    a, b = tmp_path / "one", tmp_path / "two"
    _gen(a, n=3)
    st = _gen(b, n=3, workers=2)
    assert st.made == 3
    for i in range(3):
        x, y = _arrays(sample_path(a, i)), _arrays(sample_path(b, i))
        assert all(np.array_equal(v, y[k], equal_nan=True) for k, v in x.items()), i


def test_zoo_topology_dataset(tmp_path: Path) -> None:
    out = tmp_path / "ab"
    spec = TopologySpec(kind="zoo", name="abilene")
    generate_dataset(out, n_samples=1, topology=spec, sim=SIM, seed=1, workers=1, progress=False)
    s = next(iter_native_samples(out))
    assert s.scenario.n_nodes == 12 and (s.scenario.link_prop_delay_s > 0).all()
    assert s.scenario.name == "abilene#0"


def test_npz_members_read_exactly_as_numpy_reads_them(tmp_path: Path) -> None:
    """The header cache of ``_read_npz`` gives what ``np.load`` gives: dtype, byte order, shape, order, values.

    Read twice (the second read takes the cached headers), against ``np.load`` each time; object
    arrays are still refused with NumPy's own message.
    """
    from twinwatch.twin.datasets.native import _read_npz

    rng = np.random.default_rng(0)
    arrays = {"f8": rng.normal(size=(3, 4)), "fortran": np.asfortranarray(rng.normal(size=(2, 5))),
              "scalar": np.array(2.5), "empty": np.zeros((0, 3), dtype=np.int32),
              "big_endian": np.arange(6, dtype=">i8"),
              "text": np.array(["a", "bcd"]), "bools": np.array([True, False]),
              "record": np.array([(1, 2.0)], dtype=[("a", "<i4"), ("b", "<f8")])}
    path = tmp_path / "s.npz"
    np.savez(path, **arrays)
    for _ in range(2):
        got = _read_npz(path)
        with np.load(path, allow_pickle=False) as z:
            want = {k: z[k] for k in z.files}
        assert list(got) == list(want)
        for k, w in want.items():
            g = got[k]
            assert (g.dtype, g.shape, g.flags.f_contiguous, g.flags.writeable) == (
                w.dtype, w.shape, w.flags.f_contiguous, w.flags.writeable), k
            assert g.tobytes(order="A") == w.tobytes(order="A"), k
    with zipfile.ZipFile(path, "a") as zf:  # a member that is not .npy: bytes, as NpzFile returns it
        zf.writestr("notes.txt", b"hello")
    assert _read_npz(path)["notes.txt"] == b"hello"
    np.savez(tmp_path / "o.npz", o=np.array([{"x": 1}, None], dtype=object))
    with pytest.raises(ValueError, match="Object arrays cannot be loaded when allow_pickle=False"):
        _read_npz(tmp_path / "o.npz")
