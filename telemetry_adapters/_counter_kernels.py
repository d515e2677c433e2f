"""Numba kernels of the counters engine: arrays and scalars in, arrays out.

The state lives in :class:`twinwatch.telemetry_adapters.counters.CounterState`; these
functions only read and write the arrays it hands over (STYLE.md rule 10). Run
the tests with ``NUMBA_DISABLE_JIT=1`` to check them as plain Python.

Status codes written by :func:`update_counters` (``status`` column, uint8):

====  ============  =====================================================
code  name          meaning
====  ============  =====================================================
0     RATE          a rate was computed
1     FIRST         first sample of its counter (or of a delta stream
                    without a start time): no rate, state initialised
2     RESET         no rate can be given: a reset was detected, or (cause
                    ``RC_AMBIGUOUS``) a Counter32 increment is ambiguous
3     OUT_OF_ORDER  older than the last sample of its counter: dropped
4     DUPLICATE     same timestamp as the last sample: dropped
5     NEGATIVE      a delta that is negative or not finite: dropped
6     GAUGE         not a counter: passed through unchanged
7     BAD_KIND      unknown ``kind`` code: dropped
====  ============  =====================================================
"""

from __future__ import annotations

import numpy as np
from numba import njit

ST_RATE = 0
ST_FIRST = 1
ST_RESET = 2
ST_OUT_OF_ORDER = 3
ST_DUPLICATE = 4
ST_NEGATIVE = 5
ST_GAUGE = 6
ST_BAD_KIND = 7
# why a row is ST_RESET (``cause`` output of update_counters)
RC_NONE = 0
RC_DECREASE = 1  # the counter went down (Counter64, or a Counter32 that cannot be a wrap)
RC_IMPLAUSIBLE = 2  # the increment implies a rate above the row's bound
RC_EPOCH = 3  # the discontinuity epoch changed and the restart time is not inside the interval
RC_AMBIGUOUS = 4  # a Counter32 that could have wrapped once more inside the interval at a rate below the bound
RC_CLOCK_STEP = 5  # the counter's last sample is far ahead of the clock now: its device's clock stepped back

F_RESET = 1
F_WRAPPED = 2
F_GAP = 4

K_GAUGE = 0
K_DELTA = 1
K_C32 = 32
K_C64 = 64

_EMPTY = -1  # free bucket of the open-addressing table (internal index, never data)
_TWO32 = np.uint64(1 << 32)


@njit(cache=True)
def _bucket(q: int, mask: int) -> int:
    """Hash of a non-negative int64 key into ``0..mask`` (no overflow in NumPy or numba)."""
    x = q ^ (q >> 17) ^ (q >> 35)
    x = (x & 0xFFFFFF) * 2654435761
    return (x >> 7) & mask


@njit(cache=True)
def intern_slots(
    queries: np.ndarray,
    rows: np.ndarray,
    start: int,
    out: np.ndarray,
    ht_key: np.ndarray,
    ht_slot: np.ndarray,
    slot_key: np.ndarray,
    used: np.ndarray,
    seen: np.ndarray,
    free: np.ndarray,
    n_free: int,
    next_slot: int,
    n_ht: int,
) -> tuple[int, int, int, int]:
    """Look up (and insert) ``queries[rows[j]]`` for ``j >= start``; write slots into ``out[rows[j]]``.

    Returns ``(stop, n_free, next_slot, n_ht)``; ``stop < rows.size`` means the
    table (load above 0.7) or the slot arrays are full: grow them and call
    again from ``stop``.
    """
    mask = ht_key.shape[0] - 1
    limit = (ht_key.shape[0] * 7) // 10
    cap = slot_key.shape[0]
    for j in range(start, rows.shape[0]):
        r = rows[j]
        q = queries[r]
        h = _bucket(q, mask)
        while ht_slot[h] != _EMPTY and ht_key[h] != q:
            h = (h + 1) & mask
        if ht_slot[h] != _EMPTY:
            out[r] = ht_slot[h]
            continue
        if n_ht >= limit:
            return j, n_free, next_slot, n_ht
        if n_free > 0:
            n_free -= 1
            s = free[n_free]
        elif next_slot < cap:
            s = next_slot
            next_slot += 1
        else:
            return j, n_free, next_slot, n_ht
        ht_key[h] = q
        ht_slot[h] = s
        n_ht += 1
        slot_key[s] = q
        used[s] = True
        seen[s] = False
        out[r] = s
    return rows.shape[0], n_free, next_slot, n_ht


