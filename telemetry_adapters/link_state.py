"""Link state from telemetry: interface oper-status / admin-status leaves → up (1.0) or down (0.0).

Every collector format spells an interface's state differently; this module
turns each spelling into one of three states, shared by all the decoders
(:mod:`twinwatch.telemetry_adapters._assemble` for the JSON and line-protocol
ones, the gnmic numba fast path, OTLP):

=========================================  ======================================================  =========
source                                     values                                                  state
=========================================  ======================================================  =========
OpenConfig ``state/oper-status``           ``UP``                                                  up
(gnmic, gNMI, Telegraf ``gnmi``)           ``DOWN``, ``LOWER_LAYER_DOWN``, ``NOT_PRESENT``,         down
                                           ``DORMANT``, ``TESTING``
                                           ``UNKNOWN``                                             unknown
OpenConfig ``state/admin-status``          ``UP`` / ``DOWN``, ``TESTING``                          up / down
IF-MIB ``ifOperStatus``                    1 up; 2 down, 3 testing, 5 dormant, 6 notPresent,        up / down
(Telegraf ``snmp``: ``ifOperStatus=1i``)   7 lowerLayerDown; 4 unknown                             / unknown
IF-MIB ``ifAdminStatus``                   1 up; 2 down, 3 testing                                 up / down
Cisco IOS XR ``state`` / ``line-state``    ``im-state-up``, ``im-state-operational``; every other   up / down
(``pfi-im-cmd-oper`` interface model)      ``im-state-*`` (``down``, ``admin-down``,
                                           ``not-ready``, ``shutdown``, ``err-disable`` …);
                                           ``im-state-unknown``                                    / unknown
Cisco IOS XE ``oper-status``               ``if-oper-state-ready``; ``if-oper-state-no-pass``,     up / down
                                           ``-lower-layer-down``, ``-not-present``, ``-dormant``,
                                           ``-test``; ``-invalid``, ``-unknown``                   / unknown
Cisco IOS XE ``admin-status``              ``if-state-up``; ``if-state-down``, ``if-state-test``   up / down
Cisco NX-OS DME ``operSt`` / ``adminSt``   ``up``; ``down``; ``unknown``                            up / down
Nokia SR Linux / SR OS ``oper-state``      ``up``; ``down``, and SR Linux's ``empty``,              up / down
                                           ``failed``, ``booting``, ``low-power`` … (its
                                           ``srl_nokia-common:oper-state``)
OTLP ``hw.network.up`` (semantic conv.)    1 up, 0 down                                            up / down
=========================================  ======================================================  =========

Spellings are compared case-insensitively with ``-``, ``_`` and spaces
removed (``LOWER_LAYER_DOWN`` = ``lower-layer-down`` = ``lowerLayerDown``); a
value such as ``up(1)`` (SNMP tools that print the label and the number) is
read by its label. A value that names no state (``"FOO"``, 9, a float) is a
counted ``unknown_enum`` rejection naming the leaf and the value; an explicit
*unknown* state is counted as ignored (``link_state_unknown``): it says no more
than silence does.

Why every state but ``up`` is *down*: the twin routes traffic only over links
that can carry it, and RFC 2863 (the IF-MIB) says an interface passes
operational packets only in ``up``; ``testing``, ``dormant`` and
``notPresent`` pass none.

Examples
--------
>>> link_state("UP"), link_state("LOWER_LAYER_DOWN"), link_state("im-state-admin-down"), link_state(1)
(1.0, 0.0, 0.0, 1.0)
>>> link_state("unknown") is UNKNOWN, link_state("lowerLayerDown(7)")
(True, 0.0)
>>> link_state("sideways") is None, link_state(9) is None, link_state(True) is None
(True, True, True)
>>> link_state(0, binary=True), link_state(2, binary=True) is None
(0.0, True)
"""

from __future__ import annotations

import re
from typing import Any, Final

__all__ = [
    "DOWN",
    "FAST_SPELLINGS",
    "LINK_STATE_KPIS",
    "UNKNOWN",
    "UP",
    "link_state",
    "link_state_detail",
]

UP: Final = 1.0
"""Value of a link-state row whose port is up (passes traffic)."""
DOWN: Final = 0.0
"""Value of a link-state row whose port is down (any state but up)."""


