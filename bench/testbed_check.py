"""Check a testbed run against the production adapters: nothing lost, rates match the ground truth.

Reads a run's ``topics/*.jsonl`` back through the same decoders and counter
normalisation the service uses, and reports:

- per topic: messages, rejections (by reason), and how many of the rejected
  lines are the ones the run corrupted on purpose (``malformed.jsonl``);
  every other line must decode;
- per topic: the counter stage's rejections (``counter_decrease`` and the other reset reasons ``twinwatch adapt``
  counts, and ``out_of_order`` samples), each attributed to a labelled benign event of its device (a
  ``counter_clear`` of a link's interface on either of its devices, a ``device_reboot``, a ``late_batch`` whose
  samples arrive after newer ones) when its sample falls in the event, the window before it (the devices' clocks
  are skewed) or the two windows after it; ``counter_rejected_unexplained`` counts the rest and must be 0;
- per window and link: the ``tx_bps`` the adapters recompute from the emitted
  cumulative counters against the ground truth's carried bits
  (``truth/links.parquet``), as the median and p95 of the relative error over
  links and windows with traffic, and how many of those rates are more than
  10 % off (``rate_points_off``), how many of these lie between the truth of
  their window and of the window before or after it (``rate_points_off_straddling``:
  a sample's interval spans two windows, so where the traffic changes between
  them the rate is a mix of both), and how many of the others are not at a
  labelled counter event of either end's device (``rate_points_off_unexplained``:
  a misread counter, e.g. a 32-bit one that wrapped twice; must be 0).

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
    counter_rejected: dict[str, dict[str, int]] = field(default_factory=dict)
    counter_rejected_unexplained: dict[str, int] = field(default_factory=dict)
    rate_rel_err_median: float = float("nan")
    rate_rel_err_p95: float = float("nan")
    rate_points: int = 0
    rate_points_off: int = 0  # (window, link) rates more than 10 % off the truth
    rate_points_off_straddling: int = 0  # ... of them between the truth of their window and of a neighbouring one
    rate_points_off_unexplained: int = 0  # ... of the others outside every labelled counter event of the link's devices

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def counter_events(labels: list[dict[str, Any]], window_s: float) -> list[tuple[set[str], float, float]]:
    """``(devices, from_s, to_s)`` of each labelled benign event the counter stage sees, widened by one window before
    its start (device clock skew) and two after its end.

    A ``counter_clear`` of link ``"A->B"`` may show on either end's interface; a ``device_reboot`` or a
    ``late_batch`` on its device.

    >>> [(sorted(d), lo, hi) for d, lo, hi in counter_events(
    ...     [{"kind": "counter_clear", "entities": ["A->B"], "start": 10.0, "end": 20.0},
    ...      {"kind": "telemetry_gap", "entities": ["C"], "start": 0.0, "end": 1.0}], 10.0)]
    [(['A', 'B'], 0.0, 40.0)]
    """
    out = []
    for lab in labels:
        if lab.get("kind") in ("counter_clear", "device_reboot", "late_batch"):
            devices = {d for ent in lab["entities"] for d in str(ent).split("->")}
            out.append((devices, float(lab["start"]) - window_s, float(lab["end"]) + 2.0 * window_s))
    return out


def straddles(rate: float, truth: float, near: np.ndarray) -> bool:
    """Whether ``rate`` (b/s) lies between its window's ``truth`` and the truth of a neighbouring window (``near``:
    the truths of the windows before, at and after it, NaN where unknown): the sample's interval spans both windows.

    >>> straddles(3.0e6, 5.5e6, np.array([0.55e6, 5.5e6, 6.1e6])), straddles(9.0e6, 5.5e6, np.array([0.55e6, 5.5e6]))
    (True, False)
    """
    return any(min(a, truth) <= rate <= max(a, truth) for a in near[np.isfinite(near)].tolist())


def _explained(raw: bytes, events: list[tuple[set[str], float, float]], reason: str = "counter_decrease",
               legacy: frozenset[str] = frozenset()) -> bool:
    """Whether a counter-stage rejection (its ``raw``, :func:`~telemetry_adapters.normalize.rejected_sample`) is a
    labelled event's: the same device, within the event's window. A ``counter32_ambiguous`` one is explained
    when its device is one the run polls with 32-bit counters (``legacy``: the manifest's
    ``legacy_counter32_devices``), whatever its time: on a port fast enough, every sample of it is ambiguous."""
    from twinwatch.telemetry_adapters.normalize import rejected_sample

    sample = rejected_sample(raw)
    if sample is None:
        return False
    device, ts = sample[0], sample[3] / 1e9
    if reason == "counter32_ambiguous":
        return device in legacy
    return any(device in devs and lo <= ts <= hi for devs, lo, hi in events)


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
    events = counter_events([orjson.loads(x) for x in _lines(run / "labels.jsonl") if x.strip()], window)
    legacy = frozenset(manifest.get("legacy_counter32_devices", ()))
    n_win = int(manifest["windows"])
    e = model.n_links
    obs = np.full((n_win, e), np.nan)
    for fmt, topic in manifest["topics"].items():
        lines = _lines(run / "topics" / f"{topic}.jsonl")
        rep.messages[topic] = len(lines)
        dec = get_decoder(fmt, DecoderConfig(max_age_s=None, network=model.name))
        state = CounterState()
        reasons: dict[str, int] = {}
        counter_reasons: dict[str, int] = {}
        unexplained = 0
        for lo in range(0, len(lines), batch):
            res = dec.decode_batch(lines[lo: lo + batch])
            for rej in res.rejections:
                reasons[rej.reason] = reasons.get(rej.reason, 0) + rej.count
            if fmt in ("gnmic", "influx"):
                norm = normalize(res.samples, state, inventory, max_rejections=len(res.samples) + 1)
                for rej in norm.rejections:
                    counter_reasons[rej.reason] = counter_reasons.get(rej.reason, 0) + rej.count
                    unexplained += 0 if _explained(rej.raw, events, rej.reason, legacy) else rej.count
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
        rep.counter_rejected[topic] = counter_reasons
        rep.counter_rejected_unexplained[topic] = unexplained
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
        off = err > 0.1  # err follows np.nonzero(both)'s (window, link) order, as obs[both] does
        rep.rate_points_off = int(off.sum())
        names = model.node_names
        w_both, l_both = np.nonzero(both)
        for w, li in zip(w_both[off], l_both[off], strict=True):
            if straddles(obs[w, li], true[w, li], true[max(w - 1, 0): w + 2, li]):
                rep.rate_points_off_straddling += 1
                continue
            t = start + (w + 0.5) * window
            ends = {names[int(model.link_src[li])], names[int(model.link_dst[li])]}
            rep.rate_points_off_unexplained += not any(ends & devs and lo <= t <= hi for devs, lo, hi in events)
    return rep


def main() -> None:
    import argparse

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("run_dir", type=Path)
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args()
    try:
        rep = check_run(args.run_dir)
    except (OSError, ValueError, KeyError) as exc:  # a missing file, bad JSON/Parquet, a manifest without a field
        raise SystemExit(f"testbed_check: {args.run_dir} is not a readable testbed run "
                         f"(twinwatch simulate telemetry --out DIR): {type(exc).__name__}: {exc}") from None
    write_report(rep.to_dict(), args.json, indent=2, sort_keys=True, nan_as_null=True)


if __name__ == "__main__":
    main()