@njit(cache=True)
def rebuild_table(ht_key: np.ndarray, ht_slot: np.ndarray, slot_key: np.ndarray, used: np.ndarray) -> int:
    """Refill the hash table from the used slots; returns the number of entries."""
    mask = ht_key.shape[0] - 1
    ht_slot[:] = _EMPTY
    n = 0
    for s in range(slot_key.shape[0]):
        if used[s]:
            q = slot_key[s]
            h = _bucket(q, mask)
            while ht_slot[h] != _EMPTY:
                h = (h + 1) & mask
            ht_key[h] = q
            ht_slot[h] = s
            n += 1
    return n


@njit(cache=True)
def _delta_rate(v: float, scale: float, dt_ns: int, bound: float) -> float:
    """Rate of increment ``v`` over ``dt_ns``; −1.0 when it exceeds ``bound`` (checked before any overflow)."""
    dt_s = dt_ns / 1e9
    if bound < np.inf and v * (scale / bound) > dt_s:
        return -1.0
    return v * scale / dt_s


@njit(cache=True)
def in_key_order(slot: np.ndarray, ts: np.ndarray, mark: np.ndarray, last: np.ndarray, gen: int) -> bool:
    """Whether every counter's samples already appear in non-decreasing ``ts`` order.

    ``mark`` / ``last`` are per-slot scratch arrays reused across calls: a
    slot's ``last`` is valid only when ``mark`` equals this call's ``gen``, so
    nothing is cleared and the cost is O(rows).
    """
    for i in range(slot.shape[0]):
        s = slot[i]
        if s < 0:
            continue
        if mark[s] == gen:
            if ts[i] < last[s]:
                return False
        else:
            mark[s] = gen
        last[s] = ts[i]
    return True


@njit(cache=True)
def set_back(k: int, t: int, v: np.uint64, ep: int, hep: bool, lt: int, lv: np.uint64, lep: int, lhep: bool,
             now: int, step_back: int, jitter: int) -> bool:
    """Whether a sample (kind ``k``, time ``t``, value ``v``, epoch ``ep`` / ``hep``) older than its counter's
    newest (``lt``, ``lv``, ``lep`` / ``lhep``) shows its device's clock set back rather than a late sample.

    Either the newest was more than ``step_back`` ns ahead of ``now`` and this one is more than that older (a
    clock far ahead, corrected), or, for a cumulative counter in the same discontinuity epoch, the counter went
    on (``v > lv``) while the time went back by more than ``jitter`` ns: a late sample holds a lower value, a
    sample taken after a step back a higher one, whatever the step. ``step_back`` <= 0: never.
    """
    if step_back <= 0:
        return False
    if lt - now > step_back and lt - t > step_back:
        return True
    if k != K_C32 and k != K_C64:
        return False
    same = hep == lhep and (not hep or abs(ep - lep) <= jitter)
    return same and lt - t > jitter and v > lv


