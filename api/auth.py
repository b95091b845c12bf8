"""Authentication (API keys for machines, a login session for people), user and key management, and the
audit trail: who did what, when, to which document versions, with which backend and prompt version."""

from datetime import timedelta
from functools import cache
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Request, Response, status
from fastapi.responses import PlainTextResponse
from pydantic import BaseModel, Field

from api import accounts
from api.audit import audit_csv, record
from api.deps import AppState, get_principal, require
from core.audit import AuditVerification, parse_anchor
from core.auth import (
    ApiKeyInfo,
    AuditEntry,
    IssuedKey,
    Principal,
    Role,
    User,
    check_password,
    hash_password,
    new_secret,
    secret_hash,
)
from core.store import utcnow

SESSION_COOKIE = "cdmo_session"
SESSION_HOURS = 12

router = APIRouter(tags=["auth"])


def authenticate(request: Request, state: AppState) -> Principal | None:
    store = state.corpus.store
    header = request.headers.get("authorization", "")
    if header.lower().startswith("bearer "):
        key = store.api_key(secret_hash(header[7:].strip()))
        if key is None:
            return None
        return Principal(name=key.name, kind="key", role=key.role, programs=key.programs, sites=key.sites, key_id=key.id)
    token = request.cookies.get(SESSION_COOKIE)
    user = store.session_user(secret_hash(token)) if token else None
    if user is None:
        return None
    return Principal(name=user.username, kind="user", role=user.role, programs=user.programs, sites=user.sites)


def _app(request: Request) -> AppState:
    return request.app.state.cdmo


class Login(BaseModel):
    username: str = Field(max_length=120)
    password: str = Field(max_length=1000)


@router.post("/auth/login", response_model=User)
def login(body: Login, request: Request, response: Response):
    """Start a session: the cookie it sets is HttpOnly and SameSite=Strict."""
    state = _app(request)
    store, settings = state.corpus.store, state.settings
    claimed = Principal(name=body.username, kind="claimed", role=Role.VIEWER)  # a name anyone can send
    window = timedelta(minutes=settings.login_lockout_minutes)
    # counted before the password is checked, so concurrent guesses cannot all get in under the limit; a name is
    # locked whether or not it exists (no telling which do), and then its password is not even checked
    # one address's failures lock the name for that address only: a stranger's guesses do not lock a user out
    # from their own desk; many addresses together (a spread attack) lock it everywhere
    source = request.client.host if request.client else None
    attempt, here, anywhere = store.login_attempt(body.username, utcnow() - window, source)
    if here > settings.login_max_failures or anywhere > settings.login_max_failures_anywhere:
        store.login_outcome(attempt, "locked")
        where = "from this address" if here > settings.login_max_failures else "from many addresses"
        # refusals by whatever name anyone sends are written at a bounded rate (api/refusals.py)
        state.refused_logins.refused(store, claimed, request.method, request.url.path, 429, f"login locked ({where})",
                               action="login", outcome="locked")  # fmt: skip
        raise HTTPException(
            status.HTTP_429_TOO_MANY_REQUESTS,
            f"too many failed logins for {body.username} {where}: try again in {settings.login_lockout_minutes} "
            "minutes",
            headers={"Retry-After": str(int(window.total_seconds()))},
        )
    found = store.user(body.username)
    # an unknown name costs the same hashing as a known one: the time of the answer tells nothing
    if not check_password(body.password, found[1] if found else _unknown_user_hash()):
        store.login_outcome(attempt, "refused")
        state.refused_logins.refused(store, claimed, request.method, request.url.path, 401, "unknown user or wrong password",
                               action="login", outcome="refused")  # fmt: skip
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, "unknown user or wrong password")
    store.login_outcome(attempt, "ok")
    user = found[0]
    token = new_secret("cs")
    store.add_session(secret_hash(token), user.username, utcnow() + timedelta(hours=SESSION_HOURS))
    response.set_cookie(
        SESSION_COOKIE,
        token,
        max_age=SESSION_HOURS * 3600,
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
    )
    record(store, Principal(name=user.username, kind="user", role=user.role), "login")
    return user


