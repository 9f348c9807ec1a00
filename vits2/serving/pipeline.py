"""The frontend step of the request path (no Triton, no torch).

`parse_request` (`vits2.serving.request`) validates one request's fields against the contract
and the voice manifest, and fills the defaults; `FrontendPipeline` turns it into the
frontend step's outputs for the voice's path (`vits2.serving.path.steps_for`): the encoder's
inputs, its release's conditioning included (style_vec, emo, emo_id). Every bad input raises
`RequestError` with a message naming the field and what is allowed; the Triton models turn that
into a per-request INVALID_ARG error.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from tts_contract.manifest import VoiceManifest
from tts_contract.request import RequestError
from vits2.config import ModelParts, model_parts
from vits2.serving.alignment import alignments
from vits2.serving.assemble import Batch, assemble
from vits2.serving.path import steps_for
from vits2.serving.request import Conditioning, StyleText, SynthesisRequest
from vits2.styles import load_style_vectors, style_vector
from vits2.text.frontend import Frontend, Segment, Sentence
from vits2.text.profiles import profile_for_release

BertFn = Callable[[str, dict[str, np.ndarray]], np.ndarray]
"""(language, {input_ids, attention_mask, [token_type_ids], phone_to_token} padded [N, ...])
-> bert_features [N, 1024, P]."""
EmotionFn = Callable[[str, dict[str, np.ndarray]], np.ndarray]
"""(kind: "clap_text", "clap_audio" or "wav2vec2", the feeds of that emotion graph
(`vits2.serving.emotion.EmotionFeeds`)) -> embedding [1, dim]."""


WARM_UP_TEXT = {"ZH": "你好，世界。", "JP": "こんにちは、世界。", "EN": "Hello, world."}


class FrontendPipeline:
    """Text of a request -> the encoder's padded inputs, given the voice and its tokenizers."""

    def __init__(
        self,
        voice: VoiceManifest,
        tokenizers: dict,
        has_token_types: dict | None = None,
        bert_batch: int = 16,
        style_vectors: np.ndarray | None = None,
        voice_dir: Path | None = None,
    ):
        self.voice = voice
        self.parts = voice_parts(voice)
        self.path = steps_for(voice)
        self.voice_dir = voice_dir
        """The folder the emotion graphs' processors are read from (EmotionFeeds)."""
        if self.parts.style and style_vectors is None:
            raise ValueError(
                f"voice {voice.name} ({voice.release}) has styles but no style vectors; "
                "re-export it with `tts-export onnx` (which copies style_vectors.npy)"
            )
        self.style_vectors = style_vectors
        self._emotion_feeds = None
        self.limits = lim = voice.request_limits
        self.has_token_types = dict(has_token_types or {})
        self.frontend = Frontend(
            tokenizers,
            sentence_pause=lim.sentence_pause,
            paragraph_pause=lim.paragraph_pause,
            max_tokens=lim.max_tokens,
            max_phones=lim.max_phones,
            profile=voice.frontend_profile or profile_for_release(voice.release),
            user_dict=_user_dict(voice, voice_dir),
        )
        self.bert_batch = bert_batch

    @classmethod
    def from_voice_dir(cls, voice_dir: str | Path, bert_batch: int = 16) -> FrontendPipeline:
        """A folder written by `tts-export onnx` (voice.json + tokenizers/)."""
        voice_dir = Path(voice_dir)
        manifest = VoiceManifest.load(voice_dir)
        bert = manifest.bert
        vectors = manifest.graphs.get("style_vectors")
        return cls(
            manifest,
            {lang: inside_folder(voice_dir, info.tokenizer) for lang, info in bert.items()},
            {lang: info.has_token_type_ids for lang, info in bert.items()},
            bert_batch,
            load_style_vectors(inside_folder(voice_dir, vectors)) if vectors else None,
            voice_dir,
        )

    def warmup(self) -> float:
        """Run each of the voice's languages through the text frontend once; returns seconds.

        jieba's dictionary, pypinyin, the English g2p and OpenJTalk load on first use: without
        this the first request pays for them (3.6 s for Chinese, 0.8 s for English here).
        A voice that takes reference clips also compiles their resampler (numba, ~4 s).
        """
        t0 = time.perf_counter()
        for lang in self.voice.languages:
            if lang in WARM_UP_TEXT:
                self.frontend(WARM_UP_TEXT[lang], lang)
        if {"wav2vec2", "clap_audio"} & set(self.voice.emotion_models):
            from vits2.serving.emotion import warmup_resampler

            warmup_resampler()
        return time.perf_counter() - t0

    def sentences(self, req: SynthesisRequest) -> list[Sentence]:
        try:
            sentences = self.frontend(
                req.text, req.language, profile=req.profile, clause_chars=req.clause_chars
            )
        except ValueError as e:
            raise RequestError(f"TEXT: {e}") from None
        if not sentences:
            raise RequestError(
                "TEXT has nothing to speak after cleaning (only punctuation or "
                "unsupported characters?)"
            )
        if req.given_phones is not None or req.given_tones is not None:
            sentences = [self._given(sentences, req)]
        if req.durations is not None and len(sentences) != 1:
            raise RequestError(
                f"DURATIONS sets one sentence's lengths; TEXT is {len(sentences)} sentences: "
                "send one sentence per request"
            )
        return sentences

    def _given(self, sentences: list[Sentence], req: SynthesisRequest) -> Sentence:
        """The request's one Japanese sentence with GIVEN_PHONES / GIVEN_TONES in place of its
        frontend's (Style-Bert-VITS2's clean_text_with_given_phone_tone)."""
        if len(sentences) != 1 or len(sentences[0].segments) != 1:
            raise RequestError(
                f"GIVEN_PHONES / GIVEN_TONES set one sentence's reading; TEXT is "
                f"{len(sentences)} sentences: send one sentence per request"
            )
        (segment,) = sentences[0].segments
        try:
            segment = self.frontend.with_given(
                segment,
                None if req.given_phones is None else list(req.given_phones),
                None if req.given_tones is None else list(req.given_tones),
                req.profile,
            )
        except ValueError as e:
            raise RequestError(str(e)) from None
        return Sentence.join([segment], sentences[0].pause_after)

    def prepare(self, req: SynthesisRequest, bert: BertFn) -> Batch:
        """All sentences of a request as one padded batch (sentence i uses seed + i), for a
        path whose encoder step predicts the durations (the ensemble, the in-process runner):
        DURATIONS is refused here, naming the stream model, which takes it."""
        if req.durations is not None:
            raise RequestError(
                "DURATIONS: this path's encoder step predicts the durations (the ensemble, the "
                "in-process runner); send DURATIONS to the voice's stream model V_stream "
                "(TTSClient.synthesize(..., durations=...) does)"
            )
        sentences = self.sentences(req)
        if len(sentences) > self.limits.max_sentences:
            raise RequestError(
                f"TEXT has {len(sentences)} sentences; at most {self.limits.max_sentences} "
                "per request (split it, or use the streaming model / client)"
            )
        return self.assemble(sentences, bert, req.seed, req.style)

    def assemble(
        self,
        sentences: Sequence[Sentence],
        bert: BertFn,
        seed: int,
        style: StyleText | None = None,
    ) -> Batch:
        """Sentences -> one padded batch; with `style`, its mean BERT feature is mixed into
        every segment's features (`mix_style`)."""
        features = lambda segs: self.segment_features(segs, bert, style)  # noqa: E731
        return assemble(sentences, features, seed, self.parts.other_bert_fill)

    def outputs(
        self, batch: Batch, req: SynthesisRequest, emotion: EmotionFn | None = None
    ) -> dict[str, np.ndarray]:
        """The frontend step's outputs for this voice's path: the encoder's inputs (its BERT
        slots only, its release's conditioning per sentence) and what later steps need."""
        every = frontend_outputs(batch, req)
        every.update(self.conditioning(req, len(batch), emotion))
        every["alignment"] = alignments(self.frontend, self.voice.hop_length, batch, req)
        return {name: every[name] for name in self.path[0].outputs}

    def conditioning(
        self, req: SynthesisRequest, sentences: int, emotion: EmotionFn | None = None
    ) -> dict[str, np.ndarray]:
        """The release's conditioning inputs for ``sentences`` rows (the same for every
        sentence of a request): style_vec [S, 256], emo [S, dim], emo_id [S]."""
        c, parts, out = req.conditioning, self.parts, {}
        if parts.style:
            vec = style_vector(self.style_vectors, c.style_id, c.style_weight)
            out["style_vec"] = np.repeat(vec[None], sentences, axis=0)
        if parts.emo_dim:
            emb = self.emotion_embedding(c, emotion)
            row = np.zeros(parts.emo_dim, np.float32) if emb is None else emb
            out["emo"] = np.repeat(row[None], sentences, axis=0)
        if parts.emotion == "2.1":  # -1: the clip's embedding decides (model.encode)
            code = -1 if c.reference_audio is not None else (c.emotion_id or 0)
            out["emo_id"] = np.full((sentences,), code, np.int64)
        return out

    def emotion_embedding(self, c: Conditioning, emotion: EmotionFn | None) -> np.ndarray | None:
        """The embedding [dim] of REFERENCE_AUDIO (or else EMOTION), computed once per request
        through the voice's emotion graph; None when the request has neither."""
        if c.embedding is not None or (c.reference_audio is None and c.emotion is None):
            return c.embedding
        clip = c.reference_audio is not None
        kind = (
            ("wav2vec2" if self.parts.emotion == "2.1" else "clap_audio") if clip else "clap_text"
        )
        name = "REFERENCE_AUDIO" if clip else "EMOTION"
        if kind not in self.voice.emotion_models:
            flag = "--emotion-model DIR" if kind == "wav2vec2" else "--clap DIR"
            raise RequestError(
                f"{name} needs the voice's {kind} emotion graph, which it was exported without "
                f"(add it: `tts-export emotion VOICE_DIR {flag}`); leave {name} out"
            )
        if emotion is None or self.voice_dir is None:
            raise RuntimeError(f"{name}: this runner has no emotion graphs to run {kind}")
        feeds_maker = self.emotion_feeds()
        limit = self.limits.max_reference_seconds
        feeds = (
            feeds_maker.audio(kind, c.reference_audio, limit)
            if clip
            else feeds_maker.text(c.emotion)
        )
        emb = np.asarray(emotion(kind, feeds), np.float32).reshape(-1)
        if emb.shape != (self.parts.emo_dim,):
            raise RuntimeError(
                f"the {kind} graph gave {emb.shape}, expected [{self.parts.emo_dim}]"
            )
        c.embedding = emb
        return emb

    def emotion_feeds(self):
        """The voice's `vits2.serving.emotion.EmotionFeeds` (tokenizer / feature extractor),
        made on first use."""
        if self._emotion_feeds is None:
            from vits2.serving.emotion import EmotionFeeds

            self._emotion_feeds = EmotionFeeds(self.voice_dir, self.voice)
        return self._emotion_feeds

    def segment_features(
        self, segments: Sequence[Segment], bert: BertFn, style: StyleText | None = None
    ) -> list[np.ndarray]:
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
            if style is not None:
                mean = self.style_mean(style, lang, bert)
                for i in idx:
                    out[i] = mix_style(out[i], mean, style.weight)
        return out  # type: ignore[return-value]

    def style_mean(self, style: StyleText, language: str, bert: BertFn) -> np.ndarray:
        """The style text's mean BERT feature [1024] in `language` (over all its tokens,
        [CLS] and [SEP] included, as upstream), computed once per request and language."""
        if language not in style.means:
            text = style.text
            if language == "JP":  # upstream's Japanese BERT reads the katakana-joined text
                from vits2.text.japanese import text2sep_kata

                text = "".join(text2sep_kata(text, dictionary=self.frontend.ja_dictionary())[0])
            enc = self.frontend.tokenizer(language)(text)
            ids = list(enc["input_ids"])
            if len(ids) - 2 > self.limits.max_tokens:
                raise RequestError(
                    f"STYLE_TEXT has {len(ids) - 2} BERT tokens; at most {self.limits.max_tokens}"
                )
            types = enc.get("token_type_ids")
            tokens = TokenRow(
                ids, list(enc["attention_mask"]), None if types is None else list(types)
            )
            feeds = bert_inputs([tokens], self.has_token_types.get(language))
            style.means[language] = bert(language, feeds)[0, :, : len(ids)].mean(axis=1)
        return style.means[language]


