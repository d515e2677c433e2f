"""``twinwatch twin predict`` and ``twinwatch twin evaluate``.

``predict`` writes one JSON line per sample in the stable contract format::

    {"file": "<tarball path relative to DATA_DIR>", "index": <0-based sample line>,
     "n_nodes": N, "paths": [{"src": s, "dst": d, "path": p, "delay": x, "jitter": y, "loss": z}, ...]}

with one ``paths`` entry per routed path that carries traffic, in the
dataset's own time units; ``path`` is the scenario's path number, which tells
apart the equal-cost (ECMP) paths of one (src, dst) pair. ``evaluate`` prints MAPE / MAE per topology size.

Expected failures (a missing or corrupt dataset, an invalid scenario file, a
model that cannot load) end with a one-line message and exit status 1; usage
errors exit with 2; a run that wrote some lines and then failed, or wrote
null values, exits with 3 (partial success) and says why on stderr.
"""

from __future__ import annotations

import os
import sys
import time
import warnings
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click
import orjson

from twinwatch.stream.commands._options import (
    EXIT_STATUS_HELP,
    MODEL_NAMES,
    ExitCode,
    atomic_output,
    checkpoint_option,
    json_report_option,
    out_file_option,
    progress_option,
    write_json_report,
)

if TYPE_CHECKING:
    from rich.console import Console

    from twinwatch.twin.evaluate import EvalReport
    from twinwatch.twin.kpis import Prediction
    from twinwatch.twin.models import KPIModel
    from twinwatch.twin.scenario import Scenario

__all__ = ["cli_model", "evaluate", "predict", "prediction_record", "stderr_console"]

_YAML_SUFFIXES = (".yaml", ".yml")

def stderr_console() -> Console:
    """A rich console on stderr (progress bars, warnings)."""
    from rich.console import Console

    return Console(stderr=True)


def cli_model(name: str | None, checkpoint: Path | None) -> KPIModel:
    """``twin.models.load_model`` for ``--model`` / ``--checkpoint``: usage errors exit 2, load errors 1."""
    from twinwatch.twin.models import CHECKPOINT_MODELS, ModelLoadError, UnknownModelError, load_model

    key = name.strip().lower() if name is not None else None
    if checkpoint is not None and key is not None and key not in CHECKPOINT_MODELS:
        raise click.UsageError(f"model {name!r} does not take these options: it has no checkpoint (--checkpoint "
                               f"applies to the {' and '.join(CHECKPOINT_MODELS)} models only)")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            model = load_model(name, checkpoint)
        except UnknownModelError as exc:
            raise click.BadParameter(str(exc), param_hint="--model") from None
        except TypeError as exc:
            why = str(exc).split("got ", 1)[-1]  # not the factory's Python signature
            raise click.UsageError(f"model {name!r} does not take these options ({why})") from None
        except ModelLoadError as exc:
            raise click.ClickException(str(exc)) from None
    for w in caught:  # our registry's fallback notice; library deprecation noise is dropped
        if issubclass(w.category, RuntimeWarning):
            click.echo(f"warning: {w.message}", err=True)
    return model


def prediction_record(file: str, index: int, scenario: Scenario, pred: Prediction) -> dict[str, Any]:
    """The contract JSON object of one sample (NaN becomes ``null``).

    >>> import numpy as np
    >>> from twinwatch.twin.kpis import Prediction
    >>> from twinwatch.twin.scenario import Flow, Scenario
    >>> sc = Scenario.build(2, [(0, 1, 1e6)], {(0, 1): [0, 1]}, [Flow(0, 1, 1e5)])
    >>> p = Prediction.empty(1, 1); p.path_delay_s[:] = 0.5; p.path_jitter_s2[:] = 0.1; p.path_loss_ratio[:] = 0
    >>> prediction_record("a.tar.gz", 3, sc, p)
    {'file': 'a.tar.gz', 'index': 3, 'n_nodes': 2,
     'paths': [{'src': 0, 'dst': 1, 'path': 0, 'delay': 0.5, 'jitter': 0.1, 'loss': 0.0}]}
    """
    paths = [
        {"src": s, "dst": d, "path": p, "delay": x, "jitter": y, "loss": z}
        for p, (s, d, x, y, z) in enumerate(zip(
            scenario.path_src.tolist(),
            scenario.path_dst.tolist(),
            pred.path_delay_s.tolist(),
            pred.path_jitter_s2.tolist(),
            pred.path_loss_ratio.tolist(),
            strict=True,
        ))
    ]
    return {"file": file, "index": int(index), "n_nodes": int(scenario.n_nodes), "paths": paths}


