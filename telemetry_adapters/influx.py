"""InfluxDB line protocol parser (what Telegraf's ``influx`` serializer writes).

``measurement[,tag=value...] field=value[,field=value...] [timestamp]``

Escaping: in the measurement ``\\,`` and ``\\ ``; in tag keys, tag values and
field keys also ``\\=``; string field values are double-quoted with ``\\"`` and
``\\\\`` escaped. Field values: float by default, ``123i`` signed integer,
``123u`` unsigned integer, ``t``/``true``/``f``/``false`` booleans,
``"…"`` strings. The timestamp is an integer (ns unless the writer chose
another precision). Blank lines and ``#`` comments are skipped.

Examples
--------
>>> parse_line('ifc,name=Et35,source=10.0.0.1 in_octets=12u,descr="a \\\\"b\\\\"",up=t 1704442117721474264')
('ifc', {'name': 'Et35', 'source': '10.0.0.1'}, {'in_octets': 12, 'descr': 'a "b"', 'up': True}, 1704442117721474264)
>>> parse_line(r'my\\ m,tag\\=k=v\\,1 f=1.5')
('my m', {'tag=k': 'v,1'}, {'f': 1.5}, None)
"""

from __future__ import annotations

import math
import re
from typing import Any

__all__ = ["LineProtocolError", "parse_line"]

_BOOLS = {"t": True, "T": True, "true": True, "True": True, "TRUE": True,
          "f": False, "F": False, "false": False, "False": False, "FALSE": False}  # fmt: skip


class LineProtocolError(ValueError):
    """A line that is not valid line protocol; ``.column`` is the 0-based position."""

    def __init__(self, message: str, column: int) -> None:
        super().__init__(f"{message} (column {column})")
        self.column = column


def _split(s: str, sep: str, start: int = 0, quotes: bool = False, limit: int = -1) -> list[tuple[int, str]]:
    """Split on unescaped ``sep`` (outside double quotes when ``quotes``); returns (offset, part).

    >>> _split('a,"b,c",d', ",", quotes=True)
    [(0, 'a'), (2, '"b,c"'), (8, 'd')]
    """
    if "\\" not in s and not (quotes and '"' in s):  # nothing escaped or quoted: str.split, at C speed
        parts = s.split(sep, limit if limit > 0 else -1)
        offsets, pos = [], start
        for part in parts:
            offsets.append(pos)
            pos += len(part) + 1
        return list(zip(offsets, parts, strict=True))
    out: list[tuple[int, str]] = []
    begin = 0
    n = len(s)
    inq = False
    skip_to = -1  # the character after a backslash is literal
    # visit only the special characters (a long line of plain text costs one regex scan, not a Python loop)
    for m in _specials(sep, quotes).finditer(s):
        i = m.start()
        if i < skip_to:
            continue
        c = s[i]
        if c == "\\":
            skip_to = i + 2
        elif c == '"':
            inq = not inq
        elif not inq:
            out.append((start + begin, s[begin:i]))
            begin = i + 1
            if limit > 0 and len(out) == limit:
                break
    if inq:
        raise LineProtocolError("unterminated string field value", start + n)
    out.append((start + begin, s[begin:]))
    return out


_SPECIALS: dict[tuple[str, bool], re.Pattern[str]] = {}


def _specials(sep: str, quotes: bool) -> re.Pattern[str]:
    """The characters :func:`_split` must look at: ``sep``, backslash and (with ``quotes``) ``"``."""
    pat = _SPECIALS.get((sep, quotes))
    if pat is None:
        pat = _SPECIALS[(sep, quotes)] = re.compile("[" + re.escape(sep + "\\" + ('"' if quotes else "")) + "]")
    return pat


def _unescape(s: str, chars: str) -> str:
    if "\\" not in s:
        return s
    out = []
    i = 0
    while i < len(s):
        c = s[i]
        if c == "\\" and i + 1 < len(s) and s[i + 1] in chars:
            out.append(s[i + 1])
            i += 2
            continue
        out.append(c)
        i += 1
    return "".join(out)


def _field_value(raw: str, col: int) -> Any:
    if not raw:
        raise LineProtocolError("empty field value", col)
    last = raw[-1]
    if raw[0] == '"':
        if len(raw) < 2 or last != '"':
            raise LineProtocolError("unterminated string field value", col)
        return _unescape(raw[1:-1], '"\\')
    if last in "iu" and len(raw) > 1:
        try:
            v = int(raw[:-1], 10)
        except ValueError:
            raise LineProtocolError(f"bad integer field value {raw!r}", col) from None
        if last == "u" and v < 0:
            raise LineProtocolError(f"negative unsigned field value {raw!r}", col)
        return v
    b = _BOOLS.get(raw)
    if b is not None:
        return b
    try:
        f = float(raw)
    except ValueError:
        raise LineProtocolError(f"bad field value {raw!r}", col) from None
    if raw.lower().lstrip("+-") in ("nan", "inf", "infinity") or not math.isfinite(f):
        return f  # reported as non_finite by the caller's value checks
    return f


def parse_line(line: str) -> tuple[str, dict[str, str], dict[str, Any], int | None]:
    """Parse one line into ``(measurement, tags, fields, timestamp or None)``.

    Raises :class:`LineProtocolError` naming the column of the problem.
    """
    parts = _split(line, " ", quotes=True)
    # consecutive spaces are not allowed between sections, but tolerate trailing ones
    while len(parts) > 1 and parts[-1][1] == "":
        parts.pop()
    if len(parts) < 2:
        raise LineProtocolError("expected 'measurement[,tags] fields [timestamp]'", len(line))
    if len(parts) > 3:
        raise LineProtocolError("unexpected text after the timestamp", parts[3][0])
    key_section = _split(parts[0][1], ",")
    m_off, measurement = key_section[0]
    if not measurement:
        raise LineProtocolError("missing measurement name", m_off)
    tags: dict[str, str] = {}
    for off, kv in key_section[1:]:
        kvp = _split(kv, "=", off, limit=1)
        if len(kvp) != 2 or not kvp[0][1] or not kvp[1][1]:
            raise LineProtocolError(f"bad tag {kv!r}; expected key=value", off)
        tags[_unescape(kvp[0][1], ",= ")] = _unescape(kvp[1][1], ",= ")
    f_off, fsec = parts[1]
    fields: dict[str, Any] = {}
    for off, kv in _split(fsec, ",", f_off, quotes=True):
        kvp = _split(kv, "=", off, limit=1, quotes=True)
        if len(kvp) != 2 or not kvp[0][1]:
            raise LineProtocolError(f"bad field {kv!r}; expected key=value", off)
        fields[_unescape(kvp[0][1], ",= ")] = _field_value(kvp[1][1], kvp[1][0])
    if not fields:
        raise LineProtocolError("a line needs at least one field", f_off)
    ts: int | None = None
    if len(parts) == 3:
        t_off, traw = parts[2]
        try:
            ts = int(traw)
        except ValueError:
            raise LineProtocolError(f"bad timestamp {traw!r}", t_off) from None
    return _unescape(measurement, ", "), tags, fields, ts
