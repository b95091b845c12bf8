"""The role of each date in an investigation report - occurred, detected, reported to the sponsor, closed -
from the words around it, as a reader would take it.

A date's role comes from its label when it has one ("Discovery date: 06.10.2025", a table row "Client
informed | 08.10.2025", a chronology row "15 December 2025 | Corvane informed") and otherwise from its
sentence: the role word nearest to the date ("was found on 5 March", "We notified Corvane Therapeutics on 7
November"). Reported needs a party: the sponsor by its portfolio name, "the client", "the sponsor" - an
analyst reporting to a supervisor is not a notification. A date that is a deadline ("due 30 April", "by 14
November") has no role. A role word whose sentence has no date ("detected at 23:35 the same evening")
takes the date of the sentence before it. A date in the event's description with no role word is when it
occurred; for a test result, when it was detected. The first date found for a role is kept: the first
notification is the one a reporting clock counts.
"""

import re
from dataclasses import dataclass
from datetime import date

from core.dates import DATE, parse_date
from core.evidence import Evidence
from core.investigations import EventDates
from extraction.source import Clause, SourceText

ROLES = ("occurred", "detected", "reported", "closed")
_ROLE_WORDS = {
    "occurred": r"occur\w*|happen\w*|took place|began|started|rose|dropped|stopped|failed|was issued|"
                r"(was|were) implemented|event date|date of (the )?(event|occurrence)|occurrence",
    "detected": r"detect\w*|discover\w*|found|identified|observed|noticed|acknowledged|obtained|result\b|discovery|"
                r"test(ing)? date|date (of )?(test|analysis)|tested|analy[sz]ed",
    "reported": r"notif\w*|inform\w*|reported to|told|e-?mailed|telephoned|called|escalated to|communicated|"
                r"advised",
    "closed": r"clos(ed|ure)|investigation was (completed|concluded)",
}  # fmt: skip
_WORDS = {"occurred": "when it occurred", "detected": "when it was detected",
          "reported": "when the sponsor was told", "closed": "when it was closed"}  # fmt: skip
_ROLE_RX = {role: re.compile(rf"\b({words})", re.I) for role, words in _ROLE_WORDS.items()}
_PARTIES = r"client|sponsor|customer|contract giver|marketing authori[sz]ation holder|application holder"
_DEADLINE = re.compile(r"\b(due|by|until|before|no later than|planned( for)?|scheduled( for)?|target|expir\w*)\s*[:(]?\s*$", re.I)
_SAME_DAY = re.compile(r"\bthe same (day|evening|night|morning|afternoon|shift)\b", re.I)
_RESULT = re.compile(r"\b(result|value|assay|test(ed|ing)?)\b", re.I)
# "Client notified: 14 October 2024", "Initial result: 95.8% (analyst A. Brennan, 7 October 2024)": the last
# label before the date, within reach and with no other date between them, says what the date is.
_LABEL = re.compile(r"\b([A-Z][\w'/-]*(?: [\w'/-]+){0,3})\s*[:|]\s")
_LABEL_REACH = 60
_FUTURE = re.compile(r"\b(will|shall|is to be|are to be|is scheduled|are scheduled)\b", re.I)
_AFTER_DATE = 1.5  # a role word after the date counts as this much further: verbs mostly precede their dates


@dataclass
class DateRole:
    role: str
    value: date
    clause: Clause


def read_dates(
    source: SourceText, clauses: list[Clause], parties: list[str], description: set[int]
) -> tuple[EventDates, dict[str, Evidence], list[str]]:
    """The event's dates, the passage each was read from, and notes on what was not read or conflicts.
    `description`: the indexes of clauses that describe the event (its first section and description
    headings)."""
    party = re.compile(rf"\b({'|'.join([_PARTIES, *map(re.escape, parties)])})\b", re.I)
    test_report = source.document.kind.value == "oos_investigation"
    found: dict[str, DateRole] = {}
    others: dict[str, list[date]] = {}  # later, different dates for a role already read: a conflict to report
    last_date: date | None = None
    for index, clause in enumerate(clauses):
        dates = [(m, d) for m in DATE.finditer(clause.text) if (d := parse_date(m))]
        if not dates:
            if last_date and _SAME_DAY.search(clause.text):
                for role in _roles_in(clause.text, None, party):
                    found.setdefault(role, DateRole(role, last_date, clause))
            continue
        for match, value in dates:
            if _DEADLINE.search(clause.text[: match.start()][-30:]):
                continue
            context, how = _label_of(clause, match)
            roles = _roles_in(context, None if how == "label" else match.start(), party)
            if not roles and index in description and how == "sentence" and not _FUTURE.search(clause.text):
                roles = ["detected"] if test_report or _RESULT.search(clause.text) else ["occurred"]
            for role in roles[:1]:
                if role in found and found[role].value != value:
                    others.setdefault(role, []).append(value)
                found.setdefault(role, DateRole(role, value, clause))
        last_date = dates[-1][1]
    values = EventDates(**{role: r.value for role, r in found.items()})
    evidence = {role: source.clause_evidence(r.clause) for role, r in found.items()}
    notes = [
        f"{_WORDS[role]}: {found[role].value:%d %B %Y} is used; the report also gives "
        f"{', '.join(f'{d:%d %B %Y}' for d in dict.fromkeys(dates))} for it"
        for role, dates in others.items()
    ] + [f"{_WORDS[role]}: no date found" for role in ROLES if role not in found]
    return values, evidence, notes


def _label_of(clause: Clause, match: re.Match) -> tuple[str, str]:
    """The words that say what a date is: a table row's other cells, the last words before "Label: date",
    else the sentence itself."""
    if clause.cells:
        others = [c for c in clause.cells if not DATE.search(c)]
        return " ".join(others), "label"
    before = clause.text[: match.start()]
    window = before[-_LABEL_REACH:]
    labels = [m for m in _LABEL.finditer(window) if not DATE.search(window[m.end() :])]
    if labels:
        return labels[-1].group(1), "label"
    return clause.text, "sentence"


def _roles_in(text: str, at: int | None, party: re.Pattern) -> list[str]:
    """Roles the text's words give, nearest to position `at` first (all at equal rank when None)."""
    hits = []
    for role, rx in _ROLE_RX.items():
        for m in rx.finditer(text):
            if role == "reported" and not party.search(text):
                continue
            distance = 0 if at is None else (at - m.end() if m.end() <= at else (m.start() - at) * _AFTER_DATE)
            hits.append((distance, ROLES.index(role), role))
    return list(dict.fromkeys(role for _, _, role in sorted(hits)))
