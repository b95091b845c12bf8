"""The audit trail as a chain: each entry carries the hash of the one before, so that an edit, a deletion
or a cut at the end is found by walking it (`cdmo audit verify`), even where the database's append-only
triggers were dropped by hand.

An entry's hash covers its number in the chain, the previous hash and every field it records (who, when,
what, the documents and their versions, the detail), written canonically (sorted keys, UTC times). Entries
are appended inside the transaction of the change they record, so a change is never stored without its
entry (nor an entry without its change).
"""

import hashlib
import json
from collections.abc import Iterable
from datetime import UTC, datetime

from pydantic import BaseModel, Field

from core.auth import AuditEntry, Principal
from core.documents import Document

GENESIS = "0" * 64  # the "previous hash" of the first entry of a chain


def document_ref(doc: Document) -> dict:
    """A document as an audit entry names it: which file, which bytes, which version."""
    return {"id": doc.id, "filename": doc.filename, "content_hash": doc.content_hash, "version": doc.version}


def audit_entry(
    principal: Principal,
    action: str,
    *,
    documents: Iterable[Document] = (),
    outcome: str = "ok",
    backend: str | None = None,
    prompt_version: str | None = None,
    detail: dict | None = None,
) -> AuditEntry:
    return AuditEntry(
        at=datetime.now(UTC),
        actor=principal.name,
        actor_kind=principal.kind,
        role=principal.role.value,
        action=action,
        outcome=outcome,
        documents=[document_ref(d) for d in documents],
        backend=backend,
        prompt_version=prompt_version,
        detail=detail or {},
    )


def entry_hash(entry: AuditEntry, seq: int, previous: str) -> str:
    body = entry.model_dump(mode="json", exclude={"id", "seq", "prev_hash", "hash", "at"})
    at = entry.at if entry.at.tzinfo else entry.at.replace(tzinfo=UTC)
    body |= {"at": at.astimezone(UTC).isoformat(), "seq": seq, "prev": previous}
    canonical = json.dumps(body, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def head_anchor(seq: int, digest: str) -> str:
    """The chain's head as one line to keep elsewhere (the digest prints it): "<entry>:<hash>"."""
    return f"{seq}:{digest}"


def parse_anchor(text: str) -> tuple[int, str]:
    """"<entry>:<hash>" back into its parts (ValueError, in words, when it is not one)."""
    seq, _, digest = text.strip().partition(":")
    if not seq.isdigit() or len(digest) != 64 or any(c not in "0123456789abcdef" for c in digest):
        raise ValueError(f"not a head noted from the audit trail ('<entry>:<64 hex digits>'): {text[:80]!r}")
    return int(seq), digest


class AuditVerification(BaseModel):
    entries: int = Field(description="Entries in the trail")
    chained: int = Field(description="Entries in the hash chain")
    unchained: int = Field(0, description="Entries written before the chain began (an older store)")
    head_seq: int = Field(description="The chain's last number, as the store's head records it")
    head_hash: str = Field(description="The chain's last hash: note it elsewhere to prove later that nothing changed")
    anchor: str = Field("", description="The head as one line, '<entry>:<hash>', for `cdmo audit verify --against`")
    problems: list[str] = Field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems
