"""Structure-aware mutations of valid telemetry messages (the golden fixtures), for the decoder fuzzers.

A :class:`Mutator` starts from a valid message and applies 1..k operators:

* JSON messages are parsed and mutated as a tree: drop a key, duplicate a
  subtree under another key, retype a value (number ↔ string ↔ list ↔ object ↔
  null ↔ bool), nest a value wrongly (wrap it in a list or object), replace a
  number by a huge, negative, fractional, NaN/inf or out-of-int64 one, rescale
  a timestamp into the wrong unit (s, ms, µs, negative), insert a giant string,
  swap two values; then the text is serialised and may get byte-level damage
  (truncation, invalid UTF-8, a flipped or deleted byte, NaN/Infinity tokens).
* Line-protocol messages are mutated by line and token: drop or duplicate a
  field or tag, break a type suffix (``i`` / ``u``), rescale the timestamp,
  truncate the line, insert invalid UTF-8 or control characters.

Every random choice goes through a :class:`Chooser`, so the same operators are
driven by ``random.Random`` in the benchmark (fast, millions of inputs) and by
hypothesis in the tests (which then shrinks a failure to a minimal mutation).
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Protocol

import orjson

__all__ = ["FIXTURES", "FORMATS", "Chooser", "Mutator", "RandomChooser", "golden_messages"]

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
#: the wire formats of issue 14 and their fixture folder
FORMATS: dict[str, str] = {
    "gnmic": "gnmic", "gnmi": "gnmi", "telegraf-json": "telegraf-json", "influx": "influx",
    "cisco-mdt": "cisco-mdt", "otlp": "otlp", "goflow2": "goflow2", "probe": "probe",
}  # fmt: skip
_LINE_FORMATS = frozenset({"influx"})


class Chooser(Protocol):
    """The source of every random decision."""

    def int(self, lo: int, hi: int) -> int:
        """An integer in ``[lo, hi]``."""
        ...

    def choice(self, seq: Sequence[Any]) -> Any:
        """One element of a non-empty ``seq``."""
        ...


class RandomChooser:
    """:class:`Chooser` backed by :class:`random.Random` (the benchmark)."""

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)

    def int(self, lo: int, hi: int) -> int:
        return self.rng.randint(lo, hi)

    def choice(self, seq: Sequence[Any]) -> Any:
        return seq[self.rng.randrange(len(seq))]


def golden_messages(fmt: str) -> list[bytes]:
    """Every message of the golden inputs of ``fmt`` (``input.jsonl``: one per line; else the whole file)."""
    out: list[bytes] = []
    for case in sorted((FIXTURES / FORMATS[fmt]).iterdir()):
        for name in ("input.jsonl", "input.json", "input.txt"):
            p = case / name
            if p.exists():
                data = p.read_bytes()
                out += [ln for ln in data.split(b"\n") if ln.strip()] if name == "input.jsonl" else [data]
                if name == "input.txt":  # line protocol: each line is also a message of its own
                    out += [ln for ln in data.split(b"\n") if ln.strip()]
                break
    return out


_NS = 1_700_000_000_000_000_000
_NUMBERS: tuple[Any, ...] = (
    0, -1, 1, 2**31, 2**32 - 1, 2**32, 2**63 - 1, 2**64 - 1, -(2**63), 1e300, -1e300, 1e-300, 0.5, -0.0,
    _NS // 10**9, _NS // 10**6, _NS // 10**3, -_NS, "NaN", "inf", "-Infinity", "1e400", "18446744073709551616",
    "0x10", " 12 ", "1_000", "",
)  # fmt: skip
_SCALARS: tuple[Any, ...] = (None, True, False, "", "x", [], {}, 0, -5, 3.25, "∞", "\u0000", "a" * 70_000)
_TIME_KEYS = ("time", "timestamp", "ts", "Nano", "_ns", "msg_timestamp", "collection")


def _paths(node: Any, prefix: tuple[Any, ...] = (), limit: int = 400) -> list[tuple[Any, ...]]:
    """Paths (key / index tuples) of every node of a JSON tree, root first (at most ``limit``)."""
    out = [prefix]
    stack = [(node, prefix)]
    while stack and len(out) < limit:
        cur, pre = stack.pop()
        items = cur.items() if isinstance(cur, dict) else enumerate(cur) if isinstance(cur, list) else ()
        for k, v in items:
            out.append((*pre, k))
            if isinstance(v, dict | list):
                stack.append((v, (*pre, k)))
    return out


def _get(node: Any, path: tuple[Any, ...]) -> Any:
    for k in path:
        node = node[k]
    return node


def _set(node: Any, path: tuple[Any, ...], value: Any) -> Any:
    if not path:
        return value
    _get(node, path[:-1])[path[-1]] = value
    return node


class Mutator:
    """Mutations of the valid messages of one format (see the module docstring)."""

    def __init__(self, fmt: str, seeds: Sequence[bytes] | None = None) -> None:
        self.fmt = fmt
        self.seeds = list(seeds) if seeds is not None else golden_messages(fmt)
        if not self.seeds:
            raise ValueError(f"no golden messages for {fmt!r} under {FIXTURES}")
        self._parsed: list[Any] = []
        for s in self.seeds:
            try:
                self._parsed.append(orjson.loads(s))
            except orjson.JSONDecodeError:
                self._parsed.append(None)
        self._tree_ops: list[Callable[[Chooser, Any], Any]] = [
            self._drop, self._duplicate, self._retype, self._nest, self._number, self._timestamp, self._giant,
            self._swap,
        ]

    # --------------------------------------------------------------- entry point
    def mutate(self, c: Chooser) -> bytes:
        """One mutated message."""
        i = c.int(0, len(self.seeds) - 1)
        tree = self._parsed[i]
        if tree is not None and self.fmt not in _LINE_FORMATS:
            tree = orjson.loads(self.seeds[i])  # a private copy
            for _ in range(c.int(1, 4)):
                tree = c.choice(self._tree_ops)(c, tree)
            data = self._dump(tree)
        else:
            data = self._mutate_lines(c, self.seeds[i])
        if c.int(0, 3) == 0:
            data = self._bytes(c, data)
        return data

    @staticmethod
    def _dump(tree: Any) -> bytes:
        try:
            return orjson.dumps(tree)
        except (TypeError, orjson.JSONEncodeError):  # an int beyond 64 bits: write it as JSON text anyway
            import json

            return json.dumps(tree, allow_nan=True).encode()

    # --------------------------------------------------------------- tree operators
    def _pick(self, c: Chooser, tree: Any, containers_only: bool = False) -> tuple[Any, ...]:
        paths = _paths(tree)
        if containers_only:
            paths = [p for p in paths if isinstance(_get(tree, p), dict | list)] or [()]
        return c.choice(paths)

    def _drop(self, c: Chooser, tree: Any) -> Any:
        p = self._pick(c, tree)
        if p:
            parent = _get(tree, p[:-1])
            if isinstance(parent, dict):
                parent.pop(p[-1], None)
            else:
                del parent[p[-1]]
        return tree

    def _duplicate(self, c: Chooser, tree: Any) -> Any:
        src = _get(tree, self._pick(c, tree))
        dst = self._pick(c, tree, containers_only=True)
        target = _get(tree, dst)
        copy = orjson.loads(self._dump(src)) if isinstance(src, dict | list) else src
        if isinstance(target, dict):
            key = c.choice([*list(target)[:8], "values", "update", "timestamp", "x"] if target else ["x"])
            target[str(key) if c.int(0, 1) else f"{key}_dup"] = copy
        elif isinstance(target, list):
            target.insert(c.int(0, len(target)), copy)
        return tree

    def _retype(self, c: Chooser, tree: Any) -> Any:
        p = self._pick(c, tree)
        v = _get(tree, p)
        if isinstance(v, bool | int | float):
            new: Any = c.choice([str(v), [v], {"v": v}, None, bool(v)])
        elif isinstance(v, str):
            new = c.choice([len(v), [v], {v[:20]: v}, None, v.encode("utf-8", "replace")[:10].hex(), 1.5])
        elif isinstance(v, list):
            new = c.choice([{str(k): x for k, x in enumerate(v)}, len(v), "list", None])
        elif isinstance(v, dict):
            new = c.choice([list(v.values()), list(v), "object", 0, None])
        else:
            new = c.choice(_SCALARS)
        return _set(tree, p, new)

    def _nest(self, c: Chooser, tree: Any) -> Any:
        p = self._pick(c, tree)
        v = _get(tree, p)
        return _set(tree, p, c.choice([[v], {"value": v}, [[v]], {"": {"": v}}]))

    def _number(self, c: Chooser, tree: Any) -> Any:
        paths = _paths(tree)
        nums = [p for p in paths if isinstance(_get(tree, p), int | float) and not isinstance(_get(tree, p), bool)]
        nums += [p for p in paths if isinstance(_get(tree, p), str) and _get(tree, p)[:1].isdigit()]
        if not nums:
            return tree
        return _set(tree, c.choice(nums), c.choice(_NUMBERS))

    def _timestamp(self, c: Chooser, tree: Any) -> Any:
        ts = [p for p in _paths(tree) if p and isinstance(p[-1], str) and any(k in p[-1] for k in _TIME_KEYS)]
        if not ts:
            return tree
        p = c.choice(ts)
        v = _get(tree, p)
        try:
            f = float(v)
        except (TypeError, ValueError):
            f = float(_NS)
        if not math.isfinite(f):
            f = float(_NS)
        scale = c.choice([1e-9, 1e-6, 1e-3, -1.0, 1e3, 0.0])
        new = int(f * scale) if c.int(0, 1) else f * scale
        return _set(tree, p, str(new) if isinstance(v, str) else new)

    def _giant(self, c: Chooser, tree: Any) -> Any:
        p = self._pick(c, tree)
        return _set(tree, p, c.choice(["x" * 100_000, "é" * 30_000, "[/bold]" * 1000, "\ud7ff" * 1000]))

    def _swap(self, c: Chooser, tree: Any) -> Any:
        a, b = self._pick(c, tree), self._pick(c, tree)
        if not a or not b or a[: len(b)] == b or b[: len(a)] == a:
            return tree
        va, vb = _get(tree, a), _get(tree, b)
        _set(tree, a, vb)
        _set(tree, b, va)
        return tree

    # --------------------------------------------------------------- line protocol
    def _mutate_lines(self, c: Chooser, data: bytes) -> bytes:
        lines = data.split(b"\n")
        for _ in range(c.int(1, 3)):
            k = c.int(0, len(lines) - 1)
            line = lines[k]
            op = c.int(0, 7)
            if op == 0 and b" " in line:  # drop / duplicate a field
                head, _, rest = line.partition(b" ")
                fields, sp, ts = rest.partition(b" ")
                parts = fields.split(b",")
                j = c.int(0, len(parts) - 1)
                parts = parts[:j] + parts[j + 1 :] if c.int(0, 1) else [*parts, parts[j]]
                line = head + b" " + b",".join(parts) + sp + ts
            elif op == 1:  # break a type suffix
                old, new = c.choice([b"u,", b"i,", b"u ", b"i "]), c.choice([b"q,", b"e9 ", b"uu ", b",", b" "])
                line = line.replace(old, new, 1)
            elif op == 2:  # rescale the timestamp
                head, sp, ts = line.rpartition(b" ")
                if ts.lstrip(b"-").isdigit():
                    v = int(ts) // c.choice([10**9, 10**6, 10**3, 1, -1]) if int(ts) else 0
                    line = head + sp + str(v * c.choice([1, 10**12])).encode()
            elif op == 3:  # truncate
                line = line[: c.int(0, len(line))]
            elif op == 4:  # invalid UTF-8 / control characters
                j = c.int(0, len(line))
                line = line[:j] + c.choice([b"\xff\xfe", b"\xc3(", b"\x00", b"\r", b"\\", b"\""]) + line[j:]
            elif op == 5:  # a value out of range
                line = line.replace(b"=", c.choice([b"=-1i,x", b"=18446744073709551616u,x", b"=NaN,x", b"=1e309,x"]), 1)
            elif op == 6:  # duplicate the line (same counter, same time)
                lines.insert(k, line)
            else:  # a giant tag value
                line = line.replace(b",", b"," + b"t=" + b"y" * 70_000 + b",", 1)
            lines[k] = line
        return b"\n".join(lines)

    # --------------------------------------------------------------- bytes
    @staticmethod
    def _bytes(c: Chooser, data: bytes) -> bytes:
        op = c.int(0, 4)
        if not data:
            return b"\xff"
        j = c.int(0, len(data) - 1)
        if op == 0:
            return data[:j]
        if op == 1:
            return data[:j] + b"\xff\xfe\xc3" + data[j:]
        if op == 2:
            return data[:j] + bytes([data[j] ^ (1 << c.int(0, 7))]) + data[j + 1 :]
        if op == 3:
            return data[:j] + data[j + 1 :]
        return data.replace(b"1", c.choice([b"NaN", b"Infinity", b"-Infinity"]), 1)
