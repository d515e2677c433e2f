"""``twinwatch demo``: predict and print the KPIs of the bundled NSFNet scenario.

A newcomer's first command (``make demo``): it needs no data and no network.
It loads ``twin/data/nsfnet.yaml`` (or ``--scenario FILE``), runs the default
model (the GNN when its shipped checkpoint loads, else the queueing-theory
baseline) and prints two tables: per path (the ``--top`` slowest, or
``--all``) and per link.
"""

from __future__ import annotations

import sys
import time
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from twinwatch.stream.commands._options import EXIT_STATUS_HELP, checkpoint_option
from twinwatch.stream.commands.twin_predict import cli_model

if TYPE_CHECKING:
    from twinwatch.twin.kpis import Prediction
    from twinwatch.twin.scenario import Scenario

__all__ = ["demo", "link_table", "path_table"]


def _names(sc: Scenario) -> list[str]:
    names = sc.meta.get("node_names")
    if isinstance(names, list) and len(names) == sc.n_nodes:
        return [str(x) for x in names]
    return [str(i) for i in range(sc.n_nodes)]


def _units(sc: Scenario) -> tuple[float, str, float, str]:
    """Scale and unit for delay and jitter: ms / µs² for seconds, raw otherwise."""
    if sc.time_unit == "s":
        return 1e3, "ms", 1e12, "µs²"
    return 1.0, sc.time_unit, 1.0, f"{sc.time_unit}²"


def path_table(sc: Scenario, pred: Prediction, *, top: int | None = 20) -> Any:
    """Rich table of per-path KPIs, slowest first (``top=None``: every path)."""
    import numpy as np
    from rich.table import Table

    names = _names(sc)
    d_scale, d_unit, j_scale, j_unit = _units(sc)
    delay = np.nan_to_num(pred.path_delay_s, nan=-np.inf)
    order = np.argsort(-delay, kind="stable")
    shown = order if top is None else order[:top]
    rate = sc.path_rate_bps()
    title = "Paths" if top is None or top >= sc.n_paths else f"Paths: the {len(shown)} slowest of {sc.n_paths}"
    t = Table(title=title, title_justify="left", caption="delay includes propagation; jitter = delay variance",
              caption_justify="left")
    t.add_column("path", no_wrap=True)
    t.add_column("hops", justify="right")
    t.add_column("rate Mb/s" if sc.time_unit == "s" else f"rate bits/{sc.time_unit}", justify="right")
    t.add_column(f"delay {d_unit}", justify="right")
    t.add_column(f"jitter {j_unit}", justify="right")
    t.add_column("loss %", justify="right")
    plen = sc.path_len
    r_scale = 1e-6 if sc.time_unit == "s" else 1.0
    for p in shown.tolist():
        t.add_row(
            f"{names[sc.path_src[p]]} → {names[sc.path_dst[p]]}",
            str(int(plen[p])),
            f"{rate[p] * r_scale:,.1f}",
            _fmt(pred.path_delay_s[p] * d_scale, 3),
            _fmt(pred.path_jitter_s2[p] * j_scale, 3),
            _fmt(pred.path_loss_ratio[p] * 100.0, 3),
        )
    return t