@njit(cache=True)
def clock_segments(slot: np.ndarray, ts: np.ndarray, vu: np.ndarray, kind: np.ndarray, epoch: np.ndarray,
                   has_epoch: np.ndarray, now: int, step_back: int, jitter: int, mark: np.ndarray,
                   top: np.ndarray, gen: int, seg: np.ndarray) -> bool:
    """Split each counter's rows, in arrival order, where its device's clock was set back; whether any was.

    A row that :func:`set_back` reads as a clock set back against the newest earlier row of its counter's
    current segment starts a new segment of that counter (the rule :func:`update_counters` applies across
    batches, here inside one): ``seg[i]`` (``(n,)`` int64, written for every row, 0 for gauges) is the row's
    segment. Ordering a batch by ``(seg, ts)`` keeps each counter's rows of one clock setting together, so
    samples still stamped ahead are not sorted after the corrected ones. ``mark`` / ``top`` are per-slot
    scratch arrays valid where ``mark`` equals ``gen`` (as in :func:`in_key_order`); ``top`` holds the row of
    the newest ``ts`` of the slot's current segment, so ``seg[top[s]]`` is that segment.
    """
    stepped = False
    for i in range(slot.shape[0]):
        s = slot[i]
        seg[i] = 0
        if s < 0:
            continue
        t = ts[i]
        if mark[s] != gen:
            mark[s] = gen
            top[s] = i
            continue
        j = top[s]
        seg[i] = seg[j]
        if t < ts[j] and set_back(kind[i], t, vu[i], epoch[i], has_epoch[i], ts[j], vu[j], epoch[j],
                                  has_epoch[j], now, step_back, jitter):
            seg[i] = seg[j] + 1
            top[s] = i
            stepped = True
        elif t > ts[j]:
            top[s] = i
    return stepped


@njit(cache=True)
def _rebase(s: int, i: int, t: int, vu: np.ndarray, epoch: np.ndarray, has_epoch: np.ndarray, now: int,
            st_ts: np.ndarray, st_val: np.ndarray, st_epoch: np.ndarray, st_has_epoch: np.ndarray,
            st_ival: np.ndarray, st_last_seen: np.ndarray) -> None:
    """Make row ``i`` (time ``t``) the base of counter slot ``s``, with no interval history."""
    st_ts[s] = t
    st_val[s] = vu[i]
    st_epoch[s] = epoch[i]
    st_has_epoch[s] = has_epoch[i]
    st_ival[s] = 0.0
    st_last_seen[s] = now


