"""Service configuration: one YAML file plus ``TWINWATCH_*`` environment overrides, validated at start.

The file (see ``stream/data/twinwatch.example.yaml``) has the sections
``kafka``, ``topics``, ``networks``, ``window``, ``detection``, ``twin``,
``sinks``, ``metrics``, ``logging`` and ``state``. Every key has a default, so an empty
file is a valid configuration (a local broker, no network models: the
detectors' twin-less series mode).

Environment overrides name a key by its path, sections joined by ``__``:
``TWINWATCH_KAFKA__BOOTSTRAP=broker:9092``, ``TWINWATCH_WINDOW__SECONDS=30``,
``TWINWATCH_NETWORKS=abilene,/etc/twinwatch/core.yaml`` (comma-separated
list), ``TWINWATCH_TOPICS__RAW__GNMIC=telemetry.gnmic``. Values are parsed as
YAML scalars (``true``, ``10``, ``0.5``). Only variables whose first path
element is a section are read, so ``TWINWATCH_LOG_LEVEL`` and
``TWINWATCH_CONFIG`` (used by the CLI) are left alone.

Every error names the key (``kafka.security_protocol``), the value and the
rule, and, for a file, the file.

Examples
--------
>>> cfg = load_config(None, env={"TWINWATCH_KAFKA__BOOTSTRAP": "k1:9092,k2:9092", "TWINWATCH_WINDOW__SECONDS": "30"})
>>> cfg.kafka.bootstrap, cfg.window.seconds, cfg.topics.raw_topic("gnmic"), cfg.metrics.bind
('k1:9092,k2:9092', 30.0, 'twinwatch.raw.gnmic', '127.0.0.1:9464')
>>> load_config(None, env={"TWINWATCH_KAFKA__SECURITY_PROTOCOL": "TLS"})
Traceback (most recent call last):
...
twinwatch.stream.config.ConfigError: kafka.security_protocol: 'TLS' is not one of PLAINTEXT, SSL, SASL_PLAINTEXT, \
SASL_SSL \
(from environment TWINWATCH_KAFKA__SECURITY_PROTOCOL)
"""

from __future__ import annotations

import dataclasses
import functools
import math
import os
import re
import ssl
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, get_type_hints

import yaml

from twinwatch.twin.doc_limits import short_repr, too_many_values

__all__ = [
    "FORMATS",
    "ConfigError",
    "DetectionConfig",
    "KafkaConfig",
    "LoggingConfig",
    "MetricsConfig",
    "ServiceConfig",
    "SinksConfig",
    "StateConfig",
    "TopicsConfig",
    "TwinConfig",
    "WindowConfig",
    "load_config",
]

FORMATS: tuple[str, ...] = ("gnmic", "gnmi", "telegraf", "influx", "cisco_mdt", "otlp", "goflow2", "probe")
"""Collector formats the service can consume (one raw topic each)."""

SECURITY_PROTOCOLS = ("PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL")
SASL_MECHANISMS = ("PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512")
ENV_PREFIX = "TWINWATCH_"
MAX_VALUES = 100_000
"""A configuration holding more values than this (after YAML alias expansion) is refused: no real file comes close."""
MAX_WINDOWS = 1_000_000
"""Upper bound of the window counts (``detection.resolve_after``, ``warmup_windows``): 115 days of 10 s windows."""
MAX_THREADS = 1024
MAX_LINKS = 1_000_000
_TOPIC_NAME = re.compile(r"[A-Za-z0-9._-]{1,249}")
"""Kafka's legal topic names (``kafka.common.internals.Topic``): ASCII letters, digits, ``._-``, 1-249 chars."""
class ConfigError(ValueError):
    """An invalid configuration; the message names the key, the value and the rule."""


def _secret(inline: str | None, path: str | None) -> str | None:
    """A password: the first line of the file at ``path`` (stripped; empty for an empty file) when set, else
    ``inline``."""
    if path:
        lines = Path(path).read_text(encoding="utf-8").splitlines()
        return lines[0].strip() if lines else ""
    return inline


