"""twinwatch's own labelled-sample format (written by ``twinwatch simulate dataset``).

Layout of a dataset folder::

    DIR/manifest.json              what made it: format, generator version, git revision,
                                   seed, topology, scenario parameters, simulator settings
    DIR/samples/sample_000000.npz  one sample per file
    DIR/samples/sample_000001.npz
    ...

Each ``.npz`` (zip of ``.npy`` arrays, readable with
``np.load(path, allow_pickle=False)``; nothing is pickled) holds:

- ``scenario.<field>`` for every array field of :class:`~twin.scenario.Scenario`;
- ``labels.<field>`` for every field of :class:`~twin.kpis.Labels`;
- ``sim.<name>`` simulator extras: ``path_delay_ci`` ``(P,)`` (95 % CI half-width
  of mean delay), ``path_delay_percentiles`` ``(P, 5)``, ``path_delay_rse``
  ``(P,)``, ``path_packets`` ``(P,)``, ``link_drops`` ``(E,)``;
- ``meta_json``: ``uint8`` UTF-8 JSON with the scenario's ``n_nodes``,
  ``name``, ``time_unit`` and ``meta``, the sample number and seed, and the run's
  counters (``packets_generated``, ``packet_hops``, ``sim_time``,
  ``wall_time_s``, ``converged``).

Files are written to a temporary name and renamed, so a file that exists is
complete; a generator that is stopped resumes by skipping them.

Examples
--------
>>> import tempfile
>>> from twinwatch.twin.scenario import Flow, Scenario
>>> from twinwatch.twin.kpis import Labels
>>> sc = Scenario.build(2, [(0, 1, 1e6), (1, 0, 1e6)], {(0, 1): [0, 1]}, [Flow(0, 1, 1e5)])
>>> lab = Labels.empty(n_paths=1, n_links=2); lab.path_delay_s[:] = 0.0091
>>> root = Path(tempfile.mkdtemp())
>>> _ = write_manifest(root, {"seed": 1})
>>> _ = write_sample(root, 0, sc, lab, meta={"seed": 5, "sim_time": 12.5})
>>> is_native_dataset(root), [s.file for s in iter_native_samples(root)]
(True, ['samples/sample_000000.npz'])
>>> s = next(iter_native_samples(root))
>>> s.scenario.n_links, float(s.labels.path_delay_s[0]), s.sim_time
(2, 0.0091, 12.5)
"""

from __future__ import annotations

import io
import json
import math
import os
import time
import zipfile
import zlib
from collections.abc import Iterator, Mapping
from dataclasses import MISSING, fields
from pathlib import Path
from typing import Any

import numpy as np
from numpy.lib import format as npformat

from twinwatch.twin.datasets.gnnet import DatasetError, Sample
from twinwatch.twin.kpis import Labels
from twinwatch.twin.provenance import git_revision
from twinwatch.twin.scenario import Scenario

__all__ = [
    "FORMAT",
    "FORMAT_VERSION",
    "MANIFEST",
    "MissingSamplesError",
    "is_native_dataset",
    "iter_native_samples",
    "read_extras",
    "read_manifest",
    "read_sample",
    "sample_path",
    "write_manifest",
    "write_sample",
]

FORMAT = "twinwatch-native"
FORMAT_VERSION = 1
MANIFEST = "manifest.json"
MAX_SAMPLES = 10**9
"""Most samples a dataset manifest may declare (``n_samples``)."""
SAMPLES_DIR = "samples"

_SCALAR_FIELDS = ("n_nodes", "name", "time_unit", "meta")
_SC_ARRAYS = tuple(f.name for f in fields(Scenario) if f.name not in _SCALAR_FIELDS)
_LB_ARRAYS = tuple(f.name for f in fields(Labels))
_LB_REQUIRED = tuple(f.name for f in fields(Labels) if f.default is MISSING)


