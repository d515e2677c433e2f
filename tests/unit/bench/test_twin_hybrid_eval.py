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


def test_one_size_paths_need_every_flow_on_the_path_to_send_one_size() -> None:
    import numpy as np

    from twinwatch.twin.scenario import Flow, Scenario

    sc = Scenario.build(3, [(0, 1, 1e9), (1, 2, 1e9)], {(0, 2): [0, 1, 2], (1, 2): [1, 2]},
                        [Flow(0, 2, 1e8, pkt_size_bits=12000.0), Flow(1, 2, 1e8, pkt_size_bits=12000.0),
                         Flow(1, 2, 1e8, sizes_bits=(512.0, 12000.0), size_probs=(0.5, 0.5), tos=1)])
    single = twin_hybrid_eval.one_size_paths(sc)
    by_pair = {(int(s), int(d)): bool(single[i]) for i, (s, d) in enumerate(zip(sc.path_src, sc.path_dst))}
    assert by_pair == {(0, 2): True, (1, 2): False}
    assert single.dtype == np.bool_


def test_run_splits_jitter_by_the_packet_sizes_of_the_paths_flows(abilene_two_samples: Path) -> None:
    """The pooled jitter MAPE is the path-weighted mean of its one-size and several-size parts."""
    import argparse

    import pytest

    args = argparse.Namespace(data=[str(abilene_two_samples)], models="qt", checkpoint=None, limit=0, threads=1)
    row = twin_hybrid_eval.run(args)["accuracy"]["all"]["qt"]
    n, n1 = row["paths_jitter"], row["paths_jitter_one_size"]
    assert 0 <= n1 <= n and n > 0
    parts = [(n1, row["jitter_mape_one_size"]), (n - n1, row["jitter_mape_several_sizes"])]
    assert row["jitter_mape"] == pytest.approx(sum(k * v for k, v in parts if k) / n, rel=1e-9)
