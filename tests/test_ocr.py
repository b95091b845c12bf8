"""Scanned pages read by Tesseract: page numbers, word boxes, confidence, tables, and nothing skipped quietly.

The scans are the fixture generator's: real PDFs rendered to noisy, skewed images and back to image-only PDFs.
"""

import io
import sqlite3
import zlib
from datetime import date
from email.message import EmailMessage

import numpy as np
import pypdfium2 as pdfium
import pytest
from PIL import Image
from reportlab.lib.utils import ImageReader
from reportlab.pdfgen import canvas

from agents.chat import ChatService
from core.auth import Principal, Role
from core.config import Settings
from core.errors import IngestError
from core.passages import MASK, PassagePrograms
from core.portfolio import load_portfolio
from core.programs import load_programs
from core.scope import ScopedStore
from core.store import RecordStore
from eval.ocr import character_accuracy
from fixtures.scans import build_scans, load_ground_truth
from ingestion.pipeline import prepare
from retrieval.corpus import Corpus
from tests.conftest import results, serve, upload
from tests.test_tables import generated_table, record_of

BPR = "SCAN_BPR_HB-101_DS_24-017.pdf"


def _pdf(*pages) -> bytes:
    """A PDF whose pages are each a line of text (str), an image (ndarray), or blank (None)."""
    out = io.BytesIO()
    c = canvas.Canvas(out, pagesize=(612, 792))
    for page in pages:
        if isinstance(page, str):
            c.drawString(72, 700, page)
        elif page is not None:
            c.drawImage(ImageReader(Image.fromarray(page)), 0, 0, 612, 792)
        c.showPage()
    c.save()
    return out.getvalue()


def _noise(seed: int = 0) -> np.ndarray:
    return (np.random.default_rng(seed).random((1100, 850)) * 255).astype(np.uint8)


@pytest.fixture(scope="module")
def server(tmp_path_factory, embedder, scans):
    """The app with the scanned batch record and a half-readable file uploaded."""
    settings = Settings(data_dir=tmp_path_factory.mktemp("ocr-data"))
    (settings.data_dir / "models").mkdir()
    corpus = Corpus(settings, embedder=embedder)
    with serve(settings, embedder, corpus=corpus) as http:
        mixed = _pdf(
            "Batch 24-099 release summary: every in-process control passed and QA approved it.", _noise(), None
        )
        files = [("files", (BPR, (scans / BPR).read_bytes())), ("files", ("mixed.pdf", mixed))]
        response = upload(http, files)
        assert response.status_code == 201, response.text
        yield http, corpus, {r["filename"]: r for r in results(response)}
    corpus.close()


def test_a_scanned_batch_record_is_read_page_by_page(server, scans):
    http, _, results = server
    result = results[BPR]
    assert result["status"] == "added" and result["kind"] == "batch_record"
    assert result["pages"] == 3 and result["ocr_pages"] == [1, 2, 3] and result["unreadable_pages"] == []
    truth = load_ground_truth(scans)[BPR]
    for number, printed in enumerate(truth["pages"], start=1):
        page = http.get(f"/documents/{result['document_id']}/pages/{number}").json()
        assert character_accuracy(page["text"], printed) > 0.95, (number, page["text"][:300])
        scan = page["scan"]
        assert scan["page"] == number and 80 < scan["confidence"] <= 100
        assert abs(scan["skew_degrees"] + truth["skew_degrees"][number - 1]) < 0.2  # turned back straight
        assert len(scan["words"]) > 30
        for word in scan["words"]:
            assert page["text"][word["start"] : word["end"]] == word["text"]
            assert 0 <= word["left"] and word["left"] + word["width"] <= 1
            assert 0 <= word["top"] and word["top"] + word["height"] <= 1
        image = http.get(page["image_url"])
        assert image.status_code == 200 and image.headers["content-type"] == "image/jpeg"
        width, height = Image.open(io.BytesIO(image.content)).size
        assert 1200 < width < height  # a portrait page at the stored resolution


