"""What an agreement says of itself: its name, its parties, its revision, the agreement it amends, its quality section.

Position defines meaning, with no list of agreement types: the name an agreement gives itself stands in its
title or opens its first sentence ("This Supply Agreement (the "Agreement") is made ... by and between A ...
and B"); its parties follow "between". A name that says quality (a quality, technical or GMP agreement) is a
quality agreement's; any other "... Agreement" or "... Contract" is a commercial one's. Filing labels above the
title ("EXHIBIT 10.1", "[Confidential Treatment Requested]", "Execution Version") are not names.

These are the identity a new version must share with the agreement it replaces (core.versions): the same
parties and a revision mark, or near-identical text; a generic title ("SUPPLY AGREEMENT") is never enough.
"""

import re
from typing import NamedTuple

from core.documents import AgreementIdentity, BlockKind, ParsedDocument, QualitySection
from core.versions import LEGAL_FORM, revision_mark
from ingestion.blocks import is_filing_label

_HEAD = 2500  # characters of the opening that name the agreement and its parties
_NAME_WORD = r"(?!THIS\b|This\b)[A-Z0-9#][\w&'’\-/]*"  # no full stop: a name does not run over a sentence's end
# a name: capitalised words (with "and", "of", "for" between them) ending in Agreement or Contract
_NAME = re.compile(
    rf"((?=[A-Z])(?:{_NAME_WORD},?[ \t]+(?:(?:and|of|for|on|to|the|&)[ \t]+)?){{0,9}}?(?:AGREEMENT|Agreement|CONTRACT|Contract))\b"
)
_INLINE_LABEL = re.compile(r"^\s*ex(hibit|h)?\.?\s*[\w.()-]{1,12}\s+(?=[A-Z])", re.I)  # "Exhibit 99.4 STRATEGIC ..."
_THIS_NAMED = re.compile(
    rf"\b(?:this|THIS|This)\s+[\"“]?((?:{_NAME_WORD},?\s+(?:(?:and|of|for|on|to|&)\s+)?){{1,9}}(?:AGREEMENT|Agreement|agreement|CONTRACT|Contract))\b"
)
_STAMP_WORDS = re.compile(r"^(?:(?:execution|conformed|final|form|of|copy|version|confidential|amended and restated)\s+)+", re.I)
# the point an unnamed "THIS AGREEMENT" or "(the "Agreement")" follows the name: "COOPERATION AGREEMENT This AGREEMENT"
_SELF_REFERENCE = re.compile(r"\s*(?:\(\s*(?:the|this)\s+[\"“]?agreement[\"”]?\s*\)|\bthis\s+agreement\b)", re.I)
# a quality agreement's name: "Quality Agreement", "Quality Technical Agreement", "Technical Agreement", "GMP
# Agreement" (not a "Technical Infrastructure Maintenance Agreement")
_QUALITY_NAME = re.compile(r"\b(quality|gmp|good manufacturing practices?)\b|\btechnical\s+(agreement|contract)\b", re.I)
# an opening that presents the document as an agreement: its parties, its recitals, "THIS AGREEMENT is made"
_AGREEMENT_OPENING = re.compile(r"\bby\s+and\s+(between|among)\b|^\s*whereas\b|\bthis\s+agreement\b|\bbetween\s*:", re.I | re.M)
_ORDINAL = r"(?:first|second|third|fourth|fifth|sixth|seventh|eighth|ninth|tenth)"
_AMENDMENT = re.compile(
    rf"\b(?P<mark>(?:{_ORDINAL}\s+)?(?:amendment|addendum|supplement|amending agreement)"
    r"(?:\s+(?:no\.?|n[°º]|number|#)?\s*[\dIVX]+)?)\s+"
    r"(?:to|of)\s+(?:the\s+|that\s+certain\s+)?(?P<amended>[^.\n]{3,120}?(?:agreement|contract))",
    re.I,
)
# "This Amendment is entered into ...", "AMENDMENT NO. 1" over a line, "This Exhibit ... is made a part of the Master
# Services Agreement": the document amends or adds to the agreement its opening names
_SELF_AMENDMENT = re.compile(
    rf"\b(?:this|THIS|This)\s+(?P<mark>(?:{_ORDINAL}\s+)?(?:amendment|addendum|supplement)(?:\s+(?:no\.?|n[°º]|#)?\s*\d+)?)\b"
    r"|^\s*(?P<title>(?:amendment|addendum|supplement)(?:\s+(?:no\.?|n[°º]|#)?\s*\d+)?)\s*$"
    r"|\b(?:this|This|THIS)\s+(?P<part>exhibit|schedule|statement of work)\b[^.]{0,120}\b(?:incorporated into|made a part of|forms? part of)",
    re.I | re.M,
)
_ADDENDUM_AFTER = re.compile(r"\b(?P<amended>[\w&' -]{3,80}?(?:agreement|contract))[\s_-]+(?P<mark>addendum|amendment)\b", re.I)
_BETWEEN = re.compile(r"\b(?:by\s+and\s+)?between\s*:?\s+", re.I)
_PARTY_END = re.compile(
    rf",(?!\s*{LEGAL_FORM}\b)|\(|;|\s+(?:a|an)\s+(?=[A-Z\w])|\s+(?:having|with|whose|located|organi[sz]ed|"
    r"incorporated\s+(?:in|under)|through|represented|acting|on behalf|dated|effective|hereinafter|herein)\b"
    r"|\s+and\s+(?=its\b)|\s+(?=\d)|\n\s*\n",
    re.I,
)
# "and" between the parties: before a capitalised name, not "and its Affiliates"
_SECOND_PARTY = re.compile(r"(?:\)|,|\s)\s*\band\b\s*:?\s+(?!its\b|their\b|each\b|the\s+other\b)(?-i:(?=[A-Z\"“]))", re.I)
_NEAR = 400  # characters after the first party within which the second is named
# a heading that names the product's quality, or (weaker) one of its parts, whose text then speaks of quality
_QUALITY_HEADING = re.compile(r"\b(quality|c?gmps?|good manufacturing practices?)\b", re.I)
_QUALITY_PART = re.compile(
    r"\b(specifications?|inspections?|testing|non-?conform\w*|certificates? of (analysis|conformance)|recalls?|"
    r"batch records?|acceptance and rejection|rejection)\b",
    re.I,
)
_QUALITY_WORDS = re.compile(
    r"\b(quality|c?gmps?|specifications?|certificates? of analysis|batch|lots?|non-?conform\w*|defect\w*|recall\w*|"
    r"adulterat\w*|complaints?|regulatory authorit\w*)\b",
    re.I,
)
# in text that runs its clauses together ("... its trademark rights. 6. QUALITY CONTROL Heritage shall ..."): a clause
# number after a sentence's end, then a short title
_RUN_IN = re.compile(
    r"(?<=[.;:!?)][ \t])[ \t]*(?P<num>\d{1,2}(?:\.\d{1,2}){0,3}\.?)[ \t]+(?P<title>(?:[A-Z][\w/&,'-]*[ \t]+(?:(?:of|and|or|for|to|the|in|on)[ \t]+)?){1,6})"
)
# a clause heading at the start of a line, run in with its text or alone: "7.1 Quality Control. The Supplier ...",
# "ARTICLE 5 - QUALITY ASSURANCE", "Section 9. Inspection"
_NUMBERED = re.compile(
    r"^[ \t]*(?P<num>(?:article|section|clause)\s+[\dIVXLC]+(?:\.\d+)*[.:]?|\d{1,2}(?:\.\d{1,2}){0,3}\.?)[ \t]*[-\u2013\u2014]?[ \t]*"
    r"(?P<title>[A-Z][^.:\n]{2,70}?)(?=[.:]|[ \t]*$|[ \t]{2,})",
    re.M | re.I,
)
_QUALITY_AGREEMENT_REFERENCE = re.compile(r"\bquality (technical |assurance )?agreement\b", re.I)


