"""The common tail of the bench/ scripts: describe the machine, write the JSON report.

Every script under ``bench/`` that writes a JSON report ends the same way: a ``machine``
entry that says where the figures were measured, then the document written to ``--out``
(strict JSON, parent folder created) and echoed on stdout. This module is that tail, once:

- :func:`machine_info` — one dict shape for the ``machine`` key of every report (CPU count,
  load averages, Python, platform, and the NumPy / torch versions and torch threads when the
  script has already imported them; never the host name);
- :func:`timed` — wall and process-CPU medians of a few calls of a function (one dict shape);
- :func:`write_report` — strict JSON (``allow_nan=False``: a NaN is an error at write time,
  naming where it is, unless the script asks for ``nan_as_null``), written atomically (a reader
  never sees half a file), with a trailing newline, echoed on stdout.

The scripts run as ``python bench/X.py`` from the repository root, so ``bench/`` is
``sys.path[0]`` and they import this module as ``from _report import machine_info, write_report``.

Example::

    from _report import machine_info, write_report

    report = {"rows": rows, "machine": machine_info(note="2-core shared dev box under load")}
    write_report(report, args.out, indent=2)
"""

from __future__ import annotations

import json
import math
import os
import platform
import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

__all__ = ["machine_info", "timed", "write_report"]


def machine_info(note: str | None = None) -> dict[str, object]:
    """Where a benchmark ran, as a JSON-ready dict (the ``machine`` entry of a report).

    Keys: ``cpus`` (``os.cpu_count()``), ``load_avg_1m`` / ``load_avg_5m`` / ``load_avg_15m``
    (runnable processes averaged over 1, 5 and 15 minutes, rounded to 0.01; ``None`` where the OS
    does not report them), ``python`` (version), ``platform`` (``platform.platform()``),
    ``machine`` (``platform.machine()``, e.g. ``x86_64``); ``numpy`` and ``torch`` (versions) and
    ``torch_threads`` (``torch.get_num_threads()``) only when the calling script has already
    imported them — this function imports neither; ``note`` (free text such as "2-core shared dev
    box under load") only when given. The host name is never included.

    The load averages are those at the time of the call: call it at the end of a run to describe
    the load the run saw, or keep a start value beside it in the report.

    >>> info = machine_info(note="2-core shared dev box under load")
    >>> info["note"], info["cpus"] == os.cpu_count(), "hostname" in info
    ('2-core shared dev box under load', True, False)
    """
    info: dict[str, object] = {"cpus": os.cpu_count()}
    try:
        load = os.getloadavg()
    except (AttributeError, OSError):  # not on every OS (Windows)
        info.update(load_avg_1m=None, load_avg_5m=None, load_avg_15m=None)
    else:
        info.update(load_avg_1m=round(load[0], 2), load_avg_5m=round(load[1], 2), load_avg_15m=round(load[2], 2))
    info.update(python=platform.python_version(), platform=platform.platform(), machine=platform.machine())
    np = sys.modules.get("numpy")
    if np is not None and hasattr(np, "__version__"):
        info["numpy"] = np.__version__
    torch = sys.modules.get("torch")
    if torch is not None and hasattr(torch, "get_num_threads"):  # imported (not half-way through its import)
        info["torch"] = str(torch.__version__)
        info["torch_threads"] = int(torch.get_num_threads())
    if note is not None:
        info["note"] = note
    return info


def timed(fn: Callable[[], object], repeat: int) -> dict[str, float]:
    """Call ``fn`` ``repeat`` times: median wall and process-CPU milliseconds, the fastest wall time, ``n``.

    >>> sorted(timed(lambda: None, 3))
    ['cpu_ms_median', 'n', 'wall_ms_median', 'wall_ms_min']
    """
    import statistics
    import time

    wall, cpu = [], []
    for _ in range(repeat):
        t, c = time.perf_counter(), time.process_time()
        fn()
        wall.append(time.perf_counter() - t)
        cpu.append(time.process_time() - c)
    return {"wall_ms_median": round(1e3 * statistics.median(wall), 2),
            "cpu_ms_median": round(1e3 * statistics.median(cpu), 2), "wall_ms_min": round(1e3 * min(wall), 2),
            "n": repeat}


def _finite_or_none(obj: Any) -> Any:
    """``obj`` with every non-finite float (NaN, ±inf) in it replaced by ``None``, through dicts, lists and tuples."""
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, Mapping):
        return {k: _finite_or_none(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_finite_or_none(v) for v in obj]
    return obj


def _first_non_finite(obj: Any, where: str = "$") -> str | None:
    """The JSON path (``$.a.b[3]``) of the first non-finite float in ``obj`` and its value, or ``None``."""
    if isinstance(obj, float):
        return None if math.isfinite(obj) else f"{where} = {obj!r}"
    if isinstance(obj, Mapping):
        items: Any = ((f"{where}.{k}", v) for k, v in obj.items())
    elif isinstance(obj, list | tuple):
        items = ((f"{where}[{i}]", v) for i, v in enumerate(obj))
    else:
        return None
    for path, value in items:
        hit = _first_non_finite(value, path)
        if hit is not None:
            return hit
    return None


def write_report(
    doc: Mapping[str, Any] | Sequence[Any],
    out: Path | None,
    *,
    echo: bool = True,
    indent: int | None = 1,
    nan_as_null: bool = False,
    sort_keys: bool = False,
    default: Callable[[Any], Any] | None = None,
) -> str:
    """Serialise a benchmark report as strict JSON, write it to ``out`` and echo it on stdout.

    Args:
        doc: the report (a JSON object; a list for the few scripts whose report is a list of rows).
        out: the file to write (its parent folders are created; written to a temporary file in
            the same folder, then renamed over ``out``, so a reader never sees half a file);
            ``None`` writes nothing.
        echo: also print the text on stdout.
        indent: ``json.dumps`` indent (spaces; ``None`` for one line).
        nan_as_null: write every NaN / ±inf float as ``null``, for reports where a missing figure
            is NaN by design (an empty group, a statistic of one value). Without it a non-finite
            float raises ``ValueError`` naming the file and the element, rather than writing
            ``NaN``, which is not JSON.
        sort_keys: sort the keys of every object.
        default: ``json.dumps`` ``default`` (called for objects JSON cannot hold, e.g. ``float``
            for NumPy scalars, ``str`` for paths).

    Returns:
        The JSON text, with its trailing newline.

    Raises:
        ValueError: a non-finite float in ``doc`` without ``nan_as_null``.

    >>> write_report({"b": 1, "a": [0.5, float("nan")]}, None, echo=False, indent=None, nan_as_null=True)
    '{"b": 1, "a": [0.5, null]}\\n'
    """
    if nan_as_null:
        doc = _finite_or_none(doc)
    try:
        text = json.dumps(doc, indent=indent, allow_nan=False, sort_keys=sort_keys, default=default) + "\n"
    except ValueError as exc:
        where = _first_non_finite(doc) or "a value"
        dest = out if out is not None else "<stdout>"
        raise ValueError(f"{dest}: {where} is not JSON (NaN / Infinity are not allowed; "
                         f"pass nan_as_null=True to write null): {exc}") from exc
    if out is not None:
        out = Path(out)
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp = out.with_name(f".{out.name}.{os.getpid()}.tmp")  # same folder: the rename is atomic
        try:
            tmp.write_text(text, encoding="utf-8")
            tmp.replace(out)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
    if echo:
        sys.stdout.write(text)
        sys.stdout.flush()
    return text