def _data_errors() -> tuple[type[BaseException], ...]:
    from twinwatch.twin.datasets.gnnet import DatasetError
    from twinwatch.twin.scenario import ScenarioError

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
    """A scenario YAML file, or a pipe (``<(cat x.yaml)``, ``/dev/stdin``): read as a scenario YAML stream."""
    if path.is_file():
        return path.suffix.lower() in _YAML_SUFFIXES
    return path.exists() and not path.is_dir()  # a FIFO or character device: no dataset folder can be one


def _iter_inputs(data: Path) -> Iterator[tuple[str, int, Scenario]]:
    """``(file, index, scenario)`` for a scenario YAML or every sample of a dataset."""
    if _is_yaml(data):
        from twinwatch.twin.datasets.scenario_yaml import load_scenario_yaml

        yield data.name, 0, load_scenario_yaml(data)
        return
    from twinwatch.twin.datasets import iter_samples

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
    help=MODEL_NAMES + ". Default: gnn if its shipped checkpoint loads, else qt.",
)
_DATA_ARG = click.argument("data_dir", metavar="DATA_DIR", type=click.Path(exists=True, path_type=Path))

_EXIT_PREDICT = """\b
Exit status:
  0  success: every sample predicted, no null value
  1  invalid input (unreadable dataset or scenario file, model that cannot
     load); nothing written (an existing --out file is left as it was)
  2  usage error (unknown option, bad option value, --out = DATA_DIR)
  3  partial success: lines were written, but a later sample failed or some
     KPIs are null (not predicted); stderr counts them and says why"""


class _Warnings:
    """Counts the warnings models raise while predicting and prints one line per kind on stderr."""

    def __init__(self) -> None:
        self.first: dict[str, str] = {}
        self.count: dict[str, int] = {}

    def add(self, caught: list[warnings.WarningMessage]) -> None:
        seen: set[str] = set()
        for w in caught:
            if not issubclass(w.category, RuntimeWarning):
                continue  # library deprecation noise
            key = w.category.__name__ if w.category.__module__.startswith("twin.") else str(w.message)
            if key in seen:
                continue
            seen.add(key)
            self.first.setdefault(key, str(w.message))
            self.count[key] = self.count.get(key, 0) + 1

    def echo(self) -> None:
        for key, msg in self.first.items():
            k = self.count[key]
            click.echo(f"warning: {msg}" + (f" (in {k} samples; the first is shown)" if k > 1 else ""), err=True)


def _null_count(pred: Prediction) -> int:
    """Path KPI values the model left NaN (written as ``null``)."""
    import numpy as np

    return int(sum(np.count_nonzero(~np.isfinite(a)) for a in (pred.path_delay_s, pred.path_jitter_s2,
                                                                  pred.path_loss_ratio)))


@click.command(context_settings={"help_option_names": ["-h", "--help"]}, epilog=_EXIT_PREDICT)
@_DATA_ARG
@_MODEL_OPT
@checkpoint_option
@out_file_option(inputs=("data_dir",), help="File to write the JSON lines to, '-' for standard output. It is "
                 "written under a temporary name and renamed when done; it may not be DATA_DIR itself.")