def read_agreement(parsed: ParsedDocument) -> AgreementIdentity:
    """The identity an agreement gives itself in its title and opening (every field empty where it says nothing)."""
    head = (parsed.pages[0].text if parsed.pages else "")[:_HEAD]
    lines = [line.strip() for line in f"{parsed.title}\n{head}".splitlines() if line.strip()]
    label_free = [line for line in lines if not is_filing_label(line)]
    opening = "\n".join(label_free)
    name = _name(label_free, opening)
    if name is None and not _AGREEMENT_OPENING.search(opening):
        return AgreementIdentity()  # not an agreement: a report that cites "the Quality Agreement" is not one
    mark, amended = _amendment(opening) if not says_quality(name) else (None, None)  # a QTA is an agreement of its own
    return AgreementIdentity(
        name=name,
        parties=parties(opening),
        amends=amended,
        amendment=mark,
        revision=revision_mark(f"{parsed.title}\n{opening[:600]}"),
    )


def _amendment(opening: str) -> tuple[str | None, str | None]:
    """(its own mark, the agreement it amends) when the document amends or adds to another agreement."""
    named = _AMENDMENT.search(opening[:800]) or _ADDENDUM_AFTER.search(opening[:300])
    if named:
        return _clean(named.group("mark")), _clean(named.group("amended"))
    self_named = _SELF_AMENDMENT.search(opening[:1000])
    if not self_named:
        return None, None
    mark = _clean(next(g for g in self_named.groups() if g))
    others = [m.group(1) for m in _NAME.finditer(opening[:1500]) if not re.match(r"(amendment|addendum|supplement)\b", m.group(1), re.I)]
    agreements = [n for n in others if len(n.split()) >= 2]
    return mark, _clean_name(agreements[0]) if agreements else None


