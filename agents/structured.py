"""Structured questions answered from the stored events and QTA reviews, every sentence cited.

A sentence is composed from an event's fields; each figure in it (record and batch numbers, dates) is
cited by the passage it was read from: the field's own evidence where extraction kept one, otherwise the
line of the report that carries the value.
"""

import re
from collections.abc import Callable
from datetime import date

from agents.citations import CitationBook, content_terms, line_matching, line_with
from agents.questions import Intent, QuestionFrame
from core.analysis import AnalysisKind
from core.chat import AnswerSentence
from core.evidence import Evidence
from core.investigations import Capa, FlagCode, InvestigationEvent
from core.observations import RegulatoryFindings
from core.portfolio import Portfolio
from core.qta import ElementStatus, QtaReview
from core.store import RecordStore
from core.workflow import code_words

STRUCTURED_INTENTS = {Intent.EVENTS, Intent.COUNT, Intent.CAPAS_DUE, Intent.CAPAS, Intent.QTA_GAPS, Intent.QTA_TERMS,
                      Intent.OBSERVATIONS}  # fmt: skip
_LATENESS = (FlagCode.NOTIFIED_LATE, FlagCode.CLOSED_LATE)
# The playbook elements a question about an agreement's terms asks about, by the duty it names; the first
# that matches wins ("notify ... of a critical deviation" is the deviations element, not communication).
_TERMS = [
    ("deviations_oos", r"\b(deviations?|oos|out[- ]of[- ]specification|non-?conformances?|incidents?|investigations?)\b"),
    ("complaints_recalls", r"\b(complaints?|recalls?)\b"),
    ("change_control", r"\bchanges?\b"),
    ("audits_inspections", r"\b(audit\w*|inspect\w*)\b"),
    ("responsibilities", r"\b(releases?|disposition|responsib\w*|who (does|performs|approves))\b"),
    ("laboratory_controls", r"\b(samples?|methods?|stability)\b"),
    ("documentation_records", r"\b(retain\w*|retention|archiv\w*|records? (be )?kept|keep records)\b"),
    ("batch_records", r"\bbatch records?\b"),
    ("escalation", r"\bescalat\w*\b"),
    ("subcontracting", r"\b(sub-?contract\w*|third part(y|ies))\b"),
    ("dispute_resolution", r"\b(disputes?|disagree\w*)\b"),
    ("lifecycle", r"\b(terminat\w*|expir\w*|reviewed|renew\w*|term of)\b"),
    ("communication", r"\b(contacts?|meetings?|governance)\b"),
    ("materials_management", r"\b(suppliers?|materials?|components?)\b"),
    ("facilities_equipment", r"\b(equipment|calibrat\w*|premises|facilit\w*)\b"),
    ("definitions", r"\b(defin\w*|means)\b"),
    ("deviations_oos", r"\b(notif\w*|report\w*)\b"),  # a notification with no event named: of deviations
]
_KIND_WORDS = {"regulatory_letter": "letter", "inspection_observations": "inspection observations",
               "audit_report": "audit report"}  # fmt: skip
_GAPS = (ElementStatus.MISSING, ElementStatus.CONFLICTING, ElementStatus.VAGUE)


def _day(value: date) -> str:
    return f"{value.day} {value:%B %Y}"


class StructuredAnswerer:
    def __init__(self, store: RecordStore, portfolio: Portfolio, today: Callable[[], date] = date.today):
        self.store = store
        self.portfolio = portfolio
        self._today = today  # asked at each question: a server running past midnight judges on the new day

    @property
    def today(self) -> date:
        return self._today()

    def answer(self, frame: QuestionFrame, book: CitationBook) -> list[AnswerSentence]:
        if frame.intent == Intent.QTA_GAPS:
            return self._qta_gaps(frame, book)
        if frame.intent == Intent.QTA_TERMS:
            return self._qta_terms(frame, book)
        if frame.intent == Intent.OBSERVATIONS:
            return self._observations(frame, book)
        events = self.events(frame)
        if frame.intent == Intent.CAPAS_DUE:
            return self._capas_due(events, book)
        if frame.intent == Intent.CAPAS:
            return self._capas(events, frame, book)
        sentences = []
        for event in events:
            if sentence := self._event_sentence(event, frame, book):
                sentences.append(sentence)
                if _TELL.search(frame.text) and (told := self._what_happened(event, book)):
                    sentences.append(told)
        if sentences and frame.intent == Intent.COUNT:
            lead = self._count_sentence(len(sentences), frame, [s.citations[0] for s in sentences])
            return [lead, *sentences]
        return sentences

    def events(self, frame: QuestionFrame) -> list[InvestigationEvent]:
        found = []
        for analysis in self.store.list_analyses(kind=AnalysisKind.EVENT):
            event = InvestigationEvent.model_validate(analysis.payload)
            if self._matches(event, frame):
                found.append(event)
        return sorted(found, key=lambda e: (e.site or "", e.record_ids[:1]))

    def _matches(self, event: InvestigationEvent, frame: QuestionFrame) -> bool:
        closed = event_status(event) == "closed"
        return (
            (not frame.sites or event.site in frame.sites)
            and (not frame.programs or bool(set(frame.programs) & set(event.programs)))
            and (not frame.batches or bool(set(frame.batches) & set(event.batch_ids)))
            and (not frame.records or bool(set(frame.records) & set(event.record_ids)))
            and (not frame.event_types or event.type in frame.event_types or _deviation_like(event, frame))
            and not (frame.open_only and closed)
            and not (frame.closed_only and not closed)
            and (not frame.classifications or event.classification in frame.classifications)
            and (not frame.flags or bool(set(frame.flags) & set(event.flag_codes)))
            and (not frame.high_risk or event.risk == "HIGH")
        )

    def _event_sentence(self, event: InvestigationEvent, frame: QuestionFrame, book: CitationBook):
        """One event in one sentence, stating what the question asks about it and citing the fewest passages
        that carry it: the record and its class, batch and site; the dates when asked when or about notice;
        its weaknesses when asked about them; a lateness with its basis."""
        record = event.record_id or event.title
        traits = [t for t in (event.type.value.replace("oos", "OOS"), event.classification, event_status(event)) if t]
        facts = [f"{record} ({', '.join(traits)})"]
        # what the question asks about it must be cited, not only said: "critical", and the class a limit rests on
        lateness = set(frame.flags) & set(_LATENESS)
        asked = tuple(c.value for c in frame.classifications) + ((event.classification,) if event.classification
                                                                  and lateness else ())  # fmt: skip
        # the field that classifies it ("Classification: Critical") first: it often carries the number too
        evidence = [line_matching(self.store, event.document_id, rf"\b{event.classification}\b", re.I)
                    if event.classification else None, line_with(self.store, event.document_id, record)]  # fmt: skip
        if event.site:
            facts.append(f"at {event.site}")
        # batches when the question names one or asks what happened: a list of records by class, weakness or
        # date says which records, and each record's page says its batches
        if event.batch_ids and (frame.batches or _TELL.search(frame.text)):
            # the product as the report names it: a program id comes from the portfolio, not from the text
            facts.append(" ".join(filter(None, ["concerns", event.product, "batch", ", ".join(event.batch_ids)])))
            evidence += [line_with(self.store, event.document_id, b) for b in event.batch_ids]
        text = " ".join(facts)
        for role, words in (("occurred", "it occurred"), ("detected", "it was detected"),
                            ("reported", "it was reported to the sponsor"), ("closed", "it was closed")):  # fmt: skip
            if (value := getattr(event.dates, role)) and role in _dates_asked(frame):
                text += f"; {words} on {_day(value)}"
                evidence.append(event.date_evidence.get(role))
        flags = [f for f in event.flags if f.code in frame.flags]
        basis = [f.evidence[0] for f in flags if f.evidence]  # the quote each weakness asked about rests on
        if flags:
            text += "; flagged: " + ", ".join(code_words(f.code.value, capital=False) for f in flags)
        late = [f for f in flags if f.code in _LATENESS]  # flags holds only those asked about
        if late:
            # a derived claim cites its basis: the dates it counts between and the agreement's clause and limit
            text += " (risk " + event.risk.value + "): " + " ".join(f.reason for f in late)
            return book.restated(text, evidence + [e for f in late for e in f.evidence], asked)
        return book.sentence(text + f" (risk {event.risk.value}).", evidence, 0.0, asked, basis=basis)

    def _what_happened(self, event: InvestigationEvent, book: CitationBook) -> AnswerSentence | None:
        """The report's own account of the event, quoted: what "what happened with ..." asks for."""
        if not (event.description and event.description.evidence):
            return None
        quote = " ".join(event.description.evidence.quote.split())
        return book.restated(f"{event.record_id or event.title}: \"{_short(quote, 300)}\"", [event.description.evidence])

    def _count_sentence(self, count: int, frame: QuestionFrame, markers: list[int]):
        noun = "/".join(t.value.replace("oos", "OOS") for t in frame.event_types) or "event"
        qualifiers = " ".join(filter(None, ["open" if frame.open_only else "", "closed" if frame.closed_only else ""]))
        text = f"{count} {qualifiers + ' ' if qualifiers else ''}{noun} record{'s' * (count != 1)} match in {frame.scope_words()}."
        return AnswerSentence(text=text, citations=list(dict.fromkeys(markers)))

    def _capas_due(self, events: list[InvestigationEvent], book: CitationBook) -> list[AnswerSentence]:
        sentences = []
        for event in events:
            record = event.record_id or event.title
            for capa in overdue_capas(event, self.today):
                owner = f" (owner: {capa.owner})" if capa.owner else ""
                text = f"{record}: the CAPA \"{_short(capa.action)}\"{owner} was due on {_day(capa.due)} and is past due."
                evidence = [capa.evidence, line_with(self.store, event.document_id, record)]
                if sentence := book.sentence(text, evidence, min_overlap=0.0):
                    sentences.append(sentence)
        return sentences

    def _capas(self, events: list[InvestigationEvent], frame: QuestionFrame, book: CitationBook) -> list[AnswerSentence]:
        """Every CAPA of the events asked about, each with its owner, due date and whether it is past due,
        led by how many there are and whether all are listed."""
        listed, total = [], 0
        for event in events:
            record = event.record_id or event.title
            for capa in event.capas:
                total += 1
                owner = f", owner {capa.owner}" if capa.owner else ""
                past = " (past due)" if capa in overdue_capas(event, self.today) else ""
                due = f", due {_day(capa.due)}{past}" if capa.due else ", no due date stated"
                text = f"{record} ({event_status(event)}): CAPA \"{_short(capa.action)}\"{owner}{due}."
                evidence = [capa.evidence, line_with(self.store, event.document_id, record)]
                if sentence := book.sentence(text, evidence, min_overlap=0.0):
                    listed.append(sentence)
        if not listed:
            return []
        qualifier = "open " if frame.open_only else ""
        lead = f"{total} CAPA{'s' * (total != 1)} in the {qualifier}events of {frame.scope_words()}; {_whole(listed, total)}."
        return [AnswerSentence(text=lead, citations=list(dict.fromkeys(m for s in listed for m in s.citations))), *listed]

    def _qta_gaps(self, frame: QuestionFrame, book: CitationBook) -> list[AnswerSentence]:
        sentences = []
        for site in frame.sites or [None]:
            for analysis in self.store.list_analyses(kind=AnalysisKind.QTA_REVIEW, site=site):
                review = QtaReview.model_validate(analysis.payload)
                heading = line_with(self.store, review.document_id, review.title.split("\n")[0][:60]) or self._first_line(review)
                gaps, listed = [f for f in review.findings if f.status in _GAPS], []
                for finding in gaps:
                    text = f"{review.site or review.title}: {finding.title} is {finding.status.value} ({finding.severity.value}): {finding.reason}"
                    # a missing element has no clause to cite; the agreement it is missing from is cited
                    evidence = finding.evidence[:2] or [heading]
                    if sentence := book.restated(text.rstrip(".") + ".", evidence):
                        listed.append(sentence)
                # a list says whether it is whole, and its count cites every item counted
                count = (f"{review.site or review.title}: {len(gaps)} gap{'s' if len(gaps) != 1 else ''} in the agreement; "
                         f"{_whole(listed, len(gaps))}.")  # fmt: skip
                if listed:
                    markers = list(dict.fromkeys(m for s in listed for m in s.citations))
                    sentences.append(AnswerSentence(text=count, citations=markers))
                sentences += listed
        return sentences

    def _qta_terms(self, frame: QuestionFrame, book: CitationBook) -> list[AnswerSentence]:
        """What the site's current agreement says on the duty the question names: the element's finding, in
        the agreement's own words (its clauses, quoted), and whether the terms are specific, vague or conflict."""
        lowered = frame.text.lower()
        elements = [e for e, pattern in _TERMS if re.search(pattern, lowered)][:1]
        sentences = []
        for site in frame.sites or [None]:
            for analysis in self.store.list_analyses(kind=AnalysisKind.QTA_REVIEW, site=site):
                review = QtaReview.model_validate(analysis.payload)
                for finding in (f for f in review.findings if f.element_id in elements):
                    where = f"{review.site or review.title}, {finding.title.lower()}"
                    if finding.status == ElementStatus.MISSING:
                        heading = self._first_line(review)
                        if sentence := book.restated(f"{where}: the agreement has no clause on it.", [heading]):
                            sentences.append(sentence)
                        continue
                    state = {ElementStatus.PRESENT: "specific", ElementStatus.VAGUE: "vague",
                             ElementStatus.CONFLICTING: "conflicting"}[finding.status]  # fmt: skip
                    clauses = _clauses_asked(frame.text, finding.evidence, finding.status == ElementStatus.CONFLICTING)
                    quoted = "; ".join(f'"{" ".join(e.quote.split())}"' for e in clauses)
                    text = f"{where} ({state}): {quoted}."
                    if finding.status != ElementStatus.PRESENT:
                        text += f" {finding.reason}"
                    if sentence := book.restated(text, clauses):
                        sentences.append(sentence)
        return sentences

    def _observations(self, frame: QuestionFrame, book: CitationBook) -> list[AnswerSentence]:
        """What regulators and auditors found at the sites asked about (every partner site when none is named):
        each observation with its document, categories and its own statement quoted, led by how many there are.
        Asked about a category ("data-integrity findings"), only its observations, each citing the passage the
        category rests on."""
        listed, total = [], 0
        issuer = next((name for name in ("FDA", "MHRA", "EMA") if re.search(rf"\b{name}\b", frame.text, re.I)), None)
        for analysis in self.store.list_analyses(kind=AnalysisKind.OBSERVATIONS):
            found = RegulatoryFindings.model_validate(analysis.payload)
            if found.site is None or (frame.sites and found.site not in frame.sites):
                continue  # a document about a site outside the portfolio is no partner's finding
            if issuer and found.issuer != issuer:
                continue  # "what did FDA find": not what the sponsor's auditors found
            site = self.portfolio.site(found.site)
            source = " ".join(filter(None, [found.issuer, _KIND_WORDS.get(found.kind, found.kind), found.reference]))
            when = f" of {_day(found.date)}" if found.date else ""
            for o in found.observations:
                hits = [c for c in o.categories if not frame.categories or c.category in frame.categories]
                if frame.categories and not hits:
                    continue
                total += 1
                what = ", ".join(c.name.lower() for c in hits) or "observation"
                # asked about a category, the passage it rests on; else the observation's own statement
                said = hits[0].evidence if frame.categories else o.evidence
                text = (f"{site.name if site else found.site}: {source}{when}, observation {o.number}"
                        f"{' (repeat)' if o.repeat else ''} - {what}: \"{_short(' '.join(said.quote.split()), 220)}\"")  # fmt: skip
                if sentence := book.restated(text, [said]):
                    listed.append(sentence)
        if not listed:
            return []
        asked = " on " + ", ".join(c.replace("_", " ") for c in frame.categories) if frame.categories else ""
        lead = (f"{total} observation{'s' * (total != 1)}{asked} by regulators and auditors in {frame.scope_words()}; "
                f"{_whole(listed, total)}.")  # fmt: skip
        return [AnswerSentence(text=lead, citations=list(dict.fromkeys(m for s in listed for m in s.citations))), *listed]

    def _first_line(self, review: QtaReview) -> Evidence | None:
        text = self.store.page_text(review.document_id, 1) or ""
        end = text.find("\n") if "\n" in text else len(text)
        return Evidence(document_id=review.document_id, page=1, start=0, end=end, quote=text[:end]) if end else None


