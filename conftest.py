"""Root conftest: collect the packages' doctests under their installed names.

The four top-level folders install as ``twinwatch.stream``, ``twinwatch.twin``,
``twinwatch.detectors`` and ``twinwatch.telemetry_adapters`` (see setup.py).
pytest's own ``--doctest-modules`` would import ``twin/scenario.py`` by its
folder name, ``twin.scenario``: a second copy of every module beside the
``twinwatch.*`` one. This hook collects the doctests of those folders by
importing each file under its ``twinwatch.*`` name instead, so a test run has
one copy of every module, exactly as an installed package does.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from types import ModuleType

import pytest
from _pytest.doctest import DoctestModule

ROOT = Path(__file__).resolve().parent
PACKAGES = frozenset({"stream", "twin", "detectors", "telemetry_adapters"})


def installed_name(path: Path) -> str | None:
    """``twin/models/qt.py`` → ``twinwatch.twin.models.qt``; None outside the packages."""
    try:
        rel = path.resolve().relative_to(ROOT).with_suffix("")
    except ValueError:
        return None
    if not rel.parts or rel.parts[0] not in PACKAGES:
        return None
    parts = rel.parts[:-1] if rel.name == "__init__" else rel.parts
    return "twinwatch." + ".".join(parts)


class InstalledDoctestModule(DoctestModule):
    """A :class:`DoctestModule` that imports its file by the installed module name."""

    def _getobj(self) -> ModuleType:
        name = installed_name(self.path)
        assert name is not None
        return importlib.import_module(name)


def pytest_collect_file(file_path: Path, parent: pytest.Collector) -> pytest.Collector | None:
    if file_path.suffix == ".py" and installed_name(file_path) is not None:
        return InstalledDoctestModule.from_parent(parent, path=file_path)
    return None
