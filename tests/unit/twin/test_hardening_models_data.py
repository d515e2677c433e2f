"""Issue 14, "Models" and "Datasets and checkpoints": physical bounds, out-of-domain notices, clear file errors."""

from __future__ import annotations

import dataclasses
import gzip
import io
import json
import tarfile
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch

from tests.conftest import shared_data_path
from twinwatch.twin.checkpoint import CheckpointError, checkpoint_dir, load_checkpoint
from twinwatch.twin.data import bundled_scenario_path
from twinwatch.twin.datasets import DatasetError, iter_samples
from twinwatch.twin.datasets.native import (
    MissingSamplesError,
    iter_native_samples,
    read_sample,
    write_manifest,
    write_sample,
)
from twinwatch.twin.datasets.scenario_yaml import load_scenario_yaml
from twinwatch.twin.kpis import Labels
from twinwatch.twin.models.bounds import NotMeasuredWarning, OutOfDomainWarning, path_delay_floor
from twinwatch.twin.models.gnn import DEFAULT_CHECKPOINT, GNNModel
from twinwatch.twin.models.mlp import MLPModel, load_mlp
from twinwatch.twin.models.qt import QueueingModel
from twinwatch.twin.scenario import Flow, Scenario
from twinwatch.twin.sim.model import SimulatorModel

torch.set_num_threads(1)


@pytest.fixture(scope="module")
def nsfnet() -> Scenario:
    return load_scenario_yaml(bundled_scenario_path())


def _predict(model: object, sc: Scenario) -> tuple[object, list[warnings.WarningMessage]]:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        pred = model.predict(sc)  # type: ignore[attr-defined]
    return pred, caught


# ------------------------------------------------------------------ models
def test_floor_by_hand() -> None:
    """Two hops of 1 Mb/s with 10 + 20 ms propagation, 1000-bit packets: 30 ms + 2 x 1 ms."""
    sc = Scenario.build(3, [(0, 1, 1e6, 0.01), (1, 2, 1e6, 0.02)], {(0, 2): [0, 1, 2]},
                        [Flow(0, 2, 1e5, sizes_bits=(500.0, 1500.0), size_probs=(0.5, 0.5))])
    assert path_delay_floor(sc).tolist() == pytest.approx([0.032])


@pytest.mark.parametrize("name", ["qt", "mlp", "gnn"])
def test_no_model_answers_below_the_floor_on_nsfnet(nsfnet: Scenario, name: str) -> None:
    model = {"qt": QueueingModel, "mlp": load_mlp, "gnn": GNNModel.load}[name]()
    pred, _ = _predict(model, nsfnet)
    floor = path_delay_floor(nsfnet)
    assert np.isfinite(pred.path_delay_s).all()
    assert (pred.path_delay_s >= floor * (1 - 1e-12)).all()
    loss = pred.path_loss_ratio
    assert ((loss >= 0) & (loss <= 1)).all()


def test_mlp_says_nsfnet_is_outside_its_training_domain(nsfnet: Scenario) -> None:
    """The shipped MLP was trained on GNNet (one flow per path, no propagation); NSFNet has 3 ToS flows per path."""
    pred, caught = _predict(load_mlp(), nsfnet)
    ood = [w for w in caught if issubclass(w.category, OutOfDomainWarning)]
    assert len(ood) == 1
    assert "182 of 182 paths are outside the model's training domain" in str(ood[0].message)
    prop = np.bincount(nsfnet.hop_path, weights=nsfnet.link_prop_delay_s[nsfnet.path_links],
                       minlength=nsfnet.n_paths)
    assert (pred.path_delay_s > prop).all()  # it used to answer ~1e-15 s, far below propagation


def test_mlp_is_silent_in_domain() -> None:
    root = shared_data_path("gnnet", "2021", "validation")
    model = load_mlp()
    for k, s in enumerate(iter_samples(root)):
        _, caught = _predict(model, s.scenario)
        assert not [w for w in caught if issubclass(w.category, OutOfDomainWarning)]
        if k == 2:
            break


