"""The twin detector: persistence folded into the test, link-state alerts, on a real testbed run (no mocks)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path

import numpy as np
import pytest
from scipy import stats

from twinwatch.detectors.alerts import Alert
from twinwatch.detectors.decision import reject
from twinwatch.detectors.twin_detector import TwinDetector, persistent_p_values


def test_persistent_p_values_are_uniform_on_independent_nulls() -> None:
    rng = np.random.default_rng(4)
    h = rng.random((3, 20_000))
    exact = persistent_p_values(h, 2, "independent")
    assert stats.kstest(exact, "uniform").pvalue > 0.01
    # the any-dependence bound is conservative: P(p <= u) <= u at every u
    bound = persistent_p_values(h, 2)
    for u in (0.001, 0.01, 0.1, 0.5):
        assert np.mean(bound <= u) <= u * 1.1 + 3 / h.shape[1]


def test_any_dependence_bound_holds_when_windows_are_identical() -> None:
    # fully dependent windows (the same p three times): the independent formula over-rejects 30x at 1e-3,
    # the bound stays at the level
    rng = np.random.default_rng(5)
    p = rng.random(200_000)
    h = np.stack([p, p, p])
    assert np.mean(persistent_p_values(h, 2, "independent") <= 1e-3) > 10 * 1e-3
    assert np.mean(persistent_p_values(h, 2) <= 1e-3) <= 1e-3 * 1.2
    with pytest.raises(ValueError, match="dependence"):
        persistent_p_values(h, 2, "pairwise")


def test_bh_on_persistent_p_values_fires_on_the_second_bad_window_only() -> None:
    rng = np.random.default_rng(6)
    n = 5000
    h = np.ones((3, n))
    fired_at = []
    for t in range(8):
        p = rng.random(n)
        if t >= 4:
            p[:5] = 1e-7  # five entities go bad at window 4
        h[:-1] = h[1:]
        h[-1] = p
        rej = reject(persistent_p_values(h, 2), 0.01, "bh")
        fired_at.append(np.flatnonzero(rej).tolist())
    assert fired_at[4] == [] and fired_at[5] == [0, 1, 2, 3, 4]
    assert all(f == [] for f in fired_at[:4])


@pytest.mark.slow
def test_link_down_raises_a_link_state_alert_naming_the_link(tmp_path: Path) -> None:
    from tests.unit.detectors._testbed_replay import replay_testbed
    from twinwatch.twin.testbed.faults import Fault
    from twinwatch.twin.testbed.run import TestbedConfig

    plan = [Fault(kind="link_down", start_s=300.0, end_s=360.0, entities=("LOSAng->SNVAng",))]
    cfg = TestbedConfig(duration_s=480.0, window_s=10.0, seed=9, malformed_fraction=0.0)
    out, t0 = replay_testbed(tmp_path, plan, cfg, formats=("gnmic", "probe", "goflow2"))
    ls = [c for c in out.changes if c.alert.kind == "link_state"]
    fired = [c.alert for c in ls if c.action == "firing"]
    # both directions of the cable are reported down; the alert opens in the fault's first window
    assert {a.entity_id for a in fired} <= {"LOSAng->SNVAng", "SNVAng->LOSAng"} and fired
    assert all(abs(a.start - (t0 + 300.0)) <= 10.0 for a in fired)
    assert {c.alert.id for c in ls if c.action == "resolved"} == {a.id for a in fired}
    assert all(not a.pages for a in fired)


def _fired(det: object, windows: Iterable[object]) -> list[tuple[int, Alert]]:
    """``(window index, alert)`` of every alert that fires while ``det`` reads ``windows`` in order."""
    out: list[tuple[int, Alert]] = []
    for w, snap in enumerate(windows):
        out += [(w, c.alert) for c in det.detect(snap, None).changes if c.action == "firing"]
    return out


def _small_model(name: str, links: tuple[str, ...], probes: tuple[str, ...], delay_s: float) -> object:
    """A network of one-letter devices: ``links`` and ``probes`` as two-letter pairs, 10 Gb/s, 10 probe packets/s."""
    from twinwatch.twin.netmodel import model_from_dict

    doc = {"version": 1, "name": name, "devices": [{"name": n} for n in sorted(set("".join(links)))],
           "links": [{"a": {"device": x, "interface": f"{x}-{y}"}, "b": {"device": y, "interface": f"{y}-{x}"},
                      "capacity_bps": "10G", "delay_s": delay_s} for x, y in links],
           "probes": [{"src": s, "dst": d, "rate_pps": 10, "size_bytes": 128} for s, d in probes]}
    return model_from_dict(doc, source=name)


def _tri_model() -> object:
    return _small_model("tri", ("ab", "bc", "ca"), ("ac", "bc", "ab"), 0.005)


def _window(model: object, w: int, rng: np.random.Generator, *, surge_c: float = 1.0,
            loss_ac: float = 0.0, flows: bool = False, export_b: float = 1.0,
            queueing_s: tuple[float, float] = (2e-5, 1e-6), missing: tuple[str, ...] = (),
            down: tuple[str, ...] = ()) -> object:
    """One 10 s window of the triangle: counters of every link (but the ``missing`` ones and the ones reported
    ``down``), the three probes, the window's matrix."""
    from twinwatch.twin.snapshot import build_snapshot
    from twinwatch.twin.traffic_matrix import Source, TrafficMatrix

    tm = np.zeros((3, 3, 3))
    base = {(0, 1): 1e9, (0, 2): 2e9, (1, 2): 1e9, (2, 0): 1.5e9, (1, 0): 5e8, (2, 1): 8e8}
    for (s, d), r in base.items():
        tm[0, s, d] = r * rng.lognormal(0.0, 0.02) * (surge_c if d == 2 else 1.0)
    ids, kinds, kpis, vals = [], [], [], []
    for lid, (s, d) in zip(model.link_ids, zip(model.link_src, model.link_dst)):
        bps = float(tm[0, s, d])
        for kpi, v in (("tx_bps", bps), ("rx_bps", bps), ("tx_pps", bps / 8000), ("rx_pps", bps / 8000)):
            if lid not in missing and lid not in down:
                ids.append(lid), kinds.append("link"), kpis.append(kpi), vals.append(v)
    for pair in ("a->c", "b->c", "a->b"):
        lost = rng.binomial(100, loss_ac if pair == "a->c" else 0.0)
        for kpi, v in (("loss_ratio", lost / 100), ("delay_s", 0.005 + rng.normal(*queueing_s))):
            ids.append(pair), kinds.append("path"), kpis.append(kpi), vals.append(v)
    rows = {"entity_kind": kinds, "entity_id": ids, "kpi": kpis, "value": vals}
    t0 = 1.7e9 + 10.0 * w
    src = Source.COUNTERS
    if flows:  # a window whose rows were measured from flow records; router b's export may miss traffic
        src = Source.FLOWS
        tm[:, 1, :] *= export_b
    return build_snapshot(model, t0, t0 + 10.0, rows, links_down=down,
                          traffic=TrafficMatrix.build(tm, start=t0, end=t0 + 10.0, source=src))


