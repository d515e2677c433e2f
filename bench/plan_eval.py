"""Does a ``twinwatch plan`` hold when the packet-level simulator runs the network planned? And which twin should
check it?

Per network, a gravity matrix of fresh random weights (``--seed``) scaled so that three in four links of the intact
network run at or under ``--load``, grown by ``--growth``, is planned at ``--max-utilization``
(``--max-utilization-failure`` while a failure lasts) through any single cable (or router, ``--survive``) failure
(:func:`~twinwatch.twin.plan.plan_capacity`). The project's packet-level simulator (``sim``, validated against
OMNeT++ and closed forms, BENCHMARKS "Simulator") then runs, with the grown traffic, on the intact network and under
each of the plan's binding failures (the largest first, at most ``--scenarios``):

* the network as planned: every link's measured loss and utilisation (does the plan hold?);
* the usual alternative, upgraded only for the intact network (``survive="none"``): the same;
* beside the simulator, the twins (``--models``) on the planned network's scenarios: the demands' delay and its
  queueing part (delay less propagation) against the simulator's, and the links each expects to lose more than
  ``--max-loss``.

Usage::

    .venv/bin/python bench/plan_eval.py --networks abilene,geant,nsfnet,zoo:Janetbackbone,zoo:Arnes \\
        --seed 4821 --out bench/notes/plan_eval.json
"""

from __future__ import annotations

import argparse
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np
from _report import machine_info, write_report
from whatif_eval import network_file

ROOT = Path(__file__).resolve().parents[1]


def gravity(model: Any, load: float, seed: int) -> np.ndarray:
    """A gravity matrix (log-normal weights) scaled so that three in four links of the intact network run at or
    under ``load`` (the 75th percentile of their utilisation; a stub link can be far above it)."""
    from twinwatch.twin.plan import matrix_from_array, worst_loads

    w = np.random.default_rng(seed).lognormal(0.0, 0.6, model.n_nodes)
    tm = np.outer(w, w)
    np.fill_diagonal(tm, 0.0)
    util = worst_loads(model, matrix_from_array(tm), []).intact_load_bps / model.link_capacity_bps
    return tm * load / np.quantile(util, 0.75)


def _scenarios(model: Any, traffic: Any, failures: list[Any]) -> list[Any]:
    from twinwatch.twin.measurements import Measurements
    from twinwatch.twin.snapshot import SnapshotBuilder
    from twinwatch.twin.whatif import links_down

    builder = SnapshotBuilder(model, infer_link_state=False)
    out = []
    for f in [None, *failures]:
        up = np.ones(model.n_links, dtype=bool)
        if f is not None:
            up[links_down(model, f)] = False
        out.append(builder.build(traffic.start, traffic.end, Measurements.empty(), traffic=traffic,
                                 link_up=up).scenario)
    return out


def _links(sc: Any, pred: Any, max_loss: float) -> dict[str, Any]:
    loss = np.nan_to_num(np.asarray(pred.link_loss_ratio, dtype=np.float64), nan=0.0)
    util = sc.link_load_bps() / sc.link_capacity_bps
    return {"max_link_loss": float(loss.max(initial=0.0)), "links_losing": int((loss > max_loss).sum()),
            "losing": loss > max_loss, "max_offered_utilization": float(util.max(initial=0.0))}


def _delay_errors(sc: Any, truth: Any, pred: Any) -> tuple[np.ndarray, np.ndarray]:
    """Per path with a measured delay: |error| / truth on the delay and on its queueing part (delay less
    propagation; paths whose measured queueing part is under 1 µs are left out of that one)."""
    prop = np.bincount(sc.hop_path, weights=sc.link_prop_delay_s[sc.path_links], minlength=sc.n_paths)
    y, p = np.asarray(truth.path_delay_s, dtype=np.float64), np.asarray(pred.path_delay_s, dtype=np.float64)
    ok = np.isfinite(y) & np.isfinite(p) & (y > 0)
    total = np.abs(p[ok] - y[ok]) / y[ok]
    q = ok & (y - prop > 1e-6)
    queue = np.abs((p[q] - prop[q]) - (y[q] - prop[q])) / (y[q] - prop[q])
    return total, queue


