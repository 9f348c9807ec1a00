"""OpenAI's speech API over Triton: ``POST /v1/audio/speech``, ``GET /v1/models``.

``/v1/audio/speech`` takes OpenAI's JSON body: ``model`` -> a served voice (its name or
model id; OpenAI's own model names ``tts-1``, ``tts-1-hd``, ``gpt-4o-mini-tts`` pick the
first voice), ``voice`` -> a speaker of it (name, id, or a configured alias such as
``alloy``), ``input``, ``response_format`` (default mp3, as OpenAI's), ``speed`` (0.25-4,
applied as length_scale = 1 / speed), ``stream_format`` ("audio" only). Bert-VITS2 knobs ride
along as extra fields: ``language``, ``sdp_ratio``, ``noise_scale``, ``noise_scale_w``,
``length_scale`` (wins over speed), ``seed``, ``profile`` (the text frontend), ``style_text``,
``style_text_weight``, and by the voice's release ``emotion`` (2.2: a CLAP prompt; 2.1: an id
0-9), ``emotion_id`` (2.1), ``style`` and ``style_weight`` (Style-Bert-VITS2), ``pitch_scale``
and ``intonation_scale`` (any voice; a wav/pcm body is then sent whole, not streamed),
``given_phones`` / ``given_tones`` (Style-Bert-VITS2, one Japanese sentence), ``clause_chars``
(CLAUSE_CHARS: cut sentences longer than that at clause marks; earlier first audio, changed
prosody). ``instructions`` cannot steer these voices and is ignored (the ``X-Ignored-Fields`` header
says so).

Formats: wav and pcm always, streamed as audio is decoded (chunked body; the WAV header
carries an unknown length): per vocoder window through the voice's stream model where it has
one (first bytes after the first window), else per sentence. flac, mp3 and opus when
libsndfile has the encoder (see `gateway_audio`), encoded once the whole clip exists; aac is
refused (no maintained encoder in libsndfile). Unlike OpenAI (24 kHz), audio keeps the
voice's sample rate (44.1 kHz for v2.3 voices; opus: 48 kHz): the ``X-Sample-Rate`` header
says which, pcm users need it.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response, StreamingResponse
from starlette.concurrency import run_in_threadpool

from tts_client.streaming import first_audio_method
from tts_contract.request import ADJUST_SCALES
from tts_gateway.backend import ApiError, Backend, json_object
from tts_gateway.encoding import MEDIA_TYPES, STREAMABLE, available_formats, encode
from tts_gateway.encoding import stream_body as _stream_body
from tts_gateway.upstream import default_language, integer, json_knobs, number

__all__ = ["OPENAI_MODELS", "router"]

OPENAI_MODELS = ("tts-1", "tts-1-hd", "gpt-4o-mini-tts")
"""OpenAI model names that mean "this server's default voice"."""
KNOWN = {"model", "input", "voice", "response_format", "speed", "instructions", "stream_format",
         "language", "sdp_ratio", "noise_scale", "noise_scale_w", "length_scale", "seed", "profile",
         "style_text", "style_text_weight", "emotion", "emotion_id", "style",
         "style_weight", "pitch_scale", "intonation_scale", "given_phones",
         "given_tones", "clause_chars"}  # fmt: skip
NAMES = {"SPEAKER": "voice", "TEXT": "input"}


def _speaker(voice: Any, requested: Any, aliases: dict[str, str]) -> str:
    name = str(requested if requested is not None else "").strip()
    if not name:
        raise ApiError(400, 21, "voice is required (a speaker of the model)", "voice")
    name = aliases.get(name, name)
    if name in voice.speakers:
        return name
    by_id = {str(i): s for s, i in voice.speakers.items()}
    if name in by_id:
        return by_id[name]
    have = ", ".join(sorted(voice.speakers, key=voice.speakers.get))
    raise ApiError(
        400, 13, f"voice {name!r} is not a speaker of model {voice.name!r}; it has: {have} "
        "(or their ids); OpenAI voice names work once mapped with voice_aliases", "voice",
    )  # fmt: skip


def speech_request(backend: Backend, body: dict[str, Any]) -> tuple[Any, str, str, dict]:
    """(voice, text, format, `TTSClient.synthesize` keyword arguments) for a speech body."""
    text = body.get("input")
    if not isinstance(text, str) or not text.strip():
        raise ApiError(400, 21, "input is required: the text to speak, a non-empty string", "input")
    limit = backend.cfg.max_text_chars
    if len(text) > limit:
        raise ApiError(
            400, 21, f"input is {len(text)} characters; at most {limit} per request (submit "
            "longer text as a job: POST /jobs)", "input",
        )  # fmt: skip
    fmt = str(body.get("response_format") or "mp3").lower()
    if fmt not in available_formats():
        raise ApiError(
            400, 20, f"response_format {fmt!r} is not available here; available: "
            f"{', '.join(available_formats())}", "response_format",
        )  # fmt: skip
    if str(body.get("stream_format") or "audio") != "audio":
        raise ApiError(400, 20, "stream_format must be 'audio' (sse is not supported)",
                       "stream_format")  # fmt: skip
    model = body.get("model")
    _, voice = backend.pick(None if model in OPENAI_MODELS else model, "model")
    speed = number(body, "speed", 1.0)
    if not 0.25 <= speed <= 4.0:
        raise ApiError(400, 21, f"speed must be between 0.25 and 4.0, got {speed}", "speed")
    length = number(body, "length_scale", None)
    knobs = {
        "voice": voice.name,
        "speaker": _speaker(voice, body.get("voice"), backend.cfg.voice_aliases),
        "language": str(body.get("language") or default_language(voice)).upper(),
        "sdp_ratio": number(body, "sdp_ratio", None),
        "noise_scale": number(body, "noise_scale", None),
        "noise_scale_w": number(body, "noise_scale_w", None),
        "length_scale": length if length is not None else 1.0 / speed,
        "seed": integer(body, "seed"),
        **json_knobs(voice, body),
    }
    return voice, text, fmt, knobs


def _speech(backend: Backend, body: dict[str, Any]) -> Response:
    voice, text, fmt, knobs = speech_request(backend, body)
    headers = {"X-Sample-Rate": str(voice.sample_rate)}
    ignored = sorted(k for k in body if k not in KNOWN or (k == "instructions" and body[k]))
    if ignored:
        headers["X-Ignored-Fields"] = ",".join(ignored)
    tts = backend.tts
    # pitch/intonation move the F0 around the whole waveform's mean: synthesized whole
    whole = any(knobs.get(s.name) not in (None, s.default) for s in ADJUST_SCALES)
    if fmt in STREAMABLE and not whole:  # per vocoder window where the voice has a stream model
        method = first_audio_method(tts.protocol, voice)
        chunks = backend.call(tts.stream, text, _names=NAMES, method=method, **knobs)
        first = backend.call(next, chunks, _names=NAMES)
        body_iter = _stream_body(first, chunks, fmt)
        return StreamingResponse(body_iter, media_type=MEDIA_TYPES[fmt], headers=headers)
    audio = backend.call(tts.synthesize, text, _names=NAMES, **knobs)
    if fmt == "opus":
        headers["X-Sample-Rate"] = "48000"
    return Response(encode(audio, fmt), media_type=MEDIA_TYPES[fmt], headers=headers)


def _model(voice: Any) -> dict[str, Any]:
    # created is 0: Triton does not say when a voice was loaded
    return {"id": voice.name, "object": "model", "created": 0, "owned_by": "bertvits2-triton",
            "speakers": sorted(voice.speakers, key=voice.speakers.get),
            "languages": voice.languages, "sample_rate": voice.sample_rate,
            "release": voice.release, "conditioning_inputs": voice.conditioning_inputs,
            "styles": sorted(voice.styles, key=voice.styles.get)}  # fmt: skip


def router(backend: Backend) -> APIRouter:
    """/v1/audio/speech, /v1/models, /v1/models/{id}."""
    api = APIRouter()

    @api.post("/v1/audio/speech")
    async def speech(request: Request) -> Response:
        """OpenAI's text to speech."""
        body = await json_object(request, "model, input, voice")
        return await run_in_threadpool(_speech, backend, body)

    @api.get("/v1/models")
    def models() -> dict[str, Any]:
        """The served voices as OpenAI model objects (speakers listed as an extra field)."""
        voices = backend.voices()
        return {"object": "list", "data": [_model(v) for _, v in sorted(voices.items())]}

    @api.get("/v1/models/{model}")
    def model(model: str) -> dict[str, Any]:
        """One voice as an OpenAI model object."""
        return _model(backend.pick(model, "model")[1])

    return api