class _Unknown:
    """The marker :func:`link_state` returns for an explicit *unknown* state (not a row, not an error)."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "UNKNOWN"


UNKNOWN: Final = _Unknown()

#: Measurement KPIs of link state: the port at the link's source (egress) end, and (``rx_``) at its
#: destination (ingress) end; an unmapped interface's own state is ``oper_status`` / ``admin_status``.
LINK_STATE_KPIS: Final[tuple[str, ...]] = ("oper_status", "admin_status", "rx_oper_status", "rx_admin_status")

_UP_WORDS = ("up", "ready", "operational", "imstateup", "imstateoperational", "ifoperstateready", "ifstateup")
_DOWN_WORDS = (
    "down", "lowerlayerdown", "notpresent", "dormant", "testing", "test", "nopass", "notready", "admindown",
    "shutdown", "errdisable", "notoperational",
    # Nokia SR Linux srl_nokia-common:oper-state, every value but up (and degraded, which names no clear state)
    "empty", "downloading", "booting", "starting", "failed", "synchronizing", "upgrading", "lowpower", "warmreboot",
)  # fmt: skip
_UNKNOWN_WORDS = ("unknown", "invalid", "last")
_PREFIXES = ("imstate", "ifoperstate", "ifstate")

_TABLE: dict[str, float | _Unknown] = {w: UP for w in _UP_WORDS}
for _w in _DOWN_WORDS:
    _TABLE[_w] = DOWN
    for _p in _PREFIXES:
        _TABLE[_p + _w] = DOWN
for _w in _UNKNOWN_WORDS:
    _TABLE[_w] = UNKNOWN
    for _p in _PREFIXES:
        _TABLE[_p + _w] = UNKNOWN
for _p in _PREFIXES:
    _TABLE.setdefault(_p + "up", UP)
#: IF-MIB ``ifOperStatus`` / ``ifAdminStatus`` codes (RFC 2863)
_IFMIB: dict[int, float | _Unknown] = {1: UP, 2: DOWN, 3: DOWN, 4: UNKNOWN, 5: DOWN, 6: DOWN, 7: DOWN}
_LABEL_NUM = re.compile(r"^([A-Za-z][A-Za-z_\- ]*)\(\d+\)$")  # "up(1)", "lowerLayerDown(7)"

#: Exact byte spellings the gnmic fast path recognises (others go through :func:`link_state`).
FAST_SPELLINGS: Final[dict[str, float]] = {
    s: v
    for word, v in (("UP", UP), ("DOWN", DOWN), ("LOWER_LAYER_DOWN", DOWN), ("NOT_PRESENT", DOWN),
                    ("DORMANT", DOWN), ("TESTING", DOWN))
    for s in (word, word.lower(), word.lower().replace("_", "-"))
}  # fmt: skip


def _norm(s: str) -> str:
    return s.strip().strip('"').lower().replace("-", "").replace("_", "").replace(" ", "")


def link_state(value: Any, *, binary: bool = False) -> float | _Unknown | None:
    """:data:`UP`, :data:`DOWN`, :data:`UNKNOWN`, or ``None`` when ``value`` names no state.

    ``value``: an enum string (any spelling of the table above), or an
    IF-MIB integer code (an ``int``, an integral ``float`` or a decimal
    string). ``binary``: integers are 1 = up, 0 = down (OTLP ``hw.network.up``)
    instead of IF-MIB codes.
    """
    if isinstance(value, bool):
        return None
    if isinstance(value, float):
        if not value.is_integer():
            return None
        value = int(value)
    if isinstance(value, str):
        s = _norm(value)
        hit = _TABLE.get(s)
        if hit is not None:
            return hit
        if s.isdigit():
            value = int(s)
        else:
            m = _LABEL_NUM.match(value.strip())
            return _TABLE.get(_norm(m.group(1))) if m else None
    if isinstance(value, int):
        if binary:
            return UP if value == 1 else DOWN if value == 0 else None
        return _IFMIB.get(value)
    return None


def link_state_detail(leaf: str, value: Any, binary: bool = False) -> str:
    """Detail of the ``unknown_enum`` rejection of a link-state ``leaf`` whose ``value`` names no state."""
    accepted = "1 (up) or 0 (down)" if binary else ("UP, DOWN, LOWER_LAYER_DOWN, NOT_PRESENT, DORMANT, TESTING, "
                                                    "UNKNOWN (any case), IF-MIB codes 1-7, Cisco im-state-* / "
                                                    "if-oper-state-* / if-state-*")
    return (f"link-state leaf {leaf!r}: value {value!r} names no interface state; expected {accepted} "
            "(see telemetry_adapters.link_state)")
