"""``twinwatch plan``: which cables to upgrade so that every link stays under a utilisation ceiling with the traffic
grown, through any single cable or router failure; then the twin's delay and loss on the network planned.

The baseline traffic is read as ``twinwatch whatif`` reads it (:func:`~twinwatch.stream.commands.whatif.
load_baseline`: the busiest window of recorded telemetry, or a matrix file); the plan is
:func:`twinwatch.twin.plan.plan_capacity`, the check :func:`twinwatch.twin.plan.verify_plan`.
"""

from __future__ import annotations

import math
import sys
import warnings
from pathlib import Path
from typing import Any

import click
import numpy as np

from twinwatch.stream.commands._options import (
    EXIT_STATUS_HELP,
    ExitCode,
    FiniteFloatRange,
    json_report_option,
    output_folder_exists,
    progress_option,
    write_json_report,
)
from twinwatch.stream.commands.whatif import (
    baseline_doc,
    baseline_options,
    load_baseline,
    ms_text,
    pct_text,
    report_console,
)

__all__ = ["plan", "plan_report"]

_DEFAULT_TIERS = "1G,2.5G,10G,25G,40G,100G,200G,400G,800G"


def _tiers(ctx: click.Context, param: click.Parameter, value: str) -> tuple[float, ...]:
    """``--tiers``: comma-separated rates (``10G,100G``), each > 0."""
    from twinwatch.twin.netmodel.units import parse_bps

    try:
        rates = tuple(sorted({parse_bps(x.strip()) for x in value.split(",") if x.strip()}))
    except ValueError as exc:
        raise click.BadParameter(f"{value!r}: {exc}") from None
    if not rates or rates[0] <= 0:
        raise click.BadParameter(f"{value!r}: give one or more capacities > 0, e.g. 10G,100G,400G")
    return rates


def _check(res: Any, *, max_loss: float, slo_delay_s: float | None) -> dict[str, Any]:
    """The twin's verdict on one scenario (the ``after`` side of a :class:`~twinwatch.twin.whatif.WhatIf`)."""
    m, lk, d, pred = res.model, res.links, res.demands, res.prediction_after
    loss = np.nan_to_num(lk.loss_after, nan=0.0)
    routed = d.routed_after & (d.rate_after_bps > 0)
    delay = np.where(routed, d.delay_after_s, np.nan)
    ood = pred.path_out_of_domain
    out: dict[str, Any] = {
        "peak_utilization": float(np.max(lk.utilization_after, initial=0.0)),
        "peak_link": m.link_ids[int(np.argmax(lk.utilization_after))] if m.n_links else None,
        "links_losing": [m.link_ids[i] for i in np.flatnonzero(loss > max_loss)],
        "max_link_loss": float(loss.max(initial=0.0)),
        "max_delay_s": float(np.nanmax(delay)) if np.isfinite(delay).any() else None,
        "paths_outside_training": int(np.count_nonzero(ood)) if ood is not None else 0,
    }
    if slo_delay_s is not None:
        out["demands_over_slo"] = int(np.count_nonzero(np.nan_to_num(delay, nan=0.0) > slo_delay_s))
    return out


