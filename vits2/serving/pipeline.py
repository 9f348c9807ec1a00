"""The frontend step of the request path (no Triton, no torch).

`parse_request` validates one request's fields against the contract (`tts_client.contract`)
and the voice manifest, and fills per-speaker defaults; `FrontendPipeline` turns it into the
frontend step's outputs (`vits2.serving.path.FRONTEND_OUTPUTS`). Every bad input raises
`RequestError` with a message naming the field and what is allowed; the Triton models turn that
into a per-request INVALID_ARG error.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from tts_client.contract import SCALES, RequestError, check_seed
from tts_client.manifest import VoiceManifest
from vits2.serving import noise
from vits2.serving.assemble import Batch, assemble
from vits2.text.frontend import FRONTEND_LANGUAGES, Frontend, Segment, Sentence


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
    voice: VoiceManifest,
    text,
    speaker=None,
    language=None,
    scales=None,
    seed=None,
    max_text_chars: int | None = None,
) -> SynthesisRequest:
    """Raw values (bytes/str; a scale left out (None) takes the speaker's default; seed None or
    -1 is random) -> request. NaN, infinity and out-of-range values are refused."""
    text = _text(text, "TEXT")
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
    defaults = voice.defaults_for(speaker_name)
    given = scales or {}
    values = {
        s.name: defaults[s.name] if given.get(s.name) is None else s.check(given[s.name])
        for s in SCALES
    }
    seed = check_seed(seed)
    if seed is None:
        seed = noise.random_seed()
    return SynthesisRequest(text, speaker_name, sid, lang, seed=seed, **values)


BertFn = Callable[[str, dict[str, np.ndarray]], np.ndarray]
"""(language, {input_ids, attention_mask, [token_type_ids], phone_to_token} padded [N, ...])
-> bert_features [N, 1024, P]."""


WARM_UP_TEXT = {"ZH": "你好，世界。", "JP": "こんにちは、世界。", "EN": "Hello, world."}


class FrontendPipeline:
    """Text of a request -> the encoder's padded inputs, given the voice and its tokenizers."""

    def __init__(
        self,
        voice: VoiceManifest,
        tokenizers: dict,
        has_token_types: dict | None = None,
        bert_batch: int = 16,
    ):
        self.voice = voice
        self.limits = lim = voice.request_limits
        self.has_token_types = dict(has_token_types or {})
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
        manifest = VoiceManifest.load(voice_dir)
        bert = manifest.bert
        return cls(
            manifest,
            {lang: inside_folder(voice_dir, info.tokenizer) for lang, info in bert.items()},
            {lang: info.has_token_type_ids for lang, info in bert.items()},
            bert_batch,
        )

    def warmup(self) -> float:
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
        if len(sentences) > self.limits.max_sentences:
            raise RequestError(
                f"TEXT has {len(sentences)} sentences; at most {self.limits.max_sentences} "
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


def frontend_outputs(batch: Batch, req: SynthesisRequest) -> dict[str, np.ndarray]:
    """The frontend step's outputs (`vits2.serving.path.FRONTEND_OUTPUTS`) for a prepared
    batch: the encoder's inputs, the request's scales repeated per sentence ([S]), each
    sentence's seed and the pause after it. Triton carries [S] values as [S, 1]
    (`item_columns`)."""
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
        "noise_scale": np.full((s,), req.noise_scale, np.float32),
        "seeds": batch.seeds,
        "pause_after": batch.pause_after,
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
