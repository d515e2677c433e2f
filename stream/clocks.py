"""How far one in-order source has got in event time, robust to device clocks that run ahead or behind.

A source (a Kafka topic partition, or a replayed file) carries the samples of
many devices, each stamped by the device's own clock. Taking the source's
progress as the latest sample time of any device lets one device whose
clock runs ahead (NTP lost, a wrong time zone) carry the watermark past
every other device's rows: they all arrive late and are dropped. Instead,
:class:`SourceClocks` keeps each device clock's latest time and takes the
latest one only when another clock is within ``tolerance_s`` of it; a clock
that leads every other by more is *ahead*: the source has got as far as the
next clock, the ahead one's rows wait in their windows (closed when the
others get there), and it no longer moves the watermark. Once it is named,
:meth:`DeviceClocks.restamp` moves its samples back by its lead to the
others' time, so its rows land with theirs. Several devices ahead together
(those one wrong NTP server sets) are held the same way when more clocks
agree behind them than with them and those move on while they lead (the
decoders' ``max_clock_ahead_s`` check against this host's clock still
refuses any device beyond that limit). A clock that runs behind the others
by more than two windows, its lag steady while they move on, is named too
(:meth:`SourceClocks.behind`), and its samples are re-stamped forward: left
alone, every one of them would come after its window had closed.

A leader cannot be told apart from the only device still reporting (every
other one silent) by its lead alone; what tells them apart is whether the
others still move. While they do, the leader is held back however far it
leads (a clock a year ahead in a replayed capture included). Once they stop,
the leader's own progress since they last moved, beyond ``max_lead_s``,
moves the source on: its windows then close at most ``max_lead_s`` and a
window (``tolerance_s``) late, not never.

:class:`DeviceClocks` is the pipeline's side of it: which devices' clocks
are followed (those an inventory knows), each batch's latest time per
device, the devices whose samples come later than the windows already
closed (their clock runs behind, or their telemetry is held up), and the
log lines and gauges that name them.

Times are epoch seconds.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np

from twinwatch.telemetry_adapters._names import dense_codes, object_pointers
from twinwatch.telemetry_adapters.schema import PATH_MARKER

__all__ = ["DEFAULT_MAX_LEAD_S", "DeviceClocks", "SourceClocks"]

DEFAULT_MAX_LEAD_S = 300.0
"""``SourceClocks.max_lead_s`` where no host-clock limit (``window.max_clock_ahead_s``) gives one (s)."""

log = logging.getLogger(__name__)

_NAMING = {  # a clock off one way → the words naming it, what the worker does about it, its log record's key
    "ahead": ("ahead of", "it does not move the watermark, and its samples are re-stamped to the others' time",
              "ahead_s"),
    "behind": ("behind", "its samples are re-stamped forward to the others' time", "clock_behind_s"),
}


class SourceClocks:
    """Latest event time per device clock of one source, and the source's progress from them.

    Parameters
    ----------
    tolerance_s
        A clock is *ahead* when it leads every other clock of the source by more than this (seconds; a
        window's length: devices sampled at the same period are within one period of each other).
    max_lead_s
        Once every other clock has stopped, the progress trails the one still moving by at most this (seconds).
    max_clocks
        Clocks kept (the stalest are forgotten beyond it), so that a stream of ever-new device names cannot
        grow the state.

    The clocks sorted latest first split into runs at every gap of more than two windows; the *pack* is the run of
    the most clocks, and the clocks above it are the *leading group* (none when the first run is the largest: the
    others are behind). One clock leading every other by more than a window is held back. A group of several (the
    devices one wrong NTP server sets) is held back too, and named once the pack has moved on while it led; had
    the pack stopped instead (its devices silent), the group is what still reports, on time: after
    :attr:`CONFIRM` tolerances of the group's time without the pack moving it is not held (its windows closed
    that late, not ``max_lead_s``). Its samples are re-stamped (:meth:`offset`) only where the pack has more
    clocks than it.

    >>> c = SourceClocks(tolerance_s=10.0, max_lead_s=300.0)
    >>> c.observe({"r1": 100.0, "r2": 95.0, "r3": 98.0})
    >>> c.progress, c.ahead()                       # within 10 s of each other: the latest counts
    (100.0, {})
    >>> c.observe({"r2": 160.0})                    # r2's clock jumps 60 s ahead of r1 and r3
    >>> c.progress, c.ahead()                       # held back: r1's time (named ahead once it lasts 2 windows)
    (100.0, {})
    >>> c.observe({"r1": 125.0, "r3": 124.0, "r2": 900.0})  # r2 runs on alone, the others still move
    >>> c.progress, c.ahead(), c.offset()
    (125.0, {'r2': 775.0}, {'r2': 775.0})
    >>> c.observe({"r2": 1300.0})                   # r1 and r3 have stopped: r2 has gone 400 s on its own since
    >>> c.progress, c.offset()                      # 125 + (400 − 300); r2 may be the only one still reporting
    (225.0, {})
    >>> two = SourceClocks(tolerance_s=10.0, max_lead_s=300.0)
    >>> two.observe({"a": 100.0, "b": 160.0}); two.observe({"a": 125.0, "b": 185.0})
    >>> two.ahead(), two.offset()                   # held back, but against one clock: not re-stamped
    ({'b': 60.0}, {})
    >>> g = SourceClocks(tolerance_s=10.0, max_lead_s=300.0)
    >>> g.observe({"a": 100.0, "b": 99.0, "c": 98.0, "x": 160.0, "y": 159.0})  # x and y 60 s ahead together
    >>> g.observe({"a": 110.0, "b": 109.0, "c": 108.0, "x": 170.0, "y": 169.0})  # the pack moves on: they ran ahead
    >>> g.observe({"a": 125.0, "b": 124.0, "c": 123.0, "x": 185.0, "y": 184.0})
    >>> g.progress, g.offset()
    (125.0, {'x': 60.0, 'y': 59.0})
    >>> q = SourceClocks(tolerance_s=10.0, max_lead_s=300.0)
    >>> q.observe({"a": 100.0, "b": 100.0, "c": 100.0, "x": 100.0, "y": 100.0})
    >>> q.observe({"x": 125.0, "y": 125.0}); q.progress  # a, b and c silent: x and y may be ahead; wait
    100.0
    >>> q.observe({"x": 150.0, "y": 150.0}); q.progress  # the pack has not moved: x and y are what still reports
    150.0

    A clock behind the pack by more than two windows, its lag steady while the source moves six windows on, runs
    behind (a device whose telemetry is held up stops instead, then catches up):

    >>> b = SourceClocks(tolerance_s=10.0, max_lead_s=300.0)
    >>> for t in range(100, 200, 10):               # r3's clock runs a minute behind r1's and r2's
    ...     b.observe({"r1": t, "r2": t - 1.0, "r3": t - 60.3})
    >>> b.progress, b.behind(), b.offset()          # its lag to a whole window; re-stamped forward
    (190.0, {'r3': 60.0}, {'r3': -60.0})
    >>> h = SourceClocks(tolerance_s=10.0, max_lead_s=300.0)
    >>> for t in range(100, 200, 10):               # r3's samples held up from 110 to 180, then delivered
    ...     h.observe({"r1": t, "r2": t - 1.0, **({"r3": t - 2.0} if t < 120 or t >= 190 else {})})
    >>> h.behind()
    {}
    """

    GROUP_GAP = 2
    """Runs of clocks split at gaps of more than this many ``tolerance_s`` (:meth:`_split`)."""

    CONFIRM = 2
    """:meth:`ahead` names a clock held back once the source has moved this many ``tolerance_s`` on since; a group
    of several leading a pack that has not moved while it went this many on alone is not held."""

    LAGS = 8
    """:meth:`behind` takes a clock's lag from its last this many reports (batches that carry its samples)."""

    STEADY = 6
    """:meth:`behind` names a clock below the pack once its lag behind :attr:`progress` has stayed within
    :attr:`GROUP_GAP` ``tolerance_s`` of one value while the source moved this many ``tolerance_s`` on: it keeps
    pace, so its clock runs behind. A device whose telemetry is held up stops and then catches up, and a silent
    one stops; either makes its lag move and the count start again."""

    def __init__(self, tolerance_s: float, max_lead_s: float, max_clocks: int = 4096) -> None:
        if not tolerance_s >= 0 or not max_lead_s >= 0 or max_clocks < 2:
            raise ValueError(f"SourceClocks: tolerance_s and max_lead_s must be >= 0 and max_clocks >= 2, got "
                             f"{tolerance_s}, {max_lead_s}, {max_clocks}")
        self.tolerance_s = float(tolerance_s)
        self.max_lead_s = float(max_lead_s)
        self.max_clocks = int(max_clocks)
        self.latest: dict[str, float] = {}
        """Clock (device) → its latest sample time (epoch s), as of its latest batch."""
        self._reset()

    def _reset(self) -> None:
        self._leaders: dict[str, float] = {}  # the leading group: clock → its time (empty: none leads)
        self._first = self._second = -np.inf  # the latest time; the pack's top (the next one when none leads)
        self._pack_size = 0  # clocks within tolerance_s of the pack's top (with none leading: of the latest clock)
        self._pack = -np.inf  # the pack's top when it last moved
        self._anchor = -np.inf  # the latest clock's time then: how far it has gone alone is measured from it
        self._since: dict[str, tuple[float, float, float, str]] = {}  # a leader → (progress, the pack's top and the
        # latest time when it began to lead, verdict: "pending" until the pack moves ("ahead") or the leaders go on
        # alone ("on time"))
        self._low = -np.inf  # clocks below this time (GROUP_GAP windows under the pack's top) lag the pack
        self._lag: dict[str, tuple[float, float, list[float]]] = {}  # a clock that reported while lagging → (progress
        # when its lag took its value, that lag, the lags at its last LAGS reports)

    def observe(self, latest: Mapping[str, float]) -> None:
        """Record each clock's latest sample time in a batch (non-finite times are ignored).

        A source delivers each device's samples in order, so a clock's time only goes back when the clock was
        set back (NTP correcting a clock that ran ahead): it then goes back here too, and stops being ahead.
        """
        mine = self.latest
        reported = []
        for name, ts in latest.items():
            if np.isfinite(ts):
                mine[name] = float(ts)
                reported.append(name)
        if len(mine) > self.max_clocks:
            keep = sorted(mine.items(), key=lambda kv: kv[1])[-self.max_clocks:]
            self.latest = dict(keep)
            self._lag = {k: v for k, v in self._lag.items() if k in self.latest}
        self._settle(reported)

    def _split(self) -> None:
        """The leading group, the pack's top time and the pack's size; the clocks well below the pack's top.

        The clocks, latest first, form runs split at every gap of more than :attr:`GROUP_GAP` tolerances. The
        pack is the run of the most clocks (of two as large, the later); the clocks of the runs above it are the
        leading group. With the first run the largest, none leads (the others are behind), unless the latest
        clock alone leads the next by more than ``tolerance_s``: it leads alone. (Inside a run, a device whose
        latest sample was held up a batch sits a window behind the others, and a device of a group sampled at the
        same period may have reported its next sample and another not yet; so runs split at two windows. A group
        ahead by less than about four windows may therefore not be told from the pack.)
        """
        n = len(self.latest)
        self._leaders, self._pack_size, self._low = {}, 0, -np.inf
        if n == 0:
            self._first = self._second = -np.inf
            return
        names = list(self.latest)
        t = np.fromiter(self.latest.values(), dtype=np.float64, count=n)
        order = np.argsort(-t, kind="stable")  # latest first; ties in arrival order
        ts = t[order]
        self._first = float(ts[0])
        self._second = float(ts[1]) if n > 1 else -np.inf
        if n == 1:
            return
        cuts = np.flatnonzero(ts[:-1] - ts[1:] > self.GROUP_GAP * self.tolerance_s) + 1
        starts, ends = np.concatenate(([0], cuts)), np.append(cuts, n)
        sizes = ends - starts
        pack = sizes.size - 1 - int(np.argmax(sizes[::-1]))  # the largest run; of two as large, the later
        if pack == 0:
            g, end = (1, n) if ts[0] - ts[1] > self.tolerance_s else (0, n)  # the latest clock alone leads, or none
        else:
            g, end = int(starts[pack]), int(ends[pack])
        # the pack's clocks within a window of its top vouch for re-stamping the others (runs split at gaps wider
        # than that, so they are all in the pack's run); a clock lags the pack more than GROUP_GAP windows below its
        # top (a pack member held up a batch sits a window below it)
        self._pack_size = int(np.count_nonzero(ts[g:end] >= ts[g] - self.tolerance_s))
        self._low = float(ts[g]) - self.GROUP_GAP * self.tolerance_s
        if g == 0:
            return
        self._second = float(ts[g])
        self._leaders = {names[i]: float(ts[k]) for k, i in enumerate(order[:g].tolist())}

    def _settle(self, reported: Iterable[str] = ()) -> None:
        """Split the clocks; re-anchor the leaders' solo run when the pack moved (or none leads); follow each
        leader since it began to lead, and whether the pack moved on meanwhile; and the lag of each ``reported``
        clock (those of the batch) below the pack (a clock that stops reporting keeps its entry, which
        :meth:`behind` no longer counts once its lag moves: the cost is the batch's, not every clock's)."""
        self._split()
        leaders, first, second = self._leaders, self._first, self._second
        if second > self._pack or not leaders:
            self._pack, self._anchor = second, first
        since = {}
        for name in leaders:
            began, pack, top, verdict = self._since.get(name, (second, second, first, "pending"))
            if verdict == "pending":
                if second > pack:  # the pack moved on while it led: it ran ahead
                    verdict = "ahead"
                elif first - top > self.CONFIRM * self.tolerance_s:  # the pack stopped: the leaders are what reports
                    verdict = "on time"
            since[name] = (began, pack, top, verdict)
        self._since = since
        lag, low, progress = self._lag, self._low, None
        for name in reported:
            t = self.latest.get(name, np.inf)
            if t >= low:
                lag.pop(name, None)
                continue
            if progress is None:
                progress = self.progress
            began, was, seen = lag.get(name, (progress, progress - t, []))
            if abs(progress - t - was) > self.GROUP_GAP * self.tolerance_s:  # it stopped, caught up or stepped: count
                # again from here (a sampling period either way is the phases of its rounds and the pack's)
                began, was, seen = progress, progress - t, []
            lag[name] = (began, was, [*seen[1 - self.LAGS:], progress - t])

    @property
    def _held(self) -> bool:
        """Whether there are leaders and they are held back: one clock leading alone always; several unless the
        pack stopped while they went on (every one of them then found on time)."""
        if not self._leaders:
            return False
        if len(self._leaders) == 1:
            return True
        return any(v != "on time" for *_, v in self._since.values())

    @property
    def progress(self) -> float:
        """The event time the source has reached (−inf before any clock)."""
        if not self._held:
            return self._first
        alone = self._first - self._anchor  # how far the leaders have gone since the pack last moved
        return min(self._first, self._second + max(0.0, alone - self.max_lead_s))

    def ahead(self) -> dict[str, float]:
        """The clocks held back, each with how far it leads :attr:`progress` (s), once the source has moved
        :attr:`CONFIRM` tolerances on since it began to lead (one of several: and the pack moved on meanwhile);
        empty when none.

        The first device of a new sampling round leads the others by about a sampling period until they report
        too; that lead is held back like any other (it costs nothing), but it is not a clock running ahead.
        """
        if not self._held:
            return {}
        progress = self.progress
        alone = len(self._leaders) == 1
        return {name: t - progress for name, t in self._leaders.items()
                if progress - self._since[name][0] >= self.CONFIRM * self.tolerance_s
                and (alone or self._since[name][3] == "ahead")}

    def offset(self) -> dict[str, float]:
        """How far to move each named clock's samples back to the others' time (s): the clocks :meth:`ahead`
        names, each with how far it leads the pack, while the pack holds at least two clocks agreeing (within
        ``tolerance_s`` of its top), more than the leading group, and still moves (the leaders have not gone more
        than ``max_lead_s`` on alone); and, negative, the clocks :meth:`behind` names, while at least two clocks
        agree at the pack's top, and more than them. Empty when none. Once the pack has stopped, the leaders may be
        the only devices still reporting, on time; against a single other clock, either of the two may be the
        wrong one.
        """
        out: dict[str, float] = {}
        named = self.ahead()
        moving = self._first - self._anchor <= self.max_lead_s
        if named and moving and self._pack_size >= max(2, len(self._leaders) + 1):
            out = {name: self._leaders[name] - self._second for name in named}
        late = self.behind()
        if late and self._pack_size >= max(2, len(late) + 1):
            out.update((name, -lag) for name, lag in late.items())
        return out

    def behind(self) -> dict[str, float]:
        """The clocks that run behind the others, each with by how much (s): more than :attr:`GROUP_GAP` windows
        below the pack's top, their lag behind :attr:`progress` steady (:attr:`STEADY`) and still what it was;
        empty when none. The lag is taken at the clock's own reports, the median of its last :attr:`LAGS` (one is a
        sampling period more when the pack has reported a round the clock has not yet, or less the other way
        round), to a whole number of ``tolerance_s``:
        a sample then keeps its place in its window (the devices' sampling phases would otherwise add their
        spread, up to a second here, and move a sample near a window's edge into the next), exact for a clock set
        off by whole minutes or hours (a wrong time zone), right to about a window otherwise.

        Their rows come later than the windows they stamp them with close, so they are all late until
        :meth:`DeviceClocks.restamp` moves their samples forward by the lag (:meth:`offset`).
        """
        progress, tol, latest = self.progress, self.tolerance_s, self.latest
        return {name: math.floor(float(np.median(seen)) / tol + 0.5) * tol  # halves up: a sample moved too far
                for name, (began, was, seen) in self._lag.items()  # waits in its window, one not far enough is late
                if progress - began >= self.STEADY * tol and latest[name] < self._low
                and abs(progress - latest[name] - was) <= self.GROUP_GAP * tol}  # still lagging, and as much

    def to_dict(self) -> dict[str, float]:
        """Clock → latest time, for the service's state."""
        return dict(self.latest)

    def restore(self, latest: Iterable[tuple[str, float]]) -> None:
        """Replace the clocks' latest times (from :meth:`to_dict`'s items); a leader's solo run restarts."""
        self.latest = {str(k): float(v) for k, v in latest}
        self._reset()
        self._settle()


