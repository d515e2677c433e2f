"""The adapters' Inventory built from the model's plain data maps every interface and prefix right."""

from __future__ import annotations

import math

import pytest

from tests.unit.twin.netmodel._docs import lab_doc
from twinwatch.telemetry_adapters.inventory import Inventory, Port
from twinwatch.twin.netmodel import list_networks, load_network, model_from_dict


def _check(model) -> Inventory:
    inv = Inventory.from_dict(model.inventory_dict(), origin=model.name)
    assert list(inv.links) == model.link_ids
    for k, lid in enumerate(model.link_ids):
        ln = inv.links[lid]
        assert (ln.src, ln.dst) == (model.node_names[model.link_src[k]], model.node_names[model.link_dst[k]])
        assert ln.capacity_bps == model.link_capacity_bps[k]
    host = {d.name: d.hostname or d.name for d in model.devices}
    ports = model.interface_links()
    assert len(inv.ports) == len(ports)
    for (dev, ifname), (tx, rx) in ports.items():
        port = inv.resolve(host[dev], ifname)
        assert port is not None, (dev, ifname)
        assert (port.link, port.rx_link) == (tx, rx), (dev, ifname)
        cap = model.link_capacity_bps[model.link_index[tx]] if tx else math.nan
        assert port.capacity_bps == cap or (math.isnan(cap) and math.isnan(port.capacity_bps))
    for prefix, dev in model.device_prefixes().items():
        addr = prefix.split("/")[0]
        assert inv.lookup_nodes([addr]).tolist() == [dev], prefix
    return inv


def test_lab_inventory() -> None:
    m = model_from_dict(lab_doc(), source="lab.yaml")
    inv = _check(m)
    # telemetry spellings: IOS XR abbreviation, the device's telemetry hostname
    assert inv.resolve("r2.lab.example.net", "Hu0/0/0/0") == Port("r2->r1", "r1->r2", 100e9)
    assert inv.resolve("r2.lab.example.net", "Te0/0/0/1") == Port("r2->r3", "r3->r2", 10e9)
    assert inv.node_of("r2.lab.example.net") == "r2"
    # longest-prefix match over customer prefixes and loopbacks, v4 and v6
    addrs = ["198.51.100.7", "2001:db8:100::9", "203.0.113.200", "10.255.0.1", "2001:db8::3", "192.0.2.1"]
    assert inv.lookup_nodes(addrs).tolist() == ["r1", "r1", "r2", "r1", "r3", None]


@pytest.mark.parametrize("name", list_networks())
def test_shipped_inventories(name: str) -> None:
    _check(load_network(name))
