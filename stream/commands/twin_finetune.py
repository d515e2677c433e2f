"""``twinwatch twin finetune``: adapt the shipped twin to an operator's labelled samples, with a before/after report."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import click

from twinwatch.stream.commands._options import (
    EXIT_STATUS_HELP,
    FiniteFloatRange,
    atomic_output_dir,
    json_report_option,
    out_dir_option,
    progress_option,
    write_json_report,
)

__all__ = ["finetune"]

_HELP = f"""Adapt the twin to your network's samples in a few minutes, and say how much it gained.

\b
DESCRIPTION
  Reads every labelled sample under the --data folders (a dataset made by
  `twinwatch simulate dataset`, the project's native format, or GNNet result
  tarballs), holds out --val-fraction of the samples (by sample, seeded),
  and continues training the model --from (default: the shipped
  checkpoint) on the rest for at most --minutes of wall clock, reading
  included. The epoch with the best held-out queueing-part MAPE (delay minus
  propagation) is kept, the starting model included, so the result is never
  worse than the base on the held-out samples. The conformal intervals and
  the detectors' p-value grids are recalibrated on the held-out samples as
  `twinwatch twin calibrate` does; a load band that fewer than 10 held-out
  samples reach keeps the base model's quantiles (a few samples of one
  network rarely fill its busiest bands). OUT receives model.safetensors,
  config.json and finetune_report.json; load it anywhere with
  --checkpoint OUT.

\b
  The report scores the base model, queueing theory and the fine-tuned model
  on the held-out samples: delay, queueing-part and jitter MAPE (%), loss
  MAE (ratio 0..1). It is printed as a table on stderr (also with
  --no-progress, which silences only the epoch lines) and written as JSON
  (--json FILE, '-' for stdout; always also OUT/finetune_report.json).

\b
OPTIONS
  --minutes is wall-clock minutes for the whole command; --lr is Adam's
  learning rate (a fine-tune uses a smaller one than training from scratch);
  --val-fraction is the share of samples held out (0..1).

\b
EXAMPLES
  twinwatch simulate dataset --topology mynet.yaml --samples 60 --out data/mynet
  twinwatch twin finetune --data data/mynet --out models/mynet --minutes 15
  twinwatch twin predict mynet.yaml --checkpoint models/mynet --out -

{EXIT_STATUS_HELP}
"""

_ROWS = (("delay_mape", "delay MAPE %"), ("queue_mape", "queueing-part MAPE %"), ("jitter_mape", "jitter MAPE %"),
         ("loss_mae", "loss MAE"))


@click.command(help=_HELP, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.option("--data", "data_dirs", multiple=True, required=True, type=click.Path(exists=True, path_type=Path),
              help="Folder of labelled samples (repeatable): native format or GNNet tarballs.")
@out_dir_option(inputs=("data_dirs", "base"), help="Model directory to write (replaced only when the run completes).")
@click.option("--from", "base", metavar="PATH", default=None, type=click.Path(exists=True, path_type=Path),
              help="Model directory (or a file inside it) to start from; default: the shipped checkpoint.")
@click.option("--minutes", type=FiniteFloatRange(0.0, min_open=True), default=15.0, show_default=True,
              help="Wall-clock budget of the whole command, minutes.")
@click.option("--val-fraction", type=FiniteFloatRange(0.0, 1.0, min_open=True, max_open=True), default=0.2,
              show_default=True, help="Share of the samples held out for selection, calibration and the report.")
@click.option("--lr", type=FiniteFloatRange(0.0, 10.0, min_open=True), default=5e-4, show_default=True,
              help="Adam learning rate.")
@click.option("--seed", type=click.IntRange(min=0), default=0, show_default=True,
              help="Seed of the split and of training.")
@click.option("--threads", type=click.IntRange(min=1), default=2, show_default=True, help="torch threads.")
@progress_option
@json_report_option
def finetune(data_dirs: tuple[Path, ...], out: Path, base: Path | None, minutes: float, val_fraction: float, lr: float,
             seed: int, threads: int, progress: bool, json_report: str | None) -> None:
    t0 = time.monotonic()
    import orjson
    from rich.console import Console

    from twinwatch.twin.checkpoint import CheckpointError, load_checkpoint
    from twinwatch.twin.datasets import DatasetError
    from twinwatch.twin.models.gnn import DEFAULT_CHECKPOINT, GNNConfig
    from twinwatch.twin.scenario import ScenarioError
    from twinwatch.twin.train import finetune as run_finetune
    from twinwatch.twin.train import load_examples

    base_dir = (base.parent if base.is_file() else base) if base is not None else DEFAULT_CHECKPOINT
    console = Console(stderr=True, quiet=not progress)
    console.print(f"reading samples: {', '.join(map(str, data_dirs))}")
    try:
        arch = load_checkpoint(base_dir)[1].get("architecture", {})
        examples = load_examples(data_dirs, qt_prior=True, prior=GNNConfig.from_dict(arch).prior)
    except CheckpointError as exc:
        raise click.ClickException(str(exc)) from None
    except (DatasetError, ScenarioError, OSError, EOFError) as exc:
        raise click.ClickException(str(exc)) from None
    if len(examples) < 2:
        raise click.ClickException(f"{len(examples)} labelled sample(s) under {', '.join(map(str, data_dirs))}; "
                                   "fine-tuning needs at least 2 (one is held out)")
    left = minutes - (time.monotonic() - t0) / 60.0
    if left <= 0.05:
        raise click.ClickException(f"reading the samples took {minutes - left:.1f} min, the whole --minutes budget")

    def on_event(kind: str, ev: dict[str, Any]) -> None:
        if kind == "epoch_end":
            v = ev["val"]
            kept = "  (kept)" if ev["improved"] else ""
            console.print(f"epoch {ev['epoch']}: held-out queueing-part MAPE {v['queue_mape']:.2f} %, delay "
                          f"{v['delay_mape']:.2f} %, jitter {v['jitter_mape']:.1f} %{kept}")

    try:
        with atomic_output_dir(out) as tmp:
            report = run_finetune(examples, tmp, base_dir, minutes=left, val_fraction=val_fraction, seed=seed, lr=lr,
                                  threads=threads, on_event=on_event)
            report["wall_time_s"] = time.monotonic() - t0
            report["data"] = [str(d) for d in data_dirs]
            (tmp / "finetune_report.json").write_bytes(orjson.dumps(report, option=orjson.OPT_INDENT_2))
    except (CheckpointError, ValueError) as exc:
        raise click.ClickException(str(exc).splitlines()[0]) from None
    except OSError as exc:
        raise click.ClickException(f"cannot write {out}: {exc}") from None
    _print_table(report, Console(stderr=True))  # the report is the command's answer: shown even without progress
    if json_report is not None:
        write_json_report(json_report, report)


def _print_table(report: dict[str, Any], console: Any) -> None:
    from rich.table import Table

    t = Table(title=f"held-out samples: {report['n_val']} (trained on {report['n_train']}), "
                    f"{report['wall_time_s'] / 60:.1f} min")
    for col in ("metric", "base", "queueing theory", "fine-tuned"):
        t.add_column(col, justify="right" if col != "metric" else "left")
    for key, label in _ROWS:
        fmt = "{:.4f}" if key == "loss_mae" else "{:.2f}"
        t.add_row(label, *(fmt.format(report[s][key]) for s in ("before", "qt", "after")))
    console.print(t)
