"""Which programs a passage concerns (core.passages), read from text shaped like minutes, PDFs and tables."""

from core.documents import Page
from core.passages import MASK, ProgramNames, attribute, mask, paragraphs, sentences
from core.portfolio import load_portfolio

PORTFOLIO = load_portfolio()
OWNERS = {"24-017": "HB-101", "OOS-24-011": "HB-240", "24-011": "HB-101"}


def _programs(text: str) -> dict[str, set[str]]:
    """Each passage's text, with the programs it was given."""
    page = Page(number=1, text=text)
    return {text[p.start : p.end].strip(): set(p.programs) for p in attribute([page], [], ProgramNames(PORTFOLIO), OWNERS)}


def test_a_passage_carries_the_topic_of_its_paragraph_and_its_heading():
    found = _programs(
        "Supply outlook\n\n"
        "Demand for HB-101 drug substance in 2025 is 9 batches. Northgate can commit to 7 batches. "
        "Halvorsen will evaluate a second source.\n\n"
        "Method transfer of the ordesekimab potency bioassay\n\n"
        "The transfer is delayed by four weeks.\n\n"
        "Action items\n\n"
        "Quantix to send the phase I record - Raymond Okafor - 18 October 2024\n"
    )
    assert found["Northgate can commit to 7 batches."] == {"HB-101"}  # the sentence before names it
    assert found["Halvorsen will evaluate a second source."] == {"HB-101"}
    assert found["The transfer is delayed by four weeks."] == {"HB-240"}  # the heading names the product
    assert found["Quantix to send the phase I record - Raymond Okafor - 18 October 2024"] == set()


def test_batch_and_record_numbers_name_their_program_but_not_inside_another_number():
    found = _programs("Batch 24-017 was held.\n\nOOS-24-011 is closed.\n\nThe freezer was defrosted.\n")
    assert found == {"Batch 24-017 was held.": {"HB-101"}, "OOS-24-011 is closed.": {"HB-240"},
                     "The freezer was defrosted.": set()}  # fmt: skip


def test_a_wrapped_pdf_clause_is_one_paragraph_and_the_next_clause_starts_another():
    text = (
        " 1. Purpose and Scope\n"
        " 1.1 This agreement covers veltrusimab drug substance (program HB-101) and the storage\n"
        " of ordesekimab (program HB-240) at the Cork facility until shipment.\n"
        " 1.2 Drug product manufacture is outside the scope of this agreement.\n"
        "   Activity                    Northgate              Sponsor\n"
        "   Batch record review         N                      S\n"
    )
    found = _programs(text)
    clause = next(k for k in found if k.startswith("1.1"))
    assert "until shipment." in clause and found[clause] == {"HB-101", "HB-240"}
    assert found["1.2 Drug product manufacture is outside the scope of this agreement."] == set()
    assert [text[s:e].strip() for s, e, kind in paragraphs(text) if kind == "heading"] == ["1. Purpose and Scope"]
    assert found["Batch record review"] == found["N"] == set()  # cells of a row of its own


def test_abbreviations_do_not_end_a_sentence():
    text = "Chair: Dr. Jonas Berg, Co. Cork. Batch No. 5 was released. The next one follows."
    assert [text[s:e].strip() for s, e in sentences(text, 0, len(text))] == [
        "Chair: Dr. Jonas Berg, Co. Cork.",
        "Batch No. 5 was released.",
        "The next one follows.",
    ]


def test_masking_keeps_every_offset_and_line_break():
    text = "Keep this.\nHide this one.\nKeep that."
    start = text.index("Hide")
    masked = mask(text, [(start, start + len("Hide this one."))])
    assert len(masked) == len(text) and masked.split("\n")[0] == "Keep this." and masked.endswith("\nKeep that.")
    assert set(masked.split("\n")[1]) == {MASK, " "}
    assert mask(text[start:], [(start, start + 4)], offset=start).startswith(MASK * 4 + " this")


def test_a_table_cell_concerns_what_its_column_heading_names():
    found = _programs(
        "Quarter | Veltrusimab batches | Ordesekimab batches\nQ1 2025 | 3 | 0\nQ4 2025 |  | 7\n\nThe plan holds.\n"
    )
    assert found["Q1 2025"] == set() and found["3"] == {"HB-101"} and found["0"] == {"HB-240"}
    assert found["7"] == {"HB-240"}  # an empty cell keeps the columns after it in place
    assert found["The plan holds."] == set()  # the table ended with its last row


def test_a_title_keeps_only_the_names_of_the_programs_a_view_may_see():
    title = "Minutes - HB-101/HB-240 weekly operations call (veltrusimab, ODK)"
    masked = ProgramNames(PORTFOLIO).masked(title, {"HB-240"})
    assert len(masked) == len(title) and "HB-240" in masked and "ODK" in masked
    assert "HB-101" not in masked and "veltrusimab" not in masked and masked.startswith("Minutes - " + MASK * 6 + "/")
