"""Inventory: device + interface → link, link → (src, dst, capacity), prefix → node.

The inventory is what turns a device's interface counters into KPIs of the
twin's directed links, and flow addresses into the twin's nodes. It is a YAML
or JSON file, or is derived from a topology (:meth:`Inventory.from_scenario`,
:meth:`Inventory.from_graph`).

File format (YAML shown; JSON with the same keys works)::

    network: lab
    devices: {r1: r1.lab.example.net}     # node → device name (default: the node name)
    links:
      - {id: r1->r2, src: r1, dst: r2, capacity_bps: 10e9,
         src_interface: Ethernet1/1, dst_interface: et-0/0/1}
      - {id: r2->r1, src: r2, dst: r1, capacity_bps: 10e9,
         src_interface: et-0/0/1, dst_interface: Ethernet1/1}
    interfaces:                           # optional explicit entries; override the above
      - {device: r2, interface: et-0/0/1.100, link: r2->r1, rx_link: r1->r2}
    prefixes: {10.1.0.0/16: r1, 2001:db8:1::/48: r1}

A link ``src -> dst`` leaves ``src`` by ``src_interface`` (its egress port:
``tx_*`` counters of that port measure the link) and arrives at ``dst`` by
``dst_interface`` (its ingress port: ``rx_*`` counters there measure the same
link). Interface names go through
:func:`~telemetry_adapters.interfaces.normalize_interface`, so any spelling
the device uses matches.

Derived inventories (documented convention): devices are named by node
(``str(node)`` for a :class:`~twin.scenario.Scenario`, the node label for a
graph); node ``u`` has one port per neighbour, ``Ethernet1/<k>`` with ``k``
counting from 1 in order of first appearance in the link list; link ids are
``"<src>-><dst>"``; node ``i`` owns ``10.<i>.0.0/16`` (``10.<i // 256>.<i %
256>.0/24`` when there are more than 256 nodes) and ``fd00:0:0:<i hex>::/64``.

Examples
--------
>>> inv = Inventory.from_dict({
...     "links": [{"id": "a->b", "src": "a", "dst": "b", "capacity_bps": 1e9,
...                "src_interface": "Gi0/1", "dst_interface": "xe-0/0/0"}],
...     "prefixes": {"10.1.0.0/16": "a", "10.1.2.0/24": "b", "2001:db8::/32": "b"}})
>>> inv.resolve("a", "GigabitEthernet0/1")
Port(link='a->b', rx_link=None, capacity_bps=1000000000.0)
>>> inv.resolve("b", "interface[name=xe-0/0/0]/subinterfaces/subinterface[index=0]")
Port(link=None, rx_link='a->b', capacity_bps=nan)
>>> inv.lookup_nodes(["10.1.9.9", "10.1.2.3", "192.0.2.1", "2001:db8::1"]).tolist()
['a', 'b', None, 'b']
"""

from __future__ import annotations

import ipaddress
import json
import math
import os
import socket
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import yaml

from twinwatch.telemetry_adapters.errors import Reason, Rejection, TelemetryError
from twinwatch.telemetry_adapters.interfaces import lookup_candidates, normalize_interface
from twinwatch.telemetry_adapters.schema import FlowBatch

__all__ = ["Inventory", "InventoryError", "Link", "Port"]

_V4_MAPPED = b"\x00" * 10 + b"\xff\xff"
_TOP_KEYS = frozenset({"network", "devices", "links", "interfaces", "prefixes"})
_LINK_KEYS = frozenset({"id", "src", "dst", "capacity_bps", "src_interface", "dst_interface"})
_INTERFACE_KEYS = frozenset({"device", "interface", "link", "rx_link"})


def _check_keys(row: Mapping[Any, Any], allowed: frozenset[str], origin: str, where: str) -> None:
    unknown = sorted(str(k) for k in row if k not in allowed)
    if unknown:
        raise InventoryError(f"{origin}: unknown key(s) {', '.join(map(repr, unknown))} in {where}; "
                             f"allowed: {', '.join(sorted(allowed))}")  # fmt: skip


def _section(data: Mapping[str, Any], key: str, kind: type, origin: str) -> Any:
    """``data[key]`` (empty when absent or null), which must be a list or a mapping."""
    value = data.get(key)
    if value is None:
        return {} if kind is Mapping else []
    if not isinstance(value, kind):
        want = "a mapping" if kind is Mapping else "a list"
        raise InventoryError(f"{origin}: '{key}' must be {want}, got {type(value).__name__} ({value!r:.60})")
    return value


