"""Raw messages of one collector format → counted dead letters, and Measurement rows in each network's windows.

The first half of the pipeline, one code path for the service, ``replay`` and
the twin-less replay (:func:`twinwatch.stream.commands.replay.run_twinless`):

1. the format's decoder, a batch at a time; every message (or element) it
   refuses becomes a :class:`DeadLetter` with the reason and the original
   bytes, counted by format and reason;
2. the device clocks (:class:`~twinwatch.stream.clocks.DeviceClocks`): each
   source's windows learn how far its devices have got, a device running
   ahead of the others is re-stamped to their time, devices sending late
   are named;
3. per network (a *lane*: its inventory, windows and counter states), the
   counters normalised into rates (:func:`twinwatch.telemetry_adapters.normalize`)
   and the rows added to the network's windows, late ones counted.

Closing windows (snapshot, twin, detectors) is the caller's. Times are epoch
seconds.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from twinwatch.stream.clocks import DeviceClocks
from twinwatch.telemetry_adapters import CounterState, DecoderConfig, Inventory, get_decoder, normalize
from twinwatch.telemetry_adapters.errors import MAX_RAW_BYTES

if TYPE_CHECKING:
    from twinwatch.stream.metrics import ServiceMetrics
    from twinwatch.stream.pipeline import WindowBuffer

__all__ = ["DeadLetter", "Ingest", "LaneState", "dead_letters_of"]

_MSG_INDEX = re.compile(r"^message (\d+)\b")


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """A message (or record) the adapters refused: its format, the reason code, a detail and the original bytes.

    ``whole_message`` is true when ``raw`` is the complete original message; false when the
    decoder refused one element of a message and ``raw`` is that element (truncated to 512 bytes).
    """

    format: str
    reason: str
    detail: str
    raw: bytes
    whole_message: bool = True
    kafka_ts: float | None = None

    def to_dict(self) -> dict[str, Any]:
        """``{"format", "reason", "detail", "raw_b64", "whole_message"[, "kafka_ts"]}`` (JSON-ready)."""
        d: dict[str, Any] = {"format": self.format, "reason": self.reason, "detail": self.detail,
                             "raw_b64": base64.b64encode(self.raw).decode("ascii"),
                             "whole_message": self.whole_message}
        if self.kafka_ts is not None:
            d["kafka_ts"] = self.kafka_ts
        return d


def dead_letters_of(fmt: str, messages: Sequence[bytes], rejections: Iterable[Any],
                    kafka_ts: Sequence[float] | None) -> tuple[list[DeadLetter], int]:
    """DLQ records of a decoder's rejections; returns them and the number of whole messages refused.

    A rejection names its message (``"message N: ..."``); the name is checked against the message's
    first bytes (and its neighbours, then the whole batch), so a decoder that miscounts still gets
    the original bytes into the dead letter. A rejection of one element of a valid message keeps
    the element's bytes (``whole_message=False``).
    """
    out: list[DeadLetter] = []
    whole: set[int] = set()
    by_prefix: dict[bytes, list[int]] | None = None
    n = len(messages)
    for rj in rejections:
        raw = bytes(rj.raw)
        mt = _MSG_INDEX.match(rj.detail)
        hint = int(mt.group(1)) if mt else -1
        # the decoder names the message; check it by its first bytes (and the neighbours, then the batch)
        idx = next((i for i in (hint, hint + 1, hint - 1, hint + 2, hint - 2)
                    if 0 <= i < n and i not in whole and messages[i][: len(raw)] == raw), -1)
        if idx < 0 and raw:
            if by_prefix is None:
                by_prefix = {}
                for i, msg in enumerate(messages):
                    by_prefix.setdefault(bytes(msg[:MAX_RAW_BYTES]), []).append(i)
            idx = next((i for i in by_prefix.get(raw, ()) if i not in whole), -1)
        if idx >= 0:
            whole.add(idx)
            out.append(DeadLetter(fmt, rj.reason, rj.detail, bytes(messages[idx]), True,
                                  None if kafka_ts is None else float(kafka_ts[idx])))
        else:
            out.append(DeadLetter(fmt, rj.reason, rj.detail, raw, False))
    return out, len(whole)


@dataclass
class LaneState:
    """What one network's ingest keeps: the twin-less replay's one lane as it is, the pipeline's per network with
    more beside it."""

    inventory: Inventory | None
    """Maps devices and interfaces to the network's links (``None``: no network model, every entity as named)."""
    windows: WindowBuffer
    counters: dict[str, CounterState] = field(default_factory=dict)
    """Format → the counter state of that format's devices."""
    generation: dict[str, int] = field(default_factory=dict)
    """Changes so far per component (``"counters:<format>"``: batches that updated that counter state; the pipeline
    adds ``"detector"``): the state encoder re-encodes a component only when its count moved."""


def _columns(mb: Any) -> dict[str, np.ndarray]:
    """A Measurement batch's columns as the windows keep them."""
    return {"ts": mb.ts, "entity_kind": np.asarray(mb.entity_kind), "entity_id": np.asarray(mb.entity_id),
            "kpi": np.asarray(mb.kpi), "value": mb.value, "flags": mb.flags}


