"""A drop-in for upstream Bert-VITS2's HTTP API (`server_fastapi.py`) in front of Triton.

Endpoints (same names, parameters and defaults as upstream where they exist):

- ``GET /voice`` (all query parameters) and ``POST /voice`` (``text`` in the body as a form
  field, JSON or plain text; the rest as query or body fields): ``text``, ``model_id`` (index
  into the loaded voices, as in ``/models/info``, or a voice name; default 0),
  ``speaker_name`` or ``speaker_id`` (default: the voice's first speaker), ``sdp_ratio``
  (0.2), ``noise`` (0.2), ``noisew`` (0.9), ``length`` (1), ``language`` (default: the
  voice's: ZH if it has it), ``auto_split`` (false), ``seed`` (extension; default random).
  Returns ``audio/wav`` (16-bit PCM). ``auto_split=true`` does what upstream does: one
  request per sentence, each followed by 0.2 s of silence (the last one too). Without it
  the whole text is one request, which the server still speaks sentence by sentence with
  its own pauses. ``auto_translate`` and ``reference_audio`` are not supported (400).
- ``GET /models/info``: loaded voices keyed by model_id, upstream's fields plus ours.
- ``GET /status``: host load (as upstream) plus whether Triton is ready.

Errors are JSON ``{"status": <code>, "detail": <message>, "field": <param or null>}`` with
HTTP 400 (bad parameter), 401 (API key), 404 (unknown model or speaker), 503 (Triton not
reachable), 504 (timeout), 502 (other server errors). ``status`` follows upstream's numbers
where upstream has one (10 unknown model, 12 unknown speaker_id, 13 unknown speaker_name,
20 unsupported option) and is 21 bad parameter, 30 missing/wrong API key, 40 Triton
unavailable, 41 timeout, 50 other server error.
"""

from __future__ import annotations

import contextlib
import hmac
import json
import math
import time
from collections.abc import AsyncIterator
from email.parser import BytesParser
from email.policy import HTTP
from typing import Any
from urllib.parse import parse_qsl

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response

from tts_client.aio import AsyncTTSClient
from tts_client.audio import Audio
from tts_client.common import VoiceInfo, split_sentences
from tts_client.errors import (
    InvalidInputError,
    ServerUnavailableError,
    TTSError,
    TTSTimeoutError,
    UnknownSpeakerError,
    UnknownVoiceError,
)

__all__ = ["ApiError", "create_app"]

UPSTREAM_DEFAULTS = {"sdp_ratio": 0.2, "noise": 0.2, "noisew": 0.9, "length": 1.0}
VOICES_TTL = 2.0
"""Seconds the list of loaded voices is cached (model_id indexes into it)."""
AUTO_SPLIT_PAUSE = 0.2
"""Seconds of silence upstream puts after every piece when ``auto_split`` is on."""
# Server input name -> this API's parameter name, to name the field in errors.
FIELDS = {
    "TEXT": "text",
    "SPEAKER": "speaker_name",
    "LANGUAGE": "language",
    "SDP_RATIO": "sdp_ratio",
    "NOISE_SCALE_W": "noisew",
    "NOISE_SCALE": "noise",
    "LENGTH_SCALE": "length",
    "SEED": "seed",
}
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


class ApiError(Exception):
    """An error answered as JSON."""

    def __init__(self, http: int, status: int, detail: str, field: str | None = None) -> None:
        super().__init__(detail)
        self.http, self.status, self.detail, self.field = http, status, detail, field


def _from_tts(err: TTSError) -> ApiError:
    if isinstance(err, UnknownSpeakerError):
        return ApiError(404, 13, err.message, "speaker_name")
    if isinstance(err, InvalidInputError):
        field = FIELDS.get(err.field or "", None)
        detail = f"{field}: {err.message}" if field else err.message
        return ApiError(400, 21, detail, field)
    if isinstance(err, UnknownVoiceError):
        return ApiError(404, 10, err.message, "model_id")
    if isinstance(err, ServerUnavailableError):
        return ApiError(503, 40, f"Triton is not reachable: {err.message}")
    if isinstance(err, TTSTimeoutError):
        return ApiError(504, 41, err.message)
    return ApiError(502, 50, err.message)


