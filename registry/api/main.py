"""The FastAPI application: it only assembles routers, the error shape and limits, and owns the backends' lifetime."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

import anyio
from fastapi import FastAPI

from registry import backends as backendslib
from registry import index as indexlib
from registry import journal
from registry.api import auth, dependencies, gateway, limits, problems
from registry.api.routers import artifacts, browse, disputes, downloads, records, service, watermark
from registry.web import routes as web


def create_app(
    settings_override: dependencies.Settings | None = None, *, body_limits: limits.BodyLimits | None = None
) -> FastAPI:
    """The service; ``body_limits`` default to ``BodyLimits.from_env()`` (read now, so a bad value fails at start)."""
    chosen_limits = body_limits or limits.BodyLimits.from_env()
    token = auth.load(settings_override.data_dir) if settings_override else None  # a bad token fails now

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        settings = settings_override or dependencies.get_settings()
        app.state.scrubber = problems.Scrubber.for_service(settings.data_dir)
        app.state.api_token = token or auth.load(settings.data_dir)
        with backendslib.open_backends(settings, long_lived=True) as opened:
            app.state.backends = opened
            # made in the service's event loop (dependencies.backends_turn)
            app.state.backends_turn = anyio.Lock()
            journal.recover(opened)  # a publication a crash interrupted is finished or rolled back first
            index_path = settings.index_path
            with indexlib.following(opened, index_path, lock=dependencies._backends_lock) as index:
                app.state.index = index
                yield

    app = FastAPI(
        title="Ledgermark",
        version="0.1.0",
        lifespan=lifespan,
        responses=problems.responses(413),
        docs_url=None,  # /docs is registry.web's: Swagger UI from local files, not a CDN
        redoc_url=None,
    )
    app.include_router(browse.router)
    app.include_router(records.router)
    app.include_router(artifacts.router)
    app.include_router(watermark.router)
    app.include_router(downloads.router)
    app.include_router(disputes.router)
    app.include_router(service.router)
    app.include_router(gateway.router)
    app.include_router(web.router)
    problems.install(app)
    app.add_middleware(limits.BodyLimitMiddleware, limits=chosen_limits)

    return app
