"""One request's knobs (`SynthesisParams`) and how a text is cut into requests (`plan_chunks`).

Both clients (sync and asyncio), the CLI and the gateway build a `SynthesisParams` and call
`plan_chunks`; the checks come from the request contract (`tts_contract.request`) and the cuts
from the shared sentence rules (`tts_contract.sentences`). No I/O here.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np

from tts_client.errors import InvalidInputError
from tts_client.voices import VoiceInfo
from tts_contract.request import (
    ADJUST_SCALES,
    REQUEST_SCALES,
    Limits,
    RequestError,
    check_clause_chars,
    check_emotion_id,
    check_seed,
    check_timestamps,
    default_language,
    parse_durations,
    parse_given_phones,
    parse_given_tones,
    sentence_seed,
)
from tts_contract.sentences import CLAUSE_MARKS, mix_alone, mix_runs, split_sentences

__all__ = ["Chunk", "SynthesisParams", "check_text", "plan_chunks"]


def check_text(text: object, field: str = "TEXT") -> str:
    """The text a request may carry: a str that encodes as UTF-8."""
    if not isinstance(text, str):
        raise TypeError(f"{field.lower()} must be a str, got {type(text).__name__}")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as e:
        raise InvalidInputError(
            f"{field} is not encodable as UTF-8 ({e.reason} at character {e.start})"
        ) from None
    return text


TEXT_KNOBS = ("profile", "style_text", "emotion", "style")
"""SynthesisParams fields sent as UTF-8 text (their wire input is the upper-case name)."""


def _emotion_id(value: object) -> int | None:
    """`check_emotion_id`, also taking the id as digits ("3", as a CLI or form gives it)."""
    if value is None:
        return None
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value)
    return check_emotion_id(value)


@dataclass
class SynthesisParams:
    """One request's knobs, as the user gave them; None means "the voice's default"."""

    speaker: str | int | None = None
    language: str | None = None
    """ZH, JP, EN, AUTO or MIX; None: the voice's default (`contract.default_language`: ZH where
    it has a Chinese BERT, else its first language)."""
    sdp_ratio: float | None = None
    noise_scale: float | None = None
    noise_scale_w: float | None = None
    length_scale: float | None = None
    seed: int | None = None
    profile: str | None = None
    """Text frontend profile for this request (None: the voice's own)."""
    style_text: str | None = None
    """Upstream v2.3's style text: its BERT features are mixed into the text's."""
    style_text_weight: float | None = None
    """How much of the style text to mix in (None: the contract's default)."""
    emotion: str | None = None
    """Bert-VITS2 2.2: an emotion prompt for the voice's CLAP text graph ("Happy")."""
    emotion_id: int | None = None
    """Bert-VITS2 2.1: emotion id 0-9."""
    reference_audio: bytes | None = None
    """Bert-VITS2 2.1 / 2.2: an audio file's bytes (WAV, FLAC, OGG) whose emotion to use."""
    style: str | None = None
    """Style-Bert-VITS2: a style name of the voice (or its id as digits)."""
    style_weight: float | None = None
    """Style-Bert-VITS2: style strength (None: 1, the style as trained)."""
    pitch_scale: float | None = None
    """Style-Bert-VITS2's pitch post-processing of the whole waveform (None: 1, untouched)."""
    intonation_scale: float | None = None
    """Style-Bert-VITS2's intonation: F0 swing around its mean (None: 1, untouched)."""
    given_phones: str | list[str] | None = None
    """Style-Bert-VITS2 voices: one Japanese sentence's phones set by hand ("_ k o ... _")."""
    given_tones: str | list[int] | None = None
    """Style-Bert-VITS2 voices: one tone (0/1) per phone ("0 0 1 ... 0")."""
    durations: str | list[int] | None = None
    """One sentence's lengths by hand: frames per phone of its reading (padding included), as
    TIMESTAMPS' ``phones[i]["frames"]`` lists them; the voice's stream model takes them."""
    timestamps: bool = False
    """Ask for TIMESTAMPS: ``Audio.timestamps`` (when each phone, word, mora is heard)."""
    clause_chars: int | None = None
    """Cut sentences longer than this many characters at their clause marks, each piece an
    utterance of its own: earlier first audio on long sentences, different prosody (opt-in;
    None or 0: sentences stay whole)."""

    @classmethod
    def from_kwargs(cls, **knobs: object) -> SynthesisParams:
        """From keyword arguments named as the fields; anything else is a TypeError."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(knobs) - known)
        if unknown:
            raise TypeError(f"unknown synthesis options {unknown}; known: {sorted(known)}")
        return cls(**knobs)  # type: ignore[arg-type]

    @classmethod
    def merged(cls, params: SynthesisParams | None, knobs: dict[str, object]) -> SynthesisParams:
        """A copy of ``params`` (or the defaults) with the keyword ``knobs`` applied; unknown
        keywords are a TypeError naming the known ones."""
        base = {f.name: getattr(params, f.name) for f in fields(cls)} if params else {}
        return cls.from_kwargs(**{**base, **knobs})

    def validate(self) -> SynthesisParams:
        """Check every given value against the contract (ranges, NaN, infinity, seed)."""
        try:
            for scale in REQUEST_SCALES:
                value = getattr(self, scale.name)
                if value is not None:
                    setattr(self, scale.name, scale.check(value))
            # the server checks the count against the voice's max_phones and the symbol table
            if self.given_phones is not None:
                self.given_phones = " ".join(parse_given_phones(self.given_phones, 10**6))
            if self.given_tones is not None:
                self.given_tones = " ".join(map(str, parse_given_tones(self.given_tones, 10**6)))
            if self.durations is not None:
                self.durations = " ".join(map(str, parse_durations(self.durations, 10**6)))
            self.timestamps = check_timestamps(self.timestamps)
            self.clause_chars = check_clause_chars(self.clause_chars) or None
            self.seed = check_seed(self.seed)
            if isinstance(self.style, int) and not isinstance(self.style, bool):
                self.style = str(self.style)
            for name in TEXT_KNOBS:
                value = getattr(self, name)
                if value is not None:
                    if not isinstance(value, str):
                        raise RequestError(f"{name.upper()} must be a str, got {value!r}")
                    check_text(value, name.upper())
            self.emotion_id = _emotion_id(self.emotion_id)
            if self.reference_audio is not None and not isinstance(
                self.reference_audio, (bytes, bytearray)
            ):
                raise RequestError(
                    "REFERENCE_AUDIO must be an audio file's bytes (WAV, FLAC, OGG), got "
                    f"{type(self.reference_audio).__name__}"
                )
        except RequestError as e:
            raise InvalidInputError(str(e)) from None
        return self

    def arrays(self, text: str, seed_offset: int = 0) -> dict[str, np.ndarray]:
        """Request input name -> numpy array; knobs left as None are left out (the server
        then uses the speaker's default; a missing SEED is a random one)."""
        out = {
            "TEXT": np.array([text.encode("utf-8")], dtype=np.object_),
            "SPEAKER": np.array(
                [b"" if self.speaker is None else str(self.speaker).encode("utf-8")],
                dtype=np.object_,
            ),
            "LANGUAGE": np.array([(self.language or "").encode("utf-8")], dtype=np.object_),
        }
        if self.seed is not None:  # sentence i of a request uses SEED + i, as the server does
            out["SEED"] = np.array([sentence_seed(self.seed, seed_offset)], dtype=np.int64)
        for name in TEXT_KNOBS:
            value = getattr(self, name)
            if value is not None:
                out[name.upper()] = np.array([value.encode("utf-8")], dtype=np.object_)
        if self.emotion_id is not None:
            out["EMOTION_ID"] = np.array([self.emotion_id], dtype=np.int64)
        if self.reference_audio is not None:
            out["REFERENCE_AUDIO"] = np.array([bytes(self.reference_audio)], dtype=np.object_)
        for scale in REQUEST_SCALES:
            value = getattr(self, scale.name)
            if value is not None:
                out[scale.input] = np.array([value], dtype=np.float32)
        for name in ("given_phones", "given_tones", "durations"):
            value = getattr(self, name)
            if value is not None:
                text = value if isinstance(value, str) else " ".join(map(str, value))
                out[name.upper()] = np.array([text.encode("utf-8")], dtype=np.object_)
        if self.timestamps:
            out["WITH_TIMESTAMPS"] = np.array([1], dtype=np.int64)
        if self.clause_chars:
            out["CLAUSE_CHARS"] = np.array([self.clause_chars], dtype=np.int64)
        return out

    def whole_request(self) -> list[str]:
        """The knobs that act on the whole text of one request (the F0 mean of its waveform;
        the reading of its one sentence): such a text cannot be cut into several requests."""
        out = [s.input for s in ADJUST_SCALES if getattr(self, s.name) not in (None, s.default)]
        given = ("given_phones", "given_tones", "durations")
        return out + [n.upper() for n in given if getattr(self, n)]

    def language_for(self, voice: VoiceInfo | None) -> str:
        """The request's language: the given one, else the voice's default."""
        if self.language:
            return self.language
        return default_language(voice.languages if voice else [])


@dataclass
class Chunk:
    """Text sent in one request, with where it sits among the sentences."""

    text: str
    first_sentence: int
    """Index of its first utterance in the whole text (its seed is SEED + this)."""
    pause_after: float
    """Seconds of silence to put after its audio (0 after the last chunk)."""
    sentences: int = 1


def _hard_split(text: str, limit: int) -> list[str]:
    """Cut one over-long sentence into pieces of at most ``limit`` characters, preferring
    clause marks, then spaces."""
    pieces: list[str] = []
    while len(text) > limit:
        window = text[:limit]
        cut = max((i + 1 for i, c in enumerate(window) if c in CLAUSE_MARKS), default=0)
        if cut < limit // 2:
            cut = max(cut, window.rfind(" ") + 1)
        if cut < limit // 4:
            cut = limit
        pieces.append(text[:cut])
        text = text[cut:]
    if text.strip():
        pieces.append(text)
    return [p for p in pieces if p.strip()]


def plan_chunks(
    text: str,
    voice: VoiceInfo | None,
    per_sentence: bool = False,
    language: str = "",
    whole: list[str] | tuple[str, ...] = (),
    clause_chars: int = 0,
) -> list[Chunk]:
    """Cut ``text`` into requests that fit the voice's ``limits``, at sentence ends.

    ``per_sentence`` gives one chunk per sentence (for pipelined streaming). Otherwise the
    whole text is one chunk when it fits; if not, sentences are packed greedily up to
    ``max_text_chars`` and ``max_sentences``, and a sentence longer than ``max_text_chars``
    on its own is cut at clauses/spaces with no pause between its pieces. With MIX markup,
    a chunk starts with the language tag in force where it starts. ``whole`` names knobs that
    need the text in one request (`SynthesisParams.whole_request`): cutting it is then an
    error naming them. ``clause_chars`` (CLAUSE_CHARS): long sentences count as their clause
    pieces, as the server cuts them, so that each piece keeps its seed.
    """
    limits = voice.request_limits if voice else Limits()
    max_chars, max_sents = int(limits.max_text_chars), int(limits.max_sentences)
    mix = language.upper() == "MIX"
    sentences = split_sentences(text, clause_chars, mix)
    if not sentences or (
        len(text) <= max_chars and len(sentences) <= max_sents and not per_sentence
    ):
        return [Chunk(text, 0, 0.0, max(1, len(sentences)))]

    runs = mix_runs(text) if mix else []  # parsed once: every chunk's start looks it up
    chunks: list[Chunk] = []
    glue = False  # may the next piece join the last chunk?
    index = 0  # utterance number on the server: chunk seeds are SEED + this
    for k, s in enumerate(sentences):
        over = len(s.text) > max_chars
        parts = _hard_split(s.text, max_chars - 4 if mix else max_chars) if over else [s.text]
        at = 0  # where the part starts in the sentence
        for p, part in enumerate(parts):
            at = s.text.index(part, at)
            last = chunks[-1] if chunks else None
            sep = "\n" if k and p == 0 and sentences[k - 1].kind == "paragraph" else ""
            if (
                glue
                and last is not None
                and p == 0
                and not per_sentence
                and len(last.text) + len(sep) + len(part) <= max_chars
                and last.sentences < max_sents
            ):
                last.text += sep + part
                last.sentences += 1
            else:
                if mix:  # a chunk starts with the language in force where it starts
                    part = mix_alone(text, s.start + at, s.start + at + len(part), runs)
                chunks.append(Chunk(part, index, 0.0))
            index += 1
            is_last_part = p == len(parts) - 1
            chunks[-1].pause_after = limits.pause(s.kind) if is_last_part else 0.0
            glue = is_last_part and not over
    chunks[-1].pause_after = 0.0
    adjusts = [s.input for s in ADJUST_SCALES if s.input in whole]
    if per_sentence and adjusts:
        raise InvalidInputError(
            f"{', '.join(adjusts)} move the F0 of the whole waveform around its mean (Style-"
            "Bert-VITS2's adjust_voice), which a stream does not have: synthesize instead, "
            "or leave them out"
        )
    if whole and len(chunks) > 1:
        why = "one per sentence, streamed" if per_sentence else "over one request's limits"
        raise InvalidInputError(
            f"{', '.join(whole)} act on one request's whole text, and this text would be cut "
            f"into {len(chunks)} requests ({why}): send it in one request (shorter text, not "
            "streamed), or leave them out"
        )
    return chunks
