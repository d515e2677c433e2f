"""Validate the testbed's fluid overload model against a long packet simulation of the same window.

The scenario is the issue-10 repro: Abilene, seed 7, the window at 900 s with
``ATLAM5->ATLAng`` (and its reverse) degraded to 15 % of its capacity, i.e.
offered load about 2.5 × capacity. The packet simulator runs that window for
``--packets`` packets (a few simulated seconds, long enough for the 1000-packet
WFQ buffers to fill); the fluid model (:func:`twinwatch.twin.testbed.overload.fluid_overload`)
is evaluated over the same span: the warm-up from an empty buffer, then the
measured span starting from the warm-up's backlog. The warm-up (half the run
by default) covers the buffers' fill: the simulator measures the packets that
*depart* in its measured span and the fluid model those *accepted* in it,
which differ while a buffer fills (up to 14 % on the mean sojourn with a
10 % warm-up). Compared, for the
overloaded ports: link loss ratio, per-queue mean sojourn, per-class loss of
the flows through them, and the GNNet queue occupancy ratio.

Usage::

    NUMBA_NUM_THREADS=1 nice -n 5 .venv/bin/python bench/testbed_overload.py --packets 4000000 --cost \
        --out bench/notes/testbed_overload.json

Writes a JSON report; prints one line per compared quantity.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
from _report import machine_info, write_report

from twinwatch.twin.kpis import queue_occupancy_ratio
from twinwatch.twin.netmodel import load_network
from twinwatch.twin.scenario import MAX_QUEUES
from twinwatch.twin.sim.engine import SimConfig, simulate
from twinwatch.twin.testbed.faults import Fault
from twinwatch.twin.testbed.overload import fluid_overload, port_queue
from twinwatch.twin.testbed.run import TestbedConfig, _cable_mate, _true_scenario, _true_state, _unit_utilisation
from twinwatch.twin.testbed.traffic import GravityTraffic
from twinwatch.twin.traffic_matrix import TrafficMatrix

NO_ROWS = {"entity_kind": [], "entity_id": [], "kpi": [], "value": []}


def repro_scenario(t: float = 900.0, link: str = "ATLAM5->ATLAng", magnitude: float = 0.15, seed: int = 7):  # type: ignore[no-untyped-def]
    """The true (degraded) scenario of the testbed window at ``t`` seconds, as ``run_testbed`` builds it."""
    from twinwatch.twin.snapshot import SnapshotBuilder

    model = load_network("abilene")
    cfg = TestbedConfig(seed=seed)
    degree = np.maximum(np.bincount(model.link_src, minlength=model.n_nodes).astype(np.float64), 1.0)
    builder = SnapshotBuilder(model)
    unit = GravityTraffic(node_weight=degree, mean_total_bps=1.0, tos_share=cfg.tos_share, seed=seed)
    volume = cfg.load / float(_unit_utilisation(builder, unit.gravity).max())
    gen = GravityTraffic(node_weight=degree, mean_total_bps=volume, tos_share=cfg.tos_share, seed=seed)
    fault = Fault(kind="capacity_degradation", start_s=t, end_s=t + 300.0, entities=(link,), magnitude=magnitude)
    st = _true_state(model, [fault], _cable_mate(model))
    tm = gen.matrix(t, cfg.window_s).transpose(2, 0, 1)
    snap = builder.build(t, t + cfg.window_s, NO_ROWS, traffic=TrafficMatrix.build(tm, start=t, end=t + cfg.window_s),
                         link_up=st.up)
    return model, snap, _true_scenario(snap, model, st)


def fluid_cost(networks: tuple[str, ...] = ("abilene", "cogentco"), repeats: int = 20) -> dict[str, float]:
    """CPU milliseconds per :func:`fluid_overload` call on each network's 14:00 scenario (no fault, load 0.45)."""
    from twinwatch.twin.snapshot import SnapshotBuilder

    out = {}
    for name in networks:
        model = load_network(name)
        cfg = TestbedConfig()
        degree = np.maximum(np.bincount(model.link_src, minlength=model.n_nodes).astype(np.float64), 1.0)
        builder = SnapshotBuilder(model)
        unit = GravityTraffic(node_weight=degree, mean_total_bps=1.0, tos_share=cfg.tos_share, seed=0)
        volume = cfg.load / float(_unit_utilisation(builder, unit.gravity).max())
        gen = GravityTraffic(node_weight=degree, mean_total_bps=volume, tos_share=cfg.tos_share, seed=0)
        tm = gen.matrix(14 * 3600.0, 10.0).transpose(2, 0, 1)
        sc = builder.build(0.0, 10.0, NO_ROWS, traffic=TrafficMatrix.build(tm, start=0.0, end=10.0)).scenario
        fluid_overload(sc, 10.0)
        t0 = time.process_time()
        for _ in range(repeats):
            fluid_overload(sc, 10.0)
        out[name] = (time.process_time() - t0) / repeats * 1e3
        print(f"{name}: fluid_overload {out[name]:.1f} ms CPU per window ({sc.path_links.size} hops)")
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--packets", type=int, default=4_000_000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--warmup", type=float, default=0.5,
                    help="warm-up fraction of the run (covers the buffers' fill, so departures and acceptances agree)")
    ap.add_argument("--out", type=Path, default=None)
    ap.add_argument("--cost", action="store_true", help="also time fluid_overload on Abilene and Cogent")
    args = ap.parse_args()
    cost = fluid_cost() if args.cost else {}
    _, _, sc = repro_scenario()
    t0 = time.perf_counter()
    flat = sc.__class__(**{**{f: getattr(sc, f) for f in sc.__dataclass_fields__},
                           "link_prop_delay_s": np.zeros_like(sc.link_prop_delay_s)})
    res = simulate(flat, SimConfig(seed=args.seed, min_packets=args.packets, max_packets=args.packets, target_rse=1e-9,
                                          warmup_fraction=args.warmup))
    wall = time.perf_counter() - t0
    warm = res.sim_time - res.measured_time
    pre = fluid_overload(sc, window_s=warm)
    ov = fluid_overload(sc, window_s=res.measured_time, backlog_bits=pre.backlog_bits)
    links = np.flatnonzero(ov.link_overloaded)
    qmap = port_queue(sc)
    rows = []

    def add(what: str, fluid: float, packet: float) -> None:
        rel = (fluid - packet) / packet if packet else float("nan")
        rows.append({"what": what, "fluid": fluid, "packet": packet, "rel_err": rel})
        print(f"{what:55s} fluid {fluid:12.6g}  packet {packet:12.6g}  rel {rel:+.4f}")

    occ_fluid = np.where(ov.overloaded, ov.sojourn_s, np.nan_to_num(res.queue_sojourn))
    occ_pk = (occ_fluid * sc.link_capacity_bps[:, None] / np.where(np.isfinite(ov.pkt_bits), ov.pkt_bits, 1.0))
    occ_ratio = queue_occupancy_ratio(sc, np.nansum(np.where(np.isfinite(ov.pkt_bits), occ_pk, 0.0), axis=1))
    for e in links:
        name = f"{sc.link_src[e]}->{sc.link_dst[e]}"
        lr = float(np.sum(ov.drop_pps[e]) / np.sum(ov.arrival_pps[e]))
        add(f"link {name} loss ratio", lr, float(res.labels.link_loss_ratio[e]))
        add(f"link {name} queue occupancy ratio", float(occ_ratio[e]), float(res.labels.link_queue_occupancy[e]))
        for q in np.flatnonzero(ov.overloaded[e]):
            add(f"link {name} queue {q} mean sojourn (s)", float(ov.sojourn_s[e, q]), float(res.queue_sojourn[e, q]))
        # per-class loss of the flows whose path crosses the link (one overloaded hop on Abilene's paths)
        hops = np.flatnonzero(sc.path_links == e)
        paths = np.unique(sc.hop_path[hops])
        on = np.isin(sc.flow_path, paths)
        for c in range(MAX_QUEUES):
            sel = on & (sc.flow_tos == c) & (res.flow_packets > 0)
            if not sel.any():
                continue
            w = sc.flow_pkt_rate[sel]
            pk_loss = float(np.sum(res.flow_loss_ratio[sel] * w) / np.sum(w))
            add(f"link {name} class {c} flow loss (through)", float(ov.loss_ratio[e, qmap[e, c]]), pk_loss)
            if ov.overloaded[e, qmap[e, c]]:
                # delay variance of the flows through the port (the other hops add ~1e-11 s^2 on Abilene)
                w = res.flow_packets[sel]
                pk_jit = float(np.nansum(res.flow_jitter_s2[sel] * w) / np.sum(w))
                add(f"link {name} class {c} flow delay std (s, through)",
                    float(np.sqrt(ov.sojourn_var_s2[e, qmap[e, c]])), float(np.sqrt(pk_jit)))
    report = {"scenario": "abilene seed 7, t=900 s, ATLAM5<->ATLAng at 0.15 capacity", "packets": args.packets,
              "sim_time_s": res.sim_time, "measured_time_s": res.measured_time, "wall_s": wall,
              "fluid_iterations": ov.iterations, "rows": rows, "fluid_cpu_ms_per_window": cost,
              "max_abs_rel_err": float(np.nanmax(np.abs([r["rel_err"] for r in rows])))}
    report["machine"] = machine_info()
    write_report(report, args.out, echo=False, indent=2, nan_as_null=True)
    print(f"simulated {res.sim_time:.3f} s ({res.measured_time:.3f} s measured) in {wall:.1f} s wall")


if __name__ == "__main__":
    main()
