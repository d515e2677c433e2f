"""The wait of a packet behind larger packets of its own onward stream (packet trains), per flow-hop.

Kleinrock's independence assumption draws a packet's wait afresh at every
hop. Packets keep their sizes, though: along a segment of links that two
packets share, a small packet that queued right behind a larger one of the
same onward stream catches up with it again at every later hop of equal rate
and waits for the difference of their transmission times once more. On a
chain of equal links with IMIX sizes the end-to-end wait grows linearly per
hop (3× queueing theory's at 8 hops); with one packet size it does not
(``bench/notes/twin_hybrid.md`` §4p–4q).

Model (a packet ``A`` of the flow-hop at the ``k``-th hop of its path)
---------------------------------------------------------------------
*Reach.* Two packets ``B`` then ``A`` that enter a shared segment of links
``j0..k`` (rates ``C_j``) ``τ`` apart leave it with ``A`` delayed by
``(R − τ)⁺`` (max-plus algebra of a tandem; no other traffic):
``R = max_{j0 ≤ j ≤ k} [s_B / C_j + (s_B − s_A) Σ_{j0 ≤ i < j} 1 / C_i]``,
``s`` the sizes (bits). With equal rates that is ``s_B / C + (k − j0)
(s_B − s_A)⁺ / C``; with one size it only grows where the rate drops.

*Many predecessors (shot-noise maximum).* The streams sharing the
segment that ends at hop ``k`` and began ``L`` hops earlier (``L ≥ 2``:
they arrived over the same input; ``L = 1`` streams merge here and are
queueing theory's) send Poisson packets of rate ``λ_g`` and size mix
``p_g``; ``A``'s cumulative wait ``W`` over the segments is the largest
``R − τ`` over them, so ``P(W > w) = 1 − exp(−h(w))``, ``h(w) = Σ_g λ'_g
E_B[(R_g − w)⁺]``. The packets served between ``B`` and ``A`` push ``A``
back too: over the attached streams' load ``ρ_a`` (a fluid argument),
``λ' = λ / (1 − ρ_a)``. To first order in the load this is the max-plus
result ``λ E[R²] / 2``; it saturates where trains of many packets share one
wait.

*Per hop.* The flow-hop's train wait is the growth of ``W``'s mean from the
reaches through hop ``k − 1`` to those through ``k`` (same streams), less
the same growth with one size (``s_A = s_B``: the reach then only grows
where the rate drops, which queueing theory's ``κ`` already counts), its
variance the growth of ``W``'s variance (clipped at 0) plus twice its
covariance with the packet's own transmission time, averaged over ``A``'s
own sizes. Queueing theory's own-input residual (``ψ`` of
:func:`twinwatch.twin.models.qt._collision_share`) is what this replaces.
The caller (``QueueingModel(trains=True)``) scales both by ``1 − ρ_o``,
``ρ_o`` the port's load from the streams that merge at the hop: a packet
that waits behind their work anyway meets its predecessor less often.

Sizes are binned to at most :data:`SIZE_BINS` values per scenario
(probability-weighted means of the quantile bins of the packet-weighted
pooled size mix), which bounds the work at ``O(FH · hops · K²)``.
"""

from __future__ import annotations

import numba
import numpy as np

SIZE_BINS = 8
"""Largest number of distinct packet sizes the train term distinguishes per scenario."""

RHO_MAX = 0.95
"""Cap on the attached streams' load in the hazard's ``1 / (1 − ρ_a)``."""


