"""``twinwatch whatif``: the twin's answer to "what if this link or router went down, this capacity changed, the
traffic grew?", on the operator's network model and their own telemetry.

The baseline traffic is a window of recorded telemetry replayed through the service's pipeline (the same
decoding, counters, windows and traffic-matrix estimate as ``twinwatch run``; the busiest window, or the one at
``--at``), or an ``N × N`` matrix file. The changes are :mod:`twinwatch.twin.whatif` edits; the report compares
every demand's expected delay, jitter and loss and every link's load before and after.
"""

from __future__ import annotations

import math
import os
import sys
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click
import numpy as np

from twinwatch.stream.commands._options import (
    EXIT_STATUS_HELP,
    MODEL_NAMES,
    ExitCode,
    FiniteFloatRange,
    checkpoint_option,
    json_report_option,
    output_folder_exists,
    progress_option,
    write_json_report,
)

__all__ = ["Baseline", "baseline_doc", "baseline_from_captures", "baseline_options", "iter_windows", "load_baseline",
           "ms_text", "pct_text", "report_console", "whatif", "whatif_report"]


@dataclass
class Baseline:
    """The traffic a what-if starts from: the matrix, the links down then, and where it came from."""

    traffic: Any  # twin.traffic_matrix.TrafficMatrix
    links_down: tuple[str, ...]
    source: str
    """``"matrix FILE"`` or ``"telemetry"``."""
    windows: int = 0
    """Windows the telemetry held (``telemetry`` only)."""
    tm_source: str = ""
    """What measured the window's matrix (``flows``, ``mixed``, ``counters``)."""
    messages: int = 0
    """Messages the captures held (``telemetry`` only)."""
    dead_letters: int = 0
    """Messages the adapters refused (``telemetry`` only)."""


class _NoDetector:
    """The pipeline's detector slot, empty: a what-if needs the windows' snapshots, not alerts."""

    def detect(self, snapshot: Any, prediction: Any, upper: Any = None) -> None:
        return None


def iter_windows(streams: Mapping[str, Sequence[bytes]], model: Any, *, window_s: float, lateness_s: float,
                 progress: bool = False, counts: dict[str, int] | None = None,
                 **pipeline: Any) -> Iterator[Any]:
    """Every closed window of the captures (:class:`~twinwatch.stream.pipeline.WindowResult`, its ``snapshot``
    ``None`` when the window had no rows), in the order the service closes them.

    The captures go through :class:`~twinwatch.stream.pipeline.Pipeline` as in ``twinwatch replay``: the same
    adapters, counters, windows and snapshots, without the twin or the detectors. ``counts`` (when given) gets
    ``messages`` and ``dead_letters`` (what the adapters refused, as ``twinwatch replay --dlq`` lists it);
    ``pipeline`` goes to the :class:`~twinwatch.stream.pipeline.Pipeline` (``flow_matrix``, ``matrix_classes``).
    """
    from rich.console import Console
    from rich.progress import Progress

    from twinwatch.stream.pipeline import Pipeline, iter_interleave

    counts = {} if counts is None else counts
    counts.setdefault("messages", 0)
    counts.setdefault("dead_letters", 0)
    pipe = Pipeline([model], None, window_s=window_s, lateness_s=lateness_s, max_age_s=None, sources=streams,
                    idle_s=float("inf"), detector_factory=lambda _m: _NoDetector(), **pipeline)
    with Progress(console=Console(stderr=True), disable=not progress, transient=True) as bar:
        task = bar.add_task("reading the telemetry", total=sum(len(v) for v in streams.values()))
        for fmt, chunk in iter_interleave(streams):
            out = pipe.process(chunk, fmt)
            counts["messages"] += len(chunk)
            counts["dead_letters"] += len(out.dead_letters)
            yield from out.windows
            bar.advance(task, len(chunk))
        out = pipe.flush()
        counts["dead_letters"] += len(out.dead_letters)
        yield from out.windows