def evaluate(network: str, args: argparse.Namespace, twins: dict[str, Any], sim: Any, work: Path) -> dict[str, Any]:
    from twinwatch.twin.models import predict_many
    from twinwatch.twin.netmodel import load_network
    from twinwatch.twin.plan import matrix_from_array, plan_capacity

    model = load_network(network_file(network, work))
    tm = gravity(model, args.load, args.seed)
    t0 = time.perf_counter()
    plan = plan_capacity(model, matrix_from_array(tm), growth=args.growth, max_utilization=args.max_utilization,
                         max_utilization_failure=args.max_utilization_failure, survive=args.survive)
    plan_s = time.perf_counter() - t0
    naive = plan_capacity(model, matrix_from_array(tm), growth=args.growth, max_utilization=args.max_utilization,
                          survive="none")
    binding = plan.binding_failures()
    # the failures that load the network planned most, the largest first
    peak = {}
    for i, f in enumerate(plan.after.failures):
        hit = plan.after.failure_case == i
        if str(f) in {str(b) for b in binding} and hit.any():
            peak[str(f)] = float((plan.after.failure_load_bps[hit] / plan.planned.link_capacity_bps[hit]).max())
    chosen = sorted(binding, key=lambda f: -peak.get(str(f), 0.0))[:args.scenarios]
    names = ["intact", *map(str, chosen)]
    row: dict[str, Any] = {"network": network, "devices": model.n_nodes, "links": model.n_links,
                           "offered_bps": float(tm.sum() * args.growth), "plan_s": plan_s,
                           "cables_upgraded": len(plan.upgrades()), "capacity_added_bps": plan.capacity_added_bps,
                           "intact_only_cables": len(naive.upgrades()),
                           "intact_only_capacity_added_bps": naive.capacity_added_bps,
                           "binding_failures": len(binding), "scenarios": names}
    grown = plan.traffic
    planned_sc = _scenarios(plan.planned, grown, chosen)
    naive_sc = _scenarios(naive.planned, grown, chosen)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        t0 = time.perf_counter()
        truth = predict_many(sim, planned_sc)
        truth_naive = predict_many(sim, naive_sc)
        row["sim_s"] = time.perf_counter() - t0
        preds = {name: predict_many(tw, planned_sc) for name, tw in twins.items()}
    row["planned"] = [{"scenario": n, **{k: v for k, v in _links(sc, tr, args.max_loss).items() if k != "losing"},
                       "measured_utilization_max": float(np.nanmax(tr.link_utilization))}
                      for n, sc, tr in zip(names, planned_sc, truth, strict=True)]
    row["intact_only"] = [{"scenario": n, **{k: v for k, v in _links(sc, tr, args.max_loss).items()
                                             if k != "losing"},
                           "measured_utilization_max": float(np.nanmax(tr.link_utilization))}
                          for n, sc, tr in zip(names, naive_sc, truth_naive, strict=True)]
    row["twins"] = {}
    for name, ps in preds.items():
        tot, que, agree, missed, false = [], [], 0, 0, 0
        for sc, tr, pr in zip(planned_sc, truth, ps, strict=True):
            a, b = _delay_errors(sc, tr, pr)
            tot.append(a)
            que.append(b)
            lt, lp = _links(sc, tr, args.max_loss)["losing"], _links(sc, pr, args.max_loss)["losing"]
            agree += int((lt == lp).all())
            missed += int((lt & ~lp).sum())
            false += int((lp & ~lt).sum())
        t, q = np.concatenate(tot), np.concatenate(que)
        row["twins"][name] = {"delay_mape": float(t.mean() * 100), "delay_paths": int(t.size),
                              "queueing_mape": float(q.mean() * 100) if q.size else None, "queueing_paths": int(q.size),
                              "queueing_abs_error_sum": float(q.sum() * 100),
                              "scenarios_loss_verdict_agrees": agree, "lossy_links_missed": missed,
                              "lossy_links_false": false}
    return row


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--networks", default="abilene,geant,nsfnet")
    ap.add_argument("--seed", type=int, default=4821)
    ap.add_argument("--load", type=float, default=0.5,
                    help="the 75th percentile of the intact network's link utilisation, before growth")
    ap.add_argument("--growth", type=float, default=1.5)
    ap.add_argument("--max-utilization", type=float, default=0.8)
    ap.add_argument("--max-utilization-failure", type=float, default=None)
    ap.add_argument("--survive", default="cable", choices=("cable", "router"))
    ap.add_argument("--max-loss", type=float, default=1e-3)
    ap.add_argument("--scenarios", type=int, default=4, help="binding failures simulated per network, at most")
    ap.add_argument("--models", default="gnn,qt")
    ap.add_argument("--work", type=Path, default=Path("/tmp/twinwatch-plan-eval"))
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args()
    import torch

    from twinwatch.twin.models import get_model, load_model

    torch.set_num_threads(1)
    twins = {name: load_model(name, None) for name in args.models.split(",")}
    sim = get_model("sim", seed=args.seed)
    rows = []
    for network in args.networks.split(","):
        row = evaluate(network, args, twins, sim, args.work)
        rows.append(row)
        held = all(s["links_losing"] == 0 for s in row["planned"])
        naive = sum(s["links_losing"] for s in row["intact_only"])
        print(f"{network}: {row['cables_upgraded']} cables (+{row['capacity_added_bps'] / 1e9:.0f} G) "
              f"vs intact-only {row['intact_only_cables']} (+{row['intact_only_capacity_added_bps'] / 1e9:.0f} G); "
              f"sim: planned holds={held}, intact-only losing links {naive}; "
              + "; ".join(f"{k} q {v['queueing_mape']:.2f}% d {v['delay_mape']:.3f}%" for k, v in row["twins"].items()),
              flush=True)
    pooled = {}
    for name in twins:
        n = sum(r["twins"][name]["queueing_paths"] for r in rows)
        pooled[name] = {"queueing_mape": sum(r["twins"][name]["queueing_abs_error_sum"] for r in rows) / max(n, 1),
                        "lossy_links_missed": sum(r["twins"][name]["lossy_links_missed"] for r in rows),
                        "lossy_links_false": sum(r["twins"][name]["lossy_links_false"] for r in rows)}
    report = {"machine": machine_info(), "args": {k: str(v) for k, v in vars(args).items()}, "networks": rows,
              "pooled": pooled,
              "plan_holds_everywhere": all(s["links_losing"] == 0 for r in rows for s in r["planned"]),
              "intact_only_fails_somewhere": any(s["links_losing"] > 0 for r in rows for s in r["intact_only"])}
    print("pooled:", pooled)
    write_report(report, args.out)


if __name__ == "__main__":
    main()
