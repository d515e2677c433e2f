"""bench/detect_eval.py: ``--twin-variant NAME=OPTIONS`` specs, the one mechanism behind every twin variant scored."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[3] / "bench"
sys.path.insert(0, str(BENCH))

import detect_eval  # noqa: E402


def test_variants_split_their_options_as_a_shell_would() -> None:
    got = detect_eval.twin_variants(["best-effort=--matrix-classes best-effort", "tm-range=--tm-range",
                                     "quoted=--flow-matrix 'records'"])
    assert got == [("best-effort", ("--matrix-classes", "best-effort")), ("tm-range", ("--tm-range",)),
                   ("quoted", ("--flow-matrix", "records"))]


@pytest.mark.parametrize("spec", ["no-equals-sign", "=--tm-range", "../x=--tm-range", "a b=--tm-range"])
def test_a_variant_name_that_cannot_name_a_file_is_refused(spec: str) -> None:
    with pytest.raises(SystemExit, match="NAME=OPTIONS"):
        detect_eval.twin_variants([spec])


def test_a_repeated_variant_name_is_refused() -> None:
    with pytest.raises(SystemExit, match="new NAME"):
        detect_eval.twin_variants(["x=--tm-range", "x=--flow-matrix records"])
