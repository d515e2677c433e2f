"""Faults the live service survives, on the real embedded broker: kill -9, a frozen broker, a rebalance, junk.

Every test streams the same labelled testbed run (Abilene, 10 minutes, one link down from 300 s to 400 s)
through ``twinwatch run`` subprocesses and compares the alert lines on the alerts topic with the alerts of
``replay`` on the same files: replay is the uninterrupted reference (the parity test in test_service.py
shows the live service and replay agree line for line), restricted to the windows the live workers
closed. Raw messages are keyed by network, as the service expects (one partition keeps a device's
counter samples in order). Waits poll with deadlines; a fixed sleep is only the fault itself.
"""

from __future__ import annotations

import asyncio
import base64
import itertools
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.integration._kafka import consume_all
from twinwatch.stream.broker import free_port

pytestmark = [pytest.mark.kafka, pytest.mark.slow]

FORMATS = ("gnmic", "influx", "probe", "goflow2")
KEY = b"abilene"


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """10 minutes of Abilene, LOSAng->SNVAng down from 300 s to 400 s (after the detectors' warm-up)."""
    from twinwatch.twin.netmodel import load_network
    from twinwatch.twin.testbed.faults import Fault
    from twinwatch.twin.testbed.run import TestbedConfig, run_testbed

    out = tmp_path_factory.mktemp("faults")
    plan = [Fault(kind="link_down", start_s=300.0, end_s=400.0, entities=("LOSAng->SNVAng",))]
    run_testbed(load_network("abilene"), plan, out, TestbedConfig(duration_s=600.0, window_s=10.0, seed=5))
    return out


@pytest.fixture(scope="module")
def lines(run_dir: Path) -> dict[str, list[bytes]]:
    return {f: [x for x in (run_dir / "topics" / f"twinwatch.raw.{f}.jsonl").read_bytes().split(b"\n") if x]
            for f in FORMATS}


@pytest.fixture(scope="module")
def reference(run_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> list[dict[str, Any]]:
    """The alerts of ``twinwatch replay`` on the run (the uninterrupted reference)."""
    from click.testing import CliRunner

    from twinwatch.stream.cli import cli

    out = tmp_path_factory.mktemp("ref") / "alerts.jsonl"
    caps = [str(run_dir / "topics" / f"twinwatch.raw.{f}.jsonl") for f in FORMATS]
    res = CliRunner().invoke(cli, ["replay", *caps, "--network", str(run_dir / "network.yaml"), "--model", "qt",
                                   "--out", str(out)])
    assert res.exit_code in (0, 3), res.output
    alerts = [orjson.loads(x) for x in out.read_bytes().splitlines()]
    assert any(a["status"] == "firing" and a["entity_id"] == "LOSAng->SNVAng" for a in alerts), \
        "the link going down must raise an alert on the link"
    return alerts


# ----------------------------------------------------------------------------- helpers
def _wait(what: str, cond: Callable[[], bool], deadline_s: float, every_s: float = 1.0,
          workers: tuple[Worker, ...] = ()) -> float:
    """Poll ``cond`` until true; returns the seconds it took; fails naming ``what`` at the deadline, or
    at once when one of ``workers`` exited."""
    t0 = time.monotonic()
    while time.monotonic() - t0 < deadline_s:
        if cond():
            return time.monotonic() - t0
        for w in workers:
            if w.proc.poll() is not None:
                raise AssertionError(f"{what}: the worker exited ({w.proc.returncode}): "
                                     f"{w.log.read_text(errors='replace')[-3000:]}")
        time.sleep(every_s)
    raise AssertionError(f"{what}: not within {deadline_s:g} s")


async def _produce_async(bootstrap: str, prefix: str, batches: dict[str, list[bytes]]) -> None:
    from aiokafka import AIOKafkaProducer

    prod = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=5)
    await prod.start()
    try:
        for fmt, msgs in batches.items():
            futs = [await prod.send(f"{prefix}.raw.{fmt}", key=KEY, value=v) for v in msgs]
            await asyncio.gather(*futs)
    finally:
        await prod.stop()


