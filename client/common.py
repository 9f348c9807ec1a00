"""What the sync and asyncio clients share: voice metadata, sentence splitting, request inputs.

No I/O here. The sentence splitter follows the server frontend's rules (docs/triton.md,
``vits2.text.sentences``) so that text the client cuts up is numbered, seeded and paused the
way the server would have done it in one request: a sentence ends at 。！？；.!?;… (an ASCII
mark only before a space, a non-alphanumeric or the end, and not after an abbreviation such
as "Mr."), closing quotes/brackets stay with it; a newline ends a paragraph.
"""

from __future__ import annotations

import contextlib
import json
import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from tts_client.audio import Audio, silence
from tts_client.errors import InvalidInputError, TTSError

MAX_SEED = 2**63 - 1
"""The largest SEED (INT64 on the wire); sentence seeds wrap past it."""


def check_text(text) -> str:
    """The text a request may carry: a str that encodes as UTF-8."""
    if not isinstance(text, str):
        raise TypeError(f"text must be a str, got {type(text).__name__}")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as e:
        raise InvalidInputError(
            f"TEXT is not encodable as UTF-8 ({e.reason} at character {e.start})"
        ) from None
    return text


__all__ = [
    "Chunk",
    "Sentence",
    "SynthesisParams",
    "VoiceInfo",
    "plan_chunks",
    "split_sentences",
]

DEFAULT_SENTENCE_PAUSE = 0.2
"""Seconds of silence between sentences (the server's default ``limits.sentence_pause``)."""
DEFAULT_PARAGRAPH_PAUSE = 1.0
"""Seconds of silence between paragraphs (``limits.paragraph_pause``)."""
SCALES = ("sdp_ratio", "noise_scale", "noise_scale_w", "length_scale")
INPUT_NAMES = {
    "sdp_ratio": "SDP_RATIO",
    "noise_scale": "NOISE_SCALE",
    "noise_scale_w": "NOISE_SCALE_W",
    "length_scale": "LENGTH_SCALE",
}
SUFFIXES = ("_frontend", "_encoder", "_noise", "_decoder", "_join", "_stream", "_bert_")

_CJK_END = set("。！？；")
_ASCII_END = set(".!?;…")
_CLOSERS = set("”’」』）)]\"'")
_CLAUSE = set(",，、:：;；—")
_ABBREVIATIONS = {
    "mrs", "mr", "dr", "st", "co", "jr", "maj", "gen", "drs", "rev", "lt", "hon", "sgt",
    "capt", "esq", "ltd", "col", "ft", "vs", "etc",
}  # fmt: skip
_TAG_RE = re.compile(r"\[(ZH|JP|JA|EN)\]|<(zh|jp|ja|en)>", re.IGNORECASE)


@dataclass
class VoiceInfo:
    """A voice on the server: the ensemble's ``voice`` parameter plus its state."""

    name: str
    """The ensemble's model name: what ``voice=`` takes."""
    speakers: dict[str, int] = field(default_factory=dict)
    """Speaker name -> id."""
    languages: list[str] = field(default_factory=list)
    """Languages with a BERT model (ZH, JP, EN); AUTO and MIX work on top of these."""
    sample_rate: int = 0
    speaker_defaults: dict[str, dict[str, float]] = field(default_factory=dict)
    """Speaker -> sdp_ratio, noise_scale, noise_scale_w, length_scale used for None/NaN."""
    limits: dict[str, Any] = field(default_factory=dict)
    """Per-request limits (max_text_chars, max_sentences, ...) and pauses."""
    models: list[str] = field(default_factory=list)
    """Every model of the voice, BERT ones first, the ensemble last (for load/unload)."""
    stream_model: str | None = None
    """The decoupled per-sentence model (``V_stream``), if the voice has one."""
    ready: bool = False
    """Whether the ensemble is loaded and ready."""
    state: str = ""
    """The repository index's state (READY, UNAVAILABLE, ...)."""

    @classmethod
    def from_config(
        cls, name: str, config: Mapping[str, Any], ready: bool, state: str = ""
    ) -> VoiceInfo:
        """From a model config as ``get_model_config(as_json=True)`` returns it (gRPC or HTTP)."""
        cfg = config.get("config", config)
        meta = voice_metadata(cfg)
        return cls(
            name=name,
            speakers={str(k): int(v) for k, v in meta.get("speakers", {}).items()},
            languages=list(meta.get("languages", [])),
            sample_rate=int(meta.get("sample_rate", 0)),
            speaker_defaults=dict(meta.get("speaker_defaults", {})),
            limits=dict(meta.get("limits", {})),
            models=list(meta.get("models", [])),
            stream_model=meta.get("stream_model")
            or (f"{name}_stream" if f"{name}_stream" in meta.get("models", []) else None),
            ready=ready,
            state=state,
        )

    @property
    def sentence_pause(self) -> float:
        return float(self.limits.get("sentence_pause", DEFAULT_SENTENCE_PAUSE))

    @property
    def paragraph_pause(self) -> float:
        return float(self.limits.get("paragraph_pause", DEFAULT_PARAGRAPH_PAUSE))

    @property
    def has_stream_model(self) -> bool:
        return bool(self.stream_model)

    def pause(self, kind: str) -> float:
        """Silence after a sentence that ends with ``kind`` (sentence, paragraph, end)."""
        return {"sentence": self.sentence_pause, "paragraph": self.paragraph_pause}.get(kind, 0.0)


