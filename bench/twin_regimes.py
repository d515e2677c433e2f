"""The shipped twin (GNN, MLP, queueing theory) in the regimes operated networks run in (issue 15, item 1).

Scenarios: the shipped networks (``abilene``, ``nsfnet``, ``geant``) with their
own capacities and geographic propagation delays, a gravity traffic matrix
(:class:`twinwatch.twin.testbed.traffic.GravityTraffic`, the testbed's ToS shares
0.1/0.3/0.6) scaled so that the busiest link's utilisation is each target
load, in three variants:

* ``wfq3``: three ToS classes under the models' WFQ profile (weights 60/30/10,
  1000-packet queues), Poisson flows of 8000-bit packets;
* ``fifo``: the same traffic folded into one class, every port FIFO;
* ``fifo_bimodal``: as ``fifo`` with a bimodal packet-size mix (64 B with
  probability 0.4, 1500 B with 0.6; mean 7404.8 bits).

Ground truth: the project's packet simulator on the zero-propagation twin of
the scenario (:func:`twinwatch.twin.testbed.truth.simulate_window`), propagation added
exactly per path. Per path (one per (src, dst) pair, as the models expose
it; in ``wfq3`` its label mixes the pair's three ToS flows by packets) the
script scores

* total delay MAPE (propagation included, as the models output it);
* queueing-part MAPE: delay minus the path's propagation sum, on truth and
  prediction alike, over paths whose true queueing part is ≥ ``QUEUE_FLOOR_S``;
* jitter (delay variance) MAPE over informative labels
  (:func:`twinwatch.twin.kpis.informative_jitter` applied to the *queueing part*, so that
  propagation does not make every variance look informative).

Only paths with at least ``MIN_PACKETS`` measured packets are scored (a
path's delay and variance from a handful of packets is noise); the median
relative 95 % CI half-width of the scored queueing parts is reported per cell.

Controlled experiments on the GNN (same scenarios, no extra simulation):

* ``gnn_noprop``: the GNN on the zero-propagation twin, the path's
  propagation sum added to its delay afterwards (propagation taken out of the
  learned part: the training data has none);
* ``unit_equivariance``: the scenario in milliseconds instead of seconds
  (capacities and rates ÷ 1000, propagation × 1000): delays must scale by
  1000 and jitter by 10⁶ if the features are scale-free in the time unit;
* ``capacity_x10``: all capacities and rates × 10 (same loads, 10× faster
  links, same propagation in seconds): the physics says the queueing part
  scales by 1/10; the feature that changes is propagation in packet times.

Feature ranges: per input feature, the range of the normalised value
``(x − mean)/std`` seen here, with the checkpoint's training statistics.

Usage::

    .venv/bin/python bench/twin_regimes.py --threads 1            # full run
    .venv/bin/python bench/twin_regimes.py --nets abilene --loads 0.5 --reps 1   # smoke
    .venv/bin/python bench/twin_regimes.py --checkpoint /tmp/tw/hybrid/gnnet --no-controls \
        --out bench/notes/twin_regimes_hybrid.json                       # a candidate beside the shipped models

Writes ``bench/notes/twin_regimes.json``.
"""

from __future__ import annotations

import argparse
import json
import time
import warnings
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch
from _models import build_models
from _report import machine_info, write_report

from twinwatch.twin.features import FLOW_FEATURES, HOP_FEATURES, LINK_FEATURES, QUEUE_FEATURES, scenario_graph
from twinwatch.twin.kpis import informative_jitter
from twinwatch.twin.models import get_model
from twinwatch.twin.netmodel import load_network
from twinwatch.twin.scenario import Policy, Scenario, SizeDist
from twinwatch.twin.snapshot import SnapshotBuilder
from twinwatch.twin.testbed.traffic import GravityTraffic
from twinwatch.twin.testbed.truth import simulate_window
from twinwatch.twin.traffic_matrix import TrafficMatrix

