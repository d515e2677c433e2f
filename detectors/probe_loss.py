"""Probe loss accumulated across windows: a multi-scale exact Poisson scan per probe.

Silent ("grey") loss on a link moves no discard or error counter; only packets
that cross the link see it. Active probes do, but at a low rate: a 10 packet/s
probe sends 100 packets in a 10 s window, so 1 % loss shows as 0, 1 or 2 lost
packets — one window says nothing, ten windows say a lot. :class:`ProbeLossScan`
keeps, per probe, the last ``max(scales)`` windows of (lost, expected lost)
packets and tests each window the sums over the last ``s`` windows for every
scale ``s``:

``p_s = P(Poisson(λ_s) ≥ X_s)``, ``X_s`` the packets lost, ``λ_s`` the packets
expected lost under health over those windows; the probe's p-value is
``min(1, S · min_s p_s)`` (Bonferroni over the ``S`` scales), valid for any
dependence between scales. Expected loss per window is ``sent × q₀`` with
``q₀ = max(twin's expected loss ratio, the probe's own healthy loss rate,
floor)``: the healthy rate is an upper bound ``(L + 1 + 2·√(L + 1)) / (N + 1 /
floor)`` (about two standard deviations above the estimate, so that its own
sampling error does not make the tail p-values anti-conservative) over the
probe's healthy windows with exponential forgetting, so a path that always loses
a little does not alarm, and a probe never seen losing starts at ``3 · floor``.
A network-wide rule at ``alpha`` on these p-values
(:func:`twinwatch.detectors.decision.reject`) bounds the rate of windows with a
false discovery at ``alpha``.

Localisation is the caller's: the flagged probes' paths against the clean ones
(boolean tomography, :func:`twinwatch.detectors.localize.tomography_scores`).

Units: packets and loss ratios (0..1). Shapes: ``(K,)`` per probe.

Examples
--------
>>> scan = ProbeLossScan(2, scales=(1, 3, 6))
>>> sent = np.array([100.0, 100.0])
>>> for lost in ([0, 1], [0, 2], [0, 1], [0, 2]):   # probe 1 loses 1-2 % for four windows
...     p = scan.update(np.array(lost, float), sent, np.zeros(2))
>>> (p < 1e-6).tolist()                              # probe 0 fine; probe 1: 6 lost where 0.04 expected
[False, True]
>>> scan.update(np.array([0.0, 1.0]), sent, np.zeros(2)).round(3).tolist()[1] < 1e-6
True
>>> restored = ProbeLossScan.from_bytes(scan.to_bytes())
>>> bool(np.array_equal(restored.update(np.zeros(2), sent, np.zeros(2)), scan.update(np.zeros(2), sent, np.zeros(2))))
True
"""

from __future__ import annotations

import io
from collections.abc import Callable, Sequence
from typing import NamedTuple

import numpy as np
from scipy.special import betainc, gammainc, gammaln

__all__ = ["DEFAULT_FLOOR", "DEFAULT_SCALES", "ProbeLinks", "ProbeLossScan", "detectable_loss", "discovery_chance",
           "explain_away", "one_discovery_count", "per_link", "poisson_log_sf", "poisson_sf", "pooled_p_values",
           "probe_links", "rate_for_loss", "scan_log_p", "scan_p_values", "stopped_p_values"]

DEFAULT_SCALES = (1, 3, 6, 18)
"""Window counts the scan sums by default (abrupt loss to the low-rate loss of three minutes of 10 s windows)."""
DEFAULT_FLOOR = 1e-4
"""Smallest loss ratio assumed under health by default (one packet in 10,000)."""


def poisson_sf(k: np.ndarray, lam: np.ndarray) -> np.ndarray:
    """``P(Poisson(lam) >= k)`` elementwise (1.0 where ``k <= 0``); ``lam > 0``.

    >>> poisson_sf(np.array([0.0, 1.0, 3.0]), np.array([0.5, 0.5, 0.5])).round(4).tolist()
    [1.0, 0.3935, 0.0144]
    """
    k = np.asarray(k, dtype=np.float64)
    lam = np.asarray(lam, dtype=np.float64)
    with np.errstate(invalid="ignore"):
        out = gammainc(np.maximum(k, 1.0), lam)  # regularised lower incomplete gamma: P(Pois(lam) >= k)
    return np.where(k <= 0, 1.0, out)