def produce(bootstrap: str, prefix: str, batches: dict[str, list[bytes]]) -> None:
    asyncio.run(_produce_async(bootstrap, prefix, batches))


def consume(bootstrap: str, topic: str, idle_s: float = 8.0) -> list[tuple[bytes | None, bytes]]:
    return consume_all(bootstrap, topic, idle_s)


async def _last_state(bootstrap: str, topic: str) -> bytes | None:
    from aiokafka import AIOKafkaConsumer, TopicPartition

    cons = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, group_id=None)
    await cons.start()
    try:
        if topic not in await cons.topics():
            return None
        tps = [TopicPartition(topic, p) for p in sorted(cons.partitions_for_topic(topic) or ())]
        cons.assign(tps)
        ends = await cons.end_offsets(tps)
        best: tuple[int, bytes] | None = None
        for tp in tps:
            if ends[tp] == 0:
                continue
            cons.seek(tp, max(ends[tp] - 4, 0))
            while await cons.position(tp) < ends[tp]:
                for recs in (await cons.getmany(tp, timeout_ms=2000)).values():
                    for r in recs:
                        best = (r.offset, r.value) if best is None or r.offset > best[0] else best
        return None if best is None else best[1]
    finally:
        await cons.stop()


def state_offsets(bootstrap: str, prefix: str) -> tuple[int, bytes | None]:
    """Messages of the raw topics that the last durable state covers (sum of its offsets), and the blob."""
    from twinwatch.stream.state import decode

    blob = asyncio.run(_last_state(bootstrap, f"{prefix}.state"))
    if blob is None:
        return 0, None
    meta, _ = decode(blob)
    return sum(int(v) for v in meta["offsets"].values()), blob


class Worker:
    """One ``twinwatch run`` subprocess (log in a file, metrics on a free port)."""

    def __init__(self, bootstrap: str, cfg: Path, log: Path) -> None:
        self.port = free_port()
        self.log = log
        env = dict(os.environ, TWINWATCH_KAFKA__BOOTSTRAP=bootstrap, TWINWATCH_METRICS__BIND=f"127.0.0.1:{self.port}")
        self._out = open(log, "ab")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen([sys.executable, "-m", "twinwatch.stream.cli", "run", "--config", str(cfg)],
                                     env=env, stdout=self._out, stderr=subprocess.STDOUT)

    def metrics(self) -> dict[str, Any]:
        with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/metrics", timeout=5) as r:
            return {f.name: f for f in text_string_to_metric_families(r.read().decode())}

    def ready(self) -> bool:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/readyz", timeout=2) as r:
                return r.status == 200
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            return False

    def assigned(self) -> bool:
        """The worker's log says it restored or started its state (it owns the raw partitions)."""
        text = self.log.read_text(errors="replace")
        return "state restored" in text or "starting afresh" in text

    def kill(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=30)
        self._out.close()

    def stop(self, timeout_s: float = 60.0) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._out.close()
        return int(self.proc.returncode)


def write_config(tmp: Path, run_dir: Path, prefix: str) -> Path:
    cfg = tmp / f"{prefix}.yaml"
    raw = ", ".join(f"{f}: {prefix}.raw.{f}" for f in FORMATS)
    cfg.write_text(f"""
kafka: {{consumer_group: {prefix}, rebalance_timeout_s: 5.0, session_timeout_s: 10.0}}
topics: {{raw: {{{raw}}}, alerts: {prefix}.alerts, expected: {prefix}.expected, dlq: {prefix}.dlq,
          state: {prefix}.state}}
networks: ["{run_dir / 'network.yaml'}"]
twin: {{model: qt}}
logging: {{level: info}}
""")
    return cfg


def split(lines: dict[str, list[bytes]], *fractions: float) -> list[dict[str, list[bytes]]]:
    """Cut every format's lines (time-ordered) at the same fractions of their length."""
    cuts = [0.0, *fractions, 1.0]
    return [{f: v[round(a * len(v)):round(b * len(v))] for f, v in lines.items()} for a, b in itertools.pairwise(cuts)]


def live_alerts(bootstrap: str, prefix: str) -> list[dict[str, Any]]:
    return [orjson.loads(v) for _, v in consume(bootstrap, f"{prefix}.alerts")]


