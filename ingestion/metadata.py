"""Sites, programs, products, batch and document IDs, and dates found in a document's text."""

import re
from datetime import date

from core.dates import DATE, all_dates, parse_date
from core.documents import DocumentKind, DocumentMetadata, FileType, ParsedDocument
from core.identifiers import DOCUMENT_ID, batch_ids, record_ids, title_record_ids, unique
from core.portfolio import Portfolio
from ingestion.classify import OWN_PREFIXES

# A date that says when the document itself was made: under a label, unless the word before it dates something
# else ("Retest date", "Due date"); else a date in the title; else one on a line of its own near the top, as
# letters carry it.
_LABELLED_DATE = re.compile(
    r"\b(?:date|dated|effective date|report date|date of (?:report|issue|meeting)|meeting date|issued|sent)"
    r"\s*[:\-]?\s*(?:[A-Za-z]{3},\s*)?",
    re.I,
)
_OTHER_DATES = re.compile(
    r"\b(retest|re-test|expiry|expiration|manufactur\w*|due|target|event|closure|discovery|test|review|start|end)\s*$",
    re.I,
)
_ALONE = 12  # lines from the top where a date standing alone is the document's


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
    if metadata.agreement and metadata.agreement.amends:  # an amendment is a document of its own, linked to its agreement
        return f"{kind.value}:{_title_key(parsed.title)[:180]}~{content_hash[:12]}"
    head = parsed.title + "\n" + (parsed.pages[0].text[:600] if parsed.pages else "")
    own = [i for i in DOCUMENT_ID.findall(head) if i.split("-")[0] in OWN_PREFIXES.get(kind, ())]
    own = own or [i for i in metadata.document_ids if i in parsed.title]
    if own:
        return f"{kind.value}:{own[0]}"
    title = _title_key(parsed.title)
    # minutes, regulators' letters and 483s ("WARNING LETTER", "Form FDA 483") and documents of no analysed kind
    # share titles across dates
    dated = kind in (DocumentKind.MEETING_MINUTES, DocumentKind.OTHER, DocumentKind.REGULATORY_LETTER,
                     DocumentKind.INSPECTION_OBSERVATIONS) and metadata.document_date  # fmt: skip
    suffix = f"@{metadata.document_date}" if dated else ""
    return f"{kind.value}:{title[:200]}{suffix}"  # bounded: the column holds 255 characters


def _title_key(title: str) -> str:
    title = re.sub(r"\b(rev(ision)?|version|v)\.?\s*[\d.]+\b", "", title, flags=re.I)
    return re.sub(r"\W+", " ", title).strip().lower()


def _dates(text: str) -> list[date]:
    return sorted(d for d in all_dates(text) if _plausible(d))


def _document_date(parsed: ParsedDocument) -> date | None:
    head = parsed.pages[0].text[:2500] if parsed.pages else ""
    for m in _LABELLED_DATE.finditer(head):
        d = DATE.match(head, m.end())
        if d and not _OTHER_DATES.search(head[max(0, m.start() - 20) : m.start()]):
            if value := _plausible(parse_date(d)):
                return value
    in_title = DATE.search(parsed.title)  # "Joint Quality Committee - 14 May 2025"
    if in_title and (value := _plausible(parse_date(in_title))):
        return value
    for line in head.split("\n")[:_ALONE]:
        alone = DATE.fullmatch(line.strip().rstrip("."))
        if alone and (value := _plausible(parse_date(alone))):
            return value
    return None


def _plausible(value: date | None) -> date | None:
    return value if value and 1990 <= value.year <= 2100 else None
