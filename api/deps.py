"""Dependencies: the app's one corpus (the embedded vector engines lock their folder) and portfolio, and
for each request who is asking and the view of the corpus they are allowed (api/auth.py)."""

import hmac
import re
import threading
from typing import Annotated

from fastapi import Depends, HTTPException, Request, status

from agents.chat import ChatService, make_chat_service
from agents.register import upgrade_positional_keys
from api.client import ACTOR_HEADER
from api.jobs import JobRunner
from api.refusals import RefusalLog, claimed
from core.auth import LOCAL, Principal, Role, new_secret
from core.config import Settings
from core.ownership import claim_store
from core.passages import PassagePrograms
from core.portfolio import Portfolio, load_portfolio
from core.programs import load_programs
from core.scope import scoped_portfolio
from retrieval.corpus import Corpus
from retrieval.scope import scoped


class AppState:
    def __init__(self, settings: Settings):
        self.settings = settings
        self._corpus: Corpus | None = None
        self._borrowed = False
        self._chat: ChatService | None = None
        self._scoped_chats: dict[tuple, ChatService] = {}
        self._passages: PassagePrograms | None = None
        self._lock = threading.Lock()
        self.ownership = None
        self._jobs = None
        # the local CLI's admin credential for this server, written beside the store's lock (0600), so that
        # whoever can read the data folder (and nobody else) works through the server while it runs
        self.cli_token = new_secret("cl")
        self.refusals = RefusalLog(settings.refusals_per_minute)  # refused requests, into the audit trail, bounded
        # refused logins, bounded apart: a flood of them hides no other refusal
        self.refused_logins = RefusalLog(settings.refusals_per_minute)

    def borrow(self, corpus: Corpus) -> None:
        """Serve a corpus its caller opened and will close (the tests, the load run)."""
        self._corpus, self._borrowed = corpus, True

    def claim_store(self, url: str | None) -> None:
        """Own the data folder before anything in it is opened, and say where this server answers."""
        self.ownership = claim_store(self.settings, "cdmo serve")
        if url:
            self.ownership.announce(url, self.cli_token)

    @property
    def corpus(self) -> Corpus:
        with self._lock:  # opened on first use so that the app starts at once
            if self._corpus is None:
                self._corpus = Corpus(self.settings)
                upgrade_positional_keys(self._corpus.store, self.portfolio)  # work kept under keys of before
            return self._corpus

    @property
    def jobs(self) -> JobRunner:
        """The ingestion queue (api/jobs.py)."""
        with self._lock:
            if self._jobs is None:
                self._jobs = JobRunner(self)
            return self._jobs

    @property
    def chat(self) -> ChatService:
        corpus = self.corpus
        with self._lock:
            if self._chat is None:
                self._chat = make_chat_service(corpus, self.portfolio)
            return self._chat

    @property
    def portfolio(self) -> Portfolio:
        return load_portfolio(self.settings.portfolio_path)

    @property
    def passages(self) -> PassagePrograms:
        """Which programs each stored passage concerns: one for every scoped view, so computed once."""
        corpus = self.corpus
        with self._lock:
            if self._passages is None:
                self._passages = PassagePrograms(
                    corpus.store, self.portfolio, load_programs(self.settings.programs_path)
                )
            return self._passages

    def scoped(self, principal: Principal):
        return scoped(self.corpus, principal, self.passages)

    def scoped_chat(self, principal: Principal) -> ChatService:
        """A chat service over the principal's view (searches, analyses, citations), one per view: built
        per request, it would reread every chunk's term statistics on every question."""
        view = tuple(None if ids is None else tuple(sorted(ids)) for ids in (principal.programs, principal.sites))
        view_corpus = self.scoped(principal)
        with self._lock:
            if view not in self._scoped_chats:
                # its questions are read against the principal's own sites and programs: a refusal never
                # names a program, product or site outside the view
                self._scoped_chats[view] = make_chat_service(view_corpus, scoped_portfolio(self.portfolio, principal))
            return self._scoped_chats[view]

    def close(self) -> None:
        try:
            if self._jobs is not None:
                self._jobs.close()
            if self._corpus is not None and not self._borrowed:
                self._corpus.close()
        finally:
            if self.ownership is not None:
                self.ownership.release()


class RequestState:
    """The app as one principal sees it: `corpus` is narrowed to its programs and sites."""

    def __init__(self, app_state: AppState, principal: Principal):
        self.app, self.principal = app_state, principal
        self.settings = app_state.settings
        self._corpus = None

    @property
    def corpus(self):
        if self._corpus is None:
            self._corpus = self.app.scoped(self.principal)
        return self._corpus

    @property
    def portfolio(self) -> Portfolio:
        return self.app.portfolio

    @property
    def chat(self) -> ChatService:
        if not self.principal.scoped:
            return self.app.chat
        return self.app.scoped_chat(self.principal)


def cli_principal(request: Request, app_state: AppState) -> Principal | None:
    """The local CLI, when it sends this server's own token."""
    header = request.headers.get("authorization", "")
    if not header.lower().startswith("bearer ") or not hmac.compare_digest(
        header[7:].strip().encode(), app_state.cli_token.encode()
    ):
        return None
    actor = re.sub(r"[^\w.@:-]", "", request.headers.get(ACTOR_HEADER, ""))[:120] or "cli"
    return Principal(name=actor, kind="cli", role=Role.ADMIN)


def known_principal(request: Request, app_state: AppState) -> Principal | None:
    """Who the request's headers prove it is (the local CLI's token, a key, a session), or None."""
    from api.auth import authenticate

    return cli_principal(request, app_state) or authenticate(request, app_state)


def get_principal(request: Request) -> Principal:
    app_state: AppState = request.app.state.cdmo
    if (checked := request.scope.get("cdmo.principal")) is not None:
        return checked  # found before the body was read (api.limits.KeyBeforeBody)
    if (cli := cli_principal(request, app_state)) is not None:
        return cli
    if not app_state.settings.auth_enabled:
        return LOCAL
    principal = known_principal(request, app_state)
    if principal is None:
        reason = "log in, or send an API key as 'Authorization: Bearer ...'"
        refused(request, claimed(request.headers.get("authorization", "")), 401, "no valid key or session")
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, reason, headers={"WWW-Authenticate": "Bearer"})
    return principal


def refused(request: Request, who: Principal, status_code: int, reason: str) -> None:
    """Put a refused request in the audit trail (api/refusals.py)."""
    app_state: AppState = request.app.state.cdmo
    app_state.refusals.refused(app_state.corpus.store, who, request.method, request.url.path, status_code, reason)


def get_state(request: Request, principal: Annotated[Principal, Depends(get_principal)]) -> RequestState:
    return RequestState(request.app.state.cdmo, principal)


def get_corpus(state: Annotated[RequestState, Depends(get_state)]):
    return state.corpus


def get_chat(state: Annotated[RequestState, Depends(get_state)]) -> ChatService:
    return state.chat


def require(role: Role):
    """A dependency that lets the request through only for this role or a higher one."""

    def check(request: Request, principal: Annotated[Principal, Depends(get_principal)]) -> Principal:
        if not principal.role.allows(role):
            reason = f"needs the {role.value} role; {principal.name} is {principal.role.value}"
            refused(request, principal, 403, reason)
            raise HTTPException(status.HTTP_403_FORBIDDEN, reason)
        return principal

    return Depends(check)
