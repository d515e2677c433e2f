"""Training loop of the GNN twin: batches of whole scenarios, early stopping, resumable.

:func:`load_examples` reads GNNet samples once (features built with
:func:`twinwatch.twin.features.scenario_graph`, labels kept as arrays);
:func:`train` fits :class:`~twin.models.gnn.RouteNetFermi` with Adam on

``loss = MAPE(queueing part) + 0.5·J + 2·MAE(loss ratio)``

with the jitter term ``J = mean|log(ĵ/j)|`` (``TrainConfig.jitter_loss="log"``,
the default: the median in log space) or ``J = mean|ĵ/j − 1|`` (``"mape"``:
the metric jitter is scored by, which costs a prediction many times the
truth in proportion and so shades an uncertain jitter down)

(the queueing part is the delay minus the path's propagation, which the
readout adds exactly; on propagation-free GNNet samples it is the delay)

(jitter terms only over paths with an informative jitter label,
:func:`jitter_mask`) over mini-batches of whole scenarios (PyG-style
offsets), evaluates the validation delay MAPE after every epoch, keeps the
best weights, stops after ``patience`` epochs without improvement or when
the wall-clock budget is spent (the learning rate follows a cosine over
whichever of the epochs or the budget ends first), and finally calibrates
Mondrian split-conformal intervals and the detectors' p-value grids on the
validation set, as ``twinwatch twin calibrate`` would (:func:`calibrate_heldout`,
:mod:`twinwatch.twin.conformal`). The model directory holds the checkpoint
(:mod:`twinwatch.twin.checkpoint`) and ``resume.pt`` (optimizer state) for ``resume``.

Seeds are fixed (Python, NumPy, torch); with the same data, seed and thread
count a run is repeatable.
"""

from __future__ import annotations

import copy
import math
import os
import random
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import torch

from twinwatch.twin.checkpoint import load_checkpoint, save_checkpoint
from twinwatch.twin.conformal import MIN_WINDOWS, path_max_load
from twinwatch.twin.features import FeatureStats, GraphArrays, collate, scenario_graph
from twinwatch.twin.kpis import JITTER_CV_FLOOR, informative_jitter
from twinwatch.twin.models.gnn import GNNConfig, RouteNetFermi
from twinwatch.twin.models.qt import QT_VARIANTS
from twinwatch.twin.models.warm_start import hybrid_from, restat, set_full_buffer_fade, zero_untrained_inputs
from twinwatch.twin.models.warm_start import reset_readout as reset_hybrid_readout

__all__ = ["JITTER_LOSSES", "SELECTIONS", "Example", "TrainConfig", "as_served", "calibrate_heldout",
           "evaluate_examples", "finetune",
           "jitter_mask", "load_examples", "path_prop", "qt_reference", "selection_figure", "split_examples", "train"]

RESUME = "resume.pt"
_T = TypeVar("_T")


JITTER_LOSSES = ("log", "mape")
"""The jitter terms :func:`loss_fn` knows (``TrainConfig.jitter_loss``)."""
JITTER_WEIGHT = 0.5
"""Weight of the jitter term in :func:`loss_fn`, and in :func:`selection_figure` when that term is MAPE."""
SELECTIONS = ("objective", "queue")
"""What :func:`train` keeps the best epoch by (``TrainConfig.select``, :func:`selection_figure`)."""


@dataclass(eq=False)
class Example:
    """One labelled scenario ready for training.

    Attributes
    ----------
    graph
        Features and indices (:class:`~twin.features.GraphArrays`).
    delay, jitter, loss
        ``(P,)`` path labels (NaN where unknown).
    link_util, link_occ
        ``(E,)`` link labels (NaN where unknown).
    source
        ``"dir:file:index"`` of the sample.
    n_nodes
        Topology size.
    """

    graph: GraphArrays
    delay: np.ndarray
    jitter: np.ndarray
    loss: np.ndarray
    link_util: np.ndarray
    link_occ: np.ndarray
    source: str
    n_nodes: int
    sim_time: float = float("nan")


