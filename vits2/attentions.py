"""Transformer pieces of the text encoder and the transformer flow (upstream `attentions.py`).

Relative-position attention is written with a dense band matrix instead of upstream's
pad/reshape tricks: the same numbers, but every shape follows the input length symbolically, so
the graph exports with dynamic axes and runs under TensorRT.
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional as F


class LayerNorm(nn.Module):
    """LayerNorm over the channel axis of [B, C, T] (parameters `gamma`, `beta` as upstream)."""

    def __init__(self, channels: int, eps: float = 1e-5):
        super().__init__()
        self.channels = channels
        self.eps = eps
        self.gamma = nn.Parameter(torch.ones(channels))
        self.beta = nn.Parameter(torch.zeros(channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.transpose(1, -1)
        x = F.layer_norm(x, (self.channels,), self.gamma, self.beta, self.eps)
        return x.transpose(1, -1)


def relative_band(length: torch.Tensor | int, window: int, device, dtype) -> torch.Tensor:
    """[L, L, 2w+1] one-hot of the relative position (key - query + w); zero outside the window."""
    pos = torch.arange(length, device=device)
    rel = pos.unsqueeze(0) - pos.unsqueeze(1) + window
    ks = torch.arange(2 * window + 1, device=device)
    return (rel.unsqueeze(-1) == ks).to(dtype)


class MultiHeadAttention(nn.Module):
    def __init__(self, channels: int, out_channels: int, n_heads: int, window_size: int | None = 4):
        super().__init__()
        assert channels % n_heads == 0
        self.n_heads = n_heads
        self.k_channels = channels // n_heads
        self.window_size = window_size
        self.conv_q = nn.Conv1d(channels, channels, 1)
        self.conv_k = nn.Conv1d(channels, channels, 1)
        self.conv_v = nn.Conv1d(channels, channels, 1)
        self.conv_o = nn.Conv1d(channels, out_channels, 1)
        if window_size is not None:
            shape = (1, window_size * 2 + 1, self.k_channels)
            self.emb_rel_k = nn.Parameter(torch.randn(shape) * self.k_channels**-0.5)
            self.emb_rel_v = nn.Parameter(torch.randn(shape) * self.k_channels**-0.5)

    def forward(self, x: torch.Tensor, attn_mask: torch.Tensor) -> torch.Tensor:
        """Self-attention over x [B, C, T]; attn_mask [B, 1, T, T] with 1 where attending is allowed."""
        b, c, t = x.shape
        h, d = self.n_heads, self.k_channels
        q = self.conv_q(x).view(b, h, d, t).transpose(2, 3)
        k = self.conv_k(x).view(b, h, d, t).transpose(2, 3)
        v = self.conv_v(x).view(b, h, d, t).transpose(2, 3)
        q = q / math.sqrt(d)
        scores = torch.matmul(q, k.transpose(-2, -1))  # [B, H, T, T]
        if self.window_size is not None:
            band = relative_band(t, self.window_size, x.device, x.dtype)  # [T, T, K]
            rel_logits = torch.matmul(q, self.emb_rel_k.transpose(-2, -1))  # [B, H, T, K]
            # scores_local[b,h,i,j] = sum_k rel_logits[b,h,i,k] * band[i,j,k], as a batched matmul over i
            local = torch.matmul(
                rel_logits.permute(2, 0, 1, 3).reshape(t, b * h, -1), band.transpose(1, 2)
            )
            scores = scores + local.reshape(t, b, h, t).permute(1, 2, 0, 3)
        scores = scores.masked_fill(attn_mask == 0, -1e4)
        p_attn = F.softmax(scores, dim=-1)
        out = torch.matmul(p_attn, v)  # [B, H, T, D]
        if self.window_size is not None:
            rel_weights = torch.matmul(p_attn.permute(2, 0, 1, 3).reshape(t, b * h, t), band)
            rel_weights = rel_weights.reshape(t, b, h, -1).permute(1, 2, 0, 3)  # [B, H, T, K]
            out = out + torch.matmul(rel_weights, self.emb_rel_v)
        out = out.transpose(2, 3).reshape(b, c, t)
        return self.conv_o(out)


class FFN(nn.Module):
    def __init__(self, in_channels: int, out_channels: int, filter_channels: int, kernel_size: int):
        super().__init__()
        self.conv_1 = nn.Conv1d(in_channels, filter_channels, kernel_size)
        self.conv_2 = nn.Conv1d(filter_channels, out_channels, kernel_size)
        self.pad = ((kernel_size - 1) // 2, kernel_size // 2)

    def forward(self, x: torch.Tensor, x_mask: torch.Tensor) -> torch.Tensor:
        x = self.conv_1(F.pad(x * x_mask, self.pad))
        x = torch.relu(x)
        x = self.conv_2(F.pad(x * x_mask, self.pad))
        return x * x_mask


class Encoder(nn.Module):
    """Relative-position transformer with optional speaker conditioning at `cond_layer_idx`."""

    def __init__(
        self,
        hidden_channels: int,
        filter_channels: int,
        n_heads: int,
        n_layers: int,
        kernel_size: int,
        gin_channels: int = 0,
        cond_layer_idx: int = 2,
        window_size: int = 4,
    ):
        super().__init__()
        self.n_layers = n_layers
        self.cond_layer_idx = n_layers
        if gin_channels:
            self.spk_emb_linear = nn.Linear(gin_channels, hidden_channels)
            self.cond_layer_idx = cond_layer_idx
        self.attn_layers = nn.ModuleList()
        self.norm_layers_1 = nn.ModuleList()
        self.ffn_layers = nn.ModuleList()
        self.norm_layers_2 = nn.ModuleList()
        for _ in range(n_layers):
            self.attn_layers.append(
                MultiHeadAttention(hidden_channels, hidden_channels, n_heads, window_size)
            )
            self.norm_layers_1.append(LayerNorm(hidden_channels))
            self.ffn_layers.append(
                FFN(hidden_channels, hidden_channels, filter_channels, kernel_size)
            )
            self.norm_layers_2.append(LayerNorm(hidden_channels))

    def forward(
        self, x: torch.Tensor, x_mask: torch.Tensor, g: torch.Tensor | None = None
    ) -> torch.Tensor:
        attn_mask = x_mask.unsqueeze(2) * x_mask.unsqueeze(-1)
        x = x * x_mask
        for i in range(self.n_layers):
            if i == self.cond_layer_idx and g is not None:
                x = x + self.spk_emb_linear(g.transpose(1, 2)).transpose(1, 2)
                x = x * x_mask
            y = self.attn_layers[i](x, attn_mask)
            x = self.norm_layers_1[i](x + y)
            y = self.ffn_layers[i](x, x_mask)
            x = self.norm_layers_2[i](x + y)
        return x * x_mask
