"""VOICEVOX's engine API over the voices whose frontend reads Japanese (docs/voicevox.md).

Japanese apps (read-aloud bots, AITuber kits, SAPI bridges, the VOICEVOX editor) speak this API.
Field names and types follow VOICEVOX ENGINE's OpenAPI schema (0.24); the values are real:
- ``GET /version``, ``/core_versions``, ``/supported_devices``, ``/speakers``, ``/speaker_info``,
  ``POST /initialize_speaker``, ``GET /is_initialized_speaker``: every (voice, speaker) with a
  Japanese BERT is a VOICEVOX speaker; its styles are the voice's Style-Bert-VITS2 styles (or
  one, "ノーマル"), each with a stable id (`style_id`).
- ``POST /audio_query``, ``/accent_phrases``: OpenJTalk 1.11's accent phrases and moras as the
  voice's frontend reads the text, each mora's lengths from the durations the voice predicts
  (the request's ``seed``, default 0: the same text gives the same query, as in VOICEVOX), and
  its pitch measured on the audio the voice made (`tts_gateway.voicevox.pitch.span_pitch`).
- ``POST /mora_data``, ``/mora_length``, ``/mora_pitch``: the same for edited phrases.
- ``POST /synthesis``, ``/cancellable_synthesis``, ``/multi_synthesis``: the query's edits are
  honoured (`tts_gateway.voicevox.query`): accents and phonemes through GIVEN_PHONES /
  GIVEN_TONES, lengths through DURATIONS (the stream model), pitch by moving each mora's F0 to
  the query's (WORLD; untouched where it already is), volume, sampling rate, stereo.
- the user dictionary (`user_dict`).
What cannot be honoured is refused (422) with the field named.
"""

from __future__ import annotations

import io
import zipfile
from typing import Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from tts_gateway.backend import ApiError, Backend, json_object
from tts_gateway.voicevox import user_dict
from tts_gateway.voicevox.face import (
    ENGINE_VERSION,
    UNMOVED_HEADER,
    VoicevoxFace,
    measure,
    style_id,
)

__all__ = ["ENGINE_VERSION", "measure", "router", "style_id"]


def _core(core_version: str | None) -> None:
    if core_version not in (None, "", ENGINE_VERSION):
        raise ApiError(422, 21, f"core_version {core_version!r} is not served; this engine has "
                       f"{ENGINE_VERSION}", "core_version")  # fmt: skip


