"""Tomography and what-if localisation (detectors.localize) on hand-built and bundled networks."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from twinwatch.detectors.localize import (
    boolean_tomography,
    confirm_with_twin,
    degrade_capacity,
    delay_scale,
    diagnose,
    link_names,
    localize,
    lsq_tomography,
    routing_matrix,
)
from twinwatch.twin.conformal import fit_calibration
from twinwatch.twin.scenario import Flow, Scenario

NSFNET = Path(__file__).resolve().parents[3] / "twin" / "data" / "nsfnet.yaml"


def _grid_network() -> tuple[Scenario, int]:
    """A 3x3 grid, all-pairs shortest-path routes (row first, then column); returns it and the number of link 4->5."""
    import networkx as nx

    g = nx.grid_2d_graph(3, 3)
    idx = {n: i for i, n in enumerate(sorted(g.nodes))}
    links = [(idx[a], idx[b], 1e6) for a, b in g.edges] + [(idx[b], idx[a], 1e6) for a, b in g.edges]
    routes: dict[tuple[int, int], list[int]] = {}
    for a in g.nodes:
        for b in g.nodes:
            if a == b:
                continue
            # row first, then column: deterministic, not all shortest paths tie-broken by networkx
            path = [a]
            r, c = a
            while c != b[1]:
                c += 1 if b[1] > c else -1
                path.append((r, c))
            while r != b[0]:
                r += 1 if b[0] > r else -1
                path.append((r, c))
            routes[(idx[a], idx[b])] = [idx[n] for n in path]
    flows = [Flow(s, d, 1e4) for s, d in routes]
    sc = Scenario.build(9, links, routes, flows)
    return sc, sc.link_index()[(4, 5)]


def _on_link(sc: Scenario, link: int) -> np.ndarray:
    return np.asarray(routing_matrix(sc)[:, link].todense()).ravel() > 0


def test_inflated_link_ranks_first() -> None:
    """Every path through link 4->5 gets +3 time units: boolean, least-squares and blended rankings all put it first."""
    sc, link = _grid_network()
    on = _on_link(sc, link)
    expected = 1.0 + sc.path_len.astype(float)
    observed = expected + np.where(on, 3.0, 0.0)
    assert 2 <= on.sum() < sc.n_paths // 4
    b = boolean_tomography(sc, on)
    assert int(np.argmax(b)) == link
    x, explained = lsq_tomography(sc, observed - expected, on)
    assert int(np.argmax(explained)) == link
    # the excess is exactly 3 on the link's paths and 0 elsewhere: NNLS puts all of it on that link
    assert x[link] == pytest.approx(3.0, rel=1e-3)
    assert np.delete(x, link).max() < 0.05
    loc = localize(sc, on, None, observed, expected)
    assert loc.order[0] == link and loc.tomography_order[0] == link
    assert loc.explanation == f"delay on {int(on.sum())} paths through 4->5"
    assert loc.suspects(1)[0] == {"src": 4, "dst": 5, "link": link, "score": 1.0}


def test_normal_paths_exonerate() -> None:
    """Two links carry every anomalous path; the one that also carries normal paths is exonerated."""
    links = [(0, 1, 1e6), (1, 2, 1e6), (2, 3, 1e6), (1, 0, 1e6), (2, 1, 1e6), (3, 2, 1e6)]
    routes = {(0, 2): [0, 1, 2], (0, 3): [0, 1, 2, 3], (1, 2): [1, 2], (1, 3): [1, 2, 3]}
    sc = Scenario.build(4, links, routes, [Flow(s, d, 1e4) for s, d in routes])
    anomalous = np.array([True, True, False, False])  # both through 0->1 and 1->2
    l01, l12 = sc.link_index()[(0, 1)], sc.link_index()[(1, 2)]
    without = boolean_tomography(sc, anomalous, tested=anomalous)  # nothing known to be normal
    assert without[l01] == pytest.approx(without[l12])
    with_normal = boolean_tomography(sc, anomalous)  # 1->2 and 1->3 tested and normal
    assert with_normal[l01] > with_normal[l12]
    expected = np.array([2.0, 3.0, 1.0, 2.0])
    observed = expected + np.array([1.0, 1.0, 0.0, 0.0])
    x, _ = lsq_tomography(sc, observed - expected, anomalous)
    assert x[l01] == pytest.approx(1.0, rel=1e-3) and x[l12] < 1e-3  # normal 1->2 pins link 1->2 at zero
    assert localize(sc, anomalous, None, observed, expected).order[0] == l01


def test_no_anomaly_no_suspect() -> None:
    sc, _ = _grid_network()
    d = np.ones(sc.n_paths)
    loc = localize(sc, np.zeros(sc.n_paths, bool), None, d, d)
    assert loc.suspects() == [] and loc.explanation == "no anomalous path"
    with pytest.raises(ValueError, match="one entry per path"):
        boolean_tomography(sc, np.zeros(3, bool))


def test_what_if_picks_link_and_magnitude_qt() -> None:
    """On NSFNet with the qt model, observations made with one link at 25 % capacity are matched by (link, 0.25)."""
    from twinwatch.twin.datasets.scenario_yaml import load_scenario_yaml
    from twinwatch.twin.models import get_model

    sc = load_scenario_yaml(NSFNET)
    model = get_model("qt")
    util = sc.link_load_bps() / sc.link_capacity_bps
    link = int(np.argsort(util)[-6])  # a loaded link, not the busiest
    assert 0.2 < util[link] < 1.0
    truth = model.predict(degrade_capacity(sc, link, 0.25))
    others = [int(e) for e in np.argsort(util)[-3:] if int(e) != link][:2]
    tries = confirm_with_twin(model, sc, truth.path_delay_s, [*others, link], factors=(0.75, 0.5, 0.25))
    assert len(tries) == 9
    best = tries[0]
    assert (best.link, best.factor) == (link, 0.25)
    assert best.error < 1e-12 < best.baseline_error and best.explained == pytest.approx(1.0)
    # the other magnitudes on the right link explain part of it, not all
    partial = [w for w in tries if w.link == link and w.factor != 0.25]
    assert all(0 < w.explained < 1 for w in partial)


def test_diagnose_nsfnet_qt_end_to_end() -> None:
    """p-values → BH → tomography → what-if on the bundled NSFNet: the degraded link comes first, at 25 %.

    At 10 Gb/s queueing delay is microseconds against milliseconds of propagation: only a
    cut that overloads the link (offered 0.49 → 1.96) moves the path KPIs past the noise.
    """
    from twinwatch.twin.datasets.scenario_yaml import load_scenario_yaml
    from twinwatch.twin.models import get_model

    sc = load_scenario_yaml(NSFNET)
    model = get_model("qt")
    expected = model.predict(sc)
    cal = _noise_calibration(sc, expected)
    util = sc.link_load_bps() / sc.link_capacity_bps
    link = int(np.argsort(util)[-4])
    assert 0.4 < util[link] < 0.5
    truth = model.predict(degrade_capacity(sc, link, 0.25))
    obs = {k: np.asarray(truth.path(k), dtype=float) for k in ("delay_s", "jitter_s2", "loss_ratio")}
    d = diagnose(sc, obs, expected, cal, alpha=0.01, model=model)
    assert d.is_anomalous
    assert d.localization is not None and d.localization.order[0] == link
    assert d.localization.best is not None and d.localization.best.factor == 0.25
    name = link_names(sc)[link]
    assert name in d.localization.explanation and "cut to a quarter" in d.localization.explanation
    # flagged paths all cross the link (the other paths are unchanged in the qt model)
    assert np.all(_on_link(sc, link)[d.anomalous])
    # the unchanged network is not flagged
    clean = {k: np.asarray(expected.path(k), dtype=float) for k in obs}
    assert not diagnose(sc, clean, expected, cal, model=model).is_anomalous


def _noise_calibration(sc: Scenario, expected: object) -> dict:
    """Calibration of a model that is right within a few per cent: synthetic residuals around qt's own predictions."""
    from twinwatch.twin.conformal import scenario_path_max_load

    rng = np.random.default_rng(0)
    reps = 400
    load = np.tile(scenario_path_max_load(sc), reps)
    pred = {k: np.tile(np.asarray(expected.path(k), dtype=float), reps)  # type: ignore[attr-defined]
            for k in ("delay_s", "jitter_s2", "loss_ratio")}
    obs = {"delay_s": pred["delay_s"] * np.exp(rng.normal(0, 0.03, load.size)),
           "jitter_s2": pred["jitter_s2"] * np.exp(rng.normal(0, 0.1, load.size)),
           "loss_ratio": np.clip(pred["loss_ratio"] + rng.normal(0, 1e-4, load.size), 0, 1)}
    return fit_calibration(obs, pred, load)


