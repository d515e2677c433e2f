"""Structure-aware fuzzing of the CLI's other input files (issue 14), with a small CI budget.

The service configuration (``twinwatch run --config``), ``twinwatch score``'s labels and alerts,
``twinwatch detect series``'s CSV and ``twinwatch localize``'s OBS.jsonl: hypothesis drives the
mutators of :mod:`tests.fuzz.cli_inputs` (``st.randoms``). Invariants, per input:

- the reader raises nothing but its documented error (``ConfigError``, ``ScoringError``,
  ``SeriesFileError``, a counted ``BadLineError``), in one line naming the file (and the line or key),
  no raw NumPy ``RuntimeWarning``, within the CPU-time bound;
- what loads is in range (a configuration's ports, durations, levels, topic names);
- accounting: every label, alert line, CSV row and OBS line is scored / used or counted as rejected;
- no NaN or inf in JSON output; precision / recall / F1 in [0, 1] or null with a stated reason;
- through the CLI: a documented exit status, no traceback, the CLI refuses what the library refuses.

``bench/fuzz_inputs.py --formats F --per-format N`` runs the same checks with a large budget.
"""

from __future__ import annotations

import random
from pathlib import Path

import pytest
import torch

from tests.fuzz._drive import cli_codes, library_outcomes
from tests.fuzz.harness import CLI_FORMATS, build_input, check_library

torch.set_num_threads(1)

LIB_EXAMPLES = {"service_config": 150, "score_jsonl": 200, "series_csv": 60, "localize_obs": 120}
CLI_EXAMPLES = {"service_config": 4, "score_jsonl": 15, "series_csv": 8, "localize_obs": 8}


@pytest.mark.parametrize("fmt", CLI_FORMATS)
def test_library_invariants(fmt: str, tmp_path: Path) -> None:
    outcomes = library_outcomes(fmt, tmp_path, LIB_EXAMPLES[fmt])
    assert sum(outcomes.values()) >= LIB_EXAMPLES[fmt] // 2
    assert outcomes.get("refused", 0) > 0 and outcomes.get("ok", 0) > 0  # both sides of the validation are reached


@pytest.mark.parametrize("fmt", CLI_FORMATS)
def test_cli_invariants(fmt: str, tmp_path: Path) -> None:
    codes = cli_codes(fmt, tmp_path, CLI_EXAMPLES[fmt])
    assert codes <= {0, 1, 3} and codes


@pytest.mark.parametrize("fmt", CLI_FORMATS)
def test_the_seeds_are_valid(fmt: str, tmp_path: Path) -> None:
    """Each format's unmutated seed reads, scores or localises fine: the fuzzing starts from valid inputs."""
    import orjson

    from tests.fuzz import cli_inputs as ci
    from tests.fuzz.harness import FuzzInput

    if fmt == "service_config":
        text, _example, minimal = ci._config_seeds()
        inp = FuzzInput({"cfg/twinwatch.yaml": text.encode()}, "cfg/twinwatch.yaml")
        assert check_library(fmt, inp.write(tmp_path / "a")) == "ok"
        assert check_library(fmt, ci._emit_yaml(minimal, random.Random(0), "c.yaml").write(tmp_path / "b")) == "ok"
    elif fmt == "score_jsonl":
        labels, alerts = ci._score_seeds()
        inp = FuzzInput({"s/labels.jsonl": ci._jsonl_bytes(labels), "s/alerts.jsonl": ci._jsonl_bytes(alerts)}, "s")
        assert check_library(fmt, inp.write(tmp_path)) == "ok"
    elif fmt == "series_csv":
        header, rows = ci._series_seed()
        data = ("\n".join(",".join(r) for r in (header, *rows)) + "\n").encode()
        assert check_library(fmt, FuzzInput({"s.csv": data}, "s.csv").write(tmp_path)) == "ok"
    else:
        net, cal, lines = ci._localize_seed()
        for i, line in enumerate(lines):
            inp = FuzzInput({"l/net.yaml": net, "l/cal.json": cal, "l/obs.jsonl": orjson.dumps(line) + b"\n"}, "l")
            assert check_library(fmt, inp.write(tmp_path / str(i))) == "ok"


def test_inputs_are_reproducible_from_seed_format_and_k() -> None:
    """Input k of format F under seed S is the same bytes every time (``random.Random(f"{S}:{F}:{k}")``)."""
    for fmt in CLI_FORMATS:
        a = build_input(fmt, random.Random(f"1:{fmt}:7"))
        b = build_input(fmt, random.Random(f"1:{fmt}:7"))
        assert a.digest() == b.digest() and a.files == b.files


