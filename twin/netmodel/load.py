"""Read and validate a network-model file: YAML → schema → semantic checks → :class:`NetworkModel`.

Validation runs in three stages and reports every problem of a stage at once
(a :class:`~twin.netmodel.errors.NetworkModelError` whose ``problems`` name
the element, e.g. ``links[3].a.interface``):

1. **Text**: the file must be UTF-8 YAML without duplicate keys (a repeated
   key silently overwrites in plain YAML; here it is an error naming the line).
2. **Structure**: the JSON Schema shipped as ``twin/netmodel/schema.json``
   (types, required keys, unknown keys, ranges: capacity > 0, delay ≥ 0,
   metric ≥ 1, DSCP 0..63, ...). A compiled validator (``jsonschema-rs``)
   answers first; only the parts of a document it refuses are walked again
   by the ``jsonschema`` library, whose errors make the messages (see
   :func:`validate_document`).
3. **Meaning**: names resolve (link ends, probes and queue profiles name
   known devices and profiles), a link has two distinct ends (no self-loop),
   no directed link is given twice, an interface carries at most one link in
   each direction and only to one peer, capacities are finite, prefixes and
   loopbacks are valid and owned once, DSCP values belong to one class.
   A network that is not strongly connected is valid but gets a
   :class:`~twin.netmodel.errors.NetworkModelWarning` (also kept in
   ``model.warnings``).

>>> doc = {"version": 1, "name": "lab",
...        "devices": [{"name": "r1"}, {"name": "r2"}],
...        "links": [{"a": {"device": "r1", "interface": "et-0/0/0"},
...                   "b": {"device": "r3", "interface": "et-0/0/0"}, "capacity_bps": "100G"}]}
>>> model_from_dict(doc, source="lab.yaml")
Traceback (most recent call last):
...
twinwatch.twin.netmodel.errors.NetworkModelError: lab.yaml: links[0].b.device: unknown device 'r3'; devices are ...
>>> doc["links"][0]["b"]["device"] = "r2"
>>> m = model_from_dict(doc, source="lab.yaml")
>>> m.link_ids, m.link_capacity_bps.tolist(), m.link_metric.tolist()
(['r1->r2', 'r2->r1'], [100000000000.0, 100000000000.0], [1, 1])
"""

from __future__ import annotations

import contextvars
import ipaddress
import json
import math
import os
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from functools import lru_cache, partial
from importlib import resources
from pathlib import Path
from typing import Any, ClassVar

import jsonschema
import jsonschema_rs
import numpy as np
import yaml
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from twinwatch.twin.doc_limits import short_repr, too_many_values
from twinwatch.twin.netmodel.errors import NetworkModelError, NetworkModelWarning, Problem
from twinwatch.twin.netmodel.model import (
    REFERENCE_BANDWIDTH_BPS,
    Device,
    LinkEnd,
    LinkSpec,
    NetworkModel,
    Probe,
    QueueProfile,
    ToSClass,
)
from twinwatch.twin.netmodel.units import parse_bps
from twinwatch.twin.topology import FIBRE_SPEED_M_S
from twinwatch.twin.yaml_safe import PlainTagMemo, repeated_key

__all__ = [
    "CAPACITY_RANGE_BPS",
    "MAX_DELAY_S",
    "MAX_VALUES",
    "load_network_model",
    "model_from_dict",
    "read_yaml_document",
    "schema",
    "validate_document",
]

MAX_VALUES = 1_000_000
"""Most YAML values (scalars, lists, mappings, counted after alias expansion) a network-model document may hold.

The largest shipped network (cogentco, 197 devices) holds about 6,500; a million is room for a network of
tens of thousands of links. The bound stops anchor/alias bombs (``&a [*b, *b, ...]`` nested, or an alias that
contains itself) before the schema check walks or prints them.
"""

