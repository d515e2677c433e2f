"""Live helpers of the deploy tests: free loopback ports, polling, a webhook receiver, bounded processes,
and Alertmanager started from deploy/alertmanager/alertmanager.yml with test timers."""

from __future__ import annotations

import json
import socket
import subprocess
import threading
import time
import urllib.parse
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.deploy._support import DEPLOY, tool


def free_port() -> int:
    """A loopback TCP port free at the time of the call."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for(what: str, check: Callable[[], Any], timeout: float, every: float = 0.5) -> Any:
    """Poll ``check`` until it returns something truthy; fail naming ``what`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            got = check()
        except OSError:
            got = None
        if got:
            return got
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(every)


def get_json(url: str, timeout: float = 10.0) -> Any:
    with urllib.request.urlopen(url, timeout=timeout) as resp:
        return json.loads(resp.read())


def ready(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as resp:
            return resp.status == 200
    except OSError:
        return False


# ----------------------------------------------------------------------------- webhook receiver
@dataclass
class Webhook:
    """Alertmanager webhook notifications received: (receiver path, payload), in arrival order."""

    port: int = 0
    notes: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def received(self, receiver: str) -> list[dict[str, Any]]:
        with self.lock:
            return [p for r, p in self.notes if r == receiver]

    def alerts(self, receiver: str) -> list[dict[str, Any]]:
        return [a for p in self.received(receiver) for a in p["alerts"]]


# ----------------------------------------------------------------------------- processes
def start_process(procs: list[subprocess.Popen[bytes]], args: list[str], log: Path) -> subprocess.Popen[bytes]:
    """Start ``args`` with output to ``log``, registered in ``procs`` (the fixture ends it in teardown)."""
    with log.open("wb") as fh:
        p = subprocess.Popen(args, stdout=fh, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    procs.append(p)
    return p


def alertmanager_config(webhook_port: int) -> dict[str, Any]:
    """deploy/alertmanager/alertmanager.yml with the webhook on the test's port and 1 s / 2 s group timers."""
    cfg = yaml.safe_load((DEPLOY / "alertmanager" / "alertmanager.yml").read_text(encoding="utf-8"))
    for rec in cfg["receivers"]:
        for wh in rec.get("webhook_configs", []):
            u = urllib.parse.urlsplit(wh["url"])
            wh["url"] = urllib.parse.urlunsplit((u.scheme, f"127.0.0.1:{webhook_port}", u.path, "", ""))

    def fast(route: dict[str, Any]) -> None:
        for key, value in (("group_wait", "1s"), ("group_interval", "2s")):
            if key in route or route is cfg["route"]:
                route[key] = value
        for child in route.get("routes", []):
            fast(child)

    fast(cfg["route"])
    return cfg



def start_alertmanager(procs: list[subprocess.Popen[bytes]], tmp: Path, webhook_port: int) -> int:
    """A real Alertmanager on a free loopback port with :func:`alertmanager_config`; returns the port."""
    port = free_port()
    cfg = tmp / "alertmanager.yml"
    cfg.write_text(yaml.safe_dump(alertmanager_config(webhook_port)), encoding="utf-8")
    start_process(procs, [tool("prometheus-alertmanager"), f"--config.file={cfg}", f"--storage.path={tmp / 'am'}",
                          f"--web.listen-address=127.0.0.1:{port}", "--cluster.listen-address=", "--log.level=warn"],
                  tmp / "alertmanager.log")
    wait_for("alertmanager /-/ready", lambda: ready(f"http://127.0.0.1:{port}/-/ready"), 60)
    return port
