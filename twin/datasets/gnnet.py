"""Reader for the GNNetworking-challenge datasets (2020, 2021 and 2022 layouts).

A dataset folder holds ``.tar.gz`` files, possibly nested in sub-folders to any
depth (``2022/validation/50/...``); beside each tarball sit ``graphs/``
(topologies, GML) and ``routings/`` (routing files). Each tarball holds one
directory of line-aligned result files (``simulationResults.txt``,
``traffic.txt``, ``stability.txt``, ``input_files.txt`` and, from 2021,
``linkUsage.txt``); line ``i`` of each is sample ``i``, and
``input_files.txt`` names the sample's topology and routing files. The
tarballs are streamed (``tarfile`` mode ``r|gz``: one pass, nothing written to
disk); topologies and routings are parsed once and cached.

Every sample becomes a :class:`~twin.scenario.Scenario` plus
:class:`~twin.kpis.Labels`, with the dataset's numbers unchanged: time in the
simulator's abstract time unit (``scenario.time_unit == "tu"``), capacities
and rates in bits per time unit, packet sizes in bits. Only (src, dst) pairs
that carry traffic become paths, in row-major (src, dst) order.

Labels: ``path_delay_s`` = mean per-packet delay (tu), ``path_jitter_s2`` =
variance of per-packet delay (tu²), ``path_loss_ratio`` = dropped / generated
packets; per link (from ``linkUsage.txt`` where present, else NaN):
``link_utilization`` (0..1), ``link_loss_ratio`` (0..1), and
``link_queue_pkts`` = the sum over the port's queues of
``avgPortOccupancy`` in packets (2022 gives it in bits; it is divided by the
queue's mean packet size), and ``link_queue_occupancy`` = the same as a ratio
of the port's buffer (:func:`twinwatch.twin.kpis.queue_occupancy_ratio`).

``Scenario.meta`` carries, per sample: ``file``, ``index``, ``sample_id``
(first field of ``input_files.txt``, the generator's own id, not the line),
``graph_file``, ``routing_file``, ``max_avg_lambda`` (bits/tu),
``global_packets``, ``global_losses`` (packets/tu), ``global_delay`` (tu),
``node_levels_qos`` ``(N,)``, ``node_queue_bits`` ``(N, Q)`` (2022 per-queue
buffers in bits, NaN otherwise), ``path_results`` ``(P, 11)`` (the raw
``simulationResults`` row of each path: AvgBw in *kbit*/tu, PktsGen, PktsDrop,
AvgDelay, AvgLnDelay, p10, p20, p50, p80, p90, Jitter) and, with
``linkUsage.txt``, ``link_queue_stats`` ``(E, Q, 5)`` (per queue utilization,
losses, avgPortOccupancy, maxQueueOccupancy, avgPacketSize, raw units: bits
for 2022 occupancies, packets before).

Parameters
----------
root
    A dataset folder (searched recursively) or a single ``.tar.gz``.
progress
    Print one line per tarball to stderr.

Reading a dataset (here the shared 2021 validation set)::

    for s in iter_samples("../shared/data/gnnet/2021/validation"):
        print(s.file, s.index, s.scenario.n_paths, s.labels.path_delay_s.mean())

Examples
--------
>>> iter_samples("/nonexistent/dataset").__next__()
Traceback (most recent call last):
...
twinwatch.twin.datasets.gnnet.DatasetError: dataset root '/nonexistent/dataset' does not exist; ...
"""

from __future__ import annotations

import os
import sys
import tarfile
import warnings
import zlib
from collections import OrderedDict
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

from twinwatch.twin.datasets._gnnet_gml import GMLError, GNNetGraph, parse_gml
from twinwatch.twin.datasets._gnnet_lines import (
    LineError,
    parse_link_usage,
    parse_results,
    parse_stability,
    parse_traffic,
)
from twinwatch.twin.datasets._gnnet_routing import Routing, RoutingError, read_routing
from twinwatch.twin.kpis import Labels, queue_occupancy_ratio
from twinwatch.twin.scenario import MAX_QUEUES, Scenario, ScenarioError, TimeDist

__all__ = ["DatasetError", "GNNetReader", "Sample", "find_tarballs", "iter_samples"]

_REQUIRED = ("simulationResults.txt", "traffic.txt", "stability.txt", "input_files.txt")
_OPTIONAL = ("linkUsage.txt",)
_T = TypeVar("_T")

