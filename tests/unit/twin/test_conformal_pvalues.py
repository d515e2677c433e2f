"""Conformal p-values from the stored score grids (twin.conformal) and the `twin calibrate` command."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from scipy import stats

from tests.conftest import shared_data_path
from twinwatch.twin.conformal import (
    LOAD_EDGES,
    fit_calibration,
    fit_mondrian,
    fit_score_grid,
    has_grid,
    interval,
    pvalue,
    regime_bins,
    residual_score,
    score_pvalue,
)

SHIPPED = Path(__file__).resolve().parents[3] / "twin" / "data" / "checkpoints" / "gnn" / "config.json"


def _heteroscedastic(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Log-ratio residuals whose spread grows with the path load, heavy-tailed on busy paths (like the twin's)."""
    load = rng.uniform(0.0, 1.3, n)
    spread = np.where(load < 0.7, 0.02, np.where(load < 1.0, 0.08, 0.3))
    return spread * rng.standard_t(df=4, size=n), load


def test_pvalues_uniform_on_exchangeable_data() -> None:
    """Held-out scores from the calibration distribution give p-values that are Uniform(0, 1) (KS), per bin too."""
    rng = np.random.default_rng(11)
    cal_s, cal_load = _heteroscedastic(rng, 60_000)
    grid = fit_score_grid(cal_s, cal_load, "log")
    test_s, test_load = _heteroscedastic(rng, 20_000)
    for side in ("upper", "lower"):
        p = score_pvalue(test_s, test_load, grid, side)  # type: ignore[arg-type]
        assert stats.kstest(p, "uniform").pvalue > 0.01, side
    p = score_pvalue(test_s, test_load, grid, "upper")
    bins = regime_bins(test_load)
    for k in np.unique(bins):
        assert stats.kstest(p[bins == k], "uniform").pvalue > 0.001, f"bin {k}"
    # the tails are resolved far beyond 1/225: the false-positive rate holds at alpha = 0.001
    assert np.mean(p <= 0.001) <= 0.0016
    assert np.mean(p <= 0.01) == pytest.approx(0.01, abs=0.003)


def test_ignoring_the_load_bins_is_miscalibrated() -> None:
    """Why the grid is Mondrian: the pooled grid over-flags busy paths (sanity check of the per-bin choice)."""
    rng = np.random.default_rng(3)
    cal_s, cal_load = _heteroscedastic(rng, 60_000)
    grid = fit_score_grid(cal_s, cal_load, "log")
    test_s, test_load = _heteroscedastic(rng, 20_000)
    busy = test_load >= 1.0
    pooled = score_pvalue(test_s[busy], None, grid)
    binned = score_pvalue(test_s[busy], test_load[busy], grid)
    assert np.mean(pooled <= 0.01) > 3 * 0.01
    assert np.mean(binned <= 0.01) <= 0.015


def test_ties_are_conservative() -> None:
    """A score distribution with an atom (loss: most paths lose nothing) never gives anti-conservative p-values."""
    rng = np.random.default_rng(5)
    n = 40_000
    atom = rng.uniform(size=2 * n) < 0.7
    s = np.where(atom, 0.0, rng.exponential(0.01, 2 * n))
    grid = fit_score_grid(s[:n], np.zeros(n), "abs")
    p = score_pvalue(s[n:], np.zeros(n), grid)
    for a in (0.001, 0.01, 0.05, 0.2):
        assert np.mean(p <= a) <= a + 3 * np.sqrt(a / n) + 1e-4, a
    assert np.all(p[s[n:] == 0.0] > 0.5)  # zero loss is never surprising here


def test_pvalue_edges_and_nan() -> None:
    grid = fit_score_grid(np.arange(1000.0), np.zeros(1000), "log")
    p = score_pvalue(np.array([np.nan, 0.0, 999.0, 1e9]), np.array([0.1, 0.1, np.nan, 0.1]), grid, "two-sided")
    assert np.isnan(p[0])
    assert p[1] == pytest.approx(2 / 1001)  # at the smallest score: lower p = 1/(n+1), doubled
    assert p[2] == pytest.approx(2 / 1001)  # at the largest (NaN load falls back to the pooled grid)
    assert p[3] == 0.0  # far beyond: the exponential tail underflows, never NaN
    # the tail continues the finite-sample p-value smoothly and decreasingly past the largest score
    beyond = score_pvalue(np.array([999.0, 1000.0, 1010.0, 1100.0]), None, grid)
    assert np.all(np.diff(beyond) < 0) and beyond[1] == pytest.approx(beyond[0], rel=0.2)
    # a difference score (loss) is not extrapolated: beyond its largest score it stays at 1/(n+1)
    flat = fit_score_grid(np.arange(1000.0), np.zeros(1000), "abs")
    assert flat["tail"] == [None] * 5 and flat["tail_all"] is None
    np.testing.assert_allclose(score_pvalue(np.array([999.0, 1e9]), None, flat), 1 / 1001)
    with pytest.raises(ValueError, match="side"):
        score_pvalue(np.zeros(1), None, grid, "both")  # type: ignore[arg-type]
    with pytest.raises(KeyError, match="twin calibrate"):
        pvalue(np.ones(1), np.ones(1), None, {"delay_s": {"lo": -0.1, "hi": 0.1}}, "delay_s")


