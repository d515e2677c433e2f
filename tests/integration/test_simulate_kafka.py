"""``twinwatch simulate telemetry --kafka`` produces onto a real broker exactly what it writes to its files."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from twinwatch.stream.broker import EmbeddedBroker
from twinwatch.stream.cli import cli

pytestmark = [pytest.mark.kafka, pytest.mark.slow]


async def _read_topic(bootstrap: str, topic: str, expect: int, timeout_s: float = 60.0) -> list[bytes]:
    from aiokafka import AIOKafkaConsumer, TopicPartition

    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await consumer.start()
    try:
        parts = await consumer._client.fetch_all_metadata()
        tps = [TopicPartition(topic, p) for p in parts.partitions_for_topic(topic) or ()]
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        got: list[bytes] = []
        deadline = time.monotonic() + timeout_s
        while len(got) < expect and time.monotonic() < deadline:
            for msgs in (await consumer.getmany(timeout_ms=500)).values():
                got += [m.value for m in msgs]
        return got
    finally:
        await consumer.stop()


def test_kafka_holds_exactly_the_files(tmp_path: Path) -> None:
    out = tmp_path / "run"
    with EmbeddedBroker() as broker:  # its own broker: the raw topics hold this run's messages only
        _produce_and_compare(broker, out)


def _produce_and_compare(kafka_broker: EmbeddedBroker, out: Path) -> None:
    res = CliRunner().invoke(cli, ["simulate", "telemetry", "--network", "abilene", "--duration", "90s",
                                   "--faults", "0", "--seed", "4", "--malformed-fraction", "0.01",
                                   "--kafka", kafka_broker.bootstrap, "--out", str(out), "--no-progress"])
    assert res.exit_code == 0, res.output
    topics = sorted((out / "topics").glob("*.jsonl"))
    assert len(topics) == 4
    for f in topics:
        lines = f.read_bytes().split(b"\n")[:-1]
        got = asyncio.run(_read_topic(kafka_broker.bootstrap, f.stem, len(lines)))
        # one key (the network) per topic: one partition, so the order is the file's order; corrupted
        # messages are produced as corrupted (newlines, which a JSONL line cannot hold, are blanks in both)
        assert [m.replace(b"\n", b" ") for m in got] == lines, f.stem
