"""The detection scorer: every matching rule on hand-made labels and alerts, numbers worked out by hand."""

from __future__ import annotations

import math
from pathlib import Path

import orjson
import pytest
from click.testing import CliRunner

from twinwatch.detectors.scoring import (
    ScoringError,
    collapse_alerts,
    combine_reports,
    entities_of_network,
    load_alert_lines,
    score,
    truth_links,
)

W = 10.0  # window, seconds


def label(kind: str, start: float, end: float, entities: list[str], entity_kind: str = "link",
          benign: bool = False) -> dict:
    return {"id": f"{kind}-{start}", "kind": kind, "benign": benign, "start": start, "end": end,
            "entity_kind": entity_kind, "entities": entities}


def alert(aid: str, start: float, end: float | None, *, kind: str = "degradation", entity: str = "x->y",
          entity_kind: str = "link", suspects: list[str] | None = None, p: float | None = None) -> list[dict]:
    """Firing line, plus a resolved line when ``end`` is given."""
    base = {"id": aid, "kind": kind, "start": start, "entity_kind": entity_kind, "entity_id": entity,
            "kpi": "delay_s", "p_value": p, "suspects": [{"link": s, "score": 1.0} for s in suspects or []]}
    out = [{**base, "status": "firing", "end": None}]
    if end is not None:
        out.append({**base, "status": "resolved", "end": end})
    return out


def test_recall_precision_f1_and_delays_by_hand() -> None:
    labels = [label("capacity_degradation", 100, 160, ["a->b"]),
              label("capacity_degradation", 1000, 1060, ["c->d"]),
              label("capacity_degradation", 2000, 2060, ["e->f"])]
    alerts = [*alert("a1", 120, 200),      # detects fault 1, 2 windows after its start
              *alert("a2", 1075, 1100),    # detects fault 2 inside the grace (1060 + 2 windows = 1080): 7.5 windows
              *alert("fp", 1500, 1520)]    # matches nothing: one false-positive incident
    r = score(labels, alerts, window_s=W, n_entities=10, run_start=0, run_end=3600)
    k = r.per_kind["capacity_degradation"]
    assert (k.events, k.detected, k.false_positives) == (3, 2, 1)
    assert k.recall == pytest.approx(2 / 3) and k.precision == pytest.approx(2 / 3)
    assert k.f1 == pytest.approx(2 / 3)
    assert k.delay_median_windows == pytest.approx(4.75)       # (2 + 7.5) / 2
    assert k.delay_p95_windows == pytest.approx(2 + 0.95 * 5.5)  # linear interpolation between 2 and 7.5
    assert r.overall.detected == 2 and r.overall.events == 3


def test_onset_outside_grace_does_not_match() -> None:
    labels = [label("grey_loss", 100, 160, ["a->b"])]
    late = score(labels, alert("late", 181, 200), window_s=W, run_start=0, run_end=600)  # grace ends at 180
    assert late.per_kind["grey_loss"].detected == 0 and late.false_alarms == 1
    edge = score(labels, alert("edge", 180, 200), window_s=W, run_start=0, run_end=600)
    assert edge.per_kind["grey_loss"].detected == 1 and edge.false_alarms == 0


def test_onset_rule_ignores_an_alert_already_firing_but_overlap_rule_counts_it() -> None:
    labels = [label("queue_change", 100, 160, ["a->b"])]
    stuck = alert("stuck", 50, None)  # fires before the fault, never resolves
    onset = score(labels, stuck, window_s=W, run_start=0, run_end=600)
    assert onset.per_kind["queue_change"].detected == 0 and onset.false_alarms == 1
    overlap = score(labels, stuck, window_s=W, run_start=0, run_end=600, rule="overlap")
    assert overlap.per_kind["queue_change"].detected == 1 and overlap.false_alarms == 0
    assert overlap.per_kind["queue_change"].delay_median_windows == 0.0  # clipped at 0


