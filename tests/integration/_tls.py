"""A TLS front for the embedded broker: stunnel (Debian's ``stunnel4``) terminating TLS before Tansu.

Tansu, the embedded broker, listens in plain TCP only, so the tests put a real TLS server in front of it:
clients connect to stunnel, which checks their certificate against a test CA (mutual TLS) and forwards the
bytes to the broker, whose metadata advertises the TLS port. The certificates come from ``trustme``.
"""

from __future__ import annotations

import contextlib
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from twinwatch.stream.broker import free_port


@dataclass(frozen=True)
class Pki:
    """PEM files of a test CA, a server certificate for 127.0.0.1, a client certificate and a stranger CA."""

    ca: Path
    server: Path
    """Server key and certificate chain in one file (stunnel's ``cert``)."""
    server_cert: Path
    """The server's certificate chain alone, and its key below (Alertmanager's ``tls_server_config``)."""
    server_key: Path
    client_cert: Path
    client_key: Path
    other_ca: Path
    """A CA that signed nothing here: a client trusting only it must refuse the server."""


def make_pki(folder: Path) -> Pki:
    """Write a fresh :class:`Pki` under ``folder`` (private keys readable by the owner only)."""
    import trustme

    ca, other = trustme.CA(), trustme.CA()
    server, client = ca.issue_cert("127.0.0.1", "localhost"), ca.issue_cert("twinwatch-test-client")
    pki = Pki(folder / "ca.pem", folder / "server.pem", folder / "server.crt", folder / "server.key",
              folder / "client.crt", folder / "client.key", folder / "other-ca.pem")
    ca.cert_pem.write_to_path(str(pki.ca))
    other.cert_pem.write_to_path(str(pki.other_ca))
    server.private_key_and_cert_chain_pem.write_to_path(str(pki.server))
    with pki.server_cert.open("wb") as fh:
        fh.writelines(pem.bytes() for pem in server.cert_chain_pems)
    server.private_key_pem.write_to_path(str(pki.server_key))
    client.cert_chain_pems[0].write_to_path(str(pki.client_cert))
    client.private_key_pem.write_to_path(str(pki.client_key))
    for key in (pki.server, pki.server_key, pki.client_key):
        key.chmod(0o600)
    return pki


class TlsFront:
    """stunnel on a free loopback port: TLS with the server certificate, client certificates of the CA
    required, bytes forwarded to ``target`` (``host:port``)."""

    def __init__(self, target: str, pki: Pki, folder: Path, port: int | None = None) -> None:
        self.port = port or free_port()
        self.bootstrap = f"127.0.0.1:{self.port}"
        self.target, self.pki, self.folder = target, pki, folder
        self._proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout_s: float = 20.0) -> TlsFront:
        exe = shutil.which("stunnel4") or shutil.which("stunnel")
        if exe is None:
            pytest.skip("stunnel not found: install Debian's stunnel4 package (apt-get install -y stunnel4; "
                        ".ci/run does it in CI)")
        conf = self.folder / "stunnel.conf"
        conf.write_text(f"foreground = yes\npid =\noutput = {self.folder / 'stunnel.log'}\n"
                        f"[kafka]\naccept = {self.bootstrap}\nconnect = {self.target}\n"
                        f"cert = {self.pki.server}\nCAfile = {self.pki.ca}\nverifyChain = yes\nrequireCert = yes\n")
        self._proc = subprocess.Popen([exe, str(conf)], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                      stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                log = self.folder / "stunnel.log"
                pytest.fail(f"stunnel exited with status {self._proc.returncode}: "
                            f"{log.read_text()[-2000:] if log.exists() else ''}")
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                return self
            time.sleep(0.05)
        self.stop()
        pytest.fail(f"stunnel did not listen on {self.bootstrap} within {timeout_s:g} s")

    def stop(self) -> None:
        proc, self._proc = self._proc, None
        if proc is not None and proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
