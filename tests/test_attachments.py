"""An e-mail's attachments are documents too: each is ingested, or its failure is named."""

from email.message import EmailMessage

from api.ingest import ingest_bytes
from core.documents import IngestStatus


def _mail_with_attachments(corpus_dir) -> bytes:
    msg = EmailMessage()
    msg["From"] = "qa@stellaris.example"
    msg["To"] = "sponsor.qa@halvorsenbio.example"
    msg["Subject"] = "NC-2024-0127 final report attached"
    msg["Date"] = "Mon, 18 Nov 2024 09:12:00 +0100"
    msg.set_content("Dear Elena,\n\nplease find the final non-conformance report for lot F4480 attached.\n")
    report = (corpus_dir / "NC-2024-0127_Stellaris_Filling_Interruption.pdf").read_bytes()
    msg.add_attachment(report, maintype="application", subtype="pdf", filename="NC-2024-0127.pdf")
    msg.add_attachment(b"MZ\x90\x00" + bytes(300), maintype="application", subtype="octet-stream", filename="viewer.exe")
    msg.add_attachment(b"notes", maintype="text", subtype="plain", filename="../../etc/cron.d/x.txt")
    return bytes(msg)


def test_attachments_are_ingested_as_their_own_documents(empty_corpus, portfolio, corpus_dir):
    result = ingest_bytes(empty_corpus, portfolio, "cover.eml", _mail_with_attachments(corpus_dir))
    assert result.status == IngestStatus.ADDED and result.supersedes is None
    by_name = {a.filename: a for a in result.attachments}
    report = by_name["cover.eml - NC-2024-0127.pdf"]
    assert report.status == IngestStatus.ADDED and report.kind == "deviation_report"
    assert report.supersedes is None, "a covering e-mail and the report it carries are different documents"
    assert "unsupported file type" in by_name["cover.eml - viewer.exe"].error
    assert next(a for a in result.attachments if "cron.d" in a.filename).status == IngestStatus.FAILED
    stored = {d.filename for d in empty_corpus.store.list_documents()}
    assert stored == {"cover.eml", "cover.eml - NC-2024-0127.pdf"}
    hits = empty_corpus.search("how many vials were filled while the glove was torn", limit=3)
    assert hits[0].filename == "cover.eml - NC-2024-0127.pdf"


def test_two_emails_with_the_same_text_are_two_documents(empty_corpus, portfolio, corpus_dir):
    """Resent with another attachment, the same covering text must not supersede the first message."""
    first = _mail_with_attachments(corpus_dir)
    second = first.replace(b"viewer.exe", b"viewer2.exe")
    a = ingest_bytes(empty_corpus, portfolio, "first.eml", first)
    b = ingest_bytes(empty_corpus, portfolio, "second.eml", second)
    assert a.status == b.status == IngestStatus.ADDED and b.supersedes is None
