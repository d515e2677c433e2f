"""Well-formed but extreme telemetry messages, for fuzzing the whole pipeline (``tests/fuzz/test_fuzz_pipeline.py``,
``bench/fuzz_pipeline.py``).

The decoder fuzzers (:mod:`tests.fuzz._decoder_mutations`) break messages so the decoders must refuse them; these
keep them valid, so they reach the windows, the twin and the detector: gnmic counters at zero or at 2⁶⁴ − 1,
scaled ×0.5 / ×2 / ×1000, duplicated messages, unknown interfaces and devices; probe results with nothing sent,
more received than sent, every packet lost, delays of 0 or 10⁶ s, huge jitter, a probe whose two ends are the
same router; goflow2 flow records (the traffic matrix's input) with 0 or 2⁶³ − 1 bytes or packets, a sampling
rate of 0, 1 or 2³² − 1, unknown addresses or sampler, a flow to itself, no duration, duplicates; Telegraf SNMP
line protocol (influx) with counters at 0, 2³² − 1 or 2⁶³ − 1 or scaled, an interface reported down, unknown
devices or interfaces, duplicates; and, optionally, samples shifted far into the past or the future (a device
clock gone wrong).
Driven by a seeded ``random.Random``: a seed replays the same mutations.
"""

from __future__ import annotations

import json
import random
from collections import Counter
from collections.abc import Callable, Collection
from typing import Any

__all__ = ["MUTATORS", "mutate"]


def _gnmic(d: dict[str, Any], rnd: random.Random, kinds: Counter, timestamps: bool) -> list[dict[str, Any]]:
    vals = d["values"]
    keys = list(vals)
    r = rnd.random()
    if r < 0.2 and keys:
        vals[rnd.choice(keys)] = "0"
        kinds["gnmic counter 0"] += 1
    elif r < 0.35 and keys:
        vals[rnd.choice(keys)] = str(2**64 - 1)
        kinds["gnmic counter 2^64-1"] += 1
    elif r < 0.5 and timestamps:
        d["timestamp"] += rnd.choice([-1, 1]) * rnd.choice([10**9, 10**11, 10**13])
        kinds["gnmic timestamp shifted"] += 1
    elif r < 0.6:
        d["tags"]["interface_name"] = "xe-9/9/9"
        kinds["gnmic unknown interface"] += 1
    elif r < 0.7:
        d["tags"]["source"] = "nosuchdevice:57400"
        kinds["gnmic unknown device"] += 1
    elif r < 0.85 and keys:
        k = rnd.choice(keys)
        if str(vals[k]).isdigit():
            vals[k] = str(int(int(vals[k]) * rnd.choice([0.5, 2, 1000])))
        kinds["gnmic counter scaled"] += 1
    else:
        kinds["gnmic duplicated"] += 1
        return [d, d]
    return [d]


def _probe(d: dict[str, Any], rnd: random.Random, kinds: Counter, timestamps: bool) -> list[dict[str, Any]]:
    r = rnd.random()
    if r < 0.15:
        d["sent"], d["received"] = 0, 0
        kinds["probe nothing sent"] += 1
    elif r < 0.3:
        d["received"] = d["sent"] + 5
        kinds["probe received > sent"] += 1
    elif r < 0.45:
        d["delay_s"] = rnd.choice([0.0, 1e-12, 50.0, 1e6])
        kinds["probe extreme delay"] += 1
    elif r < 0.6:
        d["loss_ratio"], d["received"] = 1.0, 0
        kinds["probe every packet lost"] += 1
    elif r < 0.7:
        d["jitter_s2"] = rnd.choice([0.0, 1e6])
        kinds["probe extreme jitter"] += 1
    elif r < 0.8 and timestamps:
        d["ts"] += rnd.choice([-1e4, 1e3, 1e6])
        kinds["probe timestamp shifted"] += 1
    elif r < 0.9:
        d["dst"] = d["src"]
        kinds["probe to itself"] += 1
    else:
        d["src"] = "nosuchdevice"
        kinds["probe unknown device"] += 1
    return [d]


def _goflow2(d: dict[str, Any], rnd: random.Random, kinds: Counter, timestamps: bool) -> list[dict[str, Any]]:
    r = rnd.random()
    if r < 0.15:
        d["bytes"] = rnd.choice([0, 2**63 - 1, 10**15])
        kinds["flow extreme bytes"] += 1
    elif r < 0.3:
        d["sampling_rate"] = rnd.choice([0, 1, 2**32 - 1])
        kinds["flow extreme sampling rate"] += 1
    elif r < 0.45:
        d["packets"] = rnd.choice([0, 2**63 - 1])
        kinds["flow extreme packets"] += 1
    elif r < 0.55:
        d["src_addr"], d["dst_addr"] = "203.0.113.9", "198.51.100.7"
        kinds["flow unknown addresses"] += 1
    elif r < 0.65:
        d["dst_addr"] = d["src_addr"]
        kinds["flow to itself"] += 1
    elif r < 0.75:
        d["sampler_address"] = "192.0.2.99"
        kinds["flow unknown sampler"] += 1
    elif r < 0.85 and timestamps:
        shift = rnd.choice([-1, 1]) * rnd.choice([10**9, 10**11, 10**13])
        d["time_flow_end_ns"] += shift
        d["time_received_ns"] += shift
        kinds["flow end shifted"] += 1
    elif r < 0.92:
        d["time_flow_start_ns"] = d["time_flow_end_ns"]
        kinds["flow of no duration"] += 1
    else:
        kinds["flow duplicated"] += 1
        return [d, d]
    return [d]


