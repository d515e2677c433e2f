"""Load a KPI model by name and/or checkpoint, with errors a front end can sort.

:func:`load_model` is what every caller (the CLI, the service, benchmarks)
uses to turn ``--model`` / ``--checkpoint`` into a :class:`~twin.models.KPIModel`.
It separates the three ways loading fails, so that a front end can map them
to its own exit codes without parsing messages:

- :class:`UnknownModelError` (a ``ValueError``): the name is not registered
  (a usage error);
- ``TypeError``: the model does not take the options given (a usage error);
- :class:`ModelLoadError` (a ``RuntimeError``): the model is known but cannot
  load (a missing module or checkpoint, a corrupt file).

The default model's fallback notice (``gnn`` → ``qt``) is a ``RuntimeWarning``.

Examples
--------
>>> load_model("qt").name
'qt'
>>> load_model("nope")
Traceback (most recent call last):
...
twinwatch.twin.models.loading.UnknownModelError: unknown model 'nope'; known models: gnn, mlp, qt, qt-packet, sim
>>> load_model("gnn", checkpoint="/nonexistent/model")  # doctest: +ELLIPSIS
Traceback (most recent call last):
...
twinwatch.twin.models.loading.ModelLoadError: cannot load model 'gnn': ...
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from twinwatch.twin.models import KPIModel

__all__ = ["ModelLoadError", "UnknownModelError", "load_model"]


class UnknownModelError(ValueError):
    """The model name is not in :data:`twinwatch.twin.models.MODELS`; the message lists the known names."""


class ModelLoadError(RuntimeError):
    """A known model could not be loaded; the message names the model and the cause."""


def load_model(
    name: str | None = None, checkpoint: str | os.PathLike[str] | None = None, **options: Any
) -> KPIModel:
    """The model called ``name`` (``None``: the default), from ``checkpoint`` when given.

    Parameters
    ----------
    name
        A key of :data:`twinwatch.twin.models.MODELS` (case and surrounding blanks
        ignored), or ``None`` for the default model (``gnn``, else ``qt``
        with a ``RuntimeWarning``; a checkpoint means ``gnn``).
    checkpoint
        A model directory (``model.safetensors`` + ``config.json``) for the
        models that take one.
    options
        Further keyword options of the model's factory.

    Raises
    ------
    UnknownModelError
        ``name`` is not registered.
    TypeError
        The model's factory does not take these options.
    ModelLoadError
        The model is known but cannot load; ``__cause__`` is the original error.
    """
    from twinwatch.twin.models import MODELS, get_model

    if name is not None and name.strip().lower() not in MODELS:
        raise UnknownModelError(f"unknown model {name!r}; known models: {', '.join(sorted(MODELS))}")
    key = name.strip().lower() if name is not None else None
    ckpt = os.fspath(checkpoint) if checkpoint is not None else None
    try:
        return get_model(key, checkpoint=ckpt, **options)
    except TypeError:
        raise
    except (ImportError, OSError, RuntimeError, ValueError) as exc:
        raise ModelLoadError(f"cannot load model {name or '(default)'!r}: {exc}") from exc
