"""Inference path of upstream Bert-VITS2 v2.3 `SynthesizerTrn`, batched with padding + lengths.

`encode` runs everything up to integer durations (text encoder, duration predictors);
`decode` runs length regulation, the prior sample, the flow in reverse and the vocoder. The
exported graphs follow the same split. Noise is always an input here: `infer` draws it from a
seed when the caller gives none, so the same seed gives the same audio.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from vits2.attentions import Encoder
from vits2.conditioning import conditioning_inputs
from vits2.config import STYLE_DIM, VoiceConfig
from vits2.duration import DurationPredictor, StochasticDurationPredictor
from vits2.flows import FlowBlock, ResidualCouplingLayer, TransformerCouplingLayer
from vits2.generator import Generator
from vits2.serving import noise
from vits2.text_encoder import TextEncoder


def sequence_mask(lengths: torch.Tensor, max_length: int | torch.Tensor) -> torch.Tensor:
    pos = torch.arange(max_length, device=lengths.device)
    return pos.unsqueeze(0) < lengths.unsqueeze(1)


@dataclass
class EncoderOutput:
    m_p: torch.Tensor  # [B, C, P] prior mean per phone
    logs_p: torch.Tensor  # [B, C, P] prior log-std per phone
    g: torch.Tensor  # [B, gin, 1] speaker conditioning
    w: torch.Tensor  # [B, P] durations before ceil (0 on padding)
    durations: torch.Tensor  # [B, P] int64 frames per phone
    frame_lengths: torch.Tensor  # [B] int64
    cond_emb: torch.Tensor | None = None  # [B, hidden] emotion/style embedding (2.1, 2.2, SBV2)
    emo_codes: torch.Tensor | None = None  # [B, heads] int64 emotion codes used (2.1, 2.2)


@dataclass
class InferenceResult:
    audio: torch.Tensor  # [B, S] float32, zero past audio_lengths
    audio_lengths: torch.Tensor  # [B] int64
    durations: torch.Tensor  # [B, P] int64
    frame_lengths: torch.Tensor  # [B] int64
    w: torch.Tensor | None = None
    z_p: torch.Tensor | None = None  # [B, C, F]
    z: torch.Tensor | None = None  # [B, C, F]
    m_p_frames: torch.Tensor | None = None
    logs_p_frames: torch.Tensor | None = None
    cond_emb: torch.Tensor | None = None  # [B, hidden] upstream's emo_emb / style_emb
    emo_codes: torch.Tensor | None = None  # [B, heads] int64 emotion codes used


def _per_item(value, batch: int, like: torch.Tensor) -> torch.Tensor:
    """Float or [B] tensor -> [B, 1, 1] tensor."""
    t = torch.as_tensor(value, dtype=like.dtype, device=like.device)
    if t.dim() == 0:
        t = t.expand(batch)
    if t.shape != (batch,):
        raise ValueError(
            f"a scale must be a float or a [B]={batch} tensor, got shape {tuple(t.shape)}"
        )
    return t.view(batch, 1, 1)


def _seeds(seed, batch: int) -> list[int]:
    if seed is None:
        return [noise.random_seed()] * batch
    if isinstance(seed, int | np.integer):
        return [int(seed)] * batch
    seeds = [int(s) for s in seed]
    if len(seeds) != batch:
        raise ValueError(f"seed must be an int or a list of {batch} ints, got {len(seeds)}")
    return seeds


class SynthesizerTrn(nn.Module):
    def __init__(self, cfg: VoiceConfig):
        super().__init__()
        self.config = cfg
        m = cfg.model
        self.inter_channels = m.inter_channels
        self.hop_length = cfg.data.hop_length
        self.enc_p = TextEncoder(cfg)
        self.dec = Generator(
            m.inter_channels,
            m.resblock,
            m.resblock_kernel_sizes,
            m.resblock_dilation_sizes,
            m.upsample_rates,
            m.upsample_initial_channel,
            m.upsample_kernel_sizes,
            gin_channels=m.gin_channels,
        )
        if m.use_transformer_flow:
            make = lambda shared: TransformerCouplingLayer(  # noqa: E731
                m.inter_channels,
                m.hidden_channels,
                m.filter_channels,
                m.n_heads,
                m.n_layers_trans_flow,
                5,
                gin_channels=m.gin_channels,
                cond_layer_idx=m.cond_layer_idx,
                shared_encoder=shared,
            )
            shared = None
            if m.flow_share_parameter:
                shared = Encoder(
                    m.hidden_channels,
                    m.filter_channels,
                    m.n_heads,
                    m.n_layers_trans_flow,
                    5,
                    gin_channels=m.gin_channels,
                    cond_layer_idx=m.cond_layer_idx,
                )
            self.flow = FlowBlock([make(shared) for _ in range(m.n_flow_layer)], shared=shared)
        else:
            self.flow = FlowBlock(
                [
                    ResidualCouplingLayer(
                        m.inter_channels,
                        m.hidden_channels,
                        5,
                        1,
                        m.n_flow_layer,
                        gin_channels=m.gin_channels,
                    )
                    for _ in range(4)
                ]
            )
        self.sdp = StochasticDurationPredictor(m.hidden_channels, 3, 4, m.gin_channels)
        self.dp = DurationPredictor(m.hidden_channels, m.dp_filter_channels, 3, m.gin_channels)
        self.emb_g = nn.Embedding(cfg.data.n_speakers, m.gin_channels)
        # Style-Bert-VITS2: the neutral style (style_vectors.npy row 0, set by load_model) that
        # infer uses when no style_vec is given; not part of the checkpoint
        self.register_buffer("neutral_style", torch.zeros(STYLE_DIM), persistent=False)
        self.emotion_ignored = False
        """True for a 2.1 checkpoint without its emotion codebook (see vits2.checkpoint)."""

    # -- stage 1 ---------------------------------------------------------------------------
    def encode(
        self,
        phones,
        tones,
        languages,
        bert_zh,
        bert_ja,
        bert_en,
        sid,
        phone_lengths,
        sdp_ratio,
        noise_scale_w,
        length_scale,
        noise_sdp,
        *,
        emo=None,
        emo_id=None,
        style_vec=None,
    ) -> EncoderOutput:
        """Everything up to integer durations. The release's extra inputs must all be given
        (`infer` fills defaults): emo [B,1024] + emo_id [B] (2.1; id -1 uses emo), emo [B,512]
        (2.2), style_vec [B,256] (Style-Bert-VITS2). BERT slots the release lacks may be None."""
        given = {"bert_zh": bert_zh, "bert_ja": bert_ja, "bert_en": bert_en}
        berts = [given[name] for name in self.config.parts.bert_inputs]
        b, p = phones.shape
        phone_mask = sequence_mask(phone_lengths, p).unsqueeze(1).to(berts[0].dtype)
        g = self.emb_g(sid).unsqueeze(-1)
        cond_emb, codes = self.enc_p.condition(emo=emo, emo_id=emo_id, style_vec=style_vec)
        x, m_p, logs_p = self.enc_p(phones, phone_mask, tones, languages, berts, cond_emb, g=g)
        sdp_ratio = _per_item(sdp_ratio, b, x)
        noise = noise_sdp * _per_item(noise_scale_w, b, x)
        logw = self.sdp(x, phone_mask, noise, g=g) * sdp_ratio + self.dp(x, phone_mask, g=g) * (
            1 - sdp_ratio
        )
        w = torch.exp(logw) * phone_mask * _per_item(length_scale, b, x)
        w_ceil = torch.ceil(w)
        frame_lengths = torch.clamp_min(w_ceil.sum([1, 2]), 1).long()
        return EncoderOutput(
            m_p, logs_p, g, w[:, 0], w_ceil[:, 0].long(), frame_lengths, cond_emb, codes
        )

    def conditioning_inputs(self, batch: int, emo=None, emo_id=None, style_vec=None, device=None):
        """The release's extra encoder inputs, neutral defaults filled in (`vits2.conditioning`)."""
        return conditioning_inputs(
            self.config.parts, self.neutral_style, batch, emo, emo_id, style_vec, device
        )

    # -- stage 2 ---------------------------------------------------------------------------
    def expand_frames(self, durations: torch.Tensor, num_frames: int | torch.Tensor, dtype):
        """Alignment [B, F, P]: 1 where frame f belongs to phone p (upstream generate_path)."""
        d = durations.to(dtype)
        p = durations.size(1)
        # cumulative frame ends via a triangular matmul: exact for integer durations, and no
        # CumSum op in the graph
        pos = torch.arange(p, device=d.device)
        tri = (pos.unsqueeze(1) <= pos.unsqueeze(0)).to(dtype)
        ends = torch.matmul(d, tri)  # [B, P]
        starts = ends - d
        f = torch.arange(num_frames, device=d.device).to(dtype).view(1, -1, 1)
        return ((f >= starts.unsqueeze(1)) & (f < ends.unsqueeze(1))).to(dtype)

    def decode(
        self,
        m_p,
        logs_p,
        g,
        durations,
        frame_lengths,
        noise_scale,
        noise_z,
        return_intermediates: bool = False,
        always_mask: bool = False,
    ) -> InferenceResult:
        """Frames from integer durations, prior sample, flow, vocoder.

        The vocoder masks padded frames only when some item is shorter than noise_z's frames
        (or always, for graphs whose batches are unknown at export).
        """
        b = m_p.size(0)
        num_frames = noise_z.size(2)
        attn = self.expand_frames(durations, num_frames, m_p.dtype)  # [B, F, P]
        m_f = torch.matmul(attn, m_p.transpose(1, 2)).transpose(1, 2)
        logs_f = torch.matmul(attn, logs_p.transpose(1, 2)).transpose(1, 2)
        frame_mask = sequence_mask(frame_lengths, num_frames).unsqueeze(1).to(m_p.dtype)
        z_p = m_f + noise_z * torch.exp(logs_f) * _per_item(noise_scale, b, m_f)
        z = self.flow(z_p, frame_mask, g=g)
        padded = always_mask or bool((frame_lengths != num_frames).any())
        audio = self.dec(z * frame_mask, g=g, lengths=frame_lengths if padded else None)[:, 0]
        audio_lengths = frame_lengths * self.hop_length
        audio = audio * sequence_mask(audio_lengths, audio.size(1)).to(audio.dtype)
        res = InferenceResult(audio, audio_lengths, durations, frame_lengths)
        if return_intermediates:
            res.z_p, res.z, res.m_p_frames, res.logs_p_frames = z_p, z, m_f, logs_f
        return res

    # -- public API ------------------------------------------------------------------------
    @torch.inference_mode()
    def infer(
        self,
        phones,
        tones,
        languages,
        bert_zh,
        bert_ja,
        bert_en,
        sid,
        phone_lengths=None,
        *,
        sdp_ratio=0.0,
        noise_scale=0.667,
        noise_scale_w=0.8,
        length_scale=1.0,
        noise_sdp=None,
        noise_z=None,
        seed=None,
        emo=None,
        emo_id=None,
        style_vec=None,
        return_intermediates: bool = False,
    ) -> InferenceResult:
        """Synthesize a padded batch. Shapes: ids [B,P] int64, BERT [B,1024,P], sid [B].

        noise_sdp [B,2,P] and noise_z [B,C,F>=max frames] are standard normal draws; when absent
        they are drawn from `seed` with `vits2.serving.noise` (an int for every item, a list of
        B ints, or None for a fresh random seed), so the same seed gives the same audio.
        Release inputs (see `conditioning_inputs` for the defaults when absent): `emo` [B,1024]
        and/or `emo_id` [B] (2.1), `emo` [B,512] (2.2), `style_vec` [B,256] (Style-Bert-VITS2).
        JP-Extra reads only bert_ja; bert_zh / bert_en may be None there.
        """
        self._check_inputs(phones, tones, languages, bert_zh, bert_ja, bert_en, sid)
        b, p = phones.shape
        if phone_lengths is None:
            phone_lengths = torch.full((b,), p, dtype=torch.long, device=phones.device)
        cond = self.conditioning_inputs(b, emo, emo_id, style_vec, device=phones.device)
        seeds = _seeds(seed, b)
        dtype = bert_ja.dtype
        if noise_sdp is None:
            noise_sdp = torch.from_numpy(np.stack([noise.sdp_noise(s, p) for s in seeds]))
            noise_sdp = noise_sdp.to(device=phones.device, dtype=dtype)
        enc = self.encode(
            phones, tones, languages, bert_zh, bert_ja, bert_en, sid, phone_lengths,
            sdp_ratio, noise_scale_w, length_scale, noise_sdp, **cond,
        )  # fmt: skip
        num_frames = int(enc.frame_lengths.max())
        if noise_z is None:
            noise_z = torch.from_numpy(
                np.stack([noise.frame_noise(s, self.inter_channels, num_frames) for s in seeds])
            ).to(device=phones.device, dtype=dtype)
        elif noise_z.size(2) < num_frames:
            raise ValueError(
                f"noise_z has {noise_z.size(2)} frames but the durations need {num_frames}"
            )
        else:
            noise_z = noise_z[:, :, :num_frames]
        res = self.decode(
            enc.m_p, enc.logs_p, enc.g, enc.durations, enc.frame_lengths, noise_scale, noise_z,
            return_intermediates,
        )  # fmt: skip
        res.w, res.cond_emb, res.emo_codes = enc.w, enc.cond_emb, enc.emo_codes
        return res

    def _check_inputs(self, phones, tones, languages, bert_zh, bert_ja, bert_en, sid):
        if phones.dim() != 2:
            raise ValueError(f"phones must be [B, P], got shape {tuple(phones.shape)}")
        for name, t in (("tones", tones), ("languages", languages)):
            if t.shape != phones.shape:
                raise ValueError(
                    f"{name} shape {tuple(t.shape)} != phones shape {tuple(phones.shape)}"
                )
        b, p = phones.shape
        bert_dim = self.config.model.bert_dim
        used = self.config.parts.bert_inputs
        for name, t in (("bert_zh", bert_zh), ("bert_ja", bert_ja), ("bert_en", bert_en)):
            if t is None and name not in used:
                continue  # JP-Extra: only the Japanese slot exists
            if t is None or t.shape != (b, bert_dim, p):
                got = None if t is None else tuple(t.shape)
                raise ValueError(f"{name} must be [B={b}, {bert_dim}, P={p}], got {got}")
        if sid.shape != (b,):
            raise ValueError(f"sid must be [B={b}], got {tuple(sid.shape)}")
        n_spk = self.config.data.n_speakers
        if bool((sid < 0).any() or (sid >= n_spk).any()):
            raise ValueError(f"sid out of range: this voice has speakers 0..{n_spk - 1}")
        m = self.config.model
        for name, t, hi in (
            ("phones", phones, m.n_vocab),
            ("tones", tones, m.num_tones),
            ("languages", languages, m.num_languages),
        ):
            if bool((t < 0).any() or (t >= hi).any()):
                raise ValueError(f"{name} ids must be in [0, {hi - 1}]")
