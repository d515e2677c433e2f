"""Structure-aware fuzzing of the twin side's input files (issue 14), with a small CI budget.

Hypothesis drives the mutators of :mod:`tests.fuzz.harness` (``st.randoms``,
so failures shrink to a short list of choices). Invariants, per input:

- the reader (and a prediction, when the input is valid) raises nothing but
  the format's documented error (``ScenarioFileError``, ``DatasetError``,
  ``CheckpointError``, ``NetworkModelError``) and no raw NumPy ``RuntimeWarning``;
- it finishes within :data:`~tests.fuzz.harness.TIME_BOUND_S` (a SIGALRM
  watchdog);
- predictions respect the physical bounds (delay >= propagation +
  transmission, loss in [0, 1]);
- a network model that loads has finite capacities > 0, delays >= 0, metrics >= 1,
  and its routing and probe coverage compute;
- through the CLI (``twinwatch twin predict``): exit status in {0, 1, 2, 3},
  no traceback, and no ``null`` with exit status 0; ``twinwatch network validate``
  exits 0 or 1, and 1 exactly when the library refuses the file.

``bench/fuzz_inputs.py --per-format N`` runs the same checks with a large budget.
"""

from __future__ import annotations

import random
from pathlib import Path

import pytest
import torch

from tests.fuzz._drive import cli_codes, library_outcomes
from tests.fuzz.harness import FORMATS, check_cli, check_library, fresh_dir, make_input
from tests.unit.twin._gnnet_toy import GML, ROUTING

torch.set_num_threads(1)

LIB_EXAMPLES = {"scenario_yaml": 150, "native": 80, "gnnet": 80, "checkpoint": 50, "network_yaml": 150}
CLI_EXAMPLES = {"scenario_yaml": 25, "native": 15, "gnnet": 15, "checkpoint": 10, "network_yaml": 15}


@pytest.mark.parametrize("fmt", FORMATS)
def test_library_invariants(fmt: str, tmp_path: Path) -> None:
    outcomes = library_outcomes(fmt, tmp_path, LIB_EXAMPLES[fmt])
    assert sum(outcomes.values()) >= LIB_EXAMPLES[fmt] // 2
    assert outcomes.get("refused", 0) > 0  # the mutations do reach the validation


@pytest.mark.parametrize("fmt", FORMATS)
def test_cli_invariants(fmt: str, tmp_path: Path) -> None:
    codes = cli_codes(fmt, tmp_path, CLI_EXAMPLES[fmt])
    assert codes <= {0, 1, 2, 3} and 1 in codes


def test_the_seeds_are_valid(tmp_path: Path) -> None:
    """Each format's unmutated seed reads fine: the fuzzing starts from valid inputs."""
    import yaml

    from tests.fuzz.harness import SCENARIO_SEED, SCENARIO_SEED_ROUTES, _gnnet_members, _native_seed, _write_tar

    for i, doc in enumerate((SCENARIO_SEED, SCENARIO_SEED_ROUTES)):
        p = tmp_path / f"s{i}.yaml"
        p.write_text(yaml.safe_dump(doc))
        assert check_library("scenario_yaml", p) == "ok"
    _native_seed(tmp_path / "ds")
    assert check_library("native", tmp_path / "ds") == "ok"
    g = tmp_path / "g"
    (g / "graphs").mkdir(parents=True)
    (g / "routings").mkdir()

    (g / "graphs" / "g.txt").write_text(GML)
    (g / "routings" / "r.txt").write_text(ROUTING)
    _write_tar(g / "results_3_0_2.tar.gz", {k: v.encode() for k, v in _gnnet_members().items()})
    assert check_library("gnnet", g) == "ok"
    rnd = random.Random(0)
    assert make_input("checkpoint", rnd, fresh_dir(tmp_path, 9)).is_dir()
    from tests.fuzz.harness import net_seeds

    for i, doc in enumerate(net_seeds()):
        p = tmp_path / f"n{i}.yaml"
        p.write_text(yaml.safe_dump(doc, sort_keys=False))
        assert check_library("network_yaml", p) == "ok", doc["name"]
    assert [d["name"] for d in net_seeds()] == ["abilene", "nsfnet", "lab"]


def _net_doc(mutate: object) -> dict:
    """The lab seed (a fresh copy) after ``mutate(doc)``."""
    import copy

    from tests.fuzz.harness import NET_LAB_SEED

    doc = copy.deepcopy(NET_LAB_SEED)
    mutate(doc)  # type: ignore[operator]
    return doc


