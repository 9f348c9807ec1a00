"""Timestamps from the durations (issue 28), for every face, and given durations (DURATIONS)
through the stream model, against the PyTorch reference, on a real tritonserver serving the
tiny Style-Bert-VITS2 JP-Extra voice."""

from __future__ import annotations

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from tests.triton_fixtures import infer_http, stream_results
from tts_client.audio import Audio
from tts_client.client import TTSClient
from tts_client.errors import InvalidInputError
from tts_contract.request import TIMESTAMPS_KEYS, RequestError
from tts_contract.timestamps import WindowReader, join, parse
from vits2.serving.timestamps import spread_durations

TEXT = "こんにちは、世界。今日はいい天気ですか？"
ONE = "こんにちは、世界。"


# -- no server ---------------------------------------------------------------------------------
def test_spread_keeps_a_phone_given_its_predicted_frames_and_moves_only_the_edited_one():
    predicted = np.array([1, 2, 1, 3, 0, 2, 2, 0, 1])  # phones own [0,3) [3,5) [5,7) [7,9)
    spans = [(0, 3), (3, 5), (5, 7), (7, 9)]
    same = spread_durations(predicted, spans, [4, 3, 4, 1])
    assert same.tolist() == predicted.tolist()
    edited = spread_durations(predicted, spans, [4, 6, 4, 0])
    assert edited[3:5].tolist() == [6, 0] and edited[7:9].tolist() == [0, 0]
    assert edited.sum() == 14 and edited[:3].tolist() == [1, 2, 1]
    kept = spread_durations(predicted, spans, [-1, 0, -1, 5])
    assert kept[:3].tolist() == [1, 2, 1] and kept[5:7].tolist() == [2, 2]
    with pytest.raises(RequestError, match="DURATIONS has 3 values; the sentence has 4 phones"):
        spread_durations(predicted, spans, [1, 2, 3])


def test_joined_parts_shift_times_and_indices():
    part = {
        "sample_rate": 10, "hop_length": 2,
        "sentences": [{"text": "a", "start": 0, "end": 4, "pause_after": 0.0}],
        "phones": [{"phone": "a", "sentence": 0, "start": 0, "end": 4}],
        "words": [{"text": "a", "sentence": 0, "phones": [0, 1], "start": 0, "end": 4}],
        "moras": [], "phrases": [],
    }  # fmt: skip
    both = join([(part, 4), (part, 4)], gaps=[3])
    assert [p["start"] for p in both["phones"]] == [0, 7]
    assert both["words"][1]["phones"] == [1, 2] and both["phones"][1]["sentence"] == 1
    audio = Audio.join([Audio(np.zeros(4), 10, timestamps=part)] * 2, silence=0.3)
    assert audio.timestamps == both


# -- served ------------------------------------------------------------------------------------


def _ensemble_timestamps(jp_voice, text: str, **inputs) -> tuple[np.ndarray, dict]:
    res = infer_http(jp_voice.http_url, jp_voice.voice, text, SEED=5, LANGUAGE="JP",
                     WITH_TIMESTAMPS=1, **inputs)  # fmt: skip
    return res.as_numpy("AUDIO"), parse(res.as_numpy("TIMESTAMPS")[0])