_LOG_SF_FLOOR = 1e-300
"""Below this, :func:`poisson_log_sf` leaves ``log(poisson_sf)`` for its closed form (``gammainc`` nears underflow)."""


def poisson_log_sf(k: np.ndarray, lam: np.ndarray) -> np.ndarray:
    """``log P(Poisson(lam) >= k)`` elementwise (0.0 where ``k <= 0``); ``lam > 0``; finite where :func:`poisson_sf`
    underflows (a link that drops every packet): there ``k log lam - lam - log k! - log(1 - lam / (k + 1))``, the
    tail's first term times the geometric bound on the rest (high by at most the bound's log; ranking only).

    >>> poisson_log_sf(np.array([0.0, 3.0, 900.0]), np.array([0.5, 0.5, 0.5])).round(2).tolist()
    [0.0, -4.24, -5850.81]
    """
    k = np.asarray(k, dtype=np.float64)
    lam = np.asarray(lam, dtype=np.float64)
    p = poisson_sf(k, lam)
    with np.errstate(divide="ignore", invalid="ignore"):
        tail = k * np.log(lam) - lam - gammaln(k + 1.0) - np.log1p(-lam / (k + 1.0))
        return np.where(p >= _LOG_SF_FLOOR, np.log(np.maximum(p, _LOG_SF_FLOOR)), tail)


def _filled(expected_sums: np.ndarray) -> int:
    """How many leading rows (scales) of ``(S, K)`` sums are filled: the first with a NaN ends them."""
    return next((s for s, ce in enumerate(expected_sums) if not np.isfinite(ce).all()), len(expected_sums))


def _scan(lost_sums: np.ndarray, expected_sums: np.ndarray, n_filled: int,
          tail: Callable[[np.ndarray, np.ndarray], np.ndarray], none: float) -> np.ndarray:
    """``(K,)`` per column of the ``(S, K)`` sums, the smallest ``tail(lost, expected)`` over the first ``n_filled``
    scales (``none`` where there is none): the scan's statistic before its Bonferroni factor."""
    best = np.full(np.shape(lost_sums)[1], none)
    for x, lam in zip(lost_sums[:n_filled], expected_sums[:n_filled], strict=True):
        best = np.minimum(best, tail(x, np.maximum(lam, 1e-12)))
    return best


def scan_p_values(lost_sums: np.ndarray, expected_sums: np.ndarray, n_filled: int | None = None) -> np.ndarray:
    """``(K,)`` the multi-scale scan p-value of each column of the ``(S, K)`` sums: the smallest Poisson tail
    over the filled scales (``n_filled``, default up to the first NaN row), times the ``S`` scales, at most 1.

    >>> scan_p_values(np.array([[3.0], [np.nan]]), np.array([[0.5], [np.nan]])).round(4).tolist()   # 2 x 0.0144
    [0.0288]
    """
    lost_sums, expected_sums = np.asarray(lost_sums, np.float64), np.asarray(expected_sums, np.float64)
    n = _filled(expected_sums) if n_filled is None else n_filled
    return np.minimum(1.0, len(lost_sums) * _scan(lost_sums, expected_sums, n, poisson_sf, 1.0))


def scan_log_p(lost_sums: np.ndarray, expected_sums: np.ndarray) -> np.ndarray:
    """``(K,)`` the log of :func:`scan_p_values`, finite where that p-value underflows to 0.0: the order to rank
    total losses by (:func:`explain_away`).

    >>> lost, exp = np.array([[500.0, 900.0]]), np.array([[0.5, 0.5]])   # both p-values underflow to 0.0
    >>> lp = scan_log_p(lost, exp); bool(np.isfinite(lp).all() and lp[1] < lp[0])
    True
    """
    lost_sums, expected_sums = np.asarray(lost_sums, np.float64), np.asarray(expected_sums, np.float64)
    best = _scan(lost_sums, expected_sums, _filled(expected_sums), poisson_log_sf, 0.0)
    return np.minimum(0.0, np.log(len(lost_sums)) + best)