def test_low_rate_probe_loss_accumulates_into_a_localised_degradation() -> None:
    # 2 % loss on a 10 packet/s probe: 2 packets a window, never significant in one window with three
    # probes, found by the scan within a few windows and localised to the link only that probe crosses
    from twinwatch.detectors.twin_detector import TwinDetector

    model = _tri_model()
    rng = np.random.default_rng(21)
    det = TwinDetector(model, alpha=0.01)
    fired = _fired(det, (_window(model, w, rng, loss_ac=0.02 if w >= 40 else 0.0) for w in range(60)))
    probe = [(w, a) for w, a in fired if a.kpi == "probe_loss"]
    assert probe and all(w >= 40 for w, _ in probe)
    w0, a = probe[0]
    assert w0 <= 45 and a.entity_id == "a->c" and a.kind == "degradation"
    assert a.suspects[0]["link"] == "a->c"


def test_a_probes_own_open_alert_names_its_loss_for_the_pooled_test() -> None:
    # the triangle's probe a->c alerts on its own (no link alert: no link has two probes): while that alert is
    # open its loss counts as named, so the pooled per-link test cannot raise it again once its sums age
    from twinwatch.detectors.twin_detector import TwinDetector

    model = _tri_model()
    rng = np.random.default_rng(21)
    det = TwinDetector(model, alpha=0.01)
    fired = _fired(det, (_window(model, w, rng, loss_ac=0.02 if w >= 40 else 0.0) for w in range(60)))
    assert [a.entity_kind for _, a in fired if a.kpi == "probe_loss"] == ["path"]
    open_probe = [a for a in det.book.open_alerts if a.kpi == "probe_loss"]
    assert [a.entity_id for a in open_probe] == ["a->c"]
    named = det._probe_scan.named()
    assert named[det._probe_pairs.index("a->c")] and named.sum() == 1


def _line_model() -> object:
    """a - b - c - d, 10 Gb/s; probes a->d, b->d and a->c (link b->c crossed by all three, a->b and c->d by two)."""
    return _small_model("line", ("ab", "bc", "cd"), ("ad", "bd", "ac"), 0.002)


def _line_window(model: object, w: int, rng: np.random.Generator, loss_bc: float, probes: bool = True) -> object:
    """One 10 s window of the line: every link's counters at a steady 1 Gb/s, the three probes (none when not
    ``probes``: their collector is silent), ``loss_bc`` silent loss on link b->c (the probes crossing it lose that
    share of their packets)."""
    from twinwatch.twin.snapshot import build_snapshot

    ids, kinds, kpis, vals = [], [], [], []
    for lid in model.link_ids:
        for kpi, v in (("tx_bps", 1e9), ("rx_bps", 1e9), ("tx_pps", 1e9 / 8000), ("rx_pps", 1e9 / 8000)):
            ids.append(lid), kinds.append("link"), kpis.append(kpi), vals.append(v * rng.lognormal(0.0, 0.01))
    for pair in ("a->d", "b->d", "a->c") if probes else ():
        lost = rng.binomial(100, loss_bc)
        for kpi, v in (("loss_ratio", lost / 100), ("delay_s", 0.002 * (3 if pair == "a->d" else 2) + 2e-5)):
            ids.append(pair), kinds.append("path"), kpis.append(kpi), vals.append(v)
    t0 = 1.7e9 + 10.0 * w
    return build_snapshot(model, t0, t0 + 10.0, {"entity_kind": kinds, "entity_id": ids, "kpi": kpis, "value": vals})


def test_probe_loss_pooled_per_link_names_the_link_all_its_probes_cross() -> None:
    # 1 % silent loss on b->c: one packet a window per probe. The three probes crossing it, pooled, show it before
    # any probe alone does; once the evidence has built up, b->c is the one link alerting (a->b and c->d, whose
    # probes cross b->c too, are explained by it; in the first windows chance may favour one of them)
    from twinwatch.detectors.twin_detector import TwinDetector

    model = _line_model()
    onsets = []
    for seed in range(5):
        rng = np.random.default_rng(seed)
        det = TwinDetector(model, alpha=0.01)
        fired = _fired(det, (_line_window(model, w, rng, 0.01 if w >= 60 else 0.0) for w in range(100)))
        links = [(w, a) for w, a in fired if a.kpi == "probe_loss" and a.entity_kind == "link"]
        paths = [w for w, a in fired if a.kpi == "probe_loss" and a.entity_kind == "path"]
        assert links and all(w >= 60 and a.kind == "degradation" for w, a in links)
        assert links[0][0] <= min(paths, default=100)
        open_links = [a for a in det.book.open_alerts if a.kpi == "probe_loss" and a.entity_kind == "link"]
        assert [a.entity_id for a in open_links] == ["b->c"]
        assert "3 probes crossing link b->c" in open_links[0].explanation
        onsets.append(links[0][0] - 60)
    assert np.median(onsets) < 6


def test_a_stopped_loss_resolves_its_alert_and_a_second_fault_on_the_link_raises_a_new_one() -> None:
    # 3 % silent loss on b->c in windows 60-71 and again in 85-94, 13 windows apart (less than the 18-window
    # sums): the link alert resolves within a few windows of each end (its recent windows hold too few of the
    # sums' lost packets for the loss to go on), its sums are spent, and the second fault opens a new alert
    from twinwatch.detectors.twin_detector import TwinDetector

    model = _line_model()
    for seed in range(3):
        rng = np.random.default_rng(seed)
        det = TwinDetector(model, alpha=0.01)
        events = []
        for w in range(130):
            snap = _line_window(model, w, rng, 0.03 if 60 <= w < 72 or 85 <= w < 95 else 0.0)
            events += [(w, c.action) for c in det.detect(snap, None).changes
                       if c.alert.kpi == "probe_loss" and c.alert.entity_id == "b->c"]
        fired = [w for w, a in events if a == "firing"]
        resolved = [w for w, a in events if a == "resolved"]
        assert len(fired) == 2 and 60 <= fired[0] <= 63 and 85 <= fired[1] <= 88
        assert len(resolved) == 2 and 72 <= resolved[0] <= 77 and 95 <= resolved[1] <= 100


def test_a_link_that_drops_every_packet_is_named_alone_without_a_crash() -> None:
    # total silent loss on b->c: the pooled p-values underflow to 0.0, which the suspects' scores must survive;
    # the explaining away ranks by their logs (finite), so a->b, whose pool holds the same lossy probes and
    # underflows alike, does not alert beside it
    from twinwatch.detectors.twin_detector import TwinDetector

    model = _line_model()
    rng = np.random.default_rng(0)
    det = TwinDetector(model, alpha=0.01)
    for w in range(60):
        det.detect(_line_window(model, w, rng, 1.0 if w >= 40 else 0.0), None)
    links = {a.entity_id: a for a in det.book.open_alerts if a.kpi == "probe_loss" and a.entity_kind == "link"}
    assert set(links) == {"b->c"}
    sus = links["b->c"].suspects
    assert sus[0] == {"link": "b->c", "score": 1.0}
    assert [d["link"] for d in sus[1:]] == ["a->b", "c->d"]  # the neighbours, which share some of its probes
    assert links["b->c"].p_value == 0.0 and "(p<1e-300)" in links["b->c"].explanation  # not "p=0"
    assert all(0.0 < d["score"] < 1.0 for d in sus[1:]), sus  # their logs are finite, and less extreme


