"""Every release other than 2.3 served end to end on a real tritonserver (issues 15 and 19):
the ensemble equals the PyTorch reference running the same request (identical durations, max
|audio error| <= 1e-4), with the release's conditioning (2.1 EMOTION_ID, Style-Bert-VITS2
STYLE / STYLE_WEIGHT); the stream model, which runs sentence by sentence (unbatched), joins to
the ensemble's batched audio; inputs a voice does not take are refused by name."""

from __future__ import annotations

import json

import numpy as np
import pytest
import tritonclient.http as http
from tritonclient.utils import InferenceServerException

from tests.triton_fixtures import RELEASE_VOICES, infer_http, stream_results

pytestmark = pytest.mark.triton

TEXT = {
    "ZH": "你好，世界！今天天气真不错，我们去散步吧。",
    "JP": "こんにちは、世界。今日はいい天気ですね！",
}
"""Two sentences each: the encoder and decoder run them as a batch of two."""
FIELDS = {"EMOTION_ID": "emotion_id", "STYLE": "style", "STYLE_WEIGHT": "style_weight"}
FIELDS.update(EMOTION="emotion", REFERENCE_AUDIO="reference_audio")

CASES = [
    ("v20", {}),
    ("v21", {}),
    ("v21", {"EMOTION_ID": 3}),
    ("v22", {}),
    ("v22", {"EMOTION": "Sad"}),
    ("sbv2", {}),
    ("sbv2", {"STYLE": "Happy", "STYLE_WEIGHT": 2.0}),
    ("jpextra", {"STYLE": "Happy"}),
    ("jpextra", {"STYLE": "2", "STYLE_WEIGHT": 1.5}),
]


def _language(voice: str) -> str:
    return RELEASE_VOICES[voice][2][0]


def _served(release_voices, voice: str, text: str, seed: int, **inputs) -> np.ndarray:
    res = infer_http(
        release_voices.http_url, voice, text, SEED=seed, LANGUAGE=_language(voice), **inputs
    )
    return res.as_numpy("AUDIO")


def _assert_same(audio: np.ndarray, ref) -> None:
    assert audio.shape == ref.audio.shape, "durations differ (audio lengths differ)"
    assert np.abs(audio - ref.audio).max() <= 1e-4


def _wav(seconds: float, rate: int = 8000) -> bytes:
    import io

    import soundfile as sf

    buf = io.BytesIO()
    t = np.arange(int(seconds * rate)) / rate
    sf.write(buf, (0.1 * np.sin(2 * np.pi * 220 * t)).astype(np.float32), rate, format="WAV")
    return buf.getvalue()


CASES.append(("v21", {"REFERENCE_AUDIO": _wav(1.5), "EMOTION_ID": 5}))  # the clip wins
CASES.append(("v22", {"REFERENCE_AUDIO": _wav(1.5), "EMOTION": "Happy"}))  # CLAP's audio graph


@pytest.mark.parametrize("voice, inputs", CASES, ids=[f"{v}-{sorted(i)}" for v, i in CASES])
def test_served_release_equals_pytorch_reference(release_voices, voice, inputs):
    text = TEXT[_language(voice)]
    audio = _served(release_voices, voice, text, 7, **inputs)
    fields = {FIELDS[k]: v for k, v in inputs.items()}
    ref = release_voices.reference(voice, text, seed=7, **fields)
    assert len(ref.sentences) == 2
    _assert_same(audio, ref)


@pytest.mark.parametrize("voice", ["sbv2", "jpextra"])
def test_style_bert_vits2_pth_reference_equals_the_safetensors_voice(release_voices, voice):
    text = TEXT["JP"]
    audio = _served(release_voices, voice, text, 5, STYLE="Sad")
    _assert_same(audio, release_voices.reference(voice, text, "G_tiny.pth", seed=5, style="Sad"))