def plan_report(result: Any, baseline: Any, *, model_name: str | None, checks: list[tuple[str, dict, dict]],
                tiers: tuple[float, ...], max_loss: float, slo_delay_s: float | None) -> dict[str, Any]:
    """The JSON document of a :class:`~twinwatch.twin.plan.CapacityPlan` and its twin check: rates in bit/s,
    utilisation and loss as ratios (0..1), delays in seconds; NaN is ``null``."""
    m, p = result.model, result.planned
    util_b, util_a = result.utilization(planned=False), result.utilization()
    cuts = [{"failure": str(f), "traffic_bps": float(t)}
            for f, t in zip(result.before.failures, result.before.cut_off_bps.tolist(), strict=True) if t > 0]
    cuts.sort(key=lambda r: -r["traffic_bps"])
    io = result.intact_only
    doc: dict[str, Any] = {
        "network": m.name, "baseline": baseline_doc(baseline), "growth": result.growth,
        "max_utilization": result.max_utilization, "max_utilization_failure": result.max_utilization_failure,
        "survive": result.survive, "upgrade": result.step, "tiers_bps": list(tiers),
        "summary": {
            "scenarios": 1 + len(result.before.failures),
            "cables_upgraded": len(result.upgrades()),
            "capacity_added_bps": result.capacity_added_bps,
            "routing_rounds": result.rounds,
            "converged": result.converged,
            "worst_utilization_before": float(util_b.max(initial=0.0)),
            "worst_utilization_after": float(util_a.max(initial=0.0)),
            "links_over_ceiling_before": int(np.count_nonzero(result.over_ceiling(planned=False))),
            "links_over_ceiling_after": int(np.count_nonzero(result.over_ceiling())),
            "failures_cutting_traffic_off": len(cuts),
        },
        "intact_only": None if io is None else {
            "cables_upgraded": io.cables, "capacity_added_bps": io.capacity_added_bps,
            "links_over_ceiling_under_failures": io.over_ceiling_links, "worst_utilization": io.peak_utilization},
        "upgrades": [{"cable": u.cable, "capacity_before_bps": u.capacity_before_bps,
                      "capacity_after_bps": u.capacity_after_bps, "load_bps": u.load_bps, "set_by": u.set_by,
                      "ceiling": u.ceiling, "utilization_before": u.load_bps / u.capacity_before_bps,
                      "utilization_after": u.load_bps / u.capacity_after_bps} for u in result.upgrades()],
        "cut_off": cuts,
        "links": [{"link": lid, "capacity_before_bps": float(m.link_capacity_bps[i]),
                   "capacity_after_bps": float(p.link_capacity_bps[i]),
                   "metric_before": int(m.link_metric[i]), "metric_after": int(p.link_metric[i]),
                   "intact_load_bps": float(result.after.intact_load_bps[i]),
                   "failure_load_bps": float(result.after.failure_load_bps[i]),
                   "worst_failure": (result.after.case_name(int(result.after.failure_case[i]))
                                     if result.after.failure_case[i] >= 0 else None),
                   "worst_utilization_before": float(util_b[i]), "worst_utilization_after": float(util_a[i])}
                  for i, lid in enumerate(m.link_ids)],
    }
    if checks:
        doc["twin"] = {"model": model_name, "max_loss": max_loss, "slo_delay_s": slo_delay_s,
                       "scenarios": [{"scenario": name, "as_is": a, "planned": b} for name, a, b in checks]}
    return doc


