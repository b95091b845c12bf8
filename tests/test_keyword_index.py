"""The keyword index: BM25 as the engine scores it, updated per document, mended from the records."""

import math
import shutil
from collections import Counter

import pytest

from api.ingest import ingest_path
from core.documents import DocumentStatus
from core.portfolio import load_portfolio
from core.search import SearchFilters, SearchMode
from retrieval.corpus import Corpus
from retrieval.integrity import check_consistency
from retrieval.keyword import AVERAGE_PASSAGE_TOKENS, B, K1, passage_text, tokenize

FIRST = ["DEV-2024-031_Investigation_Report.pdf", "QTA_Northgate_Biologics_HB-101.pdf", "CAPA-2024-019_Record.docx"]
LATER = "OOS-24-011_Bioburden_Ordesekimab_24-033.docx"


@pytest.fixture
def corpus(make_settings, embedder, corpus_dir):
    corpus = Corpus(make_settings(), embedder=embedder)
    for name in FIRST:
        ingest_path(corpus, load_portfolio(), corpus_dir / name)
    yield corpus
    corpus.close()


def bm25_by_hand(corpus: Corpus, query: str) -> dict[str, float]:
    """Lucene's BM25 over every stored passage, written out from its definition."""
    passages = {c.id: tokenize(passage_text(c, d)) for c, d in corpus.store.iter_all_chunks()}
    frequency = Counter(t for tokens in passages.values() for t in set(tokens))
    n = len(passages)
    scores = {}
    for chunk_id, tokens in passages.items():
        tf, score = Counter(tokens), 0.0
        for term in tokenize(query):
            if tf[term]:
                idf = math.log(1 + (n - frequency[term] + 0.5) / (frequency[term] + 0.5))
                score += idf * tf[term] / (tf[term] + K1 * (1 - B + B * len(tokens) / AVERAGE_PASSAGE_TOKENS))
        if score > 0:
            scores[chunk_id] = score
    return scores


@pytest.mark.parametrize("query", ["root cause of the temperature excursion", "DEV-2024-031 notification sponsor"])
def test_the_engine_scores_passages_as_bm25_does(corpus, query):
    expected = bm25_by_hand(corpus, query)
    found = dict(corpus.keywords.search(query, 50, SearchFilters(include_superseded=True)))
    best = sorted(expected.values(), reverse=True)[:10]
    top = list(found)[:10]
    assert best and [found[i] for i in top] == pytest.approx(best, rel=1e-4)  # the same ten scores (ties in any order)
    assert all(found[i] == pytest.approx(expected[i], rel=1e-4) for i in top)  # each passage's own score


def test_an_upload_is_searchable_at_once_and_nothing_is_rebuilt(corpus, corpus_dir, monkeypatch):
    def no_full_read():
        raise AssertionError("the whole corpus was read again")

    monkeypatch.setattr(corpus.store, "iter_all_chunks", no_full_read)
    before = corpus.keywords.count()
    result = ingest_path(corpus, load_portfolio(), corpus_dir / LATER)
    assert corpus.keywords.count() == before + result.chunks
    hits = corpus.search("OOS-24-011 assignable cause", limit=3, mode=SearchMode.HYBRID)
    assert hits[0].filename == LATER and hits[0].matched_identifiers == ["OOS-24-011"]
    bm25 = corpus.search("bioburden assignable cause", limit=3, mode=SearchMode.BM25)
    assert bm25 and bm25[0].filename == LATER


def test_a_superseded_passage_leaves_the_keyword_results_with_its_document(corpus):
    dev = next(d for d in corpus.store.list_documents() if d.filename == FIRST[0])
    assert any(h.document_id == dev.id for h in corpus.search("temperature excursion", mode=SearchMode.BM25))
    corpus.keywords.set_status(dev.id, DocumentStatus.SUPERSEDED)
    assert not any(h.document_id == dev.id for h in corpus.search("temperature excursion", mode=SearchMode.BM25))
    everything = SearchFilters(include_superseded=True)
    assert any(h.document_id == dev.id for h in corpus.search("temperature excursion", everything, mode=SearchMode.BM25))


def test_drift_in_the_keyword_index_is_found_and_mended_from_the_records(corpus):
    query = "root cause of the temperature excursion"
    expected = [h.chunk_id for h in corpus.search(query, mode=SearchMode.BM25)]
    dev = next(d for d in corpus.store.list_documents() if d.filename == FIRST[0])
    lost = [c.id for c in corpus.store.detail(dev.id).chunks[:2]]
    corpus.keywords.delete_points(lost)
    corpus.keywords.set_status(dev.id, DocumentStatus.WITHDRAWN)

    report = check_consistency(corpus)
    assert set(lost) <= set(report.keyword_drift) and not report.consistent
    assert set(report.keyword_drift) == {c.id for c in corpus.store.detail(dev.id).chunks}
    assert check_consistency(corpus, repair=True).repaired and check_consistency(corpus).consistent
    assert [h.chunk_id for h in corpus.search(query, mode=SearchMode.BM25)] == expected


def test_a_missing_or_unreadable_keyword_index_is_rebuilt_when_the_corpus_opens(make_settings, embedder, corpus_dir):
    settings, query = make_settings(), "DEV-2024-031 notification sponsor"
    corpus = Corpus(settings, embedder=embedder)
    for name in FIRST:
        ingest_path(corpus, load_portfolio(), corpus_dir / name)
    expected = [h.chunk_id for h in corpus.search(query)]
    corpus.close()
    for path in settings.keywords_path.rglob("*"):
        if path.is_file():
            path.write_bytes(b"\x00garbage")
    for damage in ("unreadable", "missing"):
        reopened = Corpus(settings, embedder=embedder)
        try:
            assert reopened.keywords.count() == reopened.store.counts()["chunks"]
            assert [h.chunk_id for h in reopened.search(query)] == expected
        finally:
            reopened.close()
        if damage == "unreadable":
            assert list(settings.data_dir.glob("keywords-edge.damaged-*"))  # the damaged one is kept aside
            shutil.rmtree(settings.keywords_path)


def test_a_question_after_an_upload_reads_the_upload_only(corpus, corpus_dir, monkeypatch):
    """Chat's term weights count the passages' words: the first question counts every passage, later ones
    only what was stored since."""
    from agents.chat import ChatService

    chat = ChatService(corpus, load_portfolio())
    chat.ask("What was the root cause of the temperature excursion?")

    def no_full_read():
        raise AssertionError("the whole corpus was read again")

    monkeypatch.setattr(corpus.store, "iter_all_chunks", no_full_read)
    ingest_path(corpus, load_portfolio(), corpus_dir / LATER)
    answer = chat.ask("What was the assignable cause of OOS-24-011?")
    assert answer.sentences and any(c.filename == LATER for c in answer.citations)
