"""Interval coverage of the twin on held-out data, by load band and network size, under several calibrations
(issue 15, item 5: "coverage at nominal 90 % within ±2 points for delay and jitter in every load band and at
every network size on held-out data").

Two passes. **Collect** (slow, cached): every model in ``--models`` predicts every sample of the calibration
folders (``--cal``) and of the held-out folders (``--test``); per path the labels, predictions, the path's maximum
offered load (the Mondrian key of :mod:`twinwatch.twin.conformal`), the network's size and name are kept in
``--cache`` (one ``.npz`` per model and split, no pickle). **Score** (seconds): calibrations fitted on the
``--cal`` paths only, applied to the ``--test`` paths:

* ``stored``: the checkpoint's own calibration, as shipped (GNN-type models only);
* ``load``: Mondrian by the path's maximum offered load (:data:`~twinwatch.twin.conformal.LOAD_EDGES`), delay
  scored as ``log(y/ŷ)`` of the total delay: what ``twinwatch twin calibrate`` fits today;
* ``queueing``: the same, with the delay interval fitted on the queueing part, ``log((y − prop)/(ŷ − prop))``
  (:func:`~twinwatch.twin.conformal.fit_calibration` with ``prop``; propagation is exact);
* ``load_size`` / ``queueing_size``: the two above, Mondrian by load band × network-size band
  (:data:`~twinwatch.twin.conformal.SIZE_EDGES`);
* ``deployment``: per held-out network, ``queueing`` calibrated on that network's *other* samples (2-fold
  cross-fit by sample parity): what an operator gets by running the calibration on held-out windows of their
  own network;
* ``deployment_prior``: the same, with the load bands those samples do not fill (fewer than ``--min-count``
  paths) kept from the checkpoint's calibration, in the network's regime (``fit_calibration(fallback=)``,
  ``twinwatch twin calibrate --sparse-bands checkpoint``; for models without a checkpoint the ``queueing``
  fit on ``--cal``).

Every variant is fitted by the product's :func:`~twinwatch.twin.conformal.fit_calibration` and applied by its
:func:`~twinwatch.twin.conformal.interval`, as ``GNNModel.predict`` applies a checkpoint's calibration.

Scored paths and residuals are those of ``bench/twin_hybrid_eval.py``: a path counts where its delay label is
finite and the sample marks it measured (``sim.path_scored``); jitter where
:func:`twinwatch.twin.kpis.informative_jitter` accepts it relative to the queueing part (delay − propagation);
loss where the label is finite. Scores: ``log(y/ŷ)`` for delay and jitter, ``y − ŷ`` for loss. Coverage =
share of labels inside the interval, reported by load band, by size band and by network, with the count.

Usage::

    nice -n 5 .venv/bin/python bench/twin_coverage.py --cal /tmp/tw/opdata/val --test /tmp/tw/opdata/test \\
        --models gnn,qt --cache /tmp/tw/coverage --out bench/notes/twin_coverage_opdata.json --threads 1
"""

from __future__ import annotations

import argparse
import itertools
import json
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np
from _report import machine_info, write_report
from twin_hybrid_eval import scored_paths

KPIS: dict[str, str] = {"delay_s": "log", "jitter_s2": "log", "loss_ratio": "abs"}
FIELDS = ("y_delay_s", "y_jitter_s2", "y_loss_ratio", "p_delay_s", "p_jitter_s2", "p_loss_ratio", "ok_delay_s",
          "ok_jitter_s2", "ok_loss_ratio", "load", "nodes", "sample", "network", "lo_delay_s", "hi_delay_s",
          "lo_jitter_s2", "hi_jitter_s2", "lo_loss_ratio", "hi_loss_ratio", "prop", "hops", "time_dist", "tos")


def _network_names(root: Path) -> list[str] | None:
    """Topology names of a native dataset made from a fixed set (sample ``i`` uses ``names[i % len]``)."""
    try:
        topo = json.loads((root / "manifest.json").read_text()).get("topology", {})
    except (OSError, json.JSONDecodeError):
        return None
    names = topo.get("names") if topo.get("kind") == "set" else None
    return list(names) if names else None


