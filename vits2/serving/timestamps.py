"""Timestamps from the durations the audio was made with, and given durations (DURATIONS).

A phone owns whole frames (`vits2.serving.alignment`: its ids' durations), and frame f of a
sentence is samples [f * hop, (f + 1) * hop) of that sentence's audio, so every time here is
exact to the frame by construction: no estimate, no forced alignment. Sentences sit in the
request's audio as the join step lays them out (`assemble.trim_and_join`): each after the one
before and its pause. The output is `tts_contract.request.TIMESTAMPS_KEYS`. Imports no torch.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

import numpy as np

from tts_contract.request import PREDICTED, TIMESTAMPS_KEYS, RequestError
from tts_contract.timestamps import shift

__all__ = [
    "request_timestamps",
    "sentence_offsets",
    "sentence_timestamps",
    "spread_durations",
    "window_timestamps",
]


def sentence_offsets(audio_lengths: Sequence[int], pause_after: Sequence[float], rate: int
                     ) -> list[int]:  # fmt: skip
    """Where each sentence starts in the joined audio (the join's pauses between them)."""
    out, at = [], 0
    for i, n in enumerate(audio_lengths):
        out.append(at)
        at += int(n)
        if i < len(audio_lengths) - 1 and pause_after[i] > 0:
            at += int(round(float(pause_after[i]) * rate))
    return out


def _decimal(seconds: float) -> float:
    """A pause as the decimal it was given (it travels as FP32: 0.2 is 0.2000000029...)."""
    return float(str(np.float32(seconds)))


def sentence_timestamps(
    alignment: dict, durations: np.ndarray, offset: int, hop: int, index: int,
    pause_after: float, audio_length: int, base: dict[str, int] | None = None,
) -> dict[str, list[dict]]:  # fmt: skip
    """One sentence's lists: its alignment (`sentence_alignment`) with times from its ids'
    ``durations`` (frames), starting at sample ``offset``; ``index`` is its number in the
    request and ``base`` how many items each list already has (for the indices)."""
    base = base or dict.fromkeys(TIMESTAMPS_KEYS, 0)
    ends = np.concatenate([[0], np.cumsum(np.asarray(durations, np.int64))])
    phones = []
    for p in alignment["phones"]:
        a, b = p["ids"]
        if b > len(ends) - 1:
            raise RequestError(f"the alignment has {b} ids, the durations {len(ends) - 1}")
        frames = int(ends[b] - ends[a])
        phones.append({"phone": p["phone"], "tone": p["tone"], "language": p["language"],
                       "sentence": 0, "frames": frames, "start": offset + int(ends[a]) * hop,
                       "end": offset + int(ends[b]) * hop})  # fmt: skip

    def spanned(items: list[dict]) -> list[dict]:
        out = []
        for item in items:
            first, stop = item["phones"]
            start = phones[first]["start"] if first < len(phones) else offset + audio_length
            end = phones[stop - 1]["end"] if stop > first else start
            out.append({**item, "start": start, "end": end})
        return out

    moras = spanned(alignment["moras"])
    phrases = []
    for ph in alignment["phrases"]:
        first, stop = ph["moras"]
        phrases.append({**ph, "start": moras[first]["start"], "end": moras[stop - 1]["end"]})
    lists = {
        "sentences": [
            {
                "text": alignment["text"],
                "pause_after": _decimal(pause_after),
                "start": offset,
                "end": offset + int(audio_length),
            }
        ],  # fmt: skip
        "phones": phones,
        "words": [{**w, "sentence": 0} for w in spanned(alignment["words"])],
        "moras": moras,
        "phrases": phrases,
    }
    counts = {**base, "sentences": index}
    return {k: v for k, v in shift({"sample_rate": 0, **lists}, 0, counts).items() if k in lists}


def request_timestamps(
    alignments: Sequence[dict], durations: np.ndarray, audio_lengths: Sequence[int],
    pause_after: Sequence[float], hop: int, rate: int,
) -> dict:  # fmt: skip
    """The TIMESTAMPS object of a request whose sentences (each with its alignment and its
    row of ``durations`` [S, P]) are joined as the join step joins them."""
    offsets = sentence_offsets(audio_lengths, pause_after, rate)
    out: dict = {"sample_rate": int(rate), "hop_length": int(hop),
                 **{k: [] for k in TIMESTAMPS_KEYS}}  # fmt: skip
    for i, alignment in enumerate(alignments):
        pause = float(pause_after[i]) if i < len(alignments) - 1 else 0.0
        base = {k: len(out[k]) for k in TIMESTAMPS_KEYS}
        lists = sentence_timestamps(alignment, durations[i], offsets[i], hop, i, pause,
                                    int(audio_lengths[i]), base)  # fmt: skip
        for k in TIMESTAMPS_KEYS:
            out[k] += lists[k]
    return out


def window_timestamps(lists: dict[str, list[dict]], start: int, stop: int, last: bool) -> dict:
    """The items of one sentence's lists (`sentence_timestamps`, request indices) that start in
    [start, stop) (the sentence's last window: also those at or past ``stop``), for a stream
    chunk whose span is [start, stop)."""
    return {k: [it for it in v if start <= it["start"] and (last or it["start"] < stop)]
            for k, v in lists.items()}  # fmt: skip


def encode(timestamps: dict | None) -> bytes:
    """The TIMESTAMPS output's bytes ("" for none)."""
    if timestamps is None:
        return b""
    return json.dumps(timestamps, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def spread_durations(predicted: np.ndarray, spans: Sequence[tuple[int, int]],
                     given: Sequence[int]) -> np.ndarray:  # fmt: skip
    """A sentence's ids' durations with each phone given its frames: ``spans`` are the phones'
    ids [start, stop) (`alignment.phone_spans`), ``given`` one frame count per phone. A phone
    keeps its ids' predicted split (largest remainders), so a phone given what was predicted
    keeps its ids' durations exactly; a phone predicted 0 frames puts them on its own id; one
    given `PREDICTED` (-1) keeps the prediction."""
    if len(given) != len(spans):
        raise RequestError(
            f"DURATIONS has {len(given)} values; the sentence has {len(spans)} phones (padding "
            "included, as the frontend or GIVEN_PHONES gives them): one per phone"
        )
    out = np.zeros(len(predicted), np.int64)
    for (a, b), frames in zip(spans, given, strict=True):
        if frames == PREDICTED:
            out[a:b] = predicted[a:b]
            continue
        pred = np.asarray(predicted[a:b], np.float64)
        total = pred.sum()
        if total <= 0:
            own = a + 1 if a == 0 and b - a == 3 else a  # phone 0 owns ids blank, phone, blank
            out[own] = frames
            continue
        share = pred * frames / total
        base = np.floor(share).astype(np.int64)
        rest = int(frames - base.sum())
        order = np.argsort(-(share - base), kind="stable")[:rest]
        base[order] += 1
        out[a:b] = base
    return out
