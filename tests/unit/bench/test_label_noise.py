"""bench/label_noise.py: the label-noise floor under the twin's measured errors (issue 15).

A real two-sample operated-recipe dataset on the shipped Abilene model, re-simulated with another seed.
"""

from __future__ import annotations

import doctest
import math
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[3] / "bench"
sys.path.insert(0, str(BENCH))

import label_noise  # noqa: E402


def test_docstring_examples_run() -> None:
    res = doctest.testmod(label_noise)
    assert res.attempted >= 2 and res.failed == 0


def test_resimulated_labels_differ_by_a_finite_noise_and_models_are_scored(abilene_two_samples: Path) -> None:
    data = abilene_two_samples
    rep = label_noise.run(data, per_band=1, model_names=["qt"], packets_factor=2.0)
    assert rep["packets_factor"] == 2.0
    assert 1 <= sum(b["samples"] for b in rep["bands"].values()) <= 2
    for band in rep["bands"].values():
        ll = band["label_vs_label_queue"]
        assert ll is not None and 0.0 < ll < 100.0  # another seed: other packets, a different but close label
        assert band["qt_queue"] is not None and math.isfinite(band["qt_queue"])
        assert band["qt_queue_vs_resim"] is not None and math.isfinite(band["qt_queue_vs_resim"])
        if band["label_vs_label_jitter"] is not None:
            assert math.isclose(band["floor_jitter"], band["label_vs_label_jitter"] / math.sqrt(2.0))
        # the signed figures: one median log ratio per comparison, finite where the band has jitter paths
        logs = band["jitter_median_log_ratio"]
        assert set(logs) == {"resim_vs_label", "qt_vs_label", "qt_vs_resim"}
        if band["label_vs_label_jitter"] is not None:
            assert all(v is not None and math.isfinite(v) for v in logs.values())
            assert abs(logs["resim_vs_label"]) < 2.0  # another seed's label: the same KPI, not another scale
        # the jitter figures again, apart for one-size and several-size paths; together they are the band's paths
        kinds = band["jitter_by_size_kind"]
        assert set(kinds) == set(label_noise.SIZE_KINDS)
        if band["label_vs_label_jitter"] is not None:
            assert sum(k["paths"] for k in kinds.values()) > 0
        for k in kinds.values():
            assert (k["label_vs_label_jitter"] is None) == (k["paths"] == 0)
