"""``twinwatch whatif --report FILE``: the what-if as a self-contained HTML page (inline SVG, no external resource).

A map of the network (devices at their coordinates when the model gives them all, else a seeded spring layout)
with each cable coloured by its busier direction's utilisation after the change (dashed grey: down), the
summary, the demands whose delay grows most and the busiest links, before and after.
"""

from __future__ import annotations

import html
import itertools
import math
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["network_map", "number_text", "utilisation_colour", "write_whatif_html"]


def utilisation_colour(u: float) -> str:
    """Green at 0, amber at 0.5, red from 0.9 (``#rrggbb``).

    >>> utilisation_colour(0.0), utilisation_colour(0.5), utilisation_colour(1.2)
    ('#2ca02c', '#e0a000', '#d62728')
    """
    stops = ((0.0, (0x2C, 0xA0, 0x2C)), (0.5, (0xE0, 0xA0, 0x00)), (0.9, (0xD6, 0x27, 0x28)))
    u = min(max(u if math.isfinite(u) else 0.0, 0.0), 0.9)
    for (a, ca), (b, cb) in itertools.pairwise(stops):
        if u <= b:
            f = (u - a) / (b - a)
            return "#" + "".join(f"{round(x + (y - x) * f):02x}" for x, y in zip(ca, cb, strict=True))
    return "#d62728"


def _positions(model: Any, w: float, h: float, pad: float = 30.0) -> np.ndarray:
    """``(N, 2)`` pixel positions: longitude/latitude when every device has them, else a spring layout."""
    lat, lon = np.asarray(model.node_lat, dtype=float), np.asarray(model.node_lon, dtype=float)
    if model.n_nodes and np.isfinite(lat).all() and np.isfinite(lon).all():
        xy = np.stack([lon * math.cos(math.radians(float(np.mean(lat)))), -lat], axis=1)
    else:
        import networkx as nx

        g = nx.Graph()
        g.add_nodes_from(range(model.n_nodes))
        g.add_edges_from(zip(model.link_src.tolist(), model.link_dst.tolist(), strict=True))
        pos = nx.spring_layout(g, seed=0)
        xy = np.array([pos[i] for i in range(model.n_nodes)], dtype=float).reshape(-1, 2)
    lo, hi = xy.min(axis=0), xy.max(axis=0)
    span = np.where(hi > lo, hi - lo, 1.0)
    scale = min((w - 2 * pad) / span[0], (h - 2 * pad) / span[1])
    return pad + (xy - lo) * scale


def network_map(doc: dict[str, Any], model: Any, w: int = 900, h: int = 520) -> str:
    """An inline SVG map: each cable coloured by its busier direction's ``utilization_after`` of ``doc["links"]``
    (a dict per link of the model: ``link``, ``utilization_before``, ``utilization_after``, ``down_after``),
    the cables named by the targets of ``doc["changes"]`` (``"fail A<->B"``, ``"capacity A<->B=10G"``) haloed
    in blue."""
    pos = _positions(model, w, h)
    links = {x["link"]: x for x in doc["links"]}
    changed = set()
    for text in doc["changes"]:
        target = text.split(" ", 1)[-1].split("=", 1)[0]
        for sep in ("<->", "->"):
            if sep in target:
                a, b = (t.strip() for t in target.split(sep))
                changed |= {frozenset((a, b))}
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" style="background:#fff;'
             'border:1px solid #ddd">']
    seen: dict[frozenset[str], list[dict[str, Any]]] = {}
    for lid in model.link_ids:
        a, b = lid.split("->")
        seen.setdefault(frozenset((a, b)), []).append(links[lid])
    for cable, dirs in seen.items():
        a, b = sorted(cable) if len(cable) == 2 else (next(iter(cable)),) * 2
        (x1, y1), (x2, y2) = pos[model.node_index[a]], pos[model.node_index[b]]
        down = all(d["down_after"] for d in dirs)
        u = max(float(d["utilization_after"] or 0.0) for d in dirs)
        ub = max(float(d["utilization_before"] or 0.0) for d in dirs)
        tip = html.escape(f"{a} – {b}: utilisation {ub:.0%} → {u:.0%}" + (" (down)" if down else ""))
        style = ('stroke="#999" stroke-dasharray="6 4" stroke-width="2"' if down else
                 f'stroke="{utilisation_colour(u)}" stroke-width="{2 + 4 * min(u, 1.0):.1f}"')
        if cable in changed:
            parts.append(f'<line x1="{x1:.1f}" y1="{y1:.1f}" x2="{x2:.1f}" y2="{y2:.1f}" stroke="#1f77b4" '
                         'stroke-width="10" opacity="0.3"/>')
        parts.append(f'<line x1="{x1:.1f}" y1="{y1:.1f}" x2="{x2:.1f}" y2="{y2:.1f}" {style}><title>{tip}'
                     '</title></line>')
    for i, name in enumerate(model.node_names):
        x, y = pos[i]
        parts.append(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="4" fill="#333"><title>{html.escape(name)}</title>'
                     f'</circle><text x="{x + 6:.1f}" y="{y - 6:.1f}" font-size="10">{html.escape(name)}</text>')
    parts.append("</svg>")
    return "".join(parts)


def _bar(before: float | None, after: float | None, top: float) -> str:
    """Two thin bars, grey before and blue after, on a common scale ``top``."""
    def width(v: float | None) -> float:
        return 0.0 if v is None or not math.isfinite(v) or top <= 0 else 160 * min(v / top, 1.0)

    return (f'<svg width="164" height="12"><rect y="0" width="{width(before):.1f}" height="5" fill="#aaa"/>'
            f'<rect y="6" width="{width(after):.1f}" height="5" fill="#1f77b4"/></svg>')