def _influx(line: str, rnd: random.Random, kinds: Counter, timestamps: bool) -> list[str]:
    """Telegraf's SNMP line protocol: ``interface,agent_host=R,ifName=I field=1i,... <epoch ns>``."""
    head, fields, ts = line.rsplit(" ", 2)
    pairs = [f.split("=", 1) for f in fields.split(",")]
    ints = [i for i, (_, v) in enumerate(pairs) if v.endswith("i") and v[:-1].isdigit()]
    r = rnd.random()
    if r < 0.2 and ints:
        pairs[rnd.choice(ints)][1] = "0i"
        kinds["influx counter 0"] += 1
    elif r < 0.35 and ints:
        pairs[rnd.choice(ints)][1] = rnd.choice(["4294967295i", "9223372036854775807i"])
        kinds["influx counter 2^32-1 / 2^63-1"] += 1
    elif r < 0.5 and ints:
        i = rnd.choice(ints)
        pairs[i][1] = f"{int(int(pairs[i][1][:-1]) * rnd.choice([0.5, 2, 1000]))}i"
        kinds["influx counter scaled"] += 1
    elif r < 0.6:
        status = [i for i, (k, _) in enumerate(pairs) if k == "ifOperStatus"]
        if status:
            pairs[status[0]][1] = "2i"
        kinds["influx interface down"] += 1
    elif r < 0.7 and timestamps:
        ts = str(int(ts) + rnd.choice([-1, 1]) * rnd.choice([10**9, 10**11, 10**13]))
        kinds["influx timestamp shifted"] += 1
    elif r < 0.8:
        head = head.replace("agent_host=", "agent_host=nosuchdevice", 1)
        kinds["influx unknown device"] += 1
    elif r < 0.9:
        head = head.replace("ifName=", "ifName=9", 1)
        kinds["influx unknown interface"] += 1
    else:
        kinds["influx duplicated"] += 1
        return [line, line]
    return [f"{head} {','.join(f'{k}={v}' for k, v in pairs)} {ts}"]


def _json(mut: Callable[[dict[str, Any], random.Random, Counter, bool], list[dict[str, Any]]]) -> Callable[
        [bytes, random.Random, Counter, bool], list[bytes]]:
    """A mutator of decoded JSON messages as one of raw messages."""
    return lambda m, rnd, kinds, ts: [json.dumps(x).encode() for x in mut(json.loads(m), rnd, kinds, ts)]


def _text(mut: Callable[[str, random.Random, Counter, bool], list[str]]) -> Callable[
        [bytes, random.Random, Counter, bool], list[bytes]]:
    """A mutator of text lines as one of raw messages."""
    return lambda m, rnd, kinds, ts: [x.encode() for x in mut(m.decode(), rnd, kinds, ts)]


MUTATORS: dict[str, Callable[[bytes, random.Random, Counter, bool], list[bytes]]] = {
    "gnmic": _json(_gnmic), "probe": _json(_probe), "goflow2": _json(_goflow2), "influx": _text(_influx)}
"""Per collector format: raw message → the messages that replace it."""


def mutate(streams: dict[str, list[bytes]], rnd: random.Random, fraction: float, timestamps: bool,
           kinds: Counter, formats: Collection[str] | None = None) -> dict[str, list[bytes]]:
    """A copy of ``streams`` with ``fraction`` of the messages of the mutated ``formats`` (default: every one
    :data:`MUTATORS` has) rewritten.

    The formats are visited in the order of ``streams``; influx last of all, so that adding its mutations kept the
    gnmic, probe and flow mutations a seed drew before (the runs recorded in ``bench/notes/fuzz_pipeline/``)."""
    out = {}
    for fmt in sorted(streams, key=lambda f: f == "influx"):
        msgs = streams[fmt]
        mut = MUTATORS.get(fmt) if formats is None or fmt in formats else None
        if mut is None:
            out[fmt] = msgs
            continue
        new: list[bytes] = []
        for m in msgs:
            if rnd.random() >= fraction:
                new.append(m)
                continue
            try:
                new += mut(m, rnd, kinds, timestamps)
            except (ValueError, KeyError, TypeError, AttributeError, IndexError, UnicodeDecodeError):
                new.append(m)  # one of the capture's own malformed messages: left as it is
        out[fmt] = new
    return out
