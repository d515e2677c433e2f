"""The service's state records on the broker: read the latest of a consumer group, write one.

A worker checkpoints its whole state as one record keyed by its consumer group on ``topics.state``
(:mod:`twinwatch.stream.state`). The worker reads the tail of that topic when it gets partitions
(:meth:`twinwatch.stream.app.Service.read_state`); ``twinwatch state show`` and ``twinwatch state drop`` read
and write it the same way, with the same client settings (TLS, SASL) as the worker.

Which record counts: of the last :data:`STATE_SCAN` records of the group on every partition of the topic,
the most advanced, i.e. the largest sum of input offsets (processing is deterministic in the offsets, so two
records with the same sum hold the same state; of those, the last read). Records that cannot be decoded are
skipped with a warning.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any, NamedTuple

__all__ = ["STATE_SCAN", "StateRecord", "latest_state", "read_tail", "write_record"]

log = logging.getLogger(__name__)

STATE_SCAN = 16
"""State records read back per partition of the state topic (a checkpoint is one record; a few suffice)."""


class StateRecord(NamedTuple):
    """One state record as read from the broker."""

    partition: int
    offset: int
    timestamp_ms: int | None
    value: bytes


async def read_tail(kwargs: dict[str, Any], topic: str, n: int, raw: frozenset[str] = frozenset(),
                    timeout_s: float = 30.0) -> tuple[list[Any], dict[str, int]]:
    """The last ``n`` records of every partition of ``topic`` (none when it does not exist), and the end
    offsets of the ``raw`` partitions (``"topic:partition"``). ``kwargs``: aiokafka client arguments
    (:meth:`~twinwatch.stream.config.KafkaConfig.aiokafka_kwargs`)."""
    from aiokafka import AIOKafkaConsumer, TopicPartition

    cons = AIOKafkaConsumer(group_id=None, enable_auto_commit=False, **kwargs)
    records: list[Any] = []
    try:
        await cons.start()  # in the try: a consumer that cannot start is closed too
        topics = await asyncio.wait_for(cons.topics(), timeout_s)  # refreshes the metadata
        raw_tps = [TopicPartition(t, int(p)) for t, p in (x.rsplit(":", 1) for x in sorted(raw))]
        ends = {f"{tp.topic}:{tp.partition}": int(v)
                for tp, v in (await cons.end_offsets(raw_tps)).items()} if raw_tps else {}
        tps = [TopicPartition(topic, p) for p in sorted(cons.partitions_for_topic(topic) or ())]
        if topic not in topics or not tps:
            return records, ends
        cons.assign(tps)
        last = await cons.end_offsets(tps)
        for tp in tps:
            if last[tp] > 0:
                cons.seek(tp, max(last[tp] - n, 0))
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        while True:
            behind = [tp for tp in tps if last[tp] > 0 and await cons.position(tp) < last[tp]]
            if not behind:
                break
            if loop.time() > deadline:
                raise TimeoutError(f"topic {topic}: not read to its end within {timeout_s:g} s")
            for recs in (await cons.getmany(timeout_ms=1000, max_records=max(n, 1))).values():
                records += recs
    finally:
        await cons.stop()
    return records, ends


def latest_state(records: list[Any], group: str, topic: str = "state topic") -> StateRecord | None:
    """The most advanced decodable state record of consumer group ``group`` among ``records`` (module docstring)."""
    from twinwatch.stream.state import StateError, decode

    key = group.encode()
    best: tuple[int, StateRecord] | None = None
    for r in records:
        if r.key != key or r.value is None:
            continue
        try:
            meta, _ = decode(r.value)
        except StateError as exc:
            log.warning("state topic %s offset %d: %s (skipped)", topic, r.offset, exc)
            continue
        progress = sum(int(v) for v in meta.get("offsets", {}).values())
        if best is None or progress >= best[0]:
            best = (progress, StateRecord(int(r.partition), int(r.offset), r.timestamp, r.value))
    return None if best is None else best[1]


async def write_record(kwargs: dict[str, Any], topic: str, group: str, blob: bytes,
                       timeout_s: float = 30.0) -> tuple[int, int]:
    """Write one state record of ``group`` (acknowledged by every in-sync replica); its ``(partition, offset)``."""
    from aiokafka import AIOKafkaProducer

    prod = AIOKafkaProducer(acks="all", max_request_size=max(1_048_576, len(blob) + 4096), **kwargs)
    try:
        await asyncio.wait_for(prod.start(), timeout_s)
        md = await asyncio.wait_for(prod.send_and_wait(topic, key=group.encode(), value=blob), timeout_s)
    finally:
        await prod.stop()
    return int(md.partition), int(md.offset)