class ProbeLossScan:
    """Per probe, a multi-scale scan of lost probe packets against the packets expected lost.

    Parameters
    ----------
    n_probes
        Number of probes (entities).
    scales
        Window counts summed (1 window: abrupt loss; longer: the low-rate loss one window cannot show).
    floor
        Smallest loss ratio assumed under health (1e-4: one packet in 10,000).
    half_life
        Forgetting of the healthy loss rate, in windows of a probe.
    """

    def __init__(self, n_probes: int, *, scales: Sequence[int] = DEFAULT_SCALES, floor: float = DEFAULT_FLOOR,
                 half_life: float = 360.0) -> None:
        if n_probes < 0 or not scales or min(scales) < 1:
            raise ValueError(f"ProbeLossScan: need n_probes >= 0 and scales >= 1, got {n_probes}, {scales}")
        if not 0.0 < floor < 1.0 or half_life <= 0:
            raise ValueError(f"ProbeLossScan: need 0 < floor < 1 and half_life > 0, got {floor}, {half_life}")
        self.n_probes = int(n_probes)
        self.scales = tuple(sorted({int(s) for s in scales}))
        self.floor, self.half_life = float(floor), float(half_life)
        depth = self.scales[-1]
        self._lost = np.zeros((depth, self.n_probes), dtype=np.float32)
        self._exp = np.zeros((depth, self.n_probes), dtype=np.float32)
        self._sent = np.zeros((depth, self.n_probes), dtype=np.float32)
        self._healthy = np.zeros((2, self.n_probes), dtype=np.float64)  # discounted lost, sent
        self._named_until = np.zeros(self.n_probes, dtype=np.int64)  # window (of _pos) until which loss is named
        self._pos = 0

    ENTITY_SIZE = "n_probes"

    def entity_axes(self) -> dict[str, int]:
        """The per-entity arrays and their entity axis (:func:`~twinwatch.detectors.entities.carry_entities`)."""
        return {"_lost": 1, "_exp": 1, "_sent": 1, "_healthy": 1, "_named_until": 0}

    def baseline(self) -> np.ndarray:
        """``(K,)`` each probe's healthy loss rate, an upper bound: ``(L + 1 + 2·√(L + 1)) / (N + 1 / floor)``."""
        lost, sent = self._healthy
        return (lost + 1.0 + 2.0 * np.sqrt(lost + 1.0)) / (sent + 1.0 / self.floor)

    def update(self, lost: np.ndarray, sent: np.ndarray, expected_ratio: np.ndarray) -> np.ndarray:
        """Add one window and return the ``(K,)`` scan p-values (NaN: the probe reported nothing).

        ``lost``, ``sent``: packets of the window (NaN: no result); ``expected_ratio``: the twin's
        expected loss ratio of the probe's path (NaN or below the baseline: the baseline is used).
        """
        lost = np.asarray(lost, dtype=np.float64)
        sent = np.asarray(sent, dtype=np.float64)
        q_twin = np.nan_to_num(np.asarray(expected_ratio, dtype=np.float64), nan=0.0)
        for name, a in (("lost", lost), ("sent", sent), ("expected_ratio", q_twin)):
            if a.shape != (self.n_probes,):
                raise ValueError(f"ProbeLossScan.update: {name} shape {a.shape} != ({self.n_probes},)")
        seen = np.isfinite(lost) & np.isfinite(sent) & (sent > 0)
        q0 = self.expected_ratio(q_twin)
        slot = self._pos % self._lost.shape[0]
        self._lost[slot] = np.where(seen, lost, 0.0)
        self._exp[slot] = np.where(seen, sent * q0, 0.0)
        self._sent[slot] = np.where(seen, sent, 0.0)
        self._pos += 1
        return np.where(seen, scan_p_values(*self.window_sums()), np.nan)

    def window_sums(self) -> tuple[np.ndarray, np.ndarray]:
        """``(S, K)`` each probe's lost and expected-lost packets over its last ``s`` windows, per scale ``s``
        (rows of scales longer than the windows seen so far: NaN)."""
        unfilled = (np.array(self.scales) > self._pos)[:, None]
        return (np.where(unfilled, np.nan, self._scale_sums(self._lost)),
                np.where(unfilled, np.nan, self._scale_sums(self._exp)))

    def sent_sums(self) -> np.ndarray:
        """``(S, K)`` each probe's sent packets over its last ``s`` windows, per scale ``s`` (the rows of
        :meth:`window_sums`; the last row is the whole ring)."""
        return self._scale_sums(self._sent)

    def _scale_sums(self, ring: np.ndarray) -> np.ndarray:
        """``(S, K)`` the ``(depth, K)`` ring summed over its newest ``s`` windows, per scale ``s``."""
        depth = ring.shape[0]
        order = (((self._pos - 1) % depth) - np.arange(depth)) % depth  # newest first
        return np.cumsum(ring[order].astype(np.float64), axis=0)[np.array(self.scales) - 1]

    def spend(self, probes: np.ndarray) -> None:
        """Forget the sums of ``probes`` (``(K,)`` bool) and their names: the loss an alert that has just resolved
        reported is accounted for, and a new fault of theirs must show in new windows (:func:`stopped_p_values`).

        >>> scan = ProbeLossScan(2, scales=(1, 3))
        >>> _ = scan.update(np.array([5.0, 5.0]), np.full(2, 100.0), np.zeros(2))
        >>> scan.spend(np.array([True, False]))
        >>> scan.window_sums()[0][0].tolist()
        [0.0, 5.0]
        """
        probes = np.asarray(probes, dtype=bool)
        for ring in (self._lost, self._exp, self._sent):
            ring[:, probes] = 0.0
        self._named_until[probes] = 0

    def holds_loss(self) -> np.ndarray:
        """``(K,)`` bool: the probes with a lost packet in their sums (over the deepest scale)."""
        return (self._lost > 0).any(axis=0)

    def expected_ratio(self, expected_ratio: np.ndarray) -> np.ndarray:
        """``(K,)`` the loss ratio :meth:`update` expects of each probe: ``max(twin's, healthy baseline, floor)``."""
        q_twin = np.nan_to_num(np.asarray(expected_ratio, dtype=np.float64), nan=0.0)
        return np.maximum(np.maximum(q_twin, self.baseline()), self.floor)

    def name(self, probes: np.ndarray) -> None:
        """Mark the loss of ``probes`` (``(K,)`` bool) as named by an alert: :meth:`named` holds it for the next
        ``max(scales)`` windows, the depth of the sums that still carry it."""
        self._named_until[np.asarray(probes, dtype=bool)] = self._pos + self.scales[-1]

    def named(self) -> np.ndarray:
        """``(K,)`` bool: the probes whose loss an alert named within the sums' depth (:meth:`name`).

        >>> scan = ProbeLossScan(2, scales=(1, 3))
        >>> scan.name(np.array([True, False]))
        >>> scan.named().tolist()
        [True, False]
        >>> for _ in range(3):
        ...     _ = scan.update(np.zeros(2), np.full(2, 100.0), np.zeros(2))
        >>> scan.named().tolist()                  # three windows on: out of the sums
        [False, False]
        """
        return self._named_until > self._pos

    def learn(self, lost: np.ndarray, sent: np.ndarray, healthy: np.ndarray) -> None:
        """Fold the window's packets of the ``healthy`` probes into their loss baseline (with forgetting)."""
        lost = np.asarray(lost, dtype=np.float64)
        sent = np.asarray(sent, dtype=np.float64)
        ok = np.asarray(healthy, dtype=bool) & np.isfinite(lost) & np.isfinite(sent) & (sent > 0)
        decay = 0.5 ** (1.0 / self.half_life)
        self._healthy[:, ok] *= decay
        self._healthy[0, ok] += lost[ok]
        self._healthy[1, ok] += sent[ok]

    def to_bytes(self) -> bytes:
        """Lossless snapshot (npz, no pickle)."""
        buf = io.BytesIO()
        np.savez(buf, lost=self._lost, exp=self._exp, sent=self._sent, healthy=self._healthy,
                 named_until=self._named_until,
                 params=np.array([self.floor, self.half_life, float(self._pos)]),
                 scales=np.array(self.scales, dtype=np.int64))
        return buf.getvalue()

    @classmethod
    def from_bytes(cls, data: bytes) -> ProbeLossScan:
        """Restore a :meth:`to_bytes` snapshot."""
        with np.load(io.BytesIO(data), allow_pickle=False) as z:
            floor, half_life, pos = z["params"].tolist()
            obj = cls(int(z["lost"].shape[1]), scales=z["scales"].tolist(), floor=floor, half_life=half_life)
            obj._lost, obj._exp, obj._healthy = z["lost"].copy(), z["exp"].copy(), z["healthy"].copy()
            obj._pos = int(pos)
            if "named_until" in z.files:  # (snapshots written before session 39 have none: nothing named)
                obj._named_until = z["named_until"].copy()
            if "sent" in z.files:  # (before session 40 none: no loss reads as stopped until the ring refills)
                obj._sent = z["sent"].copy()
        return obj


