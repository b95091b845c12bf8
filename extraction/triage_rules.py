"""The rules backend of investigation triage: the event read from labelled fields, headed sections and cues.

Flags for weak investigations are read here from the text (each with its quote); flags that need the
site's quality agreement (notified late, closed late) are added by `extraction.triage`.
"""

import re

from core.documents import DocumentKind
from core.evidence import Evidence
from core.identifiers import batch_ids, unique
from core.investigations import (
    Capa,
    Classification,
    EventDates,
    EventReading,
    EventType,
    Flag,
    FlagCode,
    Quoted,
    RootCauseCategory,
)
from extraction.dates import DATE, first_date, parse_date
from extraction.source import Clause, SourceText


def _rx(pattern: str) -> re.Pattern:
    return re.compile(pattern, re.IGNORECASE)


_DATE_LABELS = {
    "occurred": _rx(r"\b(date of (occurrence|the event|event)|event date|occurred( on)?)\b"),
    "detected": _rx(
        r"\b(date detected|detected( on)?|discovered( on)?|date of discovery|initial result|test date|result obtained)\b"
    ),
    "reported": _rx(
        r"\b((sponsor|client) (notified|informed)|notified to (the )?\w+|reported to (the )?(sponsor|client)|"
        r"notification to the sponsor|informed (the )?(sponsor|client))\b"
    ),
    "closed": _rx(r"\b(closed( on)?\s*[:|]|date closed|closure date)"),
}
_CLASSIFICATION = _rx(r"\b(classification|classified as|category)\b[^.]{0,30}?\b(critical|major|minor)\b")
_EQUIPMENT_EVENT = _rx(
    r"\b(downtime|breakdown|unplanned (stop|outage|shutdown)|equipment failure|stopped with an? [\w ]{0,30}fault|"
    r"(was|were) unavailable|while the [\w ]{0,30} was repaired)\b"
)
_OOT = _rx(r"\b(out[- ]of[- ]trend|OOT)\b")
_COMPLAINT = _rx(r"\bcomplaint\b")
_DESCRIPTION_HEADING = _rx(r"descri|what happened|event summary|summary|details")
_ROOT_CAUSE_LINE = _rx(r"^(primary\s+)?root cause\b|^assignable cause\b|\broot cause( \([^)]*\))?:")
_ROOT_CAUSE_HEADING = _rx(r"\bcause\b")
_CAUSE_WORDS = _rx(r"\b(cause|due to|attributed|because)\b")
_CAUSE_IN_CONCLUSION = _rx(r"\b(due to|caused by|attributed to|most likely|root cause)\b")
_CAPA_HEADING = _rx(r"\bCAPA\b|corrective|preventive")
_IMPACT_HEADING = _rx(r"\bimpact\b")
_CONCLUSION_HEADING = _rx(r"conclusion|investigation|root cause|assignable")
_CONCLUSION_ONLY = _rx(r"conclusion")
_STATUS_HEADING = _rx(r"^status$")
_OPEN_OR_CLOSED = _rx(r"\b(open|closed)\b")
_SPEC_RESULT = _rx(r"\b(test|result)\b.*\b(specification|limit)\b")
_CATEGORIES = [
    (RootCauseCategory.HUMAN_ERROR, _rx(r"\b(human error|operator error|analyst error|operator (did not|damaged)|personnel error)\b")),
    (RootCauseCategory.LABORATORY, _rx(r"\blaboratory (contamination|error|cause)|assignable laboratory cause")),
    (RootCauseCategory.DOCUMENTATION, _rx(r"\b(documentation error|transcription)\b")),
    # a strategy or procedure that let equipment fail is the cause, not the part that failed
    (RootCauseCategory.PROCEDURE, _rx(r"\b(procedure|SOP|strategy)\b")),
    (RootCauseCategory.EQUIPMENT,
     _rx(r"\b(equipment|valve|pump|controller|solenoid|capacitor|instrument failure|wear|worn|machine)\b")),
    (RootCauseCategory.MATERIAL, _rx(r"\b(raw material|supplier|resin|component defect)\b")),
    (RootCauseCategory.PROCESS, _rx(r"\b(process|hold time|extended hold|excursion|out of range)\b")),
]  # fmt: skip
_EVIDENCE = _rx(
    r"\b(confirmed by|reproduced|audit trail (showed|shows)|records? show(ed|s)?|data show|shown by|demonstrated|"
    r"test report|identification of the isolates)\b"
)
_PROBABLE = _rx(r"\b(most likely|(?<!un)likely|probabl[ey]|possibl[ey] (due|caused)|presumed|suspected|assumed)\b")
_INVALIDATED = _rx(r"\binvalidat\w*")
_NO_CAUSE = _rx(r"\bno assignable (laboratory )?cause|no (laboratory )?error was identified|no root cause\b")
_RETRAIN = _rx(r"\b(re-?train\w*|training)\b")
_LIMITED = _rx(
    r"\b(limited to (lot|batch)|concerns only batch|only batch|no impact on other (batches|lots)|"
    r"no other (batch|lot)(es|s)? (is|are) (concerned|affected))\b"
)
_OTHERS_ASSESSED = _rx(
    r"\b(other (batches|lots|tests|samples|products) (were|was) (assessed|reviewed|checked)|review of other|"
    r"batches [\w-]+ and [\w-]+ ran)\b"
)
_STATUS = _rx(r"\b(status\b[^.]{0,20}?\b(open|closed)\b|^(open|closed)\b|non-conformance is (closed|open))")


