"""VOICEVOX's AudioQuery <-> this project's requests (no I/O; `gateway_voicevox` serves them).

From TIMESTAMPS (`tts_contract.request.TIMESTAMPS_KEYS`) of a synthesized text: OpenJTalk's
accent phrases and moras as the voice's frontend read it; each mora's ``consonant_length`` and
``vowel_length`` are its phones' frames (a phone owns the blank id after it: the lengths of a
sentence tile its audio); ``pitch`` is measured on the audio (`measure`). The silence and marks
around the moras are ``prePhonemeLength`` (the voice's own leading pad), pause moras (a mark
inside a sentence; between sentences: the end mark, both pads and the sentence pause) and
``postPhonemeLength``.

Back: `tts_gateway.voicevox.plan` (one request per sentence); `Memory` keeps the text of the
sentences this gateway read (the BERT reads text); `check` types a query's fields as VOICEVOX's
schema does and names the one that is wrong.
"""

from __future__ import annotations

import math
from collections import OrderedDict
from typing import Any

__all__ = [
    "Memory",
    "QueryError",
    "build_query",
    "check",
    "check_phrase",
    "kana_of",
    "memory_entries",
]

END_MARKS = {".": "。", "?": "？", "!": "！"}
"""A sentence's final mark phone -> the pause mora text that says a sentence ends there."""
SENTENCE_ENDS = {"。": ".", "？": "?", "！": "!", ".": ".", "?": "?", "!": "!"}
PAUSE_TEXT = "、"
UPSPEAK_LENGTH, UPSPEAK_PITCH_ADD, UPSPEAK_PITCH_MAX = 0.15, 0.3, 6.5
"""VOICEVOX's interrogative upspeak mora: its length (s), pitch rise and ceiling (ln Hz)."""
_VOICED = {"A": "a", "I": "i", "U": "u", "E": "e", "O": "o", "cl": "q"}


class QueryError(ValueError):
    """A query field that cannot be honoured; ``field`` names it as VOICEVOX spells it."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field


def _vowel_out(mora: dict) -> str:
    vowel = {"q": "cl", "n": "N"}.get(mora["vowel"], mora["vowel"])
    return vowel.upper() if mora.get("devoiced") and vowel in "aiueo" else vowel


def _pause(text: str, seconds: float) -> dict:
    return {"text": text, "consonant": None, "consonant_length": None, "vowel": "pau",
            "vowel_length": seconds, "pitch": 0.0}  # fmt: skip


def build_query(ts: dict, pitches: list[float], total: int) -> tuple[list[dict], float, float]:
    """(accent_phrases, prePhonemeLength, postPhonemeLength) of a synthesized text whose
    TIMESTAMPS are ``ts`` (audio of ``total`` samples), ``pitches`` per mora (`measure`)."""
    rate, phones, moras = ts["sample_rate"], ts["phones"], ts["moras"]
    if not moras:
        raise QueryError("text", "nothing in it is read as Japanese moras")
    phrases = ts["phrases"]
    out = []
    for n, ph in enumerate(phrases):
        first, stop = ph["moras"]
        items = []
        for k in range(first, stop):
            m = moras[k]
            cons = phones[m["phones"][0]] if m["consonant"] else None
            vowel = phones[m["phones"][1] - 1]
            end = moras[k + 1]["start"] if k + 1 < stop else vowel["end"]
            items.append({
                "text": m["text"], "consonant": m["consonant"],
                "consonant_length": (vowel["start"] - cons["start"]) / rate if cons else None,
                "vowel": _vowel_out(m), "vowel_length": (end - vowel["start"]) / rate,
                "pitch": pitches[k],
            })  # fmt: skip
        last = moras[stop - 1]
        pause = None
        if n + 1 < len(phrases):
            nxt = moras[phrases[n + 1]["moras"][0]]
            gap = (nxt["start"] - phones[last["phones"][1] - 1]["end"]) / rate
            this_s, next_s = phones[last["phones"][0]]["sentence"], phones[nxt["phones"][0]][
                "sentence"]  # fmt: skip
            if this_s != next_s:
                pause = _pause(END_MARKS.get(_final_mark(phones, this_s), "。"), gap)
            elif gap > 0 and ph["pause"] is not None:
                pause = _pause(PAUSE_TEXT, gap)
            elif gap > 0:  # phones between moras that are no mark: the last vowel's
                items[-1]["vowel_length"] += gap
        out.append({"moras": items, "accent": ph["accent"], "pause_mora": pause,
                    "is_interrogative": bool(ph["interrogative"])})  # fmt: skip
    pre = moras[0]["start"] / rate
    post = (total - phones[moras[-1]["phones"][1] - 1]["end"]) / rate
    return out, pre, post


def _final_mark(phones: list[dict], sentence: int) -> str:
    marks = [p["phone"] for p in phones if p["sentence"] == sentence and p["phone"] != "_"]
    return marks[-1] if marks and marks[-1] in END_MARKS else "."


def kana_of(phrases: list[dict]) -> str:
    """VOICEVOX's read-only ``kana`` (AquesTalk-like notation) of accent phrases."""
    parts = []
    for i, ph in enumerate(phrases):
        text = ""
        for k, m in enumerate(ph["moras"]):
            text += ("_" if m["vowel"] in "AIUEO" else "") + m["text"]
            text += "'" if k + 1 == ph["accent"] else ""
        text += "？" if ph.get("is_interrogative") else ""
        if i + 1 < len(phrases):
            text += "、" if ph.get("pause_mora") else "/"
        parts.append(text)
    return "".join(parts)


