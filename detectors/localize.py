"""Localisation of the faulty link: network tomography, then the twin as a what-if oracle.

Given the routing of a :class:`~twin.scenario.Scenario` (CSR ``path_ptr`` /
``path_links``), which paths were found anomalous and which were tested and
found normal, and the observed vs. expected per-path delay, rank the links
that best explain the anomalies in three steps:

1. **Boolean tomography** (:func:`boolean_tomography`): a link on many
   anomalous paths is suspect, a link on normal paths is exonerated. Score
   ``b_e = Σ_{anomalous p ∋ e} 1/|p| − λ · Σ_{normal p ∋ e} 1/|p|`` (``|p|``
   hops; a short anomalous path points at its few links more sharply than a
   long one) — the scoring step of the greedy *tomo* heuristic [^1].
2. **Least-squares tomography** (:func:`lsq_tomography`): extra queueing
   delay adds up along a path, so the per-path delay excess
   ``y_p = observed_p − expected_p`` is modelled as ``R x`` with ``x_e ≥ 0``
   the extra delay of link ``e`` (non-negative least squares on the sparse
   routing matrix ``R``, rows weighted by the twin's calibrated spread,
   solved through the small Gram system of the candidate links).
   The score of a link is the excess it explains on the anomalous paths.
3. **What-if confirmation** (:func:`confirm_with_twin`): for the top-K
   candidates, the twin re-predicts the scenario with that link's capacity
   scaled by each factor (0.75, 0.5, 0.25 by default), batched through
   ``predict_many``; the candidate and factor whose predicted delays best
   match the observed ones (least squares on log delay over the affected
   paths) wins, if it beats the unchanged scenario.

:func:`localize` chains the three and returns a :class:`Localization` with
ranked suspects and a one-line explanation an operator reads.

References
----------
[^1]: N. Duffield, "Network tomography of binary network performance
   characteristics", IEEE Trans. Inf. Theory 52(12), 2006 (the *tomo* algorithm).

Examples
--------
>>> from twinwatch.twin.scenario import Flow, Scenario
>>> sc = Scenario.build(4, [(0, 1, 1e6), (1, 2, 1e6), (2, 3, 1e6), (1, 3, 1e6)],
...                     {(0, 2): [0, 1, 2], (0, 3): [0, 1, 2, 3], (1, 3): [1, 3], (1, 2): [1, 2]},
...                     [Flow(0, 2, 1e5), Flow(0, 3, 1e5), Flow(1, 3, 1e5), Flow(1, 2, 1e5)])
>>> anomalous = np.array([True, True, False, True])   # paths 0->2, 0->3, 1->2 cross link 1->2
>>> loc = localize(sc, anomalous, np.ones(4, bool), np.array([3.0, 4.0, 1.0, 3.0]), np.array([1.0, 2.0, 1.0, 1.0]))
>>> loc.suspects(2)[0]["src"], loc.suspects(2)[0]["dst"]
(1, 2)
>>> loc.explanation
'delay on 3 paths through 1->2'
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

import numpy as np
import scipy.sparse as sp
from scipy.linalg import cholesky, solve_triangular
from scipy.optimize import nnls

if TYPE_CHECKING:
    from twinwatch.twin.models import KPIModel
    from twinwatch.twin.scenario import Scenario

__all__ = [
    "DEFAULT_FACTORS",
    "Diagnosis",
    "Localization",
    "WhatIf",
    "boolean_tomography",
    "confirm_with_twin",
    "degrade_capacity",
    "delay_scale",
    "diagnose",
    "link_names",
    "localize",
    "lsq_tomography",
    "routing_matrix",
    "tomography_scores",
]

DEFAULT_FACTORS: tuple[float, ...] = (0.75, 0.5, 0.25)
"""Capacity factors the what-if step tries on each candidate link."""


def routing_matrix(scenario: Scenario) -> sp.csr_matrix:
    """``(P, E)`` sparse 0/1 routing matrix: ``R[p, e] = 1`` when path ``p`` crosses link ``e``.

    >>> from twinwatch.twin.scenario import Flow, Scenario
    >>> sc = Scenario.build(3, [(0, 1, 1.0), (1, 2, 1.0)], {(0, 2): [0, 1, 2], (1, 2): [1, 2]},
    ...                     [Flow(0, 2, 0.1), Flow(1, 2, 0.1)])
    >>> routing_matrix(sc).toarray().tolist()
    [[1.0, 1.0], [0.0, 1.0]]
    """
    data = np.ones(scenario.path_links.shape[0])
    r = sp.csr_matrix((data, scenario.path_links, scenario.path_ptr), shape=(scenario.n_paths, scenario.n_links))
    r.sum_duplicates()
    r.data[:] = 1.0  # a path crossing a link twice still counts once
    return r


def _mask(x: np.ndarray | None, n: int, name: str, default: bool) -> np.ndarray:
    if x is None:
        return np.full(n, default)
    arr = np.asarray(x, dtype=bool)
    if arr.shape != (n,):
        raise ValueError(f"{name}: expected shape ({n},) (one entry per path), got {arr.shape}")
    return arr


def boolean_tomography(scenario: Scenario, anomalous: np.ndarray, tested: np.ndarray | None = None, *,
                       normal_penalty: float = 0.25, routing: sp.csr_matrix | None = None) -> np.ndarray:
    """``(E,)`` boolean-tomography score of every link (higher = more suspect).

    ``b_e = Σ_{anomalous p ∋ e} 1/|p| − normal_penalty · Σ_{normal p ∋ e} 1/|p|``
    where *normal* means tested and not anomalous (``tested`` ``(P,)`` bool,
    default all). ``anomalous`` is ``(P,)`` bool. The penalty is soft
    (< 1): a degraded link need not push every path through it past the
    detection threshold.
    """
    n_p = scenario.n_paths
    anomalous = _mask(anomalous, n_p, "anomalous", False)
    tested = _mask(tested, n_p, "tested", True)
    r = routing_matrix(scenario) if routing is None else routing
    inv_len = 1.0 / np.maximum(np.asarray(r.sum(axis=1)).ravel(), 1.0)
    normal = tested & ~anomalous
    w = np.where(anomalous, inv_len, 0.0) - normal_penalty * np.where(normal, inv_len, 0.0)
    return np.asarray(r.T @ w).ravel()


def lsq_tomography(scenario: Scenario, excess: np.ndarray, anomalous: np.ndarray, tested: np.ndarray | None = None,
                   *, scale: np.ndarray | None = None,
                   routing: sp.csr_matrix | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Non-negative least-squares tomography of the per-path delay excess.

    Parameters
    ----------
    excess
        ``(P,)`` observed − expected path delay (the scenario's time unit); NaN = not measured.
    anomalous, tested
        ``(P,)`` bool masks (``tested`` default: where ``excess`` is finite).
    scale
        ``(P,)`` noise scale of each path's excess (same unit, > 0), e.g. the
        expected delay times the calibrated relative spread; rows are divided
        by it. Default 1.

    Returns
    -------
    ``(x, explained)``, both ``(E,)``: ``x_e ≥ 0`` the extra delay attributed
    to link ``e`` (time unit), and ``explained_e = x_e · Σ_{anomalous p ∋ e} 1/scale_p``,
    the (scaled) excess the link accounts for on the anomalous paths. Only links on
    at least one anomalous path are unknowns; the rows are every tested path that
    crosses one of them, so normal paths pull a link's ``x`` down.
    """
    n_p, n_e = scenario.n_paths, scenario.n_links
    excess = np.asarray(excess, dtype=np.float64)
    if excess.shape != (n_p,):
        raise ValueError(f"excess: expected shape ({n_p},) (one entry per path), got {excess.shape}")
    anomalous = _mask(anomalous, n_p, "anomalous", False)
    tested = _mask(tested, n_p, "tested", True) & np.isfinite(excess)
    s = np.ones(n_p) if scale is None else np.asarray(scale, dtype=np.float64)
    s = np.where(np.isfinite(s) & (s > 0), s, np.nan)
    tested &= np.isfinite(s)
    anomalous &= tested
    x = np.zeros(n_e)
    explained = np.zeros(n_e)
    if not anomalous.any():
        return x, explained
    r = routing_matrix(scenario) if routing is None else routing
    cols = np.flatnonzero(np.asarray(r[anomalous].sum(axis=0)).ravel() > 0)
    sub = r[:, cols]
    rows = np.flatnonzero(tested & (np.asarray(sub.sum(axis=1)).ravel() > 0))
    a = (sp.diags(1.0 / s[rows]) @ sub[rows]).tocsc()
    b = excess[rows] / s[rows]
    x[cols] = _nnls_gram(a, b)
    w_anom = np.where(anomalous, 1.0 / np.where(tested, s, 1.0), 0.0)
    explained = x * np.asarray(r.T @ w_anom).ravel()
    return x, explained


