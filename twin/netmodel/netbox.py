"""Importer from a NetBox export: the JSON of ``/api/dcim/devices/``, ``/api/dcim/interfaces/``, ``/api/dcim/cables/``.

Each input file holds what NetBox's REST API returns: one page
``{"count", "next", "previous", "results": [...]}``, a list of such pages, or
a bare list of objects. Which endpoint a file came from is recognised from
its objects (devices have ``device_type``, cables ``a_terminations``,
interfaces a ``device`` and a ``name``), so the files can be given in any
order, or as one folder. An export that holds fewer objects than its
``count`` (a page is missing) is an error.

What is taken (NetBox ≥ 3.3 cable model; ``role`` is ``device_role`` before 4.0):

* a **link** per cable whose status is ``connected`` with exactly one
  ``dcim.interface`` termination on each side (other cables — to circuits,
  patch panels, power — are skipped and listed in ``meta.skipped_cables``);
* **capacity** from the interfaces' ``speed`` (kbit/s; the smaller end wins),
  else from the interface type (``100gbase-x-qsfp28`` → 100 Gb/s);
* **length** from the cable's ``length`` and ``length_unit`` (km, m, cm, mi,
  ft, in), else the devices' ``latitude``/``longitude`` give the delay;
* **metric** per direction from the interface's custom field
  ``igp_metric`` (or ``ospf_cost``, ``isis_metric``) when present;
* **parallel cables** between the same two devices (LAG members) are one
  link: capacity summed, the LAG interface (``lag``) as each end's interface
  when all members share one, the longest length (``meta.merged_parallel_cables``);
* **devices** that terminate at least one such cable: ``role`` slug,
  ``vendor`` = manufacturer slug, ``os`` = platform slug, ``model``,
  coordinates, and loopbacks from ``primary_ip4``/``primary_ip6``. A name
  that is not name-safe is made so and the original kept as ``hostname``.
"""

from __future__ import annotations

import json
import math
import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from twinwatch.twin.netmodel.errors import NetworkModelError
from twinwatch.twin.netmodel.load import model_from_dict
from twinwatch.twin.netmodel.model import NetworkModel
from twinwatch.twin.netmodel.naming import slug
from twinwatch.twin.netmodel.units import format_bps

__all__ = ["import_netbox", "read_netbox_export"]

_KM = {"km": 1.0, "m": 1e-3, "cm": 1e-5, "mi": 1.609344, "ft": 3.048e-4, "in": 2.54e-5}
_TYPE_SPEED = re.compile(r"^(\d+(?:\.\d+)?)(g|m)base", re.IGNORECASE)
_METRIC_FIELDS = ("igp_metric", "ospf_cost", "isis_metric")


def _kind(obj: Mapping[str, Any]) -> str:
    if "a_terminations" in obj:
        return "cables"
    if "device_type" in obj:
        return "devices"
    if "device" in obj and "name" in obj:
        return "interfaces"
    return ""


def _files(paths: Iterable[str | os.PathLike[str]]) -> list[Path]:
    out: list[Path] = []
    for p in map(Path, paths):
        out.extend(sorted(p.glob("*.json")) if p.is_dir() else [p])
    return out


def read_netbox_export(paths: Iterable[str | os.PathLike[str]]) -> dict[str, list[dict[str, Any]]]:
    """``{"devices": [...], "interfaces": [...], "cables": [...]}`` from the export files (or folders)."""
    found: dict[str, list[dict[str, Any]]] = {"devices": [], "interfaces": [], "cables": []}
    expected: dict[str, int] = {}
    for path in _files(paths):
        try:
            data = json.loads(path.read_bytes())
        except OSError as exc:
            raise NetworkModelError(str(path), [("", f"cannot read the file ({exc.strerror or exc})")]) from exc
        except ValueError as exc:
            raise NetworkModelError(str(path), [("", f"not valid JSON: {exc}")]) from None
        pages = data if isinstance(data, list) and data and isinstance(data[0], Mapping) and "results" in data[0] \
            else [data]
        for k, page in enumerate(pages):
            where = f"[{k}]" if len(pages) > 1 else ""
            if isinstance(page, Mapping) and "results" in page:
                objs, count = page["results"], page.get("count")
            elif isinstance(page, list):
                objs, count = page, None
            else:
                raise NetworkModelError(str(path), [(where, "expected a NetBox API page {count, next, previous, "
                                                            "results} or a list of objects")])
            if not isinstance(objs, list) or not all(isinstance(o, Mapping) for o in objs):
                raise NetworkModelError(str(path), [(f"{where}results", "expected a list of objects")])
            kinds = {_kind(o) for o in objs}
            if "" in kinds or len(kinds) > 1:
                raise NetworkModelError(str(path), [(f"{where}results", "objects are not all NetBox devices, "
                                                                        "interfaces or cables")])
            if not objs:
                continue
            kind = kinds.pop()
            found[kind].extend(objs)
            if isinstance(count, int):
                expected[kind] = max(expected.get(kind, 0), count)
    for kind, objs in found.items():
        if not objs:
            raise NetworkModelError(kind, [("", f"no {kind} in the export; give the JSON of /api/dcim/{kind}/")])
        if expected.get(kind, 0) > len(objs):
            raise NetworkModelError(kind, [("", f"the export holds {len(objs)} of {expected[kind]} {kind} (count); "
                                                "fetch every page (follow 'next', or ?limit=0)")])
    return found


