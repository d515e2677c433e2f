"""Tests of the window's traffic itself: surges towards one destination, traffic the flow records miss.

The twin predicts KPIs *from* the window's traffic matrix, so an anomaly in the
traffic itself leaves no residual against the twin once the matrix has absorbed
it: a surge measured by the counters is in the counter-fitted matrix, and the twin
then predicts the higher utilisation correctly. These tests look at the matrix
instead, per node, against each node's own recent history:

* **destination ingress** (:func:`destination_bps`): the traffic towards each node
  (column sums of the matrix, bit/s). A flash crowd or DDoS multiplies it within a
  window or two; the diurnal cycle moves it by a few per cent per ten minutes.
  Scored as ``log`` of the rate, normalised by the node's own recent healthy windows
  (:class:`~twinwatch.detectors.conformal.ConformalCalibrator` tracks the location
  and scale), upper side; p-values beyond the pool's tail from a fitted exponential
  tail (:data:`NODE_TAIL_FIT`), as the network-wide level falls with the node count.
* **flows against counters** (:func:`origin_bps` with :class:`CounterReference`):
  on a window whose matrix rows come from flow records (:attr:`Source.FLOWS`), the
  traffic a router originates according to its own flow export, against the same
  row estimated from the link counters on the recent windows without flows
  (tomogravity with the flows as prior). A router that stops exporting part or all
  of its traffic (an exporter misconfigured, a sampling change, a line card's
  export lost) keeps forwarding it: its counters still count it, its flow row
  falls. Scored as ``log(flows / counters reference)``, lower side; its pool fills
  slowly (one score per router and export), so its p-values beyond the pool's tail
  come from a fitted exponential tail (:data:`NODE_TAIL_FIT`).

Both raise ``traffic_anomaly`` alerts (informational: the traffic is unusual or
unmeasured; never a network fault), with the node's links as suspects.

Units: bit/s; shapes ``N`` nodes, ``E`` links, ``C`` ToS classes.

Examples
--------
>>> from twinwatch.twin.traffic_matrix import Source, TrafficMatrix

if TYPE_CHECKING:
    from twinwatch.twin.scenario import Scenario
>>> tm = np.zeros((3, 3, 3)); tm[0, 0, 2] = 5e6; tm[2, 1, 2] = 1e6   # (class, src, dst) bit/s
>>> m = TrafficMatrix.build(tm, start=0.0, end=10.0, source=Source.FLOWS)
>>> destination_bps(m).tolist(), origin_bps(m).tolist()
([0.0, 0.0, 6000000.0], [5000000.0, 1000000.0, 0.0])
>>> flow_rows(m).tolist()
[True, True, True]
>>> ref = CounterReference(3, depth=4)
>>> for x in (4e6, 5e6, 6e6):
...     ref.update(np.array([x, 1e6, np.nan]))   # node 2: no counter estimate
>>> ref.reference().tolist()          # median of the counter windows held, per node
[5000000.0, 1000000.0, nan]
"""

from __future__ import annotations

import io
from typing import TYPE_CHECKING

import numpy as np
from scipy import stats

from twinwatch.twin.traffic_matrix import Source, TrafficMatrix

if TYPE_CHECKING:
    from twinwatch.twin.scenario import Scenario

__all__ = ["NODE_POOL_PRIOR", "NODE_PRIOR_COUNT", "NODE_TAIL_FIT", "CounterReference",
           "RoutedReference", "destination_bps", "flow_rows",
           "load_upper_scenario", "origin_bps", "ranked_links", "rerouted", "routed_load_sd_bps"]

NODE_POOL_PRIOR = stats.t.ppf((np.arange(4096) + 0.5) / 4096, df=3) / np.sqrt(3.0)
"""Reference normalised scores seeding the pools of per-node tests: a unit-variance Student-t with 3 degrees
of freedom (heavier tails than the scores measured on development runs, hence conservative)."""

NODE_PRIOR_COUNT = 4096.0
"""Weight of :data:`NODE_POOL_PRIOR` in a pool, in scores (it fades with the pool's forgetting as real scores
accumulate, ``ConformalCalibrator.pool_size``)."""