class MissingSamplesError(DatasetError):
    """Sample files that the manifest's ``n_samples`` promises are not there.

    Raised by :func:`iter_native_samples` *after* it yielded every sample that
    is there, so a caller can report a partial success; ``missing`` lists the
    absent files and ``n_read`` counts the samples read.
    """

    def __init__(self, missing: list[Path], *, n_read: int, n_missing: int | None = None) -> None:
        self.missing = list(missing)
        self.n_missing = len(self.missing) if n_missing is None else n_missing
        self.n_read = n_read
        shown = ", ".join(str(p) for p in self.missing[:3]) + (", ..." if self.n_missing > 3 else "")
        super().__init__(
            f"{self.n_missing} sample file(s) listed by the manifest are missing ({shown}); {n_read} were read. "
            "An interrupted run resumes when the same `twinwatch simulate dataset` command is run again"
        )


def sample_path(root: str | os.PathLike[str], index: int) -> Path:
    """Where sample ``index`` lives: ``root/samples/sample_{index:06d}.npz``."""
    return Path(root) / SAMPLES_DIR / f"sample_{index:06d}.npz"


def _json_default(o: object) -> object:
    if isinstance(o, np.generic):
        return o.item()
    if isinstance(o, np.ndarray):
        return o.tolist()
    if isinstance(o, Path):
        return str(o)
    raise TypeError(f"not JSON-serialisable: {type(o).__name__}")


def _atomic_write(path: Path, write: object) -> None:
    """Write via ``write(fileobj)`` to a temporary sibling, then rename over ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        with open(tmp, "wb") as fh:
            write(fh)  # type: ignore[operator]
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def write_manifest(root: str | os.PathLike[str], info: Mapping[str, object]) -> Path:
    """Write ``root/manifest.json`` (atomically) with ``info`` plus format fields."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        gen = f"twinwatch {version('twinwatch')}"
    except PackageNotFoundError:
        gen = "twinwatch (source tree)"
    doc = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "generator": gen,
        "git_revision": git_revision(),
        "created_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "samples_dir": SAMPLES_DIR,
        **info,
    }
    path = Path(root) / MANIFEST
    data = json.dumps(doc, indent=2, default=_json_default).encode()
    _atomic_write(path, lambda fh: fh.write(data))
    return path


