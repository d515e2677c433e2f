"""IGP metric from telemetry: the IS-IS / OSPFv2 cost a router routes an interface with → ``igp_metric``.

The twin routes with the metrics of its network-model file; a router reports
the metric it uses, and when it changes (an operator, a mistake) traffic
moves. :data:`~telemetry_adapters.paths.IGP_METRIC_LEAVES` maps each spelling
of the leaf to the ``igp_metric`` field, and this module reads its value (for
every decoder, through :mod:`twinwatch.telemetry_adapters._assemble`) and
takes the list keys of its path apart:

==========================================================  ==============================  ====================
source                                                      interface, topology             value
==========================================================  ==============================  ====================
OpenConfig IS-IS ``/network-instances/network-instance/``   key ``interface-id``; only      uint32 wide metric
``protocols/protocol/isis/interfaces/interface/levels/``    ``level-number`` 2, ``afi-name``
``level/af/state/metric`` (gnmic, gNMI, Telegraf ``gnmi``,  ``IPV4``, ``safi-name``
Cisco MDT)                                                  ``UNICAST`` give a row
OpenConfig OSPFv2 ``/network-instances/network-instance/``  key ``id``                      uint16
``protocols/protocol/ospfv2/areas/area/interfaces/``
``interface/state/metric``
the canonical field ``igp_metric``                          the record's interface          as is
==========================================================  ==============================  ====================

Keys, by format: gNMI JSON has them in the path
(``interface[interface-id=Ethernet1]/levels/level[level-number=2]/af[afi-name=IPV4][safi-name=UNICAST]``);
gnmic's event format writes them as tags ``<element>_<key>``
(``interface_interface-id``, ``level_level-number``, ``af_afi-name``,
``af_safi-name``; OSPFv2 ``interface_id``); Telegraf's ``gnmi`` input as tags
named by the key with ``-`` read as ``_`` (``interface_id``, ``level_number``,
``afi_name``, ``safi_name``; OSPFv2 ``id``; ``interface_interface_id`` … with
``prefix_tag_key_with_path``), the leaf being the ``path`` tag joined to the
field (``metric``); Cisco MDT as the row's ``keys``. :func:`igp_keys` reads
them all; the decoders write the topology keys into the leaf's path
(:func:`keyed_path`), where :func:`~telemetry_adapters.paths.map_path` reads them. The interface keys
``interface-id`` and ``id`` name the interface **only inside an IS-IS or OSPFv2 path** (``id`` is far too
generic anywhere else). Names of values compare with their module prefix dropped, case-insensitively
(``openconfig-isis-types:IPV4`` = ``IPV4``).

A metric of IS-IS level 1, or of another address family (IPv6, multicast) is
counted as ignored (``igp_other_topology``): the twin routes the level-2 IPv4
unicast topology. A metric whose path carries no level or address-family key
(a collector that flattens them away) is taken as is.

Values: an integer 1 … 16777215 (2**24 - 1, IS-IS wide metrics; OSPF's 1 …
65535 fits), as a JSON int, a decimal string (gNMI JSON's uint64) or a float
without a fractional part, is a row: kind ``GAUGE``, ``value_f64`` the metric
(dimensionless), ``value_u64`` 0. Every other value is a counted rejection
(:func:`metric_rejection`): a fraction, 0, below 0 or above 16777215
``bad_metric``, NaN or infinite ``non_finite``, not a number (a boolean, a
list, a word) ``wrong_type``. One record gives at most one metric: the
spelling listed first in :data:`~telemetry_adapters.paths.IGP_METRIC_LEAVES`
wins, the others are counted as ignored (``igp_metric_superseded``). The
normaliser puts the row on the link the interface sends on (``igp_metric``);
there is no ``rx_`` twin: a metric belongs to the sending end only.

Examples
--------
>>> igp_metric(10), igp_metric("65535"), igp_metric(20.0), igp_metric(16777215)
(10.0, 65535.0, 20.0, 16777215.0)
>>> igp_metric(1.5), igp_metric(0), igp_metric(-3), igp_metric(2**24), igp_metric(True), igp_metric("ten")
(None, None, None, None, None, None)
>>> [str(metric_rejection("metric", v)[0]) for v in (0, 1.5, 2**24, "nan", True, [10])]
['bad_metric', 'bad_metric', 'bad_metric', 'non_finite', 'wrong_type', 'wrong_type']
>>> igp_keys({"source": "r1:57400", "interface_interface-id": "Ethernet1", "level_level-number": "2",
...           "af_afi-name": "IPV4", "af_safi-name": "UNICAST", "network-instance_name": "default"})
('Ethernet1', {'level-number': '2', 'afi-name': 'IPV4', 'safi-name': 'UNICAST'})
>>> keyed_path("/network-instances/network-instance/protocols/protocol/isis/interfaces/interface/levels/level/af/"
...            "state/metric", {"level-number": "1"})
'/network-instances/network-instance/protocols/protocol/isis/interfaces/interface/levels/level[level-number=1]/af/state/metric'
>>> topology_other("/isis/interfaces/interface[interface-id=e1]/levels/level[level-number=2]/"
...                "af[afi-name=openconfig-isis-types:IPV6][safi-name=UNICAST]/state/metric")
True
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import Any, Final

from twinwatch.telemetry_adapters.errors import Reason
from twinwatch.telemetry_adapters.speed import as_number

__all__ = [
    "IGP_CONTAINERS",
    "IGP_INTERFACE_KEYS",
    "MAX_METRIC",
    "TOPOLOGY",
    "igp_keys",
    "igp_metric",
    "is_igp_path",
    "keyed_path",
    "metric_rejection",
    "topology_other",
]

#: The largest metric taken: 2**24 - 1, the largest IS-IS wide metric (OSPFv2's 65535 is below it).
MAX_METRIC: Final = 2**24 - 1
#: Path elements (module prefix dropped, lower case) of the IGP models this module reads.
IGP_CONTAINERS: Final[frozenset[str]] = frozenset({"isis", "ospfv2"})
#: The topology the twin routes, by key (module prefix dropped, upper case): IS-IS level 2, IPv4 unicast.
TOPOLOGY: Final[dict[str, str]] = {"level-number": "2", "afi-name": "IPV4", "safi-name": "UNICAST"}
#: Key / tag names that name the interface inside an IGP path, in priority order (normalised: lower case,
#: ``-`` and ``_`` dropped): gnmic ``interface_interface-id`` (IS-IS), Telegraf ``interface_id`` (IS-IS) or gnmic
#: ``interface_id`` (OSPFv2), the keys themselves ``interface-id`` (IS-IS) / ``id`` (OSPFv2; Telegraf's tag).
IGP_INTERFACE_KEYS: Final[tuple[str, ...]] = ("interfaceinterfaceid", "interfaceid", "id")
#: normalised key / tag name → topology key (``level_level-number`` gnmic, ``level_number`` Telegraf …)
_TOPOLOGY_TAGS: Final[dict[str, str]] = {
    "levelnumber": "level-number", "levellevelnumber": "level-number",
    "afiname": "afi-name", "afafiname": "afi-name",
    "safiname": "safi-name", "afsafiname": "safi-name",
}  # fmt: skip
#: list element (module prefix dropped, lower case) that carries each topology key
_ELEMENT_OF: Final[dict[str, str]] = {"level-number": "level", "afi-name": "af", "safi-name": "af"}
_SPLIT_RE = re.compile(r"/(?![^\[]*\])")  # a "/" outside [...] (key values may hold "/": Ethernet1/1)
_KEY_RE = re.compile(r"\[([^=\]]+)=([^\]]*)\]")


def _norm(name: str) -> str:
    return name.rsplit(":", 1)[-1].lower().replace("-", "").replace("_", "")


def _value_name(value: Any) -> str:
    """A key's value with its module prefix dropped, upper case (``openconfig-isis-types:IPV4`` → ``IPV4``)."""
    return str(value).strip().strip('"').rsplit(":", 1)[-1].strip().upper()


