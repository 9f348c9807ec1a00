"""Bounded shapes (`tts_runtime.shapes`): the ladder, batch splits, the plan per graph,
and the vocoder decoded through a plan (exact windows for long sentences) on real onnxruntime
and OpenVINO sessions, equal to one pass, at a bounded set of input shapes."""

from __future__ import annotations

import json

import numpy as np
import pytest

import vits2
from tests.fixtures import TINY, require
from tts_export import acoustic
from tts_runtime.session import GraphSession, InputError, graph_axes, warm_up
from tts_runtime.shapes import (
    VOCODER_SIZES,
    ShapeError,
    ShapePlan,
    batch_split,
    ladder,
    plan_for,
)
from tts_runtime.windows import context_from_config, run_vocoder_rows


def test_ladder_is_geometric_rounded_and_ends_at_its_limit():
    sizes = ladder(16, 512)
    assert sizes[0] == 16 and sizes[-1] == 512
    assert all(s % 8 == 0 for s in sizes)
    ratios = [b / a for a, b in zip(sizes, sizes[1:], strict=False)]
    assert max(ratios) <= 2 ** (1 / 4) + 0.35  # rounding to 8 widens only the small steps
    assert ladder(8, 8) == (8,) and ladder(5, 800)[-1] == 800
    with pytest.raises(ValueError, match="low <= high"):
        ladder(10, 5)


@pytest.mark.parametrize(("rows", "split"), [(0, []), (1, [1]), (7, [4, 2, 1]), (9, [4, 4, 1])])
def test_batch_split_uses_the_allowed_sizes_largest_first(rows, split):
    assert batch_split(rows, (1, 2, 4)) == split


def test_plan_rounds_up_refuses_past_its_limit_and_round_trips():
    plan = ShapePlan({"frames": (32, 64, 128)}, (1, 2))
    assert [plan.size("frames", n) for n in (1, 32, 33, 128)] == [32, 32, 64, 128]
    assert plan.size("phones", 77) == 77  # an axis the plan leaves free keeps its size
    with pytest.raises(ShapeError, match="frames=129 is past"):
        plan.size("frames", 129)
    assert plan.count() == 6 and len(list(plan.shapes())) == 6
    assert ShapePlan.from_dict(json.loads(json.dumps(plan.to_dict()))) == plan
    with pytest.raises(ValueError, match="include 1"):
        ShapePlan({"frames": (32,)}, (2, 4))


def test_only_graphs_that_compile_per_shape_get_a_plan():
    assert plan_for("vocoder", "openvino", "fp32").sizes == {"frames": VOCODER_SIZES}
    assert plan_for("vocoder", "openvino", "bf16").batches == (1,)
    assert plan_for("bert", "openvino", "bf16", 512).sizes["tokens"][-1] == 512
    assert plan_for("bert", "openvino", "fp32") is None  # measured flat (docs/memory.md)
    assert all(plan_for(f, "onnxruntime", "fp32") is None for f in ("bert", "vocoder", "encoder"))


@pytest.fixture(scope="module")
def vocoder(tmp_path_factory):
    model = vits2.load_model(require(TINY / "G_tiny.pth"))
    path = acoustic.export_vocoder(model, tmp_path_factory.mktemp("voc") / "vocoder.onnx")
    config = json.loads((TINY / "config.json").read_text())
    return path, context_from_config(config), model.config.data.hop_length


class _ShapeSpy:
    def __init__(self, session):
        self.session, self.inputs, self.outputs, self.widths = (
            session,
            session.inputs,
            session.outputs,
            [],
        )

    def run(self, feeds):
        self.widths.append(tuple(feeds["z"].shape))
        return self.session.run(feeds)


def _rows(lengths: list[int], width: int, seed: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    z = rng.standard_normal((len(lengths), 32, width)).astype(np.float32)
    for r, n in enumerate(lengths):
        z[r, :, n:] = 0
    g = rng.standard_normal((len(lengths), 32, 1)).astype(np.float32)
    return {"z": z, "g": g, "frame_lengths": np.array(lengths, np.int64)}


@pytest.mark.parametrize("runtime", ["onnxruntime", "openvino"])
def test_planned_vocoder_equals_one_pass_at_bounded_shapes(vocoder, runtime):
    """Rows shorter than the plan's largest size run padded to a planned size; longer ones in
    exact windows of the largest size. Joined, every row equals the one-pass vocoder."""
    path, context, hop = vocoder
    session = GraphSession(path, runtime, "fp32", threads=2)
    axes = graph_axes(path)
    plan = ShapePlan({"frames": ladder(16, 64, per_octave=2)}, (1,))
    requests = [_rows([150, 41], 150, 1), _rows([7], 9, 2), _rows([64, 65, 0], 70, 3)]
    spy = _ShapeSpy(session)
    outs = run_vocoder_rows(
        spy, requests, axes, plan, context, hop, {"frame_lengths": [0, "frames+1"]}
    )
    assert {w[2] for w in spy.widths} <= set(plan.sizes["frames"]) and {
        w[0] for w in spy.widths
    } == {1}
    for req, out in zip(requests, outs, strict=True):
        one_pass = session.run(req)
        assert out["audio"].shape == one_pass["audio"].shape
        np.testing.assert_array_equal(out["audio_lengths"], req["frame_lengths"] * hop)
        np.testing.assert_allclose(out["audio"], one_pass["audio"], atol=1e-5)


def test_planned_vocoder_refuses_a_bad_request_alone(vocoder):
    path, context, hop = vocoder
    session = GraphSession(path, "onnxruntime", "fp32", threads=2)
    plan = ShapePlan({"frames": (32, 64)}, (1,))
    good, bad = _rows([40], 40, 1), _rows([40], 40, 2)
    bad["z"][0, 0, 3] = np.nan
    outs = run_vocoder_rows(session, [bad, good], graph_axes(path), plan, context, hop)
    assert isinstance(outs[0], InputError) and "NaN" in str(outs[0])
    assert outs[1]["audio"].shape == (1, 40 * hop)


def test_openvino_memory_stays_flat_over_new_lengths_after_warm_up(vocoder):
    """What the plan is for: OpenVINO prepares kernels per input shape and keeps them. After
    warm-up (every planned shape), 40 new sentence lengths add no shapes and (almost) no
    memory; exact shapes would add one per length."""
    import psutil

    path, context, hop = vocoder
    session = GraphSession(path, "openvino", "fp32", threads=2)
    axes = graph_axes(path)
    plan = ShapePlan({"frames": ladder(16, 128, per_octave=3)}, (1,))
    assert warm_up(session, axes, plan) > 0
    rss = psutil.Process().memory_info().rss
    spy = _ShapeSpy(session)
    for n in range(150, 190):  # 40 lengths never seen, windows included
        run_vocoder_rows(spy, [_rows([n], n, n)], axes, plan, context, hop)
    grown = (psutil.Process().memory_info().rss - rss) / 2**20
    assert {w[2] for w in spy.widths} <= set(plan.sizes["frames"])
    assert grown < 40, f"{grown:.0f} MiB after 40 new lengths"
