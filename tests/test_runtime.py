"""`run_padded` on a real decoder graph: grouping rows by length never changes a result."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import vits2
from tests.fixtures import TINY, require
from tts_export import acoustic
from tts_runtime.cpu import AutoChoice, auto_choice, cpu_isa, graph_runtimes
from tts_runtime.session import (
    GraphSession,
    InputError,
    graph_axes,
    length_groups,
    run_padded,
)
from tts_runtime.shapes import ShapePlan, ladder


@pytest.mark.parametrize("max_padding", [0.0, 0.1, 0.25, 0.5, 1.0])
def test_length_groups_cover_every_row_once_within_the_padding_bound(max_padding):
    rng = np.random.default_rng(7)
    lengths = [int(x) for x in rng.integers(1, 400, 40)]
    groups = length_groups(lengths, max_padding)
    assert sorted(k for g in groups for k in g) == list(range(len(lengths)))
    for g in groups:
        sizes = [lengths[k] for k in g]
        padded = len(g) * max(sizes)
        assert (padded - sum(sizes)) <= max_padding * padded + 1e-9
    if max_padding == 1.0:
        assert len(groups) == 1
    if max_padding == 0.0:
        assert all(len({lengths[k] for k in g}) == 1 for g in groups)


def test_length_groups_batch_equal_lengths_together():
    assert length_groups([100, 10, 100, 11, 100], 0.2) == [[1, 3], [0, 2, 4]]


@pytest.fixture(scope="module")
def decoder(tmp_path_factory):
    model = vits2.load_model(require(TINY / "G_tiny.pth"))
    path = acoustic.export_decoder(model, tmp_path_factory.mktemp("dec") / "decoder.onnx")
    return model, GraphSession(path, "onnxruntime", "fp32", threads=2), graph_axes(path)


def _request(model, phones: list[int], seed: int) -> dict[str, np.ndarray]:
    enc = acoustic.example_encoder_inputs(model, len(phones), max(phones), seed=seed)
    enc["phone_lengths"] = torch.tensor(phones)
    feeds = acoustic.example_decoder_inputs(model, enc, seed=seed)
    return {k: v.numpy() for k, v in feeds.items()}


def test_rows_grouped_by_length_give_the_same_audio_as_one_batch(decoder):
    model, session, axes = decoder
    hop = model.config.data.hop_length
    scale = {"samples": ("frames", hop)}
    requests = [
        _request(model, [40, 6, 25], 1),
        _request(model, [3], 2),
        _request(model, [31, 30], 3),
    ]
    frames = [r["frame_lengths"].tolist() for r in requests]
    assert len(length_groups([f for fs in frames for f in fs], 0.1)) > 1, frames
    whole = run_padded(session, requests, axes, scale)
    grouped = run_padded(
        session, requests, axes, scale, row_lengths={"frames": "frame_lengths"}, max_padding=0.1
    )
    for req, a, b in zip(requests, whole, grouped, strict=True):
        assert (
            a["audio"].shape
            == b["audio"].shape
            == (len(req["frame_lengths"]), req["noise_z"].shape[2] * hop)
        )
        np.testing.assert_array_equal(a["audio_lengths"], b["audio_lengths"])
        np.testing.assert_allclose(a["audio"], b["audio"], atol=1e-5)
        for row, n in enumerate(b["audio_lengths"]):
            assert not b["audio"][row, int(n) :].any()


@pytest.mark.parametrize("rows", [None, {"frames": "frame_lengths"}])
def test_a_bad_request_is_refused_alone_and_the_batch_still_runs(decoder, rows):
    model, session, axes = decoder
    good = _request(model, [12, 20], 4)
    bad = dict(good, frame_lengths=good["frame_lengths"] + 10_000)
    out = run_padded(
        session,
        [bad, good],
        axes,
        {"samples": ("frames", model.config.data.hop_length)},
        ranges={"frame_lengths": [1, "frames+1"]},
        row_lengths=rows,
    )
    assert isinstance(out[0], InputError) and "frame_lengths" in str(out[0])
    assert out[1]["audio"].shape[0] == 2


class _ShapeSpy:
    """A real session whose calls' input shapes are recorded."""

    def __init__(self, session):
        self.session, self.inputs, self.outputs, self.shapes = (
            session,
            session.inputs,
            session.outputs,
            [],
        )

    def run(self, feeds):
        self.shapes.append({k: v.shape for k, v in feeds.items()})
        return self.session.run(feeds)


def test_a_shape_plan_pads_to_its_shapes_and_keeps_the_audio(decoder):
    model, session, axes = decoder
    hop = model.config.data.hop_length
    scale = {"samples": ("frames", hop)}
    requests = [_request(model, [40, 6, 25], 1), _request(model, [3], 2), _request(model, [9], 3)]
    rows = {"frames": "frame_lengths"}
    plain = run_padded(session, requests, axes, scale, row_lengths=rows)
    plan = ShapePlan({"frames": ladder(16, 4096), "phones": ladder(8, 512)}, (1, 2))
    spy = _ShapeSpy(session)
    planned = run_padded(spy, requests, axes, scale, row_lengths=rows, plan=plan)
    assert spy.shapes
    for shapes in spy.shapes:
        assert shapes["noise_z"][2] in plan.sizes["frames"]
        assert shapes["m_p"][2] in plan.sizes["phones"]
        assert shapes["noise_z"][0] in plan.batches
    for a, b in zip(plain, planned, strict=True):
        assert a["audio"].shape == b["audio"].shape
        np.testing.assert_array_equal(a["audio_lengths"], b["audio_lengths"])
        np.testing.assert_allclose(a["audio"], b["audio"], atol=1e-5)


