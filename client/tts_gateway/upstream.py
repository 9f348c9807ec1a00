"""Upstream Bert-VITS2's ``/voice`` and ``/status`` (``server_fastapi.py``, v2.3) over Triton.

``/voice`` takes upstream's parameters with upstream's defaults: ``text``, ``model_id``
(upstream's id, as ``/models/info`` lists; a voice name works too; default: the first
voice), ``speaker_name`` or ``speaker_id`` (one is required: status 11), ``sdp_ratio`` 0.2,
``noise`` 0.2, ``noisew`` 0.9, ``length`` 1, ``language`` (default: the voice's, ZH when it
has it), ``auto_translate`` (refused, status 20), ``auto_split`` (upstream's ``cut_sent``
pieces, one request each, each followed by 0.2 s of silence, the last one too),
``style_text``/``style_weight`` (upstream v2.3's style text and its weight).

Conditioning, by the voice's release (`conditioning_knobs`):
- ``emotion``: for a 2.1 voice the emotion id 0-9 (upstream's int), for a 2.2 voice an emotion
  prompt for CLAP ("Happy"); ignored by other voices, as upstream's 2.0/2.3 models ignore it.
- ``reference_audio`` (a multipart file upload, as upstream's form): the clip whose emotion a
  2.1 or 2.2 voice takes; refused (status 20) for other voices.
- ``pitch_scale`` and ``intonation_scale`` (Style-Bert-VITS2's pitch post-processing, any
  voice; not with ``stream=true``), ``given_phones`` / ``given_tones`` (SBV2's given_phone /
  given_tone, also under those names; space-separated) for Style-Bert-VITS2 voices;
  ``clause_chars`` (CLAUSE_CHARS, any voice: sentences longer than that many characters cut at
  their clause marks, each piece spoken on its own; earlier first audio, changed prosody).
- Style-Bert-VITS2's names: ``style`` and ``style_weight`` (for a Style-Bert-VITS2 voice
  ``style_weight`` is the style strength, not upstream's style-text weight), ``assist_text`` /
  ``assist_text_weight`` (= style_text / its weight); ``reference_audio_path`` (a style from a
  clip, needs a speaker-embedding model) is refused.
GET takes everything in the query string; POST takes the body as a form (upstream's form),
JSON object or plain text, plus query parameters.

The WAV is what upstream writes: 16-bit, scaled so the peak is full scale and truncated
(gradio's ``convert_to_16_bit_wav``). Extensions: ``seed`` (default random), ``normalize=false``
(plain clip-and-round 16-bit, as `Audio.to_wav`), ``timestamps=true`` (a JSON body instead:
the WAV in base64 and when each sentence, phone, word and mora is heard, `tts_contract.timestamps.
as_json`), ``stream=true`` (chunked WAV sent as it is
decoded: per vocoder window through the voice's stream model where it has one, else per
sentence; not peak-normalized, since the peak is not known before the end).
"""

from __future__ import annotations

import dataclasses
import inspect
import json
import math
import re
from email.parser import BytesParser
from email.policy import HTTP
from typing import Any
from urllib.parse import parse_qsl

import numpy as np
from fastapi import APIRouter, Request
from fastapi.responses import Response, StreamingResponse
from starlette.concurrency import run_in_threadpool

from tts_client.audio import Audio, silence
from tts_client.client import TTSClient
from tts_client.encoding import pcm16, wav_header
from tts_client.streaming import first_audio_method
from tts_contract.request import ADJUST_SCALES, STYLE_TEXT_WEIGHT, STYLE_WEIGHT
from tts_contract.request import default_language as contract_default_language
from tts_gateway.backend import ApiError, Backend
from tts_gateway.encoding import stream_body, upstream_pcm16

__all__ = ["UPSTREAM_DEFAULTS", "cut_sent", "router"]

UPSTREAM_DEFAULTS = {"sdp_ratio": 0.2, "noise": 0.2, "noisew": 0.9, "length": 1.0}
AUTO_SPLIT_PAUSE = 0.2
"""Seconds of silence upstream appends after every auto_split piece (``np.zeros(int(44100 *
0.2))`` in server_fastapi.py v2.0-v2.3), the last one included."""
NAMES = {"SPEAKER": "speaker_name", "NOISE_SCALE": "noise", "NOISE_SCALE_W": "noisew",
         "LENGTH_SCALE": "length", "SDP_RATIO": "sdp_ratio", "STYLE_TEXT": "style_text",
         "STYLE_TEXT_WEIGHT": "style_weight", "EMOTION": "emotion", "EMOTION_ID": "emotion",
         "REFERENCE_AUDIO": "reference_audio", "STYLE": "style", "PITCH_SCALE": "pitch_scale",
         "INTONATION_SCALE": "intonation_scale", "GIVEN_PHONES": "given_phones",
         "GIVEN_TONES": "given_tones"}  # fmt: skip
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}
# upstream's cut_sent: a break after one of 。！;？? , after "......" or "……", and after an
# end mark plus a closing quote, each only where the next character is not a closing quote
# (the last rule: not end punctuation)
_CUTS = (
    (re.compile(r"([。！;？?])([^”’])"), r"\1\n\2"),
    (re.compile(r"(\.{6})([^”’])"), r"\1\n\2"),
    (re.compile(r"(…{2})([^”’])"), r"\1\n\2"),
    (re.compile(r"([。！？?][”’])([^，。！？?])"), r"\1\n\2"),
)


