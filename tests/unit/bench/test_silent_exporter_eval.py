"""bench/silent_exporter_eval.py: alerts are matched to the silent exporters by router and time, from the labels and
the alerts only."""

from __future__ import annotations

import json
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[3] / "bench"
sys.path.insert(0, str(BENCH))

import silent_exporter_eval  # noqa: E402


def test_an_alert_on_the_silent_router_names_it_and_one_on_another_router_is_wrong_blame(tmp_path: Path) -> None:
    (tmp_path / "manifest.json").write_text(json.dumps({"config": {"window_s": 10.0}}))
    labels = [{"id": f"f{i}", "kind": "unmonitored_traffic", "start": s, "end": s + 600.0, "entities": [r],
               "magnitude": 1.0, "entity_kind": "node", "benign": False}
              for i, (s, r) in enumerate([(300.0, "r1"), (1500.0, "r2")])]
    (tmp_path / "labels.jsonl").write_text("".join(json.dumps(lb) + "\n" for lb in labels))

    def alert(i: str, kind: str, node: str, start: float) -> dict[str, object]:
        return {"id": i, "status": "firing", "kind": kind, "severity": "info", "network": "n", "entity_kind": "node",
                "entity_id": node, "kpi": "flow_export_bps", "start": start}

    alerts = [alert("a", "traffic_anomaly", "r1", 410.0),  # f0's router, 11 windows in
              alert("b", "traffic_anomaly", "r3", 1600.0),  # another router during f1: wrong blame
              alert("c", "degradation", "r2", 1700.0),  # a network-fault alert during f1
              alert("d", "traffic_anomaly", "r2", 2500.0)]  # after f1's grace: not its
    (tmp_path / "alerts.jsonl").write_text("".join(json.dumps(a) + "\n" for a in alerts))
    got = silent_exporter_eval.count(tmp_path, tmp_path / "alerts.jsonl")
    assert got == {"faults": 2, "named": 1, "wrong_router_alerts": 1, "degradations": 1, "delays_windows": [11.0]}
