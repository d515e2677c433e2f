"""Structure-aware fuzzing of the CLI's other input files (issue 14): the formats beside the twin side's five.

The same mechanism as :mod:`tests.fuzz.harness` (which dispatches to this module for these formats): a
*valid* seed input, a few structure-aware mutations drawn from ``random.Random(f"{seed}:{F}:{k}")``,
the harness's own mutators (:func:`~tests.fuzz.harness.mutate_tree`,
:func:`~tests.fuzz.harness._mutate_text`) plus the format's domain-aware ones, and an in-memory
:class:`~tests.fuzz.harness.FuzzInput`:

==================  ===========================================================
format              seeds, mutations and invariants
==================  ===========================================================
``service_config``  seeds: the shipped ``twinwatch.example.yaml`` (its text,
                    comments included, and its tree) and a minimal file; tree
                    mutations, key-aware edge values (ports 0 / 65536 / Unicode
                    digits, alpha 0 / 1, NaN / inf durations, k > m, huge
                    thread counts, bad topic names), YAML bombs; 25 % also
                    ``TWINWATCH_*`` overrides (``env.json`` beside the file).
                    Loads or raises ``ConfigError`` (one line naming the key or
                    the file); a loaded config has every value in its range.
                    CLI: ``twinwatch run --config F --check`` exits 0 or 1, 1
                    whenever the library refuses the file.
``score_jsonl``     seeds: labels written by the testbed's ``Fault.label`` and
                    alert lines by ``Alert.to_dict``; line-level (drop,
                    duplicate, swap, blank, non-object) and field-aware
                    mutations (times NaN / text / reversed, kinds and ids
                    retyped, suspects and entities of the wrong shape, huge
                    lists). Scores or raises ``ScoringError`` naming the file
                    and line; labels = fault events + benign events, alert ids
                    = spans; precision / recall / F1 in [0, 1] or null with a
                    stated reason; no NaN / inf in the JSON report.
                    CLI: ``twinwatch score`` exits 0 or 1 (1 = the library refuses).
``series_csv``      seed: a synthetic labelled daily series in the Microsoft
                    layout (``timestamp,value,is_anomaly``); header and row
                    mutations (columns renamed / dropped / duplicated, fields
                    too few or many, extreme and non-finite numbers, ISO dates
                    at the ends of the calendar, quoted newlines, 200 kB
                    fields). Reads or raises ``SeriesFileError``; every data row
                    is scored or counted as malformed; scores in [0, 1].
                    CLI: ``twinwatch detect series`` writes one row per input
                    row, exit 0 or 1.
``localize_obs``    seed: ``twin predict``'s lines for the harness's 4-node
                    scenario (clean and with a link degraded); field-aware
                    mutations (node numbers past int64, path numbers, NaN /
                    negative / 1e308 KPIs, loss > 1, repeated paths, samples
                    repeated or unknown). Every non-blank line is a record or
                    a counted rejection; p-values in [0, 1], scores finite.
                    CLI: ``twinwatch localize`` exits 0, 1 (nothing usable) or
                    3 (some lines rejected), its output lines = the records.
==================  ===========================================================

Text-level mutations for all four (:func:`mutate_text`): the harness's (duplicate a line, truncate,
a non-UTF-8 or NUL byte, wrong indentation) plus CRLF line ends, a UTF-8 BOM, an empty file, a
200 kB line, Latin-1 re-encoding.
"""

from __future__ import annotations

import contextlib
import copy
import csv
import functools
import io
import json
import logging
import math
import random
import re
import warnings
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import yaml

from tests.fuzz.harness import (
    CLI_FORMATS,
    SCENARIO_SEED,
    TIME_BOUND_S,
    FuzzInput,
    FuzzInvariantError,
    _emit_yaml,
    _mutate_text,
    _n_ops,
    _seed_copy,
    mutate_tree,
    watchdog,
)

__all__ = ["BATCH_CHECKS", "CLI_FORMATS", "build_cli_input", "check_cli_format", "check_library_format",
           "check_series_batch", "mutate_text"]


MAX_REPEAT_BYTES = 2_000_000
"""The line-repeat mutation stops at about this many bytes of copies (a 1.8 MB line repeated 1,000 times made a
1.8 GB file in session 9's first run, k = 58,420 of ``score_jsonl``: a test of the disk, not of the reader)."""
_KAFKA_TOPIC = re.compile(r"[A-Za-z0-9._-]{1,249}")


