"""16-bit PCM and WAV headers of the client's audio (numpy and the standard library): `pcm16`
(the numbers `Audio.to_pcm16` gives, chunk by chunk) and `wav_header` (also for a stream whose
length is not known yet). The gateway's compressed bodies (FLAC, MP3, Opus through libsndfile)
are `tts_gateway.encoding`.
"""

from __future__ import annotations

import struct

import numpy as np

__all__ = ["pcm16", "wav_header"]

_UNKNOWN_SIZE = 0xFFFFFFFF
"""RIFF/data size of a WAV whose length is not known when its header is sent (as ffmpeg
writes when streaming); readers take the data to the end of the body."""


def pcm16(samples: np.ndarray) -> bytes:
    """Little-endian int16 of float samples: clipped to [-1, 1], scaled by 32767, rounded
    (the same numbers as `Audio.to_pcm16`, so chunk by chunk equals the whole)."""
    return (np.clip(samples, -1.0, 1.0) * 32767.0).round().astype("<i2").tobytes()


def wav_header(sample_rate: int, data_bytes: int | None = None) -> bytes:
    """A 44-byte header of a mono 16-bit PCM WAV; ``None`` = length unknown (streaming)."""
    data = _UNKNOWN_SIZE if data_bytes is None else data_bytes
    riff = _UNKNOWN_SIZE if data_bytes is None else 36 + data_bytes
    fmt = struct.pack("<HHIIHH", 1, 1, sample_rate, sample_rate * 2, 2, 16)
    return (
        b"RIFF"
        + struct.pack("<I", riff)
        + b"WAVEfmt "
        + struct.pack("<I", 16)
        + fmt
        + (b"data" + struct.pack("<I", data))
    )
