"""The gnmic decoder's fast path: plain events decoded by a numba byte scanner, columns built at once.

:func:`decode` lays the batch end to end in one buffer, runs
:func:`~telemetry_adapters._gnmic_kernels.scan_events`, maps key hashes to
field codes with a sorted lookup table (a key's text is decoded and mapped
once per decoder, then cached by hash), and builds the
:class:`~telemetry_adapters.schema.SampleBatch` with NumPy. Every message it
cannot decode *exactly* as the general orjson path would (see the kernel's
docstring; also: a mapped leaf whose value is not a decimal integer, no
counter leaf at all, a timestamp outside the accepted window, a Counter32
above 2**32-1, gauges, interface-name leaves) is returned in ``rest`` for the
general path, which then produces its rows or rejections.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from telemetry_adapters._assemble import epoch_in_range, epochs_vectorised
from telemetry_adapters._gnmic_kernels import PAD, first_seen_codes, scan_events
from telemetry_adapters._json import to_bytes
from telemetry_adapters._names import dense_codes
from telemetry_adapters.base import RawMessage
from telemetry_adapters.paths import EPOCH_ABS, EPOCH_REL_CS, FIELD_BITS, FIELD_NAMES, IF_NAME
from telemetry_adapters.schema import NameCodes, SampleBatch

if TYPE_CHECKING:
    from telemetry_adapters.gnmic import GnmicDecoder

__all__ = ["FastState", "decode"]

_FIELD_NAMES_ARR = np.array(FIELD_NAMES, dtype=object)
_FIELD_BITS_ARR = np.array(FIELD_BITS, dtype=np.uint8)
_IS_GAUGE = _FIELD_BITS_ARR == 0
_MAX_CACHE = 100_000
_M64 = 0xFFFFFFFFFFFFFFFF
_PAD_BYTES = bytes(PAD)


def _round_py(acc: int, w: int) -> int:
    acc = (acc + w * 0xC2B2AE3D27D4EB4F) & _M64
    return ((((acc << 31) | (acc >> 33)) & _M64) * 0x9E3779B185EBCA87) & _M64


def key_hash_py(data: bytes) -> int:
    """The scanner's 64-bit key hash of ``data`` (:func:`~telemetry_adapters._gnmic_kernels.key_hash`), in Python.

    Little-endian 8-byte words (the last one zero-padded) through an xxHash64-style round, then
    the length and the murmur3 finaliser.

    >>> hex(key_hash_py(b"values"))
    '0x...'
    """
    acc = 0x9E3779B97F4A7C15
    for p in range(0, len(data), 8):
        acc = _round_py(acc, int.from_bytes(data[p : p + 8], "little"))
    acc ^= len(data)
    acc = ((acc ^ (acc >> 33)) * 0xFF51AFD7ED558CCD) & _M64
    acc = ((acc ^ (acc >> 33)) * 0xC4CEB9FE1A85EC53) & _M64
    return acc ^ (acc >> 33)


_H = {k: np.uint64(key_hash_py(k.encode())) for k in
      ("values", "tags", "timestamp", "source", "interface_name", "subinterface_index")}  # fmt: skip


class FastState:
    """Per-decoder caches: key hash → field code (sorted arrays) and string hash → str."""

    def __init__(self) -> None:
        self.hashes = np.empty(0, dtype=np.uint64)
        self.codes = np.empty(0, dtype=np.int16)
        self.strings: dict[int, str] = {}

    def learn(self, new_hashes: npt.NDArray[np.uint64], new_codes: list[int]) -> None:
        """Add (hash, code) pairs and keep the table sorted."""
        if len(self.hashes) > _MAX_CACHE:
            self.hashes = np.empty(0, dtype=np.uint64)
            self.codes = np.empty(0, dtype=np.int16)
        h = np.concatenate([self.hashes, new_hashes])
        c = np.concatenate([self.codes, np.asarray(new_codes, dtype=np.int16)])
        order = np.argsort(h, kind="stable")
        self.hashes, self.codes = h[order], c[order]


def _lookup(state: FastState, keys: npt.NDArray[np.uint64]) -> tuple[npt.NDArray[np.int16], npt.NDArray[np.bool_]]:
    """Codes of ``keys`` and a mask of the keys not in the table yet."""
    if len(state.hashes) == 0:
        return np.zeros(len(keys), dtype=np.int16), np.ones(len(keys), dtype=bool)
    pos = np.searchsorted(state.hashes, keys)
    pos[pos == len(state.hashes)] = 0
    known = state.hashes[pos] == keys
    return state.codes[pos], ~known


def _strings(state: FastState, buf: bytes, hashes: npt.NDArray[np.uint64], a: npt.NDArray[np.int64],
             b: npt.NDArray[np.int64]) -> list[str]:  # fmt: skip
    """Decoded strings for (hash, offsets), decoded once per distinct hash."""
    cache = state.strings
    hl = hashes.tolist()
    out = list(map(cache.get, hl))
    if None in out:
        if len(cache) > _MAX_CACHE:
            cache.clear()
        al, bl = a.tolist(), b.tolist()
        for j, s in enumerate(out):
            if s is None:
                s = cache[hl[j]] = buf[al[j] : bl[j]].decode("ascii")
                out[j] = s
    return out  # type: ignore[return-value]


def _objects(items: list[Any]) -> npt.NDArray[np.object_]:
    out = np.empty(len(items), dtype=object)
    out[:] = items
    return out


def decode(
    dec: GnmicDecoder, messages: Sequence[RawMessage]
) -> tuple[SampleBatch, npt.NDArray[np.intp], npt.NDArray[np.intp]] | None:
    """(batch, row → message index, message indices left for the general path), or None to use it for all."""
    raws = messages if set(map(type, messages)) == {bytes} else [to_bytes(m) for m in messages]
    M = len(raws)
    lengths = np.fromiter(map(len, raws), dtype=np.int64, count=M)
    joined = b"".join([*raws, _PAD_BYTES])  # type: ignore[list-item]  # the scanner reads words past the end
    buf = np.frombuffer(joined, dtype=np.uint8)
    ends = np.cumsum(lengths)
    starts = ends - lengths
    too_big = lengths > dec.config.max_message_bytes
    if too_big.any():
        ends = np.where(too_big, starts, ends)  # an empty span never scans as an event
    cap = len(joined) // 5 + 16  # every values entry takes >= 5 bytes ('"":0,'): an upper bound on entries
    ok = np.zeros(M, dtype=np.bool_)
    ts = np.zeros(M, dtype=np.int64)
    src_a, src_b, if_a, if_b = (np.zeros(M, dtype=np.int64) for _ in range(4))
    src_h, if_h = np.zeros(M, dtype=np.uint64), np.zeros(M, dtype=np.uint64)
    v_first, v_count = np.zeros(M, dtype=np.int64), np.zeros(M, dtype=np.int64)
    k_hash = np.empty(cap, dtype=np.uint64)
    k_a, k_b = np.empty(cap, dtype=np.int64), np.empty(cap, dtype=np.int64)
    val = np.empty(cap, dtype=np.uint64)
    val_num = np.empty(cap, dtype=np.bool_)
    nv = scan_events(buf, starts, ends, _H["values"], _H["tags"], _H["timestamp"], _H["source"],
                     _H["interface_name"], _H["subinterface_index"], ok, ts, src_a, src_b, src_h, if_a, if_b,
                     if_h, v_first, v_count, k_hash, k_a, k_b, val, val_num)  # fmt: skip
    if nv < 0:
        return None
    k_hash, k_a, k_b, val, val_num = k_hash[:nv], k_a[:nv], k_b[:nv], val[:nv], val_num[:nv]
    st: FastState = dec._fast_state
    codes, unknown = _lookup(st, k_hash)
    if unknown.any():
        uh, first = np.unique(k_hash[unknown], return_index=True)
        sel = np.flatnonzero(unknown)[first]
        texts = [joined[a:b].decode("ascii") for a, b in zip(k_a[sel].tolist(), k_b[sel].tolist(), strict=True)]
        st.learn(uh, [dec._mapper[t] for t in texts])
        codes, _ = _lookup(st, k_hash)
    ok_idx = np.flatnonzero(ok)
    msg_of = np.repeat(ok_idx, v_count[ok_idx])  # values are stored message after message
    is_field = codes >= 0
    is_epoch = (codes <= EPOCH_ABS) & (codes >= EPOCH_REL_CS)
    # messages the general path must take: see the module docstring
    send = np.zeros(M, dtype=bool)
    send[msg_of[((is_field | is_epoch) & ~val_num) | (codes == IF_NAME)]] = True
    f_codes = np.where(is_field, codes, 0)
    send[msg_of[is_field & _IS_GAUGE[f_codes]]] = True
    send[msg_of[is_field & (_FIELD_BITS_ARR[f_codes] == 32) & (val > np.uint64(2**32 - 1))]] = True
    e_pos = np.flatnonzero(is_epoch)
    if len(e_pos):
        bad_e = ~epoch_in_range(codes[e_pos], val[e_pos], ts[msg_of[e_pos]])
        send[msg_of[e_pos[bad_e]]] = True
    has_field = np.zeros(M, dtype=bool)
    has_field[msg_of[is_field]] = True
    lo, hi = dec.config.ts_bounds_ns()
    send |= ok & (~has_field | (ts < lo) | (ts > hi))
    good = ok & ~send
    rest = np.flatnonzero(~good)
    keep_v = good[msg_of]
    rows = np.flatnonzero(keep_v & is_field)
    row_msg = msg_of[rows]
    # per-message columns, then rows
    g_idx = np.flatnonzero(good)
    epoch = np.zeros(M, dtype=np.int64)
    has_epoch = np.zeros(M, dtype=bool)
    eidx = np.flatnonzero(keep_v & is_epoch)
    if len(eidx):
        epochs_vectorised(eidx, codes, val[eidx], msg_of, ts, epoch, has_epoch)
    # string columns: each distinct device / interface / field decoded once, rows get integer codes
    src_c, src_first = dense_codes(src_h[g_idx].view(np.int64))
    srcs = _strings(st, joined, src_h[g_idx[src_first]], src_a[g_idx[src_first]], src_b[g_idx[src_first]])
    devices = dec._devices
    dev_names: list[Any] = list(map(devices.get, srcs))
    if None in dev_names:
        from telemetry_adapters.gnmic import device_from_source

        for j, d in enumerate(dev_names):
            if d is None:
                dev_names[j] = devices[srcs[j]] = device_from_source(srcs[j])
    if_c, if_first = dense_codes(if_h[g_idx].view(np.int64))
    if_names = _strings(st, joined, if_h[g_idx[if_first]], if_a[g_idx[if_first]], if_b[g_idx[if_first]])
    msg_dev = np.zeros(M, dtype=np.int64)
    msg_dev[g_idx] = src_c
    msg_if = np.zeros(M, dtype=np.int64)
    msg_if[g_idx] = if_c
    rc = codes[rows]
    f_c, f_first = np.empty(len(rc), dtype=np.int64), np.empty(len(FIELD_NAMES), dtype=np.int64)
    f_first = f_first[: first_seen_codes(rc, len(FIELD_NAMES), f_c, f_first)]
    f_names = [FIELD_NAMES[c] for c in rc[f_first].tolist()]
    row_dev, row_if = msg_dev[row_msg], msg_if[row_msg]
    m = len(rows)
    src_col = np.empty(m, dtype=object)
    src_col.fill(dec.name)
    net_col = np.empty(m, dtype=object)
    net_col.fill(dec.config.network)
    u64 = val[rows]
    batch = SampleBatch(
        device=_objects(dev_names)[row_dev],
        interface=_objects(if_names)[row_if],
        field=_FIELD_NAMES_ARR[rc],
        ts_ns=ts[row_msg],
        value_u64=u64,
        value_f64=u64.astype(np.float64),
        kind=_FIELD_BITS_ARR[rc],
        epoch_ns=epoch[row_msg],
        has_epoch=has_epoch[row_msg],
        source=src_col,
        network=net_col,
        codes=NameCodes(row_dev, dev_names, row_if, if_names, f_c, f_names),
    )
    return batch, row_msg, rest
