"""``twinwatch twin predict`` and ``twinwatch twin evaluate``.

``predict`` writes one JSON line per sample in the stable contract format::

    {"file": "<tarball path relative to DATA_DIR>", "index": <0-based sample line>,
     "n_nodes": N, "paths": [{"src": s, "dst": d, "delay": x, "jitter": y, "loss": z}, ...]}

with one ``paths`` entry per (src, dst) pair that carries traffic, in the
dataset's own time units. ``evaluate`` prints MAPE / MAE per topology size.

Expected failures (a missing or corrupt dataset, an invalid scenario file, a
model that cannot load) end with a one-line message and exit status 1; usage
errors exit with 2.
"""

from __future__ import annotations

import os
import sys
import time
import warnings
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

import click
import orjson

if TYPE_CHECKING:
    from rich.console import Console

    from twin.evaluate import EvalReport
    from twin.kpis import Prediction
    from twin.models import KPIModel
    from twin.scenario import Scenario

__all__ = ["evaluate", "load_model", "predict", "prediction_record", "stderr_console"]

_YAML_SUFFIXES = (".yaml", ".yml")


def stderr_console() -> Console:
    """A rich console on stderr (progress bars, warnings)."""
    from rich.console import Console

    return Console(stderr=True)


def load_model(name: str | None, checkpoint: Path | None) -> KPIModel:
    """The model for ``--model`` / ``--checkpoint``; usage errors exit 2, load errors exit 1."""
    from twin.models import MODELS, get_model

    if name is not None and name.strip().lower() not in MODELS:
        raise click.BadParameter(
            f"unknown model {name!r}; known models: {', '.join(sorted(MODELS))}", param_hint="--model"
        )
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            model = get_model(name, checkpoint=str(checkpoint) if checkpoint else None)
        except TypeError as exc:
            raise click.UsageError(f"model {name!r} does not take these options: {exc}") from None
        except (ImportError, OSError, RuntimeError, ValueError) as exc:
            raise click.ClickException(f"cannot load model {name or '(default)'!r}: {exc}") from None
    for w in caught:  # our registry's fallback notice; library deprecation noise is dropped
        if issubclass(w.category, RuntimeWarning):
            click.echo(f"warning: {w.message}", err=True)
    return model


def prediction_record(file: str, index: int, scenario: Scenario, pred: Prediction) -> dict[str, Any]:
    """The contract JSON object of one sample (NaN becomes ``null``).

    >>> import numpy as np
    >>> from twin.kpis import Prediction
    >>> from twin.scenario import Flow, Scenario
    >>> sc = Scenario.build(2, [(0, 1, 1e6)], {(0, 1): [0, 1]}, [Flow(0, 1, 1e5)])
    >>> p = Prediction.empty(1, 1); p.path_delay_s[:] = 0.5; p.path_jitter_s2[:] = 0.1; p.path_loss_ratio[:] = 0
    >>> prediction_record("a.tar.gz", 3, sc, p)
    {'file': 'a.tar.gz', 'index': 3, 'n_nodes': 2,
     'paths': [{'src': 0, 'dst': 1, 'delay': 0.5, 'jitter': 0.1, 'loss': 0.0}]}
    """
    paths = [
        {"src": s, "dst": d, "delay": x, "jitter": y, "loss": z}
        for s, d, x, y, z in zip(
            scenario.path_src.tolist(),
            scenario.path_dst.tolist(),
            pred.path_delay_s.tolist(),
            pred.path_jitter_s2.tolist(),
            pred.path_loss_ratio.tolist(),
            strict=True,
        )
    ]
    return {"file": file, "index": int(index), "n_nodes": int(scenario.n_nodes), "paths": paths}


def _data_errors() -> tuple[type[BaseException], ...]:
    from twin.datasets.gnnet import DatasetError
    from twin.scenario import ScenarioError

    return (DatasetError, ScenarioError, OSError, EOFError)


@contextmanager
def _as_click_errors() -> Iterator[None]:
    """Turn expected data errors into a one-line message and exit status 1."""
    errors = _data_errors()
    try:
        yield
    except BrokenPipeError:
        raise
    except errors as exc:
        raise click.ClickException(str(exc)) from None


def _is_yaml(path: Path) -> bool:
    return path.is_file() and path.suffix.lower() in _YAML_SUFFIXES


