"""The network model: one YAML file per network, the operator's source of truth.

The file describes what the twin and the telemetry adapters need to know about
a network and nothing that changes per time window (traffic, link state):
devices, links with both ends' interfaces, capacities, propagation delays, IGP
metrics, queue and scheduling profiles, ToS classes and active probes. The
adapters' inventory (:meth:`NetworkModel.inventory_dict`, read by
``twinwatch.telemetry_adapters.inventory.Inventory.from_dict``) and the twin's
:class:`~twin.scenario.Scenario` (:meth:`NetworkModel.scenario_fields` plus
routing and traffic) are both built from it, and it alone maps link ids
(``"a->b"``) and device names to the twin's link and node numbers
(:attr:`NetworkModel.link_index`, :attr:`NetworkModel.node_index`).

File format (``version: 1``; JSON Schema in ``twin/netmodel/schema.json``)
--------------------------------------------------------------------------
::

    version: 1
    name: lab                          # letters, digits, . _ : @ / + - (also for device names)
    description: two PoPs and a spur
    defaults:                          # all optional
      queue_profile: wfq               # profile of ports that name none (else the built-in FIFO/1000 packets)
      metric: 10                       # IGP metric of links that give none (else OSPF auto-cost:
      reference_bandwidth_bps: 100G    #   max(1, floor(reference / capacity)), reference 100G)
    queue_profiles:
      wfq:  {policy: WFQ, weights: [60, 30, 10], buffer: {packets: 1000}}   # packets per queue (or a list of 3)
      edge: {policy: SP, buffer: {ms: 50}}     # or bytes per port, or ms of the port's line rate
    tos_classes:                       # DSCP (0..63; or tos: ToS bytes 0..255) → queue class 0..2
      - {name: voice, class: 0, dscp: [46]}
      - {name: video, class: 1, dscp: [34, 36]}
      - {name: best-effort, class: 2, dscp: [0], default: true}       # unlisted code points go here
    devices:                           # list order = node number 0..N-1
      - name: r1
        role: core                     # free text: core, edge, border, ...
        vendor: juniper                # juniper | cisco | arista | nokia | ... (interface naming)
        os: junos
        hostname: r1.lab.example.net   # the name the telemetry uses, when it differs
        lat: 48.85                     # degrees; with lon, gives propagation delays
        lon: 2.35
        loopback: {ipv4: 10.255.0.1, ipv6: "2001:db8::1"}
        prefixes: [198.51.100.0/24, "2001:db8:100::/48"]                # customer prefixes it originates
      - {name: r2, vendor: cisco, lat: 50.85, lon: 4.35, queue_profile: edge}
      - {name: r3, vendor: arista}
    links:
      # a cable: both directions, r1->r2 and r2->r1 (bidirectional: true is the default)
      - a: {device: r1, interface: et-0/0/0, metric: 12}     # metric of the direction leaving this end
        b: {device: r2, interface: HundredGigE0/0/0/0}
        capacity_bps: 100G             # bits/s: a number, or SI prefix k/M/G/T (powers of 1000), '2.5 Gbps'
        length_km: 300                 # one-way delay = length / 2e8 m/s; or delay_s: 0.0015;
        metric: 10                     #   or neither: great circle between the devices' lat/lon, else 0
      # one direction only: id (optional) must read a.device->b.device
      - {id: r2->r3, bidirectional: false, a: {device: r2, interface: TenGigE0/0/0/1},
         b: {device: r3, interface: Ethernet1}, capacity_bps: 10G, delay_s: 0.0001}
      - {id: r3->r2, bidirectional: false, a: {device: r3, interface: Ethernet1},
         b: {device: r2, interface: TenGigE0/0/0/1}, capacity_bps: 10G, delay_s: 0.0001}
    probes:                            # active measurements (TWAMP-like), one direction each
      - {name: r1-r3, src: r1, dst: r3, rate_pps: 10, size_bytes: 128, dscp: 46}

Rules (each violation is a :class:`NetworkModelError` naming the element and
the rule): link ends name known devices; no self-loops; a directed link
``a->b`` appears once (a parallel circuit is one link, e.g. a LAG with the
summed capacity); an interface transmits on at most one link and receives from
at most one, both towards the same peer; capacity (and the reference bandwidth)
1 bit/s .. 1 Pb/s; delay and length ≥ 0, at most 100 s one way, and not both;
metric an integer ≥ 1 (auto-cost capped at 2**24 - 1); probe rates finite; a
document of at most a million values after YAML aliases; queue profiles exist; WFQ and
DRR profiles give weights; a DSCP value is in one class; prefixes are CIDR
without host bits and loopbacks IP addresses, each owned by one device; probes
name two distinct known devices; keys are not repeated; the file is UTF-8. A
network that is not strongly connected loads with a
:class:`NetworkModelWarning`.

Numbering: node ``i`` is ``devices[i]``; directed links are numbered in file
order, a cable giving ``a->b`` then ``b->a``. The twin's scheduling is per
device (its ``queue_profile``, else the default); a link end may name another
profile for its egress port (kept in :attr:`NetworkModel.link_queue_profile`,
with a warning, since the twin cannot use it yet).

Examples
--------
>>> import textwrap
>>> text = textwrap.dedent('''
...     version: 1
...     name: lab
...     queue_profiles: {wfq: {policy: WFQ, weights: [60, 30, 10], buffer: {packets: 1000}}}
...     defaults: {queue_profile: wfq}
...     devices:
...       - {name: r1, lat: 48.85, lon: 2.35, prefixes: [198.51.100.0/24], loopback: {ipv4: 10.255.0.1}}
...       - {name: r2, lat: 50.85, lon: 4.35}
...     links:
...       - {a: {device: r1, interface: et-0/0/0, metric: 12}, b: {device: r2, interface: et-0/0/1},
...          capacity_bps: 100G, metric: 10}
...     probes: [{src: r1, dst: r2, rate_pps: 10, size_bytes: 128}]
... ''')
>>> import yaml
>>> m = model_from_dict(yaml.safe_load(text), source="lab.yaml")
>>> m.node_index, m.link_ids, m.link_metric.tolist()
({'r1': 0, 'r2': 1}, ['r1->r2', 'r2->r1'], [12, 10])
>>> round(float(m.link_prop_delay_s[0]) * 1e3, 3)   # Paris-Brussels, 265 km at 2e8 m/s, in ms
1.323
>>> m.node_policy.tolist(), m.node_queue_pkts[0].tolist()
([2, 2], [1000.0, 1000.0, 1000.0])
>>> inv = m.inventory_dict()
>>> inv["links"][0]["src_interface"], inv["prefixes"]
('et-0/0/0', {'198.51.100.0/24': 'r1', '10.255.0.1/32': 'r1'})
>>> model_from_dict(yaml.safe_load(dump_network_model(m)), source="again").link_ids == m.link_ids
True
"""

from __future__ import annotations

from twinwatch.twin.netmodel.dump import document, dump_network_model
from twinwatch.twin.netmodel.errors import NetworkModelError, NetworkModelWarning
from twinwatch.twin.netmodel.importers import import_graphml, import_scenario_yaml
from twinwatch.twin.netmodel.load import load_network_model, model_from_dict, schema, validate_document
from twinwatch.twin.netmodel.model import Device, LinkEnd, LinkSpec, NetworkModel, Probe, QueueProfile, ToSClass
from twinwatch.twin.netmodel.netbox import import_netbox
from twinwatch.twin.netmodel.shipped import list_networks, load_network, network_path
from twinwatch.twin.netmodel.units import format_bps, parse_bps

__all__ = [
    "Device",
    "LinkEnd",
    "LinkSpec",
    "NetworkModel",
    "NetworkModelError",
    "NetworkModelWarning",
    "Probe",
    "QueueProfile",
    "ToSClass",
    "document",
    "dump_network_model",
    "format_bps",
    "import_graphml",
    "import_netbox",
    "import_scenario_yaml",
    "list_networks",
    "load_network",
    "load_network_model",
    "model_from_dict",
    "network_path",
    "parse_bps",
    "schema",
    "validate_document",
]