def load_examples(dirs: Iterable[str | os.PathLike[str]], *, progress: bool = False,
                  max_nodes: int | None = None, qt_prior: bool = False, prior: str = "classic") -> list[Example]:
    """Read every sample (GNNet or twinwatch-native dataset) under ``dirs`` into :class:`Example` objects.

    ``max_nodes`` drops samples of larger topologies (to hold size ranges out);
    ``qt_prior`` builds the graphs with the queueing-theory prior the hybrid GNN needs (variant ``prior``,
    the model's ``GNNConfig.prior``).
    Native samples that mark their measured paths (``sim.path_scored``: enough
    packets for a label) have the other paths' labels set to NaN: those paths
    stay as traffic (inputs) but are neither trained on nor scored.
    """
    from twinwatch.twin.datasets import iter_samples

    out: list[Example] = []
    for d in dirs:
        for s in iter_samples(d, progress=progress):
            sc = s.scenario
            if max_nodes is not None and sc.n_nodes > max_nodes:
                continue
            lb = s.labels
            keep = _scored_paths(Path(d) / s.file, sc.n_paths)
            out.append(Example(
                graph=scenario_graph(sc, qt_prior=qt_prior, prior=prior),
                delay=np.where(keep, np.asarray(lb.path_delay_s, dtype=np.float64), np.nan),
                jitter=np.where(keep, np.asarray(lb.path_jitter_s2, dtype=np.float64), np.nan),
                loss=np.where(keep, np.asarray(lb.path_loss_ratio, dtype=np.float64), np.nan),
                link_util=np.asarray(lb.link_utilization, dtype=np.float64),
                link_occ=np.asarray(lb.link_queue_pkts, dtype=np.float64),  # the GNN learns packets
                source=f"{d}:{s.file}:{s.index}", n_nodes=sc.n_nodes, sim_time=float(s.sim_time),
            ))
    return out


def _scored_paths(path: Path, n_paths: int) -> np.ndarray:
    """``(P,)`` bool: the paths a native sample file marks as measured (``sim.path_scored``); all paths otherwise."""
    if path.suffix == ".npz" and path.is_file():
        with np.load(path, allow_pickle=False) as z:
            if "sim.path_scored" in z.files:
                m = np.asarray(z["sim.path_scored"], dtype=bool)
                if m.shape == (n_paths,):
                    return m
    return np.ones(n_paths, dtype=bool)


@dataclass
class TrainConfig:
    """Training hyper-parameters (stored in the checkpoint).

    Parameters
    ----------
    epochs
        Maximum passes over the training set.
    lr
        Adam learning rate (decayed by cosine over ``epochs``).
    seed
        Seed of Python, NumPy and torch.
    batch_paths
        Scenarios are packed into a batch until it holds this many paths.
    batch_size
        At most this many scenarios per batch.
    time_budget_min
        Wall-clock budget of the whole run (minutes); training stops at the
        end of the epoch that exceeds it.
    patience
        Epochs without validation improvement before stopping.
    threads
        ``torch.set_num_threads``.
    architecture
        :class:`~twin.models.gnn.GNNConfig` as a dict.
    coverage
        Nominal coverage of the conformal intervals.
    jitter_loss
        The jitter term of the objective (module docstring): ``"log"``
        (mean absolute log ratio) or ``"mape"`` (mean absolute percentage
        error, the metric jitter is scored by).
    select
        The validation figure the kept epoch minimises (:func:`selection_figure`):
        ``"objective"`` (the objective's own terms: the queueing-part MAPE,
        plus ``0.5 · jitter MAPE`` when ``jitter_loss`` is ``"mape"``) or
        ``"queue"`` (the queueing-part MAPE alone, whatever the jitter term).
    """

    epochs: int = 100
    lr: float = 2e-3
    seed: int = 0
    batch_paths: int = 12000
    batch_size: int = 16
    time_budget_min: float = 55.0
    patience: int = 12
    threads: int = 2
    architecture: dict[str, Any] = field(default_factory=lambda: GNNConfig().to_dict())
    coverage: float = 0.9
    jitter_loss: str = "log"
    select: str = "objective"

    def __post_init__(self) -> None:
        """Refuse settings no training run can use (``ValueError`` naming the setting and its range)."""
        checks: list[tuple[str, object, bool, str]] = [
            ("epochs", self.epochs, isinstance(self.epochs, int) and self.epochs >= 1, ">= 1"),
            ("lr", self.lr, isinstance(self.lr, (int, float)) and 0 < self.lr <= 10, "in (0, 10]"),
            ("batch_paths", self.batch_paths, isinstance(self.batch_paths, int) and self.batch_paths >= 1, ">= 1"),
            ("batch_size", self.batch_size, isinstance(self.batch_size, int) and self.batch_size >= 1, ">= 1"),
            ("time_budget_min", self.time_budget_min,
             isinstance(self.time_budget_min, (int, float)) and self.time_budget_min > 0, "> 0"),
            ("patience", self.patience, isinstance(self.patience, int) and self.patience >= 1, ">= 1"),
            ("threads", self.threads, isinstance(self.threads, int) and self.threads >= 1, ">= 1"),
            ("coverage", self.coverage, isinstance(self.coverage, (int, float)) and 0 < self.coverage < 1,
             "in (0, 1)"),
            ("jitter_loss", self.jitter_loss, self.jitter_loss in JITTER_LOSSES,
             " or ".join(map(repr, JITTER_LOSSES))),
            ("select", self.select, self.select in SELECTIONS, " or ".join(map(repr, SELECTIONS))),
        ]
        hy = self.architecture.get("hybrid", False)
        checks.append(("architecture.hybrid", hy, isinstance(hy, bool), "true or false"))
        pr = self.architecture.get("prior", "classic")
        checks.append(("architecture.prior", pr, pr in QT_VARIANTS, " or ".join(map(repr, QT_VARIANTS))))
        for key in ("hidden", "iterations", "readout_hidden"):
            if key in self.architecture:
                v = self.architecture[key]
                checks.append((f"architecture.{key}", v, isinstance(v, int) and not isinstance(v, bool) and v >= 1,
                               ">= 1"))
        for name, value, ok, rule in checks:
            if not ok:
                raise ValueError(f"train: {name} must be {rule}, got {value!r}")


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and torch."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def make_batches(examples: Sequence[Example], batch_paths: int, batch_size: int,
                 rng: np.random.Generator | None) -> list[list[int]]:
    """Group example indices into batches of at most ``batch_paths`` paths / ``batch_size`` scenarios."""
    order = rng.permutation(len(examples)) if rng is not None else np.arange(len(examples))
    batches: list[list[int]] = []
    cur: list[int] = []
    n = 0
    for i in order:
        p = examples[int(i)].graph.n_paths
        if cur and (n + p > batch_paths or len(cur) >= batch_size):
            batches.append(cur)
            cur, n = [], 0
        cur.append(int(i))
        n += p
    if cur:
        batches.append(cur)
    return batches