@cache
def _unknown_user_hash() -> str:
    """What a password is checked against when the name is nobody's: a hash of the same cost."""
    return hash_password(new_secret("nobody"))


@router.post("/auth/logout", status_code=status.HTTP_204_NO_CONTENT)
def logout(request: Request, response: Response):
    token = request.cookies.get(SESSION_COOKIE)
    if token:
        _app(request).corpus.store.end_session(secret_hash(token))
    response.delete_cookie(SESSION_COOKIE)


@router.get("/auth/me", response_model=Principal)
def me(principal: Annotated[Principal, Depends(get_principal)]):
    """Who the request is from, with its role and the programs and sites it may see."""
    return principal


class NewUser(BaseModel):
    username: str = Field(min_length=1, max_length=120, pattern=r"^[\w.@-]+$")
    password: str = Field(min_length=12, max_length=1000)
    role: Role
    programs: list[str] | None = None
    sites: list[str] | None = None


@router.post("/auth/users", response_model=User, status_code=status.HTTP_201_CREATED)
def add_user(body: NewUser, request: Request, admin: Annotated[Principal, require(Role.ADMIN)]):
    user = User(username=body.username, role=body.role, programs=body.programs, sites=body.sites)
    accounts.add_user(_app(request).corpus.store, admin, user, body.password)
    return user


@router.get("/auth/users", response_model=list[User])
def list_users(request: Request, admin: Annotated[Principal, require(Role.ADMIN)]):
    return _app(request).corpus.store.users()


@router.delete("/auth/users/{username}", status_code=status.HTTP_204_NO_CONTENT)
def remove_user(username: str, request: Request, admin: Annotated[Principal, require(Role.ADMIN)]):
    """Remove a user; their sessions end at once."""
    if not accounts.remove_user(_app(request).corpus.store, admin, username):
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no user {username}")


class NewKey(BaseModel):
    name: str = Field(min_length=1, max_length=120)
    role: Role
    programs: list[str] | None = None
    sites: list[str] | None = None


@router.post("/auth/keys", response_model=IssuedKey, status_code=status.HTTP_201_CREATED)
def add_key(body: NewKey, request: Request, admin: Annotated[Principal, require(Role.ADMIN)]):
    return accounts.issue_key(_app(request).corpus.store, body.name, body.role, body.programs, body.sites, admin)


@router.get("/auth/keys", response_model=list[ApiKeyInfo])
def list_keys(request: Request, admin: Annotated[Principal, require(Role.ADMIN)]):
    """Every key's prefix, name, role, scope and creation time; never the key."""
    return _app(request).corpus.store.api_keys()


@router.delete("/auth/keys/{key_id}", status_code=status.HTTP_204_NO_CONTENT)
def revoke_key(key_id: str, request: Request, admin: Annotated[Principal, require(Role.ADMIN)]):
    """Revoke a key by its prefix: it is refused from the next request on."""
    if not accounts.revoke_key(_app(request).corpus.store, admin, key_id):
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no key {key_id}")


@router.get("/audit/verify", response_model=AuditVerification)
def verify_audit(request: Request, admin: Annotated[Principal, require(Role.ADMIN)], against: str | None = None):
    """Walk the trail's hash chain: an entry changed, removed or cut from the end is named; `against`: a head noted
    elsewhere earlier ('<entry>:<hash>', as the digest prints it), which must still be in the chain."""
    try:
        anchor = parse_anchor(against) if against else None
    except ValueError as exc:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, str(exc)) from None
    return _app(request).corpus.store.verify_audit(anchor)


@router.get("/audit", response_model=list[AuditEntry])
def audit_trail(
    request: Request,
    admin: Annotated[Principal, require(Role.ADMIN)],
    actor: str | None = None,
    action: str | None = None,
    format: str = "json",
):
    """The audit trail, oldest first; `?format=jsonl` or `csv` to export it."""
    entries = _app(request).corpus.store.audit_entries(actor=actor, action=action)
    if format == "jsonl":
        return PlainTextResponse(
            "".join(e.model_dump_json() + "\n" for e in entries), media_type="application/x-ndjson"
        )
    if format == "csv":
        return PlainTextResponse(audit_csv(entries), media_type="text/csv")
    return entries
