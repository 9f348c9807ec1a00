"""The request contract: every name, range, default and limit that client and server share.

This module is the one definition. The clients, the gateway, the CLI, the Triton models, the
in-process runner, the PyTorch reference, the exporters and the benchmarks all import it;
nothing restates it. It imports only the standard library (no numpy, torch, onnx or Triton),
so it ships with the thin client distribution.

On the wire (the ensemble ``V`` and the decoupled ``V_stream``, docs/triton.md) every request
input is optional: a missing input takes the voice's default. A present value is checked here
and refused with a `RequestError` naming the input and what is allowed; NaN and infinity are
never defaults, they are refused like any other bad number.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields

__all__ = [
    "ADJUST_SCALES",
    "DEFAULT_SCALES",
    "DEFAULT_PROFILE",
    "INTONATION_SCALE",
    "LANGUAGE_MODES",
    "PITCH_SCALE",
    "PROFILE_NAMES",
    "REQUEST_SCALES",
    "default_language",
    "parse_given_phones",
    "parse_given_tones",
    "parse_durations",
    "check_clause_chars",
    "check_timestamps",
    "TIMESTAMPS_KEYS",
    "MAX_SEED",
    "OUTPUTS",
    "RANDOM_SEED",
    "REQUEST_INPUTS",
    "SCALES",
    "STYLE_TEXT_WEIGHT",
    "STYLE_WEIGHT",
    "CONDITIONING_INPUTS",
    "EMOTION_IDS",
    "Limits",
    "RequestError",
    "Scale",
    "WireInput",
    "check_emotion_id",
    "check_scale",
    "check_seed",
    "sentence_seed",
]


class RequestError(ValueError):
    """Bad input in one request: the message names the field and what is allowed."""


@dataclass(frozen=True)
class Scale:
    """One synthesis knob of upstream's ``infer``."""

    name: str
    """Upstream's keyword (``sdp_ratio``); also the client's and the graphs' name."""
    input: str
    """The Triton request input that carries it (``SDP_RATIO``)."""
    low: float
    high: float
    """Allowed closed range."""
    default: float
    """Upstream's per-speaker server default; a voice's voice.json may override it."""

    def check(self, value: object) -> float:
        """``value`` as a float inside the range, or a `RequestError` naming the input."""
        if isinstance(value, bool):
            raise RequestError(f"{self.input} must be a number, got {value!r}")
        try:
            number = float(value)  # type: ignore[arg-type]
        except (TypeError, ValueError):
            raise RequestError(f"{self.input} must be a number, got {value!r}") from None
        if math.isnan(number):
            raise RequestError(
                f"{self.input} must be a number, got nan (allowed: [{self.low}, {self.high}]; "
                "leave it out for the speaker's default)"
            )
        if not math.isfinite(number) or not self.low <= number <= self.high:
            raise RequestError(f"{self.input} must be in [{self.low}, {self.high}], got {number}")
        return number


SCALES: tuple[Scale, ...] = (
    Scale("sdp_ratio", "SDP_RATIO", 0.0, 1.0, 0.2),
    Scale("noise_scale", "NOISE_SCALE", 0.0, 2.0, 0.6),
    Scale("noise_scale_w", "NOISE_SCALE_W", 0.0, 2.0, 0.8),
    Scale("length_scale", "LENGTH_SCALE", 0.1, 5.0, 1.0),
)
SCALE_BY_NAME = {s.name: s for s in SCALES}
DEFAULT_SCALES = {s.name: s.default for s in SCALES}
"""Upstream server's per-speaker defaults (its config.yml), used where voice.json has none."""


STYLE_TEXT_WEIGHT = Scale("style_text_weight", "STYLE_TEXT_WEIGHT", 0.0, 1.0, 0.7)
"""How much of the style text's mean BERT feature is mixed into the text's (upstream v2.3's
``style_weight``, default 0.7 as in its infer; Style-Bert-VITS2 calls it assist_text_weight).
Only used with STYLE_TEXT."""


STYLE_WEIGHT = Scale("style_weight", "STYLE_WEIGHT", 0.0, 20.0, 1.0)
"""Style-Bert-VITS2's style strength: the voice receives mean + (style - mean) * weight
(`vits2.styles.style_vector`); 0 is the neutral style, 1 the style as trained (its default),
larger values exaggerate it. Only for voices with styles."""

