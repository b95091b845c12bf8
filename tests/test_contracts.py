"""Real commercial contracts read as what they are: CUAD v1's 460 contracts filed with the SEC (supply, licence,
joint-venture, sponsorship agreements and their amendments, none a quality agreement), prepared and placed as
uploads are, against labels another author wrote before the product read them (eval/contracts/cuad_gold.yaml)."""

from pathlib import Path

import pytest
import yaml

from eval import contracts

FLOORS = yaml.safe_load((Path(__file__).parents[1] / "eval" / "floors.yaml").read_text())["contracts"]


@pytest.fixture(scope="module")
def scored(tmp_path_factory):
    report = contracts.run(tmp_path_factory.mktemp("cuad"))
    return report, contracts.score(report, contracts.load_gold())


def test_no_commercial_contract_is_read_as_a_quality_agreement(scored):
    report, score = scored
    assert score.contracts == 459  # 460 files, two of them the same bytes: stored once
    assert len(score.typed_qta) <= FLOORS["max_typed_qta"], score.typed_qta
    assert score.commercial >= FLOORS["commercial_share"] * score.contracts, report.kinds


def test_no_distinct_contract_is_filed_as_another_ones_version(scored):
    """Many open with a generic line ("SUPPLY AGREEMENT", "EXHIBIT 10.1") and name no portfolio site or program:
    the title alone made 97 of them versions of other contracts."""
    _, score = scored
    assert len(score.wrong_versions) <= FLOORS["max_wrong_versions"], score.wrong_versions
    assert len(score.wrong_links) <= FLOORS["max_wrong_links"], score.wrong_links


def test_an_amendment_is_linked_to_its_agreement_and_replaces_nothing(scored):
    report, score = scored
    gold = {c["file"]: c for c in contracts.load_gold()["contracts"]}
    assert score.amendments_linked >= FLOORS["amendments_linked"], score
    assert not [p.file for p in report.placed if gold[p.file]["amendment_of"] and p.superseded]


def test_the_quality_section_of_a_supply_or_manufacturing_agreement_is_found(scored):
    _, score = scored
    sections = score.sections
    assert sections.labelled >= 50 and sections.with_section >= 20
    assert sections.precision >= FLOORS["section_precision"], sections
    assert sections.recall >= FLOORS["section_recall"], sections


SUPPLY = "BELLRINGBRANDS,INC_02_07_2020-EX-10.18-MASTER SUPPLY AGREEMENT.txt"  # "2 Quality and Food Safety"
GOVERNED = "Apollo Endosurgery - Manufacturing and Supply Agreement.txt"  # its section defers to a quality agreement
SPONSORSHIP = "DRKOOPCOMINC_04_21_1999-EX-10.28-SPONSORSHIP AGREEMENT.txt"


def test_a_supply_agreements_quality_section_is_reviewed_and_the_review_says_so(site):
    files = {name: data for name, data in contracts.contracts() if name in (SUPPLY, GOVERNED, SPONSORSHIP)}
    ids = {}
    for name, data in files.items():
        response = site.post("/documents", files=[("files", (name, data))], params={"wait": "true"})
        assert response.status_code == 201, response.text
        result = response.json()[0]["result"]
        assert result["kind"] == "commercial_agreement", result
        ids[name] = result["document_id"]

    review = site.get(f"/qta/reviews/{ids[SUPPLY]}").json()
    section = site.get(f"/documents/{ids[SUPPLY]}").json()["metadata"]["agreement"]["quality_section"]
    assert "quality section" in review["scope"] and section["heading"] in review["scope"] and not review["governed_elsewhere"]
    quotes = [e for f in review["findings"] for e in f["evidence"]]
    assert quotes and all(section["start"] <= e["start"] < section["end"] for e in quotes)  # from the section only
    raised = [f for f in site.get("/findings").json() if f["document_id"] == ids[SUPPLY]]
    assert raised and all(f["code"].startswith("qta_") for f in raised)

    governed = site.get(f"/qta/reviews/{ids[GOVERNED]}").json()
    assert governed["governed_elsewhere"] and "separate quality agreement" in governed["scope"]
    assert not [f for f in site.get("/findings").json() if f["document_id"] == ids[GOVERNED]]
    assert site.get(f"/qta/reviews/{ids[SPONSORSHIP]}").status_code == 404  # searchable, not reviewed
    markdown = site.get(f"/qta/reviews/{ids[SUPPLY]}", params={"format": "markdown"}).text
    assert "Read: the quality section" in markdown
