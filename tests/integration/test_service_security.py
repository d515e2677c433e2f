"""The service on a broker behind mutual TLS, and its start when the broker is late, absent or refuses it.

The broker is the embedded Tansu behind stunnel (``_tls.py``): a real TLS server that wants a client
certificate of the test CA. SASL is exercised against Tansu requiring authentication up to a refused login:
the whole SCRAM exchange runs, and the broker turns it down. No login can succeed there: Tansu keeps its users
in memory and, once it requires authentication, refuses the unauthenticated request that would create the
first one.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest

from tests.integration._kafka import consume_all, produce_run
from tests.integration._tls import Pki, TlsFront, make_pki
from twinwatch.stream.broker import EmbeddedBroker, free_port
from twinwatch.stream.broker_wait import probe
from twinwatch.stream.config import KafkaConfig

pytestmark = [pytest.mark.kafka, pytest.mark.slow]

FAILED = 4
"""``twinwatch run``'s exit status when it stops on an error (``ExitCode.FAILED``)."""


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return make_pki(tmp_path_factory.mktemp("pki"))


@pytest.fixture(scope="module")
def tls_broker(pki: Pki, tmp_path_factory: pytest.TempPathFactory) -> Iterator[TlsFront]:
    """Tansu on a plain loopback port, reachable (and advertised) only through the mutual-TLS front."""
    front_port = free_port()
    broker = EmbeddedBroker(advertised=f"127.0.0.1:{front_port}").start()
    front = TlsFront(broker.bootstrap, pki, tmp_path_factory.mktemp("stunnel"), port=front_port)
    try:
        yield front.start()
    finally:
        front.stop()
        broker.stop()


def _mtls(front: TlsFront, pki: Pki, **over: object) -> KafkaConfig:
    kw: dict[str, object] = dict(bootstrap=front.bootstrap, security_protocol="SSL", ssl_cafile=str(pki.ca),
                                 ssl_certfile=str(pki.client_cert), ssl_keyfile=str(pki.client_key))
    return KafkaConfig(**{**kw, **over})  # type: ignore[arg-type]


def _config(path: Path, *, kafka: str, network: Path, port: int, alerts: Path | None = None) -> Path:
    sinks = f'sinks: {{jsonl: "{alerts}"}}\n' if alerts else ""
    path.write_text(f"kafka: {{{kafka}}}\nnetworks: [\"{network}\"]\ntwin: {{model: qt}}\n"
                    f"detection: {{warmup_windows: 3}}\n{sinks}metrics: {{bind: \"127.0.0.1:{port}\"}}\n")
    return path


def _run(cfg: Path, duration: float, **popen: object) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "twinwatch.stream.cli", "run", "--config", str(cfg),
                             "--duration", str(duration)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, **popen)  # type: ignore[call-overload]


def test_the_tls_front_admits_only_clients_that_trust_it_and_show_a_certificate(tls_broker: TlsFront,
                                                                                  pki: Pki) -> None:
    """The reasons :func:`probe` gives are the ones an operator needs, and the front really enforces TLS."""
    assert asyncio.run(probe(_mtls(tls_broker, pki))) is None
    untrusted = asyncio.run(probe(_mtls(tls_broker, pki, ssl_cafile=str(pki.other_ca))))
    assert untrusted is not None and "not trusted" in untrusted and "kafka.ssl_cafile" in untrusted
    no_cert = asyncio.run(probe(_mtls(tls_broker, pki, ssl_certfile=None, ssl_keyfile=None)))
    assert no_cert is not None and "kafka.ssl_certfile" in no_cert
    plain = asyncio.run(probe(KafkaConfig(bootstrap=tls_broker.bootstrap)))
    assert plain is not None and "kafka.security_protocol" in plain


def test_service_end_to_end_over_mutual_tls(tls_broker: TlsFront, pki: Pki, testbed_run: Path,
                                            tmp_path: Path) -> None:
    """Raw topics in, dead letters, expected KPIs and the state record out: every client of the worker (faust's
    consumer and producer, the state writer, ``twinwatch state show``) speaks TLS with a client certificate."""
    client = _mtls(tls_broker, pki).aiokafka_kwargs()
    sent = produce_run(tls_broker.bootstrap, testbed_run, **client)
    kafka = (f'bootstrap: "{tls_broker.bootstrap}", consumer_group: tw-tls, rebalance_timeout_s: 5.0, '
             f'security_protocol: SSL, ssl_cafile: "{pki.ca}", ssl_certfile: "{pki.client_cert}", '
             f'ssl_keyfile: "{pki.client_key}"')
    cfg = _config(tmp_path / "tw.yaml", kafka=kafka, network=testbed_run / "network.yaml", port=free_port(),
                  alerts=tmp_path / "alerts.jsonl")
    proc = _run(cfg, 45)
    _, err = proc.communicate(timeout=240)
    assert proc.returncode == 0, err[-3000:]

    dlq = [orjson.loads(v) for _, v in consume_all(tls_broker.bootstrap, "twinwatch.dlq", **client)]
    malformed = [x for x in (testbed_run / "malformed.jsonl").read_bytes().splitlines() if x]
    assert len(dlq) == len(malformed) > 0 and all(d["reason"] for d in dlq)
    expected = [orjson.loads(v) for _, v in consume_all(tls_broker.bootstrap, "twinwatch.expected", idle_s=3.0,
                                                        **client)]
    assert len(expected) >= 20 and {e["network"] for e in expected} == {"abilene"}
    assert sum(len(v) for v in sent.values()) > 1000

    show = subprocess.run([sys.executable, "-m", "twinwatch.stream.cli", "state", "show", "--config", str(cfg)],
                          capture_output=True, text=True, timeout=120)
    assert show.returncode == 0, show.stderr[-2000:]
    assert "consumer group 'tw-tls'" in show.stdout and "network abilene" in show.stdout


