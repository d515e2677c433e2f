"""Interface-name normalisation: one spelling per port, whatever the device or feed says.

Devices spell one port several ways: IOS XR telemetry says
``HundredGigE0/0/0/1``, its CLI ``Hu0/0/0/1``; NX-OS says ``Ethernet1/1`` and
``Eth1/1``; gNMI paths carry OpenConfig keys such as
``interface[name=Ethernet1]/subinterfaces/subinterface[index=0]``. The
inventory and the telemetry both go through :func:`normalize_interface`, so
whichever form each side uses, they meet.

Rules
-----
* Cisco / Arista abbreviations expand to one long form, case-insensitively
  (``Gi``, ``GigE`` → ``GigabitEthernet``; ``Te``, ``TenGigE`` →
  ``TenGigabitEthernet``; ``Hu`` → ``HundredGigE``; ``Eth``, ``Et`` →
  ``Ethernet``; ``Po``, ``port-channel`` → ``Port-channel``; ``BE`` →
  ``Bundle-Ether``; …, see :data:`ALIASES`); spaces between type and number go.
* Juniper (``et-0/0/1.0``, ``xe-``, ``ge-``, ``ae0``, ``lo0``, ``irb``) and Linux
  (``eth0``, ``ens3``, ``bond0``) names are lower-case by convention and stay as
  they are.
* An OpenConfig key becomes ``<name>`` or ``<name>.<index>`` for a subinterface.
* Logical units: :func:`lookup_candidates` tries the full name first and, for
  unit 0 only (Juniper's default ``.0``, OpenConfig ``subinterface[index=0]``),
  then the physical port; other units carry a subset of the port's traffic and
  must be mapped explicitly (mapping them to the port would count traffic twice).

Examples
--------
>>> normalize_interface("Gi0/0/0/1")
'GigabitEthernet0/0/0/1'
>>> normalize_interface("interface[name=Ethernet1]/subinterfaces/subinterface[index=0]")
'Ethernet1.0'
>>> lookup_candidates("et-0/0/1.0")
('et-0/0/1.0', 'et-0/0/1')
"""

from __future__ import annotations

import re
from functools import lru_cache

__all__ = ["ALIASES", "lookup_candidates", "normalize_interface", "split_unit"]

#: Lower-case type spelling → canonical type name.
ALIASES: dict[str, str] = {}


def _alias(canonical: str, *spellings: str) -> None:
    for s in (canonical, *spellings):
        ALIASES[s.lower()] = canonical


_alias("FastEthernet", "Fa", "FastE")
_alias("GigabitEthernet", "Gi", "Gig", "GigE", "Ge")
_alias("TwoGigabitEthernet", "Tw", "TwoGigE")
_alias("FiveGigabitEthernet", "Fi", "FiveGigE")
_alias("TenGigabitEthernet", "Te", "Ten", "TenGig", "TenGigE", "Xe")
_alias("TwentyFiveGigE", "Twe", "TF", "TwentyFiveGigabitEthernet")
_alias("FortyGigabitEthernet", "Fo", "FortyGig", "FortyGigE")
_alias("FiftyGigE", "Fif", "FiftyGigabitEthernet")
_alias("HundredGigE", "Hu", "HundredGig", "HundredGigabitEthernet")
_alias("TwoHundredGigE", "TH", "TwoHundredGigabitEthernet")
_alias("FourHundredGigE", "FH", "FourHundredGigabitEthernet")
_alias("EightHundredGigE", "EH", "EightHundredGigabitEthernet")
_alias("Ethernet", "Eth", "Et")
_alias("Port-channel", "Po", "PortChannel", "Port-channel")
_alias("Bundle-Ether", "BE", "BundleEther", "Bundle-Eth")
_alias("Loopback", "Lo", "Loop")
_alias("Vlan", "Vl")
_alias("Tunnel", "Tu")
_alias("Management", "Ma")
_alias("MgmtEth", "MgmtE")
_alias("Serial", "Se")

