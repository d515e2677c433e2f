"""``twinwatch replay``: recorded telemetry through exactly the service's pipeline, without Kafka.

The captures are read on demand (:mod:`twinwatch.stream.capture`: a JSONL capture holds 16 bytes of line
offsets per message, a Parquet one its ``value`` column as one Arrow array), interleaved so that every format
advances in event time together (:func:`twinwatch.stream.pipeline.iter_interleave`), and fed in batches
to :class:`twinwatch.stream.pipeline.Pipeline`, the code the live service runs: decode
→ counters → windows → snapshot → twin → detectors. Outputs: alert lines
(JSONL), optionally the dead letters, the expected-vs-observed records and a
self-contained HTML report.
"""

from __future__ import annotations

import html
import re
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import click
import numpy as np

from twinwatch.stream.commands._options import EXIT_STATUS_HELP, ExitCode, FiniteFloatRange, SingleValueOption

__all__ = ["ReplayResult", "open_captures", "read_capture", "replay", "run_replay", "write_report"]

_TOPIC_RE = re.compile(r"twinwatch\.raw\.([a-z0-9_]+)")


def read_capture(path: Path) -> Sequence[bytes]:
    """Message values of a capture, read on demand (:func:`twinwatch.stream.capture.open_capture`): JSONL (one
    message per line, as the topics hold them) or Parquet with a ``value`` column (binary or string), as a Kafka
    topic export has.

    Raises
    ------
    click.ClickException
        The file cannot be read, or a Parquet file is unreadable or has no ``value`` column.
    """
    from twinwatch.stream.capture import CaptureError, open_capture

    try:
        return open_capture(path)
    except CaptureError as exc:
        raise click.ClickException(str(exc)) from None


def capture_format(path: Path, default: str | None) -> str:
    """``default`` when given, else the format in a ``twinwatch.raw.<format>`` file name."""
    if default and default != "auto":
        return default
    mt = _TOPIC_RE.search(path.name)
    if mt is None:
        raise click.UsageError(f"{path}: cannot tell the format from the file name; give --format")
    return mt.group(1)


def open_captures(paths: Sequence[Path], fmt: str | None) -> tuple[dict[str, Sequence[bytes]], list[Path]]:
    """The captures as one stream of messages per collector format (:func:`read_capture`, chained in the order
    given; the format from ``fmt`` or each file's name, :func:`capture_format`), and those that hold no message.

    Raises :class:`click.BadParameter` (``--format``) for a format no adapter reads.
    """
    from twinwatch.stream.capture import CaptureChain
    from twinwatch.telemetry_adapters import known_formats

    parts: dict[str, list[Sequence[bytes]]] = {}
    empty: list[Path] = []
    for path in paths:
        messages = read_capture(path)
        if not messages:
            empty.append(path)
        parts.setdefault(capture_format(path, fmt), []).append(messages)
    bad = sorted(set(parts) - set(known_formats()))
    if bad:
        raise click.BadParameter(f"unknown format(s) {', '.join(bad)}; known: {', '.join(known_formats())}",
                                 param_hint="--format")
    return {f: CaptureChain(p) for f, p in parts.items()}, empty


_FAILED_NOTE = " (skipped after an error: the log names each window, its stage and the traceback)"


class ReplayResult:
    """Counts and per-window records of a replay (what the report and the summary need)."""

    def __init__(self) -> None:
        self.messages: dict[str, int] = {}
        self.dead_letters = 0
        self.refused_messages = 0  # dead letters that are a whole message (the others are one element of one)
        self.changes: list[Any] = []
        self.windows: list[Any] = []
        self.late_rows = 0
        self.failed_windows = 0  # skipped after a stage raised (logged with the window and the error)
        from twinwatch.stream.clocks import DeviceClocks

        self.devices = DeviceClocks(())  # the devices ahead (held back) and late, named (the pipeline's)
        self.event_span_s = 0.0
        self.elapsed_s = 0.0

    @property
    def speedup(self) -> float:
        """Event time covered / wall time spent."""
        return self.event_span_s / self.elapsed_s if self.elapsed_s > 0 else float("inf")


