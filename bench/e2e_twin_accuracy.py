"""End-to-end twin accuracy on simulated networks (issue 9, first "Done means" item).

The whole chain an operator runs, scored against the simulator's ground truth:

1. **network under test**: :func:`twinwatch.twin.testbed.run.run_testbed` (what
   ``twinwatch simulate telemetry`` runs) plays the network fault-free for a
   short span of a weekday afternoon and writes collector-format telemetry
   (gnmic events, Telegraf IF-MIB lines, goflow2 records sampled 1:N) and the
   per-window truth (``truth/paths.parquet``); windows that any label other
   than the benign ``diurnal_peak`` touches are not scored (``labels.jsonl``);
2. **adapters**: every topic file goes through the production decoders, the
   counter normalisation and the inventory's prefix match
   (:func:`twinwatch.telemetry_adapters.accounting.run_batch`, the code
   ``twinwatch adapt`` runs);
3. **snapshot**: :class:`twinwatch.twin.snapshot.SnapshotBuilder` per window,
   with the traffic matrix (a) from the flow records (``flows``), (b) from the
   flow records of half the routers and the link counters for the rest
   (``mixed``: the other routers' records are dropped, as if they exported
   none), (c) from the link counters only (tomogravity, ``counters``), and, as
   a reference that isolates the twin's own error, (d) the true matrix (``true``);
4. **twin**: ``qt`` (queueing theory), ``gnn`` (the shipped checkpoint) and,
   with ``--checkpoint DIR``, a candidate GNN;
5. **scores** per network, traffic-matrix source and model, over (window,
   src→dst pair) points: total delay MAPE (propagation included), queueing-part
   MAPE (delay minus the pair's propagation sum, on truth and prediction alike,
   pairs with a true queueing part ≥ 1 µs), jitter MAPE (informative labels of
   the queueing part, :func:`twinwatch.twin.kpis.informative_jitter`), and the
   traffic matrix's own error (mean relative error of the large entries — the
   largest that carry 75 % of the traffic — as Zhang et al., SIGMETRICS 2003).

Scoring unit. The models predict per path, mixing the ToS classes of the
flows on it; the truth is per (src, dst, ToS). Both are reduced to the
(src, dst) pair: the truth's triples mixed by offered traffic (mean; variance
= mean variance + variance of the means), the prediction's ECMP paths mixed by
their demand packet rate. A pair the snapshot has no demand for (no sampled
flow record in the window) has no prediction: it is counted in ``coverage``.

Windowing. A counter rate closes at its sample and covers the interval before
it; rows are put in the window that holds the middle of that interval
(``ts - interval / 2``), as ``bench/testbed_check.py`` does. goflow2 records
(60 s active timeout) are pro-rated over the windows they overlap by
:func:`twinwatch.twin.traffic_matrix.matrix_from_flows`.

The ToS class of each flow record comes from the adapters' ``FlowBatch``
column ``dscp`` (goflow2's ``ip_tos`` >> 2, issue 9), mapped to a class by the
network model's DSCP table in :meth:`SnapshotBuilder.build`.

Usage::

    nice -n 5 .venv/bin/python bench/e2e_twin_accuracy.py --threads 1 \\
        --networks abilene:1800,geant:1800,cogentco:600 --windows 12 \\
        --json bench/notes/e2e_twin_accuracy.json
    .venv/bin/python bench/e2e_twin_accuracy.py --networks abilene:180 --windows 2 --models qt   # smoke

Runs are kept under ``--runs DIR`` and reused when their manifest matches.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
import warnings
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pyarrow.parquet as pq
from _models import build_models
from _report import machine_info, write_report

from twinwatch.telemetry_adapters import CounterState, DecoderConfig, Inventory, get_decoder
from twinwatch.telemetry_adapters.accounting import run_batch
from twinwatch.twin.kpis import informative_jitter
from twinwatch.twin.models import get_model
from twinwatch.twin.models.bounds import OutOfDomainWarning
from twinwatch.twin.netmodel import NetworkModel, load_network, load_network_model
from twinwatch.twin.scenario import MAX_QUEUES
from twinwatch.twin.snapshot import SnapshotBuilder, WindowSnapshot
from twinwatch.twin.testbed.faults import Fault
from twinwatch.twin.testbed.run import MONDAY_2026_01_05, TOPICS, TestbedConfig, run_testbed
from twinwatch.twin.traffic_matrix import TrafficMatrix

START_EPOCH_S = MONDAY_2026_01_05 + 86400.0 + 12 * 3600.0
"""Tuesday 2026-01-06 12:00 UTC: the afternoon, near the shipped shape's daily peak (busiest link ≈ 0.6)."""

