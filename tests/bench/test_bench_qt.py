"""Benchmark: queueing-theory baseline predict time per sample.

Run: ``.venv/bin/pytest -m bench --benchmark-enable tests/bench/test_bench_qt.py``
"""

from __future__ import annotations

import itertools
from typing import Any

import pytest

from tests.conftest import shared_data_path
from twinwatch.twin.data import bundled_scenario_path
from twinwatch.twin.datasets.scenario_yaml import load_scenario_yaml
from twinwatch.twin.models.qt import QueueingModel

pytestmark = pytest.mark.bench


def _first_sample(*parts: str) -> Any:
    from twinwatch.twin.datasets.gnnet import iter_samples

    return next(itertools.islice(iter_samples(shared_data_path(*parts)), 1))


def test_bench_qt_nsfnet(benchmark: pytest.FixtureRequest) -> None:
    sc = load_scenario_yaml(bundled_scenario_path())
    pred = benchmark(QueueingModel().predict, sc)
    assert pred.path_delay_s.shape == (sc.n_paths,)


@pytest.mark.parametrize(
    "parts",
    [("gnnet", "2020", "validation"), ("gnnet", "2021", "validation"), ("gnnet", "2022", "validation", "200")],
    ids=["2020-17n", "2021-30n", "2022-200n"],
)
def test_bench_qt_gnnet(benchmark: pytest.FixtureRequest, parts: tuple[str, ...]) -> None:
    sample = _first_sample(*parts)
    model = QueueingModel()
    pred = benchmark(model.predict, sample.scenario)
    benchmark.extra_info.update(
        n_nodes=sample.scenario.n_nodes, n_paths=sample.scenario.n_paths, iterations=model.last_iterations
    )
    assert pred.path_delay_s.shape == (sample.scenario.n_paths,)
