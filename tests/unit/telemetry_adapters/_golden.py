"""Golden-file cases under ``tests/fixtures/<format>/<case>/`` (helpers shared by the adapter tests).

Each case folder holds one input and ``expected.json``:

- ``input.json``: the whole file is one message;
- ``input.jsonl``: one message per line;
- ``input.txt``: the whole file is one message (line protocol may hold many lines);
- ``config.json`` (optional): :class:`~telemetry_adapters.base.DecoderConfig` overrides.

``expected.json`` holds ``messages``, ``samples`` (rows), ``flows`` (rows) and
``rejections`` (count by reason). Regenerate after a deliberate change with
``TWINWATCH_REGEN_GOLDEN=1 .venv/bin/pytest tests/unit/telemetry_adapters/test_golden.py``
and review the diff.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from twinwatch.telemetry_adapters.base import DecoderConfig, DecodeResult

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures"
INPUT_NAMES = ("input.json", "input.jsonl", "input.txt")
#: defaults for golden cases: fixed clock checks off (fixtures carry historic timestamps)
DEFAULT_CONFIG: dict[str, Any] = {"network": "lab", "max_age_s": None, "max_future_skew_s": None}


@dataclass(frozen=True)
class Case:
    """One golden case."""

    format: str
    name: str
    folder: Path

    @property
    def id(self) -> str:
        return f"{self.format}/{self.name}"

    def input_path(self) -> Path:
        for name in INPUT_NAMES:
            p = self.folder / name
            if p.exists():
                return p
        raise FileNotFoundError(f"{self.folder} has none of {INPUT_NAMES}")

    def messages(self) -> list[bytes]:
        p = self.input_path()
        data = p.read_bytes()
        if p.suffix == ".jsonl":
            return [line for line in data.split(b"\n") if line.strip()]
        return [data]

    def config(self) -> DecoderConfig:
        over = {}
        cfg = self.folder / "config.json"
        if cfg.exists():
            over = orjson.loads(cfg.read_bytes())
        return DecoderConfig(**{**DEFAULT_CONFIG, **over})

    def expected_path(self) -> Path:
        return self.folder / "expected.json"


def cases() -> list[Case]:
    """Every case folder, sorted."""
    from twinwatch.telemetry_adapters import known_formats

    out = []
    formats = set(known_formats())  # tests/fixtures also holds inputs of other readers (e.g. netbox/)
    for fmt in sorted(p for p in FIXTURES.iterdir() if p.is_dir() and p.name in formats):
        for case in sorted(p for p in fmt.iterdir() if p.is_dir()):
            out.append(Case(fmt.name, case.name, case))
    return out


def summarize(result: DecodeResult) -> dict[str, Any]:
    """The JSON form compared with ``expected.json``."""
    return {
        "messages": result.messages,
        "samples": list(result.samples.rows()),
        "flows": list(result.flows.rows()),
        "rejections": dict(sorted(result.stats.counts.items())),
    }
