"""How noisy the simulator's labels are, and how much of a model's error that is (issue 15, "jitter ≤ 15 %").

A label is a finite simulation's estimate, not the true KPI. This script re-simulates chosen samples of a
twinwatch-native operated dataset (``twinwatch simulate dataset --recipe operated``) with **another simulation
seed** (same scenario, same packet budget) and reports, per band of the sample's busiest-link offered load (the
bands of ``bench/twin_hybrid_eval.py``), the mean absolute percentage difference between the two independent
labels, for the jitter (delay variance) and the queueing part of the delay, next to each model's error against the
original label. Scored paths and masks are those of ``twin_hybrid_eval``: measured paths (``path_scored``),
queueing part > 10⁻⁶ of the delay, jitter labels :func:`~twinwatch.twin.kpis.informative_jitter` accepts.

Reading it: if both labels erred independently by a small Gaussian relative ``e``, their difference would be about
``√2·e`` and a perfect model would score about ``label_vs_label / √2`` (``floor`` in the report). Jitter labels are
variance estimates with heavy-tailed ratios, and that reading fails for them (``bench/notes/label_noise.md``): the
direct test is ``--packets-factor 4``, which re-simulates with 4× the packets (half the noise) and also scores the
models against that label (``{model}_{kpi}_vs_resim``); if a model's error barely moves, it is the model's own.

The jitter figures are also given apart for paths whose flows all send one packet size and for the others
(``jitter_by_size_kind``): one-size flows' variance is their waits' alone, small and made by rare collisions.

Signed figures (``jitter_median_log_ratio`` in the report, per band): the median over paths of ``ln(a / b)`` for
the re-simulated jitter label against the original (``resim_vs_label``: > 0 when more packets give a larger
variance estimate, the bias of a short run) and for each model's jitter against each label (``{model}_vs_label``,
``{model}_vs_resim``: < 0 when it predicts less variance than the label).

Usage::

    PYTHONPATH=. .venv/bin/python bench/label_noise.py /tmp/tw17/opdata/test10 --per-band 6 --packets-factor 4 \\
        --models gnn,qt --seed 1 --out bench/notes/label_noise_opdata_x4.json
"""

from __future__ import annotations

import argparse
import math
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np
from _report import machine_info, write_report
from twin_hybrid_eval import BANDS, _band_names, one_size_paths, scored_paths
from twin_hybrid_eval import _ape as ape

RESIM_SEED_OFFSET = 7919
"""Added to a sample's simulation seed for the second, independent simulation."""


def summarise(errors: dict[str, list[np.ndarray]]) -> dict[str, Any]:
    """Mean of each error list (``None`` when empty), plus ``floor`` = label-vs-label jitter error ÷ √2.

    >>> out = summarise({"label_vs_label_jitter": [np.array([20.0, 40.0])], "gnn_jitter": [np.array([25.0])]})
    >>> out["label_vs_label_jitter"], out["gnn_jitter"], round(out["floor_jitter"], 2)
    (30.0, 25.0, 21.21)
    """
    out: dict[str, Any] = {}
    for key, parts in errors.items():
        v = np.concatenate(parts) if parts else np.zeros(0)
        v = v[np.isfinite(v)]
        out[key] = float(v.mean()) if v.size else None
        if key.startswith("label_vs_label_"):
            out[f"paths_{key.removeprefix('label_vs_label_')}"] = int(v.size)
    for kpi in ("jitter", "queue"):
        ll = out.get(f"label_vs_label_{kpi}")
        out[f"floor_{kpi}"] = None if ll is None else ll / math.sqrt(2.0)
    return out


def median_log_ratio(parts: list[np.ndarray]) -> float | None:
    """Median of the concatenated ``ln(a / b)`` arrays (non-finite dropped; ``None`` when nothing is left).

    >>> round(median_log_ratio([np.log(np.array([1.0, 2.0, 4.0]))]), 3)
    0.693
    """
    v = np.concatenate(parts) if parts else np.zeros(0)
    v = v[np.isfinite(v)]
    return float(np.median(v)) if v.size else None


