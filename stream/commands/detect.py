"""``twinwatch detect``: anomaly detection commands that need no twin.

``detect series`` scores CSV time series with the twin-less mode
(:mod:`twinwatch.detectors.series`): each row gets an ``anomaly_score`` in ``[0, 1]``
computed online from earlier rows only. The maths lives in ``detectors``;
this module reads and writes the files and reports.
"""

from __future__ import annotations

import csv
import math
import sys
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import click
import numpy as np

from twinwatch.stream.commands._options import FiniteFloatRange

__all__ = ["SeriesFile", "detect", "parse_timestamp", "read_series_csv", "series"]

_TS_NAMES = ("timestamp", "time", "ts")
_VALUE_NAMES = ("value",)
TS_RANGE_S = (-62_135_596_800.0, 253_402_300_800.0)
"""Timestamps are epoch seconds of the years 1 to 9999 (what ISO 8601 dates can name)."""
MAX_ABS_VALUE = 1e150
"""Largest magnitude of a value: the forecaster's residuals and their squares stay finite in float64."""


def parse_timestamp(text: str) -> float:
    """Epoch seconds (UTC) of an ISO 8601 timestamp (zone optional, naive = UTC) or of a number.

    >>> parse_timestamp("2018-07-03 14:00:00"), parse_timestamp('2018-07-03T14:00:00Z'), parse_timestamp("1530626400")
    (1530626400.0, 1530626400.0, 1530626400.0)
    """
    s = text.strip().strip('"')
    try:
        v = float(s)
    except ValueError:
        pass
    else:
        if math.isfinite(v):
            return v
        raise ValueError(f"timestamp {text!r} is not finite")
    dt = datetime.fromisoformat(s)
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return dt.timestamp()


@dataclass
class SeriesFile:
    """A CSV series as read: header, raw rows, parsed ``ts``/``value`` (NaN where a row is malformed)."""

    path: Path
    header: list[str]
    rows: list[list[str]]
    ts: np.ndarray
    value: np.ndarray
    malformed: list[tuple[int, str]] = field(default_factory=list)
    """``(line number, reason)`` of rows that could not be parsed (first 20 kept; see ``n_malformed``)."""
    n_malformed: int = 0


class SeriesFileError(ValueError):
    """The file cannot be scored at all (unreadable, no header, no timestamp/value column)."""


def _find(header: list[str], names: tuple[str, ...]) -> int | None:
    low = [h.strip().strip('"').lower() for h in header]
    for n in names:
        if n in low:
            return low.index(n)
    return None


def read_series_csv(path: Path) -> SeriesFile:
    """Read a ``timestamp,value`` CSV (also ``TimeStamp,Value,Label``; extra columns are kept).

    Rows whose timestamp or value does not parse, or with too few fields, are counted as
    malformed and get NaN (they stay in the output, with an empty score).

    Raises
    ------
    SeriesFileError
        The file cannot be read or decoded, is empty, lacks a timestamp or value column, or has
        no data row that parses (a header alone, or only malformed rows: nothing to score).
    """
    all_rows: list[list[str]] = []
    lines: list[int] = []  # the line each record starts on (a quoted field may span lines)
    reader = None
    try:
        with path.open(newline="", encoding="utf-8-sig") as fh:
            reader = csv.reader(fh)
            last = 0
            for rec in reader:
                all_rows.append(rec)
                lines.append(last + 1)
                last = reader.line_num
    except OSError as exc:
        raise SeriesFileError(f"{path}: cannot read ({exc.strerror or exc})") from None
    except UnicodeDecodeError as exc:
        raise SeriesFileError(f"{path}: not UTF-8 text (byte {exc.start}); save it as UTF-8 CSV") from None
    except csv.Error as exc:
        where = f"line {reader.line_num}: " if reader is not None else ""
        raise SeriesFileError(f"{path}: {where}not CSV ({exc})") from None
    if not all_rows:
        raise SeriesFileError(f"{path}: empty file (need a header with timestamp and value columns)")
    header, rows = all_rows[0], all_rows[1:]
    i_ts, i_val = _find(header, _TS_NAMES), _find(header, _VALUE_NAMES)
    if i_ts is None or i_val is None:
        raise SeriesFileError(f"{path}: header {_cut(header)} has no {'timestamp' if i_ts is None else 'value'} column "
                              "(expected columns timestamp,value or TimeStamp,Value,Label)")
    ts = np.full(len(rows), np.nan)
    val = np.full(len(rows), np.nan)
    out = SeriesFile(path, header, rows, ts, val)
    for k, row in enumerate(rows):
        line = lines[k + 1]
        if not row or all(not c.strip() for c in row):
            _bad(out, line, "empty row")
            continue
        if len(row) <= max(i_ts, i_val):
            _bad(out, line, f"{len(row)} fields, need at least {max(i_ts, i_val) + 1}")
            continue
        try:
            t = parse_timestamp(row[i_ts])
        except (ValueError, OverflowError):
            _bad(out, line, f"timestamp {_cut(row[i_ts])} is not ISO 8601 or epoch seconds")
            continue
        if not TS_RANGE_S[0] <= t < TS_RANGE_S[1]:
            _bad(out, line, f"timestamp {_cut(row[i_ts])} is outside the years 1 to 9999")
            continue
        try:
            v = float(row[i_val].strip().strip('"'))
        except ValueError:
            _bad(out, line, f"value {_cut(row[i_val])} is not a number")
            continue
        if not math.isfinite(v):
            _bad(out, line, f"value {_cut(row[i_val])} is not finite")
            continue
        if abs(v) > MAX_ABS_VALUE:
            _bad(out, line, f"value {_cut(row[i_val])} is beyond +-{MAX_ABS_VALUE:g}")
            continue
        ts[k], val[k] = t, v
    if not rows:
        raise SeriesFileError(f"{path}: no data row (only the header); nothing to score")
    if out.n_malformed == len(rows):
        first = f" (line {out.malformed[0][0]}: {out.malformed[0][1]})" if out.malformed else ""
        raise SeriesFileError(f"{path}: none of its {len(rows)} data rows parses{first}; nothing to score")
    return out


