"""The service's durable state: one versioned, pickle-free blob per pipeline, and the changelog topic that keeps it.

What a worker must not lose when it is killed, rebalanced away or restarted:

* per network and collector format, the **counter state**
  (:class:`twinwatch.telemetry_adapters.CounterState`: last value and time of every cumulative counter);
* per network, the **detector** (calibrators, persistence histories, the
  :class:`~twinwatch.detectors.alerts.AlertBook` of open alerts and recently resolved ids, window count);
* per network, what the **snapshot builder** remembers of each link end: its latest link-state, speed and IGP
  metric report (an on-change subscription sends them only when they change), by link id;
* per network, the **window buffer**: the unfinished windows' rows, the oldest open window, each source's
  largest event time (the watermark) and the late-row count; and the flow records kept for the traffic
  matrix (:class:`~twinwatch.stream.flowbuffer.FlowBuffer`);
* the **input offsets** the state reflects (``meta["offsets"]``, ``"topic:partition" -> next offset``),
  so a worker that restores it skips the messages the state already contains (no row counted twice).

Format (``twinwatch.state/2``): a NumPy ``.npz`` (stored, not deflated; loaded with ``allow_pickle=False``)
holding ``meta`` (UTF-8 JSON as ``uint8``) and one ``uint8`` array per part (``p0``, ``p1``, ...;
``meta["parts"]`` names them ``[network, component, key]``), each part compressed on its own with
``meta["codec"]`` (``zlib`` at level :data:`LEVEL`, or ``none``). Counter states, calibrators and persistence
keep their own npz formats, the alert book its JSON; windows and flow records are stored as columns (object
columns as Unicode arrays), byte-shuffled (:func:`_pack`). Version 1 (the whole ``.npz`` deflated at zlib's
default level 6, parts raw, columns not shuffled) is still read.

**Cost.** A checkpoint of a filled 197-node network (Cogent, ~10⁵ flow records held) is ~11 MB before
compression, two thirds of it flow records. Compressing each part on its own at level 1 instead of the whole
archive at level 6 costs a fraction of the CPU for a somewhat larger record, and lets :func:`encode_pipeline`
reuse the compressed bytes of the parts that did not change since the pipeline's previous checkpoint: the
detector (it changes only when a window closes), each format's counter state (only when a batch of that
format was processed) and the flow records (only when records arrive or a window drops old ones).

A detector is saved through its attributes: an attribute with ``to_bytes`` / ``from_bytes`` (calibrator,
persistence, alert book), a ``dict`` of those or of dataclasses whose fields have them (per-KPI state),
JSON scalars, sets of scalars or tuples (e.g. links down), deques of scalars, and dicts with tuple keys. Only
scalars that a fresh detector has at zero or empty (counters such as the window count, the set of links down), and
those its class names in ``STATE_SCALARS`` (state whose fresh value is a "never" sentinel, such as the window of
the last fault), are restored; the others (α, method, warm-up length) and the network model are configuration and
come from the configuration at start; so do a part's ``BUILD_SETTINGS`` (settings that shape none of its saved
arrays, e.g. a calibrator's ``tail_fit``). A detector may instead define ``state_bytes() -> bytes`` and
``restore_state(bytes)``.

**A changed network model** (a link added or removed, a device retired, a probe planned) does not lose the
state. The record names the entities its per-entity parts are numbered by (``model`` part: the detector's
``entity_names()``, links by id, devices by name, probes by name); a detector built from another model
gets each part renumbered by name (:func:`twinwatch.detectors.entities.carry_entities`, the axis from the
detector's ``entity_axis(part)``): an entity in both keeps its calibration, persistence and references, a new
one starts fresh, a removed one's state is dropped (its open alerts resolve at the next window). Counters,
open windows and flow records are keyed by device and interface names and carry over as they are.
:func:`restore_pipeline` reports the counts in ``meta["model_changes"]``; the service logs them. A record of
an older build (no names) is still refused when the model's shape changed.

>>> from twinwatch.stream.state import decode, encode
>>> meta, parts = decode(encode({"offsets": {"t:0": 5}}, {("abilene", "windows", ""): b"xyz"}))
>>> meta["offsets"], parts
({'t:0': 5}, {('abilene', 'windows', ''): b'xyz'})
"""