QUEUE_FLOOR_S = 1e-6
"""Pairs whose true queueing part is below 1 µs are left out of the queueing-part MAPE (as bench/twin_regimes.py)."""

LARGE_SHARE = 0.75
"""Large traffic-matrix entries: the largest that together carry this share of the traffic (Zhang et al.)."""

TM_SOURCES = ("flows", "mixed", "counters", "true")
MIXED_EXPORT_SHARE = 0.5
"""``mixed``: this share of the routers (a seeded draw per network) exports flows; counters cover the rest."""
BENIGN_FOR_SCORING = {"diurnal_peak"}
"""Labels whose windows are still scored (the load itself is no fault)."""


# ----------------------------------------------------------------------------- the network under test
def testbed_run(network: str, duration_s: float, runs: Path, *, packets: int, seed: int) -> Path:
    """Run ``network`` fault-free for ``duration_s`` into ``runs/network`` (reused when the config matches)."""
    cfg = TestbedConfig(duration_s=duration_s, seed=seed, start_epoch_s=START_EPOCH_S, packets_per_window=packets,
                        malformed_fraction=0.0)
    out = runs / network
    man = out / "manifest.json"
    if man.exists() and json.loads(man.read_text())["config"] == json.loads(json.dumps(asdict(cfg))):
        return out
    if out.exists():
        raise SystemExit(f"{out}: holds another run (config differs); remove it or pick another --runs")
    plan: list[Fault] = []
    t0 = time.perf_counter()
    run_testbed(load_network(network), plan, out, cfg)
    print(f"{network}: simulated {duration_s:.0f} s in {time.perf_counter() - t0:.0f} s wall", file=sys.stderr)
    return out


def _lines(path: Path) -> list[bytes]:
    return path.read_bytes().split(b"\n")[:-1] if path.exists() else []


# ----------------------------------------------------------------------------- adapters
def adapt_run(run: Path, model: NetworkModel, batch: int = 5000) -> tuple[dict[str, np.ndarray], dict[str, Any], dict]:
    """Measurement rows and flow records of a run, through the production adapters.

    Returns ``(rows, flows, accounting)``: ``rows`` columns of every
    Measurement (``ts``, ``entity_kind``, ``entity_id``, ``kpi``, ``value``,
    ``flags``); ``flows`` the columns :meth:`SnapshotBuilder.build` takes
    (node numbers, -1 unmatched; bytes already scaled by the sampling rate);
    ``accounting`` messages and rejections per format.
    """
    inventory = Inventory.from_dict(model.inventory_dict())
    cols: dict[str, list[np.ndarray]] = {k: [] for k in ("ts", "entity_kind", "entity_id", "kpi", "value", "flags")}
    acct: dict[str, Any] = {}
    flow_parts: list[Any] = []
    for fmt in ("gnmic", "influx", "goflow2"):
        lines = _lines(run / "topics" / f"{TOPICS[fmt]}.jsonl")
        dec = get_decoder(fmt, DecoderConfig(max_age_s=None, network=model.name))
        state = CounterState()
        rejected = 0
        for lo in range(0, len(lines), batch):
            part = lines[lo: lo + batch]
            res, nres, flows, _ = run_batch(dec, part, state, inventory)
            rejected += sum(r.count for r in res.rejections)
            if nres is not None and len(nres.measurements):
                mb = nres.measurements
                cols["ts"].append(np.asarray(mb.ts, dtype=np.float64))
                cols["entity_kind"].append(np.asarray(mb.entity_kind))
                cols["entity_id"].append(np.asarray(mb.entity_id))
                cols["kpi"].append(np.asarray(mb.kpi))
                cols["value"].append(np.asarray(mb.value, dtype=np.float64))
                cols["flags"].append(np.asarray(mb.flags))
            if fmt == "goflow2" and len(flows):
                flow_parts.append(flows)
        acct[fmt] = {"messages": len(lines), "rejected": rejected}
    rows = {k: np.concatenate(v) if v else np.empty(0) for k, v in cols.items()}
    fcols: dict[str, Any] = {}
    if flow_parts:
        node = {n: i for i, n in enumerate(model.node_names)}
        src = np.concatenate([np.asarray(f.src_node, dtype=object) for f in flow_parts])
        dst = np.concatenate([np.asarray(f.dst_node, dtype=object) for f in flow_parts])
        ts = np.concatenate([f.ts for f in flow_parts])
        dur = np.nan_to_num(np.concatenate([f.duration_s for f in flow_parts]))
        fcols = {
            "src_node": np.array([node.get(x, -1) if x is not None else -1 for x in src.tolist()], dtype=np.int64),
            "dst_node": np.array([node.get(x, -1) if x is not None else -1 for x in dst.tolist()], dtype=np.int64),
            "bytes_count": np.concatenate([f.bytes for f in flow_parts]),
            "packets_count": np.concatenate([f.packets for f in flow_parts]),
            "flow_start_s": ts - dur, "flow_end_s": ts,
            "sampling_rate": np.concatenate([f.sampling_rate for f in flow_parts]).astype(np.int64),
            "dscp": np.concatenate([f.dscp for f in flow_parts]),
        }
    return rows, fcols, acct