def cosine_lr(lr: float, epoch_frac: float, time_frac: float, floor: float = 0.03) -> float:
    """Cosine decay from ``lr`` to ``floor·lr`` over whichever ends first, the epochs or the time budget.

    >>> round(cosine_lr(1.0, 0.0, 0.0), 3), round(cosine_lr(1.0, 0.5, 0.1), 3), round(cosine_lr(1.0, 0.2, 1.0), 3)
    (1.0, 0.515, 0.03)
    """
    frac = min(max(epoch_frac, time_frac, 0.0), 1.0)
    return lr * (floor + (1.0 - floor) * 0.5 * (1.0 + math.cos(math.pi * frac)))


def _labels(examples: Sequence[Example]) -> dict[str, torch.Tensor]:
    y = {k: torch.from_numpy(np.concatenate([getattr(e, k) for e in examples]).astype(np.float32))
         for k in ("delay", "jitter", "loss")}
    y["prop"] = torch.from_numpy(np.concatenate([path_prop(e.graph) for e in examples]).astype(np.float32))
    return y


def path_prop(g: GraphArrays) -> np.ndarray:
    """``(P,)`` propagation delay of each path of ``g`` (time unit): the sum over the hops of one of its flows.

    >>> from twinwatch.twin.scenario import Flow, Scenario
    >>> sc = Scenario.build(3, [(0, 1, 1e4, 0.01), (1, 2, 1e4, 0.02)], {(0, 2): [0, 1, 2]}, [Flow(0, 2, 2e3, 1000.0)])
    >>> path_prop(scenario_graph(sc)).round(6).tolist()
    [0.03]
    """
    flow_prop = np.bincount(g.hop_flow, weights=g.hop_prop.astype(np.float64), minlength=g.n_flows)
    out = np.zeros(g.n_paths)
    out[g.flow_path] = flow_prop  # the flows of a path cross the same links
    return out


def jitter_mask(delay: np.ndarray | torch.Tensor, jitter: np.ndarray | torch.Tensor) -> Any:
    """Paths with an informative jitter label (:func:`twinwatch.twin.kpis.informative_jitter`), for arrays or tensors.

    >>> jitter_mask(torch.tensor([1.0, 1.0]), torch.tensor([1e-2, 1e-9])).tolist()
    [True, False]
    """
    if isinstance(jitter, torch.Tensor) and isinstance(delay, torch.Tensor):
        floor = (JITTER_CV_FLOOR * delay) ** 2
        return torch.isfinite(jitter) & torch.isfinite(delay) & (delay > 0) & (jitter > 0) & (jitter >= floor)
    return informative_jitter(np.asarray(delay), np.asarray(jitter))


