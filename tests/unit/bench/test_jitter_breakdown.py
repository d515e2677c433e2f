"""bench/jitter_breakdown.py: a model's jitter error by packet-size mix, load, bottleneck policy and hops.

A real two-sample operated-recipe dataset on Abilene; the model scored against itself is exact, qt against the
simulator is not.
"""

from __future__ import annotations

import doctest
import math
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[3] / "bench"
sys.path.insert(0, str(BENCH))

import jitter_breakdown  # noqa: E402


def test_docstring_examples_run() -> None:
    assert doctest.testmod(jitter_breakdown).failed == 0


def test_groups_cover_every_informative_path_once(abilene_two_samples: Path) -> None:
    from twinwatch.twin.models import get_model

    data = abilene_two_samples
    cols = jitter_breakdown.collect(str(data), {"qt": get_model("qt")})
    n = cols["label"].size
    assert n > 0 and all(v.shape == (n,) for v in cols.values())
    assert (cols["hops"] >= 1).all() and (cols["label"] > 0).all()
    rows = jitter_breakdown.breakdown(cols, ["qt"], min_paths=1)
    assert sum(r["paths"] for r in rows) == n  # the groups partition the paths
    for r in rows:
        assert r["sizes"] in ("one", "mixed") and r["policy"] in ("FIFO", "SP", "WFQ", "DRR")
        stats = r["qt"]
        assert all(math.isfinite(v) for v in stats.values()) and stats["mean_ape"] >= 0.0
    cols["exact"] = cols["label"].copy()  # a perfect model: no bias, no error
    exact = jitter_breakdown.breakdown(cols, ["exact"], min_paths=1)
    assert all(r["exact"] == {"median_log_ratio": 0.0, "mean_ape": 0.0, "median_ape": 0.0} for r in exact)
    assert jitter_breakdown.breakdown(cols, ["qt"], min_paths=n + 1) == []
