"""MLP baseline on per-path features (the seed paper's non-graph comparison).

Each path is described by a fixed-size vector: the packet-rate-weighted mean
of its flows' input features (:data:`twinwatch.twin.features.FLOW_FEATURES`: traffic
model, ToS, packet-size moments, hop count, max/mean link load along the
path, the M/M/1/K prior summed along the path) plus the path's transmission
time scale. A 3-layer MLP predicts, per path,

- ``log(delay / τ)`` with ``τ = Σ_hops mean_size_q / C`` (scale-free target),
- ``log(jitter / τ²)``,
- ``logit(loss)``.

It sees the loads of the links on its path but not how the paths interact
(no message passing), which is what the GNN adds.

Examples
--------
>>> from twinwatch.twin.scenario import Flow, Scenario
>>> from twinwatch.twin.features import scenario_graph
>>> sc = Scenario.build(3, [(0, 1, 1e4), (1, 2, 1e4), (1, 0, 1e4), (2, 1, 1e4)],
...                     {(0, 2): [0, 1, 2], (1, 2): [1, 2]}, [Flow(0, 2, 2e3, 1000.0), Flow(1, 2, 1e3, 1000.0)])
>>> x, tau = path_features(scenario_graph(sc))
>>> x.shape, tau.round(3).tolist()
((2, 20), [0.2, 0.1])
"""

from __future__ import annotations

import os
import time
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch import nn

from twinwatch.twin.features import FLOW_FEATURES, GraphArrays, scenario_graph
from twinwatch.twin.kpis import Prediction
from twinwatch.twin.models.bounds import OutOfDomainWarning, apply_physical_bounds

if TYPE_CHECKING:
    from twinwatch.twin.scenario import Scenario
    from twinwatch.twin.train import Example

__all__ = ["DEFAULT_MLP_CHECKPOINT", "OOD_Z", "MLPModel", "PathMLP", "fit_mlp", "load_mlp", "path_features"]

DEFAULT_MLP_CHECKPOINT = Path(__file__).resolve().parents[1] / "data" / "checkpoints" / "mlp"
"""The shipped MLP baseline (``twin/data/checkpoints/mlp``)."""

N_PATH_FEATURES = len(FLOW_FEATURES) + 2
_FEATURE_NAMES = (*FLOW_FEATURES, "log1p_prior_occupancy_ratio", "log_flows_per_path")

OOD_Z = 8.0
"""A path feature further than this many training standard deviations from the training mean is out of domain."""


def path_features(g: GraphArrays) -> tuple[np.ndarray, np.ndarray]:
    """Per-path feature matrix ``(P, |FLOW_FEATURES| + 2)`` and time scale ``τ`` ``(P,)``.

    ``τ`` (time units) is the path's sum of ``mean packet size / capacity``
    over its hops: the delay of one packet crossing empty queues.
    """
    n_p, n_f = g.n_paths, g.n_flows
    w = np.maximum(g.flow_weight.astype(np.float64), 1e-12)
    wsum = np.bincount(g.flow_path, weights=w, minlength=n_p)
    x = np.zeros((n_p, len(FLOW_FEATURES)))
    for j in range(len(FLOW_FEATURES)):  # columns, not paths: a fixed small loop
        x[:, j] = np.bincount(g.flow_path, weights=w * g.flow_x[:, j], minlength=n_p)
    x /= np.maximum(wsum, 1e-12)[:, None]
    tau_f = np.bincount(g.hop_flow, weights=g.queue_size[g.hop_queue] / g.hop_capacity, minlength=n_f)
    tau = np.bincount(g.flow_path, weights=w * tau_f, minlength=n_p) / np.maximum(wsum, 1e-12)
    occ_t = np.bincount(g.hop_flow, weights=g.hop_prior_occ * g.queue_size[g.hop_queue] / g.hop_capacity,
                        minlength=n_f)
    occ_rel = np.bincount(g.flow_path, weights=w * occ_t, minlength=n_p) / np.maximum(wsum, 1e-12) / tau
    nflows = np.bincount(g.flow_path, minlength=n_p)
    x = np.column_stack([x, np.log1p(occ_rel), np.log(np.maximum(nflows, 1))])
    return x.astype(np.float32), tau


