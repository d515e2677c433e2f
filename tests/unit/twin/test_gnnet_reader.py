"""Tests of the GNNet dataset reader (twin.datasets.gnnet).

Real-data tests read ``../shared/data/gnnet`` in place (skipped with a reason
when absent); synthetic tarballs built in ``tmp_path`` cover nesting, unstable
samples and the error paths.
"""

from __future__ import annotations

import functools
import io
import tarfile
from collections import Counter
from pathlib import Path

import networkx as nx
import numpy as np
import pytest

from tests.conftest import shared_data_path
from tests.unit.twin._gnnet_toy import GML, ROUTING
from twinwatch.twin.datasets import DatasetError, GNNetReader, iter_samples
from twinwatch.twin.scenario import Policy, SizeDist, TimeDist


def _gnnet(*parts: str) -> Path:
    return shared_data_path("gnnet", *parts)


@functools.lru_cache(maxsize=8)
def _raw_lines(tarball: Path, member: str) -> tuple[str, ...]:
    """Lines of ``member`` inside ``tarball``, read independently of the reader."""
    with tarfile.open(tarball, "r:gz") as tar:
        name = next(n for n in tar.getnames() if n.endswith("/" + member))
        f = tar.extractfile(name)
        assert f is not None
        return tuple(f.read().decode().split("\n"))


def _raw_entry(tarball: Path, member: str, index: int, n: int, src: int, dst: int) -> list[float]:
    body = _raw_lines(tarball, member)[index].split("|", 1)[-1]
    return [float(x) for x in body.split(";")[src * n + dst].split(",")]


# --------------------------------------------------------------- full counts
@pytest.mark.parametrize(
    ("layout", "expected", "sizes"),
    [("2020", 600, {14, 17, 24}), ("2021", 100, {30}), ("2022/validation", 84, {50, 75, 100, 130, 150, 170, 200})],
)
def test_all_shared_samples_parse(layout: str, expected: int, sizes: set[int]) -> None:
    reader = GNNetReader(_gnnet(*layout.split("/")))
    seen: list[tuple[str, int]] = []
    nodes: Counter[int] = Counter()
    for s in reader:
        sc, lb = s.scenario, s.labels  # Scenario validates itself on construction
        assert sc.time_unit == "tu"
        assert lb.path_delay_s.shape == (sc.n_paths,) and lb.link_utilization.shape == (sc.n_links,)
        # every off-diagonal pair carries traffic in the shared sets
        assert sc.n_paths == sc.n_nodes * (sc.n_nodes - 1) == sc.n_flows
        assert np.isfinite(lb.path_delay_s).all() and (lb.path_delay_s > 0).all()
        assert ((lb.path_loss_ratio >= 0) & (lb.path_loss_ratio <= 1)).all()
        assert s.sim_time > 0
        nodes[sc.n_nodes] += 1
        seen.append((s.file, s.index))
    assert reader.n_samples == len(seen) == expected
    assert reader.skipped_unstable == 0
    assert seen == sorted(seen)
    assert set(nodes) <= sizes


