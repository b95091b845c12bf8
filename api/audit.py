"""The audit trail's entries, written by the API and the CLI alike, and its CSV export."""

import csv
import io
import json

from core.audit import audit_entry
from core.auth import AuditEntry, Principal
from core.chat import OFFLINE, Answer
from core.documents import IngestResult, IngestStatus
from core.errors import NotFoundError
from core.store import RecordStore
from prompts.loader import load_prompt


def record(
    store: RecordStore,
    principal: Principal,
    action: str,
    *,
    document_ids=(),
    outcome: str = "ok",
    backend: str | None = None,
    prompt_version: str | None = None,
    detail: dict | None = None,
) -> None:
    """Append one entry to the audit trail, with the version of every document it concerns: for what changes
    nothing in the store (a question, a report on an upload not kept). A change is audited by the store call
    that makes it, in its transaction (core.audit)."""
    documents = []
    for document_id in dict.fromkeys(document_ids):
        try:
            documents.append(store.get(document_id))
        except NotFoundError:
            continue
    store.audit(audit_entry(principal, action, documents=documents, outcome=outcome, backend=backend,
                            prompt_version=prompt_version, detail=detail))  # fmt: skip


def record_upload(store: RecordStore, principal: Principal, result: IngestResult, **detail) -> None:
    """The files of an upload that changed nothing (already there, or refused), one entry each: a stored file
    was audited with it, in the same transaction."""
    for one in [result, *result.attachments]:
        if one.status in (IngestStatus.ADDED, IngestStatus.NEW_VERSION):
            continue
        record(store, principal, "upload", document_ids=[one.document_id] if one.document_id else [],
               outcome=one.status.value,
               detail={"filename": one.filename, "error": one.error, "analysis": one.analysis,
                       "supersedes": one.supersedes, "related_to": one.related_to, "downgrade": one.downgrade,
                       **detail})  # fmt: skip


def record_answer(store: RecordStore, principal: Principal, answer: Answer) -> None:
    """The question, the answer and the versions of the documents it cites, with the backend and prompt."""
    prompt = None if answer.backend == OFFLINE else load_prompt("chat_agent").version
    record(store, principal, "question", document_ids=[c.document_id for c in answer.citations],
           outcome=answer.kind.value, backend=answer.backend, prompt_version=prompt,
           detail={"session_id": answer.session_id, "question": answer.question, "answer": answer.text,
                   "fallback": answer.fallback})  # fmt: skip


def audit_csv(entries: list[AuditEntry]) -> str:
    """The trail as CSV, safe to open in a spreadsheet: a cell that would start a formula (= + - @, a tab or
    a carriage return) is written with a leading apostrophe, so a name like "=HYPERLINK(...)" stays text."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["id", "at", "actor", "actor_kind", "role", "action", "outcome", "documents", "backend",
                     "prompt_version", "detail", "seq", "hash"])  # fmt: skip
    for e in entries:
        docs = ";".join(f"{d['filename']}@v{d['version']}:{d['content_hash'][:12]}" for d in e.documents)
        row = [e.id, e.at.isoformat(), e.actor, e.actor_kind, e.role, e.action, e.outcome, docs, e.backend or "",
               e.prompt_version or "", json.dumps(e.detail, ensure_ascii=False), e.seq or "", e.hash or ""]  # fmt: skip
        writer.writerow([inert(c) for c in row])
    return out.getvalue()


def inert(cell) -> str:
    """The cell as text a spreadsheet will not run as a formula."""
    text = "" if cell is None else str(cell)
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text
