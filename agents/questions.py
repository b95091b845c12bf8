"""Reading a question: what it asks for (a list, a count, overdue CAPAs, QTA gaps, or free text) and about what.

Site and program come from the portfolio's names and aliases, or from a role ("the DS site", "the fill-finish
site", "the testing lab"); record and batch numbers from their patterns. A follow-up ("and at the DP site?")
that names no request of its own takes the previous question's and changes only what it names.
"""

import re
from enum import StrEnum

from pydantic import BaseModel, Field

from core.chat import ChatScope
from core.identifiers import DOCUMENT_ID, identifiers_in, record_ids
from core.investigations import Classification, EventType, FlagCode
from core.portfolio import Portfolio, SiteRole
from core.search import SearchFilters


class Intent(StrEnum):
    EVENTS = "events"  # which deviations / OOS / changes ...
    COUNT = "count"  # how many ...
    CAPAS_DUE = "capas_due"  # CAPAs past due
    CAPAS = "capas"  # the CAPAs of the events asked about: what, who, when, and whether past due
    QTA_GAPS = "qta_gaps"  # what the site's quality agreement lacks
    QTA_TERMS = "qta_terms"  # what the agreement says on a duty: notification time, audit frequency, who releases
    OBSERVATIONS = "observations"  # what inspectors, regulators or auditors found (483s, letters, audit reports)
    FREE = "free"  # anything else: answered from passages


class QuestionFrame(BaseModel):
    text: str = Field(description="The question as asked, or the previous one's text for a follow-up")
    intent: Intent
    sites: list[str] = Field(default_factory=list)
    programs: list[str] = Field(default_factory=list)
    batches: list[str] = Field(default_factory=list)
    records: list[str] = Field(default_factory=list)
    event_types: list[EventType] = Field(default_factory=list)
    open_only: bool = False
    closed_only: bool = False
    classifications: list[Classification] = Field(default_factory=list)
    flags: list[FlagCode] = Field(default_factory=list)
    categories: list[str] = Field(default_factory=list, description="Observation categories the question names")
    high_risk: bool = False
    follow_up: bool = False

    def search_filters(self) -> SearchFilters:
        """Passage-search filters: a site or program only when the question names exactly one."""
        return SearchFilters(
            site=self.sites[0] if len(self.sites) == 1 else None,
            program=self.programs[0] if len(self.programs) == 1 else None,
        )

    def scope_words(self) -> str:
        parts = self.sites + self.programs + [f"batch {b}" for b in self.batches] + self.records
        return ", ".join(parts) if parts else "the whole corpus"


_ROLES = {
    SiteRole.DRUG_SUBSTANCE: r"\b(ds|drug[- ]substance|api|upstream|bulk)\s+(site|cdmo|manufacturer|partner)\b",
    SiteRole.DRUG_PRODUCT: r"\b(dp|drug[- ]product|fill[- ]?(and|&)?[- ]?finish|fill)\s+(site|cdmo|manufacturer|partner)\b",
    SiteRole.TESTING: r"\b(testing|qc|contract|analytical)\s+(lab|laboratory|site)\b|\btesting site\b",
}
_TYPES = {
    EventType.OOS: r"\boos\b|out[- ]of[- ]specification",
    EventType.OOT: r"\boot\b|out[- ]of[- ]trend",
    EventType.CHANGE: r"\bchange(s| notifications?| controls?| requests?)?\b",
    EventType.DEVIATION: r"\bdeviations?\b|\bnon-?conformances?\b|\bincidents?\b",
    EventType.EQUIPMENT: r"\bequipment (failures?|events?|deviations?)\b|\bbreakdowns?\b",
    EventType.COMPLAINT: r"\bcomplaints?\b",
}
_FLAGS = {
    FlagCode.NOTIFIED_LATE: r"notif\w* late|late notif\w*|notification window|outside (the|its) (qta )?(notification )?"
    r"window|inside (the|its) (qta )?(notification )?window|notified (too )?late|\bon time\b",
    FlagCode.CLOSED_LATE: r"closed late|late clos\w*|closure (was )?late|overdue clos\w*",
    FlagCode.HUMAN_ERROR_WITHOUT_EVIDENCE: r"human[- ]error",
    FlagCode.RETRAINING_ONLY_CAPA: r"retrain\w*",
    FlagCode.NO_EFFECTIVENESS_CHECK: r"effectiveness check",
    FlagCode.OOS_INVALIDATED_WITHOUT_ASSIGNABLE_CAUSE: r"invalidat\w*",
    FlagCode.IMPACT_LIMITED_TO_ONE_BATCH: r"other batches|one batch|impact assessment",
    FlagCode.PROBABLE_CAUSE_WITHOUT_DATA: r"probable cause|without data",
}
_EVENT_NOUN = r"\b(deviations?|events?|investigations?|oos|results?|changes?|non-?conformances?|incidents?|records?)\b"
_LIST = re.compile(r"^\s*(which|what|list|show|are there|any|give|find)\b|\bwhich\b|\blist\b", re.IGNORECASE)
_FOLLOW_UP = re.compile(r"^\s*(and|what about|how about|same|also|now)\b|^\s*(at|for|in) (the )?\w", re.IGNORECASE)