NODE_TAIL_FIT = 64.0
"""Pooled scores past the threshold of the fitted exponential tail of the flows-against-counters pool
(:class:`~twinwatch.detectors.conformal.ConformalCalibrator` ``tail_fit``). That pool gains one score per node and
flow export (60 s is common); its empirical p-values cannot go below ``1/(N+1)`` nor, while the
:data:`NODE_PRIOR_COUNT` heavy-tailed prior scores weigh in ``N``, below the prior's tail: on development runs
(54 routers, ``α = 0.01``, first network-wide level 1.9e-4) a router whose flow records fell 5.7σ below its
counters got p ≈ 1e-3 throughout a 4.2-h run. The fitted tail follows the real scores' tail as it fills.
The destination-ingress pool uses it too (session 30): one score per node a window, on a 74-router network a 4×
surge towards a node scored 11–15σ yet got p ≈ 1e-4, above that network's level, where the tail gave ≈ 1e-5. And
the routed-load pool (session 31, with the surge hold of :class:`~twinwatch.detectors.twin_detector.TwinDetector`):
metric changes at −8σ to −27σ got p 1.5e-5 to 5e-4 off its empirical tail."""


def destination_bps(traffic: TrafficMatrix) -> np.ndarray:
    """``(N,)`` traffic towards each node (sum over classes and sources), bit/s."""
    return np.asarray(traffic.total_bps().sum(axis=0), dtype=np.float64)


def origin_bps(traffic: TrafficMatrix) -> np.ndarray:
    """``(N,)`` traffic originated at each node (sum over classes and destinations), bit/s."""
    return np.asarray(traffic.total_bps().sum(axis=1), dtype=np.float64)


def flow_rows(traffic: TrafficMatrix) -> np.ndarray:
    """``(N,)`` bool: the node's row of the matrix was measured from its flow records (:attr:`Source.FLOWS`)."""
    src = np.asarray(traffic.source)
    return np.asarray((src == int(Source.FLOWS)).any(axis=(0, 2)), dtype=bool)


def routed_load_sd_bps(scenario: Scenario, flow_std_bps: np.ndarray) -> np.ndarray:
    """``(E,)`` standard error of each link's routed load (bit/s): the flows' own errors (e.g. the sampling error of
    flow records, :attr:`~twinwatch.twin.snapshot.WindowSnapshot.flow_std_bps`, ``(F,)``) summed in quadrature over
    the flows the scenario routes on the link (errors of different flows independent).

    A ``flow_std_bps`` of another length than the scenario's flows gives NaN (no floor).

    >>> from twinwatch.twin.scenario import Flow, Scenario
    >>> sc = Scenario.build(3, [(0, 1, 1e7), (1, 2, 1e7), (2, 0, 1e7)], {(0, 1): [0, 1], (0, 2): [0, 1, 2]},
    ...                     [Flow(0, 1, 1e6, 8000.0), Flow(0, 2, 1e6, 8000.0)])
    >>> routed_load_sd_bps(sc, np.array([3e5, 4e5])).tolist()   # link 0->1 carries both flows: √(3² + 4²)
    [500000.0, 400000.0, 0.0]
    """
    sd = np.asarray(flow_std_bps, dtype=np.float64)
    fp = np.asarray(scenario.flow_path)
    if sd.shape != fp.shape:
        return np.full(int(scenario.n_links), np.nan)
    with np.errstate(over="ignore"):  # an absurd error gives an infinite one: no floor finer than it
        path_var = np.bincount(fp, weights=np.square(np.nan_to_num(sd, nan=0.0)), minlength=int(scenario.n_paths))
    return np.sqrt(scenario.link_load_bps(path_var))


