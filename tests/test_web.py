"""The web app in a real browser: Debian's headless Chromium driven by Playwright, against the real server.

Upload with progress, the documents list and its filters, a streamed cited answer, a citation opened on its
highlighted passage, and document text holding markup shown as text, never run.
"""



HOSTILE_NOTE = (
    "Freezer Alarm Note\n\n"
    "On 3 March 2025 the freezer alarm for cold room CR-7 was silenced <img src=x onerror=\"window.pwned=1\"> "
    "by the night shift <script>window.pwned=2</script> while batch 24-099 was in storage.\n"
)


def test_upload_ask_and_open_the_cited_passage(browser, site, corpus_dir, tmp_path):
    note = tmp_path / "freezer_note.txt"
    note.write_text(HOSTILE_NOTE)
    page = browser.new_page()
    page.goto(str(site.base_url))
    page.click("#tab-documents")
    page.set_input_files("#files", [str(corpus_dir / "DEV-2024-038_Chromatography_Skid_Downtime.docx"), str(note)])
    page.click("#upload")
    page.wait_for_function("document.querySelector('#upload-status').textContent === 'Done'", timeout=90_000)
    assert page.eval_on_selector("#upload-progress", "p => p.value") == 100  # uploaded, then read: the jobs
    assert page.locator("#upload-results li", has_text="added").count() == 2
    page.wait_for_function("document.querySelectorAll('#documents tbody tr').length === 2")  # listed after
    assert page.locator("#documents a", has_text="Triage").count() == 1  # the deviation's triage view

    page.select_option("#filter-kind", "deviation_report")
    page.wait_for_function("document.querySelectorAll('#documents tbody tr').length === 1")

    page.click("#tab-chat")
    page.fill("#question", "Which open deviations touch batch 24-021?")
    page.click("#ask")
    answer = page.locator(".turn .a").last
    answer.locator(".meta").wait_for(timeout=60_000)  # written when the stream is done
    assert "DEV-2024-038" in answer.locator(".sentence").first.inner_text()
    assert "structured" in answer.locator(".meta").inner_text()

    assert answer.locator(".cite").count() == 1  # one passage carries the record, its class and the batch
    answer.locator(".cite").first.click()  # "Deviation number: DEV-2024-038. Classification: Major. ... 24-021"
    page.locator("#source mark").wait_for()
    assert page.locator("#source").is_visible()
    assert "24-021" in page.locator("#source mark").inner_text()
    assert page.locator("#source-text").inner_text().count(page.locator("#source mark").inner_text()) >= 1
    assert page.evaluate("document.querySelector('#source mark').getBoundingClientRect().height") > 0

    page.fill("#question", "Who silenced the freezer alarm for cold room CR-7?")
    page.click("#ask")
    answer = page.locator(".turn .a").last
    answer.locator(".meta").wait_for(timeout=60_000)
    text = answer.locator(".sentence").first.inner_text()
    assert '<img src=x onerror="window.pwned=1">' in text and "<script>window.pwned=2</script>" in text
    answer.locator(".cite").first.click()
    page.wait_for_function("document.querySelector('#source mark').textContent.includes('<script>')")
    assert page.evaluate("window.pwned") is None  # shown as text, never run
    assert page.locator(".a img, #source img, .a script, #source script").count() == 0
    page.close()


def test_a_failed_upload_names_the_file_and_the_reason(browser, site, tmp_path):
    empty = tmp_path / "empty.pdf"
    empty.write_bytes(b"")
    page = browser.new_page()
    page.goto(str(site.base_url))
    page.click("#tab-documents")
    page.set_input_files("#files", str(empty))
    page.click("#upload")
    failure = page.locator("#upload-results li.failed")
    failure.wait_for(timeout=30_000)
    assert failure.inner_text().startswith("empty.pdf: failed:")
    assert page.locator("#documents tbody tr").count() == 0
    page.close()