CAPACITY_RANGE_BPS = (1.0, 1e15)
"""Capacities (and the auto-cost reference bandwidth) a file may give, bits/s, inclusive: 1 bit/s .. 1 Pb/s.

The bounds are generous on purpose (the scenario file uses the same); they stop typos such as ``1e-300`` or
``1e300`` from reaching the routing and the models as overflowing metrics or infinite delays.
"""

MAX_DELAY_S = 100.0
"""Longest one-way propagation delay a link may have, seconds (``delay_s``, or ``length_km`` at 2e8 m/s)."""

class _UniqueKeyLoader(PlainTagMemo, getattr(yaml, "CSafeLoader", yaml.SafeLoader)):  # type: ignore[misc]
    """SafeLoader that refuses a key repeated in one mapping (YAML would keep the last silently), with the
    plain-scalar tags memoised (:class:`~twinwatch.twin.yaml_safe.PlainTagMemo`: the same tags)."""

    _plain_tags: ClassVar[dict[str, str]] = {}

    def construct_mapping(self, node: yaml.Node, deep: bool = False) -> dict[Any, Any]:
        if isinstance(node, yaml.MappingNode) and (twice := repeated_key(self, node)) is not None:
            key, first, again = twice  # (``!!map`` on a scalar or a sequence: the base class refuses it)
            raise yaml.constructor.ConstructorError(
                None, None, f"duplicate key {key!r} (first on line {first.start_mark.line + 1}, again on line "
                            f"{again.start_mark.line + 1})", again.start_mark)
        return super().construct_mapping(node, deep=deep)  # type: ignore[no-any-return]


