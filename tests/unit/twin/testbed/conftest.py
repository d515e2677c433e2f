"""Shared fixtures of the testbed tests."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest


def pairs_through(model: Any, link: str) -> set[tuple[str, str]]:
    """``(src, dst)`` node names of the paths that cross ``link`` (``"a->b"``), all links up, IGP routing."""
    from twinwatch.twin.snapshot import SnapshotBuilder

    r = SnapshotBuilder(model).routing(np.ones(model.n_links, dtype=bool))
    path_of_hop = np.repeat(np.arange(r.n_paths), np.diff(r.path_ptr))
    hit = np.unique(path_of_hop[np.asarray(r.path_links) == model.link_index[link]])
    names = model.node_names
    return {(names[int(s)], names[int(d)]) for s, d in zip(r.path_src[hit], r.path_dst[hit], strict=True)}


@pytest.fixture(scope="session")
def paths_through() -> Callable[[Any, str], set[tuple[str, str]]]:
    """``(model, link) -> {(src, dst)}``: the node pairs whose path crosses the link (:func:`pairs_through`)."""
    return pairs_through
