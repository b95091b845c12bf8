"""Dates as CDMO reports write them: "2 September 2024", "September 2, 2024", "2 Sept. 2024", "12-Mar-2025",
"2024-09-02",
and the numeric forms of European and American forms: "06.10.2025", "14/07/2025", "07/14/2025".

A numeric date with "." or "/" is read day first, as European reports write it, unless its second number
cannot be a month (07/14/2025): then month first. An ambiguous one (03/04/2025) is read day first.
"""

import re
from datetime import UTC, date, datetime

_MONTHS = {
    "jan": 1, "feb": 2, "mar": 3, "apr": 4, "may": 5, "jun": 6, "jul": 7, "aug": 8, "sep": 9, "oct": 10, "nov": 11,
    "dec": 12,
}  # fmt: skip
_MONTH = (
    r"(?:January|February|March|April|May|June|July|August|September|October|November|December|"
    r"Jan|Feb|Mar|Apr|Jun|Jul|Aug|Sept|Sep|Oct|Nov|Dec)\.?"
)
DATE = re.compile(
    rf"\b(?P<d1>\d{{1,2}})[\s-]+(?P<m1>{_MONTH})[\s,-]+(?P<y1>\d{{4}})\b"
    rf"|\b(?P<m2>{_MONTH})\s+(?P<d2>\d{{1,2}}),?\s+(?P<y2>\d{{4}})\b"
    r"|\b(?P<y3>\d{4})-(?P<m3>\d{2})-(?P<d3>\d{2})\b"
    r"|\b(?P<a4>\d{1,2})(?P<s4>[./])(?P<b4>\d{1,2})(?P=s4)(?P<y4>\d{4})\b"
)


def parse_date(match: re.Match) -> date | None:
    g = match.groupdict()
    try:
        if g["d1"]:
            return date(int(g["y1"]), _MONTHS[g["m1"][:3].lower()], int(g["d1"]))
        if g["m2"]:
            return date(int(g["y2"]), _MONTHS[g["m2"][:3].lower()], int(g["d2"]))
        if g["y3"]:
            return date(int(g["y3"]), int(g["m3"]), int(g["d3"]))
        first, second, year = int(g["a4"]), int(g["b4"]), int(g["y4"])
        day, month = (second, first) if second > 12 else (first, second)
        return date(year, month, day)
    except ValueError:
        return None


def first_date(text: str) -> date | None:
    match = DATE.search(text)
    return parse_date(match) if match else None


def all_dates(text: str) -> set[date]:
    return {d for m in DATE.finditer(text) if (d := parse_date(m))}


def shown(moment: date | datetime) -> str:
    """The one way the product writes a day or a moment: "2024-11-25", "2024-11-25 06:00 UTC"."""
    if isinstance(moment, datetime):
        return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC") if moment.tzinfo else moment.strftime("%Y-%m-%d %H:%M")
    return moment.isoformat()
