"""Reviewer-facing reports of a QTA review or an investigation event, as Markdown or as one HTML page.

The HTML page shows each cited page with every quoted span highlighted, so a reviewer checks a finding
against its source in one click. All document text is escaped: a document cannot inject markup.
"""

from enum import StrEnum
from html import escape
from urllib.parse import quote

from api.report_files import markdown_docx, markdown_pdf
from core.chat import ChatTurn
from core.documents import Document, DocumentKind
from core.evidence import Evidence
from core.investigations import InvestigationEvent
from core.observations import RegulatoryFindings
from core.qta import ElementStatus, QtaReview
from core.workflow import code_words

_STATUS_MARK = {
    ElementStatus.PRESENT: "✓ present",
    ElementStatus.VAGUE: "~ vague",
    ElementStatus.MISSING: "✗ missing",
    ElementStatus.CONFLICTING: "≠ conflicting",
}


# where another document's own analysis shows its quotes on its pages
_VIEW = {DocumentKind.QTA: "/qta/reviews/{}?format=html", DocumentKind.DEVIATION_REPORT: "/events/{}?format=html",
         DocumentKind.OOS_INVESTIGATION: "/events/{}?format=html", DocumentKind.CHANGE_CONTROL: "/events/{}?format=html"}  # fmt: skip


def _cite(e: Evidence, own_document: str | None = None, others: dict[str, Document] | None = None) -> str:
    """Page and span; and the document by its title, when the quote comes from another one (the site's QTA)."""
    where = f"p. {e.page}, chars {e.start}-{e.end}"
    if own_document in (None, e.document_id):
        return where
    other = (others or {}).get(e.document_id)
    return f"{other.title} ({other.filename}), {where}" if other else f"document {e.document_id}, {where}"


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _qta_counts(review: QtaReview) -> str:
    """How many elements are present, vague, missing, conflicting: the review at a glance."""
    return f"{len(review.findings)} elements: " + " · ".join(f"{len(review.by_status(s))} {s.value}" for s in ElementStatus)


def qta_markdown(review: QtaReview) -> str:
    lines = [
        f"# QTA gap review: {review.title}",
        "",
        f"File `{review.filename}` (document {review.document_id}); site {review.site or 'unknown'}.",
        f"Playbook: {review.playbook}. Backend: {review.backend}.",
        "",
        *([f"Read: {review.scope}.", ""] if review.scope else []),
        _qta_counts(review),
        "",
    ]
    if review.hostile_text:
        lines += ["> **Text addressed to an AI reviewer was found and ignored:**"]
        lines += [f'> "{_one_line(e.quote)}" ({_cite(e)})' for e in review.hostile_text] + [""]
    for f in review.findings:
        lines += [
            f"## {f.title} — {_STATUS_MARK[f.status]}" + (f" ({f.severity.value})" if f.severity != "none" else "")
        ]
        lines += ["", f"{f.reason}", "", f"*Source:* {f.source}", ""]
        lines += [f'> "{_one_line(e.quote)}" — {_cite(e)}' for e in f.evidence]
        if f.suggested_wording:
            lines += ["", f"**Suggested wording:** {f.suggested_wording}"]
        lines += [""]
    return "\n".join(lines)


