"""Fixtures shared by the integration tests: a short testbed run to stream into the service."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(scope="module")
def testbed_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 5-minute Abilene testbed run with 1 % malformed messages (labelled in malformed.jsonl)."""
    from twinwatch.twin.netmodel import load_network
    from twinwatch.twin.testbed.run import TestbedConfig, run_testbed

    out = tmp_path_factory.mktemp("testbed")
    run_testbed(load_network("abilene"), [], out, TestbedConfig(duration_s=300.0, window_s=10.0, seed=3,
                                                                malformed_fraction=0.01))
    return out