def test_a_scanned_table_keeps_its_rows_columns_and_cell_places(server):
    http, _, results = server
    doc_id = results[BPR]["document_id"]
    tables = http.get(f"/documents/{doc_id}/tables").json()
    wanted = generated_table(record_of("24-017"), "Culture day")
    culture = next(t for t in tables if t["header"][0]["text"] == "Culture day")
    assert len(culture["header"]) == len(wanted[0]) and len(culture["rows"]) == len(wanted) - 1
    page = http.get(f"/documents/{doc_id}/pages/{culture['page']}").json()["text"]
    cells = [c["text"] for row in culture["rows"] for c in row["cells"]]
    right = sum(got == want for got, want in zip(cells, [v for row in wanted[1:] for v in row]))
    assert right >= 0.9 * len(cells)  # OCR may misread a digit or two, never the table's shape
    for row in culture["rows"]:
        for cell in row["cells"]:
            assert " ".join(page[a:b] for a, b in cell["spans"]) == cell["text"]


def test_chat_reads_a_cell_of_a_scanned_table(server):
    _, corpus, _ = server
    value = next(r for r in generated_table(record_of("24-017"), "Culture day") if r[0] == "12")[1]
    answer = ChatService(corpus, load_portfolio(), today=date(2026, 11, 25)).ask(
        "What was the viable cell density on day 12 of batch 24-017?"
    )
    assert f"was {value}." in answer.sentences[0].text, answer.text
    assert all(c.filename == BPR for c in answer.citations)


def test_a_page_that_cannot_be_read_is_reported_by_number_and_reason(server):
    http, _, results = server
    mixed = results["mixed.pdf"]
    assert mixed["status"] == "added" and mixed["ocr_pages"] == []
    reasons = {u["page"]: u["reason"] for u in mixed["unreadable_pages"]}
    assert set(reasons) == {2, 3}
    assert "confidence" in reasons[2] and "blank" in reasons[3]
    listed = http.get("/documents/unreadable-pages").json()
    assert {(u["filename"], u["page"]) for u in listed} == {("mixed.pdf", 2), ("mixed.pdf", 3)}
    assert http.get(f"/documents/{mixed['document_id']}/pages/2/image").status_code == 200  # to look at
    hits = http.get("/search", params={"q": "batch 24-099 release summary"}).json()
    assert hits and hits[0]["filename"] == "mixed.pdf"  # the readable page is stored and found


def test_a_file_with_no_readable_page_is_refused_by_name_and_changes_nothing(server):
    http, corpus, _ = server
    before = corpus.store.counts()
    response = upload(http, [("files", ("noise.pdf", _pdf(_noise(1), None)))])
    (result,) = results(response)
    assert result["status"] == "failed" and result["filename"] == "noise.pdf"
    assert "no readable text" in result["error"] and ("pages 1-2:" in result["error"] or "page 2:" in result["error"])
    assert corpus.store.counts() == before


def test_without_tesseract_a_scan_is_reported_not_skipped(tmp_path, scans):
    settings = Settings(data_dir=tmp_path, tesseract_cmd=str(tmp_path / "no-tesseract"))
    with pytest.raises(IngestError) as error:
        prepare(BPR, (scans / BPR).read_bytes(), settings, load_portfolio())
    assert BPR in str(error.value) and "not installed" in str(error.value)
    text_first = _pdf("A digital cover page that reads without OCR, signed and dated by the QA lead.", _noise())
    prepared = prepare("cover.pdf", text_first, settings, load_portfolio())
    (unread,) = prepared.document.unreadable_pages
    assert unread.page == 2 and "not installed" in unread.reason


def test_scanned_fixtures_are_the_same_bytes_on_every_build(scans, corpus_dir, tmp_path):
    again = build_scans(corpus_dir, tmp_path)
    assert {p.name: p.read_bytes() for p in again} == {p.name: (scans / p.name).read_bytes() for p in again}
    truth = load_ground_truth(tmp_path)
    assert {t["digital"].split("_")[0] for t in truth.values()} == {"QA-NGB-HB-002", "BPR", "DEV-2024-031"}


def test_a_store_from_before_ocr_gains_its_columns(tmp_path, corpus_dir):
    settings = Settings(data_dir=tmp_path)
    store = RecordStore(settings.sqlalchemy_url)
    path = corpus_dir / "DEV-2024-031_Investigation_Report.pdf"
    store.add(prepare(path.name, path.read_bytes(), settings, load_portfolio()))
    store.engine.dispose()
    with sqlite3.connect(settings.data_dir / "records.sqlite3") as db:  # the store as the previous release left it
        db.execute("ALTER TABLE documents DROP COLUMN ocr_pages")
        db.execute("ALTER TABLE documents DROP COLUMN unreadable_pages")
    store = RecordStore(settings.sqlalchemy_url)
    (doc,) = store.list_documents()
    assert doc.filename == path.name and doc.ocr_pages == [] and doc.unreadable_pages == []
    store.engine.dispose()