def _cut(x: object, n: int = 60) -> str:
    """``repr(x)`` cut to about ``n`` characters (a field in a message)."""
    text = repr(x)
    return text if len(text) <= n else text[: n - 3] + "..."


def _bad(sf: SeriesFile, line: int, reason: str) -> None:
    sf.n_malformed += 1
    if len(sf.malformed) < 20:
        sf.malformed.append((line, reason))


def _write(sf: SeriesFile, scores: np.ndarray, out: Path) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    with out.open("w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh, lineterminator="\n")
        w.writerow([*sf.header, "anomaly_score"])
        ok = np.isfinite(sf.value)
        for row, s, good in zip(sf.rows, scores.tolist(), ok.tolist(), strict=True):
            w.writerow([*row, f"{s:.6f}" if good else ""])


def _period(text: str) -> float | str | None:
    t = text.strip().lower()
    if t in ("auto", "none"):
        return None if t == "none" else "auto"
    if t == "daily":
        return 86_400.0
    if t == "weekly":
        return 7 * 86_400.0
    try:
        v = float(t)
    except ValueError:
        raise click.BadParameter(f"{text!r}: use auto, none, daily, weekly or seconds", param_hint="--period") from None
    if v <= 0:
        raise click.BadParameter(f"{text!r}: the period must be > 0 seconds", param_hint="--period")
    return v


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def detect() -> None:
    """Detect anomalies without the twin (see `twinwatch detect series --help`)."""


@detect.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.argument("input_path", metavar="INPUT", type=click.Path(exists=True, path_type=Path))
@click.option("--out", "-o", "out", metavar="OUTPUT", required=True, type=click.Path(path_type=Path),
              help="Output CSV (INPUT is a file) or folder (INPUT is a folder; created if missing).")
@click.option("--period", default="auto", show_default=True, metavar="auto|none|daily|weekly|SECONDS",
              help="Seasonal period: inferred from the first 64 timestamps (daily when they are at most an hour "
                   "apart), none, or a length in seconds.")
@click.option("--min-history", type=click.IntRange(min=2), default=24, show_default=True,
              help="Rows a series needs before it is scored (score 0 before).")
@click.option("--learn-alpha", type=FiniteFloatRange(0.0, 1.0, min_open=True, max_open=True), default=1e-3,
              show_default=True, help="A row with a p-value below this is not learned as normal.")
@click.option("--quiet", "-q", is_flag=True, help="No summary on standard error.")
def series(input_path: Path, out: Path, period: str, min_history: int, learn_alpha: float, quiet: bool) -> None:
    """Score time series in CSV files: each row gets an anomaly_score in [0, 1].

    \b
    INPUT is a CSV file with columns timestamp,value (the Microsoft
    cloud-monitoring layout TimeStamp,Value,Label works too; extra columns
    are kept), or a folder: every *.csv below it is scored and OUTPUT
    mirrors the folder tree; other files are skipped and listed.

    \b
    OUTPUT holds the same rows and columns plus anomaly_score = 1 - p, where
    p is a two-sided conformal p-value of the row's deviation from a robust
    seasonal forecast. It is computed online: a row's score uses only the
    rows above it (in file order), so it is what a live detector would have
    said. Timestamps: ISO 8601 (zone optional, naive = UTC) or epoch seconds.
    Rows that do not parse (or hold a value beyond +-1e150 or a time outside
    the years 1-9999) are counted, reported by line and kept with an empty
    score. A threshold of score >= 0.99 flags about 1 % of normal rows.

    \b
    Examples:
      twinwatch detect series cpu.csv --out cpu_scored.csv
      twinwatch detect series ../shared/data/anomaly/microsoft-cloud-monitoring --out scored/
      twinwatch detect series latency.csv --out - --period none

    Exit status: 0 ok (malformed rows reported), 1 invalid input (nothing could
    be scored: an empty file or folder, a header alone, no row that parses),
    2 usage error, 3 partial success (some files skipped for errors).
    """
    from twinwatch.detectors.series import score_many

    per = _period(period)
    if input_path.is_dir():
        pairs, skipped = _plan_folder(input_path, out)
    else:
        if str(out) != "-" and out.is_dir():
            raise click.BadParameter(f"{out} is a folder; INPUT is a file, give a file name", param_hint="--out")
        pairs, skipped = [(input_path, out)], []
    files: list[tuple[SeriesFile, Path]] = []
    errors: list[str] = []
    for src, dst in pairs:
        try:
            files.append((read_series_csv(src), dst))
        except SeriesFileError as exc:
            errors.append(str(exc))
    if not files:
        if input_path.is_dir():  # a single file's error is the one-line message below
            for e in errors:
                click.echo(f"error: {e}", err=True)
        raise click.ClickException(f"no series could be scored under {input_path}" if input_path.is_dir()
                                   else errors[0] if errors else f"{input_path}: nothing to score")
    data = [(sf.ts, sf.value) for sf, _ in files]
    scores = score_many(data, period_s=per, learn_alpha=learn_alpha, min_history=min_history)
    n_rows = n_bad = n_written = 0
    for (sf, dst), sc in zip(files, scores, strict=True):
        if str(dst) == "-":
            w = csv.writer(sys.stdout, lineterminator="\n")
            w.writerow([*sf.header, "anomaly_score"])
            for row, s, good in zip(sf.rows, sc.tolist(), np.isfinite(sf.value).tolist(), strict=True):
                w.writerow([*row, f"{s:.6f}" if good else ""])
        else:
            try:
                _write(sf, sc, dst)
            except OSError as exc:
                errors.append(f"{dst}: cannot write ({exc})")
                continue
        n_written += 1
        n_rows += len(sf.rows)
        n_bad += sf.n_malformed
        for line, reason in sf.malformed:
            click.echo(f"warning: {sf.path}:{line}: {reason}", err=True)
        if sf.n_malformed > len(sf.malformed):
            click.echo(f"warning: {sf.path}: {sf.n_malformed - len(sf.malformed)} more malformed rows", err=True)
    for e in errors:
        click.echo(f"error: {e}", err=True)
    if not quiet:
        for s in skipped:
            click.echo(f"skipped (not a .csv): {s}", err=True)
        click.echo(f"{n_written} series, "
                   f"{n_rows} rows scored ({n_bad} malformed), {len(skipped)} other files skipped, "
                   f"{len(errors)} errors -> {out}", err=True)
    if errors:
        sys.exit(3)


def _plan_folder(src: Path, out: Path) -> tuple[list[tuple[Path, Path]], list[str]]:
    if str(out) == "-":
        raise click.BadParameter("INPUT is a folder: OUTPUT must be a folder, not '-'", param_hint="--out")
    if out.exists() and not out.is_dir():
        raise click.BadParameter(f"{out} exists and is not a folder", param_hint="--out")
    out_res = out.resolve()
    pairs: list[tuple[Path, Path]] = []
    skipped: list[str] = []
    for p in sorted(src.rglob("*")):
        if not p.is_file() or out_res in p.resolve().parents:
            continue
        rel = p.relative_to(src)
        if p.suffix.lower() == ".csv":
            pairs.append((p, out / rel))
        else:
            skipped.append(str(rel))
    return pairs, skipped
