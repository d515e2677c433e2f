"""Fault plans and the labels they produce."""

from __future__ import annotations

import itertools
from pathlib import Path

import orjson
import pytest

from twinwatch.twin.testbed.faults import (
    BENIGN_KINDS,
    FAULT_KINDS,
    Fault,
    FaultPlanError,
    dump_labels,
    load_plan,
    random_plan,
)

LINKS = ["a->b", "b->a", "b->c", "c->b", "c->a", "a->c"]
NODES = ["a", "b", "c"]


def test_random_plan_covers_every_kind_without_overlap_and_is_deterministic() -> None:
    plan = random_plan(LINKS, NODES, duration_s=86400.0, window_s=10.0, n_faults=14, seed=5)
    assert {f.kind for f in plan if not f.benign} == set(FAULT_KINDS)
    assert any(f.benign for f in plan)
    assert all(a.end_s <= b.start_s for a, b in itertools.pairwise(plan))
    assert all(f.start_s % 10.0 == 0 and f.end_s % 10.0 == 0 for f in plan)
    assert plan == random_plan(LINKS, NODES, duration_s=86400.0, window_s=10.0, n_faults=14, seed=5)
    assert plan != random_plan(LINKS, NODES, duration_s=86400.0, window_s=10.0, n_faults=14, seed=6)


def test_too_many_faults_for_the_run_is_a_clear_error() -> None:
    with pytest.raises(FaultPlanError, match="do not fit"):
        random_plan(LINKS, NODES, duration_s=60.0, window_s=10.0, n_faults=10, seed=1)


def test_labels_round_trip_and_carry_the_contract_fields(tmp_path: Path) -> None:
    plan = random_plan(LINKS, NODES, duration_s=7200.0, window_s=10.0, n_faults=3, seed=2)
    n = dump_labels(plan, tmp_path / "labels.jsonl", t0_s=1_700_000_000.0)
    rows = [orjson.loads(line) for line in (tmp_path / "labels.jsonl").read_bytes().splitlines()]
    assert n == len(rows) == len(plan)
    for f, row in zip(plan, rows):
        assert set(row) >= {"id", "kind", "benign", "start", "end", "entities", "magnitude", "expected_effect"}
        assert row["start"] == f.start_s + 1_700_000_000.0
        assert row["benign"] == (row["kind"] in BENIGN_KINDS)
    (tmp_path / "plan.jsonl").write_bytes(b"\n".join(orjson.dumps(f.to_dict()) for f in plan))
    assert load_plan(tmp_path / "plan.jsonl", LINKS, NODES) == plan


@pytest.mark.parametrize(
    ("row", "match"),
    [
        ({"kind": "meteor", "start_s": 0, "end_s": 10, "entities": []}, "unknown fault kind"),
        ({"kind": "grey_loss", "start_s": 10, "end_s": 10, "entities": ["a->b"]}, "start < end"),
        ({"kind": "grey_loss", "start_s": 0, "end_s": 10, "entities": ["x->y"]}, "unknown link 'x->y'"),
        ({"kind": "grey_loss", "start_s": 0, "entities": ["a->b"]}, "missing key 'end_s'"),
        ({"kind": "grey_loss", "start_s": 0, "end_s": 5, "entities": ["a->b"], "when": 1}, "unknown keys"),
    ],
)
def test_bad_fault_plans_name_the_fault_and_the_rule(tmp_path: Path, row: dict, match: str) -> None:
    (tmp_path / "plan.jsonl").write_bytes(orjson.dumps(row))
    with pytest.raises(FaultPlanError, match=match):
        load_plan(tmp_path / "plan.jsonl", LINKS, NODES)


def test_fault_ids_are_stable_hashes() -> None:
    a = Fault(kind="link_down", start_s=10.0, end_s=20.0, entities=("a->b",))
    b = Fault(kind="link_down", start_s=10.0, end_s=20.0, entities=("a->b",))
    assert a.id == b.id and a.id.startswith("f-")
    assert Fault(kind="link_down", start_s=20.0, end_s=30.0, entities=("a->b",)).id != a.id


def test_each_days_peak_hour_is_a_benign_label_unless_a_fault_overlaps_it() -> None:
    from twinwatch.twin.testbed.run import TestbedConfig, diurnal_peaks

    cfg = TestbedConfig(duration_s=2 * 86400.0)
    peaks = diurnal_peaks(cfg, 14.0, [])
    assert [(f.kind, f.start_s, f.end_s) for f in peaks] == [
        ("diurnal_peak", 13.5 * 3600, 14.5 * 3600), ("diurnal_peak", 86400 + 13.5 * 3600, 86400 + 14.5 * 3600)]
    assert all(f.benign for f in peaks)
    fault = Fault(kind="link_down", start_s=14 * 3600.0, end_s=14 * 3600.0 + 60, entities=("a->b",))
    assert [f.start_s for f in diurnal_peaks(cfg, 14.0, [fault])] == [86400 + 13.5 * 3600]
    assert diurnal_peaks(TestbedConfig(duration_s=3600.0), 14.0, []) == []
