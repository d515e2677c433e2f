"""``twinwatch twin explain``: where a path's predicted delay comes from, hop by hop.

Example::

    twinwatch twin explain ../shared/data/gnnet/2021/validation --sample 0 --path 0 5
    twinwatch twin explain twin/data/nsfnet.yaml --path Seattle Princeton
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click

from twinwatch.stream.commands._options import (
    EXIT_STATUS_HELP,
    checkpoint_option,
    json_report_option,
    write_json_report,
)

if TYPE_CHECKING:
    from twinwatch.twin.kpis import Labels
    from twinwatch.twin.scenario import Scenario

__all__ = ["explain"]


def _load_sample(data: Path, sample: int) -> tuple[str, int, Scenario, Labels | None]:
    """``(file, index, scenario, labels)`` of sample ``sample`` of a GNNet folder, or a scenario YAML (no labels)."""
    from twinwatch.twin.datasets import DatasetError, iter_samples
    from twinwatch.twin.scenario import ScenarioError

    try:
        if data.is_file() and data.suffix.lower() in (".yaml", ".yml"):
            from twinwatch.twin.datasets.scenario_yaml import load_scenario_yaml

            if sample != 0:  # a scenario file is one sample: explaining sample 0 instead would mislead
                raise click.BadParameter(f"{data} is a scenario YAML file (one sample, number 0), got {sample}",
                                         param_hint="--sample")

            return data.name, 0, load_scenario_yaml(data), None
        for k, s in enumerate(iter_samples(data)):
            if k == sample:
                return s.file, s.index, s.scenario, s.labels
    except (DatasetError, ScenarioError, OSError, EOFError) as exc:
        raise click.ClickException(str(exc)) from None
    raise click.BadParameter(f"{data} has fewer than {sample + 1} samples", param_hint="--sample")


def _node(scenario: Scenario, text: str) -> int:
    """Node number of ``text``: a node name (``scenario.meta["node_names"]``) or a 0-based number."""
    names = scenario.meta.get("node_names")
    names = [str(x) for x in names] if isinstance(names, list) and len(names) == scenario.n_nodes else []
    if text in names:
        return names.index(text)
    try:
        k = int(text)
    except ValueError:
        k = -1
    if 0 <= k < scenario.n_nodes:
        return k
    shown = f"names {names[:6]}{'...' if len(names) > 6 else ''} or " if names else ""
    raise click.BadParameter(f"unknown node {text!r}; nodes are {shown}numbers 0..{scenario.n_nodes - 1}",
                             param_hint="--path")


@click.command(context_settings={"help_option_names": ["-h", "--help"]}, epilog=EXIT_STATUS_HELP)
@click.argument("data_dir", metavar="DATA_DIR", type=click.Path(exists=True, path_type=Path))
@click.option("--sample", "sample", type=click.IntRange(min=0), default=0, show_default=True,
              help="0-based sample number in DATA_DIR's order (sorted tarballs, then lines).")
@click.option("--path", "path", type=(str, str), required=True, metavar="SRC DST",
              help="Source and destination node: names as `twinwatch demo` shows them, or 0-based numbers.")
@checkpoint_option
@json_report_option
def explain(data_dir: Path, sample: int, path: tuple[str, str], checkpoint: Path | None,
            json_report: str | None) -> None:
    """Break the GNN's predicted delay of one path into per-hop queueing, transmission and propagation.

    \b
    DATA_DIR is a GNNet dataset folder (or a scenario YAML file, then --sample
    must be 0 and no measured delay is shown). The parts add up to the
    predicted path delay (the model's readout is a sum over hops). Units are
    the dataset's own (GNNet: time units; YAML: seconds). --json FILE writes
    the breakdown as JSON to FILE (a bare --json or --json -: to stdout,
    instead of the table).

    \b
    Examples:
      twinwatch twin explain twin/data/nsfnet.yaml --path Seattle Princeton
      twinwatch twin explain ../shared/data/gnnet/2021/validation --sample 3 --path 0 5 --json -
    """
    from rich.console import Console
    from rich.table import Table

    from twinwatch.twin.checkpoint import CheckpointError
    from twinwatch.twin.explain import explain_path
    from twinwatch.twin.models.gnn import load_gnn

    try:
        model = load_gnn(str(checkpoint) if checkpoint else None)
    except (CheckpointError, OSError, RuntimeError) as exc:
        raise click.ClickException(f"cannot load the GNN: {exc}") from None
    file, index, scenario, labels = _load_sample(data_dir, sample)
    src, dst = _node(scenario, path[0]), _node(scenario, path[1])
    try:
        ex = explain_path(model, scenario, src, dst)
    except KeyError as exc:
        raise click.BadParameter(str(exc.args[0]), param_hint="--path") from None
    measured = labels.path_delay_s[scenario.path_index()[(src, dst)]] if labels is not None else float("nan")
    if json_report is not None:
        write_json_report(json_report, {
            "file": file, "index": index, "src": src, "dst": dst, "time_unit": ex.time_unit,
            "predicted_delay": ex.predicted_delay,
            "measured_delay": float(measured) if measured == measured else None,
            "hops": [{"src": h.src, "dst": h.dst, "link": h.link, "capacity": h.capacity,
                      "occupancy_pkts": h.occupancy_pkts, "queueing": h.queueing, "transmission": h.transmission,
                      "propagation": h.propagation, "drop": h.drop} for h in ex.hops],
        })
        if json_report == "-":
            return
    u = ex.time_unit
    table = Table(title=f"{file} #{index}: path {src}→{dst}, delay breakdown ({u})")
    for col in ("hop", "link", "capacity", "occ pkts", "queueing", "transmit", "propag.", "total", "share", "drop"):
        table.add_column(col, justify="right", no_wrap=True)
    for i, h in enumerate(ex.hops):
        table.add_row(str(i), f"{h.src}→{h.dst}", f"{h.capacity:.3g}", f"{h.occupancy_pkts:.2f}", f"{h.queueing:.3g}",
                      f"{h.transmission:.3g}", f"{h.propagation:.3g}", f"{h.total:.3g}",
                      f"{100 * h.total / ex.predicted_delay:.0f}%", f"{h.drop:.3f}")
    table.add_section()
    table.add_row("path", "", "", "", f"{sum(h.queueing for h in ex.hops):.3g}",
                  f"{sum(h.transmission for h in ex.hops):.3g}", f"{sum(h.propagation for h in ex.hops):.3g}",
                  f"{ex.total:.3g}", "100%", f"{ex.predicted_loss:.3f}")
    console = Console(width=max(Console().width, 110))  # the table needs ~100 columns
    console.print(table)
    seen = f" (measured {measured:.4g})" if measured == measured else ""
    console.print(f"predicted delay {ex.predicted_delay:.4g} {u}{seen}, "
                  f"jitter {ex.predicted_jitter:.4g} {u}², loss {ex.predicted_loss:.4f}")