def _page_images(pdf: bytes, dpi: int) -> list[Image.Image]:
    document = pdfium.PdfDocument(pdf)
    try:
        return [page.render(scale=dpi / 72).to_pil().convert("L") for page in document]
    finally:
        document.close()


def _encoded(images: list[Image.Image], image_format: str, **options) -> bytes:
    out = io.BytesIO()
    images[0].save(out, format=image_format, save_all=len(images) > 1, append_images=images[1:], **options)
    return out.getvalue()


def test_a_scan_sent_as_an_image_file_is_read_like_a_scanned_pdf(tmp_path, scans):
    """A PNG that states its resolution, and a two-page TIFF that states none, read page by page."""
    settings, truth = Settings(data_dir=tmp_path), load_ground_truth(scans)
    qta = "SCAN_QA-NGB-HB-002_Quality_Agreement_Northgate_Rev3.pdf"
    png = _encoded(_page_images((scans / BPR).read_bytes(), 200)[:1], "PNG", dpi=(200, 200))
    tiff = _encoded(_page_images((scans / qta).read_bytes(), 150)[:2], "TIFF", compression="tiff_lzw")
    for name, data, source in (("bpr_page1.png", png, BPR), ("qta_pages.tiff", tiff, qta)):
        prepared = prepare(name, data, settings, load_portfolio())
        doc = prepared.document
        assert doc.file_type == "image" and doc.ocr_pages == list(range(1, len(prepared.pages) + 1))
        assert doc.unreadable_pages == [] and len(prepared.pages) == (1 if name.endswith("png") else 2)
        for page in prepared.pages:
            accuracy = character_accuracy(page.text, truth[source]["pages"][page.number - 1])
            assert accuracy > 0.95, (name, page.number, accuracy, page.text[:300])
        assert all(len(s.words) > 30 and s.image_jpeg for s in prepared.scans)
    assert prepare("bpr_page1.png", png, settings, load_portfolio()).document.kind == "batch_record"


def test_a_bad_image_file_is_refused_by_name_and_reason(tmp_path):
    settings = Settings(data_dir=tmp_path)
    blank = _encoded([Image.new("L", (1700, 2200), 255)], "PNG")
    small = _encoded([Image.new("L", (40, 40), 255)], "PNG")
    ihdr = small[16:29]  # width, height, depth, colour type, compression, filter, interlace
    huge = ihdr[:0] + (9000).to_bytes(4, "big") + (9000).to_bytes(4, "big") + ihdr[8:]
    bomb = small[:16] + huge + zlib.crc32(b"IHDR" + huge).to_bytes(4, "big") + small[33:]
    for name, data, reason in (
        ("truncated.png", blank[:200], "page 1: the page image cannot be decoded"),
        ("blank.png", blank, "page 1: the page is blank"),
        ("bomb.png", bomb, "9,000 x 9,000-pixel image, over the 60,000,000-pixel limit per page"),
        ("fake.jpg", b"%PDF-1.4 not an image", "name says IMAGE"),
        ("noise.tiff", b"II*\x00" + bytes(500), "corrupt or unreadable image"),
    ):
        with pytest.raises(IngestError) as error:
            prepare(name, data, settings, load_portfolio())
        assert error.value.filename == name and reason in error.value.reason, (name, error.value.reason)


def test_a_scan_attached_to_an_email_is_read_as_a_document_of_its_own(server, scans):
    http, _, _ = server
    message = EmailMessage()
    message["From"], message["To"] = "qa@stellaris.example", "priya.raman@halvorsenbio.example"
    message["Subject"] = "Signed quality agreement, first page"
    message.set_content("Please find attached the scanned first page of the signed quality agreement.")
    qta = "SCAN_QA-NGB-HB-002_Quality_Agreement_Northgate_Rev3.pdf"
    page = _encoded(_page_images((scans / qta).read_bytes(), 200)[:1], "JPEG", dpi=(200, 200), quality=90)
    message.add_attachment(page, maintype="image", subtype="jpeg", filename="QTA_p1.jpg")
    (result,) = results(upload(http, [("files", ("scan_mail.eml", message.as_bytes()))]))
    (attached,) = result["attachments"]
    assert attached["filename"] == "scan_mail.eml - QTA_p1.jpg" and attached["status"] == "added"
    assert attached["ocr_pages"] == [1] and attached["unreadable_pages"] == []
    text = http.get(f"/documents/{attached['document_id']}/pages/1").json()["text"]
    assert character_accuracy(text, load_ground_truth(scans)[qta]["pages"][0]) > 0.95