def run_replay(streams: Mapping[str, Sequence[bytes]], models: Sequence[Any], twin: Any, *, window_s: float,
               lateness_s: float, batch: int = 2000, detection: dict[str, Any] | None = None,
               alerts_sink: Any = None, dlq_sink: Any = None, expected_sink: Any = None,
               keep_windows: bool = False, tm_range: bool = False, flow_matrix: str = "fitted",
               matrix_classes: str = "best-effort") -> ReplayResult:
    """Run the captures through :class:`~stream.pipeline.Pipeline`; write to the sinks as the service would."""
    from twinwatch.stream.pipeline import Pipeline, PipelineOutput, iter_interleave

    pipe = Pipeline(models, twin, window_s=window_s, lateness_s=lateness_s, detection=detection, max_age_s=None,
                    sources=streams, idle_s=float("inf"), tm_range=tm_range, flow_matrix=flow_matrix,
                    matrix_classes=matrix_classes)
    result = ReplayResult()
    result.messages = {f: len(v) for f, v in streams.items()}
    t0 = time.perf_counter()
    first, last = np.inf, -np.inf

    def emit(out: PipelineOutput) -> None:
        nonlocal first, last
        result.dead_letters += len(out.dead_letters)
        result.refused_messages += sum(d.whole_message for d in out.dead_letters)
        result.changes += out.changes
        for w in out.windows:
            first, last = min(first, w.start), max(last, w.end)
        if keep_windows:
            result.windows += [w for w in out.windows if w.detection is not None]
        if alerts_sink is not None:
            alerts_sink.write_changes(out.changes)
        if dlq_sink is not None:
            dlq_sink.write_many(d.to_dict() for d in out.dead_letters)
        if expected_sink is not None:
            expected_sink.write_many(out.expected)

    for fmt, chunk in iter_interleave(streams, batch):
        emit(pipe.process(chunk, fmt))
    emit(pipe.flush())
    for s in (alerts_sink, dlq_sink, expected_sink):
        if s is not None:
            s.flush()
    result.elapsed_s = time.perf_counter() - t0
    result.event_span_s = float(last - first) if np.isfinite(first) else 0.0
    result.late_rows = sum(pipe.late_rows.values())
    result.failed_windows = pipe.failed_windows
    result.devices = pipe.devices
    return result


