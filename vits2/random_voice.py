"""Random-weight voices with any v2.3 config, saved as upstream checkpoints (tests, demos, benchmarks).

The audio of such a voice is noise, not speech. Durations are steered to about 2-3 frames per
phone, like a trained voice, so frame counts and timings are realistic; the parts upstream
initialises to zero (flow outputs, spline projections) get small random weights so that every
code path is exercised.
"""

from __future__ import annotations

import copy
import math
from pathlib import Path
from typing import Any

import torch

from vits2.checkpoint import save_checkpoint
from vits2.config import VoiceConfig
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


def tiny_config(**model_overrides: Any) -> dict[str, Any]:
    """A small v2.3 config (hidden 32, like the tiny fixture) for fast tests."""
    cfg = copy.deepcopy(FULL_SIZE_V23)
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
    return model


def make_random_voice(
    out_dir: str | Path, config: dict[str, Any] | None = None, seed: int = 0, name: str = "G_0.pth"
) -> Path:
    """Write an upstream-format `G_*.pth` + `config.json` with random weights; returns the .pth."""
    return save_checkpoint(make_random_model(config, seed), out_dir, name)