@njit(cache=True)
def update_counters(
    order: np.ndarray,
    slot: np.ndarray,
    ts: np.ndarray,
    vu: np.ndarray,
    vf: np.ndarray,
    kind: np.ndarray,
    epoch: np.ndarray,
    has_epoch: np.ndarray,
    scale: np.ndarray,
    max_rate: np.ndarray,
    wrap_bound: np.ndarray,
    now: int,
    st_ts: np.ndarray,
    st_val: np.ndarray,
    st_epoch: np.ndarray,
    st_has_epoch: np.ndarray,
    st_seen: np.ndarray,
    st_ival: np.ndarray,
    st_last_seen: np.ndarray,
    gap_factor: float,
    alpha: float,
    epoch_tol: int,
    step_back: int,
    rate: np.ndarray,
    flags: np.ndarray,
    status: np.ndarray,
    cause: np.ndarray,
) -> None:
    """Apply counter semantics to the rows in ``order`` (per counter in ``ts`` order).

    Inputs are ``(n,)`` row arrays (``slot`` −1 for gauges); ``st_*`` are the
    per-slot state arrays, updated in place. ``wrap_bound`` is the rate (row's
    unit per second) a Counter32 row's interface can really carry, +inf when
    unknown: an increment ``d`` over ``dt`` for which ``d + 2**32`` stays within
    it could as well be one more wrap, so the row gets no rate (``RC_AMBIGUOUS``). A sample older than its
    counter's last one by more than ``step_back`` ns, when that last one is also more than ``step_back`` ahead of
    ``now``, re-bases the counter (``RC_CLOCK_STEP``: the device's clock ran ahead and was set back; without
    it the counter would drop every sample until the clock caught up again), and so does one
    :func:`set_back` reads as a clock set back by its value; a cumulative counter's sample more than
    ``step_back`` after its last one and as far ahead of ``now`` re-bases it too (its clock jumped ahead:
    the interval would hold the jump); ``step_back`` <= 0: never. Outputs ``rate`` (SI units per
    second: ``scale`` × increment / Δt, NaN when none), ``flags``,
    ``status`` and ``cause`` (``RC_*``: why a row is ``ST_RESET``) are ``(n,)``,
    written for every row.
    """
    for j in range(order.shape[0]):
        i = order[j]
        k = kind[i]
        rate[i] = np.nan
        flags[i] = 0
        cause[i] = RC_NONE
        if k == K_GAUGE:
            rate[i] = vf[i]
            status[i] = ST_GAUGE
            continue
        if k != K_DELTA and k != K_C32 and k != K_C64:
            status[i] = ST_BAD_KIND
            continue
        s = slot[i]
        t = ts[i]
        if k == K_DELTA and not (vf[i] >= 0.0 and vf[i] < np.inf):
            status[i] = ST_NEGATIVE
            continue
        if not st_seen[s]:
            st_seen[s] = True
            _rebase(s, i, t, vu, epoch, has_epoch, now, st_ts, st_val, st_epoch, st_has_epoch, st_ival, st_last_seen)
            status[i] = ST_FIRST
            if k == K_DELTA and has_epoch[i] and epoch[i] < t:
                r = _delta_rate(vf[i], scale[i], t - epoch[i], max_rate[i])
                if r >= 0.0:
                    rate[i] = r
                    status[i] = ST_RATE
                else:
                    flags[i] = F_RESET
                    status[i] = ST_RESET
                    cause[i] = RC_IMPLAUSIBLE
            continue
        lt = st_ts[s]
        if t < lt:
            if set_back(k, t, vu[i], epoch[i], has_epoch[i], lt, st_val[s], st_epoch[s], st_has_epoch[s], now,
                        step_back, epoch_tol):
                _rebase(s, i, t, vu, epoch, has_epoch, now, st_ts, st_val, st_epoch, st_has_epoch, st_ival,
                        st_last_seen)
                flags[i] = F_RESET
                status[i] = ST_RESET
                cause[i] = RC_CLOCK_STEP
            else:
                status[i] = ST_OUT_OF_ORDER
            continue
        if t == lt:
            status[i] = ST_DUPLICATE
            continue
        if step_back > 0 and k != K_DELTA and t - lt > step_back and t - now > step_back:  # (C32, C64 here)
            # the device's clock jumped ahead of the others: the interval holds the jump, not its traffic
            _rebase(s, i, t, vu, epoch, has_epoch, now, st_ts, st_val, st_epoch, st_has_epoch, st_ival, st_last_seen)
            flags[i] = F_RESET
            status[i] = ST_RESET
            cause[i] = RC_CLOCK_STEP
            continue
        st_last_seen[s] = now
        dt = t - lt
        f = 0
        iv = st_ival[s]
        if iv > 0.0:
            if dt > gap_factor * iv:
                f |= F_GAP
            st_ival[s] = iv + alpha * (dt - iv)
        else:
            st_ival[s] = float(dt)
        st_status = ST_RATE
        rc = RC_NONE
        r = np.nan
        if k == K_DELTA:
            start = lt
            if has_epoch[i] and epoch[i] < t:
                start = epoch[i]
            r = _delta_rate(vf[i], scale[i], t - start, max_rate[i])
            if r < 0.0:
                r = np.inf  # above the bound: handled below as an implausible increment
        else:
            v = vu[i]
            last = st_val[s]
            de = epoch[i] - st_epoch[s]
            e_changed = has_epoch[i] and st_has_epoch[s] and (de > epoch_tol or -de > epoch_tol)
            if e_changed:
                f |= F_RESET
                if lt < epoch[i] < t:
                    r = float(v) * scale[i] * 1e9 / float(t - epoch[i])
                else:
                    st_status = ST_RESET
                    rc = RC_EPOCH
            elif v >= last:
                r = float(v - last) * scale[i] * 1e9 / float(dt)
            elif k == K_C32 and last < _TWO32 and v < _TWO32:
                r = float(_TWO32 - last + v) * scale[i] * 1e9 / float(dt)
                f |= F_WRAPPED
            else:
                f |= F_RESET
                st_status = ST_RESET
                rc = RC_DECREASE
            # the interface could have carried one more period of 2**32 in this interval: the counter cannot
            # tell how many times it wrapped (RFC 2863 3.1.6: such ports need the ifHC* counters); Counter32
            # rows only, so the other rows pay no division
            if (
                k == K_C32
                and st_status == ST_RATE
                and not e_changed
                and wrap_bound[i] < np.inf
                and r + float(_TWO32) * scale[i] * 1e9 / float(dt) <= wrap_bound[i]
            ):
                st_status = ST_RESET
                rc = RC_AMBIGUOUS
            st_val[s] = v
        if st_status == ST_RATE and not r <= max_rate[i]:
            # an implausible increment (e.g. a reboot read as a 32-bit wrap): a reset, no rate
            rc = RC_DECREASE if f & F_WRAPPED else RC_IMPLAUSIBLE  # a Counter32 "wrap" this fast went down
            f = (f & ~F_WRAPPED) | F_RESET
            st_status = ST_RESET
        if has_epoch[i]:
            st_epoch[s] = epoch[i]
            st_has_epoch[s] = True
        st_ts[s] = t
        flags[i] = f
        status[i] = st_status
        cause[i] = rc
        if st_status == ST_RATE:
            rate[i] = r