def event_markdown(event: InvestigationEvent, others: dict[str, Document] | None = None) -> str:
    d = event.dates
    lines = [
        f"# Investigation triage: {event.title}",
        "",
        f"File `{event.filename}` (document {event.document_id}). Backend: {event.backend}.",
        "",
        f"**Risk {event.risk.value}** — {event.risk_reason} Sponsor response: {event.sponsor_response}.",
        "",
        "| field | value |",
        "|---|---|",
        f"| type | {event.type.value} |",
        f"| records | {', '.join(event.record_ids) or '—'} |",
        f"| site / programs / product | {event.site or '—'} / {', '.join(event.programs) or '—'} / {event.product or '—'} |",
        f"| batches | {', '.join(event.batch_ids) or '—'} |",
        f"| classification | {event.classification.value if event.classification else '—'} |",
        f"| occurred / detected / reported / closed | {d.occurred or '—'} / {d.detected or '—'} / {d.reported or '—'} / {d.closed or '—'} |",
        f"| root cause | {event.root_cause.text if event.root_cause else '—'} ({event.root_cause_category or '—'}) |",
        f"| impact assessment | {event.impact_assessment.text if event.impact_assessment else '—'} |",
        "",
    ]
    if event.hostile_text:
        lines += ["> **Text addressed to an AI reviewer was found and ignored:**"]
        lines += [f'> "{_one_line(e.quote)}" ({_cite(e)})' for e in event.hostile_text] + [""]
    lines += ["## CAPAs", ""]
    lines += [
        f"- {c.action} — owner {c.owner or '—'}, due {c.due or '—'}, effectiveness check: {c.effectiveness_check or 'none'}"
        for c in event.capas
    ] or ["- none stated"]
    lines += ["", "## Weak-investigation flags", ""]
    for flag in event.flags:
        lines += [f"- **{code_words(flag.code.value)}**: {flag.reason} _(found by {flag.signal})_"]
        lines += [f'  > "{_one_line(e.quote)}" — {_cite(e, event.document_id, others)}' for e in flag.evidence]
    lines += ["- none"] if not event.flags else []
    if event.reading_notes:
        lines += ["", "## Not read, or read with doubt", ""] + [f"- {n}" for n in event.reading_notes]
    lines += ["", "## Reporting clocks", ""]
    lines += [f"- **{c.name}** ({c.applies}): {c.deadline}. Rule: {c.rule}" for c in event.reporting_clocks] or [
        "- none"
    ]
    lines += ["", "## CTD Module 3 sections", ""]
    lines += [f"- {c.section} {c.title}: {c.rule}" for c in event.ctd_sections] or ["- none"]
    return "\n".join(lines) + "\n"


def chat_markdown(turns: list[ChatTurn]) -> str:
    """A chat session (or one of its turns) as Markdown: each answer with its markers, then its sources."""
    lines = [f"# Chat session {turns[0].session_id}" if turns else "# Chat session", ""]
    for turn in turns:
        answer = turn.answer
        scope = ", ".join(filter(None, [answer.scope.site, answer.scope.program])) or "all sites and programs"
        lines += [f"## {turn.ordinal}. {turn.question}", "",
                  f"_{turn.asked_at:%Y-%m-%d %H:%M} UTC · scope: {scope} · {answer.kind.value.replace('_', ' ')} · {answer.backend}_", ""]  # fmt: skip
        lines += [" ".join(s.text + (" " if s.citations else "") + "".join(f"[{m}]" for m in s.citations)
                           for s in answer.sentences), ""]  # fmt: skip
        if answer.citations:
            lines += ["Sources:", ""]
            lines += [f'- [{c.marker}] {c.title} (`{c.filename}`), page {c.page}: "{_one_line(c.quote)}"' for c in answer.citations]
            lines += [""]
    return "\n".join(lines)


def _highlighted_pages(pages: dict[int, str], evidence: list[Evidence], document_id: str) -> str:
    parts = []
    for number in sorted({e.page for e in evidence if e.document_id == document_id}):
        text = pages.get(number, "")
        spans = sorted({(e.start, e.end) for e in evidence if e.page == number and e.document_id == document_id})
        out, cursor = [], 0
        for start, end in spans:
            start = max(start, cursor)
            if end <= start:
                continue
            out += [escape(text[cursor:start]), f'<mark id="p{number}-{start}">', escape(text[start:end]), "</mark>"]
            cursor = end
        out.append(escape(text[cursor:]))
        parts.append(f'<section class="page"><h3>Page {number}</h3><pre>{"".join(out)}</pre></section>')
    return "\n".join(parts)


_STYLE = """body{font-family:system-ui,sans-serif;max-width:70rem;margin:2rem auto;padding:0 1rem;line-height:1.4}
pre{white-space:pre-wrap;background:#f7f7f7;padding:1rem;border:1px solid #ddd}mark{background:#ffe066}
.present{color:#1a7f37}.vague{color:#9a6700}.missing,.conflicting{color:#cf222e}blockquote{color:#444}
table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:.3rem .5rem;text-align:left;vertical-align:top}"""


