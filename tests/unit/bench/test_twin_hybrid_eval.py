"""bench/twin_hybrid_eval.py: the rule check the twin's replacement rules gate on (cells above queueing theory).

Imported the way the bench scripts run (``bench/`` on ``sys.path``).
"""

from __future__ import annotations

import doctest
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[3] / "bench"
sys.path.insert(0, str(BENCH))

import twin_hybrid_eval  # noqa: E402
from twin_hybrid_eval import cells_above  # noqa: E402


def test_docstring_examples_run() -> None:
    res = doctest.testmod(twin_hybrid_eval, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert res.attempted >= 1 and res.failed == 0


def test_cells_compare_at_one_tenth_of_a_point_and_skip_the_pooled_row_and_missing_figures() -> None:
    nan = float("nan")
    table = {
        "0-0.3": {"qt": {"delay_mape": 0.028, "queue_mape": 3.01, "jitter_mape": 60.5},
                  "L": {"delay_mape": 0.015, "queue_mape": 3.04, "jitter_mape": 60.6},  # 3.0 vs 3.0: equal
                  "G": {"delay_mape": 0.017, "queue_mape": 1.76, "jitter_mape": nan}},
        ">=0.95": {"qt": {"delay_mape": 0.234, "queue_mape": 6.40, "jitter_mape": 225.9},
                   "L": {"delay_mape": 0.307, "queue_mape": 5.03, "jitter_mape": 33.9},
                   "G": {"delay_mape": 0.221, "queue_mape": 6.36, "jitter_mape": 178.2}},
        "all": {"qt": {"delay_mape": 0.1, "queue_mape": 1.0, "jitter_mape": 1.0},
                "L": {"delay_mape": 9.0, "queue_mape": 9.0, "jitter_mape": 9.0}},
    }
    out = cells_above(table)
    assert out["L"] == [["0-0.3", "jitter_mape", 60.6, 60.5], [">=0.95", "delay_mape", 0.307, 0.234]]
    assert out["G"] == []
    assert cells_above({"0-0.3": {"L": {"delay_mape": 1.0}}}) == {}  # no reference in the band: nothing to count
