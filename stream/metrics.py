"""Prometheus metrics of the service and the HTTP endpoint that serves them (``/metrics``, ``/healthz``, ``/readyz``).

The metric names and labels are a contract: ``deploy/`` rules and Grafana
dashboards are written against them. Label cardinality is bounded: formats,
reasons, networks, kinds and severities are small fixed sets; per-link gauges
exist for at most ``max_links`` links per network (the first seen; the rest
are counted in ``twinwatch_link_series_dropped_total``); paths never become a
label, they are summarised per link in ``twinwatch_link_paths_anomalous``.
What the twin predicted each link with, beside the network model's, is in
``twinwatch_link_capacity_bytes_per_second`` and ``twinwatch_link_igp_metric``
(label ``source``: ``model``, ``twin``): they differ where the ports report a
lower speed or the routers another IGP metric.

Every metric is registered on the :class:`~prometheus_client.CollectorRegistry`
given to :class:`ServiceMetrics`, so tests and several pipelines in one
process do not collide.

Examples
--------
>>> from prometheus_client import CollectorRegistry, generate_latest
>>> m = ServiceMetrics(CollectorRegistry(), version="1.0")
>>> m.messages.labels(format="gnmic", outcome="accepted").inc(3)
>>> b"twinwatch_messages_total{format=\\"gnmic\\",outcome=\\"accepted\\"} 3.0" in generate_latest(m.registry)
True
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, generate_latest

__all__ = ["CONFIG_SOURCES", "KAFKA_OPERATIONS", "LATENCY_BUCKETS", "LINK_KPIS", "WINDOW_STAGES", "MetricsServer",
           "ServiceMetrics"]

LINK_KPIS: tuple[str, ...] = ("utilization", "tx_bps", "drop_pps", "delay_s", "loss_ratio")
"""KPIs of the per-link gauges."""

LATENCY_BUCKETS: tuple[float, ...] = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
                                      120.0, 300.0)
"""Histogram buckets (seconds) for lags and latencies."""

KAFKA_OPERATIONS: tuple[str, ...] = ("connect", "produce", "lag", "commit")
"""Operations of ``twinwatch_kafka_errors_total`` the service counts; each is exported from the start with
value 0, so ``rate()`` over it has data (0, not "no data") before the first error."""

CONFIG_SOURCES: tuple[str, ...] = ("model", "twin")
"""Values of the ``source`` label of the per-link configuration gauges: the network model's value, the one the twin
predicted the last window with (a lower reported speed, a reported IGP metric)."""

WINDOW_STAGES: tuple[str, ...] = ("snapshot", "twin", "detector")
"""Stages of a closing window that can fail (``twinwatch_window_failures_total{stage}``): building the
snapshot, the twin's inference, the detector."""


