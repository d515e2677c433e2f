"""The visibility filter: a fault's true effect against the twin's 90 % interval, on hand-made truth files."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from twinwatch.detectors.visibility import VisibilityError, fault_visibility, path_effects, twin_intervals

W = 10.0
INTERVALS = {"delay_s": (-0.04, 0.05), "loss_ratio": (-0.002, 0.0025)}


def _truth(tmp_path: Path, *, slow_from: float | None = None, lossy_from: float | None = None) -> Path:
    """30 windows, paths a->b (over link a->b) and b->a; link a->b at 40 % of 1 Gb/s, b->a at 20 %."""
    rows: dict[str, list] = {k: [] for k in ("window_start", "src", "dst", "tos", "offered_bps", "delay_s",
                                             "jitter_s2", "loss_ratio", "delay_ci_s", "packets")}
    links: dict[str, list] = {k: [] for k in ("window_start", "link", "utilization", "tx_bps", "rx_bps",
                                              "drop_pps", "queue_occupancy", "loss_ratio", "up",
                                              "true_capacity_bps")}
    rng = np.random.default_rng(3)
    for w in range(30):
        t = w * W
        for src, dst in (("a", "b"), ("b", "a")):
            d = 1e-3 * math.exp(rng.normal(0, 0.005))
            if slow_from is not None and t >= slow_from and src == "a":
                d *= 1.2  # log ratio 0.18 > 0.05
            loss = 0.01 if lossy_from is not None and t >= lossy_from and src == "a" else 0.0
            for k, v in zip(rows, (t, src, dst, 0, 1e8, d, 1e-12, loss, 1e-5, 100.0)):
                rows[k].append(v)
        for lid, u in (("a->b", 0.4), ("b->a", 0.2)):
            for k, v in zip(links, (t, lid, u, u * 1e9, u * 1e9, 0.0, 0.0, 0.0, True, 1e9)):
                links[k].append(v)
    d = tmp_path / "truth"
    d.mkdir()
    pq.write_table(pa.table(rows), d / "paths.parquet")
    pq.write_table(pa.table(links), d / "links.parquet")
    return d


def _labels(kind: str = "capacity_degradation") -> list[dict]:
    return [{"id": "f1", "kind": kind, "benign": False, "start": 150.0, "end": 200.0, "entity_kind": "link",
             "entities": ["a->b"]}]


PAIRS = {"a->b": {"a->b"}, "b->a": {"b->a"}}
CAP = {"a->b": 1e9, "b->a": 1e9}


def test_path_effect_is_the_log_ratio_of_medians_fault_vs_before() -> None:
    ws = np.repeat(np.arange(10.0) * W, 1)
    delay = np.full(10, 2e-3)
    delay[7:] = 4e-3  # doubled from window 7 on
    eff = path_effects(ws, np.zeros(10, np.int64), delay, np.zeros(10), start=70.0, end=100.0, window_s=W)
    assert eff["delay_s"][0] == pytest.approx(math.log(2.0))
    assert eff["loss_ratio"][0] == 0.0


def test_a_delay_rise_beyond_the_interval_is_visible_and_noise_is_not(tmp_path: Path) -> None:
    slow = fault_visibility(_labels(), _truth(tmp_path, slow_from=150.0), INTERVALS, window_s=W,
                            pair_links=PAIRS, link_capacity_bps=CAP)["f1"]
    assert slow.visible and slow.delay_log_ratio == pytest.approx(math.log(1.2), abs=0.02)
    (tmp_path / "quiet").mkdir()
    quiet = fault_visibility(_labels(), _truth(tmp_path / "quiet"), INTERVALS, window_s=W, pair_links=PAIRS,
                             link_capacity_bps=CAP)["f1"]
    assert not quiet.visible and "inside" in quiet.reason


def test_loss_counts_only_on_paths_through_the_faulty_link(tmp_path: Path) -> None:
    truth = _truth(tmp_path, lossy_from=150.0)
    through = fault_visibility(_labels("grey_loss"), truth, INTERVALS, window_s=W, pair_links=PAIRS,
                               link_capacity_bps=CAP)["f1"]
    assert through.visible and through.loss_increase == pytest.approx(0.01)
    other = [{**_labels("grey_loss")[0], "entities": ["b->a"]}]
    elsewhere = fault_visibility(other, truth, INTERVALS, window_s=W, pair_links=PAIRS, link_capacity_bps=CAP)["f1"]
    assert not elsewhere.visible and elsewhere.loss_increase == 0.0


def test_a_fault_only_on_unprobed_paths_is_visible_but_not_observable(tmp_path: Path) -> None:
    """Grey loss on a->b: visible in the truth; observable only when a probe measures the pair a->b."""
    truth = _truth(tmp_path, lossy_from=150.0)
    probed = fault_visibility(_labels("grey_loss"), truth, INTERVALS, window_s=W, pair_links=PAIRS,
                              link_capacity_bps=CAP, observed_pairs={"a->b"})["f1"]
    assert probed.visible and probed.observable and "measured path loss" in probed.observable_reason
    unprobed = fault_visibility(_labels("grey_loss"), truth, INTERVALS, window_s=W, pair_links=PAIRS,
                                link_capacity_bps=CAP, observed_pairs={"b->a"})["f1"]
    assert unprobed.visible and not unprobed.observable
    assert "unobservable" in unprobed.observable_reason
    assert unprobed.loss_increase == pytest.approx(0.01)  # the truth's effect is reported as before
    no_probes = fault_visibility(_labels("grey_loss"), truth, INTERVALS, window_s=W, pair_links=PAIRS,
                                 link_capacity_bps=CAP)["f1"]
    assert no_probes.observable == no_probes.visible  # without observed_pairs: every path counts


def test_a_visible_link_down_is_observable_through_its_oper_status(tmp_path: Path) -> None:
    """A link going down is reported by its interfaces, probed or not (its delay effect here is on a->b only)."""
    v = fault_visibility(_labels("link_down"), _truth(tmp_path, slow_from=150.0), INTERVALS, window_s=W,
                         pair_links=PAIRS, link_capacity_bps=CAP, observed_pairs={"b->a"})["f1"]
    assert v.visible and v.observable and "oper-status" in v.observable_reason


def test_a_utilisation_effect_is_observable_without_any_probe(tmp_path: Path) -> None:
    """Links have counters: an unmonitored-traffic fault (a utilisation effect) stays observable with no probe."""
    lb = [{"id": "u", "kind": "unmonitored_traffic", "benign": False, "start": 150.0, "end": 200.0,
           "entity_kind": "node", "entities": ["a"]}]
    v = fault_visibility(lb, _truth(tmp_path), INTERVALS, window_s=W, pair_links=PAIRS, link_capacity_bps=CAP,
                         egress_capacity_bps={"a": 1e9}, observed_pairs=set())["u"]
    assert v.visible and v.observable


def test_unmonitored_traffic_effect_is_the_hidden_share_of_egress_capacity(tmp_path: Path) -> None:
    lb = [{"id": "u", "kind": "unmonitored_traffic", "benign": False, "start": 150.0, "end": 200.0,
           "entity_kind": "node", "entities": ["a"]}]
    v = fault_visibility(lb, _truth(tmp_path), INTERVALS, window_s=W, pair_links=PAIRS, link_capacity_bps=CAP,
                         egress_capacity_bps={"a": 1e9})["u"]
    assert v.utilization_change == pytest.approx(0.1)  # 100 Mb/s of flows from a over 1 Gb/s of egress
    assert v.visible


def test_intervals_from_a_checkpoint_calibration_and_errors(tmp_path: Path) -> None:
    cal = {"delay_s": {"kind": "log", "lo": [-0.1, -0.2], "hi": [0.1, 0.3], "lo_all": -0.05, "hi_all": 0.06},
           "loss_ratio": {"kind": "abs", "lo": -0.001, "hi": 0.002}}
    assert twin_intervals(cal) == {"delay_s": (-0.05, 0.06), "loss_ratio": (-0.001, 0.002)}
    with pytest.raises(VisibilityError, match="cannot read the ground truth"):
        fault_visibility(_labels(), tmp_path / "absent", INTERVALS, window_s=W)
    with pytest.raises(VisibilityError, match="loss_ratio"):
        fault_visibility(_labels(), _truth(tmp_path), {"delay_s": (-0.1, 0.1)}, window_s=W)


_NET = """\
version: 1
name: ab
devices: [{name: a}, {name: b}]
links:
  - {a: {device: a, interface: e0}, b: {device: b, interface: e0}, capacity_bps: 1G, delay_s: 0.001}
