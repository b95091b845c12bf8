"""Real commercial contracts through the product's own preparation: the kind each is read as, and whether one is
filed as a new version of another.

CUAD v1 (The Atticus Project, CC BY 4.0): 460 contracts filed with the SEC (supply, manufacturing, licence,
services, joint-venture, sponsorship agreements and their amendments), none of them a quality agreement, kept
here as `contracts/cuad_v1_development.tar.xz`. Each is prepared (parsed, read, keyed) and placed in a record
store as an upload would place it; no vectors are made. The labels of `contracts/cuad_gold.yaml` were written by
another author before the product read them: each contract's type, its amendments and their agreements, and
the quality sections of supply and manufacturing agreements.
"""

import tarfile
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import yaml
from pydantic import BaseModel, Field

from core.config import Settings
from core.portfolio import load_portfolio
from core.store import RecordStore
from ingestion.pipeline import prepare

HERE = Path(__file__).resolve().parent / "contracts"
ARCHIVE = HERE / "cuad_v1_development.tar.xz"
GOLD = HERE / "cuad_gold.yaml"
_GOLD_SPAN = 2000  # characters from a gold quality heading that count as its section


class Placed(BaseModel):
    file: str
    kind: str
    agreement: str | None = Field(None, description="The agreement's name as read, e.g. supply agreement")
    superseded: str | None = Field(None, description="The file it was filed as a new version of")
    related_to: str | None = Field(None, description="The file it was stored beside and linked to")
    quality_section: str | None = Field(None, description="The heading of the quality section it was found to have")
    quality_span: tuple[int, int] | None = Field(None, description="Where that section lies in the (one-page) text")
    text: str = Field("", exclude=True, repr=False)


class SectionScore(BaseModel):
    """Quality sections of the contracts the gold looked at (supply, manufacturing, development ...)."""

    labelled: int
    with_section: int
    found_right: int = Field(description="A section found where the gold has one, holding the gold's heading")
    found_elsewhere: list[str] = Field(description="A section found where the gold has one, but not the gold's")
    missed: list[str]
    false: list[str] = Field(description="A section found where the gold has none")

    @property
    def precision(self) -> float:
        found = self.found_right + len(self.found_elsewhere) + len(self.false)
        return self.found_right / found if found else 1.0

    @property
    def recall(self) -> float:
        return self.found_right / self.with_section if self.with_section else 1.0


class ContractsScore(BaseModel):
    """The placement against the gold: no contract typed qta, none filed as a distinct contract's version."""

    contracts: int
    typed_qta: list[str]
    commercial: int
    wrong_versions: list[tuple[str, str]] = Field(description="Filed as the version of a contract the gold calls distinct")
    amendments_in_set: int
    amendments_linked: int
    wrong_links: list[tuple[str, str]] = Field(description="Linked to a document the gold does not relate it to")
    sections: SectionScore


class ContractsReport(BaseModel):
    contracts: int
    kinds: dict[str, int]
    typed_qta: list[str]
    filed_as_version: list[tuple[str, str]] = Field(description="(file, the file it superseded)")
    linked: list[tuple[str, str]] = Field(description="(file, the file it was stored beside and linked to)")
    placed: list[Placed]
    seconds: float


def contracts(source: Path = ARCHIVE) -> Iterator[tuple[str, bytes]]:
    """(file name, bytes) of each contract, in name order, from the archive or a folder of .txt files."""
    if source.is_dir():
        for path in sorted(source.glob("*.txt")):
            yield path.name, path.read_bytes()
        return
    with tarfile.open(source) as archive:  # read in the archive's own order: an xz stream cannot seek back cheaply
        files = {Path(m.name).name: archive.extractfile(m).read() for m in archive if m.isfile() and m.name.endswith(".txt")}
    yield from sorted(files.items())