def is_igp_path(path: str) -> bool:
    """Whether ``path`` lies inside an IS-IS or OSPFv2 model (one of its elements is :data:`IGP_CONTAINERS`).

    >>> is_igp_path("/network-instances/network-instance[name=a]/protocols/protocol/openconfig-isis:isis/x"), \\
    ...     is_igp_path("/interfaces/interface[id=7]/state/metric")
    (True, False)
    """
    low = path.lower()
    if "isis" not in low and "ospfv2" not in low:
        return False
    return any(_norm(_KEY_RE.sub("", e)) in IGP_CONTAINERS for e in _SPLIT_RE.split(path))


def igp_keys(keys: Mapping[str, Any]) -> tuple[str, dict[str, str]]:
    """``(interface, topology keys)`` of an IGP record's list keys or tags (any format's spelling, see the
    module docstring); ``""`` when no key names the interface."""
    iface = ""
    rank = len(IGP_INTERFACE_KEYS)
    topo: dict[str, str] = {}
    for k, v in keys.items():
        if not isinstance(k, str) or v is None or isinstance(v, dict | list):
            continue
        n = _norm(k)
        if n in IGP_INTERFACE_KEYS and IGP_INTERFACE_KEYS.index(n) < rank:
            rank, iface = IGP_INTERFACE_KEYS.index(n), str(v)
        elif n in _TOPOLOGY_TAGS:
            topo[_TOPOLOGY_TAGS[n]] = str(v)
    return iface, topo