def read_yaml_document(path: str | os.PathLike[str]) -> Any:
    """Parse ``path`` as UTF-8 YAML refusing duplicate keys; :class:`NetworkModelError` otherwise."""
    p = Path(path)
    try:
        raw = p.read_bytes()
    except OSError as exc:
        raise NetworkModelError(str(p), [("", f"cannot read the file ({exc.strerror or exc})")]) from exc
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise NetworkModelError(str(p), [(f"line {line}", f"not UTF-8 text: byte 0x{raw[exc.start]:02x} at offset "
                                                          f"{exc.start}; save the file as UTF-8")]) from None
    try:
        return yaml.load(text, Loader=_UniqueKeyLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        where = f"line {mark.line + 1}" if mark is not None else ""
        raise NetworkModelError(str(p), [(where, f"not valid YAML: {exc.problem or exc}")]) from None
    except yaml.YAMLError as exc:
        raise NetworkModelError(str(p), [("", f"not valid YAML: {exc}")]) from None
    except RecursionError:  # the pure-Python loader on deeply nested flow collections (libyaml stops them itself)
        raise NetworkModelError(str(p), [("", "not valid YAML: nested too deeply")]) from None


def _check_size(doc: object, source: str) -> None:
    """Refuse documents with more than :data:`MAX_VALUES` values after alias expansion (``*ref`` bombs)."""
    if too_many_values(doc, MAX_VALUES):
        raise NetworkModelError(source, [("", f"more than {MAX_VALUES:,} values (after expanding YAML aliases); "
                                              "a network-model file this large is refused")])


@lru_cache(maxsize=1)
def schema() -> dict[str, Any]:
    """The JSON Schema of the file (``twin/netmodel/schema.json``)."""
    text = resources.files("twinwatch.twin.netmodel").joinpath("schema.json").read_text(encoding="utf-8")
    return dict(json.loads(text))


_PICKED: contextvars.ContextVar[dict[int, set[int] | None] | None] = contextvars.ContextVar("_PICKED", default=None)
"""For the validation under way: ``id(list)`` → the indices of its items the compiled validator refused, or None
for a list to walk whole (it lies at or under the location of an error: a ``oneOf`` refusing an array judges
all its items). A list not in the map is on no error's way: none of its items is walked.

``None`` (the default): no pruning, every item is walked (exactly ``jsonschema``'s own ``items``)."""

_JSON_TYPES = frozenset({dict, list, str, int, float, bool, type(None)})
"""Python types the compiled validator reads exactly as ``jsonschema`` does (it would read a tuple as an array,
where ``jsonschema`` refuses it: documents holding any other type take the exact path)."""

_ASCII_SPACE = r"[\t\n\v\f\r ]"
"""``\\s`` in the compiled validator's copy of the schema: ECMA-262's ``\\s`` (which ``jsonschema-rs`` follows)
also matches U+FEFF, Python's ``re`` does not; ASCII white space is matched alike by both (Python's ``\\s``
matches more still: a string with other white space is refused by the fast path and decided by the exact one)."""


def _items_picked(
    items_keyword: Callable[..., Iterator[jsonschema.ValidationError]],
    validator: jsonschema.protocols.Validator,
    items: Any,
    instance: Any,
    schema: Mapping[str, Any],
) -> Iterator[jsonschema.ValidationError]:
    """``jsonschema``'s ``items_keyword`` restricted to the items the compiled validator refused (:data:`_PICKED`)."""
    picked = _PICKED.get()
    chosen = None if picked is None else picked.get(id(instance), set())
    if chosen is None or items is False or "prefixItems" in schema or not validator.is_type(instance, "array"):
        yield from items_keyword(validator, items, instance, schema)
        return
    for index in sorted(chosen):
        yield from validator.descend(instance=instance[index], schema=items, path=index)


@lru_cache(maxsize=1)
def _validator() -> jsonschema.protocols.Validator:
    """The ``jsonschema`` validator of :func:`schema`, its ``items`` keyword prunable by :data:`_PICKED`."""
    base = jsonschema.validators.validator_for(schema())
    cls = jsonschema.validators.extend(base, {"items": partial(_items_picked, base.VALIDATORS["items"])})
    return cls(schema())


def _fast_schema(node: Any) -> Any:
    """A copy of the schema ``node`` for the compiled validator: every ``pattern``'s ``\\s`` spelled
    :data:`_ASCII_SPACE` (so that it accepts no string Python's ``re`` refuses)."""
    if isinstance(node, dict):
        return {k: v.replace(r"\s", _ASCII_SPACE) if k == "pattern" else _fast_schema(v) for k, v in node.items()}
    if isinstance(node, list):
        return [_fast_schema(v) for v in node]
    return node


@lru_cache(maxsize=1)
def _fast_validator() -> Any:
    """The compiled (``jsonschema-rs``) validator of :func:`_fast_schema`."""
    return jsonschema_rs.validator_for(_fast_schema(schema()))


def _plain_json(doc: object) -> bool:
    """Whether ``doc`` holds only :data:`_JSON_TYPES` (no tuple, date, bytes, set, subclass or NumPy scalar)."""
    stack = [doc]
    while stack:
        v = stack.pop()
        t = type(v)
        if t not in _JSON_TYPES:
            return False
        if t is dict:
            stack.extend(v.values())  # type: ignore[attr-defined]
        elif t is list:
            stack.extend(v)  # type: ignore[arg-type]
    return True


def _refused_items(doc: object) -> tuple[bool, dict[int, set[int] | None] | None]:
    """The compiled validator's verdict on ``doc``: (valid, :data:`_PICKED`'s map: ``id(list)`` → the indices of
    the items on the way to an error, or None for every list at or under an error's location); ``(False, None)``
    when it cannot answer (a type other than :data:`_JSON_TYPES`, or it raised)."""
    if not _plain_json(doc):
        return False, None
    try:
        paths = [e.instance_path for e in _fast_validator().iter_errors(doc)]
    except Exception:  # anything it cannot read is decided by the exact path
        return False, None
    if not paths:
        return True, {}
    picked: dict[int, set[int] | None] = {}
    try:
        for path in paths:
            node: Any = doc
            for part in path:
                if type(node) is list and picked.get(id(node), set()) is not None:
                    picked.setdefault(id(node), set()).add(int(part))  # type: ignore[union-attr]
                node = node[part]
            stack = [node]  # the error's own instance: a keyword there (oneOf, anyOf) may judge any item below
            while stack:
                v = stack.pop()
                if type(v) is list:
                    picked[id(v)] = None
                    stack.extend(v)
                elif type(v) is dict:
                    stack.extend(v.values())
    except (LookupError, TypeError, ValueError):  # a path this document does not have: walk it all
        return False, None
    return False, picked


def _schema_errors(doc: object) -> list[jsonschema.ValidationError]:
    """Every JSON Schema violation of ``doc``, sorted by path: exactly ``jsonschema``'s ``iter_errors``.

    The compiled validator answers first: when it accepts ``doc`` there is none. Else ``jsonschema`` walks the
    document again, skipping the items of arrays (devices, links, probes, ...) the compiled validator accepted:
    the same errors, in the same order, as a full walk, since an item that one accepts the other accepts too
    (checked on the fuzz inputs by ``tests/unit/twin/netmodel/test_fast_validation.py``). Arrays at or under an
    error's location are walked whole (a ``oneOf`` refusing an array judges all its items); skipping items
    elsewhere cannot flip a combinator because the schema's only combinator over arrays tells its branches
    apart by type (a test guards it).
    """
    valid, picked = _refused_items(doc)
    if valid:
        return []
    token = _PICKED.set(picked)
    try:
        return sorted(_validator().iter_errors(doc), key=lambda e: [str(x) for x in e.absolute_path])
    finally:
        _PICKED.reset(token)


def _path(parts: Sequence[object]) -> str:
    out = ""
    for p in parts:
        out += f"[{p}]" if isinstance(p, int) else (f".{p}" if out else str(p))
    return out


def _schema_problem(err: jsonschema.ValidationError) -> Problem:
    path = _path(list(err.absolute_path))
    v, val = err.validator, err.instance
    if v == "required":
        missing = str(err.message).split("'")[1]
        what = "; a link needs both ends" if missing in ("a", "b") and "links" in path else ""
        return _path([*err.absolute_path, missing]), f"missing (required){what}"
    if v == "additionalProperties":
        allowed = sorted((err.schema.get("properties") or {}).keys())
        extra = sorted(set(val) - set(allowed)) if isinstance(val, Mapping) else []
        return _path([*err.absolute_path, extra[0]]) if extra else path, f"unknown key; allowed keys: {allowed}"
    if v == "exclusiveMinimum":
        return path, f"must be > {err.validator_value} (got {short_repr(val)})"
    if v == "minimum":
        return path, f"must be >= {err.validator_value} (got {short_repr(val)})"
    if v == "maximum":
        return path, f"must be <= {err.validator_value} (got {short_repr(val)})"
    if v == "type":
        return path, f"expected {err.validator_value}, got {type(val).__name__} {short_repr(val)}"
    if v == "enum":
        return path, f"must be one of {err.validator_value} (got {short_repr(val)})"
    if v == "const":
        return path, f"unsupported value {short_repr(val)}; this reader knows {err.validator_value!r}"
    if v == "oneOf" and path.endswith("_bps"):
        return path, (f"{short_repr(val)} is not a bit rate > 0; write bits/s as a number or a string such as '10G' "
                      "or '2.5 Gbps'")
    if v == "oneOf":
        return path, f"{short_repr(val)}: expected a number > 0 or a list of up to 3 numbers > 0"
    if v == "pattern":
        hint = err.schema.get("description", f"pattern {err.validator_value}")
        return path, f"{short_repr(val)} is not allowed here: {hint}"
    if v in ("minItems", "minProperties") and val in ([], {}):
        return path, "must not be empty"
    return path, str(err.message)[:300]


def validate_document(doc: object, *, source: str = "<network>") -> None:
    """Check ``doc`` against the JSON Schema; :class:`NetworkModelError` listing every violation.

    A compiled validator decides first; the messages always come from ``jsonschema`` (:func:`_schema_errors`).
    """
    if doc is None:
        raise NetworkModelError(source, [("", "the file is empty")])
    _check_size(doc, source)
    errors = _schema_errors(doc)
    if errors:
        raise NetworkModelError(source, [_schema_problem(e) for e in errors])


def load_network_model(path: str | os.PathLike[str]) -> NetworkModel:
    """Read, validate and build the network model in ``path`` (format: :mod:`twinwatch.twin.netmodel`)."""
    return model_from_dict(read_yaml_document(path), source=str(path))


def model_from_dict(doc: object, *, source: str = "<network>") -> NetworkModel:
    """Validate the parsed document ``doc`` (schema, then meaning) and build the :class:`NetworkModel`."""
    validate_document(doc, source=source)
    assert isinstance(doc, Mapping)
    return _Builder(doc, source).build()


class _Builder:
    """Semantic checks and construction; collects every problem before raising."""

    def __init__(self, doc: Mapping[str, Any], source: str) -> None:
        self.doc = doc
        self.source = source
        self.problems: list[Problem] = []

    def fail(self, path: str, msg: str) -> None:
        self.problems.append((path, msg))

    def build(self) -> NetworkModel:
        doc = self.doc
        profiles = self._profiles()
        defaults = doc.get("defaults") or {}
        default_profile = str(defaults.get("queue_profile", ""))
        known_profiles = set(profiles) | {"default"}
        if default_profile and default_profile not in known_profiles:
            self.fail("defaults.queue_profile", f"unknown queue profile {default_profile!r}; "
                                                f"defined: {sorted(profiles)}")
        devices = self._devices(known_profiles)
        names = {d.name for d in devices}
        links = self._links(names, known_profiles, devices)
        tos = self._tos_classes()
        probes = self._probes(names)
        ref = REFERENCE_BANDWIDTH_BPS
        if "reference_bandwidth_bps" in defaults:
            ref = parse_bps(defaults["reference_bandwidth_bps"])
            lo, hi = CAPACITY_RANGE_BPS
            if not lo <= ref <= hi:  # NaN fails too
                self.fail("defaults.reference_bandwidth_bps", f"must be {lo:g} .. {hi:g} bits/s "
                                                              f"(got {defaults['reference_bandwidth_bps']!r})")
        if self.problems:
            raise NetworkModelError(self.source, self.problems)
        model = NetworkModel(
            name=str(doc["name"]), devices=tuple(devices), links=tuple(links), queue_profiles=profiles,
            tos_classes=tuple(tos), probes=tuple(probes), default_queue_profile=default_profile,
            default_metric=defaults.get("metric"), reference_bandwidth_bps=ref,
            description=str(doc.get("description", "")), version=int(doc["version"]),
            meta=dict(doc.get("meta") or {}), source=self.source,
        )
        self._warn(model)
        return model

    # ---------------------------------------------------------------- parts
    def _profiles(self) -> dict[str, QueueProfile]:
        out = {}
        for name, p in (self.doc.get("queue_profiles") or {}).items():
            where = f"queue_profiles.{name}"
            weights = tuple(float(w) for w in p.get("weights", ()))
            if p["policy"] in ("WFQ", "DRR") and not weights:
                self.fail(f"{where}.weights", f"{p['policy']} needs weights (one per ToS class queue)")
            if p["policy"] in ("FIFO", "SP") and weights:
                self.fail(f"{where}.weights", f"weights apply to WFQ and DRR only, not {p['policy']}")
            buf = p["buffer"]
            pk = buf.get("packets")
            pkts = () if pk is None else tuple(float(x) for x in (pk if isinstance(pk, list) else [pk]))
            out[str(name)] = QueueProfile(str(name), p["policy"], weights, pkts, buf.get("bytes"), buf.get("ms"),
                                          str(p.get("description", "")))
        return out

    def _devices(self, profiles: set[str]) -> list[Device]:
        out: list[Device] = []
        first: dict[str, int] = {}
        hosts: dict[str, int] = {}
        owner: dict[str, str] = {}
        for i, d in enumerate(self.doc["devices"]):
            where = f"devices[{i}]"
            name = str(d["name"])
            if name in first:
                self.fail(f"{where}.name", f"device {name!r} is already devices[{first[name]}]")
            first.setdefault(name, i)
            host = d.get("hostname", "")
            if host:
                if host in hosts:
                    self.fail(f"{where}.hostname", f"hostname {host!r} is already that of devices[{hosts[host]}]")
                hosts.setdefault(host, i)
            prof = d.get("queue_profile", "")
            if prof and prof not in profiles:
                self.fail(f"{where}.queue_profile", f"unknown queue profile {prof!r}; defined: {sorted(profiles)}")
            lb = d.get("loopback") or {}
            loop4 = self._address(lb.get("ipv4"), 4, f"{where}.loopback.ipv4", name, owner)
            loop6 = self._address(lb.get("ipv6"), 6, f"{where}.loopback.ipv6", name, owner)
            prefixes = []
            for k, text in enumerate(d.get("prefixes", ())):
                try:
                    net = ipaddress.ip_network(text, strict=True)
                except ValueError as exc:
                    self.fail(f"{where}.prefixes[{k}]", f"{text!r} is not a CIDR prefix ({exc})")
                    continue
                key = str(net)
                if key in owner and owner[key] != name:
                    self.fail(f"{where}.prefixes[{k}]", f"prefix {key} is already owned by device {owner[key]!r}")
                owner.setdefault(key, name)
                prefixes.append(key)
            lat, lon = d.get("lat"), d.get("lon")
            if (lat is None) != (lon is None):
                self.fail(where, "give both lat and lon, or neither")
            out.append(Device(
                name=name, role=str(d.get("role", "core")), vendor=str(d.get("vendor", "")), os=str(d.get("os", "")),
                model=str(d.get("model", "")), hostname=str(host), description=str(d.get("description", "")),
                lat=math.nan if lat is None else float(lat), lon=math.nan if lon is None else float(lon),
                loopback_ipv4=loop4, loopback_ipv6=loop6, prefixes=tuple(prefixes), queue_profile=str(prof),
            ))
        return out

    def _address(self, text: object, version: int, where: str, device: str, owner: dict[str, str]) -> str:
        if text is None:
            return ""
        try:
            iface = ipaddress.ip_interface(str(text))
        except ValueError as exc:
            self.fail(where, f"{text!r} is not an IP address ({exc})")
            return ""
        if iface.version != version:
            self.fail(where, f"{text!r} is not an IPv{version} address")
            return ""
        addr = str(iface.ip)
        key = f"{addr}/{iface.max_prefixlen}"  # str(ip_network(...)) of the host route: the same text, parsed once
        if key in owner and owner[key] != device:
            self.fail(where, f"loopback {addr} is already used by device {owner[key]!r}")
        owner.setdefault(key, device)
        return addr

    def _links(self, names: set[str], profiles: set[str], devices: Sequence[Device]) -> list[LinkSpec]:
        out: list[LinkSpec] = []
        directed: dict[tuple[str, str], int] = {}
        # (device, interface) -> {"tx": (entry, end, peer), "rx": (entry, end, peer)}
        ports: dict[tuple[str, str], dict[str, tuple[int, str, str]]] = {}
        shown = sorted(names)[:8]
        for i, ln in enumerate(self.doc["links"]):
            where = f"links[{i}]"
            ok = True
            for end in ("a", "b"):
                dev = ln[end]["device"]
                if dev not in names:
                    self.fail(f"{where}.{end}.device", f"unknown device {dev!r}; devices are {shown}"
                                                       f"{'...' if len(names) > 8 else ''}")
                    ok = False
                prof = ln[end].get("queue_profile", "")
                if prof and prof not in profiles:
                    self.fail(f"{where}.{end}.queue_profile", f"unknown queue profile {prof!r}")
            a, b = ln["a"]["device"], ln["b"]["device"]
            if a == b:
                self.fail(where, f"self-loop: both ends are on device {a!r}")
                ok = False
            bidir = bool(ln.get("bidirectional", True))
            if "id" in ln:
                if bidir:
                    self.fail(f"{where}.id", "an id names one direction; set bidirectional: false or drop the id")
                elif ln["id"] != f"{a}->{b}":
                    self.fail(f"{where}.id", f"link id {ln['id']!r} must read '{a}->{b}' (a.device->b.device)")
            try:
                cap = parse_bps(ln["capacity_bps"])
            except ValueError as exc:
                self.fail(f"{where}.capacity_bps", str(exc))
                cap = math.nan
            if not (math.isfinite(cap) and cap > 0):
                self.fail(f"{where}.capacity_bps",
                          f"capacity must be finite and > 0 bits/s (got {ln['capacity_bps']!r})")
            elif not CAPACITY_RANGE_BPS[0] <= cap <= CAPACITY_RANGE_BPS[1]:
                self.fail(f"{where}.capacity_bps", f"capacity must be {CAPACITY_RANGE_BPS[0]:g} .. "
                                                   f"{CAPACITY_RANGE_BPS[1]:g} bits/s (got {ln['capacity_bps']!r})")
            for key, scale, unit in (("delay_s", 1.0, "s"), ("length_km", 1e3 / FIBRE_SPEED_M_S, "km")):
                if key in ln and not math.isfinite(float(ln[key])):
                    self.fail(f"{where}.{key}", f"must be a finite number >= 0 (got {ln[key]!r})")
                elif key in ln and float(ln[key]) * scale > MAX_DELAY_S:
                    self.fail(f"{where}.{key}", f"must be at most {MAX_DELAY_S / scale:g} {unit} (a one-way delay of "
                                                f"{MAX_DELAY_S:g} s; got {ln[key]!r})")
            if "delay_s" in ln and "length_km" in ln:
                self.fail(where, "give delay_s or length_km, not both")
            if not ok:
                continue
            dirs = [("a", "b"), ("b", "a")] if bidir else [("a", "b")]
            for x, y in dirs:
                s, d = ln[x]["device"], ln[y]["device"]
                if (s, d) in directed:
                    self.fail(where, f"duplicate link {s}->{d}: already given by links[{directed[(s, d)]}] "
                                     "(model parallel circuits as one link, e.g. a LAG with the summed capacity)")
                directed.setdefault((s, d), i)
                self._port(ports, (s, ln[x]["interface"]), "tx", (i, x, d), where)
                self._port(ports, (d, ln[y]["interface"]), "rx", (i, y, s), where)
            out.append(LinkSpec(
                a=LinkEnd(a, ln["a"]["interface"], ln["a"].get("metric"), ln["a"].get("queue_profile", "")),
                b=LinkEnd(b, ln["b"]["interface"], ln["b"].get("metric"), ln["b"].get("queue_profile", "")),
                capacity_bps=cap, delay_s=ln.get("delay_s"), length_km=ln.get("length_km"), metric=ln.get("metric"),
                bidirectional=bidir, description=str(ln.get("description", "")),
            ))
        return out

    def _port(self, ports: dict[tuple[str, str], dict[str, tuple[int, str, str]]], key: tuple[str, str], role: str,
              use: tuple[int, str, str], where: str) -> None:
        """An interface transmits on at most one link and receives from at most one, both with the same peer."""
        seen = ports.setdefault(key, {})
        i, end, peer = use
        clash = seen.get(role)
        other = seen.get("rx" if role == "tx" else "tx")
        if clash is not None and clash[0] != i:
            bad = clash
        elif other is not None and other[2] != peer:
            bad = other
        else:
            seen.setdefault(role, use)
            return
        self.fail(f"{where}.{end}.interface",
                  f"duplicate interface {key[0]}:{key[1]}: already used by links[{bad[0]}].{bad[1]} "
                  f"(towards {bad[2]!r})")

    def _tos_classes(self) -> list[ToSClass]:
        out = []
        owner: dict[int, int] = {}
        n_default = 0
        for i, c in enumerate(self.doc.get("tos_classes") or []):
            where = f"tos_classes[{i}]"
            # JSON Schema's "integer" admits 0.0 and 8.0: index with Python ints
            dscp = [int(v) for v in c.get("dscp", [])] + [int(t) >> 2 for t in c.get("tos", [])]
            for v in dscp:
                if v in owner and owner[v] != i:
                    self.fail(where, f"DSCP {v} is already in tos_classes[{owner[v]}]")
                owner.setdefault(v, i)
            n_default += bool(c.get("default", False))
            out.append(ToSClass(str(c["name"]), int(c["class"]), tuple(sorted(set(dscp))), bool(c.get("default"))))
        if n_default > 1:
            self.fail("tos_classes", f"{n_default} classes say default: true; at most one may")
        return out

    def _probes(self, names: set[str]) -> list[Probe]:
        out = []
        seen: dict[str, int] = {}
        for i, p in enumerate(self.doc.get("probes") or []):
            where = f"probes[{i}]"
            for key in ("src", "dst"):
                if p[key] not in names:
                    self.fail(f"{where}.{key}", f"unknown device {p[key]!r}")
            if p["src"] == p["dst"]:
                self.fail(where, f"a probe needs two devices; src and dst are both {p['src']!r}")
            if "dscp" in p and "tos" in p:
                self.fail(where, "give dscp or tos, not both")
            if not math.isfinite(float(p["rate_pps"])):
                self.fail(f"{where}.rate_pps", f"must be a finite number > 0 packets/s (got {p['rate_pps']!r})")
            name = str(p.get("name", f"{p['src']}->{p['dst']}"))
            if name in seen:
                self.fail(f"{where}.name", f"probe name {name!r} is already probes[{seen[name]}]")
            seen.setdefault(name, i)
            dscp = int(p["dscp"]) if "dscp" in p else int(p.get("tos", 0)) >> 2
            out.append(Probe(name, p["src"], p["dst"], float(p["rate_pps"]), int(p["size_bytes"]), dscp))
        return out

    def _warn(self, model: NetworkModel) -> None:
        n = model.n_nodes
        if n > 1:
            adj = coo_matrix((np.ones(model.n_links), (model.link_src, model.link_dst)), shape=(n, n))
            k, label = connected_components(adj, directed=True, connection="strong")
            if k > 1:
                sizes = np.bincount(label)
                main = int(np.argmax(sizes))
                cut = [model.node_names[i] for i in np.flatnonzero(label != main)]
                model.warnings.append(
                    f"{self.source}: devices: the network is not strongly connected ({k} components); "
                    f"not mutually reachable with the largest part: {cut[:8]}{'...' if len(cut) > 8 else ''}")
        for i, ln in enumerate(model.links):
            for end_name, end in (("a", ln.a), ("b", ln.b)):
                dev = model.devices[model.node_index[end.device]]
                if end.queue_profile and end.queue_profile != (dev.queue_profile or model.default_queue_profile
                                                               or "default"):
                    model.warnings.append(
                        f"{self.source}: links[{i}].{end_name}.queue_profile: {end.queue_profile!r} differs from "
                        f"device {dev.name!r}'s profile; the twin schedules per device and uses the device's")
        for w in model.warnings:
            warnings.warn(w, NetworkModelWarning, stacklevel=4)