def closed_until(bootstrap: str, prefix: str) -> float:
    """End of the last window the live workers closed (from the expected topic)."""
    return max(orjson.loads(v)["window_end"] for _, v in consume(bootstrap, f"{prefix}.expected", idle_s=5.0))


def assert_same_alerts(live: list[dict[str, Any]], reference: list[dict[str, Any]], last_end: float) -> None:
    """Same alert lines as the reference in the windows live closed: none lost, none published twice."""
    ref = [a for a in reference if (a["start"] < last_end if a["status"] == "firing" else a["end"] <= last_end)]
    got = Counter((a["id"], a["status"]) for a in live)
    want = Counter((a["id"], a["status"]) for a in ref)
    lost, extra = sorted((want - got).elements()), sorted((got - want).elements())
    assert got == want, f"lost: {lost}; extra or duplicated: {extra}"
    assert any(s == "firing" for _, s in want), "the reference must hold an alert for the comparison to mean something"


def total(parts: list[dict[str, list[bytes]]]) -> int:
    return sum(len(v) for p in parts for v in p.values())


# ----------------------------------------------------------------------------- the faults
def test_worker_killed_mid_window_and_restarted(kafka_broker, run_dir: Path, lines: dict[str, list[bytes]],  # type: ignore[no-untyped-def]
                                                reference: list[dict[str, Any]], tmp_path: Path) -> None:
    """SIGKILL while the worker holds an unfinished window and is processing; a new worker resumes from the
    durable state: the alert lines equal the uninterrupted reference exactly (none lost, none twice)."""
    bs, prefix = kafka_broker.bootstrap, "kill9"
    cfg = write_config(tmp_path, run_dir, prefix)
    # a checkpoint after every batch, so that "durable progress into the second part" below is mid-stream (with
    # the default interval the first checkpoint after the restart may already cover everything); a kill between
    # two checkpoints is test_worker_killed_between_two_checkpoints
    cfg.write_text(cfg.read_text() + "state: {interval_s: 0}\n")
    first, second = split(lines, 0.45)
    produce(bs, prefix, first)
    a = Worker(bs, cfg, tmp_path / "a.log")
    _wait("worker A caught up with the first part", lambda: state_offsets(bs, prefix)[0] == total([first]), 240,
          workers=(a,))
    covered, blob = state_offsets(bs, prefix)
    from twinwatch.stream.state import open_rows

    assert blob is not None and open_rows(blob)["abilene"] > 0, "the kill must find rows of an unfinished window"
    produce(bs, prefix, second)
    # kill as soon as the worker has made durable progress into the second part (it is mid-stream then)
    _wait("worker A started on the second part", lambda: state_offsets(bs, prefix)[0] > covered, 120, every_s=0.2,
          workers=(a,))
    a.kill()
    killed_at, _ = state_offsets(bs, prefix)
    b = Worker(bs, cfg, tmp_path / "b.log")
    try:
        _wait("worker B caught up", lambda: state_offsets(bs, prefix)[0] == total([first, second]), 300,
              workers=(b,))
    finally:
        assert b.stop() == 0, b.log.read_text()[-3000:]
    assert "state restored" in b.log.read_text()
    assert killed_at < total([first, second]), "the kill must land before the end of the stream"
    assert_same_alerts(live_alerts(bs, prefix), reference, closed_until(bs, prefix))


