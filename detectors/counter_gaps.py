"""Links whose counters went missing this window although they report: :class:`CounterGaps`.

The twin's expectation of a path rests on the window's traffic matrix, and the
matrix on the link counters. When a link that reports every window is missing
from one (a device silent for a while, a batch of its telemetry arriving after
the window closed), the matrix there falls back to its prior, and the twin's
expectation of every path across the link is off by whatever the prior misses:
a residual the path did not earn. The detectors neither test such paths nor
learn from them for that window. A link that never reports (no counters
configured there) is no gap: its paths are tested as every window before.

State: ``(E,)`` int64, the window each link last reported in.
"""

from __future__ import annotations

import io

import numpy as np

__all__ = ["CounterGaps"]


class CounterGaps:
    """Per link, whether its counters are missing from a window after it reported within ``memory`` windows.

    Parameters
    ----------
    n_links
        ``E``.
    memory
        A link silent for more than this many windows no longer counts as a gap (its counters were
        removed, not delayed): its paths are tested again.

    Examples
    --------
    >>> gaps = CounterGaps(3, memory=2)
    >>> gaps.update(0, np.array([True, True, False])).tolist()   # link 2 never reports: no gap
    [False, False, False]
    >>> gaps.update(1, np.array([True, False, False])).tolist()  # link 1 missing: a gap
    [False, True, False]
    >>> [bool(gaps.update(w, np.array([True, False, False]))[1]) for w in (2, 3)]   # silent past ``memory``: none
    [True, False]
    """

    ENTITY_SIZE = "n_links"

    def __init__(self, n_links: int, *, memory: int = 30) -> None:
        if memory < 0:
            raise ValueError(f"CounterGaps: memory must be >= 0 windows, got {memory}")
        self.n_links, self.memory = int(n_links), int(memory)
        self._seen = np.full(self.n_links, -(1 << 62), dtype=np.int64)

    def entity_axes(self) -> dict[str, int]:
        """The per-entity arrays and their entity axis (:func:`~twinwatch.detectors.entities.carry_entities`)."""
        return {"_seen": 0}

    def update(self, window: int, reported: np.ndarray) -> np.ndarray:
        """``(E,)`` bool: links not ``reported`` in window ``window`` that reported within ``memory`` windows
        before it; remembers the ones reported. Call once per window, in order."""
        r = np.asarray(reported, dtype=bool)
        if r.shape != (self.n_links,):
            raise ValueError(f"CounterGaps.update: reported shape {r.shape} != ({self.n_links},)")
        gap = ~r & (int(window) - self._seen <= self.memory)
        self._seen[r] = int(window)
        return gap

    def to_bytes(self) -> bytes:
        """Lossless snapshot (npz, no pickle)."""
        buf = io.BytesIO()
        np.savez(buf, seen=self._seen, memory=np.array([self.memory], dtype=np.int64))
        return buf.getvalue()

    @classmethod
    def from_bytes(cls, data: bytes) -> CounterGaps:
        """Restore a :meth:`to_bytes` snapshot."""
        with np.load(io.BytesIO(data), allow_pickle=False) as z:
            seen = z["seen"].astype(np.int64)
            obj = cls(int(seen.shape[0]), memory=int(z["memory"][0]))
            obj._seen = seen
        return obj
