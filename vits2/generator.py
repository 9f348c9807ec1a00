"""HiFi-GAN style decoder (upstream `Generator`), with frame masks so batches equal singles.

Upstream decodes one utterance at a time, so its convolutions see zero padding past the end.
In a padded batch the frames past an utterance's end hold other values; multiplying by the
frame mask before every convolution restores the zero padding, so each utterance's audio is the
same in a batch as alone. With an all-ones mask (batch 1) the result equals upstream exactly.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

LRELU_SLOPE = 0.1


def get_padding(kernel_size: int, dilation: int = 1) -> int:
    return (kernel_size * dilation - dilation) // 2


class ResBlock1(nn.Module):
    def __init__(self, channels: int, kernel_size: int, dilation: list[int]):
        super().__init__()
        self.convs1 = nn.ModuleList(
            nn.Conv1d(
                channels, channels, kernel_size, 1, dilation=d, padding=get_padding(kernel_size, d)
            )
            for d in dilation
        )
        self.convs2 = nn.ModuleList(
            nn.Conv1d(
                channels, channels, kernel_size, 1, dilation=1, padding=get_padding(kernel_size, 1)
            )
            for _ in dilation
        )

    def forward(self, x: torch.Tensor, x_mask: torch.Tensor | None) -> torch.Tensor:
        for c1, c2 in zip(self.convs1, self.convs2, strict=True):
            xt = F.leaky_relu(x, LRELU_SLOPE)
            if x_mask is not None:
                xt = xt * x_mask
            xt = F.leaky_relu(c1(xt), LRELU_SLOPE)
            if x_mask is not None:
                xt = xt * x_mask
            x = c2(xt) + x
        return x


class ResBlock2(nn.Module):
    def __init__(self, channels: int, kernel_size: int, dilation: list[int]):
        super().__init__()
        self.convs = nn.ModuleList(
            nn.Conv1d(
                channels, channels, kernel_size, 1, dilation=d, padding=get_padding(kernel_size, d)
            )
            for d in dilation[:2]
        )

    def forward(self, x: torch.Tensor, x_mask: torch.Tensor | None) -> torch.Tensor:
        for c in self.convs:
            xt = F.leaky_relu(x, LRELU_SLOPE)
            if x_mask is not None:
                xt = xt * x_mask
            x = c(xt) + x
        return x


class Generator(nn.Module):
    def __init__(
        self,
        initial_channel: int,
        resblock: str,
        resblock_kernel_sizes: list[int],
        resblock_dilation_sizes: list[list[int]],
        upsample_rates: list[int],
        upsample_initial_channel: int,
        upsample_kernel_sizes: list[int],
        gin_channels: int = 0,
    ):
        super().__init__()
        self.num_kernels = len(resblock_kernel_sizes)
        self.upsample_rates = list(upsample_rates)
        self.conv_pre = nn.Conv1d(initial_channel, upsample_initial_channel, 7, 1, padding=3)
        block = ResBlock1 if resblock == "1" else ResBlock2
        self.ups = nn.ModuleList()
        self.resblocks = nn.ModuleList()
        ch = upsample_initial_channel
        for i, (u, k) in enumerate(zip(upsample_rates, upsample_kernel_sizes, strict=True)):
            ch = upsample_initial_channel // (2 ** (i + 1))
            self.ups.append(nn.ConvTranspose1d(ch * 2, ch, k, u, padding=(k - u) // 2))
            for rk, rd in zip(resblock_kernel_sizes, resblock_dilation_sizes, strict=True):
                self.resblocks.append(block(ch, rk, rd))
        self.conv_post = nn.Conv1d(ch, 1, 7, 1, padding=3, bias=False)
        if gin_channels:
            self.cond = nn.Conv1d(gin_channels, upsample_initial_channel, 1)

    def forward(
        self, x: torch.Tensor, g: torch.Tensor | None = None, lengths: torch.Tensor | None = None
    ) -> torch.Tensor:
        """x [B, C, F] latent frames -> audio [B, 1, F * hop].

        lengths [B] valid frames per item, or None when nothing is padded.
        """
        x = self.conv_pre(x)
        if g is not None:
            x = x + self.cond(g)
        scale = 1
        for i, up in enumerate(self.ups):
            x = F.leaky_relu(x, LRELU_SLOPE)
            if lengths is not None:
                x = x * _length_mask(lengths * scale, x)
            x = up(x)
            scale *= self.upsample_rates[i]
            mask = None if lengths is None else _length_mask(lengths * scale, x)
            xs = None
            for j in range(self.num_kernels):
                y = self.resblocks[i * self.num_kernels + j](x, mask)
                xs = y if xs is None else xs + y
            x = xs / self.num_kernels
        x = F.leaky_relu(x)
        if lengths is not None:
            x = x * _length_mask(lengths * scale, x)
        x = self.conv_post(x)
        return torch.tanh(x)


def _length_mask(lengths: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """[B, 1, T] float mask, T = like.size(2)."""
    pos = torch.arange(like.size(2), device=like.device)
    return (pos.unsqueeze(0) < lengths.unsqueeze(1)).unsqueeze(1).to(like.dtype)
