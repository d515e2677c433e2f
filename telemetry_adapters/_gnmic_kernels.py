"""Numba kernel: a strict byte scanner for the common gnmic event shape (the decoder's fast path).

:func:`scan_events` walks a batch of messages laid end to end in one
``uint8`` buffer and, for each message that is exactly one *plain* gnmic
event, records the timestamp, the ``source`` and ``interface_name`` tags and
every ``values`` entry (key hash and offsets, value as uint64 when it is a
non-negative integer or a string of decimal digits). Anything else (arrays of
events, escapes or non-ASCII bytes in strings, floats, nested values, missing
parts, duplicate top-level keys, ``subinterface_index``, invalid JSON) clears
the message's ``ok`` flag, and the decoder sends it through the general
orjson path, which produces the same rows or the rejections. Keys are
identified by a 64-bit FNV-1a hash of their bytes.

Arrays and scalars in, arrays out (STYLE.md rule 10); run the tests with
``NUMBA_DISABLE_JIT=1`` to check it as plain Python.
"""

from __future__ import annotations

import numpy as np
from numba import njit

__all__ = ["fnv1a", "scan_events"]

_FNV_OFFSET = np.uint64(0xCBF29CE484222325)
_FNV_PRIME = np.uint64(0x100000001B3)
_U64_MAX_DIV10 = np.uint64(1844674407370955161)


@njit(cache=True)
def fnv1a(buf: np.ndarray, a: int, b: int) -> np.uint64:  # pragma: no cover - compiled
    """64-bit FNV-1a hash of ``buf[a:b]``."""
    h = _FNV_OFFSET
    for i in range(a, b):
        h = (h ^ np.uint64(buf[i])) * _FNV_PRIME
    return h


@njit(cache=True)
def _ws(buf: np.ndarray, i: int, end: int) -> int:  # pragma: no cover - compiled
    while i < end:
        c = buf[i]
        if c == 32 or c == 9 or c == 10 or c == 13:
            i += 1
        else:
            break
    return i


@njit(cache=True)
def _string(buf: np.ndarray, i: int, end: int) -> int:  # pragma: no cover - compiled
    """``buf[i]`` is the opening quote; return the index after the closing quote, or -1 (escape,
    control or non-ASCII byte, unterminated)."""
    i += 1
    while i < end:
        c = buf[i]
        if c == 34:
            return i + 1
        if c == 92 or c < 32 or c >= 128:
            return -1
        i += 1
    return -1


@njit(cache=True)
def _digits_u64(buf: np.ndarray, a: int, b: int) -> tuple[bool, np.uint64]:  # pragma: no cover - compiled
    """Parse ``buf[a:b]`` as decimal digits into uint64; (False, 0) when empty, not digits or > 2**64-1."""
    if b <= a:
        return False, np.uint64(0)
    v = np.uint64(0)
    for i in range(a, b):
        d = np.int64(buf[i]) - 48
        if d < 0 or d > 9:
            return False, np.uint64(0)
        dd = np.uint64(d)
        if v > _U64_MAX_DIV10 or (v == _U64_MAX_DIV10 and dd > np.uint64(5)):
            return False, np.uint64(0)
        v = v * np.uint64(10) + dd
    return True, v


@njit(cache=True)
def _json_int_end(buf: np.ndarray, i: int, end: int) -> int:  # pragma: no cover - compiled
    """End of a JSON non-negative integer starting at ``i`` (no sign, fraction or exponent; no leading
    zero), or -1."""
    j = i
    while j < end and 48 <= buf[j] <= 57:
        j += 1
    if j == i or (buf[i] == 48 and j - i > 1):
        return -1
    if j < end and (buf[j] == 46 or buf[j] == 101 or buf[j] == 69):  # . e E: a float
        return -1
    return j


