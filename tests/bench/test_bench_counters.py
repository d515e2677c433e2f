"""Benchmarks of the counters engine: samples/s of ``CounterState.update`` and ``normalize``, bytes per interface.

Workload: 1,000,000 samples over 10,000 interfaces (1,000 devices × 10
interfaces), 10 counter fields per interface (octets, packets, unicast,
multicast, discards, errors; rx and tx), 10 timestamps 10 s apart; rows grouped
per (device, interface, timestamp) as decoders emit them. The state is primed
with the previous interval first, so every measured row yields a rate.

Run as benchmarks: ``pytest -m bench --benchmark-enable tests/bench/test_bench_counters.py``;
or as a script that prints JSON: ``python tests/bench/test_bench_counters.py``.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import time
import tracemalloc

import numpy as np
import pytest

from twinwatch.telemetry_adapters.counters import CounterState
from twinwatch.telemetry_adapters.inventory import Inventory
from twinwatch.telemetry_adapters.normalize import normalize
from twinwatch.telemetry_adapters.schema import Kind, SampleBatch

FIELDS = ("rx_octets", "tx_octets", "rx_pkts", "tx_pkts", "rx_unicast_pkts", "tx_unicast_pkts",
          "rx_discards", "tx_discards", "rx_errors", "tx_errors")  # fmt: skip
T0 = 1_700_000_000 * 10**9


def make_batch(n_dev: int = 1000, n_ifc: int = 10, n_ts: int = 10, t_start: int = 1, *, shuffle: bool = False,
               seed: int = 0) -> SampleBatch:  # fmt: skip
    """``n_dev * n_ifc * len(FIELDS) * n_ts`` samples, grouped per (device, interface, ts)."""
    nf = len(FIELDS)
    devs = np.array([f"r{d}" for d in range(n_dev)], dtype=object)
    ifcs = np.array([f"Ethernet1/{i + 1}" for i in range(n_ifc)], dtype=object)
    fields = np.array(FIELDS, dtype=object)
    t = np.arange(t_start, t_start + n_ts)
    # row order: ts, device, interface, field
    grid = np.meshgrid(t, np.arange(n_dev), np.arange(n_ifc), np.arange(nf), indexing="ij")
    ti, di, ii, fi = (a.ravel() for a in grid)
    n = ti.shape[0]
    ts = T0 + ti.astype(np.int64) * 10 * 10**9
    per_s = (1 + (di * n_ifc + ii) % 97).astype(np.uint64) * np.uint64(125_000) // np.uint64(1 + fi)
    value = per_s * (ti.astype(np.uint64) * np.uint64(10))
    order = np.random.default_rng(seed).permutation(n) if shuffle else np.arange(n)
    return SampleBatch(
        device=devs[di][order], interface=ifcs[ii][order], field=fields[fi][order], ts_ns=ts[order],
        value_u64=value[order], value_f64=value[order].astype(np.float64),
        kind=np.full(n, Kind.COUNTER64, dtype=np.uint8), epoch_ns=np.zeros(n, dtype=np.int64),
        has_epoch=np.zeros(n, dtype=bool), source=np.full(n, "bench", dtype=object),
        network=np.full(n, "lab", dtype=object),
    )  # fmt: skip


def primed_state(n_dev: int = 1000, n_ifc: int = 10, inv: Inventory | None = None) -> CounterState:
    """A state that has seen the interval before the measured batch (through ``normalize`` when ``inv``)."""
    state = CounterState(capacity=2 * n_dev * n_ifc * len(FIELDS))
    prime = make_batch(n_dev, n_ifc, 1, t_start=0)
    if inv is None:
        state.update(prime)
    else:
        normalize(prime, state, inv)
    return state


def inventory(n_dev: int = 1000, n_ifc: int = 10) -> Inventory:
    """Every interface is the egress of one link and the ingress of another (a ring per port number)."""
    links = [{"id": f"r{d}:{i}", "src": f"r{d}", "dst": f"r{(d + 1) % n_dev}", "capacity_bps": 1e11,
              "src_interface": f"Ethernet1/{i + 1}", "dst_interface": f"Ethernet1/{i + 1}"}
             for d in range(n_dev) for i in range(n_ifc)]  # fmt: skip
    return Inventory.from_dict({"links": links})


def memory_per_interface(n_dev: int = 1000, n_ifc: int = 10) -> dict[str, float]:
    """Python-heap bytes per tracked interface (10 counters each), measured with tracemalloc."""
    batch = make_batch(n_dev, n_ifc, 1, t_start=0)
    CounterState().update(make_batch(2, 2, 2))  # load the compiled kernels outside the measurement
    gc.collect()
    tracemalloc.start()
    base = tracemalloc.get_traced_memory()[0]
    state = CounterState(capacity=16)  # grows by doubling, as in service
    state.update(batch)
    del batch
    gc.collect()
    used = tracemalloc.get_traced_memory()[0] - base
    tracemalloc.stop()
    n_if = n_dev * n_ifc
    return {
        "interfaces": n_if,
        "counters": len(state),
        "bytes_per_interface": used / n_if,
        "bytes_per_counter": used / len(state),
        "estimate_bytes_per_interface": state.memory_bytes() / n_if,
    }


def _best_of(fn, repeat: int, inv: Inventory | None = None) -> dict[str, float]:
    """Best wall and CPU time of ``fn(state)`` over ``repeat`` runs, each on a freshly primed state."""
    wall = cpu = float("inf")
    for _ in range(repeat):
        state = primed_state(inv=inv)
        t, c = time.perf_counter(), time.process_time()
        fn(state)
        wall = min(wall, time.perf_counter() - t)
        cpu = min(cpu, time.process_time() - c)
    return {"wall_s": wall, "cpu_s": cpu}


def run(repeat: int = 3) -> dict[str, object]:
    batch = make_batch()
    shuffled = make_batch(shuffle=True)
    inv = inventory()
    out: dict[str, object] = {"samples": len(batch), "interfaces": 10_000, "machine": platform.processor() or
                              platform.machine(), "python": platform.python_version()}  # fmt: skip
    primed_state().update(make_batch(10, 10, 2))  # JIT warm-up
    normalize(make_batch(10, 10, 2), CounterState(), inv)
    cases = {
        "update_grouped": (lambda s: s.update(batch), None),
        "update_shuffled": (lambda s: s.update(shuffled), None),
        "normalize_grouped_with_inventory": (lambda s: normalize(batch, s, inv), inv),
        "normalize_shuffled_with_inventory": (lambda s: normalize(shuffled, s, inv), inv),
        "normalize_grouped_no_inventory": (lambda s: normalize(batch, s), None),
    }
    chunks = [batch.take(np.arange(i, min(i + 10_000, len(batch)))) for i in range(0, len(batch), 10_000)]
    cases["normalize_grouped_with_inventory_10k_batches"] = (lambda s: [normalize(c, s, inv) for c in chunks], inv)
    for name, (fn, prime_inv) in cases.items():
        t = _best_of(fn, repeat, prime_inv)
        out[name] = t | {"samples_per_s_wall": len(batch) / t["wall_s"], "samples_per_s_cpu": len(batch) / t["cpu_s"]}
    out["load_average_1m"] = os.getloadavg()[0]
    out["memory"] = memory_per_interface()
    return out


@pytest.mark.bench
def test_bench_update_1m(benchmark) -> None:
    batch = make_batch()
    res = benchmark.pedantic(lambda s: s.update(batch), setup=lambda: ((primed_state(),), {}), rounds=3)
    assert res.counts()["rate"] == len(batch)


@pytest.mark.bench
def test_bench_normalize_1m(benchmark) -> None:
    batch = make_batch()
    inv = inventory()
    res = benchmark.pedantic(lambda s: normalize(batch, s, inv), setup=lambda: ((primed_state(inv=inv),), {}),
                             rounds=3)  # fmt: skip
    assert res.stats["rate"] == len(batch)


@pytest.mark.bench
def test_bench_memory_per_interface() -> None:
    m = memory_per_interface()
    assert m["bytes_per_interface"] < 2000


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=3)
    print(json.dumps(run(ap.parse_args().repeat), indent=1))
