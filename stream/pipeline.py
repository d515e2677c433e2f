"""The service's processing pipeline, Kafka-free: the same code runs the live service and ``replay``.

Raw messages of one collector format (``bytes``, as the Kafka topic holds
them) go through:

1. :class:`~twinwatch.stream.ingest.Ingest` (shared with the twin-less
   replay): the format's decoder (a batch at a time) and, per network, counter
   normalisation (:func:`twinwatch.telemetry_adapters.normalize` with one
   :class:`~telemetry_adapters.CounterState` per network and format) into
   Measurement rows; every message the decoder refuses becomes a
   :class:`DeadLetter` (reason, detail, the original bytes);
2. per network, **event-time tumbling windows** (:class:`WindowBuffer`) of
   ``window_s`` seconds with a watermark ``event time reached − allowed
   lateness`` (the time every source's device clocks agree they have
   reached, :mod:`twinwatch.stream.clocks`: one device whose clock runs
   ahead does not move it): a window ``[start, end)`` closes once the
   watermark reaches ``end``; a row for a window already closed is *late*:
   counted (``twinwatch_late_rows_total``, and the device that sent it
   named), never used and never silently lost;
3. each closed window → :meth:`twinwatch.twin.snapshot.SnapshotBuilder.build` →
   the twin's :func:`~twin.models.predict_many` over all the networks whose
   windows closed together (one batch; windows whose matrix comes from flow
   records are predicted a second time, in the same batch, at the matrix's
   upper estimate: ``tm_range``) → the :class:`Detector` of the
   network → alert state changes (:class:`~detectors.alerts.AlertChange`,
   de-duplicated by :class:`~detectors.alerts.AlertBook`), one
   expected-vs-observed record per (network, window) and metrics;
4. a window whose snapshot, twin inference or detector raises is skipped
   alone: outcome ``failed``, logged with the traceback and counted
   (``twinwatch_window_failures_total{network, stage}``); the other windows
   and the service go on (a twin batch that fails is asked again window by
   window, so one bad window does not take the others with it).

The pipeline is synchronous and holds no Kafka client: the faust app
(:mod:`twinwatch.stream.app`) calls :meth:`Pipeline.process` in a worker thread, off
the event loop; ``replay`` calls it in a loop over files. Times are epoch
seconds (UTC); KPI values SI units.

The detector here (:class:`TwinDetector`) wires the ``detectors`` package's
pieces (residuals, conformal p-values, network-wide multiple testing,
k-of-m persistence, tomography suspects, the alert book) for the KPIs a
window has; another implementation of the :class:`Detector` protocol can be
passed to :class:`Pipeline`.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from twinwatch.detectors.alerts import AlertChange
from twinwatch.detectors.twin_detector import Detection, TwinDetector
from twinwatch.stream.clocks import DEFAULT_MAX_LEAD_S, DeviceClocks, SourceClocks
from twinwatch.stream.flowbuffer import FlowBuffer
from twinwatch.stream.ingest import DeadLetter, Ingest, LaneState
from twinwatch.stream.metrics import LINK_KPIS, ServiceMetrics
from twinwatch.telemetry_adapters import DecoderConfig, Inventory
from twinwatch.twin.kpis import Prediction
from twinwatch.twin.netmodel import NetworkModel
from twinwatch.twin.snapshot import DEFAULT_MATRIX_CLASSES, SnapshotBuilder, WindowSnapshot
from twinwatch.twin.threads import kernel_threads

__all__ = [
    "DeadLetter",
    "Detection",
    "Detector",
    "Pipeline",
    "PipelineOutput",
    "TwinDetector",
    "WindowBuffer",
    "WindowResult",
]

log = logging.getLogger(__name__)

FLOW_ONLY_FORMATS = frozenset({"goflow2"})
"""Formats whose messages carry flow records only (no measurement rows; their flow end times move the watermark)."""
_COLS = ("ts", "entity_kind", "entity_id", "kpi", "value", "flags")


# ----------------------------------------------------------------------------- records
class Detector(Protocol):
    """Compares one window's observation with the twin's prediction and keeps alert state."""

    def detect(self, snapshot: WindowSnapshot, prediction: Prediction | None,
               upper: Prediction | None = None) -> Detection:
        """The window's :class:`Detection`; ``upper``: the twin at the traffic's upper estimate (or ``None``)."""
        ...


@dataclass
class WindowResult:
    """One closed window of one network and what came out of it."""

    network: str
    start: float
    end: float
    rows: int
    outcome: str
    """``complete``, ``incomplete`` (some expected counters missing), ``empty`` (no rows) or ``failed``
    (skipped after a stage raised: :attr:`error`)."""
    snapshot: WindowSnapshot | None = None
    prediction: Prediction | None = None
    upper: Prediction | None = None
    """The twin at the traffic's upper estimate (flow-measured windows with ``tm_range``), else ``None``."""
    detection: Detection | None = None
    error: str | None = None
    """Why the window failed (outcome ``failed``): ``"<stage>: <exception type>: <message>"``."""

    def expected_record(self, links: Sequence[str]) -> dict[str, Any]:
        """The ``twinwatch.expected`` record: per link KPI, ``(E,)`` observed/expected/lower/upper/score arrays;
        where the ports report their speed, ``capacity_bps``: the ``(E,)`` capacities of the network model, those
        reported (null: none) and those the twin predicted with (bit/s); where the routers report their IGP
        metrics, ``igp_metric``: the model's (auto-cost of the window's capacity where none is configured), those
        reported (null: none) and those the twin routed with.

        Serialise it with :func:`twinwatch.stream.sinks.dumps` (NumPy arrays as lists, NaN as null).
        """
        rec: dict[str, Any] = {"network": self.network, "window_start": self.start, "window_end": self.end,
                               "outcome": self.outcome, "links": list(links), "kpis": {}}
        if self.detection is not None:
            for kpi, arrs in self.detection.link.items():  # float64 arrays: stream.sinks.dumps writes NaN as null
                rec["kpis"][kpi] = {k: np.asarray(a, dtype=np.float64) for k, a in arrs.items()}
            rec["paths_anomalous"] = self.detection.paths_anomalous.astype(np.int64)
        if self.snapshot is not None:
            rec["completeness"] = round(self.snapshot.completeness.fraction, 6)
            speed = self.snapshot.link_speed_bps
            if speed is not None and np.isfinite(speed).any():  # the ports report their speed: what the twin used
                rec["capacity_bps"] = {"model": np.asarray(self.snapshot.capacity_model, dtype=np.float64),
                                       "reported": np.asarray(speed, dtype=np.float64),
                                       "twin": np.asarray(self.snapshot.link_capacity_bps, dtype=np.float64)}
            igp, model = self.snapshot.link_igp_metric, self.snapshot.model_metric
            if igp is not None and model is not None and np.isfinite(igp).any():  # what the twin routed with
                rec["igp_metric"] = {"model": np.asarray(model, dtype=np.float64),
                                     "reported": np.asarray(igp, dtype=np.float64),
                                     "twin": np.asarray(self.snapshot.routing_metric, dtype=np.float64)}
        if self.error is not None:
            rec["error"] = self.error
        return rec