def _nnls_gram(a: sp.spmatrix, b: np.ndarray) -> np.ndarray:
    """``argmin_{x ≥ 0} ‖a x − b‖`` for a tall sparse ``a`` (rows ≫ columns), through its Gram matrix.

    ``‖a x − b‖² = ‖R x − d‖² + const`` with ``aᵀa = RᵀR`` (Cholesky; a relative ridge of
    1e-10 keeps links with identical path sets solvable) and ``Rᵀ d = aᵀb``, so Lawson–Hanson
    NNLS runs on a square ``(C, C)`` system instead of the ``(rows, C)`` one.
    """
    g = np.asarray((a.T @ a).todense(), dtype=np.float64)
    h = np.asarray(a.T @ b, dtype=np.float64).ravel()
    ridge = 1e-10 * max(float(np.trace(g)) / max(g.shape[0], 1), 1e-300)
    g[np.diag_indices_from(g)] += ridge
    r = cholesky(g, lower=False)
    d = solve_triangular(r, h, trans="T", lower=False)
    x, _ = nnls(r, d, maxiter=max(50, 5 * g.shape[0]))
    return np.maximum(x, 0.0)


def _unit_max(v: np.ndarray) -> np.ndarray:
    m = float(np.max(v)) if v.size else 0.0
    return np.clip(v, 0.0, None) / m if m > 0 else np.zeros_like(v)


