"""Request handling shared by the Triton frontend and the PyTorch reference (no Triton, no torch).

`parse_request` validates one request's fields against the voice and fills per-speaker
defaults; `FrontendPipeline` turns it into the encoder's padded inputs. Every bad input raises
`RequestError` with a message naming the field and what is allowed; model.py files turn that
into a per-request INVALID_ARG error.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, fields
from pathlib import Path

import numpy as np

from vits2 import noise
from vits2.assemble import Batch, assemble
from vits2.text.frontend import FRONTEND_LANGUAGES, Frontend, Segment, Sentence


class RequestError(ValueError):
    """Bad input in one request: the message names the field and what is allowed."""


@dataclass
class Limits:
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
    sentence_pause: float = 0.2
    paragraph_pause: float = 1.0

    @classmethod
    def from_dict(cls, d: dict | None) -> Limits:
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(d or {}) - known)
        if unknown:
            raise ValueError(f"unknown limits {unknown}; known: {', '.join(sorted(known))}")
        return cls(**(d or {}))


SCALE_RANGES = {
    "sdp_ratio": (0.0, 1.0),
    "noise_scale": (0.0, 2.0),
    "noise_scale_w": (0.0, 2.0),
    "length_scale": (0.1, 5.0),
}
FIELD_NAMES = {
    "sdp_ratio": "SDP_RATIO",
    "noise_scale": "NOISE_SCALE",
    "noise_scale_w": "NOISE_SCALE_W",
    "length_scale": "LENGTH_SCALE",
}


@dataclass
class SynthesisRequest:
    text: str
    speaker: str
    sid: int
    language: str
    sdp_ratio: float
    noise_scale: float
    noise_scale_w: float
    length_scale: float
    seed: int


@dataclass
class VoiceInfo:
    """The parts of voice.json the frontend needs."""

    name: str
    sample_rate: int
    speakers: dict[str, int]
    languages: list[str]
    speaker_defaults: dict[str, dict[str, float]]
    limits: Limits

    @classmethod
    def load(cls, voice_json: Path) -> VoiceInfo:
        d = json.loads(Path(voice_json).read_text(encoding="utf-8"))
        return cls(
            d["name"],
            int(d["sample_rate"]),
            dict(d["speakers"]),
            list(d["languages"]),
            dict(d.get("speaker_defaults", {})),
            Limits.from_dict(d.get("limits")),
        )


def _text(value, name: str) -> str:
    if isinstance(value, bytes):
        try:
            return value.decode("utf-8")
        except UnicodeDecodeError as e:
            raise RequestError(
                f"{name} is not valid UTF-8 ({e.reason} at byte {e.start})"
            ) from None
    return "" if value is None else str(value)


def parse_request(
    voice: VoiceInfo,
    text,
    speaker=None,
    language=None,
    scales=None,
    seed=None,
    max_text_chars: int | None = None,
) -> SynthesisRequest:
    """Raw values (bytes/str, floats with NaN = default, seed -1 = random) -> request."""
    text = _text(text, "TEXT")
    if "\x00" in text:
        raise RequestError("TEXT contains NUL characters")
    if not text.strip():
        raise RequestError("TEXT is empty; give some text to speak")
    limit = max_text_chars or voice.limits.max_text_chars
    if len(text) > limit:
        raise RequestError(
            f"TEXT has {len(text)} characters; at most {limit} per request "
            "(split it, or use the streaming model / client)"
        )
    speaker_name = _text(speaker, "SPEAKER").strip()
    if not speaker_name:
        speaker_name = min(voice.speakers, key=voice.speakers.get)
    if speaker_name in voice.speakers:
        sid = voice.speakers[speaker_name]
    elif speaker_name.isdigit() and int(speaker_name) in voice.speakers.values():
        sid = int(speaker_name)
        speaker_name = next(k for k, v in voice.speakers.items() if v == sid)
    else:
        raise RequestError(
            f"unknown SPEAKER {speaker_name!r}; this voice has: "
            f"{', '.join(voice.speakers)} (names or ids)"
        )
    lang = _text(language, "LANGUAGE").strip().upper() or (
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
    defaults = {
        **{"sdp_ratio": 0.2, "noise_scale": 0.6, "noise_scale_w": 0.8, "length_scale": 1.0},
        **voice.speaker_defaults.get(speaker_name, {}),
    }
    values = {}
    for key, (lo, hi) in SCALE_RANGES.items():
        raw = (scales or {}).get(key)
        value = (
            defaults[key] if raw is None or (isinstance(raw, float) and math.isnan(raw)) else raw
        )
        try:
            value = float(value)
        except (TypeError, ValueError):
            raise RequestError(f"{FIELD_NAMES[key]} must be a number, got {raw!r}") from None
        if not math.isfinite(value) or not lo <= value <= hi:
            raise RequestError(f"{FIELD_NAMES[key]} must be in [{lo}, {hi}], got {value}")
        values[key] = value
    if seed is None or int(seed) == -1:
        seed = noise.random_seed()
    seed = int(seed)
    if not 0 <= seed <= noise.MAX_SEED:
        raise RequestError(f"SEED must be in [0, {noise.MAX_SEED}] or -1 for random, got {seed}")
    return SynthesisRequest(text, speaker_name, sid, lang, seed=seed, **values)


BertFn = Callable[[str, dict[str, np.ndarray]], np.ndarray]
"""(language, {input_ids, attention_mask, [token_type_ids], phone_to_token} padded [N, ...])
-> bert_features [N, 1024, P]."""


WARM_UP_TEXT = {"ZH": "你好，世界。", "JP": "こんにちは、世界。", "EN": "Hello, world."}


class FrontendPipeline:
    """Text of a request -> the encoder's padded inputs, given the voice and its tokenizers."""

    def __init__(
        self,
        voice: VoiceInfo,
        tokenizers: dict,
        has_token_types: dict | None = None,
        bert_batch: int = 16,
    ):
        self.voice = voice
        self.has_token_types = dict(has_token_types or {})
        lim = voice.limits
        self.frontend = Frontend(
            tokenizers,
            sentence_pause=lim.sentence_pause,
            paragraph_pause=lim.paragraph_pause,
            max_tokens=lim.max_tokens,
            max_phones=lim.max_phones,
        )
        self.bert_batch = bert_batch

    @classmethod
    def from_voice_dir(cls, voice_dir: str | Path, bert_batch: int = 16) -> FrontendPipeline:
        """A folder written by `tts-export onnx` (voice.json + tokenizers/)."""
        voice_dir = Path(voice_dir)
        data = json.loads((voice_dir / "voice.json").read_text(encoding="utf-8"))
        bert = data.get("bert", {})
        return cls(
            VoiceInfo.load(voice_dir / "voice.json"),
            {lang: inside_folder(voice_dir, info["tokenizer"]) for lang, info in bert.items()},
            {lang: bool(info.get("has_token_type_ids")) for lang, info in bert.items()},
            bert_batch,
        )

    def warm_up(self) -> float:
        """Run each of the voice's languages through the text frontend once; returns seconds.

        jieba's dictionary, pypinyin, the English g2p and OpenJTalk load on first use: without
        this the first request pays for them (3.6 s for Chinese, 0.8 s for English here).
        """
        t0 = time.perf_counter()
        for lang in self.voice.languages:
            if lang in WARM_UP_TEXT:
                self.frontend(WARM_UP_TEXT[lang], lang)
        return time.perf_counter() - t0

    def sentences(self, req: SynthesisRequest) -> list[Sentence]:
        try:
            sentences = self.frontend(req.text, req.language)
        except ValueError as e:
            raise RequestError(f"TEXT: {e}") from None
        if not sentences:
            raise RequestError(
                "TEXT has nothing to speak after cleaning (only punctuation or "
                "unsupported characters?)"
            )
        return sentences

    def prepare(self, req: SynthesisRequest, bert: BertFn) -> Batch:
        """All sentences of a request as one padded batch (sentence i uses seed + i)."""
        sentences = self.sentences(req)
        if len(sentences) > self.voice.limits.max_sentences:
            raise RequestError(
                f"TEXT has {len(sentences)} sentences; at most {self.voice.limits.max_sentences} "
                "per request (split it, or use the streaming model / client)"
            )
        return self.assemble(sentences, bert, req.seed)

    def assemble(self, sentences: Sequence[Sentence], bert: BertFn, seed: int) -> Batch:
        return assemble(sentences, lambda segs: self.segment_features(segs, bert), seed)

    def segment_features(self, segments: Sequence[Segment], bert: BertFn) -> list[np.ndarray]:
        out: list[np.ndarray | None] = [None] * len(segments)
        by_lang: dict[str, list[int]] = {}
        for i, seg in enumerate(segments):
            by_lang.setdefault(seg.language, []).append(i)
        for lang, idx in by_lang.items():
            for start in range(0, len(idx), self.bert_batch):
                chunk = idx[start : start + self.bert_batch]
                feeds = bert_inputs([segments[i] for i in chunk], self.has_token_types.get(lang))
                feats = bert(lang, feeds)
                for row, i in enumerate(chunk):
                    out[i] = feats[row, :, : len(segments[i].phone_ids)]
        return out  # type: ignore[return-value]