def collect(model: Any, roots: list[Path], limit: int) -> dict[str, np.ndarray]:
    """Per-path labels, predictions, masks, stored intervals and keys of every sample under ``roots``."""
    from twinwatch.twin.conformal import scenario_path_max_load
    from twinwatch.twin.datasets import iter_samples

    cols: dict[str, list[np.ndarray]] = {f: [] for f in FIELDS}
    t0 = time.time()
    for root in roots:
        names = _network_names(root)
        for k, s in enumerate(iter_samples(root)):
            if limit and k >= limit:
                break
            sc, lb = s.scenario, s.labels
            n = sc.n_paths
            sp = scored_paths(root, s)
            prop, ok = sp.prop, sp.ok
            y = {kpi: np.asarray(lb.path(kpi), dtype=np.float64) for kpi in KPIS}
            masks = {"delay_s": ok, "jitter_s2": sp.ok_jitter, "loss_ratio": ok & np.isfinite(y["loss_ratio"])}
            p = model.predict(sc)
            net = names[k % len(names)] if names else f"{root.name}/{s.file}"
            for kpi in KPIS:
                cols[f"y_{kpi}"].append(y[kpi])
                cols[f"p_{kpi}"].append(np.asarray(p.path(kpi), dtype=np.float64))
                cols[f"ok_{kpi}"].append(masks[kpi])
                lo, hi = p.path_interval.get(kpi, (np.full(n, np.nan), np.full(n, np.nan)))
                cols[f"lo_{kpi}"].append(np.asarray(lo, dtype=np.float64))
                cols[f"hi_{kpi}"].append(np.asarray(hi, dtype=np.float64))
            cols["load"].append(scenario_path_max_load(sc))
            cols["prop"].append(prop)
            cols["hops"].append(np.diff(sc.path_ptr))
            first = np.full(n, -1)
            first[sc.flow_path[::-1]] = np.arange(sc.flow_path.size)[::-1]  # each path's first flow
            cols["time_dist"].append(np.where(first >= 0, sc.flow_time_dist[np.maximum(first, 0)], -1))
            cols["tos"].append(np.where(first >= 0, sc.flow_tos[np.maximum(first, 0)], -1))
            cols["nodes"].append(np.full(n, sc.n_nodes))
            cols["sample"].append(np.full(n, len(cols["load"]) - 1))  # unique over all roots
            cols["network"].append(np.full(n, net))
            print(f"{time.time() - t0:7.1f}s {model.name} {root}/{s.file} {net} nodes {sc.n_nodes} paths "
                  f"{int(ok.sum())}", flush=True)
    return {f: np.concatenate(v) if v else np.zeros(0) for f, v in cols.items()}


def _cached(model_name: str, checkpoint: str | None, split: str, roots: list[Path], limit: int,
            cache: Path) -> dict[str, np.ndarray]:
    tag = "_".join(r.name for r in roots) + (f"_l{limit}" if limit else "")
    path = cache / f"{model_name}{'_ckpt' if checkpoint else ''}_{split}_{tag}.npz"
    if path.is_file():
        with np.load(path, allow_pickle=False) as z:
            return {k: z[k] for k in z.files}
    from twinwatch.twin.models import get_model

    model = get_model(model_name, checkpoint=checkpoint if model_name == "gnn" else None)
    data = collect(model, roots, limit)
    cache.mkdir(parents=True, exist_ok=True)
    np.savez(path, **data)
    return data


def _scores(d: dict[str, np.ndarray], kpi: str) -> tuple[np.ndarray, np.ndarray]:
    """``(mask, score)`` of the usable paths of ``kpi`` (log scores need a positive prediction)."""
    from twinwatch.twin.conformal import residual_score

    y, yh = d[f"y_{kpi}"], d[f"p_{kpi}"]
    m = d[f"ok_{kpi}"].astype(bool) & np.isfinite(yh)
    if KPIS[kpi] == "log":
        m &= yh > 0
    return m, residual_score(y, yh, KPIS[kpi])