PITCH_SCALE = Scale("pitch_scale", "PITCH_SCALE", 0.5, 2.0, 1.0)
"""Style-Bert-VITS2's pitch control (its ``adjust_voice``): every voiced frame's F0 f becomes
pitch_scale * mean + intonation_scale * (f - mean), mean over the request's whole waveform,
which WORLD (pyworld: harvest, cheaptrick, d4c, synthesize) resynthesizes. 1 (and
INTONATION_SCALE 1) leaves the audio untouched; any other value costs a little quality, as in
SBV2. SBV2's web UI offers [0.8, 1.5]; [0.5, 2.0] is an octave down to an octave up."""
INTONATION_SCALE = Scale("intonation_scale", "INTONATION_SCALE", 0.0, 2.0, 1.0)
"""Style-Bert-VITS2's intonation control: how far F0 swings around its mean (0: flat, 1: as
synthesized, 2: twice as wide); the same post-processing as PITCH_SCALE."""
ADJUST_SCALES = (PITCH_SCALE, INTONATION_SCALE)
"""Post-processing of the whole waveform (any voice); the stream model refuses values other
than 1, since the mean F0 is the whole request's."""
REQUEST_SCALES = (*SCALES, STYLE_TEXT_WEIGHT, STYLE_WEIGHT, *ADJUST_SCALES)
"""Every FP32 request input with its rule."""

EMOTION_IDS = range(10)
"""Bert-VITS2 2.1's emotion ids (one of its 10 emotion codes; 0 is the default)."""


def check_emotion_id(value: object) -> int:
    """An EMOTION_ID as an int in `EMOTION_IDS`; bools, floats and text are refused."""
    ok = not isinstance(value, bool | float | str | bytes)
    try:
        number = int(value) if ok else None  # type: ignore[call-overload]
    except (TypeError, ValueError):
        number = None
    if number is None or number != value or number not in EMOTION_IDS:
        raise RequestError(
            f"EMOTION_ID must be an integer in [{EMOTION_IDS.start}, {EMOTION_IDS.stop - 1}], "
            f"got {value!r} (leave it out for 0)"
        )
    return number


def check_scale(name: str, value: object) -> float:
    """Check one scale by its upstream name (``length_scale``)."""
    return SCALE_BY_NAME[name].check(value)


MAX_SEED = 2**63 - 1
"""The largest SEED (INT64 on the wire); sentence i of a request uses (SEED + i) mod 2**63."""
RANDOM_SEED = -1
"""SEED value (and a missing SEED) meaning "draw a fresh seed"."""


def check_seed(value: object) -> int | None:
    """An integer seed in [0, MAX_SEED], or None for random (None or -1)."""
    if value is None:
        return None
    try:
        ok = not isinstance(value, bool) and float(value).is_integer()  # type: ignore[arg-type]
        seed = int(value) if ok else None  # type: ignore[call-overload]
    except (TypeError, ValueError, OverflowError):
        seed = None
    if seed == RANDOM_SEED:
        return None
    if seed is None or not 0 <= seed <= MAX_SEED:
        raise RequestError(
            f"SEED must be in [0, {MAX_SEED}] (an integer), or {RANDOM_SEED} / left out for a "
            f"random one; got {value!r}"
        )
    return seed


LANGUAGE_MODES = ("AUTO", "MIX")
"""LANGUAGE values beside the voice's own languages: AUTO detects the language of each
stretch of text; MIX reads ``[ZH]...[JP]...`` (or ``<zh>...``) markup."""

PROFILE_NAMES = (
    "improved", "upstream-2.3", "upstream-master", "upstream-2.2", "upstream-2.1",
    "upstream-2.0", "sbv2", "sbv2-jp-extra",
)  # fmt: skip
"""Every PROFILE value: the text frontend profiles (`vits2.text.profiles` defines what each
does, and refuses to load if its set differs from this one). Left out: the voice's own."""
DEFAULT_PROFILE = "improved"
"""The profile of a voice whose voice.json names none (and of release 2.3's voices)."""


def default_language(languages) -> str:
    """The language a request takes when it names none: ZH where the voice has a Chinese BERT
    (upstream's default), else the voice's first language (a JP-only voice speaks JP)."""
    languages = list(languages)
    return "ZH" if "ZH" in languages or not languages else languages[0]


