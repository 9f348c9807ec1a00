"""Windowed vocoder (tts_runtime.windows) against one-pass decoding, in PyTorch."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from tests.fixtures import TINY, require
from tts_export import acoustic
from tts_runtime.windows import (
    FIRST_WINDOW_SECONDS,
    WINDOW_FRAMES,
    WINDOW_GROWTH,
    Context,
    WindowPlan,
    context_from_config,
    first_window_frames,
    later_window,
    plan_windows,
    vocoder_context,
)


@pytest.fixture(scope="module")
def model(tiny_model):
    return tiny_model


def _torch_vocoder(model):
    graph = acoustic.VocoderGraph(model).eval()

    def run(z, g, lengths):
        with torch.no_grad():
            audio, _ = graph(torch.from_numpy(z), torch.from_numpy(g), torch.from_numpy(lengths))
        return audio.numpy()

    return run


def _latents(model, lengths: list[int], seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Random z (zero past each item's frames, as the flow leaves it) and speaker g."""
    rng = np.random.default_rng(seed)
    m = model.config.model
    z = rng.standard_normal((len(lengths), m.inter_channels, max(lengths))).astype(np.float32)
    for i, n in enumerate(lengths):
        z[i, :, n:] = 0
    g = rng.standard_normal((len(lengths), m.gin_channels, 1)).astype(np.float32)
    return z, g


def test_context_of_the_v23_config_is_13_frames_each_side():
    config = json.loads(require(TINY / "config.json").read_text())
    assert context_from_config(config) == Context(13, 13)
    assert context_from_config(config["model"]) == Context(13, 13)


def test_context_equals_the_generators_gradient_support(model):
    """Input frames with a nonzero gradient on one output frame's samples: exactly the context."""
    ctx = context_from_config(json.loads(require(TINY / "config.json").read_text()))
    hop, frames, j = model.hop_length, 2 * (ctx.left + ctx.right) + 5, ctx.left + 3
    z = torch.randn(1, model.config.model.inter_channels, frames, requires_grad=True)
    g = torch.randn(1, model.config.model.gin_channels, 1)
    model.dec(z, g=g)[0, 0, j * hop : (j + 1) * hop].sum().backward()
    support = torch.nonzero(z.grad.abs().sum(dim=(0, 1))).flatten().tolist()
    assert support == list(range(j - ctx.left, j + ctx.right + 1))


def test_context_checks_the_config():
    with pytest.raises(ValueError, match="same length"):
        vocoder_context([8, 8], [16], "1", [3], [[1]])
    with pytest.raises(ValueError, match="kernel - rate must be even"):
        vocoder_context([8], [15], "1", [3], [[1]])
    with pytest.raises(ValueError, match="model.upsample_rates"):
        context_from_config({"model": {}})


@pytest.mark.parametrize(
    ("frames", "first", "size"),
    [(48, 8, 8), (48, 5, 11), (7, 18, 64), (1, 1, 1), (100, 18, 64)],
)
def test_plan_covers_every_frame_once(frames, first, size):
    ctx = Context(13, 13)
    windows = plan_windows(frames, ctx, first, size)
    assert windows[0].start == 0 and windows[-1].end == frames
    assert windows[0].end - windows[0].start == min(first, frames)
    for a, b in zip(windows, windows[1:], strict=False):
        assert a.end == b.start and b.end - b.start <= size
    for w in windows:
        assert w.context_start == max(0, w.start - 13) and w.context_end == min(frames, w.end + 13)


@pytest.mark.parametrize(("frames", "size", "growth"), [(600, 64, 2.0), (97, 3, 1.5), (5, 64, 2.0)])
def test_later_windows_grow(frames, size, growth):
    windows = plan_windows(frames, Context(13, 13), 18, size, growth)
    kept = [w.end - w.start for w in windows]
    want = [18] + [later_window(size, growth, k) for k in range(len(kept) - 1)]
    assert kept[:-1] == want[:-1] and 0 < kept[-1] <= want[-1] and sum(kept) == frames
    assert [w.end - w.start for w in plan_windows(600, Context(13, 13), 18, 64, 2.0)] == [
        18, 64, 128, 256, 134
    ]  # fmt: skip
    for bad in (0.5, float("nan"), float("inf"), 65.0):
        with pytest.raises(ValueError, match=r"growth must be in \[1, 64\]"):
            plan_windows(frames, Context(13, 13), 18, size, bad)


def test_first_window_default_holds_at_least_0_2_s():
    assert first_window_frames(44100, 512, 0.2) == 18
    with pytest.raises(ValueError, match="more than 0 s"):
        first_window_frames(44100, 512, 0)


