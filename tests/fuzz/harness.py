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
==================  ===========================================================

:func:`check_library` runs the reader (and, for a checkpoint that loads or a
scenario that validates, a prediction) under a watchdog and returns
``"ok"`` or ``"refused"``; any other exception, a hang past the bound, or a
prediction outside the physical bounds raises :class:`FuzzInvariantError`.
:func:`check_cli` runs ``twinwatch twin predict`` on the input with click's
``CliRunner`` and requires an exit status in {0, 1, 2, 3}, no traceback and,
with exit 0, no ``null`` in the output.
"""

from __future__ import annotations

import contextlib
import copy
import gzip
import io
import json
import math
import random
import shutil
import signal
import struct
import tarfile
import time
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from tests.unit.twin._gnnet_toy import GML, ROUTING

__all__ = ["FORMATS", "FuzzInvariantError", "HangError", "check_cli", "check_library", "make_input", "watchdog"]

FORMATS = ("scenario_yaml", "native", "gnnet", "checkpoint")

TIME_BOUND_S = {"scenario_yaml": 2.0, "native": 2.0, "gnnet": 2.0, "checkpoint": 5.0}
"""Seconds one input may take in :func:`check_library` (a checkpoint builds a model and predicts)."""


class FuzzInvariantError(AssertionError):
    """An invariant broke; the message says which and on what input."""


class HangError(FuzzInvariantError):
    """The watchdog fired: an input took longer than its time bound."""


@contextlib.contextmanager
def watchdog(seconds: float) -> Iterator[None]:
    """Raise :class:`HangError` in the main thread when the block runs longer than ``seconds`` (SIGALRM)."""

    def fire(signum: int, frame: object) -> None:
        raise HangError(f"input took longer than {seconds} s")

    old = signal.signal(signal.SIGALRM, fire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


# ------------------------------------------------------------- mutations
_UNICODE = ["", "ü", "\u202e", "\U0001f600", "名前", "\x00", "a" * 300, " ", "-", "*", "&x", "!!python/object", "~"]
_POOL: list[Any] = [0, -1, 1, 2, 3, 0.5, -0.5, 1e-300, 1e300, -1e300, float("nan"), float("inf"), float("-inf"),
                    10**30, -(10**30), 2**63, 1e15, 1e-9, True, False, None, "", "1e6", "nan", "A", "FIFO", "WFQ",
                    "POISSON", [], {}, [1, 2], [0, 1, 2, 3, 4, 5], {"a": 1}, [[0, 1], [1, 0]], 10**6]


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


def mutate_tree(doc: Any, rng: random.Random, n: int = 1, *, max_nodes: int = 4000) -> Any:
    """``doc`` (a JSON/YAML tree) after ``n`` structure-aware mutations (a new object)."""
    doc = copy.deepcopy(doc)
    for _ in range(n):
        nodes = list(_nodes(doc))
        if len(nodes) > max_nodes:
            nodes = rng.sample(nodes, max_nodes)
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
            parent[key] = rng.choice([0, -value, value * 1e300, value * 1e-300, float("nan"), float("inf"), -1,
                                      value + 1, value - 1, value * 10, int(value) if math.isfinite(value) else 0])
        elif op == 3:
            parent[key] = [value] if rng.random() < 0.5 else {"x": value}  # wrong nesting
        elif op == 4 and isinstance(parent, dict):
            parent[rng.choice(_UNICODE) or "extra"] = value  # rename / add a key
            if rng.random() < 0.5:
                del parent[key]
        elif op == 5 and isinstance(parent, list):
            parent.insert(rng.randrange(len(parent) + 1), copy.deepcopy(value))  # duplicate an element
        elif op == 6 and isinstance(value, list) and value:
            del value[rng.randrange(len(value)):]  # truncate a list
        elif op == 7:
            other = rng.choice(nodes)[1]
            parent[key] = copy.deepcopy(other)  # swap in another node's value
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
    "nodes": [{"name": "A", "lat": 40.0, "lon": -74.0}, {"name": "B", "policy": "SP", "buffer_pkts": [32, 64, 128]},
              {"name": "C"}, {"name": "D", "policy": "FIFO", "buffer_bits": 640000}],
    "links": [
        {"src": "A", "dst": "B", "capacity_bps": 1.0e9, "prop_delay_s": 0.001, "bidirectional": True},
        {"src": "B", "dst": "C", "capacity_bps": 1.0e9, "prop_delay_s": 0.002, "bidirectional": True},
        {"src": "C", "dst": "D", "capacity_bps": 1.0e8, "prop_delay_s": 0.0005, "bidirectional": True},
    ],
    "routing": "shortest_path",
    "traffic": {"flows": [
        {"src": "A", "dst": "C", "rate_bps": 2.0e8, "pkt_size_bits": 8000, "time_dist": "POISSON", "tos": 0},
        {"src": "C", "dst": "A", "rate_bps": 1.0e8, "sizes_bits": [512, 12000], "size_probs": [0.4, 0.6]},
        {"src": "D", "dst": "B", "rate_bps": 5.0e7, "time_dist": "ONOFF", "on_s": 0.01, "off_s": 0.02, "tos": 2},
    ]},
}
SCENARIO_SEED_ROUTES: dict[str, Any] = {
    **SCENARIO_SEED,
    "routing": {"routes": [{"src": "A", "dst": "C", "path": ["A", "B", "C"]},
                           {"src": "C", "dst": "A", "path": ["C", "B", "A"]},
                           {"src": "D", "dst": "B", "path": ["D", "C", "B"]}]},
    "traffic": {"matrix_bps": [[0, 0, 1e8, 0], [0, 0, 0, 0], [5e7, 0, 0, 0], [0, 1e7, 0, 0]],
                "classes": [{"share": 0.3, "tos": 0, "time_dist": "CBR"}, {"share": 0.7, "tos": 1}]},
}



def _gnnet_members(k: int = 2) -> dict[str, str]:
    """The result files of a valid 3-node GNNet tarball with ``k`` samples (datanetAPI layout)."""
    def result(delay: float) -> str:
        e = ["0,0,0,-1,-1,-1,-1,-1,-1,-1,-1" if a == b else
             f"100,{0.1 * (a + 1)},{0.01 * (a + 1)},{delay + a + b / 10},-1,1,1,1,1,1,0.5"
             for a in range(3) for b in range(3)]
        return "1,2,3|" + ";".join(e) + ";"

    def traffic() -> str:
        e = ["-1,0,-1,0,0" if a == b else f"0,{100 * (a + 1)},{0.1 * (a + 1)},10,0,1000,{(a + b) % 3}"
             for a in range(3) for b in range(3)]
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


def _write_tar(path: Path, members: dict[str, bytes], *, gz: bool = True) -> None:
    stem = path.name[: -len(".tar.gz")] if path.name.endswith(".tar.gz") else path.stem
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(f"{stem}/{name}")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    raw = buf.getvalue()
    path.write_bytes(gzip.compress(raw, mtime=0) if gz else raw)


def _flip(data: bytes, rng: random.Random, n: int = 4) -> bytes:
    b = bytearray(data)
    for _ in range(n):
        if b:
            b[rng.randrange(len(b))] = rng.randrange(256)
    return bytes(b)


# ------------------------------------------------------------- inputs
def make_input(fmt: str, rng: random.Random, work: Path) -> Path:
    """Write one mutated input of ``fmt`` under the empty folder ``work``; return the path to read."""
    make = {"scenario_yaml": _make_yaml, "native": _make_native, "gnnet": _make_gnnet,
            "checkpoint": _make_checkpoint}[fmt]
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")  # the mutations themselves cast NaN to int, complex to real, ...
        return make(rng, work)


def _edge_values(doc: Any, rng: random.Random) -> Any:
    """Set a few numbers to the edges of their documented range (:data:`RANGES`): valid but extreme inputs."""
    from twinwatch.twin.datasets.scenario_yaml import RANGES

    doc = copy.deepcopy(doc)
    spots = [(path, path[-1]) for path, v in _nodes(doc) if path and isinstance(path[-1], str) and path[-1] in RANGES
             and isinstance(v, (int, float, list))]
    for path, key in rng.sample(spots, min(len(spots), rng.randint(1, 4))):
        lo, hi, open_lo, _ = RANGES[key]
        edge = rng.choice([hi, lo * (1 + 1e-12) + (1e-12 if open_lo else 0.0)])
        parent = _get(doc, path[:-1])
        parent[key] = [edge] * len(parent[key]) if isinstance(parent[key], list) else edge
    return doc


def _make_yaml(rng: random.Random, work: Path) -> Path:
    seed = SCENARIO_SEED if rng.random() < 0.5 else SCENARIO_SEED_ROUTES
    if rng.random() < 0.3:
        doc = _edge_values(seed, rng)  # valid, extreme: the models must still answer within physical bounds
    else:
        doc = mutate_tree(seed, rng, 1 if rng.random() < 0.6 else rng.randint(2, 3))
    try:
        text = yaml.safe_dump(doc, sort_keys=False, allow_unicode=True, default_flow_style=rng.random() < 0.3)
    except yaml.YAMLError:
        text = "{}"
    path = work / "scenario.yaml"
    path.write_bytes(_mutate_text(text, rng) if rng.random() < 0.3 else text.encode("utf-8"))
    return path


def _native_seed(root: Path) -> None:
    from twinwatch.twin.datasets.native import write_manifest, write_sample
    from twinwatch.twin.kpis import Labels
    from twinwatch.twin.scenario import Flow, Scenario

    sc = Scenario.build(3, [(0, 1, 1e6, 0.001), (1, 2, 1e6, 0.002), (1, 0, 1e6, 0.001), (2, 1, 1e6, 0.002)],
                        {(0, 2): [0, 1, 2], (2, 0): [2, 1, 0]}, [Flow(0, 2, 2e5, 8000.0), Flow(2, 0, 1e5, 4000.0)],
                        name="seed", meta={"rho_max": 0.2})
    lab = Labels.empty(n_paths=2, n_links=4)
    lab.path_delay_s[:] = [0.0201, 0.0105]
    lab.path_jitter_s2[:] = [1e-6, 2e-6]
    lab.path_loss_ratio[:] = 0.0
    write_manifest(root, {"n_samples": 2, "seed": 1})
    meta = {"seed": 1, "sim_time": 10.0, "packet_hops": 100, "packets_generated": 50, "wall_time_s": 0.1,
            "converged": True}
    for i in range(2):
        write_sample(root, i, sc, lab, extras={"path_delay_ci": np.array([1e-4, 2e-4])}, meta=meta)


_NATIVE_CACHE: dict[str, bytes] = {}


def _make_native(rng: random.Random, work: Path) -> Path:
    root = work / "ds"
    if not _NATIVE_CACHE:
        tmp = work / "seed"
        _native_seed(tmp)
        _NATIVE_CACHE.update({p.relative_to(tmp).as_posix(): p.read_bytes() for p in tmp.rglob("*") if p.is_file()})
        shutil.rmtree(tmp)
    for rel, data in _NATIVE_CACHE.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(data)
    target = rng.randrange(5)
    sample = root / "samples" / f"sample_00000{rng.randrange(2)}.npz"
    if target == 0:  # the manifest
        doc = json.loads(_NATIVE_CACHE["manifest.json"])
        text = json.dumps(mutate_tree(doc, rng, rng.randint(1, 3)), allow_nan=True)
        (root / "manifest.json").write_bytes(_mutate_text(text, rng) if rng.random() < 0.3 else text.encode())
    elif target == 1:  # raw bytes of a sample
        data = sample.read_bytes()
        sample.write_bytes(data[: rng.randrange(len(data))] if rng.random() < 0.5 else _flip(data, rng, 8))
    elif target == 2:  # a deleted sample
        sample.unlink()
    else:  # a sample rebuilt with one member changed
        with np.load(sample, allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}
        key = rng.choice(sorted(arrays))
        op = rng.randrange(7)
        if key == "meta_json" and op < 4:
            meta = json.loads(arrays[key].tobytes())
            text = json.dumps(mutate_tree(meta, rng, rng.randint(1, 2)), allow_nan=True)
            arrays[key] = np.frombuffer(_mutate_text(text, rng) if rng.random() < 0.3 else text.encode(), np.uint8)
        elif op == 0:
            del arrays[key]
        elif op == 1:
            arrays[key] = arrays[key].astype(rng.choice([np.float32, np.int8, np.uint64, np.bool_, np.complex64]))
        elif op == 2:
            arrays[key] = np.resize(arrays[key], rng.choice([(0,), (7,), (2, 2, 2), (1,)]))
        elif op == 3:
            arrays[key] = np.array([{"x": 1}, None], dtype=object)
        elif op == 4 and arrays[key].dtype.kind in "fiu":
            a = arrays[key].astype(np.float64).copy()
            if a.size:
                a.flat[rng.randrange(a.size)] = rng.choice([np.nan, np.inf, -1.0, 1e300, -1e300, 0.0, 2.0**62])
            arrays[key] = a.astype(arrays[key].dtype) if rng.random() < 0.5 and np.isfinite(a).all() else a
        else:
            arrays[key] = np.array(rng.choice(["text", 1e300, -5, 2**62]))
        with open(sample, "wb") as fh:
            np.savez(fh, **arrays)  # an object array is pickled here; the reader must refuse it
    return root


def _make_gnnet(rng: random.Random, work: Path) -> Path:
    root = work / "gnnet"
    (root / "graphs").mkdir(parents=True)
    (root / "routings").mkdir()
    gml, routing = GML, ROUTING
    members = {k: v.encode() for k, v in _gnnet_members().items()}
    tb = root / "results_3_0_2.tar.gz"
    op = rng.randrange(9)
    gz = True
    if op <= 2:  # a line/field of a result file
        name = rng.choice(sorted(members))
        members[name] = _mutate_lines(members[name].decode(), rng).encode("utf-8")
    elif op == 3:
        del members[rng.choice(sorted(members))]
    elif op == 4:
        name = rng.choice(sorted(members))
        members[rng.choice(["linkUsage.txt", "junk.bin", name.upper(), "../evil.txt"])] = members.pop(name) \
            if rng.random() < 0.5 else _flip(members[name], rng)
    elif op == 5:
        gml = _mutate_lines(gml, rng) if rng.random() < 0.5 else gml[: rng.randrange(len(gml))]
    elif op == 6:
        routing = _mutate_lines(routing, rng)
    elif op == 7:
        gz = False
    (root / "graphs" / "g.txt").write_text(gml, encoding="utf-8")
    (root / "routings" / "r.txt").write_text(routing, encoding="utf-8")
    _write_tar(tb, members, gz=gz)
    if op == 8:
        data = tb.read_bytes()
        kind = rng.randrange(3)
        tb.write_bytes(data[: rng.randrange(len(data))] if kind == 0 else _flip(data, rng, 6) if kind == 1
                       else gzip.compress(rng.randbytes(rng.randrange(1, 2000))))
    return root


_CKPT_CACHE: dict[str, dict[str, bytes]] = {}


def _make_checkpoint(rng: random.Random, work: Path) -> Path:
    from twinwatch.twin.models.gnn import DEFAULT_CHECKPOINT
    from twinwatch.twin.models.mlp import DEFAULT_MLP_CHECKPOINT

    kind = "mlp" if rng.random() < 0.7 else "gnn"
    if kind not in _CKPT_CACHE:
        src = DEFAULT_MLP_CHECKPOINT if kind == "mlp" else DEFAULT_CHECKPOINT
        _CKPT_CACHE[kind] = {n: (src / n).read_bytes() for n in ("config.json", "model.safetensors")}
    files = dict(_CKPT_CACHE[kind])
    d = work / kind
    d.mkdir()
    op = rng.randrange(6)
    if op <= 1:
        cfg = json.loads(files["config.json"])
        text = json.dumps(mutate_tree(cfg, rng, rng.randint(1, 3)), allow_nan=True)
        files["config.json"] = _mutate_text(text, rng) if rng.random() < 0.2 else text.encode()
    elif op <= 3:
        raw = files["model.safetensors"]
        (n,) = struct.unpack("<Q", raw[:8])
        header = json.loads(raw[8: 8 + n])
        header = mutate_tree(header, rng, rng.randint(1, 2))
        hb = json.dumps(header).encode()
        hb += b" " * (-len(hb) % 8)
        length = len(hb) if rng.random() < 0.8 else rng.choice([0, len(hb) + 8, 2**40, len(hb) - 1])
        files["model.safetensors"] = struct.pack("<Q", max(length, 0)) + hb + raw[8 + n:]
    elif op == 4:
        raw = files["model.safetensors"]
        files["model.safetensors"] = raw[: rng.randrange(len(raw))]
    else:
        name = rng.choice(["config.json", "model.safetensors"])
        files[name] = _flip(files[name], rng, 6)
    for name, data in files.items():
        (d / name).write_bytes(data)
    return d


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


def _triangle() -> Any:
    from twinwatch.twin.scenario import Flow, Scenario

    return Scenario.build(3, [(0, 1, 1e4, 0.01), (1, 2, 1e4, 0.02), (1, 0, 1e4, 0.01), (2, 1, 1e4, 0.02)],
                          {(0, 2): [0, 1, 2], (2, 0): [2, 1, 0]}, [Flow(0, 2, 3e3, 1000.0), Flow(2, 0, 1e3, 1000.0)])


def _qt() -> Any:
    from twinwatch.twin.models.qt import QueueingModel

    return QueueingModel()


def check_library(fmt: str, path: Path) -> str:
    """Read ``path`` as ``fmt`` under the watchdog; ``"ok"`` or ``"refused"``, else :class:`FuzzInvariantError`."""
    from twinwatch.twin.checkpoint import CheckpointError
    from twinwatch.twin.datasets import DatasetError, iter_samples
    from twinwatch.twin.datasets.scenario_yaml import ScenarioFileError, load_scenario_yaml

    allowed: tuple[type[BaseException], ...] = {
        "scenario_yaml": (ScenarioFileError,), "native": (DatasetError,), "gnnet": (DatasetError,),
        "checkpoint": (CheckpointError,)}[fmt]
    try:
        with watchdog(TIME_BOUND_S[fmt]), warnings.catch_warnings():
            warnings.simplefilter("error", RuntimeWarning)  # a raw NumPy warning is a failure too
            warnings.filterwarnings("ignore", category=DeprecationWarning)
            if fmt == "scenario_yaml":
                sc = load_scenario_yaml(path)
                _check_prediction(sc, _qt().predict(sc), "qt on a validated scenario")
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
    """Run ``twinwatch twin predict`` on ``path``; the exit status, else :class:`FuzzInvariantError`."""
    from click.testing import CliRunner

    from twinwatch.stream.cli import cli
    from twinwatch.twin.data import bundled_scenario_path

    runner = runner or CliRunner()
    if fmt == "checkpoint":
        args = ["twin", "predict", str(bundled_scenario_path()), "--model", path.name, "--checkpoint", str(path)]
    else:
        args = ["twin", "predict", str(path), "--model", "qt"]
    t0 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = runner.invoke(cli, [*args, "--no-progress"])
    if res.exit_code not in (0, 1, 2, 3):
        raise FuzzInvariantError(f"{fmt}: exit status {res.exit_code}: {res.output[-1500:]}")
    if res.exception is not None and not isinstance(res.exception, SystemExit):
        raise FuzzInvariantError(f"{fmt}: {type(res.exception).__name__} escaped the CLI: {res.exception!r}")
    if "Traceback" in res.output:
        raise FuzzInvariantError(f"{fmt}: traceback in the output: {res.output[-1500:]}")
    if res.exit_code == 0 and "null" in res.stdout:
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


def run_one(fmt: str, rng: random.Random, base: Path, k: int, *, cli: bool = False,
            on_input: Callable[[Path], None] | None = None) -> tuple[str, int | None]:
    """Make input ``k`` of ``fmt`` and check it (library, and the CLI when ``cli``)."""
    work = fresh_dir(base, k % 4)
    path = make_input(fmt, rng, work)
    if on_input is not None:
        on_input(path)
    outcome = check_library(fmt, path)
    code = check_cli(fmt, path) if cli else None
    return outcome, code

