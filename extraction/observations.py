"""Reading what inspectors and auditors found: a 483, an inspection report, a warning letter or an audit report
as numbered observations, each with the regulations it cites, its categories, whether it was cited before, and
the portfolio site the document concerns.

Layered as every reader here (DESIGN.md, "Readers that generalize"):
1. Structure: the observations are the document's run of numbers 1, 2, 3 ... ("1. Your firm failed ...",
   "Observation 2", "Deficiency 3 (major)") whose first statement states a failure; each runs to the next, the
   last to the document's closing sections (conclusion, remediation, signature).
2. Position: the inspected site is the one the document's facility sentence names - its FEI first; else its
   name together with its place. A firm's other sites named later ("similar violations at Unit III") do not
   count, and a portfolio site whose FEI differs is never the one meant, whatever its name.
3. Roles from the sentence: a category counts where a sentence states a failure of its kind, not where it
   only names the topic; a citation of a section that carries a category by itself counts too.
4. Meaning beside cues: the failure sentences against each category's example sentences, with the corpus's
   embedding model, reported as their own signal.
Redactions such as "(b)(4)" are kept as written: every quote is the stored page text.
"""

import csv
import re
from functools import lru_cache

from pydantic import BaseModel, Field

from core.dates import first_date
from core.documents import DocumentKind
from core.evidence import Evidence
from core.observations import NOT_IN_PORTFOLIO, CategoryHit, NamedRegulation, Observation, RegulatoryFindings
from core.portfolio import Portfolio, Site
from extraction.source import Clause, SourceText
from prompts.loader import FOLDER, load_data

OBSERVATION_KINDS = (DocumentKind.INSPECTION_OBSERVATIONS, DocumentKind.REGULATORY_LETTER, DocumentKind.AUDIT_REPORT)
MEANING_THRESHOLD = 0.75  # a failure sentence this close to a category's examples carries it

# "1.", "1. Your firm failed", "Observation 2", "OBSERVATION 2", "Deficiency 3 (major):", "Finding 4 -"
_START = re.compile(
    r"^\s*(?:(?P<label>observation|deficiency|finding|violation|deviation)\s+(?:no\.?\s*)?)?(?P<n>\d{1,2})"
    r"(?:\s*\((?:critical|major|minor|other)\))?\s*(?:[.:)\-\u2013]\s*|$|\s+(?=[A-Z]))",
    re.IGNORECASE,
)
_TABLE_OF_FINDINGS = re.compile(r"\b(observations?|findings?|deficienc\w+)\b", re.IGNORECASE)
_TRAILING_NUMBER = re.compile(r"(?:^|[\s:])((?:(?:observation|deficiency|finding)\s+)?\d{1,2}\.?)$", re.IGNORECASE)
# a statement of a failure: what makes a numbered paragraph an observation, and a sentence a finding
_FAILURE = re.compile(
    r"\b(fail\w*|not|no|lack\w*|inadequate\w*|insufficient\w*|deficien\w*|without|unable|improper\w*|poor|"
    r"did not|does not|was not|were not|absence|missing|unvalidated|uncontrolled|ineffective|inappropriate\w*|"
    r"objectionable|deviated)\b",
    re.IGNORECASE,
)
# the sections and lines that close a letter's or a report's findings
_CLOSING_SECTION = re.compile(
    r"\b(conclusion|repeat\w*|remediation|consultant|recall|suspended|meeting|quality systems?|guidance|"
    r"import alert|responsibilit(y|ies) as|closing|signature|summary of (the )?inspection)\b",
    re.IGNORECASE,
)
_CLOSING_LINE = re.compile(
    r"^\s*(sincerely|send your (electronic|written) (reply|response)|identify your (electronic |written )?response|"
    r"fda placed|this letter notifies|if you have (questions|information)|cc:|employee\(?s?\)? signature|date issued)",
    re.IGNORECASE,
)
_CFR = re.compile(
    r"\b(\d{1,2})\s*(?:CFR|C\.F\.R\.)\s+(?!parts?\b)(?:§\s*)?(\d{2,4}\.\d+[a-z]?(?:\s?\([0-9a-zA-Z]{1,4}\))*)"
)
_EU_GMP = re.compile(r"\b(?:EU\s+)?GMP\s+(?:Guide\s+)?(?:Part\s+I+\s*,?\s*)?(Chapter|Annex)\s+(\d+)\b", re.IGNORECASE)
_ICH = re.compile(r"\bICH\s+(Q\d{1,2}[A-Z]?)(?:\s*(?:section|§)\s*(\d+(?:\.\d+)*))?")
_FEI = re.compile(r"\b(?:FEI|Establishment Identifier)\b(?:\s*\(FEI\))?(?:\s*(?:number|no\.?|#))?\s*:?\s*(\d{7,10})\b")
_REFERENCE = re.compile(
    r"\b(?:warning letter|reference(?: number)?|ref\.?|letter)\s*(?:no\.?|number|#)?\s*:?\s*"
    r"((?:CBER|CDER|CDRH)?[- ]?\d{2,3}-\d{2}-\d{2,6}|MARCS-CMS \d{5,7})",
    re.IGNORECASE,
)
_REPEAT = re.compile(
    r"\b(repeat(ed)? (observations?|violations?|deviations?|findings?|failures?)|cited (on|in|during) (the|your|a) "
    r"(previous|prior|form fda[- ]?483|483|fda[- ]?483|last inspection)|previously (cited|observed|reported|identified)|similar (cgmp )?(violations?|observations?|"
    r"deviations?|findings?)\b|same (violations?|observations?|deficienc\w+) (was|were) (cited|observed))\b",
    re.IGNORECASE,
)
_FACILITY = re.compile(r"\b(inspect\w*|facility|establishment|auditee|records? (request|review))\b", re.IGNORECASE)
_FIRM = re.compile(
    r"\bfacility,\s+(?P<firm>[^,]+(?:,\s*(?:Inc|Ltd|LLC|LLP|LP|S\.A|GmbH|AG|Co|Limited|Corp)\.?[^,]*)?)"
    r"(?:,\s+formerly\b[^,]*(?:,\s*(?:Inc|Ltd|GmbH)\.?)?)?\s*,\s+(?:FDA Establishment Identifier|FEI|at|located)\b",
)
_ISSUERS = [
    ("FDA", r"\bFood and Drug Administration\b|\bFDA\b"),
    ("MHRA", r"\bMHRA\b|Medicines and Healthcare products Regulatory Agency"),
    ("EMA", r"\bEuropean Medicines Agency\b|\bEMA\b"),
    ("competent authority", r"\b(competent authority|inspectorate|health authority)\b"),
]
_WORD = re.compile(r"[a-z0-9]+")
_STOP = frozenset("the and of to in a an for on or by with your you our is are was were be that this as at from".split())