def loss_fn(out: dict[str, torch.Tensor], y: dict[str, torch.Tensor], jitter_loss: str = "log") -> torch.Tensor:
    """Training objective (module docstring); paths with unknown or zero labels are skipped.

    >>> out = {"path_delay": torch.tensor([2.0]), "path_jitter": torch.tensor([4.0]), "path_loss": torch.tensor([0.0])}
    >>> y = {"delay": torch.tensor([2.0]), "jitter": torch.tensor([1.0]), "loss": torch.tensor([0.0])}
    >>> round(float(loss_fn(out, y, "log")), 4), round(float(loss_fn(out, y, "mape")), 4)  # 0.5·log 4, 0.5·3
    (0.6931, 1.5)
    """
    d, j, lo = y["delay"], y["jitter"], y["loss"]
    prop = y.get("prop", torch.zeros_like(d))
    qd = d - prop  # the queueing part (queueing + transmission): what the model predicts; propagation is exact
    md = torch.isfinite(qd) & (qd > 1e-6 * d)
    l_delay = (torch.abs((out["path_delay"][md] - prop[md]) / qd[md] - 1.0)).mean()
    mj = jitter_mask(qd, j)  # informative relative to the queueing part: ms of propagation do not make it noise
    if not mj.any():
        l_jit = 0.0 * l_delay
    elif jitter_loss == "mape":
        l_jit = torch.abs(out["path_jitter"][mj] / j[mj] - 1.0).mean()
    else:
        l_jit = torch.abs(torch.log(out["path_jitter"][mj].clamp_min(1e-20) / j[mj])).mean()
    ml = torch.isfinite(lo)
    l_loss = torch.abs(out["path_loss"][ml] - lo[ml]).mean() if ml.any() else 0.0 * l_delay
    return l_delay + JITTER_WEIGHT * l_jit + 2.0 * l_loss


def predict_examples(net: RouteNetFermi, examples: Sequence[Example], stats: FeatureStats,
                     batch_paths: int = 50000) -> dict[str, np.ndarray]:
    """Concatenated path predictions (``delay``, ``jitter``, ``loss``, time units) over ``examples``, in order."""
    net.eval()
    parts: dict[str, list[np.ndarray]] = {"delay": [], "jitter": [], "loss": []}
    with torch.inference_mode():
        for idx in make_batches(examples, batch_paths, 64, None):
            out = net(collate([examples[i].graph for i in idx], stats))
            parts["delay"].append(out["path_delay"].double().numpy())
            parts["jitter"].append(out["path_jitter"].double().numpy())
            parts["loss"].append(out["path_loss"].double().numpy())
    return {k: np.concatenate(v) if v else np.zeros(0) for k, v in parts.items()}


def _mape(pred: np.ndarray, y: np.ndarray, mask: np.ndarray | None = None) -> float:
    m = np.isfinite(y) & (y > 0) & np.isfinite(pred)
    if mask is not None:
        m &= mask
    return float(np.mean(np.abs(pred[m] / y[m] - 1.0)) * 100.0) if m.any() else float("nan")


def evaluate_examples(net: RouteNetFermi, examples: Sequence[Example], stats: FeatureStats) -> dict[str, float]:
    """Delay, queueing-part and jitter MAPE (%) and loss MAE over all paths of ``examples``.

    ``queue_mape`` scores delay minus the path's propagation on label and
    prediction alike (equal to ``delay_mape`` without propagation). Jitter
    MAPE is over the paths with an informative label (:func:`jitter_mask`,
    relative to the queueing part); ``jitter_masked`` counts the others.
    """
    if not examples:
        return {"delay_mape": float("nan"), "queue_mape": float("nan"), "jitter_mape": float("nan"),
                "loss_mae": float("nan"), "jitter_masked": 0}
    p = predict_examples(net, examples, stats)
    y = {k: np.concatenate([getattr(e, k) for e in examples]) for k in ("delay", "jitter", "loss")}
    prop = np.concatenate([path_prop(e.graph) for e in examples])
    ml = np.isfinite(y["loss"])
    qy = y["delay"] - prop
    mj = jitter_mask(qy, y["jitter"])
    return {"delay_mape": _mape(p["delay"], y["delay"]),
            "queue_mape": _mape(p["delay"] - prop, qy, qy > 1e-6 * y["delay"]),
            "jitter_mape": _mape(p["jitter"], y["jitter"], mj),
            "loss_mae": float(np.mean(np.abs(p["loss"][ml] - y["loss"][ml]))) if ml.any() else float("nan"),
            "jitter_masked": int((~mj).sum())}


