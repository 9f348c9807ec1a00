"""TensorRT engine builder: real builds where TensorRT and a GPU exist; clear errors elsewhere."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from tts_export.tensorrt import (
    GRAPH_INPUTS,
    TensorRTUnavailable,
    build_engine,
    default_profiles,
    onnx_input_shapes,
    tensorrt_available,
    validate_profiles,
)

AVAILABLE, REASON = tensorrt_available()
needs_tensorrt = pytest.mark.skipif(not AVAILABLE, reason=f"TensorRT unavailable: {REASON}")
GRAPHS_DOC = Path(__file__).resolve().parents[1] / "docs" / "graphs.md"


def _tiny_graph(path: Path) -> Path:
    """bert_features-like toy: y[B, 3, P] = (x[B, P, 4] @ W)^T, dynamic B and P."""
    w = numpy_helper.from_array(
        np.random.default_rng(0).standard_normal((4, 3)).astype(np.float32), "w"
    )
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", "phones", 4])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 3, "phones"])
    nodes = [
        helper.make_node("MatMul", ["x", "w"], ["xw"], name="proj"),
        helper.make_node("Transpose", ["xw"], ["y"], perm=[0, 2, 1], name="to_bcp"),
    ]
    graph = helper.make_graph(nodes, "toy", [x], [y], initializer=[w])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, str(path))
    return path


TOY_PROFILE = {"x": ((1, 1, 4), (2, 16, 4), (4, 64, 4))}


def test_tensorrt_available_says_why():
    ok, reason = tensorrt_available()
    assert isinstance(ok, bool) and reason
    if not ok:
        assert "tensorrt" in reason.lower() or "gpu" in reason.lower()


@pytest.mark.skipif(AVAILABLE, reason="TensorRT and a GPU are available here")
def test_build_engine_without_tensorrt_raises_a_clear_error(tmp_path):
    onnx_path = _tiny_graph(tmp_path / "toy.onnx")
    with pytest.raises(TensorRTUnavailable) as err:
        build_engine(onnx_path, tmp_path / "toy.plan", TOY_PROFILE)
    message = str(err.value)
    assert "TensorRT is not installed (pip install tensorrt) or no NVIDIA GPU is visible" in message
    assert "NGC container" in message and REASON in message
    assert not (tmp_path / "toy.plan").exists()


def test_build_engine_checks_profiles_before_building(tmp_path):
    onnx_path = _tiny_graph(tmp_path / "toy.onnx")
    with pytest.raises(ValueError, match="fixed size 4"):
        build_engine(onnx_path, tmp_path / "toy.plan", {"x": ((1, 1, 8), (2, 16, 8), (4, 64, 8))})
    with pytest.raises(ValueError, match="no profile given"):
        build_engine(onnx_path, tmp_path / "toy.plan", {})
    with pytest.raises(FileNotFoundError):
        build_engine(tmp_path / "absent.onnx", tmp_path / "toy.plan", TOY_PROFILE)


def _contract_inputs() -> dict[str, list[str]]:
    """Input names per graph from docs/graphs.md (`in `a`, `b`` rows under each heading)."""
    graphs: dict[str, list[str]] = {}
    current = None
    for line in GRAPHS_DOC.read_text().splitlines():
        heading = re.match(r"^## (bert|encoder|decoder)", line)
        if heading:
            current = heading.group(1)
            graphs[current] = []
        elif line.startswith("## "):
            current = None
        elif current and line.startswith("| in ") and " only: " not in line:
            # rows of one release's extra inputs (2.1 emo, SBV2 style_vec, ...) are not in the
            # TensorRT builder's fixed v2.3 contract yet
            graphs[current] += re.findall(r"`([a-z_]+)`", line.split("|")[1])
    return graphs


def test_graph_inputs_match_the_documented_contract():
    if not GRAPHS_DOC.is_file():
        pytest.skip(f"{GRAPHS_DOC} is absent")
    assert _contract_inputs() == {k: list(v) for k, v in GRAPH_INPUTS.items()}


@pytest.mark.parametrize("kind", list(GRAPH_INPUTS))
def test_default_profiles_are_consistent(kind):
    profiles = default_profiles(kind, max_batch=8, max_tokens=256, max_phones=512, max_frames=4096)
    assert list(profiles) == list(GRAPH_INPUTS[kind])
    batch = {(lo[0], opt[0], hi[0]) for lo, opt, hi in profiles.values()}
    for name, (lo, opt, hi) in profiles.items():
        assert len(lo) == len(opt) == len(hi), name
        assert all(1 <= a <= b <= c for a, b, c in zip(lo, opt, hi, strict=True)), name
        assert lo[0] == 1 and hi[0] == 8  # batch axis first everywhere
    assert len(batch) == 1  # every input agrees on the batch range
    if kind == "bert":
        assert profiles["input_ids"][2] == (8, 256) and profiles["phone_to_token"][2] == (8, 512)
        assert profiles["input_ids"] == profiles["attention_mask"] == profiles["token_type_ids"]
    elif kind == "encoder":
        assert profiles["bert_zh"][2] == (8, 1024, 512) and profiles["noise_sdp"][2] == (8, 2, 512)
        assert profiles["phones"][2] == (8, 512) and profiles["phone_lengths"][2] == (8,)
    else:
        assert profiles["m_p"][2] == (8, 192, 512) and profiles["g"][2] == (8, 512, 1)
        assert profiles["noise_z"][2] == (8, 192, 4096) and profiles["durations"][2] == (8, 512)
    # Phones of the encoder/decoder and of the BERT output share one range.
    phones = default_profiles("bert", 8, 256, 512, 4096)["phone_to_token"]
    assert default_profiles("encoder", 8, 256, 512, 4096)["phones"] == phones


def test_default_profiles_follow_the_voice_dims_and_reject_bad_args():
    dec = default_profiles("decoder", 2, 64, 128, 1024, inter_channels=32, gin_channels=32)
    assert dec["m_p"][0] == (1, 32, 1) and dec["g"][2] == (2, 32, 1)
    with pytest.raises(ValueError, match="allowed: bert, encoder, decoder"):
        default_profiles("vocoder", 8, 256, 512, 4096)
    with pytest.raises(ValueError, match="max_batch"):
        default_profiles("bert", 0, 256, 512, 4096)


def test_validate_profiles_against_an_onnx_graph(tmp_path):
    shapes = onnx_input_shapes(_tiny_graph(tmp_path / "toy.onnx"))
    assert shapes == {"x": (-1, -1, 4)}
    # Extra names (token_type_ids on a DeBERTa graph) are skipped.
    used = validate_profiles(shapes, {**TOY_PROFILE, "token_type_ids": ((1, 1), (1, 1), (1, 1))})
    assert used == TOY_PROFILE
    with pytest.raises(ValueError, match="min <= opt <= max"):
        validate_profiles(shapes, {"x": ((1, 8, 4), (2, 4, 4), (4, 64, 4))})
    with pytest.raises(ValueError, match="rank"):
        validate_profiles(shapes, {"x": ((1, 4), (2, 4), (4, 4))})


@needs_tensorrt
def test_build_engine_builds_and_runs(tmp_path):
    import tensorrt as trt

    onnx_path = _tiny_graph(tmp_path / "toy.onnx")
    cache = tmp_path / "timing.cache"
    plan = build_engine(onnx_path, tmp_path / "toy.plan", TOY_PROFILE, timing_cache=cache)
    assert plan.stat().st_size > 0 and cache.stat().st_size > 0
    runtime = trt.Runtime(trt.Logger(trt.Logger.WARNING))
    engine = runtime.deserialize_cuda_engine(plan.read_bytes())
    assert engine is not None
    names = {engine.get_tensor_name(i) for i in range(engine.num_io_tensors)}
    assert names == {"x", "y"}
    # Rebuilding with the saved cache works too (fp16 this time).
    build_engine(onnx_path, tmp_path / "toy16.plan", TOY_PROFILE, fp16=True, timing_cache=cache)