class Category(BaseModel):
    name: str
    regulations: list[str] = Field(default_factory=list)
    cited_under: list[str] = Field(default_factory=list)
    triage_flags: list[str] = Field(default_factory=list)
    cues: list[str] = Field(default_factory=list)
    examples: list[str] = Field(default_factory=list)


class Categories(BaseModel):
    version: str
    categories: dict[str, Category]


@lru_cache(maxsize=1)
def load_categories() -> Categories:
    return Categories.model_validate(load_data("observation_categories"))


@lru_cache(maxsize=64)
def _cue(pattern: str) -> re.Pattern:
    return re.compile(pattern, re.IGNORECASE)


class CatalogueEntry(BaseModel):
    reference: str
    short: str
    long: str
    cite_id: str
    area: str


@lru_cache(maxsize=1)
def load_catalogue() -> list[CatalogueEntry]:
    """FDA's standard 483 citations (prompts/fda_483_citations, public domain; its README says where from)."""
    entries = []
    for name in ("drugs.csv", "biologics.csv"):
        with open(FOLDER / "fda_483_citations" / name, encoding="utf-8") as f:
            for row in csv.DictReader(f):
                entries.append(CatalogueEntry(reference=" ".join(row["Reference Number"].split()),
                                              short=" ".join(row["Short Description"].split()),
                                              long=" ".join(row["Long Description"].split()),
                                              cite_id=row["Cite Id"], area=row["Citation Program Area"]))  # fmt: skip
    return entries


def _terms(text: str) -> set[str]:
    return {w[:6] for w in _WORD.findall(text.lower()) if w not in _STOP and len(w) > 2}


