"""What every face of the gateway shares: its configuration (`GatewayConfig`), the one path to
Triton (`Backend`: a shared `TTSClient`, the loaded voices and their upstream-style model ids),
and errors answered as JSON (`ApiError`, `from_tts`). The dialect modules (`upstream`,
`models`, `openai_speech`, `jobs`, `playground`, `voicevox`) import this module; `app`
assembles them.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from fastapi import Request

from tts_client.client import TTSClient
from tts_client.errors import (
    InvalidInputError,
    ServerBusyError,
    ServerUnavailableError,
    TTSError,
    TTSTimeoutError,
    UnknownSpeakerError,
    UnknownVoiceError,
)
from tts_contract.request import REQUEST_INPUTS

__all__ = ["ApiError", "Backend", "GatewayConfig", "from_tts", "json_object", "resolve_inside"]

T = TypeVar("T")
VOICES_TTL = 2.0
"""Seconds the list of loaded voices is cached (model ids index into it)."""
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


def full_project_missing(field: str, what: str, err: ImportError) -> ApiError:
    """501 for a route that needs the full project's Japanese frontend (`vits2.text`, with
    pyopenjtalk) and finds it missing: the gateway extra alone installs no frontend."""
    return ApiError(
        501, 16, f"{what} needs the full project installed beside the gateway", field,
        f"{what} is compiled by the project's Japanese frontend (vits2.text.openjtalk), which "
        f"this install lacks ({err}): install the project (`pip install -e .` at its root) "
        "beside the gateway, not only ./client[gateway]",
    )  # fmt: skip


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
            "start the gateway with roots=[...] (tts-gateway --models-root DIR) to allow it",
        )  # fmt: skip
    real = Path(path).expanduser().resolve()
    if not any(real == r or r in real.parents for r in roots):
        allowed = ", ".join(str(r) for r in roots)
        raise ApiError(403, 31, f"{what}={path} is outside the allowed roots ({allowed})", what)
    return real
