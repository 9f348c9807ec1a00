"""A VOICEVOX AudioQuery -> one request per sentence (no I/O; `gateway_voicevox` runs them).

`prepare` applies VOICEVOX's own edits (upspeak, pause lengths, speedScale, pitchScale,
intonationScale) as its engine does; `plan` turns each sentence into GIVEN_PHONES / GIVEN_TONES
(the moras' phones, the accents' Tokyo tones; an unchanged phrase keeps the reading's tones),
DURATIONS (moras and inner pauses in frames; pads and the end mark as predicted) and the
silences and pitch the query wants around and on its moras (`SentencePlan`). A sentence this
gateway read (`Memory`) is spoken from its text; another from its moras' katakana.
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass, field

from tts_gateway.voicevox.query import (
    END_MARKS,
    SENTENCE_ENDS,
    UPSPEAK_LENGTH,
    UPSPEAK_PITCH_ADD,
    UPSPEAK_PITCH_MAX,
    Memory,
    QueryError,
    _accent,
    _name,
    _plain,
    sentence_groups,
)

__all__ = ["SentencePlan", "plan", "prepare"]


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
    """Tokyo accent as Style-Bert-VITS2's frontend writes it: mora 1 low (high when the accent
    is 1), up to the accent high, then low; a one-mora phrase is low (its fall is after it)."""
    if count == 1:
        return [0]
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