def tomography_scores(scenario: Scenario, anomalous: np.ndarray, tested: np.ndarray | None,
                      excess: np.ndarray | None, scale: np.ndarray | None = None, *,
                      normal_penalty: float = 0.25, lsq_weight: float = 0.5,
                      routing: sp.csr_matrix | None = None) -> dict[str, np.ndarray]:
    """``(E,)`` arrays ``boolean``, ``lsq_x``, ``lsq_explained`` and their blend ``score`` in [0, 1].

    ``score = (1 − lsq_weight) · b/max(b) + lsq_weight · explained/max(explained)``
    (negative parts clipped); without ``excess`` the boolean score alone. ``routing``: a
    precomputed :func:`routing_matrix`.
    """
    r = routing_matrix(scenario) if routing is None else routing
    b = boolean_tomography(scenario, anomalous, tested, normal_penalty=normal_penalty, routing=r)
    out: dict[str, np.ndarray] = {"boolean": b}
    if excess is None:
        out["lsq_x"] = out["lsq_explained"] = np.zeros(scenario.n_links)
        out["score"] = _unit_max(b)
        return out
    x, expl = lsq_tomography(scenario, excess, anomalous, tested, scale=scale, routing=r)
    out["lsq_x"], out["lsq_explained"] = x, expl
    out["score"] = (1.0 - lsq_weight) * _unit_max(b) + lsq_weight * _unit_max(expl)
    return out


