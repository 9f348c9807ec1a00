"""Audio bodies for the gateway: WAV/PCM (`tts_client.encoding`), FLAC/MP3/Opus through
libsndfile (`soundfile`, in the gateway extra).

Which encoders exist depends on the libsndfile that `soundfile` loads: FLAC since 1.0.x, Ogg
Opus since 1.0.29, MP3 (LAME) since 1.1.0. `available_formats()` says what this machine has;
a format it lacks is refused with the list it has. Opus is only defined at 8/12/16/24/48 kHz,
so Opus bodies are resampled to 48 kHz (band-limited FFT resampling of the whole clip).
"""

from __future__ import annotations

import functools
import io
from collections.abc import Iterable, Iterator

import numpy as np

from tts_client.audio import Audio
from tts_client.encoding import pcm16, wav_header

__all__ = [
    "MEDIA_TYPES",
    "STREAMABLE",
    "available_formats",
    "encode",
    "resample",
    "stream_body",
    "upstream_pcm16",
]

MEDIA_TYPES = {
    "wav": "audio/wav",
    "pcm": "audio/pcm",
    "flac": "audio/flac",
    "mp3": "audio/mpeg",
    "opus": "audio/ogg; codecs=opus",
}
STREAMABLE = ("wav", "pcm")
"""Formats whose body is sent as chunks are decoded (chunked); the others are encoded whole."""
OPUS_RATES = (8000, 12000, 16000, 24000, 48000)
# format -> (libsndfile container, subtype)
_SNDFILE = {"flac": ("FLAC", "PCM_16"), "mp3": ("MP3", "MPEG_LAYER_III"), "opus": ("OGG", "OPUS")}


@functools.cache
def available_formats() -> tuple[str, ...]:
    """The response formats this machine can encode (wav and pcm always)."""
    out = ["wav", "pcm"]
    try:
        import soundfile as sf
    except (ImportError, OSError):  # no libsndfile: only the stdlib formats
        return tuple(out)
    for fmt, (container, subtype) in _SNDFILE.items():
        if container in sf.available_formats() and subtype in sf.available_subtypes(container):
            out.append(fmt)
    return tuple(out)


def upstream_pcm16(samples: np.ndarray) -> bytes:
    """int16 as upstream's /voice writes it (gradio's ``convert_to_16_bit_wav``): the clip
    scaled so its peak is 32767, then truncated toward zero. Silence stays silence."""
    peak = float(np.abs(samples).max()) if len(samples) else 0.0
    if peak == 0.0 or not np.isfinite(peak):
        return np.zeros(len(samples), "<i2").tobytes()
    return (samples.astype(np.float64) / peak * 32767).astype("<i2").tobytes()


def resample(samples: np.ndarray, rate_in: int, rate_out: int) -> np.ndarray:
    """Band-limited resampling of a whole clip (FFT; numpy only)."""
    if rate_in == rate_out or not len(samples):
        return samples.astype(np.float32)
    n_out = int(round(len(samples) * rate_out / rate_in))
    spectrum = np.fft.rfft(samples.astype(np.float64))
    keep = min(len(spectrum), n_out // 2 + 1)
    out = np.fft.irfft(spectrum[:keep], n_out) * (n_out / len(samples))
    return out.astype(np.float32)


def encode(audio: Audio, fmt: str) -> bytes:
    """The whole clip as a ``fmt`` body (one of `available_formats()`)."""
    if fmt == "wav":
        body = pcm16(audio.samples)
        return wav_header(audio.sample_rate, len(body)) + body
    if fmt == "pcm":
        return pcm16(audio.samples)
    if fmt not in available_formats():
        raise ValueError(
            f"response_format {fmt!r} cannot be encoded here; available: "
            f"{', '.join(available_formats())}"
        )
    import soundfile as sf

    container, subtype = _SNDFILE[fmt]
    samples, rate = np.clip(audio.samples, -1.0, 1.0), audio.sample_rate
    if fmt == "opus" and rate not in OPUS_RATES:
        samples, rate = np.clip(resample(samples, rate, 48000), -1.0, 1.0), 48000
    # FLAC gets our int16 (the same numbers as the wav body: lossless means equal); the lossy
    # encoders get floats
    data = np.frombuffer(pcm16(samples), "<i2") if fmt == "flac" else samples.astype(np.float32)
    buf = io.BytesIO()
    with sf.SoundFile(buf, "w", rate, 1, subtype, format=container) as f:
        f.write(data)
    return buf.getvalue()


def stream_body(first: Audio, rest: Iterable[Audio], fmt: str) -> Iterator[bytes]:
    """Chunked WAV (header with unknown length, then PCM) or raw PCM, one piece per streamed
    chunk (a vocoder window through a decoupled stream, else a sentence).

    ``first`` is the already synthesized first chunk (so errors before any audio still become
    a JSON error response); ``rest`` yields the following ones as they finish."""
    if fmt == "wav":
        yield wav_header(first.sample_rate) + pcm16(first.samples)
    else:
        yield pcm16(first.samples)
    for chunk in rest:
        yield pcm16(chunk.samples)
