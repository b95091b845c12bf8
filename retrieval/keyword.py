"""BM25 over chunk texts (bm25s), with identifiers kept whole and filters applied as masks.

Built in memory from the record store and rebuilt when the store's generation changes. Tokens keep
record and batch numbers whole ("dev-2024-031", "24-017") and also add their parts, so both an exact
number and a partial one match. Postings list, for each record or batch number, the passages that
carry it, read by the same rules (core.identifiers) as the numbers in a query.
"""

import re
from dataclasses import dataclass

import bm25s
import numpy as np

from core.documents import Chunk, Document, DocumentStatus
from core.identifiers import identifiers_in
from core.search import SearchFilters
from retrieval.vector_stores import date_key

_WORD = re.compile(r"[a-z0-9]+")
# possessive, and only from the start of a word: the plain pattern backtracks through every word
_COMPOUND = re.compile(r"(?<![a-z0-9])[a-z0-9]++(?:[-./][a-z0-9]++)+")
_STOPWORDS = frozenset(
    "a an and are as at be by for from has have in is it its of on or that the this to was were will with "
    "which what who when where how does do did any all there their than then these those our your".split()
)


def tokenize(text: str) -> list[str]:
    """Words, plus compounds kept whole ("dev-2024-031", "24-017", "36.5") beside their parts."""
    lowered = text.lower()
    return [w for w in _WORD.findall(lowered) if w not in _STOPWORDS] + _COMPOUND.findall(lowered)


@dataclass
class KeywordIndex:
    chunk_ids: list[str]
    bm25: bm25s.BM25 | None
    current: np.ndarray
    dates: np.ndarray
    kinds: np.ndarray
    site_masks: dict[str, np.ndarray]
    program_masks: dict[str, np.ndarray]
    postings: dict[str, set[int]]  # identifier token -> chunk rows
    document_rows: dict[str, list[int]]
    records: dict[str, list[str]]  # "dev-2024-031" -> the documents that are that record
    row_of: dict[str, int]  # chunk id -> row

    @classmethod
    def build(cls, rows: list[tuple[Chunk, Document]]) -> "KeywordIndex":
        n = len(rows)
        corpus = [tokenize(f"{doc.title}\n{chunk.section}\n{chunk.text}") for chunk, doc in rows]
        bm25 = None
        if n:
            bm25 = bm25s.BM25()
            bm25.index(corpus, show_progress=False)
        site_masks: dict[str, np.ndarray] = {}
        program_masks: dict[str, np.ndarray] = {}
        postings: dict[str, set[int]] = {}
        document_rows: dict[str, list[int]] = {}
        records: dict[str, list[str]] = {}
        for row, (chunk, doc) in enumerate(rows):
            if doc.id not in document_rows:
                # a document's key ends in the record or batch number it is, e.g. "deviation_report:DEV-2024-031"
                records.setdefault(doc.document_key.rsplit(":", 1)[-1].lower(), []).append(doc.id)
            document_rows.setdefault(doc.id, []).append(row)
            for site in doc.metadata.sites:
                site_masks.setdefault(site, np.zeros(n, dtype=bool))[row] = True
            for program in doc.metadata.programs:
                program_masks.setdefault(program, np.zeros(n, dtype=bool))[row] = True
            for ident in identifiers_in(chunk.text):  # the same reading of numbers as the query side
                postings.setdefault(ident.lower(), set()).add(row)
        return cls(
            chunk_ids=[c.id for c, _ in rows],
            bm25=bm25,
            current=np.array([d.status == DocumentStatus.CURRENT for _, d in rows], dtype=bool),
            dates=np.array([date_key(d.metadata.document_date) for _, d in rows], dtype=np.int64),
            kinds=np.array([d.kind.value for _, d in rows]),
            site_masks=site_masks,
            program_masks=program_masks,
            postings=postings,
            document_rows=document_rows,
            records=records,
            row_of={c.id: row for row, (c, _) in enumerate(rows)},
        )

    def mask(self, f: SearchFilters) -> np.ndarray:
        n = len(self.chunk_ids)
        mask = np.ones(n, dtype=bool) if f.include_superseded else self.current.copy()
        if f.site:
            mask &= self.site_masks.get(f.site, np.zeros(n, dtype=bool))
        if f.program:
            mask &= self.program_masks.get(f.program, np.zeros(n, dtype=bool))
        if f.kind:
            mask &= self.kinds == f.kind.value
        if f.since:
            mask &= self.dates >= date_key(f.since)
        return mask

    def search(self, query: str, limit: int, filters: SearchFilters) -> list[tuple[str, float]]:
        tokens = tokenize(query)
        if self.bm25 is None or not tokens:
            return []
        scores = self.bm25.get_scores(tokens) * self.mask(filters)
        top = np.argpartition(-scores, min(limit, len(scores) - 1))[:limit]
        top = top[np.argsort(-scores[top], kind="stable")]
        return [(self.chunk_ids[i], float(scores[i])) for i in top if scores[i] > 0]

    def names(self, chunk_id: str, identifier: str) -> bool:
        """Whether the passage carries the record or batch number."""
        return self.row_of.get(chunk_id, -1) in self.postings.get(identifier.lower(), ())

    def record_rows(self, identifier: str, filters: SearchFilters) -> list[int]:
        """Rows of the documents that are the named record (the report DEV-2024-031, batch 24-017's record)."""
        mask = self.mask(filters)
        return [
            r for d in self.records.get(identifier.lower(), []) for r in self.document_rows[d] if mask[r]
        ]
