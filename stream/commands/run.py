"""``twinwatch run``: the always-on service (faust worker) from a configuration file."""

from __future__ import annotations

import logging
import os
import signal
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

import click

from twinwatch.stream.commands._options import EXIT_STATUS_HELP, SERVICE_FAILED_HELP, ExitCode, FiniteFloatRange

if TYPE_CHECKING:
    from twinwatch.stream.app import Service
    from twinwatch.stream.config import KafkaConfig

__all__ = ["run"]

log = logging.getLogger("twinwatch.stream.run")


@click.command(
    "run",
    epilog="""\b
ENVIRONMENT
  TWINWATCH_<SECTION>__<KEY>=value overrides a key of the file, e.g.
  TWINWATCH_KAFKA__BOOTSTRAP=broker:9092, TWINWATCH_WINDOW__SECONDS=30,
  TWINWATCH_NETWORKS=abilene,/etc/twinwatch/core.yaml.

\b
EXAMPLES
  twinwatch run --config /etc/twinwatch/twinwatch.yaml
  TWINWATCH_KAFKA__BOOTSTRAP=127.0.0.1:9092 twinwatch run --config twinwatch.yaml --duration 60
  twinwatch run --config twinwatch.yaml --check      # validate the configuration and exit

"""
    + EXIT_STATUS_HELP + SERVICE_FAILED_HELP,
)
@click.option("--config", "config_path", type=click.Path(dir_okay=False, path_type=Path), envvar="TWINWATCH_CONFIG",
              help="Service configuration (YAML; see stream/data/twinwatch.example.yaml). Default: built-in "
                   "defaults plus TWINWATCH_* variables.")
@click.option("--duration", type=FiniteFloatRange(min=0, min_open=True), default=None,
              help="Stop cleanly after this many seconds (tests, demos). Default: run until SIGTERM/SIGINT.")
