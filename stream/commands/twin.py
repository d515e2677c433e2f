"""``twinwatch twin``: offline work with the network twin (predict, evaluate, train, explain).

Sub-commands are imported on first use from :data:`_COMMANDS`; a sub-command
whose module is not installed (or not written yet) is simply not listed.
"""

from __future__ import annotations

import importlib
import importlib.util

import click

__all__ = ["twin"]

# name -> "module:attribute" of a click command
_COMMANDS: dict[str, str] = {
    "predict": "stream.commands.twin_predict:predict",
    "evaluate": "stream.commands.twin_predict:evaluate",
    "train": "stream.commands.twin_train:train",
    "explain": "stream.commands.twin_explain:explain",
}

_HELP = """Predict, evaluate, train and explain the network twin offline.

\b
Models (--model): qt (queueing-theory baseline), mlp, gnn (the twin), sim
(packet-level simulator). Without --model the GNN is used when its shipped
checkpoint loads, else the qt baseline (with a warning).

\b
Examples:
  twinwatch twin predict ../shared/data/gnnet/2021/validation --model qt --out preds.jsonl
  twinwatch twin predict twin/data/nsfnet.yaml --out -
  twinwatch twin evaluate ../shared/data/gnnet/2022/validation --model qt --json qt.json
"""


def _load(name: str) -> click.Command | None:
    target = _COMMANDS.get(name)
    if target is None:
        return None
    module, _, attr = target.partition(":")
    try:
        mod = importlib.import_module(module)
    except ModuleNotFoundError as exc:
        if exc.name != module:
            raise
        return None
    return getattr(mod, attr, None)


class _LazyTwinGroup(click.Group):
    """Click group whose sub-commands are imported on first use; missing ones are hidden."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(name for name in _COMMANDS if importlib.util.find_spec(_COMMANDS[name].partition(":")[0]))

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        return _load(cmd_name)


@click.group(cls=_LazyTwinGroup, help=_HELP, context_settings={"help_option_names": ["-h", "--help"]})
def twin() -> None:
    """The ``twin`` command group."""
