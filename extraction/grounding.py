"""Check every quote a model offers against the document: found, it becomes Evidence; not found, dropped.

A quote matches exactly, or once whitespace is collapsed (PDF line breaks), or once case is ignored too.
A quote that lands in hostile text (text addressed to an AI reviewer) is refused like an invented one.
"""

import re

from core.dates import all_dates
from core.evidence import Alignment, Evidence, GroundingReport
from extraction.hostile import overlaps
from extraction.source import SourceText


class Grounder:
    def __init__(self, source: SourceText):
        self.source = source
        self.report = GroundingReport()
        self._normal: dict[int, tuple[str, list[int]]] = {n: _normalize(t) for n, t in source.pages.items()}
        self._dates = all_dates("\n".join(source.pages.values()))

    def quote(self, text: str | None) -> Evidence | None:
        """Evidence for a quote, or None (counted) when the document does not hold it."""
        if not text or not text.strip():
            return None
        self.report.offered += 1
        evidence = self._find(text.strip().strip('"').strip())
        if evidence is None or overlaps(evidence.page, evidence.start, evidence.end, self.source.hostile):
            self.report.dropped.append(text)
            return None
        self.report.grounded += 1
        return evidence

    def value(self, text: str | None) -> str | None:
        """An identifier (batch, record number) kept only if the document contains it."""
        return text if text and self.quote(text) else None

    def known_date(self, value) -> bool:
        """A date kept only if the document states it."""
        self.report.offered += 1
        if value in self._dates:
            self.report.grounded += 1
            return True
        self.report.dropped.append(str(value))
        return False

    def _find(self, quote: str) -> Evidence | None:
        for number, page in self.source.pages.items():
            at = page.find(quote)
            if at >= 0:
                return self.source.evidence(number, at, at + len(quote))
        wanted = " ".join(quote.split())
        for alignment, flags in ((Alignment.WHITESPACE, 0), (Alignment.CASE, re.IGNORECASE)):
            for number, (normal, index) in self._normal.items():
                match = re.search(re.escape(wanted), normal, flags)
                if match and match.end() > match.start():
                    start, end = index[match.start()], index[match.end() - 1] + 1
                    return self.source.evidence(number, start, end).model_copy(update={"alignment": alignment})
        return None


def _normalize(text: str) -> tuple[str, list[int]]:
    """Whitespace runs collapsed to one space, with each kept character's offset in the original."""
    chars, index = [], []
    for i, ch in enumerate(text):
        if ch.isspace():
            if chars and chars[-1] != " ":
                chars.append(" ")
                index.append(i)
            continue
        chars.append(ch)
        index.append(i)
    return "".join(chars), index