def _iter_inputs(data: Path) -> Iterator[tuple[str, int, Scenario]]:
    """``(file, index, scenario)`` for a scenario YAML or every sample of a dataset."""
    if _is_yaml(data):
        from twin.datasets.scenario_yaml import load_scenario_yaml

        yield data.name, 0, load_scenario_yaml(data)
        return
    from twin.datasets import iter_samples

    for s in iter_samples(data):
        yield s.file, s.index, s.scenario


def _progress(items: Iterable[Any], label: str, quiet: bool) -> Iterator[Any]:
    """Yield ``items`` while a rich progress line on stderr counts them."""
    if quiet:
        yield from items
        return
    from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    with Progress(
        SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn(), console=stderr_console(),
        transient=True,
    ) as bar:
        task = bar.add_task(label, total=None)
        for k, item in enumerate(items, 1):
            name = item[0] if isinstance(item, tuple) else getattr(item, "file", "")
            bar.update(task, description=f"{label}: {k} samples [dim]{name}[/dim]")
            yield item


_MODEL_OPT = click.option(
    "--model", "-m", "model_name", metavar="NAME", default=None,
    help="qt | mlp | gnn | sim. Default: gnn if its shipped checkpoint loads, else qt.",
)
_CKPT_OPT = click.option(
    "--checkpoint", type=click.Path(exists=True, dir_okay=True, path_type=Path), default=None,
    help="Checkpoint for the gnn/mlp model instead of the shipped one.",
)
_QUIET_OPT = click.option("--quiet", "-q", is_flag=True, help="No progress bar on stderr.")
_DATA_ARG = click.argument("data_dir", metavar="DATA_DIR", type=click.Path(exists=True, path_type=Path))


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@_DATA_ARG
@_MODEL_OPT
@_CKPT_OPT
@click.option(
    "--out", "-o", "out", metavar="FILE", default="-", show_default=True,
    help="Where to write the JSON lines; '-' is standard output.",
)
@click.option("--limit", type=click.IntRange(min=1), default=None, help="Stop after N samples.")
@_QUIET_OPT
def predict(data_dir: Path, model_name: str | None, checkpoint: Path | None, out: str, limit: int | None,
            quiet: bool) -> None:
    """Predict per-path KPIs of every sample under DATA_DIR, one JSON line per sample.

    \b
    DATA_DIR is a GNNet dataset folder (any depth of sub-folders holding
    .tar.gz files with graphs/ and routings/ beside them), a single .tar.gz,
    or a scenario YAML file (format: twin/datasets/scenario_yaml.py).

    \b
    Each output line (a stable contract):
      {"file": "100/results_400-2000_14_14.tar.gz", "index": 0, "n_nodes": 100,
       "paths": [{"src": 0, "dst": 1, "delay": 0.81, "jitter": 0.02, "loss": 0.0}, ...]}
    file is the tarball relative to DATA_DIR (the file name for a YAML input),
    index the 0-based line of the sample in that tarball's result files; one
    paths entry per (src, dst) pair that carries traffic.

    \b
    Units are the dataset's own: delay = mean per-packet delay (GNNet: time
    units; YAML: seconds), jitter = variance of the per-packet delay (unit²),
    loss = dropped / generated packets (0..1). null means not predicted.

    \b
    Examples:
      twinwatch twin predict ../shared/data/gnnet/2021/validation --model qt --out preds.jsonl
      twinwatch twin predict twin/data/nsfnet.yaml --model qt --out -

    Exit status: 0 ok, 1 data or model error, 2 usage error.
    """
    model = load_model(model_name, checkpoint)
    t0 = time.perf_counter()
    n = 0
    try:
        with _as_click_errors(), _open_out(out) as fh:
            items = _iter_inputs(data_dir)
            for file, index, sc in _progress(items, f"predicting ({model.name})", quiet):
                pred = model.predict(sc)
                fh.write(orjson.dumps(prediction_record(file, index, sc, pred)))
                fh.write(b"\n")
                n += 1
                if limit is not None and n >= limit:
                    break
    except BrokenPipeError:  # e.g. `... --out - | head`: the reader went away; stop quietly
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        sys.exit(0)
    if not quiet:
        where = "stdout" if out == "-" else out
        click.echo(f"{n} samples predicted with {model.name} in {time.perf_counter() - t0:.2f} s -> {where}", err=True)


