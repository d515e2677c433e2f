"""stream: the twinwatch service and its command line.

Contract: wires ``telemetry_adapters`` → windowing → ``twin`` → ``detectors``
inside a faust-streaming app, and offers the ``twinwatch`` CLI. It holds no
model or detection maths. ``app`` is imported lazily so that the CLI starts
without loading faust.
"""

from __future__ import annotations

from twinwatch.stream.cli import main

__all__ = ["main"]
