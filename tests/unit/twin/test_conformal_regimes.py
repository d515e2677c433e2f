"""Calibration that carries over between networks (issue 15, item 5): queueing-part delay scores, size bands.

Synthetic residuals with a known law, so the expected coverage follows from the construction, not from the
code's output: two networks whose *queueing part* is predicted equally well (log-ratio error N(0, 0.1)) but
whose propagation share differs 100-fold. A total-delay log ratio mixes the two scales, so one calibration
interval over-covers one network and under-covers the other; the queueing-part score is the same law on both.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from twinwatch.twin.conformal import (
    REGIMES,
    fit_calibration,
    fit_mondrian,
    fit_mondrian_sized,
    interval,
)
from twinwatch.twin.features import FeatureStats
from twinwatch.twin.models.gnn import GNNConfig, GNNModel, RouteNetFermi
from twinwatch.twin.scenario import Flow, Scenario

Z90 = 1.6449  # N(0, 1) 95 % quantile: a central 90 % interval is ±1.645 σ


def _two_networks(n: int, seed: int) -> dict[str, np.ndarray]:
    """Paths of a 'far' network (propagation 99 % of the delay) and a 'near' one (1 %), same queueing error law."""
    rng = np.random.default_rng(seed)
    far = np.arange(2 * n) < n
    queue_pred = rng.uniform(1e-4, 1e-3, 2 * n)  # predicted queueing part, s
    prop = np.where(far, 99.0, 0.0101) * queue_pred
    queue_true = queue_pred * np.exp(rng.normal(0.0, 0.1, 2 * n))
    return {"far": far, "prop": prop, "y": prop + queue_true, "yhat": prop + queue_pred,
            "load": rng.uniform(0.0, 0.45, 2 * n)}


def _coverage(d: dict[str, np.ndarray], cal: dict, prop: bool) -> tuple[float, float]:
    lo, hi = interval(d["yhat"], cal["delay_s"], d["load"], prop=d["prop"] if prop else None)
    inside = (d["y"] >= lo) & (d["y"] <= hi)
    return float(inside[d["far"]].mean()), float(inside[~d["far"]].mean())


def test_queueing_part_calibration_covers_both_networks() -> None:
    cal_set, test_set = _two_networks(20_000, 1), _two_networks(20_000, 2)
    obs, pred = {"delay_s": cal_set["y"]}, {"delay_s": cal_set["yhat"]}
    total = fit_calibration(obs, pred, cal_set["load"])
    queueing = fit_calibration(obs, pred, cal_set["load"], prop=cal_set["prop"])
    assert "offset" not in total["delay_s"] and queueing["delay_s"]["offset"] == "propagation"
    # the queueing-part quantiles are those of N(0, 0.1): ±0.1645
    assert queueing["delay_s"]["hi"][0] == pytest.approx(Z90 * 0.1, abs=0.006)
    far, near = _coverage(test_set, queueing, prop=True)
    assert abs(far - 0.9) < 0.01 and abs(near - 0.9) < 0.01
    # the total-delay score: the 'far' network's ratios are ~100x tighter, so one interval fits neither
    far, near = _coverage(test_set, total, prop=True)  # no offset in the entry: prop is ignored
    assert far > 0.99 and near < 0.85
    # the p-value grid stays on the total-delay score (what detectors compute from observed and predicted)
    assert queueing["delay_s"]["grid"] == total["delay_s"]["grid"]


def test_queueing_entry_without_prop_is_wider() -> None:
    """Callers that do not know the propagation get the queueing-part factor on the whole delay: conservative."""
    cal = {"kind": "log", "lo": -0.2, "hi": 0.3, "offset": "propagation"}
    pred, prop = np.array([10.0, 5.0]), np.array([8.0, 0.0])
    lo_p, hi_p = interval(pred, cal, prop=prop)
    lo, hi = interval(pred, cal)
    assert np.all(lo <= lo_p) and np.all(hi >= hi_p)
    assert np.allclose(lo_p, [8.0 + 2.0 * np.exp(-0.2), 5.0 * np.exp(-0.2)])  # prop + (pred - prop)·e^q
    assert np.allclose(hi_p, [8.0 + 2.0 * np.exp(0.3), 5.0 * np.exp(0.3)])


def test_fit_calibration_without_prop_is_fit_mondrian() -> None:
    """The default calibration is unchanged: its interval part is fit_mondrian of the log ratios."""
    rng = np.random.default_rng(3)
    y, yh, load = rng.uniform(1, 2, 5000), rng.uniform(1, 2, 5000), rng.uniform(0, 1.2, 5000)
    cal = fit_calibration({"delay_s": y}, {"delay_s": yh}, load)
    ref = fit_mondrian(np.log(y / yh), load, "log")
    assert {k: cal["delay_s"][k] for k in ref} == ref


def test_jitter_informative_relative_to_queueing_part() -> None:
    """With 100 ms of propagation a real jitter label is tiny next to the total delay (σ/delay < 3e-4, under
    twin.kpis.JITTER_CV_FLOOR = 1e-3); relative to the queueing part (σ/part = 0.1) it is informative, so the
    calibration with ``prop`` keeps it."""
    n = 500
    rng = np.random.default_rng(4)
    queue = rng.uniform(1e-4, 2e-4, n)
    prop = np.full(n, 0.1)
    jitter = (0.1 * queue) ** 2
    obs = {"delay_s": prop + queue, "jitter_s2": jitter}
    pred = {"delay_s": prop + queue, "jitter_s2": jitter * 1.1}
    assert "jitter_s2" not in fit_calibration(obs, pred, np.zeros(n))
    cal = fit_calibration(obs, pred, np.zeros(n), prop=prop)
    assert cal["jitter_s2"]["n_all"] == n


def test_sized_mondrian_cells_and_fallbacks() -> None:
    rng = np.random.default_rng(5)
    n = 60_000
    nodes = rng.choice([12.0, 160.0], n)
    load = rng.uniform(0.0, 0.45, n)
    r = rng.normal(0.0, np.where(nodes > 100, 0.3, 0.03))
    e = fit_mondrian_sized(r, load, nodes, "log")
    assert e["size_edges"] == [25.0, 50.0, 100.0] and len(e["hi_size"]) == 4 and len(e["hi_size"][0]) == 5
    assert e["hi_size"][0][0] == pytest.approx(Z90 * 0.03, rel=0.05)
    assert e["hi_size"][3][0] == pytest.approx(Z90 * 0.3, rel=0.05)
    assert e["hi_size"][1][0] == e["hi"][0]  # no network of 25-50 nodes: the load band's quantile over all sizes
    pred = np.ones(2)
    _, hi = interval(pred, e, np.array([0.2, 0.2]), np.array([12.0, 160.0]))
    assert hi[0] == pytest.approx(np.exp(e["hi_size"][0][0])) and hi[1] == pytest.approx(np.exp(e["hi_size"][3][0]))
    _, hi_n = interval(pred, e, np.array([0.2, 0.2]))  # size unknown: the per-load quantiles (older readers)
    assert np.allclose(hi_n, np.exp(e["hi"][0]))
    cal = fit_calibration({"delay_s": np.exp(r)}, {"delay_s": np.ones(n)}, load, nodes=nodes)
    assert cal["delay_s"]["hi_size"][3][0] == pytest.approx(e["hi_size"][3][0])


@pytest.mark.parametrize(("func", "args"), [
    (fit_mondrian_sized, (np.zeros(3), np.zeros(3), np.zeros(2), "log")),
    (fit_calibration, ({"delay_s": np.ones(3)}, {"delay_s": np.ones(3)}, np.zeros(3), 0.9)),
])
def test_shape_errors_name_the_function(func: object, args: tuple) -> None:
    kwargs = {"prop": np.zeros(2)} if func is fit_calibration else {}
    with pytest.raises(ValueError, match=func.__name__):  # type: ignore[attr-defined]
        func(*args, **kwargs)  # type: ignore[operator]


@pytest.mark.filterwarnings("ignore::twinwatch.twin.models.bounds.OutOfDomainWarning")  # an untrained toy net
def test_gnn_model_applies_queueing_part_intervals() -> None:
    """GNNModel.predict passes each path's propagation to a queueing-part calibration entry."""
    links = [(0, 1, 1e9, 0.004), (1, 2, 1e9, 0.006), (1, 0, 1e9, 0.004), (2, 1, 1e9, 0.006)]
    sc = Scenario.build(3, links, {(0, 2): [0, 1, 2], (2, 0): [2, 1, 0]},
                        [Flow(0, 2, 4e8, 8000.0), Flow(2, 0, 2e8, 8000.0)], queue_pkts=1000.0)
    torch.manual_seed(0)
    cal = {"delay_s": {"kind": "log", "lo": -0.1, "hi": 0.2, "offset": "propagation"}}
    model = GNNModel(RouteNetFermi(GNNConfig(hidden=8, iterations=2, readout_hidden=8)), FeatureStats.identity(),
                     cal)
    p = model.predict(sc)
    lo, hi = p.path_interval["delay_s"]
    prop = np.array([0.010, 0.010])  # 4 ms + 6 ms on both paths
    part = p.path_delay_s - prop
    assert np.all(part > 0)
    assert np.allclose(lo, prop + part * np.exp(-0.1)) and np.allclose(hi, prop + part * np.exp(0.2))
    # an entry without the offset keeps the old, whole-delay interval
    model_old = GNNModel(model.net, FeatureStats.identity(), {"delay_s": {"kind": "log", "lo": -0.1, "hi": 0.2}})
    _, hi_o = model_old.predict(sc).path_interval["delay_s"]
    assert np.allclose(hi_o, p.path_delay_s * np.exp(0.2))


