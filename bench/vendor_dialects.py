"""The same run in other routers' spellings: its gnmic topic rewritten into a vendor's dialect, replayed, compared.

A testbed run's gnmic events are OpenConfig-spelled (``interface_name`` tag, ``/interfaces/interface/state/
counters/...``, ``oper-status``, ``lag-speed``). This script rewrites that topic event by event into the spellings
other routers' gnmic events carry (:data:`DIALECTS`: Nokia SR OS, Nokia SR Linux, Junos with the collector's paths
trimmed to bare leaves; and ``unknown-key``, a router whose list key no adapter knows, whose interface events must
all become ``missing_interface`` dead letters), changing names only: values, timestamps, order, the malformed lines
and the other topics are kept. Each dialect run is replayed with ``twinwatch replay`` (the service's pipeline, the
shipped twin) and its alerts and dead letters compared with those of its reference: the run as generated, or for a
dialect that carries no port speed (SR Linux reports named port speeds, and a LAG's summed speed is none of them)
the run with the gnmic speed leaf dropped (``openconfig-nospeed``). ``--pythonpath`` replays with another build's
``twinwatch`` instead (the code before a change, through a worktree), so the before/after of an adapter change is
one command each.

The rule this is judged by is in ``bench/notes/vendor_dialects.md`` (written before the runs).

Example::

    .venv/bin/python -m twinwatch.stream.cli simulate telemetry --network bench/notes/networks_s26/renater2006.yaml \\
        --duration 3600s --faults 20 --seed 8201 --report-speed --report-igp-metric --out /tmp/s51/runs/renater
    .venv/bin/python bench/vendor_dialects.py --run /tmp/s51/runs/renater --label after \\
        --out bench/notes/vendor_dialects_after.json
"""

from __future__ import annotations

import argparse
import collections
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from _report import machine_info, write_report  # noqa: E402
from detect_eval import run_twin, score_file  # noqa: E402
from reported_eval import derived_run  # noqa: E402

from twinwatch.twin.netmodel import load_network  # noqa: E402
from twinwatch.twin.testbed.emit import GNMIC_COUNTERS, LAG_SPEED_LEAF  # noqa: E402

OC_COUNTERS = "/interfaces/interface/state/counters/"
OC_STATUS = "/interfaces/interface/state/oper-status"
GNMIC_TOPIC = "twinwatch.raw.gnmic.jsonl"


@dataclass(frozen=True)
class Dialect:
    """How one router family spells what the testbed's gnmic events carry."""

    interface_tag: str  #: gnmic's tag of the list key naming the port
    counter_prefix: str  #: path before a counter leaf ("" for bare leaves)
    counters: dict[str, str]  #: OpenConfig counter leaf → the dialect's leaf
    status: str  #: the port-state leaf (path or bare)
    status_lower: bool  #: ``UP`` / ``DOWN`` written ``up`` / ``down``
    speed: str | None  #: the speed leaf (the same Mb/s number), or None: no speed
    reference: str  #: the run it is compared with: "openconfig" or "openconfig-nospeed"


_SAME = {c: c for c in GNMIC_COUNTERS}
_NOKIA_PKTS = {**_SAME, "in-unicast-pkts": "in-unicast-packets", "out-unicast-pkts": "out-unicast-packets"}
DIALECTS: dict[str, Dialect] = {
    "openconfig-nospeed": Dialect("interface_name", OC_COUNTERS, _SAME, OC_STATUS, False, None, "openconfig"),
    "sros": Dialect("port_port-id", "/state/port/statistics/", _NOKIA_PKTS, "/state/port/oper-state", True,
                    "/state/port/ethernet/oper-speed", "openconfig"),
    "srlinux": Dialect("interface_name", "/srl_nokia-interfaces:interface/statistics/",
                       {**_NOKIA_PKTS, "in-discards": "in-discarded-packets", "out-discards": "out-discarded-packets",
                        "in-errors": "in-error-packets", "out-errors": "out-error-packets"},
                       "/srl_nokia-interfaces:interface/oper-state", True, None, "openconfig-nospeed"),
    "junos": Dialect("interface_name", "", _SAME, "oper-status", True, "high-speed", "openconfig"),
    # a router whose list key no adapter knows: every interface event must be refused (missing_interface), loudly,
    # never booked to the device (not expected to match its reference)
    "unknown-key": Dialect("ifc_ifc-key", OC_COUNTERS, _SAME, OC_STATUS, False, LAG_SPEED_LEAF, "openconfig"),
}  # fmt: skip