def degrade_capacity(scenario: Scenario, link: int, factor: float) -> Scenario:
    """A copy of ``scenario`` with link ``link``'s capacity multiplied by ``factor`` (> 0).

    >>> from twinwatch.twin.scenario import Flow, Scenario
    >>> sc = Scenario.build(2, [(0, 1, 1e6)], {(0, 1): [0, 1]}, [Flow(0, 1, 1e5)])
    >>> degrade_capacity(sc, 0, 0.5).link_capacity_bps.tolist(), sc.link_capacity_bps.tolist()
    ([500000.0], [1000000.0])
    """
    if not 0 <= link < scenario.n_links:
        raise ValueError(f"degrade_capacity: link {link} is not in 0..{scenario.n_links - 1}")
    if not factor > 0:
        raise ValueError(f"degrade_capacity: factor must be > 0, got {factor}")
    cap = scenario.link_capacity_bps.copy()
    cap[link] *= factor
    return replace(scenario, link_capacity_bps=cap, meta=dict(scenario.meta))


@dataclass(frozen=True)
class WhatIf:
    """One what-if hypothesis: link ``link`` at ``factor`` × its capacity.

    ``error`` is the mean squared log-delay mismatch (observed vs. the
    re-prediction) over the affected paths, ``baseline_error`` the same for
    the unchanged scenario; ``explained = 1 − error / baseline_error``.
    """

    link: int
    factor: float
    error: float
    baseline_error: float

    @property
    def explained(self) -> float:
        """Fraction of the baseline squared log-delay mismatch this hypothesis removes (≤ 1)."""
        return 1.0 - self.error / self.baseline_error if self.baseline_error > 0 else 0.0


def _log_mse(obs: np.ndarray, pred: np.ndarray, sel: np.ndarray) -> float:
    with np.errstate(divide="ignore", invalid="ignore"):
        d = np.log(obs[sel]) - np.log(pred[sel])
    d = d[np.isfinite(d)]
    return float(np.mean(d * d)) if d.size else float("nan")


def confirm_with_twin(model: KPIModel, scenario: Scenario, observed_delay: np.ndarray, candidates: Sequence[int],
                      *, factors: Sequence[float] = DEFAULT_FACTORS, paths: np.ndarray | None = None,
                      expected_delay: np.ndarray | None = None) -> list[WhatIf]:
    """Re-predict ``scenario`` with each candidate link degraded and score the match to ``observed_delay``.

    Parameters
    ----------
    model
        Any :class:`~twin.models.KPIModel`; ``predict_many`` batches the ``len(candidates)·len(factors)``
        scenarios when the model has it.
    observed_delay
        ``(P,)`` observed mean path delay (the scenario's time unit; NaN = not measured).
    candidates
        Link numbers to try.
    paths
        ``(P,)`` bool: the paths the match is measured on. Default: every path crossing a candidate.
    expected_delay
        ``(P,)`` the model's prediction for the unchanged scenario, if already computed.

    Returns
    -------
    One :class:`WhatIf` per (candidate, factor), best (smallest ``error``) first.
    """
    from twinwatch.twin.models import predict_many

    obs = np.asarray(observed_delay, dtype=np.float64)
    cands = [int(c) for c in candidates]
    if not cands:
        return []
    if paths is None:
        r = routing_matrix(scenario)
        paths = np.asarray(r[:, cands].sum(axis=1)).ravel() > 0
    sel = np.asarray(paths, dtype=bool) & np.isfinite(obs) & (obs > 0)
    hyps = [(c, float(f)) for c in cands for f in factors]
    scenarios = [degrade_capacity(scenario, c, f) for c, f in hyps]
    if expected_delay is None:
        scenarios.append(scenario)
    preds = predict_many(model, scenarios)
    base = (np.asarray(expected_delay, dtype=np.float64) if expected_delay is not None
            else np.asarray(preds[-1].path_delay_s, dtype=np.float64))
    base_err = _log_mse(obs, base, sel)
    out = [WhatIf(c, f, _log_mse(obs, np.asarray(p.path_delay_s, dtype=np.float64), sel), base_err)
           for (c, f), p in zip(hyps, preds, strict=False)]
    return sorted(out, key=lambda w: (np.inf if not np.isfinite(w.error) else w.error, -w.factor))