from __future__ import annotations

import dataclasses
import io
import json
import os
import tempfile
import time
import zipfile
import zlib
from collections import deque
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from twinwatch.stream.pipeline import Pipeline, WindowBuffer

__all__ = ["FORMAT", "FORMATS_READ", "LEVEL", "StateError", "decode", "encode", "encode_pipeline", "open_rows",
           "part_sizes", "restore_pipeline"]

FORMAT = "twinwatch.state/2"
"""Format tag of the state blobs this build writes."""
FORMAT_V1 = "twinwatch.state/1"
FORMATS_READ = (FORMAT, FORMAT_V1)
"""Format tags this build reads; a reader refuses any other."""
LEVEL = 1
"""zlib level of each part (1: fastest; the checkpoint is written on the service's hot path)."""
CODECS = ("zlib", "none")

PartKey = tuple[str, str, str]
"""``(network, component, key)`` of one part: component ``counters`` (key: format), ``detector``
(key: attribute path), ``windows``."""


class StateError(ValueError):
    """A state blob that cannot be read or does not fit this configuration (the message names the rule)."""


# ----------------------------------------------------------------------------- container
def _u8(b: bytes) -> np.ndarray:
    return np.frombuffer(b, dtype=np.uint8)


def _compress(b: bytes, codec: str) -> bytes:
    return zlib.compress(b, LEVEL) if codec == "zlib" else bytes(b)


def encode(meta: Mapping[str, Any], parts: Mapping[PartKey, bytes], *, codec: str = "zlib") -> bytes:
    """One blob (``.npz``, no pickle) of ``meta`` (JSON-ready) and byte ``parts``, each compressed with ``codec``."""
    if codec not in CODECS:
        raise ValueError(f"state codec {codec!r}: expected one of {list(CODECS)}")
    return _encode_compressed(meta, {k: _compress(b, codec) for k, b in parts.items()}, codec)


def _encode_compressed(meta: Mapping[str, Any], cparts: Mapping[PartKey, bytes], codec: str) -> bytes:
    """The blob of ``meta`` and parts already compressed with ``codec`` (the archive itself is stored)."""
    keys = list(cparts)
    m = {**meta, "format": FORMAT, "codec": codec, "parts": [list(k) for k in keys]}
    buf = io.BytesIO()
    arrays = {"meta": _u8(json.dumps(m, separators=(",", ":")).encode())}
    arrays.update({f"p{i}": _u8(cparts[k]) for i, k in enumerate(keys)})
    np.savez(buf, **arrays)  # type: ignore[arg-type]
    return buf.getvalue()


def decode(data: bytes) -> tuple[dict[str, Any], dict[PartKey, bytes]]:
    """``(meta, parts)`` of an :func:`encode` blob (parts uncompressed; format 2 or 1); :class:`StateError` names
    what is wrong."""
    try:
        with np.load(io.BytesIO(data), allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}
        meta = json.loads(arrays.pop("meta").tobytes().decode())
    except (OSError, ValueError, KeyError, UnicodeDecodeError, EOFError) as exc:
        raise StateError(f"state blob: not a twinwatch state ({type(exc).__name__}: {exc})") from None
    if not isinstance(meta, dict) or meta.get("format") not in FORMATS_READ:
        got = meta.get("format") if isinstance(meta, dict) else type(meta).__name__
        raise StateError(f"state blob: format {got!r}, this build reads {list(FORMATS_READ)} "
                         "(start afresh or upgrade)")
    codec = meta.get("codec", "none") if meta["format"] == FORMAT else "none"  # v1: the archive was deflated
    if codec not in CODECS:
        raise StateError(f"state blob: codec {codec!r} of the parts is unknown (this build reads {list(CODECS)})")
    keys = meta.get("parts", [])
    if len(keys) != len(arrays):
        raise StateError(f"state blob: meta names {len(keys)} parts, the blob holds {len(arrays)}")
    try:
        parts = {(str(k[0]), str(k[1]), str(k[2])): arrays[f"p{i}"].tobytes() for i, k in enumerate(keys)}
    except (KeyError, IndexError, TypeError) as exc:
        raise StateError(f"state blob: part list is malformed ({exc})") from None
    if codec == "zlib":
        try:
            parts = {k: zlib.decompress(b) for k, b in parts.items()}
        except zlib.error as exc:
            raise StateError(f"state blob: a part does not inflate ({exc})") from None
    return meta, parts


