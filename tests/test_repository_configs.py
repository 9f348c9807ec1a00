"""Repositories for Triton's native backends, checked structurally on CPU (no such backends in
the pip-bundled server): every config parses as a Triton ModelConfig, tensor names, dtypes and
ranks agree with the graphs' own inputs/outputs, and the ensemble wiring is closed."""

from __future__ import annotations

import json

import onnx
import pytest
from google.protobuf import text_format
from tritonclient.grpc import model_config_pb2 as mc

from tts_export.metadata import VoiceManifest
from tts_export.repository import RepositoryOptions, write_repository

ONNX_TO_TRITON = {onnx.TensorProto.FLOAT: "TYPE_FP32", onnx.TensorProto.INT64: "TYPE_INT64"}


def _config(path) -> mc.ModelConfig:
    return text_format.Parse(path.read_text(), mc.ModelConfig())


def _write_engines(voice_dir, manifest, folder):
    # stand-in plan files: only their presence is checked here (no TensorRT on this machine)
    folder.mkdir()
    for kind in manifest.graphs:
        (folder / f"{kind}.plan").write_bytes(b"engine built by tts-export trt")
    return folder


@pytest.mark.parametrize("runtime", ["python", "onnxruntime", "openvino", "tensorrt"])
def test_repository_configs_agree_with_graphs(tmp_path, tiny_voice_dir, runtime):
    voice_dir, _ = tiny_voice_dir
    manifest = VoiceManifest.load(voice_dir)
    engines = (
        _write_engines(voice_dir, manifest, tmp_path / "engines") if runtime == "tensorrt" else None
    )
    repo = tmp_path / "repo"
    models = write_repository(voice_dir, repo, RepositoryOptions(runtime=runtime, engines=engines))
    configs = {m: _config(repo / m / "config.pbtxt") for m in models}
    for name, cfg in configs.items():
        assert cfg.name == name
    expected_platform = {
        "python": ("", "python"),
        "onnxruntime": ("onnxruntime_onnx", ""),
        "openvino": ("", "openvino"),
        "tensorrt": ("tensorrt_plan", ""),
    }[runtime]
    for kind, graph in manifest.graphs.items():
        if runtime == "python" and kind == "decoder":  # the halves over BLS: no graph
            assert not (repo / "tiny_decoder" / "1" / "model.onnx").exists()
            assert configs["tiny_decoder"].backend == "python"
            continue
        cfg = configs[f"tiny_{kind}"]
        assert (cfg.platform, cfg.backend) == expected_platform
        assert cfg.max_batch_size == 16 and cfg.dynamic_batching.preferred_batch_size
        model_file = "model.plan" if runtime == "tensorrt" else "model.onnx"
        assert (repo / f"tiny_{kind}" / "1" / model_file).is_file()
        g = onnx.load(str(voice_dir / graph), load_external_data=False).graph
        for decl, values in ((cfg.input, g.input), (cfg.output, g.output)):
            onnx_specs = {v.name: v.type.tensor_type for v in values}
            assert {t.name for t in decl} == set(onnx_specs), kind
            for t in decl:
                spec = onnx_specs[t.name]
                assert mc.DataType.Name(t.data_type) == ONNX_TO_TRITON[spec.elem_type]
                rank = len(spec.shape.dim) - 1  # without the batch axis
                if runtime == "python":  # per-item scalars travel as [1] and are squeezed
                    assert len(t.dims) == max(rank, 1)
                else:
                    dims = t.reshape.shape if t.HasField("reshape") else t.dims
                    assert len(dims) == rank, (kind, t.name)
    ens = configs["tiny"]
    assert ens.platform == "ensemble"
    produced = {i.name for i in ens.input}
    for step in ens.ensemble_scheduling.step:
        assert set(step.input_map.values()) <= produced, step.model_name
        produced |= set(step.output_map.values())
        declared = {t.name for t in configs[step.model_name].input}
        assert set(step.input_map) <= declared
    assert {"AUDIO", "SAMPLE_RATE"} <= produced
    meta = json.loads(ens.parameters["voice"].string_value)
    assert meta["models"] == models and meta["runtime"] == runtime