@dataclass
class PipelineOutput:
    """Everything one :meth:`Pipeline.process` / :meth:`Pipeline.flush` call produced."""

    dead_letters: list[DeadLetter] = field(default_factory=list)
    changes: list[AlertChange] = field(default_factory=list)
    expected: list[dict[str, Any]] = field(default_factory=list)
    windows: list[WindowResult] = field(default_factory=list)

    def extend(self, other: PipelineOutput) -> None:
        """Append ``other``'s records."""
        self.dead_letters += other.dead_letters
        self.changes += other.changes
        self.expected += other.expected
        self.windows += other.windows


# ----------------------------------------------------------------------------- windows
class WindowBuffer:
    """Event-time tumbling windows of ``window_s`` seconds with ``lateness_s`` allowed lateness, columnar.

    Rows are kept as chunks of columns; :meth:`close_ready` returns the windows
    whose end the watermark has passed,
    oldest first, as ``(start, end, columns)``; windows with no rows between two
    closed ones come back with empty columns (an *empty* window). Rows for a
    window already closed are counted in :attr:`late_rows` and dropped.

    The watermark is the smallest of the sources' max event times (each input
    topic is a source, as in Flink) minus ``lateness_s``; a source that has
    sent no row for ``idle_s`` seconds of processing (wall-clock) time is idle
    and does not hold the watermark back (Flink's ``withIdleness``), so a
    backlog on one topic never closes windows before the other topics catch
    up. Sources announced with :meth:`expect` hold it back before their first
    row too (for ``idle_s``). A source whose device clocks are reported
    (:meth:`observe_clocks`) has got as far as its clocks agree
    (:class:`~twinwatch.stream.clocks.SourceClocks`): one device whose clock
    runs ahead of the others no longer closes their windows; its rows wait in
    theirs (:meth:`clocks_ahead` names it, and the pipeline then re-stamps its
    samples to the others' time).

    >>> wb = WindowBuffer(10.0, 2.0)
    >>> wb.add({"ts": np.array([1.0, 5.0, 11.0]), "value": np.array([1.0, 2.0, 3.0])})
    0
    >>> [(s, e, c["value"].tolist()) for s, e, c in wb.close_ready()]   # watermark 9: nothing ends by then
    []
    >>> wb.add({"ts": np.array([12.5]), "value": np.array([4.0])})      # watermark 10.5: [0, 10) closes
    0
    >>> [(s, e, c["value"].tolist()) for s, e, c in wb.close_ready()]
    [(0.0, 10.0, [1.0, 2.0])]
    >>> wb.add({"ts": np.array([3.0]), "value": np.array([9.0])}), wb.late_rows    # too late for [0, 10)
    (1, 1)
    """

    MAX_EMPTY = 8640
    """At most this many empty windows are reported for one gap (a day at 10 s); the earlier ones are skipped."""

    def __init__(self, window_s: float, lateness_s: float, idle_s: float = 300.0,
                 clock: Callable[[], float] = time.monotonic, max_clock_lead_s: float = DEFAULT_MAX_LEAD_S) -> None:
        if not window_s > 0 or lateness_s < 0 or not idle_s > 0 or not max_clock_lead_s >= 0:
            raise ValueError(f"WindowBuffer: window_s and idle_s must be > 0, lateness_s and max_clock_lead_s >= 0, "
                             f"got {window_s}, {idle_s}, {lateness_s}, {max_clock_lead_s}")
        self.window_s = float(window_s)
        self.lateness_s = float(lateness_s)
        self.idle_s = float(idle_s)
        self.max_clock_lead_s = float(max_clock_lead_s)
        """Once every other clock of a source has stopped, the one still moving is trailed by this (s;
        :class:`SourceClocks`)."""
        self.max_ts = -np.inf
        self.clock = clock
        self._source_ts: dict[str, float] = {}
        self._clocks: dict[str, SourceClocks] = {}
        self._source_wall: dict[str, float] = {}
        self._caught_up: set[str] = set()
        self.next_index: int | None = None
        """Index of the oldest window not yet closed (None before the first row)."""
        self.closed = False
        """Whether a window has closed yet (until then the oldest window follows the earliest row of any source,
        so the first window does not depend on which source's rows arrived first)."""
        self.late_rows = 0
        self._chunks: list[dict[str, np.ndarray]] = []
        self._chunk_win: list[np.ndarray] = []

    def expect(self, sources: Iterable[str]) -> None:
        """Announce sources that will send rows: the watermark waits for them (at most ``idle_s`` seconds)."""
        now = self.clock()
        for src in sources:
            self._source_ts.setdefault(src, -np.inf)
            self._source_wall.setdefault(src, now)

    def advance(self, source: str, ts: float) -> None:
        """Record that ``source`` has reached event time ``ts`` (epoch s) without sending rows.

        Flow records feed the traffic matrix, not the rows: their flow end times hold the watermark
        like any source's rows, so a window closes only once every flow partition has passed it (the
        window then uses exactly the records a replay would, see :class:`~twinwatch.stream.flowbuffer.FlowBuffer`).
        """
        if np.isfinite(ts):
            self._source_ts[source] = max(self._source_ts.get(source, -np.inf), float(ts))
            self._source_wall[source] = self.clock()

    def observe_clocks(self, source: str, latest: Mapping[str, float]) -> None:
        """Record the latest sample time (epoch s) of each device clock in a batch of ``source``.

        From then on the source's progress is its clocks' (:class:`~twinwatch.stream.clocks.SourceClocks`,
        a window long tolerance), not its latest row's.
        """
        if not latest:
            return
        clocks = self._clocks.get(source)
        if clocks is None:
            clocks = self._clocks[source] = SourceClocks(self.window_s, self.max_clock_lead_s)
        clocks.observe(latest)
        self._source_ts[source] = clocks.progress
        self._source_wall[source] = self.clock()

    def progress_ns(self, source: str) -> int | None:
        """How far ``source``'s device clocks agree they have got (epoch ns); ``None`` when it has no clocks."""
        clocks = self._clocks.get(source)
        top = clocks.progress if clocks is not None else -np.inf
        return int(top * 1e9) if np.isfinite(top) else None

    @property
    def closed_until(self) -> float:
        """End (epoch s) of the last window closed, −inf before the first: rows older than it are late."""
        return self.next_index * self.window_s if self.closed and self.next_index is not None else -np.inf

    def clock_offset(self, source: str) -> dict[str, float]:
        """The devices of ``source`` whose clocks run ahead of the others' (or behind, negative), each with by how
        much (s), while the others still move (:meth:`~twinwatch.stream.clocks.SourceClocks.offset`); empty when
        none."""
        clocks = self._clocks.get(source)
        return {} if clocks is None else clocks.offset()

    def clocks_ahead(self) -> dict[str, dict[str, float]]:
        """Source → {device: seconds} of the device clocks held back as ahead of the source's others."""
        return {src: held for src, clocks in self._clocks.items() if (held := clocks.ahead())}

    def clocks_behind(self) -> dict[str, dict[str, float]]:
        """Source → {device: seconds} of the device clocks that run steadily behind the source's others."""
        return {src: late for src, clocks in self._clocks.items() if (late := clocks.behind())}

    def set_caught_up(self, source: str, caught_up: bool) -> None:
        """Mark ``source`` as read to its end.

        The service sets this per Kafka partition from the consumer's high watermark. A source that
        has sent no row yet holds the watermark back while it has unread messages (they may carry
        rows) and stops holding it once it is read to its end (its messages carried no rows: a
        partition of row-less or refused messages must not stall the others). A source that has sent
        rows keeps holding it at its latest event time until it is idle for ``idle_s``, caught up or
        not: more of its rows may be on their way (a burst on another partition must not close its
        windows first). Replay never sets it (every source is read in order to its end).
        """
        if caught_up:
            self._caught_up.add(source)
        else:
            self._caught_up.discard(source)

    @property
    def watermark(self) -> float:
        """Min over active sources of their max event time, − allowed lateness (−inf before any row).

        Active: not idle for ``idle_s``, and not a source without rows read to its end
        (:meth:`set_caught_up`).
        """
        now = self.clock()
        cu = self._caught_up
        active = [t for src, t in self._source_ts.items()
                  if not (src in cu and t == -np.inf) and now - self._source_wall[src] <= self.idle_s]
        return min(active, default=self._reached()) - self.lateness_s

    def _reached(self) -> float:
        """The latest event time any source has got to (−inf before any row)."""
        return max(self._source_ts.values(), default=self.max_ts)

    def add(self, cols: Mapping[str, np.ndarray], source: str = "") -> int:
        """Buffer rows (``ts`` required, any other equal-length columns) of ``source``; returns how many were late."""
        ts = np.asarray(cols["ts"], dtype=np.float64)
        ok = np.isfinite(ts)
        win = np.floor(ts[ok] / self.window_s).astype(np.int64)
        if win.size and not self.closed:  # before the first close no row is late: the start follows the earliest
            lo = int(win.min())
            self.next_index = lo if self.next_index is None else min(self.next_index, lo)
        late = win < self.next_index if self.next_index is not None else np.zeros(win.size, dtype=bool)
        n_late = int(late.sum()) + int((~ok).sum())
        self.late_rows += n_late
        keep = np.flatnonzero(ok)[~late]
        if keep.size:
            self._chunks.append({k: np.asarray(v)[keep] for k, v in cols.items()})
            self._chunk_win.append(win[~late])
            top = float(ts[keep].max())
            self.max_ts = max(self.max_ts, top)
            if source not in self._clocks:  # else the source's clocks say how far it has got
                self._source_ts[source] = max(self._source_ts.get(source, -np.inf), top)
            self._source_wall[source] = self.clock()
        return n_late

    def close_ready(self, *, force: bool = False) -> list[tuple[float, float, dict[str, np.ndarray]]]:
        """Windows whose end ≤ watermark (all buffered windows when ``force``), oldest first."""
        if self.next_index is None:
            return []
        if force:
            last = max((int(w.max()) for w in self._chunk_win if w.size), default=self.next_index - 1)
        else:
            wm = self.watermark
            if not np.isfinite(wm):
                return []
            last = int(np.floor(wm / self.window_s)) - 1  # windows with end <= watermark
        if last < self.next_index:
            return []
        if self._chunks:
            names = list(self._chunks[0])
            allc = {k: np.concatenate([c[k] for c in self._chunks]) for k in names}
            win = np.concatenate(self._chunk_win)
        else:
            allc, win = {}, np.empty(0, dtype=np.int64)
        closing = win <= last
        order = np.argsort(win[closing], kind="stable")
        sub = {k: v[closing][order] for k, v in allc.items()}
        wsub = win[closing][order]
        rest = ~closing
        self._chunks = [{k: v[rest] for k, v in allc.items()}] if rest.any() else []
        self._chunk_win = [win[rest]] if rest.any() else []
        # empty windows are reported up to the watermark; on a forced close up to where the sources got, not up
        # to the rows of a device clock ahead of them (a far-future sample would add a day of empty windows)
        reached = self._reached()
        fill = min(last, int(np.floor(reached / self.window_s))) if force and np.isfinite(reached) else last
        wins = self._reported(np.unique(wsub), fill)
        lo = np.searchsorted(wsub, wins, side="left")
        hi = np.searchsorted(wsub, wins, side="right")
        out = [(w * self.window_s, (w + 1) * self.window_s, {k: v[a:b] for k, v in sub.items()})
               for w, a, b in zip(wins.tolist(), lo.tolist(), hi.tolist(), strict=True)]
        self.next_index = last + 1
        self.closed = True
        return out

    def _reported(self, present: np.ndarray, fill: int) -> np.ndarray:
        """Indices of the windows a close reports, ascending: those in ``present`` (with rows) and the empty ones
        from :attr:`next_index` to ``fill``, at most :attr:`MAX_EMPTY` (the latest) per gap between rows."""
        parts: list[np.ndarray] = []
        prev = self.next_index - 1
        for p in present.tolist():
            end = min(p, fill + 1)  # the gap before p, up to fill
            if end - 1 > prev:
                parts.append(np.arange(max(prev + 1, end - self.MAX_EMPTY), end))
            parts.append(np.array([p]))
            prev = p
        if fill > prev:
            parts.append(np.arange(max(prev + 1, fill + 1 - self.MAX_EMPTY), fill + 1))
        return np.concatenate(parts).astype(np.int64) if parts else np.empty(0, dtype=np.int64)