def test_delay_scale_follows_calibrated_spread() -> None:
    cal = {"delay_s": {"lo": [-0.1, -0.5], "hi": [0.1, 0.5], "edges": [0.5]}}
    s = delay_scale(np.array([2.0, 2.0]), np.array([0.1, 0.9]), cal)
    np.testing.assert_allclose(s, 2.0 * np.array([0.1, 0.5]) / 1.645)
    np.testing.assert_allclose(delay_scale(np.array([2.0]), np.array([0.1]), None), [0.1])


def test_partial_what_if_is_worded_as_partial() -> None:
    """When no tried magnitude is close (only a 10 % cut is tried for a 75 % one), the explanation says how much
    of the mismatch the twin explains instead of claiming it reproduces it."""
    from twinwatch.twin.datasets.scenario_yaml import load_scenario_yaml
    from twinwatch.twin.models import get_model

    sc = load_scenario_yaml(NSFNET)
    model = get_model("qt")
    util = sc.link_load_bps() / sc.link_capacity_bps
    link = int(np.argsort(util)[-4])
    expected = model.predict(sc).path_delay_s
    observed = model.predict(degrade_capacity(sc, link, 0.25)).path_delay_s
    on = _on_link(sc, link)
    loc = localize(sc, on, None, observed, expected, model=model, top_k=1, factors=(0.9,))
    assert loc.best is not None and loc.best.link == link and 0 < loc.best.explained < 0.5
    assert f"the twin explains {100 * loc.best.explained:.0f} % of the delay mismatch" in loc.explanation
    assert "reproduces" not in loc.explanation