NETS = ("abilene", "nsfnet", "geant")
LOADS = (0.1, 0.3, 0.5, 0.7, 0.85, 0.95)
VARIANTS = ("wfq3", "fifo", "fifo_bimodal")
TOS_SHARE = (0.1, 0.3, 0.6)
QUEUE_FLOOR_S = 1e-6
"""Paths whose true queueing part (delay − propagation) is below 1 µs are left out of the queueing MAPE."""
MIN_PACKETS = 100
"""Paths with fewer measured packets are not scored."""
BIMODAL_BITS = (512.0, 12000.0)
BIMODAL_PROBS = (0.4, 0.6)
_EMPTY = {"entity_kind": [], "entity_id": [], "kpi": [], "value": []}


def base_scenario(net: str, variant: str, load: float, seed: int) -> Scenario:
    """The scenario of ``net`` with a gravity matrix scaled so the busiest link's utilisation is ``load``."""
    model = load_network(net)
    deg = np.bincount(model.link_src, minlength=model.n_nodes).astype(np.float64)
    gen = GravityTraffic(node_weight=np.maximum(deg, 1.0), mean_total_bps=1e9, tos_share=TOS_SHARE, seed=seed)
    m = np.moveaxis(gen.matrix(3600.0 * seed, 300.0), -1, 0)  # (Q, N, N)
    if variant != "wfq3":
        m = np.concatenate([m.sum(axis=0, keepdims=True), np.zeros_like(m[1:])])
    sc = SnapshotBuilder(model).build(0.0, 1.0, _EMPTY, traffic=TrafficMatrix.build(m, start=0.0, end=1.0)).scenario
    if variant != "wfq3":
        sc = replace(sc, node_policy=np.full_like(sc.node_policy, int(Policy.FIFO)))
    if variant == "fifo_bimodal":
        f = sc.n_flows
        sizes = np.full_like(sc.flow_sizes_bits, np.nan)
        probs = np.zeros_like(sc.flow_size_probs)
        sizes[:, :2] = BIMODAL_BITS
        probs[:, :2] = BIMODAL_PROBS
        mean = float(np.dot(BIMODAL_BITS, BIMODAL_PROBS))
        sc = replace(sc, flow_size_dist=np.full(f, int(SizeDist.GENERIC), dtype=sc.flow_size_dist.dtype),
                     flow_sizes_bits=sizes, flow_size_probs=probs, flow_pkt_rate=sc.flow_rate_bps / mean)
    util = sc.link_load_bps() / sc.link_capacity_bps
    k = load / float(util.max())
    return replace(sc, flow_rate_bps=sc.flow_rate_bps * k, flow_pkt_rate=sc.flow_pkt_rate * k)


def path_prop(sc: Scenario) -> np.ndarray:
    """``(P,)`` propagation delay sum of each path (s)."""
    return np.bincount(sc.hop_path, weights=sc.link_prop_delay_s[sc.path_links], minlength=sc.n_paths)


def ape(pred: np.ndarray, true: np.ndarray) -> np.ndarray:
    """Absolute percentage error, %."""
    return 100.0 * np.abs(pred - true) / true


def feature_z(sc: Scenario, stats: dict[str, dict[str, list[float]]]) -> dict[str, tuple[float, float, float, float]]:
    """Per feature: (raw min, raw max, normalised min, normalised max) on ``sc``."""
    g = scenario_graph(sc)
    out: dict[str, tuple[float, float, float, float]] = {}
    for key, names in (("flow", FLOW_FEATURES), ("queue", QUEUE_FEATURES), ("link", LINK_FEATURES),
                       ("hop", HOP_FEATURES)):
        x = getattr(g, f"{key}_x").astype(np.float64)
        if key == "queue":
            x = x[x[:, QUEUE_FEATURES.index("used")] > 0]
        mu, sd = np.asarray(stats["mean"][key]), np.asarray(stats["std"][key])
        z = (x - mu) / sd
        for i, n in enumerate(names):
            out[f"{key}.{n}"] = (float(x[:, i].min()), float(x[:, i].max()), float(z[:, i].min()),
                                 float(z[:, i].max()))
    return out


