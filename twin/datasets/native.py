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
>>> from twin.scenario import Flow, Scenario
>>> from twin.kpis import Labels
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

import json
import os
import subprocess
import time
import zipfile
from collections.abc import Iterator, Mapping
from dataclasses import fields
from pathlib import Path

import numpy as np

from twin.datasets.gnnet import DatasetError, Sample
from twin.kpis import Labels
from twin.scenario import Scenario

__all__ = [
    "FORMAT",
    "FORMAT_VERSION",
    "MANIFEST",
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
SAMPLES_DIR = "samples"

_SCALAR_FIELDS = ("n_nodes", "name", "time_unit", "meta")
_SC_ARRAYS = tuple(f.name for f in fields(Scenario) if f.name not in _SCALAR_FIELDS)
_LB_ARRAYS = tuple(f.name for f in fields(Labels))


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


def git_revision(cwd: str | os.PathLike[str] | None = None) -> str | None:
    """``git rev-parse HEAD`` of the source tree (``+dirty`` when modified), or None outside git."""
    here = Path(cwd) if cwd is not None else Path(__file__).resolve().parent
    try:
        rev = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=here, capture_output=True, text=True, timeout=10, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"], cwd=here, capture_output=True, text=True,
            timeout=10, check=True,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return rev + ("+dirty" if dirty else "")


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


def read_manifest(root: str | os.PathLike[str]) -> dict[str, object]:
    """The manifest of a native dataset; :class:`DatasetError` if it is not one."""
    path = Path(root) / MANIFEST
    try:
        doc = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise DatasetError(f"{path}: not a readable twinwatch dataset manifest ({exc})") from exc
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        raise DatasetError(f"{path}: format is not {FORMAT!r}; is this a twinwatch-generated dataset?")
    if int(doc.get("format_version", 0)) > FORMAT_VERSION:
        raise DatasetError(
            f"{path}: format_version {doc['format_version']} is newer than this twinwatch reads "
            f"({FORMAT_VERSION}); upgrade twinwatch"
        )
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
        try:
            doc = json.loads(m.read_text())
        except (OSError, ValueError):
            continue
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


def _load(path: Path) -> tuple[dict[str, np.ndarray], dict[str, object]]:
    try:
        with np.load(path, allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as exc:
        raise DatasetError(f"{path}: corrupt sample file ({exc}); delete it and re-run the generator") from exc
    if "meta_json" not in arrays:
        raise DatasetError(f"{path}: no meta_json entry; not a twinwatch sample")
    meta = json.loads(arrays.pop("meta_json").tobytes().decode())
    return arrays, meta


def read_sample(path: str | os.PathLike[str], root: str | os.PathLike[str] | None = None) -> Sample:
    """One sample file as a :class:`~twin.datasets.gnnet.Sample`.

    ``Sample.file`` is the path relative to ``root`` (default: the file's
    dataset folder), ``index`` is 0 (one sample per file), ``sim_time`` the
    simulated time of the run (scenario time units).
    """
    path = Path(path)
    arrays, meta = _load(path)
    try:
        sc = Scenario(
            n_nodes=int(meta["n_nodes"]),  # type: ignore[call-overload]
            name=str(meta.get("name", "")),
            time_unit=str(meta.get("time_unit", "s")),
            meta=dict(meta.get("scenario_meta", {})),  # type: ignore[call-overload]
            **{name: arrays[f"scenario.{name}"] for name in _SC_ARRAYS},
        )
        labels = Labels(**{name: arrays[f"labels.{name}"] for name in _LB_ARRAYS})
    except (KeyError, ValueError) as exc:
        raise DatasetError(f"{path}: incomplete or inconsistent sample ({exc})") from exc
    base = Path(root) if root is not None else path.parent.parent
    try:
        rel = path.relative_to(base).as_posix()
    except ValueError:
        rel = path.as_posix()
    sim_time = meta.get("sim_time")
    return Sample(file=rel, index=0, scenario=sc, labels=labels,
                  sim_time=float(sim_time) if sim_time is not None else float("nan"))  # type: ignore[arg-type]


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
    for r in roots:
        read_manifest(r)
        files.extend(sorted((r / SAMPLES_DIR).glob("sample_*.npz")))
    if not progress:
        for f in files:
            yield read_sample(f, root)
        return
    from rich.progress import track

    yield from (read_sample(f, root) for f in track(files, description=f"reading {root}"))