def test_alert_kinds_detect_only_their_fault_kinds() -> None:
    labels = [label("link_down", 100, 160, ["a->b"]), label("capacity_degradation", 1000, 1060, ["c->d"]),
              label("traffic_surge", 2000, 2060, ["n1"], entity_kind="node"), label("grey_loss", 3000, 3060, ["e->f"])]
    alerts = [*alert("ls1", 110, 170, kind="link_state"),            # link_down: detected
              *alert("ls2", 1010, 1070, kind="link_state"),          # the ports' speed: a capacity degradation
              *alert("ta", 2010, 2070, kind="traffic_anomaly"),      # detects the surge
              *alert("ls3", 3010, 3070, kind="link_state")]          # cannot detect grey loss
    r = score(labels, alerts, window_s=W, run_start=0, run_end=3600)
    assert r.per_kind["link_down"].detected == 1
    assert r.per_kind["capacity_degradation"].detected == 1
    assert r.per_kind["traffic_surge"].detected == 1
    assert r.per_kind["grey_loss"].detected == 0
    # the unmatched link_state alert is informational: not a false alarm, but one FP incident against each kind
    # a link_state alert can detect
    assert r.false_alarms == 0 and r.informational_unmatched == 1
    assert r.per_kind["link_down"].false_positives == 1 and r.per_kind["capacity_degradation"].false_positives == 1
    assert r.per_kind["grey_loss"].false_positives == 0
    assert r.per_kind["link_down"].precision == pytest.approx(0.5)


def test_overlapping_unmatched_alerts_form_one_incident() -> None:
    labels = [label("metric_change", 5000, 5060, ["a->b"])]
    alerts = [*alert("u1", 100, 150, entity="p->q"), *alert("u2", 140, 200, entity="q->r"),  # overlap: incident 1
              *alert("u3", 205, 220, entity="r->s"),  # starts within one window of u2's end: still incident 1
              *alert("u4", 1000, 1010, entity="s->t")]  # incident 2
    r = score(labels, alerts, window_s=W, run_start=0, run_end=7200, n_entities=4)
    assert r.false_alarms == 4 and r.false_alarm_incidents == 2
    k = r.per_kind["metric_change"]
    assert (k.detected, k.false_positives, k.precision, k.recall, k.f1) == (0, 2, 0.0, 0.0, 0.0)


def test_false_alarms_per_entity_hour_of_fault_free_time() -> None:
    # faults cover [100, 180] and [1000, 1080] with grace: 160 s busy out of 3600 s
    labels = [label("grey_loss", 100, 160, ["a->b"]), label("grey_loss", 1000, 1060, ["a->b"])]
    alerts = [*alert("fa1", 2000, 2020), *alert("fa2", 3000, 3020, entity="b->c")]
    r = score(labels, alerts, window_s=W, n_entities=10, alpha=0.01, run_start=0, run_end=3600)
    free_h = (3600 - 160) / 3600
    assert r.fault_free_hours == pytest.approx(free_h)
    assert r.false_alarms_per_entity_hour == pytest.approx(2 / (10 * free_h))
    per_window = 2 / (10 * free_h * 360)  # 360 windows of 10 s per hour
    assert r.false_alarms_per_entity_window == pytest.approx(per_window)
    assert r.ratio_to_alpha == pytest.approx(per_window / 0.01)
    # default entity count: the distinct entities seen in the alerts (2)
    r2 = score(labels, alerts, window_s=W, run_start=0, run_end=3600)
    assert r2.n_entities == 2 and r2.rules["entities_from"] == "alerts"


def test_benign_events_network_alerts_counted_and_telemetry_health_explains() -> None:
    labels = [label("counter_clear", 100, 130, ["a->b"], benign=True),
              label("device_reboot", 500, 530, ["n1"], entity_kind="node", benign=True),
              label("telemetry_gap", 900, 960, ["n2"], entity_kind="node", benign=True)]
    alerts = [*alert("th", 100, 140, kind="telemetry_health", entity="n0", entity_kind="device"),  # explains #1
              *alert("deg", 510, 560)]  # a network-fault alert during the reboot: violation and false alarm
    r = score(labels, alerts, window_s=W, run_start=0, run_end=3600, n_entities=5)
    assert r.benign_events == 3 and r.benign_with_network_alert == 1 and r.benign_explained == 1
    assert r.false_alarms == 1 and r.informational_unmatched == 0
    assert r.per_kind == {}  # no network fault in this run