class DeviceClocks:
    """Per batch of samples: each followed device clock's latest time, the devices running late, and the news.

    Parameters
    ----------
    known
        Device names (as telemetry spells them) and node names whose clocks are followed; samples of any other
        device map to no link (counted as unmapped) and must not move a watermark. ``None``: every device (no
        inventory, as in the twin-less replay).
    metrics
        :class:`~twinwatch.stream.metrics.ServiceMetrics` for ``twinwatch_device_clocks_ahead``,
        ``twinwatch_device_clocks_behind`` and ``twinwatch_late_devices`` (``None``: none).
    """

    ON_TIME_BATCHES = 3
    """A device named late is named on time again after this many batches in a row with none of its samples late
    (at the first, a device at the edge of the allowed lateness would flap)."""

    RENEW = 3
    """:meth:`restamp` renews a device's offset when its lead moves by more than this many tolerances (windows) from it;
    less is the devices' sampling phases."""

    def __init__(self, known: Iterable[str] | None, metrics: Any = None) -> None:
        self.known = None if known is None else frozenset(known)
        self.metrics = metrics
        self.ahead: dict[str, dict[str, float]] = {}
        """Network → device → the most seconds its clock ran ahead of the other devices of its source."""
        self.late: dict[str, dict[str, tuple[int, float]]] = {}
        """Network → device → (samples older than the windows already closed, the most seconds one was)."""
        self.offsets: dict[str, dict[str, float]] = {}
        """Source → {device: seconds its samples are re-stamped earlier by (negative: later)} (:meth:`restamp`)."""
        self.behind: dict[str, dict[str, float]] = {}
        """Network → device → the most seconds its clock ran behind the other devices of its source (named by
        :meth:`SourceClocks.behind`: its lag steady, so not telemetry held up)."""
        self._named: dict[str, dict[str, set[tuple[str, str]]]] = {}  # "ahead"/"behind" → network → (source,
        # device) named, as last logged
        self._flagged: dict[str, set[str]] = {}  # network → devices named late
        self._on_time: dict[tuple[str, str], int] = {}  # (network, device named late) → on-time batches in a row

    def codes(self, samples: Any) -> tuple[list[str], np.ndarray]:
        """``(names, codes)``: the samples' device clocks and ``(n,)`` codes into them. A probe path's clock is its
        source node (its agent stamps the samples); a device not in :attr:`known` is named ``""``."""
        nc = samples.codes
        if nc is not None and len(nc.device) == len(samples):
            names, inv = list(nc.device_names), np.asarray(nc.device)
        else:  # grouped by object identity (decoders reuse one str per device), as the counters' name tables do
            col = np.ascontiguousarray(np.asarray(samples.device, dtype=object))
            inv, first = dense_codes(object_pointers(col))
            names = col[first].tolist()
        clocks = [str(n).split(PATH_MARKER, 1)[0] for n in names]
        return [c if self.known is None or c in self.known else "" for c in clocks], inv

    def latest_times(self, samples: Any) -> dict[str, float]:
        """Followed device clock → its latest sample time in ``samples`` (epoch s)."""
        names, inv = self.codes(samples)
        floor = np.iinfo(np.int64).min
        top = np.full(len(names), floor, dtype=np.int64)
        np.maximum.at(top, inv, np.asarray(samples.ts_ns, dtype=np.int64))
        out: dict[str, float] = {}
        for name, t in zip(names, top.tolist(), strict=True):
            if t != floor and name:
                out[name] = max(out.get(name, -np.inf), t / 1e9)
        return out

    def restamp(self, source: str, samples: Any, held: Mapping[str, float], tolerance_s: float) -> list[str]:
        """Move the samples of the devices whose clocks run ahead or behind on ``source`` to the others' time, in
        place.

        ``held`` maps those devices to their leads (s; a clock behind: minus its lag), as
        :meth:`SourceClocks.offset` gives them (named, a pack of other clocks agreeing and still moving), or is
        empty. A device's lead when it is first held becomes its offset, kept while it stays held (the lead itself
        moves by up to a sampling period from batch to batch, with the devices' phases; a steady offset keeps its
        counters' intervals right) and renewed only when the lead moves by more than :attr:`RENEW` ``tolerance_s``
        from it (its clock stepped again). Its samples are re-stamped ``offset`` earlier (``ts_ns`` is replaced; a
        negative offset moves them later), so that its rows land in the windows the others' rows of the same moment
        land in; in arrival order, those from the first one that steps back by half the offset on (forward, for a
        clock behind: NTP set its clock right inside this batch) are left. The device stays held and named (its
        clock still runs ahead or behind; its raw times are what the source's clocks observe). When NTP sets its
        clock right, the batch that holds the step no longer shows it off (``held`` lacks it), but its samples
        before the step are still moved by the offset that ends.

        Returns the devices whose offset has just ended, started or changed (most often none; in that order): their
        counters must start again, since the interval across the change holds the offset (right to about a
        sampling period only), not traffic. (Left to the counters' own rules, a busy counter re-bases on its first
        re-stamped sample, but an idle one drops its samples as out of order until they catch up.) Offsets are
        not part of the service's state: after a restart the device is held, named and re-stamped again.
        """
        cur = self.offsets.get(source, {})
        ending = {device: off for device, off in cur.items() if device not in held}
        changed = list(ending)
        now: dict[str, float] = {}
        for device, lead in held.items():
            was = cur.get(device)
            if was is None or abs(lead - was) > self.RENEW * tolerance_s:
                changed.append(device)
                was = lead
            now[device] = was
        if now:
            self.offsets[source] = now
        else:
            self.offsets.pop(source, None)
        if not now and not ending:
            return changed
        names, inv = self.codes(samples)
        ts = np.asarray(samples.ts_ns, dtype=np.int64)
        fixed = None
        for device, off in (*now.items(), *ending.items()):
            offset_ns = round(off * 1e9)
            code = [i for i, n in enumerate(names) if n == device]
            rows = np.flatnonzero(np.isin(inv, code)) if code else np.empty(0, dtype=np.int64)
            if not rows.shape[0]:
                continue
            # in arrival order, its samples up to the first one that falls back by half the offset (NTP set its clock
            # right inside this batch: that one and those after it are on the others' time already). A device whose
            # offset ends here: only if it fell back here (else it ended for another reason; its samples are left)
            mine = ts[rows]
            top = np.maximum.accumulate(mine)
            if offset_ns > 0:  # ahead: NTP sets it back
                step = mine < top - offset_ns // 2
            else:  # behind: NTP sets it forward, a jump of the running latest beyond what a sampling period moves it
                step = np.diff(top, prepend=top[:1]) > -offset_ns // 2
            if step.any():
                rows = rows[: int(np.argmax(step))]
            elif device in ending:
                continue
            if fixed is None:
                fixed = ts.copy()
            fixed[rows] -= offset_ns
        if fixed is not None:
            samples.ts_ns = fixed
        return changed

    def late_samples(self, samples: Any, closed_until: float) -> tuple[dict[str, tuple[int, float]], set[str]]:
        """Per followed device, its samples older than ``closed_until`` (epoch s): ``{device: (count, most
        seconds older)}``; and the followed devices in ``samples``."""
        names, inv = self.codes(samples)
        present = {n for n in (names[i] for i in np.unique(inv).tolist()) if n}
        if not np.isfinite(closed_until):
            return {}, present
        age = closed_until - np.asarray(samples.ts_ns, dtype=np.int64) / 1e9
        old = age > 0
        if not old.any():
            return {}, present
        count = np.bincount(inv[old], minlength=len(names))
        worst = np.zeros(len(names))
        np.maximum.at(worst, inv[old], age[old])
        out: dict[str, tuple[int, float]] = {}
        for name, n, w in zip(names, count.tolist(), worst.tolist(), strict=True):
            if n and name:
                c, m = out.get(name, (0, 0.0))
                out[name] = (c + n, max(m, w))
        return out, present

    def report_late(self, network: str, samples: Any, closed_until: float) -> None:
        """Name each device of ``network`` that starts sending samples older than ``closed_until`` (their rows
        are late) and each that sends on time again; keep :attr:`late` and ``twinwatch_late_devices``."""
        late, present = self.late_samples(samples, closed_until)
        flagged = self._flagged.setdefault(network, set())
        for dev, (n, worst) in late.items():
            totals = self.late.setdefault(network, {})
            count, most = totals.get(dev, (0, 0.0))
            totals[dev] = (count + n, max(most, worst))
            self._on_time.pop((network, dev), None)
            if dev not in flagged:
                flagged.add(dev)
                log.warning("device %s sent %d sample(s) up to %.0f s older than the windows already closed: its clock "
                            "runs behind, or its telemetry is held up on the way; their rows are late, counted and "
                            "not used (check its NTP and its collector)", dev, n, worst,
                            extra={"network": network, "device": dev, "late_samples": n, "behind_s": round(worst, 3)})
        for dev in sorted(flagged.intersection(present).difference(late)):
            streak = self._on_time[(network, dev)] = self._on_time.get((network, dev), 0) + 1
            if streak >= self.ON_TIME_BATCHES:
                flagged.discard(dev)
                del self._on_time[(network, dev)]
                log.info("device %s sends on time again", dev, extra={"network": network, "device": dev})
        if self.metrics is not None:
            self.metrics.late_devices.labels(network=network).set(len(flagged))

    def report_ahead(self, network: str, held: Mapping[str, Mapping[str, float]]) -> None:
        """Name each device of ``network`` whose clock starts or stops running ahead of the others of its source
        (``held``: source → {device: seconds}, :meth:`~twinwatch.stream.pipeline.WindowBuffer.clocks_ahead`);
        keep :attr:`ahead` and ``twinwatch_device_clocks_ahead``."""
        self._report(network, held, "ahead")

    def report_behind(self, network: str, lagging: Mapping[str, Mapping[str, float]]) -> None:
        """Name each device of ``network`` whose clock starts or stops running behind the others of its source
        (``lagging``: source → {device: seconds}, :meth:`~twinwatch.stream.pipeline.WindowBuffer.clocks_behind`);
        keep :attr:`behind` and ``twinwatch_device_clocks_behind``."""
        self._report(network, lagging, "behind")

    def _report(self, network: str, off: Mapping[str, Mapping[str, float]], way: str) -> None:
        """:meth:`report_ahead` (``way`` ``"ahead"``) or :meth:`report_behind` (``"behind"``)."""
        words, then, key = _NAMING[way]
        now = {(src, dev): s for src, devs in off.items() for dev, s in devs.items()}
        named = self._named.setdefault(way, {})
        before = named.get(network, set())
        most: dict[str, dict[str, float]] = getattr(self, way)
        for (src, dev), s in now.items():
            seen = most.setdefault(network, {})
            seen[dev] = max(seen.get(dev, 0.0), s)
            if (src, dev) not in before:
                log.warning("device %s's clock runs %.0f s %s the other devices on %s: %s until it is set right "
                            "(check its NTP)", dev, s, words, src, then,
                            extra={"network": network, "device": dev, "source": src, key: round(s, 3)})
        for src, dev in sorted(before - now.keys()):
            log.info("device %s's clock is no longer %s the other devices on %s", dev, words, src,
                     extra={"network": network, "device": dev, "source": src})
        named[network] = set(now)
        if self.metrics is not None:
            getattr(self.metrics, f"clocks_{way}").labels(network=network).set(len({dev for _, dev in now}))