@dataclass(frozen=True)
class KafkaConfig:
    """Broker connection. ``password_file`` (a file holding the password) wins over ``password``."""

    bootstrap: str = "127.0.0.1:9092"
    security_protocol: str = "PLAINTEXT"
    sasl_mechanism: str | None = None
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    password_file: str | None = None
    ssl_cafile: str | None = None
    ssl_certfile: str | None = None
    ssl_keyfile: str | None = None
    client_id: str = "twinwatch"
    consumer_group: str = "twinwatch"
    rebalance_timeout_s: float = 5.0
    """Consumer-group rebalance timeout (seconds); Tansu holds a join for all of it (ARCHITECTURE.md)."""
    session_timeout_s: float = 30.0
    """Consumer-group session timeout (seconds, 6–1800): a worker that stops heart-beating (killed, frozen) loses
    its partitions to the others after this long. faust's default is 60 s; heartbeats go every
    ``min(3, session_timeout_s / 3)`` seconds."""
    startup_timeout_s: float = 300.0
    """How long ``twinwatch run`` waits at start for the broker to accept a client (TCP, TLS, SASL), retrying
    with backoff and logging why it cannot (seconds, 0–86400; 0 waits without end). Past it the worker exits
    with status 4, so a supervisor sees the failure."""

    def resolved_password(self) -> str | None:
        """The password: the first line of ``password_file`` when set, else ``password``."""
        return _secret(self.password, self.password_file)

    def ssl_context(self) -> ssl.SSLContext | None:
        """The TLS context of ``SSL`` and ``SASL_SSL`` (the CA file, or the system's CAs, and the client
        certificate when set); ``None`` without TLS."""
        if not self.security_protocol.endswith("SSL"):
            return None
        from aiokafka.helpers import create_ssl_context

        return create_ssl_context(cafile=self.ssl_cafile, certfile=self.ssl_certfile, keyfile=self.ssl_keyfile)

    def aiokafka_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for aiokafka clients (broker, client id, security: SASL, TLS context)."""
        kw: dict[str, Any] = {"bootstrap_servers": self.bootstrap, "client_id": self.client_id,
                              "security_protocol": self.security_protocol}
        if self.security_protocol.startswith("SASL"):
            kw.update(sasl_mechanism=self.sasl_mechanism, sasl_plain_username=self.username,
                      sasl_plain_password=self.resolved_password() or "")
        ctx = self.ssl_context()
        if ctx is not None:
            kw["ssl_context"] = ctx
        return kw

    def faust_credentials(self) -> Any:
        """The same security for faust's clients (``faust.App(broker_credentials=...)``): ``None`` for
        ``PLAINTEXT``, else SASL or TLS credentials with :meth:`ssl_context`."""
        import faust

        ctx = self.ssl_context()
        if self.security_protocol.startswith("SASL"):
            return faust.SASLCredentials(username=self.username, password=self.resolved_password() or "",
                                         ssl_context=ctx, mechanism=self.sasl_mechanism or "PLAIN")
        return faust.SSLCredentials(ctx) if ctx is not None else None


@dataclass(frozen=True)
class TopicsConfig:
    """Topic names. ``raw`` maps a format to its topic (default ``twinwatch.raw.<format>``)."""

    raw: dict[str, str] = field(default_factory=dict)
    formats: tuple[str, ...] = ("gnmic", "influx", "probe", "goflow2")
    """Formats consumed (a raw topic each)."""
    alerts: str = "twinwatch.alerts"
    expected: str = "twinwatch.expected"
    dlq: str = "twinwatch.dlq"
    state: str = "twinwatch.state"
    """The service's state changelog (counters, calibrators, open alerts, open windows; see stream/state.py)."""

    def raw_topic(self, fmt: str) -> str:
        """The raw topic of collector format ``fmt``."""
        return self.raw.get(fmt, f"twinwatch.raw.{fmt}")


