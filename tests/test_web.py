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

    citation = answer.locator(".cite").nth(2)  # "Reported to sponsor: 16 October 2024."
    citation.click()
    page.locator("#source mark").wait_for()
    assert page.locator("#source").is_visible()
    assert "16 October 2024" in page.locator("#source mark").inner_text()
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
