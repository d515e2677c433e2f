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
identified by a 64-bit hash of their bytes (:func:`key_hash`).

Strings are scanned eight bytes at a time (SWAR tests for the closing quote,
backslash, control and non-ASCII bytes) and hashed a word at a time in the
same pass; quoted counters are parsed eight digits at a time. The buffer must
have :data:`PAD` zero bytes after the last message (word loads may read past
it). The scanner and its helpers are compiled without numba's reference
counting (see :func:`_scanner_jit`). :func:`classify_values` and
:func:`emit_rows` are the decoder's post-scan passes (key codes and the checks;
the rows).

Arrays and scalars in, arrays out (STYLE.md rule 10); run the tests with
``NUMBA_DISABLE_JIT=1`` to check it as plain Python.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar, cast

import numpy as np
from numba import njit

from twinwatch.telemetry_adapters.speed import MIN_SPEED_BPS

_F = TypeVar("_F", bound=Callable[..., Any])


def _scanner_jit(inline: bool = False) -> Callable[[_F], _F]:
    """``numba.njit`` for the scanner and its helpers: cached, and compiled without the runtime's
    reference counting (``_nrt=False``: they take arrays, never allocate one). With it, every
    inlined helper call on ``buf`` would incref / decref the array (two atomic operations per
    string or number scanned: 40 % of the scanner's time). ``inline``: numba inlines the helper
    into its caller (its IR), so that the caller's loop sees through it."""
    opts: dict[str, Any] = {"cache": True, "_nrt": False}
    if inline:
        opts["inline"] = "always"
    return cast("Callable[[_F], _F]", njit(**opts))

__all__ = ["UNKNOWN_KEY", "classify_values", "emit_rows", "first_seen_codes", "key_hash", "scan_events"]

# xxHash64-style word hash (8 bytes per round, then the murmur3 finaliser): ~1 cycle per byte
# where a byte-wise FNV-1a takes ~4; :func:`twinwatch.telemetry_adapters._gnmic_fast.key_hash_py` is the same in Python.
_SEED = np.uint64(0x9E3779B97F4A7C15)
_P1 = np.uint64(0x9E3779B185EBCA87)
_P2 = np.uint64(0xC2B2AE3D27D4EB4F)
_M1 = np.uint64(0xFF51AFD7ED558CCD)
_M2 = np.uint64(0xC4CEB9FE1A85EC53)
_S31, _S33 = np.uint64(31), np.uint64(33)
_LO = np.uint64(0x0101010101010101)
_HI = np.uint64(0x8080808080808080)
_QUOTES = np.uint64(0x2222222222222222)
_SLASHES = np.uint64(0x5C5C5C5C5C5C5C5C)
_SPACES = np.uint64(0x2020202020202020)
_U64_MAX_DIV10 = np.uint64(1844674407370955161)
#: bytes the scanner reads past the last message (the buffer must be padded with this many zero bytes)
PAD = 8


@_scanner_jit(inline=True)
def _load64(buf: np.ndarray, p: int) -> np.uint64:  # pragma: no cover - compiled
    """Little-endian uint64 of ``buf[p : p + 8]`` (``p >= 0``; unsigned indices, so that numba emits
    no negative-index wraparound and LLVM merges the byte loads into one load)."""
    q = np.uint64(p)
    return (
        np.uint64(buf[q]) | (np.uint64(buf[q + np.uint64(1)]) << np.uint64(8))
        | (np.uint64(buf[q + np.uint64(2)]) << np.uint64(16)) | (np.uint64(buf[q + np.uint64(3)]) << np.uint64(24))
        | (np.uint64(buf[q + np.uint64(4)]) << np.uint64(32)) | (np.uint64(buf[q + np.uint64(5)]) << np.uint64(40))
        | (np.uint64(buf[q + np.uint64(6)]) << np.uint64(48)) | (np.uint64(buf[q + np.uint64(7)]) << np.uint64(56))
    )  # fmt: skip


@_scanner_jit(inline=True)
def _round(acc: np.uint64, w: np.uint64) -> np.uint64:  # pragma: no cover - compiled
    acc = acc + w * _P2
    return ((acc << _S31) | (acc >> _S33)) * _P1


@_scanner_jit(inline=True)
def _final(acc: np.uint64, length: int) -> np.uint64:  # pragma: no cover - compiled
    acc = acc ^ np.uint64(length)
    acc = (acc ^ (acc >> _S33)) * _M1
    acc = (acc ^ (acc >> _S33)) * _M2
    return acc ^ (acc >> _S33)


