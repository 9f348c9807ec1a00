"""Each release's conditioning on the serving side, without a server: request checks, the
frontend step's per-sentence conditioning, the other-language BERT slot fill, the per-voice
request path and the Triton configs and TensorRT profiles written from it."""

from __future__ import annotations

import io

import numpy as np
import pytest

from tests.fixtures import FIXTURES, require
from tts_contract.manifest import ENCODER_INPUTS, VoiceManifest
from tts_contract.request import RequestError
from vits2.config import BERT_VITS2_RELEASES
from vits2.random_voice import DEMO_STYLES, random_style_vectors
from vits2.serving import noise
from vits2.serving.assemble import other_slots
from vits2.serving.path import release_encoder_inputs, steps_for
from vits2.serving.pipeline import FrontendPipeline, voice_parts
from vits2.serving.request import parse_request
from vits2.styles import style_vector

VERSION = {"2.0": "2.0", "2.1": "2.1", "2.2": "2.2", "2.3": "2.3"}
VERSION.update({"sbv2": "2.7.0", "sbv2-jp-extra": "2.7.0-JP-Extra"})


def manifest(release: str) -> VoiceManifest:
    """A voice.json of `release` as `tts-export onnx` writes it (graphs aside)."""
    from vits2.config import model_parts

    parts = model_parts(VERSION[release], release.startswith("sbv2"))
    return VoiceManifest(
        name=f"v{release}",
        sample_rate=44100,
        hop_length=512,
        inter_channels=32,
        gin_channels=32,
        speakers={"a": 0},
        languages=["JP"] if release == "sbv2-jp-extra" else ["ZH", "JP"],
        version=VERSION[release],
        release=release,
        encoder_inputs=release_encoder_inputs(parts.bert_inputs, parts.extra_inputs),
        styles=dict(DEMO_STYLES) if parts.style else {},
    )


VECTORS = random_style_vectors(len(DEMO_STYLES), seed=1)


def pipeline(release: str) -> FrontendPipeline:
    vectors = VECTORS if release.startswith("sbv2") else None
    tokenizer = require(FIXTURES / "bert-configs" / "deberta-v2-large-japanese-char-wwm")
    return FrontendPipeline(manifest(release), {"JP": str(tokenizer)}, style_vectors=vectors)


def request(release: str, **fields):
    voice = manifest(release)
    return parse_request(voice, "你好", language=voice.languages[0], seed=1, **fields)


@pytest.mark.parametrize("release", ["2.0", "2.1", "2.2", "2.3", "sbv2", "sbv2-jp-extra"])
def test_frontend_outputs_are_the_voices_encoder_inputs(release):
    path = steps_for(manifest(release))
    frontend, encoder = path[0], path[1]
    assert encoder.inputs == tuple(manifest(release).encoder_inputs)
    assert set(encoder.inputs) <= set(frontend.outputs)
    conditioning = pipeline(release).conditioning(request(release), 3)
    assert set(conditioning) == set(voice_parts(manifest(release)).extra_inputs)
    for value in conditioning.values():
        assert value.shape[0] == 3
    if release == "sbv2-jp-extra":
        assert "bert_zh" not in frontend.outputs and "bert_en" not in frontend.outputs
    if release in ("2.0", "2.3"):
        assert encoder.inputs == tuple(ENCODER_INPUTS)


def test_conditioning_values_per_release():
    c21 = pipeline("2.1").conditioning(request("2.1", emotion_id=4), 2)
    assert c21["emo_id"].tolist() == [4, 4] and c21["emo_id"].dtype == np.int64
    assert c21["emo"].shape == (2, 1024) and not c21["emo"].any()
    assert pipeline("2.1").conditioning(request("2.1"), 1)["emo_id"].tolist() == [0]
    c22 = pipeline("2.2").conditioning(request("2.2"), 2)
    assert c22["emo"].shape == (2, 512) and not c22["emo"].any()
    sb = pipeline("sbv2").conditioning(request("sbv2", style="Happy", style_weight=2.0), 2)
    assert np.array_equal(sb["style_vec"][1], style_vector(VECTORS, 1, 2.0))
    zero = pipeline("sbv2").conditioning(request("sbv2", style="Sad", style_weight=0.0), 1)
    assert np.array_equal(zero["style_vec"][0], VECTORS[0])  # weight 0 is the neutral style
    by_id = pipeline("sbv2-jp-extra").conditioning(request("sbv2-jp-extra", style="2"), 1)
    assert np.array_equal(by_id["style_vec"][0], style_vector(VECTORS, 2, 1.0))


def _wav(seconds: float, rate: int = 8000, value: float = 0.1) -> bytes:
    import soundfile as sf

    buf = io.BytesIO()
    sf.write(buf, np.full(int(seconds * rate), value, np.float32), rate, format="WAV")
    return buf.getvalue()


