"""Generate a labelled dataset: draw scenarios, simulate them, write native samples.

:func:`generate_dataset` is what ``twinwatch simulate dataset`` runs. Sample
``i`` is a pure function of (seed, i, topology spec, scenario parameters,
simulator settings): its random streams come from
``SeedSequence(seed, spawn_key=(i, ·))``, so any subset of samples can be
(re)made in any order, by any number of worker processes, with identical
results. Finished samples are skipped, so an interrupted run resumes where it
stopped (files are written atomically; see :mod:`twinwatch.twin.datasets.native`).

Workers are ``multiprocessing`` processes started with ``spawn`` (safe with
numba and threads); each simulates whole samples.

Examples
--------
>>> import tempfile
>>> out = Path(tempfile.mkdtemp()) / "ds"
>>> spec = TopologySpec(kind="random", nodes=(5, 6))
>>> st = generate_dataset(out, n_samples=2, topology=spec, sim=SimConfig(min_packets=2000, max_packets=5000),
...                       seed=1, workers=1, progress=False)
>>> st.made, st.skipped, sorted(p.name for p in (out / "samples").iterdir())
(2, 0, ['sample_000000.npz', 'sample_000001.npz'])
>>> generate_dataset(out, n_samples=2, topology=spec, sim=SimConfig(min_packets=2000, max_packets=5000),
...                  seed=1, workers=1, progress=False).skipped
2
"""

from __future__ import annotations

import functools
import hashlib
import math
import multiprocessing as mp
import os
import time
import warnings
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from twinwatch.twin.datasets.gnnet import DatasetError
from twinwatch.twin.datasets.native import (
    MANIFEST,
    SAMPLES_DIR,
    read_manifest,
    sample_path,
    write_manifest,
    write_sample,
)
from twinwatch.twin.scenario import Scenario
from twinwatch.twin.sim.engine import SimConfig, simulate
from twinwatch.twin.sim.recipe import OperatedRecipe, draw_operated, simulate_operated
from twinwatch.twin.sim.scenarios import ScenarioParams, draw_scenario, load_matrix
from twinwatch.twin.topology import Topology, load_topology, random_topology

__all__ = ["GenerateStats", "TopologySpec", "dataset_summary", "generate_dataset", "make_sample_scenario"]

GENERATOR_VERSION = 1
"""Bumped when the same (seed, settings) would draw different scenarios."""


MAX_AREA_KM = 20_000.0
"""Largest side (km) of the square random topologies are placed in (half the Earth's circumference)."""


