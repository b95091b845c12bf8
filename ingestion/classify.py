"""Which kind of document this is, judged from the whole document, each signal with its reason.

- Title: the kind phrase a title leads with names the document ("Deviation QE-... - Missing verification in
  batch record" is a deviation). Phrases after a dash or colon usually name the subject, so they count less.
- Record number: a title's own number with a kind's prefix (DEV-, OOS-, CAPA- ...).
- Structure: labelled fields, headings and table columns typical of the kind (prompts/reading_bank.yaml),
  each counted at most twice so that a long document does not win by length.
- Meaning: the opening's similarity to the bank's example openings of each kind.
- Agreement name: the name an agreement gives itself (ingestion/agreements.py) says whether it is a quality
  agreement (a quality, technical or GMP agreement) or a commercial one (supply, licence, joint venture ...),
  whatever its file's first line ("EXHIBIT 10.1") says; an amendment is of its agreement's kind.
Kinds the service does not analyse (procedures, certificates, letters) compete as `other`, so that an SOP
about deviations is not read as a deviation. The confidence is the winner's share of the two best scores.
A document that is unsure between an investigation and something else, and has an investigation's
structure, is read as an investigation so that it is triaged, and its reasons say so.
"""

import re

from core.config import Settings
from core.documents import AgreementIdentity, DocumentKind, KindReading, ParsedDocument
from core.meaning import ReadingBank, load_bank, meaning
from ingestion.agreements import says_quality

_TITLE_PARTS = re.compile(r"\s+[-\u2013\u2014:|]\s+|:\s+")
_LEAD, _LATER = 10.0, 2.5  # a kind phrase leading the title's first part; one in a later part
_FIRST_ONLY = 4.0  # bonus for the phrase that comes first in the first part
_MEANING_FLOOR, _MEANING_WEIGHT = 0.35, 12.0
_NAMED = 10.0  # an agreement's own name: as strong as a title leading with its kind
_UNNAMED = 4.0
_OPENING = 700  # characters of text the meaning signal reads after the title
_BODY = 5000  # characters the structure signals read
_INVESTIGATIONS = (DocumentKind.DEVIATION_REPORT, DocumentKind.OOS_INVESTIGATION)
_INVESTIGATION_STRUCTURE = re.compile(r"^\s*(\d+\.?\s+)?(root cause|investigation|impact)", re.I | re.M)
# Record-number prefixes quality systems commonly give each kind of record.
OWN_PREFIXES = {
    DocumentKind.QTA: ("QA", "QTA", "QAG"),
    DocumentKind.DEVIATION_REPORT: ("DEV", "DV", "NC", "NCR"),
    DocumentKind.OOS_INVESTIGATION: ("OOS", "OOT", "INV"),
    DocumentKind.CAPA: ("CAPA",),
    DocumentKind.CHANGE_CONTROL: ("CC", "CCR", "CR"),
    DocumentKind.AUDIT_REPORT: ("AUD",),
}


def classify(parsed: ParsedDocument, settings: Settings | None = None, agreement: AgreementIdentity | None = None) -> KindReading:
    bank = load_bank(settings.reading_bank_path if settings else None)
    body = "\n".join(p.text for p in parsed.pages)[:_BODY]
    scores: dict[str, float] = {}
    reasons: dict[str, list[tuple[float, str]]] = {}

    def add(name: str, weight: float, reason: str) -> None:
        scores[name] = scores.get(name, 0.0) + weight
        reasons.setdefault(name, []).append((weight, reason))

    names = [*bank.kinds, *(f"other:{n}" for n in bank.other)]
    _title_signal(parsed.title, bank, names, add)
    _prefix_signal(parsed.title, add)
    if agreement is not None:
        _agreement_signal(agreement, add)
    for name in names:
        entry = bank.kinds.get(name) or bank.other[name.split(":", 1)[1]]
        for pattern, weight in entry.structure:
            hits = len(re.findall(pattern, body, re.I | re.M))
            if hits:
                add(name, weight * min(hits, 2), f"{'has' if hits == 1 else f'{min(hits, 2)}x'} /{pattern}/")
    if settings is not None and settings.reading_meaning:
        _meaning_signal(parsed, body, bank, names, settings, add)
    return _decide(scores, reasons, body)