@pytest.mark.parametrize(
    ("case", "where", "rule"),
    [
        ("negative capacity", "links[1].capacity_bps", "not a bit rate > 0"),
        ("zero capacity as text", "links[0].capacity_bps", "capacity must be finite and > 0"),
        ("metric 0", "links[0].a.metric", "must be >= 1"),
        ("probe to an unknown device", "probes[0].dst", "unknown device 'ghost'"),
        ("link end on an unknown device", "links[2].b.device", "unknown device 'ghost'"),
        ("self-loop", "links[1]", "self-loop"),
        ("infinite probe rate", "probes[0].rate_pps", "finite"),  # found by the fuzzer: was accepted
        ("capacity 1e-300", "links[1].capacity_bps", "1 .. 1e+15 bits/s"),  # found: overflowed the routing metric
        ("reference bandwidth 1e300", "defaults.reference_bandwidth_bps", "1 .. 1e+15"),  # found: OverflowError
        ("a link 1e300 km long", "links[1].length_km", "at most 2e+07 km"),  # 5e292 s of propagation accepted
        ("non-UTF-8 bytes", "line 2", "not UTF-8"),
        ("alias bomb", "", "after expanding YAML aliases"),
    ],
)
def test_known_bad_network_documents_are_refused_naming_the_element(
    case: str, where: str, rule: str, tmp_path: Path
) -> None:
    """A handful of known-bad network models: each is refused with NetworkModelError naming the element and rule,
    by the library and (exit 1, one line, no traceback) by ``twinwatch network validate``."""
    import yaml

    from twinwatch.twin.netmodel import NetworkModelError, load_network_model

    edits = {
        "negative capacity": lambda d: d["links"][1].update(capacity_bps=-1e9),
        "zero capacity as text": lambda d: d["links"][0].update(capacity_bps="0 Gbps"),
        "metric 0": lambda d: d["links"][0]["a"].update(metric=0),
        "probe to an unknown device": lambda d: d["probes"][0].update(dst="ghost"),
        "link end on an unknown device": lambda d: d["links"][2]["b"].update(device="ghost"),
        "self-loop": lambda d: d["links"][1]["b"].update(device="r1"),
        "infinite probe rate": lambda d: d["probes"][0].update(rate_pps=float("inf")),
        "capacity 1e-300": lambda d: d["links"][1].update(capacity_bps=1e-300),
        "reference bandwidth 1e300": lambda d: d["defaults"].update(reference_bandwidth_bps=1e300),
        "a link 1e300 km long": lambda d: d["links"][1].update(length_km=1e300),
    }
    p = tmp_path / "net.yaml"
    if case == "non-UTF-8 bytes":  # Latin-1 é in the name, on line 2 (after version)
        p.write_bytes(yaml.safe_dump(_net_doc(lambda d: None), sort_keys=False).encode().replace(
            b"name: lab", b"name: lab\xe9", 1))
    elif case == "alias bomb":  # ten levels of ten aliases: 10**10 values once expanded, 1 kB of text
        lines = ["  x0: &l0 [a, a, a, a, a, a, a, a, a, a]"]
        lines += [f"  x{i}: &l{i} [" + ", ".join([f"*l{i - 1}"] * 10) + "]" for i in range(1, 10)]
        p.write_text("version: 1\nname: bomb\ndevices: [{name: a}, {name: b}]\n"
                     "links: [{a: {device: a, interface: e0}, b: {device: b, interface: e0}, capacity_bps: 1G}]\n"
                     "tos_classes:\n" + "\n".join(lines) + "\n")
    else:
        p.write_text(yaml.safe_dump(_net_doc(edits[case]), sort_keys=False))
    with pytest.raises(NetworkModelError) as err:
        load_network_model(p)
    assert any(path == where and rule in msg for path, msg in err.value.problems), err.value.problems
    assert str(p) in str(err.value) and len(str(err.value)) < 2000
    assert check_cli("network_yaml", p) == 1  # and the library refuses it too (check_cli compares)


