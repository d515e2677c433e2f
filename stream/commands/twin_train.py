"""``twinwatch twin train``: fit the GNN twin on GNNet samples and write a model directory.

Example (the shipped checkpoint; see ``bench/notes/gnn.md`` for the time it took)::

    twinwatch twin train \\
        --train ../shared/data/gnnet/2020/train --train ../shared/data/gnnet/2021/train \\
        --train ../shared/data/gnnet/2022/validation/50 --train ../shared/data/gnnet/2022/validation/75 \\
        --val ../shared/data/gnnet/2021/validation --val ../shared/data/gnnet/2020/validation \\
        --val ../shared/data/gnnet/2022/validation/100 \\
        --out MODEL_DIR --mlp-out MLP_DIR --time-budget 45 --threads 1
"""

from __future__ import annotations

import sys
from pathlib import Path

import click

from twinwatch.stream.commands._options import (
    EXIT_STATUS_HELP,
    FiniteFloatRange,
    json_report_option,
    progress_option,
    write_json_report,
)
from twinwatch.twin.models.qt import OWN_SIZE, QT_VARIANTS

__all__ = ["train"]

_HELP = f"""Train the GNN twin on labelled samples (early stopping on validation delay MAPE).

\b
Reads every sample under the --train folders (GNNet result tarballs, or a
dataset made by `twinwatch simulate dataset`), fits the GNN, keeps the
weights with the best validation delay MAPE, calibrates its conformal
intervals on --val, and writes the model directory OUT (model.safetensors +
config.json; OUT/resume.pt lets --resume continue). --val must not overlap
--train, and OUT must not be one of them.

\b
Options take these units: --lr is Adam's learning rate, --time-budget
minutes of wall clock; sizes (--hidden, --iterations) are state widths and
message-passing rounds.

\b
Examples:
  twinwatch twin train --train ../shared/data/gnnet/2021/train \\
      --val ../shared/data/gnnet/2021/validation --out models/gnn --threads 1
  twinwatch twin train --train data/rand1k --val data/rand200 --out models/gnn-sim \\
      --epochs 30 --json train.json

{EXIT_STATUS_HELP}
"""


def _no_overlap(out: Path, dirs: tuple[Path, ...], what: str) -> None:
    o = out.resolve()
    for d in dirs:
        r = d.resolve()
        if o == r or o in r.parents or r in o.parents:
            raise click.BadParameter(f"{out} overlaps the {what} folder {d}; write the model elsewhere",
                                     param_hint="--out")