def test_a_window_without_probe_results_while_a_link_loss_alert_is_open_does_not_crash() -> None:
    # the probe collector goes silent while b->c's pooled alert is open: no probe crosses any link that window, the
    # per-link sums are empty (NumPy's weighted bincount of nothing is int64) and the stop test divided into them
    # (found by mutating a replay's messages: the pipeline's window guard counted it as a failed window)
    from twinwatch.detectors.twin_detector import TwinDetector

    model = _line_model()
    det = TwinDetector(model, alpha=0.01)
    rng = np.random.default_rng(4)
    snaps = [_line_window(model, w, rng, 0.05 if w >= 50 else 0.0, probes=w != 70) for w in range(75)]
    for snap in snaps[:70]:
        det.detect(snap, None)
    assert any(a.kpi == "probe_loss" and a.entity_kind == "link" for a in det.book.open_alerts)
    det.detect(snaps[70], None)  # no probe result: raised numpy's UFuncTypeError before
    for snap in snaps[71:]:
        det.detect(snap, None)
    assert any(a.kpi == "probe_loss" and a.entity_kind == "link" for a in det.book.open_alerts)


def test_a_restart_keeps_the_pooled_tests_memory_and_the_detector_continues_exactly() -> None:
    # 1 % silent loss on b->c for windows 60-79; the service restarts at window 82, while the loss the link alert
    # named still sits in the scan's sums: the restored detector holds the same probes as explained and raises
    # exactly the alerts the uninterrupted one does
    from twinwatch.detectors.twin_detector import TwinDetector
    from twinwatch.stream.state import _detector_parts, _detector_restore

    model = _line_model()
    rng = np.random.default_rng(2)
    snaps = [_line_window(model, w, rng, 0.01 if 60 <= w < 80 else 0.0) for w in range(110)]
    ref = TwinDetector(model, alpha=0.01)
    before = _fired(ref, snaps[:82])
    assert any(a.kpi == "probe_loss" and a.entity_kind == "link" for _, a in before)
    assert ref._probe_scan.named().any()
    parts, scalars = _detector_parts(ref)
    back = TwinDetector(model, alpha=0.01)
    _detector_restore(back, parts, scalars, "test")
    assert np.array_equal(back._probe_scan.named(), ref._probe_scan.named())
    got, want = _fired(back, snaps[82:]), _fired(ref, snaps[82:])
    assert [(w, a.id) for w, a in got] == [(w, a.id) for w, a in want]
    assert sorted(a.id for a in back.book.open_alerts) == sorted(a.id for a in ref.book.open_alerts)


def test_probe_loss_pooled_per_link_is_quiet_on_healthy_probes() -> None:
    from twinwatch.detectors.twin_detector import TwinDetector

    model = _line_model()
    rng = np.random.default_rng(3)
    det = TwinDetector(model, alpha=0.01)
    assert not [a for _, a in _fired(det, (_line_window(model, w, rng, 2e-4) for w in range(400)))
                if a.kpi == "probe_loss"]


def _idle_prediction(snap: object, trend: float, extra_delay_s: float = 0.0) -> object:
    """What a twin expects of idle paths: queueing of a few µs and loss around 1e-5, both falling as ``trend``
    goes from 0 to 1 (traffic ebbing through the night)."""
    from twinwatch.twin.kpis import Prediction
    from twinwatch.twin.models.bounds import path_delay_floor

    sc = snap.scenario
    pred = Prediction.empty(n_paths=sc.n_paths, n_links=sc.n_links)
    pred.path_delay_s[:] = path_delay_floor(sc) + 3e-6 * (1.0 - trend) + 1e-7 + extra_delay_s
    pred.path_loss_ratio[:] = 5e-5 * (1.0 - trend) + 1e-6
    return pred


@pytest.mark.parametrize(("resolution_s", "propagation_share"), [(1e-5, 0.0), (1e-6, 5e-4), (0.0, 0.0)])
def test_probes_on_idle_paths_do_not_alarm_when_only_the_twins_tiny_expectation_moves(
        resolution_s: float, propagation_share: float) -> None:
    # observed: zero loss of 100 probe packets; delay at propagation to within 0.1 µs, once 2 µs more for
    # three windows (a probe packet queued behind another); the twin's expectation falls by microseconds and
    # 1e-5 over the hours. None of it is measurable by a 10 packet/s probe: no alarm (the paths are 5-10 ms long:
    # with a 1-µs resolution the floor at 5e-4 of the propagation delay is 2.5-5 µs). With both floors off, the
    # ratio of two sub-microsecond queueing delays jumps by 20x on a 2 µs blip: alarms.
    from twinwatch.detectors.twin_detector import TwinDetector

    model = _tri_model()
    rng = np.random.default_rng(5)
    det = TwinDetector(model, alpha=0.01, delay_resolution_s=resolution_s, propagation_resolution=propagation_share)
    fired = []
    n = 400
    for w in range(n):
        snap = _window(model, w, rng, queueing_s=(2e-6 if w in (350, 351, 352) else 1e-7, 3e-8))
        fired += [c.alert for c in det.detect(snap, _idle_prediction(snap, w / n)).changes if c.action == "firing"]
    paths = {(a.kpi, a.entity_id) for a in fired if a.entity_kind == "path"}
    assert not {k for k in paths if k[0] == "loss_ratio"}
    if resolution_s >= 1e-5 or propagation_share:
        assert not paths, paths
    else:
        assert {k for k in paths if k[0] == "delay_s"}


def _delay_firings(seed: int, queueing_s: Callable[[int], tuple[float, float]],
                   predict: Callable[[object, int], tuple[object, object | None]], n: int = 180) -> list[int]:
    """Windows in which a ``delay_s`` alert fires on the triangle: ``queueing_s(w)`` the probes' queueing (mean,
    sd, seconds) and ``predict(snapshot, w)`` the twin's ``(prediction, upper)`` of window ``w``."""
    from twinwatch.detectors.twin_detector import TwinDetector

    model = _tri_model()
    rng = np.random.default_rng(seed)
    det = TwinDetector(model, alpha=0.01)
    hit = []
    for w in range(n):
        snap = _window(model, w, rng, queueing_s=queueing_s(w))
        hit += [w for c in det.detect(snap, *predict(snap, w)).changes
                if c.action == "firing" and c.alert.kpi == "delay_s"]
    return hit


def test_a_queueing_change_above_the_resolution_still_fires() -> None:
    hit = _delay_firings(6, lambda w: (2e-3 if w >= 160 else 1e-7, 3e-8),
                         lambda snap, w: (_idle_prediction(snap, 0.0), None))
    assert hit and all(w >= 160 for w in hit) and hit[0] <= 162


