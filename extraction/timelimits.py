"""Time limits in agreement and report text: "within 2 business days", "24 hours", "monthly".

A duty with a time limit is specific; one without ("promptly", "as soon as practicable") is vague; two
clauses that give the same duty different limits conflict.
"""

import re
from dataclasses import dataclass
from datetime import date

import numpy as np

_WORD_NUMBERS = {
    "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8, "nine": 9, "ten": 10,
    "twelve": 12, "fourteen": 14, "fifteen": 15, "twenty": 20, "thirty": 30, "sixty": 60, "ninety": 90,
}  # fmt: skip
_NUMBER = r"(\d+|" + "|".join(_WORD_NUMBERS) + r")"
DURATION = re.compile(
    rf"\b{_NUMBER}(?:\s*\(\d+\))?[\s-]+(business|working|calendar)?\s*(hour|day|week|month|year)s?\b(?!\s*(?:old|of age))",
    re.IGNORECASE,
)
CADENCE = re.compile(
    r"\b(daily|weekly|monthly|quarterly|annual(?:ly)?|yearly|every\s+\w+\s+(?:days?|weeks?|months?|years?)"
    r"|once\s+(?:per|a|every)\s+(?:calendar\s+)?(?:year|month|quarter|week))\b",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class Duration:
    value: int
    unit: str  # hour, day, week, month, year
    kind: str = "calendar"  # calendar or business (working days count as business days)
    text: str = ""

    @property
    def key(self) -> tuple[float, str]:
        """Comparable size: business days are kept apart from calendar days."""
        days = {"hour": 1 / 24, "day": 1, "week": 7, "month": 30, "year": 365}[self.unit] * self.value
        return (days, self.kind if self.unit == "day" else "calendar")

    def __str__(self) -> str:
        return self.text or f"{self.value} {self.kind} {self.unit}s"


def durations(text: str) -> list[Duration]:
    out = []
    for m in DURATION.finditer(text):
        raw = m.group(1).lower()
        value = int(raw) if raw.isdigit() else _WORD_NUMBERS[raw]
        kind = "business" if (m.group(2) or "").lower() in ("business", "working") else "calendar"
        out.append(Duration(value, m.group(3).lower(), kind, " ".join(m.group().split())))
    return out


def has_time_limit(text: str) -> bool:
    return bool(DURATION.search(text) or CADENCE.search(text))


def elapsed(start: date, end: date, limit: Duration) -> float:
    """Time from start to end in the limit's own unit (business days skip weekends; no holiday calendar)."""
    if limit.unit == "day" and limit.kind == "business":
        return float(np.busday_count(start, end))
    days = (end - start).days
    return {"hour": days * 24, "day": days, "week": days / 7, "month": days / 30, "year": days / 365}[limit.unit]
