"""HTTP gateway in front of Triton: upstream Bert-VITS2's API, OpenAI's speech API, jobs.

Three faces over one path to Triton (a shared `TTSClient`):

- upstream Bert-VITS2 ``server_fastapi.py`` (v2.3): ``/voice`` (GET, POST form/JSON/text),
  ``/models/info|add|delete|get_local|get_unloaded``, ``/status`` (`upstream`,
  `models`);
- OpenAI's speech API: ``POST /v1/audio/speech``, ``GET /v1/models`` (`openai_speech`);
- long-form jobs: ``POST /jobs``, ``GET /jobs/{id}``, ``GET /jobs/{id}/audio``,
  ``DELETE /jobs/{id}``, ``POST /jobs/{id}/resume`` (`jobs`);
- a page to hear a voice, ``GET /playground``, and the contract it reads, ``GET /contract``
  (`playground`).

``GET /health`` and the playground page's files answer without a key. With an API key set,
everything else needs it as the ``X-API-Key`` header or ``?api_key=``; the OpenAI routes
(``/v1/...``) also take OpenAI's form, ``Authorization: Bearer KEY``. Bodies over
``max_body_bytes`` get 413 before they are read.

Errors are JSON with the right HTTP status. Upstream's routes answer upstream's shape
``{"status": code, "detail": text, "message": explanation, "field": param}`` where ``status``
and ``detail`` are upstream's own numbers and texts where upstream has them (10 model not
loaded, 11 no speaker, 12/13 unknown speaker_id/speaker_name, 14 delete of an unknown model,
15 no config.json, 16 model load failed, 20 unsupported option); ours: 21 bad parameter,
30 API key, 31 path outside the allowed roots, 32 body too large, 33 no such job, 34 job not
finished, 40 Triton unreachable, 41 timeout, 50 other server error. ``/v1`` routes answer
OpenAI's shape ``{"error": {"message", "type", "param", "code"}}``.
"""

from __future__ import annotations

import contextlib
import hmac
from collections.abc import AsyncIterator, Callable
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from tts_gateway import jobs as jobs_face
from tts_gateway import models, openai_speech, playground, upstream
from tts_gateway.backend import ApiError, Backend, GatewayConfig
from tts_gateway.voicevox import routes as voicevox

__all__ = ["create_app"]

OPEN_PATHS = ("/health",)


def _given_key(request: Request) -> str:
    given = request.headers.get("x-api-key") or request.query_params.get("api_key") or ""
    auth = request.headers.get("authorization", "")
    if not given and request.url.path.startswith("/v1/") and auth.lower().startswith("bearer "):
        given = auth[7:].strip()
    return given


def _error_body(request: Request, err: ApiError) -> dict[str, Any]:
    if request.url.path.startswith("/v1/"):
        kind = "invalid_request_error" if err.http < 500 else "server_error"
        if err.http == 401:
            kind = "authentication_error"
        return {"error": {"message": err.message, "type": kind, "param": err.field,
                          "code": err.status}}  # fmt: skip
    return {"status": err.status, "detail": err.detail, "message": err.message, "field": err.field}


class BodyLimit:
    """ASGI middleware: a body over ``limit`` bytes gets 413 (by Content-Length before it is
    read, or as soon as a chunked body passes the limit)."""

    def __init__(self, app: Any, limit: int) -> None:
        self.app, self.limit = app, limit

    async def __call__(self, scope: dict, receive: Callable, send: Callable) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        headers = dict(scope.get("headers") or [])
        length = headers.get(b"content-length", b"0")
        too_big = not length.isdigit() or int(length) > self.limit
        seen = 0

        async def limited() -> dict:
            nonlocal seen
            message = await receive()
            seen += len(message.get("body", b""))
            if seen > self.limit:
                raise ApiError(413, 32, self._text())
            return message

        if too_big:
            request = Request(scope)
            err = ApiError(413, 32, self._text(), None)
            return await JSONResponse(_error_body(request, err), 413)(scope, receive, send)
        try:
            await self.app(scope, limited, send)
        except ApiError as err:  # a chunked body passed the limit while being read
            await JSONResponse(_error_body(Request(scope), err), err.http)(scope, receive, send)

    def _text(self) -> str:
        return (
            f"request body larger than {self.limit} bytes; send less text per request, "
            "or submit long text as a job (POST /jobs)"
        )


