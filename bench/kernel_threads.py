"""The pipeline's window work with its numeric kernels (BLAS, numba) on one thread or one per core, idle and busy.

Replays a run's gnmic messages through :class:`twinwatch.stream.pipeline.Pipeline` (the twin and the
detectors: every window closed) with BLAS and numba each on one thread or one per core (``blas1-numba1``:
``Pipeline(threads=1)``, the default since session 44; ``blas1-numbaN``: the default before, BLAS held to one
thread and numba left at its pool; ``blasN-numbaN``: ``threads=<cores>``), alternately ``--repeat`` times,
first on an otherwise idle machine, then beside ``--busy`` processes that each spin on a core (a shared host:
the worker is not alone). Reports the median wall and CPU time (all the process' threads) per closed window.
torch one thread throughout (``twin.threads`` sets both).

    .venv/bin/python bench/kernel_threads.py --run RUN --messages 3000 --busy 1 --out OUT.json
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import statistics
import sys
import time
from pathlib import Path
from typing import Any

from _report import machine_info, write_report


def _spin(stop: Any) -> None:
    """Keep one core busy until ``stop`` is set."""
    while not stop.is_set():
        sum(range(10_000))


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--run", type=Path, required=True, help="testbed run folder (topics/, network.yaml)")
    ap.add_argument("--messages", type=int, default=3000, help="gnmic messages replayed per measurement")
    ap.add_argument("--batch", type=int, default=500, help="messages per process() call")
    ap.add_argument("--repeat", type=int, default=3, help="alternations per setting (median reported)")
    ap.add_argument("--busy", type=int, default=1, help="spinning processes beside the busy measurements")
    ap.add_argument("--model", default="gnn")
    ap.add_argument("--out", type=Path, default=Path("bench/notes/kernel_threads.json"))
    args = ap.parse_args(argv)

    import numba
    import torch

    torch.set_num_threads(1)
    from twinwatch.stream.capture import JsonlCapture
    from twinwatch.stream.pipeline import Pipeline
    from twinwatch.twin.blas import blas_threads
    from twinwatch.twin.models import get_model
    from twinwatch.twin.netmodel import load_network

    msgs = JsonlCapture(args.run / "topics" / "twinwatch.raw.gnmic.jsonl")[: args.messages]
    model = load_network(str(args.run / "network.yaml"))
    twin = get_model(args.model)
    cores = numba.config.NUMBA_NUM_THREADS
    warm = Pipeline([model], twin, max_age_s=None, threads=cores)
    warm.process(msgs[:300], "gnmic")
    warm.flush()

    def once(blas: int, kernels: int) -> tuple[float, float, int]:
        """(wall s, CPU s, windows closed) of one replay of the messages with BLAS and numba on those threads."""
        pipe = Pipeline([model], twin, max_age_s=None, threads=None)  # the limits are taken here instead
        # the warm builder: routing and tomogravity's plan are made once per routing in a long-running worker
        pipe.networks[model.name].builder = warm.networks[model.name].builder
        windows = 0
        before = numba.get_num_threads()
        with blas_threads(blas):
            numba.set_num_threads(kernels)
            t, c = time.perf_counter(), time.process_time()
            for i in range(0, len(msgs), args.batch):
                windows += sum(1 for w in pipe.process(msgs[i:i + args.batch], "gnmic").windows if w.rows)
            windows += sum(1 for w in pipe.flush().windows if w.rows)
            t, c = time.perf_counter() - t, time.process_time() - c
            numba.set_num_threads(before)
        return t, c, windows

    once(1, 1)  # warm-up, not counted: the first replay compiles and caches what a long-running worker has already
    settings = {"blas1-numba1": (1, 1), "blas1-numbaN": (1, cores), "blasN-numbaN": (cores, cores)}
    results: dict[str, Any] = {}
    for load in ("idle", "busy"):
        stop = mp.Event()
        n_spin = args.busy if load == "busy" else 0
        spinners = [mp.Process(target=_spin, args=(stop,), daemon=True) for _ in range(n_spin)]
        for p in spinners:
            p.start()
        runs: dict[str, list[tuple[float, float, int]]] = {name: [] for name in settings}
        for _ in range(args.repeat):
            for name, (blas, kernels) in settings.items():
                runs[name].append(once(blas, kernels))
        stop.set()
        for p in spinners:
            p.join()
        results[load] = {
            name: {"wall_ms_per_window": round(statistics.median(1e3 * w / k for w, _, k in r), 3),
                     "cpu_ms_per_window": round(statistics.median(1e3 * c / k for _, c, k in r), 3),
                     "windows": r[0][2]}
            for name, r in runs.items()}
        print(load, json.dumps(results[load]), file=sys.stderr)
    doc = {"command": "bench/kernel_threads.py " + " ".join(argv if argv is not None else sys.argv[1:]),
           "when_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
           "numba_threading_layer": numba.threading_layer(), "network": model.name, "messages": len(msgs),
           "busy_processes": args.busy, "results": results, "machine": machine_info()}
    write_report(doc, args.out, indent=2)


if __name__ == "__main__":
    main()
