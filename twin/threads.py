"""Thread limits for the numeric kernels a window's work runs: BLAS (NumPy's) and numba's parallel kernels.

Both start one thread per core and, on a machine whose cores are busy with
other work, their threads wait on each other. With numba on one thread
instead of two, Abilene's windows (twin and detectors) took the same wall
time on an idle 2-core machine (9.3 against 9.1 ms, 9 % less CPU), 16 % less
beside one busy process and 40 % less beside two (16.9 against 28.2 ms);
Cogentco's (1.6 s a window) were no slower (``bench/kernel_threads.py``,
``BENCHMARKS.md`` "Kernel threads"). torch's own pool is set apart
(``torch.set_num_threads``).

>>> import numba
>>> with kernel_threads(1):
...     numba.get_num_threads()
1
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from twinwatch.twin.blas import blas_threads

__all__ = ["kernel_threads"]


@contextmanager
def kernel_threads(limit: int) -> Iterator[None]:
    """A context in which BLAS and numba's parallel kernels use at most ``limit`` threads (restored on exit).

    numba's limit holds for the calling thread only (the service closes windows in a worker thread: the limit is
    taken there) and at most its pool's size (``NUMBA_NUM_THREADS``, the cores by default).
    """
    if limit < 1:
        raise ValueError(f"kernel_threads: limit must be >= 1, got {limit}")
    import numba

    before = numba.get_num_threads()
    with blas_threads(limit):
        numba.set_num_threads(min(limit, numba.config.NUMBA_NUM_THREADS))
        try:
            yield
        finally:
            numba.set_num_threads(before)
