"""Hypothesis drivers shared by the CI fuzz tests: run a format's mutated inputs through the harness's checks.

Each draws ``examples`` inputs of ``fmt`` from ``st.randoms()`` (derandomized, no example database: the same
inputs on every CI run) into one reused folder and returns what the checks said, for the caller's assertions.
"""

from __future__ import annotations

import random
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.fuzz.harness import check_cli, check_library, fresh_dir, make_input

SETTINGS = {"deadline": None, "database": None, "derandomize": True,
            "suppress_health_check": [HealthCheck.too_slow, HealthCheck.function_scoped_fixture]}


def library_outcomes(fmt: str, tmp_path: Path, examples: int) -> dict[str, int]:
    """``{"ok": n, "refused": m}``: the library check's verdicts on ``examples`` inputs of ``fmt``."""
    outcomes: dict[str, int] = {}

    @settings(max_examples=examples, **SETTINGS)
    @given(rnd=st.randoms(use_true_random=False))
    def check(rnd: random.Random) -> None:
        out = check_library(fmt, make_input(fmt, rnd, fresh_dir(tmp_path, 0)))
        outcomes[out] = outcomes.get(out, 0) + 1

    check()
    return outcomes


def cli_codes(fmt: str, tmp_path: Path, examples: int) -> set[int]:
    """The exit statuses the CLI check saw on ``examples`` inputs of ``fmt``."""
    codes: set[int] = set()

    @settings(max_examples=examples, **SETTINGS)
    @given(rnd=st.randoms(use_true_random=False))
    def check(rnd: random.Random) -> None:
        codes.add(check_cli(fmt, make_input(fmt, rnd, fresh_dir(tmp_path, 0))))

    check()
    return codes