@pytest.mark.parametrize("missing", [True, False])
def test_paths_across_a_link_whose_counters_went_missing_are_not_judged_that_window(missing: bool) -> None:
    # windows 160-163: every probe measures 2 ms of queueing the twin does not expect; link a->c's counters are
    # missing in those windows (a silent device, a late batch), so the matrix there is the prior's and the twin's
    # expectation of the path across it is not to be trusted: that path is neither tested nor learned from,
    # the two others fire. A link that never reports is no gap: with a->c silent from the start it is judged.
    from twinwatch.detectors.twin_detector import TwinDetector

    model = _tri_model()
    rng = np.random.default_rng(31)
    det = TwinDetector(model, alpha=0.01)
    hit: list[tuple[int, str]] = []
    for w in range(170):
        bad = 160 <= w < 164
        snap = _window(model, w, rng, queueing_s=(2e-3, 1e-5) if bad else (1e-4, 1e-5),
                       missing=("a->c",) if missing and bad else ())
        hit += [(w, c.alert.entity_id) for c in det.detect(snap, _queueing_prediction(snap, 1e-4)).changes
                if c.action == "firing" and c.alert.kpi == "delay_s"]
    assert {p for _, p in hit} == ({"a->b", "b->c"} if missing else {"a->b", "b->c", "a->c"})
    assert all(160 <= w < 164 for w, _ in hit)


def test_a_link_that_never_reports_counters_leaves_its_paths_judged() -> None:
    from twinwatch.detectors.twin_detector import TwinDetector

    model = _tri_model()
    rng = np.random.default_rng(32)
    det = TwinDetector(model, alpha=0.01)
    hit = []
    for w in range(170):
        snap = _window(model, w, rng, queueing_s=(2e-3, 1e-5) if w >= 160 else (1e-4, 1e-5), missing=("a->c",))
        hit += [(w, c.alert.entity_id) for c in det.detect(snap, _queueing_prediction(snap, 1e-4)).changes
                if c.action == "firing" and c.alert.kpi == "delay_s"]
    assert "a->c" in {p for _, p in hit} and all(w >= 160 for w, _ in hit)


def _queueing_prediction(snap: object, queueing_s: float) -> object:
    """A twin's expectation: every path's delay at its floor plus ``queueing_s`` of queueing, no loss."""
    from twinwatch.twin.kpis import Prediction
    from twinwatch.twin.models.bounds import path_delay_floor

    sc = snap.scenario
    pred = Prediction.empty(n_paths=sc.n_paths, n_links=sc.n_links)
    pred.path_delay_s[:] = path_delay_floor(sc) + queueing_s
    pred.path_loss_ratio[:] = 0.0
    return pred


@pytest.mark.parametrize("with_range", [True, False])
def test_a_window_whose_sampled_traffic_leaves_the_expectation_uncertain_is_judged_on_that_range(
        with_range: bool) -> None:
    # the probes measure 100 µs of queueing throughout; the twin expects it, except in windows 160-165, where the
    # matrix (from a few sampled packets) says the traffic is lighter and the twin expects 30 µs; at the matrix's
    # upper estimate it expects 120 µs. Judged on that range the windows are unremarkable; without it (the twin
    # asked once) they are 12 sigma off and fire
    def predict(snap: object, w: int) -> tuple[object, object | None]:
        low = 160 <= w < 166
        upper = _queueing_prediction(snap, 1.2e-4 if low else 1.02e-4) if with_range else None
        return _queueing_prediction(snap, 3e-5 if low else 1e-4), upper

    hit = _delay_firings(8, lambda w: (1e-4, 1e-5), predict)
    if with_range:
        assert not hit
    else:
        assert hit and all(160 <= w < 168 for w in hit)


def test_a_real_queueing_change_fires_when_the_traffic_is_uncertain_but_not_that_uncertain() -> None:
    # same probes, 2 ms of queueing from window 160 on; the twin's range under the matrix's uncertainty is 100 ->
    # 150 µs: the range floors the scale (log 1.5 = 0.4) but 2 ms is log 20 = 3 above the expectation
    hit = _delay_firings(9, lambda w: (2e-3 if w >= 160 else 1e-4, 1e-5),
                         lambda snap, w: (_queueing_prediction(snap, 1e-4), _queueing_prediction(snap, 1.5e-4)))
    assert hit and all(w >= 160 for w in hit) and hit[0] <= 162


def test_surge_towards_one_node_is_a_traffic_anomaly_naming_it() -> None:
    # the matrix absorbs the surge (no residual against the twin); the per-destination test sees it
    from twinwatch.detectors.twin_detector import TwinDetector

    model = _tri_model()
    rng = np.random.default_rng(22)
    det = TwinDetector(model, alpha=0.01)
    fired = _fired(det, (_window(model, w, rng, surge_c=4.0 if 50 <= w < 56 else 1.0) for w in range(70)))
    ingress = [(w, a) for w, a in fired if a.kpi == "ingress_bps"]
    assert ingress and all(50 <= w <= 57 for w, _ in ingress)
    assert {a.entity_id for _, a in ingress} == {"c"}
    assert all(a.kind == "traffic_anomaly" and not a.pages for _, a in ingress)
    assert {s["link"] for s in ingress[0][1].suspects} <= {"a->c", "b->c"}  # the links into c


@pytest.mark.parametrize("hold", [6, 0])
def test_matrix_tests_are_held_while_a_network_fault_is_open(hold: int) -> None:
    """A network fault (probe loss on a->c from window 40) makes the window's counter-estimated matrix
    suspect: the per-destination test then fires nothing new (held), whereas with ``traffic_hold_windows=0``
    the same surge towards c (windows 50-55) raises its traffic anomaly. The degradation itself fires either way."""
    from twinwatch.detectors.twin_detector import TwinDetector

    model = _tri_model()
    rng = np.random.default_rng(22)
    det = TwinDetector(model, alpha=0.01, traffic_hold_windows=hold)
    fired = _fired(det, (_window(model, w, rng, surge_c=4.0 if 50 <= w < 56 else 1.0,
                                 loss_ac=0.3 if w >= 40 else 0.0) for w in range(70)))
    assert any(a.kpi == "probe_loss" and a.kind == "degradation" and w < 50 for w, a in fired)
    ingress = [w for w, a in fired if a.kpi == "ingress_bps"]
    if hold:
        assert ingress == []
    else:
        assert ingress and all(50 <= w <= 57 for w in ingress)