def test_a_scanned_page_of_two_programs_is_blacked_out_where_a_scoped_view_may_not_read(tmp_path, scans):
    """The scanned Northgate agreement covers HB-101 and HB-240: to an HB-240 view the scope clause naming
    both is masked in the OCR words and painted over on the page image; the rest of the page is untouched."""
    settings = Settings(data_dir=tmp_path)
    store = RecordStore(settings.sqlalchemy_url)
    name = "SCAN_QA-NGB-HB-002_Quality_Agreement_Northgate_Rev3.pdf"
    prepared = prepare(name, (scans / name).read_bytes(), settings, load_portfolio())
    store.add(prepared)
    doc = prepared.document
    hb240 = Principal(name="partner", kind="key", role=Role.VIEWER, programs=["HB-240"])
    view = ScopedStore(store, hb240, PassagePrograms(store, load_portfolio(), load_programs()))
    full, seen = store.page_scan(doc.id, 1), view.page_scan(doc.id, 1)
    hidden = [w for w, s in zip(full.words, seen.words) if s.text != w.text]
    shown = [w for w, s in zip(full.words, seen.words) if s.text == w.text]
    assert hidden and all(set(s.text) == {MASK} for w, s in zip(full.words, seen.words) if s.text != w.text)
    assert {"veltrusimab", "HB-240)"} & {w.text for w in hidden} and len(shown) > 5 * len(hidden)
    assert "veltrusimab" not in view.page_text(doc.id, 1) and "Definitions" in view.page_text(doc.id, 1)

    def pixels(jpeg: bytes) -> np.ndarray:
        return np.asarray(Image.open(io.BytesIO(jpeg)).convert("L"), dtype=float)

    before, after = pixels(store.page_image(doc.id, 1)), pixels(view.page_image(doc.id, 1))
    height, width = before.shape

    def box(image, w):
        return image[int(w.top * height) : int((w.top + w.height) * height) + 1,
                     int(w.left * width) : int((w.left + w.width) * width) + 1]  # fmt: skip

    assert all(box(after, w).mean() < 20 for w in hidden)  # painted over
    assert np.mean([box(before, w).mean() for w in hidden]) > 100  # where there was dark text on white
    assert np.mean([abs(box(after, w) - box(before, w)).mean() for w in shown]) < 6  # JPEG noise at most


def test_the_web_app_boxes_a_cited_cell_on_the_scanned_page(server, browser):
    http, _, _ = server
    page = browser.new_page()
    page.goto(str(http.base_url))
    page.fill("#question", "What was the viable cell density on day 12 of batch 24-017?")
    page.click("#ask")
    answer = page.locator(".turn .a").last
    answer.locator(".meta").wait_for(timeout=60_000)
    answer.locator(".cite").nth(1).click()  # the table row of day 12
    page.wait_for_function("document.querySelector('#source .scan img')?.naturalWidth > 0", timeout=30_000)
    boxes = page.locator("#source .word-box")
    words = page.locator("#source mark").text_content().split()  # the page text, folded away below the drawn page
    assert boxes.count() == len(words) and [boxes.nth(i).get_attribute("title") for i in range(len(words))] == words
    image = page.locator("#source .scan img").bounding_box()
    scanned = next(d for d in http.get("/documents").json() if d["filename"] == BPR)
    placed = {w["start"]: w for w in http.get(f"/documents/{scanned['id']}/pages/1").json()["scan"]["words"]}
    for i in range(boxes.count()):
        box, word = boxes.nth(i).bounding_box(), placed[int(boxes.nth(i).get_attribute("data-start"))]
        # drawn where OCR found the word on the image, to the pixel
        assert abs(box["x"] - image["x"] - word["left"] * image["width"]) < 2
        assert abs(box["y"] - image["y"] - word["top"] * image["height"]) < 2
    page.close()
