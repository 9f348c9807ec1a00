"""The benchmark harness in quick mode, end to end: tiny random voice, real PyTorch,
in-process graphs, a real tritonserver (gRPC, HTTP, streaming). Checks that every output is
written and well-formed; never checks timings (they depend on the machine)."""

from __future__ import annotations

import base64
import json
import math
from pathlib import Path

import numpy as np
import pytest

from tests.fixtures import FIXTURES, require

pytestmark = [pytest.mark.triton, pytest.mark.slow]

QUICK_TEXTS = ("zh-short", "en-short")
STAT_FIELDS = ("queue_ms", "compute_input_ms", "compute_infer_ms", "compute_output_ms")


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory) -> Path:
    require(FIXTURES / "bert-configs")  # random BERTs are built from its configs
    from typer.testing import CliRunner

    from tts_benchmarks.run import app

    out = tmp_path_factory.mktemp("bench")
    result = CliRunner().invoke(app, ["--quick", "--out", str(out)])
    assert result.exit_code == 0, f"{result.output}\n{result.exception!r}"
    assert "done in" in result.output and "RTF" in result.output
    return out


def _finite(x) -> bool:
    return isinstance(x, float) and math.isfinite(x)


def test_results_json_holds_every_subject(quick_run):
    results = json.loads((quick_run / "results.json").read_text())
    assert results["mode"] == "quick"
    machine = results["machine"]
    assert machine["cpu_model"] and machine["logical_cpus"] >= 1 and machine["python"]
    for lib in ("torch", "onnxruntime", "openvino"):
        assert machine["versions"][lib]
    assert machine["tritonserver"]

    subjects = results["subjects"]
    inprocess = [k for k in subjects if k.startswith("inprocess-")]
    assert {"pytorch", "triton-grpc", "triton-stream"} <= set(subjects) and len(inprocess) == 1
    for name, data in subjects.items():
        assert set(data["per_text"]) == set(QUICK_TEXTS), name
        for row in data["per_text"].values():
            assert row["errors"] == 0, name
            assert row["audio_s"] > 0
            for key in ("p50", "p90", "p99"):
                assert _finite(row["latency_s"][key]) and row["latency_s"][key] > 0
                assert _finite(row["rtf"][key])
    stages = subjects[inprocess[0]]["per_text"]["zh-short"]["stages_s"]
    assert {"frontend", "bert", "encoder", "decoder"} <= set(stages)
    assert {"frontend", "bert", "acoustic"} <= set(
        subjects["pytorch"]["per_text"]["zh-short"]["stages_s"]
    )
    first = subjects["triton-stream"]["per_text"]["zh-short"]["first_audio_s"]["p50"]
    assert _finite(first) and first > 0

    for protocol in ("grpc", "http"):
        rows = results["sweep"][protocol]
        assert [r["concurrency"] for r in rows] == [1, 2]
        for r in rows:
            assert r["errors"] == 0 and r["throughput_audio_s_per_s"] > 0
    stats = results["server_stats"]["grpc per text, concurrency 1"]
    assert any(name.endswith("_decoder") for name in stats)
    for row in stats.values():
        assert row["requests"] >= 1 and all(_finite(row[f]) for f in STAT_FIELDS)
    assert len(results["targets"]) == 3


def test_markdown_has_a_row_per_measurement(quick_run):
    md = (quick_run / "results.md").read_text()
    assert "lower is better" in md
    for header in (
        "## Machine",
        "## Per text",
        "## Concurrency sweep",
        "## Triton queue",
        "## Targets",
    ):
        assert header in md
    rows = [line for line in md.splitlines() if line.startswith("| ")]
    for subject in ("pytorch", "triton-grpc", "triton-stream"):
        for text in QUICK_TEXTS:
            assert any(r.startswith(f"| {subject} | {text} |") for r in rows), (subject, text)
    for protocol in ("grpc", "http"):
        for c in (1, 2):
            assert any(r.startswith(f"| {protocol} | {c} |") for r in rows), (protocol, c)
    # every table row has as many cells as its header
    tables, current = [], []
    for line in md.splitlines() + [""]:
        if line.startswith("|"):
            current.append(line.count("|"))
        elif current:
            tables.append(current)
            current = []
    assert tables and all(len(set(t)) == 1 for t in tables)


