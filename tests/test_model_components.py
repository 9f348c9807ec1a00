"""Parts the tiny fixture cannot check (its flows are zero-initialised, as upstream's init), and
voices with other dims: each against a direct, loop-based statement of upstream's maths."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch.nn import functional as F

import vits2
from tests.fixtures import OTHER_WIDTHS
from vits2.attentions import MultiHeadAttention
from vits2.flows import rational_quadratic_spline_inverse
from vits2.random_voice import make_random_model, make_random_voice, tiny_config


def _upstream_spline_inverse(inputs, uw, uh, ud, tail_bound=5.0, mbw=1e-3, mbh=1e-3, md=1e-3):
    """Upstream's masked-indexing formulation, element by element."""
    out = inputs.clone()
    inside = (inputs >= -tail_bound) & (inputs <= tail_bound)
    ud = F.pad(ud, (1, 1))
    const = math.log(math.exp(1 - md) - 1)
    ud[..., 0] = const
    ud[..., -1] = const
    for idx in zip(*torch.nonzero(inside, as_tuple=True), strict=True):
        x = inputs[idx]
        n = uw.shape[-1]
        w = mbw + (1 - mbw * n) * torch.softmax(uw[idx], -1)
        cw = F.pad(torch.cumsum(w, -1), (1, 0)) * 2 * tail_bound - tail_bound
        cw[0], cw[-1] = -tail_bound, tail_bound
        w = cw[1:] - cw[:-1]
        h = mbh + (1 - mbh * n) * torch.softmax(uh[idx], -1)
        ch = F.pad(torch.cumsum(h, -1), (1, 0)) * 2 * tail_bound - tail_bound
        ch[0], ch[-1] = -tail_bound, tail_bound
        h = ch[1:] - ch[:-1]
        d = md + F.softplus(ud[idx])
        locs = ch.clone()
        locs[-1] += 1e-6
        k = int((x >= locs).sum()) - 1
        delta = h[k] / w[k]
        s = d[k] + d[k + 1] - 2 * delta
        a = (x - ch[k]) * s + h[k] * (delta - d[k])
        b = h[k] * d[k] - (x - ch[k]) * s
        c = -delta * (x - ch[k])
        root = (2 * c) / (-b - torch.sqrt(b * b - 4 * a * c))
        out[idx] = root * w[k] + cw[k]
    return out


def test_dense_spline_equals_masked_upstream_form():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(2, 1, 40, generator=g) * 4  # some outside the +-5 interval
    x[0, 0, :3] = torch.tensor([-7.0, 5.0, 9.0])
    uw, uh = torch.randn(2, 1, 40, 10, generator=g), torch.randn(2, 1, 40, 10, generator=g)
    ud = torch.randn(2, 1, 40, 9, generator=g)
    ours = rational_quadratic_spline_inverse(x, uw, uh, ud)
    ref = _upstream_spline_inverse(x, uw, uh, ud)
    assert torch.allclose(ours, ref, atol=1e-5)
    assert torch.equal(ours[0, 0, [0, 2]], x[0, 0, [0, 2]])  # identity tails


def test_relative_attention_equals_direct_formula():
    torch.manual_seed(0)
    att = MultiHeadAttention(8, 8, n_heads=2, window_size=4).eval()
    x = torch.randn(1, 8, 13)
    mask = torch.ones(1, 1, 13, 13)
    ours = att(x, mask)
    with torch.no_grad():
        q = att.conv_q(x).view(2, 4, 13) / 2.0
        k = att.conv_k(x).view(2, 4, 13)
        v = att.conv_v(x).view(2, 4, 13)
        ek, ev = att.emb_rel_k[0], att.emb_rel_v[0]
        out = torch.zeros(2, 4, 13)
        for h in range(2):
            scores = torch.zeros(13, 13)
            for i in range(13):
                for j in range(13):
                    r = j - i
                    scores[i, j] = q[h, :, i] @ k[h, :, j] + (
                        q[h, :, i] @ ek[r + 4] if abs(r) <= 4 else 0
                    )
            p = torch.softmax(scores, -1)
            for i in range(13):
                acc = sum(p[i, j] * v[h, :, j] for j in range(13))
                acc = acc + sum(p[i, j] * ev[j - i + 4] for j in range(13) if abs(j - i) <= 4)
                out[h, :, i] = acc
        ref = att.conv_o(out.reshape(1, 8, 13))
    assert torch.allclose(ours, ref, atol=1e-5)


