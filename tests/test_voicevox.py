"""VOICEVOX's engine API on the gateway (issue 28), driven by a real VOICEVOX client from the
registry (voicevox-client) over HTTP (uvicorn), against a real tritonserver serving the tiny
Style-Bert-VITS2 JP-Extra voice: real lengths, measured pitch, and edits that reach the model."""

from __future__ import annotations

import asyncio
import io
import wave
import zipfile

import numpy as np
import pytest

from tests.fixtures import served_app
from tts_client.client import TTSClient
from tts_gateway.voicevox.routes import ENGINE_VERSION, measure, style_id

pytestmark = pytest.mark.triton
vvclient = pytest.importorskip("vvclient")
from vvclient.audio_query import AudioQuery  # noqa: E402 (after the skip)

uvicorn = pytest.importorskip("uvicorn")
httpx = pytest.importorskip("httpx")

TEXT = "こんにちは、世界。"
RATE, HOP = 44100, 512


@pytest.fixture(scope="module")
def url(jp_voice):
    from tts_gateway.app import create_app

    app = create_app(jp_voice.grpc_url, repository=jp_voice.repository)
    with served_app(app) as base:
        yield base


@pytest.fixture(scope="module")
def style(jp_voice):
    return style_id(jp_voice.voice, "spk0", "Neutral")


@pytest.fixture(scope="module")
def tts(jp_voice):
    with TTSClient(jp_voice.grpc_url) as client:
        yield client


def _run(coro):
    return asyncio.run(coro)


async def _query(url: str, text: str, style: int) -> dict:
    async with vvclient.Client(url) as client:
        return (await client.create_audio_query(text, style, enable_katakana_english=False)).data


async def _synthesis(url: str, query: dict, style: int) -> bytes:
    async with vvclient.Client(url) as client:
        return await AudioQuery(client.http, query).synthesis(style)


def _pcm(wav_bytes: bytes) -> tuple[np.ndarray, int, int]:
    with wave.open(io.BytesIO(wav_bytes)) as w:
        data = np.frombuffer(w.readframes(w.getnframes()), "<i2")
        return data, w.getframerate(), w.getnchannels()


def test_speakers_styles_and_version(url, jp_voice, style):
    assert _run(_version(url)) == ENGINE_VERSION
    speakers = httpx.get(f"{url}/speakers").json()
    assert [s["name"] for s in speakers] == ["spk0", "spk1", "spk2"]
    speaker = speakers[0]
    ids = {s["name"]: s["id"] for s in speaker["styles"]}
    assert ids == {s: style_id("jpx", "spk0", s) for s in ("Neutral", "Happy", "Sad")}
    assert ids["Neutral"] == style
    info = httpx.get(f"{url}/speaker_info", params={"speaker_uuid": speaker["speaker_uuid"]})
    assert [s["id"] for s in info.json()["style_infos"]] == list(ids.values())
    refused = httpx.post(f"{url}/audio_query", params={"text": "あ", "speaker": 7})
    assert refused.status_code == 422 and refused.json()["field"] == "speaker"


def test_a_style_bert_vits2_voice_shows_its_own_release(url, jp_voice, tts):
    # upstream's /models/info and `tts voices`: the voice's release, not a fixed "2.3"
    assert httpx.get(f"{url}/models/info").json()["0"]["version"] == "sbv2-jp-extra"
    assert {v.name: v.release for v in tts.voices()}[jp_voice.voice] == "sbv2-jp-extra"


async def _version(url: str) -> str:
    async with vvclient.Client(url) as client:
        return await client.fetch_engine_version()


