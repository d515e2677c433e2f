"""The operated-network recipe (twin/sim/recipe.py): documented ranges, physics of the labels, determinism, CLI."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from twinwatch.stream.cli import cli
from twinwatch.twin.datasets.native import iter_native_samples, read_extras
from twinwatch.twin.scenario import Flow, Policy, Scenario, TimeDist
from twinwatch.twin.sim.dataset import TopologySpec, generate_dataset
from twinwatch.twin.sim.recipe import IMIX_BYTES, OperatedRecipe, draw_operated, simulate_operated, size_cv2
from twinwatch.twin.topology import load_topology

RECIPE = OperatedRecipe()
GBPS = 1e9


def _draws(name: str, seeds: range, keep: bool = False) -> list[tuple[Scenario, int]]:
    topo = load_topology(name)
    return [draw_operated(topo, np.random.default_rng(s), RECIPE, keep_capacity=keep) for s in seeds]


@pytest.fixture(scope="module")
def draws() -> list[tuple[Scenario, int]]:
    """120 scenarios: 60 on NSFNet (capacities drawn), 60 on GÉANT (its own capacities kept)."""
    return _draws("nsfnet", range(60)) + _draws("geant", range(60), keep=True)


def test_every_draw_stays_in_the_documented_ranges(draws: list[tuple[Scenario, int]]) -> None:
    for sc, budget in draws:
        util = sc.link_load_bps() / sc.link_capacity_bps
        m = sc.meta
        assert 0.1 <= m["rho_max"] <= 1.1
        assert util.max() == pytest.approx(m["rho_max"], rel=1e-9)  # the busiest link carries rho_max
        assert RECIPE.min_packets <= budget <= RECIPE.max_packets and budget == m["packet_budget"]
        # every flow on its own path, every path one flow
        assert sc.n_flows == sc.n_paths and (sc.flow_path == np.arange(sc.n_flows)).all()
        # ToS classes and scheduling: one class = FIFO everywhere; several = SP/WFQ/DRR network-wide
        k = m["tos_classes"]
        assert 1 <= k <= 3 and set(np.unique(sc.flow_tos).tolist()) <= set(range(k))
        if k == 1:
            assert (sc.node_policy == Policy.FIFO).all()
        else:
            main_policy = Policy[m["policy"]]
            assert main_policy in (Policy.SP, Policy.WFQ, Policy.DRR)
            assert (sc.node_policy == main_policy).mean() >= 0.6
        # flows: Poisson, ON-OFF or CBR; packet sizes 64..1518 B with cv^2 in [0, 1.5]
        assert set(np.unique(sc.flow_time_dist).tolist()) <= {TimeDist.POISSON, TimeDist.ONOFF, TimeDist.CBR}
        sizes = sc.flow_sizes_bits[np.isfinite(sc.flow_sizes_bits)] / 8
        assert sizes.min() >= 64 and sizes.max() <= 1518
        cv2 = size_cv2(sc.flow_sizes_bits, sc.flow_size_probs)
        assert cv2.min() >= 0 and cv2.max() <= 1.5
        onoff = sc.flow_time_dist == TimeDist.ONOFF
        assert np.isfinite(sc.flow_on_s[onoff]).all() and np.isnan(sc.flow_on_s[~onoff]).all()
        # buffers: ms of the node's fastest line rate (1..100 ms) or packets (8..1e4); capped only on overload
        node_cap = np.zeros(sc.n_nodes)
        np.maximum.at(node_cap, sc.link_src, sc.link_capacity_bps)
        if m["buffer"]["unit"] == "ms":
            assert np.isnan(sc.node_queue_pkts).all()
            ms = sc.node_buffer_bits / node_cap * 1e3
            assert ms.max() <= 100 + 1e-9
            if m["buffer_capped_nodes"] == 0:
                assert ms.min() >= 1 - 1e-9
        else:
            assert np.isnan(sc.node_buffer_bits).all()
            assert sc.node_queue_pkts.min() >= 8 and sc.node_queue_pkts.max() <= 1e4
        if m["buffer_capped_nodes"]:
            assert util.max() >= 1.0  # the cap only touches ports offered more than their capacity


def test_capacities_are_a_1_10_100_gbps_mix_symmetric_per_physical_link(draws: list[tuple[Scenario, int]]) -> None:
    for sc, _ in draws[:60]:  # NSFNet: drawn
        assert set(np.unique(sc.link_capacity_bps).tolist()) <= {1 * GBPS, 10 * GBPS, 100 * GBPS}
        fwd = dict(zip(zip(sc.link_src.tolist(), sc.link_dst.tolist(), strict=True), sc.link_capacity_bps.tolist(),
                       strict=True))
        assert all(fwd[(b, a)] == c for (a, b), c in fwd.items())
    geant = load_topology("geant")
    for sc, _ in draws[60:]:  # GÉANT: the shipped model's own capacities and geography
        assert np.array_equal(sc.link_capacity_bps, geant.link_capacity_bps)
        assert np.array_equal(sc.link_prop_delay_s, geant.link_prop_delay_s)


def test_draws_over_seeds_cover_the_documented_mixture(draws: list[tuple[Scenario, int]]) -> None:
    rho = np.array([sc.meta["rho_max"] for sc, _ in draws])
    # 80 % from U(0.1, 0.9), 20 % from U(0.9, 1.1): P(rho < 0.9) = 0.8; binomial sd over 120 draws is 0.037
    assert 0.68 <= (rho < 0.9).mean() <= 0.92
    assert rho.min() < 0.3 and rho.max() > 0.95
    ks = {sc.meta["tos_classes"] for sc, _ in draws}
    splits = {sc.meta["ecmp"] for sc, _ in draws}
    units = {sc.meta["buffer"]["unit"] for sc, _ in draws}
    assert ks == {1, 2, 3} and splits == {"even", "hash", "none"} and units == {"ms", "packets"}
    cv2 = np.concatenate([size_cv2(sc.flow_sizes_bits, sc.flow_size_probs) for sc, _ in draws])
    assert cv2.min() == 0.0 and cv2.max() > 1.3  # deterministic and IMIX both present


def test_large_networks_keep_at_most_max_pairs_sampled_by_gravity() -> None:
    topo = load_topology("geant")  # 40 nodes, 1560 pairs
    recipe = OperatedRecipe(max_pairs=100)
    sc, _ = draw_operated(topo, np.random.default_rng(5), recipe, keep_capacity=True)
    pairs = np.unique(sc.path_src * sc.n_nodes + sc.path_dst)
    assert pairs.size == 100 == sc.meta["pairs"]
    # sampling proportional to weight keeps far more than the 100/1560 = 6.4 % of the mass a uniform pick would
    assert sc.meta["pairs_mass_kept"] > 0.2


def test_size_cv2_of_the_documented_mixes() -> None:
    imix = np.array([[*IMIX_BYTES, np.nan, np.nan]]) * 8
    p = np.array([[7 / 12, 4 / 12, 1 / 12, 0, 0]])
    # simple IMIX 64/594/1518 B at 7:4:1: mean 361.8 B, E[s^2] 312,028 B^2 -> cv^2 = 312028/361.83^2 - 1
    assert size_cv2(imix, p)[0] == pytest.approx(312028.0 / 361.833**2 - 1, rel=1e-4)
    bimodal = np.array([[64.0, 1500.0, np.nan, np.nan, np.nan]]) * 8
    # 64/1500 B at p64 = 0.65 (the recipe's upper bound): cv^2 = 1.46, under the 1.5 ceiling
    assert size_cv2(bimodal, np.array([[0.65, 0.35, 0, 0, 0]]))[0] == pytest.approx(1.4612, abs=1e-3)


def test_simulate_operated_adds_propagation_exactly_to_an_md1_queue() -> None:
    # one 1 Mb/s link with 5 ms propagation, Poisson 1000-bit packets at load 0.5: M/D/1 sojourn
    # W = S + rho S / (2 (1 - rho)) = 1 ms + 0.5 ms = 1.5 ms (Pollaczek-Khinchine), plus 5 ms propagation
    sc = Scenario.build(2, [(0, 1, 1e6, 0.005), (1, 0, 1e6, 0.005)], {(0, 1): [0, 1]},
                        [Flow(0, 1, 5e5, pkt_size_bits=1000.0)], queue_pkts=1e9)
    res, prop = simulate_operated(sc, seed=3, packets=200_000)
    assert prop.tolist() == [0.005]
    queue = res.labels.path_delay_s[0] - prop[0]
    assert queue == pytest.approx(1.5e-3, rel=0.03)
    assert res.path_delay_ci[0] / queue < 0.03  # the CI is that of the queueing part
    p10, _, p50, _, p90 = res.path_delay_percentiles[0]
    assert 0.005 + 1e-3 * 0.95 <= p10 <= p50 <= p90  # percentiles shifted by the propagation too


def _tiny(out: Path, seed: int) -> None:
    recipe = OperatedRecipe(min_packets=5000, max_packets=5000, max_pairs=40)
    spec = TopologySpec(kind="set", names=("abilene", "nsfnet"))
    generate_dataset(out, n_samples=2, topology=spec, seed=seed, workers=1, progress=False, recipe=recipe)


_TIMING = {"wall_time_s", "cpu_time_s"}


def _contents(path: Path) -> tuple[dict[str, bytes], dict[str, object]]:
    with zipfile.ZipFile(path) as z:
        arrays = {n: z.read(n) for n in z.namelist() if n != "meta_json.npy"}
    _, meta = read_extras(path)
    return arrays, {k: v for k, v in meta.items() if k not in _TIMING}


def test_same_seed_same_bytes_other_seed_other_samples(tmp_path: Path) -> None:
    _tiny(tmp_path / "a", seed=11)
    _tiny(tmp_path / "b", seed=11)
    _tiny(tmp_path / "c", seed=12)
    for i in range(2):
        name = f"samples/sample_{i:06d}.npz"
        a, b, c = (_contents(tmp_path / d / name) for d in "abc")
        assert a == b  # every array byte for byte, and the metadata apart from timings
        assert a[0]["labels.path_delay_s.npy"] != c[0]["labels.path_delay_s.npy"]
    samples = list(iter_native_samples(tmp_path / "a"))
    assert [s.scenario.n_nodes for s in samples] == [12, 14]  # round-robin over the set: abilene, nsfnet
    manifest = json.loads((tmp_path / "a" / "manifest.json").read_text())
    assert manifest["recipe"]["name"] == "operated" and manifest["recipe"]["max_pairs"] == 40


def test_cli_recipe_operated_tiny_run(tmp_path: Path) -> None:
    out = tmp_path / "op"
    r = CliRunner().invoke(cli, [
        "simulate", "dataset", "--recipe", "operated", "--topology", "abilene,nsfnet", "--samples", "2",
        "--min-packets", "4000", "--max-packets", "4000", "--max-pairs", "30", "--out", str(out), "--no-progress",
    ])
    assert r.exit_code == 0, r.output
    assert "2 samples made" in r.output
    for s in (out / "samples").iterdir():
        extras, meta = read_extras(s)
        assert meta["scenario_meta"]["recipe"] == "operated"
        delay = np.load(s)["labels.path_delay_s"]
        measured = np.isfinite(delay)  # a tiny gravity pair may see no packet in 4000
        assert extras["path_scored"].dtype == bool and measured[extras["path_scored"]].all()
        # the label is propagation plus a positive queueing part (transmission at least)
        assert (delay[measured] > extras["path_prop_s"][measured]).all() and extras["path_prop_s"].max() > 1e-3
    stats = CliRunner().invoke(cli, ["simulate", "stats", str(out)])
    assert stats.exit_code == 0 and json.loads(stats.output)["samples"] == 2


@pytest.mark.parametrize("extra, needle", [
    (["--traffic", "uniform"], "drop --traffic"),
    (["--scheduling", "mixed"], "drop --scheduling"),
])
def test_cli_recipe_operated_refuses_the_default_recipe_options(tmp_path: Path, extra: list[str], needle: str) -> None:
    r = CliRunner().invoke(cli, ["simulate", "dataset", "--recipe", "operated", "--topology", "abilene",
                                  "--samples", "1", "--out", str(tmp_path / "x"), *extra])
    assert r.exit_code == 2 and needle in r.output
    assert not (tmp_path / "x").exists()


def test_cli_recipe_operated_load_replaces_the_busiest_link_draw(tmp_path: Path) -> None:
    out = tmp_path / "sat"
    r = CliRunner().invoke(cli, [
        "simulate", "dataset", "--recipe", "operated", "--topology", "abilene,nsfnet", "--samples", "2",
        "--min-packets", "4000", "--max-packets", "4000", "--max-pairs", "30", "--load", "0.85-0.9",
        "--out", str(out), "--no-progress",
    ])
    assert r.exit_code == 0, r.output
    recipe = json.loads((out / "manifest.json").read_text())["recipe"]
    assert recipe["load_low"] == [0.85, 0.9] and recipe["p_load_high"] == 0.0
    for s in iter_native_samples(out):
        assert 0.85 <= s.scenario.meta["rho_max"] <= 0.9
        util = s.scenario.link_load_bps() / s.scenario.link_capacity_bps
        assert np.isclose(util.max(), s.scenario.meta["rho_max"])
    bad = CliRunner().invoke(cli, ["simulate", "dataset", "--recipe", "operated", "--topology", "abilene",
                                    "--samples", "1", "--load", "0.9-0.2", "--out", str(tmp_path / "x")])
    assert bad.exit_code == 1 and "load '0.9-0.2'" in bad.output and "Traceback" not in bad.output


def test_cli_recipe_operated_needs_real_topologies(tmp_path: Path) -> None:
    r = CliRunner().invoke(cli, ["simulate", "dataset", "--recipe", "operated", "--topology", "random",
                                  "--samples", "1", "--out", str(tmp_path / "x")])
    assert r.exit_code == 2 and "real topologies" in r.output
    r = CliRunner().invoke(cli, ["simulate", "dataset", "--topology", "abilene", "--max-pairs", "10",
                                  "--samples", "1", "--out", str(tmp_path / "y")])
    assert r.exit_code == 2 and "--recipe operated only" in r.output


def test_cli_unknown_topology_in_a_set_is_one_line(tmp_path: Path) -> None:
    r = CliRunner().invoke(cli, ["simulate", "dataset", "--recipe", "operated", "--topology", "abilene,nowhere",
                                  "--samples", "1", "--out", str(tmp_path / "x")])
    assert r.exit_code == 1 and "unknown topology 'nowhere'" in r.output and "Traceback" not in r.output


@pytest.mark.shared
def test_zoo_topology_without_some_coordinates_gets_the_median_delay(shared_data: Path) -> None:
    # Colt: 153 nodes, 4 without coordinates (their links get 0 from the reader)
    topo = load_topology(shared_data / "topologies" / "zoo" / "Colt.graphml")
    unknown = ~np.isfinite(topo.node_lat)
    assert unknown.any()
    sc, _ = draw_operated(topo, np.random.default_rng(0), RECIPE)
    miss = unknown[sc.link_src] | unknown[sc.link_dst]
    known = topo.link_prop_delay_s[~miss]
    assert np.allclose(sc.link_prop_delay_s[miss], np.median(known))
    assert np.array_equal(sc.link_prop_delay_s[~miss], known)
    assert sc.meta["pairs"] == RECIPE.max_pairs  # 153 * 152 pairs, capped


def test_cli_topology_list_file_with_comments(tmp_path: Path) -> None:
    lst = tmp_path / "topos.txt"
    lst.write_text("# held-in networks\nnsfnet   # 14 nodes\n\nabilene\n", encoding="utf-8")
    out = tmp_path / "op"
    r = CliRunner().invoke(cli, ["simulate", "dataset", "--recipe", "operated", "--topology", f"@{lst}",
                                 "--samples", "2", "--min-packets", "3000", "--max-packets", "3000",
                                 "--max-pairs", "20", "--out", str(out), "--no-progress"])
    assert r.exit_code == 0, r.output
    assert "queueing part of scored paths" in r.output
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["topology"]["names"] == ["nsfnet", "abilene"]
    r = CliRunner().invoke(cli, ["simulate", "dataset", "--recipe", "operated", "--topology", f"@{tmp_path}/none",
                                 "--samples", "1", "--out", str(tmp_path / "z")])
    assert r.exit_code == 2 and "cannot read the topology list" in r.output