def number_text(v: float | None, scale: float = 1.0, fmt: str = "{:.3f}") -> str:
    """``v × scale`` in ``fmt``, or ``"–"`` for a missing or non-finite value (a table cell).

    >>> number_text(0.0123, 1e3), number_text(None), number_text(0.5, 100, "{:.1f}")
    ('12.300', '–', '50.0')
    """
    return "–" if v is None or not math.isfinite(v) else fmt.format(v * scale)


def write_whatif_html(path: str | Path, doc: dict[str, Any], model: Any, top: int = 20) -> None:
    """Write the report of ``doc`` (:func:`~twinwatch.stream.commands.whatif.whatif_report`) to ``path``."""
    s, b = doc["summary"], doc["baseline"]
    dem = [d for d in doc["demands"] if d["routed_before"] and d["routed_after"]]
    dem.sort(key=lambda d: -(d["delay_after_s"] - d["delay_before_s"]) if d["delay_after_s"] is not None
             and d["delay_before_s"] is not None else 0.0)
    dem = [d for d in dem[:top] if (d["delay_after_s"] or 0) > (d["delay_before_s"] or 0)]
    dtop = max([d["delay_after_s"] for d in dem] or [1.0])
    drows = "".join(
        f"<tr><td>{html.escape(d['src'])} → {html.escape(d['dst'])}</td>"
        f"<td>{number_text(d['rate_after_bps'], 1e-6, '{:.1f}')}</td>"
        f"<td>{number_text(d['delay_before_s'], 1e3)}</td><td>{number_text(d['delay_after_s'], 1e3)}</td>"
        f"<td>{_bar(d['delay_before_s'], d['delay_after_s'], dtop)}</td><td>{d['hops_before']} → {d['hops_after']}"
        f"</td><td>{number_text(d['loss_after'], 100, '{:.2f}')}</td></tr>" for d in dem)
    cut = [d for d in doc["demands"] if d["routed_before"] and not d["routed_after"]]
    lk = sorted(doc["links"], key=lambda x: -(x["utilization_after"] or 0.0))[:top]
    lrows = "".join(
        f"<tr><td>{html.escape(x['link'])}{' (down)' if x['down_after'] else ''}</td>"
        f"<td>{number_text(x['capacity_after_bps'], 1e-9, '{:.3g}')}</td>"
        f"<td>{number_text(x['utilization_before'], 100, '{:.1f}')}</td>"
        f"<td>{number_text(x['utilization_after'], 100, '{:.1f}')}</td>"
        f"<td>{_bar(x['utilization_before'], x['utilization_after'], 1.0)}</td>"
        f"<td>{number_text(x['loss_after'], 100, '{:.2f}')}</td></tr>" for x in lk)
    slo = (f"<li>{s['demands_over_slo_after']} demand(s) over the {s['slo_delay_s'] * 1e3:g} ms delay SLO after "
           f"({s['demands_newly_over_slo']} new)</li>" if "slo_delay_s" in s else "")
    over = s["links_newly_over_max_utilization"]
    page = f"""<!doctype html><html><head><meta charset="utf-8"><title>twinwatch what-if: {html.escape(doc['network'])}
</title><style>body{{font-family:sans-serif;margin:2em}}table{{border-collapse:collapse;margin-bottom:1.5em}}
td,th{{border:1px solid #ccc;padding:2px 6px;text-align:right}}td:first-child{{text-align:left}}</style></head><body>
<h1>What if: {html.escape(', '.join(doc['changes']) or 'no change')}</h1>
<p>Network <b>{html.escape(doc['network'])}</b>, twin <b>{html.escape(str(doc['model']))}</b>; baseline traffic
{html.escape(b['source'])}{f" (window starting {b['window_start']:.0f}, matrix from {html.escape(b['tm_source'])})"
if b['source'] == 'telemetry' else ''}, {s['offered_before_bps'] / 1e9:.3g} Gb/s offered{'; links down then: '
+ html.escape(', '.join(b['links_down'])) if b['links_down'] else ''}.</p>
<ul><li>peak link utilisation {s['peak_utilization_before']:.1%} → {s['peak_utilization_after']:.1%}</li>
<li>{s['demands_without_route_after']} demand(s) lose their route ({s['traffic_without_route_after_bps'] / 1e9:.3g}
Gb/s){': ' + html.escape(', '.join(f"{d['src']} → {d['dst']}" for d in cut[:20])) if cut else ''}</li>
<li>{s['demands_on_longer_paths']} demand(s) rerouted onto longer paths</li>
<li>links over {s['max_utilization']:.0%} utilisation after that were not before: {html.escape(', '.join(over))
or 'none'}</li>{slo}</ul>
<p>Cables coloured by their busier direction's utilisation after the change (green 0, amber 50 %, red ≥ 90 %;
dashed grey: down; blue halo: changed). Hover for figures.</p>
{network_map(doc, model)}
<h2>Demands whose delay grows most</h2>
<table><tr><th>demand</th><th>Mb/s</th><th>delay before ms</th><th>after ms</th><th>grey before, blue after</th>
<th>hops</th><th>loss after %</th></tr>{drows or '<tr><td colspan="7">none grows</td></tr>'}</table>
<h2>Busiest links after</h2>
<table><tr><th>link</th><th>capacity Gb/s</th><th>utilisation before %</th><th>after %</th>
<th>grey before, blue after</th><th>loss after %</th></tr>{lrows}</table>
</body></html>"""
    from twinwatch.stream.commands._options import atomic_output

    with atomic_output(path, option="--report") as fh:
        fh.write(page.encode("utf-8"))