def as_served(net: RouteNetFermi, stats: FeatureStats) -> RouteNetFermi:
    """A copy of ``net`` as :meth:`twinwatch.twin.models.gnn.GNNModel.load` serves it from a checkpoint (input
    weights of features constant in ``stats``' training data zeroed, :func:`zero_untrained_inputs`).

    Calibrations and accuracy reports written beside a checkpoint are computed with it, so that they are those of
    the model that is served: ``twinwatch twin calibrate`` on the same data then writes the same numbers bit for
    bit. (With the weights as trained, the calibration differed from the served model's in the last bits under
    Debian's Python 3.11.2, not under 3.11.7.)
    """
    return zero_untrained_inputs(copy.deepcopy(net), stats)


def calibrate_heldout(net: RouteNetFermi, examples: Sequence[Example], stats: FeatureStats, *,
                      coverage: float = 0.9, fallback: dict[str, Any] | None = None,
                      min_windows: int = MIN_WINDOWS) -> dict[str, dict[str, Any]]:
    """The calibration ``twinwatch twin calibrate`` would store, fitted on held-out ``examples``.

    Per-regime interval quantiles, the queueing part of the delay where the
    paths have propagation, and the p-value grids the detectors start from
    (:func:`twinwatch.twin.conformal.fit_calibration`). A load band that
    fewer than ``min_windows`` samples (or 200 paths) fill keeps the
    ``fallback`` block's quantiles (the base model's, for a fine-tune), as
    ``twin calibrate --sparse-bands checkpoint`` does: a few samples of one
    network rarely reach its busiest bands.
    """
    from twinwatch.twin.conformal import fit_calibration

    p = predict_examples(net, examples, stats)
    prop = np.concatenate([path_prop(e.graph) for e in examples])
    load = np.concatenate([path_max_load(e.graph) for e in examples])
    windows = np.concatenate([np.full(len(e.delay), i, dtype=np.int64) for i, e in enumerate(examples)])
    obs = {"delay_s": np.concatenate([e.delay for e in examples]),
           "jitter_s2": np.concatenate([e.jitter for e in examples]),
           "loss_ratio": np.concatenate([e.loss for e in examples])}
    pred = {"delay_s": p["delay"], "jitter_s2": p["jitter"], "loss_ratio": p["loss"]}
    queueing = bool(np.any(prop > 0))
    return fit_calibration(obs, pred, load, coverage, prop=prop, delay_part="queueing" if queueing else "total",
                           fallback=fallback or None, groups=windows, min_groups=min_windows)


def _model_config(net: RouteNetFermi, stats: FeatureStats, cfg: TrainConfig, extra: dict[str, Any]) -> dict[str, Any]:
    return {"kind": "gnn", "architecture": net.config.to_dict(), "feature_stats": stats.to_dict(),
            "training": {"config": asdict(cfg), **extra}}


ProgressHook = Callable[[str, dict[str, Any]], None]