def test_a_request_past_the_plan_is_refused_alone(decoder):
    model, session, axes = decoder
    scale = {"samples": ("frames", model.config.data.hop_length)}
    requests = [_request(model, [40], 1), _request(model, [3], 2)]
    plan = ShapePlan({"phones": (8, 16)}, (1,))
    out = run_padded(session, requests, axes, scale, plan=plan)
    assert (
        isinstance(out[0], InputError)
        and "phones=40" in str(out[0])
        and "at most 16" in str(out[0])
    )
    assert out[1]["audio"].shape[0] == 1


SAPPHIRE_RAPIDS = "fpu sse4_2 avx2 avx_vnni avx512f avx512_vnni avx512_bf16 amx_bf16 amx_int8"
ZEN4 = "fpu sse4_2 avx2 avx512f avx512_vnni avx512_bf16"
CASCADE_LAKE = "fpu sse4_2 avx2 avx512f avx512_vnni"
ALDER_LAKE = "fpu sse4_2 avx2 avx_vnni"
HASWELL = "fpu sse4_2 avx2"


@pytest.mark.parametrize(
    ("flags", "cap", "isa"),
    [
        (SAPPHIRE_RAPIDS, "", "amx"),
        (SAPPHIRE_RAPIDS, "AVX512_CORE_AMX", "amx"),
        (SAPPHIRE_RAPIDS, "AVX512_CORE_BF16", "avx512_bf16"),
        (SAPPHIRE_RAPIDS, "avx512_core_vnni", "avx512_vnni"),
        (SAPPHIRE_RAPIDS, "AVX2_VNNI", "avx_vnni"),
        (SAPPHIRE_RAPIDS, "AVX2", "avx2"),
        (ZEN4, "", "avx512_bf16"),
        (CASCADE_LAKE, "", "avx512_vnni"),
        (ALDER_LAKE, "AVX512_CORE_BF16", "avx_vnni"),
        (HASWELL, "", "avx2"),
        ("fpu sse4_2", "", "sse4"),
    ],
)
def test_cpu_isa_reads_the_flags_and_honours_the_onednn_cap(flags, cap, isa):
    assert cpu_isa(flags, max_isa=cap) == isa


def test_cpu_isa_refuses_an_unknown_cap():
    with pytest.raises(ValueError, match="ONEDNN_MAX_CPU_ISA=AVX9"):
        cpu_isa(HASWELL, max_isa="AVX9")


INT8_OK = {"decoder": {"int8": {"graph": "decoder_int8.onnx", "snr_db": 32.5}}}
INT8_POOR = {"decoder": {"int8": {"graph": "decoder_int8.onnx", "snr_db": 18.0}}}


@pytest.mark.parametrize(
    ("isa", "variants", "runtime", "precision", "vocoder"),
    [
        ("amx", INT8_OK, "openvino", {"bert": "bf16", "decoder": "bf16"}, "openvino"),
        ("avx512_bf16", None, "openvino", {"bert": "bf16", "decoder": "bf16"}, "openvino"),
        ("avx512_vnni", INT8_OK, "openvino", {"decoder": "int8"}, "onnxruntime"),
        ("avx_vnni", INT8_OK, "openvino", {"decoder": "int8"}, "onnxruntime"),
        ("avx_vnni", INT8_POOR, "openvino", {}, "onnxruntime"),
        ("avx512_vnni", None, "openvino", {}, "openvino"),
        ("avx2", INT8_OK, "openvino", {}, "onnxruntime"),
    ],
)
def test_auto_choice_per_isa_with_its_reason(isa, variants, runtime, precision, vocoder):
    choice = auto_choice(isa, variants, openvino=True)
    assert isinstance(choice, AutoChoice)
    assert (choice.runtime, choice.precision, choice.isa) == (runtime, precision, isa)
    runtimes = graph_runtimes(choice.runtime, choice.runtimes)
    assert runtimes["vocoder"] == vocoder and runtimes["bert"] == "openvino"
    # the shape-generic graphs run on onnxruntime whatever the choice
    assert runtimes["encoder"] == runtimes["flow"] == runtimes["emotion"] == "onnxruntime"
    assert choice.reason.startswith(isa + ":")
    if variants is INT8_POOR:
        assert "int8 SNR 18.0 < 25.0 dB" in choice.reason


def test_auto_choice_without_openvino_runs_onnxruntime():
    assert auto_choice("amx", None, openvino=False).runtime == "onnxruntime"
    assert auto_choice("avx2", None, openvino=False) == AutoChoice(
        "onnxruntime", {}, "avx2", "avx2: OpenVINO is not installed: fp32"
    )


def test_onnxruntime_sessions_do_not_spin(decoder):
    """Every stub runs its own sessions: threads spinning for work in one take the cores the
    others need (`session.ORT_ALLOW_SPINNING`, measured 1.3-1.9x the throughput of 2-4 busy
    sessions on 2 cores without it)."""
    _, session, _ = decoder
    options = session._ort.get_session_options()
    assert options.get_session_config_entry("session.intra_op.allow_spinning") == "0"
    assert options.intra_op_num_threads == 2
