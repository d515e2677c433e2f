"""Fit the time shape of real backbone traffic (Abilene) that the testbed generator ships.

Reads the real Abilene traffic matrices in ``../shared/data/traffic/abilene``
(developer-side only: the package never reads ../shared; it ships the fitted
constants in ``twin/testbed/shape.py``) and fits:

- the **diurnal and weekly shape** of the network's total traffic: a Fourier
  series on log(total) with harmonics of 24 h (k = 1..3) and one of 168 h, on
  ``abilene_hourly.txt`` (200 consecutive hours, 144 = 12 × 12 entries a row);
- the **per-pair noise** around it: for each origin-destination pair, the
  standard deviation and lag-1 autocorrelation of log(x_ij(t) / (pair mean ×
  network shape(t))), at 1 h (hourly file) and at 5 min
  (``abilene_5min_bps.txt``, 36 consecutive 5-minute matrices in bit/s), pooled
  over the pairs that carry traffic in every interval, weighted by volume;
- the **gravity fit**: how much of the mean matrix a gravity model (outer
  product of row and column totals) explains (R² in log space) and the
  log-normal spread of the pair-specific factor that gravity leaves.

Run::

    .venv/bin/python bench/fit_traffic_shape.py --json bench/notes/traffic_shape.json
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from _report import write_report

ROOT = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "traffic" / "abilene"
DAILY_HARMONICS = 3


def fourier_design(t_h: np.ndarray, daily: int = DAILY_HARMONICS) -> np.ndarray:
    """``(T, 1 + 2·daily + 2)`` design matrix: intercept, daily harmonics, one weekly harmonic."""
    cols = [np.ones_like(t_h)]
    for k in range(1, daily + 1):
        w = 2 * np.pi * k * t_h / 24.0
        cols += [np.cos(w), np.sin(w)]
    w = 2 * np.pi * t_h / 168.0
    cols += [np.cos(w), np.sin(w)]
    return np.stack(cols, axis=1)


def pair_noise(x: np.ndarray, shape: np.ndarray) -> dict[str, float]:
    """Volume-weighted std and lag-1 autocorrelation of the log pair factor around ``shape``."""
    keep = (x > 0).all(axis=0)
    logx = np.log(x[:, keep]) - np.log(shape)[:, None]
    dev = logx - logx.mean(axis=0)
    sd = dev.std(axis=0, ddof=1)
    ac = (dev[1:] * dev[:-1]).sum(axis=0) / np.maximum((dev**2).sum(axis=0), 1e-12)
    w = x[:, keep].mean(axis=0)
    w = w / w.sum()
    return {"pairs_used": int(keep.sum()), "log_sd": float((w * sd).sum()), "lag1_autocorr": float((w * ac).sum()),
            "log_sd_median": float(np.median(sd))}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--json", type=Path, default=None, help="write the fitted constants here")
    args = ap.parse_args()
    hourly = np.loadtxt(ROOT / "abilene_hourly.txt")
    five = np.loadtxt(ROOT / "abilene_5min_bps.txt")
    t = np.arange(hourly.shape[0], dtype=np.float64)
    total = hourly.sum(axis=1)
    X = fourier_design(t)
    coef, *_ = np.linalg.lstsq(X, np.log(total), rcond=None)
    fit = X @ coef
    resid = np.log(total) - fit
    r2 = 1 - resid.var() / np.log(total).var()
    shape = np.exp(fit - coef[0])
    peak_hour = float(t[np.argmax(np.exp(X[:24] @ coef))] % 24)
    mean_m = hourly.mean(axis=0).reshape(12, 12)
    np.fill_diagonal(mean_m, 0.0)
    row, col = mean_m.sum(axis=1), mean_m.sum(axis=0)
    grav = np.outer(row, col) / mean_m.sum()
    off = ~np.eye(12, dtype=bool) & (mean_m > 0)
    lr = np.log(mean_m[off] / grav[off])
    five_total = five.sum(axis=1)
    out = {
        "source": "Abilene TMs (Zhang), abilene_hourly.txt (200 h) and abilene_5min_bps.txt (36 × 5 min)",
        "diurnal_weekly": {
            "model": "log total(t_h) = c0 + sum_k a_k cos(2 pi k t/24) + b_k sin(2 pi k t/24) (k=1..3) "
                     "+ a_w cos(2 pi t/168) + b_w sin(2 pi t/168); t in hours from the series start",
            "coef": [float(c) for c in coef[1:]],
            "r2_log": float(r2),
            "residual_log_sd": float(resid.std(ddof=1)),
            "peak_to_trough": float(shape.max() / shape.min()),
            "peak_hour_from_start": peak_hour,
        },
        "pair_noise_hourly": pair_noise(hourly, total / total.mean()),
        "pair_noise_5min": pair_noise(five, five_total / five_total.mean()),
        "gravity": {"r2_log": float(1 - lr.var() / np.log(mean_m[off]).var()),
                    "pair_factor_log_sd": float(lr.std(ddof=1)), "pairs": int(off.sum())},
        "five_min_total_bps": {"mean": float(five_total.mean()), "cv": float(five_total.std() / five_total.mean())},
    }
    write_report(out, args.json, indent=2)


if __name__ == "__main__":
    main()