def parse_given_phones(value: object, max_phones: int) -> tuple[str, ...]:
    """GIVEN_PHONES: Style-Bert-VITS2's ``given_phone``, the sentence's phones as its frontend
    gives them ("_" first and last), space-separated or a list; at most ``max_phones``."""
    items = value.split() if isinstance(value, str) else value
    if not isinstance(items, list | tuple) or not all(isinstance(p, str) for p in items):
        raise RequestError(
            f"GIVEN_PHONES must be phones separated by spaces (or a list of str), got {value!r}"
        )
    phones = tuple(p.strip() for p in items)
    if not phones or any(not p or p.split() != [p] for p in phones):
        raise RequestError("GIVEN_PHONES is empty or holds an empty phone")
    if len(phones) > max_phones:
        raise RequestError(f"GIVEN_PHONES has {len(phones)} phones; at most {max_phones}")
    if phones[0] != "_" or phones[-1] != "_":
        raise RequestError(
            'GIVEN_PHONES must start and end with the padding phone "_", as Style-Bert-VITS2\'s '
            'frontend gives them (e.g. "_ k o N n i ch i w a _")'
        )
    return phones


def parse_given_tones(value: object, max_phones: int) -> tuple[int, ...]:
    """GIVEN_TONES: Style-Bert-VITS2's ``given_tone``, one tone per phone (Japanese: 0 low,
    1 high), space-separated integers or a list; at most ``max_phones``."""
    items = value.split() if isinstance(value, str) else value
    try:
        ok = isinstance(items, list | tuple) and all(
            not isinstance(t, bool) and float(t) == int(t) for t in items
        )
    except (TypeError, ValueError, OverflowError):
        ok = False
    if not ok or not items:
        raise RequestError(
            f"GIVEN_TONES must be integers separated by spaces (or a list of int), got {value!r}"
        )
    if len(items) > max_phones:
        raise RequestError(f"GIVEN_TONES has {len(items)} tones; at most {max_phones}")
    return tuple(int(t) for t in items)


MAX_PHONE_FRAMES = 1000
"""The most frames one phone may be given in DURATIONS (1000 x 512 / 44100 = 11.6 s)."""


def parse_durations(value: object, max_phones: int) -> tuple[int, ...]:
    """DURATIONS: the one sentence's length per phone, in acoustic frames (hop_length samples
    each), one integer per phone of its reading as the frontend (or GIVEN_PHONES) gives it,
    padding "_" included; space-separated or a list; each in [0, MAX_PHONE_FRAMES], or -1 for
    "as the encoder predicts" (`PREDICTED`)."""
    items = value.split() if isinstance(value, str) else value
    try:
        ok = isinstance(items, list | tuple) and all(
            not isinstance(d, bool) and float(d) == int(d) for d in items
        )
    except (TypeError, ValueError, OverflowError):
        ok = False
    if not ok or not items:
        raise RequestError(
            f"DURATIONS must be frames per phone, integers separated by spaces (or a list of "
            f"int), got {str(value)[:80]!r}"
        )
    if len(items) > max_phones:
        raise RequestError(f"DURATIONS has {len(items)} phones; at most {max_phones}")
    frames = tuple(int(d) for d in items)
    bad = [d for d in frames if d != PREDICTED and not 0 <= d <= MAX_PHONE_FRAMES]
    if bad:
        raise RequestError(
            f"DURATIONS must be in [0, {MAX_PHONE_FRAMES}] frames per phone (or {PREDICTED}: "
            f"as predicted), got {bad[0]}"
        )
    if all(d == 0 for d in frames):
        raise RequestError("DURATIONS gives the sentence no frame at all; give it at least one")
    return frames


PREDICTED = -1
"""A DURATIONS value: this phone keeps the frames the encoder predicts for it."""


def check_timestamps(value: object) -> bool:
    """WITH_TIMESTAMPS: 1 (True) asks for the TIMESTAMPS output, 0 (False, or left out) for
    none (an ensemble's inputs and outputs share one namespace, hence two names)."""
    if value is None or isinstance(value, bool):
        return bool(value)
    if isinstance(value, float | str | bytes) or value not in (0, 1):
        raise RequestError(f"WITH_TIMESTAMPS must be 0 or 1, got {value!r}")
    return bool(value)


MAX_CLAUSE_CHARS = 100000
"""The largest CLAUSE_CHARS (a sentence cannot be longer than a request's text)."""


def check_clause_chars(value: object) -> int:
    """CLAUSE_CHARS: 0 (or left out) speaks every sentence whole, as upstream does; N > 0
    cuts each sentence longer than N characters at its clause marks (`tts_contract.sentences.
    clause_cuts`: pieces of up to about N characters), each piece spoken as an utterance of its
    own with no pause after it. Opt-in, since it changes prosody: each piece is intoned as a
    sentence. It brings first audio forward on long sentences, whose first audio otherwise
    waits for the flow over the whole sentence (the stream model's windows start after it)."""
    if value is None:
        return 0
    ok = not isinstance(value, bool | float | str | bytes)
    try:
        number = int(value) if ok else None  # type: ignore[call-overload]
    except (TypeError, ValueError):
        number = None
    if number is None or number != value or not 0 <= number <= MAX_CLAUSE_CHARS:
        raise RequestError(
            f"CLAUSE_CHARS must be an integer in [0, {MAX_CLAUSE_CHARS}] (characters; 0 or left "
            f"out: sentences are not cut at clause marks), got {value!r}"
        )
    return number