def cut_sent(text: str) -> list[str]:
    """Upstream's auto_split pieces (``re_matching.cut_sent``), whitespace-only ones dropped."""
    for pattern, repl in _CUTS:
        text = pattern.sub(repl, text)
    return [p for p in text.rstrip().split("\n") if p.strip()]


def number(params: dict[str, Any], name: str, default: float | None) -> float | None:
    """A finite float parameter; absent or empty -> ``default``."""
    raw = params.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = float(raw)
    except (TypeError, ValueError):
        raise ApiError(400, 21, f"{name} must be a number, got {raw!r}", name) from None
    if not math.isfinite(value):
        raise ApiError(400, 21, f"{name} must be a finite number, got {raw!r}", name)
    return value


def integer(params: dict[str, Any], name: str) -> int | None:
    """An integer parameter; absent or empty -> None."""
    raw = params.get(name)
    if raw is None or raw == "":
        return None
    try:
        if isinstance(raw, float) and not raw.is_integer():
            raise ValueError
        return int(raw)
    except (TypeError, ValueError):
        raise ApiError(400, 21, f"{name} must be an integer, got {raw!r}", name) from None


def boolean(params: dict[str, Any], name: str) -> bool:
    """true/false, 1/0, yes/no, on/off; absent -> False."""
    raw = str(params.get(name, "")).strip().lower()
    if raw in _TRUE:
        return True
    if raw in _FALSE:
        return False
    raise ApiError(400, 21, f"{name} must be true or false, got {params[name]!r}", name)


UPLOADS = ("reference_audio",)
"""Form fields that may be file uploads (their value stays bytes)."""


async def body_params(request: Request) -> dict[str, Any]:
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
            out = {}
            for part in BytesParser(policy=HTTP).parsebytes(head + body).iter_parts():
                name = str(part.get_param("name", header="content-disposition") or "")
                data = part.get_payload(decode=True)
                if part.get_filename() and name not in UPLOADS:
                    raise ApiError(
                        400, 21, f"{name} must not be a file", name,
                        f"only {', '.join(UPLOADS)} takes a file upload",
                    )  # fmt: skip
                if name:
                    out[name] = data if name in UPLOADS else data.decode("utf-8")
            return out
        if kind.startswith("text/plain"):
            return {"text": body.decode("utf-8")}
        return dict(parse_qsl(body.decode("utf-8"), keep_blank_values=True))
    except UnicodeDecodeError:
        raise ApiError(400, 21, "the request body is not valid UTF-8", "text") from None
    except ValueError as e:
        raise ApiError(400, 21, f"cannot read the request body: {e}") from None


def default_language(voice: Any) -> str:
    """The voice's default language (`contract.default_language`)."""
    return contract_default_language(voice.languages)


def pronunciation_knobs(params: dict[str, Any]) -> dict[str, Any]:
    """pitch_scale, intonation_scale (any voice), clause_chars (CLAUSE_CHARS: cut long
    sentences at clause marks) and given_phones / given_tones (Style-Bert-VITS2 voices; also
    SBV2's given_phone / given_tone) for the client; left out: absent."""
    knobs = {s.name: number(params, s.name, None) for s in ADJUST_SCALES}
    knobs["clause_chars"] = integer(params, "clause_chars")
    for name in ("given_phones", "given_tones"):
        value = params.get(name, params.get(name[:-1]))
        if value not in (None, "", []):
            knobs[name] = value if isinstance(value, list) else str(value)
    return {k: v for k, v in knobs.items() if v is not None}