# ----------------------------------------------------------------------------- scoring helpers
def large_entries_mre(est: np.ndarray, true: np.ndarray, share: float = LARGE_SHARE) -> float:
    """Mean relative error over the largest true entries carrying ``share`` of the traffic.

    >>> large_entries_mre(np.array([9.0, 1.0, 0.0]), np.array([10.0, 1.0, 0.5]))
    0.1
    """
    x = np.asarray(true, dtype=np.float64).ravel()
    e = np.asarray(est, dtype=np.float64).ravel()
    order = np.argsort(x)[::-1]
    k = int(np.searchsorted(np.cumsum(x[order]), share * x.sum()) + 1)
    big = order[:k]
    return float(np.mean(np.abs(e[big] - x[big]) / x[big]))


def pair_prediction(snap: WindowSnapshot, pred: Any, n: int) -> dict[str, np.ndarray]:
    """``(N*N,)`` predicted delay, jitter and propagation per src→dst pair (ECMP paths mixed by demand packets).

    NaN where the snapshot has no demand for the pair.
    """
    sc = snap.scenario
    demand = snap.flow_probe < 0
    w = np.bincount(sc.flow_path[demand], weights=sc.flow_pkt_rate[demand], minlength=sc.n_paths)
    prop = np.bincount(sc.hop_path, weights=sc.link_prop_delay_s[sc.path_links], minlength=sc.n_paths)
    key = sc.path_src * n + sc.path_dst
    d = np.asarray(pred.path_delay_s, dtype=np.float64)
    j = np.asarray(pred.path_jitter_s2, dtype=np.float64)
    ok = (w > 0) & np.isfinite(d)
    ww = np.where(ok, w, 0.0)
    den = np.bincount(key, weights=ww, minlength=n * n)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.bincount(key, weights=ww * np.nan_to_num(d), minlength=n * n) / den
        second = np.bincount(key, weights=ww * np.nan_to_num(j + d**2), minlength=n * n) / den
        pprop = np.bincount(key, weights=ww * prop, minlength=n * n) / den
    return {"delay": np.where(den > 0, mean, np.nan), "jitter": np.where(den > 0, second - mean**2, np.nan),
            "prop": np.where(den > 0, pprop, np.nan)}


def pair_truth(t: dict[str, np.ndarray], n: int) -> dict[str, np.ndarray]:
    """``(N*N,)`` true delay, jitter, offered bit/s and composed share per pair (triples mixed by offered traffic)."""
    key = t["src"] * n + t["dst"]
    w = t["offered_bps"]
    ok = np.isfinite(t["delay_s"]) & (w > 0)
    okj = ok & np.isfinite(t["jitter_s2"])
    den = np.bincount(key, weights=np.where(ok, w, 0.0), minlength=n * n)
    denj = np.bincount(key, weights=np.where(okj, w, 0.0), minlength=n * n)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.bincount(key, weights=np.where(ok, w * t["delay_s"], 0.0), minlength=n * n) / den
        meanj = np.bincount(key, weights=np.where(okj, w * t["delay_s"], 0.0), minlength=n * n) / denj
        second = np.bincount(key, weights=np.where(okj, w * (t["jitter_s2"] + t["delay_s"] ** 2), 0.0),
                             minlength=n * n) / denj
        composed = np.bincount(key, weights=np.where(ok, w * (t["method"] == 1), 0.0), minlength=n * n) / den
    # the pair's jitter only where every triple of it has one (else NaN)
    full = np.isclose(denj, den)
    return {"delay": np.where(den > 0, mean, np.nan),
            "jitter": np.where((denj > 0) & full, np.maximum(second - meanj**2, 0.0), np.nan),
            "offered": np.bincount(key, weights=w, minlength=n * n), "composed": composed}


