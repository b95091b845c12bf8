"""The FastAPI app. `create_app(settings)` so tests and the server build the same thing."""

import logging
import threading
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Annotated

import numpy as np
import swagger_ui_bundle
from fastapi import Depends, FastAPI
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse, JSONResponse
from fastapi.staticfiles import StaticFiles

from agents.nightly_runner import NightlyRunner, NightlyScheduler
from api import auth
from api.deps import AppState, get_principal
from api.limits import KeyBeforeBody, RequestLimits
from api.routers import chat, documents, extraction, findings, jobs, oversight, search, store, web
from core.auth import Principal, Role
from core.config import Settings, get_settings
from core.errors import IndexUnreadable, StoreBusyError, unexpected
from core.portfolio import Portfolio
from core.programs import load_programs
from core.scope import scoped_portfolio
from core.search import SearchFilters

SCHEDULER = Principal(name="scheduler", kind="system", role=Role.ADMIN)
# Swagger UI from an installed package: /docs works on a machine with no way out
SWAGGER = Path(swagger_ui_bundle.swagger_ui_path)
log = logging.getLogger(__name__)


def create_app(settings: Settings | None = None, url: str | None = None) -> FastAPI:
    """The app; `url` is where it is served, written beside the store's lock so that the CLI comes here."""
    state = AppState(settings or get_settings())

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        state.claim_store(url)  # before any file of the store is opened; refuses if another process owns it
        # what a stop left queued or running, in the background: the app answers at once
        threading.Thread(target=state.jobs.resume, name="resume-jobs", daemon=True).start()
        scheduler = None
        if state.settings.nightly_at:  # the in-process schedule; a cron line running `cdmo nightly` does the same
            programs = load_programs(state.settings.programs_path)

            def nightly() -> None:
                run, _ = NightlyRunner(state.settings, state.corpus.store, state.portfolio, programs).run()
                auth.record(
                    state.corpus.store, SCHEDULER, "nightly", detail={"digest": run.id, "mailed_to": run.mailed_to}
                )

            scheduler = NightlyScheduler(state.settings.nightly_at, nightly)
            scheduler.start()
        yield
        if scheduler:
            scheduler.stop()
        state.close()

    app = FastAPI(
        title="CDMO document intelligence",
        description="CDMO quality documents: a cited, searchable corpus; QTA gap review; investigation triage; "
        "chat with cited answers; the web app at /.",
        version="0.1.0",
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
    )
    app.state.cdmo = state
    app.include_router(documents.router)
    app.include_router(jobs.router)
    app.include_router(search.router)
    app.include_router(extraction.router)
    app.include_router(findings.router)
    app.include_router(chat.router)
    app.include_router(oversight.router)
    app.include_router(store.router)
    app.include_router(auth.router)
    app.include_router(web.router)
    app.mount("/static", StaticFiles(directory=web.STATIC), name="static")
    app.mount("/swagger", StaticFiles(directory=SWAGGER), name="swagger")

    @app.get("/docs", include_in_schema=False)
    def docs() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url=app.openapi_url,
            title=f"{app.title} - API",
            swagger_js_url="/swagger/swagger-ui-bundle.js",
            swagger_css_url="/swagger/swagger-ui.css",
            swagger_favicon_url="/swagger/favicon-32x32.png",
        )

    app.add_middleware(RequestLimits, settings=state.settings)  # inside: its refusals are not "unexpected"
    app.add_middleware(KeyBeforeBody, settings=state.settings)  # outside it: no body is read for a stranger
    app.add_middleware(UnexpectedFailures)

    @app.get("/health", tags=["health"], responses={503: {"description": "The store cannot answer, and why"}})
    def health():
        """ok when the records and the vector index both answer a small read; 503 with the problems when not;
        degraded (200: search answers) when the vectors were made by another arithmetic and uploads wait for
        `cdmo check --repair`. `vectors` says whose arithmetic the index holds."""
        problems = []
        try:
            corpus = state.corpus
            corpus.store.generation()
            corpus.vectors.search(np.eye(1, corpus.embedder.dimension, dtype=np.float32)[0], 1, SearchFilters())
        except (IndexUnreadable, StoreBusyError) as exc:
            problems.append(str(exc))
        except Exception as exc:
            problems.append(unexpected(log, "reading the store", exc))
        if problems:
            return JSONResponse({"status": "unavailable", "problems": problems}, status_code=503)
        if not corpus.arithmetic.mixable:
            return {"status": "degraded", "problems": [f"{corpus.arithmetic.words}: uploads are refused until "
                                                       "`cdmo check --repair` embeds every passage again"],
                    "vectors": corpus.arithmetic.state}  # fmt: skip
        return {"status": "ok", "vectors": corpus.arithmetic.state}

    @app.get("/portfolio", response_model=Portfolio, tags=["portfolio"])
    def portfolio(who: Annotated[Principal, Depends(get_principal)]) -> Portfolio:
        """The sponsor's sites and programs that the principal may see: what the scope picker offers."""
        return scoped_portfolio(state.portfolio, who)

    return app


class UnexpectedFailures:
    """A failure nobody foresaw: logged with its traceback; the caller is told in words what failed (the route),
    never the exception's own text. An ASGI middleware rather than an exception handler, which would re-raise
    and make the server drop the connection."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        started = False

        async def sending(message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, sending)
        except Exception as exc:
            if started:  # the response is under way (a stream): it can only be cut short
                raise
            if isinstance(exc, (IndexUnreadable, StoreBusyError)):  # already in words, and not this request's fault
                log.error("%s", exc)
                return await JSONResponse({"detail": str(exc)}, status_code=503)(scope, receive, send)
            doing = (getattr(scope.get("route"), "name", "") or scope["path"]).replace("_", " ")
            await JSONResponse({"detail": unexpected(log, doing, exc)}, status_code=500)(scope, receive, send)