def part_sizes(data: bytes) -> dict[str, dict[str, int]]:
    """Bytes per network and component (uncompressed parts) of a blob: ``{network: {component: bytes}}``."""
    _, parts = decode(data)
    out: dict[str, dict[str, int]] = {}
    for (net, comp, _), b in parts.items():
        out.setdefault(net, {}).setdefault(comp, 0)
        out[net][comp] += len(b)
    return out


def open_rows(data: bytes) -> dict[str, int]:
    """Rows of unfinished windows per network held in a state blob of :func:`encode_pipeline`."""
    _, parts = decode(data)
    out: dict[str, int] = {}
    for (net, comp, _), b in parts.items():
        if comp == "windows":
            out[net] = int(_unpack(b)["win"].size)
    return out


# ----------------------------------------------------------------------------- columns
_SHUFFLED = "__shuffled"
_SHUFFLE_KINDS = "iufcU"


def _pack(arrays: Mapping[str, np.ndarray]) -> bytes:
    """An ``.npz`` (no pickle) of named arrays; numeric and Unicode arrays of more than one byte per item are
    stored byte-shuffled (byte 0 of every item, then byte 1, ...) as ``uint8``, their dtype and shape listed
    in the ``__shuffled`` entry. Columns of timestamps, counts and node numbers have long runs of equal high
    bytes: shuffled, zlib at level 1 compresses them about as well as level 6 does unshuffled, at the speed of
    level 1 (the flow records of a filled Cogent state: 157 kB instead of 252 kB, 25 ms either way).

    >>> packed = _pack({"t": np.array([1.5, 2.5]), "k": np.array(["a->b", "b->a"]), "d": np.array([3], np.uint8)})
    >>> cols = _unpack(packed)
    >>> cols["t"].tolist(), cols["k"].tolist(), cols["d"].dtype.name
    ([1.5, 2.5], ['a->b', 'b->a'], 'uint8')
    """
    out: dict[str, np.ndarray] = {}
    layout: dict[str, list[Any]] = {}
    for k, a in arrays.items():
        a = np.asarray(a)
        if a.dtype.kind in _SHUFFLE_KINDS and a.dtype.itemsize > 1 and a.ndim >= 1:
            b = np.ascontiguousarray(a).reshape(-1).view(np.uint8).reshape(-1, a.dtype.itemsize)
            out[k] = np.ascontiguousarray(b.T).reshape(-1)
            layout[k] = [a.dtype.str, list(a.shape)]
        else:
            out[k] = a
    if layout:
        out[_SHUFFLED] = _u8(json.dumps(layout).encode())
    buf = io.BytesIO()
    np.savez(buf, **out)  # type: ignore[arg-type]
    return buf.getvalue()


def _unpack(data: bytes) -> dict[str, np.ndarray]:
    """The arrays of a :func:`_pack` archive (or of a plain ``.npz``: parts of format 1)."""
    with np.load(io.BytesIO(data), allow_pickle=False) as z:
        arrays = {k: z[k] for k in z.files}
    if _SHUFFLED not in arrays:
        return arrays
    layout = json.loads(arrays.pop(_SHUFFLED).tobytes().decode())
    for k, (dt, shape) in layout.items():
        dtype = np.dtype(dt)
        if dtype.kind not in _SHUFFLE_KINDS:
            raise StateError(f"state part: column {k!r} has dtype {dt!r}, not a numeric or Unicode one")
        b = arrays[k].reshape(dtype.itemsize, -1)
        arrays[k] = np.ascontiguousarray(b.T).reshape(-1).view(dtype).reshape(shape)
    return arrays


# ----------------------------------------------------------------------------- components
def _counters_to_bytes(state: Any) -> bytes:
    # CounterState writes to a path only (atomic rename); a private temp dir keeps that contract
    with tempfile.TemporaryDirectory(prefix="twinwatch-state-") as d:
        path = os.path.join(d, "counters.npz")
        state.save(path)
        with open(path, "rb") as f:
            return f.read()