OTHER_DIMS = [
    # other widths, heads and layer counts; resblock 2; residual-coupling flow; shared flow
    dict(
        **OTHER_WIDTHS,
        resblock="2",
        resblock_kernel_sizes=[3, 5],
        resblock_dilation_sizes=[[1, 2], [2, 6]],
    ),
    dict(use_transformer_flow=False, n_flow_layer=3),
    dict(flow_share_parameter=True, n_layers_trans_flow=3),
]


@pytest.mark.parametrize("overrides", OTHER_DIMS, ids=["dims", "residual_flow", "shared_flow"])
def test_random_voice_with_other_dims_round_trips_and_batches(tmp_path, overrides):
    cfg = tiny_config(**overrides)
    cfg["data"]["n_speakers"], cfg["data"]["spk2id"] = 4, {"a": 0, "b": 1, "c": 2, "d": 3}
    path = make_random_voice(tmp_path, cfg, seed=1)
    model = vits2.load_model(path)
    direct = make_random_model(cfg, seed=1)
    g = torch.Generator().manual_seed(0)
    lengths = [9, 23, 3, 40]
    p = max(lengths)
    phones = torch.randint(1, 112, (4, p), generator=g)
    tones = torch.randint(0, 12, (4, p), generator=g)
    langs = torch.randint(0, 3, (4, p), generator=g)
    berts = [torch.randn(4, 1024, p, generator=g) for _ in range(3)]
    sid = torch.tensor([0, 3, 1, 2])
    kw = dict(
        sdp_ratio=torch.tensor([0.0, 0.5, 1.0, 0.2]),
        noise_scale=0.667,
        noise_scale_w=0.8,
        length_scale=torch.tensor([1.0, 1.2, 0.8, 1.0]),
        seed=11,
    )
    batched = model.infer(phones, tones, langs, *berts, sid, torch.tensor(lengths), **kw)
    again = direct.infer(phones, tones, langs, *berts, sid, torch.tensor(lengths), **kw)
    assert torch.allclose(batched.audio, again.audio, atol=1e-5)  # save/load is lossless
    for i, n in enumerate(lengths):
        one = model.infer(
            phones[i : i + 1, :n],
            tones[i : i + 1, :n],
            langs[i : i + 1, :n],
            *[b[i : i + 1, :, :n] for b in berts],
            sid[i : i + 1],
            sdp_ratio=float(kw["sdp_ratio"][i]),
            noise_scale=0.667,
            noise_scale_w=0.8,
            length_scale=float(kw["length_scale"][i]),
            seed=11,
        )
        np.testing.assert_array_equal(one.durations[0].numpy(), batched.durations[i, :n].numpy())
        length = int(one.audio_lengths[0])
        assert length == int(batched.audio_lengths[i])
        err = (one.audio[0] - batched.audio[i, :length]).abs().max()
        assert float(err) <= 1e-4


def test_random_voice_durations_are_realistic(tmp_path):
    model = make_random_model(tiny_config(), seed=0)
    p = 60
    ids = torch.randint(1, 100, (1, p))
    z = torch.zeros(1, p, dtype=torch.long)
    b = torch.randn(1, 1024, p)
    res = model.infer(ids, z, z, b, b, b, torch.tensor([0]), sdp_ratio=0.5, seed=0)
    per_phone = res.frame_lengths.item() / p
    assert 1.0 <= per_phone <= 4.0


def test_infer_rejects_bad_shapes_and_ids():
    model = make_random_model(tiny_config(), seed=0)
    ids = torch.ones(1, 5, dtype=torch.long)
    b = torch.zeros(1, 1024, 5)
    with pytest.raises(ValueError, match="tones shape"):
        model.infer(ids, torch.ones(1, 4, dtype=torch.long), ids, b, b, b, torch.tensor([0]))
    with pytest.raises(ValueError, match=r"bert_ja must be \[B=1, 1024, P=5\]"):
        model.infer(ids, ids, ids, b, b[:, :, :4], b, torch.tensor([0]))
    with pytest.raises(ValueError, match="sid out of range: this voice has speakers 0..1"):
        model.infer(ids, ids, ids, b, b, b, torch.tensor([2]))
    with pytest.raises(ValueError, match=r"tones ids must be in \[0, 11\]"):
        model.infer(ids, ids * 12, ids, b, b, b, torch.tensor([0]))
