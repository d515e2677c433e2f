"""Score ``twinwatch detect series`` on the labelled Microsoft cloud-monitoring series, next to baselines.

Runs the same code as the command (``read_series_csv`` + ``twinwatch.detectors.series.score_many``)
on every CSV under ``../shared/data/anomaly/microsoft-cloud-monitoring`` and, in the
same run, two classic online baselines computed on the same rows:

* ``3sigma``: ``|x − mean| / std`` over the previous ``W`` rows, flag at ≥ 3;
* ``median_mad``: ``|x − median| / (1.4826 · MAD)`` over the previous ``W`` rows, flag at ≥ 3.

All three are online (a row's score uses earlier rows only). Thresholds are fixed rules
chosen before looking at any result: twinwatch flags ``anomaly_score ≥ 1 − α`` with
``α = 0.01``; the baselines flag at 3 (their textbook rule), ``W = 96`` rows.
``best_f1`` sweeps the threshold on the labels themselves: an **upper reference**, not
an achievable operating point.

Metrics, pooled over all series (sums of counts):

* point-wise precision / recall / F1 over rows;
* event-wise: a labelled event is a run of label-1 rows (runs closer than ``tol`` rows are
  merged); it is detected if a flag falls in ``[start − 1, end + tol]`` rows. A flag run
  (flags closer than ``tol`` rows merged) is a true detection if it overlaps such a window.
  Event precision = true flag runs / flag runs; recall = detected events / events. ``tol = 3``.

Usage::

    python bench/detect_series_eval.py [--data DIR] [--json bench/notes/detect_series_eval.json]

NAB's scorer is not on PyPI (the ``nab`` repository is Python 2-era code run from a
checkout), so no public streaming benchmark is scored here.
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from pathlib import Path

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from _report import machine_info, write_report  # noqa: E402

from twinwatch.detectors.series import score_many  # noqa: E402
from twinwatch.stream.commands.detect import read_series_csv  # noqa: E402

DEFAULT_DATA = ROOT.parent / "shared" / "data" / "anomaly" / "microsoft-cloud-monitoring"
ALPHA = 0.01
W = 96
TOL = 3


def trailing_scores(x: np.ndarray, w: int = W) -> tuple[np.ndarray, np.ndarray]:
    """``(3-sigma, median/MAD)`` scores of each row against the previous ``w`` finite rows (0 before ``w``)."""
    n = x.size
    s3 = np.zeros(n)
    smad = np.zeros(n)
    if n <= w:
        return s3, smad
    win = sliding_window_view(x, w)[:-1]  # win[i] = x[i : i + w], previous rows of row i + w
    cur = x[w:]
    with np.errstate(invalid="ignore", divide="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN windows (malformed rows)
        mu = np.nanmean(win, axis=1)
        sd = np.nanstd(win, axis=1)
        med = np.nanmedian(win, axis=1)
        mad = 1.4826 * np.nanmedian(np.abs(win - med[:, None]), axis=1)
        a = np.abs(cur - mu) / sd
        b = np.abs(cur - med) / mad
    # a flat window (sd = 0) scores any change as infinitely unusual, no change as 0
    a = np.where(sd > 0, a, np.where(np.abs(cur - mu) > 0, np.inf, 0.0))
    b = np.where(mad > 0, b, np.where(np.abs(cur - med) > 0, np.inf, 0.0))
    s3[w:] = np.nan_to_num(a, nan=0.0)
    smad[w:] = np.nan_to_num(b, nan=0.0)
    return s3, smad


def _runs(mask: np.ndarray, gap: int) -> list[tuple[int, int]]:
    """Runs ``(start, end)`` (inclusive) of True, merging runs closer than ``gap`` rows."""
    idx = np.flatnonzero(mask)
    if idx.size == 0:
        return []
    breaks = np.flatnonzero(np.diff(idx) > gap)
    starts = np.concatenate([[idx[0]], idx[breaks + 1]])
    ends = np.concatenate([idx[breaks], [idx[-1]]])
    return list(zip(starts.tolist(), ends.tolist(), strict=True))


def counts(flags: np.ndarray, labels: np.ndarray) -> dict[str, int]:
    """Point and event counts of one series."""
    tp = int(np.sum(flags & labels))
    fp = int(np.sum(flags & ~labels))
    fn = int(np.sum(~flags & labels))
    events = _runs(labels, TOL)
    flag_runs = _runs(flags, TOL)
    n = labels.size
    cover = np.zeros(n, dtype=bool)
    for s, e in events:
        cover[max(0, s - 1) : min(n, e + TOL + 1)] = True
    detected = sum(bool(flags[max(0, s - 1) : min(n, e + TOL + 1)].any()) for s, e in events)
    true_runs = sum(bool(cover[s : e + 1].any()) for s, e in flag_runs)
    return {"tp": tp, "fp": fp, "fn": fn, "events": len(events), "detected": detected,
            "flag_runs": len(flag_runs), "true_runs": true_runs, "normal_rows": int(np.sum(~labels))}


def summarise(c: dict[str, int]) -> dict[str, float]:
    def f1(p: float, r: float) -> float:
        return 2 * p * r / (p + r) if p + r > 0 else 0.0

    pp = c["tp"] / (c["tp"] + c["fp"]) if c["tp"] + c["fp"] else 0.0
    pr = c["tp"] / (c["tp"] + c["fn"]) if c["tp"] + c["fn"] else 0.0
    ep = c["true_runs"] / c["flag_runs"] if c["flag_runs"] else 0.0
    er = c["detected"] / c["events"] if c["events"] else 0.0
    return {"point_precision": pp, "point_recall": pr, "point_f1": f1(pp, pr), "event_precision": ep,
            "event_recall": er, "event_f1": f1(ep, er),
            "false_flags_per_1000_normal_rows": 1000.0 * c["fp"] / max(c["normal_rows"], 1)}


def evaluate(scores: list[np.ndarray], labels: list[np.ndarray], thr: float) -> dict[str, float]:
    tot: dict[str, int] = {}
    for s, lab in zip(scores, labels, strict=True):
        for k, v in counts(s >= thr, lab).items():
            tot[k] = tot.get(k, 0) + v
    return {**summarise(tot), **{k: float(v) for k, v in tot.items()}}


def best_f1(scores: list[np.ndarray], labels: list[np.ndarray], key: str) -> dict[str, float]:
    """Threshold sweep on the labels (upper reference only)."""
    allv = np.concatenate(scores)
    fin = allv[np.isfinite(allv)]
    grid = np.unique(np.quantile(fin, np.linspace(0.80, 0.9999, 120)))
    grid = np.concatenate([grid, [np.inf]]) if np.isinf(allv).any() else grid
    best = {"threshold": float("nan"), key: -1.0}
    for t in grid:
        r = evaluate(scores, labels, float(t))
        if r[key] > best[key]:
            best = {"threshold": float(t), **r}
    return best


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA)
    ap.add_argument("--json", type=Path, default=ROOT / "bench" / "notes" / "detect_series_eval.json")
    args = ap.parse_args()
    if not args.data.is_dir():
        print(f"skipped: {args.data} not found (needs ../shared/data)", file=sys.stderr)
        return 0
    files = sorted(args.data.rglob("*.csv"))
    sfs = [read_series_csv(p) for p in files]
    labels = []
    for sf in sfs:
        i_lab = [h.strip().lower() for h in sf.header].index("label")
        lab = np.array([r[i_lab].strip().strip('"') == "1" if len(r) > i_lab else False for r in sf.rows])
        labels.append(lab)
    t0 = time.process_time()
    tw = score_many([(sf.ts, sf.value) for sf in sfs])
    t_tw = time.process_time() - t0
    base = [trailing_scores(sf.value) for sf in sfs]
    methods = {"twinwatch": (tw, 1.0 - ALPHA), "3sigma": ([b[0] for b in base], 3.0),
               "median_mad": ([b[1] for b in base], 3.0)}
    report: dict[str, object] = {
        "data": str(args.data), "files": len(files), "rows": int(sum(len(sf.rows) for sf in sfs)),
        "labelled_rows": int(sum(lab.sum() for lab in labels)),
        "series_with_labels": int(sum(bool(lab.any()) for lab in labels)),
        "malformed_rows": int(sum(sf.n_malformed for sf in sfs)), "alpha": ALPHA, "baseline_window_rows": W,
        "event_tolerance_rows": TOL, "twinwatch_cpu_seconds": round(t_tw, 2), "methods": {}}
    for name, (sc, thr) in methods.items():
        report["methods"][name] = {  # type: ignore[index]
            "fixed_rule": {"threshold": thr, **evaluate(sc, labels, thr)},
            "best_point_f1": best_f1(sc, labels, "point_f1"),
            "best_event_f1": best_f1(sc, labels, "event_f1"),
        }
    report["machine"] = machine_info()
    write_report(report, args.json, echo=False, indent=2, nan_as_null=True)
    print(f"{report['files']} series, {report['rows']} rows, {report['labelled_rows']} labelled anomalous rows, "
          f"twinwatch {t_tw:.1f} s CPU")
    print("| method | rule | point P / R / F1 | event P / R / F1 | false flags / 1000 normal rows |")
    print("|---|---|---|---|---|")
    for name, res in report["methods"].items():  # type: ignore[union-attr]
        for rule in ("fixed_rule", "best_point_f1", "best_event_f1"):
            r = res[rule]
            print(f"| {name} | {rule} (thr {r['threshold']:.4g}) | {r['point_precision']:.3f} / "
                  f"{r['point_recall']:.3f} / {r['point_f1']:.3f} | {r['event_precision']:.3f} / "
                  f"{r['event_recall']:.3f} / {r['event_f1']:.3f} | {r['false_flags_per_1000_normal_rows']:.1f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
