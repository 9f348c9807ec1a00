"""The VOICEVOX face's work (`gateway_voicevox` routes to it): which styles the Japanese voices
have (stable ids), reading a text into an AudioQuery (TIMESTAMPS, pitch measured on the audio),
and speaking a query (one request per sentence, `tts_gateway.voicevox.plan`; silences fitted;
each mora's F0 moved to the query's by WORLD where the voice made another).
"""

from __future__ import annotations

import io
import threading
import uuid
import wave
import zlib
from typing import Any

import numpy as np

from tts_contract.request import sentence_seed
from tts_gateway.backend import ApiError, Backend
from tts_gateway.encoding import resample
from tts_gateway.voicevox.plan import plan, prepare
from tts_gateway.voicevox.query import (
    Memory,
    QueryError,
    build_query,
    check,
    check_phrase,
    kana_of,
    memory_entries,
)

__all__ = ["ENGINE_VERSION", "UNMOVED_HEADER", "VoicevoxFace", "measure", "style_id"]

ENGINE_VERSION = "0.24.0"
"""The VOICEVOX ENGINE API version whose schema this face follows (``GET /version``)."""
NORMAL_STYLE = "ノーマル"
"""The one style of a voice without Style-Bert-VITS2 styles (VOICEVOX's name for it)."""
PITCH_TOLERANCE = 0.01
"""ln F0: a mora whose measured pitch is this close to the query's is left as the voice made it
(1 %, a sixth of a semitone: below what re-synthesis of the same query scatters)."""
UNMOVED_HEADER = "X-Pitch-Unmoved"
"""Response header naming the moras whose pitch was not moved: where the voice and the query
disagree on voicing, the voice's F0 stays (it has none to move, or cannot drop one)."""
NAMES = {"TEXT": "text", "SPEAKER": "speaker", "SEED": "seed", "GIVEN_PHONES": "accent_phrases",
         "GIVEN_TONES": "accent_phrases", "DURATIONS": "accent_phrases"}  # fmt: skip


def style_id(voice: str, speaker: str, style: str) -> int:
    """A style's VOICEVOX id: the same for the same voice, speaker and style on every gateway
    and restart (CRC-32 of the three names, in [0, 2**31))."""
    return zlib.crc32(f"{voice}\0{speaker}\0{style}".encode()) & 0x7FFFFFFF


def _uuid(voice: str, speaker: str) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"bertvits2-triton:{voice}/{speaker}"))