def run(root: Path, per_band: int, model_names: list[str], seed: int = 0, packets_factor: float = 1.0
        ) -> dict[str, Any]:
    """Re-simulate ``per_band`` random samples of each load band of ``root`` (``packets_factor`` × the sample's
    packet budget) and compare labels and models; ``{model}_{kpi}_vs_resim`` scores the models against the
    re-simulated label (with a factor of 4, a label of half the noise)."""
    from twinwatch.twin.datasets import iter_samples
    from twinwatch.twin.datasets.native import read_extras
    from twinwatch.twin.models import get_model
    from twinwatch.twin.sim.recipe import simulate_operated

    names = _band_names(BANDS)
    samples = list(iter_samples(root))
    busiest = np.array([float(np.max(s.scenario.link_load_bps() / s.scenario.link_capacity_bps)) for s in samples])
    band = np.searchsorted(np.asarray(BANDS), busiest, side="right") - 1
    rng = np.random.default_rng(seed)
    chosen = [int(i) for b in range(len(names)) for i in rng.permutation(np.flatnonzero(band == b))[:per_band]]
    models = {n: get_model(n) for n in model_names}
    keys = ["label_vs_label_jitter", "label_vs_label_queue"] + [
        f"{m}_{k}{v}" for m in models for k in ("jitter", "queue") for v in ("", "_vs_resim")]
    acc: dict[str, dict[str, list[np.ndarray]]] = {n: {k: [] for k in keys} for n in names}
    # the same jitter figures for paths whose flows all send one packet size and for the others
    jkeys = [k for k in keys if "jitter" in k]
    by_kind: dict[str, dict[str, dict[str, list[np.ndarray]]]] = {
        kind: {n: {k: [] for k in jkeys} for n in names} for kind in SIZE_KINDS}
    signed: dict[str, dict[str, list[np.ndarray]]] = {n: {} for n in names}
    used: dict[str, int] = dict.fromkeys(names, 0)
    t0 = time.time()
    for i in chosen:
        s = samples[i]
        sc = s.scenario
        extras = read_extras(root / s.file)
        info: dict[str, Any] = {}
        for d in extras[1:]:
            info.update(d)
        budget = int(sc.meta.get("packet_budget", 0)) if isinstance(sc.meta, dict) else 0
        if budget <= 0 or "seed" not in info:
            raise SystemExit(f"{root / s.file}: not an operated-recipe sample (no packet budget or seed)")
        res, prop = simulate_operated(sc, int(info["seed"]) + RESIM_SEED_OFFSET, round(budget * packets_factor))
        sp = scored_paths(root, s)
        y_j, y_q, okq, okj = sp.jitter, sp.queue, sp.ok_queue, sp.ok_jitter
        j2 = np.asarray(res.labels.path_jitter_s2, dtype=np.float64)
        q2 = np.asarray(res.labels.path_delay_s, dtype=np.float64) - prop
        okj2, okq2 = okj & np.isfinite(j2) & (j2 > 0), okq & np.isfinite(q2)
        cell = acc[names[band[i]]]
        single = one_size_paths(sc)
        kinds = dict(zip(SIZE_KINDS, (single[okj2], ~single[okj2]), strict=True))
        jit = {"label_vs_label_jitter": ape(j2[okj2], y_j[okj2])}
        cell["label_vs_label_jitter"].append(jit["label_vs_label_jitter"])
        cell["label_vs_label_queue"].append(ape(q2[okq2], y_q[okq2]))
        logs = signed[names[band[i]]]
        logs.setdefault("resim_vs_label", []).append(np.log(j2[okj2] / y_j[okj2]))
        for m, model in models.items():
            p = model.predict(sc)
            pj = np.asarray(p.path_jitter_s2, dtype=np.float64)
            pq = np.asarray(p.path_delay_s, dtype=np.float64) - prop
            jit[f"{m}_jitter"] = ape(pj[okj2], y_j[okj2])
            jit[f"{m}_jitter_vs_resim"] = ape(pj[okj2], j2[okj2])
            cell[f"{m}_jitter"].append(jit[f"{m}_jitter"])
            cell[f"{m}_queue"].append(ape(pq[okq2], y_q[okq2]))
            cell[f"{m}_jitter_vs_resim"].append(jit[f"{m}_jitter_vs_resim"])
            cell[f"{m}_queue_vs_resim"].append(ape(pq[okq2], q2[okq2]))
            logs.setdefault(f"{m}_vs_label", []).append(np.log(pj[okj2] / y_j[okj2]))
            logs.setdefault(f"{m}_vs_resim", []).append(np.log(pj[okj2] / j2[okj2]))
        for kind, sel in kinds.items():
            for k, v in jit.items():
                by_kind[kind][names[band[i]]][k].append(v[sel])
        used[names[band[i]]] += 1
        print(f"{time.time() - t0:6.0f} s  sample {i}  band {names[band[i]]}  packets {budget}  "
              f"jitter paths {int(okj2.sum())}", flush=True)
    return {"data": str(root), "per_band": per_band, "chosen": chosen, "resim_seed_offset": RESIM_SEED_OFFSET,
            "packets_factor": packets_factor,
            "bands": {n: {"samples": used[n], **summarise(acc[n]),
                          "jitter_median_log_ratio": {k: median_log_ratio(v) for k, v in signed[n].items()},
                          "jitter_by_size_kind": {kind: {**{k: _mean(v) for k, v in by_kind[kind][n].items()},
                                                         "paths": int(sum(a.size for a in
                                                                          by_kind[kind][n]["label_vs_label_jitter"]))}
                                                  for kind in SIZE_KINDS}}
                      for n in names if used[n]}}


