"""Passage scoping eval: does a view of one program withhold the passages that disclose another program,
and only those? Gold: eval/scope_gold.yaml, passages of the documents that cover both programs, each with
the programs it discloses. Every passage is judged once per single-program view (HB-101 alone, HB-240
alone): a leak is a passage the view should not read and can (any of it); over-withholding is a passage
it should read and cannot (any of it). The held-out documents (eval/holdout_scope/) are rendered and
read after the sample corpus and scored apart.
"""

import re
import tempfile
import time
from pathlib import Path

import yaml
from pydantic import BaseModel, Field

from core.auth import Principal, Role
from core.config import Settings
from core.passages import MASK, PassagePrograms, mask
from core.portfolio import load_portfolio
from core.programs import load_programs
from core.scope import ScopedStore
from core.store import RecordStore
from eval.extraction import add_rendered, load_store

GOLD = Path(__file__).parent / "scope_gold.yaml"
STRINGS_GOLD = Path(__file__).parent / "scope_strings_gold.yaml"
HOLDOUT = Path(__file__).parent / "holdout_scope"


class Miss(BaseModel):
    file: str
    quote: str
    view: str
    expected: str = Field(description="withheld or shown")
    got: str = Field(description="withheld, shown, partly withheld, or not found")


class ScopeScores(BaseModel):
    gold_set: str
    passages: int
    judgements: int = Field(description="Passages times single-program views")
    must_withhold: int
    leaks: int
    over_withheld: int
    accuracy: float
    seconds_per_document: float = Field(description="Attributing every passage of a document, on average")
    misses: list[Miss]


class StringScores(BaseModel):
    """What a one-program view lists of a two-program document besides its passages: title, file name,
    record and batch numbers, products, the headings of its passages."""

    gold_set: str
    documents: int
    judgements: int = Field(description="Strings (or identifiers) times single-program views")
    leaks: int = Field(description="A string that names the other program, or one of its own records or batches")
    over_withheld: int = Field(description="An identifier of the view's own program (or of none) left out")
    misses: list[Miss]


class ScopeReport(BaseModel):
    scores: list[ScopeScores]
    strings: list[StringScores] = Field(default_factory=list)
    probes: list = Field(default_factory=list, description="Sessions and writes probed over HTTP (api/probe.py)")


def load_gold() -> dict:
    return yaml.safe_load(GOLD.read_text(encoding="utf-8"))


def score(store: RecordStore, settings: Settings, entries: list[dict], gold_set: str) -> ScopeScores:
    portfolio = load_portfolio(settings.portfolio_path)
    passages = PassagePrograms(store, portfolio, load_programs(settings.programs_path))
    views = [p.id for p in portfolio.programs]
    by_name = {d.filename: d for d in store.list_documents()}
    started = time.perf_counter()
    for entry in entries:
        passages.passages(by_name[entry["file"]].id)
    seconds = (time.perf_counter() - started) / max(len(entries), 1)
    misses: list[Miss] = []
    judgements = must_withhold = leaks = over = count = 0
    for entry in entries:
        doc = by_name[entry["file"]]
        pages = store.pages(doc.id)
        for quote, place, disclosed in _judged(pages, entry["passages"]):
            count += 1
            for view in views:
                judgements += 1
                expected = "withheld" if disclosed - {view} else "shown"
                must_withhold += expected == "withheld"
                got = "not found"
                if place:
                    number, start, end = place
                    page_text = next(p.text for p in pages if p.number == number)
                    seen = mask(page_text, passages.withheld(doc.id, {view}).get(number, []))[start:end]
                    hidden = [c == MASK for c in seen if not c.isspace()]
                    got = "withheld" if all(hidden) else "shown" if not any(hidden) else "partly withheld"
                if got != expected:
                    leaks += expected == "withheld"
                    over += expected == "shown"
                    misses.append(Miss(file=entry["file"], quote=quote, view=view, expected=expected, got=got))
    return ScopeScores(
        gold_set=gold_set,
        passages=count,
        judgements=judgements,
        must_withhold=must_withhold,
        leaks=leaks,
        over_withheld=over,
        accuracy=round(1 - len(misses) / max(judgements, 1), 3),
        seconds_per_document=round(seconds, 4),
        misses=misses,
    )


