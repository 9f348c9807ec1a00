"""The `tts` CLI against a real tritonserver serving the tiny voice."""

from __future__ import annotations

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from tts_client.audio import Audio
from tts_client.cli import app
from tts_client.client import TTSClient

pytestmark = pytest.mark.triton

TEXT = "今天天气真不错。我们一起去公园散步吧！"


def test_say_writes_the_same_wav_as_the_client(triton_voice, tmp_path):
    out = tmp_path / "out.wav"
    args = ["say", TEXT, "-o", str(out), "--url", triton_voice.grpc_url, "--seed", "3"]
    args += ["--speaker", "spk1", "--sdp-ratio", "0.5", "--length-scale", "1.2", "--noise-scale", "0.3"]  # fmt: skip
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "RTF" in result.output and "s of audio" in result.output
    got = Audio.from_wav(out.read_bytes())
    with TTSClient(triton_voice.grpc_url) as client:
        want = client.synthesize(
            TEXT, speaker="spk1", sdp_ratio=0.5, length_scale=1.2, noise_scale=0.3, seed=3
        )
    assert got.sample_rate == 44100 and len(got) == len(want)
    assert np.abs(got.samples - np.clip(want.samples, -1, 1)).max() < 2.0 / 32767


def test_say_from_stdin_streaming_over_http(triton_voice, tmp_path):
    out = tmp_path / "streamed.wav"
    args = ["say", "-", "-o", str(out), "--url", triton_voice.http_url, "--protocol", "http"]
    result = CliRunner().invoke(app, [*args, "--stream", "--seed", "1"], input=TEXT + "\n明天见。")
    assert result.exit_code == 0, result.output
    assert "first audio after" in result.output
    audio = Audio.from_wav(out.read_bytes())
    assert audio.sample_rate == 44100 and audio.duration > 1.0


def test_say_reports_bad_input_with_the_server_message(triton_voice, tmp_path):
    args = ["say", TEXT, "-o", str(tmp_path / "x.wav"), "--url", triton_voice.grpc_url]
    result = CliRunner().invoke(app, [*args, "--speaker", "bob"])
    assert result.exit_code == 2
    assert "unknown SPEAKER 'bob'" in result.output and "spk0" in result.output
    assert not (tmp_path / "x.wav").exists()


def test_voices_lists_the_voice(triton_voice):
    result = CliRunner().invoke(app, ["voices", "--url", triton_voice.grpc_url, "--json"])
    assert result.exit_code == 0, result.output
    voices = json.loads(result.output)
    assert [v["name"] for v in voices] == [triton_voice.voice]
    assert voices[0]["ready"] and voices[0]["speakers"]["spk2"] == 2
    table = CliRunner().invoke(
        app, ["voices", "--url", triton_voice.http_url, "--protocol", "http"]
    )
    assert table.exit_code == 0 and triton_voice.voice in table.output


def test_load_unknown_voice_fails_cleanly(triton_voice):
    result = CliRunner().invoke(app, ["load", "nope", "--url", triton_voice.grpc_url])
    assert result.exit_code == 1 and "nope" in result.output