class ProbeLinks(NamedTuple):
    """Which reporting probes cross which link this window (:func:`probe_links`)."""

    hop_link: np.ndarray
    """``(H,)`` int: the link of each (link, probe) crossing."""
    hop_probe: np.ndarray
    """``(H,)`` int: the probe of each crossing."""
    probes: np.ndarray
    """``(E,)`` int: how many reporting probes cross each link."""
    tested: np.ndarray
    """``(E,)`` bool: the link is the first of the links crossed by exactly its set of two or more probes (a link
    crossed by one probe is that probe's own test; links crossed by the same set pool the same packets)."""
    same_set: np.ndarray
    """``(E,)`` int: the first link crossed by the same set of probes (itself when none before it)."""


def probe_links(hop_link: np.ndarray, hop_probe: np.ndarray, seen: np.ndarray, n_links: int) -> ProbeLinks:
    """The crossings of links by the probes that reported this window (``seen``, ``(K,)`` bool).

    ``hop_link``, ``hop_probe``: ``(H,)`` the link and the probe (−1: a path no probe takes) of each hop of the
    window's routed paths.

    >>> # probes 0 and 1 both cross link 1; probe 0 also link 0, probe 1 also link 2; link 3 crossed by neither
    >>> pl = probe_links(np.array([0, 1, 1, 2, 3]), np.array([0, 0, 1, 1, -1]), np.array([True, True]), 4)
    >>> pl.probes.tolist(), pl.tested.tolist()
    ([1, 2, 1, 0], [False, True, False, False])
    """
    hop_link = np.asarray(hop_link, dtype=np.int64)
    hop_probe = np.asarray(hop_probe, dtype=np.int64)
    seen = np.asarray(seen, dtype=bool)
    use = hop_probe >= 0
    use[use] = seen[hop_probe[use]]
    links, probes = hop_link[use], hop_probe[use]
    count = np.bincount(links, minlength=n_links)
    # a link's set of probes, by two sums of fixed pseudo-random weights per probe (equal sets, equal sums)
    w = np.random.default_rng(0x5EED).random((2, seen.size))
    sig = np.stack([np.bincount(links, weights=w[0, probes], minlength=n_links),
                    np.bincount(links, weights=w[1, probes], minlength=n_links), count.astype(np.float64)], axis=1)
    _, first, inverse = np.unique(np.round(sig, 9), axis=0, return_index=True, return_inverse=True)
    same = first[inverse.ravel()]
    return ProbeLinks(links, probes, count, (count >= 2) & (same == np.arange(n_links)), same)