def train(train_set: Sequence[Example], val_set: Sequence[Example], out_dir: str | os.PathLike[str],
          cfg: TrainConfig, *, resume: bool = False, data_info: dict[str, Any] | None = None,
          on_event: ProgressHook | None = None,
          init_checkpoint: str | os.PathLike[str] | None = None, refit_stats: bool = False,
          to_hybrid: bool = False, reset_readout: bool = False) -> dict[str, Any]:
    """Fit the GNN, early-stop on validation queueing-part MAPE, write the model directory.

    The selection figure is the validation ``queue_mape`` (delay minus
    propagation; the delay MAPE itself on propagation-free data such as GNNet),
    plus ``0.5 · jitter_mape`` when the objective's jitter term is MAPE and
    ``cfg.select`` is ``"objective"`` (:func:`selection_figure`).
    ``init_checkpoint`` fine-tunes: architecture, weights and feature
    statistics come from that model directory (``cfg.architecture`` is
    ignored except its ``prior``, which a hybrid continues on, and with ``reset_readout`` its
    ``readout_hidden`` and ``own_size``; input weights the start never trained are zeroed, as
    :meth:`~twinwatch.twin.models.gnn.GNNModel.load` does), and the starting model is scored first as
    "epoch -1", so the result is never worse on the validation set than where
    it started.
    ``refit_stats`` refits the feature statistics on ``train_set`` instead
    (for continued training on a wider data mix, whose inputs would sit far
    outside the starting model's statistics); the starting weights are
    rewritten so the model computes the same function under the new
    statistics (:func:`twinwatch.twin.models.warm_start.restat`).
    ``to_hybrid`` turns a first-generation start into the queueing-theory
    hybrid (:func:`twinwatch.twin.models.warm_start.hybrid_from`: trained
    message passing, readout started at queueing theory); it implies
    ``refit_stats`` (the hybrid's extra inputs need statistics) and needs
    ``train_set`` built with the queueing-theory prior. ``reset_readout``
    zeroes a hybrid start's last readout layer
    (:func:`twinwatch.twin.models.warm_start.reset_readout`): the start then
    predicts its prior, e.g. after switching ``cfg.architecture["prior"]``; a
    ``cfg.architecture["readout_hidden"]`` other than the start's rebuilds the
    readout at that width (fresh hidden layer, zero last layer).

    ``on_event(kind, info)`` is called with ``"epoch_start"`` (``batches``),
    ``"batch"`` (``loss``) and ``"epoch_end"`` (``epoch``, ``train_loss`` (None for epoch -1, the
    starting model scored before any training),
    ``val``, ``best``) so a CLI can draw progress. Returns a summary dict.
    """
    if not train_set:
        raise ValueError("train: the training set is empty; check the --train directories")
    if not val_set:
        raise ValueError("train: the validation set is empty; pass --val with held-out samples")
    t0 = time.monotonic()
    torch.set_num_threads(cfg.threads)
    seed_everything(cfg.seed)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    emit = on_event or (lambda kind, info: None)
    if init_checkpoint is not None:
        w0, c0 = load_checkpoint(init_checkpoint)
        net = RouteNetFermi(GNNConfig.from_dict(c0.get("architecture", {})))
        net.load_state_dict(w0)
        if cfg.architecture.get("prior", net.config.prior) != net.config.prior:  # continue on another prior
            net.config = replace(net.config, prior=cfg.architecture["prior"])
        old_stats = FeatureStats.from_dict(c0["feature_stats"])
        convert = to_hybrid and not net.config.hybrid
        stats = FeatureStats.fit([e.graph for e in train_set]) if refit_stats or convert else old_stats
        restat(net, old_stats, stats)  # the same function (untrained input weights zeroed, as GNNModel.load does)
        if convert:
            net = hybrid_from(net)
            own = cfg.architecture.get("own_size")
            if own is not None and own != net.config.own_size:  # its readout starts at the prior anyway
                reset_hybrid_readout(net, own_size=own)
        if reset_readout:  # at the configured width and own-size composition (the start's own unless changed)
            reset_hybrid_readout(net, cfg.architecture.get("readout_hidden"), cfg.architecture.get("own_size"))
        fade = cfg.architecture.get("full_buffer_fade", net.config.full_buffer_fade)
        depth = cfg.architecture.get("full_buffer_depth", net.config.full_buffer_depth)
        if (fade, depth) != (net.config.full_buffer_fade, net.config.full_buffer_depth):
            set_full_buffer_fade(net, fade, depth)
    else:
        stats = FeatureStats.fit([e.graph for e in train_set])
        net = RouteNetFermi(GNNConfig.from_dict(cfg.architecture))
    opt = torch.optim.Adam(net.parameters(), lr=cfg.lr)
    start_epoch, best, best_epoch, history = 0, float("inf"), -1, []
    extra = {"data": data_info or {}, "n_train": len(train_set), "n_val": len(val_set)}
    if init_checkpoint is not None and not (resume and (out / RESUME).is_file()):
        val0 = evaluate_examples(net, val_set, stats)
        best = selection_figure(val0, cfg.jitter_loss, cfg.select)
        save_checkpoint(out, net.state_dict(), _model_config(net, stats, cfg, {**extra, "best_epoch": -1,
                                                                                "val": val0}))
        history.append({"epoch": -1, "train_loss": None, **val0, "time_s": time.monotonic() - t0})
        emit("epoch_end", {"epoch": -1, "train_loss": None, "val": val0, "best": best, "improved": True})
    if resume and (out / RESUME).is_file():
        st = torch.load(out / RESUME, weights_only=True)
        net.load_state_dict(st["model"])
        opt.load_state_dict(st["optimizer"])
        start_epoch, best, best_epoch = int(st["epoch"]) + 1, float(st["best"]), int(st["best_epoch"])
        stats = FeatureStats.from_dict(load_checkpoint(out)[1]["feature_stats"])
        torch.set_rng_state(st["torch_rng"])
        elapsed_before = float(st["elapsed_s"])
    else:
        elapsed_before = 0.0
    budget_s = cfg.time_budget_min * 60.0
    rng = np.random.default_rng(cfg.seed + start_epoch)
    epoch = start_epoch
    for epoch in range(start_epoch, cfg.epochs):
        net.train()
        batches = make_batches(train_set, cfg.batch_paths, cfg.batch_size, rng)
        emit("epoch_start", {"epoch": epoch, "batches": len(batches)})
        total = 0.0
        for i_b, idx in enumerate(batches):
            for group in opt.param_groups:
                group["lr"] = cosine_lr(cfg.lr, (epoch + i_b / len(batches)) / cfg.epochs,
                                        (time.monotonic() - t0 + elapsed_before) / budget_s)
            ex = [train_set[i] for i in idx]
            b = collate([e.graph for e in ex], stats)
            loss = loss_fn(net(b), _labels(ex), cfg.jitter_loss)
            opt.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(net.parameters(), 1.0)
            opt.step()
            lv = float(loss.detach())
            total += lv
            emit("batch", {"loss": lv})
        val = evaluate_examples(net, val_set, stats)
        fig = selection_figure(val, cfg.jitter_loss, cfg.select)
        improved = fig < best
        if improved:
            best, best_epoch = fig, epoch
            save_checkpoint(out, net.state_dict(), _model_config(net, stats, cfg, {**extra, "best_epoch": epoch,
                                                                                    "val": val}))
        history.append({"epoch": epoch, "train_loss": total / max(len(batches), 1), **val,
                        "time_s": time.monotonic() - t0})
        torch.save({"model": net.state_dict(), "optimizer": opt.state_dict(), "epoch": epoch, "best": best,
                    "best_epoch": best_epoch, "torch_rng": torch.get_rng_state(),
                    "elapsed_s": time.monotonic() - t0 + elapsed_before}, out / RESUME)
        emit("epoch_end", {"epoch": epoch, "train_loss": history[-1]["train_loss"], "val": val, "best": best,
                           "improved": improved})
        if epoch - best_epoch >= cfg.patience:
            break
        if time.monotonic() - t0 + elapsed_before > budget_s:
            break
    # reload the best weights, calibrate intervals on the validation set, rewrite the checkpoint
    weights, mcfg = load_checkpoint(out)
    net.load_state_dict(weights)
    cal = calibrate_heldout(as_served(net, stats), val_set, stats, coverage=cfg.coverage)
    mcfg["calibration"] = cal
    mcfg["training"]["history"] = history
    mcfg["training"]["wall_time_s"] = time.monotonic() - t0
    mcfg.pop("created", None)
    mcfg.pop("git_revision", None)
    save_checkpoint(out, net.state_dict(), mcfg)
    best_queue = float(mcfg["training"].get("val", {}).get("queue_mape", best))  # the kept epoch's validation
    return {"best_val_delay_mape": best_queue, "best_val_queue_mape": best_queue, "best_val_selection": best,
            "best_epoch": best_epoch,
            "epochs_run": epoch + 1 - start_epoch, "wall_time_s": time.monotonic() - t0, "calibration": cal}