def run_twinless(streams: Mapping[str, Sequence[bytes]], *, window_s: float, lateness_s: float, alpha: float,
                 batch: int = 2000, k: int = 2, m: int = 3, r: int = 2, alerts_sink: Any = None,
                 dlq_sink: Any = None) -> ReplayResult:
    """No network model: every series (entity, KPI) scored by the detectors' twin-less mode.

    Decoding, dead letters, device clocks, counters and windows are the pipeline's
    (:class:`~twinwatch.stream.ingest.Ingest`, one lane without inventory: entities are the devices'
    interfaces and the probes' pairs as the telemetry names them); the window means of each series go to
    :func:`twinwatch.detectors.series.score_many` (its own seasonal forecast + conformal p-value); a window
    is flagged where ``score >= 1 - alpha``; k-of-m persistence and the alert book make the alerts
    (kind ``traffic_anomaly`` for rates and utilisation, ``degradation`` with severity ``warning``
    for delay, loss, drops and errors: without a twin nothing pages).
    """
    from twinwatch.detectors.alerts import Alert, AlertBook
    from twinwatch.detectors.decision import Persistence
    from twinwatch.detectors.series import score_many
    from twinwatch.stream.clocks import DeviceClocks
    from twinwatch.stream.ingest import Ingest, LaneState
    from twinwatch.stream.pipeline import FLOW_ONLY_FORMATS, WindowBuffer, iter_interleave
    from twinwatch.telemetry_adapters import DecoderConfig

    result = ReplayResult()
    result.messages = {f: len(v) for f, v in streams.items()}
    t0 = time.perf_counter()
    wb = WindowBuffer(window_s, lateness_s, idle_s=float("inf"))
    wb.expect(f for f in streams if f not in FLOW_ONLY_FORMATS)
    devices = result.devices = DeviceClocks(None)  # no inventory: every device's clock is followed
    # one lane, no network (""), no inventory: every entity as the telemetry names it
    ingest = Ingest({"": LaneState(None, wb)}, devices, DecoderConfig(max_age_s=None))
    keys: dict[tuple[str, str, str], int] = {}
    rows: list[tuple[float, np.ndarray, np.ndarray]] = []  # (window start, series index, mean)

    def close(force: bool) -> None:
        for start, _, cols in wb.close_ready(force=force):
            if not cols or cols["value"].size == 0:
                continue
            ok = np.isfinite(cols["value"])
            trip = np.stack([np.asarray(cols[c][ok], dtype=str) for c in ("entity_kind", "entity_id", "kpi")], axis=1)
            uniq, inv = np.unique(trip, axis=0, return_inverse=True)
            idx = np.array([keys.setdefault((str(a), str(b), str(c)), len(keys)) for a, b, c in uniq.tolist()])
            sums = np.bincount(inv.ravel(), weights=cols["value"][ok], minlength=len(uniq))
            counts = np.bincount(inv.ravel(), minlength=len(uniq))
            rows.append((start, idx, sums / counts))

    for fmt, chunk in iter_interleave(streams, batch):
        res, dead = ingest.decode(chunk, fmt)
        result.dead_letters += len(dead)
        result.refused_messages += sum(d.whole_message for d in dead)
        if dlq_sink is not None:
            dlq_sink.write_many(d.to_dict() for d in dead)
        ingest.add_samples(res.samples, fmt, fmt)
        ingest.report_clocks()
        close(False)
    close(True)
    result.late_rows = wb.late_rows
    if rows:
        starts = np.array([w for w, _, _ in rows])
        y = np.full((len(rows), len(keys)), np.nan)
        for t, (_, idx, mean) in enumerate(rows):
            y[t, idx] = mean
        names = list(keys)
        scores = score_many([(starts, y[:, j]) for j in range(len(names))])
        sc = np.stack(scores, axis=1) if scores else np.zeros((len(rows), 0))
        pers = Persistence(len(names), k=k, m=m, r=r)
        book = AlertBook()
        for t in range(len(rows)):
            ch = pers.update(sc[t] >= 1.0 - alpha, observed=np.isfinite(y[t]))
            fired = []
            for j in np.flatnonzero(ch.fired).tolist():
                kind_e, ent, kpi = names[j]
                rate = kpi.endswith(("_bps", "_pps")) and not kpi.startswith(("drop", "error"))
                kind = "traffic_anomaly" if rate or kpi == "utilization" else "degradation"
                fired.append(Alert.open(network="default", entity_kind=kind_e, entity_id=ent, kpi=kpi,
                                        start=float(starts[t]), kind=kind, severity="warning",
                                        observed=float(y[t, j]), p_value=float(1.0 - sc[t, j]),
                                        explanation=f"{kpi} of {kind_e} {ent} left its own history (twin-less)"))
            gone = [("default", *names[j]) for j in np.flatnonzero(ch.resolved).tolist()]
            changes = book.fire(fired) + book.resolve(gone, end=float(starts[t] + window_s))
            result.changes += changes
            if alerts_sink is not None:
                alerts_sink.write_changes(changes)
        result.event_span_s = float(starts[-1] + window_s - starts[0])
    for s in (alerts_sink, dlq_sink):
        if s is not None:
            s.flush()
    result.elapsed_s = time.perf_counter() - t0
    return result


