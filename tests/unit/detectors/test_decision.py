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