def _speaker(voice: Any, params: dict[str, str]) -> str:
    """Upstream's rule: speaker_name wins, else speaker_id; one of them is required."""
    name, sid = params.get("speaker_name") or None, integer(params, "speaker_id")
    if name is None and sid is None:
        raise ApiError(
            400, 11, "请提供speaker_name或speaker_id", "speaker_name",
            f"give speaker_name or speaker_id; {voice.name} has: {_roster(voice)}",
        )  # fmt: skip
    if name is None:
        by_id = {i: s for s, i in voice.speakers.items()}
        if sid not in by_id:
            raise ApiError(
                404, 12, f"角色speaker_id={sid}不存在", "speaker_id",
                f"speaker_id={sid} does not exist; {voice.name} has: {_roster(voice)}",
            )  # fmt: skip
        name = by_id[sid]
    if name not in voice.speakers:
        raise ApiError(
            404, 13, f"角色speaker_name={name}不存在", "speaker_name",
            f"speaker_name={name} does not exist; {voice.name} has: {_roster(voice)}",
        )  # fmt: skip
    return name


def _roster(voice: Any) -> str:
    return ", ".join(f"{i}={s}" for s, i in sorted(voice.speakers.items(), key=lambda x: x[1]))


def client_takes(name: str) -> bool:
    """Whether `TTSClient.synthesize` accepts the keyword ``name`` (a parameter or a knob)."""
    if name in inspect.signature(TTSClient.synthesize).parameters:
        return True
    try:
        from tts_client.planner import SynthesisParams
    except ImportError:  # a client from before the knobs had their own dataclass
        return False
    return name in {f.name for f in dataclasses.fields(SynthesisParams)}


def style_knobs(text: Any, weight: float | None, field: str = "style_text") -> dict[str, Any]:
    """style_text/style_text_weight for the client when it takes them; none without a text."""
    if not text:
        return {}
    if not client_takes("style_text"):
        raise ApiError(
            400, 20, "style_text is not supported by this server yet", field,
            "style_text (upstream's style mixing) needs a client that sends STYLE_TEXT; "
            "leave it empty",
        )  # fmt: skip
    return {"style_text": str(text), "style_text_weight": weight}


def synthesis_knobs(backend: Backend, params: dict[str, str]) -> tuple[Any, dict[str, Any]]:
    """(voice, keyword arguments of `TTSClient.synthesize`) for a /voice request."""
    text = params.get("text")
    if not text:
        raise ApiError(400, 21, "text is required (the text to speak)", "text")
    limit = backend.cfg.max_text_chars
    if len(text) > limit:
        raise ApiError(
            413, 21, f"text is {len(text)} characters; at most {limit} per request", "text",
            f"text is {len(text)} characters, over this gateway's {limit} per request: split "
            "it, or submit it as a job (POST /jobs)",
        )  # fmt: skip
    if boolean(params, "auto_translate"):
        raise ApiError(400, 20, "auto_translate is not supported by this server", "auto_translate")
    _, voice = backend.pick(params.get("model_id"))
    knobs = {
        "voice": voice.name,
        "speaker": _speaker(voice, params),
        "language": (params.get("language") or default_language(voice)).upper(),
        "sdp_ratio": number(params, "sdp_ratio", UPSTREAM_DEFAULTS["sdp_ratio"]),
        "noise_scale": number(params, "noise", UPSTREAM_DEFAULTS["noise"]),
        "noise_scale_w": number(params, "noisew", UPSTREAM_DEFAULTS["noisew"]),
        "length_scale": number(params, "length", UPSTREAM_DEFAULTS["length"]),
        "seed": integer(params, "seed"),
        **conditioning_knobs(voice, params),
    }
    return voice, knobs


def conditioning_knobs(voice: Any, params: dict[str, Any]) -> dict[str, Any]:
    """Style text, emotion, reference clip and style keywords for the client, mapped from
    upstream Bert-VITS2's and Style-Bert-VITS2's /voice names by what the voice takes."""
    takes = set(getattr(voice, "conditioning_inputs", ()))
    styled = "STYLE" in takes
    if params.get("reference_audio_path"):
        raise ApiError(
            400, 20, "reference_audio_path is not supported", "reference_audio_path",
            "a style from a clip needs a speaker-embedding model this server does not run; "
            "use style and style_weight",
        )  # fmt: skip
    text_weight = "assist_text_weight" if styled or "assist_text" in params else "style_weight"
    knobs = style_knobs(
        params.get("assist_text") or params.get("style_text"),
        number(params, text_weight, STYLE_TEXT_WEIGHT.default),
        "assist_text" if params.get("assist_text") else "style_text",
    )
    if styled:
        knobs["style"] = params.get("style") or None
        knobs["style_weight"] = number(params, "style_weight", STYLE_WEIGHT.default)
    elif params.get("style"):
        raise ApiError(
            400, 21, f"{voice.name} has no styles", "style",
            "style and style_weight are for Style-Bert-VITS2 voices; leave style out",
        )  # fmt: skip
    emotion = params.get("emotion")
    if emotion not in (None, "") and "EMOTION_ID" in takes:
        knobs["emotion_id"] = integer(params, "emotion")
    elif emotion not in (None, "") and "EMOTION" in takes:
        knobs["emotion"] = str(emotion)
    audio = params.get("reference_audio")
    if audio:
        if "REFERENCE_AUDIO" not in takes:
            raise ApiError(
                400, 20, "reference_audio is not supported by this voice", "reference_audio",
                f"{voice.name} (release {getattr(voice, 'release', '?')}) takes no reference "
                "clip; Bert-VITS2 2.1 and 2.2 voices do",
            )  # fmt: skip
        if not isinstance(audio, bytes):
            raise ApiError(
                400, 21, "reference_audio must be a file upload", "reference_audio",
                "send the clip as a multipart/form-data file field named reference_audio",
            )  # fmt: skip
        knobs["reference_audio"] = audio
    return {**knobs, **pronunciation_knobs(params)}


