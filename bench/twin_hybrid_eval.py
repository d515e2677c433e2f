"""GNN vs MLP vs queueing theory (and a candidate) on held-out labelled samples, per load band (issue 15, item 5).

The seed's Figure 4 table repeated on any labelled dataset (the operated-network test set of
``twin/sim`` by default), plus interval coverage at the checkpoint's nominal level by load band and network size.

Per path (paths with a finite delay label that the sample marks as measured, ``sim.path_scored``):

* total delay MAPE;
* queueing-part MAPE: delay minus the path's propagation sum, on label and prediction alike, over paths whose
  true queueing part is ≥ 1e-6 of the delay (what a model must predict; propagation is exact);
* jitter MAPE over labels :func:`twinwatch.twin.kpis.informative_jitter` accepts relative to the queueing part,
  also apart for paths whose flows all send one packet size (``jitter_mape_one_size``; their delay variance is
  their waits' alone, small and made by rare collisions: ``bench/notes/label_noise.md``, session 25) and for the
  others (``jitter_mape_several_sizes``);
* loss MAE (ratio).

Rule check (``cells_above_qt`` in the report): per model, the cells (load band × total delay, queueing part, jitter
mean MAPE) where it is above queueing theory's figure at 0.1 pp resolution (:func:`cells_above`), the count
``bench/notes/twin_hybrid.md`` sections 4g–4k gate on.

Load band = the sample's busiest-link offered utilisation (``link_load_bps / capacity``), bands
``BANDS``. Coverage: share of labels inside the model's interval (GNN-type models), by the path's own
maximum offered load (the Mondrian bins of :mod:`twinwatch.twin.conformal`) and by network size.

Usage::

    .venv/bin/python bench/twin_hybrid_eval.py /tmp/tw/opdata/test --checkpoint /tmp/tw/hybrid/cand \\
        --out bench/notes/twin_hybrid_opdata.json --threads 1
"""

from __future__ import annotations

import argparse
import itertools
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from _models import build_models
from _report import machine_info, write_report

BANDS: tuple[float, ...] = (0.0, 0.3, 0.5, 0.7, 0.85, 0.95, np.inf)
SIZES: tuple[float, ...] = (0, 25, 50, 100, 1000)


KPI_COLUMNS = ("delay_mape", "queue_mape", "jitter_mape")


def cells_above(table: dict[str, dict[str, dict[str, float]]], reference: str = "qt",
                digits: int = 1) -> dict[str, list[list[object]]]:
    """Per model, the ``[band, column, model figure, reference figure]`` cells above ``reference``, in %.

    Figures are compared rounded to ``digits`` decimals (0.1 pp by default); the ``"all"`` row and
    figures that are not finite are skipped.

    >>> t = {"0-0.3": {"qt": {"delay_mape": 0.23, "queue_mape": 3.0, "jitter_mape": 60.5},
    ...                "gnn": {"delay_mape": 0.31, "queue_mape": 1.6, "jitter_mape": 60.54}}}
    >>> cells_above(t)
    {'gnn': [['0-0.3', 'delay_mape', 0.31, 0.23]]}
    """
    out: dict[str, list[list[object]]] = {}
    for band, per in table.items():
        ref = per.get(reference)
        if band == "all" or ref is None:
            continue
        for name, row in per.items():
            if name == reference:
                continue
            bad = out.setdefault(name, [])
            for col in KPI_COLUMNS:
                a, b = row.get(col, float("nan")), ref.get(col, float("nan"))
                if np.isfinite(a) and np.isfinite(b) and round(a, digits) > round(b, digits):
                    bad.append([band, col, a, b])
    return out


def _band_names(edges: tuple[float, ...]) -> list[str]:
    return [f"{a:g}-{b:g}" if np.isfinite(b) else f">={a:g}" for a, b in itertools.pairwise(edges)]


def _ape(p: np.ndarray, y: np.ndarray) -> np.ndarray:
    return np.abs(p / y - 1.0) * 100.0


def _scored(path: Path, n_paths: int) -> np.ndarray:
    """``(P,)`` paths a native sample marks as measured (``sim.path_scored``, >= 100 packets); all otherwise."""
    from twinwatch.twin.datasets.native import read_extras

    if path.suffix == ".npz" and path.is_file():
        m = read_extras(path)[0].get("path_scored")
        if m is not None and m.shape == (n_paths,):
            return m.astype(bool)
    return np.ones(n_paths, dtype=bool)


@dataclass(frozen=True)
class ScoredPaths:
    """One sample's labels and the paths each KPI is scored on (the module docstring's rules), ``(P,)`` each.

    ``prop`` the path's propagation sum (s); ``delay``/``queue``/``jitter`` the labels (queue = delay − prop);
    ``ok`` / ``ok_queue`` / ``ok_jitter`` the masks of scored paths for total delay, queueing part and jitter.
    """

    prop: np.ndarray
    delay: np.ndarray
    queue: np.ndarray
    jitter: np.ndarray
    ok: np.ndarray
    ok_queue: np.ndarray
    ok_jitter: np.ndarray


