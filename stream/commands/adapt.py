"""``twinwatch adapt``: decode collector output into the common schema (for operators debugging a feed).

Reads raw messages from FILE (or stdin with ``-``), decodes them with the
decoder for ``--format``, applies counter semantics (rates need two samples of
a counter) and the inventory, and prints one JSON object per line on stdout:
Measurement rows, flow records (with ``src_node``/``dst_node`` from the
inventory), or with ``--samples`` the decoded samples before counter maths.
A summary goes to stderr; ``--json FILE`` writes it as a machine-readable report.

Accounting (issue 14). A *record* is one leaf value (a counter or gauge
sample), one flow record, or one rejected unit (a whole message when it cannot
be parsed, else the record or element the rejection names); see
:attr:`twinwatch.telemetry_adapters.base.DecodeResult.records`. Every input record ends
in exactly one of:

* ``out``: it reached an output row (a Measurement row, alone or summed with
  its sibling packet counters or superseded by the 64-bit twin of a 32-bit
  counter; a flow record; with ``--samples``, a sample row);
* ``rejected``: counted under a stable reason code (``twinwatch.telemetry_adapters.errors.Reason``),
  including ``unmapped_leaf`` (leaves of a valid record the twin does not use);
* ``pending``: a counter's first sample, kept as the base of the next rate
  (``pending_first_sample``).

so that ``records_in == out + rejected + pending`` holds for every format and
every input; the summary and the report show the three terms.
``unmapped_entity`` notices (rows kept on an ``interface`` entity) are not rejections.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Iterator
from typing import IO, TYPE_CHECKING, Any

import click
import orjson

from twinwatch.stream.commands._options import (
    EXIT_STATUS_HELP,
    ExitCode,
    FiniteFloatRange,
    SingleValueOption,
    json_report_option,
    write_json_report,
)
from twinwatch.stream.logs import json_mode

if TYPE_CHECKING:
    from twinwatch.telemetry_adapters.accounting import Tally

log = logging.getLogger("twinwatch.adapt")

__all__ = ["adapt", "exit_status", "iter_messages", "report"]

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
            if data.strip():
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


def exit_status(t: Tally) -> ExitCode:
    """1 when the input held no message (empty or blank: nothing was checked) or every record of it was
    rejected; 3 when some were (``unmapped_leaf`` aside); else 0.

    >>> from twinwatch.telemetry_adapters.accounting import Tally
    >>> t = Tally("gnmic", messages=2, records_in=3, records_out=1); t.rejected_by_reason["malformed_json"] = 2
    >>> t.identity_holds(), exit_status(t)
    (True, <ExitCode.PARTIAL: 3>)
    >>> exit_status(Tally("gnmic"))  # an empty input is not a success
    <ExitCode.INVALID_INPUT: 1>
    """
    if t.messages == 0 or t.all_rejected():
        return ExitCode.INVALID_INPUT
    return ExitCode.PARTIAL if t.partly_rejected() else ExitCode.OK


def report(t: Tally) -> dict[str, Any]:
    """The ``--json`` report: :meth:`Tally.to_dict` plus the exit status."""
    return {**t.to_dict(), "exit_status": int(exit_status(t))}


def _summary(t: Tally) -> Any:
    from rich.table import Table
    from rich.text import Text

    table = Table(title="records by outcome", title_justify="left")
    table.add_column("outcome")
    table.add_column("reason")
    table.add_column("records", justify="right")
    table.add_row("out", "", str(t.records_out))
    for name, counts in (("rejected", t.rejected_by_reason), ("pending", t.pending_by_reason),
                         ("notice", t.notices_by_reason)):  # fmt: skip
        for reason, n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])):
            table.add_row(name, Text(reason), str(n))
    table.add_row("in", "= out + rejected + pending" if t.identity_holds() else "(does not add up: a bug)",
                  str(t.records_in), end_section=True)  # fmt: skip
    return table


_HELP = f"""Decode collector output (FILE, or - for stdin) into the common schema; JSON lines on stdout.

\b
Each input message is decoded with the decoder of --format; counter samples
become rates (bits/s, packets/s: a counter needs two samples), gauges pass
through, and with --inventory interfaces become links and flow addresses
nodes. Output (stdout), one JSON object per line: Measurement rows (ts in
epoch seconds, value in SI units), flow records, or with --samples the
decoded samples before counter maths. Summary on stderr (--json FILE for a
machine-readable report).