@_scanner_jit()
def key_hash(buf: np.ndarray, a: int, b: int) -> np.uint64:  # pragma: no cover - compiled
    """64-bit hash of ``buf[a:b]`` (the scanner's key hash; reads up to 7 bytes past ``b``)."""
    acc = _SEED
    p = a
    while p + 8 <= b:
        acc = _round(acc, _load64(buf, p))
        p += 8
    if p < b:
        w = np.uint64(0)
        for k in range(b - p):
            w |= np.uint64(buf[p + k]) << np.uint64(8 * k)
        acc = _round(acc, w)
    return _final(acc, b - a)


@_scanner_jit(inline=True)
def _str_hash(buf: np.ndarray, i: int, end: int) -> tuple[int, np.uint64]:  # pragma: no cover - compiled
    """``buf[i]`` is the opening quote: (index after the closing quote, hash of the contents), or
    (-1, 0) on an escape, a control or non-ASCII byte, or no closing quote before ``end``.

    Eight bytes at a time: a word without a quote, backslash, control or non-ASCII byte (SWAR
    tests, no false negatives) is hashed whole; otherwise its bytes are checked one by one.
    """
    a = i + 1
    p = a
    acc = _SEED
    while True:
        w = _load64(buf, p)
        tq = w ^ _QUOTES
        tb = w ^ _SLASHES
        special = ((tq - _LO) & ~tq) | ((tb - _LO) & ~tb) | ((w - _SPACES) & ~w) | w
        if special & _HI == np.uint64(0):
            if p + 8 > end:
                return -1, np.uint64(0)
            acc = _round(acc, w)
            p += 8
            continue
        for k in range(8):
            c = buf[p + k]
            if c == 34:
                if p + k >= end:
                    return -1, np.uint64(0)
                if k > 0:
                    acc = _round(acc, w & ((np.uint64(1) << np.uint64(8 * k)) - np.uint64(1)))
                return p + k + 1, _final(acc, p + k - a)
            if c == 92 or c < 32 or c >= 128:
                return -1, np.uint64(0)
        return -1, np.uint64(0)  # unreachable: the SWAR test flagged a byte


@_scanner_jit(inline=True)
def _ws(buf: np.ndarray, i: int, end: int) -> int:  # pragma: no cover - compiled
    while i < end:
        c = buf[i]
        if c == 32 or c == 9 or c == 10 or c == 13:
            i += 1
        else:
            break
    return i


@_scanner_jit(inline=True)
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


@_scanner_jit(inline=True)
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


@_scanner_jit()
def _quoted_u64_bytewise(buf: np.ndarray, i: int, end: int) -> tuple[bool, np.uint64, int]:  # pragma: no cover
    """Reference of :func:`_quoted_u64`, a digit at a time (kept for the tests)."""
    v = np.uint64(0)
    j = i
    while j < end and j - i < 19:
        d = np.int64(buf[j]) - 48
        if d < 0 or d > 9:
            break
        v = v * np.uint64(10) + np.uint64(d)
        j += 1
    if j > i and j < end and buf[j] == 34:
        return True, v, j + 1
    return False, np.uint64(0), -1


_LOW_NIBBLES = np.uint64(0x0F0F0F0F0F0F0F0F)
_LOW7 = np.uint64(0x7F7F7F7F7F7F7F7F)
_ADD_3A = np.uint64(0x4646464646464646)  # + 0x46 sets a byte's top bit iff the byte (< 0x80) is >= 0x3A
_ADD_30 = np.uint64(0x5050505050505050)  # + 0x50 sets it iff the byte (< 0x80) is >= 0x30
_BYTE_INDEX = np.uint64(0x0001020304050607)
_POW10 = np.array([10**k for k in range(9)], dtype=np.uint64)


@_scanner_jit(inline=True)
def _digit_run(w: np.uint64) -> int:  # pragma: no cover - compiled
    """Number of leading (lowest-addressed) ASCII digits in the little-endian word ``w`` (0..8)."""
    lo7 = w & _LOW7
    non_digit = (((lo7 + _ADD_3A) | ~(lo7 + _ADD_30)) | w) & _HI
    if non_digit == np.uint64(0):
        return 8
    low = non_digit & (~non_digit + np.uint64(1))  # the lowest flagged byte's top bit: 1 << (8k + 7)
    return int(np.int64(((low >> np.uint64(7)) * _BYTE_INDEX) >> np.uint64(56)))