def _page(title: str, body: str) -> str:
    return (
        f'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{escape(title)}</title>'
        f"<style>{_STYLE}</style></head><body>{body}</body></html>"
    )


def _quote_html(e: Evidence, own_document: str | None = None, others: dict[str, Document] | None = None) -> str:
    """A quote, linked to its highlight when it is on one of this document's pages, else to the other document."""
    cite = escape(_cite(e, own_document, others))
    if own_document in (None, e.document_id):
        cite = f'<a href="#p{e.page}-{e.start}">{cite}</a>'
    elif (other := (others or {}).get(e.document_id)) is not None:
        view = _VIEW.get(other.kind, "/documents/{}/pages/" + str(e.page)).format(quote(other.id))
        cite = f'<a href="{escape(view)}">{cite}</a>'
    return f"<blockquote>{cite}: “{escape(_one_line(e.quote))}”</blockquote>"


def _row_filters(choices: dict[str, list[str]]) -> str:
    """Pickers that show only the table rows whose data-<name> is the value picked (the values are the
    product's own: no document text reaches the script)."""
    pickers = "".join(
        f'<label>{name.capitalize()} <select data-filter="{name}"><option value="">every {name}</option>'
        + "".join(f'<option value="{escape(v)}">{escape(v)}</option>' for v in values) + "</select></label> "
        for name, values in choices.items()
    )
    script = (
        "<script>for(const s of document.querySelectorAll('select[data-filter]'))s.addEventListener('change',()=>{"
        "const picked=[...document.querySelectorAll('select[data-filter]')].filter(p=>p.value);"
        "for(const r of document.querySelectorAll('tr[data-status]'))"
        "r.hidden=!picked.every(p=>r.dataset[p.dataset.filter]===p.value);});</script>"
    )
    return f'<p class="filters">{pickers}</p>{script}'


def qta_html(review: QtaReview, pages: dict[int, str]) -> str:
    rows = []
    for f in review.findings:
        wording = f"<p><b>Suggested wording:</b> {escape(f.suggested_wording)}</p>" if f.suggested_wording else ""
        rows.append(
            f'<tr data-status="{f.status.value}" data-severity="{escape(f.severity.value)}"><td>{escape(f.title)}</td>'
            f'<td class="{f.status.value}">{_STATUS_MARK[f.status]}</td>'
            f"<td>{escape(f.severity.value)}</td><td>{escape(f.reason)}{''.join(_quote_html(e) for e in f.evidence)}"
            f"{wording}<small>Source: {escape(f.source)}</small></td></tr>"
        )
    hostile = "".join(_quote_html(e) for e in review.hostile_text)
    evidence = [e for f in review.findings for e in f.evidence] + review.hostile_text
    body = (
        f"<h1>QTA gap review: {escape(review.title)}</h1><p>{escape(review.filename)} · site {escape(review.site or '?')}"
        f" · {escape(review.playbook)} · backend {escape(review.backend)}</p>"
        + (f'<p class="scope">Read: {escape(review.scope)}.</p>' if review.scope else "")
        + f"<p><b>{escape(_qta_counts(review))}</b></p>"
        + (f"<h2>Text addressed to an AI reviewer (ignored)</h2>{hostile}" if hostile else "")
        + _row_filters({"status": [s.value for s in ElementStatus],
                        "severity": sorted({f.severity.value for f in review.findings})})
        + '<table id="elements"><tr><th>Element</th><th>Status</th><th>Severity</th><th>Why, and the clauses</th></tr>'
        + "".join(rows)
        + "</table><h2>Cited pages</h2>"
        + _highlighted_pages(pages, evidence, review.document_id)
    )
    return _page(f"QTA review - {review.title}", body)