def link_table(sc: Scenario, pred: Prediction) -> Any:
    """Rich table of per-link KPIs, busiest first."""
    import numpy as np
    from rich.table import Table

    names = _names(sc)
    util = np.nan_to_num(pred.link_utilization, nan=-1.0)
    order = np.argsort(-util, kind="stable")
    t = Table(
        title=f"Links ({sc.n_links}), busiest first", title_justify="left",
        caption="util. = carried / capacity; queue = mean packets in the output port (% of its buffer)",
        caption_justify="left",
    )
    t.add_column("link", no_wrap=True)
    t.add_column("Gb/s" if sc.time_unit == "s" else f"bits/{sc.time_unit}", justify="right")
    t.add_column("prop. ms" if sc.time_unit == "s" else f"prop. {sc.time_unit}", justify="right")
    t.add_column("util. %", justify="right")
    t.add_column("queue pkts", justify="right")
    t.add_column("loss %", justify="right")
    c_scale, p_scale = (1e-9, 1e3) if sc.time_unit == "s" else (1.0, 1.0)
    for e in order.tolist():
        t.add_row(
            f"{names[sc.link_src[e]]} → {names[sc.link_dst[e]]}",
            f"{sc.link_capacity_bps[e] * c_scale:g}",
            _fmt(sc.link_prop_delay_s[e] * p_scale, 3),
            _fmt(pred.link_utilization[e] * 100.0, 1),
            _fmt(pred.link_queue_pkts[e], 3) + f" ({_fmt(pred.link_queue_occupancy[e] * 100.0, 0)} %)",
            _fmt(pred.link_loss_ratio[e] * 100.0, 3),
        )
    return t


def _fmt(x: float, digits: int) -> str:
    x = float(x)
    if x != x:
        return "-"
    return f"{x:.{digits}f}" if abs(x) >= 10 ** (-digits) or x == 0 else f"{x:.{digits}g}"


@click.command(context_settings={"help_option_names": ["-h", "--help"]}, epilog=EXIT_STATUS_HELP)
@click.option("--scenario", "scenario_path", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              default=None, help="Scenario YAML to use instead of the bundled NSFNet one.")
@click.option("--model", "-m", "model_name", metavar="NAME", default=None,
              help="qt | mlp | gnn | sim. Default: gnn if its shipped checkpoint loads, else qt.")
@checkpoint_option
@click.option("--top", type=click.IntRange(min=1), default=20, show_default=True,
              help="Show the N paths with the largest delay.")
@click.option("--all", "show_all", is_flag=True, help="Show every path.")
def demo(scenario_path: Path | None, model_name: str | None, checkpoint: Path | None, top: int,
         show_all: bool) -> None:
    """Predict and print the per-path and per-link KPIs of a small network.

    \b
    By default the scenario is the bundled NSFNet backbone: 14 US cities, 21
    bidirectional 10 Gb/s links with propagation delays from geography,
    shortest-path routing and a gravity traffic matrix in three ToS classes
    (twin/data/nsfnet.yaml, regenerated by `python -m twinwatch.twin.data.make_nsfnet`).

    \b
    Units: delay in ms (mean per-packet delay, propagation included), jitter
    in µs² (variance of the per-packet delay), loss and utilisation in %,
    queue occupancy in packets (mean number in the output port).

    \b
    Examples:
      twinwatch demo
      twinwatch demo --model qt --all
      twinwatch demo --scenario my-network.yaml --top 5
    """
    from rich.console import Console

    from twinwatch.twin.data import bundled_scenario_path
    from twinwatch.twin.datasets.scenario_yaml import load_scenario_yaml
    from twinwatch.twin.scenario import ScenarioError

    try:
        path = scenario_path or bundled_scenario_path()
        sc = load_scenario_yaml(path)
    except (ScenarioError, OSError) as exc:
        raise click.ClickException(str(exc)) from None
    model = cli_model(model_name, checkpoint)
    t0 = time.perf_counter()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        pred = model.predict(sc)
    dt = time.perf_counter() - t0
    for msg in dict.fromkeys(str(w.message) for w in caught if issubclass(w.category, RuntimeWarning)):
        click.echo(f"warning: {msg}", err=True)  # e.g. the mlp's out-of-domain notice
    out = Console(file=sys.stdout)
    out.print(
        f"[bold]{sc.name or path.stem}[/bold]: {sc.n_nodes} nodes, {sc.n_links} links, {sc.n_paths} paths, "
        f"{sc.n_flows} flows; model [bold]{model.name}[/bold] predicted in {dt * 1e3:.1f} ms"
    )
    out.print(path_table(sc, pred, top=None if show_all else top))
    out.print(link_table(sc, pred))
