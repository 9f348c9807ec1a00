"""Per-utterance conditioning blocks of Bert-VITS2 2.1/2.2 (emotion) and Style-Bert-VITS2 (style).

Each block turns one vector per item into the [B, hidden] embedding the text encoder adds at
every position. The text encoder holds its block as `conditioning`; upstream keeps the same
modules directly on the text encoder (`enc_p.emo_proj`, ...), and the checkpoint loader maps
between the two layouts (`vits2.checkpoint`). Names below the block are upstream's.
The quantisers are the inference half of vector-quantize-pytorch's `VectorQuantize` (what the
releases trained with): the nearest code by Euclidean distance, per head.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from vits2.config import EMO_IDS, STYLE_DIM

CODEBOOK_TRAINING_BUFFERS = ("embed_avg", "cluster_size", "initted")
"""Quantiser state that only training reads; loaders skip it."""


class Codebook(nn.Module):
    """`_codebook` of a quantiser: `embed` [heads, codes, dim]."""

    def __init__(self, heads: int, codes: int, dim: int):
        super().__init__()
        self.register_buffer("embed", torch.zeros(heads, codes, dim))


class VectorQuantizer(nn.Module):
    """Nearest-code lookup with one codebook per head (vector-quantize-pytorch layout).

    With `heads * codebook_dim != dim` the input is projected in (`project_in`) and the codes
    projected out (`project_out`); head h takes values h*codebook_dim .. (h+1)*codebook_dim - 1.
    """

    def __init__(self, dim: int, codebook_size: int, heads: int = 1, codebook_dim: int = 0):
        super().__init__()
        self.heads = heads
        self.codebook_dim = codebook_dim or dim
        inner = heads * self.codebook_dim
        self.project_in = nn.Linear(dim, inner) if inner != dim else nn.Identity()
        self.project_out = nn.Linear(inner, dim) if inner != dim else nn.Identity()
        self._codebook = Codebook(heads, codebook_size, self.codebook_dim)

    def nearest(self, x: torch.Tensor) -> torch.Tensor:
        """x [B, dim] -> code index per head [B, heads] (ties: the lowest index, as argmax)."""
        x = self.project_in(x).reshape(x.size(0), self.heads, 1, self.codebook_dim)
        dist = (x - self._codebook.embed.unsqueeze(0)).pow(2).sum(-1)  # [B, heads, codes]
        return torch.argmin(dist, dim=-1)

    def lookup(self, indices: torch.Tensor) -> torch.Tensor:
        """Code indices [B, heads] -> quantised vector [B, dim] (a one-hot product: exact)."""
        codes = self._codebook.embed.size(1)
        onehot = (indices.unsqueeze(-1) == torch.arange(codes, device=indices.device)).to(
            self._codebook.embed.dtype
        )
        q = torch.matmul(onehot.transpose(0, 1), self._codebook.embed)  # [heads, B, dim]
        return self.project_out(q.transpose(0, 1).reshape(indices.size(0), -1))


class GatedMLP(nn.Module):
    def __init__(self, dim: int, hidden: int):
        super().__init__()
        self.c_fc1 = nn.Linear(dim, hidden, bias=False)
        self.c_fc2 = nn.Linear(dim, hidden, bias=False)
        self.c_proj = nn.Linear(hidden, dim, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.c_proj(F.silu(self.c_fc1(x)) * self.c_fc2(x))


class ResidualMLPBlock(nn.Module):
    def __init__(self, dim: int, hidden: int):
        super().__init__()
        self.norm = nn.LayerNorm(dim)
        self.mlp = GatedMLP(dim, hidden)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.mlp(self.norm(x))


def clap_feature_net() -> nn.Sequential:
    """2.2's `in_feature_net`: CLAP [512] -> [512] before the quantiser (fixed sizes)."""
    return nn.Sequential(
        nn.Linear(512, 1028, bias=False),
        nn.GELU(),
        nn.LayerNorm(1028),
        ResidualMLPBlock(1028, 512),
        nn.Linear(1028, 512, bias=False),
    )


