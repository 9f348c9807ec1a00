"""What each id of an utterance is: its phone, the BERT token (word or character) it belongs to,
and for Japanese its mora and OpenJTalk accent phrase. The timestamps (`vits2.serving.
timestamps`) turn this into times with the durations the encoder gave; given durations
(DURATIONS) are spread over the ids with the same phone spans.

Ids are the utterance's symbol ids after add_blank: phone k of a segment owns the id of the
phone and the blank after it (phone 0 also the leading blank), so every id belongs to exactly
one phone and a phone's time is the frames of its ids. Segments joined into one utterance
drop ids at their joins (`Segment.kept`); a phone whose ids were all dropped is left out.
Imports no torch.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from vits2.text.frontend import Segment, Sentence
from vits2.text.profiles import Profile

__all__ = ["PhoneSpan", "alignments", "phone_spans", "sentence_alignment"]

VOWELS = {"a", "i", "u", "e", "o"}
"""Japanese phones that end a mora after its consonant (SBV2 and Bert-VITS2 spell them lower)."""
SINGLE_MORAS = {"N", "q"}
"""Japanese phones that are a mora on their own (ん, っ); "n" is ん only before a non-vowel."""
_PADS = {"_", "SP", "UNK"}


@dataclass(frozen=True)
class PhoneSpan:
    """One phone of an utterance and the ids [start, stop) it owns."""

    phone: str
    tone: int
    language: str
    start: int
    stop: int
    segment: int
    index: int
    """The phone's index in its segment's ``phones`` (word2ph and given phones count these)."""


def _segment_spans(seg: Segment, number: int, offset: int) -> list[PhoneSpan]:
    kept = seg.kept
    out = []
    for k, (phone, tone) in enumerate(zip(seg.phones, seg.tones, strict=True)):
        lo = 0 if k == 0 else 2 * k + 1
        lo, hi = max(lo, kept.start), min(2 * k + 3, kept.stop)
        if hi > lo:
            out.append(
                PhoneSpan(phone, tone, seg.language, offset + lo - kept.start,
                          offset + hi - kept.start, number, k)
            )  # fmt: skip
    return out


def phone_spans(sentence: Sentence) -> list[PhoneSpan]:
    """Every phone of the utterance with its ids; the spans tile [0, len(phone_ids))."""
    out: list[PhoneSpan] = []
    offset = 0
    for number, seg in enumerate(sentence.segments):
        out += _segment_spans(seg, number, offset)
        offset += seg.kept.stop - seg.kept.start
    if offset != len(sentence.phone_ids) or (out and out[-1].stop != offset):
        raise ValueError(f"phone spans cover {offset} ids, the utterance has "
                         f"{len(sentence.phone_ids)}")  # fmt: skip
    return out


def _words(seg: Segment, spans: list[PhoneSpan], tokenizer) -> list[dict]:
    """The segment's BERT tokens as words: [CLS]/[SEP] left out; English pieces joined."""
    if tokenizer is None or len(seg.input_ids) != len(seg.word2ph):
        return []
    tokens = tokenizer.convert_ids_to_tokens(list(seg.input_ids))
    by_index = {s.index: i for i, s in enumerate(spans)}
    words: list[dict] = []
    first = 0
    for t, count in enumerate(seg.word2ph):
        idx = [by_index[k] for k in range(first, first + count) if k in by_index]
        first += count
        if t in (0, len(tokens) - 1) or not idx:
            continue
        piece = str(tokens[t])
        joins = piece.startswith("##") or (seg.language == "EN" and not piece.startswith("▁"))
        text = piece.removeprefix("##").removeprefix("▁")
        if joins and words and words[-1]["phones"][1] == idx[0]:
            words[-1]["text"] += text
            words[-1]["phones"][1] = idx[-1] + 1
        else:
            words.append({"text": text, "phones": [idx[0], idx[-1] + 1]})
    return words