def voice_metadata(config: Mapping[str, Any]) -> dict[str, Any]:
    """The ``voice`` JSON parameter of an ensemble config, or {} if it has none."""
    params = config.get("parameters") or {}
    raw = params.get("voice")
    if isinstance(raw, Mapping):
        raw = raw.get("string_value", raw.get("stringValue"))
    if not raw:
        return {}
    try:
        return json.loads(raw)
    except (TypeError, ValueError):
        return {}


def index_entries(index: Any) -> list[dict[str, Any]]:
    """Repository-index rows as dicts (gRPC's ``{"models": [...]}`` or HTTP's list)."""
    rows = index.get("models", []) if isinstance(index, Mapping) else list(index or [])
    return [dict(r) for r in rows]


def voice_candidates(rows: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Rows that look like voice ensembles: V where ``V_frontend`` is in the index too."""
    rows = list(rows)
    names = {r.get("name", "") for r in rows}
    return [
        r
        for r in rows
        if f"{r.get('name')}_frontend" in names and not any(s in r["name"] for s in SUFFIXES)
    ]


def load_stages(voice: str, models: Iterable[str]) -> list[list[str]]:
    """Load order for a voice: its BERT models (the frontend calls them), then the ensemble,
    which makes Triton load its steps. Loading the steps first as well made Triton load each
    of them twice. Anything else (the streaming model) is loaded after these stages by
    whoever finds it not ready. The models of one stage can load concurrently."""
    bert = [m for m in dict.fromkeys(models) if m != voice and "_bert_" in m]
    return [stage for stage in (bert, [voice]) if stage]


# -- sentences -------------------------------------------------------------------------------
@dataclass
class Sentence:
    """A stretch of the input text that the server would speak as one utterance."""

    text: str
    start: int
    """Offset in the original text (for progress reporting)."""
    end: int
    kind: str
    """How it ends: "sentence", "paragraph" (a newline follows) or "end" (last one)."""


def _cuts(s: str) -> list[tuple[int, str]]:
    cuts: list[tuple[int, str]] = []
    i, n = 0, len(s)
    while i < n:
        c = s[i]
        if c in "\r\n":
            cuts.append((i, "paragraph"))
        elif c in _CJK_END or c in _ASCII_END:
            j = i
            while j + 1 < n and (s[j + 1] in _CJK_END or s[j + 1] in _ASCII_END):
                j += 1
            while j + 1 < n and s[j + 1] in _CLOSERS:
                j += 1
            marks = [ch for ch in s[i : j + 1] if ch not in _CLOSERS]
            ok = True
            if all(ch in _ASCII_END for ch in marks):
                after = s[j + 1] if j + 1 < n else " "
                ok = after.isspace() or not (after.isascii() and after.isalnum())
                if ok and s[i : j + 1] == ".":
                    word = re.search(r"([A-Za-z]+)$", s[:i])
                    ok = not (word and word.group(1).lower() in _ABBREVIATIONS)
            if ok:
                cuts.append((j + 1, "sentence"))
            i = j
        i += 1
    return cuts


def split_sentences(text: str) -> list[Sentence]:
    """Sentences of ``text`` with how each ends; whitespace-only stretches are dropped."""
    out: list[Sentence] = []
    rank = {"sentence": 0, "paragraph": 1, "end": 2}
    start = 0
    for end, kind in [*_cuts(text), (len(text), "end")]:
        piece = text[start:end]
        begin = start
        start = end + 1 if kind == "paragraph" else end  # the newline itself is dropped
        if piece.strip():
            out.append(Sentence(piece, begin, end, kind))
        elif out and rank[kind] > rank[out[-1].kind]:
            out[-1].kind = kind  # "a.\n" ends a paragraph, not just a sentence
    return out


def _hard_split(text: str, limit: int) -> list[str]:
    """Cut one over-long sentence into pieces of at most ``limit`` characters, preferring
    clause marks, then spaces."""
    pieces: list[str] = []
    while len(text) > limit:
        window = text[:limit]
        cut = max((i + 1 for i, c in enumerate(window) if c in _CLAUSE), default=0)
        if cut < limit // 2:
            cut = max(cut, window.rfind(" ") + 1)
        if cut < limit // 4:
            cut = limit
        pieces.append(text[:cut])
        text = text[cut:]
    if text.strip():
        pieces.append(text)
    return [p for p in pieces if p.strip()]


@dataclass
class Chunk:
    """Text sent in one request, with where it sits among the sentences."""

    text: str
    first_sentence: int
    """Index of its first utterance in the whole text (its seed is SEED + this)."""
    pause_after: float
    """Seconds of silence to put after its audio (0 after the last chunk)."""
    sentences: int = 1


def _mix_prefix(text: str, upto: int) -> str:
    """The language tag in force at ``upto`` in MIX markup ("" if none)."""
    tag = ""
    for m in _TAG_RE.finditer(text, 0, upto):
        tag = m.group(0)
    return tag


def plan_chunks(
    text: str,
    voice: VoiceInfo | None,
    per_sentence: bool = False,
    language: str = "",
) -> list[Chunk]:
    """Cut ``text`` into requests that fit the voice's ``limits``, at sentence ends.

    ``per_sentence`` gives one chunk per sentence (for pipelined streaming). Otherwise the
    whole text is one chunk when it fits; if not, sentences are packed greedily up to
    ``max_text_chars`` and ``max_sentences``, and a sentence longer than ``max_text_chars``
    on its own is cut at clauses/spaces with no pause between its pieces. With MIX markup,
    a chunk starts with the language tag in force where it starts.
    """
    limits = voice.limits if voice else {}
    max_chars = int(limits.get("max_text_chars", 0) or 0)
    max_sents = int(limits.get("max_sentences", 0) or 0)
    pause = {
        "sentence": voice.sentence_pause if voice else DEFAULT_SENTENCE_PAUSE,
        "paragraph": voice.paragraph_pause if voice else DEFAULT_PARAGRAPH_PAUSE,
        "end": 0.0,
    }
    sentences = split_sentences(text)
    fits = (not max_chars or len(text) <= max_chars) and (
        not max_sents or len(sentences) <= max_sents
    )
    if not sentences or (fits and not per_sentence):
        return [Chunk(text, 0, 0.0, max(1, len(sentences)))]
    mix = language.upper() == "MIX"
    chunks: list[Chunk] = []
    glue = False  # may the next piece join the last chunk?
    index = 0  # utterance number on the server: chunk seeds are SEED + this
    for k, s in enumerate(sentences):
        over = max_chars and len(s.text) > max_chars
        parts = _hard_split(s.text, max_chars - 4 if mix else max_chars) if over else [s.text]
        for p, part in enumerate(parts):
            last = chunks[-1] if chunks else None
            sep = "\n" if k and p == 0 and sentences[k - 1].kind == "paragraph" else ""
            if (
                glue
                and last is not None
                and p == 0
                and not per_sentence
                and (not max_chars or len(last.text) + len(sep) + len(part) <= max_chars)
                and (not max_sents or last.sentences < max_sents)
            ):
                last.text += sep + part
                last.sentences += 1
            else:
                if mix and not _TAG_RE.match(part.lstrip()):
                    part = _mix_prefix(text, s.start) + part
                chunks.append(Chunk(part, index, 0.0))
            index += 1
            is_last_part = p == len(parts) - 1
            chunks[-1].pause_after = pause[s.kind] if is_last_part else 0.0
            glue = is_last_part and not over
    chunks[-1].pause_after = 0.0
    return chunks


# -- request values ---------------------------------------------------------------------------
@dataclass
class SynthesisParams:
    """One request's knobs, as the user gave them; None means "the voice's default"."""

    speaker: str | int | None = None
    language: str | None = "ZH"
    sdp_ratio: float | None = None
    noise_scale: float | None = None
    noise_scale_w: float | None = None
    length_scale: float | None = None
    seed: int | None = None

    def validate(self) -> SynthesisParams:
        """Refuse what the wire format cannot say: NaN (the 'default' sentinel) given
        explicitly, non-numbers, seeds that are not integers. Ranges are the server's job."""
        for name in SCALES:
            value = getattr(self, name)
            if value is None:
                continue
            try:
                value = float(value)
            except (TypeError, ValueError):
                raise InvalidInputError(
                    f"{INPUT_NAMES[name]} must be a number or None (voice default), got {value!r}"
                ) from None
            if math.isnan(value):
                raise InvalidInputError(
                    f"{INPUT_NAMES[name]} must be a number, got nan; pass None for the speaker's "
                    "default"
                )
            setattr(self, name, value)
        if self.seed is not None:
            try:
                ok = not isinstance(self.seed, bool) and float(self.seed).is_integer()
                seed = int(self.seed) if ok else None
            except (TypeError, ValueError, OverflowError):
                seed = None
            if seed is None or not 0 <= seed <= MAX_SEED:
                raise InvalidInputError(
                    f"SEED must be an integer in [0, {MAX_SEED}] or None, got {self.seed!r}"
                )
            self.seed = seed
        return self

    def arrays(self, text: str, seed_offset: int = 0) -> dict[str, np.ndarray]:
        """Input name -> numpy array with the sentinels of docs/triton.md for None."""
        # sentence i of a request uses SEED + i, wrapping like the server does
        seed = -1 if self.seed is None else (self.seed + seed_offset) % (MAX_SEED + 1)
        out = {
            "TEXT": np.array([text.encode("utf-8")], dtype=np.object_),
            "SPEAKER": np.array(
                [b"" if self.speaker is None else str(self.speaker).encode("utf-8")],
                dtype=np.object_,
            ),
            "LANGUAGE": np.array([(self.language or "").encode("utf-8")], dtype=np.object_),
            "SEED": np.array([seed], dtype=np.int64),
        }
        for name in SCALES:
            value = getattr(self, name)
            out[INPUT_NAMES[name]] = np.array(
                [np.nan if value is None else value], dtype=np.float32
            )
        return out


# -- wire helpers ------------------------------------------------------------------------------
def normalize_url(url: str, protocol: str) -> tuple[str, str]:
    """``("host:port", protocol)``; a leading ``http://`` or ``grpc://`` is dropped."""
    if protocol not in ("grpc", "http"):
        raise ValueError(f"protocol must be 'grpc' or 'http', got {protocol!r}")
    for scheme in ("http://", "https://", "grpc://"):
        if url.startswith(scheme):
            url = url[len(scheme) :]
    return url.rstrip("/"), protocol


def audio_from_result(result: Any, sample_rate: int = 0, meta: dict | None = None) -> Audio:
    """Audio from an InferResult with AUDIO (+ SAMPLE_RATE when present)."""
    samples = result.as_numpy("AUDIO")
    rate = result.as_numpy("SAMPLE_RATE")
    if rate is not None and np.size(rate):
        sample_rate = int(np.asarray(rate).reshape(-1)[0])
    if samples is None:
        raise TTSError("the server's response has no AUDIO output")
    return Audio(np.asarray(samples, np.float32).reshape(-1), sample_rate, dict(meta or {}))


def with_pause(audio: Audio) -> Audio:
    """The chunk with its ``meta["pause_after"]`` seconds of silence appended."""
    gap = silence(float(audio.meta.get("pause_after", 0.0)), audio.sample_rate)
    if not len(gap):
        return audio
    return Audio(np.concatenate([audio.samples, gap]), audio.sample_rate, audio.meta)


def stream_pause(result: Any, default: float) -> float:
    """Seconds of silence at the end of a streamed sentence (``V_stream`` appends the pause to
    each chunk): PAUSE_AFTER when the model sends it, else the client's plan."""
    with contextlib.suppress(Exception):
        value = result.as_numpy("PAUSE_AFTER")
        if value is not None and np.size(value):
            return float(np.asarray(value).reshape(-1)[0])
    return default


def make_inputs(module: Any, arrays: Mapping[str, np.ndarray]) -> list[Any]:
    """``tritonclient.grpc`` / ``tritonclient.http`` InferInputs for ``arrays``."""
    inputs = []
    for name, arr in arrays.items():
        dtype = "BYTES" if arr.dtype == np.object_ else {
            np.dtype(np.float32): "FP32",
            np.dtype(np.int64): "INT64",
        }[arr.dtype]  # fmt: skip
        inp = module.InferInput(name, list(arr.shape), dtype)
        inp.set_data_from_numpy(arr)
        inputs.append(inp)
    return inputs