def baseline_from_captures(streams: Mapping[str, Sequence[bytes]], model: Any, *, window_s: float,
                           lateness_s: float, at: float | None = None, progress: bool = False,
                           **pipeline: Any) -> Baseline:
    """The busiest window of the captures (largest total demand), or the one holding epoch second ``at``
    (:func:`iter_windows`, with ``pipeline`` options). Raises :class:`click.ClickException` when no window has
    traffic (or none holds ``at``).
    """
    best: Any = None
    best_total, windows, first, last = -1.0, 0, math.inf, -math.inf
    counts: dict[str, int] = {}
    for wr in iter_windows(streams, model, window_s=window_s, lateness_s=lateness_s, progress=progress,
                           counts=counts, **pipeline):
        windows += 1
        first, last = min(first, wr.start), max(last, wr.end)
        snap = wr.snapshot
        if snap is None:
            continue
        total = float(np.asarray(snap.traffic.rate_bps).sum())
        if at is not None:
            if wr.start <= at < wr.end:
                best, best_total = snap, total
        elif total > best_total:
            best, best_total = snap, total
    if counts["dead_letters"]:  # said before any error below: a capture the adapters refuse is why there is none
        click.echo(f"warning: {counts['dead_letters']} of {counts['messages']} message(s) were refused by the "
                   "adapters and left out (`twinwatch replay --dlq FILE` lists them with the reason)", err=True)
    if best is None:
        if at is not None:
            span = (f"the telemetry covers {_iso(first)} to {_iso(last)}" if windows else "it holds no window")
            raise click.ClickException(f"--at {_iso(at)}: no window of the telemetry holds it ({span})")
        raise click.ClickException("the telemetry gives no window with traffic for this network (do the captures "
                                   "name its devices?)")
    return Baseline(best.traffic, tuple(best.links_down), "telemetry", windows, best.tm_source,
                    counts["messages"], counts["dead_letters"])


def _iso(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).isoformat(timespec="seconds") if math.isfinite(t) else "?"


def _epoch(ctx: click.Context, param: click.Parameter, value: str | None) -> float | None:
    """``--at``: epoch seconds or an ISO 8601 time (UTC when it names no zone)."""
    if value is None:
        return None
    try:
        return float(value)
    except ValueError:
        pass
    try:
        t = datetime.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(f"{value!r}: expected epoch seconds or an ISO 8601 time such as "
                                 "2026-12-01T14:00:00Z") from None
    return (t if t.tzinfo else t.replace(tzinfo=UTC)).timestamp()


def ms_text(x: float) -> str:
    return "–" if not math.isfinite(x) else f"{x * 1e3:.3f}"


def pct_text(x: float) -> str:
    return "–" if not math.isfinite(x) else f"{x * 100:.1f}%"