def test_network_alert_during_benign_event_that_matches_a_fault_is_not_a_violation() -> None:
    labels = [label("grey_loss", 100, 200, ["a->b"]), label("late_batch", 150, 250, ["n1"], "node", benign=True)]
    r = score(labels, alert("d", 160, 210), window_s=W, run_start=0, run_end=1000)
    assert r.per_kind["grey_loss"].detected == 1 and r.benign_with_network_alert == 0 and r.false_alarms == 0


def test_localisation_top1_top3_with_cable_and_node_rules() -> None:
    labels = [label("capacity_degradation", 100, 160, ["a->b"]),      # cable fault: b->a counts too
              label("grey_loss", 1000, 1060, ["a->b"]),               # one direction only
              label("traffic_surge", 2000, 2060, ["b"], "node"),       # adjacent links of b count
              label("queue_change", 3000, 3060, ["e->f"])]
    alerts = [*alert("c1", 110, 170, suspects=["b->a", "x->y"]),        # top-1 hit (reverse direction)
              *alert("g1", 1010, 1070, suspects=["b->a", "c->d", "a->b"], p=1e-3),  # top-3 hit only
              *alert("g0", 1010, 1070, suspects=["z->w"], p=1e-2),       # same onset, larger p: not the ranking
              *alert("s1", 2010, 2070, suspects=["c->d", "x->b"]),       # x->b is adjacent to b: top-3
              *alert("q1", 3010, 3070, entity="e->f"),                   # no suspects, link entity e->f: top-1
              *alert("q2", 3000, 3070, entity="1->2", entity_kind="path")]  # earlier, but no candidate at all
    r = score(labels, alerts, window_s=W, run_start=0, run_end=4000)
    assert (r.per_kind["capacity_degradation"].top1, r.per_kind["capacity_degradation"].top3) == (1.0, 1.0)
    assert (r.per_kind["grey_loss"].top1, r.per_kind["grey_loss"].top3) == (0.0, 1.0)
    assert (r.per_kind["traffic_surge"].top1, r.per_kind["traffic_surge"].top3) == (0.0, 1.0)
    assert (r.per_kind["queue_change"].top1, r.per_kind["queue_change"].top3) == (1.0, 1.0)
    assert r.overall.localisable == 4
    assert r.overall.top1 == pytest.approx(0.5) and r.overall.top3 == pytest.approx(1.0)


def test_wrong_link_pages_count_paging_link_alerts_matched_to_a_fault_on_links_it_does_not_touch() -> None:
    labels = [label("grey_loss", 100, 160, ["a->b"]),                   # one direction only
              label("capacity_degradation", 1000, 1060, ["c->d"]),      # cable fault: d->c is its own link too
              label("traffic_surge", 2000, 2060, ["n"], "node")]        # node fault: its adjacent links
    alerts = [*alert("g1", 110, 170, entity="a->b"),                     # the right link
              *alert("g2", 110, 170, entity="b->c"),                     # a neighbour paged too: wrong
              *alert("g3", 120, 170, entity="b->a"),                     # the other direction of a grey loss: wrong
              *alert("g4", 120, 170, entity="1->2", entity_kind="path"),  # a path alert: not a link page
              *alert("g5", 120, 170, entity="x->y", kind="link_state"),  # informational: never pages
              *alert("c1", 1010, 1070, entity="d->c"),                   # the cable's reverse direction: right
              *alert("s1", 2010, 2070, entity="m->n", kind="traffic_anomaly"),  # informational
              *alert("s2", 2010, 2070, entity="n->o"),                   # adjacent to n: right
              *alert("s3", 2010, 2070, entity="p->q")]                   # elsewhere: wrong
    r = score(labels, alerts, window_s=W, run_start=0, run_end=4000)
    assert r.per_kind["grey_loss"].wrong_link_pages == 2
    assert r.per_kind["capacity_degradation"].wrong_link_pages == 0
    assert r.per_kind["traffic_surge"].wrong_link_pages == 1
    assert r.overall.wrong_link_pages == 3
    assert combine_reports([r, r]).overall.wrong_link_pages == 6
    assert r.to_dict()["per_kind"]["grey_loss"]["wrong_link_pages"] == 2


