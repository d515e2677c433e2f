"""Properties of :class:`twinwatch.stream.clocks.SourceClocks` on generated fleets of device clocks.

A pack of devices sampled every window on time, and a group of fewer devices whose clocks run ahead together by
more than four windows (one wrong NTP server), their samples delivered in order in batches as a partition delivers
them, some held up a batch: no more of the pack's samples arrive in a closed window than with the group's clocks
right, the group is named, and re-stamping uses each member's lead. And once the pack falls silent, the group moves
the source on (it may be what still reports).
"""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from twinwatch.stream.clocks import SourceClocks

TOL = 10.0  # a window; the devices are sampled once a window
LATENESS = 5.0  # the allowed lateness (the pipeline's default)


@st.composite
def fleets(draw: st.DrawFn) -> tuple[int, int, float, np.ndarray, int]:
    """(pack size, group size, the group's lead in s, each device's sampling phase in s, a delivery seed)."""
    pack = draw(st.integers(3, 12))
    group = draw(st.integers(1, pack - 1))
    # more than 4 windows: within that, a member of the group whose latest sample is held up a batch, a window
    # behind its fresh ones, can bridge the gap to the pack (runs split at two windows), and the source's
    # progress may run up to the group's time (SourceClocks._split says so)
    lead = draw(st.floats(4 * TOL + 1.0, 3000.0))
    phases = np.array(draw(st.lists(st.floats(0.0, TOL * 0.9), min_size=pack + group, max_size=pack + group)))
    seed = draw(st.integers(0, 2**31 - 1))
    return pack, group, lead, phases, seed


def names(pack: int, group: int) -> list[str]:
    return [f"p{i}" for i in range(pack)] + [f"g{i}" for i in range(group)]


def replay(pack: int, group: int, skew: float, phases: np.ndarray, seed: int) -> tuple[SourceClocks, int]:
    """30 windows of samples, one per device per window, delivered in order in batches: each sample in its own
    window's batch, or (one in five) held up until the next. The clocks after the last batch, and how many of the
    pack's samples arrived in a window already closed (the watermark: progress − ``LATENESS``) once every device
    had been seen (before, a group ahead that arrives with only part of the pack looks like the devices on time)."""
    rng = np.random.default_rng(seed)
    who = names(pack, group)
    offset = np.array([0.0] * pack + [skew] * group)
    clocks = SourceClocks(tolerance_s=TOL, max_lead_s=300.0)
    held: dict[int, float] = {}
    late = 0
    for step in range(30):
        closed_until = np.floor((clocks.progress - LATENESS) / TOL) * TOL if np.isfinite(clocks.progress) else -np.inf
        batch: dict[str, float] = {}
        for i in range(pack + group):
            sample = 1000.0 + step * TOL + phases[i] + offset[i]
            if i in held or (step < 29 and rng.random() < 0.2):  # held up: arrives with the next batch
                batch_t = held.pop(i, None)
                held[i] = sample
                if batch_t is None:
                    continue
                sample = batch_t
            late += i < pack and sample < closed_until and len(clocks.latest) == pack + group
            batch[who[i]] = sample
        for i, sample in list(held.items()):  # the last batch flushes what was held up
            if step == 29:
                late += i < pack and sample < closed_until and len(clocks.latest) == pack + group
                batch[who[i]] = max(batch.get(who[i], -np.inf), sample)
        clocks.observe(batch)
    return clocks, late


@settings(max_examples=60, deadline=None)
@given(fleets())
def test_a_group_ahead_makes_no_pack_row_late_and_is_named(f: tuple[int, int, float, np.ndarray, int]) -> None:
    pack, group, lead, phases, seed = f
    clocks, late = replay(pack, group, lead, phases, seed)
    _, late_on_time = replay(pack, group, 0.0, phases, seed)  # the same deliveries, the group's clocks right
    assert late <= late_on_time
    assert set(clocks.ahead()) == set(names(pack, group)[pack:])
    offsets = clocks.offset()
    if pack > group:
        assert set(offsets) == set(names(pack, group)[pack:])
        assert all(abs(o - lead) <= 2 * TOL for o in offsets.values())


@settings(max_examples=60, deadline=None)
@given(fleets())
def test_once_the_pack_is_silent_the_group_moves_the_source(f: tuple[int, int, float, np.ndarray, int]) -> None:
    pack, group, _, phases, _ = f
    who = names(pack, group)
    clocks = SourceClocks(tolerance_s=TOL, max_lead_s=300.0)
    for step in range(5):  # all on time
        clocks.observe({n: 1000.0 + step * TOL + phases[i] for i, n in enumerate(who)})
    lag = []
    for step in range(5, 60):  # the pack falls silent; the group goes on, on time
        now = 1000.0 + step * TOL
        clocks.observe({n: now + phases[pack + i] for i, n in enumerate(who[pack:])})
        lag.append(now + phases[pack:].max() - clocks.progress)
    # one clock alone may be ahead: it waits max_lead_s; a group of several, until the gap passes two windows and
    # then two more windows of its own time (one window a step, and the phases)
    limit = 300.0 + 2 * TOL if group == 1 else (SourceClocks.GROUP_GAP + SourceClocks.CONFIRM + 1) * TOL
    assert max(lag) <= limit + TOL and lag[-1] <= (300.0 + TOL if group == 1 else TOL)


@settings(max_examples=60, deadline=None)
@given(fleets())
def test_a_group_behind_is_named_with_its_lag_to_about_a_window(f: tuple[int, int, float, np.ndarray, int]) -> None:
    """The same fleets with the group's clocks behind instead (a clock that lost its time source, a wrong time
    zone): the pack's rows are as late as with the group right (a clock behind never moves the source), and each
    of the group is named with its lag to a whole window, which is what its samples are re-stamped forward by: to
    within the pack's phases, a window when its samples come a batch late throughout (held up once, a device stays
    a batch behind here), and half a window of rounding."""
    pack, group, lead, phases, seed = f
    clocks, late = replay(pack, group, -lead, phases, seed)
    _, late_on_time = replay(pack, group, 0.0, phases, seed)
    assert late <= late_on_time
    behind = clocks.behind()
    assert set(behind) == set(names(pack, group)[pack:]) and clocks.ahead() == {}
    assert all(abs(lag - lead) <= 2.5 * TOL and lag % TOL == 0 for lag in behind.values())
    assert clocks.offset() == {name: -lag for name, lag in behind.items()}


@settings(max_examples=60, deadline=None)
@given(st.integers(3, 12), st.integers(0, 30), st.integers(1, 30), st.floats(0.0, TOL * 0.9))
def test_a_device_silent_or_held_up_is_never_named_behind(pack: int, stop: int, held: int, phase: float) -> None:
    """A device that falls silent at ``stop``, or whose samples are held up for ``held`` windows and then delivered
    at once, trails the pack by a lag that grows while it waits: never a clock behind (its rows are late, and the
    pipeline names it late instead)."""
    for resume in (None, stop + held):
        clocks = SourceClocks(tolerance_s=TOL, max_lead_s=300.0)
        for step in range(60):
            now = 1000.0 + step * TOL
            batch = {f"p{i}": now + i * 0.5 for i in range(1, pack)}
            if step < stop or (resume is not None and step >= resume):
                batch["p0"] = now + phase  # at resume its held-up samples arrive with the fresh one: the latest
            clocks.observe(batch)
            assert clocks.behind() == {}