def link_names(scenario: Scenario) -> list[str]:
    """``"a->b"`` name of every link, with node names from ``scenario.meta["node_names"]`` when present."""
    names = scenario.meta.get("node_names")
    src, dst = scenario.link_src.tolist(), scenario.link_dst.tolist()
    if isinstance(names, list) and len(names) == scenario.n_nodes:
        return [f"{names[a]}->{names[b]}" for a, b in zip(src, dst, strict=True)]
    return [f"{a}->{b}" for a, b in zip(src, dst, strict=True)]


def _factor_words(f: float) -> str:
    words = {0.5: "halved", 0.25: "cut to a quarter", 0.75: "cut by a quarter"}
    for k, v in words.items():
        if abs(f - k) < 1e-9:
            return v
    return f"cut to {100 * f:.0f} %"


@dataclass
class Localization:
    """The ranked suspects of one sample or window.

    Attributes
    ----------
    order
        ``(E,)`` link numbers, best suspect first (the shipped ranking).
    score
        ``(E,)`` score of each link (indexed by link number): ``1 + explained`` (in (1, 2]) for a
        candidate the twin confirmed, else the blended tomography score in [0, 1].
    tomography_order
        ``(E,)`` link numbers ranked by tomography alone (before the what-if step).
    tomography
        The :func:`tomography_scores` arrays.
    what_if
        Every hypothesis tried, best first (empty without a model).
    best
        The confirmed hypothesis, or ``None`` when no degradation beat the unchanged scenario.
    n_anomalous
        Number of anomalous paths.
    explanation
        One line for an operator.
    """

    order: np.ndarray
    score: np.ndarray
    tomography_order: np.ndarray
    tomography: dict[str, np.ndarray]
    link_src: np.ndarray
    link_dst: np.ndarray
    what_if: list[WhatIf] = field(default_factory=list)
    best: WhatIf | None = None
    n_anomalous: int = 0
    explanation: str = ""

    def suspects(self, n: int = 10) -> list[dict[str, Any]]:
        """The ``n`` best suspects as ``{"src", "dst", "link", "score"}`` dicts (links with a positive score)."""
        top = [int(e) for e in self.order[:n] if self.score[e] > 0]
        return [{"src": int(self.link_src[e]), "dst": int(self.link_dst[e]), "link": e,
                 "score": round(float(self.score[e]), 6)} for e in top]