@dataclass(frozen=True)
class WindowConfig:
    """Event-time tumbling windows: ``seconds`` long; rows up to ``allowed_lateness_s`` late still count.

    ``max_clock_ahead_s``: samples timestamped more than this ahead of the worker's clock are refused (dead
    letter ``ts_future``; ``None``: no limit). Within the limit, a device whose clock runs ahead of the other
    devices on its partition by more than a window is held back: it does not move the watermark (which would
    make every other device's rows late), the worker logs it and counts it in ``twinwatch_device_clocks_ahead``,
    and, where at least two other devices agree, its samples are re-stamped by its lead to their time (right
    to about a sampling period) until its clock is set right; several devices ahead together (one wrong NTP
    server), fewer than the devices agreeing behind them, likewise. Once the other devices have all stopped, it
    moves the watermark trailed by the limit (300 s with no limit), since it may be the only one still
    reporting. A device that sends samples older than the windows already closed (clock behind, or telemetry
    held up) is logged and counted in ``twinwatch_late_devices``; one whose clock runs more than two windows
    behind the others by a steady lag (held-up telemetry stops and then catches up) is named after six windows,
    counted in ``twinwatch_device_clocks_behind``, and its samples are re-stamped forward by the lag (to a whole
    window) where the others agree, so that its rows are used.
    """

    seconds: float = 10.0
    allowed_lateness_s: float = 5.0
    max_clock_ahead_s: float | None = 300.0


@dataclass(frozen=True)
class DetectionConfig:
    """Network-wide test level ``alpha`` (Benjamini–Hochberg) and k-of-m persistence, r clean windows to resolve."""

    alpha: float = 0.01
    method: str = "bh"
    persistence_k: int = 2
    persistence_m: int = 3
    resolve_after: int = 2
    warmup_windows: int = 6
    delay_resolution_s: float = 1e-6  # probes' delay resolution: queueing below it is not tested (seconds)
    propagation_resolution: float = 5e-4  # nor below this share of a path's propagation delay
    tm_range: bool = False  # flow-measured windows: a second inference at the traffic's upper estimate widens the range
    flow_matrix: str = "fitted"  # flow-measured windows: the twin's matrix, "fitted" to the counters or the "records'"
    matrix_classes: str = "best-effort"  # counter-fitted matrices: one class, or "records" (as the flow records split)


@dataclass(frozen=True)
class TwinConfig:
    """The twin's KPI model (``gnn``, ``qt``, ...), an optional checkpoint file, and the threads of its inference
    (torch's and, while windows close, BLAS' and numba's: :mod:`twinwatch.twin.threads`)."""

    model: str = "gnn"
    checkpoint: str | None = None
    threads: int = 1


@dataclass(frozen=True)
class SinksConfig:
    """Outputs besides Kafka: an alerts JSONL file and an Alertmanager base URL (``http://am:9093``).

    An Alertmanager served over TLS (its ``--web.config.file``) is trusted through ``alertmanager_cafile``
    (default: the system's CAs) and may want a client certificate (``alertmanager_certfile`` and
    ``alertmanager_keyfile``); one behind basic authentication gets ``alertmanager_username`` with
    ``alertmanager_password_file`` (its first line) or ``alertmanager_password``.
    """

    jsonl: str | None = None
    alertmanager_url: str | None = None
    alertmanager_timeout_s: float = 5.0
    alertmanager_retries: int = 5
    alertmanager_cafile: str | None = None
    alertmanager_certfile: str | None = None
    alertmanager_keyfile: str | None = None
    alertmanager_username: str | None = None
    alertmanager_password: str | None = field(default=None, repr=False)
    alertmanager_password_file: str | None = None
    generator_url: str = ""

    def alertmanager_auth(self) -> tuple[str, str] | None:
        """``(username, password)`` for basic authentication (the file's first line wins), or ``None``."""
        if self.alertmanager_username is None:
            return None
        return self.alertmanager_username, _secret(self.alertmanager_password, self.alertmanager_password_file) or ""

    def alertmanager_ssl_context(self) -> ssl.SSLContext | None:
        """The TLS context of an ``https://`` Alertmanager with a CA file or a client certificate, else ``None``
        (urllib's default: the system's CAs)."""
        if not (self.alertmanager_cafile or self.alertmanager_certfile):
            return None
        ctx = ssl.create_default_context(cafile=self.alertmanager_cafile)
        if self.alertmanager_certfile:
            ctx.load_cert_chain(self.alertmanager_certfile, self.alertmanager_keyfile)
        return ctx