# -- Japanese moras and accent phrases -------------------------------------------------------
def _kana_table() -> dict[tuple[str, ...], str]:
    from vits2.text.ja_sbv2 import _MORAS

    out: dict[tuple[str, ...], str] = {}
    small = set("ァィゥェォャュョヮヵヶ")
    for kana, phones in sorted(_MORAS.items(), key=lambda kv: (len(kv[0]), kv[0] in small)):
        out.setdefault(tuple(phones), kana)
    out[("n",)] = "ン"
    return out


_KANA: dict[tuple[str, ...], str] = {}


def _moras(spans: list[PhoneSpan]) -> list[tuple[list[int], str | None, str]]:
    """(phone indices, consonant, vowel) of each mora of Japanese phones; marks and pads are
    no mora."""
    out = []
    pending: list[int] = []
    for i, s in enumerate(spans):
        nxt = spans[i + 1].phone if i + 1 < len(spans) else ""
        if s.language != "JP" or s.phone in _PADS or not re.fullmatch(r"[a-zA-Z]+", s.phone):
            pending = []
            continue
        if s.phone in VOWELS or s.phone in SINGLE_MORAS or (s.phone == "n" and nxt not in VOWELS):
            cons = spans[pending[-1]].phone if pending else None
            out.append(([*pending, i], cons, s.phone))
            pending = []
        else:
            pending = [i]  # a consonant (a second one in a row replaces the first)
    return out


_F = re.compile(r"/F:(\w+)_(\w+)#(\w+)_\w+@(\w+)_")
_I3 = re.compile(r"/I:\w+-\w+@(\w+)\+")
_P3 = re.compile(r"-(.*?)\+")


def _labels(seg: Segment, profile: Profile, dictionary: str | None) -> list[tuple[str, tuple]]:
    """(phone as the frontend spells it, (phrase key, accent, interrogative, devoiced)) of
    each OpenJTalk label that is a phone of the segment's reading."""
    from vits2.text import openjtalk

    if profile.ja_g2p in ("sbv2", "sbv2-jp-extra"):
        from vits2.text.ja_sbv2 import normalize_text

        text = normalize_text(seg.text.strip())
    else:
        text = seg.norm_text
    out = []
    for label in openjtalk.run(text, dictionary)[1] if text else []:
        p3 = (_P3.search(label) or re.match("(.*)", "")).group(1)
        f, i3 = _F.search(label), _I3.search(label)
        if p3 in ("sil", "pau") or f is None or i3 is None:
            continue
        phone = "q" if p3 == "cl" else p3.lower() if p3 in "AIUEO" else p3
        key = (i3.group(1), f.group(4))
        accent = int(f.group(2)) if f.group(2).isdigit() else 0
        out.append((phone, (key, accent, f.group(3) == "1", p3 in "AIUEO")))
    return out