@dataclass(frozen=True, slots=True)
class TopologySpec:
    """Which topology each sample gets.

    Parameters
    ----------
    kind
        ``"zoo"`` (one fixed topology, ``name``), ``"set"`` (sample ``i``
        gets ``names[i % len(names)]``) or ``"random"`` (a fresh connected
        random graph per sample).
    name
        Shipped topology name, Topology Zoo name (looked up in ``zoo_dir``) or
        ``.graphml`` path (``kind="zoo"``).
    zoo_dir
        Folder of Topology Zoo ``.graphml`` files for name lookups.
    names
        Topology names or ``.graphml`` paths (``kind="set"``), resolved like ``name``.
    nodes
        Inclusive range of node counts (``kind="random"``).
    degree
        Range of the mean node degree (uniform).
    capacities_bps
        Link capacities to choose from (random topologies).
    area_km
        Side of the square random nodes are placed in; 0 = no propagation delay.
    """

    kind: str = "random"
    name: str | None = None
    zoo_dir: str | None = None
    names: tuple[str, ...] = ()
    nodes: tuple[int, int] = (10, 30)
    degree: tuple[float, float] = (2.5, 4.0)
    capacities_bps: tuple[float, ...] = (10e6, 25e6, 40e6, 100e6)
    area_km: float = 0.0

    def __post_init__(self) -> None:
        if self.kind not in ("zoo", "set", "random"):
            raise ValueError(f"topology kind {self.kind!r}: expected 'zoo', 'set' or 'random'")
        if self.kind == "zoo" and not self.name:
            raise ValueError("a zoo topology needs a name or a .graphml path")
        if self.kind == "set" and not self.names:
            raise ValueError("a topology set needs at least one name or .graphml path")
        if self.kind == "random" and not (2 <= self.nodes[0] <= self.nodes[1]):
            raise ValueError(f"random topology nodes {self.nodes}: expected 2 <= lo <= hi")
        if self.kind == "random" and not (0 < self.degree[0] <= self.degree[1]):
            raise ValueError(f"random topology degree {self.degree}: expected 0 < lo <= hi")
        if not (math.isfinite(self.area_km) and 0.0 <= self.area_km <= MAX_AREA_KM):
            raise ValueError(f"random topology area_km {self.area_km!r}: expected 0..{MAX_AREA_KM:g} km")
        if not self.capacities_bps or not all(math.isfinite(c) and 1.0 <= c <= 1e15 for c in self.capacities_bps):
            raise ValueError(f"random topology capacities_bps {self.capacities_bps}: expected values in 1..1e15 bit/s")

    def check(self) -> None:
        """Load a zoo topology now, so that a bad name or file fails before any work."""
        if self.kind == "zoo":
            _zoo(str(self.name), self.zoo_dir)
        for name in self.names if self.kind == "set" else ():
            _zoo(name, self.zoo_dir)

    def sample_name(self, index: int) -> str | None:
        """The topology name of sample ``index`` (``None`` for random topologies)."""
        if self.kind == "set":
            return self.names[index % len(self.names)]
        return self.name if self.kind == "zoo" else None

    def make(self, rng: np.random.Generator, index: int = 0) -> Topology:
        """The topology of one sample (random draws come from ``rng``)."""
        if self.kind in ("zoo", "set"):
            return _zoo(str(self.sample_name(index)), self.zoo_dir)
        n = int(rng.integers(self.nodes[0], self.nodes[1] + 1))
        deg = float(rng.uniform(*self.degree))
        return random_topology(
            n, degree=deg, rng=rng, capacities_bps=self.capacities_bps, area_km=self.area_km,
            name=f"random{n}-{index}",
        )

    def to_json(self) -> dict[str, object]:
        d = {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}
        if not self.names:  # datasets made before topology sets resume unchanged
            d.pop("names")
        return d


@functools.lru_cache(maxsize=8)
def _zoo(name: str, zoo_dir: str | None) -> Topology:
    return load_topology(name, zoo_dir=zoo_dir)


@functools.lru_cache(maxsize=4)
def _matrix(path: str) -> np.ndarray:
    return load_matrix(path)


def make_sample_scenario(
    index: int, seed: int, topology: TopologySpec, params: ScenarioParams, recipe: OperatedRecipe | None = None
) -> tuple[Scenario, int]:
    """Scenario of sample ``index`` and the simulator seed to use for it.

    With a ``recipe`` the scenario is drawn by :func:`~twinwatch.twin.sim.recipe.draw_operated`
    (``params`` is then unused; its packet budget is ``scenario.meta["packet_budget"]``);
    shipped network models keep their own capacities.
    """
    rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(index, 0)))
    topo = topology.make(rng, index)
    if recipe is not None:
        from twinwatch.twin.netmodel import list_networks

        shipped = str(topology.sample_name(index) or "").lower() in list_networks()
        sc, _ = draw_operated(topo, rng, recipe, keep_capacity=shipped, name=f"{topo.name}#{index}")
    else:
        matrix = _matrix(params.matrix_file) if params.matrix_file else None
        sc = draw_scenario(topo, params, rng, matrix=matrix, name=f"{topo.name}#{index}")
    sim_seed = int(np.random.SeedSequence(seed, spawn_key=(index, 1)).generate_state(1)[0])
    return sc, sim_seed