def _name(row: Mapping[str, Any], key: str, origin: str, where: str) -> str:
    value = row.get(key)
    if value is None or isinstance(value, Mapping | list | bool) or str(value) == "":
        raise InventoryError(f"{origin}: {where} needs '{key}' (a name), got {value!r:.60}")
    return str(value)


def _capacity(value: Any, origin: str, where: str) -> float:
    """Capacity in bits/s: absent, null or NaN = unknown (NaN); otherwise a finite number > 0."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return math.nan
    try:
        cap = float(value) if not isinstance(value, bool) else -1.0
    except (TypeError, ValueError):
        cap = -1.0
    if not (math.isfinite(cap) and cap > 0):
        raise InventoryError(f"{origin}: {where} must be a number of bits/s > 0, got {value!r:.60}")
    return cap


class InventoryError(TelemetryError, ValueError):
    """The inventory file or topology is inconsistent; the message names the element."""


@dataclass(frozen=True, slots=True)
class Link:
    """A directed link: ``src`` → ``dst`` node, capacity in bits/s (NaN when unknown)."""

    id: str
    src: str
    dst: str
    capacity_bps: float = math.nan


@dataclass(frozen=True, slots=True)
class Port:
    """What one device interface measures.

    ``link``: the link it transmits on (``tx_*`` counters); ``rx_link``: the
    link it receives from (``rx_*`` counters); ``capacity_bps`` of ``link``.
    """

    link: str | None
    rx_link: str | None
    capacity_bps: float = math.nan


def _packed(addr: str) -> bytes:
    """16-byte big-endian address; IPv4 as IPv4-mapped IPv6 (``::ffff:a.b.c.d``)."""
    if ":" in addr:
        return socket.inet_pton(socket.AF_INET6, addr)
    return _V4_MAPPED + socket.inet_pton(socket.AF_INET, addr)


class Inventory:
    """Maps for the normaliser and the flow reader; see the module docstring for the file format.

    Parameters
    ----------
    links
        The directed links.
    ports
        ``(device, interface)`` → :class:`Port`; interface names are normalised here.
    prefixes
        CIDR prefix → node (IPv4 and IPv6 mixed; longest match wins).
    devices
        Node → device name, when they differ.
    network
        Network name (informational).
    """

    def __init__(
        self,
        links: Iterable[Link] = (),
        ports: Mapping[tuple[str, str], Port] | None = None,
        prefixes: Mapping[str, str] | None = None,
        devices: Mapping[str, str] | None = None,
        network: str = "",
    ) -> None:
        self.network = network
        self.links: dict[str, Link] = {}
        for ln in links:
            if ln.id in self.links:
                raise InventoryError(f"inventory: link id {ln.id!r} is given more than once")
            self.links[ln.id] = ln
        self.devices: dict[str, str] = dict(devices or {})
        self.nodes_by_device: dict[str, str] = {d: n for n, d in self.devices.items()}
        self.ports: dict[tuple[str, str], Port] = {}
        for (dev, ifc), port in (ports or {}).items():
            for lid in (port.link, port.rx_link):
                if lid is not None and lid not in self.links:
                    raise InventoryError(f"inventory: interface {dev}:{ifc} refers to unknown link {lid!r}")
            self.ports[(dev, normalize_interface(ifc))] = port
        self.prefixes: dict[str, str] = {}
        self._build_prefixes(prefixes or {})
        self.nodes: set[str] = {ln.src for ln in self.links.values()} | {ln.dst for ln in self.links.values()}
        self.nodes |= set(self.devices) | set(self.prefixes.values())

    # --------------------------------------------------------------- lookups
    def resolve(self, device: str, interface: str) -> Port | None:
        """The :class:`Port` of ``device``'s ``interface`` (any spelling), or ``None`` when unmapped."""
        for name in lookup_candidates(interface):
            port = self.ports.get((device, name))
            if port is not None:
                return port
        return None

    def node_of_device(self, device: str) -> str:
        """Node name of a device (the device name itself when no alias is given)."""
        return self.nodes_by_device.get(device, device)

    def node_of(self, name: str) -> str | None:
        """The node a name stands for: a node, a device alias, or an address (longest-prefix match).

        >>> inv = Inventory(devices={"r1": "r1.example.net"}, prefixes={"10.1.0.0/16": "r1"})
        >>> inv.node_of("r1"), inv.node_of("r1.example.net"), inv.node_of("10.1.2.3"), inv.node_of("x")
        ('r1', 'r1', 'r1', None)
        """
        if name in self.nodes:
            return name
        node = self.nodes_by_device.get(name)
        if node is not None:
            return node
        found = self.lookup_nodes([name])[0]
        return None if found is None else str(found)

    def lookup_nodes(self, addrs: Sequence[str] | npt.NDArray[Any]) -> npt.NDArray[np.object_]:
        """``(n,)`` object array: the node owning each address by longest-prefix match, ``None`` when none.

        Unparseable addresses give ``None`` as well. IPv4 and IPv6 are mixed freely.
        """
        cache: dict[str, bytes] = {}
        keys = np.empty(len(addrs), dtype="S16")
        ok = np.ones(len(addrs), dtype=bool)
        for i, a in enumerate(addrs):
            b = cache.get(a)
            if b is None:
                try:
                    b = _packed(a)
                except (OSError, TypeError, ValueError):
                    b = b""
                    ok[i] = False
                cache[a] = b
            elif not b:
                ok[i] = False
            keys[i] = b
        seg = np.searchsorted(self._seg_start, keys, side="right") - 1
        out: npt.NDArray[np.object_] = self._seg_node[np.maximum(seg, 0)]
        out[~(ok & (seg >= 0))] = None
        return out

    def map_flows(self, flows: FlowBatch, *, max_rejections: int = 1000) -> tuple[FlowBatch, list[Rejection]]:
        """``flows`` with ``src_node`` / ``dst_node`` filled by longest-prefix match.

        Flows whose addresses match no prefix keep ``None`` there (nothing is
        dropped) and each such address is reported once as ``unmapped_entity``.

        >>> from twinwatch.telemetry_adapters.schema import FlowBatchBuilder
        >>> fb = FlowBatchBuilder()
        >>> fb.add(ts=1.0, network="n", src_addr="10.1.0.1", dst_addr="192.0.2.9", bytes=1.0, packets=1.0,
        ...        sampling_rate=1, proto=6, src_port=1, dst_port=2, source="goflow2")
        >>> out, rej = Inventory(prefixes={"10.1.0.0/16": "a"}).map_flows(fb.build())
        >>> out.src_node.tolist(), out.dst_node.tolist(), [r.reason for r in rej]
        (['a'], [None], ['unmapped_entity'])
        """
        src = self.lookup_nodes(flows.src_addr)
        dst = self.lookup_nodes(flows.dst_addr)
        cols = {f.name: getattr(flows, f.name) for f in fields(flows)}
        cols["src_node"], cols["dst_node"] = src, dst
        unmapped = [a for a, node in zip(flows.src_addr.tolist(), src.tolist()) if node is None]
        unmapped += [a for a, node in zip(flows.dst_addr.tolist(), dst.tolist()) if node is None]
        why = "matches no inventory prefix; add one under 'prefixes'"
        rejections = [
            Rejection(Reason.UNMAPPED_ENTITY, f"address {a!r} {why}", str(a).encode(), "inventory")
            for a in list(dict.fromkeys(unmapped))[:max_rejections]
        ]
        return FlowBatch(**cols), rejections

    # -------------------------------------------------------------- prefixes
    def _build_prefixes(self, prefixes: Mapping[str, str]) -> None:
        """Flatten nested CIDR prefixes into disjoint segments for a vectorised search."""
        nets = []
        for text, node in prefixes.items():
            try:
                net = ipaddress.ip_network(str(text), strict=False)
            except ValueError as exc:
                raise InventoryError(f"inventory: prefix {text!r} (node {node!r}) is not a CIDR prefix: {exc}") from exc
            if net.version == 4:
                lo = int.from_bytes(_V4_MAPPED + net.network_address.packed, "big")
                plen = 96 + net.prefixlen
            else:
                lo = int(net.network_address)
                plen = net.prefixlen
            nets.append((lo, plen, str(node)))
            self.prefixes[str(net)] = str(node)
        # CIDR blocks are nested or disjoint: sweep them in (start, length) order with a stack
        nets.sort(key=lambda x: (x[0], x[1]))
        starts: list[int] = [0]
        owners: list[str | None] = [None]
        stack: list[tuple[int, str]] = []  # (end exclusive, node)

        def emit(at: int, node: str | None) -> None:
            if starts[-1] == at:
                owners[-1] = node
            elif owners[-1] != node:
                starts.append(at)
                owners.append(node)

        for lo, plen, node in nets:
            while stack and stack[-1][0] <= lo:
                end, _ = stack.pop()
                emit(end, stack[-1][1] if stack else None)
            stack.append((lo + (1 << (128 - plen)), node))
            emit(lo, node)
        while stack:
            end, _ = stack.pop()
            if end < 1 << 128:
                emit(end, stack[-1][1] if stack else None)
        self._seg_start = np.array([s.to_bytes(16, "big") for s in starts], dtype="S16")
        self._seg_node = np.array(owners, dtype=object)

    # ------------------------------------------------------------------ files
    @classmethod
    def from_dict(cls, data: Mapping[str, Any], *, origin: str = "inventory") -> Inventory:
        """Build from the parsed file structure (see the module docstring), validated first.

        Raises :class:`InventoryError` naming ``origin`` (the file), the element (``links[3].capacity_bps``)
        and the rule: unknown keys at any level, a section of the wrong type (``links: 5``), a
        missing ``src`` / ``dst`` / ``device`` / ``interface``, a capacity that is not a number > 0.
        """
        if not isinstance(data, Mapping):
            raise InventoryError(f"{origin}: expected a mapping at the top level, got {type(data).__name__}")
        _check_keys(data, _TOP_KEYS, origin, "the top level")
        devices = {str(k): str(v) for k, v in _section(data, "devices", Mapping, origin).items()}
        links: list[Link] = []
        ports: dict[tuple[str, str], dict[str, Any]] = {}
        for i, row in enumerate(_section(data, "links", list, origin)):
            where = f"links[{i}]"
            if not isinstance(row, Mapping):
                raise InventoryError(f"{origin}: {where} must be a mapping with src, dst, capacity_bps ..., "
                                     f"got {type(row).__name__}")  # fmt: skip
            _check_keys(row, _LINK_KEYS, origin, where)
            src, dst = _name(row, "src", origin, where), _name(row, "dst", origin, where)
            lid = str(row.get("id", f"{src}->{dst}"))
            cap = _capacity(row.get("capacity_bps"), origin, f"{where} ({lid}).capacity_bps")
            links.append(Link(lid, src, dst, cap))
            if row.get("src_interface"):
                key = (devices.get(src, src), normalize_interface(str(row["src_interface"])))
                ports.setdefault(key, {})["link"] = lid
            if row.get("dst_interface"):
                key = (devices.get(dst, dst), normalize_interface(str(row["dst_interface"])))
                ports.setdefault(key, {})["rx_link"] = lid
        for i, row in enumerate(_section(data, "interfaces", list, origin)):
            where = f"interfaces[{i}]"
            if not isinstance(row, Mapping):
                raise InventoryError(f"{origin}: {where} must be a mapping with device and interface, "
                                     f"got {type(row).__name__}")  # fmt: skip
            _check_keys(row, _INTERFACE_KEYS, origin, where)
            key = (_name(row, "device", origin, where), normalize_interface(_name(row, "interface", origin, where)))
            ports[key] = {k: None if row.get(k) is None else str(row[k]) for k in ("link", "rx_link")}
        by_id = {ln.id: ln for ln in links}
        built = {}
        for key, entry in ports.items():
            out_link = entry.get("link")
            cap = by_id[out_link].capacity_bps if out_link in by_id else math.nan
            built[key] = Port(out_link, entry.get("rx_link"), cap)
        prefixes = {str(k): str(v) for k, v in _section(data, "prefixes", Mapping, origin).items()}
        network = data.get("network", "")
        if network is not None and not isinstance(network, str | int):
            raise InventoryError(f"{origin}: 'network' must be a name, got {type(network).__name__}")
        return cls(links, built, prefixes, devices, "" if network is None else str(network))

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> Inventory:
        """Read a YAML (``.yaml``/``.yml``) or JSON inventory file."""
        p = Path(path)
        try:
            text = p.read_text(encoding="utf-8")
        except OSError as exc:
            raise InventoryError(f"cannot read inventory {p}: {exc}") from exc
        try:
            data = yaml.safe_load(text) if p.suffix.lower() in (".yaml", ".yml") else json.loads(text)
        except (ValueError, yaml.YAMLError) as exc:
            raise InventoryError(f"inventory {p} is not valid {p.suffix.lstrip('.').upper() or 'JSON'}: {exc}") from exc
        return cls.from_dict(data, origin=str(p))

    def to_dict(self) -> dict[str, Any]:
        """The file structure (links, explicit interfaces, prefixes); :meth:`from_dict` reads it back."""
        links = [
            {"id": ln.id, "src": ln.src, "dst": ln.dst}
            | ({"capacity_bps": ln.capacity_bps} if not math.isnan(ln.capacity_bps) else {})
            for ln in self.links.values()
        ]
        ifaces = [
            {"device": d, "interface": i, "link": p.link, "rx_link": p.rx_link} for (d, i), p in self.ports.items()
        ]
        return {"network": self.network, "devices": self.devices, "links": links, "interfaces": ifaces,
                "prefixes": self.prefixes}  # fmt: skip

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write :meth:`to_dict` as JSON (or YAML for a ``.yaml``/``.yml`` path)."""
        p = Path(path)
        if p.suffix.lower() in (".yaml", ".yml"):
            p.write_text(yaml.safe_dump(self.to_dict(), sort_keys=False), encoding="utf-8")
        else:
            p.write_text(json.dumps(self.to_dict(), indent=1), encoding="utf-8")

    # -------------------------------------------------------------- topology
    @classmethod
    def from_links(
        cls, n_or_names: Sequence[str], links: Sequence[tuple[int, int, float]], *, network: str = ""
    ) -> Inventory:
        """Derive an inventory from node names and ``(src, dst, capacity_bps)`` index triples (convention above)."""
        names = [str(x) for x in n_or_names]
        port_of: dict[tuple[int, int], int] = {}
        next_port = [0] * len(names)
        for s, d, _ in links:
            for u, v in ((s, d), (d, s)):
                if (u, v) not in port_of:
                    next_port[u] += 1
                    port_of[(u, v)] = next_port[u]
        rows = []
        for s, d, cap in links:
            rows.append({
                "id": f"{names[s]}->{names[d]}", "src": names[s], "dst": names[d], "capacity_bps": float(cap),
                "src_interface": f"Ethernet1/{port_of[(s, d)]}", "dst_interface": f"Ethernet1/{port_of[(d, s)]}",
            })  # fmt: skip
        n = len(names)
        prefixes = {}
        for i, name in enumerate(names):
            prefixes[f"10.{i}.0.0/16" if n <= 256 else f"10.{i // 256}.{i % 256}.0/24"] = name
            prefixes[f"fd00:0:0:{i:x}::/64"] = name
        return cls.from_dict({"network": network, "links": rows, "prefixes": prefixes})

    @classmethod
    def from_scenario(cls, scenario: Any, *, node_names: Sequence[str] | None = None, network: str = "") -> Inventory:
        """Derive from a :class:`twinwatch.twin.scenario.Scenario` (nodes named ``str(i)`` unless ``node_names``).

        >>> from twinwatch.twin.scenario import Scenario
        >>> sc = Scenario.build(2, [(0, 1, 1e9), (1, 0, 1e9)], {}, [])
        >>> inv = Inventory.from_scenario(sc)
        >>> inv.resolve("0", "Eth1/1"), inv.lookup_nodes(["10.1.2.3"]).tolist()
        (Port(link='0->1', rx_link='1->0', capacity_bps=1000000000.0), ['1'])
        """
        n = int(scenario.n_nodes)
        names = [str(i) for i in range(n)] if node_names is None else [str(x) for x in node_names]
        if len(names) != n:
            raise InventoryError(f"from_scenario: {len(names)} node names for {n} nodes")
        links = list(zip(scenario.link_src.tolist(), scenario.link_dst.tolist(), scenario.link_capacity_bps.tolist()))
        return cls.from_links(names, links, network=network or str(getattr(scenario, "name", "")))

    @classmethod
    def from_graph(cls, graph: Any, *, capacity_attr: Sequence[str] = ("capacity_bps", "capacity", "bandwidth"),
                   network: str = "") -> Inventory:  # fmt: skip
        """Derive from a networkx graph: a ``DiGraph`` edge is a link, an undirected edge two links.

        Capacity comes from the first edge attribute in ``capacity_attr`` (NaN when none).
        """
        nodes = list(graph.nodes)
        index = {u: i for i, u in enumerate(nodes)}
        links = []
        for u, v, data in graph.edges(data=True):
            cap = next((float(data[a]) for a in capacity_attr if a in data), math.nan)
            links.append((index[u], index[v], cap))
            if not graph.is_directed():
                links.append((index[v], index[u], cap))
        return cls.from_links([str(u) for u in nodes], links, network=network)