def test_audio_query_holds_the_voices_lengths_and_the_pitch_of_its_audio(url, style, tts):
    query = _run(_query(url, TEXT, style))
    phrases = query["accent_phrases"]
    assert [m["text"] for m in phrases[0]["moras"]] == ["コ", "ン", "ニ", "チ", "ワ"]
    assert [p["accent"] for p in phrases] == [5, 1] and phrases[0]["pause_mora"]["vowel"] == "pau"
    assert query["kana"] == "コンニチワ'、セ'カイ"
    # every length is whole frames of the voice, and they tile its audio
    plain = tts.synthesize(TEXT, "jpx", language="JP", seed=0, timestamps=True)
    lengths = [query["prePhonemeLength"], query["postPhonemeLength"]]
    for ph in phrases:
        for m in ph["moras"] + ([ph["pause_mora"]] if ph["pause_mora"] else []):
            lengths += [m["consonant_length"] or 0.0, m["vowel_length"]]
    frames = [x * RATE / HOP for x in lengths]
    assert all(abs(f - round(f)) < 1e-6 for f in frames)
    assert round(sum(frames)) * HOP == len(plain)
    # pitch: measured on that audio (mean ln F0 of each mora's voiced frames)
    ts = plain.timestamps
    spans = [(m["start"], ts["phones"][m["phones"][1] - 1]["end"]) for m in ts["moras"]]
    pitch = [m["pitch"] for ph in phrases for m in ph["moras"]]
    assert pitch == pytest.approx(measure(plain.samples, RATE, spans), abs=1e-9)
    assert any(p > 0 for p in pitch)


def test_unedited_query_speaks_the_voices_audio(url, style, tts):
    query = _run(_query(url, TEXT, style))
    pcm, rate, channels = _pcm(_run(_synthesis(url, query, style)))
    plain = tts.synthesize(TEXT, "jpx", language="JP", seed=0)
    assert (rate, channels) == (RATE, 1) and len(pcm) == len(plain)
    assert np.abs(pcm.astype(int) - plain.to_pcm16().astype(int)).max() <= 4


def test_a_moved_accent_reaches_the_model_as_given_tones(url, style, tts):
    query = _run(_query(url, TEXT, style))
    before = _pcm(_run(_synthesis(url, query, style)))[0]
    query["accent_phrases"][0]["accent"] = 1  # コ'ンニチワ: high then low
    after = _pcm(_run(_synthesis(url, query, style)))[0]
    assert len(after) == len(before) and np.abs(after.astype(int) - before).max() > 100
    ts = tts.synthesize(TEXT, "jpx", language="JP", seed=0, timestamps=True).timestamps
    phones = [p["phone"] for p in ts["phones"]]
    tones = [p["tone"] for p in ts["phones"]]
    assert tones[1:10] == [0, 0, 1, 1, 1, 1, 1, 1, 1]  # the reading: コ low, ンニチワ high
    tones[1:10] = [1, 1, 0, 0, 0, 0, 0, 0, 0]  # what accent 1 means
    # what the gateway sends: the query's frames, the end mark and pad as the voice predicts
    frames = [p["frames"] for p in ts["phones"]][:-2] + [-1, -1]
    want = tts.synthesize(TEXT, "jpx", language="JP", seed=0, given_phones=" ".join(phones),
                          given_tones=" ".join(map(str, tones)), durations=frames,
                          timestamps=True)  # fmt: skip
    end = want.timestamps["phones"][-3]["end"]  # the last mora; after it, fitted to post
    assert np.abs(after[:end].astype(int) - want.to_pcm16()[:end].astype(int)).max() <= 4


