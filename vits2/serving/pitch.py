"""PITCH_SCALE and INTONATION_SCALE: Style-Bert-VITS2's pitch post-processing (`adjust_voice`).

SBV2 (2.7.0, style_bert_vits2/voice.py) analyses the whole synthesized waveform with WORLD
(pyworld: harvest F0, cheaptrick spectral envelope, d4c aperiodicity), moves every voiced
frame's F0 f to pitch_scale * mean + intonation_scale * (f - mean) (mean over voiced frames),
and resynthesizes. Both 1: the audio is returned untouched (resynthesis costs some quality).
Restated here on the same library (pyworld-prebuilt, SBV2's pin); tests/test_pitch.py holds it
to SBV2's own function. Imports no torch. (The VOICEVOX face's per-mora pitch, measured and
moved on the audio, is the gateway's: `tts_gateway.voicevox.pitch`.)
"""

from __future__ import annotations

import numpy as np

__all__ = ["adjust_voice"]


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