def localize(scenario: Scenario, anomalous: np.ndarray, tested: np.ndarray | None, observed_delay: np.ndarray,
             expected_delay: np.ndarray, *, model: KPIModel | None = None, scale: np.ndarray | None = None,
             top_k: int = 3, factors: Sequence[float] = DEFAULT_FACTORS, normal_penalty: float = 0.25,
             lsq_weight: float = 0.5, what: str = "delay") -> Localization:
    """Rank the links that explain ``anomalous`` paths; confirm the top ``top_k`` with ``model`` when given.

    Parameters
    ----------
    scenario
        The network as the operator believes it is (routing, capacities, traffic).
    anomalous, tested
        ``(P,)`` bool: paths flagged anomalous; paths tested at all (default: all).
    observed_delay, expected_delay
        ``(P,)`` observed and twin-expected mean path delay (scenario time unit).
    model
        The twin for the what-if step; ``None`` ranks by tomography only.
    scale
        ``(P,)`` noise scale of the delay excess (time unit), e.g. expected × calibrated
        relative spread; default: the expected delay (a relative-error weighting).
    top_k, factors
        Candidates sent to the twin, and the capacity factors tried on each.
    normal_penalty, lsq_weight
        See :func:`boolean_tomography` and :func:`tomography_scores`.
    what
        The anomaly in words for the explanation (e.g. ``"delay and loss"``).
    """
    n_p = scenario.n_paths
    anomalous = _mask(anomalous, n_p, "anomalous", False)
    tested = _mask(tested, n_p, "tested", True)
    obs = np.asarray(observed_delay, dtype=np.float64)
    exp = np.asarray(expected_delay, dtype=np.float64)
    if obs.shape != (n_p,) or exp.shape != (n_p,):
        raise ValueError(f"observed_delay {obs.shape} and expected_delay {exp.shape} must both be ({n_p},)")
    sc_ = np.abs(exp) if scale is None else np.asarray(scale, dtype=np.float64)
    r = routing_matrix(scenario)
    tomo = tomography_scores(scenario, anomalous, tested, obs - exp, sc_, normal_penalty=normal_penalty,
                             lsq_weight=lsq_weight, routing=r)
    score = tomo["score"].copy()
    tie = tomo["boolean"]
    tomo_order = np.lexsort((np.arange(score.size), -tie, -score))
    names = link_names(scenario)
    n_anom = int(anomalous.sum())
    loc = Localization(order=tomo_order.copy(), score=score, tomography_order=tomo_order, tomography=tomo,
                       link_src=scenario.link_src, link_dst=scenario.link_dst, n_anomalous=n_anom)
    if n_anom == 0:
        loc.order = tomo_order
        loc.score = np.zeros_like(score)
        loc.explanation = "no anomalous path"
        return loc
    cands = [int(e) for e in tomo_order[:top_k] if score[e] > 0]
    top = cands[0] if cands else int(tomo_order[0])
    on_top = int(np.count_nonzero(anomalous & (np.asarray(r[:, top].todense()).ravel() > 0)))
    loc.explanation = f"{what} on {on_top} path{'s' if on_top != 1 else ''} through {names[top]}"
    if model is None or not cands:
        return loc
    affected = anomalous | (np.asarray(r[:, cands].sum(axis=1)).ravel() > 0)
    tries = confirm_with_twin(model, scenario, obs, cands, factors=factors, paths=affected & tested,
                              expected_delay=exp)
    loc.what_if = tries
    best_per_link: dict[int, WhatIf] = {}
    for w in tries:  # already sorted best first
        best_per_link.setdefault(w.link, w)
    confirmed = [w for w in best_per_link.values() if np.isfinite(w.error) and w.explained > 0]
    if not confirmed:
        loc.explanation += "; no single capacity cut on the top suspects reproduces it in the twin"
        return loc
    for w in confirmed:
        score[w.link] = 1.0 + w.explained
    loc.score = score
    loc.order = np.lexsort((np.arange(score.size), -tie, -score))
    loc.best = confirmed[0]
    best = loc.best
    on_best = int(np.count_nonzero(anomalous & (np.asarray(r[:, best.link].todense()).ravel() > 0)))
    head = f"{what} on {on_best} path{'s' if on_best != 1 else ''} through {names[best.link]}"
    if best.explained >= 0.5:
        loc.explanation = f"{head}; the twin reproduces it if that link's capacity is {_factor_words(best.factor)}"
    else:  # a partial match: say how partial
        loc.explanation = (f"{head}; with that link's capacity {_factor_words(best.factor)} the twin explains "
                           f"{100 * best.explained:.0f} % of the delay mismatch")
    return loc


# ------------------------------------------------------------------------- one sample, end to end
PATH_KPIS: tuple[str, ...] = ("delay_s", "jitter_s2", "loss_ratio")


def delay_scale(expected_delay: np.ndarray, load: np.ndarray, cal: dict[str, Any] | None) -> np.ndarray:
    """``(P,)`` noise scale of the delay excess: expected delay × the calibrated relative spread of its load bin.

    The spread is the 90 % interval's half-width in log space over 1.645 (a normal-equivalent
    σ, from the checkpoint's ``delay_s`` entry); without a calibration, 5 %.
    """
    from twinwatch.twin.conformal import regime_bins

    exp = np.abs(np.asarray(expected_delay, dtype=np.float64))
    entry = (cal or {}).get("delay_s")
    if not isinstance(entry, dict) or not isinstance(entry.get("hi"), list):
        return exp * 0.05
    half = (np.asarray(entry["hi"], dtype=np.float64) - np.asarray(entry["lo"], dtype=np.float64)) / 2.0
    sigma = np.maximum(half / 1.645, 1e-3)
    return exp * sigma[regime_bins(np.asarray(load, dtype=np.float64), entry["edges"])]