# ------------------------------------------------------------- shared mutations
def mutate_text(text: str, rng: random.Random) -> bytes:
    """A whole file mutated as text: the harness's :func:`_mutate_text`, or CRLF, BOM, empty, huge line, Latin-1."""
    op = rng.randrange(10)
    if op < 4:
        return _mutate_text(text, rng)
    data = text.encode("utf-8")
    if op == 4:
        return data.replace(b"\n", b"\r\n")
    if op == 5:
        return b"\xef\xbb\xbf" + data
    if op == 6:
        return b""
    if op == 7:  # a 200 kB line, inside the file or as its last line
        lines = text.splitlines(keepends=True) or [""]
        i = rng.randrange(len(lines))
        base = lines[i].rstrip("\r\n") or "x"
        lines.insert(i, (base * (200_000 // len(base) + 1))[:200_000] + "\n")
        return "".join(lines).encode("utf-8")
    if op == 8:  # one line repeated many times (at most ~2 MB of copies: the time bound is per input, not per byte)
        lines = text.splitlines(keepends=True)
        if lines:
            i = rng.randrange(len(lines))
            reps = rng.choice([10, 1000])
            lines[i:i] = [lines[i]] * max(1, min(reps, MAX_REPEAT_BYTES // max(len(lines[i]), 1)))
        return "".join(lines).encode("utf-8")
    return text.encode("latin-1", "replace") + (b"\xe9" if rng.random() < 0.5 else b"")


def _jsonl_line_ops(lines: list[str], rng: random.Random) -> list[str]:
    """One line-level mutation of a JSON-lines file: drop, duplicate, swap, blank, a non-object, truncate a line."""
    op = rng.randrange(7)
    if not lines:
        return ['{"x": 1}']
    i = rng.randrange(len(lines))
    if op == 0:
        del lines[i]
    elif op == 1:
        lines.insert(i, lines[i])
    elif op == 2:
        j = rng.randrange(len(lines))
        lines[i], lines[j] = lines[j], lines[i]
    elif op == 3:
        lines.insert(i, rng.choice(["", "   ", "\t"]))
    elif op == 4:
        lines.insert(i, rng.choice(["[1, 2]", '"text"', "5", "null", "true", "{", "}", "NaN", '{"a": NaN}']))
    elif op == 5:
        lines[i] = lines[i][: rng.randrange(len(lines[i]) + 1)]
    else:
        lines[i] = lines[i] + rng.choice([" ", "}", ",", "\x00", "ü", " {}"])
    return lines


def _dump_line(obj: Any) -> str:
    return json.dumps(obj, allow_nan=True, ensure_ascii=False)


def _mutate_jsonl(rows: list[dict[str, Any]], rng: random.Random, field_op: Any) -> bytes:
    """JSON lines of ``rows`` after 1-3 mutations: a field-aware one (``field_op(row, rng)``), a tree one, a line one;
    then three times in ten a text-level one."""
    rows = [dict(r) for r in rows]
    lines: list[str] | None = None
    for _ in range(_n_ops(rng)):
        op = rng.randrange(3)
        if lines is None and op < 2 and rows:
            i = rng.randrange(len(rows))
            row = copy.deepcopy(rows[i])  # an earlier op may have put a value orjson cannot write (10**30)
            if op == 0 and isinstance(row, dict):  # a tree op may have replaced the whole row by a scalar
                rows[i] = field_op(row, rng)
            else:
                rows[i] = mutate_tree(row, rng, rng.randint(1, 2), copy=False)
        else:
            if lines is None:
                lines = [_dump_line(r) for r in rows]
            lines = _jsonl_line_ops(lines, rng)
    if lines is None:
        lines = [_dump_line(r) for r in rows]
    text = "\n".join(lines) + ("\n" if rng.random() < 0.9 else "")
    return mutate_text(text, rng) if rng.random() < 0.3 else text.encode("utf-8", "surrogatepass")


_NUMS: list[Any] = [0, -1, 1e308, -1e308, float("nan"), float("inf"), float("-inf"), 1e-320, 2**63, 2**64 - 1,
                    -(2**63), "nan", "1e6", "abc", "", True, None, [1.0], {"v": 1}, 0.5, 1.5]


def _no_nan_json(obj: Any, what: str) -> str:
    """``obj`` as strict JSON (no NaN / inf); :class:`FuzzInvariantError` otherwise."""
    try:
        return json.dumps(obj, allow_nan=False)
    except ValueError as exc:
        raise FuzzInvariantError(f"{what}: NaN or inf in the JSON output ({exc})") from None


def _one_line(msg: str, what: str) -> None:
    if "\n" in msg.strip() or len(msg) > 2000 or not msg.strip():
        raise FuzzInvariantError(f"{what}: the error message is not one short line: {msg[:500]!r}")


# ------------------------------------------------------------- service_config
@functools.cache
def _config_seeds() -> tuple[str, dict[str, Any], dict[str, Any]]:
    """The shipped example's text, its tree, and a minimal configuration tree."""
    import twinwatch.stream

    text = (Path(twinwatch.stream.__file__).parent / "data" / "twinwatch.example.yaml").read_text(encoding="utf-8")
    minimal = {"kafka": {"bootstrap": "broker-1:9092,broker-2:9092"}, "networks": ["abilene"],
               "window": {"seconds": 30.0}, "twin": {"model": "qt"}}
    return text, yaml.safe_load(text), minimal


_CFG_EDGES: dict[str, list[Any]] = {
    "bootstrap": ["h:0", "h:65536", "h:65535", "h:1", "h:\u00b2", "h:\u0663\u0663", ":9092", "h:", "h", "a:1,,b:2",
                  "[::1]:9092", "h:99999999999999999999", " ", "h:9092" * 1000],
    "bind": ["0.0.0.0:0", "h:65536", "h:\u00b2", "h:-1", ":9464", "[::]:9464", "h:1", "h:65535", "x"],
    "seconds": [0, -1, 1e-300, 1e300, ".nan", ".inf", -0.0, "10s"],
    "allowed_lateness_s": [-1, ".nan", ".inf", 0, 1e300],
    "max_clock_ahead_s": [0, -1, ".nan", ".inf", None, 1e-300, 30],
    "alpha": [0, 1, 1.0, 1e-300, ".nan", -0.01, 0.999999],
    "persistence_k": [0, 65, 4, 2**63, -1, 1.5], "persistence_m": [0, 65, 1, 64, 2**63],
    "resolve_after": [0, -1, 2**63, 10**30], "warmup_windows": [-1, 2**63, 10**30],
    "delay_resolution_s": [-1e-9, ".nan", ".inf", 1e300],
    "propagation_resolution": [-1e-9, 1.0, ".nan", ".inf", "x"],
    "threads": [0, -1, 10**6, 2**31, 2**63, 1], "max_links": [-1, 2**63, 10**30, 0],
    "interval_s": [0, 300, 300.1, -1, ".nan", ".inf"],
    "rebalance_timeout_s": [0, -1, ".nan", ".inf", 1e300], "session_timeout_s": [5.9, 6, 1800, 1801, ".nan"],
    "alertmanager_timeout_s": [0, ".nan", ".inf", -1], "alertmanager_retries": [-1, 2**63, 10**9],
    "alerts": ["", " ", "a b", "名前", "x" * 250, ".", "..", "a/b"], "dlq": ["", "..", "a\tb"],
    "expected": ["", "x" * 249], "state": ["", "ok.topic-1_2"],
    "checkpoint": ["", ".", "/", "/nonexistent"], "jsonl": ["", "/proc/x/y"],
    "alertmanager_url": ["ftp://x", "http://", "http://am:9093", ""],
    "security_protocol": ["SASL_SSL", "TLS", "plaintext", ""], "level": ["debug", "TRACE", ""],
    "networks": [[], ["ghost"], ["/nonexistent.yaml"], ["abilene", "abilene"], "abilene,,nsfnet", [""]],
    "formats": [[], ["gnmic", "gnmic"], ["bogus"], "gnmic,probe", [""]],
    "raw": [{"gnmic": ""}, {"bogus": "t"}, {"gnmic": "名前"}, {"gnmic": "x" * 300}, {"probe": "ok.topic"}],
    "model": ["sim", "gnn", "mlp", "qt", "", "GNN"],
}
_ENV_VALUES = ["", "0", "-1", "nan", ".nan", "1e309", ".inf", "[1, 2]", "{a: 1}", "true", "null", "abc", "h:\u00b2",
               "65536", "abilene,nsfnet", "'quoted'", "&a", "*a", "!!python/object:os.system", "[", "ü", "  "]


def _config_edge(doc: Any, rng: random.Random) -> Any:
    """Set 1-3 keys to values at or past the edges of their documented range (in place)."""
    if not isinstance(doc, dict):
        return doc
    for _ in range(rng.randint(1, 3)):
        key = rng.choice(sorted(_CFG_EDGES))
        section = next((s for s, v in doc.items() if isinstance(v, dict) and key in v), None)
        value = _copy_value(rng.choice(_CFG_EDGES[key]))
        if key == "networks":
            doc["networks"] = value
        elif section is not None:
            doc[section][key] = value
    return doc


def _copy_value(v: Any) -> Any:
    return orjson.loads(orjson.dumps(v)) if isinstance(v, list | dict) else v


def _config_env(doc: Any, rng: random.Random) -> dict[str, str]:
    """1-3 ``TWINWATCH_*`` overrides: existing keys (from the seed tree), odd paths, values from a pool."""
    paths = [("networks",)]
    if isinstance(doc, dict):
        paths += [(s, k) for s, v in doc.items() if isinstance(v, dict) for k in v]
    odd = [("kafka",), ("kafka", "bootstrap", "x"), ("topics", "raw", "gnmic"), ("topics", "raw", "ghost"),
           ("window", ""), ("nosuch",), ("metrics", "bind")]
    env = {}
    for _ in range(rng.randint(1, 3)):
        path = rng.choice(paths) if rng.random() < 0.7 else rng.choice(odd)
        key = "TWINWATCH_" + "__".join(str(p).upper() for p in path)
        edge = _CFG_EDGES.get(str(path[-1]))
        value = rng.choice(edge) if edge and rng.random() < 0.5 else rng.choice(_ENV_VALUES)
        env[key] = value if isinstance(value, str) else yaml.safe_dump(value, default_flow_style=True).strip()
        env[key] = env[key].replace("\x00", "")  # an environment value cannot hold NUL
    return env


def _config_bomb(rng: random.Random) -> bytes:
    """YAML alias bombs and deep nesting under a section or a list-typed key."""
    kind = rng.randrange(3)
    key = rng.choice(["networks", "topics", "kafka", "extra", "topics:\n  formats"])
    if kind == 0:
        lines = ["  x0: &l0 [x, x, x, x, x, x, x, x, x, x]"]
        lines += [f"  x{i}: &l{i} [" + ", ".join([f"*l{i - 1}"] * 10) + "]" for i in range(1, rng.randint(3, 9))]
        top = rng.randint(2, len(lines))
        return ("defs:\n" + "\n".join(lines[:top]) + f"\n{key}: *l{top - 1}\n").encode()
    if kind == 1:
        return f"{key}: &r [*r]\n".encode()
    depth = rng.choice([100, 1000, 10_000])
    return (f"{key}: " + "[" * depth + "]" * depth + "\n").encode()


def _make_service_config(rng: random.Random) -> FuzzInput:
    text, example, minimal = _config_seeds()
    env: dict[str, str] | None = None
    r = rng.random()
    if r < 0.02:
        data = _config_bomb(rng)
        doc: Any = None
    elif r < 0.15:  # the shipped file's own text, comments and all
        data = mutate_text(text, rng)
        doc = example
    else:
        seed = example if rng.random() < 0.6 else minimal
        doc = _seed_copy(seed)
        if rng.random() < 0.2:
            doc = _config_edge(doc, rng)  # valid or just past the edge: every loaded value must be in range
        else:
            for _ in range(_n_ops(rng)):
                doc = _config_edge(doc, rng) if rng.random() < 0.4 else mutate_tree(doc, rng, 1, copy=False)
        data = _emit_yaml(doc, rng, "twinwatch.yaml").files["twinwatch.yaml"]
    if rng.random() < 0.25:
        env = _config_env(doc if doc is not None else example, rng)
    files = {"cfg/twinwatch.yaml": data}
    if env is not None:
        files["cfg/env.json"] = json.dumps(env, ensure_ascii=False).encode()
    return FuzzInput(files, "cfg/twinwatch.yaml")


def _env_of(path: Path) -> dict[str, str]:
    p = path.parent / "env.json"
    return json.loads(p.read_text(encoding="utf-8")) if p.exists() else {}


def _port_ok(hp: str) -> bool:
    host, sep, port = hp.strip().rpartition(":")
    return bool(sep and host and port.isascii() and port.isdigit() and 1 <= int(port) <= 65535)


def _process_env(env: dict[str, str]) -> dict[str, str]:
    """The entries of ``env`` a process environment can hold (no NUL anywhere, no ``=`` in a name, no empty
    name): the CLI check can only pass those on."""
    return {k: v for k, v in env.items() if k and "=" not in k and "\x00" not in k + v}


def _check_config(path: Path, env: dict[str, str] | None = None) -> str:
    from twinwatch.stream.config import ConfigError, ServiceConfig, load_config
    from twinwatch.twin.models import MODELS

    try:
        cfg = load_config(path, env=_env_of(path) if env is None else env)
    except ConfigError as exc:
        _one_line(str(exc), "service_config: ConfigError")
        return "refused"
    what = "service_config: a loaded configuration"
    if not isinstance(cfg, ServiceConfig):
        raise FuzzInvariantError(f"{what} is a {type(cfg).__name__}")
    k, t, w, d = cfg.kafka, cfg.topics, cfg.window, cfg.detection
    checks = {
        "kafka.bootstrap host:port, port 1..65535": all(_port_ok(hp) for hp in k.bootstrap.split(",")),
        "metrics.bind host:port, port 1..65535": _port_ok(cfg.metrics.bind),
        "kafka timeouts finite > 0": math.isfinite(k.rebalance_timeout_s) and k.rebalance_timeout_s > 0
        and 6 <= k.session_timeout_s <= 1800,
        "topic names legal in Kafka": all(_KAFKA_TOPIC.fullmatch(n) for n in (
            t.alerts, t.expected, t.dlq, t.state, *(t.raw_topic(f) for f in t.formats), *t.raw.values())),
        "window.seconds finite > 0": math.isfinite(w.seconds) and w.seconds > 0,
        "window.allowed_lateness_s finite >= 0": math.isfinite(w.allowed_lateness_s) and w.allowed_lateness_s >= 0,
        "window.max_clock_ahead_s null or finite > 0": w.max_clock_ahead_s is None
        or (math.isfinite(w.max_clock_ahead_s) and w.max_clock_ahead_s > 0),
        "detection.alpha in (0, 1)": 0 < d.alpha < 1,
        "1 <= persistence_k <= persistence_m <= 64": 1 <= d.persistence_k <= d.persistence_m <= 64,
        "resolve_after, warmup_windows in range": 1 <= d.resolve_after <= 10**6 and 0 <= d.warmup_windows <= 10**6,
        "delay_resolution_s finite >= 0": math.isfinite(d.delay_resolution_s) and d.delay_resolution_s >= 0,
        "twin.model known": cfg.twin.model in MODELS,
        "twin.threads 1..1024": 1 <= cfg.twin.threads <= 1024,
        "twin.checkpoint not empty": cfg.twin.checkpoint is None or cfg.twin.checkpoint.strip() != "",
        "sinks timeout finite > 0, retries 0..100": math.isfinite(cfg.sinks.alertmanager_timeout_s)
        and cfg.sinks.alertmanager_timeout_s > 0 and 0 <= cfg.sinks.alertmanager_retries <= 100,
        "metrics.max_links 0..10**6": 0 <= cfg.metrics.max_links <= 10**6,
        "state.interval_s 0..300": 0 <= cfg.state.interval_s <= 300,
        "networks not empty strings": all(n.strip() for n in cfg.networks),
        "formats known, no repeats": bool(t.formats) and len(set(t.formats)) == len(t.formats),
        "logging": cfg.logging.format in ("text", "json"),
    }
    broken = [rule for rule, ok in checks.items() if not ok]
    if broken:
        raise FuzzInvariantError(f"{what} breaks: {', '.join(broken)}: {cfg!r}"[:1500])
    return "ok"


# ------------------------------------------------------------- score_jsonl
@functools.cache
def _score_seeds() -> tuple[tuple[dict[str, Any], ...], tuple[dict[str, Any], ...]]:
    """Labels (the testbed's ``Fault.label``) and alert lines (``Alert.to_dict``) of a small run: every kind of
    match, a miss, a false alarm, a benign event explained by a telemetry-health alert."""
    from twinwatch.detectors.alerts import Alert
    from twinwatch.twin.testbed.faults import Fault

    t0 = 1_700_000_000.0
    faults = [Fault("capacity_degradation", 600, 900, ("a->b",)), Fault("grey_loss", 1500, 1800, ("b->c",)),
              Fault("link_down", 2400, 2700, ("c->d",)), Fault("traffic_surge", 3000, 3300, ("b",)),
              Fault("counter_clear", 200, 210, ("d->a",)), Fault("diurnal_peak", 3400, 3500, ())]
    labels = tuple(f.label(t0) for f in faults)
    sus = ({"link": "a->b", "score": 1.9}, {"link": "b->a", "score": 0.4})
    lines: list[dict[str, Any]] = []

    def add(a: Alert, end: float | None) -> None:
        lines.append(a.to_dict())
        if end is not None:
            lines.append(a.resolved(end).to_dict())

    add(Alert.open(network="lab", entity_kind="path", entity_id="a->c", kpi="delay_s", start=t0 + 620,
                   kind="degradation", p_value=1e-5, suspects=sus), t0 + 930)
    add(Alert.open(network="lab", entity_kind="link", entity_id="c->d", kpi="utilization", start=t0 + 2400,
                   kind="link_state"), t0 + 2710)
    add(Alert.open(network="lab", entity_kind="node", entity_id="b", kpi="tx_bps", start=t0 + 3010,
                   kind="traffic_anomaly"), None)
    add(Alert.open(network="lab", entity_kind="link", entity_id="d->a", kpi="tx_bps", start=t0 + 200,
                   kind="telemetry_health"), t0 + 230)
    add(Alert.open(network="lab", entity_kind="path", entity_id="d->b", kpi="loss_ratio", start=t0 + 4000,
                   kind="degradation", p_value=2e-4), t0 + 4040)  # a false alarm
    return labels, tuple(lines)


def _label_field(r: dict[str, Any], rng: random.Random) -> dict[str, Any]:
    key = rng.choice(["start", "end", "kind", "entities", "entity_kind", "benign", "id", "swap"])
    if key in ("start", "end"):
        r[key] = rng.choice(_NUMS)
    elif key == "swap" and isinstance(r.get("start"), int | float) and isinstance(r.get("end"), int | float):
        r["start"], r["end"] = r["end"], r["start"]
    elif key == "kind":
        r[key] = rng.choice(["", "GREY_LOSS", "nosuch", ["grey_loss"], {"k": 1}, 5, None, "diurnal_peak"])
    elif key == "entities":
        r[key] = rng.choice([5, "a->b", [["a->b"]], [None], [], ["a->b"] * 100_000, [{"x": 1}], None, ["->", "a->"]])
    elif key == "entity_kind":
        r[key] = rng.choice(["node", "link", "path", "", None, ["link"]])
    elif key == "benign":
        r[key] = rng.choice(["false", 1, None, [], True])
    else:
        r[key] = rng.choice([None, 5, ["x"], {"a": 1}, ""])
    return r


def _alert_field(r: dict[str, Any], rng: random.Random) -> dict[str, Any]:
    key = rng.choice(["start", "end", "kind", "status", "id", "suspects", "p_value", "entity_id", "swap"])
    if key in ("start", "end", "p_value"):
        r[key] = rng.choice(_NUMS)
    elif key == "swap" and isinstance(r.get("start"), int | float) and isinstance(r.get("end"), int | float):
        r["start"], r["end"] = r["end"], r["start"]
    elif key == "kind":
        r[key] = rng.choice(["", "nosuch", ["degradation"], {"k": 1}, 5, None, "link_state"])
    elif key == "status":
        r[key] = rng.choice(["resolved", "firing", "FIRING", None, ["firing"], 1])
    elif key == "id":
        r[key] = rng.choice([None, 5, 5.0, ["x"], {"a": 1}, "", True])
    elif key == "suspects":
        r[key] = rng.choice([5, "abc", [{"link": 5}], [{"link": ["a->b"]}], [{"link": None}], [None, 1],
                             [{"link": "a->b"}] * 100_000, {"link": "a->b"}, []])
    else:
        r[key] = rng.choice([None, 5, ["a->b"], "", "a->b"])
    return r


def _make_score_jsonl(rng: random.Random) -> FuzzInput:
    labels, alerts = _score_seeds()
    files = {"score/labels.jsonl": None, "score/alerts.jsonl": None}
    which = rng.random()
    lab = alerts_b = None
    if which < 0.45 or which >= 0.9:
        lab = _mutate_jsonl(list(labels), rng, _label_field)
    if which >= 0.45:
        alerts_b = _mutate_jsonl(list(alerts), rng, _alert_field)
    files["score/labels.jsonl"] = lab if lab is not None else _jsonl_bytes(labels)
    files["score/alerts.jsonl"] = alerts_b if alerts_b is not None else _jsonl_bytes(alerts)
    return FuzzInput(files, "score")  # type: ignore[arg-type]


_JSONL: dict[int, bytes] = {}


def _jsonl_bytes(rows: tuple[dict[str, Any], ...]) -> bytes:
    """The unmutated JSON lines of a (module-lifetime, cached) seed tuple, serialised once."""
    if id(rows) not in _JSONL:
        _JSONL[id(rows)] = b"".join(orjson.dumps(r) + b"\n" for r in rows)
    return _JSONL[id(rows)]


def _nonblank_lines(data: bytes) -> int:
    """Lines of a JSON-lines file that are not blank (a leading UTF-8 BOM is not content)."""
    return sum(1 for line in data.removeprefix(b"\xef\xbb\xbf").splitlines() if line.strip())


_PRF = ("precision", "recall", "f1")


def _check_score(folder: Path) -> str:
    from twinwatch.detectors.scoring import ScoringError, load_alert_lines, load_labels, score

    lp, ap = folder / "labels.jsonl", folder / "alerts.jsonl"
    try:
        labels = load_labels(lp)
        alerts = load_alert_lines(ap)
        if not labels:
            return "refused"  # the CLI's documented "no ground truth" (exit 1)
        rep = score(labels, alerts, window_s=10.0, n_entities=None, alpha=0.01)
    except ScoringError as exc:
        msg = str(exc)
        _one_line(msg, "score_jsonl: ScoringError")
        if not (str(lp) in msg or str(ap) in msg or msg.startswith(("score:", "label ", "alert line "))):
            raise FuzzInvariantError(f"score_jsonl: the error names neither file: {msg[:300]}") from None
        return "refused"
    what = "score_jsonl: a scored pair"
    n_labels = _nonblank_lines(lp.read_bytes())
    if len(labels) != n_labels or rep.overall.events + rep.benign_events != n_labels:
        raise FuzzInvariantError(f"{what}: {n_labels} label lines but {len(labels)} read, "
                                 f"{rep.overall.events} fault events + {rep.benign_events} benign events")
    if len(alerts) != _nonblank_lines(ap.read_bytes()):
        raise FuzzInvariantError(f"{what}: {len(alerts)} alert lines read of {_nonblank_lines(ap.read_bytes())}")
    ids = {json.dumps(a["id"], sort_keys=True) for a in alerts}
    if rep.alerts != len(ids) or not rep.false_alarms <= rep.network_fault_alerts <= rep.alerts:
        raise FuzzInvariantError(f"{what}: {len(ids)} alert ids but {rep.alerts} spans, "
                                 f"{rep.network_fault_alerts} network-fault alerts, {rep.false_alarms} false alarms")
    if sum(k.events for k in rep.per_kind.values()) != rep.overall.events:
        raise FuzzInvariantError(f"{what}: per-kind events do not add up to {rep.overall.events}")
    doc = rep.to_dict()
    _no_nan_json(doc, what)
    reasons = doc.get("undefined", {})
    for name, ks in [*((f"per_kind.{k}", v) for k, v in doc["per_kind"].items()), ("overall", doc["overall"])]:
        if not 0 <= ks["detected"] <= ks["events"]:
            raise FuzzInvariantError(f"{what}: {name} detected {ks['detected']} of {ks['events']}")
        for m in (*_PRF, "top1", "top3"):
            v = ks[m]
            if v is None:
                if f"{name}.{m}" not in reasons:
                    raise FuzzInvariantError(f"{what}: {name}.{m} is null without a stated reason")
            elif not 0.0 <= v <= 1.0:
                raise FuzzInvariantError(f"{what}: {name}.{m} = {v} is outside [0, 1]")
        for m in ("delay_median_windows", "delay_p95_windows"):
            if ks[m] is not None and ks[m] < 0:
                raise FuzzInvariantError(f"{what}: {name}.{m} = {ks[m]} < 0")
    return "ok"


# ------------------------------------------------------------- series_csv
@functools.cache
def _series_seed() -> tuple[tuple[str, ...], tuple[tuple[str, ...], ...]]:
    """A labelled 15-minute series over 1.5 days (Microsoft layout): a daily cycle, noise, two spikes labelled 1."""
    rng = np.random.default_rng(7)
    t0 = 1_530_403_200  # 2018-07-01T00:00:00Z
    ts = t0 + 900 * np.arange(144)
    y = 50 + 20 * np.sin(2 * np.pi * (ts - t0) / 86_400.0) + rng.normal(0, 1.5, ts.size)
    lab = np.zeros(ts.size, dtype=int)
    for i in (60, 120):
        y[i] += 40
        lab[i] = 1
    from datetime import UTC, datetime

    rows = tuple((datetime.fromtimestamp(int(t), UTC).strftime("%Y-%m-%d %H:%M:%S"), f"{v:.4f}", str(a))
                 for t, v, a in zip(ts.tolist(), y.tolist(), lab.tolist(), strict=True))
    return ("timestamp", "value", "is_anomaly"), rows


_TS_BAD = ["", "nan", "inf", "-inf", "1e308", "-1e308", "0", "-1", "0001-01-01T00:00:00+05:00",
           "9999-12-31T23:59:59-05:00", "2018-13-01 00:00:00", "2018-07-01T25:00", "2018-07-01T00:00:00+24:00",
           "1530403200", "1530403200.5", "２０１８", "\x00", "2018-07-01 00:00:00 UTC", '"2018-07-01"']
_VAL_BAD = ["", "nan", "NaN", "inf", "-inf", "1e308", "-1e308", "1.7976931348623157e308", "1e-320", "abc", "0x10",
            "1_000", " 5 ", "1e400", "-0", "٣", "1,5", '"7"']


def _series_mutation(header: list[str], rows: list[list[str]], rng: random.Random) -> None:
    """One CSV-aware mutation, in place."""
    op = rng.randrange(9)
    i = rng.randrange(len(rows)) if rows else 0
    if op == 0 and rows and rows[i]:
        rows[i][0] = rng.choice(_TS_BAD)
    elif op == 1 and rows:
        for j in rng.sample(range(len(rows)), min(len(rows), rng.choice([1, 1, 5, 100]))):
            if len(rows[j]) > 1:
                rows[j][1] = rng.choice(_VAL_BAD)
    elif op == 2 and header:  # a column renamed, dropped, duplicated, moved
        j = rng.randrange(len(header))
        kind = rng.randrange(4)
        if kind == 0:
            header[j] = rng.choice(["TimeStamp", "Value", "VALUE ", "time", "ts", "val", "", "value", "timestamp"])
        elif kind == 1:
            del header[j]
        elif kind == 2:
            header.append(header[j])
        else:
            header.insert(0, header.pop(j))
    elif op == 3 and rows:  # too few or too many fields
        rows[i] = rows[i][: rng.randrange(len(rows[i]) + 1)] if rng.random() < 0.5 else [*rows[i], "x", ""]
    elif op == 4 and rows:  # rows duplicated, dropped, shuffled
        kind = rng.randrange(3)
        if kind == 0:
            rows.insert(i, list(rows[i]))
        elif kind == 1:
            del rows[i : i + rng.choice([1, 10, len(rows)])]
        else:
            rng.shuffle(rows)
    elif op == 5 and rows and rows[i]:  # a quoted field with a newline or a delimiter
        rows[i][rng.randrange(len(rows[i]))] = rng.choice(["a\nb", "1,5", '"', "x\r\ny", "\t"])
    elif op == 6 and rows:  # values all equal, or alternating extremes
        v = rng.choice(["0", "1e308", "5", "-1e308"])
        for r in rows:
            if len(r) > 1:
                r[1] = v if rng.random() < 0.5 else ("-" + v if not v.startswith("-") else v[1:])
    elif op == 7 and rows:  # timestamps not increasing: equal, reversed, spaced a day or a second apart
        kind = rng.randrange(3)
        step = 86_400 if kind == 1 else 1
        for j, r in enumerate(rows):
            if r:
                r[0] = (rows[0] or ["0"])[0] if kind == 0 else str(1_530_403_200 + step * (len(rows) - j))
    elif rows:  # an empty row
        rows.insert(i, [])


def _make_series_csv(rng: random.Random) -> FuzzInput:
    header0, rows0 = _series_seed()
    header = list(header0)
    rows = [list(r) for r in rows0]
    if rng.random() < 0.15:  # the raw epoch-seconds layout of the same series
        header = ["timestamp", "value"]
        rows = [[r[0], r[1]] for r in rows][: rng.choice([3, 30, len(rows)])]
    for _ in range(_n_ops(rng)):
        _series_mutation(header, rows, rng)
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(header)
    w.writerows(rows)
    text = buf.getvalue()
    data = mutate_text(text, rng) if rng.random() < 0.3 else text.encode("utf-8")
    return FuzzInput({"series.csv": data}, "series.csv")


def _csv_records(path: Path) -> int | None:
    """Data records after the header as Python's csv module splits the file (None when it cannot)."""
    try:
        with path.open(newline="", encoding="utf-8-sig") as fh:
            return max(sum(1 for _ in csv.reader(fh)) - 1, 0)
    except (UnicodeDecodeError, csv.Error):
        return None


def _read_series(path: Path) -> tuple[Any, np.ndarray] | None:
    """The series file as ``read_series_csv`` reads it and its rows with a value, or None when refused.

    Checks the reading's invariants: a refusal is one line naming the file; every data record is a row;
    the rows without a finite value are exactly the ones counted malformed.
    """
    from twinwatch.stream.commands.detect import SeriesFileError, read_series_csv

    try:
        sf = read_series_csv(path)
    except SeriesFileError as exc:
        _one_line(str(exc), "series_csv: SeriesFileError")
        if str(path) not in str(exc):
            raise FuzzInvariantError(f"series_csv: the error does not name the file: {exc}") from None
        return None
    what = "series_csv: a read series"
    n = _csv_records(path)
    if n is not None and n != len(sf.rows):
        raise FuzzInvariantError(f"{what}: {n} data records in the file but {len(sf.rows)} rows read")
    good = np.isfinite(sf.value) & np.isfinite(sf.ts)
    if int((~good).sum()) != sf.n_malformed:
        raise FuzzInvariantError(f"{what}: {int((~good).sum())} rows without a value but {sf.n_malformed} malformed")
    return sf, good


def _check_series_scores(sf: Any, good: np.ndarray, scores: np.ndarray) -> None:
    what = "series_csv: a read series"
    if scores.shape != (len(sf.rows),):
        raise FuzzInvariantError(f"{what}: {scores.shape} scores for {len(sf.rows)} rows")
    s = scores[good]
    if not (np.isfinite(s) & (s >= 0) & (s <= 1)).all():
        raise FuzzInvariantError(f"{what}: a score is not in [0, 1]: {s[~((s >= 0) & (s <= 1))][:5]}")


def _check_series(path: Path) -> str:
    from twinwatch.detectors.series import score_many

    read = _read_series(path)
    if read is None:
        return "refused"
    sf, _ = read
    (scores,) = score_many([(sf.ts, sf.value)], period_s="auto")
    _check_series_scores(*read, scores)
    return "ok"


def check_series_batch(paths: list[Path]) -> list[str | FuzzInvariantError]:
    """:func:`check_library_format` for many ``series_csv`` files at once: one outcome (or failure) per path.

    Each file is read (and its reading checked) on its own under the per-input watchdog; the series read
    are then scored by *one* :func:`~twinwatch.detectors.series.score_many` call (bound: the per-input
    bound times their number), which runs them as columns of one vectorised step per row and gives each
    series exactly what scoring it alone gives (its docstring example and unit tests), so the checks are
    those of :func:`_check_series` at a fraction of the per-row overhead. When the joint call fails, every
    read file is scored alone to say which input fails; if none does alone, the joint scoring itself is
    the failure (a bug of the many-series path), reported on each file of the batch.
    """
    from twinwatch.detectors.series import score_many

    bound = TIME_BOUND_S["series_csv"]
    out: list[str | FuzzInvariantError] = ["refused"] * len(paths)
    read: dict[int, tuple[Any, np.ndarray]] = {}
    for i, path in enumerate(paths):
        try:
            with _guarded("series_csv", bound):
                r = _read_series(path)
        except FuzzInvariantError as exc:
            out[i] = exc
            continue
        if r is not None:
            read[i] = r
    if not read:
        return out
    order = sorted(read)
    try:
        with _guarded("series_csv", bound * len(order)):
            scores = score_many([(read[i][0].ts, read[i][0].value) for i in order], period_s="auto")
            for i, sc in zip(order, scores, strict=True):
                _check_series_scores(*read[i], sc)
                out[i] = "ok"
        return out
    except FuzzInvariantError as joint:
        alone: dict[int, str | FuzzInvariantError] = {}
        for i in order:
            try:
                alone[i] = check_library_format("series_csv", paths[i])
            except FuzzInvariantError as exc:
                alone[i] = exc
        if not any(isinstance(v, FuzzInvariantError) for v in alone.values()):
            err = FuzzInvariantError(f"series_csv: scoring {len(order)} series together failed, each alone "
                                     f"passes: {joint}"[:2000])
            alone = dict.fromkeys(order, err)
        for i, v in alone.items():
            out[i] = v
        return out


# ------------------------------------------------------------- localize_obs
@functools.cache
def _seed_scenario() -> tuple[bytes, Any]:
    """The harness's 4-node scenario as the YAML bytes every ``localize_obs`` input carries, and as read back."""
    import tempfile

    from twinwatch.twin.datasets.scenario_yaml import load_scenario_yaml

    net = yaml.safe_dump(SCENARIO_SEED, sort_keys=False).encode()
    with tempfile.TemporaryDirectory(prefix="twinwatch-fuzz-loc-") as tmp:
        p = Path(tmp) / "net.yaml"
        p.write_bytes(net)
        return net, load_scenario_yaml(p)


@functools.cache
def _localize_seed() -> tuple[bytes, bytes, tuple[dict[str, Any], ...]]:
    """The harness's 4-node scenario (YAML), a qt calibration fitted on it, and its OBS lines (clean, degraded)."""
    from tests.unit.detectors._qt_calibration import qt_calibration
    from twinwatch.detectors.localize import degrade_capacity
    from twinwatch.stream.commands.twin_predict import prediction_record
    from twinwatch.twin.models import get_model

    net, sc = _seed_scenario()
    qt = get_model("qt")
    expected = qt.predict(sc)
    cal = orjson.dumps({"model": "qt", "calibration": qt_calibration(sc, expected, min_count=50)},
                       option=orjson.OPT_SERIALIZE_NUMPY)
    util = sc.link_load_bps() / sc.link_capacity_bps
    link = int(np.argmax(util))
    degraded = qt.predict(degrade_capacity(sc, link, 0.25))
    lines = (prediction_record("net.yaml", 0, sc, degraded), prediction_record("net.yaml", 0, sc, expected))
    return net, cal, tuple(json.loads(orjson.dumps(x, option=orjson.OPT_SERIALIZE_NUMPY)) for x in lines)


def _obs_field(r: dict[str, Any], rng: random.Random) -> dict[str, Any]:
    op = rng.randrange(6)
    paths = r.get("paths") if isinstance(r.get("paths"), list) else []
    maps = [x for x in paths if isinstance(x, dict)]
    p = rng.choice(maps) if maps else None
    if op == 0:
        r[rng.choice(["file", "index"])] = rng.choice(["net.yaml", "other.yaml", "", 0, 1, -1, 2**63, 2**64 - 1, None,
                                                       1.0, True, ["net.yaml"]])
    elif op == 1 and p is not None:
        p[rng.choice(["src", "dst"])] = rng.choice([-1, 4, 2**63 - 1, 2**63, 2**64 - 1, -(2**63), 1.0, 2**53 + 1,
                                                   True, None, "0"])
    elif op == 2 and p is not None:
        p["path"] = rng.choice([-1, -2, 0, 1, 2, 3, 99, 2**63, 2**64 - 1, None, 1.5, True])
    elif op == 3 and p is not None:
        p[rng.choice(["delay", "jitter", "loss"])] = rng.choice(_NUMS)
    elif op == 4 and p is not None:  # a path observed twice, or all paths repeated
        if rng.random() < 0.5:
            paths.append(dict(p))
        else:
            # at most ~3,000 paths: the time bound is per input, and a second draw of this op would make 10^6
            # (input 132,201 of seed 1: a 334 MB file); a first draw on the seed's 3 paths is unchanged
            r["paths"] = paths * min(1000 if rng.random() < 0.1 else 2, max(1, MAX_REPEAT_PATHS // max(len(paths), 1)))
    elif op == 5 and p is not None:  # a path nobody measured, or every KPI null
        p.update({"delay": None, "jitter": None, "loss": None} if rng.random() < 0.5 else {"loss": 1.5})
    return r


MAX_REPEAT_PATHS = 3000
"""The most paths the "all paths repeated" mutation makes of a sample's list."""


def _make_localize_obs(rng: random.Random) -> FuzzInput:
    net, cal, lines = _localize_seed()
    rows = [lines[0]] if rng.random() < 0.5 else [lines[1]]
    if rng.random() < 0.3:
        rows.append({**lines[1], "index": 1})  # a sample the dataset does not have
    data = _mutate_jsonl(rows, rng, _obs_field)
    return FuzzInput({"loc/net.yaml": net, "loc/cal.json": cal, "loc/obs.jsonl": data}, "loc")


@functools.cache
def _qt_and_cal() -> tuple[Any, dict[str, Any], Any, Any]:
    from twinwatch.twin.models import get_model

    _, sc = _seed_scenario()
    qt = get_model("qt")
    return qt, json.loads(_localize_seed()[1])["calibration"], sc, qt.predict(sc)


def _check_localize(folder: Path) -> str:
    from twinwatch.detectors.localize import PATH_KPIS, diagnose
    from twinwatch.stream.commands.localize import _KPI_FIELD, BadLineError, _align, _read_observed, _record

    qt, cal, sc, expected = _qt_and_cal()  # the input's net.yaml and cal.json are the seed's, byte for byte
    bad: Counter[str] = Counter()
    messages: list[str] = []
    obs = _read_observed(folder / "obs.jsonl", bad, messages)
    done = 0
    field_of = tuple(_KPI_FIELD[k] for k in PATH_KPIS)
    for (file, index), (lineno, rows) in obs.items():
        if (file, index) != ("net.yaml", 0):
            bad["missing_sample"] += 1
            continue
        try:
            observed = _align(rows, sc, lineno)
        except BadLineError as exc:
            bad[exc.reason] += 1
            messages.append(str(exc))
            continue
        diag = diagnose(sc, observed, expected, cal, alpha=0.01, method="bh", model=qt, top_k=3)
        rec = _record(file, index, sc, diag, field_of, 5)
        text = _no_nan_json(json.loads(orjson.dumps(rec)), "localize_obs: a record")
        if "null" in text:
            raise FuzzInvariantError(f"localize_obs: null in a record (a NaN p-value or score): {text[:500]}")
        if not all(0.0 <= p["p_value"] <= 1.0 for p in rec["paths"]):
            raise FuzzInvariantError(f"localize_obs: a p-value outside [0, 1]: {text[:500]}")
        done += 1
    for m in messages:
        _one_line(m, "localize_obs: a rejection")
        if not m.startswith("line "):
            raise FuzzInvariantError(f"localize_obs: a rejection does not name its line: {m[:300]}")
    n_lines = _nonblank_lines((folder / "obs.jsonl").read_bytes())
    if done + sum(bad.values()) != n_lines:
        raise FuzzInvariantError(f"localize_obs: {n_lines} lines but {done} records + {dict(bad)} rejections")
    return "ok" if done and not bad else "refused"


# ------------------------------------------------------------- entry points
def build_cli_input(fmt: str, rng: random.Random) -> FuzzInput:
    """One mutated input of ``fmt`` (one of :data:`CLI_FORMATS`), in memory."""
    return {"service_config": _make_service_config, "score_jsonl": _make_score_jsonl,
            "series_csv": _make_series_csv, "localize_obs": _make_localize_obs}[fmt](rng)


def check_library_format(fmt: str, path: Path) -> str:
    """Read (and score / localise) ``path`` as ``fmt`` under the watchdog: ``"ok"`` or ``"refused"``.

    Anything else escaping, a raw NumPy ``RuntimeWarning``, a hang past
    :data:`~tests.fuzz.harness.TIME_BOUND_S` or a broken invariant raises :class:`FuzzInvariantError`.
    """
    check = {"service_config": _check_config, "score_jsonl": _check_score, "series_csv": _check_series,
             "localize_obs": _check_localize}[fmt]
    with _guarded(fmt, TIME_BOUND_S[fmt]):
        outcome = check(path)
    return outcome


BATCH_CHECKS = {"series_csv": check_series_batch}
"""Formats whose check can run many inputs in one call (``fmt -> check(paths) -> outcomes``); see
:func:`check_series_batch`. The benchmark uses them; the CI tests check one input at a time."""


@contextlib.contextmanager
def _guarded(fmt: str, seconds: float) -> Iterator[None]:
    """The watchdog, raw NumPy warnings as errors, and anything but :class:`FuzzInvariantError` escaping
    turned into one (the failure we look for)."""
    try:
        with watchdog(seconds), warnings.catch_warnings():
            warnings.simplefilter("error", RuntimeWarning)
            warnings.filterwarnings("ignore", category=DeprecationWarning)
            yield
    except FuzzInvariantError:
        raise
    except BaseException as exc:  # anything else escaping is the failure we look for
        raise FuzzInvariantError(f"{fmt}: {type(exc).__name__} escaped: {exc!r}"[:2000]) from exc


def _cli_args(fmt: str, path: Path, out: Path) -> list[str]:
    if fmt == "service_config":
        return ["run", "--config", str(path), "--check"]
    if fmt == "score_jsonl":
        return ["score", "--labels", str(path / "labels.jsonl"), "--alerts", str(path / "alerts.jsonl"),
                "--json", str(out)]
    if fmt == "series_csv":
        return ["detect", "series", str(path), "--out", str(out)]
    return ["localize", str(path / "net.yaml"), "--observed", str(path / "obs.jsonl"), "--out", str(out),
            "--model", "qt", "--calibration", str(path / "cal.json"), "-q"]


def check_cli_format(fmt: str, path: Path, runner: Any | None = None) -> int:
    """Run the command that reads ``fmt`` on ``path`` (click's ``CliRunner``, in a scratch folder); its exit status.

    Requires no traceback, an exit status the command documents, agreement with :func:`check_library_format`
    (the CLI refuses what the library refuses) and an output that accounts for the input; else
    :class:`FuzzInvariantError`.
    """
    import tempfile

    from click.testing import CliRunner

    from twinwatch.stream.cli import cli

    runner = runner or CliRunner()
    lib = check_library_format(fmt, path)
    env = _process_env(_env_of(path)) if fmt == "service_config" else {}
    if fmt == "service_config" and env != _env_of(path):  # the library verdict on what the CLI can be given
        with _guarded(fmt, TIME_BOUND_S[fmt]):
            lib = _check_config(path, env)
    threads = None
    if fmt == "service_config":
        import torch

        threads = torch.get_num_threads()
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    with tempfile.TemporaryDirectory(prefix="twinwatch-fuzz-cli-") as tmp:
        out = Path(tmp) / ("report.json" if fmt == "score_jsonl" else "out.csv" if fmt == "series_csv"
                           else "suspects.jsonl")
        try:
            with contextlib.chdir(tmp), warnings.catch_warnings():
                warnings.simplefilter("ignore")
                res = runner.invoke(cli, _cli_args(fmt, path.resolve(), out), env=env)
        finally:
            if threads is not None:
                import torch

                torch.set_num_threads(threads)
            root.handlers[:], root.level = handlers, level
        allowed = {"service_config": (0, 1), "score_jsonl": (0, 1), "series_csv": (0, 1), "localize_obs": (0, 1, 3)}
        if res.exit_code not in allowed[fmt]:
            raise FuzzInvariantError(f"{fmt}: exit status {res.exit_code}: {res.output[-1500:]}")
        if res.exception is not None and not isinstance(res.exception, SystemExit):
            raise FuzzInvariantError(f"{fmt}: {type(res.exception).__name__} escaped the CLI: {res.exception!r}")
        if "Traceback" in res.output or "Warning:" in res.output:
            raise FuzzInvariantError(f"{fmt}: a traceback or a raw warning in the output: {res.output[-1500:]}")
        if lib == "refused" and res.exit_code == 0 and fmt != "localize_obs":
            raise FuzzInvariantError(f"{fmt}: the library refuses the input but the CLI exits 0: {res.output[-800:]}")
        if lib == "ok" and res.exit_code != 0 and fmt in ("score_jsonl", "series_csv"):
            raise FuzzInvariantError(f"{fmt}: the library reads the input but the CLI exits {res.exit_code}: "
                                     f"{res.output[-800:]}")
        if res.exit_code == 0 and fmt == "score_jsonl":
            _no_nan_json(json.loads(out.read_text()), f"{fmt}: --json report")
        if fmt == "series_csv" and res.exit_code == 0:
            n = _csv_records(path)
            with out.open(newline="", encoding="utf-8") as fh:
                got = list(csv.reader(fh))[1:]
            if n is not None and len(got) != n:
                raise FuzzInvariantError(f"{fmt}: {n} input rows but {len(got)} output rows")
            sc = [r[-1] for r in got if r and r[-1] != ""]
            if any(not 0.0 <= float(s) <= 1.0 for s in sc):
                raise FuzzInvariantError(f"{fmt}: a score outside [0, 1] in the output")
        if fmt == "localize_obs":
            recs = out.read_bytes().splitlines() if out.exists() else []
            for line in recs:
                json.loads(line, parse_constant=lambda c: (_ for _ in ()).throw(FuzzInvariantError(f"{fmt}: {c}")))
            if (res.exit_code == 1) != (not recs) or ((res.exit_code == 0) != (lib == "ok")):
                raise FuzzInvariantError(f"{fmt}: exit {res.exit_code} with {len(recs)} records (library: {lib}): "
                                         f"{res.output[-800:]}")
    return res.exit_code

