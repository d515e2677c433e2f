"""KPI models of the twin and their registry.

Contract: a model has a ``name`` and ``predict(scenario) -> Prediction``
(:class:`KPIModel`); ``predict_many`` is optional (:func:`predict_many` loops
when a model lacks it). Models are found by name with :func:`get_model`; each
entry is a lazy ``"module:factory"`` string, so importing this package costs
nothing and optional heavy dependencies (torch) load only for the models that
need them.

==========  ==================================  ===================================
name        factory                             what
==========  ==================================  ===================================
``qt``      ``twinwatch.twin.models.qt:QueueingModel``    queueing-theory baseline (NumPy)
``qt-packet`` ``twinwatch.twin.models.qt:packet_queueing_model``  the same at the packet level
                                                (line-rate WFQ, input smoothing)
``mlp``     ``twinwatch.twin.models.mlp:load_mlp``        per-path MLP baseline
``gnn``     ``twinwatch.twin.models.gnn:load_gnn``        the GNN twin (shipped checkpoint or
                                                ``checkpoint=PATH``)
``sim``     ``twinwatch.twin.sim.model:SimulatorModel``   the packet-level simulator
==========  ==================================  ===================================

``get_model(None)`` is the default model: ``gnn`` when its module and its
shipped checkpoint load, else ``qt`` (with a warning). Front ends load models
with :func:`load_model` (``twinwatch.twin.models.loading``), which sorts the failures
into an unknown name, bad options and a model that cannot load.

Examples
--------
>>> sorted(MODELS)
['gnn', 'mlp', 'qt', 'qt-packet', 'sim']
>>> get_model("qt").name
'qt'
>>> get_model("nope")
Traceback (most recent call last):
...
ValueError: unknown model 'nope'; known models: gnn, mlp, qt, qt-packet, sim
"""

from __future__ import annotations

import importlib
import warnings
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

if TYPE_CHECKING:
    from twinwatch.twin.kpis import Prediction
    from twinwatch.twin.scenario import Scenario

__all__ = [
    "CHECKPOINT_MODELS",
    "DEFAULT_ORDER",
    "MODELS",
    "KPIModel",
    "ModelLoadError",
    "UnknownModelError",
    "get_model",
    "load_model",
    "predict_many",
]

MODELS: dict[str, str] = {
    "qt": "twinwatch.twin.models.qt:QueueingModel",
    "qt-packet": "twinwatch.twin.models.qt:packet_queueing_model",
    "mlp": "twinwatch.twin.models.mlp:load_mlp",
    "gnn": "twinwatch.twin.models.gnn:load_gnn",
    "sim": "twinwatch.twin.sim.model:SimulatorModel",
}
"""Model name -> ``"module:factory"``; the factory takes the model options as keywords."""

CHECKPOINT_MODELS: tuple[str, ...] = ("gnn", "mlp")
"""The models that load weights from a checkpoint (the others take none)."""

DEFAULT_ORDER: tuple[str, ...] = ("gnn", "qt")
"""Models tried, in order, when no name is given."""


@runtime_checkable
class KPIModel(Protocol):
    """Anything that predicts the KPIs of a scenario."""

    name: str

    def predict(self, scenario: Scenario) -> Prediction:
        """Per-path and per-link KPIs of ``scenario``, in its own time unit."""
        ...


def predict_many(model: KPIModel, scenarios: Iterable[Scenario]) -> list[Prediction]:
    """``model.predict_many(scenarios)`` when the model has it, else a loop of ``predict``."""
    items = list(scenarios)
    batch = getattr(model, "predict_many", None)
    if callable(batch):
        return list(batch(items))
    return [model.predict(sc) for sc in items]


def _resolve(name: str) -> Any:
    target = MODELS[name]
    module, _, attr = target.partition(":")
    try:
        mod = importlib.import_module(module)
    except ModuleNotFoundError as exc:
        missing = exc.name or module
        raise ImportError(
            f"model {name!r} needs module {missing!r}, which is not installed or not written yet "
            f"({target}); pick another with --model ({', '.join(sorted(MODELS))})"
        ) from exc
    try:
        return getattr(mod, attr)
    except AttributeError as exc:
        raise ImportError(f"model {name!r}: {module} has no {attr!r} ({target})") from exc


def get_model(name: str | None = None, **options: Any) -> KPIModel:
    """Build the model called ``name`` (``None``: the default) with ``options``.

    Options a model does not take are an error of that model's factory, except
    ``checkpoint=None``, which is dropped (so a CLI can always pass it). With
    ``name=None`` and a checkpoint, the model is ``gnn`` (no fallback).

    Raises
    ------
    ValueError
        ``name`` is not in :data:`MODELS` (the message lists the known ones).
    ImportError
        The model's module, or something it needs, is missing.
    """
    opts = {k: v for k, v in options.items() if not (k == "checkpoint" and v is None)}
    if name is None and "checkpoint" in opts:
        name = "gnn"  # a checkpoint means the GNN; do not fall back silently
    if name is None:
        errors: list[str] = []
        for cand in DEFAULT_ORDER:
            try:
                model = _resolve(cand)(**opts)
            except (ImportError, OSError, ValueError, RuntimeError, TypeError) as exc:
                errors.append(f"{cand}: {exc}")
                continue
            if errors:
                warnings.warn(
                    f"default model: using {cand!r} because " + "; ".join(errors), RuntimeWarning, stacklevel=2
                )
            return model
        raise ImportError("no default model could be loaded: " + "; ".join(errors))
    key = name.strip().lower()
    if key not in MODELS:
        raise ValueError(f"unknown model {name!r}; known models: {', '.join(sorted(MODELS))}")
    return _resolve(key)(**opts)


from twinwatch.twin.models.loading import ModelLoadError, UnknownModelError, load_model  # noqa: E402  (uses the names above)
