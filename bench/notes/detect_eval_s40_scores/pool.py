"""Pool the session-40 `twinwatch score --truth` JSON per tree (faults the telemetry measures).

Usage: python bench/notes/detect_eval_s40_scores/pool.py [DIR]  (reads DIR's *.score.{ref,cand}.json, default the
folder of this file: the first test; `bench/notes/detect_eval_s40b_scores` holds the second. The fault-free hours have
no labels to score: no alert under either tree in either test, counted from the replays)
"""
import glob
import json
import sys
from pathlib import Path

import numpy as np

HERE = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).parent


def pool(files: list[str]) -> str:
    tp = ev = fp = b = nb = gev = gdet = 0
    gd: list[float] = []
    g1: list[bool] = []
    g3: list[bool] = []
    for f in files:
        d = json.loads(Path(f).read_text())
        o = d["observable"]["overall"]
        tp, ev, fp = tp + o["detected"], ev + o["events"], fp + o["false_positives"]
        b, nb = b + d["benign_with_network_alert"], nb + d["benign_events"]
        k = d["observable"]["per_kind"].get("grey_loss")
        if k:
            gd += k["delays_windows"]
            g1 += k["hits_top1"]
            g3 += k["hits_top3"]
            gev, gdet = gev + k["events"], gdet + k["detected"]
    p, r = tp / max(tp + fp, 1), tp / max(ev, 1)
    f1 = 2 * p * r / (p + r) if p + r else 0.0
    return (f"({len(files)} runs) F1 {f1:.3f} P {p:.2f} R {r:.2f} | found {tp}/{ev} FP {fp} | benign {b}/{nb} | "
            f"grey {gdet}/{gev} delay mean {np.mean(gd):.2f} median {np.median(gd):.1f} "
            f"top1 {np.mean(g1):.2f} top3 {np.mean(g3):.2f}")


seeds = sorted({f.name.removesuffix(".score.ref.json").rsplit("-s", 1)[1] for f in HERE.glob("*.score.ref.json")})
for group, pat in (("all", "*"), *((f"seed {s}", f"*-s{s}") for s in seeds)):
    for tree in ("ref", "cand"):
        print(f"{group:10s} {tree:4s} {pool(sorted(glob.glob(str(HERE / f'{pat}.score.{tree}.json'))))}")
for net in sorted({f.name.split("-")[0] for f in HERE.glob("*.score.ref.json")}):
    for tree in ("ref", "cand"):
        print(f"{net:11s} {tree:4s} {pool(sorted(glob.glob(str(HERE / f'{net}-*.score.{tree}.json'))))}")