def test_window_plan_from_the_config():
    config = json.loads(require(TINY / "config.json").read_text())
    plan = WindowPlan.from_config(config)
    assert plan == WindowPlan(512, Context(13, 13), 18, WINDOW_FRAMES, False, WINDOW_GROWTH)
    assert FIRST_WINDOW_SECONDS == 0.2
    small = WindowPlan.from_config(config, 0.05, 7, fixed_shapes=True)
    assert (small.first, small.size, small.fixed_shapes, small.growth) == (5, 7, True, 1.0)
    assert small.widths == (5 + 13, 13 + 7 + 13)
    assert small.windows(20) == plan_windows(20, Context(13, 13), 5, 7)
    with pytest.raises(ValueError, match="data.sampling_rate"):
        WindowPlan.from_config(config["model"])
    with pytest.raises(ValueError, match="first and size >= 1"):
        WindowPlan(512, Context(1, 1), 0)
    with pytest.raises(ValueError, match="later windows cannot grow"):
        WindowPlan.from_config(config, fixed_shapes=True, growth=2.0)


WINDOW_CASES = [
    ([48], 8, 8, 1.0),  # sizes divide the frame count
    ([48], 5, 11, 1.0),  # they do not
    ([20], 18, 64, 1.0),  # the sentence is shorter than... the second window
    ([9], 18, 64, 1.0),  # ... and than the first
    ([48, 30, 1, 47], 6, 16, 1.0),  # batch > 1, items ending inside windows and contexts
    ([100, 37], 5, 3, 2.0),  # later windows growing: 3, 6, 12, 24, ...
]


@pytest.mark.parametrize(
    ("lengths", "first", "size", "growth", "fixed_shapes"),
    # fixed shapes have two widths, so their later windows do not grow
    [
        (*case, fixed)
        for case in WINDOW_CASES
        for fixed in (False, True)
        if not fixed or case[3] == 1
    ],
)
def test_windows_join_to_the_one_pass_audio(model, lengths, first, size, growth, fixed_shapes):
    z, g = _latents(model, lengths)
    frame_lengths = np.array(lengths, dtype=np.int64)
    vocoder, shapes = _torch_vocoder(model), set()

    def recording(z, g, lengths):
        shapes.add(z.shape[2])
        return vocoder(z, g, lengths)

    ctx = context_from_config(json.loads(require(TINY / "config.json").read_text()))
    whole = vocoder(z, g, frame_lengths)
    plan = WindowPlan(model.hop_length, ctx, first, size, fixed_shapes, growth)
    pieces = list(plan.decode(recording, z, g, frame_lengths))
    assert len(pieces) == len(plan.windows(max(lengths)))
    joined = np.concatenate(pieces, axis=1)
    assert joined.shape == whole.shape
    assert np.abs(joined - whole).max() <= 1e-4
    if fixed_shapes:
        assert shapes <= {first + ctx.right, ctx.left + size + ctx.right}
    for i, n in enumerate(lengths):
        assert not joined[i, n * model.hop_length :].any()


def test_less_context_than_the_receptive_field_is_not_exact(model):
    z, g = _latents(model, [48])
    lengths = np.array([48])
    vocoder = _torch_vocoder(model)
    whole = vocoder(z, g, lengths)
    joined = np.concatenate(
        list(WindowPlan(512, Context(4, 4), 8).decode(vocoder, z, g, lengths)), 1
    )
    assert np.abs(joined - whole).max() > 1e-3


def test_flow_then_vocoder_equals_the_models_decode(model):
    enc = acoustic.example_encoder_inputs(model, batch=2, phones=13, seed=3)
    feeds = acoustic.example_decoder_inputs(model, enc, seed=3)
    with torch.no_grad():
        ref = model.decode(*feeds.values(), always_mask=True)
        z = acoustic.FlowGraph(model)(**feeds)
        audio, audio_lengths = acoustic.VocoderGraph(model)(z, feeds["g"], feeds["frame_lengths"])
    torch.testing.assert_close(audio, ref.audio, atol=1e-5, rtol=0)
    assert audio_lengths.tolist() == ref.audio_lengths.tolist()


def test_window_decode_refuses_bad_lengths(model):
    z, g = _latents(model, [10])
    with pytest.raises(ValueError, match="frame_lengths must be in"):
        next(WindowPlan(512, Context(1, 1), 4).decode(_torch_vocoder(model), z, g, np.array([11])))
