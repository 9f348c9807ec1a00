"""The `tts` CLI against a real tritonserver serving the tiny voice."""

from __future__ import annotations

import json
import re

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
    # the voices, not the component models Triton lists (tiny_frontend, tiny_bert_zh, ...)
    assert f"its voices: {triton_voice.voice}" in result.output, result.output
    assert f"{triton_voice.voice}_" not in result.output, result.output


def test_say_names_the_voices_when_the_voice_is_unknown(triton_voice, tmp_path):
    out = tmp_path / "x.wav"
    args = ["say", TEXT, "-o", str(out), "--url", triton_voice.grpc_url, "--voice", "nope"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 1 and "no voice 'nope'" in result.output, result.output
    assert f"its voices: {triton_voice.voice}" in result.output
    assert not out.exists()


def test_say_checks_the_output_path_before_any_work(tmp_path):
    # no server behind the URL: the output check must come first, with no traceback
    args = ["say", TEXT, "--url", "127.0.0.1:9", "-o", str(tmp_path / "missing" / "x.wav")]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 2, result.output
    said = _plain(result.output)  # typer boxes and wraps a usage error
    assert "-o / --output" in said and "the folder" in said and "does not exist" in said, said
    assert "Traceback" not in result.output
    folder = CliRunner().invoke(app, ["say", TEXT, "--url", "127.0.0.1:9", "-o", str(tmp_path)])
    assert folder.exit_code == 2 and "is a folder" in _plain(folder.output), folder.output


def _plain(output: str) -> str:
    """A CLI's output without rich's box drawing and line wrapping."""
    return " ".join(re.sub(r"[│╭╮╰╯─]", " ", output).split())


def test_http_against_the_grpc_port_names_the_likely_mistake(triton_voice):
    args = ["voices", "--url", triton_voice.grpc_url, "--protocol", "http"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 1, result.output
    assert "is it Triton's gRPC port?" in result.output and "Traceback" not in result.output


def test_load_shows_progress_while_the_models_load(triton_voice, monkeypatch):
    from tts_client import loading

    monkeypatch.setattr(loading, "LOAD_REPORT_S", 0.0)  # a line per poll (a log: no terminal)
    name = triton_voice.voice
    with TTSClient(triton_voice.grpc_url, timeout=300) as client:
        client.unload_voice(name)
        try:
            assert not {v.name: v for v in client.voices()}[name].release  # unknown unloaded
            result = CliRunner().invoke(app, ["load", name, "--url", triton_voice.grpc_url])
        finally:
            if not client.ready(name):  # the other tests share this server's voice
                client.load_voice(name)
        assert result.exit_code == 0, result.output
        assert f"loading {name}: " in result.output and " models ready after " in result.output
        assert f"loaded {name} (" in result.output
        assert client.voice_info(name, refresh=True).release == "2.3"
