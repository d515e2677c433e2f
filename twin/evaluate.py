"""Evaluation harness: score a KPI model against a labelled dataset.

Runs ``model.predict`` over every sample of a dataset (by default the GNNet
reader's :func:`~twin.datasets.gnnet.iter_samples`) and reports, per topology
size bucket and overall:

- ``delay_mape`` and ``jitter_mape``: mean absolute percentage error (%) of
  the per-path mean delay and delay variance. **Only paths whose label is
  positive and finite are used** (a zero label has no percentage error),
  and for jitter only labels with a standard deviation of at least 0.1 % of
  the mean delay (:func:`twinwatch.twin.kpis.informative_jitter`); the counts used are
  reported as ``delay_paths`` / ``jitter_paths``.
- ``loss_mae``: mean absolute error of the per-path loss ratio (0..1), over
  paths with a finite label.
- ``delay_median_ape`` / ``jitter_median_ape``: the median absolute
  percentage error (%), robust to the few paths that dominate a MAPE.
- ``samples``, ``paths``; ``wall_s`` (everything, reading included) and
  ``predict_s_per_sample`` (the model's ``predict`` only).

A path the model leaves NaN counts as missing (``nan_predictions``), not as
an error of 0.

Errors are accumulated column-wise (one array per sample, concatenated at the
end), so medians or other statistics are cheap to add.

Examples
--------
>>> import numpy as np
>>> from twinwatch.twin.kpis import Labels
>>> from twinwatch.twin.models.qt import QueueingModel
>>> from twinwatch.twin.scenario import Flow, Scenario
>>> sc = Scenario.build(2, [(0, 1, 1e6)], {(0, 1): [0, 1]}, [Flow(0, 1, 5e5, 1000.0)], queue_pkts=1e6)
>>> pred = QueueingModel(service="mm1").predict(sc)
>>> lab = Labels(pred.path_delay_s * 1.1, pred.path_jitter_s2, np.zeros(1), *(np.full(1, np.nan),) * 3)
>>> rep = evaluate_samples(QueueingModel(service="mm1"), [EvalItem("a.tar.gz", 0, sc, lab)])
>>> round(rep.overall.delay_mape, 3), rep.overall.jitter_mape, rep.overall.loss_mae, rep.overall.paths
(9.091, 0.0, 0.0, 1)
>>> sorted(rep.to_dict())
['bucket_by', 'buckets', 'data_dir', 'model', 'note', 'overall', 'predict_s_per_sample', 'skipped_unstable', 'wall_s']
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import PurePosixPath
from typing import TYPE_CHECKING, Any

import numpy as np

from twinwatch.twin.kpis import informative_jitter

if TYPE_CHECKING:
    from twinwatch.twin.kpis import Labels
    from twinwatch.twin.models import KPIModel
    from twinwatch.twin.scenario import Scenario

__all__ = ["BucketStats", "EvalItem", "EvalReport", "evaluate", "evaluate_samples"]

NOTE = (
    "MAPE uses only paths with a positive, finite label; loss MAE uses paths with a finite label; "
    "NaN predictions are counted as nan_predictions and left out"
)


@dataclass(frozen=True, slots=True)
class EvalItem:
    """One labelled sample (the fields of the GNNet reader's ``Sample`` that we use)."""

    file: str
    index: int
    scenario: Scenario
    labels: Labels


@dataclass(slots=True)
class BucketStats:
    """Scores of one bucket (or of everything)."""

    samples: int = 0
    paths: int = 0
    delay_mape: float = float("nan")
    jitter_mape: float = float("nan")
    loss_mae: float = float("nan")
    delay_median_ape: float = float("nan")
    jitter_median_ape: float = float("nan")
    delay_paths: int = 0
    jitter_paths: int = 0
    loss_paths: int = 0
    nan_predictions: int = 0


@dataclass(slots=True)
class EvalReport:
    """Everything :func:`evaluate` measured; :meth:`to_dict` is JSON-ready."""

    model: str
    data_dir: str
    bucket_by: str
    buckets: dict[str, BucketStats]
    overall: BucketStats
    wall_s: float
    predict_s_per_sample: float
    skipped_unstable: int = 0
    note: str = NOTE

    def to_dict(self) -> dict[str, Any]:
        """Plain dict (NaN becomes ``None``) for JSON."""

        def clean(d: dict[str, Any]) -> dict[str, Any]:
            return {k: (None if isinstance(v, float) and not np.isfinite(v) else v) for k, v in d.items()}

        out = {
            "model": self.model,
            "data_dir": self.data_dir,
            "bucket_by": self.bucket_by,
            "buckets": {k: clean(asdict(v)) for k, v in self.buckets.items()},
            "overall": clean(asdict(self.overall)),
            "wall_s": self.wall_s,
            "predict_s_per_sample": self.predict_s_per_sample if np.isfinite(self.predict_s_per_sample) else None,
            "skipped_unstable": self.skipped_unstable,
            "note": self.note,
        }
        return out


@dataclass
class _Columns:
    """Per-path error columns, one array per sample."""

    bucket: list[np.ndarray] = field(default_factory=list)
    delay_ape: list[np.ndarray] = field(default_factory=list)  # NaN where unusable
    jitter_ape: list[np.ndarray] = field(default_factory=list)
    loss_ae: list[np.ndarray] = field(default_factory=list)
    nan_pred: list[np.ndarray] = field(default_factory=list)
    sample_bucket: list[str] = field(default_factory=list)

    def add(self, bucket: str, pred: Any, lab: Labels) -> None:
        n = lab.path_delay_s.shape[0]
        self.bucket.append(np.full(n, bucket, dtype=object))
        self.delay_ape.append(_ape(pred.path_delay_s, lab.path_delay_s))
        j_ok = informative_jitter(lab.path_delay_s, lab.path_jitter_s2)
        self.jitter_ape.append(np.where(j_ok, _ape(pred.path_jitter_s2, lab.path_jitter_s2), np.nan))
        lab_loss = np.asarray(lab.path_loss_ratio, dtype=np.float64)
        ae = np.abs(np.asarray(pred.path_loss_ratio, dtype=np.float64) - lab_loss)
        self.loss_ae.append(np.where(np.isfinite(lab_loss), ae, np.nan))
        bad = ~np.isfinite(pred.path_delay_s) | ~np.isfinite(pred.path_jitter_s2) | ~np.isfinite(pred.path_loss_ratio)
        self.nan_pred.append(bad)
        self.sample_bucket.append(bucket)

    def stats(self, which: str | None) -> BucketStats:
        bucket = np.concatenate(self.bucket) if self.bucket else np.zeros(0, dtype=object)
        sel = np.ones(bucket.shape[0], bool) if which is None else bucket == which
        d = np.concatenate(self.delay_ape)[sel] if self.bucket else np.zeros(0)
        j = np.concatenate(self.jitter_ape)[sel] if self.bucket else np.zeros(0)
        lo = np.concatenate(self.loss_ae)[sel] if self.bucket else np.zeros(0)
        nanp = np.concatenate(self.nan_pred)[sel] if self.bucket else np.zeros(0, bool)
        d, j, lo = d[np.isfinite(d)], j[np.isfinite(j)], lo[np.isfinite(lo)]
        return BucketStats(
            samples=sum(1 for b in self.sample_bucket if which is None or b == which),
            paths=int(sel.sum()),
            delay_mape=float(d.mean()) if d.size else float("nan"),
            jitter_mape=float(j.mean()) if j.size else float("nan"),
            loss_mae=float(lo.mean()) if lo.size else float("nan"),
            delay_median_ape=float(np.median(d)) if d.size else float("nan"),
            jitter_median_ape=float(np.median(j)) if j.size else float("nan"),
            delay_paths=int(d.size),
            jitter_paths=int(j.size),
            loss_paths=int(lo.size),
            nan_predictions=int(nanp.sum()),
        )


def _ape(pred: np.ndarray, lab: np.ndarray) -> np.ndarray:
    """Absolute percentage error (%), NaN where the label is not positive or the prediction is not finite."""
    lab = np.asarray(lab, dtype=np.float64)
    pred = np.asarray(pred, dtype=np.float64)
    ok = np.isfinite(lab) & (lab > 0) & np.isfinite(pred)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(ok, 100.0 * np.abs(pred - lab) / np.where(ok, lab, 1.0), np.nan)


def _bucket_key(item: Any, bucket_by: str) -> str:
    if bucket_by == "folder":
        parent = PurePosixPath(str(item.file)).parent
        return str(parent) if str(parent) not in ("", ".") else "."
    return str(int(item.scenario.n_nodes))


def _sort_key(k: str) -> tuple[int, float, str]:
    try:
        return (0, float(k), k)
    except ValueError:
        return (1, 0.0, k)


def evaluate_samples(
    model: KPIModel,
    samples: Iterable[Any],
    *,
    bucket_by: str = "nodes",
    data_dir: str = "",
    limit: int | None = None,
) -> EvalReport:
    """Score ``model`` on labelled ``samples`` (objects with ``file``, ``scenario``, ``labels``).

    Parameters
    ----------
    bucket_by
        ``"nodes"`` (number of nodes of the topology) or ``"folder"`` (the
        folder of the sample's file inside the dataset, e.g. ``"50"``).
    limit
        Stop after this many samples.
    """
    if bucket_by not in ("nodes", "folder"):
        raise ValueError(f"bucket_by must be 'nodes' or 'folder', got {bucket_by!r}")
    cols = _Columns()
    t0 = time.perf_counter()
    t_pred = 0.0
    n = 0
    for item in samples:
        if limit is not None and n >= limit:
            break
        t1 = time.perf_counter()
        pred = model.predict(item.scenario)
        t_pred += time.perf_counter() - t1
        cols.add(_bucket_key(item, bucket_by), pred, item.labels)
        n += 1
    wall = time.perf_counter() - t0
    keys = sorted(set(cols.sample_bucket), key=_sort_key)
    return EvalReport(
        model=str(getattr(model, "name", type(model).__name__)),
        data_dir=data_dir,
        bucket_by=bucket_by,
        buckets={k: cols.stats(k) for k in keys},
        overall=cols.stats(None),
        wall_s=wall,
        predict_s_per_sample=t_pred / n if n else float("nan"),
    )


def evaluate(
    model: KPIModel,
    root: str | os.PathLike[str],
    *,
    bucket_by: str = "nodes",
    limit: int | None = None,
    wrap: Callable[[Iterator[Any]], Iterable[Any]] | None = None,
) -> EvalReport:
    """Score ``model`` on every sample of the GNNet or twinwatch-native dataset under ``root``.

    See :func:`evaluate_samples`; reading time is part of ``wall_s``.
    ``wrap`` may wrap the sample iterator (a progress bar, say).
    """
    from twinwatch.twin.datasets import GNNetReader, iter_samples
    from twinwatch.twin.datasets.native import is_native_dataset

    reader = None if is_native_dataset(root) else GNNetReader(root)
    t0 = time.perf_counter()
    it: Iterable[Any] = iter(reader) if reader is not None else iter_samples(root)
    if wrap is not None:
        it = wrap(iter(it))
    report = evaluate_samples(model, it, bucket_by=bucket_by, data_dir=os.fspath(root), limit=limit)
    report.wall_s = time.perf_counter() - t0
    report.skipped_unstable = int(getattr(reader, "skipped_unstable", 0))
    return report
