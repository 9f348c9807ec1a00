"""Encoder/decoder ONNX graphs against the PyTorch reference and upstream's fixtures."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
import torch

import vits2
from tests.fixtures import OTHER_WIDTHS, TINY, reference_cases, require, run_decoder
from tts_export import acoustic
from tts_export.verify import session
from vits2.random_voice import make_random_model, tiny_config


@pytest.fixture(scope="module")
def fixture_graphs(tmp_path_factory):
    model = vits2.load_model(require(TINY / "G_tiny.pth"))
    out = tmp_path_factory.mktemp("graphs")
    acoustic.export_encoder(model, out / "encoder.onnx")
    acoustic.export_decoder(model, out / "decoder.onnx")
    return model, session(out / "encoder.onnx"), session(out / "decoder.onnx"), out


def _run(enc, dec, feeds, noise_scale, noise_z):
    encoded = enc.run(acoustic.ENCODER_OUTPUTS, feeds)
    durations, frame_lengths = encoded[3], encoded[4]
    noise_z = noise_z[:, :, : int(frame_lengths.max())]
    audio, lengths = run_decoder(dec, encoded, noise_scale, noise_z)
    return durations, audio, lengths


def _reference(model, inputs, noise_scale: float, noise_z):
    """The PyTorch model on `example_encoder_inputs` (noise_scale_w 0.8, as those inputs have)."""
    names = ("phones", "tones", "languages", "bert_zh", "bert_ja", "bert_en", "sid")
    return model.infer(
        *(inputs[k] for k in names),
        inputs["phone_lengths"],
        sdp_ratio=inputs["sdp_ratio"],
        noise_scale=noise_scale,
        noise_scale_w=0.8,
        noise_sdp=inputs["noise_sdp"],
        noise_z=noise_z,
    )


@pytest.mark.parametrize("case_id", range(6))
def test_onnx_matches_upstream_fixture(fixture_graphs, case_id):
    _, enc, dec, _ = fixture_graphs
    c = reference_cases()[case_id]
    s = c["scales"]
    feeds = dict(
        phones=c["phones"][None],
        tones=c["tones"][None],
        languages=c["language"][None],
        phone_lengths=np.array([len(c["phones"])]),
        bert_zh=c["bert_zh"][None],
        bert_ja=c["bert_ja"][None],
        bert_en=c["bert_en"][None],
        sid=c["sid"],
        sdp_ratio=s[0:1],
        noise_scale_w=s[2:3],
        length_scale=s[3:4],
        noise_sdp=c["noise_sdp"][None],
    )
    durations, audio, lengths = _run(enc, dec, feeds, s[1:2], c["noise_z"][None])
    np.testing.assert_array_equal(durations[0], c["durations"])
    assert lengths[0] == len(c["audio"])
    assert np.abs(audio[0, : lengths[0]] - c["audio"]).max() <= 1e-4


@pytest.mark.parametrize("phones", [3, 17, 120, 500])
def test_onnx_matches_reference_on_random_inputs(fixture_graphs, phones):
    model, enc, dec, _ = fixture_graphs
    inputs = acoustic.example_encoder_inputs(model, 1, phones, seed=phones)
    feeds = {k: v.numpy() for k, v in inputs.items()}
    gen = torch.Generator().manual_seed(phones)
    noise_z = torch.randn(1, model.inter_channels, 4 * phones + 8, generator=gen)
    durations, audio, lengths = _run(
        enc, dec, feeds, np.array([0.667], np.float32), noise_z.numpy()
    )
    ref = _reference(model, inputs, 0.667, noise_z)
    np.testing.assert_array_equal(durations, ref.durations.numpy())
    assert np.abs(audio[0, : lengths[0]] - ref.audio[0].numpy()).max() <= 1e-4


def test_onnx_batched_equals_unbatched(fixture_graphs):
    model, enc, dec, _ = fixture_graphs
    inputs = acoustic.example_encoder_inputs(model, 3, 60, seed=5)  # items of 60, 55, 50 phones
    feeds = {k: v.numpy() for k, v in inputs.items()}
    noise_z = np.random.default_rng(0).standard_normal(
        (3, model.inter_channels, 400), dtype=np.float32
    )
    d_all, a_all, l_all = _run(enc, dec, feeds, np.full(3, 0.667, np.float32), noise_z)
    for i in range(3):
        n = int(feeds["phone_lengths"][i])
        one = {k: (v[i : i + 1, ..., :n] if v.ndim > 1 else v[i : i + 1]) for k, v in feeds.items()}
        d, a, length = _run(enc, dec, one, np.array([0.667], np.float32), noise_z[i : i + 1])
        np.testing.assert_array_equal(d[0], d_all[i, :n])
        assert length[0] == l_all[i]
        assert np.abs(a[0, : length[0]] - a_all[i, : length[0]]).max() <= 1e-4
        assert not a_all[i, length[0] :].any()


def test_graphs_are_valid_and_carry_no_forbidden_ops(fixture_graphs):
    from tts_export.checks import check_graph

    _, _, _, out = fixture_graphs
    for name in ("encoder.onnx", "decoder.onnx"):
        onnx.checker.check_model(str(out / name), full_check=True)
        check_graph(out / name)
        ops = {n.op_type for n in onnx.load(str(out / name)).graph.node}
        assert not ops & {"RandomNormal", "RandomNormalLike", "NonZero", "ScatterND", "CumSum"}


def test_voice_with_other_dims_exports_and_matches(tmp_path):
    cfg = tiny_config(**OTHER_WIDTHS, use_transformer_flow=False)
    model = make_random_model(cfg, seed=3)
    enc = session(acoustic.export_encoder(model, tmp_path / "e.onnx"))
    dec = session(acoustic.export_decoder(model, tmp_path / "d.onnx"))
    inputs = acoustic.example_encoder_inputs(model, 2, 33, seed=2)
    noise_z = torch.randn(2, 24, 200, generator=torch.Generator().manual_seed(0))
    durations, audio, lengths = _run(
        enc,
        dec,
        {k: v.numpy() for k, v in inputs.items()},
        np.full(2, 0.5, np.float32),
        noise_z.numpy(),
    )
    ref = _reference(model, inputs, 0.5, noise_z)
    np.testing.assert_array_equal(durations, ref.durations.numpy())
    n = ref.audio.shape[1]
    assert np.abs(audio[:, :n] - ref.audio.numpy()).max() <= 1e-4


def test_fp16_decoder_keeps_float32_io_and_tracks_fp32(fixture_graphs, tmp_path):
    import shutil

    from tts_export.verify import snr_db
    from tts_export.voice import _to_fp16

    model, enc, dec, out = fixture_graphs
    shutil.copy(out / "decoder.onnx", tmp_path / "decoder.onnx")
    _to_fp16(tmp_path / "decoder.onnx")
    half = session(tmp_path / "decoder.onnx")
    assert [i.type for i in half.get_inputs()] == [i.type for i in dec.get_inputs()]
    inputs = acoustic.example_decoder_inputs(model, acoustic.example_encoder_inputs(model, 1, 40))
    feeds = {k: v.numpy() for k, v in inputs.items()}
    ref = dec.run(["audio"], feeds)[0]
    got = half.run(["audio"], feeds)[0]
    assert got.dtype == np.float32 and np.isfinite(got).all()
    assert snr_db(ref, got) >= 30.0


@pytest.mark.parametrize(
    "c_in,c_out,kernel,stride,bias",
    [(32, 16, 16, 8, True), (16, 8, 8, 2, True), (8, 4, 2, 2, False), (6, 5, 6, 3, True)],
)
def test_polyphase_upsample_equals_conv_transpose(c_in, c_out, kernel, stride, bias):
    torch.manual_seed(kernel * stride)
    up = torch.nn.ConvTranspose1d(
        c_in, c_out, kernel, stride, padding=(kernel - stride) // 2, bias=bias
    )
    poly = acoustic.PolyphaseUpsample(up)
    for frames in (1, 2, 37):
        x = torch.randn(3, c_in, frames)
        with torch.no_grad():
            expected, got = up(x), poly(x)
        assert got.shape == expected.shape
        torch.testing.assert_close(got, expected, atol=1e-5, rtol=1e-5)


def test_polyphase_refuses_kernel_not_a_multiple_of_stride():
    with pytest.raises(ValueError, match="no polyphase form"):
        acoustic.PolyphaseUpsample(torch.nn.ConvTranspose1d(4, 4, 5, 2, padding=1))


def test_decoder_graph_has_no_transposed_convolution(fixture_graphs):
    graph = onnx.load(str(fixture_graphs[3] / "decoder.onnx"), load_external_data=False)
    assert "ConvTranspose" not in {n.op_type for n in graph.graph.node}
