"""Text -> wav with the PyTorch reference, on the tiny upstream checkpoint and tiny BERTs."""

from __future__ import annotations

import numpy as np
import pytest

from tests.fixtures import TINY as TINY_VOICE
from tests.fixtures import require
from vits2.synthesize import Synthesizer, synthesize


@pytest.fixture(scope="module")
def checkpoint():
    return require(TINY_VOICE / "G_tiny.pth")


@pytest.fixture(scope="module")
def synth(checkpoint, tiny_bert_dirs):
    return Synthesizer(checkpoint, tiny_bert_dirs)


def test_text_to_wav_roundtrip(checkpoint, tiny_bert_dirs, tmp_path):
    import soundfile as sf

    out = tmp_path / "out.wav"
    audio, sr = synthesize(
        "你好，世界。Hello world!",
        checkpoint,
        tiny_bert_dirs,
        speaker="spk1",
        language="AUTO",
        seed=3,
        output=out,
    )
    assert sr == 44100
    assert audio.dtype == np.float32 and audio.ndim == 1 and len(audio) > 0
    data, rate = sf.read(str(out), dtype="float32")
    info = sf.info(str(out))
    assert rate == 44100 and info.subtype == "PCM_16" and info.channels == 1
    assert len(data) == len(audio)
    np.testing.assert_allclose(data, np.clip(audio, -1, 1), atol=1.0 / 32767 + 1e-6)


def test_same_seed_same_audio(synth):
    kwargs = dict(speaker="spk0", language="ZH", sdp_ratio=0.5, noise_scale=0.6)
    a = synth("你好。", seed=11, **kwargs)
    b = synth("你好。", seed=11, **kwargs)
    c = synth("你好。", seed=12, **kwargs)
    np.testing.assert_array_equal(a.audio, b.audio)
    assert not np.array_equal(a.audio, c.audio)


def test_sentences_are_joined_with_pauses(synth):
    res = synth("你好。是吗？\n对。", speaker="spk2", language="ZH", seed=0)
    assert [s.pause_after for s in res.sentences] == [0.2, 1.0, 0.0]
    hop = synth.model.config.data.hop_length
    frames = sum(int(d.sum()) for d in res.durations)
    pauses = int(round(0.2 * 44100)) + int(round(1.0 * 44100))
    assert len(res.audio) == frames * hop + pauses


@pytest.mark.parametrize("language", ["JP", "MIX"])
def test_other_languages(synth, language):
    text = "こんにちは、世界。" if language == "JP" else "[ZH]你好[EN]hello[JP]はい"
    res = synth(text, speaker=0, language=language, seed=1)
    assert len(res.audio) > 0 and np.isfinite(res.audio).all()


def test_bad_requests(synth):
    with pytest.raises(
        ValueError, match="unknown SPEAKER 'nobody'; this voice has: spk0, spk1, spk2"
    ):
        synth("你好", speaker="nobody")
    with pytest.raises(ValueError, match="SDP_RATIO must be in"):
        synth("你好", speaker="spk0", sdp_ratio=2.0)
    with pytest.raises(ValueError, match="allowed"):
        synth("你好", speaker="spk0", language="KO")


def test_cli_say(checkpoint, tiny_bert_dirs, tmp_path):
    import soundfile as sf
    from typer.testing import CliRunner

    from vits2.cli import app

    out = tmp_path / "cli.wav"
    args = ["say", "Hello world.", "--checkpoint", str(checkpoint), "-l", "EN", "-o", str(out)]
    args += ["--bert", f"EN={tiny_bert_dirs['EN']}", "--speaker", "spk0"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "RTF" in result.output
    assert sf.info(str(out)).samplerate == 44100
    bad = CliRunner().invoke(app, args[:-2] + ["--speaker", "nobody"])
    assert bad.exit_code == 2 and "unknown SPEAKER" in bad.output


def test_frontend_warm_up_loads_every_language_of_the_voice(tiny_voice_dir):
    """The Triton frontend models call this in initialize, so that the first request does not
    load jieba's dictionary and the g2p models."""
    import jieba

    from vits2.serving.pipeline import FrontendPipeline

    pipeline = FrontendPipeline.from_voice_dir(tiny_voice_dir[0])
    assert pipeline.warmup() >= 0
    assert jieba.dt.initialized
    assert set(pipeline.voice.languages) >= {"ZH"}
