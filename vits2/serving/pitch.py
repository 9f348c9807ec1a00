"""PITCH_SCALE and INTONATION_SCALE: Style-Bert-VITS2's pitch post-processing (`adjust_voice`).

SBV2 (2.7.0, style_bert_vits2/voice.py) analyses the whole synthesized waveform with WORLD
(pyworld: harvest F0, cheaptrick spectral envelope, d4c aperiodicity), moves every voiced
frame's F0 f to pitch_scale * mean + intonation_scale * (f - mean) (mean over voiced frames),
and resynthesizes. Both 1: the audio is returned untouched (resynthesis costs some quality).
Restated here on the same library (pyworld-prebuilt, SBV2's pin); tests/test_pitch.py holds it
to SBV2's own function. Imports no torch.
"""

from __future__ import annotations

import numpy as np

__all__ = ["adjust_voice", "f0_track", "retarget", "span_pitch"]


def adjust_voice(
    audio: np.ndarray, sample_rate: int, pitch_scale: float, intonation_scale: float
) -> np.ndarray:
    """`audio` (float, mono) with its F0 moved as SBV2 moves it; float32 out. Audio with no
    voiced frame (silence, noise) comes back unchanged: there is no pitch to move."""
    if pitch_scale == 1.0 and intonation_scale == 1.0:
        return audio
    import pyworld

    wave = np.ascontiguousarray(audio, dtype=np.float64)
    if wave.size == 0:
        return audio
    f0, t = pyworld.harvest(wave, sample_rate)
    voiced = f0 != 0
    if not voiced.any():
        return audio
    sp = pyworld.cheaptrick(wave, f0, t, sample_rate)
    ap = pyworld.d4c(wave, f0, t, sample_rate)
    mean = f0[voiced].sum() / voiced.sum()
    f0 = np.where(voiced, pitch_scale * mean + intonation_scale * (f0 - mean), 0.0)
    return pyworld.synthesize(f0, sp, ap, sample_rate).astype(np.float32)


# -- per-mora pitch (the VOICEVOX face, issue 28) ----------------------------------------------
def f0_track(audio: np.ndarray, sample_rate: int) -> tuple[np.ndarray, np.ndarray]:
    """WORLD's harvest F0 of ``audio`` (Hz per 5 ms frame, 0 where unvoiced) and the frames'
    times in seconds: the same analysis `adjust_voice` starts from."""
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
