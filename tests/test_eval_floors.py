"""The retrieval eval on the sample corpus must stay at or above its floors (eval/floors.yaml)."""

from pathlib import Path

import yaml

from eval.retrieval import check_gold, load_gold, score
from retrieval.hybrid import SearchMode

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