# Lower-case names that are Juniper or Linux conventions and are left unchanged.
#: names longer than this are not cached (a feed of giant junk names must not pin memory)
_MAX_CACHED_NAME = 256
_NATIVE_LOWER = re.compile(
    r"^(?:(?:ge|xe|et|fe|mge|xle|fte|ae|gr|ip|lt|ps|st|reth|fxp|em|me|vme|irb|lo|vlan)-?\d[\w/:.-]*"
    r"|(?:irb|vlan|lo|fxp\d|em\d)(?:\.\d+)?"
    r"|(?:eth|ens|enp|eno|enx|wlan|wlp|bond|br|veth|virbr|docker|tun|tap|vxlan|team)\w*(?:\.\d+)?)$"
)
_TYPE_NUM = re.compile(r"^([A-Za-z][A-Za-z-]*?)\s*(\d.*)?$")
_OC_NAME = re.compile(r"interface\[name=([^\]]+)\]")
_OC_INDEX = re.compile(r"subinterface\[index=(\d+)\]")


def normalize_interface(name: str) -> str:
    """The canonical spelling of an interface name (pure; cached).

    Examples
    --------
    >>> [normalize_interface(n) for n in ["Te0/0/0/3", "TenGigE0/0/0/3", "tengigabitethernet0/0/0/3"]]
    ['TenGigabitEthernet0/0/0/3', 'TenGigabitEthernet0/0/0/3', 'TenGigabitEthernet0/0/0/3']
    >>> normalize_interface("Hu0/0/0/1"), normalize_interface("Eth1/1"), normalize_interface("Et1")
    ('HundredGigE0/0/0/1', 'Ethernet1/1', 'Ethernet1')
    >>> normalize_interface("Po10"), normalize_interface("port-channel10"), normalize_interface("BE100.200")
    ('Port-channel10', 'Port-channel10', 'Bundle-Ether100.200')
    >>> normalize_interface("GigabitEthernet 0/1"), normalize_interface("et-0/0/1.0"), normalize_interface("eth0")
    ('GigabitEthernet0/1', 'et-0/0/1.0', 'eth0')
    >>> normalize_interface("/interfaces/interface[name=Ethernet1/2]/state/counters")
    'Ethernet1/2'
    >>> normalize_interface("")
    ''
    """
    s = name.strip()
    if "[" in s:
        m = _OC_NAME.search(s)
        if m:
            inner = m.group(1).strip("\"'")
            idx = _OC_INDEX.search(s)
            s = inner if idx is None else f"{inner}.{int(idx.group(1))}"
    if not s or _NATIVE_LOWER.match(s):
        return s
    m = _TYPE_NUM.match(s)
    if m is None:
        return s
    kind, rest = m.group(1), m.group(2) or ""
    canonical = ALIASES.get(kind.lower())
    if canonical is None:
        return s.replace(" ", "") if rest else s
    return canonical + rest.replace(" ", "")


_normalize_uncached = normalize_interface
_normalize_cached = lru_cache(maxsize=65536)(normalize_interface)


def normalize_interface(name: str) -> str:  # type: ignore[no-redef]
    """:func:`normalize_interface` (the definition above), cached for names up to 256 characters."""
    return _normalize_cached(name) if len(name) <= _MAX_CACHED_NAME else _normalize_uncached(name)


def split_unit(name: str) -> tuple[str, int | None]:
    """``(physical port, logical unit)`` of a normalised name; unit ``None`` when absent.

    >>> split_unit("et-0/0/1.0"), split_unit("Bundle-Ether1.100"), split_unit("Ethernet1/1")
    (('et-0/0/1', 0), ('Bundle-Ether1', 100), ('Ethernet1/1', None))
    """
    # not a regular expression: ``^(.*\D.*?)\.(\d+)$`` backtracks quadratically on long names (found by
    # fuzzing: a 100 kB interface name held the decoder for minutes)
    head, dot, tail = name.rpartition(".")
    if not dot or not tail.isdecimal() or head.isdecimal() or not head or "\n" in head:
        return name, None
    return head, int(tail)


def lookup_candidates(name: str) -> tuple[str, ...]:
    """Names to try, in order, when looking ``name`` up in an inventory.

    The normalised name first; for logical unit 0 also its physical port.

    >>> lookup_candidates("interface[name=xe-0/0/2]/subinterfaces/subinterface[index=0]")
    ('xe-0/0/2.0', 'xe-0/0/2')
    >>> lookup_candidates("Gi0/1.100")
    ('GigabitEthernet0/1.100',)
    """
    return _candidates_cached(name) if len(name) <= _MAX_CACHED_NAME else _candidates(name)


def _candidates(name: str) -> tuple[str, ...]:
    norm = normalize_interface(name)
    phys, unit = split_unit(norm)
    return (norm, phys) if unit == 0 else (norm,)


_candidates_cached = lru_cache(maxsize=65536)(_candidates)