def per_link(rows: np.ndarray, pl: ProbeLinks, keep: np.ndarray | None = None) -> np.ndarray:
    """``(S, E)``: ``rows``, ``(S, K)`` quantities per probe (lost, sent packets ...), summed over the probes crossing
    each link (``keep``: ``(H,)`` bool, the crossings counted; default all).

    >>> pl = probe_links(np.array([0, 1, 1, 2]), np.array([0, 0, 1, 1]), np.array([True, True]), 3)
    >>> per_link(np.array([[2.0, 3.0]]), pl).tolist()
    [[2.0, 5.0, 3.0]]
    >>> per_link(np.array([[2.0, 3.0]]), probe_links(np.array([0]), np.array([0]), np.array([False, False]), 3)).dtype
    dtype('float64')
    """
    links, probes = (pl.hop_link, pl.hop_probe) if keep is None else (pl.hop_link[keep], pl.hop_probe[keep])
    n_links = pl.probes.size
    return np.stack([np.bincount(links, weights=r[probes], minlength=n_links)  # int64 when no probe reported:
                     for r in np.asarray(rows, dtype=np.float64)]).astype(np.float64, copy=False)  # cast back


def pooled_p_values(lost_sums: np.ndarray, expected_sums: np.ndarray, pl: ProbeLinks,
                    exclude: np.ndarray | None = None) -> np.ndarray:
    """``(E,)`` the multi-scale scan p-value of each link over the probes crossing it, pooled.

    ``lost_sums``, ``expected_sums``: ``(S, K)`` per scale, each probe's lost and expected-lost packets over its
    last windows (:meth:`ProbeLossScan.window_sums`; NaN rows: scales not filled yet); ``exclude``: ``(K,)`` bool,
    probes left out of every pool (NaN where no probe is left). Silent loss on a link crossed by ``n`` probes
    shows in ``n`` times the packets of one probe.

    >>> pl = probe_links(np.array([0, 1, 1, 2]), np.array([0, 0, 1, 1]), np.array([True, True]), 3)
    >>> lost, exp = np.array([[2.0, 2.0]]), np.array([[0.02, 0.02]])   # one scale: 2 lost of 0.02 expected each
    >>> (pooled_p_values(lost, exp, pl) < 1e-5).tolist()               # link 1 pools 4 lost of 0.04
    [False, True, False]
    >>> np.isnan(pooled_p_values(lost, exp, pl, exclude=np.array([True, True]))).tolist()
    [True, True, True]
    """
    n_links = pl.probes.size
    keep = None if exclude is None else ~np.asarray(exclude, bool)[pl.hop_probe]
    p = scan_p_values(per_link(lost_sums, pl, keep), per_link(expected_sums, pl, keep), _filled(expected_sums))
    links = pl.hop_link if keep is None else pl.hop_link[keep]
    return np.where(np.bincount(links, minlength=n_links) > 0, p, np.nan)