# ----------------------------------------------------------------------------- the HTML report
def _svg(ts: np.ndarray, obs: np.ndarray, exp: np.ndarray, lo: np.ndarray, hi: np.ndarray,
         spans: list[tuple[float, float]], labels: list[tuple[float, float]], w: int = 720, h: int = 180) -> str:
    """Inline SVG: observed (black), expected (blue) with its bounds (band), alert spans (red), labels (orange)."""
    vals = np.concatenate([obs, exp, lo, hi])
    vals = vals[np.isfinite(vals)]
    if ts.size == 0 or vals.size == 0:
        return "<p>(no values)</p>"
    y0, y1 = float(vals.min()), float(vals.max())
    if y1 <= y0:
        y1 = y0 + 1.0
    x0, x1 = float(ts.min()), float(ts.max()) if ts.max() > ts.min() else float(ts.min()) + 1.0

    def x(t: np.ndarray | float) -> np.ndarray:
        return 40 + (np.asarray(t, dtype=float) - x0) / (x1 - x0) * (w - 50)

    def y(v: np.ndarray) -> np.ndarray:
        return h - 20 - (np.asarray(v, dtype=float) - y0) / (y1 - y0) * (h - 30)

    def line(v: np.ndarray, color: str) -> str:
        ok = np.isfinite(v)
        pts = " ".join(f"{a:.1f},{b:.1f}" for a, b in zip(x(ts[ok]), y(v[ok]), strict=True))
        return f'<polyline fill="none" stroke="{color}" stroke-width="1.5" points="{pts}"/>'

    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" style="background:#fff">']
    for a, b in labels:
        parts.append(f'<rect x="{x(a):.1f}" y="0" width="{max(x(b) - x(a), 1):.1f}" height="{h - 20}" '
                     'fill="orange" opacity="0.25"><title>labelled fault</title></rect>')
    for a, b in spans:
        parts.append(f'<rect x="{x(a):.1f}" y="{h - 18}" width="{max(x(b) - x(a), 2):.1f}" height="6" fill="red">'
                     '<title>alert firing</title></rect>')
    ok = np.isfinite(lo) & np.isfinite(hi)
    if ok.any():
        up = " ".join(f"{a:.1f},{b:.1f}" for a, b in zip(x(ts[ok]), y(hi[ok]), strict=True))
        dn = " ".join(f"{a:.1f},{b:.1f}" for a, b in zip(x(ts[ok])[::-1], y(lo[ok])[::-1], strict=True))
        parts.append(f'<polygon points="{up} {dn}" fill="steelblue" opacity="0.2"/>')
    parts += [line(exp, "steelblue"), line(obs, "black")]
    parts.append(f'<text x="2" y="12" font-size="10">{y1:.4g}</text><text x="2" y="{h - 22}" font-size="10">'
                 f'{y0:.4g}</text>')
    parts.append("</svg>")
    return "".join(parts)


def write_report(path: Path, result: ReplayResult, models: Sequence[Any], labels: list[dict[str, Any]]) -> None:
    """A self-contained HTML report (inline SVG, no external resources): per alerting entity, observed vs
    expected with bounds over the replay, the alert spans, the suspects and the labelled faults."""
    by_net = {m.name: m for m in models}
    firing: dict[str, dict[str, Any]] = {}
    spans: dict[str, list[tuple[float, float]]] = {}
    t_end = max((w.end for w in result.windows), default=0.0)
    for ch in result.changes:
        a = ch.alert
        key = f"{a.network}|{a.entity_kind}|{a.entity_id}|{a.kpi}"
        firing.setdefault(key, a.to_dict())
        if ch.action == "firing":
            spans.setdefault(key, []).append((a.start, t_end))
        elif spans.get(key):
            spans[key][-1] = (spans[key][-1][0], float(a.end or t_end))
    ts = np.array([w.start for w in result.windows])
    sections = []
    for key, a in sorted(firing.items()):
        net, kind, ent, kpi = key.split("|")
        model = by_net.get(net)
        rows = [w for w in result.windows if w.network == net]
        t = np.array([w.start for w in rows])
        series: dict[str, list[float]] = {k: [] for k in ("observed", "expected", "lower", "upper")}
        for w in rows:
            det = w.detection
            if kind == "link" and model is not None and kpi in det.link:
                i = model.link_index[ent]
                for k in series:
                    series[k].append(float(det.link[kpi][k][i]))
            elif kind == "path" and model is not None and kpi in det.pairs:
                s, d = ent.split("->")
                i = model.node_index[s] * model.n_nodes + model.node_index[d]
                for k in series:
                    series[k].append(float(det.pairs[kpi][k][i]))
            else:
                for k in series:
                    series[k].append(np.nan)
        lab = [(float(lb["start"]), float(lb["end"])) for lb in labels if ent in lb.get("entities", [])
               or any(ent_part in lb.get("entities", []) for ent_part in ent.split("->"))]
        svg = _svg(t, *(np.array(series[k]) for k in ("observed", "expected", "lower", "upper")),
                   spans.get(key, []), lab)
        sus = ", ".join(f"{html.escape(s['link'])} ({s['score']:.2f})" for s in a.get("suspects") or [])
        sections.append(f"<h3>{html.escape(net)} · {kind} {html.escape(ent)} · {html.escape(kpi)} "
                        f"<small>({html.escape(a['kind'])}, {a['severity']})</small></h3>"
                        f"<p>{html.escape(a['explanation'])}</p><p>suspects: {sus or '—'}</p>{svg}")
    lab_rows = "".join(f"<tr><td>{html.escape(str(lb.get('kind')))}</td><td>{html.escape(str(lb.get('entities')))}"
                       f"</td><td>{lb.get('start')}</td><td>{lb.get('end')}</td><td>{lb.get('benign')}</td></tr>"
                       for lb in labels)
    span = f"{ts.min():.0f}–{ts.max():.0f}" if ts.size else "—"
    doc = f"""<!doctype html><html><head><meta charset="utf-8"><title>twinwatch replay report</title>
<style>body{{font-family:sans-serif;margin:2em}}table{{border-collapse:collapse}}td,th{{border:1px solid #ccc;
padding:2px 6px}}</style></head><body>
<h1>twinwatch replay report</h1>
<p>windows {len(result.windows)} (event time {span}), messages {sum(result.messages.values())}, dead letters
{result.dead_letters}, late rows {result.late_rows}, failed windows {result.failed_windows}{_FAILED_NOTE if
result.failed_windows else ""}, alert changes {len(result.changes)}, replay speed {result.speedup:.0f}× real time.</p>
{"".join(f"<p><b>{html.escape(t)}</b></p>" for t in _clocks_text(result))}
<p>Black: observed; blue: the twin's expectation with its calibrated bounds (band); red bar: alert firing;
orange: labelled fault.</p>
{''.join(sections) or '<p>No alerts.</p>'}
<h2>Labels</h2><table><tr><th>kind</th><th>entities</th><th>start</th><th>end</th><th>benign</th></tr>{lab_rows}</table>
</body></html>"""
    path.write_text(doc, encoding="utf-8")