def size_bins(sizes_bits: np.ndarray, probs: np.ndarray, weight: np.ndarray,
              k: int = SIZE_BINS) -> tuple[np.ndarray, np.ndarray]:
    """Bin every flow's packet-size mix onto at most ``k`` shared sizes.

    Parameters
    ----------
    sizes_bits, probs
        ``(F, S)`` each flow's sizes (bits; ``≤ 0`` or NaN unused) and their
        probabilities (need not sum to 1).
    weight
        ``(F,)`` the flow's packet rate (packets/s), which weights the pooled
        mix the bins are cut from.

    Returns
    -------
    atoms, hist
        ``(K,)`` sizes in bits, ascending, ``K ≤ k``; ``(F, K)`` each flow's
        probabilities on them (rows sum to 1, or 0 for a flow with no size).

    >>> atoms, hist = size_bins(np.array([[64.0, 1500.0], [64.0, 0.0]]), np.array([[0.5, 0.5], [1.0, 0.0]]),
    ...                         np.array([1.0, 1.0]))
    >>> atoms.tolist(), hist.tolist()
    ([64.0, 1500.0], [[0.5, 0.5], [1.0, 0.0]])
    """
    s = np.nan_to_num(np.asarray(sizes_bits, dtype=np.float64))
    p = np.where(s > 0, np.nan_to_num(np.asarray(probs, dtype=np.float64)), 0.0)
    tot = p.sum(axis=1, keepdims=True)
    p = np.where(tot > 0, p / np.where(tot > 0, tot, 1.0), 0.0)
    f_idx, col = np.nonzero(p > 0)
    vals = s[f_idx, col]
    uniq, inv = np.unique(vals, return_inverse=True)
    if uniq.size <= k:
        hist = np.zeros((s.shape[0], uniq.size))
        np.add.at(hist, (f_idx, inv), p[f_idx, col])
        return uniq, hist
    pooled = np.bincount(inv, weights=np.asarray(weight, dtype=np.float64)[f_idx] * p[f_idx, col],
                         minlength=uniq.size)
    cdf = np.cumsum(pooled) / max(pooled.sum(), 1e-300)
    # bin b holds the sizes whose pooled cdf lies in ((b)/k, (b+1)/k]; empty bins drop out
    bin_of = np.minimum((np.maximum(cdf - 1e-12, 0.0) * k).astype(np.int64), k - 1)
    used, bin_of = np.unique(bin_of, return_inverse=True)
    mass = np.bincount(bin_of, weights=pooled, minlength=used.size)
    eq = np.bincount(bin_of, minlength=used.size).astype(np.float64)
    atoms = np.where(mass > 0, np.bincount(bin_of, weights=pooled * uniq, minlength=used.size)
                     / np.where(mass > 0, mass, 1.0),
                     np.bincount(bin_of, weights=uniq, minlength=used.size) / eq)
    hist = np.zeros((s.shape[0], used.size))
    np.add.at(hist, (f_idx, bin_of[inv]), p[f_idx, col])
    return atoms, hist


