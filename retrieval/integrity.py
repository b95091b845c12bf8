"""Are the vector and keyword indexes what the records say they should be — and, with repair, make them so.

The records win: they are written in one transaction, the index is derived from them. Five kinds of
damage are looked for: keyword points whose terms are not their passage's (a sample, every point once damage is
seen), which a repair writes anew; vectors of another arithmetic (retrieval.arithmetic: another engine, model or processor
made them), which a repair embeds again, every one; drift (a chunk without a point, a point without a chunk, a stale current/superseded
flag, as a crash between the two writes leaves), silent damage (vectors whose bytes were changed: every
request still answers, but the nearest passages are wrong), found by embedding a sample of chunks again
and comparing; and an index that cannot be opened or read at all, which a repair rebuilds from the records
after moving the damaged folder aside.
"""

import logging
import random
import shutil
from datetime import UTC, datetime

import numpy as np

from core.config import Settings
from core.consistency import ConsistencyReport
from core.consistency import ArithmeticState
from core.errors import IndexUnreadable
from retrieval import arithmetic
from retrieval.corpus import Corpus, _payload, embedding_text

log = logging.getLogger(__name__)
SAMPLE = 200  # chunks embedded again per check (all of them when damage is found and a repair asked)
_BATCH = 256  # vectors read and compared at a time


def check_consistency(corpus: Corpus, repair: bool = False, sample: int = SAMPLE) -> ConsistencyReport:
    """Compare every chunk with every vector point, and a sample of vectors with the chunks embedded again;
    with repair, make the index match the records."""
    with corpus._lock:
        try:
            points = corpus.vectors.points()
        except Exception as exc:  # a damaged segment: every read of the index fails
            raise IndexUnreadable(str(corpus.settings.vectors_path)) from exc
        by_chunk = {c.id: (c, d) for c, d in corpus.store.iter_all_chunks()}
        report = ConsistencyReport(chunks=len(by_chunk), points=len(points))
        report.missing_vectors = sorted(set(by_chunk) - set(points))
        report.orphan_points = sorted(set(points) - set(by_chunk))
        report.wrong_status = sorted(
            i for i, (_, status) in points.items() if i in by_chunk and status != by_chunk[i][1].status.value
        )
        present = sorted(set(by_chunk) & set(points))
        checked = random.Random(len(present)).sample(present, min(sample, len(present)))
        report.damaged_vectors = _damaged(corpus, by_chunk, checked)
        report.vectors_checked = len(checked)
        report.keyword_drift = corpus.keyword_drift()
        keyed = sorted(set(by_chunk) & set(corpus.keywords.points()))
        sampled = random.Random(len(keyed)).sample(keyed, min(sample, len(keyed)))
        report.keyword_damaged = corpus.keywords.damaged([by_chunk[i] for i in sampled])
        if repair and report.keyword_damaged and len(sampled) < len(keyed):
            sampled = keyed  # damage seen: look at every point
            report.keyword_damaged = corpus.keywords.damaged([by_chunk[i] for i in keyed])
        report.keywords_checked = len(sampled)
        report.arithmetic = corpus.arithmetic
        if repair and corpus.arithmetic.state == ArithmeticState.DIFFERS:
            corpus.arithmetic = report.arithmetic = arithmetic.reembedded(corpus.arithmetic, corpus.reembed_all(), "by the repair")
            report.damaged_vectors = []  # every vector was just made afresh
            report.repaired = True
        if repair and report.damaged_vectors and len(checked) < len(present):
            report.damaged_vectors = _damaged(corpus, by_chunk, present)  # damage seen: look at every vector
            report.vectors_checked = len(present)
        if repair and not report.consistent:
            corpus.vectors.delete_points(report.orphan_points)
            redo = sorted(set(report.missing_vectors + report.wrong_status + report.damaged_vectors))
            corpus.reembed([by_chunk[i] for i in redo])
            corpus.keywords.add([by_chunk[i] for i in report.keyword_damaged],
                                [_payload(by_chunk[i][1]) for i in report.keyword_damaged])  # fmt: skip
            corpus.sync_keywords()
            report.repaired = True
        return report


def _damaged(corpus: Corpus, by_chunk: dict, ids: list[str]) -> list[str]:
    damaged = []
    for start in range(0, len(ids), _BATCH):
        batch = ids[start : start + _BATCH]
        try:
            stored = corpus.vectors.vectors(batch)
        except Exception as exc:
            raise IndexUnreadable(str(corpus.settings.vectors_path)) from exc
        fresh = corpus.embedder.embed([embedding_text(d, c.section, c.text) for c, d in (by_chunk[i] for i in batch)])
        for i, vector in zip(batch, fresh):
            kept = stored.get(i)
            norm = float(np.linalg.norm(kept)) if kept is not None else 0.0
            if kept is None or not np.isfinite(norm) or norm == 0 or float(kept @ vector) / norm < arithmetic.DAMAGED:
                damaged.append(i)
    return sorted(damaged)


def check_store(settings: Settings, repair: bool = False) -> ConsistencyReport:
    """Open the corpus and check it (`cdmo check`); an index that cannot be opened or read is reported, and
    with repair rebuilt from the records after its folder is moved aside (kept, never deleted here)."""
    try:
        corpus = Corpus(settings, reembed_at_open=False)  # vectors of another arithmetic are reported, or repaired
    except IndexUnreadable as exc:
        return _rebuilt(settings, str(exc)) if repair else _unreadable(settings, exc)
    try:
        return check_consistency(corpus, repair=repair)
    except IndexUnreadable as exc:
        if not repair:
            return _unreadable(settings, exc)
        corpus.close()
        corpus = None
        return _rebuilt(settings, str(exc))
    finally:
        if corpus is not None:
            corpus.close()


def _unreadable(settings: Settings, exc: IndexUnreadable) -> ConsistencyReport:
    """An index that cannot be read, beside what the records hold (they can be read: the repair starts from them)."""
    from core.store import RecordStore

    store = RecordStore(settings.sqlalchemy_url)
    try:
        return ConsistencyReport(chunks=store.counts()["chunks"], points=0, unreadable=str(exc))
    finally:
        store.engine.dispose()


def _rebuilt(settings: Settings, reason: str) -> ConsistencyReport:
    aside = settings.vectors_path.with_name(f"{settings.vectors_path.name}.damaged-{datetime.now(UTC):%Y%m%dT%H%M%S}")
    shutil.move(settings.vectors_path, aside)
    log.warning("rebuilding the vector index from the records; the damaged one is in %s", aside)
    corpus = Corpus(settings, reembed_at_open=False)
    try:
        report = check_consistency(corpus, repair=True)
    finally:
        corpus.close()
    return report.model_copy(update={"unreadable": reason, "rebuilt_from": str(aside)})
