"""Sentences -> padded model inputs (numpy only): shared by the PyTorch reference and Triton.

Both sides call `assemble` with their own way of computing BERT features (PyTorch, or BERT
models behind Triton), so phones, slot filling, noise and padding are identical by
construction. Each phone's own-language slot holds BERT features; the other two slots are
filled as the voice's release did (`vits2.config.ModelParts.other_bert_fill`): N(0, 1) noise
(2.3), uniform [0, 1) noise (2.2), both drawn from the sentence's seed (`vits2.serving.noise`),
or zeros (2.0, 2.1, Style-Bert-VITS2).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from tts_contract.request import sentence_seed
from vits2.serving import noise
from vits2.text.frontend import Segment, Sentence
from vits2.text.symbols import LANGUAGES

BERT_DIM = 1024

SegmentFeatures = Callable[[Sequence[Segment]], list[np.ndarray]]
"""Segments -> their own-language features, each [1024, len(segment.phone_ids)] float32."""


@dataclass
class Batch:
    """S sentences padded to P phones; arrays as the encoder graph takes them."""

    phones: np.ndarray  # [S, P] int64
    tones: np.ndarray  # [S, P] int64
    languages: np.ndarray  # [S, P] int64
    phone_lengths: np.ndarray  # [S] int64
    bert_zh: np.ndarray  # [S, 1024, P] float32
    bert_ja: np.ndarray
    bert_en: np.ndarray
    noise_sdp: np.ndarray  # [S, 2, P] float32
    seeds: np.ndarray  # [S] int64: sentence i uses seed + i
    pause_after: np.ndarray  # [S] float32 seconds
    sentences: list[Sentence] | None = None
    """The sentences it holds (what the TIMESTAMPS' alignment reads)."""

    def __len__(self) -> int:
        return len(self.phone_lengths)


BERT_FILLS = ("normal", "uniform", "zeros")
"""How the BERT slots of the languages a phone is not in are filled (`ModelParts.other_bert_fill`)."""


def other_slots(fill: str, seed: int, phones: int) -> np.ndarray | None:
    """[3, 1024, P] filler of the three BERT slots for one sentence, or None for zeros."""
    if fill == "normal":
        return noise.bert_noise(seed, len(LANGUAGES), BERT_DIM, phones)
    if fill == "uniform":
        return noise.bert_uniform(seed, len(LANGUAGES), BERT_DIM, phones)
    if fill == "zeros":
        return None
    raise ValueError(f"unknown BERT slot fill {fill!r}; known: {', '.join(BERT_FILLS)}")


def assemble(
    sentences: Sequence[Sentence], features: SegmentFeatures, seed: int, fill: str = "normal"
) -> Batch:
    """Sentences -> one padded batch; ``fill`` is how the voice's release filled the other
    languages' BERT slots (`BERT_FILLS`)."""
    if not sentences:
        raise ValueError("no sentences to synthesize")
    s = len(sentences)
    p = max(len(sent.phone_ids) for sent in sentences)
    out = Batch(
        phones=np.zeros((s, p), np.int64),
        tones=np.zeros((s, p), np.int64),
        languages=np.zeros((s, p), np.int64),
        phone_lengths=np.array([len(x.phone_ids) for x in sentences], np.int64),
        bert_zh=np.zeros((s, BERT_DIM, p), np.float32),
        bert_ja=np.zeros((s, BERT_DIM, p), np.float32),
        bert_en=np.zeros((s, BERT_DIM, p), np.float32),
        noise_sdp=np.zeros((s, 2, p), np.float32),
        seeds=np.array([sentence_seed(seed, i) for i in range(s)], np.int64),
        pause_after=np.array([x.pause_after for x in sentences], np.float32),
        sentences=list(sentences),
    )
    segments = [seg for sent in sentences for seg in sent.segments]
    feats = iter(features(segments))
    slots = (out.bert_zh, out.bert_ja, out.bert_en)
    for i, sent in enumerate(sentences):
        n = len(sent.phone_ids)
        out.phones[i, :n] = sent.phone_ids
        out.tones[i, :n] = sent.tone_ids
        out.languages[i, :n] = sent.language_ids
        out.noise_sdp[i, :, :n] = noise.sdp_noise(int(out.seeds[i]), n)
        filler = other_slots(fill, int(out.seeds[i]), n)
        for k, slot in enumerate(slots if filler is not None else ()):
            slot[i, :, :n] = filler[k]
        start = 0
        for seg in sent.segments:
            own = next(feats)
            expected = (BERT_DIM, len(seg.phone_ids))
            if own.shape != expected:
                raise ValueError(
                    f"BERT features for a {seg.language} segment are {own.shape}, "
                    f"expected {expected}"
                )
            kept = own[:, seg.kept]
            slots[LANGUAGES.index(seg.language)][i, :, start : start + kept.shape[1]] = kept
            start += kept.shape[1]
        if start != n:
            raise ValueError(f"segments cover {start} phones but the sentence has {n}")
    return out


def trim_and_join(
    audio: np.ndarray, audio_lengths: np.ndarray, pause_after: np.ndarray, sample_rate: int
) -> np.ndarray:
    """[S, N] padded audio -> one waveform with each sentence's pause after it (the last too,
    except when it is the final sentence: trailing silence is dropped)."""
    pieces = []
    for i in range(len(audio_lengths)):
        pieces.append(audio[i, : int(audio_lengths[i])])
        if i < len(audio_lengths) - 1 and pause_after[i] > 0:
            pieces.append(np.zeros(int(round(float(pause_after[i]) * sample_rate)), np.float32))
    return np.concatenate(pieces).astype(np.float32, copy=False)
