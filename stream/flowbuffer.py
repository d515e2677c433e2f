"""Flow records of one network between decoding and the windows that use them: :class:`FlowBuffer`.

Flow exporters (goflow2: NetFlow/IPFIX/sFlow) report a flow once its export
interval ends, often tens of seconds after the packets, so a record usually
reaches the service after the window it covers has closed. The buffer keeps
the decoded records (node numbers from the inventory's longest-prefix match,
sampling-scaled bytes and packets, ``[flow_start, flow_end]``, the DSCP
that puts each record in its ToS class) for
``horizon_s`` seconds of event time and, when a window ``[start, end)``
closes, says how the snapshot should use them
(:meth:`FlowBuffer.snapshot_args`):

- **in the window**: routers whose latest record ends at or after ``end`` have
  exported everything they saw in the window (records leave an exporter in
  order); their rows of the traffic matrix come from their records
  (:func:`twinwatch.twin.traffic_matrix.matrix_from_flows`, pro rata to the
  window) and link counters estimate the rest
  (:func:`~twinwatch.twin.traffic_matrix.matrix_mixed`); when every router
  is complete the matrix is the flows' alone;
- **as the prior**: when no router is complete for the window yet, the
  latest span of records (``[T − span, T]``, ``T`` the latest flow end) gives
  the per-class pair rates that the counter estimate starts from instead of a
  gravity model (:func:`twinwatch.twin.traffic_matrix.matrix_fitted_to_counters`),
  so the window's counters fit the flows' structure and classes — as the
  windows measured by records do with their own.

**Determinism.** A window uses only the records whose flow ended at or before
its ``cutoff`` (the pipeline passes ``end + lateness``, the event time every
source, flow partitions included, has passed when the window closes), so the
matrix of a window depends on the telemetry, never on how far the flow topic
happened to be read when the window closed: a live service and a replay of the
same topics build the same matrices. Records older than ``horizon_s`` before
the oldest open window are dropped; ``max_records`` (the newest kept) only
guards memory when a flow topic runs far ahead of the counters
(:attr:`FlowBuffer.overflow` counts what it dropped). Records that end at or
before a window already closed are counted in :attr:`FlowBuffer.late` and
kept for later windows' priors.

Times are epoch seconds, rates bit/s.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from twinwatch.telemetry_adapters import FlowBatch, Inventory
from twinwatch.twin.netmodel import NetworkModel
from twinwatch.twin.traffic_matrix import matrix_from_flows

__all__ = ["FlowBuffer"]

_COLS = ("src_node", "dst_node", "bytes_count", "packets_count", "flow_start_s", "flow_end_s", "sampling_rate",
         "dscp", "exporter_node")


class FlowBuffer:
    """Decoded flow records of one network, by node number, for ``horizon_s`` seconds of event time.

    Parameters
    ----------
    model, inventory
        The network model (node numbers) and its inventory (address → node by longest-prefix match;
        exporters are named by their loopback address).
    horizon_s
        Records whose flow ended more than this long before the start of the window being closed are
        dropped (seconds); the prior of a window never looks further back than this.
    max_records
        At most this many records are kept (the newest; :attr:`overflow` counts the rest).

    Examples
    --------
    >>> from twinwatch.telemetry_adapters.schema import FlowBatchBuilder
    >>> from twinwatch.twin.netmodel import model_from_dict
    >>> doc = {"version": 1, "name": "duo", "devices": [
    ...     {"name": "a", "prefixes": ["10.1.0.0/16"], "loopback": {"ipv4": "172.16.0.1"}},
    ...     {"name": "b", "prefixes": ["10.2.0.0/16"], "loopback": {"ipv4": "172.16.0.2"}}],
    ...     "links": [{"a": {"device": "a", "interface": "e1"}, "b": {"device": "b", "interface": "e1"},
    ...                "capacity_bps": "1G", "delay_s": 0.001}]}
    >>> model = model_from_dict(doc, source="duo")
    >>> buf = FlowBuffer(model, Inventory.from_dict(model.inventory_dict()))
    >>> fb = FlowBatchBuilder()
    >>> fb.add(ts=60.0, duration_s=60.0, src_addr="10.1.0.9", dst_addr="10.2.0.7", bytes=7.5e6, packets=7500.0,
    ...        sampling_rate=1000, exporter="172.16.0.1", network="duo", source="goflow2")
    >>> buf.add(fb.build())
    0
    >>> sorted(buf.snapshot_args(0.0, 10.0, cutoff=15.0))   # the record (ends at 60 s) is beyond the cutoff
    []
    >>> args = buf.snapshot_args(50.0, 60.0, cutoff=65.0)  # router a exported up to t = 60 s: its row is known
    >>> args["flow_exporters"].tolist(), args["bytes_scaled"]
    ([True, False], True)
    >>> sorted(buf.snapshot_args(60.0, 70.0, cutoff=75.0))  # nobody has exported past 70 s yet: flows as the prior
    ['prior_bps']
    >>> prior = buf.snapshot_args(60.0, 70.0, cutoff=75.0)["prior_bps"]   # (class, src, dst)
    >>> prior.shape, float(prior[:, 0, 1].sum())                          # 7.5 MB over 60 s = 1 Mb/s
    ((3, 2, 2), 1000000.0)
    >>> buf.add(fb.build()), buf.late                   # the same export again: its windows are closed
    (0, 1)
    """

    def __init__(self, model: NetworkModel, inventory: Inventory, *, horizon_s: float = 600.0,
                 max_records: int = 500_000) -> None:
        if not horizon_s > 0 or max_records < 1:
            raise ValueError(f"FlowBuffer: horizon_s > 0 and max_records >= 1 required, got {horizon_s}, "
                             f"{max_records}")
        self.model = model
        self.inventory = inventory
        self.horizon_s = float(horizon_s)
        self.max_records = int(max_records)
        self.unmapped = 0
        """Records whose source or destination address matched no prefix (kept, never used)."""
        self.late = 0
        """Records that ended at or before the cutoff of a window already closed (kept for later priors)."""
        self.overflow = 0
        """Records dropped because more than ``max_records`` were held (a flow topic far ahead of the others)."""
        self.closed_upto = -np.inf
        """Cutoff (epoch s) of the latest window closed: records ending at or before it are late."""
        self._cols: dict[str, np.ndarray] = {c: np.empty(0) for c in _COLS}
        """The records, one array per column. Replaced by a new dict on every change, never changed in place:
        the service's state encoder takes an unchanged dict (same object) as unchanged records."""
        self._prior: tuple[tuple[float, float, int], np.ndarray | None] | None = None  # (key, prior) since the last add
        self._node_of: dict[str, int] = dict(model.node_index)

    def __len__(self) -> int:
        return int(self._cols["flow_end_s"].size)

    def _nodes(self, addrs: np.ndarray) -> np.ndarray:
        """``(n,)`` int64 node numbers of addresses by the inventory's longest-prefix match (none → -1)."""
        names = self.inventory.lookup_nodes(addrs)
        lut = self._node_of
        return np.fromiter((lut.get(v, -1) for v in names.tolist()), dtype=np.int64, count=names.size)

    def add(self, flows: FlowBatch) -> int:
        """Keep a decoded batch (bytes and packets sampling-scaled, as the decoders give them); returns unmapped."""
        r = len(flows)
        if not r:
            return 0
        src, dst = self._nodes(flows.src_addr), self._nodes(flows.dst_addr)
        exp = self._nodes(np.asarray([a or "" for a in flows.exporter.tolist()], dtype=object))
        exp = np.where(exp >= 0, exp, src)  # exporter not named or unknown: taken as the ingress router
        t1 = np.asarray(flows.ts, dtype=np.float64)
        dur = np.asarray(flows.duration_s, dtype=np.float64)
        new = {"src_node": src, "dst_node": dst, "bytes_count": np.asarray(flows.bytes, dtype=np.float64),
               "packets_count": np.asarray(flows.packets, dtype=np.float64),
               "flow_start_s": t1 - np.where(np.isfinite(dur) & (dur > 0), dur, 0.0), "flow_end_s": t1,
               "sampling_rate": np.asarray(flows.sampling_rate, dtype=np.int64),
               "dscp": np.asarray(flows.dscp, dtype=np.uint8), "exporter_node": exp}
        n_unmapped = int(((src < 0) | (dst < 0)).sum())
        self.unmapped += n_unmapped
        self.late += int((t1 <= self.closed_upto).sum())
        cols = {k: np.concatenate([self._cols[k].astype(v.dtype, copy=False), v]) for k, v in new.items()}
        if cols["flow_end_s"].size > self.max_records:
            keep = np.argsort(cols["flow_end_s"], kind="stable")[-self.max_records:]
            keep.sort()
            self.overflow += cols["flow_end_s"].size - keep.size
            cols = {k: v[keep] for k, v in cols.items()}
        self._cols = cols
        self._prior = None
        return n_unmapped

    def snapshot_args(self, start: float, end: float, cutoff: float = np.inf) -> dict[str, Any]:
        """Keyword arguments of :meth:`twinwatch.twin.snapshot.SnapshotBuilder.build` for the window.

        Only records that ended at or before ``cutoff`` (epoch s) count. ``{"flows", "flow_exporters",
        "bytes_scaled"}`` when some router has exported past ``end``; ``{"prior_bps"}`` (``(C, N, N)`` bit/s
        per ToS class) when only earlier records are held; ``{}`` without records. Closing a window also drops
        the records older than ``start - horizon_s`` and makes later records ending at or before ``cutoff``
        late.
        """
        self.closed_upto = max(self.closed_upto, float(cutoff))
        if len(self) and float(self._cols["flow_end_s"].min()) < start - self.horizon_s:
            keep = self._cols["flow_end_s"] >= start - self.horizon_s
            self._cols = {k: v[keep] for k, v in self._cols.items()}
            self._prior = None
        c = self._cols
        if np.isfinite(cutoff) and len(self) and float(c["flow_end_s"].max()) > cutoff:
            upto = c["flow_end_s"] <= cutoff
            c = {k: v[upto] for k, v in c.items()}
        if not c["flow_end_s"].size:
            return {}
        n = self.model.n_nodes
        t0, t1, exp = c["flow_start_s"], c["flow_end_s"], c["exporter_node"]
        known_exp = exp >= 0
        latest = np.full(n, -np.inf)
        np.maximum.at(latest, exp[known_exp], t1[known_exp])
        complete = latest >= end
        if complete.any():
            sel = ((t1 > start) & (t0 < end)) | ((t1 == t0) & (t0 >= start) & (t0 < end))
            sel &= known_exp & complete[np.maximum(exp, 0)]
            flows = {k: v[sel] for k, v in c.items()}
            return {"flows": flows, "flow_exporters": complete, "bytes_scaled": True}
        key = (end - start, float(t1.max()), int(t1.size))
        if self._prior is None or self._prior[0] != key:  # same records up to the cutoff: the same prior
            self._prior = (key, self._flow_prior(end - start, c))
        prior = self._prior[1]
        return {} if prior is None else {"prior_bps": prior.copy()}

    def _flow_prior(self, window_s: float, c: dict[str, np.ndarray]) -> np.ndarray | None:
        """``(C, N, N)`` per-class pair rates (bit/s) of the latest span of records ``c``; None when all zero."""
        t0, t1 = c["flow_start_s"], c["flow_end_s"]
        top = float(t1.max())
        lo = top - max(float(np.median(t1 - t0)), window_s)
        tm, _ = matrix_from_flows(n_nodes=self.model.n_nodes, start=lo, end=top, bytes_scaled=True,
                                  dscp_to_class=self.model.dscp_class, **c)
        return tm.rate_bps if (tm.rate_bps > 0).any() else None

    def state_key(self) -> tuple[Any, ...]:
        """What :meth:`state_arrays` depends on: the record dict (the same object while the records are unchanged)
        and the counters. Two calls return equal keys (the dict compared by identity) iff nothing changed."""
        return self._cols, self.unmapped, self.late, self.overflow, self.closed_upto

    def state_arrays(self) -> dict[str, np.ndarray]:
        """The buffer as named arrays (records and counters) for the service state (npz, no pickle)."""
        return {**self._cols, "__unmapped": np.array([self.unmapped]), "__late": np.array([self.late]),
                "__overflow": np.array([self.overflow]), "__closed_upto": np.array([self.closed_upto])}

    def load_state_arrays(self, arrays: dict[str, np.ndarray]) -> None:
        """Replace the buffer with :meth:`state_arrays` output (older states without the counters load too)."""
        arrays = dict(arrays)
        self.unmapped = int(arrays.pop("__unmapped", np.array([0]))[0])
        self.late = int(arrays.pop("__late", np.array([0]))[0])
        self.overflow = int(arrays.pop("__overflow", np.array([0]))[0])
        self.closed_upto = float(arrays.pop("__closed_upto", np.array([-np.inf]))[0])
        missing = [c for c in _COLS if c not in arrays]
        if missing:
            raise ValueError(f"FlowBuffer state: columns {missing} missing")
        self._cols = {c: np.asarray(arrays[c]) for c in _COLS}
        self._prior = None