def _float_wav_with_nan() -> bytes:
    import soundfile as sf

    buf = io.BytesIO()
    samples = np.array([0.1, np.nan, 0.2] * 1000, np.float32)  # 0.375 s: long enough
    sf.write(buf, samples, 8000, format="WAV", subtype="FLOAT")
    return buf.getvalue()


@pytest.mark.parametrize(
    "release, fields, message",
    [
        ("2.3", {"emotion": "Sad"}, r"EMOTION is not an input of this voice \(release 2.3\)"),
        ("2.0", {"style": "Happy"}, r"its conditioning inputs: none"),
        ("2.2", {"emotion_id": 2}, r"its conditioning inputs: EMOTION, REFERENCE_AUDIO"),
        ("2.1", {"emotion_id": 10}, r"EMOTION_ID must be an integer in \[0, 9\]"),
        ("2.1", {"emotion_id": -1}, r"EMOTION_ID must be an integer in \[0, 9\]"),
        ("2.1", {"emotion_id": 2.5}, r"EMOTION_ID must be an integer"),
        ("sbv2", {"style": "Angry"}, r"unknown STYLE 'Angry'; this voice has: Neutral, Happy, Sad"),
        ("sbv2", {"style_weight": float("nan")}, r"STYLE_WEIGHT must be a number, got nan"),
        ("sbv2", {"style_weight": float("inf")}, r"STYLE_WEIGHT must be in"),
        (
            "2.1",
            {"reference_audio": b"not audio"},
            r"REFERENCE_AUDIO could not be decoded as audio",
        ),
        ("2.2", {"reference_audio": _wav(30.5)}, r"REFERENCE_AUDIO is 30.5 s long; at most 30 s"),
        ("2.2", {"reference_audio": _wav(0.0)}, r"REFERENCE_AUDIO holds no samples"),
        ("2.1", {"reference_audio": _float_wav_with_nan()}, r"REFERENCE_AUDIO contains NaN"),
    ],
)
def test_bad_conditioning_is_a_request_error(release, fields, message):
    with pytest.raises(RequestError, match=message):
        request(release, **fields)


def test_an_embedding_needs_the_voices_emotion_graph():
    req = request("2.2", emotion="Sad")
    with pytest.raises(RequestError, match=r"clap_text emotion graph.*--clap DIR"):
        pipeline("2.2").conditioning(req, 1, emotion=lambda kind, feeds: np.zeros((1, 512)))
    req = request("2.1", reference_audio=_wav(1.0), emotion_id=3)
    assert req.conditioning.reference_audio is not None  # the clip wins over EMOTION_ID
    with pytest.raises(RequestError, match=r"wav2vec2 emotion graph.*--emotion-model DIR"):
        pipeline("2.1").conditioning(req, 1)


@pytest.mark.parametrize("fill", ["zeros", "uniform", "normal"])
def test_other_language_slots_follow_the_release(fill):
    filler = other_slots(fill, 7, 5)
    if fill == "zeros":
        assert filler is None
        return
    assert filler.shape == (3, 1024, 5) and filler.dtype == np.float32
    if fill == "uniform":
        assert filler.min() >= 0 and filler.max() < 1
        assert np.array_equal(filler, noise.bert_uniform(7, 3, 1024, 5))
    else:
        assert np.array_equal(filler, noise.bert_noise(7, 3, 1024, 5))
    assert np.array_equal(other_slots(fill, 7, 9)[:, :, :5], filler)  # padding changes nothing
    fills = {
        v: voice_parts(manifest(v)).other_bert_fill for v in ("2.0", "2.1", "2.2", "2.3", "sbv2")
    }
    assert fills == {"2.0": "zeros", "2.1": "zeros", "2.2": "uniform", "2.3": "normal"} | {
        "sbv2": "zeros"
    }


def test_a_voice_json_whose_release_contradicts_its_version_is_refused():
    voice = manifest("2.1")
    voice.release = "2.2"
    with pytest.raises(ValueError, match="release '2.2' but version '2.1' loads as '2.1'"):
        voice_parts(voice)