def test_a_conversation_survives_a_reload_and_exports_with_its_citations(browser, site, corpus_dir):
    from tests.conftest import upload

    deviation = corpus_dir / "DEV-2024-038_Chromatography_Skid_Downtime.docx"
    assert upload(site, [("files", (deviation.name, deviation.read_bytes()))]).status_code in (200, 201)
    page = browser.new_page()
    page.goto(str(site.base_url))
    page.fill("#question", "Which open deviations touch batch 24-021?")
    page.click("#ask")
    page.locator(".turn .a .meta").wait_for(timeout=60_000)
    page.reload()  # the conversation comes back from the server, under the id the browser kept
    page.locator(".turn .a .meta").wait_for(timeout=30_000)
    assert page.locator(".turn .q").first.inner_text() == "Which open deviations touch batch 24-021?"
    assert "DEV-2024-038" in page.locator(".turn .a .sentence").first.inner_text()
    listed = page.locator("#sessions button", has_text="batch 24-021")  # and is listed to reopen (its own request)
    listed.wait_for(state="attached")
    assert listed.count() == 1
    exported = site.get(page.get_attribute("#export-session", "href"))
    assert exported.status_code == 200 and exported.headers["content-type"].startswith("text/markdown")
    markdown = exported.text
    assert "## 1. Which open deviations touch batch 24-021?" in markdown
    assert "Sources:" in markdown and "(`DEV-2024-038_Chromatography_Skid_Downtime.docx`), page 1" in markdown
    assert "[1]" in markdown.split("Sources:")[0] and '- [1] Deviation Report DEV-2024-038' in markdown
    one = site.get(page.get_attribute(".turn .a .meta a.export", "href"))
    assert one.status_code == 200 and one.text.count("## ") == 1
    page.click("#new-session")
    page.reload()
    assert page.locator(".turn").count() == 0  # a new conversation is not the old one
    page.close()


def test_a_pdf_citation_opens_highlighted_on_the_drawn_page_and_next_walks_the_answer(browser, site, corpus_dir):
    from tests.conftest import upload

    late = corpus_dir / "NC-2024-0127_Stellaris_Filling_Interruption.pdf"
    assert upload(site, [("files", (late.name, late.read_bytes()))]).status_code in (200, 201)
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    page.goto(str(site.base_url))
    page.fill("#question", "What was the root cause of the torn isolator glove on lot F4480, and which CAPAs followed?")
    page.click("#ask")
    answer = page.locator(".turn .a").last
    answer.locator(".meta").wait_for(timeout=60_000)
    cites = answer.locator(".cite")
    markers = set(cites.all_inner_texts())  # a passage cited by several sentences is one citation
    assert len(markers) >= 2
    cites.first.click()
    page.wait_for_function("document.querySelector('#source .scan img')?.naturalWidth > 0", timeout=30_000)
    assert page.locator("#source-position").inner_text() == f"citation 1 of {len(markers)}"
    assert page.locator("#source-previous").is_disabled() and not page.locator("#source-next").is_disabled()
    image = page.locator("#source .scan img").bounding_box()
    boxes = page.locator("#source .word-box")
    assert boxes.count() >= 1 and not page.locator("#source-text-view").get_attribute("open")  # the page shows it
    for i in range(boxes.count()):  # on the page, not beside it
        box = boxes.nth(i).bounding_box()
        assert image["x"] <= box["x"] and box["x"] + box["width"] <= image["x"] + image["width"] + 2
        assert image["y"] <= box["y"] and box["y"] + box["height"] <= image["y"] + image["height"] + 2
    page.keyboard.press("Escape")
    assert page.locator("#source").is_hidden()
    cites.first.click()
    page.locator("#source-next").wait_for()  # the pane is open again
    page.locator("#source-next").focus()
    page.keyboard.press("Enter")  # the next citation, from the keyboard
    page.wait_for_function("document.querySelector('#source-position').textContent.startsWith('citation 2 of')")
    assert not page.locator("#source-previous").is_disabled()
    page.close()