def test_the_auto_cost_metric_is_capped_at_the_largest_igp_metric(tmp_path: Path) -> None:
    """A 1 bit/s link without a metric: OSPF auto-cost 100e9 // 1 = 1e11 overflows every IGP's metric field
    (the fuzzer's 1e300 reference bandwidth made it overflow int64); the cost is capped at 2**24 - 1."""
    import yaml

    from twinwatch.twin.netmodel import load_network_model

    def slow(d: dict) -> None:
        d["links"][1]["capacity_bps"] = 1
        d["links"][1].pop("metric", None)

    p = tmp_path / "slow.yaml"
    p.write_text(yaml.safe_dump(_net_doc(slow), sort_keys=False))
    m = load_network_model(p)
    assert m.link_metric[m.link_index["r1->r3"]] == 2**24 - 1 == m.link_metric[m.link_index["r3->r1"]]
    assert check_library("network_yaml", p) == "ok"  # routing and probe coverage compute


def _bench_module() -> object:
    import importlib.util

    path = Path(__file__).resolve().parents[2] / "bench" / "fuzz_inputs.py"
    spec = importlib.util.spec_from_file_location("bench_fuzz_inputs", path)
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _run(fmt: str, start: int, n: int, cpu_s: float, partial: bool = False, distinct: int | None = None) -> dict:
    return {"format": fmt, "partial": partial, "start": start, "inputs": n, "distinct_inputs": distinct or n,
            "failures": 0, "outcomes": {"ok": n // 4, "refused": n - n // 4}, "cli_exit_codes": {"1": n // 1000},
            "cpu_s": cpu_s, "wall_s": cpu_s, "inputs_per_cpu_s": n / cpu_s, "inputs_per_s": n / cpu_s}


def test_merge_reports_adds_up_resumed_runs_and_refuses_overlaps() -> None:
    """Resumed runs add up; a partial report counts unless another covers its inputs; overlapping runs are refused."""
    merge = _bench_module().merge_reports  # type: ignore[attr-defined]
    docs = [{"command": "a", "formats": [_run("gnnet", 0, 1000, 2.0, distinct=900), _run("native", 0, 10, 1.0)]},
            {"command": "b", "formats": [_run("gnnet", 0, 400, 1.0, partial=True)]},  # overlaps: superseded
            {"command": "c", "formats": [_run("gnnet", 1000, 2000, 8.0, distinct=1500)]},
            {"command": "d", "formats": [_run("native", 10, 5, 1.0, partial=True)]}]  # a crashed run's snapshot: kept
    merged = merge(docs, target=10_000)["formats"]
    assert merged["native"]["inputs"] == 15 and merged["native"]["contiguous"]
    g = merged["gnnet"]
    assert g["inputs"] == 3000 and g["k_range"] == [0, 3000] and g["contiguous"]
    assert g["outcomes"] == {"ok": 250 + 500, "refused": 750 + 1500} and g["cpu_s"] == 10.0
    assert (g["distinct_inputs_lower_bound"], g["distinct_inputs_upper_bound"]) == (1500, 2400)
    # the rest (7,000 inputs) at the last run's 250 inputs per CPU-second: 28 s
    assert g["cpu_hours_to_target_at_last_rate"] == round(7000 / 250 / 3600, 2) and not g["reached"]
    with pytest.raises(ValueError, match="overlap at k = 500"):
        merge([{"formats": [_run("gnnet", 0, 1000, 1.0)]}, {"formats": [_run("gnnet", 500, 10, 1.0)]}])


def test_native_mutation_stack_that_casts_an_object_array_builds() -> None:
    """Input k = 73,686 of seed 2 (an object member, then a cast of it) crashed the harness itself (TypeError)."""
    from tests.fuzz.harness import build_input

    inp = build_input("native", random.Random("2:native:73686"))
    assert inp.target == "ds" and "ds/manifest.json" in inp.files


def test_the_watchdog_bounds_cpu_time_with_a_wall_clock_backstop() -> None:
    """A computing input is stopped after its CPU bound; waiting (a starved machine, a sleep) is not computing
    and is stopped only by the wall-clock backstop."""
    import time

    from tests.fuzz.harness import HangError, watchdog

    with pytest.raises(HangError, match="CPU time"), watchdog(0.1):
        while True:  # a runaway loop
            pass
    with watchdog(0.1):  # 0.15 s of waiting: no CPU spent, within the 2 s backstop
        time.sleep(0.15)
    with pytest.raises(HangError, match="wall-clock time"), watchdog(0.05, wall_factor=2.0):
        time.sleep(1.0)
