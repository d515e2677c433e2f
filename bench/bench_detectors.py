"""Time one detection window: 40,000 paths × 3 KPIs + 1,000 links × 2 KPIs, on one core.

Per window, for every (entity, KPI): residual (:mod:`twinwatch.detectors.residuals`), conformal
p-value with Mondrian regimes (:class:`~detectors.conformal.ConformalCalibrator`),
Benjamini–Hochberg over all 122,000 tests of the window, the persistence test of the twin detector
(each test's 2-of-3-windows p-value, :func:`~detectors.twin_detector.persistent_p_values`, and a
second Benjamini–Hochberg on those) with r-clean-windows hysteresis, CUSUM on
``Φ⁻¹(1 − p)``, and the online update from the windows not flagged. Localisation and
twin inference are excluded. Observed and expected values are synthetic (log-normal
twin errors; after the warm-up 0.5 % of paths degrade by +35 % delay), which does not change the cost.

Reports CPU time per window (``time.process_time``, median and p95 over ``--windows``
after ``--warmup``) and the state bytes per (entity, KPI).

Usage::

    OMP_NUM_THREADS=1 taskset -c 0 python bench/bench_detectors.py [--windows 50] [--json FILE]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from _report import machine_info, write_report  # noqa: E402

from twinwatch.detectors.conformal import ConformalCalibrator  # noqa: E402
from twinwatch.detectors.cusum import Cusum, z_from_p  # noqa: E402
from twinwatch.detectors.decision import Persistence, reject  # noqa: E402
from twinwatch.detectors.residuals import residual  # noqa: E402
from twinwatch.detectors.twin_detector import persistent_p_values  # noqa: E402

LOAD_EDGES = (0.5, 0.7, 0.85, 1.0)
PATH_KPIS = ("delay_s", "jitter_s2", "loss_ratio")
LINK_KPIS = ("utilization", "drop_pps")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--paths", type=int, default=40_000)
    ap.add_argument("--links", type=int, default=1_000)
    ap.add_argument("--windows", type=int, default=50)
    ap.add_argument("--warmup", type=int, default=30)
    ap.add_argument("--json", type=Path, default=ROOT / "bench" / "notes" / "bench_detectors.json")
    args = ap.parse_args()
    rng = np.random.default_rng(0)
    n_p, n_l = args.paths, args.links

    # the twin's calibration residuals per KPI (what the checkpoint stores), one grid per regime
    priors = {"delay_s": 0.03, "jitter_s2": 0.12, "loss_ratio": 0.3, "utilization": 0.02, "drop_pps": 1e-4}
    cals = {k: ConformalCalibrator(n_p if k in PATH_KPIS else n_l, regime_edges=LOAD_EDGES,
                                   prior=np.sort(rng.normal(0, s, 20_000)))
            for k, s in priors.items()}
    n_tests = n_p * len(PATH_KPIS) + n_l * len(LINK_KPIS)
    pers = Persistence(n_tests, k=1, m=1, r=2)
    history = np.ones((3, n_tests))  # each test's p-values of its last 3 windows
    cusum = Cusum(n_tests, k=0.5, h=5.0)

    exp_delay = rng.uniform(1e-3, 5e-2, n_p)
    exp_jit = exp_delay**2 * rng.uniform(0.01, 0.1, n_p)
    exp_loss = np.where(rng.random(n_p) < 0.1, rng.uniform(1e-4, 1e-2, n_p), 0.0)
    path_load = rng.uniform(0.1, 1.1, n_p)
    cap = rng.choice([1e9, 1e10, 4e10], n_l)
    exp_util = rng.uniform(0.05, 0.95, n_l)
    pkt_cap = cap / 8000.0
    degraded = rng.random(n_p) < 0.005
    fault = [0.0]  # log-excess of delay on the degraded paths; the fault starts after the warm-up

    def window() -> tuple[float, int]:
        obs_delay = exp_delay * np.exp(rng.normal(0, 0.03, n_p) + fault[0] * degraded)
        obs_jit = exp_jit * np.exp(rng.normal(0, 0.12, n_p))
        obs_loss = np.clip(exp_loss * np.exp(rng.normal(0, 0.3, n_p)), 0, 1)
        obs_util = exp_util + rng.normal(0, 0.02, n_l)
        obs_drop = np.abs(rng.normal(0, 1.0, n_l))
        t0 = time.process_time()
        reg_p = np.searchsorted(LOAD_EDGES, path_load, side="right")
        reg_l = np.searchsorted(LOAD_EDGES, exp_util, side="right")
        res = {
            "delay_s": residual("delay_s", obs_delay, exp_delay),
            "jitter_s2": residual("jitter_s2", obs_jit, exp_jit),
            "loss_ratio": residual("loss_ratio", obs_loss, exp_loss),
            "utilization": residual("utilization", obs_util, exp_util),
            "drop_pps": residual("drop_pps", obs_drop, np.zeros(n_l), capacity=pkt_cap),
        }
        regs = {k: (reg_p if k in PATH_KPIS else reg_l) for k in res}
        p = np.concatenate([cals[k].p_values(res[k], regs[k]) for k in res])
        flagged = reject(p, 0.01, "bh")
        history[:-1] = history[1:]
        history[-1] = np.where(np.isfinite(p), p, 1.0)
        change = pers.update(reject(persistent_p_values(history, 2), 0.01, "bh"))
        cusum.update(z_from_p(p))
        healthy = ~flagged & ~change.active
        off = 0
        for k in res:
            n = res[k].size
            cals[k].update(res[k], regs[k], healthy[off:off + n])
            off += n
        return time.process_time() - t0, int(flagged.sum())

    for _ in range(args.warmup):
        window()
    fault[0] = 0.3  # 10 sigma of the twin's delay error
    times, flags = [], []
    for _ in range(args.windows):
        t, f = window()
        times.append(t)
        flags.append(f)
    per_entity = (sum(c.state_bytes_per_entity * c.n_entities for c in cals.values()) / n_tests
                  + (pers._hist.nbytes + pers._active.nbytes + pers._clean.nbytes + history.nbytes) / n_tests
                  + cusum._s.nbytes / n_tests)
    shared_pool = sum(c._pool.nbytes for c in cals.values())
    out = {
        "paths": n_p, "links": n_l, "tests_per_window": n_tests, "windows": args.windows,
        "cpu_ms_per_window_median": round(1000 * float(np.median(times)), 1),
        "cpu_ms_per_window_p95": round(1000 * float(np.percentile(times, 95)), 1),
        "state_bytes_per_entity_kpi": round(per_entity, 1),
        "shared_pool_bytes_total": shared_pool,
        "state_bytes_per_entity_kpi_incl_shared_pool": round(per_entity + shared_pool / n_tests, 1),
        "flags_per_window_mean": float(np.mean(flags)), "degraded_paths": int(degraded.sum()),
        "warmup_windows": args.warmup,
        "machine": machine_info(),
    }
    write_report(out, args.json, indent=2)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
