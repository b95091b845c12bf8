"""The nightly digest as Markdown and as HTML with its charts (inline SVG: nothing fetched, nothing run)."""

from html import escape

from core.dates import shown
from core.oversight import Digest, DigestItem, PartnerRisk, ProgramReadiness

_PALETTE = ["#1f6feb", "#cf222e", "#1a7f37", "#9a6700", "#8250df", "#0a7d8c"]


def _where(item: DigestItem) -> str:
    if not item.filename:
        return ""
    return f" ({item.filename}" + (f", page {item.page}" if item.page else "") + ")"


def _section(title: str, items: list[DigestItem], empty: str = "nothing") -> list[str]:
    lines = [f"## {title}", ""]
    lines += [f"- {i.text}{_where(i)}" for i in items] or [f"_{empty}_"]
    return [*lines, ""]


def _grouped(title: str, groups: dict[str, list[DigestItem]]) -> list[str]:
    lines = [f"## {title}", ""]
    if not groups:
        return [*lines, "_nothing new_", ""]
    for key, items in groups.items():
        lines += [f"### {key}", "", *[f"- {i.text}{_where(i)}" for i in items], ""]
    return lines


def digest_markdown(d: Digest, risks: list[PartnerRisk], readiness: list[ProgramReadiness]) -> str:
    since = shown(d.since) if d.since else "the first document"
    lines = [f"# Nightly digest: {since} to {shown(d.until)}", "", f"Judged on {shown(d.as_of)}.", ""]
    if d.narrative:
        lines += [d.narrative, ""]
    lines += _section("Needs a human today", d.needs_human)
    lines += _section("New documents", d.new_documents, "no document arrived in this window")
    lines += _grouped("New events by site", d.new_events)
    lines += _grouped("New QTA gaps by site", d.new_gaps)
    lines += _grouped("New signals from minutes, audits and letters", d.new_signals)
    lines += _grouped("New items by program", d.by_program)
    lines += [
        "## Partner risk",
        "",
        "| site | score | level | technical | quality system | capacity/supply | business | evidence |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in risks:
        dims = " | ".join(f"{x.score:g}" if x.has_data else "no data" for x in r.dimensions)
        lines.append(f"| {r.name} | {r.score:g} | {r.level} | {dims} | {r.completeness:.0%} of dimensions |")
    lines += ["", *[f"- {i.text}" for i in d.risk_changes], ""]
    lines += [
        "## Program readiness",
        "",
        "| program | readiness | next date | CTD sections at risk | overdue CAPAs | open QTA gaps |",
        "|---|---|---|---|---|---|",
    ]
    for p in readiness:
        nxt = f"{p.next_milestone} ({p.next_milestone_date}, {p.days_to_next} days)" if p.next_milestone else "none"
        lines.append(
            f"| {p.program} {p.name} | {p.score:g} | {nxt} | {', '.join(p.ctd_sections_at_risk) or '-'} "
            f"| {p.overdue_capas} | {p.open_qta_gaps} |"
        )
    if closed := _closed_note(readiness):
        lines += ["", closed]
    lines += ["", *[f"- {i.text}" for i in d.readiness_changes], ""]
    for p in readiness:
        for chain in p.propagation:
            lines += [f"**{p.program}: {chain.origin}**", "", *[f"{n}. {s}" for n, s in enumerate(chain.steps, 1)], ""]
    lines += _section("Overdue", d.overdue)
    lines += _section("Pages that could not be read", d.unreadable_pages)
    if d.audit_anchor:
        lines += ["", f"Audit trail head: {d.audit_anchor} (keep it: `cdmo audit verify --against {d.audit_anchor}`)"]
    return "\n".join(lines).rstrip() + "\n"


def digest_html(d: Digest, risks: list[PartnerRisk], readiness: list[ProgramReadiness]) -> str:
    """The Markdown's content as HTML, with a risk-over-time chart and a readiness chart."""
    body = [
        (
            f"<h1>Nightly digest</h1><p>{escape(shown(d.since) if d.since else 'From the first document')} to "
            f"{escape(shown(d.until))}; judged on {shown(d.as_of)}.</p>"
        )
    ]
    if d.narrative:
        body.append(f"<p>{escape(d.narrative)}</p>")
    body += [_list_html("Needs a human today", d.needs_human, "urgent"), _list_html("New documents", d.new_documents)]
    for title, groups in (
        ("New events by site", d.new_events),
        ("New QTA gaps by site", d.new_gaps),
        ("New signals from minutes, audits and letters", d.new_signals),
    ):
        body.append(
            f"<h2>{title}</h2>"
            + ("".join(_list_html(k, v, level=3) for k, v in groups.items()) or "<p>nothing new</p>")
        )
    body += ["<h2>Partner risk</h2>", risk_chart(risks), _list_html("Changes", d.risk_changes, level=3)]
    body += [
        "<h2>Program readiness</h2>",
        readiness_chart(readiness),
        f"<p>{escape(closed)}</p>" if (closed := _closed_note(readiness)) else "",
        _list_html("Changes", d.readiness_changes, level=3),
    ]
    for p in readiness:
        for chain in p.propagation:
            steps = "".join(f"<li>{escape(s)}</li>" for s in chain.steps)
            body.append(f"<h3>{escape(p.program)}: {escape(chain.origin)}</h3><ol>{steps}</ol>")
    body += [_list_html("Overdue", d.overdue), _list_html("Pages that could not be read", d.unreadable_pages)]
    if d.audit_anchor:
        body.append(f"<p><small>Audit trail head: <code>{escape(d.audit_anchor)}</code> (keep it: "
                    f"<code>cdmo audit verify --against {escape(d.audit_anchor)}</code>)</small></p>")  # fmt: skip
    style = (
        "body{font:15px/1.45 system-ui,sans-serif;max-width:60rem;margin:1.5rem auto;padding:0 1rem;color:#1d2330}"
        ".urgent li{color:#a61b1b}svg{max-width:100%;background:#fff;border:1px solid #d9dee5}"
    )
    return (
        f'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Nightly digest {escape(d.id)}</title>'
        f"<style>{style}</style></head><body>{''.join(body)}</body></html>\n"
    )


def _closed_note(readiness: list[ProgramReadiness]) -> str:
    closed = [f"{p.program}: {p.closed_left_out}" for p in readiness if p.closed_left_out]
    return f"Open findings only: those people closed are not counted ({', '.join(closed)})." if closed else ""


def _list_html(title: str, items: list[DigestItem], css: str = "", level: int = 2) -> str:
    rows = "".join(f"<li>{escape(i.text + _where(i))}</li>" for i in items) or "<li>nothing</li>"
    return f'<h{level}>{escape(title)}</h{level}><ul class="{css}">{rows}</ul>'


def risk_chart(risks: list[PartnerRisk], width: int = 640, height: int = 240) -> str:
    """Partner risk per site over time: one line per site, 0-100."""
    months = sorted({t.month for r in risks for t in r.trend})
    if not months:
        return "<p>no dated risk signal yet</p>"
    left, right, top, bottom = 40, 150, 15, 30
    plot_w, plot_h = width - left - right, height - top - bottom
    x = {m: left + (plot_w * i / max(1, len(months) - 1)) for i, m in enumerate(months)}
    parts = [
        (
            f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" role="img" '
            f'aria-label="Partner risk per site over time">'
        )
    ]
    for v in (0, 50, 100):
        y = top + plot_h * (1 - v / 100)
        parts.append(
            f'<line x1="{left}" x2="{left + plot_w}" y1="{y:.1f}" y2="{y:.1f}" stroke="#e3e7ec"/>'
            f'<text x="{left - 6}" y="{y + 4:.1f}" font-size="11" text-anchor="end">{v}</text>'
        )
    for m in (months[0], months[-1]):
        parts.append(f'<text x="{x[m]:.1f}" y="{height - 8}" font-size="11" text-anchor="middle">{m}</text>')
    for n, r in enumerate(risks):
        color = _PALETTE[n % len(_PALETTE)]
        points = " ".join(f"{x[t.month]:.1f},{top + plot_h * (1 - t.score / 100):.1f}" for t in r.trend)
        parts.append(
            f'<polyline class="risk-line" data-site="{escape(r.site)}" fill="none" stroke="{color}" '
            f'stroke-width="2" points="{points}"/>'
        )
        parts.append(
            f'<text x="{left + plot_w + 8}" y="{top + 14 + 16 * n}" font-size="12" fill="{color}">'
            f"{escape(r.site)} {r.score:g}</text>"
        )
    return "".join(parts) + "</svg>"


def readiness_chart(readiness: list[ProgramReadiness], width: int = 640) -> str:
    """Readiness per program: one bar each, on an axis from 0 (heavily loaded) to 100 (nothing open)."""
    row, left, span = 28, 160, width - 160 - 60
    top = row * len(readiness) + 10  # where the bars end and the axis runs
    height = top + 36
    parts = [
        (
            f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" role="img" '
            f'aria-label="Readiness per program, 0 to 100">'
        )
    ]
    for tick in range(0, 101, 25):
        x = left + span * tick / 100
        parts.append(
            f'<line class="axis-tick" x1="{x:.1f}" y1="0" x2="{x:.1f}" y2="{top}" stroke="#d0d7de"/>'
            f'<text x="{x:.1f}" y="{top + 14}" font-size="11" text-anchor="middle">{tick}</text>'
        )
    parts.append(
        f'<line x1="{left}" y1="{top}" x2="{left + span}" y2="{top}" stroke="#57606a"/>'
        f'<text x="{left + span / 2:.1f}" y="{top + 30}" font-size="11" text-anchor="middle">'
        "readiness (100: nothing open)</text>"
    )
    for n, p in enumerate(readiness):
        y, w = 5 + row * n, span * p.score / 100
        color = "#1a7f37" if p.score >= 70 else "#9a6700" if p.score >= 40 else "#cf222e"
        parts.append(
            f'<text x="{left - 8}" y="{y + 16}" font-size="12" text-anchor="end">{escape(p.program)}</text>'
            f'<rect class="readiness-bar" data-program="{escape(p.program)}" x="{left}" y="{y}" '
            f'width="{w:.1f}" height="{row - 8}" fill="{color}"/>'
            f'<text x="{left + w + 6:.1f}" y="{y + 16}" font-size="12">{p.score:g}</text>'
        )
    return "".join(parts) + "</svg>"