def test_floor_holds_on_real_labels() -> None:
    """The floor is a true lower bound: OMNeT++-measured GNNet delays are never below it."""
    root = shared_data_path("gnnet", "2021", "validation")
    for k, s in enumerate(iter_samples(root)):
        ok = np.isfinite(s.labels.path_delay_s)
        assert (path_delay_floor(s.scenario)[ok] <= s.labels.path_delay_s[ok] * (1 + 1e-9)).all()
        if k == 4:
            break


def test_gnn_with_all_rates_zero_answers_the_floor(nsfnet: Scenario) -> None:
    idle = dataclasses.replace(nsfnet, flow_rate_bps=np.zeros(nsfnet.n_flows), flow_pkt_rate=np.zeros(nsfnet.n_flows))
    pred, _ = _predict(GNNModel.load(), idle)
    floor = path_delay_floor(idle)
    assert (floor > 0).all()
    np.testing.assert_allclose(pred.path_delay_s, floor, rtol=1e-9)  # no queueing on an idle network
    assert (pred.path_delay_s > 0).all()


def test_sim_says_why_jitter_is_null() -> None:
    sc = Scenario.build(3, [(0, 1, 1e6), (1, 2, 1e6)], {(0, 2): [0, 1, 2], (0, 1): [0, 1]},
                        [Flow(0, 2, 5e5, 1000.0), Flow(0, 1, 1.0, 1000.0)])  # 1 bit/s: ~no packet in the run
    pred, caught = _predict(SimulatorModel(seed=1, min_packets=2000, max_packets=5000), sc)
    assert np.isfinite(pred.path_jitter_s2[0]) and np.isnan(pred.path_jitter_s2[1])
    notes = [str(w.message) for w in caught if issubclass(w.category, NotMeasuredWarning)]
    assert len(notes) == 1 and "jitter not measured on 1 of 2 paths" in notes[0]
    assert "fewer than 2 packets delivered" in notes[0]


# ----------------------------------------------------------- GNNet files
@pytest.mark.parametrize(("content", "what"), [
    (b"version: 1\nnodes: 3\n", "it is a text file (YAML or plain text?)"),
    (b'{"a": 1}', "it is a text file (JSON?)"),
    (b"", "the file is empty"),
    (b"PK\x03\x04" + bytes(40), "it is a zip archive"),
    (bytes(range(200, 256)) * 4, "it is binary data starting with c8 c9"),
])
def test_a_non_tarball_is_not_called_a_corrupt_tarball(tmp_path: Path, content: bytes, what: str) -> None:
    f = tmp_path / "results_1_1.tar.gz"
    f.write_bytes(content)
    with pytest.raises(DatasetError) as info:
        list(iter_samples(f))
    msg = str(info.value)
    assert "not a GNNet result file (.tar.gz)" in msg and what in msg and "re-download" not in msg


def test_a_truncated_tarball_is_still_called_truncated(tmp_path: Path) -> None:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        data = np.random.default_rng(0).bytes(20_000)  # incompressible: the cut lands inside the member
        info = tarfile.TarInfo("simulationResults.txt")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    f = tmp_path / "results_1_1.tar.gz"
    f.write_bytes(gzip.compress(buf.getvalue())[:5000])
    with pytest.raises(DatasetError, match="corrupt or truncated, re-download it"):
        list(iter_samples(f))


# ----------------------------------------------------------- native files
def _native(root: Path, n: int, *, ci: float = 0.001) -> list[Path]:
    sc = Scenario.build(2, [(0, 1, 1e6), (1, 0, 1e6)], {(0, 1): [0, 1]}, [Flow(0, 1, 1e5)])
    lab = Labels.empty(n_paths=1, n_links=2)
    lab.path_delay_s[:] = 0.01
    write_manifest(root, {"n_samples": n})
    meta = {"seed": 1, "sim_time": 1.0, "packet_hops": 10, "packets_generated": 5, "wall_time_s": 0.1,
            "converged": True, "scenario_meta": {"rho_max": 0.1}}
    return [write_sample(root, i, sc, lab, extras={"path_delay_ci": np.array([ci])}, meta=meta) for i in range(n)]