def _print(doc: dict[str, Any], top: int) -> None:
    from rich.table import Table

    from twinwatch.twin.netmodel.units import rate_text

    con = report_console()
    s, b = doc["summary"], doc["baseline"]
    what = {"none": "on the intact network", "cable": "through any single cable failure",
            "router": "through any single router failure"}[doc["survive"]]
    if doc["survive"] != "none" and doc["max_utilization_failure"] != doc["max_utilization"]:
        what = f"intact and ≤ {pct_text(doc['max_utilization_failure'])} {what}"
    src = (f"the busiest of {b['windows']} telemetry windows" if b["source"] == "telemetry" else b["source"])
    con.print(f"[bold]{doc['network']}[/]: traffic ×{doc['growth']:g}, every link ≤ {pct_text(doc['max_utilization'])} "
              f"{what} ({s['scenarios']} scenarios routed; baseline: {src})")
    lines = [f"{s['cables_upgraded']} cable(s) to upgrade, +{rate_text(s['capacity_added_bps'])} in all; worst "
             f"utilisation {pct_text(s['worst_utilization_before'])} → {pct_text(s['worst_utilization_after'])}"]
    if s["routing_rounds"] > 1:
        lines.append(f"routed {s['routing_rounds']} times: upgraded links without a configured metric take a lower "
                     "reference-bandwidth cost and draw traffic")
    if not s["converged"]:
        lines.append("[red]not converged: auto-cost metrics kept moving traffic; give the links metrics or more "
                     "rounds[/]")
    if doc["cut_off"]:
        worst = ", ".join(f"{c['failure'].split(' ', 1)[1]} ({rate_text(c['traffic_bps'])})"
                          for c in doc["cut_off"][:5])
        lines.append(f"[red]{len(doc['cut_off'])} failure(s) cut traffic off, which no capacity brings back: "
                     f"{worst}{' ...' if len(doc['cut_off']) > 5 else ''}[/]")
    io = doc["intact_only"]
    if io is not None:
        over = io["links_over_ceiling_under_failures"]
        lines.append(f"upgrading only what the intact network needs: {io['cables_upgraded']} cable(s), "
                     f"+{rate_text(io['capacity_added_bps'])}; "
                     + (f"[red]{len(over)} link(s) then over {pct_text(doc['max_utilization_failure'])} under a "
                        f"failure (worst {pct_text(io['worst_utilization'])})[/]" if over else "enough here"))
    for line in lines:
        con.print(f"  {line}")
    if doc["upgrades"]:
        t = Table(title=f"Cables to upgrade (top {top} by utilisation now)", title_justify="left")
        for col in ("cable", "now", "planned", "load", "util now", "planned", "set by"):
            t.add_column(col, justify="left" if col in ("cable", "set by") else "right", no_wrap=True)
        for u in sorted(doc["upgrades"], key=lambda r: -r["utilization_before"])[:top]:
            t.add_row(u["cable"], rate_text(u["capacity_before_bps"]), rate_text(u["capacity_after_bps"]),
                      rate_text(u["load_bps"]), pct_text(u["utilization_before"]), pct_text(u["utilization_after"]),
                      u["set_by"])
        con.print(t)
    tw = doc.get("twin")
    if tw:
        t = Table(title=f"The twin ({tw['model']}) on the grown traffic, as is → planned", title_justify="left")
        cols = ["scenario", "peak util", "links losing > " + pct_text(tw["max_loss"]), "worst delay ms"]
        if tw["slo_delay_s"] is not None:
            cols.append(f"demands > {ms_text(tw['slo_delay_s'])} ms")
        for col in cols:
            t.add_column(col, justify="left" if col == "scenario" else "right", no_wrap=True)
        for r in tw["scenarios"][:top]:
            a, p = r["as_is"], r["planned"]
            row = [r["scenario"], f"{pct_text(a['peak_utilization'])} → {pct_text(p['peak_utilization'])}",
                   f"{len(a['links_losing'])} → {len(p['links_losing'])}",
                   f"{ms_text(a['max_delay_s'] or math.nan)} → {ms_text(p['max_delay_s'] or math.nan)}"]
            if tw["slo_delay_s"] is not None:
                row.append(f"{a['demands_over_slo']} → {p['demands_over_slo']}")
            t.add_row(*row, style="red" if p["links_losing"] or p.get("demands_over_slo") else None)
        con.print(t)
        ood = sum(r["planned"]["paths_outside_training"] for r in tw["scenarios"])
        if ood:
            con.print(f"  note: the twin extrapolates on {ood} path(s) of the network planned (inputs beyond its "
                      "training range); `--model qt` gives queueing theory's answer")


@click.command("plan", epilog=EXIT_STATUS_HELP)
@click.argument("network", type=click.Path(dir_okay=False, exists=True, path_type=Path))
@baseline_options
@click.option("--growth", type=FiniteFloatRange(0.0, 1e6), default=1.0, show_default=True,
              help="Every demand times this factor (1.3 = 30 % more traffic than the baseline).")
