"""The evaluation harness (twin.evaluate) on hand-made labelled samples."""

from __future__ import annotations

import json

import numpy as np
import pytest

from twinwatch.twin.evaluate import EvalItem, evaluate_samples
from twinwatch.twin.kpis import Labels, Prediction
from twinwatch.twin.scenario import Flow, Scenario


class Fixed:
    """A model that returns given path KPIs."""

    name = "fixed"

    def __init__(self, delay: list[float], jitter: list[float], loss: list[float]) -> None:
        self.values = (np.array(delay), np.array(jitter), np.array(loss))

    def predict(self, scenario: Scenario) -> Prediction:
        p = Prediction.empty(scenario.n_paths, scenario.n_links)
        p.path_delay_s[:], p.path_jitter_s2[:], p.path_loss_ratio[:] = self.values
        return p


def two_paths(n_nodes: int = 3) -> Scenario:
    links = [(0, 1, 1e6), (1, 2, 1e6)]
    return Scenario.build(n_nodes, links, {(0, 1): [0, 1], (0, 2): [0, 1, 2]}, [Flow(0, 1, 1.0), Flow(0, 2, 1.0)])


def labels(delay: list[float], jitter: list[float], loss: list[float]) -> Labels:
    nan = np.full(2, np.nan)
    return Labels(np.array(delay), np.array(jitter), np.array(loss), nan, nan, nan)


def test_mape_only_on_positive_labels_and_buckets() -> None:
    model = Fixed([1.1, 2.0], [0.5, 1.0], [0.1, 0.0])
    items = [
        EvalItem("50/a.tar.gz", 0, two_paths(3), labels([1.0, 0.0], [1.0, 1.0], [0.0, 0.0])),
        EvalItem("75/b.tar.gz", 0, two_paths(4), labels([2.0, 4.0], [0.5, 2.0], [0.1, np.nan])),
    ]
    rep = evaluate_samples(model, items)
    assert list(rep.buckets) == ["3", "4"]
    b3, b4, all_ = rep.buckets["3"], rep.buckets["4"], rep.overall
    assert b3.delay_paths == 1 and b3.delay_mape == pytest.approx(10.0)  # the zero label is left out
    assert b3.jitter_paths == 1 and b3.jitter_mape == pytest.approx(50.0)  # no jitter score without a delay
    assert b4.delay_mape == pytest.approx((45.0 + 50.0) / 2)
    assert b4.loss_paths == 1 and b4.loss_mae == pytest.approx(0.0)
    assert all_.samples == 2 and all_.paths == 4 and all_.delay_paths == 3
    assert all_.delay_mape == pytest.approx((10.0 + 45.0 + 50.0) / 3)
    assert all_.loss_mae == pytest.approx((0.1 + 0.0 + 0.0) / 3)
    assert all_.delay_median_ape == pytest.approx(45.0)
    folder = evaluate_samples(model, items, bucket_by="folder")
    assert list(folder.buckets) == ["50", "75"]
    doc = json.loads(json.dumps(folder.to_dict()))
    assert doc["overall"]["samples"] == 2 and doc["bucket_by"] == "folder"


def test_near_zero_jitter_labels_are_not_scored() -> None:
    """A delay variance below (0.1 % of the mean delay)² has no meaningful relative error."""
    model = Fixed([1.0, 1.0], [0.5, 0.5], [0.0, 0.0])
    rep = evaluate_samples(model, [EvalItem("x", 0, two_paths(), labels([1.0, 1.0], [1.0, 1e-9], [0.0, 0.0]))])
    assert rep.overall.jitter_paths == 1 and rep.overall.jitter_mape == pytest.approx(50.0)


def test_nan_predictions_are_counted_not_scored() -> None:
    model = Fixed([np.nan, 2.0], [1.0, 1.0], [0.0, 0.0])
    rep = evaluate_samples(model, [EvalItem("x", 0, two_paths(), labels([1.0, 2.0], [1.0, 1.0], [0.0, 0.0]))])
    assert rep.overall.nan_predictions == 1 and rep.overall.delay_paths == 1 and rep.overall.delay_mape == 0.0


def test_limit_and_empty() -> None:
    model = Fixed([1.0, 1.0], [1.0, 1.0], [0.0, 0.0])
    item = EvalItem("x", 0, two_paths(), labels([1.0, 1.0], [1.0, 1.0], [0.0, 0.0]))
    assert evaluate_samples(model, [item] * 5, limit=2).overall.samples == 2
    empty = evaluate_samples(model, [])
    assert empty.overall.samples == 0 and empty.to_dict()["overall"]["delay_mape"] is None
    with pytest.raises(ValueError, match="bucket_by"):
        evaluate_samples(model, [], bucket_by="size")
