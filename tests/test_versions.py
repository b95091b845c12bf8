"""Re-ingesting changes nothing; a new version supersedes the old, which stays readable as history."""

from pathlib import Path

import pytest

from api.ingest import ingest_bytes
from core.documents import DocumentStatus, IngestStatus
from core.search import SearchFilters
from fixtures.render import load_source, render_pdf
from retrieval.corpus import Corpus, embedding_text

pytestmark = pytest.mark.every_store
SOURCE = Path(__file__).parents[1] / "fixtures" / "sources" / "qta_northgate.md"


def _qta_revision(tmp_path, old: str, new: str) -> bytes:
    source = load_source(SOURCE)
    for el in source.elements:
        el.text = el.text.replace(old, new)
    out = tmp_path / "rev.pdf"
    render_pdf(source, out)
    return out.read_bytes()


def test_reingest_is_idempotent(empty_corpus, portfolio, corpus_dir):
    path = corpus_dir / "DEV-2024-031_Investigation_Report.pdf"
    first = ingest_bytes(empty_corpus, portfolio, path.name, path.read_bytes())
    before = (empty_corpus.store.counts(), empty_corpus.vectors.count(), empty_corpus.store.generation())
    again = ingest_bytes(empty_corpus, portfolio, "renamed copy.pdf", path.read_bytes())
    assert first.status == IngestStatus.ADDED and again.status == IngestStatus.UNCHANGED
    assert again.document_id == first.document_id
    assert (empty_corpus.store.counts(), empty_corpus.vectors.count(), empty_corpus.store.generation()) == before


def test_new_version_supersedes_and_history_stays(empty_corpus, portfolio, corpus_dir, tmp_path):
    v1 = corpus_dir / "QA-NGB-HB-002_Quality_Agreement_Northgate_Rev3.pdf"
    first = ingest_bytes(empty_corpus, portfolio, v1.name, v1.read_bytes())
    revised = _qta_revision(tmp_path, "at least 90 calendar days", "at least 120 calendar days")
    second = ingest_bytes(empty_corpus, portfolio, "QA-NGB-HB-002_Rev4.pdf", revised)

    assert second.status == IngestStatus.NEW_VERSION and second.supersedes == first.document_id
    old, new = empty_corpus.store.get(first.document_id), empty_corpus.store.get(second.document_id)
    assert old.status == DocumentStatus.SUPERSEDED and old.superseded_by == new.id
    assert new.version == 2 and new.status == DocumentStatus.CURRENT
    assert [d.id for d in empty_corpus.store.versions(new.document_key)] == [old.id, new.id]
    assert "90 calendar days" in "\n".join(p.text for p in empty_corpus.store.detail(old.id).pages)

    query = "how many days before implementation must a Class A change request be submitted"
    current = empty_corpus.search(query, limit=5)
    assert current and all(h.document_id == new.id for h in current)
    history = empty_corpus.search(query, SearchFilters(include_superseded=True), limit=10)
    assert {h.document_id for h in history} == {old.id, new.id}


def test_a_second_process_gets_a_clear_busy_error(empty_corpus):
    from core.errors import StoreBusyError
    from retrieval.vector_stores import open_vector_store

    with pytest.raises(StoreBusyError, match="in use by another process"):
        open_vector_store(empty_corpus.settings, 384)


class CountingEmbedder:
    """The session's embedder, counting the texts it is asked to embed."""

    def __init__(self, inner):
        self.inner, self.texts = inner, []

    def __getattr__(self, name):  # name, dimension, runtime, weights, exact: the inner embedder's
        return getattr(self.inner, name)

    def embed(self, texts):
        self.texts += texts
        return self.inner.embed(texts)


def test_a_new_version_embeds_only_the_passages_that_changed(make_settings, embedder, portfolio, corpus_dir, tmp_path):
    counting = CountingEmbedder(embedder)
    corpus = Corpus(make_settings(), embedder=counting)
    try:
        v1 = corpus_dir / "QA-NGB-HB-002_Quality_Agreement_Northgate_Rev3.pdf"
        ingest_bytes(corpus, portfolio, v1.name, v1.read_bytes())
        counting.texts.clear()
        revised = _qta_revision(tmp_path, "at least 90 calendar days", "at least 120 calendar days")
        second = ingest_bytes(corpus, portfolio, "QA-NGB-HB-002_Rev4.pdf", revised)
        assert second.status == IngestStatus.NEW_VERSION

        doc, passages = corpus.store.get(second.document_id), corpus.store.chunks_of(second.document_id)
        texts = [embedding_text(doc, c.section, c.text) for c in passages]
        embedded = [t for t in texts if t in counting.texts]
        assert embedded and all("120 calendar days" in t for t in embedded) and len(embedded) < len(texts) / 4
        # every passage's stored vector, copied or new, is the one embedding it afresh gives
        stored = corpus.vectors.vectors([c.id for c in passages])
        fresh = embedder.embed(texts)
        assert min(float(stored[c.id] @ v) for c, v in zip(passages, fresh)) > 0.9999
    finally:
        corpus.close()
