"""Logging set-up: human-readable text or one JSON object per line.

>>> import logging
>>> rec = logging.LogRecord("twinwatch", logging.INFO, __file__, 1, "window closed", None, None)
>>> line = JsonFormatter().format(rec)
>>> import orjson; orjson.loads(line)["msg"]
'window closed'
"""

from __future__ import annotations

import logging
import sys

import orjson

__all__ = ["JsonFormatter", "configure_logging"]

_STD_ATTRS = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime"}


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
        return orjson.dumps(doc, default=str).decode()


def configure_logging(level: str = "INFO", fmt: str = "text") -> None:
    """Send logs to stderr as ``text`` or ``json``; idempotent."""
    handler = logging.StreamHandler(sys.stderr)
    if fmt == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