def _mixed_regimes(n_abstract: int, n_operated: int, seed: int) -> dict[str, np.ndarray]:
    """GNNet-like paths (no propagation, queueing-part log error N(0, 0.02)) and operated ones (propagation 90 %
    of the delay, queueing-part log error N(0, 0.1)): the twin errs 5x more, relatively, on the second kind."""
    rng = np.random.default_rng(seed)
    n = n_abstract + n_operated
    operated = np.arange(n) >= n_abstract
    queue_pred = rng.uniform(1e-4, 1e-3, n)
    prop = np.where(operated, 9.0 * queue_pred, 0.0)
    queue_true = queue_pred * np.exp(rng.normal(0.0, np.where(operated, 0.1, 0.02)))
    return {"operated": operated, "prop": prop, "y": prop + queue_true, "yhat": prop + queue_pred,
            "load": rng.uniform(0.0, 0.45, n)}


def test_regime_quantiles_cover_each_regime() -> None:
    """Pooled quantiles dominated by the abstract paths under-cover the operated ones; per-regime ones cover both."""
    cal_set, test_set = _mixed_regimes(40_000, 4_000, 6), _mixed_regimes(40_000, 4_000, 7)
    cal = fit_calibration({"delay_s": cal_set["y"]}, {"delay_s": cal_set["yhat"]}, cal_set["load"],
                          prop=cal_set["prop"])
    entry = cal["delay_s"]
    reg = entry["regimes"]
    assert reg["names"] == list(REGIMES) == ["abstract", "propagation"]
    assert reg["entries"][0]["hi"][0] == pytest.approx(Z90 * 0.02, rel=0.06)
    assert reg["entries"][1]["hi"][0] == pytest.approx(Z90 * 0.1, rel=0.06)
    assert reg["entries"][1]["n_all"] == 4_000 and entry["n_all"] == 44_000

    def coverage(with_prop: bool) -> tuple[float, float]:
        lo, hi = interval(test_set["yhat"], entry, test_set["load"], prop=test_set["prop"] if with_prop else None)
        inside = (test_set["y"] >= lo) & (test_set["y"] <= hi)
        return float(inside[~test_set["operated"]].mean()), float(inside[test_set["operated"]].mean())

    abstract, operated = coverage(with_prop=True)
    assert abs(abstract - 0.9) < 0.01 and abs(operated - 0.9) < 0.02
    # the top level stays the pooled fit of the queueing-part log ratios (readers that do not know prop)
    pooled = fit_mondrian(np.log((cal_set["y"] - cal_set["prop"]) / (cal_set["yhat"] - cal_set["prop"])),
                          cal_set["load"], "log")
    assert entry["hi"] == pytest.approx(pooled["hi"]) and entry["hi_all"] == pytest.approx(pooled["hi_all"])
    one_regime = {k: v for k, v in entry.items() if k != "regimes"}
    lo, hi = interval(test_set["yhat"], one_regime, test_set["load"], prop=test_set["prop"])
    inside = (test_set["y"] >= lo) & (test_set["y"] <= hi)
    assert inside[test_set["operated"]].mean() < 0.6  # what the shipped pooled calibration did on operated networks


