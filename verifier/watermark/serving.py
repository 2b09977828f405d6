"""A reference prediction endpoint speaking the ``remote`` protocol: a local model behind HTTP POST.

It plays the suspect's API in tests and in the README (``ledgermark watermark serve-model``). Routes:

    POST /predict                                the default answer kind (``answer``)
    POST /logits | /probabilities | /labels | /top1   that kind, so one server shows every API shape
    GET  /health                                 {"status": "ok", "input_shape": […], "answers": […]}

A request is bounded (bytes, nesting, batch size) before it is parsed and must hold inputs shaped like the
model's; a bad one gets an RFC 9457 problem document (400, 413), never a traceback.
"""

from __future__ import annotations

from typing import Any

import torch
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from torch import nn

from verifier.integrity import documents
from verifier.watermark import remote

MAX_BATCH = 1024
MAX_REQUEST_BYTES = 64 << 20


def make_app(
    model: nn.Module,
    input_shape: tuple[int, ...],
    *,
    answer: str = "logits",
    max_batch: int = MAX_BATCH,
    max_request_bytes: int = MAX_REQUEST_BYTES,
) -> FastAPI:
    """The app serving ``model`` (put in eval mode; its inputs shaped ``input_shape``)."""
    if answer not in remote.ANSWER_KINDS:
        raise remote.EndpointError(
            f"unknown answer kind {answer!r}; use one of {', '.join(remote.ANSWER_KINDS)}"
        )
    model.eval()
    app = FastAPI(
        title="Ledgermark reference model endpoint", docs_url=None, redoc_url=None, openapi_url=None
    )

    @app.get("/health")
    def health() -> dict[str, Any]:
        return {"status": "ok", "input_shape": list(input_shape), "answers": list(remote.ANSWER_KINDS)}

    @app.post("/{kind}")
    async def predict(kind: str, request: Request) -> JSONResponse:
        kind = answer if kind == "predict" else kind
        if kind not in remote.ANSWER_KINDS:
            return _problem(
                404, "No such route", f"POST /predict or one of /{', /'.join(remote.ANSWER_KINDS)}"
            )
        body = bytearray()
        async for chunk in request.stream():
            body += chunk
            if len(body) > max_request_bytes:
                return _problem(413, "Request too large", f"a request may hold {max_request_bytes:,} bytes")
        try:
            inputs = _inputs(bytes(body), input_shape, max_batch, max_request_bytes)
        except (TypeError, ValueError) as err:
            return _problem(400, "Bad inputs", str(err))
        with torch.no_grad():
            logits = model(inputs)
        return JSONResponse({kind: answer_rows(logits, kind)})

    return app


def answer_rows(logits: torch.Tensor, kind: str) -> list[Any]:
    """What an API of this kind answers for a batch of logits (B, C)."""
    if kind == "logits":
        return logits.tolist()
    probabilities = logits.softmax(dim=1)
    if kind == "probabilities":
        return probabilities.tolist()
    top, labels = probabilities.max(dim=1)
    if kind == "labels":
        return labels.tolist()
    return [{"label": int(k), "probability": float(p)} for k, p in zip(labels, top, strict=True)]


def _inputs(body: bytes, input_shape: tuple[int, ...], max_batch: int, max_bytes: int) -> torch.Tensor:
    try:
        document = documents.parse_json(
            body, source="the request", max_bytes=max_bytes, max_depth=len(input_shape) + 2
        )
    except documents.DocumentError as err:
        raise ValueError(err.problem) from None
    if not isinstance(document, dict) or not isinstance(document.get("inputs"), list):
        raise TypeError('the request must be an object {"inputs": [...]}')
    if not 1 <= len(document["inputs"]) <= max_batch:
        raise ValueError(f"a request holds 1 to {max_batch} inputs, not {len(document['inputs'])}")
    try:
        inputs = torch.tensor(document["inputs"], dtype=torch.float32)
    except (TypeError, ValueError, RuntimeError, OverflowError):
        raise ValueError("inputs must be equally shaped nested lists of numbers") from None
    if tuple(inputs.shape[1:]) != tuple(input_shape) or not bool(torch.isfinite(inputs).all()):
        raise ValueError(
            f"each input must be shaped {list(input_shape)} with finite numbers, not {list(inputs.shape[1:])}"
        )
    return inputs


def _problem(status: int, title: str, detail: str) -> JSONResponse:
    return JSONResponse(
        {"type": "about:blank", "title": title, "status": status, "detail": detail},
        status_code=status,
        media_type="application/problem+json",
    )