def load_upper_scenario(scenario: Scenario, flow_std_bps: np.ndarray) -> Scenario | None:
    """The scenario at the upper estimate of its traffic: each link's routed load about one standard error higher.

    The twin's prediction on it, beside its prediction on ``scenario``, is the range of the expectation under
    the window's traffic-matrix uncertainty (``upper`` of
    :meth:`~twinwatch.detectors.twin_detector.TwinDetector.detect`).
    Raising every flow by its own standard error ``s_f`` would add ``Σ s_f`` to a link, the bound of fully
    correlated errors, far above the ``σ_L = √(Σ s_f²)`` of independent ones (:func:`routed_load_sd_bps`) on a
    link of many flows. Each flow ``f`` is raised by ``s_f² / max σ_L`` over the links ``L`` of its path instead:
    every link's load rises by at most its own ``σ_L``, and by exactly ``σ_L`` on a link that is the most
    uncertain of each of its flows' paths (the busy core links that set a path's queueing). Packet sizes are kept
    (packet rates scale with the bit rates); flows of rate 0 stay at 0.

    Returns ``None`` when no flow has an error (a matrix fitted to the counters: ``flow_std_bps`` of 0, or of
    another length than the flows), so the caller skips the second inference.

    >>> from twinwatch.twin.scenario import Flow, Scenario
    >>> sc = Scenario.build(3, [(0, 1, 1e7), (1, 2, 1e7), (2, 0, 1e7)], {(0, 1): [0, 1], (0, 2): [0, 1, 2]},
    ...                     [Flow(0, 1, 1e6, 8000.0), Flow(0, 2, 1e6, 8000.0)])
    >>> up = load_upper_scenario(sc, np.array([3e5, 4e5]))
    >>> (up.link_load_bps() - sc.link_load_bps()).round().tolist()   # +σ on 0->1 (5e5), 3.2e5 of 4e5 on 1->2
    [500000.0, 320000.0, 0.0]
    >>> load_upper_scenario(sc, np.zeros(2)) is None
    True
    """
    import dataclasses

    sd = np.asarray(flow_std_bps, dtype=np.float64)
    sd = np.where(np.isfinite(sd) & (sd > 0), sd, 0.0)  # an unknown or absurd error raises nothing
    fp = np.asarray(scenario.flow_path)
    if sd.shape != fp.shape or not (sd > 0).any():
        return None
    sigma = routed_load_sd_bps(scenario, sd)
    widest = np.zeros(scenario.n_paths)
    np.maximum.at(widest, scenario.hop_path, sigma[scenario.path_links])
    w = widest[fp]
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        rate = np.asarray(scenario.flow_rate_bps, dtype=np.float64)
        rise = np.where((w > 0) & (rate > 0), np.square(sd) / w, 0.0)  # a flow of no rate has no packet size
        up = np.where(np.isfinite(rate + rise), rate + rise, rate)
        pkt = np.where(rate > 0, scenario.flow_pkt_rate * (up / rate), scenario.flow_pkt_rate)
    return dataclasses.replace(scenario, flow_rate_bps=up, flow_pkt_rate=pkt)


def rerouted(carried_bps: np.ndarray, routed_bps: np.ndarray, tested: np.ndarray, *, share: float = 0.5) -> bool:
    """Whether the traffic the links lost against the routed loads reappears on other links (a reroute).

    A routing change the model does not know moves traffic: what some links carry below the flows routed
    there, others carry above (more where the new paths are longer). Traffic that *fell* since the flow
    records were taken (a surge that ended between the export and this window) is lost on every link and
    found on none. True when the surplus ``Σ max(carried − routed, 0)`` is at least ``share`` of the
    deficit ``Σ max(routed − carried, 0)`` over the ``tested`` links (True when nothing is lost).

    Shapes: ``(E,)`` bit/s and bool.

    >>> routed = np.array([1e9, 1e9, 0.0])
    >>> rerouted(np.array([0.0, 1e9, 1e9]), routed, np.ones(3, bool))      # link 0's traffic now on link 2
    True
    >>> rerouted(np.array([0.2e9, 0.9e9, 0.0]), routed, np.ones(3, bool))  # traffic gone, nowhere else
    False
    """
    t = np.asarray(tested, dtype=bool)
    gap = np.asarray(carried_bps, dtype=np.float64)[t] - np.asarray(routed_bps, dtype=np.float64)[t]
    gap = gap[np.isfinite(gap)]
    deficit = float(np.maximum(-gap, 0.0).sum())
    return deficit <= 0.0 or float(np.maximum(gap, 0.0).sum()) >= share * deficit