def stopped_p_values(lost_sums: np.ndarray, sent_sums: np.ndarray, pl: ProbeLinks | None = None) -> np.ndarray:
    """``(K,)`` per probe, or ``(E,)`` per link over the probes crossing it pooled (``pl``): the p-value that the
    loss in the sums has stopped.

    ``lost_sums``, ``sent_sums``: ``(S, K)`` per scale, each probe's lost and sent packets over its last windows
    (:meth:`ProbeLossScan.window_sums`, :meth:`ProbeLossScan.sent_sums`); the last row covers the whole ring. For
    each shorter scale ``s``, given the ring's ``L`` lost packets, the last ``s`` windows' count is
    ``Binomial(L, n_s / N)`` (``n_s`` of the ring's ``N`` packets sent in them) while the loss goes on at one
    rate; few lost in them (lower tail) says it stopped. The smallest over the scales times their number
    (Bonferroni); 1.0 where nothing was lost or sent. A fault that began inside the ring counts its healthy
    windows before it at the fault's rate: conservative.

    >>> lost = np.array([[0.0, 2.0], [0.0, 6.0], [30.0, 18.0]])  # scales 1, 3, 18: probe 0 lost 30, none lately
    >>> sent = np.array([[100.0, 100.0], [300.0, 300.0], [1800.0, 1800.0]])
    >>> (stopped_p_values(lost, sent) < 0.01).tolist()
    [True, False]
    """
    lost_sums = np.asarray(lost_sums, dtype=np.float64)
    sent_sums = np.asarray(sent_sums, dtype=np.float64)
    if pl is not None:
        lost_sums, sent_sums = per_link(lost_sums, pl), per_link(sent_sums, pl)
    total, n_total = lost_sums[-1], sent_sums[-1]
    best = np.ones(total.shape)
    for x, n in zip(lost_sums[:-1], sent_sums[:-1], strict=True):
        share = np.divide(n, n_total, out=np.ones_like(n), where=n_total > 0)
        test = (total > x) & (share < 1.0)
        with np.errstate(invalid="ignore", divide="ignore"):
            p = betainc(np.where(test, total - x, 1.0), x + 1.0, np.where(test, 1.0 - share, 0.5))
        best = np.minimum(best, np.where(test, p, 1.0))
    return np.minimum(1.0, max(len(lost_sums) - 1, 1) * best)