def test_undetected_faults_are_not_localisable_and_nan_survives_json() -> None:
    r = score([label("grey_loss", 100, 160, ["a->b"])], [], window_s=W, run_start=0, run_end=600, n_entities=3)
    k = r.per_kind["grey_loss"]
    assert k.localisable == 0 and math.isnan(k.top1) and math.isnan(k.precision) and k.recall == 0.0
    d = orjson.loads(r.to_json())
    assert d["per_kind"]["grey_loss"]["top1"] is None and d["false_alarms_per_entity_hour"] == 0.0


def test_collapse_unresolved_alert_runs_to_the_end_of_the_run() -> None:
    spans = collapse_alerts(alert("open", 100, None))
    assert spans[0].end == math.inf
    # never resolved, starting after every label: its span runs to run_end, one incident
    r = score([label("grey_loss", 0, 60, ["a->b"])], spans, window_s=W, run_start=0, run_end=600)
    assert r.false_alarms == 1 and r.false_alarm_incidents == 1


def test_truth_links_and_entity_count() -> None:
    assert truth_links({"kind": "grey_loss", "entity_kind": "link", "entities": ["a->b"]}) == {"a->b"}
    assert truth_links({"kind": "diurnal_peak", "entity_kind": "network", "entities": []}) == frozenset()
    assert entities_of_network(3, 4) == 4 + 6


def test_errors_name_the_file_line_and_field(tmp_path: Path) -> None:
    bad = tmp_path / "alerts.jsonl"
    bad.write_text('{"id": "a", "status": "firing", "kind": "degradation", "start": 1}\n'
                   '{"id": "b", "status": "firing", "kind": "meltdown", "start": 1}\n')
    with pytest.raises(ScoringError, match=r"alerts.jsonl: line 2: alert kind 'meltdown'"):
        load_alert_lines(bad)
    with pytest.raises(ScoringError, match=r"label 1: unknown label kind 'cosmic_ray'"):
        score([{"kind": "cosmic_ray", "start": 0, "end": 1}], [])
    with pytest.raises(ScoringError, match="resolved alert needs 'end'"):
        collapse_alerts([{"id": "a", "status": "resolved", "kind": "degradation", "start": 1}])


def test_cli_prints_the_table_and_writes_the_json(tmp_path: Path) -> None:
    from twinwatch.stream.cli import cli

    labels = [label("grey_loss", 100, 160, ["a->b"]), label("grey_loss", 1000, 1060, ["c->d"])]
    (tmp_path / "labels.jsonl").write_bytes(b"\n".join(orjson.dumps(x) for x in labels) + b"\n")
    (tmp_path / "alerts.jsonl").write_bytes(b"\n".join(orjson.dumps(x) for x in alert("a", 110, 150)) + b"\n")
    res = CliRunner().invoke(cli, ["score", "--labels", str(tmp_path / "labels.jsonl"), "--alerts",
                                   str(tmp_path / "alerts.jsonl"), "--json", str(tmp_path / "r.json")])
    assert res.exit_code == 0, res.output
    assert "grey_loss" in res.output and "0.500" in res.output  # recall 1 of 2
    rep = orjson.loads((tmp_path / "r.json").read_bytes())
    assert rep["per_kind"]["grey_loss"]["recall"] == 0.5
    (tmp_path / "bad.jsonl").write_text("not json\n")
    bad = CliRunner().invoke(cli, ["score", "--labels", str(tmp_path / "labels.jsonl"), "--alerts",
                                   str(tmp_path / "bad.jsonl")])
    assert bad.exit_code == 1 and "bad.jsonl: line 1: not JSON" in bad.output


