"""Wrong-link pages of session 41's blackhole test, read from the labels and the alerts only.

A wrong-link page: a link ``probe_loss`` alert whose onset lies in a blackhole's matching span
``[start - 1 window, end + 2 windows]`` and whose link is not the blackholed one.

    python bench/notes/detect_eval_s41_scores/wrong_link_pages.py LABELS.jsonl ALERTS.jsonl [--window 10]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("labels")
    ap.add_argument("alerts")
    ap.add_argument("--window", type=float, default=10.0)
    a = ap.parse_args()
    labels = [json.loads(x) for x in Path(a.labels).read_text().splitlines() if x.strip()]
    faults = [lb for lb in labels if not lb["benign"] and lb["kind"] == "grey_loss"]
    firing = {}
    for x in Path(a.alerts).read_text().splitlines():
        if x.strip():
            al = json.loads(x)
            if al["status"] == "firing" and al["entity_kind"] == "link" and al["kpi"] == "probe_loss":
                firing.setdefault(al["id"], al)
    wrong, right = [], 0
    for f in faults:
        lo, hi = f["start"] - a.window, f["end"] + 2 * a.window
        for al in firing.values():
            if lo <= al["start"] <= hi:
                if al["entity_id"] in f["entities"]:
                    right += 1
                else:
                    wrong.append((f["entities"][0], al["entity_id"], al["start"] - f["start"]))
    print(json.dumps({"blackholes": len(faults), "own_link_pages": right, "wrong_link_pages": len(wrong),
                      "wrong": wrong}))


if __name__ == "__main__":
    main()
