"""Sinks: JSONL lines per alert state change, Alertmanager v2 pushes with retries (a local HTTP server)."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import orjson
import pytest

from twinwatch.detectors.alerts import Alert, AlertBook
from twinwatch.stream.sinks import AlertmanagerError, AlertmanagerSink, JsonlSink


def _changes() -> list[Any]:
    book = AlertBook()
    a = Alert.open(network="n", entity_kind="path", entity_id="a->b", kpi="delay_s", start=1_700_000_000.0,
                   kind="degradation", observed=0.02, expected=0.01, bounds=(0.008, 0.012), p_value=1e-6,
                   suspects=[{"link": "a->b", "score": 1.0}], explanation="delay doubled on a->b")
    return book.fire([a]) + book.resolve([("n", "path", "a->b", "delay_s")], end=1_700_000_060.0)


def test_jsonl_state_change_is_a_new_line_with_the_same_id(tmp_path: Path) -> None:
    p = tmp_path / "sub" / "alerts.jsonl"
    with JsonlSink(p) as sink:
        assert sink.write_changes(_changes()) == 2
        sink.flush()
        lines = [orjson.loads(x) for x in p.read_bytes().splitlines()]  # durable before close
    assert [x["status"] for x in lines] == ["firing", "resolved"]
    assert lines[0]["id"] == lines[1]["id"] and lines[1]["end"] == 1_700_000_060.0
    assert Alert.from_dict(lines[0]).bounds == (0.008, 0.012)


class _AM:
    """A minimal HTTP server that answers ``codes`` in turn to POST /api/v2/alerts and records the bodies."""

    def __init__(self, codes: list[int]) -> None:
        self.codes, self.bodies, self.paths = list(codes), [], []
        outer = self

        class H(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                outer.paths.append(self.path)
                outer.bodies.append(json.loads(body))
                code = outer.codes.pop(0) if outer.codes else 200
                self.send_response(code)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), H)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def test_alertmanager_push_firing_and_resolved_after_a_retry() -> None:
    am = _AM([503, 200])
    try:
        sink = AlertmanagerSink(am.url, retries=3, backoff_s=0.01, generator_url="http://tw/alerts")
        assert sink.push(_changes()) == 2
    finally:
        am.close()
    assert am.paths == ["/api/v2/alerts"] * 2  # one 503, then accepted
    firing, resolved = am.bodies[-1]
    assert firing["labels"]["alertname"] == "TwinwatchDegradation" and firing["labels"]["severity"] == "critical"
    assert "endsAt" not in firing and resolved["endsAt"] == "2023-11-14T22:14:20Z"
    assert firing["labels"]["alert_id"] == resolved["labels"]["alert_id"]  # one alert in Alertmanager
    assert firing["annotations"]["summary"] == "delay doubled on a->b"
    assert firing["generatorURL"] == "http://tw/alerts"


def test_alertmanager_refusal_and_unreachable() -> None:
    am = _AM([400])
    try:
        with pytest.raises(AlertmanagerError, match="refused"):
            AlertmanagerSink(am.url, retries=3, backoff_s=0.01).push(_changes())
        assert len(am.bodies) == 1  # a 4xx is not retried
    finally:
        am.close()
    with pytest.raises(AlertmanagerError, match="unreachable after 2 tries"):
        AlertmanagerSink(am.url, retries=1, backoff_s=0.01, timeout_s=1.0).push(_changes())
    assert AlertmanagerSink(am.url).push([]) == 0
