"""``twinwatch score``: how good were these alerts? Event precision, recall, delay, localisation, false alarms.

Wiring only: reading the files, printing the table. The rules and the maths
are :func:`twinwatch.detectors.scoring.score`.
"""

from __future__ import annotations

import functools
import json
import math
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from twinwatch.stream.commands._options import (
    EXIT_STATUS_HELP,
    ExitCode,
    FiniteFloatRange,
    checkpoint_option,
    json_report_option,
    write_json_report,
)

if TYPE_CHECKING:
    from twinwatch.detectors.scoring import ScoreReport
    from twinwatch.detectors.visibility import FaultVisibility
    from twinwatch.twin.netmodel import NetworkModel

__all__ = ["score"]


def _fmt(x: float | None, spec: str = ".3f") -> str:
    return "-" if x is None or (isinstance(x, float) and math.isnan(x)) else format(x, spec)


@click.command(
    "score",
    epilog="""\b
MATCHING RULES
  An alert matches a label when its onset lies in [start, end + grace] and
  its kind can detect the label's kind: degradation detects every network
  fault; link_state detects link_down, capacity_degradation and
  metric_change (a port reported down, a lower speed, another IGP
  metric); traffic_anomaly / expected_congestion
  a traffic surge; telemetry_health explains counter clears, reboots, gaps
  and late batches. Unmatched degradation alerts are false alarms; their
  overlapping spans form one false-positive incident. See the
  detectors.scoring module for every rule.

\b
EXAMPLES
  twinwatch score --labels run/labels.jsonl --alerts alerts.jsonl
  twinwatch score --labels run/labels.jsonl --alerts alerts.jsonl --network run/network.yaml \\
      --manifest run/manifest.json --alpha 0.01 --json report.json
  twinwatch score --labels run/labels.jsonl --alerts alerts.jsonl --network run/network.yaml \\
      --manifest run/manifest.json --truth run/truth

\b
FAULTS THE TELEMETRY MEASURES (--truth)
  A fault whose true effect stays inside the twin's calibrated 90 % interval
  on every KPI, or shows only on paths no probe measures, cannot be told from
  noise by any detector fed this telemetry. With the run's ground truth
  (truth/ of `twinwatch simulate telemetry`), each fault is judged from the
  truth and the twin's intervals alone, never from the alerts; the table is
  then repeated on the faults the telemetry measures (the issue's F1 target
  is on those), and the others are listed with the reason.

"""
    + EXIT_STATUS_HELP
    + """
  An empty --labels file exits 1 (no ground truth: nothing to score); an
  empty --alerts file is a valid answer (the detector raised no alert).""",
)
@click.option("--labels", "labels_path", type=click.Path(exists=True, dir_okay=False, path_type=Path), required=True,
              help="labels.jsonl of the run (one ground-truth label per fault or benign event).")
@click.option("--alerts", "alerts_path", type=click.Path(exists=True, dir_okay=False, path_type=Path), required=True,
              help="Alert JSON lines (firing / resolved state changes, stable ids).")
@click.option("--network", "network", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="The run's network.yaml: entity count (directed links + node pairs) and link ids for "
                   "localising node faults. Default: entities seen in the alerts (a lower bound).")
@click.option("--manifest", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="The run's manifest.json: run span and window length (default: from labels and alerts, "
                   "--window).")
@click.option("--window", "window_s", type=FiniteFloatRange(min=0.001), default=10.0, show_default=True,
              help="Window length, seconds (delays are reported in windows).")
@click.option("--grace", "grace_windows", type=FiniteFloatRange(min=0.0), default=2.0, show_default=True,
              help="Grace after a label's end during which an onset still matches, in windows.")
@click.option("--alpha", type=FiniteFloatRange(min=0, max=1, min_open=True, max_open=True), default=0.01,
              show_default=True, help="The detector's configured level (false alarms are compared with it).")
@click.option("--rule", type=click.Choice(["onset", "overlap"]), default="onset", show_default=True,
              help="onset: the alert must start inside the label's span + grace; overlap: any overlap.")
