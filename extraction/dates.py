"""Dates as CDMO reports write them: "2 September 2024", "September 2, 2024", "2024-09-02"."""

import re
from datetime import date, datetime

_MONTHS = "January|February|March|April|May|June|July|August|September|October|November|December"
DATE = re.compile(
    rf"\b(\d{{1,2}})\s+({_MONTHS})\s+(\d{{4}})\b|\b({_MONTHS})\s+(\d{{1,2}}),\s+(\d{{4}})\b|\b(\d{{4}})-(\d{{2}})-(\d{{2}})\b"
)


def parse_date(match: re.Match) -> date | None:
    g = match.groups()
    try:
        if g[0]:
            return datetime.strptime(f"{g[0]} {g[1]} {g[2]}", "%d %B %Y").date()
        if g[3]:
            return datetime.strptime(f"{g[4]} {g[3]} {g[5]}", "%d %B %Y").date()
        return date(int(g[6]), int(g[7]), int(g[8]))
    except ValueError:
        return None


def first_date(text: str) -> date | None:
    match = DATE.search(text)
    return parse_date(match) if match else None


def all_dates(text: str) -> set[date]:
    return {d for m in DATE.finditer(text) if (d := parse_date(m))}
