"""Link KPIs of the twin (utilisation, queue occupancy, loss) scored against GNNet link labels.

The GNNet 2021 and 2022 samples carry port statistics (``linkUsage.txt``):
per directed link, utilisation, losses and the equivalent-queue occupancy
(see :mod:`twinwatch.twin.kpis`). This script scores the models that predict link KPIs
(``gnn``, ``qt``; the ``mlp`` baseline predicts path KPIs only and is left
out) on the held-out validation sets with :class:`twinwatch.twin.link_scores.LinkScorer`
and writes a JSON report plus a markdown table for BENCHMARKS.md.

Usage::

    .venv/bin/python bench/link_kpis.py --threads 1 --out bench/notes/link_kpis.json
    .venv/bin/python bench/link_kpis.py --sets 2021/validation --limit 5     # quick look

Data: ``../shared/data/gnnet`` (exits with status 1 and a message when absent).
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path

from _report import machine_info, write_report

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
DATA = ROOT.parent / "shared" / "data" / "gnnet"

DEFAULT_SETS = (
    "2021/validation",
    "2022/validation/50",
    "2022/validation/75",
    "2022/validation/100",
    "2022/validation/130",
    "2022/validation/170",
    "2022/validation/200",
)
MODELS = ("gnn", "qt")


def score_set(models: dict[str, object], root: Path, limit: int | None) -> dict[str, object]:
    """Scores of every model on the samples under ``root`` (read once, scored by each model)."""
    from twinwatch.twin.datasets.gnnet import iter_samples
    from twinwatch.twin.link_scores import LinkScorer

    scorers = {name: LinkScorer() for name in models}
    seconds = dict.fromkeys(models, 0.0)
    n_links = 0
    for i, s in enumerate(iter_samples(root)):
        if limit is not None and i >= limit:
            break
        n_links += s.scenario.n_links
        for name, model in models.items():
            t0 = time.perf_counter()
            pred = model.predict(s.scenario)  # type: ignore[attr-defined]
            seconds[name] += time.perf_counter() - t0
            scorers[name].add(pred, s.labels)
    return {
        "samples": next(iter(scorers.values())).samples if scorers else 0,
        "links": n_links,
        "models": {name: {"scores": sc.result(), "predict_s": seconds[name]} for name, sc in scorers.items()},
    }


def _fmt(x: float, spec: str) -> str:
    return "–" if x is None or (isinstance(x, float) and math.isnan(x)) else format(x, spec)


def markdown(report: dict[str, object]) -> str:
    """One row per (set, model): utilisation MAE/MAPE, queue occupancy MAE (ratio)/MAPE, loss MAE."""
    lines = [
        "| data (links scored) | model | util. MAE | util. MAPE % | queue occ. MAE (ratio) | queue occ. MAPE % "
        "| loss MAE | loss MAE, lossy links |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for set_name, res in report["sets"].items():  # type: ignore[attr-defined]
        first = True
        for name, m in res["models"].items():
            u, q, lo = m["scores"]["utilization"], m["scores"]["queue_occupancy"], m["scores"]["loss_ratio"]
            label = f"{set_name} ({res['samples']} samples, {u['n']:,} links)" if first else ""
            lines.append(
                f"| {label} | {name} | {_fmt(u['mae'], '.4f')} | {_fmt(u['mape'], '.2f')} | {_fmt(q['mae'], '.4f')} "
                f"| {_fmt(q['mape'], '.1f')} | {_fmt(lo['mae'], '.5f')} | {_fmt(lo['lossy_mae'], '.4f')} "
                f"({lo['n_lossy']:,}) |"
            )
            first = False
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", type=Path, default=DATA, help="GNNet data root (default: ../shared/data/gnnet)")
    ap.add_argument("--sets", nargs="+", default=list(DEFAULT_SETS), help="folders under --data to score")
    ap.add_argument("--models", nargs="+", default=list(MODELS), choices=MODELS, help="models to score")
    ap.add_argument("--limit", type=int, default=None, help="at most this many samples per set")
    ap.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    ap.add_argument("--out", type=Path, default=None, help="write the JSON report here")
    args = ap.parse_args(argv)

    if not args.data.is_dir():
        print(f"link_kpis: {args.data} not found (the project's shared data); nothing to score", file=sys.stderr)
        return 1
    import torch

    from twinwatch.twin.models import load_model

    torch.set_num_threads(args.threads)
    models = {name: load_model(name) for name in args.models}
    report: dict[str, object] = {"threads": args.threads, "limit": args.limit, "sets": {}}
    t0 = time.perf_counter()
    for rel in args.sets:
        root = args.data / rel
        if not root.exists():
            print(f"link_kpis: {root} not found; skipped", file=sys.stderr)
            continue
        res = score_set(models, root, args.limit)
        report["sets"][rel] = res  # type: ignore[index]
        print(f"{rel}: {res['samples']} samples, {res['links']} links", file=sys.stderr)
    report["wall_s"] = time.perf_counter() - t0
    table = markdown(report)
    print(table)
    report["machine"] = machine_info()
    write_report(report, args.out, echo=False, nan_as_null=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
