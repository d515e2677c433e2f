"""``twinwatch network``: validate, import and show network-model files (:mod:`twinwatch.twin.netmodel`).

Expected failures (an invalid file, an unreadable source) end with one line
per problem naming the file and the element, and exit status 1; usage errors
exit 2; ``validate`` over several files where only some are valid exits 3.
"""

from __future__ import annotations

import sys
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from twinwatch.stream.commands._options import atomic_output, json_report_option, out_file_option, write_json_report

if TYPE_CHECKING:
    import numpy as np

    from twinwatch.twin.netmodel import NetworkModel

__all__ = ["network"]

_CTX = {"help_option_names": ["-h", "--help"]}


def _fail(exc: Exception) -> None:
    """Print a model error (every problem, one line each) and exit 1."""
    from twinwatch.twin.netmodel import NetworkModelError

    if isinstance(exc, NetworkModelError):
        for line in exc.lines():
            click.echo(f"error: {line}", err=True)
    else:
        click.echo(f"error: {exc}", err=True)
    sys.exit(1)


@click.group(context_settings=_CTX)
def network() -> None:
    """Validate, import and summarise network-model files.

    \b
    A network model is one YAML file per network: devices (role, vendor,
    loopbacks, customer prefixes, coordinates), links with both ends'
    interfaces, capacity (bits/s), propagation delay or length (km), IGP
    metric per direction, queue profiles, ToS classes and probe pairs. The
    telemetry inventory and the twin's scenarios are built from it. Format:
    twin/netmodel/__init__.py; JSON Schema: twin/netmodel/schema.json.
    Shipped networks: abilene, geant, cogentco, nsfnet (twin/data/networks).

    \b
    Examples:
      twinwatch network validate twin/data/networks/*.yaml
      twinwatch network import --from graphml Geant2012.graphml --out geant.yaml
      twinwatch network show abilene
      twinwatch network plan-probes geant --out geant.yaml

    Exit status: 0 success, 1 invalid input, 2 usage error, 3 partial success
    (validate: some files valid, some not).
    """


@network.command(context_settings=_CTX)
@click.argument("files", nargs=-1, required=True, metavar="FILE...")
@click.option("-q", "--quiet", is_flag=True, help="Print only problems, not the one-line summary of valid files.")
def validate(files: tuple[str, ...], quiet: bool) -> None:
    """Check network-model files against the schema and the semantic rules.

    \b
    Each FILE is a network-model YAML file (or the name of a shipped
    network). Every problem is printed as one line,
      FILE: PATH: MESSAGE      e.g.  lab.yaml: links[3].a.device: unknown device 'r9'
    naming the element (PATH) and the rule broken: unknown device in a link
    end, a link with a missing end, a duplicate interface or link, a capacity
    <= 0, a negative delay, a metric < 1, a self-loop, a repeated YAML key, a
    file that is not UTF-8, a probe naming an unknown device, ... Warnings
    (e.g. a network that is not strongly connected) are printed as
    "warning: ..." and do not make the file invalid.

    \b
    Examples:
      twinwatch network validate lab.yaml
      twinwatch network validate -q twin/data/networks/*.yaml

    Exit status: 0 all valid, 1 all invalid (or the only file), 2 usage error,
    3 some valid and some invalid.
    """
    from twinwatch.twin.netmodel import NetworkModelError, NetworkModelWarning, load_network

    bad = 0
    for f in files:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", NetworkModelWarning)
            try:
                m = load_network(f)
            except NetworkModelError as exc:
                bad += 1
                for line in exc.lines():
                    click.echo(f"error: {line}", err=True)
                continue
        for w in caught:
            click.echo(f"warning: {w.message}", err=True)
        if not quiet:
            click.echo(f"{f}: valid ({m.n_nodes} devices, {m.n_links} directed links, {m.n_probes} probes)")
    if bad:
        sys.exit(1 if bad == len(files) else 3)


@network.command(name="import", context_settings=_CTX)
@click.option("--from", "kind", required=True, type=click.Choice(["graphml", "scenario", "netbox"]),
              help="Source format: a Topology Zoo GraphML file, a scenario YAML file, or a NetBox export.")
@click.argument("sources", nargs=-1, required=True, metavar="SRC...")
@click.option("--out", "out", required=True, metavar="FILE", help="Network-model YAML file to write ('-' for stdout).")
@click.option("--name", default=None, help="Network name (default: from the source).")
@click.option("--vendor", default=None,
              help="graphml/scenario: vendor of every device, for interface names "
                   "(juniper, cisco, arista, nokia; graphml default juniper).")