# ----------------------------------------------------------------------------- the command
@click.command(
    "replay",
    epilog="""\b
EXAMPLES
  twinwatch replay run/topics/*.jsonl --network run/network.yaml --out alerts.jsonl
  twinwatch replay capture.parquet --format gnmic --network abilene --out alerts.jsonl \\
      --report report.html --labels run/labels.jsonl

"""
    + EXIT_STATUS_HELP
    + """
  An empty capture (no message) exits 1 when every capture is empty (nothing
  was replayed) and makes the status 3 when others are not (named on stderr).
  A window that fails (its snapshot, the twin or the detector raises) is
  skipped and logged with its traceback, the replay goes on, and the status
  is 3.""",
)
@click.argument("captures", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--format", "fmt", default="auto", show_default=True, cls=SingleValueOption,
              repeat_hint="--format applies to every capture; to mix formats, name the captures "
                          "twinwatch.raw.<format>... and leave --format auto.",
              help="Collector format of every capture (gnmic, influx, telegraf, probe, goflow2, ...); auto: from a "
                   "twinwatch.raw.<format> file name.")
@click.option("--network", "networks", multiple=True, metavar="FILE|NAME",
              help="Network-model file or shipped network name (repeatable). Without one, the twin-less mode "
                   "scores every series against its own history (no twin, no expected KPIs, no report plots).")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), required=True,
              help="Alerts JSONL to write (one Alert per line; a state change is a new line with the same id).")
@click.option("--dlq", type=click.Path(dir_okay=False, path_type=Path), help="Dead-letter JSONL to write.")
@click.option("--expected", type=click.Path(dir_okay=False, path_type=Path),
              help="Expected-vs-observed JSONL to write (one record per network and window).")
@click.option("--report", type=click.Path(dir_okay=False, path_type=Path), help="Self-contained HTML report.")
@click.option("--labels", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="labels.jsonl of the run (faults with start/end), shown in the report.")
@click.option("--window", "window_s", type=FiniteFloatRange(min=0.001), default=10.0, show_default=True,
              help="Window length, seconds.")
@click.option("--lateness", "lateness_s", type=FiniteFloatRange(min=0.0), default=5.0, show_default=True,
              help="Allowed lateness, seconds.")