class ServiceMetrics:
    """All metrics of one service (or replay) instance, registered on ``registry``.

    Parameters
    ----------
    registry
        Where the metrics live.
    version
        Value of the ``version`` label of ``twinwatch_build_info``.
    max_links
        Per-network cap on links with per-link gauges.
    """

    def __init__(self, registry: CollectorRegistry, *, version: str = "0+unknown", max_links: int = 500) -> None:
        r = registry
        self.registry = registry
        self.max_links = int(max_links)
        self.messages = Counter("twinwatch_messages", "Raw messages consumed, by collector format and outcome "
                                "(accepted: decoded, maybe with some records rejected; rejected: refused whole).",
                                ["format", "outcome"], registry=r)
        self.rejected = Counter("twinwatch_messages_rejected", "Rejections by the adapters (messages or records), "
                                "by format and reason code.", ["format", "reason"], registry=r)
        self.dlq = Counter("twinwatch_dlq_messages", "Dead-letter records written, by format and reason.",
                           ["format", "reason"], registry=r)
        self.measurements = Counter("twinwatch_measurements", "Measurement rows produced, by network.",
                                    ["network"], registry=r)
        self.late_rows = Counter("twinwatch_late_rows", "Measurement rows that arrived after their window closed "
                                 "(counted, not used).", ["network"], registry=r)
        self.late_flows = Counter("twinwatch_late_flow_records", "Flow records that ended before the cutoff of a "
                                  "window already closed (not used for that window; kept for later priors).",
                                  ["network"], registry=r)
        self.windows = Counter("twinwatch_windows", "Windows closed, by network and outcome "
                               "(complete, incomplete: some counters missing, empty: no rows, failed: skipped "
                               "after an error, see twinwatch_window_failures_total).",
                               ["network", "outcome"], registry=r)
        self.completeness = Gauge("twinwatch_window_completeness_ratio", "Fraction of expected link counters "
                                  "present in the last closed window.", ["network"], registry=r)
        self.last_window_end = Gauge("twinwatch_last_window_end_timestamp_seconds", "End (event time, epoch "
                                     "seconds) of the last closed window.", ["network"], registry=r)
        self.window_lag = Histogram("twinwatch_window_lag_seconds", "Processing (wall-clock) time minus window end "
                                    "when a window closes.", registry=r, buckets=LATENCY_BUCKETS)
        self.close_to_alert = Histogram("twinwatch_window_close_to_alert_seconds", "Time from a window's close to "
                                        "its alerts being handed to the sinks.", registry=r, buckets=LATENCY_BUCKETS)
        self.inference = Histogram("twinwatch_twin_inference_seconds", "Twin inference time per batch of windows.",
                                   registry=r, buckets=LATENCY_BUCKETS)
        self.alerts_firing = Gauge("twinwatch_alerts_firing", "Alerts currently firing.",
                                   ["network", "kind", "severity"], registry=r)
        self.alerts = Counter("twinwatch_alerts", "Alerts that started firing.", ["network", "kind", "severity"],
                              registry=r)
        link = ["network", "link", "kpi"]
        self.link_observed = Gauge("twinwatch_link_observed", "Observed link KPI in the last window (SI units).",
                                   link, registry=r)
        self.link_expected = Gauge("twinwatch_link_expected", "The twin's expected link KPI in the last window.",
                                   link, registry=r)
        self.link_lower = Gauge("twinwatch_link_expected_lower", "Lower calibrated bound of the link KPI.",
                                link, registry=r)
        self.link_upper = Gauge("twinwatch_link_expected_upper", "Upper calibrated bound of the link KPI.",
                                link, registry=r)
        self.link_score = Gauge("twinwatch_link_anomaly_score", "1 - p-value of the link KPI in the last window.",
                                link, registry=r)
        self.link_paths = Gauge("twinwatch_link_paths_anomalous", "Paths through the link flagged in the last "
                                "window.", ["network", "link"], registry=r)
        config = ["network", "link", "source"]
        self.link_capacity = Gauge("twinwatch_link_capacity_bytes_per_second", "Link capacity (bytes/s): the network "
                                   "model's (source=model) and the one the twin predicted the last window with "
                                   "(source=twin: lower where the ports report less, a LAG that lost a member).",
                                   config, registry=r)
        self.link_igp_metric = Gauge("twinwatch_link_igp_metric", "IGP metric of the link's source interface: the "
                                     "network model's (source=model) and the one the twin routed the last window "
                                     "with (source=twin: the router's reported metric where it reports one).",
                                     config, registry=r)
        self.link_dropped = Counter("twinwatch_link_series_dropped", "Links beyond metrics.max_links whose gauges "
                                    "were not exported (counted once per link).", ["network"], registry=r)
        self.consumer_lag = Gauge("twinwatch_consumer_lag_messages", "Messages between the committed offset and the "
                                  "high watermark.", ["topic", "partition"], registry=r)
        self.kafka_errors = Counter("twinwatch_kafka_errors", "Kafka client errors, by operation.", ["operation"],
                                    registry=r)
        for op in KAFKA_OPERATIONS:
            self.kafka_errors.labels(operation=op)
        self.window_failures = Counter("twinwatch_window_failures", "Windows skipped because a stage raised an "
                                       "error (logged with the window), by network and stage (snapshot, twin, "
                                       "detector).", ["network", "stage"], registry=r)
        self.clocks_ahead = Gauge("twinwatch_device_clocks_ahead", "Devices whose clock runs ahead of the other "
                                  "devices on their source by more than a window, held back from the watermark "
                                  "(logged by name).", ["network"], registry=r)
        self.clocks_behind = Gauge("twinwatch_device_clocks_behind", "Devices whose clock runs behind the other "
                                   "devices on their source by more than two windows, steadily, their samples "
                                   "re-stamped forward (logged by name).", ["network"], registry=r)
        self.late_devices = Gauge("twinwatch_late_devices", "Devices whose latest samples were older than the windows "
                                  "already closed (clock behind, or telemetry held up; their rows are late; logged "
                                  "by name).", ["network"], registry=r)
        self.build_info = Gauge("twinwatch_build_info", "Build information (value 1).", ["version"], registry=r)
        self.build_info.labels(version=version).set(1)
        self._links: dict[str, dict[str, None]] = {}
        self._dropped: dict[str, set[str]] = {}
        self._firing: dict[tuple[str, str, str], int] = {}
        self._config: dict[str, np.ndarray] = {}  # per network: the (4, E) values of the configuration gauges set

    def expect_networks(self, networks: Iterable[str]) -> None:
        """Create the per-network failure and late-row series (and the clock-skew gauges) at zero, so ``rate()`` and
        ``increase()`` see a network's first failure or late row."""
        for net in networks:
            self.clocks_ahead.labels(network=net).set(0)
            self.clocks_behind.labels(network=net).set(0)
            self.late_devices.labels(network=net).set(0)
            self.late_rows.labels(network=net)
            for stage in WINDOW_STAGES:
                self.window_failures.labels(network=net, stage=stage)

    # ---------------------------------------------------------------- links
    def _admitted(self, network: str, links: Sequence[str]) -> np.ndarray:
        """``(E,)`` bool: links with gauges (first ``max_links`` seen); counts newly dropped ones."""
        seen = self._links.setdefault(network, {})
        ok = np.zeros(len(links), dtype=bool)
        for i, name in enumerate(links):  # E per window, small; dict membership only
            if name in seen:
                ok[i] = True
            elif len(seen) < self.max_links:
                seen[name] = None
                ok[i] = True
            else:
                dropped = self._dropped.setdefault(network, set())
                if name not in dropped:
                    dropped.add(name)
                    self.link_dropped.labels(network=network).inc()
        return ok

    def set_links(self, network: str, links: Sequence[str], kpi: str, *, observed: np.ndarray,
                  expected: np.ndarray, lower: np.ndarray, upper: np.ndarray, score: np.ndarray) -> None:
        """Set the per-link gauges of ``kpi`` for the ``(E,)`` arrays (NaN values leave a gauge at NaN)."""
        ok = self._admitted(network, links)
        for i in np.flatnonzero(ok).tolist():
            name = links[i]
            self.link_observed.labels(network, name, kpi).set(float(observed[i]))
            self.link_expected.labels(network, name, kpi).set(float(expected[i]))
            self.link_lower.labels(network, name, kpi).set(float(lower[i]))
            self.link_upper.labels(network, name, kpi).set(float(upper[i]))
            self.link_score.labels(network, name, kpi).set(float(score[i]))

    def set_link_config(self, network: str, links: Sequence[str], *, model_capacity_bps: np.ndarray,
                        capacity_bps: np.ndarray, model_metric: np.ndarray, metric: np.ndarray) -> None:
        """Set the per-link configuration gauges from ``(E,)`` arrays: capacities (bit/s, exported in bytes/s) and
        IGP metrics of the network model and of the twin's last window. Only links whose values changed since the
        last call are touched (the values change rarely; a window sets a few gauges, not 4 E)."""
        ok = self._admitted(network, links)
        cur = np.stack([np.asarray(model_capacity_bps, dtype=np.float64) / 8.0,
                        np.asarray(capacity_bps, dtype=np.float64) / 8.0,
                        np.asarray(model_metric, dtype=np.float64), np.asarray(metric, dtype=np.float64)])
        prev = self._config.get(network)
        if prev is None or prev.shape != cur.shape:
            changed = ok
        else:
            changed = ok & ~((prev == cur) | (np.isnan(prev) & np.isnan(cur))).all(axis=0)
        self._config[network] = cur
        for i in np.flatnonzero(changed).tolist():
            name = links[i]
            self.link_capacity.labels(network, name, "model").set(float(cur[0, i]))
            self.link_capacity.labels(network, name, "twin").set(float(cur[1, i]))
            self.link_igp_metric.labels(network, name, "model").set(float(cur[2, i]))
            self.link_igp_metric.labels(network, name, "twin").set(float(cur[3, i]))

    def set_paths_anomalous(self, network: str, links: Sequence[str], counts: np.ndarray) -> None:
        """Set ``twinwatch_link_paths_anomalous`` from the ``(E,)`` count of flagged paths per link."""
        ok = self._admitted(network, links)
        for i in np.flatnonzero(ok).tolist():
            self.link_paths.labels(network, links[i]).set(float(counts[i]))

    def alert_changed(self, network: str, kind: str, severity: str, firing: bool) -> None:
        """Account one alert transition (firing: +1 firing, +1 total; resolved: -1 firing)."""
        key = (network, kind, severity)
        n = self._firing.get(key, 0) + (1 if firing else -1)
        self._firing[key] = max(n, 0)
        self.alerts_firing.labels(*key).set(self._firing[key])
        if firing:
            self.alerts.labels(*key).inc()

    def exposition(self) -> bytes:
        """The text exposition of the registry."""
        return generate_latest(self.registry)


