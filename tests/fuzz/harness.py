"""Structure-aware fuzzing of the files the twin side reads (issue 14).

Each format starts from a *valid* input and applies a few structure-aware
mutations drawn from a :class:`random.Random` (hypothesis drives it in the
tests through ``st.randoms()``, ``bench/fuzz_inputs.py`` with a seeded one):

==================  ===========================================================
format              mutations
==================  ===========================================================
``scenario_yaml``   drop / duplicate / rename keys, retype values, extreme and
                    non-finite numbers, wrong nesting, random unicode, node
                    references swapped; then text-level: duplicate a line,
                    truncate, non-UTF-8 bytes
``native``          manifest JSON mutated (or truncated); a sample ``.npz``
                    rebuilt with a member dropped, retyped, reshaped, made an
                    object array, filled with extremes, its ``meta_json``
                    mutated; raw byte flips and truncation; a sample deleted
``gnnet``           tarball members dropped, renamed, duplicated, junk added,
                    lines and fields of the result files mutated; graph (GML)
                    and routing files mutated; gzip truncated, byte flips,
                    plain tar, gzip of non-tar
``checkpoint``      ``config.json`` mutated structurally (MLP and GNN);
                    safetensors header JSON mutated (dtype, shape, offsets,
                    names) with a right or wrong length prefix; truncation
                    and byte flips
``network_yaml``    seeds: the shipped ``abilene`` and ``nsfnet`` documents
                    and a 3-router lab; the tree mutations above stacked with
                    network-aware ones (capacity negative / zero / 1e-300 /
                    NaN / ``"inf"``, metric 0, unknown devices, duplicate
                    interfaces, self-loops, probes naming unknown devices,
                    delays and coordinates out of range, queue profiles and
                    DSCP broken, lists repeated up to 2,000 entries); 25 %
                    valid values at the edges of their range; the text-level
                    mutations; 2 % YAML anchor/alias bombs (exponential,
                    recursive, merge keys) and deep nesting
==================  ===========================================================

The CLI's other input files (``service_config``, ``score_jsonl``, ``series_csv``, ``localize_obs``) are formats of
this harness too (:data:`CLI_FORMATS`; :func:`build_input`, :func:`check_library` and :func:`check_cli` dispatch
them): their seeds, mutations and invariants are in :mod:`tests.fuzz.cli_inputs`.

``native``, ``gnnet`` and ``network_yaml`` stack 1 mutation (60 %) or 2–3. Inputs are built in memory
(:func:`build_input` → :class:`FuzzInput`, relative path → bytes, with a content digest to
count distinct inputs) and written to disk for the reader (:meth:`FuzzInput.write`, over the
previous input in a reused folder, or :func:`make_input` into an empty one).

:func:`check_library` runs the reader (and, for a checkpoint that loads or a
scenario that validates, a prediction; for a network model that loads, its
routing with every link up and its probes' link coverage) under a watchdog and
returns ``"ok"`` or ``"refused"``; any other exception, a hang past the bound,
a prediction outside the physical bounds, or a loaded network model with a
capacity outside 1 .. 1e15 bits/s, a delay outside 0 .. 100 s, a metric < 1 or a
probe rate not finite and > 0 raises :class:`FuzzInvariantError`.
:func:`check_cli` runs ``twinwatch twin predict`` on the input with click's
``CliRunner`` and requires an exit status in {0, 1, 2, 3}, no traceback and,
with exit 0, no ``null`` in the output; for ``network_yaml`` it runs
``twinwatch network validate`` and requires exit 0 or 1, 1 exactly when the
library refuses the file.
"""

from __future__ import annotations

import contextlib
import copy
import copy as _copy  # ``copy`` is also a parameter name of mutate_tree
import functools
import gzip
import hashlib
import io
import json
import math
import random
import shutil
import signal
import struct
import tarfile
import tempfile
import time
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import orjson
import yaml

from tests.unit.twin._gnnet_toy import GML, ROUTING
from tests.unit.twin.netmodel._docs import lab_doc
from twinwatch.twin.yaml_safe import PlainTagMemo

__all__ = [
    "ALL_FORMATS",
    "CLI_FORMATS",
    "FORMATS",
    "FuzzInput",
    "FuzzInvariantError",
    "HangError",
    "build_input",
    "check_cli",
    "check_library",
    "make_input",
    "watchdog",
]

FORMATS = ("scenario_yaml", "native", "gnnet", "checkpoint", "network_yaml")

CLI_FORMATS = ("service_config", "score_jsonl", "series_csv", "localize_obs")
"""The CLI's other input files; their seeds, mutations and checks are in :mod:`tests.fuzz.cli_inputs`."""
ALL_FORMATS = FORMATS + CLI_FORMATS

TIME_BOUND_S = {"scenario_yaml": 2.0, "native": 2.0, "gnnet": 2.0, "checkpoint": 5.0, "network_yaml": 2.0,
                "service_config": 2.0, "score_jsonl": 2.0, "series_csv": 2.0, "localize_obs": 2.0}
"""Seconds one input may take in :func:`check_library` (a checkpoint builds a model and predicts)."""


class FuzzInvariantError(AssertionError):
    """An invariant broke; the message says which and on what input."""


class HangError(FuzzInvariantError):
    """The watchdog fired: an input took longer than its time bound."""


@contextlib.contextmanager
def watchdog(seconds: float, wall_factor: float = 20.0) -> Iterator[None]:
    """Raise :class:`HangError` in the main thread when the block uses more than ``seconds`` of CPU time.

    The bound is on the process's CPU time (``ITIMER_PROF``, SIGPROF): a runaway loop or a growing
    allocation trips it, while a fast input on a starved machine does not (a wall-clock bound once
    flagged an 83 ms input that waited behind six other jobs). A block that hangs without computing
    (blocked on I/O) trips the wall-clock backstop at ``wall_factor × seconds`` (``ITIMER_REAL``, SIGALRM).
    """

    def fire(signum: int, frame: object) -> None:
        what = "CPU" if signum == signal.SIGPROF else "wall-clock"
        limit = seconds if signum == signal.SIGPROF else seconds * wall_factor
        raise HangError(f"input took longer than {limit:g} s of {what} time")

    old_prof = signal.signal(signal.SIGPROF, fire)
    old_alrm = signal.signal(signal.SIGALRM, fire)
    signal.setitimer(signal.ITIMER_PROF, seconds)
    signal.setitimer(signal.ITIMER_REAL, seconds * wall_factor)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_PROF, 0)
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGPROF, old_prof)
        signal.signal(signal.SIGALRM, old_alrm)


