"""HTTP gateway in front of Triton: upstream Bert-VITS2's API, OpenAI's speech API, jobs.

Three faces over one path to Triton (a shared `TTSClient`):

- upstream Bert-VITS2 ``server_fastapi.py`` (v2.3): ``/voice`` (GET, POST form/JSON/text),
  ``/models/info|add|delete|get_local|get_unloaded``, ``/status`` (`gateway_upstream`,
  `gateway_models`);
- OpenAI's speech API: ``POST /v1/audio/speech``, ``GET /v1/models`` (`gateway_openai`);
- long-form jobs: ``POST /jobs``, ``GET /jobs/{id}``, ``GET /jobs/{id}/audio``,
  ``DELETE /jobs/{id}``, ``POST /jobs/{id}/resume`` (`gateway_jobs`);
- a page to hear a voice, ``GET /playground``, and the contract it reads, ``GET /contract``
  (`gateway_playground`).

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
import json
import sys
import threading
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from tts_client.client import TTSClient
from tts_client.contract import REQUEST_INPUTS
from tts_client.errors import (
    InvalidInputError,
    ServerBusyError,
    ServerUnavailableError,
    TTSError,
    TTSTimeoutError,
    UnknownSpeakerError,
    UnknownVoiceError,
)

__all__ = ["ApiError", "Backend", "GatewayConfig", "create_app"]

T = TypeVar("T")
VOICES_TTL = 2.0
"""Seconds the list of loaded voices is cached (model ids index into it)."""
OPEN_PATHS = ("/health",)
# Server input name (as Triton's messages spell it) -> this API's parameter name.
FIELDS = {i.name: i.field for i in REQUEST_INPUTS}


class ApiError(Exception):
    """An error answered as JSON: HTTP status, upstream-style code, detail, explanation."""

    def __init__(
        self, http: int, status: int, detail: str, field: str | None = None,
        message: str | None = None, retry_after: int | None = None,
    ) -> None:  # fmt: skip
        super().__init__(message or detail)
        self.http, self.status, self.detail, self.field = http, status, detail, field
        self.message = message or detail
        """What was wrong, what is allowed, what to do (``detail`` may be upstream's text)."""
        self.retry_after = retry_after
        """Seconds to wait before trying again (sent as Retry-After), for a busy server."""


BUSY_RETRY_AFTER_S = 2
"""Retry-After of a 503 for a busy server (Triton's queue full or timed out)."""


def from_tts(err: TTSError, names: dict[str, str] | None = None) -> ApiError:
    """The ApiError for a client error; ``names`` renames server inputs to this API's names."""
    names = {**FIELDS, **(names or {})}
    if isinstance(err, UnknownSpeakerError):
        return ApiError(404, 13, err.message, names["SPEAKER"])
    if isinstance(err, InvalidInputError):
        field_name = names.get(err.field or "")
        detail = f"{field_name}: {err.message}" if field_name else err.message
        return ApiError(400, 21, detail, field_name)
    if isinstance(err, UnknownVoiceError):
        return ApiError(404, 10, err.message, "model")
    if isinstance(err, ServerBusyError):
        return ApiError(503, 42, err.message, retry_after=BUSY_RETRY_AFTER_S)
    if isinstance(err, ServerUnavailableError):
        return ApiError(503, 40, f"Triton is not reachable: {err.message}")
    if isinstance(err, TTSTimeoutError):
        return ApiError(504, 41, err.message)
    return ApiError(502, 50, err.message)


@dataclass
class GatewayConfig:
    """What `create_app` serves and how."""

    triton_url: str
    protocol: str = "grpc"
    api_key: str | None = None
    """Required on every route but /health when set."""
    timeout: float = 120.0
    """Seconds one Triton request may take."""
    max_body_bytes: int = 1 << 20
    """Largest request body; more gets 413 (status 32) unread."""
    max_text_chars: int = 20_000
    """Longest text of one /voice or /v1/audio/speech request (use a job for more)."""
    max_job_chars: int = 500_000
    """Longest text of one job (bounded also by max_body_bytes)."""
    roots: list[Path] = field(default_factory=list)
    """Folders /models/add and /models/get_* may read; nothing outside them is touched."""
    repository: Path | None = None
    """Triton's model repository (explicit model control), where /models/add writes a voice."""
    bert_dirs: dict[str, Path] = field(default_factory=dict)
    """Language (ZH, JP, EN) -> local BERT folder: /models/add exports a G_*.pth with these
    (without them a checkpoint is refused with status 16)."""
    jobs_dir: Path | None = None
    """Where jobs keep their state and finished audio (jobs are off without it)."""
    job_retry_s: float = 60.0
    """How long a job waits for an unreachable Triton before it fails."""
    job_group: int = 5
    """Sentences per Triton request of a job (the server batches a request's sentences;
    progress moves in these steps)."""
    job_inflight: int = 2
    """Requests of a job in flight at once (1: one after another)."""
    voice_aliases: dict[str, str] = field(default_factory=dict)
    """OpenAI voice names (alloy, nova, ...) -> speaker names, for tools that hard-code them."""

    def __post_init__(self) -> None:
        self.roots = [Path(r).resolve() for r in self.roots]
        self.repository = Path(self.repository) if self.repository else None
        self.jobs_dir = Path(self.jobs_dir) if self.jobs_dir else None
        self.bert_dirs = {k.upper(): Path(v).expanduser() for k, v in self.bert_dirs.items()}


class Backend:
    """The one path to Triton: a shared TTSClient, the loaded voices and their stable ids.

    Ids work as upstream's model_id: given in load order (the voices found at start in the
    server's order), kept while the voice stays loaded, never reused.
    """

    def __init__(self, cfg: GatewayConfig) -> None:
        self.cfg = cfg
        self.tts = TTSClient(cfg.triton_url, protocol=cfg.protocol, timeout=cfg.timeout, retries=1)
        self._lock = threading.Lock()
        self._ids: dict[str, int] = {}
        self._next_id = 0
        self._at = -1e9
        self._voices: list[Any] = []
        self.sources: dict[str, Path] = {}
        """Voice name -> the folder /models/add loaded it from."""

    def call(
        self, fn: Callable[..., T], *args: Any, _names: dict[str, str] | None = None, **kw: Any
    ) -> T:
        """``fn(*args, **kw)`` with client errors turned into ApiErrors (``_names``: server
        input -> this API's parameter name, for the error's ``field``)."""
        try:
            return fn(*args, **kw)
        except TTSError as err:
            raise from_tts(err, _names) from err

    def voices(self, refresh: bool = False) -> dict[int, Any]:
        """Loaded (ready) voices by model id, re-read at most every VOICES_TTL seconds."""
        with self._lock:
            if refresh or time.monotonic() - self._at > VOICES_TTL:
                self._voices = [v for v in self.call(self.tts.voices) if v.ready]
                self._at = time.monotonic()
                names = {v.name for v in self._voices}
                for name in [n for n in self._ids if n not in names]:
                    del self._ids[name]
                for v in self._voices:
                    if v.name not in self._ids:
                        self._ids[v.name], self._next_id = self._next_id, self._next_id + 1
            return {self._ids[v.name]: v for v in self._voices}

    def pick(self, model: str | int | None, field_name: str = "model_id") -> tuple[int, Any]:
        """(id, VoiceInfo) for a model id or a voice name; None = the lowest id."""
        voices = self.voices()
        key = "" if model is None else str(model).strip()
        if key == "" and voices:
            first = min(voices)
            return first, voices[first]
        if key.lstrip("-").isdigit() and int(key) in voices:
            return int(key), voices[int(key)]
        for i, v in voices.items():
            if v.name == key:
                return i, v
        have = ", ".join(f"{i}={v.name}" for i, v in sorted(voices.items())) or "none loaded"
        raise ApiError(
            404, 10, f"模型model_id={key}未加载", field_name,
            f"{field_name}={key} is not loaded; loaded models (id=name): {have}",
        )  # fmt: skip


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
    from tts_client import (
        gateway_jobs,
        gateway_models,
        gateway_openai,
        gateway_upstream,
        gateway_voicevox,
    )
    from tts_client import gateway_playground as playground

    cfg = GatewayConfig(triton_url, protocol, api_key, timeout, **options)
    backend = Backend(cfg)
    jobs = gateway_jobs.JobStore(cfg.jobs_dir, backend) if cfg.jobs_dir else None

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

    app.include_router(gateway_upstream.router(backend))
    app.include_router(gateway_models.router(backend))
    app.include_router(gateway_openai.router(backend))
    app.include_router(gateway_voicevox.router(backend))  # VOICEVOX's engine API (JP voices)
    app.include_router(playground.router(backend))  # GET /playground, /contract
    if jobs:
        app.include_router(gateway_jobs.router(jobs))
    return app


async def json_object(request: Request, fields: str) -> dict[str, Any]:
    """The request body as a JSON object, or a 400 (status 21) saying it must be one with
    ``fields``."""
    try:
        body = json.loads(await request.body() or b"null")
    except (ValueError, UnicodeDecodeError) as e:
        raise ApiError(400, 21, f"the body must be a JSON object: {e}") from None
    if not isinstance(body, dict):
        raise ApiError(400, 21, f"the body must be a JSON object with {fields}")
    return body


def resolve_inside(path: str, roots: list[Path], what: str = "path") -> Path:
    """``path`` resolved (symlinks followed), refused unless it lies inside one of ``roots``."""
    if not roots:
        raise ApiError(
            403, 31, f"{what} refused: this gateway has no model roots configured", what,
            "start the gateway with roots=[...] (tts gateway --models-root DIR) to allow it",
        )  # fmt: skip
    real = Path(path).expanduser().resolve()
    if not any(real == r or r in real.parents for r in roots):
        allowed = ", ".join(str(r) for r in roots)
        raise ApiError(403, 31, f"{what}={path} is outside the allowed roots ({allowed})", what)
    return real


def main(argv: list[str] | None = None) -> None:
    """``python -m tts_client.gateway``: the same command and options as ``tts gateway``."""
    from tts_client.cli import app

    app(["gateway", *(sys.argv[1:] if argv is None else argv)])


if __name__ == "__main__":
    main()