@pytest.mark.triton
def test_ensemble_timestamps_are_the_references_and_tile_the_audio_frame_by_frame(jp_voice):
    audio, ts = _ensemble_timestamps(jp_voice, TEXT)
    ref = jp_voice.reference(TEXT, seed=5, timestamps=True)
    assert np.abs(audio - ref.audio).max() <= 1e-4
    assert ts == ref.timestamps
    hop, rate = ts["hop_length"], ts["sample_rate"]
    assert (hop, rate) == (512, 44100) and set(TIMESTAMPS_KEYS) <= set(ts)
    first, second = ts["sentences"]
    assert second["start"] == first["end"] + round(0.2 * rate) and second["end"] == len(audio)
    for i, sentence in enumerate(ts["sentences"]):
        phones = [p for p in ts["phones"] if p["sentence"] == i]
        assert phones[0]["start"] == sentence["start"]
        assert all(a["end"] == b["start"] for a, b in zip(phones, phones[1:], strict=False))
        assert all((p["end"] - p["start"]) == p["frames"] * hop for p in phones)
        assert phones[-1]["end"] == sentence["end"]  # frame_lengths = sum of the durations
        # the frames the encoder gave, phone by phone (durations over the blanked ids)
        assert sum(p["frames"] for p in phones) * hop == sentence["end"] - sentence["start"]
    moras = ts["moras"]
    assert [m["text"] for m in moras[:5]] == ["コ", "ン", "ニ", "チ", "ワ"]
    assert [(p["accent"], p["moras"]) for p in ts["phrases"][:2]] == [(5, [0, 5]), (1, [5, 8])]
    assert ts["phrases"][-1]["interrogative"] and [w["text"] for w in ts["words"][:2]] == [
        "こ",
        "ん",
    ]


@pytest.mark.triton
def test_every_face_gives_the_same_timestamps(jp_voice, tmp_path):
    _, ts = _ensemble_timestamps(jp_voice, TEXT)
    with TTSClient(jp_voice.grpc_url) as tts:
        audio = tts.synthesize(TEXT, jp_voice.voice, language="JP", seed=5, timestamps=True)
        assert audio.timestamps == ts
        chunks = list(tts.stream(TEXT, jp_voice.voice, language="JP", seed=5, timestamps=True))
    assert len(chunks) > 2  # vocoder windows
    from tts_client.aio import AsyncTTSClient

    async def async_timestamps() -> dict:
        async with AsyncTTSClient(jp_voice.grpc_url) as client:
            audio = await client.synthesize(TEXT, jp_voice.voice, language="JP", seed=5,
                                            timestamps=True)  # fmt: skip
            return audio.timestamps

    import asyncio

    assert asyncio.run(async_timestamps()) == ts
    joined = Audio.join(chunks)
    assert joined.timestamps == ts and len(joined) == len(audio)
    for chunk in chunks:  # each chunk's items start inside it
        assert all(0 <= p["start"] < len(chunk) for p in chunk.timestamps["phones"])
    from tts_client.cli import app

    out = tmp_path / "ts.json"
    args = ["say", TEXT, "-o", str(tmp_path / "a.wav"), "--voice", jp_voice.voice,
            "--language", "JP", "--seed", "5", "--timestamps", str(out),
            "--url", jp_voice.grpc_url]  # fmt: skip
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    written = json.loads(out.read_text(encoding="utf-8"))
    assert [p["start"] for p in written["phones"]] == [p["start"] for p in ts["phones"]]
    assert written["phones"][3]["start_s"] == ts["phones"][3]["start"] / 44100


@pytest.mark.triton
def test_stream_windows_carry_their_spans(jp_voice):
    results = stream_results(jp_voice.grpc_url, f"{jp_voice.voice}_stream",
                             {"TEXT": ONE, "SEED": 5, "LANGUAGE": "JP", "WITH_TIMESTAMPS": 1})  # fmt: skip
    at = 0
    reader = WindowReader()
    for r in results:
        window = json.loads(r.as_numpy("TIMESTAMPS")[0])
        n = len(r.as_numpy("AUDIO"))
        assert window["span"] == [at, at + n]
        reader.take(r.as_numpy("TIMESTAMPS")[0], 44100)
        at += n
    assert reader.counts["sentences"] == 1 and reader.counts["phones"] == 18


