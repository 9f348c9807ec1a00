"""The windowed-vocoder benchmark on a tiny random voice: writes a well-formed result whose
joined windows equal one pass. Never checks timings (they depend on the machine)."""

from __future__ import annotations

import json
import math

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
    assert windowed["later"] == 8 and windowed["windows"] == 3  # 18 + 8 + 4 frames
    assert windowed["max_abs_error_vs_one_pass"] <= 1e-4