def _counters_from_bytes(data: bytes) -> Any:
    from twinwatch.telemetry_adapters import CounterState

    with tempfile.TemporaryDirectory(prefix="twinwatch-state-") as d:
        path = os.path.join(d, "counters.npz")
        with open(path, "wb") as f:
            f.write(data)
        return CounterState.load(path)


def _windows_to_bytes(wb: WindowBuffer) -> bytes:
    cols: dict[str, np.ndarray] = {}
    kinds: dict[str, str] = {}
    if wb._chunks:
        for name in wb._chunks[0]:
            arr = np.concatenate([np.asarray(c[name]) for c in wb._chunks])
            kinds[name] = "object" if arr.dtype == object else "plain"
            cols[name] = arr.astype(str) if arr.dtype == object else arr
        win = np.concatenate(wb._chunk_win)
    else:
        win = np.empty(0, dtype=np.int64)
    meta = {"window_s": wb.window_s, "lateness_s": wb.lateness_s, "next_index": wb.next_index,
            "closed": bool(getattr(wb, "closed", wb.next_index is not None)), "late_rows": int(wb.late_rows),
            "max_ts": float(wb.max_ts) if np.isfinite(wb.max_ts) else None,
            "sources": {k: (float(v) if np.isfinite(v) else None) for k, v in wb._source_ts.items()},
            "columns": kinds}
    clocks = {k: c.to_dict() for k, c in getattr(wb, "_clocks", {}).items()}
    if clocks:  # each source's device clocks (a record without them restores with none)
        meta["clocks"] = clocks
    return _pack({"meta": _u8(json.dumps(meta).encode()), "win": win, **{f"c_{k}": v for k, v in cols.items()}})


def _windows_restore(wb: WindowBuffer, data: bytes, where: str) -> None:
    arrays = _unpack(data)
    meta = json.loads(arrays.pop("meta").tobytes().decode())
    if (meta["window_s"], meta["lateness_s"]) != (wb.window_s, wb.lateness_s):
        raise StateError(f"{where}: windows were {meta['window_s']:g} s with {meta['lateness_s']:g} s lateness, "
                         f"the configuration says {wb.window_s:g} s / {wb.lateness_s:g} s: the open windows "
                         "cannot be carried over (start afresh: delete the state topic's records)")
    win = arrays.pop("win").astype(np.int64)
    cols = {k[2:]: (v.astype(object) if meta["columns"].get(k[2:]) == "object" else v) for k, v in arrays.items()}
    wb._chunks = [cols] if win.size else []
    wb._chunk_win = [win] if win.size else []
    wb.next_index = meta["next_index"]
    if hasattr(wb, "closed"):
        wb.closed = bool(meta["closed"])
    wb.late_rows = int(meta["late_rows"])
    wb.max_ts = -np.inf if meta["max_ts"] is None else float(meta["max_ts"])
    now = wb.clock()
    wb._source_ts = {k: (-np.inf if v is None else float(v)) for k, v in meta["sources"].items()}
    wb._source_wall = dict.fromkeys(wb._source_ts, now)  # idleness restarts from the restore
    if hasattr(wb, "_clocks"):  # a source's device clocks (state written before they were kept: none)
        wb._clocks = {}
        for src, latest in meta.get("clocks", {}).items():
            wb.observe_clocks(src, latest)
        wb._source_ts.update({k: (-np.inf if v is None else float(v)) for k, v in meta["sources"].items()})


_SCALARS = (bool, int, float, str)


def _json_key(k: Any) -> Any:
    return list(k) if isinstance(k, tuple) else k


