"""A small valid network-model document for the tests (a fresh copy per call)."""

from __future__ import annotations

from typing import Any


def lab_doc() -> dict[str, Any]:
    """Three routers in a triangle (two cables and two directed links), a profile, ToS classes, a probe."""
    return {
        "version": 1,
        "name": "lab",
        "defaults": {"queue_profile": "wfq"},
        "queue_profiles": {
            "wfq": {"policy": "WFQ", "weights": [60, 30, 10], "buffer": {"packets": 1000}},
            "edge": {"policy": "SP", "buffer": {"ms": 10}},
        },
        "tos_classes": [
            {"name": "voice", "class": 0, "dscp": [46]},
            {"name": "video", "class": 1, "dscp": [34, 36]},
            {"name": "best-effort", "class": 2, "dscp": [0], "default": True},
        ],
        "devices": [
            {"name": "r1", "vendor": "juniper", "lat": 48.85, "lon": 2.35, "loopback": {"ipv4": "10.255.0.1"},
             "prefixes": ["198.51.100.0/24", "2001:db8:100::/48"]},
            {"name": "r2", "vendor": "cisco", "lat": 50.85, "lon": 4.35, "hostname": "r2.lab.example.net",
             "prefixes": ["203.0.113.0/24"]},
            {"name": "r3", "vendor": "arista", "queue_profile": "edge", "loopback": {"ipv6": "2001:db8::3"}},
        ],
        "links": [
            {"a": {"device": "r1", "interface": "et-0/0/0", "metric": 12},
             "b": {"device": "r2", "interface": "HundredGigE0/0/0/0"}, "capacity_bps": "100G", "metric": 10},
            {"a": {"device": "r1", "interface": "et-0/0/1"}, "b": {"device": "r3", "interface": "Ethernet1"},
             "capacity_bps": 1.0e10, "length_km": 100},
            {"id": "r2->r3", "bidirectional": False, "a": {"device": "r2", "interface": "TenGigE0/0/0/1"},
             "b": {"device": "r3", "interface": "Ethernet2"}, "capacity_bps": "10 Gbps", "delay_s": 0.0001},
            {"id": "r3->r2", "bidirectional": False, "a": {"device": "r3", "interface": "Ethernet2"},
             "b": {"device": "r2", "interface": "TenGigE0/0/0/1"}, "capacity_bps": "10G", "delay_s": 0.0001},
        ],
        "probes": [{"name": "r1-r3", "src": "r1", "dst": "r3", "rate_pps": 10, "size_bytes": 128, "dscp": 46}],
    }