def test_worker_restarted_with_an_edited_network_model(kafka_broker, run_dir: Path,  # type: ignore[no-untyped-def]
                                                       lines: dict[str, list[bytes]], tmp_path: Path) -> None:
    """The operator removes a cable and plans a probe in the network model and restarts the worker (SIGTERM, a
    new config): the state restores onto the edited model, renumbered by name and logged, instead of refusing
    to start; the worker reads every remaining message once and the link-down alert on a link both models
    have fires."""
    from tests.unit.stream.test_state import _changed_model

    bs, prefix = kafka_broker.bootstrap, "modeledit"
    cfg = write_config(tmp_path, run_dir, prefix)
    first, second = split(lines, 0.4)  # the link goes down at 300 s of 600: in the second part
    produce(bs, prefix, first)
    a = Worker(bs, cfg, tmp_path / "a.log")
    _wait("worker A processed the first part", lambda: _processed(a) == total([first]), 240, workers=(a,))
    assert a.stop() == 0, a.log.read_text()[-3000:]
    assert state_offsets(bs, prefix)[0] == total([first]), "the final checkpoint covers the first part"
    edited = tmp_path / "edited"
    edited.mkdir()
    _changed_model(run_dir, edited)
    cfg = write_config(tmp_path, edited, prefix)  # same consumer group, the edited network file
    produce(bs, prefix, second)
    b = Worker(bs, cfg, tmp_path / "b.log")
    try:
        _wait("worker B caught up", lambda: state_offsets(bs, prefix)[0] == total([first, second]), 300,
              workers=(b,))
        assert _processed(b) == total([second]), "B re-read messages the restored state holds"
    finally:
        assert b.stop() == 0, b.log.read_text()[-3000:]
    log = b.log.read_text()
    assert "state restored" in log and "the network model changed since the state was written" in log
    assert "links 28 kept / 0 new / 2 dropped" in log and "probes 20 kept / 1 new / 0 dropped" in log
    assert any(x["status"] == "firing" and x["entity_id"] == "LOSAng->SNVAng" for x in live_alerts(bs, prefix))


def _processed(w: Worker) -> int:
    """Messages the worker's pipeline has taken in (accepted + rejected, from its /metrics; -1 while it is down)."""
    try:
        fams = w.metrics()
    except (urllib.error.URLError, ConnectionError, TimeoutError):
        return -1
    fam = fams.get("twinwatch_messages")
    return -1 if fam is None else int(sum(s.value for s in fam.samples if s.name.endswith("_total")))


def test_worker_killed_between_two_checkpoints(kafka_broker, run_dir: Path, lines: dict[str, list[bytes]],  # type: ignore[no-untyped-def]
                                               reference: list[dict[str, Any]], tmp_path: Path) -> None:
    """``state.interval_s: 300``: worker A checkpoints after its first batch and not again while it works through
    the whole stream and publishes its alerts; killed (-9) then, nothing it did after that checkpoint is durable
    and none of those offsets is committed. Worker B restores the checkpoint and re-reads exactly the messages
    after it (fewer would mean faust committed offsets past the checkpoint: rows lost), and the alert lines equal
    the uninterrupted reference: none lost, none published twice although A had published them already."""
    bs, prefix = kafka_broker.bootstrap, "kill9ckpt"
    cfg = write_config(tmp_path, run_dir, prefix)
    cfg.write_text(cfg.read_text() + "state: {interval_s: 300}\n")
    produce(bs, prefix, lines)
    n = total([lines])
    a = Worker(bs, cfg, tmp_path / "a.log")
    _wait("worker A processed every message", lambda: _processed(a) == n, 300, workers=(a,))
    by_a = _wait("worker A published its alerts",
                 lambda: any(x["status"] == "firing" for x in live_alerts(bs, prefix)), 60, workers=(a,))
    covered, blob = state_offsets(bs, prefix)
    assert blob is not None and 0 < covered < n, f"one early checkpoint ({covered} of {n} messages) expected"
    published_by_a = live_alerts(bs, prefix)
    a.kill()
    b = Worker(bs, cfg, tmp_path / "b.log")
    try:
        _wait("worker B re-read the messages after the checkpoint", lambda: _processed(b) == n - covered, 300,
              workers=(b,))
        time.sleep(3.0)  # B's last batch: counted on /metrics before its outputs are sent
        assert _processed(b) == n - covered, "B read messages that the checkpoint already holds"
    finally:
        assert b.stop() == 0, b.log.read_text()[-3000:]
    assert "state restored" in b.log.read_text()
    assert any(x["status"] == "firing" for x in published_by_a), f"A published no alert ({by_a:.0f} s)"
    assert_same_alerts(live_alerts(bs, prefix), reference, closed_until(bs, prefix))