@dataclass
class TokenRow:
    """BERT tokens of a text that is not spoken (the style text): one feature per token."""

    input_ids: list[int]
    attention_mask: list[int]
    token_type_ids: list[int] | None

    @property
    def phone_to_token(self) -> list[int]:
        return list(range(len(self.input_ids)))


def mix_style(features: np.ndarray, mean: np.ndarray, weight: float) -> np.ndarray:
    """Upstream v2.3's style-text mixing, per phone: feature * (1 - w) + style mean * w."""
    return features * (1 - weight) + mean[:, None] * weight


def voice_parts(voice: VoiceManifest) -> ModelParts:
    """The release's parts (`vits2.config.ModelParts`: BERT slots, their fill, conditioning)
    of the voice voice.json describes (its ``version`` and ``release``)."""
    parts = model_parts(voice.version, voice.release.startswith("sbv2"))
    if parts.release != voice.release:
        raise ValueError(
            f"voice.json says release {voice.release!r} but version {voice.version!r} loads as "
            f"{parts.release!r}; re-export the voice with `tts-export onnx`"
        )
    return parts


def frontend_outputs(batch: Batch, req: SynthesisRequest) -> dict[str, np.ndarray]:
    """The frontend step's outputs for a 2.3 voice (`vits2.serving.path.FRONTEND_OUTPUTS`;
    `FrontendPipeline.outputs` gives any voice's) for a prepared batch: the encoder's inputs,
    the request's scales repeated per sentence ([S]), each sentence's seed and the pause after
    it. Triton carries [S] values as [S, 1] (`item_columns`)."""
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
        "pitch_scale": np.full((s,), req.pitch_scale, np.float32),
        "intonation_scale": np.full((s,), req.intonation_scale, np.float32),
        "noise_scale": np.full((s,), req.noise_scale, np.float32),
        "seeds": batch.seeds,
        "pause_after": batch.pause_after,
    }