def _parse_manifest(path: Path) -> object:
    """The JSON value of a manifest file; :class:`DatasetError` "invalid manifest: <why>" when it is not JSON."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise DatasetError(f"{path}: cannot read the manifest ({exc.strerror or exc})") from None
    try:
        return json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise DatasetError(f"{path}: invalid manifest: not UTF-8 text (byte {exc.start})") from None
    except ValueError as exc:
        raise DatasetError(f"{path}: invalid manifest: {exc}") from None
    except RecursionError:
        raise DatasetError(f"{path}: invalid manifest: JSON nested too deeply") from None


def read_manifest(root: str | os.PathLike[str]) -> dict[str, object]:
    """The manifest of a native dataset; :class:`DatasetError` if it is missing, invalid or not one.

    Checked: ``format`` is :data:`FORMAT`, ``format_version`` an integer this
    reader knows, ``n_samples`` (when present) an integer 0..:data:`MAX_SAMPLES`.
    """
    path = Path(root) / MANIFEST
    if not path.is_file():
        raise DatasetError(f"{path}: no manifest; is this a twinwatch-generated dataset?")
    doc = _parse_manifest(path)
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        raise DatasetError(f"{path}: format is not {FORMAT!r}; is this a twinwatch-generated dataset?")
    version = doc.get("format_version", 0)
    if isinstance(version, bool) or not isinstance(version, int):
        raise DatasetError(f"{path}: invalid manifest: format_version must be an integer, got {version!r}")
    if version > FORMAT_VERSION:
        raise DatasetError(
            f"{path}: format_version {version} is newer than this twinwatch reads ({FORMAT_VERSION}); upgrade twinwatch"
        )
    n = doc.get("n_samples")
    if n is not None and (isinstance(n, bool) or not isinstance(n, int) or not 0 <= n <= MAX_SAMPLES):
        raise DatasetError(f"{path}: invalid manifest: n_samples must be an integer 0..{MAX_SAMPLES}, got {n!r}")
    return doc


def is_native_dataset(path: str | os.PathLike[str]) -> bool:
    """True when ``path`` (or a folder below it) holds a twinwatch native dataset."""
    return bool(_dataset_roots(Path(path)))


def _dataset_roots(path: Path) -> list[Path]:
    if not path.is_dir():
        return []
    cands = [path / MANIFEST] if (path / MANIFEST).is_file() else sorted(path.rglob(MANIFEST))
    roots = []
    for m in cands:
        doc = _parse_manifest(m)  # a broken manifest is an error, not "no manifest"
        if isinstance(doc, dict) and doc.get("format") == FORMAT:
            roots.append(m.parent)
    return roots


def write_sample(
    root: str | os.PathLike[str],
    index: int,
    scenario: Scenario,
    labels: Labels,
    *,
    extras: Mapping[str, np.ndarray] | None = None,
    meta: Mapping[str, object] | None = None,
) -> Path:
    """Write sample ``index`` atomically; returns its path."""
    arrays: dict[str, np.ndarray] = {}
    for name in _SC_ARRAYS:
        arrays[f"scenario.{name}"] = np.ascontiguousarray(getattr(scenario, name))
    for name in _LB_ARRAYS:
        arrays[f"labels.{name}"] = np.asarray(getattr(labels, name), dtype=np.float64)
    for name, arr in (extras or {}).items():
        arrays[f"sim.{name}"] = np.asarray(arr)
    doc = {
        "n_nodes": scenario.n_nodes,
        "name": scenario.name,
        "time_unit": scenario.time_unit,
        "scenario_meta": dict(scenario.meta),
        "index": index,
        **dict(meta or {}),
    }
    arrays["meta_json"] = np.frombuffer(json.dumps(doc, default=_json_default).encode(), dtype=np.uint8)
    path = sample_path(root, index)
    _atomic_write(path, lambda fh: np.savez_compressed(fh, **arrays))
    return path


_NPY_HEADERS: dict[tuple[int, bytes], tuple[tuple[int, ...], bool, np.dtype[Any]]] = {}
"""``(format major version, header bytes)`` → NumPy's reading of that header (shape, Fortran order,
dtype); only headers NumPy read successfully, of arrays without objects. Bounded: a sample file has
~36 members whose headers repeat from file to file."""
_NPY_HEADERS_MAX = 4096


def _read_npz(path: Path) -> dict[str, Any]:
    """The members of an ``.npz`` exactly as ``np.load(path, allow_pickle=False)`` gives them, faster.

    NumPy parses every member's ``.npy`` header with :func:`ast.literal_eval` (≈ 20 % of reading a
    sample). Here each member is read whole from the zip (its CRC checked) and a header already
    seen (:data:`_NPY_HEADERS`) is not parsed again; a header not seen before, and anything unusual
    (format 3, zero-size items, short data), goes through :func:`numpy.lib.format.read_array` itself,
    so every check and every error message are NumPy's. A member without the ``.npy`` magic is
    returned as bytes, as ``NpzFile`` does.
    """
    with np.load(path, allow_pickle=False) as z:
        names = z.zip.namelist()
        members = dict(zip(z.files, names, strict=True))  # what NpzFile.__getitem__ maps keys to
        return {key: _npy_member(z.zip.read(members[key])) for key in z.files}


def _npy_member(data: bytes) -> Any:
    """One ``.npy`` member's array (``bytes`` when it has no ``.npy`` magic); see :func:`_read_npz`."""
    if data[:6] != b"\x93NUMPY":
        return data
    major = data[6]
    start = 10 if major == 1 else 12
    hlen = int.from_bytes(data[8:start], "little")
    key = (major, data[start : start + hlen])
    parsed = _NPY_HEADERS.get(key) if major in (1, 2) and data[7] == 0 else None
    if parsed is not None:
        shape, fortran, dtype = parsed
        count = math.prod(shape)
        body = memoryview(data)[start + hlen :]
        if count > 0 and dtype.itemsize > 0 and len(body) >= count * dtype.itemsize:
            arr = np.frombuffer(body, dtype=dtype, count=count).copy()
            return arr.reshape(shape[::-1]).transpose() if fortran else arr.reshape(shape)
    arr = npformat.read_array(io.BytesIO(data), allow_pickle=False)  # NumPy's checks and errors
    if parsed is None and major in (1, 2) and data[7] == 0 and len(_NPY_HEADERS) < _NPY_HEADERS_MAX:
        read_header = npformat.read_array_header_1_0 if major == 1 else npformat.read_array_header_2_0
        _NPY_HEADERS[key] = read_header(io.BytesIO(data[8:]))
    return arr