def _detector_parts(det: Any) -> tuple[dict[str, bytes], dict[str, Any]]:
    """``(parts, scalars)`` of a detector (see the module docstring)."""
    if hasattr(det, "state_bytes") and hasattr(det, "restore_state"):
        return {"": det.state_bytes()}, {}
    parts: dict[str, bytes] = {}
    scalars: dict[str, Any] = {}
    for name, v in vars(det).items():
        if isinstance(v, bool | int | float | str):  # before to_bytes: int has one too
            scalars[name] = v
        elif isinstance(v, set | frozenset) and all(isinstance(x, (*_SCALARS, tuple)) for x in v):
            scalars[name] = {"__set__": sorted((_json_key(x) for x in v), key=repr)}
        elif isinstance(v, deque) and all(isinstance(x, _SCALARS) for x in v):
            scalars[name] = {"__deque__": list(v)}
        elif hasattr(v, "to_bytes") and hasattr(type(v), "from_bytes"):
            parts[name] = v.to_bytes()
        elif isinstance(v, dict) and v:
            sample = next(iter(v.values()))
            if all(isinstance(x, _SCALARS) for x in v.values()):  # before to_bytes: int has one too
                scalars[name] = {"__items__": [[_json_key(k), x] for k, x in v.items()]}
            elif hasattr(sample, "to_bytes"):
                parts.update({f"{name}.{k}": x.to_bytes() for k, x in v.items()})
            elif dataclasses.is_dataclass(sample) and not isinstance(sample, type):
                for k, x in v.items():
                    for f in dataclasses.fields(x):
                        y = getattr(x, f.name)
                        if hasattr(y, "to_bytes"):
                            parts[f"{name}.{k}.{f.name}"] = y.to_bytes()
        elif isinstance(v, dict):
            scalars[name] = {"__items__": []}
    return parts, scalars


def _detector_restore(det: Any, parts: Mapping[str, bytes], scalars: Mapping[str, Any], where: str,
                      renumber: Mapping[str, np.ndarray] | None = None) -> None:
    """Load the detector's saved parts and scalars into ``det``; with ``renumber`` (the network model
    changed: per entity axis, each current entity's saved position) the per-entity parts are renumbered
    (:func:`~twinwatch.detectors.entities.carry_entities`): kept entities keep their state, new ones
    start as ``det`` built them."""
    from twinwatch.detectors.entities import carry_entities

    if "" in parts:
        det.restore_state(parts[""])
        return
    for path, blob in parts.items():
        names = path.split(".")
        obj: Any = det
        for i, n in enumerate(names[:-1]):
            obj = getattr(obj, n) if i == 0 else (obj[n] if isinstance(obj, dict) else getattr(obj, n))
        leaf = names[-1]
        cur = obj.get(leaf) if isinstance(obj, dict) else getattr(obj, leaf, None)
        if cur is None:
            raise StateError(f"{where}: detector part {path!r} has no counterpart in this build's "
                             f"{type(det).__name__} (the detector changed: start afresh)")
        try:
            new = type(cur).from_bytes(blob)
        except (KeyError, ValueError, TypeError, OSError, EOFError) as exc:
            raise StateError(f"{where}: detector part {path!r} cannot be read by this build's "
                             f"{type(cur).__name__} ({type(exc).__name__}: {exc}); it was written by another "
                             "version of the detector (start afresh: delete the state topic's records)") from None
        for name in getattr(type(cur), "BUILD_SETTINGS", ()):  # this build's decision rule, the saved state's data
            setattr(new, name, getattr(cur, name))
        per_entity = renumber is not None and hasattr(det, "entity_axis") and hasattr(new, "entity_axes")
        axis = det.entity_axis(path) if per_entity else None  # (a family's effective-tests fit is shared)
        if axis is not None and axis in renumber:  # type: ignore[operator]
            try:
                new = carry_entities(cur, new, renumber[axis])  # type: ignore[index]
            except (ValueError, AttributeError) as exc:
                raise StateError(f"{where}: detector part {path!r} cannot be renumbered onto the changed "
                                 f"network model ({exc}) (start afresh)") from None
        n_old, n_new = getattr(cur, "n_entities", None), getattr(new, "n_entities", None)
        if n_old is not None and n_old != n_new:
            raise StateError(f"{where}: detector part {path!r} has {n_new} entities, the network model "
                             f"{n_old}: the model changed since the state was written (start afresh)")
        if isinstance(obj, dict):
            obj[leaf] = new
        else:
            setattr(obj, leaf, new)
    declared = set(getattr(type(det), "STATE_SCALARS", ()))
    for name, v in scalars.items():
        cur = getattr(det, name, None)
        empty = isinstance(cur, dict | set | frozenset | list | deque) and not cur
        fresh = empty or cur is None or (isinstance(cur, int | float) and not isinstance(cur, bool) and cur == 0)
        if name not in declared and (isinstance(cur, bool | str) or not fresh):
            continue  # configuration (alpha, method, warm-up length ...) comes from the configuration, not the state
        as_saved = isinstance(v, dict) and "__deque__" in v if isinstance(cur, deque) else type(cur) is type(v)
        if name in declared and not as_saved:
            raise StateError(f"{where}: detector state {name!r} holds {type(v).__name__}, this build keeps "
                             f"{type(cur).__name__} (the detector changed: start afresh)")
        if isinstance(v, dict) and "__deque__" in v:
            setattr(det, name, deque(v["__deque__"], maxlen=getattr(cur, "maxlen", None)))
        elif isinstance(v, dict) and "__items__" in v:
            setattr(det, name, {(tuple(k) if isinstance(k, list) else k): x for k, x in v["__items__"]})
        elif isinstance(v, dict) and "__set__" in v:
            setattr(det, name, type(cur)(tuple(x) if isinstance(x, list) else x for x in v["__set__"]))
        else:
            setattr(det, name, v)