def one_size_paths(sc) -> np.ndarray:
    """``(P,)`` True where every flow on the path sends one packet size (``flow_sizes_bits`` has one size > 0)."""
    n_sizes = (np.nan_to_num(np.asarray(sc.flow_sizes_bits, dtype=np.float64)) > 0).sum(axis=1)
    several = np.zeros(sc.n_paths, dtype=bool)
    np.logical_or.at(several, np.asarray(sc.flow_path), n_sizes > 1)
    return ~several


def scored_paths(root: str | Path, sample) -> ScoredPaths:
    """:class:`ScoredPaths` of ``sample`` (an ``iter_samples(root)`` item)."""
    from twinwatch.twin.kpis import informative_jitter

    sc, lb = sample.scenario, sample.labels
    prop = np.bincount(sc.hop_path, weights=sc.link_prop_delay_s[sc.path_links], minlength=sc.n_paths)
    y_d = np.asarray(lb.path_delay_s, dtype=np.float64)
    y_j = np.asarray(lb.path_jitter_s2, dtype=np.float64)
    ok = np.isfinite(y_d) & (y_d > 0) & _scored(Path(root) / sample.file, sc.n_paths)
    y_q = y_d - prop
    okq = ok & (y_q > 1e-6 * y_d)
    okj = ok & informative_jitter(np.where(okq, y_q, np.nan), y_j)
    return ScoredPaths(prop=prop, delay=y_d, queue=y_q, jitter=y_j, ok=ok, ok_queue=okq, ok_jitter=okj)