# ------------------------------------------------------------- mutations
_UNICODE = ["", "ü", "\u202e", "\U0001f600", "名前", "\x00", "a" * 300, " ", "-", "*", "&x", "!!python/object", "~"]
_POOL: list[Any] = [
    0,
    -1,
    1,
    2,
    3,
    0.5,
    -0.5,
    1e-300,
    1e300,
    -1e300,
    float("nan"),
    float("inf"),
    float("-inf"),
    10**30,
    -(10**30),
    2**63,
    1e15,
    1e-9,
    True,
    False,
    None,
    "",
    "1e6",
    "nan",
    "A",
    "FIFO",
    "WFQ",
    "POISSON",
    [],
    {},
    [1, 2],
    [0, 1, 2, 3, 4, 5],
    {"a": 1},
    [[0, 1], [1, 0]],
    10**6,
]


def _value(rng: random.Random) -> Any:
    if rng.random() < 0.2:
        return rng.choice(_UNICODE) + rng.choice(_UNICODE)
    return copy.deepcopy(rng.choice(_POOL))


def _nodes(doc: Any, path: tuple[Any, ...] = ()) -> Iterator[tuple[tuple[Any, ...], Any]]:
    """Every (path, value) of a JSON-like tree, the root included."""
    yield path, doc
    if isinstance(doc, dict):
        for k, v in doc.items():
            yield from _nodes(v, (*path, k))
    elif isinstance(doc, list):
        for i, v in enumerate(doc):
            yield from _nodes(v, (*path, i))


def _get(doc: Any, path: tuple[Any, ...]) -> Any:
    for k in path:
        doc = doc[k]
    return doc


def mutate_tree(
    doc: Any, rng: random.Random, n: int = 1, *, copy: bool = True, paths: list[tuple[Any, ...]] | None = None
) -> Any:
    """``doc`` (a JSON/YAML tree) after ``n`` structure-aware mutations; each picks a node uniformly.

    A new object when ``copy`` (the default); with ``copy=False`` the tree is mutated in place
    (for a tree the caller has just parsed and owns) and the result may still be a new root.
    ``paths``, when given, are the node paths of ``doc`` as it is (e.g. cached for a seed that is
    parsed afresh for every input): the first mutation then skips walking the tree.
    """
    if copy:
        doc = _copy.deepcopy(doc)
    for i in range(n):
        if i == 0 and paths is not None:
            path = rng.choice(paths)
            nodes = None
            value = _get(doc, path)
        else:
            nodes = list(_nodes(doc))
            path, value = rng.choice(nodes)
        op = rng.randrange(10)
        if not path:  # the root: retype it sometimes, else mutate inside it
            if op == 0:
                doc = _value(rng)
            continue
        parent, key = _get(doc, path[:-1]), path[-1]
        if op == 0 and isinstance(parent, dict):
            del parent[key]  # drop a key
        elif op == 0 and isinstance(parent, list):
            del parent[key]
        elif op == 1:
            parent[key] = _value(rng)  # retype
        elif op == 2 and isinstance(value, (int, float)) and not isinstance(value, bool):
            parent[key] = rng.choice(
                [
                    0,
                    -value,
                    value * 1e300,
                    value * 1e-300,
                    float("nan"),
                    float("inf"),
                    -1,
                    value + 1,
                    value - 1,
                    value * 10,
                    int(value) if math.isfinite(value) else 0,
                ]
            )
        elif op == 3:
            parent[key] = [value] if rng.random() < 0.5 else {"x": value}  # wrong nesting
        elif op == 4 and isinstance(parent, dict):
            parent[rng.choice(_UNICODE) or "extra"] = value  # rename / add a key
            if rng.random() < 0.5:
                del parent[key]
        elif op == 5 and isinstance(parent, list):
            parent.insert(rng.randrange(len(parent) + 1), _copy.deepcopy(value))  # duplicate an element
        elif op == 6 and isinstance(value, list) and value:
            del value[rng.randrange(len(value)) :]  # truncate a list
        elif op == 7:
            other = _get(doc, rng.choice(paths)) if nodes is None else rng.choice(nodes)[1]  # type: ignore[arg-type]
            parent[key] = _copy.deepcopy(other)  # swap in another node's value
        elif op == 8 and isinstance(value, str):
            parent[key] = value + rng.choice(_UNICODE)
        else:
            parent[key] = None
    return doc


def _mutate_text(text: str, rng: random.Random) -> bytes:
    """Text-level mutations of a serialised document."""
    data = text.encode("utf-8")
    op = rng.randrange(8)
    lines = text.splitlines(keepends=True)
    if op == 0 and lines:
        i = rng.randrange(len(lines))
        lines.insert(i, lines[i])  # duplicate a line (duplicate keys in a mapping)
        return "".join(lines).encode("utf-8")
    if op == 1:
        return data[: rng.randrange(len(data) + 1)]  # truncate
    if op == 2 and data:
        i = rng.randrange(len(data))
        return data[:i] + bytes([rng.choice([0xFF, 0xC3, 0x80, 0x00, 0xFE])]) + data[i:]  # not UTF-8 / NUL
    if op == 3 and lines:
        i = rng.randrange(len(lines))
        lines[i] = "  " * rng.randrange(1, 4) + lines[i]  # wrong indentation
        return "".join(lines).encode("utf-8")
    return data


# ------------------------------------------------------------- seeds
SCENARIO_SEED: dict[str, Any] = {
    "version": 1,
    "name": "fuzz",
    "time_unit": "s",
    "defaults": {"policy": "WFQ", "weights": [60, 30, 10], "buffer_pkts": 64},
    "nodes": [
        {"name": "A", "lat": 40.0, "lon": -74.0},
        {"name": "B", "policy": "SP", "buffer_pkts": [32, 64, 128]},
        {"name": "C"},
        {"name": "D", "policy": "FIFO", "buffer_bits": 640000},
    ],
    "links": [
        {"src": "A", "dst": "B", "capacity_bps": 1.0e9, "prop_delay_s": 0.001, "bidirectional": True},
        {"src": "B", "dst": "C", "capacity_bps": 1.0e9, "prop_delay_s": 0.002, "bidirectional": True},
        {"src": "C", "dst": "D", "capacity_bps": 1.0e8, "prop_delay_s": 0.0005, "bidirectional": True},
    ],
    "routing": "shortest_path",
    "traffic": {
        "flows": [
            {"src": "A", "dst": "C", "rate_bps": 2.0e8, "pkt_size_bits": 8000, "time_dist": "POISSON", "tos": 0},
            {"src": "C", "dst": "A", "rate_bps": 1.0e8, "sizes_bits": [512, 12000], "size_probs": [0.4, 0.6]},
            {"src": "D", "dst": "B", "rate_bps": 5.0e7, "time_dist": "ONOFF", "on_s": 0.01, "off_s": 0.02, "tos": 2},
        ]
    },
}
SCENARIO_SEED_ROUTES: dict[str, Any] = {
    **SCENARIO_SEED,
    "routing": {
        "routes": [
            {"src": "A", "dst": "C", "path": ["A", "B", "C"]},
            {"src": "C", "dst": "A", "path": ["C", "B", "A"]},
            {"src": "D", "dst": "B", "path": ["D", "C", "B"]},
        ]
    },
    "traffic": {
        "matrix_bps": [[0, 0, 1e8, 0], [0, 0, 0, 0], [5e7, 0, 0, 0], [0, 1e7, 0, 0]],
        "classes": [{"share": 0.3, "tos": 0, "time_dist": "CBR"}, {"share": 0.7, "tos": 1}],
    },
}


