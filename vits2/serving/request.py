"""One request's fields, checked once at the edge: `parse_request` turns raw values (from Triton
tensors, the in-process runner or the reference) into a `SynthesisRequest` with every default
filled, or raises `RequestError` naming the field and what is allowed. The rules come from the
contract (`tts_contract.request`) and the voice manifest; nothing is restated here."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from tts_contract.manifest import VoiceManifest
from tts_contract.request import (
    ADJUST_SCALES,
    SCALES,
    STYLE_TEXT_WEIGHT,
    STYLE_WEIGHT,
    RequestError,
    check_clause_chars,
    check_emotion_id,
    check_seed,
    check_timestamps,
    default_language,
    parse_durations,
    parse_given_phones,
    parse_given_tones,
)
from vits2.serving import noise
from vits2.serving.emotion import decode_clip
from vits2.text.frontend import FRONTEND_LANGUAGES
from vits2.text.profiles import get_profile
from vits2.text.symbols import NUM_TONES_PER_LANGUAGE, SYMBOL_TO_ID


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
    """The request's conditioning inputs (`tts_contract.request.CONDITIONING_INPUTS`), checked
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
    pitch_scale: float = 1.0
    intonation_scale: float = 1.0
    """PITCH_SCALE / INTONATION_SCALE: the join step's F0 post-processing (1, 1: none)."""
    given_phones: tuple[str, ...] | None = None
    given_tones: tuple[int, ...] | None = None
    """GIVEN_PHONES / GIVEN_TONES (Style-Bert-VITS2 voices): the one Japanese sentence's
    phones and tones set by hand, checked against the symbol table."""
    durations: tuple[int, ...] | None = None
    """DURATIONS: the one sentence's frames per phone set by hand (the stream model and the
    reference take them; `vits2.serving.path.given_durations_step`)."""
    timestamps: bool = False
    """WITH_TIMESTAMPS 1: the frontend step sends each sentence's alignment for the TIMESTAMPS
    output."""
    clause_chars: int = 0
    """CLAUSE_CHARS: sentences longer than this are cut at clause marks (0: never)."""

    @property
    def adjusts_pitch(self) -> bool:
        return (self.pitch_scale, self.intonation_scale) != (1.0, 1.0)


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
    lang = text_value(language, "LANGUAGE").strip().upper() or default_language(voice.languages)
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


def parse_given(
    voice: VoiceManifest, language: str, phones=None, tones=None
) -> tuple[tuple[str, ...] | None, tuple[int, ...] | None]:
    """GIVEN_PHONES / GIVEN_TONES checked against the voice: its release must take them,
    LANGUAGE must be JP, phones from the symbol table, tones Japanese (0/1)."""
    phones = phones if isinstance(phones, list | tuple) else text_value(phones, "GIVEN_PHONES")
    tones = tones if isinstance(tones, list | tuple) else text_value(tones, "GIVEN_TONES")
    if (phones or tones) and "GIVEN_PHONES" not in voice.conditioning_inputs:
        raise RequestError(
            f"GIVEN_PHONES / GIVEN_TONES are Style-Bert-VITS2's (its editor sets a sentence's "
            f"reading by hand) and this voice is release {voice.release}: Bert-VITS2's frontends "
            "have no way to spread changed phones over the text's BERT tokens, so its voices "
            "cannot take them; leave them out (the reading comes from the text)"
        )
    given_p = _takes(voice, "GIVEN_PHONES", phones if phones else None)
    given_t = _takes(voice, "GIVEN_TONES", tones if tones else None)
    if not (given_p or given_t):
        return None, None
    if language != "JP":
        raise RequestError(
            f"GIVEN_PHONES / GIVEN_TONES set a Japanese sentence's reading; LANGUAGE is "
            f"{language}: send LANGUAGE JP"
        )
    limit = voice.request_limits.max_phones // 2
    out_p = parse_given_phones(phones, limit) if given_p else None
    out_t = parse_given_tones(tones, limit) if given_t else None
    unknown = sorted({p for p in out_p or () if p not in SYMBOL_TO_ID})
    if unknown:
        raise RequestError(
            f"GIVEN_PHONES has phones outside the voice's symbol table: {unknown[:8]}; use the "
            "phones its frontend gives (vits2.text.symbols)"
        )
    bad = sorted({t for t in out_t or () if not 0 <= t < NUM_TONES_PER_LANGUAGE["JP"]})
    if bad:
        raise RequestError(f"GIVEN_TONES must be 0 (low) or 1 (high), got {bad[:8]}")
    return out_p, out_t


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
    pitch_scale=None,
    intonation_scale=None,
    given_phones=None,
    given_tones=None,
    durations=None,
    timestamps=None,
    clause_chars=None,
) -> SynthesisRequest:
    """Raw values (bytes/str; a value left out (None) takes its default: the speaker's for the
    scales, a fresh one for the seed (also -1), the voice's frontend profile, the release's
    neutral conditioning, no pitch change, no given phones or durations, no timestamps, no
    clause cuts) ->
    request. NaN, infinity,
    out-of-range values and conditioning inputs the voice does not take are refused."""
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
    adjust = {
        s.name: s.default if v is None else s.check(v)
        for s, v in zip(ADJUST_SCALES, (pitch_scale, intonation_scale), strict=True)
    }
    phones, tones = parse_given(voice, lang, given_phones, given_tones)
    durations = (
        durations if isinstance(durations, list | tuple) else text_value(durations, "DURATIONS")
    )
    frames = parse_durations(durations, voice.request_limits.max_phones) if durations else None
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
        given_phones=phones,
        given_tones=tones,
        durations=frames,
        timestamps=check_timestamps(timestamps),
        clause_chars=check_clause_chars(clause_chars),
        **adjust,
        **values,
    )
