"""ProbeLossScan: exact Poisson tails, calibration under health, power on low-rate loss, lossless state."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from twinwatch.detectors.decision import reject
from twinwatch.detectors.probe_loss import (
    ProbeLossScan,
    detectable_loss,
    explain_away,
    per_link,
    poisson_log_sf,
    poisson_sf,
    pooled_p_values,
    probe_links,
    scan_log_p,
    stopped_p_values,
)


def test_poisson_sf_matches_scipy() -> None:
    k = np.array([0, 1, 2, 5, 12, 40], dtype=float)
    lam = np.array([0.3, 0.3, 1.7, 2.0, 3.5, 20.0])
    assert np.allclose(poisson_sf(k, lam), np.where(k <= 0, 1.0, stats.poisson.sf(k - 1, lam)), rtol=1e-10)


def test_poisson_log_sf_is_exact_where_the_tail_is_representable_and_close_where_it_underflows() -> None:
    import mpmath

    mpmath.mp.dps = 40
    k = np.array([1.0, 3.0, 40.0, 120.0, 700.0, 900.0, 2000.0, 1300.0, 5000.0])
    lam = np.array([0.3, 0.5, 20.0, 2.0, 10.0, 0.5, 300.0, 800.0, 1.0])
    got = poisson_log_sf(k, lam)
    want = np.array([float(mpmath.log(mpmath.gammainc(a, 0, b, regularized=True))) for a, b in zip(k, lam)])
    assert np.isfinite(got).all()
    fine = poisson_sf(k, lam) >= 1e-300
    assert fine.sum() >= 4 and (~fine).sum() >= 4  # both branches are checked
    assert np.allclose(got[fine], want[fine], rtol=1e-9, atol=0.0)
    # where P underflows: the first term times the geometric bound on the rest, high by at most that bound's log
    bound = -np.log1p(-lam / (k + 1.0))
    assert np.all(got[~fine] >= want[~fine] - 1e-9) and np.all(got[~fine] <= want[~fine] + bound[~fine] + 1e-9)
    assert poisson_log_sf(np.array([0.0, -1.0]), np.array([2.0, 2.0])).tolist() == [0.0, 0.0]


def test_scan_log_p_is_the_log_of_the_scan_p_value_and_orders_total_losses() -> None:
    pl = probe_links(*_grid(), np.ones(4, bool), 5)
    lost = np.array([[1.0, 2.0, 0.0, 0.0], [3.0, 2.0, 1.0, 0.0], [np.nan] * 4])  # the third scale is not filled
    exp = np.array([[0.1, 0.1, 0.1, 0.1], [0.3, 0.3, 0.3, 0.3], [np.nan] * 4])
    p = pooled_p_values(lost, exp, pl)
    assert np.allclose(np.exp(scan_log_p(per_link(lost, pl), per_link(exp, pl))), p, rtol=1e-12)
    total = np.array([[300.0, 200.0, 0.0, 0.0]])
    lp = scan_log_p(total, np.full((1, 4), 0.01))
    assert np.isfinite(lp).all() and lp[0] < lp[1] < lp[2] == 0.0


def test_a_total_loss_is_explained_by_its_own_link_not_by_a_neighbour_that_ties_at_p_0() -> None:
    # link 0 carries probes 0 and 1, link 1 probes 1 and 2; link 1 drops every packet: probes 1 and 2 lose all
    # 200. Both links' pooled p-values underflow to 0.0; by p-value link 0 (the lower index) would explain first
    # and link 1 still alert on probe 2's loss; by their logs link 1 explains it all and link 0 stays quiet.
    pl = probe_links(np.array([0, 0, 1, 1]), np.array([0, 1, 1, 2]), np.ones(3, bool), 2)
    lost, exp = np.array([[0.0, 200.0, 200.0]]), np.full((1, 3), 0.05)
    p = pooled_p_values(lost, exp, pl)
    assert p.tolist() == [0.0, 0.0]
    both = np.array([True, True])
    assert explain_away(p, both, lost, exp, pl, 1e-3).tolist() == [True, True]  # the tie, by p-value
    log_p = scan_log_p(per_link(lost, pl), per_link(exp, pl))
    assert explain_away(log_p, both, lost, exp, pl, 1e-3).tolist() == [False, True]


def test_p_values_are_conservative_under_a_healthy_loss_rate() -> None:
    # 400 probes, 100 packets a window, 0.2 % loss at all times (above the floor, so the baseline must learn it)
    rng = np.random.default_rng(11)
    k, sent = 400, np.full(400, 100.0)
    scan = ProbeLossScan(k)
    ps = []
    for w in range(600):
        lost = rng.binomial(100, 0.002, size=k).astype(float)
        p = scan.update(lost, sent, np.zeros(k))
        scan.learn(lost, sent, np.ones(k, bool))
        if w >= 200:  # after the baseline has seen ~20,000 packets per probe
            ps.append(p)
    p_all = np.concatenate(ps)
    # valid p-values: P(p <= u) <= u (discrete, so conservative), at every level an operator would use
    for u in (0.001, 0.01, 0.05):
        assert np.mean(p_all <= u) <= u * 1.2, u
    # and a network-wide BH at 0.01 over the probes rarely finds anything in a healthy window
    windows_with_discovery = np.mean([reject(p, 0.01, "bh").any() for p in ps])
    assert windows_with_discovery <= 0.02


def test_one_percent_loss_at_100_packets_per_window_is_found_within_six_windows() -> None:
    # the grey-loss case: one probe crosses a link losing 1 %, 1 lost packet per window on average
    rng = np.random.default_rng(3)
    k, sent = 20, np.full(20, 100.0)
    scan = ProbeLossScan(k)
    for _ in range(60):  # an hour-long healthy history at ~0 loss
        lost = rng.binomial(100, 1e-4, size=k).astype(float)
        scan.update(lost, sent, np.zeros(k))
        scan.learn(lost, sent, np.ones(k, bool))
    found_at = None
    for w in range(18):
        lost = rng.binomial(100, 1e-4, size=k).astype(float)
        lost[7] = rng.binomial(100, 0.01)
        p = scan.update(lost, sent, np.zeros(k))
        if reject(p, 0.01, "bh")[7]:
            found_at = w
            break
    assert found_at is not None and found_at < 6
    assert not reject(p, 0.01, "bh")[np.arange(k) != 7].any()


def test_twin_expected_loss_raises_the_baseline() -> None:
    # 2 lost of 100 is news at ~0 expected loss, not when the twin expects 2 % (a congested path)
    scan = ProbeLossScan(2, scales=(1,))
    p = scan.update(np.array([2.0, 2.0]), np.array([100.0, 100.0]), np.array([0.0, 0.02]))
    assert p[0] < 1e-3 and p[1] > 0.3


def test_unreported_probe_gives_nan_and_state_round_trips() -> None:
    rng = np.random.default_rng(5)
    scan = ProbeLossScan(3, scales=(1, 4))
    for _ in range(7):
        lost = rng.binomial(50, 0.01, size=3).astype(float)
        scan.update(lost, np.full(3, 50.0), np.zeros(3))
        scan.learn(lost, np.full(3, 50.0), np.array([True, False, True]))
    p = scan.update(np.array([np.nan, 1.0, 0.0]), np.array([np.nan, 50.0, 50.0]), np.zeros(3))
    assert np.isnan(p[0]) and np.isfinite(p[1:]).all()
    restored = ProbeLossScan.from_bytes(scan.to_bytes())
    nxt = (np.array([1.0, 0.0, 3.0]), np.full(3, 50.0), np.zeros(3))
    assert np.array_equal(restored.baseline(), scan.baseline())
    assert np.array_equal(restored.update(*nxt), scan.update(*nxt))


def test_named_loss_survives_a_restart_and_older_snapshots_load() -> None:
    # the loss an alert named stays explained across a restart of the service (the detector's state is the
    # scan's snapshot), for the sums' depth counted from the naming, not from the restart
    import io

    scan = ProbeLossScan(3, scales=(1, 4))
    scan.update(np.zeros(3), np.full(3, 50.0), np.zeros(3))
    scan.name(np.array([False, True, False]))
    restored = ProbeLossScan.from_bytes(scan.to_bytes())
    for _ in range(3):
        assert restored.named().tolist() == [False, True, False]
        restored.update(np.zeros(3), np.full(3, 50.0), np.zeros(3))
    restored.update(np.zeros(3), np.full(3, 50.0), np.zeros(3))
    assert not restored.named().any()
    # a snapshot written before the naming existed: nothing named, the rest as saved
    with np.load(io.BytesIO(scan.to_bytes()), allow_pickle=False) as z:
        parts = {k: z[k] for k in z.files if k != "named_until"}
    buf = io.BytesIO()
    np.savez(buf, **parts)
    old = ProbeLossScan.from_bytes(buf.getvalue())
    assert not old.named().any() and np.array_equal(old.baseline(), scan.baseline())


def test_errors_name_the_rule() -> None:
    with pytest.raises(ValueError, match="scales"):
        ProbeLossScan(2, scales=(0, 3))
    with pytest.raises(ValueError, match="floor"):
        ProbeLossScan(2, floor=0.0)
    with pytest.raises(ValueError, match="lost shape"):
        ProbeLossScan(2).update(np.zeros(3), np.zeros(2), np.zeros(2))


@pytest.mark.parametrize("windows", [3, 6])
def test_the_detectable_loss_is_what_the_scan_finds_in_steady_state(windows: int) -> None:
    """4,000 probes with 400 clean windows behind them lose ``q`` for ``windows`` windows: the scan's p-value
    reaches alpha / 176 in about ``power`` of them at ``detectable_loss``, in far fewer at half of it."""
    rng = np.random.default_rng(7)
    sent, k, alpha = 100.0, 176, 0.01
    q = detectable_loss(sent, windows, k, alpha, power=0.9)
    found = []
    for loss in (q, q / 2):
        n = 4000
        scan = ProbeLossScan(n, half_life=1e9)
        full = np.full(n, sent)
        for _ in range(400):  # clean history: the healthy bound falls below the floor
            scan.update(np.zeros(n), full, np.zeros(n))
            scan.learn(np.zeros(n), full, np.ones(n, dtype=bool))
        for _ in range(windows):
            p = scan.update(rng.binomial(int(sent), loss, n).astype(float), full, np.zeros(n))
        found.append(float(np.mean(p <= alpha / k)))
    assert 0.85 <= found[0] <= 0.99 and found[1] < 0.6


def test_the_detectable_loss_falls_with_packets_and_rises_with_probes() -> None:
    assert detectable_loss(1000, 3, 176, 0.01) < detectable_loss(100, 3, 176, 0.01)
    assert detectable_loss(100, 3, 17, 0.01) <= detectable_loss(100, 3, 1760, 0.01)
    assert np.isnan(detectable_loss(1, 1, 10_000, 1e-6))  # one packet cannot reach the level
    with pytest.raises(ValueError, match="windows >= 1"):
        detectable_loss(100, 0, 10, 0.01)


def _grid() -> tuple[np.ndarray, np.ndarray]:
    """Hops of four probes over five links: probes 0, 1 cross links 0 and 1; probes 2, 3 cross links 2 and 3;
    every probe crosses link 4 (a shared trunk)."""
    hop_link = np.array([0, 1, 4, 0, 1, 4, 2, 3, 4, 2, 3, 4])
    hop_probe = np.array([0, 0, 0, 1, 1, 1, 2, 2, 2, 3, 3, 3])
    return hop_link, hop_probe


def test_links_crossed_by_the_same_probes_are_tested_once() -> None:
    pl = probe_links(*_grid(), np.ones(4, bool), 5)
    assert pl.probes.tolist() == [2, 2, 2, 2, 4]
    assert pl.tested.tolist() == [True, False, True, False, True]
    assert pl.same_set.tolist() == [0, 0, 2, 2, 4]
    # a probe that did not report leaves its links' sets (link 0 and 1 keep one probe: no pooled test)
    quiet = probe_links(*_grid(), np.array([True, False, True, True]), 5)
    assert quiet.probes.tolist() == [1, 1, 2, 2, 3] and quiet.tested.tolist() == [False, False, True, False, True]


def test_pooled_p_values_equal_the_scan_over_the_summed_packets() -> None:
    pl = probe_links(*_grid(), np.ones(4, bool), 5)
    lost = np.array([[1.0, 2.0, 0.0, 0.0], [3.0, 2.0, 1.0, 0.0]])  # two scales
    exp = np.array([[0.1, 0.1, 0.1, 0.1], [0.3, 0.3, 0.3, 0.3]])
    p = pooled_p_values(lost, exp, pl)
    want0 = 2 * min(poisson_sf(np.array(3.0), np.array(0.2)), poisson_sf(np.array(5.0), np.array(0.6)))
    want4 = 2 * min(poisson_sf(np.array(3.0), np.array(0.4)), poisson_sf(np.array(6.0), np.array(1.2)))
    assert p[0] == pytest.approx(want0) and p[4] == pytest.approx(want4)
    assert np.isnan(pooled_p_values(lost, exp, pl, exclude=np.ones(4, bool))).all()


def test_one_lossy_link_one_alert_two_lossy_links_two() -> None:
    pl = probe_links(*_grid(), np.ones(4, bool), 5)
    exp = np.full((1, 4), 0.05)
    flagged = np.array([True, False, True, False, True])
    one = np.array([[4.0, 5.0, 0.0, 0.0]])  # link 0 (or 1) lossy: the trunk's pool is explained by it
    assert explain_away(pooled_p_values(one, exp, pl), flagged, one, exp, pl, 1e-3).tolist() == [
        True, False, False, False, False]
    # every probe lossy: one lossy trunk explains it all (the smallest explanation, as boolean tomography reads it)
    every = np.array([[4.0, 5.0, 6.0, 4.0]])
    assert explain_away(pooled_p_values(every, exp, pl), flagged, every, exp, pl, 1e-3).tolist() == [
        False, False, False, False, True]
    # two lossy links whose probes share no link: two alerts
    apart = probe_links(np.array([0, 1, 0, 1, 2, 3, 2, 3]), np.array([0, 0, 1, 1, 2, 2, 3, 3]), np.ones(4, bool), 4)
    assert explain_away(pooled_p_values(every, exp, apart), np.array([True, False, True, False]), every, exp, apart,
                        1e-3).tolist() == [True, False, True, False]
    # a flagged probe is an explanation too: probe 0 alone lossy explains link 0's pool (loss on a link only it
    # crosses)
    lone = np.array([[6.0, 0.0, 0.0, 0.0]])
    p_probe = np.array([1e-9, 1.0, 1.0, 1.0])
    assert not explain_away(pooled_p_values(lone, exp, pl), flagged, lone, exp, pl, 1e-3, p_probe=p_probe,
                            probes_flagged=p_probe < 1e-3).any()


def test_stopped_p_values_are_valid_while_the_loss_goes_on_and_find_the_stop() -> None:
    # 2,000 probes losing 2 % of 100 packets a window for 40 windows: the chance that a probe's loss reads as
    # stopped in a window stays at or below the level; once the loss stops, most pools of several probes read
    # as stopped within three windows and every one within six
    rng = np.random.default_rng(11)
    k = 2_000
    scan = ProbeLossScan(k)
    sent = np.full(k, 100.0)
    false_stops = []
    for w in range(40):
        scan.update(rng.binomial(100, 0.02, size=k).astype(float), sent, np.zeros(k))
        if w >= 18:
            false_stops.append(np.mean(stopped_p_values(scan.window_sums()[0], scan.sent_sums()) <= 0.01))
    assert np.mean(false_stops) <= 0.01
    pl = probe_links(np.repeat(np.arange(k // 4), 4), np.arange(k), np.ones(k, bool), k // 4)  # 4 probes a link
    found = []
    for _ in range(6):
        scan.update(np.zeros(k), sent, np.zeros(k))
        found.append(stopped_p_values(scan.window_sums()[0], scan.sent_sums(), pl) <= 0.01)
    assert np.mean(found[2]) >= 0.9 and found[-1].all()


def test_spent_sums_and_the_sent_ring_survive_a_restart() -> None:
    import io

    scan = ProbeLossScan(3, scales=(1, 3))
    for _ in range(3):
        scan.update(np.array([4.0, 0.0, 1.0]), np.full(3, 50.0), np.zeros(3))
    scan.name(np.array([True, True, False]))
    scan.spend(np.array([True, False, False]))
    assert scan.holds_loss().tolist() == [False, False, True] and scan.named().tolist() == [False, True, False]
    restored = ProbeLossScan.from_bytes(scan.to_bytes())
    assert np.array_equal(restored.sent_sums(), scan.sent_sums())
    assert restored.sent_sums()[-1].tolist() == [0.0, 150.0, 150.0]
    # a snapshot written before the sent ring existed: no loss reads as stopped until the ring refills
    with np.load(io.BytesIO(scan.to_bytes()), allow_pickle=False) as z:
        parts = {key: z[key] for key in z.files if key != "sent"}
    buf = io.BytesIO()
    np.savez(buf, **parts)
    old = ProbeLossScan.from_bytes(buf.getvalue())
    assert (stopped_p_values(old.window_sums()[0], old.sent_sums()) == 1.0).all()