@pytest.mark.parametrize("hold", [1, 0])
def test_a_link_reported_down_holds_the_node_tests_near_it(hold: int) -> None:
    """A link the telemetry reports down (a->b, windows 48-57) reroutes traffic, so the counter-estimated totals of the
    routers near it move as under a network fault: its ``link_state`` alert holds their per-node traffic tests while
    it is open (on the triangle every router is within one hop), and the surge towards c in those windows (50-55)
    raises no traffic anomaly; with ``traffic_hold_windows=0`` it does. The ``link_state`` alert fires either way."""
    from twinwatch.detectors.twin_detector import TwinDetector

    model = _tri_model()
    rng = np.random.default_rng(22)
    det = TwinDetector(model, alpha=0.01, traffic_hold_windows=hold)
    fired = _fired(det, (_window(model, w, rng, surge_c=4.0 if 50 <= w < 56 else 1.0,
                                 down=("a->b",) if 48 <= w < 58 else ()) for w in range(70)))
    assert [(w, a.entity_id, a.kind) for w, a in fired if a.kpi == "oper_status"] == [(48, "a->b", "link_state")]
    ingress = [w for w, a in fired if a.kpi == "ingress_bps"]
    if hold:
        assert ingress == []
    else:
        assert ingress and all(50 <= w <= 57 for w in ingress)


def test_the_routers_held_by_a_link_down_are_its_ends_and_their_neighbours() -> None:
    """On a line a-b-c-d-e, the link b->c reported down holds a, b, c and d (its ends and their neighbours), not e;
    nothing is held with no link down, and a link down long past ``traffic_hold_max_windows`` holds nothing."""
    from twinwatch.detectors.alerts import Alert
    from twinwatch.detectors.twin_detector import TwinDetector
    from twinwatch.twin.netmodel import model_from_dict

    doc = {"version": 1, "name": "line", "devices": [{"name": n} for n in "abcde"],
           "links": [{"a": {"device": x, "interface": f"{x}-{y}"}, "b": {"device": y, "interface": f"{y}-{x}"},
                      "capacity_bps": "10G", "delay_s": 0.001} for x, y in ("ab", "bc", "cd", "de")]}
    model = model_from_dict(doc, source="line")
    det = TwinDetector(model, alpha=0.01)
    assert det._near_links_down([], recent=0.0) is None

    def down(start: float) -> Alert:
        return Alert.open(network="line", entity_kind="link", entity_id="b->c", kpi="oper_status", start=start,
                          kind="link_state", observed=0.0, expected=1.0)

    near = det._near_links_down([down(100.0)], recent=0.0)
    assert dict(zip(model.node_names, near.tolist())) == {"a": True, "b": True, "c": True, "d": True, "e": False}
    det.book.fire([down(100.0)])
    assert det._near_links_down([], recent=50.0).tolist() == near.tolist()
    assert det._near_links_down([], recent=500.0) is None


@pytest.mark.parametrize("hold", [1, 0])
def test_link_utilisation_above_the_twin_is_held_like_the_other_traffic_tests(hold: int) -> None:
    """Utilisation above the twin is a traffic anomaly (traffic the twin's matrix does not have); while a network
    fault is open (probe loss on a->c from window 140) traffic seen off the model's routes is more likely that
    fault's side effect (a link down, an unknown metric), so the test is held as the per-node ones are: the surge
    towards c (windows 150-155, links into c well above what the twin expects) fires no utilisation alert then, and
    does with ``traffic_hold_windows=0``. The degradation fires either way. (The pool of six links needs some 150
    windows to resolve p-values of a few 1e-3.)"""
    from twinwatch.detectors.twin_detector import TwinDetector

    model = _tri_model()
    rng = np.random.default_rng(22)
    base = {(0, 1): 1e9, (0, 2): 2e9, (1, 2): 1e9, (2, 0): 1.5e9, (1, 0): 5e8, (2, 1): 8e8}  # as _window's
    util = np.array([base[(int(s), int(d))] for s, d in zip(model.link_src, model.link_dst)]) / model.link_capacity_bps
    det = TwinDetector(model, alpha=0.01, traffic_hold_windows=hold)
    fired: list[tuple[int, Alert]] = []
    for w in range(170):
        snap = _window(model, w, rng, surge_c=4.0 if 150 <= w < 156 else 1.0, loss_ac=0.3 if w >= 140 else 0.0)
        pred = _queueing_prediction(snap, 2e-5)
        pred.link_utilization[:] = util  # the twin expects the usual loads
        pred.link_loss_ratio[:] = 0.0
        fired += [(w, c.alert) for c in det.detect(snap, pred).changes if c.action == "firing"]
    assert any(a.kpi == "probe_loss" and a.kind == "degradation" and w < 150 for w, a in fired)
    utilisation = [(w, a) for w, a in fired if a.kpi == "utilization"]
    if hold:
        assert utilisation == []
    else:
        assert utilisation and all(150 <= w <= 157 for w, _ in utilisation)
        assert {a.entity_id for _, a in utilisation} <= {"a->c", "b->c"}
        assert all(a.kind == "traffic_anomaly" and not a.pages for _, a in utilisation)


def test_matrix_tests_resume_once_the_hold_has_passed() -> None:
    """A fault that ended long before the surge does not hold it: the surge fires as without any fault."""
    from twinwatch.detectors.twin_detector import TwinDetector

    model = _tri_model()
    rng = np.random.default_rng(22)
    det = TwinDetector(model, alpha=0.01, traffic_hold_windows=6)
    with pytest.raises(ValueError, match="traffic_hold_windows"):
        TwinDetector(model, traffic_hold_windows=-1)
    fired = _fired(det, (_window(model, w, rng, surge_c=4.0 if 80 <= w < 86 else 1.0,
                                 loss_ac=0.3 if 30 <= w < 40 else 0.0) for w in range(100)))
    resolved_by = max(w for w, a in fired if a.kpi == "probe_loss")
    assert resolved_by < 80
    ingress = [(w, a) for w, a in fired if a.kpi == "ingress_bps"]
    assert ingress and all(80 <= w <= 87 for w, _ in ingress) and {a.entity_id for _, a in ingress} == {"c"}


@pytest.mark.parametrize("max_windows", [30, 10_000])
def test_a_fault_left_open_for_long_stops_holding_the_matrix_tests(max_windows: int) -> None:
    """A known, unfixed fault (probe loss on a->c from window 40 to the end, its alert open throughout) must not
    blind the traffic tests for good: past ``traffic_hold_max_windows`` after its onset the surge towards c
    (windows 100-105) fires again; with an unbounded hold it stays held."""
    from twinwatch.detectors.twin_detector import TwinDetector

    model = _tri_model()
    rng = np.random.default_rng(22)
    det = TwinDetector(model, alpha=0.01, traffic_hold_windows=1, traffic_hold_max_windows=max_windows)
    with pytest.raises(ValueError, match="traffic_hold_max_windows"):
        TwinDetector(model, traffic_hold_max_windows=-1)
    fired = _fired(det, (_window(model, w, rng, surge_c=4.0 if 100 <= w < 106 else 1.0,
                                 loss_ac=0.3 if w >= 40 else 0.0) for w in range(115)))
    onset = [w for w, a in fired if a.kpi == "probe_loss"]
    assert onset and onset[0] < 50
    assert det.book.open_alerts and any(a.kpi == "probe_loss" for a in det.book.open_alerts)  # still open
    ingress = [w for w, a in fired if a.kpi == "ingress_bps"]
    if max_windows == 30:
        assert ingress and all(100 <= w <= 107 for w in ingress)
    else:
        assert ingress == []


