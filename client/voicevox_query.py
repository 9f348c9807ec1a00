"""VOICEVOX's AudioQuery <-> this project's requests (no I/O; `gateway_voicevox` serves them).

From TIMESTAMPS (`tts_client.contract.TIMESTAMPS_KEYS`) of a synthesized text: OpenJTalk's
accent phrases and moras as the voice's frontend read it; each mora's ``consonant_length`` and
``vowel_length`` are its phones' frames (a phone owns the blank id after it: the lengths of a
sentence tile its audio); ``pitch`` is measured on the audio (`measure`). The silence and marks
around the moras are ``prePhonemeLength`` (the voice's own leading pad), pause moras (a mark
inside a sentence; between sentences: the end mark, both pads and the sentence pause) and
``postPhonemeLength``.

Back (`plan`): each sentence becomes one request with GIVEN_PHONES / GIVEN_TONES (the moras'
phones and the accents' tones) and DURATIONS (the lengths in frames; pads and sentence-end marks
as predicted), whose silences around the moras are then cut or padded to the query's
(`SentencePlan`). A query this gateway made reads its sentences' text from `Memory` (the BERT
reads the text); another is read from its moras' katakana.
"""

from __future__ import annotations

import copy
import math
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Memory", "SentencePlan", "build_query", "kana_of", "plan", "prepare"]

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


@dataclass
class SentencePlan:
    """One sentence's request and where its moras are among its phones."""

    text: str
    phones: list[str]
    tones: list[int]
    durations: list[int]
    moras: list[tuple[int, int]]
    """Per query mora: phone indices [first, last + 1] of it in ``phones``."""
    head: float | None
    """Seconds of silence the query wants before the first mora (pre or pause); None: the
    voice's own (/mora_* read phrases without a query's silences)."""
    tail: float | None = 0.0
    """After the last mora: the pause to the next sentence, or postPhonemeLength."""
    targets: list[float | None] = field(default_factory=list)
    """Per mora: the pitch the query wants (after pitchScale / intonationScale); None in a
    phrase whose accent the query moved (its pitch was read under the old accent)."""


def _tones(accent: int, count: int) -> list[int]:
    """Tokyo accent: mora 1 low (high when the accent is 1), up to the accent high, then low."""
    return [int((j == 1 and accent == 1) or (2 <= j <= accent)) for j in range(1, count + 1)]


def _frames(seconds: float, rate: int, hop: int, name: str) -> int:
    if not math.isfinite(seconds) or seconds < 0:
        raise QueryError(name, f"must be a length >= 0 seconds, got {seconds}")
    return int(round(seconds * rate / hop))


def prepare(query: dict, upspeak: bool) -> dict:
    """A copy of ``query`` with VOICEVOX's own edits applied as its engine applies them:
    interrogative upspeak, pauseLength(Scale), speedScale (every length, pre and post too),
    pitchScale (ln F0 x 2 ** pitchScale) and intonationScale (around the voiced moras' mean)."""
    q = copy.deepcopy(query)
    phrases = q["accent_phrases"]
    for ph in phrases if upspeak else ():
        last = ph["moras"][-1] if ph["moras"] else None
        if ph.get("is_interrogative") and last and last["pitch"] > 0:
            vowel = _plain(last["vowel"])
            ph["moras"].append({"text": last["text"], "consonant": None, "consonant_length": None,
                                "vowel": vowel, "vowel_length": UPSPEAK_LENGTH, "_upspeak": True,
                                "pitch": min(last["pitch"] + UPSPEAK_PITCH_ADD,
                                             UPSPEAK_PITCH_MAX)})  # fmt: skip
    moras = [m for ph in phrases for m in ph["moras"]]
    pauses = [ph["pause_mora"] for ph in phrases if ph.get("pause_mora")]
    for p in pauses:
        if q.get("pauseLength") is not None:
            p["vowel_length"] = q["pauseLength"]
        p["vowel_length"] *= q.get("pauseLengthScale", 1)
    speed = q["speedScale"]
    for m in [*moras, *pauses]:
        m["vowel_length"] /= speed
        if m.get("consonant_length"):
            m["consonant_length"] /= speed
    for edge in ("prePhonemeLength", "postPhonemeLength"):  # None: the voice's own silence
        q[edge] = None if q.get(edge) is None else q[edge] / speed
    for m in moras:
        m["pitch"] *= 2 ** q["pitchScale"]
    voiced = [m for m in moras if m["pitch"] > 0]
    if voiced:
        mean = sum(m["pitch"] for m in voiced) / len(voiced)
        for m in voiced:
            m["pitch"] = (m["pitch"] - mean) * q["intonationScale"] + mean
    return q


