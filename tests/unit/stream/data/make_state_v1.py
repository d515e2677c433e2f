"""Write ``state_v1_abilene.npz``: a service-state record of the version-1 encoder, for the restore tests.

Run it with the package of the release that wrote format 1 importable as ``twinwatch`` (commit 2e25d3a, the
last one before ``twinwatch.state/2``): e.g. a ``git worktree`` of that commit whose folders are linked under a
``twinwatch/`` folder placed first on ``PYTHONPATH``::

    git worktree add --detach /tmp/v1 2e25d3a
    mkdir -p /tmp/v1pkg/twinwatch && for d in stream twin detectors telemetry_adapters; do
        ln -s /tmp/v1/$d /tmp/v1pkg/twinwatch/$d; done
    PYTHONPATH=/tmp/v1pkg python tests/unit/stream/data/make_state_v1.py tests/unit/stream/data/state_v1_abilene.npz

What it holds: the bundled Abilene model fed the first 3/4 of a 240 s testbed run (seed 5, every format,
a link-down fault at 120-180 s), GNN-less (queueing-theory twin), detectors as that release built them.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

from twinwatch.stream.pipeline import Pipeline, interleave
from twinwatch.stream.state import FORMAT
from twinwatch.twin.models import load_model
from twinwatch.twin.netmodel import load_network
from twinwatch.twin.testbed.faults import Fault
from twinwatch.twin.testbed.run import TestbedConfig, run_testbed

FORMATS = ("gnmic", "influx", "probe", "goflow2")


def main(out: Path) -> None:
    assert FORMAT == "twinwatch.state/1", f"this build writes {FORMAT}, not version 1 (see the module docstring)"
    with tempfile.TemporaryDirectory() as tmp:
        run = Path(tmp)
        plan = [Fault(kind="link_down", start_s=120.0, end_s=180.0, entities=("LOSAng->SNVAng",))]
        run_testbed(load_network("abilene"), plan, run, TestbedConfig(duration_s=240.0, window_s=10.0, seed=5))
        streams = {f: [x for x in (run / "topics" / f"twinwatch.raw.{f}.jsonl").read_bytes().split(b"\n") if x]
                   for f in FORMATS}
    pipe = Pipeline([load_network("abilene")], load_model("qt", None), window_s=10.0, lateness_s=5.0,
                    max_age_s=None, sources=FORMATS, idle_s=float("inf"), detection={"warmup_windows": 3})
    order = interleave(streams, 300)
    for fmt, messages in order[: 3 * len(order) // 4]:
        pipe.process(messages, fmt)
    out.write_bytes(pipe.state({"offsets": {"twinwatch.raw.gnmic:0": 1234}, "group": "twinwatch"}))


if __name__ == "__main__":
    main(Path(sys.argv[1]))