@click.option("--model", default="gnn", show_default=True, help="Twin model (gnn, qt, mlp, sim).")
@click.option("--checkpoint", type=click.Path(exists=True, path_type=Path), help="Checkpoint of the gnn/mlp model.")
@click.option("--alpha", type=FiniteFloatRange(min=0, max=1, min_open=True, max_open=True), default=0.01,
              show_default=True, help="Network-wide test level per window (Benjamini-Hochberg).")
@click.option("--batch", type=click.IntRange(min=1), default=2000, show_default=True,
              help="Messages per decode batch.")
@click.option("--tm-range/--no-tm-range", "tm_range", default=False, show_default=True,
              help="On windows whose traffic comes from sampled flow records, ask the twin a second time at the "
                   "traffic's upper estimate and widen the expected range by the difference (the service's "
                   "detection.tm_range).")
@click.option("--flow-matrix", type=click.Choice(["fitted", "records"]), default="fitted", show_default=True,
              help="On windows measured by flow records, the twin predicts from the records' matrix fitted to the "
                   "window's link counters (fitted) or from the records' own matrix (records; pairs the sampling "
                   "missed then send nothing). The service's detection.flow_matrix.")
@click.option("--matrix-classes", type=click.Choice(["records", "best-effort"]), default="best-effort",
              show_default=True,
              help="How a matrix fitted to the counters splits each pair over the ToS classes: all in DSCP 0's "
                   "class (best-effort: one twin flow per pair, about a third of the twin's time on a three-class "
                   "network; the same detections where both were scored) or as the flow records do (records: "
                   "per-class expectations). The service's detection.matrix_classes.")
def replay(captures: tuple[Path, ...], fmt: str, networks: tuple[str, ...], out: Path, dlq: Path | None,
           expected: Path | None, report: Path | None, labels: Path | None, window_s: float, lateness_s: float,
           model: str, checkpoint: Path | None, alpha: float, batch: int, tm_range: bool, flow_matrix: str,
           matrix_classes: str) -> None:
    """Replay recorded telemetry through the service's pipeline, without Kafka, faster than real time.

    CAPTURE files hold raw collector messages as the twinwatch.raw.<format>
    topics do: JSONL (one message per line) or Parquet (a 'value' column).
    They are read on demand (a JSONL capture costs 16 bytes of memory per
    message, its line offsets), so a day of a large network's telemetry
    replays in bounded memory. Several captures of different formats are
    interleaved by their position in time. Windows, snapshots, twin
    inference and detection are those of `twinwatch run`; the alerts
    written are those the service would publish.
    A summary (windows, alerts, dead letters, speed vs real time) goes to
    stderr.
    """
    import torch

    from twinwatch.stream.commands.twin_predict import cli_model
    from twinwatch.stream.sinks import JsonlSink
    from twinwatch.twin.netmodel import load_network
    from twinwatch.twin.netmodel.errors import NetworkModelError

    torch.set_num_threads(1)
    labs: list[dict[str, Any]] = []
    if labels is not None:  # checked before the replay: a bad labels file must not cost a whole run
        from twinwatch.detectors.scoring import ScoringError, load_labels

        try:
            labs = load_labels(labels)
        except ScoringError as exc:
            raise click.ClickException(f"--labels {exc}") from None
    streams, empty = open_captures(captures, fmt)
    if len(empty) == len(captures):
        names = ", ".join(map(str, empty[:5])) + (f" and {len(empty) - 5} more" if len(empty) > 5 else "")
        raise click.ClickException(f"{names}: empty capture{'s' if len(empty) > 1 else ''} (no message): "
                                   "nothing to replay")
    for path in empty:
        click.echo(f"twinwatch replay: warning: {path}: empty capture (no message); nothing replayed from it",
                   err=True)
    if not networks:
        if report is not None or expected is not None:
            raise click.UsageError("--report and --expected need a --network (the twin-less mode has no twin)")
        with JsonlSink(out, fsync=False) as sink_a:
            sink_a.path.write_bytes(b"")
            dsink = JsonlSink(dlq, fsync=False) if dlq else None
            if dsink is not None:
                dsink.path.write_bytes(b"")
            try:
                res = run_twinless(streams, window_s=window_s, lateness_s=lateness_s, alpha=alpha, batch=batch,
                                   alerts_sink=sink_a, dlq_sink=dsink)
            finally:
                if dsink is not None:
                    dsink.close()
        _summary(res, empty_captures=len(empty))
        return
    models = []
    for net in networks:
        try:
            models.append(load_network(net))
        except (NetworkModelError, OSError, ValueError) as exc:
            raise click.ClickException(f"--network {net}: {exc}") from None
    twin = cli_model(model, checkpoint)
    sinks = {"alerts": JsonlSink(out, fsync=False), "dlq": JsonlSink(dlq, fsync=False) if dlq else None,
             "expected": JsonlSink(expected, fsync=False) if expected else None}
    for p in (out, dlq, expected):
        if p is not None:
            p.write_bytes(b"")
    try:
        res = run_replay(streams, models, twin, window_s=window_s, lateness_s=lateness_s, batch=batch,
                         detection={"alpha": alpha}, alerts_sink=sinks["alerts"], dlq_sink=sinks["dlq"],
                         expected_sink=sinks["expected"], keep_windows=report is not None, tm_range=tm_range,
                         flow_matrix=flow_matrix, matrix_classes=matrix_classes)
    finally:
        for s in sinks.values():
            if s is not None:
                s.close()
    if report is not None:
        write_report(report, res, models, labs)
    _summary(res, empty_captures=len(empty))