def summarise(res: Any, *, slo_delay_s: float | None, max_utilization: float) -> dict[str, Any]:
    """What a :class:`~twinwatch.twin.whatif.WhatIf` costs: demands cut off or rerouted, peak utilisation, the
    links newly over ``max_utilization``, the demands over ``slo_delay_s`` (seconds) and the worst delay growth."""
    m, d, lk = res.model, res.demands, res.links
    lost = d.routed_before & ~d.routed_after
    rerouted = d.routed_before & d.routed_after & (d.hops_before != d.hops_after)
    over_b = lk.utilization_before > max_utilization
    over_a = lk.utilization_after > max_utilization
    gone = np.isin(d.src, [m.node_index[c.target] for c in res.changes if c.kind == "fail-node"])
    gone |= np.isin(d.dst, [m.node_index[c.target] for c in res.changes if c.kind == "fail-node"])
    grow = np.where(d.routed_before & d.routed_after, d.delay_after_s - d.delay_before_s, np.nan)
    worst = int(np.nanargmax(grow)) if np.isfinite(grow).any() and np.nanmax(grow) > 0 else -1
    summary: dict[str, Any] = {
        "demands": len(d),
        "offered_before_bps": float(d.rate_before_bps.sum()),
        "offered_after_bps": float(d.rate_after_bps.sum()),
        "demands_without_route_after": int(lost.sum()),
        "routers_down": [c.target for c in res.changes if c.kind == "fail-node"],
        "traffic_without_route_after_bps": res.unrouted_after_bps,
        "transit_traffic_without_route_after_bps": float(d.rate_after_bps[lost & ~gone].sum()),
        "demands_on_longer_paths": int((rerouted & (d.hops_after > d.hops_before)).sum()),
        "peak_utilization_before": float(np.max(lk.utilization_before, initial=0.0)),
        "peak_utilization_after": float(np.max(lk.utilization_after, initial=0.0)),
        "peak_link_after": m.link_ids[int(np.argmax(lk.utilization_after))] if m.n_links else None,
        "max_utilization": max_utilization,
        "links_over_max_utilization_after": [m.link_ids[i] for i in np.flatnonzero(over_a)],
        "links_newly_over_max_utilization": [m.link_ids[i] for i in np.flatnonzero(over_a & ~over_b)],
        "worst_delay_growth": None if worst < 0 else {
            "src": m.node_names[int(d.src[worst])], "dst": m.node_names[int(d.dst[worst])],
            "delay_before_s": float(d.delay_before_s[worst]), "delay_after_s": float(d.delay_after_s[worst])},
    }
    if slo_delay_s is not None:
        breach_b = d.routed_before & (d.delay_before_s > slo_delay_s)
        breach_a = d.routed_after & (d.delay_after_s > slo_delay_s)
        summary.update(slo_delay_s=slo_delay_s, demands_over_slo_after=int(breach_a.sum()),
                       demands_newly_over_slo=int((breach_a & ~breach_b).sum()))
    return summary


def baseline_doc(baseline: Baseline) -> dict[str, Any]:
    base = {"source": baseline.source, "window_start": baseline.traffic.start, "window_end": baseline.traffic.end,
            "links_down": list(baseline.links_down)}
    if baseline.source == "telemetry":
        base.update(windows=baseline.windows, tm_source=baseline.tm_source, messages=baseline.messages,
                    dead_letters=baseline.dead_letters)
    return base


def whatif_report(res: Any, baseline: Baseline, *, model_name: str, slo_delay_s: float | None,
                  max_utilization: float) -> dict[str, Any]:
    """The JSON document of a :class:`~twinwatch.twin.whatif.WhatIf`: summary, every demand and every link.

    Delays and jitter in seconds, rates in bit/s, utilisation and loss as ratios (0..1); NaN is ``null``.
    """
    m, d, lk = res.model, res.demands, res.links
    names = m.node_names
    summary = summarise(res, slo_delay_s=slo_delay_s, max_utilization=max_utilization)
    demands = [{"src": names[s], "dst": names[t], "rate_before_bps": d.rate_before_bps[i],
                "rate_after_bps": d.rate_after_bps[i], "routed_before": bool(d.routed_before[i]),
                "routed_after": bool(d.routed_after[i]), "hops_before": int(d.hops_before[i]),
                "hops_after": int(d.hops_after[i]), "propagation_before_s": d.prop_before_s[i],
                "propagation_after_s": d.prop_after_s[i], "delay_before_s": d.delay_before_s[i],
                "delay_after_s": d.delay_after_s[i], "jitter_before_s": d.jitter_before_s[i],
                "jitter_after_s": d.jitter_after_s[i], "loss_before": d.loss_before[i],
                "loss_after": d.loss_after[i]}
               for i, (s, t) in enumerate(zip(d.src.tolist(), d.dst.tolist(), strict=True))]
    links = [{"link": lid, "capacity_before_bps": lk.capacity_before_bps[i],
              "capacity_after_bps": lk.capacity_after_bps[i], "load_before_bps": lk.load_before_bps[i],
              "load_after_bps": lk.load_after_bps[i], "utilization_before": lk.utilization_before[i],
              "utilization_after": lk.utilization_after[i], "loss_before": lk.loss_before[i],
              "loss_after": lk.loss_after[i], "down_before": bool(lk.down_before[i]),
              "down_after": bool(lk.down_after[i])} for i, lid in enumerate(m.link_ids)]
    return {"network": m.name, "model": model_name, "baseline": baseline_doc(baseline),
            "changes": [str(c) for c in res.changes], "summary": summary, "demands": demands, "links": links}


