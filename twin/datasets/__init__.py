"""twinwatch.twin.datasets: readers that turn labelled network data into Scenario + Labels.

Contract: a reader yields :class:`~twin.datasets.gnnet.Sample` objects
(``file``, ``index``, ``scenario``, ``labels``, ``sim_time``) with the dataset's
numbers unchanged (``scenario.time_unit`` says the unit); a missing or corrupt
input raises :class:`DatasetError` naming the file and the sample.

:func:`iter_samples` is the one entry point: it recognises a GNNet dataset
folder (``.tar.gz`` results with ``graphs/`` and ``routings/`` beside them), a
twinwatch-native dataset (made by ``twinwatch simulate dataset``) and a single
scenario YAML file (unlabelled: its labels are NaN).
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterator
from pathlib import Path

from twinwatch.twin.datasets.gnnet import DatasetError, GNNetReader, Sample, find_tarballs
from twinwatch.twin.datasets.gnnet import iter_samples as iter_gnnet_samples

__all__ = [
    "DatasetError",
    "GNNetReader",
    "Sample",
    "find_tarballs",
    "iter_gnnet_samples",
    "iter_samples",
]

_YAML_SUFFIXES = (".yaml", ".yml")


def iter_samples(root: str | os.PathLike[str], *, progress: bool = False) -> Iterator[Sample]:
    """Samples of any supported dataset at ``root``: GNNet, native, or one scenario YAML.

    Raises :class:`DatasetError` when ``root`` does not exist or holds none of them.
    """
    path = Path(root)
    if not path.exists():
        raise DatasetError(f"{path}: no such file or folder")
    if path.is_file() and path.suffix.lower() in _YAML_SUFFIXES:
        from twinwatch.twin.datasets.scenario_yaml import load_scenario_yaml
        from twinwatch.twin.kpis import Labels

        sc = load_scenario_yaml(path)
        labels = Labels.empty(sc.n_paths, sc.n_links)
        yield Sample(file=path.name, index=0, scenario=sc, labels=labels, sim_time=math.nan)
        return
    from twinwatch.twin.datasets.native import is_native_dataset, iter_native_samples

    if is_native_dataset(path):
        yield from iter_native_samples(path, progress=progress)
        return
    reader = GNNetReader(path, progress=progress)  # finds the tarballs once, for the check and the reading
    if path.is_dir() and not reader.files:
        raise DatasetError(
            f"{path}: no GNNet result tarballs, no twinwatch dataset manifest and not a scenario YAML file"
        )
    yield from reader