probes: [{src: a, dst: b, rate_pps: 10, size_bytes: 128}]
"""


def _checkpoint(tmp_path: Path) -> Path:
    """A checkpoint directory whose calibration gives :data:`INTERVALS`."""
    d = tmp_path / "ckpt"
    d.mkdir()
    cal = {"delay_s": {"kind": "log", "lo": [], "hi": [], "lo_all": INTERVALS["delay_s"][0],
                       "hi_all": INTERVALS["delay_s"][1]},
           "loss_ratio": {"kind": "abs", "lo": INTERVALS["loss_ratio"][0], "hi": INTERVALS["loss_ratio"][1]}}
    (d / "config.json").write_text(json.dumps({"calibration": cal}))
    return d


def test_the_network_model_gives_the_routes_capacities_and_probes_the_rule_needs(tmp_path: Path) -> None:
    """``model_fault_visibility`` = ``fault_visibility`` with the model's routes, inventory and probes."""
    from twinwatch.detectors.visibility import checkpoint_intervals, model_fault_visibility
    from twinwatch.twin.netmodel import load_network_model

    (tmp_path / "net.yaml").write_text(_NET)
    model = load_network_model(tmp_path / "net.yaml")
    truth = _truth(tmp_path, slow_from=150.0)
    labels = [*_labels("capacity_degradation"), {"id": "f2", "kind": "grey_loss", "benign": False, "start": 150.0,
                                                 "end": 200.0, "entity_kind": "link", "entities": ["b->a"]}]
    got = model_fault_visibility(labels, truth, model, checkpoint_intervals(_checkpoint(tmp_path)), window_s=W)
    want = fault_visibility(labels, truth, INTERVALS, window_s=W, pair_links=PAIRS, link_capacity_bps=CAP,
                            egress_capacity_bps={"a": 1e9, "b": 1e9}, observed_pairs={"a->b"})
    assert {k: v.to_dict() for k, v in got.items()} == {k: v.to_dict() for k, v in want.items()}
    assert got["f1"].observable and not got["f2"].visible
    with pytest.raises(VisibilityError, match=r"absent.config\.json"):
        checkpoint_intervals(tmp_path / "absent")
    (tmp_path / "nocal").mkdir()
    (tmp_path / "nocal" / "config.json").write_text('{"calibration": {"delay_s": {"lo": -1, "hi": 1}}}')
    with pytest.raises(VisibilityError, match="no 90 % interval"):
        checkpoint_intervals(tmp_path / "nocal")