@njit(cache=True)
def factorize(keys: np.ndarray, codes: np.ndarray, first: np.ndarray, size: int) -> int:
    """Dense codes of int64 ``keys`` in order of first appearance; returns the number of distinct keys.

    Writes ``codes`` (``(n,)``) and ``first`` (row of each code's first
    appearance). The open-addressing table starts at ``size`` buckets (a
    power of two) and doubles in place when half full.
    """
    table_key = np.empty(size, dtype=np.int64)
    table_code = np.full(size, _EMPTY, dtype=np.int64)
    mask = size - 1
    n_u = 0
    prev_key = 0
    prev_code = _EMPTY
    for i in range(keys.shape[0]):
        q = keys[i]
        if prev_code != _EMPTY and q == prev_key:
            codes[i] = prev_code
            continue
        h = _bucket(q & 0x7FFFFFFFFFFFFFFF, mask)
        while table_code[h] != _EMPTY and table_key[h] != q:
            h = (h + 1) & mask
        c = table_code[h]
        if c == _EMPTY:
            c = n_u
            table_key[h] = q
            table_code[h] = c
            first[c] = i
            n_u += 1
            if 2 * n_u > size:
                size *= 2
                mask = size - 1
                table_key = np.empty(size, dtype=np.int64)
                table_code = np.full(size, _EMPTY, dtype=np.int64)
                for cc in range(n_u):
                    kk = keys[first[cc]]
                    hh = _bucket(kk & 0x7FFFFFFFFFFFFFFF, mask)
                    while table_code[hh] != _EMPTY:
                        hh = (hh + 1) & mask
                    table_key[hh] = kk
                    table_code[hh] = cc
        codes[i] = c
        prev_key = q
        prev_code = c
    return n_u