def _speed_bps(iface: Mapping[str, Any]) -> float:
    speed = iface.get("speed")
    if isinstance(speed, (int, float)) and speed > 0:
        return float(speed) * 1e3  # NetBox stores kbit/s
    typ = iface.get("type")
    value = typ.get("value", "") if isinstance(typ, Mapping) else str(typ or "")
    m = _TYPE_SPEED.match(value)
    if m:
        return float(m.group(1)) * (1e9 if m.group(2).lower() == "g" else 1e6)
    return math.nan


def _metric(iface: Mapping[str, Any]) -> int | None:
    cf = iface.get("custom_fields") or {}
    for key in _METRIC_FIELDS:
        v = cf.get(key)
        if isinstance(v, int) and not isinstance(v, bool):
            return v
    return None


def _addr(ip: object) -> str | None:
    if isinstance(ip, Mapping) and ip.get("address"):
        return str(ip["address"]).split("/")[0]
    return None


_End = tuple[str, str, Mapping[str, Any]]  # (device, interface name, interface object)


@dataclass(frozen=True)
class _Cable:
    id: str
    a: _End
    b: _End
    capacity_bps: float
    length_km: float | None
    label: str


def _link(members: list[_Cable], ifaces: Mapping[int, Mapping[str, Any]]) -> dict[str, Any]:
    """One link entry for the cables between two devices; parallel cables are one link (a LAG, summed capacity)."""
    first = members[0]
    sides = []
    for side in ("a", "b"):
        dev = getattr(first, side)[0]
        ends = [c.a if c.a[0] == dev else c.b for c in members]
        lags = {(e[2].get("lag") or {}).get("id") for e in ends}
        lag_id = lags.pop() if len(lags) == 1 else None
        parent = ifaces.get(lag_id) if lag_id is not None else None
        if len(members) > 1 and lag_id is not None:
            name = str((parent or {}).get("name") or (ends[0][2].get("lag") or {}).get("name"))
            metric = _metric(parent) if parent else None
        else:
            name, metric = ends[0][1], _metric(ends[0][2])
        if metric is None:
            metric = next((m for m in (_metric(e[2]) for e in ends) if m is not None), None)
        e: dict[str, Any] = {"device": slug(dev), "interface": name}
        if metric is not None:
            e["metric"] = metric
        sides.append(e)
    entry: dict[str, Any] = {"a": sides[0], "b": sides[1],
                             "capacity_bps": format_bps(sum(c.capacity_bps for c in members))}
    lengths = [c.length_km for c in members if c.length_km is not None]
    if lengths:
        entry["length_km"] = max(lengths)
    labels = [c.label for c in members if c.label]
    if labels:
        entry["description"] = ", ".join(labels)
    return entry