def report_console() -> Any:
    """Rich console on stdout; piped to a file it is 160 columns wide rather than 80, so the tables stay whole."""
    from rich.console import Console

    con = Console(highlight=False, soft_wrap=True)
    if not con.is_terminal and "COLUMNS" not in os.environ:
        con = Console(highlight=False, soft_wrap=True, width=160)
    return con


def _print(doc: dict[str, Any], res: Any, top: int) -> None:
    """The report as an operator reads it: what changed, what it costs, the worst demands and links."""
    from rich.table import Table

    from twinwatch.twin.netmodel.units import rate_text

    con = report_console()
    s, b = doc["summary"], doc["baseline"]
    when = f"window {_iso(b['window_start'])} – {_iso(b['window_end'])}" if b["source"] == "telemetry" else ""
    src = (f"the busiest of {b['windows']} telemetry windows, {when} (matrix from {b['tm_source']})"
           if b["source"] == "telemetry" else b["source"])
    con.print(f"[bold]{doc['network']}[/]: {', '.join(doc['changes']) or 'no change'} "
              f"(twin: {doc['model']}; baseline: {src}; {rate_text(s['offered_before_bps'])} offered"
              f"{'; down then: ' + ', '.join(b['links_down']) if b['links_down'] else ''})")
    lines = [f"peak link utilisation {pct_text(s['peak_utilization_before'])} → "
             f"{pct_text(s['peak_utilization_after'])}"]
    if s["demands_without_route_after"]:
        lines.append(f"[red]{s['demands_without_route_after']} demand(s) lose their route "
                     f"({rate_text(s['traffic_without_route_after_bps'])})[/]")
        cut = [f"{x['src']} → {x['dst']}" for x in doc["demands"] if x["routed_before"] and not x["routed_after"]
               and x["src"] not in s["routers_down"] and x["dst"] not in s["routers_down"]]
        if cut:
            lines.append(f"[red]  cut off (neither end is a router taken down): {', '.join(cut[:8])}"
                         f"{f' and {len(cut) - 8} more' if len(cut) > 8 else ''}[/]")
    if s["demands_on_longer_paths"]:
        lines.append(f"{s['demands_on_longer_paths']} demand(s) rerouted onto longer paths")
    if s["links_newly_over_max_utilization"]:
        lines.append(f"[red]over {pct_text(s['max_utilization'])} utilisation after: "
                     f"{', '.join(s['links_newly_over_max_utilization'])}[/]")
    if "slo_delay_s" in s:
        lines.append(f"{s['demands_over_slo_after']} demand(s) over the {ms_text(s['slo_delay_s'])} ms delay SLO after"
                     f" ({s['demands_newly_over_slo']} new)")
    for line in lines:
        con.print(f"  {line}")
    d = res.demands
    change = np.where(d.routed_before & d.routed_after, d.delay_after_s - d.delay_before_s, np.nan)
    change = np.where(np.isnan(change), -np.inf, change)
    order = [i for i in np.argsort(-change, kind="stable")[:top] if change[i] > 0]
    if order:
        t = Table(title=f"Demands whose delay grows most (top {top})", title_justify="left")
        for col in ("demand", "rate", "delay ms", "after ms", "change", "hops", "loss"):
            t.add_column(col, justify="left" if col == "demand" else "right", no_wrap=True)
        for i in order:
            row = doc["demands"][i]
            grow = f"+{(row['delay_after_s'] / row['delay_before_s'] - 1) * 100:.0f}%" if row["delay_before_s"] else ""
            t.add_row(f"{row['src']} → {row['dst']}", rate_text(row["rate_after_bps"]),
                      ms_text(row["delay_before_s"]), ms_text(row["delay_after_s"]), grow,
                      f"{row['hops_before']} → {row['hops_after']}", pct_text(row["loss_after"]))
        con.print(t)
    lk = res.links
    busiest = np.argsort(-lk.utilization_after, kind="stable")[:top]
    t = Table(title=f"Busiest links after (top {top})", title_justify="left")
    for col in ("link", "capacity", "utilisation", "after", "loss"):
        t.add_column(col, justify="left" if col == "link" else "right", no_wrap=True)
    for i in busiest:
        row = doc["links"][i]
        style = "red" if row["utilization_after"] > s["max_utilization"] else None
        t.add_row(row["link"], rate_text(row["capacity_after_bps"]), pct_text(row["utilization_before"]),
                  pct_text(row["utilization_after"]), pct_text(row["loss_after"]), style=style)
    con.print(t)


