"""Parsers for one line of each per-sample result file inside a GNNet tarball.

Every tarball holds one directory with line-aligned files (line ``i`` of each
file belongs to sample ``i``):

``simulationResults.txt``
    ``global_packets,global_losses,global_delay|`` then ``N*N`` ``;``-separated
    entries (row-major ``src*N+dst``, each ending in ``;``) of 11 numbers:
    ``AvgBw`` (kbit/tu), ``PktsGen`` (packets/tu), ``PktsDrop`` (packets/tu),
    ``AvgDelay`` (tu), ``AvgLnDelay``, ``p10, p20, p50, p80, p90`` (tu),
    ``Jitter`` (variance of delay, tu²). Diagonal: ``0,0,0,-1,...``.
``traffic.txt``
    ``maxAvgLambda|`` then ``N*N`` entries, ``:``-separated flows of
    ``time_dist, EqLambda, <time params>, size_dist, AvgPktSize, <size params>, ToS``.
    Diagonal (no flow): ``-1,0,-1,0,0``.
``linkUsage.txt`` (2021, 2022)
    ``N*N`` entries, ``-1`` where there is no link, else the port's
    ``utilization, losses, avgPacketSize`` then per queue (``:``-separated in
    2022, plain ``,`` in 2021) ``utilization, losses, avgPortOccupancy,
    maxQueueOccupancy, avgPacketSize``. Occupancies are in packets when the
    node's buffers are given in packets (``queueSizes``) and in bits when in
    bits (``bufferSizes``, 2022).
``stability.txt``
    ``sim_time;error;OK;Mem(KB):..;Time(s):..``; anything but ``OK`` in the
    third field marks an unstable sample.

Examples
--------
>>> res = parse_results("1,0,0.5|0,0,0,-1,-1,-1,-1,-1,-1,-1,-1;1,2,0.5,3,1,2,2,3,3,4,0.1;"
...                     "1,2,0,4,1,2,2,3,3,4,0.2;0,0,0,-1,-1,-1,-1,-1,-1,-1,-1;", 2)
>>> res.table[:, 3].tolist()
[-1.0, 3.0, 4.0, -1.0]
>>> tr = parse_traffic("9|-1,0,-1,0,0;0,354.4,0.3544,10,2,1000,300,1700,2;"
...                    "4,2901.9,5.58,5,6,10,0,1040,1;-1,0,-1,0,0;", 2)
>>> tr.pair.tolist(), tr.time_dist.tolist(), tr.tos.tolist(), tr.on_time.tolist()
([1, 2], [0, 4], [2, 1], [nan, 6.0])
>>> tr.sizes[0, :2].tolist(), tr.probs[0, :2].tolist()
([300.0, 1700.0], [0.5, 0.5])
"""

from __future__ import annotations

import io
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.csv as pa_csv

from twinwatch.twin.scenario import MAX_SIZES

__all__ = [
    "LineError",
    "LinkUsage",
    "Results",
    "Traffic",
    "numbers",
    "parse_link_usage",
    "parse_results",
    "parse_stability",
    "parse_traffic",
]

N_RESULT_FIELDS = 11
_TIME_PARAMS = np.array([4, 3, 4, 4, 6, 8], dtype=np.int64)
"""Offset of the size-distribution code from the start of a flow, per time distribution."""
_SIZE_TOKENS_FIXED = np.array([2, 4, 4, -1], dtype=np.int64)
"""Tokens of each size distribution (code + params), GENERIC (-1) is 3 + 2 * candidates."""


_SMALL = 2048
_TO_NEWLINE = bytes.maketrans(b",;:", b"\n\n\n")
_READ = pa_csv.ReadOptions(column_names=["v"], block_size=1 << 22, use_threads=False)
_CONVERT = pa_csv.ConvertOptions(column_types={"v": pa.float64()}, null_values=[], strings_can_be_null=False)


class LineError(ValueError):
    """A result-file line is malformed; the message says what was expected."""