@njit(cache=True)
def combine_segments(
    starts: np.ndarray,
    fid: np.ndarray,
    width: np.ndarray,
    ent: np.ndarray,
    kpi: np.ndarray,
    direction: np.ndarray,
    comp: np.ndarray,
    total: np.ndarray,
    additive: np.ndarray,
    value: np.ndarray,
    flags: np.ndarray,
    keep: np.ndarray,
) -> tuple[int, int, int]:
    """Inside each segment (rows of one interface and timestamp, ``starts`` ascending):

    drop a field's row when the same field also comes from a wider counter
    (``ifInOctets`` beside ``ifHCInOctets``); drop packet-count components of
    a direction that also has its total; then sum rows of additive KPIs
    (``additive[kpi]``) that share entity and KPI into the first of them,
    OR-ing flags; a sum with a NaN member is dropped. Writes ``keep``; returns
    ``(narrower, superseded, merged)`` row counts.
    """
    n = ent.shape[0]
    narrower = 0
    superseded = 0
    merged = 0
    for g in range(starts.shape[0]):
        a = starts[g]
        b = starts[g + 1] if g + 1 < starts.shape[0] else n
        tot_tx = False
        tot_rx = False
        any32 = False
        any_comp = False
        n_add = 0
        for i in range(a, b):
            keep[i] = True
            any32 |= width[i] == 1
            any_comp |= comp[i]
            if additive[kpi[i]]:
                n_add += 1
            if total[i]:
                if direction[i] == 0:
                    tot_tx = True
                else:
                    tot_rx = True
        if any32:
            for i in range(a, b):
                if width[i] != 1:
                    continue
                for j in range(a, b):
                    if fid[j] == fid[i] and width[j] > 1:
                        keep[i] = False
                        narrower += 1
                        break
        if any_comp and (tot_tx or tot_rx):
            for i in range(a, b):
                if keep[i] and comp[i] and ((direction[i] == 0 and tot_tx) or (direction[i] != 0 and tot_rx)):
                    keep[i] = False
                    superseded += 1
        if n_add >= 2:
            for i in range(a, b):
                if not keep[i] or not additive[kpi[i]]:
                    continue
                for j in range(i + 1, b):
                    if keep[j] and ent[j] == ent[i] and kpi[j] == kpi[i]:
                        value[i] += value[j]
                        flags[i] |= flags[j]
                        keep[j] = False
                        merged += 1
        for i in range(a, b):
            if np.isnan(value[i]):
                keep[i] = False  # a component without a rate, alone or in a sum
    return narrower, superseded, merged


@njit(cache=True)
def make_keys(
    dev_ids: np.ndarray,
    dev_code: np.ndarray,
    ifc_ids: np.ndarray,
    ifc_code: np.ndarray,
    fld_ids: np.ndarray,
    fld_code: np.ndarray,
    kind: np.ndarray,
    dev_shift: int,
    pair_shift: int,
    field_shift: int,
    out: np.ndarray,
) -> None:
    """``out[i] = dev << dev_shift | ifc << pair_shift | fld << field_shift | width`` from per-name ids
    and per-row codes (width 2 for Counter64, 1 for Counter32, else 0)."""
    for i in range(out.shape[0]):
        k = kind[i]
        w = 2 if k == K_C64 else (1 if k == K_C32 else 0)
        out[i] = (
            (dev_ids[dev_code[i]] << dev_shift) | (ifc_ids[ifc_code[i]] << pair_shift)
            | (fld_ids[fld_code[i]] << field_shift) | w
        )  # fmt: skip


@njit(cache=True)
def rate_bounds(
    fid: np.ndarray,
    row_pos: np.ndarray,
    octets: np.ndarray,
    capacity: np.ndarray,
    min_frame_bits: float,
    headroom: float,
    out: np.ndarray,
) -> None:
    """Per-row rate bound: the interface capacity (bits/s; /``min_frame_bits`` for packet fields) ×
    ``headroom``, +inf when unknown."""
    for i in range(out.shape[0]):
        c = capacity[row_pos[i]]
        b = c if octets[fid[i]] else c / min_frame_bits
        b = b * headroom
        out[i] = np.inf if np.isnan(b) else b