def says_quality(name: str | None) -> bool:
    return bool(name and _QUALITY_NAME.search(name))


def _name(lines: list[str], opening: str) -> str | None:
    """The name a line of the opening starts with ("SUPPLY AGREEMENT", "Distributor Agreement between ..."), else
    the name in its "This ... Agreement"."""
    for line in lines[:10]:
        if (m := _NAME.match(_INLINE_LABEL.sub("", line))) and len(m.group(1).split()) >= 2:
            return _clean_name(m.group(1))
    this = _THIS_NAMED.search(opening)
    if this:
        return _clean_name(this.group(1))
    for reference in _SELF_REFERENCE.finditer(opening):
        before = [m for m in _NAME.finditer(opening, max(0, reference.start() - 200), reference.start())]
        if before and before[-1].end() == reference.start() and len(before[-1].group(1).split()) >= 2:
            return _clean_name(before[-1].group(1))
    return None


def parties(opening: str) -> list[str]:
    """The two parties named after "between" in an agreement's opening, as written (short of their addresses)."""
    found = _BETWEEN.search(opening)
    if not found:
        return []
    rest = " ".join(opening[found.end() : found.end() + 1200].split()).lstrip("●•·-* ")
    if re.match(r"(?-i:the|each|both|all|said|us|you|them)\b", rest):
        return []  # "between the parties below": no names here ("drkoop.com, inc." is one)
    separator = _SECOND_PARTY.search(rest, 0, _NEAR)
    first = _party(rest[: separator.start()] if separator else rest)
    if not first:
        return []
    separator = separator or _SECOND_PARTY.search(rest, len(first), len(first) + _NEAR)
    second = _party(rest[separator.end() :].lstrip("●•·-* ")) if separator else ""
    return [p for p in (first, second) if p]


def _party(text: str) -> str:
    end = _PARTY_END.search(text)
    name = text[: end.start()] if end else text[:80]
    name = name.strip(" :\"“”'").rstrip(",")
    return name if 2 <= len(name) <= 80 and name[:1].isalnum() and any(c.isalpha() for c in name) else ""