def selection_figure(val: dict[str, float], jitter_loss: str = "log", select: str = "objective") -> float:
    """The validation figure :func:`train` keeps the best epoch by (lower is better), in %.

    ``queue_mape``, plus ``0.5 · jitter_mape`` (the objective's weight) when the
    objective's jitter term is MAPE and ``select`` is ``"objective"`` (a jitter
    MAPE that cannot be computed counts 0); ``select="queue"`` is ``queue_mape``
    alone (the jitter MAPE of a few unresolvable paths swings by several points
    from epoch to epoch and would otherwise pick the epoch, not the model).

    >>> val = {"queue_mape": 2.0, "jitter_mape": 40.0}
    >>> selection_figure(val), selection_figure(val, "mape"), selection_figure(val, "mape", "queue")
    (2.0, 22.0, 2.0)
    """
    fig = float(val["queue_mape"])
    if jitter_loss == "mape" and select == "objective" and math.isfinite(val.get("jitter_mape", math.nan)):
        fig += JITTER_WEIGHT * float(val["jitter_mape"])
    return fig


def split_examples(examples: Sequence[_T], val_fraction: float, seed: int = 0) -> tuple[list[_T], list[_T]]:
    """Split ``examples`` by sample into ``(train, val)``; ``val`` gets ``round(n · val_fraction)`` (at least 1).

    >>> tr, va = split_examples(list(range(10)), 0.2)
    >>> len(tr), len(va), sorted(tr + va) == list(range(10))
    (8, 2, True)
    """
    n = len(examples)
    if n < 2:
        raise ValueError(f"finetune: need at least 2 samples to hold one out for validation, got {n}")
    if not 0 < val_fraction < 1:
        raise ValueError(f"finetune: val_fraction must be in (0, 1), got {val_fraction!r}")
    n_val = min(max(1, round(n * val_fraction)), n - 1)
    order = np.random.default_rng(seed).permutation(n)
    val_idx = {int(i) for i in order[:n_val]}
    tr = [e for i, e in enumerate(examples) if i not in val_idx]
    return tr, [e for i, e in enumerate(examples) if i in val_idx]