def test_small_bins_fall_back_to_pooled() -> None:
    rng = np.random.default_rng(0)
    s = rng.normal(size=1000)
    load = np.where(np.arange(1000) < 50, 1.2, 0.1)  # 50 residuals in the top bin, below min_count
    grid = fit_score_grid(s, load, "log", min_count=200)
    assert grid["n"][-1] == 50
    assert grid["values"][-1] == grid["values_all"]
    json.dumps(grid)  # JSON-serialisable


def test_fit_calibration_keeps_the_interval_and_its_coverage() -> None:
    """The interval part of fit_calibration is fit_mondrian's, and it still covers 90 % of fresh data per bin."""
    rng = np.random.default_rng(2)
    n = 50_000
    s, load = _heteroscedastic(rng, n)
    pred = rng.uniform(1.0, 5.0, n)
    obs = {"delay_s": pred * np.exp(s), "jitter_s2": np.full(n, np.nan), "loss_ratio": np.zeros(n)}
    cal = fit_calibration(obs, {"delay_s": pred, "jitter_s2": pred, "loss_ratio": np.zeros(n)}, load, 0.9)
    assert "jitter_s2" not in cal  # no informative jitter label: not calibrated
    ref = fit_mondrian(residual_score(obs["delay_s"], pred, "log"), load, "log", 0.9)
    for key in ("lo", "hi", "n", "lo_all", "hi_all"):
        assert cal["delay_s"][key] == ref[key]
    s2, load2 = _heteroscedastic(rng, n)
    lo, hi = interval(pred, cal["delay_s"], load2)
    y = pred * np.exp(s2)
    inside = (y >= lo) & (y <= hi)
    for k in range(len(LOAD_EDGES) + 1):
        assert np.mean(inside[regime_bins(load2) == k]) == pytest.approx(0.9, abs=0.015)
    # the p-value agrees with the interval: outside the 90 % band <=> two-sided p below ~0.1
    p = pvalue(y, pred, load2, cal, "delay_s", side="two-sided")
    assert np.mean((p <= 0.1) == ~inside) > 0.99


def test_shipped_checkpoint_has_grids_consistent_with_its_intervals() -> None:
    """The shipped GNN calibration carries p-value grids fitted on the same residuals as its 90 % intervals.

    A delay interval fitted on the queueing part (``offset: propagation``: the calibration data has propagation)
    and the delay grid (total delay) differ on the paths with no queueing part to score: at most 0.1 % of them.
    """
    cal = json.loads(SHIPPED.read_text())["calibration"]
    for kpi in ("delay_s", "jitter_s2", "loss_ratio"):
        assert has_grid(cal, kpi)
        g = cal[kpi]["grid"]
        if cal[kpi].get("offset") == "propagation":
            n_grid, n_int = np.asarray(g["n"]), np.asarray(cal[kpi]["n"])
            assert (n_int <= n_grid).all() and (n_grid - n_int <= 1e-3 * n_grid).all()
            continue  # the interval is on another score than the grid: no quantile to compare
        assert g["n"] == cal[kpi]["n"] and g["n_all"] == cal[kpi]["n_all"]
        if kpi == "loss_ratio":
            continue  # loss has atoms: its 95 % point is not a unique score
        hi = np.asarray(cal[kpi]["hi"])
        lo = np.asarray(cal[kpi]["lo"])
        load = np.array([0.25, 0.6, 0.8, 0.9, 1.1])  # one per bin
        p_hi = score_pvalue(hi, load, g, "upper")
        p_lo = score_pvalue(lo, load, g, "lower")
        np.testing.assert_allclose(p_hi, 0.05, atol=0.004)
        np.testing.assert_allclose(p_lo, 0.05, atol=0.004)


