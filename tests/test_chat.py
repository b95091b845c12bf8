"""The chat agent, offline: structured and extractive answers, citations checked, follow-ups, refusals."""

import json
from datetime import date

import pytest

from agents.chat import ChatService
from agents.citations import CitationBook
from core.chat import AnswerKind, ChatScope
from core.evidence import Evidence
from core.portfolio import load_portfolio
from tests.conftest import serve


@pytest.fixture(scope="module")
def chat(chat_corpus):
    return ChatService(chat_corpus, load_portfolio(), today=date(2026, 11, 25))


def _assert_grounded(answer, store):
    """Every citation is the stored page text at its span, and every fact-stating sentence has one."""
    assert answer.citations
    for c in answer.citations:
        assert store.page_text(c.document_id, c.page)[c.start : c.end] == c.quote
    markers = {c.marker for c in answer.citations}
    for s in answer.sentences:
        assert s.citations and set(s.citations) <= markers, s


def test_open_deviations_at_the_ds_site_touching_a_batch(chat, chat_corpus):
    answer = chat.ask("Which open deviations at the DS site touch batch 24-021?")
    assert answer.kind == AnswerKind.STRUCTURED
    assert len(answer.sentences) == 1 and answer.sentences[0].text.startswith("DEV-2024-038")
    _assert_grounded(answer, chat_corpus.store)
    assert any("24-021" in c.quote for c in answer.citations)


def test_a_follow_up_changes_only_what_it_names(chat):
    first = chat.ask("Which deviations were notified late?")
    assert {s.text.split()[0] for s in first.sentences} == {"DEV-2024-044", "NC-2024-0127"}
    follow = chat.ask("and at the DP site?", session_id=first.session_id)
    assert [s.text.split()[0] for s in follow.sentences] == ["NC-2024-0127"]
    again = chat.ask("what about Northgate?", session_id=first.session_id)
    assert [s.text.split()[0] for s in again.sentences] == ["DEV-2024-044"]
    assert len(chat.store.chat_turns(first.session_id)) == 3
    fresh = chat.ask("and at the DP site?")  # a new session has nothing to follow
    assert fresh.kind != AnswerKind.STRUCTURED


def test_counts_capas_past_due_and_qta_gaps(chat, chat_corpus):
    count = chat.ask("How many OOS results are there?")
    assert count.sentences[0].text.startswith("2 OOS records")
    capas = chat.ask("Which CAPAs are past due at Northgate?")
    assert capas.kind == AnswerKind.STRUCTURED and all("past due" in s.text for s in capas.sentences)
    assert all(s.text.startswith(("DEV-2024-038", "DEV-2024-044")) for s in capas.sentences)
    gaps = chat.ask("What are the QTA gaps at Quantix?")
    assert any("Escalation is missing" in s.text for s in gaps.sentences)
    for answer in (count, capas, gaps):
        _assert_grounded(answer, chat_corpus.store)


def test_the_panel_scope_narrows_the_question(chat):
    answer = chat.ask("Which deviations were notified late?", ChatScope(site="SFF-MONZA"))
    assert [s.text.split()[0] for s in answer.sentences] == ["NC-2024-0127"]


def test_an_extractive_answer_quotes_the_report(chat, chat_corpus):
    answer = chat.ask("What caused the temperature excursion in DEV-2024-031?")
    assert answer.kind == AnswerKind.EXTRACTIVE
    assert "solenoid coil" in answer.text
    _assert_grounded(answer, chat_corpus.store)
    for s in answer.sentences:  # an extractive sentence is its passage
        assert " ".join(answer.citations[s.citations[0] - 1].quote.split()) == s.text


@pytest.mark.parametrize(
    "question",
    ["What is the shelf life of ordesekimab drug product?", "Who is the chief executive of Quantix?",
     "Which open deviations at Quantix touch batch 24-017?"],
)
def test_nothing_in_the_corpus_means_no_answer(chat, question):
    answer = chat.ask(question)
    assert answer.kind == AnswerKind.NO_ANSWER and not answer.citations
    assert "nothing" in answer.text.lower()