@click.option("--truth", "truth_dir", type=click.Path(exists=True, file_okay=False, path_type=Path),
              help="The run's truth/ folder (paths.parquet, links.parquet): also score the faults the telemetry "
                   "measures beyond the twin's 90 % interval apart. Needs --network and --manifest.")
@checkpoint_option
@json_report_option
def score(labels_path: Path, alerts_path: Path, network: Path | None, manifest: Path | None, window_s: float,
          grace_windows: float, alpha: float, rule: str, truth_dir: Path | None, checkpoint: Path | None,
          json_report: str | None) -> None:
    """Score a detector's alerts against the ground-truth labels of a run.

    Reads only the labels and the alerts (plus, optionally, the run's network
    model for the entity count and its manifest for the run span). Prints,
    per fault kind: events, detected, false-positive incidents, precision,
    recall, F1, median and 95th-percentile detection delay (windows), top-1
    and top-3 localisation accuracy, wrong-link pages (network-fault alerts
    matched to a fault on a link it does not touch); then false alarms per
    entity-hour of fault-free time against --alpha, and benign events that
    drew a network-fault alert. With --truth, the same on the faults the telemetry
    measures (--checkpoint: the twin whose intervals judge them; default the
    shipped one).
    """
    from twinwatch.detectors.scoring import ScoringError, entities_of_network, load_alert_lines, load_labels
    from twinwatch.detectors.scoring import score as run_score
    from twinwatch.detectors.visibility import reported_kinds

    try:
        labels = load_labels(labels_path)
        alerts = load_alert_lines(alerts_path)
    except ScoringError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(int(ExitCode.INVALID_INPUT))
    if not labels:
        click.echo(f"error: --labels {labels_path}: no label in the file (empty): with no ground truth, precision, "
                   "recall and delays are undefined; nothing to score", err=True)
        sys.exit(int(ExitCode.INVALID_INPUT))
    if truth_dir is not None and (network is None or manifest is None):
        raise click.UsageError("--truth needs --network and --manifest (the routes, probes and window length the "
                               "faults are judged on)")
    n_entities, links, start, end, mdl = None, [], None, None, None
    if network is not None:
        from twinwatch.twin.netmodel import load_network_model
        from twinwatch.twin.netmodel.errors import NetworkModelError

        try:
            mdl = load_network_model(network)
        except (NetworkModelError, OSError, ValueError) as exc:
            click.echo(f"error: --network {network}: {exc}", err=True)
            sys.exit(int(ExitCode.INVALID_INPUT))
        n_entities = entities_of_network(mdl.n_nodes, mdl.n_links)
        links = list(mdl.link_ids)
    reported: frozenset[str] = frozenset()  # the fault kinds the run's telemetry reports (its manifest says so)
    if manifest is not None:
        try:
            man = json.loads(manifest.read_text())
            cfg = man["config"]
            start = float(man["start_epoch_s"])
            duration_s = float(cfg["duration_s"])
            window_s = float(cfg["window_s"])
            reported = reported_kinds(cfg)
            end = start + duration_s
            for key, v in (("start_epoch_s", start), ("config.duration_s", duration_s), ("config.window_s", window_s)):
                if not math.isfinite(v) or (v <= 0 and key != "start_epoch_s"):
                    raise ValueError(f"{key} must be a finite number{'' if key == 'start_epoch_s' else ' > 0'}, "
                                     f"got {v!r}")
        except (OSError, ValueError, KeyError, TypeError) as exc:
            click.echo(f"error: --manifest {manifest}: not a testbed manifest ({exc})", err=True)
            sys.exit(int(ExitCode.INVALID_INPUT))
    scorer = functools.partial(run_score, labels, alerts, window_s=window_s, grace_windows=grace_windows,
                               n_entities=n_entities, known_links=links, alpha=alpha, run_start=start, run_end=end,
                               rule=rule)  # type: ignore[arg-type]
    visibility = None
    try:
        rep = scorer()
        if truth_dir is not None:
            visibility = _visibility(labels, truth_dir, mdl, checkpoint, window_s, reported)
            observable = scorer(scored_ids={k for k, v in visibility.items() if v.observable})
    except ScoringError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(int(ExitCode.INVALID_INPUT))
    lines = _table(rep)
    lines.append(f"false alarms: {rep.false_alarms} alert(s) in {rep.false_alarm_incidents} incident(s) over "
                 f"{rep.fault_free_hours:.2f} fault-free h x {rep.n_entities} entities = "
                 f"{_fmt(rep.false_alarms_per_entity_hour, '.4g')} per entity-hour "
                 f"({_fmt(rep.false_alarms_per_entity_window, '.3g')} per entity-window, "
                 f"{_fmt(rep.ratio_to_alpha, '.3g')} x alpha={alpha:g})")
    lines.append(f"benign events: {rep.benign_events}, with a network-fault alert: {rep.benign_with_network_alert}, "
                 f"explained by telemetry-health alerts: {rep.benign_explained}")
    out = rep.to_dict()
    if visibility is not None:
        hidden = [v for v in visibility.values() if not v.observable]
        lines += ["", f"faults the telemetry measures beyond the twin's 90 % interval: "
                      f"{len(visibility) - len(hidden)} of {len(visibility)}", *_table(observable)]
        by_id = {str(lb.get("id")): lb for lb in labels}
        lines += [f"  not measurable: {v.kind} {','.join(map(str, by_id.get(v.id, {}).get('entities') or ()))} "
                  f"({v.id}): {v.unmeasured_reason} (largest true effect: path delay "
                  f"|log ratio| {_fmt(v.delay_log_ratio, '.3g')}, path loss +{_fmt(v.loss_increase, '.3g')}, "
                  f"link utilisation {_fmt(v.utilization_change, '.3g')})" for v in hidden]
        out["observable"] = observable.to_dict()
        out["visibility"] = {k: v.to_dict() for k, v in visibility.items()}
    click.echo("\n".join(lines), err=json_report == "-")
    write_json_report(json_report, out)
    sys.exit(int(ExitCode.OK))