def _ape(pred: np.ndarray, true: np.ndarray) -> np.ndarray:
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.abs(pred / true - 1.0)


def _summary(x: list[np.ndarray]) -> dict[str, float | int]:
    a = np.concatenate(x) if x else np.empty(0)
    a = a[np.isfinite(a)]
    if a.size == 0:
        return {"n": 0}
    return {"mape_pct": round(100 * float(a.mean()), 3), "median_ape_pct": round(100 * float(np.median(a)), 3),
            "p95_ape_pct": round(100 * float(np.quantile(a, 0.95)), 3), "n": int(a.size)}


# ----------------------------------------------------------------------------- one network
@dataclass(frozen=True)
class RunWindows:
    """A run's window clock, its telemetry through the production adapters and its per-window path truth."""

    model: NetworkModel
    manifest: dict[str, Any]
    start: float  # epoch s where window 0 starts
    width: float  # window length, s
    interval: float  # counter sample interval, s
    count: int  # windows in the run
    rows: dict[str, np.ndarray]
    flows: dict[str, Any]
    acct: dict
    adapt_s: float  # wall time of the adapters, s
    row_win: np.ndarray  # (rows,) window of each measurement row
    paths: dict[str, np.ndarray]  # truth/paths.parquet, columns
    p_src: np.ndarray  # (truth rows,) node indices
    p_dst: np.ndarray
    p_win: np.ndarray  # (truth rows,) window index

    @classmethod
    def load(cls, run: Path) -> RunWindows:
        manifest = json.loads((run / "manifest.json").read_text())
        model = load_network_model(run / "network.yaml")
        start, width = float(manifest["start_epoch_s"]), float(manifest["config"]["window_s"])
        interval = float(manifest["config"]["sample_interval_s"] or width)
        t0 = time.perf_counter()
        rows, flows, acct = adapt_run(run, model)
        adapt_s = time.perf_counter() - t0
        # a counter rate covers the interval before its sample: its window is the one that holds the middle
        row_win = np.floor((rows["ts"] - 0.5 * interval - start) / width).astype(np.int64)
        paths = {k: np.asarray(v) for k, v in pq.read_table(run / "truth" / "paths.parquet").to_pydict().items()}
        node = {name: i for i, name in enumerate(model.node_names)}
        return cls(model=model, manifest=manifest, start=start, width=width, interval=interval,
                   count=int(manifest["windows"]), rows=rows, flows=flows, acct=acct, adapt_s=adapt_s,
                   row_win=row_win, paths=paths,
                   p_src=np.array([node[x] for x in paths["src"].tolist()], dtype=np.int64),
                   p_dst=np.array([node[x] for x in paths["dst"].tolist()], dtype=np.int64),
                   p_win=np.round((paths["window_start"] - start) / width).astype(np.int64))

    def bounds(self, w: int) -> tuple[float, float]:
        """Start and end (epoch s) of window ``w``."""
        return self.start + w * self.width, self.start + (w + 1) * self.width

    def true_matrix(self, w: int) -> np.ndarray:
        """``(MAX_QUEUES, N, N)`` the offered traffic (bit/s) of window ``w`` from the truth."""
        sel = self.p_win == w
        tm = np.zeros((MAX_QUEUES, self.model.n_nodes, self.model.n_nodes))
        np.add.at(tm, (self.paths["tos"][sel].astype(np.int64), self.p_src[sel], self.p_dst[sel]),
                  self.paths["offered_bps"][sel])
        return tm

    def true_snapshot(self, w: int, builder: SnapshotBuilder | None = None) -> WindowSnapshot:
        """Window ``w``'s snapshot from its counters, with the true traffic matrix."""
        start, end = self.bounds(w)
        builder = builder or SnapshotBuilder(self.model)
        return builder.build(start, end, {k: v[self.row_win == w] for k, v in self.rows.items()},
                             traffic=TrafficMatrix.build(self.true_matrix(w), start=start, end=end))


