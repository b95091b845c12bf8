"""People and keys: added, reset, removed and revoked the same way from the API and the CLI, each change
audited in its own transaction."""

from core.audit import audit_entry
from core.auth import ApiKeyInfo, IssuedKey, Principal, Role, User, hash_password, new_secret, secret_hash
from core.store import RecordStore, utcnow


def add_user(store: RecordStore, actor: Principal, user: User, password: str) -> None:
    """Add a user, or reset one (a reset ends their sessions)."""
    store.save_user(user, hash_password(password), audit_entry(actor, "add_user", detail=user.model_dump(mode="json")))


def remove_user(store: RecordStore, actor: Principal, username: str) -> bool:
    return store.remove_user(username, audit_entry(actor, "remove_user", detail={"username": username}))


def issue_key(
    store: RecordStore, name: str, role: Role, programs=None, sites=None, actor: Principal | None = None
) -> IssuedKey:
    """A new key, printed once: only its hash is kept."""
    key = new_secret("ck")
    info = ApiKeyInfo(id=key[:11], name=name, role=role, programs=programs, sites=sites, created_at=utcnow())
    entry = actor and audit_entry(actor, "add_key", detail=info.model_dump(mode="json"))
    store.add_api_key(info, secret_hash(key), entry)
    return IssuedKey(**info.model_dump(), key=key)


def revoke_key(store: RecordStore, actor: Principal, key_id: str) -> bool:
    return store.revoke_api_key(key_id, audit_entry(actor, "revoke_key", detail={"id": key_id}))