@_scanner_jit(inline=True)
def _eight_digits(w: np.uint64) -> np.uint64:  # pragma: no cover - compiled
    """Value of 8 ASCII digits in the little-endian word ``w`` (first digit in the lowest byte)."""
    w = ((w & _LOW_NIBBLES) * np.uint64(2561)) >> np.uint64(8)
    w = ((w & np.uint64(0x00FF00FF00FF00FF)) * np.uint64(6553601)) >> np.uint64(16)
    return ((w & np.uint64(0x0000FFFF0000FFFF)) * np.uint64(42949672960001)) >> np.uint64(32)


@_scanner_jit(inline=True)
def _quoted_u64(buf: np.ndarray, i: int, end: int) -> tuple[bool, np.uint64, int]:  # pragma: no cover
    """Fast case of a quoted counter: ``buf[i:]`` is decimal digits then the closing quote (before
    ``end``), at most 19 digits: (True, value, index after the quote); else (False, 0, -1).

    Eight digits at a time (SWAR): the length of the digit run of a word, then its value with three
    multiplications. Reads whole words: a word is only read past one made of 8 digits, so at most
    7 bytes past the last digit (within the buffer's :data:`PAD`). Same results as
    :func:`_quoted_u64_bytewise`.
    """
    v = np.uint64(0)
    n = 0
    while True:
        w = _load64(buf, i + n)
        k = _digit_run(w)
        if k == 8:
            if n >= 16:  # 24 digits or more: not the fast case
                return False, np.uint64(0), -1
            v = v * _POW10[8] + _eight_digits(w)
            n += 8
            continue
        if k > 0:
            v = v * _POW10[k] + _eight_digits(w << np.uint64(8 * (8 - k)))
            n += k
        break
    j = i + n
    if n > 0 and n <= 19 and j < end and buf[j] == 34:
        return True, v, j + 1
    return False, np.uint64(0), -1


@_scanner_jit(inline=True)
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