def test_broker_frozen_30s_then_back(kafka_broker, run_dir: Path, lines: dict[str, list[bytes]],  # type: ignore[no-untyped-def]
                                     reference: list[dict[str, Any]], tmp_path: Path) -> None:
    """The broker hangs for 30 s (SIGSTOP: Tansu keeps its data only in memory, so a stopped process would lose
    every topic); the same worker process recovers by itself: every message produced is either processed
    or dead-lettered (counted on /metrics), and the alerts equal the reference."""
    bs, prefix = kafka_broker.bootstrap, "outage"
    cfg = write_config(tmp_path, run_dir, prefix)
    first, second = split(lines, 0.5)
    produce(bs, prefix, first)
    w = Worker(bs, cfg, tmp_path / "w.log")
    try:
        _wait("worker caught up with the first part", lambda: state_offsets(bs, prefix)[0] == total([first]), 240,
              workers=(w,))
        kafka_broker.pause()
        try:
            time.sleep(30.0)  # the fault: the broker answers nothing for 30 s
        finally:
            kafka_broker.resume()
        produce(bs, prefix, second)
        took = _wait("worker caught up after the outage",
                     lambda: state_offsets(bs, prefix)[0] == total([first, second]), 300, workers=(w,))
        assert w.proc.poll() is None, "the worker must survive the outage without a restart"
        fams = w.metrics()
    finally:
        assert w.stop() == 0, w.log.read_text()[-3000:]
    processed = {f: 0.0 for f in FORMATS}
    for s in fams["twinwatch_messages"].samples:
        if s.name.endswith("_total"):
            processed[s.labels["format"]] += s.value
    produced = {f: len(first[f]) + len(second[f]) for f in FORMATS}
    assert processed == {f: float(n) for f, n in produced.items()}, (processed, produced)
    dlq = consume(bs, f"{prefix}.dlq", idle_s=5.0)
    rejected = sum(s.value for s in fams["twinwatch_messages"].samples
                   if s.name.endswith("_total") and s.labels.get("outcome") == "rejected")
    assert sum(1 for _, v in dlq if orjson.loads(v)["whole_message"]) == rejected
    assert_same_alerts(live_alerts(bs, prefix), reference, closed_until(bs, prefix))
    print(f"caught up {took:.1f} s after the broker came back")


def test_second_worker_joins_then_leaves(kafka_broker, run_dir: Path, lines: dict[str, list[bytes]],  # type: ignore[no-untyped-def]
                                         reference: list[dict[str, Any]], tmp_path: Path) -> None:
    """A second worker joins the consumer group (rebalance) and leaves again (rebalance) while telemetry
    flows: whichever worker owns the partitions restores the state, and the alerts equal the reference."""
    bs, prefix = kafka_broker.bootstrap, "rebalance"
    cfg = write_config(tmp_path, run_dir, prefix)
    p1, p2, p3 = split(lines, 0.35, 0.7)
    produce(bs, prefix, p1)
    a = Worker(bs, cfg, tmp_path / "a.log")
    b: Worker | None = None
    try:
        _wait("worker A caught up with part 1", lambda: state_offsets(bs, prefix)[0] == total([p1]), 240,
              workers=(a,))
        b = Worker(bs, cfg, tmp_path / "b.log")
        _wait("worker B joined the group", lambda: "Joined group" in b.log.read_text(errors="replace"), 180)
        produce(bs, prefix, p2)
        _wait("part 2 processed", lambda: state_offsets(bs, prefix)[0] == total([p1, p2]), 240)
        assert b.stop() == 0, b.log.read_text()[-3000:]
        produce(bs, prefix, p3)
        _wait("part 3 processed after B left", lambda: state_offsets(bs, prefix)[0] == total([p1, p2, p3]), 300)
    finally:
        if b is not None and b.proc.poll() is None:
            b.stop()
        assert a.stop() == 0, a.log.read_text()[-3000:]
    assert_same_alerts(live_alerts(bs, prefix), reference, closed_until(bs, prefix))