def test_regime_fallbacks() -> None:
    """A regime under min_count keeps the pooled quantiles; data of one regime store no regimes."""
    d = _mixed_regimes(5_000, 150, 8)
    cal = fit_calibration({"delay_s": d["y"]}, {"delay_s": d["yhat"]}, d["load"], prop=d["prop"])
    entries = cal["delay_s"]["regimes"]["entries"]
    assert entries[0] is not None and entries[1] is None
    lo, hi = interval(d["yhat"], cal["delay_s"], d["load"], prop=d["prop"])
    part = d["yhat"] - d["prop"]
    op = d["operated"]
    assert np.allclose(hi[op], d["prop"][op] + part[op] * np.exp(cal["delay_s"]["hi"][0]))
    assert np.allclose(lo[op], d["prop"][op] + part[op] * np.exp(cal["delay_s"]["lo"][0]))
    assert np.allclose(lo[~op], d["yhat"][~op] * np.exp(entries[0]["lo"][0]))
    only_abstract = _mixed_regimes(5_000, 0, 9)
    cal = fit_calibration({"delay_s": only_abstract["y"]}, {"delay_s": only_abstract["yhat"]},
                          only_abstract["load"], prop=only_abstract["prop"])
    assert "regimes" not in cal["delay_s"]
    with pytest.raises(ValueError, match="delay_part"):
        fit_calibration({"delay_s": d["y"]}, {"delay_s": d["yhat"]}, d["load"], prop=d["prop"], delay_part="x")