@contextmanager
def _open_out(out: str) -> Iterator[IO[bytes]]:
    if out == "-":
        stream = click.get_binary_stream("stdout")
        yield stream
        stream.flush()
        return
    path = Path(out)
    if path.parent and not path.parent.exists():
        raise click.BadParameter(f"folder {str(path.parent)!r} does not exist", param_hint="--out")
    with path.open("wb") as fh:
        yield fh


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@_DATA_ARG
@_MODEL_OPT
@_CKPT_OPT
@click.option("--json", "json_out", metavar="FILE", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Also write the scores as JSON to FILE ('-' for stdout, replacing the table).")
@click.option("--bucket", type=click.Choice(["nodes", "folder"]), default="nodes", show_default=True,
              help="Size bucket: number of nodes of the topology, or the sample's sub-folder (e.g. 50/).")
@click.option("--limit", type=click.IntRange(min=1), default=None, help="Stop after N samples.")
@_QUIET_OPT
def evaluate(data_dir: Path, model_name: str | None, checkpoint: Path | None, json_out: Path | None, bucket: str,
             limit: int | None, quiet: bool) -> None:
    """Score a model against the labels of a GNNet dataset.

    \b
    Prints, per topology-size bucket and overall: MAPE (%) of the per-path
    mean delay and of the jitter (delay variance), mean absolute error of the
    per-path loss ratio (0..1), the number of samples and paths, wall time and
    the model's predict time per sample. MAPE uses only paths with a positive
    label; paths the model leaves NaN are counted, not scored.

    \b
    Examples:
      twinwatch twin evaluate ../shared/data/gnnet/2020/validation --model qt
      twinwatch twin evaluate ../shared/data/gnnet/2022/validation --model qt --bucket folder --json qt.json

    Exit status: 0 ok, 1 data or model error, 2 usage error.
    """
    if _is_yaml(data_dir):
        raise click.BadParameter("a scenario YAML has no labels; evaluate needs a GNNet dataset folder",
                                 param_hint="DATA_DIR")
    from twin.evaluate import evaluate as run_evaluation

    model = load_model(model_name, checkpoint)
    with _as_click_errors():
        report = run_evaluation(model, data_dir, bucket_by=bucket, limit=limit,
                                wrap=lambda it: _progress(it, f"evaluating ({model.name})", quiet))
    if report.overall.samples == 0:
        raise click.ClickException(f"no samples found under {data_dir}")
    doc = orjson.dumps(report.to_dict(), option=orjson.OPT_INDENT_2 | orjson.OPT_SERIALIZE_NUMPY)
    if json_out is not None and str(json_out) == "-":
        click.get_binary_stream("stdout").write(doc + b"\n")
        return
    if json_out is not None:
        try:
            json_out.write_bytes(doc + b"\n")
        except OSError as exc:
            raise click.ClickException(f"cannot write {json_out}: {exc.strerror or exc}") from None
    from rich.console import Console

    Console(file=sys.stdout).print(eval_table(report))


def eval_table(report: EvalReport) -> Any:
    """A rich table of an :class:`~twin.evaluate.EvalReport`."""
    from rich.table import Table

    def pct(x: float) -> str:
        return "-" if x != x else f"{x:.2f}"

    def mae(x: float) -> str:
        return "-" if x != x else f"{x:.4f}"

    by = "nodes" if report.bucket_by == "nodes" else "folder"
    table = Table(
        title=f"{report.model} on {report.data_dir}",
        caption=(f"wall {report.wall_s:.1f} s, predict {1e3 * report.predict_s_per_sample:.1f} ms/sample, "
                 f"{report.skipped_unstable} unstable samples skipped\n{report.note}"),
    )
    table.add_column(by, justify="right")
    for col in ("samples", "paths", "delay MAPE %", "jitter MAPE %", "loss MAE", "NaN preds"):
        table.add_column(col, justify="right")
    rows = [*report.buckets.items(), ("overall", report.overall)]
    for i, (key, st) in enumerate(rows):
        table.add_row(key, str(st.samples), str(st.paths), pct(st.delay_mape), pct(st.jitter_mape),
                      mae(st.loss_mae), str(st.nan_predictions), end_section=(i == len(rows) - 2),
                      style="bold" if key == "overall" else None)
    return table
