"""Influx line-protocol parsing: escaping rules, value types, errors with columns."""

from __future__ import annotations

import pytest

from twinwatch.telemetry_adapters.influx import LineProtocolError, parse_line


def test_types() -> None:
    m, tags, fields, ts = parse_line('m,t=1 i=-5i,u=18446744073709551615u,f=1.5,e=1e3,b=t,B=FALSE,s="x" 123')
    assert (m, tags, ts) == ("m", {"t": "1"}, 123)
    assert fields == {"i": -5, "u": 2**64 - 1, "f": 1.5, "e": 1000.0, "b": True, "B": False, "s": "x"}
    assert type(fields["i"]) is int and type(fields["f"]) is float


def test_escaping() -> None:
    m, tags, fields, _ = parse_line(r'c\,p\ u,ho\ st=a\,b\=c k\=ey="va\"l\\ue, with = signs",x=1i')
    assert m == "c,p u"
    assert tags == {"ho st": "a,b=c"}
    assert fields == {"k=ey": 'va"l\\ue, with = signs', "x": 1}


def test_string_with_spaces_and_commas() -> None:
    _, _, fields, ts = parse_line('m f="a b,c=d" 1700000000000000000')
    assert fields == {"f": "a b,c=d"} and ts == 1700000000000000000


@pytest.mark.parametrize(
    "line",
    ["m", "m f=", "m f=1x", 'm f="open', "m,t f=1", "m f=1 12 extra", " f=1", "m f=-1u", "m f=1 notanumber"],
)
def test_errors(line: str) -> None:
    with pytest.raises(LineProtocolError, match="column"):
        parse_line(line)