def _japanese(
    spans: list[PhoneSpan], segs: Sequence[Segment], profile: Profile, dictionary: str | None
) -> tuple[list[dict], list[dict]]:
    """Moras and accent phrases of the utterance's Japanese phones; the phrases come from
    OpenJTalk's labels of each segment's text, matched to its phones in order (given phones
    that differ from the reading keep the phrase of the mora before them)."""
    if not _KANA:
        _KANA.update(_kana_table())
    info: dict[int, tuple] = {}
    for number, seg in enumerate(segs):
        if seg.language != "JP":
            continue
        labels = _labels(seg, profile, dictionary)
        k = 0
        for i, s in enumerate(spans):
            if s.segment != number or k >= len(labels):
                continue
            # the normal SBV2 model spells ん "n" (OpenJTalk: N)
            if s.phone == labels[k][0] or (s.phone == "n" and labels[k][0] == "N"):
                info[i] = labels[k][1]
                k += 1
    moras: list[dict] = []
    phrases: list[dict] = []
    last_key, prev = None, -1
    for phones, cons, vowel in _moras(spans):
        key, accent, question, devoiced = info.get(phones[-1], (last_key, 0, False, False))
        split = (
            not phrases
            or key != last_key
            or spans[phones[0]].segment != spans[prev].segment
            or any(spans[i].phone not in _PADS for i in range(prev + 1, phones[0]))
        )
        if split:
            phrases.append({"accent": accent, "interrogative": False,
                            "moras": [len(moras), len(moras)], "pause": None})  # fmt: skip
        last_key, prev = key, phones[-1]
        phrase = phrases[-1]
        phrase["moras"][1] = len(moras) + 1
        phrase["interrogative"] = phrase["interrogative"] or question
        kana = _KANA.get((*([cons] if cons else []), vowel), vowel)
        moras.append({"text": kana, "consonant": cons, "vowel": vowel, "devoiced": devoiced,
                      "phrase": len(phrases) - 1, "phones": [phones[0], phones[-1] + 1]})  # fmt: skip
    for n, phrase in enumerate(phrases):
        first, stop = phrase["moras"]
        phrase["accent"] = min(max(phrase["accent"], 0), stop - first) or stop - first
        end = moras[stop - 1]["phones"][1]
        nxt = moras[stop]["phones"][0] if n + 1 < len(phrases) else len(spans)
        marks = [i for i in range(end, nxt) if spans[i].phone not in _PADS]
        phrase["pause"] = [marks[0], marks[-1] + 1] if marks else None
    return moras, phrases


def sentence_alignment(
    sentence: Sentence, profile: Profile, tokenizers: dict | None, dictionary: str | None
) -> dict:
    """The utterance's phones (with their ids), words and, where it has Japanese, moras and
    accent phrases, as the TIMESTAMPS output lists them (indices local to the utterance).
    ``tokenizers``: language -> the BERT tokenizer (`Frontend.tokenizer`) for the words;
    ``dictionary``: the compiled OpenJTalk user dictionary the frontend read Japanese with."""
    spans = phone_spans(sentence)
    words: list[dict] = []
    for number, seg in enumerate(sentence.segments):
        mine = [s for s in spans if s.segment == number]
        base = spans.index(mine[0]) if mine else 0
        tok = (tokenizers or {}).get(seg.language)
        for w in _words(seg, mine, tok):
            words.append({"text": w["text"], "phones": [w["phones"][0] + base,
                                                        w["phones"][1] + base]})  # fmt: skip
    has_ja = any(seg.language == "JP" for seg in sentence.segments)
    moras, phrases = (
        _japanese(spans, sentence.segments, profile, dictionary) if has_ja else ([], [])
    )
    return {
        "text": sentence.text,
        "phones": [
            {"phone": s.phone, "tone": s.tone, "language": s.language, "ids": [s.start, s.stop]}
            for s in spans
        ],  # fmt: skip
        "words": words,
        "moras": moras,
        "phrases": phrases,
    }


def alignments(frontend, hop: int, batch, req) -> np.ndarray:
    """The frontend step's ``alignment`` output [S] for a prepared batch: each sentence's
    `sentence_alignment` (with the voice's ``hop``) as JSON bytes where the request asked for
    TIMESTAMPS (``req.timestamps``), else empty bytes. ``frontend`` is the voice's `Frontend`
    (its tokenizers, profile and Japanese dictionary; ``req.profile`` overrides the profile)."""
    from vits2.text.profiles import get_profile

    out = np.full(len(batch), b"", np.object_)
    if not req.timestamps or batch.sentences is None:
        return out
    profile = get_profile(req.profile) if req.profile else frontend.profile
    for i, sentence in enumerate(batch.sentences):
        languages = {seg.language for seg in sentence.segments}
        tokenizers = {lang: frontend.tokenizer(lang) for lang in languages}
        dictionary = frontend.ja_dictionary(profile) if "JP" in languages else None
        doc = {"hop_length": hop, **sentence_alignment(sentence, profile, tokenizers, dictionary)}
        out[i] = json.dumps(doc, ensure_ascii=False, separators=(",", ":")).encode()
    return out
