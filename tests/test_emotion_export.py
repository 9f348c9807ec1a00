"""Emotion models as graphs (`tts-export emotion`): CLAP text and audio (2.2) and the wav2vec2
emotion model (2.1), exported from tiny random folders with the real configs and processor
files, run with onnxruntime on `EmotionFeeds`' feeds and compared with transformers' models
computed as upstream computes the embedding (max abs <= 1e-4); batched equals unbatched."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest
import soundfile as sf
import torch
from typer.testing import CliRunner

from tests.fixtures import small_manifest
from tts_contract.manifest import VoiceManifest
from tts_contract.request import Limits
from tts_export.cli import app
from tts_export.emotion import add_emotion_models
from tts_export.metadata import read_metadata
from vits2.random_emotion import make_tiny_clap, make_tiny_wav2vec2
from vits2.serving.emotion import EMOTION_DIMS, EMOTION_GRAPHS, EmotionFeeds, run_embedding

TOL = 1e-4
MAX_SECONDS = Limits().max_reference_seconds


def _manifest(root: Path, release: str) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    small_manifest(release, name=root.name).save(root)
    return root


def _speechlike(seconds: float, rate: int, seed: int) -> bytes:
    """A voiced-sounding clip (harmonics with vibrato and an envelope, a little noise)."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(rate * seconds)) / rate
    f0 = 140 + 20 * np.sin(2 * np.pi * 3 * t)
    phase = 2 * np.pi * np.cumsum(f0) / rate
    wav = sum(np.sin(k * phase) / k for k in range(1, 12)) * (0.5 + 0.5 * np.sin(2 * np.pi * t))
    wav = 0.2 * wav + 0.01 * rng.standard_normal(t.shape)
    buf = io.BytesIO()
    sf.write(buf, wav.astype(np.float32), rate, format="WAV", subtype="PCM_16")
    return buf.getvalue()


