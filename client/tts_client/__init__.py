"""The thin client of bertvits2-triton: `TTSClient` / `AsyncTTSClient`, `Audio` and the `tts`
command (say, voices, load, unload).

Imports the wire contract (`tts_contract`), tritonclient and numpy only: nothing of the server
side (no vits2, no exporter, no Triton launcher; never torch or onnx). Names load lazily.
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