_TIME_DIST = np.array(
    [TimeDist.POISSON, TimeDist.CBR, TimeDist.UNIFORM, TimeDist.NORMAL, TimeDist.ONOFF, TimeDist.PPBP], dtype=np.int8
)
"""Dataset time-distribution code (0 exp, 1 det, 2 uniform, 3 normal, 4 on-off, 5 PPBP) → :class:`TimeDist`."""

_CACHE_SIZE = 64


class DatasetError(ValueError):
    """A GNNet file is missing, corrupt or inconsistent.

    ``file`` is the tarball (relative to the dataset root, posix) and ``index``
    the 0-based sample line, or None when the error is not tied to one sample.
    """

    def __init__(self, message: str, *, file: str = "", index: int | None = None) -> None:
        where = file if index is None else f"{file}, sample {index}"
        super().__init__(f"{where}: {message}" if where else message)
        self.file = file
        self.index = index


@dataclass(frozen=True, slots=True)
class Sample:
    """One labelled GNNet sample.

    Attributes
    ----------
    file
        Tarball path relative to the dataset root (posix), e.g.
        ``"100/results_400-2000_14_14.tar.gz"``.
    index
        0-based line of the sample inside that tarball's result files.
    scenario
        Topology, routing and traffic (``time_unit == "tu"``).
    labels
        Path and link KPIs aligned with ``scenario``.
    sim_time
        Simulated time of the sample (tu) from ``stability.txt``, NaN if absent.
    """

    file: str
    index: int
    scenario: Scenario
    labels: Labels
    sim_time: float


def find_tarballs(root: str | os.PathLike[str]) -> list[Path]:
    """All ``.tar.gz`` files under ``root`` (any depth), sorted by relative posix path.

    ``root`` may itself be a tarball. A missing root raises :class:`DatasetError`.
    """
    r = Path(root)
    if r.is_file():
        return [r]
    if not r.is_dir():
        raise DatasetError(f"dataset root {str(r)!r} does not exist; pass the folder holding the .tar.gz files")
    found = [Path(d) / f for d, _, files in os.walk(r) for f in files if f.endswith(".tar.gz")]
    return sorted(found, key=lambda p: p.relative_to(r).as_posix())


