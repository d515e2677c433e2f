"""``twinwatch twin``: offline work with the network twin (predict, evaluate, train, explain).

Sub-commands are imported on first use from :data:`_COMMANDS`; a sub-command
whose module is not installed (or not written yet) is simply not listed.
"""

from __future__ import annotations

import click

from twinwatch.stream.commands._lazy import LazyGroup

__all__ = ["twin"]

# name -> "module:attribute" of a click command
_COMMANDS: dict[str, str] = {
    "predict": "twinwatch.stream.commands.twin_predict:predict",
    "evaluate": "twinwatch.stream.commands.twin_predict:evaluate",
    "train": "twinwatch.stream.commands.twin_train:train",
    "explain": "twinwatch.stream.commands.twin_explain:explain",
    "calibrate": "twinwatch.stream.commands.twin_calibrate:calibrate",
    "finetune": "twinwatch.stream.commands.twin_finetune:finetune",
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

\b
Options are spelled the same in every sub-command: --progress/--no-progress
(-q is the old spelling), --json FILE ('-' = stdout), --checkpoint PATH (a
model directory or its config.json / model.safetensors), --out FILE for
predictions and --out DIR for model directories.

\b
Exit status (every sub-command):
  0  success
  1  invalid input (nothing usable: a bad or empty file, every record rejected)
  2  usage error (unknown option, bad option value)
  3  partial success (output written, some input rejected and counted)
"""


@click.group(
    cls=LazyGroup, lazy_commands=_COMMANDS, help=_HELP, context_settings={"help_option_names": ["-h", "--help"]}
)
def twin() -> None:
    """The ``twin`` command group."""