def test_tensorrt_repository_needs_engines(tmp_path, tiny_voice_dir):
    with pytest.raises(ValueError, match="needs --engines"):
        write_repository(tiny_voice_dir[0], tmp_path, RepositoryOptions(runtime="tensorrt"))


def test_unknown_runtime_is_refused(tmp_path, tiny_voice_dir):
    with pytest.raises(ValueError, match="runtime must be one of python, onnxruntime"):
        write_repository(tiny_voice_dir[0], tmp_path, RepositoryOptions(runtime="tflite"))


def test_batching_options_reach_the_configs(tmp_path, tiny_voice_dir):
    voice_dir, _ = tiny_voice_dir
    opts = RepositoryOptions(max_batch=8, preferred_batch=[2, 8], max_padding=0.1)
    write_repository(voice_dir, tmp_path, opts)
    for kind in ("flow", "vocoder"):
        graph = _config(tmp_path / f"tiny_{kind}" / "config.pbtxt")
        assert list(graph.dynamic_batching.preferred_batch_size) == [2, 8]
        rows = json.loads(graph.parameters["row_lengths"].string_value)
        assert rows == {"frames": "frame_lengths"}
        assert float(graph.parameters["max_padding"].string_value) == 0.1
    encoder = _config(tmp_path / "tiny_encoder" / "config.pbtxt")
    assert "row_lengths" not in encoder.parameters


@pytest.mark.parametrize(
    "opts,message",
    [
        (RepositoryOptions(max_batch=8, preferred_batch=[16]), "preferred batch sizes"),
        (RepositoryOptions(max_padding=1.5), "max padding"),
    ],
)
def test_bad_batching_options_are_refused(tmp_path, tiny_voice_dir, opts, message):
    with pytest.raises(ValueError, match=message):
        write_repository(tiny_voice_dir[0], tmp_path, opts)


def test_openvino_graphs_get_their_shape_plans_and_the_rest_run_on_onnxruntime(
    tmp_path, tiny_voice_dir
):
    """On OpenVINO the vocoder runs through its bounded shape plan (exact windows past the
    largest size); the encoder and flow always run on onnxruntime (shape-generic kernels);
    an fp32 BERT on OpenVINO needs no plan (measured flat); the ensemble's decoder step is
    the halves over BLS."""
    from tts_runtime.shapes import VOCODER_SIZES
    from tts_runtime.windows import context_from_config

    voice_dir, _ = tiny_voice_dir
    write_repository(voice_dir, tmp_path, RepositoryOptions(graph_runtime="openvino"))
    params = {
        kind: _config(tmp_path / f"tiny_{kind}" / "config.pbtxt").parameters
        for kind in ("bert_zh", "encoder", "flow", "vocoder", "decoder")
    }
    vocoder = params["vocoder"]
    plan = json.loads(vocoder["shape_plan"].string_value)
    assert plan == {"sizes": {"frames": list(VOCODER_SIZES)}, "batches": [1]}
    context = context_from_config(json.loads((voice_dir / "config.json").read_text()))
    assert json.loads(vocoder["window_context"].string_value) == [context.left, context.right]
    assert (
        vocoder["runtime"].string_value == params["bert_zh"]["runtime"].string_value == "openvino"
    )
    assert "shape_plan" not in params["bert_zh"]
    for kind in ("encoder", "flow"):
        assert params[kind]["runtime"].string_value == "onnxruntime"
        assert "shape_plan" not in params[kind]
    models = json.loads(params["decoder"]["models"].string_value)
    assert models == {"flow": "tiny_flow", "vocoder": "tiny_vocoder"}