def score_network(network: str, run: Path, models: dict[str, Any], n_windows: int) -> dict[str, Any]:
    """Scores of one run (see the module docstring)."""
    t_start = time.perf_counter()
    rw = RunWindows.load(run)
    model, n = rw.model, rw.model.n_nodes
    start0, window, total = rw.start, rw.width, rw.count

    # windows no fault or benign telemetry event touches (the first and the last lack a counter rate)
    touched = np.zeros(total, dtype=bool)
    touched[[0, total - 1]] = True
    for line in _lines(run / "labels.jsonl"):
        lab = orjson.loads(line)
        if lab["kind"] in BENIGN_FOR_SCORING:
            continue
        lo = int(np.floor((float(lab["start"]) - start0) / window))
        hi = int(np.ceil((float(lab["end"]) - start0) / window))
        touched[max(lo, 0): min(hi, total)] = True
    eligible = np.flatnonzero(~touched)
    pick = eligible[np.unique(np.linspace(0, eligible.size - 1, min(n_windows, eligible.size)).round().astype(int))]

    rows, flows, acct, t_adapt, row_win = rw.rows, rw.flows, rw.acct, rw.adapt_s, rw.row_win
    paths, p_src, p_dst, p_win, manifest = rw.paths, rw.p_src, rw.p_dst, rw.p_win, rw.manifest

    builder = SnapshotBuilder(model)
    exporters = np.random.default_rng(int(manifest["config"]["seed"])).random(n) < MIXED_EXPORT_SHARE
    acc: dict[str, dict[str, dict[str, list[np.ndarray]]]] = {
        m: {s: {"delay": [], "qpart": [], "jitter": [], "covered": []} for s in TM_SOURCES} for m in models}
    tm_err: dict[str, list[float]] = {s: [] for s in TM_SOURCES if s != "true"}
    tm_err_class: dict[str, list[float]] = {s: [] for s in TM_SOURCES if s != "true"}
    truth_stats: dict[str, list[float]] = {"composed_share": [], "delay_ci_rel_median": [],
                                           "jitter_nan_share": [], "jitter_ci_rel_median": []}
    t_snap = {s: 0.0 for s in TM_SOURCES}
    t_pred = {m: 0.0 for m in models}
    out_of_domain: dict[str, list[float]] = {m: [] for m in models}
    for w in pick.tolist():
        start, end = rw.bounds(w)
        sel = row_win == w
        rows_w = {k: v[sel] for k, v in rows.items()}
        fsel = (flows["flow_end_s"] > start) & (flows["flow_start_s"] < end) if flows else None
        flows_w = {k: v[fsel] for k, v in flows.items()} if flows else None
        tsel = p_win == w
        t = {"src": p_src[tsel], "dst": p_dst[tsel], "tos": paths["tos"][tsel].astype(np.int64),
             **{k: paths[k][tsel] for k in ("offered_bps", "delay_s", "jitter_s2", "delay_ci_s", "method")},
             "jitter_ci_s2": paths["jitter_ci_s2"][tsel] if "jitter_ci_s2" in paths else np.full(tsel.sum(), np.nan)}
        true_tm = rw.true_matrix(w)
        truth = pair_truth(t, n)
        snaps: dict[str, WindowSnapshot] = {}
        for s in TM_SOURCES:
            t0 = time.perf_counter()
            if s == "flows":
                snaps[s] = builder.build(start, end, rows_w, flows=flows_w, bytes_scaled=True)
            elif s == "mixed" and flows_w:
                keep = exporters[np.maximum(flows_w["src_node"], 0)] & (flows_w["src_node"] >= 0)
                snaps[s] = builder.build(start, end, rows_w, flows={k: v[keep] for k, v in flows_w.items()},
                                         bytes_scaled=True, flow_exporters=exporters)
            elif s in ("counters", "mixed"):
                snaps[s] = builder.build(start, end, rows_w)
            else:
                snaps[s] = rw.true_snapshot(w, builder)
            t_snap[s] += time.perf_counter() - t0
            if s != "true":
                est = snaps[s].traffic.rate_bps
                tm_err[s].append(large_entries_mre(est.sum(axis=0), true_tm.sum(axis=0)))
                tm_err_class[s].append(large_entries_mre(est[:MAX_QUEUES], true_tm))
        prop_ref = pair_prediction(snaps["true"], _ZeroPrediction(snaps["true"]), n)["prop"]
        has = truth["offered"] > 0
        ok_d = has & np.isfinite(truth["delay"])
        q_true = truth["delay"] - prop_ref
        ok_q = ok_d & np.isfinite(q_true) & (q_true >= QUEUE_FLOOR_S)
        ok_j = ok_d & np.isfinite(q_true) & informative_jitter(np.maximum(q_true, 0.0), truth["jitter"])
        truth_stats["composed_share"].append(float(np.average(truth["composed"][ok_d], weights=None)))
        truth_stats["jitter_nan_share"].append(float(np.mean(~np.isfinite(t["jitter_s2"][t["offered_bps"] > 0]))))
        with np.errstate(invalid="ignore", divide="ignore"):
            truth_stats["delay_ci_rel_median"].append(float(np.nanmedian(t["delay_ci_s"] / t["delay_s"])))
            jr = t["jitter_ci_s2"] / t["jitter_s2"]
            truth_stats["jitter_ci_rel_median"].append(float(np.nanmedian(jr)) if np.isfinite(jr).any() else np.nan)
        for mname, mdl in models.items():
            for s in TM_SOURCES:
                t0 = time.perf_counter()
                with warnings.catch_warnings(record=True) as caught:
                    warnings.simplefilter("always", OutOfDomainWarning)
                    pred = mdl.predict(snaps[s].scenario)
                t_pred[mname] += time.perf_counter() - t0
                ood = getattr(pred, "path_out_of_domain", None)
                if ood is not None and np.size(ood):
                    out_of_domain[mname].append(float(np.mean(ood)))
                for c in caught:
                    if not issubclass(c.category, OutOfDomainWarning):
                        warnings.warn_explicit(c.message, c.category, c.filename, c.lineno)
                pp = pair_prediction(snaps[s], pred, n)
                a = acc[mname][s]
                a["delay"].append(_ape(pp["delay"][ok_d], truth["delay"][ok_d]))
                a["qpart"].append(_ape(pp["delay"][ok_q] - prop_ref[ok_q], q_true[ok_q]))
                a["jitter"].append(_ape(pp["jitter"][ok_j], truth["jitter"][ok_j]))
                a["covered"].append(np.isfinite(pp["delay"][ok_d]).astype(np.float64))
        print(f"{network}: window {w} scored", file=sys.stderr, flush=True)

    out: dict[str, Any] = {
        "nodes": n, "links": model.n_links, "windows_run": total, "windows_scored": int(pick.size),
        "window_indices": pick.tolist(),
        "pairs_per_window": int(np.mean([len(x) for x in acc[next(iter(models))]["true"]["delay"]])),
        "adapters": acct, "packets_per_window": int(manifest["config"]["packets_per_window"]),
        "mixed_exporters": int(exporters.sum()),
        "tm_mre_large_pct": {s: round(100 * float(np.mean(v)), 3) for s, v in tm_err.items()},
        "tm_mre_large_per_class_pct": {s: round(100 * float(np.mean(v)), 3) for s, v in tm_err_class.items()},
        "truth": {k: round(float(np.mean(v)), 6) for k, v in truth_stats.items()},
        "models": {},
        "seconds": {"adapters": round(t_adapt, 2), "snapshot": {k: round(v, 2) for k, v in t_snap.items()},
                    "predict": {k: round(v, 2) for k, v in t_pred.items()},
                    "total": round(time.perf_counter() - t_start, 1)},
    }
    for mname in models:
        out["models"][mname] = {}
        for s in TM_SOURCES:
            a = acc[mname][s]
            cov = np.concatenate(a["covered"]) if a["covered"] else np.empty(0)
            out["models"][mname][s] = {"delay": _summary(a["delay"]), "qpart": _summary(a["qpart"]),
                                       "jitter": _summary(a["jitter"]),
                                       "coverage": round(float(cov.mean()), 4) if cov.size else None}
        if out_of_domain[mname]:
            out["models"][mname]["paths_out_of_domain_share"] = round(float(np.mean(out_of_domain[mname])), 4)
    return out