def _clocks_text(res: ReplayResult) -> list[str]:
    """Sentences naming the devices whose clock ran ahead of the others (held back from the watermark) or behind
    them, and those that sent samples older than the windows already closed (late), with how far."""
    out = []
    def who(dev: str, net: str) -> str:  # (the twin-less mode has no network)
        return f"{dev} of {net}" if net else dev

    ahead = [f"{who(dev, net)} ({s:.0f} s)" for net, d in sorted(res.devices.ahead.items())
             for dev, s in sorted(d.items())]
    if ahead:
        out.append(f"{len(ahead)} device clock(s) ran more than a window ahead of the other devices and were held "
                   f"back, their samples re-stamped to the others' time (check their NTP): {', '.join(ahead)}")
    behind = [f"{who(dev, net)} ({s:.0f} s)" for net, d in sorted(res.devices.behind.items())
              for dev, s in sorted(d.items())]
    if behind:
        out.append(f"{len(behind)} device clock(s) ran steadily more than two windows behind the other devices, "
                   f"their samples re-stamped forward to the others' time (check their NTP): {', '.join(behind)}")
    late = [f"{who(dev, net)} ({n} sample(s), up to {s:.0f} s)" for net, d in sorted(res.devices.late.items())
            for dev, (n, s) in sorted(d.items())]
    if late:
        out.append(f"{len(late)} device(s) sent samples older than the windows already closed (clock behind, or "
                   f"telemetry held up; their rows were late): {', '.join(late)}")
    return out


def _summary(res: ReplayResult, empty_captures: int = 0) -> None:
    """One summary line on stderr; exit 1 when every message went to the dead letters, 3 when some did, some
    captures were empty or some windows failed."""
    fired = sum(c.action == "firing" for c in res.changes)
    per_format = ", ".join(f"{k} {v}" for k, v in res.messages.items())
    click.echo(f"replayed {sum(res.messages.values())} messages ({per_format}): {fired} alert(s) fired, "
               f"{len(res.changes) - fired} resolved, {res.dead_letters} dead letter(s), "
               f"{res.late_rows} late row(s), {res.failed_windows} failed window(s); "
               f"{res.event_span_s:.0f} s of telemetry in {res.elapsed_s:.1f} s ({res.speedup:.0f}x real time)",
               err=True)
    total = sum(res.messages.values())
    if total and res.refused_messages >= total:
        click.echo("error: every message was rejected (see the dead letters): nothing was replayed", err=True)
        sys.exit(int(ExitCode.INVALID_INPUT))
    if res.failed_windows:
        click.echo(f"warning: {res.failed_windows} window(s) were skipped after an error (logged above, "
                   "with the window and the stage)", err=True)
    for text in _clocks_text(res):
        click.echo(f"warning: {text}", err=True)
    partial = res.dead_letters or empty_captures or res.failed_windows
    sys.exit(int(ExitCode.PARTIAL) if partial else int(ExitCode.OK))