def test_the_injected_paragraph_is_never_quoted(chat):
    answer = chat.ask("What does DEV-2024-044 say about the classification and release of batch 24-035?")
    assert all("ignore previous instructions" not in c.quote.lower() for c in answer.citations)


def test_a_citation_must_be_the_page_text_and_carry_the_sentences_figures(chat_corpus):
    book = CitationBook(chat_corpus.store)
    doc = next(d for d in chat_corpus.store.list_documents() if d.filename.startswith("DEV-2024-038"))
    text = chat_corpus.store.page_text(doc.id, 1)
    at = text.index("Reported to sponsor")
    quote = text[at : text.index(".", at + 25) + 1]
    real = Evidence(document_id=doc.id, page=1, start=at, end=at + len(quote), quote=quote)
    assert book.sentence("DEV-2024-038 was reported to the sponsor on 16 October 2024.", [real]) is None  # id absent
    assert book.sentence("It was reported to the sponsor on 16 October 2024.", [real]).citations == [1]
    assert book.sentence("It was reported to the sponsor on 17 October 2024.", [real]) is None  # wrong date
    moved = real.model_copy(update={"start": at + 3, "end": at + 3 + len(quote)})
    assert book.sentence("It was reported to the sponsor on 16 October 2024.", [moved]) is None  # not at that span
    assert book.dropped == 3


def test_post_chat_streams_events_and_keeps_the_session(chat_corpus, embedder):
    with serve(chat_corpus.settings, embedder, corpus=chat_corpus) as http:
        with http.stream("POST", "/chat", json={"question": "Which open deviations touch batch 24-021?"}) as r:
            assert r.status_code == 200 and r.headers["content-type"].startswith("text/event-stream")
            events = [
                (block.split("\n")[0].removeprefix("event: "), json.loads(block.split("\n")[1].removeprefix("data: ")))
                for block in r.read().decode().strip().split("\n\n")
            ]
        types = [t for t, _ in events]
        assert types[0] == "start" and types[-1] == "done" and "sentence" in types
        assert types.index("citation") < types.index("sentence")  # a sentence never cites what was not sent
        session = events[0][1]["session_id"]
        turns = http.get(f"/chat/sessions/{session}").json()
        assert turns[0]["answer"]["sentences"][0]["text"].startswith("DEV-2024-038")
        assert http.post("/chat", json={"question": ""}).status_code == 422
        page = http.get(f"/documents/{turns[0]['answer']['citations'][0]['document_id']}/pages/1").json()
        c = turns[0]["answer"]["citations"][0]
        assert page["text"][c["start"] : c["end"]] == c["quote"]


def test_past_due_is_judged_on_the_apps_day_of_judgement(chat_corpus, monkeypatch):
    """Without a day given, chat judges on CDMO_AS_OF like the dashboard and the digest, asked at each question."""
    service = ChatService(chat_corpus, load_portfolio())
    monkeypatch.setattr(chat_corpus.settings, "as_of", date(2024, 9, 1))  # before every CAPA of the corpus is due
    early = service.ask("Which CAPAs are past due at Northgate?")
    assert not any("past due" in s.text for s in early.sentences)
    monkeypatch.setattr(chat_corpus.settings, "as_of", date(2026, 11, 25))
    late = service.ask("Which CAPAs are past due at Northgate?")
    assert late.kind == AnswerKind.STRUCTURED and any("past due" in s.text for s in late.sentences)


def test_a_question_about_a_record_outside_the_chosen_scope_says_so(chat):
    stellaris = ChatScope(site="SFF-MONZA")
    answer = chat.ask("What was the root cause of DEV-2024-031?", scope=stellaris)  # a Northgate record
    assert answer.kind == AnswerKind.NO_ANSWER and not answer.citations
    assert answer.sentences[0].text.startswith("Record DEV-2024-031 belongs to Northgate Biologics Cork")
    batch = chat.ask("What happened with batch 24-017?", scope=stellaris)
    assert batch.kind == AnswerKind.NO_ANSWER and "batch 24-017" in batch.sentences[0].text.lower()
    named = chat.ask("Which deviations were notified late at Northgate?", scope=stellaris)
    assert named.kind == AnswerKind.NO_ANSWER and "outside the chosen scope" in named.sentences[0].text
    inside = chat.ask("What was the root cause of DEV-2024-031?", scope=ChatScope(site="NGB-CORK"))
    assert inside.kind != AnswerKind.NO_ANSWER and inside.citations


