"""Benchmarks of the decoders: gnmic interface-counter events → SampleBatch → rates.

Each benchmark decodes one batch of 5,000 gnmic events (50 devices × 100
interfaces, the OpenConfig ``state/counters`` leaves: 14 counters + last-clear,
~1.1 KB per message). ``test_bench_orjson_loads`` is the baseline (plain
``orjson.loads`` of the same messages); compare the means to get the ratio.
``bench/bench_adapters.py`` measures the same in CPU time, round by round, and
writes JSON (the figures in ``bench/notes/adapters.md``).

Run: ``.venv/bin/pytest -m bench --benchmark-enable tests/bench/test_bench_adapters.py``
"""

from __future__ import annotations

import sys
from pathlib import Path

import orjson
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))

from bench_adapters import FULL, make_round

from twinwatch.telemetry_adapters import get_decoder
from twinwatch.telemetry_adapters.base import DecoderConfig
from twinwatch.telemetry_adapters.counters import CounterState
from twinwatch.telemetry_adapters.normalize import normalize

pytestmark = pytest.mark.bench
CFG = DecoderConfig(network="bench", max_age_s=None, max_future_skew_s=None)


@pytest.fixture(scope="module")
def rounds() -> list[list[bytes]]:
    return [make_round(r, 50, 100, FULL, True) for r in range(40)]


def test_bench_orjson_loads(benchmark, rounds) -> None:  # type: ignore[no-untyped-def]
    batch = rounds[1]
    out = benchmark(lambda: len(list(map(orjson.loads, batch))))
    assert out == len(batch)


def test_bench_gnmic_decode(benchmark, rounds) -> None:  # type: ignore[no-untyped-def]
    dec = get_decoder("gnmic", CFG)
    batch = rounds[1]
    res = benchmark(dec.decode_batch, batch)
    assert len(res.samples) == 14 * len(batch) and not res.rejections


def test_bench_gnmic_end_to_end(benchmark, rounds) -> None:  # type: ignore[no-untyped-def]
    dec = get_decoder("gnmic", CFG)
    state = CounterState()
    normalize(dec.decode_batch(rounds[0]).samples, state)
    it = iter(rounds[1:])

    def step() -> int:
        res = dec.decode_batch(next(it))
        return len(normalize(res.samples, state).measurements)

    n = benchmark.pedantic(step, rounds=len(rounds) - 2, iterations=1)
    assert n > 0
