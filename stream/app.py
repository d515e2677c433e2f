"""The live service: a faust-streaming app (aiokafka underneath) around :class:`twinwatch.stream.pipeline.Pipeline`.

One agent per raw topic (``twinwatch.raw.<format>``) takes batches of
messages (up to ``BATCH`` or ``WITHIN_S`` seconds), hands them to the
pipeline in a single worker thread (off the event loop; the pipeline, the
counter state and the twin run there, one batch at a time, in arrival
order), then writes the outputs: alerts keyed by alert id to
``twinwatch.alerts``, expected-vs-observed records to ``twinwatch.expected``,
dead letters to ``twinwatch.dlq`` (and the alerts JSONL file, Alertmanager).

Delivery is at-least-once, and the durable unit is the *checkpoint*: the pipeline's state (counter state,
calibrators, open alerts, the windows' unfinished rows, the flow records; :mod:`twinwatch.stream.state`,
npz, no pickle) together with the input offsets it reflects (``"topic:partition" -> next offset``), one
record on the state topic (``topics.state``, keyed by consumer group). Input offsets are committed only
from a checkpoint: after the state record is acknowledged by the broker, the worker commits exactly the
offsets in it. faust's own acknowledgements are switched off for the raw topics (``acks=False``), so
faust never commits an offset whose messages are not in a durable state. Hence committed offsets never
pass the latest checkpoint, and a restore (below) seeks no further than needed.

A checkpoint is written at most every ``state.interval_s`` seconds (``0``: after every batch), after the
batch that makes it due, by a timer when no batch comes, when partitions are revoked and at shutdown. Between two
checkpoints every batch's outputs are still written and acknowledged before the next batch is taken
(alerts keyed by alert id to ``twinwatch.alerts``, expected-vs-observed records to ``twinwatch.expected``,
dead letters to ``twinwatch.dlq``, the alerts JSONL file fsynced, Alertmanager), but its offsets are not
committed. A worker killed between two checkpoints therefore loses nothing: the next owner restores the
last checkpoint and re-reads every message after it. Alerts are idempotent by id
(:class:`twinwatch.detectors.alerts.AlertBook`) and the restore reads the alert lines already on the alerts
topic, so the re-processed messages publish no alert line twice; expected records and dead letters of the
re-read messages may be written twice (at-least-once). The interval trades the cost of a checkpoint
(encode and write; 50-110 ms CPU on a filled 197-node network, see ``bench/state_cost.py``) against the work
re-done after a crash (at most ``interval_s`` of input). Why not faust's acking alone: faust acknowledges a
batch of ``take_events`` as soon as the agent asks for the next one, and commits the acknowledged offsets
every ``broker_commit_interval``; tying those commits to a checkpoint would mean holding the agent, i.e. a
checkpoint per batch (the previous design, whose cost on a 200-node network exceeded the batch's work).

A worker that is assigned raw partitions it did not own (start, restart, rebalance) reads the most
advanced of the last records of the state topic and restores it while faust keeps the partitions paused;
faust resumes from the committed offsets (at or before the checkpoint's) and messages below the restored
offsets are skipped, so no row enters a window twice. Why not a faust table: the state must be written
and acked *with* the offsets it reflects before the input offsets are committed, and read back as one
unit; a faust table's changelog is sent ``send_soon`` per key and recovered per key, with no tie to the
input offsets.
"""

from __future__ import annotations

import asyncio
import logging
import os
import tempfile
from concurrent.futures import ThreadPoolExecutor
from importlib.metadata import PackageNotFoundError, version
from typing import Any

from prometheus_client import CollectorRegistry

from twinwatch.stream.config import ServiceConfig
from twinwatch.stream.metrics import MetricsServer, ServiceMetrics
from twinwatch.stream.pipeline import Pipeline, PipelineOutput
from twinwatch.stream.sinks import AlertmanagerError, AlertmanagerSink, JsonlSink, KafkaSink

__all__ = ["BATCH", "WITHIN_S", "Service", "build_service"]

log = logging.getLogger(__name__)