def test_combine_reports_pools_events_delays_and_entity_hours() -> None:
    from twinwatch.detectors.scoring import combine_reports

    run_a = score([label("grey_loss", 100, 160, ["a->b"]), label("grey_loss", 1000, 1060, ["c->d"])],
                  [*alert("d", 120, 150, entity="a->b"), *alert("fa", 2000, 2010)],
                  window_s=W, n_entities=10, run_start=0, run_end=3600)
    run_b = score([label("grey_loss", 100, 160, ["a->b"])], alert("d", 140, 170, entity="a->b"),
                  window_s=W, n_entities=20, run_start=0, run_end=3600)
    pooled = combine_reports([run_a, run_b])
    k = pooled.per_kind["grey_loss"]
    assert (k.events, k.detected, k.false_positives) == (3, 2, 1)
    assert k.precision == pytest.approx(2 / 3) and k.recall == pytest.approx(2 / 3)
    assert k.delays_windows == [2.0, 4.0] and k.delay_median_windows == 3.0
    assert (k.localisable, k.top1) == (2, 1.0)
    # one false alarm over 10 entities x (3600 - 160) s + 20 entities x (3600 - 80) s of fault-free time
    ent_h = 10 * 3440 / 3600 + 20 * 3520 / 3600
    assert pooled.false_alarms == 1 and pooled.false_alarms_per_entity_hour == pytest.approx(1 / ent_h)
    assert pooled.rules["runs"] == 2
    with pytest.raises(ScoringError, match="no reports"):
        combine_reports([])


def test_cli_help_reads_like_a_man_page() -> None:
    from twinwatch.stream.cli import cli

    res = CliRunner().invoke(cli, ["score", "--help"])
    assert res.exit_code == 0
    for part in ("MATCHING RULES", "EXAMPLES", "--labels", "--alerts", "--grace", "windows", "Exit status"):
        assert part.lower() in res.output.lower(), part


def test_false_alarms_per_network_window_against_alpha() -> None:
    # same layout as above: 3440 s fault-free = 344 windows of the whole network, 2 false alarms
    labels = [label("grey_loss", 100, 160, ["a->b"]), label("grey_loss", 1000, 1060, ["a->b"])]
    alerts = [*alert("fa1", 2000, 2020), *alert("fa2", 3000, 3020, entity="b->c")]
    r = score(labels, alerts, window_s=W, n_entities=10, alpha=0.01, run_start=0, run_end=3600)
    assert r.false_alarms_per_network_window == pytest.approx(2 / 344)
    assert r.ratio_to_alpha_network == pytest.approx(2 / 344 / 0.01)
    # pooled over two identical runs: the same rate
    from twinwatch.detectors.scoring import combine_reports

    assert combine_reports([r, r]).false_alarms_per_network_window == pytest.approx(2 / 344)


def test_scored_ids_leaves_faults_out_without_turning_their_alerts_into_false_positives() -> None:
    labels = [label("grey_loss", 100, 160, ["a->b"]), label("grey_loss", 1000, 1060, ["c->d"])]
    # the first fault is detected, the second (left out: invisible) is detected too
    alerts = [*alert("a1", 110, 200, entity="a->b"), *alert("a2", 1010, 1100, entity="c->d")]
    full = score(labels, alerts, window_s=W, n_entities=4, run_start=0, run_end=3600)
    only = score(labels, alerts, window_s=W, n_entities=4, run_start=0, run_end=3600,
                 scored_ids=["grey_loss-100"])
    assert (full.overall.events, full.overall.detected) == (2, 2)
    assert (only.overall.events, only.overall.detected, only.overall.false_positives) == (1, 1, 0)
    assert only.false_alarms == 0 and only.rules["faults_scored"] == "subset"
    # nothing scored: no events, an empty subset is not "all"
    none = score(labels, alerts, window_s=W, n_entities=4, run_start=0, run_end=3600, scored_ids=[])
    assert none.overall.events == 0 and none.per_kind == {}


# ----------------------------------------------------------------------------- found by the fuzzer (issue 14)
_FIRING = {"id": "a", "status": "firing", "kind": "degradation", "start": 100.0}


