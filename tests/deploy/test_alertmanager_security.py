"""The Alertmanager sink against a real Alertmanager behind mutual TLS and basic authentication.

Alertmanager's own ``--web.config.file`` (``tls_server_config`` wanting a client certificate of the test CA,
``basic_auth_users`` with a bcrypt hash) is what operators put in front of its API; twinwatch's sink must get
its alerts through, and fail in a way the log explains when the password or the CA is wrong.
"""

from __future__ import annotations

import base64
import json
import ssl
import subprocess
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from tests.deploy._live import free_port, start_process, wait_for
from tests.deploy._support import tool
from tests.integration._tls import Pki, make_pki
from twinwatch.detectors.alerts import Alert, AlertBook
from twinwatch.stream.config import SinksConfig
from twinwatch.stream.sinks import AlertmanagerError, AlertmanagerSink

pytestmark = pytest.mark.slow

USER, PASSWORD = "twinwatch", "correct horse battery staple"


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return make_pki(tmp_path_factory.mktemp("pki"))


@pytest.fixture(scope="module")
def secured_am(pki: Pki, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real Alertmanager on loopback: TLS wanting a client certificate, basic authentication; its base URL."""
    import bcrypt

    exe = tool("prometheus-alertmanager")
    tmp = tmp_path_factory.mktemp("am")
    (tmp / "am.yml").write_text(yaml.safe_dump({"route": {"receiver": "null"}, "receivers": [{"name": "null"}]}))
    web = {"tls_server_config": {"cert_file": str(pki.server_cert), "key_file": str(pki.server_key),
                                 "client_auth_type": "RequireAndVerifyClientCert", "client_ca_file": str(pki.ca)},
           "basic_auth_users": {USER: bcrypt.hashpw(PASSWORD.encode(), bcrypt.gensalt(rounds=4)).decode()}}
    (tmp / "web.yml").write_text(yaml.safe_dump(web))
    port = free_port()
    procs: list[subprocess.Popen[bytes]] = []
    start_process(procs, [exe, f"--config.file={tmp / 'am.yml'}", f"--web.config.file={tmp / 'web.yml'}",
                          f"--storage.path={tmp / 'data'}", f"--web.listen-address=127.0.0.1:{port}",
                          "--cluster.listen-address=", "--log.level=warn"], tmp / "alertmanager.log")
    url = f"https://127.0.0.1:{port}"
    try:
        wait_for("the TLS Alertmanager's /-/ready", lambda: _get(url + "/-/ready", pki) is not None, 60)
        yield url
    finally:
        for p in procs:
            p.terminate()
            p.wait(timeout=10)


def _context(pki: Pki, ca: Path | None = None) -> ssl.SSLContext:
    ctx = ssl.create_default_context(cafile=str(ca or pki.ca))
    ctx.load_cert_chain(str(pki.client_cert), str(pki.client_key))
    return ctx


def _get(url: str, pki: Pki) -> bytes | None:
    token = base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
    req = urllib.request.Request(url, headers={"Authorization": f"Basic {token}"})
    with urllib.request.urlopen(req, timeout=5, context=_context(pki)) as resp:
        return resp.read() if resp.status == 200 else None


def _firing(entity: str) -> list:  # type: ignore[type-arg]
    a = Alert.open(network="n", entity_kind="link", entity_id=entity, kpi="utilization", start=1_700_000_000.0,
                   kind="degradation", observed=0.9, expected=0.4, bounds=(0.3, 0.5), p_value=1e-6,
                   suspects=[{"link": entity, "score": 1.0}], explanation="utilisation doubled")
    return AlertBook().fire([a])


def test_alerts_reach_an_alertmanager_behind_mutual_tls_and_basic_auth(secured_am: str, pki: Pki,
                                                                         tmp_path: Path) -> None:
    """The sink as the service builds it from its configuration (``sinks.alertmanager_*``)."""
    (tmp_path / "pw").write_text(PASSWORD + "\n")
    sinks = SinksConfig(alertmanager_url=secured_am, alertmanager_cafile=str(pki.ca),
                        alertmanager_certfile=str(pki.client_cert), alertmanager_keyfile=str(pki.client_key),
                        alertmanager_username=USER, alertmanager_password_file=str(tmp_path / "pw"))
    sink = AlertmanagerSink(secured_am, retries=0, ssl_context=sinks.alertmanager_ssl_context(),
                            auth=sinks.alertmanager_auth())
    assert sink.push(_firing("a->b")) == 1
    shown = json.loads(_get(secured_am + "/api/v2/alerts", pki) or b"[]")
    assert [(a["labels"]["alertname"], a["labels"]["entity_id"]) for a in shown] == [("TwinwatchDegradation", "a->b")]


def test_a_wrong_password_is_refused_at_once_and_named(secured_am: str, pki: Pki) -> None:
    sink = AlertmanagerSink(secured_am, retries=3, backoff_s=5.0, ssl_context=_context(pki), auth=(USER, "wrong"))
    with pytest.raises(AlertmanagerError, match=r"refused 1 alert.*HTTP 401"):
        sink.push(_firing("c->d"))  # a 401 is not retried: the backoff's 5 s would make this test slow


def test_an_untrusted_alertmanager_is_not_sent_alerts(secured_am: str, pki: Pki) -> None:
    sink = AlertmanagerSink(secured_am, retries=0, ssl_context=_context(pki, ca=pki.other_ca), auth=(USER, PASSWORD))
    with pytest.raises(AlertmanagerError, match="CERTIFICATE_VERIFY_FAILED"):
        sink.push(_firing("e->f"))