def test_shipped_checkpoint_keeps_interval_quantiles_per_regime() -> None:
    """The shipped calibration pools GNNet (no propagation) with operated networks (propagation); its delay and
    jitter intervals carry one quantile set per regime, each fitted on enough paths to fill every load band."""
    from twinwatch.twin.conformal import REGIMES

    cal = json.loads(SHIPPED.read_text())["calibration"]
    for kpi in ("delay_s", "jitter_s2"):
        reg = cal[kpi]["regimes"]
        assert reg["names"] == list(REGIMES)
        for sub in reg["entries"]:
            assert sub is not None and min(sub["n"]) >= 200
        assert sum(sub["n_all"] for sub in reg["entries"]) == cal[kpi]["n_all"]


@pytest.mark.shared
@pytest.mark.slow
def test_calibrate_command_qt_and_checkpoint_copy(tmp_path: Path) -> None:
    """`twin calibrate` on real labelled samples: a JSON file for qt, a model-directory copy for gnn."""
    from twinwatch.stream.cli import cli

    data = shared_data_path("gnnet", "2021", "validation")
    runner = CliRunner()
    out = tmp_path / "qt.json"
    res = runner.invoke(cli, ["twin", "calibrate", str(data), "--model", "qt", "--out", str(out), "--limit", "3"])
    assert res.exit_code == 0, res.output
    doc = json.loads(out.read_text())
    assert doc["model"] == "qt" and doc["calibration_data"]["samples"] == 3
    assert has_grid(doc["calibration"], "delay_s")
    res = runner.invoke(cli, ["twin", "calibrate", str(data), "--model", "qt", "--limit", "1"])
    assert res.exit_code == 2 and "--out" in res.output
    ck = tmp_path / "gnn"
    res = runner.invoke(cli, ["twin", "calibrate", str(data), "--out", str(ck), "--limit", "2", "-q"])
    assert res.exit_code == 0, res.output
    assert (ck / "model.safetensors").read_bytes() == (SHIPPED.parent / "model.safetensors").read_bytes()
    assert json.loads((ck / "config.json").read_text())["calibration_data"]["samples"] == 2
    res = runner.invoke(cli, ["twin", "calibrate", str(tmp_path / "nope")])
    assert res.exit_code == 2


@pytest.mark.shared
@pytest.mark.slow
def test_real_gnn_residuals_split_by_sample() -> None:
    """Real twin residuals: a grid fitted on half of the 2021 validation samples gives near-uniform
    p-values on the other half (split by sample, so sample-level effects make it approximate)."""
    import torch

    from twinwatch.twin.conformal import scenario_path_max_load
    from twinwatch.twin.datasets import iter_samples
    from twinwatch.twin.models import get_model

    torch.set_num_threads(1)
    data = shared_data_path("gnnet", "2021", "validation")
    model = get_model("gnn")
    scores, loads, sample = [], [], []
    for k, s in enumerate(iter_samples(data)):
        pred = model.predict(s.scenario)
        scores.append(residual_score(s.labels.path_delay_s, pred.path_delay_s, "log"))
        loads.append(scenario_path_max_load(s.scenario))
        sample.append(np.full(s.scenario.n_paths, k))
    r, load, smp = np.concatenate(scores), np.concatenate(loads), np.concatenate(sample)
    fit = smp % 2 == 0
    grid = fit_score_grid(r[fit], load[fit], "log")
    p = score_pvalue(r[~fit], load[~fit], grid, "upper")
    p = p[np.isfinite(p)]
    ecdf_gap = np.max(np.abs(np.sort(p) - (np.arange(1, p.size + 1) / p.size)))
    assert ecdf_gap < 0.08
    assert 0.002 <= np.mean(p <= 0.01) <= 0.03


def test_calibrate_command_fits_the_delay_interval_on_the_queueing_part(tmp_path: Path) -> None:
    """Samples with propagation (a random topology over 2,000 km): the delay interval is fitted on
    delay − propagation by default (entry ``offset``), on the total delay with ``--delay-part total``."""
    from twinwatch.stream.cli import cli

    runner = CliRunner()
    data = tmp_path / "ds"
    res = runner.invoke(cli, ["simulate", "dataset", "--topology", "random", "--nodes", "6-8", "--area-km", "2000",
                              "--samples", "3", "--min-packets", "5000", "--max-packets", "20000", "--out", str(data),
                              "-q"])
    assert res.exit_code == 0, res.output
    docs = {}
    for part in ("queueing", "total"):
        out = tmp_path / f"qt-{part}.json"
        res = runner.invoke(cli, ["twin", "calibrate", str(data), "--model", "qt", "--out", str(out),
                                  "--delay-part", part])
        assert res.exit_code == 0, res.output
        docs[part] = json.loads(out.read_text())
    assert docs["queueing"]["calibration_data"]["delay_part"] == "queueing"
    assert docs["queueing"]["calibration"]["delay_s"].get("offset") == "propagation"
    assert docs["total"]["calibration_data"]["delay_part"] == "total"
    assert "offset" not in docs["total"]["calibration"]["delay_s"]
    # the p-value grid stays on the total-delay score either way
    assert has_grid(docs["queueing"]["calibration"], "delay_s") and has_grid(docs["total"]["calibration"], "delay_s")


