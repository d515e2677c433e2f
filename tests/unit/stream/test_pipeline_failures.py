"""A window whose snapshot, twin inference or detector raises is skipped alone, logged and counted; the rest go on.

The components are the real ones (testbed telemetry, the queueing-theory twin, :class:`TwinDetector`), wrapped
so that they raise on chosen windows, as a bug or a window the twin cannot take would.
"""

from __future__ import annotations

import logging
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from prometheus_client import CollectorRegistry
from prometheus_client.parser import text_string_to_metric_families

from twinwatch.stream.metrics import WINDOW_STAGES, ServiceMetrics
from twinwatch.stream.pipeline import Pipeline, PipelineOutput, interleave

pytestmark = pytest.mark.slow

FORMATS = ("gnmic", "influx", "probe", "goflow2")
WINDOW_S = 10.0


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """A 6-minute Abilene run with LOSAng->SNVAng down from t=200 s to t=300 s."""
    from twinwatch.twin.netmodel import load_network
    from twinwatch.twin.testbed.faults import Fault
    from twinwatch.twin.testbed.run import TestbedConfig, run_testbed

    out = tmp_path_factory.mktemp("tb")
    plan = [Fault(kind="link_down", start_s=200.0, end_s=300.0, entities=("LOSAng->SNVAng",))]
    run_testbed(load_network("abilene"), plan, out, TestbedConfig(duration_s=360.0, window_s=WINDOW_S, seed=11))
    streams = {f: [x for x in (out / "topics" / f"twinwatch.raw.{f}.jsonl").read_bytes().split(b"\n") if x]
               for f in FORMATS}
    return {"dir": out, "streams": streams}


def _pipeline(run: dict[str, Any], *, twin: Any = None, detector_factory: Any = None,
              lateness_s: float = 5.0) -> tuple[Pipeline, ServiceMetrics]:
    from twinwatch.twin.models import get_model
    from twinwatch.twin.netmodel import load_network

    metrics = ServiceMetrics(CollectorRegistry())
    pipe = Pipeline([load_network(str(Path(run["dir"]) / "network.yaml"))], twin or get_model("qt"),
                    window_s=WINDOW_S, lateness_s=lateness_s, metrics=metrics, detection={"warmup_windows": 4},
                    max_age_s=None, detector_factory=detector_factory)
    return pipe, metrics


def _replay(pipe: Pipeline, run: dict[str, Any]) -> PipelineOutput:
    total = PipelineOutput()
    for fmt, chunk in interleave(run["streams"], 500):
        total.extend(pipe.process(chunk, fmt))
    total.extend(pipe.flush())
    return total


def _counters(metrics: ServiceMetrics, name: str) -> Counter:
    fams = {f.name: f for f in text_string_to_metric_families(metrics.exposition().decode())}
    return Counter({tuple(sorted(s.labels.items())): s.value for s in fams[name].samples
                    if s.name.endswith("_total")})


class RaisingDetector:
    """The real detector, raising ``RuntimeError`` on the calls numbered in ``bad`` (1-based)."""

    def __init__(self, inner: Any, bad: set[int]) -> None:
        self.inner, self.bad, self.calls = inner, bad, 0

    def detect(self, snapshot: Any, prediction: Any, upper: Any = None) -> Any:
        self.calls += 1
        if self.calls in self.bad:
            raise RuntimeError(f"detector bug on call {self.calls}")
        return self.inner.detect(snapshot, prediction, upper)


class PoisonedTwin:
    """The real twin, raising ``ValueError`` on every batch that holds the ``nth`` scenario it was asked about."""

    def __init__(self, inner: Any, nth: int) -> None:
        self.inner, self.nth = inner, nth
        self.seen: list[Any] = []  # distinct scenarios, in the order first asked
        self.batches: list[int] = []  # batch sizes, in call order

    def predict_many(self, scenarios: list[Any]) -> list[Any]:
        from twinwatch.twin.models import predict_many

        self.seen += [sc for sc in scenarios if not any(sc is s for s in self.seen)]
        self.batches.append(len(scenarios))
        if len(self.seen) >= self.nth and any(sc is self.seen[self.nth - 1] for sc in scenarios):
            raise ValueError("the twin cannot take this scenario")
        return predict_many(self.inner, scenarios)


