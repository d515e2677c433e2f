"""detectors: residuals, conformal calibration, detection rules, localisation, alerts.

Contract: compares observed KPIs with the twin's :class:`~twin.Prediction`,
scores each entity with a calibrated p-value, and emits ``Alert`` objects; it
never parses wire formats.
"""

from __future__ import annotations

from twinwatch.detectors.alerts import Alert, AlertBook, AlertChange, alert_id
from twinwatch.detectors.conformal import ConformalCalibrator
from twinwatch.detectors.cusum import Cusum, z_from_p
from twinwatch.detectors.decision import Persistence, PersistenceChange, reject
from twinwatch.detectors.probe_loss import ProbeLossScan
from twinwatch.detectors.residuals import residual
from twinwatch.detectors.series import SeasonalForecaster, SeriesDetector, score_many, score_series

__all__: list[str] = [
    "Alert",
    "AlertBook",
    "AlertChange",
    "ConformalCalibrator",
    "Cusum",
    "Persistence",
    "PersistenceChange",
    "ProbeLossScan",
    "SeasonalForecaster",
    "SeriesDetector",
    "alert_id",
    "reject",
    "residual",
    "score_many",
    "score_series",
    "z_from_p",
]