def test_conditioning_changes_the_audio_and_weight_zero_is_neutral(release_voices):
    text = TEXT["JP"]
    neutral = _served(release_voices, "sbv2", text, 3)
    zero = _served(release_voices, "sbv2", text, 3, STYLE="Happy", STYLE_WEIGHT=0.0)
    happy = _served(release_voices, "sbv2", text, 3, STYLE="Happy", STYLE_WEIGHT=2.0)
    assert zero.shape == neutral.shape and np.abs(zero - neutral).max() <= 1e-6
    assert happy.shape != neutral.shape or np.abs(happy - neutral).max() > 1e-3
    plain = _served(release_voices, "v22", TEXT["ZH"], 3)
    sad = _served(release_voices, "v22", TEXT["ZH"], 3, EMOTION="Sad")
    assert sad.shape != plain.shape or np.abs(sad - plain).max() > 1e-3
    default = _served(release_voices, "v21", TEXT["ZH"], 3)
    explicit = _served(release_voices, "v21", TEXT["ZH"], 3, EMOTION_ID=0)
    other = _served(release_voices, "v21", TEXT["ZH"], 3, EMOTION_ID=3)
    assert np.array_equal(default, explicit)
    assert other.shape != default.shape or np.abs(other - default).max() > 1e-3


def _stream(url: str, model: str, inputs: dict) -> list[np.ndarray]:
    """AUDIO of every response of one decoupled request."""
    return [r.as_numpy("AUDIO") for r in stream_results(url, model, inputs)]


STREAM_CASES = [
    ("v21", {"EMOTION_ID": 3}),
    ("v21", {"REFERENCE_AUDIO": _wav(1.0)}),
    ("v22", {"EMOTION": "Sad"}),
    ("v22", {"REFERENCE_AUDIO": _wav(1.0)}),
    ("jpextra", {"STYLE": "Happy"}),
]


@pytest.mark.parametrize("voice, inputs", STREAM_CASES, ids=[v for v, _ in STREAM_CASES])
def test_stream_sentence_by_sentence_equals_the_batched_ensemble(release_voices, voice, inputs):
    text = TEXT[_language(voice)]
    audio = _served(release_voices, voice, text, 11, **inputs)
    request = {"TEXT": text, "SEED": 11, "LANGUAGE": _language(voice), **inputs}
    chunks = _stream(release_voices.grpc_url, f"{voice}_stream", request)
    assert len(chunks) == 2  # one per sentence (no decoder halves: whole sentences)
    joined = np.concatenate(chunks)
    assert joined.shape == audio.shape and np.abs(joined - audio).max() <= 1e-4


BAD = [
    ("v20", {"EMOTION_ID": 3}, r"EMOTION_ID is not an input of this voice \(release 2.0\)"),
    ("v21", {"STYLE": "Happy"}, r"STYLE is not an input .* its conditioning inputs: EMOTION_ID"),
    ("v22", {"EMOTION_ID": 1}, r"conditioning inputs: EMOTION, REFERENCE_AUDIO"),
    ("sbv2", {"EMOTION": "Sad"}, r"conditioning inputs: STYLE, STYLE_WEIGHT"),
    ("v21", {"EMOTION_ID": 10}, r"EMOTION_ID must be an integer in \[0, 9\]"),
    ("v21", {"EMOTION_ID": -1}, r"EMOTION_ID must be an integer in \[0, 9\]"),
    ("sbv2", {"STYLE": "Angry"}, r"unknown STYLE 'Angry'; this voice has: Neutral, Happy, Sad"),
    ("jpextra", {"STYLE": "7"}, r"unknown STYLE '7'"),
    ("sbv2", {"STYLE_WEIGHT": float("nan")}, r"STYLE_WEIGHT must be a number, got nan"),
    ("jpextra", {"STYLE_WEIGHT": float("inf")}, r"STYLE_WEIGHT must be in \[0.0, 20.0\]"),
    ("sbv2", {"STYLE_WEIGHT": 20.5}, r"STYLE_WEIGHT must be in"),
    (
        "v21",
        {"REFERENCE_AUDIO": b"RIFF not audio"},
        r"REFERENCE_AUDIO could not be decoded as audio",
    ),
    ("v22", {"REFERENCE_AUDIO": _wav(31.0)}, r"REFERENCE_AUDIO is 31.0 s long; at most 30 s"),
    ("v21", {"REFERENCE_AUDIO": _wav(0.0)}, r"REFERENCE_AUDIO holds no samples"),
    ("v21", {"EMOTION_ID": 2, "REFERENCE_AUDIO": b""}, None),  # an empty clip is left out
    ("v21", {"REFERENCE_AUDIO": _wav(0.05)}, r"REFERENCE_AUDIO is 50 ms long; send at least"),
    # Style-Bert-VITS2's pronunciation controls (issue 24)
    ("v21", {"GIVEN_TONES": "0 1 0"}, r"GIVEN_PHONES / GIVEN_TONES are Style-Bert-VITS2's"),
    ("jpextra", {"GIVEN_PHONES": "_ xx _", "GIVEN_TONES": "0 0 0"}, r"symbol table: \['xx'\]"),
    ("jpextra", {"GIVEN_TONES": "0 1 1 0"}, r"TEXT is 2 sentences: send one sentence"),
    ("sbv2", {"PITCH_SCALE": float("nan")}, r"PITCH_SCALE must be a number, got nan"),
    ("jpextra", {"PITCH_SCALE": 1.2, "INTONATION_SCALE": 0.8}, None),
]


