"""Importers from graphs: a Topology Zoo GraphML file, a scenario YAML file → :class:`NetworkModel`.

Both produce a *valid* model (they go through
:func:`~twin.netmodel.load.model_from_dict`), ready for
:func:`~twin.netmodel.dump.dump_network_model`. What the source lacks is
filled by documented conventions, never silently:

* device names: the node labels made name-safe (:func:`~twin.netmodel.naming.unique_slugs`);
* interface names: the vendor's naming for the port speed, numbered per device
  (:class:`~twin.netmodel.naming.InterfaceNamer`); for scenario files the
  inventory's derived convention ``Ethernet1/<k>``, one port per neighbour in
  order of first appearance, so the model's inventory equals
  ``Inventory.from_scenario`` for the same scenario;
* prefixes (the inventory's derived convention): node ``i`` owns
  ``10.<i>.0.0/16`` (``10.<i // 256>.<i % 256>.0/24`` beyond 256 nodes) and
  ``fd00:0:0:<i hex>::/64``; loopbacks ``172.16.0.0 + i + 1`` and
  ``fd00:ffff::<i + 1 hex>``.

GraphML specifics: capacities and the merge of parallel edges come from
:func:`twinwatch.twin.topology.read_graphml`; a node without coordinates gets the mean
position of its located neighbours (repeated until no more can be placed; the
names are listed in ``meta.imputed_coordinates``); every link gets
``length_km`` = the great-circle distance (:func:`twinwatch.twin.topology.great_circle_m`),
except links with a placed end, whose length is unknown: they get the median
length of the measured links (listed in ``meta.estimated_length_links``).
"""

from __future__ import annotations

import ipaddress
import os
from pathlib import Path
from typing import Any

import numpy as np

from twinwatch.twin.netmodel.errors import NetworkModelError
from twinwatch.twin.netmodel.load import model_from_dict
from twinwatch.twin.netmodel.model import NetworkModel
from twinwatch.twin.netmodel.naming import InterfaceNamer, slug, unique_slugs
from twinwatch.twin.netmodel.units import format_bps
from twinwatch.twin.topology import great_circle_m, read_graphml

__all__ = ["METRIC_RULES", "derived_addresses", "import_graphml", "import_scenario_yaml"]

OS_OF_VENDOR = {"juniper": "junos", "cisco": "iosxr", "arista": "eos", "nokia": "sros"}
METRIC_RULES = ("km", "capacity", "hops")
"""IGP metric rules of :func:`import_graphml`: 1 per km (latency-like, min 1), OSPF auto-cost, all 1."""


def derived_addresses(i: int, n: int) -> dict[str, Any]:
    """Loopback and customer prefixes of node ``i`` of ``n`` by the derived convention (module docstring).

    >>> derived_addresses(3, 12)
    {'loopback': {'ipv4': '172.16.0.4', 'ipv6': 'fd00:ffff::4'}, 'prefixes': ['10.3.0.0/16', 'fd00:0:0:3::/64']}
    """
    v4 = f"10.{i}.0.0/16" if n <= 256 else f"10.{i // 256}.{i % 256}.0/24"
    return {"loopback": {"ipv4": str(ipaddress.IPv4Address("172.16.0.0") + i + 1), "ipv6": f"fd00:ffff::{i + 1:x}"},
            "prefixes": [v4, f"fd00:0:0:{i:x}::/64"]}


def _impute(lat: np.ndarray, lon: np.ndarray, a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray, list[int]]:
    """Place nodes without coordinates at the mean of their located neighbours (vectorised sweeps)."""
    lat, lon = lat.copy(), lon.copy()
    placed: list[int] = []
    src, dst = np.concatenate([a, b]), np.concatenate([b, a])
    n = lat.shape[0]
    for _ in range(n):
        known = np.isfinite(lat) & np.isfinite(lon)
        if known.all():
            break
        use = known[src] & ~known[dst]
        if not use.any():
            break
        cnt = np.bincount(dst[use], minlength=n).astype(np.float64)
        s_lat = np.bincount(dst[use], weights=lat[src[use]], minlength=n)
        s_lon = np.bincount(dst[use], weights=lon[src[use]], minlength=n)
        new = cnt > 0
        lat[new], lon[new] = s_lat[new] / cnt[new], s_lon[new] / cnt[new]
        placed.extend(np.flatnonzero(new).tolist())
    return lat, lon, sorted(placed)