@njit(cache=True)
def scan_events(
    buf: np.ndarray,
    starts: np.ndarray,
    ends: np.ndarray,
    h_values: np.uint64,
    h_tags: np.uint64,
    h_timestamp: np.uint64,
    h_source: np.uint64,
    h_ifname: np.uint64,
    h_subif: np.uint64,
    ok: np.ndarray,
    ts: np.ndarray,
    src_a: np.ndarray,
    src_b: np.ndarray,
    src_h: np.ndarray,
    if_a: np.ndarray,
    if_b: np.ndarray,
    if_h: np.ndarray,
    v_first: np.ndarray,
    v_count: np.ndarray,
    k_hash: np.ndarray,
    k_a: np.ndarray,
    k_b: np.ndarray,
    val: np.ndarray,
    val_num: np.ndarray,
) -> int:  # pragma: no cover - compiled
    """Scan every message; fill the per-message and per-value outputs. Returns the number of values
    written, or -1 when the value arrays are too small (the caller then uses the general path)."""
    nv = 0
    cap = k_hash.shape[0]
    for m in range(starts.shape[0]):
        ok[m] = False
        end = ends[m]
        i = _ws(buf, starts[m], end)
        if i >= end or buf[i] != 123:  # {
            continue
        i += 1
        seen_ts = False
        seen_tags = False
        seen_values = False
        first = nv
        bad = False
        src_a[m] = -1
        if_a[m] = -1
        i = _ws(buf, i, end)
        if i < end and buf[i] == 125:  # {} : no event
            continue
        while True:
            i = _ws(buf, i, end)
            if i >= end or buf[i] != 34:
                bad = True
                break
            ka = i + 1
            i = _string(buf, i, end)
            if i < 0:
                bad = True
                break
            kh = fnv1a(buf, ka, i - 1)
            i = _ws(buf, i, end)
            if i >= end or buf[i] != 58:  # :
                bad = True
                break
            i = _ws(buf, i + 1, end)
            if i >= end:
                bad = True
                break
            if kh == h_timestamp:
                if seen_ts:
                    bad = True
                    break
                seen_ts = True
                j = _json_int_end(buf, i, end)
                if j < 0:
                    bad = True
                    break
                good, t = _digits_u64(buf, i, j)
                if not good or t > np.uint64(9223372036854775807):
                    bad = True
                    break
                ts[m] = np.int64(t)
                i = j
            elif kh == h_tags or kh == h_values:  # noqa: SIM109 (numba)
                is_tags = kh == h_tags
                if (is_tags and seen_tags) or (not is_tags and seen_values):
                    bad = True
                    break
                if is_tags:
                    seen_tags = True
                else:
                    seen_values = True
                if buf[i] != 123:
                    bad = True
                    break
                i = _ws(buf, i + 1, end)
                if i < end and buf[i] == 125:
                    i += 1
                else:
                    while True:
                        i = _ws(buf, i, end)
                        if i >= end or buf[i] != 34:
                            bad = True
                            break
                        a = i + 1
                        i = _string(buf, i, end)
                        if i < 0:
                            bad = True
                            break
                        b = i - 1
                        i = _ws(buf, i, end)
                        if i >= end or buf[i] != 58:
                            bad = True
                            break
                        i = _ws(buf, i + 1, end)
                        if i >= end:
                            bad = True
                            break
                        if is_tags:
                            if buf[i] != 34:
                                bad = True
                                break
                            va = i + 1
                            i = _string(buf, i, end)
                            if i < 0:
                                bad = True
                                break
                            th = fnv1a(buf, a, b)
                            if th == h_source:
                                src_a[m] = va
                                src_b[m] = i - 1
                                src_h[m] = fnv1a(buf, va, i - 1)
                            elif th == h_ifname:
                                if_a[m] = va
                                if_b[m] = i - 1
                                if_h[m] = fnv1a(buf, va, i - 1)
                            elif th == h_subif:
                                bad = True
                                break
                        else:
                            if nv >= cap:
                                return -1
                            k_hash[nv] = fnv1a(buf, a, b)
                            k_a[nv] = a
                            k_b[nv] = b
                            if buf[i] == 34:
                                va = i + 1
                                i = _string(buf, i, end)
                                if i < 0:
                                    bad = True
                                    break
                                good, v = _digits_u64(buf, va, i - 1)
                            else:
                                j = _json_int_end(buf, i, end)
                                if j < 0:
                                    bad = True
                                    break
                                good, v = _digits_u64(buf, i, j)
                                if not good:
                                    bad = True
                                    break
                                i = j
                            val[nv] = v
                            val_num[nv] = good
                            nv += 1
                        i = _ws(buf, i, end)
                        if i < end and buf[i] == 44:  # ,
                            i += 1
                            continue
                        if i < end and buf[i] == 125:  # }
                            i += 1
                            break
                        bad = True
                        break
                    if bad:
                        break
            else:
                # any other top-level member must be a plain string (gnmic's "name")
                if buf[i] != 34:
                    bad = True
                    break
                i = _string(buf, i, end)
                if i < 0:
                    bad = True
                    break
            i = _ws(buf, i, end)
            if i < end and buf[i] == 44:
                i += 1
                continue
            if i < end and buf[i] == 125:
                i += 1
                break
            bad = True
            break
        if not bad:
            i = _ws(buf, i, end)
            bad = i != end
        if not bad:  # duplicate keys in "values": orjson keeps the last one; leave those to it
            for p in range(first + 1, nv):
                for q in range(first, p):
                    if k_hash[p] == k_hash[q]:
                        bad = True
        if bad or not (seen_ts and seen_tags and seen_values) or src_a[m] < 0 or if_a[m] < 0 or nv == first:
            nv = first
            continue
        ok[m] = True
        v_first[m] = first
        v_count[m] = nv - first
    return nv
