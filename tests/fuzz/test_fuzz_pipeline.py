"""Fuzzing the whole pipeline with well-formed but extreme messages: no window fails, nothing escapes, all counted.

A short testbed run (Abilene with probes, 2 % silent loss on one link mid-run so a probe-loss alert is open a while) is
replayed through :class:`~twinwatch.stream.pipeline.Pipeline` with a share of its messages rewritten by
:mod:`tests.fuzz._pipeline_mutations` (counters at 0 or 2⁶⁴ − 1, duplicates, unknown devices, probes that
sent nothing or lost everything, extreme delays, flow records with extreme bytes or sampling rates, SNMP
counters at 2³² − 1, shifted clocks ...). Seeds 4 and 5 fail at ``913f8b1`` (the probe-loss stop test raised on
a window without probe results; fixed since). Invariants, per seed:

* no exception escapes :meth:`Pipeline.process` / :meth:`Pipeline.flush` (the service would stop);
* no window fails (a stage raising is a bug the window guard only contains);
* every message is accounted for: accepted + rejected = consumed per format, and every dead letter is counted.

``bench/fuzz_pipeline.py`` runs the same mutations on longer runs (``BENCHMARKS.md``, "Pipeline fuzzing").
"""

from __future__ import annotations

import random
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import CollectorRegistry
from prometheus_client.parser import text_string_to_metric_families

from tests.fuzz._pipeline_mutations import mutate
from twinwatch.stream.metrics import ServiceMetrics
from twinwatch.stream.pipeline import Pipeline, interleave

pytestmark = pytest.mark.slow

FORMATS = ("gnmic", "influx", "probe", "goflow2")


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """8 minutes of Abilene with 2 % silent loss on one link from 240 s to 360 s."""
    from twinwatch.twin.netmodel import load_network
    from twinwatch.twin.testbed.faults import Fault
    from twinwatch.twin.testbed.run import TestbedConfig, run_testbed

    out = tmp_path_factory.mktemp("fuzz")
    plan = [Fault(kind="grey_loss", start_s=240.0, end_s=360.0, entities=("LOSAng->SNVAng",), magnitude=0.02)]
    run_testbed(load_network("abilene"), plan, out, TestbedConfig(duration_s=480.0, window_s=10.0, seed=3))
    return out


@pytest.mark.parametrize(("seed", "timestamps"), [(4, True), (5, True), (3, False)])
def test_extreme_messages_never_fail_a_window(run: Path, seed: int, timestamps: bool) -> None:
    from twinwatch.twin.models import get_model
    from twinwatch.twin.netmodel import load_network

    streams = {f: [x for x in (run / "topics" / f"twinwatch.raw.{f}.jsonl").read_bytes().split(b"\n") if x]
               for f in FORMATS}
    kinds: Counter = Counter()
    streams = mutate(streams, random.Random(seed), 0.05, timestamps, kinds)
    assert sum(kinds.values()) > 50 and len(kinds) >= 20  # of 32 kinds (28 without the clock shifts)
    metrics = ServiceMetrics(CollectorRegistry())
    pipe = Pipeline([load_network(str(run / "network.yaml"))], get_model("qt"), window_s=10.0, lateness_s=5.0,
                    metrics=metrics, max_age_s=None, sources=streams, idle_s=float("inf"))
    windows: list[Any] = []
    dead = 0
    for fmt, chunk in interleave(streams, 500):
        out = pipe.process(chunk, fmt)
        windows += out.windows
        dead += len(out.dead_letters)
    out = pipe.flush()
    windows += out.windows
    assert [w.error for w in windows if w.outcome == "failed"] == [] and pipe.failed_windows == 0
    assert sum(w.detection is not None for w in windows) > 30
    fams = {f.name: f for f in text_string_to_metric_families(metrics.exposition().decode())}
    msgs: Counter = Counter()
    for s in fams["twinwatch_messages"].samples:
        if s.name.endswith("_total"):
            msgs[(s.labels["format"], s.labels["outcome"])] += s.value
    for fmt, lines in streams.items():
        assert msgs[(fmt, "accepted")] + msgs[(fmt, "rejected")] == len(lines)
    dlq = sum(s.value for s in fams["twinwatch_dlq_messages"].samples if s.name.endswith("_total"))
    assert dlq == dead == pipe.dead
