"""``twinwatch state``: show or edit the service's durable state on the broker (:mod:`twinwatch.stream.state`).

Wiring only: the record is found as a worker finds it (:mod:`twinwatch.stream.state_topic`), decoded by
:func:`twinwatch.stream.state.decode`, and a new record written the same way a checkpoint is.
"""

from __future__ import annotations

import asyncio
import sys
import time
from pathlib import Path
from typing import Any

import click

from twinwatch.stream.commands._options import EXIT_STATUS_HELP, ExitCode, json_report_option, write_json_report

__all__ = ["state"]

_CTX = {"help_option_names": ["-h", "--help"]}

_CONFIG = click.option("--config", "config_path", metavar="FILE", default=None,
                       type=click.Path(exists=True, dir_okay=False, path_type=Path),
                       help="The workers' service configuration (the broker, its security, kafka.consumer_group and "
                            "topics.state come from it). Default: built-in defaults plus TWINWATCH_* variables.")


@click.group(context_settings=_CTX, epilog=EXIT_STATUS_HELP)
def state() -> None:
    """Show or edit the service's durable state (the record on topics.state).

    \b
    Every worker of a consumer group checkpoints its whole state as one
    record on topics.state, keyed by kafka.consumer_group: per network the
    counter state, the detectors' calibration and open alerts, the rows of
    unfinished windows and the flow records held, with the input offsets it
    reflects. A worker that starts or gets partitions restores the most
    advanced of the group's last records; these commands read that same one.

    \b
    Examples:
      twinwatch state show --config twinwatch.yaml
      twinwatch state show --config twinwatch.yaml --json state.json
      twinwatch state drop --config twinwatch.yaml --network old-core --yes

    The broker, its TLS/SASL settings, the consumer group and the topic come
    from the configuration (file and TWINWATCH_* variables), as for `run`.
    """


def _config(path: Path | None) -> Any:
    from twinwatch.stream.config import ConfigError, load_config

    try:
        return load_config(path)
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from None


def _read(cfg: Any) -> Any:
    """The record a worker of ``cfg``'s group would restore (None: none)."""
    from aiokafka.errors import KafkaError

    from twinwatch.stream.state_topic import STATE_SCAN, latest_state, read_tail

    topic = cfg.topics.state
    try:
        records, _ = asyncio.run(read_tail(cfg.kafka.aiokafka_kwargs(), topic, STATE_SCAN))
    except (KafkaError, OSError, TimeoutError) as exc:
        raise _broker_error(cfg, f"read {topic}", exc) from None
    return latest_state(records, cfg.kafka.consumer_group, topic)


def _broker_error(cfg: Any, action: str, exc: BaseException) -> click.ClickException:
    """``cannot <action>`` and why: the broker's address and the cause in an operator's terms when a fresh try
    finds it (connection refused, a certificate not trusted, a refused login: :func:`probe`), else the
    client's error."""
    from twinwatch.stream.broker_wait import probe

    reason = asyncio.run(probe(cfg.kafka))
    return click.ClickException(f"cannot {action}: {reason}" if reason else
                                f"cannot {action} on {cfg.kafka.bootstrap}: {type(exc).__name__}: {exc}")


def _alerts(blob: bytes) -> list[dict[str, Any]] | str:
    """The open alerts of a saved alert book, or why they cannot be read."""
    from twinwatch.detectors.alerts import AlertBook

    try:
        book = AlertBook.from_bytes(blob)
    except ValueError as exc:
        return str(exc)
    return [{"id": a.id, "entity_kind": a.entity_kind, "entity_id": a.entity_id, "kpi": a.kpi, "kind": a.kind,
             "severity": a.severity, "start": a.start} for a in book.open_alerts]


def describe(rec: Any, group: str, topic: str) -> dict[str, Any]:
    """The JSON report of one state record: where it is, how old and large, and per network what it holds."""
    import json

    from twinwatch.stream.state import decode, open_rows, part_sizes

    meta, parts = decode(rec.value)
    rows = open_rows(rec.value)
    sizes = part_sizes(rec.value)
    networks: dict[str, Any] = {}
    for net in sorted({p[0] for p in parts}):
        model = json.loads(parts.get((net, "model", ""), b"{}") or b"{}")
        names = model.get("names", {})
        book = parts.get((net, "detector", "book"))
        networks[net] = {
            "links": model.get("links"), "devices": model.get("nodes"),
            "probes": len(names["probe"]) if "probe" in names else None,
            "open_window_rows": int(rows.get(net, 0)),
            "windows_closed": meta.get("detector_scalars", {}).get(net, {}).get("windows"),
            "open_alerts": _alerts(book) if book is not None else [],
            "bytes_uncompressed": sizes.get(net, {}),
        }
    written = meta.get("written_at")
    return {"consumer_group": group, "topic": topic, "partition": rec.partition, "offset": rec.offset,
            "format": meta.get("format"), "bytes": len(rec.value), "written_at": written,
            "age_s": None if written is None else round(time.time() - float(written), 1),
            "offsets": meta.get("offsets", {}), "networks": networks}


def _kb(n: int) -> str:
    return f"{n / 1000:.1f} kB"


