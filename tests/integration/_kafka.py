"""Kafka helpers of the integration tests: a testbed run onto the raw topics, a topic read back whole.

``client`` keyword arguments go to the aiokafka clients as they are (``security_protocol``, ``ssl_context``,
SASL settings: :meth:`twinwatch.stream.config.KafkaConfig.aiokafka_kwargs`).
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

FORMATS = ("gnmic", "influx", "probe", "goflow2")
"""The raw topics a testbed run fills (``twinwatch.raw.<format>``)."""


async def produce_run_async(bootstrap: str, run: Path, **client: Any) -> dict[str, list[bytes]]:
    """Every line of the run's ``topics/twinwatch.raw.<format>.jsonl`` onto its topic, keyed by network;
    returns the lines sent per format (acknowledged by the broker)."""
    from aiokafka import AIOKafkaProducer

    sent: dict[str, list[bytes]] = {}
    prod = AIOKafkaProducer(**{"bootstrap_servers": bootstrap, **client}, acks="all")
    await prod.start()
    try:
        for fmt in FORMATS:
            lines = [x for x in (run / "topics" / f"twinwatch.raw.{fmt}.jsonl").read_bytes().split(b"\n") if x]
            sent[fmt] = lines
            futs = [await prod.send(f"twinwatch.raw.{fmt}", key=b"abilene", value=v) for v in lines]
            await asyncio.gather(*futs)
    finally:
        await prod.stop()
    return sent


def produce_run(bootstrap: str, run: Path, **client: Any) -> dict[str, list[bytes]]:
    """:func:`produce_run_async` from synchronous code."""
    return asyncio.run(produce_run_async(bootstrap, run, **client))


async def consume_all_async(bootstrap: str, topic: str, idle_s: float = 10.0,
                            **client: Any) -> list[tuple[bytes | None, bytes]]:
    """``(key, value)`` of every record of ``topic``, read until no record arrives for ``idle_s`` seconds."""
    from aiokafka import AIOKafkaConsumer

    cons = AIOKafkaConsumer(topic, **{"bootstrap_servers": bootstrap, **client}, auto_offset_reset="earliest",
                            enable_auto_commit=False, group_id=None)
    await cons.start()
    out: list[tuple[bytes | None, bytes]] = []
    try:
        while True:
            batch = await cons.getmany(timeout_ms=int(idle_s * 1000), max_records=20_000)
            if not batch:
                break
            for recs in batch.values():
                out += [(r.key, r.value) for r in recs]
    finally:
        await cons.stop()
    return out


def consume_all(bootstrap: str, topic: str, idle_s: float = 10.0, **client: Any) -> list[tuple[bytes | None, bytes]]:
    """:func:`consume_all_async` from synchronous code."""
    return asyncio.run(consume_all_async(bootstrap, topic, idle_s, **client))