def test_random_bytes_npz_does_not_mention_allow_pickle(tmp_path: Path) -> None:
    files = _native(tmp_path, 1)
    rng = np.random.default_rng(0)
    files[0].write_bytes(rng.bytes(4096))
    with pytest.raises(DatasetError) as info:
        read_sample(files[0])
    assert "allow_pickle" not in str(info.value) and "not a NumPy .npz archive" in str(info.value)
    np.savez(files[0], **{"meta_json": np.array([{"a": 1}], dtype=object)})  # an object array: pickled
    with pytest.raises(DatasetError) as info:
        read_sample(files[0])
    assert "allow_pickle" not in str(info.value) and "pickled" in str(info.value)


def test_broken_manifest_is_invalid_not_missing(tmp_path: Path) -> None:
    _native(tmp_path, 1)
    (tmp_path / "manifest.json").write_text('{"format": "twinwatch-native", ')
    with pytest.raises(DatasetError) as info:
        list(iter_samples(tmp_path))
    msg = str(info.value)
    assert "invalid manifest: Expecting property name enclosed in double quotes" in msg and "no manifest" not in msg


def test_missing_sample_file_is_an_error_after_the_others(tmp_path: Path) -> None:
    files = _native(tmp_path, 3)
    files[1].unlink()
    it = iter_native_samples(tmp_path)
    got = [next(it).file, next(it).file]
    assert got == ["samples/sample_000000.npz", "samples/sample_000002.npz"]
    with pytest.raises(MissingSamplesError) as info:
        next(it)
    assert info.value.n_read == 2 and [p.name for p in info.value.missing] == ["sample_000001.npz"]
    assert "1 sample file(s) listed by the manifest are missing" in str(info.value)


# ------------------------------------------------------------ checkpoints
def _copy_checkpoint(src: Path, dst: Path) -> Path:
    dst.mkdir()
    for f in src.iterdir():
        (dst / f.name).write_bytes(f.read_bytes())
    return dst


def test_corrupt_safetensors_is_a_clear_error(tmp_path: Path) -> None:
    d = _copy_checkpoint(DEFAULT_CHECKPOINT, tmp_path / "gnn")
    (d / "model.safetensors").write_bytes(b"\x00" * 7)
    with pytest.raises(CheckpointError, match=r"model\.safetensors: not a valid safetensors file"):
        load_checkpoint(d, kind="gnn")
    (d / "model.safetensors").write_bytes((DEFAULT_CHECKPOINT / "model.safetensors").read_bytes()[:1000])
    with pytest.raises(CheckpointError, match="corrupt or truncated"):
        GNNModel.load(d)


def test_inconsistent_configs_are_clear_errors(tmp_path: Path) -> None:
    d = _copy_checkpoint(DEFAULT_CHECKPOINT, tmp_path / "gnn")
    cfg = json.loads((d / "config.json").read_text())
    (d / "config.json").write_text(json.dumps({**cfg, "architecture": {"hidden": 3}}))
    with pytest.raises(CheckpointError, match="not a consistent GNN checkpoint"):
        GNNModel.load(d)
    (d / "config.json").write_text(json.dumps({"kind": "mlp", "n_in": "many"}))
    with pytest.raises(CheckpointError, match="not a consistent MLP checkpoint"):
        MLPModel.load(d)
    (d / "config.json").write_bytes(b"\xff\xfe")
    with pytest.raises(CheckpointError, match="not valid JSON"):
        MLPModel.load(d)


def test_checkpoint_path_may_be_a_file_inside_it() -> None:
    assert checkpoint_dir(DEFAULT_CHECKPOINT / "config.json") == DEFAULT_CHECKPOINT
    assert checkpoint_dir(DEFAULT_CHECKPOINT / "model.safetensors") == DEFAULT_CHECKPOINT
    weights, cfg = load_checkpoint(DEFAULT_CHECKPOINT / "config.json", kind="gnn")
    assert cfg["kind"] == "gnn" and weights


# ----------------------------------------------- found by the fuzz harness
def test_nan_where_gnnet_expects_an_integer_is_a_dataset_error(tmp_path: Path) -> None:
    """A size-distribution count of ``nan`` used to surface NumPy's 'invalid value encountered in cast'."""
    from tests.fuzz import harness

    (tmp_path / "graphs").mkdir()
    (tmp_path / "routings").mkdir()
    (tmp_path / "graphs" / "g.txt").write_text(harness.GML)
    (tmp_path / "routings" / "r.txt").write_text(harness.ROUTING)
    members = harness._gnnet_members()
    members["traffic.txt"] = members["traffic.txt"].replace("0,100,0.1,10,0,1000,1", "0,100,0.1,10,3,1000,nan,1", 1)
    harness._write_tar(tmp_path / "results_3_0_2.tar.gz", {k: v.encode() for k, v in members.items()})
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(DatasetError, match="out of range or not finite"):
            list(iter_samples(tmp_path))


