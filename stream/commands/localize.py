"""``twinwatch localize``: which link explains the path KPIs my probes measure?

Wiring only: reading DATA_DIR and OBS.jsonl, writing SUSPECTS.jsonl. The
maths (p-values, multiple testing, tomography, what-if) is
:func:`twinwatch.detectors.localize.diagnose`.
"""

from __future__ import annotations

import time
from collections import Counter
from pathlib import Path
from typing import IO, Any

import click
import numpy as np
import orjson

from twinwatch.stream.commands._options import (
    EXIT_STATUS_HELP,
    MODEL_NAMES,
    ExitCode,
    FiniteFloatRange,
    atomic_output,
    checkpoint_option,
    out_file_option,
    progress_option,
)
from twinwatch.stream.commands.twin_predict import _as_click_errors, _iter_inputs, _progress, cli_model

__all__ = ["localize", "parse_observed"]

# contract field of `twin predict` -> KPI name
_FIELDS: dict[str, str] = {"delay": "delay_s", "jitter": "jitter_s2", "loss": "loss_ratio"}
_KPI_FIELD: dict[str, str] = {v: k for k, v in _FIELDS.items()}
MAX_NUMBER = 2**31 - 1
"""Largest node or path number an OBS line may name (a scenario has at most 10,000 nodes)."""
MAX_KPI = 1e12
"""Largest observed delay (time units) or jitter (time units squared): beyond it a ratio to the expected value
overflows; no probe measures 30,000 years."""


