"""The FastAPI app. `create_app(settings)` so tests and the server build the same thing."""

from contextlib import asynccontextmanager

from fastapi import FastAPI

from api.deps import AppState
from api.routers import documents, extraction, search
from core.config import Settings, get_settings


def create_app(settings: Settings | None = None) -> FastAPI:
    state = AppState(settings or get_settings())

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        yield
        state.close()

    app = FastAPI(
        title="CDMO document intelligence",
        description="CDMO quality documents: a cited, searchable corpus; QTA gap review; investigation triage.",
        version="0.1.0",
        lifespan=lifespan,
    )
    app.state.cdmo = state
    app.include_router(documents.router)
    app.include_router(search.router)
    app.include_router(extraction.router)

    @app.get("/health", tags=["health"])
    def health() -> dict:
        return {"status": "ok"}

    return app
