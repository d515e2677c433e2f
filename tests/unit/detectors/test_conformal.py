"""ConformalCalibrator: uniform p-values under exchangeability, cold start, healthy-only learning, save/restore."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from twinwatch.detectors.conformal import ConformalCalibrator


def _warm(cal: ConformalCalibrator, rng: np.random.Generator, loc: np.ndarray, scale: np.ndarray,
          windows: int) -> None:
    for _ in range(windows):
        cal.update(rng.normal(loc, scale))


def test_p_values_uniform_on_exchangeable_heterogeneous_entities() -> None:
    # every entity is iid through time, with its own bias and noise (the twin is 5 % high on some paths);
    # normalisation makes them exchangeable, so the next window's p-values are U(0, 1)
    rng = np.random.default_rng(7)
    n = 3000
    loc, scale = rng.normal(0, 0.1, n), rng.uniform(0.02, 0.2, n)
    cal = ConformalCalibrator(n, side="upper", pool_size=n * 40)
    _warm(cal, rng, loc, scale, 200)
    p = cal.p_values(rng.normal(loc, scale))
    assert np.isfinite(p).all()
    ks = stats.kstest(p, "uniform")
    assert ks.pvalue > 1e-3, ks


def test_cold_start_p_values_uniform_when_prior_matches_the_population() -> None:
    rng = np.random.default_rng(11)
    prior = rng.standard_t(4, 50_000) * 0.05
    cal = ConformalCalibrator(4000, prior=prior, side="two-sided")
    p = cal.p_values(rng.standard_t(4, 4000) * 0.05)  # first window: no own history at all
    assert stats.kstest(p, "uniform").pvalue > 1e-3
    # and the prior resolves small p-values: a 10-sigma residual gets p near 1/(N+1), far below 1/257
    assert cal.p_values(np.full(4000, 1.0))[0] < 1e-4


def test_two_sided_and_lower_tails() -> None:
    prior = np.linspace(-1, 1, 2001)
    up = ConformalCalibrator(2, prior=prior, side="upper").p_values(np.array([0.9, -0.9]))
    lo = ConformalCalibrator(2, prior=prior, side="lower").p_values(np.array([0.9, -0.9]))
    two = ConformalCalibrator(2, prior=prior, side="two-sided").p_values(np.array([0.9, -0.9]))
    # uniform prior on [-1, 1]: P(X >= 0.9) = 0.05, P(X <= -0.9) = 0.05 (one bin of slack)
    assert up[0] == pytest.approx(0.05, abs=0.01) and up[1] > 0.9
    assert lo[1] == pytest.approx(0.05, abs=0.01) and lo[0] > 0.9
    assert two.tolist() == pytest.approx([0.1, 0.1], abs=0.02)


def test_learns_only_from_healthy_windows() -> None:
    rng = np.random.default_rng(3)
    prior = rng.normal(0, 1, 10_000)
    a = ConformalCalibrator(2, prior=prior)
    b = ConformalCalibrator(2, prior=prior)
    for _ in range(50):
        s = rng.normal(0, 1, 2)
        a.update(s)
        b.update(s)
        assert b.update(np.array([40.0, 50.0]), healthy=np.array([False, False])) == 0  # a fault: not learned
        assert b.update(np.array([np.nan, np.nan])) == 0  # nothing observed: not learned
    assert a.to_bytes() == b.to_bytes()


def test_mondrian_regimes_calibrate_separately() -> None:
    # busy paths (regime 1) err 10x more than quiet ones (regime 0): the same residual is
    # alarming in regime 0 and ordinary in regime 1
    rng = np.random.default_rng(5)
    prior = [rng.normal(0, 0.05, 20_000), rng.normal(0, 0.5, 20_000)]
    cal = ConformalCalibrator(2, regime_edges=[0.85], prior=prior)
    p = cal.p_values(np.array([0.3, 0.3]), regime=cal.regime_of(np.array([0.2, 0.95])))
    assert p[0] < 1e-3 and p[1] > 0.2


def test_unscored_without_prior_until_min_history() -> None:
    rng = np.random.default_rng(1)
    cal = ConformalCalibrator(3, min_history=5)
    assert np.isnan(cal.p_values(np.zeros(3))).all()
    for _ in range(5):  # 5 windows make the history; the pool fills from the next one on
        cal.update(rng.normal(0, 1, 3))
    assert np.isnan(cal.p_values(np.zeros(3))).all()
    for _ in range(5):
        cal.update(rng.normal(0, 1, 3))
    assert np.isfinite(cal.p_values(np.zeros(3))).all()
    assert np.isnan(cal.p_values(np.array([np.nan, 0.0, 0.0]))[0])


def test_state_per_entity_within_budget() -> None:
    cal = ConformalCalibrator(1000, regime_edges=[0.5, 0.7, 0.85, 1.0])
    assert cal.state_bytes_per_entity == 5 * 3 * 4  # three float32 per regime
    ent = ConformalCalibrator(10, pool="entity", bins=512)
    assert ent.state_bytes_per_entity <= 4096 + 64


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 2**31), n=st.integers(1, 40), windows=st.integers(0, 30),
       side=st.sampled_from(["upper", "lower", "two-sided"]), pool=st.sampled_from(["shared", "entity"]),
       with_prior=st.booleans(), tail_fit=st.sampled_from([0.0, 8.0]))
def test_save_restore_is_lossless(seed: int, n: int, windows: int, side: str, pool: str, with_prior: bool,
                                  tail_fit: float) -> None:
    rng = np.random.default_rng(seed)
    kw = {"regime_edges": [0.5, 1.0], "side": side, "pool": pool, "bins": 256, "min_history": 2, "tail_fit": tail_fit}
    if with_prior:
        kw["prior"] = rng.normal(0, 1, 500)
    cal = ConformalCalibrator(n, **kw)  # type: ignore[arg-type]
    for _ in range(windows):
        cal.update(rng.normal(0, 1, n), regime=rng.integers(0, 3, n), healthy=rng.random(n) > 0.2)
    blob = cal.to_bytes()
    back = ConformalCalibrator.from_bytes(blob)
    for name in ("_w", "_mean", "_var", "_pool", "_mu0", "_var0"):
        a, b = getattr(cal, name), getattr(back, name)
        assert a.dtype == b.dtype and np.array_equal(a, b), name
    assert back.to_bytes() == blob
    # identical behaviour afterwards, window after window
    for _ in range(3):
        s, reg = rng.normal(0, 2, n), rng.integers(0, 3, n)
        np.testing.assert_array_equal(cal.p_values(s, reg), back.p_values(s, reg))
        cal.update(s, reg)
        back.update(s, reg)


def test_errors_name_the_rule() -> None:
    with pytest.raises(ValueError, match="side must be one of"):
        ConformalCalibrator(2, side="both")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="strictly increasing"):
        ConformalCalibrator(2, regime_edges=[0.7, 0.5])
    with pytest.raises(ValueError, match=r"scores shape \(3,\) != \(2,\)"):
        ConformalCalibrator(2).p_values(np.zeros(3))
    with pytest.raises(ValueError, match="not a calibrator snapshot"):
        ConformalCalibrator.from_bytes(b"garbage")
    with pytest.raises(ValueError, match="regime index outside"):
        ConformalCalibrator(2, regime_edges=[0.5]).p_values(np.zeros(2), regime=np.array([0, 2]))
    with pytest.raises(ValueError, match="tail_fit must be a finite count >= 0"):
        ConformalCalibrator(2, tail_fit=-1.0)


def test_quantile_grid_prior_does_not_claim_resolution_beyond_its_extremes() -> None:
    grid = np.quantile(np.random.default_rng(0).normal(0, 1, 1_000_000), (np.arange(100) + 0.5) / 100)
    cal = ConformalCalibrator(1, prior=grid, prior_count=1_000_000)
    p_far = cal.p_values(np.array([10.0]))[0]
    # 100 quantiles of a million scores: the 5,000 scores above the top quantile are not resolved
    assert p_far >= 1 / (2 * 100) * 0.99
    assert cal.p_values(np.array([1.2816]))[0] == pytest.approx(0.1, abs=0.02)  # interior: the grid's level


def test_cold_start_from_the_checkpoint_score_grid() -> None:
    # the twin's calibration stores a 225-level grid per load bin (dense in both tails); p-values from it
    # are uniform on data like the calibration set and resolve far below 1/225 in the tails
    from twinwatch.twin.conformal import fit_score_grid

    rng = np.random.default_rng(8)
    load = rng.uniform(0, 1.2, 200_000)
    score = rng.normal(0, np.where(load > 0.85, 0.3, 0.05))
    grid = fit_score_grid(score, load, "log")
    cal = ConformalCalibrator.from_score_grid(5000, grid, side="upper")
    new_load = rng.uniform(0, 1.2, 5000)
    new = rng.normal(0, np.where(new_load > 0.85, 0.3, 0.05))
    p = cal.p_values(new, regime=cal.regime_of(new_load))
    assert stats.kstest(p, "uniform").pvalue > 1e-3
    far = cal.p_values(np.full(5000, 0.25), regime=np.zeros(5000, dtype=int))[0]  # 5 sigma in a quiet bin
    assert far < 1e-4


def test_tail_bins_tell_a_far_score_from_the_pools_rare_outliers() -> None:
    # a healthy pool whose few outliers (a missed fault, a flapping path) sit at z ≈ 25: a score at z = 200 is
    # beyond all of them, so its p-value is the pool's resolution, not the outliers' share (one overflow bin
    # per side gave every score past z_max that share)
    rng = np.random.default_rng(3)
    n = 2000

    def fed(tail_bins: int) -> ConformalCalibrator:
        cal = ConformalCalibrator(n, side="upper", tail_bins=tail_bins, prior=rng.normal(0, 1, 5000))
        r = np.random.default_rng(4)
        for w in range(100):
            s = r.normal(0, 1, n)
            if w % 10 == 0:
                s[w * 5:w * 5 + 5] = 25.0  # 50 outliers among 200,000 scores, each on an entity of its own
            cal.update(s)
        return cal

    with_tails, without = fed(64), fed(0)
    far, near = np.zeros(n), np.zeros(n)
    far[-1], near[-1] = 200.0, 20.0
    total = with_tails._pool[0, 0].sum()
    assert with_tails.p_values(far)[-1] == pytest.approx(1.0 / (total + 1.0), rel=1e-6)
    assert without.p_values(far)[-1] > 40.0 / (total + 1.0)  # the outliers' share: ≈ 50 of the pool
    # below the outliers both layouts agree that 20 is as rare as the outliers
    assert with_tails.p_values(near)[-1] == pytest.approx(without.p_values(near)[-1], rel=1e-9)
    # the slots ascend with z across the core, the tails and the overflow
    z = np.array([-1e9, -5000.0, -100.0, -16.0, -15.99, 0.0, 15.99, 16.0, 100.0, 4096.0, 5000.0, np.inf])
    slots = with_tails._bin_of(z)
    assert np.all(np.diff(slots) >= 0) and slots[0] == 0 and slots[-1] == with_tails._pool.shape[2] - 1


def test_a_snapshot_without_tail_bins_restores_with_the_same_p_values() -> None:
    # a calibrator saved by the previous build (bins + 2 slots, no "tail_bins" in its config) is read into the
    # current layout with its overflow mass in the outermost slots: every p-value it gave, it still gives
    import io
    import json

    rng = np.random.default_rng(5)
    old = ConformalCalibrator(50, side="two-sided", tail_bins=0)
    for _ in range(40):
        s = rng.normal(0, 1, 50)
        s[:2] = rng.choice([-40.0, 40.0], 2)
        old.update(s)
    arrays = dict(np.load(io.BytesIO(old.to_bytes())))
    cfg = json.loads(arrays["config"].tobytes())
    del cfg["tail_bins"], cfg["z_tail"]
    arrays["config"] = np.frombuffer(json.dumps(cfg).encode(), dtype=np.uint8)
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    back = ConformalCalibrator.from_bytes(buf.getvalue())
    assert back.tail_bins == 64
    probe = np.linspace(-300.0, 300.0, 50)
    np.testing.assert_allclose(back.p_values(probe), old.p_values(probe), rtol=1e-12)


def test_scale_floor_keeps_a_constant_residual_from_turning_into_an_enormous_z() -> None:
    # a probe on an idle path: observed and expected both sit at the resolution floor, the residual is exactly 0
    # window after window and its scale collapses; the next quantisation step must stay a modest score
    cal = ConformalCalibrator(3, pool_prior=np.linspace(-4, 4, 81), min_history=2)
    floor = np.array([0.2, 0.2, 0.0])
    for _ in range(20):
        cal.update(np.zeros(3), min_scale=floor)
    z = cal.normalise(np.array([0.2, 0.0, 0.2]), min_scale=floor)
    assert z[:2].tolist() == pytest.approx([1.0, 0.0])
    assert z[2] > 1e9  # no floor: the collapse the floor prevents
    p = cal.p_values(np.array([0.2, 0.0, 0.2]), min_scale=floor)
    assert p[0] > 0.05 and p[2] < 0.02
    with pytest.raises(ValueError, match="tail_bins must be >= 0"):
        ConformalCalibrator(2, tail_bins=-1)


def _fed(n: int, windows: int, tail_fit: float, side: str, seed: int) -> ConformalCalibrator:
    cal = ConformalCalibrator(n, side=side, tail_fit=tail_fit, min_history=4)  # type: ignore[arg-type]
    rng = np.random.default_rng(seed)
    for _ in range(windows):
        cal.update(rng.normal(0.0, 1.0, n))
    return cal


@pytest.mark.parametrize("side", ["upper", "lower"])
def test_fitted_tail_reaches_below_the_empirical_floor_and_stays_conservative_on_gaussian_scores(side: str) -> None:
    # 54 entities, 200 windows: a pool of some 10,600 scores, whose empirical floor 1/(N+1) ≈ 1e-4 is only half a
    # network-wide level α/54 ≈ 1.9e-4: every score beyond the pool's few largest gets that floor; the fitted tail
    # tells a 6-sigma score from a 4-sigma one
    n, sign = 54, (1.0 if side == "upper" else -1.0)
    emp, fit = _fed(n, 200, 0.0, side, 5), _fed(n, 200, 64.0, side, 5)
    total = fit._pool[0, 0].sum()
    far = np.full(n, 6.0 * sign)
    assert emp.p_values(far)[0] == pytest.approx(1.0 / (total + 1.0), rel=1e-9)
    assert 1e-9 < fit.p_values(far)[0] < 0.1 / (total + 1.0)
    # inside the threshold nothing changes; past it the p-value falls with the distance
    near = np.full(n, 1.0 * sign)
    assert fit.p_values(near)[0] == emp.p_values(near)[0]
    ps = [fit.p_values(np.full(n, z * sign))[0] for z in (4.0, 5.0, 6.0, 8.0)]
    assert bool(np.all(np.diff(ps) < 0))
    # fresh Gaussian scores: the rejection rate at small levels is at most the level (the exponential tail is
    # heavier than the Gaussian one: conservative)
    rng = np.random.default_rng(6)
    p = np.concatenate([fit.p_values(rng.normal(0.0, 1.0, n)) for _ in range(4000)])
    for level in (1e-2, 1e-3, 1e-4):
        assert np.mean(p <= level) <= 1.2 * level, level


def test_fitted_tail_waits_for_a_pool_twice_its_threshold_count() -> None:
    # fewer than 2 × 16 scores in the pool (entities are scored from their 5th window): the empirical
    # p-value stands, floored at 1/(N+1); with more, the fitted tail goes below the floor
    small, big = _fed(5, 9, 16.0, "upper", 1), _fed(5, 16, 16.0, "upper", 1)
    n_small, n_big = small._pool[0, 0].sum(), big._pool[0, 0].sum()
    assert n_small < 32.0 <= n_big
    assert small.p_values(np.full(5, 50.0))[0] == pytest.approx(1.0 / (n_small + 1.0))
    assert big.p_values(np.full(5, 50.0))[0] < 1e-3 / (n_big + 1.0)


def test_a_snapshot_whose_tail_fit_is_not_a_number_is_refused_naming_it() -> None:
    import io
    import json

    with np.load(io.BytesIO(ConformalCalibrator(2, tail_fit=8.0).to_bytes())) as z:
        arrays = {k: z[k] for k in z.files}
    cfg = json.loads(arrays["config"].tobytes().decode())
    cfg["tail_fit"] = "many"
    arrays["config"] = np.frombuffer(json.dumps(cfg).encode(), dtype=np.uint8)
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    with pytest.raises(ValueError, match="tail_fit 'many' is not a number"):
        ConformalCalibrator.from_bytes(buf.getvalue())
    # and a fitted tail's p-value is never exactly 0, however far the score
    cal = _fed(54, 200, 64.0, "upper", 5)
    assert 0.0 < cal.p_values(np.full(54, 1e6))[0] < 1e-300