def plan(q: dict, memory: Memory, voice: str, rate: int, hop: int) -> list[SentencePlan]:
    """A prepared query (`prepare`) -> one request plan per sentence."""
    phrases = q["accent_phrases"]
    groups = sentence_groups(phrases)
    out = []
    for g, group in enumerate(groups):
        mine = [phrases[i] for i in group]
        head = q["prePhonemeLength"] if g == 0 else 0.0
        last = mine[-1]
        tail = last["pause_mora"]["vowel_length"] if g + 1 < len(groups) else q[
            "postPhonemeLength"]  # fmt: skip
        entry = memory.recall(voice, [dict(p, moras=[m for m in p["moras"]
                                                  if not m.get("_upspeak")]) for p in mine])  # fmt: skip
        one = _from_memory(mine, entry, group) if entry else _from_moras(mine, group, g, groups)
        one.head, one.tail = head, tail
        _lengths(one, mine, group, rate, hop)
        # a phrase whose accent moved (against the remembered reading) has the pitch of the
        # old accent: the accent wins there, its pitch is what the voice makes (/mora_pitch)
        moved = [entry is not None and p["accent"] != entry["accents"][n]
                 for n, p in enumerate(mine)]  # fmt: skip
        one.targets = [None if moved[n] else m["pitch"] for n, p in enumerate(mine)
                       for m in p["moras"]]  # fmt: skip
        out.append(one)
    return out


def _name(phrase: int, mora: int | None = None, key: str = "") -> str:
    where = f"accent_phrases[{phrase}]"
    return where + (f".moras[{mora}]" if mora is not None else "") + (f".{key}" if key else "")


def _from_memory(mine: list[dict], entry: dict, group: list[int]) -> SentencePlan:
    """The remembered sentence's phones and tones, with the query's accents and upspeak."""
    phones, tones = list(entry["phones"]), list(entry["tones"])
    spans = [tuple(s) for s in entry["moras"]]
    k = 0
    for n, ph in enumerate(mine):
        real = [m for m in ph["moras"] if not m.get("_upspeak")]
        count = len(real)
        if ph["accent"] != entry["accents"][n]:
            for j, tone in enumerate(_tones(_accent(ph, group[n]), count)):
                a, b = spans[k + j]
                tones[a:b] = [tone] * (b - a)
        if len(real) < len(ph["moras"]):  # VOICEVOX's upspeak: the last vowel once more
            at = spans[k + count - 1][1]
            phones.insert(at, phones[at - 1])
            tones.insert(at, tones[at - 1])
            spans = [(a + (a >= at), b + (b > at)) for a, b in spans]
            spans.insert(k + count, (at, at + 1))
            k += 1
        k += count
    _interrogative(mine[-1], phones, group[-1])
    return SentencePlan(entry["text"], phones, tones, [], spans, 0.0)


def _accent(ph: dict, index: int) -> int:
    count = len([m for m in ph["moras"] if not m.get("_upspeak")])
    accent = ph["accent"]
    if isinstance(accent, bool) or not isinstance(accent, int) or not 1 <= accent <= count:
        raise QueryError(_name(index, key="accent"), f"must be 1..{count} (its moras), got "
                         f"{accent!r}")  # fmt: skip
    return accent