class ObservationReader:
    def __init__(self, portfolio: Portfolio, categories: Categories | None = None, meaning=None):
        self.portfolio = portfolio
        self.categories = categories or load_categories()
        self.meaning = meaning  # core.meaning.Meaning, or None: cues and citations only

    def read(self, source: SourceText) -> RegulatoryFindings:
        document = source.document
        clauses = source.readable
        notes: list[str] = []
        observations = self._observations(source, clauses, notes)
        fei = list(dict.fromkeys(m.group(1) for c in clauses for m in _FEI.finditer(c.text)))
        facility = self._facility_clause(clauses, fei)
        site, reason, site_evidence = self._site(source, facility, fei[:1])
        first_page = source.pages.get(1, "")
        issuer = next((name for name, p in _ISSUERS if re.search(p, first_page)), None)
        if document.kind == DocumentKind.AUDIT_REPORT:
            issuer = "auditor"  # an audit report may well mention the FDA; its findings are its auditors'
        self._mark_repeats(source, clauses, observations)
        self._name_regulations(source, observations, notes)
        if not observations:
            notes.append("no numbered observations found")
        return RegulatoryFindings(
            document_id=document.id,
            filename=document.filename,
            title=document.title,
            kind=document.kind.value,
            issuer=issuer,
            reference=_reference(document.title, clauses),
            firm=_firm(facility, document.title),
            fei=fei[:1],
            site=site,
            site_reason=reason,
            site_evidence=site_evidence,
            date=document.metadata.document_date or first_date(first_page),
            observations=observations,
            reading_notes=notes,
        )

    # --- structure ---------------------------------------------------------------------------------------
    def _observations(self, source: SourceText, clauses: list[Clause], notes: list[str]) -> list[Observation]:
        starts: list[tuple[int, str, Clause]] = []  # (clause index, number, statement clause)
        expected = 1
        for i, clause in enumerate(clauses):
            heading = clause.section if i == 0 or clauses[i - 1].section != clause.section else ""
            if (m := _START.fullmatch(heading.strip())) and int(m.group("n")) == expected:
                statement = clause  # "OBSERVATION 1" read as the heading of what follows
            elif clause.cells and (m := _START.fullmatch(clause.cells[0].strip())) and int(m.group("n")) == expected \
                    and any(_TABLE_OF_FINDINGS.search(h) for h in clause.table_header):  # fmt: skip
                statement = clause  # a row of a table of observations: "| 1 | Major | Glove integrity testing ..."
            else:
                m = _START.match(clause.text)
                if not m and (tail := _TRAILING_NUMBER.search(clause.text)) and i + 1 < len(clauses):
                    m = _START.match(tail.group(1))  # "... the following: 1." - a heading's line ran into the number
                if not m or int(m.group("n")) != expected:
                    continue
                rest = clause.text[m.end():].strip() if m.string is clause.text else ""
                statement = clause if rest else (clauses[i + 1] if i + 1 < len(clauses) else None)
            if statement is None:
                continue
            said = statement.text
            # the first number must open a finding; later ones follow the run it began
            if expected == 1 and not (m.group("label") or statement.cells or _FAILURE.search(said)):
                continue
            starts.append((i, m.group("n"), statement))
            expected += 1
        end_of_findings = len(clauses)
        if starts:
            for j in range(starts[-1][0] + 1, len(clauses)):
                c = clauses[j]
                if _CLOSING_LINE.search(c.text) or (_CLOSING_SECTION.search(c.section) and c.section != clauses[starts[-1][0]].section):
                    end_of_findings = j
                    break
        out = []
        for k, (i, number, statement) in enumerate(starts):
            end = starts[k + 1][0] if k + 1 < len(starts) else end_of_findings
            body = clauses[i:end]
            out.append(self._observation(source, number, statement, body))
        return out

    def _observation(self, source: SourceText, number: str, statement: Clause, body: list[Clause]) -> Observation:
        text = "\n".join(c.text for c in body)
        regulations = _regulations(text)
        statement_evidence = _statement_evidence(source, statement)
        return Observation(
            number=number,
            evidence=statement_evidence,
            span=_span(source, body),
            regulations=regulations,
            categories=self._categories(source, statement_evidence, body, regulations),
        )

    # --- roles and meaning ---------------------------------------------------------------------------------
    def _categories(
        self, source: SourceText, statement: Evidence, body: list[Clause], regulations: list[str]
    ) -> list[CategoryHit]:
        hits: dict[str, CategoryHit] = {}
        failures = [c for c in body if _FAILURE.search(c.text) and not _START.fullmatch(c.text.strip())]
        for reference in regulations:
            # the most specific section wins: 211.42(c)(10) is aseptic processing, not 211.42's buildings
            under = {cid: max((len(u) for u in c.cited_under if _same_section(reference, u)), default=0)
                     for cid, c in self.categories.categories.items()}  # fmt: skip
            deepest = max(under.values(), default=0)
            # the passage that cites it: the statement, or the sentence of the body that names the section
            section = reference.split(" ", 2)[-1]
            at = next((i for i, c in enumerate(body) if section in c.text.replace(" ", "")), None)
            # "... were conducted. (21 CFR 211.188)": a citation that opens a clause closes the sentence before it
            if at and body[at].text.lstrip().startswith("(") and section in body[at].text[:30].replace(" ", ""):
                at -= 1
            citing = body[at] if at is not None else None
            evidence = statement if citing is None or statement.quote.find(section) >= 0 else source.clause_evidence(citing)
            for cid, length in under.items():
                if length and length == deepest and cid not in hits:
                    category = self.categories.categories[cid]
                    hits[cid] = CategoryHit(category=cid, name=category.name, evidence=evidence,
                                            signal=f"regulation ({reference})")  # fmt: skip
        for clause in failures:
            for cid, category in self.categories.categories.items():
                if cid in hits:
                    continue
                cue = next((p for p in category.cues if _cue(p).search(clause.text)), None)
                if cue:
                    hits[cid] = CategoryHit(category=cid, name=category.name, evidence=source.clause_evidence(clause),
                                            signal=f"cue /{cue}/")  # fmt: skip
        if self.meaning is not None and failures:
            labels = {cid: c.examples for cid, c in self.categories.categories.items() if cid not in hits and c.examples}
            sims = self.meaning.similarity([c.text for c in failures], "observation_categories", labels)
            for cid, values in sims.items():
                best = int(values.argmax()) if len(values) else -1
                if best >= 0 and values[best] >= MEANING_THRESHOLD:
                    category = self.categories.categories[cid]
                    hits[cid] = CategoryHit(category=cid, name=category.name,
                                            evidence=source.clause_evidence(failures[best]),
                                            signal=f"meaning ({values[best]:.2f})")  # fmt: skip
        order = list(self.categories.categories)
        return sorted(hits.values(), key=lambda h: order.index(h.category))

    def _mark_repeats(self, source: SourceText, clauses: list[Clause], observations: list[Observation]) -> None:
        """An observation says it was cited before, or a passage outside the observations says that similar
        findings were: those of the observations that share a category with that passage are repeats."""
        for o in observations:
            for e in o.span:
                if m := _REPEAT.search(e.quote):
                    o.repeat = True
                    o.repeat_evidence = _sentence_around(source, e, m.start())
                    break
        spans = [e for o in observations for e in o.span]
        for clause in clauses:
            inside = any(e.page == clause.page and e.start <= clause.start < e.end for e in spans)
            if inside or not _REPEAT.search(clause.text):
                continue
            said = {cid for cid, c in self.categories.categories.items() if any(_cue(p).search(clause.text) for p in c.cues)}
            for o in observations:
                if not o.repeat and said & set(o.category_ids):
                    o.repeat, o.repeat_evidence = True, source.clause_evidence(clause)

    def _name_regulations(self, source: SourceText, observations: list[Observation], notes: list[str]) -> None:
        """An observation of a finished-drug or biologics inspection that cites no section gets the standard 483
        citation its statement matches best, when it matches well; an API letter rests on ICH Q7, not 21 CFR 211."""
        text = "\n".join(source.pages.values())
        finished = bool(re.search(r"\b21 CFR parts? 210 and 211\b|\bForm FDA[- ]483\b|\b21 CFR (600|606|610)\b", text, re.I))
        api = bool(re.search(r"\bactive pharmaceutical ingredients?\b|\bAPIs?\b", text)) and not re.search(
            r"\bfinished pharmaceuticals\b", text)  # fmt: skip
        uncited = [o for o in observations if not o.regulations]
        if uncited and api:
            notes.append("an API document: its observations rest on ICH Q7 (FD&C Act 501(a)(2)(B)); no 21 CFR 211 "
                         "section is named for them")  # fmt: skip
            return
        if not (uncited and finished):
            return
        catalogue = load_catalogue()
        for o in uncited:
            said = _terms(o.evidence.quote)
            best, best_score = None, 0.0
            for entry in catalogue:
                wanted = _terms(entry.long.split("Specifically")[0])
                score = len(said & wanted) / max(len(wanted), 1)
                if score > best_score:
                    best, best_score = entry, score
            if best is not None and best_score >= 0.5:
                o.named_regulations.append(NamedRegulation(
                    reference=best.reference, short_description=best.short,
                    source=f"FDA inspection observations FY2019, {best.area}, Cite Id {best.cite_id} "
                           f"({best_score:.2f} of its words)"))  # fmt: skip

    # --- position -----------------------------------------------------------------------------------------
    @staticmethod
    def _facility_clause(clauses: list[Clause], fei: list[str]) -> Clause | None:
        if fei:
            return next((c for c in clauses if fei[0] in c.text), None)
        return next((c for c in clauses[:12] if _FACILITY.search(c.text)), None)

    def _site(self, source: SourceText, facility: Clause | None, own_fei: list[str]):
        """The portfolio site the document concerns, what it was found by, and the passage; or None with why."""
        if facility is None:
            # no facility sentence (an audit report names its auditee in a field): the site the document names
            sites = source.document.metadata.sites
            if sites and not own_fei:
                return sites[0], "the site the document names", None
            return None, f"{NOT_IN_PORTFOLIO}: no inspected site named", None
        evidence = source.clause_evidence(facility)
        if own_fei:
            for site in self.portfolio.sites:
                if own_fei[0] in site.fei:
                    return site.id, f"FEI {own_fei[0]}", evidence
        candidates = []
        for site in self.portfolio.sites:
            if site.fei and own_fei:
                continue  # a site whose FEI is known and differs is another site, whatever its name
            name = _named(site, facility.text)
            if name and _placed(site, facility.text):
                candidates.append((site, name))
        if len(candidates) == 1:
            site, name = candidates[0]
            return site.id, f"name '{name}' and place", evidence
        firm_sites = [s for s in self.portfolio.sites if _named(s, facility.text)]
        why = NOT_IN_PORTFOLIO
        if firm_sites:
            why += f": the firm's site in the portfolio is {', '.join(s.name for s in firm_sites)}, not this one"
        return None, why, evidence