def scale_time(sc: Scenario, k: float) -> Scenario:
    """The same network with time measured in units of ``1/k`` s (k = 1000: milliseconds).

    Capacities and rates (per time unit) ÷ ``k``, propagation × ``k``; delays must come out × ``k``.
    """
    return replace(sc, link_capacity_bps=sc.link_capacity_bps / k, flow_rate_bps=sc.flow_rate_bps / k,
                   flow_pkt_rate=sc.flow_pkt_rate / k, link_prop_delay_s=sc.link_prop_delay_s * k)


def faster(sc: Scenario, k: float) -> Scenario:
    """Capacities and rates × ``k`` (same loads), propagation unchanged."""
    return replace(sc, link_capacity_bps=sc.link_capacity_bps * k, flow_rate_bps=sc.flow_rate_bps * k,
                   flow_pkt_rate=sc.flow_pkt_rate * k)


def _truth(sc: Scenario, net: str, variant: str, load: float, rep: int,
           args: argparse.Namespace) -> dict[str, np.ndarray]:
    """Packet-level truth of one scenario (queueing part, its variance, packets, CI, busiest link, packets made),
    read from ``--truth-cache`` when it holds this cell (npz, no pickle), else simulated (and stored there)."""
    path = None
    if args.truth_cache:
        path = Path(args.truth_cache) / f"{net}_{variant}_{load:g}_{rep}_{args.packets}.npz"
        if path.is_file():
            with np.load(path, allow_pickle=False) as z:
                return {k: z[k] for k in z.files}
    res = simulate_window(sc, seed=1000 + rep, packets=args.packets)
    out = {"q": np.asarray(res.labels.path_delay_s, dtype=np.float64),
           "j": np.asarray(res.labels.path_jitter_s2, dtype=np.float64),
           "n": np.asarray(res.path_packets, dtype=np.float64),
           "ci": np.asarray(res.path_delay_ci, dtype=np.float64),
           "max_util": np.asarray(np.nanmax(res.labels.link_utilization)),
           "packets": np.asarray(res.packets_generated)}
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        np.savez(path, **out)
    return out


