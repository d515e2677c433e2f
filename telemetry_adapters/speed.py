"""Interface speed from telemetry: the port's operational speed (its capacity as the device reports it) → bit/s.

Every collector format spells an interface's speed differently, in its own
unit; :data:`~telemetry_adapters.paths.SPEED_LEAVES` maps each spelling to a
*scale* (bit/s per unit) or to :data:`NAMED` (the value names its speed), and
this module reads a value with it, for every decoder
(:mod:`twinwatch.telemetry_adapters._assemble` for the JSON and line-protocol
ones, the gnmic numba fast path, OTLP):

==============================================  ============================================  =============
source                                          values                                        bit/s
==============================================  ============================================  =============
OpenConfig ``ethernet/state/negotiated-port-``  identities ``SPEED_10MB``, ``SPEED_100MB``,   the named
``speed`` and ``…/port-speed`` (gnmic, gNMI,    ``SPEED_1GB``, ``SPEED_2500MB``, ``SPEED_5GB``,  speed
Telegraf ``gnmi``); negotiated wins             ``SPEED_10GB`` … ``SPEED_800GB``, module
                                                prefix allowed (``openconfig-if-ethernet:``)
                                                ``SPEED_UNKNOWN``                             unknown
OpenConfig ``aggregation/state/lag-speed``      uint32, Mb/s (Telegraf ``gnmi``: ``lag_speed``) × 1e6
IF-MIB ``ifHighSpeed`` (Telegraf ``snmp``)      Gauge32, Mb/s                                 × 1e6
Junos ``interfaces/interface/state/high-speed`` uint, Mb/s (``ifHighSpeed``'s value)           × 1e6
Nokia SR OS ``state/port/ethernet/oper-speed``  uint32, Mb/s                                  × 1e6
IF-MIB ``ifSpeed``; ``ifHighSpeed`` wins        Gauge32, bit/s; 4294967295 (saturated)        × 1; unknown
Cisco NX-OS DME ``operSpeed``                   ``100M``, ``1G``, ``10G`` … ``400G``;          the named
                                                ``auto``, ``unknown``                         speed; unknown
Cisco IOS XE ``interfaces-oper`` ``speed``      uint64, bit/s                                 × 1
Cisco IOS XR ``interface-xr`` ``speed``,        uint32, kbit/s                                × 1e3
``bandwidth``
OTLP ``hw.network.bandwidth.limit``             By/s (hardware semantic conventions)          × 8
==============================================  ============================================  =============

Names are compared case-insensitively with the module prefix dropped and
``-`` read as ``_`` (``openconfig-if-ethernet:SPEED_10GB`` = ``speed_10gb``;
IOS XE's ``speed-10gb`` too). A number is read as an ``int``, a ``float`` or
a decimal string. Any 32-bit leaf at its maximum, 4294967295, is saturated
(RFC 2863: ``ifSpeed`` of a port faster than 4.3 Gb/s): it says no more than
an explicit unknown. So does 0: a port with no speed to report (IF-MIB's
virtual interfaces, a LAG with no member up, whose state is link state's to
tell). An unknown speed is counted as ignored (``speed_unknown``); every
other value that gives no speed is a counted rejection
(:func:`speed_rejection`): below 0, or above 0 but below :data:`MIN_SPEED_BPS`
(no interface runs that slow: a device quirk the twin must not divide by)
``bad_speed``, NaN or
infinite ``non_finite``, not a number ``wrong_type``, a name (or number)
where a name of a speed belongs that names none ``unknown_enum``.

A speed is a gauge (kind ``GAUGE``, ``value_f64`` in bit/s, ``value_u64`` 0),
never a counter: no rate, no wrap. One record (one event, metric or row of an
interface at one time) gives at most one speed: the spelling listed first in
:data:`~telemetry_adapters.paths.SPEED_LEAVES` wins, the others are counted as
ignored (``speed_superseded``), so ``negotiated-port-speed`` beside
``port-speed`` (or ``ifHighSpeed`` beside ``ifSpeed``) is one row.

Examples
--------
>>> speed_bps("SPEED_10GB", NAMED), speed_bps("openconfig-if-ethernet:SPEED_2500MB", NAMED)
(10000000000.0, 2500000000.0)
>>> speed_bps(20000, 1e6), speed_bps("100000", 1e3), speed_bps("40G", NAMED), speed_bps(1.25e9, 8.0)
(20000000000.0, 100000000.0, 40000000000.0, 10000000000.0)
>>> speed_bps("SPEED_UNKNOWN", NAMED) is UNKNOWN, speed_bps(4294967295, 1.0) is UNKNOWN, speed_bps("auto", NAMED)
(True, True, UNKNOWN)
>>> speed_bps(0, 1e6) is UNKNOWN, speed_bps(-5, 1.0), speed_bps("SPEED_3GB", NAMED), speed_bps(10, NAMED)
(True, None, None, None)
>>> speed_bps(True, 1.0) is None
True
>>> [str(speed_rejection(leaf, v, scale)[0]) for leaf, v, scale in
...  [("ifHighSpeed", -1, 1e6), ("port-speed", "SPEED_3GB", NAMED), ("lag-speed", "x", 1e6), ("ifSpeed", "nan", 1.0)]]
['bad_speed', 'unknown_enum', 'wrong_type', 'non_finite']
"""

from __future__ import annotations

import math
from typing import Any, Final