class PathMLP(nn.Module):
    """Per-path MLP: ``(P, F_p)`` normalised features → ``(P, 3)`` raw outputs.

    Shapes:
        - input ``(P, F_p)``
        - output ``(P, 3)``: ``log(delay/τ)``, ``log(jitter/τ²)``, ``logit(loss)``
    """

    def __init__(self, n_in: int = N_PATH_FEATURES, hidden: int = 64) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Linear(n_in, hidden), nn.SELU(), nn.Linear(hidden, hidden), nn.SELU(),
                                 nn.Linear(hidden, 3))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class MLPModel:
    """The MLP baseline as a :class:`~twin.models.KPIModel` (path KPIs only; link KPIs are NaN)."""

    name = "mlp"

    def __init__(self, net: PathMLP, mean: np.ndarray, std: np.ndarray) -> None:
        self.net = net.eval()
        self.mean = mean.astype(np.float32)
        self.std = std.astype(np.float32)

    def raw(self, g: GraphArrays) -> tuple[np.ndarray, np.ndarray]:
        x, tau = path_features(g)
        with torch.inference_mode():
            out = self.net(torch.from_numpy((x - self.mean) / self.std)).double().numpy()
        return out, tau

    def out_of_domain(self, x: np.ndarray) -> tuple[np.ndarray, int, float]:
        """Which paths' features lie outside the training domain.

        ``x`` is the ``(P, F_p)`` raw feature matrix. A path is out of domain
        when any of its features sits more than :data:`OOD_Z` training
        standard deviations from the training mean (the checkpoint's
        ``mean``/``std``). Returns ``(mask (P,), worst feature column, its |z|)``.
        """
        if x.shape[0] == 0:
            return np.zeros(0, dtype=bool), 0, 0.0
        z = np.abs((x - self.mean) / self.std)
        col = int(np.argmax(z.max(axis=0)))
        return (z > OOD_Z).any(axis=1), col, float(z[:, col].max())

    def predict(self, scenario: Scenario) -> Prediction:
        """Per-path KPIs of ``scenario`` (its time unit); link KPIs are NaN.

        The network predicts queueing + transmission (``τ · exp(out)``); the
        path's propagation delay, which the training data (GNNet) did not
        have, is added, and the answer is clamped to the physical bounds
        (:func:`twinwatch.twin.models.bounds.apply_physical_bounds`). Paths whose
        features are outside the training domain raise one
        :class:`~twin.models.bounds.OutOfDomainWarning` per call.
        """
        x, tau = path_features(scenario_graph(scenario))
        with torch.inference_mode():
            out = self.net(torch.from_numpy((x - self.mean) / self.std)).double().numpy()
        ood, col, zmax = self.out_of_domain(x)
        if ood.any():
            name = _FEATURE_NAMES[col] if col < len(_FEATURE_NAMES) else f"feature {col}"
            warnings.warn(
                f"mlp: {int(ood.sum())} of {ood.size} paths are outside the model's training domain (worst: "
                f"{name} at {zmax:.0f} training standard deviations from its mean {float(self.mean[col]):.3g}); "
                "their predictions are extrapolations, clamped to the physical floor. Use --model gnn or qt.",
                OutOfDomainWarning, stacklevel=2)
        prop = np.bincount(scenario.hop_path, weights=scenario.link_prop_delay_s[scenario.path_links],
                           minlength=scenario.n_paths)
        pr = Prediction.empty(scenario.n_paths, scenario.n_links)
        pr.path_delay_s[:] = prop + tau * np.exp(np.clip(out[:, 0], -20, 20))
        pr.path_jitter_s2[:] = tau**2 * np.exp(np.clip(out[:, 1], -30, 30))
        pr.path_loss_ratio[:] = 1.0 / (1.0 + np.exp(-np.clip(out[:, 2], -50, 50)))
        apply_physical_bounds(scenario, pr)
        return pr

    @classmethod
    def load(cls, checkpoint: str | os.PathLike[str] | None = None) -> MLPModel:
        """Load an MLP model directory (or its ``config.json`` / ``model.safetensors``; default: the shipped one).

        Raises :class:`~twin.checkpoint.CheckpointError` naming the file when the checkpoint is
        missing, corrupt or inconsistent (config keys, weight shapes, feature statistics).
        """
        from twinwatch.twin.checkpoint import CheckpointError, load_checkpoint

        path = Path(checkpoint) if checkpoint is not None else DEFAULT_MLP_CHECKPOINT
        weights, cfg = load_checkpoint(path, kind="mlp")
        try:
            n_in, hidden = int(cfg["n_in"]), int(cfg["hidden"])
            if not (1 <= n_in <= 10_000 and 1 <= hidden <= 100_000):
                raise ValueError(f"n_in={n_in}, hidden={hidden} out of range")
            mean = np.asarray(cfg["mean"], dtype=np.float64)
            std = np.asarray(cfg["std"], dtype=np.float64)
            big = float(np.finfo(np.float32).max)
            if mean.shape != (n_in,) or std.shape != (n_in,) or not (
                    (np.abs(mean) < big).all() and ((std >= np.finfo(np.float32).tiny) & (std < big)).all()):
                raise ValueError(f"mean/std must be {n_in} finite float32 numbers (std > 0)")
            net = PathMLP(n_in, hidden)
            net.load_state_dict(weights)
        except (KeyError, TypeError, ValueError, RuntimeError, OverflowError) as exc:
            raise CheckpointError(f"checkpoint {path}: not a consistent MLP checkpoint ({type(exc).__name__}: "
                                  f"{str(exc).splitlines()[0] if str(exc) else exc!r})") from None
        if n_in != N_PATH_FEATURES:
            raise CheckpointError(f"checkpoint {path}: n_in is {n_in}, this twinwatch computes {N_PATH_FEATURES} "
                                  "path features; retrain it")
        return cls(net, mean, std)


