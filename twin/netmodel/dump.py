"""Write a :class:`NetworkModel` back as a network-model YAML file.

The output is the canonical form of the model: capacities as SI strings
where exact (``10G``), optional keys only where they differ from the
defaults, device and link order preserved (so node and link numbers survive
a round trip). :func:`document` gives the plain dict; reading it back with
:func:`twinwatch.twin.netmodel.load.model_from_dict` yields the same arrays.
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any

import yaml

from twinwatch.twin.netmodel.model import REFERENCE_BANDWIDTH_BPS, LinkEnd, NetworkModel
from twinwatch.twin.netmodel.units import format_bps

__all__ = ["document", "dump_network_model"]


def _num(x: float) -> float | int:
    return int(x) if float(x).is_integer() else float(x)


def _end(e: LinkEnd) -> dict[str, Any]:
    out: dict[str, Any] = {"device": e.device, "interface": e.interface}
    if e.metric is not None:
        out["metric"] = int(e.metric)
    if e.queue_profile:
        out["queue_profile"] = e.queue_profile
    return out


def document(model: NetworkModel) -> dict[str, Any]:
    """The file's document (plain dicts and lists) for ``model``."""
    doc: dict[str, Any] = {"version": model.version, "name": model.name}
    if model.description:
        doc["description"] = model.description
    defaults: dict[str, Any] = {}
    if model.default_queue_profile:
        defaults["queue_profile"] = model.default_queue_profile
    if model.default_metric is not None:
        defaults["metric"] = int(model.default_metric)
    if model.reference_bandwidth_bps != REFERENCE_BANDWIDTH_BPS:
        defaults["reference_bandwidth_bps"] = format_bps(model.reference_bandwidth_bps)
    if defaults:
        doc["defaults"] = defaults
    if model.queue_profiles:
        profiles = {}
        for name, p in model.queue_profiles.items():
            entry: dict[str, Any] = {"policy": p.policy}
            if p.weights:
                entry["weights"] = [_num(w) for w in p.weights]
            if p.buffer_packets:
                pk = [_num(x) for x in p.buffer_packets]
                entry["buffer"] = {"packets": pk[0] if len(pk) == 1 else pk}
            elif p.buffer_bytes is not None:
                entry["buffer"] = {"bytes": _num(p.buffer_bytes)}
            else:
                entry["buffer"] = {"ms": _num(p.buffer_ms or 0.0)}
            if p.description:
                entry["description"] = p.description
            profiles[name] = entry
        doc["queue_profiles"] = profiles
    if model.tos_classes:
        doc["tos_classes"] = [
            {"name": c.name, "class": c.class_id, "dscp": list(c.dscp)} | ({"default": True} if c.default else {})
            for c in model.tos_classes
        ]
    doc["devices"] = [_device(d) for d in model.devices]
    doc["links"] = []
    for ln in model.links:
        entry = {"a": _end(ln.a), "b": _end(ln.b)}
        if not ln.bidirectional:
            entry = {"id": f"{ln.a.device}->{ln.b.device}", **entry, "bidirectional": False}
        entry["capacity_bps"] = format_bps(ln.capacity_bps)
        if ln.delay_s is not None:
            entry["delay_s"] = _num(ln.delay_s)
        if ln.length_km is not None:
            entry["length_km"] = _num(ln.length_km)
        if ln.metric is not None:
            entry["metric"] = int(ln.metric)
        if ln.description:
            entry["description"] = ln.description
        doc["links"].append(entry)
    if model.probes:
        doc["probes"] = [
            {"name": p.name, "src": p.src, "dst": p.dst, "rate_pps": _num(p.rate_pps), "size_bytes": p.size_bytes,
             "dscp": p.dscp} for p in model.probes
        ]
    if model.meta:
        doc["meta"] = model.meta
    return doc


def _device(d: Any) -> dict[str, Any]:
    out: dict[str, Any] = {"name": d.name, "role": d.role}
    for key in ("vendor", "os", "model", "hostname", "description"):
        if getattr(d, key):
            out[key] = getattr(d, key)
    if not (math.isnan(d.lat) or math.isnan(d.lon)):
        out["lat"], out["lon"] = _num(d.lat), _num(d.lon)
    loop = {k: v for k, v in (("ipv4", d.loopback_ipv4), ("ipv6", d.loopback_ipv6)) if v}
    if loop:
        out["loopback"] = loop
    if d.prefixes:
        out["prefixes"] = list(d.prefixes)
    if d.queue_profile:
        out["queue_profile"] = d.queue_profile
    return out


def dump_network_model(model: NetworkModel, path: str | os.PathLike[str] | None = None, *, header: str = "") -> str:
    """The YAML text of ``model`` (written to ``path`` when given), with ``header`` as leading ``#`` comments."""
    text = yaml.safe_dump(document(model), sort_keys=False, default_flow_style=None, width=120, allow_unicode=True)
    lines = [f"# {h}".rstrip() for h in header.splitlines()] if header else []
    lines.insert(0, "# twinwatch network model (format: twin/netmodel/__init__.py, schema: twin/netmodel/schema.json)")
    out = "\n".join(lines) + "\n" + text
    if path is not None:
        Path(path).write_text(out, encoding="utf-8")
    return out