def run(args: argparse.Namespace) -> dict:
    torch.set_num_threads(args.threads)
    warnings.filterwarnings("once")  # the MLP's out-of-domain warning fires on every scenario
    models = build_models(args.models)
    if args.checkpoint:  # a candidate scored beside the shipped models
        models["candidate"] = get_model("gnn", checkpoint=args.checkpoint)
    stats = json.loads((Path("twin/data/checkpoints/gnn/config.json")).read_text())["feature_stats"]
    rows: list[dict] = []
    ranges: dict[str, list[float]] = {}
    controls: list[dict] = []
    t0 = time.time()
    for net in args.nets:
        for variant in args.variants:
            for load in args.loads:
                for rep in range(args.first_rep, args.first_rep + args.reps):
                    sc = base_scenario(net, variant, load, seed=rep)
                    ts = time.time()
                    truth = _truth(sc, net, variant, load, rep, args)
                    t_sim = time.time() - ts
                    prop = path_prop(sc)
                    q_true, j_true, n_pk = truth["q"], truth["j"], truth["n"]  # zero-prop twin: queueing part
                    ci_rel = truth["ci"] / q_true
                    d_true = q_true + prop
                    ok = np.isfinite(q_true) & (n_pk >= MIN_PACKETS)
                    okq = ok & (q_true >= QUEUE_FLOOR_S)
                    okj = ok & informative_jitter(q_true, j_true)
                    preds = {n: m.predict(sc) for n, m in models.items()}
                    flat = replace(sc, link_prop_delay_s=np.zeros_like(sc.link_prop_delay_s))
                    if not args.no_controls:
                        pn = models["gnn"].predict(flat)
                        preds["gnn_noprop"] = replace(pn, path_delay_s=pn.path_delay_s + prop)
                        # buffers inside the training range (GNNet: e^3.43 ≈ 31 packets) as well: features and
                        # prior only
                        p32 = models["gnn"].predict(replace(flat, node_queue_pkts=np.where(
                            np.isfinite(flat.node_queue_pkts), 32.0, flat.node_queue_pkts)))
                        preds["gnn_noprop_buf32"] = replace(p32, path_delay_s=p32.path_delay_s + prop)
                    row = {"net": net, "variant": variant, "load": load, "rep": rep, "paths": int(sc.n_paths),
                           "scored": int(ok.sum()), "scored_queue": int(okq.sum()), "scored_jitter": int(okj.sum()),
                           "sim_s": round(t_sim, 2), "median_ci_rel_queue": float(np.nanmedian(ci_rel[okq])),
                           "true_queue_s_median": float(np.median(q_true[okq])) if okq.any() else None,
                           "prop_s_median": float(np.median(prop[ok])),
                           "max_util_measured": float(truth["max_util"]),
                           "packets_generated": int(truth["packets"]),
                           "true_jitter_over_queue2_median": float(np.median(j_true[okj] / q_true[okj] ** 2))
                           if okj.any() else None,
                           "models": {}}
                    for n, p in preds.items():
                        d = np.asarray(p.path_delay_s, dtype=np.float64)
                        j = np.asarray(p.path_jitter_s2, dtype=np.float64)
                        row["models"][n] = {
                            "delay_ape": ape(d[ok], d_true[ok]).tolist(),
                            "queue_ape": ape(d[okq] - prop[okq], q_true[okq]).tolist(),
                            "jitter_ape": ape(j[okj], j_true[okj]).tolist(),
                            "jitter_ratio_median": float(np.median(j[okj] / j_true[okj])) if okj.any() else None,
                            "jitter_over_queue2_median": float(np.median(j[okj] / (d[okj] - prop[okj]) ** 2))
                            if okj.any() else None,
                            "queue_ratio_median": float(np.median((d[okq] - prop[okq]) / q_true[okq]))
                            if okq.any() else None,
                        }
                    rows.append(row)
                    for f, (lo, hi, zlo, zhi) in feature_z(sc, stats).items():
                        r = ranges.setdefault(f, [np.inf, -np.inf, np.inf, -np.inf])
                        ranges[f] = [min(r[0], lo), max(r[1], hi), min(r[2], zlo), max(r[3], zhi)]
                    if rep == 0 and load in (0.5, 0.95) and not args.no_controls:
                        g = models["gnn"]
                        base = preds["gnn"]
                        ms = g.predict(scale_time(sc, 1e3))  # the scenario in milliseconds
                        fx = g.predict(faster(sc, 10.0))
                        fxn = g.predict(faster(flat, 10.0))
                        qb = np.asarray(base.path_delay_s) - prop
                        controls.append({
                            "net": net, "variant": variant, "load": load,
                            "unit_delay_max_rel_dev": float(np.max(np.abs(ms.path_delay_s / 1e3 / base.path_delay_s
                                                                          - 1))),
                            "unit_jitter_max_rel_dev": float(np.max(np.abs(ms.path_jitter_s2 / 1e6
                                                                           / base.path_jitter_s2 - 1))),
                            "x10_queue_ratio_median": float(np.median((fx.path_delay_s - prop) / qb)),
                            "x10_noprop_queue_ratio_median": float(np.median(fxn.path_delay_s / pn.path_delay_s)),
                            "x10_jitter_ratio_median": float(np.median(fx.path_jitter_s2 / base.path_jitter_s2)),
                            "x10_noprop_jitter_ratio_median": float(np.median(fxn.path_jitter_s2
                                                                              / pn.path_jitter_s2)),
                        })
                    print(f"{time.time() - t0:7.1f}s {net:8s} {variant:13s} load {load:.2f} rep {rep} "
                          f"paths {int(ok.sum())}/{sc.n_paths} sim {t_sim:.1f}s ci {row['median_ci_rel_queue']:.3f} "
                          + " ".join(f"{n}:{np.mean(v['queue_ape']) if v['queue_ape'] else float('nan'):.1f}/"
                                     f"{np.mean(v['jitter_ape']) if v['jitter_ape'] else float('nan'):.0f}"
                                     for n, v in row["models"].items()), flush=True)
    return {"config": {"nets": args.nets, "loads": args.loads, "variants": args.variants, "reps": args.reps,
                       "first_rep": args.first_rep,
                       "packets": args.packets, "queue_floor_s": QUEUE_FLOOR_S, "min_packets": MIN_PACKETS,
                       "tos_share": TOS_SHARE, "bimodal_bits": BIMODAL_BITS, "bimodal_probs": BIMODAL_PROBS,
                       "wall_s": round(time.time() - t0, 1)},
            "rows": rows, "feature_ranges": {k: v for k, v in ranges.items()}, "controls": controls,
            "training_stats": stats}