@dataclass(frozen=True, slots=True)
class _Job:
    root: str
    index: int
    seed: int
    topology: TopologySpec
    params: ScenarioParams
    sim: SimConfig
    recipe: OperatedRecipe | None = None


def _run_job(job: _Job) -> dict[str, float]:
    """Make, simulate and write one sample (runs in a worker process)."""
    cpu0 = time.process_time()
    sc, sim_seed = make_sample_scenario(job.index, job.seed, job.topology, job.params, job.recipe)
    extra: dict[str, np.ndarray] = {}
    try:
        if job.recipe is not None:
            res, prop = simulate_operated(sc, sim_seed, int(sc.meta["packet_budget"]))  # type: ignore[call-overload]
            ci_base = res.labels.path_delay_s - prop  # the queueing part: propagation is exact
            extra = {"path_prop_s": prop, "path_scored": res.path_packets >= job.recipe.min_scored_packets}
        else:
            res = simulate(sc, SimConfig(**{**asdict(job.sim), "seed": sim_seed}))
            ci_base = res.labels.path_delay_s
    except ValueError as exc:
        raise DatasetError(f"sample {job.index} ({sc.name}): simulation failed: {exc}") from exc
    cpu = time.process_time() - cpu0
    with np.errstate(all="ignore"):
        rel = res.path_delay_ci / ci_base
    if job.recipe is not None:
        rel = np.where(extra["path_scored"], rel, np.nan)
    rel_mean = float(np.nanmean(rel)) if np.isfinite(rel).any() else float("nan")
    write_sample(
        job.root, job.index, sc, res.labels,
        extras={
            "path_delay_ci": res.path_delay_ci,
            "path_delay_percentiles": res.path_delay_percentiles,
            "path_delay_rse": res.path_delay_rse,
            "path_packets": res.path_packets,
            "link_drops": res.link_drops,
            **extra,
        },
        meta={
            "seed": sim_seed,
            "packets_generated": res.packets_generated,
            "packet_hops": res.packet_hops,
            "sim_time": res.sim_time,
            "measured_time": res.measured_time,
            "wall_time_s": res.wall_time_s,
            "cpu_time_s": cpu,
            "converged": res.converged,
            "rel_ci_mean": rel_mean,
        },
    )
    return {
        "index": job.index,
        "wall_time_s": res.wall_time_s,
        "cpu_time_s": cpu,
        "packet_hops": res.packet_hops,
        "converged": float(res.converged),
        "rel_ci_mean": rel_mean,
    }


@dataclass
class GenerateStats:
    """What one :func:`generate_dataset` call did."""

    made: int = 0
    skipped: int = 0
    wall_time_s: float = 0.0
    sim_wall_time_s: float = 0.0
    sim_cpu_time_s: float = 0.0
    packet_hops: int = 0
    converged: int = 0
    rel_ci: list[float] = field(default_factory=list)

    @property
    def rel_ci_mean(self) -> float:
        """Mean over new samples of the mean relative 95 % CI half-width of path delay."""
        vals = [v for v in self.rel_ci if np.isfinite(v)]
        return float(np.mean(vals)) if vals else float("nan")

    def to_json(self) -> dict[str, object]:
        return {
            "made": self.made,
            "skipped": self.skipped,
            "wall_time_s": round(self.wall_time_s, 3),
            "sim_wall_time_s": round(self.sim_wall_time_s, 3),
            "sim_cpu_time_s": round(self.sim_cpu_time_s, 3),
            "packet_hops": self.packet_hops,
            "converged": self.converged,
            "rel_ci_mean": self.rel_ci_mean,
        }


def _identity(
    seed: int, topology: TopologySpec, params: ScenarioParams, sim: SimConfig, recipe: OperatedRecipe | None = None
) -> dict[str, object]:
    simd = {k: v for k, v in asdict(sim).items() if k != "seed"}
    simd = {k: (None if isinstance(v, float) and not np.isfinite(v) else v) for k, v in simd.items()}
    ident: dict[str, object] = {
        "generator_version": GENERATOR_VERSION,
        "seed": seed,
        "topology": topology.to_json(),
        "scenario_params": params.to_json(),
        "sim_config": simd,
    }
    if recipe is not None:  # the recipe draws the scenarios and sets the packet budget (params and sim unused)
        ident["recipe"] = {"name": "operated", **recipe.to_json()}
    return ident


