"""``twinwatch plan --report FILE``: the capacity plan as a self-contained HTML page (inline SVG, no external resource).

The network map with each cable coloured by its worst utilisation on the network as planned (the upgraded cables
haloed in blue; hover for the figure now and planned), the summary, the cables to upgrade and, when the twin checked
the plan, its verdict on the network as it is and as planned per scenario.
"""

from __future__ import annotations

import html
from pathlib import Path
from typing import Any

from twinwatch.stream.commands.whatif_html import network_map, number_text

__all__ = ["write_plan_html"]


def _pct(v: float | None) -> str:
    return number_text(v, 100, "{:.1f}")


def _g(bps: float) -> str:
    return number_text(bps, 1e-9, "{:.3g}")


def write_plan_html(path: str | Path, doc: dict[str, Any], model: Any, top: int = 50) -> None:
    """Write the report of ``doc`` (:func:`~twinwatch.stream.commands.plan.plan_report`) to ``path``."""
    s = doc["summary"]
    links = [{"link": x["link"], "utilization_before": x["worst_utilization_before"],
              "utilization_after": x["worst_utilization_after"], "down_after": False} for x in doc["links"]]
    svg = network_map({"links": links, "changes": [f"capacity {u['cable']}" for u in doc["upgrades"]]}, model)
    e = html.escape
    rows = "".join(
        f"<tr><td>{e(u['cable'])}</td><td>{_g(u['capacity_before_bps'])}</td><td>{_g(u['capacity_after_bps'])}</td>"
        f"<td>{_g(u['load_bps'])}</td><td>{_pct(u['utilization_before'])}</td><td>{_pct(u['utilization_after'])}</td>"
        f"<td>{e(u['set_by'])}</td></tr>"
        for u in sorted(doc["upgrades"], key=lambda r: -r["utilization_before"])[:top])
    cuts = "".join(f"<li>{e(c['failure'])}: {_g(c['traffic_bps'])} Gb/s</li>" for c in doc["cut_off"][:top])
    io = doc["intact_only"]
    alt = "" if io is None else (
        f"<li>upgrading only what the intact network needs: {io['cables_upgraded']} cable(s), "
        f"+{_g(io['capacity_added_bps'])} Gb/s; links then over {doc['max_utilization_failure']:.0%} under a "
        f"failure: {e(', '.join(io['links_over_ceiling_under_failures'])) or 'none'}</li>")
    twin = ""
    if doc.get("twin"):
        tw = doc["twin"]
        slo = tw["slo_delay_s"] is not None
        head = "".join(f"<th>{h}</th>" for h in ("scenario", "peak util % as is", "planned", "links losing as is",
                                                 "planned", "worst delay ms as is", "planned",
                                                 *(("over SLO as is", "planned") if slo else ())))

        body = "".join(
            f"<tr><td>{e(r['scenario'])}</td><td>{_pct(r['as_is']['peak_utilization'])}</td>"
            f"<td>{_pct(r['planned']['peak_utilization'])}</td><td>{len(r['as_is']['links_losing'])}</td>"
            f"<td>{len(r['planned']['links_losing'])}</td><td>{number_text(r['as_is']['max_delay_s'], 1e3)}</td>"
            f"<td>{number_text(r['planned']['max_delay_s'], 1e3)}</td>"
            + (f"<td>{r['as_is']['demands_over_slo']}</td><td>{r['planned']['demands_over_slo']}</td>" if slo else "")
            + "</tr>" for r in tw["scenarios"])
        twin = (f"<h2>The twin ({e(str(tw['model']))}) on the grown traffic</h2><p>Links losing more than "
                f"{tw['max_loss']:.2%} of their packets"
                + (f"; demands above {tw['slo_delay_s'] * 1e3:g} ms" if slo else "")
                + f".</p><table><tr>{head}</tr>{body}</table>")
    survive = {"none": "on the intact network", "cable": "through any single cable failure",
               "router": "through any single router failure"}[doc["survive"]]
    page = f"""<!doctype html><html><head><meta charset="utf-8"><title>twinwatch plan: {e(doc['network'])}</title>
<style>body{{font-family:sans-serif;margin:2em}}table{{border-collapse:collapse;margin-bottom:1.5em}}
td,th{{border:1px solid #ccc;padding:2px 6px;text-align:right}}td:first-child{{text-align:left}}</style></head><body>
<h1>Capacity plan: {e(doc['network'])}</h1>
<p>Traffic ×{doc['growth']:g} ({e(doc['baseline']['source'])}); every link at or under
{doc['max_utilization']:.0%} on the intact network and {doc['max_utilization_failure']:.0%} {survive};
{s['scenarios']} scenarios routed; cables grow by {e(doc['upgrade'])}.</p>
<ul><li>{s['cables_upgraded']} cable(s) to upgrade, +{_g(s['capacity_added_bps'])} Gb/s in all; worst utilisation
{_pct(s['worst_utilization_before'])} % → {_pct(s['worst_utilization_after'])} %</li>{alt}
<li>failures that cut traffic off (no capacity brings it back): {len(doc['cut_off'])}<ul>{cuts}</ul></li></ul>
<p>Cables coloured by their busier direction's worst utilisation on the network as planned (green 0, amber 50 %,
red ≥ 90 %; blue halo: upgraded). Hover for the figure now → planned.</p>
{svg}
<h2>Cables to upgrade</h2>
<table><tr><th>cable</th><th>now Gb/s</th><th>planned Gb/s</th><th>load Gb/s</th><th>utilisation now %</th>
<th>planned %</th><th>set by</th></tr>{rows or '<tr><td colspan="7">none</td></tr>'}</table>
{twin}
</body></html>"""
    from twinwatch.stream.commands._options import atomic_output

    with atomic_output(path, option="--report") as fh:
        fh.write(page.encode("utf-8"))