# ----------------------------------------------------------------------------- the pipeline
@dataclass(kw_only=True)
class _Network(LaneState):
    """One network's lane (inventory, windows, counters, :attr:`generation`) and what closes its windows."""

    model: NetworkModel
    builder: SnapshotBuilder
    detector: Detector
    flows: FlowBuffer


class Pipeline:
    """Raw messages → dead letters, alert changes, expected records and metrics (see the module docstring).

    Parameters
    ----------
    models
        Network models (at least one; several are routed by device name).
    twin
        A KPI model (``predict`` / ``predict_many``), or ``None``: no twin, detection on observations only.
    window_s, lateness_s
        Window length and allowed lateness (seconds).
    metrics
        Where counters and gauges go (``None``: none).
    detector_factory
        ``model -> Detector`` (default :class:`TwinDetector` with ``detection`` options).
    detection
        Keyword options of :class:`TwinDetector` (``alpha``, ``method``, ``k``, ``m``, ``r``, ``warmup_windows``).
    max_age_s
        Decoder sample-age limit (``None`` for replaying old captures).
    max_future_skew_s
        Samples timestamped more than this many seconds ahead of this host's clock are refused (dead letter
        ``ts_future``; ``None``: no limit). Within it, a device whose clock runs ahead of the others of its
        source is held back (:class:`~twinwatch.stream.clocks.SourceClocks`): it does not carry the watermark past
        their rows; once they have all stopped it does, trailed by this much (300 s with no limit), since it
        may be the only device still reporting.
    sources
        Formats that will send messages (:meth:`WindowBuffer.expect`); flow-only formats (``goflow2``)
        hold the watermark with their records' flow end times (:meth:`WindowBuffer.advance`).
    idle_s
        Seconds (wall clock) after which a silent source stops holding the watermark back
        (``inf`` in a replay, where every source is read to its end).
    threads
        Threads of BLAS and of numba's parallel kernels while windows close (``None``: leave them as they are here;
        the GNN twin still holds BLAS to one thread while it builds a window's graph,
        :meth:`~twinwatch.twin.models.gnn.GNNModel.graph`). A window's solves are small (tens to hundreds of
        rows) and its kernels short: with one thread per core, their threads wait on each other on a machine whose
        cores are busy with other work (a 30 × 30 Cholesky inverse took 56 ms instead of 0.05 ms with OpenBLAS'
        two threads on a loaded 2-core machine; Abilene's windows 28 ms instead of 17 ms with numba's two beside
        two busy processes, and no less on an idle machine: :mod:`twinwatch.twin.threads`). The service passes
        ``twin.threads`` (1 by default).
    tm_range
        On windows whose traffic matrix comes from flow records (sampled, so uncertain), ask the twin a second
        time at the traffic's upper estimate (:func:`~twinwatch.detectors.traffic.load_upper_scenario`, in the
        same batch) and give the detector both (``detect(..., upper=...)``): the expected range widens with
        the matrix's uncertainty. Costs one more inference per such window. Off by default: on the development
        runs it improved no score and cost one detection (``bench/notes/detect_eval.md``, session 28, measured
        on the records' own matrix; since session 29 the twin's matrix on those windows is fitted to the counters
        and the upper estimate follows that fit's error, not yet measured).
    flow_matrix
        What the twin predicts from on a flow-measured window: ``"fitted"`` (the records' matrix fitted to the
        window's counters) or ``"records"`` (their own matrix);
        :attr:`twinwatch.twin.snapshot.SnapshotBuilder.flow_matrix`.
    matrix_classes
        How a counter-fitted matrix splits each pair over the ToS classes: ``"best-effort"`` (default; one
        class: about a third of the twin's time on a three-class network) or ``"records"`` (as the flow records
        do);
        :attr:`twinwatch.twin.snapshot.SnapshotBuilder.matrix_classes`.

    Flow records (``goflow2``) are kept per network (:class:`~twinwatch.stream.flowbuffer.FlowBuffer`)
    and feed the traffic matrix of the windows they cover, or, until they arrive, its prior; a window
    uses the records that ended by its end + ``lateness_s`` and closes once every flow source has
    passed that time, so live and replay build the same matrices.
    """

    def __init__(self, models: Sequence[NetworkModel], twin: Any | None = None, *, window_s: float = 10.0,
                 lateness_s: float = 5.0, metrics: ServiceMetrics | None = None,
                 detector_factory: Callable[[NetworkModel], Detector] | None = None,
                 detection: Mapping[str, Any] | None = None, max_age_s: float | None = 30 * 86400.0,
                 max_future_skew_s: float | None = 300.0,
                 sources: Iterable[str] = (), idle_s: float = 300.0, clock: Callable[[], float] = time.time,
                 threads: int | None = 1, tm_range: bool = False, flow_matrix: str = "fitted",
                 matrix_classes: str = DEFAULT_MATRIX_CLASSES) -> None:
        if not models:
            raise ValueError("Pipeline: at least one network model is required")
        if threads is not None and threads < 1:
            raise ValueError(f"Pipeline: threads must be >= 1 or None, got {threads}")
        self.twin = twin
        self.tm_range = tm_range
        self.metrics = metrics
        self.threads = threads
        self.max_age_s = max_age_s
        self.max_future_skew_s = max_future_skew_s
        self.clock = clock
        opts = dict(detection or {})
        make = detector_factory or (lambda mdl: TwinDetector(mdl, **opts))
        self.networks: dict[str, _Network] = {}
        lead = DEFAULT_MAX_LEAD_S if max_future_skew_s is None else max_future_skew_s
        for mdl in models:
            if mdl.name in self.networks:
                raise ValueError(f"Pipeline: two network models are named {mdl.name!r}")
            inv = Inventory.from_dict(mdl.inventory_dict())
            builder = SnapshotBuilder(mdl, flow_matrix=flow_matrix, matrix_classes=matrix_classes)
            self.networks[mdl.name] = _Network(
                inventory=inv, windows=WindowBuffer(window_s, lateness_s, idle_s, max_clock_lead_s=lead),
                model=mdl, builder=builder, detector=make(mdl), flows=FlowBuffer(mdl, inv))
            self.networks[mdl.name].windows.expect(sources)
        device_net: dict[str, str] = {}
        for name, net in self.networks.items():
            for node in net.model.node_names:
                device_net.setdefault(node, name)
        self.devices = DeviceClocks(
            (name for net in self.networks.values()
             for name in (*net.inventory.nodes, *net.inventory.nodes_by_device, *(d for d, _ in net.inventory.ports))),
            metrics)
        """The device clocks followed (the devices and nodes of every network), those ahead and those late."""
        self.ingest = Ingest(self.networks, self.devices,
                             DecoderConfig(network=next(iter(self.networks)) if len(self.networks) == 1 else "",
                                           max_age_s=max_age_s, max_future_skew_s=max_future_skew_s),
                             device_network=device_net, metrics=metrics)
        """Decoding, device clocks, counters and windows (:mod:`twinwatch.stream.ingest`), over :attr:`networks`."""
        self.state_cache: dict[Any, Any] = {}
        """Compressed parts of the last :meth:`state`, with the versions they reflect (see
        :func:`twinwatch.stream.state.encode_pipeline`)."""
        self.messages = 0
        self.dead = 0
        self.failed_windows = 0
        """Windows skipped because a stage raised (:meth:`_fail`)."""
        if metrics is not None:
            metrics.expect_networks(self.networks)

    # -------------------------------------------------------------- public
    def process(self, messages: Sequence[bytes], fmt: str, kafka_ts: Sequence[float] | None = None,
                source: str | None = None) -> PipelineOutput:
        """Decode, normalise and window a batch of raw messages of format ``fmt``; close the windows that are due.

        ``kafka_ts`` (epoch seconds, one per message) is kept on dead letters. ``source`` names the
        in-order stream the messages come from for the watermark (default ``fmt``; the service passes
        the topic partition, each of which is in order, while a topic's partitions are not).
        """
        out = PipelineOutput()
        if not messages:
            return out
        res, out.dead_letters = self.ingest.decode(messages, fmt, kafka_ts)
        self.messages += len(messages)
        self.dead += len(out.dead_letters)
        src = source or fmt
        self.ingest.add_samples(res.samples, fmt, src)
        if len(res.flows):
            ends = np.asarray(res.flows.ts, dtype=np.float64)
            top = float(ends[np.isfinite(ends)].max(initial=-np.inf))
            for name in self.networks if len(self.networks) == 1 else self._flow_networks(res.flows):
                net = self.networks[name]
                late = net.flows.late
                net.flows.add(res.flows)
                if self.metrics is not None and net.flows.late > late:
                    self.metrics.late_flows.labels(name).inc(net.flows.late - late)
            for net in self.networks.values():  # the source's progress, for every network (as for rows above)
                net.windows.advance(src, top)
        self.ingest.report_clocks()
        out.extend(self._close(force=False))
        return out

    def _flow_networks(self, flows: Any) -> list[str]:
        """Networks whose inventory maps some of the records' source addresses (several networks)."""
        return [name for name, net in self.networks.items()
                if any(v is not None for v in net.inventory.lookup_nodes(flows.src_addr).tolist())]

    def flush(self) -> PipelineOutput:
        """Close every buffered window (end of a replay, or shutdown)."""
        return self._close(force=True)

    def expect(self, sources: Iterable[str]) -> None:
        """Announce sources (see :meth:`WindowBuffer.expect`) to every network's windows."""
        srcs = list(sources)
        for net in self.networks.values():
            net.windows.expect(srcs)

    def set_caught_up(self, sources: Mapping[str, bool]) -> None:
        """Per source, whether it is read to its end (see :meth:`WindowBuffer.set_caught_up`), for every network."""
        for net in self.networks.values():
            for src, flag in sources.items():
                net.windows.set_caught_up(src, flag)

    def state(self, meta: Mapping[str, Any] | None = None) -> bytes:
        """The pipeline's state (counters, detectors, open windows' rows) as one versioned blob, with ``meta``.

        See :func:`twinwatch.stream.state.encode_pipeline` (npz, no pickle).
        """
        from twinwatch.stream.state import encode_pipeline

        return encode_pipeline(self, meta)

    def restore(self, data: bytes) -> dict[str, Any]:
        """Replace the state with a :meth:`state` blob; returns its ``meta``.

        See :func:`twinwatch.stream.state.restore_pipeline`.
        """
        from twinwatch.stream.state import restore_pipeline

        return restore_pipeline(self, data)

    @property
    def late_rows(self) -> dict[str, int]:
        """Late rows per network so far."""
        return {name: net.windows.late_rows for name, net in self.networks.items()}

    def _close(self, *, force: bool) -> PipelineOutput:
        """Close the windows that are due, with BLAS and numba held to :attr:`threads` threads meanwhile."""
        if self.threads is None:
            return self._close_windows(force=force)
        with kernel_threads(self.threads):
            return self._close_windows(force=force)

    def _close_windows(self, *, force: bool) -> PipelineOutput:
        closed_at = time.perf_counter()  # the watermark has passed the windows' ends: latency counts from here
        out = PipelineOutput()
        pending: list[tuple[_Network, WindowResult]] = []
        now = self.clock()
        for net in self.networks.values():
            for start, end, cols in net.windows.close_ready(force=force):
                rows = int(cols["value"].size) if cols else 0
                wr = WindowResult(net.model.name, start, end, rows, "empty")
                if rows:
                    try:
                        wr.snapshot = net.builder.build(start, end, {k: cols[k] for k in _COLS},
                                                        **net.flows.snapshot_args(start, end,
                                                                                  end + net.windows.lateness_s))
                    except Exception as exc:
                        self._fail(wr, "snapshot", exc)
                    else:
                        wr.outcome = "complete" if wr.snapshot.completeness.fraction >= 1.0 else "incomplete"
                        pending.append((net, wr))
                out.windows.append(wr)
        if pending and self.twin is not None:
            self._predict([wr for _, wr in pending])
        detected = 0
        for net, wr in pending:
            if wr.outcome == "failed":
                continue
            assert wr.snapshot is not None
            try:
                wr.detection = net.detector.detect(wr.snapshot, wr.prediction, wr.upper)
            except Exception as exc:
                self._fail(wr, "detector", exc)
            net.generation["detector"] = net.generation.get("detector", 0) + 1  # a failed call may have moved it
            if wr.detection is None:
                continue
            detected += 1
            out.changes += wr.detection.changes
            if self.metrics is not None:
                self._gauges(net, wr)
        if self.metrics is not None:
            lat = time.perf_counter() - closed_at
            for _ in range(detected):
                self.metrics.close_to_alert.observe(lat)
            for wr in out.windows:
                self.metrics.windows.labels(wr.network, wr.outcome).inc()
                self.metrics.last_window_end.labels(wr.network).set(wr.end)
                self.metrics.window_lag.observe(max(now - wr.end, 0.0))
                if wr.snapshot is not None:
                    self.metrics.completeness.labels(wr.network).set(wr.snapshot.completeness.fraction)
        for wr in out.windows:
            out.expected.append(wr.expected_record(self.networks[wr.network].model.link_ids))
        return out

    def _predict(self, windows: Sequence[WindowResult]) -> None:
        """Set each window's ``prediction`` (and ``upper`` where :attr:`tm_range` asks for it) in one batch of
        the twin; when the batch fails, ask again window by window, so one window the twin cannot take fails
        alone (:meth:`_fail`, stage ``twin``)."""
        from twinwatch.detectors.traffic import load_upper_scenario
        from twinwatch.twin.models import predict_many

        def asks(wr: WindowResult) -> tuple[Any, Any | None]:
            """The window's scenario and its upper estimate (flow-sampled matrices with ``tm_range``) or None."""
            snap = wr.snapshot
            assert snap is not None
            upper = self.tm_range and snap.tm_source in ("flows", "mixed")
            return snap.scenario, load_upper_scenario(snap.scenario, snap.flow_std_bps) if upper else None

        def answer(groups: Sequence[tuple[Any, Any | None]]) -> list[tuple[Prediction, Prediction | None]]:
            """One batch: every window's scenario first, then the upper estimates, as the twin has always had them."""
            got = list(predict_many(self.twin, [g[0] for g in groups] + [g[1] for g in groups if g[1] is not None]))
            preds, more = got[:len(groups)], iter(got[len(groups):])
            return [(pred, None if g[1] is None else next(more)) for g, pred in zip(groups, preds, strict=True)]

        t0 = time.perf_counter()
        try:
            answers: list[tuple[Prediction, Prediction | None] | None] = list(answer([asks(wr) for wr in windows]))
        except Exception as exc:
            if len(windows) == 1:
                self._fail(windows[0], "twin", exc)
                return
            log.warning("the twin failed on a batch of %d windows (%s: %s); asking it window by window",
                        len(windows), type(exc).__name__, exc)
            answers = []
            for wr in windows:
                try:
                    answers += answer([asks(wr)])
                except Exception as one:
                    self._fail(wr, "twin", one)
                    answers.append(None)
        for wr, got in zip(windows, answers, strict=True):
            if got is not None:
                wr.prediction, wr.upper = got
        if self.metrics is not None:
            self.metrics.inference.observe(time.perf_counter() - t0)

    def _fail(self, wr: WindowResult, stage: str, exc: Exception) -> None:
        """Skip window ``wr`` after ``stage`` raised ``exc``: outcome ``failed``, the error logged with its
        traceback and counted (``twinwatch_window_failures_total{network, stage}``); the service goes on with
        the next window. The detector's open alerts stay as they were (a skipped window is a gap, as an empty
        one is); at-least-once delivery does not replay it (its messages are processed)."""
        wr.outcome = "failed"
        wr.error = f"{stage}: {type(exc).__name__}: {exc}"
        wr.detection = None
        self.failed_windows += 1
        log.error("window [%.0f, %.0f) of network %s skipped: the %s stage raised %s: %s", wr.start, wr.end,
                  wr.network, stage, type(exc).__name__, exc, exc_info=exc,
                  extra={"network": wr.network, "window_start": wr.start, "stage": stage})
        if self.metrics is not None:
            self.metrics.window_failures.labels(wr.network, stage).inc()

    def _gauges(self, net: _Network, wr: WindowResult) -> None:
        mt, det = self.metrics, wr.detection
        assert mt is not None and det is not None
        links = net.model.link_ids
        for kpi in LINK_KPIS:
            if kpi in det.link:
                mt.set_links(wr.network, links, kpi, **det.link[kpi])
        mt.set_paths_anomalous(wr.network, links, det.paths_anomalous)
        snap = wr.snapshot
        if snap is not None:
            model_metric = net.model.link_metric.astype(np.float64)
            routed = snap.routing_metric
            mt.set_link_config(wr.network, links, model_capacity_bps=snap.capacity_model,
                               capacity_bps=snap.link_capacity_bps, model_metric=model_metric,
                               metric=model_metric if routed is None else routed)
        for ch in det.changes:
            mt.alert_changed(ch.alert.network, ch.alert.kind, ch.alert.severity, ch.action == "firing")