# "what happened with batch 24-017": the report's own account of the event is the answer
_TELL = re.compile(r"\b(what happened|tell me about|summar\w*|what do we know|update on|overview|going on)\b", re.I)
_DATE_ROLES = {
    "occurred": r"\b(occur\w*|happen\w*|took place|start\w*)\b",
    "detected": r"\b(detect\w*|discover\w*|found|identif\w*|observ\w*|obtain\w*|measur\w*)\b",  # a result obtained
    "reported": r"\b(notif\w*|report\w* to|inform\w*|told)\b",
    "closed": r"\b(clos\w*|complet\w*|status)\b",
}


def _dates_asked(frame: QuestionFrame) -> set[str]:
    """The dates of an event a question asks for: those whose role it names ("when was Corvane notified",
    "what is the status"), every one for a bare "when", the two a notification clock runs between when asked
    about lateness; none otherwise."""
    named = {role for role, pattern in _DATE_ROLES.items() if re.search(pattern, frame.text, re.I)}
    if FlagCode.NOTIFIED_LATE in frame.flags:
        return {"detected", "reported"}
    if FlagCode.CLOSED_LATE in frame.flags:
        return {"detected", "closed"}
    if re.search(r"\bwhen\b", frame.text, re.I):
        return named or set(_DATE_ROLES)
    return named & {"reported", "closed"}  # "which deviations were reported to ...", "what is the status"


