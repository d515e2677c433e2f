"""Bit rates written the way operators write them: ``10G``, ``2.5 Gbps``, ``100e9``.

A capacity in the network-model file is a number of bits per second, or a
string: a decimal number, an optional SI prefix ``k``/``K``, ``M``, ``G``,
``T`` (powers of 1000, never 1024) and an optional unit ``bps``, ``b/s`` or
``bit/s``. ``"10G"``, ``"10 Gbps"`` and ``10000000000`` are the same capacity.

>>> parse_bps("10G"), parse_bps("2.5 Gbps"), parse_bps(1e9), parse_bps("155.52M")
(10000000000.0, 2500000000.0, 1000000000.0, 155520000.0)
>>> format_bps(10e9), format_bps(9953280000.0), format_bps(155.52e6), format_bps(1234.5)
('10G', '9.95328G', '155.52M', '1.2345k')
"""

from __future__ import annotations

import math
import re

__all__ = ["BPS_PATTERN", "format_bps", "parse_bps", "rate_text"]

BPS_PATTERN = r"^\s*[0-9]+(\.[0-9]+)?([eE][+-]?[0-9]+)?\s*[kKMGT]?\s*(bps|b/s|bit/s)?\s*$"
"""Regular expression of a capacity string (also in the JSON Schema)."""

_RE = re.compile(
    r"^\s*(?P<num>[0-9]+(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?)\s*(?P<prefix>[kKMGT])?\s*(?:bps|b/s|bit/s)?\s*$")
_PREFIX = {"k": 1e3, "K": 1e3, "M": 1e6, "G": 1e9, "T": 1e12}


def parse_bps(value: object) -> float:
    """Bits per second from a number or an SI string; ``ValueError`` naming the value otherwise."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    m = _RE.match(value) if isinstance(value, str) else None
    if m is None:
        raise ValueError(
            f"{value!r} is not a bit rate; write bits/s as a number or a string such as '10G' or '2.5 Gbps'")
    return float(m.group("num")) * _PREFIX.get(m.group("prefix") or "", 1.0)


def rate_text(bps: float) -> str:
    """Bit/s for people to read, three significant digits and an SI prefix (``'1.53 Gb/s'``).

    >>> rate_text(1.25e10), rate_text(4e8), rate_text(64e3), rate_text(12.0)
    ('12.5 Gb/s', '400 Mb/s', '64 kb/s', '12 b/s')
    """
    for prefix, scale in (("T", 1e12), ("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if bps >= scale:
            return f"{bps / scale:.3g} {prefix}b/s"
    return f"{bps:.3g} b/s"


def format_bps(bps: float) -> str | float:
    """The shortest exact SI string for ``bps`` (``'10G'``), or the number itself when none is exact."""
    if not math.isfinite(bps) or bps <= 0:
        return bps
    for prefix, scale in (("T", 1e12), ("G", 1e9), ("M", 1e6), ("k", 1e3)):
        v = bps / scale
        if v >= 1 and abs(round(v, 6) * scale - bps) <= 1e-9 * bps:
            return f"{round(v, 6):g}{prefix}"
    return int(bps) if float(bps).is_integer() else bps