def _each(net: Any, baseline: Baseline, changes: list[Any], twin: Any, each: str, *, model_name: str,
          slo_delay_s: float | None, max_utilization: float, progress: bool) -> dict[str, Any]:
    """Every single cable (or router) failure on top of ``changes``, summarised and ranked, worst first."""
    from rich.console import Console
    from rich.progress import Progress

    from twinwatch.twin.whatif import WhatIfError, failure_set, iter_what_if

    singles = failure_set(net, each)
    rows = []
    try:
        with Progress(console=Console(stderr=True), disable=not progress, transient=True) as bar:
            task = bar.add_task(f"{len(singles)} single {each} failures", total=len(singles))
            variants = ([*changes, one] for one in singles)
            for one, res in zip(singles, iter_what_if(net, baseline.traffic, variants, twin,
                                                      links_down=baseline.links_down), strict=True):
                rows.append({"failure": str(one), **summarise(res, slo_delay_s=slo_delay_s,
                                                              max_utilization=max_utilization)})
                bar.advance(task)
    except WhatIfError as exc:
        raise click.UsageError(str(exc)) from None
    rows.sort(key=lambda r: (-r["transit_traffic_without_route_after_bps"], -len(r["links_newly_over_max_utilization"]),
                             -r["peak_utilization_after"]))
    return {"network": net.name, "model": model_name, "baseline": baseline_doc(baseline),
            "changes": [str(c) for c in changes], "each": each, "variants": rows}


def _print_each(doc: dict[str, Any], top: int) -> None:
    from rich.table import Table

    from twinwatch.twin.netmodel.units import rate_text

    con = report_console()
    rows = doc["variants"]
    base = f" on top of {', '.join(doc['changes'])}" if doc["changes"] else ""
    con.print(f"[bold]{doc['network']}[/]: {len(rows)} single {doc['each']} failures{base} (twin: {doc['model']}), "
              "worst first")
    t = Table(title=f"Single {doc['each']} failures ranked by impact (top {top})", title_justify="left")
    over = f"new > {pct_text(rows[0]['max_utilization'])}" if rows else "new over"
    for col in (doc["each"], "cut off", "peak after", "on link", over, "worst delay growth (ms)"):
        t.add_column(col, justify="left" if col in (doc["each"], "on link", "worst delay growth (ms)") else "right",
                     no_wrap=True)
    for r in rows[:top]:
        w = r["worst_delay_growth"]
        grow = (f"{w['src']} → {w['dst']} {ms_text(w['delay_before_s'])} → {ms_text(w['delay_after_s'])}" if w else "–")
        t.add_row(r["failure"].split(" ", 1)[1], rate_text(r["transit_traffic_without_route_after_bps"]),
                  pct_text(r["peak_utilization_after"]), r["peak_link_after"] or "–",
                  str(len(r["links_newly_over_max_utilization"])), grow)
    con.print(t)


