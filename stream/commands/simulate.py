"""``twinwatch simulate``: generate labelled data with the packet-level simulator."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import click

from twinwatch.stream.commands._options import (
    EXIT_STATUS_HELP,
    FiniteFloatRange,
    json_report_option,
    progress_option,
    write_json_report,
)

MAX_AREA_KM = 20_000.0
"""Same as :data:`twinwatch.twin.sim.dataset.MAX_AREA_KM` (not imported: it would load the simulator for --help)."""
__all__ = ["simulate"]


def _range(text: str, kind: type, what: str) -> tuple:
    lo, sep, hi = text.strip().partition("-")
    try:
        out = (kind(lo), kind(hi if sep else lo))
    except ValueError:
        raise click.BadParameter(f"{what} {text!r}: expected a number or a range LO-HI, e.g. 10-30") from None
    if out[0] > out[1]:
        raise click.BadParameter(f"{what} {text!r}: LO must be <= HI")
    return out


def _floats(text: str, what: str) -> tuple[float, ...]:
    try:
        vals = tuple(float(x) for x in text.split(",") if x.strip())
    except ValueError:
        raise click.BadParameter(f"{what} {text!r}: expected comma-separated numbers") from None
    if not vals:
        raise click.BadParameter(f"{what}: give at least one value")
    return vals


_DATASET_HELP = """Generate a labelled training dataset by simulation.

\b
DESCRIPTION
  Draws SAMPLES scenarios on a topology, simulates each one packet by packet
  and writes one sample file per scenario into OUT, in twinwatch's native
  format (OUT/manifest.json + OUT/samples/sample_NNNNNN.npz; see
  twin.datasets.native). `twinwatch twin train --train OUT` reads it.

\b
  Each scenario draws, from its own random stream:
    routing     one weighted shortest path per (src, dst) pair (--routing)
    traffic     a gravity / uniform / given matrix (--traffic, --matrix),
                scaled so the busiest link carries a utilisation drawn
                from --load (light 0.1-0.4, moderate 0.4-0.7,
                heavy 0.7-0.95, saturated 0.95-1.2, full 0.1-1.0)
    flows       one per pair: Poisson / CBR / ON-OFF (--time-dist),
                packet sizes fixed / IMIX / mixed (--pkt-size)
    nodes       FIFO everywhere, or FIFO/SP/WFQ/DRR with weights and
                random ToS (--scheduling mixed); buffers (--buffer-pkts)
  and is simulated until the relative standard error of every path's mean
  delay is below --target-rse, or --max-packets packets were generated.

\b
RECIPE (--recipe)
  default           the draws above, set by the options above
  operated          scenarios like operated networks (twin.sim.recipe,
                    documented in bench/notes/twin_recipe.md): 1/10/100 Gb/s
                    capacity mixes (shipped networks keep their own),
                    propagation from geography, IGP metric (inverse
                    capacity or latency) with ECMP, gravity traffic with a
                    diurnal scale per node's local time, busiest link
                    0.1-1.1 (80 % below 0.9), 1-3 ToS classes under
                    FIFO/SP/WFQ/DRR, Poisson / ON-OFF / CBR flows,
                    deterministic, bimodal 64/1500 B or IMIX packets,
                    buffers of 1-100 ms of line rate or 8-10^4 packets.
                    Needs real topologies (not random); the options of the
                    default recipe are refused, except --load: given, the
                    busiest link's utilisation is drawn from that range
                    alone (e.g. 0.8-1.0 for data near saturation, where
                    queueing gets hard). Each sample gets a packet
                    budget of --packets-per-flow x flows x (1 + size cv^2)
                    in [--min-packets, --max-packets] (default 200000-
                    2000000); propagation is added exactly, and the samples
                    carry sim.path_prop_s (s) and sim.path_scored (paths
                    with >= 100 measured packets).

\b
TOPOLOGY (--topology)
  random            a fresh connected random graph per sample, with
                    --nodes (e.g. 10-30) and mean --degree (e.g. 2.5-4)
  zoo:NAME, NAME    a shipped topology (abilene, nsfnet), else
                    NAME.graphml in --zoo-dir (Topology Zoo)
  zoo:PATH, PATH    a GraphML file (Topology Zoo attributes:
                    LinkSpeedRaw, Latitude/Longitude for delays)
  A,B,C or @FILE    a set of the above: sample i gets topology
                    i mod (number of topologies); FILE lists one per line