def test_calibrate_command_stores_quantiles_per_regime(tmp_path: Path) -> None:
    """Calibration data mixing networks without propagation (GNNet-style) and with it (2,000 km): the entry keeps
    the pooled quantiles and adds one set per regime, which ``interval`` picks by each path's propagation."""
    from twinwatch.stream.cli import cli
    from twinwatch.twin.conformal import REGIMES, interval

    runner = CliRunner()
    dirs = []
    for area in ("0", "2000"):
        data = tmp_path / f"ds{area}"
        res = runner.invoke(cli, ["simulate", "dataset", "--topology", "random", "--nodes", "14-16", "--area-km", area,
                                  "--samples", "4", "--min-packets", "2000", "--max-packets", "8000", "--seed", "3",
                                  "--out", str(data), "-q"])
        assert res.exit_code == 0, res.output
        dirs.append(str(data))
    out = tmp_path / "qt.json"
    res = runner.invoke(cli, ["twin", "calibrate", *dirs, "--model", "qt", "--out", str(out)])
    assert res.exit_code == 0, res.output
    entry = json.loads(out.read_text())["calibration"]["delay_s"]
    regimes = entry["regimes"]
    assert regimes["names"] == list(REGIMES)
    counts = [e["n_all"] for e in regimes["entries"]]
    assert min(counts) >= 200 and sum(counts) == entry["n_all"]  # every calibrated path is in one regime
    pred, load = np.ones(2), np.zeros(2)
    lo, hi = interval(pred, entry, load, prop=np.array([0.0, 0.5]))
    for k, e in enumerate(regimes["entries"]):
        want = np.exp(e["hi"][0]) if k == 0 else 0.5 + 0.5 * np.exp(e["hi"][0])
        assert hi[k] == pytest.approx(want)
        assert lo[k] == pytest.approx(np.exp(e["lo"][0]) if k == 0 else 0.5 + 0.5 * np.exp(e["lo"][0]))


@pytest.mark.shared
@pytest.mark.slow
def test_calibrate_command_keeps_the_checkpoints_busy_bands(tmp_path: Path) -> None:
    """One small operated network's samples recalibrating the shipped twin: the load bands they do not fill keep
    the checkpoint's quantiles of the propagation regime (``--sparse-bands checkpoint``, the default)."""
    from twinwatch.stream.cli import cli

    runner = CliRunner()
    data = tmp_path / "op"
    res = runner.invoke(cli, ["simulate", "dataset", "--recipe", "operated", "--topology", "abilene", "--samples",
                              "3", "--seed", "4", "--max-pairs", "60", "--packets-per-flow", "400", "--out", str(data),
                              "-q"])
    assert res.exit_code == 0, res.output
    shipped = json.loads(SHIPPED.read_text())["calibration"]
    docs = {}
    for mode in ("checkpoint", "pooled"):
        out = tmp_path / mode
        res = runner.invoke(cli, ["twin", "calibrate", str(data), "--checkpoint", str(SHIPPED.parent), "--out",
                                  str(out), "--sparse-bands", mode, "--no-progress"])
        assert res.exit_code == 0, res.output
        docs[mode] = json.loads((out / "config.json").read_text())
    entry = docs["checkpoint"]["calibration"]["delay_s"]
    assert docs["checkpoint"]["calibration_data"]["sparse_bands"] == "checkpoint"
    assert docs["checkpoint"]["calibration_data"]["min_windows"] == 10  # 3 samples: no band has 10 windows
    prior = {**shipped["delay_s"], **shipped["delay_s"]["regimes"]["entries"][1]}
    borrowed = [k for k, b in enumerate(entry["borrowed"]) if b]
    assert borrowed == [0, 1, 2, 3, 4]  # 3 samples: no band has 10 windows (nor 200 paths)
    for k in borrowed:
        assert entry["hi"][k] == prior["hi"][k] and entry["lo"][k] == prior["lo"][k]
    assert "borrowed" not in docs["pooled"]["calibration"]["delay_s"]