class Ingest:
    """Decode a batch of raw messages of one format, and put its samples' rows into the lanes' windows.

    Parameters
    ----------
    lanes
        Network name → :class:`LaneState` (several networks are routed by device name, ``device_network``); read at
        every batch, so a lane's counters may be replaced between batches (a restored state).
    devices
        The device clocks followed, and those named ahead and late.
    decoding
        The decoders' options (the network name written on rows, the age and host-clock limits).
    device_network
        Device or node name → its network (several lanes; a device of none is dropped from every lane).
    metrics
        Where messages, rejections, dead letters, measurements and late rows are counted (``None``: nowhere).

    >>> from twinwatch.stream.pipeline import WindowBuffer
    >>> lane = LaneState(None, WindowBuffer(window_s=10.0, lateness_s=5.0, idle_s=float("inf")))
    >>> ing = Ingest({"": lane}, DeviceClocks(None), DecoderConfig(max_age_s=None, max_future_skew_s=None))
    >>> res, dead = ing.decode([b"not json"], "gnmic")
    >>> [d.reason for d in dead], len(res.samples)
    (['malformed_json'], 0)
    """

    def __init__(self, lanes: Mapping[str, LaneState], devices: DeviceClocks, decoding: DecoderConfig, *,
                 device_network: Mapping[str, str] | None = None, metrics: ServiceMetrics | None = None) -> None:
        self.lanes = lanes
        self.devices = devices
        self.decoding = decoding
        self.device_network = dict(device_network or {})
        self.metrics = metrics
        self._decoders: dict[str, Any] = {}

    def decoder(self, fmt: str) -> Any:
        """The decoder of format ``fmt`` (made at its first batch, kept: some keep state across batches)."""
        dec = self._decoders.get(fmt)
        if dec is None:
            dec = self._decoders[fmt] = get_decoder(fmt, self.decoding)
        return dec

    def decode(self, messages: Sequence[bytes], fmt: str,
               kafka_ts: Sequence[float] | None = None) -> tuple[Any, list[DeadLetter]]:
        """The decoder's result for ``messages`` and a dead letter per refusal (counted by format and reason).

        ``kafka_ts`` (epoch seconds, one per message) is kept on the dead letters.
        """
        res = self.decoder(fmt).decode_batch(list(messages))
        dead, n_refused = dead_letters_of(fmt, messages, res.rejections, kafka_ts)
        mt = self.metrics
        if mt is not None:
            mt.messages.labels(fmt, "accepted").inc(len(messages) - n_refused)
            if n_refused:
                mt.messages.labels(fmt, "rejected").inc(n_refused)
            for reason, count in res.stats.counts.items():
                mt.rejected.labels(fmt, reason).inc(count)
            for d in dead:
                mt.dlq.labels(fmt, d.reason).inc()
        return res, dead

    def add_samples(self, samples: Any, fmt: str, source: str) -> None:
        """Put decoded ``samples`` of format ``fmt`` from the in-order stream ``source`` into the lanes' windows.

        Every lane's windows learn how far the source's device clocks have got (a lane it carried no rows for
        this time must not wait for it); the samples of a device running ahead of or behind the others on the
        source are re-stamped to their time (:meth:`DeviceClocks.restamp`, its counters starting again when its offset
        starts, changes or ends); then per lane, the devices sending late are named, the counters normalised
        (their clock: how far the source's clocks agree they have got, not the latest sample, which may come
        from a clock running ahead) and the rows added.
        """
        if not len(samples):
            return
        latest = self.devices.latest_times(samples)
        for lane in self.lanes.values():
            lane.windows.observe_clocks(source, latest)
        wb = next(iter(self.lanes.values())).windows  # every lane's windows saw the same clocks: any one tells
        for device in self.devices.restamp(source, samples, wb.clock_offset(source), wb.window_s):
            for lane in self.lanes.values():
                if fmt in lane.counters:
                    lane.counters[fmt].forget_device(device)
        mt = self.metrics
        for name, batch in self.split(samples).items():
            lane = self.lanes[name]
            state = lane.counters.setdefault(fmt, CounterState())
            self.devices.report_late(name, batch, lane.windows.closed_until)
            nr = normalize(batch, state, lane.inventory, now_ns=lane.windows.progress_ns(source))
            lane.generation[f"counters:{fmt}"] = lane.generation.get(f"counters:{fmt}", 0) + 1
            if mt is not None:
                for rj in nr.rejections:
                    mt.rejected.labels(fmt, rj.reason).inc(rj.count)
            mb = nr.measurements
            if len(mb):
                late = lane.windows.add(_columns(mb), source=source)
                if mt is not None:
                    mt.measurements.labels(name).inc(len(mb))
                    if late:
                        mt.late_rows.labels(name).inc(late)

    def split(self, samples: Any) -> dict[str, Any]:
        """The sample batch per lane (device name, or a path's source node, → network)."""
        if len(self.lanes) == 1:
            return {next(iter(self.lanes)): samples}
        dev = np.asarray(samples.device, dtype=object)
        uniq, inv = np.unique(dev, return_inverse=True)
        owner = np.array([self.device_network.get(str(d).split("->")[0], "") for d in uniq.tolist()], dtype=object)
        net_of = owner[inv]
        return {name: samples.take(np.flatnonzero(net_of == name)) for name in self.lanes if (net_of == name).any()}

    def report_clocks(self) -> None:
        """Name the devices whose clock runs ahead of or behind the others of their source, per lane (after each
        batch)."""
        for name, lane in self.lanes.items():
            self.devices.report_ahead(name, lane.windows.clocks_ahead())
            self.devices.report_behind(name, lane.windows.clocks_behind())