def read_question(text: str, portfolio: Portfolio, scope: ChatScope, previous: QuestionFrame | None) -> QuestionFrame:
    lowered = text.lower()
    frame = QuestionFrame(
        text=text,
        intent=_intent(lowered),
        sites=_sites(text, portfolio),
        programs=portfolio.program_ids_in(text),
        records=record_ids(text),  # any numbering a report gives itself: QE-2025-00519, OOS/MBA/25/014
        event_types=[t for t, p in _TYPES.items() if re.search(p, lowered)],
        open_only=bool(re.search(r"\b(open|ongoing|unresolved|not (yet )?closed|still open)\b", lowered)),
        closed_only=bool(re.search(r"\bclosed\b", lowered) and not re.search(r"closed late|not (yet )?closed", lowered)),
        classifications=[c for c in Classification if re.search(rf"\b{c.value}\b", lowered)],
        flags=[f for f, p in _FLAGS.items() if re.search(p, lowered)],
        categories=[c for c, p in _CATEGORIES.items() if re.search(p, lowered)],
        high_risk=bool(re.search(r"\bhigh[- ]risk\b|\brisk (is )?high\b", lowered)),
    )
    frame.batches = [b for b in identifiers_in(text) if b not in frame.records and not DOCUMENT_ID.fullmatch(b)]
    if frame.intent == Intent.FREE and (frame.batches or frame.records) and _ABOUT.search(lowered):
        frame.intent = Intent.EVENTS  # "what happened with batch 24-017?": the events that carry it
    if frame.intent == Intent.QTA_TERMS and not (_AGREEMENT.search(lowered) or frame.sites):
        frame.intent = Intent.FREE  # "must" with no agreement and no party named: not a question about terms
    if frame.intent == Intent.FREE and frame.flags and re.search(_EVENT_NOUN, lowered):
        frame.intent = Intent.EVENTS
    if previous is not None and _is_follow_up(text, frame):
        frame = _carry(previous, frame)
    # the panel's pick narrows what the question did not name
    if scope.site and not frame.sites:
        frame.sites = [scope.site]
    if scope.program and not frame.programs:
        frame.programs = [scope.program]
    return frame


_ABOUT = re.compile(
    r"\b(what happened|status|tell me about|summar\w*|what do we know|update on|overview|going on|when (was|were|did))\b"
)
# a question about what an agreement obliges: it names the agreement, or asks what a party must or may do
_AGREEMENT = re.compile(r"\b(qta|agreements?)\b")
_MUST = re.compile(r"\b(must|shall|may|required|obliged|have to|has to)\b")
_WHO_DOES = re.compile(r"\bwho (releases|approves|certifies|is responsible|decides)\b")
_MODAL = re.compile(r"\b(must|shall|may|required|allowed|obliged|have to|has to|how (quickly|soon|often|long))\b")
_DUTY = re.compile(r"\b(notif\w*|inform\w*|audit\w*|inspect\w*|releas\w*|retain\w*|kept|keep|archiv\w*|approv\w*|"
                   r"escalat\w*|subcontract\w*|review\w*|report\w*|notice|conclude|complete|close|provide|send)\b")


