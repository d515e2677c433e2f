"""Side-by-side detection evaluation on the network under test: the twin and the operators' baselines.

For each (network, seed) this script

1. generates a labelled run with ``twinwatch simulate telemetry`` (or reuses
   one already in ``--runs-dir`` with the same configuration);
2. decodes the run's telemetry once with the adapters (:func:`decode_run`:
   the same decoders and counter normalisation as the service) into
   per-window series (:class:`twinwatch.detectors.baselines.RunSeries`);
3. runs every detector on that same telemetry, each writing Alert JSON lines:
   ``static`` (static thresholds), ``series`` (the twin-less series mode),
   ``promql-adaptive`` / ``promql-robust`` (Grafana's PromQL anomaly-detection
   rules evaluated by a real Prometheus, ``bench/promql_baseline.py``) and
   ``twin`` (``twinwatch replay``: the service's pipeline with the twin);
4. scores all of them with :func:`twinwatch.detectors.scoring.score` (labels + alerts
   only) and pools the runs per detector (:func:`twinwatch.detectors.scoring.combine_reports`).

Writes a JSON report (default ``bench/notes/detect_eval.json``) and prints a
Markdown table per detector.

Seeds: :data:`DEV_SEEDS` were used while developing or in an earlier scoring and are refused; the held-out seeds of
each scoring are fixed in ``bench/notes/detect_eval.md`` before their runs are generated.
Example (about 40 min on the shared 2-core box)::

    .venv/bin/python bench/detect_eval.py --networks abilene geant --hours 3 --seeds 601 602
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _report import machine_info, write_report  # noqa: E402

from twinwatch.detectors.baselines import RunSeries, flags_to_alert_lines, series_flags, static_flags  # noqa: E402
from twinwatch.detectors.scoring import (  # noqa: E402
    ScoreReport,
    combine_reports,
    entities_of_network,
    load_alert_lines,
    load_labels,
    score,
)

DEV_SEEDS = (7, 101, 102, 103, 201, 301, 401, 501, 601, 701, 801, 901, 1001, 1101, 1201, 1301, 1401, 1501, 1601, 1701,
             1801, 1901, 2001, 2101, 2201, 2301, 2401, 2501, 2601, 2701, 2801, 2901, 3001, 3101, 3201, 3301,
             3401, 3501, 3601, 3701, 3801, 3901, 4001, 4101, 4201, 4301, 4401, 4501, 4601, 4701,
             4801, 4901, 5001, 5101, 5201, 5301, 5401, 5501, 5601, 5701, 5801, 5901,
             6001, 6101, 6201, 6301, 6401, 6402, 6403, 6501, 6601, 6701, 6801, 6901, 7001, 7101, 7201, 7301, 7401, 7501,
             7601, 7701, 7702, 7801, 7901, 8001, 8101)
"""Seeds used while developing the baselines and the scorer, or already scored once: a new scoring needs new seeds."""

_FORMATS = ("gnmic", "influx", "probe")  # goflow2 flow records carry no link or path KPI the baselines use


REPORT_FLAGS = {"speed": "--report-speed", "igp-metric": "--report-igp-metric"}
"""``--report`` choices → ``twinwatch simulate telemetry``'s options: what the routers also report."""


def ensure_run(runs_dir: Path, network: str, hours: float, seed: int, faults: int,
               reports: tuple[str, ...] = ()) -> Path:
    """The run directory of (network, seed), generated with ``twinwatch simulate telemetry`` unless present.

    ``network``: a shipped network's name or a network-model file (the run is named after the file's stem);
    ``reports``: :data:`REPORT_FLAGS` keys (the run's name says which).
    """
    if seed in DEV_SEEDS:
        raise SystemExit(f"seed {seed} was used while developing or in an earlier scoring; evaluate on new seeds")
    label = Path(network).stem if network.endswith((".yaml", ".yml")) else network
    run = runs_dir / (f"{label}-{hours:g}h-f{faults}-s{seed}" + "".join(f"-{r}" for r in sorted(reports)))
    man = run / "manifest.json"
    if man.is_file():
        return run
    cmd = [sys.executable, "-m", "twinwatch.stream.cli", "simulate", "telemetry", "--network", network, "--duration",
           f"{hours * 3600:.0f}s", "--faults", str(faults), "--seed", str(seed), "--out", str(run),
           *(REPORT_FLAGS[r] for r in sorted(reports))]
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, check=False)
    if proc.returncode not in (0, 3) or not man.is_file():
        raise SystemExit(f"simulate failed for {network} seed {seed}: {proc.stderr.strip()[-2000:]}")
    print(f"  generated {run.name} in {time.perf_counter() - t0:.0f} s", file=sys.stderr)
    return run