@_scanner_jit()
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
    h_port: np.uint64,
    h_pre: np.ndarray,
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
    written, or -1 when the value arrays are too small (the caller then uses the general path).

    The interface is the ``interface_name`` tag (``h_ifname``), else the ``h_port`` tag (Nokia SR OS
    ``port_port-id``) unless one of the tags ``h_pre`` (the interface keys the general path prefers to it) is there
    too: that event goes to the general path."""
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
        key_bits = np.uint64(0)  # one bit per values key (6 bits of its hash): a cheap duplicate pre-test
        dup = False
        bad = False
        src_a[m] = -1
        if_a[m] = -1
        port_a = np.int64(-1)
        port_b = np.int64(-1)
        port_h = np.uint64(0)
        pre = False
        i = _ws(buf, i, end)
        if i < end and buf[i] == 125:  # {} : no event
            continue
        while True:
            i = _ws(buf, i, end)
            if i >= end or buf[i] != 34:
                bad = True
                break
            i, kh = _str_hash(buf, i, end)
            if i < 0:
                bad = True
                break
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
                        i, th = _str_hash(buf, i, end)
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
                            i, vh = _str_hash(buf, i, end)
                            if i < 0:
                                bad = True
                                break
                            if th == h_source:
                                src_a[m] = va
                                src_b[m] = i - 1
                                src_h[m] = vh
                            elif th == h_ifname:
                                if_a[m] = va
                                if_b[m] = i - 1
                                if_h[m] = vh
                            elif th == h_subif:
                                bad = True
                                break
                            elif th == h_port:
                                port_a = va
                                port_b = i - 1
                                port_h = vh
                            else:
                                for q in range(h_pre.shape[0]):
                                    if th == h_pre[q]:
                                        pre = True
                        else:
                            if nv >= cap:
                                return -1
                            k_hash[nv] = th
                            bit = np.uint64(1) << (th >> np.uint64(58))
                            if key_bits & bit:  # maybe a duplicate key: compare with this message's keys
                                for q in range(first, nv):
                                    if k_hash[q] == th:
                                        dup = True
                            key_bits |= bit
                            k_a[nv] = a
                            k_b[nv] = b
                            if buf[i] == 34:
                                good, v, j = _quoted_u64(buf, i + 1, end)
                                if j >= 0:
                                    i = j
                                else:  # not a short decimal string: the general parse
                                    va = i + 1
                                    i, sh = _str_hash(buf, i, end)
                                    if i < 0:
                                        bad = True
                                        break
                                    good, v = _digits_u64(buf, va, i - 1)
                                    if not good:  # a word ("UP"): keep its hash for classify_values
                                        v = sh
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
        bad = bad or dup  # duplicate keys in "values": orjson keeps the last one; leave those to it
        if if_a[m] < 0 and port_a >= 0:
            if pre:
                bad = True
            else:
                if_a[m] = port_a
                if_b[m] = port_b
                if_h[m] = port_h
        # an empty interface tag names no port: the general path refuses the port's leaves (missing_interface)
        if bad or not (seen_ts and seen_tags and seen_values) or src_a[m] < 0 or if_a[m] < 0 or if_b[m] <= if_a[m] \
                or nv == first:
            nv = first
            continue
        ok[m] = True
        v_first[m] = first
        v_count[m] = nv - first
    return nv


@njit(cache=True)
def first_seen_codes(codes: np.ndarray, n_codes: int, out: np.ndarray, first: np.ndarray) -> int:  # pragma: no cover
    """Dense codes of small non-negative ints (< ``n_codes``) in order of first appearance: ``out[i]`` per
    row, ``first[:k]`` the first row of each; returns ``k``. A table lookup per row, no hashing."""
    seen = np.full(n_codes, -1, dtype=np.int64)
    k = 0
    for i in range(codes.shape[0]):
        c = codes[i]
        d = seen[c]
        if d < 0:
            d = seen[c] = k
            first[k] = i
            k += 1
        out[i] = d
    return k


#: code :func:`classify_values` writes for a key hash not in the decoder's table yet
UNKNOWN_KEY = -32768
#: telemetry_adapters.paths codes (asserted in _gnmic_fast)
_UNMAPPED, _EPOCH_ABS, _EPOCH_REL_CS, _IF_NAME = -1, -2, -5, -6
_U32_MAX = np.uint64(0xFFFFFFFF)
_F64_EXACT = np.uint64(2**53)  # integers up to this convert to float64 exactly (as Python's float(int) does)
_MIN_SPEED = float(MIN_SPEED_BPS)  # a slower speed goes to the general path, which refuses it


@njit(cache=True)
def classify_values(
    ok: np.ndarray,
    ts: np.ndarray,
    v_first: np.ndarray,
    v_count: np.ndarray,
    k_hash: np.ndarray,
    val: np.ndarray,
    val_num: np.ndarray,
    ht_hash: np.ndarray,
    ht_code: np.ndarray,
    ht_used: np.ndarray,
    shift: int,
    field_bits: np.ndarray,
    ls_flag: np.ndarray,
    st_hash: np.ndarray,
    st_val: np.ndarray,
    sp_scale: np.ndarray,
    lo: int,
    hi: int,
    codes: np.ndarray,
    state: np.ndarray,
    good: np.ndarray,
    e_pos: np.ndarray,
    e_msg: np.ndarray,
) -> tuple[int, int]:  # pragma: no cover - compiled
    """Key codes of the scanned values and the messages the fast path keeps, in one pass.

    Link-state fields (``ls_flag[code]``): a quoted word whose hash is one of ``st_hash`` (the
    exact spellings of :data:`~telemetry_adapters.link_state.FAST_SPELLINGS`) gets ``state[j]`` =
    ``st_val`` (1.0 up, 0.0 down); a number or any other word sends the message to the general
    path (IF-MIB codes, other spellings, unknown, values that name no state).

    Numeric speed fields (``sp_scale[code] > 0``, bit/s per unit: ``lag-speed``, ``ifHighSpeed`` …): a
    decimal integer in ``1 .. 2**53`` (exact as a float) other than 4294967295 gets ``state[j]`` = value ×
    scale, when it is the message's only speed leaf; 0, 4294967295 (saturated), larger values, a speed
    below 1 kb/s (refused there), any other
    value, a named speed (``port-speed``: ``sp_scale`` 0, a gauge) or a second speed leaf (one row per
    record: the general path picks the preferred one) send the message to the general path.

    ``ht_*`` is the decoder's open-addressing table of key hash → code (size ``2**(64 - shift)``,
    indexed by the hash's top bits, linear probing). Writes ``codes`` per value (:data:`UNKNOWN_KEY` when the
    hash is not in the table) and ``good`` per message: ``ok``, no unmapped-type surprises (a
    mapped field or epoch leaf that is not a decimal integer, any other special code (an interface-name leaf, an IGP
    metric of another topology), a gauge (an IGP metric among them), a
    Counter32 above 2**32-1), at least one field, ``lo <= ts <= hi``. The integer epoch leaves of
    the good messages go to ``e_pos`` / ``e_msg`` (value index, message) for the range check.
    Returns ``(unknown keys, epoch leaves)``; with unknown keys the other outputs are incomplete.
    """
    mask = ht_hash.shape[0] - 1
    sh = np.uint64(shift)
    n_unknown = 0
    n_e = 0
    for m in range(ok.shape[0]):
        good[m] = False
        if not ok[m]:
            continue
        a = v_first[m]
        b = a + v_count[m]
        send = False
        has_field = False
        n_speed = 0
        e0 = n_e
        for j in range(a, b):
            h = k_hash[j]
            p = np.int64(h >> sh) & mask
            c = UNKNOWN_KEY
            while ht_used[p]:
                if ht_hash[p] == h:
                    c = int(ht_code[p])
                    break
                p = (p + 1) & mask
            codes[j] = c
            if c == UNKNOWN_KEY:
                n_unknown += 1
                continue
            if c >= 0:
                has_field = True
                if ls_flag[c]:
                    hit = -1
                    if not val_num[j]:
                        for q in range(st_hash.shape[0]):
                            if st_hash[q] == val[j]:
                                hit = q
                                break
                    if hit < 0:
                        send = True
                    else:
                        state[j] = st_val[hit]
                    continue
                if sp_scale[c] > 0.0:
                    v = val[j]
                    if (not val_num[j] or v == 0 or v == _U32_MAX or v > _F64_EXACT or n_speed > 0
                            or np.float64(v) * sp_scale[c] < _MIN_SPEED):
                        send = True
                    else:
                        state[j] = np.float64(v) * sp_scale[c]
                    n_speed += 1
                    continue
                bits = field_bits[c]
                if not val_num[j] or bits == 0 or (bits == 32 and val[j] > _U32_MAX):
                    send = True
            elif c <= _EPOCH_ABS and c >= _EPOCH_REL_CS:
                if not val_num[j]:
                    send = True
                else:
                    e_pos[n_e] = j
                    e_msg[n_e] = m
                    n_e += 1
            elif c != _UNMAPPED:  # an interface-name leaf, an IGP metric of another topology (IGP_OTHER) …
                send = True
        t = ts[m]
        if send or not has_field or t < lo or t > hi:
            n_e = e0
            continue
        good[m] = True
    return n_unknown, n_e


@njit(cache=True)
def emit_rows(
    good: np.ndarray,
    v_first: np.ndarray,
    v_count: np.ndarray,
    codes: np.ndarray,
    val: np.ndarray,
    ts: np.ndarray,
    epoch: np.ndarray,
    has_epoch: np.ndarray,
    msg_dev: np.ndarray,
    msg_if: np.ndarray,
    field_bits: np.ndarray,
    ls_flag: np.ndarray,
    state: np.ndarray,
    row_msg: np.ndarray,
    row_val: np.ndarray,
    row_f64: np.ndarray,
    row_ts: np.ndarray,
    row_kind: np.ndarray,
    row_epoch: np.ndarray,
    row_has_epoch: np.ndarray,
    row_dev: np.ndarray,
    row_if: np.ndarray,
    row_field: np.ndarray,
    field_order: np.ndarray,
) -> tuple[int, int]:  # pragma: no cover - compiled
    """One row per field value of the good messages, message after message: writes the ``row_*``
    columns (``row_field``: dense field codes in order of first appearance, ``field_order[k]`` the
    field code of dense code ``k``; ``row_f64``: the counter as float64, or the ``state`` of a field read
    apart (``ls_flag[code]``: link state, speed), whose ``row_val`` is 0). Returns ``(rows, distinct fields)``."""
    seen = np.full(field_bits.shape[0], -1, dtype=np.int64)
    n = 0
    k = 0
    for m in range(good.shape[0]):
        if not good[m]:
            continue
        t = ts[m]
        e = epoch[m]
        he = has_epoch[m]
        d = msg_dev[m]
        f = msg_if[m]
        for j in range(v_first[m], v_first[m] + v_count[m]):
            c = codes[j]
            if c < 0:
                continue
            row_msg[n] = m
            if ls_flag[c]:
                row_val[n] = 0
                row_f64[n] = state[j]
            else:
                row_val[n] = val[j]
                row_f64[n] = np.float64(val[j])
            row_ts[n] = t
            row_kind[n] = field_bits[c]
            row_epoch[n] = e
            row_has_epoch[n] = he
            row_dev[n] = d
            row_if[n] = f
            q = seen[c]
            if q < 0:
                q = seen[c] = k
                field_order[k] = c
                k += 1
            row_field[n] = q
            n += 1
    return n, k