def explain_away(p_link: np.ndarray, flagged: np.ndarray, lost_sums: np.ndarray, expected_sums: np.ndarray,
                 pl: ProbeLinks, cutoff: float, *, alerting: np.ndarray | None = None,
                 explained: np.ndarray | None = None, p_probe: np.ndarray | None = None,
                 probes_flagged: np.ndarray | None = None) -> np.ndarray:
    """``(E,)`` bool: the flagged links that loss elsewhere does not explain.

    ``p_link`` (``(E,)``) and ``p_probe`` (``(K,)``) only order the candidates: p-values, or their logs
    (:func:`scan_log_p`), which keep apart the links of a total loss whose p-values underflow to 0.0 alike.

    1. flagged links already ``alerting`` explain first (by p-value), so an open alert stays on its link;
    2. the ``explained`` probes (``(K,)``: loss a link alert named recently) then count as explained;
    3. the other flagged links and ``probes_flagged`` by p-value: a link is kept when its pool without the
       probes explained before it still has ``p <= cutoff``;
    4. an alerting link kept in 1 whose pool, without the probes of the links kept after it, no longer has
       ``p <= cutoff`` hands over to them (a wrong first guess of two overlapping links does not hold).
    """
    n_links, n_probes = p_link.size, lost_sums.shape[1]
    first = np.zeros(n_links, bool) if alerting is None else np.asarray(alerting, bool)
    fl = np.asarray(flagged, bool)

    def probes_of(i: int) -> np.ndarray:
        mine = np.zeros(n_probes, dtype=bool)
        mine[pl.hop_probe[pl.hop_link == i]] = True
        return mine

    n_scales = len(lost_sums)
    filled = _filled(expected_sums)

    def residual_ok(i: int, covered: np.ndarray) -> bool:
        """Link ``i``'s pool without the ``covered`` probes still has ``p <= cutoff`` (:func:`pooled_p_values`
        for one link: the same sums in the same order)."""
        mine = pl.hop_probe[pl.hop_link == i]
        rest = mine[~covered[mine]]
        if rest.size == 0:
            return False
        if not covered.any():
            return True
        if filled == 0:
            return cutoff >= 1.0  # no scale filled: p = 1
        one_bin = np.zeros(rest.size, dtype=np.int64)
        x = np.array([np.bincount(one_bin, weights=lost_sums[s, rest])[0] for s in range(filled)])
        lam = np.array([np.bincount(one_bin, weights=expected_sums[s, rest])[0] for s in range(filled)])
        return bool(min(1.0, n_scales * float(poisson_sf(x, np.maximum(lam, 1e-12)).min())) <= cutoff)

    keep = np.zeros(n_links, dtype=bool)
    covered = np.zeros(n_probes, dtype=bool)
    incumbents = [i for _, i in sorted((float(p_link[i]), i) for i in np.flatnonzero(fl & first).tolist())]
    for i in incumbents:
        if residual_ok(i, covered):
            keep[i] = True
            covered |= probes_of(i)
    if explained is not None:
        covered |= np.asarray(explained, bool)
    cands = [(float(p_link[i]), 0, i) for i in np.flatnonzero(fl & ~first).tolist()]
    if probes_flagged is not None and p_probe is not None:
        cands += [(float(p_probe[j]), 1, j) for j in np.flatnonzero(probes_flagged).tolist()]
    for _, is_probe, i in sorted(cands):
        if is_probe:
            covered[i] = True
        elif residual_ok(i, covered):
            keep[i] = True
            covered |= probes_of(i)
    challengers = keep & ~first
    if challengers.any():
        theirs = np.zeros(n_probes, dtype=bool)
        for j in np.flatnonzero(challengers).tolist():
            theirs |= probes_of(j)
        for i in incumbents:
            if keep[i] and not residual_ok(i, theirs):
                keep[i] = False
    return keep


def one_discovery_count(n_sent: float, n_probes: int, alpha: float, *, floor: float = DEFAULT_FLOOR,
                        n_scales: int = len(DEFAULT_SCALES)) -> float:
    """Fewest packets lost of ``n_sent`` whose scan p-value, ``n_scales · P(Poisson(n_sent · floor) ≥ k)``, reaches
    ``alpha / n_probes`` (one discovery among the probes); inf when no count up to ``n_sent`` does.

    >>> one_discovery_count(300, 176, 0.01)    # 3 windows of 100 packets, 176 probes
    3.0
    """
    k = np.arange(1.0, n_sent + 1.0)
    ok = np.flatnonzero(n_scales * poisson_sf(k, np.full_like(k, n_sent * floor)) <= alpha / n_probes)
    return float(k[ok[0]]) if ok.size else float("inf")