def test_score_cli_scores_the_faults_the_telemetry_measures_apart_and_says_why_the_others_are_not(
        tmp_path: Path) -> None:
    from click.testing import CliRunner

    from twinwatch.stream.cli import cli

    (tmp_path / "net.yaml").write_text(_NET)
    truth = _truth(tmp_path, slow_from=150.0)
    labels = [*_labels("capacity_degradation"), {"id": "f2", "kind": "queue_change", "benign": False,
                                                 "start": 250.0, "end": 280.0, "entity_kind": "link",
                                                 "entities": ["b->a"]}]
    (tmp_path / "labels.jsonl").write_text("".join(json.dumps(lb) + "\n" for lb in labels))
    alert = {"id": "x", "status": "firing", "kind": "degradation", "severity": "critical", "network": "ab",
             "entity_kind": "path", "entity_id": "a->b", "kpi": "delay_s", "start": 150.0,
             "suspects": [{"link": "a->b", "score": 1.0}]}
    (tmp_path / "alerts.jsonl").write_text(json.dumps(alert) + "\n")
    (tmp_path / "manifest.json").write_text(json.dumps({"start_epoch_s": 0.0,
                                                        "config": {"duration_s": 300.0, "window_s": W}}))
    args = ["score", "--labels", str(tmp_path / "labels.jsonl"), "--alerts", str(tmp_path / "alerts.jsonl"),
            "--network", str(tmp_path / "net.yaml"), "--manifest", str(tmp_path / "manifest.json")]
    ckpt = str(_checkpoint(tmp_path))
    res = CliRunner().invoke(cli, [*args, "--truth", str(truth), "--checkpoint", ckpt, "--json",
                                   str(tmp_path / "r.json")])
    assert res.exit_code == 0, res.output
    assert "beyond the twin's 90 % interval: 1 of 2" in res.output
    assert "not measurable: queue_change b->a (f2): inside the twin's 90 % interval on every KPI" in res.output
    rep = json.loads((tmp_path / "r.json").read_text())
    assert rep["overall"]["recall"] == 0.5 and rep["observable"]["overall"]["recall"] == 1.0
    assert rep["visibility"]["f1"]["observable"] and not rep["visibility"]["f2"]["visible"]
    usage = CliRunner().invoke(cli, ["score", "--labels", str(tmp_path / "labels.jsonl"), "--alerts",
                                     str(tmp_path / "alerts.jsonl"), "--truth", str(truth)])
    assert usage.exit_code == 2 and "--truth needs --network and --manifest" in usage.output
    bad = CliRunner().invoke(cli, [*args, "--truth", str(tmp_path), "--checkpoint", ckpt])
    assert bad.exit_code == 1 and "cannot read the ground truth" in bad.output