@dataclass(frozen=True)
class MetricsConfig:
    """Prometheus endpoint ``host:port`` (explicit, loopback by default) and the per-network link-series cap."""

    bind: str = "127.0.0.1:9464"
    enabled: bool = True
    max_links: int = 500

    @property
    def host_port(self) -> tuple[str, int]:
        """``bind`` split into host and port."""
        host, _, port = self.bind.rpartition(":")
        return host.strip("[]"), int(port)


@dataclass(frozen=True)
class LoggingConfig:
    """Log format ``text`` or ``json`` and level."""

    format: str = "text"
    level: str = "INFO"


@dataclass(frozen=True)
class StateConfig:
    """Checkpoints of the worker's state (see :mod:`twinwatch.stream.app`).

    ``interval_s``: a checkpoint (state record + offset commit) at most every this many seconds; ``0`` after
    every batch. A worker killed between two checkpoints loses nothing (the next owner re-reads the input
    after the last one) but re-does up to ``interval_s`` of work.
    """

    interval_s: float = 5.0


@dataclass(frozen=True)
class ServiceConfig:
    """The whole service configuration (see the module docstring)."""

    kafka: KafkaConfig = field(default_factory=KafkaConfig)
    topics: TopicsConfig = field(default_factory=TopicsConfig)
    networks: tuple[str, ...] = ()
    """Network-model files or shipped network names."""
    window: WindowConfig = field(default_factory=WindowConfig)
    detection: DetectionConfig = field(default_factory=DetectionConfig)
    twin: TwinConfig = field(default_factory=TwinConfig)
    sinks: SinksConfig = field(default_factory=SinksConfig)
    metrics: MetricsConfig = field(default_factory=MetricsConfig)
    logging: LoggingConfig = field(default_factory=LoggingConfig)
    state: StateConfig = field(default_factory=StateConfig)
    source: str = "<defaults>"
    """Where the configuration came from (the file, or defaults)."""


# ----------------------------------------------------------------------------- parsing
def _type_name(tp: Any) -> str:
    return getattr(tp, "__name__", str(tp))


def _coerce(value: Any, tp: Any, key: str) -> Any:
    """``value`` as the annotated type ``tp`` (str, int, float, bool, optional, tuple/dict of str)."""
    text = str(tp)
    optional = "None" in text
    if value is None:
        if optional:
            return None
        if text.startswith("tuple"):
            return ()
        if text.startswith("dict"):
            return {}
        raise ConfigError(f"{key}: a value is required (got null)")
    if text.startswith("tuple"):
        if isinstance(value, str):
            value = [v.strip() for v in value.split(",") if v.strip()]
        if not isinstance(value, list | tuple) or not all(isinstance(v, str | int | float) for v in value):
            raise ConfigError(f"{key}: expected a list of strings, got {short_repr(value)}")
        return tuple(str(v) for v in value)
    if text.startswith("dict"):
        if not isinstance(value, Mapping) or not all(isinstance(v, str) for v in value.values()):
            raise ConfigError(f"{key}: expected a mapping of strings, got {short_repr(value)}")
        return {str(k): str(v) for k, v in value.items()}
    if "bool" in text:
        if isinstance(value, bool):
            return value
        raise ConfigError(f"{key}: expected true or false, got {short_repr(value)}")
    if "float" in text:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ConfigError(f"{key}: expected a number, got {short_repr(value)}")
        return float(value)
    if "int" in text:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{key}: expected an integer, got {short_repr(value)}")
        return int(value)
    if isinstance(value, str):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    raise ConfigError(f"{key}: expected a string, got {short_repr(value)}")


@functools.cache
def _type_hints(cls: type) -> dict[str, Any]:
    """The resolved annotations of a config dataclass (resolved once: ``get_type_hints`` compiles them)."""
    return get_type_hints(cls)