def keyed_path(path: str, topo: Mapping[str, str]) -> str:
    """``path`` with the topology keys ``topo`` written on their list elements (``level``: ``level-number``;
    ``af``: ``afi-name`` and ``safi-name``) when those carry no keys yet; a key whose element the path lacks goes
    on its last element (still read by :func:`topology_other`)."""
    if not topo:
        return path
    parts = _SPLIT_RE.split(path)
    left = dict(topo)
    for j, part in enumerate(parts):
        if "[" in part:
            continue
        name = part.rsplit(":", 1)[-1].lower()
        keys = [k for k in left if _ELEMENT_OF[k] == name]
        if keys:
            parts[j] = part + "".join(f"[{k}={left.pop(k)}]" for k in keys)
    if left:
        parts[-1] += "".join(f"[{k}={v}]" for k, v in left.items())
    return "/".join(parts)


def topology_other(path: str) -> bool:
    """Whether ``path``'s keys name a topology other than :data:`TOPOLOGY` (IS-IS level 1, IPv6, multicast); a path
    without those keys is not another topology."""
    if "[" not in path:
        return False
    for k, v in _KEY_RE.findall(path):
        key = k.rsplit(":", 1)[-1].strip().lower()
        want = TOPOLOGY.get(key)
        if want is not None and _value_name(v) != want:
            return True
    return False


def igp_metric(value: Any, scale: float = 1.0) -> float | None:
    """The metric (an integer 1 … :data:`MAX_METRIC`, as a float), or ``None`` when ``value`` gives none
    (:func:`metric_rejection` says why). ``scale`` is unused (the metric has no unit): it keeps the signature of
    :func:`~telemetry_adapters.speed.speed_bps`, so one reader table serves both."""
    num = as_number(value)
    if num is None or not math.isfinite(num) or num != math.floor(num) or not 1 <= num <= MAX_METRIC:
        return None
    return num


def metric_rejection(leaf: str, value: Any, scale: float = 1.0) -> tuple[str, str]:
    """``(reason, detail)`` of the rejection of an IGP-metric ``leaf`` whose ``value`` :func:`igp_metric` refuses."""
    head = f"IGP metric leaf {leaf!r}: value {value!r}"
    num = as_number(value)
    if num is None:
        return Reason.WRONG_TYPE, f"{head} is not a number (see telemetry_adapters.igp)"
    if not math.isfinite(num) and not isinstance(value, int):  # an int beyond the float range is just too large
        return Reason.NON_FINITE, f"{head} is not finite"
    return Reason.BAD_METRIC, (f"{head} is not an integer in 1 .. {MAX_METRIC} (IS-IS wide metric; OSPFv2 1 .. "
                               "65535; see telemetry_adapters.igp)")  # fmt: skip
