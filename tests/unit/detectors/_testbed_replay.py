"""A short run of the network under test through the service's pipeline, for detector tests that need the whole
path (testbed telemetry → adapters → windows → snapshot → twin → detector)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import orjson

from twinwatch.stream.pipeline import Pipeline, PipelineOutput, interleave
from twinwatch.twin.models import get_model
from twinwatch.twin.netmodel import load_network
from twinwatch.twin.testbed.faults import Fault
from twinwatch.twin.testbed.run import TestbedConfig, run_testbed

FORMATS = ("gnmic", "influx", "probe", "goflow2")


def replay_testbed(out: Path, plan: Sequence[Fault], config: TestbedConfig, *, network: str = "abilene",
                   formats: Sequence[str] = FORMATS) -> tuple[PipelineOutput, float]:
    """Run the testbed on ``network`` with ``plan`` into ``out`` and replay its ``formats`` through a
    :class:`Pipeline` with the queueing-theory twin (4 warm-up windows, the run's window). Returns the pipeline's
    output and the run's start (epoch s)."""
    run_testbed(load_network(network), list(plan), out, config)
    t0 = float(orjson.loads((out / "manifest.json").read_bytes())["start_epoch_s"])
    streams = {f: [x for x in (out / "topics" / f"twinwatch.raw.{f}.jsonl").read_bytes().split(b"\n") if x]
               for f in formats}
    pipe = Pipeline([load_network(str(out / "network.yaml"))], get_model("qt"), window_s=config.window_s,
                    lateness_s=5.0, detection={"warmup_windows": 4}, max_age_s=None)
    result = PipelineOutput()
    for fmt, chunk in interleave(streams, 500):
        result.extend(pipe.process(chunk, fmt))
    result.extend(pipe.flush())
    return result, t0