def _load(path: Path) -> tuple[dict[str, np.ndarray], dict[str, object]]:
    """The arrays and the decoded ``meta_json`` of one sample file; :class:`DatasetError` when it is not one."""
    try:
        is_zip = zipfile.is_zipfile(path)
        with open(path, "rb") as fh:
            head = fh.read(4)
    except OSError as exc:
        raise DatasetError(f"{path}: cannot read the sample file ({exc.strerror or exc})") from None
    if not is_zip and head == b"PK\x03\x04":
        raise DatasetError(f"{path}: corrupt sample file (a truncated zip archive); delete it and re-run the generator")
    if not is_zip:
        raise DatasetError(f"{path}: not a twinwatch sample (not a NumPy .npz archive: no zip structure); delete it "
                           "and re-run the generator")
    try:
        arrays = _read_npz(path)
    except ValueError as exc:
        why = ("it holds object (pickled) arrays, which twinwatch never reads" if "pickle" in str(exc)
               else str(exc).splitlines()[0] if str(exc) else type(exc).__name__)
        raise DatasetError(f"{path}: corrupt sample file ({why}); delete it and re-run the generator") from None
    except (OSError, zipfile.BadZipFile, EOFError, KeyError, NotImplementedError, RuntimeError, zlib.error) as exc:
        raise DatasetError(f"{path}: corrupt sample file ({type(exc).__name__}: {exc}); delete it and re-run the "
                           "generator") from None
    raw = arrays.pop("meta_json", None)
    if raw is None:
        raise DatasetError(f"{path}: no meta_json entry; not a twinwatch sample")
    try:
        meta = json.loads(raw.tobytes().decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise DatasetError(f"{path}: meta_json is not UTF-8 JSON ({exc})") from None
    if not isinstance(meta, dict):
        raise DatasetError(f"{path}: meta_json must be a JSON object, got {type(meta).__name__}")
    return arrays, meta


_INT_FIELDS = frozenset(f.name for f in fields(Scenario) if f.name.startswith(("path_", "link_src", "link_dst"))
                        and f.name not in ("link_capacity_bps", "link_prop_delay_s")) | {
    "node_policy", "flow_path", "flow_time_dist", "flow_size_dist", "flow_tos"}


def _check_dtypes(path: Path, arrays: Mapping[str, np.ndarray]) -> None:
    """Refuse arrays of the wrong kind before NumPy casts them (NaN to int, complex to float) with a warning."""
    for key, arr in arrays.items():
        name = key.partition(".")[2]
        if key.startswith("scenario.") and name in _INT_FIELDS:
            ok = arr.dtype.kind in "iu"
            want = "integer"
        elif key.startswith(("scenario.", "labels.")):
            ok = arr.dtype.kind in "fiu"
            want = "real number"
        else:
            continue
        if not ok:
            raise DatasetError(f"{path}: {key} must be an array of {want}s, got dtype {arr.dtype}")
        if arr.dtype.kind == "u" and arr.size and int(arr.max()) > np.iinfo(np.int64).max:
            raise DatasetError(f"{path}: {key} holds a value too large for an index")


def read_sample(path: str | os.PathLike[str], root: str | os.PathLike[str] | None = None) -> Sample:
    """One sample file as a :class:`~twin.datasets.gnnet.Sample`.

    ``Sample.file`` is the path relative to ``root`` (default: the file's
    dataset folder), ``index`` is 0 (one sample per file), ``sim_time`` the
    simulated time of the run (scenario time units).
    """
    path = Path(path)
    arrays, meta = _load(path)
    _check_dtypes(path, arrays)
    try:
        sc = Scenario(
            n_nodes=int(meta["n_nodes"]),  # type: ignore[call-overload]
            name=str(meta.get("name", "")),
            time_unit=str(meta.get("time_unit", "s")),
            meta=dict(meta.get("scenario_meta", {})),  # type: ignore[call-overload]
            **{name: arrays[f"scenario.{name}"] for name in _SC_ARRAYS},
        )
        labels = Labels(**{name: np.asarray(arrays[f"labels.{name}"], dtype=np.float64)
                           for name in _LB_ARRAYS if f"labels.{name}" in arrays or name in _LB_REQUIRED})
        bad = [name for name in _LB_ARRAYS
               if np.shape(getattr(labels, name)) != ((sc.n_paths,) if name.startswith("path_") else (sc.n_links,))]
        if bad:
            raise ValueError(f"labels {bad} do not match the scenario's {sc.n_paths} paths / {sc.n_links} links")
    except KeyError as exc:
        raise DatasetError(f"{path}: incomplete sample (no {exc.args[0]!r} entry)") from None
    except (ValueError, TypeError, IndexError, OverflowError) as exc:
        raise DatasetError(f"{path}: inconsistent sample ({str(exc).splitlines()[0] if str(exc) else exc!r})") from None
    base = Path(root) if root is not None else path.parent.parent
    try:
        rel = path.relative_to(base).as_posix()
    except ValueError:
        rel = path.as_posix()
    sim_time = meta.get("sim_time")
    if sim_time is not None and (isinstance(sim_time, bool) or not isinstance(sim_time, (int, float))):
        raise DatasetError(f"{path}: meta_json sim_time must be a number, got {sim_time!r}")
    return Sample(file=rel, index=0, scenario=sc, labels=labels,
                  sim_time=float(sim_time) if sim_time is not None else float("nan"))


def read_extras(path: str | os.PathLike[str]) -> tuple[dict[str, np.ndarray], dict[str, object]]:
    """The simulator extras (``sim.*`` arrays, keys without the prefix) and the JSON metadata of a sample."""
    arrays, meta = _load(Path(path))
    return {k[4:]: v for k, v in arrays.items() if k.startswith("sim.")}, meta


def iter_native_samples(root: str | os.PathLike[str], *, progress: bool = False) -> Iterator[Sample]:
    """All complete samples of the native dataset(s) at or below ``root``, sorted by file.

    ``Sample.file`` is relative to ``root``. Raises :class:`DatasetError` when
    there is no native dataset there.
    """
    root = Path(root)
    roots = _dataset_roots(root)
    if not roots:
        raise DatasetError(f"{root}: no {MANIFEST} of a twinwatch dataset here or below")
    files: list[Path] = []
    missing: list[Path] = []
    n_missing = 0
    for r in roots:
        n = read_manifest(r).get("n_samples")
        have = sorted((r / SAMPLES_DIR).glob("sample_*.npz"))
        files.extend(have)
        if isinstance(n, int):
            present = {int(f.name[7:-4]) for f in have if f.name[7:-4].isdigit()}
            lost = n - sum(1 for i in present if i < n)  # arithmetic: n may be large
            n_missing += lost
            i = 0
            while lost > 0 and len(missing) < 20:  # name the first few; ends within len(present) + 20 steps
                if i not in present:
                    missing.append(sample_path(r, i))
                    lost -= 1
                i += 1
    if progress:
        from rich.progress import track

        files = list(track(files, description=f"reading {root}"))
    for f in files:
        yield read_sample(f, root)
    if n_missing:
        raise MissingSamplesError(missing, n_read=len(files), n_missing=n_missing)
