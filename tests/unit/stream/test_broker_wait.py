"""Waiting for the broker at start-up: backoff, deadline, the reasons given (no broker needed)."""

from __future__ import annotations

import asyncio
import ssl
import time

import pytest

from twinwatch.stream.broker import free_port
from twinwatch.stream.broker_wait import BACKOFF_MAX_S, BrokerUnreachableError, _cause, probe, wait_for_broker
from twinwatch.stream.config import KafkaConfig


class _EnoughError(Exception):
    pass


def test_backoff_doubles_to_its_cap_and_every_failure_is_reported() -> None:
    k = KafkaConfig(bootstrap=f"127.0.0.1:{free_port()}")
    pauses: list[float] = []
    reasons: list[str] = []

    async def sleep(s: float) -> None:
        pauses.append(s)

    def failed(reason: str) -> None:
        reasons.append(reason)
        if len(reasons) == 8:
            raise _EnoughError

    with pytest.raises(_EnoughError):
        asyncio.run(wait_for_broker(k, 0, on_failure=failed, sleep=sleep))
    assert pauses == [0.5, 1.0, 2.0, 4.0, 8.0, BACKOFF_MAX_S, BACKOFF_MAX_S]
    assert all("connection refused" in r and k.bootstrap in r for r in reasons)


def test_deadline_is_kept_and_names_the_key() -> None:
    k = KafkaConfig(bootstrap=f"127.0.0.1:{free_port()}")
    t0 = time.monotonic()
    with pytest.raises(BrokerUnreachableError, match=r"kafka\.bootstrap .*: not reachable within 1.2 s: .*refused"):
        asyncio.run(wait_for_broker(k, 1.2))
    assert 1.2 <= time.monotonic() - t0 < 5.0


def test_every_bootstrap_address_is_tried_and_named() -> None:
    a, b = free_port(), free_port()
    reason = asyncio.run(probe(KafkaConfig(bootstrap=f"127.0.0.1:{a},127.0.0.1:{b}")))
    assert reason is not None and f"127.0.0.1:{a}: connection refused" in reason and f"127.0.0.1:{b}:" in reason


def test_a_bare_keyerror_of_a_scram_exchange_reads_as_a_refused_login() -> None:
    """aiokafka raises ``KeyError('v')`` when the broker's last SCRAM message is an error, not its signature
    (the integration tests get it from a real broker)."""
    scram = KafkaConfig(security_protocol="SASL_SSL", sasl_mechanism="SCRAM-SHA-512", username="svc")
    assert _cause(KeyError("v"), scram) == "the broker refused the SCRAM-SHA-512 login of user 'svc'"
    plain = KafkaConfig(security_protocol="SASL_SSL", sasl_mechanism="PLAIN", username="svc")
    assert _cause(KeyError("v"), plain) == "KeyError: 'v'"
    assert _cause(ConnectionError("reset"), scram) == "ConnectionError: reset"


def test_a_listener_that_is_not_kafka_is_named_as_such() -> None:
    """A port that accepts TCP but never answers Kafka (a wrong port, another service): not reported as up."""

    async def main() -> str | None:
        async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            await reader.read()
            writer.close()

        server = await asyncio.start_server(silent, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        async with server:
            return await probe(KafkaConfig(bootstrap=f"127.0.0.1:{port}"))

    reason = asyncio.run(main())
    assert reason is not None and "kafka.security_protocol" in reason


SECURITY = [
    {},
    {"security_protocol": "SSL", "ca": True},
    {"security_protocol": "SSL", "ca": True, "client_cert": True},
    {"security_protocol": "SASL_PLAINTEXT", "sasl_mechanism": "PLAIN", "username": "tw", "password": "pw"},
    {"security_protocol": "SASL_PLAINTEXT", "sasl_mechanism": "SCRAM-SHA-256", "username": "tw", "password": "pw"},
    {"security_protocol": "SASL_SSL", "sasl_mechanism": "SCRAM-SHA-512", "username": "tw", "password": "pw",
     "ca": True},
]


@pytest.mark.parametrize("sec", SECURITY, ids=lambda s: "-".join(str(v) for k, v in s.items() if k not in
                                                                ("username", "password", "ca")) or "PLAINTEXT")
def test_faust_and_aiokafka_clients_get_the_same_security(sec: dict[str, object], tmp_path) -> None:  # type: ignore[no-untyped-def]
    """The worker's faust consumer and producer and the state writer (plain aiokafka) log in the same way."""
    import trustme
    from faust.transport.drivers.aiokafka import credentials_to_aiokafka_auth

    sec = dict(sec)
    ca = trustme.CA()
    if sec.pop("ca", False):
        ca.cert_pem.write_to_path(str(tmp_path / "ca.pem"))
        sec["ssl_cafile"] = str(tmp_path / "ca.pem")
    if sec.pop("client_cert", False):
        cert = ca.issue_cert("tw-client")
        cert.cert_chain_pems[0].write_to_path(str(tmp_path / "c.pem"))
        cert.private_key_pem.write_to_path(str(tmp_path / "c.key"))
        sec.update(ssl_certfile=str(tmp_path / "c.pem"), ssl_keyfile=str(tmp_path / "c.key"))
    k = KafkaConfig(**sec)  # type: ignore[arg-type]
    plain, via_faust = k.aiokafka_kwargs(), credentials_to_aiokafka_auth(k.faust_credentials())
    keys = ("security_protocol", "sasl_mechanism", "sasl_plain_username", "sasl_plain_password")
    assert {x: via_faust.get(x) for x in keys if x in plain} == {x: plain[x] for x in keys if x in plain}
    assert (via_faust.get("ssl_context") is None) == ("ssl_context" not in plain)
    if "ssl_context" in plain:
        assert plain["ssl_context"].verify_mode == via_faust["ssl_context"].verify_mode == ssl.CERT_REQUIRED
        assert plain["ssl_context"].check_hostname and via_faust["ssl_context"].check_hostname


@pytest.mark.parametrize(("worker_exit", "status"), [(0, 0), (None, 0), (1, 4), ("crashed", 4)])
def test_run_exits_4_when_the_worker_stops_on_an_error(worker_exit: object, status: int, tmp_path,  # type: ignore[no-untyped-def]
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """faust's worker ends with SystemExit(1) on a crash; ``twinwatch run`` used to swallow it and exit 0.
    (The worker is replaced by a stand-in that ends as faust's does; the broker wait by a success.)"""
    import faust
    from click.testing import CliRunner

    from twinwatch.stream.cli import cli
    from twinwatch.stream.commands import run as run_mod

    class _Worker:
        def __init__(self, *args: object, **kwargs: object) -> None:
            pass

        def execute_from_commandline(self) -> None:
            raise SystemExit(worker_exit)

    monkeypatch.setattr(faust, "Worker", _Worker)
    monkeypatch.setattr(run_mod, "_broker_reachable", lambda *a: True)
    cfg = tmp_path / "tw.yaml"
    cfg.write_text(f'networks: [abilene]\ntwin: {{model: qt}}\nmetrics: {{bind: "127.0.0.1:{free_port()}"}}\n')
    res = CliRunner().invoke(cli, ["run", "--config", str(cfg)])
    assert res.exit_code == status, res.output