class _ZeroPrediction:
    """A prediction of zero delay and jitter on every path (to read the pairs' propagation sums)."""

    def __init__(self, snap: WindowSnapshot) -> None:
        self.path_delay_s = np.zeros(snap.scenario.n_paths)
        self.path_jitter_s2 = np.zeros(snap.scenario.n_paths)


# ----------------------------------------------------------------------------- report
def markdown(report: dict[str, Any]) -> str:
    """The BENCHMARKS.md table of ``report``."""
    lines = ["| network (nodes) | TM source | TM MRE large | model | delay MAPE | queueing-part MAPE (median) "
             "| jitter MAPE (median) | pairs predicted |", "|---|---|---|---|---|---|---|---|"]
    for net, r in report["networks"].items():
        for s in TM_SOURCES:
            for mname, m in r["models"].items():
                c = m[s]
                tm = "0 (given)" if s == "true" else f"{r['tm_mre_large_pct'][s]:.1f} %"
                q, j = c["qpart"], c["jitter"]
                lines.append(f"| {net} ({r['nodes']}) | {s} | {tm} | {mname} | {c['delay'].get('mape_pct', 'n/a')} % "
                             f"| {q.get('mape_pct', 'n/a')} % ({q.get('median_ape_pct', 'n/a')} %) "
                             f"| {j.get('mape_pct', 'n/a')} % ({j.get('median_ape_pct', 'n/a')} %) "
                             f"| {100 * c['coverage']:.1f} % |")
    return "\n".join(lines)