def _interrogative(last: dict, phones: list[str], index: int) -> None:
    """The sentence's final mark follows the last phrase's is_interrogative."""
    marks = [i for i, p in enumerate(phones) if p in END_MARKS]
    end = marks[-1] if marks and marks[-1] >= len(phones) - 2 else None
    if last.get("is_interrogative") and (end is None or phones[end] != "?"):
        if end is None:
            phones.insert(len(phones) - 1, "?")
        else:
            phones[end] = "?"
    elif not last.get("is_interrogative") and end is not None and phones[end] == "?":
        phones[end] = "."


def _from_moras(mine: list[dict], group: list[int], g: int, groups: list) -> SentencePlan:
    """A sentence read from its moras' katakana (no remembered text)."""
    phones, tones, spans, text = ["_"], [0], [], ""
    for n, ph in enumerate(mine):
        if ph.get("is_interrogative") and n + 1 < len(mine):
            raise QueryError(_name(group[n], key="is_interrogative"), "a question inside a "
                             "sentence cannot be read here; end the sentence with it")  # fmt: skip
        count = len([m for m in ph["moras"] if not m.get("_upspeak")])
        accent_tones = _tones(_accent(ph, group[n]), count)
        for j, m in enumerate(ph["moras"]):
            start = len(phones)
            tone = accent_tones[min(j, count - 1)]
            if m.get("consonant"):
                phones.append(m["consonant"])
                tones.append(tone)
            phones.append(_plain(m["vowel"]))
            tones.append(tone)
            spans.append((start, len(phones)))
            text += m["text"] if not m.get("_upspeak") else ""
        pause = ph.get("pause_mora")
        if pause and n + 1 < len(mine):
            phones.append(",")
            tones.append(0)
            text += "、"
    last = mine[-1]
    end = (last.get("pause_mora") or {}).get("text")
    mark = SENTENCE_ENDS.get(end or "", "?" if last.get("is_interrogative") else "")
    if mark:
        phones.append(mark)
        tones.append(0)
        text += {"?": "？", "!": "！", ".": "。"}[mark]
    phones.append("_")
    tones.append(0)
    return SentencePlan(text, phones, tones, [], spans, 0.0)


def _lengths(one: SentencePlan, mine: list[dict], group: list[int], rate: int, hop: int) -> None:
    """DURATIONS: the moras' and the inner pauses' lengths in frames; pads and the sentence's
    end mark as predicted (their time is cut or padded to the query's around the audio)."""
    durations = [-1] * len(one.phones)
    k = 0
    for n, ph in enumerate(mine):
        for j, m in enumerate(ph["moras"]):
            a, b = one.moras[k]
            k += 1
            name = _name(group[n], j)
            if m.get("consonant") and b - a > 1:
                durations[a] = _frames(m["consonant_length"] or 0.0, rate, hop,
                                       name + ".consonant_length")  # fmt: skip
            durations[b - 1] = _frames(m["vowel_length"], rate, hop, name + ".vowel_length")
        pause = ph.get("pause_mora")
        if pause and n + 1 < len(mine):
            end = one.moras[k - 1][1]
            nxt = one.moras[k][0]
            marks = list(range(end, nxt))
            if marks:
                frames = _frames(pause["vowel_length"], rate, hop,
                                 _name(group[n], key="pause_mora.vowel_length"))  # fmt: skip
                durations[marks[0]] = frames
                for i in marks[1:]:
                    durations[i] = 0
    # the first sentence's leading pad, when nothing else comes before its first mora, is
    # given prePhonemeLength itself (its silence then needs no cutting or padding)
    if one.head and one.moras and one.moras[0][0] == 1 and one.phones[0] == "_":
        durations[0] = _frames(one.head, rate, hop, "prePhonemeLength")
    one.durations = durations


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
