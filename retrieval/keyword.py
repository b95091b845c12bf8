"""BM25 as sparse vectors: what a passage and a query weigh, term by term.

A passage's values are BM25's saturated term frequencies; the keyword index (vector_stores/keyword_shard.py)
multiplies them by each term's IDF when it is asked (Qdrant's IDF modifier is BM25's own formula), so a query
scores exactly as BM25 (Lucene's variant, k1 1.5, b 0.75) would over the same passages, with one difference:
passage lengths are normalised by a fixed average instead of the corpus's current one, so that a stored
vector never has to change when other documents arrive.

Tokens keep record and batch numbers whole ("dev-2024-031", "24-017") beside their parts, so both an exact
number and a partial one match; a passage's record and batch numbers are read by core.identifiers, as the
numbers of a query are.
"""

import re
import zlib
from collections import Counter

from core.documents import Chunk, Document
from core.identifiers import identifiers_in

_WORD = re.compile(r"[a-z0-9]+")
# possessive, and only from the start of a word: the plain pattern backtracks through every word
_COMPOUND = re.compile(r"(?<![a-z0-9])[a-z0-9]++(?:[-./][a-z0-9]++)+")
_STOPWORDS = frozenset(
    "a an and are as at be by for from has have in is it its of on or that the this to was were will with "
    "which what who when where how does do did any all there their than then these those our your".split()
)
K1, B = 1.5, 0.75
# The passage length BM25 normalises by. The chunker's passages hold about 60 such tokens (62 on the sample
# corpus); a fixed figure keeps every stored vector valid as the corpus grows.
AVERAGE_PASSAGE_TOKENS = 64.0


def tokenize(text: str) -> list[str]:
    """Words, plus compounds kept whole ("dev-2024-031", "24-017", "36.5") beside their parts."""
    lowered = text.lower()
    return [w for w in _WORD.findall(lowered) if w not in _STOPWORDS] + _COMPOUND.findall(lowered)


def passage_text(chunk: Chunk, document: Document) -> str:
    return f"{document.title}\n{chunk.section}\n{chunk.text}"


def _term(token: str) -> int:
    # a stable 32-bit id; two terms sharing one (about a hundred pairs among a million distinct terms) score as one
    return zlib.crc32(token.encode())


SparseWeights = tuple[list[int], list[float]]  # term ids, their weights


def passage_weights(chunk: Chunk, document: Document) -> SparseWeights:
    """BM25's term-frequency part of a passage: tf / (tf + k1 (1 - b + b dl / avgdl))."""
    tokens = tokenize(passage_text(chunk, document))
    length_norm = K1 * (1 - B + B * len(tokens) / AVERAGE_PASSAGE_TOKENS)
    counts = Counter(_term(t) for t in tokens)
    return list(counts), [tf / (tf + length_norm) for tf in counts.values()]


def query_weights(query: str) -> SparseWeights:
    counts = Counter(_term(t) for t in tokenize(query))  # a word asked twice counts twice, as in BM25
    return list(counts), [float(n) for n in counts.values()]


def passage_identifiers(chunk: Chunk) -> list[str]:
    """The record and batch numbers the passage's text carries, as a query's are read (lowercased)."""
    return sorted({i.lower() for i in identifiers_in(chunk.text)})


def record_number(document: Document) -> str:
    # a document's key ends in the record or batch number it is, e.g. "deviation_report:DEV-2024-031"
    return document.document_key.rsplit(":", 1)[-1].lower()
