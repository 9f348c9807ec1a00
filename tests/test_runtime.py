"""`run_padded` on a real decoder graph: grouping rows by length never changes a result."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import vits2
from tests.fixtures import TINY, require
from tts_export import acoustic
from tts_model_repository.runtime import (
    GraphSession,
    InputError,
    graph_axes,
    length_groups,
    run_padded,
)


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


def test_buckets_pad_shapes_to_a_multiple_and_keep_the_audio(decoder):
    model, session, axes = decoder
    hop = model.config.data.hop_length
    scale = {"samples": ("frames", hop)}
    requests = [_request(model, [40, 6, 25], 1), _request(model, [3], 2)]
    rows = {"frames": "frame_lengths"}
    plain = run_padded(session, requests, axes, scale, row_lengths=rows)
    spy = _ShapeSpy(session)
    bucketed = run_padded(
        spy, requests, axes, scale, row_lengths=rows, buckets={"frames": 32, "phones": 16}
    )
    assert spy.shapes
    for shapes in spy.shapes:
        assert shapes["noise_z"][2] % 32 == 0 and shapes["m_p"][2] % 16 == 0
    for a, b in zip(plain, bucketed, strict=True):
        assert a["audio"].shape == b["audio"].shape
        np.testing.assert_array_equal(a["audio_lengths"], b["audio_lengths"])
        np.testing.assert_allclose(a["audio"], b["audio"], atol=1e-5)