def import_graphml(
    path: str | os.PathLike[str],
    *,
    name: str | None = None,
    vendor: str = "juniper",
    metric: str = "km",
    default_capacity_bps: float = 10e9,
    description: str = "",
) -> NetworkModel:
    """A network model from a Topology Zoo GraphML file (conventions in the module docstring).

    Parameters
    ----------
    path
        The ``.graphml`` file (largest connected component kept).
    name
        Network name (default: the file stem, lower-case).
    vendor
        Vendor of every device (interface naming, ``os``).
    metric
        :data:`METRIC_RULES`: ``km`` (1 per great-circle km, at least 1),
        ``capacity`` (leave it to the OSPF auto-cost) or ``hops``.
    default_capacity_bps
        Capacity of edges whose speed the file does not give.
    """
    if metric not in METRIC_RULES:
        raise ValueError(f"metric {metric!r}: expected one of {METRIC_RULES}")
    topo = read_graphml(path, default_capacity_bps=default_capacity_bps)
    m = int(topo.meta["n_undirected_edges"])  # type: ignore[call-overload]
    a, b, cap = topo.link_src[:m], topo.link_dst[:m], topo.link_capacity_bps[:m]
    lat, lon, imputed = _impute(topo.node_lat, topo.node_lon, a, b)
    km = great_circle_m(lat[a], lon[a], lat[b], lon[b]) / 1e3
    located = np.isfinite(topo.node_lat) & np.isfinite(topo.node_lon)
    measured = located[a] & located[b]
    guessed = ~measured & np.isfinite(km)
    if guessed.any() and measured.any():  # a placed node may sit on its only neighbour: use a typical length
        km[guessed] = float(np.median(km[measured]))
    names = unique_slugs(topo.node_names)
    n = len(names)
    devices = []
    for i, label in enumerate(topo.node_names):
        dev: dict[str, Any] = {"name": names[i], "role": "core", "vendor": vendor}
        if vendor.lower() in OS_OF_VENDOR:
            dev["os"] = OS_OF_VENDOR[vendor.lower()]
        if label != names[i]:
            dev["description"] = label
        if np.isfinite(lat[i]) and np.isfinite(lon[i]):
            dev["lat"], dev["lon"] = round(float(lat[i]), 5), round(float(lon[i]), 5)
        devices.append(dev | derived_addresses(i, n))
    namers = [InterfaceNamer(vendor) for _ in range(n)]
    links = []
    for s, d, c, k in zip(a.tolist(), b.tolist(), cap.tolist(), km.tolist()):
        entry: dict[str, Any] = {"a": {"device": names[s], "interface": namers[s].next(c)},
                                 "b": {"device": names[d], "interface": namers[d].next(c)},
                                 "capacity_bps": format_bps(c)}
        if np.isfinite(k):
            entry["length_km"] = round(k, 3)
        if metric == "km":
            entry["metric"] = max(1, round(k)) if np.isfinite(k) else 1
        elif metric == "hops":
            entry["metric"] = 1
        links.append(entry)
    meta: dict[str, Any] = {"source": Path(path).name, "importer": "graphml",
                            "capacity_defaulted_edges": int(topo.meta["capacity_defaulted"])}  # type: ignore[call-overload]
    if imputed:
        meta["imputed_coordinates"] = [names[i] for i in imputed]
        meta["estimated_length_links"] = [f"{names[s]}-{names[d]}" for s, d in zip(a[guessed].tolist(),
                                                                                   b[guessed].tolist())]
    if topo.meta.get("dropped_nodes"):
        meta["dropped_nodes"] = list(topo.meta["dropped_nodes"])  # type: ignore[call-overload]
    doc = {"version": 1, "name": slug(name or Path(path).stem.lower()),
           "description": description or f"imported from {Path(path).name} (Topology Zoo GraphML)",
           "devices": devices, "links": links, "meta": meta}
    return model_from_dict(doc, source=str(path))


