"""`twinwatch localize`: output contract, exit codes and bad OBS lines, on the bundled NSFNet scenario."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import orjson
import pytest
from click.testing import CliRunner

from tests.unit.detectors._qt_calibration import qt_calibration
from twinwatch.detectors.localize import degrade_capacity
from twinwatch.stream.cli import cli
from twinwatch.stream.commands.twin_predict import prediction_record
from twinwatch.twin.datasets.scenario_yaml import load_scenario_yaml
from twinwatch.twin.models import get_model

NSFNET = Path(__file__).resolve().parents[3] / "twin" / "data" / "nsfnet.yaml"


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """qt's view of NSFNet, a calibration for a model right within a few per cent, and a degraded-link observation."""
    tmp = tmp_path_factory.mktemp("loc")
    sc = load_scenario_yaml(NSFNET)
    qt = get_model("qt")
    expected = qt.predict(sc)
    cal_file = tmp / "qt_cal.json"
    cal_file.write_text(json.dumps({"model": "qt", "calibration": qt_calibration(sc, expected)}))
    util = sc.link_load_bps() / sc.link_capacity_bps
    link = int(np.argsort(util)[-4])  # offered 0.49; a quarter of its capacity overloads it
    truth = qt.predict(degrade_capacity(sc, link, 0.25))
    faulty = orjson.dumps(prediction_record(NSFNET.name, 0, sc, truth)).decode()
    clean = orjson.dumps(prediction_record(NSFNET.name, 0, sc, expected)).decode()
    return {"tmp": tmp, "sc": sc, "link": link, "cal": cal_file, "faulty": faulty, "clean": clean}


def _run(setup: dict, lines: list[str], *extra: str) -> tuple[int, list[dict], str]:
    obs = setup["tmp"] / "obs.jsonl"
    obs.write_text("\n".join(lines) + "\n")
    out = setup["tmp"] / "suspects.jsonl"
    res = CliRunner().invoke(cli, ["localize", str(NSFNET), "--observed", str(obs), "--out", str(out), "--model", "qt",
                                   "--calibration", str(setup["cal"]), "-q", *extra])
    recs = [json.loads(x) for x in out.read_text().splitlines()] if out.exists() else []
    out.unlink(missing_ok=True)
    return res.exit_code, recs, res.output


def test_contract_on_a_degraded_link(setup: dict) -> None:
    code, recs, output = _run(setup, [setup["faulty"]], "--alpha", "0.01")
    assert code == 0, output
    assert len(recs) == 1
    rec = recs[0]
    assert set(rec) == {"file", "index", "anomalous", "paths", "suspects", "explanation"}
    assert (rec["file"], rec["index"], rec["anomalous"]) == (NSFNET.name, 0, True)
    sc, link = setup["sc"], setup["link"]
    assert rec["suspects"][0] == {"src": int(sc.link_src[link]), "dst": int(sc.link_dst[link]),
                                  "score": rec["suspects"][0]["score"]}
    assert rec["suspects"][0]["score"] > 1.0  # confirmed by the twin
    scores = [s["score"] for s in rec["suspects"]]
    assert scores == sorted(scores, reverse=True) and len(scores) <= 5
    assert rec["paths"], "flagged paths are listed"
    routed = set(zip(sc.path_src.tolist(), sc.path_dst.tolist(), strict=True))
    for p in rec["paths"]:
        assert set(p) == {"src", "dst", "kpi", "p_value"}
        assert (p["src"], p["dst"]) in routed and p["kpi"] in {"delay", "jitter", "loss"}
        assert 0.0 <= p["p_value"] <= 0.01  # BH at alpha never flags a p-value above alpha
    assert "cut to a quarter" in rec["explanation"]


def test_healthy_sample_is_not_anomalous(setup: dict) -> None:
    code, recs, output = _run(setup, [setup["clean"]])
    assert code == 0, output
    assert recs[0]["anomalous"] is False and recs[0]["paths"] == [] and recs[0]["suspects"] == []


def test_bad_lines_are_counted_and_exit_3(setup: dict) -> None:
    good = setup["faulty"]
    unknown = json.loads(good)
    unknown["paths"][0]["src"], unknown["paths"][0]["dst"] = 0, 99
    unknown["paths"][0].pop("path", None)  # looked up by (src, dst): the pair does not exist
    renumbered = json.loads(good)
    renumbered["paths"][0]["path"] = 5  # path 5 is not 0->1
    missing = json.loads(good)
    missing["file"] = "other.yaml"
    negative = json.loads(good)
    negative["paths"][1]["delay"] = -1.0
    lines = [good, "{not json", json.dumps(missing), json.dumps(negative), "[1, 2]", good]
    code, recs, output = _run(setup, lines)
    assert code == 3, output
    assert len(recs) == 1 and recs[0]["anomalous"] is True
    assert ("bad observation lines: bad_value=1, duplicate_sample=1, malformed_json=1, malformed_record=1, "
            "missing_sample=1") in output
    assert "Traceback" not in output
    assert "line 4: paths[1] (" in output and "delay: expected a finite value in [0, 1e+12]" in output
    # the YAML holds one sample, so a line naming an unknown path is the only one for it: nothing usable
    code, recs, output = _run(setup, [json.dumps(unknown)])
    assert code == 1 and recs == []
    assert "line 1: path 0->99 is not a routed (src, dst) pair" in output and "unknown_pair=1" in output
    code, recs, output = _run(setup, [json.dumps(renumbered)])
    assert code == 1 and "is not a routed" in output


