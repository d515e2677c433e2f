"""bench/testbed_check.py: a testbed run read back through the production adapters (issue 10).

A real 20-minute Abilene run with a counter clear and a device reboot: every rejection is a labelled malformed line
or a counter restart at a labelled benign event, and the counter rates match the truth.
"""

from __future__ import annotations

import doctest
import sys
from pathlib import Path

from click.testing import CliRunner

BENCH = Path(__file__).resolve().parents[3] / "bench"
sys.path.insert(0, str(BENCH))

import testbed_check  # noqa: E402

PLAN = [
    '{"kind":"counter_clear","start_s":300.0,"end_s":330.0,"entities":["DNVRng->SNVAng"],"magnitude":1.0}',
    '{"kind":"device_reboot","start_s":600.0,"end_s":640.0,"entities":["IPLSng"],"magnitude":1.0}',
]


def test_docstring_examples_run() -> None:
    res = doctest.testmod(testbed_check)
    assert res.attempted >= 1 and res.failed == 0


def test_a_run_reads_back_with_only_labelled_rejections(tmp_path: Path) -> None:
    from twinwatch.stream.cli import cli

    plan = tmp_path / "plan.jsonl"
    plan.write_text("\n".join(PLAN) + "\n")
    run = tmp_path / "run"
    res = CliRunner().invoke(cli, ["simulate", "telemetry", "--network", "abilene", "--duration", "20m",
                                   "--fault-plan", str(plan), "--seed", "3", "--malformed-fraction", "0.01",
                                   "--out", str(run), "--no-progress"])
    assert res.exit_code == 0, res.output
    rep = testbed_check.check_run(run)
    assert sum(rep.malformed_labelled.values()) > 0
    assert rep.rejected_unlabelled == dict.fromkeys(rep.messages, 0)
    # the clear and the reboot restart counters: the counter stage rejects those samples, all explained by them
    assert rep.counter_rejected["twinwatch.raw.gnmic"].get("counter_decrease", 0) > 0
    assert rep.counter_rejected_unexplained == dict.fromkeys(rep.messages, 0)
    # no rate is off, not even at the clear and the reboot: a sample taken before a clear reads the old count (the
    # testbed read zero there until session 32, and the next rate came out a third low on both ends of the link)
    assert rep.rate_points > 0 and rep.rate_rel_err_median < 0.01 and rep.rate_points_off == 0


def test_a_counter_restart_outside_every_labelled_event_is_unexplained() -> None:
    events = testbed_check.counter_events(
        [{"kind": "device_reboot", "entities": ["IPLSng"], "start": 600.0, "end": 640.0}], 10.0)
    raw = b"IPLSng et-0/0/1 in-octets ts_ns=%d value=0 kind=1"
    assert testbed_check._explained(raw % int(650e9), events)
    assert testbed_check._explained(raw % int(595e9), events)  # a skewed clock: just before the event
    assert not testbed_check._explained(raw % int(700e9), events)  # past the event and its two windows
    assert not testbed_check._explained(raw % int(580e9), events)
    assert not testbed_check._explained(b"KSCYng et-0/0/1 in-octets ts_ns=650000000000 value=0 kind=1", events)
    # a 32-bit counter too slow for its port is the run's legacy device's, at any time; on another device it is not
    amb = b"LOSAng ge-0/0/1 out-octets ts_ns=%d value=7 kind=32" % int(9000e9)
    assert testbed_check._explained(amb, events, "counter32_ambiguous", frozenset({"LOSAng"}))
    assert not testbed_check._explained(amb, events, "counter32_ambiguous", frozenset({"IPLSng"}))


def test_a_folder_that_is_not_a_run_is_refused_by_name(tmp_path: Path) -> None:
    import subprocess

    (tmp_path / "manifest.json").write_text("{")
    for run in (tmp_path / "missing", tmp_path):
        proc = subprocess.run([sys.executable, str(BENCH / "testbed_check.py"), str(run)], capture_output=True,
                              text=True, timeout=120)
        assert proc.returncode == 1
        assert "is not a readable testbed run" in proc.stderr and "Traceback" not in proc.stderr