def test_edits_of_lengths_pitch_and_output_are_honoured(url, style):
    query = _run(_query(url, TEXT, style))
    base = _pcm(_run(_synthesis(url, query, style)))[0]
    longer = dict(query, accent_phrases=[dict(p) for p in query["accent_phrases"]])
    mora = dict(longer["accent_phrases"][0]["moras"][0])
    mora["vowel_length"] += 20 * HOP / RATE
    longer["accent_phrases"][0]["moras"] = [mora, *query["accent_phrases"][0]["moras"][1:]]
    assert len(_pcm(_run(_synthesis(url, longer, style)))[0]) - len(base) == 20 * HOP
    out = dict(query, outputSamplingRate=24000, outputStereo=True, volumeScale=0.5,
               prePhonemeLength=query["prePhonemeLength"] + 0.1)  # fmt: skip
    pcm, rate, channels = _pcm(_run(_synthesis(url, out, style)))
    assert (rate, channels) == (24000, 2)
    assert abs(len(pcm) // 2 - round((len(base) + 0.1 * RATE) * 24000 / RATE)) <= 1
    higher = dict(query, pitchScale=0.05)
    wav = httpx.post(f"{url}/synthesis", params={"speaker": style}, json=higher, timeout=120)
    assert wav.status_code == 200
    got = _pcm(wav.content)[0].astype(np.float32) / 32767
    data = httpx.post(f"{url}/mora_pitch", params={"speaker": style},
                      json=query["accent_phrases"], timeout=120).json()  # fmt: skip
    assert [m["pitch"] for m in data[0]["moras"]] == pytest.approx(
        [m["pitch"] for m in query["accent_phrases"][0]["moras"]], abs=1e-6
    )
    assert len(got) == len(base)


def test_mora_data_follows_an_edited_accent_and_refusals_name_the_field(url, style):
    query = _run(_query(url, TEXT, style))
    phrases = query["accent_phrases"]
    phrases[0]["accent"] = 1
    data = httpx.post(f"{url}/mora_data", params={"speaker": style}, json=phrases, timeout=120)
    assert data.status_code == 200
    new = data.json()
    assert [m["pitch"] for m in new[0]["moras"]] != [m["pitch"] for m in phrases[0]["moras"]]
    bad = dict(query, accent_phrases=[dict(phrases[0], accent=9), *phrases[1:]])
    r = httpx.post(f"{url}/synthesis", params={"speaker": style}, json=bad, timeout=60)
    assert r.status_code == 422 and r.json()["field"] == "accent_phrases[0].accent"
    r = httpx.post(f"{url}/synthesis", params={"speaker": style}, json=dict(query, speedScale=9))
    assert r.status_code == 422 and r.json()["field"] == "speedScale"
    r = httpx.post(f"{url}/accent_phrases", params={"speaker": style, "text": "x", "is_kana": 1})
    assert r.status_code == 422 and r.json()["field"] == "is_kana"
    r = httpx.post(f"{url}/audio_query", params={"speaker": style, "text": "AIです"})
    assert r.status_code == 422 and r.json()["field"] == "enable_katakana_english"
    zipped = httpx.post(f"{url}/multi_synthesis", params={"speaker": style},
                        json=[query, query], timeout=120)  # fmt: skip
    assert zipfile.ZipFile(io.BytesIO(zipped.content)).namelist() == ["001.wav", "002.wav"]


@pytest.mark.slow
def test_user_dictionary_words_reach_the_voices_reading(url, style):
    text = "鬱金を食べる。"
    before = [m["text"] for m in _run(_query(url, text, style))["accent_phrases"][0]["moras"]]
    added = httpx.post(
        f"{url}/user_dict_word",
        params={"surface": "鬱金", "accent_type": 1, "pronunciation": "ギンギン", "priority": 10},
        timeout=120,
    )
    assert added.status_code == 200, added.text
    key = added.json()
    assert httpx.get(f"{url}/user_dict").json()[key]["pronunciation"] == "ギンギン"
    after = [m["text"] for m in _run(_query(url, text, style))["accent_phrases"][0]["moras"]]
    assert after[:4] == ["ギ", "ン", "ギ", "ン"] and after != before
    assert httpx.delete(f"{url}/user_dict_word/{key}", timeout=120).status_code == 204
    again = [m["text"] for m in _run(_query(url, text, style))["accent_phrases"][0]["moras"]]
    assert again == before
    word = {"surface": "鬱金", "pronunciation": "ギンギン", "accent_type": 1, "priority": 10,
            "context_id": 1345}  # fmt: skip
    imported = httpx.post(f"{url}/import_user_dict", params={"override": "true"},
                          json={key: word}, timeout=120)  # fmt: skip
    assert imported.status_code == 204, imported.text
    assert httpx.get(f"{url}/user_dict").json()[key]["part_of_speech_detail_1"] == "一般"
    assert httpx.delete(f"{url}/user_dict_word/{key}", timeout=120).status_code == 204
