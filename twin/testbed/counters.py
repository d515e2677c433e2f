"""Cumulative interface counters of the network under test, as devices keep them.

Every physical interface (a *port*: one device, one interface name) has the
OpenConfig counters a collector reads — octets, unicast packets, discards and
errors, in and out — as unsigned 64-bit integers that only grow, except when an
operator clears them or the device reboots. A directed link ``a -> b`` leaves
through a port of ``a`` (its ``out-*`` counters) and arrives at a port of
``b`` (its ``in-*`` counters); the two directions of a physical link share the
two ports.

Within a window the rates are constant, so a counter read at any instant is a
linear interpolation between the window's start and end values (whole
octets/packets, floored). Vectorised over ports: one :meth:`PortCounters.advance`
per window, one :meth:`PortCounters.read` per sample instant.

Examples
--------
>>> import numpy as np
>>> pc = PortCounters(n_ports=2, link_tx_port=np.array([0]), link_rx_port=np.array([1]))
>>> pc.advance(window_s=10.0, tx_bps=np.array([8e6]), tx_pps=np.array([1000.0]), tx_drop_pps=np.array([0.0]),
...            rx_bps=np.array([8e6]), rx_pps=np.array([1000.0]))
>>> int(pc.read(1.0)["out-octets"][0]), int(pc.read(1.0)["in-octets"][1])
(10000000, 10000000)
>>> int(pc.read(0.5)["out-unicast-pkts"][0])
5000
"""

from __future__ import annotations

import numpy as np

from twinwatch.twin.testbed.emit import GNMIC_COUNTERS

__all__ = ["PortCounters"]


class PortCounters:
    """Cumulative counters of ``n_ports`` ports, advanced one window at a time.

    Parameters
    ----------
    n_ports
        Number of ports (physical interfaces).
    link_tx_port, link_rx_port
        ``(E,)`` port of each directed link's sender and receiver.
    start
        ``(n_ports,)`` initial octet counters (devices have been up for a
        while: counters do not start at zero); zeros when omitted.
    """

    def __init__(self, n_ports: int, link_tx_port: np.ndarray, link_rx_port: np.ndarray,
                 start: np.ndarray | None = None) -> None:
        self.n_ports = int(n_ports)
        self.link_tx_port = np.asarray(link_tx_port, dtype=np.int64)
        self.link_rx_port = np.asarray(link_rx_port, dtype=np.int64)
        if self.link_tx_port.shape != self.link_rx_port.shape:
            raise ValueError("link_tx_port and link_rx_port must have the same shape")
        for name, arr in (("link_tx_port", self.link_tx_port), ("link_rx_port", self.link_rx_port)):
            if arr.size and (arr.min() < 0 or arr.max() >= self.n_ports):
                raise ValueError(f"{name} names a port outside 0..{self.n_ports - 1}")
        base = np.zeros(self.n_ports) if start is None else np.asarray(start, dtype=np.float64)
        # float64 holds counts exactly up to 2**53 (9e15 octets: 83 days at 10 Gb/s); wraps are the caller's
        self._at_start = {leaf: np.zeros(self.n_ports) for leaf in GNMIC_COUNTERS}
        self._at_start["in-octets"] = base.copy()
        self._at_start["out-octets"] = base.copy()
        self._delta = {leaf: np.zeros(self.n_ports) for leaf in GNMIC_COUNTERS}
        # this window's clears: the fraction each port is cleared at (inf: none) and its values before the clear
        self._clear_at = np.full(self.n_ports, np.inf)
        self._before = {leaf: np.zeros(self.n_ports) for leaf in GNMIC_COUNTERS}

    def advance(self, *, window_s: float, tx_bps: np.ndarray, tx_pps: np.ndarray, tx_drop_pps: np.ndarray,
                rx_bps: np.ndarray, rx_pps: np.ndarray, rx_error_pps: np.ndarray | None = None) -> None:
        """Close the previous window and set this window's per-link rates (``(E,)`` each, bit/s and packets/s).

        ``tx_*`` count at the sending port (``out-*``), ``rx_*`` at the receiving
        port (``in-*``): they differ when packets are lost on the wire (a grey
        failure) or dropped at the sender's queue.
        """
        for leaf in GNMIC_COUNTERS:
            self._at_start[leaf] = self._at_start[leaf] + self._delta[leaf]
        self._clear_at[:] = np.inf
        n = self.n_ports
        tx, rx = self.link_tx_port, self.link_rx_port
        err = np.zeros_like(rx_pps) if rx_error_pps is None else rx_error_pps
        self._delta = {
            "out-octets": np.bincount(tx, weights=tx_bps * window_s / 8.0, minlength=n),
            "out-unicast-pkts": np.bincount(tx, weights=tx_pps * window_s, minlength=n),
            "out-discards": np.bincount(tx, weights=tx_drop_pps * window_s, minlength=n),
            "out-errors": np.zeros(n),
            "in-octets": np.bincount(rx, weights=rx_bps * window_s / 8.0, minlength=n),
            "in-unicast-pkts": np.bincount(rx, weights=rx_pps * window_s, minlength=n),
            "in-discards": np.zeros(n),
            "in-errors": np.bincount(rx, weights=err * window_s, minlength=n),
        }

    def read(self, fraction: float | np.ndarray) -> dict[str, np.ndarray]:
        """Counter values ``(n_ports,)`` uint64 at ``fraction`` (scalar or per port, 0..1) of the current window."""
        f = np.clip(np.asarray(fraction, dtype=np.float64), 0.0, 1.0)
        # a sample taken before its port's clear this window reads the old count
        before = np.isfinite(self._clear_at) & (f < self._clear_at)
        return {leaf: np.floor(np.maximum(np.where(before, self._before[leaf], self._at_start[leaf])
                                          + f * self._delta[leaf], 0.0)).astype(np.uint64)
                for leaf in GNMIC_COUNTERS}

    def clear(self, ports: np.ndarray, fraction: float) -> None:
        """Zero the counters of ``ports`` at ``fraction`` of the current window (a clear or a reboot).

        A read at a fraction before the clear sees the old count, one after it the count since the clear, as a
        device's counter would (a read before the clear never sees zero).

        >>> pc = PortCounters(n_ports=1, link_tx_port=np.array([0]), link_rx_port=np.array([0]),
        ...                   start=np.array([1e6]))
        >>> pc.advance(window_s=10.0, tx_bps=np.array([8e6]), tx_pps=np.array([1e3]), tx_drop_pps=np.array([0.0]),
        ...            rx_bps=np.array([8e6]), rx_pps=np.array([1e3]))
        >>> pc.clear(np.array([0]), 1.0 / 3.0)
        >>> int(pc.read(0.1)["out-octets"][0]), int(pc.read(1.0)["out-octets"][0])
        (2000000, 6666666)
        """
        idx = np.asarray(ports, dtype=np.int64)
        self._clear_at[idx] = fraction
        for leaf in GNMIC_COUNTERS:
            self._before[leaf][idx] = self._at_start[leaf][idx]
            # the rest of the window keeps counting from zero
            self._at_start[leaf][idx] = -fraction * self._delta[leaf][idx]
