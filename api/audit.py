"""The audit trail's entries, written by the API and the CLI alike, and its CSV export."""

import csv
import io
import json

from core.auth import AuditEntry, Principal
from core.chat import OFFLINE, Answer
from core.documents import IngestResult
from core.errors import NotFoundError
from core.store import RecordStore, utcnow
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
    """Append one entry to the audit trail, with the version of every document it concerns."""
    documents = []
    for document_id in dict.fromkeys(document_ids):
        try:
            doc = store.get(document_id)
        except NotFoundError:
            continue
        documents.append(
            {"id": doc.id, "filename": doc.filename, "content_hash": doc.content_hash, "version": doc.version}
        )
    store.audit(
        AuditEntry(
            at=utcnow(),
            actor=principal.name,
            actor_kind=principal.kind,
            role=principal.role.value,
            action=action,
            outcome=outcome,
            documents=documents,
            backend=backend,
            prompt_version=prompt_version,
            detail=detail or {},
        )
    )


def record_upload(store: RecordStore, principal: Principal, result: IngestResult, **detail) -> None:
    """One entry per file of an upload: the file itself, then each attachment of an e-mail."""
    for one in [result, *result.attachments]:
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
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(
        [
            "id",
            "at",
            "actor",
            "actor_kind",
            "role",
            "action",
            "outcome",
            "documents",
            "backend",
            "prompt_version",
            "detail",
        ]
    )
    for e in entries:
        docs = ";".join(f"{d['filename']}@v{d['version']}:{d['content_hash'][:12]}" for d in e.documents)
        writer.writerow(
            [
                e.id,
                e.at.isoformat(),
                e.actor,
                e.actor_kind,
                e.role,
                e.action,
                e.outcome,
                docs,
                e.backend or "",
                e.prompt_version or "",
                json.dumps(e.detail, ensure_ascii=False),
            ]
        )
    return out.getvalue()