def test_total_delay_part_keeps_the_regimes() -> None:
    """``delay_part="total"``: the delay interval on the total delay (no offset), still per regime."""
    d = _mixed_regimes(5_000, 5_000, 10)
    cal = fit_calibration({"delay_s": d["y"]}, {"delay_s": d["yhat"]}, d["load"], prop=d["prop"],
                          delay_part="total")
    assert "offset" not in cal["delay_s"]
    hi_abstract, hi_operated = (e["hi_all"] for e in cal["delay_s"]["regimes"]["entries"])
    assert hi_operated < hi_abstract  # 90 % propagation: the total-delay log error is ~10x smaller


@pytest.mark.filterwarnings("ignore::twinwatch.twin.models.bounds.OutOfDomainWarning")  # an untrained toy net
def test_gnn_model_picks_the_regime_of_each_path() -> None:
    """A calibration with per-regime quantiles (and no queueing offset): GNNModel.predict still passes each path's
    propagation, so a network with propagation gets the 'propagation' regime's quantiles."""
    sub = {"lo": [-0.3], "hi": [0.3], "lo_all": -0.3, "hi_all": 0.3, "n": [500], "n_all": 500}
    cal = {"jitter_s2": {"kind": "log", "edges": [], "lo": [-0.1], "hi": [0.1], "lo_all": -0.1, "hi_all": 0.1,
                         "regimes": {"key": "propagation", "names": list(REGIMES), "entries": [None, sub]}}}
    torch.manual_seed(0)
    model = GNNModel(RouteNetFermi(GNNConfig(hidden=8, iterations=2, readout_hidden=8)), FeatureStats.identity(), cal)
    for prop_s, factor in ((0.004, 0.3), (0.0, 0.1)):
        links = [(0, 1, 1e9, prop_s), (1, 0, 1e9, prop_s)]
        sc = Scenario.build(2, links, {(0, 1): [0, 1], (1, 0): [1, 0]},
                            [Flow(0, 1, 4e8, 8000.0), Flow(1, 0, 2e8, 8000.0)], queue_pkts=1000.0)
        p = model.predict(sc)
        _, hi = p.path_interval["jitter_s2"]
        assert np.allclose(hi, p.path_jitter_s2 * np.exp(factor))