def test_nothing_usable_exit_1_and_usage_exit_2(setup: dict) -> None:
    code, recs, output = _run(setup, ["{not json"])
    assert code == 1 and recs == [] and "no usable observation" in output
    code, _, output = _run(setup, [setup["clean"]], "--kpis", "delay,bogus")
    assert code == 2 and "bogus" in output
    code, _, output = _run(setup, [setup["clean"]], "--factors", "0.5,2")
    assert code == 2


def test_model_without_grids_needs_calibration(setup: dict) -> None:
    obs = setup["tmp"] / "obs_nocal.jsonl"
    obs.write_text(setup["clean"] + "\n")
    res = CliRunner().invoke(cli, ["localize", str(NSFNET), "--observed", str(obs), "--model", "qt", "-q"])
    assert res.exit_code == 1 and "twin calibrate" in res.output


def test_shipped_gnn_calibration_on_its_own_prediction(tmp_path: Path) -> None:
    """The default model (the shipped GNN, with its p-value grids): its own prediction as observation is healthy."""
    sc = load_scenario_yaml(NSFNET)
    gnn = get_model("gnn")
    obs = tmp_path / "obs.jsonl"
    obs.write_bytes(orjson.dumps(prediction_record(NSFNET.name, 0, sc, gnn.predict(sc))) + b"\n")
    res = CliRunner().invoke(cli, ["localize", str(NSFNET), "--observed", str(obs), "-q"])
    assert res.exit_code == 0, res.output
    rec = json.loads(res.output.splitlines()[-1])
    assert rec["anomalous"] is False


@pytest.mark.parametrize("cmd", [["localize"], ["twin", "calibrate"]], ids=" ".join)
def test_help_reads_like_a_man_page(cmd: list[str]) -> None:
    res = CliRunner().invoke(cli, [*cmd, "--help"])
    text = res.output.lower()
    assert res.exit_code == 0 and "examples" in text and "exit status" in text
    assert "3  partial success" in text and "--progress / --no-progress" in res.output


# ----------------------------------------------------------------------------- found by the fuzzer (issue 14)
@pytest.mark.parametrize(
    ("edit", "reason", "message"),
    [
        (lambda p: p.update(src=2**64 - 1), "malformed_record", "needs \"src\" and \"dst\" node numbers"),  # k = 130
        (lambda p: p.update(path=2**63), "malformed_record", "\"path\" must be a path number"),
        (lambda p: p.update(delay=1e308), "bad_value", "delay: expected a finite value in [0, 1e+12]"),  # k = 78
        (lambda p: p.update(loss=1.5), "bad_value", "loss: expected a finite value in [0, 1]"),
    ],
    ids=["src past int64", "path past int64", "delay 1e308", "loss 1.5"],
)
def test_out_of_range_numbers_are_counted_not_cast(setup: dict, edit: object, reason: str, message: str) -> None:
    """A node number past int64 was cast to a garbage int64 (a raw NumPy 'invalid value encountered in cast'),
    a 1e308 delay overflowed the observed/expected ratio (a raw 'overflow encountered in divide'), a loss of
    150 % was tested as a loss. Each is now a counted, named rejection of its line."""
    import warnings

    line = json.loads(setup["faulty"])
    edit(line["paths"][1])  # type: ignore[operator]
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        code, recs, output = _run(setup, [json.dumps(line)])
    assert code == 1 and recs == [], output  # the file's only sample: nothing usable
    assert f"{reason}=1" in output and "line 1: paths[1] " in output and message in output
    assert "Traceback" not in output and "Warning" not in output


def test_a_path_observed_twice_in_one_sample_is_refused(setup: dict) -> None:
    """The second entry of a path silently overwrote the first; by number and by (src, dst) alike."""
    line = json.loads(setup["faulty"])
    twice = {**line, "paths": [*line["paths"], dict(line["paths"][3])]}
    code, recs, output = _run(setup, [json.dumps(twice)])
    assert code == 1 and recs == [] and "duplicate_path=1" in output
    assert f"paths[{len(line['paths'])}]" in output and "the same path as paths[3]" in output
    by_pair = dict(line["paths"][3])
    by_pair.pop("path", None)
    mixed = {**line, "paths": [*line["paths"], by_pair]}
    code, _, output = _run(setup, [json.dumps(mixed)])
    assert code == 1 and "duplicate_path=1" in output and "is the same scenario path as paths[" in output


def test_a_utf8_bom_on_the_first_line_is_not_a_bad_line(setup: dict) -> None:
    obs = setup["tmp"] / "bom.jsonl"
    obs.write_bytes(b"\xef\xbb\xbf" + setup["faulty"].encode() + b"\r\n")
    out = setup["tmp"] / "bom_out.jsonl"
    res = CliRunner().invoke(cli, ["localize", str(NSFNET), "--observed", str(obs), "--out", str(out), "--model", "qt",
                                   "--calibration", str(setup["cal"]), "-q"])
    assert res.exit_code == 0, res.output
    assert len(out.read_text().splitlines()) == 1
