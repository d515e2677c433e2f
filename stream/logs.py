"""Logging set-up: human-readable text or one JSON object per line.

With ``--log-format json`` every line the process writes to stderr is a JSON
object: log records, Python warnings (``warnings.warn``, which numba, NumPy and
torch's Python side use; :func:`logging.captureWarnings`), click's usage and
error messages (:func:`twinwatch.stream.cli.main` routes them here), uncaught exceptions
(``sys.excepthook``) and the commands' own summaries, which ask
:func:`json_mode` and then log instead of printing with rich. Text a native
library writes straight to file descriptor 2 (torch's C++ warnings) is beyond
Python's reach.

>>> import logging
>>> rec = logging.LogRecord("twinwatch", logging.INFO, __file__, 1, "window closed", None, None)
>>> line = JsonFormatter().format(rec)
>>> import orjson; orjson.loads(line)["msg"]
'window closed'
"""

from __future__ import annotations

import logging
import sys
from types import TracebackType

import orjson

__all__ = ["JsonFormatter", "configure_logging", "json_mode"]

_STD_ATTRS = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime"}
_state = {"format": "text"}


class JsonFormatter(logging.Formatter):
    """Format a record as a single JSON line (``ts`` in epoch seconds UTC)."""

    def format(self, record: logging.LogRecord) -> str:
        doc: dict[str, object] = {
            "ts": record.created,
            "level": record.levelname,
            "logger": record.name,
            "msg": record.getMessage(),
        }
        for key, value in record.__dict__.items():
            if key not in _STD_ATTRS and not key.startswith("_"):
                doc[key] = value
        if record.exc_info:
            doc["exc"] = self.formatException(record.exc_info)
        return orjson.dumps(doc, default=str, option=orjson.OPT_SERIALIZE_NUMPY).decode()


def json_mode() -> bool:
    """Whether ``--log-format json`` is in force (commands then log their summaries instead of printing)."""
    return _state["format"] == "json"


def _log_uncaught(exc_type: type[BaseException], exc: BaseException, tb: TracebackType | None) -> None:
    if issubclass(exc_type, KeyboardInterrupt):
        sys.__excepthook__(exc_type, exc, tb)
        return
    logging.getLogger("twinwatch").critical("uncaught %s: %s", exc_type.__name__, exc, exc_info=(exc_type, exc, tb))


def configure_logging(level: str = "INFO", fmt: str = "text") -> None:
    """Send logs to stderr as ``text`` or ``json``; idempotent.

    Python warnings are routed through logging (logger ``py.warnings``) in both formats, so that
    they follow ``--log-level`` and, with ``json``, come out as JSON lines; with ``json``
    uncaught exceptions are logged as one JSON line (with the traceback in ``exc``) too.
    """
    handler = logging.StreamHandler(sys.stderr)
    if fmt == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    _state["format"] = fmt
    logging.captureWarnings(True)
    sys.excepthook = _log_uncaught if fmt == "json" else sys.__excepthook__