@click.option("--limit", type=click.IntRange(min=1), default=None, help="Stop after N samples.")
@progress_option
def predict(data_dir: Path, model_name: str | None, checkpoint: Path | None, out: str, limit: int | None,
            progress: bool) -> None:
    """Predict per-path KPIs of every sample under DATA_DIR, one JSON line per sample.

    \b
    DATA_DIR is a GNNet dataset folder (any depth of sub-folders holding
    .tar.gz files with graphs/ and routings/ beside them), a single .tar.gz,
    a dataset made by `twinwatch simulate dataset`, or a scenario YAML file
    (format: twin/datasets/scenario_yaml.py).

    \b
    Each output line (a stable contract):
      {"file": "100/results_400-2000_14_14.tar.gz", "index": 0, "n_nodes": 100,
       "paths": [{"src": 0, "dst": 1, "path": 0, "delay": 0.81, "jitter": 0.02, "loss": 0.0}, ...]}
    file is the tarball relative to DATA_DIR (the file name for a YAML input),
    index the 0-based line of the sample in that tarball's result files; one
    paths entry per routed path that carries traffic; path is the scenario's
    path number (ECMP: several paths share one src, dst pair).

    \b
    Units are the dataset's own: delay = mean per-packet delay (GNNet: time
    units; YAML: seconds), jitter = variance of the per-packet delay (unit²),
    loss = dropped / generated packets (0..1). null means not predicted; the
    reason is printed on stderr and the exit status is then 3. Delays are
    never below the path's propagation + transmission time, and a model
    asked about inputs outside its training domain (mlp) says so on stderr.

    \b
    Examples:
      twinwatch twin predict ../shared/data/gnnet/2021/validation --model qt --out preds.jsonl
      twinwatch twin predict twin/data/nsfnet.yaml --model qt --out -
    """
    model = cli_model(model_name, checkpoint)
    t0 = time.perf_counter()
    n = nulls = 0
    failure: str | None = None
    notes = _Warnings()
    errors = _data_errors()
    try:
        with atomic_output(out) as fh:
            try:
                items = _iter_inputs(data_dir)
                for file, index, sc in _progress(items, f"predicting ({model.name})", not progress):
                    with warnings.catch_warnings(record=True) as caught:
                        warnings.simplefilter("always")
                        pred = model.predict(sc)
                    notes.add(caught)
                    nulls += _null_count(pred)
                    fh.write(orjson.dumps(prediction_record(file, index, sc, pred)))
                    fh.write(b"\n")
                    n += 1
                    if limit is not None and n >= limit:
                        break
            except BrokenPipeError:
                raise
            except errors as exc:
                if n == 0:
                    raise click.ClickException(str(exc)) from None
                failure = str(exc)  # keep the lines written so far: a partial success
    except BrokenPipeError:  # e.g. `... --out - | head`: the reader went away; stop quietly
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        sys.exit(0)
    notes.echo()
    where = "stdout" if out == "-" else out
    if progress or failure or nulls:
        click.echo(f"{n} samples predicted with {model.name} in {time.perf_counter() - t0:.2f} s -> {where}", err=True)
    if failure:
        click.echo(f"error: stopped after {n} samples: {failure}", err=True)
    if nulls:
        click.echo(f"warning: {nulls} path KPI values are null (not predicted); see the warnings above", err=True)
    if failure or nulls:
        click.get_current_context().exit(int(ExitCode.PARTIAL))


@click.command(context_settings={"help_option_names": ["-h", "--help"]}, epilog=EXIT_STATUS_HELP)
@_DATA_ARG
@_MODEL_OPT
@checkpoint_option
@json_report_option
@click.option("--bucket", type=click.Choice(["nodes", "folder"]), default="nodes", show_default=True,
              help="Size bucket: number of nodes of the topology, or the sample's sub-folder (e.g. 50/).")
@click.option("--limit", type=click.IntRange(min=1), default=None, help="Stop after N samples.")
@progress_option
def evaluate(data_dir: Path, model_name: str | None, checkpoint: Path | None, json_report: str | None, bucket: str,
             limit: int | None, progress: bool) -> None:
    """Score a model against the labels of a GNNet dataset.

    \b
    Prints, per topology-size bucket and overall: MAPE (%) of the per-path
    mean delay and of the jitter (delay variance), mean absolute error of the
    per-path loss ratio (0..1), the number of samples and paths, wall time and
    the model's predict time per sample. MAPE uses only paths with a positive
    label; paths the model leaves NaN are counted, not scored. With --json
    FILE the scores are also written to FILE as JSON (--json - prints them
    instead of the table).

    \b
    Examples:
      twinwatch twin evaluate ../shared/data/gnnet/2020/validation --model qt
      twinwatch twin evaluate ../shared/data/gnnet/2022/validation --model qt --bucket folder --json qt.json
    """
    if _is_yaml(data_dir):
        raise click.BadParameter("a scenario YAML has no labels; evaluate needs a GNNet dataset folder",
                                 param_hint="DATA_DIR")
    from twinwatch.twin.evaluate import evaluate as run_evaluation

    model = cli_model(model_name, checkpoint)
    with _as_click_errors():
        report = run_evaluation(model, data_dir, bucket_by=bucket, limit=limit,
                                wrap=lambda it: _progress(it, f"evaluating ({model.name})", not progress))
    if report.overall.samples == 0:
        raise click.ClickException(f"no samples found under {data_dir}")
    write_json_report(json_report, report.to_dict())
    if json_report == "-":
        return
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
