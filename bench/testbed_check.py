"""Check a testbed run against the production adapters: nothing lost, rates match the ground truth.

Reads a run's ``topics/*.jsonl`` back through the same decoders and counter
normalisation the service uses, and reports:

- per topic: messages, rejections (by reason), and how many of the rejected
  lines are the ones the run corrupted on purpose (``malformed.jsonl``);
  every other line must decode;
- per window and link: the ``tx_bps`` the adapters recompute from the emitted
  cumulative counters against the ground truth's carried bits
  (``truth/links.parquet``), as the median and p95 of the relative error over
  links and windows with traffic.

It imports both the adapters and the twin, so it lives under bench/ (the twin
never imports the adapters). Run::

    .venv/bin/python bench/testbed_check.py RUN_DIR [--json OUT.json]
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pyarrow.parquet as pq
from _report import write_report

__all__ = ["CheckReport", "check_run"]


@dataclass
class CheckReport:
    """What :func:`check_run` found."""

    messages: dict[str, int] = field(default_factory=dict)
    rejected: dict[str, dict[str, int]] = field(default_factory=dict)
    malformed_labelled: dict[str, int] = field(default_factory=dict)
    rejected_unlabelled: dict[str, int] = field(default_factory=dict)
    rate_rel_err_median: float = float("nan")
    rate_rel_err_p95: float = float("nan")
    rate_points: int = 0

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def _lines(path: Path) -> list[bytes]:
    return path.read_bytes().split(b"\n")[:-1] if path.exists() else []


def check_run(run_dir: str | Path, *, batch: int = 5000) -> CheckReport:
    """Decode every topic file of ``run_dir`` and compare counter rates with ``truth/links.parquet``."""
    from twinwatch.telemetry_adapters import CounterState, DecoderConfig, Inventory, get_decoder, normalize
    from twinwatch.twin.netmodel import load_network_model

    run = Path(run_dir)
    manifest = json.loads((run / "manifest.json").read_text())
    model = load_network_model(run / "network.yaml")
    inventory = Inventory.from_dict(model.inventory_dict())
    malformed: dict[str, set[int]] = {}
    for line in _lines(run / "malformed.jsonl"):
        row = orjson.loads(line)
        malformed.setdefault(row["topic"], set()).add(int(row["line"]))
    rep = CheckReport()
    start = float(manifest["start_epoch_s"])
    window = float(manifest["config"]["window_s"])
    n_win = int(manifest["windows"])
    e = model.n_links
    obs = np.full((n_win, e), np.nan)
    for fmt, topic in manifest["topics"].items():
        lines = _lines(run / "topics" / f"{topic}.jsonl")
        rep.messages[topic] = len(lines)
        dec = get_decoder(fmt, DecoderConfig(max_age_s=None, network=model.name))
        state = CounterState()
        reasons: dict[str, int] = {}
        for lo in range(0, len(lines), batch):
            res = dec.decode_batch(lines[lo: lo + batch])
            for rej in res.rejections:
                reasons[rej.reason] = reasons.get(rej.reason, 0) + rej.count
            if fmt in ("gnmic", "influx"):
                norm = normalize(res.samples, state, inventory)
                m = norm.measurements
                kind = np.asarray(m.entity_kind)
                kpi = np.asarray(m.kpi)
                sel = (kind == "link") & (kpi == "tx_bps")
                if sel.any():
                    ids = np.asarray(m.entity_id)[sel]
                    li = np.array([model.link_index.get(str(x), -1) for x in ids])
                    # a rate closes at its sample; it covers the interval before it: attribute it to the
                    # window holding the interval's middle (samples are one per window, near its start)
                    w = np.floor((m.ts[sel] - 0.5 * window - start) / window).astype(np.int64)
                    ok = (li >= 0) & (w >= 0) & (w < n_win)
                    # the last sample of a window closes the rate over it: keep one rate per (window, link)
                    obs[w[ok], li[ok]] = m.value[sel][ok]
        rep.rejected[topic] = reasons
        rep.malformed_labelled[topic] = len(malformed.get(topic, ()))
        rep.rejected_unlabelled[topic] = max(0, sum(reasons.values()) - rep.malformed_labelled[topic])
    truth = pq.read_table(run / "truth" / "links.parquet")
    tw = np.floor((truth.column("window_start").to_numpy() - start) / window).astype(np.int64)
    tl = np.array([model.link_index[str(x)] for x in truth.column("link").to_pylist()])
    true = np.full((n_win, e), np.nan)
    true[tw, tl] = truth.column("tx_bps").to_numpy()
    both = np.isfinite(obs) & np.isfinite(true) & (true > 0)
    if both.any():
        err = np.abs(obs[both] / true[both] - 1.0)
        rep.rate_rel_err_median = float(np.median(err))
        rep.rate_rel_err_p95 = float(np.quantile(err, 0.95))
        rep.rate_points = int(both.sum())
    return rep


def main() -> None:
    import argparse

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("run_dir", type=Path)
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args()
    rep = check_run(args.run_dir)
    write_report(rep.to_dict(), args.json, indent=2, sort_keys=True, nan_as_null=True)


if __name__ == "__main__":
    main()
