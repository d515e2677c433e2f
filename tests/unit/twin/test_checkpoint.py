"""Checkpoints: safetensors + JSON, no pickle, clear errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from twinwatch.twin.checkpoint import CheckpointError, git_revision, load_checkpoint, save_checkpoint
from twinwatch.twin.features import FeatureStats
from twinwatch.twin.models.gnn import GNNConfig, GNNModel, RouteNetFermi


def _write_gnn(d: Path) -> RouteNetFermi:
    torch.manual_seed(0)
    net = RouteNetFermi(GNNConfig(hidden=8, iterations=1, readout_hidden=8))
    cfg = {"kind": "gnn", "architecture": net.config.to_dict(), "feature_stats": FeatureStats.identity().to_dict(),
           "calibration": {"delay_s": {"kind": "log", "lo": -0.1, "hi": 0.1}}}
    save_checkpoint(d, net.state_dict(), cfg)
    return net


def test_roundtrip_gnn(tmp_path: Path) -> None:
    net = _write_gnn(tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["config.json", "model.safetensors"]
    cfg = json.loads((tmp_path / "config.json").read_text())
    assert cfg["git_revision"] and cfg["created"] and cfg["architecture"]["hidden"] == 8
    model = GNNModel.load(tmp_path)
    for k, v in net.state_dict().items():
        assert torch.equal(model.net.state_dict()[k], v)
    assert model.calibration["delay_s"]["hi"] == 0.1


def test_safetensors_file_is_not_a_pickle(tmp_path: Path) -> None:
    _write_gnn(tmp_path)
    head = (tmp_path / "model.safetensors").read_bytes()[:16]
    assert not head.startswith(b"\x80")  # pickle protocol marker
    weights, _ = load_checkpoint(tmp_path)
    assert all(isinstance(v, torch.Tensor) for v in weights.values())


def test_missing_pieces_are_named(tmp_path: Path) -> None:
    with pytest.raises(CheckpointError, match="not a directory"):
        load_checkpoint(tmp_path / "nope")
    _write_gnn(tmp_path)
    (tmp_path / "config.json").unlink()
    with pytest.raises(CheckpointError, match=r"config\.json is missing"):
        load_checkpoint(tmp_path)


def test_wrong_kind_and_bad_json(tmp_path: Path) -> None:
    save_checkpoint(tmp_path, {"w": torch.zeros(1)}, {"kind": "mlp"})
    with pytest.raises(CheckpointError, match="expected 'gnn'"):
        GNNModel.load(tmp_path)
    (tmp_path / "config.json").write_text("{not json")
    with pytest.raises(CheckpointError, match="not valid JSON"):
        load_checkpoint(tmp_path)


def test_git_revision_outside_git(tmp_path: Path) -> None:
    assert git_revision(tmp_path) == "unknown"


@pytest.mark.parametrize(
    "raw",
    [b'{"a": 1, "b": [0.00010309748785151485, -0.0], "c": "x"}', b'{"a": NaN, "b": Infinity}', b"[1e400]",
     b"123456789012345678901234567890", b"[-18446744073709551617, 18446744073709551615]", b'"\\ud800"',
     '{"a": 1}'.encode("utf-16"), b'\xef\xbb\xbf{"a": 1}', b'{"a": 1, "a": 2}', b'{"a": 1} trailing', b"", b"\xff"],
    ids=["plain", "nan-inf", "overflow", "big-int", "u64-edges", "lone-surrogate", "utf-16", "bom", "dup-key",
         "trailing", "empty", "not-utf8"],
)
def test_config_parsing_is_exactly_the_standard_librarys(raw: bytes) -> None:
    """The orjson fast path reads a config to the same value (types included) or the same error as json.loads."""
    from twinwatch.twin.checkpoint import _parse_json

    def outcome(parse: object) -> tuple[str, str]:
        try:
            v = parse(raw)  # type: ignore[operator]
        except (ValueError, UnicodeDecodeError) as exc:
            return type(exc).__name__, str(exc)
        return "ok", repr(v) + repr(json.dumps(v)) if not isinstance(v, float) else repr(v)

    assert outcome(_parse_json) == outcome(json.loads)