@state.command(context_settings=_CTX, epilog=EXIT_STATUS_HELP + "\n  show exits 1 when the group has no state record.")
@_CONFIG
@json_report_option
def show(config_path: Path | None, json_report: str | None) -> None:
    """Print the state record the workers would restore: age, size, offsets, and per network what it holds.

    \b
    Per network: the model's shape when the record was written (links,
    devices, probes), the windows closed, the rows held in unfinished
    windows, the bytes per component (counters, detector, windows, flows, links)
    and every alert open in the detector's book (kind, entity, KPI, since;
    in the JSON, the reason instead of the list when the book cannot be read).

    \b
    Examples:
      twinwatch state show --config twinwatch.yaml
      TWINWATCH_KAFKA__CONSUMER_GROUP=twinwatch-lab twinwatch state show --json -
    """
    cfg = _config(config_path)
    group, topic = cfg.kafka.consumer_group, cfg.topics.state
    rec = _read(cfg)
    if rec is None:
        write_json_report(json_report, {"consumer_group": group, "topic": topic, "record": None})
        click.echo(f"no state record of consumer group {group!r} on {topic} (workers start afresh)", err=True)
        sys.exit(ExitCode.INVALID_INPUT)
    doc = describe(rec, group, topic)
    write_json_report(json_report, doc)
    if json_report == "-":
        return
    age = "" if doc["age_s"] is None else f", written {doc['age_s']:.0f} s ago"
    click.echo(f"consumer group {group!r}: state record at {topic}[{rec.partition}]@{rec.offset} "
               f"({doc['format']}, {_kb(doc['bytes'])}{age})")
    for tp, off in sorted(doc["offsets"].items()):
        click.echo(f"  input {tp}: next offset {off}")
    for net, d in doc["networks"].items():
        comps = ", ".join(f"{c} {_kb(int(b))}" for c, b in sorted(d["bytes_uncompressed"].items()))
        click.echo(f"network {net}: {d['links']} links, {d['devices']} devices, {d['probes']} probes; "
                   f"{d['windows_closed']} windows closed, {d['open_window_rows']} rows in open windows; {comps}")
        if isinstance(d["open_alerts"], str):
            click.echo(f"  open alerts: the alert book cannot be read ({d['open_alerts']})")
            continue
        click.echo(f"  {len(d['open_alerts'])} open alert(s)")
        for a in d["open_alerts"]:
            click.echo(f"    {a['kind']} {a['entity_kind']} {a['entity_id']} {a['kpi']} since "
                       f"{time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime(a['start']))} ({a['id']})")


@state.command(context_settings=_CTX, epilog=EXIT_STATUS_HELP)
@_CONFIG
@click.option("--network", "networks", metavar="NAME", multiple=True, required=True,
              help="A network whose state to drop (repeat for several).")
@click.confirmation_option("--yes", prompt="Drop this state? Stop the group's workers first.",
                           help="Do not ask for confirmation.")
def drop(config_path: Path | None, networks: tuple[str, ...]) -> None:
    """Write a new state record without the state of these networks (everything else unchanged).

    \b
    A worker refuses a state that holds a network its configuration does
    not have (so that a wrong configuration cannot silently throw a
    network's calibration away). After removing a network from `networks:`
    for good, drop its state with this command, then start the workers: the
    other networks keep their state and the input offsets are unchanged.
    Stop the group's workers first: a running worker's next checkpoint
    would write the network back.

    \b
    Examples:
      twinwatch state drop --config twinwatch.yaml --network old-core
      twinwatch state drop --config twinwatch.yaml --network lab1 --network lab2 --yes
    """
    from aiokafka.errors import KafkaError

    from twinwatch.stream.state import decode, encode
    from twinwatch.stream.state_topic import write_record

    cfg = _config(config_path)
    group, topic = cfg.kafka.consumer_group, cfg.topics.state
    rec = _read(cfg)
    if rec is None:
        raise click.ClickException(f"no state record of consumer group {group!r} on {topic}: nothing to drop")
    meta, parts = decode(rec.value)
    held = sorted({p[0] for p in parts})
    missing = sorted(set(networks) - set(held))
    if missing:
        raise click.ClickException(f"the state of consumer group {group!r} holds no network {missing}; "
                                   f"it holds {held}")
    kept = {k: v for k, v in parts.items() if k[0] not in networks}
    scalars = {n: v for n, v in meta.get("detector_scalars", {}).items() if n not in networks}
    new_meta = {k: v for k, v in meta.items() if k not in ("format", "codec", "parts")}
    new_meta.update(detector_scalars=scalars, written_at=time.time(), dropped_networks=sorted(networks))
    blob = encode(new_meta, kept)
    try:
        partition, offset = asyncio.run(write_record(cfg.kafka.aiokafka_kwargs(), topic, group, blob))
    except (KafkaError, OSError, TimeoutError) as exc:
        raise _broker_error(cfg, f"write {topic}", exc) from None
    click.echo(f"dropped the state of {', '.join(sorted(networks))} ({len(parts) - len(kept)} parts); wrote "
               f"{topic}[{partition}]@{offset} ({_kb(len(blob))}) with the same input offsets; kept: "
               f"{', '.join(sorted({k[0] for k in kept})) or 'nothing'}")
