"""Client side of bertvits2-triton: TTSClient / AsyncTTSClient, Audio, the `tts` CLI, gateway.

Imports tritonclient and numpy only (never torch or onnx); names load lazily.
"""

from __future__ import annotations

import importlib

_LAZY = {
    "TTSClient": "tts_client.client",
    "AsyncTTSClient": "tts_client.aio",
    "Audio": "tts_client.audio",
    "TTSError": "tts_client.errors",
    "InvalidInputError": "tts_client.errors",
    "UnknownVoiceError": "tts_client.errors",
    "UnknownSpeakerError": "tts_client.errors",
    "ServerUnavailableError": "tts_client.errors",
    "TTSTimeoutError": "tts_client.errors",
}

__all__ = sorted(_LAZY)


def __getattr__(name: str):
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'tts_client' has no attribute {name!r}")