def run(args: argparse.Namespace) -> dict:
    from twinwatch.twin.conformal import LOAD_EDGES, regime_bins, scenario_path_max_load
    from twinwatch.twin.datasets import iter_samples
    from twinwatch.twin.models import get_model

    torch.set_num_threads(args.threads)
    warnings.filterwarnings("ignore")  # out-of-domain warnings are counted below, not printed per sample
    models = build_models(args.models)
    if args.checkpoint:
        models["candidate"] = get_model("gnn", checkpoint=args.checkpoint)
    acc: dict[str, dict[str, dict[str, list[np.ndarray]]]] = {}
    cov: dict[str, dict[str, dict[str, list[float]]]] = {}
    ood: dict[str, list[int]] = {n: [0, 0] for n in models}
    band_names, size_names = _band_names(BANDS), _band_names(SIZES)
    load_names = [f"<{LOAD_EDGES[0]}"] + [f"{a}-{b}" for a, b in itertools.pairwise(LOAD_EDGES)] + [
        f">={LOAD_EDGES[-1]}"]
    t0 = time.time()
    n_samples = 0
    for root in args.data:
        for s in iter_samples(root):
            sc, lb = s.scenario, s.labels
            n_samples += 1
            if args.limit and n_samples > args.limit:
                break
            busiest = float(np.max(sc.link_load_bps() / sc.link_capacity_bps))
            band = band_names[int(np.searchsorted(BANDS, busiest, side="right")) - 1]
            size = size_names[int(np.searchsorted(SIZES, sc.n_nodes, side="right")) - 1]
            sp = scored_paths(root, s)
            prop, y_d, y_q, y_j, ok, okq, okj = sp.prop, sp.delay, sp.queue, sp.jitter, sp.ok, sp.ok_queue, sp.ok_jitter
            y_l = np.asarray(lb.path_loss_ratio, dtype=np.float64)
            okl = np.isfinite(y_l) & ok
            pbin = regime_bins(scenario_path_max_load(sc))
            one_size = one_size_paths(sc)[okj]
            for name, m in models.items():
                p = m.predict(sc)
                d = np.asarray(p.path_delay_s, dtype=np.float64)
                j = np.asarray(p.path_jitter_s2, dtype=np.float64)
                lo_ = np.asarray(p.path_loss_ratio, dtype=np.float64)
                cell = acc.setdefault(name, {}).setdefault(band, {"delay": [], "queue": [], "jitter": [], "loss": [],
                                                                   "jitter_one": [], "jitter_several": []})
                cell["delay"].append(_ape(d[ok], y_d[ok]))
                cell["queue"].append(_ape(d[okq] - prop[okq], y_q[okq]))
                jit = _ape(j[okj], y_j[okj])
                cell["jitter"].append(jit)
                cell["jitter_one"].append(jit[one_size])
                cell["jitter_several"].append(jit[~one_size])
                cell["loss"].append(np.abs(lo_[okl] - y_l[okl]))
                mask = getattr(p, "path_out_of_domain", None)
                if mask is not None:
                    ood[name][0] += int(np.asarray(mask).sum())
                ood[name][1] += int(sc.n_paths)
                for kpi, y, sel in (("delay_s", y_d, ok), ("jitter_s2", y_j, okj), ("loss_ratio", y_l, okl)):
                    if kpi not in p.path_interval:
                        continue
                    lo, hi = p.path_interval[kpi]
                    inside = (y[sel] >= lo[sel]) & (y[sel] <= hi[sel])
                    for key, groups in ((f"{kpi}|load", pbin[sel]), (f"{kpi}|size", None)):
                        c = cov.setdefault(name, {}).setdefault(key, {})
                        if groups is None:
                            h = c.setdefault(size, [0.0, 0.0])
                            h[0] += float(inside.sum())
                            h[1] += float(inside.size)
                        else:
                            for g in np.unique(groups):
                                h = c.setdefault(load_names[int(g)], [0.0, 0.0])
                                h[0] += float(inside[groups == g].sum())
                                h[1] += float((groups == g).sum())
            print(f"{time.time() - t0:7.1f}s {s.file} nodes {sc.n_nodes} busiest {busiest:.2f} paths {int(ok.sum())}",
                  flush=True)
    table: dict[str, dict[str, dict[str, float]]] = {}
    for name, per in acc.items():
        for band in [*band_names, "all"]:
            cells = list(per.values()) if band == "all" else ([per[band]] if band in per else [])
            if not cells:
                continue
            cat = {k: np.concatenate([a for c in cells for a in c[k]])
                   for k in ("delay", "queue", "jitter", "loss", "jitter_one", "jitter_several")}
            table.setdefault(band, {})[name] = {
                "delay_mape": float(cat["delay"].mean()) if cat["delay"].size else float("nan"),
                "queue_mape": float(cat["queue"].mean()) if cat["queue"].size else float("nan"),
                "jitter_mape": float(cat["jitter"].mean()) if cat["jitter"].size else float("nan"),
                "jitter_median_ape": float(np.median(cat["jitter"])) if cat["jitter"].size else float("nan"),
                "loss_mae": float(cat["loss"].mean()) if cat["loss"].size else float("nan"),
                "paths": int(cat["delay"].size), "paths_queue": int(cat["queue"].size),
                "paths_jitter": int(cat["jitter"].size),
                "jitter_mape_one_size": float(cat["jitter_one"].mean()) if cat["jitter_one"].size else float("nan"),
                "jitter_mape_several_sizes": (float(cat["jitter_several"].mean()) if cat["jitter_several"].size
                                              else float("nan")),
                "paths_jitter_one_size": int(cat["jitter_one"].size)}
    coverage = {n: {k: {g: [h / t, int(t)] for g, (h, t) in v.items() if t} for k, v in c.items()}
                for n, c in cov.items()}
    return {"data": [str(d) for d in args.data], "samples": n_samples, "bands": band_names, "accuracy": table,
            "cells_above_qt": cells_above(table), "coverage": coverage,
            "out_of_domain_paths": {n: {"ood": a, "paths": b} for n, (a, b) in ood.items()},
            "wall_s": round(time.time() - t0, 1), "threads": args.threads}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("data", nargs="+", help="labelled dataset folders (native or GNNet)")
    ap.add_argument("--checkpoint", metavar="DIR", default=None, help="candidate GNN model directory")
    ap.add_argument("--models", default="qt,gnn,mlp", help="models beside the candidate (specs: _models.py)")
    ap.add_argument("--limit", type=int, default=0, help="score at most N samples (0: all)")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--out", default="bench/notes/twin_hybrid_opdata.json")
    a = ap.parse_args()
    rep = run(a)
    rep["machine"] = machine_info()
    write_report(rep, Path(a.out), echo=False, nan_as_null=True)
    print("\n| load band | model | paths | delay MAPE % | queueing-part MAPE % | jitter MAPE % (median) | "
          "jitter: one size / several sizes | loss MAE |")
    print("|---|---|---|---|---|---|---|---|")
    for band, per in rep["accuracy"].items():
        for name, r in per.items():
            print(f"| {band} | {name} | {r['paths']} | {r['delay_mape']:.3f} | {r['queue_mape']:.2f} | "
                  f"{r['jitter_mape']:.1f} ({r['jitter_median_ape']:.1f}) | {r['jitter_mape_one_size']:.1f} "
                  f"({r['paths_jitter_one_size']}) / {r['jitter_mape_several_sizes']:.1f} | {r['loss_mae']:.4f} |")
    for name, bad in rep["cells_above_qt"].items():
        cells = "; ".join(f"{b} {c} {x:.3f} vs {y:.3f}" for b, c, x, y in bad)
        print(f"{name}: {len(bad)} of {len(KPI_COLUMNS) * (len(rep['accuracy']) - 1)} cells above qt (0.1 pp)"
              + (f": {cells}" if cells else ""))
    for name, c in rep["coverage"].items():
        for key, v in c.items():
            print(name, key, {g: f"{x[0] * 100:.1f}% ({x[1]})" for g, x in v.items()})
    print(f"written {a.out}")


if __name__ == "__main__":
    main()