class VoicevoxFace:
    """The styles of the Japanese voices and what reads and speaks them."""

    def __init__(self, backend: Backend) -> None:
        self.backend = backend
        self.memory = Memory()
        self._lock = threading.Lock()
        self._hops: dict[str, int] = {}

    # -- speakers ----------------------------------------------------------------------------
    def styles(self) -> dict[int, tuple[Any, str, str | None]]:
        """Style id -> (voice, speaker, Style-Bert-VITS2 style or None)."""
        out: dict[int, tuple[Any, str, str | None]] = {}
        for voice in self.backend.voices().values():
            if "JP" not in voice.languages:
                continue
            for speaker in voice.speakers:
                for style in voice.styles or {NORMAL_STYLE: 0}:
                    sid = style_id(voice.name, speaker, style)
                    if sid in out:
                        raise ApiError(500, 50, f"style ids collide: {voice.name}/{speaker}/"
                                       f"{style} and {out[sid][0].name}; rename a voice")  # fmt: skip
                    out[sid] = (voice, speaker, style if voice.styles else None)
        return out

    def speakers(self) -> list[dict]:
        by_speaker: dict[tuple[str, str], dict] = {}
        for sid, (voice, speaker, style) in sorted(self.styles().items(), key=lambda kv: (
                kv[1][0].name, kv[1][1], (kv[1][0].styles or {}).get(kv[1][2], 0))):  # fmt: skip
            entry = by_speaker.setdefault((voice.name, speaker), {
                "name": speaker if len(self.backend.voices()) == 1 else f"{voice.name}/{speaker}",
                "speaker_uuid": _uuid(voice.name, speaker), "styles": [],
                "version": ENGINE_VERSION,
                "supported_features": {"permitted_synthesis_morphing": "NOTHING"},
            })  # fmt: skip
            entry["styles"].append({"name": style or NORMAL_STYLE, "id": sid, "type": "talk"})
        return list(by_speaker.values())

    def resolve(self, sid: int) -> tuple[Any, str, str | None]:
        styles = self.styles()
        if sid not in styles:
            have = ", ".join(str(k) for k in sorted(styles)) or "none (no Japanese voice loaded)"
            raise ApiError(422, 12, f"speaker={sid} is not a style here; styles: {have}",
                           "speaker")  # fmt: skip
        return styles[sid]

    # -- reading a text ----------------------------------------------------------------------
    def knobs(self, voice: Any, speaker: str, style: str | None) -> dict[str, Any]:
        out: dict[str, Any] = {"speaker": speaker, "language": "JP"}
        if style is not None:
            out["style"] = style
        return out

    def read(self, text: str, sid: int, seed: int) -> dict:
        """An AudioQuery of ``text``: the voice reads it (timestamps), pitch measured."""
        if not text or not text.strip():
            raise ApiError(422, 21, "text is empty: give the text to read", "text")
        voice, speaker, style = self.resolve(sid)
        tts = self.backend.tts
        audio = self.backend.call(tts.synthesize, text, voice.name, _names=NAMES, seed=seed,
                                  timestamps=True, **self.knobs(voice, speaker, style))  # fmt: skip
        ts = audio.timestamps
        self._hops[voice.name] = int(ts["hop_length"])
        spans = [(m["start"], ts["phones"][m["phones"][1] - 1]["end"]) for m in ts["moras"]]
        try:
            phrases, pre, post = build_query(ts, measure(audio.samples, audio.sample_rate, spans),
                                             len(audio))  # fmt: skip
        except QueryError as e:
            raise ApiError(422, 21, str(e), e.field) from None
        with self._lock:
            for mine, entry in memory_entries(ts, phrases):
                self.memory.remember(voice.name, mine, entry)
        return {
            "accent_phrases": phrases, "speedScale": 1.0, "pitchScale": 0.0,
            "intonationScale": 1.0, "volumeScale": 1.0, "prePhonemeLength": pre,
            "postPhonemeLength": post, "pauseLength": None, "pauseLengthScale": 1.0,
            "outputSamplingRate": voice.sample_rate, "outputStereo": False,
            "kana": kana_of(phrases),
        }  # fmt: skip

    # -- speaking a query --------------------------------------------------------------------
    def render(self, query: dict, sid: int, seed: int, upspeak: bool, predicted: bool = False
               ) -> tuple[np.ndarray, int, list[tuple[int, int, int]], list[float], list]:  # fmt: skip
        """The query's audio (before volume, rate, stereo), each mora's (start, vowel start,
        end) in it (samples),
        the pitch the query wants per mora, and the sentence plans. ``predicted``: the moras
        take the lengths the voice predicts (/mora_length, /mora_data)."""
        voice, speaker, style = self.resolve(sid)
        q = prepare(query, upspeak)
        hop = self._hop(voice)
        with self._lock:
            plans = plan(q, self.memory, voice.name, voice.sample_rate, hop)
        pieces, spans, at = [], [], 0
        results = []
        for i, one in enumerate(plans):
            durations = [-1] * len(one.durations) if predicted else one.durations
            audio = self.backend.call(
                self.backend.tts.synthesize, one.text, voice.name, _names=NAMES,
                seed=sentence_seed(seed, i), given_phones=" ".join(one.phones),
                given_tones=" ".join(map(str, one.tones)), durations=durations,
                timestamps=True, **self.knobs(voice, speaker, style),
            )  # fmt: skip
            results.append(audio)
        rate = results[0].sample_rate
        for i, one in enumerate(plans):
            samples, phones = results[i].samples, results[i].timestamps["phones"]
            first = phones[one.moras[0][0]]["start"]
            last = phones[one.moras[-1][1] - 1]["end"]
            delta = 0  # where the sentence's own samples moved by cutting or padding its head
            if i == 0 and one.head is not None:
                delta = round(one.head * rate) - first
                samples = _fit_head(samples, first, delta)
                last += delta
            if i + 1 == len(plans):
                if one.tail is not None:
                    samples = _fit_tail(samples, last, round(one.tail * rate))
            else:
                nxt = results[i + 1].timestamps["phones"][plans[i + 1].moras[0][0]]["start"]
                want, tail = round(one.tail * rate), len(samples) - last
                if want >= tail + nxt:
                    samples = np.concatenate([samples, np.zeros(want - tail - nxt, np.float32)])
                else:  # shorter than the voice's own silence: cut its tail, then the next head
                    cut_tail = min(tail, tail + nxt - want)
                    samples = samples[: len(samples) - cut_tail]
                    results[i + 1] = _cut_head(results[i + 1], tail + nxt - want - cut_tail)
            for a, b in one.moras:
                cons, vowel = phones[a], phones[b - 1]
                spans.append((at + cons["start"] + delta, at + vowel["start"] + delta,
                              at + vowel["end"] + delta))  # fmt: skip
            pieces.append(samples)
            at += len(samples)
        targets = [t for one in plans for t in one.targets]
        return np.concatenate(pieces), rate, spans, targets, plans

    def _hop(self, voice: Any) -> int:
        """The voice's hop (samples per frame), from the TIMESTAMPS of one short request."""
        if voice.name not in self._hops:
            audio = self.backend.call(self.backend.tts.synthesize, "あ", voice.name,
                                      language="JP", seed=0, timestamps=True)  # fmt: skip
            self._hops[voice.name] = int(audio.timestamps["hop_length"])
        return self._hops[voice.name]

    def synthesize(self, query: dict, sid: int, seed: int, upspeak: bool
                   ) -> tuple[bytes, list[str]]:  # fmt: skip
        """The query spoken (a WAV): lengths and accents as given, each mora's pitch moved to
        the query's where the voice made another; then volume, rate and channels. Also the
        moras whose voicing differs from the query's (the voice speaks it unvoiced, or the
        query says 0 for a voiced one): they keep the voice's F0 (`UNMOVED_HEADER`)."""
        from tts_gateway.voicevox.pitch import retarget

        try:
            query = check(query)
        except QueryError as e:
            raise ApiError(422, 21, str(e), e.field) from None
        audio, rate, spans, targets, _ = self._render_checked(query, sid, seed, upspeak)
        measured = measure(audio, rate, [(a, c) for a, _, c in spans])
        ratios, unmoved = [], []
        names = _mora_names(query, upspeak)
        for k, (want, have) in enumerate(zip(targets, measured, strict=True)):
            if want is None:  # the phrase's accent moved: its pitch is the voice's
                ratios.append(1.0)
                continue
            if (want > 0) != (have > 0):  # no F0 there to move, or none to take away
                unmoved.append(names[k])
                ratios.append(1.0)
                continue
            close = want == 0 or abs(want - have) <= PITCH_TOLERANCE
            ratios.append(1.0 if close else float(np.exp(want - have)))
        seconds = [(a / rate, c / rate) for a, _, c in spans]
        audio = retarget(audio, rate, seconds, ratios)
        audio = audio * float(query["volumeScale"])
        out_rate = int(query["outputSamplingRate"])
        if out_rate != rate:
            audio = resample(audio, rate, out_rate)
        channels = 2 if query["outputStereo"] else 1
        return _wav(audio, out_rate, channels), unmoved

    def _render_checked(self, query: dict, sid: int, seed: int, upspeak: bool, **kw: Any):
        try:
            return self.render(query, sid, seed, upspeak, **kw)
        except QueryError as e:
            raise ApiError(422, 21, str(e), e.field) from None

    def update(self, phrases: Any, sid: int, seed: int, lengths: bool, pitch: bool) -> list:
        """/mora_data (both), /mora_length, /mora_pitch: the phrases with the lengths the voice
        predicts for them and/or the pitch it makes (with their own lengths for mora_pitch)."""
        if not isinstance(phrases, list) or not phrases:
            raise ApiError(422, 21, "the body must be a list of accent phrases", "accent_phrases")
        try:
            for i, ph in enumerate(phrases):
                check_phrase(ph, i)
        except QueryError as e:
            raise ApiError(422, 21, str(e), e.field) from None
        voice, _, _ = self.resolve(sid)
        query = {"accent_phrases": phrases, "speedScale": 1.0, "pitchScale": 0.0,
                 "intonationScale": 1.0, "prePhonemeLength": None, "postPhonemeLength": None,
                 "pauseLength": None, "pauseLengthScale": 1.0}  # fmt: skip
        audio, rate, spans, _, plans = self._render_checked(query, sid, seed, False,
                                                            predicted=lengths)  # fmt: skip
        out = [dict(ph, moras=[dict(m) for m in ph["moras"]]) for ph in phrases]
        moras = [m for ph in out for m in ph["moras"]]
        if pitch:
            pitches = measure(audio, rate, [(a, c) for a, _, c in spans])
            for m, value in zip(moras, pitches, strict=True):
                m["pitch"] = value
        if lengths:
            self._lengths(moras, spans, plans, rate)
        return out

    @staticmethod
    def _lengths(moras: list[dict], spans: list, plans: list, rate: int) -> None:
        """Each mora's consonant and vowel length: the frames its phones were given."""
        del plans
        for m, (a, v, c) in zip(moras, spans, strict=True):
            m["consonant_length"] = (v - a) / rate if m.get("consonant") else None
            m["vowel_length"] = (c - v) / rate


