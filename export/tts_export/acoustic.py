"""ONNX export of the acoustic graphs: encoder (+ durations) and decoder (flow + vocoder).

See docs/graphs.md for the contract. Both wrap the very methods the PyTorch reference runs
(`SynthesizerTrn.encode` / `decode`), so the graphs and the reference cannot drift apart.
"""

from __future__ import annotations

import copy
import warnings
from pathlib import Path

import torch
from torch import nn

from tts_contract.manifest import FLOW_OUTPUTS, VOCODER_INPUTS, VOCODER_OUTPUTS
from tts_export.metadata import DECODER_OUTPUTS, ENCODER_OUTPUTS
from vits2.config import BERT_INPUTS, STYLE_DIM, VoiceConfig
from vits2.model import SynthesizerTrn
from vits2.serving.path import release_encoder_inputs


def encoder_input_names(config: VoiceConfig) -> list[str]:
    """The encoder graph's inputs for a voice: 2.3's, less the BERT slots the release lacks
    (JP-Extra keeps bert_ja only), plus its conditioning inputs (emo, emo_id, style_vec)."""
    return release_encoder_inputs(config.parts.bert_inputs, config.parts.extra_inputs)


class EncoderGraph(nn.Module):
    """`SynthesizerTrn.encode` with the voice's graph inputs, positional (export) or by name."""

    def __init__(self, model: SynthesizerTrn):
        super().__init__()
        self.model = model
        self.input_names = encoder_input_names(model.config)

    def forward(self, *args, **kwargs):
        x = dict(zip(self.input_names, args, strict=False), **kwargs)
        extra = {k: x[k] for k in self.model.config.parts.extra_inputs}
        enc = self.model.encode(
            x["phones"],
            x["tones"],
            x["languages"],
            x.get("bert_zh"),
            x["bert_ja"],
            x.get("bert_en"),
            x["sid"],
            x["phone_lengths"],
            x["sdp_ratio"],
            x["noise_scale_w"],
            x["length_scale"],
            x["noise_sdp"],
            **extra,
        )
        return enc.m_p, enc.logs_p, enc.g, enc.durations, enc.frame_lengths


class PolyphaseUpsample(nn.Module):
    """`ConvTranspose1d` (stride s, kernel m*s) as a plain `Conv1d` with s phases of m taps.

    Output sample q*s + b of the transposed convolution is sum_i x[q - i] W[i*s + b]: for each
    phase b that is an ordinary convolution of x, so one Conv1d with Cout*s output channels
    computes every phase, and interleaving the phases gives the upsampled signal. Same sums,
    same result (to float rounding), but runtimes run it with their fast convolution kernels:
    OpenVINO's transposed convolution took 17% of the full-size decoder's time for 4% of its
    FLOPs (docs/graphs.md).
    """

    def __init__(self, up: nn.ConvTranspose1d):
        super().__init__()
        (k,), (s,), (p,) = up.kernel_size, up.stride, up.padding
        if k % s or up.groups != 1 or up.dilation != (1,) or up.output_padding != (0,):
            raise ValueError(f"no polyphase form for {up}")
        m, c_in, c_out = k // s, up.in_channels, up.out_channels
        w = up.weight.detach()  # [Cin, Cout, k]; tap j = i*s + b
        w = w.reshape(c_in, c_out, m, s).flip(2)  # [Cin, Cout, u = m-1-i, b]
        self.conv = nn.Conv1d(c_in, c_out * s, m, padding=m - 1, bias=False)
        self.conv.weight.data.copy_(w.permute(1, 3, 0, 2).reshape(c_out * s, c_in, m))
        bias = up.bias.detach() if up.bias is not None else torch.zeros(c_out)
        self.register_buffer("bias", bias.reshape(1, c_out, 1).clone())
        self.stride, self.padding, self.kernel, self.out_channels = s, p, k, c_out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, _, t = x.shape
        z = self.conv(x)  # [B, Cout*s, T+m-1]: phase b of channel c in row c*s + b
        z = z.reshape(b, self.out_channels, self.stride, -1).transpose(2, 3)
        z = z.reshape(b, self.out_channels, -1)
        length = (t - 1) * self.stride - 2 * self.padding + self.kernel
        return z[:, :, self.padding : self.padding + length] + self.bias


def polyphase_copy(model: SynthesizerTrn) -> SynthesizerTrn:
    """A copy of `model` whose vocoder upsamples with `PolyphaseUpsample` (where it can)."""
    out = copy.deepcopy(model)
    ups = out.dec.ups
    for i, up in enumerate(ups):
        if up.kernel_size[0] % up.stride[0] == 0:
            ups[i] = PolyphaseUpsample(up)
    return out


