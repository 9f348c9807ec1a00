"""The gateway's playground: one page to hear a served voice, and the contract it reads.

- ``GET /playground`` serves the page (``static/index.html``) and ``GET
  /playground/{file}`` its script and stylesheet: package data of `tts_gateway`, no build step,
  nothing fetched from elsewhere (the Content-Security-Policy allows this origin only). The page
  and its files are open without the API key (they hold no data); everything they fetch needs
  the key when the gateway has one, sent as ``X-API-Key``.
- ``GET /contract`` answers the request contract (`tts_contract.request`: every scale's range
  and default, the seed's range, emotion ids, language modes, frontend profiles, which releases
  take which conditioning input, the default limits) and the loaded voices (model id, speakers
  with their defaults, styles, release, conditioning inputs, languages, limits). The page builds
  every control from it and restates no range.

The page speaks through OpenAI's route, ``POST /v1/audio/speech`` with ``response_format``
``pcm``: the body streams per vocoder window where the voice has a stream model, and the page
reads it with ``fetch()`` as a ReadableStream, schedules each piece into Web Audio as it comes
(first audio after the first window, not the whole request) and keeps the pieces for the WAV
it puts into ``#audio`` and offers for download.
"""

from __future__ import annotations

from dataclasses import asdict
from importlib import resources
from typing import Any

from fastapi import APIRouter
from fastapi.responses import Response

from tts_contract.request import (
    CONDITIONING_INPUTS,
    DEFAULT_PROFILE,
    EMOTION_IDS,
    LANGUAGE_MODES,
    MAX_SEED,
    PROFILE_NAMES,
    RANDOM_SEED,
    REQUEST_SCALES,
    SCALES,
    Limits,
    default_language,
)
from tts_gateway.backend import ApiError, Backend
from tts_gateway.encoding import STREAMABLE, available_formats

__all__ = ["OPEN_PATHS", "PAGE_FILES", "contract_document", "router", "voice_document"]

PAGE_FILES = {
    "index.html": "text/html; charset=utf-8",
    "playground.js": "text/javascript; charset=utf-8",
    "stream.js": "text/javascript; charset=utf-8",
    "playground.css": "text/css; charset=utf-8",
}
"""The page's files (``client/tts_gateway/static/``) and their media types; nothing else is served."""
OPEN_PATHS = ("/playground", *(f"/playground/{name}" for name in PAGE_FILES))
"""Paths served without the API key: the page itself, so a user can type the key into it."""
SPEECH_ROUTE = "/v1/audio/speech"
"""Where the page sends text (OpenAI's route; ``response_format`` pcm streams)."""
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self' blob:; "
    "img-src 'self' data:; media-src 'self' blob:; base-uri 'none'; form-action 'none'; "
    "frame-ancestors 'none'"
)
"""The page may load and fetch from this gateway only (and play the WAV it builds itself)."""


def page_file(name: str) -> bytes:
    """The bytes of one of `PAGE_FILES` (package data of `tts_gateway`)."""
    return (resources.files("tts_gateway") / "static" / name).read_bytes()


def contract_document() -> dict[str, Any]:
    """The request contract as JSON: what every control's range and default comes from."""
    return {
        "scales": [
            {**asdict(s), "voice_default": s in SCALES} for s in REQUEST_SCALES
        ],  # voice_default: the speaker's default (voice.json) replaces the contract's
        # MAX_SEED (2**63 - 1) is past JavaScript's exact integers: sent as text
        "seed": {"min": 0, "max": str(MAX_SEED), "random": RANDOM_SEED},
        "emotion_ids": {"min": EMOTION_IDS.start, "max": EMOTION_IDS.stop - 1},
        "language_modes": list(LANGUAGE_MODES),
        "profiles": {"names": list(PROFILE_NAMES), "default": DEFAULT_PROFILE},
        "conditioning_inputs": {k: list(v) for k, v in CONDITIONING_INPUTS.items()},
        "limits": asdict(Limits()),
    }


def voice_document(model_id: int, voice: Any) -> dict[str, Any]:
    """One loaded voice as the page needs it (``VoiceInfo`` plus its model id)."""
    by_id = sorted(voice.speakers, key=voice.speakers.get)
    return {
        "id": model_id,
        "name": voice.name,
        "speakers": [
            {"name": s, "id": voice.speakers[s], "defaults": voice.speaker_defaults.get(s, {})}
            for s in by_id
        ],
        "languages": list(voice.languages),
        "default_language": default_language(voice.languages),
        "sample_rate": voice.sample_rate,
        "release": voice.release,
        "conditioning_inputs": list(voice.conditioning_inputs),
        "styles": sorted(voice.styles, key=voice.styles.get),
        "limits": asdict(voice.request_limits),
        "streams": voice.has_stream_model,
    }


def router(backend: Backend) -> APIRouter:
    """/playground (the page and its files) and /contract."""
    api = APIRouter()

    @api.get("/playground")
    def page() -> Response:
        """The playground page."""
        return _page_response("index.html")

    @api.get("/playground/{name}")
    def asset(name: str) -> Response:
        """The page's script or stylesheet."""
        if name not in PAGE_FILES:
            raise ApiError(
                404, 21, f"no playground file {name!r}", "name",
                f"the playground has {', '.join(PAGE_FILES)}; open /playground",
            )  # fmt: skip
        return _page_response(name)

    @api.get("/contract")
    def contract() -> dict[str, Any]:
        """The request contract's ranges and defaults, and the loaded voices."""
        voices = backend.voices()
        return {
            **contract_document(),
            "gateway": {
                "max_text_chars": backend.cfg.max_text_chars,
                "speech_route": SPEECH_ROUTE,
                "formats": list(available_formats()),
                "streamed_formats": list(STREAMABLE),
            },
            "voices": [voice_document(i, v) for i, v in sorted(voices.items())],
        }

    return api


def _page_response(name: str) -> Response:
    headers = {
        "Content-Security-Policy": CSP,
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "no-referrer",
        "Cache-Control": "no-cache",
    }
    return Response(page_file(name), media_type=PAGE_FILES[name], headers=headers)
