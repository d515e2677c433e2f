"""The twin detector: persistence folded into the test, link-state alerts, on a real testbed run (no mocks)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from scipy import stats

from twinwatch.detectors.decision import reject
from twinwatch.detectors.twin_detector import persistent_p_values


def test_persistent_p_values_are_uniform_on_independent_nulls() -> None:
    rng = np.random.default_rng(4)
    h = rng.random((3, 20_000))
    exact = persistent_p_values(h, 2, "independent")
    assert stats.kstest(exact, "uniform").pvalue > 0.01
    # the any-dependence bound is conservative: P(p <= u) <= u at every u
    bound = persistent_p_values(h, 2)
    for u in (0.001, 0.01, 0.1, 0.5):
        assert np.mean(bound <= u) <= u * 1.1 + 3 / h.shape[1]


def test_any_dependence_bound_holds_when_windows_are_identical() -> None:
    # fully dependent windows (the same p three times): the independent formula over-rejects 30x at 1e-3,
    # the bound stays at the level
    rng = np.random.default_rng(5)
    p = rng.random(200_000)
    h = np.stack([p, p, p])
    assert np.mean(persistent_p_values(h, 2, "independent") <= 1e-3) > 10 * 1e-3
    assert np.mean(persistent_p_values(h, 2) <= 1e-3) <= 1e-3 * 1.2
    with pytest.raises(ValueError, match="dependence"):
        persistent_p_values(h, 2, "pairwise")


def test_bh_on_persistent_p_values_fires_on_the_second_bad_window_only() -> None:
    rng = np.random.default_rng(6)
    n = 5000
    h = np.ones((3, n))
    fired_at = []
    for t in range(8):
        p = rng.random(n)
        if t >= 4:
            p[:5] = 1e-7  # five entities go bad at window 4
        h[:-1] = h[1:]
        h[-1] = p
        rej = reject(persistent_p_values(h, 2), 0.01, "bh")
        fired_at.append(np.flatnonzero(rej).tolist())
    assert fired_at[4] == [] and fired_at[5] == [0, 1, 2, 3, 4]
    assert all(f == [] for f in fired_at[:4])


@pytest.mark.slow
def test_link_down_raises_a_link_state_alert_naming_the_link(tmp_path: Path) -> None:
    from twinwatch.stream.pipeline import Pipeline, PipelineOutput, interleave
    from twinwatch.twin.models import get_model
    from twinwatch.twin.netmodel import load_network
    from twinwatch.twin.testbed.faults import Fault
    from twinwatch.twin.testbed.run import TestbedConfig, run_testbed

    plan = [Fault(kind="link_down", start_s=300.0, end_s=360.0, entities=("LOSAng->SNVAng",))]
    run_testbed(load_network("abilene"), plan, tmp_path, TestbedConfig(duration_s=480.0, window_s=10.0, seed=9,
                                                                        malformed_fraction=0.0))
    streams = {f: [x for x in (tmp_path / "topics" / f"twinwatch.raw.{f}.jsonl").read_bytes().split(b"\n") if x]
               for f in ("gnmic", "probe", "goflow2")}
    pipe = Pipeline([load_network(str(tmp_path / "network.yaml"))], get_model("qt"), window_s=10.0, lateness_s=5.0,
                    detection={"warmup_windows": 4}, max_age_s=None)
    out = PipelineOutput()
    for fmt, chunk in interleave(streams, 500):
        out.extend(pipe.process(chunk, fmt))
    out.extend(pipe.flush())
    ls = [c for c in out.changes if c.alert.kind == "link_state"]
    fired = [c.alert for c in ls if c.action == "firing"]
    # both directions of the cable are reported down; the alert opens in the fault's first window
    assert {a.entity_id for a in fired} <= {"LOSAng->SNVAng", "SNVAng->LOSAng"} and fired
    assert all(abs(a.start - (pipe_start(tmp_path) + 300.0)) <= 10.0 for a in fired)
    assert {c.alert.id for c in ls if c.action == "resolved"} == {a.id for a in fired}
    assert all(not a.pages for a in fired)


def pipe_start(run: Path) -> float:
    import orjson

    return float(orjson.loads((run / "manifest.json").read_bytes())["start_epoch_s"])
