"""Action items agreed in meeting minutes, with owner and due date, and which of them are past due.

Minutes list them under an "Actions" or "Action items" heading, one per line, as "what - owner - date"
(e-mail and Word minutes alike) or as table rows "what | owner | date". An item whose date has passed is
overdue: the corpus holds no record of it being done, so it is shown for a human to confirm.
"""

import re
from datetime import date, datetime

from pydantic import BaseModel

from core.documents import DocumentKind
from core.evidence import Evidence
from core.portfolio import Portfolio
from core.store import RecordStore

_HEADING = re.compile(r"^\s*(#+\s*)?(\d+\.\s*)?(action items|actions|action points)\s*:?\s*$", re.IGNORECASE)
_TABLE_HEADER = re.compile(r"^\s*action\s*\|\s*owner", re.IGNORECASE)
_ITEM = re.compile(
    r"^\s*[-*\u2022]?\s*(?P<action>\S.+?)\s+[-|\u2013]\s+(?P<owner>[^|\u2013]+?)\s+[-|\u2013]\s+"
    r"(?P<due>\d{1,2} (?:January|February|March|April|May|June|July|August|September|October|November|December) \d{4})"
)


class ActionItem(BaseModel):
    action: str
    owner: str
    due: date
    site: str | None
    programs: list[str]
    document_id: str
    filename: str
    evidence: Evidence


def action_items(store: RecordStore, portfolio: Portfolio) -> list[ActionItem]:
    items = []
    for doc in store.list_documents(kind=DocumentKind.MEETING_MINUTES):
        home = doc.metadata.sites[0] if doc.metadata.sites else None
        for page in store.pages(doc.id):
            listing, offset = False, 0
            for line in page.text.splitlines(keepends=True):
                start, offset = offset, offset + len(line)
                if _HEADING.match(line):
                    listing = True
                    continue
                match = _ITEM.match(line) if listing else None
                if match is None:
                    if line.strip() and not _TABLE_HEADER.match(line):
                        listing = False  # the list has ended (blank lines and a table's header do not end it)
                    continue
                text = line.rstrip("\r\n")
                quote = Evidence(document_id=doc.id, page=page.number, start=start, end=start + len(text), quote=text)
                action = match["action"]
                named = portfolio.site_ids_in(action)
                items.append(
                    ActionItem(
                        action=action,
                        owner=match["owner"].strip(),
                        due=datetime.strptime(match["due"], "%d %B %Y").date(),
                        site=named[0] if named else home,
                        programs=doc.metadata.programs,
                        document_id=doc.id,
                        filename=doc.filename,
                        evidence=quote,
                    )
                )
    return sorted(items, key=lambda i: (i.due, i.filename, i.action))


def overdue(items: list[ActionItem], today: date) -> list[ActionItem]:
    return [i for i in items if i.due < today]
