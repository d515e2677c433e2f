"""Golden files: every case under tests/fixtures decodes exactly to its expected.json."""

from __future__ import annotations

import os

import orjson
import pytest

from twinwatch.telemetry_adapters import get_decoder

from ._golden import Case, cases, summarize

CASES = cases()


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_golden(case: Case) -> None:
    decoder = get_decoder(case.format, case.config())
    got = summarize(decoder.decode_batch(case.messages()))
    path = case.expected_path()
    if os.environ.get("TWINWATCH_REGEN_GOLDEN") == "1":
        path.write_bytes(orjson.dumps(got, option=orjson.OPT_INDENT_2) + b"\n")
    assert path.exists(), f"{path} missing; create it with TWINWATCH_REGEN_GOLDEN=1 and review it"
    expected = orjson.loads(path.read_bytes())
    assert got == expected


def test_every_format_has_a_golden_case() -> None:
    from twinwatch.telemetry_adapters import known_formats

    have = {c.format for c in CASES}
    assert set(known_formats()) <= have, f"formats without golden cases: {set(known_formats()) - have}"


def test_every_message_is_accounted_for() -> None:
    """Nothing vanishes: each golden input message yields a sample, a flow, a rejection or a counted ignored
    record (a port whose oper-status says 'unknown': it tells no more than silence, issue 9)."""
    for case in CASES:
        decoder = get_decoder(case.format, case.config())
        for i, msg in enumerate(case.messages()):
            res = decoder.decode_batch([msg])
            kept = len(res.samples) + len(res.flows) + len(res.rejections) + sum(res.ignored.values())
            assert kept >= 1, f"{case.id} message {i}"