def _float(params: dict[str, str], name: str) -> float:
    raw = params.get(name)
    if raw is None or raw == "":
        return UPSTREAM_DEFAULTS[name]
    try:
        value = float(raw)
    except ValueError:
        raise ApiError(400, 21, f"{name} must be a number, got {raw!r}", name) from None
    if not math.isfinite(value):
        raise ApiError(400, 21, f"{name} must be a finite number, got {raw!r}", name)
    return value


def _int(params: dict[str, str], name: str) -> int | None:
    raw = params.get(name)
    if raw is None or raw == "":
        return None
    try:
        return int(raw)
    except ValueError:
        raise ApiError(400, 21, f"{name} must be an integer, got {raw!r}", name) from None


def _bool(params: dict[str, str], name: str) -> bool:
    raw = str(params.get(name, "")).strip().lower()
    if raw in _TRUE:
        return True
    if raw in _FALSE:
        return False
    raise ApiError(400, 21, f"{name} must be true or false, got {params[name]!r}", name)


async def _body_params(request: Request) -> dict[str, str]:
    """Fields of a POST body: urlencoded or multipart form, JSON object, or plain text."""
    body = await request.body()
    if not body:
        return {}
    kind = request.headers.get("content-type", "").lower()
    try:
        if kind.startswith("application/json"):
            data = json.loads(body)
            if not isinstance(data, dict):
                raise ApiError(400, 21, "a JSON body must be an object of parameters")
            return {k: "" if v is None else str(v).lower() if isinstance(v, bool) else str(v)
                    for k, v in data.items()}  # fmt: skip
        if kind.startswith("multipart/form-data"):
            head = f"Content-Type: {request.headers['content-type']}\r\n\r\n".encode()
            msg = BytesParser(policy=HTTP).parsebytes(head + body)
            out = {}
            for part in msg.iter_parts():
                name = part.get_param("name", header="content-disposition")
                if part.get_filename():
                    raise ApiError(400, 20, "reference_audio is not supported", str(name))
                if name:
                    out[str(name)] = part.get_payload(decode=True).decode("utf-8")
            return out
        if kind.startswith("text/plain"):
            return {"text": body.decode("utf-8")}
        return dict(parse_qsl(body.decode("utf-8"), keep_blank_values=True))
    except UnicodeDecodeError:
        raise ApiError(400, 21, "the request body is not valid UTF-8", "text") from None
    except ValueError as e:
        raise ApiError(400, 21, f"cannot read the request body: {e}") from None


