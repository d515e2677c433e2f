"""Provenance of generated artefacts (checkpoints, dataset manifests): the source revision.

>>> rev = git_revision()
>>> rev == "unknown" or len(rev.removesuffix("+dirty")) == 40
True
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

__all__ = ["git_revision"]


def git_revision(repo: str | os.PathLike[str] | None = None) -> str:
    """``git rev-parse HEAD`` of ``repo`` (default: this source tree), ``+dirty`` when tracked files are modified.

    Returns ``"unknown"`` outside a git work tree or when git is missing.
    """
    cwd = Path(repo) if repo is not None else Path(__file__).resolve().parent
    try:
        rev = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=cwd, capture_output=True, text=True, timeout=10, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"], cwd=cwd, capture_output=True, text=True,
            timeout=10, check=True,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return (rev + ("+dirty" if dirty else "")) if rev else "unknown"
