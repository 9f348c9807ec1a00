"""NaN and infinity are bad input at every entry point that is not a Triton model (those are in
tests/test_bad_input.py): the in-process runner, the PyTorch reference, the client's parameter
object and the `tts` CLI. Each refuses with an error naming the field; nothing is synthesized."""

from __future__ import annotations

import math

import pytest
from typer.testing import CliRunner

from tests.fixtures import TINY, require
from tts_contract.request import SCALES, RequestError

HELLO = "你好。"
BAD_NUMBERS = [math.nan, math.inf, -math.inf]


@pytest.fixture(scope="module")
def graphs(tiny_voice_dir):
    from tts_runtime.inprocess import VoiceGraphs

    return VoiceGraphs(tiny_voice_dir[0])


@pytest.fixture(scope="module")
def reference(tiny_voice_dir):
    from vits2.synthesize import Synthesizer

    voice_dir, berts = tiny_voice_dir
    return Synthesizer(require(TINY / "G_tiny.pth"), berts, voice_dir=voice_dir)


@pytest.mark.parametrize("value", BAD_NUMBERS)
@pytest.mark.parametrize("scale", SCALES, ids=lambda s: s.name)
def test_in_process_runner_refuses(graphs, scale, value):
    with pytest.raises(RequestError, match=scale.input):
        graphs.synthesize(HELLO, seed=1, scales={scale.name: value})


@pytest.mark.parametrize("scale", SCALES, ids=lambda s: s.name)
def test_reference_refuses(reference, scale):
    with pytest.raises(RequestError, match=f"{scale.input} must be a number, got nan"):
        reference(HELLO, seed=1, **{scale.name: math.nan})


def test_in_process_runner_and_reference_take_left_out_scales_as_defaults(graphs, reference):
    """The other side of the rule: None (left out) is the speaker's default, both equal."""
    import numpy as np

    ours = graphs.synthesize(HELLO, seed=3, scales={"sdp_ratio": None})
    ref = reference(HELLO, seed=3).audio
    assert ours.shape == ref.shape and np.abs(ours - ref).max() <= 1e-4


@pytest.mark.parametrize("scale", SCALES, ids=lambda s: s.name)
def test_client_params_refuse_before_sending(scale):
    from tts_client.errors import InvalidInputError
    from tts_client.planner import SynthesisParams

    for value in BAD_NUMBERS:
        with pytest.raises(InvalidInputError) as err:
            SynthesisParams(**{scale.name: value}).validate()
        assert err.value.field == scale.input


@pytest.mark.triton
@pytest.mark.parametrize("scale", SCALES, ids=lambda s: s.name)
def test_cli_refuses_with_the_field(triton_voice, tmp_path, scale):
    from tts_client.cli import app

    out = tmp_path / "x.wav"
    flag = "--" + scale.name.replace("_", "-")
    result = CliRunner().invoke(
        app, ["say", HELLO, "-o", str(out), "--url", triton_voice.grpc_url, flag, "nan"]
    )
    assert result.exit_code == 2, result.output
    assert f"{scale.input} must be a number, got nan" in result.output
    assert not out.exists()


@pytest.mark.triton
@pytest.mark.parametrize(
    "route, request_args",
    [
        # the gateway names the field as its API does (upstream's length, OpenAI-style keys)
        ("/voice", {"params": {"text": HELLO, "speaker_id": 0, "sdp_ratio": "nan"}}),
        ("/voice", {"params": {"text": HELLO, "speaker_id": 0, "length": "inf"}}),
        (
            "/v1/audio/speech",
            {"json": {"model": "tiny", "voice": "spk0", "input": HELLO, "noise_scale": "nan"}},
        ),
    ],
)
def test_gateway_refuses_with_the_field(triton_voice, route, request_args):
    from fastapi.testclient import TestClient

    from tts_gateway.app import create_app

    with TestClient(create_app(triton_voice.grpc_url)) as http:
        method = http.get if "params" in request_args else http.post
        response = method(route, **request_args)
        assert response.status_code == 400, response.text
        fields = request_args.get("params") or request_args["json"]
        bad = next(k for k, v in fields.items() if v in ("nan", "inf"))
        assert f"{bad} must be a finite number" in response.text, response.text
        assert http.get("/health").status_code == 200
