"""Cost of inferring a window's link state from telemetry (issue 9) in ``SnapshotBuilder.build``.

The 200-node network and the 40,000-entry traffic matrix of ``bench/snapshot_speed.py``; one 60 s window
of rows as a sampled gNMI subscription sends them every 10 s: per link ``tx_bps`` and ``rx_bps``, and per
link end ``oper_status`` / ``admin_status`` (source end) and ``rx_oper_status`` / ``rx_admin_status``
(destination end), 6 samples each (600 links → 1,200 counter + 14,400 link-state rows). Three links are
reported down. Timed, after one warm-up build per case (routing cached for the link state), median of
``--repeat`` runs:

- ``infer_only``: the inference itself (link-state rows → ``(E,)`` state, held states, counts);
- ``build_with_state_rows``: a whole window build that infers the state (matrix given);
- ``build_state_given``: the same build with ``link_up`` passed (the rows are still read, to remember
  each end's state for later windows; the inferred state is not used).

CPU seconds of this process (robust to other load on a shared machine) and wall seconds. Writes JSON.

Usage::

    .venv/bin/python bench/link_state_speed.py --out bench/notes/link_state_speed.json
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))

from _report import machine_info, write_report  # noqa: E402
from snapshot_speed import network, timed, workload  # noqa: E402

KPIS = ("oper_status", "admin_status", "rx_oper_status", "rx_admin_status")


def rows_with_state(model: Any, base: dict[str, np.ndarray], down: list[int], samples: int) -> dict[str, np.ndarray]:
    """``base`` counter rows plus ``samples`` link-state rows per link end and KPI; links ``down`` report 0.0."""
    e = model.n_links
    ids = np.asarray(model.link_ids, dtype=object)
    value = np.ones(e)
    value[down] = 0.0
    n = e * len(KPIS) * samples
    ts = np.repeat(np.arange(samples) * 10.0 + 1.0, e * len(KPIS))
    out = {"entity_kind": np.concatenate([base["entity_kind"], np.full(n, "link")]),
           "entity_id": np.concatenate([base["entity_id"], np.tile(ids, len(KPIS) * samples).astype(str)]),
           "kpi": np.concatenate([base["kpi"], np.tile(np.repeat(np.array(KPIS), e), samples)]),
           "value": np.concatenate([base["value"], np.tile(value, len(KPIS) * samples)]),
           "ts": np.concatenate([base["ts"], ts])}
    return out


def main(argv: list[str] | None = None) -> int:
    from twinwatch.twin.measurements import Measurements
    from twinwatch.twin.snapshot import SnapshotBuilder

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--nodes", type=int, default=200)
    ap.add_argument("--entries", type=int, default=40_000)
    ap.add_argument("--samples", type=int, default=6, help="link-state samples per link end and KPI in the window")
    ap.add_argument("--repeat", type=int, default=9)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args(argv)
    model = network(args.nodes, args.seed)
    wl = workload(model, args.entries, args.seed)
    down = [0, 1, 2]
    cols = rows_with_state(model, wl["rows"], down, args.samples)
    meas = Measurements.from_columns(cols)
    b = SnapshotBuilder(model)
    snap = b.build(0.0, 60.0, cols, traffic=wl["traffic"])  # warm-up: routing of this link state
    assert sorted(snap.links_down) == sorted(model.link_ids[i] for i in down), snap.links_down
    up = np.ones(model.n_links, dtype=bool)
    up[down] = False
    b.build(0.0, 60.0, cols, traffic=wl["traffic"], link_up=up)
    res = {
        "machine": machine_info(),
        "command": " ".join(["bench/link_state_speed.py", *(argv if argv is not None else sys.argv[1:])]),
        "nodes": model.n_nodes, "links": model.n_links, "rows": len(meas),
        "link_state_rows": int(np.isin(meas.kpi, KPIS).sum()), "links_down": len(down),
        "infer_only": timed(lambda: b._link_state(meas, 0.0, 60.0), args.repeat),
        "build_with_state_rows": timed(lambda: b.build(0.0, 60.0, meas, traffic=wl["traffic"]), args.repeat),
        "build_state_given": timed(lambda: b.build(0.0, 60.0, meas, traffic=wl["traffic"], link_up=up), args.repeat),
    }
    write_report(res, args.out, indent=2)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
