"""Bert-VITS2 v2.3 in PyTorch: config, model, checkpoint loading (the parity reference).

The PyTorch parts load lazily, so `vits2.text` and `vits2.serving.noise` (used by Triton models,
which must not import torch) stay light.
"""

from __future__ import annotations

from tts_client.lazy import lazy_attributes

_LAZY = {
    "CheckpointError": "vits2.checkpoint",
    "load_model": "vits2.checkpoint",
    "save_checkpoint": "vits2.checkpoint",
    "ConfigError": "vits2.config",
    "VoiceConfig": "vits2.config",
    "InferenceResult": "vits2.model",
    "SynthesizerTrn": "vits2.model",
}

__all__ = sorted(_LAZY)


__getattr__ = lazy_attributes("vits2", _LAZY)