# what a question about inspection findings names, by category of prompts/observation_categories.yaml
_CATEGORIES = {
    "data_integrity": r"\bdata[- ]integrity\b|\baudit trails?\b",
    "quality_unit_oversight": r"\bquality (control )?unit\b|\bqu oversight\b",
    "aseptic_practice": r"\baseptic\b|\bsteril(e|ity)\b",
    "laboratory_controls": r"\blab(oratory)? controls?\b|\btest methods?\b|\bstability program\b",
    "investigation_root_cause": r"\broot[- ]causes?\b|\binvestigations?\b",
    "oos_invalidation": r"\binvalidat\w+\b",
    "capa_inadequate": r"\bcapas?\b|\bcorrective actions?\b",
    "change_control": r"\bchange control\b",
    "equipment_facilities": r"\bequipment\b|\bfacilit(y|ies)\b|\bcleaning\b",
    "contractor_oversight": r"\b(contractor|supplier|contract lab\w*)\b",
    "process_controls": r"\bprocess validation\b",
    "training": r"\btraining\b",
}
# who finds: a regulator or an auditor; and what they did: found, observed, cited
_FINDER = re.compile(r"\b(fda|mhra|ema|regulators?|inspectors?|inspections?|auditors?|483s?|warning letters?|"
                     r"untitled letters?|agency|authorit(y|ies))\b")
_FOUND = re.compile(r"\b(find|found|findings?|observ\w*|cite[ds]?|citations?|483s?|warning letters?)\b")


def _intent(lowered: str) -> Intent:
    if re.search(r"\bcapas?\b", lowered) and re.search(r"overdue|past due|past their due|late|due\b", lowered):
        return Intent.CAPAS_DUE
    if re.search(r"\bcapas\b|\bcorrective actions\b", lowered) and re.search(
        r"\b(summar\w*|list|which|what are|show|open)\b", lowered
    ) or re.search(r"\bwhat (capa|corrective action)s? (was|were)\b", lowered):
        return Intent.CAPAS
    if _FOUND.search(lowered) and (_FINDER.search(lowered) or re.search(r"\bwhich (partners|sites|cdmos)\b.*\bfindings?\b", lowered)):
        return Intent.OBSERVATIONS  # "what did FDA find at Northgate?", "which partners had data-integrity findings?"
    if re.search(r"\b(qta|quality (technical )?agreement)\b", lowered) and re.search(
        r"\bgaps?\b|\bmissing\b|\blacks?\b|\bvague\b|\bconflict\w*|\bweak(nesses)?\b", lowered
    ):
        return Intent.QTA_GAPS
    duty = _MODAL.search(lowered) and _DUTY.search(lowered)
    asks_for_events = _LIST.search(lowered) and re.search(_EVENT_NOUN, lowered) and not _AGREEMENT.search(lowered)
    if _AGREEMENT.search(lowered) or _WHO_DOES.search(lowered) or (duty and not (asks_for_events and not _MUST.search(lowered))):
        return Intent.QTA_TERMS
    if re.search(r"\bhow many\b|\bnumber of\b|\bcount\b", lowered) and re.search(_EVENT_NOUN, lowered):
        return Intent.COUNT
    if _LIST.search(lowered) and re.search(_EVENT_NOUN, lowered) and re.search(r"s\b", lowered):
        plural = re.search(r"\b(deviations|events|investigations|oos results|changes|non-?conformances|incidents)\b"
                           r"|\bany (open )?(oos|deviation|change)", lowered)
        if plural:
            return Intent.EVENTS
    return Intent.FREE


def _sites(text: str, portfolio: Portfolio) -> list[str]:
    found = portfolio.site_ids_in(text)
    for role, pattern in _ROLES.items():
        if re.search(pattern, text, re.IGNORECASE):
            found += [s.id for s in portfolio.sites if role in s.roles and s.id not in found]
    return found


def _is_follow_up(text: str, frame: QuestionFrame) -> bool:
    names_something = frame.sites or frame.programs or frame.batches or frame.event_types
    own_request = frame.intent != Intent.FREE or frame.records or len(text.split()) > 8
    return bool(_FOLLOW_UP.search(text) and names_something and not own_request) or (
        frame.intent == Intent.FREE and len(text.split()) <= 5 and names_something and not frame.records
    )


def _carry(previous: QuestionFrame, new: QuestionFrame) -> QuestionFrame:
    """The previous question, with what the follow-up names put in place of what it had."""
    changes: dict = {"follow_up": True}
    for name in ("sites", "programs", "batches", "event_types", "classifications", "flags"):
        if getattr(new, name):
            changes[name] = getattr(new, name)
    if new.open_only or new.closed_only:
        changes |= {"open_only": new.open_only, "closed_only": new.closed_only}
    if new.sites and not new.batches:
        changes["batches"] = []  # a batch belongs to a site: asking about another site drops it
    return previous.model_copy(update=changes)