@pytest.fixture(scope="module")
def models(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("emotion-models")
    return {
        "clap": make_tiny_clap(root / "clap-htsat-fused"),
        "wav2vec2": make_tiny_wav2vec2(root / "wav2vec2-large-robust-12-ft-emotion-msp-dim"),
    }


@pytest.fixture(scope="module")
def voices(tmp_path_factory, models) -> dict[str, Path]:
    """A 2.2 voice given CLAP by `tts-export emotion`, a 2.1 voice given wav2vec2 by the API."""
    root = tmp_path_factory.mktemp("emotion-voices")
    v22 = _manifest(root / "v22", "2.2")
    result = CliRunner().invoke(app, ["emotion", str(v22), "--clap", str(models["clap"])])
    assert result.exit_code == 0, result.output
    assert "emotion graphs clap_audio, clap_text" in " ".join(result.output.split())
    v21 = _manifest(root / "v21", "2.1")
    add_emotion_models(v21, wav2vec2=models["wav2vec2"])
    return {"2.2": v22, "2.1": v21}


def _session(voice: Path, kind: str) -> ort.InferenceSession:
    graph = VoiceManifest.load(voice).emotion_models[kind]["graph"]
    return ort.InferenceSession(str(voice / graph), providers=["CPUExecutionProvider"])


def _feeds(voice: Path) -> EmotionFeeds:
    return EmotionFeeds(voice, VoiceManifest.load(voice))


def test_manifest_lists_graphs_and_processors(voices):
    for release, kinds in (("2.2", ("clap_audio", "clap_text")), ("2.1", ("wav2vec2",))):
        voice = voices[release]
        entries = VoiceManifest.load(voice).emotion_models
        assert sorted(entries) == list(kinds)
        for kind in kinds:
            entry = entries[kind]
            assert entry["graph"] == f"emotion/{kind}.onnx"
            assert (voice / entry["processor"] / "preprocessor_config.json").is_file()
            assert (voice / entry["processor"] / "SOURCE.txt").is_file()
            assert not list((voice / entry["processor"]).glob("*.safetensors"))
            meta = read_metadata(voice / entry["graph"])
            assert meta["kind"] == kind and meta["release"] == release
            assert meta["embedding_dim"] == str(EMOTION_DIMS[kind])
            session = _session(voice, kind)
            inputs, outputs = EMOTION_GRAPHS[kind]
            assert [i.name for i in session.get_inputs()] == list(inputs)
            assert [o.name for o in session.get_outputs()] == list(outputs)


def test_clap_text_graph_equals_transformers(voices, models):
    from transformers import ClapModel, ClapProcessor

    model = ClapModel.from_pretrained(models["clap"]).eval()
    session, feeds = _session(voices["2.2"], "clap_text"), _feeds(voices["2.2"])
    prompts = ["Happy", "a sad and tired voice, whispering", "Angry"]
    singles = []
    for prompt in prompts:
        got = run_embedding(session.run, "clap_text", feeds.text(prompt))
        inputs = ClapProcessor.from_pretrained(models["clap"])(text=prompt, return_tensors="pt")
        with torch.no_grad():
            want = model.get_text_features(**inputs).pooler_output[0].numpy()
        assert got.shape == (EMOTION_DIMS["clap_text"],)
        np.testing.assert_allclose(got, want, rtol=0, atol=TOL)
        assert abs(float(np.linalg.norm(got)) - 1) < 1e-5
        singles.append(got)
    batch = ClapProcessor.from_pretrained(models["clap"])(
        text=prompts, padding=True, return_tensors="np"
    )
    (batched,) = session.run(
        None, {k: batch[k].astype(np.int64) for k in EMOTION_GRAPHS["clap_text"][0]}
    )
    np.testing.assert_allclose(batched, np.stack(singles), rtol=0, atol=TOL)


def test_clap_audio_graph_equals_transformers(voices, models):
    from transformers import ClapModel

    model = ClapModel.from_pretrained(models["clap"]).eval()
    session, feeds = _session(voices["2.2"], "clap_audio"), _feeds(voices["2.2"])
    all_feeds, singles = [], []
    for seconds, rate in ((1.5, 44100), (12.0, 22050)):  # repeat-padded; fusion of chunks
        f = feeds.audio("clap_audio", _speechlike(seconds, rate, 1), MAX_SECONDS)
        got = run_embedding(session.run, "clap_audio", f)
        with torch.no_grad():
            want = model.get_audio_features(
                input_features=torch.from_numpy(f["input_features"]),
                is_longer=torch.from_numpy(f["is_longer"]),
            ).pooler_output[0]
        np.testing.assert_allclose(got, want.numpy(), rtol=0, atol=TOL)
        all_feeds.append(f)
        singles.append(got)
    (batched,) = session.run(
        None,
        {k: np.concatenate([f[k] for f in all_feeds]) for k in EMOTION_GRAPHS["clap_audio"][0]},
    )
    np.testing.assert_allclose(batched, np.stack(singles), rtol=0, atol=TOL)


def test_wav2vec2_graph_equals_upstream_mean_hidden_state(voices, models):
    """Upstream's EmotionModel: wav2vec2(input_values)[0].mean(1), no attention mask."""
    from transformers import Wav2Vec2Model

    model = Wav2Vec2Model.from_pretrained(models["wav2vec2"]).eval()
    session, feeds = _session(voices["2.1"], "wav2vec2"), _feeds(voices["2.1"])
    clips = [
        feeds.audio("wav2vec2", _speechlike(s, r, 2), MAX_SECONDS)
        for s, r in ((1.2, 48000), (0.7, 16000))
    ]
    singles = []
    for f in clips:
        got = run_embedding(session.run, "wav2vec2", f)
        with torch.no_grad():
            want = model(torch.from_numpy(f["input_values"])).last_hidden_state.mean(1)[0]
        np.testing.assert_allclose(got, want.numpy(), rtol=0, atol=TOL)
        singles.append(got)
    # padded batch: zeros past each clip and its attention_mask, as the extractor pads
    n = max(f["input_values"].shape[1] for f in clips)
    values = np.zeros((len(clips), n), np.float32)
    mask = np.zeros((len(clips), n), np.int64)
    for i, f in enumerate(clips):
        values[i, : f["input_values"].shape[1]] = f["input_values"][0]
        mask[i, : f["input_values"].shape[1]] = 1
    (batched,) = session.run(None, {"input_values": values, "attention_mask": mask})
    np.testing.assert_allclose(batched, np.stack(singles), rtol=0, atol=TOL)


def test_emotion_model_must_fit_the_release(tmp_path, models):
    v23 = _manifest(tmp_path / "v23", "2.3")
    v21 = _manifest(tmp_path / "v21", "2.1")
    v22 = _manifest(tmp_path / "v22", "2.2")
    with pytest.raises(
        ValueError, match="release-2.3 voice; the clap emotion model serves release 2.2"
    ):
        add_emotion_models(v23, clap=models["clap"])
    with pytest.raises(ValueError, match="release-2.1 voice; the clap"):
        add_emotion_models(v21, clap=models["clap"])
    with pytest.raises(ValueError, match="wav2vec2 emotion model serves release 2.1"):
        add_emotion_models(v22, wav2vec2=models["wav2vec2"])
    with pytest.raises(ValueError, match="nothing to add"):
        add_emotion_models(v22)
    with pytest.raises(ValueError, match="holds a 'clap' model; expected 'wav2vec2'"):
        add_emotion_models(v21, wav2vec2=models["clap"])
    with pytest.raises(FileNotFoundError, match="no config.json"):
        add_emotion_models(v22, clap=tmp_path)
    assert VoiceManifest.load(v22).emotion_models == {}


def test_cli_emotion_refuses_a_model_of_another_release(tmp_path, models):
    v21 = _manifest(tmp_path / "v21", "2.1")
    result = CliRunner().invoke(app, ["emotion", str(v21), "--clap", str(models["clap"])])
    assert result.exit_code == 2
    assert "serves release 2.2 voices only" in " ".join(result.output.split())