@dataclass
class Diagnosis:
    """What :func:`diagnose` found in one sample.

    ``p_values`` and ``flagged`` are ``(P, K)`` over :data:`PATH_KPIS` (NaN / False where not tested);
    ``localization`` is ``None`` when no path is anomalous.
    """

    p_values: np.ndarray
    flagged: np.ndarray
    anomalous: np.ndarray
    tested: np.ndarray
    localization: Localization | None

    @property
    def is_anomalous(self) -> bool:
        """Whether any path KPI was flagged."""
        return bool(self.anomalous.any())


def diagnose(scenario: Scenario, observed: dict[str, np.ndarray], expected: Any, cal: dict[str, Any], *,
             alpha: float = 0.01, method: str = "bh", kpis: Sequence[str] = PATH_KPIS,
             model: KPIModel | None = None, top_k: int = 3, factors: Sequence[float] = DEFAULT_FACTORS,
             side: str = "upper") -> Diagnosis:
    """P-values of the observed path KPIs, multiple testing across the sample, then :func:`localize`.

    Parameters
    ----------
    scenario
        The network as the operator believes it is.
    observed
        KPI name → ``(P,)`` observed path values aligned with ``scenario``'s paths (NaN = not measured).
    expected
        The twin's :class:`~twin.kpis.Prediction` for ``scenario``.
    cal
        A calibration dict with p-value grids (:func:`twinwatch.twin.conformal.fit_calibration`).
    alpha, method
        Level and procedure of :func:`twinwatch.detectors.decision.reject` over every (path, KPI) of the sample.
    kpis
        The KPIs tested (subset of :data:`PATH_KPIS`); a KPI ``cal`` holds no grid for is not tested.
    model, top_k, factors
        What-if confirmation (:func:`localize`); ``model=None`` ranks by tomography only.
    side
        ``"upper"`` (default: only worse than expected is anomalous) or ``"two-sided"``.
    """
    from twinwatch.detectors.decision import reject
    from twinwatch.twin.conformal import has_grid, pvalue, scenario_path_max_load
    from twinwatch.twin.kpis import informative_jitter

    n_p = scenario.n_paths
    load = scenario_path_max_load(scenario)
    pv = np.full((n_p, len(PATH_KPIS)), np.nan)
    for j, kpi in enumerate(PATH_KPIS):
        if kpi not in kpis or kpi not in observed or not has_grid(cal, kpi):
            continue  # not asked for, not observed, or not calibrated: not tested
        obs = np.asarray(observed[kpi], dtype=np.float64)
        if obs.shape != (n_p,):
            raise ValueError(f"observed {kpi}: expected shape ({n_p},), got {obs.shape}")
        if kpi == "jitter_s2":
            obs = np.where(informative_jitter(np.asarray(observed.get("delay_s", np.full(n_p, np.nan))), obs),
                           obs, np.nan)
        pv[:, j] = pvalue(obs, np.asarray(expected.path(kpi), dtype=np.float64), load, cal, kpi,
                          side=side)  # type: ignore[arg-type]
    flagged = reject(pv.ravel(), alpha, method).reshape(pv.shape)  # type: ignore[arg-type]
    anomalous = flagged.any(axis=1)
    tested = np.isfinite(pv).any(axis=1)
    loc = None
    if anomalous.any():
        obs_d = np.asarray(observed.get("delay_s", np.full(n_p, np.nan)), dtype=np.float64)
        exp_d = np.asarray(expected.path_delay_s, dtype=np.float64)
        words = [w for w, j in zip(("delay", "jitter", "loss"), range(len(PATH_KPIS)), strict=True)
                 if flagged[:, j].any()]
        what = " and ".join(words) if len(words) < 3 else "delay, jitter and loss"
        loc = localize(scenario, anomalous, tested, obs_d, exp_d, model=model, scale=delay_scale(exp_d, load, cal),
                       top_k=top_k, factors=factors, what=what)
    return Diagnosis(p_values=pv, flagged=flagged, anomalous=anomalous, tested=tested, localization=loc)
