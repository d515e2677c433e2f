"""Reading a topic back in the integration tests: every record from the earliest offset, without a group."""

from __future__ import annotations

import asyncio


async def consume_all_async(bootstrap: str, topic: str, idle_s: float = 10.0) -> list[tuple[bytes | None, bytes]]:
    """``(key, value)`` of every record of ``topic``, read until no record arrives for ``idle_s`` seconds."""
    from aiokafka import AIOKafkaConsumer

    cons = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest",
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


def consume_all(bootstrap: str, topic: str, idle_s: float = 10.0) -> list[tuple[bytes | None, bytes]]:
    """:func:`consume_all_async` from synchronous code."""
    return asyncio.run(consume_all_async(bootstrap, topic, idle_s))
