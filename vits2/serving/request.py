"""One request's fields, checked once at the edge: `parse_request` turns raw values (from Triton
tensors, the in-process runner or the reference) into a `SynthesisRequest` with every default
filled, or raises `RequestError` naming the field and what is allowed. The rules come from the
contract (`tts_client.contract`) and the voice manifest; nothing is restated here."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from tts_client.contract import (
    SCALES,
    STYLE_TEXT_WEIGHT,
    STYLE_WEIGHT,
    RequestError,
    check_emotion_id,
    check_seed,
)
from tts_client.manifest import VoiceManifest
from vits2.serving import noise
from vits2.serving.emotion import decode_clip
from vits2.text.frontend import FRONTEND_LANGUAGES
from vits2.text.profiles import get_profile


@dataclass
class StyleText:
    """Upstream v2.3's style text: its mean BERT feature (per language, computed once per
    request) is mixed into the text's features with `weight`."""

    text: str
    weight: float
    means: dict[str, np.ndarray] = field(default_factory=dict)
    """Language -> mean BERT feature [1024] of the style text (filled by the pipeline)."""


@dataclass
class Conditioning:
    """The request's conditioning inputs (`tts_client.contract.CONDITIONING_INPUTS`), checked
    against the voice: only those its release takes are ever set."""

    emotion: str | None = None
    """2.2: the emotion prompt (EMOTION), embedded by the voice's CLAP text graph."""
    emotion_id: int | None = None
    """2.1: EMOTION_ID (0-9)."""
    reference_audio: bytes | None = None
    """2.1 / 2.2: REFERENCE_AUDIO, an audio file's bytes (checked readable, finite, not empty,
    not longer than the voice's ``max_reference_seconds``); wins over the two above."""
    style_id: int = 0
    """Style-Bert-VITS2: the STYLE's row of the style vectors (0: neutral)."""
    style_weight: float = STYLE_WEIGHT.default
    embedding: np.ndarray | None = None
    """The emotion embedding [dim] of the prompt or clip, computed once per request (filled by
    the pipeline)."""


@dataclass
class SynthesisRequest:
    """One request after validation: every field filled (defaults applied, seed drawn)."""

    text: str
    speaker: str
    sid: int
    language: str
    sdp_ratio: float
    noise_scale: float
    noise_scale_w: float
    length_scale: float
    seed: int
    profile: str | None = None
    """Frontend profile for this request; None = the voice's own."""
    style: StyleText | None = None
    conditioning: Conditioning = field(default_factory=Conditioning)


def text_value(value, name: str) -> str:
    """A BYTES/str input as text ("" when left out)."""
    if isinstance(value, bytes):
        try:
            return value.decode("utf-8")
        except UnicodeDecodeError as e:
            raise RequestError(
                f"{name} is not valid UTF-8 ({e.reason} at byte {e.start})"
            ) from None
    return "" if value is None else str(value)


def _checked_text(voice: VoiceManifest, text, max_text_chars: int | None) -> str:
    text = text_value(text, "TEXT")
    if "\x00" in text:
        raise RequestError("TEXT contains NUL characters")
    if not text.strip():
        raise RequestError("TEXT is empty; give some text to speak")
    limit = max_text_chars or voice.request_limits.max_text_chars
    if len(text) > limit:
        raise RequestError(
            f"TEXT has {len(text)} characters; at most {limit} per request "
            "(split it, or use the streaming model / client)"
        )
    return text


def _speaker(voice: VoiceManifest, speaker) -> tuple[str, int]:
    name = text_value(speaker, "SPEAKER").strip()
    if not name:
        name = min(voice.speakers, key=voice.speakers.get)
    if name in voice.speakers:
        return name, voice.speakers[name]
    if name.isdigit() and int(name) in voice.speakers.values():
        sid = int(name)
        return next(k for k, v in voice.speakers.items() if v == sid), sid
    raise RequestError(
        f"unknown SPEAKER {name!r}; this voice has: {', '.join(voice.speakers)} (names or ids)"
    )


def _language(voice: VoiceManifest, language) -> str:
    lang = text_value(language, "LANGUAGE").strip().upper() or (
        "ZH" if "ZH" in voice.languages else voice.languages[0]
    )
    lang = "JP" if lang == "JA" else lang
    if lang not in FRONTEND_LANGUAGES:
        raise RequestError(f"unknown LANGUAGE {lang!r}; allowed: {', '.join(FRONTEND_LANGUAGES)}")
    if lang in ("ZH", "JP", "EN") and lang not in voice.languages:
        raise RequestError(
            f"LANGUAGE {lang} is not available: this voice has BERT models for "
            f"{', '.join(voice.languages)}"
        )
    return lang