@pytest.mark.parametrize("release", ["2.1", "2.2", "sbv2-jp-extra"])
def test_triton_configs_and_tensorrt_profiles_follow_the_release(release):
    from tts_export.tensorrt import default_profiles
    from tts_export.triton_config import encoder_tensors, ensemble_steps, frontend_outputs

    voice = manifest(release)
    emo_dim = voice_parts(voice).emo_dim
    ins, _ = encoder_tensors(32, 32, voice.encoder_inputs, emo_dim)
    assert [t.name for t in ins] == voice.encoder_inputs
    outs = {t.name: t for t in frontend_outputs(steps_for(voice), emo_dim)}
    ensemble = ensemble_steps(voice.name, steps_for(voice))
    profiles = default_profiles(
        "encoder", 8, 256, 512, 4096, encoder_inputs=voice.encoder_inputs, emo_dim=emo_dim
    )
    assert list(profiles) == voice.encoder_inputs
    if emo_dim:
        assert outs["emo"].dims == [-1, emo_dim] and profiles["emo"][2] == (8, emo_dim)
    if release == "2.1":
        assert outs["emo_id"].dims == [-1, 1] and outs["emo_id"].dtype == "TYPE_INT64"
    if release == "sbv2-jp-extra":
        assert '"bert_zh"' not in ensemble and profiles["style_vec"][0] == (1, 256)
    assert BERT_VITS2_RELEASES  # the releases the Bert-VITS2 family loads


@pytest.mark.parametrize("version", ["2.1", "sbv2-jp-extra"])
def test_demo_voice_of_a_release(tmp_path, version):
    from typer.testing import CliRunner

    from tts_export.cli import app
    from vits2.config import VoiceConfig

    require(FIXTURES / "bert-configs")
    args = ["demo-voice", "--out", str(tmp_path), "--tiny", "--version", version]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    cfg = VoiceConfig.from_file(tmp_path / "voice" / "config.json")
    assert cfg.parts.release == version
    berts = sorted(p.name for p in (tmp_path / "bert").iterdir())
    assert berts == (["JP"] if version == "sbv2-jp-extra" else ["EN", "JP", "ZH"])
    assert (tmp_path / "voice" / "style_vectors.npy").is_file() == version.startswith("sbv2")
    bad = CliRunner().invoke(app, ["demo-voice", "--out", str(tmp_path), "--version", "3.0"])
    assert bad.exit_code == 2 and "--version must be one of" in bad.output


def test_export_refuses_emotion_models_and_berts_the_release_lacks(tmp_path):
    from tts_export.voice import ExportOptions, export_voice

    v20 = require(FIXTURES / "bert-vits2-v2.0-tiny" / "G_tiny.pth")
    jp_extra = require(FIXTURES / "style-bert-vits2-jp-extra-tiny" / "G_tiny.pth")
    bert = require(FIXTURES / "bert-configs" / "chinese-roberta-wwm-ext-large")
    with pytest.raises(ValueError, match=r"--clap is for 2.2 voices .*this voice is release 2.0"):
        export_voice(v20, tmp_path / "a", {"ZH": bert}, options=ExportOptions(clap=tmp_path))
    with pytest.raises(ValueError, match="sbv2-jp-extra voice speaks JP only .* drop --bert ZH"):
        export_voice(jp_extra, tmp_path / "b", {"ZH": bert})
    assert not (tmp_path / "a" / "encoder.onnx").exists()


def test_emotion_graph_models_take_their_graphs_tensors_bool_included(tmp_path):
    import onnx
    from onnx import TensorProto, helper

    from tts_export.repository import emotion_graphs
    from tts_runtime.session import GraphSession

    def save(name: str, bool_input: bool) -> str:
        ins = [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["n", 512])]
        if bool_input:
            ins.append(helper.make_tensor_value_info("is_longer", TensorProto.BOOL, ["n", 1]))
        out = helper.make_tensor_value_info("embedding", TensorProto.FLOAT, ["n", 512])
        node = helper.make_node("Identity", ["x"], ["embedding"])
        model = helper.make_model(
            helper.make_graph([node], name, ins, [out]), opset_imports=[helper.make_opsetid("", 17)]
        )
        model.ir_version = 8
        onnx.save(model, tmp_path / name)
        return name

    voice = manifest("2.2")
    voice.emotion_models = {
        "clap_text": {"graph": save("text.onnx", False), "processor": "p"},
        "clap_audio": {"graph": save("audio.onnx", True), "processor": "p"},
    }
    served = emotion_graphs(tmp_path, voice)
    assert sorted(served) == ["clap_audio", "clap_text"]
    ins, outs = served["clap_text"]
    assert [(t.name, t.dtype, t.dims) for t in ins] == [("x", "TYPE_FP32", [512])]
    assert [t.name for t in outs] == ["embedding"]
    assert served["clap_audio"][0][1].dtype == "TYPE_BOOL"
    # the python runtime's graph runner takes the bool input (Triton's python-runtime models)
    session = GraphSession(tmp_path / "audio.onnx")
    assert [i.dtype for i in session.inputs] == [np.float32, np.bool_]
    x = np.ones((1, 512), np.float32)
    out = session.run({"x": x, "is_longer": np.ones((1, 1), bool)})["embedding"]
    np.testing.assert_array_equal(out, x)