def _build(cls: type, data: Any, prefix: str) -> Any:
    if data is None:
        data = {}
    if not isinstance(data, Mapping):
        raise ConfigError(f"{prefix or 'config'}: expected a mapping, got {type(data).__name__} {short_repr(data)}")
    hints = _type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls) if f.init and f.name != "source"}
    unknown = sorted(set(map(str, data)) - names)
    if unknown:
        where = f"{prefix}." if prefix else ""
        of = f" of {prefix}" if prefix else ""
        raise ConfigError(f"{where}{short_repr(unknown[0])[1:-1]}: unknown key "
                          f"(known keys{of}: {', '.join(sorted(names))})")
    kwargs: dict[str, Any] = {}
    for name in names & set(data):
        key = f"{prefix}.{name}" if prefix else name
        tp = hints[name]
        if dataclasses.is_dataclass(tp):
            kwargs[name] = _build(tp, data[name], key)
        else:
            kwargs[name] = _coerce(data[name], tp, key)
    return cls(**kwargs)


def _set_path(doc: dict[str, Any], path: list[str], value: Any) -> None:
    node = doc
    for part in path[:-1]:
        child = node.get(part)
        if not isinstance(child, dict):
            child = {}
            node[part] = child
        node = child
    node[path[-1]] = value


def _env_overrides(env: Mapping[str, str]) -> dict[str, tuple[list[str], Any, str]]:
    sections = {f.name for f in dataclasses.fields(ServiceConfig) if f.name != "source"}
    out: dict[str, tuple[list[str], Any, str]] = {}
    for var, text in sorted(env.items()):
        if not var.startswith(ENV_PREFIX):
            continue
        path = [p.lower() for p in var[len(ENV_PREFIX):].split("__")]
        if path[0] not in sections:
            continue
        if path[:2] == ["topics", "raw"] and len(path) == 3:
            value: Any = text
        else:
            try:
                value = yaml.safe_load(text) if text.strip() else None
            except yaml.YAMLError:
                value = text
        out[".".join(path)] = (path, value, var)
    return out


def _path_is(path: str, *, file: bool = False) -> bool:
    """Whether ``path`` exists (is a file when ``file``); ``False`` for a name the OS refuses to look up.

    ``Path.exists`` raises ``OSError`` for a name longer than the OS allows (ENAMETOOLONG: the fuzzer's seed 1,
    k = 127,505, a 300-character ``networks`` entry).

    >>> _path_is("a" * 5000), _path_is("/"), _path_is("/", file=True)
    (False, True, False)
    """
    try:
        p = Path(path)
        return p.is_file() if file else p.exists()
    except (OSError, ValueError):
        return False


def _host_port_ok(hp: str) -> bool:
    """Whether ``hp`` is ``host:port`` with a port 1..65535 in ASCII digits (``[::1]:9092`` included).

    >>> _host_port_ok("k1:9092"), _host_port_ok("[::1]:9464"), _host_port_ok("k1:0"), _host_port_ok("k1:\u00b2")
    (True, True, False, False)
    """
    host, sep, port = hp.strip().rpartition(":")
    return bool(sep and host and port.isascii() and port.isdigit() and len(port) <= 5 and 1 <= int(port) <= 65535)