def discovery_chance(n_sent: float, need: float, loss_ratio: float) -> float:
    """Probability that a silent loss of ``loss_ratio`` drops at least ``need`` of ``n_sent`` packets:
    ``P(Binomial(n_sent, loss_ratio) >= need)``, the regularised incomplete beta; 0 where ``need`` is inf.

    >>> round(discovery_chance(300, 3, 0.0176), 2)    # detectable_loss(100, 3, 176, 0.01): found in 90 %
    0.9
    """
    if not np.isfinite(need):
        return 0.0
    return float(betainc(need, n_sent - need + 1.0, loss_ratio))


def detectable_loss(sent_per_window: float, windows: int, n_probes: int, alpha: float, *, power: float = 0.9,
                    floor: float = DEFAULT_FLOOR, n_scales: int = len(DEFAULT_SCALES)) -> float:
    """The smallest silent loss ratio on a probe's path that :class:`ProbeLossScan` finds within ``windows``
    windows in a fraction ``power`` of cases, at a network-wide level ``alpha`` over ``n_probes`` probes.

    The scan's steady state: a probe with a long clean history expects ``floor`` of its packets lost, its
    p-value over ``windows`` windows is ``n_scales · P(Poisson(λ₀) ≥ X)`` with ``λ₀ = windows · sent · floor``,
    and one discovery among ``n_probes`` needs it at ``alpha / n_probes`` or below (Bonferroni, the strictest
    case of the rule). So ``X`` must reach the smallest ``k*`` that does, and the answer is the loss ratio ``q``
    at which ``P(Binomial(windows · sent, q) ≥ k*) = power``. Conservative for a link that several probes
    cross (Benjamini–Hochberg asks less of each when several reject together); optimistic for a probe with
    little clean history, which expects more loss. NaN when no loss can reach the level (too few packets).

    >>> round(detectable_loss(100, 3, 176, 0.01), 4)     # 10 probe packets/s, 10 s windows, 176 probes
    0.0176
    >>> detectable_loss(100, 18, 176, 0.01) < detectable_loss(100, 3, 176, 0.01) < detectable_loss(100, 1, 176, 0.01)
    True
    """
    if sent_per_window <= 0 or windows < 1 or n_probes < 1 or not 0 < alpha < 1 or not 0 < power < 1:
        raise ValueError("detectable_loss: need sent_per_window > 0, windows >= 1, n_probes >= 1, "
                         f"0 < alpha, power < 1; got {sent_per_window}, {windows}, {n_probes}, {alpha}, {power}")
    n = float(np.floor(windows * sent_per_window))
    need = one_discovery_count(n, n_probes, alpha, floor=floor, n_scales=n_scales)
    if not np.isfinite(need):
        return float("nan")
    lo, hi = 0.0, 1.0
    for _ in range(60):
        mid = 0.5 * (lo + hi)
        lo, hi = (lo, mid) if discovery_chance(n, need, mid) >= power else (mid, hi)
    return hi


def rate_for_loss(loss_ratio: float, windows: int, n_probes: int, alpha: float, *, window_s: float,
                  power: float = 0.9, max_pps: int = 100_000) -> int | None:
    """The fewest whole packets per second at which :func:`detectable_loss` is at most ``loss_ratio`` within
    ``windows`` windows of ``window_s`` seconds (the probe rate a planner gives new probes); None when even
    ``max_pps`` does not reach it.

    >>> rate_for_loss(0.01, 3, 176, 0.01, window_s=10.0)   # 1 % within 30 s over 176 probes
    23
    >>> detectable_loss(23 * 10.0, 3, 176, 0.01) <= 0.01 < detectable_loss(22 * 10.0, 3, 176, 0.01)
    True
    """
    if not 0 < loss_ratio < 1 or window_s <= 0 or max_pps < 1:
        raise ValueError(f"rate_for_loss: need 0 < loss_ratio < 1, window_s > 0, max_pps >= 1; got {loss_ratio}, "
                         f"{window_s}, {max_pps}")

    def ok(pps: int) -> bool:
        q = detectable_loss(pps * window_s, windows, n_probes, alpha, power=power)
        return bool(q <= loss_ratio)  # NaN (too few packets to reach alpha) is not ok

    if not ok(max_pps):
        return None
    lo, hi = 0, max_pps  # ok(hi); the answer is in (lo, hi]
    while hi - lo > 1:
        mid = (lo + hi) // 2
        lo, hi = (lo, mid) if ok(mid) else (mid, hi)
    while hi > 1 and ok(hi - 1):  # the reach is not strictly monotone in the rate (k* steps): take the fewest
        hi -= 1
    return hi
