"""twin.datasets: readers that turn labelled network data into Scenario + Labels.

Contract: a reader yields :class:`~twin.datasets.gnnet.Sample` objects
(``file``, ``index``, ``scenario``, ``labels``, ``sim_time``) with the dataset's
numbers unchanged (``scenario.time_unit`` says the unit); a missing or corrupt
input raises :class:`DatasetError` naming the file and the sample.
"""

from __future__ import annotations

from twin.datasets.gnnet import DatasetError, GNNetReader, Sample, find_tarballs, iter_samples

__all__ = ["DatasetError", "GNNetReader", "Sample", "find_tarballs", "iter_samples"]
