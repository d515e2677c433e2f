"""What waiting for the broker costs ``twinwatch run`` at start, and how soon it notices a broker that comes late.

Usage::

    .venv/bin/python bench/broker_start.py --repeat 20 --late 1 5 20 --out bench/notes/broker_start.json

Two measurements against the embedded broker (Tansu, plaintext, loopback):

- **one try** (:func:`twinwatch.stream.broker_wait.probe`: TCP, then an aiokafka client's bootstrap) on a live
  broker, beside the baseline any Kafka client pays at start, an aiokafka client's bootstrap alone, in the same
  run (medians of ``--repeat``; wall and process CPU);
- **a late broker**: :func:`~twinwatch.stream.broker_wait.wait_for_broker` starts against a free port, the broker
  starts there ``--late`` seconds later; reported is the delay from the broker listening to the wait returning
  (bounded by the backoff's pause at that moment: 0.5 s doubling to 15 s).
"""

from __future__ import annotations

import argparse
import asyncio
import threading
import time
from pathlib import Path

from _report import machine_info, timed, write_report


def _bootstrap_only(bootstrap: str) -> None:
    """An aiokafka client's bootstrap and close: what every Kafka client pays at start."""
    from aiokafka.client import AIOKafkaClient

    async def go() -> None:
        client = AIOKafkaClient(bootstrap_servers=bootstrap)
        try:
            await client.bootstrap()
        finally:
            await client.close()

    asyncio.run(go())


def _late(seconds: float) -> dict[str, float]:
    """Seconds from the broker listening to ``wait_for_broker`` returning, the broker started ``seconds`` late."""
    from twinwatch.stream.broker import EmbeddedBroker, free_port
    from twinwatch.stream.broker_wait import wait_for_broker
    from twinwatch.stream.config import KafkaConfig

    port = free_port()
    done: dict[str, float] = {}

    def wait() -> None:
        asyncio.run(wait_for_broker(KafkaConfig(bootstrap=f"127.0.0.1:{port}"), 120.0))
        done["t"] = time.monotonic()

    waiter = threading.Thread(target=wait)
    waiter.start()
    time.sleep(seconds)
    with EmbeddedBroker(port=port) as _:
        up = time.monotonic()
        waiter.join()
    return {"late_s": seconds, "noticed_after_s": round(done["t"] - up, 3)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=20)
    ap.add_argument("--late", type=float, nargs="*", default=[1.0, 5.0, 20.0], help="seconds the broker starts late")
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args()
    import logging

    logging.getLogger("twinwatch.stream.broker_wait").setLevel(logging.ERROR)  # the waits' warnings: expected
    from twinwatch.stream.broker import EmbeddedBroker
    from twinwatch.stream.broker_wait import probe
    from twinwatch.stream.config import KafkaConfig

    with EmbeddedBroker() as broker:
        k = KafkaConfig(bootstrap=broker.bootstrap)
        _bootstrap_only(broker.bootstrap)  # warm: the first metadata request creates nothing, but loads modules
        base = timed(lambda: _bootstrap_only(broker.bootstrap), args.repeat)
        one = timed(lambda: asyncio.run(probe(k)), args.repeat)
    late = [_late(s) for s in args.late]
    write_report({"probe": one, "aiokafka_bootstrap": base,
                  "probe_over_bootstrap_wall": round(one["wall_ms_median"] / base["wall_ms_median"], 2),
                  "late_broker": late, "machine": machine_info()}, args.out, indent=2)


if __name__ == "__main__":
    main()