def _quoted(source: SourceText, clauses: list[Clause]) -> Quoted | None:
    if not clauses:
        return None
    first, last = clauses[0], [c for c in clauses if c.page == clauses[0].page][-1]
    evidence = source.evidence(first.page, first.start, last.end)
    return Quoted(text=" ".join(evidence.quote.split()), evidence=evidence)


def _in_sections(clauses: list[Clause], pattern: re.Pattern) -> list[Clause]:
    return [c for c in clauses if pattern.search(c.section)]


def event_type(source: SourceText, clauses: list[Clause]) -> EventType:
    kind, head = source.document.kind, source.document.title + " " + " ".join(c.text for c in clauses[:12])
    if kind == DocumentKind.CHANGE_CONTROL:
        return EventType.CHANGE
    if kind == DocumentKind.OOS_INVESTIGATION:
        return EventType.OOT if _OOT.search(source.document.title) else EventType.OOS
    if _COMPLAINT.search(source.document.title):
        return EventType.COMPLAINT
    if _EQUIPMENT_EVENT.search(head):
        return EventType.EQUIPMENT
    return EventType.DEVIATION if kind == DocumentKind.DEVIATION_REPORT else EventType.OTHER


def _dates(source: SourceText, clauses: list[Clause]) -> tuple[EventDates, dict[str, Evidence]]:
    found, evidence = {}, {}
    for clause in clauses:
        for field, label in _DATE_LABELS.items():
            if field in found:
                continue
            hit = label.search(clause.text)
            when = DATE.search(clause.text, hit.end()) if hit else None
            if when and when.start() - hit.end() <= 60 and (value := parse_date(when)):
                found[field] = value
                evidence[field] = source.clause_evidence(clause)
    return EventDates(**found), evidence


def _classification(clauses: list[Clause]) -> Classification | None:
    for clause in clauses:
        match = _CLASSIFICATION.search(clause.text)
        if match:
            return Classification(match.group(2).lower())
    return None


def _root_cause(source: SourceText, clauses: list[Clause]) -> tuple[Quoted | None, RootCauseCategory | None]:
    chosen = [c for c in clauses if _ROOT_CAUSE_LINE.search(c.text)][:1]
    in_cause = _in_sections(clauses, _ROOT_CAUSE_HEADING)
    chosen = chosen or [c for c in in_cause if _CAUSE_WORDS.search(c.text)][:1] or in_cause[:1]
    chosen = chosen or [c for c in _in_sections(clauses, _CONCLUSION_ONLY) if _CAUSE_IN_CONCLUSION.search(c.text)][:1]
    if not chosen:
        return None, None
    text = chosen[0].text
    explicit = re.search(r"\(([a-z ]+)\)\s*:", text)
    lookup = explicit.group(1) if explicit else text
    category = next((cat for cat, rx in _CATEGORIES if rx.search(lookup)), None)
    if category is None and explicit:
        category = next((cat for cat, rx in _CATEGORIES if rx.search(text)), None)
    return _quoted(source, chosen), category or RootCauseCategory.UNKNOWN


def _capas(source: SourceText, clauses: list[Clause]) -> tuple[list[Capa], list[Clause]]:
    capa_clauses = [c for c in _in_sections(clauses, _CAPA_HEADING) if not re.search("immediate", c.section, re.I)]
    capas = []
    for clause in capa_clauses:
        if clause.cells:
            action = clause.cell("action") or clause.cells[0]
            owner, due = clause.cell("owner"), first_date(clause.cell("due") or "")
            effectiveness = clause.cell("effectiveness")
        else:
            action = clause.text
            owner_match = re.search(r"\bowner:\s*([^,;)]+)", clause.text, re.I)
            owner = owner_match.group(1).strip() if owner_match else None
            due_match = re.search(r"\bdue\b[^.;]{0,12}?(" + DATE.pattern + ")", clause.text, re.I)
            due = first_date(due_match.group(1)) if due_match else None
            eff = re.search(r"\beffectiveness\b[^.;]*", clause.text, re.I)
            effectiveness = eff.group() if eff else None
        capas.append(Capa(action=action, owner=owner, due=due, effectiveness_check=effectiveness,
                          evidence=source.clause_evidence(clause)))  # fmt: skip
    return capas, capa_clauses


def _flag(source: SourceText, code: FlagCode, reason: str, clauses: list[Clause]) -> Flag:
    return Flag(code=code, reason=reason, evidence=[source.clause_evidence(c) for c in clauses[:3]])