@click.option("--max-utilization", type=FiniteFloatRange(0.0, 1.0, min_open=True), default=0.8,
              show_default=True, help="The ceiling: no link's offered load above this share of its capacity.")
@click.option("--max-utilization-failure", type=FiniteFloatRange(0.0, 1.0, min_open=True), default=None,
              help="The ceiling while a failure lasts (e.g. 0.95) [default: --max-utilization].")
@click.option("--survive", type=click.Choice(["cable", "router", "none"]), default="cable", show_default=True,
              help="Failures the ceiling must hold through: any single cable, any single router, or none (the "
                   "intact network).")
@click.option("--upgrade", "step", type=click.Choice(["tiers", "members"]), default="tiers", show_default=True,
              help="How a cable grows: to the next of --tiers, or by whole members of its current capacity (LAG).")
@click.option("--tiers", default=_DEFAULT_TIERS, show_default=True, callback=_tiers, metavar="RATES",
              help="Capacities a cable can be upgraded to (beyond the largest: parallel cables of it).")
@click.option("--verify", type=click.Choice(["binding", "intact", "none"]), default="binding", show_default=True,
              help="Ask the twin about the network as it is and as planned: on the intact network and under the "
                   "failures that set an upgrade (binding), on the intact network only, or not at all.")
@click.option("--max-loss", type=FiniteFloatRange(0.0, 1.0), default=1e-3, show_default=True,
              help="Name the links the twin expects to drop more than this share of their packets.")
@click.option("--slo-delay", "slo_delay_s", type=FiniteFloatRange(0.0, 3600.0, min_open=True), default=None,
              metavar="SECONDS", help="Count the demands the twin expects above this delay (e.g. 0.040).")
@click.option("--out-network", type=click.Path(dir_okay=False, path_type=Path), default=None, metavar="FILE",
              callback=output_folder_exists,
              help="Write the network model as planned (the new capacities; the file in its canonical form, "
                   "comments not kept) for `twinwatch whatif` or the service.")
@click.option("--report", type=click.Path(dir_okay=False, path_type=Path), default=None, metavar="FILE",
              callback=output_folder_exists,
              help="Also write an HTML report: the network map coloured by worst utilisation as planned, the "
                   "upgrades haloed; the cables to upgrade; the twin's check.")