@click.option("--metric", type=click.Choice(["km", "capacity", "hops"]), default="km", show_default=True,
              help="graphml: IGP metric rule: 1 per great-circle km, OSPF auto-cost (100 Gb/s reference), or 1.")
def import_(kind: str, sources: tuple[str, ...], out: str, name: str | None, vendor: str | None,
            metric: str) -> None:
    """Write a network-model file from another description of the network.

    \b
    --from graphml SRC   a Topology Zoo .graphml file: capacities from its
                         link speeds (10 Gb/s where none), propagation from
                         the nodes' coordinates (great circle, 2e8 m/s),
                         vendor interface names, derived prefixes.
    --from scenario SRC  a twinwatch scenario YAML file: topology, delays
                         and scheduling (traffic and routes are not part of
                         a network model).
    --from netbox SRC... the JSON NetBox's REST API returns for
                         /api/dcim/devices/, /api/dcim/interfaces/ and
                         /api/dcim/cables/ (files in any order, or a folder);
                         capacity from interface speed (kbit/s in NetBox),
                         length from the cable, coordinates and loopbacks
                         from the devices.
    The result is validated before it is written; an invalid source exits 1
    with the element named.

    \b
    Examples:
      twinwatch network import --from graphml ../shared/data/topologies/zoo/Geant2012.graphml --out geant.yaml
      twinwatch network import --from scenario twin/data/nsfnet.yaml --out nsf.yaml
      twinwatch network import --from netbox devices.json interfaces.json cables.json --out dc.yaml

    Exit status: 0 written, 1 invalid or unreadable source, 2 usage error.
    """
    from twinwatch.twin.netmodel import (
        NetworkModelError,
        dump_network_model,
        import_graphml,
        import_netbox,
        import_scenario_yaml,
    )
    from twinwatch.twin.topology import TopologyError

    if kind != "netbox" and len(sources) != 1:
        raise click.BadParameter(f"--from {kind} takes exactly one SRC, got {len(sources)}", param_hint="SRC")
    for s in sources:
        if not Path(s).exists():
            raise click.BadParameter(f"{s!r} does not exist", param_hint="SRC")
    try:
        if kind == "graphml":
            model = import_graphml(sources[0], name=name, vendor=vendor or "juniper", metric=metric)
        elif kind == "scenario":
            model = import_scenario_yaml(sources[0], name=name, vendor=vendor or "")
        else:
            model = import_netbox(sources, name=name or "netbox")
    except (NetworkModelError, TopologyError, ValueError) as exc:
        _fail(exc)
        return
    text = dump_network_model(model, header=f"imported by `twinwatch network import --from {kind}`")
    if out == "-":
        click.echo(text, nl=False)
    else:
        Path(out).write_text(text, encoding="utf-8")
        click.echo(f"wrote {out}: {model.n_nodes} devices, {model.n_links} directed links", err=True)