def ranked_links(link_node: np.ndarray, node: int, weight: np.ndarray, link_ids: list[str],
                 n: int = 3) -> list[dict[str, object]]:
    """The ``n`` links whose ``link_node`` (e.g. ``link_dst``) is ``node``, heaviest ``weight`` first.

    ``weight`` is ``(E,)`` (e.g. observed bit/s; NaN counts as 0); scores are normalised to the largest.
    """
    idx = np.flatnonzero(np.asarray(link_node) == node)
    if idx.size == 0:
        return []
    w = np.nan_to_num(np.asarray(weight, dtype=np.float64)[idx], nan=0.0)
    order = idx[np.argsort(-w, kind="stable")][:n]
    top = float(max(np.nan_to_num(weight[order[0]], nan=0.0), 0.0)) or 1.0
    return [{"link": link_ids[int(i)], "score": round(max(float(np.nan_to_num(weight[i], nan=0.0)), 0.0) / top, 4)}
            for i in order]


class CounterReference:
    """Per node, the median of its last ``depth`` counter-estimated values (a robust reference).

    A median of a few windows ignores one window spoiled by a counter reset or a late sample;
    ``depth`` windows of 10 s follow the diurnal cycle closely. State: ``depth`` float32 per node.
    """

    def __init__(self, n_entities: int, *, depth: int = 6) -> None:
        if depth < 1:
            raise ValueError(f"CounterReference: depth must be >= 1, got {depth}")
        self.n_entities, self.depth = int(n_entities), int(depth)
        self._ring = np.full((self.depth, self.n_entities), np.nan, dtype=np.float32)
        self._pos = 0

    ENTITY_SIZE = "n_entities"

    def entity_axes(self) -> dict[str, int]:
        """The per-entity arrays and their entity axis (:func:`~twinwatch.detectors.entities.carry_entities`)."""
        return {"_ring": 1}

    def update(self, values: np.ndarray, mask: np.ndarray | None = None) -> None:
        """Add one window's ``(n,)`` values (NaN, or ``mask`` False: this node keeps its older values)."""
        v = np.asarray(values, dtype=np.float64)
        if v.shape != (self.n_entities,):
            raise ValueError(f"CounterReference.update: values shape {v.shape} != ({self.n_entities},)")
        keep = np.isfinite(v) if mask is None else np.isfinite(v) & np.asarray(mask, dtype=bool)
        row = self._ring[self._pos % self.depth]
        # a node without a value this window keeps the slot's older value: shift nothing, overwrite where known
        row[keep] = v[keep]
        self._pos += 1

    def reference(self) -> np.ndarray:
        """``(n,)`` median of the values held (NaN where none)."""
        if not np.isfinite(self._ring).any():
            return np.full(self.n_entities, np.nan)
        with np.errstate(all="ignore"):
            import warnings

            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)
                return np.asarray(np.nanmedian(self._ring.astype(np.float64), axis=0), dtype=np.float64)

    def to_bytes(self) -> bytes:
        """Lossless snapshot (npz, no pickle)."""
        buf = io.BytesIO()
        np.savez(buf, ring=self._ring, pos=np.array([self._pos], dtype=np.int64))
        return buf.getvalue()

    @classmethod
    def from_bytes(cls, data: bytes) -> CounterReference:
        """Restore a :meth:`to_bytes` snapshot."""
        with np.load(io.BytesIO(data), allow_pickle=False) as z:
            ring = z["ring"]
            obj = cls(int(ring.shape[1]), depth=int(ring.shape[0]))
            obj._ring = ring.copy()
            obj._pos = int(z["pos"][0])
        return obj


