"""Records that prove themselves: keyword points checked against their passages, an audit chain whose head and
length cannot be rewritten unseen (and a head noted elsewhere to prove it against), input bounded and named in
words — on SQLite and PostgreSQL where the store matters."""

import email.message
import io
import zipfile

import pytest
from sqlalchemy import text

from api.ingest import ingest_bytes, ingest_path
from core.audit import audit_entry
from core.auth import LOCAL
from core.portfolio import load_portfolio
from core.search import SearchMode
from retrieval.corpus import Corpus
from retrieval.integrity import check_consistency

pytestmark = pytest.mark.every_store
FILES = ["DEV-2024-031_Investigation_Report.pdf", "CC-2024-052_Change_Notification_Protein_A_Resin.pdf",
         "DEV-2024-044_Buffer_Preparation_Error.pdf"]  # fmt: skip


def test_keyword_points_overwritten_are_found_and_written_anew(make_settings, embedder, corpus_dir, store_kind):
    import qdrant_edge as qe

    corpus = Corpus(make_settings(), embedder=embedder)
    try:
        for name in FILES:
            assert ingest_bytes(corpus, load_portfolio(), name, (corpus_dir / name).read_bytes(), principal=LOCAL).error is None
        query, expected = "protein A resin supplier change notification", FILES[1]
        assert corpus.search(query, limit=1, mode=SearchMode.BM25)[0].filename == expected
        rows = [(c, d) for c, d in corpus.store.iter_all_chunks() if d.filename == expected][:7]
        points = [qe.Point(c.id, {"bm25": qe.SparseVector([1, 2, 3], [0.9, 0.9, 0.9])}, {"document_id": d.id,
                  "status": "current"}) for c, d in rows]  # fmt: skip
        corpus.keywords.shard.update(qe.UpdateOperation.upsert_points(points))  # same ids, other terms
        assert corpus.search(query, limit=1, mode=SearchMode.BM25)[0].filename != expected
        report = check_consistency(corpus)
        assert sorted(report.keyword_damaged) == sorted(c.id for c, _ in rows) and not report.consistent
        repaired = check_consistency(corpus, repair=True)
        assert repaired.repaired and check_consistency(corpus).consistent
        assert corpus.search(query, limit=1, mode=SearchMode.BM25)[0].filename == expected
    finally:
        corpus.close()


def _drop_triggers(store) -> None:
    with store.engine.begin() as db:
        if store.engine.dialect.name == "postgresql":
            db.execute(text("ALTER TABLE audit_log DISABLE TRIGGER USER"))
            db.execute(text("ALTER TABLE audit_head DISABLE TRIGGER USER"))
        else:
            for trigger in ("audit_log_no_update", "audit_log_no_delete", "audit_head_forward", "audit_head_no_delete"):
                db.execute(text(f"DROP TRIGGER {trigger}"))


def _chain(make_settings, entries: int = 6):
    from core.store import RecordStore

    store = RecordStore(make_settings().sqlalchemy_url)
    for n in range(entries):
        store.audit(audit_entry(LOCAL, "question", detail={"question": f"question {n}"}))
    assert store.verify_audit().ok
    return store


def test_an_entry_forged_outside_the_chain_is_seen(make_settings):
    store = _chain(make_settings)
    with store.engine.begin() as db:  # an insert needs no trigger dropped: the log takes rows, never changes them
        db.execute(text("INSERT INTO audit_log (id, at, actor, actor_kind, role, action, outcome, documents, detail) "
                        "VALUES (0, '2024-01-01 00:00:00+00', 'ops', 'user', 'admin', 'approve', 'ok', '[]', '{}')"))  # fmt: skip
    problems = store.verify_audit().problems
    assert any("outside the chain" in p for p in problems), problems
    store.engine.dispose()


def test_the_head_moves_only_forward_and_a_rewritten_head_fails_against_one_noted_before(make_settings):
    from sqlalchemy.exc import DBAPIError

    store = _chain(make_settings)
    noted = store.verify_audit().anchor
    with pytest.raises(DBAPIError, match="audit head"), store.engine.begin() as db:
        db.execute(text("UPDATE audit_head SET seq = seq - 1"))
    with pytest.raises(DBAPIError), store.engine.begin() as db:
        db.execute(text("DELETE FROM audit_head"))
    assert store.verify_audit(tuple(_parts(noted))).ok
    _drop_triggers(store)  # as only the database's administrator could, then: the tail cut, the head rewritten
    with store.engine.begin() as db:
        db.execute(text("DELETE FROM audit_log WHERE seq >= 5"))
        previous = db.execute(text("SELECT hash FROM audit_log WHERE seq = 4")).scalar_one()
        db.execute(text("UPDATE audit_head SET seq = 4, hash = :h"), {"h": previous})
    assert store.verify_audit().ok  # whole, as far as the store alone can tell
    problems = store.verify_audit(tuple(_parts(noted))).problems
    assert any("noted elsewhere" in p and "entry gone" in p for p in problems), problems
    store.engine.dispose()