\b
RESUMING AND DETERMINISM
  Sample i depends only on (--seed, i, settings). Re-running the same
  command skips finished samples, so an interrupted run resumes; asking for
  more --samples extends the dataset. Changing any setting for an existing
  OUT is refused. --workers K runs K processes.

\b
EXAMPLES
  twinwatch simulate dataset --topology random --nodes 10-30 \\
      --samples 1000 --out data/rand1k --workers 2
  twinwatch simulate dataset --topology zoo:Geant2012 \\
      --zoo-dir ../shared/data/topologies/zoo --samples 200 --out data/geant \\
      --load heavy --scheduling mixed
  twinwatch simulate dataset --topology abilene --traffic matrix \\
      --matrix tm.txt --samples 50 --out data/abilene-tm
  twinwatch simulate dataset --recipe operated --topology Aarnet,Sprint,Ans \\
      --zoo-dir ../shared/data/topologies/zoo --samples 30 --out data/op30

\b
EXIT STATUS
  0 done; 1 bad input or an existing OUT made with other settings; 2 usage
  error (e.g. --min-packets > --max-packets, a negative --area-km, an
  option of the default recipe given with --recipe operated).
"""


@click.group(help=f"""Generate labelled data with twinwatch's packet-level simulator.

\b
Examples:
  twinwatch simulate dataset --topology random --nodes 10-30 --samples 100 --out data/rand100
  twinwatch simulate stats data/rand100

