"""BLAS thread limits (twinwatch.twin.blas)."""

from __future__ import annotations

import numpy as np

from twinwatch.twin.blas import blas_controller, blas_threads, single_blas_thread


def _blas_threads() -> list[int]:
    return [lib["num_threads"] for lib in blas_controller().select(user_api="blas").info()]


def test_numpy_blas_is_found_and_held_to_one_thread_then_restored() -> None:
    np.ones((2, 2)) @ np.ones(2)  # NumPy's BLAS is loaded
    before = _blas_threads()
    assert before, "threadpoolctl finds NumPy's BLAS"
    with single_blas_thread():
        assert _blas_threads() == [1] * len(before)
        with blas_threads(2):  # nested limits restore the enclosing one
            assert _blas_threads() == [2] * len(before)
        assert _blas_threads() == [1] * len(before)
    assert _blas_threads() == before