@network.command(context_settings=_CTX)
@click.argument("file", metavar="FILE")
@click.option("--links/--no-links", default=True, show_default=True, help="List the links (directed, in link order).")
def show(file: str, links: bool) -> None:
    """Summarise a network model as tables: devices, links, capacity, probes.

    \b
    FILE is a network-model YAML file or the name of a shipped network
    (abilene, geant, cogentco, nsfnet). The tables show, per device, its
    number (the twin's node number), role, vendor, links out and egress
    capacity; per directed link its number, id, interfaces, capacity (Gb/s),
    propagation delay (ms) and IGP metric; then the probes, the links no
    probe crosses (delay and silent drops there show in no telemetry) and
    how small a silent loss the probes find within 1 to 18 windows (as
    `twinwatch network plan-probes` reports it).

    \b
    Examples:
      twinwatch network show abilene
      twinwatch network show lab.yaml --no-links

    Exit status: 0 shown, 1 invalid file, 2 usage error.
    """
    import numpy as np
    from rich.console import Console
    from rich.table import Table

    from twinwatch.twin.netmodel import NetworkModelError, load_network

    try:
        m = load_network(file)
    except NetworkModelError as exc:
        _fail(exc)
        return
    con = Console()
    total = float(m.link_capacity_bps.sum())
    con.print(f"[bold]{m.name}[/bold]: {m.n_nodes} devices, {m.n_links} directed links, "
              f"{total / 1e9:,.1f} Gb/s total directed capacity, {m.n_probes} probes"
              + (f" — {m.description}" if m.description else ""))
    deg = np.bincount(m.link_src, minlength=m.n_nodes)
    cap = np.bincount(m.link_src, weights=m.link_capacity_bps, minlength=m.n_nodes)
    t = Table(title="devices")
    for col in ("#", "name", "role", "vendor", "links out", "egress Gb/s", "queue profile"):
        t.add_column(col, justify="right" if col in ("#", "links out", "egress Gb/s") else "left")
    for i, d in enumerate(m.devices):
        t.add_row(str(i), d.name, d.role, d.vendor or "-", str(int(deg[i])), f"{cap[i] / 1e9:g}",
                  d.queue_profile or m.default_queue_profile or "default")
    con.print(t)
    if links:
        lt = Table(title="links")
        for col in ("#", "id", "src interface", "dst interface", "Gb/s", "delay ms", "metric"):
            lt.add_column(col, justify="right" if col in ("#", "Gb/s", "delay ms", "metric") else "left")
        for k, lid in enumerate(m.link_ids):
            lt.add_row(str(k), lid, m.link_src_interface[k], m.link_dst_interface[k],
                       f"{m.link_capacity_bps[k] / 1e9:g}", f"{m.link_prop_delay_s[k] * 1e3:.3f}",
                       str(int(m.link_metric[k])))
        con.print(lt)
    if m.probes:
        pt = Table(title="probes")
        for col in ("name", "src", "dst", "pps", "bytes", "DSCP", "class"):
            pt.add_column(col)
        for k, p in enumerate(m.probes):
            pt.add_row(p.name, p.src, p.dst, f"{p.rate_pps:g}", str(p.size_bytes), str(p.dscp),
                       str(int(m.probe_class[k])))
        con.print(pt)
    covered = _probe_coverage(m)
    blind = [lid for lid, c in zip(m.link_ids, covered.tolist(), strict=True) if not c]
    line = f"probe coverage: {m.n_links - len(blind)} of {m.n_links} directed links crossed by a probe (all links up)"
    if blind:
        more = " ..." if len(blind) > 12 else ""
        line += (f"; delay and silent drops (grey loss) on the other {len(blind)} are measured by no probe: "
                 f"{', '.join(blind[:12])}{more} (`twinwatch network plan-probes` adds probes that cross them)")
    con.print(line)
    reach = _grey_loss_reach(m)
    if reach:
        con.print(_grey_loss_text(reach, m.n_probes))
    for w in m.warnings:
        con.print(f"[yellow]warning:[/yellow] {w}")


def _grey_loss_reach(m: Any) -> dict[str, Any] | None:
    """How small a silent loss the model's probes find (:func:`twinwatch.detectors.probe_loss.detectable_loss`)
    at the service's default window and level: for the median probe's rate, and for the median link crossed by two
    or more probes, whose packets the detector pools (``pooled_loss_ratio``); None without probes."""
    import numpy as np

    from twinwatch.detectors.probe_loss import DEFAULT_SCALES, detectable_loss
    from twinwatch.stream.config import DetectionConfig, WindowConfig

    if m.n_probes == 0:
        return None
    window_s, alpha, power, windows = WindowConfig().seconds, DetectionConfig().alpha, 0.9, DEFAULT_SCALES
    rate = float(np.median(m.probe_rate_pps))
    q = [detectable_loss(rate * window_s, w, m.n_probes, alpha, power=power) for w in windows]
    count, pps = _probes_per_link(m)
    pooled = count >= 2
    link_rate = float(np.median(pps[pooled])) if pooled.any() else 0.0
    q_link = [detectable_loss(link_rate * window_s, w, int(pooled.sum()), alpha, power=power) if pooled.any()
              else float("nan") for w in windows]

    def ratios(x: list[float]) -> list[float | None]:
        return [None if np.isnan(v) else round(v, 6) for v in x]

    return {"window_s": window_s, "alpha": alpha, "power": power, "probe_rate_pps": rate, "windows": list(windows),
            "loss_ratio": ratios(q), "links_pooled": int(pooled.sum()), "pooled_rate_pps": link_rate,
            "pooled_loss_ratio": ratios(q_link)}


