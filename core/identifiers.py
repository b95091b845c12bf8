"""Record numbers (deviations, OOS, CAPAs, changes, audits ...) and batch numbers, by position as well as shape.

Nothing here depends on one quality system's numbering:
- a token in a labelled field or after a record word ("Deviation number: 2025/0077", "Audit No. CVA-2025-07",
  "deviation PR 256484", "Warning Letter 320-26-81") is a record number whatever its shape;
- a token after "batch" or "lot", or in a table column headed Batch or Lot, is a batch number whatever its
  shape, and once a document names a batch, batches of the same shape are recognised throughout it;
- the common prefixes (DEV-, OOS-, CAPA-, CC- ...), a sponsor's own (portfolio `record_prefixes`), and the
  prefix-year-sequence shape most systems use (CHG-25-0412, LD-2025-031) are record numbers anywhere;
- a sponsor's batch patterns (portfolio `batch_patterns`) are batch numbers anywhere.
"""

import re

# Prefixes many quality systems give deviations, OOS results, CAPAs, changes, audits, agreements, SOPs.
COMMON_PREFIXES = ("DEV", "DV", "NC", "NCR", "OOS", "OOT", "CAPA", "CC", "CCR", "CR", "AUD", "QTA", "QA", "QAG",
                   "INV", "COMP", "BMR", "MBR", "SOP")  # fmt: skip
DOCUMENT_ID = re.compile(
    rf"(?<![\w-])(?:{'|'.join(COMMON_PREFIXES)})(?=[-A-Z0-9]*\d)(?:-[A-Z0-9]{{1,8}}){{1,5}}(?![\w-])"
)
# prefix (of one to three parts), year, sequence: QE-2025-00412, CHG-25-0412, EQ-HFF-2026-009, HPS-D-25-0133;
# and slashed codes ending in a number, OOS/MBA/25/014, DR/OBM/25/0231 (units such as mg/mL are lower case)
_PREFIX_YEAR_SEQUENCE = re.compile(
    r"(?<![\w/-])(?:[A-Z]{2,6}(?:-[A-Z]{1,6}){0,2}-(?:19|20)?\d{2}-\d{2,6}|[A-Z]{2,6}(?:/[A-Z0-9]{1,8}){1,3}/\d{2,6})"
    r"(?![\w/-])"
)
# Any token a label can name: letters, digits and separators, with a digit; or letters, a space and digits
# ("PR 256484", "CBER 26-728681"), which only a label or record word can vouch for.
_TOKEN = r"(?=[A-Z0-9./-]*\d)[A-Z0-9]+(?:[-/.][A-Z0-9]+){0,5}"
_SPACED_TOKEN = r"[A-Z]{2,6} \d{3,}(?:[-/]\d+){0,3}|[A-Z]{2,6} \d{2}[-/]\d+(?:[-/]\d+){0,2}"
_RECORD_WORDS = (
    r"deviation|non-?conformance|incident(?: report)?|quality event|investigation|CAPA|"
    r"change(?: control| request| notification| record)?|audit|(?:quality |technical )?agreement|document|"
    r"protocol|procedure|specification|master (?:batch )?record|(?:warning |untitled )?letter|complaint|reference"
)
_RECORD_LED = re.compile(
    rf"\b(?i:{_RECORD_WORDS})(?:\s+(?i:number|no\.?|nr\.?|#|id|ref(?:erence)?|report|record)(?![A-Za-z]))?\s*[:#|]?\s*"
    rf"({_SPACED_TOKEN}|{_TOKEN})(?![\w-])"
)
_BATCH_TOKEN = r"(?=[A-Z0-9/-]*\d)[A-Z0-9]+(?:[-/][A-Z0-9]+){0,3}"
_BATCH_LED = re.compile(
    rf"\b(?i:batch(?:es)?|lots?)\b(?:\s+(?i:no\.?|number|numbers|nos\.?|#|id))?[\s#:|]*"
    rf"((?:{_BATCH_TOKEN})(?:(?:\s*,\s*|\s+(?i:and|to|&)\s+|\s*/\s*)(?:{_BATCH_TOKEN}))*)(?![\w-])"
)
_BATCH_HEADER = re.compile(r"^\s*(batch|lot)(\s*(no\.?|number|#|id))?\s*$", re.I)
# Never a batch or record number: years, counts, clause numbers, dates, percentages.
_NOT_AN_ID = re.compile(
    r"^(19|20)\d\d$|^\d{1,3}$|^\d+(\.\d+)+$|^\d{1,2}[./]\d{1,2}[./]\d{2,4}$|^\d{4}-\d{2}-\d{2}$|^\d+[.,]\d+$"
)


def unique(items) -> list[str]:
    """Items in first-seen order, without repeats."""
    return list(dict.fromkeys(items))