class DecoderGraph(nn.Module):
    def __init__(self, model: SynthesizerTrn):
        super().__init__()
        self.model = model

    def forward(self, m_p, logs_p, g, durations, frame_lengths, noise_scale, noise_z):
        res = self.model.decode(
            m_p, logs_p, g, durations, frame_lengths, noise_scale, noise_z, always_mask=True
        )
        return res.audio, res.audio_lengths


class FlowGraph(nn.Module):
    """The decoder's first half: length regulation, prior sample, reverse flow -> z.

    Same inputs as `DecoderGraph`; z is zero past each item's frames, ready for the vocoder
    (whole or in windows, tts_runtime.windows). The lines are `SynthesizerTrn.decode`'s
    up to the vocoder; tests/test_windows_onnx.py checks flow + vocoder == decoder.
    """

    def __init__(self, model: SynthesizerTrn):
        super().__init__()
        self.model = model

    def forward(self, m_p, logs_p, g, durations, frame_lengths, noise_scale, noise_z):
        num_frames = noise_z.size(2)
        attn = self.model.expand_frames(durations, num_frames, m_p.dtype)  # [B, F, P]
        m_f = torch.matmul(attn, m_p.transpose(1, 2)).transpose(1, 2)
        logs_f = torch.matmul(attn, logs_p.transpose(1, 2)).transpose(1, 2)
        frames = torch.arange(num_frames, device=m_p.device)
        frame_mask = (frames.unsqueeze(0) < frame_lengths.unsqueeze(1)).unsqueeze(1).to(m_p.dtype)
        z_p = m_f + noise_z * torch.exp(logs_f) * noise_scale.view(-1, 1, 1)
        return self.model.flow(z_p, frame_mask, g=g) * frame_mask


class VocoderGraph(nn.Module):
    """The decoder's second half: z [B, C, F] frames -> audio, zero past frame_lengths * hop."""

    def __init__(self, model: SynthesizerTrn):
        super().__init__()
        self.dec, self.hop = model.dec, model.hop_length

    def forward(self, z, g, frame_lengths):
        audio = self.dec(z, g=g, lengths=frame_lengths)[:, 0]
        audio_lengths = frame_lengths * self.hop
        samples = torch.arange(audio.size(1), device=audio.device)
        valid = (samples.unsqueeze(0) < audio_lengths.unsqueeze(1)).to(audio.dtype)
        return audio * valid, audio_lengths


def example_encoder_inputs(
    model: SynthesizerTrn, batch: int = 2, phones: int = 17, seed: int = 0
) -> dict[str, torch.Tensor]:
    """Random but valid encoder inputs (the second item padded) in graph order, for export and
    checks; 2.1 voices get a mix of clip embeddings (emo_id -1) and emotion ids."""
    m = model.config.model
    g = torch.Generator().manual_seed(seed)
    lengths = torch.tensor([phones] + [max(1, phones - 5 * i) for i in range(1, batch)])
    every = {
        "phones": torch.randint(1, m.n_vocab, (batch, phones), generator=g),
        "tones": torch.randint(0, m.num_tones, (batch, phones), generator=g),
        "languages": torch.randint(0, m.num_languages, (batch, phones), generator=g),
        "phone_lengths": lengths,
        "bert_zh": torch.randn(batch, m.bert_dim, phones, generator=g),
        "bert_ja": torch.randn(batch, m.bert_dim, phones, generator=g),
        "bert_en": torch.randn(batch, m.bert_dim, phones, generator=g),
        "sid": torch.randint(0, model.config.data.n_speakers, (batch,), generator=g),
        "sdp_ratio": torch.rand(batch, generator=g),
        "noise_scale_w": torch.full((batch,), 0.8),
        "length_scale": torch.ones(batch),
        "noise_sdp": torch.randn(batch, 2, phones, generator=g),
    }
    parts = model.config.parts
    if parts.emo_dim:  # CLAP and wav2vec2 embeddings: unit-length, like CLAP's output
        emo = torch.randn(batch, parts.emo_dim, generator=g)
        every["emo"] = emo / emo.norm(dim=1, keepdim=True)
    if parts.emotion == "2.1":
        every["emo_id"] = torch.tensor([(-1 if i % 2 == 0 else (3 * i) % 10) for i in range(batch)])
    if parts.style:
        every["style_vec"] = torch.randn(batch, STYLE_DIM, generator=g)
    return {name: every[name] for name in encoder_input_names(model.config)}


