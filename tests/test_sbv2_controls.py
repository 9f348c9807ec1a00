"""Style-Bert-VITS2's pronunciation controls, held to SBV2 2.7.0's own functions.

tests/data/sbv2-given-phones.jsonl and sbv2-adjust-voice.npz were made by
make_sbv2_controls_goldens.py with SBV2's `clean_text_with_given_phone_tone` and
`adjust_voice` in a scratch environment (OpenJTalk 1.11, pyworld-prebuilt).
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from tts_contract.request import (
    INTONATION_SCALE,
    PITCH_SCALE,
    RequestError,
    parse_given_phones,
    parse_given_tones,
)
from vits2.serving.path import join_step
from vits2.serving.pitch import adjust_voice
from vits2.text import clean_text
from vits2.text.given import GivenPhonesError, apply_given

DATA = Path(__file__).parent / "data"
ADJUST_TOLERANCE = 1e-5
"""Max |difference| from SBV2's adjust_voice output (same WORLD library: rounding only)."""


def _given_rows() -> list[dict]:
    lines = (DATA / "sbv2-given-phones.jsonl").read_text(encoding="utf-8").splitlines()
    return [json.loads(x) for x in lines[1:]]


@pytest.mark.parametrize(
    "row", _given_rows(), ids=lambda r: f"{r['use_jp_extra']}-{r['text'][:4]}-{r['case']}"
)
def test_given_phones_and_tones_as_sbv2(row, jp_tokenizer):
    profile = "sbv2-jp-extra" if row["use_jp_extra"] else "sbv2"
    _, phones, tones, word2ph = clean_text(row["text"], "JP", jp_tokenizer, profile)
    args = (phones, tones, word2ph, row["given_phone"], row["given_tone"], row["use_jp_extra"])
    if "error" in row:  # SBV2 refuses it (InvalidPhoneError, or its assert): so do we
        with pytest.raises(GivenPhonesError):
            apply_given(*args)
        return
    assert apply_given(*args) == (row["phones"], row["tones"], row["word2ph"])


def test_adjust_voice_matches_sbv2():
    golden = np.load(DATA / "sbv2-adjust-voice.npz")
    wave = golden["input"]
    for i, (pitch, intonation) in enumerate(golden["scales"]):
        ours = adjust_voice(wave, 44100, float(pitch), float(intonation))
        theirs = golden[f"output_{i}"]
        assert ours.shape == theirs.shape
        assert np.abs(ours - theirs).max() <= ADJUST_TOLERANCE, (pitch, intonation)
    assert adjust_voice(wave, 44100, 1.0, 1.0) is wave  # SBV2: untouched at 1, 1


def test_join_step_applies_the_scales_to_the_whole_waveform():
    wave = np.load(DATA / "sbv2-adjust-voice.npz")["input"]
    half = len(wave) // 2
    audio = np.zeros((2, half), np.float32)
    audio[0], audio[1] = wave[:half], wave[half : 2 * half]
    feeds = {
        "audio": audio,
        "audio_lengths": np.array([half, half]),
        "pause_after": np.zeros(2, np.float32),
        "pitch_scale": np.full(2, 1.2, np.float32),
        "intonation_scale": np.full(2, 1.0, np.float32),
    }
    out = join_step(feeds, 44100)["AUDIO"]
    pitch = float(np.float32(1.2))  # as the wire carries it (FP32)
    expected = adjust_voice(np.concatenate([wave[:half], wave[half : 2 * half]]), 44100, pitch, 1.0)
    np.testing.assert_array_equal(out, expected)
    feeds["pitch_scale"] = np.array([1.2, 1.1], np.float32)
    with pytest.raises(RequestError, match="pitch_scale must hold one value per sentence"):
        join_step(feeds, 44100)


@pytest.mark.parametrize("scale", [PITCH_SCALE, INTONATION_SCALE])
@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf, 100.0, -1.0, "x", True])
def test_pitch_and_intonation_refused_out_of_range(scale, bad):
    with pytest.raises(RequestError, match=scale.input):
        scale.check(bad)


@pytest.mark.parametrize(
    ("phones", "tones", "match"),
    [
        ("", "0", "GIVEN_PHONES is empty"),
        ("k o", "0 0", 'start and end with the padding phone "_"'),
        (["_", "", "_"], "0 0 0", "empty phone"),
        ("_ " + "a " * 500 + "_", None, "at most 400"),
        (None, "0 nan 0", "GIVEN_TONES must be integers"),
        (None, "0 inf", "GIVEN_TONES must be integers"),
        (None, "0 1.5", "GIVEN_TONES must be integers"),
        (None, "", "GIVEN_TONES must be integers"),
        (None, " ".join(["0"] * 401), "at most 400"),
    ],
)
def test_given_inputs_refused_when_empty_nan_or_oversized(phones, tones, match):
    with pytest.raises(RequestError, match=match):
        if phones is not None:
            parse_given_phones(phones, 400)
        parse_given_tones(tones, 400)
