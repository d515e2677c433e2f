"""Scores of the per-link KPIs (utilisation, queue occupancy, loss) against labels.

The twin predicts, per directed link, ``utilization`` (carried bits / capacity),
``queue_occupancy`` (ratio of the port's buffer, with ``link_queue_pkts`` in
packets, see :mod:`twinwatch.twin.kpis`) and ``loss_ratio``. :class:`LinkScorer`
accumulates predictions and labels over samples and reports, per KPI:

- ``mae``: mean absolute error over links with a finite label and prediction
  (ratios, 0..1; for ``queue_occupancy`` the ratio of the buffer);
- ``mape``: mean absolute percentage error where relative errors mean
  something: utilisation labels of at least :data:`UTIL_FLOOR` (an idle link's
  relative error is noise), queue occupancy in packets over links that carry
  traffic (a busy port's equivalent queue holds at least about one packet, so
  the denominator is never tiny); none for loss, whose labels are mostly 0;
- ``lossy_mae``: for loss, the MAE over the links whose label is positive;
- ``n`` and ``n_mape``: the links each figure is taken over.

Links whose label is NaN (no port statistics, e.g. GNNet 2020) are not scored;
a NaN prediction where the label is finite is counted in ``nan_predictions``.

Examples
--------
>>> import numpy as np
>>> from twinwatch.twin.kpis import Labels, Prediction
>>> lab = Labels.empty(0, 2); pr = Prediction.empty(0, 2)
>>> lab.link_utilization[:] = [0.5, 0.0]; pr.link_utilization[:] = [0.55, 0.01]
>>> lab.link_loss_ratio[:] = [0.0, 0.0]; pr.link_loss_ratio[:] = [0.0, 0.0]
>>> lab.link_queue_pkts[:] = [4.0, 0.0]; pr.link_queue_pkts[:] = [3.0, 0.0]
>>> lab.link_queue_occupancy[:] = [0.125, 0.0]; pr.link_queue_occupancy[:] = [0.09375, 0.0]
>>> s = LinkScorer(); s.add(pr, lab); r = s.result()
>>> round(r["utilization"]["mae"], 3), round(r["utilization"]["mape"], 1), r["utilization"]["n_mape"]
(0.03, 10.0, 1)
>>> round(r["queue_occupancy"]["mape"], 1), round(r["queue_occupancy"]["mae"], 5)
(25.0, 0.01562)
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from twinwatch.twin.kpis import LINK_KPIS, KPIs

__all__ = ["UTIL_FLOOR", "LinkScorer"]

UTIL_FLOOR = 0.01
"""Utilisation labels below this (1 % of capacity) are left out of the utilisation MAPE."""


@dataclass
class LinkScorer:
    """Accumulates ``(prediction, label)`` link arrays over samples; :meth:`result` scores them."""

    _pred: dict[str, list[np.ndarray]] = field(default_factory=lambda: {k: [] for k in (*LINK_KPIS, "pkts")})
    _lab: dict[str, list[np.ndarray]] = field(default_factory=lambda: {k: [] for k in (*LINK_KPIS, "pkts")})
    samples: int = 0

    def add(self, pred: KPIs, labels: KPIs) -> None:
        """Add one sample's ``(E,)`` link arrays (prediction and labels of the same scenario)."""
        for kpi in LINK_KPIS:
            self._pred[kpi].append(np.asarray(pred.link(kpi), dtype=np.float64))
            self._lab[kpi].append(np.asarray(labels.link(kpi), dtype=np.float64))
        self._pred["pkts"].append(np.asarray(pred.link_queue_pkts, dtype=np.float64))
        self._lab["pkts"].append(np.asarray(labels.link_queue_pkts, dtype=np.float64))
        self.samples += 1

    def _cat(self, kpi: str) -> tuple[np.ndarray, np.ndarray]:
        if not self._pred[kpi]:
            return np.zeros(0), np.zeros(0)
        return np.concatenate(self._pred[kpi]), np.concatenate(self._lab[kpi])

    def result(self) -> dict[str, dict[str, float]]:
        """Per KPI: ``n``, ``mae``, ``mape``, ``n_mape``, ``nan_predictions`` (+ ``lossy_mae`` for loss).

        NaN marks a figure with no link to take it over (``mape`` of loss always).
        """
        out: dict[str, dict[str, float]] = {}
        for kpi in LINK_KPIS:
            p, y = self._cat(kpi)
            labelled = np.isfinite(y)
            ok = labelled & np.isfinite(p)
            err = np.abs(p[ok] - y[ok])
            row: dict[str, float] = {
                "n": int(ok.sum()),
                "nan_predictions": int((labelled & ~np.isfinite(p)).sum()),
                "mae": float(err.mean()) if err.size else float("nan"),
            }
            if kpi == "utilization":
                rel_p, rel_y = p, y
                m = ok & (y >= UTIL_FLOOR)
            elif kpi == "queue_occupancy":
                rel_p, rel_y = self._cat("pkts")
                m = np.isfinite(rel_p) & np.isfinite(rel_y) & (rel_y > 0)
            else:
                rel_p, rel_y, m = p, y, np.zeros_like(ok)
                lossy = ok & (y > 0)
                row["lossy_mae"] = float(np.abs(p[lossy] - y[lossy]).mean()) if lossy.any() else float("nan")
                row["n_lossy"] = int(lossy.sum())
            ape = 100.0 * np.abs(rel_p[m] - rel_y[m]) / rel_y[m]
            row["mape"] = float(ape.mean()) if ape.size else float("nan")
            row["n_mape"] = int(m.sum())
            out[kpi] = row
        return out
