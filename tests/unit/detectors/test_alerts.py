"""Alert model (contract fields, JSON, Alertmanager v2) and AlertBook lifecycle across restarts."""

from __future__ import annotations

import orjson
import pytest

from twinwatch.detectors.alerts import KINDS, Alert, AlertBook, alert_id


def _deg(entity: str = "3->7", start: float = 1_700_000_000.0, **kw: object) -> Alert:
    return Alert.open(network="nsf", entity_kind="path", entity_id=entity, kpi="delay_s", start=start,
                      kind="degradation", **kw)  # type: ignore[arg-type]


def test_id_depends_on_every_key_field_and_is_stable() -> None:
    base = ("nsf", "path", "3->7", "delay_s", 60.0)
    ids = {alert_id(*base)}
    for i, other in enumerate(("abilene", "link", "3->8", "loss_ratio", 120.0)):
        changed = list(base)
        changed[i] = other
        ids.add(alert_id(*changed))  # type: ignore[arg-type]
    assert len(ids) == 6
    assert _deg().id == _deg().id == alert_id("nsf", "path", "3->7", "delay_s", 1_700_000_000.0)


def test_json_line_round_trip_with_contract_fields() -> None:
    a = _deg(observed=0.012, expected=0.008, bounds=(0.007, 0.009), p_value=1e-7,
             suspects=[{"link": "Chicago->Denver", "score": 0.9}], explanation="delay on 14 paths")
    line = a.to_json()
    assert "\n" not in line
    d = orjson.loads(line)
    for f in ("id", "status", "kind", "severity", "start", "end", "network", "entity_kind", "entity_id", "kpi",
              "observed", "expected", "bounds", "p_value", "suspects", "explanation"):
        assert f in d, f
    assert Alert.from_dict(d) == a


def test_alertmanager_v2_shape() -> None:
    a = _deg(p_value=1e-7, explanation="delay 50 % above the twin").resolved(1_700_000_300.5)
    am = a.to_alertmanager(generator_url="http://tw:8000/a")
    assert set(am) == {"labels", "annotations", "startsAt", "endsAt", "generatorURL"}
    assert am["startsAt"] == "2023-11-14T22:13:20Z" and am["endsAt"] == "2023-11-14T22:18:20.500Z"
    assert all(isinstance(v, str) for v in am["labels"].values())  # Alertmanager labels are strings
    assert all(isinstance(v, str) for v in am["annotations"].values())
    assert am["labels"]["alert_id"] == a.id and am["annotations"]["summary"] == "delay 50 % above the twin"


@pytest.mark.parametrize("kind", [k for k in KINDS if k != "degradation"])
def test_benign_kinds_never_page(kind: str) -> None:
    a = Alert.open(network="n", entity_kind="link", entity_id="a->b", kpi="utilization", start=0.0, kind=kind)
    assert a.severity in ("info", "warning") and not a.pages
    assert a.to_alertmanager()["labels"]["page"] == "false"
    with pytest.raises(ValueError, match="never pages as a network fault"):
        Alert.open(network="n", entity_kind="link", entity_id="a->b", kpi="utilization", start=0.0, kind=kind,
                   severity="critical")


def test_unknown_kind_is_refused() -> None:
    with pytest.raises(ValueError, match="kind 'outage' is not one of"):
        Alert.open(network="n", entity_kind="link", entity_id="x", kpi="k", start=0.0, kind="outage")


def test_book_emits_each_transition_once_across_restarts() -> None:
    book = AlertBook()
    assert [c.action for c in book.fire([_deg(), _deg("1->2")])] == ["firing", "firing"]
    assert book.fire([_deg()]) == []  # still firing: no duplicate
    # restart: restore, replay the same window (at-least-once delivery)
    book = AlertBook.from_bytes(book.to_bytes())
    assert book.fire([_deg(), _deg("1->2")]) == []
    res = book.resolve([("nsf", "path", "3->7", "delay_s")], end=1_700_000_600.0)
    assert [(c.action, c.alert.id, c.alert.end) for c in res] == [("resolved", _deg().id, 1_700_000_600.0)]
    # restart again and replay the window that opened and the one that resolved it
    book = AlertBook.from_bytes(book.to_bytes())
    assert book.fire([_deg()]) == []
    assert book.resolve([("nsf", "path", "3->7", "delay_s")], end=1_700_000_600.0) == []
    # a new episode of the same entity has a new start, hence a new id, and fires
    new = book.fire([_deg(start=1_700_001_000.0)])
    assert len(new) == 1 and new[0].alert.id != _deg().id
    assert {a.entity_id for a in book.open_alerts} == {"3->7", "1->2"}


def test_book_bounds_its_memory_and_rejects_foreign_blobs() -> None:
    book = AlertBook(remember_resolved=2)
    for i in range(5):
        book.fire([_deg(f"{i}->9")])
        book.resolve([("nsf", "path", f"{i}->9", "delay_s")], end=1e9 + i)
    assert len(orjson.loads(book.to_bytes())["resolved"]) == 2
    with pytest.raises(ValueError, match="not an alert-book snapshot"):
        AlertBook.from_bytes(b'{"format": "something else"}')


def test_alertmanager_labels_carry_the_link_to_look_at() -> None:
    """``suspect_link`` groups an incident's alerts and lets Alertmanager inhibit path alerts behind a down link."""
    path = Alert.open(network="n", entity_kind="path", entity_id="a->c", kpi="delay_s", start=0.0, kind="degradation",
                      suspects=[{"link": "a->b", "score": 2.0}, {"link": "b->c", "score": 0.5}])
    assert path.to_alertmanager()["labels"]["suspect_link"] == "a->b"
    link = Alert.open(network="n", entity_kind="link", entity_id="b->c", kpi="utilization", start=0.0,
                      kind="link_state")
    assert link.to_alertmanager()["labels"]["suspect_link"] == "b->c"
    bare = Alert.open(network="n", entity_kind="path", entity_id="a->c", kpi="delay_s", start=0.0, kind="degradation")
    assert "suspect_link" not in bare.to_alertmanager()["labels"]