def json_knobs(voice: Any, body: dict[str, Any]) -> dict[str, Any]:
    """JSON bodies' (OpenAI speech, jobs) profile / style_text / style_text_weight / emotion /
    emotion_id / style / style_weight as the client's keywords; ``emotion`` is an
    id for a voice that takes EMOTION_ID (2.1), a prompt otherwise."""
    knobs = style_knobs(body.get("style_text"), number(body, "style_text_weight", None))
    if body.get("profile") not in (None, ""):
        knobs["profile"] = str(body["profile"])
    emotion = body.get("emotion")
    if emotion not in (None, ""):
        if "EMOTION_ID" in voice.conditioning_inputs:
            knobs["emotion_id"] = integer(body, "emotion")
        else:
            knobs["emotion"] = str(emotion)
    if body.get("emotion_id") not in (None, ""):
        knobs["emotion_id"] = integer(body, "emotion_id")
    if body.get("style") not in (None, ""):
        knobs["style"] = str(body["style"])
    knobs["style_weight"] = number(body, "style_weight", None)
    knobs.update(pronunciation_knobs(body))
    return {k: v for k, v in knobs.items() if v is not None}


def _speak(backend: Backend, params: dict[str, str]) -> Response:
    voice, knobs = synthesis_knobs(backend, params)
    text, tts = params["text"], backend.tts
    stamps = boolean(params, "timestamps")  # a JSON body: the WAV and its TIMESTAMPS
    if stamps and (boolean(params, "stream") or boolean(params, "auto_split")):
        raise ApiError(400, 20, "timestamps=true answers one JSON body; not with stream or "
                       "auto_split", "timestamps")  # fmt: skip
    if stamps:
        knobs["timestamps"] = True
    if boolean(params, "stream"):  # per vocoder window where the voice has a stream model
        method = first_audio_method(tts.protocol, voice)
        chunks = backend.call(tts.stream, text, _names=NAMES, method=method, **knobs)
        first = backend.call(next, chunks, _names=NAMES)
        return StreamingResponse(stream_body(first, chunks, "wav"), media_type="audio/wav")
    if boolean(params, "auto_split"):
        pieces, seed = [], knobs["seed"]
        for i, piece in enumerate(cut_sent(text)):
            one = {**knobs, "seed": None if seed is None else seed + i}
            pieces.append(backend.call(tts.synthesize, piece, _names=NAMES, **one).samples)
            pieces.append(silence(AUTO_SPLIT_PAUSE, voice.sample_rate))
        audio = Audio(np.concatenate(pieces), voice.sample_rate)
    else:
        audio = backend.call(tts.synthesize, text, _names=NAMES, **knobs)
    normalize = "normalize" not in params or boolean(params, "normalize")
    body = upstream_pcm16(audio.samples) if normalize else pcm16(audio.samples)
    wav = wav_header(audio.sample_rate, len(body)) + body
    if stamps:
        from fastapi.responses import JSONResponse

        from tts_contract.timestamps import as_json

        return JSONResponse(as_json(audio, wav))
    return Response(wav, media_type="audio/wav")


def router(backend: Backend) -> APIRouter:
    """/voice (GET, POST) and /status."""
    api = APIRouter()

    @api.get("/voice")
    def voice_get(request: Request) -> Response:
        """Text to speech; every parameter in the query string."""
        return _speak(backend, dict(request.query_params))

    @api.post("/voice")
    async def voice_post(request: Request) -> Response:
        """Text to speech; ``text`` (and optionally the rest) in the body."""
        params = {**dict(request.query_params), **await body_params(request)}
        return await run_in_threadpool(_speak, backend, params)

    @api.get("/status")
    def status() -> dict[str, Any]:
        """Host load (upstream's fields) and whether Triton answers."""
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
        tts = backend.tts
        out["gpu"] = []
        out["triton"] = {"url": tts.url, "protocol": tts.protocol, "ready": tts.ready()}
        return out

    return api
