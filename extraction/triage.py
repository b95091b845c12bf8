"""Investigation triage: a backend's reading of the report, checked against the site's quality agreement,
then scored by the rules of REFERENCE.md (risk and response, reporting clocks, CTD sections)."""

from core.evidence import GroundingReport
from core.investigations import (
    Classification,
    EventReading,
    EventType,
    Flag,
    FlagCode,
    InvestigationEvent,
)
from core.portfolio import Portfolio
from extraction.obligations import Obligation, limit_for, obligations
from extraction.regulatory import ctd_sections, reporting_clocks, risk
from extraction.source import SourceText
from extraction.timelimits import elapsed


def _event_class(reading: EventReading) -> str:
    if reading.type in (EventType.OOS, EventType.OOT):
        return "oos"
    return f"{(reading.classification or Classification.MAJOR).value} deviation"


def _late(
    reading: EventReading, agreement: SourceText, duties: list[Obligation], duty: str, end_field: str
) -> Flag | None:
    start = reading.dates.detected or reading.dates.occurred
    end = getattr(reading.dates, end_field)
    limits = limit_for(duties, _event_class(reading), duty)
    if not (start and end and limits):
        return None
    strictest = limits[0]
    taken = elapsed(start, end, strictest.limit)
    if taken <= strictest.limit.value:
        return None
    others = sorted({str(o.limit) for o in limits[1:] if o.limit.key != strictest.limit.key})
    conflict = f" (the agreement also says {', '.join(others)}; the stricter limit applies)" if others else ""
    what = "notified to the sponsor" if duty == "notify" else "closed"
    unit = (
        f"{strictest.limit.kind} {strictest.limit.unit}s"
        if strictest.limit.unit == "day"
        else f"{strictest.limit.unit}s"
    )
    reason = (
        f"{what.capitalize()} {taken:g} {unit} after {'detection' if reading.dates.detected else 'the event'}; "
        f"the quality agreement allows {strictest.limit}{conflict}."
    )
    # the report's date the clock stops at, the agreement's limit, then the date it starts from
    start_field = "detected" if reading.dates.detected else "occurred"
    own = [reading.date_evidence[end_field]] if end_field in reading.date_evidence else []
    since = [reading.date_evidence[start_field]] if start_field in reading.date_evidence else []
    evidence = own + [agreement.clause_evidence(o.clause) for o in limits[:2]] + since
    code = FlagCode.NOTIFIED_LATE if duty == "notify" else FlagCode.CLOSED_LATE
    return Flag(code=code, reason=reason, evidence=evidence)


def timeliness_flags(reading: EventReading, agreement: SourceText | None) -> list[Flag]:
    """Notified late / closed late, against the limits of the site's quality agreement."""
    if agreement is None:
        return []
    duties = obligations(agreement)
    flags = [
        _late(reading, agreement, duties, "notify", "reported"),
        _late(reading, agreement, duties, "complete", "closed"),
    ]
    return [f for f in flags if f]


def assemble(
    source: SourceText,
    reading: EventReading,
    agreement: SourceText | None,
    portfolio: Portfolio,
    backend: str,
    grounding: GroundingReport | None = None,
) -> InvestigationEvent:
    reading = reading.model_copy(update={"flags": reading.flags + timeliness_flags(reading, agreement)})
    text = "\n".join(c.text for c in source.readable)
    level, response, reason = risk(reading, text)
    return InvestigationEvent(
        **reading.model_dump(),
        document_id=source.id,
        filename=source.document.filename,
        title=source.document.title,
        risk=level,
        sponsor_response=response,
        risk_reason=reason,
        reporting_clocks=reporting_clocks(reading, level, portfolio, text),
        ctd_sections=ctd_sections(reading, portfolio, text),
        hostile_text=[source.clause_evidence(c) for c in source.hostile],
        backend=backend,
        grounding=grounding or GroundingReport(),
    )