# ----------------------------------------------------------------------------- pipeline
def encode_pipeline(pipe: Pipeline, meta: Mapping[str, Any] | None = None, *, codec: str = "zlib") -> bytes:
    """The whole state of ``pipe`` (every network) and ``meta`` (e.g. the input offsets) as one blob.

    Parts that did not change since the previous call on ``pipe`` are not serialised or compressed again:
    their compressed bytes are kept in ``pipe.state_cache`` under a key that changes with them (the
    detector: the network's count of detector calls; counters: the count of batches of their format;
    flows: the buffer's column dict, which :class:`~twinwatch.stream.flowbuffer.FlowBuffer` replaces on
    every change, and its counters). The open windows change with every batch and are always encoded.
    """
    cache: dict[PartKey, tuple[Any, Any]] = pipe.state_cache
    cparts: dict[PartKey, bytes] = {}
    det_scalars: dict[str, Any] = {}
    seen: set[PartKey] = set()

    def cached(key: PartKey, version: tuple[Any, ...], make: Any) -> Any:
        version = (codec, *version)
        hit = cache.get(key)
        seen.add(key)
        if hit is not None and _same(hit[0], version):
            return hit[1]
        value = make()
        cache[key] = (version, value)
        return value

    if codec not in CODECS:
        raise ValueError(f"state codec {codec!r}: expected one of {list(CODECS)}")
    for name, net in pipe.networks.items():
        gen = net.generation
        for fmt, cs in net.counters.items():
            cparts[(name, "counters", fmt)] = cached((name, "counters", fmt), (cs, gen.get(f"counters:{fmt}", 0)),
                                                     lambda cs=cs: _compress(_counters_to_bytes(cs), codec))

        def det_parts(det: Any = net.detector) -> tuple[dict[str, bytes], dict[str, Any]]:
            dparts, scal = _detector_parts(det)
            return {k: _compress(b, codec) for k, b in dparts.items()}, scal

        dparts, scal = cached((name, "detector", "*"), (net.detector, gen.get("detector", 0)), det_parts)
        cparts.update({(name, "detector", k): b for k, b in dparts.items()})
        det_scalars[name] = scal
        cparts[(name, "windows", "")] = _compress(_windows_to_bytes(net.windows), codec)
        cparts[(name, "links", "")] = _compress(_pack(net.builder.memory_arrays()), codec)
        flows = getattr(net, "flows", None)
        if flows is not None:  # flow records kept for the open windows' matrices
            cparts[(name, "flows", "")] = cached((name, "flows", ""), flows.state_key(),
                                                 lambda flows=flows: _compress(_flows_to_bytes(flows), codec))
        cparts[(name, "model", "")] = cached((name, "model", ""), (net.model, net.detector), lambda net=net: _compress(
            json.dumps(_model_part(net.model, net.detector)).encode(), codec))
    for k in set(cache) - seen:  # a network or format gone: do not keep its bytes alive
        del cache[k]
    m = {**(meta or {}), "detector_scalars": det_scalars, "written_at": time.time()}
    return _encode_compressed(m, cparts, codec)


def _model_part(model: Any, detector: Any) -> dict[str, Any]:
    """The network model's shape and the names the detector's per-entity state is numbered by."""
    out: dict[str, Any] = {"links": model.n_links, "nodes": model.n_nodes}
    names = getattr(detector, "entity_names", None)
    if names is not None:
        out["names"] = names()
    return out


