"""Windowed stream audio delivered to users, against the session tritonserver (tiny voice):
`tts say --stream` writes the WAV as chunks arrive (file, stdout, a player), and the gateway's
streaming responses (OpenAI speech, upstream /voice) send one piece per vocoder window."""

from __future__ import annotations

import stat
import struct
import time

import numpy as np
import pytest
from typer.testing import CliRunner

from tts_client.audio import Audio
from tts_client.cli import _say_streamed, app
from tts_client.client import TTSClient
from tts_client.planner import SynthesisParams

pytestmark = pytest.mark.triton

TEXT = "你好，世界。今天天气真不错，我们一起去公园散步吧！\n明天见？谢谢你。"
SENTENCES = 4


def _say(triton_voice, *args: str, env: dict | None = None):
    base = ["say", TEXT, "--url", triton_voice.grpc_url, "--seed", "5", "--speaker", "spk1"]
    return CliRunner().invoke(app, [*base, *args], env=env)


@pytest.fixture(scope="module")
def whole(triton_voice, tmp_path_factory) -> Audio:
    """`tts say` without --stream: one request, the reference the streamed outputs equal."""
    out = tmp_path_factory.mktemp("say") / "whole.wav"
    result = _say(triton_voice, "-o", str(out))
    assert result.exit_code == 0, result.output
    return Audio.from_wav(out.read_bytes())


def test_say_stream_writes_the_same_wav(triton_voice, whole, tmp_path):
    out = tmp_path / "streamed.wav"
    result = _say(triton_voice, "--stream", "-o", str(out))
    assert result.exit_code == 0, result.output
    assert "first audio after" in result.output
    data = out.read_bytes()  # the header's sizes were fixed at the end
    assert struct.unpack("<I", data[4:8])[0] == len(data) - 8
    assert struct.unpack("<I", data[40:44])[0] == len(data) - 44
    got = Audio.from_wav(data)
    assert got.sample_rate == whole.sample_rate and len(got) == len(whole)
    assert np.abs(got.samples - whole.samples).max() <= 1e-4


def test_say_stream_to_stdout_is_a_streaming_wav(triton_voice, whole):
    result = _say(triton_voice, "--stream", "-o", "-")
    assert result.exit_code == 0, result.stderr
    data = result.stdout_bytes
    assert data[:4] == b"RIFF" and data[8:16] == b"WAVEfmt "
    assert struct.unpack("<I", data[40:44])[0] == 0xFFFFFFFF  # length unknown when sent
    assert struct.unpack("<I", data[24:28])[0] == whole.sample_rate
    pcm = np.frombuffer(data[44:], "<i2")
    assert len(pcm) == len(whole)
    assert np.abs(pcm / 32768.0 - whole.samples).max() <= 1e-4
    assert "first audio after" in result.stderr


class _Watching(TTSClient):
    """The real client; records the output file's size each time a chunk arrives."""

    path = None
    sizes: list[int] = []

    def stream(self, *args, **kwargs):
        for chunk in super().stream(*args, **kwargs):
            self.sizes.append(self.path.stat().st_size)
            yield chunk


def test_say_stream_file_grows_while_chunks_arrive(triton_voice, whole, tmp_path):
    from rich.progress import Progress

    out = tmp_path / "growing.wav"
    with _Watching(triton_voice.grpc_url) as client, Progress(disable=True) as bar:
        client.path, client.sizes = out, []
        params = SynthesisParams(speaker="spk1", seed=5)
        audio, first = _say_streamed(
            client, TEXT, None, params, out, False, bar, time.perf_counter()
        )
    sizes = client.sizes
    assert len(sizes) > SENTENCES, "chunks per vocoder window, not per sentence"
    assert sizes[0] == 0  # opened, nothing yet
    assert all(a < b for a, b in zip(sizes[1:], sizes[2:], strict=False))
    assert 44 < sizes[1] < sizes[-1] < out.stat().st_size  # written before the last arrived
    assert np.abs(audio.samples - whole.samples).max() <= 1e-4


def test_say_play_pipes_pcm_to_a_player(triton_voice, whole, tmp_path):
    """A stand-in `aplay` on PATH (a shell script keeping what it is fed and its arguments)."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    player = bin_dir / "aplay"
    fed, argv = tmp_path / "fed.pcm", tmp_path / "argv.txt"
    player.write_text(f'#!/bin/sh\necho "$@" > {argv}\n/bin/cat > {fed}\n')
    player.chmod(player.stat().st_mode | stat.S_IEXEC)
    result = _say(triton_voice, "--play", "-o", str(tmp_path / "x.wav"), env={"PATH": str(bin_dir)})
    assert result.exit_code == 0, result.output
    assert f"-r {whole.sample_rate}" in argv.read_text()
    pcm = np.frombuffer(fed.read_bytes(), "<i2")
    assert len(pcm) == len(whole)
    assert np.abs(pcm / 32768.0 - whole.samples).max() <= 1e-4


def test_say_play_without_a_player_says_what_to_install(triton_voice, tmp_path):
    result = _say(
        triton_voice, "--play", "-o", str(tmp_path / "x.wav"), env={"PATH": str(tmp_path)}
    )
    assert result.exit_code == 1
    assert "aplay, ffplay, paplay" in result.output and "install one" in result.output
