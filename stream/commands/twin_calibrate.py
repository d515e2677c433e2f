"""``twinwatch twin calibrate``: recompute a model's conformal calibration (intervals and p-value grids).

The maths lives in :func:`twinwatch.twin.conformal.fit_calibration`; this module reads
the held-out samples, runs the model and writes the result.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click
import numpy as np

from twinwatch.stream.commands._options import (
    EXIT_STATUS_HELP,
    MODEL_NAMES,
    FiniteFloatRange,
    checkpoint_option,
    progress_option,
)
from twinwatch.stream.commands.twin_predict import _as_click_errors, _progress, cli_model
from twinwatch.twin.conformal import MIN_WINDOWS

__all__ = ["calibrate"]

_KPIS = ("delay_s", "jitter_s2", "loss_ratio")


@dataclass(frozen=True)
class _Collected:
    """What :func:`_collect` read: labels and predictions per KPI and, per path (all ``(P,)``), the path's
    maximum offered load (ratio), its propagation delay (s), its network's size (nodes) and its sample's number."""

    obs: dict[str, np.ndarray]
    pred: dict[str, np.ndarray]
    load: np.ndarray
    prop: np.ndarray
    nodes: np.ndarray
    windows: np.ndarray
    samples: int


def _collect(model: Any, data_dirs: tuple[Path, ...], limit: int | None, quiet: bool, chunk: int = 16
             ) -> _Collected:
    """Every sample under ``data_dirs`` (at most ``limit``) through ``model``, concatenated over paths."""
    from twinwatch.twin.conformal import scenario_path_max_load
    from twinwatch.twin.datasets import iter_samples
    from twinwatch.twin.models import predict_many

    obs: dict[str, list[np.ndarray]] = {k: [] for k in _KPIS}
    pred: dict[str, list[np.ndarray]] = {k: [] for k in _KPIS}
    per_path: dict[str, list[np.ndarray]] = {k: [] for k in ("load", "prop", "nodes", "windows")}
    pending: list[Any] = []
    n = 0

    def flush() -> None:
        for s, p in zip(pending, predict_many(model, [s.scenario for s in pending]), strict=True):
            sc = s.scenario
            per_path["load"].append(scenario_path_max_load(sc))
            per_path["prop"].append(np.bincount(sc.hop_path, weights=sc.link_prop_delay_s[sc.path_links],
                                                minlength=sc.n_paths))
            per_path["nodes"].append(np.full(sc.n_paths, float(sc.n_nodes)))
            per_path["windows"].append(np.full(sc.n_paths, len(per_path["windows"]), dtype=np.int64))
            for k in _KPIS:
                obs[k].append(np.asarray(s.labels.path(k), dtype=np.float64))
                pred[k].append(np.asarray(p.path(k), dtype=np.float64))
        pending.clear()

    def samples() -> Any:
        for d in data_dirs:
            yield from iter_samples(d)

    for s in _progress(samples(), f"calibrating ({model.name})", quiet):
        pending.append(s)
        n += 1
        if len(pending) >= chunk:
            flush()
        if limit is not None and n >= limit:
            break
    if pending:
        flush()

    def cat(parts: list[np.ndarray]) -> np.ndarray:
        return np.concatenate(parts) if parts else np.zeros(0)

    return _Collected({k: cat(v) for k, v in obs.items()}, {k: cat(v) for k, v in pred.items()},
                      *(cat(per_path[k]) for k in ("load", "prop", "nodes", "windows")), n)


@click.command(context_settings={"help_option_names": ["-h", "--help"]}, epilog=EXIT_STATUS_HELP)
@click.argument("data_dirs", metavar="DATA_DIR...", nargs=-1, required=True,
                type=click.Path(exists=True, path_type=Path))
@click.option("--model", "-m", "model_name", metavar="NAME", default="gnn", show_default=True,
              help=MODEL_NAMES + ": the model to calibrate.")
@checkpoint_option
@click.option("--out", "out", type=click.Path(path_type=Path), default=None,
              help="Where to write. For a checkpoint model: a model directory (weights copied, config.json "
                   "with the new calibration); default: rewrite the checkpoint's config.json in place. For "
                   "models without a checkpoint (qt, sim): a JSON file, required.")
@click.option("--coverage", type=FiniteFloatRange(0.5, 0.999), default=0.9, show_default=True,
              help="Nominal two-sided coverage of the stored intervals.")
@click.option("--limit", type=click.IntRange(min=1), default=None, help="Use at most N samples.")
@click.option("--delay-part", type=click.Choice(["queueing", "total"]), default="queueing", show_default=True,
              help="Fit the delay interval on the queueing part (delay minus the path's propagation, which is "
                   "exact) or on the total delay. The queueing part carries over between networks whose "
                   "propagation shares differ; on samples without propagation both are the same.")
@click.option("--size-bands/--no-size-bands", default=False, show_default=True,
              help="Also key the interval quantiles on the network's size (bands <25, 25-50, 50-100, >=100 "
                   "nodes), for calibration data that spans network sizes whose errors differ; a (size, load) "
                   "cell with fewer than 200 paths uses its load band's quantiles over all sizes.")
@click.option("--sparse-bands", type=click.Choice(["checkpoint", "pooled"]), default="checkpoint",
              show_default=True,
              help="A load band the data fills with fewer than 200 paths or --min-windows windows (one network's "
                   "windows rarely reach its busiest bands): keep the checkpoint's current quantiles for that "
                   "band, of the same regime (checkpoint; flagged in the entry's borrowed list), or use the "
                   "data's quantiles pooled over all bands (pooled: those of its quiet paths, too narrow in busy "
                   "bands). Models without a calibration use pooled.")
@click.option("--min-windows", type=click.IntRange(min=0), default=MIN_WINDOWS, show_default=True,
              help="The fewest samples (windows) a load band needs, besides 200 paths, to use its own quantiles; "
                   "paths of one window err together, so a busy band seen in three windows is three "
                   "observations. A band short of either is treated as under --sparse-bands. 0: paths alone.")
@click.option("--threads", type=click.IntRange(min=1), default=1, show_default=True, help="torch threads.")
@progress_option
def calibrate(data_dirs: tuple[Path, ...], model_name: str, checkpoint: Path | None, out: Path | None,
              coverage: float, limit: int | None, delay_part: str, size_bands: bool, sparse_bands: str,
              min_windows: int, threads: int, progress: bool) -> None:
    """Recompute the conformal calibration of a model on held-out labelled samples.

    \b
    Runs the model on every sample under DATA_DIR... (GNNet or twinwatch-native
    datasets with labels, never the samples it was trained on) and stores,
    per path KPI (delay_s, jitter_s2, loss_ratio) and per load band (the
    path's maximum offered link utilisation: <0.5, 0.5-0.7, 0.7-0.85,
    0.85-1, >=1):
      - the residual quantiles of the two-sided interval at --coverage
        (keys lo, hi, n; what `twin predict` intervals use), and
      - a 225-point quantile grid of the residual scores with their count
        (key grid), from which detectors derive conformal p-values
        p = (1 + #{calibration scores >= s}) / (n + 1).
    Scores: log(observed/predicted) for delay and jitter (jitter only where
    its label is informative), observed - predicted for loss. With
    --delay-part queueing (the default) the delay interval is fitted on
    log((observed - prop)/(predicted - prop)), prop the path's propagation
    delay; the p-value grid stays on the total delay. When the data mix
    paths without propagation delay (GNNet-style networks) and paths with
    it (operated networks), the interval quantiles are also stored per
    regime (key regimes), so each regime is covered at its own error
    level; the pooled quantiles serve callers that do not know a path's
    propagation.

    \b
    Operators recalibrate on their own network's held-out data so that the
    alert rate they configure is the one they get: windows that span the
    loads they will see. Load bands those windows do not fill (200 paths
    from at least --min-windows windows) keep the checkpoint's quantiles
    (--sparse-bands); `borrowed` in each entry lists them. On the project's
    held-out networks, 50 windows of a network so recalibrated held 16 of 18
    load-band and size cells within 2 points of nominal.

    \b
    Examples:
      twinwatch twin calibrate ../shared/data/gnnet/2021/validation ../shared/data/gnnet/2020/validation \\
          ../shared/data/gnnet/2022/validation/100
      twinwatch twin calibrate my_heldout/ --checkpoint models/A --out models/A-recal
      twinwatch twin calibrate my_heldout/ --model qt --out qt_calibration.json
    """
    import sys

    from twinwatch.twin.conformal import fit_calibration

    model = cli_model(model_name, checkpoint)
    if "torch" in sys.modules:  # a torch model (gnn, mlp): keep to the cores we were given
        sys.modules["torch"].set_num_threads(threads)
    has_ckpt = checkpoint is not None or model.name == "gnn"
    if not has_ckpt and out is None:
        raise click.UsageError(f"model {model.name!r} has no checkpoint to write into; pass --out FILE.json")
    t0 = time.perf_counter()
    with _as_click_errors():
        got = _collect(model, data_dirs, limit, not progress)
    obs, pred, load, prop, nodes, n = got.obs, got.pred, got.load, got.prop, got.nodes, got.samples
    if n == 0:
        raise click.ClickException(f"no samples found under {', '.join(map(str, data_dirs))}")
    queueing = delay_part == "queueing" and bool(np.any(prop > 0))
    current = getattr(model, "calibration", None) if sparse_bands == "checkpoint" else None
    cal = fit_calibration(obs, pred, load, coverage, prop=prop, delay_part="queueing" if queueing else "total",
                          nodes=nodes if size_bands else None, fallback=current or None, groups=got.windows,
                          min_groups=min_windows)
    if not cal:
        raise click.ClickException("no usable labels: every KPI had fewer than 10 scorable paths")
    meta = {"dirs": [str(d) for d in data_dirs], "samples": n, "paths": int(load.size), "coverage": coverage,
            "delay_part": "queueing" if queueing else "total", "size_bands": size_bands,
            "sparse_bands": "checkpoint" if current else "pooled", "min_windows": min_windows,
            "model": model.name, "created": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")}
    where = _write(model, checkpoint, out, cal, meta, has_ckpt)
    if progress:
        cov = {k: float(np.mean(_inside(obs[k], pred[k], load, v, prop, nodes))) for k, v in cal.items()}
        click.echo(f"{n} samples, {load.size} paths calibrated in {time.perf_counter() - t0:.1f} s -> {where}; "
                   "in-sample coverage " + ", ".join(f"{k} {c:.3f}" for k, c in cov.items()), err=True)


def _inside(y: np.ndarray, yh: np.ndarray, load: np.ndarray, entry: dict[str, Any], prop: np.ndarray,
            nodes: np.ndarray) -> np.ndarray:
    from twinwatch.twin.conformal import interval

    ok = np.isfinite(y) & np.isfinite(yh) & ((y > 0) & (yh > 0) if entry["kind"] == "log" else True)
    lo, hi = interval(yh[ok], entry, load[ok], nodes[ok], prop[ok])
    return (y[ok] >= lo) & (y[ok] <= hi)


def _write(model: Any, checkpoint: Path | None, out: Path | None, cal: dict[str, Any], meta: dict[str, Any],
           has_ckpt: bool) -> str:
    """Store ``cal``; returns where it went."""
    if not has_ckpt:
        assert out is not None
        doc = {"model": model.name, "calibration": cal, "calibration_data": meta}
        _atomic_write(out, doc)
        return str(out)
    from twinwatch.twin.checkpoint import CONFIG

    src = checkpoint
    if src is None:
        from twinwatch.twin.models.gnn import DEFAULT_CHECKPOINT

        src = Path(DEFAULT_CHECKPOINT)
    cfg_path = src / CONFIG
    try:
        cfg = json.loads(cfg_path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise click.ClickException(f"cannot read {cfg_path}: {exc}") from None
    cfg["calibration"] = cal
    cfg["calibration_data"] = meta
    if out is None or out.resolve() == src.resolve():
        _atomic_write(cfg_path, cfg)
        return str(cfg_path)
    if out.exists() and not out.is_dir():
        raise click.BadParameter(f"{out} exists and is not a folder", param_hint="--out")
    out.mkdir(parents=True, exist_ok=True)
    for f in src.iterdir():
        if f.is_file() and f.name != CONFIG:
            shutil.copy2(f, out / f.name)
    _atomic_write(out / CONFIG, cfg)
    return str(out / CONFIG)


def _atomic_write(path: Path, doc: dict[str, Any]) -> None:
    if path.parent and not path.parent.exists():
        raise click.BadParameter(f"folder {str(path.parent)!r} does not exist", param_hint="--out")
    tmp = path.with_name(path.name + ".tmp")
    try:
        tmp.write_text(json.dumps(doc, indent=1, sort_keys=True))
        os.replace(tmp, path)
    except OSError as exc:
        raise click.ClickException(f"cannot write {path}: {exc.strerror or exc}") from None
