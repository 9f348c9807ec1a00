"""`tts-export` end to end: onnx (with tiny random BERTs built here), verify, corruption, trt."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import numpy_helper
from typer.testing import CliRunner

import vits2
from tests.fixtures import FIXTURES, TINY, require
from tts_export.cli import app
from tts_export.metadata import CONTRACT_VERSION, VoiceManifest, read_metadata

runner = CliRunner()


def test_export_writes_graphs_sidecar_and_metadata(tiny_voice_dir):
    voice_dir, _ = tiny_voice_dir
    manifest = VoiceManifest.load(voice_dir)
    assert set(manifest.graphs) == {
        "encoder", "decoder", "flow", "vocoder", "bert_zh", "bert_jp", "bert_en"
    }  # fmt: skip
    assert manifest.speakers == {"spk0": 0, "spk1": 1, "spk2": 2}
    assert manifest.precision["encoder"] == "fp32"
    for kind, graph in manifest.graphs.items():
        meta = read_metadata(voice_dir / graph)
        assert meta["contract"] == str(CONTRACT_VERSION)
        assert meta["sample_rate"] == "44100" and meta["hop_length"] == "512"
        assert meta["graph"] == kind.split("_")[0]
    for lang, info in manifest.bert.items():
        assert (voice_dir / info.tokenizer / "tokenizer_config.json").is_file(), lang


def test_verify_passes_on_the_export(tiny_voice_dir):
    voice_dir, _ = tiny_voice_dir
    result = runner.invoke(app, ["verify", str(voice_dir), "--phones", "3", "--phones", "60"])
    assert result.exit_code == 0, result.output
    assert "OK" in result.output and "durations identical" in result.output


def test_verify_fails_on_a_corrupted_graph(tmp_path, tiny_voice_dir):
    voice_dir, _ = tiny_voice_dir
    bad = tmp_path / "bad"
    shutil.copytree(voice_dir, bad)
    model = onnx.load(str(bad / "decoder.onnx"))
    biggest = max(model.graph.initializer, key=lambda t: int(np.prod(t.dims)))
    values = numpy_helper.to_array(biggest).copy()
    values *= 1.05
    biggest.CopyFrom(numpy_helper.from_array(values, biggest.name))
    onnx.save(model, str(bad / "decoder.onnx"))
    result = runner.invoke(app, ["verify", str(bad), "--phones", "20"])
    assert result.exit_code == 1, result.output
    assert "FAILED" in result.output and "BAD decoder" in result.output


def test_onnx_command_refuses_bad_bert_argument(tmp_path):
    result = runner.invoke(
        app,
        [
            "onnx",
            "--checkpoint",
            str(require(TINY / "G_tiny.pth")),
            "--out",
            str(tmp_path),
            "--bert",
            "FR=/nowhere",
        ],
    )
    assert result.exit_code == 2
    assert "LANG=DIR with LANG one of ZH, JP, EN" in result.output


def test_trt_command_says_why_it_cannot_build(tiny_voice_dir, tmp_path):
    from tts_export.tensorrt import tensorrt_available

    ok, why = tensorrt_available()
    if ok:
        pytest.skip("TensorRT and a GPU are present: the real builder tests cover this")
    result = runner.invoke(app, ["trt", str(tiny_voice_dir[0]), "--out", str(tmp_path)])
    assert result.exit_code == 1
    assert "cannot build TensorRT engines here" in result.output


def test_packaged_bert_configs_are_the_fixture_files():
    """demo-voice reads BERT configs/tokenizers shipped in the package, not ../shared: the
    copies must stay byte-identical to upstream's fixture files (real vocabularies)."""
    from vits2.random_bert import BERT_KINDS, default_config_root

    root = default_config_root()
    assert root.is_relative_to(Path(vits2.__file__).parent), root
    shared = require(FIXTURES / "bert-configs")
    for folder in BERT_KINDS.values():
        fixture_files = sorted(p.name for p in (shared / folder).iterdir())
        assert fixture_files, folder
        packaged = {p.name for p in (root / folder).iterdir()}
        assert packaged == set(fixture_files) | {"SOURCE.txt"}, folder
        for name in fixture_files:
            assert (root / folder / name).read_bytes() == (shared / folder / name).read_bytes()


def test_random_bert_names_what_a_config_root_must_hold(tmp_path):
    from vits2.random_bert import make_random_bert

    with pytest.raises(FileNotFoundError, match="leave config_root unset"):
        make_random_bert("ZH", tmp_path / "out", config_root=tmp_path)