def test_router_whose_flow_export_misses_traffic_is_a_traffic_anomaly() -> None:
    # one window in six has rows measured from flow records (a 60 s export); from window 96 router b's
    # records carry 30 % of what its counters account for, on flow windows only
    from twinwatch.detectors.twin_detector import TwinDetector

    model = _tri_model()
    rng = np.random.default_rng(23)
    det = TwinDetector(model, alpha=0.01)
    fired = _fired(det, (_window(model, w, rng, flows=w % 6 == 5, export_b=0.3 if w >= 96 and w % 6 == 5 else 1.0)
                         for w in range(120)))
    export = [(w, a) for w, a in fired if a.kpi == "flow_export_bps"]
    assert [(w, a.entity_id) for w, a in export] == [(101, "b")]  # the first flow window after the change
    a = export[0][1]
    assert a.kind == "traffic_anomaly" and not a.pages and a.observed < 0.5 * a.expected
    assert {s["link"] for s in a.suspects} <= {"b->a", "b->c"}  # b's links out


def _flow_window(model: object, w: int, rng: np.random.Generator, *, moved: float, flows: bool = True,
                 surge: float = 1.0, sampling: int = 1, no_tx_from: int | None = None) -> object:
    """A 10 s window of the triangle whose matrix comes from flow records (every pair, 1:1 sampled; with
    ``flows=False`` from the counters alone, as between two flow exports); a fraction ``moved`` of a -> c
    traffic actually goes a -> b -> c (a metric the model does not have); a -> c carries ``surge`` times
    its usual rate; ``sampling`` > 1: each pair's record is one packet sampled 1:``sampling`` (a sampling error
    as large as the rate itself); node ``no_tx_from`` reports no transmit counter (only its neighbours'
    receive counters see its links)."""
    from twinwatch.twin.snapshot import build_snapshot

    t0 = 1.7e9 + 10.0 * w
    pairs = [(0, 1, 1e9), (0, 2, 2e9), (1, 2, 1e9), (2, 0, 1.5e9), (1, 0, 5e8), (2, 1, 8e8)]
    rate = {(s, d): r * rng.lognormal(0.0, 0.01) * (surge if (s, d) == (0, 2) else 1.0) for s, d, r in pairs}
    load = {(s, d): r for (s, d), r in rate.items()}  # every pair on its direct link in the model
    load[(0, 2)] -= moved * rate[(0, 2)]
    load[(0, 1)] += moved * rate[(0, 2)]
    load[(1, 2)] += moved * rate[(0, 2)]
    ids, kpis, vals = [], [], []
    for lid, (s, d) in zip(model.link_ids, zip(model.link_src, model.link_dst)):
        for kpi, v in (("tx_bps", load[(s, d)]), ("rx_bps", load[(s, d)])):
            if not (kpi == "tx_bps" and s == no_tx_from):
                ids.append(lid), kpis.append(kpi), vals.append(v)
    rows = {"entity_kind": ["link"] * len(ids), "entity_id": ids, "kpi": kpis, "value": vals}
    src, dst = np.array([p[0] for p in pairs]), np.array([p[1] for p in pairs])
    by = np.array([rate[(s, d)] * 10.0 / 8.0 for s, d, _ in pairs])
    if not flows:
        return build_snapshot(model, t0, t0 + 10.0, rows)
    recs = {"src_node": src, "dst_node": dst, "bytes_count": by / sampling,
            "packets_count": by / 1000.0 if sampling == 1 else np.ones(6),
            "flow_start_s": np.full(6, t0), "flow_end_s": np.full(6, t0 + 10.0),
            "sampling_rate": np.full(6, sampling, dtype=np.int64), "dscp": np.zeros(6, dtype=np.uint8),
            "exporter_node": src}
    return build_snapshot(model, t0, t0 + 10.0, rows, flows=recs, flow_exporters=np.ones(3, bool))


@pytest.mark.parametrize("carry", [3, 0])
def test_a_routing_change_between_two_flow_exports_is_tested_against_the_last_flows(carry: int) -> None:
    """Flow records every 6th window (a 60 s export); 60 % of a -> c takes b's detour in windows 61-63 only,
    between the exports of windows 60 and 66. The last export's loads, carried for 3 windows, catch it on the
    counters (in its second window: the carried test takes the 2-of-3 persistence); flow windows alone
    (carry 0) never see it."""
    from twinwatch.detectors.twin_detector import TwinDetector

    model = _tri_model()
    rng = np.random.default_rng(25)
    det = TwinDetector(model, alpha=0.01, routed_carry_windows=carry)
    snaps = [_flow_window(model, w, rng, moved=0.6 if 61 <= w <= 63 else 0.0, flows=w % 6 == 0) for w in range(72)]
    assert {s.tm_source for s in snaps[60:64]} == {"flows", "counters"}
    routed = [(w, a) for w, a in _fired(det, snaps) if a.kpi == "routed_bps"]
    if carry:
        assert [(w, a.entity_id) for w, a in routed] == [(62, "a->c")]  # its second window: 2-of-3 persistence
        assert "the flow records of 2 window(s) ago" in routed[0][1].explanation
    else:
        assert routed == []


@pytest.mark.parametrize("share", [0.5, 0.0])
def test_a_surge_that_ends_after_the_export_is_not_a_routing_change(share: float) -> None:
    """a -> c carries 3x in the flow window 60 only; between the exports its counters read a third of what
    the carried flow records put there, and no other link gained it: traffic fell, it did not move. Nothing
    fires (with the conservation check off, ``reroute_share=0``, the carried test calls it a routing change)."""
    from twinwatch.detectors.twin_detector import TwinDetector

    model = _tri_model()
    rng = np.random.default_rng(27)
    det = TwinDetector(model, alpha=0.01, reroute_share=share)
    snaps = [_flow_window(model, w, rng, moved=0.0, surge=3.0 if w == 60 else 1.0, flows=w % 6 == 0)
             for w in range(72)]
    routed = [(w, a.entity_id) for w, a in _fired(det, snaps) if a.kpi == "routed_bps"]
    assert routed == ([] if share else [(62, "a->c")])


def test_a_one_window_dip_does_not_fire_the_carried_routing_test() -> None:
    """A single window reading low on a->c (a counter restarting mid-window reads this way) is not a routing
    change: with the carried test's persistence nothing fires; flow windows alone, decided window by window,
    fire on it."""
    from twinwatch.detectors.twin_detector import TwinDetector

    model = _tri_model()
    for carry, expected in ((3, []), (0, [(30, "a->c")])):
        rng = np.random.default_rng(26)
        det = TwinDetector(model, alpha=0.01, routed_carry_windows=carry)
        snaps = [_flow_window(model, w, rng, moved=0.6 if w == 30 else 0.0) for w in range(40)]
        assert [(w, a.entity_id) for w, a in _fired(det, snaps) if a.kpi == "routed_bps"] == expected, carry


