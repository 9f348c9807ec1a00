"""Bert-VITS2 and Style-Bert-VITS2 voices, three parts:

- the model in PyTorch, every release (`config`, `checkpoint`, `model` and its blocks), the
  reference synthesizer that every exported graph is checked against (`synthesize`, with the
  PyTorch BERT features of `bert`), random stand-in voices and BERTs (`random_*`) and the
  `vits2` command;
- the text frontends (`vits2.text`): text -> phones, tones, word2ph, BERT token spreads, one
  profile per release; no torch;
- the torch-free serving core (`vits2.serving`): the request path, declared once, that the
  Triton models, the in-process runner and the reference all follow.

`load_model` and the other PyTorch names below load lazily, so that importing `vits2.text` or
`vits2.serving` (the Triton models do) never imports torch.
"""

from __future__ import annotations

import importlib
from typing import Any

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


def __getattr__(name: str) -> Any:
    if name not in _LAZY:
        raise AttributeError(f"module 'vits2' has no attribute {name!r}")
    return getattr(importlib.import_module(_LAZY[name]), name)