def event_html(event: InvestigationEvent, pages: dict[int, str], others: dict[str, Document] | None = None) -> str:
    flags = "".join(
        f'<li title="{escape(f.code.value)}"><b>{escape(code_words(f.code.value))}</b>: {escape(f.reason)} '
        f"<i>(found by {escape(f.signal)})</i>"
        f"{''.join(_quote_html(e, event.document_id, others) for e in f.evidence)}</li>"
        for f in event.flags
    )
    capas = "".join(
        f"<li>{escape(c.action)} — owner {escape(c.owner or '—')}, due {c.due or '—'}, "
        f"effectiveness check: {escape(c.effectiveness_check or 'none')}</li>"
        for c in event.capas
    )
    clocks = "".join(
        f"<li><b>{escape(c.name)}</b> ({escape(c.applies)}): {escape(c.deadline)}. {escape(c.rule)}</li>"
        for c in event.reporting_clocks
    )
    ctd = "".join(f"<li>{escape(c.section)} {escape(c.title)}: {escape(c.rule)}</li>" for c in event.ctd_sections)
    hostile = "".join(_quote_html(e) for e in event.hostile_text)
    notes = "".join(f"<li>{escape(n)}</li>" for n in event.reading_notes)
    evidence = [e for f in event.flags for e in f.evidence] + event.hostile_text + list(event.date_evidence.values())
    evidence += [q.evidence for q in (event.description, event.root_cause, event.impact_assessment) if q and q.evidence]
    d = event.dates
    fields = [
        ("type", event.type.value), ("records", ", ".join(event.record_ids)), ("site", event.site or "—"),
        ("programs", ", ".join(event.programs)), ("product", event.product or "—"), ("batches", ", ".join(event.batch_ids)),
        ("classification", event.classification.value if event.classification else "—"),
        ("dates", f"occurred {d.occurred or '—'}, detected {d.detected or '—'}, reported {d.reported or '—'}, closed {d.closed or '—'}"),
        ("root cause", f"{event.root_cause.text if event.root_cause else '—'} ({event.root_cause_category or '—'})"),
        ("impact assessment", event.impact_assessment.text if event.impact_assessment else "—"),
    ]  # fmt: skip
    body = (
        f"<h1>Investigation triage: {escape(event.title)}</h1><p>{escape(event.filename)} · backend {escape(event.backend)}</p>"
        f"<h2>Risk {event.risk.value}</h2><p>{escape(event.risk_reason)} Sponsor response: {escape(event.sponsor_response)}.</p>"
        + (f"<h2>Text addressed to an AI reviewer (ignored)</h2>{hostile}" if hostile else "")
        + "<table>" + "".join(f"<tr><th>{k}</th><td>{escape(v)}</td></tr>" for k, v in fields) + "</table>"
        + f"<h2>CAPAs</h2><ul>{capas or '<li>none stated</li>'}</ul><h2>Weak-investigation flags</h2><ul>{flags or '<li>none</li>'}</ul>"
        + (f"<h2>Not read, or read with doubt</h2><ul>{notes}</ul>" if notes else "")
        + f"<h2>Reporting clocks</h2><ul>{clocks or '<li>none</li>'}</ul><h2>CTD Module 3</h2><ul>{ctd or '<li>none</li>'}</ul>"
        + "<h2>Cited pages</h2>" + _highlighted_pages(pages, evidence, event.document_id)
    )  # fmt: skip
    return _page(f"Triage - {event.title}", body)


def observations_markdown(findings: RegulatoryFindings) -> str:
    where = findings.site or findings.site_reason
    lines = [
        f"# Observations: {findings.title}",
        "",
        f"File `{findings.filename}` (document {findings.document_id}); {findings.kind.replace('_', ' ')} by "
        f"{findings.issuer or 'unknown'}, reference {findings.reference or '-'}, dated {findings.date or '-'}.",
        f"Firm: {findings.firm or '-'}; FEI {', '.join(findings.fei) or '-'}; site: {where}"
        + (f" (by {findings.site_reason})" if findings.site else "") + ".",
        "",
    ]
    for o in findings.observations:
        lines += [f"## Observation {o.number}{' (repeat)' if o.repeat else ''}", "",
                  f"> {_one_line(o.evidence.quote)} ({_cite(o.evidence)})", ""]  # fmt: skip
        cited = ", ".join(o.regulations) or "none cited"
        named = "; ".join(f"{n.reference} ({n.short_description}; {n.source})" for n in o.named_regulations)
        lines.append(f"- Regulations: {cited}" + (f"; named from FDA's 483 citations: {named}" if named else ""))
        for c in o.categories:
            lines.append(f"- **{c.name}** ({c.signal}): \"{_one_line(c.evidence.quote)[:240]}\" ({_cite(c.evidence)})")
        if o.repeat_evidence:
            lines.append(f"- Cited before: \"{_one_line(o.repeat_evidence.quote)[:240]}\" ({_cite(o.repeat_evidence)})")
        lines.append("")
    if findings.reading_notes:
        lines += ["## Not read, or read with doubt", "", *[f"- {n}" for n in findings.reading_notes], ""]
    return "\n".join(lines)