class GNNetReader:
    """Iterate over every stable sample under a dataset root.

    Attributes
    ----------
    root
        The dataset folder (or single tarball) given.
    files
        ``list[Path]`` of the tarballs, in reading order.
    skipped_unstable
        Samples skipped so far because their ``stability.txt`` line is not OK.
    n_samples
        Samples yielded so far.
    """

    def __init__(self, root: str | os.PathLike[str], *, progress: bool = False) -> None:
        self.root = Path(root)
        self.progress = progress
        self.files: list[Path] = find_tarballs(self.root)
        self.skipped_unstable = 0
        self.n_samples = 0
        self._graphs: OrderedDict[Path, GNNetGraph] = OrderedDict()
        self._routings: OrderedDict[tuple[Path, Path], Routing] = OrderedDict()

    def __iter__(self) -> Iterator[Sample]:
        self.skipped_unstable = 0
        self.n_samples = 0
        for i, path in enumerate(self.files):
            if self.progress:
                print(f"[{i + 1}/{len(self.files)}] {self._rel(path)}", file=sys.stderr, flush=True)
            yield from self.read_tarball(path)

    # ------------------------------------------------------------------ files
    def _rel(self, path: Path) -> str:
        if self.root.is_file():
            return path.name
        return path.relative_to(self.root).as_posix()

    def _members(self, path: Path) -> dict[str, list[str]]:
        rel = self._rel(path)
        data: dict[str, bytes] = {}
        try:
            with tarfile.open(path, "r|gz") as tar:
                for m in tar:
                    base = m.name.rsplit("/", 1)[-1]
                    if m.isfile() and base in _REQUIRED + _OPTIONAL:
                        fobj = tar.extractfile(m)
                        if fobj is not None:
                            data[base] = fobj.read()
        except (tarfile.TarError, EOFError, zlib.error, OSError, TypeError) as exc:
            # TypeError: CPython's streaming gzip reader on a file cut inside the gzip header
            what = _not_a_tarball(path)
            if what:
                raise DatasetError(f"not a GNNet result file (.tar.gz): {what}", file=rel, index=0) from None
            raise DatasetError(
                f"cannot read the tarball ({type(exc).__name__}: {exc}); it is corrupt or truncated, "
                f"re-download it",
                file=rel,
                index=0,
            ) from None
        missing = [m for m in _REQUIRED if m not in data]
        if missing:
            raise DatasetError(f"the tarball has no {', '.join(missing)}", file=rel, index=0)
        out: dict[str, list[str]] = {}
        for name, raw in data.items():
            try:
                text = raw.decode("ascii")
            except UnicodeDecodeError as exc:
                raise DatasetError(f"{name} is not ASCII text (byte {exc.start})", file=rel, index=0) from exc
            lines = text.split("\n")
            while lines and not lines[-1].strip():
                lines.pop()
            out[name] = lines
        return out

    def _graph(self, path: Path, rel: str, index: int) -> GNNetGraph:
        return _cached_parse(self._graphs, path, path, "topology", lambda text: parse_gml(text, str(path)),
                             GMLError, rel, index)

    def _routing(self, path: Path, gpath: Path, g: GNNetGraph, rel: str, index: int) -> Routing:
        return _cached_parse(self._routings, (path, gpath), path, "routing",
                             lambda text: read_routing(text, g, str(path)), RoutingError, rel, index)

    # ---------------------------------------------------------------- samples
    def read_tarball(self, path: Path) -> Iterator[Sample]:
        """Yield the stable samples of one tarball, in line order."""
        rel = self._rel(path)
        base = path.parent
        files = self._members(path)
        n_lines = len(files["simulationResults.txt"])
        for name, lines in files.items():
            if len(lines) != n_lines:
                raise DatasetError(
                    f"{name} has {len(lines)} lines but simulationResults.txt has {n_lines}; the tarball is "
                    f"inconsistent",
                    file=rel,
                    index=min(len(lines), n_lines),
                )
        usage = files.get("linkUsage.txt")
        for i in range(n_lines):
            try:
                sim_time, stable = parse_stability(files["stability.txt"][i])
            except LineError as exc:
                raise DatasetError(f"stability.txt: {exc}", file=rel, index=i) from exc
            if not stable:
                self.skipped_unstable += 1
                continue
            inputs = files["input_files.txt"][i].strip().split(";")
            if len(inputs) < 3:
                raise DatasetError(
                    f"input_files.txt line {inputs!r}: expected 'index;graph_file;routing_file'", file=rel, index=i
                )
            gpath = base / "graphs" / inputs[1]
            g = self._graph(gpath, rel, i)
            if len(inputs) > 3 and inputs[3]:
                g = _with_link_bandwidths(g, base / "links_bw" / inputs[3], rel, i)
            routing = self._routing(base / "routings" / inputs[2], gpath, g, rel, i)
            try:
                with warnings.catch_warnings():
                    # a field NumPy cannot convert (NaN where an integer is due, overflow) is bad input, not noise
                    warnings.simplefilter("error", RuntimeWarning)
                    sample = _build(
                        g,
                        routing,
                        files["simulationResults.txt"][i],
                        files["traffic.txt"][i],
                        usage[i] if usage is not None else None,
                        name=f"{rel}#{i}",
                        meta={
                            "file": rel,
                            "index": i,
                            "sample_id": inputs[0],
                            "graph_file": inputs[1],
                            "routing_file": inputs[2],
                        },
                    )
            except (LineError, ScenarioError) as exc:
                raise DatasetError(str(exc), file=rel, index=i) from exc
            except RuntimeWarning as exc:
                raise DatasetError(f"a number in the result or traffic line is out of range or not finite ({exc})",
                                   file=rel, index=i) from None
            self.n_samples += 1
            yield Sample(file=rel, index=i, scenario=sample[0], labels=sample[1], sim_time=sim_time)



def _cached_parse(
    cache: OrderedDict[Any, _T],
    key: object,
    path: Path,
    kind: str,
    parse: Callable[[str], _T],
    parse_error: type[Exception],
    rel: str,
    index: int,
) -> _T:
    """Parse the ASCII file ``path`` once (LRU ``cache`` of :data:`_CACHE_SIZE` entries).

    Read and parse errors become a :class:`DatasetError` naming the ``kind`` of
    file, the tarball ``rel`` and the sample ``index``.
    """
    hit = cache.get(key)
    if hit is not None:
        cache.move_to_end(key)
        return hit
    try:
        text = path.read_text(encoding="ascii")
    except FileNotFoundError as exc:
        raise DatasetError(f"{kind} file {path} (named in input_files.txt) does not exist", file=rel,
                           index=index) from exc
    except (OSError, UnicodeDecodeError, ValueError) as exc:  # ValueError: a NUL byte in the file name
        raise DatasetError(f"cannot read {kind} file {path}: {exc}", file=rel, index=index) from exc
    try:
        value = parse(text)
    except parse_error as exc:
        raise DatasetError(str(exc), file=rel, index=index) from exc
    except (ValueError, OverflowError, IndexError, KeyError) as exc:  # what the parser did not anticipate
        raise DatasetError(f"{kind} file {path} is malformed ({type(exc).__name__}: {exc})", file=rel,
                           index=index) from None
    cache[key] = value
    if len(cache) > _CACHE_SIZE:
        cache.popitem(last=False)
    return value


