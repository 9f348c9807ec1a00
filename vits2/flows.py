"""Normalizing flows used in reverse at inference (upstream `modules.py`, `transforms.py`).

The rational-quadratic spline is written densely: every element goes through the spline with
its input clamped into the interval, and `where` picks the identity tail outside it. Upstream
uses boolean-mask indexing there, which exports to NonZero/ScatterND and breaks TensorRT.
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional as F

from vits2.attentions import Encoder, LayerNorm
from vits2.generator import get_padding


def fused_add_tanh_sigmoid_multiply(a: torch.Tensor, b: torch.Tensor, n_channels: int):
    x = a + b
    return torch.tanh(x[:, :n_channels]) * torch.sigmoid(x[:, n_channels:])


class Flip(nn.Module):
    def forward(self, x, x_mask, g=None):
        return torch.flip(x, [1])


class ElementwiseAffine(nn.Module):
    def __init__(self, channels: int):
        super().__init__()
        self.m = nn.Parameter(torch.zeros(channels, 1))
        self.logs = nn.Parameter(torch.zeros(channels, 1))

    def forward(self, x, x_mask, g=None):
        return (x - self.m) * torch.exp(-self.logs) * x_mask


class DDSConv(nn.Module):
    """Dilated depth-separable convolutions."""

    def __init__(self, channels: int, kernel_size: int, n_layers: int):
        super().__init__()
        self.n_layers = n_layers
        self.convs_sep = nn.ModuleList()
        self.convs_1x1 = nn.ModuleList()
        self.norms_1 = nn.ModuleList()
        self.norms_2 = nn.ModuleList()
        for i in range(n_layers):
            dilation = kernel_size**i
            self.convs_sep.append(
                nn.Conv1d(
                    channels,
                    channels,
                    kernel_size,
                    groups=channels,
                    dilation=dilation,
                    padding=get_padding(kernel_size, dilation),
                )
            )
            self.convs_1x1.append(nn.Conv1d(channels, channels, 1))
            self.norms_1.append(LayerNorm(channels))
            self.norms_2.append(LayerNorm(channels))

    def forward(self, x, x_mask, g=None):
        if g is not None:
            x = x + g
        for i in range(self.n_layers):
            y = self.convs_sep[i](x * x_mask)
            y = F.gelu(self.norms_1[i](y))
            y = self.convs_1x1[i](y)
            y = F.gelu(self.norms_2[i](y))
            x = x + y
        return x * x_mask


def _spline_knots(unnormalized: torch.Tensor, lo: float, hi: float, min_bin: float):
    num_bins = unnormalized.shape[-1]
    sizes = F.softmax(unnormalized, dim=-1)
    sizes = min_bin + (1 - min_bin * num_bins) * sizes
    # cumulative sum over the (fixed, small) bin axis as a matmul: no CumSum op in the graph
    idx = torch.arange(num_bins, device=sizes.device)
    cum = torch.matmul(sizes, (idx.unsqueeze(1) <= idx.unsqueeze(0)).to(sizes.dtype))
    # knots: lo, interior cumulative positions, hi (upstream pins both ends exactly)
    interior = (hi - lo) * cum[..., :-1] + lo
    lo_t = torch.full_like(cum[..., :1], lo)
    hi_t = torch.full_like(cum[..., :1], hi)
    knots = torch.cat([lo_t, interior, hi_t], dim=-1)
    return knots, knots[..., 1:] - knots[..., :-1]


def _gather_bin(t: torch.Tensor, onehot: torch.Tensor) -> torch.Tensor:
    return (t * onehot).sum(-1)


def rational_quadratic_spline_inverse(
    inputs: torch.Tensor,
    unnormalized_widths: torch.Tensor,
    unnormalized_heights: torch.Tensor,
    unnormalized_derivatives: torch.Tensor,
    tail_bound: float = 5.0,
    min_bin_width: float = 1e-3,
    min_bin_height: float = 1e-3,
    min_derivative: float = 1e-3,
) -> torch.Tensor:
    """Inverse of the unconstrained RQ spline with linear tails, for all elements at once."""
    inside = (inputs >= -tail_bound) & (inputs <= tail_bound)
    x = inputs.clamp(-tail_bound, tail_bound)
    edge = math.log(math.exp(1 - min_derivative) - 1)
    edge_t = torch.full_like(unnormalized_derivatives[..., :1], edge)
    uder = torch.cat([edge_t, unnormalized_derivatives, edge_t], dim=-1)

    cumwidths, widths = _spline_knots(unnormalized_widths, -tail_bound, tail_bound, min_bin_width)
    cumheights, heights = _spline_knots(
        unnormalized_heights, -tail_bound, tail_bound, min_bin_height
    )
    derivatives = min_derivative + F.softplus(uder)

    # bin search on heights (inverse direction); the last knot gets +eps as upstream
    num_bins = widths.shape[-1]
    eps_pad = torch.zeros_like(cumheights)
    eps_pad = torch.cat([eps_pad[..., :-1], eps_pad[..., -1:] + 1e-6], dim=-1)
    bin_idx = (x.unsqueeze(-1) >= cumheights + eps_pad).sum(-1, keepdim=True) - 1
    bins = torch.arange(num_bins, device=x.device)
    onehot = (bin_idx == bins).to(x.dtype)  # [..., num_bins]

    in_cumwidths = _gather_bin(cumwidths[..., :-1], onehot)
    in_widths = _gather_bin(widths, onehot)
    in_cumheights = _gather_bin(cumheights[..., :-1], onehot)
    delta = heights / widths
    in_delta = _gather_bin(delta, onehot)
    in_d = _gather_bin(derivatives[..., :-1], onehot)
    in_d1 = _gather_bin(derivatives[..., 1:], onehot)
    in_heights = _gather_bin(heights, onehot)

    dy = x - in_cumheights
    s = in_d + in_d1 - 2 * in_delta
    a = dy * s + in_heights * (in_delta - in_d)
    b = in_heights * in_d - dy * s
    c = -in_delta * dy
    disc = (b.pow(2) - 4 * a * c).clamp_min(0)
    root = (2 * c) / (-b - torch.sqrt(disc))
    out = root * in_widths + in_cumwidths
    return torch.where(inside, out, inputs)


class ConvFlow(nn.Module):
    def __init__(
        self,
        in_channels: int,
        filter_channels: int,
        kernel_size: int,
        n_layers: int,
        num_bins: int = 10,
        tail_bound: float = 5.0,
    ):
        super().__init__()
        self.filter_channels = filter_channels
        self.num_bins = num_bins
        self.tail_bound = tail_bound
        self.half_channels = in_channels // 2
        self.pre = nn.Conv1d(self.half_channels, filter_channels, 1)
        self.convs = DDSConv(filter_channels, kernel_size, n_layers)
        self.proj = nn.Conv1d(filter_channels, self.half_channels * (num_bins * 3 - 1), 1)

    def forward(self, x, x_mask, g=None):
        x0, x1 = x[:, : self.half_channels], x[:, self.half_channels :]
        h = self.pre(x0)
        h = self.convs(h, x_mask, g=g)
        h = self.proj(h) * x_mask
        b, c, t = x0.shape
        h = h.reshape(b, c, -1, t).permute(0, 1, 3, 2)
        scale = math.sqrt(self.filter_channels)
        uw = h[..., : self.num_bins] / scale
        uh = h[..., self.num_bins : 2 * self.num_bins] / scale
        ud = h[..., 2 * self.num_bins :]
        x1 = rational_quadratic_spline_inverse(x1, uw, uh, ud, tail_bound=self.tail_bound)
        return torch.cat([x0, x1], 1) * x_mask


class WN(nn.Module):
    """WaveNet-style gated convolutions (residual coupling flow)."""

    def __init__(
        self,
        hidden_channels: int,
        kernel_size: int,
        dilation_rate: int,
        n_layers: int,
        gin_channels: int = 0,
    ):
        super().__init__()
        self.hidden_channels = hidden_channels
        self.n_layers = n_layers
        self.in_layers = nn.ModuleList()
        self.res_skip_layers = nn.ModuleList()
        if gin_channels:
            self.cond_layer = nn.Conv1d(gin_channels, 2 * hidden_channels * n_layers, 1)
        for i in range(n_layers):
            dilation = dilation_rate**i
            self.in_layers.append(
                nn.Conv1d(
                    hidden_channels,
                    2 * hidden_channels,
                    kernel_size,
                    dilation=dilation,
                    padding=get_padding(kernel_size, dilation),
                )
            )
            out = 2 * hidden_channels if i < n_layers - 1 else hidden_channels
            self.res_skip_layers.append(nn.Conv1d(hidden_channels, out, 1))

    def forward(self, x, x_mask, g=None):
        output = torch.zeros_like(x)
        hc = self.hidden_channels
        if g is not None:
            g = self.cond_layer(g)
        for i in range(self.n_layers):
            x_in = self.in_layers[i](x)
            g_l = g[:, i * 2 * hc : (i + 1) * 2 * hc] if g is not None else torch.zeros_like(x_in)
            acts = fused_add_tanh_sigmoid_multiply(x_in, g_l, hc)
            res_skip = self.res_skip_layers[i](acts)
            if i < self.n_layers - 1:
                x = (x + res_skip[:, :hc]) * x_mask
                output = output + res_skip[:, hc:]
            else:
                output = output + res_skip
        return output * x_mask


class _MeanOnlyCoupling(nn.Module):
    """A mean-only coupling layer, run in reverse: the first half of the channels, through
    `pre`, `enc` and `post`, gives the mean taken off the second half. Subclasses build
    those three (their names are the checkpoint's keys)."""

    half_channels: int
    pre: nn.Conv1d
    enc: nn.Module
    post: nn.Conv1d

    def forward(self, x, x_mask, g=None):
        x0, x1 = x[:, : self.half_channels], x[:, self.half_channels :]
        h = self.pre(x0) * x_mask
        h = self.enc(h, x_mask, g=g)
        m = self.post(h) * x_mask
        return torch.cat([x0, (x1 - m) * x_mask], 1)


class ResidualCouplingLayer(_MeanOnlyCoupling):
    def __init__(
        self, channels, hidden_channels, kernel_size, dilation_rate, n_layers, gin_channels=0
    ):
        super().__init__()
        self.half_channels = channels // 2
        self.pre = nn.Conv1d(self.half_channels, hidden_channels, 1)
        self.enc = WN(hidden_channels, kernel_size, dilation_rate, n_layers, gin_channels)
        self.post = nn.Conv1d(hidden_channels, self.half_channels, 1)  # mean_only


class TransformerCouplingLayer(_MeanOnlyCoupling):
    def __init__(
        self,
        channels,
        hidden_channels,
        filter_channels,
        n_heads,
        n_layers,
        kernel_size,
        gin_channels=0,
        cond_layer_idx=2,
        shared_encoder: Encoder | None = None,
    ):
        super().__init__()
        self.half_channels = channels // 2
        self.pre = nn.Conv1d(self.half_channels, hidden_channels, 1)
        self.enc = shared_encoder or Encoder(
            hidden_channels,
            filter_channels,
            n_heads,
            n_layers,
            kernel_size,
            gin_channels=gin_channels,
            cond_layer_idx=cond_layer_idx,
        )
        self.post = nn.Conv1d(hidden_channels, self.half_channels, 1)  # mean_only


class FlowBlock(nn.Module):
    """Coupling layers interleaved with Flip, run in reverse (prior -> latent)."""

    def __init__(self, layers: list[nn.Module], shared: nn.Module | None = None):
        super().__init__()
        if shared is not None:
            self.wn = shared  # upstream registers the shared encoder as `flow.wn`
        self.flows = nn.ModuleList()
        for layer in layers:
            self.flows.append(layer)
            self.flows.append(Flip())

    def forward(self, x, x_mask, g=None):
        for flow in reversed(self.flows):
            x = flow(x, x_mask, g=g)
        return x
