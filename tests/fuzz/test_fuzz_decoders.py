"""Structure-aware fuzzing of every decoder through the whole adapter pipeline (issue 14).

Inputs are the golden fixtures of each format mutated by :class:`~tests.fuzz._decoder_mutations.Mutator`
(JSON trees: dropped / duplicated / retyped / wrongly nested fields, huge, negative, NaN or infinite
numbers, timestamps in the wrong unit, giant strings; line protocol: dropped fields, broken type
suffixes, truncated lines; then byte damage: truncation, invalid UTF-8), with hypothesis choosing
every mutation, so that a failure shrinks to a minimal one. Invariants, per example:

* no exception escapes ``decode_batch``, :func:`~telemetry_adapters.normalize.normalize` or the
  inventory's flow mapping (their documented contract: bad input is a counted rejection);
* a time bound per input message (generous: a shared, loaded machine);
* every message alone yields at least one sample, flow or counted rejection (nothing vanishes);
* the accounting identity ``records_in == out + rejected + pending`` holds, across two passes over
  the same batch (the second turns pending first samples into rates, duplicates or rejections).

The CI budget is small (``TWINWATCH_FUZZ_EXAMPLES``, default 25 examples per format: about 30 s in
all on a loaded 2-core machine); ``bench/fuzz_decoders.py`` runs the same operators for millions of inputs.
"""

from __future__ import annotations

import os
import time

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from twinwatch.telemetry_adapters import CounterState, get_decoder
from twinwatch.telemetry_adapters.accounting import Tally, run_batch
from twinwatch.telemetry_adapters.base import DecoderConfig
from twinwatch.telemetry_adapters.inventory import Inventory

from ._decoder_mutations import FORMATS, Mutator

EXAMPLES = int(os.environ.get("TWINWATCH_FUZZ_EXAMPLES", "25"))
SETTINGS = settings(max_examples=EXAMPLES, deadline=None, database=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])  # fmt: skip
#: seconds per input message, at most (measured: well under 10 ms; the slack is for a loaded machine)
TIME_BOUND_S = 2.0
#: replay settings (the fixtures carry historic timestamps) and live settings (a fixed clock, age checks on)
CONFIGS = (
    DecoderConfig(network="fuzz", max_age_s=None, max_future_skew_s=None, max_message_bytes=256 * 1024),
    DecoderConfig(network="fuzz", now_ns=1_700_000_100 * 10**9, max_age_s=86400.0, max_future_skew_s=300.0,
                  max_message_bytes=256 * 1024, default_device="dut"),
)  # fmt: skip
#: an inventory that maps some fixture interfaces and prefixes (capacity-bound and flow-mapping paths)
INVENTORY = Inventory.from_dict({
    "links": [{"id": "leaf1->spine1", "src": "leaf1", "dst": "spine1", "capacity_bps": 1e9,
               "src_interface": "Ethernet1", "dst_interface": "Ethernet9"},
              {"id": "r1->r2", "src": "r1", "dst": "r2", "capacity_bps": 1e4, "src_interface": "eth0"}],
    "prefixes": {"10.0.0.0/8": "leaf1", "192.0.2.0/24": "spine1", "2001:db8::/32": "r1"},
})  # fmt: skip
_MUTATORS = {fmt: Mutator(fmt) for fmt in FORMATS}


class _Draw:
    """:class:`~tests.fuzz._decoder_mutations.Chooser` backed by hypothesis (shrinkable choices)."""

    def __init__(self, data: st.DataObject) -> None:
        self.data = data

    def int(self, lo: int, hi: int) -> int:
        return self.data.draw(st.integers(lo, hi))

    def choice(self, seq: object) -> object:
        return self.data.draw(st.sampled_from(list(seq)))  # type: ignore[call-overload]


_WARM: set[str] = set()
"""Formats whose decode and normalise path has run once in this process (outside any time bound)."""


def _warm_up(fmt: str) -> None:
    """Run ``fmt``'s golden messages through once, untimed: the first call of a format compiles its numba kernels
    and imports lazily (seconds on a loaded machine), which is not the per-message cost the bound is about."""
    if fmt not in _WARM:
        run_batch(get_decoder(fmt, CONFIGS[0]), _MUTATORS[fmt].seeds, CounterState(), INVENTORY)
        _WARM.add(fmt)


def check_pipeline(fmt: str, messages: list[bytes], config: DecoderConfig, inventory: Inventory | None) -> Tally:
    """Run the invariants of the module docstring on one batch; returns the tally."""
    _warm_up(fmt)
    dec = get_decoder(fmt, config)
    state = CounterState()
    tally = Tally(fmt)
    t0 = time.perf_counter()
    for _ in range(2):
        res, nres, flows, notices = run_batch(dec, messages, state, inventory)
        assert res.messages == len(messages)
        tally.add(res, nres, flows, notices)
        assert tally.identity_holds(), tally.to_dict()
    elapsed = time.perf_counter() - t0
    assert elapsed < TIME_BOUND_S * 2 * len(messages), f"{elapsed:.2f} s for {len(messages)} messages"
    for m in messages:  # nothing vanishes, message by message
        one = dec.decode_batch([m])
        assert one.records >= 1, m[:300]
    return tally


@pytest.mark.parametrize("fmt", sorted(FORMATS))
@SETTINGS
@given(data=st.data())
def test_mutated_golden_messages(fmt: str, data: st.DataObject) -> None:
    chooser = _Draw(data)
    mut = _MUTATORS[fmt]
    n = data.draw(st.integers(1, 6), label="messages")
    messages = [mut.mutate(chooser) for _ in range(n)]
    if data.draw(st.booleans(), label="with a valid message"):
        messages.append(data.draw(st.sampled_from(mut.seeds)))
    config = data.draw(st.sampled_from(CONFIGS), label="config")
    inventory = data.draw(st.sampled_from([None, INVENTORY]), label="inventory")
    check_pipeline(fmt, messages, config, inventory)


@pytest.mark.parametrize("fmt", sorted(FORMATS))
def test_unmutated_golden_messages_hold_the_identity(fmt: str) -> None:
    tally = check_pipeline(fmt, _MUTATORS[fmt].seeds, CONFIGS[0], INVENTORY)
    # valid input is used: output rows now, or first samples kept for the next rate
    assert tally.records_out + tally.pending > 0, tally.to_dict()
