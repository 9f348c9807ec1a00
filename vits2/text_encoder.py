"""Text encoder (upstream `enc_p`) of every supported release.

Shared: phone, tone and language embeddings, BERT projections, a relative-position transformer
with speaker conditioning, and the prior statistics. Per release (`ModelParts`): which BERT
slots are projected (JP-Extra: one, `bert_proj`, fed the Japanese features) and which
per-utterance block is added (2.1/2.2 emotion, Style-Bert-VITS2 style; `vits2.conditioning`).
"""

from __future__ import annotations

import math

from torch import nn

from vits2.attentions import Encoder
from vits2.conditioning import conditioning_block
from vits2.config import VoiceConfig


class TextEncoder(nn.Module):
    def __init__(self, cfg: VoiceConfig):
        super().__init__()
        m = cfg.model
        self.parts = cfg.parts
        self.hidden_channels = m.hidden_channels
        self.out_channels = m.inter_channels
        self.emb = nn.Embedding(m.n_vocab, m.hidden_channels)
        self.tone_emb = nn.Embedding(m.num_tones, m.hidden_channels)
        self.language_emb = nn.Embedding(m.num_languages, m.hidden_channels)
        # upstream names: bert_proj takes the first slot the release has (ZH, or JP for JP-Extra)
        self.bert_proj = nn.Conv1d(m.bert_dim, m.hidden_channels, 1)
        if len(self.parts.bert_inputs) == 3:
            self.ja_bert_proj = nn.Conv1d(m.bert_dim, m.hidden_channels, 1)
            self.en_bert_proj = nn.Conv1d(m.bert_dim, m.hidden_channels, 1)
        self.conditioning = conditioning_block(self.parts, m.hidden_channels)
        gin = m.gin_channels if m.use_spk_conditioned_encoder else 0
        self.encoder = Encoder(
            m.hidden_channels,
            m.filter_channels,
            m.n_heads,
            m.n_layers,
            m.kernel_size,
            gin_channels=gin,
            cond_layer_idx=m.cond_layer_idx,
        )
        self.proj = nn.Conv1d(m.hidden_channels, m.inter_channels * 2, 1)

    def condition(self, emo=None, emo_id=None, style_vec=None):
        """The release's per-utterance embedding [B, hidden] and codes [B, heads] (or Nones)."""
        if self.parts.emotion == "2.1":
            return self.conditioning(emo, emo_id)
        if self.parts.emotion == "2.2":
            return self.conditioning(emo)
        if self.parts.style:
            return self.conditioning(style_vec)
        return None, None

    def forward(self, phones, phone_mask, tones, languages, berts, cond_emb=None, g=None):
        """berts: the release's BERT slots in `parts.bert_inputs` order, each [B, 1024, P]."""
        # the addition order is upstream's, so float results match it bit for bit
        x = self.emb(phones) + self.tone_emb(tones) + self.language_emb(languages)
        x = x + self.bert_proj(berts[0]).transpose(1, 2)
        if len(berts) == 3:
            x = x + self.ja_bert_proj(berts[1]).transpose(1, 2)
            x = x + self.en_bert_proj(berts[2]).transpose(1, 2)
        if cond_emb is not None:
            x = x + cond_emb.unsqueeze(1)
        x = x * math.sqrt(self.hidden_channels)
        x = x.transpose(1, -1)
        x = self.encoder(x * phone_mask, phone_mask, g=g)
        stats = self.proj(x) * phone_mask
        m_p, logs_p = stats[:, : self.out_channels], stats[:, self.out_channels :]
        return x, m_p, logs_p