@pytest.mark.triton
def test_given_durations_equal_the_prediction_unchanged_and_match_the_reference_edited(jp_voice):
    audio, ts = _ensemble_timestamps(jp_voice, ONE)
    frames = [p["frames"] for p in ts["phones"]]
    with TTSClient(jp_voice.grpc_url) as tts:
        same = tts.synthesize(ONE, jp_voice.voice, language="JP", seed=5, durations=frames,
                              timestamps=True)  # fmt: skip
        assert len(same) == len(audio) and np.abs(same.samples - audio).max() <= 1e-4
        assert same.timestamps["phones"] == ts["phones"]
        edited = list(frames)
        edited[2] += 12  # the "o" of コ, 12 frames longer
        edited[10] = 0  # no pause at the comma
        longer = tts.synthesize(ONE, jp_voice.voice, language="JP", seed=5, durations=edited,
                                timestamps=True)  # fmt: skip
    assert len(longer) - len(audio) == (12 - frames[10]) * 512  # exact to the frame
    assert [p["frames"] for p in longer.timestamps["phones"]] == edited
    ref = jp_voice.reference(ONE, seed=5, durations=edited, timestamps=True)
    assert ref.durations[0].sum() == sum(edited)
    assert len(ref.audio) == len(longer) and np.abs(ref.audio - longer.samples).max() <= 1e-4
    assert ref.timestamps == longer.timestamps


BAD_DURATIONS = [
    ({"DURATIONS": "1 -2 3"}, r"DURATIONS must be in \[0, 1000\] frames per phone \(or -1"),
    ({"DURATIONS": "1 nan 3"}, r"DURATIONS must be frames per phone"),
    ({"DURATIONS": "0 0"}, r"DURATIONS gives the sentence no frame"),
    ({"DURATIONS": "1 2"}, r"DURATIONS: this path's encoder step predicts the durations"),
    ({"WITH_TIMESTAMPS": 2}, r"WITH_TIMESTAMPS must be 0 or 1, got 2"),
]


@pytest.mark.triton
@pytest.mark.parametrize("inputs, message", BAD_DURATIONS)
def test_bad_durations_are_refused_by_name(jp_voice, inputs, message):
    from tritonclient.utils import InferenceServerException

    with pytest.raises(InferenceServerException, match=message):
        infer_http(jp_voice.http_url, jp_voice.voice, ONE, LANGUAGE="JP", **inputs)


@pytest.mark.triton
def test_paths_that_predict_the_durations_refuse_them(jp_voice):
    from vits2.serving.pipeline import FrontendPipeline
    from vits2.serving.request import parse_request

    pipeline = FrontendPipeline.from_voice_dir(jp_voice.voice_dir)  # as the in-process runner
    req = parse_request(pipeline.voice, ONE, language="JP", durations="3 4")
    with pytest.raises(RequestError, match="send DURATIONS to the voice's stream model"):
        pipeline.prepare(req, bert=None)


@pytest.mark.triton
def test_the_stream_refuses_durations_that_do_not_fit_the_sentence(jp_voice):
    with TTSClient(jp_voice.grpc_url) as tts:
        with pytest.raises(InvalidInputError, match="DURATIONS has 3 values; the sentence has 18"):
            tts.synthesize(ONE, jp_voice.voice, language="JP", durations="1 2 3")
        with pytest.raises(InvalidInputError, match="cut into 2"):
            tts.synthesize(TEXT, jp_voice.voice, language="JP", durations=[3] * 18)


@pytest.mark.triton
def test_the_gateways_json_variant_carries_the_wav_and_its_timestamps(jp_voice):
    import base64

    from fastapi.testclient import TestClient

    from tts_gateway.app import create_app

    _, ts = _ensemble_timestamps(jp_voice, TEXT)
    params = {"text": TEXT, "model_id": jp_voice.voice, "speaker_id": 0, "language": "JP",
              "seed": 5, "sdp_ratio": 0.2, "noise": 0.6, "noisew": 0.8}  # fmt: skip
    with TestClient(create_app(jp_voice.grpc_url)) as gateway:
        wav = gateway.get("/voice", params=params)
        body = gateway.get("/voice", params={**params, "timestamps": "true"}).json()
        refused = gateway.get("/voice", params={**params, "timestamps": 1, "stream": 1})
    assert base64.b64decode(body["audio"]) == wav.content and body["sample_rate"] == 44100
    stamps = body["timestamps"]
    assert [p["start"] for p in stamps["phones"]] == [p["start"] for p in ts["phones"]]
    assert stamps["moras"][0]["start_s"] == ts["moras"][0]["start"] / 44100
    assert refused.status_code == 400 and refused.json()["field"] == "timestamps"
