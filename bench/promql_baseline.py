"""Grafana's PromQL anomaly-detection framework as a baseline, evaluated by a real Prometheus.

The framework (``../shared/data/baselines/promql-anomaly-detection/rules``)
is a set of Prometheus recording rules that compute anomaly bands for every
series tagged with an ``anomaly_name`` label (``adaptive``: mean ± 2σ with a
26 h smoothing and margins; ``robust``: median ± 2 MAD over a day), and an
alerting rule ``AnomalyDetected`` that fires when ``anomaly:level`` stays
outside the bands ``for: 5m``. This module runs it unchanged on the per-window
series of a testbed run (:class:`twinwatch.detectors.baselines.RunSeries`):

1. the series are written as OpenMetrics text, each twice (one copy tagged
   ``anomaly_strategy="adaptive"``, one ``"robust"``), with ``anomaly_name =
   <kpi>:<entity>`` and ``anomaly_type`` ``resource`` (utilisation),
   ``errors`` (drops, loss) or ``latency`` (delay), and backfilled with
   ``promtool tsdb create-blocks-from openmetrics``;
2. the recording rules are backfilled with ``promtool tsdb create-blocks-from
   rules`` against a Prometheus serving that TSDB on loopback. promtool cannot
   backfill a rule that reads another rule's output in the same pass (its
   documented limitation), so the rules are split into dependency stages
   (:func:`rule_stages`) and backfilled stage by stage, Prometheus being
   restarted on the grown TSDB between stages;
3. the alert condition of each strategy's ``AnomalyDetected`` rule is queried
   (``query_range`` at the window step) and its ``for: 5m`` hold applied
   (:func:`for_hold`): firing spans become ``degradation`` Alert lines on the
   series' entity. A second variant per strategy, ``<strategy>-kofm``, skips
   the 5-minute hold and uses the same 2-of-3-windows persistence as the
   other detectors, to separate the bands from the hold.

Rules run at their own group interval or promtool's 60 s default (the
framework's design). The framework says most strategies need 24–26 h of data
to be fully trained: a run shorter than that sees its bands before training.

Needs ``prometheus`` and ``promtool`` on PATH (Debian package ``prometheus``);
:class:`PromqlError` otherwise.
"""

from __future__ import annotations

import re
import shutil
import socket
import subprocess
import time
import urllib.parse
import urllib.request
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import yaml

from twinwatch.detectors.baselines import RunSeries, flags_to_alert_lines

__all__ = ["KPI_TYPES", "PromqlError", "for_hold", "openmetrics", "promql_alert_lines", "rule_stages"]

KPI_TYPES: dict[str, str] = {"utilization": "resource", "drop_pps": "errors", "loss_ratio": "errors",
                             "delay_s": "latency"}
"""KPI → the framework's ``anomaly_type``; series of other KPIs are not tagged."""

STRATEGIES: tuple[str, ...] = ("adaptive", "robust")
_NAME = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")
_FOR = re.compile(r"^(\d+)([smh])$")


class PromqlError(RuntimeError):
    """prometheus / promtool missing, or a step of the evaluation failed (the message says which)."""


def _esc(v: str) -> str:
    return v.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def openmetrics(rs: RunSeries, strategies: Sequence[str] = STRATEGIES) -> tuple[str, list[int]]:
    """OpenMetrics text of the tagged series (one gauge family per KPI) and the column of each series.

    Samples are stamped at the window start (seconds); windows without a value are left out.

    >>> rs = RunSeries("n", 10.0, np.array([0.0, 10.0]), np.array(["link"]), np.array(["a->b"]),
    ...                np.array(["utilization"]), np.array([[0.5], [np.nan]]))
    >>> text, cols = openmetrics(rs, ["robust"])
    >>> lines = text.splitlines()
    >>> lines[0], lines[-1], len(lines), cols
    ('# TYPE twinwatch_utilization gauge', '# EOF', 3, [0])
    >>> lines[1].split("{")[0], lines[1].split("} ")[1]
    ('twinwatch_utilization', '0.5 0')
    >>> sorted(kv.split("=")[0] for kv in lines[1].split("{")[1].split("}")[0].split(","))
    ['anomaly_name', 'anomaly_strategy', 'anomaly_type', 'entity', 'entity_kind']
    """
    out: list[str] = []
    cols: list[int] = []
    for kpi, atype in KPI_TYPES.items():
        idx = np.flatnonzero(rs.kpi == kpi)
        if not idx.size:
            continue
        out.append(f"# TYPE twinwatch_{kpi} gauge")
        for strat in strategies:
            for i in idx.tolist():
                ok = np.flatnonzero(np.isfinite(rs.values[:, i]))
                if not ok.size:
                    continue
                lab = (f'entity_kind="{_esc(str(rs.entity_kind[i]))}",entity="{_esc(str(rs.entity_id[i]))}",'
                       f'anomaly_name="{_esc(f"{kpi}:{rs.entity_id[i]}")}",anomaly_type="{atype}",'
                       f'anomaly_strategy="{strat}"')
                ts = rs.ts[ok]
                vals = rs.values[ok, i]
                out.extend(f"twinwatch_{kpi}{{{lab}}} {v!r} {t:.0f}" for v, t in zip(vals.tolist(), ts.tolist()))
                if strat == strategies[0]:
                    cols.append(i)
    out.append("# EOF")
    return "\n".join(out) + "\n", cols


