"""Who is asking: users and API keys, their roles and the programs and sites they may see; the audit record.

Passwords and keys are stored only as hashes (PBKDF2-SHA256 for passwords, SHA-256 for random keys and
session tokens, which carry 256 bits of their own).
"""

import hashlib
import hmac
import secrets
from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, Field

_ITERATIONS = 200_000


class Role(StrEnum):
    VIEWER = "viewer"  # reads documents, search, chat, reviews, risk and readiness
    REVIEWER = "reviewer"  # and uploads documents, runs reviews and triage
    ADMIN = "admin"  # and manages users and keys, reads the audit trail

    def allows(self, needed: "Role") -> bool:
        order = [Role.VIEWER, Role.REVIEWER, Role.ADMIN]
        return order.index(self) >= order.index(needed)


class Principal(BaseModel):
    name: str
    kind: str = Field(description="user, key, or local (authentication off)")
    role: Role
    programs: list[str] | None = Field(None, description="Programs it may see; None: every program")
    sites: list[str] | None = Field(None, description="Sites it may see; None: every site")
    key_id: str | None = Field(None, description="A key's own id: two keys may share a name")

    @property
    def identity(self) -> str:
        """Who, as one string: a key and a user may share a name, and so may two keys."""
        return f"key:{self.key_id}" if self.kind == "key" and self.key_id else f"{self.kind}:{self.name}"

    @property
    def scoped(self) -> bool:
        return self.programs is not None or self.sites is not None

    def may_write(self, programs: list[str], sites: list[str], doing: str = "store") -> str | None:
        """Why this principal may not add, supersede or analyse a document of these programs and sites (None:
        it may). A scoped principal writes only what lies inside its scope: a document naming no program of
        its own, or one of another program as well, is refused."""
        if self.programs is not None and (not programs or set(programs) - set(self.programs)):
            return (f"the file concerns {', '.join(programs) or 'no program of yours'}: you may {doing} only files "
                    f"of {', '.join(self.programs) or 'no program'}")  # fmt: skip
        if self.sites is not None and (not sites or set(sites) - set(self.sites)):
            return (f"the file concerns {', '.join(sites) or 'no site of yours'}: you may {doing} only files "
                    f"of {', '.join(self.sites) or 'no site'}")  # fmt: skip
        return None

    def lacks(self, programs: list[str], sites: list[str]) -> str | None:
        """What of a record's programs and sites lies outside this principal's scope, in words (None: its scope
        covers all of them), for a change that would hold for every program and site the record concerns."""
        outside = [p for p in programs if self.programs is not None and p not in self.programs]
        outside += [s for s in sites if self.sites is not None and s not in self.sites]
        return ", ".join(outside) or None

    def sees(self, programs: list[str], sites: list[str]) -> bool:
        """A record is visible when it concerns one of the principal's programs and one of its sites."""
        if self.programs is not None and not set(programs) & set(self.programs):
            return False
        return self.sites is None or bool(set(sites) & set(self.sites))


LOCAL = Principal(name="local", kind="local", role=Role.ADMIN)


class User(BaseModel):
    username: str
    role: Role
    programs: list[str] | None = None
    sites: list[str] | None = None


class ApiKeyInfo(BaseModel):
    id: str = Field(description="The key's public prefix")
    name: str
    role: Role
    programs: list[str] | None = None
    sites: list[str] | None = None
    created_at: datetime


class IssuedKey(ApiKeyInfo):
    key: str = Field(description="Shown once: only its hash is kept")


class AuditEntry(BaseModel):
    id: int | None = None
    at: datetime
    actor: str
    actor_kind: str
    role: str
    action: str = Field(description="upload, review_qta, triage, question, login, login_failed, ...")
    outcome: str = "ok"
    documents: list[dict] = Field(default_factory=list, description="id, filename, content_hash, version")
    backend: str | None = Field(None, description="offline, rules, or llm:<model>")
    prompt_version: str | None = None
    detail: dict = Field(default_factory=dict)
    seq: int | None = Field(None, description="Its number in the hash chain (core/audit.py)")
    prev_hash: str | None = None
    hash: str | None = None


def hash_password(password: str) -> str:
    salt = secrets.token_bytes(16)
    digest = hashlib.pbkdf2_hmac("sha256", password.encode(), salt, _ITERATIONS)
    return f"pbkdf2_sha256${_ITERATIONS}${salt.hex()}${digest.hex()}"


def check_password(password: str, stored: str) -> bool:
    try:
        _, iterations, salt, digest = stored.split("$")
    except ValueError:
        return False
    computed = hashlib.pbkdf2_hmac("sha256", password.encode(), bytes.fromhex(salt), int(iterations))
    return hmac.compare_digest(computed.hex(), digest)


def new_secret(prefix: str) -> str:
    return f"{prefix}_{secrets.token_urlsafe(32)}"


def secret_hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()
