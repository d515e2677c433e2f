"""How long ``twinwatch plan`` takes, against one prediction of the same twin on the same network, in the same run.

A plan routes the grown matrix on the intact network and under every single cable failure (routing alone, no twin),
once more per round while auto-cost metrics move traffic, and once more for the intact-only alternative; the twin's
check then predicts the network as it is and as planned on the intact network and under the binding failures.
Networks: the shipped models, a gravity matrix whose links' 75th percentile of utilisation is 0.5, grown 1.5×.

Usage::

    .venv/bin/python bench/plan_speed.py --out bench/notes/plan_speed.json
"""

from __future__ import annotations

import argparse
import time
import warnings
from pathlib import Path

from _report import machine_info, timed, write_report
from plan_eval import gravity

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--networks", default="abilene,geant,cogentco")
    ap.add_argument("--model", default="gnn")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args()
    import torch

    from twinwatch.twin.measurements import Measurements
    from twinwatch.twin.models import load_model
    from twinwatch.twin.netmodel import load_network
    from twinwatch.twin.plan import failure_set, matrix_from_array, plan_capacity, verify_plan
    from twinwatch.twin.snapshot import SnapshotBuilder

    torch.set_num_threads(args.threads)
    twin = load_model(args.model, None)
    rows = []
    for name in args.networks.split(","):
        model = load_network(ROOT / "twin" / "data" / "networks" / f"{name}.yaml")
        traffic = matrix_from_array(gravity(model, 0.5, 0))
        scenario = SnapshotBuilder(model, infer_link_state=False).build(
            0.0, 1.0, Measurements.empty(), traffic=traffic).scenario
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            twin.predict(scenario)  # warm-up: numba, torch
            predict = timed(lambda sc=scenario: twin.predict(sc), args.repeat)
            plan = plan_capacity(model, traffic, growth=1.5)
            alone = timed(lambda m=model, t=traffic: plan_capacity(m, t, growth=1.5, compare=False), args.repeat)
            both = timed(lambda m=model, t=traffic: plan_capacity(m, t, growth=1.5), 1)
            t0 = time.perf_counter()
            as_is, planned = verify_plan(plan, twin)
            verify_s = time.perf_counter() - t0
        row = {"network": name, "devices": model.n_nodes, "links": model.n_links,
               "failures": len(failure_set(model, "cable")), "rounds": plan.rounds,
               "cables_upgraded": len(plan.upgrades()), "binding_failures": len(plan.binding_failures()),
               "predict_s": predict, "plan_s": alone, "plan_with_intact_only_s": both, "verify_s": verify_s,
               "verify_predictions": len(as_is) + len(planned),
               "plan_over_one_prediction": alone["wall_ms_median"] / predict["wall_ms_median"],
               "verify_per_prediction_over_one_prediction": 1e3 * verify_s / (len(as_is) + len(planned))
               / predict["wall_ms_median"]}
        rows.append(row)
        print(f"{name}: plan {alone['wall_ms_median'] / 1e3:.2f} s ({row['failures']} failures routed; "
              f"{row['plan_over_one_prediction']:.1f} × one prediction of {predict['wall_ms_median'] / 1e3:.3f} s), "
              f"with the intact-only alternative {both['wall_ms_median'] / 1e3:.2f} s; twin check {verify_s:.1f} s for "
              f"{row['verify_predictions']} predictions", flush=True)
    write_report({"machine": machine_info(), "model": args.model, "threads": args.threads, "networks": rows},
                 args.out)


if __name__ == "__main__":
    main()
