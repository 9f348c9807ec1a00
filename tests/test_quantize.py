"""int8 decoder: `tts-export quantize`, its graph on both runtimes, the repository and a real
tritonserver serving it. Quality is checked as SNR against the fp32 decoder's audio."""

from __future__ import annotations

import shutil

import numpy as np
import onnx
import pytest
from typer.testing import CliRunner

from tests.triton_fixtures import infer_http, wait_unloaded
from tts_export.cli import app
from tts_export.metadata import VoiceManifest
from tts_export.quantize import INT8_GRAPH, quantize_decoder
from tts_export.repository import RepositoryOptions, write_repository
from tts_export.verify import snr_db
from tts_runtime.inprocess import VoiceGraphs

MIN_SNR_DB = 25.0
TEXT = "我们明天一起去图书馆看书，好不好？"


@pytest.fixture(scope="module")
def int8_voice(tmp_path_factory, tiny_voice_dir):
    """A copy of the tiny voice (the shared one stays float-only) with its int8 decoder."""
    voice = tmp_path_factory.mktemp("int8") / "tiny_int8"
    shutil.copytree(tiny_voice_dir[0], voice)
    result = CliRunner().invoke(app, ["quantize", "--voice", str(voice)])
    assert result.exit_code == 0, result.output
    assert "SNR" in result.output
    return voice


def test_quantize_writes_a_qdq_graph_and_records_its_snr(int8_voice):
    manifest = VoiceManifest.load(int8_voice)
    entry = manifest.variants["decoder"]["int8"]
    assert entry["graph"] == INT8_GRAPH and entry["snr_db"] >= MIN_SNR_DB
    assert entry["calibration_sentences"] > 0
    graph = onnx.load(str(int8_voice / INT8_GRAPH), load_external_data=False)
    ops = [n.op_type for n in graph.graph.node]
    assert ops.count("QuantizeLinear") > 10 and ops.count("DequantizeLinear") > 10
    meta = {p.key: p.value for p in graph.metadata_props}
    assert meta["graph"] == "decoder" and meta["precision"] == "int8"
    assert manifest.graphs["decoder"] == "decoder.onnx"  # the float graph stays the default


@pytest.mark.parametrize("runtime", ["onnxruntime", "openvino"])
def test_int8_decoder_tracks_fp32_on_unseen_text(int8_voice, runtime):
    fp32 = VoiceGraphs(int8_voice, runtime)
    int8 = VoiceGraphs(int8_voice, runtime, {"decoder": "int8"})
    assert int8.precision["decoder"] == "int8" and int8.precision["encoder"] == "fp32"
    a, b = {}, {}
    ref = fp32.synthesize(TEXT, seed=3, capture=a)
    got = int8.synthesize(TEXT, seed=3, capture=b)
    assert got.shape == ref.shape
    np.testing.assert_array_equal(a["encoder_out"]["durations"], b["encoder_out"]["durations"])
    assert snr_db(ref, got) >= MIN_SNR_DB


def test_quantize_refuses_below_the_minimum_snr_and_leaves_the_voice_unchanged(
    tmp_path, tiny_voice_dir
):
    voice = tmp_path / "v"
    shutil.copytree(tiny_voice_dir[0], voice)
    before = (voice / "voice.json").read_text()
    with pytest.raises(ValueError, match="below the minimum 200"):
        quantize_decoder(voice, min_snr_db=200, texts={"ZH": ["你好。"]}, progress=lambda _: None)
    assert not (voice / INT8_GRAPH).exists()
    assert (voice / "voice.json").read_text() == before


def test_quantize_cli_explains_a_folder_that_is_not_a_voice(tmp_path):
    result = CliRunner().invoke(app, ["quantize", "--voice", str(tmp_path)])
    assert result.exit_code != 0
    assert "tts-export onnx" in result.output


def test_int8_repository_needs_the_quantized_graph(tmp_path, tiny_voice_dir):
    opts = RepositoryOptions(precision={"decoder": "int8"})
    with pytest.raises(FileNotFoundError, match="tts-export quantize"):
        write_repository(tiny_voice_dir[0], tmp_path, opts)


@pytest.mark.parametrize(
    "opts,message",
    [
        (RepositoryOptions(precision={"bert": "int8"}), "bert takes fp32"),
        (RepositoryOptions(precision={"encoder": "bf16"}), "encoder is always fp32"),
        (
            RepositoryOptions(runtime="tensorrt", precision={"decoder": "int8"}, engines="x"),
            "TensorRT",
        ),
    ],
)
def test_unsupported_precisions_are_refused(tmp_path, int8_voice, opts, message):
    with pytest.raises(ValueError, match=message):
        write_repository(int8_voice, tmp_path, opts)


@pytest.mark.parametrize("runtime", ["python", "onnxruntime", "openvino"])
def test_int8_repository_ships_the_qdq_graph(tmp_path, int8_voice, runtime):
    opts = RepositoryOptions(runtime=runtime, precision={"decoder": "int8"}, name="q")
    write_repository(int8_voice, tmp_path, opts)
    shipped = tmp_path / "q_decoder" / "1" / "model.onnx"
    assert shipped.read_bytes() == (int8_voice / INT8_GRAPH).read_bytes()
    config = (tmp_path / "q_decoder" / "config.pbtxt").read_text()
    if runtime == "python":
        assert '"int8"' in config
    if runtime == "openvino":
        assert '"f32"' in config  # the QDQ nodes make it int8; float parts stay f32


def test_triton_serves_the_int8_decoder(triton_voice, int8_voice):
    import tritonclient.http as http

    models = write_repository(
        int8_voice,
        triton_voice.repository,
        RepositoryOptions(name="tiny_int8", precision={"decoder": "int8"}),
    )
    client = http.InferenceServerClient(triton_voice.http_url)
    try:
        for m in models:
            client.load_model(m)
        served = infer_http(triton_voice.http_url, "tiny_int8", TEXT, SEED=5).as_numpy("AUDIO")
        local = VoiceGraphs(int8_voice, "onnxruntime", {"decoder": "int8"}).synthesize(TEXT, seed=5)
        fp32 = infer_http(triton_voice.http_url, triton_voice.voice, TEXT, SEED=5)
        np.testing.assert_allclose(served.reshape(-1), local, atol=1e-4)
        assert snr_db(fp32.as_numpy("AUDIO").reshape(-1), served.reshape(-1)) >= MIN_SNR_DB
        params = client.get_model_config("tiny_int8_decoder")["parameters"]
        assert params["precision"]["string_value"] == "int8"
    finally:
        for m in reversed(models):
            client.unload_model(m)
        client.close()
        wait_unloaded(triton_voice.http_url, models)
