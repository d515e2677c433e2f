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
pooled size mix), which bounds the work at ``O(N · hops · K²)``, ``N`` the
nodes of the trie of the flows' paths (:func:`prefix_trie`): flow-hops with
the same path so far share their moments, and only their own size mixes
weight them apart.
"""

from __future__ import annotations

from typing import NamedTuple

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
        return uniq, _flow_rows(f_idx, inv, p[f_idx, col], s.shape[0], uniq.size)
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
    return atoms, _flow_rows(f_idx, bin_of[inv], p[f_idx, col], s.shape[0], used.size)


def _flow_rows(f_idx: np.ndarray, bin_idx: np.ndarray, prob: np.ndarray, n_flows: int, n_bins: int) -> np.ndarray:
    """``(n_flows, n_bins)`` the sums of ``prob`` per (flow, bin), added in the order given."""
    return np.bincount(f_idx * n_bins + bin_idx, weights=prob, minlength=n_flows * n_bins).reshape(n_flows, n_bins)


class PrefixTrie(NamedTuple):
    """The trie of the flows' queue sequences from their first hop (:func:`prefix_trie`).

    Flow-hops with the same path so far (the same queues in the same order) share a node: their attached
    streams, rates and train-wait moments are the same, and only their own flows' size mixes weight them
    differently. Flows from one source along a shortest-path tree share most of their hops (a 200-node GNNet
    sample: 57,373 nodes for 152,060 flow-hops).

    Attributes
    ----------
    node_of
        ``(FH,)`` each flow-hop's node.
    parent
        ``(N,)`` each node's parent (``-1`` at a first hop); a parent's id is below its children's.
    rep
        ``(N,)`` the first flow-hop at each node.
    depth
        ``(N,)`` the node's hop on the path (0 first).
    queue
        ``(N,)`` the queue id of the node's hop.
    """

    node_of: np.ndarray
    parent: np.ndarray
    rep: np.ndarray
    depth: np.ndarray
    queue: np.ndarray


def prefix_trie(fh_start: np.ndarray, fh_len: np.ndarray, fh_queue: np.ndarray, *, share: bool = True) -> PrefixTrie:
    """The :class:`PrefixTrie` of flow-hops ordered flow by flow in path order.

    ``fh_start``, ``fh_len`` ``(F,)`` each flow's first flow-hop and number of hops; ``fh_queue (FH,)`` queue ids
    (``≥ 0``). ``share=False`` gives every flow-hop a node of its own (each flow a chain: the per-flow
    computation, which gives the same figures bit for bit).

    >>> t = prefix_trie(np.array([0, 3]), np.array([3, 2]), np.array([4, 5, 6, 4, 5]))
    >>> t.node_of.tolist(), t.parent.tolist(), t.depth.tolist()
    ([0, 1, 2, 0, 1], [-1, 0, 1], [0, 1, 2])
    """
    fh_queue = np.ascontiguousarray(fh_queue, dtype=np.int64)
    fh_start = np.ascontiguousarray(fh_start, dtype=np.int64)
    fh_len = np.ascontiguousarray(fh_len, dtype=np.int64)
    if fh_queue.size and int(fh_queue.min()) < 0:
        raise ValueError("prefix_trie: queue ids must be >= 0")
    if fh_start.shape != fh_len.shape or (fh_len.size and (int(fh_len.min()) < 0 or int(fh_start.min()) < 0
                                                           or int((fh_start + fh_len).max()) > fh_queue.size)):
        raise ValueError("prefix_trie: every flow's flow-hops must lie within fh_queue")
    node_of, parent, rep, depth = _prefix_trie(fh_start, fh_len, fh_queue, share)
    return PrefixTrie(node_of, parent, rep, depth, fh_queue[rep])


@numba.njit(cache=True)
def _prefix_trie(fh_start: np.ndarray, fh_len: np.ndarray, fh_queue: np.ndarray,
                 share: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """:func:`prefix_trie`'s arrays: children found through one chain per parent, first hops by queue id."""
    fh_n = fh_queue.size
    node_of = np.empty(fh_n, dtype=np.int64)
    parent = np.empty(fh_n, dtype=np.int64)
    rep = np.empty(fh_n, dtype=np.int64)
    depth = np.empty(fh_n, dtype=np.int64)
    node_queue = np.empty(fh_n, dtype=np.int64)
    sibling = np.empty(fh_n, dtype=np.int64)  # the next child of the same parent
    first_child = np.full(fh_n, -1, dtype=np.int64)
    n_q = 1
    for e in range(fh_n):
        n_q = max(n_q, fh_queue[e] + 1)
    root_of_queue = np.full(n_q, -1, dtype=np.int64)
    n = 0
    for f in range(fh_start.size):
        par = -1
        for k in range(fh_len[f]):
            e = fh_start[f] + k
            q = fh_queue[e]
            node = -1
            if share:
                if par < 0:
                    node = root_of_queue[q]
                else:
                    node = first_child[par]
                    while node >= 0 and node_queue[node] != q:
                        node = sibling[node]
            if node < 0:
                node = n
                n += 1
                node_queue[node] = q
                parent[node] = par
                rep[node] = e
                depth[node] = k
                sibling[node] = -1
                if par < 0:
                    root_of_queue[q] = node
                else:
                    sibling[node] = first_child[par]
                    first_child[par] = node
            node_of[e] = node
            par = node
    return node_of, parent[:n].copy(), rep[:n].copy(), depth[:n].copy()


