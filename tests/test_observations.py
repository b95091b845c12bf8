"""Regulators' and auditors' findings: real FDA warning letters (eval/regulatory/sources, public domain) read as
observations, linked to the portfolio site they concern, over HTTP, in partner risk and in the digest."""

import json
from pathlib import Path

import pytest
import yaml

from core.config import Settings
from core.documents import DocumentKind
from core.observations import NOT_IN_PORTFOLIO
from core.portfolio import load_portfolio
from eval.extraction import load_store
from extraction.observations import ObservationReader
from extraction.service import source_of
from fixtures.render import load_source, render
from tests.conftest import serve, upload

REGULATORY = Path(__file__).parents[1] / "eval" / "regulatory"
PORTFOLIO = REGULATORY / "portfolio.yaml"


def _rendered(tmp_path: Path, *stems: str) -> Path:
    out = tmp_path / "files"
    out.mkdir(exist_ok=True)
    for stem in stems:
        render(load_source(REGULATORY / "sources" / f"{stem}.md"), out)
    return out


@pytest.fixture(scope="module")
def letters(tmp_path_factory):
    """Four real letters in a record store with the gold's sponsor portfolio, each read as it is stored."""
    work = tmp_path_factory.mktemp("letters")
    files = _rendered(work, "01_wl_simtra_halle", "06_wl_eugia_unit1", "07_wl_reliance_navi_mumbai", "04_wl_shoolin_api")
    settings = Settings(data_dir=work / "data", portfolio_path=PORTFOLIO)
    settings.data_dir.mkdir()
    store = load_store(files, settings)
    reader = ObservationReader(load_portfolio(PORTFOLIO))
    read = {d.filename: (store.detail(d.id), reader.read(source_of(store.detail(d.id)))) for d in store.list_documents()}
    yield read
    store.engine.dispose()


def _ask(http, question: str) -> dict:
    response = http.post("/chat", json={"question": question})
    blocks = [b for b in response.text.strip().split("\n\n") if b.startswith("event: done")]
    return json.loads(blocks[0].split("\n")[1].removeprefix("data: "))


def _letter(letters, fragment):
    return next(v for k, v in letters.items() if fragment in k)


def test_a_warning_letter_is_read_as_numbered_observations_with_their_citations(letters):
    detail, found = _letter(letters, "Simtra")
    assert detail.kind == DocumentKind.REGULATORY_LETTER and found.issuer == "FDA" and found.reference == "320-26-49"
    assert [o.number for o in found.observations] == ["1", "2"]
    first, second = found.observations
    assert first.evidence.quote.startswith("Your firm failed to perform operations within specifically defined areas")
    assert first.regulations == ["21 CFR 211.42(c)(10)"] and second.regulations == ["21 CFR 211.113(b)"]
    pages = {p.number: p.text for p in detail.pages}
    for o in found.observations:  # every quote is the page text at its span, redactions as written
        for e in [o.evidence, *o.span, *(c.evidence for c in o.categories)]:
            assert pages[e.page][e.start : e.end] == e.quote
    assert any("(b)(4)" in e.quote for e in first.span)
    categories = {c.category: c for c in first.categories}
    assert {"aseptic_practice", "data_integrity", "capa_inadequate", "investigation_scope"} <= set(categories)
    assert "raw (b)(4) testing data" in categories["data_integrity"].evidence.quote  # the quote a category rests on
    assert categories["aseptic_practice"].signal == "regulation (21 CFR 211.42(c)(10))"
    # the site by its FEI, although the portfolio knows it under its former name
    assert found.site == "SIM-HALLE" and found.site_reason == "FEI 3002806419" and found.fei == ["3002806419"]


def test_a_firms_other_site_named_in_the_letter_is_not_the_one_it_concerns(letters):
    _, found = _letter(letters, "Eugia")
    # the portfolio has Eugia Unit III (FEI 3008461619), which the letter names among the firm's other sites
    assert found.fei == ["3011960448"] and found.site is None and found.site_reason.startswith(NOT_IN_PORTFOLIO)
    assert all(o.repeat for o in found.observations)  # "similar CGMP violations ... at other facilities"
    assert "similar CGMP violations" in found.observations[0].repeat_evidence.quote