def observations_html(findings: RegulatoryFindings, pages: dict[int, str]) -> str:
    items = "".join(
        f"<li><b>Observation {escape(o.number)}</b>{' (repeat)' if o.repeat else ''}: "
        f"{_quote_html(o.evidence)}<p>Regulations: {escape(', '.join(o.regulations) or 'none cited')}</p><ul>"
        + "".join(f"<li>{escape(c.name)} <i>({escape(c.signal)})</i>{_quote_html(c.evidence)}</li>" for c in o.categories)
        + "</ul></li>"
        for o in findings.observations
    )
    evidence = [o.evidence for o in findings.observations] + [c.evidence for o in findings.observations for c in o.categories]
    body = (
        f"<h1>Observations: {escape(findings.title)}</h1><p>{escape(findings.filename)} · "
        f"{escape(findings.issuer or 'unknown')} · site {escape(findings.site or findings.site_reason)}</p>"
        f"<ol>{items or '<li>no numbered observations found</li>'}</ol>"
        + "<h2>Cited pages</h2>" + _highlighted_pages(pages, evidence, findings.document_id)
    )  # fmt: skip
    return _page(f"Observations - {findings.title}", body)


class ReportFormat(StrEnum):
    JSON = "json"
    MARKDOWN = "markdown"
    HTML = "html"
    DOCX = "docx"  # the Markdown's content as a Word document
    PDF = "pdf"

    @property
    def binary(self) -> bool:
        return self in (ReportFormat.DOCX, ReportFormat.PDF)

    @property
    def media_type(self) -> str:
        return {"json": "application/json", "markdown": "text/markdown", "html": "text/html", "pdf": "application/pdf",
                "docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document"}[self.value]  # fmt: skip


def cited_documents(result: QtaReview | InvestigationEvent | RegulatoryFindings) -> set[str]:
    """The other documents a result quotes: an event's flags may rest on its site's QTA (a notification limit)."""
    if not isinstance(result, InvestigationEvent):
        return set()
    return {e.document_id for f in result.flags for e in f.evidence} - {result.document_id}


def render(
    result: QtaReview | InvestigationEvent | RegulatoryFindings,
    pages: dict[int, str],
    fmt: ReportFormat,
    others: dict[str, Document] | None = None,
) -> str | bytes:
    """A review, triage or reading of observations as JSON, Markdown, an HTML page (which shows `pages` with
    the quotes marked), or the Markdown as a Word document or PDF (bytes); `others`: the other documents it quotes,
    named by their titles and linked."""
    if fmt == ReportFormat.JSON:
        return result.model_dump_json(indent=2)
    if fmt.binary:
        markdown = render(result, pages, ReportFormat.MARKDOWN, others)
        return markdown_docx(markdown) if fmt == ReportFormat.DOCX else markdown_pdf(markdown, result.title)
    if isinstance(result, RegulatoryFindings):
        return observations_markdown(result) if fmt == ReportFormat.MARKDOWN else observations_html(result, pages)
    if isinstance(result, QtaReview):
        return qta_markdown(result) if fmt == ReportFormat.MARKDOWN else qta_html(result, pages)
    return event_markdown(result, others) if fmt == ReportFormat.MARKDOWN else event_html(result, pages, others)
