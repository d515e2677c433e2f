"""BLAS thread limits for the NumPy work beside torch and numba.

NumPy's OpenBLAS starts one thread per core and lets them spin after each
call; next to numba's and torch's own thread pools on a small machine they
take the cores those need (on 2 cores the GNN's forward pass right after a
queueing-theory prior ran 0.23 s instead of 0.16 s, ``BENCHMARKS.md``
"Session 23"). The arrays these calls see (matrix-vector products of a few
columns, Cholesky factors of a few hundred rows) gain nothing from the threads.

>>> with single_blas_thread():
...     import numpy as np
...     float(np.ones((3, 3)) @ np.ones(3) @ np.ones(3))
9.0
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from typing import Any

_CONTROLLER: Any = None


def blas_controller() -> Any:
    """The process' :class:`threadpoolctl.ThreadpoolController` (made once: inspecting the loaded libraries is slow)."""
    global _CONTROLLER
    if _CONTROLLER is None:
        from threadpoolctl import ThreadpoolController

        _CONTROLLER = ThreadpoolController()
    return _CONTROLLER


def blas_threads(limit: int) -> AbstractContextManager[Any]:
    """A context in which the BLAS libraries use at most ``limit`` threads (restored on exit)."""
    return blas_controller().limit(limits=limit, user_api="blas")


def single_blas_thread() -> AbstractContextManager[Any]:
    """:func:`blas_threads` with one thread."""
    return blas_threads(1)