def _grey_loss_text(reach: dict[str, Any], n_probes: int) -> str:
    """One line of :func:`_grey_loss_reach`, for the summaries of ``show`` and ``plan-probes``."""
    def ratios(key: str) -> str:
        return " / ".join("-" if q is None else f"{100 * q:.2g}" for q in reach[key])

    line = ("a silent loss is found within " + " / ".join(map(str, reach["windows"]))
            + f" windows of {reach['window_s']:g} s in {100 * reach['power']:.0f} % of cases from "
            + ratios("loss_ratio")
            + f" % up (alpha {reach['alpha']:g} over {n_probes} probes at {reach['probe_rate_pps']:g} packets/s)")
    if reach.get("links_pooled"):
        line += (f"; on the median of the {reach['links_pooled']} links crossed by two or more probes, pooled "
                 f"({reach['pooled_rate_pps']:g} packets/s), from " + ratios("pooled_loss_ratio") + " %")
    return line


@network.command(name="plan-probes", context_settings=_CTX)
@click.argument("file", metavar="FILE")
@out_file_option(inputs=("file",), required=True, allow_stdout=True,
                 help="Network-model YAML file to write, with the planned probes ('-' for stdout).")
@click.option("--cover", type=click.IntRange(min=1), default=1, show_default=True,
              help="Probes that must cross every link.")
@click.option("--separate/--no-separate", default=True, show_default=True,
              help="After covering, add probes until no two links are crossed by the same set of probes "
                   "(so the probes alone name a faulty link).")
@click.option("--max-probes", type=click.IntRange(min=0), default=None, metavar="N",
              help="Most probes in all, existing ones included (default: as many as the plan needs).")
@click.option("--role", "roles", multiple=True, metavar="ROLE",
              help="Only devices of this role source or sink probes (repeatable; default: every device).")
@click.option("--replace", is_flag=True, help="Plan from scratch instead of keeping the file's probes.")
@click.option("--rate-pps", type=click.FloatRange(min=0, min_open=True), default=None,
              help="Packets per second of each new probe.  [default: 10, or what --find-loss needs]")
@click.option("--find-loss", type=click.FloatRange(min=0, max=1, min_open=True, max_open=True), default=None,
              metavar="RATIO", help="Give the new probes the fewest packets per second at which a silent loss of "
                                    "RATIO (0.01: 1 %) is found within --within windows (instead of --rate-pps).")
@click.option("--within", type=click.IntRange(1, 18), default=3, show_default=True, metavar="N",
              help="Windows (of the service's default 10 s) within which --find-loss must find the loss.")
@click.option("--size-bytes", type=click.IntRange(20, 65535), default=128, show_default=True,
              help="Packet size of each new probe, bytes.")
