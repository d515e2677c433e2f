"""Validation errors of twin.scenario: each names the offending element."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from twinwatch.twin.scenario import Flow, Policy, Scenario, ScenarioError


def line(n: int = 4) -> Scenario:
    """A bidirectional line 0-1-...-(n-1) with one flow end to end."""
    links = [(i, i + 1, 1e6, 0.001) for i in range(n - 1)] + [(i + 1, i, 1e6, 0.001) for i in range(n - 1)]
    return Scenario.build(n, links, {(0, n - 1): list(range(n))}, [Flow(0, n - 1, 1e5)])


def test_good_scenario_builds() -> None:
    sc = line()
    assert (sc.n_nodes, sc.n_links, sc.n_paths, sc.n_flows) == (4, 6, 1, 1)
    assert sc.path_nodes(0) == [0, 1, 2, 3]
    assert sc.link_load_bps()[:3].tolist() == [1e5, 1e5, 1e5]
    assert int(sc.node_policy[0]) == Policy.FIFO


def test_route_over_missing_link_is_named() -> None:
    links = [(0, 1, 1e6), (1, 2, 1e6)]
    with pytest.raises(ScenarioError, match=r"route 0->3 uses link 2->3, which does not exist"):
        Scenario.build(4, links, {(0, 3): [0, 1, 2, 3]}, [Flow(0, 3, 1.0)])


def test_path_with_out_of_range_link_is_named() -> None:
    sc = line()
    bad = sc.path_links.copy()
    bad[1] = 17
    with pytest.raises(ScenarioError, match=r"path 0->3 uses link 17, which does not exist"):
        dataclasses.replace(sc, path_links=bad)


def test_negative_capacity_is_named() -> None:
    links = [(0, 1, 1e6), (1, 2, -5.0)]
    with pytest.raises(ScenarioError, match=r"link 1 \(1->2\) has capacity -5.0 bps"):
        Scenario.build(3, links, {(0, 2): [0, 1, 2]}, [Flow(0, 2, 1.0)])


@pytest.mark.parametrize("cap", [0.0, float("nan"), float("inf")])
def test_zero_or_non_finite_capacity(cap: float) -> None:
    with pytest.raises(ScenarioError, match=r"link 0 \(0->1\)"):
        Scenario.build(2, [(0, 1, cap)], {(0, 1): [0, 1]}, [Flow(0, 1, 1.0)])


def test_negative_propagation_delay_is_named() -> None:
    with pytest.raises(ScenarioError, match=r"link 0 \(0->1\) has propagation delay"):
        Scenario.build(2, [(0, 1, 1e6, -0.1)], {(0, 1): [0, 1]}, [Flow(0, 1, 1.0)])


def test_routing_loop_is_named() -> None:
    links = [(0, 1, 1e6), (1, 2, 1e6), (2, 1, 1e6), (1, 3, 1e6)]
    with pytest.raises(ScenarioError, match=r"path 0->3 has a routing loop: it visits node 1 twice"):
        Scenario.build(4, links, {(0, 3): [0, 1, 2, 1, 3]}, [Flow(0, 3, 1.0)])


def test_non_contiguous_path_is_named() -> None:
    sc = line()
    # links 0: 0->1, 1: 1->2, 2: 2->3; replace the middle hop by 2->3 → 0->1 followed by 2->3
    bad = sc.path_links.copy()
    bad[1] = 2
    with pytest.raises(ScenarioError, match=r"path 0->3 is not contiguous: link 0->1 is followed by 2->3"):
        dataclasses.replace(sc, path_links=bad, path_ptr=np.array([0, 3]))


def test_path_ending_at_wrong_node_is_named() -> None:
    sc = line()
    with pytest.raises(ScenarioError, match=r"path 0->2 starts or ends at the wrong node"):
        dataclasses.replace(sc, path_dst=np.array([2]))


def test_route_with_wrong_endpoints() -> None:
    with pytest.raises(ScenarioError, match=r"route 0->2 must run from 0 to 2"):
        Scenario.build(3, [(0, 1, 1e6), (1, 2, 1e6)], {(0, 2): [0, 1]}, [Flow(0, 2, 1.0)])


def test_flow_without_route_is_named() -> None:
    with pytest.raises(ScenarioError, match=r"flow 1 \(1->0\) has no route"):
        Scenario.build(2, [(0, 1, 1e6), (1, 0, 1e6)], {(0, 1): [0, 1]}, [Flow(0, 1, 1.0), Flow(1, 0, 1.0)])


def test_negative_rate_and_bad_tos_are_named() -> None:
    links = [(0, 1, 1e6)]
    with pytest.raises(ScenarioError, match=r"flow 0 on 0->1 has rate -1.0 bps"):
        Scenario.build(2, links, {(0, 1): [0, 1]}, [Flow(0, 1, -1.0)])
    with pytest.raises(ScenarioError, match=r"flow 0 has ToS 5"):
        Scenario.build(2, links, {(0, 1): [0, 1]}, [Flow(0, 1, 1.0, tos=5)])


def test_link_endpoint_outside_nodes_and_self_loop() -> None:
    with pytest.raises(ScenarioError, match=r"link 0 \(0->7\) names a node outside 0..2"):
        Scenario.build(3, [(0, 7, 1e6)], {}, [])
    with pytest.raises(ScenarioError, match=r"link 0 is a self-loop on node 1"):
        Scenario.build(3, [(1, 1, 1e6)], {}, [])


def test_duplicate_link_is_named() -> None:
    with pytest.raises(ScenarioError, match=r"link 0->1 is given more than once"):
        Scenario.build(2, [(0, 1, 1e6), (0, 1, 2e6)], {}, [])


def test_two_paths_for_one_pair_validate_and_path_index_names_the_pair() -> None:
    # ECMP: one path per flow, several paths may share a (src, dst) pair
    sc = line()
    two = dataclasses.replace(
        sc,
        path_src=np.array([0, 0]), path_dst=np.array([3, 3]),
        path_ptr=np.array([0, 3, 6]), path_links=np.concatenate([sc.path_links, sc.path_links]),
    )
    assert two.n_paths == 2 and two.pair_paths(0, 3).tolist() == [0, 1] and two.path_rank.tolist() == [0, 1]
    with pytest.raises(ScenarioError, match=r"pair 0->3 has 2 paths \(ECMP\); use pair_paths"):
        two.path_index()


def test_flow_routes_give_one_path_per_node_sequence() -> None:
    # square 0-1-3 / 0-2-3: two flows of one pair on their own routes, a third shares the first route
    links = [(0, 1, 1e6), (1, 3, 1e6), (0, 2, 1e6), (2, 3, 1e6)]
    flows = [Flow(0, 3, 1e5, route=(0, 1, 3)), Flow(0, 3, 2e5, route=(0, 2, 3)), Flow(0, 3, 3e5, route=(0, 1, 3))]
    sc = Scenario.build(4, links, {}, flows)
    assert sc.n_paths == 2 and sc.flow_path.tolist() == [0, 1, 0]
    assert sc.path_rate_bps().tolist() == [4e5, 2e5]
    with pytest.raises(ScenarioError, match=r"flow 0 route 0->3 uses link 1->2, which does not exist"):
        Scenario.build(4, links, {}, [Flow(0, 3, 1.0, route=(0, 1, 2, 3))])


def test_flow_referring_to_missing_path() -> None:
    sc = line()
    with pytest.raises(ScenarioError, match=r"flow 0 refers to path 4, which does not exist"):
        dataclasses.replace(sc, flow_path=np.array([4]))


def test_shape_errors_name_the_array() -> None:
    sc = line()
    with pytest.raises(ScenarioError, match=r"node_weights: expected shape \(4, 3\)"):
        dataclasses.replace(sc, node_weights=np.zeros((4, 2)))
    with pytest.raises(ScenarioError, match=r"link_capacity_bps: expected 6 rows"):
        dataclasses.replace(sc, link_capacity_bps=np.ones(5))
