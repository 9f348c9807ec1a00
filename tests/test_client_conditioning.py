"""The client's conditioning knobs (emotion, emotion_id, reference_audio, style,
style_weight): checked against the contract before anything is sent, and put on the wire
under the contract's input names and types."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from tts_client.errors import InvalidInputError
from tts_client.planner import SynthesisParams
from tts_client.voices import VoiceInfo
from tts_contract.manifest import VoiceManifest
from tts_contract.request import CONDITIONING_INPUTS, REQUEST_INPUTS, STYLE_WEIGHT


def test_knobs_go_on_the_wire_under_the_contract_names_and_types():
    params = SynthesisParams(
        emotion="Happy", emotion_id=3, reference_audio=b"RIFF..", style=2, style_weight=1.5,
        given_phones="_ a _", given_tones="0 1 0",
    ).validate()  # fmt: skip
    arrays = params.arrays("你好")
    dtypes = {i.name: i.dtype for i in REQUEST_INPUTS}
    for name in CONDITIONING_INPUTS:
        assert name in arrays, name
        want = {"BYTES": np.object_, "INT64": np.int64, "FP32": np.float32}[dtypes[name]]
        assert arrays[name].dtype == want and arrays[name].shape == (1,), name
    assert arrays["STYLE"][0] == b"2"  # an id is sent as its digits, as the server reads it
    assert arrays["REFERENCE_AUDIO"][0] == b"RIFF.."
    # left out: not sent (the server applies the voice's neutral default)
    assert not set(CONDITIONING_INPUTS) & set(SynthesisParams().validate().arrays("x"))


@pytest.mark.parametrize(
    ("knobs", "field"),
    [
        ({"emotion_id": 10}, "EMOTION_ID"),
        ({"emotion_id": -1}, "EMOTION_ID"),
        ({"emotion_id": "three"}, "EMOTION_ID"),
        ({"emotion_id": True}, "EMOTION_ID"),
        ({"style_weight": math.nan}, "STYLE_WEIGHT"),
        ({"style_weight": math.inf}, "STYLE_WEIGHT"),
        ({"style_weight": STYLE_WEIGHT.high + 1}, "STYLE_WEIGHT"),
        ({"style_weight": -0.1}, "STYLE_WEIGHT"),
        ({"reference_audio": "clip.wav"}, "REFERENCE_AUDIO"),
        ({"emotion": 3.5}, "EMOTION"),
        ({"style": "\ud800"}, "STYLE"),
    ],
)
def test_bad_knobs_are_refused_by_name(knobs, field):
    with pytest.raises(InvalidInputError, match=field):
        SynthesisParams(**knobs).validate()


def test_voice_info_reads_what_the_repository_publishes():
    manifest = VoiceManifest("v", 44100, 512, 192, 256, {"a": 0}, ["JP"], release="sbv2-jp-extra")
    published = {
        "speakers": {"a": 0},
        "languages": ["JP"],
        "release": manifest.release,
        "conditioning_inputs": list(manifest.conditioning_inputs),
        "styles": {"Neutral": 0, "Happy": 1},
    }
    config = {"parameters": {"voice": {"string_value": json.dumps(published)}}}
    info = VoiceInfo.from_config("v", config, ready=True)
    assert info.release == "sbv2-jp-extra"
    assert info.conditioning_inputs == ["STYLE", "STYLE_WEIGHT", "GIVEN_PHONES", "GIVEN_TONES"]
    assert info.styles == {"Neutral": 0, "Happy": 1}


def test_each_release_takes_its_own_conditioning():
    def takes(release: str) -> tuple[str, ...]:
        return VoiceManifest("v", 1, 1, 1, 1, {}, [], release=release).conditioning_inputs

    assert takes("2.0") == takes("2.3") == ()
    assert takes("2.1") == ("EMOTION_ID", "REFERENCE_AUDIO")
    assert takes("2.2") == ("EMOTION", "REFERENCE_AUDIO")
    sbv2 = ("STYLE", "STYLE_WEIGHT", "GIVEN_PHONES", "GIVEN_TONES")
    assert takes("sbv2") == takes("sbv2-jp-extra") == sbv2
