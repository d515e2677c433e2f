"""Generate the fault plans shipped beside the network models (``twin/data/networks/<name>.faults.jsonl``).

Each plan cycles through every network-fault kind, with a benign event after
every second fault, spread over the run it is made for (24 h for Abilene and
GÉANT, 6 h for Cogent). Link faults fall on links in proportion to their
utilisation at the weekly mean traffic, so that their effect is visible; the
seed is fixed, so the files are reproducible::

    .venv/bin/python -m twinwatch.twin.data.make_fault_plans
"""

from __future__ import annotations

from pathlib import Path

import orjson

from twinwatch.twin.netmodel import load_network
from twinwatch.twin.testbed.faults import random_plan
from twinwatch.twin.testbed.run import TestbedConfig, mean_utilisation

PLANS = {"abilene": (86400.0, 28), "geant": (86400.0, 28), "cogentco": (21600.0, 14)}
"""Network → (run length in seconds, network faults)."""

OUT = Path(__file__).resolve().parent / "networks"


def main() -> None:
    for name, (duration, n_faults) in PLANS.items():
        model = load_network(name)
        util = mean_utilisation(model, TestbedConfig(duration_s=duration))
        plan = random_plan(model.link_ids, model.node_names, duration_s=duration, window_s=10.0, n_faults=n_faults,
                           seed=20260105, link_weight=util**2)
        path = OUT / f"{name}.faults.jsonl"
        path.write_bytes(b"".join(orjson.dumps(f.to_dict()) + b"\n" for f in plan))
        print(f"{path}: {len(plan)} events over {duration / 3600:g} h")


if __name__ == "__main__":
    main()
