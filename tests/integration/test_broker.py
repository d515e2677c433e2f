"""The embedded broker is a real Kafka-protocol broker: aiokafka produces, consumes and commits on it."""

from __future__ import annotations

import asyncio
import socket
import time

import pytest

from twinwatch.stream.broker import BrokerError, EmbeddedBroker

pytestmark = pytest.mark.kafka


async def _roundtrip(bootstrap: str, topic: str, n: int) -> tuple[list[bytes], int, int]:
    from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

    producer = AIOKafkaProducer(bootstrap_servers=bootstrap)
    await producer.start()
    try:
        for i in range(n):
            await producer.send_and_wait(topic, f"m{i}".encode(), key=b"net1")
    finally:
        await producer.stop()

    async def consume(wait_s: float) -> tuple[list[bytes], int]:
        consumer = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap, group_id="twinwatch-test",
                                    auto_offset_reset="earliest", enable_auto_commit=False,
                                    rebalance_timeout_ms=3000, session_timeout_ms=6000)
        await consumer.start()
        got: list[bytes] = []
        try:
            deadline = time.monotonic() + wait_s
            while len(got) < n and time.monotonic() < deadline:
                for msgs in (await consumer.getmany(timeout_ms=300)).values():
                    got += [m.value for m in msgs]
            await consumer.commit()
            committed = sum([(await consumer.committed(tp)) or 0 for tp in consumer.assignment()])
        finally:
            await consumer.stop()
        return got, committed

    first, committed = await consume(20.0)
    again, _ = await consume(2.0)  # the same group resumes after the committed offsets: nothing left
    return first, committed, len(again)


def test_produce_consume_commit_and_resume(kafka_broker: EmbeddedBroker) -> None:
    got, committed, redelivered = asyncio.run(_roundtrip(kafka_broker.bootstrap, "twinwatch.test.roundtrip", 20))
    assert got == [f"m{i}".encode() for i in range(20)]  # one key, one partition: order kept
    assert committed == 20
    assert redelivered == 0


def test_a_busy_port_is_a_clear_error_and_stop_is_clean() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        with pytest.raises(BrokerError, match="cannot start the embedded broker"):
            EmbeddedBroker(port=s.getsockname()[1]).start()
    with EmbeddedBroker() as b:
        assert b.running
    assert not b.running
