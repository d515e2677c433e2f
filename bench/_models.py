"""Model specs on the bench scripts' command lines: a registry name, optionally with options.

``--models qt,qt-packet:input_smoothing=port,gnn`` scores the packet-level
queueing model with the port-average input smoothing beside the default one,
in the same run, without a new registry name. A spec is
``name[:key=value[;key=value...]]``; values are read as JSON where they parse
(numbers, booleans, quoted strings) and as plain strings otherwise. The model
is reported under its whole spec.

Example::

    from _models import build_models

    models = build_models("qt,qt-packet:input_smoothing=port")   # {"qt": ..., "qt-packet:input_smoothing=port": ...}
"""

from __future__ import annotations

import json
from typing import Any

__all__ = ["build_models", "parse_spec"]


def parse_spec(spec: str) -> tuple[str, dict[str, Any]]:
    """``"name[:key=value[;key=value...]]"`` → ``(name, options)``.

    >>> parse_spec("qt-packet:input_smoothing=port;max_iter=80")
    ('qt-packet', {'input_smoothing': 'port', 'max_iter': 80})
    >>> parse_spec("qt")
    ('qt', {})
    """
    name, _, rest = spec.strip().partition(":")
    opts: dict[str, Any] = {}
    for item in filter(None, rest.split(";")):
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise ValueError(f"model spec {spec!r}: option {item!r} is not key=value")
        try:
            opts[key] = json.loads(value)
        except json.JSONDecodeError:
            opts[key] = value
    return name, opts


def build_models(specs: str) -> dict[str, Any]:
    """Comma-separated specs → ``{spec: model}`` (:func:`twinwatch.twin.models.get_model`)."""
    from twinwatch.twin.models import get_model

    out: dict[str, Any] = {}
    for spec in filter(None, (s.strip() for s in specs.split(","))):
        name, opts = parse_spec(spec)
        out[spec] = get_model(name, **opts)
    return out
