"""Mono audio as returned by the server: float32 samples in [-1, 1] plus a sample rate.

WAV I/O uses only the stdlib ``wave`` module (16-bit PCM out; 8/16/24/32-bit PCM in).
"""

from __future__ import annotations

import io
import os
import wave
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np

__all__ = ["Audio", "silence"]


def silence(seconds: float, sample_rate: int) -> np.ndarray:
    """``round(seconds * sample_rate)`` zero samples, as the server pads between sentences."""
    if seconds < 0:
        raise ValueError(f"silence must be >= 0 seconds, got {seconds}")
    return np.zeros(int(round(seconds * sample_rate)), np.float32)


@dataclass
class Audio:
    """A mono waveform."""

    samples: np.ndarray
    """float32, shape [N], nominally in [-1, 1]."""
    sample_rate: int
    """Samples per second (44100 for Bert-VITS2 v2.3 voices)."""
    meta: dict = field(default_factory=dict, compare=False, repr=False)
    """Free-form details (e.g. ``text``, ``sentence`` index for streamed chunks)."""
    timestamps: dict | None = field(default=None, compare=False, repr=False)
    """With ``timestamps=True``: when each sentence, phone, word (and Japanese mora and accent
    phrase) is heard, in samples of this audio (`tts_contract.timestamps`; the contract's
    `TIMESTAMPS_KEYS`); None otherwise."""

    def __post_init__(self) -> None:
        samples = np.asarray(self.samples, dtype=np.float32)
        if samples.ndim != 1:
            samples = samples.reshape(-1)
        self.samples = samples
        self.sample_rate = int(self.sample_rate)
        if self.sample_rate <= 0:
            raise ValueError(f"sample_rate must be a positive integer, got {self.sample_rate}")

    def __repr__(self) -> str:
        return f"Audio({self.duration:.3f} s, {len(self)} samples at {self.sample_rate} Hz)"

    def __len__(self) -> int:
        return int(self.samples.shape[0])

    @property
    def duration(self) -> float:
        """Length in seconds."""
        return len(self) / self.sample_rate

    def to_pcm16(self) -> np.ndarray:
        """int16 samples; values outside [-1, 1] are clipped."""
        return (np.clip(self.samples, -1.0, 1.0) * 32767.0).round().astype("<i2")

    def to_wav(self) -> bytes:
        """A 16-bit PCM mono WAV file as bytes."""
        buf = io.BytesIO()
        with wave.open(buf, "wb") as w:
            w.setnchannels(1)
            w.setsampwidth(2)
            w.setframerate(self.sample_rate)
            w.writeframes(self.to_pcm16().tobytes())
        return buf.getvalue()

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write a 16-bit PCM WAV file (whatever the suffix says)."""
        with open(path, "wb") as f:
            f.write(self.to_wav())

    @classmethod
    def from_wav(cls, data: bytes | str | os.PathLike[str]) -> Audio:
        """Read PCM WAV bytes (or a file path); several channels are averaged to mono."""
        if isinstance(data, (bytes, bytearray, memoryview)):
            src: io.BytesIO | str = io.BytesIO(bytes(data))
        else:
            src = os.fspath(data)
        with wave.open(src, "rb") as w:  # type: ignore[arg-type]
            width, channels, rate = w.getsampwidth(), w.getnchannels(), w.getframerate()
            raw = w.readframes(w.getnframes())
        if width == 1:  # 8-bit WAV is unsigned
            pcm = (np.frombuffer(raw, np.uint8).astype(np.float32) - 128.0) / 128.0
        elif width == 2:
            pcm = np.frombuffer(raw, "<i2").astype(np.float32) / 32768.0
        elif width == 3:
            b = np.frombuffer(raw, np.uint8).reshape(-1, 3).astype(np.int32)
            v = b[:, 0] | (b[:, 1] << 8) | (b[:, 2] << 16)
            pcm = np.where(v >= 1 << 23, v - (1 << 24), v).astype(np.float32) / float(1 << 23)
        elif width == 4:
            pcm = np.frombuffer(raw, "<i4").astype(np.float32) / float(1 << 31)
        else:
            raise ValueError(f"unsupported WAV sample width {width} bytes; allowed: 1, 2, 3, 4")
        if channels > 1:
            pcm = pcm.reshape(-1, channels).mean(axis=1)
        return cls(pcm.astype(np.float32), rate)

    def concat(self, others: Audio | Iterable[Audio], silence: float = 0.0) -> Audio:
        """This audio followed by ``others``, with ``silence`` seconds between neighbours."""
        rest = [others] if isinstance(others, Audio) else list(others)
        return Audio.join([self, *rest], silence=silence)

    @staticmethod
    def join(parts: Sequence[Audio], silence: float | Sequence[float] = 0.0) -> Audio:
        """Concatenate ``parts`` (same sample rate) with silence between neighbours.

        ``silence`` is one length in seconds for every gap, or one per gap
        (``len(parts) - 1`` values). Nothing is added before the first or after the last.
        """
        parts = list(parts)
        if not parts:
            raise ValueError("Audio.join needs at least one Audio")
        rate = parts[0].sample_rate
        if any(p.sample_rate != rate for p in parts):
            rates = sorted({p.sample_rate for p in parts})
            raise ValueError(f"cannot join audio of different sample rates {rates}; resample first")
        gaps = [float(silence)] * (len(parts) - 1) if np.isscalar(silence) else list(silence)
        if len(gaps) != len(parts) - 1:
            raise ValueError(f"need {len(parts) - 1} silence lengths for {len(parts)} parts")
        pieces: list[np.ndarray] = []
        for i, part in enumerate(parts):
            pieces.append(part.samples)
            if i < len(gaps) and gaps[i] > 0:
                pieces.append(_zeros(gaps[i], rate))
            elif i < len(gaps) and gaps[i] < 0:
                raise ValueError(f"silence must be >= 0 seconds, got {gaps[i]}")
        from tts_contract.timestamps import join as join_timestamps

        stamps = join_timestamps(
            [(p.timestamps, len(p)) for p in parts], [len(_zeros(g, rate)) for g in gaps]
        )
        return Audio(np.concatenate(pieces), rate, timestamps=stamps)


_zeros = silence  # `silence` is shadowed by the parameter names above
