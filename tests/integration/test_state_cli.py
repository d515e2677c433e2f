"""``twinwatch state show|drop`` against the real embedded broker: the record a worker would restore, read and
rewritten without a network's state."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from twinwatch.stream.cli import cli

pytestmark = [pytest.mark.kafka]


def _config(tmp_path: Path, bootstrap: str, group: str) -> Path:
    cfg = tmp_path / "twinwatch.yaml"
    cfg.write_text(f"kafka: {{bootstrap: '{bootstrap}', consumer_group: {group}}}\n"
                   f"topics: {{state: {group}.state}}\nnetworks: [abilene, nsfnet]\ntwin: {{model: qt}}\n")
    return cfg


def _pipeline(names: list[str]):  # type: ignore[no-untyped-def]
    from twinwatch.stream.pipeline import Pipeline
    from twinwatch.twin.netmodel import load_network

    return Pipeline([load_network(n) for n in names], None, window_s=10.0, lateness_s=5.0)


def test_show_then_drop_a_network(kafka_broker, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """A state of two networks on the state topic: `show` reports the one a worker would restore (the most
    advanced of the group's records, not the last written); `drop --network nsfnet` writes a record a worker
    configured with Abilene alone restores, with the same offsets; the other group's record is not touched."""
    from twinwatch.detectors.alerts import Alert
    from twinwatch.stream.config import load_config
    from twinwatch.stream.state import StateError, decode
    from twinwatch.stream.state_topic import STATE_SCAN, latest_state, read_tail, write_record

    group = "statecli"
    cfg_path = _config(tmp_path, kafka_broker.bootstrap, group)
    cfg = load_config(cfg_path, env={})
    kw, topic = cfg.kafka.aiokafka_kwargs(), cfg.topics.state
    pipe = _pipeline(["abilene", "nsfnet"])
    pipe.networks["abilene"].detector.book.fire([Alert.open(
        network="abilene", entity_kind="link", entity_id="LOSAng->SNVAng", kpi="oper_status", start=1.0e9,
        kind="link_state")])
    ahead = pipe.state({"offsets": {"twinwatch.raw.gnmic:0": 500}})
    behind = pipe.state({"offsets": {"twinwatch.raw.gnmic:0": 100}})
    asyncio.run(write_record(kw, topic, group, ahead))
    asyncio.run(write_record(kw, topic, group, behind))  # written last, but less advanced
    asyncio.run(write_record(kw, topic, "another-group", ahead))

    runner = CliRunner()
    res = runner.invoke(cli, ["state", "show", "--config", str(cfg_path), "--json", "-"])
    assert res.exit_code == 0, res.output
    doc = json.loads(res.stdout)
    assert doc["offsets"] == {"twinwatch.raw.gnmic:0": 500}  # the most advanced, not the last written
    assert sorted(doc["networks"]) == ["abilene", "nsfnet"]
    ab = doc["networks"]["abilene"]
    assert (ab["links"], ab["devices"], ab["probes"]) == (30, 12, 20)
    assert [a["entity_id"] for a in ab["open_alerts"]] == ["LOSAng->SNVAng"]
    text = runner.invoke(cli, ["state", "show", "--config", str(cfg_path)])
    assert text.exit_code == 0 and "1 open alert(s)" in text.output and "link_state link LOSAng->SNVAng" in text.output

    with pytest.raises(StateError, match=r"holds network\(s\) \['nsfnet'\] .*twinwatch state drop"):
        _pipeline(["abilene"]).restore(ahead)
    res = runner.invoke(cli, ["state", "drop", "--config", str(cfg_path), "--network", "geant", "--yes"])
    assert res.exit_code == 1 and "holds no network ['geant']; it holds ['abilene', 'nsfnet']" in res.output
    res = runner.invoke(cli, ["state", "drop", "--config", str(cfg_path), "--network", "nsfnet"], input="n\n")
    assert res.exit_code == 1 and "Aborted" in res.output  # asked, declined: nothing written
    res = runner.invoke(cli, ["state", "drop", "--config", str(cfg_path), "--network", "nsfnet", "--yes"])
    assert res.exit_code == 0, res.output
    assert "dropped the state of nsfnet" in res.output and "kept: abilene" in res.output

    records, _ = asyncio.run(read_tail(kw, topic, STATE_SCAN))
    now = latest_state(records, group, topic)
    assert now is not None and f"wrote {topic}[{now.partition}]@{now.offset}" in res.output  # what a worker restores
    meta, parts = decode(now.value)
    assert {k[0] for k in parts} == {"abilene"} and meta["offsets"] == {"twinwatch.raw.gnmic:0": 500}
    assert _pipeline(["abilene"]).restore(now.value)["offsets"] == {"twinwatch.raw.gnmic:0": 500}
    other = latest_state(records, "another-group", topic)
    assert other is not None and other.value == ahead


def test_show_without_a_record_and_without_a_broker(kafka_broker, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    runner = CliRunner()
    cfg = _config(tmp_path, kafka_broker.bootstrap, "nobody")
    res = runner.invoke(cli, ["state", "show", "--config", str(cfg)])
    assert res.exit_code == 1 and "no state record of consumer group 'nobody'" in res.output
    from twinwatch.stream.broker import free_port

    dead = _config(tmp_path, f"127.0.0.1:{free_port()}", "nobody")
    res = runner.invoke(cli, ["state", "show", "--config", str(dead)])
    assert res.exit_code == 1 and "cannot read nobody.state: 127.0.0.1:" in res.output
    assert "connection refused (is the broker running? check kafka.bootstrap)" in res.output
    assert "Traceback" not in res.output