def attached_groups(fh_queue: np.ndarray, fh_pos: np.ndarray, fh_rate: np.ndarray, fh_hist: np.ndarray,
                    max_len: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Rate-weighted size mixes of the streams that share exactly the last ``L ≥ 2`` queues, per flow-hop.

    Flow-hops are ordered flow by flow in path order. Two flow-hops share
    their last ``L`` queues when the ``L`` queues ending at each are the same
    sequence (the streams arrived over the same ``L − 1`` upstream links).

    Queue ids are non-negative integers (a table of ``max + 1`` rows is
    made); ``fh_pos`` is each flow-hop's position on its path (0 first).

    Returns a CSR over flow-hops: ``ptr (FH + 1,)``, ``seg_len (G,)`` (``L``)
    and ``rates (G, K)`` (packets/s of each size, summed over the streams).
    """
    fh_queue = np.asarray(fh_queue, dtype=np.int64)
    if fh_queue.size and int(fh_queue.min()) < 0:
        raise ValueError("attached_groups: queue ids must be >= 0")
    weighted = np.ascontiguousarray(np.asarray(fh_rate, dtype=np.float64)[:, None] * fh_hist)
    return _attached_groups(fh_queue, np.asarray(fh_pos, dtype=np.int64), weighted, int(max_len))


@numba.njit(cache=True)
def _attached_groups(queue: np.ndarray, pos: np.ndarray, weighted: np.ndarray,
                     max_len: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """:func:`attached_groups` on ``weighted (FH, K)`` (the flow-hops' packet rates per size), round by round.

    Round ``L`` labels the sequence of the last ``L`` queues ending at each
    flow-hop by the pair (label of the last ``L − 1`` ending one hop earlier,
    queue), through a chained table per earlier label, and sums ``weighted``
    over equal labels in flow-hop order; the streams sharing *exactly* ``L − 1``
    queues are the difference between rounds ``L − 1`` and ``L``.
    """
    fh_n, k_at = weighted.shape
    ids = queue.copy()  # label of the sequence of the last L queues ending at each flow-hop (round L; -1: none)
    n_ids = 1
    for e in range(fh_n):
        n_ids = max(n_ids, ids[e] + 1)
    prev_idx = np.arange(fh_n)
    prev_cum = np.zeros((fh_n, k_at))
    sums = np.zeros((n_ids, k_at))
    for e in range(fh_n):
        for col in range(k_at):
            sums[ids[e], col] += weighted[e, col]
    for e in range(fh_n):
        for col in range(k_at):
            prev_cum[e, col] = sums[ids[e], col]
    at = np.full(fh_n, -1, dtype=np.int64)  # position of a flow-hop in this round's list
    cap_rows = max(16, fh_n)
    row = np.empty(cap_rows, dtype=np.int64)
    lens = np.empty(cap_rows, dtype=np.int64)
    rates = np.empty((cap_rows, k_at))
    n_rows = 0
    for seg in range(2, max_len + 2):
        n_idx = 0
        if seg <= max_len:
            for e in range(fh_n):
                if pos[e] >= seg - 1:
                    n_idx += 1
        idx = np.empty(n_idx, dtype=np.int64)
        new_ids = np.full(fh_n, -1, dtype=np.int64)
        head = np.full(n_ids, -1, dtype=np.int64)  # per earlier label: first node of its (queue, label) chain
        node_queue = np.empty(n_idx, dtype=np.int64)
        node_next = np.empty(n_idx, dtype=np.int64)
        n_new = 0
        j = 0
        if n_idx:
            for e in range(fh_n):
                if pos[e] < seg - 1:
                    continue
                idx[j] = e
                j += 1
                lab = ids[e - 1]
                node = head[lab]
                while node >= 0 and node_queue[node] != queue[e]:
                    node = node_next[node]
                if node < 0:
                    node = n_new
                    node_queue[node] = queue[e]
                    node_next[node] = head[lab]
                    head[lab] = node
                    n_new += 1
                new_ids[e] = node
        sums = np.zeros((n_new, k_at))
        for jj in range(n_idx):
            e = idx[jj]
            at[e] = jj
            for col in range(k_at):
                sums[new_ids[e], col] += weighted[e, col]
        cum = np.empty((n_idx, k_at))
        for jj in range(n_idx):
            for col in range(k_at):
                cum[jj, col] = sums[new_ids[idx[jj]], col]
        if seg >= 3:  # streams sharing exactly seg - 1 queues with the flow-hops of the previous round
            for pj in range(prev_idx.size):
                p = prev_idx[pj]
                jj = at[p] if pos[p] >= seg - 1 and n_idx else -1
                any_pos = False
                if n_rows == cap_rows:
                    cap_rows *= 2
                    row2 = np.empty(cap_rows, dtype=np.int64)
                    lens2 = np.empty(cap_rows, dtype=np.int64)
                    rates2 = np.empty((cap_rows, k_at))
                    row2[:n_rows] = row[:n_rows]
                    lens2[:n_rows] = lens[:n_rows]
                    rates2[:n_rows] = rates[:n_rows]
                    row, lens, rates = row2, lens2, rates2
                for col in range(k_at):
                    v = prev_cum[pj, col] - (cum[jj, col] if jj >= 0 else 0.0)
                    v = max(v, 0.0)
                    rates[n_rows, col] = v
                    any_pos = any_pos or v > 0.0
                if any_pos:
                    row[n_rows] = p
                    lens[n_rows] = seg - 1
                    n_rows += 1
        if not n_idx:
            break
        prev_idx, prev_cum, ids, n_ids = idx, cum, new_ids, max(n_new, 1)
    # CSR by flow-hop; a flow-hop's groups in order of L (stable)
    ptr = np.zeros(fh_n + 1, dtype=np.int64)
    for r in range(n_rows):
        ptr[row[r] + 1] += 1
    for e in range(fh_n):
        ptr[e + 1] += ptr[e]
    fill = ptr[:-1].copy()
    seg_len = np.empty(n_rows, dtype=np.int64)
    g_rates = np.empty((n_rows, k_at))
    for r in range(n_rows):
        d = fill[row[r]]
        fill[row[r]] += 1
        seg_len[d] = lens[r]
        g_rates[d] = rates[r]
    return ptr, seg_len, g_rates


@numba.njit(cache=True, error_model="numpy")
def _shot_moments(reach: np.ndarray, rate: np.ndarray, n: int, order: np.ndarray) -> tuple[float, float]:
    """Mean and second moment of ``W ≥ 0`` with ``P(W > w) = 1 − exp(−Σ_j rate_j (reach_j − w)⁺)``.

    ``reach``, ``rate``: the first ``n`` entries are used (all ``rate > 0``); ``order`` is scratch space.
    """
    m = 0
    for j in range(n):  # insertion sort of the positive reaches, largest first (n is small)
        if reach[j] <= 0.0:
            continue
        pos = m
        while pos > 0 and reach[order[pos - 1]] < reach[j]:
            order[pos] = order[pos - 1]
            pos -= 1
        order[pos] = j
        m += 1
    alpha = 0.0
    beta = 0.0
    m1 = 0.0
    m2 = 0.0
    e_hi = 1.0  # exp(-hazard) at the top of the segment: the hazard is continuous in w and 0 at the largest reach
    for jj in range(m):
        j = order[jj]
        alpha += rate[j] * reach[j]
        beta += rate[j]
        hi = reach[j]
        lo = reach[order[jj + 1]] if jj + 1 < m else 0.0
        if hi <= lo:
            continue
        # on [lo, hi] the hazard is alpha - beta w >= 0
        e_lo = np.exp(-(alpha - beta * lo))
        inv_b = 1.0 / beta
        m1 += (hi - lo) - (e_hi - e_lo) * inv_b
        m2 += (hi * hi - lo * lo) - 2.0 * inv_b * (e_hi * (hi - inv_b) - e_lo * (lo - inv_b))
        e_hi = e_lo
    return m1, m2


@numba.njit(cache=True, parallel=True, error_model="numpy")
def train_wait(fh_start: np.ndarray, fh_len: np.ndarray, fh_flow: np.ndarray, cap: np.ndarray,
               flow_hist: np.ndarray, atoms: np.ndarray, ptr: np.ndarray, seg_len: np.ndarray,
               rates: np.ndarray, n_blocks: int = 16) -> tuple[np.ndarray, np.ndarray]:
    """``(FH,)`` mean (s) and variance (s²) of each flow-hop's train wait.

    The variance includes twice the covariance with the packet's own
    transmission time over its path, so it can be negative; a path's sum of
    them plus its own transmission variance is not.

    ``cap (FH,)`` the rate (bits/s) each flow-hop's packets are sent at;
    ``flow_hist (F, K)`` and ``atoms (K,)`` from :func:`size_bins`; ``ptr``,
    ``seg_len``, ``rates`` from :func:`attached_groups` with the hazard's
    ``1 / (1 − ρ_a)`` already applied to ``rates``; ``n_blocks`` the number of blocks of consecutive flows the
    threads share (a few per thread), each with its scratch space allocated once.
    """
    fh_n = cap.size
    k_at = atoms.size
    mean = np.zeros(fh_n)
    var = np.zeros(fh_n)
    max_pairs = 1
    for i in range(fh_n):
        max_pairs = max(max_pairs, (ptr[i + 1] - ptr[i]) * k_at)
    max_hops = 1
    for f in range(fh_start.size):
        max_hops = max(max_hops, fh_len[f])
    n_chunks = max(1, min(fh_start.size, n_blocks))
    for ch in numba.prange(n_chunks):
        r_new = np.empty(max_pairs)
        r_old = np.empty(max_pairs)
        q_new = np.empty(max_pairs)  # the reaches with one size (the rate drops alone, queueing theory's κ)
        q_old = np.empty(max_pairs)
        c = np.empty(max_pairs)
        order = np.empty(max_pairs, dtype=np.int64)
        reach = np.zeros((max_hops, k_at, k_at))  # reach through the previous hop of the segment starting at s0
        drop = np.zeros((max_hops, k_at))  # the same with s_A = s_B: max_j s_B / C_j
        inv_sum = np.zeros(max_hops)  # Σ_{s0 ≤ i < k} 1 / C_i
        for f in range(ch * fh_start.size // n_chunks, (ch + 1) * fh_start.size // n_chunks):
            _flow_train_wait(fh_start[f], fh_len[f], fh_flow, cap, flow_hist, atoms, ptr, seg_len, rates,
                             mean, var, r_new, r_old, q_new, q_old, c, order, reach, drop, inv_sum)
    return mean, var


@numba.njit(cache=True, error_model="numpy")
def _flow_train_wait(st: int, n_h: int, fh_flow: np.ndarray, cap: np.ndarray, flow_hist: np.ndarray,
                     atoms: np.ndarray, ptr: np.ndarray, seg_len: np.ndarray, rates: np.ndarray,
                     mean: np.ndarray, var: np.ndarray, r_new: np.ndarray, r_old: np.ndarray, q_new: np.ndarray,
                     q_old: np.ndarray, c: np.ndarray, order: np.ndarray, reach: np.ndarray, drop: np.ndarray,
                     inv_sum: np.ndarray) -> None:
    """:func:`train_wait` for the flow whose flow-hops are ``st .. st + n_h - 1``, into ``mean`` and ``var``.

    The remaining arguments are scratch space: ``(max_pairs,)`` each, and ``reach (H, K, K)``, ``drop (H, K)``,
    ``inv_sum (H,)`` with ``H ≥ n_h``.
    """
    if n_h < 2:
        return
    k_at = atoms.size
    for s0 in range(n_h):
        inv_sum[s0] = 0.0
        for b in range(k_at):
            drop[s0, b] = 0.0
            for a in range(k_at):
                reach[s0, a, b] = 0.0
    hist = flow_hist[fh_flow[st]]
    own_inv = 0.0  # Σ over the path of 1 / C: the own transmission time per bit
    mean_size = 0.0
    for k in range(n_h):
        own_inv += 1.0 / cap[st + k]
    for a in range(k_at):
        mean_size += hist[a] * atoms[a]
    for k in range(n_h):
        i = st + k
        ck = cap[i]
        g0, g1 = ptr[i], ptr[i + 1]
        if g1 > g0:
            # the reaches with one size (s_A = s_B): the rate drops alone, which queueing theory's κ counts
            n = 0
            for g in range(g0, g1):
                s0 = k - seg_len[g] + 1
                for b in range(k_at):
                    if rates[g, b] > 0.0:
                        q_new[n] = max(drop[s0, b], atoms[b] / ck)
                        q_old[n] = drop[s0, b]
                        c[n] = rates[g, b]
                        n += 1
            d1, d2 = _shot_moments(q_new, c, n, order)
            e1, e2 = _shot_moments(q_old, c, n, order)
            m_new = e1 - d1  # what the size differences add beyond them, averaged over A's sizes
            s_new = e2 - d2
            m_old = 0.0
            s_old = 0.0
            cov = 0.0
            for a in range(k_at):
                pa = hist[a]
                if pa <= 0.0:
                    continue
                n = 0
                for g in range(g0, g1):
                    s0 = k - seg_len[g] + 1
                    for b in range(k_at):
                        if rates[g, b] > 0.0:
                            old = reach[s0, a, b]
                            r_new[n] = max(old, atoms[b] / ck + (atoms[b] - atoms[a]) * inv_sum[s0])
                            r_old[n] = old
                            c[n] = rates[g, b]
                            n += 1
                a1, a2 = _shot_moments(r_new, c, n, order)
                b1, b2 = _shot_moments(r_old, c, n, order)
                m_new += pa * a1
                s_new += pa * a2
                m_old += pa * b1
                s_old += pa * b2
                cov += pa * (a1 - b1) * (atoms[a] - mean_size)
            mean[i] = max(m_new - m_old, 0.0)
            # the growth of the train wait's variance, and twice its covariance with the packet's own
            # transmission over the path (small packets wait more: negative)
            var[i] = max((s_new - m_new * m_new) - (s_old - m_old * m_old), 0.0) + 2.0 * cov * own_inv
        for s0 in range(k + 1):
            for b in range(k_at):
                v = atoms[b] / ck
                if s0 < k and drop[s0, b] > v:
                    v = drop[s0, b]
                drop[s0, b] = v
            for a in range(k_at):
                if hist[a] <= 0.0:
                    continue
                for b in range(k_at):
                    v = atoms[b] / ck + (atoms[b] - atoms[a]) * inv_sum[s0]
                    if s0 < k and reach[s0, a, b] > v:
                        v = reach[s0, a, b]
                    reach[s0, a, b] = v
            inv_sum[s0] += 1.0 / ck