def _same_section(cited: str, under: str) -> bool:
    """'21 CFR 211.42(c)(10)' is under '21 CFR 211.42' and under itself; '21 CFR 211.420' is not."""
    return cited == under or (cited.startswith(under) and cited[len(under)] == "(")


def _regulations(text: str) -> list[str]:
    found = [f"{m.group(1)} CFR {m.group(2).replace(' ', '')}" for m in _CFR.finditer(text)]
    found += [f"EU GMP {m.group(1).capitalize()} {m.group(2)}" for m in _EU_GMP.finditer(text)]
    found += [f"ICH {m.group(1)}" + (f" {m.group(2)}" if m.group(2) else "") for m in _ICH.finditer(text)]
    return list(dict.fromkeys(found))


def _statement_evidence(source: SourceText, statement: Clause) -> Evidence:
    """The observation's statement: its clause without the number it starts with."""
    m = _START.match(statement.text)
    if not m or not statement.text[m.end():].strip():
        return source.clause_evidence(statement)
    page = source.pages[statement.page]
    at = statement.start
    number = re.match(r"\s*(?:[A-Za-z]+\s+(?:no\.?\s*)?)?\d{1,2}(?:\s*\([a-z]+\))?\s*[.:)\-\u2013]?\s*", page[at:statement.end], re.I)
    start = at + (number.end() if number else 0)
    return source.evidence(statement.page, start, statement.end)