def test_the_twin_side_formats_draw_the_same_inputs() -> None:
    """Adding the CLI's formats left the twin side's inputs byte-identical: the digest of inputs 0-4 of seed 1,
    recorded from the harness before the change. Only the formats whose bytes do not depend on the clock
    (``native`` zips and some ``gnnet`` gzips carry the time they were built; same draws, other bytes) and that
    no one is extending now (``network_yaml`` is). Re-record only when a format's mutations change on purpose, or when
    the shipped checkpoints change (``checkpoint`` inputs are mutations of their bytes; re-recorded in session 13 for
    the hybrid twin G, in session 16 for L, in session 17 for its per-regime calibration, in session 23 for R and in
    session 24 for R's full-buffer fade and its re-fitted calibration)."""
    import hashlib

    h = hashlib.blake2b(digest_size=16)
    for fmt in ("scenario_yaml", "checkpoint"):
        for k in range(5):
            h.update(build_input(fmt, random.Random(f"1:{fmt}:{k}")).digest())
    assert h.hexdigest() == "e3c9e01a628b2c3f6114a8d629b410a8"


def test_a_repeated_huge_line_stays_a_few_megabytes() -> None:
    """Input 58,420 of ``score_jsonl`` (seed 1) repeated a 1.8 MB alert line 1,000 times: a 1.8 GB file that no
    reader parses within the per-input CPU bound (5 of session 9's first 145,015 inputs failed so). The repeat
    is capped at ~2 MB of copies; the draws, and so every other input, are unchanged."""
    inp = build_input("score_jsonl", random.Random("1:score_jsonl:58420"))
    assert 2_000_000 < len(inp.files["score/alerts.jsonl"]) < 5_000_000


def test_series_checked_in_batches_gets_the_same_outcomes(tmp_path: Path) -> None:
    """The benchmark checks ``series_csv`` inputs 64 at a time (one ``score_many`` call, ~4x faster): the same
    inputs get the same outcomes, CLI checks and distinct count as when checked one by one, a batch that
    does not fill up included; inputs the reader refuses sit in the batch beside ones it scores."""
    from tests.fuzz.test_fuzz_twin_inputs import _bench_module

    run_format = _bench_module().run_format  # type: ignore[attr-defined]
    one = run_format("series_csv", 90, seed=1, start=0, cli_every=45, work=tmp_path / "one", batch=1)
    many = run_format("series_csv", 90, seed=1, start=0, cli_every=45, work=tmp_path / "many", batch=32)
    assert (one["batch"], many["batch"]) == (1, 32)
    for key in ("inputs", "distinct_inputs", "outcomes", "failures", "cli_exit_codes"):
        assert one[key] == many[key], key
    assert many["outcomes"].get("ok", 0) > 0 and many["outcomes"].get("refused", 0) > 0


def test_an_environment_entry_no_process_can_hold_stays_out_of_the_cli_check(tmp_path: Path) -> None:
    """Input 733,000 of ``service_config`` (seed 1) carries a ``TWINWATCH_*`` override with a NUL byte: the library
    reads it from a mapping, but no process environment can hold it (click's runner raised ``ValueError``, which
    ended the first 10^6 run). The CLI gets the entries a process can hold, and is compared with the library's
    verdict on those."""
    import json

    from tests.fuzz.harness import check_cli

    inp = build_input("service_config", random.Random("1:service_config:733000"))
    env = json.loads(inp.files["cfg/env.json"])
    assert any("\x00" in k + v for k, v in env.items())
    assert check_cli("service_config", inp.write(tmp_path)) in (0, 1)


def test_paths_repeated_twice_stay_a_few_thousand() -> None:
    """Input 132,201 of ``localize_obs`` (seed 1) drew "all paths repeated 1000 times" twice: 1.8 million paths, a
    334 MB file past the per-input CPU bound. The repeat is capped at ~3,000 paths; the draws are unchanged."""
    import orjson

    from tests.fuzz import cli_inputs as ci

    inp = build_input("localize_obs", random.Random("1:localize_obs:132201"))
    data = inp.files["loc/obs.jsonl"]
    assert len(data) < 5_000_000
    rows = [orjson.loads(x) for x in data.splitlines() if x.startswith(b'{"file"') and x.endswith(b"}")]
    assert rows and all(len(r["paths"]) <= ci.MAX_REPEAT_PATHS for r in rows)