class MetricsServer:
    """``/metrics``, ``/healthz`` (process alive) and ``/readyz`` (``ready()`` true) on ``host:port``, in a thread.

    ``port`` 0 picks a free port (see :attr:`port` after :meth:`start`).
    """

    def __init__(self, metrics: ServiceMetrics, host: str = "127.0.0.1", port: int = 9464,
                 ready: Callable[[], bool] = lambda: True) -> None:
        self.metrics = metrics
        self.host = host
        self._port = port
        self.ready = ready
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        """The bound port."""
        return self._server.server_address[1] if self._server else self._port

    def start(self) -> MetricsServer:
        """Bind and serve in a daemon thread (OSError when the address is taken)."""
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                path = self.path.split("?", 1)[0]
                if path == "/metrics":
                    self._send(200, outer.metrics.exposition(), CONTENT_TYPE_LATEST)
                elif path == "/healthz":
                    self._send(200, b"ok\n")
                elif path == "/readyz":
                    ok = bool(outer.ready())
                    self._send(200 if ok else 503, b"ready\n" if ok else b"not ready\n")
                else:
                    self._send(404, b"not found: try /metrics, /healthz or /readyz\n")

            def _send(self, code: int, body: bytes, ctype: str = "text/plain; charset=utf-8") -> None:
                try:
                    self.send_response(code)
                    self.send_header("Content-Type", ctype)
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                except (BrokenPipeError, ConnectionResetError):
                    # the scraper gave up (its scrape timeout): nothing left to answer, and not an error
                    return

            def log_message(self, format: str, *args: object) -> None:
                return

        self._server = ThreadingHTTPServer((self.host, self._port), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name="twinwatch-metrics", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and close the socket."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