def create_app(
    triton_url: str, protocol: str = "grpc", api_key: str | None = None,
    timeout: float = 120.0, **options: Any,
) -> FastAPI:  # fmt: skip
    """The FastAPI app; ``options`` are `GatewayConfig` fields. Bind it to 127.0.0.1 unless an
    API key guards it."""
    cfg = GatewayConfig(triton_url, protocol, api_key, timeout, **options)
    backend = Backend(cfg)
    jobs = jobs_face.JobStore(cfg.jobs_dir, backend) if cfg.jobs_dir else None

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if jobs:
            jobs.start()
        try:
            yield
        finally:
            if jobs:
                jobs.stop()
            backend.tts.close()

    app = FastAPI(title="Bert-VITS2 voices on Triton", version="0.2.0", lifespan=lifespan)
    app.state.backend, app.state.jobs, app.state.config = backend, jobs, cfg
    app.add_middleware(BodyLimit, limit=cfg.max_body_bytes)

    @app.exception_handler(ApiError)
    async def _api_error(request: Request, err: ApiError) -> JSONResponse:
        headers = {"Retry-After": str(err.retry_after)} if err.retry_after else None
        return JSONResponse(_error_body(request, err), status_code=err.http, headers=headers)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, err: RequestValidationError) -> JSONResponse:
        first = (err.errors() or [{}])[0]
        name = str((first.get("loc") or ["", "body"])[-1])
        api = ApiError(400, 21, f"{name}: {first.get('msg', 'invalid')}", name)
        return JSONResponse(_error_body(request, api), status_code=400)

    @app.middleware("http")
    async def _check_key(request: Request, call_next: Any) -> Any:
        if api_key and request.url.path not in (*OPEN_PATHS, *playground.OPEN_PATHS):
            if not hmac.compare_digest(_given_key(request).encode(), api_key.encode()):
                where = "the X-API-Key header or ?api_key="
                if request.url.path.startswith("/v1/"):
                    where += " or Authorization: Bearer"
                err = ApiError(401, 30, f"missing or wrong API key: send it as {where}")
                return JSONResponse(_error_body(request, err), 401)
        return await call_next(request)

    @app.get("/health")
    def health() -> dict[str, Any]:
        """Liveness (no key needed): the gateway answers; ``triton`` says if Triton does."""
        return {"status": "ok", "triton": backend.tts.ready()}

    app.include_router(upstream.router(backend))
    app.include_router(models.router(backend))
    app.include_router(openai_speech.router(backend))
    app.include_router(voicevox.router(backend))  # VOICEVOX's engine API (JP voices)
    app.include_router(playground.router(backend))  # GET /playground, /contract
    if jobs:
        app.include_router(jobs_face.router(jobs))
    else:
        app.add_api_route("/jobs", _jobs_off, methods=JOBS_METHODS, include_in_schema=False)
        app.add_api_route(
            "/jobs/{rest:path}", _jobs_off, methods=JOBS_METHODS, include_in_schema=False
        )
    return app


JOBS_METHODS = ["GET", "POST", "DELETE"]


def _jobs_off() -> None:
    """/jobs on a gateway without a jobs folder: a 404 that says how to turn jobs on."""
    raise ApiError(
        404, 10,
        "jobs are off on this gateway: start it with --jobs-dir DIR (create_app(jobs_dir=...)) "
        "to turn on POST /jobs; until then send text to /voice or /v1/audio/speech",
    )  # fmt: skip
