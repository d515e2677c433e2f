"""Per-entity detector state carried across a change of the network model.

An operator edits the network model (a link added or decommissioned, a router retired, a probe planned);
the service restarts with the new model and its saved state. Entities are known by name (link id
``"a->b"``, device name, probe name), while the detector's state is arrays indexed by the old model's
numbering. This module maps one numbering onto the other and moves the state along it: an entity in
both models keeps what it learned (calibration, persistence history, references), an entity new in the
model starts as a fresh detector would, and a removed one's state is dropped (a renamed entity is both).

A component whose state is per entity says so with two members:

* ``ENTITY_SIZE``: the name of its entity-count attribute (``"n_entities"``, ``"n_links"``, ...);
* ``entity_axes() -> {attribute: axis}``: the arrays that hold one slice per entity and along which
  axis. Everything else (configuration, pools shared by all entities, ring positions) is not per entity.

>>> import numpy as np
>>> entity_index(["a->b", "b->c", "c->a"], ["b->c", "c->d", "a->b"]).tolist()
[1, -1, 0]
>>> pair_index(np.array([1, -1, 0]), 3).reshape(3, 3).tolist()   # pair (i, j) of the new model, old i*3+j
[[4, -1, 3], [-1, -1, -1], [1, -1, 0]]
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from typing import Any, TypeVar

import numpy as np

__all__ = ["carry_entities", "entity_index", "pair_index", "summary"]

T = TypeVar("T")


def entity_index(old: Sequence[str], new: Sequence[str]) -> np.ndarray:
    """``(len(new),)`` int64: each new entity's position in ``old``, ``-1`` for a name ``old`` lacks."""
    pos = {name: i for i, name in enumerate(old)}
    return np.fromiter((pos.get(name, -1) for name in new), dtype=np.int64, count=len(new))


def pair_index(node_index: np.ndarray, n_old: int) -> np.ndarray:
    """``(N_new²,)`` int64: the old flat position ``i·N_old + j`` of each new node pair ``(i, j)`` (row-major,
    as the detector numbers source-destination pairs), ``-1`` where either end is new."""
    idx = np.asarray(node_index, dtype=np.int64)
    both = (idx[:, None] >= 0) & (idx[None, :] >= 0)
    return np.where(both, idx[:, None] * int(n_old) + idx[None, :], -1).ravel()


def carry_entities(fresh: T, old: T, index: np.ndarray) -> T:
    """``old``'s state renumbered onto ``fresh``'s entities: a new object, neither argument changed.

    ``fresh`` is the component as the new model builds it (its per-entity arrays give new entities their
    starting values), ``old`` the component restored from the saved state, ``index`` the
    ``(fresh entities,)`` positions of :func:`entity_index` / :func:`pair_index`. Configuration and shared
    state come from ``old``, as a restore without a model change would have them.

    >>> from twinwatch.detectors.decision import Persistence
    >>> old = Persistence(3, k=1, m=1, r=1)
    >>> _ = old.update(np.array([True, False, True]))
    >>> new = carry_entities(Persistence(2, k=1, m=1, r=1), old, np.array([2, -1]))
    >>> new.n_entities, new.active.tolist()
    (2, [True, False])
    """
    size_attr = type(old).ENTITY_SIZE  # type: ignore[attr-defined]
    n_new = int(getattr(fresh, size_attr))
    index = np.asarray(index, dtype=np.int64)
    if index.shape != (n_new,):
        raise ValueError(f"carry_entities: index shape {index.shape} != ({n_new},)")
    n_old = int(getattr(old, size_attr))
    if index.size and int(index.max()) >= n_old:
        raise ValueError(f"carry_entities: index refers to entity {int(index.max())} of {n_old}")
    keep = np.flatnonzero(index >= 0)
    out = copy.copy(old)
    axes: dict[str, int] = old.entity_axes()  # type: ignore[attr-defined]
    for name, axis in axes.items():
        arr = np.array(getattr(fresh, name), copy=True)
        src = getattr(old, name)
        if arr.ndim != src.ndim or arr.shape[axis] != n_new or src.shape[axis] != n_old:
            raise ValueError(f"carry_entities: {type(old).__name__}.{name} is {src.shape} and {arr.shape}, "
                             f"not {n_old} and {n_new} entities along axis {axis}")
        sel: list[Any] = [slice(None)] * arr.ndim
        sel[axis] = keep
        arr[tuple(sel)] = np.take(src, index[keep], axis=axis)
        setattr(out, name, arr)
    setattr(out, size_attr, n_new)
    return out


def summary(index: np.ndarray, n_old: int) -> dict[str, int]:
    """``{"kept", "new", "dropped"}`` entity counts of one renumbering.

    >>> summary(np.array([1, -1, 0]), 3)
    {'kept': 2, 'new': 1, 'dropped': 1}
    """
    kept = int((np.asarray(index) >= 0).sum())
    return {"kept": kept, "new": int(np.size(index)) - kept, "dropped": int(n_old) - kept}
