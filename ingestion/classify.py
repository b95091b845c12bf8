"""Which kind of document this is, from cue phrases weighted by where they appear.

A cue in the title counts five times one in the opening text; the opening text is the first
1,500 characters, where a report states what it is before it discusses other documents.
"""

import re

from core.documents import DocumentKind, ParsedDocument

_CUES: dict[DocumentKind, list[tuple[str, float]]] = {
    DocumentKind.QTA: [
        (r"quality (technical )?agreement", 3),
        (r"\bQTA\b", 2),
        (r"responsibilit(y|ies) matrix", 1),
        (r"contract giver|contract acceptor", 1.5),
        (r"the parties agree|hereby agree", 1),
    ],
    DocumentKind.BATCH_RECORD: [
        (r"batch (production )?record|batch manufacturing record|\bB[MP]R\b|executed batch", 3),
        (r"in-process (control|result|test)s?", 1),
        (r"step\s+\d+.*(performed|verified) by", 1),
        (r"fill(ing)? record|lot record", 2),
    ],
    DocumentKind.DEVIATION_REPORT: [
        (r"deviation (investigation )?report|non-?conformance report|\bNCR?\b", 3),
        (r"\b(DEV|NC)-\d", 2),
        (r"deviation (classification|number|no\.)", 1.5),
        (r"root cause", 0.5),
    ],
    DocumentKind.OOS_INVESTIGATION: [
        (r"out[- ]of[- ]specification|\bOOS\b", 3),
        (r"phase (I|1|II|2)\b.{0,30}investigation", 1.5),
        (r"assignable (laboratory )?cause", 1),
        (r"\bOOS-\d", 2),
    ],
    DocumentKind.CAPA: [
        (r"corrective (and|&) preventive action|\bCAPA\b (record|plan|report)", 3),
        (r"effectiveness (check|verification|review)", 1),
        (r"\bCAPA-\d", 1.5),
    ],
    DocumentKind.CHANGE_CONTROL: [
        (r"change (control|notification|request)", 3),
        (r"\bCC-\d|\bCCR-\d", 2),
        (r"prior approval|regulatory impact", 1),
    ],
    DocumentKind.AUDIT_REPORT: [
        (r"audit report|inspection report", 3),
        (r"\bobservations?\b.{0,40}\b(major|minor|critical)\b", 1),
        (r"auditor|auditee|audit (scope|dates)", 1.5),
    ],
    DocumentKind.MEETING_MINUTES: [
        (r"minutes|meeting (notes|summary)|governance (meeting|review)|business review", 3),
        (r"attendees|participants|action items?|actions? log", 1.5),
        (r"\bagenda\b", 1),
    ],
}


def classify(parsed: ParsedDocument) -> DocumentKind:
    opening = parsed.pages[0].text[:1500] if parsed.pages else ""
    scores: dict[DocumentKind, float] = {}
    for kind, cues in _CUES.items():
        score = 0.0
        for pattern, weight in cues:
            if re.search(pattern, parsed.title, re.I):
                score += 5 * weight
            score += weight * min(len(re.findall(pattern, opening, re.I)), 3)
        scores[kind] = score
    best = max(scores, key=scores.get)
    return best if scores[best] >= 3 else DocumentKind.OTHER