def quality_section(parsed: ParsedDocument) -> QualitySection | None:
    """The section of a commercial agreement that sets the product's quality obligations: from the first clause
    heading that names quality (or GMP), else one that names a part of it (specifications, inspection, testing,
    recalls) over text that speaks of quality, to the next heading of its rank."""
    headings = _clause_headings(parsed)
    strong = [h for h in headings if _QUALITY_HEADING.search(h.title) and _speaks_of_quality(parsed, h, 2)]
    weak = [h for h in headings if _QUALITY_PART.search(h.title) and _speaks_of_quality(parsed, h, 3)]
    for found in (strong, weak):
        if not found:
            continue
        heading = found[0]
        end = next((h for h in headings if (h.page, h.start) > (heading.page, heading.start) and h.rank <= heading.rank), None)
        end_page, end_at = (end.page, end.start) if end else (parsed.pages[-1].number, len(parsed.pages[-1].text))
        text = _between(parsed, heading.page, heading.start, end_page, end_at)
        return QualitySection(heading=heading.title, page=heading.page, start=heading.start, end_page=end_page,
                              end=end_at, refers_to_quality_agreement=bool(_QUALITY_AGREEMENT_REFERENCE.search(text)))  # fmt: skip
    return None


class _Heading(NamedTuple):
    page: int
    start: int
    title: str
    rank: tuple  # (lead word, depth): a heading ends the sections of its rank and below


def _clause_headings(parsed: ParsedDocument) -> list[_Heading]:
    """Numbered clause headings at line starts (run in with their text or alone), and unnumbered upper-case
    heading blocks, in reading order; a definition ("1.40 "Testing" means ...") is none."""
    found = []
    for page in parsed.pages:
        for m in _NUMBERED.finditer(page.text):
            title, number = " ".join(m.group("title").split()), m.group("num")
            quoted = page.text[max(m.start("title") - 1, 0) : m.start("title") + 1].strip()[:1] in ('"', "\u201c")
            after = page.text[m.end("title") : m.end("title") + 40]
            if quoted or re.search(r"\b(means|shall mean)\b", after) or re.match(r"[ \t.]*\d+[ \t]*(\n|$)", after):
                continue  # a definition, or a line of the table of contents
            if re.search(r"\s\d+$", title):
                continue  # "9. Quality 9": a line of the table of contents
            lead = re.match(r"[a-z]+", number.lower())
            depth = number.strip(" .:").count(".") if not lead else 0
            rank = (lead.group(0) if lead else "", depth)
            found.append(_Heading(page.number, m.start("num"), f"{number.strip()} {title}", rank))
        for m in _RUN_IN.finditer(page.text):
            number, title = m.group("num"), " ".join(m.group("title").split())
            found.append(_Heading(page.number, m.start("num"), f"{number} {title}", ("", number.strip(" .").count("."))))
    for block in parsed.blocks:
        line = block.text.strip().split("\n")[0]
        if block.kind == BlockKind.HEADING and line.isupper() and not _NUMBERED.match(line):
            found.append(_Heading(block.page, block.start, line, ("", 0)))
    return sorted(set(found), key=lambda h: (h.page, h.start))


def _speaks_of_quality(parsed: ParsedDocument, heading: _Heading, words: int) -> bool:
    """Whether the text under a heading speaks of a product's quality (not a service's "quality control")."""
    text = next(p.text for p in parsed.pages if p.number == heading.page)[heading.start : heading.start + 1500]
    return len(_QUALITY_WORDS.findall(text)) >= words


def _between(parsed: ParsedDocument, page: int, start: int, end_page: int, end: int) -> str:
    parts = []
    for p in parsed.pages:
        if page <= p.number <= end_page:
            parts.append(p.text[start if p.number == page else 0 : end if p.number == end_page else None])
    return "\n".join(parts)


def _clean(text: str) -> str:
    return " ".join(text.split()).strip(" .,:;\"“”'")


def _clean_name(text: str) -> str:
    """A name without the stamps that precede it on a filed copy ("EXECUTION COPY COOPERATION AGREEMENT")."""
    name = _clean(text)
    bare = _STAMP_WORDS.sub("", name)
    return bare if len(bare.split()) >= 2 else name