_MAGIC: tuple[tuple[bytes, str], ...] = (
    (b"PK\x03\x04", "a zip archive (a twinwatch .npz sample?)"),
    (b"\x93NUMPY", "a NumPy .npy file"),
    (b"BZh", "a bzip2 file"),
    (b"\xfd7zXZ", "an xz file"),
    (b"%PDF", "a PDF document"),
    (b"\x89PNG", "a PNG image"),
)


def _not_a_tarball(path: Path) -> str:
    """What ``path`` is when it is plainly not a gzip-compressed tar archive; ``""`` when it may be one.

    A gzip file that is not a tar, or is truncated, is left to the caller's "corrupt or truncated" message.
    """
    try:
        with open(path, "rb") as fh:
            head = fh.read(512)
    except OSError as exc:
        return f"it cannot be read ({exc.strerror or exc})"
    if not head:
        return "the file is empty"
    if head[:2] == b"\x1f\x8b":
        return ""
    for magic, what in _MAGIC:
        if head.startswith(magic):
            return f"it is {what}"
    if len(head) >= 262 and head[257:262] == b"ustar":
        return "it is an uncompressed tar archive (GNNet results are .tar.gz); compress it with gzip"
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError:
        return f"it is binary data starting with {head[:8].hex(' ')} (a .tar.gz starts with 1f 8b)"
    first = text.lstrip()[:1]
    kind = "JSON" if first in "{[" and first else "YAML or plain text"
    return f"it is a text file ({kind}?), not a gzip-compressed tar archive"


def iter_samples(root: str | os.PathLike[str], *, progress: bool = False) -> Iterator[Sample]:
    """All stable samples under ``root`` (nested folders to any depth), sorted by file then index.

    Unstable samples are skipped; use :class:`GNNetReader` to read the count.
    """
    yield from GNNetReader(root, progress=progress)


def _with_link_bandwidths(g: GNNetGraph, path: Path, rel: str, index: int) -> GNNetGraph:
    """Copy of ``g`` with capacities overridden by a ``links_bw`` file (``src;dst;bw`` lines)."""
    try:
        rows = [ln.split(";") for ln in path.read_text(encoding="ascii").splitlines() if ln.strip()]
        cap = g.link_capacity.copy()
        for row in rows:
            lid = int(g.link_of[int(row[0]), int(row[1])])
            if lid < 0:
                raise DatasetError(f"{path}: link {row[0]}->{row[1]} is not in the topology", file=rel, index=index)
            cap[lid] = float(row[2])
    except FileNotFoundError as exc:
        raise DatasetError(f"link bandwidth file {path} does not exist", file=rel, index=index) from exc
    except (ValueError, IndexError) as exc:
        if isinstance(exc, DatasetError):
            raise
        raise DatasetError(f"{path}: expected 'src;dst;bandwidth' lines ({exc})", file=rel, index=index) from exc
    fields = {k: getattr(g, k) for k in g.__slots__}
    fields["link_capacity"] = cap
    return GNNetGraph(**fields)


