"""The live service: a faust-streaming app (aiokafka underneath) around :class:`twinwatch.stream.pipeline.Pipeline`.

One agent per raw topic (``twinwatch.raw.<format>``) takes batches of
messages (up to ``BATCH`` or ``WITHIN_S`` seconds), hands them to the
pipeline in a single worker thread (off the event loop; the pipeline, the
counter state and the twin run there, one batch at a time, in arrival
order), then writes the outputs: alerts keyed by alert id to
``twinwatch.alerts``, expected-vs-observed records to ``twinwatch.expected``,
dead letters to ``twinwatch.dlq`` (and the alerts JSONL file, Alertmanager).

Delivery is at-least-once: faust acknowledges a batch's offsets only when
the agent asks for the next batch, and the agent asks only after the
producer has the broker's acks for every output of the batch and the JSONL
file is fsynced. Alerts are idempotent by id (:class:`twinwatch.detectors.alerts.AlertBook`).

State (counter state, calibrators, open alerts, the windows' rows) is kept
in the process for now, not in changelogged faust tables: a restarted worker
starts its counters and calibrators afresh (see the report of issue 12).
"""

from __future__ import annotations

import asyncio
import logging
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
        d = cfg.detection
        self.pipeline = Pipeline(self.models, self.twin, window_s=cfg.window.seconds,
                                 lateness_s=cfg.window.allowed_lateness_s, metrics=self.metrics,
                                 detection={"alpha": d.alpha, "method": d.method, "k": d.persistence_k,
                                            "m": d.persistence_m, "r": d.resolve_after,
                                            "warmup_windows": d.warmup_windows},
                                 max_age_s=None, sources=cfg.topics.formats)
        self.executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="twinwatch-pipeline")
        self.am_executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="twinwatch-alertmanager")
        self.jsonl = JsonlSink(cfg.sinks.jsonl) if cfg.sinks.jsonl else None
        self.alertmanager = (AlertmanagerSink(cfg.sinks.alertmanager_url, timeout_s=cfg.sinks.alertmanager_timeout_s,
                                              retries=cfg.sinks.alertmanager_retries,
                                              generator_url=cfg.sinks.generator_url)
                             if cfg.sinks.alertmanager_url else None)
        self.consuming = False
        self.server: MetricsServer | None = None
        k = cfg.kafka
        self.app = faust.App(
            k.consumer_group, broker=[f"kafka://{hp.strip()}" for hp in k.bootstrap.split(",")],
            broker_credentials=self._credentials(), broker_client_id=k.client_id,
            broker_rebalance_timeout=k.rebalance_timeout_s, store="memory://", web_enabled=False,
            topic_partitions=1, producer_acks=-1, consumer_auto_offset_reset="earliest",
            stream_wait_empty=False,
        )
        self.kafka_sink: KafkaSink | None = None
        self._agents = []
        for fmt in cfg.topics.formats:
            topic = self.app.topic(cfg.topics.raw_topic(fmt), value_type=bytes, value_serializer="raw",
                                   key_type=bytes, key_serializer="raw")
            self._agents.append(self.app.agent(topic, name=f"twinwatch-{fmt}")(self._agent_for(fmt)))
        self.app.task(self._started)
        self.app.timer(interval=LAG_INTERVAL_S)(self._update_lag)

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

    def _credentials(self) -> Any:
        import faust

        k = self.cfg.kafka
        ssl_ctx = None
        if k.security_protocol.endswith("SSL"):
            from aiokafka.helpers import create_ssl_context

            ssl_ctx = create_ssl_context(cafile=k.ssl_cafile, certfile=k.ssl_certfile, keyfile=k.ssl_keyfile)
        if k.security_protocol.startswith("SASL"):
            pwd = k.resolved_password() or ""
            if k.sasl_mechanism == "PLAIN":
                return faust.SASLCredentials(username=k.username, password=pwd, ssl_context=ssl_ctx)
            return faust.SASLCredentials(username=k.username, password=pwd, ssl_context=ssl_ctx,
                                         mechanism=k.sasl_mechanism)
        if ssl_ctx is not None:
            return faust.SSLCredentials(ssl_ctx)
        return None

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
            loop = asyncio.get_running_loop()
            async for batch in stream.take(BATCH, within=WITHIN_S):
                out = await loop.run_in_executor(self.executor, self.pipeline.process, list(batch), fmt)
                delay = 0.5
                while True:  # the batch is acknowledged only once its outputs are durable
                    try:
                        await self.deliver(out)
                        break
                    except Exception as exc:
                        log.warning("delivering outputs failed (%s); retrying in %.1f s", exc, delay)
                        await asyncio.sleep(delay)
                        delay = min(delay * 2, 30.0)
                yield len(batch)

        agent.__name__ = f"twinwatch_{fmt}"
        return agent

    async def deliver(self, out: PipelineOutput) -> None:
        """Write a batch's outputs to every sink and wait until they are durable."""
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
                await sink.flush()
            except Exception:
                self.metrics.kafka_errors.labels("produce").inc()
                raise
        if self.alertmanager is not None and out.changes:
            try:
                await loop.run_in_executor(self.am_executor, self.alertmanager.push, out.changes)
            except AlertmanagerError as exc:
                log.error("alertmanager: %s", exc)

    async def drain(self) -> None:
        """Close every buffered window and deliver the outputs (clean shutdown)."""
        loop = asyncio.get_running_loop()
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