def test_traffic_below_what_the_flows_routed_on_the_model_is_a_degradation_of_that_link() -> None:
    # flows say 2 Gb/s a -> c, the model routes it on a->c, the counters see 60 % of it on b's detour
    from twinwatch.detectors.twin_detector import TwinDetector

    model = _tri_model()
    rng = np.random.default_rng(24)
    det = TwinDetector(model, alpha=0.01)
    snaps = [_flow_window(model, w, rng, moved=0.6 if w >= 30 else 0.0) for w in range(40)]
    assert {s.tm_source for s in snaps} == {"flows"}
    fired = _fired(det, snaps)
    routed = [(w, a) for w, a in fired if a.kpi == "routed_bps"]
    assert [(w, a.entity_id) for w, a in routed] == [(31, "a->c")]  # its second window: 2-of-3 persistence
    a = routed[0][1]
    assert a.kind == "degradation" and a.suspects[0]["link"] == "a->c"
    assert a.observed == pytest.approx(0.4 * a.expected, rel=0.05)


def test_a_link_whose_sender_reports_no_rate_is_read_off_the_far_end() -> None:
    """The detour of the test above while a's transmit counters give no rate (a legacy 32-bit poller on fast
    ports: ``counter32_ambiguous``): c's and b's receive counters carry a's links, and the same alert fires."""
    from twinwatch.detectors.twin_detector import TwinDetector

    model = _tri_model()
    rng = np.random.default_rng(24)
    det = TwinDetector(model, alpha=0.01)
    snaps = [_flow_window(model, w, rng, moved=0.6 if w >= 30 else 0.0, no_tx_from=0) for w in range(40)]
    assert np.isnan(snaps[0].link_kpi("tx_bps")[0]) and np.isfinite(snaps[0].link_load_bps()[0])
    routed = [(w, a.entity_id) for w, a in _fired(det, snaps) if a.kpi == "routed_bps"]
    assert routed == [(31, "a->c")]


def test_a_routed_load_from_a_few_sampled_packets_is_judged_on_its_sampling_error() -> None:
    """The detour of the test above, but every pair's flow record is one packet sampled 1:1000: the routed load of
    a->c is uncertain by about itself, so 40 % of it on the counters is within its sampling error and nothing
    fires. Judged on the counters' noise alone (the snapshots' routed-load errors set to zero) the same windows
    fire."""
    import dataclasses

    from twinwatch.detectors.twin_detector import TwinDetector

    model = _tri_model()
    rng = np.random.default_rng(24)
    snaps = [_flow_window(model, w, rng, moved=0.6 if w >= 30 else 0.0, sampling=1000) for w in range(40)]
    assert all(float(s.measured_link_sd_bps.max()) > 1e8 for s in snaps)  # one packet of 1:1000 per pair

    def routed(windows: list) -> list[tuple[int, str]]:
        return [(w, a.entity_id) for w, a in _fired(TwinDetector(model, alpha=0.01), windows) if a.kpi == "routed_bps"]

    assert routed(snaps) == []
    exact = [dataclasses.replace(s, measured_link_sd_bps=np.zeros(model.n_links)) for s in snaps]
    assert routed(exact) == [(31, "a->c")]


@pytest.mark.parametrize("options", [{}, {"dependence": "calibrated", "calibrate_level": True}],
                         ids=["default", "learned"])
def test_new_calibration_state_survives_the_service_state_and_the_detector_continues_exactly(
        options: dict[str, object]) -> None:
    # the learned null of the k-of-m statistic, the window ring and every family's effective number of
    # tests go through the service's state record (stream/state.py) like the calibrators
    from twinwatch.detectors.twin_detector import TwinDetector
    from twinwatch.stream.state import _detector_parts, _detector_restore

    model = _tri_model()
    rng = np.random.default_rng(25)
    snaps = [_window(model, w, rng, loss_ac=0.03 if w >= 45 else 0.0) for w in range(60)]
    ref = TwinDetector(model, alpha=0.05, **options)
    _fired(ref, snaps[:40])
    parts, scalars = _detector_parts(ref)
    assert {"_path.delay_s.history", "_path.delay_s.eff", "_probe_eff"} <= set(parts)
    back = TwinDetector(model, alpha=0.05, **options)
    _detector_restore(back, parts, scalars, "test")
    assert back._path["delay_s"].eff.rho == ref._path["delay_s"].eff.rho
    assert np.array_equal(back._path["delay_s"].history.statistic(), ref._path["delay_s"].history.statistic())
    got, want = _fired(back, snaps[40:]), _fired(ref, snaps[40:])
    assert [(w, a.id) for w, a in got] == [(w, a.id) for w, a in want] and want  # the loss on a->c fires


def test_the_routing_test_waits_out_a_surge_the_last_export_counted() -> None:
    """a -> c carries 3x in windows 58-60, the flow window 60 included: the destination-ingress test opens a
    surge alert on c, and the next windows' counters read a third of what the carried export routed on a->c.
    Even with the conservation check off (``reroute_share=0``) the routing test is held while the surge is
    open and for an export interval plus the carry after it: the surge's aftermath is no routing change."""
    from twinwatch.detectors.twin_detector import TwinDetector

    model = _tri_model()
    rng = np.random.default_rng(27)
    det = TwinDetector(model, alpha=0.01, reroute_share=0.0)
    snaps = [_flow_window(model, w, rng, moved=0.0, surge=3.0 if 58 <= w <= 60 else 1.0, flows=w % 6 == 0)
             for w in range(72)]
    fired = _fired(det, snaps)
    assert [(w, a.entity_id) for w, a in fired if a.kpi == "ingress_bps"] == [(59, "c")]
    assert [a for _, a in fired if a.kpi == "routed_bps"] == []
    # with its pool clean of surges' aftermath, the test reads p-values past the pool's tail off a fitted tail
    from twinwatch.detectors.traffic import NODE_TAIL_FIT

    assert det._link["routed_bps"].cal.tail_fit == NODE_TAIL_FIT


def test_an_exporter_outage_does_not_stretch_the_surge_hold() -> None:
    """Exports every 6th window, none in windows 61-119 (the exporter is down), a surge on a -> c in 58-60. The
    export interval is the median of the recent gaps between flow windows, not the last gap: the outage's
    60-window gap must not hold the routing test through windows 121-123, where 60 % of a -> c takes b's
    detour between the exports of 120 and 126."""
    from twinwatch.detectors.twin_detector import TwinDetector

    model = _tri_model()
    rng = np.random.default_rng(27)
    det = TwinDetector(model, alpha=0.01)
    snaps = [_flow_window(model, w, rng, moved=0.6 if 121 <= w <= 123 else 0.0,
                          surge=3.0 if 58 <= w <= 60 else 1.0, flows=w % 6 == 0 and not 60 < w < 120)
             for w in range(132)]  # fmt: skip
    fired = _fired(det, snaps)
    assert [(w, a.entity_id) for w, a in fired if a.kpi == "routed_bps"] == [(122, "a->c")]
    # (with the last gap as the interval the detour is missed, and b's ingress fires for it instead)
    assert [(w, a.entity_id) for w, a in fired if a.kpi == "ingress_bps"] == [(59, "c")]
    assert det._flow_span == 6


