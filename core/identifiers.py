"""Record numbers (DEV-, OOS-, CAPA-, CC- ...) and batch numbers, as written in CDMO documents."""

import re

# Prefixes of the record numbers quality systems give deviations, OOS results, CAPAs and so on.
DOCUMENT_ID = re.compile(
    r"(?<![\w-])(?:DEV|DV|NC|NCR|OOS|OOT|CAPA|CC|CCR|CR|AUD|QTA|QA|QAG|INV|COMP|BMR|MBR)"
    r"(?=[-A-Z0-9]*\d)(?:-[A-Z0-9]{1,8}){1,5}(?![\w-])"
)
_BATCH_LED = re.compile(
    r"\b(?:batch(?:es)?|lots?)\b(?:\s+(?:no\.?|number|numbers|nos\.?|#|id))?\s*[:#]?\s*"
    r"((?:[A-Z]{0,4}\d[A-Z0-9]{1,}(?:[-/][A-Z0-9]{2,6}){0,2})(?:(?:\s*,\s*|\s+and\s+|\s*/\s*)"
    r"[A-Z]{0,4}\d[A-Z0-9]{1,}(?:[-/][A-Z0-9]{2,6}){0,2})*)",
    re.IGNORECASE,
)
_BATCH_TOKEN = re.compile(r"[A-Z]{0,4}\d[A-Z0-9]{1,}(?:[-/][A-Z0-9]{2,6}){0,2}", re.IGNORECASE)
# A batch number is never a year, a count ("lot F4495, 312 vials") or a clause number.
_NOT_A_BATCH = re.compile(r"^(19|20)\d\d$|^\d{1,3}$|^\d+\.\d+$")


def identifiers_in(text: str) -> list[str]:
    """Record numbers and batch numbers a query or passage names, for exact-match boosting."""
    return unique([m.group(0) for m in DOCUMENT_ID.finditer(text)] + batch_ids(text) + _bare_batch_like(text))


def batch_ids(text: str) -> list[str]:
    found = []
    for m in _BATCH_LED.finditer(text):
        for token in _BATCH_TOKEN.findall(m.group(1)):
            if not _NOT_A_BATCH.match(token) and any(c.isdigit() for c in token):
                found.append(token.upper())
    return unique(found)


def _bare_batch_like(text: str) -> list[str]:
    # in a query, "24-017" or "F4471" is a batch number even without the word "batch" before it
    return [t for t in re.findall(r"\b\d{2}-\d{3}\b|\b[A-Z]\d{4}\b", text) if not _NOT_A_BATCH.match(t)]


def unique(items) -> list[str]:
    """Items in first-seen order, without repeats."""
    return list(dict.fromkeys(items))
