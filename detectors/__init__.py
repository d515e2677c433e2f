"""detectors: residuals, conformal calibration, detection rules, localisation, alerts.

Contract: compares observed KPIs with the twin's :class:`~twin.Prediction`,
scores each entity with a calibrated p-value, and emits ``Alert`` objects; it
never parses wire formats.
"""

from __future__ import annotations

__all__: list[str] = []