def test_the_one_pass_decoder_is_refused_on_openvino_in_process(tmp_path, tiny_voice_dir):
    """An export without the decoder's halves runs the one-pass decoder: OpenVINO would
    prepare it per sentence length without bound, so it is refused there (auto picks
    onnxruntime for it)."""
    import shutil

    voice_dir = tmp_path / "old-export"
    shutil.copytree(tiny_voice_dir[0], voice_dir)
    meta = json.loads((voice_dir / "voice.json").read_text())
    for kind in ("flow", "vocoder"):
        del meta["graphs"][kind]
    (voice_dir / "voice.json").write_text(json.dumps(meta))
    with pytest.raises(ValueError, match="one-pass decoder does not run on OpenVINO"):
        write_repository(voice_dir, tmp_path / "a", RepositoryOptions(graph_runtime="openvino"))
    write_repository(voice_dir, tmp_path / "b", RepositoryOptions(graph_runtime="auto"))
    decoder = _config(tmp_path / "b" / "tiny_decoder" / "config.pbtxt").parameters
    assert decoder["runtime"].string_value == "onnxruntime"
    assert decoder["precision"].string_value == "fp32"


def test_repository_cli_passes_batching_options(tmp_path, tiny_voice_dir):
    from typer.testing import CliRunner

    from tts_export.cli import app

    voice = str(tiny_voice_dir[0])
    args = ["repository", "--voice", voice, "--out", str(tmp_path / "r"), "--runtime", "python"]
    extra = ["--preferred-batch", "2", "--preferred-batch", "8"]
    extra += ["--max-batch", "8", "--max-padding", "0.1", "--precision", "decoder=fp32"]
    result = CliRunner().invoke(app, args + extra)
    assert result.exit_code == 0, result.output
    vocoder = _config(tmp_path / "r" / "tiny_vocoder" / "config.pbtxt")
    assert list(vocoder.dynamic_batching.preferred_batch_size) == [2, 8]
    assert float(vocoder.parameters["max_padding"].string_value) == 0.1
    for bad, message in ((["--precision", "bert=int8"], "bert takes fp32"),):
        result = CliRunner().invoke(app, args + bad)
        assert result.exit_code != 0
        assert message in " ".join(result.output.split()), result.output


@pytest.mark.parametrize("cap, bf16", [("", None), ("AVX2", False), ("AVX512_CORE_VNNI", False)])
def test_auto_graph_runtime_follows_the_cpu_and_is_recorded(
    tmp_path, tiny_voice_dir, monkeypatch, cap, bf16
):
    """`--graph-runtime auto` resolves per CPU ISA (ONEDNN_MAX_CPU_ISA caps it, as oneDNN
    does) and the ensemble's voice JSON records what was chosen and why; bf16 is never chosen
    without native bf16."""
    from tts_runtime.cpu import cpu_isa

    if cap:
        monkeypatch.setenv("ONEDNN_MAX_CPU_ISA", cap)
    else:
        monkeypatch.delenv("ONEDNN_MAX_CPU_ISA", raising=False)
    isa = cpu_isa()
    models = write_repository(
        tiny_voice_dir[0], tmp_path, RepositoryOptions(graph_runtime="auto", name="v")
    )
    meta = json.loads(_config(tmp_path / "v" / "config.pbtxt").parameters["voice"].string_value)
    assert meta["models"] == models and meta["auto"]["isa"] == isa and meta["auto"]["reason"]
    vocoder = _config(tmp_path / "v_vocoder" / "config.pbtxt").parameters
    runtimes = {**{"vocoder": meta["auto"]["runtime"]}, **meta["auto"]["runtimes"]}
    assert vocoder["runtime"].string_value == runtimes["vocoder"]
    assert ("shape_plan" in vocoder) == (runtimes["vocoder"] == "openvino")
    chose_bf16 = vocoder["precision"].string_value == "bf16"
    assert chose_bf16 == (isa in ("amx", "avx512_bf16"))
    if bf16 is False:
        assert not chose_bf16