def decode_run(run: Path) -> tuple[RunSeries, Any]:
    """Decode the run's topics (adapters + counter normalisation, the inventory of its network.yaml).

    Returns the per-window series (links: utilization, tx_bps, drop_pps; probe pairs: delay_s,
    loss_ratio) and the network model.
    """
    from twinwatch.telemetry_adapters import CounterState, DecoderConfig, Inventory, get_decoder, normalize
    from twinwatch.twin.netmodel import load_network_model

    model = load_network_model(run / "network.yaml")
    inv = Inventory.from_dict(model.inventory_dict())
    man = json.loads((run / "manifest.json").read_text())
    window_s = float(man["config"]["window_s"])
    start = float(man["start_epoch_s"])
    cols: dict[str, list[np.ndarray]] = {k: [] for k in ("ts", "entity_kind", "entity_id", "kpi", "value")}
    for fmt in _FORMATS:
        path = run / "topics" / f"twinwatch.raw.{fmt}.jsonl"
        if not path.is_file():
            continue
        lines = [ln for ln in path.read_bytes().split(b"\n") if ln.strip()]
        res = get_decoder(fmt, DecoderConfig(network=model.name, max_age_s=None)).decode_batch(lines)
        mb = normalize(res.samples, CounterState(), inv).measurements
        for k in cols:
            cols[k].append(np.asarray(getattr(mb, k)))
    cat = {k: np.concatenate(v) if v else np.zeros(0) for k, v in cols.items()}
    rs = RunSeries.from_measurements(model.name, window_s, start, int(man["windows"]), cat["ts"],
                                     cat["entity_kind"], cat["entity_id"], cat["kpi"], cat["value"])
    return rs, model


def write_lines(path: Path, lines: list[str]) -> Path:
    path.write_text("".join(line + "\n" for line in lines))
    return path


def run_twin(run: Path, alpha: float, *, reuse_only: bool = False, name: str = "twin",
             extra: tuple[str, ...] = (), pythonpath: str | None = None) -> tuple[Path | None, str]:
    """``twinwatch replay`` over the run's topics; returns the alerts file (None on failure) and its summary.

    A finished replay leaves ``alerts.<name>.log`` (its summary line) next to ``alerts.<name>.jsonl`` and is
    reused; with ``reuse_only`` nothing is replayed. ``name`` tells replays at other levels apart
    (``--twin-alphas``); ``extra``: more ``twinwatch replay`` options (``--tm-range``, ``--flow-matrix``);
    ``pythonpath``: a folder holding another build's ``twinwatch`` package to replay with (a reference).
    """
    out, log = run / f"alerts.{name}.jsonl", run / f"alerts.{name}.log"
    if out.is_file() and log.is_file() and log.stat().st_mtime >= (run / "manifest.json").stat().st_mtime:
        return out, "reused: " + (log.read_text().strip().splitlines() or [""])[-1]
    if reuse_only:
        return None, "twin: not available for this run (no finished replay; --twin reuse)"
    topics = sorted(str(p) for p in (run / "topics").glob("twinwatch.raw.*.jsonl"))
    cmd = [sys.executable, "-m", "twinwatch.stream.cli", "replay", *topics, "--network", str(run / "network.yaml"),
           "--out", str(out), "--alpha", str(alpha), *extra]
    env = {**os.environ, "OMP_NUM_THREADS": "1", **({"PYTHONPATH": pythonpath} if pythonpath else {})}
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, check=False, env=env)
    tail = proc.stderr.strip().splitlines()[-1:] or [""]
    if proc.returncode not in (0, 3) or not out.is_file():
        return None, f"replay failed (exit {proc.returncode}): {tail[0]}"
    log.write_text(proc.stderr)
    return out, tail[0]


