"""Random-weight voices of every supported release, saved as upstream checkpoints (tests,
demos, benchmarks): Bert-VITS2 2.0-2.3 and Style-Bert-VITS2 (normal, JP-Extra).

The audio of such a voice is noise, not speech. Durations are steered to about 2-3 frames per
phone, like a trained voice, so frame counts and timings are realistic; the parts upstream
initialises to zero (flow outputs, spline projections) get small random weights so that every
code path is exercised, and emotion codebooks are spread over the inputs they will see so that
different emotions pick different codes.
"""

from __future__ import annotations

import copy
import math
from pathlib import Path
from typing import Any

import numpy as np
import torch

from vits2.checkpoint import save_checkpoint, save_safetensors
from vits2.config import BERT_VITS2_RELEASES, STYLE_DIM, VoiceConfig
from vits2.model import SynthesizerTrn

FULL_SIZE_V23: dict[str, Any] = {
    "train": {"segment_size": 16384, "seed": 42},
    "data": {
        "sampling_rate": 44100,
        "filter_length": 2048,
        "hop_length": 512,
        "win_length": 2048,
        "n_mel_channels": 128,
        "mel_fmin": 0.0,
        "mel_fmax": None,
        "add_blank": True,
        "n_speakers": 2,
        "cleaned_text": True,
        "spk2id": {"demo_a": 0, "demo_b": 1},
        "max_wav_value": 32768.0,
    },
    "model": {
        "use_spk_conditioned_encoder": True,
        "use_noise_scaled_mas": True,
        "use_mel_posterior_encoder": False,
        "use_duration_discriminator": True,
        "inter_channels": 192,
        "hidden_channels": 192,
        "filter_channels": 768,
        "n_heads": 2,
        "n_layers": 6,
        "kernel_size": 3,
        "p_dropout": 0.1,
        "resblock": "1",
        "resblock_kernel_sizes": [3, 7, 11],
        "resblock_dilation_sizes": [[1, 3, 5], [1, 3, 5], [1, 3, 5]],
        "upsample_rates": [8, 8, 2, 2, 2],
        "upsample_initial_channel": 512,
        "upsample_kernel_sizes": [16, 16, 8, 2, 2],
        "n_layers_q": 3,
        "use_spectral_norm": False,
        "gin_channels": 512,
    },
    "version": "2.3",
}
"""The upstream v2.3 default config (full-size model, 2 demo speakers)."""


STYLE_RELEASES = {"sbv2": "2.7.0", "sbv2-jp-extra": "2.7.0-JP-Extra"}
"""Style-Bert-VITS2 families -> the version its current templates write."""
VERSIONS = (*BERT_VITS2_RELEASES, *STYLE_RELEASES)
"""What `full_config` / `tiny_config` accept as `version`."""
DEMO_STYLES = {"Neutral": 0, "Happy": 1, "Sad": 2}


def full_config(version: str = "2.3") -> dict[str, Any]:
    """Upstream's full-size default config of a release (2 demo speakers; 3 demo styles)."""
    cfg = copy.deepcopy(FULL_SIZE_V23)
    if version in BERT_VITS2_RELEASES:
        cfg["version"] = version
        return cfg
    if version not in STYLE_RELEASES:
        raise ValueError(f"unknown version {version!r}; choose one of {', '.join(VERSIONS)}")
    jp_extra = version == "sbv2-jp-extra"
    cfg["version"] = STYLE_RELEASES[version]
    cfg["data"].update(use_jp_extra=jp_extra, num_styles=len(DEMO_STYLES), style2id=DEMO_STYLES)
    # Style-Bert-VITS2's templates: gin 256 (normal) / 512 (JP-Extra, no duration discriminator)
    cfg["model"].update(gin_channels=512 if jp_extra else 256)
    if jp_extra:
        cfg["model"].update(use_duration_discriminator=False, use_wavlm_discriminator=True)
    return cfg


def tiny_config(version: str = "2.3", **model_overrides: Any) -> dict[str, Any]:
    """A small config of a release (hidden 32, like the tiny fixtures) for fast tests."""
    cfg = full_config(version)
    cfg["model"].update(
        inter_channels=32,
        hidden_channels=32,
        filter_channels=64,
        n_layers=3,
        upsample_initial_channel=64,
        gin_channels=32,
    )
    cfg["model"].update(model_overrides)
    return cfg


def make_random_model(
    config: dict[str, Any] | VoiceConfig | None = None, seed: int = 0, frames_per_phone: float = 1.8
) -> SynthesizerTrn:
    cfg = (
        config
        if isinstance(config, VoiceConfig)
        else VoiceConfig.from_dict(copy.deepcopy(config or FULL_SIZE_V23))
    )
    torch.manual_seed(seed)
    model = SynthesizerTrn(cfg).eval()
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith(".post.weight") or name.endswith(".post.bias"):
                p.normal_(0.0, 0.05)
            elif name.startswith("sdp.flows.") and ".proj." in name:
                p.normal_(0.0, 0.05)
        # steer durations: logw ~ log(frames_per_phone) from both predictors
        model.dp.proj.weight.mul_(0.05)
        model.dp.proj.bias.fill_(math.log(frames_per_phone))
        # sdp reverse ends in ElementwiseAffine: logw = (z - m) * exp(-logs)
        model.sdp.flows[0].logs.data[0] = math.log(4.0)
        model.sdp.flows[0].m.data[0] = -4.0 * math.log(frames_per_phone)
        _spread_codebooks(model)
    return model


def _spread_codebooks(model: SynthesizerTrn) -> None:
    """Codes = the quantiser's own (projected) inputs for random unit-length embeddings, so
    that, as in a trained voice, different inputs pick different codes."""
    block = model.enc_p.conditioning
    parts = model.config.parts
    if parts.emotion is None:
        return
    vq = block.emo_quantizer if parts.emotion == "2.1" else block.emo_vq
    heads, codes, dim = vq._codebook.embed.shape
    x = torch.randn(codes, parts.emo_dim)
    x = x / x.norm(dim=1, keepdim=True)
    x = block.emo_proj(x) if parts.emotion == "2.1" else block.in_feature_net(x)
    projected = vq.project_in(x).reshape(codes, heads, dim)
    vq._codebook.embed.copy_(projected.transpose(0, 1))


def random_style_vectors(num_styles: int, seed: int = 0) -> np.ndarray:
    """float32 [num_styles, 256]: row 0 the mean of the others (the neutral style), as upstream."""
    rng = np.random.default_rng(seed)
    rows = rng.normal(0.0, 0.3, (max(num_styles, 2), STYLE_DIM)).astype(np.float32)
    rows[0] = rows[1:].mean(axis=0)
    return rows[:num_styles]


def make_random_voice(
    out_dir: str | Path,
    config: dict[str, Any] | None = None,
    seed: int = 0,
    name: str = "G_0.pth",
    safetensors: bool = False,
) -> Path:
    """Write an upstream-format `G_*.pth` + `config.json` with random weights; returns the .pth.

    Style-Bert-VITS2 configs also get `style_vectors.npy` (random, row 0 the mean) and, with
    safetensors=True, the `model.safetensors` such model folders ship.
    """
    model = make_random_model(config, seed)
    path = save_checkpoint(model, out_dir, name)
    if model.config.parts.style:
        vectors = random_style_vectors(model.config.data.num_styles, seed)
        np.save(Path(out_dir) / "style_vectors.npy", vectors)
        model.neutral_style.copy_(torch.from_numpy(vectors[0]))
        if safetensors:
            save_safetensors(model, Path(out_dir) / "model.safetensors")
    return path