def _validate(cfg: ServiceConfig, origin: dict[str, str]) -> None:
    def fail(key: str, msg: str) -> None:
        src = origin.get(key)
        raise ConfigError(f"{key}: {msg}" + (f" (from {src})" if src else ""))

    def files(section: str, obj: Any, names: tuple[str, ...]) -> None:
        """Every file of ``names`` set is readable; the last two (a client certificate and its key) come
        together."""
        for name in names:
            path = getattr(obj, name)
            if path is not None and not _path_is(path, file=True):
                fail(f"{section}.{name}", f"{short_repr(path)} is not a readable file")
        cert, key = names[-2:]
        if (getattr(obj, cert) is None) != (getattr(obj, key) is None):
            fail(f"{section}.{key if getattr(obj, key) is None else cert}",
                 f"a client certificate needs both {cert} and {key}")

    k = cfg.kafka
    if not k.bootstrap.strip():
        fail("kafka.bootstrap", "empty; give host:port[,host:port...]")
    for hp in k.bootstrap.split(","):
        if not _host_port_ok(hp):
            fail("kafka.bootstrap", f"{short_repr(hp.strip())} is not host:port with a port 1..65535")
    if k.security_protocol not in SECURITY_PROTOCOLS:
        fail("kafka.security_protocol",
             f"{short_repr(k.security_protocol)} is not one of {', '.join(SECURITY_PROTOCOLS)}")
    if k.security_protocol.startswith("SASL"):
        if k.sasl_mechanism not in SASL_MECHANISMS:
            fail("kafka.sasl_mechanism", f"{short_repr(k.sasl_mechanism)} is not one of {', '.join(SASL_MECHANISMS)} "
                                         f"(required with {k.security_protocol})")
        if not k.username:
            fail("kafka.username", f"required with {k.security_protocol}")
        if not (k.password or k.password_file):
            fail("kafka.password", f"required with {k.security_protocol} (or kafka.password_file)")
    elif k.sasl_mechanism is not None and k.sasl_mechanism not in SASL_MECHANISMS:
        fail("kafka.sasl_mechanism", f"{short_repr(k.sasl_mechanism)} is not one of {', '.join(SASL_MECHANISMS)}")
    files("kafka", k, ("password_file", "ssl_cafile", "ssl_certfile", "ssl_keyfile"))
    if not k.consumer_group.strip():
        fail("kafka.consumer_group", "empty")
    if not 0 < k.rebalance_timeout_s <= 3600:
        fail("kafka.rebalance_timeout_s", f"{k.rebalance_timeout_s} must be > 0 and <= 3600 seconds")
    if not 6.0 <= k.session_timeout_s <= 1800.0:
        fail("kafka.session_timeout_s",
             f"{k.session_timeout_s} must be between 6 and 1800 seconds (Kafka's group limits)")
    if not 0.0 <= k.startup_timeout_s <= 86400.0:
        fail("kafka.startup_timeout_s", f"{k.startup_timeout_s} must be between 0 (wait without end) and 86400 seconds")
    t = cfg.topics
    for fmt in (*t.formats, *t.raw):
        if fmt not in FORMATS:
            fail(f"topics.raw.{fmt}" if fmt in t.raw else "topics.formats",
                 f"unknown collector format {short_repr(fmt)}; known: {', '.join(FORMATS)}")
    if not t.formats:
        fail("topics.formats", "empty: the service would consume nothing")
    if len(set(t.formats)) != len(t.formats):
        fail("topics.formats", f"{short_repr(t.formats)} lists a format twice (two consumers of one topic)")
    for key, name in [*((f"topics.{n}", getattr(t, n)) for n in ("alerts", "expected", "dlq", "state")),
                      *((f"topics.raw.{f}", v) for f, v in t.raw.items())]:
        if not _TOPIC_NAME.fullmatch(name) or name in (".", ".."):
            fail(key, f"{short_repr(name)} is not a Kafka topic name (1-249 of ASCII letters, digits, '.', '_', '-')")
    w = cfg.window
    if not (math.isfinite(w.seconds) and w.seconds > 0):
        fail("window.seconds", f"{w.seconds} must be a finite number of seconds > 0")
    if not (math.isfinite(w.allowed_lateness_s) and w.allowed_lateness_s >= 0):
        fail("window.allowed_lateness_s", f"{w.allowed_lateness_s} must be a finite number of seconds >= 0")
    if w.max_clock_ahead_s is not None and not (math.isfinite(w.max_clock_ahead_s) and w.max_clock_ahead_s > 0):
        fail("window.max_clock_ahead_s", f"{w.max_clock_ahead_s} must be a finite number of seconds > 0 (or null: "
                                         "no limit)")
    d = cfg.detection
    if not 0 < d.alpha < 1:
        fail("detection.alpha", f"{d.alpha} must be in (0, 1)")
    if d.method not in ("bh", "holm", "bonferroni"):
        fail("detection.method", f"{short_repr(d.method)} is not one of bh, holm, bonferroni")
    if not 1 <= d.persistence_k <= d.persistence_m <= 64:
        fail("detection.persistence_k", f"need 1 <= persistence_k ({d.persistence_k}) <= persistence_m "
                                        f"({d.persistence_m}) <= 64")
    if not 1 <= d.resolve_after <= MAX_WINDOWS:
        fail("detection.resolve_after", f"{d.resolve_after} must be between 1 and {MAX_WINDOWS} windows")
    if not 0 <= d.warmup_windows <= MAX_WINDOWS:
        fail("detection.warmup_windows", f"{d.warmup_windows} must be between 0 and {MAX_WINDOWS} windows")
    if not (math.isfinite(d.delay_resolution_s) and d.delay_resolution_s >= 0):
        fail("detection.delay_resolution_s", f"{d.delay_resolution_s} must be a finite number of seconds >= 0")
    if not 0.0 <= d.propagation_resolution < 1.0:
        fail("detection.propagation_resolution", f"{d.propagation_resolution} must be a share in [0, 1)")
    from twinwatch.twin.snapshot import FLOW_MATRICES, MATRIX_CLASSES

    if d.flow_matrix not in FLOW_MATRICES:
        fail("detection.flow_matrix", f"{short_repr(d.flow_matrix)} is not one of {', '.join(FLOW_MATRICES)}")
    if d.matrix_classes not in MATRIX_CLASSES:
        fail("detection.matrix_classes", f"{short_repr(d.matrix_classes)} is not one of {', '.join(MATRIX_CLASSES)}")
    from twinwatch.twin.models import CHECKPOINT_MODELS, MODELS

    if cfg.twin.model not in MODELS:
        fail("twin.model", f"{short_repr(cfg.twin.model)} is not one of {', '.join(sorted(MODELS))}")
    if cfg.twin.checkpoint is not None and cfg.twin.model not in CHECKPOINT_MODELS:
        fail("twin.checkpoint", f"model {short_repr(cfg.twin.model)} takes no checkpoint (only "
                                f"{' and '.join(CHECKPOINT_MODELS)} do); remove it or set twin.model")
    if cfg.twin.checkpoint is not None and not cfg.twin.checkpoint.strip():
        fail("twin.checkpoint", "empty; give a checkpoint path or null for the shipped one")
    if cfg.twin.checkpoint is not None and not _path_is(cfg.twin.checkpoint):
        fail("twin.checkpoint", f"{short_repr(cfg.twin.checkpoint)} does not exist")
    if not 1 <= cfg.twin.threads <= MAX_THREADS:
        fail("twin.threads", f"{cfg.twin.threads} must be between 1 and {MAX_THREADS}")
    s = cfg.sinks
    if s.alertmanager_url is not None and not s.alertmanager_url.startswith(("http://", "https://")):
        fail("sinks.alertmanager_url", f"{short_repr(s.alertmanager_url)} is not an http(s) URL")
    if not 0 <= s.alertmanager_retries <= 100:
        fail("sinks.alertmanager_retries", f"{s.alertmanager_retries} must be between 0 and 100")
    if not 0 < s.alertmanager_timeout_s <= 300:
        fail("sinks.alertmanager_timeout_s", f"{s.alertmanager_timeout_s} must be > 0 and <= 300 seconds")
    files("sinks", s, ("alertmanager_password_file", "alertmanager_cafile", "alertmanager_certfile",
                       "alertmanager_keyfile"))
    tls_keys = [k for k in ("alertmanager_cafile", "alertmanager_certfile") if getattr(s, k) is not None]
    if tls_keys and not (s.alertmanager_url or "").startswith("https://"):
        fail(f"sinks.{tls_keys[0]}", f"needs an https:// sinks.alertmanager_url (is {short_repr(s.alertmanager_url)})")
    if s.alertmanager_username is not None and not (s.alertmanager_password or s.alertmanager_password_file):
        fail("sinks.alertmanager_password", "required with sinks.alertmanager_username (or alertmanager_password_file)")
    if (s.alertmanager_password or s.alertmanager_password_file) and s.alertmanager_username is None:
        fail("sinks.alertmanager_username", "required with an Alertmanager password")
    m = cfg.metrics
    if not _host_port_ok(m.bind):
        fail("metrics.bind", f"{short_repr(m.bind)} is not host:port with a port 1..65535 (e.g. 127.0.0.1:9464; "
                             "0.0.0.0:9464 listens on all)")
    if not 0 <= m.max_links <= MAX_LINKS:
        fail("metrics.max_links", f"{m.max_links} must be between 0 and {MAX_LINKS}")
    if cfg.logging.format not in ("text", "json"):
        fail("logging.format", f"{short_repr(cfg.logging.format)} is not text or json")
    if cfg.logging.level.upper() not in ("DEBUG", "INFO", "WARNING", "ERROR"):
        fail("logging.level", f"{short_repr(cfg.logging.level)} is not DEBUG, INFO, WARNING or ERROR")
    if not 0.0 <= cfg.state.interval_s <= 300.0:
        fail("state.interval_s", f"{cfg.state.interval_s} must be between 0 (every batch) and 300 seconds")
    for i, net in enumerate(cfg.networks):
        if not net.strip():
            fail(f"networks[{i}]", "empty; give a network-model file or a shipped network name")
        if net in cfg.networks[:i]:
            fail(f"networks[{i}]", f"{short_repr(net)} is listed twice")
        if ("/" in net or net.endswith((".yaml", ".yml", ".json"))) and not _path_is(net, file=True):
            fail(f"networks[{i}]", f"network-model file {short_repr(net)} does not exist")