def test_input_files_naming_a_nul_byte_is_a_dataset_error(tmp_path: Path) -> None:
    from tests.fuzz import harness

    (tmp_path / "graphs").mkdir()
    (tmp_path / "routings").mkdir()
    members = harness._gnnet_members()
    members["input_files.txt"] = members["input_files.txt"].replace("g.txt", "g\x00.txt")
    harness._write_tar(tmp_path / "results_3_0_2.tar.gz", {k: v.encode() for k, v in members.items()})
    with pytest.raises(DatasetError, match="cannot read topology file"):
        list(iter_samples(tmp_path))


def test_native_arrays_of_the_wrong_kind_are_refused(tmp_path: Path) -> None:
    files = _native(tmp_path, 1)
    with np.load(files[0], allow_pickle=False) as z:
        arrays = {k: z[k] for k in z.files}
    arrays["scenario.link_src"] = np.array([np.nan, 1.0])  # NaN where a node number is due
    np.savez(files[0], **arrays)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(DatasetError, match=r"scenario\.link_src must be an array of integers, got dtype float64"):
            read_sample(files[0])


def test_mlp_statistics_that_overflow_float32_are_refused(tmp_path: Path) -> None:
    from twinwatch.twin.models.mlp import DEFAULT_MLP_CHECKPOINT

    d = _copy_checkpoint(DEFAULT_MLP_CHECKPOINT, tmp_path / "mlp")
    cfg = json.loads((d / "config.json").read_text())
    cfg["mean"][0] = 1e300
    (d / "config.json").write_text(json.dumps(cfg))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(CheckpointError, match="finite float32"):
            MLPModel.load(d)


def test_gzip_cut_inside_its_header_is_truncated_not_a_type_error(tmp_path: Path) -> None:
    """tarfile's stream reader raises TypeError on a gzip file cut after 3 bytes (found by the fuzz harness)."""
    f = tmp_path / "results_1_1.tar.gz"
    f.write_bytes(gzip.compress(b"x" * 100)[:3])
    with pytest.raises(DatasetError, match="corrupt or truncated"):
        list(iter_samples(f))


@pytest.mark.timeout(30)
def test_a_huge_n_samples_in_the_manifest_is_refused_fast(tmp_path: Path) -> None:
    """n_samples = 2**63 used to make the missing-sample count loop for ever (found by the fuzz harness)."""
    _native(tmp_path, 1)
    doc = json.loads((tmp_path / "manifest.json").read_text())
    (tmp_path / "manifest.json").write_text(json.dumps({**doc, "n_samples": 2**63}))
    with pytest.raises(DatasetError, match=r"invalid manifest: n_samples must be an integer 0\.\.1000000000"):
        list(iter_samples(tmp_path))


def test_gnn_statistics_that_do_not_fit_the_features_are_refused_at_load(tmp_path: Path) -> None:
    d = _copy_checkpoint(DEFAULT_CHECKPOINT, tmp_path / "gnn")
    cfg = json.loads((d / "config.json").read_text())
    group = sorted(cfg["feature_stats"]["mean"])[0]
    cfg["feature_stats"]["mean"][group] = cfg["feature_stats"]["mean"][group][:-1]  # one column short
    (d / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(CheckpointError, match="not a consistent GNN checkpoint"):
        GNNModel.load(d)


def test_mlp_std_that_underflows_float32_is_refused(tmp_path: Path) -> None:
    from twinwatch.twin.models.mlp import DEFAULT_MLP_CHECKPOINT

    d = _copy_checkpoint(DEFAULT_MLP_CHECKPOINT, tmp_path / "mlp")
    cfg = json.loads((d / "config.json").read_text())
    cfg["std"][0] = 1e-300  # > 0 in float64, 0 in float32: a division by zero at predict time
    (d / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(CheckpointError, match="finite float32"):
        MLPModel.load(d)
