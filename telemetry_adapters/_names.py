"""Name tables and string-column helpers of the counters engine (private to :mod:`.counters`).

:class:`NameTable` interns device / interface / field names to dense integer
ids for the counter keys. It is bounded: past ``limit`` names, the ids of the
least recently used names (not used by the batch being encoded) are recycled,
and the owner is told first (``on_recycle``) so that it can evict the counters
and caches that refer to them. :func:`object_pointers` and :func:`dense_codes`
group object columns by identity in compiled code.
"""

from __future__ import annotations

import ctypes
from collections.abc import Callable
from typing import Any

import numpy as np
import numpy.typing as npt

from twinwatch.telemetry_adapters import _counter_kernels as _k
from twinwatch.telemetry_adapters.errors import TelemetryError

__all__ = ["NameTable", "NameTableFullError", "dense_codes", "object_pointers"]


class NameTableFullError(TelemetryError, ValueError):
    """A single batch holds more distinct names than the key layout can number."""


class NameTable:
    """Strings → dense ids, at most ``limit`` live names (ids of idle names are recycled).

    Parameters
    ----------
    what
        What the names are (for messages): ``"device"``, ``"interface"``, ``"field"``.
    limit
        Soft bound on live names; when it is reached, the ``max(1, limit // 10)``
        least recently used names not used by the current batch are dropped and
        their ids reused.
    hard_limit
        Ids must stay below this (the key layout's width). Only a single batch
        with more distinct names than this raises :class:`NameTableFullError`.
    on_recycle
        Called with the ``(k,)`` int64 ids about to be recycled, before they are.

    >>> t = NameTable("device", limit=2, hard_limit=16)
    >>> t.tick(); [t.add(x) for x in ("a", "b")]
    [0, 1]
    >>> t.tick(); t.add("b"); t.add("c")  # "a" is the least recently used: its id is reused
    1
    0
    >>> t.names
    ['c', 'b']
    """

    __slots__ = ("clock", "free", "hard_limit", "ids", "last_used", "limit", "names", "on_recycle", "recycled",
                 "what")  # fmt: skip

    def __init__(
        self, what: str, limit: int, hard_limit: int, on_recycle: Callable[[npt.NDArray[np.int64]], None] | None = None
    ) -> None:
        self.what = what
        self.limit = max(1, min(int(limit), int(hard_limit)))
        self.hard_limit = int(hard_limit)
        self.on_recycle = on_recycle
        self.ids: dict[str, int] = {}
        self.names: list[str | None] = []  # None: a recycled id waiting in ``free``
        self.free: list[int] = []
        self.last_used = np.zeros(16, dtype=np.int64)
        self.clock = 1
        self.recycled = 0

    def __len__(self) -> int:
        """Live names."""
        return len(self.ids)

    def tick(self) -> None:
        """Start a new batch: names used from now on are protected from recycling until the next tick."""
        self.clock += 1

    def add(self, name: object) -> int:
        """Id of ``name`` (anything not a ``str`` is interned as ``str(name)``), marked as used now."""
        key = name if type(name) is str else str(name)
        i = self.ids.get(key)
        if i is None:
            if not self.free and len(self.names) >= self.limit:
                self._recycle()
            if self.free:
                i = self.free.pop()
                self.names[i] = key
            else:
                if len(self.names) >= self.hard_limit:
                    raise NameTableFullError(
                        f"one batch holds more than {self.hard_limit} distinct {self.what} names; send smaller batches"
                    )
                i = len(self.names)
                self.names.append(key)
                if i >= self.last_used.shape[0]:
                    self.last_used = np.concatenate([self.last_used, np.zeros_like(self.last_used)])
            self.ids[key] = i
        self.last_used[i] = self.clock
        return i

    def _recycle(self) -> None:
        n = len(self.names)
        live = np.array([s is not None for s in self.names], dtype=bool)
        idle = np.flatnonzero(live & (self.last_used[:n] < self.clock))
        if idle.shape[0] == 0:
            return  # every name is in the current batch: grow past the soft limit
        k = min(idle.shape[0], max(1, self.limit // 10))
        victims = idle[np.argpartition(self.last_used[idle], k - 1)[:k]] if k < idle.shape[0] else idle
        victims = np.sort(victims).astype(np.int64)
        if self.on_recycle is not None:
            self.on_recycle(victims)
        for i in victims.tolist():
            del self.ids[self.names[i]]
            self.names[i] = None
        self.free.extend(sorted(victims.tolist(), reverse=True))  # pop() hands out the lowest id first
        self.recycled += int(victims.shape[0])

    def encode(self, col: npt.NDArray[Any]) -> npt.NDArray[np.int64]:
        """``(n,)`` ids of the strings in ``col``.

        Object arrays are factorised by object identity first (decoders reuse
        the same ``str`` objects for field and device names), so only one
        dict lookup per distinct object is made; other arrays take one lookup
        per run of equal values.
        """
        n = col.shape[0]
        if n == 0:
            return np.empty(0, dtype=np.int64)
        if col.dtype != object:
            starts = np.flatnonzero(np.concatenate(([True], col[1:] != col[:-1])))
            run_ids = self.lookup(col[starts].tolist())
            return np.repeat(run_ids, np.diff(np.append(starts, n)))
        col = np.ascontiguousarray(col)
        codes, first = dense_codes(object_pointers(col))
        return self.lookup(col[first].tolist())[codes]

    def lookup(self, names: list[Any]) -> npt.NDArray[np.int64]:
        """``(len(names),)`` ids, adding the unknown names (known ones are marked used first)."""
        get = self.ids.get
        vals = [get(x) if type(x) is str else None for x in names]
        known = [v for v in vals if v is not None]
        if known:
            self.last_used[known] = self.clock
        if len(known) < len(vals):
            add = self.add
            for j, v in enumerate(vals):
                if v is None:
                    vals[j] = add(names[j])
        return np.array(vals, dtype=np.int64)


def object_pointers(col: npt.NDArray[np.object_]) -> npt.NDArray[np.int64]:
    """The ``PyObject*`` addresses stored in a contiguous object array (a view; valid while ``col`` lives).

    Equal addresses mean the same object, hence the same string; this lets
    :func:`dense_codes` group rows in compiled code without touching Python objects.
    ``col`` must be C-contiguous.
    """
    if not col.flags.c_contiguous or col.dtype != object:
        raise ValueError("object_pointers needs a C-contiguous object array")
    buf = (ctypes.c_int64 * col.shape[0]).from_address(col.ctypes.data)
    return np.frombuffer(buf, dtype=np.int64)


def dense_codes(keys: npt.NDArray[np.int64]) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """``(codes, first)``: dense codes of int64 keys in order of appearance, and each code's first row.

    A hash-based ``np.unique(..., return_inverse=True)`` without the sort.

    >>> codes, first = dense_codes(np.array([7, 3, 7, 9, 3]))
    >>> codes.tolist(), first.tolist()
    ([0, 1, 0, 2, 1], [0, 1, 3])
    """
    n = keys.shape[0]
    codes = np.empty(n, dtype=np.int64)
    first = np.empty(n, dtype=np.int64)
    n_u = _k.factorize(keys, codes, first, 1024)
    return codes, first[:n_u]