from twinwatch.telemetry_adapters.errors import Reason
from twinwatch.telemetry_adapters.link_state import UNKNOWN, _Unknown

__all__ = ["MIN_SPEED_BPS", "NAMED", "SATURATED", "SPEED_KPIS", "UNKNOWN", "as_number", "speed_bps",
           "speed_rejection"]

#: Scale of a leaf whose value *names* its speed (an OpenConfig identity, NX-OS ``"10G"``), not a number.
NAMED: Final = 0.0
#: A 32-bit leaf at its maximum (4294967295): saturated (``ifSpeed`` above 4.3 Gb/s), an unknown speed.
SATURATED: Final = 2**32 - 1
#: The slowest speed taken (bit/s): below it a report is refused (``bad_speed``); the slowest serial links run at
#: tens of kb/s.
MIN_SPEED_BPS: Final = 1e3
#: Measurement KPIs of speed: the port at the link's source (egress) end, and (``rx_``) at its destination
#: (ingress) end; an unmapped interface's own speed is ``speed_bps``.
SPEED_KPIS: Final[tuple[str, ...]] = ("speed_bps", "rx_speed_bps")

_M, _G = 1e6, 1e9
#: OpenConfig ``openconfig-if-ethernet`` ETHERNET_SPEED identities (IOS XE ``speed-10gb`` … normalise the same)
_IDENTITIES: Final[dict[str, float]] = {
    "SPEED_10MB": 10 * _M, "SPEED_100MB": 100 * _M, "SPEED_1GB": 1 * _G, "SPEED_2500MB": 2500 * _M,
    "SPEED_5GB": 5 * _G, "SPEED_10GB": 10 * _G, "SPEED_25GB": 25 * _G, "SPEED_40GB": 40 * _G,
    "SPEED_50GB": 50 * _G, "SPEED_100GB": 100 * _G, "SPEED_200GB": 200 * _G, "SPEED_400GB": 400 * _G,
    "SPEED_600GB": 600 * _G, "SPEED_800GB": 800 * _G,
}  # fmt: skip
#: Cisco NX-OS DME ``operSpeed`` values
_NXOS: Final[dict[str, float]] = {
    "10M": 10 * _M, "100M": 100 * _M, "1G": 1 * _G, "2.5G": 2.5 * _G, "5G": 5 * _G, "10G": 10 * _G,
    "25G": 25 * _G, "40G": 40 * _G, "50G": 50 * _G, "100G": 100 * _G, "200G": 200 * _G, "400G": 400 * _G,
    "800G": 800 * _G,
}  # fmt: skip
_UNKNOWN_NAMES: Final = ("SPEED_UNKNOWN", "SPEED_AUTO", "UNKNOWN", "AUTO")
_NAMES: Final[dict[str, float | _Unknown]] = {**_IDENTITIES, **_NXOS, **dict.fromkeys(_UNKNOWN_NAMES, UNKNOWN)}


def _name(value: str) -> str:
    s = value.strip().strip('"')
    if ":" in s:
        s = s.rsplit(":", 1)[-1]
    return s.strip().upper().replace("-", "_")


def as_number(value: Any) -> float | None:
    """``value`` as a float (an int, a float or a decimal string; too large: inf), or ``None`` (a boolean, another
    type, a string that is no number). Shared by the decoders' gauge and marker parsing."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        try:
            return float(value)
        except OverflowError:  # an int beyond the float range
            return math.inf
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return None
    return None


def speed_bps(value: Any, scale: float) -> float | _Unknown | None:
    """The speed in bit/s (> 0, finite), :data:`UNKNOWN`, or ``None`` when ``value`` gives no speed.

    ``scale``: bit/s per unit of a numeric leaf (``1e6`` for Mb/s), or :data:`NAMED` for a leaf whose
    value names its speed (see the module table). :func:`speed_rejection` says why a value gives none.
    """
    if scale == NAMED:
        return _NAMES.get(_name(value)) if isinstance(value, str) else None
    num = as_number(value)
    if num is None:
        return None
    if num == SATURATED or num == 0:
        return UNKNOWN
    bps = num * scale
    return bps if num > 0 and math.isfinite(bps) and bps >= MIN_SPEED_BPS else None


def speed_rejection(leaf: str, value: Any, scale: float) -> tuple[str, str]:
    """``(reason, detail)`` of the rejection of a speed ``leaf`` whose ``value`` :func:`speed_bps` gives no speed."""
    head = f"speed leaf {leaf!r}: value {value!r}"
    if scale == NAMED:
        return Reason.UNKNOWN_ENUM, (f"{head} names no interface speed; expected an OpenConfig identity "
                                     "SPEED_10MB … SPEED_800GB or SPEED_UNKNOWN (module prefix allowed), or NX-OS "
                                     "100M, 1G … 400G, auto (see telemetry_adapters.speed)")  # fmt: skip
    num = as_number(value)
    if num is None:
        return Reason.WRONG_TYPE, f"{head} is not a number (see telemetry_adapters.speed)"
    if not math.isfinite(num * scale):
        return Reason.NON_FINITE, f"{head} is not finite"
    if num > 0:
        return Reason.BAD_SPEED, (f"{head} is {num * scale:g} bit/s, below {MIN_SPEED_BPS:g}: no interface runs "
                                  "that slow (see telemetry_adapters.speed)")  # fmt: skip
    return Reason.BAD_SPEED, f"{head} is below 0: no speed (see telemetry_adapters.speed)"