BATCH = 2000
"""Most messages per pipeline call."""
WITHIN_S = 0.5
"""Longest wait (seconds) for a batch to fill."""
LAG_INTERVAL_S = 10.0
"""How often the consumer-lag gauges are refreshed (seconds)."""
ALERTS_SCAN = 1000
"""How many of the alerts topic's last lines a restore reads so that it does not publish them twice."""


def _version() -> str:
    try:
        return version("twinwatch")
    except PackageNotFoundError:
        return "0+unknown"


class Service:
    """The faust app, the pipeline, the sinks and the metrics endpoint of one worker."""

    def __init__(self, cfg: ServiceConfig, *, registry: CollectorRegistry | None = None) -> None:
        import faust

        from twinwatch.twin.models import load_model
        from twinwatch.twin.netmodel import load_network

        self.cfg = cfg
        self.registry = registry or CollectorRegistry()
        self.metrics = ServiceMetrics(self.registry, version=_version(), max_links=cfg.metrics.max_links)
        self.models = [load_network(n) for n in cfg.networks]
        if not self.models:
            raise ValueError("networks: the service needs at least one network model (networks: [FILE|NAME])")
        self.twin = load_model(cfg.twin.model, cfg.twin.checkpoint)
        self.pipeline = self._new_pipeline()
        self.offsets: dict[str, int] = {}
        """``"topic:partition" -> next offset`` the pipeline's state reflects (messages below it are skipped)."""
        self.owned: frozenset[str] = frozenset()
        """Raw-topic partitions (``"topic:partition"``) this worker owns and whose state it has restored."""
        self.state_bytes = 0
        """Size of the last state record written (bytes, compressed)."""
        self.checkpoints = 0
        """State records written (and their offsets committed) by this worker."""
        self._dirty = False
        """Batches were processed since the last checkpoint (their offsets are not committed)."""
        self._last_checkpoint = -float("inf")
        """Event-loop time of the last checkpoint (``loop.time()``, seconds; the first batch always makes one)."""
        self.restored_from: dict[str, Any] | None = None
        self.published: set[tuple[str, str]] = set()
        """Alert lines ``(id, status)`` already on the alerts topic when the state was restored."""
        self.executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="twinwatch-pipeline")
        self.am_executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="twinwatch-alertmanager")
        self.jsonl = JsonlSink(cfg.sinks.jsonl) if cfg.sinks.jsonl else None
        sk = cfg.sinks
        self.alertmanager = (AlertmanagerSink(sk.alertmanager_url, timeout_s=sk.alertmanager_timeout_s,
                                              retries=sk.alertmanager_retries, generator_url=sk.generator_url,
                                              ssl_context=sk.alertmanager_ssl_context(),
                                              auth=sk.alertmanager_auth())
                             if sk.alertmanager_url else None)
        self.consuming = False
        self.server: MetricsServer | None = None
        k = cfg.kafka
        datadir = os.path.join(tempfile.gettempdir(), "twinwatch-faust")  # faust's local files, not in the cwd
        os.makedirs(datadir, exist_ok=True)
        self.app = faust.App(
            k.consumer_group, broker=[f"kafka://{hp.strip()}" for hp in k.bootstrap.split(",")],
            broker_credentials=k.faust_credentials(), broker_client_id=k.client_id,
            broker_rebalance_timeout=k.rebalance_timeout_s, broker_session_timeout=k.session_timeout_s,
            broker_heartbeat_interval=min(3.0, k.session_timeout_s / 3.0), store="memory://", web_enabled=False,
            datadir=os.path.join(datadir, "{conf.name}-data"),
            topic_partitions=1, producer_acks=-1, consumer_auto_offset_reset="earliest",
            stream_wait_empty=False,
        )
        self.kafka_sink: KafkaSink | None = None
        self._agents = []
        for fmt in cfg.topics.formats:
            topic = self.app.topic(cfg.topics.raw_topic(fmt), value_type=bytes, value_serializer="raw",
                                   key_type=bytes, key_serializer="raw",
                                   acks=False)  # offsets are committed by the checkpoints (module docstring)
            self._agents.append(self.app.agent(topic, name=f"twinwatch-{fmt}")(self._agent_for(fmt)))
        self._raw_topics = {cfg.topics.raw_topic(f) for f in cfg.topics.formats}
        self._order = asyncio.Lock()
        """Batches of all agents are processed and delivered one at a time, in the same order."""
        self._restored = asyncio.Event()
        """Set once the state of the current assignment is restored; cleared by a revocation."""
        self.app.on_partitions_assigned.connect(self._on_assigned)
        self.app.on_partitions_revoked.connect(self._on_revoked)
        self.app.on_before_shutdown.connect(self._on_shutdown)
        self.app.task(self._started)
        self.app.timer(interval=LAG_INTERVAL_S)(self._update_lag)
        if cfg.state.interval_s > 0:
            self.app.timer(interval=max(0.5, min(cfg.state.interval_s / 2.0, 5.0)))(self._checkpoint_timer)

    def _new_pipeline(self) -> Pipeline:
        cfg, d = self.cfg, self.cfg.detection
        return Pipeline(self.models, self.twin, window_s=cfg.window.seconds,
                        lateness_s=cfg.window.allowed_lateness_s, max_future_skew_s=cfg.window.max_clock_ahead_s,
                        metrics=self.metrics,
                        detection={"alpha": d.alpha, "method": d.method, "k": d.persistence_k,
                                   "m": d.persistence_m, "r": d.resolve_after, "warmup_windows": d.warmup_windows,
                                   "delay_resolution_s": d.delay_resolution_s,
                                   "propagation_resolution": d.propagation_resolution},
                        tm_range=d.tm_range, flow_matrix=d.flow_matrix, matrix_classes=d.matrix_classes,
                        threads=cfg.twin.threads,
                        max_age_s=None)  # sources: the raw partitions with data, announced by _restore

    # -------------------------------------------------------------- state
    async def _on_assigned(self, sender: Any, assigned: Any, **_: Any) -> None:
        """faust signal (partitions paused): restore the state when raw partitions this worker did not own arrive."""
        raw = frozenset(f"{tp.topic}:{tp.partition}" for tp in assigned if tp.topic in self._raw_topics)
        self._restored.clear()
        if raw - self.owned:
            blob, ends = await self.read_state(raw)
            self.published = await self.read_recent_alerts() if blob is not None else set()
            loop = asyncio.get_running_loop()
            await loop.run_in_executor(self.executor, self._restore, blob, ends)
        self.owned = raw
        self._restored.set()

    async def _on_revoked(self, sender: Any, revoked: Any, **_: Any) -> None:
        """faust signal: checkpoint what was processed since the last checkpoint (so the next owner re-reads
        little), then hold the agents until the next assignment's state is in place."""
        await self._checkpoint_if_dirty("at revocation", "the next owner re-reads from the last one")
        self._restored.clear()

    async def _on_shutdown(self, sender: Any, **_: Any) -> None:
        """faust signal (consumer stopped, producer still up): a last checkpoint, so a clean stop re-does nothing."""
        if await self._checkpoint_if_dirty("at shutdown", "the next start re-reads from the last one", commit=False):
            log.info("final checkpoint written (%d bytes)", self.state_bytes)

    def _restore(self, blob: bytes | None, ends: dict[str, int]) -> None:
        """(pipeline thread) A fresh pipeline, with the state of ``blob`` when there is one.

        The watermark then waits for every raw partition with messages beyond the restored offsets
        (``ends``: ``"topic:partition" -> end offset``), flow partitions included (their flow end times).
        """
        pipe = self._new_pipeline()
        offsets: dict[str, int] = {}
        if blob is not None:
            meta = pipe.restore(blob)
            offsets = {str(k): int(v) for k, v in meta.get("offsets", {}).items()}
            changes = meta.get("model_changes") or {}
            self.restored_from = {"offsets": offsets, "bytes": len(blob), "written_at": meta.get("written_at"),
                                  "model_changes": changes}
            log.info("state restored (%d bytes)", len(blob), extra={"bytes": len(blob), "offsets": offsets})
            for net, axes in changes.items():
                log.warning("network %s: the network model changed since the state was written; per-entity "
                            "state renumbered by name (%s); new entities start fresh, removed ones' state is "
                            "dropped and their open alerts resolve at the next window", net,
                            ", ".join(f"{axis}s {c['kept']} kept / {c['new']} new / {c['dropped']} dropped"
                                      for axis, c in axes.items()),
                            extra={"network": net, "model_changes": axes})
        else:
            log.info("no state recorded for this consumer group: starting afresh")
        pending = sorted(tp for tp, end in ends.items() if end > offsets.get(tp, 0))
        pipe.expect(pending)
        # partitions of the restored state with nothing left to read must not hold the watermark back
        pipe.set_caught_up({tp: True for tp in offsets if tp not in pending})
        self.pipeline, self.offsets = pipe, offsets
        self._dirty = False

    def _kafka_kwargs(self) -> dict[str, Any]:
        """aiokafka client arguments of the configured broker and security."""
        return self.cfg.kafka.aiokafka_kwargs()

    async def _read_tail(self, topic: str, n: int, raw: frozenset[str] = frozenset(),
                         timeout_s: float = 30.0) -> tuple[list[Any], dict[str, int]]:
        """:func:`twinwatch.stream.state_topic.read_tail` with this worker's client settings."""
        from twinwatch.stream.state_topic import read_tail

        return await read_tail(self._kafka_kwargs(), topic, n, raw, timeout_s)

    async def read_state(self, raw: frozenset[str] = frozenset()) -> tuple[bytes | None, dict[str, int]]:
        """The state record this worker restores (:func:`twinwatch.stream.state_topic.latest_state` of the last
        :data:`~twinwatch.stream.state_topic.STATE_SCAN` records of its consumer group; None: none), and the end
        offsets of the ``raw`` partitions (``"topic:partition"``)."""
        from twinwatch.stream.state_topic import STATE_SCAN, latest_state

        topic = self.cfg.topics.state
        records, ends = await self._read_tail(topic, STATE_SCAN, raw)
        best = latest_state(records, self.cfg.kafka.consumer_group, topic)
        return (None if best is None else best.value), ends

    async def read_recent_alerts(self) -> set[tuple[str, str]]:
        """``(id, status)`` of the last :data:`ALERTS_SCAN` alert lines on the alerts topic.

        A worker that restores a state re-processes the messages after it; the alert changes that the
        previous owner had already published before it died (outputs acked, state not yet) are not sent twice.
        """
        import orjson

        records, _ = await self._read_tail(self.cfg.topics.alerts, ALERTS_SCAN)
        seen: set[tuple[str, str]] = set()
        for r in records:
            try:
                d = orjson.loads(r.value)
                seen.add((str(d["id"]), str(d["status"])))
            except (orjson.JSONDecodeError, KeyError, TypeError):
                continue
        return seen

    def _process(self, events: list[tuple[str, int, bytes]], fmt: str,
                 highwater: dict[str, int | None]) -> tuple[PipelineOutput, int]:
        """(pipeline thread) Process the events not yet in the state, per partition (each partition is a
        watermark source, caught up when its next offset reaches ``highwater``); returns the outputs and how
        many events were skipped."""
        out = PipelineOutput()
        by_tp: dict[str, list[bytes]] = {}
        skipped = 0
        for tp, off, v in events:
            if off >= self.offsets.get(tp, 0):
                by_tp.setdefault(tp, []).append(v)
            else:
                skipped += 1
            self.offsets[tp] = max(self.offsets.get(tp, 0), off + 1)
        for tp in {tp for tp, _, _ in events}:
            # one partition at a time: its flag changes just before its rows go in, so a partition that
            # this batch reads to its end never lets a window close before its own rows are in
            hw = highwater.get(tp)
            self.pipeline.set_caught_up({tp: hw is not None and self.offsets[tp] >= hw})
            if tp in by_tp:
                out.extend(self.pipeline.process(by_tp[tp], fmt, source=tp))
        return out, skipped

    def _state(self) -> tuple[bytes, dict[str, int]]:
        """(pipeline thread) The pipeline's state blob and the input offsets it reflects (a copy)."""
        offsets = dict(self.offsets)
        return self.pipeline.state({"offsets": offsets, "group": self.cfg.kafka.consumer_group}), offsets

    async def checkpoint(self, *, commit: bool = True) -> None:
        """Write the state (with the offsets it reflects) to the state topic, wait for the broker's ack, then
        commit those offsets (unless ``commit`` is false: the consumer has stopped; a restore skips what the
        state holds anyway). The caller holds ``self._order`` (no batch runs meanwhile)."""
        loop = asyncio.get_running_loop()
        blob, offsets = await loop.run_in_executor(self.executor, self._state)
        await self.deliver(PipelineOutput(), state=blob)
        self._checkpointed(offsets)
        if commit:
            await self._commit(offsets)

    def _checkpointed(self, offsets: dict[str, int]) -> None:
        self._dirty = False
        self._last_checkpoint = asyncio.get_running_loop().time()
        self.checkpoints += 1
        log.debug("checkpoint %d: %d bytes", self.checkpoints, self.state_bytes, extra={"offsets": offsets})

    async def _commit(self, offsets: dict[str, int]) -> None:
        """Commit the raw-topic ``offsets`` of a durable checkpoint (partitions still owned). A failed commit
        loses nothing: the next owner restores the checkpoint and skips what it already holds."""
        from faust.types import TP

        tps = {}
        for key, off in offsets.items():
            if key in self.owned:
                topic, part = key.rsplit(":", 1)
                tps[TP(topic, int(part))] = int(off)
        if not tps:
            return
        try:
            await self.app.consumer._commit_offsets(tps)  # faust's commit of given offsets (its `commit` takes acks)
        except Exception as exc:
            self.metrics.kafka_errors.labels("commit").inc()
            log.warning("committing offsets of the checkpoint failed (%s); they are committed with the next one", exc)

    async def _checkpoint_timer(self) -> None:
        """faust timer: a checkpoint once ``state.interval_s`` has passed with batches not yet in one."""
        loop = asyncio.get_running_loop()
        if not (self._dirty and self._restored.is_set()
                and loop.time() - self._last_checkpoint >= self.cfg.state.interval_s):
            return
        await self._checkpoint_if_dirty("on the timer", "retried at the next tick")

    async def _checkpoint_if_dirty(self, when: str, then: str, *, commit: bool = True) -> bool:
        """Checkpoint when batches were processed since the last checkpoint and the state is restored (checked
        again once ``self._order`` is held: a batch's own checkpoint may have got there first). A failure is
        logged with ``when`` and ``then`` (what happens instead), never raised: the last checkpoint and the
        offsets it committed still hold, so nothing is lost. Returns whether a checkpoint was written."""
        if not (self._dirty and self._restored.is_set()):
            return False
        try:
            async with self._order:
                if not (self._dirty and self._restored.is_set()):
                    return False
                await self.checkpoint(commit=commit)
        except Exception as exc:
            log.warning("checkpoint %s failed (%s); %s", when, exc, then)
            return False
        return True

    async def _started(self) -> None:
        """The worker is up and its consumer started: ready once the twin is loaded."""
        self.consuming = True

    async def _update_lag(self) -> None:
        """``twinwatch_consumer_lag_messages``: high watermark minus committed offset, per assigned partition."""
        consumer = self.app.consumer
        try:
            for tp in consumer.assignment():
                if not tp.topic.startswith(tuple(self.cfg.topics.raw_topic(f) for f in self.cfg.topics.formats)):
                    continue
                high = consumer.highwater(tp)
                committed = consumer._committed_offset.get(tp) or 0  # faust keeps no public accessor
                if high is not None:
                    self.metrics.consumer_lag.labels(tp.topic, str(tp.partition)).set(max(high - committed, 0))
        except Exception as exc:
            self.metrics.kafka_errors.labels("lag").inc()
            log.debug("consumer lag not available: %s", exc)

    def ready(self) -> bool:
        """Consuming and the twin loaded."""
        return self.consuming and self.twin is not None

    def start_metrics(self) -> MetricsServer | None:
        """Serve ``/metrics``, ``/healthz``, ``/readyz`` on ``metrics.bind`` (when enabled)."""
        if not self.cfg.metrics.enabled:
            return None
        host, port = self.cfg.metrics.host_port
        self.server = MetricsServer(self.metrics, host, port, ready=self.ready).start()
        return self.server

    def _agent_for(self, fmt: str) -> Any:
        async def agent(stream: Any) -> Any:
            async for batch in stream.take_events(BATCH, within=WITHIN_S):
                events = [(f"{e.message.tp.topic}:{e.message.tp.partition}", int(e.message.offset), e.value)
                          for e in batch]
                await self._restored.wait()  # faust resumes fetching before the assignment signal's restore ends
                events = [ev for ev in events if ev[0] in self.owned]  # revoked meanwhile: the new owner has them
                if not events:
                    continue
                hw = {f"{e.message.tp.topic}:{e.message.tp.partition}": self.app.consumer.highwater(e.message.tp)
                      for e in batch}
                async with self._order:  # one batch at a time, processed and delivered in the same order
                    await self._handle(events, fmt, hw)
                yield len(batch)

        agent.__name__ = f"twinwatch_{fmt}"
        return agent

    async def _handle(self, events: list[tuple[str, int, bytes]], fmt: str, hw: dict[str, int | None]) -> None:
        """Process a batch off the event loop, then deliver its outputs, and a checkpoint when one is due
        (retrying with backoff); the agent takes the next batch only after that."""
        loop = asyncio.get_running_loop()
        out, skipped = await loop.run_in_executor(self.executor, self._process, events, fmt, hw)
        self._dirty = True
        if skipped:
            log.info("skipped %d message(s) already in the restored state", skipped)
        if self.published and out.changes:
            out.changes = [c for c in out.changes if (c.alert.id, c.action) not in self.published]
        due = loop.time() - self._last_checkpoint >= self.cfg.state.interval_s
        blob, offsets = await loop.run_in_executor(self.executor, self._state) if due else (None, {})
        delay = 0.5
        while True:  # outputs (and the checkpoint) durable before the next batch
            try:
                await self.deliver(out, state=blob)
                break
            except Exception as exc:
                log.warning("delivering outputs failed (%s); retrying in %.1f s", exc, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 30.0)
        if blob is not None:
            self._checkpointed(offsets)
            await self._commit(offsets)

    async def deliver(self, out: PipelineOutput, state: bytes | None = None) -> None:
        """Write a batch's outputs (and the pipeline ``state`` after it) to every sink; wait until they are durable."""
        loop = asyncio.get_running_loop()
        if self.jsonl is not None and out.changes:
            self.jsonl.write_changes(out.changes)
            await loop.run_in_executor(self.executor, self.jsonl.flush)
        if self.kafka_sink is None:  # the app's producer exists once the worker runs
            self.kafka_sink = KafkaSink(self.app.producer, alerts_topic=self.cfg.topics.alerts,
                                        expected_topic=self.cfg.topics.expected, dlq_topic=self.cfg.topics.dlq)
        sink = self.kafka_sink
        if sink is not None:
            try:
                await sink.send_changes(out.changes)
                await sink.send_expected(out.expected)
                await sink.send_dead_letters([d.to_dict() for d in out.dead_letters])
                state_ack = None
                if state is not None:  # faust's producer: (topic, key, value, partition, timestamp, headers)
                    state_ack = await self.app.producer.send(self.cfg.topics.state,
                                                             self.cfg.kafka.consumer_group.encode(), state,
                                                             None, None, None)
                await sink.flush()
                if state_ack is not None:
                    await state_ack
                    self.state_bytes = len(state or b"")
            except Exception:
                self.metrics.kafka_errors.labels("produce").inc()
                raise
        if self.alertmanager is not None and out.changes:
            try:
                await loop.run_in_executor(self.am_executor, self.alertmanager.push, out.changes)
            except AlertmanagerError as exc:
                log.error("alertmanager: %s", exc)

    async def drain(self) -> None:
        """Checkpoint, then close every buffered window and deliver the outputs (clean shutdown)."""
        loop = asyncio.get_running_loop()
        if self._dirty:
            await self.checkpoint()
        out = await loop.run_in_executor(self.executor, self.pipeline.flush)
        await self.deliver(out)

    def close(self) -> None:
        """Release the sinks, the executors and the metrics endpoint."""
        if self.jsonl is not None:
            self.jsonl.close()
        if self.server is not None:
            self.server.stop()
        self.executor.shutdown(wait=True)
        self.am_executor.shutdown(wait=False)


def build_service(cfg: ServiceConfig, *, registry: CollectorRegistry | None = None) -> Service:
    """The :class:`Service` of a validated configuration."""
    return Service(cfg, registry=registry)