{EXIT_STATUS_HELP}
""", context_settings={"help_option_names": ["-h", "--help"]})
def simulate() -> None:
    """The ``simulate`` command group."""


@simulate.command("dataset", help=_DATASET_HELP, context_settings={"max_content_width": 100})
@click.option("--topology", "topology", required=True, metavar="random|zoo:NAME|PATH.graphml",
              help="Topology source (see TOPOLOGY).")
@click.option("--zoo-dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Folder of Topology Zoo .graphml files for NAME lookups.")
@click.option("--nodes", default="10-30", show_default=True, help="Random topologies: node count range.")
@click.option("--degree", default="2.5-4", show_default=True, help="Random topologies: mean node degree range.")
@click.option("--capacities", default="10e6,25e6,40e6,100e6", show_default=True,
              help="Random topologies: link capacities to draw from (bits/s).")
@click.option("--area-km", type=FiniteFloatRange(0.0, MAX_AREA_KM), default=0.0, show_default=True,
              help="Random topologies: side of the square nodes are placed in (km); 0 = no propagation delay.")
@click.option("--samples", "n_samples", type=click.IntRange(min=1, max=1_000_000), required=True,
              help="Number of samples.")
@click.option("--out", "-o", "out", metavar="DIR", type=click.Path(file_okay=False, path_type=Path), required=True,
              help="Dataset directory (created; re-running with the same settings resumes it).")
@click.option("--workers", type=click.IntRange(min=1), default=1, show_default=True, help="Worker processes.")
@click.option("--seed", type=click.IntRange(min=0), default=0, show_default=True, help="Dataset seed.")
@click.option("--load", default="full", show_default=True,
              help="Max link utilisation: light|moderate|heavy|saturated|full or LO-HI (e.g. 0.1-0.9); "
                   "with --recipe operated it replaces the recipe's busiest-link draw.")
@click.option("--traffic", type=click.Choice(["gravity", "uniform", "matrix"]), default="gravity",
              show_default=True, help="Traffic-matrix model.")
@click.option("--matrix", "matrix_file", type=click.Path(dir_okay=False, exists=True, path_type=Path),
              default=None, help="N x N traffic matrix (text or .npy); implies --traffic matrix.")
@click.option("--pairs-fraction", type=FiniteFloatRange(0.0, 1.0, min_open=True), default=1.0, show_default=True,
              help="Fraction of (src, dst) pairs that carry traffic.")
@click.option("--routing", type=click.Choice(["random", "hops", "capacity"]), default="random", show_default=True,
              help="Link weights for shortest-path routing.")
@click.option("--scheduling", type=click.Choice(["fifo", "mixed"]), default="fifo", show_default=True,
              help="Port scheduling: all FIFO, or FIFO/SP/WFQ/DRR with weights and ToS.")
@click.option("--buffer-pkts", default="16,32,64,128", show_default=True,
              help="Per-queue buffer sizes (packets) drawn per node.")
@click.option("--time-dist", default="poisson,cbr,onoff", show_default=True,
              help="Time distributions drawn per flow (poisson, cbr, onoff).")
@click.option("--pkt-size", type=click.Choice(["fixed", "imix", "mixed"]), default="mixed", show_default=True,
              help="Packet sizes: 1000 B, IMIX, or a mix per flow.")
@click.option("--target-rse", type=FiniteFloatRange(0.0, min_open=True), default=0.02, show_default=True,
              help="Stop a sample when every path's mean delay has this relative standard error.")
@click.option("--min-packets", type=click.IntRange(min=1), default=50_000, show_default=True,
              help="Generate at least this many packets per sample.")
@click.option("--max-packets", type=click.IntRange(min=1), default=1_000_000, show_default=True,
              help="Generate at most this many packets per sample (bounds the time per sample).")
@click.option("--recipe", type=click.Choice(["default", "operated"]), default="default", show_default=True,
              help="Scenario recipe (see RECIPE).")
@click.option("--packets-per-flow", type=click.IntRange(min=1), default=1000, show_default=True,
              help="--recipe operated: packets per flow in a sample's budget (before the size-cv^2 factor).")
@click.option("--max-pairs", type=click.IntRange(min=1), default=400, show_default=True,
              help="--recipe operated: most (src, dst) pairs with traffic (sampled by gravity weight beyond).")
@progress_option
@click.pass_context
def dataset(
    ctx: click.Context, topology: str, zoo_dir: Path | None, nodes: str, degree: str, capacities: str, area_km: float,
    n_samples: int, out: Path, workers: int, seed: int, load: str, traffic: str, matrix_file: Path | None,
    pairs_fraction: float, routing: str, scheduling: str, buffer_pkts: str, time_dist: str, pkt_size: str,
    target_rse: float, min_packets: int, max_packets: int, recipe: str, packets_per_flow: int, max_pairs: int,
    progress: bool,
) -> None:
    from twinwatch.twin.sim.dataset import TopologySpec, generate_dataset
    from twinwatch.twin.sim.engine import SimConfig
    from twinwatch.twin.sim.recipe import OperatedRecipe
    from twinwatch.twin.sim.scenarios import ScenarioParams, parse_load

    given = {n for n in ctx.params if ctx.get_parameter_source(n) is not click.core.ParameterSource.DEFAULT}
    operated = recipe == "operated"
    if operated:
        clash = sorted(given & _DEFAULT_RECIPE_ONLY)
        if clash:
            raise click.UsageError(f"--recipe operated draws its own scenarios; drop --{clash[0].replace('_', '-')}")
        if topology == "random":
            raise click.UsageError("--recipe operated needs real topologies (zoo:NAME, PATH.graphml or a set A,B,C)")
        min_packets = min_packets if "min_packets" in given else OperatedRecipe().min_packets
        max_packets = max_packets if "max_packets" in given else OperatedRecipe().max_packets
    elif given & {"packets_per_flow", "max_pairs"}:
        raise click.UsageError("--packets-per-flow and --max-pairs apply to --recipe operated only")
    if min_packets > max_packets:
        raise click.BadParameter(f"--min-packets {min_packets} is larger than --max-packets {max_packets}",
                                 param_hint="--min-packets")
    try:
        names = _topology_set(topology)
        if names is not None:
            spec = TopologySpec(kind="set", names=names, zoo_dir=str(zoo_dir) if zoo_dir else None)
            spec.check()
        elif topology == "random":
            spec = TopologySpec(
                kind="random", nodes=_range(nodes, int, "--nodes"), degree=_range(degree, float, "--degree"),
                capacities_bps=_floats(capacities, "--capacities"), area_km=area_km,
            )
        else:
            name = topology.removeprefix("zoo:")
            spec = TopologySpec(kind="zoo", name=name, zoo_dir=str(zoo_dir) if zoo_dir else None)
            spec.check()  # a bad name or file fails before any work
        if matrix_file is not None:
            traffic = "matrix"
        elif traffic == "matrix":
            raise click.BadParameter("--traffic matrix needs --matrix FILE")
        params = ScenarioParams(
            load=parse_load(load), traffic=traffic, matrix_file=str(matrix_file) if matrix_file else None,
            pairs_fraction=pairs_fraction, routing=routing, scheduling=scheduling,
            buffer_pkts=_floats(buffer_pkts, "--buffer-pkts"),
            time_dists=tuple(t.strip().lower() for t in time_dist.split(",") if t.strip()), pkt_sizes=pkt_size,
        )
        sim = SimConfig(target_rse=target_rse, min_packets=min_packets, max_packets=max_packets)
        op = None
        if operated:
            op = OperatedRecipe(max_pairs=max_pairs, packets_per_flow=packets_per_flow, min_packets=min_packets,
                                max_packets=max_packets)
            if "load" in given:  # one range instead of the recipe's two-band mixture
                op = replace(op, load_low=parse_load(load), p_load_high=0.0)
        if op is not None:  # the recipe ignores these: store the defaults so the manifest says nothing false
            params, sim = ScenarioParams(), SimConfig()
        done = generate_dataset(out, n_samples=n_samples, topology=spec, params=params, sim=sim, seed=seed,
                                workers=workers, progress=progress, recipe=op)
    except ValueError as exc:  # DatasetError, TopologyError, ScenarioError and bad settings
        raise click.ClickException(str(exc)) from None
    head = f"{out}: {done.made} samples made, {done.skipped} already there, in {done.wall_time_s:.1f} s"
    if not done.made:
        click.echo(head)
    elif operated:
        click.echo(f"{head} (mean 95% CI of the queueing part of scored paths ±{100 * done.rel_ci_mean:.1f}%)")
    else:
        click.echo(f"{head} ({done.converged}/{done.made} converged to --target-rse; mean 95% CI of path delay "
                   f"±{100 * done.rel_ci_mean:.1f}%)")


_DEFAULT_RECIPE_ONLY = frozenset({
    "nodes", "degree", "capacities", "area_km", "traffic", "matrix_file", "pairs_fraction", "routing",
    "scheduling", "buffer_pkts", "time_dist", "pkt_size", "target_rse",
})
"""Options of the default recipe that --recipe operated refuses (it draws these itself)."""


def _topology_set(text: str) -> tuple[str, ...] | None:
    """Names of a topology set (``A,B,C`` or ``@FILE``, one per line, ``#`` comments), else None."""
    if text.startswith("@"):
        path = Path(text[1:])
        try:
            lines = path.read_text(encoding="utf-8").splitlines()
        except (OSError, UnicodeDecodeError) as exc:
            raise click.BadParameter(f"cannot read the topology list {path}: {exc}", param_hint="--topology") from None
        names = tuple(ln.split("#", 1)[0].strip() for ln in lines)
    elif "," in text:
        names = tuple(t.strip().removeprefix("zoo:") for t in text.split(","))
    else:
        return None
    names = tuple(n for n in names if n)
    if not names:
        raise click.BadParameter(f"{text!r}: the topology set is empty", param_hint="--topology")
    return names


_STATS_HELP = f"""Print statistics of a generated dataset as JSON.

\b
Sizes, loads, the simulation budget used, and the label precision: the
relative half-width of the 95 % confidence interval of each path's mean
delay (rel_ci), per sample and pooled over all paths. A figure that cannot
be computed is null, and the "nulls" object says why (JSON has no NaN).

\b
Examples:
  twinwatch simulate stats data/rand1k
  twinwatch simulate stats data/rand1k --json stats.json

{EXIT_STATUS_HELP}
"""


@simulate.command("stats", help=_STATS_HELP)
@click.argument("dataset_dir", metavar="DATASET_DIR", type=click.Path(exists=True, file_okay=False, path_type=Path))
@json_report_option
def stats(dataset_dir: Path, json_report: str | None) -> None:
    from twinwatch.twin.datasets.gnnet import DatasetError
    from twinwatch.twin.sim.dataset import dataset_summary

    try:
        summary = dataset_summary(dataset_dir)
    except DatasetError as exc:
        raise click.ClickException(str(exc)) from None
    write_json_report(json_report or "-", summary)


from twinwatch.stream.commands.simulate_telemetry import telemetry  # noqa: E402  (the group's third command, own module)

simulate.add_command(telemetry)
