"""Capture files read on demand (:mod:`twinwatch.stream.capture`): the same messages as reading them whole."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from twinwatch.stream.capture import CaptureChain, CaptureError, JsonlCapture, ParquetCapture, open_capture


def whole(data: bytes) -> list[bytes]:
    """What the replay did before: the whole file split on newlines, blank lines dropped."""
    return [ln for ln in data.split(b"\n") if ln.strip()]


LINE = st.one_of(st.sampled_from([b"", b" ", b"\t \r", b"\x0b\x0c", b'{"v": 1}', b"\r", b"x"]),
                 st.binary(max_size=40).map(lambda b: b.replace(b"\n", b"")))


@settings(max_examples=300, deadline=None)
@given(lines=st.lists(LINE, max_size=30), trailing=st.booleans(), chunk=st.integers(1, 64))
def test_a_jsonl_capture_holds_the_non_blank_lines_at_any_chunk_size(tmp_path_factory: pytest.TempPathFactory,
                                                                       lines: list[bytes], trailing: bool,
                                                                       chunk: int) -> None:
    data = b"\n".join(lines) + (b"\n" if trailing else b"")
    path = tmp_path_factory.mktemp("cap") / "twinwatch.raw.gnmic.jsonl"
    path.write_bytes(data)
    cap = JsonlCapture(path, chunk_bytes=chunk)
    assert list(cap[0:len(cap)]) == whole(data)
    assert len(cap) == len(whole(data))
    assert [cap[i] for i in range(len(cap))] == whole(data) == list(cap)


def test_slices_and_indices_behave_as_a_list_s(tmp_path: Path) -> None:
    path = tmp_path / "c.jsonl"
    msgs = [f'{{"i": {i}}}'.encode() for i in range(10)]
    path.write_bytes(b"\n".join(msgs) + b"\n")
    cap = open_capture(path)
    assert cap[-1] == msgs[-1] and cap[3] == msgs[3]
    assert cap[2:7] == msgs[2:7] and cap[8:50] == msgs[8:50] and cap[7:2] == [] and cap[::3] == msgs[::3]
    assert list(cap) == msgs and msgs[4] in cap
    with pytest.raises(IndexError):
        cap[10]


def test_a_line_longer_than_a_chunk_is_one_message(tmp_path: Path) -> None:
    big = b'{"pad": "' + b"a" * 5000 + b'"}'
    path = tmp_path / "c.jsonl"
    path.write_bytes(b"x\n" + big + b"\n\ny")
    assert JsonlCapture(path, chunk_bytes=7)[:] == [b"x", big, b"y"]


def test_an_empty_file_is_an_empty_capture(tmp_path: Path) -> None:
    path = tmp_path / "c.jsonl"
    path.write_bytes(b"")
    assert len(open_capture(path)) == 0 and open_capture(path)[:] == []


def test_a_missing_file_names_itself(tmp_path: Path) -> None:
    with pytest.raises(CaptureError, match=r"nope\.jsonl: cannot read the capture"):
        open_capture(tmp_path / "nope.jsonl")


def test_a_parquet_capture_drops_nulls_and_encodes_strings(tmp_path: Path) -> None:
    binary = tmp_path / "b.parquet"
    pq.write_table(pa.table({"key": ["k"] * 3, "value": pa.array([b"a", None, b"c"], pa.binary())}), binary)
    text = tmp_path / "t.parquet"
    pq.write_table(pa.table({"value": pa.array(["é", "b", None])}), text)
    assert isinstance(open_capture(binary), ParquetCapture)
    assert open_capture(binary)[:] == [b"a", b"c"] and open_capture(text)[:] == ["é".encode(), b"b"]


def test_a_parquet_capture_without_a_value_column_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "x.parquet"
    pq.write_table(pa.table({"payload": [b"a"]}), path)
    with pytest.raises(CaptureError, match="no 'value' column \\(columns: payload\\)"):
        open_capture(path)
    (tmp_path / "bad.parquet").write_bytes(b"PAR1 not really")
    with pytest.raises(CaptureError, match="not a readable Parquet capture"):
        open_capture(tmp_path / "bad.parquet")


@settings(max_examples=200, deadline=None)
@given(sizes=st.lists(st.integers(0, 6), max_size=5), lo=st.integers(-3, 30), hi=st.integers(-3, 30))
def test_a_chain_slices_as_the_concatenated_list(sizes: list[int], lo: int, hi: int) -> None:
    parts = [[f"{k}:{i}".encode() for i in range(n)] for k, n in enumerate(sizes)]
    flat = [m for p in parts for m in p]
    chain = CaptureChain(parts)
    assert len(chain) == len(flat) and chain[lo:hi] == flat[lo:hi] and list(chain) == flat