def twin_variants(specs: list[str]) -> list[tuple[str, tuple[str, ...]]]:
    """``NAME=OPTIONS`` specs as ``(name, options)`` (options split as a shell would); refuses an empty or repeated
    name and a name that is not a plain word (it names files in the run directory)."""
    out: list[tuple[str, tuple[str, ...]]] = []
    for spec in specs:
        name, sep, opts = spec.partition("=")
        name = name.strip()
        if not sep or not name or not all(c.isalnum() or c in "-_." for c in name) or name in dict(out):
            raise SystemExit(f"--twin-variant {spec!r}: want NAME=OPTIONS with a new NAME of letters, digits, '-_.'")
        out.append((name, tuple(shlex.split(opts))))
    return out


def score_file(run: Path, alerts: Path, model: Any, alpha: float,
               scored_ids: set[str] | None = None) -> ScoreReport:
    """Score one detector's alerts of one run (labels + alerts; the model only for the entity count).

    ``scored_ids``: score only these faults (the visible ones, :func:`visibility`).
    """
    man = json.loads((run / "manifest.json").read_text())
    start = float(man["start_epoch_s"])
    return score(load_labels(run / "labels.jsonl"), load_alert_lines(alerts), window_s=float(man["config"]["window_s"]),
                 n_entities=entities_of_network(model.n_nodes, model.n_links), known_links=list(model.link_ids),
                 alpha=alpha, run_start=start, run_end=start + float(man["config"]["duration_s"]),
                 scored_ids=scored_ids)


CHECKPOINT_CONFIG = ROOT / "twin" / "data" / "checkpoints" / "gnn" / "config.json"
"""The shipped twin's checkpoint: its ``calibration`` holds the 90 % intervals of the visibility filter."""


def visibility(run: Path, model: Any) -> dict[str, Any]:
    """Per network fault of the run: does its true effect leave the twin's 90 % interval?

    Ground truth (``truth/*.parquet``) against the shipped checkpoint's calibrated intervals
    (:func:`twinwatch.detectors.visibility.model_fault_visibility`, the rule ``twinwatch score --truth`` applies
    too); independent of every detector.
    """
    from twinwatch.detectors.visibility import checkpoint_intervals, model_fault_visibility, reported_kinds

    man = json.loads((run / "manifest.json").read_text())
    return model_fault_visibility(load_labels(run / "labels.jsonl"), run / "truth", model,
                                  checkpoint_intervals(CHECKPOINT_CONFIG.parent),
                                  window_s=float(man["config"]["window_s"]),
                                  reported=reported_kinds(man["config"]))


def markdown(pooled: dict[str, ScoreReport]) -> str:
    """One Markdown table: rows = fault kinds, a block of columns (F1, median delay, top-3) per detector."""
    dets = list(pooled)
    kinds = sorted({k for r in pooled.values() for k in r.per_kind})

    def f(x: float | None, spec: str = ".2f") -> str:
        return "–" if x is None or not np.isfinite(x) else format(x, spec)

    head = "| fault kind | " + " | ".join(
        f"{d} ({pooled[d].rules.get('runs', 1)} runs) F1 / delay / top-3" for d in dets) + " |"
    rows = [head, "|" + "---|" * (len(dets) + 1)]
    for k in [*kinds, "all"]:
        cells = []
        for d in dets:
            ks = pooled[d].overall if k == "all" else pooled[d].per_kind.get(k)
            if ks is None:
                cells.append("–")
                continue
            cells.append(f"{f(ks.f1)} / {f(ks.delay_median_windows, '.1f')} / {f(ks.top3)} ({ks.events})")
        rows.append(f"| {k} | " + " | ".join(cells) + " |")
    rows.append("| false alarms / entity-hour (× α per entity-window) | " + " | ".join(
        f"{f(pooled[d].false_alarms_per_entity_hour, '.3g')} ({f(pooled[d].ratio_to_alpha, '.2g')}×)" for d in dets)
        + " |")
    rows.append("| benign events with a network-fault alert | " + " | ".join(
        f"{pooled[d].benign_with_network_alert} of {pooled[d].benign_events}" for d in dets) + " |")
    return "\n".join(rows)


