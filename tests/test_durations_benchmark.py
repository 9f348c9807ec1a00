"""The durations benchmark on the tiny voice: the plan `auto` picks against onnxruntime fp32,
sentence by sentence, well-formed (never checks that they agree: that is what it measures)."""

from __future__ import annotations

import json
import math

from typer.testing import CliRunner


def test_corpus_is_distinct_varied_sentences():
    from tts_benchmarks.durations import corpus

    for language in ("ZH", "EN"):
        texts = corpus(language, 100)
        assert len(texts) == len(set(texts)) == 100
        assert all(t[-1] in "。！？!?." for t in texts)
        assert len({len(t) for t in texts}) > 20  # many lengths


def test_durations_benchmark_on_the_tiny_voice(tmp_path, tiny_voice_dir):
    from tts_benchmarks.durations import app

    voice_dir, _ = tiny_voice_dir
    args = ["--voice", str(voice_dir), "--out", str(tmp_path), "--per-language", "3"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, f"{result.output}\n{result.exception!r}"
    data = json.loads((tmp_path / "durations.json").read_text())
    assert "cpu_flags" in data["machine"] and data["auto"]["reason"]
    languages = set(json.loads((voice_dir / "voice.json").read_text())["bert"])
    assert set(data["summary"]) == languages & {"ZH", "JP", "EN"}
    for row in data["rows"]:
        assert row["frames"] > 0 and row["frames_moved"] >= 0
        assert row["bert_snr_db"] > 0 and not math.isnan(row["m_p_snr_db"])
    for s in data["summary"].values():
        assert s["sentences"] == 3 and 0 <= s["durations_equal"] <= 3
    assert "| ZH | 3 |" in (tmp_path / "durations.md").read_text()