def _git() -> dict[str, Any]:
    try:
        rev = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=True)
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], capture_output=True,
                               text=True, check=True)
        return {"revision": rev.stdout.strip(), "dirty_files": len(dirty.stdout.splitlines())}
    except (OSError, subprocess.CalledProcessError):
        return {"revision": None}


def _sha256(path: Path) -> str | None:
    import hashlib

    return hashlib.sha256(path.read_bytes()).hexdigest()[:16] if path.is_file() else None


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--networks", default="abilene:1800:12,geant:1800:12,cogentco:600:4",
                    help="NAME:SECONDS[:WINDOWS],... shipped networks, run lengths (s), windows scored")
    ap.add_argument("--windows", type=int, default=12, help="windows scored per network when not given (evenly spaced)")
    ap.add_argument("--packets", type=int, default=50_000, help="packets simulated per window (truth precision)")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--models", default="qt,gnn", help="model specs, comma-separated (bench/_models.py)")
    ap.add_argument("--checkpoint", type=Path, default=None, help="a candidate GNN checkpoint, scored as 'candidate'")
    ap.add_argument("--runs", type=Path, default=Path("/tmp/twinwatch-e2e-runs"), help="where runs are kept")
    ap.add_argument("--threads", type=int, default=1, help="torch / BLAS threads")
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args(argv)

    import torch

    torch.set_num_threads(args.threads)
    models: dict[str, Any] = build_models(args.models)
    if args.checkpoint is not None:
        models["candidate"] = get_model("gnn", checkpoint=str(args.checkpoint))
    report: dict[str, Any] = {
        "command": " ".join(["bench/e2e_twin_accuracy.py", *(argv if argv is not None else sys.argv[1:])]),
        "machine": machine_info(note="shared dev box; load averages at the start"),
        "git": _git(), "start_epoch_s": START_EPOCH_S, "checkpoint": str(args.checkpoint) if args.checkpoint else None,
        "checkpoint_sha256": _sha256(args.checkpoint / "model.safetensors") if args.checkpoint else None,
        "networks": {},
    }
    args.runs.mkdir(parents=True, exist_ok=True)
    for item in args.networks.split(","):
        name, secs, n_win = ([*item.split(":"), "", ""])[:3]
        run = testbed_run(name, float(secs or 600), args.runs, packets=args.packets, seed=args.seed)
        report["networks"][name] = score_network(name, run, models, int(n_win or args.windows))
        report["networks"][name]["duration_s"] = float(secs or 600)
    report["load_at_end"] = round(os.getloadavg()[0], 1)
    print(markdown(report))
    write_report(report, args.json, echo=False, indent=2, sort_keys=True, nan_as_null=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