def _renumbering(saved: Mapping[str, Any], det: Any, model: Any, where: str) -> dict[str, np.ndarray] | None:
    """Per entity axis, each current entity's position in the saved state (``-1``: new), or None when the
    model did not change; :class:`StateError` when it changed and the state cannot say how."""
    from twinwatch.detectors.entities import entity_index, pair_index

    now = det.entity_names() if hasattr(det, "entity_names") else None
    old = saved.get("names")
    if now is not None and old is not None:
        if all(list(old.get(axis, ())) == list(v) for axis, v in now.items()):
            return None
        maps = {axis: entity_index(old.get(axis, ()), v) for axis, v in now.items()}
        if "node" in maps:
            maps["pair"] = pair_index(maps["node"], len(old.get("node", ())))
        return maps
    if saved and (saved["links"], saved["nodes"]) != (model.n_links, model.n_nodes):
        raise StateError(f"{where}: written for {saved['nodes']} nodes / {saved['links']} links, the network "
                         f"model has {model.n_nodes} / {model.n_links}, and the state (written by an "
                         "older build) does not name its entities (start afresh)")
    return None


def _same(a: Any, b: Any) -> bool:
    """Cache keys: tuples compared item by item, objects by identity (a live object compared to itself)."""
    return len(a) == len(b) and all(x is y if not isinstance(x, int | float | str) else x == y
                                    for x, y in zip(a, b, strict=True))


def _flows_to_bytes(flows: Any) -> bytes:
    return _pack(flows.state_arrays())


def restore_pipeline(pipe: Pipeline, data: bytes, *, where: str = "state") -> dict[str, Any]:
    """Load a blob of :func:`encode_pipeline` into ``pipe`` (built from the same configuration); returns ``meta``.

    Networks of the blob that ``pipe`` does not have are refused (:class:`StateError`); networks of ``pipe``
    that the blob lacks keep a fresh state.
    """
    from twinwatch.stream.pipeline import _Network

    meta, parts = decode(data)
    changes: dict[str, dict[str, dict[str, int]]] = {}
    meta["model_changes"] = changes
    pipe.state_cache.clear()  # every part is replaced: nothing cached describes the pipeline any more
    by_net: dict[str, dict[tuple[str, str], bytes]] = {}
    for (net, comp, key), b in parts.items():
        by_net.setdefault(net, {})[(comp, key)] = b
    unknown = sorted(set(by_net) - set(pipe.networks))
    if unknown:
        raise StateError(f"{where}: holds network(s) {unknown} that the configuration does not have "
                         f"({sorted(pipe.networks)}); refusing to drop their state (a network removed for good: "
                         f"`twinwatch state drop --network NAME` with the workers stopped)")
    for name, comps in by_net.items():
        net: _Network = pipe.networks[name]
        w = f"{where}: network {name!r}"
        saved = json.loads(comps.get(("model", ""), b"{}") or b"{}")
        maps = _renumbering(saved, net.detector, net.model, w)
        net.counters = {key: _counters_from_bytes(b) for (comp, key), b in comps.items() if comp == "counters"}
        _detector_restore(net.detector, {key: b for (comp, key), b in comps.items() if comp == "detector"},
                          meta.get("detector_scalars", {}).get(name, {}), w, maps)
        if maps is not None:
            from twinwatch.detectors.entities import summary

            old_names = saved["names"]
            changes[name] = {axis: summary(idx, len(old_names.get(axis, ()))) for axis, idx in maps.items()
                             if axis != "pair"}
        if ("windows", "") in comps:
            _windows_restore(net.windows, comps[("windows", "")], w)
        if ("links", "") in comps:  # records of earlier builds have none: the ends start unreported
            try:
                net.builder.load_memory_arrays(_unpack(comps[("links", "")]))
            except (ValueError, OSError, EOFError, zipfile.BadZipFile) as exc:
                raise StateError(f"{w}: the links part cannot be read ({exc})") from None
        flows = getattr(net, "flows", None)
        if ("flows", "") in comps and flows is not None:
            try:
                flows.load_state_arrays(_unpack(comps[("flows", "")]))
            except ValueError as exc:
                raise StateError(f"{w}: {exc}") from None
    return meta