def qt_reference(examples: Sequence[Example]) -> dict[str, float]:
    """:func:`evaluate_examples` of the queueing-theory model on ``examples`` (graphs built with ``qt_prior=True``).

    Scored as the untrained hybrid composing a packet's own size over its path (``own_size="per-packet"``), whose
    zero last layer makes it equal to queueing theory (``tests/unit/twin/test_gnn_hybrid.py``), so it reads the
    same per-hop prior the hybrid corrects.
    """
    net = RouteNetFermi(GNNConfig(hidden=4, iterations=1, readout_hidden=4, hybrid=True, own_size="per-packet"))
    return evaluate_examples(net, examples, FeatureStats.identity())


def finetune(examples: Sequence[Example], out_dir: str | os.PathLike[str], base: str | os.PathLike[str], *,
             minutes: float = 15.0, val_fraction: float = 0.2, seed: int = 0, lr: float = 5e-4, threads: int = 2,
             batch_paths: int = 12000, on_event: ProgressHook | None = None) -> dict[str, Any]:
    """Adapt the model directory ``base`` to ``examples`` within ``minutes`` and write it to ``out_dir``.

    The samples are split by sample (``val_fraction`` held out, seeded). The
    base model, queueing theory and the result are scored on the held-out
    part (:func:`evaluate_examples`: delay, queueing-part and jitter MAPE in
    %, loss MAE); training keeps the epoch with the best held-out
    queueing-part MAPE, the base model included (epoch -1), so the result is
    never worse there than the base; the conformal intervals and p-value
    grids are recalibrated on the held-out part (:func:`calibrate_heldout`;
    load bands it fills too thinly keep the base model's quantiles, a KPI
    with too few held-out labels the base model's entry). The
    graphs must carry the queueing-theory prior
    (``load_examples(..., qt_prior=True)``).

    Returns the report: ``before``, ``after``, ``qt`` metric dicts, sample
    counts, epochs run, wall time (s).
    """
    t0 = time.monotonic()
    torch.set_num_threads(threads)
    tr, va = split_examples(examples, val_fraction, seed)
    weights, cfg0 = load_checkpoint(base)
    net0 = RouteNetFermi(GNNConfig.from_dict(cfg0.get("architecture", {})))
    net0.load_state_dict(weights)
    stats0 = FeatureStats.from_dict(cfg0["feature_stats"])
    before = evaluate_examples(as_served(net0, stats0), va, stats0)
    qt = qt_reference(va)
    spent_min = (time.monotonic() - t0) / 60.0
    budget = max(minutes - spent_min - 0.1 * minutes, 0.05)  # keep a tenth for the final calibration and scoring
    base_cfg = cfg0.get("training", {}).get("config", {})
    jitter_loss = base_cfg.get("jitter_loss", "log")  # the base model's objective and selection
    select = base_cfg.get("select", "objective")
    cfg = TrainConfig(epochs=1000, lr=lr, seed=seed, batch_paths=batch_paths, batch_size=16, time_budget_min=budget,
                      patience=1000, threads=threads, architecture=net0.config.to_dict(),
                      jitter_loss=jitter_loss if jitter_loss in JITTER_LOSSES else "log",
                      select=select if select in SELECTIONS else "objective")
    summary = train(tr, va, out_dir, cfg, data_info={"finetune_from": str(base)}, on_event=on_event,
                    init_checkpoint=base)
    w1, cfg1 = load_checkpoint(out_dir)
    net1 = RouteNetFermi(GNNConfig.from_dict(cfg1.get("architecture", {})))
    net1.load_state_dict(w1)
    stats1 = FeatureStats.from_dict(cfg1["feature_stats"])
    served1 = as_served(net1, stats1)
    after = evaluate_examples(served1, va, stats1)
    base_cal = cfg0.get("calibration") or {}
    cal = calibrate_heldout(served1, va, stats1, coverage=cfg.coverage, fallback=base_cal)
    cal = {**{k: v for k, v in base_cal.items() if k not in cal}, **cal}  # too few labels of a KPI: the base's
    if cal:
        cfg1["calibration"] = cal
        cfg1["calibration_data"] = {"heldout_samples": len(va), "coverage": cfg.coverage,
                                    "min_windows": MIN_WINDOWS,
                                    "sparse_bands": "checkpoint" if base_cal else "pooled",
                                    "finetune_from": str(base)}
        save_checkpoint(out_dir, w1, cfg1)
    return {"base": str(base), "n_train": len(tr), "n_val": len(va), "before": before, "after": after, "qt": qt,
            "best_epoch": summary["best_epoch"], "epochs_run": summary["epochs_run"],
            "wall_time_s": time.monotonic() - t0}
