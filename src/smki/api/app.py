"""The FastAPI application factory: ``create_app(home)``. Route groups live in ``routes_*.py`` modules."""

from __future__ import annotations

import importlib
from pathlib import Path

from fastapi import APIRouter, FastAPI

from smki import __version__
from smki.api.errors import install_error_handlers
from smki.settings import database_url, resolve_home
from smki.storage import Database

# Each module exposes `router: APIRouter`; modules not written yet are skipped.
ROUTE_MODULES = (
    "smki.api.routes_health",
    "smki.api.routes_ca",
    "smki.api.routes_repository",
    "smki.api.routes_subscribers",
)


def create_app(home: Path | str | None = None, *, database: Database | None = None) -> FastAPI:
    """The SMKI web application for one SMKI home (its database from SMKI_DATABASE_URL or the home)."""
    resolved = resolve_home(home)
    app = FastAPI(
        title="smki",
        version=__version__,
        description="GB Smart Metering Key Infrastructure: CA certificates, repository and subscriber API.",
    )
    app.state.home = resolved
    app.state.database = database if database is not None else Database(database_url(resolved))
    install_error_handlers(app)
    for name in ROUTE_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name == name:
                continue
            raise
        router: APIRouter = module.router
        app.include_router(router)
    return app


def app_from_environment() -> FastAPI:
    """``create_app`` for the home named by ``SMKI_HOME`` (and ``SMKI_DATABASE_URL``): what each process of
    ``smki serve --workers N`` builds for itself (uvicorn imports it by name in every worker)."""
    return create_app()
