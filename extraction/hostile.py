"""Text addressed to an AI reviewer ("ignore previous instructions ...") inside a document.

Document text is data, never instructions. Such passages are reported, kept out of every rule, and any
quote an LLM takes from them is refused, so they cannot change a finding.
"""

import re
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from extraction.source import Clause

_PATTERNS = [
    r"\b(ignore|disregard|forget|override)\b[^.]{0,40}\b(instructions?|prompts?|rules|guidelines)\b",
    r"\b(you are|act as|pretend to be)\s+(now\s+)?(an?\s+)?(ai|assistant|language model|llm|chatbot|reviewer)\b",
    r"\b(system prompt|developer message|new instructions)\b",
    r"\b(note|message|instructions?)\s+(to|for)\s+(the\s+)?(ai|automated|llm|language model|review(er)?s?\b)",
    r"\b(mark|classify|set|report|record|treat)\b[^.]{0,40}\b(batch|lot|deviation|event|risk|investigation|finding)"
    r"[^.]{0,40}\b(as|to)\s+(released|approved|minor|low|closed|acceptable|compliant)\b",
    r"\bdo not\s+(flag|report|mention|raise)\b",
]
HOSTILE = re.compile("|".join(f"(?:{p})" for p in _PATTERNS), re.IGNORECASE)


def overlaps(page: int, start: int, end: int, clauses: "list[Clause]") -> bool:
    return any(c.page == page and start < c.end and c.start < end for c in clauses)