def _fit(d: dict[str, np.ndarray], sel: np.ndarray, variant: str, coverage: float, min_count: int,
         fallback: dict[str, Any] | None = None, min_windows: int = 0) -> dict[str, dict[str, Any]]:
    """The product's calibration (:func:`twinwatch.twin.conformal.fit_calibration`) of ``variant`` on paths ``sel``."""
    from twinwatch.twin.conformal import fit_calibration

    obs = {k: np.where(d[f"ok_{k}"].astype(bool), d[f"y_{k}"], np.nan)[sel] for k in KPIS}
    pred = {k: d[f"p_{k}"][sel] for k in KPIS}
    queueing = variant in ("queueing", "queueing_size", "deployment", "deployment_prior")
    return fit_calibration(obs, pred, d["load"][sel], coverage, min_count=min_count,
                           prop=d["prop"][sel] if queueing else None,
                           nodes=d["nodes"][sel].astype(np.float64) if variant.endswith("_size") else None,
                           fallback=fallback, groups=d["sample"][sel], min_groups=min_windows)


def _inside(d: dict[str, np.ndarray], sel: np.ndarray, kpi: str, entry: dict[str, Any]) -> np.ndarray:
    """Whether each selected label lies inside its interval, built exactly as ``GNNModel.predict`` builds it."""
    from twinwatch.twin.conformal import interval

    lo, hi = interval(d[f"p_{kpi}"][sel], entry, d["load"][sel], d["nodes"][sel].astype(np.float64), d["prop"][sel])
    y = d[f"y_{kpi}"][sel]
    return (y >= lo) & (y <= hi)


VARIANTS = ("stored", "load", "queueing", "load_size", "queueing_size", "deployment", "deployment_prior")


def coverage_masks(cal: dict[str, np.ndarray], test: dict[str, np.ndarray], coverage: float, min_count: int,
                   prior: dict[str, Any] | None = None, min_windows: int = 0
                   ) -> dict[str, dict[str, tuple[np.ndarray, np.ndarray]]]:
    """KPI → calibration variant → ``(test mask, inside)``.

    ``prior``: the calibration ``deployment_prior`` keeps for the load bands a network's own samples do not fill
    (``fit_calibration(fallback=)``); ``None``: the ``queueing`` fit on the calibration folders.
    ``min_windows``: the fewest samples a load band needs in the ``deployment*`` fits (``--min-windows``).
    """
    out: dict[str, dict[str, tuple[np.ndarray, np.ndarray]]] = {k: {} for k in KPIS}
    everything = np.ones(cal["load"].size, dtype=bool)
    masks = {}
    for kpi, kind in KPIS.items():
        m = test[f"ok_{kpi}"].astype(bool) & np.isfinite(test[f"p_{kpi}"])
        masks[kpi] = m & (test[f"p_{kpi}"] > 0) if kind == "log" else m
        lo_s, hi_s, y = test[f"lo_{kpi}"], test[f"hi_{kpi}"], test[f"y_{kpi}"]
        mt = masks[kpi]
        if mt.any() and np.isfinite(lo_s[mt]).all():
            out[kpi]["stored"] = (mt, (y[mt] >= lo_s[mt]) & (y[mt] <= hi_s[mt]))
    fitted_all = {}
    for variant in ("load", "queueing", "load_size", "queueing_size"):
        fitted = fitted_all[variant] = _fit(cal, everything, variant, coverage, min_count)
        for kpi in KPIS:
            if kpi in fitted:
                out[kpi][variant] = (masks[kpi], _inside(test, masks[kpi], kpi, fitted[kpi]))
    # per deployment: each held-out network calibrated on its own other samples (2-fold by sample parity);
    # deployment_prior: the same, sparse load bands kept from the multi-network calibration (`twin calibrate`'s
    # --sparse-bands checkpoint)
    for variant, fallback in (("deployment", None), ("deployment_prior", prior or fitted_all["queueing"])):
        inside = {k: np.zeros(test["load"].size, dtype=bool) for k in KPIS}
        covered = {k: np.zeros(test["load"].size, dtype=bool) for k in KPIS}
        for net in np.unique(test["network"]):
            for parity in (0, 1):
                own = test["network"] == net
                sample_parity = test["sample"] % 2
                fit, use = own & (sample_parity != parity), own & (sample_parity == parity)
                if not fit.any() or not use.any():
                    continue
                fitted = _fit(test, fit, variant, coverage, min_count, fallback, min_windows)
                for kpi in fitted:
                    sel = use & masks[kpi]
                    inside[kpi][sel] = _inside(test, sel, kpi, fitted[kpi])
                    covered[kpi] |= sel
        for kpi in KPIS:
            if covered[kpi].any():
                out[kpi][variant] = (covered[kpi], inside[kpi][covered[kpi]])
    return out


