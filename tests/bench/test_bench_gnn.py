"""Benchmark: GNN inference on a 200-node GNNet sample (≈ 40,000 paths); target ≤ 1 s on 2 cores.

On a CPU shared with other jobs, one torch thread is much faster than two
(OpenMP threads spin-wait on busy cores); see bench/notes/gnn.md.
"""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.bench


@pytest.fixture(scope="module")
def sample_200(shared_data):  # type: ignore[no-untyped-def]
    from twinwatch.twin.datasets.gnnet import iter_samples

    root = shared_data / "gnnet" / "2022" / "validation" / "200"
    if not root.is_dir():
        pytest.skip(f"needs {root}")
    return next(iter(iter_samples(root)))


@pytest.mark.parametrize("threads", [1, 2])
def test_gnn_predict_200_nodes(benchmark, sample_200, threads: int) -> None:  # type: ignore[no-untyped-def]
    import torch

    from twinwatch.twin.models.gnn import load_gnn

    torch.set_num_threads(threads)
    model = load_gnn(None)
    model.predict(sample_200.scenario)  # warm-up
    pred = benchmark.pedantic(model.predict, args=(sample_200.scenario,), rounds=3, iterations=1)
    benchmark.extra_info["paths"] = sample_200.scenario.n_paths
    benchmark.extra_info["paths_per_s"] = sample_200.scenario.n_paths / benchmark.stats.stats.median
    assert pred.path_delay_s.shape == (sample_200.scenario.n_paths,)


def test_features_200_nodes(benchmark, sample_200) -> None:  # type: ignore[no-untyped-def]
    from twinwatch.twin.features import scenario_graph

    g = benchmark(scenario_graph, sample_200.scenario)
    assert g.n_paths == sample_200.scenario.n_paths