def node_groups(trie: PrefixTrie, fh_rate: np.ndarray, fh_hist: np.ndarray,
                max_len: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Rate-weighted size mixes of the streams that share exactly the last ``L ≥ 2`` queues, per trie node.

    Two flow-hops share their last ``L`` queues when the ``L`` queues ending
    at each are the same sequence (the streams arrived over the same
    ``L − 1`` upstream links); flow-hops at one node of ``trie`` share all of
    theirs. ``fh_rate (FH,)`` packets/s, ``fh_hist (FH, K)`` each flow-hop's
    size mix; segments up to ``max_len`` queues.

    Returns a CSR over nodes: ``ptr (N + 1,)``, ``seg_len (G,)`` (``L``, ascending per node) and ``rates (G, K)``
    (packets/s of each size, summed over the streams in flow-hop order).
    """
    weighted = np.ascontiguousarray(np.asarray(fh_rate, dtype=np.float64)[:, None] * fh_hist)
    if weighted.ndim != 2 or weighted.shape[0] != trie.node_of.size:
        raise ValueError(f"node_groups: fh_rate and fh_hist need one row per flow-hop ({trie.node_of.size})")
    return _node_groups(trie.node_of, trie.parent, trie.depth, trie.queue, weighted, int(max_len))


@numba.njit(cache=True)
def _node_groups(node_of: np.ndarray, parent: np.ndarray, depth: np.ndarray, queue: np.ndarray,
                 weighted: np.ndarray, max_len: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """:func:`node_groups` on ``weighted (FH, K)`` (the flow-hops' packet rates per size), round by round.

    Round ``L`` labels the sequence of the last ``L`` queues ending at each
    node by the pair (its parent's label of round ``L − 1``, its queue),
    through a chained table per earlier label, and sums ``weighted`` over
    equal labels in flow-hop order; the streams sharing *exactly* ``L − 1``
    queues are the difference between rounds ``L − 1`` and ``L``.
    """
    n = parent.size
    fh_n, k_at = weighted.shape
    label = queue.copy()  # label of the sequence of the last L queues ending at each node (round L; -1: none)
    n_labels = 1
    for v in range(n):
        n_labels = max(n_labels, label[v] + 1)
    sums = np.zeros((n_labels, k_at))
    for e in range(fh_n):
        lab = label[node_of[e]]
        for col in range(k_at):
            sums[lab, col] += weighted[e, col]
    prev_cum = np.empty((n, k_at))  # round L - 1's sums at each node that has a label in it
    for v in range(n):
        for col in range(k_at):
            prev_cum[v, col] = sums[label[v], col]
    cap_rows = max(16, n)
    row_node = np.empty(cap_rows, dtype=np.int64)
    lens = np.empty(cap_rows, dtype=np.int64)
    rates = np.empty((cap_rows, k_at))
    n_rows = 0
    new_label = np.full(n, -1, dtype=np.int64)
    chain_queue = np.empty(n, dtype=np.int64)
    chain_next = np.empty(n, dtype=np.int64)
    # the nodes labelled in the last round (depth >= seg - 2) and the flow-hops at them, ascending
    active = np.arange(n)
    n_active = n
    active_fh = np.arange(fh_n)
    n_active_fh = fh_n
    for seg in range(2, max_len + 2):
        head = np.full(n_labels, -1, dtype=np.int64)  # per earlier label: first node of its (queue, label) chain
        n_new = 0
        if seg <= max_len:
            for j in range(n_active):
                v = active[j]
                if depth[v] < seg - 1:
                    continue
                lab = label[parent[v]]
                node = head[lab]
                while node >= 0 and chain_queue[node] != queue[v]:
                    node = chain_next[node]
                if node < 0:
                    node = n_new
                    chain_queue[node] = queue[v]
                    chain_next[node] = head[lab]
                    head[lab] = node
                    n_new += 1
                new_label[v] = node
        sums = np.zeros((max(n_new, 1), k_at))
        m = 0
        for j in range(n_active_fh):  # in flow-hop order: the sums add up as flow-hop by flow-hop
            e = active_fh[j]
            lab = new_label[node_of[e]]
            if lab >= 0:
                active_fh[m] = e
                m += 1
                for col in range(k_at):
                    sums[lab, col] += weighted[e, col]
        n_active_fh = m
        if seg >= 3:  # streams sharing exactly seg - 1 queues with the node
            for j in range(n_active):
                v = active[j]
                if n_rows == cap_rows:
                    cap_rows *= 2
                    row2 = np.empty(cap_rows, dtype=np.int64)
                    lens2 = np.empty(cap_rows, dtype=np.int64)
                    rates2 = np.empty((cap_rows, k_at))
                    row2[:n_rows] = row_node[:n_rows]
                    lens2[:n_rows] = lens[:n_rows]
                    rates2[:n_rows] = rates[:n_rows]
                    row_node, lens, rates = row2, lens2, rates2
                lab = new_label[v]
                any_pos = False
                for col in range(k_at):
                    x = prev_cum[v, col] - (sums[lab, col] if lab >= 0 else 0.0)
                    x = max(x, 0.0)
                    rates[n_rows, col] = x
                    any_pos = any_pos or x > 0.0
                if any_pos:
                    row_node[n_rows] = v
                    lens[n_rows] = seg - 1
                    n_rows += 1
        if n_new == 0:
            break
        m = 0
        for j in range(n_active):
            v = active[j]
            lab = new_label[v]
            if lab >= 0:
                active[m] = v
                m += 1
                for col in range(k_at):
                    prev_cum[v, col] = sums[lab, col]
                label[v] = lab
            new_label[v] = -1
        n_active = m
        n_labels = n_new
    # CSR by node; a node's groups in order of L (stable)
    ptr = np.zeros(n + 1, dtype=np.int64)
    for r in range(n_rows):
        ptr[row_node[r] + 1] += 1
    for v in range(n):
        ptr[v + 1] += ptr[v]
    fill = ptr[:-1].copy()
    seg_len = np.empty(n_rows, dtype=np.int64)
    g_rates = np.empty((n_rows, k_at))
    for r in range(n_rows):
        d = fill[row_node[r]]
        fill[row_node[r]] += 1
        seg_len[d] = lens[r]
        for col in range(k_at):
            g_rates[d, col] = rates[r, col]
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



@numba.njit(cache=True)
def _trie_layout(node_of: np.ndarray, parent: np.ndarray, fh_flow: np.ndarray, flow_hist: np.ndarray) -> tuple[
        np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Children and flow-hops of every node of :func:`prefix_trie`, and the packet sizes each needs.

    Returns ``child_ptr (N + 2,)`` and ``children (N,)`` (node ``v``'s children are
    ``children[child_ptr[v + 1]:child_ptr[v + 2]]``, the first hops ``children[child_ptr[0]:child_ptr[1]]``),
    ``fh_ptr (N + 1,)`` and ``fh_list (FH,)`` (the flow-hops at each node), ``sizes_here (N, K)`` (the sizes of
    the flows at the node) and ``sizes_below (N, K)`` (the same over the node's subtree).
    """
    n = parent.size
    fh_n = node_of.size
    k_at = flow_hist.shape[1]
    child_ptr = np.zeros(n + 2, dtype=np.int64)
    for v in range(n):
        child_ptr[parent[v] + 2] += 1
    for i in range(n + 1):
        child_ptr[i + 1] += child_ptr[i]
    children = np.empty(n, dtype=np.int64)
    fill = child_ptr[:-1].copy()
    for v in range(n):
        children[fill[parent[v] + 1]] = v
        fill[parent[v] + 1] += 1
    fh_ptr = np.zeros(n + 1, dtype=np.int64)
    for e in range(fh_n):
        fh_ptr[node_of[e] + 1] += 1
    for v in range(n):
        fh_ptr[v + 1] += fh_ptr[v]
    fh_list = np.empty(fh_n, dtype=np.int64)
    at = fh_ptr[:-1].copy()
    sizes_here = np.zeros((n, k_at), dtype=np.bool_)
    for e in range(fh_n):
        v = node_of[e]
        fh_list[at[v]] = e
        at[v] += 1
        for a in range(k_at):
            if flow_hist[fh_flow[e], a] > 0.0:
                sizes_here[v, a] = True
    sizes_below = sizes_here.copy()
    for v in range(n - 1, -1, -1):  # a parent's id is below its children's
        if parent[v] >= 0:
            for a in range(k_at):
                sizes_below[parent[v], a] |= sizes_below[v, a]
    return child_ptr, children, fh_ptr, fh_list, sizes_here, sizes_below


def train_wait(trie: PrefixTrie, fh_start: np.ndarray, fh_len: np.ndarray, fh_flow: np.ndarray, cap: np.ndarray,
               flow_hist: np.ndarray, atoms: np.ndarray, ptr: np.ndarray, seg_len: np.ndarray, rates: np.ndarray,
               n_blocks: int = 16) -> tuple[np.ndarray, np.ndarray]:
    """``(FH,)`` mean (s) and variance (s²) of each flow-hop's train wait.

    The variance includes twice the covariance with the packet's own
    transmission time over its path, so it can be negative; a path's sum of
    them plus its own transmission variance is not.

    ``trie`` from :func:`prefix_trie` on the flow-hops (``fh_start``, ``fh_len``, ``fh_flow`` ``(F,)``,
    ``(F,)``, ``(FH,)``); ``cap (FH,)`` the rate (bits/s) each flow-hop's packets are sent at;
    ``flow_hist (F, K)`` and ``atoms (K,)`` from :func:`size_bins`; ``ptr``, ``seg_len``, ``rates`` from
    :func:`node_groups` with the hazard's ``1 / (1 − ρ_a)`` already applied to ``rates``.

    The shot-noise moments are computed once per node of the trie and per
    packet size its flows use, depth first from each first hop (a node's
    state is its parent's carried one hop on), in ``n_blocks`` blocks of
    first-hop subtrees that the threads share (a few per thread); each
    flow-hop weights them by its own flow's size mix.
    """
    fh_start, fh_len, fh_flow = (np.ascontiguousarray(x, dtype=np.int64) for x in (fh_start, fh_len, fh_flow))
    if (ptr.size != trie.parent.size + 1 or cap.size != trie.node_of.size or fh_flow.size != cap.size
            or flow_hist.shape != (fh_start.size, atoms.size) or rates.shape != (seg_len.size, atoms.size)):
        raise ValueError("train_wait: the arrays do not describe one set of flow-hops, trie nodes and sizes")
    child_ptr, children, fh_ptr, fh_list, sizes_here, sizes_below = _trie_layout(trie.node_of, trie.parent,
                                                                                 fh_flow, flow_hist)
    max_hops = max(1, int(fh_len.max())) if np.size(fh_len) else 1
    return _trie_train_wait(child_ptr, children, fh_ptr, fh_list, trie.rep, sizes_here, sizes_below,
                            fh_start, fh_len, fh_flow, cap, flow_hist, atoms, ptr, seg_len, rates, max_hops, n_blocks)


@numba.njit(cache=True, parallel=True, error_model="numpy")
def _trie_train_wait(child_ptr: np.ndarray, children: np.ndarray, fh_ptr: np.ndarray, fh_list: np.ndarray,
                     rep: np.ndarray, sizes_here: np.ndarray, sizes_below: np.ndarray, fh_start: np.ndarray,
                     fh_len: np.ndarray, fh_flow: np.ndarray, cap: np.ndarray, flow_hist: np.ndarray,
                     atoms: np.ndarray, ptr: np.ndarray, seg_len: np.ndarray, rates: np.ndarray, max_hops: int,
                     n_blocks: int) -> tuple[np.ndarray, np.ndarray]:
    """:func:`train_wait` over the trie (:func:`_trie_layout`), depth first from each first hop."""
    fh_n = cap.size
    k_at = atoms.size
    mean = np.zeros(fh_n)
    var = np.zeros(fh_n)
    n_flows = fh_start.size
    own_inv = np.zeros(n_flows)  # Σ over the path of 1 / C: the own transmission time per bit
    mean_size = np.zeros(n_flows)
    for f in range(n_flows):
        s = 0.0
        for k in range(fh_len[f]):
            s += 1.0 / cap[fh_start[f] + k]
        own_inv[f] = s
        ms = 0.0
        for a in range(k_at):
            ms += flow_hist[f, a] * atoms[a]
        mean_size[f] = ms
    max_pairs = 1
    for v in range(ptr.size - 1):
        max_pairs = max(max_pairs, (ptr[v + 1] - ptr[v]) * k_at)
    n_roots = child_ptr[1]
    n_chunks = max(1, min(n_roots, n_blocks))
    for ch in numba.prange(n_chunks):
        scratch = np.empty((5, max_pairs))  # r_new, r_old, q_new, q_old, c
        order = np.empty(max_pairs, dtype=np.int64)
        # the state after the node last visited at each depth (a node's parent at depth - 1): per segment
        # start s0, the reaches (a, b), the same with one size, and Σ_{s0 ≤ i ≤ depth} 1 / C_i
        reach = np.zeros((max_hops, max_hops, k_at, k_at))
        drop = np.zeros((max_hops, max_hops, k_at))
        inv_sum = np.zeros((max_hops, max_hops))
        moments = np.empty((k_at, 4))
        stack_node = np.empty(max_hops, dtype=np.int64)
        stack_next = np.empty(max_hops, dtype=np.int64)
        for ri in range(ch * n_roots // n_chunks, (ch + 1) * n_roots // n_chunks):
            root = children[ri]
            _visit(root, 0, fh_ptr, fh_list, rep, sizes_here, sizes_below, fh_flow, cap, flow_hist, atoms, ptr,
                   seg_len, rates, own_inv, mean_size, mean, var, scratch, order, reach, drop, inv_sum, moments)
            sp = 0
            stack_node[0] = root
            stack_next[0] = child_ptr[root + 1]
            while sp >= 0:
                v = stack_node[sp]
                c = stack_next[sp]
                if c < child_ptr[v + 2]:
                    stack_next[sp] = c + 1
                    w = children[c]
                    _visit(w, sp + 1, fh_ptr, fh_list, rep, sizes_here, sizes_below, fh_flow, cap, flow_hist,
                           atoms, ptr, seg_len, rates, own_inv, mean_size, mean, var, scratch, order, reach, drop,
                           inv_sum, moments)
                    sp += 1
                    stack_node[sp] = w
                    stack_next[sp] = child_ptr[w + 1]
                else:
                    sp -= 1
    return mean, var


@numba.njit(cache=True, error_model="numpy")
def _visit(v: int, d: int, fh_ptr: np.ndarray, fh_list: np.ndarray, rep: np.ndarray, sizes_here: np.ndarray,
           sizes_below: np.ndarray, fh_flow: np.ndarray, cap: np.ndarray, flow_hist: np.ndarray, atoms: np.ndarray,
           ptr: np.ndarray, seg_len: np.ndarray, rates: np.ndarray, own_inv: np.ndarray, mean_size: np.ndarray,
           mean: np.ndarray, var: np.ndarray, scratch: np.ndarray, order: np.ndarray, reach: np.ndarray,
           drop: np.ndarray, inv_sum: np.ndarray, moments: np.ndarray) -> None:
    """The train waits of the flow-hops at node ``v`` (depth ``d``: its hop ``k = d``) into ``mean`` and ``var``,
    and its state into slot ``d`` of ``reach``, ``drop``, ``inv_sum`` (its parent's is in slot ``d − 1``)."""
    k_at = atoms.size
    ck = cap[rep[v]]
    g0, g1 = ptr[v], ptr[v + 1]
    p = d - 1
    if d >= 1 and g1 > g0:
        r_new, r_old, q_new, q_old, c = scratch[0], scratch[1], scratch[2], scratch[3], scratch[4]
        # the reaches with one size (s_A = s_B): the rate drops alone, which queueing theory's κ counts
        n = 0
        for g in range(g0, g1):
            s0 = d - seg_len[g] + 1
            for b in range(k_at - 1, -1, -1):  # largest first: the sort below has little to do
                if rates[g, b] > 0.0:
                    q_new[n] = max(drop[p, s0, b], atoms[b] / ck)
                    q_old[n] = drop[p, s0, b]
                    c[n] = rates[g, b]
                    n += 1
        d1, d2 = _shot_moments(q_new, c, n, order)
        e1, e2 = _shot_moments(q_old, c, n, order)
        for a in range(k_at):
            if not sizes_here[v, a]:
                continue
            n = 0
            for g in range(g0, g1):
                s0 = d - seg_len[g] + 1
                for b in range(k_at - 1, -1, -1):
                    if rates[g, b] > 0.0:
                        old = reach[p, s0, a, b]
                        r_new[n] = max(old, atoms[b] / ck + (atoms[b] - atoms[a]) * inv_sum[p, s0])
                        r_old[n] = old
                        c[n] = rates[g, b]
                        n += 1
            moments[a, 0], moments[a, 1] = _shot_moments(r_new, c, n, order)
            moments[a, 2], moments[a, 3] = _shot_moments(r_old, c, n, order)
        for j in range(fh_ptr[v], fh_ptr[v + 1]):
            e = fh_list[j]
            f = fh_flow[e]
            m_new = e1 - d1  # what the size differences add beyond them, averaged over A's sizes
            s_new = e2 - d2
            m_old = 0.0
            s_old = 0.0
            cov = 0.0
            for a in range(k_at):
                pa = flow_hist[f, a]
                if pa <= 0.0:
                    continue
                a1, a2, b1, b2 = moments[a, 0], moments[a, 1], moments[a, 2], moments[a, 3]
                m_new += pa * a1
                s_new += pa * a2
                m_old += pa * b1
                s_old += pa * b2
                cov += pa * (a1 - b1) * (atoms[a] - mean_size[f])
            mean[e] = max(m_new - m_old, 0.0)
            # the growth of the train wait's variance, and twice its covariance with the packet's own
            # transmission over the path (small packets wait more: negative)
            var[e] = max((s_new - m_new * m_new) - (s_old - m_old * m_old), 0.0) + 2.0 * cov * own_inv[f]
    for s0 in range(d + 1):
        earlier = s0 < d  # the segment began before this hop: the parent's state carries on
        for b in range(k_at):
            x = atoms[b] / ck
            if earlier and drop[p, s0, b] > x:
                x = drop[p, s0, b]
            drop[d, s0, b] = x
        inv_old = inv_sum[p, s0] if earlier else 0.0
        for a in range(k_at):
            if not sizes_below[v, a]:
                continue
            for b in range(k_at):
                x = atoms[b] / ck + (atoms[b] - atoms[a]) * inv_old
                if earlier and reach[p, s0, a, b] > x:
                    x = reach[p, s0, a, b]
                reach[d, s0, a, b] = x
        inv_sum[d, s0] = inv_old + 1.0 / ck