@click.option("--check", is_flag=True, help="Validate the configuration, load the network models and the twin, exit.")
def run(config_path: Path | None, duration: float | None, check: bool) -> None:
    """Run the streaming service: Kafka raw topics in; alerts, expected KPIs, dead letters and metrics out.

    The worker joins the consumer group kafka.consumer_group on the raw topics
    of topics.formats, decodes and windows the telemetry, runs the twin and
    the detectors on every closed window, and publishes to topics.alerts,
    topics.expected and topics.dlq (and the JSONL file and Alertmanager of
    sinks). Prometheus metrics, /healthz and /readyz are served on
    metrics.bind. Every batch's outputs are acknowledged by the broker before
    the next batch; at most every state.interval_s seconds (0: after every
    batch) the worker's state (counter state, calibrators, open alerts, the
    unfinished windows' rows, flow records and the input offsets they
    reflect) goes to topics.state, and offsets are committed only from such
    a checkpoint once the broker has acknowledged it (at-least-once: a killed
    worker's successor re-reads the input after the last checkpoint; alerts
    are idempotent by id). A worker that is
    restarted, or gets partitions in a rebalance, restores the latest state
    before it processes a message. Raw messages must be keyed (by network or
    device) so that one partition keeps each counter's samples in order.
    SIGTERM or SIGINT stops the worker cleanly; open windows stay in the
    state for the next start.

    At start the worker waits for the broker: it tries a client connection
    (TCP, TLS and SASL as configured, the cluster's metadata) with backoff
    from 0.5 s to 15 s, logs each failure with its cause and the key to
    check (connection refused, a certificate not trusted, a refused login),
    counts it in twinwatch_kafka_errors_total{operation="connect"} and
    answers /readyz with 503 meanwhile. After kafka.startup_timeout_s
    (default 300 s; 0 waits without end) it exits with status 4, as it does
    when the worker stops on any other error, so that a supervisor
    (systemd's Restart=on-failure, Kubernetes) sees the failure.

    A window whose snapshot, twin inference or detector raises is skipped
    and the worker goes on: the error is logged with the window and its
    traceback, and counted in twinwatch_window_failures_total{network,stage}
    (the TwinwatchWindowsFailing rule alerts on it). Its messages count as
    processed, so a window that always fails does not stop the service.

    Windows close on event time, as far as the devices on every raw
    partition agree they have got. A device whose clock runs more than a
    window ahead of the other devices on its partition is held back: it
    does not close their windows (which would make their rows late), the
    log names it, twinwatch_device_clocks_ahead counts it (the
    TwinwatchDeviceClockAhead rule alerts on it), and, where at least two
    other devices agree, its samples are re-stamped by its lead to their
    time (right to about a sampling period; its counters start again when
    the offset changes). Several devices ahead together (one wrong NTP
    server) by more than about four windows are held and re-stamped the
    same way while more devices agree behind them and move on; if those
    stop instead, the ones ahead are what still reports, and close the
    windows about four windows late. Beyond window.max_clock_ahead_s of the worker's
    own clock its samples are refused (dead letters ts_future). When NTP
    sets a clock back (by any step: a counter whose value went on while
    its time went back shows it), each of its counters starts again from
    the next sample (rejection reason clock_step) instead of dropping
    samples until the clock catches up. A device that sends samples older than the windows
    already closed (its clock runs behind, or its telemetry is held up) is
    named in the log and counted in twinwatch_late_devices (rule
    TwinwatchDevicesLate): their rows are late, counted in
    twinwatch_late_rows_total and not used. A device whose clock runs more
    than two windows behind the others by a steady lag (telemetry held up
    stops, then catches up) is named after six windows and counted in
    twinwatch_device_clocks_behind (rule TwinwatchDeviceClockBehind), and,
    where at least two other devices agree, its samples are re-stamped
    forward by the lag, to a whole window, so its rows are used again.

    After an edit of a network-model file (a link added or removed, a device
    retired, a probe planned), restart the worker with the new file: the
    state is carried over by name, so every link, device and probe that is
    in both models keeps its calibration and history, new ones start fresh,
    removed ones' state is dropped and their open alerts resolve at the next
    window. The log says how many were kept, new and dropped.
    """
    from twinwatch.stream.config import ConfigError, load_config

    try:
        cfg = load_config(config_path)
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from None
    except UnicodeDecodeError as exc:
        bad = exc.object[exc.start : exc.start + 1]
        raise click.ClickException(f"{config_path}: not UTF-8 text (byte {exc.start}: {bad!r}); "
                                   "save the configuration as UTF-8 YAML") from None
    from twinwatch.stream.logs import configure_logging

    configure_logging(level=cfg.logging.level.upper(), fmt=cfg.logging.format)
    import faust
    import torch

    from twinwatch.stream.app import build_service

    torch.set_num_threads(cfg.twin.threads)
    from twinwatch.twin.models.loading import ModelLoadError

    try:
        service = build_service(cfg)
    except (ValueError, OSError, ModelLoadError) as exc:  # ModelLoadError: fuzzed config, seed 1, k = 52,000
        raise click.ClickException(f"{cfg.source}: {exc}") from None
    if check:
        click.echo(f"configuration {cfg.source} is valid: {len(service.models)} network(s), twin {cfg.twin.model}",
                   err=True)
        service.close()
        sys.exit(int(ExitCode.OK))
    try:
        service.start_metrics()
    except OSError as exc:
        raise click.ClickException(f"metrics.bind {cfg.metrics.bind}: cannot listen ({exc.strerror})") from None
    started = time.monotonic()
    if not _broker_reachable(cfg.kafka, service, duration):
        service.close()
        sys.exit(int(ExitCode.FAILED))
    if duration is not None:
        left = max(0.0, duration - (time.monotonic() - started))

        @service.app.task
        async def _stop_later() -> None:
            import asyncio

            await asyncio.sleep(left)
            os.kill(os.getpid(), signal.SIGTERM)

    worker = faust.Worker(service.app, loglevel=cfg.logging.level.upper(), quiet=True,
                          override_logging=False)
    status: int | str | None = 0
    try:
        worker.execute_from_commandline()
    except SystemExit as exc:
        status = exc.code
    finally:
        service.close()
    if status not in (0, None):
        log.error("the worker stopped on an error (exit status %s; the lines above say which)", status)
        sys.exit(int(ExitCode.FAILED))
    sys.exit(int(ExitCode.OK))


def _broker_reachable(kafka: KafkaConfig, service: Service, duration: float | None) -> bool:
    """Wait for the broker (:func:`~twinwatch.stream.broker_wait.wait_for_broker`); False, logged, if it never
    came within ``kafka.startup_timeout_s`` (or ``--duration``, when shorter). Each failed try counts in
    ``twinwatch_kafka_errors_total{operation="connect"}``."""
    import asyncio

    from twinwatch.stream.broker_wait import BrokerUnreachableError, wait_for_broker

    def count(_reason: str) -> None:
        service.metrics.kafka_errors.labels(operation="connect").inc()

    loop = asyncio.get_event_loop_policy().get_event_loop()  # the loop the faust worker will run on
    try:
        timeout_s = kafka.startup_timeout_s
        if duration is not None:
            timeout_s = duration if timeout_s == 0 else min(timeout_s, duration)
        loop.run_until_complete(wait_for_broker(kafka, timeout_s, on_failure=count))
    except BrokerUnreachableError as exc:
        log.error("%s; stopping (raise kafka.startup_timeout_s to wait longer, 0 to wait without end)", exc)
        return False
    return True