def rewrite_event(ev: Any, d: Dialect) -> Any:
    """``ev`` (a decoded gnmic event of the testbed's interface subscription) in dialect ``d``; anything else as is.

    >>> ev = {"name": "twinwatch-testbed", "tags": {"interface_name": "ae0", "source": "r1:57400"},
    ...       "values": {OC_COUNTERS + "in-octets": "5", OC_STATUS: "UP", LAG_SPEED_LEAF: 2500}}
    >>> sros = rewrite_event(ev, DIALECTS["sros"])
    >>> sros["tags"]
    {'port_port-id': 'ae0', 'source': 'r1:57400'}
    >>> list(sros["values"].items())  # doctest: +NORMALIZE_WHITESPACE
    [('/state/port/statistics/in-octets', '5'), ('/state/port/oper-state', 'up'),
     ('/state/port/ethernet/oper-speed', 2500)]
    >>> rewrite_event(ev, DIALECTS["junos"])["values"]
    {'in-octets': '5', 'oper-status': 'up', 'high-speed': 2500}
    """
    if type(ev) is not dict or ev.get("name") != "twinwatch-testbed":
        return ev
    out = dict(ev)
    tags = ev.get("tags")
    if type(tags) is dict:
        out["tags"] = {(d.interface_tag if k == "interface_name" else k): v for k, v in tags.items()}
    values = ev.get("values")
    if type(values) is dict:
        new: dict[str, Any] = {}
        for k, v in values.items():
            if type(k) is str and k.startswith(OC_COUNTERS) and k[len(OC_COUNTERS):] in d.counters:
                new[d.counter_prefix + d.counters[k[len(OC_COUNTERS):]]] = v
            elif k == OC_STATUS:
                new[d.status] = v.lower() if d.status_lower and type(v) is str and v in ("UP", "DOWN") else v
            elif k == LAG_SPEED_LEAF:
                if d.speed is not None:
                    new[d.speed] = v
            else:
                new[k] = v
        out["values"] = new
    return out


def rewrite_topic(data: bytes, d: Dialect) -> tuple[bytes, int]:
    """The gnmic topic ``data`` (JSON lines) in dialect ``d``, and the number of events rewritten; a line that is
    not JSON is kept byte for byte."""
    out, n = [], 0
    for line in data.split(b"\n"):
        if not line:
            continue
        try:
            ev = orjson.loads(line)
        except orjson.JSONDecodeError:
            out.append(line)
            continue
        new = rewrite_event(ev, d)
        if new is ev:
            out.append(line)
        else:
            out.append(orjson.dumps(new))
            n += 1
    return b"\n".join(out) + b"\n", n


def dialect_run(run: Path, name: str) -> tuple[Path, int]:
    """A sibling run directory holding ``run`` with its gnmic topic in dialect ``name`` (made once,
    :func:`reported_eval.derived_run`), and the number of events rewritten."""
    out = run.with_name(f"{run.name}-{name}")

    def topic_bytes(topic: Path) -> bytes:
        if topic.name != GNMIC_TOPIC:
            return topic.read_bytes()
        data, n = rewrite_topic(topic.read_bytes(), DIALECTS[name])
        (out / "rewritten.json").write_bytes(orjson.dumps({"dialect": name, "events_rewritten": n}))
        return data

    derived_run(run, out, topic_bytes)
    return out, int(orjson.loads((out / "rewritten.json").read_bytes())["events_rewritten"])


def dead_letters(path: Path) -> dict[str, int]:
    """Dead letters of a replay, counted per (format, reason)."""
    c: collections.Counter[str] = collections.Counter()
    if path.is_file():
        for line in path.read_bytes().splitlines():
            rec = orjson.loads(line)
            c[f"{rec.get('format')}:{rec.get('reason')}"] += 1
    return dict(sorted(c.items()))


def scored(run: Path, alerts: Path, alpha: float) -> dict[str, Any]:
    """The replay's score over all the run's faults, from the labels and the alerts only."""
    r = score_file(run, alerts, load_network(run / "network.yaml"), alpha)
    o = r.overall
    return {"faults": o.events, "detected": o.detected, "false_positives": o.false_positives,
            "precision": o.precision, "recall": o.recall, "f1": o.f1, "top1": o.top1,
            "detected_by_kind": {k: f"{v.detected}/{v.events}" for k, v in sorted(r.per_kind.items())},
            "benign_with_network_alert": r.benign_with_network_alert}


def replay(run: Path, label: str, alpha: float, pythonpath: str | None) -> dict[str, Any]:
    """Replay ``run`` (alerts and dead letters named by ``label``); its alerts' lines, dead letters and score."""
    dlq = run / f"dlq.{label}.jsonl"
    alerts, tail = run_twin(run, alpha, name=label, extra=("--dlq", str(dlq)), pythonpath=pythonpath)
    lines = alerts.read_bytes().splitlines() if alerts is not None else []
    log = run / f"alerts.{label}.log"
    summary = next((ln for ln in log.read_text().splitlines() if ln.startswith("replayed ")), tail) if alerts else tail
    return {"alerts_file": str(alerts), "alert_lines": len(lines), "summary": summary,
            "dead_letters": dead_letters(dlq), "score": scored(run, alerts, alpha) if alerts else None,
            "_lines": lines}


