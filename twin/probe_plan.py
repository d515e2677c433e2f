"""Where to put active probes: every link crossed, and faulty links told apart (greedy probe planning).

Delay and silent drops (grey loss) on a link show only in the probes whose
packets cross it: interface counters do not count silent drops, and nothing
else measures delay. A network whose probes cross some links and not others
is blind on the rest (``twinwatch network show`` lists them). Telling *which*
link is at fault (boolean network tomography) needs more: two links crossed
by exactly the same probes are indistinguishable from the probes alone.

:func:`plan_probe_pairs` chooses probe pairs (source, destination devices)
greedily on the routing with every link up:

1. **cover** — add the pair whose path crosses the most links still crossed
   by fewer than ``cover`` probes (ties: the longer path), until every link
   that some pair's path crosses is covered ``cover`` times;
2. **separate** — then add the pair that splits the most groups of links
   crossed by the same set of probes (a link's *signature*), until every
   covered link has a signature of its own or no pair splits a group.

Greedy set cover is within a factor ``ln E`` of the fewest probes (Chvátal,
1979) and is what monitor-placement work uses at this size. With ECMP a
probe's packets follow one of its pair's equal-cost paths (the routers' flow
hash picks it), so a pair counts only the links *every* equal-cost path of
the pair crosses: coverage planned is coverage had, whichever path the hash
picks. Links that no pair's every path crosses (a backup link no shortest
path uses, a link inside an ECMP bundle) are reported as ``uncoverable``.

Cost: one sparse matrix-vector product over the ``K`` pairs × ``E`` links
incidence per probe added (``K ≈ N²``); Cogent (197 devices, 486 directed
links) plans in 1.5 s on the shared 2-core box, the routing of its 38,612
pairs included (``bench/probe_plan.py``).

Examples
--------
A 5-node ring 0-1-2-3-4-0 (10 directed links; the 2-hop pairs have one shortest path): covering
alone leaves links that the same probes cross; separating tells all 10 apart.

>>> import numpy as np
>>> from twinwatch.twin.routing import compute_routing
>>> ring = np.arange(5); nxt = (ring + 1) % 5
>>> r = compute_routing(5, np.r_[ring, nxt], np.r_[nxt, ring], np.ones(10))   # every ordered pair
>>> cov = plan_probe_pairs(r, separate=False)
>>> int((cov.covered > 0).sum()), cov.n_signatures, len(cov.src)
(10, 8, 6)
>>> plan = plan_probe_pairs(r)
>>> int((plan.covered > 0).sum()), plan.n_signatures, plan.stage.tolist().count("separate")
(10, 10, 2)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import scipy.sparse as sp

from twinwatch.twin.routing import Routing

if TYPE_CHECKING:
    from twinwatch.twin.netmodel import NetworkModel

__all__ = ["ProbePlan", "certain_links", "plan_network_probes", "plan_probe_pairs"]


@dataclass(frozen=True)
class ProbePlan:
    """The probe pairs a plan adds, and what the planned probes (existing and added) achieve.

    Attributes
    ----------
    src, dst
        ``(A,)`` int64 node numbers of the pairs added, in the order chosen.
    stage
        ``(A,)`` str, ``"cover"`` or ``"separate"``: why each pair was added.
    covered
        ``(E,)`` int64: how many planned probes certainly cross each link.
    uncoverable
        ``(E,)`` bool: links that no allowed pair's every equal-cost path crosses.
    n_signatures
        Number of distinct signatures (sets of planned probes crossing a link) over the covered links;
        equal to the number of covered links when every covered link can be told apart.
    n_existing
        Existing probe pairs the plan kept and built on.
    budget_exhausted
        The plan stopped at ``max_probes`` before covering / separating everything it could.
    """

    src: np.ndarray
    dst: np.ndarray
    stage: np.ndarray
    covered: np.ndarray
    uncoverable: np.ndarray
    n_signatures: int
    n_existing: int
    budget_exhausted: bool


def certain_links(routing: Routing) -> sp.csr_matrix:
    """``(K, E)`` 0/1 sparse matrix: pair ``k`` certainly crosses link ``e`` (every equal-cost path does).

    ``K`` is the routing's number of pairs (``routing.pair_src``); an unreachable pair has an empty row.
    """
    k, e = len(routing.pair_src), routing.n_links
    n_paths = np.diff(routing.pair_ptr)
    path_pair = np.repeat(np.arange(k, dtype=np.int64), n_paths)
    entry_pair = np.repeat(path_pair, np.diff(routing.path_ptr))
    code = np.unique(entry_pair * e + routing.path_links.astype(np.int64), return_counts=True)
    pair, link = np.divmod(code[0], e)
    every = code[1] == n_paths[pair]  # a shortest path crosses a link at most once
    data = np.ones(int(every.sum()), dtype=np.float32)
    return sp.csr_matrix((data, (pair[every], link[every])), shape=(k, e))


def plan_probe_pairs(
    routing: Routing,
    *,
    existing_src: np.ndarray | None = None,
    existing_dst: np.ndarray | None = None,
    cover: int = 1,
    separate: bool = True,
    max_probes: int | None = None,
    endpoints: np.ndarray | None = None,
) -> ProbePlan:
    """Choose probe pairs so every link is crossed ``cover`` times and, with ``separate``, told apart.

    Parameters
    ----------
    routing
        The routing of the candidate pairs (usually every ordered pair of devices) with every link up.
    existing_src, existing_dst
        ``(X,)`` node numbers of the probes already deployed; they count first and are kept.
    cover
        Probes that must cross each link (>= 1).
    separate
        After covering, add pairs until every covered link is crossed by a set of probes of its own.
    max_probes
        Most probes in all (existing included); ``None``: no limit.
    endpoints
        ``(N,)`` bool, the devices that may source or sink a probe (``None``: all).
    """
    if cover < 1:
        raise ValueError(f"plan_probe_pairs: cover must be >= 1, got {cover}")
    if max_probes is not None and max_probes < 0:
        raise ValueError(f"plan_probe_pairs: max_probes must be >= 0, got {max_probes}")
    a = certain_links(routing)
    k, e, n = a.shape[0], routing.n_links, routing.n_nodes
    ps, pd = routing.pair_src, routing.pair_dst
    allowed = np.ones(k, dtype=bool)
    if endpoints is not None:
        ok = np.asarray(endpoints, dtype=bool)
        if ok.shape != (n,):
            raise ValueError(f"plan_probe_pairs: endpoints shape {ok.shape} != ({n},)")
        allowed = ok[ps] & ok[pd]
    used = np.zeros(k, dtype=bool)
    xs = np.asarray([] if existing_src is None else existing_src, dtype=np.int64)
    xd = np.asarray([] if existing_dst is None else existing_dst, dtype=np.int64)
    if xs.shape != xd.shape:
        raise ValueError(f"plan_probe_pairs: existing_src {xs.shape} and existing_dst {xd.shape} differ")
    order = np.argsort(ps * n + pd, kind="stable")
    key = (ps * n + pd)[order]
    if xs.size and key.size:
        pos = np.clip(np.searchsorted(key, xs * n + xd), 0, key.size - 1)
        hit = key[pos] == xs * n + xd
        used[order[pos[hit]]] = True
    rows = np.flatnonzero(used).tolist()
    count = np.asarray(a[rows].sum(axis=0)).ravel().astype(np.int64) if rows else np.zeros(e, dtype=np.int64)
    length = np.asarray(a.sum(axis=1)).ravel()
    reach = np.asarray(a[np.flatnonzero(allowed | used)].sum(axis=0)).ravel() > 0
    budget = np.inf if max_probes is None else float(max_probes)
    n_existing = len(rows)
    chosen: list[int] = []
    stage: list[str] = []
    exhausted = False
    rng = np.random.default_rng(0)  # signature keys: any distinct 64-bit values do (collision odds ~ K² / 2⁶⁴)
    keys = rng.integers(1, np.iinfo(np.int64).max, size=k, dtype=np.int64).astype(np.uint64)
    sig = np.zeros(e, dtype=np.uint64)  # XOR of the keys of the planned probes crossing each link
    for r in rows:
        sig[a.indices[a.indptr[r]:a.indptr[r + 1]]] ^= keys[r]

    def pick(gain: np.ndarray) -> int:
        g = np.where(allowed & ~used, gain, -1.0)
        best = int(np.argmax(g * (e + 1) + np.where(g > 0, length, 0)))  # ties: the longer path, then lower pair
        return best if g[best] > 0 else -1

    def add(best: int, why: str) -> None:
        used[best] = True
        chosen.append(best)
        stage.append(why)
        links = a.indices[a.indptr[best]:a.indptr[best + 1]]
        count[links] += 1
        sig[links] ^= keys[best]

    while True:
        need = (count < cover) & reach
        if not need.any():
            break
        if len(rows) + len(chosen) >= budget:
            exhausted = True
            break
        best = pick(a @ need.astype(np.float32))
        if best < 0:
            break
        add(best, "cover")
    if separate and not exhausted:
        while True:
            cov = np.flatnonzero(count > 0)
            _, cls, size = np.unique(sig[cov], return_inverse=True, return_counts=True)
            multi = size[cls] >= 2
            if not multi.any():
                break
            if len(rows) + len(chosen) >= budget:
                exhausted = True
                break
            g = sp.csr_matrix((np.ones(int(multi.sum()), dtype=np.float32), (cov[multi], cls[multi])),
                              shape=(e, size.size))
            c = (a @ g).tocsr()  # (K, classes): links of each look-alike group a pair crosses
            split = (c.data > 0) & (c.data < size[c.indices])
            gain = np.bincount(np.repeat(np.arange(k), np.diff(c.indptr))[split], minlength=k).astype(np.float64)
            best = pick(gain)
            if best < 0:
                break
            add(best, "separate")
    cov = count > 0
    n_sig = int(np.unique(sig[cov]).size) if cov.any() else 0
    idx = np.asarray(chosen, dtype=np.int64)
    return ProbePlan(src=ps[idx].astype(np.int64), dst=pd[idx].astype(np.int64),
                     stage=np.asarray(stage, dtype=object), covered=count, uncoverable=~reach,
                     n_signatures=n_sig, n_existing=n_existing, budget_exhausted=exhausted)


def plan_network_probes(
    model: NetworkModel,
    *,
    cover: int = 1,
    separate: bool = True,
    max_probes: int | None = None,
    roles: Sequence[str] | None = None,
    replace: bool = False,
    rate_pps: float = 10.0,
    size_bytes: int = 128,
    ef_every: int = 4,
) -> tuple[NetworkModel, ProbePlan]:
    """``model`` with the probes :func:`plan_probe_pairs` chooses added (or, with ``replace``, instead of its own).

    The routing is the model's own (IGP metrics, ECMP, explicit routes) with every link up. New probes
    send ``rate_pps`` packets/s of ``size_bytes`` bytes; one in ``ef_every`` is marked EF (DSCP 46, the
    priority class), the others best effort (DSCP 0), so both classes are measured. ``roles`` limits the
    probe endpoints to devices of those roles (e.g. the PE routers that run TWAMP). A probe is named
    ``SRC-DST`` (with ``#2``, ``#3`` … where that name is taken).

    >>> from twinwatch.twin.netmodel import load_network
    >>> m, plan = plan_network_probes(load_network("abilene"))
    >>> m.n_probes == load_network("abilene").n_probes + len(plan.src), int((plan.covered > 0).sum()) == m.n_links
    (True, True)
    """
    from twinwatch.twin.netmodel import document, model_from_dict
    from twinwatch.twin.snapshot import SnapshotBuilder

    if ef_every < 1:
        raise ValueError(f"plan_network_probes: ef_every must be >= 1, got {ef_every}")
    endpoints = None
    if roles:
        known = {d.role for d in model.devices}
        missing = sorted(set(roles) - known)
        if missing:
            raise ValueError(f"plan_network_probes: no device has role {', '.join(map(repr, missing))} "
                             f"(roles in {model.name}: {', '.join(sorted(known))})")
        endpoints = np.array([d.role in set(roles) for d in model.devices], dtype=bool)
    routing = SnapshotBuilder(model).routing(np.ones(model.n_links, dtype=bool))
    keep = not replace
    plan = plan_probe_pairs(routing, existing_src=model.probe_src if keep else None,
                            existing_dst=model.probe_dst if keep else None, cover=cover, separate=separate,
                            max_probes=max_probes, endpoints=endpoints)
    doc = document(model)
    probes = list(doc.get("probes", [])) if keep else []
    taken = {p["name"] for p in probes}
    names = model.node_names
    for s, d in zip(plan.src.tolist(), plan.dst.tolist(), strict=True):
        name = base = f"{names[s]}-{names[d]}"
        n = 1
        while name in taken:
            n += 1
            name = f"{base}#{n}"
        taken.add(name)
        probes.append({"name": name, "src": names[s], "dst": names[d], "rate_pps": rate_pps,
                       "size_bytes": int(size_bytes), "dscp": 46 if len(probes) % ef_every == 0 else 0})
    doc["probes"] = probes
    return model_from_dict(doc, source=model.name), plan