# -- back: a query -> one request per sentence ------------------------------------------------
def _plain(vowel: str) -> str:
    """A VOICEVOX vowel as this project's phone (cl: q; an unvoiced vowel: its voiced one)."""
    return _VOICED.get(vowel, vowel)


def reading_key(phrases: list[dict]) -> tuple:
    """What identifies a sentence's reading: its moras' phones and where it pauses."""
    return tuple(
        (tuple((m.get("consonant"), _plain(m["vowel"])) for m in ph["moras"]),
         bool(ph.get("pause_mora")))
        for ph in phrases
    )  # fmt: skip


class Memory:
    """The text and reading of sentences this gateway read (an LRU of ``size``): a query's
    sentence with the same reading is spoken from its text, as the voice was trained."""

    def __init__(self, size: int = 2048) -> None:
        self.size, self.items = size, OrderedDict()

    def remember(self, voice: str, phrases: list[dict], entry: dict) -> None:
        key = (voice, reading_key(phrases))
        self.items[key] = entry
        self.items.move_to_end(key)
        while len(self.items) > self.size:
            self.items.popitem(last=False)

    def recall(self, voice: str, phrases: list[dict]) -> dict | None:
        return self.items.get((voice, reading_key(phrases)))


def sentence_groups(phrases: list[dict]) -> list[list[int]]:
    """Phrase indices per sentence: a pause mora whose text ends a sentence closes one."""
    groups, current = [], []
    for i, ph in enumerate(phrases):
        current.append(i)
        pause = ph.get("pause_mora")
        if pause and pause.get("text") in SENTENCE_ENDS:
            groups.append(current)
            current = []
    if current:
        groups.append(current)
    return groups


def memory_entries(ts: dict, phrases: list[dict]) -> list[tuple[list[dict], dict]]:
    """(the sentence's phrases, what `Memory` keeps of it) for every sentence of a text."""
    out = []
    phones = ts["phones"]
    for group in sentence_groups(phrases):
        first_mora = sum(len(phrases[i]["moras"]) for i in range(group[0]))
        s = phones[ts["moras"][first_mora]["phones"][0]]["sentence"]
        own = [i for i, p in enumerate(phones) if p["sentence"] == s]
        base = own[0]
        moras = ts["moras"][first_mora : first_mora + sum(len(phrases[i]["moras"]) for i in group)]
        out.append(([phrases[i] for i in group], {
            "text": ts["sentences"][s]["text"],
            "phones": [phones[i]["phone"] for i in own],
            "tones": [phones[i]["tone"] for i in own],
            "moras": [[m["phones"][0] - base, m["phones"][1] - base] for m in moras],
            "accents": [phrases[i]["accent"] for i in group],
        }))  # fmt: skip
    return out