def _groups(test: dict[str, np.ndarray], mask: np.ndarray) -> dict[str, dict[str, np.ndarray]]:
    """Grouping name → group label → boolean selector over the masked test paths."""
    from twinwatch.twin.conformal import LOAD_EDGES, SIZE_EDGES, regime_bins

    load_names = [f"<{LOAD_EDGES[0]}"] + [f"{a}-{b}" for a, b in itertools.pairwise(LOAD_EDGES)] + [
        f">={LOAD_EDGES[-1]}"]
    size_names = [f"<{SIZE_EDGES[0]}"] + [f"{a}-{b}" for a, b in itertools.pairwise(SIZE_EDGES)] + [
        f">={SIZE_EDGES[-1]}"]
    lb = regime_bins(test["load"][mask])
    sb = regime_bins(test["nodes"][mask].astype(np.float64), SIZE_EDGES)
    nets = test["network"][mask]
    return {"all": {"all": np.ones(int(mask.sum()), dtype=bool)},
            "load": {load_names[k]: lb == k for k in range(len(load_names)) if (lb == k).any()},
            "size": {size_names[k]: sb == k for k in range(len(size_names)) if (sb == k).any()},
            "network": {str(n): nets == n for n in np.unique(nets)},
            "nodes": {str(int(k)): test["nodes"][mask] == k for k in np.unique(test["nodes"][mask])}}


def sample_bootstrap(inside: np.ndarray, sample: np.ndarray, reps: int = 2000, seed: int = 0
                     ) -> tuple[float, float, int]:
    """95 % interval of a coverage figure, resampling whole samples (cluster bootstrap), and the sample count.

    Paths of one sample share its traffic, policy and packet-size draw, so their errors are correlated and
    the paths are not independent trials: the binomial interval of ``P`` paths is far too narrow. Resampling
    the samples with replacement keeps each sample's paths together.

    >>> rng = np.random.default_rng(0)
    >>> sample = np.repeat(np.arange(40), 50)
    >>> inside = rng.random(2000) < np.repeat(rng.choice([0.7, 1.0], 40), 50)   # whole samples err together
    >>> lo, hi, n = sample_bootstrap(inside, sample)
    >>> n, hi - lo > 0.1    # wider than the ±1.3 points a binomial interval of 2,000 paths would give
    (40, True)
    """
    _, idx = np.unique(sample, return_inverse=True)
    hits = np.bincount(idx, weights=inside.astype(np.float64))
    counts = np.bincount(idx).astype(np.float64)
    n = counts.size
    w = np.random.default_rng(seed).multinomial(n, np.full(n, 1.0 / n), size=reps).astype(np.float64)
    cov = (w @ hits) / np.maximum(w @ counts, 1.0)
    lo, hi = np.quantile(cov, [0.025, 0.975])
    return float(lo), float(hi), int(n)