@click.command(help=_HELP, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.option("--train", "train_dirs", multiple=True, required=True, type=click.Path(exists=True, path_type=Path),
              help="Dataset folder to train on: GNNet, or made by `twinwatch simulate dataset` (repeatable).")
@click.option("--val", "val_dirs", multiple=True, required=True, type=click.Path(exists=True, path_type=Path),
              help="Held-out folder (repeatable): early stopping and conformal calibration; never trained on.")
@click.option("--out", "-o", "out_dir", metavar="DIR", required=True,
              type=click.Path(file_okay=False, path_type=Path),
              help="Model directory to write (created; an existing one is overwritten unless --resume).")
@click.option("--epochs", type=click.IntRange(min=1), default=100, show_default=True, help="Maximum epochs.")
@click.option("--lr", type=FiniteFloatRange(0.0, 10.0, min_open=True), default=2e-3, show_default=True,
              help="Adam learning rate (> 0).")
@click.option("--seed", type=click.IntRange(min=0), default=0, show_default=True, help="Random seed.")
@click.option("--batch-size", type=click.IntRange(min=1), default=16, show_default=True,
              help="Maximum scenarios per mini-batch.")
@click.option("--batch-paths", type=click.IntRange(min=1), default=12000, show_default=True,
              help="Maximum paths per mini-batch.")
@click.option("--time-budget", "time_budget", type=FiniteFloatRange(0.0, min_open=True), default=55.0,
              show_default=True, help="Wall-clock budget in minutes; training stops after the epoch that exceeds it.")
@click.option("--patience", type=click.IntRange(min=1), default=12, show_default=True,
              help="Epochs without validation improvement.")
@click.option("--hidden", type=click.IntRange(min=1, max=4096), default=32, show_default=True,
              help="State size of flows, queues and links.")
@click.option("--iterations", type=click.IntRange(min=1, max=64), default=8, show_default=True,
              help="Message-passing iterations T.")
@click.option("--threads", type=click.IntRange(min=1), default=2, show_default=True, help="torch threads.")
@click.option("--hybrid/--no-hybrid", default=False, show_default=True,
              help="Train the queueing-theory hybrid (the GNN corrects the M/G/1/K estimate of every hop; "
                   "untrained, it is queueing theory) instead of the first-generation readout. With --init-from "
                   "a first-generation model: the hybrid starts from its trained message passing, its readout at "
                   "queueing theory (implies --refit-stats).")
@click.option("--prior", type=click.Choice(list(QT_VARIANTS)), default=None,
              help="The hybrid's queueing-theory variant: classic (the default) or packet (line-rate WFQ and "
                   "input smoothing), both with the other ToS classes' wait in the mean only, as the older "
                   "hybrids were trained; packet-moments (packet with that wait in the variance too); "
                   "packet-inputs (packet-moments with a port's wait shared out by input, the qt-packet model); or "
                   "packet-trains (packet-inputs plus the wait behind larger packets of the same onward stream, "
                   "qt-packet:trains=true; the shipped hybrid's). With --init-from: the start's own unless given (a "
                   "hybrid can continue on another prior; see --reset-readout).")
@click.option("--reset-readout", is_flag=True,
              help="With --init-from a hybrid: zero its last readout layer, so training starts from the prior's own "
                   "predictions (message passing kept); for a hybrid continuing on another --prior.")
@click.option("--readout-hidden", "readout_hidden", type=click.IntRange(min=1, max=4096), default=None,
              help="Width of the readout MLP (default 32, or the --init-from model's own). Another width than "
                   "the start's needs --reset-readout: the readout is rebuilt at that width (a fresh hidden layer, "
                   "the last layer at zero), so training still starts from the prior's own predictions.")
@click.option("--own-size", "own_size", type=click.Choice(list(OWN_SIZE)), default=None,
              help="How the hybrid composes a packet's own transmission times over its path: independent (the "
                   "default, or the --init-from model's own: the readout's variance correction scales each hop's "
                   "whole transit variance) or per-packet (a packet keeps its size over the path: that part is "
                   "added exactly, the correction scales the waits' variance only). Another value than an "
                   "--init-from hybrid's own needs --reset-readout.")
@click.option("--full-buffer-fade", "full_buffer_fade", type=FiniteFloatRange(min=0.0), default=None, metavar="TAU",
              help="The hybrid's full-buffer fade: at a hop whose queueing-theory prior is a deep (a wait of at "
                   "least 100 of the flow's own transmission times), losing buffer, the learned wait correction "
                   "is scaled by exp(-loss/TAU), since such a queue sits at its buffer and waits its drain time, "
                   "which the prior holds. 0 turns it off (the default, or the --init-from model's own; the "
                   "shipped hybrid's is 0.003). It does not change the weights.")
@click.option("--full-buffer-depth", "full_buffer_depth", type=FiniteFloatRange(min=0.0, min_open=True),
              default=None, metavar="N",
              help="How deep a buffer the full-buffer fade acts on: the prior's wait in the flow's own "
                   "transmission times (default 100, or the --init-from model's own). Vendors' buffers of a few "
                   "ms at line rate hold hundreds of packets; GNNet's 8-64.")
@click.option("--init-from", "init_from", metavar="DIR", default=None,
              type=click.Path(exists=True, file_okay=False, path_type=Path),
              help="Start from this model directory's weights, architecture and feature statistics (fine-tune).")
@click.option("--refit-stats", is_flag=True,
              help="With --init-from: refit the feature statistics on --train (a wider data mix than the start's); "
                   "the start's weights are rewritten to compute the same function under them.")
@click.option("--jitter-loss", type=click.Choice(["log", "mape"]), default="log", show_default=True,
              help="The objective's jitter term: log (mean |log(predicted/true)|, the median in log space) or mape "
                   "(mean |predicted/true - 1|, the metric jitter is scored by: a prediction many times the truth "
                   "costs in proportion, so an uncertain jitter is shaded down). With mape the kept epoch is the "
                   "one with the lowest validation queueing-part MAPE + 0.5 x jitter MAPE (see --select).")
@click.option("--select", type=click.Choice(["objective", "queue"]), default="objective", show_default=True,
              help="The validation figure the kept epoch minimises: objective (the objective's own terms: the "
                   "queueing-part MAPE, plus 0.5 x jitter MAPE with --jitter-loss mape) or queue (the "
                   "queueing-part MAPE alone; the jitter MAPE of a few paths the inputs cannot resolve swings by "
                   "several points from epoch to epoch and would otherwise pick the epoch).")
@click.option("--max-nodes", default=None, type=click.IntRange(min=2),
              help="Skip training samples with more nodes than this.")
@click.option("--resume", is_flag=True, help="Continue from OUT/resume.pt.")
@click.option("--mlp-out", metavar="DIR", default=None, type=click.Path(file_okay=False, path_type=Path),
              help="Also train the per-path MLP baseline on the same data and write its model directory here.")
@progress_option
@json_report_option
def train(train_dirs: tuple[Path, ...], val_dirs: tuple[Path, ...], out_dir: Path, epochs: int, lr: float, seed: int,
          batch_size: int, batch_paths: int, time_budget: float, patience: int, hidden: int, iterations: int,
          threads: int, hybrid: bool, prior: str | None, reset_readout: bool, readout_hidden: int | None,
          own_size: str | None, full_buffer_fade: float | None, full_buffer_depth: float | None,
          jitter_loss: str, select: str,
          init_from: Path | None, refit_stats: bool, max_nodes: int | None, resume: bool, mlp_out: Path | None,
          progress: bool, json_report: str | None) -> None:
    import torch
    from rich.console import Console

    from twinwatch.twin.checkpoint import CheckpointError
    from twinwatch.twin.datasets import DatasetError
    from twinwatch.twin.scenario import ScenarioError
    from twinwatch.twin.train import TrainConfig, load_examples
    from twinwatch.twin.train import train as run_train

    tr_res, va_res = [d.resolve() for d in train_dirs], [d.resolve() for d in val_dirs]
    shared = [str(v) for v in va_res if any(v == t or t in v.parents or v in t.parents for t in tr_res)]
    if shared:
        raise click.UsageError(f"--val {', '.join(shared)} overlaps --train; keep validation apart from training")
    for out in (out_dir, mlp_out):
        if out is not None:
            _no_overlap(out, train_dirs + val_dirs, "--train/--val")
    architecture = {"hidden": hidden, "iterations": iterations, "readout_hidden": readout_hidden or 32,
                    "hybrid": hybrid, "prior": prior or "classic", "own_size": own_size or "independent"}
    to_hybrid = False
    if init_from is not None:  # the model continues with the architecture it was trained with, recorded as such
        from twinwatch.twin.checkpoint import load_checkpoint

        try:
            architecture = {"readout_hidden": 32, "hybrid": False, "prior": "classic",
                            **load_checkpoint(init_from)[1].get("architecture", {})}
        except CheckpointError as exc:
            raise click.ClickException(str(exc)) from None
        to_hybrid = hybrid and not architecture["hybrid"]  # a first-generation start turned into the hybrid
        hybrid = hybrid or bool(architecture["hybrid"])
        architecture["hybrid"] = hybrid
        if prior is not None:
            architecture["prior"] = prior
        if readout_hidden is not None and readout_hidden != architecture["readout_hidden"]:
            if not reset_readout:
                raise click.UsageError(f"--readout-hidden {readout_hidden}: the --init-from model's readout is "
                                       f"{architecture['readout_hidden']} wide; another width needs --reset-readout")
            architecture["readout_hidden"] = readout_hidden
        start_own = architecture.get("own_size", "independent")
        if own_size is not None and own_size != start_own:
            if not (reset_readout or to_hybrid):  # a first-generation start gets a fresh hybrid readout anyway
                raise click.UsageError(f"--own-size {own_size}: the --init-from model composes {start_own}; "
                                       "another composition needs --reset-readout")
            architecture["own_size"] = own_size
    if architecture.get("own_size") == "per-packet" and not architecture["hybrid"]:
        raise click.UsageError("--own-size per-packet is an option of the hybrid (--hybrid)")
    if full_buffer_fade is not None:
        if full_buffer_fade > 0 and not architecture["hybrid"]:
            raise click.UsageError("--full-buffer-fade is an option of the hybrid (--hybrid)")
        architecture["full_buffer_fade"] = full_buffer_fade
    if full_buffer_depth is not None:
        if not architecture["hybrid"]:
            raise click.UsageError("--full-buffer-depth is an option of the hybrid (--hybrid)")
        architecture["full_buffer_depth"] = full_buffer_depth
    if reset_readout and (init_from is None or to_hybrid or not architecture["hybrid"]):
        raise click.UsageError("--reset-readout needs --init-from a hybrid model (a first-generation start is "
                               "turned into a hybrid that starts at its prior anyway)")
    try:
        cfg = TrainConfig(epochs=epochs, lr=lr, seed=seed, batch_paths=batch_paths, batch_size=batch_size,
                          time_budget_min=time_budget, patience=patience, threads=threads,
                          architecture=architecture, jitter_loss=jitter_loss, select=select)
    except ValueError as exc:
        raise click.UsageError(str(exc)) from None
    torch.set_num_threads(threads)
    console = Console(stderr=True, quiet=not progress)
    console.print(f"reading training data: {', '.join(map(str, train_dirs))}")
    try:
        tr = load_examples(train_dirs, max_nodes=max_nodes, qt_prior=hybrid, prior=architecture["prior"])
        va = load_examples(val_dirs, qt_prior=hybrid, prior=architecture["prior"])
    except (DatasetError, ScenarioError, OSError, EOFError) as exc:
        raise click.ClickException(str(exc)) from None
    if not tr or not va:
        raise click.ClickException(f"no samples found (train: {len(tr)}, val: {len(va)}); check the folders")
    console.print(f"{len(tr)} training samples ({sum(e.graph.n_paths for e in tr)} paths), "
                  f"{len(va)} validation samples ({sum(e.graph.n_paths for e in va)} paths)")
    info = {"train": [str(d) for d in train_dirs], "val": [str(d) for d in val_dirs], "max_nodes": max_nodes,
            "command": " ".join(["twinwatch", "twin", "train", *sys.argv[3:]]) if len(sys.argv) > 3 else ""}
    try:
        summary = _run(run_train, tr, va, out_dir, cfg, resume, info, console, progress, init_from, refit_stats,
                       to_hybrid, reset_readout)
    except (CheckpointError, OSError) as exc:
        raise click.ClickException(f"cannot write or resume {out_dir}: {exc}") from None
    console.print(f"model written to {out_dir}: best validation delay MAPE {summary['best_val_delay_mape']:.2f} % "
                  f"(epoch {summary['best_epoch']}), {summary['wall_time_s'] / 60:.1f} min")
    report = {k: v for k, v in summary.items() if k != "calibration"}
    if mlp_out is not None:
        from twinwatch.twin.models.mlp import fit_mlp

        res = fit_mlp(tr, va, mlp_out, seed=seed)
        console.print(f"MLP baseline written to {mlp_out}: validation delay MAPE {res['best_val_delay_mape']:.2f} %")
        report["mlp"] = res
    if json_report is not None:
        write_json_report(json_report, report)
    else:  # the former behaviour: the summary as one JSON line on stdout
        import orjson

        click.echo(orjson.dumps(report, option=orjson.OPT_SERIALIZE_NUMPY).decode())


def _run(run_train: object, tr: list, va: list, out_dir: Path, cfg: object, resume: bool, info: dict[str, object],
         console: object, progress: bool, init_from: Path | None = None,
         refit_stats: bool = False, to_hybrid: bool = False, reset_readout: bool = False) -> dict[str, object]:
    """Run training with a rich progress display on ``console`` (nothing when ``progress`` is off)."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    with Progress(TextColumn("[bold]epoch {task.fields[epoch]}"), BarColumn(), MofNCompleteColumn(),
                  TextColumn("loss {task.fields[loss]:.4f}  val delay MAPE {task.fields[val]}  "
                             "best {task.fields[best]}"),
                  TimeElapsedColumn(), console=console, disable=not progress) as bar:  # type: ignore[arg-type]
        task = bar.add_task("train", total=1, epoch=0, loss=0.0, val="-", best="-")

        def on_event(kind: str, ev: dict[str, object]) -> None:
            if kind == "epoch_start":
                bar.reset(task, total=int(ev["batches"]))  # type: ignore[call-overload]
                bar.update(task, epoch=ev["epoch"])
            elif kind == "batch":
                bar.update(task, advance=1, loss=ev["loss"])
            elif kind == "epoch_end":
                val = ev["val"]
                assert isinstance(val, dict)
                bar.update(task, val=f"{val['delay_mape']:.2f}%", best=f"{float(ev['best']):.2f}%")  # type: ignore[arg-type]
                bar.console.print(
                    f"epoch {ev['epoch']}: train loss "
                    f"{'-' if ev['train_loss'] is None else format(float(ev['train_loss']), '.4f')}, "  # type: ignore[arg-type]
                    f"val delay MAPE "
                    f"{val['delay_mape']:.2f} %, queueing part {val.get('queue_mape', float('nan')):.2f} %, "
                    f"jitter MAPE {val['jitter_mape']:.1f} %, loss MAE "
                    f"{val['loss_mae']:.4f}{'  (best, saved)' if ev['improved'] else ''}")

        return run_train(tr, va, out_dir, cfg, resume=resume, data_info=info, on_event=on_event,  # type: ignore[operator]
                         init_checkpoint=init_from, refit_stats=refit_stats, to_hybrid=to_hybrid,
                         reset_readout=reset_readout)