def _name(phrase: int, mora: int | None = None, key: str = "") -> str:
    where = f"accent_phrases[{phrase}]"
    return where + (f".moras[{mora}]" if mora is not None else "") + (f".{key}" if key else "")


def _accent(ph: dict, index: int) -> int:
    count = len([m for m in ph["moras"] if not m.get("_upspeak")])
    accent = ph["accent"]
    if isinstance(accent, bool) or not isinstance(accent, int) or not 1 <= accent <= count:
        raise QueryError(_name(index, key="accent"), f"must be 1..{count} (its moras), got "
                         f"{accent!r}")  # fmt: skip
    return accent


def check(query: Any) -> dict:
    """The fields of an AudioQuery this face needs, typed as VOICEVOX's schema types them."""
    if not isinstance(query, dict):
        raise QueryError("body", "must be an AudioQuery JSON object")
    numbers = {"speedScale": (0.5, 2.0), "pitchScale": (-1.0, 1.0), "intonationScale": (0.0, 2.0),
               "volumeScale": (0.0, 2.0), "prePhonemeLength": (0.0, 10.0),
               "postPhonemeLength": (0.0, 10.0), "pauseLengthScale": (0.0, 10.0)}  # fmt: skip
    for name, (low, high) in numbers.items():
        value = query.get(name, 1 if name == "pauseLengthScale" else None)
        if isinstance(value, bool) or not isinstance(value, int | float) or not (
                math.isfinite(value) and low <= value <= high):  # fmt: skip
            raise QueryError(name, f"must be a number in [{low}, {high}], got {value!r}")
    if query.get("pauseLength") is not None:
        value = query["pauseLength"]
        if isinstance(value, bool) or not isinstance(value, int | float) or not (
                math.isfinite(value) and 0 <= value <= 10):  # fmt: skip
            raise QueryError("pauseLength", f"must be null or seconds in [0, 10], got {value!r}")
    rate = query.get("outputSamplingRate")
    if isinstance(rate, bool) or not isinstance(rate, int) or not 8000 <= rate <= 192000:
        raise QueryError("outputSamplingRate", f"must be an integer in [8000, 192000], got "
                         f"{rate!r}")  # fmt: skip
    if not isinstance(query.get("outputStereo"), bool):
        raise QueryError("outputStereo", "must be true or false")
    phrases = query.get("accent_phrases")
    if not isinstance(phrases, list) or not phrases:
        raise QueryError("accent_phrases", "must be a non-empty list of accent phrases")
    for i, ph in enumerate(phrases):
        check_phrase(ph, i)
    return query


def check_phrase(ph: Any, i: int) -> None:
    """One accent phrase's moras typed as VOICEVOX's Mora: text, vowel, lengths, pitch."""
    if not isinstance(ph, dict) or not isinstance(ph.get("moras"), list) or not ph["moras"]:
        raise QueryError(_name(i, key="moras"), "must be a non-empty list of moras")
    moras = list(ph["moras"]) + ([ph["pause_mora"]] if ph.get("pause_mora") else [])
    for j, m in enumerate(moras):
        where = _name(i, j) if j < len(ph["moras"]) else _name(i, key="pause_mora")
        if not isinstance(m, dict) or not isinstance(m.get("vowel"), str):
            raise QueryError(where, "must be a mora with a vowel")
        for key in ("vowel_length", "pitch", "consonant_length"):
            value = m.get(key)
            if value is None and key == "consonant_length":
                continue
            if isinstance(value, bool) or not isinstance(value, int | float) or not (
                    math.isfinite(value) and 0 <= value <= 100):  # fmt: skip
                raise QueryError(f"{where}.{key}", f"must be a number >= 0, got {value!r}")
    _accent(ph, i)