def _clauses_asked(question: str, evidence: list[Evidence], conflicting: bool) -> list[Evidence]:
    """The clauses of a finding that answer the question: those sharing most of its words ("critical",
    "audit", "reserve samples"), at most two; for a conflict, both sides (each shares nearly as many)."""
    asked = set(content_terms(question))
    scored = [(len(asked & set(content_terms(e.quote))), e) for e in evidence]
    best = max((score for score, _ in scored), default=0)
    if best == 0:
        return evidence[:2]
    return [e for score, e in scored if score >= best - (1 if conflicting else 0) and score > 0][:2]


def _whole(listed: list, total: int) -> str:
    """Whether a list shows every item, in words: an item whose passage could not be cited is counted, not hidden."""
    return "all listed" if len(listed) == total else f"showing {len(listed)}: the others' passages could not be cited"


def overdue_capas(event: InvestigationEvent, today: date) -> list[Capa]:
    """CAPAs past their due date while their event is still open (a closed event closed its CAPAs)."""
    if event_status(event) == "closed":
        return []
    return [c for c in event.capas if c.due and c.due < today]


def event_status(event: InvestigationEvent) -> str:
    if (event.status or "").lower() == "closed" or event.dates.closed:
        return "closed"
    return "open"


def _deviation_like(event: InvestigationEvent, frame: QuestionFrame) -> bool:
    # an equipment failure is investigated as a deviation; asked for deviations, it is one
    return "deviation" in frame.event_types and event.type == "equipment"


def _short(text: str, limit: int = 90) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1].rsplit(" ", 1)[0] + "…"