def _build(
    g: GNNetGraph,
    routing: Routing,
    results_line: str,
    traffic_line: str,
    usage_line: str | None,
    *,
    name: str,
    meta: dict[str, object],
) -> tuple[Scenario, Labels]:
    """Scenario and labels of one sample from its parsed topology/routing and raw lines."""
    n = g.n_nodes
    res = parse_results(results_line, n)
    tr = parse_traffic(traffic_line, n)
    path_pair, flow_path = np.unique(tr.pair, return_inverse=True)
    rid = routing.pair_path[path_pair]
    if (rid < 0).any():
        k = int(path_pair[np.flatnonzero(rid < 0)[0]])
        raise LineError(f"traffic.txt has a flow {k // n}->{k % n} but the routing file has no path for it")
    ptr, links = routing.select(rid)
    if ((tr.tos < 0) | (tr.tos >= MAX_QUEUES)).any():
        raise LineError(f"traffic.txt: a flow has ToS outside 0..{MAX_QUEUES - 1}")
    pkt_rate = np.where(tr.avg_size > 0, tr.eq_lambda / np.where(tr.avg_size > 0, tr.avg_size, 1.0), 0.0)
    meta = dict(meta)
    meta.update(
        node_levels_qos=g.levels_qos,
        node_queue_bits=g.queue_bits,
        max_avg_lambda=tr.max_avg_lambda,
        global_packets=res.global_packets,
        global_losses=res.global_losses,
        global_delay=res.global_delay,
    )
    rt = res.table[path_pair]
    meta["path_results"] = rt
    e = g.link_src.shape[0]
    sc = Scenario(
        n_nodes=n,
        node_policy=g.policy,
        node_weights=g.weights,
        node_queue_pkts=g.queue_pkts,
        node_buffer_bits=g.queue_bits[:, 0].copy(),
        link_src=g.link_src,
        link_dst=g.link_dst,
        link_capacity_bps=g.link_capacity,
        link_prop_delay_s=np.zeros(e),
        path_src=path_pair // n,
        path_dst=path_pair % n,
        path_ptr=ptr,
        path_links=links,
        flow_path=flow_path.astype(np.int64),
        flow_rate_bps=tr.eq_lambda,
        flow_pkt_rate=pkt_rate,
        flow_time_dist=_TIME_DIST[tr.time_dist],
        flow_on_s=tr.on_time,
        flow_off_s=tr.off_time,
        flow_size_dist=tr.size_dist.astype(np.int8),
        flow_sizes_bits=tr.sizes,
        flow_size_probs=tr.probs,
        flow_tos=tr.tos.astype(np.int8),
        name=name,
        time_unit="tu",
        meta=meta,
    )
    gen, drop, delay, jitter = rt[:, 1], rt[:, 2], rt[:, 3], rt[:, 10]
    p = sc.n_paths
    labels = Labels(*(np.full(k, np.nan) for k in (p, p, p, e, e, e)))
    labels.path_delay_s[:] = np.where(delay >= 0, delay, np.nan)
    labels.path_jitter_s2[:] = np.where((jitter >= 0) & (delay >= 0), jitter, np.nan)
    labels.path_loss_ratio[:] = np.where(gen > 0, drop / np.where(gen > 0, gen, 1.0), np.nan)
    if usage_line is not None:
        _fill_link_labels(g, usage_line, labels, meta)
        labels.link_queue_occupancy[:] = queue_occupancy_ratio(sc, labels.link_queue_pkts)
    return sc, labels


def _fill_link_labels(g: GNNetGraph, line: str, labels: Labels, meta: dict[str, object]) -> None:
    """Link KPIs from a ``linkUsage.txt`` line (occupancy converted to packets)."""
    n = g.n_nodes
    lu = parse_link_usage(line, n, MAX_QUEUES)
    lid = g.link_of.ravel()[lu.pair]
    if (lid < 0).any():
        k = int(lu.pair[np.flatnonzero(lid < 0)[0]])
        raise LineError(f"linkUsage.txt has port statistics for {k // n}->{k % n}, which is not a link")
    labels.link_utilization[lid] = lu.port[:, 0]
    labels.link_loss_ratio[lid] = lu.port[:, 1]
    occ = lu.queues[:, :, 2].copy()
    in_bits = ~np.isnan(g.queue_bits[g.link_src[lid], 0])
    size = lu.queues[:, :, 4]
    conv = np.where(size > 0, occ / np.where(size > 0, size, 1.0), 0.0)
    occ[in_bits] = np.where(np.isnan(occ[in_bits]), np.nan, conv[in_bits])
    has_q = ~np.isnan(occ).all(axis=1)
    total = np.nansum(occ, axis=1)
    labels.link_queue_pkts[lid] = np.where(has_q, total, np.nan)
    stats = np.full((g.link_src.shape[0], MAX_QUEUES, 5), np.nan)
    stats[lid] = lu.queues
    # (E, Q, 5): per queue utilization, losses, avgPortOccupancy, maxQueueOccupancy, avgPacketSize (raw units)
    meta["link_queue_stats"] = stats
