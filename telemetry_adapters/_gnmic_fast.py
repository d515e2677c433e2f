"""The gnmic decoder's fast path: plain events decoded by a numba byte scanner, columns built at once.

:func:`decode` lays the batch end to end in one buffer, runs
:func:`~telemetry_adapters._gnmic_kernels.scan_events`, then
:func:`~telemetry_adapters._gnmic_kernels.classify_values` (key hash → field
code through the decoder's hash table, a key's text being decoded and mapped
once per decoder, and the checks below, in one pass) and
:func:`~telemetry_adapters._gnmic_kernels.emit_rows` (the row columns, in one
pass). The :class:`~telemetry_adapters.schema.SampleBatch` keeps device,
interface and field as integer codes and source / network as constants
(:meth:`~telemetry_adapters.schema.SampleBatch.from_codes`): their object
arrays are built only if someone reads them. Every message it
cannot decode *exactly* as the general orjson path would (see the kernel's
docstring; also: a mapped leaf whose value is not a decimal integer, no
counter leaf at all, a timestamp outside the accepted window, a Counter32
above 2**32-1, gauges, interface-name leaves; a link-state leaf whose value is
not one of the exact spellings of
:data:`~telemetry_adapters.link_state.FAST_SPELLINGS`) is returned in ``rest``
for the general path, which then produces its rows or rejections. Link-state
leaves (``oper-status`` / ``admin-status`` ``"UP"`` …) are decoded here: the
scanner keeps a quoted word's hash, :func:`~._gnmic_kernels.classify_values`
looks it up among the spellings' hashes, and the row gets ``value_f64`` 1.0 /
0.0 (``value_u64`` 0), as the general path gives. So are numeric speed leaves
(``lag-speed`` 20000 beside the counters: ``value_f64`` 2e10 bit/s, the
integer times the spelling's :data:`~telemetry_adapters.paths.SPEED_SCALE`,
``value_u64`` 0) when the value is a plain integer above 0 and not a saturated
4294967295, and the leaf is the message's only speed leaf; a named speed
(``port-speed`` ``"SPEED_10GB"``), any other value, or a second speed leaf
(the general path keeps the preferred one) sends the message to the general path. IGP metrics
(:mod:`~telemetry_adapters.igp`) are not read here: gnmic names their interface by an ``interface_interface-id`` /
``interface_id`` tag (never ``interface_name``, which the scanner requires) and their topology by tags the scanner
skips, so such an event, and any other carrying an IGP-metric leaf (a gauge) or one of another topology
(:data:`~telemetry_adapters.paths.IGP_OTHER`), goes to the general path whole. The interface is the
``interface_name`` tag, or Nokia SR OS's ``port_port-id`` when that is the event's only interface tag (with an
interface tag the general path prefers to it, ``interface-name`` say, the event goes to the general path).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from twinwatch.telemetry_adapters import _gnmic_kernels as _kern
from twinwatch.telemetry_adapters._assemble import epoch_in_range, epochs_vectorised
from twinwatch.telemetry_adapters._gnmic_kernels import PAD, UNKNOWN_KEY, classify_values, emit_rows, scan_events
from twinwatch.telemetry_adapters._json import to_bytes
from twinwatch.telemetry_adapters._names import dense_codes
from twinwatch.telemetry_adapters.base import RawMessage
from twinwatch.telemetry_adapters.link_state import FAST_SPELLINGS
from twinwatch.telemetry_adapters.paths import (
    EPOCH_ABS,
    EPOCH_REL_CS,
    FIELD_BITS,
    FIELD_NAMES,
    IF_NAME,
    INTERFACE_KEYS,
    IS_LINK_STATE,
    IS_SPEED,
    SPEED_SCALE,
    UNMAPPED,
)
from twinwatch.telemetry_adapters.schema import NameCodes, SampleBatch

if TYPE_CHECKING:
    from twinwatch.telemetry_adapters.gnmic import GnmicDecoder

__all__ = ["FastState", "decode"]

_FIELD_BITS_ARR = np.array(FIELD_BITS, dtype=np.uint8)
_LS_FLAG = np.array(IS_LINK_STATE, dtype=np.bool_)
#: bit/s per unit of the numeric speed spellings the kernel reads itself (0: not one; named speeds: the general path)
_SP_SCALE = np.where(np.array(IS_SPEED, dtype=np.bool_), np.array(SPEED_SCALE, dtype=np.float64), 0.0)
#: fields whose row value is the kernel's ``state`` (link state, speed), not the counter
_APART_FLAG = _LS_FLAG | np.array(IS_SPEED, dtype=np.bool_)
_MAX_CACHE = 100_000
if (_kern._UNMAPPED, _kern._EPOCH_ABS, _kern._EPOCH_REL_CS, _kern._IF_NAME) != (
        UNMAPPED, EPOCH_ABS, EPOCH_REL_CS, IF_NAME):  # pragma: no cover
    raise ImportError("_gnmic_kernels' copies of the paths codes are stale")
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
      ("values", "tags", "timestamp", "source", "interface_name", "subinterface_index", "port_port-id")}  # fmt: skip
#: hashes of the interface tags the general path prefers to ``port_port-id`` (besides ``interface_name``): an event
#: with one of them beside ``port_port-id`` goes to the general path
_PRE_PORT = np.array([key_hash_py(k.encode()) for k in INTERFACE_KEYS[1 : INTERFACE_KEYS.index("port_port-id")]],
                     dtype=np.uint64)  # fmt: skip
#: hashes of the link-state spellings the kernel reads itself, and their states (1.0 up, 0.0 down)
_ST_HASH = np.array([key_hash_py(s.encode()) for s in FAST_SPELLINGS], dtype=np.uint64)
_ST_VAL = np.array(list(FAST_SPELLINGS.values()), dtype=np.float64)


class FastState:
    """Per-decoder caches: key hash → field code (an open-addressing table for the kernel) and
    string hash → str."""

    def __init__(self) -> None:
        self.table: dict[int, int] = {}
        self.strings: dict[int, str] = {}
        self._build()

    def _build(self) -> None:
        size = 16
        while size < 4 * len(self.table):
            size *= 2
        self.shift = 64 - size.bit_length() + 1
        self.ht_hash = np.zeros(size, dtype=np.uint64)
        self.ht_code = np.zeros(size, dtype=np.int16)
        self.ht_used = np.zeros(size, dtype=np.bool_)
        mask = size - 1
        for h, c in self.table.items():
            p = (h >> self.shift) & mask
            while self.ht_used[p]:
                p = (p + 1) & mask
            self.ht_hash[p], self.ht_code[p], self.ht_used[p] = h, c, True

    def learn(self, new_hashes: npt.NDArray[np.uint64], new_codes: list[int]) -> None:
        """Add (hash, code) pairs and rebuild the table."""
        if len(self.table) > _MAX_CACHE:
            self.table.clear()
        self.table.update(zip(new_hashes.tolist(), new_codes, strict=True))
        self._build()


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


def decode(
    dec: GnmicDecoder, messages: Sequence[RawMessage]
) -> tuple[SampleBatch, npt.NDArray[np.intp], npt.NDArray[np.intp], list[tuple[int, int]]] | None:
    """(batch, row → message index, message indices left for the general path, [(message index, number of
    unmapped leaves)] of the kept messages), or None to use the general path for all."""
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
                     _H["interface_name"], _H["subinterface_index"], _H["port_port-id"], _PRE_PORT, ok, ts, src_a,
                     src_b, src_h, if_a, if_b, if_h, v_first, v_count, k_hash, k_a, k_b, val, val_num)  # fmt: skip
    if nv < 0:
        return None
    st: FastState = dec._fast_state
    codes = np.empty(nv, dtype=np.int16)
    state = np.zeros(nv, dtype=np.float64)
    good = np.empty(M, dtype=np.bool_)
    e_pos, e_msg = np.empty(nv, dtype=np.int64), np.empty(nv, dtype=np.int64)
    lo, hi = dec.config.ts_bounds_ns()
    for _ in range(2):
        n_unknown, n_e = classify_values(ok, ts, v_first, v_count, k_hash, val, val_num, st.ht_hash, st.ht_code,
                                         st.ht_used, st.shift, _FIELD_BITS_ARR, _LS_FLAG, _ST_HASH, _ST_VAL, _SP_SCALE,
                                         lo, hi,
                                         codes, state, good, e_pos, e_msg)  # fmt: skip
        if not n_unknown:
            break
        unknown = codes[:nv] == UNKNOWN_KEY
        uh, first = np.unique(k_hash[:nv][unknown], return_index=True)
        sel = np.flatnonzero(unknown)[first]
        texts = [joined[a:b].decode("ascii") for a, b in zip(k_a[sel].tolist(), k_b[sel].tolist(), strict=True)]
        st.learn(uh, [dec._mapper[t] for t in texts])
    else:  # pragma: no cover - every key was just learned
        raise AssertionError("unreachable: unknown keys after learning them")
    epoch = np.zeros(M, dtype=np.int64)
    has_epoch = np.zeros(M, dtype=bool)
    if n_e:
        e_pos, e_msg = e_pos[:n_e], e_msg[:n_e]
        e_codes, e_val = codes[e_pos], val[e_pos]
        in_range = epoch_in_range(e_codes, e_val, ts[e_msg])
        if not in_range.all():
            good[e_msg[~in_range]] = False
            keep = good[e_msg]
            e_codes, e_val, e_msg = e_codes[keep], e_val[keep], e_msg[keep]
        if e_msg.shape[0]:
            epochs_vectorised(np.arange(e_msg.shape[0]), e_codes, e_val, e_msg, ts, epoch, has_epoch)
    no_src = good & (src_b <= src_a)  # no 'source' tag: the general path applies default_device or rejects
    if no_src.any():
        good &= ~no_src
    rest = np.flatnonzero(~good)
    g_idx = np.flatnonzero(good)
    # device / interface strings: each distinct one decoded once, rows get integer codes
    src_c, src_first = dense_codes(src_h[g_idx].view(np.int64))
    srcs = _strings(st, joined, src_h[g_idx[src_first]], src_a[g_idx[src_first]], src_b[g_idx[src_first]])
    devices = dec._devices
    dev_names: list[Any] = list(map(devices.get, srcs))
    if None in dev_names:
        from twinwatch.telemetry_adapters.gnmic import device_from_source

        for j, d in enumerate(dev_names):
            if d is None:
                dev_names[j] = devices[srcs[j]] = device_from_source(srcs[j])
    if_c, if_first = dense_codes(if_h[g_idx].view(np.int64))
    if_names = _strings(st, joined, if_h[g_idx[if_first]], if_a[g_idx[if_first]], if_b[g_idx[if_first]])
    msg_dev = np.zeros(M, dtype=np.int64)
    msg_dev[g_idx] = src_c
    msg_if = np.zeros(M, dtype=np.int64)
    msg_if[g_idx] = if_c
    # one row per field value of the good messages
    row_msg, row_ts, row_epoch, row_dev, row_if, row_field = (np.empty(nv, dtype=np.int64) for _ in range(6))
    row_val = np.empty(nv, dtype=np.uint64)
    row_f64 = np.empty(nv, dtype=np.float64)
    row_kind = np.empty(nv, dtype=np.uint8)
    row_has_epoch = np.empty(nv, dtype=np.bool_)
    field_order = np.empty(len(FIELD_NAMES), dtype=np.int64)
    n, n_f = emit_rows(good, v_first, v_count, codes, val, ts, epoch, has_epoch, msg_dev, msg_if, _FIELD_BITS_ARR,
                       _APART_FLAG, state, row_msg, row_val, row_f64, row_ts, row_kind, row_epoch, row_has_epoch,
                       row_dev, row_if, row_field, field_order)  # fmt: skip
    u64 = row_val[:n]
    batch = SampleBatch.from_codes(
        NameCodes(row_dev[:n], dev_names, row_if[:n], if_names, row_field[:n],
                  [FIELD_NAMES[c] for c in field_order[:n_f].tolist()]),
        ts_ns=row_ts[:n],
        value_u64=u64,
        value_f64=row_f64[:n],
        kind=row_kind[:n],
        epoch_ns=row_epoch[:n],
        has_epoch=row_has_epoch[:n],
        source=dec.name,
        network=dec.config.network,
    )  # fmt: skip
    # unmapped leaves of the kept messages: counted per leaf, one rejection per message (as the general path)
    cs = np.concatenate(([0], np.cumsum(codes[:nv] == UNMAPPED)))
    n_unm = cs[v_first[g_idx] + v_count[g_idx]] - cs[v_first[g_idx]]
    unmapped = [(int(g_idx[j]), int(n_unm[j])) for j in np.flatnonzero(n_unm).tolist()]
    return batch, row_msg[:n], rest, unmapped