class BadLineError(ValueError):
    """An OBS line that cannot be used; ``reason`` is a short counter key."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


def _num(v: Any, where: str, high: float = MAX_KPI) -> float:
    if v is None:
        return float("nan")
    if isinstance(v, bool) or not isinstance(v, int | float):
        raise BadLineError("bad_value", f"{where}: expected a number or null, got {_cut(v)}")
    x = float(v)
    if not (np.isfinite(x) and 0 <= x <= high):
        raise BadLineError("bad_value", f"{where}: expected a finite value in [0, {high:g}], got {_cut(v)}")
    return x


def _cut(x: object, n: int = 60) -> str:
    """``repr(x)`` cut to about ``n`` characters (a value in a message)."""
    text = repr(x)
    return text if len(text) <= n else text[: n - 3] + "..."


def _node(v: Any) -> bool:
    """Whether ``v`` is a node or path number: a JSON integer in 0..MAX_NUMBER."""
    return not isinstance(v, bool) and isinstance(v, int) and 0 <= v <= MAX_NUMBER


def parse_observed(line: bytes, lineno: int) -> tuple[str, int, list[tuple[int, int, int, float, float, float]]]:
    """``(file, index, [(src, dst, path, delay, jitter, loss), ...])`` of one OBS line (the `twin predict` contract).

    ``path`` is the entry's scenario path number when given (ECMP: several paths per pair), else -1.

    Raises :class:`BadLineError` naming the line and the field.
    """
    try:
        doc = orjson.loads(line)
    except orjson.JSONDecodeError as exc:
        raise BadLineError("malformed_json", f"line {lineno}: not JSON ({exc})") from None
    if not isinstance(doc, dict):
        raise BadLineError("malformed_record", f"line {lineno}: expected a JSON object")
    file, index, paths = doc.get("file"), doc.get("index"), doc.get("paths")
    if not isinstance(file, str) or not _node(index):
        raise BadLineError("malformed_record", f"line {lineno}: needs \"file\" (string) and \"index\" (integer "
                                               f"0..{MAX_NUMBER})")
    if not isinstance(paths, list):
        raise BadLineError("malformed_record", f"line {lineno}: needs \"paths\" (a list)")
    rows = []
    seen: dict[tuple[int, int, int], int] = {}
    for k, p in enumerate(paths):
        if not isinstance(p, dict):
            raise BadLineError("malformed_record", f"line {lineno}: paths[{k}] is not an object")
        s, d = p.get("src"), p.get("dst")
        if not (_node(s) and _node(d)):
            raise BadLineError("malformed_record", f"line {lineno}: paths[{k}] needs \"src\" and \"dst\" node "
                                                   f"numbers (integers 0..{MAX_NUMBER})")
        where = f"line {lineno}: paths[{k}] ({s}->{d})"
        pn = p.get("path", -1)
        if pn is None:
            pn = -1
        if pn != -1 and not _node(pn):
            raise BadLineError("malformed_record", f"{where}: \"path\" must be a path number 0..{MAX_NUMBER}")
        first = seen.setdefault((s, d, pn), k)
        if first != k:
            raise BadLineError("duplicate_path", f"{where}: the same path as paths[{first}] (one entry per path)")
        rows.append((s, d, pn, _num(p.get("delay"), f"{where} delay"), _num(p.get("jitter"), f"{where} jitter"),
                     _num(p.get("loss"), f"{where} loss", 1.0)))
    return file, int(index), rows


def _align(rows: list[tuple[int, int, int, float, float, float]], sc: Any, lineno: int) -> dict[str, np.ndarray]:
    """KPI -> ``(P,)`` observed values in the scenario's path order (NaN where not observed).

    An entry with a path number goes to that path (its src, dst must match); one without goes
    to the first path of its (src, dst) pair.
    """
    arr = np.asarray(rows, dtype=np.float64).reshape(-1, 6)
    n = sc.n_nodes
    src, dst, pnum = (arr[:, c].astype(np.int64) for c in range(3))
    key = src * n + dst
    pkey = sc.path_src * n + sc.path_dst
    order = np.argsort(pkey, kind="stable")
    pos = np.searchsorted(pkey[order], key)
    inside = (src >= 0) & (src < n) & (dst >= 0) & (dst < n)
    found = inside & (pos < pkey.size)
    found[found] = pkey[order][pos[found]] == key[found]
    idx = np.where(found, order[np.minimum(pos, pkey.size - 1)], -1)
    numbered = pnum >= 0
    ok_num = numbered & (pnum < sc.n_paths)
    ok_num[ok_num] = pkey[pnum[ok_num]] == key[ok_num]
    idx = np.where(numbered, np.where(ok_num, pnum, -1), idx)
    if (idx < 0).any():
        k = int(np.flatnonzero(idx < 0)[0])
        pair = f"{int(src[k])}->{int(dst[k])}"
        what = f"path {int(pnum[k])} ({pair})" if numbered[k] else f"path {pair}"
        raise BadLineError("unknown_pair", f"line {lineno}: {what} is not a routed (src, dst) pair of the scenario "
                                           f"({int((idx < 0).sum())} such paths)")
    uniq, first, counts = np.unique(idx, return_index=True, return_counts=True)
    if (counts > 1).any():
        k = int(np.sort(np.flatnonzero(np.isin(idx, uniq[counts > 1])))[1])
        raise BadLineError("duplicate_path", f"line {lineno}: paths[{k}] ({int(src[k])}->{int(dst[k])}) is the same "
                                             f"scenario path as paths[{int(first[uniq == idx[k]][0])}] (one entry "
                                             "per path)")
    out = {}
    for j, kpi in enumerate(("delay_s", "jitter_s2", "loss_ratio")):
        v = np.full(sc.n_paths, np.nan)
        v[idx] = arr[:, 3 + j]
        out[kpi] = v
    return out


def _read_observed(obs_path: Path, bad: Counter[str], messages: list[str]) -> dict[tuple[str, int], tuple[int, Any]]:
    """``(file, index) -> (lineno, rows)`` of every parsable OBS line; bad lines counted in ``bad``."""
    out: dict[tuple[str, int], tuple[int, Any]] = {}
    try:
        fh = obs_path.open("rb")
    except OSError as exc:
        raise click.ClickException(f"cannot read {obs_path}: {exc.strerror or exc}") from None
    with fh:
        for lineno, line in enumerate(fh, 1):
            if lineno == 1:
                line = line.removeprefix(b"\xef\xbb\xbf")  # a UTF-8 byte-order mark is not content
            if not line.strip():
                continue
            try:
                file, index, rows = parse_observed(line, lineno)
            except BadLineError as exc:
                bad[exc.reason] += 1
                messages.append(str(exc))
                continue
            if (file, index) in out:
                bad["duplicate_sample"] += 1
                first = out[(file, index)][0]
                messages.append(f"line {lineno}: sample {file}#{index} already observed on line {first}")
                continue
            out[(file, index)] = (lineno, rows)
    return out


def _load_calibration(model: Any, calibration: Path | None) -> dict[str, Any]:
    import json

    from twinwatch.twin.conformal import has_grid

    if calibration is not None:
        try:
            doc = json.loads(calibration.read_text())
        except (OSError, json.JSONDecodeError) as exc:
            raise click.ClickException(f"cannot read calibration {calibration}: {exc}") from None
        cal = doc.get("calibration", doc) if isinstance(doc, dict) else None
    else:
        cal = getattr(model, "calibration", None)
    if not isinstance(cal, dict) or not has_grid(cal, "delay_s"):
        where = str(calibration) if calibration else f"model {model.name!r}"
        raise click.ClickException(
            f"{where} has no p-value calibration (grids); run `twinwatch twin calibrate` and pass --calibration")
    return cal


def _record(file: str, index: int, sc: Any, diag: Any, kpis_order: tuple[str, ...], n_suspects: int) -> dict[str, Any]:
    pi, kj = np.nonzero(diag.flagged)
    paths = [{"src": int(sc.path_src[i]), "dst": int(sc.path_dst[i]), "kpi": kpis_order[j],
              "p_value": float(f"{diag.p_values[i, j]:.6g}")} for i, j in zip(pi.tolist(), kj.tolist(), strict=True)]
    loc = diag.localization
    suspects = [] if loc is None else [{"src": s["src"], "dst": s["dst"], "score": s["score"]}
                                       for s in loc.suspects(n_suspects)]
    rec: dict[str, Any] = {"file": file, "index": int(index), "anomalous": diag.is_anomalous, "paths": paths,
                           "suspects": suspects}
    if loc is not None:
        rec["explanation"] = loc.explanation
    return rec


@click.command(context_settings={"help_option_names": ["-h", "--help"]}, epilog=EXIT_STATUS_HELP)
@click.argument("data_dir", metavar="DATA_DIR", type=click.Path(exists=True, path_type=Path))
@click.option("--observed", "observed", metavar="OBS.jsonl", required=True,
              type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Observed path KPIs, one JSON line per sample in the `twin predict` output contract.")
@out_file_option(inputs=("data_dir", "observed"), help="Where to write SUSPECTS.jsonl; '-' is standard output.")
@click.option("--alpha", type=FiniteFloatRange(0.0, 1.0, min_open=True, max_open=True), default=0.01,
              show_default=True, help="False-discovery rate over the (path, KPI) tests of one sample.")
@click.option("--method", type=click.Choice(["bh", "holm", "bonferroni"]), default="bh", show_default=True,
              help="Multiple-testing procedure: bh (Benjamini-Hochberg, FDR), holm or bonferroni (FWER).")
@click.option("--kpis", default="delay,jitter,loss", show_default=True,
              help="Comma-separated path KPIs to test: delay, jitter, loss.")
@click.option("--model", "-m", "model_name", metavar="NAME", default=None,
              help=MODEL_NAMES + ". Default: gnn if its shipped checkpoint loads, else qt.")
@checkpoint_option
@click.option("--calibration", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None,
              help="JSON from `twin calibrate --out` (or a config.json) when the model carries no p-value grids.")
@click.option("--top-k", type=click.IntRange(min=0), default=3, show_default=True,
              help="Suspects the twin re-predicts with the link degraded (0: tomography only).")
@click.option("--factors", default="0.75,0.5,0.25", show_default=True,
              help="Capacity factors tried on each what-if candidate (comma-separated, in (0, 1]).")
@click.option("--suspects", "n_suspects", type=click.IntRange(min=1), default=5, show_default=True,
              help="Suspect links written per sample.")
@click.option("--threads", type=click.IntRange(min=1), default=1, show_default=True, help="torch threads.")
@progress_option
def localize(data_dir: Path, observed: Path, out: str, alpha: float, method: str, kpis: str, model_name: str | None,
             checkpoint: Path | None, calibration: Path | None, top_k: int, factors: str, n_suspects: int,
             threads: int, progress: bool) -> None:
    """Flag the anomalous paths of each sample and rank the links that explain them.

    \b
    DATA_DIR describes the network as the operator believes it is, read
    exactly as `twinwatch twin predict` reads it: a GNNet dataset folder, a
    .tar.gz, or a scenario YAML. OBS.jsonl holds what the probes measured,
    one line per sample in the `twin predict` output contract
      {"file": F, "index": I, "paths": [{"src": s, "dst": d, "delay": x, "jitter": y, "loss": z}, ...]}
    (delay and jitter in the scenario's time unit, loss 0..1; null or an
    absent path = not measured).

    \b
    For each observed sample the twin predicts the expected KPIs; each path
    KPI gets a conformal p-value from the model's calibration (upper side:
    observed worse than expected), and the tests of the sample are corrected
    together (--method at --alpha). The flagged paths are localised by
    boolean and least-squares tomography on the routing; the --top-k
    suspects are confirmed by re-predicting with their capacity cut by each
    of --factors, keeping the one that reproduces the observed delays best.

    \b
    Each output line:
      {"file": F, "index": I, "anomalous": true,
       "paths": [{"src": 3, "dst": 7, "kpi": "delay", "p_value": 1e-05}, ...],
       "suspects": [{"src": 4, "dst": 5, "score": 1.93}, ...],
       "explanation": "delay on 14 paths through 4->5; the twin reproduces it if that link's capacity is halved"}
    paths lists flagged paths only; suspects are links, best first. A score
    above 1 means the twin confirmed it (1 + the share of the squared
    log-delay mismatch the what-if removes); at most 1 is tomography alone.

    \b
    Examples:
      twinwatch localize twin/data/nsfnet.yaml --observed probes.jsonl --out suspects.jsonl
      twinwatch localize ../shared/data/gnnet/2022/validation/130 --observed obs.jsonl --alpha 0.01 --model gnn

    \b
    Bad OBS lines (malformed JSON or fields, a path the scenario does not
    route, a sample not in DATA_DIR, a sample or a path given twice, values
    out of range: loss above 1, delays above 1e12) are skipped and counted
    on stderr; the exit status is then 3.
    """

    import sys

    from twinwatch.detectors.localize import PATH_KPIS, diagnose

    names = [k.strip().lower() for k in kpis.split(",") if k.strip()]
    unknown = [k for k in names if k not in _FIELDS]
    if unknown or not names:
        raise click.BadParameter(f"unknown KPI {unknown[0] if unknown else '(none)'!r}; use delay, jitter, loss",
                                 param_hint="--kpis")
    try:
        facs = tuple(float(f) for f in factors.split(",") if f.strip())
    except ValueError:
        raise click.BadParameter(f"expected comma-separated numbers, got {factors!r}", param_hint="--factors") from None
    if not facs or any(not 0 < f <= 1 for f in facs):
        raise click.BadParameter("factors must be in (0, 1]", param_hint="--factors")
    model = cli_model(model_name, checkpoint)
    if "torch" in sys.modules:  # a torch model (gnn, mlp): keep to the cores we were given
        sys.modules["torch"].set_num_threads(threads)
    cal = _load_calibration(model, calibration)
    bad: Counter[str] = Counter()
    messages: list[str] = []
    obs = _read_observed(observed, bad, messages)
    kpi_names = tuple(_FIELDS[k] for k in names)
    field_of = tuple(_KPI_FIELD[k] for k in PATH_KPIS)
    t0 = time.perf_counter()
    n_done = n_anom = 0
    seen: set[tuple[str, int]] = set()
    with _as_click_errors(), atomic_output(out) as fh:
        for file, index, sc in _progress(_iter_inputs(data_dir), f"localizing ({model.name})", not progress):
            item = obs.get((file, index))
            if item is None:
                continue
            seen.add((file, index))
            lineno, rows = item
            try:
                observed_kpis = _align(rows, sc, lineno)
            except BadLineError as exc:
                bad[exc.reason] += 1
                messages.append(str(exc))
                continue
            expected = model.predict(sc)
            diag = diagnose(sc, observed_kpis, expected, cal, alpha=alpha, method=method, kpis=kpi_names,
                            model=model if top_k > 0 else None, top_k=max(top_k, 1), factors=facs)
            _write(fh, _record(file, index, sc, diag, field_of, n_suspects))
            n_done += 1
            n_anom += int(diag.is_anomalous)
    for key, (lineno, _) in obs.items():
        if key not in seen:
            bad["missing_sample"] += 1
            messages.append(f"line {lineno}: sample {key[0]}#{key[1]} is not in {data_dir}")
    n_bad = sum(bad.values())
    for m in messages[:5]:
        click.echo(f"warning: {m}", err=True)
    if len(messages) > 5:
        click.echo(f"warning: ... and {len(messages) - 5} more", err=True)
    if progress:
        where = "stdout" if out == "-" else out
        click.echo(f"{n_done} samples localised ({n_anom} anomalous) with {model.name} in "
                   f"{time.perf_counter() - t0:.2f} s -> {where}", err=True)
    if n_bad:
        click.echo("bad observation lines: " + ", ".join(f"{k}={v}" for k, v in sorted(bad.items())), err=True)
    if n_done == 0:
        raise click.ClickException(f"no usable observation in {observed} matched a sample of {data_dir}")
    if n_bad:
        raise SystemExit(int(ExitCode.PARTIAL))


def _write(fh: IO[bytes], rec: dict[str, Any]) -> None:
    fh.write(orjson.dumps(rec))
    fh.write(b"\n")