class Emotion21(nn.Module):
    """2.1: a wav2vec2 embedding [B, 1024] -> nearest of 10 codes, or an id picks its code."""

    def __init__(self, hidden: int):
        super().__init__()
        self.emo_proj = nn.Linear(1024, 1024)
        self.emo_quantizer = VectorQuantizer(1024, EMO_IDS)
        self.emo_q_proj = nn.Linear(1024, hidden)

    def forward(self, emo: torch.Tensor, emo_id: torch.Tensor):
        """emo_id [B] >= 0 selects that code; -1 uses the item's `emo`. -> (emb, codes [B, 1])."""
        nearest = self.emo_quantizer.nearest(self.emo_proj(emo))
        ids = emo_id.view(-1, 1)
        codes = torch.where(ids >= 0, ids, nearest)
        return self.emo_q_proj(self.emo_quantizer.lookup(codes)), codes


class Emotion22(nn.Module):
    """2.2: a CLAP embedding [B, 512] -> feature net -> 32-head quantiser -> hidden."""

    def __init__(self, hidden: int):
        super().__init__()
        self.in_feature_net = clap_feature_net()
        self.emo_vq = VectorQuantizer(512, 64, heads=32, codebook_dim=32)
        self.out_feature_net = nn.Linear(512, hidden)

    def forward(self, emo: torch.Tensor):
        codes = self.emo_vq.nearest(self.in_feature_net(emo))
        return self.out_feature_net(self.emo_vq.lookup(codes)), codes


class Style(nn.Module):
    """Style-Bert-VITS2: style_vec [B, 256] -> hidden."""

    def __init__(self, hidden: int):
        super().__init__()
        self.style_proj = nn.Linear(STYLE_DIM, hidden)

    def forward(self, style_vec: torch.Tensor):
        return self.style_proj(style_vec), None


def conditioning_block(parts, hidden: int) -> nn.Module | None:
    """The block a release adds to the text encoder (`vits2.config.ModelParts`), or None."""
    if parts.emotion == "2.1":
        return Emotion21(hidden)
    if parts.emotion == "2.2":
        return Emotion22(hidden)
    return Style(hidden) if parts.style else None


def conditioning_inputs(
    parts,
    neutral_style: torch.Tensor,
    batch: int,
    emo=None,
    emo_id=None,
    style_vec=None,
    device=None,
) -> dict[str, torch.Tensor]:
    """A release's extra encoder inputs, with neutral defaults for what is not given.

    2.1: neither emo nor emo_id -> emo_id 0 for every item (upstream's webui default); emo alone
    -> emo_id -1 (use the embedding); emo_id alone -> emo zeros (unused). 2.2: emo zeros.
    Style-Bert-VITS2: `neutral_style` (style_vectors.npy row 0). One unbatched value applies to
    every item. Inputs the release does not have are an error.
    """
    given = {"emo": emo, "emo_id": emo_id, "style_vec": style_vec}
    extra = [k for k, v in given.items() if v is not None and k not in parts.extra_inputs]
    if extra:
        raise ValueError(
            f"this {parts.release} voice does not take {', '.join(extra)} "
            f"(its conditioning inputs: {', '.join(parts.extra_inputs) or 'none'})"
        )
    out = {}
    if parts.emo_dim:
        if emo is None:
            emo = torch.zeros(batch, parts.emo_dim, device=device)
        out["emo"] = _batched(emo, "emo", (batch, parts.emo_dim), torch.float32, device)
    if parts.emotion == "2.1":
        if emo_id is None:
            emo_id = -1 if given["emo"] is not None else 0
        emo_id = _batched(emo_id, "emo_id", (batch,), torch.long, device)
        if bool((emo_id < -1).any() or (emo_id >= EMO_IDS).any()):
            raise ValueError(f"emo_id must be in [0, {EMO_IDS - 1}] (or -1: use emo)")
        out["emo_id"] = emo_id
    if parts.style:
        if style_vec is None:
            style_vec = neutral_style
        out["style_vec"] = _batched(
            style_vec, "style_vec", (batch, STYLE_DIM), torch.float32, device
        )
    return out


def _batched(value, name: str, shape: tuple, dtype, device) -> torch.Tensor:
    t = torch.as_tensor(value, dtype=dtype, device=device)
    if t.shape == shape[1:]:  # one value for every item
        t = t.expand(shape)
    if t.shape != shape:
        raise ValueError(
            f"{name} must be {list(shape)} (or one value for all), got {list(t.shape)}"
        )
    return t
