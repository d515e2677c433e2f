"""``twinwatch adapt``: decode collector output into the common schema (for operators debugging a feed).

Reads raw messages from FILE (or stdin with ``-``), decodes them with the
decoder for ``--format``, applies counter semantics (rates need two samples of
a counter) and the inventory, and prints one JSON object per line on stdout:
Measurement rows, flow records (with ``src_node``/``dst_node`` from the
inventory), or with ``--samples`` the decoded samples before counter maths.
A summary of rejections by reason goes to stderr as a table.

Message framing (``--split``): ``auto`` treats a file that parses as one JSON
document as one message (a gNMI capture, an OTLP request, a JSON array of
events) and otherwise takes one message per line (JSON lines, line protocol).

Examples::

    twinwatch adapt --format gnmic events.jsonl
    kafkacat -C -t telemetry -e | twinwatch adapt --format gnmic --inventory inv.yaml -
    twinwatch adapt --format influx --samples telegraf.out
"""

from __future__ import annotations

import sys
from collections import Counter
from collections.abc import Iterator
from typing import IO, Any

import click
import orjson

__all__ = ["adapt", "iter_messages"]

_BATCH = 10_000


def iter_messages(stream: IO[bytes], split: str, batch: int = _BATCH) -> Iterator[list[bytes]]:
    """Yield lists of at most ``batch`` raw messages from ``stream``.

    ``split``: ``lines`` (one message per non-blank line), ``whole`` (the whole
    input is one message) or ``auto`` (whole when it parses as one JSON document).

    >>> import io
    >>> list(iter_messages(io.BytesIO(b'{"a":1}\\n{"a":2}\\n'), "auto"))
    [[b'{"a":1}', b'{"a":2}']]
    >>> list(iter_messages(io.BytesIO(b'[{"a":1},\\n{"a":2}]'), "auto"))
    [[b'[{"a":1},\\n{"a":2}]']]
    """
    if split in ("auto", "whole"):
        data = stream.read()
        if split == "whole":
            yield [data]
            return
        try:
            orjson.loads(data)
        except orjson.JSONDecodeError:
            lines = [ln for ln in data.split(b"\n") if ln.strip()]
            for i in range(0, len(lines), batch):
                yield lines[i : i + batch]
        else:
            yield [data]
        return
    chunk: list[bytes] = []
    for line in stream:
        if line.strip():
            chunk.append(line.rstrip(b"\r\n"))
            if len(chunk) >= batch:
                yield chunk
                chunk = []
    if chunk:
        yield chunk


def _summary(counts: Counter[str], totals: dict[str, int]) -> Any:
    from rich.table import Table

    t = Table(title="rejections by reason", title_justify="left")
    t.add_column("reason")
    t.add_column("count", justify="right")
    for reason, n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])):
        t.add_row(reason, str(n))
    if not counts:
        t.add_row("(none)", "0")
    return t


@click.command(help="Decode collector output (FILE or - for stdin) into the common schema; JSON lines on stdout.")
@click.option("--format", "fmt", required=True, metavar="FMT",
              help="Wire format: gnmic, gnmi, telegraf-json, influx, cisco-mdt, otlp, goflow2, probe.")
@click.option("--inventory", type=click.Path(exists=True, dir_okay=False), default=None,
              help="Inventory YAML/JSON mapping device+interface to links and prefixes to nodes.")
@click.option("--network", default="default", show_default=True, help="Network name written into every row.")
@click.option("--device", "default_device", default="", metavar="NAME",
              help="Device name for messages that carry none (raw gNMI responses without prefix.target).")
@click.option("--samples", "show_samples", is_flag=True,
              help="Print the decoded samples (before counter semantics) instead of Measurement rows.")
@click.option("--split", type=click.Choice(["auto", "lines", "whole"]), default="auto", show_default=True,
              help="Message framing of the input.")
@click.option("--max-skew", type=float, default=300.0, show_default=True,
              help="Reject samples more than this many seconds in the future.")
@click.option("--max-age", type=float, default=None,
              help="Reject samples older than this many seconds (default: no limit, for replaying captures).")
@click.option("--show-rejections", type=int, default=0, metavar="N",
              help="Also print the first N rejections (reason, detail) on stderr.")
@click.argument("source", type=click.File("rb"), default="-")
def adapt(
    fmt: str,
    inventory: str | None,
    network: str,
    default_device: str,
    show_samples: bool,
    split: str,
    max_skew: float,
    max_age: float | None,
    show_rejections: int,
    source: IO[bytes],
) -> None:
    from rich.console import Console

    from telemetry_adapters import DecodeError, get_decoder
    from telemetry_adapters.base import DecoderConfig

    err = Console(stderr=True, width=None if sys.stderr.isatty() else 120)
    config = DecoderConfig(network=network, max_future_skew_s=max_skew, max_age_s=max_age,
                           default_device=default_device)
    try:
        decoder = get_decoder(fmt, config)
    except DecodeError as exc:
        raise click.BadParameter(str(exc), param_hint="--format") from exc
    inv = None
    if inventory is not None:
        from telemetry_adapters.inventory import Inventory

        try:
            inv = Inventory.load(inventory)
        except (OSError, ValueError) as exc:
            raise click.BadParameter(f"{inventory}: {exc}", param_hint="--inventory") from exc
    state: Any = None
    normalize: Any = None
    if not show_samples:
        from telemetry_adapters.counters import CounterState
        from telemetry_adapters.normalize import normalize

        state = CounterState()

    counts: Counter[str] = Counter()
    totals = {"messages": 0, "samples": 0, "measurements": 0, "flows": 0}
    shown = 0
    out = sys.stdout.buffer
    for messages in iter_messages(source, split):
        res = decoder.decode_batch(messages)
        totals["messages"] += res.messages
        totals["samples"] += len(res.samples)
        counts.update(res.stats.counts)
        rejections = list(res.rejections)
        if show_samples:
            rows: Iterator[dict[str, Any]] = res.samples.rows()
        else:
            nres = normalize(res.samples, state, inv)
            rejections += nres.rejections
            for reason, n in _normalize_reasons(nres).items():
                counts[reason] += n
            totals["measurements"] += len(nres.measurements)
            rows = nres.measurements.rows()
        out.write(b"".join(orjson.dumps(r) + b"\n" for r in rows))
        if len(res.flows):
            flows = res.flows
            if inv is not None:
                flows, unmapped = inv.map_flows(flows)
                rejections += unmapped
                counts.update(r.reason for r in unmapped)
            totals["flows"] += len(flows)
            out.write(b"".join(orjson.dumps(r) + b"\n" for r in flows.rows()))
        for r in rejections[: max(0, show_rejections - shown)]:
            err.print(f"[yellow]{r.reason}[/yellow] ({r.source}) {r.detail}", markup=True, highlight=False)
            shown += 1
    out.flush()
    if show_samples:
        del totals["measurements"]
    err.print("twinwatch adapt: " + ", ".join(f"{k} {v}" for k, v in totals.items()), highlight=False)
    err.print(_summary(counts, totals))


def _normalize_reasons(nres: Any) -> dict[str, int]:
    """Exact rejection counts by reason from a NormalizeResult (``stats["rejected_<reason>"]``; its list
    of rejections may be capped)."""
    stats = nres.stats if isinstance(getattr(nres, "stats", None), dict) else {}
    exact = {k[len("rejected_"):]: int(v) for k, v in stats.items() if k.startswith("rejected_") and v}
    return exact or dict(Counter(r.reason for r in nres.rejections))