def test_service_with_an_untrusted_ca_says_so_and_exits_with_status_4(tls_broker: TlsFront, pki: Pki,
                                                                      testbed_run: Path, tmp_path: Path) -> None:
    kafka = (f'bootstrap: "{tls_broker.bootstrap}", security_protocol: SSL, ssl_cafile: "{pki.other_ca}", '
             f'ssl_certfile: "{pki.client_cert}", ssl_keyfile: "{pki.client_key}", startup_timeout_s: 2')
    cfg = _config(tmp_path / "tw.yaml", kafka=kafka, network=testbed_run / "network.yaml", port=free_port())
    proc = _run(cfg, 60)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == FAILED, err[-3000:]
    assert "not reachable within 2 s" in err and "TLS certificate is not trusted" in err
    assert "kafka.ssl_cafile" in err
    show = subprocess.run([sys.executable, "-m", "twinwatch.stream.cli", "state", "show", "--config", str(cfg)],
                          capture_output=True, text=True, timeout=120)
    assert show.returncode == 1 and "cannot read twinwatch.state: " in show.stderr
    assert "TLS certificate is not trusted" in show.stderr and "Unclosed" not in show.stderr


def test_service_without_a_broker_exits_with_status_4_after_startup_timeout(testbed_run: Path,
                                                                           tmp_path: Path) -> None:
    port = free_port()
    cfg = _config(tmp_path / "tw.yaml", kafka=f'bootstrap: "127.0.0.1:{port}", startup_timeout_s: 3',
                  network=testbed_run / "network.yaml", port=free_port())
    t0 = time.monotonic()
    proc = _run(cfg, 120)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == FAILED, err[-3000:]
    assert time.monotonic() - t0 < 60
    assert f"kafka.bootstrap 127.0.0.1:{port}: not reachable within 3 s" in err and "connection refused" in err
    assert err.count("waiting for the Kafka broker") >= 2  # it retried, and said so each time


def _get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=2) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, ""


def test_service_waits_for_a_broker_that_starts_late(testbed_run: Path, tmp_path: Path) -> None:
    """Started before its broker (a host booting, a roll-out), the worker waits, not ready and counting the
    failed tries, then runs as usual once the broker is up."""
    port, metrics = free_port(), free_port()
    cfg = _config(tmp_path / "tw.yaml", kafka=f'bootstrap: "127.0.0.1:{port}", consumer_group: tw-late, '
                                              f'rebalance_timeout_s: 5.0, startup_timeout_s: 120',
                  network=testbed_run / "network.yaml", port=metrics)
    proc = _run(cfg, 75)
    err_lines: list[str] = []
    reader = threading.Thread(target=lambda: err_lines.extend(proc.stderr), daemon=True)  # type: ignore[arg-type]
    reader.start()
    broker = EmbeddedBroker(port=port)
    try:
        deadline = time.monotonic() + 60
        while not any("waiting for the Kafka broker" in x for x in err_lines):
            assert time.monotonic() < deadline and proc.poll() is None, "".join(err_lines)[-3000:]
            time.sleep(0.2)
        assert _get(f"http://127.0.0.1:{metrics}/healthz")[0] == 200
        assert _get(f"http://127.0.0.1:{metrics}/readyz")[0] == 503
        body = _get(f"http://127.0.0.1:{metrics}/metrics")[1]
        tries = [ln for ln in body.splitlines() if ln.startswith('twinwatch_kafka_errors_total{operation="connect"}')]
        assert tries and float(tries[0].split()[-1]) >= 1
        broker.start()
        produce_run(broker.bootstrap, testbed_run)
        proc.wait(timeout=240)
        reader.join(timeout=10)
        err = "".join(err_lines)
        assert proc.returncode == 0, err[-3000:]
        assert "connection refused" in err and "Kafka broker reachable" in err
        expected = consume_all(broker.bootstrap, "twinwatch.expected", idle_s=3.0)
        assert len(expected) >= 20
    finally:
        if proc.poll() is None:
            proc.kill()
        broker.stop()


