"""The ``twinwatch`` command line.

One click group; each sub-command lives in its own module under
:mod:`twinwatch.stream.commands` and is imported only when it runs, so ``twinwatch
--help`` stays fast (torch and faust load only for the commands that need them).

Global options apply to every sub-command and can also come from the
environment (``TWINWATCH_LOG_LEVEL``, ``TWINWATCH_LOG_FORMAT``) or a config
file (``--config``, ``TWINWATCH_CONFIG``).
"""

from __future__ import annotations

import logging
import os
import sys
from importlib.metadata import PackageNotFoundError, version

import click

from twinwatch.stream.commands._lazy import LazyGroup

__all__ = ["main"]

# name -> "module:attribute" of a click command or group
_COMMANDS: dict[str, str] = {
    "twin": "twinwatch.stream.commands.twin:twin",
    "simulate": "twinwatch.stream.commands.simulate:simulate",
    "adapt": "twinwatch.stream.commands.adapt:adapt",
    "demo": "twinwatch.stream.commands.demo:demo",
    "network": "twinwatch.stream.commands.network:network",
    "plan": "twinwatch.stream.commands.plan:plan",
    "localize": "twinwatch.stream.commands.localize:localize",
    "detect": "twinwatch.stream.commands.detect:detect",
    "replay": "twinwatch.stream.commands.replay:replay",
    "run": "twinwatch.stream.commands.run:run",
    "score": "twinwatch.stream.commands.score:score",
    "state": "twinwatch.stream.commands.state:state",
    "whatif": "twinwatch.stream.commands.whatif:whatif",
}

_HELP = """twinwatch: watch a network through its digital twin.

\b
Telemetry streams in from Kafka, a graph neural network (the twin) says what
every path and link should look like, and detectors raise alerts when what
is observed leaves calibrated bounds. Offline, the same twin predicts,
evaluates, explains and answers what-if questions.

\b
Common sub-commands:
  twinwatch demo                       the product end to end on a simulated network
  twinwatch run --config FILE          the streaming service: Kafka in, alerts and metrics out
  twinwatch replay CAPTURE... --out F  recorded telemetry through the service's pipeline
  twinwatch whatif NETWORK --fail A<->B   the twin's answer to a link down, more traffic, ...
  twinwatch plan NETWORK --growth 1.3  the upgrades that keep links under 80 % through any failure
  twinwatch network import ...         a network-model file from Topology Zoo, NetBox, ...
  twinwatch twin predict DATA_DIR      predict per-path KPIs of a GNNet dataset
  twinwatch twin evaluate DATA_DIR     score a model against a dataset's labels
  twinwatch simulate dataset ...       generate labelled training data
  twinwatch adapt --format FMT FILE    decode collector output into the common schema

Run `twinwatch COMMAND --help` for the options of each command.
"""


def _version() -> str:
    try:
        return version("twinwatch")
    except PackageNotFoundError:  # running from a source tree without install
        return "0+unknown"


@click.group(
    cls=LazyGroup, lazy_commands=_COMMANDS, help=_HELP, context_settings={"help_option_names": ["-h", "--help"]}
)
@click.version_option(_version(), "--version", prog_name="twinwatch")
@click.option(
    "--log-level",
    envvar="TWINWATCH_LOG_LEVEL",
    default="INFO",
    show_default=True,
    type=click.Choice(["DEBUG", "INFO", "WARNING", "ERROR"], case_sensitive=False),
    help="Log verbosity.",
)
@click.option(
    "--log-format",
    envvar="TWINWATCH_LOG_FORMAT",
    default="text",
    show_default=True,
    type=click.Choice(["text", "json"]),
    help="Log line format; json writes one JSON object per line for log shippers.",
)
def cli(log_level: str, log_format: str) -> None:
    from twinwatch.stream.logs import configure_logging

    configure_logging(level=log_level.upper(), fmt=log_format)


def main(argv: list[str] | None = None) -> None:
    """Console-script entry point.

    With ``--log-format json`` (or ``TWINWATCH_LOG_FORMAT=json``), click's usage and error messages
    are logged as JSON lines (logger ``twinwatch.cli``, with ``exit_status``) instead of printed.
    """
    from twinwatch.stream.logs import configure_logging, json_mode

    if os.environ.get("TWINWATCH_LOG_FORMAT") == "json":  # so that errors in the global options are JSON too
        configure_logging(level=os.environ.get("TWINWATCH_LOG_LEVEL", "INFO").upper(), fmt="json")
    try:
        rv = cli.main(args=argv, prog_name="twinwatch", standalone_mode=False)
    except click.exceptions.Abort:
        if json_mode():
            logging.getLogger("twinwatch.cli").error("aborted", extra={"exit_status": 1})
        else:
            click.echo("Aborted!", err=True)
        sys.exit(1)
    except click.ClickException as exc:
        if json_mode():
            hint = exc.ctx.command_path if isinstance(exc, click.UsageError) and exc.ctx is not None else None
            logging.getLogger("twinwatch.cli").error(
                exc.format_message(), extra={"exit_status": exc.exit_code, "command": hint}
            )
        else:
            exc.show()
        sys.exit(exc.exit_code)
    except click.exceptions.Exit as exc:  # ctx.exit(n) outside click's own handling
        sys.exit(exc.exit_code)
    # without standalone mode click *returns* the status of ctx.exit(n) (--help, --version: 0)
    if isinstance(rv, int) and not isinstance(rv, bool) and rv:
        sys.exit(rv)


if __name__ == "__main__":  # pragma: no cover
    main(sys.argv[1:])
    logging.shutdown()