def _gnnet_members(k: int = 2) -> dict[str, str]:
    """The result files of a valid 3-node GNNet tarball with ``k`` samples (datanetAPI layout)."""

    def result(delay: float) -> str:
        e = [
            "0,0,0,-1,-1,-1,-1,-1,-1,-1,-1"
            if a == b
            else f"100,{0.1 * (a + 1)},{0.01 * (a + 1)},{delay + a + b / 10},-1,1,1,1,1,1,0.5"
            for a in range(3)
            for b in range(3)
        ]
        return "1,2,3|" + ";".join(e) + ";"

    def traffic() -> str:
        e = [
            "-1,0,-1,0,0" if a == b else f"0,{100 * (a + 1)},{0.1 * (a + 1)},10,0,1000,{(a + b) % 3}"
            for a in range(3)
            for b in range(3)
        ]
        return "500|" + ";".join(e) + ";"

    return {
        "simulationResults.txt": "".join(result(0.5 + i) + "\n" for i in range(k)),
        "traffic.txt": "".join(traffic() + "\n" for _ in range(k)),
        "stability.txt": "".join(f"{100 + i};0.001;OK;Mem(KB):1;Time(s):1\n" for i in range(k)),
        "input_files.txt": "".join(f"{i};g.txt;r.txt\n" for i in range(k)),
    }


def _mutate_lines(text: str, rng: random.Random) -> str:
    """Mutate one field of one line of a ``;``/``,``/``|``-separated GNNet text file."""
    lines = text.split("\n")
    i = rng.randrange(len(lines))
    line = lines[i]
    op = rng.randrange(6)
    if op == 0:
        seps = [k for k, ch in enumerate(line) if ch in ",;|: "]
        if seps:
            k = rng.choice(seps)
            end = next((j for j in range(k + 1, len(line)) if line[j] in ",;|: "), len(line))
            token = rng.choice(["", "-1", "nan", "inf", "1e308", "-1e308", "abc", "ü", "9" * 40, "0", "0.0", "3"])
            line = line[: k + 1] + token + line[end:]
    elif op == 1:
        line = line[: rng.randrange(len(line) + 1)]
    elif op == 2:
        lines.insert(i, line)
    elif op == 3:
        del lines[i]
        line = None  # type: ignore[assignment]
    elif op == 4:
        line = line.replace(rng.choice([";", ",", "|", " "]), rng.choice(["", ";;", ",", "|"]), 1)
    else:
        line = line + rng.choice([";", ",1", "|", "\x00", "ü"])
    if line is not None:
        lines[i] = line
    return "\n".join(lines)


