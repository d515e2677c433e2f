"""Saving and restoring :class:`~telemetry_adapters.counters.CounterState` (NumPy ``.npz``, no pickle).

Private to :mod:`twinwatch.telemetry_adapters.counters` (its ``save`` / ``load`` call these).
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from twinwatch.telemetry_adapters._names import NameTable

if TYPE_CHECKING:
    from twinwatch.telemetry_adapters.counters import CounterState

__all__ = ["FORMAT_VERSION", "load_state", "save_state"]

FORMAT_VERSION = 1


def save_state(state: CounterState, path: str | os.PathLike[str]) -> None:
    """Write ``state`` to ``path`` (NumPy ``.npz``, no pickle); atomic via a temp file."""
    live = np.flatnonzero(state._used[: state._next] & state._seen[: state._next])
    key = state._slot_key[live]
    meta = {
        "version": FORMAT_VERSION,
        "config": asdict(state.config),
        "evictions": state.evictions,
        "last_sweep_ns": state._last_sweep_ns,
    }
    arrays = {
        "meta": np.array(json.dumps(meta)),
        **_names_arrays("devices", state._devices),
        **_names_arrays("interfaces", state._interfaces),
        **_names_arrays("fields", state._fields),
        "key": key,
        "ts": state._ts[live],
        "val": state._val[live],
        "epoch": state._epoch[live],
        "has_epoch": state._has_epoch[live],
        "ival": state._ival[live],
        "last_seen": state._last_seen[live],
    }
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp.npz")
    np.savez_compressed(tmp, **arrays)  # type: ignore[arg-type]
    os.replace(tmp, path)


def load_state(cls: type[CounterState], path: str | os.PathLike[str]) -> CounterState:
    """Read a state written by :func:`save_state` (its config included)."""
    from twinwatch.telemetry_adapters.counters import CounterConfig, CounterStateError

    try:
        with np.load(path, allow_pickle=False) as z:
            data = {k: z[k] for k in z.files}
    except (OSError, ValueError) as exc:
        raise CounterStateError(f"cannot read counter state {os.fspath(path)!r}: {exc}") from exc
    try:
        meta = json.loads(str(data["meta"]))
        if meta.get("version") != FORMAT_VERSION:
            raise CounterStateError(
                f"counter state {os.fspath(path)!r} has format version {meta.get('version')!r}; "
                f"this build reads version {FORMAT_VERSION}: delete the file to start fresh"
            )
        state = cls(CounterConfig(**meta["config"]), capacity=max(16, 2 * data["key"].shape[0]))
        vocabs = ((state._devices, "devices"), (state._interfaces, "interfaces"), (state._fields, "fields"))
        for vocab, name in vocabs:
            for s in data[name].tolist():
                vocab.add(s)
            free = data.get(name + "_free", np.empty(0, dtype=np.int64)).tolist()
            for i in free:  # ids recycled when saved: free again (their placeholder name is dropped)
                del vocab.ids[vocab.names[i]]
                vocab.names[i] = None
            vocab.free.extend(sorted(free, reverse=True))
        state._sync_fields()
        key = data["key"].astype(np.int64)
    except KeyError as exc:
        raise CounterStateError(
            f"counter state {os.fspath(path)!r} lacks array {exc}; not a file written by CounterState.save"
        ) from exc
    slots = state._intern(key, np.arange(key.shape[0], dtype=np.int64))
    state._ts[slots] = data["ts"]
    state._val[slots] = data["val"]
    state._epoch[slots] = data["epoch"]
    state._has_epoch[slots] = data["has_epoch"]
    state._ival[slots] = data["ival"]
    state._last_seen[slots] = data["last_seen"]
    state._seen[slots] = True
    state.evictions = int(meta.get("evictions", 0))
    state._last_sweep_ns = meta.get("last_sweep_ns")
    return state


def _names_arrays(name: str, table: NameTable) -> dict[str, npt.NDArray[Any]]:
    """The names of ``table`` by id for :meth:`CounterState.save` (recycled ids listed in ``<name>_free``,
    with a unique placeholder name so that ids are kept on load)."""
    free = [i for i, s in enumerate(table.names) if s is None]
    names = [f"\x00free{i}" if s is None else s for i, s in enumerate(table.names)]
    return {name: np.array(names, dtype=str), name + "_free": np.array(free, dtype=np.int64)}