\b
Accounting: every input record (a leaf value, a flow record, or a rejected
message or element) is counted once as out (in an output row), rejected
(with a stable reason code: malformed_json, ts_unit, counter_decrease,
implausible_rate, unmapped_leaf, missing_device, ...) or pending (a
counter's first sample: pending_first_sample). records in = out + rejected
+ pending, shown in the summary and the report.

\b
Timestamps: fields in epoch nanoseconds whose value is before 1973 (a time
in seconds, ms or µs) are refused as ts_unit, negative ones as ts_negative;
formats whose unit is chosen by the collector (Telegraf JSON, line protocol,
probe results) are read as s / ms / µs / ns by magnitude.

\b
Examples:
  twinwatch adapt --format gnmic events.jsonl
  kafkacat -C -t telemetry -e | twinwatch adapt --format gnmic --inventory inv.yaml -
  twinwatch adapt --format gnmi --device leaf1 capture.json --show-rejections 20
  twinwatch adapt --format influx --samples telegraf.out
  twinwatch adapt --format otlp metrics.json --json report.json > rows.jsonl

{EXIT_STATUS_HELP}
  Rejected unmapped_leaf records alone do not make the status 3. An empty
  input (no message: an empty or blank file, or nothing on stdin) exits 1.
"""


@click.command(help=_HELP, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--format", "fmt", required=True, metavar="FMT", cls=SingleValueOption,
              repeat_hint="A capture holds one format: run adapt once per format.",
              help="Wire format: gnmic, gnmi, telegraf-json, influx, cisco-mdt, otlp, goflow2, probe.")
@click.option("--inventory", type=click.Path(exists=True, dir_okay=False), default=None,
              help="Inventory YAML/JSON mapping device+interface to links and prefixes to nodes.")
@click.option("--network", default="default", show_default=True, help="Network name written into every row.")
@click.option("--device", "default_device", default="", metavar="NAME",
              help="Device name for messages that carry none (raw gNMI responses without prefix.target); "
                   "without it such messages are rejected as missing_device.")
@click.option("--samples", "show_samples", is_flag=True,
              help="Print the decoded samples (before counter semantics) instead of Measurement rows.")
@click.option("--split", type=click.Choice(["auto", "lines", "whole"]), default="auto", show_default=True,
              help="Message framing: auto = the whole input when it parses as one JSON document, else one "
                   "message per line.")
@click.option("--max-skew", type=FiniteFloatRange(min=0.0), default=300.0, show_default=True,
              help="Reject samples more than this many seconds in the future (ts_future).")
@click.option("--max-age", type=FiniteFloatRange(min=0.0), default=None,
              help="Reject samples older than this many seconds (ts_past; default: no limit, for replaying "
                   "captures).")
@click.option("--show-rejections", type=click.IntRange(min=0), default=0, metavar="N",
              help="Also print the first N rejections (reason, source, detail) on stderr.")
@json_report_option
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
    json_report: str | None,
    source: IO[bytes],
) -> None:
    from rich.console import Console
    from rich.text import Text

    from twinwatch.telemetry_adapters import DecodeError, get_decoder
    from twinwatch.telemetry_adapters.accounting import Tally, run_batch
    from twinwatch.telemetry_adapters.base import DecoderConfig
    from twinwatch.telemetry_adapters.errors import TelemetryError

    as_json = json_mode()
    err = Console(stderr=True, width=None if sys.stderr.isatty() else 120)
    config = DecoderConfig(network=network, max_future_skew_s=max_skew, max_age_s=max_age,
                           default_device=default_device)  # fmt: skip
    try:
        decoder = get_decoder(fmt, config)
    except DecodeError as exc:
        raise click.BadParameter(str(exc), param_hint="--format") from None
    inv = None
    if inventory is not None:
        from twinwatch.telemetry_adapters.inventory import Inventory

        try:
            inv = Inventory.load(inventory)
        except (OSError, TelemetryError, ValueError) as exc:
            raise click.ClickException(f"--inventory: {exc}") from None
    state = None
    if not show_samples:
        from twinwatch.telemetry_adapters.counters import CounterState

        state = CounterState()

    t = Tally(fmt)
    shown = 0
    out = sys.stdout.buffer
    try:
        for messages in iter_messages(source, split):
            res, nres, flows, notices = run_batch(decoder, messages, state, inv)
            t.add(res, nres, flows, notices)
            rows = res.samples.rows() if nres is None else nres.measurements.rows()
            out.write(b"".join(orjson.dumps(r) + b"\n" for r in rows))
            if len(flows):
                out.write(b"".join(orjson.dumps(r) + b"\n" for r in flows.rows()))
            if shown >= show_rejections:
                continue
            rejections = [*res.rejections, *res.ignored_examples, *(nres.rejections if nres else []), *notices]
            for r in rejections[: show_rejections - shown]:
                if as_json:
                    log.warning("rejection", extra=r.to_dict())
                else:  # rejection text is data (it may hold '[...]'): never parsed as rich markup
                    line = Text.assemble((r.reason, "yellow"), f" ({r.source}) {r.detail}")
                    if r.count != 1:
                        line.append(f" [{r.count} records]")
                    err.print(line, highlight=False)
                shown += 1
        out.flush()
    except BrokenPipeError:  # `... | head`: the reader went away; stop quietly
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        sys.exit(0)
    except OSError as exc:
        raise click.ClickException(f"cannot read {getattr(source, 'name', 'input')}: {exc}") from None
    write_json_report(json_report, report(t))
    status = exit_status(t)
    name = str(getattr(source, "name", "-"))
    empty = (f"twinwatch adapt: {'standard input' if name in ('-', '<stdin>') else name}: empty input (no message): "
             "nothing was decoded")
    if as_json:
        log.info("adapt summary", extra={"report": report(t)})
        if t.messages == 0:
            log.error(empty)
        if status:
            sys.exit(int(status))
        return
    err.print(
        Text(f"twinwatch adapt: messages {t.messages}, records in {t.records_in} = out {t.records_out} + rejected "
             f"{t.rejected} + pending {t.pending}; rows: "
             + (f"samples {t.samples}" if show_samples else f"measurements {t.measurements}")
             + f", flows {t.flows}"),
        highlight=False,
    )  # fmt: skip
    err.print(_summary(t))
    if t.messages == 0:
        click.echo(empty, err=True)  # one line, never wrapped
    elif status == ExitCode.INVALID_INPUT:
        err.print(Text(f"twinwatch adapt: every one of the {t.records_in} input records was rejected"),
                  highlight=False)  # fmt: skip
    if status:
        sys.exit(int(status))