def _span(source: SourceText, body: list[Clause]) -> list[Evidence]:
    """The observation's text, one passage per page it runs over."""
    out: list[Evidence] = []
    for page in dict.fromkeys(c.page for c in body):
        on_page = [c for c in body if c.page == page]
        out.append(source.evidence(page, on_page[0].start, on_page[-1].end))
    return out


def _sentence_around(source: SourceText, passage: Evidence, offset: int) -> Evidence:
    text = passage.quote
    start = max(text.rfind(". ", 0, offset) + 2, 0) if text.rfind(". ", 0, offset) >= 0 else 0
    end = text.find(". ", offset)
    end = len(text) if end < 0 else end + 1
    return source.evidence(passage.page, passage.start + start, passage.start + end)


def _reference(title: str, clauses: list[Clause]) -> str | None:
    for text in [title, *(c.text for c in clauses[:6])]:
        if m := _REFERENCE.search(text):
            return m.group(1).strip()
    return None


def _firm(facility: Clause | None, title: str) -> str | None:
    if facility is not None and (m := _FIRM.search(facility.text)):
        return m.group("firm").strip()
    parts = re.split(r"\s+[-\u2013\u2014]\s+", title)
    return parts[-1].strip() if len(parts) > 1 else None


def _named(site: Site, text: str) -> str | None:
    for name in [site.name, site.cdmo, *site.aliases]:
        if name and re.search(rf"(?<!\w){re.escape(name)}(?!\w)", text, re.IGNORECASE):
            return name
    return None


def _placed(site: Site, text: str) -> bool:
    """The site's place agrees with the text: a word of its location's first parts (street, town) is there."""
    if not site.location:
        return True
    parts = [p.strip() for p in site.location.split(",")]
    words = [w for p in parts[:-1] or parts for w in re.findall(r"[A-Za-z][A-Za-z/-]{3,}", p)]
    return any(re.search(rf"(?<!\w){re.escape(w)}(?!\w)", text, re.IGNORECASE) for w in words)