# ---------------------------------------------------- hand-verified, 2020
def test_2020_values_match_raw_text() -> None:
    tb = _gnnet("2020", "train", "gnnet_data_set_0_99.tar.gz")
    s = next(iter(GNNetReader(tb)))
    sc, lb = s.scenario, s.labels
    # input_files.txt line 0: "0;graph_nsfnet_wfq_60_30_10.txt;Routing-nsfnet-SP-k-12.txt"
    assert (s.file, s.index) == ("gnnet_data_set_0_99.tar.gz", 0)
    assert sc.meta["graph_file"] == "graph_nsfnet_wfq_60_30_10.txt"
    assert s.sim_time == 30950.0  # stability.txt "30950;0.000922148;OK;..."
    pid = sc.path_index()
    # simulationResults entry (0,1): "0.350733,0.353085,0,0.112495,-2.52386,...,0.006385"
    p = pid[(0, 1)]
    assert lb.path_delay_s[p] == 0.112495 and lb.path_jitter_s2[p] == 0.006385 and lb.path_loss_ratio[p] == 0.0
    # entry (0,5): "0.588126,0.583489,0,0.165814,...,0.012424"
    p = pid[(0, 5)]
    assert lb.path_delay_s[p] == 0.165814 and lb.path_jitter_s2[p] == 0.012424
    # routing row 0 "-1,0,2,1,1,2,..." + ports of the GML edges: 0 -port2-> 2 -port2-> 5 -port2-> 12
    assert sc.path_nodes(pid[(0, 5)]) == [0, 2, 5]
    assert sc.path_nodes(pid[(0, 4)]) == [0, 3, 4]
    assert sc.path_nodes(pid[(0, 12)]) == [0, 2, 5, 12]
    # traffic entry (0,1): "0,354.408,0.354408,10,2,1000,300,1700,2" (exp, binomial 300/1700, ToS 2)
    f = int(np.flatnonzero(sc.flow_path == pid[(0, 1)])[0])
    assert sc.flow_rate_bps[f] == 354.408
    assert sc.flow_pkt_rate[f] == pytest.approx(0.354408, rel=1e-6)
    assert sc.flow_time_dist[f] == TimeDist.POISSON and sc.flow_size_dist[f] == SizeDist.BINOMIAL
    assert sc.flow_sizes_bits[f, :2].tolist() == [300.0, 1700.0] and sc.flow_size_probs[f, :2].tolist() == [0.5, 0.5]
    assert sc.flow_tos[f] == 2
    # graph: node 0 WFQ "60,30,10", queueSizes "32,32,32"; edge 0->1 bandwidth "10000"
    assert sc.node_policy[0] == Policy.WFQ and sc.node_weights[0].tolist() == [60.0, 30.0, 10.0]
    assert sc.node_queue_pkts[0].tolist() == [32.0, 32.0, 32.0] and np.isnan(sc.node_buffer_bits).all()
    assert sc.link_capacity_bps[sc.link_index()[(0, 1)]] == 10000.0
    assert np.isnan(lb.link_utilization).all()  # 2020 has no port statistics


def test_2020_entries_match_raw_text_for_many_pairs() -> None:
    tb = _gnnet("2020", "validation", "gnnet_data_set_100_199.tar.gz")
    samples = GNNetReader(tb)
    for k, s in enumerate(samples):
        if k not in (0, 57):
            continue
        n = s.scenario.n_nodes
        for p in range(0, s.scenario.n_paths, 17):
            a, b = int(s.scenario.path_src[p]), int(s.scenario.path_dst[p])
            r = _raw_entry(tb, "simulationResults.txt", s.index, n, a, b)
            assert s.labels.path_delay_s[p] == r[3]
            assert s.labels.path_jitter_s2[p] == r[10]
            assert s.labels.path_loss_ratio[p] == pytest.approx(r[2] / r[1])
            t = _raw_entry(tb, "traffic.txt", s.index, n, a, b)
            f = int(np.flatnonzero(s.scenario.flow_path == p)[0])
            assert s.scenario.flow_rate_bps[f] == t[1] and s.scenario.flow_tos[f] == t[-1]


@pytest.mark.parametrize(
    ("parts", "index"),
    [
        (("2020", "train", "gnnet_data_set_0_99.tar.gz"), 2),
        (("2022", "validation", "50", "results_400-2000_3_3.tar.gz"), 0),
    ],
)
def test_port_matrix_routing_matches_networkx_walk(parts: tuple[str, ...], index: int) -> None:
    """Follow the port matrix with networkx and plain Python, compare every path."""
    tb = _gnnet(*parts)
    s = next(x for x in GNNetReader(tb) if x.index == index)
    sc = s.scenario
    folder = tb.parent
    g = nx.read_gml(folder / "graphs" / str(sc.meta["graph_file"]), destringizer=int)
    nxt = {(u, int(d["port"])): v for u, v, d in g.edges(data=True)}
    rows = (folder / "routings" / str(sc.meta["routing_file"])).read_text().splitlines()
    R = [[int(x) for x in row.split(",")[:-1]] for row in rows]
    for p in range(sc.n_paths):
        a, b = int(sc.path_src[p]), int(sc.path_dst[p])
        node, walk = a, [a]
        while node != b:
            node = nxt[(node, R[node][b])]
            walk.append(node)
        assert sc.path_nodes(p) == walk
    caps = {(u, v): float(d["bandwidth"]) for u, v, d in g.edges(data=True)}
    assert {(int(u), int(v)): c for u, v, c in zip(sc.link_src, sc.link_dst, sc.link_capacity_bps)} == caps