def test_sparse_bands_borrow_the_earlier_calibration_of_the_same_regime() -> None:
    """Recalibrating on one network's quiet windows: the busy bands it does not fill keep the earlier entry's
    quantiles of the network's regime, not the new data's pooled (quiet-path) ones; an earlier entry on another
    score (no queueing offset) is not comparable and is not used."""
    many = _mixed_regimes(40_000, 40_000, 11)  # many networks of both regimes, loads 0-1.08: every band filled
    earlier = fit_calibration({"delay_s": many["y"]}, {"delay_s": many["yhat"]}, many["load"] * 2.4, prop=many["prop"])
    prior = earlier["delay_s"]["regimes"]["entries"][1]  # the propagation regime, every band filled
    assert min(prior["n"]) >= 200
    quiet = _mixed_regimes(0, 3_000, 12)  # one operated network, all paths below 0.45 load
    cal = fit_calibration({"delay_s": quiet["y"]}, {"delay_s": quiet["yhat"]}, quiet["load"], prop=quiet["prop"],
                          fallback=earlier)
    entry = cal["delay_s"]
    assert entry["borrowed"] == [False, True, True, True, True]
    assert entry["hi"][1:] == prior["hi"][1:] and entry["lo"][1:] == prior["lo"][1:]
    assert entry["hi"][0] != prior["hi"][0]  # its own band is its own
    pooled = fit_calibration({"delay_s": quiet["y"]}, {"delay_s": quiet["yhat"]}, quiet["load"], prop=quiet["prop"])
    assert "borrowed" not in pooled["delay_s"] and pooled["delay_s"]["hi"][1:] == [pooled["delay_s"]["hi_all"]] * 4
    total = fit_calibration({"delay_s": quiet["y"]}, {"delay_s": quiet["yhat"]}, quiet["load"], prop=quiet["prop"],
                            delay_part="total", fallback=earlier)  # earlier is on the queueing part: not comparable
    assert "borrowed" not in total["delay_s"]


def test_a_band_seen_in_few_windows_borrows_even_with_many_paths() -> None:
    """``min_groups``: 300 paths of 3 windows in the busy band are 3 observations, not 300; with 10 windows
    required that band keeps the earlier quantiles while the quiet band (2,000 paths of 40 windows) is its own."""
    rng = np.random.default_rng(13)
    quiet_w, busy_w = np.repeat(np.arange(40), 50), np.repeat(np.arange(40, 43), 100)
    load = np.concatenate([rng.uniform(0.0, 0.45, quiet_w.size), rng.uniform(0.9, 0.95, busy_w.size)])
    r = rng.normal(0.0, 0.05, load.size)
    earlier = {"lo": [-0.1, -0.2, -0.3, -0.4, -0.5], "hi": [0.1, 0.2, 0.3, 0.4, 0.5]}
    groups = np.concatenate([quiet_w, busy_w])
    paths_only = fit_mondrian(r, load, "log", fallback=earlier, groups=groups)
    assert paths_only["borrowed"] == [False, True, True, False, True]  # 300 paths: the busy band is its own
    windows = fit_mondrian(r, load, "log", fallback=earlier, groups=groups, min_groups=10)
    assert windows["borrowed"] == [False, True, True, True, True]
    assert windows["hi"][3] == 0.4 and windows["hi"][0] == paths_only["hi"][0]
    cal = fit_calibration({"delay_s": np.exp(r)}, {"delay_s": np.ones(r.size)}, load, groups=groups, min_groups=10,
                          fallback={"delay_s": {"kind": "log", "coverage": 0.9, "edges": [0.5, 0.7, 0.85, 1.0],
                                                **earlier}})
    assert cal["delay_s"]["borrowed"] == [False, True, True, True, True]


@pytest.mark.parametrize("regimes", ["garbage", {"entries": [None]}, {"entries": [None, 3]}, {"names": []}])
def test_a_malformed_regimes_entry_is_refused_by_name(regimes: object) -> None:
    """A damaged ``regimes`` (hand-edited or truncated checkpoint) raises a ValueError naming it, in ``interval``
    and when it is offered as a recalibration's fallback, rather than an IndexError on some path later."""
    cal = {"kind": "log", "edges": [], "lo": [-0.1], "hi": [0.1], "lo_all": -0.1, "hi_all": 0.1, "regimes": regimes}
    with pytest.raises(ValueError, match="regimes"):
        interval(np.ones(2), cal, np.zeros(2), prop=np.array([0.0, 1.0]))
    d = _mixed_regimes(0, 500, 14)
    with pytest.raises(ValueError, match="regimes"):
        fit_calibration({"delay_s": d["y"]}, {"delay_s": d["yhat"]}, d["load"], prop=d["prop"],
                        fallback={"delay_s": {**cal, "offset": "propagation", "coverage": 0.9}})
