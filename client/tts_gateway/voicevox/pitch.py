"""The VOICEVOX face's per-mora pitch (issue 28), on the audio a voice made: WORLD's F0 track
(`f0_track`), a mora's ``pitch`` as VOICEVOX means it (`span_pitch`: mean ln F0 over its voiced
frames) and the audio with each mora's F0 moved (`retarget`). Only the gateway uses it; numpy
and pyworld are in the gateway extra (pyworld is imported on first use).
"""

from __future__ import annotations

import numpy as np

__all__ = ["f0_track", "retarget", "span_pitch"]


def f0_track(audio: np.ndarray, sample_rate: int) -> tuple[np.ndarray, np.ndarray]:
    """WORLD's harvest F0 of ``audio`` (Hz per 5 ms frame, 0 where unvoiced) and the frames'
    times in seconds: the same analysis Style-Bert-VITS2's `adjust_voice` starts from
    (`vits2.serving.pitch`)."""
    import pyworld

    wave = np.ascontiguousarray(audio, dtype=np.float64)
    if wave.size == 0:
        return np.zeros(0), np.zeros(0)
    return pyworld.harvest(wave, sample_rate)


def span_pitch(f0: np.ndarray, times: np.ndarray, spans) -> list[float]:
    """The mean natural-log F0 over the voiced frames of each span (start_s, end_s) -- what
    VOICEVOX calls a mora's ``pitch`` -- or 0.0 where no frame in it is voiced (VOICEVOX's
    value for an unvoiced mora): measured on the audio, never predicted."""
    out = []
    for start, end in spans:
        inside = (times >= start) & (times < end) & (f0 > 0)
        out.append(float(np.log(f0[inside]).mean()) if inside.any() else 0.0)
    return out


def retarget(audio: np.ndarray, sample_rate: int, spans, ratios) -> np.ndarray:
    """``audio`` with the voiced F0 inside each span (start_s, end_s) multiplied by its ratio
    (log-domain steps smoothed over 25 ms), resynthesized by WORLD and cut or padded to the
    input's length (so times measured on it still hold); no ratio other than 1: untouched."""
    if all(r == 1.0 for r in ratios):
        return audio
    import pyworld

    wave = np.ascontiguousarray(audio, dtype=np.float64)
    f0, times = pyworld.harvest(wave, sample_rate)
    log_ratio = np.zeros_like(f0)
    for (start, end), ratio in zip(spans, ratios, strict=True):
        log_ratio[(times >= start) & (times < end)] = np.log(ratio)
    log_ratio = np.convolve(log_ratio, np.ones(5) / 5, mode="same")
    sp = pyworld.cheaptrick(wave, f0, times, sample_rate)
    ap = pyworld.d4c(wave, f0, times, sample_rate)
    out = pyworld.synthesize(np.where(f0 > 0, f0 * np.exp(log_ratio), 0.0), sp, ap, sample_rate)
    out = out[: len(wave)]
    return np.pad(out, (0, len(wave) - len(out))).astype(np.float32)
