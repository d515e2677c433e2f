"""``twinwatch simulate telemetry``: a network under test, with faults, observed as collectors observe it."""

from __future__ import annotations

import logging
import re
import time
from pathlib import Path
from typing import Any

import click

from twinwatch.stream.commands._options import (
    EXIT_STATUS_HELP,
    KAFKA_CONFIG_HELP,
    ExitCode,
    FiniteFloatRange,
    kafka_from_config,
    progress_option,
)

__all__ = ["parse_duration", "telemetry"]

log = logging.getLogger(__name__)

_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "min": 60.0, "h": 3600.0, "d": 86400.0, "w": 604800.0}
MAX_DURATION_S = 366 * 86400.0  #: longest run (a typo such as 99999999999d used to hang before writing anything)
MAX_WINDOWS = 10**7  #: most windows per run (--duration / --window)


def parse_duration(text: str) -> float:
    """``"24h"``, ``"10s"``, ``"1d"``, ``"90"`` (seconds) → seconds.

    >>> parse_duration("24h"), parse_duration("10s"), parse_duration("1.5m"), parse_duration("90")
    (86400.0, 10.0, 90.0, 90.0)
    """
    m = re.fullmatch(r"\s*([0-9]*\.?[0-9]+)\s*(ms|s|min|m|h|d|w)?\s*", text)
    if not m:
        raise ValueError(f"{text!r} is not a duration (examples: 90, 10s, 30m, 24h, 7d)")
    value = float(m.group(1)) * _UNITS[m.group(2) or "s"]
    if not value > 0:
        raise ValueError(f"{text!r}: a duration must be > 0")
    return value


class _Duration(click.ParamType):
    name = "DURATION"

    def convert(self, value: object, param: click.Parameter | None, ctx: click.Context | None) -> float:
        if isinstance(value, float):
            return value
        try:
            return parse_duration(str(value))
        except ValueError as exc:
            self.fail(str(exc), param, ctx)


_HELP = f"""Run a network under test and write the telemetry its collectors would emit.

\b
The packet-level simulator plays NETWORK (a network-model file, or the name of
a shipped one: abilene, geant, nsfnet, cogentco) window by window: gravity
traffic with the diurnal and weekly shape fitted on the real Abilene matrices,
per-pair noise, ToS classes; faults injected at known times and places change
the true network (capacity, link state, IGP metric, buffers, silent loss,
flow export, traffic surges) while the model file keeps the old values.
Benign events (counter clears, reboots, telemetry gaps, late batches) touch
only the telemetry; each day's peak hour is labelled benign too.

\b
Written to --out DIR:
  topics/twinwatch.raw.gnmic.jsonl     gnmic events, OpenConfig counters
  topics/twinwatch.raw.influx.jsonl    Telegraf IF-MIB lines (32-bit counters)
  topics/twinwatch.raw.goflow2.jsonl   goflow2 records, 1:N sampled
  topics/twinwatch.raw.probe.jsonl     active-probe results
  network.yaml      the network as the operator's model file has it
  labels.jsonl      one ground-truth label per fault or benign event
  malformed.jsonl   the lines corrupted on purpose (dead-letter tests)
  truth/paths.parquet, truth/links.parquet   per-window ground truth
  manifest.json     configuration, counts, seed

Faults: --fault-plan FILE, or --faults N drawn at random (seeded), or, for a
shipped network, its shipped plan (twin/data/networks/NAME.faults.jsonl:
every fault kind and benign events over 24 h; 6 h for cogentco), cut to
--duration. Same seed, same bytes. With --kafka the messages are also produced onto the
raw topics of a Kafka broker, at --speed times real time.

\b
Examples:
  twinwatch simulate telemetry --network abilene --duration 24h --faults 14 --out run1
  twinwatch simulate telemetry --network geant --duration 6h --fault-plan plan.jsonl --out run2
  twinwatch simulate telemetry --network abilene --duration 1h --kafka 127.0.0.1:9092 --speed 60 --out run3

{EXIT_STATUS_HELP}"""


@click.command("telemetry", help=_HELP, context_settings={"max_content_width": 100})
@click.option("--network", "network", required=True, metavar="FILE|NAME",
              help="Network-model file (YAML), or a shipped network's name.")
@click.option("--duration", type=_Duration(), default="1h", show_default=True, help="Length of the run.")
@click.option("--window", type=_Duration(), default="10s", show_default=True,
              help="Window (and counter sample) length.")
