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

    Returns a CSR over flow-hops: ``ptr (FH + 1,)``, ``seg_len (G,)`` (``L``)
    and ``rates (G, K)`` (packets/s of each size, summed over the streams).
    """
    fh_n = fh_queue.size
    weighted = fh_rate[:, None] * fh_hist
    k_at = fh_hist.shape[1]
    queue = fh_queue.astype(np.int64)

    def pooled(idx: np.ndarray, key: np.ndarray) -> np.ndarray:
        """Sum of ``weighted`` over the flow-hops ``idx`` with equal ``key``, back on each of them."""
        out = np.zeros((idx.size, k_at))
        for col in range(k_at):
            out[:, col] = np.bincount(key, weights=weighted[idx, col])[key]
        return out

    # ids of the sequence of the last L queues ending at each flow-hop (-1 where the path is shorter)
    idx = np.arange(fh_n)
    _, key = np.unique(queue, return_inverse=True)
    ids = key.astype(np.int64)
    prev_idx, prev_cum = idx, pooled(idx, ids)  # streams sharing >= 1 queue
    rows, lens, rates = [], [], []
    for seg in range(2, max_len + 2):
        idx = np.flatnonzero(fh_pos >= seg - 1) if seg <= max_len else np.zeros(0, np.int64)
        cum_full = np.zeros((fh_n, k_at))
        if idx.size:
            _, key = np.unique(ids[idx - 1] * (int(queue.max()) + 1) + queue[idx], return_inverse=True)
            new_ids = np.full(fh_n, -1, dtype=np.int64)
            new_ids[idx] = key
            ids = new_ids
            cum_full[idx] = pooled(idx, key)
        # streams sharing exactly seg - 1 queues with the flow-hops of the previous round
        exact = np.clip(prev_cum - cum_full[prev_idx], 0.0, None)
        if seg >= 3:
            nz = np.flatnonzero(exact.sum(axis=1) > 0)
            rows.append(prev_idx[nz])
            lens.append(np.full(nz.size, seg - 1, dtype=np.int64))
            rates.append(exact[nz])
        if not idx.size:
            break
        prev_idx, prev_cum = idx, cum_full[idx]
    row = np.concatenate(rows) if rows else np.zeros(0, np.int64)
    order = np.argsort(row, kind="stable")
    ptr = np.concatenate([[0], np.cumsum(np.bincount(row, minlength=fh_n))]).astype(np.int64)
    seg_len = (np.concatenate(lens) if lens else np.zeros(0, np.int64))[order]
    g_rates = (np.concatenate(rates) if rates else np.zeros((0, k_at)))[order]
    return ptr, seg_len, g_rates


@numba.njit(cache=True)
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
    for jj in range(m):
        j = order[jj]
        alpha += rate[j] * reach[j]
        beta += rate[j]
        hi = reach[j]
        lo = reach[order[jj + 1]] if jj + 1 < m else 0.0
        if hi <= lo:
            continue
        # on [lo, hi] the hazard is alpha - beta w >= 0
        e_hi = np.exp(-(alpha - beta * hi))
        e_lo = np.exp(-(alpha - beta * lo))
        m1 += (hi - lo) - (e_hi - e_lo) / beta
        m2 += (hi * hi - lo * lo) - 2.0 * (e_hi * (hi / beta - 1.0 / beta**2) - e_lo * (lo / beta - 1.0 / beta**2))
    return m1, m2


@numba.njit(cache=True, parallel=True)
def train_wait(fh_start: np.ndarray, fh_len: np.ndarray, fh_flow: np.ndarray, cap: np.ndarray,
               flow_hist: np.ndarray, atoms: np.ndarray, ptr: np.ndarray, seg_len: np.ndarray,
               rates: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(FH,)`` mean (s) and variance (s²) of each flow-hop's train wait.

    The variance includes twice the covariance with the packet's own
    transmission time over its path, so it can be negative; a path's sum of
    them plus its own transmission variance is not.

    ``cap (FH,)`` the rate (bits/s) each flow-hop's packets are sent at;
    ``flow_hist (F, K)`` and ``atoms (K,)`` from :func:`size_bins`; ``ptr``,
    ``seg_len``, ``rates`` from :func:`attached_groups` with the hazard's
    ``1 / (1 − ρ_a)`` already applied to ``rates``.
    """
    fh_n = cap.size
    k_at = atoms.size
    mean = np.zeros(fh_n)
    var = np.zeros(fh_n)
    max_pairs = 1
    for i in range(fh_n):
        max_pairs = max(max_pairs, (ptr[i + 1] - ptr[i]) * k_at)
    for f in numba.prange(fh_start.size):
        n_h = fh_len[f]
        st = fh_start[f]
        if n_h < 2:
            continue
        r_new = np.empty(max_pairs)
        r_old = np.empty(max_pairs)
        q_new = np.empty(max_pairs)  # the reaches with one size (the rate drops alone, queueing theory's κ)
        q_old = np.empty(max_pairs)
        c = np.empty(max_pairs)
        order = np.empty(max_pairs, dtype=np.int64)
        hist = flow_hist[fh_flow[st]]
        own_inv = 0.0  # Σ over the path of 1 / C: the own transmission time per bit
        mean_size = 0.0
        for k in range(n_h):
            own_inv += 1.0 / cap[st + k]
        for a in range(k_at):
            mean_size += hist[a] * atoms[a]
        reach = np.zeros((n_h, k_at, k_at))  # reach through the previous hop of the segment starting at s0
        drop = np.zeros((n_h, k_at))  # the same with s_A = s_B: max_j s_B / C_j
        inv_sum = np.zeros(n_h)  # Σ_{s0 ≤ i < k} 1 / C_i
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
    return mean, var