def baseline_options(f: Any) -> Any:
    """The options that say where a what-if or a plan starts from, shared by ``twinwatch whatif`` and ``twinwatch
    plan``: ``--capture``, ``--format``, ``--at``, ``--config``, ``--window``, ``--lateness``, ``--matrix``,
    ``--model``, ``--checkpoint``; :func:`load_baseline` reads them."""
    for option in reversed(_BASELINE_OPTIONS):
        f = option(f)
    return f


_BASELINE_OPTIONS = [
    click.option("--capture", "captures", multiple=True,
                 type=click.Path(dir_okay=False, exists=True, path_type=Path),
                 help="Recorded telemetry as `twinwatch replay` reads it (JSONL or Parquet, one file per collector "
                      "format; repeat the option). Its busiest window (or the one at --at) is the baseline traffic."),
    click.option("--format", "fmt", default=None,
                 help="Collector format of the captures when their names do not say it "
                      "(twinwatch.raw.<format>.jsonl)."),
    click.option("--at", callback=_epoch, default=None, metavar="TIME",
                 help="Use the telemetry window holding TIME (epoch seconds or ISO 8601, UTC by default) instead of "
                      "the busiest."),
    click.option("--config", "config_path", type=click.Path(dir_okay=False, exists=True, path_type=Path),
                 default=None, metavar="FILE",
                 help="The service's configuration (TWINWATCH_* variables apply as for `twinwatch run`): its twin "
                      "(twin.model, twin.checkpoint), window (window.seconds, window.allowed_lateness_s) and "
                      "traffic-matrix settings (detection.flow_matrix, detection.matrix_classes), unless given "
                      "here."),
    click.option("--window", "window_s", type=FiniteFloatRange(1.0, 3600.0), default=None,
                 help="Window length of the telemetry, seconds [default: the --config's window.seconds, else 10]."),
    click.option("--lateness", "lateness_s", type=FiniteFloatRange(0.0, 3600.0), default=None,
                 help="Allowed lateness of the telemetry, seconds [default: the --config's "
                      "window.allowed_lateness_s, else 5]."),
    click.option("--matrix", "matrix_file", type=click.Path(dir_okay=False, exists=True, path_type=Path),
                 help="The baseline traffic as an N x N matrix (bit/s; text or .npy; rows and columns in the "
                      "model's device order) instead of telemetry."),
    click.option("--model", default=None,
                 help=f"Twin: {MODEL_NAMES} [default: the shipped GNN, which predicted the queueing delay after "
                      "such changes best in BENCHMARKS.md 'What-if' and 'Capacity planning'; qt when its "
                      "checkpoint cannot load]."),
    checkpoint_option,
]