def _malformed(i: int) -> bytes:
    """The i-th malformed gNMI message (unique bytes), one of four kinds."""
    kind = i % 4
    if kind == 0:
        return b'{"name":"sub","timestamp":%d,"tags":{"source":"ATLAng"},"values":{' % i  # truncated JSON
    if kind == 1:
        return b"\xff\xfe not utf-8 %d" % i
    if kind == 2:
        return b'{"name":"sub","timestamp":"at %d","tags":{"source":"ATLAng"},"values":{}}' % i  # bad time
    return b"[%d, 2, 3]" % i  # JSON, not an object


def test_malformed_messages_go_to_the_dlq(kafka_broker, run_dir: Path, lines: dict[str, list[bytes]],  # type: ignore[no-untyped-def]
                                          reference: list[dict[str, Any]], tmp_path: Path) -> None:
    """10⁵ malformed gNMI messages mixed into the stream: every one is in the DLQ with a reason and its
    original bytes, /metrics counts them by reason as the DLQ does, and the alerts equal the reference."""
    bs, prefix = kafka_broker.bootstrap, "junk"
    cfg = write_config(tmp_path, run_dir, prefix)
    n_bad = 100_000
    bad = [_malformed(i) for i in range(n_bad)]
    good = lines["gnmic"]
    mixed: list[bytes] = []
    step = n_bad / max(len(good), 1)
    for j, msg in enumerate(good):  # the malformed messages spread evenly between the good ones
        mixed += bad[round(j * step):round((j + 1) * step)]
        mixed.append(msg)
    produced = {**lines, "gnmic": mixed}
    produce(bs, prefix, produced)
    w = Worker(bs, cfg, tmp_path / "w.log")
    try:
        _wait("worker started", w.assigned, 180, workers=(w,))
        took = _wait("worker caught up", lambda: state_offsets(bs, prefix)[0] == total([produced]), 540,
                     workers=(w,))
        fams = w.metrics()
    finally:
        assert w.stop() == 0, w.log.read_text()[-3000:]
    dlq = [orjson.loads(v) for _, v in consume(bs, f"{prefix}.dlq", idle_s=5.0)]
    whole = Counter(base64.b64decode(d["raw_b64"]) for d in dlq if d["whole_message"] and d["format"] == "gnmic")
    # the testbed corrupts a few of its own lines too (listed in malformed.jsonl, numbered from 1)
    own = [orjson.loads(x) for x in (run_dir / "malformed.jsonl").read_bytes().splitlines() if x] \
        if (run_dir / "malformed.jsonl").exists() else []
    own_bad = {good[m["line"] - 1] for m in own if m["topic"].endswith(".gnmic")}
    expected_bad = set(bad) | own_bad
    assert set(whole) == expected_bad, "every malformed message, and only those, in the DLQ with its original bytes"
    # the DLQ topic is at-least-once (a send retried after a timeout may land twice); the counters are exact
    duplicates = sum(whole.values()) - len(expected_bad)
    assert duplicates <= 2000, f"{duplicates} duplicated dead letters: more than one batch"
    assert all(d["reason"] and d["detail"] for d in dlq)
    # one dead letter per refused record (a JSON array is refused element by element, so records can
    # outnumber messages); the DLQ topic holds each at least once
    by_reason = Counter(d["reason"] for d in dlq if d["format"] == "gnmic")
    metric = {s.labels["reason"]: s.value for s in fams["twinwatch_dlq_messages"].samples
              if s.name.endswith("_total") and s.labels["format"] == "gnmic"}
    assert set(by_reason) == {k for k, v in metric.items() if v}
    for reason, n in by_reason.items():
        assert metric[reason] <= n <= metric[reason] + duplicates, (reason, n, metric[reason], duplicates)
    rejected = sum(s.value for s in fams["twinwatch_messages"].samples
                   if s.name.endswith("_total") and s.labels == {"format": "gnmic", "outcome": "rejected"})
    assert rejected == len(expected_bad)
    assert_same_alerts(live_alerts(bs, prefix), reference, closed_until(bs, prefix))
    print(f"{total([produced])} messages ({n_bad} malformed) processed in {took:.1f} s after start-up: "
          f"{total([produced]) / took:.0f} msg/s; {duplicates} duplicated dead letters")