def score(cal: dict[str, np.ndarray], test: dict[str, np.ndarray], coverage: float, min_count: int,
          prior: dict[str, Any] | None = None, min_windows: int = 0
          ) -> dict[str, dict[str, dict[str, dict[str, list[float]]]]]:
    """KPI → variant → grouping → group → ``[coverage, paths, ci_lo, ci_hi, samples]``.

    ``ci_lo``/``ci_hi``: the 95 % cluster-bootstrap interval of the coverage over the test samples
    (:func:`sample_bootstrap`), the precision with which this test set measures it.
    """
    res: dict[str, Any] = {}
    sample_id = np.char.add(np.char.add(test["network"].astype(str), "#"), test["sample"].astype(str))
    for kpi, variants in coverage_masks(cal, test, coverage, min_count, prior, min_windows).items():
        for variant, (mask, inside) in variants.items():
            per = res.setdefault(kpi, {}).setdefault(variant, {})
            sid = sample_id[mask]
            for gname, groups in _groups(test, mask).items():
                per[gname] = {g: [float(inside[sel].mean()), int(sel.sum()), *sample_bootstrap(inside[sel], sid[sel])]
                              for g, sel in groups.items() if sel.any()}
    return res


def _stored_calibration(model_name: str, checkpoint: str | None) -> dict[str, Any] | None:
    """The checkpoint's calibration block (GNN: ``--checkpoint`` or the shipped one); ``None`` for other models."""
    if model_name != "gnn":
        return None
    from twinwatch.twin.models.gnn import DEFAULT_CHECKPOINT

    doc = json.loads((Path(checkpoint or DEFAULT_CHECKPOINT) / "config.json").read_text())
    return doc.get("calibration") or None


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cal", nargs="+", required=True, type=Path, help="calibration (validation) folders")
    ap.add_argument("--test", nargs="+", required=True, type=Path, help="held-out folders")
    ap.add_argument("--models", default="gnn,qt", help="models to score (comma-separated)")
    ap.add_argument("--checkpoint", default=None, help="GNN model directory (default: the shipped one)")
    ap.add_argument("--limit-cal", type=int, default=0, help="at most N samples per calibration folder (0: all)")
    ap.add_argument("--limit-test", type=int, default=0, help="at most N samples per held-out folder (0: all)")
    ap.add_argument("--coverage", type=float, default=0.9)
    ap.add_argument("--min-count", type=int, default=200, help="Mondrian cells with fewer paths use pooled quantiles")
    ap.add_argument("--min-windows", type=int, default=0,
                    help="deployment variants: the fewest samples a load band needs for its own quantiles")
    ap.add_argument("--cache", type=Path, default=Path("/tmp/tw/coverage"))
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--out", default="bench/notes/twin_coverage.json")
    a = ap.parse_args()
    import torch

    torch.set_num_threads(a.threads)
    warnings.filterwarnings("ignore")  # out-of-domain warnings: the shipped GNN is outside its domain on opdata
    t0 = time.time()
    rep: dict[str, Any] = {"cal": [str(p) for p in a.cal], "test": [str(p) for p in a.test], "coverage": a.coverage,
                           "min_count": a.min_count, "min_windows": a.min_windows, "models": {}}
    for name in a.models.split(","):
        cal = _cached(name, a.checkpoint, "cal", a.cal, a.limit_cal, a.cache)
        test = _cached(name, a.checkpoint, "test", a.test, a.limit_test, a.cache)
        rep["models"][name] = score(cal, test, a.coverage, a.min_count, _stored_calibration(name, a.checkpoint),
                                    a.min_windows)
        for kpi, per in rep["models"][name].items():
            for variant, g in per.items():
                line = " · ".join(f"{k}: {v[0] * 100:.1f} [{v[2] * 100:.0f}-{v[3] * 100:.0f}] ({v[1]})"
                                  for gn in ("load", "size")
                                  for k, v in g[gn].items())
                print(f"{name} {kpi} {variant}: all {g['all']['all'][0] * 100:.1f} | {line}")
    rep["machine"] = machine_info(note="2-core shared dev box; load averages at the end")
    rep["wall_s"] = round(time.time() - t0, 1)
    write_report(rep, Path(a.out), echo=False, nan_as_null=True)
    print(f"written {a.out}")


if __name__ == "__main__":
    main()
