"""Traffic matrix per window: from flow records, from link counters (tomogravity), or mixed.

Contract: plain arrays in (node numbers already mapped, a routing matrix built
from CSR paths and ECMP shares, link loads in bit/s), a :class:`TrafficMatrix`
out: per ToS class an ``(N, N)`` mean rate in bit/s with a standard deviation
per entry and the entry's :class:`Source` (flows, counters, prior). Nothing here
imports ``telemetry_adapters``; the adapters' inventory maps prefixes to nodes
upstream.

- :func:`matrix_from_flows`: sampled flow records → matrix with sampling error;
- :func:`gravity_prior`: simple / fitted gravity from node ingress and egress totals;
- :func:`tomogravity`, :func:`matrix_from_counters`: link loads → matrix (Zhang et al., SIGMETRICS 2003);
- :func:`matrix_mixed`: flows where routers export them, counters for the rest;
- :func:`matrix_fitted_to_counters`: a prior matrix (flow records) fitted to the link counters, classes kept.
"""

from __future__ import annotations

from twinwatch.twin.traffic_matrix.flows import DEFAULT_DSCP_CLASS, FlowAggregation, matrix_from_flows
from twinwatch.twin.traffic_matrix.gravity import gravity_prior
from twinwatch.twin.traffic_matrix.matrix import N_CLASSES, Demands, Source, TrafficMatrix, TrafficMatrixError
from twinwatch.twin.traffic_matrix.mixed import matrix_mixed
from twinwatch.twin.traffic_matrix.prior_fit import DEFAULT_PRIOR_FLOOR, matrix_fitted_to_counters
from twinwatch.twin.traffic_matrix.routing_matrix import RoutingMatrix, offdiagonal_pairs
from twinwatch.twin.traffic_matrix.tomogravity import TomogravityResult, matrix_from_counters, tomogravity

__all__ = [
    "DEFAULT_DSCP_CLASS",
    "DEFAULT_PRIOR_FLOOR",
    "N_CLASSES",
    "Demands",
    "FlowAggregation",
    "RoutingMatrix",
    "Source",
    "TomogravityResult",
    "TrafficMatrix",
    "TrafficMatrixError",
    "gravity_prior",
    "matrix_fitted_to_counters",
    "matrix_from_counters",
    "matrix_from_flows",
    "matrix_mixed",
    "offdiagonal_pairs",
    "tomogravity",
]