def test_an_api_letter_cites_no_section_and_none_is_made_up(letters):
    _, found = _letter(letters, "Shoolin")
    assert len(found.observations) == 4 and all(not o.regulations and not o.named_regulations for o in found.observations)
    assert any("ICH Q7" in n for n in found.reading_notes)
    assert found.site is None and found.site_reason == NOT_IN_PORTFOLIO  # a firm the sponsor does not use
    assert "contractor_oversight" in found.observations[1].category_ids  # results of a contract laboratory


def test_a_site_without_an_fei_is_found_by_its_name_and_its_place(letters):
    _, found = _letter(letters, "Reliance")
    assert found.site == "REL-NM" and found.site_reason.startswith("name ") and "Rabale" in found.site_evidence.quote


def test_the_observations_eval_holds_its_floors(tmp_path):
    from eval.regulatory import run

    floors = yaml.safe_load((Path(__file__).parents[1] / "eval" / "floors.yaml").read_text())["observations"]
    scores = run(Settings(data_dir=tmp_path))
    for s in scores:
        assert s.documents >= 10 and s.kind_accuracy >= floors["kind_accuracy"], s.mismatches
        assert s.segmentation["recall"] >= floors["segmentation_recall"], s.mismatches
        assert s.segmentation["precision"] >= floors["segmentation_precision"], s.mismatches
        assert s.regulations["precision"] >= floors["regulation_precision"], s.mismatches
        assert s.regulations["recall"] >= floors["regulation_recall"], s.mismatches
        assert s.categories["precision"] >= floors["category_precision"], s.mismatches
        assert s.categories["recall"] >= floors["category_recall"], s.mismatches
        assert s.site_accuracy >= floors["site_accuracy"], s.mismatches
    # the meaning signal must not take precision away
    assert scores[0].categories["precision"] >= scores[1].categories["precision"]


def test_over_http_a_letter_about_a_partner_moves_its_risk_and_reaches_the_digest(make_settings, embedder, tmp_path):
    from agents.nightly import DigestBuilder
    from core.programs import Programs

    files = _rendered(tmp_path, "09_wl_medline_waukegan", "10_wl_hangzhou_yiqi_records")
    settings = make_settings(portfolio_path=PORTFOLIO, max_file_bytes=5_000_000)
    with serve(settings, embedder) as http:
        before = http.get("/sites/HZY-HZ/risk").json()
        response = upload(http, [("files", (p.name, p.read_bytes())) for p in sorted(files.iterdir())])
        assert response.status_code == 201, response.text
        listed = http.get("/observations").json()
        assert {f["site"] for f in listed} == {"HZY-HZ", None}  # the Waukegan letter: not the portfolio's Hartland
        medline = next(f for f in listed if f["site"] is None)
        assert "Medline Hartland" in medline["site_reason"] and all(o["repeat"] for o in medline["observations"])
        outside = http.get("/observations", params={"site": "none"}).json()
        assert [f["firm"] for f in outside] == ["Medline Industries, LP"]
        labs = http.get("/observations", params={"category": "laboratory_controls"}).json()
        assert [o["number"] for f in labs for o in f["observations"]] == ["2", "3"]
        cited = http.get("/observations", params={"regulation": "211.192"}).json()
        assert [(f["site"], [o["number"] for o in f["observations"]]) for f in cited] == [(None, ["1"])]
        after = http.get("/sites/HZY-HZ/risk").json()
        quality = next(d for d in after["dimensions"] if d["dimension"] == "quality_system")
        signals = [s for s in quality["signals"] if s["source"] == "observation"]
        assert len(signals) == 4 and all(s["evidence"]["quote"].startswith("Failure to") for s in signals)
        assert after["score"] > before["score"]
        document_id = medline["document_id"]
        html = http.get(f"/observations/{document_id}", params={"format": "html"}).text
        assert html.count("<mark") >= 2 and "Observation 1" in html
        read = http.post("/observations/read", files={"file": ("letter.pdf", (files / medline["filename"]).read_bytes())})
        assert read.status_code == 200 and len(read.json()["observations"]) == 2
        # chat: what the regulator found, each observation quoted from its letter
        answer = _ask(http, "What did FDA find at Hangzhou Yiqi?")
        assert answer["kind"] == "structured" and answer["sentences"][0]["text"].startswith("4 observations")
        assert all("letter 320-26-66" in s["text"] for s in answer["sentences"][1:])
        for c in answer["citations"]:
            assert http.get(f"/documents/{c['document_id']}/pages/{c['page']}").json()["text"][c["start"]:c["end"]] == c["quote"]
        water = _ask(http, "Which partners had equipment findings?")
        assert [s["text"].split(":")[0] for s in water["sentences"][1:]] == ["Hangzhou Yiqi API"]  # Medline: not a partner
    from retrieval.corpus import Corpus

    corpus = Corpus(settings, embedder=embedder)
    try:
        builder = DigestBuilder(corpus.store, load_portfolio(PORTFOLIO), Programs(programs=[]), settings.today())
        digest, _, _ = builder.build(None, corpus.store.list_documents()[-1].ingested_at, None)
        needs = [n.text for n in digest.needs_human]
        assert any("Hangzhou Yiqi API" in t and "4 observations" in t for t in needs), needs
        assert not any("Medline" in t for t in needs)  # a letter about a site outside the portfolio
    finally:
        corpus.close()


