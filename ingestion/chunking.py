"""Chunks that follow the document's own structure and are exact spans of its page text.

A heading starts a new chunk; blocks under it gather until about `target_words`; a table stays whole,
with what introduces it, when that fits in `max_words`, else it is cut between rows; an overlong paragraph is cut between
sentences. A chunk never crosses a page, so (page, start, end) always locates it.
"""

import re
import uuid

from core.documents import Block, BlockKind, Chunk, ParsedDocument

_SENTENCE_END = re.compile(r"(?<=[.;:!?])\s+(?=[A-Z(\"'])")


def chunk_document(parsed: ParsedDocument, document_id: str, target_words: int, max_words: int) -> list[Chunk]:
    page_text = {p.number: p.text for p in parsed.pages}
    spans: list[tuple[int, int, int, str, BlockKind]] = []  # page, start, end, section, kind
    section = ""
    current: list[Block] = []

    def flush() -> None:
        if current:
            kind = BlockKind.TABLE if any(b.kind == BlockKind.TABLE for b in current) else BlockKind.TEXT
            spans.append((current[0].page, current[0].start, current[-1].end, section, kind))
            current.clear()

    for block in _split_long(parsed.blocks, max_words):
        words = _words(block.text)
        same_page = not current or current[0].page == block.page
        if block.kind == BlockKind.HEADING:
            flush()
            section = block.text.strip()
            current.append(block)
            continue
        only_heading = len(current) == 1 and current[0].kind == BlockKind.HEADING
        # a table may run to max_words so that it stays whole, with the heading and lines that introduce it
        limit = max_words if block.kind == BlockKind.TABLE else target_words
        fits = sum(_words(b.text) for b in current) + words <= limit
        if not same_page or (current and not only_heading and not fits):
            flush()
        current.append(block)
        if block.kind == BlockKind.TABLE and sum(_words(b.text) for b in current) >= target_words:
            flush()
    flush()

    return [
        Chunk(
            id=str(uuid.uuid5(uuid.NAMESPACE_URL, f"{document_id}/{ordinal}")),
            document_id=document_id,
            ordinal=ordinal,
            page=page,
            start=start,
            end=end,
            section=section,
            block_kind=kind,
            text=page_text[page][start:end],
        )
        for ordinal, (page, start, end, section, kind) in enumerate(spans)
    ]


def _words(text: str) -> int:
    return len(text.split())


def _split_long(blocks: list[Block], max_words: int) -> list[Block]:
    """Cut blocks over max_words: tables between rows, prose between sentences."""
    out: list[Block] = []
    for block in blocks:
        if _words(block.text) <= max_words:
            out.append(block)
            continue
        separator = re.compile(r"\n") if block.kind == BlockKind.TABLE else _SENTENCE_END
        pieces, piece_start, count = [], 0, 0
        cut_points = [m.end() for m in separator.finditer(block.text)] + [len(block.text)]
        last = 0
        for cut in cut_points:
            segment_words = _words(block.text[last:cut])
            if count and count + segment_words > max_words:
                pieces.append((piece_start, last))
                piece_start, count = last, 0
            count += segment_words
            last = cut
        pieces.append((piece_start, len(block.text)))
        for s, e in pieces:
            text = block.text[s:e]
            lead = len(text) - len(text.lstrip())
            text = text.strip()
            if text:
                start = block.start + s + lead
                out.append(Block(kind=block.kind, page=block.page, start=start, end=start + len(text), text=text))
    return out