def numbers(text: str, what: str) -> np.ndarray:
    """All numbers of ``text`` as float64; ``,``, ``;`` and ``:`` all separate numbers.

    Large inputs go through Arrow's CSV reader (exact, single-threaded; about 5x
    faster than ``np.fromstring`` on a 200-node line), small ones through
    ``float``.

    >>> numbers("1,2.5;-3e-05:4", "x").tolist()
    [1.0, 2.5, -3e-05, 4.0]
    """
    if len(text) < _SMALL:
        try:
            toks = text.replace(";", ",").replace(":", ",").split(",")
            return np.array([float(t) for t in toks if t.strip()], dtype=np.float64)
        except ValueError as exc:
            raise LineError(f"{what}: holds a token that is not a number ({exc})") from exc
    flat = text.encode("ascii", "replace").translate(_TO_NEWLINE)
    try:
        tab = pa_csv.read_csv(io.BytesIO(flat), read_options=_READ, convert_options=_CONVERT)
    except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
        raise LineError(f"{what}: holds a token that is not a number ({str(exc).splitlines()[0]})") from exc
    col = tab.column(0)
    if col.null_count:
        raise LineError(f"{what}: holds an empty token")
    return col.to_numpy()


def _body(line: str, what: str) -> tuple[str, str]:
    head, sep, body = line.partition("|")
    if not sep:
        raise LineError(f"{what}: no '|' separating the global values from the per-pair entries")
    return head, body.strip().rstrip(";")


@dataclass(frozen=True, slots=True)
class Results:
    """One ``simulationResults.txt`` line.

    ``table`` is ``(N*N, 11)`` in the column order given in the module docstring;
    ``global_packets``, ``global_losses`` (packets/tu) and ``global_delay`` (tu).
    """

    global_packets: float
    global_losses: float
    global_delay: float
    table: np.ndarray


def parse_results(line: str, n: int) -> Results:
    """Parse a ``simulationResults.txt`` line of an ``n``-node sample."""
    head, body = _body(line, "simulationResults line")
    g = numbers(head, "simulationResults global values")
    if g.shape[0] < 3:
        raise LineError(f"simulationResults line: expected 3 global values before '|', got {g.shape[0]}")
    if ":" in body:
        raise LineError("simulationResults line: per-flow results (':') are not supported in this file")
    vals = numbers(body, "simulationResults entries")
    if vals.shape[0] != n * n * N_RESULT_FIELDS:
        raise LineError(
            f"simulationResults line: expected {n}x{n} entries of {N_RESULT_FIELDS} numbers "
            f"({n * n * N_RESULT_FIELDS}), got {vals.shape[0]} numbers (wrong topology or truncated line)"
        )
    return Results(float(g[0]), float(g[1]), float(g[2]), vals.reshape(n * n, N_RESULT_FIELDS))


@dataclass(frozen=True, slots=True)
class Traffic:
    """The flows of one ``traffic.txt`` line, one row per flow (``F``).

    Attributes
    ----------
    max_avg_lambda
        The sample's traffic intensity (bits/tu).
    pair
        ``(F,)`` int64 ``src * N + dst``, non-decreasing.
    time_dist
        ``(F,)`` dataset time-distribution code (0 exponential, 1 deterministic,
        2 uniform, 3 normal, 4 on-off, 5 PPBP).
    eq_lambda
        ``(F,)`` mean offered rate, bits/tu.
    off_time, on_time
        ``(F,)`` mean OFF/ON durations (tu), NaN unless on-off.
    size_dist
        ``(F,)`` size-distribution code (0 deterministic, 1 uniform, 2 binomial, 3 generic).
    avg_size
        ``(F,)`` mean packet size, bits.
    sizes, probs
        ``(F, S)`` packet-size candidates and probabilities (NaN / 0 padding).
        Uniform sizes hold the (min, max) bounds with probability 0.5 each.
    tos
        ``(F,)`` int64 type of service.
    """

    max_avg_lambda: float
    pair: np.ndarray
    time_dist: np.ndarray
    eq_lambda: np.ndarray
    off_time: np.ndarray
    on_time: np.ndarray
    size_dist: np.ndarray
    avg_size: np.ndarray
    sizes: np.ndarray
    probs: np.ndarray
    tos: np.ndarray