def create_app(
    triton_url: str, protocol: str = "grpc", api_key: str | None = None, timeout: float = 120.0
) -> FastAPI:
    """The FastAPI app; bind it to 127.0.0.1 unless an API key guards it."""
    tts = AsyncTTSClient(triton_url, protocol=protocol, timeout=timeout, retries=1)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        yield
        await tts.close()

    app = FastAPI(title="Bert-VITS2 voices on Triton", version="0.1.0", lifespan=lifespan)
    app.state.tts = tts

    @app.exception_handler(ApiError)
    async def _api_error(request: Request, err: ApiError) -> JSONResponse:
        body = {"status": err.status, "detail": err.detail, "field": err.field}
        return JSONResponse(body, status_code=err.http)

    @app.middleware("http")
    async def _check_key(request: Request, call_next: Any) -> Response:
        if api_key and request.url.path not in ("/docs", "/openapi.json"):
            given = request.headers.get("x-api-key") or request.query_params.get("api_key") or ""
            if not hmac.compare_digest(given.encode(), api_key.encode()):
                detail = "missing or wrong API key: send it as the X-API-Key header or ?api_key="
                return JSONResponse({"status": 30, "detail": detail, "field": None}, 401)
        return await call_next(request)

    cache: dict[str, Any] = {"at": -1e9, "voices": []}

    async def loaded() -> list[VoiceInfo]:
        """Ready voices, re-read from Triton at most every VOICES_TTL seconds."""
        if time.monotonic() - cache["at"] > VOICES_TTL:
            try:
                cache["voices"] = [v for v in await tts.voices() if v.ready]
            except TTSError as err:
                raise _from_tts(err) from err
            cache["at"] = time.monotonic()
        return cache["voices"]

    async def pick_voice(model_id: str | None) -> VoiceInfo:
        voices = await loaded()
        key = (model_id or "0").strip()
        if key.lstrip("-").isdigit():
            i = int(key)
            if 0 <= i < len(voices):
                return voices[i]
        else:
            for v in voices:
                if v.name == key:
                    return v
        have = ", ".join(f"{i}={v.name}" for i, v in enumerate(voices)) or "none loaded"
        raise ApiError(404, 10, f"model_id={key} is not loaded; loaded models: {have}", "model_id")

    def pick_speaker(voice: VoiceInfo, params: dict[str, str]) -> str | None:
        name, sid = params.get("speaker_name") or None, _int(params, "speaker_id")
        if name is not None:
            if voice.speakers and name not in voice.speakers:
                detail = f"speaker_name={name} does not exist; {voice.name} has: {', '.join(voice.speakers)}"
                raise ApiError(404, 13, detail, "speaker_name")
            return name
        if sid is not None:
            by_id = {v: k for k, v in voice.speakers.items()}
            if voice.speakers and sid not in by_id:
                have = ", ".join(f"{v}={k}" for k, v in voice.speakers.items())
                raise ApiError(
                    404,
                    12,
                    f"speaker_id={sid} does not exist; {voice.name} has: {have}",
                    "speaker_id",
                )
            return by_id.get(sid, str(sid))
        return None

    async def speak(params: dict[str, str]) -> Response:
        text = params.get("text")
        if text is None:
            raise ApiError(400, 21, "text is required", "text")
        if _bool(params, "auto_translate"):
            raise ApiError(
                400, 20, "auto_translate is not supported by this server", "auto_translate"
            )
        voice = await pick_voice(params.get("model_id"))
        knobs = {
            "voice": voice.name,
            "speaker": pick_speaker(voice, params),
            "language": (params.get("language") or "").upper(),
            "sdp_ratio": _float(params, "sdp_ratio"),
            "noise_scale": _float(params, "noise"),
            "noise_scale_w": _float(params, "noisew"),
            "length_scale": _float(params, "length"),
            "seed": _int(params, "seed"),
        }
        try:
            if _bool(params, "auto_split"):
                pieces = [s.text for s in split_sentences(text)] or [text]
                parts = []
                for i, piece in enumerate(pieces):
                    seed = knobs["seed"]
                    one = {**knobs, "seed": None if seed is None else seed + i}
                    parts.append(await tts.synthesize(piece, **one))
                audio = Audio.join(parts, AUTO_SPLIT_PAUSE)
                audio = audio.concat(Audio(audio.samples[:0], audio.sample_rate), AUTO_SPLIT_PAUSE)
            else:
                audio = await tts.synthesize(text, **knobs)
        except TTSError as err:
            raise _from_tts(err) from err
        return Response(audio.to_wav(), media_type="audio/wav")

    @app.get("/voice")
    async def voice_get(request: Request) -> Response:
        """Text to speech; every parameter in the query string."""
        return await speak(dict(request.query_params))

    @app.post("/voice")
    async def voice_post(request: Request) -> Response:
        """Text to speech; ``text`` (and optionally the rest) in the body."""
        return await speak({**dict(request.query_params), **await _body_params(request)})

    @app.get("/models/info")
    async def models_info() -> dict[str, Any]:
        """Loaded voices keyed by model_id (upstream's fields plus sample_rate, limits...)."""
        out = {}
        for i, v in enumerate(await loaded()):
            language = "ZH" if "ZH" in v.languages else (v.languages or ["ZH"])[0]
            out[str(i)] = {
                "name": v.name,
                "language": language,
                "languages": v.languages,
                "spk2id": v.speakers,
                "id2spk": {str(k): s for s, k in v.speakers.items()},
                "version": "2.3",
                "sample_rate": v.sample_rate,
                "speaker_defaults": v.speaker_defaults,
                "limits": v.limits,
                "device": f"triton ({protocol} {tts.url})",
            }
        return out

    @app.get("/status")
    async def status() -> dict[str, Any]:
        """Host load (as upstream reports it) and whether Triton answers."""
        out: dict[str, Any] = {"status": 0, "devices": ["triton"]}
        try:
            import psutil

            mem = psutil.virtual_memory()
            out.update(
                cpu_percent=psutil.cpu_percent(interval=None),
                memory_total=mem.total,
                memory_available=mem.available,
                memory_used=mem.used,
                memory_percent=mem.percent,
            )
        except ImportError:
            pass
        out["gpu"] = []
        out["triton"] = {"url": tts.url, "protocol": protocol, "ready": await tts.ready()}
        return out

    return app
