"""What kind of answer a question asks for, and whether a sentence is one.

"When did ..." is answered by a sentence that says when (a date, a month, a year, a quarter) and that
states the event asked about; "how many", "what was the result" by one that gives a quantity (a number
that is not part of a record or batch number, or a number in words); "who" by one that names a person, a
role or an organisation. A sentence that shares the question's words but not its answer's kind is no
answer: "the site received a 483 after its March 2024 inspection" does not say when a product was approved.
"""

import re
from enum import StrEnum

from agents.citations import content_terms


class AnswerType(StrEnum):
    WHEN = "when"
    QUANTITY = "quantity"
    WHO = "who"
    ANY = "any"


_WHEN = re.compile(r"^\s*(when|by when|since when|on what (date|day)|what (date|day|year))\b|\bwhat date\b", re.I)
# "when must ..." asks for a time limit, not a moment: the agreement's terms answer it, not this check
_WHEN_EVENT = re.compile(r"\bwhen (did|was|were|is|are|will|has|have|does|do)\b", re.I)
_MEASURE = (
    r"(specification|limit|result|value|concentration|temperature|yield|level|count|amount|dose|strength|titre|"
    r"titer|density|purity|mean|average|volume|quantity)s?"
)
# the words before the measure's noun: "the initial SEC monomer result", not "the root cause of the temperature"
_MODIFIERS = r"((?!(of|in|for|at|on|to|from|by|with)\b)[\w-]+ ){0,4}"
_QUANTITY = re.compile(
    r"^\s*how (many|much)\b|\bat what (\w+ ){0,3}(concentration|temperature|pressure|speed|rate|level|ph)\b"
    rf"|\bwhat (is|was|are|were) the {_MODIFIERS}{_MEASURE}\b"
    rf"|\bwhat {_MODIFIERS}{_MEASURE} (is|was|are|were|did|does|do)\b",  # "what bioburden result did ..."
    re.I,
)
_WHO = re.compile(r"^\s*who\b", re.I)

_POINT_IN_TIME = re.compile(
    r"\b\d{1,2}[\s-]+(Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)[a-z]*\.?"
    r"|\b(January|February|March|April|May|June|July|August|September|October|November|December)\b"
    r"|\b(Jan|Feb|Mar|Apr|Jun|Jul|Aug|Sept?|Oct|Nov|Dec)\.?\s+\d"
    r"|\b(19|20)\d\d\b|\bQ[1-4]\b|\b(Monday|Tuesday|Wednesday|Thursday|Friday|Saturday|Sunday)\b"
    r"|\bday \d+\b|\b\d{1,2}[./]\d{1,2}[./]\d{2,4}\b",
)
_NUMBER_WORDS = (
    r"one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|twenty|thirty|hundred|thousand|"
    r"once|twice|single|dozen|half|none"
)
# a number standing alone (95.8 %, 2,100, 14 CFU), not a part of a code such as HB-101 or DEV-2024-031
_QUANTITY_IN_TEXT = re.compile(rf"(?<![\w/-])\d[\d,.]*(?![\w/-]*[A-Za-z-]\d)|\b({_NUMBER_WORDS})\b", re.I)
SOMEONE = re.compile(
    r"\b(Mr|Ms|Mrs|Dr)\.? [A-Z]|\b[A-Z]\. [A-Z][a-z]+|\b(head|manager|director|lead|officer|supervisor|analyst|"
    r"operator|technician|engineer|staff|personnel|shift|crew|team|unit|department|qualified person|QP|QA|QC|"
    r"sponsor|client|contract (giver|acceptor)|supplier|vendor|contractor)\b"
    r"|\b[A-Z][a-z]+ (?:[A-Z][a-z]+ )*(?:Partners|Inc|Ltd|LLC|GmbH|Capital|Group|Pharma|Biologics|Laboratories|"
    r"Therapeutics|Analytical|Services)\b",
)  # a person, a role or function, or an organisation by its name


def answer_type(question: str) -> AnswerType:
    if _WHEN.search(question) or _WHEN_EVENT.search(question):
        return AnswerType.WHEN
    if _QUANTITY.search(question):
        return AnswerType.QUANTITY
    if _WHO.search(question):
        return AnswerType.WHO
    return AnswerType.ANY


_VALUE_AFTER = re.compile(r"\W{0,3}(\s*(of|was|is|were|are|at|to|=|:|approximately|about|only))*\s*[<>≤≥]?\s*\d", re.I)
_VALUE_BEFORE = re.compile(rf"(\d[\d,.]*|\b({_NUMBER_WORDS}))\s+([a-z-]+\s+)?$", re.I)


def states_value(sentence: str, asked: list[str]) -> bool:
    """A number stands right beside one of the asked words (not a number itself): "Result: 14 CFU/10 mL",
    "a retest mean of 97.4%", "commit to 7 batches", "2,100 vials"."""
    for m in re.finditer(r"[A-Za-z]+", sentence):
        terms = content_terms(m.group())
        if terms and terms[0] in asked:
            if _VALUE_AFTER.match(sentence[m.end() : m.end() + 25]) or _VALUE_BEFORE.search(sentence[: m.start()]):
                return True
    return False


def is_answer(kind: AnswerType, sentence: str, context: str, asked: list[str]) -> bool:
    """Whether `sentence` (read under `context`, its title and heading) gives the kind of answer asked for.
    `asked` are the question's own content terms, names and numbers left out: a "when" answer states the
    event they describe (all of them, or all but one of four or more), not only a date near some of them."""
    if kind == AnswerType.WHEN:
        if not _POINT_IN_TIME.search(sentence):
            return False
        carried = set(content_terms(f"{context}\n{sentence}"))
        missing = [t for t in asked if t not in carried]
        return len(missing) <= (1 if len(asked) >= 4 else 0)
    if kind == AnswerType.QUANTITY:
        return bool(_QUANTITY_IN_TEXT.search(sentence))
    if kind == AnswerType.WHO:
        return bool(SOMEONE.search(sentence))
    return True