@click.option("--faults", type=click.IntRange(min=0), default=None,
              help="Number of network faults, cycling through every kind (benign events are added between them). "
                   "Default: a shipped network's own fault plan, else 7.")
@click.option("--fault-plan", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None,
              help="A fault plan (JSON lines of faults) instead of --faults.")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of every random draw.")
@click.option("--load", type=FiniteFloatRange(0.01, 1.5), default=0.45, show_default=True,
              help="Busiest link's utilisation at the weekly mean traffic (the diurnal peak is ~1.4x).")
@click.option("--malformed-fraction", type=FiniteFloatRange(0.0, 0.5, max_open=True), default=0.001,
              show_default=True, help="Fraction of messages corrupted on purpose (listed in malformed.jsonl).")
@click.option("--packets", "packets", type=click.IntRange(min=1000), default=20_000, show_default=True,
              help="Packets simulated per window (the precision of the ground truth).")
@click.option("--flow-sampling", "flow_sampling", type=click.IntRange(min=1), default=1000, show_default=True,
              metavar="N", help="The goflow2 records sample 1 packet in N (1: every packet), or more sparsely "
                                "(1, 2, 5 x 10^k) where an export would exceed 20,000 records; routers commonly "
                                "sample 1 in 1,000 to 1 in 16,384.")
@click.option("--report-speed", "report_speed", is_flag=True, default=False,
              help="The counter messages also carry each port's speed as the device reports it (gnmic: OpenConfig "
                   "lag-speed; Telegraf: ifHighSpeed / lag_speed), so a capacity degradation (a LAG member lost) "
                   "shows in the telemetry itself. Off (the default), it shows only in what it does to traffic.")
@click.option("--report-igp-metric", "report_igp_metric", is_flag=True, default=False,
              help="The gnmic routers also report their interfaces' IS-IS metric (OpenConfig "
                   ".../isis/interfaces/interface/levels/level/af/state/metric, level 2, IPv4 unicast) on change and "
                   "every 60 s, so a metric change shows in the telemetry itself. Off (the default), it shows only "
                   "in the traffic it moves.")
@click.option("--workers", type=click.IntRange(min=1), default=1, show_default=True,
              help="Processes simulating windows in parallel.")
@click.option("--kafka", "bootstrap", default=None, metavar="HOST:PORT",
              help="Also produce the messages onto this Kafka broker's raw topics.")
@click.option("--config", "config_path", type=click.Path(dir_okay=False, path_type=Path), default=None,
              metavar="FILE", help=KAFKA_CONFIG_HELP.format(flag="--kafka"))
@click.option("--speed", type=FiniteFloatRange(min=0.0, min_open=True), default=None,
              help="With --kafka: produce at this many times real time (default: as fast as possible).")
@click.option("--out", "-o", "out", type=click.Path(file_okay=False, path_type=Path), required=True,
              help="Output folder (created; must be empty or absent).")