@pytest.mark.parametrize(
    ("line", "rule"),
    [
        ({**_FIRING, "start": "abc"}, "'start' must be a finite number"),  # ValueError traceback from `score`
        ({**_FIRING, "start": {"v": 1}}, "'start' must be a finite number"),  # seed 1, k = 4: TypeError
        ({**_FIRING, "id": {"a": 1}}, "'id' must be a non-empty string"),  # k = 24: unhashable id, TypeError
        ({**_FIRING, "kind": ["degradation"]}, "alert kind ['degradation'] is not one of"),
        ({**_FIRING, "suspects": 5}, "'suspects' must be a list of objects"),  # k = 35: 'int' not iterable
        ({**_FIRING, "p_value": "x"}, "'p_value' must be a number in [0, 1]"),
        ({**_FIRING, "status": "resolved", "end": 50.0}, "'end' 50.0 is before 'start' 100.0"),
    ],
    ids=["start text", "start object", "id object", "kind list", "suspects int", "p_value text", "end < start"],
)
def test_malformed_alert_fields_are_refused_naming_file_line_and_field(tmp_path: Path, line: dict, rule: str) -> None:
    """Each was a Python exception (a traceback through `twinwatch score`) or accepted silently."""
    from twinwatch.stream.cli import cli

    (tmp_path / "labels.jsonl").write_bytes(orjson.dumps(label("grey_loss", 100, 160, ["a->b"])) + b"\n")
    bad = tmp_path / "alerts.jsonl"
    bad.write_bytes(b"\n" + orjson.dumps(_FIRING) + b"\n\n" + orjson.dumps(line) + b"\n")  # physical line 4
    with pytest.raises(ScoringError) as err:
        load_alert_lines(bad)
    assert f"{bad}: line 4: " in str(err.value) and rule in str(err.value), err.value
    res = CliRunner().invoke(cli, ["score", "--labels", str(tmp_path / "labels.jsonl"), "--alerts", str(bad)])
    assert res.exit_code == 1 and "Traceback" not in res.output and f"{bad}: line 4: " in res.output


@pytest.mark.parametrize(
    ("field", "value", "rule"),
    [("kind", ["grey_loss"], "unknown label kind"), ("entities", 5, "'entities' must be a list"),
     ("entities", "a->b", "'entities' must be a list"), ("start", True, "'start' must be a finite number"),
     ("benign", "false", "'benign' must be true or false")],
)
def test_malformed_label_fields_are_refused(tmp_path: Path, field: str, value: object, rule: str) -> None:
    """An unhashable kind raised TypeError; entities 5 raised TypeError, "a->b" was read as five entities
    'a', '-', '>', ...; a bool start was 1.0 s; "false" was a benign event."""
    from twinwatch.detectors.scoring import load_labels

    p = tmp_path / "labels.jsonl"
    p.write_bytes(orjson.dumps({**label("grey_loss", 100, 160, ["a->b"]), field: value}) + b"\n")
    with pytest.raises(ScoringError, match=rf"labels.jsonl: line 1: .*{rule[:20]}"):
        load_labels(p)


def test_a_bom_is_accepted_and_every_undefined_metric_says_why() -> None:
    """precision / recall / F1 / top-k are null in the JSON report only with a reason under "undefined" (the
    fuzzer's k = 1 found a null top1 with no reason); the report is strict JSON (no NaN)."""
    import json

    labels = [label("grey_loss", 100, 160, ["a->b"]), label("diurnal_peak", 0, 50, [], entity_kind="network")]
    r = score(labels, [], window_s=W, n_entities=10, run_start=0, run_end=0)  # nothing fired, no fault-free time
    d = r.to_dict()
    text = json.dumps(d, allow_nan=False)
    assert "NaN" not in text and d["overall"]["recall"] == 0.0
    nulls = {f"overall.{k}" for k in ("precision", "f1", "delay_median_windows", "top1", "top3")
             if d["overall"][k] is None}
    assert nulls and nulls <= set(d["undefined"])
    assert d["undefined"]["overall.precision"].endswith("(TP + FP = 0)")
    assert d["false_alarms_per_entity_hour"] is None and "fault-free" in d["undefined"]["false_alarms_per_entity_hour"]


def test_a_utf8_bom_does_not_refuse_the_file(tmp_path: Path) -> None:
    from twinwatch.detectors.scoring import load_labels

    p = tmp_path / "labels.jsonl"
    p.write_bytes(b"\xef\xbb\xbf" + orjson.dumps(label("grey_loss", 100, 160, ["a->b"])) + b"\r\n")
    assert load_labels(p)[0]["kind"] == "grey_loss"