def test_a_483_in_the_sample_corpus_is_read_by_its_headings_and_named_from_fdas_citations(records, portfolio):
    """The sample's 483 about Stellaris: OBSERVATION headings, no section cited, so FDA's standard citation its
    words match is named, with where it comes from; the site by its FEI."""
    from extraction.service import Extractor

    doc = next(d for d in records.list_documents() if d.filename.startswith("FDA_483_"))
    found = Extractor(Settings(), records, portfolio).observations(source_of(records.detail(doc.id)))
    assert doc.kind == DocumentKind.INSPECTION_OBSERVATIONS and found.site == "SFF-MONZA"
    assert [o.number for o in found.observations] == ["1", "2"] and not any(o.regulations for o in found.observations)
    named = [o.named_regulations[0] for o in found.observations]
    assert [n.reference for n in named] == ["21 CFR 211.113(b)", "21 CFR 211.192"]
    assert all("FDA inspection observations FY2019" in n.source and "Cite Id" in n.source for n in named)
    assert "investigation_scope" in found.observations[1].category_ids


def test_on_the_sample_the_letter_moves_stellaris_risk_readiness_and_chat(chat_corpus):
    """The sample's 483 and warning letter about Stellaris: quoted risk signals, inspection findings in the
    readiness of the program it fills, and chat's answer to what FDA found there."""
    from datetime import date

    from agents.chat import ChatService
    from agents.partner_risk import RiskScorer
    from agents.readiness import ReadinessAssessor
    from core.programs import load_programs

    day = date(2024, 11, 25)
    risk = RiskScorer(chat_corpus.store, load_portfolio(), day).site_risk("SFF-MONZA")
    quality = next(d for d in risk.dimensions if d.dimension == "quality_system")
    observed = [s for s in quality.signals if s.source == "observation"]
    assert len(observed) == 5 and any("(repeat)" in s.label for s in observed)  # the 483's two, the letter's three
    assert sorted(s.points for s in observed) == [6, 6, 10, 10, 14]  # a letter weighs more, a repeat more still
    for s in observed:
        e = s.evidence
        assert chat_corpus.store.page_text(e.document_id, e.page)[e.start : e.end] == e.quote
    readiness = ReadinessAssessor(chat_corpus.store, load_portfolio(), load_programs(), day).readiness("HB-101")
    findings = [i for i in readiness.items if i.kind == "inspection_finding"]
    assert len(findings) == 5 and {i.site for i in findings} == {"SFF-MONZA"}  # 483: 2, letter: 3
    answer = ChatService(chat_corpus, load_portfolio(), today=day).ask("What did FDA find at Stellaris?")
    assert answer.sentences[0].text.startswith("5 observations") and "320-25-07" in answer.text