def _profile(profile) -> str | None:
    name = text_value(profile, "PROFILE").strip()
    if not name:
        return None
    try:
        return get_profile(name).name
    except ValueError as e:
        raise RequestError(f"PROFILE: {e}") from None


def _style(voice: VoiceManifest, style_text, weight) -> StyleText | None:
    text = text_value(style_text, "STYLE_TEXT")
    if "\x00" in text:
        raise RequestError("STYLE_TEXT contains NUL characters")
    limit = voice.request_limits.max_style_text_chars
    if len(text) > limit:
        raise RequestError(f"STYLE_TEXT has {len(text)} characters; at most {limit}")
    checked = STYLE_TEXT_WEIGHT.default if weight is None else STYLE_TEXT_WEIGHT.check(weight)
    return StyleText(text, checked) if text.strip() else None


def _takes(voice: VoiceManifest, name: str, value) -> bool:
    """Whether ``value`` of conditioning input ``name`` is given; given to a voice whose release
    does not take it, a RequestError naming the inputs it takes."""
    if value is None or (isinstance(value, str | bytes) and not value):
        return False
    if name not in voice.conditioning_inputs:
        takes = ", ".join(voice.conditioning_inputs) or "none"
        raise RequestError(
            f"{name} is not an input of this voice (release {voice.release}); its conditioning "
            f"inputs: {takes}"
        )
    return True


def _style_id(voice: VoiceManifest, style) -> int:
    name = text_value(style, "STYLE").strip()
    if name in voice.styles:
        return voice.styles[name]
    if name.isdigit() and int(name) in voice.styles.values():
        return int(name)
    raise RequestError(
        f"unknown STYLE {name!r}; this voice has: {', '.join(voice.styles)} (names or ids)"
    )


def parse_conditioning(
    voice: VoiceManifest, emotion=None, emotion_id=None, reference=None, style=None, weight=None
) -> Conditioning:
    """The conditioning inputs checked against the voice (left out: its release's neutral)."""
    out = Conditioning()
    if _takes(voice, "REFERENCE_AUDIO", reference):
        decode_clip(reference, voice.request_limits.max_reference_seconds)
        out.reference_audio = bytes(reference)
    if _takes(voice, "EMOTION", text_value(emotion, "EMOTION").strip() or None):
        text = text_value(emotion, "EMOTION").strip()
        if "\x00" in text or len(text) > voice.request_limits.max_style_text_chars:
            raise RequestError(
                f"EMOTION must be text of at most {voice.request_limits.max_style_text_chars} "
                "characters without NUL"
            )
        out.emotion = text
    if _takes(voice, "EMOTION_ID", emotion_id):
        out.emotion_id = check_emotion_id(emotion_id)
    if _takes(voice, "STYLE", style):
        out.style_id = _style_id(voice, style)
    if _takes(voice, STYLE_WEIGHT.input, weight):
        out.style_weight = STYLE_WEIGHT.check(weight)
    return out


def parse_request(
    voice: VoiceManifest,
    text,
    speaker=None,
    language=None,
    scales=None,
    seed=None,
    max_text_chars: int | None = None,
    *,
    profile=None,
    style_text=None,
    style_text_weight=None,
    emotion=None,
    emotion_id=None,
    reference_audio=None,
    style=None,
    style_weight=None,
) -> SynthesisRequest:
    """Raw values (bytes/str; a value left out (None) takes its default: the speaker's for the
    scales, a fresh one for the seed (also -1), the voice's frontend profile, the release's
    neutral conditioning) -> request. NaN, infinity, out-of-range values and conditioning inputs
    the voice does not take are refused."""
    text = _checked_text(voice, text, max_text_chars)
    speaker_name, sid = _speaker(voice, speaker)
    lang = _language(voice, language)
    defaults = voice.defaults_for(speaker_name)
    given = scales or {}
    values = {
        s.name: defaults[s.name] if given.get(s.name) is None else s.check(given[s.name])
        for s in SCALES
    }
    seed = check_seed(seed)
    return SynthesisRequest(
        text,
        speaker_name,
        sid,
        lang,
        seed=noise.random_seed() if seed is None else seed,
        profile=_profile(profile),
        style=_style(voice, style_text, style_text_weight),
        conditioning=parse_conditioning(
            voice, emotion, emotion_id, reference_audio, style, style_weight
        ),
        **values,
    )