def router(backend: Backend) -> APIRouter:
    """The VOICEVOX engine routes (docs/voicevox.md has the table against its schema)."""
    api = APIRouter(tags=["voicevox"])
    face = VoicevoxFace(backend)

    @api.get("/version")
    def version() -> str:
        return ENGINE_VERSION

    @api.get("/core_versions")
    def core_versions() -> list[str]:
        return [ENGINE_VERSION]

    @api.get("/supported_devices")
    def supported_devices(core_version: str | None = None) -> dict[str, bool]:
        _core(core_version)
        return {"cpu": True, "cuda": False, "dml": False}

    @api.get("/speakers")
    def speakers(core_version: str | None = None) -> list[dict]:
        _core(core_version)
        return face.speakers()

    @api.get("/speaker_info")
    def speaker_info(speaker_uuid: str, core_version: str | None = None) -> dict:
        _core(core_version)
        for entry in face.speakers():
            if entry["speaker_uuid"] == speaker_uuid:
                infos = [{"id": s["id"], "icon": "", "portrait": None, "voice_samples": []}
                         for s in entry["styles"]]  # fmt: skip
                return {"policy": "", "portrait": "", "style_infos": infos}
        raise ApiError(404, 12, f"speaker_uuid {speaker_uuid} is not a speaker here",
                       "speaker_uuid")  # fmt: skip

    @api.post("/initialize_speaker", status_code=204)
    def initialize_speaker(speaker: int, skip_reinit: bool = False,
                           core_version: str | None = None) -> Response:  # fmt: skip
        _core(core_version)
        face.resolve(speaker)  # loaded voices are initialized
        return Response(status_code=204)

    @api.get("/is_initialized_speaker")
    def is_initialized_speaker(speaker: int, core_version: str | None = None) -> bool:
        _core(core_version)
        face.resolve(speaker)
        return True

    def _text_options(is_kana: bool, enable_katakana_english: bool, text: str) -> None:
        if is_kana:
            raise ApiError(422, 20, "is_kana: AquesTalk-like kana input is not read here; send "
                           "the text (edit accents in the phrases it gives)", "is_kana")  # fmt: skip
        if enable_katakana_english and any("a" <= c.lower() <= "z" for c in text):
            raise ApiError(
                422,
                20,
                "enable_katakana_english: this voice reads Latin letters as "
                "its frontend did in training (spelled out), not VOICEVOX's katakana "
                "English; send enable_katakana_english=false",
                "enable_katakana_english",
            )

    @api.post("/audio_query")
    def audio_query(text: str, speaker: int, enable_katakana_english: bool = True,
                    core_version: str | None = None, seed: int = Query(0, ge=0)) -> dict:  # fmt: skip
        _core(core_version)
        _text_options(False, enable_katakana_english, text)
        return face.read(text, speaker, seed)

    @api.post("/accent_phrases")
    def accent_phrases(text: str, speaker: int, is_kana: bool = False,
                       enable_katakana_english: bool = True, core_version: str | None = None,
                       seed: int = Query(0, ge=0)) -> list[dict]:  # fmt: skip
        _core(core_version)
        _text_options(is_kana, enable_katakana_english, text)
        return face.read(text, speaker, seed)["accent_phrases"]

    async def _phrases(request: Request) -> Any:
        import json

        try:
            return json.loads(await request.body() or b"null")
        except ValueError as e:
            raise ApiError(422, 21, f"the body must be a JSON list of accent phrases: {e}",
                           "accent_phrases") from None  # fmt: skip

    for path, lengths, pitch in (("/mora_data", True, True), ("/mora_length", True, False),
                                 ("/mora_pitch", False, True)):  # fmt: skip

        async def route(request: Request, speaker: int, core_version: str | None = None,
                        seed: int = Query(0, ge=0), _l: bool = lengths,
                        _p: bool = pitch) -> Any:  # fmt: skip
            from starlette.concurrency import run_in_threadpool

            _core(core_version)
            phrases = await _phrases(request)
            return await run_in_threadpool(face.update, phrases, speaker, seed, _l, _p)

        api.post(path)(route)

    async def _speak(request: Request, speaker: int, upspeak: bool, seed: int) -> Response:
        from starlette.concurrency import run_in_threadpool

        query = await json_object(request, "an AudioQuery")
        wav, unmoved = await run_in_threadpool(face.synthesize, query, speaker, seed, upspeak)
        headers = {UNMOVED_HEADER: ", ".join(unmoved)} if unmoved else None
        return Response(wav, media_type="audio/wav", headers=headers)

    @api.post("/synthesis")
    async def synthesis(request: Request, speaker: int, enable_interrogative_upspeak: bool = True,
                        core_version: str | None = None, seed: int = Query(0, ge=0)) -> Response:  # fmt: skip
        _core(core_version)
        return await _speak(request, speaker, enable_interrogative_upspeak, seed)

    @api.post("/cancellable_synthesis")
    async def cancellable_synthesis(request: Request, speaker: int,
                                    enable_interrogative_upspeak: bool = True,
                                    core_version: str | None = None,
                                    seed: int = Query(0, ge=0)) -> Response:  # fmt: skip
        _core(core_version)
        response = await _speak(request, speaker, enable_interrogative_upspeak, seed)
        if await request.is_disconnected():  # the caller gave up: nothing to send
            return Response(status_code=499)
        return response

    @api.post("/multi_synthesis")
    async def multi_synthesis(request: Request, speaker: int,
                              enable_interrogative_upspeak: bool = True,
                              core_version: str | None = None,
                              seed: int = Query(0, ge=0)) -> Response:  # fmt: skip
        import json

        from starlette.concurrency import run_in_threadpool

        _core(core_version)
        try:
            queries = json.loads(await request.body() or b"null")
        except ValueError as e:
            raise ApiError(422, 21, f"the body must be a JSON list of AudioQuery: {e}") from None
        if not isinstance(queries, list) or not queries:
            raise ApiError(422, 21, "the body must be a non-empty list of AudioQuery", "queries")
        rates = {q.get("outputSamplingRate") for q in queries if isinstance(q, dict)}
        if len(rates) > 1:
            raise ApiError(422, 21, "the queries have different outputSamplingRate; VOICEVOX "
                           "needs one rate for them all", "outputSamplingRate")  # fmt: skip
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w") as z:
            for i, query in enumerate(queries):
                wav, _ = await run_in_threadpool(face.synthesize, query, speaker, seed,
                                              enable_interrogative_upspeak)  # fmt: skip
                z.writestr(f"{i + 1:03d}.wav", wav)
        return Response(buf.getvalue(), media_type="application/zip")

    api.include_router(user_dict.router(backend))
    return api