def rule_stages(rule_files: Sequence[Path]) -> tuple[list[list[dict[str, Any]]], dict[str, dict[str, Any]]]:
    """Split recording rules into stages no rule of which reads a name recorded in its own or a later stage.

    Returns ``(stages, alerts)``: each stage a list of rule groups (``name``, ``interval`` kept),
    and the alerting rules by strategy file stem (``{"adaptive": {"expr", "for"}, ...}``).

    Raises
    ------
    PromqlError
        A rules file cannot be read, or its rules depend on each other in a cycle.
    """
    rules: list[tuple[str, dict[str, Any], dict[str, Any]]] = []  # (file stem, group, rule)
    alerts: dict[str, dict[str, Any]] = {}
    for f in rule_files:
        try:
            doc = yaml.safe_load(Path(f).read_text())
        except (OSError, yaml.YAMLError) as exc:
            raise PromqlError(f"{f}: cannot read the rules ({exc})") from None
        for g in doc.get("groups") or []:
            for r in g.get("rules") or []:
                if "record" in r:
                    rules.append((Path(f).stem, g, r))
                elif "alert" in r:
                    alerts[Path(f).stem] = {"expr": str(r["expr"]), "for": str(r.get("for", "0s"))}
    names = {r["record"] for _, _, r in rules}
    refs = [set(_NAME.findall(str(r["expr"]))) & names for _, _, r in rules]
    level = [0] * len(rules)
    for _ in range(len(rules) + 1):
        name_level: dict[str, int] = {}
        for (_, _, r), lv in zip(rules, level):
            name_level[r["record"]] = max(name_level.get(r["record"], 0), lv)
        new = [1 + max((name_level[n] for n in rf), default=-1) for rf in refs]
        if new == level:
            break
        level = new
    else:
        raise PromqlError("the recording rules depend on each other in a cycle")
    stages: list[list[dict[str, Any]]] = []
    for lv in range(max(level, default=-1) + 1):
        groups: dict[tuple[str, str], dict[str, Any]] = {}
        for (stem, g, r), rl in zip(rules, level):
            if rl != lv:
                continue
            key = (stem, g["name"])
            grp = groups.setdefault(key, {"name": f"{g['name']}_stage{lv}",
                                          **({"interval": g["interval"]} if "interval" in g else {}), "rules": []})
            grp["rules"].append({k: r[k] for k in ("record", "expr", "labels") if k in r})
        stages.append(list(groups.values()))
    return stages, alerts


def for_hold(cond: np.ndarray, step_s: float, hold_s: float) -> np.ndarray:
    """``(T, S)`` firing state of Prometheus' ``for:`` hold over a ``(T, S)`` condition sampled every ``step_s``.

    An alert is pending from the first true sample and fires once the condition has held for
    ``hold_s`` (``T`` samples: the sample ``hold_s / step_s`` after the first); any false sample resets it.

    >>> for_hold(np.array([[1], [1], [1], [0], [1]], dtype=bool), 60.0, 120.0)[:, 0].tolist()
    [False, False, True, False, False]
    """
    need = int(np.ceil(hold_s / step_s - 1e-9))
    run = np.zeros(cond.shape[1], dtype=np.int64)
    out = np.zeros(cond.shape, dtype=bool)
    for t in range(cond.shape[0]):
        run = np.where(cond[t], run + 1, 0)
        out[t] = run > need
    return out


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class _Prometheus:
    """A Prometheus serving ``tsdb`` on a free loopback port, for the lifetime of a ``with`` block."""

    def __init__(self, binary: str, tsdb: Path, workdir: Path, timeout_s: float = 60.0) -> None:
        self.binary, self.tsdb, self.workdir, self.timeout_s = binary, tsdb, workdir, timeout_s
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> _Prometheus:
        cfg = self.workdir / "prometheus.yml"
        cfg.write_text("global:\n  scrape_interval: 1h\n")
        self.log = open(self.workdir / "prometheus.log", "ab")
        self.proc = subprocess.Popen(
            [self.binary, f"--config.file={cfg}", f"--storage.tsdb.path={self.tsdb}",
             f"--web.listen-address=127.0.0.1:{self.port}", "--storage.tsdb.retention.time=100y",
             "--query.lookback-delta=5m", "--query.max-samples=200000000"],
            stdout=self.log, stderr=subprocess.STDOUT, cwd=self.workdir)
        deadline = time.monotonic() + self.timeout_s
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise PromqlError(f"prometheus exited with {self.proc.returncode}; see "
                                        f"{self.workdir / 'prometheus.log'}")
            try:
                with urllib.request.urlopen(self.url + "/-/ready", timeout=2) as resp:
                    if resp.status == 200:
                        return self
            except OSError:
                time.sleep(0.3)
        self.__exit__(None, None, None)
        raise PromqlError(f"prometheus not ready within {self.timeout_s:.0f} s")

    def __exit__(self, *exc: object) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        self.log.close()

    def query_range(self, expr: str, start: float, end: float, step: float) -> list[dict[str, Any]]:
        q = urllib.parse.urlencode({"query": expr, "start": f"{start:.3f}", "end": f"{end:.3f}",
                                    "step": f"{step:g}"})
        try:
            with urllib.request.urlopen(f"{self.url}/api/v1/query_range?{q}", timeout=300) as resp:
                doc = orjson.loads(resp.read())
        except OSError as exc:
            raise PromqlError(f"query_range failed: {exc}") from None
        if doc.get("status") != "success":
            raise PromqlError(f"query_range failed: {doc.get('error')}")
        return list(doc["data"]["result"])