@njit(cache=True)
def select_rows(
    status: np.ndarray,
    rate: np.ndarray,
    flags: np.ndarray,
    fid: np.ndarray,
    row_pos: np.ndarray,
    ts: np.ndarray,
    key: np.ndarray,
    t_kpi: np.ndarray,
    t_side: np.ndarray,
    t_comp: np.ndarray,
    t_counter: np.ndarray,
    t_direction: np.ndarray,
    t_total: np.ndarray,
    side: np.ndarray,
    o_idx: np.ndarray,
    o_pos: np.ndarray,
    o_ent: np.ndarray,
    o_kpi: np.ndarray,
    o_ts: np.ndarray,
    o_val: np.ndarray,
    o_flags: np.ndarray,
    o_fid: np.ndarray,
    o_width: np.ndarray,
    o_dir: np.ndarray,
    o_comp: np.ndarray,
    o_total: np.ndarray,
    o_starts: np.ndarray,
) -> tuple[int, int, int]:
    """The rows that become measurements (accepted ones, and packet components without a rate, which
    withhold their sum), with their per-row properties (``t_*`` are per-field tables, ``side`` the
    entity of each (pair position, side)); ``o_starts`` gets the first row of each run of equal
    (pair position, ts). Returns ``(accepted rows, selected rows, runs)``."""
    n_ok = 0
    n = 0
    n_runs = 0
    for i in range(status.shape[0]):
        st = status[i]
        f = fid[i]
        kp = t_kpi[f]
        ctr = t_counter[f]
        r = rate[i]
        if (st == ST_RATE and ctr) or (st == ST_GAUGE and not ctr and kp >= 0 and np.isfinite(r)):
            n_ok += 1
        elif not (t_comp[f] and (st == ST_FIRST or st == ST_RESET)):  # noqa: SIM109 (numba)
            continue
        p = row_pos[i]
        t = ts[i]
        if n == 0 or p != o_pos[n - 1] or t != o_ts[n - 1]:
            o_starts[n_runs] = n
            n_runs += 1
        o_idx[n] = i
        o_pos[n] = p
        o_ent[n] = side[p, t_side[f]]
        o_kpi[n] = kp
        o_ts[n] = t
        o_val[n] = r
        o_flags[n] = flags[i]
        o_fid[n] = f
        o_width[n] = key[i] & 3
        o_dir[n] = t_direction[f]
        o_comp[n] = t_comp[f]
        o_total[n] = t_total[f]
        n += 1
    return n_ok, n, n_runs


@njit(cache=True)
def emit_measurements(
    keep: np.ndarray,
    idx: np.ndarray,
    pos: np.ndarray,
    ent: np.ndarray,
    kpi: np.ndarray,
    ts: np.ndarray,
    value: np.ndarray,
    flags: np.ndarray,
    capacity: np.ndarray,
    is_link: np.ndarray,
    kpi_tx_bps: int,
    kpi_util: int,
    o_idx: np.ndarray,
    o_ent: np.ndarray,
    o_kpi: np.ndarray,
    o_ts: np.ndarray,
    o_val: np.ndarray,
    o_flags: np.ndarray,
) -> int:
    """The kept rows, then a ``utilization`` row (tx_bps / capacity) for each kept ``tx_bps`` row of
    a link with a known capacity; ``o_ts`` in epoch seconds. Returns the number of rows written."""
    n = 0
    for i in range(keep.shape[0]):
        if keep[i]:
            o_idx[n] = idx[i]
            o_ent[n] = ent[i]
            o_kpi[n] = kpi[i]
            o_ts[n] = ts[i] / 1e9
            o_val[n] = value[i]
            o_flags[n] = flags[i]
            n += 1
    for i in range(keep.shape[0]):
        if keep[i] and kpi[i] == kpi_tx_bps and is_link[ent[i]]:
            c = capacity[pos[i]]
            if c > 0:
                o_idx[n] = idx[i]
                o_ent[n] = ent[i]
                o_kpi[n] = kpi_util
                o_ts[n] = ts[i] / 1e9
                o_val[n] = value[i] / c
                o_flags[n] = flags[i]
                n += 1
    return n
