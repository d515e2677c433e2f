"""Re-simulate two GNNet samples and compare with their OMNeT++ labels.

A small subset of the full measurement (``bench/validate_sim_gnnet.py``,
figures in ``bench/notes/sim.md``): one 30-node FIFO sample of 2021 and one
50-node mixed-scheduling sample of 2022 (buffers in bits, Poisson/CBR/ON-OFF
traffic, FIFO/SP/WFQ/DRR), 2 million packets each.
"""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pytest

from twinwatch.twin.datasets.gnnet import Sample, iter_samples
from twinwatch.twin.sim import SimConfig, simulate

pytestmark = [pytest.mark.shared, pytest.mark.slow]


def _sample(root: Path, index: int) -> Sample:
    return next(itertools.islice(iter_samples(root), index, None))


@pytest.mark.parametrize(
    ("folder", "index", "max_mape"),
    [("gnnet/2021/validation", 0, 0.04), ("gnnet/2022/validation/50", 1, 0.05)],
)
def test_resimulated_delays_match_omnet_labels(shared_data: Path, folder: str, index: int, max_mape: float) -> None:
    root = shared_data / folder
    if not root.exists():
        pytest.skip(f"needs {root} (shared GNNet data)")
    s = _sample(root, index)
    res = simulate(s.scenario, SimConfig(seed=1, target_rse=0.0, min_packets=2_000_000, max_packets=2_000_000))
    lab = s.labels
    rel = res.labels.path_delay_s / lab.path_delay_s - 1
    assert np.all(np.isfinite(rel))
    assert np.median(np.abs(rel)) <= 0.03
    assert np.mean(np.abs(rel)) <= max_mape
    assert abs(np.median(rel)) <= 0.015  # no systematic bias
    jit = res.labels.path_jitter_s2 / lab.path_jitter_s2 - 1
    assert np.median(np.abs(jit)) <= 0.12
    util = res.labels.link_utilization / lab.link_utilization - 1
    assert np.nanmedian(np.abs(util)) <= 0.02
