"""Messages the testbed labels malformed are malformed: every corruption changes the bytes."""

from __future__ import annotations

import numpy as np

from twinwatch.twin.testbed.run import _corrupt

INFLUX = (b"interface,agent_host=ATLAM5,ifName=ge-0/0/0 ifInOctets=33071633i,ifOutOctets=163894009i,"
          b"ifInDiscards=0i 1767603510100390400")
GNMIC = b'{"name":"ifc","timestamp":1767603510100390400,"tags":{"source":"ATLAM5"},"values":{"in-octets":1}}'


def test_every_corruption_changes_the_message_even_without_quotes() -> None:
    rng = np.random.default_rng(0)
    kinds = set()
    for msg in (INFLUX, GNMIC) * 200:
        bad, how = _corrupt(msg, rng)
        kinds.add(how)
        assert bad != msg, how  # a 24 h Abilene run once labelled 2 unchanged Influx lines "bad_quotes"
    assert kinds == {"truncated", "invalid_utf8", "garbage", "bad_quotes"}


def test_a_message_without_quotes_never_gets_bad_quotes() -> None:
    rng = np.random.default_rng(1)
    assert all(_corrupt(INFLUX, rng)[1] != "bad_quotes" for _ in range(200))
