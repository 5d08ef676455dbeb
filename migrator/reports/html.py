"""The HTML report: one self-contained file (inline CSS, inline SVG charts rendered by pygal
with its JavaScript disabled, a few lines of inline JS to sort and filter the problems table);
nothing is loaded from the network.

The summary numbers carry `data-` attributes (`data-planned`, `data-outcome-<name>`,
`data-status-<status>`) so a browser's rendered DOM can be checked against the JSON report.
"""

from __future__ import annotations

import json
import re
from html import escape
from typing import Any

import pygal
from pygal.style import Style

__all__ = ["render_html"]

#: One colour per status, the same in every chart.
COLOURS = {"verified": "#2e7d32", "skipped_identical": "#81c784", "ingested": "#0277bd",
           "excluded": "#9e9e9e", "conflict": "#ef6c00", "failed_permanent": "#c62828",
           "failed_retryable": "#ad1457", "discovered": "#fbc02d", "claimed": "#6d4c41",
           "published": "#5e35b1", "requested": "#546e7a",
           "not_found_upstream": "#8d6e63", "blocked_by_origin_control": "#d84315"}
_SCRIPT = re.compile(r"<script\b.*?</script>", re.DOTALL)


def _style(colours: tuple[str, ...] = ("#2e7d32",)) -> Style:
    return Style(background="white", plot_background="white", font_family="sans-serif",
                 colors=colours)


_CSS = """
body{font-family:system-ui,sans-serif;margin:24px;color:#222;max-width:1200px}
h1{font-size:1.6em;margin-bottom:4px}h2{margin-top:28px;border-bottom:1px solid #ddd}
.cards{display:flex;gap:12px;flex-wrap:wrap}.card{border:1px solid #ccc;border-radius:6px;
padding:10px 16px;min-width:120px}.card b{display:block;font-size:1.8em}
.ok{color:#2e7d32}.bad{color:#c62828}table{border-collapse:collapse;width:100%;
font-size:.85em}th,td{border:1px solid #ddd;padding:4px 6px;text-align:left;
vertical-align:top}th{background:#f3f3f3;cursor:pointer;user-select:none}
td.h{font-family:monospace;font-size:.8em;word-break:break-all}
pre{background:#f7f7f7;padding:10px;overflow:auto}.chart svg{max-width:100%;height:auto}
input{padding:4px;width:320px;margin:6px 0}
"""

_JS = """
function sortBy(th){var t=th.closest('table'),i=[].indexOf.call(th.parentNode.children,th),
b=t.tBodies[0],r=[].slice.call(b.rows),d=th.dataset.dir==='a'?-1:1;th.dataset.dir=d>0?'a':'d';
r.sort(function(x,y){var p=x.cells[i].textContent,q=y.cells[i].textContent,
m=parseFloat(p),n=parseFloat(q);if(!isNaN(m)&&!isNaN(n))return (m-n)*d;
return p.localeCompare(q)*d});r.forEach(function(e){b.appendChild(e)})}
function filterRows(inp){var f=inp.value.toLowerCase(),
t=document.getElementById(inp.dataset.table);[].forEach.call(t.tBodies[0].rows,function(r){
r.style.display=r.textContent.toLowerCase().indexOf(f)<0?'none':''})}
"""


def _svg(chart: Any) -> str:
    svg = chart.render(is_unicode=True, disable_xml_declaration=True)
    # pygal embeds its configuration for its tooltip script, which is not linked: drop it
    return f'<div class="chart">{_SCRIPT.sub("", svg)}</div>'


def _chart(title: str, statuses: list[str]) -> Any:
    # js=[]: pygal links its tooltip script from a CDN by default; no script, no network
    style = _style(tuple(COLOURS.get(s, "#000000") for s in statuses))
    return pygal.StackedBar(title=title, style=style, js=[], width=1100, height=420,
                            legend_at_bottom=True, x_label_rotation=20, print_values=False)


def _status_chart(data: dict[str, Any]) -> str:
    repos = data["repositories"]
    statuses = list(data["totals"]["assets"])
    chart = _chart("Assets per repository (format) and status", statuses)
    chart.x_labels = [f"{name} ({r['format']})" for name, r in repos.items()]
    for s in statuses:
        chart.add(s, [r["assets"].get(s, 0) or None for r in repos.values()])
    return _svg(chart)


