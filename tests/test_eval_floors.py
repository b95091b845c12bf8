"""The retrieval eval on the sample corpus must stay at or above its floors (eval/floors.yaml)."""

from pathlib import Path

import yaml

from core.search import SearchMode
from eval.retrieval import check_gold, load_gold, score

FLOORS = yaml.safe_load((Path(__file__).parents[1] / "eval" / "floors.yaml").read_text())["retrieval"]


def test_gold_set_is_large_and_matches_the_corpus(sample_corpus):
    gold = load_gold()
    assert len(gold) >= 40
    check_gold(sample_corpus, gold)


def test_hybrid_retrieval_holds_its_floors(sample_corpus):
    gold = load_gold()
    scores = {mode: score(sample_corpus, gold, mode) for mode in SearchMode}
    hybrid = scores[SearchMode.HYBRID]
    assert hybrid.recall_at_k >= FLOORS["hybrid_recall_at_5"], hybrid
    assert hybrid.mrr >= FLOORS["hybrid_mrr"], hybrid
    for other in FLOORS["hybrid_must_beat"]:
        assert hybrid.recall_at_k > scores[SearchMode(other)].recall_at_k, (hybrid, scores[SearchMode(other)])


def test_extraction_by_rules_holds_its_floors(corpus_dir, tmp_path):
    from core.config import Settings
    from eval.extraction import run
    from extraction.backends import RulesBackend

    floors = yaml.safe_load((Path(__file__).parents[1] / "eval" / "floors.yaml").read_text())["extraction"]
    (scores,) = run(corpus_dir, Settings(data_dir=tmp_path), [RulesBackend()], holdout=False).scores
    gaps = scores.status_detection
    assert scores.qta_elements == 51 and scores.reports >= 8
    assert scores.element_status_accuracy >= floors["element_status_accuracy"], scores.mismatches
    assert gaps["missing"]["recall"] >= floors["missing_recall"] and gaps["vague"]["recall"] >= floors["vague_recall"]
    assert min(gaps["missing"]["precision"], gaps["vague"]["precision"]) >= floors["gap_precision"], scores.mismatches
    assert scores.fields["f1"] >= floors["field_f1"], scores.mismatches
    assert scores.flags["precision"] >= floors["flag_precision"] and scores.flags["recall"] >= floors["flag_recall"]
    assert scores.risk_accuracy >= floors["risk_accuracy"], scores.mismatches


def test_offline_chat_holds_its_floors(chat_corpus):
    from datetime import date

    from agents.chat import ChatService
    from core.portfolio import load_portfolio
    from eval.qa import load_gold, score

    floors = yaml.safe_load((Path(__file__).parents[1] / "eval" / "floors.yaml").read_text())["qa"]
    gold = load_gold()
    assert len(gold) >= 40 and sum(q.category == "unanswerable" for q in gold) >= 8
    result = score(ChatService(chat_corpus, load_portfolio(), today=date(2026, 11, 25)), gold, "offline")
    assert result.answer_correctness >= floors["answer_correctness"], result.misses
    assert result.correctness_by_category["structured"] >= floors["structured_correctness"], result.misses
    assert result.citation_precision_document >= floors["citation_precision_document"], result
    assert result.citation_precision_complete >= floors["citation_precision_complete"], result
    assert result.citation_recall >= floors["citation_recall"], result
    assert result.refusal_accuracy >= floors["refusal_accuracy"], result.misses
    assert result.false_refusals <= floors["max_false_refusals"], result.misses
    assert result.wrong_answers <= floors["max_wrong_answers"], result.misses


def test_oversight_meets_its_gold_expectations(corpus_dir, tmp_path):
    from core.config import Settings
    from eval.oversight import run

    floors = yaml.safe_load((Path(__file__).parents[1] / "eval" / "floors.yaml").read_text())["oversight"]
    result = run(corpus_dir, Settings(data_dir=tmp_path), scale=2)
    assert result.total >= 20 and result.met >= floors["expectations_met"], [c for c in result.checks if not c.met]
    assert result.nightly[1].documents == 2 * result.nightly[0].documents


def test_passage_scoping_holds_its_floors(chat_corpus):
    from eval.scope import load_gold, score

    floors = yaml.safe_load((Path(__file__).parents[1] / "eval" / "floors.yaml").read_text())["scope"]
    result = score(chat_corpus.store, chat_corpus.settings, load_gold()["sample"], "sample")
    assert result.passages >= 30 and result.must_withhold >= 20
    assert not [m for m in result.misses if m.got == "not found"], result.misses  # the gold matches the corpus
    assert result.leaks <= floors["max_leaks"], result.misses
    assert result.over_withheld <= floors["max_over_withheld"], result.misses


def test_readers_hold_their_floors_on_the_sample_and_on_another_sponsors_documents(corpus_dir, tmp_path):
    from core.config import Settings
    from eval.readers import run

    floors = yaml.safe_load((Path(__file__).parents[1] / "eval" / "floors.yaml").read_text())["readers"]
    scores = {s.gold_set: s for s in run(corpus_dir, Settings(data_dir=tmp_path)).scores}
    for name, floor in floors.items():
        s = scores[name]
        got = {
            "kind_accuracy": s.kind_accuracy, "identifier_precision": s.identifiers["precision"],
            "identifier_recall": s.identifiers["recall"], "event_field_f1": s.event_fields["f1"],
            "date_role_f1": s.date_roles["f1"], "flag_precision": s.flags["precision"],
            "flag_recall": s.flags["recall"], "qta_element_accuracy": s.qta_element_accuracy,
        }  # fmt: skip
        assert all(got[k] >= v for k, v in floor.items()), (name, got, s.mismatches)
    # the meaning signal must add, never take away
    assert scores["development"].qta_element_accuracy >= scores["development, no meaning signal"].qta_element_accuracy


def test_chat_on_another_sponsors_documents_holds_its_floors(chat_corpus, tmp_path):
    from datetime import date

    from agents.chat import ChatService
    from core.config import Settings
    from core.portfolio import load_portfolio
    from eval.qa import run_second

    floors = yaml.safe_load((Path(__file__).parents[1] / "eval" / "floors.yaml").read_text())["qa_other"]
    today = date(2026, 11, 25)
    sample, development = run_second(ChatService(chat_corpus, load_portfolio(), today=today),
                                     Settings(data_dir=tmp_path), tmp_path, today)  # fmt: skip
    assert development.questions == 44 and sample.questions == 16
    for result in (sample, development):
        assert result.answer_correctness >= floors["answer_correctness"], result.misses
        assert result.wrong_answers <= floors["max_wrong_answers"], result.misses
        assert result.refusal_accuracy >= floors["refusal_accuracy"], result.misses
        assert result.citation_precision_complete >= floors["citation_precision_complete"], result
