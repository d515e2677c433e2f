"""Single-link simulator results next to queueing-theory closed forms (the table in bench/notes/sim.md).

Usage: ``.venv/bin/python bench/sim_closed_forms.py [--out bench/notes/sim_closed_forms.json]``

Same set-up as ``tests/unit/twin/sim/test_closed_forms.py``: capacity 1e4
bits/tu, mean packet 1000 bits (μ = 10 packets/tu), one Poisson flow; M/M/1
uses exponential packet sizes, M/D/1 fixed sizes; M/M/1/K has K = 5 (packet
in service included).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from _report import write_report

from tests.unit.twin.sim.test_closed_forms import MU, single_link
from twinwatch.twin.sim import SimConfig, simulate


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args(argv)
    rows = []
    for kind in ("M/M/1", "M/D/1"):
        for rho in (0.3, 0.5, 0.7, 0.9):
            sc = single_link(rho, exponential_sizes=kind == "M/M/1")
            res = simulate(sc, SimConfig(seed=11 if kind == "M/M/1" else 12, target_rse=0.004, max_packets=4_000_000))
            exp = 1 / (MU - rho * MU) if kind == "M/M/1" else 1 / MU + rho / (2 * MU * (1 - rho))
            sim = float(res.labels.path_delay_s[0])
            rows.append({"model": kind, "rho": rho, "kpi": "mean delay", "theory": exp, "sim": sim,
                         "rel_err": sim / exp - 1, "ci95": float(res.path_delay_ci[0]),
                         "packets": res.packets_generated, "converged": res.converged})
    k = 5
    for rho in (0.5, 0.9, 1.2):
        res = simulate(single_link(rho, exponential_sizes=True, queue_pkts=k),
                       SimConfig(seed=13, target_rse=0.0, min_packets=1_500_000, max_packets=1_500_000))
        exp = (1 - rho) * rho**k / (1 - rho ** (k + 1))
        sim = float(res.labels.path_loss_ratio[0])
        rows.append({"model": "M/M/1/5", "rho": rho, "kpi": "loss", "theory": exp, "sim": sim,
                     "rel_err": sim / exp - 1, "packets": res.packets_generated})
    for r in rows:
        print(f"{r['model']:8s} rho={r['rho']:.1f} {r['kpi']:10s} theory={r['theory']:.5f} sim={r['sim']:.5f} "
              f"err={100 * r['rel_err']:+.2f}% packets={r['packets']}")
    write_report(rows, args.out, echo=False)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
