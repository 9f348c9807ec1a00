"""The windowed-vocoder benchmark on a tiny random voice: writes a well-formed result whose
joined windows equal one pass. Never checks timings (they depend on the machine)."""

from __future__ import annotations

import json
import math

import pytest
from typer.testing import CliRunner

from tts_benchmarks.windows import app


def test_windows_benchmark_writes_its_result(tmp_path):
    args = ["--tiny", "--out", str(tmp_path), "--frames", "30", "--window", "4", "--later", "8"]
    args += ["--setting", "onnxruntime:fp32", "--repeats", "1", "--label", "smoke"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, f"{result.output}\n{result.exception!r}"
    data = json.loads((tmp_path / "windows-smoke.json").read_text())
    assert data["context_frames"] == [13, 13] and data["cpu_isa"]
    assert "cpu_flags" in data["machine"]
    (setting,) = data["settings"]
    assert (setting["runtime"], setting["precision"]) == ("onnxruntime", "fp32")
    (row,) = setting["rows"]
    assert row["frames"] == 30 and math.isfinite(row["one_pass_ms"]) and row["flow_ms"] > 0
    assert set(row["first_audio_ms"]) == {"4"}
    (windowed,) = row["windowed"]
    assert windowed["later"] == 8 and windowed["growth"] == 2.0  # WINDOW_GROWTH
    assert windowed["windows"] == 3  # 18 + 8 + 4 frames (the third could have kept 16)
    assert windowed["max_abs_error_vs_one_pass"] <= 1e-4


def test_first_audio_benchmark_on_the_tiny_voice(tmp_path, tiny_voice_dir):
    """Windowed vs per-sentence stream models on a real tritonserver: well-formed tables."""
    from tts_benchmarks.first_audio import app as first_audio

    voice_dir, _ = tiny_voice_dir
    args = ["--voice", str(voice_dir), "--out", str(tmp_path), "--texts", "zh-long"]
    args += ["--repeats", "1", "--whole-texts", "zh-long", "--firsts", "8"]
    args += ["--schedules", "64x1"]  # one stub fewer than the default two schedules
    args += ["--graph-runtime", "onnxruntime"]
    result = CliRunner().invoke(first_audio, args)
    assert result.exit_code == 0, f"{result.output}\n{result.exception!r}"
    data = json.loads((tmp_path / "first_audio.json").read_text())
    assert set(data["first_audio_s"]) == {"before", "after", "first8", "clause24"}
    assert all(s > 0 for s in data["first_audio_s"]["after"]["zh-long"])
    whole = data["whole"]
    labels = {"ensemble", "sentence", "stream", "later64x1", "lookahead", "clause24"}
    assert set(whole) == labels
    # windows: more chunks than zh-long's 4 sentences, fewer with growing windows than fixed
    chunks = {k: whole[k]["zh-long"]["chunks"] for k in whole if k != "ensemble"}
    assert chunks["later64x1"] > chunks["stream"] > chunks["sentence"] == 4
    assert chunks["lookahead"] == chunks["stream"]  # lookahead changes when, not what
    assert all(whole[k]["zh-long"]["stall_s"] >= 0 for k in chunks)
    audio = {k: whole[k]["zh-long"]["audio_s"] for k in whole if k != "clause24"}
    assert max(audio.values()) - min(audio.values()) < 1e-3  # the same audio every way
    # CLAUSE_CHARS 24 cuts zh-long's long sentences: more utterances, other audio
    assert chunks["clause24"] > chunks["stream"] and whole["clause24"]["zh-long"]["audio_s"] > 0
    assert "| zh-long |" in (tmp_path / "first_audio.md").read_text()


def test_isa_benchmark_on_the_tiny_voice(tmp_path, tiny_voice_dir):
    from tts_benchmarks.isa import app as isa

    voice_dir, _ = tiny_voice_dir
    args = ["--voice", str(voice_dir), "--out", str(tmp_path), "--label", "smoke"]
    result = CliRunner().invoke(isa, [*args, "--repeats", "1"])
    assert result.exit_code == 0, f"{result.output}\n{result.exception!r}"
    data = json.loads((tmp_path / "isa-smoke.json").read_text())
    rows = {(r["runtime"], r["precision"]): r for r in data["rows"]}
    assert rows[("onnxruntime", "fp32")]["snr_vs_fp32_db"] == math.inf
    assert rows[("openvino", "fp32")]["snr_vs_fp32_db"] > 40
    assert data["auto"]["reason"].startswith(data["isa"])
    assert isinstance(data["auto_is_fastest_gated"], bool)


def test_floor_benchmark_on_the_tiny_voice(tmp_path, tiny_voice_dir):
    """The first-audio floor per sentence length: stages add up, the floor is below one pass."""
    from tts_benchmarks.floor import STAGES, sentence_of
    from tts_benchmarks.floor import app as floor

    voice_dir, _ = tiny_voice_dir
    args = ["--voice", str(voice_dir), "--out", str(tmp_path), "--zh", "8,40", "--en", "6"]
    result = CliRunner().invoke(floor, [*args, "--repeats", "1"])
    assert result.exit_code == 0, f"{result.output}\n{result.exception!r}"
    data = json.loads((tmp_path / "floor.json").read_text())
    assert "cpu_flags" in data["machine"] and data["first_window_frames"] == 18
    rows = {(r["language"], r["length"]): r for r in data["rows"]}
    assert set(rows) == {("ZH", 8), ("ZH", 40), ("EN", 6)}
    assert rows["ZH", 40]["frames"] > rows["ZH", 8]["frames"]
    for r in rows.values():
        stages = r["stages_s"]
        assert r["floor_s"] == pytest.approx(sum(stages[s] for s in STAGES))
        assert r["one_pass_s"] == pytest.approx(
            r["floor_s"] - stages["first_window"] + stages["whole_vocoder"]
        )
    assert sentence_of("ZH", 8) == "语音合成技术近年。" and sentence_of("EN", 3).endswith(".")
    assert "| ZH | 40 |" in (tmp_path / "floor.md").read_text()