def import_netbox(paths: Iterable[str | os.PathLike[str]], *, name: str = "netbox") -> NetworkModel:
    """A network model from a NetBox export (files or a folder; rules in the module docstring)."""
    paths = list(paths)
    data = read_netbox_export(paths)
    source = ", ".join(str(p) for p in paths)
    ifaces = {int(i["id"]): i for i in data["interfaces"] if "id" in i}
    devs_by_name = {str(d["name"]): d for d in data["devices"] if d.get("name")}
    links: list[dict[str, Any]] = []
    circuits: list[_Cable] = []
    used: list[str] = []
    skipped: list[str] = []
    problems = []
    for k, cable in enumerate(data["cables"]):
        label = f"cable {cable.get('id', k)}"
        status = cable.get("status")
        status = status.get("value") if isinstance(status, Mapping) else status
        ends = []
        for side in ("a_terminations", "b_terminations"):
            terms = cable.get(side) or []
            if len(terms) == 1 and terms[0].get("object_type") == "dcim.interface":
                ends.append(terms[0])
        if status not in (None, "connected"):
            skipped.append(f"{label}: status {status!r}, not connected")
            continue
        if len(ends) != 2:
            kinds = sorted({t.get("object_type", "?") for side in ("a_terminations", "b_terminations")
                            for t in cable.get(side) or []})
            skipped.append(f"{label}: terminations {kinds}, not one dcim.interface on each side")
            continue
        rows = []
        for t in ends:
            obj = t.get("object") or {}
            full = ifaces.get(int(t.get("object_id", obj.get("id", -1))), obj)
            on = (full.get("device") or obj.get("device") or {}).get("name")
            if not on or on not in devs_by_name:
                problems.append((f"cables.results[{k}]", f"{label} ends on device {on!r}, which is not in the "
                                                         "devices export"))
                break
            rows.append((str(on), str(full.get("name") or obj.get("name")), full))
        if len(rows) != 2:
            continue
        caps = [_speed_bps(r[2]) for r in rows]
        cap = min((c for c in caps if math.isfinite(c)), default=math.nan)
        if not math.isfinite(cap):
            problems.append((f"cables.results[{k}]", f"{label}: neither interface ({rows[0][0]}:{rows[0][1]}, "
                                                     f"{rows[1][0]}:{rows[1][1]}) gives a speed or a known type"))
            continue
        length, unit = cable.get("length"), cable.get("length_unit")
        unit = unit.get("value") if isinstance(unit, Mapping) else unit
        km = round(float(length) * _KM[unit], 6) if isinstance(length, (int, float)) and unit in _KM else None
        circuits.append(_Cable(str(cable.get("id", k)), rows[0], rows[1], cap, km, str(cable.get("label") or "")))
        used.extend(r[0] for r in rows)
    if problems:
        raise NetworkModelError(source, problems)
    groups: dict[frozenset[str], list[_Cable]] = {}
    for c in circuits:
        groups.setdefault(frozenset((c.a[0], c.b[0])), []).append(c)
    merged: list[str] = []
    for members in groups.values():
        links.append(_link(members, ifaces))
        if len(members) > 1:
            merged.append(f"{members[0].a[0]}-{members[0].b[0]}: cables {', '.join(c.id for c in members)} "
                          f"-> {links[-1]['a']['interface']} / {links[-1]['b']['interface']}")
    if problems:
        raise NetworkModelError(source, problems)
    devices = []
    for dname in dict.fromkeys(used):
        d = devs_by_name[dname]
        role = d.get("role") or d.get("device_role") or {}
        dtype = d.get("device_type") or {}
        dev: dict[str, Any] = {"name": slug(dname), "role": str(role.get("slug") or role.get("name") or "core")}
        if slug(dname) != dname:
            dev["hostname"] = dname
        maker = (dtype.get("manufacturer") or {}).get("slug")
        if maker:
            dev["vendor"] = str(maker)
        if (d.get("platform") or {}).get("slug"):
            dev["os"] = str(d["platform"]["slug"])
        if dtype.get("model"):
            dev["model"] = str(dtype["model"])
        if d.get("latitude") is not None and d.get("longitude") is not None:
            dev["lat"], dev["lon"] = float(d["latitude"]), float(d["longitude"])
        loop = {k: v for k, v in (("ipv4", _addr(d.get("primary_ip4"))), ("ipv6", _addr(d.get("primary_ip6")))) if v}
        if loop:
            dev["loopback"] = loop
        devices.append(dev)
    unused = sorted(set(devs_by_name) - set(used))
    meta: dict[str, Any] = {"importer": "netbox", "source": [Path(p).name for p in paths]}
    if skipped:
        meta["skipped_cables"] = skipped
    if merged:
        meta["merged_parallel_cables"] = merged
    if unused:
        meta["devices_without_links"] = unused
    doc = {"version": 1, "name": slug(name), "description": "imported from a NetBox export",
           "devices": devices, "links": links, "meta": meta}
    return model_from_dict(doc, source=source)