SIZE_KINDS: tuple[str, ...] = ("one size", "several sizes")
"""The jitter figures are also split by the packet sizes of the path's flows (``jitter_by_size_kind``): all of them
send one size, or not."""


def _mean(arrays: list[np.ndarray]) -> float | None:
    cat = np.concatenate(arrays) if arrays else np.zeros(0)
    return float(cat.mean()) if cat.size else None


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("data", type=Path, help="a twinwatch-native operated-recipe dataset")
    ap.add_argument("--per-band", type=int, default=8, help="samples re-simulated per load band")
    ap.add_argument("--models", default="gnn,qt", help="models scored against the original labels")
    ap.add_argument("--seed", type=int, default=0, help="which samples are drawn in each band")
    ap.add_argument("--packets-factor", type=float, default=1.0,
                    help="the second simulation's packet budget as a multiple of the sample's (4: half the noise)")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--out", default="bench/notes/label_noise.json")
    a = ap.parse_args()
    import torch

    torch.set_num_threads(a.threads)
    warnings.filterwarnings("ignore")  # out-of-domain warnings: counted by twin_hybrid_eval, not here
    t0 = time.time()
    rep = run(a.data, a.per_band, [m for m in a.models.split(",") if m], a.seed, a.packets_factor)
    for n, r in rep["bands"].items():
        models = "  ".join(f"{k} {v:.1f}" for k, v in r.items() if k.endswith(("_jitter", "_queue"))
                           and not k.startswith(("label", "floor", "paths")) and v is not None)
        print(f"{n:>9}: jitter label-vs-label {r['label_vs_label_jitter']:.1f} % (floor {r['floor_jitter']:.1f}), "
              f"queueing part {r['label_vs_label_queue']:.2f} %  |  {models}")
        print(" " * 11 + "jitter median ln ratio: " + "  ".join(
            f"{k} {v:+.3f}" for k, v in r["jitter_median_log_ratio"].items() if v is not None))
        for kind, f in r["jitter_by_size_kind"].items():
            print(" " * 11 + f"jitter, {kind} ({f['paths']} paths): " + "  ".join(
                f"{k} {v:.1f}" for k, v in f.items() if k != "paths" and v is not None))
    doc = {**rep, "machine": machine_info(note="2-core shared dev box"), "wall_s": round(time.time() - t0, 1)}
    write_report(doc, Path(a.out), echo=False, nan_as_null=True)
    print(f"written {a.out}")


if __name__ == "__main__":
    main()
