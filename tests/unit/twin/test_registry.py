"""The model registry (twin.models)."""

from __future__ import annotations

import numpy as np
import pytest

import twinwatch.twin.models as registry
from twinwatch.twin.kpis import Prediction
from twinwatch.twin.models import KPIModel, get_model, predict_many
from twinwatch.twin.scenario import Flow, Scenario


def test_unknown_name_lists_known_models() -> None:
    with pytest.raises(ValueError, match=r"unknown model 'foo'; known models: gnn, mlp, qt, qt-packet, sim"):
        get_model("foo")


def test_names_are_case_insensitive() -> None:
    assert get_model(" QT ").name == "qt"


def test_missing_module_names_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(registry.MODELS, "ghost", "twinwatch.twin.models.no_such_module:make")
    with pytest.raises(ImportError, match=r"model 'ghost' needs module 'twinwatch.twin.models.no_such_module'"):
        get_model("ghost")
    monkeypatch.setitem(registry.MODELS, "noattr", "twinwatch.twin.models.qt:NoSuchFactory")
    with pytest.raises(ImportError, match=r"has no 'NoSuchFactory'"):
        get_model("noattr")


def test_default_falls_back_to_qt_with_warning(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(registry.MODELS, "gnn", "twinwatch.twin.models.no_such_gnn:load_gnn")
    with pytest.warns(RuntimeWarning, match=r"default model: using 'qt' because gnn: "):
        model = get_model(None)
    assert model.name == "qt"


def test_default_with_checkpoint_means_gnn(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(registry.MODELS, "gnn", "twinwatch.twin.models.no_such_gnn:load_gnn")
    with pytest.raises(ImportError, match="model 'gnn'"):
        get_model(None, checkpoint="/nowhere")


def test_checkpoint_none_is_dropped() -> None:
    assert get_model("qt", checkpoint=None).name == "qt"


def test_protocol_and_predict_many_loop() -> None:
    class Constant:
        name = "const"

        def predict(self, scenario: Scenario) -> Prediction:
            p = Prediction.empty(scenario.n_paths, scenario.n_links)
            p.path_delay_s[:] = 1.0
            return p

    m = Constant()
    assert isinstance(m, KPIModel)
    sc = Scenario.build(2, [(0, 1, 1e6)], {(0, 1): [0, 1]}, [Flow(0, 1, 1.0)])
    out = predict_many(m, [sc, sc, sc])
    assert len(out) == 3 and all(np.array_equal(p.path_delay_s, [1.0]) for p in out)
    qt = get_model("qt")
    assert len(predict_many(qt, iter([sc]))) == 1