def load_mlp(checkpoint: str | None = None) -> MLPModel:
    """The MLP baseline from ``checkpoint`` (a model directory), or the shipped one when ``None``."""
    return MLPModel.load(checkpoint)


def _stack(examples: Sequence[Example]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    xs, taus, ys = [], [], []
    for e in examples:
        x, tau = path_features(e.graph)
        xs.append(x)
        taus.append(tau)
        ys.append(np.column_stack([e.delay, e.jitter, e.loss]))
    return np.concatenate(xs), np.concatenate(taus), np.concatenate(ys)


def fit_mlp(train_set: Sequence[Example], val_set: Sequence[Example], out_dir: str | os.PathLike[str], *,
            epochs: int = 40, lr: float = 2e-3, seed: int = 0, hidden: int = 64, batch: int = 2048,
            time_budget_min: float = 5.0) -> dict[str, Any]:
    """Train the MLP (MAPE on delay, ``|log|`` error on jitter, MAE on loss); keep the best on ``val_set``."""
    from twinwatch.twin.checkpoint import save_checkpoint

    t0 = time.monotonic()
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    x, tau, y = _stack(train_set)
    xv, tauv, yv = _stack(val_set)
    mean, std = x.mean(axis=0), np.maximum(x.std(axis=0), 1e-3)
    xt = torch.from_numpy((x - mean) / std)
    xvt = torch.from_numpy((xv - mean) / std)
    tt, yt = torch.from_numpy(tau).float(), torch.from_numpy(y).float()
    net = PathMLP(x.shape[1], hidden)
    opt = torch.optim.Adam(net.parameters(), lr=lr)
    best, best_state = float("inf"), None
    for _ep in range(epochs):
        net.train()
        perm = torch.from_numpy(rng.permutation(x.shape[0]))
        for i in range(0, x.shape[0], batch):
            idx = perm[i : i + batch]
            out = net(xt[idx])
            yy, ta = yt[idx], tt[idx]
            md = torch.isfinite(yy[:, 0]) & (yy[:, 0] > 0)
            mj = torch.isfinite(yy[:, 1]) & (yy[:, 1] > 0)
            ml = torch.isfinite(yy[:, 2])
            d = ta * torch.exp(out[:, 0].clamp(-20, 20))
            loss = torch.abs(d[md] / yy[md, 0] - 1).mean()
            if mj.any():
                loss = loss + 0.3 * torch.abs(out[mj, 1] + 2 * torch.log(ta[mj]) - torch.log(yy[mj, 1])).mean()
            if ml.any():
                loss = loss + 2.0 * torch.abs(torch.sigmoid(out[ml, 2]) - yy[ml, 2]).mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
        net.eval()
        with torch.inference_mode():
            dv = tauv * np.exp(np.clip(net(xvt)[:, 0].double().numpy(), -20, 20))
        m = np.isfinite(yv[:, 0]) & (yv[:, 0] > 0)
        mape = float(np.mean(np.abs(dv[m] / yv[m, 0] - 1)) * 100)
        if mape < best:
            best, best_state = mape, {k: v.clone() for k, v in net.state_dict().items()}
        if time.monotonic() - t0 > time_budget_min * 60:
            break
    assert best_state is not None
    save_checkpoint(out_dir, best_state, {"kind": "mlp", "n_in": int(x.shape[1]), "hidden": hidden,
                                          "mean": mean.tolist(), "std": std.tolist(),
                                          "training": {"val_delay_mape": best, "n_train": len(train_set),
                                                       "wall_time_s": time.monotonic() - t0}})
    return {"best_val_delay_mape": best, "wall_time_s": time.monotonic() - t0}
