"""The two duration predictors of Bert-VITS2's `SynthesizerTrn` (inference direction): the
deterministic one (`dp`) and the stochastic one (`sdp`), mixed by sdp_ratio in
`SynthesizerTrn.encode`."""

from __future__ import annotations

import torch
from torch import nn

from vits2.attentions import LayerNorm
from vits2.flows import ConvFlow, DDSConv, ElementwiseAffine, Flip


class DurationPredictor(nn.Module):
    def __init__(self, in_channels: int, filter_channels: int, kernel_size: int, gin_channels: int):
        super().__init__()
        self.conv_1 = nn.Conv1d(in_channels, filter_channels, kernel_size, padding=kernel_size // 2)
        self.norm_1 = LayerNorm(filter_channels)
        self.conv_2 = nn.Conv1d(
            filter_channels, filter_channels, kernel_size, padding=kernel_size // 2
        )
        self.norm_2 = LayerNorm(filter_channels)
        self.proj = nn.Conv1d(filter_channels, 1, 1)
        if gin_channels:
            self.cond = nn.Conv1d(gin_channels, in_channels, 1)

    def forward(self, x, x_mask, g=None):
        if g is not None:
            x = x + self.cond(g)
        x = self.norm_1(torch.relu(self.conv_1(x * x_mask)))
        x = self.norm_2(torch.relu(self.conv_2(x * x_mask)))
        return self.proj(x * x_mask) * x_mask


class StochasticDurationPredictor(nn.Module):
    """Reverse direction only; the posterior flows (`post_*`) are training-only."""

    def __init__(self, in_channels: int, kernel_size: int, n_flows: int, gin_channels: int):
        super().__init__()
        filter_channels = in_channels  # upstream overrides its filter_channels argument so
        self.pre = nn.Conv1d(in_channels, filter_channels, 1)
        self.proj = nn.Conv1d(filter_channels, filter_channels, 1)
        self.convs = DDSConv(filter_channels, kernel_size, n_layers=3)
        if gin_channels:
            self.cond = nn.Conv1d(gin_channels, filter_channels, 1)
        self.flows = nn.ModuleList([ElementwiseAffine(2)])
        for _ in range(n_flows):
            self.flows.append(ConvFlow(2, filter_channels, kernel_size, n_layers=3))
            self.flows.append(Flip())

    def forward(self, x, x_mask, noise, g=None):
        """noise [B, 2, P] already scaled by noise_scale_w -> logw [B, 1, P]."""
        x = self.pre(x)
        if g is not None:
            x = x + self.cond(g)
        x = self.convs(x, x_mask)
        x = self.proj(x) * x_mask
        flows = list(reversed(self.flows))
        flows = flows[:-2] + [flows[-1]]  # upstream skips the first ConvFlow in reverse
        z = noise
        for flow in flows:
            z = flow(z, x_mask, g=x)
        return z[:, :1]