@pytest.mark.parametrize(
    "voice, inputs, message", BAD, ids=[f"{v}-{i}" for i, (v, _, _) in enumerate(BAD)]
)
def test_bad_conditioning_is_refused_by_name(release_voices, voice, inputs, message):
    if message is None:
        _served(release_voices, voice, TEXT[_language(voice)], 1, **inputs)
        return
    with pytest.raises(InferenceServerException, match=message) as err:
        _served(release_voices, voice, TEXT[_language(voice)], 1, **inputs)
    assert err.value.status() == "400"


def test_each_voice_tells_its_release_conditioning_and_styles(release_voices):
    client = http.InferenceServerClient(release_voices.http_url)
    try:
        meta = {}
        for voice in RELEASE_VOICES:
            config = client.get_model_config(voice)
            meta[voice] = json.loads(config["parameters"]["voice"]["string_value"])
    finally:
        client.close()
    assert meta["v21"]["release"] == "2.1" and meta["v21"]["conditioning_inputs"] == [
        "EMOTION_ID",
        "REFERENCE_AUDIO",
    ]
    assert meta["v20"]["conditioning_inputs"] == [] and meta["v20"]["styles"] == {}
    assert meta["jpextra"]["release"] == "sbv2-jp-extra"
    assert meta["jpextra"]["styles"] == {"Neutral": 0, "Happy": 1, "Sad": 2}
    assert meta["jpextra"]["conditioning_inputs"] == [
        "STYLE",
        "STYLE_WEIGHT",
        "GIVEN_PHONES",
        "GIVEN_TONES",
    ]


def test_jp_extra_repository_has_only_the_japanese_bert(release_voices):
    models = sorted(p.name for p in release_voices.repository.glob("jpextra_*"))
    assert [m for m in models if "_bert_" in m] == ["jpextra_bert_jp"]
    encoder = (release_voices.repository / "jpextra_encoder" / "config.pbtxt").read_text()
    frontend = (release_voices.repository / "jpextra_frontend" / "config.pbtxt").read_text()
    ensemble = (release_voices.repository / "jpextra" / "config.pbtxt").read_text()
    for config in (encoder, frontend, ensemble):
        assert '"bert_zh"' not in config and '"bert_en"' not in config
        assert '"style_vec"' in config and '"bert_ja"' in config


@pytest.mark.parametrize(
    "voice, inputs",
    [("v22", {"emotion": "Sad"}), ("v21", {"reference_audio": _wav(1.0)}), ("jpextra", {})],
)
def test_in_process_runner_equals_reference_with_conditioning(release_voices, voice, inputs):
    from tts_runtime.inprocess import VoiceGraphs

    text = TEXT[_language(voice)]
    graphs = VoiceGraphs(release_voices.voice_dirs[voice])
    audio = graphs.synthesize(text, "", _language(voice), 9, **inputs)
    _assert_same(audio, release_voices.reference(voice, text, seed=9, **inputs))