@pytest.mark.timeout(600)
def test_demo_on_a_broker_behind_mutual_tls(tls_broker: TlsFront, pki: Pki, tmp_path: Path) -> None:
    """``twinwatch demo --config FILE`` on "your own" Kafka: every client of the demo (topics, producer, the
    service, the report's reader) reaches it with the file's TLS settings."""
    import json

    cfg = tmp_path / "tw.yaml"
    cfg.write_text(f'kafka: {{bootstrap: "{tls_broker.bootstrap}", security_protocol: SSL, ssl_cafile: "{pki.ca}", '
                   f'ssl_certfile: "{pki.client_cert}", ssl_keyfile: "{pki.client_key}"}}\n')
    proc = subprocess.run([sys.executable, "-m", "twinwatch.stream.cli", "demo", "--config", str(cfg), "--duration",
                           "20m", "--faults", "2", "--model", "qt", "--out", str(tmp_path / "demo"), "--no-progress",
                           "--timeout", "300", "--json", str(tmp_path / "summary.json")],
                          capture_output=True, text=True, timeout=560, check=False)
    assert proc.returncode == 0, f"{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["complete"] and not summary["embedded_broker"] and summary["bootstrap"] == tls_broker.bootstrap
    assert summary["messages_consumed"] >= summary["messages_produced"] > 0
    assert summary["windows_closed"] >= 120 - 3
    assert "security_protocol: SSL" in (tmp_path / "demo" / "twinwatch.yaml").read_text()


def test_simulate_telemetry_produces_through_mutual_tls(tls_broker: TlsFront, pki: Pki, tmp_path: Path) -> None:
    cfg = tmp_path / "tw.yaml"
    cfg.write_text(f'kafka: {{bootstrap: "{tls_broker.bootstrap}", security_protocol: SSL, ssl_cafile: "{pki.ca}", '
                   f'ssl_certfile: "{pki.client_cert}", ssl_keyfile: "{pki.client_key}"}}\n')
    out = tmp_path / "run"
    proc = subprocess.run([sys.executable, "-m", "twinwatch.stream.cli", "simulate", "telemetry", "--network",
                           "abilene", "--duration", "2m", "--seed", "11", "--config", str(cfg), "--out", str(out),
                           "--no-progress"], capture_output=True, text=True, timeout=300, check=False)
    assert proc.returncode == 0, proc.stderr[-3000:]
    lines = {x for x in (out / "topics" / "twinwatch.raw.gnmic.jsonl").read_bytes().split(b"\n") if x}
    on_topic = {v for _, v in consume_all(tls_broker.bootstrap, "twinwatch.raw.gnmic", idle_s=3.0,
                                          **_mtls(tls_broker, pki).aiokafka_kwargs())}
    assert lines and lines <= on_topic


@pytest.fixture(scope="module")
def sasl_broker() -> Iterator[EmbeddedBroker]:
    """Tansu requiring SASL; it knows no user, so it refuses every login."""
    broker = EmbeddedBroker(authentication=True).start()
    try:
        yield broker
    finally:
        broker.stop()


@pytest.mark.parametrize("mechanism", ["SCRAM-SHA-256", "SCRAM-SHA-512"])
def test_a_refused_scram_login_is_named_with_the_keys_to_check(sasl_broker: EmbeddedBroker, mechanism: str) -> None:
    secret = "pw-never-shown-7f3a"
    kafka = KafkaConfig(bootstrap=sasl_broker.bootstrap, security_protocol="SASL_PLAINTEXT",
                        sasl_mechanism=mechanism, username="alice", password=secret)
    reason = asyncio.run(probe(kafka))
    assert reason is not None
    assert f"the broker refused the {mechanism} login of user 'alice'" in reason, reason
    assert "kafka.username, kafka.password" in reason and secret not in reason
    assert "KeyError" not in reason


def test_a_plaintext_client_on_a_sasl_listener_is_told_to_check_the_protocol(sasl_broker: EmbeddedBroker) -> None:
    reason = asyncio.run(probe(KafkaConfig(bootstrap=sasl_broker.bootstrap)))
    assert reason is not None and "check kafka.security_protocol" in reason, reason


def test_service_whose_sasl_login_is_refused_exits_4_and_never_shows_the_password(
        sasl_broker: EmbeddedBroker, testbed_run: Path, tmp_path: Path) -> None:
    secret = "pw-never-shown-91c2"
    (tmp_path / "kafka.pw").write_text(secret + "\n")
    kafka = (f'bootstrap: "{sasl_broker.bootstrap}", security_protocol: SASL_PLAINTEXT, '
             f'sasl_mechanism: SCRAM-SHA-512, username: twinwatch-svc, password_file: "{tmp_path / "kafka.pw"}", '
             f'startup_timeout_s: 2')
    cfg = _config(tmp_path / "tw.yaml", kafka=kafka, network=testbed_run / "network.yaml", port=free_port())
    proc = _run(cfg, 60)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == FAILED, err[-3000:]
    assert "not reachable within 2 s" in err
    assert "the broker refused the SCRAM-SHA-512 login of user 'twinwatch-svc'" in err
    assert secret not in err and secret not in out