def load_baseline(network: Path, *, captures: tuple[Path, ...], fmt: str | None, at: float | None,
                  config_path: Path | None, window_s: float | None, lateness_s: float | None,
                  matrix_file: Path | None, model: str | None, checkpoint: Path | None, progress: bool
                  ) -> tuple[Any, Baseline, str | None, Path | None]:
    """The network model, the :class:`Baseline` and the twin's ``(model, checkpoint)`` the
    :func:`baseline_options` name (the ``--config``'s twin unless given); :class:`click.ClickException` or
    :class:`click.UsageError` naming what is wrong."""
    from twinwatch.stream.commands.replay import open_captures
    from twinwatch.stream.config import ConfigError, load_config
    from twinwatch.twin.netmodel import load_network
    from twinwatch.twin.netmodel.errors import NetworkModelError
    from twinwatch.twin.sim.scenarios import load_matrix
    from twinwatch.twin.whatif import matrix_from_array

    try:
        cfg = load_config(config_path)
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from None
    if config_path is not None and model is None and checkpoint is None:
        model, checkpoint = cfg.twin.model, Path(cfg.twin.checkpoint) if cfg.twin.checkpoint else None
    window_s = cfg.window.seconds if window_s is None else window_s
    lateness_s = cfg.window.allowed_lateness_s if lateness_s is None else lateness_s
    if bool(captures) == (matrix_file is not None):
        raise click.UsageError("give the baseline traffic: --capture FILE... (recorded telemetry) or --matrix FILE")
    if at is not None and not captures:
        raise click.UsageError("--at picks a telemetry window: it needs --capture")
    try:
        net = load_network(network)
    except NetworkModelError as exc:  # its message starts with the file
        raise click.ClickException(str(exc)) from None
    except (OSError, ValueError) as exc:
        raise click.ClickException(f"{network}: {exc}") from None
    if matrix_file is not None:
        try:
            tm = load_matrix(matrix_file)
        except ValueError as exc:
            raise click.ClickException(str(exc)) from None
        if tm.shape[0] != net.n_nodes:
            raise click.ClickException(f"{matrix_file}: a {tm.shape[0]} x {tm.shape[0]} matrix for a network of "
                                       f"{net.n_nodes} devices ({', '.join(net.node_names[:5])}, ...)")
        return net, Baseline(matrix_from_array(tm, tos=int(net.dscp_class[0])), (), f"matrix {matrix_file}"), \
            model, checkpoint
    streams, empty = open_captures(captures, fmt)
    if len(empty) == len(captures):
        raise click.ClickException(f"{', '.join(map(str, empty[:5]))}: empty capture(s) (no message): no "
                                   "baseline traffic")
    for path in empty:
        click.echo(f"warning: {path}: empty capture (no message); nothing read from it", err=True)
    baseline = baseline_from_captures(streams, net, window_s=window_s, lateness_s=lateness_s, at=at,
                                      progress=progress, flow_matrix=cfg.detection.flow_matrix,
                                      matrix_classes=cfg.detection.matrix_classes)
    return net, baseline, model, checkpoint


@click.command("whatif", epilog=EXIT_STATUS_HELP)
@click.argument("network", type=click.Path(dir_okay=False, exists=True, path_type=Path))
@baseline_options
@click.option("--fail", "fails", multiple=True, metavar="LINK",
              help="Take a link down: A->B one direction, A<->B both (repeat the option).")
@click.option("--fail-node", "fail_nodes", multiple=True, metavar="DEVICE",
              help="Take a router down: every link to and from it.")
@click.option("--capacity", "capacities", multiple=True, metavar="LINK=RATE",
              help="A link's new capacity, e.g. 'CHIN<->IPLS=5G' (a configured IGP metric stays; a link "
                   "without one takes the reference-bandwidth cost of its new capacity, as its routers would).")
@click.option("--metric", "metrics", multiple=True, metavar="LINK=N", help="A link's new IGP metric.")
@click.option("--scale", type=FiniteFloatRange(0.0, 1e6), default=None,
              help="Every demand times this factor (1.3 = 30 % growth), applied after --demand.")
@click.option("--demand", "demands", multiple=True, metavar="SRC,DST=RATE",
              help="Add a demand, e.g. 'NYCM,LOSA=2G' (best-effort class).")
@click.option("--slo-delay", "slo_delay_s", type=FiniteFloatRange(0.0, 3600.0, min_open=True), default=None,
              metavar="SECONDS", help="Count the demands whose expected delay exceeds this (e.g. 0.030).")
@click.option("--max-utilization", type=FiniteFloatRange(0.0, 10.0, min_open=True), default=0.8,
              show_default=True, help="Name the links whose utilisation after exceeds this ratio.")
@click.option("--top", type=click.IntRange(1, 10000), default=10, show_default=True,
              help="Rows of the demand and link tables.")
@click.option("--each", type=click.Choice(["cable", "router"]), default=None,
              help="N-1: the what-if of every single cable (or router) failure, on top of the other changes, "
                   "ranked by impact: traffic cut off (between routers still up), links newly over "
                   "--max-utilization, peak utilisation; the worst delay growth of each.")
@click.option("--report", type=click.Path(dir_okay=False, path_type=Path), default=None, metavar="FILE",
              callback=output_folder_exists,
              help="Also write an HTML report: the network map coloured by utilisation after the change, the "
                   "demands slowed most and the busiest links, before and after.")