def encoder_inputs(batch: Batch, req: SynthesisRequest) -> dict[str, np.ndarray]:
    """The encoder graph's inputs for a prepared batch; the request's scales repeat per
    sentence ([S]). Triton models send per-sentence scalars as [S, 1]: see `item_columns`."""
    s = len(batch)
    return {
        "phones": batch.phones,
        "tones": batch.tones,
        "languages": batch.languages,
        "phone_lengths": batch.phone_lengths,
        "bert_zh": batch.bert_zh,
        "bert_ja": batch.bert_ja,
        "bert_en": batch.bert_en,
        "sid": np.full((s,), req.sid, np.int64),
        "sdp_ratio": np.full((s,), req.sdp_ratio, np.float32),
        "noise_scale_w": np.full((s,), req.noise_scale_w, np.float32),
        "length_scale": np.full((s,), req.length_scale, np.float32),
        "noise_sdp": batch.noise_sdp,
    }


def item_columns(tensors: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """[S] arrays -> [S, 1] (Triton's dims [1] per batch item); others unchanged."""
    return {k: v[:, None] if v.ndim == 1 else v for k, v in tensors.items()}


def bert_inputs(segments: Sequence[Segment], token_types: bool | None) -> dict[str, np.ndarray]:
    n = len(segments)
    t = max(len(s.input_ids) for s in segments)
    p = max(len(s.phone_to_token) for s in segments)
    feeds = {
        "input_ids": np.zeros((n, t), np.int64),
        "attention_mask": np.zeros((n, t), np.int64),
        "phone_to_token": np.zeros((n, p), np.int64),
    }
    if token_types:
        feeds["token_type_ids"] = np.zeros((n, t), np.int64)
    for i, s in enumerate(segments):
        feeds["input_ids"][i, : len(s.input_ids)] = s.input_ids
        feeds["attention_mask"][i, : len(s.attention_mask)] = s.attention_mask
        feeds["phone_to_token"][i, : len(s.phone_to_token)] = s.phone_to_token
        if token_types and s.token_type_ids is not None:
            feeds["token_type_ids"][i, : len(s.token_type_ids)] = s.token_type_ids
    return feeds


def inside_folder(root: Path, relative: str) -> Path:
    """`relative` resolved under `root`; refuses paths that escape it."""
    root = root.resolve()
    path = (root / relative).resolve()
    if path != root and root not in path.parents:
        raise ValueError(f"path {relative!r} escapes the voice folder {root}")
    return path