def _fit_head(samples: np.ndarray, first: int, delta: int) -> np.ndarray:
    """The sentence with its head (the ``first`` samples before its first mora) padded
    (``delta`` > 0) or cut (< 0) to the query's length."""
    if delta >= 0:
        return np.concatenate([np.zeros(delta, np.float32), samples])
    return samples[-delta:]


def _fit_tail(samples: np.ndarray, last: int, want: int) -> np.ndarray:
    tail = len(samples) - last
    if want >= tail:
        return np.concatenate([samples, np.zeros(want - tail, np.float32)])
    return samples[: last + want]


def _cut_head(audio: Any, n: int) -> Any:
    """``audio`` without its first ``n`` samples (its timestamps moved with them)."""
    if n <= 0:
        return audio
    from tts_client.audio import Audio
    from tts_contract.timestamps import shift

    return Audio(audio.samples[n:], audio.sample_rate, timestamps=shift(audio.timestamps, -n))


def _mora_names(query: dict, upspeak: bool) -> list[str]:
    names = []
    for i, ph in enumerate(query["accent_phrases"]):
        names += [f"accent_phrases[{i}].moras[{j}]" for j in range(len(ph["moras"]))]
        if upspeak and ph.get("is_interrogative") and ph["moras"] and ph["moras"][-1]["pitch"] > 0:
            names.append(f"accent_phrases[{i}] (its interrogative upspeak)")
    return names


def measure(samples: np.ndarray, rate: int, spans: list[tuple[int, int]]) -> list[float]:
    """Each span's pitch (mean ln F0 of its voiced frames, 0.0 if none) on the audio."""
    from tts_gateway.voicevox.pitch import f0_track, span_pitch

    f0, times = f0_track(samples, rate)
    return span_pitch(f0, times, [(a / rate, b / rate) for a, b in spans])


def _wav(audio: np.ndarray, rate: int, channels: int) -> bytes:
    pcm = (np.clip(audio, -1.0, 1.0) * 32767.0).round().astype("<i2")
    if channels == 2:
        pcm = np.repeat(pcm[:, None], 2, axis=1).reshape(-1)
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(channels)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(pcm.tobytes())
    return buf.getvalue()
