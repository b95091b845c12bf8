"""Sites, programs, products, batch and document IDs, and dates found in a document's text."""

import re
from datetime import date

from dateutil import parser as dateparser

from core.documents import DocumentKind, DocumentMetadata, FileType, ParsedDocument
from core.identifiers import DOCUMENT_ID, batch_ids, record_ids, title_record_ids, unique
from core.portfolio import Portfolio
from ingestion.classify import OWN_PREFIXES

_MONTHS = r"(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Sept|Oct|Nov|Dec)[a-z]*\.?"
_DATE = re.compile(  # lines may wrap inside a date, so any white space separates its parts
    rf"\b(\d{{4}}-\d{{2}}-\d{{2}}|\d{{1,2}}[\s-]+{_MONTHS}[\s,-]+\d{{4}}|{_MONTHS}\s+\d{{1,2}},?\s+\d{{4}})\b", re.I
)
_LABELLED_DATE = re.compile(
    r"\b(?:date|dated|effective date|report date|date of (?:report|issue|meeting)|meeting date|issued|"
    r"sent)\s*[:\-]?\s*(?:[A-Za-z]{3},\s*)?",
    re.I,
)
def extract_metadata(parsed: ParsedDocument, portfolio: Portfolio) -> DocumentMetadata:
    full = parsed.title + "\n" + "\n".join(p.text for p in parsed.pages)
    dates = _dates(full)
    named = {i.upper() for i in [*(s.id for s in portfolio.sites), *(p.id for p in portfolio.programs)]}
    batches = [b for b in batch_ids(full, portfolio.all_batch_patterns) if b.upper() not in named]
    records = unique([*record_ids(full, portfolio.all_record_prefixes), *title_record_ids(parsed.title)])
    records = [r for r in records if r.upper() not in named and r not in batches]
    return DocumentMetadata(
        sites=portfolio.site_ids_in(full),
        programs=portfolio.program_ids_in(full),
        products=portfolio.products_in(full),
        batch_ids=batches,
        document_ids=records,
        dates=dates,
        document_date=_document_date(parsed) or (dates[0] if dates else None),
    )


def document_key(parsed: ParsedDocument, kind: DocumentKind, metadata: DocumentMetadata, content_hash: str) -> str:
    """What stays the same across revisions: the record number the document gives itself, else its title.

    A batch record is known by its batch; minutes by their title and date, since the record numbers
    they mention belong to other documents; so are documents of no analysed kind, whose titles are often
    generic. An e-mail is never a new version of anything: a covering
    message titled "NC-2024-0127 report attached" must not supersede the report it carries.
    """
    if parsed.file_type in (FileType.EML, FileType.MSG):
        return f"email:{content_hash}"  # each message is its own document, even one whose text repeats another's
    if kind == DocumentKind.BATCH_RECORD and metadata.batch_ids:
        return f"{kind.value}:{metadata.batch_ids[0]}"
    head = parsed.title + "\n" + (parsed.pages[0].text[:600] if parsed.pages else "")
    own = [i for i in DOCUMENT_ID.findall(head) if i.split("-")[0] in OWN_PREFIXES.get(kind, ())]
    own = own or [i for i in metadata.document_ids if i in parsed.title]
    if own:
        return f"{kind.value}:{own[0]}"
    title = re.sub(r"\b(rev(ision)?|version|v)\.?\s*[\d.]+\b", "", parsed.title, flags=re.I)
    title = re.sub(r"\W+", " ", title).strip().lower()
    # minutes, and documents of no analysed kind (letters titled "WARNING LETTER"), share titles across dates
    dated = kind in (DocumentKind.MEETING_MINUTES, DocumentKind.OTHER) and metadata.document_date
    suffix = f"@{metadata.document_date}" if dated else ""
    return f"{kind.value}:{title[:200]}{suffix}"  # bounded: the column holds 255 characters


def _dates(text: str) -> list[date]:
    found = []
    for m in _DATE.finditer(text):
        parsed = _parse_date(m.group(1))
        if parsed:
            found.append(parsed)
    return sorted(set(found))


def _document_date(parsed: ParsedDocument) -> date | None:
    head = parsed.pages[0].text[:2500] if parsed.pages else ""
    for m in _LABELLED_DATE.finditer(head):
        d = _DATE.match(head, m.end())
        if d and (value := _parse_date(d.group(1))):
            return value
    return None


def _parse_date(text: str) -> date | None:
    try:
        value = dateparser.parse(" ".join(text.split()), dayfirst=True, fuzzy=False).date()
    except (ValueError, OverflowError):
        return None
    return value if 1990 <= value.year <= 2100 else None