def example_decoder_inputs(
    model: SynthesizerTrn, enc_inputs: dict[str, torch.Tensor], seed: int = 0
) -> dict[str, torch.Tensor]:
    with torch.no_grad():
        m_p, logs_p, g, durations, frame_lengths = EncoderGraph(model)(**enc_inputs)
    gen = torch.Generator().manual_seed(seed)
    frames = int(frame_lengths.max())
    return {
        "m_p": m_p,
        "logs_p": logs_p,
        "g": g,
        "durations": durations,
        "frame_lengths": frame_lengths,
        "noise_scale": torch.full((m_p.size(0),), 0.667),
        "noise_z": torch.randn(m_p.size(0), m_p.size(1), frames, generator=gen),
    }


def _export(
    module: nn.Module,
    inputs: dict[str, torch.Tensor],
    out_path: Path,
    output_names: list[str],
    dynamic_axes: dict,
    opset: int,
) -> Path:
    out_path = Path(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")  # tracer warnings about Python scalars are expected
        torch.onnx.export(
            module,
            tuple(inputs.values()),
            str(out_path),
            input_names=list(inputs),
            output_names=output_names,
            dynamic_axes=dynamic_axes,
            opset_version=opset,
            do_constant_folding=True,
            dynamo=False,
        )
    return out_path


def export_encoder(model: SynthesizerTrn, out_path: str | Path, opset: int = 17) -> Path:
    inputs = example_encoder_inputs(model)
    axes = {n: {0: "batch", 1: "phones"} for n in ("phones", "tones", "languages")}
    bert = [n for n in BERT_INPUTS if n in inputs]
    axes.update({n: {0: "batch", 2: "phones"} for n in (*bert, "noise_sdp", "m_p", "logs_p")})
    per_item = ("phone_lengths", "sid", "sdp_ratio", "noise_scale_w", "length_scale")
    extra = model.config.parts.extra_inputs
    axes.update({n: {0: "batch"} for n in (*per_item, *extra, "g", "frame_lengths")})
    axes["durations"] = {0: "batch", 1: "phones"}
    return _export(EncoderGraph(model).eval(), inputs, Path(out_path), ENCODER_OUTPUTS, axes, opset)


def export_decoder(
    model: SynthesizerTrn, out_path: str | Path, opset: int = 17, polyphase: bool = True
) -> Path:
    """polyphase=False keeps upstream's ConvTranspose1d (for comparing; see PolyphaseUpsample)."""
    inputs = example_decoder_inputs(model, example_encoder_inputs(model))
    axes = {n: _DECODER_IO_AXES[n] for n in list(inputs) + DECODER_OUTPUTS}
    graph = DecoderGraph(polyphase_copy(model) if polyphase else model).eval()
    return _export(graph, inputs, Path(out_path), DECODER_OUTPUTS, axes, opset)


_DECODER_IO_AXES = {
    "m_p": {0: "batch", 2: "phones"},
    "logs_p": {0: "batch", 2: "phones"},
    "g": {0: "batch"},
    "durations": {0: "batch", 1: "phones"},
    "frame_lengths": {0: "batch"},
    "noise_scale": {0: "batch"},
    "noise_z": {0: "batch", 2: "frames"},
    "z": {0: "batch", 2: "frames"},
    "audio": {0: "batch", 1: "samples"},
    "audio_lengths": {0: "batch"},
}


def export_flow(model: SynthesizerTrn, out_path: str | Path, opset: int = 17) -> Path:
    """flow.onnx: decoder inputs -> z (docs/graphs.md); always fp32 (it is cheap and sets z)."""
    inputs = example_decoder_inputs(model, example_encoder_inputs(model))
    axes = {n: _DECODER_IO_AXES[n] for n in list(inputs) + FLOW_OUTPUTS}
    return _export(FlowGraph(model).eval(), inputs, Path(out_path), FLOW_OUTPUTS, axes, opset)


def export_vocoder(
    model: SynthesizerTrn, out_path: str | Path, opset: int = 17, polyphase: bool = True
) -> Path:
    """vocoder.onnx: z, g, frame_lengths -> audio, audio_lengths (docs/graphs.md)."""
    feeds = example_decoder_inputs(model, example_encoder_inputs(model))
    with torch.no_grad():
        z = FlowGraph(model)(**feeds)
    inputs = {"z": z, "g": feeds["g"], "frame_lengths": feeds["frame_lengths"]}
    axes = {n: _DECODER_IO_AXES[n] for n in VOCODER_INPUTS + VOCODER_OUTPUTS}
    graph = VocoderGraph(polyphase_copy(model) if polyphase else model).eval()
    return _export(graph, inputs, Path(out_path), VOCODER_OUTPUTS, axes, opset)