def import_scenario_yaml(path: str | os.PathLike[str], *, name: str | None = None, vendor: str = "") -> NetworkModel:
    """A network model from a scenario YAML file (:mod:`twinwatch.twin.datasets.scenario_yaml`).

    Topology, capacities, delays and scheduling carry over; traffic and routes
    do not (they belong to a time window, not to the network). Reverse link
    pairs with equal capacity and delay become one cable. The IGP metric is the
    propagation delay in microseconds (at least 1), so shortest paths by delay,
    the scenario format's default routing, are kept.
    """
    from twinwatch.twin.datasets.scenario_yaml import load_scenario_yaml
    from twinwatch.twin.scenario import Policy

    sc = load_scenario_yaml(path)
    if sc.time_unit != "s":
        raise NetworkModelError(str(path), [("time_unit", f"the scenario counts time in {sc.time_unit!r}; a network "
                                                          "model needs seconds and bits per second")])
    n = sc.n_nodes
    raw_names: list[Any] = list(sc.meta.get("node_names") or range(n))  # type: ignore[call-overload]
    names = unique_slugs([str(x) for x in raw_names])
    lat = np.asarray(sc.meta.get("node_lat", [np.nan] * n), dtype=np.float64)
    lon = np.asarray(sc.meta.get("node_lon", [np.nan] * n), dtype=np.float64)
    profiles: dict[tuple[Any, ...], str] = {}
    node_profile = []
    for i in range(n):
        pol = Policy(int(sc.node_policy[i])).name
        w = tuple(float(x) for x in sc.node_weights[i] if np.isfinite(x)) if pol in ("WFQ", "DRR") else ()
        q = tuple(float(x) for x in sc.node_queue_pkts[i] if np.isfinite(x))
        bits = float(sc.node_buffer_bits[i])
        key = (pol, w, q, bits if np.isfinite(bits) else None)
        node_profile.append(profiles.setdefault(key, f"{pol.lower()}-{len(profiles) + 1}"))
    qp: dict[str, Any] = {}
    for (pol, w, q, bits), pname in profiles.items():
        entry: dict[str, Any] = {"policy": pol}
        if w:
            entry["weights"] = list(w)
        if q:
            entry["buffer"] = {"packets": q[0] if len(set(q)) == 1 else list(q)}
        elif bits is not None:
            entry["buffer"] = {"bytes": bits / 8.0}
        else:
            entry["buffer"] = {"packets": 1000}
            entry["description"] = "the scenario gave no buffer; built-in default of 1000 packets"
        qp[pname] = entry
    # ports: Ethernet1/<k>, one per neighbour, in order of first appearance (the inventory's derived convention)
    port: dict[tuple[int, int], int] = {}
    count = [0] * n
    src, dst = sc.link_src.tolist(), sc.link_dst.tolist()
    for s, d in zip(src, dst):
        for u, v in ((s, d), (d, s)):
            if (u, v) not in port:
                count[u] += 1
                port[(u, v)] = count[u]
    index = {(s, d): i for i, (s, d) in enumerate(zip(src, dst))}
    done: set[int] = set()
    links = []
    for i, (s, d) in enumerate(zip(src, dst)):
        if i in done:
            continue
        cap, prop = float(sc.link_capacity_bps[i]), float(sc.link_prop_delay_s[i])
        j = index.get((d, s))
        both = j is not None and j not in done and sc.link_capacity_bps[j] == cap and sc.link_prop_delay_s[j] == prop
        entry = {"a": {"device": names[s], "interface": f"Ethernet1/{port[(s, d)]}"},
                 "b": {"device": names[d], "interface": f"Ethernet1/{port[(d, s)]}"},
                 "capacity_bps": format_bps(cap), "delay_s": prop, "metric": max(1, round(prop * 1e6))}
        if both:
            done.add(int(j))  # type: ignore[arg-type]
        else:
            entry = {"id": f"{names[s]}->{names[d]}", "bidirectional": False, **entry}
        done.add(i)
        links.append(entry)
    devices = []
    for i in range(n):
        dev: dict[str, Any] = {"name": names[i], "role": "core", "queue_profile": node_profile[i]}
        if vendor:
            dev["vendor"] = vendor
        if np.isfinite(lat[i]) and np.isfinite(lon[i]):
            dev["lat"], dev["lon"] = float(lat[i]), float(lon[i])
        devices.append(dev | derived_addresses(i, n))
    doc = {"version": 1, "name": slug(name or sc.name or Path(path).stem), "devices": devices, "links": links,
           "queue_profiles": qp, "description": f"imported from {Path(path).name} (scenario YAML)",
           "meta": {"source": Path(path).name, "importer": "scenario"}}
    return model_from_dict(doc, source=str(path))