def _table(rep: ScoreReport) -> list[str]:
    """The per-kind rows of a :class:`~twinwatch.detectors.scoring.ScoreReport`, with their header."""
    head = f"{'kind':<22}{'events':>7}{'det':>5}{'FP':>5}{'prec':>7}{'recall':>7}{'F1':>7}{'delay':>7}{'p95':>7}" \
           f"{'top1':>7}{'top3':>7}{'wrong':>7}"
    lines = [head]
    for k in [*rep.per_kind.values(), rep.overall]:
        lines.append(f"{k.kind:<22}{k.events:>7}{k.detected:>5}{k.false_positives:>5}{_fmt(k.precision):>7}"
                     f"{_fmt(k.recall):>7}{_fmt(k.f1):>7}{_fmt(k.delay_median_windows, '.1f'):>7}"
                     f"{_fmt(k.delay_p95_windows, '.1f'):>7}{_fmt(k.top1, '.2f'):>7}{_fmt(k.top3, '.2f'):>7}"
                     f"{k.wrong_link_pages:>7}")
    return lines


def _visibility(labels: list[dict[str, Any]], truth_dir: Path, model: NetworkModel | None,
                checkpoint: Path | None, window_s: float, reported: frozenset[str]) -> dict[str, FaultVisibility]:
    """Each network fault's visibility (:func:`twinwatch.detectors.visibility.model_fault_visibility`); exits 1
    with a message naming the file when the truth or the checkpoint's calibration cannot be read."""
    from twinwatch.detectors.visibility import VisibilityError, checkpoint_intervals, model_fault_visibility

    try:
        return model_fault_visibility(labels, truth_dir, model, checkpoint_intervals(checkpoint), window_s=window_s,
                                      reported=reported)
    except VisibilityError as exc:
        click.echo(f"error: --truth / --checkpoint: {exc}", err=True)
        sys.exit(int(ExitCode.INVALID_INPUT))