def iter_interleave(streams: Mapping[str, Sequence[bytes]], batch: int = 2000) -> Iterator[tuple[str, Sequence[bytes]]]:
    """Replay order of several time-ordered captures, one slice at a time: proportional slices, so every format
    advances together.

    The longest capture is cut into batches of ``batch`` messages and every other capture into
    as many slices, so slice ``i`` of each covers about the same span of time (as the topics would
    deliver them live). Yields ``(format, messages)`` in processing order; a slice is taken from its capture only
    when it is reached, so a capture read on demand (:mod:`twinwatch.stream.capture`) is never held whole.

    >>> [(f, len(m)) for f, m in iter_interleave({"a": [b"x"] * 4, "b": [b"y"] * 2}, batch=2)]
    [('a', 2), ('b', 1), ('a', 2), ('b', 1)]
    """
    if batch < 1:
        raise ValueError(f"interleave: batch must be >= 1, got {batch}")
    longest = max((len(v) for v in streams.values()), default=0)
    n = max(1, -(-longest // batch))
    cuts = {f: np.linspace(0, len(v), n + 1).round().astype(int) for f, v in streams.items()}
    for i in range(n):
        for f, v in streams.items():
            lo, hi = int(cuts[f][i]), int(cuts[f][i + 1])
            if hi > lo:
                yield f, v[lo:hi]


def interleave(streams: Mapping[str, Sequence[bytes]], batch: int = 2000) -> list[tuple[str, Sequence[bytes]]]:
    """:func:`iter_interleave` as a list (every slice taken at once; for captures held in memory).

    >>> [(f, len(m)) for f, m in interleave({"a": [b"x"] * 4, "b": [b"y"] * 2}, batch=2)]
    [('a', 2), ('b', 1), ('a', 2), ('b', 1)]
    """
    return list(iter_interleave(streams, batch))
