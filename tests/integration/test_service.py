"""The live service on a real Kafka-protocol broker: raw topics in, DLQ / alerts / expected topics out."""

from __future__ import annotations

import asyncio
import base64
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import orjson
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.integration._kafka import FORMATS, consume_all, produce_run
from twinwatch.stream.broker import free_port

pytestmark = [pytest.mark.kafka, pytest.mark.slow]

def _scrape_when_ready(base: str, deadline_s: float) -> dict[str, object]:
    """Poll /readyz until 200 and /healthz answers, then wait for a closed window and parse /metrics."""
    end = time.monotonic() + deadline_s
    ready = False
    while time.monotonic() < end:
        try:
            with urllib.request.urlopen(base + "/healthz", timeout=2) as r:
                assert r.status == 200
            with urllib.request.urlopen(base + "/readyz", timeout=2) as r:
                ready = r.status == 200
            with urllib.request.urlopen(base + "/metrics", timeout=5) as r:
                fams = {f.name: f for f in text_string_to_metric_families(r.read().decode())}
            if ready and any(s.value > 0 for s in fams["twinwatch_windows"].samples):
                return fams
        except (urllib.error.URLError, ConnectionError):
            pass
        time.sleep(1.0)
    raise AssertionError(f"{base}: not ready with a closed window within {deadline_s} s (ready={ready})")