# ---------------------------------------------------- hand-verified, 2021
def test_2021_values_match_raw_text() -> None:
    tb = _gnnet("2021", "train", "results_30_400-2000_0_24.tar.gz")
    s = next(iter(GNNetReader(tb)))
    sc, lb = s.scenario, s.labels
    assert (sc.meta["graph_file"], sc.meta["routing_file"]) == ("graph-30-0-2.txt", "Routing-30-0-SP-k-6.txt")
    pid, lid = sc.path_index(), sc.link_index()
    # routing line 5 "0;13;16;5" (the 2021 routing files list node sequences)
    assert sc.path_nodes(pid[(0, 5)]) == [0, 13, 16, 5]
    assert sc.path_nodes(pid[(0, 1)]) == [0, 13, 1]
    # results entry (0,1): "0.944013,0.947263,0,0.134548,-2.25865,...,0.007308"
    assert lb.path_delay_s[pid[(0, 1)]] == 0.134548 and lb.path_jitter_s2[pid[(0, 1)]] == 0.007308
    # linkUsage entry 4 = port 0->4: "0.192382,0.000000,1002.642678,0.192382,0.000000,1.178490,6.000000,1002.642678"
    e = lid[(0, 4)]
    assert lb.link_utilization[e] == 0.192382 and lb.link_loss_ratio[e] == 0.0
    assert lb.link_queue_pkts[e] == 1.178490  # packets (queueSizes given in packets)
    assert lb.link_queue_occupancy[e] == pytest.approx(1.178490 / 32)  # ratio of the 32-packet buffer
    # graph: FIFO, queueSizes "32", one QoS level; edge 0->24 bandwidth 25000.0
    assert sc.node_policy[0] == Policy.FIFO and sc.node_queue_pkts[0, 0] == 32.0
    assert np.isnan(sc.node_queue_pkts[0, 1:]).all()
    assert sc.link_capacity_bps[lid[(0, 24)]] == 25000.0
    assert np.isfinite(lb.link_utilization).all()


# ---------------------------------------------------- hand-verified, 2022
def test_2022_values_match_raw_text() -> None:
    tb = _gnnet("2022", "validation", "200", "results_400-2000_11_11.tar.gz")
    s = next(iter(GNNetReader(tb)))
    sc, lb = s.scenario, s.labels
    assert sc.n_nodes == 200 and s.index == 0 and s.sim_time == 8350.0
    assert sc.meta["graph_file"] == "graph_topo-200-41-1.txt"
    pid, lid = sc.path_index(), sc.link_index()
    # results entry (0,1): "0.779251,0.742634,0.000119,0.027715,-3.81652,...,0.000414"
    p = pid[(0, 1)]
    assert lb.path_delay_s[p] == 0.027715 and lb.path_jitter_s2[p] == 0.000414
    assert lb.path_loss_ratio[p] == pytest.approx(0.000119 / 0.742634)
    # traffic (0,1): "0,795.4,0.752507,10,3,1057,5,500,0.22,750,0.05,1000,0.06,1250,0.62,1500,0.05,1"
    f = int(np.flatnonzero(sc.flow_path == p)[0])
    assert sc.flow_time_dist[f] == TimeDist.POISSON and sc.flow_rate_bps[f] == 795.4 and sc.flow_tos[f] == 1
    assert sc.flow_size_dist[f] == SizeDist.GENERIC
    assert sc.flow_sizes_bits[f].tolist() == [500.0, 750.0, 1000.0, 1250.0, 1500.0]
    assert sc.flow_size_probs[f].tolist() == [0.22, 0.05, 0.06, 0.62, 0.05]
    # traffic (0,2): "4,2901.9,5.58057,5,5,10,3,1040,..." ON-OFF, off 5, on 5, ToS 0
    f = int(np.flatnonzero(sc.flow_path == pid[(0, 2)])[0])
    assert sc.flow_time_dist[f] == TimeDist.ONOFF and (sc.flow_off_s[f], sc.flow_on_s[f]) == (5.0, 5.0)
    assert sc.flow_tos[f] == 0 and sc.flow_pkt_rate[f] == pytest.approx(2901.9 / 1040)
    # traffic (0,3): "1,1806.27,2.28641,3,790,..." CBR
    f = int(np.flatnonzero(sc.flow_path == pid[(0, 3)])[0])
    assert sc.flow_time_dist[f] == TimeDist.CBR and sc.flow_rate_bps[f] == 1806.27
    # linkUsage port 0->86: "0.856748,0.000119,1000.181334:0.109331,0.000000,4782.830168,10750.000000,1025.787676:
    #   0.202749,0.000000,4520.641984,14750.000000,994.173387:0.544668,0.000187,3059.345397,16000.000000,997.427250"
    e = lid[(0, 86)]
    assert lb.link_utilization[e] == 0.856748 and lb.link_loss_ratio[e] == 0.000119
    occ = 4782.830168 / 1025.787676 + 4520.641984 / 994.173387 + 3059.345397 / 997.427250  # bits -> packets
    assert lb.link_queue_pkts[e] == pytest.approx(occ)
    assert sc.meta["link_queue_stats"][e, 1].tolist() == [0.202749, 0.0, 4520.641984, 14750.0, 994.173387]
    # graph: node 0 DRR "50,40,10" bufferSizes "16000,16000,16000"; node 2 FIFO "64000"
    assert sc.node_policy[0] == Policy.DRR and sc.node_weights[0].tolist() == [50.0, 40.0, 10.0]
    assert sc.node_buffer_bits[0] == 16000.0 and np.isnan(sc.node_queue_pkts).all()
    assert sc.node_policy[2] == Policy.FIFO and sc.node_buffer_bits[2] == 64000.0
    assert sc.link_capacity_bps[lid[(0, 179)]] == 250000.0