def _tar_bytes(stem: str, members: dict[str, bytes], *, gz: bool = True) -> bytes:
    """A tarball (gzip-compressed unless ``gz`` is False) holding ``members`` under the folder ``stem``."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(f"{stem}/{name}")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    raw = buf.getvalue()
    return gzip.compress(raw, mtime=0, compresslevel=1) if gz else raw


def _write_tar(path: Path, members: dict[str, bytes], *, gz: bool = True) -> None:
    stem = path.name[: -len(".tar.gz")] if path.name.endswith(".tar.gz") else path.stem
    path.write_bytes(_tar_bytes(stem, members, gz=gz))


def _flip(data: bytes, rng: random.Random, n: int = 4) -> bytes:
    b = bytearray(data)
    for _ in range(n):
        if b:
            b[rng.randrange(len(b))] = rng.randrange(256)
    return bytes(b)


# ------------------------------------------------------------- inputs
class FuzzInput:
    """One mutated input built in memory: the files of its folder and the path the reader is given.

    ``files`` maps a POSIX path relative to the input's folder to the file's bytes (every file
    of the input: a file absent from it is absent on disk); ``target`` is the relative path
    passed to the reader (a file or a folder). :meth:`digest` identifies the input's content,
    to count distinct inputs; :meth:`write` materialises it.
    """

    __slots__ = ("files", "target")

    def __init__(self, files: dict[str, bytes], target: str) -> None:
        self.files = files
        self.target = target

    def digest(self) -> bytes:
        """16-byte BLAKE2b digest of the target and every (path, bytes) pair, in path order."""
        h = hashlib.blake2b(self.target.encode(), digest_size=16)
        for name in sorted(self.files):
            data = self.files[name]
            h.update(b"\0%d\0%s\0" % (len(data), name.encode()))
            h.update(data)
        return h.digest()

    def write(self, work: Path, previous: FuzzInput | None = None) -> Path:
        """Write the files under ``work``; return the reader's path.

        ``work`` is empty, or holds exactly the files of ``previous`` (the last input written
        there): those this input lacks are deleted, so the folder holds this input and nothing
        else without being removed and made again for every input.
        """
        if previous is not None:
            for name in previous.files.keys() - self.files.keys():
                (work / name).unlink(missing_ok=True)
        for name, data in self.files.items():
            p = work / name
            try:
                p.write_bytes(data)
            except FileNotFoundError:
                p.parent.mkdir(parents=True, exist_ok=True)
                p.write_bytes(data)
        return work / self.target


def build_input(fmt: str, rng: random.Random) -> FuzzInput:
    """One mutated input of ``fmt``, in memory (no file written)."""
    if fmt in CLI_FORMATS:
        from tests.fuzz.cli_inputs import build_cli_input

        with warnings.catch_warnings(), np.errstate(all="ignore"):
            warnings.simplefilter("ignore")
            return build_cli_input(fmt, rng)
    make = {
        "scenario_yaml": _make_yaml,
        "native": _make_native,
        "gnnet": _make_gnnet,
        "checkpoint": _make_checkpoint,
        "network_yaml": _make_network_yaml,
    }[fmt]
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")  # the mutations themselves cast NaN to int, complex to real, ...
        return make(rng)


def make_input(fmt: str, rng: random.Random, work: Path) -> Path:
    """Write one mutated input of ``fmt`` under the empty folder ``work``; return the path to read."""
    return build_input(fmt, rng).write(work)


def _edge_values(doc: Any, rng: random.Random) -> Any:
    """Set a few numbers to the edges of their documented range (:data:`RANGES`): valid but extreme inputs."""
    from twinwatch.twin.datasets.scenario_yaml import RANGES

    key_ = id(doc)
    doc = _seed_copy(doc)
    spots = _EDGE_SPOTS.get(key_)
    if spots is None:  # the spots of a seed are the same for every input: found once
        spots = _EDGE_SPOTS[key_] = [
            (path, path[-1])
            for path, v in _nodes(doc)
            if path and isinstance(path[-1], str) and path[-1] in RANGES and isinstance(v, (int, float, list))
        ]
    for path, key in rng.sample(spots, min(len(spots), rng.randint(1, 4))):
        lo, hi, open_lo, _ = RANGES[key]
        edge = rng.choice([hi, lo * (1 + 1e-12) + (1e-12 if open_lo else 0.0)])
        parent = _get(doc, path[:-1])
        parent[key] = [edge] * len(parent[key]) if isinstance(parent[key], list) else edge
    return doc


_EDGE_SPOTS: dict[int, list[tuple[tuple[Any, ...], str]]] = {}
_SEED_JSON: dict[int, bytes] = {}


def _seed_copy(seed: dict[str, Any]) -> Any:
    """A fresh deep copy of a module-level seed tree (plain JSON data: an orjson round trip, ~10× ``deepcopy``)."""
    raw = _SEED_JSON.get(id(seed))
    if raw is None:
        raw = _SEED_JSON[id(seed)] = orjson.dumps(seed)
    return orjson.loads(raw)


class _YamlDumper(PlainTagMemo, getattr(yaml, "CSafeDumper", yaml.SafeDumper)):  # type: ignore[misc]
    """libyaml's emitter (PyYAML's pure-Python one else) with the plain-scalar tag resolution memoised
    (:class:`~twinwatch.twin.yaml_safe.PlainTagMemo`): byte-for-byte what the plain dumper writes."""

    _plain_tags: ClassVar[dict[str, str]] = {}


_YAML_DUMPER = _YamlDumper


def _emit_yaml(doc: Any, rng: random.Random, name: str) -> FuzzInput:
    """``doc`` written as YAML (block or flow style), its text mutated three times in ten: the file ``name``."""
    try:
        text = yaml.dump(
            doc, Dumper=_YAML_DUMPER, sort_keys=False, allow_unicode=True, default_flow_style=rng.random() < 0.3
        )
    except yaml.YAMLError:
        text = "{}"
    data = _mutate_text(text, rng) if rng.random() < 0.3 else text.encode("utf-8")
    return FuzzInput({name: data}, name)


def _make_yaml(rng: random.Random) -> FuzzInput:
    seed = SCENARIO_SEED if rng.random() < 0.5 else SCENARIO_SEED_ROUTES
    if rng.random() < 0.3:
        doc = _edge_values(seed, rng)  # valid, extreme: the models must still answer within physical bounds
    else:
        doc = mutate_tree(
            _seed_copy(seed),
            rng,
            1 if rng.random() < 0.6 else rng.randint(2, 3),
            copy=False,
            paths=_seed_paths(f"yaml:{id(seed)}", seed),
        )
    return _emit_yaml(doc, rng, "scenario.yaml")


# ------------------------------------------------------------- network-model YAML
NET_LAB_SEED: dict[str, Any] = lab_doc()
"""Three routers, two cables and two directed links (the network-model unit tests' lab document)."""
"""A small lab network (three routers: two cables and two one-way links, queue profiles, ToS classes, a probe)."""


@functools.cache
def net_seeds() -> tuple[dict[str, Any], ...]:
    """The network-model seeds: the canonical documents of the shipped ``abilene`` and ``nsfnet``, and the lab."""
    from twinwatch.twin.netmodel import document, load_network

    shipped = tuple(orjson.loads(orjson.dumps(document(load_network(n)))) for n in ("abilene", "nsfnet"))
    return (*shipped, NET_LAB_SEED)


_NET_BAD_CAPACITY: list[Any] = [-1e9, -1, 0, 0.0, "0", "0G", "-10G", "nan", "inf", ".inf", "1e400", 1e-300, "1e-300",
                                1e300, "1e300 T", float("nan"), float("inf"), float("-inf"), "10 Xbps", "", True, 1]
_NET_BAD_METRIC: list[Any] = [0, -1, 1.5, 2**24, 2**40, "10", float("nan"), None, True, 65535]
_NET_BAD_DELAY: list[Any] = [-1e-3, -0.0, 0, 1e300, float("inf"), float("nan"), "1ms", 1e-300, 100.0]


def _net_entry(doc: Any, key: str, rng: random.Random) -> dict[str, Any] | None:
    """A random mapping of the list ``doc[key]`` (None when there is none)."""
    items = doc.get(key) if isinstance(doc, dict) else None
    if not isinstance(items, list):
        return None
    maps = [x for x in items if isinstance(x, dict)]
    return rng.choice(maps) if maps else None


def _net_mutation(doc: Any, rng: random.Random) -> Any:
    """One network-model-aware mutation (in place): the mistakes operators make and the extremes a model must refuse."""
    if not isinstance(doc, dict):
        return doc
    op = rng.randrange(14)
    ln, dev, pr = _net_entry(doc, "links", rng), _net_entry(doc, "devices", rng), _net_entry(doc, "probes", rng)
    end = ln.get(rng.choice("ab")) if ln is not None else None
    end = end if isinstance(end, dict) else None
    if op == 0 and ln is not None:  # capacity: negative, zero, huge, tiny, NaN/inf as text or number
        ln["capacity_bps"] = rng.choice(_NET_BAD_CAPACITY)
    elif op == 1 and ln is not None:  # metric 0, negative, fractional, too large (on the link or one end)
        (end if end is not None and rng.random() < 0.5 else ln)["metric"] = rng.choice(_NET_BAD_METRIC)
    elif op == 2 and end is not None:  # a link end on an unknown device
        end["device"] = rng.choice(["ghost", "", "R1", "r1 ", "名前"])
    elif op == 3 and ln is not None and isinstance(doc.get("links"), list):  # a duplicate interface
        other = _net_entry(doc, "links", rng)
        src = other.get(rng.choice("ab")) if other is not None else None
        if isinstance(src, dict) and end is not None:
            end.update(_copy.deepcopy(src))
    elif op == 4 and ln is not None and isinstance(ln.get("a"), dict):  # a self-loop
        ln["b"] = {**(ln["b"] if isinstance(ln.get("b"), dict) else {}), "device": ln["a"].get("device")}
    elif op == 5:  # a probe naming an unknown device, or itself twice
        probe = pr if pr is not None else {"src": "x", "dst": "y", "rate_pps": 10, "size_bytes": 128}
        probe[rng.choice(["src", "dst"])] = rng.choice(["ghost", probe.get("src"), probe.get("dst"), 0])
        if pr is None:
            doc["probes"] = [probe]
    elif op == 6 and pr is not None:  # probe rate and size at and past their limits
        pr[rng.choice(["rate_pps", "size_bytes"])] = rng.choice([0, -1, 19, 20, 65535, 65536, 1e-300, 1e300,
                                                                   float("inf"), float("nan"), 1.5])
    elif op == 7 and ln is not None:  # delays and lengths: negative, huge, non-finite, both given
        ln[rng.choice(["delay_s", "length_km"])] = rng.choice(_NET_BAD_DELAY)
    elif op == 8 and dev is not None:  # coordinates out of range or half given
        dev[rng.choice(["lat", "lon"])] = rng.choice([999, -91, 90, 180, -180.0001, float("nan"), None, "48.8"])
    elif op == 9:  # reference bandwidth and default metric at their limits
        defaults = doc.setdefault("defaults", {})
        if isinstance(defaults, dict):
            key = rng.choice(["reference_bandwidth_bps", "metric"])
            defaults[key] = rng.choice(_NET_BAD_CAPACITY if key != "metric" else _NET_BAD_METRIC)
    elif op == 10:  # queue profiles: unknown policy, negative or missing weights, zero or huge buffers
        profs = doc.get("queue_profiles")
        if isinstance(profs, dict) and profs:
            p = profs[rng.choice(sorted(profs, key=str))]
            if isinstance(p, dict):
                key = rng.choice(["policy", "weights", "buffer"])
                p[key] = rng.choice({
                    "policy": ["RED", "fifo", "", "DRR", "WFQ", "SP"],
                    "weights": [[-1, 1, 1], [0, 0, 0], [1e300] * 3, [1] * 9, [], [float("nan")] * 3],
                    "buffer": [{"packets": 0}, {"packets": -1}, {"bytes": 1e300}, {"ms": float("inf")},
                               {"ms": 0}, {"packets": [1, 2]}, {"packets": 1, "ms": 1}, {}],
                }[key])
    elif op == 11 and isinstance(doc.get("tos_classes"), list):  # DSCP / ToS out of range or in two classes
        c = _net_entry(doc, "tos_classes", rng)
        if c is not None:
            c[rng.choice(["dscp", "tos", "class"])] = rng.choice([[64], [-1], [46], [256], 3, -1, [0, 0]])
    elif op == 12:  # giant lists, within reason: devices and links repeated (names then clash)
        for key in ("devices", "links", "probes"):
            if isinstance(doc.get(key), list) and doc[key] and rng.random() < 0.5:
                doc[key] = (doc[key] * rng.randint(2, 20))[:2000]
    elif op == 13 and dev is not None:  # prefixes and loopbacks: host bits, wrong family, garbage, owned twice
        dev[rng.choice(["prefixes", "loopback"])] = rng.choice([
            ["10.0.0.1/8"], ["198.51.100.0/24"], ["::/0", "0.0.0.0/0"], ["300.1.1.0/24"], "10.0.0.0/8",
            {"ipv4": "2001:db8::1"}, {"ipv6": "10.0.0.1"}, {"ipv4": "10.255.0.1"}, {"ipv4": "x"}, {}])
    return doc


_NET_BOMB_HEAD = (
    "version: 1\nname: bomb\ndevices: [{name: a}, {name: b}]\n"
    "links: [{a: {device: a, interface: e0}, b: {device: b, interface: e0}, capacity_bps: 1G}]\n"
)
"""A valid two-router document that the bombs extend or replace a key of."""


def _net_bomb(rng: random.Random) -> bytes:
    """A YAML document that abuses anchors and aliases: exponential expansion, a recursive alias, deep nesting."""
    kind = rng.randrange(4)
    head = _NET_BOMB_HEAD
    if kind == 0:  # billion laughs under a key the schema walks into (or not)
        key = rng.choice(["meta", "description", "devices", "links", "probes", "tos_classes", "queue_profiles"])
        lines = ["x0: &l0 [x, x, x, x, x, x, x, x, x, x]"]
        lines += [f"x{i}: &l{i} [" + ", ".join([f"*l{i - 1}"] * 10) + "]" for i in range(1, rng.randint(3, 9))]
        body = "\n".join(f"  {line}" for line in lines)
        text = head.replace(f"{key}:", f"{key}_old:") + f"{key}:\n{body}\n"
    elif kind == 1:  # a recursive alias
        key = rng.choice(["meta", "devices", "links", "probes", "name"])
        text = head.replace(f"{key}:", f"{key}_old:") + f"{key}: &r [*r]\n"
    elif kind == 2:  # merge keys repeated
        text = head + "meta: &m {a: 1}\nextra: {<<: [*m, *m, *m], b: *m}\n"
    else:  # nesting far deeper than any file
        depth = rng.choice([100, 1000, 10_000])
        text = head + "meta: " + "[" * depth + "]" * depth + "\n"
    return text.encode("utf-8")


_NET_EDGES: dict[str, dict[str, list[Any]]] = {
    # valid values at the edges of the documented ranges (twinwatch.twin.netmodel.load CAPACITY_RANGE_BPS, ...)
    "links": {"capacity_bps": [1, 1.0, "1", 1e15, "1000T", "1e15 bps"], "delay_s": [0, 0.0, 100.0],
              "length_km": [0, 2e7], "metric": [1, 16777215]},
    "devices": {"lat": [-90, 90, 0], "lon": [-180, 180, 0]},
    "probes": {"rate_pps": [1e-300, 1e-9, 1e9], "size_bytes": [20, 65535]},
}


def _net_edges(doc: dict[str, Any], rng: random.Random) -> dict[str, Any]:
    """Set 1-4 values to the edges of their valid range (the model must still load, route and cover probes)."""
    for _ in range(rng.randint(1, 4)):
        key = rng.choice(sorted(_NET_EDGES))
        entry = _net_entry(doc, key, rng)
        if entry is not None:
            field = rng.choice(sorted(_NET_EDGES[key]))
            if field == "length_km":
                entry.pop("delay_s", None)
            elif field == "delay_s":
                entry.pop("length_km", None)
            entry[field] = rng.choice(_NET_EDGES[key][field])
    return doc


def _make_network_yaml(rng: random.Random) -> FuzzInput:
    seeds = net_seeds()
    seed = rng.choice(seeds)
    if rng.random() < 0.02:
        return FuzzInput({"network.yaml": _net_bomb(rng)}, "network.yaml")
    doc = _seed_copy(seed)
    if rng.random() < 0.25:  # valid, extreme: the routing and the probe coverage must still compute
        doc = _net_edges(doc, rng)
        text = yaml.dump(doc, Dumper=_YAML_DUMPER, sort_keys=False, allow_unicode=True)
        return FuzzInput({"network.yaml": text.encode("utf-8")}, "network.yaml")
    for _ in range(_n_ops(rng)):
        if rng.random() < 0.5:
            doc = _net_mutation(doc, rng)
        else:
            doc = mutate_tree(doc, rng, 1, copy=False, paths=None)
    return _emit_yaml(doc, rng, "network.yaml")


def _native_seed(root: Path) -> None:
    from twinwatch.twin.datasets.native import write_manifest, write_sample
    from twinwatch.twin.kpis import Labels
    from twinwatch.twin.scenario import Flow, Scenario

    sc = Scenario.build(
        3,
        [(0, 1, 1e6, 0.001), (1, 2, 1e6, 0.002), (1, 0, 1e6, 0.001), (2, 1, 1e6, 0.002)],
        {(0, 2): [0, 1, 2], (2, 0): [2, 1, 0]},
        [Flow(0, 2, 2e5, 8000.0), Flow(2, 0, 1e5, 4000.0)],
        name="seed",
        meta={"rho_max": 0.2},
    )
    lab = Labels.empty(n_paths=2, n_links=4)
    lab.path_delay_s[:] = [0.0201, 0.0105]
    lab.path_jitter_s2[:] = [1e-6, 2e-6]
    lab.path_loss_ratio[:] = 0.0
    write_manifest(root, {"n_samples": 2, "seed": 1})
    meta = {
        "seed": 1,
        "sim_time": 10.0,
        "packet_hops": 100,
        "packets_generated": 50,
        "wall_time_s": 0.1,
        "converged": True,
    }
    for i in range(2):
        write_sample(root, i, sc, lab, extras={"path_delay_ci": np.array([1e-4, 2e-4])}, meta=meta)


_NATIVE_CACHE: dict[str, bytes] = {}
_NATIVE_ARRAYS: dict[str, dict[str, np.ndarray]] = {}


def _native_files() -> dict[str, bytes]:
    """The seed dataset's files (relative path → bytes), written once by the product's own writer."""
    if not _NATIVE_CACHE:
        with tempfile.TemporaryDirectory(prefix="twinwatch-fuzz-seed-") as tmp:
            _native_seed(Path(tmp))
            _NATIVE_CACHE.update(
                {p.relative_to(tmp).as_posix(): p.read_bytes() for p in Path(tmp).rglob("*") if p.is_file()}
            )
    return _NATIVE_CACHE


def _native_arrays(name: str, data: bytes) -> dict[str, np.ndarray]:
    """The arrays of the seed sample ``name`` (read once, read-only: mutations replace, never write into them)."""
    if name not in _NATIVE_ARRAYS:
        with np.load(io.BytesIO(data), allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}
        for a in arrays.values():
            a.flags.writeable = False
        _NATIVE_ARRAYS[name] = arrays
    return _NATIVE_ARRAYS[name]


def _make_native(rng: random.Random) -> FuzzInput:
    files = {f"ds/{rel}": data for rel, data in _native_files().items()}
    rebuilt: dict[str, dict[str, np.ndarray]] = {}  # samples whose members are being changed

    def flush(sample: str) -> None:
        if sample in rebuilt:
            buf = io.BytesIO()
            np.savez(buf, **rebuilt.pop(sample))  # an object array is pickled here; the reader must refuse it
            files[sample] = buf.getvalue()

    for _ in range(_n_ops(rng)):
        target = rng.randrange(5)
        sample = f"ds/samples/sample_00000{rng.randrange(2)}.npz"
        if target == 0:  # the manifest
            try:
                doc = json.loads(files["ds/manifest.json"])
            except ValueError:  # an earlier op already broke it
                continue
            text = json.dumps(mutate_tree(doc, rng, rng.randint(1, 3), copy=False), allow_nan=True)
            files["ds/manifest.json"] = _mutate_text(text, rng) if rng.random() < 0.3 else text.encode()
        elif sample not in files:  # deleted by an earlier op
            continue
        elif target == 1:  # raw bytes of a sample
            flush(sample)
            data = files[sample]
            files[sample] = data[: rng.randrange(max(len(data), 1))] if rng.random() < 0.5 else _flip(data, rng, 8)
        elif target == 2:  # a deleted sample
            rebuilt.pop(sample, None)
            del files[sample]
        elif sample in rebuilt or files[sample] == _native_files()[sample[3:]]:  # one member changed (intact file)
            arrays = rebuilt.setdefault(sample, dict(_native_arrays(sample, files[sample])))
            _mutate_member(arrays, rng)
    for sample in list(rebuilt):
        flush(sample)
    return FuzzInput(files, "ds")


def _mutate_member(arrays: dict[str, np.ndarray], rng: random.Random) -> None:
    """Change one member of a sample's arrays (replaced, never written into: the seed arrays are shared)."""
    if not arrays:
        return
    key = rng.choice(sorted(arrays))
    op = rng.randrange(7)
    if key == "meta_json" and op < 4:
        try:
            meta = json.loads(arrays[key].tobytes())
        except ValueError:  # an earlier op already broke it
            return
        text = json.dumps(mutate_tree(meta, rng, rng.randint(1, 2), copy=False), allow_nan=True)
        arrays[key] = np.frombuffer(_mutate_text(text, rng) if rng.random() < 0.3 else text.encode(), np.uint8)
    elif op == 0:
        del arrays[key]
    elif op == 1:
        dtype = rng.choice([np.float32, np.int8, np.uint64, np.bool_, np.complex64])
        with contextlib.suppress(TypeError, ValueError):  # an object array from an earlier op stays as it is
            arrays[key] = arrays[key].astype(dtype)
    elif op == 2:
        arrays[key] = np.resize(arrays[key], rng.choice([(0,), (7,), (2, 2, 2), (1,)]))
    elif op == 3:
        arrays[key] = np.array([{"x": 1}, None], dtype=object)
    elif op == 4 and arrays[key].dtype.kind in "fiu":
        a = arrays[key].astype(np.float64)  # a new array: the cached seed stays as it is
        if a.size:
            a.flat[rng.randrange(a.size)] = rng.choice([np.nan, np.inf, -1.0, 1e300, -1e300, 0.0, 2.0**62])
        arrays[key] = a.astype(arrays[key].dtype) if rng.random() < 0.5 and np.isfinite(a).all() else a
    else:
        arrays[key] = np.array(rng.choice(["text", 1e300, -5, 2**62]))


_GNNET_MEMBERS: dict[str, bytes] = {}


def _n_ops(rng: random.Random) -> int:
    """How many mutations one input stacks: 1 (60 %), else 2 or 3."""
    return 1 if rng.random() < 0.6 else rng.randint(2, 3)


def _make_gnnet(rng: random.Random) -> FuzzInput:
    gml, routing = GML, ROUTING
    if not _GNNET_MEMBERS:
        _GNNET_MEMBERS.update({k: v.encode() for k, v in _gnnet_members().items()})
    members = dict(_GNNET_MEMBERS)
    ops = [rng.randrange(9) for _ in range(_n_ops(rng))]
    for op in ops:
        if op <= 2:  # a line/field of a result file
            name = rng.choice(sorted(members))
            text = members[name].decode("utf-8", "surrogateescape")  # an earlier op may have flipped bytes
            members[name] = _mutate_lines(text, rng).encode("utf-8", "surrogateescape")
        elif op == 3:
            del members[rng.choice(sorted(members))]
        elif op == 4:
            name = rng.choice(sorted(members))
            members[rng.choice(["linkUsage.txt", "junk.bin", name.upper(), "../evil.txt"])] = (
                members.pop(name) if rng.random() < 0.5 else _flip(members[name], rng)
            )
        elif op == 5:
            gml = _mutate_lines(gml, rng) if rng.random() < 0.5 else gml[: rng.randrange(max(len(gml), 1))]
        elif op == 6:
            routing = _mutate_lines(routing, rng)
    tb = _tar_bytes("results_3_0_2", members, gz=7 not in ops)
    if 8 in ops:
        kind = rng.randrange(3)
        tb = (
            tb[: rng.randrange(len(tb))]
            if kind == 0
            else _flip(tb, rng, 6)
            if kind == 1
            else gzip.compress(rng.randbytes(rng.randrange(1, 2000)), compresslevel=1)
        )
    files = {
        "gnnet/graphs/g.txt": gml.encode("utf-8"),
        "gnnet/routings/r.txt": routing.encode("utf-8"),
        "gnnet/results_3_0_2.tar.gz": tb,
    }
    return FuzzInput(files, "gnnet")


_CKPT_CACHE: dict[str, dict[str, bytes]] = {}
_SEED_PATHS: dict[str, list[tuple[Any, ...]]] = {}


def _seed_paths(key: str, doc: Any) -> list[tuple[Any, ...]]:
    """The node paths of a seed tree (computed once per ``key``; ``doc`` is a fresh parse of that seed)."""
    if key not in _SEED_PATHS:
        _SEED_PATHS[key] = [path for path, _ in _nodes(doc)]
    return _SEED_PATHS[key]


def _make_checkpoint(rng: random.Random) -> FuzzInput:
    from twinwatch.twin.models.gnn import DEFAULT_CHECKPOINT
    from twinwatch.twin.models.mlp import DEFAULT_MLP_CHECKPOINT

    kind = "mlp" if rng.random() < 0.7 else "gnn"
    if kind not in _CKPT_CACHE:
        src = DEFAULT_MLP_CHECKPOINT if kind == "mlp" else DEFAULT_CHECKPOINT
        _CKPT_CACHE[kind] = {n: (src / n).read_bytes() for n in ("config.json", "model.safetensors")}
    files = dict(_CKPT_CACHE[kind])
    op = rng.randrange(6)
    if op <= 1:
        cfg = orjson.loads(files["config.json"])  # a new tree (the seed is plain JSON): mutated in place
        text = json.dumps(
            mutate_tree(cfg, rng, rng.randint(1, 3), copy=False, paths=_seed_paths(kind, cfg)), allow_nan=True
        )
        files["config.json"] = _mutate_text(text, rng) if rng.random() < 0.2 else text.encode()
    elif op <= 3:
        raw = files["model.safetensors"]
        (n,) = struct.unpack("<Q", raw[:8])
        header = json.loads(raw[8 : 8 + n])
        header = mutate_tree(header, rng, rng.randint(1, 2), copy=False, paths=_seed_paths(f"{kind}.header", header))
        hb = json.dumps(header).encode()
        hb += b" " * (-len(hb) % 8)
        length = len(hb) if rng.random() < 0.8 else rng.choice([0, len(hb) + 8, 2**40, len(hb) - 1])
        files["model.safetensors"] = struct.pack("<Q", max(length, 0)) + hb + raw[8 + n :]
    elif op == 4:
        raw = files["model.safetensors"]
        files["model.safetensors"] = raw[: rng.randrange(len(raw))]
    else:
        name = rng.choice(["config.json", "model.safetensors"])
        files[name] = _flip(files[name], rng, 6)
    return FuzzInput({f"{kind}/{name}": data for name, data in files.items()}, kind)


# ------------------------------------------------------------- checks
def _check_prediction(sc: Any, pred: Any, what: str) -> None:
    from twinwatch.twin.models.bounds import path_delay_floor

    floor = path_delay_floor(sc)
    d, loss = pred.path_delay_s, pred.path_loss_ratio
    with np.errstate(invalid="ignore"):
        if (np.isfinite(d) & (d < floor * (1 - 1e-9))).any():
            raise FuzzInvariantError(f"{what}: a delay is below the physical floor")
        if (np.isfinite(loss) & ((loss < 0) | (loss > 1))).any():
            raise FuzzInvariantError(f"{what}: a loss ratio is outside [0, 1]")
        if np.isinf(d).any():
            raise FuzzInvariantError(f"{what}: an infinite delay")


@functools.cache
def _triangle() -> Any:
    """The 3-node scenario a loaded checkpoint predicts (built once: models read it, never write it)."""
    from twinwatch.twin.scenario import Flow, Scenario

    return Scenario.build(
        3,
        [(0, 1, 1e4, 0.01), (1, 2, 1e4, 0.02), (1, 0, 1e4, 0.01), (2, 1, 1e4, 0.02)],
        {(0, 2): [0, 1, 2], (2, 0): [2, 1, 0]},
        [Flow(0, 2, 3e3, 1000.0), Flow(2, 0, 1e3, 1000.0)],
    )


def _check_network(path: Path) -> None:
    """Load a network model; when it loads, its values must be physical and its routing and probes must compute."""
    from twinwatch.twin.netmodel import NetworkModelWarning, load_network_model
    from twinwatch.twin.netmodel.load import CAPACITY_RANGE_BPS, MAX_DELAY_S
    from twinwatch.twin.probes import probed_links
    from twinwatch.twin.snapshot import SnapshotBuilder

    warnings.simplefilter("ignore", NetworkModelWarning)  # a mutated network may be disconnected: valid, said so
    m = load_network_model(path)
    what = f"network_yaml: a loaded model ({m.n_nodes} devices, {m.n_links} links)"
    cap, delay = m.link_capacity_bps, m.link_prop_delay_s
    if m.n_links == 0 or m.n_nodes < 2:
        raise FuzzInvariantError(f"{what} has no links or fewer than 2 devices")
    lo, hi = CAPACITY_RANGE_BPS
    if not ((cap >= lo) & (cap <= hi)).all():  # NaN fails too
        raise FuzzInvariantError(f"{what}: a capacity is outside {lo:g} .. {hi:g} bits/s: {cap[~(cap >= lo)]}")
    if not ((delay >= 0) & (delay <= MAX_DELAY_S)).all():
        raise FuzzInvariantError(f"{what}: a propagation delay is not within 0 .. {MAX_DELAY_S:g} s")
    if (m.link_metric < 1).any():
        raise FuzzInvariantError(f"{what}: an IGP metric is < 1")
    rate, size = m.probe_rate_pps, m.probe_size_bits
    if not (np.isfinite(rate) & (rate > 0) & np.isfinite(size) & (size > 0)).all():
        raise FuzzInvariantError(f"{what}: a probe rate or size is not finite and > 0")
    routing = SnapshotBuilder(m).routing(np.ones(m.n_links, dtype=bool))
    covered = probed_links(routing, m.probe_src, m.probe_dst, m.probe_class)
    if covered.shape != (m.n_links,):
        raise FuzzInvariantError(f"{what}: probe coverage has shape {covered.shape}, not ({m.n_links},)")


def _qt() -> Any:
    from twinwatch.twin.models.qt import QueueingModel

    return QueueingModel()


def check_library(fmt: str, path: Path) -> str:
    """Read ``path`` as ``fmt`` under the watchdog; ``"ok"`` or ``"refused"``, else :class:`FuzzInvariantError`."""
    if fmt in CLI_FORMATS:
        from tests.fuzz.cli_inputs import check_library_format

        return check_library_format(fmt, path)
    from twinwatch.twin.checkpoint import CheckpointError
    from twinwatch.twin.datasets import DatasetError, iter_samples
    from twinwatch.twin.datasets.scenario_yaml import ScenarioFileError, load_scenario_yaml
    from twinwatch.twin.netmodel import NetworkModelError

    allowed: tuple[type[BaseException], ...] = {
        "scenario_yaml": (ScenarioFileError,),
        "native": (DatasetError,),
        "gnnet": (DatasetError,),
        "checkpoint": (CheckpointError,),
        "network_yaml": (NetworkModelError,),
    }[fmt]
    try:
        with watchdog(TIME_BOUND_S[fmt]), warnings.catch_warnings():
            warnings.simplefilter("error", RuntimeWarning)  # a raw NumPy warning is a failure too
            warnings.filterwarnings("ignore", category=DeprecationWarning)
            if fmt == "scenario_yaml":
                sc = load_scenario_yaml(path)
                _check_prediction(sc, _qt().predict(sc), "qt on a validated scenario")
            elif fmt == "network_yaml":
                _check_network(path)
            elif fmt in ("native", "gnnet"):
                for s in iter_samples(path):
                    assert s.scenario.n_paths >= 0
            else:
                from twinwatch.twin.models.bounds import OutOfDomainWarning
                from twinwatch.twin.models.gnn import GNNModel
                from twinwatch.twin.models.mlp import MLPModel

                warnings.simplefilter("ignore", OutOfDomainWarning)  # a mutated mean/std may say so: fine
                model = (MLPModel if path.name == "mlp" else GNNModel).load(path)
                sc = _triangle()
                _check_prediction(sc, model.predict(sc), f"{path.name} from a mutated checkpoint")
    except HangError:
        raise
    except allowed:
        return "refused"
    except FuzzInvariantError:
        raise
    except BaseException as exc:  # anything else escaping is the failure we look for
        raise FuzzInvariantError(f"{fmt}: {type(exc).__name__} escaped: {exc!r}"[:2000]) from exc
    return "ok"


def check_cli(fmt: str, path: Path, runner: Any | None = None) -> int:
    """Run ``twinwatch twin predict`` (``network validate`` for ``network_yaml``) on ``path``; the exit status.

    Else :class:`FuzzInvariantError`. For ``network_yaml`` the status must be 0 or 1, and 1 exactly when
    :func:`check_library` refuses the file (the CLI and the library agree on what is valid).
    """
    if fmt in CLI_FORMATS:
        from tests.fuzz.cli_inputs import check_cli_format

        return check_cli_format(fmt, path, runner)
    from click.testing import CliRunner

    from twinwatch.stream.cli import cli
    from twinwatch.twin.data import bundled_scenario_path

    runner = runner or CliRunner()
    if fmt == "checkpoint":
        args = ["twin", "predict", str(bundled_scenario_path()), "--model", path.name, "--checkpoint", str(path)]
    elif fmt == "network_yaml":
        args = ["network", "validate", str(path)]
    else:
        args = ["twin", "predict", str(path), "--model", "qt"]
    t0 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = runner.invoke(cli, args if fmt == "network_yaml" else [*args, "--no-progress"])
    if res.exit_code not in ((0, 1) if fmt == "network_yaml" else (0, 1, 2, 3)):
        raise FuzzInvariantError(f"{fmt}: exit status {res.exit_code}: {res.output[-1500:]}")
    if res.exception is not None and not isinstance(res.exception, SystemExit):
        raise FuzzInvariantError(f"{fmt}: {type(res.exception).__name__} escaped the CLI: {res.exception!r}")
    if "Traceback" in res.output:
        raise FuzzInvariantError(f"{fmt}: traceback in the output: {res.output[-1500:]}")
    if fmt == "network_yaml":
        refused = check_library(fmt, path) == "refused"
        if refused != (res.exit_code == 1):
            raise FuzzInvariantError(f"{fmt}: the CLI exits {res.exit_code} but the library "
                                     f"{'refuses' if refused else 'accepts'} the file: {res.output[-1500:]}")
    elif res.exit_code == 0 and "null" in res.stdout:
        raise FuzzInvariantError(f"{fmt}: null values with exit status 0")
    if time.perf_counter() - t0 > 30:
        raise FuzzInvariantError(f"{fmt}: the CLI took {time.perf_counter() - t0:.1f} s")
    return res.exit_code


def fresh_dir(base: Path, k: int) -> Path:
    """An empty folder ``base/k`` (removed first when it exists)."""
    d = base / str(k)
    if d.exists():
        shutil.rmtree(d)
    d.mkdir(parents=True)
    return d


def run_one(
    fmt: str,
    rng: random.Random,
    base: Path,
    k: int,
    *,
    cli: bool = False,
    on_input: Callable[[Path], None] | None = None,
) -> tuple[str, int | None]:
    """Make input ``k`` of ``fmt`` and check it (library, and the CLI when ``cli``)."""
    work = fresh_dir(base, k % 4)
    path = make_input(fmt, rng, work)
    if on_input is not None:
        on_input(path)
    outcome = check_library(fmt, path)
    code = check_cli(fmt, path) if cli else None
    return outcome, code