def load_config(path: str | os.PathLike[str] | None, *, env: Mapping[str, str] | None = None) -> ServiceConfig:
    """The validated configuration of ``path`` (``None``: defaults) with ``env`` overrides (default ``os.environ``).

    Raises
    ------
    ConfigError
        The file cannot be read or parsed, a key is unknown, a value has the wrong type or breaks a rule.
    """
    env = os.environ if env is None else env
    doc: dict[str, Any] = {}
    source = "<defaults>"
    if path is not None:
        source = str(path)
        try:
            text = Path(path).read_text(encoding="utf-8")
        except OSError as exc:
            raise ConfigError(f"{path}: cannot read the configuration file ({exc.strerror})") from None
        except UnicodeDecodeError as exc:
            raise ConfigError(f"{path}: not UTF-8 text (byte {exc.start}); save it as UTF-8 YAML") from None
        from twinwatch.twin.datasets.scenario_yaml import _StrictLoader  # C-accelerated, refuses duplicate keys

        try:
            loaded = yaml.load(text, Loader=_StrictLoader)  # a safe loader
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            problem = getattr(exc, "problem", None) or (str(exc).splitlines() or ["?"])[0]
            at = f"line {mark.line + 1}: " if mark is not None else ""
            raise ConfigError(f"{path}: {at}not valid YAML ({short_repr(problem)[1:-1]})") from None
        except RecursionError:
            raise ConfigError(f"{path}: nested too deeply to be a configuration") from None
        if too_many_values(loaded, MAX_VALUES):
            raise ConfigError(f"{path}: more than {MAX_VALUES:,} values after expanding YAML aliases; "
                              "not a configuration") from None
        if loaded is not None and not isinstance(loaded, dict):
            raise ConfigError(f"{path}: the top level must be a mapping of sections, got {type(loaded).__name__}")
        doc = loaded or {}
    origin: dict[str, str] = {}
    for key, (parts, value, var) in _env_overrides(env).items():
        _set_path(doc, parts, value)
        origin[key] = f"environment {var}"
    try:
        cfg = _build(ServiceConfig, doc, "")
        _validate(cfg, origin)
    except ConfigError as exc:
        msg = str(exc)
        key = msg.split(":", 1)[0]
        if key in origin and "(from environment" not in msg:
            msg = f"{msg} (from {origin[key]})"
        elif path is not None and key not in origin and "(from environment" not in msg:
            msg = f"{msg} (in {path})"
        raise ConfigError(msg) from None
    return dataclasses.replace(cfg, source=source)