TIMESTAMPS_KEYS = ("sentences", "phones", "words", "moras", "phrases")
"""The lists of the TIMESTAMPS output, one JSON object per request with its ``sample_rate``
and ``hop_length`` (docs/timestamps.md has every field): each item's ``start`` and ``end`` are
samples of the returned audio, frame-exact; phones carry ``phone``, ``tone``, ``frames``; words
(BERT tokens: a character in ZH/JP, a word in EN), moras and accent phrases (Japanese) point
into the phones with [first, last + 1] pairs."""


def sentence_seed(seed: int, index: int) -> int:
    """The seed of sentence ``index`` of a request whose SEED is ``seed``."""
    return (int(seed) + index) % (MAX_SEED + 1)


@dataclass(frozen=True)
class WireInput:
    """One input of the public request (ensemble and stream model alike)."""

    name: str
    dtype: str
    """Triton type without the TYPE_ prefix (BYTES, FP32, INT64)."""
    field: str
    """The client's / SynthesisParams' name for it."""


REQUEST_INPUTS: tuple[WireInput, ...] = (
    WireInput("TEXT", "BYTES", "text"),
    WireInput("SPEAKER", "BYTES", "speaker"),
    WireInput("LANGUAGE", "BYTES", "language"),
    *(WireInput(s.input, "FP32", s.name) for s in SCALES),
    WireInput("SEED", "INT64", "seed"),
    WireInput("PROFILE", "BYTES", "profile"),
    WireInput("STYLE_TEXT", "BYTES", "style_text"),
    WireInput(STYLE_TEXT_WEIGHT.input, "FP32", STYLE_TEXT_WEIGHT.name),
    WireInput("EMOTION", "BYTES", "emotion"),
    WireInput("EMOTION_ID", "INT64", "emotion_id"),
    WireInput("REFERENCE_AUDIO", "BYTES", "reference_audio"),
    WireInput("STYLE", "BYTES", "style"),
    WireInput(STYLE_WEIGHT.input, "FP32", STYLE_WEIGHT.name),
    *(WireInput(s.input, "FP32", s.name) for s in ADJUST_SCALES),
    WireInput("GIVEN_PHONES", "BYTES", "given_phones"),
    WireInput("GIVEN_TONES", "BYTES", "given_tones"),
    WireInput("DURATIONS", "BYTES", "durations"),
    WireInput("WITH_TIMESTAMPS", "INT64", "timestamps"),
    WireInput("CLAUSE_CHARS", "INT64", "clause_chars"),
)
"""Every input of a synthesis request. PROFILE names the text frontend profile for this request
(left out: the voice's own, voice.json ``frontend_profile``); STYLE_TEXT is upstream v2.3's
style text, whose BERT features are mixed in with STYLE_TEXT_WEIGHT (Style-Bert-VITS2's
assist_text / assist_text_weight). The conditioning inputs (`CONDITIONING_INPUTS`) only apply to
voices whose release has them; sending one to another voice is a `RequestError`. PITCH_SCALE
and INTONATION_SCALE (`ADJUST_SCALES`) reshape the F0 of the whole waveform, for any voice.
GIVEN_PHONES / GIVEN_TONES (space-separated) set one Japanese sentence's pronunciation and
accents by hand, as Style-Bert-VITS2's editor does. DURATIONS sets one sentence's lengths
by hand (frames per phone, `parse_durations`): the decoupled stream model takes it (the
ensemble's encoder step predicts durations; it refuses DURATIONS, naming the stream model).
WITH_TIMESTAMPS (0/1) asks for the TIMESTAMPS output: when each phone, word, mora and sentence is
heard, from the durations the audio was made with (`TIMESTAMPS_KEYS`). CLAUSE_CHARS (opt-in,
changes prosody) cuts sentences longer than that many characters at their clause marks, so
that a long sentence's first audio comes sooner (`check_clause_chars`)."""