def _run(cmd: list[str], what: str, timeout_s: float) -> None:
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout_s, check=False)
    except subprocess.TimeoutExpired:
        raise PromqlError(f"{what}: timed out after {timeout_s:.0f} s") from None
    if proc.returncode != 0:
        raise PromqlError(f"{what} failed (exit {proc.returncode}): {proc.stderr.strip()[-800:]}")


def _move_blocks(src: Path, dst: Path) -> int:
    n = 0
    for b in src.iterdir():
        if b.is_dir() and (b / "meta.json").is_file():
            shutil.move(str(b), str(dst / b.name))
            n += 1
    return n


def promql_alert_lines(rs: RunSeries, rules_dir: Path, workdir: Path, *, timeout_s: float = 600.0,
                       k: int = 2, m: int = 3, r: int = 2) -> dict[str, list[str]]:
    """Alert lines per variant (``adaptive``, ``robust``, ``adaptive-kofm``, ``robust-kofm``) for ``rs``.

    ``workdir`` receives the TSDB, the staged rule files and Prometheus' log (replaced if present).

    Raises
    ------
    PromqlError
        prometheus / promtool are missing, the rules are missing, or a step failed.
    """
    prom, tool = shutil.which("prometheus"), shutil.which("promtool")
    if not prom or not tool:
        raise PromqlError("prometheus/promtool not on PATH (Debian: apt-get install prometheus)")
    files = [rules_dir / f"{s}.yml" for s in STRATEGIES]
    missing = [str(f) for f in files if not f.is_file()]
    if missing:
        raise PromqlError(f"rules not found: {', '.join(missing)}")
    if workdir.exists():
        shutil.rmtree(workdir)
    tsdb = workdir / "tsdb"
    tsdb.mkdir(parents=True)
    text, _ = openmetrics(rs)
    om = workdir / "series.om"
    om.write_text(text)
    _run([tool, "tsdb", "create-blocks-from", "openmetrics", str(om), str(tsdb)], "promtool openmetrics backfill",
         timeout_s)
    stages, alerts = rule_stages(files)
    start, end = float(rs.ts[0]), float(rs.ts[-1] + rs.window_s)
    for i, groups in enumerate(stages):
        sf = workdir / f"stage{i}.yml"
        sf.write_text(yaml.safe_dump({"groups": groups}, sort_keys=False))
        out = workdir / f"stage{i}.out"
        out.mkdir()
        with _Prometheus(prom, tsdb, workdir) as p:
            _run([tool, "tsdb", "create-blocks-from", "rules", f"--url={p.url}", f"--start={start:.0f}",
                  f"--end={end:.0f}", f"--output-dir={out}", "--quiet", str(sf)], f"promtool rules backfill stage {i}",
                 timeout_s)
        _move_blocks(out, tsdb)
    results: dict[str, list[str]] = {}
    col_of = {f"{kpi}:{e}": i for i, (kpi, e) in enumerate(zip(rs.kpi.tolist(), rs.entity_id.tolist()))}
    with _Prometheus(prom, tsdb, workdir) as p:
        for strat in STRATEGIES:
            al = alerts.get(strat)
            if al is None:
                raise PromqlError(f"{strat}.yml has no alerting rule")
            cond = np.zeros(rs.values.shape, dtype=bool)
            for res in p.query_range(al["expr"], start, end - rs.window_s, rs.window_s):
                col = col_of.get(res["metric"].get("anomaly_name", ""))
                if col is None:
                    continue
                t = np.array([float(v[0]) for v in res["values"]])
                w = np.round((t - start) / rs.window_s).astype(np.int64)
                ok = (w >= 0) & (w < cond.shape[0])
                cond[w[ok], col] = True
            mt = _FOR.match(al["for"])
            hold = float(mt.group(1)) * {"s": 1, "m": 60, "h": 3600}[mt.group(2)] if mt else 0.0
            firing = for_hold(cond, rs.window_s, hold)
            results[strat] = flags_to_alert_lines(rs, firing, k=1, m=1, r=1, detector=f"promql-{strat}")
            results[f"{strat}-kofm"] = flags_to_alert_lines(rs, cond, k=k, m=m, r=r, detector=f"promql-{strat}-kofm")
    return results