def decode_rates(runs: dict[str, Path], rounds: int, batch: int = 2000) -> dict[str, Any]:
    """gnmic decode rate of each run's topic (messages per CPU second, median of ``rounds``; the runs alternate
    within a round) and its ratio to the OpenConfig run's in the same rounds. Whatever ``twinwatch`` is imported
    decodes: run the script under ``PYTHONPATH=REF`` to measure a reference build."""
    import time

    import numpy as np

    from twinwatch.telemetry_adapters import DecoderConfig, get_decoder

    msgs = {n: [m for m in (r / "topics" / GNMIC_TOPIC).read_bytes().split(b"\n") if m] for n, r in runs.items()}
    cpu: dict[str, list[float]] = {n: [] for n in runs}
    for k in range(rounds):
        for n in (list(runs) if k % 2 == 0 else list(runs)[::-1]):
            dec = get_decoder("gnmic", DecoderConfig(max_age_s=None, max_future_skew_s=None))
            t = time.process_time()
            for i in range(0, len(msgs[n]), batch):
                dec.decode_batch(msgs[n][i : i + batch])
            cpu[n].append(time.process_time() - t)
    ref = np.array(cpu["openconfig"])
    return {n: {"messages": len(msgs[n]), "msg_per_cpu_s": len(msgs[n]) / float(np.median(c)),
                "ratio_to_openconfig_median": float(np.median(ref / np.array(c)))} for n, c in cpu.items()}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--run", type=Path, required=True, help="a run of `twinwatch simulate telemetry`")
    ap.add_argument("--dialects", nargs="+", default=["sros", "srlinux", "junos"], choices=sorted(DIALECTS))
    ap.add_argument("--label", default="after", help="names the replays' files in each run (alerts.LABEL.jsonl)")
    ap.add_argument("--pythonpath", help="replay with the twinwatch package under this folder (a reference build)")
    ap.add_argument("--alpha", type=float, default=0.01)
    ap.add_argument("--out", type=Path, required=True, help="JSON report")
    ap.add_argument("--decode-rounds", type=int, default=0,
                    help="instead of replaying, measure the gnmic decode rate of each dialect (N rounds)")
    args = ap.parse_args(argv)
    if args.decode_rounds:
        runs_d = {"openconfig": args.run, **{n: dialect_run(args.run, n)[0] for n in args.dialects}}
        rates = decode_rates(runs_d, args.decode_rounds)
        write_report({"run": str(args.run), "label": args.label, "rounds": args.decode_rounds, "decode": rates,
                      "machine": machine_info()}, args.out, echo=False)
        for n, r in rates.items():
            print(f"{n}: {r['msg_per_cpu_s']:,.0f} msg per CPU s ({r['ratio_to_openconfig_median']:.2f}x openconfig)")
        return 0

    runs = {"openconfig": (args.run, 0)}
    for name in sorted({DIALECTS[n].reference for n in args.dialects} - {"openconfig"}) + list(args.dialects):
        runs[name] = dialect_run(args.run, name)
    results: dict[str, Any] = {}
    for name, (run, n) in runs.items():
        results[name] = {"events_rewritten": n, **replay(run, args.label, args.alpha, args.pythonpath)}
        sc = results[name]["score"] or {}
        print(f"{name}: {results[name]['summary']}; F1 {sc.get('f1', float('nan')):.3f} "
              f"({sc.get('detected')} of {sc.get('faults')} faults, {sc.get('false_positives')} false positives) "
              f"{sc.get('detected_by_kind')}", file=sys.stderr)
    for name in args.dialects:
        ref = results[DIALECTS[name].reference]
        r = results[name]
        r["reference"] = DIALECTS[name].reference
        r["alerts_identical"] = r["_lines"] == ref["_lines"]
        r["dead_letters_identical"] = r["dead_letters"] == ref["dead_letters"]
        mine, theirs = collections.Counter(r["_lines"]), collections.Counter(ref["_lines"])
        r["alert_lines_only_here"] = sum((mine - theirs).values())
        r["alert_lines_only_in_reference"] = sum((theirs - mine).values())
    for r in results.values():
        del r["_lines"]
    report = {"run": str(args.run), "label": args.label, "pythonpath": args.pythonpath, "alpha": args.alpha,
              "dialects": {n: DIALECTS[n].__dict__ for n in runs if n in DIALECTS}, "results": results,
              "machine": machine_info()}
    write_report(report, args.out, echo=False)
    for name in args.dialects:
        r = results[name]
        print(f"{name} vs {r['reference']}: alerts identical {r['alerts_identical']} "
              f"(+{r['alert_lines_only_here']} / -{r['alert_lines_only_in_reference']} lines), dead letters "
              f"identical {r['dead_letters_identical']}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