def summary_markdown(pooled: dict[str, ScoreReport]) -> str:
    """One row per detector: overall event precision / recall / F1, delays, localisation, false alarms, benign."""

    def f(x: float | None, spec: str = ".2f") -> str:
        return "–" if x is None or not np.isfinite(x) else format(x, spec)

    rows = ["| detector (runs) | faults | precision | recall | F1 | delay median / p95 (windows) | top-1 / top-3 "
            "| false alarms / entity-h | false alarms / network-window (× α) | benign with a network-fault alert |",
            "|---|---|---|---|---|---|---|---|---|---|"]
    for d, r in pooled.items():
        o = r.overall
        rows.append(f"| {d} ({r.rules.get('runs', 1)}) | {o.events} | {f(o.precision)} | {f(o.recall)} | {f(o.f1)} "
                    f"| {f(o.delay_median_windows, '.1f')} / {f(o.delay_p95_windows, '.1f')} "
                    f"| {f(o.top1)} / {f(o.top3)} | {f(r.false_alarms_per_entity_hour, '.3g')} "
                    f"| {f(r.false_alarms_per_network_window, '.3g')} ({f(r.ratio_to_alpha_network, '.2g')}×) "
                    f"| {r.benign_with_network_alert} of {r.benign_events} |")
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--networks", nargs="+", default=["abilene", "geant"])
    ap.add_argument("--hours", type=float, default=3.0, help="run length, hours")
    ap.add_argument("--seeds", nargs="+", type=int, default=[601, 602])
    ap.add_argument("--faults", type=int, default=14, help="network faults per run (two of each kind)")
    ap.add_argument("--run", dest="run_specs", nargs="+", default=None, metavar="NET:HOURS:FAULTS:SEED",
                    help="explicit runs (instead of --networks x --seeds at --hours / --faults), e.g. "
                         "abilene:4.2:84:201 abilene:1:0:301 (0 faults: a fault-free run)")
    ap.add_argument("--alpha", type=float, default=0.01, help="level of the twin and the series mode")
    ap.add_argument("--runs-dir", type=Path, default=Path(os.environ.get("TMPDIR", "/tmp")) / "twinwatch-detect-eval")
    ap.add_argument("--out", type=Path, default=ROOT / "bench" / "notes" / "detect_eval.json")
    ap.add_argument("--detectors", nargs="+", default=["static", "series", "promql", "twin"],
                    choices=["static", "series", "promql", "twin"])
    ap.add_argument("--reuse-alerts", action="store_true",
                    help="reuse a baseline's alerts file already in the run directory (newer than the run)")
    ap.add_argument("--twin", choices=["run", "reuse"], default="run",
                    help="run: replay each run through the twin pipeline (slow); reuse: only finished replays")
    ap.add_argument("--twin-alphas", nargs="+", type=float, default=[], metavar="A",
                    help="also replay the twin at these levels and score each as detector 'twin@A' against its own "
                         "A (the operator's trade-off between sensitivity and false alarms)")
    ap.add_argument("--twin-variant", dest="twin_variants", action="append", default=[], metavar="NAME=OPTIONS",
                    help="also replay the twin with more `twinwatch replay` options and score it as detector "
                         "'twin+NAME', e.g. --twin-variant 'best-effort=--matrix-classes best-effort' (repeatable)")
    ap.add_argument("--twin-tm-range", action="store_true",
                    help="shorthand for --twin-variant 'tm-range=--tm-range' (the traffic matrix's uncertainty "
                         "widens the expected range)")
    ap.add_argument("--twin-records-matrix", action="store_true",
                    help="shorthand for --twin-variant 'records-matrix=--flow-matrix records' (flow-measured windows "
                         "predicted from the records' own matrix, as before session 29)")
    ap.add_argument("--report", nargs="+", choices=sorted(REPORT_FLAGS), default=[],
                    help="the simulated routers also report their ports' speed / interfaces' IGP metric (as the "
                         "shipped gnmic configuration subscribes to them; `make demo` sends both)")
    ap.add_argument("--rules-dir", type=Path,
                    default=ROOT.parent / "shared" / "data" / "baselines" / "promql-anomaly-detection" / "rules")
    args = ap.parse_args(argv)
    variants = twin_variants(args.twin_variants + ["tm-range=--tm-range"] * args.twin_tm_range
                             + ["records-matrix=--flow-matrix records"] * args.twin_records_matrix)
    try:
        import torch

        torch.set_num_threads(1)
    except ImportError:  # pragma: no cover
        pass
    args.runs_dir.mkdir(parents=True, exist_ok=True)
    per_run: dict[str, list[ScoreReport]] = {}
    per_run_visible: dict[str, list[ScoreReport]] = {}
    per_run_observable: dict[str, list[ScoreReport]] = {}
    visible_of: dict[str, Any] = {}
    run_names: dict[str, list[str]] = {}
    notes: dict[str, Any] = {}
    timings: dict[str, float] = {}
    specs = [(n, args.hours, args.faults, sd) for n in args.networks for sd in args.seeds]
    if args.run_specs:
        try:
            specs = [(a, float(b), int(c), int(d)) for a, b, c, d in (x.split(":") for x in args.run_specs)]
        except ValueError:
            ap.error("--run: expected NET:HOURS:FAULTS:SEED, e.g. abilene:4.2:84:201")
    for net, hours, n_faults, seed in specs:
        run = ensure_run(args.runs_dir, net, hours, seed, n_faults, tuple(args.report))
        print(f"{run.name}:", file=sys.stderr)
        files: dict[str, Path] = {}
        levels: dict[str, float] = {}  # detector -> the alpha its alerts are scored against (default: --alpha)
        if args.reuse_alerts:
            fresh = (run / "manifest.json").stat().st_mtime
            for det in args.detectors:
                if det == "twin":
                    continue
                names = [f"promql-{v}" for v in ("adaptive", "adaptive-kofm", "robust", "robust-kofm")] \
                    if det == "promql" else [det]
                paths = {n: run / f"alerts.{n}.jsonl" for n in names}
                if all(p.is_file() and p.stat().st_mtime >= fresh for p in paths.values()):
                    files.update(paths)
        done = {"promql" if f.startswith("promql-") else f for f in files}
        todo = [d for d in args.detectors if d != "twin" and d not in done]
        t0 = time.perf_counter()
        if todo:
            rs, model = decode_run(run)
        else:
            from twinwatch.twin.netmodel import load_network_model

            model = load_network_model(run / "network.yaml")
        timings[f"{run.name}/decode"] = time.perf_counter() - t0
        if "static" in todo:
            t0 = time.perf_counter()
            fl, bounds = static_flags(rs)
            files["static"] = write_lines(run / "alerts.static.jsonl",
                                          flags_to_alert_lines(rs, fl, bounds=bounds, detector="static"))
            timings[f"{run.name}/static"] = time.perf_counter() - t0
        if "series" in todo:
            t0 = time.perf_counter()
            fl, p = series_flags(rs, alpha=args.alpha)
            files["series"] = write_lines(run / "alerts.series.jsonl",
                                          flags_to_alert_lines(rs, fl, p_values=p, detector="series"))
            timings[f"{run.name}/series"] = time.perf_counter() - t0
        if "promql" in todo:
            from promql_baseline import PromqlError, promql_alert_lines

            t0 = time.perf_counter()
            try:
                for strategy, lines in promql_alert_lines(rs, args.rules_dir, run / "promql").items():
                    files[f"promql-{strategy}"] = write_lines(run / f"alerts.promql-{strategy}.jsonl", lines)
            except PromqlError as exc:
                notes["promql"] = f"not run: {exc}"
            timings[f"{run.name}/promql"] = time.perf_counter() - t0
        if "twin" in args.detectors:
            t0 = time.perf_counter()
            out, note = run_twin(run, args.alpha, reuse_only=args.twin == "reuse")
            timings[f"{run.name}/twin"] = time.perf_counter() - t0
            notes[f"{run.name}/twin"] = note
            if out is not None:
                files["twin"] = out
            for vname, opts in variants:
                t0 = time.perf_counter()
                out, note = run_twin(run, args.alpha, reuse_only=args.twin == "reuse", name=f"twin-{vname}",
                                     extra=opts)
                timings[f"{run.name}/twin+{vname}"] = time.perf_counter() - t0
                notes[f"{run.name}/twin+{vname}"] = note
                if out is not None:
                    files[f"twin+{vname}"] = out
            for a in args.twin_alphas:
                t0 = time.perf_counter()
                out, note = run_twin(run, a, reuse_only=args.twin == "reuse", name=f"twin.a{a:g}")
                timings[f"{run.name}/twin@{a:g}"] = time.perf_counter() - t0
                notes[f"{run.name}/twin@{a:g}"] = note
                if out is not None:
                    files[f"twin@{a:g}"] = out
                    levels[f"twin@{a:g}"] = a
        vis = visibility(run, model)
        vis_ids = {k for k, v in vis.items() if v.visible}
        obs_ids = {k for k, v in vis.items() if v.observable}
        visible_of[run.name] = [v.to_dict() for v in vis.values()]
        for det, path in files.items():
            level = levels.get(det, args.alpha)
            rep = score_file(run, path, model, level)
            per_run.setdefault(det, []).append(rep)
            per_run_visible.setdefault(det, []).append(score_file(run, path, model, level, vis_ids))
            per_run_observable.setdefault(det, []).append(score_file(run, path, model, level, obs_ids))
            run_names.setdefault(det, []).append(run.name)
            o = rep.overall
            print(f"  {det:<16} recall {o.recall:.2f} precision {o.precision:.2f} F1 {o.f1:.2f} "
                  f"FA/entity-h {rep.false_alarms_per_entity_hour:.3g}", file=sys.stderr)
    pooled = {d: combine_reports(reps) for d, reps in per_run.items()}
    pooled_visible = {d: combine_reports(reps) for d, reps in per_run_visible.items()}
    pooled_observable = {d: combine_reports(reps) for d, reps in per_run_observable.items()}
    # the runs every detector has (the twin's replay may be missing for some): the like-for-like comparison
    common = sorted(set.intersection(*(set(v) for v in run_names.values()))) if run_names else []
    pooled_common = {d: combine_reports([r for r, n in zip(per_run[d], run_names[d]) if n in common])
                     for d in per_run} if common else {}
    doc = {
        "command": "bench/detect_eval.py " + " ".join(sys.argv[1:] if argv is None else argv),
        "networks": sorted({n for n, *_ in specs}), "hours": sorted({h for _, h, *_ in specs}),
        "seeds": sorted({sd for *_, sd in specs}), "dev_seeds": list(DEV_SEEDS),
        "faults_per_run": args.faults, "alpha": args.alpha, "notes": notes,
        "timings_s": {k: round(v, 2) for k, v in timings.items()},
        "machine": machine_info(note="2-core shared dev box under load (timings indicative only)"),
        "runs": run_names, "common_runs": common,
        "pooled": {d: r.to_dict() for d, r in pooled.items()},
        "pooled_visible": {d: r.to_dict() for d, r in pooled_visible.items()},
        "pooled_observable": {d: r.to_dict() for d, r in pooled_observable.items()},
        "visibility": visible_of,
        "pooled_common_runs": {d: r.to_dict() for d, r in pooled_common.items()},
        "per_run": {d: [r.to_dict() for r in reps] for d, reps in per_run.items()},
    }
    write_report(doc, args.out, echo=False, default=str)
    print(f"All runs each detector has:\n\n{summary_markdown(pooled)}\n\n{markdown(pooled)}\n")
    print(f"Faults visible beyond the twin's 90 % interval only:\n\n{summary_markdown(pooled_visible)}\n\n"
          f"{markdown(pooled_visible)}\n")
    print(f"Visible faults that the telemetry measures (path effects on probed pairs, link effects):\n\n"
          f"{summary_markdown(pooled_observable)}\n\n{markdown(pooled_observable)}\n")
    if pooled_common and any(len(v) != len(common) for v in run_names.values()):
        print(f"Runs every detector has ({', '.join(common)}):\n\n{summary_markdown(pooled_common)}\n\n"
              f"{markdown(pooled_common)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