@json_report_option
def plan_probes(file: str, out: str, cover: int, separate: bool, max_probes: int | None, roles: tuple[str, ...],
                replace: bool, rate_pps: float | None, find_loss: float | None, within: int, size_bytes: int,
                json_report: str | None) -> None:
    """Add probes so that every link is measured and a faulty link can be named.

    \b
    Delay and silent drops (grey loss) on a link show only in the active
    probes (TWAMP, Y.1731, ...) whose packets cross it; interface counters
    do not count silent drops. The plan routes every device pair on the
    model (IGP metrics, ECMP, explicit routes; every link up) and adds,
    greedily, the pair whose path crosses the most links not yet crossed
    by --cover probes; then (--separate) the pair that splits the most
    groups of links crossed by the same probes, until each link has a set
    of probes of its own. With ECMP a pair counts only the links every
    equal-cost path crosses, so the coverage holds whichever path the
    routers' hash gives the probe. Links no pair can cover that way (a
    backup link no shortest path uses, an ECMP bundle) are listed.
    The file's own probes are kept and counted first (--replace: not).
    New probes are named SRC-DST, send --rate-pps packets of --size-bytes,
    one in four marked EF (DSCP 46), the rest best effort. With
    --find-loss RATIO they send the fewest packets per second at which a
    silent loss of RATIO is found within --within windows instead.

    \b
    The result is validated before it is written; a summary goes to
    standard error, and --json writes it as JSON: probes before/added/
    after, links covered, links told apart, links no probe can cover,
    and how small a silent loss the probes find within 1, 3, 6 and 18
    windows (90 % of cases, the service's default 10 s windows and
    alpha, the median probe's rate, a long clean history): more probes
    need a larger loss, more packets per second find a smaller one.

    \b
    Examples:
      twinwatch network plan-probes geant --out geant.yaml
      twinwatch network plan-probes lab.yaml --role pe --max-probes 40 --out lab-probes.yaml
      twinwatch network plan-probes lab.yaml --replace --cover 2 --out - | less
      twinwatch network plan-probes lab.yaml --find-loss 0.01 --within 3 --out lab-probes.yaml

    \b
    Exit status: 0 written, 1 invalid file (or a --role no device has),
    2 usage error.
    """
    import numpy as np

    from twinwatch.detectors.probe_loss import rate_for_loss
    from twinwatch.stream.config import DetectionConfig, WindowConfig
    from twinwatch.twin.netmodel import NetworkModelError, dump_network_model, load_network
    from twinwatch.twin.probe_plan import plan_network_probes

    if find_loss is not None and rate_pps is not None:
        raise click.UsageError("give --rate-pps or --find-loss, not both")
    try:
        m = load_network(file)

        def planned(rate: float) -> tuple[Any, Any]:
            return plan_network_probes(m, cover=cover, separate=separate, max_probes=max_probes,
                                       roles=roles or None, replace=replace, rate_pps=rate, size_bytes=size_bytes)

        new, plan = planned(10.0 if rate_pps is None else rate_pps)
        needed = None
        if find_loss is not None and new.n_probes:  # the plan does not depend on the rate: plan, then set it
            needed = rate_for_loss(find_loss, within, new.n_probes, DetectionConfig().alpha,
                                   window_s=WindowConfig().seconds)
            if needed is None:
                raise ValueError(f"no probe rate up to 100,000 packets/s finds a {100 * find_loss:g} % silent loss "
                                 f"within {within} windows over {new.n_probes} probes")
            new, plan = planned(float(needed))
    except (NetworkModelError, ValueError) as exc:
        _fail(exc)
        return
    covered = int((plan.covered >= cover).sum())
    blind = [lid for lid, u in zip(new.link_ids, plan.uncoverable.tolist(), strict=True) if u]
    header = (f"probes planned by `twinwatch network plan-probes` (cover {cover}, "
              f"{'separated' if separate else 'not separated'}): {new.n_probes} probes")
    with atomic_output(out) as fh:
        fh.write(dump_network_model(new, header=header).encode("utf-8"))
    kept = 0 if replace else m.n_probes
    summary = {"file": file, "out": out, "probes_before": m.n_probes, "probes_kept": kept,
               "probes_added": len(plan.src),
               "added_to_cover": int(np.count_nonzero(plan.stage == "cover")),
               "added_to_separate": int(np.count_nonzero(plan.stage == "separate")),
               "probes_after": new.n_probes, "links": new.n_links, "links_covered": covered, "cover": cover,
               "links_told_apart": plan.n_signatures, "uncoverable_links": blind,
               "budget_exhausted": plan.budget_exhausted,
               "grey_loss_detectable": _grey_loss_reach(new),
               "find_loss": None if needed is None else {"loss_ratio": find_loss, "within_windows": within,
                                                          "rate_pps": needed}}
    line = (f"{new.name}: {new.n_probes} probes ({len(plan.src)} added, {kept} kept); "
            f"{covered} of {new.n_links} directed links crossed by >= {cover} probe(s); "
            f"{plan.n_signatures} distinct probe signatures")
    if needed is not None:
        line += (f"; new probes at {needed} packets/s to find a {100 * find_loss:g} % silent loss within {within} "
                 "windows")
    if summary["grey_loss_detectable"]:
        line += "; " + _grey_loss_text(summary["grey_loss_detectable"], new.n_probes)
    if blind:
        line += f"; no probe can cover {len(blind)}: {', '.join(blind[:12])}{' ...' if len(blind) > 12 else ''}"
    if plan.budget_exhausted:
        line += f"; stopped at --max-probes {max_probes}"
    click.echo(line, err=True)
    write_json_report(json_report, summary)


def _probe_coverage(m: NetworkModel) -> np.ndarray:
    """``(E,)`` bool: the links of network model ``m`` that a probe crosses with every link up."""
    return _probes_per_link(m)[0] > 0


def _probes_per_link(m: NetworkModel) -> tuple[np.ndarray, np.ndarray]:
    """``(E,)`` how many probes of network model ``m`` cross each link with every link up, and their packets/s."""
    import numpy as np

    from twinwatch.twin.probes import probes_per_link
    from twinwatch.twin.snapshot import SnapshotBuilder

    routing = SnapshotBuilder(m).routing(np.ones(m.n_links, dtype=bool))
    return probes_per_link(routing, m.probe_src, m.probe_dst, m.probe_class, m.probe_rate_pps)