def _parts(anchor: str):
    from core.audit import parse_anchor

    return parse_anchor(anchor)


def test_a_trail_emptied_under_stored_documents_is_seen(make_settings, embedder, corpus_dir):
    corpus = Corpus(make_settings(), embedder=embedder)
    try:
        for name in FILES[:2]:
            assert ingest_bytes(corpus, load_portfolio(), name, (corpus_dir / name).read_bytes(), principal=LOCAL).error is None
        store = corpus.store
        assert store.verify_audit().ok
        _drop_triggers(store)
        with store.engine.begin() as db:
            db.execute(text("DELETE FROM audit_log"))
            db.execute(text("UPDATE audit_head SET seq = 0, hash = :g"), {"g": "0" * 64})
        problems = store.verify_audit().problems
        assert any("2 stored documents are named by no audit entry" in p for p in problems), problems
    finally:
        corpus.close()


def _email(attachments: int = 0, nested: int = 0) -> bytes:
    message = email.message.EmailMessage()
    message["From"], message["To"], message["Subject"] = "qa@cdmo.example", "sponsor@example.com", "Batch records"
    message.set_content("Please find the batch records attached.")
    for n in range(attachments):
        message.add_attachment(f"Batch record {n}: all steps within limits.\n".encode(), maintype="text",
                               subtype="plain", filename=f"batch-{n}.txt")  # fmt: skip
    raw = message.as_bytes()
    for n in range(nested):  # a message within a message within ...
        raw = (f"From: a@b.example\nSubject: fwd {n}\nMIME-Version: 1.0\nContent-Type: message/rfc822\n\n").encode() + raw
    return raw


def test_attachments_past_the_limit_are_named_not_dropped(make_settings, embedder):
    corpus = Corpus(make_settings(max_attachments=5), embedder=embedder)
    try:
        result = ingest_bytes(corpus, load_portfolio(), "records.eml", _email(attachments=8), principal=LOCAL)
        stored = [a for a in result.attachments if a.error is None]
        refused = [a for a in result.attachments if a.error]
        assert len(stored) == 5 and len(refused) == 3
        assert all("over the 5-attachment limit" in a.error for a in refused)
        assert {a.filename for a in refused} == {f"records.eml - batch-{n}.txt" for n in (5, 6, 7)}
    finally:
        corpus.close()


def test_a_message_nested_thousands_deep_is_refused_by_a_named_limit(make_settings, embedder):
    corpus = Corpus(make_settings(), embedder=embedder)
    try:
        before = corpus.store.counts()
        result = ingest_bytes(corpus, load_portfolio(), "deep.eml", _email(nested=3000), principal=LOCAL)
        assert result.error and "nested messages or multipart parts" in result.error and "limit" in result.error
        assert corpus.store.counts() == before
    finally:
        corpus.close()


def test_a_file_name_is_stored_as_it_reads_and_a_parsers_words_never_reach_a_user(make_settings, embedder, tmp_path):
    corpus = Corpus(make_settings(), embedder=embedder)
    try:
        shown = ingest_bytes(corpus, load_portfolio(), "minutes\u202etxt.exe.md", b"# Minutes\n\nAttendees: A, B.\n",
                             principal=LOCAL)  # fmt: skip
        assert shown.error is None and shown.filename == "minutestxt.exe.md"
        xxe = io.BytesIO()
        with zipfile.ZipFile(xxe, "w") as docx:
            docx.writestr("[Content_Types].xml", '<?xml version="1.0"?><Types xmlns="http://schemas.openxmlformats.org/'
                          'package/2006/content-types"><Default Extension="xml" ContentType="application/xml"/>'
                          '<Override PartName="/word/document.xml" ContentType="application/vnd.openxmlformats-'
                          'officedocument.wordprocessingml.document.main+xml"/></Types>')  # fmt: skip
            docx.writestr("word/document.xml", '<?xml version="1.0"?><!DOCTYPE d [<!ENTITY xxe SYSTEM '
                          '"file:///etc/passwd">]><w:document xmlns:w="http://schemas.openxmlformats.org/'
                          'wordprocessingml/2006/main"><w:body><w:p><w:r><w:t>&xxe;</w:t></w:r></w:p></w:body>'
                          "</w:document>")  # fmt: skip
        path = tmp_path / "hostile.docx"
        path.write_bytes(xxe.getvalue())
        refused = ingest_path(corpus, load_portfolio(), path)
        assert refused.error and "Error" not in refused.error and "xxe" not in refused.error.lower(), refused.error
        assert "/etc/passwd" not in refused.error and "reference" in refused.error
    finally:
        corpus.close()