def run(work: Path, source: Path = ARCHIVE, settings: Settings | None = None) -> ContractsReport:
    settings = (settings or Settings()).model_copy(update={"data_dir": work, "database_url": None})
    portfolio = load_portfolio(settings.portfolio_path)
    store = RecordStore(settings.sqlalchemy_url)
    placed: list[Placed] = []
    started = time.perf_counter()
    try:
        for name, data in contracts(source):
            prepared = prepare(name, data, settings, portfolio)
            if store.find_by_hash(prepared.document.content_hash) is not None:
                continue  # the same bytes under another name: stored once
            placement = store.next_version(prepared)
            doc = placement.prepared.document
            store.add(placement.prepared, amendments=placement.amendments)
            related = None  # read once all are placed: an amendment that came first is linked when its agreement comes
            agreement = doc.metadata.agreement
            section = agreement.quality_section if agreement else None
            placed.append(Placed(file=name, kind=doc.kind.value, agreement=agreement.name if agreement else None,
                                 superseded=placement.previous.filename if placement.previous else None,
                                 related_to=related, quality_section=section.heading if section else None,
                                 quality_span=(section.start, section.end) if section else None,
                                 text=prepared.pages[0].text if prepared.pages else ""))  # fmt: skip
        stored = {d.id: d for d in store.list_documents(include_superseded=True)}
        by_name = {d.filename: d for d in stored.values()}
        for p in placed:
            doc = by_name.get(p.file)
            p.related_to = stored[doc.related_to].filename if doc and doc.related_to in stored else None
    finally:
        store.engine.dispose()
    return ContractsReport(
        contracts=len(placed),
        kinds=dict(Counter(p.kind for p in placed).most_common()),
        typed_qta=[p.file for p in placed if p.kind == "qta"],
        filed_as_version=[(p.file, p.superseded) for p in placed if p.superseded],
        linked=[(p.file, p.related_to) for p in placed if p.related_to],
        placed=placed,
        seconds=round(time.perf_counter() - started, 1),
    )


def load_gold(path: Path = GOLD) -> dict:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def score(report: ContractsReport, gold: dict, files: set[str] | None = None) -> ContractsScore:
    """The report against the gold, on `files` (default all): versions and links are allowed only between copies of
    one contract, its parts, its amendments and its earlier or later versions, as the gold relates them."""
    labels = {c["file"]: c for c in gold["contracts"]}
    related = {frozenset(pair) for pair in gold.get("duplicates", [])}
    related |= {frozenset((r["a"], r["b"])) for r in gold.get("related_pairs", [])}
    related |= {frozenset((f, c["base_in_set"])) for f, c in labels.items() if c.get("base_in_set")}
    placed = [p for p in report.placed if files is None or p.file in files]
    amendments = {f: c["base_in_set"] for f, c in labels.items() if c.get("base_in_set") and (files is None or f in files)}
    by_file = {p.file: p for p in report.placed}
    return ContractsScore(
        contracts=len(placed),
        typed_qta=[p.file for p in placed if p.kind == "qta" and not labels.get(p.file, {}).get("quality_agreement")],
        commercial=sum(p.kind == "commercial_agreement" for p in placed),
        wrong_versions=[(p.file, p.superseded) for p in placed if p.superseded and frozenset((p.file, p.superseded)) not in related],
        amendments_in_set=len(amendments),
        amendments_linked=sum(by_file[f].related_to == base for f, base in amendments.items() if f in by_file),
        wrong_links=[(p.file, p.related_to) for p in placed if p.related_to and frozenset((p.file, p.related_to)) not in related],
        sections=_sections(placed, labels),
    )


def _sections(placed: list[Placed], labels: dict) -> SectionScore:
    looked = [(p, labels[p.file]["quality_section"]) for p in placed if labels.get(p.file, {}).get("quality_section")]
    right, elsewhere, missed, false = 0, [], [], []
    for p, section in looked:
        if section == "none":
            if p.quality_span:
                false.append(p.file)
            continue
        if not p.quality_span:
            missed.append(p.file)
            continue
        at = p.text.find(section["heading"], max(0, section["start"] - 200))  # the text may have lost leading lines
        # the gold names a section by its heading, not its end: found when the two overlap in the gold's first 2,000
        if at >= 0 and p.quality_span[0] < at + _GOLD_SPAN and at < p.quality_span[1]:
            right += 1
        else:
            elsewhere.append(p.file)
    return SectionScore(labelled=len(looked), with_section=sum(s != "none" for _, s in looked), found_right=right,
                        found_elsewhere=elsewhere, missed=missed, false=false)  # fmt: skip