def engine_fingerprint() -> str:
    """SHA-256 (first 16 hex digits) of the simulator's source files: labels depend on them."""
    here = Path(__file__).resolve().parent
    h = hashlib.sha256()
    for name in _ENGINE_FILES:
        p = here / name
        h.update(name.encode())
        h.update(p.read_bytes() if p.exists() else b"")
    return h.hexdigest()[:16]


_ENGINE_FILES = ("engine.py", "_kernels.py", "traffic.py", "scenarios.py", "dataset.py", "recipe.py")


def _check_resume(root: Path, ident: dict[str, object]) -> dict[str, object]:
    old = read_manifest(root)
    for key, val in ident.items():
        if old.get(key) != val:
            raise DatasetError(
                f"{root / MANIFEST}: this dataset was generated with a different {key} "
                f"({old.get(key)!r}, now {val!r}); resume with the same settings or choose another --out"
            )
    if old.get("engine_sha256") not in (None, engine_fingerprint()):
        warnings.warn(
            f"{root}: the simulator's source changed since this dataset was started "
            f"(engine_sha256 {old.get('engine_sha256')} -> {engine_fingerprint()}); new samples may be "
            "labelled differently from the old ones",
            stacklevel=3,
        )
    return old


def generate_dataset(
    out: str | os.PathLike[str],
    *,
    n_samples: int,
    topology: TopologySpec,
    params: ScenarioParams | None = None,
    sim: SimConfig | None = None,
    seed: int = 0,
    workers: int = 1,
    progress: bool = True,
    recipe: OperatedRecipe | None = None,
) -> GenerateStats:
    """Make samples ``0..n_samples-1`` in ``out`` (skipping finished ones).

    With ``recipe`` the scenarios come from the operated-network recipe
    (:mod:`twinwatch.twin.sim.recipe`): ``params`` and ``sim`` are then unused,
    every sample is simulated with its own packet budget, propagation is
    added exactly, and the samples gain ``sim.path_prop_s`` ``(P,)`` seconds
    and ``sim.path_scored`` ``(P,)`` bool (at least ``recipe.min_scored_packets``
    measured packets).

    Raises :class:`~twin.datasets.gnnet.DatasetError` when ``out`` holds a
    dataset made with other settings.
    """
    if n_samples < 0:
        raise ValueError(f"n_samples must be >= 0, got {n_samples}")
    if workers < 1:
        raise ValueError(f"workers must be >= 1, got {workers}")
    if sim is not None and sim.min_packets > sim.max_packets:
        raise ValueError(f"min_packets ({sim.min_packets}) must be <= max_packets ({sim.max_packets})")
    params = params or ScenarioParams()
    sim = sim or SimConfig()
    root = Path(out)
    ident = _identity(seed, topology, params, sim, recipe)
    info: dict[str, object] = dict(ident)
    info["engine_sha256"] = engine_fingerprint()
    if (root / MANIFEST).exists():
        old = _check_resume(root, ident)
        info["created_utc"] = old.get("created_utc")
        info["runs"] = list(old.get("runs", []))  # type: ignore[call-overload]
    else:
        if root.exists() and any(root.iterdir()):
            raise DatasetError(f"{root}: folder exists, is not empty and has no {MANIFEST}; choose an empty --out")
        info["runs"] = []
    info["n_samples"] = max(n_samples, int(info.get("n_samples", 0) or 0))  # type: ignore[call-overload]
    write_manifest(root, info)
    (root / SAMPLES_DIR).mkdir(parents=True, exist_ok=True)
    for tmp in (root / SAMPLES_DIR).glob(".sample_*.tmp-*"):
        tmp.unlink()
    pending = [i for i in range(n_samples) if not sample_path(root, i).exists()]
    stats = GenerateStats(skipped=n_samples - len(pending))
    t0 = time.perf_counter()
    jobs = [_Job(str(root), i, seed, topology, params, sim, recipe) for i in pending]
    for res in _progress(_execute(jobs, workers), len(jobs), stats, progress):
        stats.made += 1
        stats.sim_wall_time_s += res["wall_time_s"]
        stats.sim_cpu_time_s += res["cpu_time_s"]
        stats.packet_hops += int(res["packet_hops"])
        stats.converged += int(res["converged"])
        stats.rel_ci.append(res["rel_ci_mean"])
    stats.wall_time_s = time.perf_counter() - t0
    runs = info["runs"]
    assert isinstance(runs, list)
    runs.append({"finished_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "workers": workers,
                 "engine_sha256": info["engine_sha256"], **stats.to_json()})
    info["n_complete"] = sum(1 for i in range(int(info["n_samples"])) if sample_path(root, i).exists())  # type: ignore[call-overload]
    write_manifest(root, info)
    return stats