def weakness_flags(
    source: SourceText, reading: EventReading, clauses: list[Clause], capa_clauses: list[Clause]
) -> list[Flag]:
    flags: list[Flag] = []
    reasoning = _in_sections(clauses, _CONCLUSION_HEADING) or clauses
    supported = any(_EVIDENCE.search(c.text) for c in reasoning)
    cause = reading.root_cause.evidence if reading.root_cause else None
    cause_clauses = [c for c in clauses if cause and c.page == cause.page and cause.start <= c.start < cause.end]
    if reading.root_cause_category == RootCauseCategory.HUMAN_ERROR and not supported:
        flags.append(_flag(source, FlagCode.HUMAN_ERROR_WITHOUT_EVIDENCE,
                           "Human error is named as the root cause with no evidence for it and no look at why "
                           "the error was possible.", cause_clauses))  # fmt: skip
    probable = [c for c in reasoning if _PROBABLE.search(c.text)]
    if probable and not supported:
        flags.append(_flag(source, FlagCode.PROBABLE_CAUSE_WITHOUT_DATA,
                           "The cause is called probable or most likely, with no data to confirm it.", probable))  # fmt: skip
    if reading.type in (EventType.OOS, EventType.OOT):
        invalidated = [c for c in clauses if _INVALIDATED.search(c.text)]
        no_cause = [c for c in clauses if _NO_CAUSE.search(c.text)]
        if invalidated and no_cause:
            flags.append(_flag(source, FlagCode.OOS_INVALIDATED_WITHOUT_ASSIGNABLE_CAUSE,
                               "The OOS result is invalidated although no assignable laboratory cause was found; "
                               "FDA's OOS guidance requires a full-scale investigation instead.",
                               [no_cause[0], invalidated[0]]))  # fmt: skip
    if reading.capas and all(_RETRAIN.search(c.action) for c in reading.capas):
        flags.append(_flag(source, FlagCode.RETRAINING_ONLY_CAPA,
                           "Retraining is the only corrective action.", capa_clauses))  # fmt: skip
    if (
        reading.capas
        and reading.classification != Classification.MINOR
        and not any(c.effectiveness_check for c in reading.capas)
    ):
        flags.append(_flag(source, FlagCode.NO_EFFECTIVENESS_CHECK,
                           "No CAPA has an effectiveness check (ICH Q10 §3.2.2).", capa_clauses))  # fmt: skip
    impact = _in_sections(clauses, _IMPACT_HEADING) + _in_sections(clauses, _CONCLUSION_ONLY)
    limited = [c for c in impact if _LIMITED.search(c.text)]
    if limited and not any(_OTHERS_ASSESSED.search(c.text) for c in clauses):
        flags.append(_flag(source, FlagCode.IMPACT_LIMITED_TO_ONE_BATCH,
                           "Impact is assessed on this batch only; 21 CFR 211.192 requires the investigation to "
                           "extend to other batches that may be affected.", limited))  # fmt: skip
    return flags


def _event_batches(source: SourceText, clauses: list[Clause]) -> list[str]:
    """Batches named in the header and description: the event's own, not those checked for impact."""
    head = [c for c in clauses if c.section == source.sections[0].heading or _DESCRIPTION_HEADING.search(c.section)]
    return unique(b for c in head for b in batch_ids(c.text + " " + source.document.title))


def read_event(source: SourceText) -> EventReading:
    clauses = source.readable
    meta = source.document.metadata
    dates, date_evidence = _dates(source, clauses)
    root_cause, category = _root_cause(source, clauses)
    capas, capa_clauses = _capas(source, clauses)
    description = (
        _in_sections(clauses, _DESCRIPTION_HEADING)[:2] or [c for c in clauses if _SPEC_RESULT.search(c.text)][:2]
    )
    status = next((m for c in clauses if (m := _STATUS.search(c.text))), None)
    if status is None:
        status_clauses = _in_sections(clauses, _STATUS_HEADING)
        status = _OPEN_OR_CLOSED.search(status_clauses[0].text) if status_clauses else None
    own_id = next((i for i in meta.document_ids if i in source.document.title), None)
    reading = EventReading(
        type=event_type(source, clauses),
        record_ids=[own_id, *[i for i in meta.document_ids if i != own_id]] if own_id else list(meta.document_ids),
        site=meta.sites[0] if meta.sites else None,
        programs=list(meta.programs),
        product=meta.products[0] if meta.products else None,
        batch_ids=_event_batches(source, clauses) or list(meta.batch_ids),
        dates=dates,
        classification=_classification(clauses),
        status=("closed" if "closed" in status.group().lower() else "open") if status else None,
        description=_quoted(source, description),
        root_cause=root_cause,
        root_cause_category=category,
        capas=capas,
        impact_assessment=_quoted(source, _in_sections(clauses, _IMPACT_HEADING)[:3]),
        date_evidence=date_evidence,
    )
    reading.flags = weakness_flags(source, reading, clauses, capa_clauses)
    return reading
