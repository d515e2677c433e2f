"""Multiple testing (BH, Holm, Bonferroni) and k-of-m persistence with hysteresis."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from twinwatch.detectors.decision import Persistence, reject


def _draw(rng: np.random.Generator, m: int, m1: int, shift: float) -> tuple[np.ndarray, np.ndarray]:
    """``m`` one-sided z-tests, the first ``m1`` false nulls shifted by ``shift``."""
    z = rng.normal(0, 1, m)
    z[:m1] += shift
    truth = np.zeros(m, dtype=bool)
    truth[:m1] = True
    return stats.norm.sf(z), truth


@pytest.mark.parametrize("m1", [0, 50, 500])
def test_bh_controls_fdr_on_simulated_nulls(m1: int) -> None:
    rng = np.random.default_rng(2024)
    q, m, draws = 0.05, 5000, 200
    fdp = []
    for _ in range(draws):
        p, truth = _draw(rng, m, m1, 3.0)
        r = reject(p, q, "bh")
        fdp.append((r & ~truth).sum() / max(r.sum(), 1))
    # BH's guarantee for independent tests: E[FDP] = q * m0 / m <= q; 200 draws give a standard error < 0.01
    assert np.mean(fdp) <= q * (m - m1) / m + 0.01


def test_holm_and_bonferroni_control_fwer() -> None:
    rng = np.random.default_rng(99)
    alpha, draws = 0.05, 400
    any_false = {"holm": 0, "bonferroni": 0}
    for _ in range(draws):
        p, truth = _draw(rng, 2000, 20, 4.0)
        for method in any_false:
            any_false[method] += bool((reject(p, alpha, method) & ~truth).any())  # type: ignore[arg-type]
    for method, k in any_false.items():
        # FWER <= alpha; binomial(400, 0.05) exceeds 32 with probability < 0.5 %
        assert k / draws <= 0.08, method


def test_bh_matches_scipy_adjusted_p_values() -> None:
    rng = np.random.default_rng(4)
    p, _ = _draw(rng, 1000, 100, 2.5)
    assert np.array_equal(reject(p, 0.1, "bh"), stats.false_discovery_control(p, method="bh") <= 0.1)


@settings(max_examples=60, deadline=None)
@given(p=st.lists(st.one_of(st.floats(0, 1), st.just(float("nan"))), min_size=0, max_size=60),
       alpha=st.floats(0.001, 0.5))
def test_procedures_are_nested(p: list[float], alpha: float) -> None:
    # Bonferroni ⊆ Holm ⊆ BH (BH's step-up thresholds alpha*k/m dominate Holm's alpha/(m-k+1))
    arr = np.array(p, dtype=np.float64)
    bonf, holm, bh = (reject(arr, alpha, m) for m in ("bonferroni", "holm", "bh"))  # type: ignore[arg-type]
    assert not (bonf & ~holm).any() and not (holm & ~bh).any()
    assert not bh[np.isnan(arr)].any()
    for r in (bonf, holm, bh):  # rejections are the smallest p-values, all at most alpha
        kept = arr[~r & ~np.isnan(arr)]
        if r.any():
            assert arr[r].max() <= alpha
            assert kept.size == 0 or arr[r].max() <= kept.min()


def test_reject_rejects_bad_arguments() -> None:
    with pytest.raises(ValueError, match="alpha must be in"):
        reject(np.array([0.1]), 1.5)
    with pytest.raises(ValueError, match="method must be one of"):
        reject(np.array([0.1]), 0.05, "fdr")  # type: ignore[arg-type]


def _run(pers: Persistence, flags: str) -> str:
    """Feed a string of 0/1 flags for one entity; return the active state after each window."""
    return "".join(str(int(pers.update(np.array([c == "1"])).active[0])) for c in flags)


@pytest.mark.parametrize(("k", "m", "r", "flags", "active"), [
    (1, 1, 1, "0110", "0110"),                  # plain threshold: fire and resolve at once
    (2, 3, 2, "1010001", "0011000"),            # 2 of 3 fires at the 3rd window, 2 clean windows resolve
    (2, 3, 2, "1001001", "0000000"),            # flags never 2 within 3 windows: never fires
    (3, 3, 1, "1110111", "0010001"),            # resolved entities must re-earn k flags
    (2, 2, 3, "110100111", "011111111"),        # hysteresis: one clean window is not enough to resolve
])
def test_persistence_state_machine(k: int, m: int, r: int, flags: str, active: str) -> None:
    assert _run(Persistence(1, k=k, m=m, r=r), flags) == active


def test_persistence_reports_transitions_once_and_unobserved_windows_do_not_resolve() -> None:
    pers = Persistence(3, k=1, m=1, r=2)
    ch = pers.update(np.array([True, True, False]))
    assert ch.fired.tolist() == [True, True, False] and not ch.resolved.any()
    ch = pers.update(np.array([True, False, False]), observed=np.array([True, False, True]))
    assert not ch.fired.any() and not ch.resolved.any()  # entity 1 silent: still firing
    pers.update(np.array([False, False, False]))
    ch = pers.update(np.array([False, False, False]))
    assert ch.resolved.tolist() == [True, True, False] and not ch.active.any()


def test_persistence_save_restore() -> None:
    rng = np.random.default_rng(0)
    a = Persistence(100, k=3, m=5, r=2)
    for _ in range(7):
        a.update(rng.random(100) < 0.4)
    b = Persistence.from_bytes(a.to_bytes())
    for _ in range(10):
        f = rng.random(100) < 0.4
        ca, cb = a.update(f), b.update(f)
        assert all(np.array_equal(x, y) for x, y in zip(ca, cb, strict=True))
    with pytest.raises(ValueError, match="1 <= k <= m <= 64"):
        Persistence(1, k=4, m=3)


# ------------------------------------------------------------------ calibrated k-of-m persistence
def _ar_windows(rng: np.random.Generator, n: int, windows: int, rho: float) -> np.ndarray:
    """``(windows, n)`` one-sided p-values of AR(1) z-scores per entity: consecutive windows correlated by ``rho``."""
    z = rng.normal(size=n)
    out = np.empty((windows, n))
    for w in range(windows):
        z = rho * z + np.sqrt(1.0 - rho**2) * rng.normal(size=n)
        out[w] = stats.norm.sf(z)
    return out


def test_calibrated_persistence_p_values_are_uniform_on_exchangeable_windows() -> None:
    from twinwatch.detectors.decision import CalibratedPersistence

    rng = np.random.default_rng(11)
    n = 5000
    cp = CalibratedPersistence(n, k=2, m=3)
    for _ in range(100):  # 500,000 statistics learned (the Markov prior's 256 are then 0.03 % of the pool)
        cp.update(rng.uniform(size=n))
        cp.learn(np.ones(n, dtype=bool))
    for _ in range(3):  # three new windows: every entity's statistic is made of unseen p-values only
        fresh = cp.update(rng.uniform(size=n))
    # (conservative by at most one slot of the pool, 2.3 % in t: KS distance ~0.015, within the test's power)
    assert stats.kstest(fresh, "uniform").pvalue > 0.01
    # the exact null of t = 2nd smallest of 3 uniforms is 3t² − 2t³: the learned p-value follows it where the
    # pool has scores (t = 0.01: 150 of 500,000; + what is left of the prior), never below it, and stays far
    # under the Markov bound 1.5 t; at t = 0.001 (1.5 expected scores) it is extrapolated, conservatively
    t = np.array([1e-3, 1e-2, 0.1])
    exact, p = 3 * t**2 - 2 * t**3, cp.p_of(t)
    assert np.all(p >= exact) and np.allclose(p[1:], exact[1:], rtol=0.35)
    assert np.all(p[:2] <= 0.05 * 1.5 * t[:2])


@pytest.mark.parametrize("rho", [0.0, 0.7, 0.95])
def test_bh_on_calibrated_persistence_spends_its_level_on_nulls_whatever_the_correlation(rho: float) -> None:
    # the rate of null windows with a rejection is what the operator configured (within [0.5, 1.5] x alpha),
    # from independent (rho = 0) to strongly correlated consecutive windows; the any-dependence bound
    # (Markov) spends a fraction of it
    from twinwatch.detectors.decision import CalibratedPersistence
    from twinwatch.detectors.twin_detector import persistence_bound

    rng = np.random.default_rng(12)
    n, alpha, burn = 200, 0.05, 400
    pv = _ar_windows(rng, n, 2400, rho)
    cp = CalibratedPersistence(n)
    cal = bound = 0
    for w, p in enumerate(pv):
        pc = cp.update(p)
        if w >= burn:
            cal += int(reject(pc, alpha).any())
            bound += int(reject(persistence_bound(cp.statistic(), 2, 3), alpha).any())
        cp.learn(np.ones(n, dtype=bool))
    rate = cal / (len(pv) - burn)
    assert 0.5 * alpha <= rate <= 1.5 * alpha
    assert bound / (len(pv) - burn) < 0.8 * rate


def test_calibrated_persistence_extrapolates_the_tail_below_the_pool_resolution() -> None:
    # a strong anomaly is not held at the pool's 1/(W+1): below the anchor the p-value falls linearly with t
    from twinwatch.detectors.decision import CalibratedPersistence

    cp = CalibratedPersistence(3)
    p = cp.p_of(np.array([1e-9, 1e-8, 1e-3]))
    assert p[0] < 1e-6 and p[1] == pytest.approx(10 * p[0], rel=1e-6)
    assert p[2] == pytest.approx(1.5e-3, rel=0.05)  # cold start: the Markov prior, min(1, m·t/k)


def test_calibrated_persistence_save_restore_is_lossless_and_refuses_a_foreign_pool() -> None:
    from twinwatch.detectors.decision import CalibratedPersistence

    rng = np.random.default_rng(13)
    a = CalibratedPersistence(50, k=2, m=4)
    for _ in range(9):
        a.update(rng.uniform(size=50))
        a.learn(rng.random(50) < 0.8)
    b = CalibratedPersistence.from_bytes(a.to_bytes())
    for _ in range(5):
        p = np.where(rng.random(50) < 0.1, np.nan, rng.uniform(size=50))
        assert np.array_equal(a.update(p), b.update(p), equal_nan=True)
        keep = rng.random(50) < 0.5
        assert a.learn(keep) == b.learn(keep)
    assert np.array_equal(a.statistic(), b.statistic())
    with pytest.raises(ValueError, match="1 <= k <= m <= 64"):
        CalibratedPersistence(1, k=3, m=2)
    with pytest.raises(ValueError, match=r"p-values shape \(4,\) != \(50,\)"):
        a.update(np.ones(4))


# ------------------------------------------------------------------ effective number of tests
def test_effective_tests_make_bh_spend_its_level_on_dependent_nulls() -> None:
    # 400 one-sided z-tests sharing a common factor (correlation 0.8, as paths sharing a link): plain BH at
    # 0.05 rejects a third as many null windows as configured; gated by the learned rho, about 0.05
    from twinwatch.detectors.decision import EffectiveTests

    rng = np.random.default_rng(14)
    alpha, windows, burn, r = 0.05, 3000, 300, 0.8
    eff = EffectiveTests()
    plain = scaled = 0
    for w in range(windows):
        p = stats.norm.sf(np.sqrt(r) * rng.normal() + np.sqrt(1 - r) * rng.normal(size=400))
        if w >= burn:
            plain += int(reject(p, alpha).any())
            scaled += int(eff.reject(p, alpha).any())
        eff.update(p)
    n = windows - burn
    assert eff.rho < 0.2  # far fewer than 400 effective tests
    assert 0.5 * alpha <= scaled / n <= 1.5 * alpha
    assert plain / n < 0.5 * alpha


def test_effective_tests_grow_more_conservative_under_faults_and_round_trip() -> None:
    from twinwatch.detectors.decision import EffectiveTests

    rng = np.random.default_rng(15)
    a = EffectiveTests()
    for _ in range(500):
        a.update(rng.uniform(size=100))
    calm = a.rho
    for _ in range(60):  # an hour-long fault would do the same: its windows' smallest p-values are tiny
        p = rng.uniform(size=100)
        p[:3] = 1e-6
        a.update(p)
    assert a.rho > 2 * calm  # the window statistic is small during the fault: the gate tightens
    a.update(np.full(100, np.nan))  # nothing tested: nothing learned
    b = EffectiveTests.from_bytes(a.to_bytes())
    assert b.rho == a.rho and b.update(np.array([0.3])) == a.update(np.array([0.3]))
    assert np.array_equal(np.isnan(b.scale(np.array([np.nan, 0.5]))), [True, False])
    with pytest.raises(ValueError, match="rho_min"):
        EffectiveTests(rho_min=2.0)
