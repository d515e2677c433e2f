"""One detection window after another: residual → p-value → BH → persistence → AlertBook (no mocks)."""

from __future__ import annotations

import numpy as np

from twinwatch.detectors import Alert, AlertBook, ConformalCalibrator, Persistence, reject, residual


def test_fault_fires_within_two_windows_and_healthy_paths_stay_quiet() -> None:
    rng = np.random.default_rng(21)
    n, fault_at, windows = 2000, 40, 50
    expected = rng.uniform(1e-3, 2e-2, n)
    cal = ConformalCalibrator(n, prior=rng.normal(0, 0.03, 50_000))
    pers = Persistence(n, k=2, m=3, r=2)
    book = AlertBook()
    faulty = np.arange(10)
    fired_at: dict[str, int] = {}
    false_alerts = 0
    for t in range(windows):
        observed = expected * np.exp(rng.normal(0, 0.03, n))
        if t >= fault_at:
            observed[faulty] *= 1.5  # +50 % delay, about 13 sigma of the twin's error
        r = residual("delay_s", observed, expected)
        p = cal.p_values(r)
        flagged = reject(p, 0.01, "bh")
        change = pers.update(flagged)
        cal.update(r, healthy=~flagged & ~change.active)
        opened = [Alert.open(network="test", entity_kind="path", entity_id=str(i), kpi="delay_s",
                             start=60.0 * t, kind="degradation", p_value=float(p[i]))
                  for i in np.flatnonzero(change.fired)]
        for c in book.fire(opened):
            fired_at[c.alert.entity_id] = t
            false_alerts += int(c.alert.entity_id) >= len(faulty)
    assert sorted(fired_at, key=int) == [str(i) for i in faulty]
    assert max(fired_at.values()) - fault_at <= 1  # k = 2: the second faulty window fires
    assert false_alerts == 0
