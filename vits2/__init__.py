"""Bert-VITS2 v2.3 in PyTorch: config, model, checkpoint loading (the parity reference)."""

from vits2.checkpoint import CheckpointError, load_model, save_checkpoint
from vits2.config import ConfigError, VoiceConfig
from vits2.model import InferenceResult, SynthesizerTrn

__all__ = [
    "CheckpointError",
    "ConfigError",
    "InferenceResult",
    "SynthesizerTrn",
    "VoiceConfig",
    "load_model",
    "save_checkpoint",
]
