"""The network models shipped with twinwatch (``twin/data/networks/*.yaml``) and name-or-path lookup.

>>> names = list_networks()
>>> {"abilene", "geant", "nsfnet"} <= set(names)
True
>>> ab = load_network("abilene")
>>> ab.n_nodes, ab.node_names[:3]
(12, ['ATLAM5', 'ATLAng', 'CHINng'])
"""

from __future__ import annotations

import os
from importlib import resources
from pathlib import Path

from twinwatch.twin.netmodel.errors import NetworkModelError
from twinwatch.twin.netmodel.load import load_network_model
from twinwatch.twin.netmodel.model import NetworkModel

__all__ = ["list_networks", "load_network", "network_path"]

_DIR = "data/networks"


def list_networks() -> list[str]:
    """Names of the shipped network models, sorted."""
    root = resources.files("twinwatch.twin").joinpath(_DIR)
    return sorted(p.name[: -len(".yaml")] for p in root.iterdir() if p.name.endswith(".yaml"))


def network_path(name: str) -> Path:
    """The file of the shipped network ``name`` (case-insensitive)."""
    root = resources.files("twinwatch.twin").joinpath(_DIR)
    for item in root.iterdir():
        if item.name.lower() == f"{name.lower()}.yaml":
            return Path(str(item))
    raise NetworkModelError(name, [("", f"no shipped network {name!r}; shipped: {', '.join(list_networks())}; "
                                        "or give the path of a network-model YAML file")])


def load_network(name_or_path: str | os.PathLike[str]) -> NetworkModel:
    """A shipped network by name (``"abilene"``), or the network-model file at a path."""
    text = os.fspath(name_or_path)
    path = Path(text)
    if path.suffix.lower() in (".yaml", ".yml") or path.exists() or os.sep in text:
        if path.is_dir():
            raise NetworkModelError(text, [("", "is a directory, not a network-model file")])
        if not path.exists():
            raise NetworkModelError(text, [("", "the file does not exist")])
        return load_network_model(path)
    return load_network_model(network_path(text))