def parse_traffic(line: str, n: int) -> Traffic:
    """Parse a ``traffic.txt`` line of an ``n``-node sample (vectorised over flows)."""
    head, body = _body(line, "traffic line")
    try:
        mal = float(head)
    except ValueError as exc:
        raise LineError(f"traffic line: maxAvgLambda {head[:40]!r} is not a number") from exc
    raw = np.frombuffer(body.encode("ascii", "replace"), dtype=np.uint8)
    flow_end = np.flatnonzero((raw == ord(";")) | (raw == ord(":")))
    entry_end = raw[flow_end] == ord(";")
    n_entries = int(entry_end.sum()) + 1
    if n_entries != n * n:
        raise LineError(f"traffic line: expected {n}x{n}={n * n} entries, got {n_entries} (wrong topology?)")
    n_flows = flow_end.shape[0] + 1
    # tokens per flow = commas inside it + 1
    commas = np.flatnonzero(raw == ord(","))
    bounds = np.searchsorted(commas, flow_end)
    ntok = np.diff(np.concatenate([[0], bounds, [commas.shape[0]]])) + 1
    # flow k > 0 starts right after the (k-1)-th separator: its entry is the number of ';' up to there
    pair_of_flow = np.concatenate([[0], np.cumsum(entry_end)]).astype(np.int64)
    tok = numbers(body, "traffic entries")
    if tok.shape[0] != int(ntok.sum()):
        raise LineError(f"traffic line: {tok.shape[0]} numbers but {int(ntok.sum())} tokens (empty token?)")
    start = np.zeros(n_flows, dtype=np.int64)
    np.cumsum(ntok[:-1], out=start[1:])
    td = tok[start].astype(np.int64)
    keep = td >= 0
    if (td > 5).any():
        k = int(np.flatnonzero(td > 5)[0])
        p = int(pair_of_flow[k])
        raise LineError(f"traffic line: flow {p // n}->{p % n} has unknown time distribution {int(td[k])}")
    start, td, ntok, pair = start[keep], td[keep], ntok[keep], pair_of_flow[keep]
    end = start + ntok
    f = start.shape[0]
    sdpos = start + _TIME_PARAMS[td]
    if (sdpos + 2 > end).any():
        k = int(np.flatnonzero(sdpos + 2 > end)[0])
        raise LineError(f"traffic line: flow {int(pair[k]) // n}->{int(pair[k]) % n} is too short")
    sd = tok[sdpos].astype(np.int64)
    if ((sd < 0) | (sd > 3)).any():
        k = int(np.flatnonzero((sd < 0) | (sd > 3))[0])
        raise LineError(f"traffic line: flow {int(pair[k]) // n}->{int(pair[k]) % n} has unknown size distribution")
    avg = tok[sdpos + 1]
    onoff = td == 4
    off_t = np.where(onoff, tok[np.minimum(start + 3, end - 1)], np.nan)
    on_t = np.where(onoff, tok[np.minimum(start + 4, end - 1)], np.nan)
    sizes = np.full((f, MAX_SIZES), np.nan)
    probs = np.zeros((f, MAX_SIZES))
    m = sd == 0
    sizes[m, 0], probs[m, 0] = avg[m], 1.0
    m = sd == 1
    sizes[m, 0], sizes[m, 1], probs[m, :2] = tok[sdpos[m] + 2], tok[sdpos[m] + 3], 0.5
    m = sd == 2
    if m.any():
        s1, s2 = tok[sdpos[m] + 2], tok[sdpos[m] + 3]
        p2 = np.where(s2 != s1, (avg[m] - s1) / np.where(s2 != s1, s2 - s1, 1.0), 0.5)
        sizes[m, 0], sizes[m, 1], probs[m, 0], probs[m, 1] = s1, s2, 1.0 - p2, p2
    m = np.flatnonzero(sd == 3)
    if m.size:
        cand = tok[sdpos[m] + 2].astype(np.int64)
        if ((cand < 1) | (cand > MAX_SIZES)).any():
            k = int(m[np.flatnonzero((cand < 1) | (cand > MAX_SIZES))[0]])
            raise LineError(f"traffic line: flow {int(pair[k]) // n}->{int(pair[k]) % n}: 1..{MAX_SIZES} sizes allowed")
        for j in range(MAX_SIZES):
            mj = m[cand > j]
            sizes[mj, j] = tok[sdpos[mj] + 3 + 2 * j]
            probs[mj, j] = tok[sdpos[mj] + 4 + 2 * j]
    # the last token of every flow is its ToS; check it lies right after the size parameters
    used = np.where(sd == 3, 3 + 2 * tok[np.minimum(sdpos + 2, end - 1)].astype(np.int64), _SIZE_TOKENS_FIXED[sd])
    if (sdpos + used + 1 != end).any():
        k = int(np.flatnonzero(sdpos + used + 1 != end)[0])
        raise LineError(
            f"traffic line: flow {int(pair[k]) // n}->{int(pair[k]) % n} has {int(ntok[k])} numbers, "
            f"which does not match its time/size distribution parameters"
        )
    return Traffic(
        max_avg_lambda=mal,
        pair=pair,
        time_dist=td,
        eq_lambda=tok[start + 1],
        off_time=off_t,
        on_time=on_t,
        size_dist=sd,
        avg_size=avg,
        sizes=sizes,
        probs=probs,
        tos=tok[end - 1].astype(np.int64),
    )