def test_a_capacity_loss_the_ports_report_is_visible_whatever_it_does_to_traffic(tmp_path: Path) -> None:
    quiet = _truth(tmp_path)  # the lost member changes no delay, loss or utilisation here
    kw = {"window_s": W, "pair_links": PAIRS, "link_capacity_bps": CAP, "observed_pairs": {"a->b", "b->a"}}
    unreported = fault_visibility(_labels(), quiet, INTERVALS, **kw)["f1"]
    assert not unreported.visible and not unreported.observable
    reported = fault_visibility(_labels(), quiet, INTERVALS, reported={"capacity_degradation"}, **kw)["f1"]
    assert reported.visible and reported.observable
    assert "the ports report their speed" in reported.observable_reason
    # only a capacity loss: another fault kind is judged on its effect as before
    other = fault_visibility(_labels("queue_change"), quiet, INTERVALS, reported={"capacity_degradation"}, **kw)["f1"]
    assert not other.visible


def test_score_cli_reads_from_the_manifest_whether_the_ports_reported_their_speed(tmp_path: Path) -> None:
    """A run made with ``--report-speed``: its capacity degradation is measured whatever it did to traffic, and a
    ``link_state`` alert on ``speed_bps`` detects it."""
    from click.testing import CliRunner

    from twinwatch.stream.cli import cli

    (tmp_path / "net.yaml").write_text(_NET)
    truth = _truth(tmp_path)  # the lost member changed nothing the twin's interval would show
    (tmp_path / "labels.jsonl").write_text(json.dumps(_labels()[0]) + "\n")
    alert = {"id": "s", "status": "firing", "kind": "link_state", "severity": "info", "network": "ab",
             "entity_kind": "link", "entity_id": "a->b", "kpi": "speed_bps", "start": 150.0,
             "suspects": [{"link": "a->b", "score": 1.0}]}
    (tmp_path / "alerts.jsonl").write_text(json.dumps(alert) + "\n")
    ckpt = str(_checkpoint(tmp_path))
    for reported, measured in ((False, "0 of 1"), (True, "1 of 1")):
        (tmp_path / "manifest.json").write_text(json.dumps({"start_epoch_s": 0.0, "config": {
            "duration_s": 300.0, "window_s": W, "report_speed": reported}}))
        res = CliRunner().invoke(cli, ["score", "--labels", str(tmp_path / "labels.jsonl"), "--alerts",
                                       str(tmp_path / "alerts.jsonl"), "--network", str(tmp_path / "net.yaml"),
                                       "--manifest", str(tmp_path / "manifest.json"), "--truth", str(truth),
                                       "--checkpoint", ckpt, "--json", str(tmp_path / "r.json")])
        assert res.exit_code == 0, res.output
        assert f"beyond the twin's 90 % interval: {measured}" in res.output, res.output
        assert json.loads((tmp_path / "r.json").read_text())["overall"]["recall"] == 1.0
