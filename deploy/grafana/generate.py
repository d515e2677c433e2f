#!/usr/bin/env python3
"""Generate twinwatch's Grafana dashboards and Grafana alert rules as code (grafana-foundation-sdk).

Writes, relative to this file:

* ``dashboards/twinwatch-network.json``  network overview: links coloured by anomaly score, alerts timeline;
* ``dashboards/twinwatch-link.json``     one link: observed vs expected with calibrated bounds, drops, paths;
* ``dashboards/twinwatch-paths.json``    paths, as far as link-level metrics allow: anomalous paths per link;
* ``dashboards/twinwatch-service.json``  the service's health: throughput, DLQ, lag, latency, inference time;
* ``provisioning/alerting/twinwatch-rules.yml``  Grafana-managed alert rules equivalent to
  ``deploy/prometheus/rules/twinwatch-alerts.yml`` (for operators who alert from Grafana, not Prometheus).

Every query reads a metric of ``stream/metrics.py`` or a recording rule of
``deploy/prometheus/rules/twinwatch-recording.yml``; ``tests/deploy`` checks both, checks that every query
parses, and that the committed files equal this script's output. The output is deterministic (sorted keys,
fixed ids), so regenerate and commit after a change::

    .venv/bin/pip install -e '.[deploy]'
    .venv/bin/python deploy/grafana/generate.py            # write the files
    .venv/bin/python deploy/grafana/generate.py --check    # exit 1 when a committed file is stale
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from grafana_foundation_sdk.builders import common as cb
from grafana_foundation_sdk.builders import dashboard as db
from grafana_foundation_sdk.builders import prometheus as pb
from grafana_foundation_sdk.builders import stat, statetimeline, statushistory, table, timeseries
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.models import common as cm
from grafana_foundation_sdk.models import dashboard as dm

HERE = Path(__file__).resolve().parent
DASHBOARD_DIR = HERE / "dashboards"
ALERTING_FILE = HERE / "provisioning" / "alerting" / "twinwatch-rules.yml"
PROMETHEUS_ALERTS = HERE.parent / "prometheus" / "rules" / "twinwatch-alerts.yml"

DATASOURCE_UID = "twinwatch-prometheus"
"""UID of the Prometheus datasource in ``provisioning/datasources/prometheus.yml``."""
DATASOURCE = dm.DataSourceRef(type_val="prometheus", uid=DATASOURCE_UID)
FOLDER_UID = "twinwatch"
LINK_KPIS = ("utilization", "tx_bps", "drop_pps", "delay_s", "loss_ratio")
"""KPIs of the per-link gauges (``twinwatch.stream.metrics.LINK_KPIS``)."""
KPI_UNITS = {"utilization": "percentunit", "tx_bps": "bps", "drop_pps": "pps", "delay_s": "s",
             "loss_ratio": "percentunit"}
NET = 'network=~"$network"'
"""Label matcher of the ``network`` template variable (multi-value)."""


# ----------------------------------------------------------------------------- small builders
@dataclass(frozen=True)
class Q:
    """One Prometheus query of a panel: PromQL ``expr`` and the legend template."""

    expr: str
    legend: str = ""
    instant: bool = False


@dataclass
class Layout:
    """Places panels left to right on a 24-column grid, wrapping to a new row."""

    x: int = 0
    y: int = 0
    row_h: int = 0
    next_id: int = 1
    panels: list[Any] = field(default_factory=list)

    def place(self, panel: Any, w: int, h: int) -> None:
        if self.x + w > 24:
            self.x, self.y, self.row_h = 0, self.y + self.row_h, 0
        panel.id(self.next_id).grid_pos(dm.GridPos(h=h, w=w, x=self.x, y=self.y))
        self.next_id += 1
        self.x += w
        self.row_h = max(self.row_h, h)
        self.panels.append(panel)

    def row(self, title: str) -> None:
        if self.x:
            self.x, self.y, self.row_h = 0, self.y + self.row_h, 0
        r = db.Row(title).id(self.next_id).grid_pos(dm.GridPos(h=1, w=24, x=0, y=self.y))
        self.next_id += 1
        self.y += 1
        self.panels.append(r)


def _targets(panel: Any, queries: Sequence[Q]) -> Any:
    for i, q in enumerate(queries):
        t = pb.Dataquery().expr(q.expr).ref_id(chr(ord("A") + i)).datasource(DATASOURCE)
        t = t.legend_format(q.legend or "__auto")
        t = t.instant() if q.instant else t.range()
        panel.with_target(t)
    return panel.datasource(DATASOURCE)


def _legend(calcs: Sequence[str] = ("lastNotNull", "max")) -> Any:
    return (cb.VizLegendOptions().show_legend(True).display_mode(cm.LegendDisplayMode.TABLE)
            .placement(cm.LegendPlacement.BOTTOM).calcs(list(calcs)))


def _steps(*pairs: tuple[float | None, str]) -> Any:
    return db.ThresholdsConfig().mode(dm.ThresholdsMode.ABSOLUTE).steps(
        [dm.Threshold(value=v, color=c) for v, c in pairs])


def ts(title: str, description: str, queries: Sequence[Q], unit: str = "short", *, stack: bool = False,
       min_val: float | None = 0) -> Any:
    """A time-series panel."""
    p = (timeseries.Panel().title(title).description(description).unit(unit).legend(_legend())
         .line_width(1).fill_opacity(10 if not stack else 60).span_nulls(True))
    if min_val is not None:
        p = p.min(min_val)
    if stack:
        p = p.stacking(cb.StackingConfig().mode(cm.StackingMode.NORMAL))
    return _targets(p, queries)


def stat_panel(title: str, description: str, queries: Sequence[Q], unit: str = "short",
               thresholds: Any | None = None) -> Any:
    """A single-value panel (last value)."""
    p = (stat.Panel().title(title).description(description).unit(unit)
         .reduce_options(cb.ReduceDataOptions().calcs(["lastNotNull"]).values(False))
         .color_mode(cm.BigValueColorMode.BACKGROUND).graph_mode(cm.BigValueGraphMode.AREA))
    p = p.thresholds(thresholds or _steps((None, "green")))
    return _targets(p, queries)


SCORE_STEPS = ((None, "green"), (0.9, "yellow"), (0.99, "orange"), (0.999, "red"))
"""Anomaly-score colours (score = 1 - p-value): green below 0.9, red from 0.999 (p < 0.001)."""


# ----------------------------------------------------------------------------- variables
def network_variable() -> Any:
    return (db.QueryVariable("network").label("Network").datasource(DATASOURCE)
            .query({"query": "label_values(twinwatch_windows_total, network)", "refId": "network"})
            .refresh(dm.VariableRefresh.ON_TIME_RANGE_CHANGED).multi(True).include_all(True)
            .current(dm.VariableOption(selected=True, text=["All"], value=["$__all"])))


def link_variable(multi: bool) -> Any:
    v = (db.QueryVariable("link").label("Link").datasource(DATASOURCE)
         .query({"query": f"label_values(twinwatch_link_observed{{{NET}}}, link)", "refId": "link"})
         .refresh(dm.VariableRefresh.ON_TIME_RANGE_CHANGED).multi(multi).include_all(multi))
    return v


def kpi_variable() -> Any:
    return (db.CustomVariable("kpi").label("KPI").values(",".join(LINK_KPIS))
            .current(dm.VariableOption(selected=True, text="utilization", value="utilization")))


def dashboard(uid: str, title: str, description: str, layout: Layout, variables: Sequence[Any],
              tags: Sequence[str] = ()) -> Any:
    d = (db.Dashboard(title).uid(uid).description(description).tags(["twinwatch", *tags])
         .time("now-3h", "now").refresh("30s").timezone("utc").editable()
         .tooltip(dm.DashboardCursorSync.CROSSHAIR))
    for v in variables:
        d = d.with_variable(v)
    for link_title, link_tags in (("twinwatch", ["twinwatch"]),):
        d = d.link(db.DashboardLink(link_title).type(dm.DashboardLinkType.DASHBOARDS).tags(link_tags)
                   .as_dropdown(True).include_vars(True).keep_time(True))
    for p in layout.panels:
        d = d.with_row(p) if isinstance(p, db.Row) else d.with_panel(p)
    return d


# ----------------------------------------------------------------------------- dashboards
def network_overview() -> Any:
    lay = Layout()
    lay.row("Now")
    lay.place(stat_panel("Network alerts firing", "twinwatch's own alerts firing now, all kinds.",
                         [Q(f"sum(twinwatch:alerts_firing:sum{{{NET}}})", instant=True)],
                         thresholds=_steps((None, "green"), (1, "orange"))), 6, 4)
    lay.place(stat_panel("Degradations firing", "Critical degradations: network faults that page.",
                         [Q(f'sum(twinwatch:alerts_firing:sum{{{NET}, kind="degradation", severity="critical"}})',
                            instant=True)], thresholds=_steps((None, "green"), (1, "red"))), 6, 4)
    lay.place(stat_panel("Links outside bounds", "Link KPIs observed outside the twin's calibrated interval.",
                         [Q(f"sum(twinwatch:links_outside_bounds:count{{{NET}}})", instant=True)],
                         thresholds=_steps((None, "green"), (1, "orange"))), 6, 4)
    lay.place(stat_panel("Window completeness", "Fraction of expected link counters present in the last window.",
                         [Q(f"min(twinwatch_window_completeness_ratio{{{NET}}})", instant=True)], "percentunit",
                         thresholds=_steps((None, "red"), (0.8, "orange"), (0.95, "green"))), 6, 4)
    lay.row("Links")
    links = (statushistory.Panel().title("Links by anomaly score")
             .description("Highest anomaly score (1 - p-value) over each link's KPIs, per window: "
                          "green below 0.9, red from 0.999.")
             .min(0).max(1).thresholds(_steps(*SCORE_STEPS)).color_scheme(
                 db.FieldColor().mode(dm.FieldColorModeId.THRESHOLDS))
             .show_value(cm.VisibilityMode.NEVER).row_height(0.9))
    lay.place(_targets(links, [Q(f"twinwatch:link_anomaly_score:max{{{NET}}}", "{{network}} {{link}}")]), 24, 12)
    top = (table.Panel().title("Most anomalous links now")
           .description("Links ranked by their highest anomaly score; open a link's page from its row.")
           .thresholds(_steps(*SCORE_STEPS)).unit("none").decimals(4)
           .data_links([db.DashboardLink("Link page").url(
               "/d/twinwatch-link?var-network=${__data.fields.network}&var-link=${__data.fields.link}")])
           .with_transformation(dm.DataTransformerConfig(id_val="reduce", options={
               "reducers": ["lastNotNull"], "mode": "seriesToRows", "labelsToFields": True}))
           .with_transformation(dm.DataTransformerConfig(id_val="sortBy", options={
               "sort": [{"field": "Last *", "desc": True}]})))
    lay.place(_targets(top, [Q(f"topk(20, twinwatch:link_anomaly_score:max{{{NET}}})", "{{network}} {{link}}",
                               instant=True)]), 12, 10)
    lay.place(ts("Residuals", "Observed minus expected, in units of the calibrated interval width "
                 "(|r| > 0.5 is outside symmetric bounds); the 10 largest.",
                 [Q(f"topk(10, abs(twinwatch:link_residual:normalized{{{NET}}}))",
                    "{{network}} {{link}} {{kpi}}")], "none"), 12, 10)
    for what, metric, text in (
            ("capacity", "twinwatch_link_capacity_bytes_per_second",
             "the ports report less than the model file's capacity (a LAG that lost a member): the twin predicts "
             "with the reported one"),
            ("IGP metric", "twinwatch_link_igp_metric",
             "the router reports another IGP metric than the model file's (a cost-out, a typo): the twin routes "
             "with the reported one")):
        lay.place(stat_panel(f"Links off their model: {what}", f"Links where {text}; each has a link_state alert "
                             "and its link page shows both values.",
                             [Q(f'count(({metric}{{{NET}, source="twin"}} != ignoring(source) '
                                f'{metric}{{{NET}, source="model"}})) or vector(0)', instant=True)],
                             thresholds=_steps((None, "green"), (1, "orange"))), 12, 4)
    lay.row("Alerts")
    timeline = (statetimeline.Panel().title("Alerts timeline")
                .description("twinwatch's alerts firing, by network, kind and severity.")
                .thresholds(_steps((None, "transparent"), (1, "orange"), (3, "red")))
                .color_scheme(db.FieldColor().mode(dm.FieldColorModeId.THRESHOLDS))
                .show_value(cm.VisibilityMode.AUTO).merge_values(True))
    lay.place(_targets(timeline, [Q(f"twinwatch:alerts_firing:sum{{{NET}}} > 0",
                                    "{{network}} {{kind}} {{severity}}")]), 24, 8)
    lay.place(ts("Alerts started", "New alerts per minute, by network and kind.",
                 [Q(f"60 * twinwatch:alerts_started:rate5m{{{NET}}}", "{{network}} {{kind}}")], "short",
                 stack=True), 12, 8)
    lay.place(ts("Paths anomalous", "Paths flagged in the last window, summed over the links they cross.",
                 [Q(f"twinwatch:link_paths_anomalous:sum{{{NET}}}", "{{network}}")]), 12, 8)
    return dashboard("twinwatch-network", "twinwatch / Network overview",
                     "What the twin sees in each network: anomalous links and the alerts they raised.",
                     lay, [network_variable()], ["network"])


def link_page() -> Any:
    lay = Layout()
    sel = f'{NET}, link=~"$link"'
    lay.row("Observed vs expected: $kpi")
    band = ts("$kpi: observed, expected and calibrated bounds",
              "The observed KPI against the twin's expectation; the shaded band is the calibrated interval.",
              [Q(f'twinwatch_link_observed{{{sel}, kpi="$kpi"}}', "observed"),
               Q(f'twinwatch_link_expected{{{sel}, kpi="$kpi"}}', "expected"),
               Q(f'twinwatch_link_expected_lower{{{sel}, kpi="$kpi"}}', "lower"),
               Q(f'twinwatch_link_expected_upper{{{sel}, kpi="$kpi"}}', "upper")],
              "short", min_val=None)
    dashed = dm.DynamicConfigValue(id_val="custom.lineStyle", value={"fill": "dash", "dash": [4, 4]})
    band = (band.override_by_name("lower", [dm.DynamicConfigValue(id_val="custom.fillBelowTo", value="upper"),
                                            dashed])
            .override_by_name("upper", [dashed]))
    lay.place(band, 24, 10)
    lay.place(ts("Anomaly score", "1 - p-value of each KPI of the link; 0.999 is p = 0.001.",
                 [Q(f"twinwatch_link_anomaly_score{{{sel}}}", "{{link}} {{kpi}}")], "none"), 12, 8)
    lay.place(ts("Normalised residual", "(observed - expected) / (upper - lower), per KPI.",
                 [Q(f"twinwatch:link_residual:normalized{{{sel}}}", "{{link}} {{kpi}}")], "none", min_val=None),
              12, 8)
    lay.row("Load and drops")
    # delay_s has no per-link panel: the twin predicts path delays, so a link's expected delay_s is always
    # empty (it stays selectable in the $kpi band panel above for links with per-link delay telemetry).
    for kpi in ("utilization", "tx_bps", "drop_pps", "loss_ratio"):
        lay.place(ts(kpi, f"Observed {kpi} with the twin's expectation.",
                     [Q(f'twinwatch_link_observed{{{sel}, kpi="{kpi}"}}', "observed {{link}}"),
                      Q(f'twinwatch_link_expected{{{sel}, kpi="{kpi}"}}', "expected {{link}}")],
                     KPI_UNITS[kpi]), 6, 7)
    lay.place(ts("Capacity: model and twin", "The model file's capacity and the one the twin predicted with "
                 "(lower where the ports report less).",
                 [Q(f"twinwatch_link_capacity_bytes_per_second{{{sel}}}", "{{source}}")], "Bps"), 12, 7)
    lay.place(ts("IGP metric: model and twin", "The model file's IGP metric and the one the twin routed with "
                 "(the router's where it reports one).",
                 [Q(f"twinwatch_link_igp_metric{{{sel}}}", "{{source}}")], "none"), 12, 7)
    lay.row("Suspects")
    lay.place(ts("Paths anomalous through the link", "Paths flagged in the last window that cross this link; "
                 "a link many anomalous paths share is the likely culprit.",
                 [Q(f"twinwatch_link_paths_anomalous{{{sel}}}", "{{link}}")]), 12, 8)
    sus = (table.Panel().title("Firing alerts of this network")
           .description("Alerts firing now by kind and severity; the suspect link of each incident is in "
                        "Alertmanager's notification (label suspect_link).")
           .with_transformation(dm.DataTransformerConfig(id_val="reduce", options={
               "reducers": ["lastNotNull"], "mode": "seriesToRows", "labelsToFields": True})))
    lay.place(_targets(sus, [Q(f"twinwatch:alerts_firing:sum{{{NET}}} > 0", "{{kind}} {{severity}}",
                               instant=True)]), 12, 8)
    return dashboard("twinwatch-link", "twinwatch / Link", "One link: what is observed against what the twin "
                     "expects, with calibrated bounds, drops and the paths that blame it.", lay,
                     [network_variable(), link_variable(multi=False), kpi_variable()], ["link"])


def path_page() -> Any:
    lay = Layout()
    lay.row("Paths (summarised per link: paths never become a metric label)")
    lay.place(ts("Anomalous paths per link", "Paths flagged in the last window, per link they cross; the "
                 "top 15 links.", [Q(f"topk(15, twinwatch_link_paths_anomalous{{{NET}}})",
                                     "{{network}} {{link}}")]), 24, 10)
    heat = (statushistory.Panel().title("Links carrying anomalous paths")
            .description("Per window, how many flagged paths cross each link (0 green, 1 yellow, 3+ red).")
            .thresholds(_steps((None, "green"), (1, "yellow"), (3, "red")))
            .color_scheme(db.FieldColor().mode(dm.FieldColorModeId.THRESHOLDS)).show_value(cm.VisibilityMode.AUTO))
    lay.place(_targets(heat, [Q(f"twinwatch_link_paths_anomalous{{{NET}}} > 0", "{{network}} {{link}}")]), 24, 10)
    lay.place(ts("Paths anomalous, per network", "Sum over links of the flagged paths crossing them (a path "
                 "of k hops counts k times).", [Q(f"twinwatch:link_paths_anomalous:sum{{{NET}}}", "{{network}}")]),
              12, 8)
    lay.place(ts("Path alerts started", "Degradation alerts per minute (path and link entities).",
                 [Q(f'60 * twinwatch:alerts_started:rate5m{{{NET}, kind="degradation"}}', "{{network}}")]), 12, 8)
    return dashboard("twinwatch-paths", "twinwatch / Paths", "Anomalous paths, as far as link-level metrics "
                     "show them: how many flagged paths cross each link.", lay, [network_variable()], ["paths"])


def service_health() -> Any:
    lay = Layout()
    lay.row("Service")
    lay.place(stat_panel("Targets up", "Scrape targets of job twinwatch that answer.",
                         [Q('sum(up{job="twinwatch"})', instant=True)],
                         thresholds=_steps((None, "red"), (1, "green"))), 6, 4)
    lay.place(stat_panel("Version", "twinwatch_build_info of the running replicas.",
                         [Q("count by (version) (twinwatch_build_info)", "{{version}}", instant=True)]), 6, 4)
    lay.place(stat_panel("Consumer lag", "Messages waiting, all raw topics.",
                         [Q("sum(twinwatch:consumer_lag_messages:sum)", instant=True)],
                         thresholds=_steps((None, "green"), (1000, "orange"), (10000, "red"))), 6, 4)
    lay.place(stat_panel("Dead letters", "Dead-letter records per second.",
                         [Q("sum(twinwatch:dlq_messages:rate5m)", instant=True)], "rps",
                         thresholds=_steps((None, "green"), (0.1, "orange"))), 6, 4)
    lay.row("Throughput")
    lay.place(ts("Messages", "Raw messages consumed per second, by format and outcome.",
                 [Q("twinwatch:messages:rate5m", "{{format}} {{outcome}}")], "rps", stack=True), 12, 8)
    lay.place(ts("Measurements", "Measurement rows per second, by network.",
                 [Q(f"twinwatch:measurements:rate5m{{{NET}}}", "{{network}}")], "rps"), 12, 8)
    lay.place(ts("Rejections", "Adapter rejections per second, by format and reason.",
                 [Q("twinwatch:messages_rejected:rate5m", "{{format}} {{reason}}")], "rps", stack=True), 8, 8)
    lay.place(ts("Dead letters", "Dead-letter records per second, by format and reason.",
                 [Q("twinwatch:dlq_messages:rate5m", "{{format}} {{reason}}")], "rps", stack=True), 8, 8)
    lay.place(ts("Dead-letter ratio", "Dead-letter records per message consumed, by format "
                 "(TwinwatchDeadLetterRateHigh fires above 5 %).",
                 [Q("twinwatch:dlq_ratio:rate5m", "{{format}}")], "percentunit"), 8, 8)
    lay.row("Windows")
    lay.place(ts("Windows closed", "Windows closed per minute, by network and outcome.",
                 [Q(f"60 * twinwatch:windows:rate5m{{{NET}}}", "{{network}} {{outcome}}")], "short", stack=True), 12, 8)
    lay.place(ts("Completeness and age", "Fraction of expected counters in the last window, by network.",
                 [Q(f"twinwatch_window_completeness_ratio{{{NET}}}", "{{network}}")], "percentunit"), 12, 8)
    lay.place(ts("Newest window age", "Event-time age of the newest closed window (stalled telemetry grows it).",
                 [Q(f"twinwatch:last_window_age_seconds{{{NET}}}", "{{network}}")], "s"), 12, 8)
    lay.place(ts("Link series dropped", "Links beyond metrics.max_links without per-link gauges.",
                 [Q(f"sum by (network) (twinwatch_link_series_dropped_total{{{NET}}})", "{{network}}")]), 12, 8)
    lay.place(ts("Late rows", "Measurement rows per second that arrived after their window closed (counted, not "
                 "used), by network.", [Q(f"sum by (network) (rate(twinwatch_late_rows_total{{{NET}}}[5m]))",
                                          "{{network}}")], "rps"), 12, 8)
    lay.place(ts("Devices ahead / behind / late", "Devices whose clock runs more than a window ahead of the others "
                 "on their partition (held back from the watermark), devices whose clock runs steadily more than "
                 "two windows behind them (both re-stamped to the others' time), and devices whose latest samples "
                 "were older than the windows already closed (their rows are late). The worker's log names them; "
                 "TwinwatchDeviceClockAhead, TwinwatchDeviceClockBehind and TwinwatchDevicesLate fire after 10 min.",
                 [Q(f"twinwatch_device_clocks_ahead{{{NET}}}", "ahead {{network}}"),
                  Q(f"twinwatch_device_clocks_behind{{{NET}}}", "behind {{network}}"),
                  Q(f"twinwatch_late_devices{{{NET}}}", "late {{network}}")]), 12, 8)
    lay.row("Latency")
    lay.place(ts("Window lag", "Wall clock at close minus window end (p50, p90, p99).",
                 [Q("twinwatch:window_lag_seconds:quantile5m", "p{{quantile}}")], "s"), 8, 8)
    lay.place(ts("Close to alert", "Time from a window's close to its alerts reaching the sinks (p50, p99).",
                 [Q("twinwatch:window_close_to_alert_seconds:quantile5m", "p{{quantile}}")], "s"), 8, 8)
    lay.place(ts("Twin inference", "Twin inference time per batch: p50, p99 and mean.",
                 [Q("twinwatch:twin_inference_seconds:quantile5m", "p{{quantile}}"),
                  Q("twinwatch:twin_inference_seconds:mean5m", "mean")], "s"), 8, 8)
    lay.row("Kafka")
    lay.place(ts("Consumer lag by partition", "Messages between the committed offset and the high watermark.",
                 [Q("twinwatch_consumer_lag_messages", "{{topic}}/{{partition}}")]), 12, 8)
    lay.place(ts("Kafka errors", "Kafka client errors per second, by operation.",
                 [Q("twinwatch:kafka_errors:rate5m", "{{operation}}")], "rps"), 12, 8)
    return dashboard("twinwatch-service", "twinwatch / Service health", "The twinwatch service itself: "
                     "throughput, dead letters, consumer lag, window lag, alert latency and twin inference time.",
                     lay, [network_variable()], ["service"])


DASHBOARDS: dict[str, Callable[[], Any]] = {
    "twinwatch-network.json": network_overview,
    "twinwatch-link.json": link_page,
    "twinwatch-paths.json": path_page,
    "twinwatch-service.json": service_health,
}


def render_dashboard(make: Callable[[], Any]) -> str:
    """The dashboard JSON text (2-space indent, sorted keys, trailing newline)."""
    return json.dumps(make().build(), cls=JSONEncoder, indent=2, sort_keys=True) + "\n"


# ----------------------------------------------------------------------------- Grafana alert rules
_VALUE_RE = re.compile(r"\$value\b")


def grafana_rules(prometheus_rules: Path = PROMETHEUS_ALERTS) -> dict[str, Any]:
    """Grafana-managed alert rules (file-provisioning format) equivalent to the Prometheus alerting rules.

    Each Prometheus rule ``expr`` becomes query ``A`` (instant, on the provisioned Prometheus datasource);
    ``B`` reduces each returned series to its last value (NaN dropped) and ``C = is_number($B)`` fires for
    every series the expression returns, exactly as Prometheus alerts on every returned series. ``$value``
    in the annotations becomes ``$values.B.Value``. Absent data is ``OK`` (``absent()`` rules return a series).
    """
    from grafana_foundation_sdk.builders import alerting as ab
    from grafana_foundation_sdk.builders import expr as eb
    from grafana_foundation_sdk.models import alerting as am

    doc = yaml.safe_load(prometheus_rules.read_text(encoding="utf-8"))
    groups = []
    for group in doc["groups"]:
        rules = []
        for r in group["rules"]:
            if "alert" not in r:
                continue
            a = (ab.Query("A").datasource_uid(DATASOURCE_UID)
                 .relative_time_range(am.RelativeTimeRange(from_val=600, to=0))
                 .model(pb.Dataquery().expr(r["expr"].strip()).instant().ref_id("A").datasource(DATASOURCE)))
            b = (ab.Query("B").datasource_uid("__expr__")
                 .model(eb.TypeReduce().expression("A").reducer("last").ref_id("B")
                        .settings(eb.ExprTypeReduceSettings().mode("dropNN"))))
            c = (ab.Query("C").datasource_uid("__expr__")
                 .model(eb.TypeMath().expression("is_number($B)").ref_id("C")))
            ann = {k: _VALUE_RE.sub("$values.B.Value", " ".join(str(v).split())) for k, v in
                   r.get("annotations", {}).items()}
            rule = (ab.Rule(r["alert"]).uid(f"tw-{r['alert'][9:].lower()}"[:40]).condition("C")
                    .queries([a, b, c]).for_val(r.get("for", "0s")).no_data_state("OK").exec_err_state("Error")
                    .labels({str(k): str(v) for k, v in r.get("labels", {}).items()}).annotations(ann)
                    .folder_uid(FOLDER_UID).rule_group(group["name"]).org_id(1)).build().to_json()
            for k in ("folderUID", "orgID", "ruleGroup"):  # group-level keys in the provisioning file format
                rule.pop(k, None)
            rules.append(json.loads(json.dumps(rule, cls=JSONEncoder)))
        groups.append({"orgId": 1, "name": group["name"], "folder": "twinwatch", "interval": "1m", "rules": rules})
    return {"apiVersion": 1, "groups": groups}


def render_rules() -> str:
    """The Grafana alert-rule provisioning file text."""
    head = ("# Generated by deploy/grafana/generate.py from deploy/prometheus/rules/twinwatch-alerts.yml; "
            "do not edit.\n"
            "# Grafana-managed alternative to the Prometheus alerting rules (load one of the two, not both).\n")
    return head + yaml.safe_dump(grafana_rules(), sort_keys=True, width=120, allow_unicode=True)


def outputs() -> dict[Path, str]:
    """Every generated file and its text."""
    out = {DASHBOARD_DIR / name: render_dashboard(make) for name, make in DASHBOARDS.items()}
    out[ALERTING_FILE] = render_rules()
    return out


def main(argv: Sequence[str] | None = None) -> int:
    """Write the files (exit 0), or with ``--check`` report stale ones (exit 1 when any is)."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--check", action="store_true", help="compare with the committed files; write nothing")
    args = ap.parse_args(argv)
    stale = []
    for path, text in outputs().items():
        rel = path.relative_to(HERE.parent.parent)
        if args.check:
            if not path.is_file() or path.read_text(encoding="utf-8") != text:
                stale.append(str(rel))
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        print(f"wrote {rel}")
    if stale:
        print("stale (run deploy/grafana/generate.py): " + ", ".join(stale), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