def summarise(out: dict) -> dict:
    """Pooled MAPEs per (variant, net, load band) and per (variant, load band), per model."""
    bands = {"0.1": (0.1,), "0.3-0.5": (0.3, 0.5), "0.7": (0.7,), "0.85-0.95": (0.85, 0.95)}
    summ: dict[str, dict] = {}

    def pool(rows: list[dict]) -> dict:
        res: dict[str, dict] = {}
        for n in rows[0]["models"]:
            cat = {k: np.concatenate([np.asarray(r["models"][n][k], dtype=np.float64) for r in rows])
                   for k in ("delay_ape", "queue_ape", "jitter_ape")}
            res[n] = {f"{k[:-4]}_mape": round(float(v.mean()), 4) if v.size else None for k, v in cat.items()}
            res[n].update({f"{k[:-4]}_median_ape": round(float(np.median(v)), 2) if v.size else None
                           for k, v in cat.items()})
            res[n]["n"] = {k[:-4]: int(v.size) for k, v in cat.items()}
        return res

    for r in out["rows"]:
        r["band"] = next(b for b, ls in bands.items() if r["load"] in ls)
    for v in {r["variant"] for r in out["rows"]}:
        for b in bands:
            sel = [r for r in out["rows"] if r["variant"] == v and r["band"] == b]
            if sel:
                summ[f"{v}|all|{b}"] = pool(sel)
            for net in {r["net"] for r in sel}:
                s2 = [r for r in sel if r["net"] == net]
                summ[f"{v}|{net}|{b}"] = pool(s2)
        sel = [r for r in out["rows"] if r["variant"] == v]
        summ[f"{v}|all|all"] = pool(sel)
    return summ


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--nets", nargs="+", default=list(NETS))
    ap.add_argument("--loads", nargs="+", type=float, default=list(LOADS))
    ap.add_argument("--variants", nargs="+", default=list(VARIANTS))
    ap.add_argument("--reps", type=int, default=1, help="traffic matrices (seeds) per cell")
    ap.add_argument("--first-rep", type=int, default=0,
                    help="seed of the first matrix (reps FIRST..FIRST+REPS-1; fresh draws of every cell)")
    ap.add_argument("--packets", type=int, default=200_000, help="simulated packets per scenario")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--out", default="bench/notes/twin_regimes.json")
    ap.add_argument("--checkpoint", metavar="DIR", default=None,
                    help="a candidate GNN model directory, scored as 'candidate' beside the shipped models")
    ap.add_argument("--models", default="gnn,mlp,qt", help="models (specs: _models.py; gnn for controls)")
    ap.add_argument("--truth-cache", metavar="DIR", default=None,
                    help="store / reuse the simulated truth per scenario here (npz), to score new models cheaply")
    ap.add_argument("--no-controls", action="store_true",
                    help="skip the controlled GNN variants (gnn_noprop*, unit and capacity controls)")
    args = ap.parse_args()
    out = run(args)
    out["summary"] = summarise(out)
    for r in out["rows"]:  # keep the JSON small: per-path errors summarised
        for m in r["models"].values():
            for k in ("delay_ape", "queue_ape", "jitter_ape"):
                v = np.asarray(m.pop(k))
                m[k[:-4] + "_mape"] = round(float(v.mean()), 3) if v.size else None
    out["machine"] = machine_info()
    write_report(out, Path(args.out), echo=False, nan_as_null=True)
    for k, v in sorted(out["summary"].items()):
        print(k, {n: (s["delay_mape"], s["queue_mape"], s["jitter_mape"]) for n, s in v.items()})


if __name__ == "__main__":
    main()
