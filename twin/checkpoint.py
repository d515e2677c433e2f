"""Model checkpoints: safetensors weights + a JSON config; loading never unpickles.

A checkpoint is a directory::

    MODEL_DIR/
      model.safetensors   weights (tensors only)
      config.json         {"kind", "architecture", "feature_stats", "calibration",
                           "training", "git_revision", "created"}

The resumable training state (optimizer moments, epoch, best score) lives in
``MODEL_DIR/resume.pt`` and is read with ``torch.load(weights_only=True)``.

Examples
--------
>>> import tempfile, torch
>>> d = tempfile.mkdtemp()
>>> save_checkpoint(d, {"w": torch.ones(2)}, {"kind": "demo"})
>>> w, cfg = load_checkpoint(d)
>>> w["w"].tolist(), cfg["kind"], "git_revision" in cfg
([1.0, 1.0], 'demo', True)
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file

__all__ = ["CheckpointError", "git_revision", "load_checkpoint", "save_checkpoint"]

WEIGHTS = "model.safetensors"
CONFIG = "config.json"


class CheckpointError(ValueError):
    """A checkpoint directory is missing a file or holds something unexpected."""


def git_revision(repo: str | os.PathLike[str] | None = None) -> str:
    """``git rev-parse HEAD`` of ``repo`` (default: this source tree), ``"unknown"`` outside git."""
    cwd = Path(repo) if repo else Path(__file__).resolve().parent
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=cwd, capture_output=True, text=True, timeout=5)
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    rev = out.stdout.strip()
    return rev if out.returncode == 0 and rev else "unknown"


def save_checkpoint(directory: str | os.PathLike[str], state: dict[str, torch.Tensor], config: dict[str, Any]) -> None:
    """Write ``state`` (name → tensor) and ``config`` (JSON-serialisable) into ``directory``.

    ``git_revision`` and ``created`` are added to the config when absent.
    Files are written to a temporary name and renamed, so a crash never
    leaves half a checkpoint.
    """
    d = Path(directory)
    d.mkdir(parents=True, exist_ok=True)
    cfg = dict(config)
    cfg.setdefault("git_revision", git_revision())
    cfg.setdefault("created", time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()))
    tensors = {k: v.detach().to("cpu").contiguous() for k, v in state.items()}
    tmp_w, tmp_c = d / (WEIGHTS + ".tmp"), d / (CONFIG + ".tmp")
    save_file(tensors, str(tmp_w))
    tmp_c.write_text(json.dumps(cfg, indent=1, sort_keys=True))
    tmp_w.replace(d / WEIGHTS)
    tmp_c.replace(d / CONFIG)


def load_checkpoint(directory: str | os.PathLike[str],
                    kind: str | None = None) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """Read ``(weights, config)`` from a checkpoint directory (no pickle involved).

    ``kind``, when given, is the model kind the config must declare (``"gnn"``, ``"mlp"``).

    Raises
    ------
    CheckpointError
        The directory or one of its two files is missing or unreadable, or it holds another kind of model.
    """
    d = Path(directory)
    if not d.is_dir():
        raise CheckpointError(f"checkpoint {d}: not a directory; pass the MODEL_DIR written by `twinwatch twin train`")
    for name in (WEIGHTS, CONFIG):
        if not (d / name).is_file():
            raise CheckpointError(f"checkpoint {d}: {name} is missing; retrain or copy the whole model directory")
    try:
        cfg = json.loads((d / CONFIG).read_text())
    except json.JSONDecodeError as exc:
        raise CheckpointError(f"checkpoint {d / CONFIG}: not valid JSON ({exc})") from exc
    if not isinstance(cfg, dict):
        raise CheckpointError(f"checkpoint {d / CONFIG}: expected a JSON object")
    if kind is not None and cfg.get("kind") != kind:
        raise CheckpointError(f"checkpoint {d}: kind is {cfg.get('kind')!r}, expected {kind!r}")
    return load_file(str(d / WEIGHTS)), cfg