def test_a_detector_that_raises_skips_its_window_and_the_service_goes_on(
        run: dict[str, Any], caplog: pytest.LogCaptureFixture) -> None:
    from twinwatch.detectors.twin_detector import TwinDetector

    holder: dict[str, RaisingDetector] = {}

    def factory(model: Any) -> RaisingDetector:
        holder["det"] = RaisingDetector(TwinDetector(model, warmup_windows=4), {8, 9})
        return holder["det"]

    pipe, metrics = _pipeline(run, detector_factory=factory)
    with caplog.at_level(logging.ERROR, logger="twinwatch.stream.pipeline"):
        out = _replay(pipe, run)
    full = [w for w in out.windows if w.snapshot is not None]
    failed = [w for w in out.windows if w.outcome == "failed"]
    assert len(failed) == 2 == pipe.failed_windows
    assert failed == full[7:9]  # the 8th and 9th windows the detector saw
    assert all(w.detection is None and w.error == f"detector: RuntimeError: detector bug on call {i}"
               for i, w in zip((8, 9), failed, strict=True))
    assert all(w.detection is not None for w in full if w.outcome != "failed")
    assert holder["det"].calls == len(full)  # every later window was still detected
    # the fault after the failures is alerted, and every alert resolves
    fired = [c.alert for c in out.changes if c.action == "firing"]
    assert fired and all(190.0 <= a.start - full[0].start < 330.0 for a in fired)
    assert {c.alert.id for c in out.changes if c.action == "resolved"} == {a.id for a in fired}
    # counted: the failure by stage (the other stages exported at 0), the window by outcome
    fails = _counters(metrics, "twinwatch_window_failures")
    assert {dict(k)["stage"]: v for k, v in fails.items()} == {"snapshot": 0.0, "twin": 0.0, "detector": 2.0}
    assert {dict(k)["stage"] for k in fails} == set(WINDOW_STAGES)
    wins = _counters(metrics, "twinwatch_windows")
    assert wins[(("network", "abilene"), ("outcome", "failed"))] == 2.0
    assert sum(wins.values()) == len(out.windows)
    # logged with the window, the stage and the traceback
    recs = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert len(recs) == 2
    assert all(r.stage == "detector" and r.network == "abilene" and r.exc_info for r in recs)  # type: ignore[attr-defined]
    assert [r.window_start for r in recs] == [w.start for w in failed]  # type: ignore[attr-defined]
    # the expected record of a failed window says why
    recs_exp = {e["window_start"]: e for e in out.expected}
    assert all(recs_exp[w.start]["outcome"] == "failed" and recs_exp[w.start]["error"] == w.error for w in failed)
    assert "error" not in recs_exp[full[0].start]


def test_a_window_the_twin_cannot_take_fails_alone_in_its_batch(
        run: dict[str, Any], caplog: pytest.LogCaptureFixture) -> None:
    from twinwatch.twin.models import get_model

    # a lateness longer than the run: every window closes at the flush, in one batch of the twin
    clean, _ = _pipeline(run, lateness_s=1e6)
    ref = _replay(clean, run)
    twin = PoisonedTwin(get_model("qt"), nth=5)
    pipe, metrics = _pipeline(run, twin=twin, lateness_s=1e6)
    with caplog.at_level(logging.WARNING, logger="twinwatch.stream.pipeline"):
        out = _replay(pipe, run)
    full = [w for w in out.windows if w.snapshot is not None]
    assert len(full) > 20 and twin.batches[0] == len(full)  # one batch first, then one window at a time
    assert twin.batches[1:] == [1] * len(full)
    (failed,) = [w for w in out.windows if w.outcome == "failed"]
    assert failed is full[4] and failed.prediction is None and failed.detection is None
    assert failed.error == "twin: ValueError: the twin cannot take this scenario"
    # every other window got the same prediction as in the clean run
    ref_full = {w.start: w for w in ref.windows if w.snapshot is not None}
    for w in full:
        if w is not failed:
            np.testing.assert_array_equal(w.prediction.link_utilization, ref_full[w.start].prediction.link_utilization)
            np.testing.assert_array_equal(w.prediction.path_delay_s, ref_full[w.start].prediction.path_delay_s)
    assert any("window by window" in r.getMessage() for r in caplog.records if r.levelno == logging.WARNING)
    fails = _counters(metrics, "twinwatch_window_failures")
    assert {dict(k)["stage"]: v for k, v in fails.items()} == {"snapshot": 0.0, "twin": 1.0, "detector": 0.0}


def test_a_snapshot_that_cannot_be_built_skips_its_window(run: dict[str, Any]) -> None:
    pipe, metrics = _pipeline(run)
    net = pipe.networks["abilene"]
    build, calls = net.builder.build, Counter()

    def failing_build(start: float, end: float, cols: Any, **kw: Any) -> Any:
        calls["n"] += 1
        if calls["n"] == 3:
            raise KeyError("a column the builder needs")
        return build(start, end, cols, **kw)

    net.builder.build = failing_build  # type: ignore[method-assign]
    out = _replay(pipe, run)
    (failed,) = [w for w in out.windows if w.outcome == "failed"]
    assert failed.snapshot is None and failed.rows > 0
    assert failed.error == "snapshot: KeyError: 'a column the builder needs'"
    assert sum(w.detection is not None for w in out.windows) == calls["n"] - 1
    fails = _counters(metrics, "twinwatch_window_failures")
    assert {dict(k)["stage"]: v for k, v in fails.items()} == {"snapshot": 1.0, "twin": 0.0, "detector": 0.0}


def test_replay_summary_reports_failed_windows_with_status_3(capsys: pytest.CaptureFixture[str]) -> None:
    from twinwatch.stream.commands.replay import ReplayResult, _summary

    res = ReplayResult()
    res.messages = {"gnmic": 10}
    res.failed_windows = 2
    with pytest.raises(SystemExit) as exc:
        _summary(res)
    assert exc.value.code == 3
    err = capsys.readouterr().err
    assert "2 failed window(s)" in err and "2 window(s) were skipped after an error" in err
    res.failed_windows = 0
    with pytest.raises(SystemExit) as exc:
        _summary(res)
    assert exc.value.code == 0


def test_replay_report_counts_failed_windows(tmp_path: Path) -> None:
    from twinwatch.stream.commands.replay import ReplayResult, write_report

    res = ReplayResult()
    res.messages = {"gnmic": 10}
    res.failed_windows = 2
    write_report(tmp_path / "r.html", res, [], [])
    html = (tmp_path / "r.html").read_text()
    assert "failed windows 2 (skipped after an error" in html
    res.failed_windows = 0
    write_report(tmp_path / "r.html", res, [], [])
    assert "failed windows 0," in (tmp_path / "r.html").read_text()