def item_columns(tensors: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """[S] arrays -> [S, 1] (Triton's dims [1] per batch item); others unchanged."""
    return {k: v[:, None] if v.ndim == 1 else v for k, v in tensors.items()}


def bert_inputs(
    segments: Sequence[Segment | TokenRow], token_types: bool | None
) -> dict[str, np.ndarray]:
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


def _user_dict(voice: VoiceManifest, voice_dir: Path | None) -> Path | None:
    """The voice's compiled OpenJTalk user dictionary (voice.json `user_dict`), or None."""
    if not voice.user_dict:
        return None
    if voice_dir is None:
        raise ValueError(
            f"voice {voice.name} has a user dictionary ({voice.user_dict}): give its folder "
            "(FrontendPipeline.from_voice_dir) so the frontend can read it"
        )
    path = inside_folder(voice_dir, voice.user_dict)
    if not path.is_file():
        raise FileNotFoundError(
            f"voice {voice.name}: its user dictionary {path} is missing; re-export the voice "
            "with `tts-export onnx --user-dict FILE`"
        )
    return path


def inside_folder(root: Path, relative: str) -> Path:
    """`relative` resolved under `root`; refuses paths that escape it."""
    root = root.resolve()
    path = (root / relative).resolve()
    if path != root and root not in path.parents:
        raise ValueError(f"path {relative!r} escapes the voice folder {root}")
    return path