class RoutedReference:
    """Per link, what the last flow-measured window's traffic, routed on the model, puts there (bit/s).

    Flow records arrive once per export interval (60 s is common), link counters every window. The
    routing test (a link carrying less than the flows routed on the model put there: an IGP metric or
    a policy the model does not know) is exact on a flow window; between two of them the last flow
    matrix still says what each link should carry, to within the traffic's drift since. This class
    carries it for at most ``carry`` windows, so that a routing change is tested within a window or
    two instead of at the next export (a 30–60 s change may fall between two). ``carry=0``: flow
    windows only. The reference holds only while the model's routing is the one it was routed on (the
    window's ``routing``, e.g. :attr:`~twinwatch.twin.snapshot.WindowSnapshot.routing_version`): a link
    going down or coming back re-routes the flows, and the old loads would be wrong on both paths.

    :meth:`settled` says which links' counters can be compared this window: a rate in the first window
    after a gap or a counter reset spans the gap (a restarted counter's first delta counts from zero over
    the whole gap, as Prometheus' ``rate()`` does) and reads low, which is a telemetry artefact, not
    traffic routed elsewhere. State: ``(E,)`` float64, ``(E,)`` bool and one window number.

    >>> ref = RoutedReference(2, carry=2)
    >>> ref.update(10, np.array([5e8, 1e9]), "r1").tolist()   # a flow window: its own loads
    [500000000.0, 1000000000.0]
    >>> ref.update(12, None, "r1").tolist(), ref.age(12)       # two windows later: still carried
    ([500000000.0, 1000000000.0], 2)
    >>> bool(np.isnan(ref.update(13, None, "r1")).all())       # three windows later: too old
    True
    >>> _ = ref.update(20, np.array([5e8, 1e9]), "r1")
    >>> bool(np.isnan(ref.update(21, None, "r2")).all())       # the routing changed: nothing to carry
    True
    >>> ref.settled(np.array([True, False])).tolist(), ref.settled(np.array([True, True])).tolist()
    ([True, False], [True, False])
    """

    def __init__(self, n_links: int, *, carry: int = 3) -> None:
        if carry < 0:
            raise ValueError(f"RoutedReference: carry must be >= 0, got {carry}")
        self.n_links, self.carry = int(n_links), int(carry)
        self._routed = np.full(self.n_links, np.nan)
        self._window = -(1 << 62)
        self._routing = ""
        self._clean = np.ones(self.n_links, dtype=bool)

    ENTITY_SIZE = "n_links"

    def entity_axes(self) -> dict[str, int]:
        """The per-entity arrays and their entity axis (:func:`~twinwatch.detectors.entities.carry_entities`)."""
        return {"_routed": 0, "_clean": 0}

    def update(self, window: int, routed: np.ndarray | None, routing: str = "") -> np.ndarray:
        """``(E,)`` loads to test window ``window`` against: ``routed`` when this is a flow window (it becomes the
        reference), else the reference while at most ``carry`` windows old and routed on the same ``routing``,
        else NaN."""
        if routed is not None:
            r = np.asarray(routed, dtype=np.float64)
            if r.shape != (self.n_links,):
                raise ValueError(f"RoutedReference.update: routed shape {r.shape} != ({self.n_links},)")
            self._routed, self._window, self._routing = r.copy(), int(window), str(routing)
            return r
        if int(window) - self._window <= self.carry and str(routing) == self._routing:
            return self._routed.copy()
        return np.full(self.n_links, np.nan)

    def settled(self, clean: np.ndarray) -> np.ndarray:
        """``(E,)`` bool: links whose counters were ``clean`` (a finite rate, no reset, wrap or gap flag) this
        window *and* the previous one; call once per window."""
        c = np.asarray(clean, dtype=bool)
        if c.shape != (self.n_links,):
            raise ValueError(f"RoutedReference.settled: clean shape {c.shape} != ({self.n_links},)")
        out = c & self._clean
        self._clean = c.copy()
        return out

    def age(self, window: int) -> int:
        """Windows since the reference's flow window."""
        return int(window) - self._window

    def to_bytes(self) -> bytes:
        """Lossless snapshot (npz, no pickle)."""
        buf = io.BytesIO()
        np.savez(buf, routed=self._routed, clean=self._clean,
                 window=np.array([self._window, self.carry], dtype=np.int64),
                 routing=np.frombuffer(self._routing.encode(), dtype=np.uint8))
        return buf.getvalue()

    @classmethod
    def from_bytes(cls, data: bytes) -> RoutedReference:
        """Restore a :meth:`to_bytes` snapshot."""
        with np.load(io.BytesIO(data), allow_pickle=False) as z:
            routed, (window, carry) = z["routed"], z["window"].tolist()
            obj = cls(int(routed.shape[0]), carry=int(carry))
            obj._routed, obj._window, obj._clean = routed.astype(np.float64), int(window), z["clean"].astype(bool)
            obj._routing = z["routing"].tobytes().decode()
        return obj
