"""Per-ToS-class traffic matrices from a testbed run's goflow2 lines match the testbed's ToS shares (issue 9).

``twinwatch simulate telemetry`` offers each (src, dst) pair's traffic in three ToS classes (the testbed's
``tos_share``, ground truth in ``truth/paths.parquet``) and exports it as goflow2 records whose ``ip_tos`` is the
class's DSCP << 2. The records go through the production path: goflow2 decoder → ``FlowBatch.dscp`` →
``FlowBuffer`` → ``SnapshotBuilder`` (the network model's DSCP → class table). The matrix of each 60 s export
span must split its traffic over the classes as the truth does, within the sampling error the matrix itself
states (``std_bps``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from twinwatch.stream.cli import cli
from twinwatch.stream.flowbuffer import FlowBuffer
from twinwatch.telemetry_adapters import Inventory, get_decoder
from twinwatch.telemetry_adapters.base import DecoderConfig
from twinwatch.twin.netmodel import load_network
from twinwatch.twin.snapshot import SnapshotBuilder

EXPORT_S = 60.0  # the testbed's flow active timeout: one export per router per minute
NO_ROWS: dict[str, list[Any]] = {"entity_kind": [], "entity_id": [], "kpi": [], "value": []}


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("tos") / "run"
    res = CliRunner().invoke(cli, ["simulate", "telemetry", "--network", "abilene", "--duration", "2m", "--faults",
                                   "0", "--seed", "5", "--packets", "1000", "--malformed-fraction", "0",
                                   "--out", str(out), "--no-progress"])
    assert res.exit_code == 0, res.output
    return out


def _truth_shares(run: Path, start: float, end: float) -> np.ndarray:
    """``(3,)`` share of each ToS class in the offered traffic of the windows in ``[start, end)``."""
    t = pq.read_table(run / "truth" / "paths.parquet", columns=["window_start", "tos", "offered_bps"])
    w, tos, bps = (t[c].to_numpy() for c in ("window_start", "tos", "offered_bps"))
    m = (w >= start) & (w < end)
    per_class = np.bincount(tos[m].astype(np.int64), weights=bps[m], minlength=3)
    return per_class / per_class.sum()


def test_per_class_matrices_from_goflow2_match_the_testbed_tos_shares(run: Path) -> None:
    model = load_network(run / "network.yaml")
    lines = (run / "topics" / "twinwatch.raw.goflow2.jsonl").read_bytes().split(b"\n")[:-1]
    res = get_decoder("goflow2", DecoderConfig(network=model.name, max_age_s=None)).decode_batch(lines)
    assert not res.rejections and len(res.flows) == len(lines) > 100
    # the testbed marks each class with its first DSCP (Abilene: EF 46, AF11 10, BE 0): all three are seen
    assert set(res.flows.dscp.tolist()) == {46, 10, 0}
    buf = FlowBuffer(model, Inventory.from_dict(model.inventory_dict()))
    assert buf.add(res.flows) == 0
    builder = SnapshotBuilder(model)
    t0 = float(np.min(res.flows.ts)) - EXPORT_S
    spans = 0
    for k in range(2):
        start = t0 + k * EXPORT_S
        snap = builder.build(start, start + EXPORT_S, NO_ROWS, **buf.snapshot_args(start, start + EXPORT_S))
        assert snap.tm_source == "flows"  # every router exported the span: the matrix is the flows' alone
        est = snap.traffic.rate_bps.sum(axis=(1, 2))
        var = (snap.traffic.std_bps ** 2).sum(axis=(1, 2))
        total = est.sum()
        share = est / total
        # delta method: var(e_c / E) with independent pair errors
        share_std = np.sqrt(var * (1 - share) ** 2 + share**2 * (var.sum() - var)) / total
        truth = _truth_shares(run, start, start + EXPORT_S)
        assert truth == pytest.approx([0.1, 0.3, 0.6], abs=0.05)  # the testbed's default tos_share
        assert np.all(np.abs(share - truth) <= 4 * share_std + 1e-3), (share, truth, share_std)
        assert np.all(np.abs(share - truth) <= 0.02), (share, truth)
        spans += 1
    assert spans == 2


@pytest.mark.parametrize("rate", [1, 16384])
def test_the_sampling_rate_asked_for_is_the_one_the_records_carry(run: Path, tmp_path: Path, rate: int) -> None:
    # `simulate telemetry --flow-sampling N`: the records sample 1 in N or, where an export would exceed the
    # testbed's record budget, the next coarser of 1, 2, 5 x 10^k (the module's run: the same two minutes at the
    # default 1 in 1,000)
    out = tmp_path / "run"
    res = CliRunner().invoke(cli, ["simulate", "telemetry", "--network", "abilene", "--duration", "2m", "--faults",
                                   "0", "--seed", "5", "--packets", "1000", "--malformed-fraction", "0",
                                   "--flow-sampling", str(rate), "--out", str(out), "--no-progress"])
    assert res.exit_code == 0, res.output

    def records(r: Path) -> list[dict[str, Any]]:
        return [orjson.loads(x) for x in (r / "topics" / "twinwatch.raw.goflow2.jsonl").read_bytes().splitlines() if x]

    got, default = records(out), records(run)
    rates, default_rates = {r["sampling_rate"] for r in got}, {r["sampling_rate"] for r in default}
    assert got and min(rates) >= rate and min(default_rates) >= 1000
    if rate > max(default_rates):  # coarser than the budget needs: exactly as asked, and fewer records
        assert rates == {rate} and len(got) < len(default)
    else:  # finer: the budget decides, never coarser than at the default
        assert max(rates) <= max(default_rates) and len(got) >= len(default)