def _throughput_chart(data: dict[str, Any]) -> str:
    points = data["throughput"]
    if not points:
        return "<p>No asset finished yet.</p>"
    step = data["throughput_step"]
    chart = pygal.Bar(title=f"Assets finished per {step} (from the state's timestamps)",
                      style=_style(), js=[], width=1100, height=320, show_legend=False,
                      x_label_rotation=30, show_minor_x_labels=False)
    chart.x_labels = [p["at"] for p in points]
    chart.x_labels_major_every = max(1, len(points) // 12)
    chart.add("assets", [p["assets"] for p in points])
    return _svg(chart)


def _h(hashes: dict[str, str]) -> str:
    return escape(hashes.get("sha256", "")) or "&ndash;"


def _table(rows: list[dict[str, Any]], table_id: str) -> str:
    if not rows:
        return "<p>None.</p>"
    head = ("repository", "path", "package", "version", "status", "reason", "source sha256",
            "downloaded sha256", "CodeArtifact sha256")
    out = [f'<input type="search" placeholder="filter..." data-table="{table_id}" '
           f'oninput="filterRows(this)">',
           f'<table id="{table_id}"><thead><tr>'
           + "".join(f'<th onclick="sortBy(this)">{escape(h)}</th>' for h in head)
           + "</tr></thead><tbody>"]
    for r in rows:
        pkg = f"{r['namespace']}:{r['package']}" if r["namespace"] else r["package"]
        out.append(
            f'<tr data-status="{escape(r["status"])}"><td>{escape(r["repository"])}</td>'
            f'<td>{escape(r["path"])}</td><td>{escape(pkg)}</td><td>{escape(r["version"])}'
            f'</td><td>{escape(r["status"])}</td><td>{escape(r["reason"] or "")}</td>'
            f'<td class="h">{_h(r["source_hashes"])}</td>'
            f'<td class="h">{_h(r["downloaded_hashes"])}</td>'
            f'<td class="h">{_h(r["codeartifact_hashes"])}</td></tr>')
    out.append("</tbody></table>")
    return "\n".join(out)


def _findings(rows: list[dict[str, Any]]) -> str:
    """The dependency-confusion findings: internal names a public registry also offers."""
    if not rows:
        return "<p>None.</p>"
    out = ['<table id="confusion"><thead><tr><th>package</th><th>format</th><th>repository'
           '</th><th>also in</th><th>public versions</th><th>protection</th></tr></thead>'
           "<tbody>"]
    for f in rows:
        out.append(f'<tr class="{"ok" if f["protected"] else "bad"}"><td>{escape(f["display"])}'
                   f'</td><td>{escape(f["format"])}</td><td>{escape(f["repository"])}</td>'
                   f'<td>{escape(f["connection"])}</td>'
                   f'<td>{escape(", ".join(f["public_versions"]))}</td>'
                   f'<td>{escape(f["protection"])}</td></tr>')
    out.append("</tbody></table>")
    return "\n".join(out)


def render_html(data: dict[str, Any]) -> str:
    """The report `data` (from `report_data`) as one HTML page."""
    o = data["outcomes"]
    cards = [f'<div class="card">planned assets<b id="planned" '
             f'data-planned="{data["planned_assets"]}">{data["planned_assets"]}</b></div>']
    for name in ("done", "excluded", "problems", "pending"):
        cls = "ok" if name == "done" else ("bad" if name in ("problems", "pending") and o[name]
                                           else "")
        cards.append(f'<div class="card">{name}<b id="outcome-{name}" class="{cls}" '
                     f'data-outcome-{name}="{o[name]}">{o[name]}</b></div>')
    status_cells = "".join(
        f'<tr><td>{escape(s)}</td><td id="status-{escape(s)}" data-status-{escape(s)}="{n}">'
        f'{n}</td></tr>' for s, n in data["totals"]["assets"].items())
    repo_rows = "".join(
        f'<tr><td>{escape(name)}</td><td>{escape(r["format"])}</td><td>{escape(r["mode"])}'
        f'</td><td>{escape(r["target"] or "")}</td><td>{sum(r["assets"].values())}</td><td>'
        + escape(", ".join(f"{k} {v}" for k, v in sorted(r["assets"].items()))) + "</td></tr>"
        for name, r in data["repositories"].items())
    verdict = ("complete: every planned asset is migrated or excluded" if data["complete"]
               else "NOT complete: see the problems below")
    config = json.dumps(data["configuration"], indent=2, sort_keys=True)
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<title>migrator report</title><style>{_CSS}</style><script>{_JS}</script></head>
<body data-complete="{str(data['complete']).lower()}">
<h1>Migration report</h1>
<p>State <code>{escape(data['state'])}</code>, generated {escape(data['generated_at'])}.
<strong class="{'ok' if data['complete'] else 'bad'}" id="verdict">{verdict}</strong></p>
<h2>Summary</h2>
<div class="cards">{''.join(cards)}</div>
<p>done + excluded + problems + pending = planned assets.</p>
<table style="width:auto"><thead><tr><th>status</th><th>assets</th></tr></thead>
<tbody>{status_cells}</tbody></table>
<h2>Per repository</h2>
<table><thead><tr><th>repository</th><th>format</th><th>mode</th><th>target</th>
<th>assets</th><th>by status</th></tr></thead><tbody>{repo_rows}</tbody></table>
{_status_chart(data)}
<h2>Throughput</h2>
{_throughput_chart(data)}
<h2>Problems and pending (<span id="problems-count"
 data-problems="{len(data['problems'])}">{len(data['problems'])}</span>)</h2>
{_table(data['problems'], 'problems')}
<h2>Exclusions (<span id="exclusions-count"
 data-exclusions="{len(data['exclusions'])}">{len(data['exclusions'])}</span>)</h2>
{_table(data['exclusions'], 'exclusions')}
<h2>Dependency-confusion findings ({len(data.get('dependency_confusion') or [])})</h2>
{_findings(data.get('dependency_confusion') or [])}
<h2>Configuration (the manifest, secrets redacted)</h2>
<pre id="configuration">{escape(config)}</pre>
</body></html>
"""