class _NoisyRng:
    """Stands in for the generator of :func:`_flow_window`: each pair's rate moves by ``sd`` in log (a flow export
    whose 1 : N samples hold a few packets per pair)."""

    def __init__(self, seed: int, sd: float) -> None:
        self._rng, self._sd = np.random.default_rng(seed), sd

    def lognormal(self, mean: float, sigma: float) -> float:
        return float(self._rng.lognormal(mean, self._sd))


@pytest.mark.parametrize("edges", [(0.5,), ()])
def test_a_surge_on_counter_windows_is_judged_apart_from_noisy_flow_windows(
        edges: tuple[float, ...], monkeypatch: pytest.MonkeyPatch) -> None:
    """Every 6th window's matrix comes from flow records whose per-pair rates move by ±50 % in log (few sampled
    packets); the others are fitted to steady counters. a -> c carries 1.5 times its rate in windows 97-101 (counter
    windows; c receives a third more): judged against the counter windows' own scale (Mondrian by the matrix's
    source, the default) the surge towards c fires in its second window (2-of-3 persistence); one scale for both
    sources (no classes) lets the flow windows' noise hide it. The routing test runs on flow windows only here (its
    loads carried from a noisy export would test that export, not the surge)."""
    from twinwatch.detectors import twin_detector as tdm

    monkeypatch.setattr(tdm, "INGRESS_SOURCE_EDGES", edges)
    model = _tri_model()
    rng, noisy = np.random.default_rng(26), _NoisyRng(27, 0.5)
    snaps = [_flow_window(model, w, noisy if w % 6 == 0 else rng, moved=0.0, flows=w % 6 == 0,
                          surge=1.5 if 97 <= w <= 101 else 1.0) for w in range(120)]
    det = tdm.TwinDetector(model, alpha=0.01, routed_carry_windows=0)
    ingress = [(w, a.entity_id) for w, a in _fired(det, snaps) if a.kpi == "ingress_bps"]
    if edges:
        assert ingress == [(98, "c")]
    else:
        assert not any(97 <= w <= 102 for w, _ in ingress)


def test_a_state_saved_before_the_ingress_classes_restores_and_runs(monkeypatch: pytest.MonkeyPatch) -> None:
    """A destination-ingress calibrator saved by a build with one class is restored as it was (one class) and this
    build's detector keeps testing flow and counter windows with it (``_step`` takes its last class)."""
    from twinwatch.detectors import twin_detector as tdm
    from twinwatch.stream.state import _detector_parts, _detector_restore

    model = _tri_model()
    rng = np.random.default_rng(28)
    snaps = [_flow_window(model, w, rng, moved=0.0, flows=w % 6 == 0) for w in range(40)]
    monkeypatch.setattr(tdm, "INGRESS_SOURCE_EDGES", ())
    old = tdm.TwinDetector(model, alpha=0.01)
    for snap in snaps[:20]:
        old.detect(snap, None)
    parts, scalars = _detector_parts(old)
    monkeypatch.setattr(tdm, "INGRESS_SOURCE_EDGES", (0.5,))
    new = tdm.TwinDetector(model, alpha=0.01)
    assert new._node["ingress_bps"].cal.n_regimes == 2
    _detector_restore(new, parts, scalars, "test")
    assert new._node["ingress_bps"].cal.n_regimes == 1
    assert not [a for w, a in _fired(new, snaps[20:]) if a.kpi == "ingress_bps"]
    assert new.windows == 40


def test_the_queueing_floor_is_the_coarser_of_the_resolution_and_a_share_of_the_propagation_delay() -> None:
    """The probes' queueing on the triangle's 5-ms paths rises from 1 to 2.4 µs, under 5e-4 of their propagation
    delay (2.5 µs): with that share no delay alert fires; with the share at 0 and a 1-µs resolution the same
    sustained rise fires."""
    hits = {}
    for share in (5e-4, 0.0):
        from twinwatch.detectors.twin_detector import TwinDetector

        model = _tri_model()
        rng = np.random.default_rng(7)
        det = TwinDetector(model, alpha=0.01, delay_resolution_s=1e-6, propagation_resolution=share)
        fired = []
        for w in range(220):
            snap = _window(model, w, rng, queueing_s=(2.4e-6 if w >= 160 else 1e-6, 5e-8))
            fired += [a for c in det.detect(snap, _idle_prediction(snap, 0.0)).changes
                      if c.action == "firing" and (a := c.alert).kpi == "delay_s"]
        hits[share] = fired
    assert not hits[5e-4]
    assert hits[0.0]


@pytest.mark.slow
def test_a_router_whose_flow_export_stops_is_named_and_its_neighbours_are_not_blamed(tmp_path: Path) -> None:
    """NYCMng's flow records vanish for 10 minutes while its counters go on: a ``traffic_anomaly`` on
    ``flow_export_bps`` names it at its second export missing and resolves when its records return; no traffic
    alert names another router (its traffic, which the counter-fitted matrix moves onto its neighbours, must not
    be blamed on them), during the outage or after it."""
    from tests.unit.detectors._testbed_replay import replay_testbed
    from twinwatch.detectors.twin_detector import EXPORT_ESTABLISHED
    from twinwatch.twin.testbed.faults import Fault
    from twinwatch.twin.testbed.run import TestbedConfig

    plan = [Fault(kind="unmonitored_traffic", start_s=900.0, end_s=1500.0, entities=("NYCMng",))]
    out, t0 = replay_testbed(tmp_path, plan, TestbedConfig(duration_s=2100.0, window_s=10.0, seed=21,
                                                           malformed_fraction=0.0))
    traffic = [(c.action, c.alert) for c in out.changes if c.alert.kind == "traffic_anomaly"]
    assert {a.entity_id for _, a in traffic} == {"NYCMng"}
    (fired,) = [a for action, a in traffic if action == "firing"]
    assert fired.kpi == "flow_export_bps" and fired.observed == 0.0 and "exported no flow records" in fired.explanation
    assert t0 + 900.0 < fired.start <= t0 + 900.0 + 2 * 60.0 + 10.0  # the second export missing (60 s exports)
    (resolved,) = [a for action, a in traffic if action == "resolved"]
    assert resolved.id == fired.id and resolved.end <= t0 + 1500.0 + 60.0 + 10.0
    assert EXPORT_ESTABLISHED >= 2


def test_the_flow_exporters_memory_is_part_of_the_detectors_state() -> None:
    from twinwatch.stream.state import _detector_parts, _detector_restore
    from twinwatch.twin.netmodel import load_network

    m = load_network("abilene")
    det = TwinDetector(m, alpha=0.01)
    det._exports, det._export_missing = {"NYCMng": 7, "CHINng": 3}, {"NYCMng": 2}
    parts, scalars = _detector_parts(det)
    fresh = TwinDetector(m, alpha=0.01)
    _detector_restore(fresh, parts, scalars, "test")
    assert (fresh._exports, fresh._export_missing) == ({"NYCMng": 7, "CHINng": 3}, {"NYCMng": 2})