def _plausible(token: str) -> bool:
    return len(token) >= 3 and not _NOT_AN_ID.match(token) and any(c.isdigit() for c in token)


def record_ids(text: str, prefixes: tuple[str, ...] = ()) -> list[str]:
    """Record numbers in the order the text first names them."""
    # a common prefix with fewer than three digits is an equipment tag more often than a record (CR-02, CC-1)
    found: list[tuple[int, str]] = [
        (m.start(), m.group(0)) for m in DOCUMENT_ID.finditer(text) if sum(c.isdigit() for c in m.group(0)) >= 3
    ]
    found += [(m.start(), m.group(0)) for m in _PREFIX_YEAR_SEQUENCE.finditer(text)]
    if prefixes:
        own = re.compile(rf"(?<![\w-])(?:{'|'.join(map(re.escape, prefixes))})[-/]?[A-Z0-9]*\d[A-Z0-9/-]*(?<![-/])")
        found += [(m.start(), m.group(0)) for m in own.finditer(text)]
    for m in _RECORD_LED.finditer(text):
        token = m.group(1).rstrip(".")
        if _plausible(token):
            found.append((m.start(1), token))
    return unique(t for _, t in sorted(found))


def title_record_ids(title: str) -> list[str]:
    """A title part that is nothing but a number is the document's own ("Specification - LM-201 Drug Product -
    SPEC-LM201-DP-03")."""
    parts = re.split(r"\s+[-\u2013\u2014:|]\s+", title.strip())
    return [p for p in parts[1:] if re.fullmatch(_TOKEN, p) and re.search(r"[A-Z]", p) and _plausible(p)
            and sum(c.isdigit() for c in p) >= 2]  # fmt: skip


def batch_ids(text: str, patterns: tuple[str, ...] = ()) -> list[str]:
    """Batch numbers: after "batch" or "lot", in a column headed Batch or Lot, of a sponsor's patterns, and of
    the shape of one already found in the same text."""
    found: list[tuple[int, str]] = []
    for m in _BATCH_LED.finditer(text):
        for t in re.finditer(_BATCH_TOKEN, m.group(1)):
            if _plausible(t.group(0)):
                found.append((m.start(1) + t.start(), t.group(0).upper()))
    found += _table_batches(text)
    for pattern in patterns:
        found += [(m.start(), m.group(0)) for m in re.finditer(rf"(?<![\w-])(?:{pattern})(?![\w-])", text)]
    known = unique(t for _, t in found)
    for shape in unique(_shape(t) for t in known if re.search(r"[A-Z]", t) and len(t) >= 5):
        found += [(m.start(), m.group(0)) for m in re.finditer(rf"(?<![\w/-]){shape}(?![\w/-])", text)]
    return unique(t for _, t in sorted(found))


def _shape(token: str) -> str:
    """A batch number's family: its letters and separators as written, each run of digits as so many digits."""
    return "".join(rf"\d{{{len(run)}}}" if run[0].isdigit() else re.escape(run) for run in re.findall(r"\d+|\D+", token))


def _table_batches(text: str) -> list[tuple[int, str]]:
    """Cells under a column headed Batch or Lot, in tables written as rows of cells separated by '|'."""
    found, column, offset = [], None, 0
    for line in text.split("\n"):
        cells = [c.strip() for c in line.split("|")] if "|" in line else []
        if not cells:
            column = None
        elif column is None:
            column = next((i for i, c in enumerate(cells) if _BATCH_HEADER.match(c)), -1)
        elif 0 <= column < len(cells) and re.fullmatch(_BATCH_TOKEN, cells[column]) and _plausible(cells[column]):
            found.append((offset + line.find(cells[column]), cells[column]))
        offset += len(line) + 1
    return found


def number_like(text: str) -> list[str]:
    """Every token that could be a record number, in text order: what the corpus's known numbers are looked
    up among."""
    tokens = re.findall(rf"(?<![\w/-])(?:{_SPACED_TOKEN}|[A-Z0-9]+(?:[-/][A-Z0-9]+){{1,5}})(?![\w/-])", text)
    return unique(t for t in tokens if _plausible(t) and re.search(r"[A-Z]", t))


def identifiers_in(text: str) -> list[str]:
    """Record numbers and batch numbers a query or passage names, for exact-match boosting."""
    return unique(record_ids(text) + batch_ids(text) + _bare_batch_like(text))


def _bare_batch_like(text: str) -> list[str]:
    # in a query, "24-017" or "F4471" is a batch number even without the word "batch" before it
    # ... but not the tail of a record number ("OOS-24-007" names no batch 24-007)
    return [t for t in re.findall(r"(?<![\w/-])(?:\d{2}-\d{3}|[A-Z]\d{4})(?![\w/-])", text) if not _NOT_AN_ID.match(t)]
