"""Authentication (API keys for machines, a login session for people), user and key management, and the
audit trail: who did what, when, to which document versions, with which backend and prompt version."""

from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Request, Response, status
from fastapi.responses import PlainTextResponse
from pydantic import BaseModel, Field

from api.audit import audit_csv, record
from api.deps import AppState, get_principal, require
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
from core.store import RecordStore, utcnow

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
        return Principal(name=key.name, kind="key", role=key.role, programs=key.programs, sites=key.sites)
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
    anonymous = Principal(name=body.username, kind="user", role=Role.VIEWER)
    window = timedelta(minutes=settings.login_lockout_minutes)
    # a name is locked whether or not it exists (no telling which do), and the password is not even checked
    if store.failed_logins(body.username, utcnow() - window) >= settings.login_max_failures:
        record(store, anonymous, "login", outcome="locked")
        raise HTTPException(
            status.HTTP_429_TOO_MANY_REQUESTS,
            f"{settings.login_max_failures} failed logins for {body.username}: try again in "
            f"{settings.login_lockout_minutes} minutes",
            headers={"Retry-After": str(int(window.total_seconds()))},
        )
    found = store.user(body.username)
    if found is None or not check_password(body.password, found[1]):
        record(store, anonymous, "login", outcome="refused")
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, "unknown user or wrong password")
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
    store = _app(request).corpus.store
    store.save_user(user, hash_password(body.password))
    record(store, admin, "add_user", detail=user.model_dump(mode="json"))
    return user


@router.get("/auth/users", response_model=list[User])
def list_users(request: Request, admin: Annotated[Principal, require(Role.ADMIN)]):
    return _app(request).corpus.store.users()


@router.delete("/auth/users/{username}", status_code=status.HTTP_204_NO_CONTENT)
def remove_user(username: str, request: Request, admin: Annotated[Principal, require(Role.ADMIN)]):
    """Remove a user; their sessions end at once."""
    store = _app(request).corpus.store
    if not store.remove_user(username):
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no user {username}")
    record(store, admin, "remove_user", detail={"username": username})


class NewKey(BaseModel):
    name: str = Field(min_length=1, max_length=120)
    role: Role
    programs: list[str] | None = None
    sites: list[str] | None = None


@router.post("/auth/keys", response_model=IssuedKey, status_code=status.HTTP_201_CREATED)
def add_key(body: NewKey, request: Request, admin: Annotated[Principal, require(Role.ADMIN)]):
    store = _app(request).corpus.store
    issued = issue_key(store, body.name, body.role, body.programs, body.sites)
    record(store, admin, "add_key", detail=issued.model_dump(mode="json", exclude={"key"}))
    return issued


@router.get("/auth/keys", response_model=list[ApiKeyInfo])
def list_keys(request: Request, admin: Annotated[Principal, require(Role.ADMIN)]):
    """Every key's prefix, name, role, scope and creation time; never the key."""
    return _app(request).corpus.store.api_keys()


@router.delete("/auth/keys/{key_id}", status_code=status.HTTP_204_NO_CONTENT)
def revoke_key(key_id: str, request: Request, admin: Annotated[Principal, require(Role.ADMIN)]):
    """Revoke a key by its prefix: it is refused from the next request on."""
    store = _app(request).corpus.store
    if not store.revoke_api_key(key_id):
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no key {key_id}")
    record(store, admin, "revoke_key", detail={"id": key_id})


def issue_key(store: RecordStore, name: str, role: Role, programs=None, sites=None) -> IssuedKey:
    key = new_secret("ck")
    info = ApiKeyInfo(id=key[:11], name=name, role=role, programs=programs, sites=sites, created_at=utcnow())
    store.add_api_key(info, secret_hash(key))
    return IssuedKey(**info.model_dump(), key=key)


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