@dataclass(frozen=True, slots=True)
class LinkUsage:
    """One ``linkUsage.txt`` line: the ports that exist, in pair order.

    ``pair`` is ``(L,)`` ``src * N + dst``; ``port`` is ``(L, 3)`` (utilization,
    losses ratio, avgPacketSize bits); ``queues`` is ``(L, Q, 5)`` per queue
    (utilization, losses, avgPortOccupancy, maxQueueOccupancy, avgPacketSize),
    NaN where a port has fewer queues.
    """

    pair: np.ndarray
    port: np.ndarray
    queues: np.ndarray


def parse_link_usage(line: str, n: int, max_queues: int) -> LinkUsage:
    """Parse a ``linkUsage.txt`` line of an ``n``-node sample."""
    entries = line.strip().rstrip(";").split(";")
    if len(entries) != n * n:
        raise LineError(f"linkUsage line: expected {n}x{n}={n * n} entries, got {len(entries)}")
    idx = [i for i, e in enumerate(entries) if e != "-1"]
    port = np.full((len(idx), 3), np.nan)
    queues = np.full((len(idx), max_queues, 5), np.nan)
    if not idx:
        return LinkUsage(np.zeros(0, dtype=np.int64), port, queues)
    sub = [entries[i] for i in idx]
    counts = np.array([e.count(",") + e.count(":") + 1 for e in sub], dtype=np.int64)
    vals = numbers(";".join(sub), "linkUsage entries")
    if vals.shape[0] != int(counts.sum()) or ((counts - 3) % 5 != 0).any() or (counts < 3).any():
        raise LineError("linkUsage line: every port entry needs 3 port values plus 5 per queue")
    nq = (counts - 3) // 5
    if (nq > max_queues).any():
        raise LineError(f"linkUsage line: a port lists more than {max_queues} queues")
    start = np.zeros(len(sub), dtype=np.int64)
    np.cumsum(counts[:-1], out=start[1:])
    port[:] = vals[start[:, None] + np.arange(3)]
    for q in range(int(nq.max())):
        m = nq > q
        queues[m, q, :] = vals[start[m, None] + 3 + 5 * q + np.arange(5)]
    return LinkUsage(np.array(idx, dtype=np.int64), port, queues)


def parse_stability(line: str) -> tuple[float, bool]:
    """``(sim_time, stable)`` of a ``stability.txt`` line.

    >>> parse_stability("30950;0.000922148;OK;Mem(KB):655020;Time(s):21")
    (30950.0, True)
    """
    fields = line.strip().split(";")
    if len(fields) < 3:
        raise LineError(f"stability line {line[:60]!r}: expected 'sim_time;error;OK|...;...'")
    try:
        t = float(fields[0])
    except ValueError:
        t = float("nan")
    return t, fields[2].strip() == "OK"
