"""Client side of bertvits2-triton: TTSClient / AsyncTTSClient, Audio, the `tts` CLI, gateway.

Imports tritonclient and numpy only (never torch or onnx); names load lazily.
"""

from __future__ import annotations

from tts_client.lazy import lazy_attributes

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


__getattr__ = lazy_attributes("tts_client", _LAZY)