def score_strings(store: RecordStore, settings: Settings, gold: dict, gold_set: str) -> StringScores:
    """Every string a one-program view lists of each two-program document, judged against
    eval/scope_strings_gold.yaml: the record and batch numbers it names and the programs they disclose, and
    the programs' names in the portfolio (code, name, products, aliases)."""
    portfolio = load_portfolio(settings.portfolio_path)
    passages = PassagePrograms(store, portfolio, load_programs(settings.programs_path))
    discloses = {i.upper(): set(p) for i, p in gold["identifiers"].items()}
    names = {p.id: [n for n in (p.id, p.name, *p.products, *p.aliases) if n] for p in portfolio.programs}

    def named(text: str, view: str) -> list[str]:
        text = text.replace("_", " ")
        found = [n for o, ns in names.items() if o != view for n in ns if _word(n, text)]
        return found + [i for i, ps in discloses.items() if ps - {view} and _word(i, text)]

    misses: list[Miss] = []
    judgements = leaks = over = documents = 0
    for doc in store.list_documents():
        if len(doc.metadata.programs) < 2:
            continue
        documents += 1
        full = doc.metadata.batch_ids + doc.metadata.document_ids
        for view in doc.metadata.programs:
            who = Principal(name="eval", kind="eval", role=Role.VIEWER, programs=[view])
            listed = ScopedStore(store, who, passages).detail(doc.id)
            strings = [("title", listed.title), ("file name", listed.filename),
                       *(("product", p) for p in listed.metadata.products),
                       *(("heading", c.section) for c in listed.chunks if c.section)]  # fmt: skip
            for label, text in strings:
                judgements += 1
                if found := named(text, view):
                    leaks += 1
                    misses.append(Miss(file=doc.filename, quote=f"{label}: {text[:120]}", view=view,
                                       expected="withheld", got=f"shown ({', '.join(sorted(set(found)))})"))  # fmt: skip
            shown = set(listed.metadata.batch_ids + listed.metadata.document_ids)
            for identifier in full:
                judgements += 1
                foreign = bool(discloses.get(identifier.upper(), set()) - {view})
                if foreign == (identifier in shown):
                    leaks += foreign
                    over += not foreign
                    misses.append(Miss(file=doc.filename, quote=identifier, view=view,
                                       expected="withheld" if foreign else "shown",
                                       got="shown" if foreign else "withheld"))  # fmt: skip
    return StringScores(gold_set=gold_set, documents=documents, judgements=judgements, leaks=leaks,
                        over_withheld=over, misses=misses)  # fmt: skip


def _word(needle: str, text: str) -> bool:
    return re.search(rf"(?<![\w-]){re.escape(needle)}(?![\w-])", text, re.IGNORECASE) is not None


def _judged(pages, items: list[dict]):
    """(quote, place, programs disclosed) per gold passage; a table row's cells are passages of their own."""
    for item in items:
        if "row" not in item:
            yield item["quote"], _find(pages, item["quote"]), set(item["programs"])
            continue
        place = _find(pages, item["row"])
        page_text = next(p.text for p in pages if p.number == place[0]) if place else ""
        spans = [m.span() for m in re.finditer(r"[^|]+", page_text[place[1] : place[2]])] if place else []
        for column, programs in enumerate(item["cells"]):
            where = None
            if column < len(spans):
                start, end = spans[column]
                where = place[0], place[1] + start, place[1] + end
            yield f"{item['row']} (column {column + 1})", where, set(programs)


def _find(pages, quote: str) -> tuple[int, int, int] | None:
    """(page, start, end) of the quote in the page text, line breaks and runs of spaces aside."""
    pattern = r"\s+".join(re.escape(word) for word in quote.split())
    for page in pages:
        if m := re.search(pattern, page.text):
            return page.number, m.start(), m.end()
    return None


def run(corpus_dir: Path, settings: Settings, holdout: bool = True) -> ScopeReport:
    gold = load_gold()
    with tempfile.TemporaryDirectory(prefix="cdmo-eval-scope-") as work:
        local = settings.model_copy(update={"data_dir": Path(work), "database_url": None})
        store = load_store(corpus_dir, local)
        try:
            scores = [score(store, local, gold["sample"], "sample")]
            strings_gold = yaml.safe_load(STRINGS_GOLD.read_text(encoding="utf-8"))
            strings = [score_strings(store, local, strings_gold, "sample")]
            if holdout:
                add_rendered(HOLDOUT, Path(work), local, store)
                scores.append(score(store, local, gold["holdout"], "holdout"))
        finally:
            store.engine.dispose()
    return ScopeReport(scores=scores, strings=strings)