def _execute(jobs: list[_Job], workers: int) -> Iterator[dict[str, float]]:
    if not jobs:
        return
    if workers <= 1 or len(jobs) == 1:
        for job in jobs:
            yield _run_job(job)
        return
    ctx = mp.get_context("spawn")
    with ctx.Pool(processes=min(workers, len(jobs))) as pool:
        yield from pool.imap_unordered(_run_job, jobs, chunksize=1)


def _progress(
    results: Iterable[dict[str, float]], total: int, stats: GenerateStats, show: bool
) -> Iterator[dict[str, float]]:
    if not show:
        yield from results
        return
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    columns = (
        TextColumn("[bold]simulating[/bold]"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
        TextColumn("eta"), TimeRemainingColumn(), TextColumn("{task.fields[info]}"),
    )
    with Progress(*columns) as bar:
        task = bar.add_task("samples", total=total, info=f"{stats.skipped} already done")
        for res in results:
            yield res
            bar.update(task, advance=1, info=f"mean CI ±{100 * stats.rel_ci_mean:.1f}% of delay")


def dataset_summary(root: str | os.PathLike[str]) -> dict[str, object]:
    """Statistics of a generated dataset: sizes, loads, budget used and label precision.

    ``rel_ci`` is the relative half-width of the 95 % CI of each path's mean
    delay (``sim.path_delay_ci / labels.path_delay_s``): ``per_sample_mean``
    averages each sample's mean, the other entries pool all paths.

    The result is plain JSON: a figure that cannot be computed (e.g. no path
    with a finite CI) is ``None``, and ``nulls`` maps its dotted key to the
    reason; NaN never appears. Raises :class:`DatasetError` naming the file
    when a sample or its metadata is unreadable.
    """
    from twinwatch.twin.datasets.native import read_extras

    root = Path(root)
    manifest = read_manifest(root)
    files = sorted((root / SAMPLES_DIR).glob("sample_*.npz"))
    if not files:
        raise DatasetError(f"{root}: no samples yet")
    rows = [_sample_figures(f, read_extras) for f in files]
    r = np.concatenate([row.pop("rel") for row in rows])  # type: ignore[misc]

    def col(key: str) -> np.ndarray:
        return np.array([row[key] for row in rows], dtype=np.float64)

    nodes, rho, cpu, per_sample = col("nodes"), col("rho_max"), col("cpu_time_s"), col("rel_mean")
    no_ci = "no path of any sample has a finite delay CI (too few packets delivered, or zero delays)"
    doc: dict[str, object] = {
        "root": str(root),
        "samples": len(files),
        "n_samples_planned": manifest.get("n_samples"),
        "nodes": {"min": int(nodes.min()), "mean": float(nodes.mean()), "max": int(nodes.max())},
        "paths_total": int(col("paths").sum()),
        "rho_max": _stats(rho),
        "samples_with_loss": int(col("lossy").sum()),
        "converged": int(col("converged").sum()),
        "packets_generated_mean": float(col("packets").mean()),
        "packet_hops_total": int(col("hops").sum()),
        "sim_wall_time_s_total": float(col("wall").sum()),
        "sim_cpu_time_s_total": float(np.nansum(cpu)) if np.isfinite(cpu).any() else None,
        "rel_ci": {
            "per_sample_mean": float(np.nanmean(per_sample)) if np.isfinite(per_sample).any() else None,
            "mean": float(r.mean()) if r.size else None,
            "median": float(np.quantile(r, 0.5)) if r.size else None,
            "p90": float(np.quantile(r, 0.9)) if r.size else None,
            "p99": float(np.quantile(r, 0.99)) if r.size else None,
        },
        "runs": manifest.get("runs", []),
    }
    nulls: dict[str, str] = {}
    if doc["sim_cpu_time_s_total"] is None:
        nulls["sim_cpu_time_s_total"] = "the samples do not record cpu_time_s (older generator)"
    if not r.size:
        nulls.update({f"rel_ci.{k}": no_ci for k in ("per_sample_mean", "mean", "median", "p90", "p99")})
    if not np.isfinite(rho).all():
        nulls["rho_max"] = f"{int((~np.isfinite(rho)).sum())} samples do not record a finite rho_max"
    doc["nulls"] = nulls
    return doc


def _stats(x: np.ndarray) -> dict[str, float | None]:
    """``{"min", "mean", "max"}`` of the finite values of ``x`` (None when there are none)."""
    f = x[np.isfinite(x)]
    if not f.size:
        return {"min": None, "mean": None, "max": None}
    return {"min": float(f.min()), "mean": float(f.mean()), "max": float(f.max())}


def _sample_figures(f: Path, read_extras: Any) -> dict[str, object]:
    """The figures of one sample file that :func:`dataset_summary` aggregates."""
    try:
        extras, meta = read_extras(f)
        with np.load(f, allow_pickle=False) as z:
            delay = np.asarray(z["labels.path_delay_s"], dtype=np.float64)
            loss = np.asarray(z["labels.path_loss_ratio"], dtype=np.float64)
        with np.errstate(all="ignore"):
            if "path_prop_s" in extras:  # operated recipe: the CI of the queueing part, scored paths only
                queue = delay - np.asarray(extras["path_prop_s"], dtype=np.float64)
                rel = np.asarray(extras["path_delay_ci"], dtype=np.float64) / queue
                rel = np.where(np.asarray(extras["path_scored"], dtype=bool), rel, np.nan)
            else:
                rel = np.asarray(extras["path_delay_ci"], dtype=np.float64) / delay
        rel = rel[np.isfinite(rel)]
        sc_meta = meta.get("scenario_meta") or {}
        return {
            "rel": rel,
            "rel_mean": float(rel.mean()) if rel.size else float("nan"),
            "nodes": int(meta["n_nodes"]),  # type: ignore[call-overload]
            "paths": int(delay.shape[0]),
            "hops": int(meta["packet_hops"]),  # type: ignore[call-overload]
            "packets": int(meta["packets_generated"]),  # type: ignore[call-overload]
            "wall": float(meta["wall_time_s"]),  # type: ignore[arg-type]
            "cpu_time_s": float(meta.get("cpu_time_s", np.nan)),  # type: ignore[arg-type]
            "rho_max": float(sc_meta.get("rho_max", np.nan)) if isinstance(sc_meta, dict) else float("nan"),
            "converged": bool(meta["converged"]),
            "lossy": bool(np.nansum(loss) > 0),
        }
    except DatasetError:
        raise
    except (KeyError, TypeError, ValueError, OSError, IndexError) as exc:
        raise DatasetError(f"{f}: incomplete sample ({type(exc).__name__}: {exc})") from None
