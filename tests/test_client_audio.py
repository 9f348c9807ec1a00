"""Audio: WAV round trips through stdlib `wave` and `soundfile`, joins with silence."""

from __future__ import annotations

import io
import wave

import numpy as np
import pytest

from tts_client.audio import Audio, silence


def _tone(seconds: float = 0.25, rate: int = 44100) -> Audio:
    t = np.arange(int(seconds * rate)) / rate
    return Audio((0.5 * np.sin(2 * np.pi * 440 * t)).astype(np.float32), rate)


def test_wav_round_trip_with_wave_module():
    a = _tone()
    data = a.to_wav()
    with wave.open(io.BytesIO(data), "rb") as w:
        assert (w.getnchannels(), w.getsampwidth(), w.getframerate()) == (1, 2, 44100)
        assert w.getnframes() == len(a)
    back = Audio.from_wav(data)
    assert back.sample_rate == a.sample_rate and len(back) == len(a)
    assert np.max(np.abs(back.samples - a.samples)) < 1.0 / 32767 + 1e-6
    assert back.duration == pytest.approx(0.25, abs=1e-4)


def test_wav_round_trip_with_soundfile(tmp_path):
    sf = pytest.importorskip("soundfile")
    a = _tone(rate=22050)
    path = tmp_path / "tone.wav"
    a.save(path)
    data, rate = sf.read(path, dtype="float32")
    info = sf.info(path)
    assert rate == 22050 and info.subtype == "PCM_16" and info.channels == 1
    assert np.max(np.abs(data - a.samples)) < 1.0 / 32767 + 1e-6
    # and the other way: soundfile writes 24-bit stereo, from_wav reads it as mono
    stereo = np.stack([a.samples, a.samples], axis=1)
    sf.write(tmp_path / "s24.wav", stereo, 22050, subtype="PCM_24")
    back = Audio.from_wav(tmp_path / "s24.wav")
    assert back.sample_rate == 22050 and np.max(np.abs(back.samples - a.samples)) < 1e-5


def test_clipping_and_dtype():
    a = Audio(np.array([2.0, -2.0, 0.0], dtype=np.float64), 16000)
    assert a.samples.dtype == np.float32
    assert a.to_pcm16().tolist() == [32767, -32767, 0]


def test_join_and_concat_silence_lengths():
    rate = 44100
    a, b, c = (Audio(np.full(n, v, np.float32), rate) for n, v in ((100, 0.1), (50, 0.2), (7, 0.3)))
    joined = Audio.join([a, b, c], silence=0.2)
    gap = int(round(0.2 * rate))
    assert len(joined) == 100 + 50 + 7 + 2 * gap
    assert np.all(joined.samples[100 : 100 + gap] == 0)
    assert np.all(joined.samples[100 + gap : 150 + gap] == np.float32(0.2))
    assert joined.samples[-1] == np.float32(0.3)  # nothing after the last part
    per_gap = a.concat([b, c], silence=0.0)
    assert len(per_gap) == 157
    mixed = Audio.join([a, b, c], silence=[1.0, 0.0])
    assert len(mixed) == 157 + rate
    assert len(a.concat(b)) == 150
    assert len(silence(0.2, rate)) == gap


def test_join_rejects_bad_input():
    a = Audio(np.zeros(10, np.float32), 44100)
    with pytest.raises(ValueError, match="sample rates"):
        Audio.join([a, Audio(np.zeros(10, np.float32), 22050)])
    with pytest.raises(ValueError, match="silence lengths"):
        Audio.join([a, a], silence=[0.1, 0.2])
    with pytest.raises(ValueError, match=">= 0"):
        Audio.join([a, a], silence=-1)
    with pytest.raises(ValueError, match="at least one"):
        Audio.join([])
    with pytest.raises(ValueError, match="sample_rate"):
        Audio(np.zeros(3), 0)
