"""Recorded telemetry files as sequences of message values, read on demand.

A replay of a day of a large network's telemetry is gigabytes of JSONL; a
Python list of one ``bytes`` per line costs about twice the file in memory
before the first message is decoded. Here a capture is a
:class:`collections.abc.Sequence` of message values (``bytes``) instead:

* :class:`JsonlCapture`: the ``(N,)`` start and end byte offsets of the file's
  non-blank lines (16 bytes per message), found by a chunked NumPy scan; a
  slice is one read of its byte range;
* :class:`ParquetCapture`: the ``value`` column kept as one Arrow array (nulls
  dropped); a slice becomes ``bytes`` (a string column is UTF-8 encoded);
* :class:`CaptureChain`: several captures of one format, end to end.

A line is a message when it holds a non-whitespace byte; its value is the line
without its ``\\n`` (a ``\\r`` before it stays, as ``bytes.split`` leaves it):
the same messages as ``[ln for ln in data.split(b"\\n") if ln.strip()]``.

Example
-------
>>> import tempfile, pathlib
>>> p = pathlib.Path(tempfile.mkdtemp()) / "twinwatch.raw.probe.jsonl"
>>> _ = p.write_bytes(b'{"a": 1}\\n\\n  \\n{"a": 2}\\r\\n{"a": 3}')
>>> cap = open_capture(p)
>>> len(cap), cap[0], cap[1:]
(3, b'{"a": 1}', [b'{"a": 2}\\r', b'{"a": 3}'])
>>> chain = CaptureChain([cap, cap])
>>> len(chain), chain[2:4]
(6, [b'{"a": 3}', b'{"a": 1}'])
"""

from __future__ import annotations

import weakref
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, overload

import numpy as np

__all__ = ["CaptureChain", "CaptureError", "JsonlCapture", "ParquetCapture", "open_capture"]

_SOLID = ~np.isin(np.arange(256), np.frombuffer(b" \t\n\r\x0b\x0c", dtype=np.uint8))
"""``(256,)`` bool by byte value: False for the bytes ``bytes.strip()`` removes."""


class CaptureError(ValueError):
    """A capture file cannot be read (names the file and why)."""


class _Messages(Sequence[bytes]):
    """Shared slicing: subclasses give ``__len__`` and ``_take(lo, hi)`` (a contiguous run, ``0 <= lo <= hi``)."""

    def _take(self, lo: int, hi: int) -> list[bytes]:  # pragma: no cover - abstract
        raise NotImplementedError

    def __iter__(self) -> Iterator[bytes]:
        n = len(self)
        for lo in range(0, n, 4096):  # a read per block of messages, not per message
            yield from self._take(lo, min(n, lo + 4096))

    @overload
    def __getitem__(self, index: int) -> bytes: ...

    @overload
    def __getitem__(self, index: slice) -> list[bytes]: ...

    def __getitem__(self, index: int | slice) -> bytes | list[bytes]:
        n = len(self)
        if isinstance(index, slice):
            lo, hi, step = index.indices(n)
            if step == 1:
                return self._take(lo, max(lo, hi))
            return [self[i] for i in range(lo, hi, step)]
        i = int(index)
        if i < 0:
            i += n
        if not 0 <= i < n:
            raise IndexError(f"capture index {index} out of range (0..{n - 1})")
        return self._take(i, i + 1)[0]


