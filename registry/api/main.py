"""The FastAPI application: it only assembles routers and owns the backends' lifetime."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from registry import backends as backendslib
from registry.api import dependencies, gateway
from registry.api.routers import artifacts, records, watermark
from registry.errors import IntegrityError, LedgermarkError, RecordError, VerificationFailed


def create_app(settings_override: dependencies.Settings | None = None) -> FastAPI:
    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        settings = settings_override or dependencies.get_settings()
        with backendslib.open_backends(settings, long_lived=True) as opened:
            app.state.backends = opened
            yield

    app = FastAPI(title="Ledgermark", version="0.1.0", lifespan=lifespan)
    app.include_router(records.router)
    app.include_router(artifacts.router)
    app.include_router(watermark.router)
    app.include_router(gateway.router)

    @app.exception_handler(RecordError)
    async def _unknown_record(_: Request, err: RecordError) -> JSONResponse:
        return JSONResponse(status_code=404, content={"detail": str(err)})

    @app.exception_handler(VerificationFailed)
    async def _verification_failed(_: Request, err: VerificationFailed) -> JSONResponse:
        body = {"detail": str(err), "problems": err.problems}
        if err.comparison is not None:
            body.update(err.comparison.to_dict())
        return JSONResponse(status_code=409, content=body)

    @app.exception_handler(IntegrityError)
    async def _tampered(_: Request, err: IntegrityError) -> JSONResponse:
        return JSONResponse(status_code=409, content={"detail": str(err)})

    @app.exception_handler(LedgermarkError)
    async def _user_error(_: Request, err: LedgermarkError) -> JSONResponse:
        return JSONResponse(status_code=400, content={"detail": str(err)})

    @app.get("/health", tags=["service"])
    def health() -> dict[str, str]:
        return {"status": "ok"}

    return app
