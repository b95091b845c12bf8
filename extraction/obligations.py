"""Duties with time limits read from an agreement: (event class, duty) -> limit, with the clause.

"Critical deviations shall be notified ... within 2 business days" gives (critical deviation, notify, 2
business days). Table rows read their duty from the header ("Notification to Sponsor"). A clause naming
several classes and as many limits pairs them in order; one limit applies to every class named.
"""

import re
from dataclasses import dataclass

from extraction.source import Clause, SourceText
from extraction.timelimits import Duration, durations

# Agreements call the events deviations, non-conformances or incidents: a class is one of them.
_EVENT = re.compile(r"\b(deviation|non-?conformanc|incident|quality event)", re.I)
_CLASSES = [
    ("critical deviation", re.compile(r"\bcritical\b", re.I), _EVENT),
    ("major deviation", re.compile(r"\bmajor\b", re.I), _EVENT),
    ("minor deviation", re.compile(r"\bminor\b", re.I), _EVENT),
    ("oos", re.compile(r"\bOOS\b|out[- ]of[- ]specification", re.I), None),
    ("inspection", re.compile(r"\binspections?\b", re.I), None),
    ("recall", re.compile(r"\brecalls?\b", re.I), None),
    ("complaint", re.compile(r"\bcomplaints?\b", re.I), None),
    ("change", re.compile(r"\bchanges?\b", re.I), None),
]
_CHANGE_CLASS = re.compile(r"\bclass\s+([A-Z0-9])\b|\b(supplier|major|moderate|minor)", re.I)
_DUTIES = [  # the first that matches names the duty: "investigation reports are completed" is completion
    ("escalate", re.compile(r"\bescalat", re.I)),
    ("complete", re.compile(r"\b(complet|clos(e|ed|ure)|conclu)", re.I)),
    ("notify", re.compile(r"\b(notif|inform|communicat|reported\b|reports? to\b|sent to)", re.I)),
    ("review", re.compile(r"\breview", re.I)),
]


@dataclass(frozen=True)
class Obligation:
    event_class: str | None  # None: a duty that names no class ("complete investigations within 30 days")
    duty: str
    limit: Duration
    clause: Clause


def _classes(text: str) -> list[tuple[int, str]]:
    found = []
    for name, pattern, context in _CLASSES:
        match = pattern.search(text)
        if match and (context is None or context.search(text)):
            found.append((match.start(), name))
    # "change" turns up in clauses about other events ("changes to the SOP"): it counts only on its own,
    # and then with its class ("Class B", "supplier"), since each class of change has its own limits
    if len(found) > 1:
        found = [f for f in found if f[1] != "change"]
    if [name for _, name in found] == ["change"]:
        qualifier = _CHANGE_CLASS.search(text)
        label = (qualifier.group(1) or qualifier.group(2)).lower() if qualifier else "any"
        found = [(found[0][0], f"change:{label}")]
    return sorted(found)


def _duty(text: str) -> str | None:
    return next((name for name, pattern in _DUTIES if pattern.search(text)), None)


def obligations(source: SourceText) -> list[Obligation]:
    out: list[Obligation] = []
    for clause in source.readable:
        limits = durations(clause.text)
        if not limits:
            continue
        duty = _duty(" ".join((*clause.table_header, clause.text)))
        if duty is None:
            continue
        classes = [name for _, name in _classes(clause.text)]
        if not classes and "investigation" in clause.text.lower() and duty == "complete":
            out.append(Obligation(None, duty, limits[0], clause))
        elif len(limits) == 1:
            out.extend(Obligation(c, duty, limits[0], clause) for c in classes)
        elif len(limits) == len(classes):
            out.extend(Obligation(c, duty, lim, clause) for c, lim in zip(classes, limits))
    return out


def limit_for(items: list[Obligation], event_class: str | None, duty: str) -> list[Obligation]:
    """Obligations for this class and duty, strictest first; class-less duties apply to every class."""
    matching = [o for o in items if o.duty == duty and o.event_class == event_class]
    matching = matching or [o for o in items if o.duty == duty and o.event_class is None]
    return sorted(matching, key=lambda o: o.limit.key[0])