def test_nested_root_gives_relative_posix_paths() -> None:
    files = GNNetReader(_gnnet("2022")).files
    assert len(files) == 84
    rel = [p.relative_to(_gnnet("2022")).as_posix() for p in files]
    assert rel == sorted(rel) and rel[0].startswith("validation/100/")
    s = next(iter_samples(_gnnet("2022", "validation")))
    assert s.file == "100/results_400-2000_12_12.tar.gz" and s.index == 0


# ------------------------------------------------------ synthetic datasets
_NOFLOW = "-1,0,-1,0,0"
_NORES = "0,0,0,-1,-1,-1,-1,-1,-1,-1,-1"


def _result_line(delay: float) -> str:
    entries = []
    for a in range(3):
        for b in range(3):
            gen = 0.1 * (a + 1)
            entries.append(_NORES if a == b else f"100,{gen},{gen / 10},{delay + a + b / 10},-1,1,1,1,1,1,0.5")
    return "1,2,3|" + ";".join(entries) + ";"


def _traffic_line() -> str:
    entries = []
    for a in range(3):
        for b in range(3):
            entries.append(_NOFLOW if a == b else f"0,{100 * (a + 1)},{0.1 * (a + 1)},10,0,1000,{(a + b) % 3}")
    return "500|" + ";".join(entries) + ";"


def _write_tarball(path: Path, members: dict[str, str]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    stem = path.name[: -len(".tar.gz")]
    with tarfile.open(path, "w:gz") as tar:
        for name, text in members.items():
            data = text.encode()
            info = tarfile.TarInfo(f"{stem}/{name}")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))


def _make_dataset(folder: Path, *, stability: tuple[str, ...] = ("OK", "OK", "OK"), routing: str = "r.txt") -> Path:
    (folder / "graphs").mkdir(parents=True, exist_ok=True)
    (folder / "routings").mkdir(parents=True, exist_ok=True)
    (folder / "graphs" / "g.txt").write_text(GML)
    (folder / "routings" / "r.txt").write_text(ROUTING)
    k = len(stability)
    tb = folder / "results_3_0_2.tar.gz"
    _write_tarball(
        tb,
        {
            "simulationResults.txt": "".join(_result_line(0.5 + i) + "\n" for i in range(k)),
            "traffic.txt": "".join(_traffic_line() + "\n" for _ in range(k)),
            "stability.txt": "".join(f"{100 + i};0.001;{st};Mem(KB):1;Time(s):1\n" for i, st in enumerate(stability)),
            "input_files.txt": "".join(f"{i};g.txt;{routing if i == k - 1 else 'r.txt'}\n" for i in range(k)),
        },
    )
    return tb


