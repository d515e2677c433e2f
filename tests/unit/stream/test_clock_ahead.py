"""A device whose clock runs ahead: ``window.max_clock_ahead_s`` refuses its samples instead of letting them carry the
watermark past every other device's rows.

Live-like telemetry: a testbed run's gnmic messages re-timed to end now, one router's clock 4 minutes ahead.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import orjson
import pytest

from twinwatch.stream.pipeline import Pipeline

pytestmark = pytest.mark.slow

AHEAD_S = 240.0  # every one of its samples, the first too (the capture spans 120 s), is 2-4 min ahead


@pytest.fixture(scope="module")
def gnmic(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[dict[str, Any]]]:
    """Two minutes of Abilene's gnmic messages (decoded JSON, the testbed's malformed ones left out)."""
    from twinwatch.twin.netmodel import load_network
    from twinwatch.twin.testbed.run import TestbedConfig, run_testbed

    out = tmp_path_factory.mktemp("clock")
    run_testbed(load_network("abilene"), [], out, TestbedConfig(duration_s=120.0, window_s=10.0, seed=2,
                                                                malformed_fraction=0.0))
    msgs = []
    for line in (out / "topics" / "twinwatch.raw.gnmic.jsonl").read_bytes().splitlines():
        try:
            msgs.append(orjson.loads(line))
        except orjson.JSONDecodeError:
            continue
    return out, msgs


def _replay(run: Path, msgs: list[dict[str, Any]], limit: float | None) -> tuple[Pipeline, list[Any]]:
    """The messages re-timed so the last is 1 s old, router ``ahead`` AHEAD_S ahead, through a pipeline."""
    from twinwatch.twin.netmodel import load_network

    last = max(m["timestamp"] for m in msgs)
    shift = time.time_ns() - 1_000_000_000 - last
    ahead = msgs[0]["tags"]["source"]
    lines = []
    for m in msgs:
        m = dict(m, timestamp=m["timestamp"] + shift + (int(AHEAD_S * 1e9) if m["tags"]["source"] == ahead else 0))
        lines.append(orjson.dumps(m))
    pipe = Pipeline([load_network(str(run / "network.yaml"))], None, window_s=10.0, lateness_s=5.0, max_age_s=None,
                    max_future_skew_s=limit, sources=["gnmic"], idle_s=float("inf"))
    dead = []
    for i in range(0, len(lines), 50):  # in arrival order, as a partition delivers them
        dead += pipe.process(lines[i:i + 50], "gnmic").dead_letters
    return pipe, dead


def test_a_device_clock_ahead_makes_the_others_late_unless_refused(gnmic: tuple[Path, list[dict[str, Any]]]) -> None:
    run, msgs = gnmic
    ahead = msgs[0]["tags"]["source"]
    n_ahead = sum(m["tags"]["source"] == ahead for m in msgs)
    # the default limit (300 s) lets it through: its samples move the watermark minutes on, the others' are late
    loose, dead = _replay(run, msgs, 300.0)
    assert dead == []
    late_loose = loose.late_rows["abilene"]
    assert late_loose > 500
    # 30 s refuses exactly that router's samples (counted dead letters with the reason and the original bytes)
    tight, dead = _replay(run, msgs, 30.0)
    assert len(dead) == n_ahead and {d.reason for d in dead} == {"ts_future"}
    assert all(orjson.loads(d.raw)["tags"]["source"] == ahead for d in dead)
    assert tight.late_rows["abilene"] < late_loose / 20, (tight.late_rows, late_loose)
