"""Interface-name normalisation: the spellings real devices and feeds use."""

from __future__ import annotations

import pytest

from twinwatch.telemetry_adapters.interfaces import lookup_candidates, normalize_interface, split_unit

SAME_PORT = [
    # IOS XR: telemetry long names vs CLI abbreviations
    (["GigabitEthernet0/0/0/1", "Gi0/0/0/1", "Gig0/0/0/1", "GigE0/0/0/1", "gigabitethernet0/0/0/1"],
     "GigabitEthernet0/0/0/1"),
    (["TenGigE0/0/0/3", "Te0/0/0/3", "TenGigabitEthernet0/0/0/3"], "TenGigabitEthernet0/0/0/3"),
    (["HundredGigE0/0/0/1", "Hu0/0/0/1", "HundredGigabitEthernet0/0/0/1"], "HundredGigE0/0/0/1"),
    (["FortyGigE0/0/0/1", "Fo0/0/0/1", "FortyGigabitEthernet0/0/0/1"], "FortyGigabitEthernet0/0/0/1"),
    (["TwentyFiveGigE1/0/1", "Twe1/0/1"], "TwentyFiveGigE1/0/1"),
    (["FourHundredGigE0/0/0/0", "FH0/0/0/0"], "FourHundredGigE0/0/0/0"),
    (["Bundle-Ether10", "BE10", "be10"], "Bundle-Ether10"),
    (["Bundle-Ether10.200", "BE10.200"], "Bundle-Ether10.200"),
    # NX-OS / Arista
    (["Ethernet1/1", "Eth1/1", "eth1/1", "Et1/1"], "Ethernet1/1"),
    (["Ethernet1", "Et1"], "Ethernet1"),
    (["port-channel10", "Po10", "Port-Channel10", "Port-channel10"], "Port-channel10"),
    (["Loopback0", "Lo0"], "Loopback0"),
    (["Vlan100", "Vl100"], "Vlan100"),
    (["Management1", "Ma1"], "Management1"),
    # spaces from CLI output
    (["GigabitEthernet 0/1", " Gi0/1 "], "GigabitEthernet0/1"),
    # OpenConfig keys and gNMI paths
    (["interface[name=Ethernet1]", "/interfaces/interface[name=Ethernet1]/state/counters"], "Ethernet1"),
    (["interface[name=Ethernet1]/subinterfaces/subinterface[index=0]"], "Ethernet1.0"),
    (["/interfaces/interface[name=et-0/0/1]/subinterfaces/subinterface[index=0]/state/counters", "et-0/0/1.0"],
     "et-0/0/1.0"),
]  # fmt: skip

UNCHANGED = ["et-0/0/1", "xe-0/0/2.100", "ge-1/2/3", "ae0", "ae12.0", "lo0", "irb.10", "fxp0", "em0",
             "eth0", "ens3", "enp0s31f6", "bond0", "eth0.100", "mgmt0", "FooBar7"]  # fmt: skip


@pytest.mark.parametrize(("spellings", "canonical"), SAME_PORT)
def test_spellings_meet(spellings: list[str], canonical: str) -> None:
    assert {normalize_interface(s) for s in spellings} == {canonical}


@pytest.mark.parametrize("name", UNCHANGED)
def test_juniper_and_linux_names_unchanged(name: str) -> None:
    assert normalize_interface(name) == name


def test_idempotent() -> None:
    for spellings, canonical in SAME_PORT:
        assert normalize_interface(canonical) == canonical, spellings


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("et-0/0/1.0", ("et-0/0/1", 0)),
        ("ae0", ("ae0", None)),
        ("Ethernet1/1.42", ("Ethernet1/1", 42)),
        ("eth0.100", ("eth0", 100)),
    ],
)
def test_split_unit(name: str, expected: tuple[str, int | None]) -> None:
    assert split_unit(name) == expected


def test_unit_zero_falls_back_to_physical_other_units_do_not() -> None:
    assert lookup_candidates("et-0/0/1.0") == ("et-0/0/1.0", "et-0/0/1")
    assert lookup_candidates("et-0/0/1.100") == ("et-0/0/1.100",)
    assert lookup_candidates("Hu0/0/0/1") == ("HundredGigE0/0/0/1",)