def test_synthetic_nested_folders_and_unstable_skip(tmp_path: Path) -> None:
    _make_dataset(tmp_path / "a" / "b" / "c", stability=("OK", "UNSTABLE", "OK"))
    _make_dataset(tmp_path / "a" / "z")
    reader = GNNetReader(tmp_path)
    got = [(s.file, s.index) for s in reader]
    assert got == [
        ("a/b/c/results_3_0_2.tar.gz", 0),
        ("a/b/c/results_3_0_2.tar.gz", 2),
        ("a/z/results_3_0_2.tar.gz", 0),
        ("a/z/results_3_0_2.tar.gz", 1),
        ("a/z/results_3_0_2.tar.gz", 2),
    ]
    assert reader.skipped_unstable == 1 and reader.n_samples == 5
    s = next(iter(GNNetReader(tmp_path / "a" / "z")))
    sc, lb = s.scenario, s.labels
    assert sc.n_paths == 6 and sc.path_nodes(sc.path_index()[(2, 0)]) == [2, 1, 0]
    assert lb.path_delay_s[sc.path_index()[(1, 2)]] == pytest.approx(0.5 + 1 + 0.2)
    assert lb.path_loss_ratio.tolist() == pytest.approx([0.1] * 6)
    assert sc.flow_tos.tolist() == [(a + b) % 3 for a in range(3) for b in range(3) if a != b]
    assert sc.node_policy.tolist() == [Policy.SP, Policy.WFQ, Policy.FIFO]
    assert sc.link_capacity_bps.tolist() == [1000.0, 1000.0, 2000.0, 2000.0]
    assert s.sim_time == 100.0


def test_corrupt_tarball_names_file_and_sample(tmp_path: Path) -> None:
    tb = _make_dataset(tmp_path / "x")
    raw = tb.read_bytes()
    tb.write_bytes(raw[: len(raw) // 2])  # truncated download
    with pytest.raises(DatasetError, match=r"x/results_3_0_2\.tar\.gz, sample 0: cannot read the tarball") as ei:
        list(iter_samples(tmp_path))
    assert ei.value.file == "x/results_3_0_2.tar.gz" and ei.value.index == 0
    tb.write_bytes(b"this is not gzip at all")
    with pytest.raises(DatasetError, match=r"results_3_0_2\.tar\.gz, sample 0"):
        list(iter_samples(tmp_path))


def test_missing_routing_file_names_file_and_sample(tmp_path: Path) -> None:
    _make_dataset(tmp_path / "y", routing="Routing-missing.txt")
    it = iter(GNNetReader(tmp_path))
    assert [next(it).index, next(it).index] == [0, 1]
    with pytest.raises(DatasetError, match=r"y/results_3_0_2\.tar\.gz, sample 2: routing file .*Routing-missing\.txt"):
        next(it)


def test_missing_graph_and_bad_number_are_reported(tmp_path: Path) -> None:
    tb = _make_dataset(tmp_path / "w")
    (tmp_path / "w" / "graphs" / "g.txt").unlink()
    with pytest.raises(DatasetError, match=r"sample 0: topology file .*g\.txt"):
        list(iter_samples(tmp_path))
    _make_dataset(tmp_path / "w")
    good = _traffic_line()
    _write_tarball(
        tb,
        {
            "simulationResults.txt": _result_line(1.0) + "\n" + _result_line(1.0).replace("0.5", "x.5", 1) + "\n",
            "traffic.txt": good + "\n" + good + "\n",
            "stability.txt": "1;0;OK;a;b\n1;0;OK;a;b\n",
            "input_files.txt": "0;g.txt;r.txt\n1;g.txt;r.txt\n",
        },
    )
    with pytest.raises(DatasetError, match=r"w/results_3_0_2\.tar\.gz, sample 1: simulationResults"):
        list(iter_samples(tmp_path))


def test_missing_root_is_a_dataset_error(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="does not exist"):
        GNNetReader(tmp_path / "nope")


def test_traffic_line_with_several_flows_per_pair() -> None:
    """Several ``:``-separated flows on one pair (documented, absent from the shared sets)."""
    from twinwatch.twin.datasets._gnnet_lines import LineError, parse_traffic

    line = "9|-1,0,-1,0,0;0,100,0.1,10,0,1000,0:1,50,0.05,0,1000,2;2,10,1,2,1,700,300,1100,1;-1,0,-1,0,0;"
    t = parse_traffic(line, 2)
    assert t.pair.tolist() == [1, 1, 2] and t.tos.tolist() == [0, 2, 1]
    assert t.eq_lambda.tolist() == [100.0, 50.0, 10.0] and t.size_dist.tolist() == [0, 0, 1]
    assert t.sizes[2, :2].tolist() == [300.0, 1100.0]
    with pytest.raises(LineError, match="does not match its time/size"):
        parse_traffic(line.replace("0,1000,2;", "0,1000,2,7;"), 2)
    with pytest.raises(LineError, match="expected 3x3=9 entries"):
        parse_traffic(line, 3)