def test_service_end_to_end(kafka_broker, testbed_run: Path, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    bootstrap = kafka_broker.bootstrap
    sent = produce_run(bootstrap, testbed_run)
    alerts_file = tmp_path / "alerts.jsonl"
    cfg = tmp_path / "twinwatch.yaml"
    port = free_port()
    cfg.write_text(f"""
kafka: {{consumer_group: tw-test, rebalance_timeout_s: 5.0}}
networks: ["{testbed_run / 'network.yaml'}"]
twin: {{model: qt}}
detection: {{warmup_windows: 3}}
sinks: {{jsonl: "{alerts_file}"}}
metrics: {{bind: "127.0.0.1:{port}"}}
""")
    env = dict(os.environ, TWINWATCH_KAFKA__BOOTSTRAP=bootstrap)
    proc = subprocess.Popen([sys.executable, "-m", "twinwatch.stream.cli", "run", "--config", str(cfg),
                             "--duration", "45"], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        fams = _scrape_when_ready(f"http://127.0.0.1:{port}", deadline_s=120.0)
        _, err = proc.communicate(timeout=240)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err[-3000:]
    assert "twinwatch_build_info" in fams and "twinwatch_window_lag_seconds" in fams

    # every malformed line of the run is in the DLQ with its reason and its original bytes
    dlq = [orjson.loads(v) for _, v in consume_all(bootstrap, "twinwatch.dlq")]
    malformed = [orjson.loads(x) for x in (testbed_run / "malformed.jsonl").read_bytes().splitlines() if x]
    assert len(malformed) > 0
    whole = {(d["format"], base64.b64decode(d["raw_b64"])) for d in dlq if d["whole_message"]}
    for m in malformed:
        fmt = m["topic"].rsplit(".", 1)[-1]
        assert (fmt, sent[fmt][m["line"] - 1]) in whole, m  # malformed.jsonl numbers lines from 1
    assert all(d["reason"] and d["detail"] for d in dlq)
    # the testbed corrupts only the lines it lists, one way each: one dead letter per corrupted line
    assert len(dlq) == len(malformed)

    # one expected record per closed window, every one about the network, windows in order
    expected = [orjson.loads(v) for _, v in consume_all(bootstrap, "twinwatch.expected")]
    assert len(expected) >= 20  # 30 windows in the run; the last ones may still be open at the stop
    assert {e["network"] for e in expected} == {"abilene"}
    starts = [e["window_start"] for e in expected]
    assert starts == sorted(starts) and len(set(starts)) == len(starts)
    ok = [e for e in expected if e["outcome"] != "empty"]
    assert ok and all(len(e["kpis"]["utilization"]["expected"]) == len(e["links"]) for e in ok)

    # alerts on the topic are keyed by id and match the JSONL file line for line
    alerts = consume_all(bootstrap, "twinwatch.alerts", idle_s=15.0)
    file_lines = [orjson.loads(x) for x in alerts_file.read_bytes().splitlines()] if alerts_file.exists() else []
    # keyed by id, the lines spread over the topic's partitions: Kafka orders them per partition (per id),
    # so compare per id, in order, and as a whole without duplicates
    by_id_topic: dict[str, list[str]] = {}
    by_id_file: dict[str, list[str]] = {}
    for _, v in alerts:
        d = orjson.loads(v)
        by_id_topic.setdefault(d["id"], []).append(d["status"])
    for a in file_lines:
        by_id_file.setdefault(a["id"], []).append(a["status"])
    assert by_id_topic == by_id_file
    assert sum(map(len, by_id_topic.values())) == len(file_lines)
    assert all(k == orjson.loads(v)["id"].encode() for k, v in alerts)


@pytest.fixture(scope="module")
def fault_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """20 minutes of Abilene with LOSAng->SNVAng down from t=800 s to 900 s (late: calibration first)."""
    from twinwatch.twin.netmodel import load_network
    from twinwatch.twin.testbed.faults import Fault
    from twinwatch.twin.testbed.run import TestbedConfig, run_testbed

    out = tmp_path_factory.mktemp("fault")
    plan = [Fault(kind="link_down", start_s=800.0, end_s=900.0, entities=("LOSAng->SNVAng",))]
    run_testbed(load_network("abilene"), plan, out, TestbedConfig(duration_s=1200.0, window_s=10.0, seed=5))
    return out


def test_live_service_and_replay_give_the_same_alerts(kafka_broker, fault_run: Path,  # type: ignore[no-untyped-def]
                                                      tmp_path: Path) -> None:
    from click.testing import CliRunner

    from twinwatch.stream.cli import cli

    bootstrap = kafka_broker.bootstrap
    from aiokafka import AIOKafkaProducer

    async def produce() -> None:
        prod = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
        await prod.start()
        try:
            for fmt in FORMATS:
                lines = [x for x in (fault_run / "topics" / f"twinwatch.raw.{fmt}.jsonl").read_bytes().split(b"\n")
                         if x]
                # keyed by network, as collectors should: one partition keeps each device's samples in order
                await asyncio.gather(*[await prod.send(f"parity.raw.{fmt}", key=b"abilene", value=v) for v in lines])
        finally:
            await prod.stop()

    asyncio.run(produce())
    cfg = tmp_path / "twinwatch.yaml"
    raw = ", ".join(f"{f}: parity.raw.{f}" for f in FORMATS)
    cfg.write_text(f"""
kafka: {{consumer_group: tw-parity}}
topics: {{raw: {{{raw}}}, alerts: parity.alerts, expected: parity.expected, dlq: parity.dlq}}
networks: ["{fault_run / 'network.yaml'}"]
twin: {{model: qt}}
metrics: {{enabled: false}}
""")
    env = dict(os.environ, TWINWATCH_KAFKA__BOOTSTRAP=bootstrap)
    proc = subprocess.run([sys.executable, "-m", "twinwatch.stream.cli", "run", "--config", str(cfg),
                           "--duration", "100"], env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    # a fresh consumer's first fetch can take seconds on a loaded 2-core machine: give it time
    live = [orjson.loads(v) for _, v in consume_all(bootstrap, "parity.alerts", idle_s=15.0)]
    expected = [orjson.loads(v) for _, v in consume_all(bootstrap, "parity.expected")]
    assert max(e["window_end"] for e in expected) - min(e["window_start"] for e in expected) > 1000  # caught up

    out = tmp_path / "replay.jsonl"
    caps = [str(fault_run / "topics" / f"twinwatch.raw.{f}.jsonl") for f in FORMATS]
    res = CliRunner().invoke(cli, ["replay", *caps, "--network", str(fault_run / "network.yaml"), "--model", "qt",
                                   "--out", str(out)])
    assert res.exit_code in (0, 3), res.output
    replayed = [orjson.loads(x) for x in out.read_bytes().splitlines()]
    assert any(a["status"] == "firing" for a in replayed), "the link going down must raise an alert"
    # the live worker stops with its last windows still open (they stay in its state for the next start);
    # replay closes every window at the end of the files: compare the windows both closed
    last_end = max(e["window_end"] for e in expected)
    replayed = [a for a in replayed if (a["start"] < last_end if a["status"] == "firing" else a["end"] <= last_end)]
    # the event-time watermark (min over the sources of their max event time) closes the same windows with
    # the same rows whatever the order in which the topics are consumed: the same alert lines (none twice)
    assert sorted((a["id"], a["status"]) for a in live) == sorted((a["id"], a["status"]) for a in replayed)
    by_id = {(a["id"], a["status"]): a for a in replayed}
    for a in live:  # and the same content: observed, expected, bounds, suspects
        ref = by_id[(a["id"], a["status"])]
        assert {k: a[k] for k in ("observed", "expected", "suspects", "end")} == \
            {k: ref[k] for k in ("observed", "expected", "suspects", "end")}, a["id"]
