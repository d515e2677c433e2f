"""``twinwatch network``: validate, import and show network-model files (:mod:`twinwatch.twin.netmodel`).

Expected failures (an invalid file, an unreadable source) end with one line
per problem naming the file and the element, and exit status 1; usage errors
exit 2; ``validate`` over several files where only some are valid exits 3.
"""

from __future__ import annotations

import sys
import warnings
from pathlib import Path
from typing import TYPE_CHECKING

import click

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
    propagation delay (ms) and IGP metric; then the probes and the links no
    probe crosses (delay and silent drops there show in no telemetry).

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
                 f"{', '.join(blind[:12])}{more}")
    con.print(line)
    for w in m.warnings:
        con.print(f"[yellow]warning:[/yellow] {w}")


def _probe_coverage(m: NetworkModel) -> np.ndarray:
    """``(E,)`` bool: the links of network model ``m`` that a probe crosses with every link up."""
    import numpy as np

    from twinwatch.twin.probes import probed_links
    from twinwatch.twin.snapshot import SnapshotBuilder

    routing = SnapshotBuilder(m).routing(np.ones(m.n_links, dtype=bool))
    return probed_links(routing, m.probe_src, m.probe_dst, m.probe_class)
