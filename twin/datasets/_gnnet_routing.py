"""Routing files of the GNNet datasets → CSR paths over a :class:`GNNetGraph`.

Two layouts occur (both in ``routings/`` beside the tarballs):

* **port matrix** (2020, 2022): ``N`` lines of ``N`` comma-terminated integers;
  entry ``[node, dst]`` is the output *port* that ``node`` uses towards
  ``dst`` (-1 on the diagonal). A path is found by following ports from the
  source, using each edge's ``port`` attribute in the topology file.
* **path list** (2021): one line per (src, dst) pair, the node sequence of its
  path separated by ``;`` (``0;13;16;5``).

Both give all ``N(N-1)`` paths; :func:`read_routing` returns them as CSR over
link numbers, with ``pair_path[src * N + dst]`` the path number (-1: none).

Examples
--------
>>> from twinwatch.twin.datasets._gnnet_gml import parse_gml
>>> g = parse_gml('''graph [ node [ id 0 ] node [ id 1 ] node [ id 2 ]
...   edge [ source 0 target 1 port 0 bandwidth 1 ] edge [ source 1 target 2 port 0 bandwidth 1 ]
...   edge [ source 1 target 0 port 1 bandwidth 1 ] edge [ source 2 target 1 port 0 bandwidth 1 ] ]''')
>>> r = read_routing("-1,0,0,\\n1,-1,0,\\n0,0,-1,\\n", g, "r.txt")
>>> int(r.pair_path[0 * 3 + 2]), r.links_of(int(r.pair_path[0 * 3 + 2])).tolist()
(1, [0, 1])
>>> r2 = read_routing("0;1;2\\n2;1;0\\n", g, "r2.txt")
>>> r2.links_of(int(r2.pair_path[2 * 3 + 0])).tolist()
[3, 2]
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from twinwatch.twin.datasets._gnnet_gml import GNNetGraph

__all__ = ["Routing", "RoutingError", "read_routing"]


class RoutingError(ValueError):
    """A routing file does not match its topology."""


@dataclass(frozen=True, slots=True)
class Routing:
    """All routed paths of one (topology, routing file) pair.

    Attributes
    ----------
    src, dst
        ``(R,)`` int64 endpoints of each routed path.
    ptr, links
        CSR: links of path ``r`` are ``links[ptr[r]:ptr[r + 1]]``.
    pair_path
        ``(N * N,)`` int64, path number of pair ``src * N + dst`` or -1.
    """

    src: np.ndarray
    dst: np.ndarray
    ptr: np.ndarray
    links: np.ndarray
    pair_path: np.ndarray

    def links_of(self, r: int) -> np.ndarray:
        """Link numbers of path ``r`` in order."""
        return self.links[self.ptr[r] : self.ptr[r + 1]]

    def select(self, paths: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """CSR ``(ptr, links)`` of the paths numbered ``paths`` (in that order)."""
        lens = self.ptr[paths + 1] - self.ptr[paths]
        ptr = np.zeros(paths.shape[0] + 1, dtype=np.int64)
        np.cumsum(lens, out=ptr[1:])
        idx = np.repeat(self.ptr[paths] - ptr[:-1], lens) + np.arange(int(ptr[-1]))
        return ptr, self.links[idx]


def _csr(n: int, hop_pair: np.ndarray, hop_link: np.ndarray) -> Routing:
    """Build a :class:`Routing` from hops listed in path order per pair (any pair order)."""
    order = np.argsort(hop_pair, kind="stable")
    hp, hl = hop_pair[order], hop_link[order]
    upairs, counts = np.unique(hp, return_counts=True)
    ptr = np.zeros(upairs.shape[0] + 1, dtype=np.int64)
    np.cumsum(counts, out=ptr[1:])
    pair_path = np.full(n * n, -1, dtype=np.int64)
    pair_path[upairs] = np.arange(upairs.shape[0])
    return Routing(src=upairs // n, dst=upairs % n, ptr=ptr, links=hl, pair_path=pair_path)


def _from_port_matrix(text: str, g: GNNetGraph, name: str) -> Routing:
    n = g.n_nodes
    flat = text.replace("\n", ",").replace("\r", "").replace(" ", "")
    toks = [t for t in flat.split(",") if t]
    if len(toks) != n * n:
        raise RoutingError(
            f"{name}: port matrix has {len(toks)} entries, expected {n}x{n}={n * n} for a {n}-node topology"
        )
    try:
        R = np.array(toks, dtype=np.int64).reshape(n, n)
    except ValueError as exc:
        raise RoutingError(f"{name}: port matrix holds a non-integer entry ({exc})") from exc
    src, dst = np.nonzero(~np.eye(n, dtype=bool))
    pair = src * n + dst
    cur = src.copy()
    active = np.arange(pair.shape[0])
    hop_pair: list[np.ndarray] = []
    hop_link: list[np.ndarray] = []
    for _ in range(n):
        if active.size == 0:
            break
        c, d = cur[active], dst[active]
        port = R[c, d]
        bad = (port < 0) | (port >= g.port_next.shape[1])
        nxt = np.where(bad, -1, g.port_next[c, np.clip(port, 0, g.port_next.shape[1] - 1)])
        if (nxt < 0).any():
            k = int(np.flatnonzero(nxt < 0)[0])
            a = int(active[k])
            raise RoutingError(
                f"{name}: path {int(src[a])}->{int(dst[a])} leaves node {int(c[k])} by port {int(port[k])}, "
                f"which that node does not have in the topology"
            )
        hop_pair.append(pair[active])
        hop_link.append(g.link_of[c, nxt])
        cur[active] = nxt
        active = active[nxt != d]
    if active.size:
        a = int(active[0])
        raise RoutingError(f"{name}: path {int(src[a])}->{int(dst[a])} does not reach its destination (routing loop)")
    return _csr(n, np.concatenate(hop_pair), np.concatenate(hop_link))


def _from_path_list(text: str, g: GNNetGraph, name: str) -> Routing:
    n = g.n_nodes
    lines = [ln.strip().rstrip(";") for ln in text.splitlines()]
    lines = [ln for ln in lines if ln]
    if not lines:
        raise RoutingError(f"{name}: no paths")
    lens = np.array([ln.count(";") + 1 for ln in lines], dtype=np.int64)
    try:
        nodes = np.array(";".join(lines).split(";"), dtype=np.int64)
    except ValueError as exc:
        raise RoutingError(f"{name}: a path holds a non-integer node ({exc})") from exc
    if (lens < 2).any():
        i = int(np.flatnonzero(lens < 2)[0])
        raise RoutingError(f"{name}: line {i + 1} ({lines[i]!r}) is not a path of at least two nodes")
    if nodes.min() < 0 or nodes.max() >= n:
        raise RoutingError(f"{name}: a path names a node outside 0..{n - 1}")
    end = np.cumsum(lens)
    start = end - lens
    pair = nodes[start] * n + nodes[end - 1]
    if np.unique(pair).size != pair.size:
        u, c = np.unique(pair, return_counts=True)
        k = int(u[c > 1][0])
        raise RoutingError(f"{name}: more than one path for {k // n}->{k % n}")
    line_of = np.repeat(np.arange(len(lines)), lens)
    is_hop = np.ones(nodes.shape[0], dtype=bool)
    is_hop[end - 1] = False
    a = nodes[is_hop]
    b = nodes[np.flatnonzero(is_hop) + 1]
    link = g.link_of[a, b]
    if (link < 0).any():
        k = int(np.flatnonzero(link < 0)[0])
        raise RoutingError(
            f"{name}: line {int(line_of[is_hop][k]) + 1} uses link {int(a[k])}->{int(b[k])}, "
            f"which the topology does not have"
        )
    return _csr(n, pair[line_of[is_hop]], link)


def read_routing(text: str, g: GNNetGraph, name: str = "<routing>") -> Routing:
    """Parse a routing file (either layout, detected from its content) against ``g``."""
    head = text.lstrip()[:200]
    if ";" in head.split("\n", 1)[0]:
        return _from_path_list(text, g, name)
    if "," in head:
        return _from_port_matrix(text, g, name)
    raise RoutingError(f"{name}: neither a port matrix (comma-separated) nor a path list (';'-separated)")
