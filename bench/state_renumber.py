"""Cost of restoring a detector's state onto an edited network model (renumbering by name) against a plain restore.

The service's checkpoint names the entities its per-entity detector state is numbered by; a worker started
with an edited network-model file renumbers each part onto the new model
(:func:`twinwatch.detectors.entities.carry_entities`) instead of refusing the state. This measures, on one
network (default Cogent: 197 devices, 486 directed links, 174 planned probes, 38,809 source-destination
pairs), the detector part of ``Pipeline.restore``:

- ``plain``: the saved parts restored into a detector of the same model (what every restart does);
- ``renumbered``: the same parts restored into a detector of the model with one cable removed and one probe
  added (every per-entity array gathered along its entity axis), and the entity counts kept / new / dropped.

The detector is fed ``--windows`` windows of random residuals first, so that its arrays are not all zeros.
Wall and process CPU, medians of ``--repeat``. Writes JSON.

Usage::

    .venv/bin/python bench/state_renumber.py --out bench/notes/state_renumber.json
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from _report import machine_info, timed, write_report

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))


def _edited(model: Any) -> Any:
    """``model`` with its first cable that leaves both ends connected removed and a probe added."""
    from twinwatch.twin.netmodel import document, model_from_dict

    doc = document(model)
    degree: dict[str, int] = {}
    for c in doc["links"]:
        for end in ("a", "b"):
            degree[c[end]["device"]] = degree.get(c[end]["device"], 0) + 1
    cable = next(c for c in doc["links"] if degree[c["a"]["device"]] > 1 and degree[c["b"]["device"]] > 1)
    doc["links"].remove(cable)
    names = [d["name"] for d in doc["devices"]]
    doc["probes"].append({"name": "bench-probe", "src": names[0], "dst": names[-1], "rate_pps": 10,
                          "size_bytes": 128, "dscp": 0})
    return model_from_dict(doc)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--network", default="cogentco", help="a shipped network name or a network-model file")
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--out", type=Path, default=None, help="write the JSON report here")
    args = ap.parse_args(argv)

    import numpy as np

    from twinwatch.detectors.entities import entity_index, pair_index, summary
    from twinwatch.detectors.twin_detector import TwinDetector
    from twinwatch.stream.state import _detector_parts, _detector_restore
    from twinwatch.twin.netmodel import load_network

    model = load_network(args.network)
    edited = _edited(model)
    det = TwinDetector(model)
    rng = np.random.default_rng(0)
    for st in (*det._link.values(), *det._path.values(), *det._node.values()):
        for _ in range(4):
            st.cal.update(rng.normal(size=st.cal.n_entities))
    parts, scalars = _detector_parts(det)
    old, new = det.entity_names(), TwinDetector(edited).entity_names()
    maps = {axis: entity_index(old[axis], new[axis]) for axis in new}
    maps["pair"] = pair_index(maps["node"], len(old["node"]))

    def plain() -> None:
        _detector_restore(TwinDetector(model), parts, scalars, "bench")

    def renumbered() -> None:
        _detector_restore(TwinDetector(edited), parts, scalars, "bench", maps)

    def fresh() -> None:
        TwinDetector(edited)

    doc = {
        "command": " ".join(["python", "bench/state_renumber.py", *(argv if argv is not None else sys.argv[1:])]),
        "machine": machine_info(),
        "network": {"name": args.network, "devices": model.n_nodes, "links": model.n_links,
                    "probes": model.n_probes, "pairs": model.n_nodes ** 2},
        "detector_parts_bytes": sum(len(b) for b in parts.values()),
        "changes": {axis: summary(idx, len(old[axis])) for axis, idx in maps.items() if axis != "pair"},
        "fresh_detector": timed(fresh, args.repeat),
        "plain": timed(plain, args.repeat),
        "renumbered": timed(renumbered, args.repeat),
    }
    doc["renumbered_over_plain_cpu"] = round(doc["renumbered"]["cpu_ms_median"] / doc["plain"]["cpu_ms_median"], 2)
    write_report(doc, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
