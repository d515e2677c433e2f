"""Device and interface names for generated network models.

Importers that start from a graph (Topology Zoo, a scenario file) have no
interface names; they give every port the name the device's vendor would use
for a port of that speed, numbered per device, so that the generated file
reads like a real inventory and matches what the device's telemetry says:

=========  ======================================  =========================
vendor     physical port (by speed)                bundle (non-standard speed)
=========  ======================================  =========================
juniper    ``ge-0/0/N`` (≤1G), ``xe-0/0/N`` (10G),  ``aeN``
           ``et-0/0/N`` (≥25G), ``so-0/0/N`` (SONET)
cisco      ``GigabitEthernet0/0/0/N``,              ``Bundle-EtherN``
(IOS XR)   ``TenGigE0/0/0/N``, ``HundredGigE0/0/0/N``
arista     ``EthernetN`` (``EthernetN/1`` ≥ 40G)    ``Port-ChannelN``
other      ``EthernetN``                           ``Port-ChannelN``
=========  ======================================  =========================

SONET rates (OC-3/12/48/192: 155.52 M, 622.08 M, 2.48832 G, 9.95328 G) are
``so-`` ports on Juniper and ``POS0/0/0/N`` on Cisco.

>>> namer = InterfaceNamer("juniper")
>>> namer.next(10e9), namer.next(100e9), namer.next(2.48832e9), namer.next(20e9)
('xe-0/0/0', 'et-0/0/1', 'so-0/0/2', 'ae0')
>>> InterfaceNamer("cisco").next(100e9), InterfaceNamer("arista").next(10e9)
('HundredGigE0/0/0/0', 'Ethernet1')
>>> unique_slugs(["New York", "New York", "Zürich (ETH)"])
['New-York', 'New-York-2', 'Zurich-ETH']
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable

__all__ = ["VENDORS", "InterfaceNamer", "slug", "unique_slugs"]

VENDORS = ("juniper", "cisco", "arista", "nokia", "other")
"""Vendors the namer knows (anything else is named like ``other``)."""

_ETHERNET = (1e9, 10e9, 25e9, 40e9, 50e9, 100e9, 200e9, 400e9, 800e9)
_SONET = (155.52e6, 622.08e6, 2488.32e6, 9953.28e6)
_CISCO = {1e9: "GigabitEthernet", 10e9: "TenGigE", 25e9: "TwentyFiveGigE", 40e9: "FortyGigE", 50e9: "FiftyGigE",
          100e9: "HundredGigE", 200e9: "TwoHundredGigE", 400e9: "FourHundredGigE", 800e9: "EightHundredGigE"}


def _is(x: float, table: Iterable[float]) -> bool:
    return any(abs(x - t) <= 1e-6 * t for t in table)


class InterfaceNamer:
    """Hands out port names for one device, numbered in call order.

    Parameters
    ----------
    vendor
        One of :data:`VENDORS` (case-insensitive; unknown → ``other``).
    """

    def __init__(self, vendor: str) -> None:
        self.vendor = vendor.lower() if vendor.lower() in VENDORS else "other"
        self._port = 0
        self._bundle = 0

    def next(self, capacity_bps: float) -> str:
        """Name of the next port for a link of ``capacity_bps`` bits/s."""
        v = self.vendor
        if not (_is(capacity_bps, _ETHERNET) or _is(capacity_bps, _SONET) or capacity_bps < 1e9):
            n = self._bundle
            self._bundle += 1
            return {"juniper": f"ae{n}", "cisco": f"Bundle-Ether{n + 1}", "nokia": f"lag-{n + 1}"}.get(
                v, f"Port-Channel{n + 1}")
        n = self._port
        self._port += 1
        sonet = _is(capacity_bps, _SONET)
        if v == "juniper":
            if sonet:
                return f"so-0/0/{n}"
            prefix = "ge" if capacity_bps <= 1e9 else "xe" if capacity_bps <= 10e9 else "et"
            return f"{prefix}-0/0/{n}"
        if v == "cisco":
            if sonet:
                return f"POS0/0/0/{n}"
            kind = _CISCO.get(min(_CISCO, key=lambda c: abs(c - capacity_bps)), "GigabitEthernet")
            return f"{kind}0/0/0/{n}"
        if v == "nokia":
            return f"1/1/c{n + 1}/1"
        if v == "arista" and capacity_bps >= 40e9:
            return f"Ethernet{n + 1}/1"
        return f"Ethernet{n + 1}"


def slug(text: str) -> str:
    """A device-name-safe spelling of ``text``: ASCII letters, digits, ``.``, ``_``, ``-``."""
    ascii_text = unicodedata.normalize("NFKD", str(text)).encode("ascii", "ignore").decode()
    out = re.sub(r"[^A-Za-z0-9._-]+", "-", ascii_text).strip("-._")
    return out or "node"


def unique_slugs(names: Iterable[str]) -> list[str]:
    """:func:`slug` of each name, with ``-2``, ``-3``, ... appended to repeats."""
    seen: dict[str, int] = {}
    out = []
    for name in names:
        base = slug(name)
        k = seen.get(base, 0) + 1
        seen[base] = k
        cand = base if k == 1 else f"{base}-{k}"
        while cand in seen and cand != base:
            k += 1
            cand = f"{base}-{k}"
        seen.setdefault(cand, 1)
        out.append(cand)
    return out