def test_a_list_of_gaps_is_whole_and_says_so(chat, chat_corpus):
    answer = chat.ask("What are the QTA gaps at Stellaris?")
    count, *gaps = answer.sentences
    assert count.text == "SFF-MONZA: 11 gaps in the agreement; all listed." and len(gaps) == 11
    assert any("conflicting" in g.text for g in gaps)  # the one that was dropped before: its reason names articles
    assert set(count.citations) == {m for g in gaps for m in g.citations}  # a count cites every item counted
    _assert_grounded(answer, chat_corpus.store)


def test_a_question_about_an_agreements_terms_is_answered_from_the_agreement(chat, chat_corpus):
    stellaris = chat.ask("What is the notification time for critical deviations in the Stellaris quality agreement?")
    assert stellaris.kind == AnswerKind.STRUCTURED
    (sentence,) = stellaris.sentences
    assert sentence.text.startswith("SFF-MONZA, deviations and oos (conflicting)")
    assert "2 business days" in sentence.text and "5 business days" in sentence.text
    agreement = next(d for d in chat_corpus.store.list_documents(kind="qta") if d.metadata.sites == ["SFF-MONZA"])
    assert {c.document_id for c in stellaris.citations} == {agreement.id}
    northgate = chat.ask("Within how many business days must Northgate notify the sponsor of a critical deviation?")
    assert "1 business day" in northgate.sentences[0].text
    _assert_grounded(northgate, chat_corpus.store)
    assert chat.ask("Which deviations were notified late?").sentences[0].text.startswith("DEV-")  # still events


def test_what_happened_with_a_batch_and_the_capas_of_a_program(chat, chat_corpus):
    batch = chat.ask("What happened with batch 24-017?")
    assert batch.kind == AnswerKind.STRUCTURED and batch.sentences[0].text.startswith("DEV-2024-031")
    capas = chat.ask("Summarise the open CAPAs for HB-101")
    lead, *items = capas.sentences
    assert lead.text.startswith(f"{len(items)} CAPAs in the open events of HB-101; all listed")
    assert items and all("CAPA" in s.text and "(open)" in s.text for s in items)
    for answer in (batch, capas):
        _assert_grounded(answer, chat_corpus.store)


def test_notified_late_cites_both_dates_and_the_clause_with_its_limit(chat, chat_corpus):
    answer = chat.ask("Which deviations were notified late?")
    first = answer.sentences[0]
    assert "business days after detection; the quality agreement allows" in first.text
    cited = [c for c in answer.citations if c.marker in first.citations]
    quotes = " ".join(" ".join(c.quote.split()) for c in cited)
    assert "Sponsor notified 12 November 2024" in quotes and "Date detected 4 November 2024" in quotes
    agreement = next(d for d in chat_corpus.store.list_documents(kind="qta") if d.metadata.sites == ["NGB-CORK"])
    assert agreement.id in {c.document_id for c in cited}


def test_a_question_naming_two_kinds_of_document_is_answered_from_both(chat, chat_corpus):
    answer = chat.ask("What did the audit and the monthly quality review say about glove integrity testing at Stellaris?")
    kinds = {chat_corpus.store.get(c.document_id).kind.value for c in answer.citations}
    assert {"audit_report", "meeting_minutes"} <= kinds
    assert "weekly" in answer.text and "glove tester" in answer.text
    _assert_grounded(answer, chat_corpus.store)


def test_when_questions_about_a_record_give_its_dates_with_their_passages(chat, chat_corpus):
    answer = chat.ask("When was the OOS-24-007 result obtained and when was Halvorsen informed of it?")
    assert answer.kind == AnswerKind.STRUCTURED
    assert "detected on 7 October 2024" in answer.text and "14 October 2024" in answer.text
    _assert_grounded(answer, chat_corpus.store)