class JsonlCapture(_Messages):
    """The non-blank lines of a JSONL file, read from disk a slice at a time.

    Memory: 16 bytes per message (its offsets), plus about ``10 × chunk_bytes`` while the file is indexed and the
    bytes of the slice being read. The file stays open until the capture is garbage-collected.
    """

    def __init__(self, path: str | Path, chunk_bytes: int = 1 << 20) -> None:
        if chunk_bytes < 1:
            raise ValueError(f"chunk_bytes must be >= 1, got {chunk_bytes}")
        self.path = Path(path)
        try:
            self._file = open(self.path, "rb", buffering=0)  # noqa: SIM115 - held for the capture's lifetime
            weakref.finalize(self, self._file.close)
            self.starts, self.ends = self._index(chunk_bytes)
        except OSError as exc:
            raise CaptureError(f"{self.path}: cannot read the capture ({exc.strerror or exc})") from None

    def _read(self, offset: int, n: int) -> bytes:
        """``n`` bytes from byte ``offset`` (fewer at the end of the file)."""
        self._file.seek(offset)
        first = self._file.read(n)
        if len(first) == n or not first:
            return first
        parts, n = [first], n - len(first)
        while n > 0:
            got = self._file.read(n)
            if not got:
                break
            parts.append(got)
            n -= len(got)
        return b"".join(parts)

    def _index(self, chunk_bytes: int) -> tuple[np.ndarray, np.ndarray]:
        """``(starts, ends)``: byte offsets of the non-blank lines, ``(N,)`` int64 each (end excludes the ``\\n``)."""
        starts: list[np.ndarray] = [np.zeros(0, dtype=np.int64)]
        ends: list[np.ndarray] = [np.zeros(0, dtype=np.int64)]
        pos, want = 0, chunk_bytes
        while True:
            seg = np.frombuffer(self._read(pos, want), dtype=np.uint8)
            if seg.size == 0:
                break
            nl = np.flatnonzero(seg == 10)
            at_end = seg.size < want
            if not at_end and nl.size == 0:  # a line longer than the chunk: read it whole
                want *= 2
                continue
            if not at_end:
                seg = seg[:int(nl[-1]) + 1]  # whole lines only: the next chunk starts after the last newline
            line_end = nl if seg[-1] == 10 else np.append(nl, seg.size)  # the file's last line may lack its newline
            line_start = np.concatenate(([0], line_end[:-1] + 1))
            count = np.int32 if seg.size < 2**31 - 1 else np.int64
            solid = np.concatenate(([0], np.cumsum(_SOLID[seg], dtype=count)))  # non-blank bytes before each offset
            keep = solid[line_end] > solid[line_start]
            starts.append(line_start[keep] + pos)
            ends.append(line_end[keep] + pos)
            pos, want = pos + seg.size, chunk_bytes
            if at_end:
                break
        return np.concatenate(starts), np.concatenate(ends)

    def __len__(self) -> int:
        return int(self.starts.size)

    def _take(self, lo: int, hi: int) -> list[bytes]:
        if hi <= lo:
            return []
        first = int(self.starts[lo])
        data = self._read(first, int(self.ends[hi - 1]) - first)
        return [data[a:b] for a, b in zip((self.starts[lo:hi] - first).tolist(), (self.ends[lo:hi] - first).tolist(),
                                          strict=True)]


class ParquetCapture(_Messages):
    """The non-null ``value`` column of a Parquet file (a Kafka topic export), binary or string."""

    def __init__(self, path: str | Path) -> None:
        import pyarrow as pa
        import pyarrow.compute as pc
        import pyarrow.parquet as pq

        self.path = Path(path)
        try:
            names = pq.read_schema(self.path).names
            if "value" not in names:
                raise CaptureError(f"{self.path}: Parquet capture has no 'value' column (columns: {', '.join(names)})")
            table = pq.read_table(self.path, columns=["value"])
        except OSError as exc:
            raise CaptureError(f"{self.path}: cannot read the capture ({exc.strerror or exc})") from None
        except (ValueError, pa.ArrowException) as exc:  # empty, truncated or not Parquet
            if isinstance(exc, CaptureError):
                raise
            raise CaptureError(f"{self.path}: not a readable Parquet capture ({str(exc).splitlines()[0]})") from None
        col: Any = pc.drop_null(table.column("value").combine_chunks())
        self._text = pa.types.is_string(col.type) or pa.types.is_large_string(col.type)
        self._col = col

    def __len__(self) -> int:
        return len(self._col)

    def _take(self, lo: int, hi: int) -> list[bytes]:
        vals = self._col.slice(lo, hi - lo).to_pylist()
        if self._text:
            return [v.encode() for v in vals]
        return [v if isinstance(v, bytes) else str(v).encode() for v in vals]


class CaptureChain(_Messages):
    """Captures of one format end to end (the files of a topic export, in the order given)."""

    def __init__(self, parts: Sequence[Sequence[bytes]]) -> None:
        self.parts = [p for p in parts if len(p)]
        self._offsets = np.concatenate(([0], np.cumsum([len(p) for p in self.parts], dtype=np.int64)))

    def __len__(self) -> int:
        return int(self._offsets[-1])

    def _take(self, lo: int, hi: int) -> list[bytes]:
        out: list[bytes] = []
        k = int(np.searchsorted(self._offsets, lo, side="right")) - 1
        while lo < hi and k < len(self.parts):
            base = int(self._offsets[k])
            top = min(hi, int(self._offsets[k + 1]))
            out += list(self.parts[k][lo - base:top - base])
            lo, k = top, k + 1
        return out


def open_capture(path: str | Path) -> JsonlCapture | ParquetCapture:
    """A capture file as a sequence of message values: Parquet by its ``.parquet`` suffix, JSONL otherwise.

    Raises
    ------
    CaptureError
        The file cannot be read, is not Parquet where it says so, or has no ``value`` column.
    """
    path = Path(path)
    return ParquetCapture(path) if path.suffix == ".parquet" else JsonlCapture(path)