@click.option("--top", type=click.IntRange(1, 10000), default=20, show_default=True, help="Rows of the tables.")
@json_report_option
@progress_option
def plan(network: Path, captures: tuple[Path, ...], fmt: str | None, at: float | None, config_path: Path | None,
         window_s: float | None, lateness_s: float | None, matrix_file: Path | None, model: str | None,
         checkpoint: Path | None, growth: float, max_utilization: float, max_utilization_failure: float | None,
         survive: str, step: str,
         tiers: tuple[float, ...], verify: str, max_loss: float, slo_delay_s: float | None,
         out_network: Path | None, report: Path | None, top: int, json_report: str | None, progress: bool) -> None:
    """Which cables to upgrade so that no link runs above a ceiling, with growth, through any single failure.

    NETWORK is the network-model file the service uses; the baseline traffic
    comes from recorded telemetry (--capture: its busiest window, or the one
    at --at) or a matrix file (--matrix), as for `twinwatch whatif`. The plan
    is for the network as built: links the telemetry reported down in that
    window count as up.

    The traffic, times --growth, is routed as the service routes it (the
    model's IGP metrics, ECMP) on the intact network and with each single
    cable (or router) down. Each link keeps its worst offered load, and each
    cable (both directions alike) gets the smallest capacity of --tiers that
    keeps its load at or under --max-utilization on the intact network and
    under --max-utilization-failure in every failure; nothing is lowered.
    A link without a configured metric takes the reference-bandwidth cost of
    its new capacity, so the planned network is routed again until nothing
    more is needed. Traffic a failure leaves without any route is listed
    apart: no capacity brings it back.

    Beside it, the usual alternative, upgrading only what the intact network
    needs, is checked against the same failures. Then the twin predicts the
    network as it is and as planned under the failures that set the
    upgrades, so delay and loss are seen, not assumed from the ceiling
    (small buffers drop packets below it; long paths miss a delay SLO at any
    load). --json writes every upgrade and every link (rates in bit/s,
    utilisation 0..1), --report an HTML page with the network map,
    --out-network the planned model.

    \b
    Examples:
      twinwatch plan network.yaml --capture gnmic.jsonl --capture flows.jsonl --growth 1.3
      twinwatch plan network.yaml --matrix tm.txt --growth 1.3 --max-utilization 0.7 --max-utilization-failure 0.95
      twinwatch plan network.yaml --matrix tm.txt --growth 1.5 --survive router --upgrade members
      twinwatch plan network.yaml --matrix tm.txt --growth 2 --slo-delay 0.04 --out-network new.yaml --json p.json
    """
    import torch
    from rich.console import Console
    from rich.progress import Progress

    from twinwatch.stream.commands.twin_predict import cli_model
    from twinwatch.twin.models.bounds import OutOfDomainWarning
    from twinwatch.twin.netmodel.dump import dump_network_model
    from twinwatch.twin.plan import failure_set, plan_capacity, verify_plan

    net, baseline, model, checkpoint = load_baseline(
        network, captures=captures, fmt=fmt, at=at, config_path=config_path, window_s=window_s,
        lateness_s=lateness_s, matrix_file=matrix_file, model=model, checkpoint=checkpoint, progress=progress)
    n_failures = len(failure_set(net, survive))
    with Progress(console=Console(stderr=True), disable=not progress, transient=True) as bar:
        task = bar.add_task(f"routing the intact network and {n_failures} single {survive} failures",
                            total=(1 + n_failures) * (2 if n_failures else 1))
        result = plan_capacity(net, baseline.traffic, growth=growth, max_utilization=max_utilization,
                               max_utilization_failure=max_utilization_failure, survive=survive, step=step,
                               tiers=tiers, advance=lambda: bar.advance(task))
    checks: list[tuple[str, dict, dict]] = []
    model_name = None
    if verify != "none":
        torch.set_num_threads(1)
        twin = cli_model(model, checkpoint)
        model_name = getattr(twin, "name", str(model))
        failures = result.binding_failures() if verify == "binding" else []
        with warnings.catch_warnings(), Progress(console=Console(stderr=True), disable=not progress,
                                                 transient=True) as bar:
            warnings.simplefilter("ignore", OutOfDomainWarning)  # the network as it is may be far outside the
            # twin's range: counted in the report instead
            task = bar.add_task(f"the twin on {1 + len(failures)} scenarios, as is and as planned",
                                total=2 * (1 + len(failures)))
            as_is, planned = verify_plan(result, twin, failures, advance=lambda: bar.advance(task))
        checks = [(str(a.changes[0]) if a.changes else "intact",
                   _check(a, max_loss=max_loss, slo_delay_s=slo_delay_s),
                   _check(b, max_loss=max_loss, slo_delay_s=slo_delay_s)) for a, b in zip(as_is, planned, strict=True)]
    doc = plan_report(result, baseline, model_name=model_name, checks=checks, tiers=tiers, max_loss=max_loss,
                      slo_delay_s=slo_delay_s)
    if json_report != "-":
        _print(doc, top)
    write_json_report(json_report, doc)
    if report is not None:
        from twinwatch.stream.commands.plan_html import write_plan_html

        write_plan_html(report, doc, net, top=max(top, 50))
    if out_network is not None:
        dump_network_model(result.planned, out_network,
                           header=f"planned by twinwatch plan from {network.name}: traffic x{growth:g}, links <= "
                                  f"{max_utilization:g} of capacity intact, <= {result.max_utilization_failure:g} "
                                  f"through any single {survive} failure")
    sys.exit(int(ExitCode.OK))