@json_report_option
@progress_option
def whatif(network: Path, captures: tuple[Path, ...], fmt: str | None, at: float | None, config_path: Path | None,
           window_s: float | None, lateness_s: float | None, matrix_file: Path | None, fails: tuple[str, ...],
           fail_nodes: tuple[str, ...], capacities: tuple[str, ...], metrics: tuple[str, ...], scale: float | None,
           demands: tuple[str, ...], model: str | None, checkpoint: Path | None, slo_delay_s: float | None,
           max_utilization: float, top: int, each: str | None, report: Path | None, json_report: str | None,
           progress: bool) -> None:
    """What the twin expects after a change: a link or router down, a capacity or metric changed, more traffic.

    NETWORK is the network-model file the service uses. The baseline traffic
    comes from recorded telemetry (--capture, as `twinwatch replay` reads it:
    the busiest window, or the one at --at, with the links that were down
    then) or from a matrix file (--matrix). Both networks, before and after
    the changes, are routed as the service routes them (the model's IGP
    metrics, ECMP) and predicted by the same twin in one batch.

    The report names the demands that lose their route or whose delay grows
    most, the busiest links after the change and, with --slo-delay and
    --max-utilization, what crosses those lines. --json writes every demand
    (delay and jitter in seconds, loss 0..1) and every link (load in bit/s,
    utilisation 0..1), before and after.

    \b
    Examples:
      twinwatch whatif network.yaml --capture gnmic.jsonl --capture flows.jsonl --fail 'CHIN<->IPLS'
      twinwatch whatif network.yaml --matrix tm.txt --capacity 'DNVR<->KSCY=2.5G' --scale 1.3 --slo-delay 0.04
      twinwatch whatif network.yaml --capture gnmic.jsonl --fail-node ATLAM5 --json impact.json --report impact.html
      twinwatch whatif network.yaml --capture gnmic.jsonl --each cable --max-utilization 0.7   # N-1
    """
    import torch

    from twinwatch.stream.commands.twin_predict import cli_model
    from twinwatch.twin.whatif import WhatIfError, parse_change, what_if

    if each is not None and report is not None:
        raise click.UsageError("--report draws one what-if; with --each, write --json")
    edits = [*(("fail", x) for x in fails), *(("fail-node", x) for x in fail_nodes),
             *(("capacity", x) for x in capacities), *(("metric", x) for x in metrics),
             *(("demand", x) for x in demands), *((("scale", str(scale)),) if scale is not None else ())]
    try:
        changes = [parse_change(kind, text) for kind, text in edits]
    except WhatIfError as exc:
        raise click.UsageError(str(exc)) from None
    net, baseline, model, checkpoint = load_baseline(
        network, captures=captures, fmt=fmt, at=at, config_path=config_path, window_s=window_s,
        lateness_s=lateness_s, matrix_file=matrix_file, model=model, checkpoint=checkpoint, progress=progress)
    torch.set_num_threads(1)
    twin = cli_model(model, checkpoint)
    model_name = getattr(twin, "name", str(model))
    if each is not None:
        doc = _each(net, baseline, changes, twin, each, model_name=model_name, slo_delay_s=slo_delay_s,
                    max_utilization=max_utilization, progress=progress)
        if json_report != "-":
            _print_each(doc, top)
        write_json_report(json_report, doc)
        sys.exit(int(ExitCode.OK))
    try:
        res = what_if(net, baseline.traffic, changes, twin, links_down=baseline.links_down)
    except WhatIfError as exc:
        raise click.UsageError(str(exc)) from None
    doc = whatif_report(res, baseline, model_name=model_name, slo_delay_s=slo_delay_s,
                        max_utilization=max_utilization)
    if json_report != "-":
        _print(doc, res, top)
    write_json_report(json_report, doc)
    if report is not None:
        from twinwatch.stream.commands.whatif_html import write_whatif_html

        write_whatif_html(report, doc, net, top=max(top, 20))
    sys.exit(int(ExitCode.OK))
