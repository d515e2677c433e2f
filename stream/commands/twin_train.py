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

import json
import sys
from pathlib import Path

import click

__all__ = ["train"]


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--train", "train_dirs", multiple=True, required=True, type=click.Path(exists=True, path_type=Path),
              help="Dataset folder to train on: GNNet, or made by `twinwatch simulate dataset` (repeatable).")
@click.option("--val", "val_dirs", multiple=True, required=True, type=click.Path(exists=True, path_type=Path),
              help="Held-out folder (repeatable): early stopping and conformal calibration; never trained on.")
@click.option("--out", "out_dir", required=True, type=click.Path(path_type=Path), help="Model directory to write.")
@click.option("--epochs", default=100, show_default=True, help="Maximum epochs.")
@click.option("--lr", default=2e-3, show_default=True, help="Adam learning rate.")
@click.option("--seed", default=0, show_default=True, help="Random seed.")
@click.option("--batch-size", default=16, show_default=True, help="Maximum scenarios per mini-batch.")
@click.option("--batch-paths", default=12000, show_default=True, help="Maximum paths per mini-batch.")
@click.option("--time-budget", "time_budget", default=55.0, show_default=True,
              help="Wall-clock budget in minutes; training stops after the epoch that exceeds it.")
@click.option("--patience", default=12, show_default=True, help="Epochs without validation improvement.")
@click.option("--hidden", default=32, show_default=True, help="State size of flows, queues and links.")
@click.option("--iterations", default=8, show_default=True, help="Message-passing iterations T.")
@click.option("--threads", default=2, show_default=True, help="torch threads.")
@click.option("--max-nodes", default=None, type=int, help="Skip training samples with more nodes than this.")
@click.option("--resume", is_flag=True, help="Continue from OUT/resume.pt.")
@click.option("--mlp-out", default=None, type=click.Path(path_type=Path),
              help="Also train the per-path MLP baseline on the same data and write it here.")
def train(train_dirs: tuple[Path, ...], val_dirs: tuple[Path, ...], out_dir: Path, epochs: int, lr: float, seed: int,
          batch_size: int, batch_paths: int, time_budget: float, patience: int, hidden: int, iterations: int,
          threads: int, max_nodes: int | None, resume: bool, mlp_out: Path | None) -> None:
    """Train the GNN twin on GNNet samples (early stopping on validation delay MAPE)."""
    import torch
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from twin.train import TrainConfig, load_examples
    from twin.train import train as run_train

    torch.set_num_threads(threads)
    console = Console(stderr=True)
    tr_res, va_res = [d.resolve() for d in train_dirs], [d.resolve() for d in val_dirs]
    shared = [str(v) for v in va_res if any(v == t or t in v.parents or v in t.parents for t in tr_res)]
    if shared:
        raise click.UsageError(f"--val {', '.join(shared)} overlaps --train; keep validation apart from training")
    console.print(f"reading training data: {', '.join(map(str, train_dirs))}")
    tr = load_examples(train_dirs, max_nodes=max_nodes)
    va = load_examples(val_dirs)
    if not tr or not va:
        raise click.ClickException(f"no samples found (train: {len(tr)}, val: {len(va)}); check the folders")
    console.print(f"{len(tr)} training samples ({sum(e.graph.n_paths for e in tr)} paths), "
                  f"{len(va)} validation samples ({sum(e.graph.n_paths for e in va)} paths)")
    cfg = TrainConfig(epochs=epochs, lr=lr, seed=seed, batch_paths=batch_paths, batch_size=batch_size,
                      time_budget_min=time_budget, patience=patience, threads=threads,
                      architecture={"hidden": hidden, "iterations": iterations, "readout_hidden": 32})
    info = {"train": [str(d) for d in train_dirs], "val": [str(d) for d in val_dirs], "max_nodes": max_nodes,
            "command": " ".join(["twinwatch", "twin", "train", *sys.argv[3:]]) if len(sys.argv) > 3 else ""}
    with Progress(TextColumn("[bold]epoch {task.fields[epoch]}"), BarColumn(), MofNCompleteColumn(),
                  TextColumn("loss {task.fields[loss]:.4f}  val delay MAPE {task.fields[val]}  "
                             "best {task.fields[best]}"),
                  TimeElapsedColumn(), console=console) as progress:
        task = progress.add_task("train", total=1, epoch=0, loss=0.0, val="-", best="-")

        def on_event(kind: str, ev: dict[str, object]) -> None:
            if kind == "epoch_start":
                progress.reset(task, total=int(ev["batches"]))  # type: ignore[arg-type]
                progress.update(task, epoch=ev["epoch"])
            elif kind == "batch":
                progress.update(task, advance=1, loss=ev["loss"])
            elif kind == "epoch_end":
                val = ev["val"]
                assert isinstance(val, dict)
                progress.update(task, val=f"{val['delay_mape']:.2f}%", best=f"{float(ev['best']):.2f}%")  # type: ignore[arg-type]
                progress.console.print(
                    f"epoch {ev['epoch']}: train loss {float(ev['train_loss']):.4f}, val delay MAPE "  # type: ignore[arg-type]
                    f"{val['delay_mape']:.2f} %, jitter MAPE {val['jitter_mape']:.1f} %, loss MAE "
                    f"{val['loss_mae']:.4f}{'  (best, saved)' if ev['improved'] else ''}")

        summary = run_train(tr, va, out_dir, cfg, resume=resume, data_info=info, on_event=on_event)
    console.print(f"model written to {out_dir}: best validation delay MAPE {summary['best_val_delay_mape']:.2f} % "
                  f"(epoch {summary['best_epoch']}), {summary['wall_time_s'] / 60:.1f} min")
    if mlp_out is not None:
        from twin.models.mlp import fit_mlp

        res = fit_mlp(tr, va, mlp_out, seed=seed)
        console.print(f"MLP baseline written to {mlp_out}: validation delay MAPE {res['best_val_delay_mape']:.2f} %")
    click.echo(json.dumps({k: v for k, v in summary.items() if k != "calibration"}))