CONDITIONING_INPUTS: dict[str, tuple[str, ...]] = {
    "EMOTION": ("2.2",),
    "EMOTION_ID": ("2.1",),
    "REFERENCE_AUDIO": ("2.1", "2.2"),
    "STYLE": ("sbv2", "sbv2-jp-extra"),
    "STYLE_WEIGHT": ("sbv2", "sbv2-jp-extra"),
    "GIVEN_PHONES": ("sbv2", "sbv2-jp-extra"),
    "GIVEN_TONES": ("sbv2", "sbv2-jp-extra"),
}
"""Conditioning input -> the releases (voice.json ``release``) that take it:
- EMOTION (text): 2.2's emotion prompt ("Happy", "a sad voice"), embedded by the voice's CLAP
  text graph; left out: no prompt (a zero embedding, the 2.2 model's neutral).
- EMOTION_ID (0-9, `EMOTION_IDS`): 2.1's emotion code; left out: 0 (or the clip's code when
  REFERENCE_AUDIO is given).
- REFERENCE_AUDIO (the bytes of an audio file soundfile reads: WAV, FLAC, OGG; any sample rate,
  at most `Limits.max_reference_seconds`): the emotion of a clip, embedded by the voice's
  wav2vec2 emotion graph (2.1) or CLAP audio graph (2.2). It wins over EMOTION / EMOTION_ID.
- STYLE (a name from the voice's styles, or its id as digits) and STYLE_WEIGHT: Style-Bert-VITS2's
  style; left out: the neutral style (id 0) at weight 1.
- GIVEN_PHONES and GIVEN_TONES: Style-Bert-VITS2's given_phone / given_tone for a request whose
  TEXT is one Japanese sentence: phones from the voice's symbol table, tones 0/1; the phones'
  spread over the text's BERT tokens is adjusted as SBV2 adjusts it. Bert-VITS2 releases'
  frontends have no such input (their word2ph cannot follow a changed reading), so they
  refuse it."""
OUTPUTS = ("AUDIO", "SAMPLE_RATE", "TIMESTAMPS")
"""What the ensemble returns: FP32 samples [N], INT32 sample rate [1], and TIMESTAMPS (BYTES
[1]: a JSON object, `TIMESTAMPS_KEYS`, when the request sent WITH_TIMESTAMPS 1; else empty).
A client asks for the outputs it wants (TIMESTAMPS only with WITH_TIMESTAMPS 1)."""
STREAM_OUTPUTS = (*OUTPUTS, "PAUSE_AFTER")
"""What each response of the decoupled stream model carries (PAUSE_AFTER: FP32 [1] seconds of
silence at the end of that chunk; TIMESTAMPS: with WITH_TIMESTAMPS 1, the chunk's ``span`` [start,
end) in samples of the whole request's audio, and the items of `TIMESTAMPS_KEYS` that start in
it, times counted from the request's start: all chunks' lists joined equal the ensemble's)."""


@dataclass
class Limits:
    """Per-request limits and pauses of a voice (voice.json ``limits``; defaults here)."""

    max_text_chars: int = 5000
    """Characters per request; longer text must be split by the caller (or streamed)."""
    max_sentences: int = 16
    """Sentences per request (each sentence is one batch row of the acoustic models)."""
    max_phones: int = 800
    """Ids per sentence after add_blank; longer sentences are split by the frontend."""
    max_tokens: int = 510
    """BERT tokens per segment ([CLS]/[SEP] excluded); BERT takes at most 512."""
    max_frames: int = 8192
    """Acoustic frames per sentence (8192 x 512 / 44100 = 95 s); bounds memory per request."""
    max_style_text_chars: int = 500
    """Characters of STYLE_TEXT (one BERT call; BERT takes at most 512 tokens)."""
    max_reference_seconds: float = 30.0
    """Seconds of REFERENCE_AUDIO (upstream's emotion models read whole clips)."""
    max_stream_chars: int = 100000
    """Characters per request to the decoupled stream model (it speaks sentence by sentence)."""
    sentence_pause: float = 0.2
    """Seconds of silence after a sentence."""
    paragraph_pause: float = 1.0
    """Seconds of silence after a paragraph (a newline)."""

    @classmethod
    def from_dict(cls, d: dict | None) -> Limits:
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(d or {}) - known)
        if unknown:
            raise ValueError(f"unknown limits {unknown}; known: {', '.join(sorted(known))}")
        return cls(**(d or {}))

    def pause(self, kind: str) -> float:
        """Silence after a sentence that ends with ``kind`` (sentence, paragraph, end)."""
        return {"sentence": self.sentence_pause, "paragraph": self.paragraph_pause}.get(kind, 0.0)