@progress_option
def telemetry(network: str, duration: float, window: float, faults: int | None, fault_plan: Path | None, seed: int,
              load: float, malformed_fraction: float, packets: int, flow_sampling: int, report_speed: bool,
              report_igp_metric: bool, workers: int,
              bootstrap: str | None, config_path: Path | None, speed: float | None, out: Path,
              progress: bool) -> None:
    from twinwatch.twin.netmodel import NetworkModelError, load_network
    from twinwatch.twin.testbed.faults import FaultPlanError, load_plan, random_plan, shipped_plan
    from twinwatch.twin.testbed.run import TestbedConfig, run_testbed

    kafka = None if config_path is None else kafka_from_config(config_path, bootstrap)
    bootstrap = kafka.bootstrap if kafka is not None else bootstrap
    if speed is not None and bootstrap is None:
        raise click.UsageError("--speed paces Kafka production; give --kafka HOST:PORT (or --config) too")
    if duration > MAX_DURATION_S or duration / window > MAX_WINDOWS:
        raise click.BadParameter(f"{duration:g} s in {window:g} s windows; a run is at most "
                                 f"{MAX_DURATION_S / 86400:.0f} days and {MAX_WINDOWS:,} windows",
                                 param_hint="--duration")
    if out.exists() and any(out.iterdir()):
        raise click.UsageError(f"--out {out}: the folder is not empty; choose a new one")
    try:
        model = load_network(network)
    except (NetworkModelError, FileNotFoundError, ValueError) as exc:
        click.echo(f"twinwatch: {exc}", err=True)
        raise SystemExit(ExitCode.INVALID_INPUT) from None
    try:
        cfg = TestbedConfig(duration_s=duration, window_s=window, seed=seed, load=load,
                            malformed_fraction=malformed_fraction, packets_per_window=packets, workers=workers,
                            flow_sampling_rate=flow_sampling, report_speed=report_speed,
                            report_igp_metric=report_igp_metric)
        if fault_plan is not None and faults is not None:
            raise click.UsageError("give --faults N or --fault-plan FILE, not both")
        shipped = shipped_plan(network) if fault_plan is None and faults is None else None
        if fault_plan is not None or shipped is not None:
            plan = [f for f in load_plan(fault_plan or shipped, model.link_ids, model.node_names)
                    if f.start_s < duration]
        else:
            plan = random_plan(model.link_ids, model.node_names, duration_s=duration, window_s=window,
                               n_faults=7 if faults is None else faults, seed=seed)
    except (FaultPlanError, ValueError) as exc:
        click.echo(f"twinwatch: {exc}", err=True)
        raise SystemExit(ExitCode.INVALID_INPUT) from None

    client = kafka.aiokafka_kwargs() if kafka is not None else {"bootstrap_servers": bootstrap}
    producer = _KafkaProducer(client, model.name) if bootstrap else None
    start = time.monotonic()

    def paced(done: int, total: int) -> None:
        if producer is not None:
            producer.flush()
            if speed:
                ahead = start + done * window / speed - time.monotonic()
                if ahead > 0:
                    time.sleep(ahead)

    try:
        if progress:
            from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

            with Progress(TextColumn("simulating {task.description}"), BarColumn(),
                          TextColumn("{task.completed}/{task.total} windows"), TimeRemainingColumn(),
                          transient=True) as bar:
                task = bar.add_task(model.name, total=cfg.n_windows)

                def tick(done: int, total: int) -> None:
                    paced(done, total)
                    bar.update(task, completed=done)

                summary = run_testbed(model, plan, out, cfg, progress=tick,
                                      produce=producer.send if producer else None)
        else:
            summary = run_testbed(model, plan, out, cfg, progress=paced, produce=producer.send if producer else None)
    finally:
        if producer is not None:
            producer.close()
    lines = sum(summary.messages.values())
    click.echo(f"{model.name}: {summary.windows} windows, {lines} messages "
               f"({sum(summary.malformed.values())} malformed on purpose), {summary.faults} faults, "
               f"{summary.benign} benign events -> {out}")


class _KafkaProducer:
    """Produces each message onto its topic, keyed by network (aiokafka in a private event loop)."""

    def __init__(self, client: dict[str, Any], network: str) -> None:
        """``client``: aiokafka client arguments (``bootstrap_servers`` and the security settings,
        :meth:`~twinwatch.stream.config.KafkaConfig.aiokafka_kwargs`)."""
        import asyncio

        from aiokafka import AIOKafkaProducer

        self._loop = asyncio.new_event_loop()
        self._key = network.encode()
        bootstrap = client["bootstrap_servers"]

        async def start() -> AIOKafkaProducer:
            producer = AIOKafkaProducer(**client, linger_ms=5, acks="all")
            try:
                await producer.start()
            except BaseException:
                await producer.stop()  # release its connections: nothing left unclosed behind the error
                raise
            return producer

        try:
            self._producer = self._loop.run_until_complete(start())
        except Exception as exc:  # any client error becomes one clear message
            self._loop.close()
            raise click.ClickException(f"cannot reach Kafka at {bootstrap}: {exc}") from None
        self._pending: list = []

    def send(self, topic: str, messages: list[bytes]) -> None:
        async def enqueue() -> list:
            return [await self._producer.send(topic, m, key=self._key) for m in messages]

        self._pending += self._loop.run_until_complete(enqueue())

    def flush(self) -> None:
        """Wait until every message sent so far is acknowledged by the broker."""
        if self._pending:
            import asyncio

            async def wait(futures: list) -> None:
                await asyncio.gather(*futures)

            self._loop.run_until_complete(wait(self._pending))
            self._pending.clear()

    def close(self) -> None:
        try:
            self.flush()
            self._loop.run_until_complete(self._producer.stop())
        finally:
            self._loop.close()
