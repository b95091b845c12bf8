"""The FastAPI app. `create_app(settings)` so tests and the server build the same thing."""

from contextlib import asynccontextmanager
from typing import Annotated

from fastapi import Depends, FastAPI
from fastapi.staticfiles import StaticFiles

from agents.nightly_runner import NightlyRunner, NightlyScheduler
from api import auth
from api.deps import AppState, get_principal
from api.routers import chat, documents, extraction, oversight, search, web
from core.auth import Principal, Role
from core.config import Settings, get_settings
from core.portfolio import Portfolio
from core.programs import load_programs
from core.scope import scoped_portfolio

SCHEDULER = Principal(name="scheduler", kind="system", role=Role.ADMIN)


def create_app(settings: Settings | None = None) -> FastAPI:
    state = AppState(settings or get_settings())

    @asynccontextmanager
    async def lifespan(app: FastAPI):
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
    )
    app.state.cdmo = state
    app.include_router(documents.router)
    app.include_router(search.router)
    app.include_router(extraction.router)
    app.include_router(chat.router)
    app.include_router(oversight.router)
    app.include_router(auth.router)
    app.include_router(web.router)
    app.mount("/static", StaticFiles(directory=web.STATIC), name="static")

    @app.get("/health", tags=["health"])
    def health() -> dict:
        return {"status": "ok"}

    @app.get("/portfolio", response_model=Portfolio, tags=["portfolio"])
    def portfolio(who: Annotated[Principal, Depends(get_principal)]) -> Portfolio:
        """The sponsor's sites and programs that the principal may see: what the scope picker offers."""
        return scoped_portfolio(state.portfolio, who)

    return app