def test_plots_are_readable_pngs(quick_run):
    from PIL import Image

    results = json.loads((quick_run / "results.json").read_text())
    expected = {"latency_vs_concurrency.png", "throughput_vs_concurrency.png", "stages.png"}
    assert set(results["plots"]) == expected
    for name in expected:
        with Image.open(quick_run / name) as img:
            assert img.format == "PNG" and img.size[0] > 100 and img.size[1] > 100
            img.load()


def test_perf_analyzer_inputs_decode_to_their_shapes(quick_run):
    folder = quick_run / "perf_analyzer"
    files = sorted(folder.glob("*.json"))
    names = {f.stem for f in files}
    voice = "bench_tiny"
    for suffix in (
        "",
        "_frontend",
        "_stream",
        "_bert_zh",
        "_encoder",
        "_noise",
        "_decoder",
        "_join",
    ):
        assert f"{voice}{suffix}" in names
    dtypes = {"int": np.int64, "float": np.float32}
    for f in files:
        data = json.loads(f.read_text())["data"]
        assert data, f
        for entry in data:
            for name, tensor in entry.items():
                content = tensor["content"]
                if isinstance(content, dict):
                    raw = base64.b64decode(content["b64"])
                    count = int(np.prod(tensor["shape"]))
                    assert len(raw) in (count * 4, count * 8), (f.name, name)
                else:
                    assert len(content) == int(np.prod(tensor["shape"]))
    encoder = json.loads((folder / f"{voice}_encoder.json").read_text())["data"][0]
    phones = encoder["phone_lengths"]
    assert phones["shape"] == [1]
    length = int(np.frombuffer(base64.b64decode(phones["content"]["b64"]), dtypes["int"])[0])
    assert encoder["phones"]["shape"] == [length]
    assert encoder["bert_zh"]["shape"] == [1024, length]
    commands = (folder / "commands.sh").read_text()
    assert f"perf_analyzer -m {voice} " in commands and "--streaming" in commands


def test_levers_quick_measures_every_graph_setting(quick_run, tmp_path):
    """`tts_benchmarks.levers --quick --no-server` on the quick run's tiny voice: every graph
    setting, the decoder variants (ConvTranspose, int8) and the sentence-batching ways."""
    from typer.testing import CliRunner

    from tts_benchmarks.levers import DECODER_VARIANTS, SETTINGS, app

    args = ["--quick", "--no-server", "--out", str(tmp_path), "--cache", str(quick_run / "cache")]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, f"{result.output}\n{result.exception!r}"
    levers = json.loads((tmp_path / "levers.json").read_text())
    rows = {(r["graph"], r["setting"]): r for r in levers["graphs"]}
    expected = [("bert_zh", s.label) for s in SETTINGS] + [
        ("decoder", s.label) for s in SETTINGS + DECODER_VARIANTS
    ]
    assert sorted(rows) == sorted(expected)
    for row in rows.values():
        assert _finite(row["ms_mean"]) and row["ms_mean"] > 0 and row["calls"] > 0
    for variant in DECODER_VARIANTS:  # same audio up to float rounding / quantization
        assert rows[("decoder", variant.label)]["snr_db_vs_ort_fp32"] > 20
    padding = levers["padding"]
    assert len(padding["ms"]) == 4 and all(ms > 0 for ms in padding["ms"].values())
    assert sum(len(g) for g in padding["groups"]["0.0"]) == padding["sentences"]
    shapes = levers["shapes"]
    assert shapes["sentences"] >= 2 and all(sec > 0 for sec in shapes["seconds"].values())
    text = (tmp_path / "levers.md").read_text()
    assert "## Graph levers" in text and "## Sentence batching" in text
    assert "## Shape plan" in text