def _title_signal(title: str, bank: ReadingBank, names: list[str], add) -> None:
    parts = _TITLE_PARTS.split(title.strip()) if title else []
    first_hit: tuple[int, str] | None = None
    for index, part in enumerate(parts):
        for name in names:
            patterns = bank.compiled_titles(name.split(":", 1)[-1])
            found = [m for p in patterns if (m := p.search(part))]
            if not found:
                continue
            where = min(m.start() for m in found)
            phrase = min(found, key=lambda m: m.start()).group(0)
            if index == 0:
                add(name, _LEAD, f"title leads with '{phrase}'")
                if first_hit is None or where < first_hit[0]:
                    first_hit = (where, name)
            else:
                add(name, _LATER, f"title names '{phrase}' after its first part")
    if first_hit:
        add(first_hit[1], _FIRST_ONLY, "the title's first kind phrase")


def _agreement_signal(agreement: AgreementIdentity, add) -> None:
    if agreement.amends and not says_quality(agreement.name):
        kind = DocumentKind.QTA if says_quality(agreement.amends) else DocumentKind.COMMERCIAL_AGREEMENT
        add(kind.value, _NAMED, f"amends a {agreement.amends[:60]}")
    elif agreement.name:
        kind = DocumentKind.QTA if says_quality(agreement.name) else DocumentKind.COMMERCIAL_AGREEMENT
        add(kind.value, _NAMED, f"calls itself a {agreement.name[:60]}")
    elif agreement.parties:  # an agreement between named parties that gives itself no name: most are commercial
        add(DocumentKind.COMMERCIAL_AGREEMENT.value, _UNNAMED, "an agreement between named parties, of no name")


def _prefix_signal(title: str, add) -> None:
    for kind, prefixes in OWN_PREFIXES.items():
        if re.search(rf"(?<![\w-])({'|'.join(prefixes)})-[A-Z0-9]*\d", title):
            add(kind.value, 4.0, "title carries a record number of this kind")


def _meaning_signal(parsed: ParsedDocument, body: str, bank: ReadingBank, names: list[str], settings: Settings, add):
    opening = f"{parsed.title}. {' '.join(body[:_OPENING].split())}"
    examples = {n: (bank.kinds.get(n) or bank.other[n.split(":", 1)[1]]).examples for n in names}
    sims = meaning(settings).similarity([opening], "kinds", examples)
    for name, value in sims.items():
        if len(value) and value[0] > _MEANING_FLOOR:
            add(name, _MEANING_WEIGHT * (float(value[0]) - _MEANING_FLOOR), f"reads like its examples ({value[0]:.2f})")


def _decide(scores: dict[str, float], reasons: dict[str, list[tuple[float, str]]], body: str) -> KindReading:
    ranked = sorted(scores.items(), key=lambda kv: kv[1], reverse=True)
    if not ranked or ranked[0][1] < 3:
        return KindReading(kind=DocumentKind.OTHER, confidence=0.5, reasons=["no kind of document recognised"])
    best, best_score = ranked[0]
    second, second_score = ranked[1] if len(ranked) > 1 else ("", 0.0)
    confidence = round(best_score / (best_score + second_score), 2) if second_score else 1.0
    kind = _kind_of(best)
    words = [r for _, r in sorted(reasons[best], key=lambda wr: wr[0], reverse=True)]
    if best.startswith("other:"):
        words.insert(0, f"reads as a {best.split(':', 1)[1].replace('_', ' ')}")
    alternative = _kind_of(second) if second else None
    if (
        kind not in _INVESTIGATIONS
        and alternative in _INVESTIGATIONS
        and confidence < 0.6
        and len(_INVESTIGATION_STRUCTURE.findall(body)) >= 2
    ):
        words.insert(0, f"unsure between {kind.value} and {alternative.value} ({confidence:.2f}): read as an "
                        "investigation so that it is triaged")  # fmt: skip
        kind, confidence = alternative, round(1 - confidence, 2)
    elif confidence < 0.6 and alternative:
        words.append(f"unsure: {alternative.value} scored {second_score:.1f} against {best_score:.1f}")
    return KindReading(kind=kind, confidence=confidence, reasons=words[:6])


def _kind_of(name: str) -> DocumentKind:
    return DocumentKind.OTHER if name.startswith("other:") else DocumentKind(name)
